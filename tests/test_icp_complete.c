/*
 * sf_icp_complete() on hand-made outcomes: each way a child can end
 * (exit codes, connection errors, the error text table, signals, a
 * timeout) and its failure class; the parsers of status, snapshot lists,
 * the registry and downloads; output caps.
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

/* ---- sf_icp_complete on hand-made outcomes ---- */

static void complete(const sf_op *op, int code, const char *out,
                     const char *err_text, sf_result *r)
{
    sf_icp_outcome o;

    memset(&o, 0, sizeof o);
    o.exit_code = code;
    o.out = out;
    o.out_len = out ? strlen(out) : 0;
    o.err = err_text;
    o.err_len = err_text ? strlen(err_text) : 0;
    sf_result_init(r, op->kind);
    sf_icp_complete(op, &o, r);
}

static void classed(sf_op_kind kind, int code, const char *out,
                    const char *err_text, sf_fail_class fail, const char *ek)
{
    sf_op op = icp_op_of(kind, APP, kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
                         kind == SF_OP_DELETE ? "00ff" : NULL,
                         kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD ? icp_dir : NULL);
    sf_result r;

    complete(&op, code, out, err_text, &r);
    if (fail == SF_FAIL_NONE)
        icp_expect_ok(&r);
    else
        icp_expect_fail(&r, fail, ek);
    sf_result_free(&r);
}

#define CONN "Error: direct update call failed: An error happened during " \
    "communication with the replica: error sending request for url "     \
    "(http://127.0.0.1:9/api/v4/canister/x/call)\n\nCaused by:\n    An "  \
    "error happened during communication with the replica: error "       \
    "sending request for url (http://127.0.0.1:9/api/v4/canister/x/call)\n"

static void test_classes_exit_codes(void **state)
{
    static const sf_op_kind all[] = {
        SF_OP_REGISTRY, SF_OP_STATUS, SF_OP_STOP, SF_OP_START, SF_OP_CREATE,
        SF_OP_LIST, SF_OP_DOWNLOAD, SF_OP_UPLOAD, SF_OP_LOAD, SF_OP_DELETE,
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof all / sizeof all[0]; k++) {
        bool ro = all[k] == SF_OP_REGISTRY || all[k] == SF_OP_STATUS ||
                  all[k] == SF_OP_LIST;
        /* exit 2: the argument parser refused: a bug, whatever the op */
        classed(all[k], 2, NULL, "error: unexpected argument '--x' found\n\n"
                "Usage: icp canister stop <CANISTER>\n", SF_FAIL_PERMANENT,
                "icp-usage");
        /* a refusal */
        classed(all[k], 1, NULL, "Error: Canister x (x) is currently running. "
                "Please stop the canister first with `icp canister stop`.\n",
                SF_FAIL_PERMANENT, "icp-rejected");
        /* the replica rejected: nothing executed */
        classed(all[k], 1, NULL, "Error: direct update call failed: The "
                "replica returned a rejection error: reject code "
                "CanisterError, reject message boom, error code "
                "Some(\"IC0503\")\n", SF_FAIL_PERMANENT, "icp-rejected");
        classed(all[k], 1, NULL, "Error: direct update call failed: The "
                "replica returned a rejection error: reject code SysTransient, "
                "reject message queue full, error code Some(\"IC0515\")\n",
                SF_FAIL_TRANSIENT, "icp-rejected");
        /* the root key comes before any call */
        classed(all[k], 1, NULL, "WARN fetching the root key from u\nError: "
                "failed to fetch root key from http://127.0.0.1:9/\n\nCaused "
                "by:\n    An error happened during communication with the "
                "replica: error sending request for url (x)\n",
                SF_FAIL_TRANSIENT, "icp-unreachable");
        /* anything else */
        classed(all[k], 1, NULL, "Error: something new\n",
                ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN, "icp-failed");
        classed(all[k], 101, NULL, "thread 'main' panicked\n",
                ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN, "icp-failed");
        classed(all[k], 1, NULL, "", ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN,
                "icp-failed");
    }
}

