/*
 * The engine through the icp driver and the fake icp: a full `snapshot
 * download`, a planned `backup`, daily retention, replace at the snapshot
 * limit, a restore and a dry run of a three-canister fleet, checked
 * against the recorded commands and by the offline integrity check.
 * Recovery after injected failures is in test_icp_recovery.c.
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

/* ---- the engine through the driver ---- */

static void test_engine_snapshot_download(void **state)
{
    icp_engine e;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char want[PATH_MAX * 2], st[32];
    icp_calls k;
    const char *ids[] = {ROOT, APP, STORE};

    (void)state;
    icp_engine_open(&e, "snap");
    icp_download_config(&cfg, e.out);
    if (sf_snapshot_download(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
        fail_msg("snapshot download: %s (%s)", err.message, err.kind);
    assert_int_equal(res.artifact_count, 3);
    sf_snapshot_download_result_free(&res);
    icp_engine_close(&e);
    icp_verify(e.out);

    icp_read_calls(&k);
    icp_expect_called(&k, "canister call " ROOT " canic_subnet_registry () --query "
                      "--json -n ic");
    for (size_t i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "canister stop %s -n ic", ids[i]);
        icp_expect_called(&k, want);
        snprintf(want, sizeof want, "canister snapshot create %s --json -n ic",
                 ids[i]);
        icp_expect_called(&k, want);
        snprintf(want, sizeof want, "canister start %s -n ic", ids[i]);
        icp_expect_called(&k, want);
        icp_fake_status(ids[i], st, sizeof st);
        assert_string_equal(st, "Running");
    }
    /* the new snapshot of APP is the first the fake made for it */
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp -n ic",
             e.out, APP);
    icp_expect_called(&k, want);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot download"), 3);
    icp_free_calls(&k);
}

static void test_engine_backup(void **state)
{
    icp_engine e;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char st[32];
    icp_calls k;

    (void)state;
    icp_engine_open(&e, "backup");
    icp_engine_backup(&e);
    /* a rerun of a complete backup does nothing */
    icp_backup_config(&cfg, e.out);
    icp_read_calls(&k);
    {
        size_t before = k.count;
        icp_free_calls(&k);
        if (sf_backup_run(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
            fail_msg("rerun: %s", err.message);
        assert_true(res.complete);
        assert_int_equal(res.executed, 0);
        sf_backup_result_free(&res);
        icp_read_calls(&k);
        assert_int_equal(icp_count_prefix(&k, "canister stop"), 3);
        assert_true(k.count <= before + 1); /* at most a registry read */
    }
    icp_engine_close(&e);
    icp_verify(e.out);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create"), 3);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot download"), 3);
    assert_int_equal(icp_count_prefix(&k, "canister start"), 3);
    icp_fake_status(STORE, st, sizeof st);
    assert_string_equal(st, "Running");
    icp_free_calls(&k);
}

/* Daily backups through the fake icp with on-canister retention keeping
 * 1: each day deletes the day before's snapshots with `icp canister
 * snapshot delete`, and STORE's snapshot that no backup made stays. */
static void test_engine_daily_retention(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32];
    icp_calls k;
    int day;

    (void)state;
    d = icp_new_driver(&c);
    top = icp_stack(d, &clock);
    for (day = 1; day <= 3; day++) {
        snprintf(out, sizeof out, "%s/backups/day%d", icp_dir, day);
        icp_backup_config(&cfg, out);
        cfg.retain_on_canister = true;
        cfg.keep_on_canister = 1;
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("day %d: %s (%s)", day, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        assert_int_equal(icp_fake_snapshots(ROOT, NULL), 1);
        assert_int_equal(icp_fake_snapshots(APP, NULL), 1);
        assert_int_equal(icp_fake_snapshots(STORE, SNAP), 2);
    }
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot delete"), 6);
    icp_free_calls(&k);
}

/* The fake's per-canister snapshot limit (a create beyond it is
 * rejected as the IC rejects it). */
static void set_fake_limit(unsigned limit)
{
    char *text, *both;
    size_t len;
    sf_error err;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    assert_true(len > 1 && text[0] == '{');
    both = malloc(len + 64);
    assert_non_null(both);
    len = (size_t)sprintf(both, "{\"snapshot_limit\": %u, %s", limit, text + 1);
    assert_int_equal(sf_fs_write_atomic_untracked(icp_state_path, both, len, &err),
                     SF_OK);
    free(both);
    free(text);
}

/* At the limit through the fake icp: the create becomes `icp canister
 * snapshot create ... --replace <oldest snapfleet snapshot>`; STORE's
 * snapshot that no backup made stays; keeping 2 with a limit of 2, every
 * day from the second replaces. */
