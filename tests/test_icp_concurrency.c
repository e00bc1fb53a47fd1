/*
 * The icp driver with several children at once, against the fake icp:
 * completions come back in the order the children finish, not the order
 * they were submitted, also when all finished before the wait; each child
 * has its own deadline (from its own start, control or transfer timeout)
 * and its own output caps; a child that hangs, or writes without end, is
 * killed at its deadline while the others complete normally; destroying
 * the driver with children still running (or exited and not yet waited
 * for) kills and reaps every one; wait_for keeps its limit, and a retry's
 * backoff lets other children's completions through.
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
#include "snapfleet/wrap.h"

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

/* Waits for the next completion; returns its ticket, the caller frees *r. */
static uint64_t next_done(sf_driver *d, sf_result *r)
{
    uint64_t t;
    sf_error err;

    if (sf_driver_wait(d, &t, r, &err) != SF_OK)
        fail_msg("wait: %s (%s)", err.message, err.kind);
    return t;
}

static uint64_t submit(sf_driver *d, const sf_op *op)
{
    uint64_t t;
    sf_error err;

    if (sf_driver_submit(d, op, &t, &err) != SF_OK)
        fail_msg("submit: %s (%s)", err.message, err.kind);
    return t;
}

/* Until the fake has logged n invocations (every child has started). */
static void wait_logged(size_t n, icp_calls *k)
{
    int tries;

    for (tries = 0; tries < 1000; tries++) {
        icp_read_calls(k);
        if (k->count >= n)
            return;
        icp_free_calls(k);
        usleep(20000);
    }
    fail_msg("only %zu of %zu children started", k->count, n);
}

/* No child of this process is left, running or a zombie. */
static void expect_no_children(void)
{
    int status;

    assert_int_equal(waitpid(-1, &status, WNOHANG), -1);
    assert_int_equal(errno, ECHILD);
}

/* Six children in flight, each held back for a different time: they
 * complete in the order of their delays, not of their submission, and
 * together take about the longest delay, not the sum. */
