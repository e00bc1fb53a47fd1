/* The transfers' progress: the status text, a live line redrawn in place
 * with the run's lines above it, plain lines on a pipe, and what counts as
 * done. A fake clock makes every figure exact. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/progress.h"

#define MiB (1024ull * 1024ull)

typedef struct t {
    uint64_t now;
    char *text;
    size_t len, mark;
    FILE *out;
    sf_progress *p;
} t;

static uint64_t fake_now(void *ctx)
{
    return ((t *)ctx)->now;
}

static void open_with(t *x, bool live)
{
    memset(x, 0, sizeof *x);
    x->now = 1000;
    x->out = open_memstream(&x->text, &x->len);
    assert_non_null(x->out);
    x->p = sf_progress_new(x->out, live, fake_now, x);
    assert_non_null(x->p);
}

/* What was written since the last call, then forgotten. */
static char *taken(t *x)
{
    char *s;

    fflush(x->out);
    s = strdup(x->text + x->mark);
    assert_non_null(s);
    x->mark = x->len;
    return s;
}

static void close_x(t *x)
{
    sf_progress_free(x->p);
    fclose(x->out);
    free(x->text);
}

static void status_is(t *x, const char *want)
{
    char line[256];

    sf_progress_status(x->p, line, sizeof line);
    assert_string_equal(line, want);
}

static void test_status_text(void **state)
{
    t x;

    (void)state;
    open_with(&x, false);
    sf_progress_expect(x.p, 640 * MiB);
    status_is(&x, "0 B of 640.0 MiB (0 %), 0 in flight");
    sf_progress_begin(x.p, "a");
    sf_progress_begin(x.p, "b");
    x.now = 2000;
    sf_progress_update(x.p, "a", 20 * MiB);
    status_is(&x, "20.0 MiB of 640.0 MiB (3 %), 20.0 MiB/s, 31 s left, "
                  "2 in flight");
    sf_progress_end(x.p, "a", true, 20 * MiB);
    status_is(&x, "20.0 MiB of 640.0 MiB (3 %), 20.0 MiB/s, 31 s left, "
                  "1 in flight");
    sf_progress_end(x.p, "b", false, 0);
    status_is(&x, "20.0 MiB of 640.0 MiB (3 %), 20.0 MiB/s, 31 s left, "
                  "0 in flight");
    close_x(&x);
}

/* Minutes and hours; sizes not known yet; bytes under a KiB. */
static void test_durations_and_unknown_sizes(void **state)
{
    t x;

    (void)state;
    open_with(&x, false);
    sf_progress_begin(x.p, "a");
    status_is(&x, "0 B, 1 in flight");
    x.now = 2000;
    sf_progress_update(x.p, "a", 512);
    status_is(&x, "512 B, 512 B/s, 1 in flight");
    sf_progress_update(x.p, "a", 1 * MiB);
    sf_progress_expect(x.p, 61 * MiB);
    status_is(&x, "1.0 MiB of 61.0 MiB (1 %), 1.0 MiB/s, 1m00s left, "
                  "1 in flight");
    sf_progress_expect(x.p, 3540 * MiB);
    status_is(&x, "1.0 MiB of 3.5 GiB (0 %), 1.0 MiB/s, 1h00m left, "
                  "1 in flight");
    close_x(&x);
}

/* A transfer begun again (a retry, a resume) counts this attempt's bytes
 * only; a failed one's bytes leave the total; an update never goes back
 * and one for a transfer not in flight is ignored. */
static void test_what_counts_as_done(void **state)
{
    t x;
    sf_progress_stats s;

    (void)state;
    open_with(&x, false);
    sf_progress_expect(x.p, 100);
    sf_progress_begin(x.p, "a");
    sf_progress_update(x.p, "a", 60);
    sf_progress_update(x.p, "a", 40);
    sf_progress_update(x.p, "nobody", 99);
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.done, 60);
    assert_int_equal(s.in_flight, 1);
    sf_progress_end(x.p, "a", false, 0);
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.done, 0);
    assert_int_equal(s.finished, 0);
    sf_progress_begin(x.p, "a");
    sf_progress_update(x.p, "a", 30);
    sf_progress_begin(x.p, "a"); /* again, without an end */
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.done, 0);
    sf_progress_end(x.p, "a", true, 100);
    sf_progress_end(x.p, "a", true, 0);
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.done, 100);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.finished, 2);
    assert_int_equal(s.expected, 100);
    /* expectations saturate */
    sf_progress_expect(x.p, UINT64_MAX);
    sf_progress_get_stats(x.p, &s);
    assert_true(s.expected == UINT64_MAX);
    close_x(&x);
}

/* On a terminal: the status redrawn in place, the run's lines printed
 * above it, redraws at most every SF_PROGRESS_LIVE_INTERVAL_MS between
 * events, and the line cleared at the end. */
