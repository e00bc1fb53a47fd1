/*
 * A backup on its transition log (core/engine/runlog.c, backup_log.c): a
 * killed run's last transitions are in snapfleet-transitions.log only,
 * and recovery (the run, `backup status`, the readers) is the newest
 * checkpoint plus the later records. Each kind of damage: a torn last
 * record is dropped; a damaged record followed by valid ones, a sequence
 * gap, a record of another run, an illegal transition and a document
 * changed behind the log's back are refused naming the file (and the
 * record's byte offset), changing nothing. A directory with no log (canic,
 * an older snapfleet) resumes.
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

#include "engine/backup_log.h"
#include "engine/runlog.h"
#include "log_fixture.h"
#include "sim_fixture.h"
#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/txlog.h"
#include "tmpdir.h"

#define CANISTERS 3

typedef struct t {
    sf_fx f;
    char out[600], log[700], ej[700];
} t;

static int backup_fn(sf_fx *f, void *ctx)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_backup_config(&c, f, ctx);
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    return rc;
}

static uint64_t reference_writes(void)
{
    sf_fx g;
    sf_sim_config cfg;
    sf_fx_writes w;
    uint64_t n;

    sf_fx_setup(&g, "blog-ref");
    sf_fx_config(&cfg, 2, CANISTERS);
    sf_fx_start(&g, &cfg);
    memset(&w, 0, sizeof w);
    sf_fx_stack(&g, NULL, false);
    sf_fx_writes_begin(&w);
    assert_int_equal(backup_fn(&g, (void *)sf_fx_path(&g, "ref")), SF_OK);
    sf_fx_writes_end(&w);
    n = w.n;
    sf_fx_writes_free(&w);
    sf_fx_unstack(&g);
    sf_fx_teardown(&g);
    return n;
}

static uint64_t n_writes;

static int group_setup(void **state)
{
    (void)state;
    n_writes = reference_writes();
    return n_writes > 20 ? 0 : -1;
}

static int setup(void **state)
{
    t *x = calloc(1, sizeof *x);
    sf_sim_config cfg;

    if (x == NULL)
        return -1;
    sf_fx_setup(&x->f, "blog");
    sf_fx_config(&cfg, 2, CANISTERS);
    sf_fx_start(&x->f, &cfg);
    snprintf(x->out, sizeof x->out, "%s", sf_fx_path(&x->f, "out"));
    snprintf(x->log, sizeof x->log, "%s/%s", x->out, SF_TRANSITION_LOG_FILE_NAME);
    snprintf(x->ej, sizeof x->ej, "%s/%s", x->out, SF_EXEC_JOURNAL_FILE_NAME);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    t *x = *state;

    sf_fx_teardown(&x->f);
    free(x);
    return 0;
}

/* Kills a backup halfway through its writes (inside the run loop, after
 * the preflight checkpoint, before the finalize one). */
static void crash_halfway(t *x)
{
    int code;

    assert_true(sf_fx_crash_run(&x->f, n_writes / 2, backup_fn, x->out, &code));
}

static size_t completed(const sf_exec_journal *j)
{
    size_t i, n = 0;

    for (i = 0; i < j->operation_count; i++)
        n += j->operations[i].state == SF_EXEC_COMPLETED;
    return n;
}

/* The journal as it stands (checkpoint + log); SF_OK or the error. */
static int read_state(t *x, sf_exec_journal *j, sf_error *err)
{
    sf_download_journal dj;
    bool have_j, have_dj;
    int rc = sf_backup_state_read(x->out, j, &have_j, &dj, &have_dj, err);

    if (rc == SF_OK) {
        assert_true(have_j);
        sf_download_journal_free(&dj);
    }
    return rc;
}

static void rerun_completes(t *x)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;

    sf_fx_stack(&x->f, NULL, true);
    sf_fx_backup_config(&c, &x->f, x->out);
    if (sf_fx_backup(&x->f, &c, &r, &err) != SF_OK)
        fail_msg("rerun: %s (%s)", err.message, err.kind);
    assert_true(r.complete);
    sf_backup_result_free(&r);
    sf_fx_unstack(&x->f);
    assert_int_equal(sf_fx_assert_verifies(x->out), CANISTERS);
    sf_fx_assert_invariants(&x->f, x->out, false);
}

