/*
 * The engine through the icp driver after injected failures, against the
 * fake icp: reconciliation of lost answers, transport texts, resumed
 * downloads, stale temporaries discarded, truncated chunks repaired, and
 * uploads whose metadata reply was lost, that were killed midway or left
 * an orphan snapshot.
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

/* ---- the engine after injected failures ---- */

static void test_engine_reconciles(void **state)
{
    icp_engine e;
    icp_calls k;

    (void)state;
    /* a status that cannot connect (retried), a stop and a create whose
     * answers are lost (the effect happened): observed, not replayed */
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"conn\"},"
                    " {\"op\": \"stop\", \"canister\": \"" STORE "\", \"mode\": \"lost\"},"
                    " {\"op\": \"create\", \"canister\": \"" APP "\", \"mode\": \"lost\"}]");
    icp_engine_open(&e, "backup");
    icp_engine_backup(&e);
    icp_engine_close(&e);
    icp_verify(e.out);
    icp_read_calls(&k);
    /* one create per canister: the lost one was adopted from the list */
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create"), 3);
    assert_int_equal(icp_count_prefix(&k, "canister stop " STORE), 1);
    icp_free_calls(&k);
}

/* A backup through every transport text: the registry read, a status
 * and a list fail once with it (asked again), a stop and a create go
 * through and their answers are lost with it (observed, not replayed). */