static void test_classes_connection(void **state)
{
    char meta[PATH_MAX + 32];

    (void)state;
    /* read-only: safe again */
    classed(SF_OP_STATUS, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    classed(SF_OP_LIST, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    classed(SF_OP_REGISTRY, 1, NULL, "Error: An error happened during "
            "communication with the replica: error sending request for url "
            "(http://127.0.0.1:9/api/v3/canister/x/query)\n",
            SF_FAIL_TRANSIENT, "icp-unreachable");
    /* mutating: the request may have left */
    classed(SF_OP_STOP, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_START, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_CREATE, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_UPLOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_LOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_DELETE, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    /* download changes no canister: safe again while the directory holds
     * nothing that a fresh download refuses to overwrite */
    classed(SF_OP_DOWNLOAD, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    snprintf(meta, sizeof meta, "%s/metadata.json", icp_dir);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    classed(SF_OP_DOWNLOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    {
        sf_op op = icp_op_of(SF_OP_DOWNLOAD, APP, "00ff", icp_dir);
        sf_result r;
        op.resume = true; /* resuming again is always possible */
        complete(&op, 1, NULL, CONN, &r);
        icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-unreachable");
        sf_result_free(&r);
    }
    /* an upload that failed after it created the target snapshot */
    classed(SF_OP_UPLOAD, 1, NULL, "Uploading snapshot to canister x (x)\n"
            "Created snapshot 00ff for upload\nError: Failed to get file size "
            "at /x/wasm_memory.bin\n", SF_FAIL_UNKNOWN, "icp-failed");
    classed(SF_OP_UPLOAD, 1, NULL, "Error: Missing required file: "
            "/x/metadata.json\n", SF_FAIL_PERMANENT, "icp-rejected");
}

/* Every text of the driver's table, in an error line and as a cause,
 * for every operation: the class the table gives it (docs/icp-driver.md
 * lists the same table). */
static void test_error_text_table(void **state)
{
    static const sf_op_kind all[] = {
        SF_OP_REGISTRY, SF_OP_STATUS, SF_OP_STOP, SF_OP_START, SF_OP_CREATE,
        SF_OP_LIST, SF_OP_DOWNLOAD, SF_OP_UPLOAD, SF_OP_LOAD, SF_OP_DELETE,
    };
    const sf_icp_error_text *t;
    size_t n, i, k, transport = 0;
    char text[600], *doc = NULL, path[PATH_MAX];
    const char *data = getenv("SF_TEST_DATA");
    size_t len;
    sf_error err;

    (void)state;
    t = sf_icp_error_texts(&n);
    assert_true(n >= 27);
    snprintf(path, sizeof path, "%s/../../docs/icp-driver.md",
             data ? data : "tests/data");
    if (sf_fs_read_file(path, (size_t)1 << 22, &doc, &len, &err) != SF_OK)
        fail_msg("docs: %s", err.message);
    for (i = 0; i < n; i++) {
        char quoted[200];
        snprintf(quoted, sizeof quoted, "| `%s` |", t[i].text);
        if (strstr(doc, quoted) == NULL)
            fail_msg("docs/icp-driver.md has no table row for `%s`", t[i].text);
        transport += t[i].cls == SF_ICP_TEXT_TRANSPORT;
        for (k = 0; k < sizeof all / sizeof all[0]; k++) {
            bool ro = all[k] == SF_OP_REGISTRY || all[k] == SF_OP_STATUS ||
                      all[k] == SF_OP_LIST;
            sf_fail_class want = SF_FAIL_PERMANENT;
            const char *kind = "icp-rejected";
            int form;

            switch (t[i].cls) {
            case SF_ICP_TEXT_UPLOAD_CREATED:
                want = all[k] == SF_OP_UPLOAD || !ro ? SF_FAIL_UNKNOWN
                                                     : SF_FAIL_PERMANENT;
                kind = "icp-failed";
                break;
            case SF_ICP_TEXT_RETRYABLE_REJECT:
                want = SF_FAIL_TRANSIENT;
                break;
            case SF_ICP_TEXT_REFUSAL:
                break;
            case SF_ICP_TEXT_BEFORE_CALL:
                want = SF_FAIL_TRANSIENT;
                kind = "icp-unreachable";
                break;
            case SF_ICP_TEXT_TRANSPORT:
                /* the test directory holds nothing a fresh download
                 * refuses: a download may go again */
                want = ro || all[k] == SF_OP_DOWNLOAD ? SF_FAIL_TRANSIENT
                                                      : SF_FAIL_UNKNOWN;
                kind = "icp-unreachable";
                break;
            }
            for (form = 0; form < 2; form++) {
                if (form == 0)
                    snprintf(text, sizeof text, "Error: x: %s (y)\n", t[i].text);
                else
                    snprintf(text, sizeof text, "Error: Failed to do it\n\n"
                             "Caused by:\n    0: direct update call failed\n"
                             "    1: %s and more\n", t[i].text);
                classed(all[k], 1, NULL, text, want, kind);
            }
        }
    }
    assert_int_equal(transport, 7);
    free(doc);
}

static void test_classes_killed(void **state)
{
    sf_op ro = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op mut = icp_op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_icp_outcome o;
    sf_result r;

    (void)state;
    memset(&o, 0, sizeof o);
    o.timed_out = true;
    sf_result_init(&r, ro.kind);
    sf_icp_complete(&ro, &o, &r);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    sf_result_init(&r, mut.kind);
    sf_icp_complete(&mut, &o, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-timeout");
    sf_result_free(&r);
    memset(&o, 0, sizeof o);
    o.signaled = true;
    o.signal = SIGSEGV;
    sf_result_init(&r, ro.kind);
    sf_icp_complete(&ro, &o, &r);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-signal");
    assert_non_null(strstr(r.err.message, "signal 11"));
    sf_result_free(&r);
    sf_result_init(&r, mut.kind);
    sf_icp_complete(&mut, &o, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-signal");
    sf_result_free(&r);
}

static void test_error_message(void **state)
{
    sf_op op = icp_op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_result r;

    (void)state;
    complete(&op, 1, NULL, "Error: failed to load identity\n\nCaused by:\n"
             "    no identity found with name `nosuch`\n", &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected");
    assert_string_equal(r.err.message, "failed to load identity: no identity "
                        "found with name `nosuch` (icp exited with status 1)");
    sf_result_free(&r);
    /* several causes: the first, without its number */
    complete(&op, 1, NULL, "Error: Failed to read snapshot metadata for "
             "canister x\n\nCaused by:\n    0: reject code CanisterError\n    "
             "1: deeper\n", &r);
    assert_string_equal(r.err.message, "Failed to read snapshot metadata for "
                        "canister x: reject code CanisterError (icp exited "
                        "with status 1)");
    sf_result_free(&r);
    /* control bytes never reach a log line */
    complete(&op, 1, NULL, "Error: bad\x1b[31m thing\n", &r);
    assert_string_equal(r.err.message, "bad?[31m thing (icp exited with status 1)");
    sf_result_free(&r);
}

static void test_parse_status(void **state)
{
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;

    (void)state;
    /* another canister's line first, ours second (one object per line) */
    complete(&op, 0, "{\"id\":\"" ROOT "\",\"status\":\"Running\",\"settings\":"
             "{\"controllers\":[]},\"module_hash\":null}\n"
             "{\"id\":\"" APP "\",\"name\":\"app\",\"status\":\"Stopping\","
             "\"settings\":{\"controllers\":[\"" ROOT "\",\"2vxsx-fae\"],"
             "\"new_in_1_5\":\"x\"},\"module_hash\":\"0xABcd\",\"cycles\":\"1\"}\n",
             NULL, &r);
    icp_expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_STOPPING);
    assert_string_equal(r.module_hash, "abcd");
    assert_int_equal(r.controller_count, 2);
    assert_string_equal(r.controllers[1], "2vxsx-fae");
    sf_result_free(&r);
    complete(&op, 0, "{\"id\":\"" APP "\",\"status\":\"Stopped\",\"settings\":"
             "{\"controllers\":[]}}", NULL, &r);
    icp_expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_STOPPED);
    assert_null(r.module_hash);
    sf_result_free(&r);
}

static void bad_status(const char *out, const char *kind, const char *field)
{
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;

    complete(&op, 0, out, NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, kind);
    if (field != NULL)
        assert_string_equal(r.err.field, field);
    sf_result_free(&r);
}

static void test_parse_status_refusals(void **state)
{
    (void)state;
    bad_status("", "icp-output", "id");
    bad_status("Canister Id: x\n  Status: Running\n", "icp-output", NULL);
    bad_status("{\"id\":\"" ROOT "\",\"status\":\"Running\"}\n", "icp-output", "id");
    bad_status("{\"id\":\"" APP "\",\"status\":\"running\",\"settings\":"
               "{\"controllers\":[]}}", "icp-output", "status");
    bad_status("{\"id\":\"" APP "\",\"status\":5,\"settings\":"
               "{\"controllers\":[]}}", "icp-output", "status");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\"}", "icp-output",
               "settings");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":{}}",
               "icp-output", "settings.controllers");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[\"nope\"]}}", "icp-output",
               "settings.controllers[0]");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[]},\"module_hash\":\"abcd\"}", "icp-output",
               "module_hash");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[]},\"module_hash\":\"0xabc\"}", "icp-output",
               "module_hash");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"status\":\"Stopped\","
               "\"settings\":{\"controllers\":[]}}", "icp-output", NULL);
    /* icp's public-state fallback: no status for a non-controller */
    bad_status("{\"id\":\"" APP "\",\"controllers\":[\"" ROOT "\"],"
               "\"module_hash\":null}\n", "icp-not-controller", NULL);
}

