/* Whole runs when memory runs out (tests/support/oom.h): a planned backup,
 * canic's direct capture and a restore of a simulated fleet, with the
 * first allocation of every distinct call path made to fail in turn (the
 * simulator's own allocations never fail). Each run either completes as
 * without a failure, or fails with kind "out-of-memory" and nothing
 * leaked; then the next run (a rerun of the same command, as an operator
 * would) completes, the backup verifies and the fleet's invariants hold:
 * nothing left stopped, no snapshot without a record, every artifact
 * checksummed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"
#include "restore_fixture.h"
#include "sim_fixture.h"
#include "snapfleet/backup.h"
#include "snapfleet/layout.h"
#include "snapfleet/restore.h"

typedef struct run_ctx {
    sf_fx f;
    sf_driver *od;
    char out[1200];
    int what; /* BACKUP, DOWNLOAD, RESTORE */
    unsigned jobs; /* operations at once */
    sf_backup_result br;
    sf_snapshot_download_result dr;
    sf_restore_result rr;
    sf_rfx_capture cap;
} run_ctx;

enum { BACKUP, DOWNLOAD, RESTORE };

static int setup(void **state)
{
    run_ctx *x = calloc(1, sizeof *x);

    if (x == NULL)
        return -1;
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    run_ctx *x = *state;

    sf_fx_teardown(&x->f);
    free(x);
    return 0;
}

static void rm_rf(const char *path)
{
    char cmd[1300 + 16]; /* the 1300-byte paths of the fixture, quoted */

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* The fleet as saved, a fresh driver stack with the suspending driver on
 * top, and no trace of an earlier run. */
static void prep(void *ctx)
{
    run_ctx *x = ctx;
    char restore_dir[1300];

    sf_fx_unstack(&x->f);
    sf_fx_reload(&x->f);
    sf_fx_stack(&x->f, NULL, false);
    x->od = sf_oom_driver_new(x->f.top);
    assert_non_null(x->od);
    x->f.top = x->od;
    if (x->what == RESTORE) {
        snprintf(restore_dir, sizeof restore_dir, "%s/%s", x->out,
                 SF_RESTORE_DIR_NAME);
        rm_rf(restore_dir);
    } else {
        rm_rf(x->out);
    }
    memset(&x->br, 0, sizeof x->br);
    memset(&x->dr, 0, sizeof x->dr);
    memset(&x->rr, 0, sizeof x->rr);
}

static int run(run_ctx *x, sf_restore_mode mode, sf_error *err)
{
    sf_backup_config bc;
    sf_snapshot_download_config dc;
    sf_restore_config rc;

    sf_backup_result_free(&x->br);
    sf_snapshot_download_result_free(&x->dr);
    sf_restore_result_free(&x->rr);
    switch (x->what) {
    case BACKUP:
        sf_fx_backup_config(&bc, &x->f, x->out);
        bc.jobs = x->jobs;
        return sf_fx_backup(&x->f, &bc, &x->br, err);
    case DOWNLOAD:
        sf_fx_download_config(&dc, &x->f, x->out);
        dc.jobs = x->jobs;
        return sf_fx_download(&x->f, &dc, &x->dr, err);
    default:
        sf_rfx_config(&rc, x->out, mode);
        rc.jobs = x->jobs;
        return sf_rfx_run(&x->f, &rc, &x->rr, err);
    }
}

static int body(void *ctx, sf_error *err)
{
    return run(ctx, SF_RESTORE_MODE_EXECUTE, err);
}

static void check_ok(void *ctx)
{
    run_ctx *x = ctx;

    switch (x->what) {
    case BACKUP:
        assert_true(x->br.complete);
        sf_fx_assert_verifies(x->out);
        sf_fx_assert_invariants(&x->f, x->out, false);
        break;
    case DOWNLOAD:
        sf_fx_assert_verifies(x->out);
        break;
    default:
        assert_true(x->rr.complete);
        sf_rfx_assert_journal_complete(x->out, NULL);
        sf_rfx_assert_restored(x->f.sim, &x->cap, NULL);
        sf_rfx_assert_statuses_as(x->f.before, x->f.sim);
        break;
    }
}

/* What an operator does next: run the command again. A restore whose
 * journal holds a failed or pending operation takes --retry-failed or
 * --unclaim-pending first, as `restore status` would say. */
static void check_failed(void *ctx, const sf_error *failure)
{
    run_ctx *x = ctx;
    sf_error err;
    int attempt;

    for (attempt = 0; attempt < 4; attempt++) {
        if (run(x, SF_RESTORE_MODE_EXECUTE, &err) == SF_OK &&
            (x->what != RESTORE || x->rr.complete))
            break;
        if (x->what != RESTORE)
            fail_msg("rerun after \"%s\": %s (%s)", failure->message,
                     err.message, err.kind ? err.kind : "?");
        if (run(x, SF_RESTORE_MODE_RETRY_FAILED, &err) != SF_OK)
            run(x, SF_RESTORE_MODE_UNCLAIM_PENDING, &err);
    }
    if (attempt == 4)
        fail_msg("a restore after \"%s\" does not complete: %s",
                 failure->message, err.message);
    check_ok(x);
}

static void cleanup(void *ctx)
{
    run_ctx *x = ctx;

    sf_backup_result_free(&x->br);
    sf_snapshot_download_result_free(&x->dr);
    sf_restore_result_free(&x->rr);
    memset(&x->br, 0, sizeof x->br);
    memset(&x->dr, 0, sizeof x->dr);
    memset(&x->rr, 0, sizeof x->rr);
    x->f.top = x->f.trace;
    sf_driver_destroy(x->od);
    x->od = NULL;
}

static void fleet(run_ctx *x, const char *tag)
{
    sf_rfx_fleet(&x->f, tag, 11, 3);
    sf_fx_save(&x->f);
    snprintf(x->out, sizeof x->out, "%s/out", x->f.dir);
}

static void test_backup_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"backup", prep, body, check_ok, check_failed, cleanup};

    fleet(x, "oom-backup");
    x->what = BACKUP;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

