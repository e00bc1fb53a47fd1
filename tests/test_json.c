/* The strict JSON layer: reader strictness, path-naming errors, and the
 * serde_json pretty writer's exact bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/json.h"

static cJSON *parse_ok(const char *text)
{
    cJSON *root = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_json_parse(text, strlen(text), &root, &err) != SF_OK)
        fail_msg("unexpected parse failure for %s: %s", text, err.message);
    return root;
}

static void assert_syntax_error(const char *text)
{
    cJSON *root = (cJSON *)1;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_json_parse(text, strlen(text), &root, &err), SF_ERR);
    assert_null(root);
    assert_string_equal(err.kind, SF_EK_JSON_SYNTAX);
}

static void test_rejects_bad_grammar(void **state)
{
    static const char *bad[] = {
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01",
        "+1", "-", "1.", ".5", "1e", "1e+", "0x10", "NaN", "Infinity",
        "tru", "nul", "[1 2]", "{\"a\":1}x", "{} {}", "'a'", "\"a",
        "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "[\"a\tb\"]", "\xEF\xBB\xBF{}",
        "\"\\u0000\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\ud800\\u0041\"",
        "\"\xC0\xAF\"", "\"\xED\xA0\x80\"", "\"\xF4\x90\x80\x80\"", "\"\x80\"",
        "\"\xE2\x82\"", "[-01]", "1 2", "//c\n1", "[1]\n]",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_syntax_error(bad[i]);
}

static void test_rejects_embedded_nul(void **state)
{
    cJSON *root = NULL;
    sf_error err;

    (void)state;
    assert_int_equal(sf_json_parse("{\"a\":1}\0", 8, &root, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_SYNTAX);
    assert_int_equal(sf_json_parse("\"a\0b\"", 5, &root, &err), SF_ERR);
}

static void test_syntax_error_names_line_and_column(void **state)
{
    cJSON *root = NULL;
    sf_error err;
    const char *text = "{\n  \"a\": 1,\n  \"b\": x\n}";

    (void)state;
    assert_int_equal(sf_json_parse(text, strlen(text), &root, &err), SF_ERR);
    assert_non_null(strstr(err.message, "line 3 column 8"));
}

static void test_accepts_valid_documents(void **state)
{
    static const char *good[] = {
        "{}", "[]", "0", "-0", "1.5e-3", "\"\"", "true", "null",
        " {\"a\" : [1, {\"b\": null}], \"c\": \"\\u00e9\\ud83d\\ude00\\/\"} ",
        "\"\xC3\xA9\xF0\x9F\x98\x80\"",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        cJSON_Delete(parse_ok(good[i]));
}

static void test_depth_bound(void **state)
{
    char deep[2 * (SF_JSON_MAX_DEPTH + 1) + 1];
    size_t i, n = SF_JSON_MAX_DEPTH;

    (void)state;
    for (i = 0; i < n; i++) {
        deep[i] = '[';
        deep[2 * n - 1 - i] = ']';
    }
    deep[2 * n] = '\0';
    cJSON_Delete(parse_ok(deep));
    n = SF_JSON_MAX_DEPTH + 1;
    for (i = 0; i < n; i++) {
        deep[i] = '[';
        deep[2 * n - 1 - i] = ']';
    }
    deep[2 * n] = '\0';
    assert_syntax_error(deep);
}

static void test_size_bound(void **state)
{
    cJSON *root = NULL;
    sf_error err;

    (void)state;
    /* the length check comes before any byte is read */
    assert_int_equal(sf_json_parse("{}", SF_JSON_MAX_BYTES + 1, &root, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_TOO_LARGE);
    assert_non_null(strstr(err.message, "limit"));
}

