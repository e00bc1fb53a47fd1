/* The registry: accepted JSON shapes and refusals, the canonical writer,
 * target resolution, role naming, depth and the targets' topology hash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/registry.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define OTHER "rdmx6-jaaaa-aaaaa-aaadq-cai"
#define ANON "2vxsx-fae"
#define H "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define FLEET_HASH                                                          \
    "25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769"

/* ---- helpers ---- */

static char *data_path(const char *rel)
{
    const char *dir = getenv("SF_TEST_DATA");
    char *p;

    assert_non_null(dir);
    p = malloc(strlen(dir) + strlen(rel) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

static char *slurp_data(const char *rel, size_t *len)
{
    char *p = data_path(rel), *text = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_fs_read_file(p, (size_t)64 << 20, &text, len, &err) != SF_OK)
        fail_msg("cannot read %s: %s", p, err.message);
    free(p);
    return text;
}

static void parse_ok(const char *text, sf_registry *reg)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_registry_parse(text, strlen(text), reg, &err) != SF_OK)
        fail_msg("parse failed: %s at '%s': %s", err.kind, err.field,
                 err.message);
}

static void parse_file_ok(const char *rel, sf_registry *reg)
{
    size_t len;
    char *text = slurp_data(rel, &len);
    sf_error err;

    sf_error_clear(&err);
    if (sf_registry_parse(text, len, reg, &err) != SF_OK)
        fail_msg("%s: %s at '%s': %s", rel, err.kind, err.field, err.message);
    free(text);
}

static void parse_fails(const char *text, const char *kind, const char *field)
{
    sf_registry reg;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_registry_parse(text, strlen(text), &reg, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, kind);
    if (field != NULL)
        assert_string_equal(err.field, field);
    assert_null(reg.entries);
    assert_int_equal(reg.count, 0);
}

static void expect_entry(const sf_registry_entry *e, const char *pid,
                         const char *role, const char *kind,
                         const char *parent, const char *hash)
{
    assert_string_equal(e->pid, pid);
#define OPT(got, want)                                                      \
    do {                                                                    \
        if ((want) == NULL)                                                 \
            assert_null(got);                                               \
        else {                                                              \
            assert_non_null(got);                                           \
            assert_string_equal(got, want);                                 \
        }                                                                   \
    } while (0)
    OPT(e->role, role);
    OPT(e->kind, kind);
    OPT(e->parent_pid, parent);
    OPT(e->module_hash, hash);
}

/* Builds an in-memory registry from rows {pid, role, parent, hash}. */
typedef struct row {
    const char *pid, *role, *parent, *hash;
} row;

static char *dup_or_null(const char *s)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    assert_non_null(d);
    return d;
}

static void make_registry(sf_registry *reg, const row *rows, size_t n)
{
    size_t i;

    reg->count = n;
    reg->entries = calloc(n ? n : 1, sizeof *reg->entries);
    assert_non_null(reg->entries);
    for (i = 0; i < n; i++) {
        reg->entries[i].pid = dup_or_null(rows[i].pid);
        reg->entries[i].role = dup_or_null(rows[i].role);
        reg->entries[i].parent_pid = dup_or_null(rows[i].parent);
        reg->entries[i].module_hash = dup_or_null(rows[i].hash);
    }
}

static const row fleet_rows[] = {
    {ROOT, "root", NULL, NULL},
    {APP, "app", ROOT, "01ab"},
    {WORKER, "worker", APP, H},
};

static void expect_targets(const sf_registry *reg, const char *selected,
                           bool recursive, const char *const *ids, size_t n)
{
    sf_target *t = NULL;
    size_t count = 0, i;
    sf_error err;

    sf_error_clear(&err);
    if (sf_targets_from_registry(reg, selected, recursive, &t, &count, &err) !=
        SF_OK)
        fail_msg("targets: %s %s", err.kind, err.message);
    if (count != n) {
        for (i = 0; i < count; i++)
            print_error("got[%zu] = %s\n", i, t[i].canister_id);
        fail_msg("expected %zu targets, got %zu", n, count);
    }
    for (i = 0; i < n; i++)
        assert_string_equal(t[i].canister_id, ids[i]);
    sf_targets_free(t, count);
}

/* ---- accepted shapes ---- */

