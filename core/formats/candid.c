/*
 * Candid binary decoding, hand-written: Debian packages no Candid library
 * for C, and the subset a backup needs (decode a reply, look fields up by
 * name) is small enough to own. Every read is bounds-checked against the
 * bytes left; every allocation is bounded by the limits in candid.h.
 */
#include "snapfleet/candid.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/principal.h"

#define EK_SYNTAX "candid-syntax"
#define EK_LIMIT "candid-limit"
#define EK_UNSUPPORTED "candid-unsupported"
#define EK_SCHEMA "candid-schema"

/* Type opcodes (SLEB128 on the wire). */
enum {
    OP_NULL = -1, OP_BOOL = -2, OP_NAT = -3, OP_INT = -4,
    OP_NAT8 = -5, OP_NAT16 = -6, OP_NAT32 = -7, OP_NAT64 = -8,
    OP_INT8 = -9, OP_INT16 = -10, OP_INT32 = -11, OP_INT64 = -12,
    OP_FLOAT32 = -13, OP_FLOAT64 = -14, OP_TEXT = -15, OP_RESERVED = -16,
    OP_EMPTY = -17, OP_OPT = -18, OP_VEC = -19, OP_RECORD = -20,
    OP_VARIANT = -21, OP_FUNC = -22, OP_SERVICE = -23, OP_PRINCIPAL = -24
};

typedef struct ctfield {
    uint32_t id;
    int64_t type;
} ctfield;

/* One type table entry. A type reference is an index (>= 0) into the
 * table or a primitive opcode (< 0). */
typedef struct ctype {
    int64_t op;
    int64_t inner;     /* opt, vec */
    ctfield *fields;   /* record, variant */
    size_t field_count;
} ctype;

typedef struct dec {
    const uint8_t *p;
    size_t len, pos;
    sf_candid_limits lim;
    ctype *types;
    size_t type_count;
    size_t values;
    sf_error *err;
} dec;

/* ---- names, hash, limits ---- */

static const char *const kind_names[] = {
    "null", "bool", "nat", "int", "nat8", "nat16", "nat32", "nat64",
    "int8", "int16", "int32", "int64", "float32", "float64", "text",
    "reserved", "principal", "opt", "vec", "blob", "record", "variant",
};

const char *sf_candid_kind_name(sf_candid_kind kind)
{
    return (unsigned)kind < sizeof kind_names / sizeof kind_names[0]
               ? kind_names[kind] : "unknown";
}

uint32_t sf_candid_idl_hash(const char *name)
{
    uint32_t h = 0;
    const unsigned char *s = (const unsigned char *)name;

    for (; *s != '\0'; s++)
        h = h * 223u + *s; /* wraps mod 2^32, as the spec says */
    return h;
}

sf_candid_limits sf_candid_default_limits(void)
{
    sf_candid_limits l = {
        SF_CANDID_DEFAULT_MAX_BYTES, SF_CANDID_DEFAULT_MAX_TYPES,
        SF_CANDID_DEFAULT_MAX_DEPTH, SF_CANDID_DEFAULT_MAX_VALUES,
        SF_CANDID_DEFAULT_MAX_NAT_BYTES,
    };
    return l;
}

/* ---- errors ---- */