static void test_duplicate_keys_refused_with_path(void **state)
{
    cJSON *root = NULL;
    sf_error err;
    const char *top = "{\"a\": 1, \"b\": 2, \"a\": 3}";
    const char *nested = "{\"fleet\": {\"members\": [{}, {\"x\": 1, \"x\": 1}]}}";

    (void)state;
    assert_int_equal(sf_json_parse(top, strlen(top), &root, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_SCHEMA);
    assert_string_equal(err.field, "a");
    assert_int_equal(sf_json_parse(nested, strlen(nested), &root, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_SCHEMA);
    assert_string_equal(err.field, "fleet.members[1].x");
    assert_non_null(strstr(err.message, "duplicate field `x`"));
}

static void test_uint_exact_to_u64_max(void **state)
{
    cJSON *root = parse_ok("{\"max\": 18446744073709551615, "
                           "\"ns\": 1778709681897818005, \"zero\": 0}");
    sf_error err;
    sf_jr r;
    uint64_t v;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_uint(&r, root, "max", UINT64_MAX, &v), SF_OK);
    assert_true(v == UINT64_MAX);
    /* a double would round this to ...818048 */
    assert_int_equal(sf_jr_uint(&r, root, "ns", UINT64_MAX, &v), SF_OK);
    assert_true(v == 1778709681897818005ULL);
    assert_int_equal(sf_jr_uint(&r, root, "zero", 0, &v), SF_OK);
    assert_true(v == 0);
    cJSON_Delete(root);
}

static void assert_uint_refused(const char *doc, uint64_t max, const char *needle)
{
    cJSON *root = parse_ok(doc);
    sf_error err;
    sf_jr r;
    uint64_t v = 7;

    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_uint(&r, root, "n", max, &v), SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_SCHEMA);
    assert_string_equal(err.field, "n");
    assert_non_null(strstr(err.message, needle));
    cJSON_Delete(root);
}

static void test_uint_refusals(void **state)
{
    (void)state;
    assert_uint_refused("{\"n\": 18446744073709551616}", UINT64_MAX, "out of range");
    assert_uint_refused("{\"n\": 99999999999999999999999}", UINT64_MAX, "out of range");
    assert_uint_refused("{\"n\": 65536}", 65535, "out of range");
    assert_uint_refused("{\"n\": 1.0}", UINT64_MAX, "floating point");
    assert_uint_refused("{\"n\": 1e2}", UINT64_MAX, "floating point");
    assert_uint_refused("{\"n\": 1E2}", UINT64_MAX, "floating point");
    assert_uint_refused("{\"n\": -1}", UINT64_MAX, "invalid value");
    assert_uint_refused("{\"n\": -0}", UINT64_MAX, "invalid value");
    assert_uint_refused("{\"n\": \"1\"}", UINT64_MAX, "invalid type: string");
    assert_uint_refused("{\"n\": null}", UINT64_MAX, "invalid type: null");
    assert_uint_refused("{}", UINT64_MAX, "missing field `n`");
}

static void test_uint_opt(void **state)
{
    cJSON *root = parse_ok("{\"a\": null, \"b\": 5}");
    sf_error err;
    sf_jr r;
    bool present = true;
    uint64_t v = 9;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_uint_opt(&r, root, "a", 10, &present, &v), SF_OK);
    assert_false(present);
    assert_int_equal(sf_jr_uint_opt(&r, root, "absent", 10, &present, &v), SF_OK);
    assert_false(present);
    assert_int_equal(sf_jr_uint_opt(&r, root, "b", 10, &present, &v), SF_OK);
    assert_true(present);
    assert_true(v == 5);
    assert_int_equal(sf_jr_uint_opt(&r, root, "b", 4, &present, &v), SF_ERR);
    cJSON_Delete(root);
}

