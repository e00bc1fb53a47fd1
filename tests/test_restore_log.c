/*
 * A restore on its transition log (core/engine/runlog.c, restore_log.c):
 * a killed restore's last transitions are in <restore dir>/
 * snapfleet-transitions.log only, and recovery (the run, `restore status`)
 * is the newest checkpoint (the apply journal, the restore observations)
 * plus the later records. Each kind of damage: a torn last record is
 * dropped; a damaged record followed by valid ones, a sequence gap, a
 * record of another run, an illegal transition and a document changed
 * behind the log's back are refused naming the file (and the record's
 * byte offset), changing nothing. A restore directory with no log
 * (canic's, an older snapfleet's) resumes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/restore_log.h"
#include "log_fixture.h"
#include "restore_fixture.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/restore.h"
#include "snapfleet/txlog.h"

#define SEED 2
#define CANISTERS 3

typedef struct t {
    sf_fx f;
    sf_rfx_capture cap;
    char out[600];
    char *dir, *log, *rj, *obs;
} t;

static int restore_fn(sf_fx *f, void *ctx)
{
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    int rc;

    sf_rfx_config(&c, ctx, SF_RESTORE_MODE_EXECUTE);
    rc = sf_restore_run(&c, f->top, &f->clock, &r, &err);
    if (rc == SF_OK && !r.complete)
        rc = SF_ERR;
    sf_restore_result_free(&r);
    return rc;
}

static int setup(void **state)
{
    t *x = calloc(1, sizeof *x);
    size_t i;

    if (x == NULL)
        return -1;
    sf_rfx_fleet(&x->f, "rlog", SEED, CANISTERS);
    snprintf(x->out, sizeof x->out, "%s", sf_fx_path(&x->f, "backup"));
    sf_rfx_backup(&x->f, x->out, NULL, &x->cap);
    for (i = 0; i < x->cap.n; i++)
        sf_rfx_mutate(&x->f, x->cap.m[i].id);
    sf_fx_snap_before(&x->f);
    x->dir = sf_rfx_restore_path(x->out, NULL, NULL);
    x->log = sf_rfx_restore_path(x->out, NULL, SF_TRANSITION_LOG_FILE_NAME);
    x->rj = sf_rfx_restore_path(x->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    x->obs = sf_rfx_restore_path(x->out, NULL, SF_RESTORE_OBSERVATIONS_FILE_NAME);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    t *x = *state;

    sf_crash_after_writes_install(0);
    sf_fx_teardown(&x->f);
    free(x->dir);
    free(x->log);
    free(x->rj);
    free(x->obs);
    free(x);
    return 0;
}

/* The durable writes of an uninterrupted restore (from a copy of the
 * fleet, so x's is untouched). */
static uint64_t writes_of_a_restore(t *x)
{
    sf_restore_config c;
    sf_error err;
    sf_sim *pre;
    char pre_path[700];
    uint64_t n;

    snprintf(pre_path, sizeof pre_path, "%s", sf_fx_path(&x->f, "pre.json"));
    if (sf_sim_save(x->f.sim, pre_path, &err) != SF_OK)
        fail_msg("%s", err.message);
    sf_fx_stack(&x->f, NULL, true);
    sf_rfx_config(&c, x->out, SF_RESTORE_MODE_EXECUTE);
    sf_crash_after_writes_install_fn(UINT64_MAX, NULL, NULL);
    sf_rfx_run_complete(&x->f, &c);
    n = sf_crash_writes_seen();
    sf_crash_after_writes_install(0);
    sf_fx_unstack(&x->f);
    /* back to the fleet before the restore, no restore directory */
    if (sf_sim_load(pre_path, &pre, &err) != SF_OK ||
        sf_sim_save(pre, x->f.state, &err) != SF_OK)
        fail_msg("%s", err.message);
    sf_sim_free(pre);
    sf_fx_reload(&x->f);
    if (sf_remove_tree(x->dir, &err) != SF_OK)
        fail_msg("%s", err.message);
    return n;
}