/* The rerun and the reader refuse with kind, the message naming the log
 * and `offset` (when given); the log and the journal are unchanged. */
static void refused(t *x, const char *kind, const char *file, long offset)
{
    sf_buf log0, ej0, log1, ej1;
    sf_exec_journal j;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char want[64];

    sf_buf_init(&log0);
    sf_buf_init(&ej0);
    sf_buf_init(&log1);
    sf_buf_init(&ej1);
    sf_lfx_read_bytes(x->log, &log0);
    sf_lfx_read_bytes(x->ej, &ej0);
    assert_int_equal(read_state(x, &j, &err), SF_ERR);
    assert_string_equal(err.kind, kind);
    if (strstr(err.message, file) == NULL)
        fail_msg("the message does not name %s: %s", file, err.message);
    snprintf(want, sizeof want, "offset %ld", offset);
    if (offset >= 0 && strstr(err.message, want) == NULL)
        fail_msg("the message does not name %s: %s", want, err.message);
    sf_fx_stack(&x->f, NULL, true);
    sf_fx_backup_config(&c, &x->f, x->out);
    assert_int_equal(sf_fx_backup(&x->f, &c, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    sf_fx_unstack(&x->f);
    assert_string_equal(err.kind, kind);
    sf_lfx_read_bytes(x->log, &log1);
    sf_lfx_read_bytes(x->ej, &ej1);
    assert_int_equal(log0.len, log1.len);
    assert_memory_equal(log0.data, log1.data, log0.len);
    assert_int_equal(ej0.len, ej1.len);
    assert_memory_equal(ej0.data, ej1.data, ej0.len);
    sf_buf_free(&log0);
    sf_buf_free(&ej0);
    sf_buf_free(&log1);
    sf_buf_free(&ej1);
}

static void test_log_holds_what_the_documents_lack(void **state)
{
    t *x = *state;
    sf_exec_journal doc, now;
    sf_error err;
    sf_lfx_recs *r = malloc(sizeof *r);

    crash_halfway(x);
    assert_int_equal(sf_exec_journal_read_file(x->ej, &doc, &err), SF_OK);
    assert_int_equal(read_state(x, &now, &err), SF_OK);
    sf_lfx_records(x->log, r);
    assert_true(r->tag[0] == 'B'); /* a log starts from its documents */
    assert_true(sf_lfx_last_marker(r) + 1 < r->n);
    /* the killed run's last transitions are in the log only */
    assert_true(completed(&now) > completed(&doc));
    assert_true(now.receipt_count > doc.receipt_count);
    sf_exec_journal_free(&doc);
    sf_exec_journal_free(&now);
    free(r);
    rerun_completes(x);
    /* the exit checkpoint left the documents whole */
    assert_int_equal(sf_exec_journal_read_file(x->ej, &doc, &err), SF_OK);
    assert_int_equal(read_state(x, &now, &err), SF_OK);
    assert_int_equal(completed(&doc), doc.operation_count);
    assert_int_equal(completed(&now), completed(&doc));
    sf_exec_journal_free(&doc);
    sf_exec_journal_free(&now);
}

static int backup_jobs_fn(sf_fx *f, void *ctx)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_backup_config(&c, f, ctx);
    c.jobs = 4;
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    return rc;
}

/* With several jobs, several operations are pending at once, each by its
 * own record: a run killed then leaves them pending in the log, recovery
 * replays them all, and a rerun (with several jobs, or one) finishes. */
static void test_several_pending_records(void **state)
{
    t *x = *state;
    uint64_t k;
    int rounds = 0;

    for (k = 1; k < n_writes && rounds < 2; k++) {
        sf_exec_journal j;
        sf_error err;
        size_t i, pending = 0;
        int code;

        sf_fx_teardown(&x->f);
        {
            sf_sim_config cfg;

            sf_fx_setup(&x->f, "blog");
            sf_fx_config(&cfg, 2, CANISTERS);
            sf_fx_start(&x->f, &cfg);
            snprintf(x->out, sizeof x->out, "%s", sf_fx_path(&x->f, "out"));
            snprintf(x->log, sizeof x->log, "%s/%s", x->out,
                     SF_TRANSITION_LOG_FILE_NAME);
            snprintf(x->ej, sizeof x->ej, "%s/%s", x->out,
                     SF_EXEC_JOURNAL_FILE_NAME);
        }
        if (!sf_fx_crash_run(&x->f, k, backup_jobs_fn, x->out, &code))
            break;
        if (!sf_fx_exists(x->log))
            continue;
        assert_int_equal(read_state(x, &j, &err), SF_OK);
        for (i = 0; i < j.operation_count; i++)
            pending += j.operations[i].state == SF_EXEC_PENDING;
        sf_exec_journal_free(&j);
        if (pending < 2)
            continue;
        /* the first such crash reruns with several jobs, the second
         * with one */
        if (rounds == 0) {
            sf_backup_config c;
            sf_backup_result r;

            sf_fx_stack(&x->f, NULL, true);
            sf_fx_backup_config(&c, &x->f, x->out);
            c.jobs = 4;
            if (sf_fx_backup(&x->f, &c, &r, &err) != SF_OK)
                fail_msg("rerun: %s (%s)", err.message, err.kind);
            assert_true(r.complete);
            sf_backup_result_free(&r);
            sf_fx_unstack(&x->f);
            assert_int_equal(sf_fx_assert_verifies(x->out), CANISTERS);
            sf_fx_assert_invariants(&x->f, x->out, false);
        } else {
            rerun_completes(x);
        }
        rounds++;
    }
    assert_int_equal(rounds, 2);
}

static void test_directory_without_a_log_resumes(void **state)
{
    t *x = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    sf_lfx_recs *rr = malloc(sizeof *rr);

    /* a paused run leaves whole documents, as canic or an older snapfleet
     * would; without the log they are all there is */
    sf_fx_stack(&x->f, NULL, true);
    sf_fx_backup_config(&c, &x->f, x->out);
    c.max_steps = 9;
    assert_int_equal(sf_fx_backup(&x->f, &c, &r, &err), SF_OK);
    assert_true(r.max_steps_reached);
    sf_backup_result_free(&r);
    sf_fx_unstack(&x->f);
    assert_int_equal(unlink(x->log), 0);
    rerun_completes(x);
    sf_lfx_records(x->log, rr);
    assert_true(rr->tag[0] == 'B');
    free(rr);
}

static void test_torn_last_record_is_dropped(void **state)
{
    t *x = *state;
    sf_buf b;
    sf_exec_journal before, after;
    sf_error err;

    crash_halfway(x);
    assert_int_equal(read_state(x, &before, &err), SF_OK);
    sf_buf_init(&b);
    sf_lfx_read_bytes(x->log, &b);
    sf_lfx_write_bytes(x->log, b.data, b.len - 5); /* a crash mid-append */
    sf_buf_free(&b);
    assert_int_equal(read_state(x, &after, &err), SF_OK);
    assert_true(completed(&after) <= completed(&before));
    sf_exec_journal_free(&before);
    sf_exec_journal_free(&after);
    rerun_completes(x);
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

static void test_illegal_transition_is_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_exec_journal j, part;
    sf_buf json;
    sf_error err;
    size_t i;
    long off;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    /* a completed operation back to ready */
    for (i = 0; i < j.operation_count; i++)
        if (j.operations[i].state == SF_EXEC_COMPLETED &&
            !sf_exec_kind_is_preflight(j.operations[i].kind))
            break;
    assert_true(i < j.operation_count);
    j.operations[i].state = SF_EXEC_READY;
    part = j;
    part.operations = &j.operations[i];
    part.operation_count = 1;
    part.receipt_count = 0;
    sf_buf_init(&json);
    assert_int_equal(sf_buf_printf(&json, "X %zu\n", j.receipt_count), SF_OK);
    assert_int_equal(sf_exec_journal_write_json_part(&part, &json, &err), SF_OK);
    off = sf_lfx_append(x->log, r, json.data, json.len);
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_buf_free(&json);
    sf_exec_journal_free(&j);
    free(r);
}

/* An 'X' record holding operations [i, i + count) of j and no receipt. */
static long append_exec(t *x, const sf_lfx_recs *r, const sf_exec_journal *j,
                        size_t i, size_t count)
{
    sf_exec_journal part = *j;
    sf_buf json;
    sf_error err;
    long off;

    part.operations = &j->operations[i];
    part.operation_count = count;
    part.receipt_count = 0;
    sf_buf_init(&json);
    assert_int_equal(sf_buf_printf(&json, "X %zu\n", j->receipt_count), SF_OK);
    assert_int_equal(sf_exec_journal_write_json_part(&part, &json, &err), SF_OK);
    off = sf_lfx_append(x->log, r, json.data, json.len);
    sf_buf_free(&json);
    return off;
}

/* A 'D' record holding artifact i of dj (as changed by the caller). */
static long append_dj(t *x, const sf_lfx_recs *r, const sf_download_journal *dj,
                      size_t i)
{
    sf_download_journal part = *dj;
    sf_buf json;
    sf_error err;
    long off;

    part.artifacts = &dj->artifacts[i];
    part.artifact_count = 1;
    sf_buf_init(&json);
    assert_int_equal(sf_buf_printf(&json, "D 0\n"), SF_OK);
    assert_int_equal(sf_download_journal_write_json_part(&part, &json, &err),
                     SF_OK);
    off = sf_lfx_append(x->log, r, json.data, json.len);
    sf_buf_free(&json);
    return off;
}

/* Reading the state is refused with a message holding `text`. */
static void says(t *x, const char *text)
{
    sf_exec_journal j;
    sf_error err;

    assert_int_equal(read_state(x, &j, &err), SF_ERR);
    if (strstr(err.message, text) == NULL)
        fail_msg("expected \"%s\" in: %s", text, err.message);
}

/* Refused as the reader refuses (its kind), the message holding `text`. */
static void refused_saying(t *x, const char *text, long off)
{
    sf_exec_journal j;
    sf_error err;
    char kind[64];

    assert_int_equal(read_state(x, &j, &err), SF_ERR);
    if (strstr(err.message, text) == NULL)
        fail_msg("expected \"%s\" in: %s", text, err.message);
    snprintf(kind, sizeof kind, "%s", err.kind);
    refused(x, kind, SF_TRANSITION_LOG_FILE_NAME, off);
}

/* Records that do not parse as the log's own: no header, an unknown tag,
 * a malformed checkpoint marker, a marker naming an unknown document. */
static void test_malformed_records_are_refused(void **state)
{
    static const struct {
        const char *payload, *why;
    } cases[] = {
        {"X", "no record header"},
        {"X 12", "no record header"},
        {"Q 0\n{}", "an unknown record tag"},
        {"B 0\nno-separator", "a malformed checkpoint marker"},
        {"B 0\nunknown.json 00\n", "names an unknown document"},
    };
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    size_t k;
    long off;

    static const struct {
        const char *payload, *why;
    } unparsed[] = {
        {"X 0\n{", "execution journal record: "},
        {"D 0\n{", "download journal record: "},
        {"O 0\n{", "observations record: "},
    };

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        off = sf_lfx_append(x->log, r, cases[k].payload, strlen(cases[k].payload));
        says(x, cases[k].why);
        refused(x, "txlog-record", SF_TRANSITION_LOG_FILE_NAME, off);
        sf_lfx_cut(x->log, off);
    }
    /* a known tag whose document does not parse: the parser's refusal,
     * prefixed with the record's place */
    for (k = 0; k < sizeof unparsed / sizeof unparsed[0]; k++) {
        off = sf_lfx_append(x->log, r, unparsed[k].payload, strlen(unparsed[k].payload));
        refused_saying(x, unparsed[k].why, off);
        sf_lfx_cut(x->log, off);
    }
    rerun_completes(x);
    free(r);
}

