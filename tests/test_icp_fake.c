/*
 * The icp driver's children, one at a time, against tests/fake-icp/icp, a
 * scripted icp that records each argv and environment: every op's command
 * line, the sanitized environment, the program on PATH or missing, every
 * error class and transport text, children that flood, die by a signal or
 * print garbage, the offline registry file. Several children at once are
 * in test_icp_concurrency.c.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "icp_fixture.h"

#include "snapfleet/backup.h"
#include "snapfleet/restore.h"
#include "snapfleet/fs.h"
#include "snapfleet/icp.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/checksum.h"
#include "snapfleet/snapshot_meta.h"
#include "snapfleet/wrap.h"

/* ---- processes: the fake icp ---- */

static void test_fake_every_op(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;
    icp_calls k;
    char want[PATH_MAX * 2], cwd[PATH_MAX], dl[PATH_MAX + 32];

    (void)state;
    c.identity = "ops";
    d = icp_new_driver(&c);
    icp_run_op(d, (op = icp_op_of(SF_OP_REGISTRY, ROOT, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    assert_int_equal(r.registry.count, 3);
    assert_string_equal(r.registry.entries[1].pid, APP);
    assert_string_equal(r.registry.entries[1].parent_pid, ROOT);
    assert_string_equal(r.registry.entries[1].module_hash, HASH_B);
    assert_null(r.registry.entries[2].module_hash);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_RUNNING);
    assert_string_equal(r.module_hash, HASH_B);
    assert_int_equal(r.controller_count, 2);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_CREATE, APP, NULL, NULL), &op), &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected"); /* running */
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_STOP, APP, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_CREATE, APP, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    assert_string_equal(r.snapshot.id, "000000000000000100000000000000020101");
    assert_true(r.snapshot.has_taken_at && r.snapshot.has_total_size);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_LIST, APP, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    assert_int_equal(r.snapshot_count, 1);
    sf_result_free(&r);
    snprintf(dl, sizeof dl, "%s/dl", icp_dir);
    icp_run_op(d, (op = icp_op_of(SF_OP_DOWNLOAD, APP,
                                  "000000000000000100000000000000020101", dl), &op), &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_UPLOAD, STORE, NULL, dl), &op), &r);
    icp_expect_ok(&r);
    assert_string_equal(r.snapshot.id, "000000000000000200000000000000030101");
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_LOAD, APP, "000000000000000100000000000000020101",
                                  NULL), &op), &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_DELETE, APP, "000000000000000100000000000000020101",
                                  NULL), &op), &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    icp_run_op(d, (op = icp_op_of(SF_OP_START, APP, NULL, NULL), &op), &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    sf_driver_destroy(d);

    icp_read_calls(&k);
    assert_int_equal(k.count, 11);
    icp_expect_called(&k, "canister call " ROOT " canic_subnet_registry () --query "
                      "--json -n ic --identity ops");
    icp_expect_called(&k, "canister status " APP " --json -n ic --identity ops");
    icp_expect_called(&k, "canister stop " APP " -n ic --identity ops");
    icp_expect_called(&k, "canister snapshot create " APP " --json -n ic --identity ops");
    icp_expect_called(&k, "canister snapshot list " APP " --json -n ic --identity ops");
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s -n ic "
             "--identity ops", dl);
    icp_expect_called(&k, want);
    snprintf(want, sizeof want, "canister snapshot upload " STORE " --input %s "
             "--json -n ic --identity ops", dl);
    icp_expect_called(&k, want);
    icp_expect_called(&k, "canister snapshot restore " APP
                      " 000000000000000100000000000000020101 -n ic --identity ops");
    icp_expect_called(&k, "canister snapshot delete " APP
                      " 000000000000000100000000000000020101 -n ic --identity ops");
    icp_expect_called(&k, "canister start " APP " -n ic --identity ops");
    /* every child ran in the private directory, never ours */
    assert_non_null(getcwd(cwd, sizeof cwd));
    for (size_t i = 0; i < k.count; i++) {
        const char *where = cJSON_GetObjectItem(k.items[i], "cwd")->valuestring;
        assert_string_not_equal(where, cwd);
        assert_non_null(strstr(where, "/snapfleet-icp-"));
    }
    icp_free_calls(&k);
}

