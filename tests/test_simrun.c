/* Deterministic simulation testing: seeds stay green and reproducible, and
 * the invariant checker notices each kind of broken invariant. */
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

#include "snapfleet/backup.h"
#include "snapfleet/layout.h"
#include "snapfleet/simrun.h"
#include "../sim/sim_internal.h" /* sf_simrun_failure_line */

static char work[64];

static int setup(void **state)
{
    (void)state;
    strcpy(work, "/tmp/sf-simrun-XXXXXX");
    return mkdtemp(work) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", work);
    return system(cmd) == 0 ? 0 : -1;
}

static void run_in(const char *dir, uint64_t seed, bool crash, bool keep,
                   sf_simrun_disk disk, sf_simrun_result *r)
{
    sf_simrun_config cfg = {seed, 5, dir, keep, crash, 0, 0, disk};
    sf_error err;

    sf_error_clear(&err);
    if (sf_simrun_one(&cfg, r, &err) != SF_OK)
        fail_msg("seed %llu: %s", (unsigned long long)seed, err.message);
    if (!r->ok)
        fail_msg("seed %llu (%s, faults \"%s\", disk %s, %s): %s",
                 (unsigned long long)seed, r->mode, r->faults, r->disk,
                 r->outcome, r->failure);
}

static void run_on(uint64_t seed, bool crash, sf_simrun_disk disk,
                   sf_simrun_result *r)
{
    run_in(work, seed, crash, false, disk, r);
}

static void run_seed(uint64_t seed, bool crash, sf_simrun_result *r)
{
    run_on(seed, crash, SF_SIMRUN_DISK_SIM, r);
}

/* On the simulated disk (the default): crashes in process, torn writes
 * and disk faults drawn from the seed, every invariant kept. */
static void test_seeds_keep_every_invariant(void **state)
{
    bool seen_crash = false, seen_topology = false, seen_rerun = false;
    bool seen_tear = false, seen_disk_fault = false;
    bool seen_jobs[9] = {false}, seen_no_link = false, seen_shared = false;
    uint64_t seed;

    (void)state;
    for (seed = 1; seed <= 40; seed++) {
        sf_simrun_result r;

        run_seed(seed, true, &r);
        assert_true(r.jobs >= 1 && r.jobs <= 8);
        seen_jobs[r.jobs] = true;
        /* none, or two to four streams of 4,096 bytes per ms */
        assert_true(r.link == 0 || (r.link >= 2 * 4096 && r.link <= 4 * 4096));
        seen_no_link |= r.link == 0;
        seen_shared |= r.link != 0 && r.jobs > 1;
        seen_crash |= strcmp(r.outcome, "complete-after-crash") == 0;
        seen_topology |= strcmp(r.outcome, "topology-refused") == 0;
        seen_rerun |= strcmp(r.outcome, "complete-after-rerun") == 0;
        seen_tear |= strstr(r.disk, "tear@") != NULL &&
                     strcmp(r.outcome, "complete-after-crash") == 0;
        seen_disk_fault |= strstr(r.disk, "=eio") != NULL ||
                           strstr(r.disk, "=enospc") != NULL;
        assert_true(strncmp(r.disk, "sim", 3) == 0);
    }
    /* the range must actually exercise the interesting outcomes */
    assert_true(seen_crash);
    assert_true(seen_topology);
    assert_true(seen_rerun);
    assert_true(seen_tear);
    assert_true(seen_disk_fault);
    /* every --jobs from 1 to 8 drawn */
    for (unsigned k = 1; k <= 8; k++)
        assert_true(seen_jobs[k]);
    /* seeds without a shared link, and seeds whose jobs share one */
    assert_true(seen_no_link);
    assert_true(seen_shared);
}

/* Seeds that once failed, at the size that showed it. 1752 (10
 * canisters, 5 jobs): a restore's upload swept the snapshots an earlier
 * upload left while another task added a canister to the observations
 * and moved them; the sweep kept its pointer into them across its
 * deletes (a use after free ASan reports, and a worker that died now and
 * then in a plain build). 723 and 1884: a directory removed and made
 * again before a crash stood twice on the simulated disk, and the rerun
 * published the old, empty one. */