/* Kills a restore halfway through its writes. */
static void crash_halfway(t *x)
{
    uint64_t n = writes_of_a_restore(x);
    int code;

    assert_true(n > 20);
    assert_true(sf_fx_crash_run(&x->f, n / 2, restore_fn, x->out, &code));
}

static size_t completed(const sf_restore_journal *j)
{
    size_t i, n = 0;

    for (i = 0; i < j->operations_len; i++)
        n += j->operations[i].state == SF_RESTORE_COMPLETED;
    return n;
}

/* The journal as it stands (checkpoint + log); SF_OK or the error. */
static int read_state(t *x, sf_restore_journal *j, sf_error *err)
{
    sf_observations obs;
    int rc = sf_restore_docs_read(x->dir, j, &obs, err);

    if (rc == SF_OK)
        sf_obs_free(&obs);
    return rc;
}

/* What an operator does: --unclaim-pending (nothing pending is fine),
 * then --execute, which completes and restores the fleet. */
static void recovery_completes(t *x)
{
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    int rc;

    sf_fx_stack(&x->f, NULL, true);
    sf_rfx_config(&c, x->out, SF_RESTORE_MODE_UNCLAIM_PENDING);
    rc = sf_rfx_run(&x->f, &c, &r, &err);
    sf_restore_result_free(&r);
    if (rc != SF_OK && strcmp(err.kind, "no-pending-operation") != 0)
        fail_msg("--unclaim-pending: %s (%s)", err.message, err.kind);
    sf_rfx_config(&c, x->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&x->f, &c);
    sf_fx_unstack(&x->f);
    sf_rfx_assert_restored(x->f.sim, &x->cap, NULL);
    sf_rfx_assert_journal_complete(x->out, NULL);
}

/* The rerun, the recovery modes and `restore status` refuse with kind,
 * the message naming file and `offset` (when >= 0); the log and both
 * documents are unchanged. */
static void refused(t *x, const char *kind, const char *file, long offset)
{
    static const sf_restore_mode modes[] = {SF_RESTORE_MODE_EXECUTE,
                                            SF_RESTORE_MODE_UNCLAIM_PENDING,
                                            SF_RESTORE_MODE_RETRY_FAILED,
                                            SF_RESTORE_MODE_DRY_RUN};
    const char *paths[3] = {x->log, x->rj, x->obs};
    sf_buf before[3], after;
    sf_restore_journal j;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char want[64];
    size_t i;

    sf_buf_init(&after);
    for (i = 0; i < 3; i++) {
        sf_buf_init(&before[i]);
        sf_lfx_read_or_none(paths[i], &before[i]);
    }
    assert_int_equal(read_state(x, &j, &err), SF_ERR);
    assert_string_equal(err.kind, kind);
    if (strstr(err.message, file) == NULL)
        fail_msg("the message does not name %s: %s", file, err.message);
    snprintf(want, sizeof want, "offset %ld", offset);
    if (offset >= 0 && strstr(err.message, want) == NULL)
        fail_msg("the message does not name %s: %s", want, err.message);
    assert_int_equal(sf_restore_status(x->out, NULL, &r, &err), SF_ERR);
    sf_restore_result_free(&r);
    assert_string_equal(err.kind, kind);
    sf_fx_stack(&x->f, NULL, true);
    for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        sf_rfx_config(&c, x->out, modes[i]);
        assert_int_equal(sf_rfx_run(&x->f, &c, &r, &err), SF_ERR);
        sf_restore_result_free(&r);
        assert_string_equal(err.kind, kind);
    }
    sf_fx_unstack(&x->f);
    for (i = 0; i < 3; i++) {
        sf_lfx_read_or_none(paths[i], &after);
        assert_int_equal(before[i].len, after.len);
        assert_memory_equal(before[i].data, after.data, after.len);
        sf_buf_free(&before[i]);
    }
    sf_buf_free(&after);
}

