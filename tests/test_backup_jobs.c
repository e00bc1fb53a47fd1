/* `backup --jobs N`: several operations in flight through the driver's
 * submit/wait. Completions in every order (a driver that hands them back
 * in a scripted order, and the simulator with jitter); the rules of what
 * may overlap, read from the trace; a failure while others are in flight;
 * lost responses among several in flight; every fault on every operation
 * kind with 4 jobs; one job byte-identical to the sequential runner. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "order_driver.h"
#include "sim_fixture.h"
#include "snapfleet/backup.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/plan.h"
#include "snapfleet/simrun.h"

/* seed 2, 4 canisters: R (root) with children A and B; C under B. */
enum { R = 0, A = 1, B = 2, C = 3 };

static void fresh(sf_fx *f, uint64_t seed, uint64_t canisters, uint64_t jitter)
{
    sf_sim_config cfg;

    sf_fx_setup(f, "jobs");
    sf_fx_config(&cfg, seed, canisters);
    cfg.jitter_ms = jitter;
    sf_fx_start(f, &cfg);
}

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    fresh(f, 2, 4, 0);
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

static void read_file(const char *dir, const char *name, char **out,
                      size_t *len)
{
    char path[1400];
    sf_error err;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (sf_fs_read_file(path, 1u << 26, out, len, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
}

/* Checks, over the trace of a complete backup with up to `jobs`
 * operations at once:
 *   - at most jobs driver calls in flight, and at most one per canister;
 *   - fleet schedule: no create submitted while a stop is in flight or to
 *     come, no start while a create is, no download while a stop, create
 *     or start is; a stop never in flight beside a stop of another depth.
 * Returns the most calls seen in flight at once. */
static size_t check_trace(const sf_fx *f, const sf_buf *log, unsigned jobs,
                          bool fleet)
{
    sf_fx_flight *v;
    size_t n = sf_fx_flights(log, &v), i, k, most = 0;
    size_t stops_total = 0, creates_total = 0, starts_total = 0;
    size_t stops_done = 0, creates_done = 0, starts_done = 0;

    for (i = 0; i < n; i++) {
        if (!v[i].submit)
            continue;
        stops_total += strcmp(v[i].op, "stop") == 0;
        creates_total += strcmp(v[i].op, "create") == 0;
        starts_total += strcmp(v[i].op, "start") == 0;
    }
    for (i = 0; i < n; i++) {
        size_t live = 0;

        if (!v[i].submit) {
            stops_done += strcmp(v[i].op, "stop") == 0;
            creates_done += strcmp(v[i].op, "create") == 0;
            starts_done += strcmp(v[i].op, "start") == 0;
            continue;
        }
        /* what is in flight when this one is submitted */
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
            if (fleet && strcmp(v[k].op, "stop") == 0 &&
                strcmp(v[i].op, "stop") == 0) {
                size_t dk = sf_fx_depth(f->before, v[k].id);
                size_t di = sf_fx_depth(f->before, v[i].id);

                if (dk != di)
                    fail_msg("line %zu: stops of depths %zu and %zu overlap",
                             i, dk, di);
            }
        }
        if (live + 1 > jobs)
            fail_msg("line %zu: %zu calls in flight, jobs %u", i, live + 1, jobs);
        if (live + 1 > most)
            most = live + 1;
        if (!fleet)
            continue;
        if (strcmp(v[i].op, "create") == 0 && stops_done < stops_total)
            fail_msg("line %zu: a create before every stop ended", i);
        if (strcmp(v[i].op, "start") == 0 && creates_done < creates_total)
            fail_msg("line %zu: a start before every create ended", i);
        if (strcmp(v[i].op, "download") == 0 &&
            (stops_done < stops_total || creates_done < creates_total ||
             starts_done < starts_total))
            fail_msg("line %zu: a download while the fleet is not running "
                     "again", i);
    }
    free(v);
    return most;
}

/* ---- one job: exactly the sequential runner ---- */

/* One job is the sequential runner: the same driver calls in the same
 * order at the same virtual times, and the same documents byte for byte
 * (the library's default, 0, against 1: two runs from the same fleet
 * into the same path). */
static void one_job_is_the_sequential_runner(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c0, c1;
    sf_buf log0;
    char moved[1200];
    static const char *const docs[] = {
        SF_EXEC_JOURNAL_FILE_NAME, SF_DOWNLOAD_JOURNAL_FILE_NAME,
        SF_MANIFEST_FILE_NAME, SF_PLAN_FILE_NAME, SF_OBSERVATIONS_FILE_NAME,
        SF_TRANSITION_LOG_FILE_NAME,
    };
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c0, f, sf_fx_path(f, "bk"));
    sf_fx_backup_complete(f, &c0);
    sf_buf_init(&log0);
    sf_buf_puts(&log0, sf_buf_cstr(&f->log));
    sf_fx_unstack(f);
    snprintf(moved, sizeof moved, "%s", sf_fx_path(f, "bk0"));
    assert_int_equal(rename(c0.out, moved), 0);
    /* the fleet as it was (the state file was not written by the run) */
    sf_fx_reload(f);
    sf_buf_free(&f->log);
    sf_buf_init(&f->log);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c1, f, sf_fx_path(f, "bk"));
    c1.jobs = 1;
    sf_fx_backup_complete(f, &c1);
    assert_string_equal(sf_buf_cstr(&f->log), sf_buf_cstr(&log0));
    sf_buf_free(&log0);
    for (i = 0; i < sizeof docs / sizeof *docs; i++) {
        char *x, *y;
        size_t nx, ny;

        read_file(moved, docs[i], &x, &nx);
        read_file(c1.out, docs[i], &y, &ny);
        if (nx != ny || memcmp(x, y, nx) != 0)
            fail_msg("%s differs between jobs 0 and jobs 1", docs[i]);
        free(x);
        free(y);
    }
}

