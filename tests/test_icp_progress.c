/* How far a running icp transfer got, from icp's own progress files: the
 * parsers (capped by the sizes, refusals named by path), the directory
 * reading, and the driver calling on_bytes while a child runs. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "drivers/icp_internal.h"
#include "snapfleet/fs.h"
#include "snapfleet/icp.h"

#define META(m, h, s)                                                          \
    "{\"taken_at_timestamp\":1,\"wasm_module_size\":" #m ",\"globals\":[],"    \
    "\"wasm_memory_size\":" #h ",\"stable_memory_size\":" #s ","               \
    "\"wasm_chunk_store\":[],\"canister_version\":1,\"certified_data\":[]}"

static char dir[PATH_MAX];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/sf-icp-progress-XXXXXX");
    return mkdtemp(dir) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 32];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void put(const char *name, const char *text)
{
    char path[PATH_MAX + 64];
    sf_error err;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sf_fs_write_atomic_untracked(path, text, strlen(text), &err) != SF_OK)
        fail_msg("write %s: %s", path, err.message);
}

static uint64_t download_done(const char *text, uint64_t m, uint64_t h,
                              uint64_t s)
{
    const uint64_t sizes[3] = {m, h, s};
    uint64_t done = 99;
    sf_error err;

    if (sf_icp_download_progress_parse(text, strlen(text), sizes, &done,
                                       &err) != SF_OK)
        fail_msg("%s: %s", text, err.message);
    return done;
}

/* Below the frontier all is done; chunks ahead of it count whole, the
 * last one of a blob only up to its size; offsets below the frontier or
 * past the end count nothing; nothing exceeds the blob's size. */
static void test_download_progress(void **state)
{
    (void)state;
    assert_int_equal(download_done("{}", 10, 10, 10), 0);
    assert_int_equal(download_done(
        "{\"wasm_module\":{\"frontier\":2000000,\"ahead\":[]},"
        "\"wasm_memory\":{\"frontier\":2000000,\"ahead\":[4000000,0,9000000]},"
        "\"stable_memory\":{\"frontier\":0,\"ahead\":[]}}",
        3000000, 5000000, 0), 2000000 + 2000000 + 1000000);
    assert_int_equal(download_done(
        "{\"wasm_module\":{\"frontier\":9000000,\"ahead\":[]}}", 100, 0, 0),
        100);
    assert_int_equal(download_done(
        "{\"stable_memory\":{\"frontier\":0,\"ahead\":[0,0,0]}}", 0, 0,
        5000000), 5000000);
    assert_int_equal(download_done(
        "{\"stable_memory\":{\"frontier\":0,\"ahead\":[2000000,2000000]}}",
        0, 0, 4500000), 4000000);
}

typedef struct refusal {
    const char *text, *kind, *field;
} refusal;

static void test_download_progress_refusals(void **state)
{
    static const refusal cases[] = {
        {"", "json-syntax", ""},
        {"[]", "json-schema", ""},
        {"{\"wasm_module\":null}", "json-schema", "wasm_module"},
        {"{\"wasm_module\":{\"ahead\":[]}}", "json-schema",
         "wasm_module.frontier"},
        {"{\"wasm_memory\":{\"frontier\":\"1\",\"ahead\":[]}}", "json-schema",
         "wasm_memory.frontier"},
        {"{\"stable_memory\":{\"frontier\":1}}", "json-schema",
         "stable_memory.ahead"},
        {"{\"stable_memory\":{\"frontier\":1,\"ahead\":[1,-2]}}", "json-schema",
         "stable_memory.ahead[1]"},
        {"{\"wasm_module\":{\"frontier\":1.5,\"ahead\":[]}}", "json-schema",
         "wasm_module.frontier"},
    };
    const uint64_t sizes[3] = {10, 10, 10};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t done = 7;
        sf_error err;

        sf_error_clear(&err);
        assert_int_equal(sf_icp_download_progress_parse(
            cases[i].text, strlen(cases[i].text), sizes, &done, &err), SF_ERR);
        assert_int_equal(done, 0);
        if (strcmp(err.kind, cases[i].kind) != 0 ||
            strcmp(err.field, cases[i].field) != 0)
            fail_msg("%s: %s at '%s' (%s), want %s at '%s'", cases[i].text,
                     err.kind, err.field, err.message, cases[i].kind,
                     cases[i].field);
    }
}

static void test_upload_progress(void **state)
{
    static const char good[] =
        "{\"snapshot_id\":\"0a\",\"metadata_uploaded\":true,"
        "\"wasm_module_offset\":10,\"wasm_memory_offset\":20,"
        "\"stable_memory_offset\":5,\"wasm_chunks_uploaded\":[]}";
    static const char *const bad[] = {
        "{\"wasm_module_offset\":10,\"wasm_memory_offset\":20}",
        "{\"wasm_module_offset\":10,\"wasm_memory_offset\":\"x\","
        "\"stable_memory_offset\":0}",
        "7",
        "{",
    };
    const uint64_t sizes[3] = {10, 100, 3};
    uint64_t done = 0;
    sf_error err;
    size_t i;

    (void)state;
    assert_int_equal(sf_icp_upload_progress_parse(good, strlen(good), sizes,
                                                  &done, &err), SF_OK);
    assert_int_equal(done, 10 + 20 + 3);
    for (i = 0; i < sizeof bad / sizeof *bad; i++) {
        done = 7;
        assert_int_equal(sf_icp_upload_progress_parse(bad[i], strlen(bad[i]),
                                                      sizes, &done, &err),
                         SF_ERR);
        assert_int_equal(done, 0);
    }
}

/* A directory: nothing known before metadata.json, nothing moved before
 * a progress file, the progress file's figure after; a damaged file of
 * either is "not known now". */
