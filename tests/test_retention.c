/* On-canister retention (--keep-on-canister): after a complete run, the
 * older snapfleet-made snapshots of each target beyond the newest N are
 * deleted, write-ahead, reconciled by listing; snapshots no manifest under
 * the backup root records (an operator's, a run still in progress) are
 * never touched; a crash at any durable write of a run that deletes is
 * finished by its rerun. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backup_log.h"
#include "sim_fixture.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"

#define CANISTERS 3

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "ret");
    sf_fx_config(&cfg, 2, CANISTERS);
    cfg.snapshot_limit = 3;
    sf_fx_start(f, &cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sf_fx *f = *state;

    sf_fx_teardown(f);
    free(f);
    return 0;
}

/* An operator's own snapshot of canister i: stop, create, start. */
static void foreign_snapshot(sf_fx *f, size_t i, char out[SF_SNAPSHOT_ID_MAX])
{
    char id[SF_PRINCIPAL_TEXT_MAX];
    sf_op op;
    sf_result r;
    sf_error err;
    sf_op_kind kinds[3] = {SF_OP_STOP, SF_OP_CREATE, SF_OP_START};
    int k;

    snprintf(id, sizeof id, "%s", sf_fx_id(f->sim, i));
    sf_fx_stack(f, NULL, false);
    for (k = 0; k < 3; k++) {
        assert_int_equal(sf_op_init(&op, kinds[k], id, NULL, NULL, &err), SF_OK);
        assert_int_equal(sf_driver_run(f->base, &op, &r, &err), SF_OK);
        assert_int_equal(r.fail, SF_FAIL_NONE);
        if (kinds[k] == SF_OP_CREATE)
            snprintf(out, SF_SNAPSHOT_ID_MAX, "%s", r.snapshot.id);
        sf_result_free(&r);
    }
    sf_fx_unstack(f);
    sf_fx_save(f);
    sf_fx_snap_before(f);
}

static bool has_snapshot(const sf_sim *sim, size_t i, const char *snap)
{
    sf_buf b;
    sf_error err;
    bool found;

    sf_buf_init(&b);
    assert_int_equal(sf_sim_show_json(sim, &b, &err), SF_OK);
    found = strstr(sf_buf_cstr(&b), snap) != NULL;
    (void)i;
    sf_buf_free(&b);
    return found;
}

static const char *out_of(sf_fx *f, unsigned day)
{
    static char p[4][1100];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/backups/day%02u", f->dir, day);
    return p[k];
}

static int backup_day(sf_fx *f, unsigned day, uint64_t keep, const char *faults,
                      sf_error *err)
{
    sf_backup_config c;
    sf_backup_result r;
    int rc;

    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, out_of(f, day));
    c.retain_on_canister = true;
    c.keep_on_canister = keep;
    rc = sf_fx_backup(f, &c, &r, err);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    sf_clock_sleep_ms(&f->clock, 60000);
    return rc;
}

static void ok_day(sf_fx *f, unsigned day, uint64_t keep)
{
    sf_error err;

    if (backup_day(f, day, keep, NULL, &err) != SF_OK)
        fail_msg("day %u: %s (%s)", day, err.message, err.kind);
}

static void test_keep_one_over_many_days(void **state)
{
    sf_fx *f = *state;
    char foreign[SF_SNAPSHOT_ID_MAX];
    unsigned day;
    size_t i;

    foreign_snapshot(f, 1, foreign);
    /* limit 3 with the operator's snapshot: two of ours at most, ever,
     * or a create would be refused */
    for (day = 1; day <= 6; day++) {
        ok_day(f, day, 1);
        for (i = 0; i < CANISTERS; i++)
            assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)),
                             i == 1 ? 2 : 1);
        assert_true(has_snapshot(f->sim, 1, foreign));
    }
    /* each backup's artifacts still verify; only the newest is on the IC */
    sf_fx_assert_verifies(out_of(f, 1));
    sf_fx_assert_verifies(out_of(f, 6));
}

static void test_keep_two_and_zero(void **state)
{
    sf_fx *f = *state;

    ok_day(f, 1, 2);
    ok_day(f, 2, 2);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    ok_day(f, 3, 2);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    ok_day(f, 4, 0);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 0);
    sf_fx_assert_verifies(out_of(f, 4));
}

/* A backup still in progress under the root recorded no manifest: its
 * snapshots stay, and so do those of a run kept elsewhere. */
static void test_unrecorded_snapshots_stay(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, out_of(f, 1));
    c.max_steps = 12; /* snapshots taken, nothing downloaded yet */
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    assert_false(r.complete);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
    ok_day(f, 2, 1);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    ok_day(f, 3, 1);
    /* day 2's recorded snapshot went, the in-progress one stayed */
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
}

