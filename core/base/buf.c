#include "snapfleet/buf.h"

#include "snapfleet/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sf_buf_init(sf_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->oom = 0;
}

void sf_buf_free(sf_buf *b)
{
    free(b->data);
    sf_buf_init(b);
}

void sf_buf_reset(sf_buf *b)
{
    b->len = 0;
    if (b->data != NULL)
        b->data[0] = '\0';
}

static int grow(sf_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return SF_ERR;
    if (extra > (size_t)-1 - b->len - 1)
        goto fail;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return SF_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > ((size_t)-1) / 2 ? need : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        goto fail;
    b->data = p;
    b->cap = cap;
    return SF_OK;
fail:
    b->oom = 1;
    return SF_ERR;
}

int sf_buf_append(sf_buf *b, const void *data, size_t n)
{
    if (grow(b, n) != SF_OK)
        return SF_ERR;
    if (n > 0)
        memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = '\0';
    return SF_OK;
}

int sf_buf_puts(sf_buf *b, const char *s)
{
    return sf_buf_append(b, s, strlen(s));
}

int sf_buf_putc(sf_buf *b, char c)
{
    return sf_buf_append(b, &c, 1);
}

/* One formatting pass when the text fits the room left (the common case:
 * short keys and numbers into a grown buffer), a second only when not. */
int sf_buf_printf(sf_buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room;
    int n;

    if (grow(b, 0) != SF_OK)
        return SF_ERR;
    room = b->cap - b->len;
    va_start(ap, fmt);
    n = vsnprintf(b->data + b->len, room, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->data[b->len] = '\0';
        return SF_ERR;
    }
    if ((size_t)n >= room) {
        if (grow(b, (size_t)n) != SF_OK) {
            b->data[b->len] = '\0';
            return SF_ERR;
        }
        va_start(ap, fmt);
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->len += (size_t)n;
    return SF_OK;
}

char *sf_buf_detach(sf_buf *b)
{
    char *s;

    if (b->oom) {
        sf_buf_free(b);
        return NULL;
    }
    if (b->data == NULL)
        return calloc(1, 1);
    s = b->data;
    sf_buf_init(b);
    return s;
}

const char *sf_buf_cstr(const sf_buf *b)
{
    return b->data != NULL ? b->data : "";
}