static void test_live_line(void **state)
{
    t x;
    char *s;

    (void)state;
    open_with(&x, true);
    sf_progress_expect(x.p, 2048);
    sf_progress_begin(x.p, "a");
    s = taken(&x);
    assert_string_equal(s, "\r0 B of 2.0 KiB (0 %), 1 in flight\033[K");
    free(s);
    x.now += SF_PROGRESS_LIVE_INTERVAL_MS - 1;
    sf_progress_update(x.p, "a", 1);
    s = taken(&x);
    assert_string_equal(s, "");
    free(s);
    x.now = 2000;
    sf_progress_update(x.p, "a", 1024);
    s = taken(&x);
    assert_string_equal(s, "\r1.0 KiB of 2.0 KiB (50 %), 1.0 KiB/s, 1 s left, "
                           "1 in flight\033[K");
    free(s);
    sf_progress_printf(x.p, "snapfleet: %s", "stop aaaaa-aa: done");
    s = taken(&x);
    assert_string_equal(s, "\r\033[Ksnapfleet: stop aaaaa-aa: done\n"
                           "\r1.0 KiB of 2.0 KiB (50 %), 1.0 KiB/s, 1 s left, "
                           "1 in flight\033[K");
    free(s);
    sf_progress_free(x.p);
    x.p = NULL;
    s = taken(&x);
    assert_string_equal(s, "\r\033[K");
    free(s);
    close_x(&x);
}

/* Before any status is shown, a line is just a line. */
static void test_live_line_before_any_status(void **state)
{
    t x;
    char *s;

    (void)state;
    open_with(&x, true);
    sf_progress_printf(x.p, "snapfleet: %d", 1);
    s = taken(&x);
    assert_string_equal(s, "snapfleet: 1\n");
    free(s);
    close_x(&x);
}

/* On a pipe (--progress): a plain line when a transfer begins or ends,
 * and between events at most every SF_PROGRESS_PLAIN_INTERVAL_MS. */
static void test_plain_lines(void **state)
{
    t x;
    char *s;

    (void)state;
    open_with(&x, false);
    sf_progress_begin(x.p, "a");
    s = taken(&x);
    assert_string_equal(s, "snapfleet: progress: 0 B, 1 in flight\n");
    free(s);
    x.now += 1000;
    sf_progress_update(x.p, "a", 1024);
    s = taken(&x);
    assert_string_equal(s, "");
    free(s);
    x.now = 1000 + SF_PROGRESS_PLAIN_INTERVAL_MS;
    sf_progress_update(x.p, "a", 10240);
    s = taken(&x);
    assert_string_equal(s, "snapfleet: progress: 10.0 KiB, 1.0 KiB/s, "
                           "1 in flight\n");
    free(s);
    sf_progress_printf(x.p, "line");
    sf_progress_end(x.p, "a", true, 10240);
    s = taken(&x);
    assert_string_equal(s, "line\nsnapfleet: progress: 10.0 KiB, 1.0 KiB/s, "
                           "0 in flight\n");
    free(s);
    sf_progress_free(x.p);
    x.p = NULL;
    s = taken(&x);
    assert_string_equal(s, "");
    free(s);
    close_x(&x);
}

/* More transfers than the table holds: counted, not shown mid-way. */
static void test_more_than_the_table(void **state)
{
    t x;
    char key[32];
    sf_progress_stats s;
    int i;

    (void)state;
    open_with(&x, false);
    for (i = 0; i <= SF_PROGRESS_MAX_FLIGHT; i++) {
        snprintf(key, sizeof key, "k%d", i);
        sf_progress_begin(x.p, key);
        sf_progress_update(x.p, key, 10);
    }
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.in_flight, SF_PROGRESS_MAX_FLIGHT + 1);
    assert_int_equal(s.done, 10 * SF_PROGRESS_MAX_FLIGHT);
    snprintf(key, sizeof key, "k%d", SF_PROGRESS_MAX_FLIGHT);
    sf_progress_end(x.p, key, true, 10);
    sf_progress_get_stats(x.p, &s);
    assert_int_equal(s.done, 10 * SF_PROGRESS_MAX_FLIGHT + 10);
    close_x(&x);
}

/* No progress object: every call is a no-op. */
static void test_null_is_a_no_op(void **state)
{
    sf_progress_stats s;

    (void)state;
    sf_progress_expect(NULL, 1);
    sf_progress_begin(NULL, "a");
    sf_progress_update(NULL, "a", 1);
    sf_progress_end(NULL, "a", true, 1);
    sf_progress_printf(NULL, "x");
    sf_progress_get_stats(NULL, &s);
    assert_int_equal(s.expected, 0);
    assert_int_equal(s.in_flight, 0);
    sf_progress_free(NULL);
}

/* The real clock: time moves forward, the rate follows. */
static void test_monotonic_clock(void **state)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    sf_progress *p = sf_progress_new(out, false, NULL, NULL);
    char line[256];

    (void)state;
    assert_non_null(p);
    sf_progress_begin(p, "a");
    sf_progress_update(p, "a", 5);
    sf_progress_status(p, line, sizeof line);
    assert_non_null(strstr(line, "5 B"));
    assert_non_null(strstr(line, "1 in flight"));
    sf_progress_free(p);
    fclose(out);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_text),
        cmocka_unit_test(test_durations_and_unknown_sizes),
        cmocka_unit_test(test_what_counts_as_done),
        cmocka_unit_test(test_live_line),
        cmocka_unit_test(test_live_line_before_any_status),
        cmocka_unit_test(test_plain_lines),
        cmocka_unit_test(test_more_than_the_table),
        cmocka_unit_test(test_null_is_a_no_op),
        cmocka_unit_test(test_monotonic_clock),
    };
    return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
