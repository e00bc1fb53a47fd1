/* `restore run --jobs N`: several operations of a restore in flight
 * through the driver's submit/wait. Completions in every order (a driver
 * that hands them back in a scripted order, and the simulator with
 * jitter); the rules of what may overlap, read from the trace; failures
 * while others are in flight (one, two); lost responses among several in
 * flight; max_steps; --jobs out of range. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "order_driver.h"
#include "restore_fixture.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"

/* seed 2, 4 canisters: R (root) with children A and B; C under B. */
enum { R = 0, A = 1, B = 2, C = 3, N = 4 };

typedef struct rj {
    sf_fx f;
    sf_rfx_capture cap;
    char out[700];
    char id[SF_RFX_MAX_MEMBERS][SF_PRINCIPAL_TEXT_MAX];
    const char *ids[SF_RFX_MAX_MEMBERS];
    size_t n;
} rj;

/* A fleet of n canisters (jitter ms per call), backed up whole, every
 * member's memory changed afterwards; f.before is the changed fleet. */
static void prepare(rj *t, uint64_t seed, size_t n, uint64_t jitter)
{
    sf_sim_config cfg;
    size_t i;

    memset(t, 0, sizeof *t);
    sf_fx_setup(&t->f, "rjobs");
    sf_fx_config(&cfg, seed, n);
    cfg.jitter_ms = jitter;
    sf_fx_start(&t->f, &cfg);
    t->n = n;
    for (i = 0; i < n; i++) {
        snprintf(t->id[i], sizeof t->id[i], "%s", sf_fx_id(t->f.sim, i));
        t->ids[i] = t->id[i];
    }
    snprintf(t->out, sizeof t->out, "%s", sf_fx_path(&t->f, "backup"));
    sf_rfx_backup(&t->f, t->out, NULL, &t->cap);
    assert_int_equal(t->cap.n, n);
    for (i = 0; i < n; i++)
        sf_rfx_mutate(&t->f, t->id[i]);
    sf_fx_snap_before(&t->f);
}

static int setup(void **state)
{
    rj *t = calloc(1, sizeof *t);

    if (t == NULL)
        return -1;
    prepare(t, 2, N, 0);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    rj *t = *state;

    sf_fx_teardown(&t->f);
    free(t);
    return 0;
}

static void config(const rj *t, sf_restore_config *c, unsigned jobs)
{
    sf_rfx_config(c, t->out, SF_RESTORE_MODE_EXECUTE);
    c->jobs = jobs;
}

static void assert_restored_once(const rj *t)
{
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->ids, t->n);
    sf_rfx_assert_journal_complete(t->out, NULL);
}

enum { UPLOAD, STOP, LOAD, START, KINDS };

static int kind_of(const char *op)
{
    static const char *const names[KINDS] = {"upload", "stop", "load", "start"};
    int k;

    for (k = 0; k < KINDS; k++)
        if (strcmp(op, names[k]) == 0)
            return k;
    return -1;
}

/* Checks, over the trace of a restore with up to `jobs` operations at
 * once (the upload path, no faults):
 *   - at most jobs driver calls in flight, and at most one per canister;
 *   - the plan's waves: no stop submitted before every upload ended, no
 *     load before every stop, no start before every load;
 *   - stops top-down: a stop only once every stop of a smaller depth
 *     ended; starts bottom-up: a start only once every start of a greater
 *     depth ended.
 * Returns the most calls seen in flight at once. */