/* 'X' and 'D' records that name something the documents do not hold: each
 * refused at its offset, nothing changed. */
static void test_foreign_records_are_refused(void **state)
{
    t *x = *state;
    sf_lfx_recs *r = malloc(sizeof *r);
    sf_exec_journal j;
    sf_download_journal dj;
    bool have_j, have_dj;
    sf_error err;
    size_t i;
    long off;
    char *saved;
    uint64_t seq;
    sf_artifact_state st;

    crash_halfway(x);
    sf_lfx_records(x->log, r);
    assert_int_equal(sf_backup_state_read(x->out, &j, &have_j, &dj, &have_dj,
                                          &err), SF_OK);
    assert_true(have_j && have_dj && dj.artifact_count > 0);
    i = 0;
    /* another plan's journal */
    saved = j.plan_id;
    j.plan_id = (char *)"another-plan";
    off = append_exec(x, r, &j, i, 1);
    j.plan_id = saved;
    says(x, "the record belongs to");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* an operation the journal does not hold */
    seq = j.operations[i].sequence;
    j.operations[i].sequence = 999999;
    off = append_exec(x, r, &j, i, 1);
    j.operations[i].sequence = seq;
    says(x, "operation 999999 is not in the journal");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* an operation whose target differs */
    saved = j.operations[i].target_canister_id;
    j.operations[i].target_canister_id = (char *)"aaaaa-aa";
    off = append_exec(x, r, &j, i, 1);
    j.operations[i].target_canister_id = saved;
    says(x, "differs from the journal's");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* receipts that do not start where the journal's end */
    {
        sf_exec_journal part = j;
        sf_buf json;

        part.operations = &j.operations[i];
        part.operation_count = 1;
        part.receipt_count = 0;
        sf_buf_init(&json);
        assert_int_equal(sf_buf_printf(&json, "X %zu\n", j.receipt_count + 7), SF_OK);
        assert_int_equal(sf_exec_journal_write_json_part(&part, &json, &err), SF_OK);
        off = sf_lfx_append(x->log, r, json.data, json.len);
        sf_buf_free(&json);
    }
    says(x, "the record's receipts start at index");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* a download record holding two artifacts */
    assert_true(dj.artifact_count >= 2);
    {
        sf_download_journal part = dj;
        sf_buf json;

        part.artifact_count = 2;
        sf_buf_init(&json);
        assert_int_equal(sf_buf_printf(&json, "D 0\n"), SF_OK);
        assert_int_equal(sf_download_journal_write_json_part(&part, &json, &err),
                         SF_OK);
        off = sf_lfx_append(x->log, r, json.data, json.len);
        sf_buf_free(&json);
        says(x, "holds 2 artifacts, not one");
        refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
        sf_lfx_cut(x->log, off);
    }
    /* a download record of another backup */
    saved = dj.backup_id;
    dj.backup_id = (char *)"another-backup";
    off = append_dj(x, r, &dj, 0);
    dj.backup_id = saved;
    says(x, "belongs to backup another-backup");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    /* a new artifact that is not Created */
    saved = dj.artifacts[0].snapshot_id;
    st = dj.artifacts[0].state;
    dj.artifacts[0].snapshot_id = (char *)"0000000000000000000000000000000000ff";
    dj.artifacts[0].state = SF_ARTIFACT_DURABLE;
    off = append_dj(x, r, &dj, 0);
    dj.artifacts[0].snapshot_id = saved;
    dj.artifacts[0].state = st;
    says(x, "not Created");
    refused(x, "txlog-transition", SF_TRANSITION_LOG_FILE_NAME, off);
    sf_lfx_cut(x->log, off);
    rerun_completes(x);
    sf_exec_journal_free(&j);
    sf_download_journal_free(&dj);
    free(r);
}

