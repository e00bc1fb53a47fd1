/* The daily scenario (issue: backups that run every day for years): 30
 * daily backups of a fleet allowing 3 snapshots per canister, one taken by
 * an operator, with --keep-on-canister 1, then prune --keep 7; the same
 * seed gives the same digest; without retention the job breaks. */
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
    /* reproducible: the same seed, the same digest */
    assert_int_equal(sf_simrun_daily(&c, &b, &err), SF_OK);
    assert_string_equal(a.digest, b.digest);
}

/* Keeping 2 with a limit of 3 on the canister that also holds the
 * operator's snapshot: the third day's create is refused, and the
 * scenario says so. */
static void test_without_room_it_breaks(void **state)
{
    sf_simrun_daily_config c;
    sf_simrun_daily_result r;
    sf_error err;

    (void)state;
    config(&c, 2);
    c.days = 4;
    c.keep_on_canister = 2;
    assert_int_equal(sf_simrun_daily(&c, &r, &err), SF_OK);
    assert_false(r.ok);
    assert_int_equal(r.days_complete, 2);
    assert_non_null(strstr(r.failure, "day 3 did not complete"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thirty_days),
        cmocka_unit_test(test_without_room_it_breaks),
    };
    return cmocka_run_group_tests_name("daily", tests, setup, teardown);
}
