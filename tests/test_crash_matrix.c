/*
 * The crash matrix (decisions 5.1): for every durable write a backup of a
 * small fleet makes, a run is killed (SIGKILL, as kill -9) right after that
 * write, a new run into the same directory finishes it, and the result is
 * the backup an uninterrupted run makes, with nothing orphaned and every
 * canister as it was.
 *
 * The first run is a forked child whose simulator saves its state file
 * after every effect, so the "IC" is exactly as far as the child got when
 * it died; the parent reloads it and reruns.
 *
 * Matrices (3 canisters): the planned backup with the fleet schedule and
 * the snapshot pipeline (with one canister stopped by an operator
 * beforehand) at every write, killed right after it, and again with that
 * write torn (torn-write: half a log record, a document's temporary file
 * with half its bytes never renamed, a rename not made; the snapshot
 * pipeline's at every second write); the per-canister schedule at every third;
 * and the recovery of a failed, contained fleet backup at every write of
 * the rerun.
 *
 * What may legitimately differ from the uninterrupted reference run:
 *   - the manifest's created_at: the clock when the manifest is written,
 *     and a rerun runs later in (virtual) time;
 *   - the checksum of an artifact whose snapshot the rerun created (the
 *     crash came before the create): the snapshot is taken at a later
 *     virtual moment and icp's metadata.json inside the artifact records
 *     taken_at_timestamp; every other byte of the artifact must be equal
 *     (sf_fx_assert_backups_equal compares the trees);
 *   - updated_at / state_updated_at in the journals (not compared).
 * What may not differ, and is compared exactly:
 *   - backup_id and the plan/run ids: derived from the clock when the plan
 *     is made, which is the run's first durable write, so every crashed
 *     run leaves the plan and a rerun must reuse it rather than re-plan;
 *   - snapshot ids: the simulator numbers each canister's snapshots, so a
 *     second create (a doubled snapshot) would show as a different id;
 *   - topology hashes, roles, members, paths, module hashes, units.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_fixture.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/simrun.h"

#define SEED 2
#define CANISTERS 3

/* test_crash_jobs.c builds this program again with 4 jobs: the runs,
 * killed and rerun, have several operations in flight. */
#ifndef SF_CRASH_JOBS
#define SF_CRASH_JOBS 0
#endif

typedef enum mode {
    MODE_BACKUP_FLEET,
    MODE_BACKUP_PER_CANISTER,
    MODE_SNAPSHOT_DOWNLOAD
} mode;

typedef struct job {
    mode m;
    char out[1200];
} job;

static void fresh(sf_fx *f)
{
    sf_sim_config cfg;

    sf_fx_setup(f, "crash");
    sf_fx_config(&cfg, SEED, CANISTERS);
    sf_fx_start(f, &cfg);
}

/* The snapshot pipeline's fleet has its second canister stopped by an
 * operator before the run: every crash and rerun must leave it stopped. */
static void fresh_for(sf_fx *f, mode m)
{
    fresh(f);
    if (m == MODE_SNAPSHOT_DOWNLOAD) {
        sf_fx_set_status(f, sf_fx_id(f->sim, 1), SF_STATUS_STOPPED);
        sf_fx_snap_before(f);
    }
}

/* The run, without assertions: it also runs in the child. */
static int run_job(sf_fx *f, void *ctx)
{
    job *j = ctx;
    sf_error err;
    int rc;

    if (j->m == MODE_SNAPSHOT_DOWNLOAD) {
        sf_snapshot_download_config c;
        sf_snapshot_download_result r;

        sf_fx_download_config(&c, f, j->out);
        c.backup_id = "crash-matrix"; /* the same in every directory */
        c.verify_transfer = true;
        c.jobs = SF_CRASH_JOBS;
        rc = sf_fx_download(f, &c, &r, &err);
        if (rc == SF_OK)
            sf_snapshot_download_result_free(&r);
    } else {
        sf_backup_config c;
        sf_backup_result r;

        sf_fx_backup_config(&c, f, j->out);
        c.schedule = j->m == MODE_BACKUP_PER_CANISTER ? SF_BACKUP_PER_CANISTER
                                                      : SF_BACKUP_FLEET;
        c.verify_transfer = true;
        c.jobs = SF_CRASH_JOBS;
        rc = sf_fx_backup(f, &c, &r, &err);
        if (rc == SF_OK && !r.complete)
            rc = SF_ERR;
        sf_backup_result_free(&r);
    }
    if (rc != SF_OK && getenv("SF_TEST_VERBOSE") != NULL)
        fprintf(stderr, "run failed: %s (%s)\n", err.message,
                err.kind ? err.kind : "?");
    return rc;
}