static void test_strings_and_paths(void **state)
{
    cJSON *root = parse_ok("{\"fleet\": {\"members\": [{\"role\": \"a\"}, "
                           "{\"role\": 5, \"hint\": null}]}}");
    const cJSON *fleet, *members, *m;
    sf_error err;
    sf_jr r;
    size_t n, mark;
    char *s = NULL;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_object(&r, root, "fleet", &fleet), SF_OK);
    sf_jr_push_key(&r, "fleet");
    mark = r.len;
    assert_int_equal(sf_jr_array(&r, fleet, "members", &members, &n), SF_OK);
    assert_int_equal(n, 2);
    sf_jr_push_key(&r, "members");
    m = members->child;
    sf_jr_push_index(&r, 0);
    assert_int_equal(sf_jr_str(&r, m, "role", &s), SF_OK);
    assert_string_equal(s, "a");
    free(s);
    sf_jr_pop(&r, mark);
    sf_jr_push_key(&r, "members");
    sf_jr_push_index(&r, 1);
    m = m->next;
    assert_int_equal(sf_jr_str(&r, m, "role", &s), SF_ERR);
    assert_null(s);
    assert_string_equal(err.kind, SF_EK_JSON_SCHEMA);
    assert_string_equal(err.field, "fleet.members[1].role");
    assert_non_null(strstr(err.message, "invalid type: number, expected a string"));
    assert_int_equal(sf_jr_str_opt(&r, m, "hint", &s), SF_OK);
    assert_null(s);
    assert_int_equal(sf_jr_str_opt(&r, m, "absent", &s), SF_OK);
    assert_null(s);
    assert_int_equal(sf_jr_str(&r, m, "absent", &s), SF_ERR);
    assert_string_equal(err.field, "fleet.members[1].absent");
    assert_non_null(strstr(err.message, "missing field `absent`"));
    assert_string_equal(r.path, "fleet.members[1]");
    cJSON_Delete(root);
}

static void test_unknown_keys_ignored(void **state)
{
    cJSON *root = parse_ok("{\"name\": \"x\", \"future_field\": {\"deep\": [1]}}");
    sf_error err;
    sf_jr r;
    char *s;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_str(&r, root, "name", &s), SF_OK);
    assert_string_equal(s, "x");
    free(s);
    cJSON_Delete(root);
}

static void test_string_escapes_decoded(void **state)
{
    cJSON *root = parse_ok("{\"s\": \"a\\\"b\\\\c\\/d\\n\\u00e9\\ud83d\\ude00\"}");
    sf_error err;
    sf_jr r;
    char *s;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_str(&r, root, "s", &s), SF_OK);
    assert_string_equal(s, "a\"b\\c/d\n\xC3\xA9\xF0\x9F\x98\x80");
    free(s);
    cJSON_Delete(root);
}

static void test_bool_enum_object_array(void **state)
{
    static const char *const kinds[] = {"single", "subtree"};
    cJSON *root = parse_ok("{\"b\": true, \"k\": \"subtree\", \"bad\": \"Single\", "
                           "\"o\": {}, \"a\": [\"x\", \"y\"], \"na\": [1], "
                           "\"n\": null}");
    const cJSON *o;
    sf_error err;
    sf_jr r;
    bool b = false;
    int k = -1;
    char **v;
    size_t n;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_bool(&r, root, "b", &b), SF_OK);
    assert_true(b);
    assert_int_equal(sf_jr_bool(&r, root, "k", &b), SF_ERR);
    assert_non_null(strstr(err.message, "expected a boolean"));
    assert_int_equal(sf_jr_enum(&r, root, "k", kinds, 2, &k), SF_OK);
    assert_int_equal(k, 1);
    assert_int_equal(sf_jr_enum(&r, root, "bad", kinds, 2, &k), SF_ERR);
    assert_non_null(strstr(err.message, "unknown variant `Single`, expected one of `single`, `subtree`"));
    assert_int_equal(sf_jr_object(&r, root, "o", &o), SF_OK);
    assert_int_equal(sf_jr_object(&r, root, "a", &o), SF_ERR);
    assert_int_equal(sf_jr_object_default(&r, root, "absent", &o), SF_OK);
    assert_null(o);
    assert_int_equal(sf_jr_object_default(&r, root, "n", &o), SF_ERR);
    assert_int_equal(sf_jr_str_array(&r, root, "a", &v, &n), SF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(v[1], "y");
    sf_strv_free(v, n);
    assert_int_equal(sf_jr_str_array(&r, root, "na", &v, &n), SF_ERR);
    assert_string_equal(err.field, "na[0]");
    assert_int_equal(sf_jr_expect_object(&r, root), SF_OK);
    assert_int_equal(sf_jr_expect_object(&r, o == NULL ? root->child : o), SF_ERR);
    cJSON_Delete(root);
}