static void test_log_holds_what_the_documents_lack(void **state)
{
    t *x = *state;
    sf_restore_journal doc, now;
    sf_restore_result st;
    sf_error err;
    sf_lfx_recs *r = malloc(sizeof *r);
    char want[64];
    size_t i, tags[2] = {0, 0};

    crash_halfway(x);
    sf_rfx_read_journal(x->out, NULL, &doc);
    assert_int_equal(read_state(x, &now, &err), SF_OK);
    sf_lfx_records(x->log, r);
    assert_true(r->tag[0] == 'B'); /* a log starts from its documents */
    assert_true(sf_lfx_last_marker(r) + 1 < r->n);
    for (i = 0; i < r->n; i++) {
        tags[0] += r->tag[i] == 'R';
        tags[1] += r->tag[i] == 'O';
    }
    assert_true(tags[0] > 0 && tags[1] > 0);
    /* the killed run's last transitions are in the log only */
    assert_true(completed(&now) > completed(&doc));
    assert_true(now.receipt_count > doc.receipt_count);
    /* and `restore status` sees them */
    assert_int_equal(sf_restore_status(x->out, NULL, &st, &err), SF_OK);
    snprintf(want, sizeof want, "\"completed_operations\": %zu",
             completed(&now));
    if (strstr(sf_buf_cstr(&st.report), want) == NULL)
        fail_msg("status does not say %s:\n%s", want, sf_buf_cstr(&st.report));
    sf_restore_result_free(&st);
    sf_restore_journal_free(&doc);
    sf_restore_journal_free(&now);
    free(r);
    recovery_completes(x);
    /* the exit checkpoint left the documents whole */
    sf_rfx_read_journal(x->out, NULL, &doc);
    assert_int_equal(read_state(x, &now, &err), SF_OK);
    assert_int_equal(completed(&doc), doc.operations_len);
    assert_int_equal(completed(&now), completed(&doc));
    sf_restore_journal_free(&doc);
    sf_restore_journal_free(&now);
}

static void test_directory_without_a_log_resumes(void **state)
{
    t *x = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    sf_lfx_recs *rr = malloc(sizeof *rr);

    /* a paused run leaves whole documents, as canic or an older snapfleet
     * would; without the log they are all there is */
    sf_fx_stack(&x->f, NULL, true);
    sf_rfx_config(&c, x->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 4;
    assert_int_equal(sf_rfx_run(&x->f, &c, &r, &err), SF_OK);
    assert_false(r.complete);
    sf_restore_result_free(&r);
    sf_fx_unstack(&x->f);
    assert_int_equal(unlink(x->log), 0);
    /* status reads the documents alone */
    assert_int_equal(sf_restore_status(x->out, NULL, &r, &err), SF_OK);
    sf_restore_result_free(&r);
    recovery_completes(x);
    sf_lfx_records(x->log, rr);
    assert_true(rr->tag[0] == 'B');
    free(rr);
}

static void test_torn_last_record_is_dropped(void **state)
{
    t *x = *state;
    sf_buf b;
    sf_restore_journal before, after;
    sf_error err;

    crash_halfway(x);
    assert_int_equal(read_state(x, &before, &err), SF_OK);
    sf_buf_init(&b);
    sf_lfx_read_bytes(x->log, &b);
    sf_lfx_write_bytes(x->log, b.data, b.len - 5); /* a crash mid-append */
    sf_buf_free(&b);
    assert_int_equal(read_state(x, &after, &err), SF_OK);
    assert_true(completed(&after) <= completed(&before));
    sf_restore_journal_free(&before);
    sf_restore_journal_free(&after);
    recovery_completes(x);
}

static void test_damaged_record_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_buf b;
    size_t k;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    k = r->n - 2; /* a record with a valid one after it */
    sf_buf_init(&b);
    sf_lfx_read_bytes(x->log, &b);
    b.data[r->off[k] + SF_TXLOG_HEADER_SIZE + 1] ^= 0x20;
    sf_lfx_write_bytes(x->log, b.data, b.len);
    sf_buf_free(&b);
    refused(x, SF_EK_TXLOG_DAMAGED, SF_TRANSITION_LOG_FILE_NAME,
            (long)r->off[k]);
    free(r);
}