/* Line k (1-based) of text, for messages. */
static const char *nth_line(const sf_buf *text, uint64_t k, char *out, size_t cap)
{
    const char *p = sf_buf_cstr(text);

    while (--k > 0 && (p = strchr(p, '\n')) != NULL)
        p++;
    if (p == NULL || *p == '\0')
        return "nothing";
    snprintf(out, cap, "%.*s", (int)strcspn(p, "\n"), p);
    return out;
}

static void assert_as_before(const sf_fx *f)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(f->before); i++) {
        const char *x = sf_fx_id(f->before, i);

        assert_int_equal(sf_fx_status(f->sim, x), sf_fx_status(f->before, x));
        /* one snapshot per target: none doubled, none lost */
        assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, x), 1);
    }
}

/* stride 1: every write; the schedules' order differs, not their steps,
 * so the per-canister matrix samples every third write to keep the whole
 * program well under a minute. */
static void matrix(mode m, uint64_t stride, bool tear)
{
    sf_fx ref;
    sf_fx_writes w;
    job rj;
    uint64_t n, k, exact = 0;
    sf_buf names;

    /* the reference: one uninterrupted run, counting its durable writes */
    fresh_for(&ref, m);
    memset(&w, 0, sizeof w);
    rj.m = m;
    snprintf(rj.out, sizeof rj.out, "%s", sf_fx_path(&ref, "bk"));
    sf_fx_stack(&ref, NULL, true);
    sf_fx_writes_begin(&w);
    assert_int_equal(run_job(&ref, &rj), SF_OK);
    sf_fx_writes_end(&w);
    n = w.n;
    if (m != MODE_SNAPSHOT_DOWNLOAD) {
        /* a backup's transitions are log appends and its journals are
         * checkpoints: the matrix kills the run after every append and at
         * every step of every checkpoint (the marker, then each document
         * written: after planning, after the preflight, before finalize,
         * before retention, on exit) */
        assert_true(sf_fx_writes_count(&w, SF_TRANSITION_LOG_FILE_NAME) >
                    sf_fx_writes_count(&w, SF_EXEC_JOURNAL_FILE_NAME));
        assert_true(sf_fx_writes_count(&w, SF_EXEC_JOURNAL_FILE_NAME) >= 4);
        assert_true(sf_fx_writes_count(&w, SF_OBSERVATIONS_FILE_NAME) >= 2);
    } else {
        /* the same for a snapshot download: its journal and observations
         * are checkpoints (before finalize) */
        assert_true(sf_fx_writes_count(&w, SF_TRANSITION_LOG_FILE_NAME) >
                    sf_fx_writes_count(&w, SF_DOWNLOAD_JOURNAL_FILE_NAME));
        assert_true(sf_fx_writes_count(&w, SF_DOWNLOAD_JOURNAL_FILE_NAME) >= 1);
        assert_true(sf_fx_writes_count(&w, SF_OBSERVATIONS_FILE_NAME) >= 1);
    }
    {
        /* each artifact's publish (its rename into place and the sync of
         * the backup directory) is a durable write too, so the matrix
         * also kills the run right after it */
        size_t i;

        for (i = 0; i < CANISTERS; i++)
            if (sf_fx_writes_count(&w, sf_fx_id(ref.sim, i)) != 1)
                fail_msg("the publish of %s's artifact is not a counted "
                         "durable write", sf_fx_id(ref.sim, i));
    }
    sf_buf_init(&names);
    sf_fx_writes_names(&w, &names);
    sf_fx_writes_free(&w);
    assert_true(n > 10);
    sf_fx_assert_invariants(&ref, rj.out, false);
    assert_as_before(&ref);
    sf_fx_unstack(&ref);

    for (k = 1; k <= n + 1; k++) {
        sf_fx f;
        job j;
        int code;
        bool killed;
        char a[1300], b[1300];

        if (stride > 1 && k % stride != 1 && k < n)
            continue;

        fresh_for(&f, m);
        j.m = m;
        snprintf(j.out, sizeof j.out, "%s", sf_fx_path(&f, "bk"));
        killed = tear ? sf_fx_torn_run(&f, k, run_job, &j, &code)
                      : sf_fx_crash_run(&f, k, run_job, &j, &code);
        if (k <= n && !killed)
            fail_msg("k=%llu: the run was not killed (exit %d)",
                     (unsigned long long)k, code);
        if (k == n + 1) {
            /* one past the last write: the run completes untouched */
            assert_false(killed);
            assert_int_equal(code, 0);
        }
        /* the manifest is the last write of a snapshot download and of a
         * finalize: before it, no manifest may exist */
        snprintf(a, sizeof a, "%s/%s", j.out, SF_MANIFEST_FILE_NAME);
        sf_fx_stack(&f, NULL, true);
        if (run_job(&f, &j) != SF_OK)
            fail_msg("k=%llu (after a write of %s): the rerun did not "
                     "complete", (unsigned long long)k,
                     nth_line(&names, k, b, sizeof b));
        sf_fx_unstack(&f);
        sf_fx_assert_invariants(&f, j.out, false);
        assert_as_before(&f);
        assert_int_equal(sf_fx_assert_verifies(j.out), CANISTERS);
        if (sf_fx_leftovers(j.out, NULL) != 0)
            fail_msg("k=%llu: leftover transfer directories", (unsigned long long)k);
        sf_fx_assert_backups_equal(rj.out, j.out);
        {
            sf_buf x, y;
            snprintf(b, sizeof b, "%s/%s", rj.out, SF_MANIFEST_FILE_NAME);
            sf_buf_init(&x);
            sf_buf_init(&y);
            sf_fx_manifest_canonical(a, &x);
            sf_fx_manifest_canonical(b, &y);
            exact += strcmp(sf_buf_cstr(&x), sf_buf_cstr(&y)) == 0;
            sf_buf_free(&x);
            sf_buf_free(&y);
        }
        sf_fx_teardown(&f);
    }
    /* a crash after the last create leaves every snapshot as the reference
     * took it: from there on the manifests are equal byte for byte but for
     * created_at */
    assert_true(exact >= 1);
    if (getenv("SF_TEST_VERBOSE") != NULL)
        fprintf(stderr, "%llu crash points, %llu with identical manifests:\n%s",
                (unsigned long long)n, (unsigned long long)exact,
                sf_buf_cstr(&names));
    sf_buf_free(&names);
    sf_fx_teardown(&ref);
}