static void test_parse_ok_wrapped_wire(void **state)
{
    sf_registry reg;

    (void)state;
    parse_file_ok("registry/valid-ok-wrapped-wire.json", &reg);
    assert_int_equal(reg.count, 3);
    expect_entry(&reg.entries[0], ROOT, "root", NULL, NULL, NULL);
    expect_entry(&reg.entries[1], APP, "app", NULL, ROOT, "01ab");
    expect_entry(&reg.entries[2], WORKER, "worker", NULL, APP, H);
    sf_registry_free(&reg);
}

/* canic's own fixture: opt-as-vector parents, kinds in both places. */
static void test_parse_opt_vector_and_kinds(void **state)
{
    sf_registry reg;

    (void)state;
    parse_file_ok("registry/valid-ok-opt-vector.json", &reg);
    assert_int_equal(reg.count, 3);
    expect_entry(&reg.entries[0], ROOT, "root", "root", NULL, NULL);
    expect_entry(&reg.entries[1], APP, "app", "singleton", ROOT, "01ab");
    expect_entry(&reg.entries[2], WORKER, "worker", "replica", APP, H);
    sf_registry_free(&reg);
}

static void test_parse_bare_array(void **state)
{
    sf_registry reg;

    (void)state;
    parse_file_ok("registry/valid-bare-array.json", &reg);
    assert_int_equal(reg.count, 4);
    expect_entry(&reg.entries[0], ROOT, "root", NULL, NULL, NULL);
    expect_entry(&reg.entries[1], APP, "app", NULL, ROOT, NULL);
    expect_entry(&reg.entries[2], WORKER, NULL, NULL, APP, "");
    expect_entry(&reg.entries[3], ANON, NULL, NULL, NULL, NULL);
    sf_registry_free(&reg);
}

static void test_parse_empty(void **state)
{
    sf_registry reg;

    (void)state;
    parse_ok("[]", &reg);
    assert_int_equal(reg.count, 0);
    sf_registry_free(&reg);
    parse_ok("{\"Ok\": []}", &reg);
    assert_int_equal(reg.count, 0);
    sf_registry_free(&reg);
}

static void test_parse_kind_precedence(void **state)
{
    sf_registry reg;

    (void)state;
    /* entry kind wins over the record's */
    parse_ok("[{\"pid\": \"a\", \"kind\": \"top\", \"record\": "
             "{\"kind\": \"inner\"}}]",
             &reg);
    assert_string_equal(reg.entries[0].kind, "top");
    sf_registry_free(&reg);
    /* an explicit null at the top still wins (canic's get("kind")) */
    parse_ok("[{\"pid\": \"a\", \"kind\": null, \"record\": "
             "{\"kind\": \"inner\"}}]",
             &reg);
    assert_null(reg.entries[0].kind);
    sf_registry_free(&reg);
    /* only the record has one */
    parse_ok("[{\"pid\": \"a\", \"record\": {\"kind\": \"inner\"}}]", &reg);
    assert_string_equal(reg.entries[0].kind, "inner");
    sf_registry_free(&reg);
}

static void test_parse_parent_forms(void **state)
{
    sf_registry reg;

    (void)state;
    parse_ok("[{\"pid\": \"a\", \"record\": {\"parent_pid\": \"p\"}},"
             " {\"pid\": \"b\", \"record\": {\"parent_pid\": [\"q\"]}},"
             " {\"pid\": \"c\", \"record\": {\"parent_pid\": []}},"
             " {\"pid\": \"d\", \"record\": {\"parent_pid\": null}},"
             " {\"pid\": \"e\", \"record\": {}},"
             " {\"pid\": \"f\", \"record\": null},"
             " {\"pid\": \"g\", \"parent_pid\": \"ignored-at-top\"}]",
             &reg);
    assert_int_equal(reg.count, 7);
    assert_string_equal(reg.entries[0].parent_pid, "p");
    assert_string_equal(reg.entries[1].parent_pid, "q");
    assert_null(reg.entries[2].parent_pid);
    assert_null(reg.entries[3].parent_pid);
    assert_null(reg.entries[4].parent_pid);
    assert_null(reg.entries[5].parent_pid);
    assert_null(reg.entries[6].parent_pid);
    sf_registry_free(&reg);
}