static void test_engine_transport_texts(void **state)
{
    icp_engine e;
    size_t i;

    (void)state;
    for (i = 0; i < ICP_TRANSPORT_TEXT_COUNT; i++) {
        const char *t = icp_transport_texts[i];
        char faults[2048];
        sf_backup_config cfg;
        sf_backup_result res;
        sf_error err;
        icp_calls k;

        snprintf(faults, sizeof faults,
            "[{\"op\": \"registry\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"list\", \"canister\": \"" ROOT "\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"stop\", \"canister\": \"" STORE "\", \"mode\": \"lost\", \"text\": \"%s\"},"
            " {\"op\": \"create\", \"canister\": \"" APP "\", \"mode\": \"lost\", \"text\": \"%s\"}]",
            t, t, t, t, t);
        icp_write_state(faults);
        remove(icp_log_path);
        icp_engine_open(&e, "backup-%zu", i);
        icp_backup_config(&cfg, e.out);
        if (sf_backup_run(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
            fail_msg("backup through `%s`: %s (%s)", t, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        icp_engine_close(&e);
        icp_verify(e.out);
        icp_read_calls(&k);
        /* the registry is read for the plan and again before the stops;
         * the first read failed once and was asked again */
        assert_int_equal(icp_count_prefix(&k, "canister call"), 3);
        assert_int_equal(icp_count_prefix(&k, "canister snapshot create"), 3);
        assert_int_equal(icp_count_prefix(&k, "canister stop " STORE), 1);
        icp_free_calls(&k);
    }
}

static void test_engine_resumes_download(void **state)
{
    icp_engine e;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char want[PATH_MAX * 2], st[32];
    icp_calls k;

    (void)state;
    /* APP's download dies after metadata.json: outcome unknown, run fails,
     * canisters are started again; the rerun resumes with --resume */
    icp_write_state("[{\"op\": \"download\", \"canister\": \"" APP "\","
                    " \"mode\": \"partial\"}]");
    icp_engine_open(&e, "snap");
    icp_download_config(&cfg, e.out);
    assert_int_equal(sf_snapshot_download(&cfg, e.top, &e.clock, &res, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    icp_fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running"); /* containment */
    if (sf_snapshot_download(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
        fail_msg("rerun: %s (%s)", err.message, err.kind);
    assert_true(res.resumed);
    sf_snapshot_download_result_free(&res);
    icp_engine_close(&e);
    icp_verify(e.out);
    icp_read_calls(&k);
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp "
             "--resume -n ic", e.out, APP);
    icp_expect_called(&k, want);
    icp_free_calls(&k);
}

/* taken_at_timestamp of <artifact>/metadata.json. */
static uint64_t meta_taken_at(const char *artifact)
{
    char path[PATH_MAX + 64];
    sf_snapshot_meta m;
    sf_error err;
    uint64_t t;

    snprintf(path, sizeof path, "%s/metadata.json", artifact);
    if (sf_snapshot_meta_read_file(path, &m, &err) != SF_OK)
        fail_msg("%s", err.message);
    t = m.taken_at_timestamp;
    sf_snapshot_meta_free(&m);
    return t;
}

/* taken_at of a canister's newest snapshot in the fake's state. */
static uint64_t fake_newest_taken_at(const char *id)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *snaps;
    uint64_t t;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    snaps = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
                                "canisters"), id), "snapshots");
    t = (uint64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(snaps,
            cJSON_GetArraySize(snaps) - 1), "taken_at")->valuedouble;
    cJSON_Delete(root);
    free(text);
    return t;
}

/* Every chunk file of an artifact holds the bytes its name hashes to. */
static void chunks_match_names(const char *artifact)
{
    char path[PATH_MAX + 64], cmd[PATH_MAX * 2];
    FILE *ls;
    int n = 0;

    snprintf(cmd, sizeof cmd, "ls '%s/wasm_chunk_store'", artifact);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    while (fgets(path, sizeof path, ls) != NULL) {
        char file[PATH_MAX * 3], sum[SF_SHA256_HEX_SIZE];
        sf_error err;

        path[strcspn(path, "\n")] = '\0';
        snprintf(file, sizeof file, "%s/wasm_chunk_store/%s", artifact, path);
        assert_int_equal(sf_checksum_file(file, sum, &err), SF_OK);
        if (strncmp(path, sum, 64) != 0)
            fail_msg("%s holds bytes with SHA-256 %s", file, sum);
        n++;
    }
    pclose(ls);
    assert_true(n > 0);
}

/* A <id>.tmp left by a download of another snapshot: icp would resume
 * from its metadata.json and mix the two snapshots; it is discarded and
 * the snapshot downloaded clean. */
static void test_engine_stale_tmp_discarded(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char one[PATH_MAX + 32], two[PATH_MAX + 32], cmd[PATH_MAX * 5];
    char artifact[PATH_MAX + 64], line[8192];
    icp_calls k;
    size_t i;

    (void)state;
    snprintf(one, sizeof one, "%s/day1", icp_dir);
    snprintf(two, sizeof two, "%s/day2", icp_dir);
    d = icp_new_driver(&c);
    top = icp_stack(d, &clock);
    icp_download_config(&cfg, one);
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("day 1: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    /* day 1's complete download of APP, left as day 2's temp directory */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s/%s' '%s/%s.tmp'",
             two, one, APP, two, APP);
    assert_int_equal(system(cmd), 0);
    remove(icp_log_path);
    icp_download_config(&cfg, two);
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("day 2: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    icp_verify(two);
    snprintf(artifact, sizeof artifact, "%s/%s", two, APP);
    /* the artifact is day 2's snapshot, not day 1's metadata over day 2's
     * bytes */
    assert_true(meta_taken_at(artifact) == fake_newest_taken_at(APP));
    snprintf(artifact, sizeof artifact, "%s/%s", one, APP);
    assert_true(meta_taken_at(artifact) != fake_newest_taken_at(APP));
    icp_read_calls(&k);
    for (i = 0; i < k.count; i++) {
        icp_argv_text(&k, i, line, sizeof line);
        assert_null(strstr(line, "--resume"));
    }
    icp_free_calls(&k);
}

/* icp is killed halfway through writing a chunk file; the rerun resumes,
 * icp skips the chunk because the file exists, and the check finds it
 * short: removed, resumed again, and the artifact's chunk is whole. */
static void test_engine_truncated_chunk_repaired(void **state)
{
    icp_engine e;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char artifact[PATH_MAX + 64], want[PATH_MAX * 2];
    icp_calls k;

    (void)state;
    icp_write_state("[{\"op\": \"download\", \"canister\": \"" APP "\","
                    " \"mode\": \"truncate-chunk\"}]");
    icp_engine_open(&e, "snap");
    icp_download_config(&cfg, e.out);
    assert_int_equal(sf_snapshot_download(&cfg, e.top, &e.clock, &res, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    if (sf_snapshot_download(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
        fail_msg("rerun: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    icp_engine_close(&e);
    icp_verify(e.out);
    snprintf(artifact, sizeof artifact, "%s/%s", e.out, APP);
    chunks_match_names(artifact);
    icp_read_calls(&k);
    /* the first resume kept the short chunk, the second fetched it */
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp "
             "--resume -n ic", e.out, APP);
    assert_int_equal(icp_count_prefix(&k, want), 2);
    icp_free_calls(&k);
}

/* Appends a fault rule to the fake's state, keeping the fleet as it is. */
static void add_fault(const char *rule)
{
    /* Spliced into the text rather than rewritten through cJSON, whose
     * printer turns the u64 taken_at values into floats. */
    char *text, *key, *open, *out;
    const char *after;
    size_t len, head;
    int empty;
    sf_error err;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    key = strstr(text, "\"faults\"");
    assert_non_null(key);
    open = strchr(key, '[');
    assert_non_null(open);
    after = open + 1;
    while (*after == ' ' || *after == '\n' || *after == '\t' ||
           *after == '\r')
        after++;
    empty = *after == ']';
    head = (size_t)(open + 1 - text);
    out = malloc(len + strlen(rule) + 2);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, rule, strlen(rule));
    memcpy(out + head + strlen(rule), empty ? "" : ",", empty ? 0 : 1);
    memcpy(out + head + strlen(rule) + (empty ? 0 : 1), open + 1,
           len - head + 1);
    assert_int_equal(sf_fs_write_atomic_untracked(
                         icp_state_path, out, strlen(out), &err),
                     SF_OK);
    free(out);
    free(text);
}

/* A string field of a canister in the fake's state ("" when null or
 * absent). */
static void fake_field(const char *id, const char *field, char *out, size_t cap)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *v;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
                            "canisters"), id), field);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(root);
    free(text);
}

/* A backup of the fleet, then a restore of it with one more fault rule;
 * the restore must complete. */
static void backup_then_restore(const char *rule, const char *name)
{
    icp_engine e;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_restore_config rc;
    sf_restore_result rr;
    sf_error err;

    icp_engine_open(&e, "%s", name);
    icp_backup_config(&cfg, e.out);
    if (sf_backup_run(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    sf_backup_result_free(&res);
    add_fault(rule);
    remove(icp_log_path);
    memset(&rc, 0, sizeof rc);
    rc.backup = e.out;
    rc.mode = SF_RESTORE_MODE_EXECUTE;
    rc.force_upload = true; /* the upload path is what these cases test */
    if (sf_restore_run(&rc, e.top, &e.clock, &rr, &err) != SF_OK)
        fail_msg("restore: %s (%s)", err.message, err.kind);
    assert_true(rr.complete);
    sf_restore_result_free(&rr);
    icp_engine_close(&e);
}

/* The metadata call of APP's upload made the target snapshot, and its
 * reply was lost: no `Created` line, no progress file, an empty snapshot
 * on the canister. It is never loaded: deleted, the upload made again, and
 * APP ends with its module. */
static void test_engine_upload_lost_metadata_reply(void **state)
{
    char mh[80], loaded[80], want[256];
    icp_calls k;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" APP "\","
                        " \"mode\": \"lost-metadata\"}", "lost-meta");
    fake_field(APP, "loaded_partial", loaded, sizeof loaded);
    assert_string_equal(loaded, "");
    fake_field(APP, "module_hash", mh, sizeof mh);
    assert_string_equal(mh, HASH_B);
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot upload " APP), 2);
    snprintf(want, sizeof want, "canister snapshot delete " APP " ");
    assert_int_equal(icp_count_prefix(&k, want), 1);
    icp_free_calls(&k);
    /* what is left on APP: the backup's snapshot and the restored one */
    assert_int_equal(icp_fake_snapshots(APP, NULL), 2);
}

/* icp is killed during APP's upload, after the metadata call: its
 * progress file stays, and the upload is resumed with --resume into the
 * same snapshot; nothing is deleted. */
static void test_engine_upload_killed_resumes(void **state)
{
    char loaded[80], line[8192];
    icp_calls k;
    size_t i, resumed = 0;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" APP "\","
                        " \"mode\": \"cut\"}", "cut");
    fake_field(APP, "loaded_partial", loaded, sizeof loaded);
    assert_string_equal(loaded, "");
    icp_read_calls(&k);
    for (i = 0; i < k.count; i++) {
        icp_argv_text(&k, i, line, sizeof line);
        if (strncmp(line, "canister snapshot upload " APP, 34) == 0 &&
            strstr(line, " --resume") != NULL)
            resumed++;
    }
    assert_int_equal(resumed, 1);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot upload " APP), 2);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot delete"), 0);
    icp_free_calls(&k);
    assert_int_equal(icp_fake_snapshots(APP, NULL), 2);
}

