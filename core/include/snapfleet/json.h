/*
 * snapfleet: the strict JSON layer.
 *
 * Reading: sf_json_parse() checks the whole text against RFC 8259 (UTF-8,
 * number grammar, escapes, no \u0000, no lone surrogates, no duplicate keys
 * in any object, bounded size and nesting) and only then lets cJSON build
 * the tree. cJSON keeps numbers as doubles, so every number node also
 * carries its literal text in `valuestring`: integer fields are read from
 * that text, exact up to 2^64-1, and `1.0` or `1e2` are refused where an
 * integer is expected.
 *
 * The sf_jr_* helpers read typed fields and name the JSON path in every
 * error (`fleet.members[2].canister_id`). Unknown keys are ignored; an
 * absent optional field reads as NULL.
 *
 * Writing: sf_jw_* produce serde_json's pretty form byte for byte: two
 * spaces of indent, `"key": value`, `[]` and `{}` for empty containers,
 * no trailing newline, serde's string escaping.
 */
#ifndef SNAPFLEET_JSON_H
#define SNAPFLEET_JSON_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_JSON_MAX_BYTES ((size_t)64 << 20) /* largest document read */
#define SF_JSON_MAX_DEPTH 64                 /* deepest nesting read */
/* Most values (scalars and containers) in one document. Every document
 * snapfleet writes spends 32 bytes or more per value (serde-pretty keys and
 * indentation), so 64 MiB of them holds about 2 million; compact ones
 * (a registry's module hashes as byte arrays) hold 40 per canister, so
 * 50,000 canisters. The bound keeps the tree near 250 MiB, where
 * "[0,0,...]" filling 64 MiB would need about 4 GiB. */
#define SF_JSON_MAX_VALUES ((size_t)1 << 21)

/* Parses `len` bytes of `text` (need not be NUL-terminated). On success
 * *out is a tree to release with cJSON_Delete(). Errors: "json-syntax"
 * for text that is not JSON, "json-schema" (with the path) for a duplicate
 * key, "json-too-large" past SF_JSON_MAX_BYTES or SF_JSON_MAX_VALUES
 * (checked before the tree is built), "out-of-memory" when the tree cannot
 * be allocated. */
SF_API int sf_json_parse(const char *text, size_t len, cJSON **out, sf_error *err);

/* ---- typed reading with path tracking ---- */

typedef struct sf_jr {
    sf_error *err;
    char path[SF_ERROR_FIELD_MAX];
    size_t len;
} sf_jr;

SF_API void sf_jr_init(sf_jr *r, sf_error *err);
/* Appends ".key" (or "key" at the root) / "[i]"; returns a mark for pop. */
SF_API size_t sf_jr_push_key(sf_jr *r, const char *key);
SF_API size_t sf_jr_push_index(sf_jr *r, size_t index);
SF_API void sf_jr_pop(sf_jr *r, size_t mark);
/* Fails with "json-schema" at the current path (plus ".key" if key). */
SF_API int sf_jr_fail(sf_jr *r, const char *key, const char *fmt, ...)
           __attribute__((format(printf, 3, 4)));

/* The value at the current path must be an object. */
SF_API int sf_jr_expect_object(sf_jr *r, const cJSON *value);

/* Required fields: absent is "missing field `key`"; wrong type names the
 * type found. Strings are returned as malloc'd copies. */
SF_API int sf_jr_str(sf_jr *r, const cJSON *obj, const char *key, char **out);
SF_API int sf_jr_bool(sf_jr *r, const cJSON *obj, const char *key, bool *out);
SF_API int sf_jr_uint(sf_jr *r, const cJSON *obj, const char *key, uint64_t max,
                      uint64_t *out);
/* Returns the index of the matching name (exact, case-sensitive). */
SF_API int sf_jr_enum(sf_jr *r, const cJSON *obj, const char *key,
                      const char *const *names, size_t count, int *out);
SF_API int sf_jr_object(sf_jr *r, const cJSON *obj, const char *key,
                        const cJSON **out);
SF_API int sf_jr_array(sf_jr *r, const cJSON *obj, const char *key,
                       const cJSON **out, size_t *count);

/* Optional fields: absent or null reads as NULL / *present = false. */
SF_API int sf_jr_str_opt(sf_jr *r, const cJSON *obj, const char *key, char **out);
SF_API int sf_jr_uint_opt(sf_jr *r, const cJSON *obj, const char *key,
                          uint64_t max, bool *present, uint64_t *out);
/* serde(default) objects: absent reads as *out = NULL; null is refused. */
SF_API int sf_jr_object_default(sf_jr *r, const cJSON *obj, const char *key,
                                const cJSON **out);

/* Values (array elements) at the current path. */
SF_API int sf_jr_value_str(sf_jr *r, const cJSON *value, char **out);
SF_API int sf_jr_value_uint(sf_jr *r, const cJSON *value, uint64_t max,
                            uint64_t *out);

/* A required array of strings: *out is a malloc'd array of malloc'd
 * strings (free with sf_strv_free). */
SF_API int sf_jr_str_array(sf_jr *r, const cJSON *obj, const char *key,
                           char ***out, size_t *count);
SF_API void sf_strv_free(char **v, size_t count);

/* ---- serde_json pretty writer ---- */

typedef struct sf_jw {
    sf_buf *out;
    int depth;
    int after_key;
    int failed;
    unsigned char has_items[SF_JSON_MAX_DEPTH + 1];
} sf_jw;

SF_API void sf_jw_init(sf_jw *w, sf_buf *out);
SF_API void sf_jw_begin_object(sf_jw *w);
SF_API void sf_jw_end_object(sf_jw *w);
SF_API void sf_jw_begin_array(sf_jw *w);
SF_API void sf_jw_end_array(sf_jw *w);
SF_API void sf_jw_key(sf_jw *w, const char *key);
SF_API void sf_jw_string(sf_jw *w, const char *s); /* NULL writes null */
SF_API void sf_jw_null(sf_jw *w);
SF_API void sf_jw_bool(sf_jw *w, bool v);
SF_API void sf_jw_u64(sf_jw *w, uint64_t v);
SF_API void sf_jw_i64(sf_jw *w, int64_t v);
/* Convenience: key + value. */
SF_API void sf_jw_kv_string(sf_jw *w, const char *key, const char *s);
SF_API void sf_jw_kv_u64(sf_jw *w, const char *key, uint64_t v);
SF_API void sf_jw_kv_bool(sf_jw *w, const char *key, bool v);
/* key + an array of n strings. */
SF_API void sf_jw_kv_strv(sf_jw *w, const char *key, char *const *v, size_t n);
/* Checks the document is complete and nothing failed (out of memory,
 * unbalanced calls). */
SF_API int sf_jw_finish(sf_jw *w, sf_error *err);

/* Appends `s` as a JSON string literal with serde_json's escaping. */
SF_API int sf_json_escape(sf_buf *out, const char *s);

#ifdef __cplusplus
}
#endif

#endif
