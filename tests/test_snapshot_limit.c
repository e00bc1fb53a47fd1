/* At the snapshot limit before the create: a canister holding as many
 * snapshots as it may gets its create turned into a replace of its oldest
 * snapfleet-made snapshot, when that snapshot's backup under the root is
 * complete, verifies and is held by no other process; otherwise the run
 * fails before anything is stopped, naming the canister, its snapshots
 * and what to do. Faults on every operation of such a run and a crash at
 * every durable write are finished by a rerun, with nothing doubled. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_fixture.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"
#include "snapfleet/layout.h"
#include "snapfleet/text.h"

#define CANISTERS 3
#define LIMIT 2

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "lim");
    sf_fx_config(&cfg, 4, CANISTERS);
    cfg.snapshot_limit = LIMIT;
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

static const char *out_of(sf_fx *f, unsigned day)
{
    static char p[4][1100];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/backups/day%02u", f->dir, day);
    return p[k];
}

/* A backup of the whole fleet into day N; limit 0: not checked. Keeps
 * LIMIT snapshots on each canister afterwards. */
static void backup_config(sf_backup_config *c, sf_fx *f, unsigned day,
                          uint64_t limit)
{
    sf_fx_backup_config(c, f, out_of(f, day));
    c->retain_on_canister = true;
    c->keep_on_canister = LIMIT;
    c->snapshot_limit = limit;
}

static int backup_day(sf_fx *f, unsigned day, uint64_t limit,
                      const char *faults, sf_error *err)
{
    sf_backup_config c;
    sf_backup_result r;
    int rc;

    sf_fx_stack(f, faults, false);
    backup_config(&c, f, day, limit);
    rc = sf_fx_backup(f, &c, &r, err);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    return rc;
}

static void ok_day(sf_fx *f, unsigned day, uint64_t limit)
{
    sf_error err;

    if (backup_day(f, day, limit, NULL, &err) != SF_OK)
        fail_msg("day %u: %s (%s)", day, err.message, err.kind);
    sf_clock_sleep_ms(&f->clock, 60000);
}

/* The snapshot day N recorded for canister i. */
static void recorded(unsigned day, sf_fx *f, size_t i, char out[SF_SNAPSHOT_ID_MAX])
{
    sf_backup_entry e;
    sf_error err;
    size_t k;

    assert_int_equal(sf_backup_entry_read(out_of(f, day), false, &e, &err), SF_OK);
    out[0] = '\0';
    for (k = 0; k < e.snapshot_count; k++)
        if (strcmp(e.snapshots[k].canister_id, sf_fx_id(f->sim, i)) == 0)
            snprintf(out, SF_SNAPSHOT_ID_MAX, "%s", e.snapshots[k].snapshot_id);
    sf_backup_entry_free(&e);
    assert_true(out[0] != '\0');
}

static bool on_canister(const sf_fx *f, size_t i, const char *snap)
{
    size_t idx = sf_fx_index(f->sim, sf_fx_id(f->sim, i)), j;
    sf_sim_canister_info info;
    sf_error err;

    assert_int_equal(sf_sim_canister_at(f->sim, idx, &info, &err), SF_OK);
    for (j = 0; j < info.snapshot_count; j++) {
        sf_snapshot_info s;
        assert_int_equal(sf_sim_snapshot_at(f->sim, idx, j, &s, &err), SF_OK);
        if (strcmp(s.id, snap) == 0)
            return true;
    }
    return false;
}

/* Days 1 and 2 fill every canister to its limit. */
static void fill(sf_fx *f)
{
    size_t i;

    ok_day(f, 1, 0);
    ok_day(f, 2, 0);
    for (i = 0; i < CANISTERS; i++)
        assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)), LIMIT);
    sf_fx_save(f);
    sf_fx_snap_before(f);
}

/* Every canister holds day 2's and day 3's snapshots, day 1's are gone,
 * and all three backups still verify. */
static void assert_replaced(sf_fx *f, const char *when)
{
    char s1[SF_SNAPSHOT_ID_MAX], s2[SF_SNAPSHOT_ID_MAX], s3[SF_SNAPSHOT_ID_MAX];
    size_t i;

    for (i = 0; i < CANISTERS; i++) {
        recorded(1, f, i, s1);
        recorded(2, f, i, s2);
        recorded(3, f, i, s3);
        if (sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)) != LIMIT ||
            on_canister(f, i, s1) || !on_canister(f, i, s2) ||
            !on_canister(f, i, s3))
            fail_msg("%s: canister %zu holds %zu snapshots (day 1's %s, day "
                     "2's %s, day 3's %s)", when, i,
                     sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)),
                     on_canister(f, i, s1) ? "there" : "gone",
                     on_canister(f, i, s2) ? "there" : "gone",
                     on_canister(f, i, s3) ? "there" : "gone");
    }
    sf_fx_assert_verifies(out_of(f, 1));
    sf_fx_assert_verifies(out_of(f, 2));
    sf_fx_assert_verifies(out_of(f, 3));
}