static void test_root_dir_elsewhere(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char other[1100];

    ok_day(f, 1, 1);
    snprintf(other, sizeof other, "%s/elsewhere", f->dir);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, out_of(f, 2));
    c.retain_on_canister = true;
    c.keep_on_canister = 1;
    c.root_dir = other; /* day 1 is not under it: its snapshot stays */
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    /* keep 0 with a root elsewhere: this run's own still counts as ours */
    sf_clock_sleep_ms(&f->clock, 60000);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, out_of(f, 3));
    c.retain_on_canister = true;
    c.keep_on_canister = 0;
    c.root_dir = other;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
}

static void test_delete_faults(void **state)
{
    sf_fx *f = *state;
    sf_error err;

    ok_day(f, 1, 1);
    /* a lost response: the delete happened, a listing proves it */
    assert_int_equal(backup_day(f, 2, 1, "delete:1=lost-response", &err), SF_OK);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
    /* transient: retried */
    assert_int_equal(backup_day(f, 3, 1, "delete:1=transient", &err), SF_OK);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 1)), 1);
    /* refused: the backup is complete, the error says so; a rerun retries */
    assert_int_equal(backup_day(f, 4, 1, "delete=permanent", &err), SF_ERR);
    assert_non_null(strstr(err.message, "the backup itself is complete"));
    sf_fx_assert_verifies(out_of(f, 4));
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    sf_fx_stack(f, NULL, false);
    {
        sf_backup_config c;
        sf_backup_result r;
        sf_fx_backup_config(&c, f, out_of(f, 4));
        c.retain_on_canister = true;
        c.keep_on_canister = 1;
        assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
        sf_backup_result_free(&r);
    }
    sf_fx_unstack(f);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
}

/* The crash matrix for deletes: day 2's run killed after each of its
 * durable writes, then rerun: every canister ends with day 2's snapshot
 * only, day 1's gone, nothing doubled. */
static int run_day2(sf_fx *f, void *ctx)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    (void)ctx;
    sf_fx_backup_config(&c, f, out_of(f, 2));
    c.retain_on_canister = true;
    c.keep_on_canister = 1;
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    return rc;
}

static void test_delete_crash_matrix(void **state)
{
    sf_fx *f = *state;
    char pristine[1100], cmd[4000];
    uint64_t k, deleting_writes = 0;
    int code;
    size_t i;

    ok_day(f, 1, 1);
    sf_fx_save(f); /* the child starts from the state file */
    snprintf(pristine, sizeof pristine, "%s/pristine", f->dir);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -a '%s/backups' '%s/fleet.json' '%s/'",
             pristine, f->dir, f->dir, pristine);
    assert_int_equal(system(cmd), 0);
    for (k = 1;; k++) {
        bool killed = sf_fx_crash_run(f, k, run_day2, NULL, &code);
        sf_error err;
        sf_backup_config c;
        sf_backup_result r;

        if (!killed) {
            assert_int_equal(code, 0);
            break;
        }
        {
            /* the observations as they stand: checkpoint + log */
            sf_exec_journal ej;
            sf_download_journal dj;
            sf_observations obs;
            bool have_j, have_dj, deleting = false;

            if (sf_backup_docs_read(out_of(f, 2), &ej, &have_j, &dj, &have_dj,
                                    &obs, &err) == SF_OK) {
                for (i = 0; i < obs.count; i++)
                    deleting = deleting || obs.canisters[i].deleting != NULL;
                deleting_writes += deleting;
                sf_obs_free(&obs);
                if (have_j)
                    sf_exec_journal_free(&ej);
                sf_download_journal_free(&dj);
            }
        }
        sf_fx_stack(f, NULL, false);
        sf_fx_backup_config(&c, f, out_of(f, 2));
        c.retain_on_canister = true;
        c.keep_on_canister = 1;
        if (sf_fx_backup(f, &c, &r, &err) != SF_OK)
            fail_msg("rerun after write %llu: %s", (unsigned long long)k, err.message);
        sf_backup_result_free(&r);
        sf_fx_unstack(f);
        for (i = 0; i < CANISTERS; i++)
            if (sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)) != 1)
                fail_msg("after a crash at write %llu: canister %zu has %zu "
                         "snapshots", (unsigned long long)k, i,
                         sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)));
        sf_fx_assert_verifies(out_of(f, 2));
        /* back to day 1 for the next k */
        snprintf(cmd, sizeof cmd, "rm -rf '%s/backups' && cp -a '%s/backups' "
                 "'%s/fleet.json' '%s/'", f->dir, pristine, pristine, f->dir);
        assert_int_equal(system(cmd), 0);
        sf_fx_reload(f);
    }
    /* the matrix did reach the deletes: crashes with a delete on record */
    assert_true(deleting_writes >= CANISTERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_keep_one_over_many_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keep_two_and_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unrecorded_snapshots_stay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_dir_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_crash_matrix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
