/* Shared text rules: Rust-trim blankness, sha256 hex, safe_path_segment,
 * timestamp markers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/error.h"
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

static void check_file_safe(const char *in, const char *want)
{
    char *got = sf_file_safe_component(in);

    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_file_safe_component(void **state)
{
    (void)state;
    check_file_safe("demo", "demo");
    check_file_safe("my fleet/v1.2", "my-fleet-v1.2");
    check_file_safe("--x--", "x");
    check_file_safe("***", "unknown");
    check_file_safe("", "unknown");
    check_file_safe("a_b.c-d", "a_b.c-d");
}

static void test_utc_stamp(void **state)
{
    char out[16];

    (void)state;
    sf_utc_stamp(0, out);
    assert_string_equal(out, "19700101-000000");
    sf_utc_stamp(1778709682ULL, out);
    assert_string_equal(out, "20260513-220122");
    sf_utc_stamp(951868799ULL, out); /* the day before a leap day's end */
    assert_string_equal(out, "20000229-235959");
}

static void test_error_prefix(void **state)
{
    sf_error err;
    char longer[2000];

    (void)state;
    sf_error_set(&err, "k", "f", "inner %d", 7);
    sf_error_prefix(&err, "%s: ", "file.json");
    assert_string_equal(err.message, "file.json: inner 7");
    assert_string_equal(err.kind, "k");
    assert_string_equal(err.field, "f");
    memset(longer, 'x', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    sf_error_prefix(&err, "%s", longer); /* truncates, never overflows */
    assert_int_equal(strlen(err.message), SF_ERROR_MESSAGE_MAX - 1);
    assert_int_equal(sf_error_prefix(NULL, "x"), SF_ERR);
    sf_error_clear(&err);
    assert_null(err.kind);
    assert_string_equal(err.message, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_blank_uses_rust_whitespace),
        cmocka_unit_test(test_sha256_hex),
        cmocka_unit_test(test_safe_path_segment),
        cmocka_unit_test(test_unix_marker),
        cmocka_unit_test(test_optional_helpers),
        cmocka_unit_test(test_file_safe_component),
        cmocka_unit_test(test_utc_stamp),
        cmocka_unit_test(test_error_prefix),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
