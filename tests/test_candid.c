/* The Candid decoder: every type it accepts, the registry mapping, and
 * hostile input refused cleanly. Vectors are hex; the multi-type ones were
 * produced by tests/fake-icp/candid_enc.py, an encoder written separately
 * from the spec, and the first matches ic-backup's golden
 * CanisterIdRecord bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/candid.h"

/* ---- helpers ---- */

static uint8_t *unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2, k;
    uint8_t *b = malloc(n ? n : 1);

    assert_non_null(b);
    for (k = 0; k < n; k++) {
        unsigned v;
        assert_int_equal(sscanf(hex + 2 * k, "%2x", &v), 1);
        b[k] = (uint8_t)v;
    }
    *len = n;
    return b;
}

static int decode_lim(const char *hex, const sf_candid_limits *lim,
                      sf_candid_args *a, sf_error *e)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    int rc;

    sf_error_clear(e);
    rc = sf_candid_decode(b, n, lim, a, e);
    free(b);
    return rc;
}

static int decode(const char *hex, sf_candid_args *a, sf_error *e)
{
    return decode_lim(hex, NULL, a, e);
}

/* Decodes one value and hands it to the caller (release with args). */
static const sf_candid_value *one(const char *hex, sf_candid_args *a)
{
    sf_error e;

    if (decode(hex, a, &e) != SF_OK)
        fail_msg("decode %s: %s (%s)", hex, e.message, e.kind);
    assert_int_equal(a->count, 1);
    return &a->values[0];
}

static void refused(const char *hex, const char *kind)
{
    sf_candid_args a;
    sf_error e;

    if (decode(hex, &a, &e) == SF_OK)
        fail_msg("decoded hostile input %s", hex);
    assert_non_null(e.kind);
    if (strcmp(e.kind, kind) != 0)
        fail_msg("%s: kind %s (%s), wanted %s", hex, e.kind, e.message, kind);
    assert_int_equal(a.count, 0);
    assert_null(a.values);
}

static void refused_lim(const char *hex, const sf_candid_limits *lim,
                        const char *kind)
{
    sf_candid_args a;
    sf_error e;

    assert_int_equal(decode_lim(hex, lim, &a, &e), SF_ERR);
    assert_string_equal(e.kind, kind);
}

#define REGISTRY_OK                                                          \
    "4449444c096b02bc8a0101c5fed201076d026c03cbb0d50268f6d6bbdd047191edb1ef" \
    "0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f066e05" \
    "6d7b6e686c02ade2928e0408c7ebc4d009716b03ddc6a0117fcfa0def2067fd4b4c59a" \
    "097f01000002010004726f6f74010004726f6f74010000000000000001"             \
    "20abababababababababababababababababababababababababababababababab"     \
    "00010a0000000000000006010103617070010a0000000000000006010103617070"     \
    "020000000000000000010100"

#define REGISTRY_ERR                                                         \
    "4449444c096b02bc8a0101c5fed201076d026c03cbb0d50268f6d6bbdd047191edb1ef" \
    "0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f066e05" \
    "6d7b6e686c02ade2928e0408c7ebc4d009716b03ddc6a0117fcfa0def2067fd4b4c59a" \
    "097f0100010014726567697374727920756e617661696c61626c65"

#define REGISTRY_EMPTY                                                       \
    "4449444c096b02bc8a0101c5fed201076d026c03cbb0d50268f6d6bbdd047191edb1ef" \
    "0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f066e05" \
    "6d7b6e686c02ade2928e0408c7ebc4d009716b03ddc6a0117fcfa0def2067fd4b4c59a" \
    "097f01000000"

/* ---- hash ---- */

static void test_idl_hash(void **state)
{
    (void)state;
    assert_int_equal(sf_candid_idl_hash(""), 0);
    assert_int_equal(sf_candid_idl_hash("a"), 97);
    assert_int_equal(sf_candid_idl_hash("Ok"), 17724);
    assert_int_equal(sf_candid_idl_hash("Err"), 3456837);
    assert_int_equal(sf_candid_idl_hash("canister_id"), 1313628723u);
    assert_int_equal(sf_candid_idl_hash("module_hash"), 2928387969u);
}