static void test_six_in_finish_order(void **state)
{
    static const struct {
        const char *op, *canister;
        sf_op_kind kind;
        int ms;
    } kids[] = {
        {"status", ROOT, SF_OP_STATUS, 3500}, {"list", APP, SF_OP_LIST, 700},
        {"status", STORE, SF_OP_STATUS, 2100}, {"list", ROOT, SF_OP_LIST, 0},
        {"list", STORE, SF_OP_LIST, 2800}, {"status", APP, SF_OP_STATUS, 1400},
    };
    static const size_t order[] = {3, 1, 5, 2, 4, 0};
    sf_icp_config c = icp_base_config();
    char faults[2048];
    size_t n = 0, i;
    uint64_t t[6];
    struct timespec t0;
    sf_driver *d;
    sf_result r;
    sf_op op;

    (void)state;
    n += (size_t)snprintf(faults + n, sizeof faults - n, "[");
    for (i = 0; i < 6; i++)
        n += (size_t)snprintf(faults + n, sizeof faults - n,
                              "%s{\"op\": \"%s\", \"canister\": \"%s\", "
                              "\"mode\": \"delay\", \"ms\": %d}",
                              i ? ", " : "", kids[i].op, kids[i].canister,
                              kids[i].ms);
    snprintf(faults + n, sizeof faults - n, "]");
    icp_write_state(faults);
    d = icp_new_driver(&c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (i = 0; i < 6; i++)
        t[i] = submit(d, (op = icp_op_of(kids[i].kind, kids[i].canister, NULL,
                                         NULL), &op));
    assert_int_equal(sf_driver_in_flight(d), 6);
    for (i = 0; i < 6; i++) {
        uint64_t got = next_done(d, &r);
        if (got != t[order[i]])
            fail_msg("completion %zu: ticket %llu, wanted %llu (%s of %s)", i,
                     (unsigned long long)got, (unsigned long long)t[order[i]],
                     kids[order[i]].op, kids[order[i]].canister);
        icp_expect_ok(&r);
        assert_int_equal(r.kind, kids[order[i]].kind);
        sf_result_free(&r);
        assert_int_equal(sf_driver_in_flight(d), 5 - i);
    }
    /* the delays add up to 10.5 s; at once they take the longest, 3.5 s */
    assert_true(seconds_since(&t0) >= 3.4);
    assert_true(seconds_since(&t0) < 9.0);
    sf_driver_destroy(d);
    expect_no_children();
}

/* A hanging status (control timeout), a hanging download (transfer
 * timeout) and two that answer: those complete normally while the two
 * hang; each hanging one is killed at its own deadline, the status at 3 s
 * and the download at 5 s; a status submitted later has a deadline of its
 * own that counts from its submission. */
static void test_hanging_child_killed_others_complete(void **state)
{
    sf_icp_config c = icp_base_config();
    char dl[PATH_MAX + 32], dl2[PATH_MAX + 32];
    uint64_t t_hang, t_dl_hang, t_list, t_dl, t_late, got;
    double at_hang, at_late;
    struct timespec t0;
    sf_driver *d;
    sf_result r;
    sf_op op;
    icp_calls k;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"hang\"},"
                    " {\"op\": \"download\", \"canister\": \"" ROOT "\", \"mode\": \"hang\"},"
                    " {\"op\": \"list\", \"mode\": \"delay\", \"ms\": 300},"
                    " {\"op\": \"download\", \"canister\": \"" STORE "\","
                    "  \"mode\": \"delay\", \"ms\": 600},"
                    " {\"op\": \"status\", \"canister\": \"" STORE "\", \"mode\": \"hang\"}]");
    c.timeout_ms = 3000;
    c.transfer_timeout_ms = 5000;
    d = icp_new_driver(&c);
    snprintf(dl, sizeof dl, "%s/hung", icp_dir);
    snprintf(dl2, sizeof dl2, "%s/dl", icp_dir);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t_hang = submit(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op));
    t_dl_hang = submit(d, (op = icp_op_of(SF_OP_DOWNLOAD, ROOT, SNAP, dl), &op));
    t_list = submit(d, (op = icp_op_of(SF_OP_LIST, STORE, NULL, NULL), &op));
    t_dl = submit(d, (op = icp_op_of(SF_OP_DOWNLOAD, STORE, SNAP, dl2), &op));

    /* the list, then the download, complete normally */
    assert_int_equal(next_done(d, &r), t_list);
    icp_expect_ok(&r);
    assert_int_equal(r.snapshot_count, 1);
    sf_result_free(&r);
    /* a status submitted now, 0.3 s in or later: its deadline is 3 s
     * from now */
    t_late = submit(d, (op = icp_op_of(SF_OP_STATUS, STORE, NULL, NULL), &op));
    assert_int_equal(next_done(d, &r), t_dl);
    icp_expect_ok(&r);
    sf_result_free(&r);
    assert_true(seconds_since(&t0) < 2.9); /* before any deadline */

    /* the first hanging status at its 3 s */
    got = next_done(d, &r);
    at_hang = seconds_since(&t0);
    assert_int_equal(got, t_hang);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    assert_true(at_hang >= 2.95);
    /* the late one at its own 3 s, 0.3 s or more later */
    got = next_done(d, &r);
    at_late = seconds_since(&t0);
    assert_int_equal(got, t_late);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    assert_true(at_late >= 3.25);
    assert_true(at_late > at_hang);
    /* the hanging download at the transfer timeout, 5 s */
    got = next_done(d, &r);
    assert_int_equal(got, t_dl_hang);
    icp_expect_fail(&r, SF_FAIL_UNKNOWN, "icp-timeout");
    sf_result_free(&r);
    assert_true(seconds_since(&t0) >= 4.95);
    assert_true(seconds_since(&t0) < 15.0);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);

    /* every child is gone, the killed ones too */
    icp_read_calls(&k);
    assert_int_equal(k.count, 5);
    for (size_t i = 0; i < k.count; i++) {
        pid_t pid = (pid_t)cJSON_GetObjectItem(k.items[i], "pid")->valueint;
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    icp_free_calls(&k);
    expect_no_children();
}

/* A child that writes to stdout without end is killed at its deadline;
 * reading it does not hold up the others, which complete meanwhile. */