static void test_directory(void **state)
{
    uint64_t done = 1;

    (void)state;
    assert_false(sf_icp_transfer_bytes(dir, false, &done));
    assert_int_equal(done, 0);
    put("metadata.json", "{");
    assert_false(sf_icp_transfer_bytes(dir, false, &done));
    put("metadata.json", META(0, 5000000, 0));
    assert_true(sf_icp_transfer_bytes(dir, false, &done));
    assert_int_equal(done, 0);
    put(".download_progress.json",
        "{\"wasm_memory\":{\"frontier\":2000000,\"ahead\":[]}}");
    assert_true(sf_icp_transfer_bytes(dir, false, &done));
    assert_int_equal(done, 2000000);
    put(".download_progress.json", "{\"wasm_memory\":");
    assert_false(sf_icp_transfer_bytes(dir, false, &done));
    put(".upload_progress.json",
        "{\"wasm_module_offset\":0,\"wasm_memory_offset\":4000000,"
        "\"stable_memory_offset\":0}");
    assert_true(sf_icp_transfer_bytes(dir, true, &done));
    assert_int_equal(done, 4000000);
}

typedef struct seen {
    int calls;
    uint64_t last;
    sf_op_kind kind;
    char canister[64];
} seen;

static void on_bytes(void *ctx, const sf_op *op, uint64_t bytes)
{
    seen *s = ctx;

    s->calls++;
    s->last = bytes;
    s->kind = op->kind;
    snprintf(s->canister, sizeof s->canister, "%s", op->canister_id);
}

/* A stand-in icp that writes a transfer's files as icp does, then takes
 * its time (the driver must report while it runs) and fails. */
static void write_slow_icp(char *path, size_t size)
{
    char text[2048];
    sf_error err;

    snprintf(path, size, "%s/icp", dir);
    snprintf(text, sizeof text,
             "#!/bin/sh\n"
             "d=; prev=\n"
             "for a in \"$@\"; do\n"
             "  case \"$prev\" in --output|--input) d=\"$a\";; esac\n"
             "  prev=\"$a\"\n"
             "done\n"
             "mkdir -p \"$d\"\n"
             "case \" $* \" in\n"
             "*\" download \"*)\n"
             "  printf '%%s' '%s' > \"$d/metadata.json\"\n"
             "  printf '%%s' '{\"wasm_memory\":{\"frontier\":2000000,"
             "\"ahead\":[4000000]}}' > \"$d/.download_progress.json\";;\n"
             "*)\n"
             "  printf '%%s' '{\"wasm_module_offset\":0,"
             "\"wasm_memory_offset\":3000000,\"stable_memory_offset\":0}'"
             " > \"$d/.upload_progress.json\";;\n"
             "esac\n"
             "sleep 3\n"
             "exit 1\n",
             META(0, 5000000, 0));
    if (sf_fs_write_atomic_untracked(path, text, strlen(text), &err) != SF_OK)
        fail_msg("write %s: %s", path, err.message);
    assert_int_equal(chmod(path, 0755), 0);
}

static void run_slow(sf_op_kind kind, const char *path, seen *s)
{
    char icp[PATH_MAX + 8];
    sf_icp_config c;
    sf_driver *d;
    sf_result r;
    sf_op op;
    sf_error err;

    write_slow_icp(icp, sizeof icp);
    memset(&c, 0, sizeof c);
    c.icp = icp;
    c.network = "ic";
    c.timeout_ms = 20000;
    c.transfer_timeout_ms = 20000;
    c.on_bytes = on_bytes;
    c.on_bytes_ctx = s;
    assert_int_equal(sf_icp_driver_new(&c, &d, &err), SF_OK);
    assert_int_equal(sf_op_init(&op, kind, "aaaaa-aa",
                                kind == SF_OP_DOWNLOAD ? "0a" : NULL, path,
                                &err), SF_OK);
    assert_int_equal(sf_driver_run(d, &op, &r, &err), SF_OK);
    assert_int_not_equal(r.fail, SF_FAIL_NONE); /* the stand-in exits 1 */
    sf_result_free(&r);
    sf_driver_destroy(d);
}

static void test_driver_reports_a_download(void **state)
{
    char out[PATH_MAX + 8];
    seen s;

    (void)state;
    memset(&s, 0, sizeof s);
    snprintf(out, sizeof out, "%s/dl", dir);
    run_slow(SF_OP_DOWNLOAD, out, &s);
    assert_true(s.calls >= 1);
    assert_true(s.calls <= 4); /* about once a second over three */
    assert_int_equal(s.last, 2000000 + 1000000);
    assert_int_equal(s.kind, SF_OP_DOWNLOAD);
    assert_string_equal(s.canister, "aaaaa-aa");
}

static void test_driver_reports_an_upload(void **state)
{
    char in[PATH_MAX + 8], meta[PATH_MAX + 32];
    seen s;
    sf_error err;

    (void)state;
    memset(&s, 0, sizeof s);
    snprintf(in, sizeof in, "%s/up", dir);
    assert_int_equal(mkdir(in, 0700), 0);
    snprintf(meta, sizeof meta, "%s/metadata.json", in);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, META(0, 5000000, 0),
                                                  strlen(META(0, 5000000, 0)),
                                                  &err), SF_OK);
    run_slow(SF_OP_UPLOAD, in, &s);
    assert_true(s.calls >= 1);
    assert_int_equal(s.last, 3000000);
    assert_int_equal(s.kind, SF_OP_UPLOAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_download_progress),
        cmocka_unit_test(test_download_progress_refusals),
        cmocka_unit_test(test_upload_progress),
        cmocka_unit_test_setup_teardown(test_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_driver_reports_a_download, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_driver_reports_an_upload, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("icp_progress", tests, NULL, NULL);
}