static void test_engine_replace_at_limit(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32];
    icp_calls k;
    int day;

    (void)state;
    set_fake_limit(2);
    d = icp_new_driver(&c);
    top = icp_stack(d, &clock);
    for (day = 1; day <= 3; day++) {
        snprintf(out, sizeof out, "%s/backups/day%d", icp_dir, day);
        icp_backup_config(&cfg, out);
        cfg.retain_on_canister = true;
        cfg.keep_on_canister = 2;
        cfg.snapshot_limit = 2;
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("day %d: %s (%s)", day, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        assert_int_equal(icp_fake_snapshots(ROOT, NULL), day < 2 ? 1 : 2);
        assert_int_equal(icp_fake_snapshots(STORE, SNAP), 2);
        icp_verify(out);
    }
    icp_read_calls(&k);
    /* STORE on days 2 and 3, ROOT and APP on day 3 */
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create " STORE " --replace "), 2);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create " ROOT " --replace "), 1);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create " APP " --replace "), 1);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot delete"), 0);
    icp_free_calls(&k);
    /* a limit of 1: STORE holds only a snapshot no backup made, so the run
     * fails before stopping anything */
    icp_write_state("[]");
    set_fake_limit(1);
    remove(icp_log_path);
    snprintf(out, sizeof out, "%s/full/day1", icp_dir);
    icp_backup_config(&cfg, out);
    cfg.snapshot_limit = 1;
    assert_int_equal(sf_backup_run(&cfg, top, &clock, &res, &err), SF_ERR);
    sf_backup_result_free(&res);
    assert_string_equal(err.kind, "snapshot-limit-reached");
    assert_non_null(strstr(err.message, STORE));
    assert_non_null(strstr(err.message, SNAP " (not made by snapfleet)"));
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister stop"), 0);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot create"), 0);
    icp_free_calls(&k);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
}

/* A backup and then a restore of it, both through the real driver code
 * against the fake icp: the restore's uploads (--upload) go without
 * --resume the first time, loads use the id each upload returned, and
 * every canister ends running and verified; a second restore without
 * --upload loads the snapshots still on the canisters, uploading nothing. */
static void test_engine_restore(void **state)
{
    icp_engine e;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_restore_config rc;
    sf_restore_result rr;
    sf_error err;
    char st[32];
    icp_calls k;
    size_t before, i;

    (void)state;
    icp_engine_open(&e, "restore-src");
    icp_backup_config(&cfg, e.out);
    if (sf_backup_run(&cfg, e.top, &e.clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    sf_backup_result_free(&res);
    icp_read_calls(&k);
    before = k.count;
    icp_free_calls(&k);
    memset(&rc, 0, sizeof rc);
    rc.backup = e.out;
    rc.mode = SF_RESTORE_MODE_EXECUTE;
    rc.force_upload = true;
    if (sf_restore_run(&rc, e.top, &e.clock, &rr, &err) != SF_OK)
        fail_msg("restore: %s (%s)", err.message, err.kind);
    assert_true(rr.complete);
    sf_restore_result_free(&rr);
    {
        /* again without --upload: the backed-up snapshots are still on
         * the canisters, listed as recorded, and are loaded from there */
        char again[PATH_MAX + 32];

        snprintf(again, sizeof again, "%s/restore-again", icp_dir);
        rc.force_upload = false;
        rc.restore_dir = again;
        if (sf_restore_run(&rc, e.top, &e.clock, &rr, &err) != SF_OK)
            fail_msg("restore from the canisters: %s (%s)", err.message, err.kind);
        assert_true(rr.complete);
        sf_restore_result_free(&rr);
    }
    icp_engine_close(&e);
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot upload"), 3);
    assert_int_equal(icp_count_prefix(&k, "canister snapshot restore"), 6);
    for (i = before; i < k.count; i++) {
        char line[8192];
        icp_argv_text(&k, i, line, sizeof line);
        assert_null(strstr(line, "--resume"));
    }
    for (i = 0; i < 3; i++) {
        const char *ids[] = {ROOT, APP, STORE};
        icp_fake_status(ids[i], st, sizeof st);
        assert_string_equal(st, "Running");
    }
    icp_free_calls(&k);
}

static void test_engine_backup_dry_run(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32], want[PATH_MAX * 4], reg[PATH_MAX + 32];
    const char *json = "{\"Ok\": [{\"pid\": \"" ROOT "\", \"role\": \"root\","
        " \"record\": {\"parent_pid\": null, \"module_hash\": \"" HASH_A "\"}},"
        " {\"pid\": \"" APP "\", \"role\": \"app\", \"record\": {\"parent_pid\":"
        " \"" ROOT "\", \"module_hash\": null}}]}";
    icp_calls k;

    (void)state;
    snprintf(out, sizeof out, "%s/dry", icp_dir);
    snprintf(reg, sizeof reg, "%s/registry.json", icp_dir);
    assert_int_equal(sf_fs_write_atomic_untracked(reg, json, strlen(json), NULL),
                     SF_OK);
    c.icp = "icp";
    c.network = "http://127.0.0.1:9";
    c.root_key = "mainnet";
    c.registry_file = reg;
    d = icp_new_driver(&c);
    icp_backup_config(&cfg, out);
    cfg.network = "http://127.0.0.1:9";
    cfg.dry_run = true;
    if (sf_backup_run(&cfg, d, &clock, &res, &err) != SF_OK)
        fail_msg("dry run: %s (%s)", err.message, err.kind);
    snprintf(want, sizeof want,
             "icp canister stop " ROOT " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister stop " APP " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot create " ROOT " --json"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot create " APP " --json"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister start " APP " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister start " ROOT " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot download " ROOT " '<snapshot-id>' --output %s/%s.tmp"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot download " APP " '<snapshot-id>' --output %s/%s.tmp"
             " -n http://127.0.0.1:9 -k mainnet\n", out, ROOT, out, APP);
    if (strcmp(sf_buf_cstr(&res.planned_commands), want) != 0)
        fail_msg("dry run printed:\n%s\nwanted:\n%s",
                 sf_buf_cstr(&res.planned_commands), want);
    sf_backup_result_free(&res);
    sf_driver_destroy(d);
    icp_read_calls(&k);
    assert_int_equal(k.count, 0); /* a dry run with a registry file runs nothing */
    icp_free_calls(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_engine_snapshot_download, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_daily_retention, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_replace_at_limit, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_restore, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup_dry_run, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