static void test_replaces_the_oldest_verified(void **state)
{
    sf_fx *f = *state;
    char s1[SF_SNAPSHOT_ID_MAX], line[512];
    size_t i;

    fill(f);
    sf_buf_reset(&f->log);
    ok_day(f, 3, LIMIT);
    assert_replaced(f, "day 3");
    /* each create named the snapshot it replaced */
    for (i = 0; i < CANISTERS; i++) {
        recorded(1, f, i, s1);
        snprintf(line, sizeof line, " create %s %s\n", sf_fx_id(f->sim, i), s1);
        if (strstr(sf_buf_cstr(&f->log), line) == NULL)
            fail_msg("no `%s` in the trace:\n%s", line, sf_buf_cstr(&f->log));
    }
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), CANISTERS);
    assert_int_equal(sf_fx_trace_count(&f->log, "delete"), 0);
    sf_fx_assert_invariants(f, out_of(f, 3), false);
    /* day 4: day 2's go the same way */
    ok_day(f, 4, LIMIT);
    recorded(2, f, 0, s1);
    assert_false(on_canister(f, 0, s1));
    assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, 0)), LIMIT);
}

/* A refusal happens before anything is stopped: no stop, no create, the
 * fleet as it was. */
static void assert_refused_untouched(sf_fx *f, const sf_error *err)
{
    size_t i;

    assert_string_equal(err->kind, "snapshot-limit-reached");
    assert_non_null(strstr(err->message, "Nothing was stopped"));
    assert_non_null(strstr(err->message, "--keep-on-canister"));
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 0);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 0);
    for (i = 0; i < CANISTERS; i++)
        assert_int_equal(sf_fx_status(f->sim, sf_fx_id(f->sim, i)),
                         SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 0);
}

/* The oldest snapfleet snapshot's backup no longer verifies: it is the
 * only copy of that state the operator may have, so nothing replaces it. */
static void test_refuses_when_the_oldest_does_not_verify(void **state)
{
    sf_fx *f = *state;
    char path[1400], s1[SF_SNAPSHOT_ID_MAX];
    sf_error err;
    char *seg;
    FILE *fp;

    fill(f);
    seg = sf_safe_path_segment(sf_fx_id(f->sim, 0));
    snprintf(path, sizeof path, "%s/%s/stable_memory.bin", out_of(f, 1), seg);
    free(seg);
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    fputc('!', fp);
    fclose(fp);
    sf_buf_reset(&f->log);
    assert_int_equal(backup_day(f, 3, LIMIT, NULL, &err), SF_ERR);
    assert_refused_untouched(f, &err);
    recorded(1, f, 0, s1);
    assert_non_null(strstr(err.message, sf_fx_id(f->sim, 0)));
    assert_non_null(strstr(err.message, s1));
    assert_non_null(strstr(err.message, "not complete and verified"));
    assert_non_null(strstr(err.message, "its limit is 2"));
}

/* Only an operator's snapshot: never replaced. */
static void test_refuses_snapshots_not_made_by_snapfleet(void **state)
{
    sf_fx *f = *state;
    sf_op_kind kinds[3] = {SF_OP_STOP, SF_OP_CREATE, SF_OP_START};
    char foreign[2][SF_SNAPSHOT_ID_MAX];
    sf_error err;
    sf_result r;
    sf_op op;
    int n, k;

    sf_fx_stack(f, NULL, false);
    for (n = 0; n < LIMIT; n++)
        for (k = 0; k < 3; k++) {
            assert_int_equal(sf_op_init(&op, kinds[k], sf_fx_id(f->sim, 1), NULL,
                                        NULL, &err), SF_OK);
            assert_int_equal(sf_driver_run(f->base, &op, &r, &err), SF_OK);
            assert_int_equal(r.fail, SF_FAIL_NONE);
            if (kinds[k] == SF_OP_CREATE)
                snprintf(foreign[n], sizeof foreign[n], "%s", r.snapshot.id);
            sf_result_free(&r);
        }
    sf_fx_unstack(f);
    sf_fx_save(f);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    assert_int_equal(backup_day(f, 1, LIMIT, NULL, &err), SF_ERR);
    assert_refused_untouched(f, &err);
    assert_non_null(strstr(err.message, sf_fx_id(f->sim, 1)));
    assert_non_null(strstr(err.message, foreign[0]));
    assert_non_null(strstr(err.message, foreign[1]));
    assert_non_null(strstr(err.message, "not made by snapfleet"));
}

/* The oldest snapshot's backup is held by another process (a restore may
 * be about to load it): not replaced. */
static void test_refuses_a_backup_in_use(void **state)
{
    sf_fx *f = *state;
    sf_lock lock = SF_LOCK_INIT;
    sf_error err;

    fill(f);
    assert_int_equal(sf_lock_acquire(out_of(f, 1), &lock, &err), SF_OK);
    sf_buf_reset(&f->log);
    assert_int_equal(backup_day(f, 3, LIMIT, NULL, &err), SF_ERR);
    sf_lock_release(&lock);
    assert_refused_untouched(f, &err);
    assert_non_null(strstr(err.message, "another process holds"));
    /* once it is free, the run goes through */
    ok_day(f, 3, LIMIT);
    assert_replaced(f, "after the lock");
}