static void test_sequence_gap_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_buf b, cut;
    size_t k;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    k = r->n - 3;
    sf_buf_init(&b);
    sf_buf_init(&cut);
    sf_lfx_read_bytes(x->log, &b);
    /* record k left out: k + 1 follows k - 1 */
    assert_int_equal(sf_buf_append(&cut, b.data, r->off[k]), SF_OK);
    assert_int_equal(sf_buf_append(&cut, b.data + r->off[k + 1],
                                   b.len - r->off[k + 1]), SF_OK);
    sf_lfx_write_bytes(x->log, cut.data, cut.len);
    sf_buf_free(&b);
    sf_buf_free(&cut);
    refused(x, SF_EK_TXLOG_SEQUENCE, SF_TRANSITION_LOG_FILE_NAME,
            (long)r->off[k]);
    free(r);
}

static void test_record_of_another_run_is_refused(void **state)
{
    t *x = *state;

    crash_halfway(x);
    sf_lfx_reencode_other_run(x->log);
    refused(x, SF_EK_TXLOG_RUN, SF_TRANSITION_LOG_FILE_NAME, 0);
}

/* Appends one 'R' record: operation i of j (as changed by the caller),
 * with the receipts from `first` on; returns its offset. */
static long append_journal_record(t *x, const sf_lfx_recs *r,
                                  const sf_restore_journal *j, size_t i,
                                  size_t first)
{
    sf_restore_journal part = *j;
    sf_buf json;
    sf_error err;
    long off;

    part.operations = &j->operations[i];
    part.operations_len = 1;
    part.receipts = j->receipts + first;
    part.receipt_count = j->receipt_count - first;
    sf_buf_init(&json);
    assert_int_equal(sf_buf_printf(&json, "R %zu\n", first), SF_OK);
    assert_int_equal(sf_restore_journal_write_json_part(&part, &json, &err),
                     SF_OK);
    off = sf_lfx_append(x->log, r, json.data, json.len);
    sf_buf_free(&json);
    return off;
}

static size_t first_completed(const sf_restore_journal *j)
{
    size_t i;

    for (i = 0; i < j->operations_len; i++)
        if (j->operations[i].state == SF_RESTORE_COMPLETED)
            return i;
    fail_msg("nothing completed");
    return 0;
}

/* A completed operation back to ready: canic's table refuses it. */
static void test_illegal_transition_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_restore_journal j;
    sf_error err;
    size_t i;
    long off;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    i = first_completed(&j);
    j.operations[i].state = SF_RESTORE_READY;
    off = append_journal_record(x, r, &j, i, j.receipt_count);
    refused(x, "invalid-operation-transition", SF_TRANSITION_LOG_FILE_NAME,
            off);
    sf_restore_journal_free(&j);
    free(r);
}

/* An operation that is not the next one moving: canic's order refuses. */
static void test_out_of_order_transition_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_restore_journal j;
    sf_error err;
    size_t i;
    long off;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    i = j.operations_len - 1;
    assert_int_equal(j.operations[i].state, SF_RESTORE_READY);
    j.operations[i].state = SF_RESTORE_PENDING;
    off = append_journal_record(x, r, &j, i, j.receipt_count);
    refused(x, "out-of-order-operation-transition",
            SF_TRANSITION_LOG_FILE_NAME, off);
    sf_restore_journal_free(&j);
    free(r);
}

/* Whether operation i could be claimed beside others: ready, and every
 * earlier operation of its canister completed. */
static bool claimable(const sf_restore_journal *j, size_t i)
{
    size_t k;

    if (j->operations[i].state != SF_RESTORE_READY)
        return false;
    for (k = 0; k < i; k++)
        if (strcmp(j->operations[k].target_canister,
                   j->operations[i].target_canister) == 0 &&
            j->operations[k].state != SF_RESTORE_COMPLETED)
            return false;
    return true;
}

/* A run with several operations in flight leaves several claims in the
 * log, the later one first: the replay takes them, and --unclaim-pending
 * releases every one, after which the restore completes. */