static void test_seeds_that_once_failed(void **state)
{
    static const uint64_t seeds[] = {1752, 723, 1884};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        sf_simrun_config cfg = {seeds[i], 10, work, false, true, 0, 0,
                                SF_SIMRUN_DISK_SIM};
        sf_simrun_result r;
        sf_error err;

        sf_error_clear(&err);
        if (sf_simrun_one(&cfg, &r, &err) != SF_OK)
            fail_msg("seed %llu: %s", (unsigned long long)seeds[i], err.message);
        if (!r.ok)
            fail_msg("seed %llu: %s", (unsigned long long)seeds[i], r.failure);
    }
}

/* A failure's line names no scratch directory: "<work>" stands for it. */
static void test_failure_line_without_the_work_directory(void **state)
{
    char out[64], small[12];

    (void)state;
    sf_simrun_failure_line("/tmp/w-1", "artifact /tmp/w-1/seed-3/b of x: "
                           "mismatch\nsecond line", out, sizeof out);
    assert_string_equal(out, "artifact <work>/seed-3/b of x: mismatch");
    sf_simrun_failure_line("/tmp/w-1", "/tmp/w-1 and /tmp/w-1/a", out,
                           sizeof out);
    assert_string_equal(out, "<work> and <work>/a");
    sf_simrun_failure_line(NULL, "no work /tmp/w-1", out, sizeof out);
    assert_string_equal(out, "no work /tmp/w-1");
    sf_simrun_failure_line("", "empty work", out, sizeof out);
    assert_string_equal(out, "empty work");
    /* cut to fit, never past the buffer */
    sf_simrun_failure_line("/w", "abcdefgh/w/w/w", small, sizeof small);
    assert_string_equal(small, "abcdefgh<wo");
    sf_simrun_failure_line("/w", "0123456789abcdef", small, sizeof small);
    assert_string_equal(small, "0123456789a");
}

/* On the POSIX disk: a crash is a child killed with SIGKILL. */
static void test_posix_seeds_keep_every_invariant(void **state)
{
    bool seen_crash = false;
    uint64_t seed;

    (void)state;
    for (seed = 20; seed <= 24; seed++) { /* 23 crashes */
        sf_simrun_result r;

        run_on(seed, true, SF_SIMRUN_DISK_POSIX, &r);
        assert_string_equal(r.disk, "posix");
        seen_crash |= strcmp(r.outcome, "complete-after-crash") == 0;
    }
    assert_true(seen_crash);
}

static void test_same_seed_same_digest(void **state)
{
    sf_simrun_result a, b, c;

    (void)state;
    run_seed(9, true, &a);  /* a crash scenario */
    run_seed(9, true, &b);
    /* every field of the seed's line */
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.mode, b.mode);
    assert_string_equal(a.faults, b.faults);
    assert_string_equal(a.disk, b.disk);
    assert_string_equal(a.outcome, b.outcome);
    assert_int_equal(a.jobs, b.jobs);
    assert_int_equal(a.link, b.link);
    run_seed(10, true, &c);
    assert_string_not_equal(a.digest, c.digest);
    /* and on the POSIX disk */
    run_on(9, true, SF_SIMRUN_DISK_POSIX, &a);
    run_on(9, true, SF_SIMRUN_DISK_POSIX, &b);
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.outcome, b.outcome);
}