static void test_fake_environment(void **state)
{
    static const char *const leak[] = {
        "RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "ICP_NETWORK",
        "ICP_ENVIRONMENT", "ICP_PROJECT_ROOT",
    };
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;
    icp_calls k;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        setenv(leak[i], "1", 1);
    setenv("DO_NOT_TRACK", "0", 1);
    setenv("NO_COLOR", "", 1);
    setenv("SF_TEST_KEPT", "kept", 1);
    d = icp_new_driver(&c);
    icp_run_op(d, &op, &r);
    icp_expect_ok(&r); /* ICP_ENVIRONMENT with -n would be icp's exit 2 */
    sf_result_free(&r);
    sf_driver_destroy(d);
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        unsetenv(leak[i]);
    unsetenv("DO_NOT_TRACK");
    unsetenv("NO_COLOR");
    unsetenv("SF_TEST_KEPT");
    icp_read_calls(&k);
    assert_int_equal(k.count, 1);
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        assert_null(icp_env_of(&k, 0, leak[i]));
    assert_string_equal(icp_env_of(&k, 0, "DO_NOT_TRACK"), "1");
    assert_string_equal(icp_env_of(&k, 0, "NO_COLOR"), "1");
    assert_string_equal(icp_env_of(&k, 0, "SF_TEST_KEPT"), "kept");
    assert_non_null(icp_env_of(&k, 0, "PATH"));
    icp_free_calls(&k);
}

static void test_fake_on_path(void **state)
{
    sf_icp_config c = icp_base_config();
    char bin[PATH_MAX + 32], link[PATH_MAX + 64], *old, *path;
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;
    icp_calls k;

    (void)state;
    snprintf(bin, sizeof bin, "%s/bin", icp_dir);
    snprintf(link, sizeof link, "%s/icp", bin);
    assert_int_equal(mkdir(bin, 0700), 0);
    assert_int_equal(symlink(icp_fake, link), 0);
    old = strdup(getenv("PATH"));
    path = malloc(strlen(bin) + strlen(old) + 2);
    sprintf(path, "%s:%s", bin, old);
    setenv("PATH", path, 1);
    c.icp = NULL; /* "icp", looked up on PATH */
    d = icp_new_driver(&c);
    icp_run_op(d, &op, &r);
    setenv("PATH", old, 1);
    free(old);
    free(path);
    icp_expect_ok(&r);
    sf_result_free(&r);
    sf_driver_destroy(d);
    icp_read_calls(&k);
    assert_int_equal(k.count, 1);
    icp_free_calls(&k);
}

static void test_fake_not_found(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t;
    sf_error err;

    (void)state;
    c.icp = "/nonexistent/icp";
    d = icp_new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "icp-not-found");
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    c.icp = "no-such-icp-on-path";
    d = icp_new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "icp-not-found");
    assert_int_equal(sf_driver_wait(d, &t, NULL, &err), SF_ERR); /* nothing */
    sf_driver_destroy(d);
}

/* One op against a fault rule; returns the completion. */
static void faulted(const char *mode, sf_op_kind kind, const char *id,
                    sf_fail_class fail, const char *ek)
{
    char faults[512], path[PATH_MAX + 32];
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;

    snprintf(faults, sizeof faults, "[{\"op\": \"%s\", \"mode\": \"%s\"}]",
             sf_op_kind_name(kind), mode);
    icp_write_state_with(faults, "Stopped");
    snprintf(path, sizeof path, "%s/xfer-%s", icp_dir, mode);
    c.timeout_ms = 1000;
    d = icp_new_driver(&c);
    op = icp_op_of(kind, id, kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
                   kind == SF_OP_DELETE ? SNAP : NULL,
                   kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD ? path : NULL);
    if (kind == SF_OP_UPLOAD) {
        /* something to upload */
        char meta[PATH_MAX + 64];
        snprintf(meta, sizeof meta, "%s/metadata.json", path);
        assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    }
    icp_run_op(d, &op, &r);
    if (fail == SF_FAIL_NONE)
        icp_expect_ok(&r);
    else
        icp_expect_fail(&r, fail, ek);
    sf_result_free(&r);
    sf_driver_destroy(d);
}

