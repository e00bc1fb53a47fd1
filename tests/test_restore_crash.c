/*
 * The restore crash matrix (decisions 5.1 and 5.4, issue 5): for every
 * durable write a restore of a small fleet makes, a run is killed
 * (SIGKILL, as kill -9) right after that write; the operator then runs
 * --unclaim-pending (nothing pending is fine) and --execute, and the
 * fleet ends restored: every target has the digest, module hash and
 * status that were backed up, exactly one snapshot was uploaded to each
 * target beyond those it had before the restore (nothing uploaded twice;
 * none when the snapshots still on the canisters are loaded from there),
 * the apply journal is complete and no staged copy or temporary file is
 * left in the restore directory.
 *
 * The killed run is a forked child whose simulator saves its state file
 * after every effect, so the "IC" is exactly as far as the child got; the
 * parent reloads it and recovers through a fresh driver stack.
 *
 * A restore's transitions are appends to its transition log and its apply
 * journal and observations are checkpoints (docs/transition-log.md): the
 * durable writes counted (crash-after-writes=N) are every log append and
 * every step of every checkpoint (the marker, then each document written).
 * Each matrix runs twice: killed right after each write, and with that
 * write torn (torn-write=N: half a log record, a document's temporary file
 * with half its bytes never renamed, a rename not made), then killed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "restore_fixture.h"
#include "snapfleet/faults.h"
#include "snapfleet/restore.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"

#define SEED 2
#define CANISTERS 3

/* test_restore_crash_jobs.c and test_restore_crash_torn_jobs.c: every
 * run (the killed one, the recovery) with this many jobs */
#ifndef SF_RESTORE_CRASH_JOBS
#define SF_RESTORE_CRASH_JOBS 0
#endif
/* what a killed run may leave claimed: one per job in flight */
#define CLAIMS_MAX (SF_RESTORE_CRASH_JOBS > 1 ? SF_RESTORE_CRASH_JOBS : 1)

typedef struct job {
    sf_fx f;
    sf_rfx_capture cap;
    char out[700];
    char pre[700];      /* the fleet right before the restore */
    char mapping[700];  /* "" for in place */
    const char *targets[SF_RFX_MAX_MEMBERS]; /* where each member goes */
    char target_ids[SF_RFX_MAX_MEMBERS][SF_PRINCIPAL_TEXT_MAX];
    bool from_canister; /* no --upload: snapshots still on the canisters load from there */
    bool tear;          /* tear the k-th write instead of killing after it */
} job;

static int setup(void **state)
{
    job *j = calloc(1, sizeof *j);

    if (j == NULL)
        return -1;
    sf_rfx_fleet(&j->f, "rc", SEED, CANISTERS);
    snprintf(j->out, sizeof j->out, "%s", sf_fx_path(&j->f, "backup"));
    snprintf(j->pre, sizeof j->pre, "%s", sf_fx_path(&j->f, "pre.json"));
    *state = j;
    return 0;
}

static int teardown(void **state)
{
    job *j = *state;

    sf_crash_after_writes_install(0);
    sf_fx_teardown(&j->f);
    free(j);
    return 0;
}

static void config(const job *j, sf_restore_config *c, sf_restore_mode mode)
{
    sf_rfx_config(c, j->out, mode);
    c->mapping = j->mapping[0] != '\0' ? j->mapping : NULL;
    c->force_upload = !j->from_canister;
    c->jobs = SF_RESTORE_CRASH_JOBS;
}

/* The child's run: a plain --execute through the fixture's stack. */
static int child_restore(sf_fx *f, void *ctx)
{
    const job *j = ctx;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    int rc;

    config(j, &c, SF_RESTORE_MODE_EXECUTE);
    rc = sf_restore_run(&c, f->top, &f->clock, &r, &err);
    if (rc == SF_OK && !r.complete)
        rc = SF_ERR;
    sf_restore_result_free(&r);
    return rc;
}

/* Puts the fleet back to how it was before the restore and removes the
 * restore directory. */
static void rewind_fleet(job *j)
{
    sf_sim *pre;
    sf_error err;
    char *dir;

    sf_fx_unstack(&j->f);
    if (sf_sim_load(j->pre, &pre, &err) != SF_OK ||
        sf_sim_save(pre, j->f.state, &err) != SF_OK)
        fail_msg("rewinding the fleet: %s", err.message);
    sf_sim_free(pre);
    sf_fx_reload(&j->f);
    dir = sf_rfx_restore_path(j->out, NULL, NULL);
    if (sf_remove_tree(dir, &err) != SF_OK)
        fail_msg("removing %s: %s", dir, err.message);
    free(dir);
}

static void run_mode(job *j, sf_restore_mode mode, sf_restore_result *r,
                     sf_error *err, int *rc)
{
    sf_restore_config c;

    config(j, &c, mode);
    *rc = sf_rfx_run(&j->f, &c, r, err);
}

/* What an operator does after a kill: --unclaim-pending (nothing pending
 * is fine: the kill came between operations; with jobs it releases every
 * claim), then --execute, which must complete: a kill leaves claims,
 * never a failure, so --retry-failed is never needed. */
