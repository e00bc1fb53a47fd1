/* snapfleet: small text rules shared by every document. */
#ifndef SNAPFLEET_TEXT_H
#define SNAPFLEET_TEXT_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* True when `s` is NULL, empty, or only Unicode white space as Rust's
 * str::trim sees it (spec 0.1). Invalid UTF-8 is not white space. */
SF_API bool sf_str_is_blank(const char *s);

/* Exactly 64 ASCII hex digits, either case (spec 0.4). */
SF_API bool sf_is_sha256_hex(const char *s);

/* canic's safe_path_segment: ASCII letters, digits, '-' and '_' kept, every
 * other Unicode scalar (or invalid byte) becomes one '_'. malloc'd. */
SF_API char *sf_safe_path_segment(const char *s);

/* malloc'd copy; NULL in gives NULL out. Sets *oom when allocation failed
 * for a non-NULL input (when oom is non-NULL). */
SF_API char *sf_strdup_opt(const char *s, int *oom);

/* Both NULL, or both non-NULL and equal. */
SF_API bool sf_str_eq_opt(const char *a, const char *b);

/* Byte-wise lexicographic compare (Rust's str Ord). */
SF_API int sf_str_cmp_bytes(const char *a, const char *b);

/* `unix:<seconds>` timestamp marker parse (spec 0.3): "unix:" then Rust
 * u64::from_str. */
SF_API bool sf_parse_unix_marker(const char *s, unsigned long long *out);

/* canic's file_safe_component: ASCII letters, digits, '.', '-', '_' kept,
 * anything else '-', leading/trailing '-' trimmed, "" becomes "unknown".
 * malloc'd. */
SF_API char *sf_file_safe_component(const char *s);

/* "YYYYMMDD-HHMMSS" of a Unix time, in UTC. */
SF_API void sf_utc_stamp(unsigned long long seconds, char out[16]);

#ifdef __cplusplus
}
#endif

#endif