static size_t check_trace(const sf_fx *f, const sf_buf *log, unsigned jobs)
{
    sf_fx_flight *v;
    size_t n = sf_fx_flights(log, &v), i, k, most = 0;
    size_t total[KINDS] = {0}, done[KINDS] = {0};

    for (i = 0; i < n; i++)
        if (v[i].submit && kind_of(v[i].op) >= 0)
            total[kind_of(v[i].op)]++;
    for (i = 0; i < n; i++) {
        int kind = kind_of(v[i].op);
        size_t live = 0, d;

        if (!v[i].submit) {
            if (kind >= 0)
                done[kind]++;
            continue;
        }
        for (k = 0; k < i; k++) {
            size_t m;
            bool ended = false;

            if (!v[k].submit)
                continue;
            for (m = k + 1; m < i && !ended; m++)
                ended = !v[m].submit && v[m].ticket == v[k].ticket;
            if (ended)
                continue;
            live++;
            if (strcmp(v[k].id, v[i].id) == 0)
                fail_msg("line %zu: %s %s submitted while %s of the same "
                         "canister is in flight", i, v[i].op, v[i].id,
                         v[k].op);
        }
        if (live + 1 > jobs)
            fail_msg("line %zu: %zu calls in flight, jobs %u", i, live + 1, jobs);
        if (live + 1 > most)
            most = live + 1;
        if (kind > UPLOAD && done[kind - 1] < total[kind - 1])
            fail_msg("line %zu: %s %s before the wave before it ended", i,
                     v[i].op, v[i].id);
        if (kind != STOP && kind != START)
            continue;
        d = sf_fx_depth(f->before, v[i].id);
        /* every stop of a smaller depth / start of a greater one ended */
        for (k = 0; k < n; k++) {
            size_t m, dk;
            bool ended = false;

            if (!v[k].submit || strcmp(v[k].op, v[i].op) != 0 || k == i)
                continue;
            dk = sf_fx_depth(f->before, v[k].id);
            if (kind == STOP ? dk >= d : dk <= d)
                continue;
            for (m = k + 1; m < i && !ended; m++)
                ended = !v[m].submit && v[m].ticket == v[k].ticket;
            if (!ended)
                fail_msg("line %zu: %s %s (depth %zu) before %s %s (depth %zu) "
                         "ended", i, v[i].op, v[i].id, d, v[k].op, v[k].id, dk);
        }
    }
    free(v);
    return most;
}

/* ---- completions in every order ---- */

static void scripted_orders(unsigned jobs)
{
    uint64_t seed;

    for (seed = 1; seed <= 24; seed++) {
        rj t;
        sf_restore_config c;
        sf_driver *top;

        prepare(&t, 2, N, 0);
        sf_fx_stack(&t.f, NULL, false);
        top = t.f.top;
        t.f.top = sf_order_driver_new(top, seed);
        assert_non_null(t.f.top);
        config(&t, &c, jobs);
        sf_rfx_run_complete(&t.f, &c);
        sf_driver_destroy(t.f.top);
        t.f.top = top;
        check_trace(&t.f, &t.f.log, jobs);
        sf_fx_unstack(&t.f);
        assert_restored_once(&t);
        sf_fx_teardown(&t.f);
    }
}

static void every_order(void **state)
{
    (void)state;
    scripted_orders(4);
    scripted_orders(2);
}

/* A larger fleet with jitter: the overlap rules hold, several calls are
 * in flight at once, and the fleet is restored. */
static void larger_fleet_with_jitter(void **state)
{
    static const unsigned jobs[] = {2, 8, 16};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof jobs / sizeof *jobs; i++) {
        rj t;
        sf_restore_config c;

        prepare(&t, 5, 14, 10);
        sf_fx_stack(&t.f, NULL, false);
        config(&t, &c, jobs[i]);
        sf_rfx_run_complete(&t.f, &c);
        assert_true(check_trace(&t.f, &t.f.log, jobs[i]) > 1);
        sf_fx_unstack(&t.f);
        assert_restored_once(&t);
        sf_fx_teardown(&t.f);
    }
}

/* The result's stopped times: each target once, started again, within
 * the fleet's span. */
