/*
 * wait_for (driver.h) in the simulator's virtual time, and the retry
 * wrapper's backoff on top of it (issue 12): a wait that times out moves
 * the clock exactly to its limit; a wait cut into many short ones sees
 * the same completions at the same moments as one plain wait, on a shared
 * link too; and over the simulator, one operation's backoff no longer
 * holds back another's completion, with the same retries, the same delay
 * and the same trace on every run of a seed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sim_fixture.h"
#include "snapfleet/faults.h"
#include "snapfleet/wrap.h"

static sf_driver *sim_driver(sf_fx *f)
{
    sf_driver *d = NULL;
    sf_error err;

    if (sf_sim_driver_new(f->sim, NULL, &d, &err) != SF_OK)
        fail_msg("sim driver: %s", err.message);
    return d;
}

static uint64_t submit(sf_driver *d, sf_op_kind kind, const char *id,
                       const char *snap, const char *path)
{
    sf_op op;
    uint64_t t;
    sf_error err;

    if (sf_op_init(&op, kind, id, snap, path, &err) != SF_OK ||
        sf_driver_submit(d, &op, &t, &err) != SF_OK)
        fail_msg("submit: %s", err.message);
    return t;
}

static void start(sf_fx *f, uint64_t seed, uint64_t link)
{
    sf_sim_config cfg;

    sf_fx_config(&cfg, seed, 4);
    cfg.latency_ms = 100;
    cfg.stop_ms = 50;
    cfg.bandwidth = 64;
    cfg.link_bandwidth = link;
    sf_fx_start(f, &cfg);
}

static void test_times_out_at_the_limit(void **state)
{
    sf_fx f;
    sf_driver *d;
    uint64_t t0, t, got = 0;
    bool timed_out = false;
    sf_result r;
    sf_error err;

    (void)state;
    sf_fx_setup(&f, "waitfor");
    start(&f, 1, 0);
    d = sim_driver(&f);
    t0 = sf_sim_now_ms(f.sim);
    t = submit(d, SF_OP_STATUS, f.root, NULL, NULL);
    assert_int_equal(sf_driver_wait_for(d, 40, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(got == 0);
    assert_true(sf_sim_now_ms(f.sim) == t0 + 40);
    assert_int_equal(sf_driver_in_flight(d), 1);
    /* 0: only what is already done */
    assert_int_equal(sf_driver_wait_for(d, 0, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(sf_sim_now_ms(f.sim) == t0 + 40);
    /* due exactly at the limit: completed */
    assert_int_equal(sf_driver_wait_for(d, 60, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(r.status, SF_STATUS_RUNNING);
    sf_result_free(&r);
    assert_true(sf_sim_now_ms(f.sim) == t0 + 100);
    assert_int_equal(sf_driver_wait_for(d, 5, &got, &r, &timed_out, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    sf_driver_destroy(d);
    sf_fx_teardown(&f);
}

/* A stop under way past the limit: the canister is seen stopped once
 * its time has come, whether the time passed in wait_for or not. */
static void test_time_out_settles_the_fleet(void **state)
{
    sf_fx f;
    sf_driver *d;
    uint64_t t, got;
    bool timed_out = false;
    sf_result r;
    sf_error err;
    const char *id;

    (void)state;
    sf_fx_setup(&f, "waitfor");
    start(&f, 2, 0);
    d = sim_driver(&f);
    id = sf_fx_id(f.sim, 1);
    t = submit(d, SF_OP_STOP, id, NULL, NULL); /* stopped at +150 */
    assert_int_equal(sf_fx_status(f.sim, id), SF_STATUS_STOPPING);
    assert_int_equal(sf_driver_wait_for(d, 149, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_int_equal(sf_fx_status(f.sim, id), SF_STATUS_STOPPING);
    assert_int_equal(sf_driver_wait_for(d, 1, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_int_equal(sf_fx_status(f.sim, id), SF_STATUS_STOPPED);
    sf_driver_destroy(d);
    sf_fx_teardown(&f);
}

/* Stops, snapshots and three downloads sharing the link, driven by plain
 * waits or by wait_for in `slice` ms steps; returns each completion as
 * "ticket@ms" lines. */
static void drive(uint64_t slice, sf_buf *out)
{
    sf_fx f;
    sf_driver *d;
    char snaps[3][SF_SNAPSHOT_ID_MAX], dirs[3][700];
    uint64_t got;
    bool timed_out;
    sf_result r;
    sf_error err;
    size_t i, done = 0, timeouts = 0;

    sf_fx_setup(&f, "waitfor");
    start(&f, 3, 96);
    d = sim_driver(&f);
    for (i = 0; i < 3; i++) {
        const char *id = sf_fx_id(f.sim, i + 1);
        sf_op op;

        if (sf_op_init(&op, SF_OP_STOP, id, NULL, NULL, &err) != SF_OK ||
            sf_driver_run(d, &op, &r, &err) != SF_OK)
            fail_msg("stop: %s", err.message);
        sf_result_free(&r);
        if (sf_op_init(&op, SF_OP_CREATE, id, NULL, NULL, &err) != SF_OK ||
            sf_driver_run(d, &op, &r, &err) != SF_OK || r.fail != SF_FAIL_NONE)
            fail_msg("create: %s", err.message);
        snprintf(snaps[i], sizeof snaps[i], "%s", r.snapshot.id);
        sf_result_free(&r);
        snprintf(dirs[i], sizeof dirs[i], "%s/d%zu", f.dir, i);
        assert_int_equal(mkdir(dirs[i], 0700), 0);
    }
    for (i = 0; i < 3; i++)
        submit(d, SF_OP_DOWNLOAD, sf_fx_id(f.sim, i + 1), snaps[i], dirs[i]);
    while (done < 3) {
        if (slice == 0) {
            assert_int_equal(sf_driver_wait(d, &got, &r, &err), SF_OK);
            timed_out = false;
        } else {
            assert_int_equal(sf_driver_wait_for(d, slice, &got, &r, &timed_out,
                                                &err), SF_OK);
        }
        if (timed_out) {
            timeouts++;
            continue;
        }
        assert_int_equal(r.fail, SF_FAIL_NONE);
        sf_result_free(&r);
        sf_buf_printf(out, "%llu@%llu\n", (unsigned long long)got,
                      (unsigned long long)sf_sim_now_ms(f.sim));
        done++;
    }
    /* the downloads take many slices: the cut waits were exercised */
    if (slice != 0)
        assert_true(timeouts > 10);
    sf_driver_destroy(d);
    sf_fx_teardown(&f);
}

static void test_sliced_waits_see_the_same_run(void **state)
{
    sf_buf whole, sliced, odd;

    (void)state;
    sf_buf_init(&whole);
    sf_buf_init(&sliced);
    sf_buf_init(&odd);
    drive(0, &whole);
    drive(7, &sliced);
    drive(1, &odd);
    assert_string_equal(sf_buf_cstr(&whole), sf_buf_cstr(&sliced));
    assert_string_equal(sf_buf_cstr(&whole), sf_buf_cstr(&odd));
    sf_buf_free(&whole);
    sf_buf_free(&sliced);
    sf_buf_free(&odd);
}

/* retry -> trace -> fault -> sim: a stop fails (injected, at once) and
 * backs off 5000 ms; a status submitted with it completes at +100 and is
 * delivered then, not after the backoff. The trace sits below the retry,
 * so it shows the resubmission and its time. */
static void backoff_run(uint64_t seed, sf_buf *trace, uint64_t *status_at,
                        uint64_t *stop_at)
{
    sf_fx f;
    sf_driver *sim, *faulty, *traced, *retry;
    sf_fault_plan *plan = NULL;
    uint64_t ts, tp, t0, got;
    sf_result r;
    sf_error err;
    const char *id;

    sf_fx_setup(&f, "waitfor");
    start(&f, seed, 0);
    sim = sim_driver(&f);
    if (sf_fault_plan_parse("stop:1=transient", &plan, &err) != SF_OK ||
        sf_fault_driver_new(sim, plan, NULL, NULL, &faulty, &err) != SF_OK ||
        sf_trace_driver_new(faulty, &f.clock, trace, &traced, &err) != SF_OK ||
        sf_retry_driver_new(traced, &f.clock, 3, 5000, 5000, &retry, &err) !=
            SF_OK)
        fail_msg("stack: %s", err.message);
    id = sf_fx_id(f.sim, 1);
    t0 = sf_sim_now_ms(f.sim);
    ts = submit(retry, SF_OP_STOP, id, NULL, NULL);
    tp = submit(retry, SF_OP_STATUS, f.root, NULL, NULL);
    assert_int_equal(sf_driver_wait(retry, &got, &r, &err), SF_OK);
    assert_true(got == tp);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    *status_at = sf_sim_now_ms(f.sim) - t0;
    assert_int_equal(sf_driver_wait(retry, &got, &r, &err), SF_OK);
    assert_true(got == ts);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    *stop_at = sf_sim_now_ms(f.sim) - t0;
    assert_int_equal(sf_fx_status(f.sim, id), SF_STATUS_STOPPED);
    {
        /* the resubmission, through the fault driver as its call 3, went
         * out when the backoff ended */
        char line[200];

        snprintf(line, sizeof line, "t=%llu submit #3 stop %s\n",
                 (unsigned long long)(t0 + 5000), id);
        assert_non_null(strstr(sf_buf_cstr(trace), line));
    }
    assert_int_equal(sf_retry_driver_retries(retry), 1);
    sf_driver_destroy(retry);
    sf_driver_destroy(traced);
    sf_driver_destroy(faulty);
    sf_driver_destroy(sim);
    sf_fault_plan_free(plan);
    sf_fx_teardown(&f);
}

static void test_backoff_does_not_hold_back_others(void **state)
{
    sf_buf a, b;
    uint64_t status_at, stop_at, status_b, stop_b;
    char da[SF_SHA256_HEX_SIZE], db[SF_SHA256_HEX_SIZE];

    (void)state;
    sf_buf_init(&a);
    sf_buf_init(&b);
    backoff_run(11, &a, &status_at, &stop_at);
    /* the status is heard at its own time, long before the backoff ends */
    assert_int_equal(status_at, 100);
    /* the stop: resubmitted at +5000 (the backoff unchanged), done after
     * the latency and the time the canister takes to stop */
    assert_int_equal(stop_at, 5000 + 100 + 50);
    /* one injected failure, one resubmission */
    assert_non_null(strstr(sf_buf_cstr(&a), "injected-fault"));
    assert_null(strstr(sf_buf_cstr(&a), "submit #4 "));
    /* the same seed, the same run */
    backoff_run(11, &b, &status_b, &stop_b);
    assert_int_equal(status_b, status_at);
    assert_int_equal(stop_b, stop_at);
    assert_int_equal(sf_trace_digest(&a, da), SF_OK);
    assert_int_equal(sf_trace_digest(&b, db), SF_OK);
    assert_string_equal(da, db);
    sf_buf_free(&a);
    sf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times_out_at_the_limit),
        cmocka_unit_test(test_time_out_settles_the_fleet),
        cmocka_unit_test(test_sliced_waits_see_the_same_run),
        cmocka_unit_test(test_backoff_does_not_hold_back_others),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