static void test_endless_writer_killed(void **state)
{
    sf_icp_config c = icp_base_config();
    uint64_t t_babble, t_a, t_b, got;
    struct timespec t0;
    sf_driver *d;
    sf_result r;
    sf_op op;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"babble\"},"
                    " {\"op\": \"list\", \"mode\": \"delay\", \"ms\": 500}]");
    c.timeout_ms = 3000;
    d = icp_new_driver(&c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t_babble = submit(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op));
    t_a = submit(d, (op = icp_op_of(SF_OP_STATUS, ROOT, NULL, NULL), &op));
    t_b = submit(d, (op = icp_op_of(SF_OP_LIST, STORE, NULL, NULL), &op));
    got = next_done(d, &r);
    assert_int_equal(got, t_a);
    icp_expect_ok(&r);
    sf_result_free(&r);
    got = next_done(d, &r);
    assert_int_equal(got, t_b);
    icp_expect_ok(&r);
    sf_result_free(&r);
    assert_true(seconds_since(&t0) < 2.9);
    got = next_done(d, &r);
    assert_int_equal(got, t_babble);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    assert_true(seconds_since(&t0) >= 2.95);
    assert_true(seconds_since(&t0) < 12.0);
    sf_driver_destroy(d);
    expect_no_children();
}

/* Output caps hold per child: one floods stdout past the cap (refused as
 * too large), one floods stderr (its tail kept, the error at the end
 * still read), and the two beside them, whose answers fit, are whole. */
static void test_output_caps_per_child(void **state)
{
    sf_icp_config c = icp_base_config();
    uint64_t t_flood, t_err, t_status, t_list, got;
    int seen = 0;
    sf_driver *d;
    sf_result r;
    sf_op op;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"flood\"},"
                    " {\"op\": \"list\", \"canister\": \"" APP "\","
                    "  \"mode\": \"flood-stderr\"}]");
    c.stdout_max = 4096;
    c.stderr_max = 2048;
    d = icp_new_driver(&c);
    t_flood = submit(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op));
    t_err = submit(d, (op = icp_op_of(SF_OP_LIST, APP, NULL, NULL), &op));
    t_status = submit(d, (op = icp_op_of(SF_OP_STATUS, ROOT, NULL, NULL), &op));
    t_list = submit(d, (op = icp_op_of(SF_OP_LIST, STORE, NULL, NULL), &op));
    while (sf_driver_in_flight(d) > 0) {
        got = next_done(d, &r);
        if (got == t_flood) {
            icp_expect_fail(&r, SF_FAIL_PERMANENT, "icp-output-too-large");
            seen |= 1;
        } else if (got == t_err) {
            icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-unreachable");
            seen |= 2;
        } else if (got == t_status) {
            icp_expect_ok(&r);
            assert_int_equal(r.status, SF_STATUS_RUNNING);
            assert_string_equal(r.module_hash, HASH_A);
            seen |= 4;
        } else {
            assert_true(got == t_list);
            icp_expect_ok(&r);
            assert_int_equal(r.snapshot_count, 1);
            assert_string_equal(r.snapshots[0].id, SNAP);
            seen |= 8;
        }
        sf_result_free(&r);
    }
    assert_int_equal(seen, 15);
    sf_driver_destroy(d);
    expect_no_children();
}

/* The pid of the recorded `snapshot list` of canister id. */
static pid_t listed_pid(const icp_calls *k, const char *id)
{
    char buf[1024], want[128];

    snprintf(want, sizeof want, "canister snapshot list %s ", id);
    for (size_t i = 0; i < k->count; i++) {
        icp_argv_text(k, i, buf, sizeof buf);
        if (strncmp(buf, want, strlen(want)) == 0)
            return (pid_t)cJSON_GetObjectItem(k->items[i], "pid")->valueint;
    }
    fail_msg("no call `%s`", want);
    return -1;
}

/* True when pid has exited and was not reaped yet. */
static bool zombie(pid_t pid)
{
    char path[64], line[256];
    bool z = false;
    FILE *f;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    while (fgets(line, sizeof line, f) != NULL)
        z |= strncmp(line, "State:\tZ", 8) == 0;
    fclose(f);
    return z;
}

/* Destroying the driver with four children in flight (two hanging, two
 * held back) and one that has exited without being waited for: every one
 * is killed and reaped; no process is left, not even a zombie. */
