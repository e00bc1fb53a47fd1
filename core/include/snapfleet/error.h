/*
 * snapfleet: one small error type shared by the whole library.
 *
 * Every fallible function returns 0 on success or SF_ERR (-1) and, when the
 * caller passed a non-NULL sf_error, fills it with:
 *   kind    a stable kebab-case name (canic's variant name, e.g.
 *           "duplicate-canister-id"; parse failures are "json-syntax" and
 *           "json-schema"; I/O failures "io"); static storage, never freed;
 *   field   the concrete JSON path or field the error is about
 *           ("fleet.members[2].canister_id"), "" when there is none;
 *   message one human sentence (canic's display text where canic has one).
 */
#ifndef SNAPFLEET_ERROR_H
#define SNAPFLEET_ERROR_H

#include "snapfleet/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_OK 0
#define SF_ERR (-1)

#define SF_ERROR_FIELD_MAX 256
#define SF_ERROR_MESSAGE_MAX 1024

typedef struct sf_error {
    const char *kind;
    char field[SF_ERROR_FIELD_MAX];
    char message[SF_ERROR_MESSAGE_MAX];
} sf_error;

/* Kinds used across modules; module-specific kinds are plain string
 * literals at the point of use (they are part of the stable interface and
 * tested as such). */
#define SF_EK_IO "io"
#define SF_EK_NOMEM "out-of-memory"
#define SF_EK_JSON_SYNTAX "json-syntax"
#define SF_EK_JSON_SCHEMA "json-schema"
#define SF_EK_JSON_TOO_LARGE "json-too-large"
#define SF_EK_USAGE "usage"

/* Clears an error to the "no error" state (kind NULL). */
SF_API void sf_error_clear(sf_error *err);

/* Sets kind, field (may be NULL) and a printf-style message. Safe with a
 * NULL err. Always returns SF_ERR so callers can `return sf_error_set(...)`. */
SF_API int sf_error_set(sf_error *err, const char *kind, const char *field,
                        const char *fmt, ...)
           __attribute__((format(printf, 4, 5)));

/* Like sf_error_set, with the message suffixed by ": " and strerror(errnum). */
SF_API int sf_error_set_errno(sf_error *err, int errnum, const char *field,
                              const char *fmt, ...)
           __attribute__((format(printf, 4, 5)));

/* Prepends printf-style text to err->message (context such as the file a
 * document came from). Safe with a NULL err; returns SF_ERR. */
SF_API int sf_error_prefix(sf_error *err, const char *fmt, ...)
           __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif

#endif