static void test_parse_module_hash_forms(void **state)
{
    sf_registry reg;

    (void)state;
    parse_ok("[{\"pid\": \"a\", \"record\": {\"module_hash\": \"0xABC\"}},"
             " {\"pid\": \"b\", \"record\": {\"module_hash\": [0, 15, 16, 255]}},"
             " {\"pid\": \"c\", \"record\": {\"module_hash\": []}},"
             " {\"pid\": \"d\", \"record\": {\"module_hash\": null}}]",
             &reg);
    assert_string_equal(reg.entries[0].module_hash, "0xABC"); /* verbatim */
    assert_string_equal(reg.entries[1].module_hash, "000f10ff");
    assert_string_equal(reg.entries[2].module_hash, "");
    assert_null(reg.entries[3].module_hash);
    sf_registry_free(&reg);
}

static void test_parse_unknown_keys_ignored(void **state)
{
    sf_registry reg;

    (void)state;
    parse_ok("{\"Ok\": [{\"pid\": \"a\", \"x\": [1], \"record\": {\"pid\": 5,"
             " \"role\": 6, \"created_at\": \"1\"}}], \"Err\": null}",
             &reg);
    assert_int_equal(reg.count, 1);
    expect_entry(&reg.entries[0], "a", NULL, NULL, NULL, NULL);
    sf_registry_free(&reg);
}

/* ---- refusals ---- */

static void test_refuse_shapes(void **state)
{
    (void)state;
    parse_fails("{\"Err\": {\"message\": \"not ready\"}}", "json-schema", "");
    parse_fails("{}", "json-schema", "");
    parse_fails("\"aaaaa-aa\"", "json-schema", "");
    parse_fails("null", "json-schema", "");
    parse_fails("{\"ok\": []}", "json-schema", ""); /* case-sensitive */
    parse_fails("{\"Ok\": {}}", "json-schema", "Ok");
    parse_fails("{\"Ok\": null}", "json-schema", "Ok");
    parse_fails("{\"response_bytes\": \"4449444c\"}", "json-schema", "");
    {
        sf_registry reg;
        sf_error err;
        const char *t = "{\"Err\": {}}";

        sf_error_clear(&err);
        assert_int_equal(sf_registry_parse(t, strlen(t), &reg, &err), SF_ERR);
        assert_string_equal(err.message,
                            "registry JSON must be an array or Ok-wrapped");
    }
}

static void test_refuse_entries(void **state)
{
    (void)state;
    parse_fails("{\"Ok\": [\"aaaaa-aa\"]}", "json-schema", "Ok[0]");
    parse_fails("[{\"pid\": \"a\"}, {\"role\": \"x\"}]", "json-schema",
                "[1].pid");
    parse_fails("{\"Ok\": [{\"pid\": \"a\"}, {\"pid\": null}]}", "json-schema",
                "Ok[1].pid");
    parse_fails("[{\"pid\": 1}]", "json-schema", "[0].pid");
    parse_fails("[{\"pid\": \"a\", \"role\": 1}]", "json-schema", "[0].role");
    parse_fails("[{\"pid\": \"a\", \"kind\": []}]", "json-schema", "[0].kind");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"kind\": 2}}]", "json-schema",
                "[0].record.kind");
    parse_fails("[{\"pid\": \"a\", \"record\": \"x\"}]", "json-schema",
                "[0].record");
    parse_fails("[{\"pid\": \"a\", \"record\": []}]", "json-schema",
                "[0].record");
}

static void test_refuse_parent(void **state)
{
    (void)state;
    parse_fails("[{\"pid\": \"a\", \"record\": {\"parent_pid\": 3}}]",
                "json-schema", "[0].record.parent_pid");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"parent_pid\": {}}}]",
                "json-schema", "[0].record.parent_pid");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"parent_pid\": [\"p\", \"q\"]}}]",
                "json-schema", "[0].record.parent_pid");
    parse_fails("{\"Ok\": [{\"pid\": \"a\", \"record\": {\"parent_pid\": [1]}}]}",
                "json-schema", "Ok[0].record.parent_pid[0]");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"parent_pid\": [null]}}]",
                "json-schema", "[0].record.parent_pid[0]");
}