static void test_destroy_reaps_every_child(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    icp_calls k;
    int tries;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"mode\": \"hang\", \"count\": -1},"
                    " {\"op\": \"list\", \"canister\": \"" ROOT "\","
                    "  \"mode\": \"delay\", \"ms\": 30000},"
                    " {\"op\": \"list\", \"canister\": \"" APP "\","
                    "  \"mode\": \"delay\", \"ms\": 30000}]");
    d = icp_new_driver(&c);
    submit(d, (op = icp_op_of(SF_OP_LIST, STORE, NULL, NULL), &op)); /* answers */
    submit(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op));
    submit(d, (op = icp_op_of(SF_OP_STATUS, STORE, NULL, NULL), &op));
    submit(d, (op = icp_op_of(SF_OP_LIST, ROOT, NULL, NULL), &op));
    submit(d, (op = icp_op_of(SF_OP_LIST, APP, NULL, NULL), &op));
    assert_int_equal(sf_driver_in_flight(d), 5);
    wait_logged(5, &k);
    /* the list of STORE has exited by now: a zombie until reaped */
    for (tries = 0; tries < 500 && !zombie(listed_pid(&k, STORE)); tries++)
        usleep(20000);
    assert_true(zombie(listed_pid(&k, STORE)));
    sf_driver_destroy(d);
    for (size_t i = 0; i < k.count; i++) {
        pid_t pid = (pid_t)cJSON_GetObjectItem(k.items[i], "pid")->valueint;
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    icp_free_calls(&k);
    expect_no_children();
}

/* Until every child the fake logged has exited, left unreaped (WNOWAIT)
 * for the driver. */
static void wait_exited(size_t n)
{
    icp_calls k;
    size_t i, gone = 0;
    int tries;

    wait_logged(n, &k);
    for (tries = 0; tries < 1000 && gone < n; tries++) {
        for (i = 0, gone = 0; i < k.count; i++) {
            pid_t pid = (pid_t)cJSON_GetObjectItem(k.items[i], "pid")->valueint;
            siginfo_t si;

            memset(&si, 0, sizeof si);
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
                    0 && si.si_pid == pid)
                gone++;
        }
        if (gone < n)
            usleep(20000);
    }
    icp_free_calls(&k);
    if (gone < n)
        fail_msg("only %zu of %zu children exited", gone, n);
}

/* Children that all finished while nobody waited (a busy spell) come
 * back in the order they finished, not the order they were submitted:
 * held back 1200, 600 and 0 ms, they finish last, second and first. */
static void test_finish_order_after_a_busy_spell(void **state)
{
    static const struct {
        const char *op, *canister;
        sf_op_kind kind;
        int ms;
    } kids[] = {
        {"status", ROOT, SF_OP_STATUS, 1200},
        {"list", STORE, SF_OP_LIST, 600},
        {"status", APP, SF_OP_STATUS, 0},
    };
    sf_icp_config c = icp_base_config();
    char faults[1024];
    size_t n = 0, i;
    uint64_t t[3];
    sf_driver *d;
    sf_result r;
    sf_op op;

    (void)state;
    n += (size_t)snprintf(faults + n, sizeof faults - n, "[");
    for (i = 0; i < 3; i++)
        n += (size_t)snprintf(faults + n, sizeof faults - n,
                              "%s{\"op\": \"%s\", \"canister\": \"%s\", "
                              "\"mode\": \"delay\", \"ms\": %d}",
                              i ? ", " : "", kids[i].op, kids[i].canister,
                              kids[i].ms);
    snprintf(faults + n, sizeof faults - n, "]");
    icp_write_state(faults);
    d = icp_new_driver(&c);
    for (i = 0; i < 3; i++)
        t[i] = submit(d, (op = icp_op_of(kids[i].kind, kids[i].canister, NULL,
                                         NULL), &op));
    wait_exited(3);
    for (i = 0; i < 3; i++) {
        uint64_t got = next_done(d, &r);

        if (got != t[2 - i])
            fail_msg("completion %zu: ticket %llu, wanted %llu (%s of %s)", i,
                     (unsigned long long)got, (unsigned long long)t[2 - i],
                     kids[2 - i].op, kids[2 - i].canister);
        icp_expect_ok(&r);
        assert_int_equal(r.kind, kids[2 - i].kind);
        sf_result_free(&r);
    }
    sf_driver_destroy(d);
    expect_no_children();
}