static void test_document_changed_behind_the_log_is_refused(void **state)
{
    t *x = *state;
    sf_exec_journal j;
    sf_error err;
    size_t i;

    crash_halfway(x);
    assert_int_equal(sf_exec_journal_read_file(x->ej, &j, &err), SF_OK);
    for (i = 0; i < j.operation_count; i++)
        if (j.operations[i].state_updated_at != NULL)
            break;
    assert_true(i < j.operation_count);
    free(j.operations[i].state_updated_at);
    j.operations[i].state_updated_at = strdup("unix:1");
    assert_int_equal(sf_exec_journal_write_file(x->ej, &j, &err), SF_OK);
    sf_exec_journal_free(&j);
    refused(x, "txlog-checkpoint", SF_EXEC_JOURNAL_FILE_NAME, -1);
}

/* The tear hook without the kill: what a torn write leaves. */
static int tears_seen;
static uint64_t tear_at, tear_count;

/* The execution journal's index (sf_exec_journal_index) after recovery:
 * a replayed record drops an index it finds (it moves operations behind
 * its back); one built on the recovered journal gives the scans' answers;
 * the rerun, which indexes the replayed journal, completes. */
static void test_index_after_replay(void **state)
{
    t *x = *state;
    sf_exec_journal doc, now, plain;
    sf_download_journal dj;
    sf_observations obs;
    bool have_j = true, have_dj = false;
    sf_backup_docs d = {&doc, &have_j, &dj, &have_dj, &obs};
    sf_exec_resume_summary a, b;
    sf_error err;
    char *ja, *jb;
    size_t i;

    crash_halfway(x);
    assert_int_equal(read_state(x, &now, &err), SF_OK);
    assert_int_equal(sf_exec_journal_read_file(x->ej, &doc, &err), SF_OK);
    sf_download_journal_init(&dj);
    memset(&obs, 0, sizeof obs);
    assert_int_equal(sf_exec_journal_index(&doc, &err), SF_OK);
    assert_true(sf_exec_journal_has_index(&doc));
    if (sf_runlog_replay(x->out, SF_TRANSITION_LOG_FILE_NAME, doc.run_id,
                         sf_backup_log_docs, 3, sf_backup_log_apply, &d,
                         &err) != SF_OK)
        fail_msg("replay: %s", err.message);
    assert_null(doc.index);
    assert_true(doc.receipt_count > 0);
    assert_int_equal(sf_exec_journal_index(&doc, &err), SF_OK);
    assert_true(sf_exec_journal_index_consistent(&doc));
    /* the same journal as the reader's, answering alike */
    assert_int_equal(sf_exec_journal_copy(&plain, &now, &err), SF_OK);
    ja = NULL;
    jb = NULL;
    {
        sf_buf ba, bb;

        sf_buf_init(&ba);
        sf_buf_init(&bb);
        assert_int_equal(sf_exec_journal_write_json(&doc, &ba, &err), SF_OK);
        assert_int_equal(sf_exec_journal_write_json(&plain, &bb, &err), SF_OK);
        ja = sf_buf_detach(&ba);
        jb = sf_buf_detach(&bb);
    }
    assert_string_equal(ja, jb);
    sf_exec_journal_resume_summary(&doc, &a);
    sf_exec_journal_resume_summary(&plain, &b);
    assert_int_equal(a.completed_operations, b.completed_operations);
    assert_int_equal(a.ready_operations, b.ready_operations);
    assert_int_equal(a.pending_operations, b.pending_operations);
    assert_non_null(a.next_operation);
    assert_int_equal(a.next_operation->sequence, b.next_operation->sequence);
    for (i = 0; i < plain.receipt_count; i++) {
        const char *id = plain.operation_receipts[i].target_canister_id;
        const sf_exec_receipt *ra = sf_exec_journal_latest_snapshot(&doc, id);
        const sf_exec_receipt *rb = sf_exec_journal_latest_snapshot(&plain, id);

        assert_int_equal(ra == NULL, rb == NULL);
        if (ra != NULL)
            assert_string_equal(ra->snapshot_id, rb->snapshot_id);
    }
    free(ja);
    free(jb);
    sf_exec_journal_free(&doc);
    sf_exec_journal_free(&now);
    sf_exec_journal_free(&plain);
    sf_download_journal_free(&dj);
    sf_obs_free(&obs);
    rerun_completes(x);
}

