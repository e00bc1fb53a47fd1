/*
 * The icp driver with several children at once, against the fake icp:
 * two hanging children killed at their deadlines, completions in the
 * order the children finish, destroy killing a child in flight.
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

#include "snapfleet/fs.h"

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_fake_timeout_kills(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op a = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op b = icp_op_of(SF_OP_STOP, STORE, NULL, NULL);
    uint64_t ta, tb, t;
    sf_result r;
    sf_error err;
    struct timespec t0;
    icp_calls k;
    int seen = 0;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"mode\": \"hang\"},"
                    " {\"op\": \"stop\", \"mode\": \"hang\"}]");
    c.timeout_ms = 1000;
    d = icp_new_driver(&c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* both hang at once: one deadline each, served by one poll loop */
    assert_int_equal(sf_driver_submit(d, &a, &ta, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &b, &tb, &err), SF_OK);
    assert_int_equal(sf_driver_in_flight(d), 2);
    while (sf_driver_in_flight(d) > 0) {
        assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
        if (t == ta) {
            icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
            seen |= 1;
        } else {
            assert_true(t == tb);
            icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-timeout");
            seen |= 2;
        }
        sf_result_free(&r);
    }
    assert_int_equal(seen, 3);
    assert_true(seconds_since(&t0) >= 0.9);
    assert_true(seconds_since(&t0) < 5.0);
    sf_driver_destroy(d);
    /* the children are gone */
    icp_read_calls(&k);
    assert_int_equal(k.count, 2);
    for (size_t i = 0; i < k.count; i++) {
        pid_t pid = (pid_t)cJSON_GetObjectItem(k.items[i], "pid")->valueint;
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    icp_free_calls(&k);
}

static void test_fake_concurrent(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op slow = icp_op_of(SF_OP_STATUS, ROOT, NULL, NULL);
    sf_op fast = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op mid = icp_op_of(SF_OP_LIST, STORE, NULL, NULL);
    uint64_t ts, tf, tm, t;
    sf_result r;
    sf_error err;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" ROOT "\", \"mode\": "
                    "\"delay\", \"ms\": 1000},"
                    " {\"op\": \"list\", \"mode\": \"delay\", \"ms\": 500}]");
    d = icp_new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &slow, &ts, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &mid, &tm, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &fast, &tf, &err), SF_OK);
    assert_true(ts != tf && tf != tm && ts != tm);
    /* completions come in the order the children finish */
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == tf);
    icp_expect_ok(&r);
    assert_int_equal(r.kind, SF_OP_STATUS);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == tm);
    assert_int_equal(r.kind, SF_OP_LIST);
    assert_int_equal(r.snapshot_count, 1);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == ts);
    icp_expect_ok(&r);
    sf_result_free(&r);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
}

static void test_destroy_kills_in_flight(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t;
    sf_error err;
    icp_calls k;
    int tries;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"mode\": \"hang\"}]");
    d = icp_new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_OK);
    for (tries = 0; tries < 200; tries++) { /* until the child has logged */
        icp_read_calls(&k);
        if (k.count == 1)
            break;
        icp_free_calls(&k);
        usleep(20000);
    }
    assert_int_equal(k.count, 1);
    sf_driver_destroy(d);
    assert_int_equal(kill((pid_t)cJSON_GetObjectItem(k.items[0], "pid")->valueint,
                          0), -1);
    icp_free_calls(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fake_timeout_kills, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_fake_concurrent, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_kills_in_flight, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
