/* Shared text rules: Rust-trim blankness, sha256 hex, safe_path_segment,
 * timestamp markers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/text.h"

static void test_blank_uses_rust_whitespace(void **state)
{
    static const char *blank[] = {
        "", " ", "\t\n\v\f\r", "\xC2\x85", "\xC2\xA0", "\xE1\x9A\x80",
        "\xE2\x80\x80\xE2\x80\x8A", "\xE2\x80\xA8\xE2\x80\xA9", "\xE2\x80\xAF",
        "\xE2\x81\x9F", "\xE3\x80\x80", " \xE3\x80\x80 ",
    };
    static const char *not_blank[] = {
        "a", " a ", "\xE2\x80\x8B" /* U+200B is not White_Space */,
        "\xEF\xBB\xBF" /* BOM */, "\x1c" /* info separator */, "\xff",
        "\xC2", "_",
    };
    size_t i;

    (void)state;
    assert_true(sf_str_is_blank(NULL));
    for (i = 0; i < sizeof blank / sizeof blank[0]; i++)
        assert_true(sf_str_is_blank(blank[i]));
    for (i = 0; i < sizeof not_blank / sizeof not_blank[0]; i++)
        assert_false(sf_str_is_blank(not_blank[i]));
}

static void test_sha256_hex(void **state)
{
    (void)state;
    assert_true(sf_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_true(sf_is_sha256_hex("E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"));
    assert_false(sf_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85"));
    assert_false(sf_is_sha256_hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b8555"));
    assert_false(sf_is_sha256_hex("g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    assert_false(sf_is_sha256_hex(""));
    assert_false(sf_is_sha256_hex(NULL));
}

static void check_segment(const char *in, const char *want)
{
    char *got = sf_safe_path_segment(in);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_safe_path_segment(void **state)
{
    (void)state;
    check_segment("renrk-eyaaa-aaaaa-aaada-cai", "renrk-eyaaa-aaaaa-aaada-cai");
    check_segment("a.b/c d", "a_b_c_d");
    check_segment("..", "__");
    check_segment("Az09-_", "Az09-_");
    /* one '_' per code point, not per byte */
    check_segment("\xC3\xA9x\xF0\x9F\x98\x80", "_x_");
    check_segment("", "");
}

static void test_unix_marker(void **state)
{
    unsigned long long v = 0;

    (void)state;
    assert_true(sf_parse_unix_marker("unix:0", &v));
    assert_true(v == 0);
    assert_true(sf_parse_unix_marker("unix:+0017", &v));
    assert_true(v == 17);
    assert_true(sf_parse_unix_marker("unix:18446744073709551615", &v));
    assert_true(v == UINT64_MAX);
    assert_false(sf_parse_unix_marker("unix:18446744073709551616", &v));
    assert_false(sf_parse_unix_marker("unix:", &v));
    assert_false(sf_parse_unix_marker("unix:+", &v));
    assert_false(sf_parse_unix_marker("unix:-1", &v));
    assert_false(sf_parse_unix_marker("unix: 1", &v));
    assert_false(sf_parse_unix_marker("unix:1 ", &v));
    assert_false(sf_parse_unix_marker("UNIX:1", &v));
    assert_false(sf_parse_unix_marker("1", &v));
    assert_false(sf_parse_unix_marker(NULL, &v));
}

static void test_optional_helpers(void **state)
{
    int oom = 0;
    char *d;

    (void)state;
    assert_true(sf_str_eq_opt(NULL, NULL));
    assert_false(sf_str_eq_opt("a", NULL));
    assert_false(sf_str_eq_opt(NULL, "a"));
    assert_true(sf_str_eq_opt("a", "a"));
    assert_false(sf_str_eq_opt("a", "b"));
    assert_null(sf_strdup_opt(NULL, &oom));
    d = sf_strdup_opt("x", &oom);
    assert_string_equal(d, "x");
    assert_int_equal(oom, 0);
    free(d);
    assert_true(sf_str_cmp_bytes("a", "b") < 0);
    assert_true(sf_str_cmp_bytes("\xC3\xA9", "z") > 0); /* bytes, not signed chars */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_uses_rust_whitespace),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_safe_path_segment),
        cmocka_unit_test(test_unix_marker),
        cmocka_unit_test(test_optional_helpers),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