/* ---- every type ---- */

static void test_empty_args(void **state)
{
    sf_candid_args a;
    sf_error e;

    (void)state;
    /* the empty-tuple acknowledgement of stop, start and load */
    assert_int_equal(decode("4449444c0000", &a, &e), SF_OK);
    assert_int_equal(a.count, 0);
    sf_candid_args_free(&a);
}

static void test_golden_canister_id_record(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v, *f;

    (void)state;
    v = one("4449444c016c01b3c4b1f204680100010a00000000000000060101", &a);
    assert_int_equal(v->kind, SF_CANDID_RECORD);
    assert_int_equal(v->field_count, 1);
    f = sf_candid_field_get(v, "canister_id");
    assert_non_null(f);
    assert_int_equal(f->kind, SF_CANDID_PRINCIPAL);
    assert_string_equal(f->text, "renrk-eyaaa-aaaaa-aaada-cai");
    assert_int_equal(f->byte_len, 10);
    assert_memory_equal(f->bytes, "\0\0\0\0\0\0\0\x06\x01\x01", 10);
    assert_null(sf_candid_field_get(v, "other"));
    assert_null(sf_candid_field_get(f, "canister_id")); /* not a record */
    sf_candid_args_free(&a);
}

static void test_null_bool_reserved(void **state)
{
    sf_candid_args a;

    (void)state;
    assert_int_equal(one("4449444c00017f", &a)->kind, SF_CANDID_NULL);
    sf_candid_args_free(&a);
    assert_int_equal(one("4449444c000170", &a)->kind, SF_CANDID_RESERVED);
    sf_candid_args_free(&a);
    assert_true(one("4449444c00017e01", &a)->b);
    assert_int_equal(a.values[0].kind, SF_CANDID_BOOL);
    sf_candid_args_free(&a);
    assert_false(one("4449444c00017e00", &a)->b);
    sf_candid_args_free(&a);
}

static void check_big(const char *hex, sf_candid_kind kind, const char *text,
                      bool fits)
{
    sf_candid_args a;
    const sf_candid_value *v = one(hex, &a);

    assert_int_equal(v->kind, kind);
    assert_string_equal(v->text, text);
    assert_int_equal(v->text_len, strlen(text));
    assert_int_equal(v->fits, fits);
    sf_candid_args_free(&a);
}

static void test_nat(void **state)
{
    sf_candid_args a;

    (void)state;
    check_big("4449444c00017d00", SF_CANDID_NAT, "0", true);
    check_big("4449444c00017de58e26", SF_CANDID_NAT, "624485", true);
    assert_int_equal(one("4449444c00017de58e26", &a)->u, 624485);
    sf_candid_args_free(&a);
    check_big("4449444c00017dffffffffffffffffff01", SF_CANDID_NAT,
              "18446744073709551615", true);
    assert_true(one("4449444c00017dffffffffffffffffff01", &a)->u == UINT64_MAX);
    sf_candid_args_free(&a);
    check_big("4449444c00017d80808080808080808002", SF_CANDID_NAT,
              "18446744073709551616", false);
    check_big("4449444c00017d808080808080808080808080808004", SF_CANDID_NAT,
              "1267650600228229401496703205376", false);
    /* redundant zero groups, as Rust's decoder accepts them */
    check_big("4449444c00017d808000", SF_CANDID_NAT, "0", true);
}