/* ---- crashes while recovering from a failure ----
 * The first run fails on B's create after stopping every target and is
 * contained (the canisters it stopped are started again); the rerun that
 * recovers is then killed at each of its durable writes, and a last run
 * finishes. This is where the observations hold "stopped by us, restarted"
 * and the journal a failed operation. */

static void copy_tree(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *de;
    sf_error err;

    if (d == NULL)
        fail_msg("opendir %s", from);
    if (sf_fs_mkdir_p(to, &err) != SF_OK)
        fail_msg("mkdir %s: %s", to, err.message);
    while ((de = readdir(d)) != NULL) {
        char a[1400], b[1400];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(a, sizeof a, "%s/%s", from, de->d_name);
        snprintf(b, sizeof b, "%s/%s", to, de->d_name);
        if (lstat(a, &st) != 0)
            fail_msg("lstat %s", a);
        if (S_ISDIR(st.st_mode)) {
            copy_tree(a, b);
        } else {
            char *data = NULL;
            size_t len;

            if (sf_fs_read_file(a, 1 << 26, &data, &len, &err) != SF_OK ||
                sf_fs_write_atomic_untracked(b, data, len, &err) != SF_OK)
                fail_msg("copy %s: %s", a, err.message);
            free(data);
        }
    }
    closedir(d);
}

/* f: a fresh fixture whose fleet and backup directory are copies of the
 * failed run's, and whose `before` is the fleet before that first run. */
static void from_failed_run(sf_fx *f, const sf_fx *base, const char *base_out,
                            char *out, size_t cap)
{
    sf_buf b;
    sf_error err;

    sf_fx_setup(f, "recover");
    copy_tree(base_out, sf_fx_path(f, "bk"));
    snprintf(out, cap, "%s", sf_fx_path(f, "bk"));
    sf_buf_init(&b);
    if (sf_sim_state_json(base->sim, &b, &err) != SF_OK ||
        sf_sim_load_json(b.data, b.len, &f->sim, &err) != SF_OK)
        fail_msg("fleet copy: %s", err.message);
    sf_buf_reset(&b);
    if (sf_sim_state_json(base->before, &b, &err) != SF_OK ||
        sf_sim_load_json(b.data, b.len, &f->before, &err) != SF_OK)
        fail_msg("fleet copy: %s", err.message);
    sf_buf_free(&b);
    sf_fx_save(f);
    f->clock = sf_sim_clock(f->sim);
    snprintf(f->root, sizeof f->root, "%s", base->root);
}