/* What replay hands back of each record. */
typedef struct seen_json {
    char json[256];
    size_t n;
} seen_json;

static int keep_json(char tag, uint64_t arg, const char *json, size_t len,
                     sf_error *err, void *payload)
{
    seen_json *s = payload;

    (void)err;
    assert_int_equal(tag, 'x');
    assert_int_equal(arg, 7 + s->n);
    assert_true(len < sizeof s->json);
    memcpy(s->json, json, len);
    s->json[len] = '\0';
    s->n++;
    return SF_OK;
}

/* A record holds its document compact: the layout's spaces and newlines
 * go, a string's own bytes (spaces, escaped quotes and backslashes) stay. */
static void test_record_is_compact_json(void **state)
{
    static const sf_runlog_doc docs[] = {{'x', "doc.json"}};
    static const char pretty[] =
        "{\n  \"a b\": \"x  y\\\" z \\\\\",\n  \"n\": [\n    1,\n    2\n  ]\n}";
    static const char compact[] =
        "{\"a b\":\"x  y\\\" z \\\\\",\"n\":[1,2]}";
    char dir[64];
    sf_runlog *l;
    seen_json seen;
    sf_buf json;
    sf_error err;

    (void)state;
    assert_int_equal(sf_tmpdir_make(dir, sizeof dir), 0);
    sf_buf_init(&json);
    sf_buf_puts(&json, pretty);
    memset(&seen, 0, sizeof seen);
    assert_int_equal(sf_runlog_open(&l, dir, "log", "run-1", docs, 1, NULL,
                                    NULL, &err), SF_OK);
    assert_int_equal(sf_runlog_append(l, 'x', 7, &json, &err), SF_OK);
    sf_runlog_close(l);
    if (sf_runlog_replay(dir, "log", "run-1", docs, 1, keep_json, &seen,
                         &err) != SF_OK)
        fail_msg("replay: %s", err.message);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.json, compact);
    sf_buf_free(&json);
    assert_int_equal(sf_tmpdir_remove(dir), 0);
}