static void test_int(void **state)
{
    sf_candid_args a;

    (void)state;
    check_big("4449444c00017c7f", SF_CANDID_INT, "-1", true);
    check_big("4449444c00017cc0bb78", SF_CANDID_INT, "-123456", true);
    assert_int_equal(one("4449444c00017cc0bb78", &a)->i, -123456);
    sf_candid_args_free(&a);
    check_big("4449444c00017c8080808080808080807f", SF_CANDID_INT,
              "-9223372036854775808", true);
    assert_true(one("4449444c00017c8080808080808080807f", &a)->i == INT64_MIN);
    sf_candid_args_free(&a);
    check_big("4449444c00017cffffffffffffffffff7e", SF_CANDID_INT,
              "-9223372036854775809", false);
    check_big("4449444c00017cffffffffffffffffff00", SF_CANDID_INT,
              "9223372036854775807", true);
    check_big("4449444c00017c80808080808080808001", SF_CANDID_INT,
              "9223372036854775808", false);
    check_big("4449444c00017c80808080dcc2c4c5b9df8c9b8dec7c", SF_CANDID_INT,
              "-1000000000000000000000000000000", false);
}

static void test_fixed_width(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c00017bff", &a);
    assert_int_equal(v->kind, SF_CANDID_NAT8);
    assert_int_equal(v->u, 255);
    sf_candid_args_free(&a);
    v = one("4449444c00017a3412", &a);
    assert_int_equal(v->kind, SF_CANDID_NAT16);
    assert_int_equal(v->u, 0x1234);
    sf_candid_args_free(&a);
    v = one("4449444c00017978563412", &a);
    assert_int_equal(v->kind, SF_CANDID_NAT32);
    assert_int_equal(v->u, 0x12345678);
    sf_candid_args_free(&a);
    v = one("4449444c000178ffffffffffffffff", &a);
    assert_int_equal(v->kind, SF_CANDID_NAT64);
    assert_true(v->u == UINT64_MAX);
    sf_candid_args_free(&a);
    v = one("4449444c000177ff", &a);
    assert_int_equal(v->kind, SF_CANDID_INT8);
    assert_int_equal(v->i, -1);
    sf_candid_args_free(&a);
    v = one("4449444c0001760080", &a);
    assert_int_equal(v->kind, SF_CANDID_INT16);
    assert_int_equal(v->i, -32768);
    sf_candid_args_free(&a);
    v = one("4449444c000175feffffff", &a);
    assert_int_equal(v->kind, SF_CANDID_INT32);
    assert_int_equal(v->i, -2);
    sf_candid_args_free(&a);
    v = one("4449444c0001740000000000000080", &a);
    assert_int_equal(v->kind, SF_CANDID_INT64);
    assert_true(v->i == INT64_MIN);
    sf_candid_args_free(&a);
    v = one("4449444c0001730000c03f", &a);
    assert_int_equal(v->kind, SF_CANDID_FLOAT32);
    assert_true(v->f == 1.5);
    sf_candid_args_free(&a);
    v = one("4449444c00017200000000000002c0", &a);
    assert_int_equal(v->kind, SF_CANDID_FLOAT64);
    assert_true(v->f == -2.25);
    sf_candid_args_free(&a);
}

static void test_text(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c0001710668c3a96c6c6f", &a);
    assert_int_equal(v->kind, SF_CANDID_TEXT);
    assert_string_equal(v->text, "h\xc3\xa9llo");
    assert_int_equal(v->text_len, 6);
    sf_candid_args_free(&a);
    v = one("4449444c00017100", &a); /* empty */
    assert_string_equal(v->text, "");
    sf_candid_args_free(&a);
    v = one("4449444c000171020061", &a); /* U+0000 is text too */
    assert_int_equal(v->text_len, 2);
    assert_int_equal(v->text[1], 'a');
    sf_candid_args_free(&a);
    v = one("4449444c00017104f09f9880", &a); /* a 4-byte sequence */
    assert_int_equal(v->text_len, 4);
    sf_candid_args_free(&a);
    /* a length with a redundant zero group */
    v = one("4449444c000171850068656c6c6f", &a);
    assert_string_equal(v->text, "hello");
    sf_candid_args_free(&a);
}