static void crash_matrix_recovery_after_failure(void **state)
{
    sf_fx base, ref;
    sf_fx_writes w;
    job bj, rj;
    char faults[160];
    uint64_t n, k;
    sf_buf names;

    (void)state;
    fresh(&base);
    bj.m = MODE_BACKUP_FLEET;
    snprintf(bj.out, sizeof bj.out, "%s", sf_fx_path(&base, "bk"));
    snprintf(faults, sizeof faults, "create:%s=permanent", sf_fx_id(base.sim, 2));
    sf_fx_stack(&base, faults, true);
    assert_int_equal(run_job(&base, &bj), SF_ERR);
    sf_fx_unstack(&base);
    /* contained: as before the run, one snapshot taken (before B's) */
    sf_fx_assert_invariants(&base, bj.out, false);
    assert_int_equal(sf_fx_new_snapshots_total(base.before, base.sim), 1);

    /* the reference recovery */
    from_failed_run(&ref, &base, bj.out, rj.out, sizeof rj.out);
    rj.m = MODE_BACKUP_FLEET;
    memset(&w, 0, sizeof w);
    sf_fx_stack(&ref, NULL, true);
    sf_fx_writes_begin(&w);
    assert_int_equal(run_job(&ref, &rj), SF_OK);
    sf_fx_writes_end(&w);
    sf_fx_unstack(&ref);
    n = w.n;
    {
        /* each artifact's publish (its rename into place and the sync of
         * the backup directory) is a durable write too, so the matrix
         * also kills the run right after it */
        size_t i;

        for (i = 0; i < CANISTERS; i++)
            if (sf_fx_writes_count(&w, sf_fx_id(ref.sim, i)) != 1)
                fail_msg("the publish of %s's artifact is not a counted "
                         "durable write", sf_fx_id(ref.sim, i));
    }
    sf_buf_init(&names);
    sf_fx_writes_names(&w, &names);
    sf_fx_writes_free(&w);
    assert_true(n > 10);
    sf_fx_assert_invariants(&ref, rj.out, false);
    assert_as_before(&ref);

    for (k = 1; k <= n; k++) {
        sf_fx f;
        job j;
        int code;
        char line[128];

        j.m = MODE_BACKUP_FLEET;
        from_failed_run(&f, &base, bj.out, j.out, sizeof j.out);
        if (!sf_fx_crash_run(&f, k, run_job, &j, &code))
            fail_msg("k=%llu: the recovery was not killed (exit %d)",
                     (unsigned long long)k, code);
        sf_fx_stack(&f, NULL, true);
        if (run_job(&f, &j) != SF_OK)
            fail_msg("k=%llu (after a write of %s): the last run did not "
                     "complete", (unsigned long long)k,
                     nth_line(&names, k, line, sizeof line));
        sf_fx_unstack(&f);
        sf_fx_assert_invariants(&f, j.out, false);
        assert_as_before(&f);
        if (sf_fx_leftovers(j.out, NULL) != 0)
            fail_msg("k=%llu: leftover transfer directories", (unsigned long long)k);
        sf_fx_assert_backups_equal(rj.out, j.out);
        sf_fx_teardown(&f);
    }
    sf_buf_free(&names);
    sf_fx_teardown(&ref);
    sf_fx_teardown(&base);
}

static void crash_matrix_backup_fleet(void **state)
{
    (void)state;
    matrix(MODE_BACKUP_FLEET, 1, false);
}

/* torn-write at every write: a document's temporary file left with half
 * its bytes and never renamed, half a log record, a rename not made */
static void crash_matrix_backup_fleet_torn(void **state)
{
    (void)state;
    matrix(MODE_BACKUP_FLEET, 1, true);
}

static void crash_matrix_backup_per_canister(void **state)
{
    (void)state;
    matrix(MODE_BACKUP_PER_CANISTER, 3, false);
}

static void crash_matrix_snapshot_download(void **state)
{
    (void)state;
    matrix(MODE_SNAPSHOT_DOWNLOAD, 1, false);
}

static void crash_matrix_snapshot_download_torn(void **state)
{
    (void)state;
    matrix(MODE_SNAPSHOT_DOWNLOAD, 2, true);
}

int main(void)
{
#if SF_CRASH_JOBS > 1
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_matrix_backup_fleet),
        cmocka_unit_test(crash_matrix_backup_fleet_torn),
        cmocka_unit_test(crash_matrix_backup_per_canister),
        cmocka_unit_test(crash_matrix_snapshot_download),
        cmocka_unit_test(crash_matrix_snapshot_download_torn),
    };
    /* the recovery of a failed run: its first run fails on one create,
     * the same with any number of jobs */
    (void)crash_matrix_recovery_after_failure;
#else
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(crash_matrix_backup_fleet),
        cmocka_unit_test(crash_matrix_backup_fleet_torn),
        cmocka_unit_test(crash_matrix_backup_per_canister),
        cmocka_unit_test(crash_matrix_snapshot_download),
        cmocka_unit_test(crash_matrix_snapshot_download_torn),
        cmocka_unit_test(crash_matrix_recovery_after_failure),
    };
#endif

    return cmocka_run_group_tests(tests, NULL, NULL);
}
