/* The daily scenario (issue: backups that run every day for years): 30
 * daily backups of a fleet allowing 3 snapshots per canister, one taken by
 * an operator, with --keep-on-canister 1, then prune --keep 7; the same
 * seed gives the same digest; keeping 2 fills the operator's canister and
 * its creates replace; with no snapfleet snapshot to replace the job
 * fails before stopping anything. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfleet/fs.h"
#include "snapfleet/simrun.h"

static char work[64];

static int setup(void **state)
{
    (void)state;
    snprintf(work, sizeof work, "%s/sf-daily-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    return mkdtemp(work) == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    sf_error err;

    (void)state;
    return sf_remove_tree(work, &err) == SF_OK ? 0 : -1;
}

static void config(sf_simrun_daily_config *c, uint64_t seed)
{
    memset(c, 0, sizeof *c);
    c->seed = seed;
    c->canisters = 4;
    c->days = 30;
    c->snapshot_limit = 3;
    c->keep_on_canister = 1;
    c->prune_keep = 7;
    c->work_dir = work;
}

static void test_thirty_days(void **state)
{
    sf_simrun_daily_config c;
    sf_simrun_daily_result a, b;
    sf_error err;

    (void)state;
    config(&c, 1);
    assert_int_equal(sf_simrun_daily(&c, &a, &err), SF_OK);
    if (!a.ok)
        fail_msg("daily: %s", a.failure);
    assert_int_equal(a.days_complete, 30);
    assert_int_equal(a.kept, 7);
    assert_int_equal(a.pruned, 23);
    assert_int_equal(a.replaced, 0); /* keeping 1 never fills a canister */
    /* reproducible: the same seed, the same digest */
    assert_int_equal(sf_simrun_daily(&c, &b, &err), SF_OK);
    assert_string_equal(a.digest, b.digest);
}

/* Keeping 2 with a limit of 3 on the canister that also holds the
 * operator's snapshot: from day 3 that canister is full before the
 * create, and its create replaces its oldest snapfleet snapshot (day 1's,
 * then day 2's, ...): every day completes, the operator's stays. */
static void test_keep_two_replaces_at_the_limit(void **state)
{
    sf_simrun_daily_config c;
    sf_simrun_daily_result a, b;
    sf_error err;

    (void)state;
    config(&c, 2);
    c.days = 12;
    c.keep_on_canister = 2;
    assert_int_equal(sf_simrun_daily(&c, &a, &err), SF_OK);
    if (!a.ok)
        fail_msg("daily: %s", a.failure);
    assert_int_equal(a.days_complete, 12);
    assert_int_equal(a.replaced, 10); /* days 3..12, one canister */
    assert_int_equal(a.kept, 7);
    assert_int_equal(sf_simrun_daily(&c, &b, &err), SF_OK);
    assert_string_equal(a.digest, b.digest);
}

/* A limit of 1 filled by the operator's snapshot: nothing snapfleet made
 * may go, so day 1 fails before anything is stopped, and says why. */
static void test_no_room_fails_before_stopping(void **state)
{
    sf_simrun_daily_config c;
    sf_simrun_daily_result r;
    sf_error err;

    (void)state;
    config(&c, 3);
    c.days = 2;
    c.snapshot_limit = 1;
    assert_int_equal(sf_simrun_daily(&c, &r, &err), SF_OK);
    assert_false(r.ok);
    assert_int_equal(r.days_complete, 0);
    assert_non_null(strstr(r.failure, "day 1 did not complete"));
    assert_non_null(strstr(r.failure, "not made by snapfleet"));
    assert_non_null(strstr(r.failure, "Nothing was stopped"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thirty_days),
        cmocka_unit_test(test_keep_two_replaces_at_the_limit),
        cmocka_unit_test(test_no_room_fails_before_stopping),
    };
    return cmocka_run_group_tests_name("daily", tests, setup, teardown);
}