static void recover(job *j, uint64_t k)
{
    sf_restore_result r;
    sf_error err;
    int rc;

    sf_fx_stack(&j->f, NULL, false);
    run_mode(j, SF_RESTORE_MODE_UNCLAIM_PENDING, &r, &err, &rc);
    sf_restore_result_free(&r);
    if (rc != SF_OK && strcmp(err.kind, "no-pending-operation") != 0 &&
        strcmp(err.kind, "no-transitionable-operation") != 0)
        fail_msg("k=%llu: --unclaim-pending: %s (%s)", (unsigned long long)k,
                 err.message, err.kind);
    run_mode(j, SF_RESTORE_MODE_EXECUTE, &r, &err, &rc);
    if (rc != SF_OK || !r.complete) {
        sf_restore_result_free(&r);
        fail_msg("k=%llu: --execute after the kill: %s (%s)", (unsigned long long)k,
                 rc != SF_OK ? err.message : "incomplete",
                 rc != SF_OK ? err.kind : "-");
    }
    sf_restore_result_free(&r);
}

static size_t entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* Checks the fleet, the journal and the restore directory; returns
 * whether every staged copy is gone (reported by the caller, so one
 * leftover does not hide what the other crash points do). */
static bool assert_done(job *j, uint64_t k)
{
    char *staging = sf_rfx_restore_path(j->out, NULL, "staging");
    char *dir = sf_rfx_restore_path(j->out, NULL, NULL);
    sf_buf names;
    bool clean;

    print_message("k=%llu: checking the fleet\n", (unsigned long long)k);
    sf_rfx_assert_restored(j->f.sim, &j->cap, j->targets);
    if (j->from_canister) {
        /* loaded from the snapshots still on the canisters: none uploaded */
        if (sf_fx_new_snapshots_total(j->f.before, j->f.sim) != 0)
            fail_msg("k=%llu: %zu snapshot(s) uploaded, none expected",
                     (unsigned long long)k,
                     sf_fx_new_snapshots_total(j->f.before, j->f.sim));
    } else {
        sf_rfx_assert_one_new_snapshot(j->f.before, j->f.sim, j->targets, j->cap.n);
    }
    sf_rfx_assert_untouched_except(j->f.before, j->f.sim, j->targets, j->cap.n);
    sf_rfx_assert_journal_complete(j->out, NULL);
    /* no temporary file is left */
    sf_buf_init(&names);
    if (sf_fx_leftovers(dir, &names) != 0)
        fail_msg("k=%llu: leftovers in %s:\n%s", (unsigned long long)k, dir,
                 sf_buf_cstr(&names));
    sf_buf_free(&names);
    /* every staged copy is gone */
    clean = entries(staging) == 0;
    free(staging);
    free(dir);
    return clean;
}

/* The journal a killed run leaves: valid, with at most one claim per job
 * (one without jobs). */