static bool real(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* On the simulated disk a seed's tree lives in memory alone: a work
 * directory that does not exist on the real file system stays absent
 * through seeds with crashes, torn writes and disk faults, each green,
 * each the same line when run again. */
static void test_sim_disk_alone(void **state)
{
    char absent[160], top[96];
    bool seen_crash = false, seen_tear = false, seen_fault = false;
    uint64_t seed;

    (void)state;
    snprintf(top, sizeof top, "%s/absent", work);
    snprintf(absent, sizeof absent, "%s/deeper", top);
    for (seed = 1; seed <= 30; seed++) {
        sf_simrun_result a, b;

        run_in(absent, seed, true, false, SF_SIMRUN_DISK_SIM, &a);
        assert_false(real(top));
        seen_crash |= strcmp(a.outcome, "complete-after-crash") == 0;
        seen_tear |= strstr(a.disk, "tear@") != NULL;
        seen_fault |= strchr(a.disk, ':') != NULL;
        if (seed % 10 == 0) {
            run_in(absent, seed, true, false, SF_SIMRUN_DISK_SIM, &b);
            assert_string_equal(a.digest, b.digest);
            assert_string_equal(a.outcome, b.outcome);
            assert_string_equal(a.disk, b.disk);
        }
    }
    assert_true(seen_crash);
    assert_true(seen_tear);
    assert_true(seen_fault);
    assert_false(real(top));
}

/* --keep on the simulated disk: the seed's tree is copied from the disk to
 * the work directory, where the backup verifies on the real file system;
 * a failed seed's tree is copied the same way. */
static void test_sim_disk_keep_copies_the_tree(void **state)
{
    char dir[128], backup[256], manifest[300];
    sf_integrity_report rep;
    sf_simrun_result r;
    sf_error err;

    (void)state;
    snprintf(dir, sizeof dir, "%s/kept", work);
    run_in(dir, 1, false, true, SF_SIMRUN_DISK_SIM, &r);
    snprintf(backup, sizeof backup, "%s/seed-1/backup", dir);
    snprintf(manifest, sizeof manifest, "%s/fleet-backup-manifest.json",
             backup);
    assert_true(real(manifest));
    if (sf_verify_integrity(backup, &rep, &err) != SF_OK)
        fail_msg("the kept backup does not verify: %s", err.message);
    sf_integrity_report_free(&rep);
    /* no state file: the fleet stayed in memory */
    snprintf(manifest, sizeof manifest, "%s/seed-1/fleet.json", dir);
    assert_false(real(manifest));
}

/* A tree that cannot be copied out is the seed's error, naming where. */
static void test_sim_disk_keep_refused(void **state)
{
    char file[128], dir[160];
    sf_simrun_config cfg = {1, 5, NULL, true, false, 0, 0, SF_SIMRUN_DISK_SIM};
    sf_simrun_result r;
    sf_error err;
    FILE *fp;

    (void)state;
    snprintf(file, sizeof file, "%s/a-file", work);
    fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(dir, sizeof dir, "%s/below", file);
    cfg.work_dir = dir;
    assert_int_equal(sf_simrun_one(&cfg, &r, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot keep the seed's tree in "));
    assert_non_null(strstr(err.message, dir));
}

/* Without a crash or a disk fault the disk changes nothing a run does:
 * both disks give the seed the same trace. */
static void test_disks_agree_without_crash(void **state)
{
    sf_simrun_result a, b;

    (void)state;
    run_on(1, false, SF_SIMRUN_DISK_SIM, &a); /* seed 1 draws no disk fault */
    run_on(1, false, SF_SIMRUN_DISK_POSIX, &b);
    assert_string_equal(a.disk, "sim");
    assert_string_equal(a.digest, b.digest);
    assert_string_equal(a.outcome, b.outcome);
}

/* ---- the checker itself ---- */

typedef struct fixture {
    sf_sim *before, *after;
    char out[128];
    char id[SF_PRINCIPAL_TEXT_MAX];
} fixture;

static void backed_up(fixture *f)
{
    sf_sim_config cfg;
    sf_driver *d;
    sf_clock clock;
    sf_buf state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_sim_canister_info info;
    sf_error err;
    static int n;

    sf_sim_config_default(&cfg);
    cfg.canister_count = 3;
    assert_int_equal(sf_sim_init(&cfg, &f->after, &err), SF_OK);
    sf_buf_init(&state);
    assert_int_equal(sf_sim_state_json(f->after, &state, &err), SF_OK);
    assert_int_equal(sf_sim_load_json(state.data, state.len, &f->before, &err), SF_OK);
    sf_buf_free(&state);
    assert_int_equal(sf_sim_driver_new(f->after, NULL, &d, &err), SF_OK);
    clock = sf_sim_clock(f->after);
    /* a directory of its own: the same fleet backed up into an existing
     * directory would resume that backup instead of taking a new one */
    snprintf(f->out, sizeof f->out, "%s/backup-%d", work, ++n);
    memset(&c, 0, sizeof c);
    c.canister = sf_sim_root_id(f->after);
    c.root = c.canister;
    c.recursive = true;
    c.resume_after_snapshot = true;
    c.out = f->out;
    c.tool_name = "snapfleet";
    c.tool_version = "test";
    c.environment = "local";
    assert_int_equal(sf_snapshot_download(&c, d, &clock, &r, &err), SF_OK);
    sf_snapshot_download_result_free(&r);
    sf_driver_destroy(d);
    assert_int_equal(sf_sim_canister_at(f->after, 1, &info, &err), SF_OK);
    strcpy(f->id, info.canister_id);
}

static void expect_violation(fixture *f, const char *needle)
{
    sf_buf v;
    sf_error err;

    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f->before, f->after, f->out, false, &v,
                                         &err), SF_ERR);
    assert_string_equal(err.kind, "invariant-violated");
    if (strstr(sf_buf_cstr(&v), needle) == NULL)
        fail_msg("expected a violation mentioning \"%s\", got:\n%s", needle,
                 sf_buf_cstr(&v));
    sf_buf_free(&v);
}

static void done(fixture *f)
{
    sf_sim_free(f->before);
    sf_sim_free(f->after);
}

static void test_clean_backup_has_no_violation(void **state)
{
    fixture f;
    sf_buf v;
    sf_error err;

    (void)state;
    backed_up(&f);
    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f.before, f.after, f.out, false, &v, &err),
                     SF_OK);
    assert_int_equal(v.len, 0);
    sf_buf_free(&v);
    done(&f);
}

