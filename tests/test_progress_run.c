/* The status line in real runs on the simulator: what a backup and a
 * snapshot download expect (each snapshot's total size, once taken; a
 * resumed run what is still to download), what they count as done, the
 * run's lines going above the status, and a failed transfer leaving
 * nothing in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "support/restore_fixture.h"
#include "support/sim_fixture.h"

#include "snapfleet/backup.h"
#include "snapfleet/progress.h"

#define CANISTERS 4

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "progress");
    sf_fx_config(&cfg, 3, CANISTERS);
    sf_fx_start(f, &cfg);
    sf_fx_stack(f, NULL, false);
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

typedef struct watch {
    char *text;
    size_t len;
    FILE *out;
    sf_progress *p;
} watch;

static void watch_open(watch *w)
{
    memset(w, 0, sizeof *w);
    w->out = open_memstream(&w->text, &w->len);
    assert_non_null(w->out);
    w->p = sf_progress_new(w->out, false, NULL, NULL);
    assert_non_null(w->p);
}

static void watch_close(watch *w)
{
    sf_progress_free(w->p);
    fclose(w->out);
    free(w->text);
}

/* The total size of every snapshot the fleet holds that `before` did not
 * (the fixture's fleets hold none before a run). */
static uint64_t new_bytes(const sf_fx *f)
{
    uint64_t total = 0;
    size_t i, k;
    sf_error err;

    for (i = 0; i < sf_sim_canister_count(f->sim); i++) {
        sf_sim_canister_info c, b;

        assert_int_equal(sf_sim_canister_at(f->sim, i, &c, &err), SF_OK);
        assert_int_equal(sf_sim_canister_at(f->before, i, &b, &err), SF_OK);
        assert_int_equal(b.snapshot_count, 0);
        for (k = 0; k < c.snapshot_count; k++) {
            sf_snapshot_info snap;

            assert_int_equal(sf_sim_snapshot_at(f->sim, i, k, &snap, &err),
                             SF_OK);
            assert_true(snap.has_total_size);
            total += snap.total_size_bytes;
        }
    }
    return total;
}

static void test_backup_counts_every_snapshot(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_progress_stats s;
    sf_error err;
    watch w;
    char *last;

    watch_open(&w);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "b1"));
    c.log = w.out;
    c.progress = w.p;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    sf_backup_result_free(&r);
    sf_progress_get_stats(w.p, &s);
    assert_int_equal(s.finished, CANISTERS);
    assert_int_equal(s.in_flight, 0);
    assert_true(s.expected > 0);
    assert_true(s.expected == new_bytes(f));
    assert_true(s.done == s.expected);
    fflush(w.out);
    /* the run's lines and the status lines, the last one all done */
    assert_non_null(strstr(w.text, "snapfleet: download "));
    assert_non_null(strstr(w.text, "snapfleet: progress: 0 B of "));
    for (last = w.text; strstr(last + 1, "snapfleet: progress: ") != NULL;)
        last = strstr(last + 1, "snapfleet: progress: ");
    assert_non_null(strstr(last, "(100 %)"));
    assert_non_null(strstr(last, ", 0 in flight"));
    watch_close(&w);
}

/* Failed at its second download: the rerun expects what is still to
 * download, from the journal's receipts, and moves exactly that. */
static void test_resumed_backup_expects_what_is_left(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_progress_stats s;
    sf_error err;
    watch w;

    sf_fx_unstack(f);
    sf_fx_stack(f, "download:2=permanent", false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "b2"));
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    sf_fx_stack(f, NULL, false);
    watch_open(&w);
    c.progress = w.p;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    assert_true(r.complete);
    sf_backup_result_free(&r);
    sf_progress_get_stats(w.p, &s);
    assert_int_equal(s.finished, CANISTERS - 1);
    assert_true(s.expected > 0);
    assert_true(s.expected < new_bytes(f));
    assert_true(s.done == s.expected);
    watch_close(&w);
}

static void test_snapshot_download_counts_every_snapshot(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_progress_stats s;
    sf_error err;
    watch w;

    watch_open(&w);
    sf_fx_download_config(&c, f, sf_fx_path(f, "d1"));
    c.progress = w.p;
    assert_int_equal(sf_fx_download(f, &c, &r, &err), SF_OK);
    sf_snapshot_download_result_free(&r);
    sf_progress_get_stats(w.p, &s);
    assert_int_equal(s.finished, CANISTERS);
    assert_int_equal(s.in_flight, 0);
    assert_true(s.expected == new_bytes(f));
    assert_true(s.done == s.expected);
    watch_close(&w);
}

/* Every download refused: each attempt ends, none counts, none is left
 * in flight, and the run's error is the driver's. */
static void test_failed_transfers_leave_nothing_in_flight(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_progress_stats s;
    sf_error err;
    watch w;

    watch_open(&w);
    sf_fx_unstack(f);
    sf_fx_stack(f, "download=permanent", false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "b3"));
    c.progress = w.p;
    assert_int_equal(sf_backup_run(&c, f->top, &f->clock, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    sf_progress_get_stats(w.p, &s);
    assert_int_equal(s.in_flight, 0);
    assert_int_equal(s.finished, 0);
    assert_int_equal(s.done, 0);
    assert_true(s.expected > 0);
    fflush(w.out);
    assert_non_null(strstr(w.text, "snapfleet: progress: 0 B of "));
    watch_close(&w);
}

/* A restore expects each upload's bytes when it decides to upload (an
 * in-place member may load from its canister instead) and moves exactly
 * those. */
static void test_restore_counts_every_upload(void **state)
{
    sf_fx f;
    sf_rfx_capture cap;
    sf_restore_config c;
    sf_progress_stats s;
    char out[700];
    watch w;

    (void)state;
    sf_rfx_fleet(&f, "progress-restore", 3, CANISTERS);
    snprintf(out, sizeof out, "%s", sf_fx_path(&f, "b"));
    sf_rfx_backup(&f, out, NULL, &cap);
    sf_fx_stack(&f, NULL, false);
    watch_open(&w);
    sf_rfx_config(&c, out, SF_RESTORE_MODE_EXECUTE);
    c.progress = w.p;
    sf_rfx_run_complete(&f, &c);
    sf_progress_get_stats(w.p, &s);
    assert_int_equal(s.finished, cap.n);
    assert_int_equal(s.in_flight, 0);
    assert_true(s.expected > 0);
    assert_true(s.done == s.expected);
    watch_close(&w);
    sf_fx_teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_backup_counts_every_snapshot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_resumed_backup_expects_what_is_left,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_counts_every_snapshot,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_transfers_leave_nothing_in_flight,
                                        setup, teardown),
        cmocka_unit_test(test_restore_counts_every_upload),
    };
    return cmocka_run_group_tests_name("progress_run", tests, NULL, NULL);
}