static void test_text_invalid_utf8(void **state)
{
    (void)state;
    refused("4449444c00017102c080", "candid-syntax");   /* overlong */
    refused("4449444c00017103eda080", "candid-syntax"); /* surrogate */
    refused("4449444c00017101ff", "candid-syntax");
    refused("4449444c00017101c3", "candid-syntax");     /* cut sequence */
    refused("4449444c00017104f4908080", "candid-syntax"); /* > U+10FFFF */
}

static void test_principal(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c0001680100", &a); /* the management canister */
    assert_int_equal(v->kind, SF_CANDID_PRINCIPAL);
    assert_string_equal(v->text, "aaaaa-aa");
    assert_int_equal(v->byte_len, 0);
    sf_candid_args_free(&a);
    v = one("4449444c0001680101" "04", &a); /* anonymous */
    assert_string_equal(v->text, "2vxsx-fae");
    sf_candid_args_free(&a);
    refused("4449444c00016800", "candid-unsupported"); /* opaque reference */
    refused("4449444c0001680200", "candid-syntax");
    refused("4449444c000168011e"
            "000000000000000000000000000000000000000000000000000000000000",
            "candid-syntax"); /* 30 bytes */
}

static void test_opt(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c016e71010000", &a);
    assert_int_equal(v->kind, SF_CANDID_OPT);
    assert_int_equal(v->count, 0);
    sf_candid_args_free(&a);
    v = one("4449444c016e710100010178", &a);
    assert_int_equal(v->count, 1);
    assert_int_equal(v->items[0].kind, SF_CANDID_TEXT);
    assert_string_equal(v->items[0].text, "x");
    sf_candid_args_free(&a);
    refused("4449444c016e7f010002", "candid-syntax"); /* tag 2 */
}

static void test_vec_and_blob(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c016d7a01000301000200ffff", &a);
    assert_int_equal(v->kind, SF_CANDID_VEC);
    assert_int_equal(v->count, 3);
    assert_int_equal(v->items[0].u, 1);
    assert_int_equal(v->items[2].u, 65535);
    sf_candid_args_free(&a);
    v = one("4449444c016d7b01000300ff11", &a);
    assert_int_equal(v->kind, SF_CANDID_BLOB);
    assert_int_equal(v->byte_len, 3);
    assert_memory_equal(v->bytes, "\x00\xff\x11", 3);
    sf_candid_args_free(&a);
    v = one("4449444c016d7b010000", &a); /* empty blob */
    assert_int_equal(v->byte_len, 0);
    sf_candid_args_free(&a);
    v = one("4449444c016d7f0100e807", &a); /* 1000 nulls: zero bytes each */
    assert_int_equal(v->count, 1000);
    sf_candid_args_free(&a);
}

static void test_record_and_variant(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;

    (void)state;
    v = one("4449444c016c02007b017e01000701", &a); /* tuple (nat8, bool) */
    assert_int_equal(v->kind, SF_CANDID_RECORD);
    assert_int_equal(v->field_count, 2);
    assert_int_equal(sf_candid_field_by_id(v, 0)->u, 7);
    assert_true(sf_candid_field_by_id(v, 1)->b);
    assert_null(sf_candid_field_by_id(v, 2));
    sf_candid_args_free(&a);
    v = one("4449444c016b02617f6277010001fb", &a);
    assert_int_equal(v->kind, SF_CANDID_VARIANT);
    assert_int_equal(v->variant_index, 1);
    assert_int_equal(v->field_count, 1);
    assert_int_equal(sf_candid_field_get(v, "b")->i, -5);
    assert_null(sf_candid_field_get(v, "a")); /* not the case present */
    sf_candid_args_free(&a);
}

static void test_several_args(void **state)
{
    sf_candid_args a;
    sf_error e;

    (void)state;
    assert_int_equal(decode("4449444c00027b71010178", &a, &e), SF_OK);
    assert_int_equal(a.count, 2);
    assert_int_equal(a.values[0].u, 1);
    assert_string_equal(a.values[1].text, "x");
    sf_candid_args_free(&a);
}