static void test_left_stopped_is_caught(void **state)
{
    fixture f;
    sf_buf v;
    sf_error err;

    (void)state;
    backed_up(&f);
    assert_int_equal(sf_sim_set_status(f.after, f.id, SF_STATUS_STOPPED, &err), SF_OK);
    expect_violation(&f, "was running before and is stopped now");
    /* ... unless the run was asked to leave canisters stopped */
    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f.before, f.after, f.out, true, &v, &err),
                     SF_OK);
    sf_buf_free(&v);
    done(&f);
}

static void test_started_a_stopped_canister_is_caught(void **state)
{
    fixture f;
    sf_error err;

    (void)state;
    backed_up(&f);
    assert_int_equal(sf_sim_set_status(f.before, f.id, SF_STATUS_STOPPED, &err), SF_OK);
    expect_violation(&f, "was stopped before and is running now");
    done(&f);
}

static void test_unrecorded_snapshot_is_caught(void **state)
{
    fixture f;
    sf_driver *d;
    sf_op op;
    sf_result res;
    sf_error err;

    (void)state;
    backed_up(&f);
    assert_int_equal(sf_sim_driver_new(f.after, NULL, &d, &err), SF_OK);
    assert_int_equal(sf_sim_set_status(f.after, f.id, SF_STATUS_STOPPED, &err), SF_OK);
    assert_int_equal(sf_op_init(&op, SF_OP_CREATE, f.id, NULL, NULL, &err), SF_OK);
    assert_int_equal(sf_driver_run(d, &op, &res, &err), SF_OK);
    assert_int_equal(res.fail, SF_FAIL_NONE);
    sf_result_free(&res);
    sf_driver_destroy(d);
    assert_int_equal(sf_sim_set_status(f.after, f.id, SF_STATUS_RUNNING, &err), SF_OK);
    expect_violation(&f, "not recorded in the download journal");
    done(&f);
}

static void test_artifact_not_holding_the_memory_is_caught(void **state)
{
    fixture f;
    sf_error err;

    (void)state;
    backed_up(&f);
    assert_int_equal(sf_sim_mutate(f.after, f.id, &err), SF_OK);
    expect_violation(&f, "does not hold the canister's memory");
    done(&f);
}

static void test_backup_that_does_not_verify_is_caught(void **state)
{
    fixture f;
    char cmd[512];

    (void)state;
    backed_up(&f);
    snprintf(cmd, sizeof cmd, "printf x >> '%s/%s/stable_memory.bin'", f.out, f.id);
    assert_int_equal(system(cmd), 0);
    expect_violation(&f, "backup does not verify");
    done(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seeds_keep_every_invariant),
        cmocka_unit_test(test_seeds_that_once_failed),
        cmocka_unit_test(test_failure_line_without_the_work_directory),
        cmocka_unit_test(test_posix_seeds_keep_every_invariant),
        cmocka_unit_test(test_same_seed_same_digest),
        cmocka_unit_test(test_disks_agree_without_crash),
        cmocka_unit_test(test_sim_disk_alone),
        cmocka_unit_test(test_sim_disk_keep_copies_the_tree),
        cmocka_unit_test(test_sim_disk_keep_refused),
        cmocka_unit_test(test_clean_backup_has_no_violation),
        cmocka_unit_test(test_left_stopped_is_caught),
        cmocka_unit_test(test_started_a_stopped_canister_is_caught),
        cmocka_unit_test(test_unrecorded_snapshot_is_caught),
        cmocka_unit_test(test_artifact_not_holding_the_memory_is_caught),
        cmocka_unit_test(test_backup_that_does_not_verify_is_caught),
    };
    return cmocka_run_group_tests_name("simrun", tests, setup, teardown);
}