static void test_refuse_module_hash(void **state)
{
    (void)state;
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": [1, 256]}}]",
                "json-schema", "[0].record.module_hash[1]");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": [-1]}}]",
                "json-schema", "[0].record.module_hash[0]");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": [1.0]}}]",
                "json-schema", "[0].record.module_hash[0]");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": [\"01\"]}}]",
                "json-schema", "[0].record.module_hash[0]");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": 12}}]",
                "json-schema", "[0].record.module_hash");
    parse_fails("[{\"pid\": \"a\", \"record\": {\"module_hash\": true}}]",
                "json-schema", "[0].record.module_hash");
}

static void test_refuse_syntax(void **state)
{
    (void)state;
    parse_fails("", "json-syntax", NULL);
    parse_fails("[{\"pid\": \"a\"},]", "json-syntax", NULL);
    parse_fails("[{\"pid\": \"a\"}] x", "json-syntax", NULL);
    {
        sf_registry reg;
        sf_error err;
        const char *t = "[{\"pid\": \"a\", \"pid\": \"b\"}]";

        sf_error_clear(&err);
        assert_int_equal(sf_registry_parse(t, strlen(t), &reg, &err), SF_ERR);
        assert_non_null(err.kind);
    }
}

/* Every registry/valid-*.json parses, every broken-<kind>--*.json fails
 * with <kind>. */
static void test_sample_files(void **state)
{
    char *dirpath = data_path("registry");
    DIR *d = opendir(dirpath);
    struct dirent *e;
    size_t valid = 0, broken = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name, *end;
        char rel[300], kind[64];
        sf_registry reg;
        sf_error err;
        size_t len, n;
        char *text;
        int rc;

        if (strncmp(name, "valid-", 6) != 0 && strncmp(name, "broken-", 7) != 0)
            continue;
        snprintf(rel, sizeof rel, "registry/%s", name);
        text = slurp_data(rel, &len);
        sf_error_clear(&err);
        rc = sf_registry_parse(text, len, &reg, &err);
        free(text);
        if (name[0] == 'v') {
            if (rc != SF_OK)
                fail_msg("%s: %s at '%s': %s", name, err.kind, err.field,
                         err.message);
            sf_registry_free(&reg);
            valid++;
            continue;
        }
        end = strstr(name, "--");
        assert_non_null(end);
        n = (size_t)(end - (name + 7));
        assert_true(n < sizeof kind);
        memcpy(kind, name + 7, n);
        kind[n] = '\0';
        if (rc == SF_OK)
            fail_msg("%s was accepted", name);
        if (err.kind == NULL || strcmp(err.kind, kind) != 0)
            fail_msg("%s: expected %s, got %s (%s)", name, kind,
                     err.kind ? err.kind : "(none)", err.message);
        broken++;
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= 6);
    assert_true(broken >= 20);
}

/* ---- writing ---- */

static void test_write_canonical_bytes(void **state)
{
    sf_registry reg;
    sf_buf b;
    sf_error err;
    size_t len;
    char *canon = slurp_data("registry/valid-canonical.json", &len);

    (void)state;
    /* the wire form written by the host gives the canonical file */
    parse_file_ok("registry/valid-ok-wrapped-wire.json", &reg);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_registry_write_json(&reg, &b, &err), SF_OK);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, canon, len);
    sf_buf_free(&b);
    sf_registry_free(&reg);
    free(canon);
}

static void test_write_small_exact(void **state)
{
    static const char expected[] =
        "{\n"
        "  \"Ok\": [\n"
        "    {\n"
        "      \"pid\": \"aaaaa-aa\",\n"
        "      \"role\": null,\n"
        "      \"kind\": \"root\",\n"
        "      \"record\": {\n"
        "        \"pid\": \"aaaaa-aa\",\n"
        "        \"role\": null,\n"
        "        \"parent_pid\": null,\n"
        "        \"module_hash\": \"a\\\"b\"\n"
        "      }\n"
        "    }\n"
        "  ]\n"
        "}";
    sf_registry reg;
    sf_buf b;
    sf_error err;

    (void)state;
    parse_ok("[{\"pid\": \"aaaaa-aa\", \"kind\": \"root\", \"record\": "
             "{\"module_hash\": \"a\\\"b\"}}]",
             &reg);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_registry_write_json(&reg, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), expected);
    sf_buf_free(&b);
    sf_registry_free(&reg);

    parse_ok("[]", &reg);
    sf_buf_init(&b);
    assert_int_equal(sf_registry_write_json(&reg, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "{\n  \"Ok\": []\n}");
    sf_buf_free(&b);
    sf_registry_free(&reg);
}