static void assert_killed_state(job *j, uint64_t k)
{
    char *path = sf_rfx_restore_path(j->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    struct stat st;

    if (stat(path, &st) == 0) {
        sf_restore_journal jr;

        sf_rfx_read_journal(j->out, NULL, &jr);
        if (jr.pending_operations > CLAIMS_MAX || jr.failed_operations != 0)
            fail_msg("k=%llu: killed run left %llu pending, %llu failed",
                     (unsigned long long)k,
                     (unsigned long long)jr.pending_operations,
                     (unsigned long long)jr.failed_operations);
        sf_restore_journal_free(&jr);
    }
    free(path);
}

static void matrix(job *j)
{
    sf_restore_config c;
    sf_error err;
    sf_fx_writes w;
    uint64_t n, k, appends;
    int code;
    sf_buf staged;

    if (sf_sim_save(j->f.sim, j->pre, &err) != SF_OK)
        fail_msg("saving the fleet: %s", err.message);
    sf_fx_snap_before(&j->f);
    /* the reference: an uninterrupted restore, its durable writes counted */
    sf_fx_stack(&j->f, NULL, true);
    config(j, &c, SF_RESTORE_MODE_EXECUTE);
    memset(&w, 0, sizeof w);
    sf_fx_writes_begin(&w);
    sf_rfx_run_complete(&j->f, &c);
    sf_fx_writes_end(&w);
    n = w.n;
    assert_true(assert_done(j, 0));
    print_message("reference restore: %llu durable writes\n",
                  (unsigned long long)n);
    /* what crash-after-writes counts is what the matrix walks: every log
     * append (a claim and a commit per operation, the observations) and
     * every checkpoint step (the first run's plan and journal, the
     * markers, the documents on exit) */
    appends = sf_fx_writes_count(&w, SF_TRANSITION_LOG_FILE_NAME);
    assert_true(appends >= 2 * 5 * j->cap.n + 2);
    assert_true(sf_fx_writes_count(&w, SF_RESTORE_JOURNAL_FILE_NAME) >= 2);
    assert_true(sf_fx_writes_count(&w, SF_RESTORE_OBSERVATIONS_FILE_NAME) >= 1);
    assert_true(sf_fx_writes_count(&w, SF_RESTORE_PLAN_FILE_NAME) == 1);
    sf_fx_writes_free(&w);
    sf_buf_init(&staged);
    for (k = 1; k <= n + 1; k++) {
        bool killed;

        rewind_fleet(j);
        killed = j->tear ? sf_fx_torn_run(&j->f, k, child_restore, j, &code)
                         : sf_fx_crash_run(&j->f, k, child_restore, j, &code);
        if (k <= n && !killed)
            fail_msg("k=%llu of %llu: the child was not killed (exit %d)",
                     (unsigned long long)k, (unsigned long long)n, code);
        if (k > n) {
            /* one past the last write: the run completes on its own */
            assert_false(killed);
            assert_int_equal(code, 0);
        } else {
            assert_killed_state(j, k);
            recover(j, k);
        }
        if (!assert_done(j, k))
            sf_buf_printf(&staged, " %llu", (unsigned long long)k);
        sf_fx_unstack(&j->f);
    }
    /* Regression (fixed): a kill after an upload's completion is journaled and before
     * its staged copy is removed (run_execute in core/engine/restore_run.c
     * removes staging/<seq> only right after that journal write) leaves
     * the copy behind for good: no later run looks at completed uploads
     * again, so a full private copy of the artifact stays in staging/. */
    if (staged.len != 0) {
        print_error("staged copies left behind after a kill at write(s)%s\n",
                    sf_buf_cstr(&staged));
        sf_buf_free(&staged);
        fail();
    }
    sf_buf_free(&staged);
}

static void in_place_targets(job *j)
{
    size_t i;

    for (i = 0; i < j->cap.n; i++)
        j->targets[i] = j->cap.m[i].id;
}

/* Whole fleet in place; one canister was stopped before the backup and
 * must stay stopped through every crash. */
static void test_crash_matrix_in_place(void **state)
{
    job *j = *state;
    const char *last = sf_fx_id(j->f.sim, CANISTERS - 1);
    char last_id[SF_PRINCIPAL_TEXT_MAX];
    size_t i;

    snprintf(last_id, sizeof last_id, "%s", last);
    sf_fx_set_status(&j->f, last_id, SF_STATUS_STOPPED);
    sf_rfx_backup(&j->f, j->out, NULL, &j->cap);
    assert_int_equal(j->cap.n, CANISTERS);
    for (i = 0; i < j->cap.n; i++)
        sf_rfx_mutate(&j->f, j->cap.m[i].id);
    in_place_targets(j);
    matrix(j);
    assert_int_equal(sf_fx_status(j->f.sim, last_id), SF_STATUS_STOPPED);
}

#ifndef SF_RESTORE_CRASH_TORN
/* Whole fleet in place, every snapshot still on its canister: each is
 * loaded from there (no upload) through every crash. */
static void test_crash_matrix_in_place_from_canister(void **state)
{
    job *j = *state;
    size_t i;

    j->from_canister = true;
    sf_rfx_backup(&j->f, j->out, NULL, &j->cap);
    assert_int_equal(j->cap.n, CANISTERS);
    for (i = 0; i < j->cap.n; i++)
        sf_rfx_mutate(&j->f, j->cap.m[i].id);
    in_place_targets(j);
    matrix(j);
}
#endif

/* One relocatable member restored onto another canister of the fleet. */
static void test_crash_matrix_relocated(void **state)
{
    job *j = *state;
    const char *src[1], *dst[1];
    char a[SF_PRINCIPAL_TEXT_MAX], b[SF_PRINCIPAL_TEXT_MAX];

    snprintf(a, sizeof a, "%s", sf_fx_id(j->f.sim, 1));
    snprintf(b, sizeof b, "%s", sf_fx_id(j->f.sim, 2));
    sf_rfx_backup(&j->f, j->out, a, &j->cap);
    assert_int_equal(j->cap.n, 1);
    snprintf(j->mapping, sizeof j->mapping, "%s", sf_fx_path(&j->f, "map.json"));
    src[0] = a;
    dst[0] = b;
    sf_rfx_write_mapping(j->mapping, src, dst, 1);
    snprintf(j->target_ids[0], sizeof j->target_ids[0], "%s", b);
    j->targets[0] = j->target_ids[0];
    matrix(j);
}

#ifdef SF_RESTORE_CRASH_TORN
/* The same with each write torn. */
static void test_torn_matrix_in_place(void **state)
{
    ((job *)*state)->tear = true;
    test_crash_matrix_in_place(state);
}

static void test_torn_matrix_relocated(void **state)
{
    ((job *)*state)->tear = true;
    test_crash_matrix_relocated(state);
}
#endif

/* The torn matrices are their own program (test_restore_crash_torn.c
 * includes this file), so the two halves run side by side and each stays
 * well under the test timeout on a loaded machine. */
int main(void)
{
    const struct CMUnitTest tests[] = {
#ifndef SF_RESTORE_CRASH_TORN
        cmocka_unit_test_setup_teardown(test_crash_matrix_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_matrix_in_place_from_canister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_matrix_relocated, setup, teardown),
#else
        cmocka_unit_test_setup_teardown(test_torn_matrix_in_place, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_matrix_relocated, setup, teardown),
#endif
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