static bool want_tear(const char *path, void *ctx)
{
    (void)path;
    (void)ctx;
    return ++tear_count == tear_at;
}

static void torn(const char *path, void *ctx)
{
    (void)path;
    (void)ctx;
    tears_seen++;
}

static void test_torn_writes(void **state)
{
    t *x = *state;
    sf_buf before, after;
    sf_error err;
    char doc[800], tmpl[900];
    sf_exec_journal j;
    sf_lfx_recs *r = malloc(sizeof *r);
    FILE *p;

    crash_halfway(x);
    /* a torn document write: half the bytes in a temporary file, never
     * renamed; the document is as it was */
    snprintf(doc, sizeof doc, "%s/doc.json", x->out);
    sf_lfx_write_bytes(doc, "{\"a\": 1}", 8);
    tear_at = 1;
    tear_count = 0;
    sf_fs_set_tear_hook(want_tear, torn, NULL);
    assert_int_equal(sf_fs_write_atomic(doc, "{\"a\": 22222}", 12, &err),
                     SF_ERR);
    assert_int_equal(tears_seen, 1);
    sf_buf_init(&before);
    sf_buf_init(&after);
    sf_lfx_read_bytes(doc, &after);
    assert_int_equal(after.len, 8);
    snprintf(tmpl, sizeof tmpl, "ls '%s' | grep -c '^doc.json.tmp.'", x->out);
    p = popen(tmpl, "r");
    assert_non_null(p);
    assert_int_equal(fgetc(p), '1');
    pclose(p);
    /* a torn rename is not made */
    tear_at = 2;
    assert_int_equal(sf_fs_rename_durable(doc, x->ej, &err), SF_ERR);
    assert_int_equal(tears_seen, 2);
    assert_true(sf_fx_exists(doc));
    /* a torn append: half a record at the end, dropped on recovery */
    sf_lfx_read_bytes(x->log, &before);
    sf_lfx_records(x->log, r);
    tear_at = 3;
    {
        sf_backup_config c;
        sf_backup_result res;

        sf_fx_stack(&x->f, NULL, true);
        sf_fx_backup_config(&c, &x->f, x->out);
        assert_int_equal(sf_fx_backup(&x->f, &c, &res, &err), SF_ERR);
        sf_backup_result_free(&res);
        sf_fx_unstack(&x->f);
    }
    sf_fs_set_tear_hook(NULL, NULL, NULL);
    assert_int_equal(tears_seen, 3);
    sf_lfx_read_bytes(x->log, &after);
    assert_true(after.len > before.len);
    assert_int_equal(read_state(x, &j, &err), SF_OK);
    sf_exec_journal_free(&j);
    assert_int_equal(unlink(doc), 0);
    rerun_completes(x);
    sf_buf_free(&before);
    sf_buf_free(&after);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_several_pending_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_log_holds_what_the_documents_lack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_directory_without_a_log_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last_record_is_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_record_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sequence_gap_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_of_another_run_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_illegal_transition_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_records_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_records_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_document_changed_behind_the_log_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_after_replay, setup, teardown),
        cmocka_unit_test(test_record_is_compact_json),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
