#include "snapfleet/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <stdio.h>

/* Decodes one UTF-8 scalar; returns its length, 0 for an invalid byte. */
static size_t decode_utf8(const unsigned char *p, uint32_t *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    if (p[0] >= 0xC2 && p[0] <= 0xDF && (p[1] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
        return 2;
    }
    if (p[0] >= 0xE0 && p[0] <= 0xEF && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) |
              (p[2] & 0x3F);
        if (*cp < 0x800 || (*cp >= 0xD800 && *cp <= 0xDFFF))
            return 0;
        return 3;
    }
    if (p[0] >= 0xF0 && p[0] <= 0xF4 && (p[1] & 0xC0) == 0x80 &&
        (p[2] & 0xC0) == 0x80 && (p[3] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
              ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
        if (*cp < 0x10000 || *cp > 0x10FFFF)
            return 0;
        return 4;
    }
    return 0;
}

/* Rust's char::is_whitespace (White_Space property). */
static bool is_rust_whitespace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

bool sf_str_is_blank(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;

    if (s == NULL)
        return true;
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = decode_utf8(p, &cp);

        if (n == 0 || !is_rust_whitespace(cp))
            return false;
        p += n;
    }
    return true;
}

bool sf_is_sha256_hex(const char *s)
{
    size_t i;

    if (s == NULL)
        return false;
    for (i = 0; i < 64; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return false;
    }
    return s[64] == '\0';
}

char *sf_safe_path_segment(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = malloc(strlen(s) + 1), *o = out;

    if (out == NULL)
        return NULL;
    while (*p != '\0') {
        uint32_t cp = 0;
        size_t n = decode_utf8(p, &cp);

        if (n == 0)
            n = 1; /* an invalid byte is one unit, like U+FFFD */
        if (n == 1 && ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
                       (cp >= '0' && cp <= '9') || cp == '-' || cp == '_'))
            *o++ = (char)cp;
        else
            *o++ = '_';
        p += n;
    }
    *o = '\0';
    return out;
}

char *sf_strdup_opt(const char *s, int *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL && oom != NULL)
        *oom = 1;
    return d;
}

bool sf_str_eq_opt(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

int sf_str_cmp_bytes(const char *a, const char *b)
{
    /* strcmp compares as unsigned char, which is byte-wise UTF-8 order */
    return strcmp(a, b);
}

bool sf_parse_unix_marker(const char *s, unsigned long long *out)
{
    unsigned long long acc = 0;

    if (s == NULL || strncmp(s, "unix:", 5) != 0)
        return false;
    s += 5;
    if (*s == '+')
        s++;
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned d;

        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return false;
        acc = acc * 10 + d;
    }
    *out = acc;
    return true;
}

char *sf_file_safe_component(const char *s)
{
    size_t n = strlen(s), i, start, end;
    char *out = malloc(n + 8);

    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = (char)(((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                         c == '_') ? c : '-');
    }
    for (start = 0; start < n && out[start] == '-'; start++)
        ;
    for (end = n; end > start && out[end - 1] == '-'; end--)
        ;
    memmove(out, out + start, end - start);
    out[end - start] = '\0';
    if (out[0] == '\0')
        strcpy(out, "unknown");
    return out;
}

void sf_utc_stamp(unsigned long long seconds, char out[16])
{
    time_t t = (time_t)seconds;
    struct tm tm;
    char buf[64];

    gmtime_r(&t, &tm);
    snprintf(buf, sizeof buf, "%04d%02d%02d-%02d%02d%02d", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, buf, 15);
    out[15] = '\0';
}
