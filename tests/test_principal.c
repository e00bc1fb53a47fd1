/* Principal text codec (spec formats-and-backup 0.2). Byte values and texts
 * not quoted by the spec were computed with Python's zlib.crc32 and
 * base64.b32encode. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "snapfleet/principal.h"

/* Valid text, decoded bytes (hex), canonical text. */
typedef struct vector {
    const char *text;
    const char *hex;
    const char *canonical;
} vector;

static const vector valid[] = {
    {"aaaaa-aa", "", "aaaaa-aa"},
    {"2vxsx-fae", "04", "2vxsx-fae"},
    {"renrk-eyaaa-aaaaa-aaada-cai", "00000000000000060101",
     "renrk-eyaaa-aaaaa-aaada-cai"},
    {"rno2w-sqaaa-aaaaa-aaacq-cai", "00000000000000050101",
     "rno2w-sqaaa-aaaaa-aaacq-cai"},
    {"rdmx6-jaaaa-aaaaa-aaadq-cai", "00000000000000070101",
     "rdmx6-jaaaa-aaaaa-aaadq-cai"},
    {"rrkah-fqaaa-aaaaa-aaaaq-cai", "00000000000000010101",
     "rrkah-fqaaa-aaaaa-aaaaq-cai"},
    /* Case-insensitive input, lower-case canonical form. */
    {"AAAAA-AA", "", "aaaaa-aa"},
    {"2VXSX-FAE", "04", "2vxsx-fae"},
    {"Renrk-EYAAA-aaaaa-aaada-CAI", "00000000000000060101",
     "renrk-eyaaa-aaaaa-aaada-cai"},
    /* The longest principal: 29 data bytes. */
    {"2mhjn-ayaae-bagba-faydq-qcikb-mga2d-qpcai-reeyu-culbo-gazdi-nry",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c",
     "2mhjn-ayaae-bagba-faydq-qcikb-mga2d-qpcai-reeyu-culbo-gazdi-nry"},
    {"2MHJN-AYAAE-BAGBA-FAYDQ-QCIKB-MGA2D-QPCAI-REEYU-CULBO-GAZDI-NRY",
     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c",
     "2mhjn-ayaae-bagba-faydq-qcikb-mga2d-qpcai-reeyu-culbo-gazdi-nry"},
    {"tsdi7-6x777-77777-77777-77777-77777-77777-77777-77777-77777-776",
     "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
     "tsdi7-6x777-77777-77777-77777-77777-77777-77777-77777-77777-776"},
};