static void jobs_out_of_range_refused(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 65;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_string_equal(err.field, "jobs");
    sf_backup_result_free(&r);
    assert_false(sf_fx_exists(c.out));
}

/* ---- completions in every order ---- */

static void scripted_orders(sf_backup_schedule schedule, unsigned jobs)
{
    uint64_t seed;

    for (seed = 1; seed <= 24; seed++) {
        sf_fx f;
        sf_backup_config c;
        sf_driver *top;

        fresh(&f, 2, 4, 0);
        sf_fx_stack(&f, NULL, false);
        top = f.top;
        f.top = sf_order_driver_new(top, seed);
        assert_non_null(f.top);
        sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
        c.schedule = schedule;
        c.jobs = jobs;
        c.verify_transfer = seed % 2 == 0;
        sf_fx_backup_complete(&f, &c);
        sf_driver_destroy(f.top);
        f.top = top;
        sf_fx_assert_clean_end(&f, c.out, 4);
        sf_fx_teardown(&f);
    }
}

static void every_order_fleet(void **state)
{
    (void)state;
    scripted_orders(SF_BACKUP_FLEET, 4);
    scripted_orders(SF_BACKUP_FLEET, 2);
}

static void every_order_per_canister(void **state)
{
    (void)state;
    scripted_orders(SF_BACKUP_PER_CANISTER, 4);
    scripted_orders(SF_BACKUP_PER_CANISTER, 3);
}

/* A larger fleet with jitter: the overlap rules hold in every run, the
 * backup is the one a single job makes, and more than one call was in
 * flight at once. */