static void test_snapshot_download_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"snapshot download", prep, body, check_ok, check_failed,
                     cleanup};

    fleet(x, "oom-download");
    x->what = DOWNLOAD;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

/* The same with 4 operations in flight: the pool, the scheduler and
 * every task's allocations fail in turn. */
static void test_backup_jobs_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"backup --jobs 4", prep, body, check_ok, check_failed,
                     cleanup};

    fleet(x, "oom-backup-jobs");
    x->what = BACKUP;
    x->jobs = 4;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

static void test_snapshot_download_jobs_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"snapshot download --jobs 4", prep, body, check_ok,
                     check_failed, cleanup};

    fleet(x, "oom-download-jobs");
    x->what = DOWNLOAD;
    x->jobs = 4;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

static void test_restore_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"restore", prep, body, check_ok, check_failed, cleanup};

    fleet(x, "oom-restore");
    sf_rfx_backup(&x->f, x->out, NULL, &x->cap);
    sf_fx_snap_before(&x->f);
    x->what = RESTORE;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

/* The same with 4 operations in flight. */
static void test_restore_jobs_out_of_memory(void **state)
{
    run_ctx *x = *state;
    sf_oom_case c = {"restore --jobs 4", prep, body, check_ok, check_failed,
                     cleanup};

    fleet(x, "oom-restore-jobs");
    sf_rfx_backup(&x->f, x->out, NULL, &x->cap);
    sf_fx_snap_before(&x->f);
    x->what = RESTORE;
    x->jobs = 4;
    assert_true(sf_oom_sweep(&c, x, true) > 50);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_out_of_memory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backup_jobs_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_jobs_out_of_memory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_jobs_out_of_memory,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