static void check_stopped(const rj *t, const sf_restore_result *r)
{
    size_t i, k;

    assert_int_equal(r->stopped_count, t->n);
    assert_true(r->has_fleet_stopped_span);
    for (i = 0; i < r->stopped_count; i++) {
        for (k = 0; k < t->n && strcmp(t->id[k], r->stopped[i].canister_id) != 0; k++)
            ;
        assert_true(k < t->n);
        assert_true(r->stopped[i].restarted);
        assert_true(r->stopped[i].stopped_ms > 0);
        assert_true(r->stopped[i].stopped_ms <= r->fleet_stopped_span_ms);
    }
    assert_non_null(strstr(sf_buf_cstr(&r->report), "\"stopped\": {"));
}

/* Several jobs restore the same fleet as one, in less virtual time, and
 * hold it stopped for a shorter span. */
static void sooner_than_one_job(void **state)
{
    uint64_t took[2], span[2];
    size_t i;

    (void)state;
    for (i = 0; i < 2; i++) {
        rj t;
        sf_restore_config c;
        sf_restore_result r;
        sf_error err;
        uint64_t t0;

        prepare(&t, 5, 14, 10);
        sf_fx_stack(&t.f, NULL, false);
        config(&t, &c, i == 0 ? 1 : 8);
        t0 = sf_clock_now_ms(&t.f.clock);
        if (sf_rfx_run(&t.f, &c, &r, &err) != SF_OK || !r.complete)
            fail_msg("restore: %s", err.message);
        took[i] = sf_clock_now_ms(&t.f.clock) - t0;
        check_stopped(&t, &r);
        span[i] = r.fleet_stopped_span_ms;
        sf_restore_result_free(&r);
        sf_fx_unstack(&t.f);
        assert_restored_once(&t);
        sf_fx_teardown(&t.f);
    }
    print_message("virtual ms: one job %llu, 8 jobs %llu; stopped span %llu "
                  "and %llu\n", (unsigned long long)took[0],
                  (unsigned long long)took[1], (unsigned long long)span[0],
                  (unsigned long long)span[1]);
    assert_true(took[1] < took[0]);
    assert_true(span[1] < span[0]);
}

/* ---- failures with others in flight ---- */

/* The states of the journal's operations. */
static void count_states(const rj *t, size_t n[5], size_t uploads_done)
{
    sf_restore_journal j;
    size_t i, up = 0;

    memset(n, 0, 5 * sizeof *n);
    sf_rfx_read_journal(t->out, NULL, &j);
    for (i = 0; i < j.operations_len; i++) {
        n[j.operations[i].state]++;
        up += j.operations[i].kind == SF_RESTORE_OP_UPLOAD_SNAPSHOT &&
              j.operations[i].state == SF_RESTORE_COMPLETED;
    }
    assert_int_equal(up, uploads_done);
    sf_restore_journal_free(&j);
}

/* Uploads of `failing` canisters fail for good while the others are in
 * flight: nothing starts after the first failure (no stop), those in
 * flight end and are recorded (completed, or failed), the fleet is as it
 * was; --retry-failed readies every failed one and a rerun completes. */
static void failures_while_others_in_flight(rj *t, const int *failing,
                                            size_t nfail)
{
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char faults[512] = "";
    size_t n[5], i;

    for (i = 0; i < nfail; i++)
        snprintf(faults + strlen(faults), sizeof faults - strlen(faults),
                 "%supload:%s=permanent", i ? "," : "", t->id[failing[i]]);
    sf_fx_stack(&t->f, faults, false);
    config(t, &c, 4);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_int_equal(r.executed, N);
    sf_restore_result_free(&r);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "stop"), 0);
    count_states(t, n, N - nfail);
    assert_int_equal(n[SF_RESTORE_FAILED], nfail);
    assert_int_equal(n[SF_RESTORE_PENDING], 0);
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    sf_fx_unstack(&t->f);
    /* a rerun refuses until the failures are retried */
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "failed", &r, &err);
    sf_restore_result_free(&r);
    c.mode = SF_RESTORE_MODE_RETRY_FAILED;
    if (sf_rfx_run(&t->f, &c, &r, &err) != SF_OK)
        fail_msg("--retry-failed: %s (%s)", err.message, err.kind);
    sf_restore_result_free(&r);
    count_states(t, n, N - nfail);
    assert_int_equal(n[SF_RESTORE_FAILED], 0);
    config(t, &c, 4);
    sf_rfx_run_complete(&t->f, &c);
    sf_fx_unstack(&t->f);
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_journal_complete(t->out, NULL);
}