static void test_write_round_trip(void **state)
{
    static const char *const files[] = {
        "registry/valid-ok-wrapped-wire.json",
        "registry/valid-ok-opt-vector.json", "registry/valid-bare-array.json",
        "registry/valid-canonical.json", "registry/valid-empty-ok.json"};
    size_t f, i;

    (void)state;
    for (f = 0; f < sizeof files / sizeof files[0]; f++) {
        sf_registry a, b;
        sf_buf w1, w2;
        sf_error err;

        parse_file_ok(files[f], &a);
        sf_buf_init(&w1);
        sf_buf_init(&w2);
        sf_error_clear(&err);
        assert_int_equal(sf_registry_write_json(&a, &w1, &err), SF_OK);
        parse_ok(sf_buf_cstr(&w1), &b);
        assert_int_equal(a.count, b.count);
        for (i = 0; i < a.count; i++)
            expect_entry(&b.entries[i], a.entries[i].pid, a.entries[i].role,
                         a.entries[i].kind, a.entries[i].parent_pid,
                         a.entries[i].module_hash);
        assert_int_equal(sf_registry_write_json(&b, &w2, &err), SF_OK);
        assert_int_equal(w1.len, w2.len);
        assert_memory_equal(w1.data, w2.data, w1.len);
        sf_buf_free(&w1);
        sf_buf_free(&w2);
        sf_registry_free(&a);
        sf_registry_free(&b);
    }
}