static void test_fake_error_classes(void **state)
{
    (void)state;
    faulted("conn", SF_OP_STATUS, APP, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("conn", SF_OP_REGISTRY, ROOT, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("conn", SF_OP_STOP, APP, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("conn", SF_OP_DOWNLOAD, STORE, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("lost", SF_OP_START, APP, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("rootkey", SF_OP_CREATE, STORE, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("running", SF_OP_CREATE, APP, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("notfound", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("reject", SF_OP_DELETE, STORE, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("systransient", SF_OP_STOP, APP, SF_FAIL_TRANSIENT, "icp-rejected");
    faulted("usage", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-usage");
    faulted("other", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-failed");
    faulted("other", SF_OP_LOAD, STORE, SF_FAIL_UNKNOWN, "icp-failed");
    faulted("badjson", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("badjson", SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN, "icp-output");
    faulted("wrongtype", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("wrongtype", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT, "icp-output");
    faulted("missing", SF_OP_UPLOAD, STORE, SF_FAIL_UNKNOWN, "icp-output");
    faulted("empty", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("registry-err", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT, "registry-err");
    faulted("garbage-candid", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT,
            "candid-syntax");
    faulted("notcontroller", SF_OP_STATUS, APP, SF_FAIL_PERMANENT,
            "icp-not-controller");
    faulted("partial", SF_OP_DOWNLOAD, STORE, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("no-metadata", SF_OP_DOWNLOAD, STORE, SF_FAIL_PERMANENT, "icp-output");
    faulted("after-create", SF_OP_UPLOAD, STORE, SF_FAIL_UNKNOWN, "icp-failed");
}

/* One op against a fault rule naming a transport text. */
static void faulted_text(const char *mode, const char *text, sf_op_kind kind,
                         const char *id, sf_fail_class fail)
{
    char faults[512];
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;

    snprintf(faults, sizeof faults, "[{\"op\": \"%s\", \"mode\": \"%s\", "
             "\"text\": \"%s\"}]", sf_op_kind_name(kind), mode, text);
    icp_write_state_with(faults, "Stopped");
    d = icp_new_driver(&c);
    op = icp_op_of(kind, id, NULL, NULL);
    icp_run_op(d, &op, &r);
    icp_expect_fail(&r, fail, "icp-unreachable");
    if (strstr(r.err.message, text) == NULL)
        fail_msg("message without `%s`: %s", text, r.err.message);
    sf_result_free(&r);
    sf_driver_destroy(d);
}

/* Each transport text icp prints besides a refused connection: a read
 * may be asked again, a stop or create may have happened. */
static void test_fake_transport_texts(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < ICP_TRANSPORT_TEXT_COUNT; i++) {
        const char *t = icp_transport_texts[i];
        faulted_text("conn", t, SF_OP_REGISTRY, ROOT, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_STATUS, APP, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_LIST, APP, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_STOP, APP, SF_FAIL_UNKNOWN);
        faulted_text("lost", t, SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN);
    }
}

static void test_fake_misbehaving_children(void **state)
{
    (void)state;
    faulted("signal", SF_OP_STATUS, APP, SF_FAIL_TRANSIENT, "icp-signal");
    faulted("signal", SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN, "icp-signal");
    faulted("flood", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output-too-large");
    faulted("flood", SF_OP_STOP, APP, SF_FAIL_NONE, NULL);
    /* 2.5 MiB of progress, then the connection error at the end: the tail
     * of stderr is what is kept */
    faulted("flood-stderr", SF_OP_LIST, APP, SF_FAIL_TRANSIENT, "icp-unreachable");
}

static void test_registry_file(void **state)
{
    sf_icp_config c = icp_base_config();
    char file[PATH_MAX + 32];
    const char *json = "{\"Ok\": [{\"pid\": \"" ROOT "\", \"role\": \"root\","
                       " \"record\": {\"parent_pid\": null, \"module_hash\": null}}]}";
    const char *env = "{\"response_bytes\": \"4449444c026b02bc8a0101c5fed20171"
                      "6d7101000104626f6f6d\", \"response_text\": null}";
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    sf_result r;
    icp_calls k;

    (void)state;
    snprintf(file, sizeof file, "%s/registry.json", icp_dir);
    assert_int_equal(sf_fs_write_atomic_untracked(file, json, strlen(json), NULL),
                     SF_OK);
    c.registry_file = file;
    d = icp_new_driver(&c);
    icp_run_op(d, &op, &r);
    icp_expect_ok(&r);
    assert_int_equal(r.registry.count, 1);
    assert_string_equal(r.registry.entries[0].role, "root");
    sf_result_free(&r);
    sf_driver_destroy(d);
    /* a saved `canister call --json` envelope works too (an Err here) */
    assert_int_equal(sf_fs_write_atomic_untracked(file, env, strlen(env), NULL),
                     SF_OK);
    d = icp_new_driver(&c);
    icp_run_op(d, &op, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "registry-err");
    sf_result_free(&r);
    /* a broken file */
    assert_int_equal(sf_fs_write_atomic_untracked(file, "[", 1, NULL), SF_OK);
    icp_run_op(d, &op, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "json-syntax");
    sf_result_free(&r);
    sf_driver_destroy(d);
    icp_read_calls(&k);
    assert_int_equal(k.count, 0); /* no child ran */
    icp_free_calls(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fake_every_op, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_environment, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_on_path, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_not_found, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_error_classes, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_transport_texts, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_misbehaving_children, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_registry_file, icp_setup, icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