/* ---- writer ---- */

static void test_writer_pretty_bytes(void **state)
{
    sf_buf b;
    sf_jw w;
    sf_error err;

    (void)state;
    sf_buf_init(&b);
    sf_jw_init(&w, &b);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "version", 1);
    sf_jw_kv_string(&w, "id", "x");
    sf_jw_kv_string(&w, "none", NULL);
    sf_jw_key(&w, "empty_array");
    sf_jw_begin_array(&w);
    sf_jw_end_array(&w);
    sf_jw_key(&w, "empty_object");
    sf_jw_begin_object(&w);
    sf_jw_end_object(&w);
    sf_jw_key(&w, "list");
    sf_jw_begin_array(&w);
    sf_jw_string(&w, "a");
    sf_jw_begin_object(&w);
    sf_jw_kv_bool(&w, "ok", true);
    sf_jw_kv_bool(&w, "no", false);
    sf_jw_end_object(&w);
    sf_jw_begin_array(&w);
    sf_jw_u64(&w, UINT64_MAX);
    sf_jw_i64(&w, -5);
    sf_jw_null(&w);
    sf_jw_end_array(&w);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    assert_int_equal(sf_jw_finish(&w, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b),
        "{\n"
        "  \"version\": 1,\n"
        "  \"id\": \"x\",\n"
        "  \"none\": null,\n"
        "  \"empty_array\": [],\n"
        "  \"empty_object\": {},\n"
        "  \"list\": [\n"
        "    \"a\",\n"
        "    {\n"
        "      \"ok\": true,\n"
        "      \"no\": false\n"
        "    },\n"
        "    [\n"
        "      18446744073709551615,\n"
        "      -5,\n"
        "      null\n"
        "    ]\n"
        "  ]\n"
        "}");
    sf_buf_free(&b);
}