static void larger_fleet_with_jitter(void **state)
{
    static const unsigned jobs[] = {2, 4, 8, 64};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof jobs / sizeof *jobs; k++) {
        sf_fx f, ref;
        sf_backup_config c, rc;
        size_t most;

        fresh(&ref, 5, 14, 30);
        sf_fx_stack(&ref, NULL, false);
        sf_fx_backup_config(&rc, &ref, sf_fx_path(&ref, "bk"));
        rc.jobs = 1;
        sf_fx_backup_complete(&ref, &rc);

        fresh(&f, 5, 14, 30);
        sf_fx_stack(&f, NULL, false);
        sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
        c.jobs = jobs[k];
        sf_fx_backup_complete(&f, &c);
        most = check_trace(&f, &f.log, jobs[k], true);
        assert_true(most > 1);
        sf_fx_assert_clean_end(&f, c.out, 14);
        sf_fx_assert_backups_equal(rc.out, c.out);
        /* and sooner in virtual time */
        assert_true(f.clock.now_ms(f.clock.ctx) < ref.clock.now_ms(ref.clock.ctx));
        sf_fx_teardown(&f);
        sf_fx_teardown(&ref);
    }
}

/* The per-canister schedule: the canisters' chains overlap (more than one
 * call in flight), never two calls of one canister; each canister is
 * stopped only for its own snapshot and transfer. */
static void per_canister_chains_overlap(void **state)
{
    static const unsigned jobs[] = {2, 4, 8};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof jobs / sizeof *jobs; k++) {
        sf_fx f, ref;
        sf_backup_config c, rc;
        sf_backup_result r, rr;
        sf_error err;
        size_t i;

        fresh(&ref, 5, 14, 30);
        sf_fx_stack(&ref, NULL, false);
        sf_fx_backup_config(&rc, &ref, sf_fx_path(&ref, "bk"));
        rc.schedule = SF_BACKUP_PER_CANISTER;
        rc.jobs = 1;
        assert_int_equal(sf_fx_backup(&ref, &rc, &rr, &err), SF_OK);

        fresh(&f, 5, 14, 30);
        sf_fx_stack(&f, NULL, false);
        sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
        c.schedule = SF_BACKUP_PER_CANISTER;
        c.jobs = jobs[k];
        assert_int_equal(sf_fx_backup(&f, &c, &r, &err), SF_OK);
        assert_true(r.complete);
        assert_true(check_trace(&f, &f.log, jobs[k], false) > 1);
        sf_fx_assert_clean_end(&f, c.out, 14);
        sf_fx_assert_backups_equal(rc.out, c.out);
        assert_true(f.clock.now_ms(f.clock.ctx) < ref.clock.now_ms(ref.clock.ctx));
        /* no canister held stopped much longer than with one job: its own
         * chain only (transfers share nothing in this fleet) */
        assert_int_equal(r.stopped_count, rr.stopped_count);
        for (i = 0; i < r.stopped_count; i++) {
            size_t m;

            for (m = 0; m < rr.stopped_count &&
                        strcmp(rr.stopped[m].canister_id,
                               r.stopped[i].canister_id) != 0; m++)
                ;
            assert_true(m < rr.stopped_count);
            assert_true(r.stopped[i].stopped_ms <=
                        2 * rr.stopped[m].stopped_ms + 100);
        }
        sf_backup_result_free(&r);
        sf_backup_result_free(&rr);
        sf_fx_teardown(&f);
        sf_fx_teardown(&ref);
    }
}

/* ---- failures with others in flight ---- */

/* B's download fails for good while A's, C's and R's are in flight: no
 * operation starts after it (finalize stays ready), those in flight end
 * and are recorded, the run returns B's error and a rerun completes. */
