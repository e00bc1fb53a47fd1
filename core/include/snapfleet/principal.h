/*
 * snapfleet: Internet Computer principal text (spec 0.2).
 * Text is CRC32-BE(data) || data, base32 (RFC 4648, lower case, no padding),
 * grouped in fives with '-'. Parsing is case-insensitive but the grouping
 * must be exact.
 */
#ifndef SNAPFLEET_PRINCIPAL_H
#define SNAPFLEET_PRINCIPAL_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_PRINCIPAL_MAX_BYTES 29
/* 4 + 29 bytes = 33 -> 53 base32 chars + 10 dashes + NUL */
#define SF_PRINCIPAL_TEXT_MAX 64

typedef struct sf_principal {
    uint8_t bytes[SF_PRINCIPAL_MAX_BYTES];
    size_t len;
} sf_principal;

/* Parses principal text. Errors: kind "invalid-principal". */
SF_API int sf_principal_from_text(const char *text, sf_principal *out, sf_error *err);
SF_API bool sf_principal_is_valid(const char *text);
/* Canonical lower-case text into buf (SF_PRINCIPAL_TEXT_MAX bytes). */
SF_API void sf_principal_to_text(const sf_principal *p, char *buf);
/* Raw bytes (at most 29) to canonical text. */
SF_API int sf_principal_text_from_bytes(const uint8_t *bytes, size_t len, char *buf,
                                        sf_error *err);
/* Canonical lower-case text of valid principal text (e.g. "AAAAA-AA" ->
 * "aaaaa-aa"); SF_ERR when invalid. */
SF_API int sf_principal_canonical(const char *text, char *buf, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