static void test_write_refuses_null_pid(void **state)
{
    static const row rows[] = {{ROOT, NULL, NULL, NULL},
                               {NULL, "x", NULL, NULL}};
    sf_registry reg;
    sf_buf b;
    sf_error err;

    (void)state;
    make_registry(&reg, rows, 2);
    sf_buf_init(&b);
    sf_buf_puts(&b, "keep");
    sf_error_clear(&err);
    assert_int_equal(sf_registry_write_json(&reg, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "empty-field");
    assert_string_equal(err.field, "Ok[1].pid");
    assert_string_equal(sf_buf_cstr(&b), "keep");
    sf_buf_free(&b);
    sf_registry_free(&reg);
    sf_registry_free(NULL);
}

/* ---- targets ---- */

static void test_targets_spec_example(void **state)
{
    static const char *const two[] = {ROOT, APP};
    static const char *const three[] = {ROOT, APP, WORKER};
    static const char *const app_down[] = {APP, WORKER};
    static const char *const leaf[] = {WORKER};
    sf_registry reg;

    (void)state;
    make_registry(&reg, fleet_rows, 3);
    expect_targets(&reg, ROOT, false, two, 2);
    expect_targets(&reg, ROOT, true, three, 3);
    expect_targets(&reg, APP, false, app_down, 2);
    expect_targets(&reg, APP, true, app_down, 2);
    expect_targets(&reg, WORKER, true, leaf, 1);
    sf_registry_free(&reg);
}

static void test_targets_fields(void **state)
{
    sf_registry reg;
    sf_target *t;
    size_t n;
    sf_error err;

    (void)state;
    make_registry(&reg, fleet_rows, 3);
    sf_error_clear(&err);
    assert_int_equal(sf_targets_from_registry(&reg, ROOT, true, &t, &n, &err),
                     SF_OK);
    assert_int_equal(n, 3);
    assert_string_equal(t[0].role, "root");
    assert_null(t[0].parent_canister_id);
    assert_null(t[0].module_hash);
    assert_string_equal(t[1].role, "app");
    assert_string_equal(t[1].parent_canister_id, ROOT);
    assert_string_equal(t[1].module_hash, "01ab");
    assert_string_equal(t[2].parent_canister_id, APP);
    assert_string_equal(t[2].module_hash, H);
    sf_targets_free(t, n);
    sf_registry_free(&reg);
}

static void test_targets_bfs_order(void **state)
{
    /* siblings in registry order, level by level */
    static const row rows[] = {
        {"a1", NULL, "a", NULL}, {"root", NULL, NULL, NULL},
        {"b", NULL, "root", NULL}, {"a", NULL, "root", NULL},
        {"b1", NULL, "b", NULL}, {"a2", NULL, "a", NULL},
        {"a1x", NULL, "a1", NULL}, {"c", NULL, "root", NULL},
    };
    static const char *const all[] = {"root", "b", "a", "c", "b1",
                                      "a1", "a2", "a1x"};
    static const char *const direct[] = {"root", "b", "a", "c"};
    sf_registry reg;

    (void)state;
    make_registry(&reg, rows, sizeof rows / sizeof rows[0]);
    expect_targets(&reg, "root", true, all, 8);
    expect_targets(&reg, "root", false, direct, 4);
    sf_registry_free(&reg);
}

static void test_targets_cycles_and_duplicates(void **state)
{
    static const row cycle[] = {{"a", NULL, "b", NULL},
                                {"b", NULL, "a", NULL}};
    static const row self[] = {{"r", NULL, "r", NULL},
                               {"c", NULL, "r", NULL}};
    static const char *const ab[] = {"a", "b"};
    static const char *const rc[] = {"r", "c"};
    /* "c" is listed twice under r: once, with the first entry's data */
    static const row dup[] = {{"r", NULL, NULL, NULL},
                              {"c", "first", "r", NULL},
                              {"c", "second", "r", NULL},
                              {"d", NULL, "c", NULL}};
    static const char *const rcd[] = {"r", "c", "d"};
    sf_registry reg;
    sf_target *t;
    size_t n;
    sf_error err;

    (void)state;
    make_registry(&reg, cycle, 2);
    expect_targets(&reg, "a", true, ab, 2);
    sf_registry_free(&reg);

    make_registry(&reg, self, 2);
    expect_targets(&reg, "r", true, rc, 2);
    sf_registry_free(&reg);

    make_registry(&reg, dup, 4);
    expect_targets(&reg, "r", true, rcd, 3);
    sf_error_clear(&err);
    assert_int_equal(sf_targets_from_registry(&reg, "r", true, &t, &n, &err),
                     SF_OK);
    assert_string_equal(t[1].role, "first");
    sf_targets_free(t, n);
    /* selected: the last entry with that pid wins */
    assert_int_equal(sf_targets_from_registry(&reg, "c", false, &t, &n, &err),
                     SF_OK);
    assert_int_equal(n, 2);
    assert_string_equal(t[0].role, "second");
    assert_string_equal(t[1].canister_id, "d");
    sf_targets_free(t, n);
    sf_registry_free(&reg);
}

static void test_targets_unknown_selected(void **state)
{
    sf_registry reg;
    sf_target dummy, *t = &dummy;
    size_t n = 99;
    sf_error err;

    (void)state;
    make_registry(&reg, fleet_rows, 3);
    sf_error_clear(&err);
    assert_int_equal(sf_targets_from_registry(&reg, OTHER, true, &t, &n, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "canister-not-in-registry");
    assert_string_equal(err.message,
                        "registry JSON did not contain the requested canister "
                        OTHER);
    assert_null(t);
    assert_int_equal(n, 0);
    /* ids compare byte for byte */
    assert_int_equal(
        sf_targets_from_registry(&reg, "AAAAA-AA", true, &t, &n, &err), SF_ERR);
    assert_string_equal(err.kind, "canister-not-in-registry");
    sf_registry_free(&reg);

    /* an empty registry contains nothing */
    reg.entries = NULL;
    reg.count = 0;
    assert_int_equal(sf_targets_from_registry(&reg, ROOT, false, &t, &n, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "canister-not-in-registry");
}

static void test_targets_parsed_registry(void **state)
{
    static const char *const three[] = {ROOT, APP, WORKER};
    sf_registry reg;

    (void)state;
    parse_file_ok("registry/valid-ok-opt-vector.json", &reg);
    expect_targets(&reg, ROOT, true, three, 3);
    sf_registry_free(&reg);
}

/* ---- role naming ---- */

static void test_role_naming(void **state)
{
    sf_target t[4];
    char *name;

    (void)state;
    memset(t, 0, sizeof t);
    t[0].canister_id = ROOT;
    t[1].canister_id = APP;
    t[1].role = "app";
    t[2].canister_id = WORKER;
    t[3].canister_id = OTHER;
    t[3].role = "";

    name = sf_target_role_name(t, 0, ROOT);
    assert_string_equal(name, "root");
    free(name);
    name = sf_target_role_name(t, 1, ROOT);
    assert_string_equal(name, "app");
    free(name);
    name = sf_target_role_name(t, 2, ROOT);
    assert_string_equal(name, "member-2");
    free(name);
    name = sf_target_role_name(t, 3, ROOT); /* present, even if empty */
    assert_string_equal(name, "");
    free(name);
    /* "root" only for the selected canister */
    name = sf_target_role_name(t, 0, APP);
    assert_string_equal(name, "member-0");
    free(name);
    name = sf_target_role_name(t, 2, WORKER);
    assert_string_equal(name, "root");
    free(name);
    /* a role wins even for the selected canister */
    name = sf_target_role_name(t, 1, APP);
    assert_string_equal(name, "app");
    free(name);
}

/* ---- depth ---- */

static void test_depth(void **state)
{
    static const row rows[] = {
        {"root", NULL, NULL, NULL}, {"child", NULL, "root", NULL},
        {"grand", NULL, "child", NULL}, {"x", NULL, "y", NULL},
        {"y", NULL, "x", NULL}, {"self", NULL, "self", NULL},
        {"orphan", NULL, "missing", NULL}, {"t", NULL, "c1", NULL},
        {"c1", NULL, "c2", NULL}, {"c2", NULL, "c3", NULL},
        {"c3", NULL, "c1", NULL},
    };
    sf_registry reg;

    (void)state;
    make_registry(&reg, rows, sizeof rows / sizeof rows[0]);
    assert_int_equal(sf_registry_depth(&reg, "root"), 0);
    assert_int_equal(sf_registry_depth(&reg, "child"), 1);
    assert_int_equal(sf_registry_depth(&reg, "grand"), 2);
    assert_int_equal(sf_registry_depth(&reg, "x"), 2); /* 2-cycle */
    assert_int_equal(sf_registry_depth(&reg, "y"), 2);
    assert_int_equal(sf_registry_depth(&reg, "self"), 1);
    assert_int_equal(sf_registry_depth(&reg, "absent"), 0);
    assert_int_equal(sf_registry_depth(&reg, "orphan"), 1);
    /* a tail into a 3-cycle: t, c1, c2, c3 are each counted once */
    assert_int_equal(sf_registry_depth(&reg, "t"), 4);
    assert_int_equal(sf_registry_depth(&reg, "c2"), 3);
    sf_registry_free(&reg);
}

static void test_depth_last_duplicate_wins(void **state)
{
    static const row rows[] = {
        {"root", NULL, NULL, NULL}, {"a", NULL, "root", NULL},
        {"b", NULL, "a", NULL}, {"b", NULL, "root", NULL},
        {"a", NULL, NULL, NULL},
    };
    sf_registry reg;

    (void)state;
    make_registry(&reg, rows, 5);
    assert_int_equal(sf_registry_depth(&reg, "b"), 1);
    assert_int_equal(sf_registry_depth(&reg, "a"), 0);
    sf_registry_free(&reg);
}

static void test_depth_long_chain(void **state)
{
    enum { N = 2000 };
    sf_registry reg;
    char name[32];
    size_t i;

    (void)state;
    reg.count = N;
    reg.entries = calloc(N, sizeof *reg.entries);
    assert_non_null(reg.entries);
    for (i = 0; i < N; i++) {
        snprintf(name, sizeof name, "n%zu", i);
        reg.entries[i].pid = strdup(name);
        if (i > 0) {
            snprintf(name, sizeof name, "n%zu", i - 1);
            reg.entries[i].parent_pid = strdup(name);
        }
    }
    assert_int_equal(sf_registry_depth(&reg, "n1999"), 1999);
    /* close it into one big cycle */
    reg.entries[0].parent_pid = strdup("n1999");
    assert_int_equal(sf_registry_depth(&reg, "n0"), N);
    sf_registry_free(&reg);
}

/* ---- topology hash of targets ---- */

static void test_targets_topology_hash_vector(void **state)
{
    sf_registry reg;
    sf_target *t;
    size_t n;
    sf_error err;
    char hex[SF_SHA256_HEX_SIZE];
    static const row rows[] = {
        {ROOT, "root", NULL, NULL},
        {APP, "app", ROOT, NULL},
        {WORKER, "worker", APP, NULL},
    };

    (void)state;
    make_registry(&reg, rows, 3);
    sf_error_clear(&err);
    assert_int_equal(sf_targets_from_registry(&reg, ROOT, true, &t, &n, &err),
                     SF_OK);
    assert_int_equal(sf_targets_topology_hash(ROOT, t, n, hex, &err), SF_OK);
    assert_string_equal(hex, FLEET_HASH);
    sf_targets_free(t, n);
    sf_registry_free(&reg);
}

static void test_targets_topology_hash_role_naming(void **state)
{
    sf_target t[1];
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    memset(t, 0, sizeof t);
    t[0].canister_id = ROOT; /* no role: named "root" as the selected one */
    sf_error_clear(&err);
    assert_int_equal(sf_targets_topology_hash(ROOT, t, 1, hex, &err), SF_OK);
    assert_string_equal(
        hex, "efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409cea5c8f66115240f4");
    /* selected elsewhere: "member-0", so a different hash */
    assert_int_equal(sf_targets_topology_hash(APP, t, 1, hex, &err), SF_OK);
    assert_string_not_equal(
        hex, "efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409cea5c8f66115240f4");
    /* principals are rendered canonically */
    t[0].canister_id = "AAAAA-AA";
    assert_int_equal(sf_targets_topology_hash("AAAAA-AA", t, 1, hex, &err),
                     SF_OK);
    assert_string_equal(
        hex, "efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409cea5c8f66115240f4");
    /* no targets */
    assert_int_equal(sf_targets_topology_hash(ROOT, t, 0, hex, &err), SF_OK);
    assert_string_equal(
        hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void test_targets_topology_hash_invalid(void **state)
{
    sf_target t[2];
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    memset(t, 0, sizeof t);
    t[0].canister_id = ROOT;
    t[1].canister_id = "not-a-principal";
    t[1].parent_canister_id = ROOT;
    sf_error_clear(&err);
    assert_int_equal(sf_targets_topology_hash(ROOT, t, 2, hex, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "fleet.members[1].canister_id");
    assert_string_equal(err.message,
                        "field fleet.members[].canister_id must be a valid "
                        "principal: not-a-principal");
    t[1].canister_id = APP;
    t[1].parent_canister_id = "aaaaaaa";
    assert_int_equal(sf_targets_topology_hash(ROOT, t, 2, hex, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "fleet.members[1].parent_canister_id");
    assert_string_equal(err.message,
                        "field fleet.members[].parent_canister_id must be a "
                        "valid principal: aaaaaaa");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ok_wrapped_wire),
        cmocka_unit_test(test_parse_opt_vector_and_kinds),
        cmocka_unit_test(test_parse_bare_array),
        cmocka_unit_test(test_parse_empty),
        cmocka_unit_test(test_parse_kind_precedence),
        cmocka_unit_test(test_parse_parent_forms),
        cmocka_unit_test(test_parse_module_hash_forms),
        cmocka_unit_test(test_parse_unknown_keys_ignored),
        cmocka_unit_test(test_refuse_shapes),
        cmocka_unit_test(test_refuse_entries),
        cmocka_unit_test(test_refuse_parent),
        cmocka_unit_test(test_refuse_module_hash),
        cmocka_unit_test(test_refuse_syntax),
        cmocka_unit_test(test_sample_files),
        cmocka_unit_test(test_write_canonical_bytes),
        cmocka_unit_test(test_write_small_exact),
        cmocka_unit_test(test_write_round_trip),
        cmocka_unit_test(test_write_refuses_null_pid),
        cmocka_unit_test(test_targets_spec_example),
        cmocka_unit_test(test_targets_fields),
        cmocka_unit_test(test_targets_bfs_order),
        cmocka_unit_test(test_targets_cycles_and_duplicates),
        cmocka_unit_test(test_targets_unknown_selected),
        cmocka_unit_test(test_targets_parsed_registry),
        cmocka_unit_test(test_role_naming),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_last_duplicate_wins),
        cmocka_unit_test(test_depth_long_chain),
        cmocka_unit_test(test_targets_topology_hash_vector),
        cmocka_unit_test(test_targets_topology_hash_role_naming),
        cmocka_unit_test(test_targets_topology_hash_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