static size_t hex_to_bytes(const char *hex, uint8_t *out)
{
    size_t n = strlen(hex) / 2;

    for (size_t i = 0; i < n; i++) {
        unsigned v;

        assert_int_equal(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
    return n;
}

static void assert_invalid(const char *text)
{
    sf_principal p;
    sf_error err;
    char buf[SF_PRINCIPAL_TEXT_MAX];

    if (sf_principal_is_valid(text))
        fail_msg("\"%s\" accepted", text);
    sf_error_clear(&err);
    assert_int_equal(sf_principal_from_text(text, &p, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, "invalid-principal");
    sf_error_clear(&err);
    assert_int_equal(sf_principal_canonical(text, buf, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, "invalid-principal");
    /* NULL error pointers are allowed. */
    assert_int_equal(sf_principal_from_text(text, &p, NULL), SF_ERR);
}

static void test_valid_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        const vector *v = &valid[i];
        uint8_t want[64];
        size_t want_len = hex_to_bytes(v->hex, want);
        char buf[SF_PRINCIPAL_TEXT_MAX];
        sf_principal p;
        sf_error err;

        sf_error_clear(&err);
        if (!sf_principal_is_valid(v->text))
            fail_msg("\"%s\" rejected", v->text);
        if (sf_principal_from_text(v->text, &p, &err) != SF_OK)
            fail_msg("\"%s\": %s", v->text, err.message);
        assert_int_equal(p.len, want_len);
        if (want_len > 0)
            assert_memory_equal(p.bytes, want, want_len);

        memset(buf, 'x', sizeof buf);
        sf_principal_to_text(&p, buf);
        assert_string_equal(buf, v->canonical);

        memset(buf, 'x', sizeof buf);
        assert_int_equal(sf_principal_canonical(v->text, buf, &err), SF_OK);
        assert_string_equal(buf, v->canonical);

        memset(buf, 'x', sizeof buf);
        assert_int_equal(
            sf_principal_text_from_bytes(p.bytes, p.len, buf, &err), SF_OK);
        assert_string_equal(buf, v->canonical);
    }
}

static void test_grouping_must_be_exact(void **state)
{
    (void)state;
    assert_invalid("aaaaaaa");  /* "aaaaa-aa" without its dash */
    assert_invalid("2vxsxfae");
    assert_invalid("2vxsx-fa-e");
    assert_invalid("aaaa-aaa");
    assert_invalid("aaaaa--aa");
    assert_invalid("renrkeyaaa-aaaaa-aaada-cai");
    assert_invalid("renrk-eyaaaaaaaa-aaada-cai");
}

static void test_leading_and_trailing_dashes(void **state)
{
    (void)state;
    assert_invalid("-aaaaa-aa");
    assert_invalid("aaaaa-aa-");
    assert_invalid("-2vxsx-fae");
    assert_invalid("2vxsx-fae-");
    assert_invalid("-");
}

static void test_whitespace_is_not_trimmed(void **state)
{
    (void)state;
    assert_invalid(" aaaaa-aa");
    assert_invalid("aaaaa-aa ");
    assert_invalid("aaaaa-aa\n");
    assert_invalid("aaaaa -aa");
}

static void test_empty_and_short(void **state)
{
    (void)state;
    assert_invalid("");
    assert_invalid("aa");     /* 1 byte: shorter than the CRC */
    assert_invalid("aaaaaa"); /* 3 bytes */
    assert_invalid("a");
}

static void test_bad_crc(void **state)
{
    (void)state;
    /* One character changed: still base32 of the right length, wrong CRC. */
    assert_invalid("baaaa-aa");
    assert_invalid("3vxsx-fae");
    assert_invalid("2vxsx-fbe");
    assert_invalid("renrk-eyaaa-aaaaa-aaadb-cai");
    assert_invalid("senrk-eyaaa-aaaaa-aaada-cai");
    assert_invalid("2vxsx-faf");
}

/* Non-zero bits after the last whole byte: the bytes and their CRC are
 * right, but the text is not the canonical encoding. */
static void test_trailing_bits(void **state)
{
    (void)state;
    assert_invalid("aaaaa-ab");
    assert_invalid("renrk-eyaaa-aaaaa-aaada-caj");
    assert_invalid("rno2w-sqaaa-aaaaa-aaacq-caj");
}

static void test_bad_base32_characters(void **state)
{
    (void)state;
    assert_invalid("2vxs0-fae");
    assert_invalid("2vxs1-fae");
    assert_invalid("2vxs8-fae");
    assert_invalid("2vxs9-fae");
    assert_invalid("2vxsx-fa=");
    assert_invalid("2vxsx-fae=");
    assert_invalid("aaaaa-aa==");
    assert_invalid("2vxsx_fae");
    assert_invalid("2vxsx.fae");
    assert_invalid("2vxsx-f\xc3\xa4" "e"); /* non-ASCII */
    assert_invalid("\xff\xff\xff\xff\xff-\xff\xff");
}

static void test_too_long(void **state)
{
    (void)state;
    /* Correct CRC and grouping over 30 data bytes. */
    assert_invalid(
        "yvtf6-waaae-bagba-faydq-qcikb-mga2d-qpcai-reeyu-culbo-gazdi-nryhi");
    assert_invalid(
        "YVTF6-WAAAE-BAGBA-FAYDQ-QCIKB-MGA2D-QPCAI-REEYU-CULBO-GAZDI-NRYHI");
}

static void test_text_from_bytes(void **state)
{
    uint8_t one = 0x04;
    uint8_t b29[29], b30[30];
    char buf[SF_PRINCIPAL_TEXT_MAX];
    sf_error err;

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_principal_text_from_bytes(&one, 1, buf, &err), SF_OK);
    assert_string_equal(buf, "2vxsx-fae");
    assert_int_equal(sf_principal_text_from_bytes(NULL, 0, buf, &err), SF_OK);
    assert_string_equal(buf, "aaaaa-aa");

    for (size_t i = 0; i < sizeof b30; i++)
        b30[i] = (uint8_t)i;
    memcpy(b29, b30, sizeof b29);
    assert_int_equal(sf_principal_text_from_bytes(b29, 29, buf, &err), SF_OK);
    assert_string_equal(
        buf, "2mhjn-ayaae-bagba-faydq-qcikb-mga2d-qpcai-reeyu-culbo-gazdi-nry");
    assert_true(strlen(buf) < SF_PRINCIPAL_TEXT_MAX);

    sf_error_clear(&err);
    assert_int_equal(sf_principal_text_from_bytes(b30, 30, buf, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, "invalid-principal");
    assert_int_equal(sf_principal_text_from_bytes(b30, 30, buf, NULL), SF_ERR);
}

/* Every length 0..29 round trips bytes -> text -> bytes -> text. */
static void test_round_trip_all_lengths(void **state)
{
    (void)state;
    for (size_t len = 0; len <= SF_PRINCIPAL_MAX_BYTES; len++) {
        uint8_t bytes[SF_PRINCIPAL_MAX_BYTES] = {0};
        char text[SF_PRINCIPAL_TEXT_MAX], again[SF_PRINCIPAL_TEXT_MAX];
        sf_principal p;

        for (size_t i = 0; i < len; i++)
            bytes[i] = (uint8_t)(0xa5 ^ (i * 37 + len));
        assert_int_equal(sf_principal_text_from_bytes(bytes, len, text, NULL),
                         SF_OK);
        assert_true(sf_principal_is_valid(text));
        assert_int_equal(sf_principal_from_text(text, &p, NULL), SF_OK);
        assert_int_equal(p.len, len);
        if (len > 0)
            assert_memory_equal(p.bytes, bytes, len);
        sf_principal_to_text(&p, again);
        assert_string_equal(again, text);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_vectors),
        cmocka_unit_test(test_grouping_must_be_exact),
        cmocka_unit_test(test_leading_and_trailing_dashes),
        cmocka_unit_test(test_whitespace_is_not_trimmed),
        cmocka_unit_test(test_empty_and_short),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_trailing_bits),
        cmocka_unit_test(test_bad_base32_characters),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_text_from_bytes),
        cmocka_unit_test(test_round_trip_all_lengths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