static void test_recursive_type(void **state)
{
    sf_candid_args a;
    const sf_candid_value *v;
    int depth = 0;

    (void)state;
    /* type 0 = opt 0: legal Candid, and a finite value ends the chain */
    v = one("4449444c016e0001000101010100", &a);
    while (v->kind == SF_CANDID_OPT && v->count == 1) {
        v = &v->items[0];
        depth++;
    }
    assert_int_equal(depth, 4);
    sf_candid_args_free(&a);
}

static void test_func_and_service_types(void **state)
{
    sf_candid_args a;
    sf_error e;

    (void)state;
    /* declared and unused: fine */
    assert_int_equal(decode("4449444c016a00000000", &a, &e), SF_OK);
    sf_candid_args_free(&a);
    assert_int_equal(decode("4449444c0269010166016a00000000", &a, &e), SF_OK);
    sf_candid_args_free(&a);
    /* a value of one: refused */
    refused("4449444c016a0000010101000101", "candid-unsupported");
    refused("4449444c016a0000010400", "candid-syntax"); /* annotation 4 */
}

/* ---- hostile input ---- */

static void test_magic(void **state)
{
    (void)state;
    refused("", "candid-syntax");
    refused("444944", "candid-syntax");
    refused("4449444d0000", "candid-syntax");
}

static void test_every_truncation(void **state)
{
    static const char *const vectors[] = {
        REGISTRY_OK, REGISTRY_ERR,
        "4449444c016c01b3c4b1f204680100010a00000000000000060101",
        "4449444c00017cffffffffffffffffff7e",
        "4449444c0001710668c3a96c6c6f",
    };
    size_t v, n, cut;

    (void)state;
    for (v = 0; v < sizeof vectors / sizeof vectors[0]; v++) {
        uint8_t *b = unhex(vectors[v], &n);
        for (cut = 0; cut < n; cut++) {
            sf_candid_args a;
            sf_error e;
            if (sf_candid_decode(b, cut, NULL, &a, &e) == SF_OK)
                fail_msg("vector %zu cut at %zu decoded", v, cut);
            assert_string_equal(e.kind, "candid-syntax");
        }
        free(b);
    }
}

static void test_leb128_bounds(void **state)
{
    (void)state;
    /* eleven bytes for the type table size */
    refused("4449444c808080808080808080808000", "candid-syntax");
    /* ten bytes whose last one carries more than bit 63 */
    refused("4449444cffffffffffffffffff02", "candid-syntax");
    /* an opcode whose SLEB128 overflows */
    refused("4449444c01ffffffffffffffffff7e", "candid-syntax");
    /* a nat may be long, but not longer than the limit */
    {
        sf_candid_limits lim = sf_candid_default_limits();
        lim.max_nat_bytes = 4;
        refused_lim("4449444c00017d8080808001", &lim, "candid-limit");
    }
}

static void test_huge_lengths(void **state)
{
    (void)state;
    refused("4449444c000171ffffffffffffffffff01", "candid-syntax"); /* text */
    refused("4449444c016d7b0100ffffffff0f", "candid-syntax");       /* blob */
    refused("4449444cffffffff0f", "candid-syntax");                 /* table */
    refused("4449444c016cffffffff0f", "candid-syntax");             /* fields */
    refused("4449444c00ffffffff0f", "candid-syntax");               /* args */
    /* zero-size elements cannot ask for more than the value budget */
    refused("4449444c016d7f0100ffffffff0f", "candid-limit");
    {
        sf_candid_limits lim = sf_candid_default_limits();
        lim.max_values = 100;
        refused_lim("4449444c016d7f0100e807", &lim, "candid-limit");
    }
}

static void test_deep_nesting(void **state)
{
    char hex[2048];
    size_t k;

    (void)state;
    /* opt opt opt ... 100 levels deep */
    strcpy(hex, "4449444c016e000100");
    for (k = 0; k < 100; k++)
        strcat(hex, "01");
    strcat(hex, "00");
    refused(hex, "candid-limit");
}