/* wait_for keeps its limit on the wall clock: a child held back 1.5 s is
 * still in flight after a 300 ms wait_for and after a 0 ms one, then
 * completes within a long one; with nothing in flight it fails. */
static void test_wait_for_keeps_its_limit(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t, got = 0;
    bool timed_out = false;
    struct timespec t0, t1;
    sf_result r;
    sf_error err;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"mode\": \"delay\", "
                    "\"ms\": 1500}]");
    d = icp_new_driver(&c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    t = submit(d, &op);
    assert_int_equal(sf_driver_wait_for(d, 300, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(got == 0);
    assert_true(seconds_since(&t0) >= 0.29);
    assert_true(seconds_since(&t0) < 1.4);
    assert_int_equal(sf_driver_in_flight(d), 1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(sf_driver_wait_for(d, 0, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(seconds_since(&t1) < 0.5);
    assert_int_equal(sf_driver_wait_for(d, 20000, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t);
    icp_expect_ok(&r);
    sf_result_free(&r);
    assert_true(seconds_since(&t0) >= 1.4);
    assert_true(seconds_since(&t0) < 10.0);
    assert_int_equal(sf_driver_wait_for(d, 10, &got, &r, &timed_out, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "internal");
    sf_driver_destroy(d);
    expect_no_children();
}

/* A child that hangs past its own deadline within a wait_for's limit is
 * killed and completes then, as in wait(). */
static void test_wait_for_sees_a_timeout_kill(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t, got = 0;
    bool timed_out = false;
    sf_result r;
    sf_error err;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"mode\": \"hang\"}]");
    c.timeout_ms = 500;
    d = icp_new_driver(&c);
    t = submit(d, &op);
    assert_int_equal(sf_driver_wait_for(d, 100, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_int_equal(sf_driver_wait_for(d, 20000, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t);
    icp_expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    sf_driver_destroy(d);
    expect_no_children();
}

/* Issue 12: the retry wrapper over icp. A status refused as SysTransient
 * backs off 4 s; a list held back 1 s completes meanwhile and is
 * delivered then, not after the backoff; the status is retried once, 4 s
 * after its failure, and succeeds. */
static void test_retry_backoff_lets_others_complete(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_clock wall = sf_clock_wall();
    sf_driver *d, *retry;
    sf_op status = icp_op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op list = icp_op_of(SF_OP_LIST, ROOT, NULL, NULL);
    uint64_t ts, tl, got;
    struct timespec t0;
    sf_result r;
    sf_error err;
    icp_calls k;

    (void)state;
    icp_write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", "
                    "\"count\": 1, \"mode\": \"systransient\"},"
                    " {\"op\": \"list\", \"mode\": \"delay\", "
                    "\"ms\": 1000}]");
    d = icp_new_driver(&c);
    assert_int_equal(sf_retry_driver_new(d, &wall, 3, 4000, 4000, &retry,
                                         &err), SF_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ts = submit(retry, &status);
    tl = submit(retry, &list);
    got = next_done(retry, &r);
    assert_true(got == tl);
    icp_expect_ok(&r);
    sf_result_free(&r);
    /* before the backoff ended (blocking, it came after 4 s) */
    assert_true(seconds_since(&t0) < 3.5);
    got = next_done(retry, &r);
    assert_true(got == ts);
    icp_expect_ok(&r);
    sf_result_free(&r);
    assert_true(seconds_since(&t0) >= 4.0);
    assert_int_equal(sf_retry_driver_retries(retry), 1);
    icp_read_calls(&k);
    assert_int_equal(icp_count_prefix(&k, "canister status"), 2);
    icp_free_calls(&k);
    sf_driver_destroy(retry);
    sf_driver_destroy(d);
    expect_no_children();
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
        cmocka_unit_test_setup_teardown(test_six_in_finish_order, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_hanging_child_killed_others_complete,
                                        icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_endless_writer_killed, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_output_caps_per_child, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_finish_order_after_a_busy_spell,
                                        icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_keeps_its_limit,
                                        icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_wait_for_sees_a_timeout_kill,
                                        icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_retry_backoff_lets_others_complete,
                                        icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_reaps_every_child, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
