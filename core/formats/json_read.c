/*
 * Strict JSON reading over cJSON.
 *
 * cJSON is permissive (it takes `01`, `+1`, raw control characters, trailing
 * garbage with some options, duplicate keys) and keeps numbers as doubles.
 * So a small validator walks the text first, enforcing RFC 8259 exactly and
 * the size and nesting bounds, and records the literal text of every number.
 * cJSON then builds the tree; number nodes appear in the tree in the same
 * pre-order as in the text, which is how each gets its literal text back
 * (stored in `valuestring`, which cJSON_Delete frees).
 */
#include "snapfleet/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct num_span {
    size_t off, len;
} num_span;

typedef struct scanner {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    num_span *nums;
    size_t nnums, capnums;
    size_t values; /* every value, containers included: the tree's nodes */
    sf_error *err;
    int oom;
} scanner;

static void line_col(const scanner *sc, size_t pos, size_t *line, size_t *col)
{
    size_t i;

    *line = 1;
    *col = 1;
    for (i = 0; i < pos && i < sc->len; i++) {
        if (sc->s[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

static int syntax(scanner *sc, const char *what)
{
    size_t line, col;

    line_col(sc, sc->pos, &line, &col);
    return sf_error_set(sc->err, SF_EK_JSON_SYNTAX, "",
                        "%s at line %zu column %zu", what, line, col);
}

static void skip_ws(scanner *sc)
{
    while (sc->pos < sc->len) {
        unsigned char c = sc->s[sc->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        sc->pos++;
    }
}

/* Length of the valid UTF-8 sequence at p (0 if invalid): no overlongs, no
 * surrogates, nothing above U+10FFFF. */
static size_t utf8_len(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return (avail >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return 0;
        if (c == 0xE0 && p[1] < 0xA0)
            return 0;
        if (c == 0xED && p[1] >= 0xA0)
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        if (c == 0xF0 && p[1] < 0x90)
            return 0;
        if (c == 0xF4 && p[1] >= 0x90)
            return 0;
        return 4;
    }
    return 0;
}

static int hex4(scanner *sc, unsigned *out)
{
    unsigned v = 0;
    int i;

    if (sc->len - sc->pos < 4)
        return syntax(sc, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        unsigned char c = sc->s[sc->pos + (size_t)i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return syntax(sc, "invalid \\u escape");
    }
    sc->pos += 4;
    *out = v;
    return SF_OK;
}

static int scan_string(scanner *sc)
{
    sc->pos++; /* opening quote */
    for (;;) {
        unsigned char c;
        size_t n;

        if (sc->pos >= sc->len)
            return syntax(sc, "EOF while parsing a string");
        c = sc->s[sc->pos];
        if (c == '"') {
            sc->pos++;
            return SF_OK;
        }
        if (c < 0x20)
            return syntax(sc, "control character in string");
        if (c == '\\') {
            unsigned u, lo;

            sc->pos++;
            if (sc->pos >= sc->len)
                return syntax(sc, "EOF while parsing a string");
            c = sc->s[sc->pos++];
            switch (c) {
            case '"': case '\\': case '/': case 'b':
            case 'f': case 'n': case 'r': case 't':
                continue;
            case 'u':
                if (hex4(sc, &u) != SF_OK)
                    return SF_ERR;
                if (u == 0)
                    return syntax(sc, "\\u0000 is not supported in strings");
                if (u >= 0xDC00 && u <= 0xDFFF)
                    return syntax(sc, "lone trailing surrogate in \\u escape");
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (sc->len - sc->pos < 2 || sc->s[sc->pos] != '\\' ||
                        sc->s[sc->pos + 1] != 'u')
                        return syntax(sc, "lone leading surrogate in \\u escape");
                    sc->pos += 2;
                    if (hex4(sc, &lo) != SF_OK)
                        return SF_ERR;
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return syntax(sc, "invalid surrogate pair in \\u escape");
                }
                continue;
            default:
                sc->pos--;
                return syntax(sc, "invalid escape");
            }
        }
        n = utf8_len(sc->s + sc->pos, sc->len - sc->pos);
        if (n == 0)
            return syntax(sc, "invalid UTF-8 in string");
        sc->pos += n;
    }
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(scanner *sc)
{
    size_t start = sc->pos;
    const unsigned char *s = sc->s;

    if (s[sc->pos] == '-')
        sc->pos++;
    if (sc->pos >= sc->len || !is_digit(s[sc->pos]))
        return syntax(sc, "invalid number");
    if (s[sc->pos] == '0') {
        sc->pos++;
        if (sc->pos < sc->len && is_digit(s[sc->pos]))
            return syntax(sc, "invalid number: leading zero");
    } else {
        while (sc->pos < sc->len && is_digit(s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos < sc->len && s[sc->pos] == '.') {
        sc->pos++;
        if (sc->pos >= sc->len || !is_digit(s[sc->pos]))
            return syntax(sc, "invalid number");
        while (sc->pos < sc->len && is_digit(s[sc->pos]))
            sc->pos++;
    }
    if (sc->pos < sc->len && (s[sc->pos] == 'e' || s[sc->pos] == 'E')) {
        sc->pos++;
        if (sc->pos < sc->len && (s[sc->pos] == '+' || s[sc->pos] == '-'))
            sc->pos++;
        if (sc->pos >= sc->len || !is_digit(s[sc->pos]))
            return syntax(sc, "invalid number");
        while (sc->pos < sc->len && is_digit(s[sc->pos]))
            sc->pos++;
    }
    if (sc->nnums == sc->capnums) {
        size_t cap = sc->capnums ? sc->capnums * 2 : 64;
        num_span *p = realloc(sc->nums, cap * sizeof *p);
        if (p == NULL) {
            sc->oom = 1;
            return sf_error_set(sc->err, SF_EK_NOMEM, "", "out of memory");
        }
        sc->nums = p;
        sc->capnums = cap;
    }
    sc->nums[sc->nnums].off = start;
    sc->nums[sc->nnums].len = sc->pos - start;
    sc->nnums++;
    return SF_OK;
}

static int scan_literal(scanner *sc, const char *word)
{
    size_t n = strlen(word);

    if (sc->len - sc->pos < n || memcmp(sc->s + sc->pos, word, n) != 0)
        return syntax(sc, "expected value");
    sc->pos += n;
    return SF_OK;
}

static int scan_value(scanner *sc);

static int scan_container(scanner *sc, int object)
{
    unsigned char close = object ? '}' : ']';

    if (++sc->depth > SF_JSON_MAX_DEPTH)
        return syntax(sc, "nesting too deep");
    sc->pos++;
    skip_ws(sc);
    if (sc->pos < sc->len && sc->s[sc->pos] == close) {
        sc->pos++;
        sc->depth--;
        return SF_OK;
    }
    for (;;) {
        skip_ws(sc);
        if (object) {
            if (sc->pos >= sc->len || sc->s[sc->pos] != '"')
                return syntax(sc, "expected object key");
            if (scan_string(sc) != SF_OK)
                return SF_ERR;
            skip_ws(sc);
            if (sc->pos >= sc->len || sc->s[sc->pos] != ':')
                return syntax(sc, "expected `:`");
            sc->pos++;
        }
        if (scan_value(sc) != SF_OK)
            return SF_ERR;
        skip_ws(sc);
        if (sc->pos >= sc->len)
            return syntax(sc, object ? "EOF while parsing an object"
                                     : "EOF while parsing a list");
        if (sc->s[sc->pos] == ',') {
            sc->pos++;
            continue;
        }
        if (sc->s[sc->pos] == close) {
            sc->pos++;
            sc->depth--;
            return SF_OK;
        }
        return syntax(sc, object ? "expected `,` or `}`" : "expected `,` or `]`");
    }
}

static int scan_value(scanner *sc)
{
    unsigned char c;

    /* Bounded before cJSON allocates a node for each: "[0,0,...]" costs
     * two bytes of text per value but about a hundred of tree. */
    if (++sc->values > SF_JSON_MAX_VALUES)
        return sf_error_set(sc->err, SF_EK_JSON_TOO_LARGE, "", "document holds "
                            "more than %zu values, the most any snapfleet "
                            "document may hold", (size_t)SF_JSON_MAX_VALUES);
    skip_ws(sc);
    if (sc->pos >= sc->len)
        return syntax(sc, "EOF while parsing a value");
    c = sc->s[sc->pos];
    switch (c) {
    case '{':
        return scan_container(sc, 1);
    case '[':
        return scan_container(sc, 0);
    case '"':
        return scan_string(sc);
    case 't':
        return scan_literal(sc, "true");
    case 'f':
        return scan_literal(sc, "false");
    case 'n':
        return scan_literal(sc, "null");
    default:
        if (c == '-' || is_digit(c))
            return scan_number(sc);
        return syntax(sc, "expected value");
    }
}

/* Gives every number node its literal text, in document order. */
static int attach_numbers(cJSON *node, const scanner *sc, size_t *next)
{
    for (; node != NULL; node = node->next) {
        if (cJSON_IsNumber(node)) {
            const num_span *span;
            char *text;

            if (*next >= sc->nnums)
                return SF_ERR;
            span = &sc->nums[(*next)++];
            text = malloc(span->len + 1);
            if (text == NULL)
                return SF_ERR;
            memcpy(text, sc->s + span->off, span->len);
            text[span->len] = '\0';
            node->valuestring = text;
        }
        if (node->child != NULL && attach_numbers(node->child, sc, next) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Duplicate keys are refused in every object: a document that says a field
 * twice is ambiguous, and which copy wins differs between parsers. */
static int check_duplicates(const cJSON *item, sf_jr *r)
{
    const cJSON *c;
    size_t n = 0, i, mark;

    if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
        return SF_OK;
    for (c = item->child; c != NULL; c = c->next)
        n++;
    if (cJSON_IsObject(item) && n > 1) {
        const char **keys = malloc(n * sizeof *keys);

        if (keys == NULL)
            return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
        for (i = 0, c = item->child; c != NULL; c = c->next)
            keys[i++] = c->string;
        qsort(keys, n, sizeof *keys, key_cmp);
        for (i = 1; i < n; i++) {
            if (strcmp(keys[i - 1], keys[i]) == 0) {
                sf_jr_fail(r, keys[i], "duplicate field `%s`", keys[i]);
                free(keys);
                return SF_ERR;
            }
        }
        free(keys);
    }
    mark = r->len;
    for (i = 0, c = item->child; c != NULL; c = c->next, i++) {
        int rc;

        if (!cJSON_IsObject(c) && !cJSON_IsArray(c))
            continue;
        if (cJSON_IsObject(item))
            sf_jr_push_key(r, c->string);
        else
            sf_jr_push_index(r, i);
        rc = check_duplicates(c, r);
        sf_jr_pop(r, mark);
        if (rc != SF_OK)
            return rc;
    }
    return SF_OK;
}

int sf_json_parse(const char *text, size_t len, cJSON **out, sf_error *err)
{
    scanner sc;
    char *copy = NULL;
    cJSON *root = NULL;
    size_t next = 0;
    sf_jr r;
    int rc = SF_ERR;

    *out = NULL;
    memset(&sc, 0, sizeof sc);
    sc.s = (const unsigned char *)text;
    sc.len = len;
    sc.err = err;
    if (len > SF_JSON_MAX_BYTES)
        return sf_error_set(err, SF_EK_JSON_TOO_LARGE, "",
                            "document of %zu bytes exceeds the %zu-byte limit",
                            len, SF_JSON_MAX_BYTES);
    if (scan_value(&sc) != SF_OK)
        goto done;
    skip_ws(&sc);
    if (sc.pos != sc.len) {
        syntax(&sc, "trailing characters");
        goto done;
    }
    /* The validator refused every NUL byte, so a C string copy is exact. */
    copy = malloc(len + 1);
    if (copy == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    memcpy(copy, text, len);
    copy[len] = '\0';
    root = cJSON_ParseWithOpts(copy, NULL, 1);
    if (root == NULL) {
        /* the validator accepted the text (and its nesting is far below
         * cJSON's limit), so cJSON can fail here only by allocation */
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory building the tree of "
                     "a %zu-byte document", len);
        goto done;
    }
    if (attach_numbers(root, &sc, &next) != SF_OK || next != sc.nnums) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory reading numbers");
        goto done;
    }
    sf_jr_init(&r, err);
    if (check_duplicates(root, &r) != SF_OK)
        goto done;
    *out = root;
    root = NULL;
    rc = SF_OK;
done:
    cJSON_Delete(root);
    free(copy);
    free(sc.nums);
    return rc;
}

/* ---- typed reading ---- */

void sf_jr_init(sf_jr *r, sf_error *err)
{
    r->err = err;
    r->path[0] = '\0';
    r->len = 0;
}

static size_t push(sf_jr *r, const char *key, size_t index)
{
    size_t mark = r->len;
    int n;

    if (key != NULL)
        n = snprintf(r->path + r->len, sizeof r->path - r->len, "%s%s",
                     r->len == 0 ? "" : ".", key);
    else
        n = snprintf(r->path + r->len, sizeof r->path - r->len, "[%zu]", index);
    if (n < 0)
        n = 0;
    r->len += (size_t)n;
    if (r->len >= sizeof r->path)
        r->len = sizeof r->path - 1; /* truncated paths still point the way */
    return mark;
}

size_t sf_jr_push_key(sf_jr *r, const char *key)
{
    return push(r, key, 0);
}

size_t sf_jr_push_index(sf_jr *r, size_t index)
{
    return push(r, NULL, index);
}

void sf_jr_pop(sf_jr *r, size_t mark)
{
    r->len = mark;
    r->path[mark] = '\0';
}

int sf_jr_fail(sf_jr *r, const char *key, const char *fmt, ...)
{
    size_t mark = r->len;
    char msg[SF_ERROR_MESSAGE_MAX];
    va_list ap;

    if (key != NULL)
        sf_jr_push_key(r, key);
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->len > 0)
        sf_error_set(r->err, SF_EK_JSON_SCHEMA, r->path, "%s: %s", r->path, msg);
    else
        sf_error_set(r->err, SF_EK_JSON_SCHEMA, "", "%s", msg);
    sf_jr_pop(r, mark);
    return SF_ERR;
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsBool(v))
        return "boolean";
    if (cJSON_IsNumber(v))
        return "number";
    if (cJSON_IsString(v))
        return "string";
    if (cJSON_IsArray(v))
        return "array";
    return "object";
}

static int wrong_type(sf_jr *r, const char *key, const cJSON *v,
                      const char *expected)
{
    return sf_jr_fail(r, key, "invalid type: %s, expected %s", type_name(v),
                      expected);
}

int sf_jr_expect_object(sf_jr *r, const cJSON *value)
{
    if (!cJSON_IsObject(value))
        return wrong_type(r, NULL, value, "an object");
    return SF_OK;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *c;

    for (c = obj->child; c != NULL; c = c->next)
        if (strcmp(c->string, key) == 0)
            return c;
    return NULL;
}

static int required(sf_jr *r, const cJSON *obj, const char *key,
                    const cJSON **out)
{
    *out = member(obj, key);
    if (*out == NULL)
        return sf_jr_fail(r, key, "missing field `%s`", key);
    return SF_OK;
}

static int copy_string(sf_jr *r, const char *key, const cJSON *v, char **out)
{
    if (!cJSON_IsString(v))
        return wrong_type(r, key, v, "a string");
    *out = strdup(v->valuestring);
    if (*out == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
    return SF_OK;
}

int sf_jr_str(sf_jr *r, const cJSON *obj, const char *key, char **out)
{
    const cJSON *v;

    *out = NULL;
    if (required(r, obj, key, &v) != SF_OK)
        return SF_ERR;
    return copy_string(r, key, v, out);
}

int sf_jr_str_opt(sf_jr *r, const cJSON *obj, const char *key, char **out)
{
    const cJSON *v = member(obj, key);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return SF_OK;
    return copy_string(r, key, v, out);
}

int sf_jr_value_str(sf_jr *r, const cJSON *value, char **out)
{
    *out = NULL;
    return copy_string(r, NULL, value, out);
}

int sf_jr_bool(sf_jr *r, const cJSON *obj, const char *key, bool *out)
{
    const cJSON *v;

    if (required(r, obj, key, &v) != SF_OK)
        return SF_ERR;
    if (!cJSON_IsBool(v))
        return wrong_type(r, key, v, "a boolean");
    *out = cJSON_IsTrue(v);
    return SF_OK;
}

/* Reads an unsigned integer from the number's own literal text. */
static int number_uint(sf_jr *r, const char *key, const cJSON *v, uint64_t max,
                       uint64_t *out)
{
    const char *t;
    uint64_t acc = 0;

    if (!cJSON_IsNumber(v) || v->valuestring == NULL)
        return wrong_type(r, key, v, "an unsigned integer");
    t = v->valuestring;
    if (strpbrk(t, ".eE") != NULL)
        return sf_jr_fail(r, key, "invalid type: floating point `%s`, "
                          "expected an unsigned integer", t);
    if (t[0] == '-')
        return sf_jr_fail(r, key, "invalid value: integer `%s`, "
                          "expected an unsigned integer", t);
    for (; *t != '\0'; t++) {
        uint64_t d = (uint64_t)(*t - '0');
        if (acc > (UINT64_MAX - d) / 10)
            goto range;
        acc = acc * 10 + d;
    }
    if (acc > max)
        goto range;
    *out = acc;
    return SF_OK;
range:
    return sf_jr_fail(r, key, "invalid value: integer `%s` is out of range "
                      "(at most %llu)", v->valuestring, (unsigned long long)max);
}

int sf_jr_uint(sf_jr *r, const cJSON *obj, const char *key, uint64_t max,
               uint64_t *out)
{
    const cJSON *v;

    if (required(r, obj, key, &v) != SF_OK)
        return SF_ERR;
    return number_uint(r, key, v, max, out);
}

int sf_jr_uint_opt(sf_jr *r, const cJSON *obj, const char *key, uint64_t max,
                   bool *present, uint64_t *out)
{
    const cJSON *v = member(obj, key);

    *present = false;
    *out = 0;
    if (v == NULL || cJSON_IsNull(v))
        return SF_OK;
    if (number_uint(r, key, v, max, out) != SF_OK)
        return SF_ERR;
    *present = true;
    return SF_OK;
}

int sf_jr_value_uint(sf_jr *r, const cJSON *value, uint64_t max, uint64_t *out)
{
    return number_uint(r, NULL, value, max, out);
}

int sf_jr_enum(sf_jr *r, const cJSON *obj, const char *key,
               const char *const *names, size_t count, int *out)
{
    const cJSON *v;
    char expected[512];
    size_t i, used = 0;

    if (required(r, obj, key, &v) != SF_OK)
        return SF_ERR;
    if (!cJSON_IsString(v))
        return wrong_type(r, key, v, "a string");
    for (i = 0; i < count; i++) {
        if (strcmp(v->valuestring, names[i]) == 0) {
            *out = (int)i;
            return SF_OK;
        }
    }
    expected[0] = '\0';
    for (i = 0; i < count && used < sizeof expected; i++) {
        int n = snprintf(expected + used, sizeof expected - used, "%s`%s`",
                         i ? ", " : "", names[i]);
        if (n < 0)
            break;
        used += (size_t)n;
    }
    return sf_jr_fail(r, key, "unknown variant `%s`, expected one of %s",
                      v->valuestring, expected);
}

int sf_jr_object(sf_jr *r, const cJSON *obj, const char *key, const cJSON **out)
{
    if (required(r, obj, key, out) != SF_OK)
        return SF_ERR;
    if (!cJSON_IsObject(*out))
        return wrong_type(r, key, *out, "an object");
    return SF_OK;
}

int sf_jr_object_default(sf_jr *r, const cJSON *obj, const char *key,
                         const cJSON **out)
{
    *out = member(obj, key);
    if (*out == NULL)
        return SF_OK;
    if (!cJSON_IsObject(*out))
        return wrong_type(r, key, *out, "an object");
    return SF_OK;
}

int sf_jr_array(sf_jr *r, const cJSON *obj, const char *key, const cJSON **out,
                size_t *count)
{
    const cJSON *c;

    *count = 0;
    if (required(r, obj, key, out) != SF_OK)
        return SF_ERR;
    if (!cJSON_IsArray(*out))
        return wrong_type(r, key, *out, "an array");
    for (c = (*out)->child; c != NULL; c = c->next)
        (*count)++;
    return SF_OK;
}

void sf_strv_free(char **v, size_t count)
{
    size_t i;

    if (v == NULL)
        return;
    for (i = 0; i < count; i++)
        free(v[i]);
    free(v);
}

int sf_jr_str_array(sf_jr *r, const cJSON *obj, const char *key, char ***out,
                    size_t *count)
{
    const cJSON *arr, *c;
    char **v;
    size_t n, i = 0, mark;

    *out = NULL;
    *count = 0;
    if (sf_jr_array(r, obj, key, &arr, &n) != SF_OK)
        return SF_ERR;
    v = calloc(n ? n : 1, sizeof *v);
    if (v == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
    mark = sf_jr_push_key(r, key);
    for (c = arr->child; c != NULL; c = c->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (sf_jr_value_str(r, c, &v[i]) != SF_OK) {
            sf_jr_pop(r, mark);
            sf_strv_free(v, i);
            return SF_ERR;
        }
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    *out = v;
    *count = n;
    return SF_OK;
}