/* icp's own retry of a metadata call left an empty snapshot beside the
 * one it filled: the upload succeeded, and the orphan is deleted. */
static void test_engine_upload_orphan_deleted(void **state)
{
    icp_calls k;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" STORE "\","
                        " \"mode\": \"orphan\"}", "orphan");
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot upload " STORE), 1);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot delete " STORE), 1);
    icp_free_calls(&k);
    /* STORE's own snapshot, the backup's, the restored one */
    assert_int_equal(icp_fake_snapshots(STORE, SNAP), 3);
}

/* icp 1.5.0's --resume needs the progress file. */
static void test_fake_upload_resume_needs_progress(void **state)
{
    sf_icp_config c = icp_base_config();
    char path[PATH_MAX + 64], meta[PATH_MAX + 96];
    sf_driver *d;
    sf_op op;
    sf_result r;

    (void)state;
    icp_write_state_with("[]", "Stopped");
    snprintf(path, sizeof path, "%s/up", icp_dir);
    snprintf(meta, sizeof meta, "%s/metadata.json", path);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    d = icp_new_driver(&c);
    op = icp_op_of(SF_OP_UPLOAD, STORE, NULL, path);
    op.resume = true;
    icp_run_op(d, &op, &r);
    icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected");
    assert_non_null(strstr(r.err.message, "Cannot resume: no upload progress "
                           "file found"));
    sf_result_free(&r);
    /* a fresh upload leaves no progress file behind */
    op.resume = false;
    icp_run_op(d, &op, &r);
    icp_expect_ok(&r);
    sf_result_free(&r);
    snprintf(meta, sizeof meta, "%s/.upload_progress.json", path);
    assert_int_equal(access(meta, F_OK), -1);
    sf_driver_destroy(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_reconciles, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_transport_texts, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_stale_tmp_discarded, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_lost_metadata_reply, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_killed_resumes, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_orphan_deleted, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_upload_resume_needs_progress, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_truncated_chunk_repaired, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_resumes_download, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