static void test_several_pending_replay_and_unclaim(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_restore_journal j, now;
    sf_error err;
    size_t i, found[2], n = 0, pending;

    crash_halfway(x);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    pending = j.pending_operations;
    for (i = 0; i < j.operations_len && n < 2; i++)
        if (claimable(&j, i))
            found[n++] = i;
    assert_int_equal(n, 2);
    for (i = 2; i-- > 0;) {
        sf_restore_journal_op *op = &j.operations[found[i]];

        op->state = SF_RESTORE_PENDING;
        free(op->state_updated_at);
        op->state_updated_at = strdup("unix:5");
        sf_lfx_records(x->log, r);
        append_journal_record(x, r, &j, found[i], j.receipt_count);
    }
    if (read_state(x, &now, &err) != SF_OK)
        fail_msg("the replay refused the claims: %s (%s)", err.message, err.kind);
    assert_int_equal(now.pending_operations, pending + 2);
    assert_int_equal(now.operations[found[0]].state, SF_RESTORE_PENDING);
    assert_int_equal(now.operations[found[1]].state, SF_RESTORE_PENDING);
    sf_restore_journal_free(&now);
    sf_restore_journal_free(&j);
    free(r);
    recovery_completes(x);
}

/* A record of another restore's operation, or whose receipts do not
 * follow the journal's last. */
static void test_foreign_record_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_restore_journal j;
    sf_error err;
    size_t i;
    long off;
    char *saved;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    i = first_completed(&j);
    saved = j.operations[i].target_canister;
    j.operations[i].target_canister = (char *)"aaaaa-aa";
    off = append_journal_record(x, r, &j, i, j.receipt_count);
    j.operations[i].target_canister = saved;
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    /* receipts the journal already holds */
    sf_lfx_records(x->log, r);
    {
        sf_buf b;

        sf_buf_init(&b);
        sf_lfx_read_bytes(x->log, &b);
        sf_lfx_write_bytes(x->log, b.data, (size_t)off); /* the bad record gone */
        sf_buf_free(&b);
    }
    sf_lfx_records(x->log, r);
    assert_true(j.receipt_count > 0);
    off = append_journal_record(x, r, &j, i, j.receipt_count - 1);
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_restore_journal_free(&j);
    free(r);
}

/* Appends one 'R' record holding operations [i, i + count) of j and no
 * receipt; returns its offset. */
static long append_ops_record(t *x, const sf_lfx_recs *r, const sf_restore_journal *j,
                              size_t i, size_t count)
{
    sf_restore_journal part = *j;
    sf_buf json;
    sf_error err;
    long off;

    part.operations = &j->operations[i];
    part.operations_len = count;
    part.receipts = NULL;
    part.receipt_count = 0;
    sf_buf_init(&json);
    assert_int_equal(sf_buf_printf(&json, "R %zu\n", j->receipt_count), SF_OK);
    assert_int_equal(sf_restore_journal_write_json_part(&part, &json, &err),
                     SF_OK);
    off = sf_lfx_append(x->log, r, json.data, json.len);
    sf_buf_free(&json);
    return off;
}

/* Reading the state is refused with a message holding `text`. */
static void says(t *x, const char *text)
{
    sf_restore_journal j;
    sf_error err;

    assert_int_equal(read_state(x, &j, &err), SF_ERR);
    if (strstr(err.message, text) == NULL)
        fail_msg("expected \"%s\" in: %s", text, err.message);
}

/* A record of the restore of another backup, one naming an operation the
 * journal does not hold, and one holding two operations: each refused at
 * its offset, nothing changed. */