static void failure_while_others_in_flight(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_exec_journal j;
    sf_error err;
    char faults[160];
    size_t i, failed = 0, pending = 0, done_downloads = 0;

    snprintf(faults, sizeof faults, "download:%s=permanent",
             sf_fx_id(f->before, B));
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 4;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    assert_string_equal(err.kind, "driver-permanent");
    assert_non_null(strstr(err.message, sf_fx_id(f->before, B)));
    sf_fx_read_exec(c.out, &j);
    for (i = 0; i < j.operation_count; i++) {
        const sf_exec_operation *op = &j.operations[i];

        failed += op->state == SF_EXEC_FAILED;
        pending += op->state == SF_EXEC_PENDING;
        if (op->kind == SF_PHASE_DOWNLOAD_SNAPSHOT &&
            op->state == SF_EXEC_COMPLETED)
            done_downloads++;
        if (op->kind == SF_PHASE_FINALIZE_MANIFEST)
            assert_int_equal(op->state, SF_EXEC_READY);
    }
    sf_exec_journal_free(&j);
    assert_int_equal(failed, 1);
    assert_int_equal(pending, 0);
    /* the other three downloads were in flight beside B's and ended */
    assert_int_equal(done_downloads, 3);
    sf_fx_assert_invariants(f, c.out, false);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* An operation that fails before its first driver call (R's verify, its
 * download gone) ends inside its spawn: nothing starts after it, though
 * the other downloads are ready and jobs are free. */
static void failure_before_any_call_starts_nothing(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_exec_journal j;
    sf_error err;
    char tmp[1400];
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 1;
    c.max_steps = 13; /* 4 stops, 4 snapshots, 4 starts, R's download */
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    assert_true(r.max_steps_reached);
    sf_backup_result_free(&r);
    snprintf(tmp, sizeof tmp, "rm -rf '%s/%s.tmp'", c.out, f->root);
    assert_int_equal(system(tmp), 0);
    sf_buf_free(&f->log);
    sf_buf_init(&f->log);
    c.jobs = 4;
    c.max_steps = 0;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    assert_int_equal(r.executed, 1); /* the verify, failed */
    sf_backup_result_free(&r);
    assert_int_equal(sf_fx_trace_count(&f->log, "download"), 0);
    sf_fx_read_exec(c.out, &j);
    for (i = 0; i < j.operation_count; i++) {
        const sf_exec_operation *op = &j.operations[i];

        if (op->kind == SF_PHASE_VERIFY_ARTIFACT &&
            strcmp(op->target_canister_id, f->root) == 0)
            assert_int_equal(op->state, SF_EXEC_FAILED);
        else if (op->kind == SF_PHASE_DOWNLOAD_SNAPSHOT &&
                 strcmp(op->target_canister_id, f->root) != 0)
            assert_int_equal(op->state, SF_EXEC_READY);
    }
    sf_exec_journal_free(&j);
}

/* A stop refused in the first wave of a wider fleet: the other stops of
 * its wave end, nothing of the next wave starts, containment starts what
 * was stopped. */
static void failure_in_a_wave_stops_the_next(void **state)
{
    sf_fx f;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char faults[160];
    const char *victim;
    size_t i;

    (void)state;
    fresh(&f, 5, 14, 10);
    /* a canister at depth 1 */
    for (i = 1; sf_fx_depth(f.before, sf_fx_id(f.before, i)) != 1; i++)
        ;
    victim = sf_fx_id(f.before, i);
    snprintf(faults, sizeof faults, "stop:%s=permanent", victim);
    sf_fx_stack(&f, faults, false);
    sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
    c.jobs = 8;
    assert_int_equal(sf_fx_backup(&f, &c, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    assert_string_equal(err.kind, "driver-permanent");
    /* nothing deeper was stopped, nothing snapshotted */
    assert_int_equal(sf_fx_trace_count(&f.log, "create"), 0);
    for (i = 0; i < sf_sim_canister_count(f.before); i++) {
        const char *id = sf_fx_id(f.before, i);

        assert_int_equal(sf_fx_status(f.sim, id), SF_STATUS_RUNNING);
    }
    sf_fx_assert_invariants(&f, c.out, false);
    sf_fx_teardown(&f);
}

/* Lost responses on creates, stops, starts and downloads of several
 * canisters in flight together: each reconciled on its own. */
static void lost_responses_among_several(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    char faults[1024];

    snprintf(faults, sizeof faults,
             "create:%s:1=lost-response,create:%s:1=lost-response,"
             "stop:%s:1=lost-response,stop:%s:1=lost-response,"
             "start:%s:1=lost-response,start:%s:1=lost-response,"
             "status:%s:1=lost-response,list:%s:1=lost-response",
             sf_fx_id(f->before, A), sf_fx_id(f->before, B),
             sf_fx_id(f->before, A), sf_fx_id(f->before, B),
             sf_fx_id(f->before, A), sf_fx_id(f->before, B),
             sf_fx_id(f->before, C), sf_fx_id(f->before, C));
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 4;
    sf_fx_backup_complete(f, &c);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 4);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* ---- every fault on every operation kind, with 4 jobs ---- */

typedef struct fault_case {
    const char *op;
    const char *effect;
    int target;
    bool every;
    const char *kind; /* NULL: the run completes */
} fault_case;

static const fault_case fault_cases[] = {
    {"status", "transient", B, true, "driver-transient"},
    {"status", "permanent", B, false, "driver-permanent"},
    {"status", "lost-response", B, false, NULL},
    {"stop", "transient", B, false, NULL},
    {"stop", "transient", B, true, "driver-transient"},
    {"stop", "permanent", B, false, "driver-permanent"},
    {"stop", "lost-response", B, false, NULL},
    {"list", "permanent", B, false, "driver-permanent"},
    {"list", "lost-response", B, false, NULL},
    {"create", "transient", B, true, "driver-transient"},
    {"create", "permanent", B, false, "driver-permanent"},
    {"create", "lost-response", B, false, NULL},
    {"download", "transient", B, true, "driver-transient"},
    {"download", "permanent", B, false, "driver-permanent"},
    {"download", "lost-response", B, false, "driver-unknown-outcome"},
    {"download", "corrupt", C, false, NULL},
    {"start", "transient", B, false, NULL},
    {"start", "permanent", B, false, "driver-permanent"},
    {"start", "lost-response", B, false, NULL},
};

static void fault_matrix(sf_backup_schedule schedule)
{
    size_t n;

    for (n = 0; n < sizeof fault_cases / sizeof *fault_cases; n++) {
        const fault_case *fc = &fault_cases[n];
        sf_fx f;
        sf_backup_config c;
        sf_backup_result r;
        sf_error err;
        char faults[160];

        fresh(&f, 2, 4, 0);
        snprintf(faults, sizeof faults, "%s:%s%s=%s", fc->op,
                 sf_fx_id(f.before, (size_t)fc->target), fc->every ? "" : ":1",
                 fc->effect);
        sf_fx_stack(&f, faults, false);
        sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
        c.schedule = schedule;
        c.jobs = 4;
        c.verify_transfer = strcmp(fc->effect, "corrupt") == 0;
        if (sf_fx_backup(&f, &c, &r, &err) == SF_OK) {
            bool complete = r.complete;

            sf_backup_result_free(&r);
            if (fc->kind != NULL)
                fail_msg("%s: completed; wanted %s", faults, fc->kind);
            assert_true(complete);
        } else {
            sf_backup_result_free(&r);
            if (fc->kind == NULL || err.kind == NULL ||
                strcmp(err.kind, fc->kind) != 0)
                fail_msg("%s: failed with %s (%s); wanted %s", faults,
                         err.kind ? err.kind : "(null)", err.message,
                         fc->kind ? fc->kind : "completion");
        }
        sf_fx_assert_invariants(&f, c.out, false);
        if (fc->kind != NULL) {
            sf_fx_stack(&f, NULL, false);
            sf_fx_backup_complete(&f, &c);
            sf_fx_assert_invariants(&f, c.out, false);
        }
        sf_fx_assert_clean_end(&f, c.out, 4);
        sf_fx_teardown(&f);
    }
}

static void fault_matrix_fleet(void **state)
{
    (void)state;
    fault_matrix(SF_BACKUP_FLEET);
}

static void fault_matrix_per_canister(void **state)
{
    (void)state;
    fault_matrix(SF_BACKUP_PER_CANISTER);
}

/* max_steps counts operations started: a run of 4 jobs pauses after N
 * and a rerun finishes. */
static void max_steps_with_jobs(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 4;
    c.max_steps = 6;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    assert_true(r.max_steps_reached);
    assert_false(r.complete);
    assert_int_equal(r.executed, 6);
    sf_backup_result_free(&r);
    c.max_steps = 0;
    sf_fx_backup_complete(f, &c);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
}

/* ---- how long the fleet stood stopped ---- */

/* The trace's time of a line "t=<ms> <what> #<n> <op> <id>": the first
 * submit of a stop of id, or the last completion of a start of id. */
static uint64_t trace_time(const sf_buf *log, const char *what,
                           const char *op, const char *id, bool last)
{
    const char *p = sf_buf_cstr(log);
    uint64_t found = UINT64_MAX;

    while (*p != '\0') {
        size_t len = strcspn(p, "\n");
        char line[1024], w[16], o[16], cid[64];
        unsigned long long t;

        snprintf(line, sizeof line, "%.*s", (int)(len < 1023 ? len : 1023), p);
        if (sscanf(line, "t=%llu %15s #%*u %15s %63s", &t, w, o, cid) == 4 &&
            strcmp(w, what) == 0 && strcmp(o, op) == 0 && strcmp(cid, id) == 0) {
            found = t;
            if (!last)
                return found;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    return found;
}

static void check_stopped_times(const sf_fx *f, const sf_backup_result *r)
{
    uint64_t first = UINT64_MAX, last = 0;
    size_t i;

    assert_int_equal(r->stopped_count, 4);
    for (i = 0; i < r->stopped_count; i++) {
        const char *id = r->stopped[i].canister_id;
        uint64_t a = trace_time(&f->log, "submit", "stop", id, false);
        uint64_t b = trace_time(&f->log, "done", "start", id, true);

        assert_true(r->stopped[i].restarted);
        assert_int_equal(r->stopped[i].stopped_ms, b - a);
        first = a < first ? a : first;
        last = b > last ? b : last;
    }
    assert_true(r->has_fleet_stopped_span);
    assert_int_equal(r->fleet_stopped_span_ms, last - first);
}

/* Per canister, from the stop's issue to the start's completion; the
 * fleet, from the first stop to the last start; shorter with the fleet
 * schedule's waves than with one job. */
static void stopped_times(void **state)
{
    static const unsigned jobs[] = {1, 4};
    uint64_t span[2];
    size_t k;

    (void)state;
    for (k = 0; k < 2; k++) {
        sf_fx f;
        sf_backup_config c;
        sf_backup_result r;
        sf_error err;

        fresh(&f, 2, 4, 7);
        sf_fx_stack(&f, NULL, false);
        sf_fx_backup_config(&c, &f, sf_fx_path(&f, "bk"));
        c.jobs = jobs[k];
        assert_int_equal(sf_fx_backup(&f, &c, &r, &err), SF_OK);
        check_stopped_times(&f, &r);
        span[k] = r.fleet_stopped_span_ms;
        /* a rerun of a complete backup stops nothing */
        sf_backup_result_free(&r);
        assert_int_equal(sf_fx_backup(&f, &c, &r, &err), SF_OK);
        assert_int_equal(r.stopped_count, 0);
        assert_false(r.has_fleet_stopped_span);
        sf_backup_result_free(&r);
        sf_fx_teardown(&f);
    }
    assert_true(span[1] < span[0]);
}

/* Left stopped: each canister stopped, none restarted, no span. */
static void stopped_times_left_stopped(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 4;
    c.leave_stopped = true;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    assert_int_equal(r.stopped_count, 4);
    for (i = 0; i < 4; i++) {
        assert_false(r.stopped[i].restarted);
        assert_int_equal(r.stopped[i].stopped_ms, 0);
    }
    assert_false(r.has_fleet_stopped_span);
    sf_backup_result_free(&r);
}

/* A failure after the stops: containment's starts close the intervals. */
static void stopped_times_after_containment(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char faults[160];

    snprintf(faults, sizeof faults, "create:%s=permanent",
             sf_fx_id(f->before, C));
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "bk"));
    c.jobs = 4;
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    check_stopped_times(f, &r);
    sf_backup_result_free(&r);
}

/* ---- snapshot download: targets captured at once ---- */

static void download_ok(sf_fx *f, const sf_snapshot_download_config *c,
                        sf_snapshot_download_result *r)
{
    sf_error err;

    if (sf_fx_download(f, c, r, &err) != SF_OK)
        fail_msg("download failed: %s (%s)", err.message,
                 err.kind ? err.kind : "?");
}

/* One job is today's pipeline (the same calls, the same bytes); several
 * make the same artifacts, listed in target order, sooner. */
static void download_jobs(void **state)
{
    sf_fx *f = *state, g;
    sf_snapshot_download_config c0, c1, c4;
    sf_snapshot_download_result r0, r1, r4;
    sf_buf log0;
    char moved[1200];
    size_t i;
    static const char *const docs[] = {
        SF_DOWNLOAD_JOURNAL_FILE_NAME, SF_MANIFEST_FILE_NAME,
        SF_OBSERVATIONS_FILE_NAME, SF_TRANSITION_LOG_FILE_NAME,
    };

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c0, f, sf_fx_path(f, "dl"));
    c0.backup_id = "jobs";
    download_ok(f, &c0, &r0);
    sf_buf_init(&log0);
    sf_buf_puts(&log0, sf_buf_cstr(&f->log));
    sf_fx_unstack(f);
    snprintf(moved, sizeof moved, "%s", sf_fx_path(f, "dl0"));
    assert_int_equal(rename(c0.out, moved), 0);
    sf_fx_reload(f);
    sf_buf_free(&f->log);
    sf_buf_init(&f->log);
    sf_fx_stack(f, NULL, false);
    c1 = c0;
    c1.jobs = 1;
    download_ok(f, &c1, &r1);
    assert_string_equal(sf_buf_cstr(&f->log), sf_buf_cstr(&log0));
    sf_buf_free(&log0);
    for (i = 0; i < sizeof docs / sizeof *docs; i++) {
        char *x, *y;
        size_t nx, ny;

        read_file(moved, docs[i], &x, &nx);
        read_file(c1.out, docs[i], &y, &ny);
        if (nx != ny || memcmp(x, y, nx) != 0)
            fail_msg("%s differs between jobs 0 and jobs 1", docs[i]);
        free(x);
        free(y);
    }
    sf_snapshot_download_result_free(&r1);

    /* a wider fleet with jitter, 4 jobs against 1 */
    fresh(&g, 5, 14, 30);
    sf_fx_stack(&g, NULL, false);
    sf_fx_download_config(&c4, &g, sf_fx_path(&g, "dl"));
    c4.backup_id = "jobs";
    c4.jobs = 4;
    download_ok(&g, &c4, &r4);
    assert_int_equal(r4.artifact_count, 14);
    sf_fx_assert_clean_end(&g, c4.out, 14);
    {
        sf_fx h;
        sf_snapshot_download_config ch;
        sf_snapshot_download_result rh;

        fresh(&h, 5, 14, 30);
        sf_fx_stack(&h, NULL, false);
        sf_fx_download_config(&ch, &h, sf_fx_path(&h, "dl"));
        ch.backup_id = "jobs";
        ch.jobs = 1;
        download_ok(&h, &ch, &rh);
        assert_int_equal(rh.artifact_count, r4.artifact_count);
        for (i = 0; i < rh.artifact_count; i++) {
            assert_string_equal(rh.artifacts[i].canister_id,
                                r4.artifacts[i].canister_id);
            assert_string_equal(rh.artifacts[i].snapshot_id,
                                r4.artifacts[i].snapshot_id);
        }
        sf_fx_assert_backups_equal(ch.out, c4.out);
        assert_true(g.clock.now_ms(g.clock.ctx) < h.clock.now_ms(h.clock.ctx));
        sf_snapshot_download_result_free(&rh);
        sf_fx_teardown(&h);
    }
    sf_snapshot_download_result_free(&r4);
    sf_fx_teardown(&g);
    sf_snapshot_download_result_free(&r0);
}

static void download_every_order(void **state)
{
    uint64_t seed;

    (void)state;
    for (seed = 1; seed <= 16; seed++) {
        sf_fx f;
        sf_snapshot_download_config c;
        sf_snapshot_download_result r;
        sf_driver *top;

        fresh(&f, 2, 4, 0);
        sf_fx_stack(&f, NULL, false);
        top = f.top;
        f.top = sf_order_driver_new(top, seed);
        assert_non_null(f.top);
        sf_fx_download_config(&c, &f, sf_fx_path(&f, "dl"));
        c.jobs = seed % 2 ? 4 : 2;
        c.verify_transfer = seed % 3 == 0;
        download_ok(&f, &c, &r);
        sf_driver_destroy(f.top);
        f.top = top;
        assert_int_equal(r.artifact_count, 4);
        for (size_t i = 0; i < 4; i++)
            assert_string_equal(r.artifacts[i].canister_id,
                                sf_fx_id(f.before, i));
        sf_snapshot_download_result_free(&r);
        sf_fx_assert_clean_end(&f, c.out, 4);
        sf_fx_teardown(&f);
    }
}

/* B's download fails for good while the others' captures run: none
 * starts after it, those running end (their artifacts durable), the run
 * fails with B's error, containment starts B again, a rerun finishes. */
static void download_failure_with_others_running(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;
    char faults[160];

    snprintf(faults, sizeof faults, "download:%s=permanent",
             sf_fx_id(f->before, B));
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "dl"));
    c.jobs = 4;
    assert_int_equal(sf_fx_download(f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_non_null(strstr(err.message, sf_fx_id(f->before, B)));
    {
        sf_download_journal dj;
        sf_exec_journal ej;
        bool have_j, have_dj;
        size_t i, durable = 0;

        assert_int_equal(sf_backup_state_read(c.out, &ej, &have_j, &dj,
                                              &have_dj, &err), SF_OK);
        assert_true(have_dj);
        for (i = 0; i < dj.artifact_count; i++)
            durable += dj.artifacts[i].state == SF_ARTIFACT_DURABLE;
        assert_int_equal(durable, 3);
        sf_download_journal_free(&dj);
        if (have_j)
            sf_exec_journal_free(&ej);
    }
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(sf_fx_status(f->sim, sf_fx_id(f->before, i)),
                         SF_STATUS_RUNNING);
    sf_fx_stack(f, NULL, false);
    download_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    sf_fx_assert_clean_end(f, c.out, 4);
}

static void download_jobs_out_of_range_refused(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "dl"));
    c.jobs = 65;
    assert_int_equal(sf_fx_download(f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_string_equal(err.field, "jobs");
    assert_false(sf_fx_exists(c.out));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(one_job_is_the_sequential_runner),
        T(jobs_out_of_range_refused),
        T(every_order_fleet),
        T(every_order_per_canister),
        T(larger_fleet_with_jitter),
        T(per_canister_chains_overlap),
        T(failure_while_others_in_flight),
        T(failure_in_a_wave_stops_the_next),
        T(failure_before_any_call_starts_nothing),
        T(lost_responses_among_several),
        T(fault_matrix_fleet),
        T(fault_matrix_per_canister),
        T(max_steps_with_jobs),
        T(stopped_times),
        T(stopped_times_left_stopped),
        T(stopped_times_after_containment),
        T(download_jobs),
        T(download_every_order),
        T(download_failure_with_others_running),
        T(download_jobs_out_of_range_refused),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