static int fail_at(dec *d, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Every decoding error names the offset it was found at. */
static int fail_at(dec *d, const char *kind, const char *fmt, ...)
{
    char field[32], msg[SF_ERROR_MESSAGE_MAX - 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(field, sizeof field, "byte %zu", d->pos);
    return sf_error_set(d->err, kind, field, "candid: %s (at byte %zu)", msg,
                        d->pos);
}

static int truncated(dec *d, const char *what)
{
    return fail_at(d, EK_SYNTAX, "input ends while reading %s", what);
}

static int nomem(dec *d)
{
    return sf_error_set(d->err, SF_EK_NOMEM, "", "out of memory");
}

static size_t left(const dec *d)
{
    return d->len - d->pos;
}

/* ---- LEB128 ---- */

static int read_byte(dec *d, uint8_t *b, const char *what)
{
    if (d->pos >= d->len)
        return truncated(d, what);
    *b = d->p[d->pos++];
    return SF_OK;
}

/* Unsigned LEB128 into 64 bits. Nine bytes carry 63 bits; a tenth may
 * only add bit 63. Redundant zero groups are accepted (as Rust's leb128
 * crate accepts them); anything longer or larger is refused. */
static int read_uleb(dec *d, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    unsigned n;
    uint8_t b = 0;

    for (n = 0;; n++) {
        if (read_byte(d, &b, what) != SF_OK)
            return SF_ERR;
        if (n == 9) {
            if (b > 1)
                return fail_at(d, EK_SYNTAX, "LEB128 %s overflows 64 bits",
                               what);
            v |= (uint64_t)b << 63;
            break;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * n);
        if ((b & 0x80) == 0)
            break;
    }
    *out = v;
    return SF_OK;
}

/* Signed LEB128 into 64 bits: a tenth byte may only carry the sign, so it
 * is 0x00 or 0x7f. */
static int read_sleb(dec *d, int64_t *out, const char *what)
{
    uint64_t v = 0;
    unsigned n;
    uint8_t b = 0;

    for (n = 0;; n++) {
        if (read_byte(d, &b, what) != SF_OK)
            return SF_ERR;
        if (n == 9) {
            if (b != 0x00 && b != 0x7f)
                return fail_at(d, EK_SYNTAX, "SLEB128 %s overflows 64 bits",
                               what);
            v |= (uint64_t)(b & 1) << 63;
            break;
        }
        v |= (uint64_t)(b & 0x7f) << (7 * n);
        if ((b & 0x80) == 0) {
            if ((b & 0x40) != 0 && n < 8)
                v |= ~(uint64_t)0 << (7 * (n + 1)); /* sign-extend */
            else if ((b & 0x40) != 0)
                v |= (uint64_t)1 << 63;
            break;
        }
    }
    memcpy(out, &v, sizeof *out);
    return SF_OK;
}

/* A length or count that must also fit the bytes left (each element takes
 * at least `unit` bytes; unit 0 skips that check). */
static int read_len(dec *d, size_t unit, size_t *out, const char *what)
{
    uint64_t v = 0;

    if (read_uleb(d, &v, what) != SF_OK)
        return SF_ERR;
    if (unit > 0 && v > left(d) / unit)
        return fail_at(d, EK_SYNTAX, "%s exceeds the bytes left", what);
    if (v > SIZE_MAX)
        return fail_at(d, EK_LIMIT, "%s is too large",
                       what);
    *out = (size_t)v;
    return SF_OK;
}

/* ---- arbitrary-precision nat and int ---- */

/* Little-endian 32-bit limbs to decimal text (repeated division by 1e9). */
static char *limbs_to_decimal(uint32_t *limbs, size_t n, bool neg, size_t *len)
{
    /* each limb is < 10 decimal digits; room for sign and NUL */
    size_t cap = n * 10 + 3, used = 0, top = n, k;
    char *buf = malloc(cap), *out;

    if (buf == NULL)
        return NULL;
    while (top > 0 && limbs[top - 1] == 0)
        top--;
    if (top == 0)
        buf[used++] = '0';
    while (top > 0) {
        uint64_t rem = 0;
        for (k = top; k-- > 0;) {
            uint64_t cur = (rem << 32) | limbs[k];
            limbs[k] = (uint32_t)(cur / 1000000000u);
            rem = cur % 1000000000u;
        }
        while (top > 0 && limbs[top - 1] == 0)
            top--;
        for (k = 0; k < 9 && (top > 0 || rem > 0); k++) {
            buf[used++] = (char)('0' + rem % 10);
            rem /= 10;
        }
    }
    if (neg)
        buf[used++] = '-';
    out = malloc(used + 1);
    if (out == NULL) {
        free(buf);
        return NULL;
    }
    for (k = 0; k < used; k++)
        out[k] = buf[used - 1 - k];
    out[used] = '\0';
    *len = used;
    free(buf);
    return out;
}

static int read_big(dec *d, bool is_signed, sf_candid_value *v)
{
    size_t start = d->pos, n, bits, nlimbs, k, top;
    uint32_t *limbs;
    bool neg = false;

    /* find the end first, so the limb array is sized exactly */
    for (n = 1;; n++) {
        if (start + n > d->len) {
            d->pos = d->len;
            return truncated(d, is_signed ? "an int" : "a nat");
        }
        if (n > d->lim.max_nat_bytes)
            return fail_at(d, EK_LIMIT, "%s literal is longer than the limit",
                           is_signed ? "int" : "nat");
        if ((d->p[start + n - 1] & 0x80) == 0)
            break;
    }
    bits = n * 7;
    nlimbs = bits / 32 + 2;
    limbs = calloc(nlimbs, sizeof *limbs);
    if (limbs == NULL)
        return nomem(d);
    for (k = 0; k < n; k++) {
        uint32_t group = d->p[start + k] & 0x7f;
        size_t at = k * 7;
        limbs[at / 32] |= group << (at % 32);
        if (at % 32 > 25)
            limbs[at / 32 + 1] |= group >> (32 - at % 32);
    }
    if (is_signed && (d->p[start + n - 1] & 0x40) != 0) {
        /* sign-extend to the whole limb array, then negate it: what is
         * left is the magnitude */
        uint64_t carry = 1;
        neg = true;
        for (k = bits; k < nlimbs * 32; k++)
            limbs[k / 32] |= 1u << (k % 32);
        for (k = 0; k < nlimbs; k++) {
            uint64_t x = (uint64_t)(uint32_t)~limbs[k] + carry;
            limbs[k] = (uint32_t)x;
            carry = x >> 32;
        }
    }
    top = nlimbs;
    while (top > 0 && limbs[top - 1] == 0)
        top--;
    {
        uint64_t mag = (uint64_t)limbs[0] | (uint64_t)limbs[1] << 32;
        if (!is_signed) {
            v->fits = top <= 2;
            v->u = v->fits ? mag : 0;
        } else {
            uint64_t bound = 1ull << 63;
            v->fits = top <= 2 && (neg ? mag <= bound : mag < bound);
            if (v->fits && neg)
                v->i = mag == (1ull << 63) ? INT64_MIN : -(int64_t)mag;
            else if (v->fits)
                v->i = (int64_t)mag;
        }
    }
    v->text = limbs_to_decimal(limbs, nlimbs, neg, &v->text_len);
    free(limbs);
    if (v->text == NULL)
        return nomem(d);
    d->pos = start + n;
    return SF_OK;
}

/* ---- UTF-8 ---- */

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint8_t c = s[i];
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

/* ---- type table ---- */

static bool is_primitive(int64_t op)
{
    return (op <= OP_NULL && op >= OP_EMPTY) || op == OP_PRINCIPAL;
}

static int read_typeref(dec *d, int64_t *out)
{
    int64_t t = 0;

    if (read_sleb(d, &t, "a type reference") != SF_OK)
        return SF_ERR;
    if (t >= 0 ? (uint64_t)t >= d->type_count : !is_primitive(t))
        return fail_at(d, EK_SYNTAX, "%s is out of range", "a type reference");
    *out = t;
    return SF_OK;
}

static int read_fields(dec *d, ctype *t, bool variant)
{
    size_t n = 0, k;

    /* each field is at least two bytes: an id and a type */
    if (read_len(d, 2, &n, variant ? "a variant's case count"
                                   : "a record's field count") != SF_OK)
        return SF_ERR;
    t->fields = calloc(n ? n : 1, sizeof *t->fields);
    if (t->fields == NULL)
        return nomem(d);
    t->field_count = n;
    for (k = 0; k < n; k++) {
        uint64_t id;
        if (read_uleb(d, &id, "a field id") != SF_OK)
            return SF_ERR;
        if (id > UINT32_MAX)
            return fail_at(d, EK_SYNTAX, "%s exceeds 32 bits", "a field id");
        if (k > 0 && id <= t->fields[k - 1].id)
            return fail_at(d, EK_SYNTAX, "field ids are not strictly "
                           "increasing");
        t->fields[k].id = (uint32_t)id;
        if (read_typeref(d, &t->fields[k].type) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

/* func and service entries are parsed (a table may declare them without
 * using them) and their values refused later. */
static int skip_func(dec *d)
{
    size_t n, k, pass;
    int64_t t;

    for (pass = 0; pass < 2; pass++) {
        if (read_len(d, 1, &n, "a func's type count") != SF_OK)
            return SF_ERR;
        for (k = 0; k < n; k++)
            if (read_typeref(d, &t) != SF_OK)
                return SF_ERR;
    }
    if (read_len(d, 1, &n, "a func's annotation count") != SF_OK)
        return SF_ERR;
    for (k = 0; k < n; k++) {
        uint8_t a = 0;
        if (read_byte(d, &a, "a func annotation") != SF_OK)
            return SF_ERR;
        if (a < 1 || a > 3)
            return fail_at(d, EK_SYNTAX, "%s is unknown",
                           "a func annotation");
    }
    return SF_OK;
}

static int skip_service(dec *d)
{
    size_t n = 0, k, len = 0;
    int64_t t;

    if (read_len(d, 2, &n, "a service's method count") != SF_OK)
        return SF_ERR;
    for (k = 0; k < n; k++) {
        if (read_len(d, 1, &len, "a method name length") != SF_OK)
            return SF_ERR;
        if (!utf8_valid(d->p + d->pos, len))
            return fail_at(d, EK_SYNTAX, "%s is not UTF-8",
                           "a method name");
        d->pos += len;
        if (read_typeref(d, &t) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static int read_table(dec *d)
{
    size_t n = 0, k;

    if (read_len(d, 2, &n, "the type table size") != SF_OK)
        return SF_ERR;
    if (n > d->lim.max_types)
        return fail_at(d, EK_LIMIT, "%s exceeds the limit",
                       "the type table");
    d->types = calloc(n ? n : 1, sizeof *d->types);
    if (d->types == NULL)
        return nomem(d);
    d->type_count = n;
    for (k = 0; k < n; k++) {
        ctype *t = &d->types[k];
        if (read_sleb(d, &t->op, "a type opcode") != SF_OK)
            return SF_ERR;
        switch (t->op) {
        case OP_OPT:
        case OP_VEC:
            if (read_typeref(d, &t->inner) != SF_OK)
                return SF_ERR;
            break;
        case OP_RECORD:
        case OP_VARIANT:
            if (read_fields(d, t, t->op == OP_VARIANT) != SF_OK)
                return SF_ERR;
            break;
        case OP_FUNC:
            if (skip_func(d) != SF_OK)
                return SF_ERR;
            break;
        case OP_SERVICE:
            if (skip_service(d) != SF_OK)
                return SF_ERR;
            break;
        default:
            if (is_primitive(t->op))
                return fail_at(d, EK_SYNTAX, "a primitive type in the type "
                               "table");
            return fail_at(d, EK_UNSUPPORTED, "unknown type opcode %lld",
                           (long long)t->op);
        }
    }
    return SF_OK;
}

/* ---- values ---- */

static void value_free(sf_candid_value *v);

static int read_fixed(dec *d, size_t n, uint64_t *out, const char *what)
{
    uint64_t v = 0;
    size_t k;

    if (left(d) < n)
        return truncated(d, what);
    for (k = 0; k < n; k++)
        v |= (uint64_t)d->p[d->pos + k] << (8 * k);
    d->pos += n;
    *out = v;
    return SF_OK;
}

static int64_t sign_extend(uint64_t v, unsigned bits)
{
    uint64_t m = 1ull << (bits - 1);
    uint64_t x = (v ^ m) - m;
    int64_t r;

    memcpy(&r, &x, sizeof r);
    return r;
}

static int read_value(dec *d, int64_t type, size_t depth, sf_candid_value *v);

static int read_primitive(dec *d, int64_t op, sf_candid_value *v)
{
    static const sf_candid_kind fixed_kind[] = {
        SF_CANDID_NAT8, SF_CANDID_NAT16, SF_CANDID_NAT32, SF_CANDID_NAT64,
        SF_CANDID_INT8, SF_CANDID_INT16, SF_CANDID_INT32, SF_CANDID_INT64,
    };
    uint64_t x = 0;
    uint8_t b = 0;
    size_t n;

    switch (op) {
    case OP_NULL:
        v->kind = SF_CANDID_NULL;
        return SF_OK;
    case OP_RESERVED:
        v->kind = SF_CANDID_RESERVED;
        return SF_OK;
    case OP_BOOL:
        v->kind = SF_CANDID_BOOL;
        if (read_byte(d, &b, "a bool") != SF_OK)
            return SF_ERR;
        if (b > 1) {
            d->pos--;
            return fail_at(d, EK_SYNTAX, "%s is neither 0 nor 1", "a bool");
        }
        v->b = b == 1;
        return SF_OK;
    case OP_NAT:
    case OP_INT:
        v->kind = op == OP_NAT ? SF_CANDID_NAT : SF_CANDID_INT;
        return read_big(d, op == OP_INT, v);
    case OP_NAT8: case OP_NAT16: case OP_NAT32: case OP_NAT64:
    case OP_INT8: case OP_INT16: case OP_INT32: case OP_INT64: {
        int idx = (int)(OP_NAT8 - op); /* 0..7 */
        unsigned bytes = 1u << (idx % 4);
        v->kind = fixed_kind[idx];
        if (read_fixed(d, bytes, &x, sf_candid_kind_name(v->kind)) != SF_OK)
            return SF_ERR;
        if (idx < 4)
            v->u = x;
        else
            v->i = sign_extend(x, bytes * 8);
        return SF_OK;
    }
    case OP_FLOAT32: {
        float f;
        uint32_t w;
        v->kind = SF_CANDID_FLOAT32;
        if (read_fixed(d, 4, &x, "a float32") != SF_OK)
            return SF_ERR;
        w = (uint32_t)x;
        memcpy(&f, &w, sizeof f);
        v->f = f;
        return SF_OK;
    }
    case OP_FLOAT64:
        v->kind = SF_CANDID_FLOAT64;
        if (read_fixed(d, 8, &x, "a float64") != SF_OK)
            return SF_ERR;
        memcpy(&v->f, &x, sizeof v->f);
        return SF_OK;
    case OP_TEXT:
        v->kind = SF_CANDID_TEXT;
        if (read_len(d, 1, &n, "a text length") != SF_OK)
            return SF_ERR;
        if (!utf8_valid(d->p + d->pos, n))
            return fail_at(d, EK_SYNTAX, "%s is not valid UTF-8", "a text");
        v->text = malloc(n + 1);
        if (v->text == NULL)
            return nomem(d);
        memcpy(v->text, d->p + d->pos, n);
        v->text[n] = '\0';
        v->text_len = n;
        d->pos += n;
        return SF_OK;
    case OP_PRINCIPAL: {
        char text[SF_PRINCIPAL_TEXT_MAX];
        v->kind = SF_CANDID_PRINCIPAL;
        if (read_byte(d, &b, "a principal") != SF_OK)
            return SF_ERR;
        if (b != 1) {
            d->pos--;
            return fail_at(d, b == 0 ? EK_UNSUPPORTED : EK_SYNTAX,
                           "%s", b == 0
                           ? "opaque principal references are not supported"
                           : "a principal's tag is neither 0 nor 1");
        }
        if (read_len(d, 1, &n, "a principal length") != SF_OK)
            return SF_ERR;
        if (n > SF_PRINCIPAL_MAX_BYTES)
            return fail_at(d, EK_SYNTAX, "a principal is longer than 29 "
                           "bytes");
        if (sf_principal_text_from_bytes(d->p + d->pos, n, text, d->err)
            != SF_OK)
            return SF_ERR;
        v->bytes = malloc(n ? n : 1);
        v->text = strdup(text);
        if (v->bytes == NULL || v->text == NULL)
            return nomem(d);
        memcpy(v->bytes, d->p + d->pos, n);
        v->byte_len = n;
        v->text_len = strlen(text);
        d->pos += n;
        return SF_OK;
    }
    case OP_EMPTY:
        return fail_at(d, EK_SYNTAX, "%s",
                       "a value of type empty cannot exist");
    }
    return fail_at(d, EK_SYNTAX, "%s", "unknown type");
}

static int read_vec(dec *d, int64_t inner, size_t depth, sf_candid_value *v)
{
    size_t n, cap = 0, k;

    if (inner == OP_NAT8) {
        v->kind = SF_CANDID_BLOB;
        if (read_len(d, 1, &n, "a blob length") != SF_OK)
            return SF_ERR;
        v->bytes = malloc(n ? n : 1);
        if (v->bytes == NULL)
            return nomem(d);
        memcpy(v->bytes, d->p + d->pos, n);
        v->byte_len = n;
        d->pos += n;
        return SF_OK;
    }
    v->kind = SF_CANDID_VEC;
    if (read_len(d, 0, &n, "a vec length") != SF_OK)
        return SF_ERR;
    /* every element costs at least one value of the budget, even a
     * zero-size one (null, reserved, an empty record) */
    if (n > d->lim.max_values - d->values)
        return fail_at(d, EK_LIMIT, "a vec length exceeds the value budget");
    for (k = 0; k < n; k++) {
        if (v->count == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            sf_candid_value *items;
            if (ncap > n)
                ncap = n;
            items = realloc(v->items, ncap * sizeof *items);
            if (items == NULL)
                return nomem(d);
            v->items = items;
            cap = ncap;
        }
        memset(&v->items[v->count], 0, sizeof v->items[0]);
        v->count++;
        if (read_value(d, inner, depth + 1, &v->items[v->count - 1]) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static int read_value(dec *d, int64_t type, size_t depth, sf_candid_value *v)
{
    const ctype *t;
    size_t k;
    uint8_t b = 0;

    if (depth > d->lim.max_depth)
        return fail_at(d, EK_LIMIT, "value nesting exceeds the depth limit");
    if (d->values >= d->lim.max_values)
        return fail_at(d, EK_LIMIT, "the number of values exceeds the "
                       "budget");
    d->values++;
    if (type < 0)
        return read_primitive(d, type, v);
    t = &d->types[type];
    switch (t->op) {
    case OP_OPT:
        v->kind = SF_CANDID_OPT;
        if (read_byte(d, &b, "an opt tag") != SF_OK)
            return SF_ERR;
        if (b == 0)
            return SF_OK;
        if (b != 1) {
            d->pos--;
            return fail_at(d, EK_SYNTAX, "%s is neither 0 nor 1", "an opt tag");
        }
        v->items = calloc(1, sizeof *v->items);
        if (v->items == NULL)
            return nomem(d);
        v->count = 1;
        return read_value(d, t->inner, depth + 1, &v->items[0]);
    case OP_VEC:
        return read_vec(d, t->inner, depth, v);
    case OP_RECORD:
        v->kind = SF_CANDID_RECORD;
        v->fields = calloc(t->field_count ? t->field_count : 1,
                           sizeof *v->fields);
        if (v->fields == NULL)
            return nomem(d);
        for (k = 0; k < t->field_count; k++) {
            v->fields[k].id = t->fields[k].id;
            v->field_count = k + 1;
            if (read_value(d, t->fields[k].type, depth + 1,
                           &v->fields[k].value) != SF_OK)
                return SF_ERR;
        }
        return SF_OK;
    case OP_VARIANT: {
        uint64_t idx;
        v->kind = SF_CANDID_VARIANT;
        if (read_uleb(d, &idx, "a variant index") != SF_OK)
            return SF_ERR;
        if (idx >= t->field_count)
            return fail_at(d, EK_SYNTAX, "a variant index is out of range");
        v->fields = calloc(1, sizeof *v->fields);
        if (v->fields == NULL)
            return nomem(d);
        v->field_count = 1;
        v->variant_index = (size_t)idx;
        v->fields[0].id = t->fields[idx].id;
        return read_value(d, t->fields[idx].type, depth + 1,
                          &v->fields[0].value);
    }
    case OP_FUNC:
    case OP_SERVICE:
        return fail_at(d, EK_UNSUPPORTED, "%s values are not supported",
                       t->op == OP_FUNC ? "func" : "service");
    }
    return fail_at(d, EK_SYNTAX, "%s", "unknown type");
}

static void value_free(sf_candid_value *v)
{
    size_t k;

    for (k = 0; k < v->count; k++)
        value_free(&v->items[k]);
    for (k = 0; k < v->field_count; k++)
        value_free(&v->fields[k].value);
    free(v->items);
    free(v->fields);
    free(v->text);
    free(v->bytes);
    memset(v, 0, sizeof *v);
}

void sf_candid_args_free(sf_candid_args *args)
{
    size_t k;

    if (args == NULL)
        return;
    for (k = 0; k < args->count; k++)
        value_free(&args->values[k]);
    free(args->values);
    args->values = NULL;
    args->count = 0;
}

static void free_types(dec *d)
{
    size_t k;

    for (k = 0; k < d->type_count; k++)
        free(d->types[k].fields);
    free(d->types);
}

int sf_candid_decode(const void *data, size_t len,
                     const sf_candid_limits *limits, sf_candid_args *out,
                     sf_error *err)
{
    dec d;
    size_t n, k;
    int64_t *arg_types = NULL;
    int rc = SF_ERR;

    memset(out, 0, sizeof *out);
    memset(&d, 0, sizeof d);
    d.p = data;
    d.len = len;
    d.lim = limits ? *limits : sf_candid_default_limits();
    if (d.lim.max_depth > 512) /* two C frames per level */
        d.lim.max_depth = 512;
    d.err = err;
    if (len > d.lim.max_bytes)
        return sf_error_set(err, EK_LIMIT, "", "candid: the message is %zu "
                            "bytes, more than the limit of %zu", len,
                            d.lim.max_bytes);
    if (len < 4 || memcmp(data, "DIDL", 4) != 0)
        return sf_error_set(err, EK_SYNTAX, "byte 0", "candid: the message "
                            "does not start with the magic DIDL");
    d.pos = 4;
    if (read_table(&d) != SF_OK)
        goto done;
    if (read_len(&d, 1, &n, "the argument count") != SF_OK)
        goto done;
    arg_types = calloc(n ? n : 1, sizeof *arg_types);
    out->values = calloc(n ? n : 1, sizeof *out->values);
    if (arg_types == NULL || out->values == NULL) {
        nomem(&d);
        goto done;
    }
    for (k = 0; k < n; k++)
        if (read_typeref(&d, &arg_types[k]) != SF_OK)
            goto done;
    for (k = 0; k < n; k++) {
        out->count = k + 1;
        if (read_value(&d, arg_types[k], 0, &out->values[k]) != SF_OK)
            goto done;
    }
    if (d.pos != d.len) {
        fail_at(&d, EK_SYNTAX, "%s after the last value",
                "trailing bytes");
        goto done;
    }
    rc = SF_OK;
done:
    free(arg_types);
    free_types(&d);
    if (rc != SF_OK)
        sf_candid_args_free(out);
    return rc;
}

/* ---- lookup ---- */

const sf_candid_value *sf_candid_field_by_id(const sf_candid_value *v,
                                             uint32_t id)
{
    size_t lo = 0, hi;

    if (v == NULL ||
        (v->kind != SF_CANDID_RECORD && v->kind != SF_CANDID_VARIANT))
        return NULL;
    hi = v->field_count;
    while (lo < hi) { /* fields are in id order */
        size_t mid = lo + (hi - lo) / 2;
        if (v->fields[mid].id == id)
            return &v->fields[mid].value;
        if (v->fields[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const sf_candid_value *sf_candid_field_get(const sf_candid_value *v,
                                           const char *name)
{
    return sf_candid_field_by_id(v, sf_candid_idl_hash(name));
}

/* ---- canic's registry reply ---- */

/* A shape error at `path`; the message names the path too. */
static int schema(sf_error *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int schema(sf_error *err, const char *path, const char *fmt, ...)
{
    char msg[SF_ERROR_MESSAGE_MAX - SF_ERROR_FIELD_MAX - 32];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sf_error_set(err, EK_SCHEMA, path, "registry reply: %s %s", path,
                        msg);
}

/* The field `name` of rec, of the given kind; path is set to its path. */
static const sf_candid_value *need(const sf_candid_value *rec, const char *name,
                                   sf_candid_kind kind, const char *base,
                                   char *path, size_t path_size, sf_error *err)
{
    const sf_candid_value *v = sf_candid_field_get(rec, name);

    snprintf(path, path_size, "%s.%s", base, name);
    if (v == NULL) {
        schema(err, path, "is missing");
        return NULL;
    }
    if (v->kind != kind) {
        schema(err, path, "is a %s, expected %s", sf_candid_kind_name(v->kind),
               sf_candid_kind_name(kind));
        return NULL;
    }
    return v;
}

/* An opt field whose value, when present, has the given kind. */
static const sf_candid_value *need_opt(const sf_candid_value *rec,
                                       const char *name, sf_candid_kind kind,
                                       const char *base, char *path,
                                       size_t path_size, sf_error *err)
{
    const sf_candid_value *v = need(rec, name, SF_CANDID_OPT, base, path,
                                    path_size, err);

    if (v != NULL && v->count == 1 && v->items[0].kind != kind) {
        schema(err, path, "holds a %s, expected %s",
               sf_candid_kind_name(v->items[0].kind),
               sf_candid_kind_name(kind));
        return NULL;
    }
    return v;
}

static int map_entry(const sf_candid_value *item, size_t i,
                     sf_registry_entry *e, sf_error *err)
{
    char base[64], path[128];
    const sf_candid_value *pid, *role, *rec, *parent, *hash;
    size_t k;

    snprintf(base, sizeof base, "Ok[%zu]", i);
    if (item->kind != SF_CANDID_RECORD)
        return schema(err, base, "is a %s, expected record",
                      sf_candid_kind_name(item->kind));
    if ((pid = need(item, "pid", SF_CANDID_PRINCIPAL, base, path, sizeof path,
                    err)) == NULL ||
        (role = need(item, "role", SF_CANDID_TEXT, base, path, sizeof path,
                     err)) == NULL)
        return SF_ERR;
    if (strlen(role->text) != role->text_len)
        return schema(err, path, "holds a NUL character");
    if ((rec = need(item, "record", SF_CANDID_RECORD, base, path, sizeof path,
                    err)) == NULL)
        return SF_ERR;
    snprintf(base, sizeof base, "Ok[%zu].record", i);
    if ((parent = need_opt(rec, "parent_pid", SF_CANDID_PRINCIPAL, base, path,
                           sizeof path, err)) == NULL ||
        (hash = need_opt(rec, "module_hash", SF_CANDID_BLOB, base, path,
                         sizeof path, err)) == NULL)
        return SF_ERR;
    e->pid = strdup(pid->text);
    e->role = strdup(role->text);
    if (e->pid == NULL || e->role == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (parent->count == 1 &&
        (e->parent_pid = strdup(parent->items[0].text)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (hash->count == 1) {
        const sf_candid_value *h = &hash->items[0];
        static const char hex[] = "0123456789abcdef";
        e->module_hash = malloc(h->byte_len * 2 + 1);
        if (e->module_hash == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        for (k = 0; k < h->byte_len; k++) {
            e->module_hash[2 * k] = hex[h->bytes[k] >> 4];
            e->module_hash[2 * k + 1] = hex[h->bytes[k] & 15];
        }
        e->module_hash[2 * h->byte_len] = '\0';
    }
    return SF_OK;
}

static int registry_err(const sf_candid_value *e, sf_error *err)
{
    const sf_candid_value *msg = NULL;

    if (e->kind == SF_CANDID_TEXT)
        msg = e;
    else if (e->kind == SF_CANDID_RECORD)
        msg = sf_candid_field_get(e, "message");
    if (msg != NULL && msg->kind == SF_CANDID_TEXT)
        return sf_error_set(err, "registry-err", "Err", "the registry "
                            "answered Err: %s", msg->text);
    return sf_error_set(err, "registry-err", "Err", "the registry answered "
                        "Err (a %s without a message)",
                        sf_candid_kind_name(e->kind));
}

int sf_candid_registry_from_value(const sf_candid_value *reply,
                                  sf_registry *out, sf_error *err)
{
    const sf_candid_value *ok, *e;
    size_t i;

    memset(out, 0, sizeof *out);
    if (reply->kind != SF_CANDID_VARIANT)
        return sf_error_set(err, EK_SCHEMA, "", "registry reply: expected "
                            "variant {Ok; Err}, found a %s",
                            sf_candid_kind_name(reply->kind));
    if ((e = sf_candid_field_get(reply, "Err")) != NULL)
        return registry_err(e, err);
    ok = sf_candid_field_get(reply, "Ok");
    if (ok == NULL)
        return sf_error_set(err, EK_SCHEMA, "", "registry reply: expected "
                            "variant {Ok; Err}, found another case (id %lu)",
                            (unsigned long)reply->fields[0].id);
    if (ok->kind != SF_CANDID_VEC)
        return sf_error_set(err, EK_SCHEMA, "Ok", "registry reply: Ok is a %s, "
                            "expected vec", sf_candid_kind_name(ok->kind));
    out->entries = calloc(ok->count ? ok->count : 1, sizeof *out->entries);
    if (out->entries == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < ok->count; i++) {
        out->count = i + 1;
        if (map_entry(&ok->items[i], i, &out->entries[i], err) != SF_OK) {
            sf_registry_free(out);
            return SF_ERR;
        }
    }
    return SF_OK;
}

int sf_candid_registry_from_reply(const void *data, size_t len,
                                  sf_registry *out, sf_error *err)
{
    sf_candid_args args;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_candid_decode(data, len, NULL, &args, err) != SF_OK)
        return SF_ERR;
    if (args.count == 0)
        rc = sf_error_set(err, EK_SCHEMA, "", "registry reply: the reply "
                          "holds no value");
    else
        rc = sf_candid_registry_from_value(&args.values[0], out, err);
    sf_candid_args_free(&args);
    return rc;
}