static void test_type_table_cycle(void **state)
{
    (void)state;
    /* type 0 = record {0: type 0}: every level consumes nothing */
    refused("4449444c016c01000001" "00", "candid-limit");
    /* through two entries: 0 = record {1}, 1 = record {0} */
    refused("4449444c026c0100016c010000010000", "candid-limit");
}

static void test_malformed_tables(void **state)
{
    (void)state;
    refused("4449444c000105", "candid-syntax");             /* no type 5 */
    refused("4449444c00016e", "candid-syntax");             /* opt as a ref */
    refused("4449444c017d0100", "candid-syntax");           /* primitive entry */
    refused("4449444c016700", "candid-unsupported");        /* future opcode */
    refused("4449444c016c02017f007f0100", "candid-syntax"); /* ids descend */
    refused("4449444c016c02017f017f0100", "candid-syntax"); /* ids repeat */
    refused("4449444c016c0180808080107f0100", "candid-syntax"); /* id > 32 bits */
    refused("4449444c016b01007f010005", "candid-syntax");   /* no case 5 */
    refused("4449444c00017f00", "candid-syntax");           /* trailing byte */
    refused("4449444c0000ff", "candid-syntax");
    refused("4449444c00017e02", "candid-syntax");           /* bool 2 */
    refused("4449444c00016f", "candid-syntax");             /* empty value */
}

static void test_limits(void **state)
{
    sf_candid_limits lim = sf_candid_default_limits();

    (void)state;
    lim.max_bytes = 8;
    refused_lim("4449444c0001710178", &lim, "candid-limit");
    lim = sf_candid_default_limits();
    lim.max_types = 1;
    refused_lim("4449444c026e7f6e7f0100", &lim, "candid-limit");
    lim = sf_candid_default_limits();
    lim.max_depth = 3;
    refused_lim("4449444c016e000100010101010100", &lim, "candid-limit");
}

/* ---- the registry reply ---- */

static int registry(const char *hex, sf_registry *reg, sf_error *e)
{
    size_t n;
    uint8_t *b = unhex(hex, &n);
    int rc;

    sf_error_clear(e);
    rc = sf_candid_registry_from_reply(b, n, reg, e);
    free(b);
    return rc;
}

static void test_registry_ok(void **state)
{
    sf_registry reg;
    sf_error e;

    (void)state;
    assert_int_equal(registry(REGISTRY_OK, &reg, &e), SF_OK);
    assert_int_equal(reg.count, 2);
    assert_string_equal(reg.entries[0].pid, "aaaaa-aa");
    assert_string_equal(reg.entries[0].role, "root");
    assert_null(reg.entries[0].parent_pid);
    assert_null(reg.entries[0].kind);
    assert_string_equal(reg.entries[0].module_hash,
                        "abababababababababababababababab"
                        "abababababababababababababababab");
    assert_string_equal(reg.entries[1].pid, "renrk-eyaaa-aaaaa-aaada-cai");
    assert_string_equal(reg.entries[1].role, "app");
    assert_string_equal(reg.entries[1].parent_pid, "aaaaa-aa");
    assert_null(reg.entries[1].module_hash);
    sf_registry_free(&reg);
    assert_int_equal(registry(REGISTRY_EMPTY, &reg, &e), SF_OK);
    assert_int_equal(reg.count, 0);
    sf_registry_free(&reg);
}

static void test_registry_err(void **state)
{
    sf_registry reg;
    sf_error e;

    (void)state;
    assert_int_equal(registry(REGISTRY_ERR, &reg, &e), SF_ERR);
    assert_string_equal(e.kind, "registry-err");
    assert_string_equal(e.message, "the registry answered Err: registry "
                        "unavailable");
    assert_int_equal(reg.count, 0);
    /* an Err that is plain text, and one with no message at all */
    assert_int_equal(registry("4449444c026b02bc8a0101c5fed201716d7101000104626f6f6d",
                              &reg, &e), SF_ERR);
    assert_string_equal(e.kind, "registry-err");
    assert_non_null(strstr(e.message, "boom"));
    assert_int_equal(registry("4449444c026b02bc8a0101c5fed2017b6d7101000103",
                              &reg, &e), SF_ERR);
    assert_string_equal(e.kind, "registry-err");
}

