/* snapfleet: a growable byte buffer, always NUL-terminated once non-empty. */
#ifndef SNAPFLEET_BUF_H
#define SNAPFLEET_BUF_H

#include "snapfleet/export.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_buf {
    char *data;  /* NULL until the first append; then NUL-terminated */
    size_t len;  /* bytes used, not counting the terminator */
    size_t cap;
    int oom;     /* sticky: set once an allocation failed */
} sf_buf;

SF_API void sf_buf_init(sf_buf *b);
SF_API void sf_buf_free(sf_buf *b);
SF_API void sf_buf_reset(sf_buf *b); /* len = 0, keeps the allocation */
SF_API int sf_buf_append(sf_buf *b, const void *data, size_t n);
SF_API int sf_buf_puts(sf_buf *b, const char *s);
SF_API int sf_buf_putc(sf_buf *b, char c);
SF_API int sf_buf_printf(sf_buf *b, const char *fmt, ...)
           __attribute__((format(printf, 2, 3)));
/* Returns the contents as a malloc'd NUL-terminated string ("" when empty)
 * and leaves the buffer empty; NULL when out of memory. */
SF_API char *sf_buf_detach(sf_buf *b);
/* The contents as a C string; "" when nothing was appended. */
SF_API const char *sf_buf_cstr(const sf_buf *b);

#ifdef __cplusplus
}
#endif

#endif