/* Numbers as serde writes them, at the edges of their types. */
static void test_writer_numbers_at_the_edges(void **state)
{
    static const struct { int64_t v; const char *text; } signed_cases[] = {
        {0, "0"}, {9, "9"}, {10, "10"}, {-1, "-1"}, {-10, "-10"},
        {INT64_MAX, "9223372036854775807"},
        {INT64_MIN, "-9223372036854775808"},
    };
    static const struct { uint64_t v; const char *text; } unsigned_cases[] = {
        {0, "0"}, {7, "7"}, {100, "100"},
        {UINT64_MAX, "18446744073709551615"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof signed_cases / sizeof signed_cases[0]; i++) {
        sf_buf b;
        sf_jw w;

        sf_buf_init(&b);
        sf_jw_init(&w, &b);
        sf_jw_i64(&w, signed_cases[i].v);
        assert_string_equal(sf_buf_cstr(&b), signed_cases[i].text);
        sf_buf_free(&b);
    }
    for (i = 0; i < sizeof unsigned_cases / sizeof unsigned_cases[0]; i++) {
        sf_buf b;
        sf_jw w;

        sf_buf_init(&b);
        sf_jw_init(&w, &b);
        sf_jw_u64(&w, unsigned_cases[i].v);
        assert_string_equal(sf_buf_cstr(&b), unsigned_cases[i].text);
        sf_buf_free(&b);
    }
}

/* sf_buf_printf appends whether or not the text fits the room left. */
static void test_buf_printf_fits_or_grows(void **state)
{
    char big[3000];
    sf_buf b;

    (void)state;
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    sf_buf_init(&b);
    assert_int_equal(sf_buf_printf(&b, "%d-%s", 42, "a"), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "42-a");
    assert_int_equal(sf_buf_printf(&b, "[%s]", big), SF_OK);
    assert_int_equal(b.len, 4 + 2 + strlen(big));
    assert_int_equal(strlen(sf_buf_cstr(&b)), b.len);
    assert_memory_equal(b.data, "42-a[xxx", 8);
    assert_string_equal(b.data + b.len - 2, "x]");
    assert_int_equal(sf_buf_printf(&b, "%s", ""), SF_OK);
    assert_int_equal(b.len, 4 + 2 + strlen(big));
    sf_buf_free(&b);
}

static void test_writer_escapes_like_serde(void **state)
{
    sf_buf b;

    (void)state;
    sf_buf_init(&b);
    sf_json_escape(&b, "q\"b\\s/\b\f\n\r\t\x01\x1f\x7f\xC3\xA9");
    assert_string_equal(sf_buf_cstr(&b),
                        "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\xC3\xA9\"");
    sf_buf_free(&b);
}

static void test_writer_detects_misuse(void **state)
{
    sf_buf b;
    sf_jw w;
    sf_error err;

    (void)state;
    sf_buf_init(&b);
    sf_jw_init(&w, &b);
    sf_jw_begin_object(&w);
    assert_int_equal(sf_jw_finish(&w, &err), SF_ERR); /* unclosed */
    sf_jw_key(&w, "a");
    sf_jw_end_object(&w); /* key without value */
    assert_int_equal(sf_jw_finish(&w, &err), SF_ERR);
    sf_buf_free(&b);
    sf_buf_init(&b);
    sf_jw_init(&w, &b);
    sf_jw_end_array(&w); /* nothing open */
    assert_int_equal(sf_jw_finish(&w, &err), SF_ERR);
    sf_buf_free(&b);
}

static void test_writer_round_trips_through_reader(void **state)
{
    const char *text = "{\n  \"s\": \"tab\\there \\u0007 \\\"q\\\"\",\n  \"n\": 18446744073709551615\n}";
    cJSON *root = parse_ok(text);
    sf_error err;
    sf_jr r;
    char *s;
    uint64_t n;
    sf_buf b;
    sf_jw w;

    (void)state;
    sf_jr_init(&r, &err);
    assert_int_equal(sf_jr_str(&r, root, "s", &s), SF_OK);
    assert_int_equal(sf_jr_uint(&r, root, "n", UINT64_MAX, &n), SF_OK);
    sf_buf_init(&b);
    sf_jw_init(&w, &b);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "s", s);
    sf_jw_kv_u64(&w, "n", n);
    sf_jw_end_object(&w);
    assert_int_equal(sf_jw_finish(&w, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), text);
    free(s);
    sf_buf_free(&b);
    cJSON_Delete(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rejects_bad_grammar),
        cmocka_unit_test(test_rejects_embedded_nul),
        cmocka_unit_test(test_syntax_error_names_line_and_column),
        cmocka_unit_test(test_accepts_valid_documents),
        cmocka_unit_test(test_depth_bound),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_duplicate_keys_refused_with_path),
        cmocka_unit_test(test_uint_exact_to_u64_max),
        cmocka_unit_test(test_uint_refusals),
        cmocka_unit_test(test_uint_opt),
        cmocka_unit_test(test_strings_and_paths),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_string_escapes_decoded),
        cmocka_unit_test(test_bool_enum_object_array),
        cmocka_unit_test(test_writer_pretty_bytes),
        cmocka_unit_test(test_writer_numbers_at_the_edges),
        cmocka_unit_test(test_buf_printf_fits_or_grows),
        cmocka_unit_test(test_writer_escapes_like_serde),
        cmocka_unit_test(test_writer_detects_misuse),
        cmocka_unit_test(test_writer_round_trips_through_reader),
    };
    return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
