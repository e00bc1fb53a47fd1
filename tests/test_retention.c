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

/* The id of canister i's newest snapshot (the simulator lists in order). */
static void newest_snapshot(const sf_sim *sim, size_t i, char out[SF_SNAPSHOT_ID_MAX])
{
    sf_snapshot_info s;
    size_t n = sf_fx_snapshot_count(sim, sf_fx_id(sim, i));

    assert_true(n > 0);
    assert_int_equal(sf_sim_snapshot_at(sim, sf_fx_index(sim, sf_fx_id(sim, i)),
                                        n - 1, &s, NULL), SF_OK);
    snprintf(out, SF_SNAPSHOT_ID_MAX, "%s", s.id);
}

/* A backup another live process holds (a restore may be about to load its
 * snapshots) keeps its snapshots however old; the newest N still stay:
 * holding an older one never makes a run delete its own newer snapshot.
 * Once the hold is gone, the next run deletes the old one. */
static void test_held_backup_keeps_its_snapshots(void **state)
{
    sf_fx *f = *state;
    char held[SF_SNAPSHOT_ID_MAX], day2[SF_SNAPSHOT_ID_MAX], lock[1200];
    FILE *fp;

    ok_day(f, 1, 1);
    newest_snapshot(f->sim, 0, held);
    snprintf(lock, sizeof lock, "%s/%s.lock", out_of(f, 1),
             SF_EXEC_JOURNAL_FILE_NAME);
    assert_non_null(fp = fopen(lock, "w"));
    fclose(fp);
    ok_day(f, 2, 1);
    newest_snapshot(f->sim, 0, day2);
    assert_string_not_equal(held, day2);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    assert_true(has_snapshot(f->sim, 0, held));
    assert_true(has_snapshot(f->sim, 0, day2));
    assert_int_equal(unlink(lock), 0);
    ok_day(f, 3, 1);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
    assert_false(has_snapshot(f->sim, 0, held));
    assert_false(has_snapshot(f->sim, 0, day2));
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

/* A driver over the fixture's stack that misbehaves on purpose:
 * SWALLOW_DELETES answers every delete "outcome unknown" without sending it
 * (a timeout before the IC saw it); FAIL_LATE_LISTS refuses every listing
 * once a download was seen (the retention's, after the manifest);
 * NO_TAKEN_AT strips the IC's time from every listing. */
enum { SWALLOW_DELETES = 1, FAIL_LATE_LISTS = 2, NO_TAKEN_AT = 4 };

typedef struct odd {
    sf_driver self, *below;
    unsigned mode;
    bool downloaded;
    uint64_t held_ticket; /* a swallowed op's, 0 when none */
    sf_op_kind held_kind;
} odd;

#define ODD_TICKET (UINT64_C(1) << 62)

static int odd_submit(sf_driver *d, const sf_op *op, uint64_t *ticket, sf_error *err)
{
    odd *o = d->impl;

    if (op->kind == SF_OP_DOWNLOAD)
        o->downloaded = true;
    if (((o->mode & SWALLOW_DELETES) && op->kind == SF_OP_DELETE) ||
        ((o->mode & FAIL_LATE_LISTS) && op->kind == SF_OP_LIST && o->downloaded)) {
        assert_int_equal(o->held_ticket, 0);
        o->held_ticket = *ticket = ODD_TICKET;
        o->held_kind = op->kind;
        return SF_OK;
    }
    return sf_driver_submit(o->below, op, ticket, err);
}

static int odd_wait(sf_driver *d, uint64_t *ticket, sf_result *r, sf_error *err)
{
    odd *o = d->impl;
    size_t i;

    if (o->held_ticket != 0) {
        *ticket = o->held_ticket;
        o->held_ticket = 0;
        sf_result_init(r, o->held_kind);
        if (o->held_kind == SF_OP_DELETE)
            return sf_result_fail(r, SF_FAIL_UNKNOWN, "lost-response",
                                  "response lost");
        return sf_result_fail(r, SF_FAIL_PERMANENT, "injected-fault",
                              "listing refused");
    }
    if (sf_driver_wait(o->below, ticket, r, err) != SF_OK)
        return SF_ERR;
    if ((o->mode & NO_TAKEN_AT) && r->kind == SF_OP_LIST)
        for (i = 0; i < r->snapshot_count; i++)
            r->snapshots[i].has_taken_at = false;
    return SF_OK;
}

static int odd_render(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err)
{
    return sf_driver_render(((odd *)d->impl)->below, op, out, err);
}

static size_t odd_in_flight(sf_driver *d)
{
    odd *o = d->impl;

    return sf_driver_in_flight(o->below) + (o->held_ticket != 0);
}

static void odd_destroy(sf_driver *d)
{
    (void)d; /* lives on the test's stack */
}

static const sf_driver_ops odd_ops = {"odd", odd_submit, odd_wait, odd_render,
                                      odd_in_flight, odd_destroy, NULL};

/* One day's backup (keep 1) through the odd driver; the log, when given,
 * receives the engine's lines. */
static int odd_day(sf_fx *f, unsigned day, unsigned mode, FILE *log, sf_error *err)
{
    odd o = {.mode = mode};
    sf_backup_config c;
    sf_backup_result r;
    int rc;

    sf_fx_stack(f, NULL, false);
    o.self.ops = &odd_ops;
    o.self.impl = &o;
    o.below = f->top;
    f->top = &o.self;
    sf_fx_backup_config(&c, f, out_of(f, day));
    c.retain_on_canister = true;
    c.keep_on_canister = 1;
    c.log = log;
    rc = sf_fx_backup(f, &c, &r, err);
    sf_backup_result_free(&r);
    f->top = o.below;
    sf_fx_unstack(f);
    sf_clock_sleep_ms(&f->clock, 60000);
    return rc;
}

/* A delete whose outcome stays unknown while the snapshot is still listed
 * is an error after one more try, and the backup is still complete. */
static void test_delete_unknown_and_still_listed(void **state)
{
    sf_fx *f = *state;
    sf_error err;

    ok_day(f, 1, 1);
    assert_int_equal(odd_day(f, 2, SWALLOW_DELETES, NULL, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    assert_non_null(strstr(err.message, "still listed"));
    assert_non_null(strstr(err.message, "the backup itself is complete"));
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    sf_fx_assert_verifies(out_of(f, 2));
    /* the rerun finishes what was left */
    ok_day(f, 2, 1);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
}

/* The retention's listing refused: the run says so, nothing is deleted. */
static void test_retention_listing_refused(void **state)
{
    sf_fx *f = *state;
    sf_error err;

    ok_day(f, 1, 1);
    assert_int_equal(odd_day(f, 2, FAIL_LATE_LISTS, NULL, &err), SF_ERR);
    assert_non_null(strstr(err.message, "listing refused"));
    assert_non_null(strstr(err.message, "the backup itself is complete"));
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 2);
    sf_fx_assert_verifies(out_of(f, 2));
}

/* Without the IC's taken_at, a snapshot's age is its backup's time; each
 * delete is announced on the log. */
static void test_age_from_the_backup_and_log(void **state)
{
    sf_fx *f = *state;
    char old[SF_SNAPSHOT_ID_MAX], line[300];
    sf_error err;
    FILE *log = tmpfile();
    bool announced = false;

    assert_non_null(log);
    ok_day(f, 1, 1);
    newest_snapshot(f->sim, 0, old);
    assert_int_equal(odd_day(f, 2, NO_TAKEN_AT, log, &err), SF_OK);
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), 1);
    assert_false(has_snapshot(f->sim, 0, old));
    rewind(log);
    while (fgets(line, sizeof line, log) != NULL)
        announced = announced ||
                    (strstr(line, "delete ") == line && strstr(line, old) != NULL &&
                     strstr(line, "older than the snapshots kept") != NULL);
    fclose(log);
    assert_true(announced);
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
        cmocka_unit_test_setup_teardown(test_held_backup_keeps_its_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_dir_elsewhere, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_faults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_unknown_and_still_listed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_listing_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_age_from_the_backup_and_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_crash_matrix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