/* The same through `snapshot download`. */
static void test_snapshot_download_replaces(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    char s1[SF_SNAPSHOT_ID_MAX], out[1100];
    sf_error err;
    size_t i;

    fill(f);
    snprintf(out, sizeof out, "%s/backups/direct", f->dir);
    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, out);
    c.snapshot_limit = LIMIT;
    if (sf_fx_download(f, &c, &r, &err) != SF_OK)
        fail_msg("snapshot download: %s", err.message);
    sf_snapshot_download_result_free(&r);
    sf_fx_unstack(f);
    for (i = 0; i < CANISTERS; i++) {
        recorded(1, f, i, s1);
        assert_false(on_canister(f, i, s1));
        assert_int_equal(sf_fx_snapshot_count(f->sim, sf_fx_id(f->sim, i)), LIMIT);
    }
    sf_fx_assert_verifies(out);
}

/* ---- faults and crashes ---- */

static void save_pristine(sf_fx *f)
{
    char cmd[4000];

    sf_fx_save(f);
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/pristine' && cp -a '%s/backups' "
             "'%s/fleet.json' '%s/pristine/'", f->dir, f->dir, f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
}

static void back_to_pristine(sf_fx *f)
{
    char cmd[4000];

    snprintf(cmd, sizeof cmd, "rm -rf '%s/backups' && cp -a '%s/pristine/backups' "
             "'%s/pristine/fleet.json' '%s/'", f->dir, f->dir, f->dir, f->dir);
    assert_int_equal(system(cmd), 0);
    sf_fx_reload(f);
}

/* Every fault on every operation of a run that replaces: it either
 * completes, or fails and its rerun completes; either way each canister
 * ends with day 2's and day 3's snapshots, nothing doubled, nothing left
 * stopped. */
static void test_fault_matrix(void **state)
{
    static const char *const ops[] = {"list", "status", "stop", "create",
                                      "start", "download"};
    static const char *const effects[] = {"transient", "permanent",
                                          "lost-response"};
    sf_fx *f = *state;
    size_t o, x, n, failed = 0;

    fill(f);
    save_pristine(f);
    for (o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (x = 0; x < 3; x++)
            for (n = 1; n <= CANISTERS + 1; n++) {
                char plan[64], when[128];
                sf_error err;

                snprintf(plan, sizeof plan, "%s:%zu=%s", ops[o], n, effects[x]);
                snprintf(when, sizeof when, "after %s", plan);
                if (backup_day(f, 3, LIMIT, plan, &err) != SF_OK) {
                    failed++;
                    if (backup_day(f, 3, LIMIT, NULL, &err) != SF_OK)
                        fail_msg("rerun %s: %s", when, err.message);
                }
                assert_replaced(f, when);
                sf_fx_assert_invariants(f, out_of(f, 3), false);
                back_to_pristine(f);
            }
    /* the matrix did make runs fail (permanent faults) */
    assert_true(failed > 0);
}

static int run_day3(sf_fx *f, void *ctx)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    (void)ctx;
    backup_config(&c, f, 3, LIMIT);
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    return rc;
}

/* Day 3 killed after each of its durable writes, then rerun: the same
 * end as an uninterrupted run, whatever the crash point. */
static void test_crash_matrix(void **state)
{
    sf_fx *f = *state;
    uint64_t k, replacing = 0;
    int code;

    fill(f);
    save_pristine(f);
    for (k = 1;; k++) {
        bool killed = sf_fx_crash_run(f, k, run_day3, NULL, &code);
        char obs[1300], when[64];
        sf_error err;
        char *text;
        size_t len;

        if (!killed) {
            assert_int_equal(code, 0);
            break;
        }
        snprintf(obs, sizeof obs, "%s/%s", out_of(f, 3), SF_OBSERVATIONS_FILE_NAME);
        if (sf_fs_read_file(obs, 1 << 20, &text, &len, &err) == SF_OK) {
            if (strstr(text, "\"snapshot_replacing\": \"") != NULL)
                replacing++;
            free(text);
        }
        if (backup_day(f, 3, LIMIT, NULL, &err) != SF_OK)
            fail_msg("rerun after write %llu: %s", (unsigned long long)k,
                     err.message);
        snprintf(when, sizeof when, "a crash at write %llu", (unsigned long long)k);
        assert_replaced(f, when);
        sf_fx_assert_invariants(f, out_of(f, 3), false);
        back_to_pristine(f);
    }
    /* the matrix did reach the replaces: crashes with one on record */
    assert_true(replacing >= CANISTERS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replaces_the_oldest_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_when_the_oldest_does_not_verify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_snapshots_not_made_by_snapfleet, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuses_a_backup_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_matrix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_matrix, setup, teardown),
    };
    return cmocka_run_group_tests_name("snapshot limit", tests, NULL, NULL);
}
