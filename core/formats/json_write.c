/*
 * serde_json's pretty printer, byte for byte: documents written here must
 * be indistinguishable from canic's, so the exact layout matters (two-space
 * indent, `"key": value`, `[]`/`{}` when empty, no trailing newline).
 */
#include "snapfleet/json.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int sf_json_escape(sf_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;

    sf_buf_putc(out, '"');
    for (; *p != '\0'; p++) {
        const char *esc = NULL;
        char u[7];

        switch (*p) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (*p < 0x20) {
                u[0] = '\\'; u[1] = 'u'; u[2] = '0'; u[3] = '0';
                u[4] = hex[*p >> 4];
                u[5] = hex[*p & 0xF];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc != NULL) {
            sf_buf_append(out, run, (size_t)(p - run));
            sf_buf_puts(out, esc);
            run = p + 1;
        }
    }
    sf_buf_append(out, run, (size_t)(p - run));
    return sf_buf_putc(out, '"');
}

void sf_jw_init(sf_jw *w, sf_buf *out)
{
    memset(w, 0, sizeof *w);
    w->out = out;
}

static void indent(sf_jw *w, int level)
{
    int i;

    for (i = 0; i < level; i++)
        sf_buf_append(w->out, "  ", 2);
}

/* Separator and indentation before a value: nothing after a key, else the
 * array element prefix. */
static void before_value(sf_jw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth == 0)
        return;
    if (w->has_items[w->depth])
        sf_buf_putc(w->out, ',');
    sf_buf_putc(w->out, '\n');
    indent(w, w->depth);
    w->has_items[w->depth] = 1;
}

static void open_container(sf_jw *w, char c)
{
    before_value(w);
    if (w->depth >= SF_JSON_MAX_DEPTH) {
        w->failed = 1;
        return;
    }
    sf_buf_putc(w->out, c);
    w->depth++;
    w->has_items[w->depth] = 0;
}

static void close_container(sf_jw *w, char c)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return;
    }
    if (w->has_items[w->depth]) {
        sf_buf_putc(w->out, '\n');
        indent(w, w->depth - 1);
    }
    sf_buf_putc(w->out, c);
    w->depth--;
}

void sf_jw_begin_object(sf_jw *w) { open_container(w, '{'); }
void sf_jw_end_object(sf_jw *w) { close_container(w, '}'); }
void sf_jw_begin_array(sf_jw *w) { open_container(w, '['); }
void sf_jw_end_array(sf_jw *w) { close_container(w, ']'); }

void sf_jw_key(sf_jw *w, const char *key)
{
    if (w->depth == 0 || w->after_key) {
        w->failed = 1;
        return;
    }
    if (w->has_items[w->depth])
        sf_buf_putc(w->out, ',');
    sf_buf_putc(w->out, '\n');
    indent(w, w->depth);
    sf_json_escape(w->out, key);
    sf_buf_append(w->out, ": ", 2);
    w->has_items[w->depth] = 1;
    w->after_key = 1;
}

void sf_jw_string(sf_jw *w, const char *s)
{
    if (s == NULL) {
        sf_jw_null(w);
        return;
    }
    before_value(w);
    sf_json_escape(w->out, s);
}

void sf_jw_null(sf_jw *w)
{
    before_value(w);
    sf_buf_puts(w->out, "null");
}

void sf_jw_bool(sf_jw *w, bool v)
{
    before_value(w);
    sf_buf_puts(w->out, v ? "true" : "false");
}

/* Decimal digits without printf: documents are mostly numbers and keys. */
static void put_u64(sf_buf *out, bool negative, uint64_t v)
{
    char d[21];
    size_t i = sizeof d;

    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (negative)
        d[--i] = '-';
    sf_buf_append(out, d + i, sizeof d - i);
}

void sf_jw_u64(sf_jw *w, uint64_t v)
{
    before_value(w);
    put_u64(w->out, false, v);
}

void sf_jw_i64(sf_jw *w, int64_t v)
{
    before_value(w);
    /* the magnitude in unsigned arithmetic: -INT64_MIN overflows int64 */
    put_u64(w->out, v < 0, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

void sf_jw_kv_string(sf_jw *w, const char *key, const char *s)
{
    sf_jw_key(w, key);
    sf_jw_string(w, s);
}

void sf_jw_kv_u64(sf_jw *w, const char *key, uint64_t v)
{
    sf_jw_key(w, key);
    sf_jw_u64(w, v);
}

void sf_jw_kv_bool(sf_jw *w, const char *key, bool v)
{
    sf_jw_key(w, key);
    sf_jw_bool(w, v);
}

void sf_jw_kv_strv(sf_jw *w, const char *key, char *const *v, size_t n)
{
    size_t i;

    sf_jw_key(w, key);
    sf_jw_begin_array(w);
    for (i = 0; i < n; i++)
        sf_jw_string(w, v[i]);
    sf_jw_end_array(w);
}

int sf_jw_finish(sf_jw *w, sf_error *err)
{
    if (w->out->oom)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory writing JSON");
    if (w->failed || w->depth != 0 || w->after_key)
        return sf_error_set(err, "internal", "", "unbalanced JSON writer calls");
    return SF_OK;
}