static void failure_while_others_in_flight(void **state)
{
    static const int failing[] = {B};

    failures_while_others_in_flight(*state, failing, 1);
}

/* Two failures among four in flight: both recorded, both retried. */
static void two_failures_in_flight(void **state)
{
    static const int failing[] = {A, C};

    failures_while_others_in_flight(*state, failing, 2);
}

/* A stop refused while the other stops of its depth are in flight: they
 * end, nothing deeper is stopped, nothing is loaded, and containment
 * starts again what the restore stopped. */
static void failure_in_a_wave_stops_the_next(void **state)
{
    rj *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char faults[160];

    snprintf(faults, sizeof faults, "stop:%s=permanent", t->id[A]);
    sf_fx_stack(&t->f, faults, false);
    config(t, &c, 4);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_ERR);
    sf_restore_result_free(&r);
    assert_string_equal(err.kind, "driver-permanent");
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[B], false), 1);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[C], false), 0);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "load"), 0);
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    sf_fx_unstack(&t->f);
}

/* Lost responses on uploads, stops, loads and starts of several canisters
 * in flight together: each reconciled on its own, nothing uploaded twice. */
static void lost_responses_among_several(void **state)
{
    rj *t = *state;
    sf_restore_config c;
    char faults[1024];

    snprintf(faults, sizeof faults,
             "upload:%s:1=lost-response,upload:%s:1=lost-response,"
             "upload:%s:1=lost-response,"
             "stop:%s:1=lost-response,stop:%s:1=lost-response,"
             "load:%s:1=lost-response,load:%s:1=lost-response,"
             "start:%s:1=lost-response,start:%s:1=lost-response",
             t->id[A], t->id[B], t->id[C], t->id[A], t->id[B], t->id[A],
             t->id[C], t->id[B], t->id[C]);
    sf_fx_stack(&t->f, faults, false);
    config(t, &c, 4);
    sf_rfx_run_complete(&t->f, &c);
    sf_fx_unstack(&t->f);
    assert_restored_once(t);
}

/* max_steps counts operations started: 4 jobs pause after exactly N, and
 * a rerun completes. */
static void max_steps_with_jobs(void **state)
{
    rj *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    sf_fx_stack(&t->f, NULL, false);
    config(t, &c, 4);
    c.max_steps = 6;
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_false(r.complete);
    assert_int_equal(r.executed, 6);
    sf_restore_result_free(&r);
    c.max_steps = 0;
    sf_rfx_run_complete(&t->f, &c);
    sf_fx_unstack(&t->f);
    assert_restored_once(t);
}

static void jobs_out_of_range_refused(void **state)
{
    rj *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *dir = sf_rfx_restore_path(t->out, NULL, NULL);
    struct stat st;

    sf_fx_stack(&t->f, NULL, false);
    config(t, &c, 65);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_string_equal(err.field, "jobs");
    sf_restore_result_free(&r);
    assert_int_not_equal(lstat(dir, &st), 0);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "upload"), 0);
    sf_fx_unstack(&t->f);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_order),
        cmocka_unit_test(larger_fleet_with_jitter),
        cmocka_unit_test(sooner_than_one_job),
        cmocka_unit_test_setup_teardown(failure_while_others_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(two_failures_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(failure_in_a_wave_stops_the_next, setup, teardown),
        cmocka_unit_test_setup_teardown(lost_responses_among_several, setup, teardown),
        cmocka_unit_test_setup_teardown(max_steps_with_jobs, setup, teardown),
        cmocka_unit_test_setup_teardown(jobs_out_of_range_refused, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