static void test_parse_snapshots(void **state)
{
    sf_op create = icp_op_of(SF_OP_CREATE, APP, NULL, NULL);
    sf_op list = icp_op_of(SF_OP_LIST, APP, NULL, NULL);
    sf_op upload = icp_op_of(SF_OP_UPLOAD, APP, NULL, icp_dir);
    sf_result r;

    (void)state;
    /* u64 values beyond 2^53 stay exact */
    complete(&create, 0, "{\"snapshot_id\":\"0000000000000000FFFFFFFFFFC000020101\","
             "\"taken_at_timestamp\":18446744073709551615,\"total_size_bytes\":"
             "9007199254740993}", NULL, &r);
    icp_expect_ok(&r);
    assert_string_equal(r.snapshot.id, "0000000000000000ffffffffffc000020101");
    assert_true(r.snapshot.has_taken_at);
    assert_true(r.snapshot.taken_at_timestamp == UINT64_MAX);
    assert_true(r.snapshot.total_size_bytes == 9007199254740993ull);
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"00ff\","
             "\"taken_at_timestamp\":1,\"total_size_bytes\":2},{\"snapshot_id\":"
             "\"0101\",\"taken_at_timestamp\":3,\"total_size_bytes\":4}]}", NULL, &r);
    icp_expect_ok(&r);
    assert_int_equal(r.snapshot_count, 2);
    assert_string_equal(r.snapshots[1].id, "0101");
    assert_int_equal(r.snapshots[1].total_size_bytes, 4);
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[]}", NULL, &r);
    icp_expect_ok(&r);
    assert_int_equal(r.snapshot_count, 0);
    sf_result_free(&r);
    complete(&upload, 0, "{\"snapshot_id\":\"0202\"}", NULL, &r);
    icp_expect_ok(&r);
    assert_string_equal(r.snapshot.id, "0202");
    sf_result_free(&r);
    /* broken answers: read-only PERMANENT, create/upload UNKNOWN */
    complete(&list, 0, "[{\"snapshot_id\":\"00ff\"}]", NULL, &r); /* icp 1.0 */
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"0g\"}]}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    assert_string_equal(r.err.field, "snapshots[0].snapshot_id");
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"00\","
             "\"total_size_bytes\":-1}]}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\": ", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\":12}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    assert_string_equal(r.err.field, "snapshot_id");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\":\"\"}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&upload, 0, "Snapshot 00ff uploaded successfully\n", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
}