static void test_record_shape_refusals(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_restore_journal j, j2;
    sf_error err;
    size_t i;
    long off;
    char *saved;
    uint64_t seq;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    i = first_completed(&j);
    /* another backup's restore */
    saved = j.backup_id;
    j.backup_id = (char *)"another-backup";
    off = append_ops_record(x, r, &j, i, 1);
    j.backup_id = saved;
    says(x, "the restore of backup another-backup");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* an operation the journal does not hold */
    seq = j.operations[i].sequence;
    j.operations[i].sequence = 999999;
    off = append_ops_record(x, r, &j, i, 1);
    j.operations[i].sequence = seq;
    says(x, "operation 999999 is not in the journal");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* two operations in one record */
    assert_true(j.operations_len >= 2);
    off = append_ops_record(x, r, &j, 0, 2);
    says(x, "holds 2 operations, not one");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* a move to blocked: no transition leads there */
    {
        sf_restore_state st = j.operations[i].state;

        j.operations[i].state = SF_RESTORE_BLOCKED;
        off = append_ops_record(x, r, &j, i, 1);
        j.operations[i].state = st;
        says(x, "illegal transition of operation");
        refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
        sf_lfx_cut(x->log, off);
    }
    /* a record whose journal does not parse */
    {
        sf_error perr;
        char kind[64];

        off = sf_lfx_append(x->log, r, "R 0\n{", 4);
        assert_int_equal(read_state(x, &j2, &perr), SF_ERR);
        if (strstr(perr.message, "restore apply journal record: ") == NULL)
            fail_msg("not named as the record's: %s", perr.message);
        snprintf(kind, sizeof kind, "%s", perr.kind);
        refused(x, kind, SF_TRANSITION_LOG_FILE_NAME, off);
        sf_lfx_cut(x->log, off);
    }
    /* the log as it was: recovery completes */
    recovery_completes(x);
    sf_restore_journal_free(&j);
    free(r);
}

static void test_document_changed_behind_the_log_is_refused(void **state)
{
    t *x = *state;
    sf_restore_journal j;
    sf_error err;
    size_t i;

    crash_halfway(x);
    /* the killed run's journal on disk is the one its first run wrote */
    sf_rfx_read_journal(x->out, NULL, &j);
    i = 0;
    free(j.operations[i].state_updated_at);
    j.operations[i].state_updated_at = strdup("unix:1");
    assert_int_equal(sf_restore_journal_write_file(x->rj, &j, &err), SF_OK);
    sf_restore_journal_free(&j);
    refused(x, "txlog-checkpoint", SF_RESTORE_JOURNAL_FILE_NAME, -1);
}

/* --unclaim-pending with nothing pending and --retry-failed with nothing
 * failed read the journal and the log and write nothing (not even a
 * checkpoint marker), and say where the restore stands. */
static void test_nothing_to_recover_writes_nothing(void **state)
{
    t *x = *state;
    static const sf_restore_mode modes[] = {SF_RESTORE_MODE_UNCLAIM_PENDING,
                                            SF_RESTORE_MODE_RETRY_FAILED};
    static const char *const kinds[] = {"no-pending-operation",
                                        "no-failed-operation"};
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    sf_buf log0, rj0, now;
    size_t i;

    sf_fx_stack(&x->f, NULL, true);
    sf_rfx_config(&c, x->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 4;
    assert_int_equal(sf_rfx_run(&x->f, &c, &r, &err), SF_OK);
    sf_restore_result_free(&r);
    sf_buf_init(&log0);
    sf_buf_init(&rj0);
    sf_buf_init(&now);
    sf_lfx_read_bytes(x->log, &log0);
    sf_lfx_read_bytes(x->rj, &rj0);
    for (i = 0; i < 2; i++) {
        sf_rfx_config(&c, x->out, modes[i]);
        assert_int_equal(sf_rfx_run(&x->f, &c, &r, &err), SF_ERR);
        assert_string_equal(err.kind, kinds[i]);
        assert_non_null(strstr(sf_buf_cstr(&r.report),
                               "\"completed_operations\": 4"));
        sf_restore_result_free(&r);
        sf_lfx_read_bytes(x->log, &now);
        assert_int_equal(now.len, log0.len);
        assert_memory_equal(now.data, log0.data, now.len);
        sf_lfx_read_bytes(x->rj, &now);
        assert_int_equal(now.len, rj0.len);
        assert_memory_equal(now.data, rj0.data, now.len);
    }
    sf_fx_unstack(&x->f);
    sf_buf_free(&log0);
    sf_buf_free(&rj0);
    sf_buf_free(&now);
    recovery_completes(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_log_holds_what_the_documents_lack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_without_a_log_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_record_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_gap_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_of_another_run_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transition_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_transition_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_pending_replay_and_unclaim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_record_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_shape_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_document_changed_behind_the_log_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_to_recover_writes_nothing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