static void schema_error(const char *hex, const char *field)
{
    sf_registry reg;
    sf_error e;

    assert_int_equal(registry(hex, &reg, &e), SF_ERR);
    if (strcmp(e.kind, "candid-schema") != 0)
        fail_msg("%s: %s (%s)", field, e.kind, e.message);
    assert_string_equal(e.field, field);
    assert_int_equal(reg.count, 0);
    assert_null(reg.entries);
}

static void test_registry_shapes(void **state)
{
    (void)state;
    schema_error("4449444c0001710178", "");                 /* not a variant */
    schema_error("4449444c016b018887d2b209710100000178", ""); /* no Ok/Err */
    schema_error("4449444c016b01bc8a01710100000178", "Ok");  /* Ok is text */
    schema_error("4449444c026b01bc8a01016d71010000010178", "Ok[0]");
    schema_error("4449444c0000", "");                        /* no value */
    schema_error(
        "4449444c076b02bc8a0101c5fed201716d026c02cbb0d5026891edb1ef0f036c05cb"
        "b0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f066e056d7b6e68"
        "010000010100010004726f6f7400000000000000000000", "Ok[0].role");
    schema_error(
        "4449444c076b02bc8a0101c5fed201716d026c03cbb0d50271f6d6bbdd047191edb1"
        "ef0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f06"
        "6e056d7b6e68010000010861616161612d61610172010004726f6f74000000000000"
        "00000000", "Ok[0].pid");
    schema_error(
        "4449444c066b02bc8a0101c5fed201716d026c03cbb0d50268f6d6bbdd047191edb1"
        "ef0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f05"
        "6e716e680100000101000172010004726f6f74000000000000000001027a7a00",
        "Ok[0].record.module_hash");
    schema_error(
        "4449444c066b02bc8a0101c5fed201716d026c03cbb0d50268f6d6bbdd047191edb1"
        "ef0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f68"
        "6e056d7b0100000101000172010004726f6f740000000000000000000100",
        "Ok[0].record.parent_pid");
    schema_error(
        "4449444c076b02bc8a0101c5fed201716d026c03cbb0d50268f6d6bbdd047191edb1"
        "ef0f036c05cbb0d50268f6d6bbdd0471aaacd9d0067881cfaef40a04f6fee59a0f06"
        "6e056d7b6e6801000001010003610062010004726f6f7400000000000000000000",
        "Ok[0].role");
}

static void test_registry_candid_errors_pass_through(void **state)
{
    sf_registry reg;
    sf_error e;

    (void)state;
    assert_int_equal(registry("4449444c0000ff", &reg, &e), SF_ERR);
    assert_string_equal(e.kind, "candid-syntax");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_idl_hash),
        cmocka_unit_test(test_empty_args),
        cmocka_unit_test(test_golden_canister_id_record),
        cmocka_unit_test(test_null_bool_reserved),
        cmocka_unit_test(test_nat),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_fixed_width),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_invalid_utf8),
        cmocka_unit_test(test_principal),
        cmocka_unit_test(test_opt),
        cmocka_unit_test(test_vec_and_blob),
        cmocka_unit_test(test_record_and_variant),
        cmocka_unit_test(test_several_args),
        cmocka_unit_test(test_recursive_type),
        cmocka_unit_test(test_func_and_service_types),
        cmocka_unit_test(test_magic),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_leb128_bounds),
        cmocka_unit_test(test_huge_lengths),
        cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_type_table_cycle),
        cmocka_unit_test(test_malformed_tables),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_registry_ok),
        cmocka_unit_test(test_registry_err),
        cmocka_unit_test(test_registry_shapes),
        cmocka_unit_test(test_registry_candid_errors_pass_through),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