static void test_parse_registry(void **state)
{
    sf_op op = icp_op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    sf_result r;

    (void)state;
    complete(&op, 0, "{\"response_bytes\":\"4449444c026b02bc8a0101c5fed201716d71"
             "0100000101786\",\"response_text\":null}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output"); /* odd hex */
    sf_result_free(&r);
    complete(&op, 0, "{\"response_text\":\"x\"}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c0000ff\"}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "candid-syntax");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c026b02bc8a0101c5fed201716d71"
             "01000104626f6f6d\"}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "registry-err");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c0001710178\"}", NULL, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "candid-schema");
    sf_result_free(&r);
}

static void test_output_too_large(void **state)
{
    sf_op status = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op create = icp_op_of(SF_OP_CREATE, APP, NULL, NULL);
    sf_op stop = icp_op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_icp_outcome o;
    sf_result r;

    (void)state;
    memset(&o, 0, sizeof o);
    o.out = "{";
    o.out_len = 1;
    o.out_truncated = true;
    sf_result_init(&r, status.kind);
    sf_icp_complete(&status, &o, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output-too-large");
    sf_result_free(&r);
    sf_result_init(&r, create.kind);
    sf_icp_complete(&create, &o, &r);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output-too-large");
    sf_result_free(&r);
    /* stop reports through its exit status only */
    sf_result_init(&r, stop.kind);
    sf_icp_complete(&stop, &o, &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
}

static void test_download_success_needs_metadata(void **state)
{
    char meta[PATH_MAX + 32];

    (void)state;
    classed(SF_OP_DOWNLOAD, 0, NULL, "Snapshot downloaded to x\n",
            SF_FAIL_PERMANENT, "icp-output");
    snprintf(meta, sizeof meta, "%s/metadata.json", icp_dir);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    classed(SF_OP_DOWNLOAD, 0, NULL, "Snapshot downloaded to x\n",
            SF_FAIL_NONE, NULL);
    classed(SF_OP_STOP, 0, NULL, NULL, SF_FAIL_NONE, NULL);
    classed(SF_OP_LOAD, 0, NULL, "Restored canister\n", SF_FAIL_NONE, NULL);
    classed(SF_OP_DELETE, 0, NULL, "Deleted snapshot\n", SF_FAIL_NONE, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_classes_exit_codes, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_classes_connection, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_error_text_table, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_classes_killed, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_error_message, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_parse_status, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_parse_status_refusals, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_parse_snapshots, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_parse_registry, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_output_too_large, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_download_success_needs_metadata, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
