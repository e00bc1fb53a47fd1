/* The backup execution journal: canic's validation rules and their order,
 * creation from a plan, every transition of the state machine (legal and
 * illegal), receipts, the resume summary, the plan <-> journal binding,
 * reading, writing and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfleet/execjournal.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define HASH "25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769"
#define CKS "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define PF "preflight-001"
#define T1 "unix:1778709680"
#define T2 "unix:1778709681"

/* Sequences of the 10-operation journal built from ROOT + APP. */
enum {
    S_TOPOLOGY = 0,
    S_CONTROL = 1,
    S_READ = 2,
    S_QUIESCENCE = 3,
    S_STOP = 4,
    S_SNAPSHOT = 5,
    S_START = 6,
    S_DOWNLOAD = 7,
    S_VERIFY = 8,
    S_FINALIZE = 9
};

/* ---- helpers ---- */

static char *xstrdup(const char *s)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    assert_non_null(d);
    return d;
}

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

static char *data_path(const char *rel)
{
    const char *dir = getenv("SF_TEST_DATA");
    char *p;

    assert_non_null(dir);
    p = malloc(strlen(dir) + strlen(rel) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_fs_read_file(path, (size_t)64 << 20, &text, len, &err) != SF_OK)
        fail_msg("cannot read %s: %s", path, err.message);
    return text;
}

static void expect_error(const sf_error *err, const char *kind,
                         const char *field, const char *message)
{
    assert_non_null(err->kind);
    if (strcmp(err->kind, kind) != 0)
        fail_msg("expected %s, got %s at %s: %s", kind, err->kind, err->field,
                 err->message);
    if (field != NULL)
        assert_string_equal(err->field, field);
    if (message != NULL)
        assert_string_equal(err->message, message);
}

#define OK(call)                                                           \
    do {                                                                   \
        sf_error e_;                                                       \
        sf_error_clear(&e_);                                               \
        if ((call) != SF_OK)                                               \
            fail_msg("%s: %s at %s: %s", #call, e_.kind, e_.field,         \
                     e_.message);                                          \
    } while (0)

/* `call` must use `err`. */
#define FAILS(call, kind, field, message)                                  \
    do {                                                                   \
        sf_error_clear(&err);                                              \
        assert_int_equal((call), SF_ERR);                                  \
        expect_error(&err, kind, field, message);                          \
    } while (0)

static void make_registry(sf_registry *reg)
{
    reg->entries = calloc(2, sizeof *reg->entries);
    assert_non_null(reg->entries);
    reg->count = 2;
    reg->entries[0].pid = xstrdup(ROOT);
    reg->entries[0].role = xstrdup("root");
    reg->entries[1].pid = xstrdup(APP);
    reg->entries[1].role = xstrdup("app");
    reg->entries[1].parent_pid = xstrdup(ROOT);
}

/* canic's execution test plan: subtree at APP with ROOT above it: ten
 * operations. */
static void make_plan(sf_plan *p, const char *plan_id, const char *run_id)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_error err;

    make_registry(&reg);
    memset(&in, 0, sizeof in);
    in.plan_id = plan_id;
    in.run_id = run_id;
    in.fleet = "demo";
    in.network = "local";
    in.root_canister_id = ROOT;
    in.selected_canister_id = APP;
    in.scope = SF_SCOPE_SUBTREE;
    in.include_descendants = true;
    in.topology_hash_before_quiesce = HASH;
    in.registry = &reg;
    in.control_authority.kind = SF_CONTROL_OPERATOR_CONTROLLER;
    in.control_authority.evidence = SF_EVIDENCE_PROVEN;
    in.snapshot_read_authority.source = SF_READ_OPERATOR_CONTROLLER;
    in.snapshot_read_authority.evidence = SF_EVIDENCE_PROVEN;
    in.quiescence_policy = SF_QUIESCENCE_CRASH_CONSISTENT;
    in.identity_mode = SF_IDENTITY_RELOCATABLE;
    in.include_starts = true;
    sf_error_clear(&err);
    if (sf_plan_build(&in, p, &err) != SF_OK)
        fail_msg("plan: %s", err.message);
    assert_int_equal(p->phase_count, 10);
    sf_registry_free(&reg);
}

static void make_journal(sf_exec_journal *j)
{
    sf_plan p;

    make_plan(&p, "plan-001", "run-001");
    OK(sf_exec_journal_from_plan(&p, j, &e_));
    sf_plan_free(&p);
}

static void make_accepted(sf_exec_journal *j)
{
    make_journal(j);
    OK(sf_exec_journal_accept_preflight_at(j, PF, T1, &e_));
}

static sf_exec_operation *op_at(sf_exec_journal *j, uint64_t seq)
{
    sf_exec_operation *op = sf_exec_journal_find_operation(j, seq);

    assert_non_null(op);
    return op;
}

static void complete(sf_exec_journal *j, uint64_t seq, const char *at)
{
    sf_exec_receipt r;

    OK(sf_exec_journal_mark_pending_at(j, seq, at, &e_));
    OK(sf_exec_receipt_completed(j, op_at(j, seq), at, &r, &e_));
    if (op_at(j, seq)->kind == SF_PHASE_CREATE_SNAPSHOT)
        set_str(&r.snapshot_id, "snap-app");
    if (op_at(j, seq)->kind == SF_PHASE_DOWNLOAD_SNAPSHOT)
        set_str(&r.artifact_path, APP);
    if (op_at(j, seq)->kind == SF_PHASE_VERIFY_ARTIFACT)
        set_str(&r.checksum, CKS);
    OK(sf_exec_journal_record_receipt(j, &r, &e_));
    sf_exec_receipt_free(&r);
}

static void fail_op(sf_exec_journal *j, uint64_t seq, const char *reason)
{
    sf_exec_receipt r;

    OK(sf_exec_journal_mark_pending_at(j, seq, T2, &e_));
    OK(sf_exec_receipt_failed(j, op_at(j, seq), T2, reason, &r, &e_));
    OK(sf_exec_journal_record_receipt(j, &r, &e_));
    sf_exec_receipt_free(&r);
}

static void expect_valid(const sf_exec_journal *j)
{
    OK(sf_exec_journal_validate(j, &e_));
}

static void expect_invalid(const sf_exec_journal *j, const char *kind,
                           const char *field, const char *message)
{
    sf_error err;

    FAILS(sf_exec_journal_validate(j, &err), kind, field, message);
}

static char *to_json(const sf_exec_journal *j)
{
    sf_buf b;
    char *s;

    sf_buf_init(&b);
    OK(sf_exec_journal_write_json(j, &b, &e_));
    s = sf_buf_detach(&b);
    assert_non_null(s);
    return s;
}

/* Everything in memory, bound or not by the writer's validation. */
static void snapshot_state(const sf_exec_journal *j, char *out, size_t n)
{
    size_t i, used = 0;

    used += (size_t)snprintf(out + used, n - used, "%s|%d|%d|%zu|",
                             j->preflight_id ? j->preflight_id : "~",
                             j->preflight_accepted, j->restart_required,
                             j->receipt_count);
    for (i = 0; i < j->operation_count && used < n; i++) {
        const sf_exec_operation *op = &j->operations[i];
        used += (size_t)snprintf(
            out + used, n - used, "%llu:%d:%s:%zu:%s;",
            (unsigned long long)op->sequence, op->state,
            op->state_updated_at ? op->state_updated_at : "~",
            op->blocking_reason_count,
            op->blocking_reason_count ? op->blocking_reasons[0] : "");
    }
}

/* ---- names and classes ---- */

static void test_names(void **s)
{
    static const char *const states[] = {"ready",     "pending", "blocked",
                                         "completed", "failed",  "skipped"};
    static const char *const debug[] = {"Ready",     "Pending", "Blocked",
                                        "Completed", "Failed",  "Skipped"};
    int i;

    (void)s;
    for (i = 0; i < 6; i++) {
        assert_string_equal(sf_exec_state_name((sf_exec_state)i), states[i]);
        assert_string_equal(sf_exec_state_debug_name((sf_exec_state)i),
                            debug[i]);
    }
    assert_null(sf_exec_state_name((sf_exec_state)6));
    assert_string_equal(sf_exec_outcome_name(SF_EXEC_OUTCOME_COMPLETED),
                        "completed");
    assert_string_equal(sf_exec_outcome_name(SF_EXEC_OUTCOME_FAILED),
                        "failed");
    assert_string_equal(sf_exec_outcome_name(SF_EXEC_OUTCOME_SKIPPED),
                        "skipped");
    assert_null(sf_exec_outcome_name((sf_exec_outcome)3));
}

/* The journal's classes differ from the plan's (spec 2.1 vs 1.6-9):
 * verify-artifact and finalize-manifest mutate here, not there. */
static void test_kind_classes_differ_from_plan(void **s)
{
    int i;

    (void)s;
    for (i = 0; i < SF_PHASE_KIND_COUNT; i++) {
        sf_phase_kind k = (sf_phase_kind)i;
        assert_int_equal(sf_exec_kind_is_preflight(k), i <= 3);
        assert_int_equal(sf_exec_kind_is_mutating(k), i > 3);
    }
    assert_true(sf_exec_kind_is_mutating(SF_PHASE_VERIFY_ARTIFACT));
    assert_false(sf_phase_kind_is_plan_mutating(SF_PHASE_VERIFY_ARTIFACT));
    assert_true(sf_exec_kind_is_mutating(SF_PHASE_FINALIZE_MANIFEST));
    assert_false(sf_phase_kind_is_plan_mutating(SF_PHASE_FINALIZE_MANIFEST));
}

/* A plan with verify-artifact before the preflights is valid (not
 * mutating for the plan), yet the journal blocks that operation (mutating
 * for the journal). */
static void test_kind_classes_in_action(void **s)
{
    sf_plan p;
    sf_exec_journal j;
    sf_plan_phase tail[2];

    (void)s;
    make_plan(&p, "plan-001", "run-001");
    memcpy(tail, &p.phases[8], sizeof tail); /* verify-APP, finalize */
    memmove(&p.phases[2], &p.phases[0], 8 * sizeof tail[0]);
    memcpy(&p.phases[0], tail, sizeof tail);
    for (size_t i = 0; i < p.phase_count; i++)
        p.phases[i].order = i;
    OK(sf_plan_validate(&p, &e_));
    OK(sf_exec_journal_from_plan(&p, &j, &e_));
    assert_int_equal(j.operations[0].kind, SF_PHASE_VERIFY_ARTIFACT);
    assert_int_equal(j.operations[0].state, SF_EXEC_BLOCKED);
    assert_int_equal(j.operations[1].state, SF_EXEC_BLOCKED);
    /* the next operation is the first preflight, not the verify */
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, 2);
    sf_exec_journal_free(&j);
    sf_plan_free(&p);
}

/* ---- creation ---- */

static void test_from_plan(void **s)
{
    sf_exec_journal j;
    size_t i;

    (void)s;
    make_journal(&j);
    assert_int_equal(j.journal_version, 1);
    assert_string_equal(j.plan_id, "plan-001");
    assert_string_equal(j.run_id, "run-001");
    assert_null(j.preflight_id);
    assert_false(j.preflight_accepted);
    assert_false(j.restart_required);
    assert_int_equal(j.receipt_count, 0);
    assert_int_equal(j.operation_count, 10);
    for (i = 0; i < 10; i++) {
        const sf_exec_operation *op = &j.operations[i];
        assert_int_equal(op->sequence, i);
        assert_null(op->state_updated_at);
        if (i < 4) {
            assert_int_equal(op->state, SF_EXEC_READY);
            assert_int_equal(op->blocking_reason_count, 0);
            assert_null(op->target_canister_id);
        } else {
            assert_int_equal(op->state, SF_EXEC_BLOCKED);
            assert_int_equal(op->blocking_reason_count, 1);
            assert_string_equal(op->blocking_reasons[0],
                                "preflight-not-accepted");
        }
    }
    assert_string_equal(j.operations[S_STOP].operation_id, "stop-" APP);
    assert_string_equal(j.operations[S_STOP].target_canister_id, APP);
    assert_int_equal(j.operations[S_SNAPSHOT].kind, SF_PHASE_CREATE_SNAPSHOT);
    assert_int_equal(j.operations[S_START].kind, SF_PHASE_START);
    assert_int_equal(j.operations[S_DOWNLOAD].kind,
                     SF_PHASE_DOWNLOAD_SNAPSHOT);
    assert_int_equal(j.operations[S_VERIFY].kind, SF_PHASE_VERIFY_ARTIFACT);
    assert_int_equal(j.operations[S_FINALIZE].kind,
                     SF_PHASE_FINALIZE_MANIFEST);
    sf_exec_journal_free(&j);
}

static void test_from_invalid_plan(void **s)
{
    sf_plan p;
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_plan(&p, "plan-001", "run-001");
    p.phases[3].order = 8;
    FAILS(sf_exec_journal_from_plan(&p, &j, &err), "invalid-plan",
          "phases[3].order",
          "invalid backup plan for execution journal: operation "
          "validate-quiescence-policy has order 8, expected 3");
    assert_null(j.operations);
    assert_null(j.plan_id);
    sf_plan_free(&p);
}

/* ---- canic's scenarios (execution/tests.rs) ---- */

static void test_journal_blocks_mutation_until_preflight_is_accepted(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_journal(&j);
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, S_TOPOLOGY);
    assert_string_equal(sf_exec_journal_next_ready(&j)->operation_id,
                        "validate-topology");
    assert_int_equal(j.operations[S_STOP].state, SF_EXEC_BLOCKED);
    /* preflight operations themselves may run before acceptance */
    OK(sf_exec_journal_mark_pending_at(&j, S_TOPOLOGY, T1, &e_));
    FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, T1, &err),
          "out-of-order-operation-transition", "sequence",
          "operation 4 cannot advance before operation 0");
    sf_exec_journal_free(&j);
}

static void test_accepting_preflight_unblocks_first_mutating_operation(
    void **s)
{
    sf_exec_journal j;
    size_t i;

    (void)s;
    make_journal(&j);
    OK(sf_exec_journal_accept_preflight_at(&j, PF, T1, &e_));
    assert_true(j.preflight_accepted);
    assert_string_equal(j.preflight_id, PF);
    for (i = 0; i < 4; i++) {
        assert_int_equal(j.operations[i].state, SF_EXEC_COMPLETED);
        assert_string_equal(j.operations[i].state_updated_at, T1);
    }
    for (i = 4; i < 10; i++) {
        assert_int_equal(j.operations[i].state, SF_EXEC_READY);
        assert_int_equal(j.operations[i].blocking_reason_count, 0);
        /* blocked -> ready keeps state_updated_at (null here) */
        assert_null(j.operations[i].state_updated_at);
    }
    assert_string_equal(sf_exec_journal_next_ready(&j)->operation_id,
                        "stop-" APP);
    assert_false(j.restart_required);
    sf_exec_journal_free(&j);
}

static void test_rejects_preflight_receipts_for_different_plan(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_journal(&j);
    FAILS(sf_exec_journal_accept_preflight_receipts_at(&j, "plan-other", PF,
                                                       T1, &err),
          "preflight-plan-mismatch", "preflight_receipts.plan_id",
          "preflight receipt plan id plan-other does not match execution "
          "journal plan plan-001");
    FAILS(sf_exec_journal_accept_preflight_receipts_at(&j, " ", PF, T1, &err),
          "missing-field", "preflight_receipts.plan_id",
          "backup execution journal field preflight_receipts.plan_id is "
          "required");
    assert_false(j.preflight_accepted);
    OK(sf_exec_journal_accept_preflight_receipts_at(&j, "plan-001", PF, T1,
                                                    &e_));
    assert_true(j.preflight_accepted);
    sf_exec_journal_free(&j);
}

static void test_rejects_out_of_order_mutation(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_accepted(&j);
    FAILS(sf_exec_journal_mark_pending_at(&j, S_SNAPSHOT, T2, &err),
          "out-of-order-operation-transition", "sequence",
          "operation 5 cannot advance before operation 4");
    sf_exec_journal_free(&j);
}

static void test_completed_stop_sets_restart_required(void **s)
{
    sf_exec_journal j;
    sf_exec_resume_summary sum;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    assert_true(j.restart_required);
    sf_exec_journal_resume_summary(&j, &sum);
    assert_true(sum.restart_required);
    assert_string_equal(sum.next_operation->operation_id, "snapshot-" APP);
    assert_int_equal(sum.next_operation->kind, SF_PHASE_CREATE_SNAPSHOT);
    /* the start clears it */
    complete(&j, S_SNAPSHOT, T2);
    assert_true(j.restart_required);
    complete(&j, S_START, T2);
    assert_false(j.restart_required);
    sf_exec_journal_free(&j);
}

static void test_snapshot_completion_requires_snapshot_id(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;
    sf_error err;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    OK(sf_exec_journal_mark_pending_at(&j, S_SNAPSHOT, T2, &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_SNAPSHOT), T2, &r, &e_));
    FAILS(sf_exec_journal_record_receipt(&j, &r, &err), "missing-field",
          "operation_receipts[1].snapshot_id",
          "backup execution journal field operation_receipts[].snapshot_id "
          "is required");
    assert_int_equal(j.receipt_count, 1);
    assert_int_equal(op_at(&j, S_SNAPSHOT)->state, SF_EXEC_PENDING);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_failed_snapshot_after_stop_is_retryable(void **s)
{
    sf_exec_journal j;
    sf_exec_resume_summary sum;
    sf_exec_operation *op;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    fail_op(&j, S_SNAPSHOT, "snapshot quota exceeded");
    op = op_at(&j, S_SNAPSHOT);
    assert_int_equal(op->state, SF_EXEC_FAILED);
    assert_int_equal(op->blocking_reason_count, 1);
    assert_string_equal(op->blocking_reasons[0], "snapshot quota exceeded");
    assert_string_equal(op->state_updated_at, T2);
    assert_true(j.restart_required);
    sf_exec_journal_resume_summary(&j, &sum);
    assert_int_equal(sum.failed_operations, 1);
    assert_ptr_equal(sum.next_operation, op);
    OK(sf_exec_journal_retry_failed_at(&j, S_SNAPSHOT, "unix:1778709700",
                                       &e_));
    assert_int_equal(op->state, SF_EXEC_READY);
    assert_int_equal(op->blocking_reason_count, 0);
    assert_string_equal(op->state_updated_at, "unix:1778709700");
    assert_true(j.restart_required);
    assert_int_equal(j.receipt_count, 2);
    assert_int_equal(j.operation_receipts[1].outcome, SF_EXEC_OUTCOME_FAILED);
    sf_exec_journal_free(&j);
}

static void test_rejects_different_preflight_after_acceptance(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_accepted(&j);
    FAILS(sf_exec_journal_accept_preflight_at(&j, "preflight-other", T2,
                                              &err),
          "preflight-already-accepted", "preflight_id",
          "preflight already accepted as preflight-001, cannot accept "
          "preflight-other");
    assert_string_equal(j.preflight_id, PF);
    /* the same id may be accepted again; it refreshes the preflights */
    OK(sf_exec_journal_accept_preflight_at(&j, PF, T2, &e_));
    assert_string_equal(j.operations[0].state_updated_at, T2);
    sf_exec_journal_free(&j);
}

/* ---- validation: one case per rule ---- */

static void test_unsupported_version(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    j.journal_version = 2;
    expect_invalid(&j, "unsupported-version", "journal_version",
                   "unsupported backup execution journal version 2");
    j.journal_version = 0;
    expect_invalid(&j, "unsupported-version", "journal_version", NULL);
    sf_exec_journal_free(&j);
}

static void test_missing_header_fields(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    set_str(&j.plan_id, " ");
    expect_invalid(&j, "missing-field", "plan_id",
                   "backup execution journal field plan_id is required");
    set_str(&j.plan_id, "plan-001");
    set_str(&j.run_id, "");
    expect_invalid(&j, "missing-field", "run_id",
                   "backup execution journal field run_id is required");
    set_str(&j.run_id, "run-001");
    set_str(&j.preflight_id, "\t");
    expect_invalid(&j, "missing-field", "preflight_id",
                   "backup execution journal field preflight_id is required");
    sf_exec_journal_free(&j);
}

static void test_accepted_preflight_missing_id(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_accepted(&j);
    set_str(&j.preflight_id, NULL);
    expect_invalid(&j, "accepted-preflight-missing-id", "preflight_id",
                   "accepted preflight is missing preflight_id");
    sf_exec_journal_free(&j);
}

/* an id without acceptance is fine */
static void test_preflight_id_without_acceptance(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    set_str(&j.preflight_id, PF);
    expect_valid(&j);
    sf_exec_journal_free(&j);
}

static void test_duplicate_sequence(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    j.operations[7].sequence = 2;
    expect_invalid(&j, "duplicate-sequence", "operations[7].sequence",
                   "backup execution journal has duplicate operation "
                   "sequence 2");
    sf_exec_journal_free(&j);
}

static void test_missing_sequence(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    j.operations[7].sequence = 10;
    expect_invalid(&j, "missing-sequence", "operations",
                   "backup execution journal is missing operation sequence "
                   "7");
    sf_exec_journal_free(&j);
}

/* a permutation is fine: array order is not checked */
static void test_permuted_sequences_valid(void **s)
{
    sf_exec_journal j;
    sf_exec_operation tmp;

    (void)s;
    make_journal(&j);
    tmp = j.operations[0];
    j.operations[0] = j.operations[9];
    j.operations[9] = tmp;
    expect_valid(&j);
    /* next is still the smallest sequence */
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, 0);
    assert_ptr_equal(sf_exec_journal_next_ready(&j), &j.operations[9]);
    sf_exec_journal_free(&j);
}

static void test_sequence_order(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    /* duplicates are reported before gaps, the first repeat in array
     * order wins */
    j.operations[2].sequence = 40;
    j.operations[5].sequence = 9;
    j.operations[8].sequence = 40;
    /* 9 at index 5 repeats index 9, but the loop reaches index 8 (40,
     * first seen at index 2) before index 9 */
    expect_invalid(&j, "duplicate-sequence", "operations[8].sequence",
                   "backup execution journal has duplicate operation "
                   "sequence 40");
    j.operations[8].sequence = 41;
    expect_invalid(&j, "duplicate-sequence", "operations[9].sequence",
                   "backup execution journal has duplicate operation "
                   "sequence 9");
    j.operations[5].sequence = 5;
    /* 2 and 8 are missing: the smallest is reported */
    expect_invalid(&j, "missing-sequence", "operations",
                   "backup execution journal is missing operation sequence "
                   "2");
    sf_exec_journal_free(&j);
}

static void test_operation_fields(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    set_str(&j.operations[3].operation_id, " ");
    expect_invalid(&j, "missing-field", "operations[3].operation_id",
                   "backup execution journal field operations[].operation_id "
                   "is required");
    set_str(&j.operations[3].operation_id, "validate-quiescence-policy");
    set_str(&j.operations[2].state_updated_at, "");
    expect_invalid(&j, "missing-field", "operations[2].state_updated_at",
                   "backup execution journal field "
                   "operations[].state_updated_at is required");
    set_str(&j.operations[2].state_updated_at, T1);
    set_str(&j.operations[6].target_canister_id, " ");
    expect_invalid(&j, "missing-field", "operations[6].target_canister_id",
                   "backup execution journal field "
                   "operations[].target_canister_id is required");
    /* targets are not principal-checked here */
    set_str(&j.operations[6].target_canister_id, "not-a-principal");
    expect_valid(&j);
    sf_exec_journal_free(&j);
}

static void test_operation_missing_reason(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    sf_strv_free(j.operations[6].blocking_reasons, 1);
    j.operations[6].blocking_reasons = NULL;
    j.operations[6].blocking_reason_count = 0;
    expect_invalid(&j, "operation-missing-reason",
                   "operations[6].blocking_reasons",
                   "operation 6 is missing a blocking or failure reason");
    sf_exec_journal_free(&j);
    /* failed needs a reason too */
    make_accepted(&j);
    j.operations[4].state = SF_EXEC_FAILED;
    expect_invalid(&j, "operation-missing-reason",
                   "operations[4].blocking_reasons", NULL);
    sf_exec_journal_free(&j);
}

static void test_unblocked_operation_has_reasons(void **s)
{
    static const sf_exec_state states[] = {SF_EXEC_READY, SF_EXEC_PENDING,
                                           SF_EXEC_COMPLETED,
                                           SF_EXEC_SKIPPED};
    size_t k;

    (void)s;
    for (k = 0; k < 4; k++) {
        sf_exec_journal j;

        make_accepted(&j);
        j.operations[5].state = states[k];
        j.operations[5].blocking_reasons = calloc(1, sizeof(char *));
        assert_non_null(j.operations[5].blocking_reasons);
        j.operations[5].blocking_reasons[0] = xstrdup("why");
        j.operations[5].blocking_reason_count = 1;
        expect_invalid(&j, "unblocked-operation-has-reasons",
                       "operations[5].blocking_reasons",
                       "operation 5 cannot have blocking reasons in its "
                       "current state");
        sf_exec_journal_free(&j);
    }
}

static void test_mutation_ready_before_preflight(void **s)
{
    static const sf_exec_state states[] = {SF_EXEC_READY, SF_EXEC_PENDING,
                                           SF_EXEC_COMPLETED, SF_EXEC_FAILED,
                                           SF_EXEC_SKIPPED};
    size_t k;

    (void)s;
    for (k = 0; k < 5; k++) {
        sf_exec_journal j;

        make_journal(&j);
        /* verify-artifact counts as mutating in the journal */
        j.operations[S_VERIFY].state = states[k];
        if (states[k] != SF_EXEC_FAILED) {
            sf_strv_free(j.operations[S_VERIFY].blocking_reasons, 1);
            j.operations[S_VERIFY].blocking_reasons = NULL;
            j.operations[S_VERIFY].blocking_reason_count = 0;
        }
        expect_invalid(&j, "mutation-ready-before-preflight",
                       "operations[8].state",
                       "mutating operation 8 is ready before preflight "
                       "acceptance");
        sf_exec_journal_free(&j);
    }
}

/* per operation: fields, then reasons, then the mutation rule */
static void test_operation_rule_order(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    j.operations[5].state = SF_EXEC_READY; /* ready with reasons, mutating */
    set_str(&j.operations[7].operation_id, "");
    expect_invalid(&j, "unblocked-operation-has-reasons",
                   "operations[5].blocking_reasons", NULL);
    sf_strv_free(j.operations[5].blocking_reasons, 1);
    j.operations[5].blocking_reasons = NULL;
    j.operations[5].blocking_reason_count = 0;
    expect_invalid(&j, "mutation-ready-before-preflight",
                   "operations[5].state", NULL);
    j.operations[5].state = SF_EXEC_BLOCKED;
    expect_invalid(&j, "operation-missing-reason",
                   "operations[5].blocking_reasons", NULL);
    sf_exec_journal_free(&j);
    /* sequences before operations, operations before receipts */
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    set_str(&j.operation_receipts[0].plan_id, "plan-other");
    set_str(&j.operations[9].operation_id, "");
    expect_invalid(&j, "missing-field", "operations[9].operation_id", NULL);
    j.operations[9].sequence = 4;
    expect_invalid(&j, "duplicate-sequence", "operations[9].sequence", NULL);
    sf_exec_journal_free(&j);
}

/* ---- receipts ---- */

/* A journal with the stop pending and a valid completed receipt for it. */
static void pending_stop(sf_exec_journal *j, sf_exec_receipt *r)
{
    make_accepted(j);
    OK(sf_exec_journal_mark_pending_at(j, S_STOP, T2, &e_));
    OK(sf_exec_receipt_completed(j, op_at(j, S_STOP), T2, r, &e_));
}

static void expect_receipt_refused(sf_exec_journal *j,
                                   const sf_exec_receipt *r,
                                   const char *kind, const char *field,
                                   const char *message)
{
    sf_error err;
    char before[4096], after[4096];

    snapshot_state(j, before, sizeof before);
    FAILS(sf_exec_receipt_validate_against(r, j, &err), kind, field, message);
    FAILS(sf_exec_journal_record_receipt(j, r, &err), kind, field, message);
    snapshot_state(j, after, sizeof after);
    assert_string_equal(before, after);
}

static void test_receipt_required_fields(void **s)
{
    static const struct {
        size_t offset;
        const char *name;
        const char *value;
    } cases[] = {
        {offsetof(sf_exec_receipt, plan_id), "plan_id", " "},
        {offsetof(sf_exec_receipt, run_id), "run_id", ""},
        {offsetof(sf_exec_receipt, operation_id), "operation_id", "\n"},
        {offsetof(sf_exec_receipt, updated_at), "updated_at", " "},
        {offsetof(sf_exec_receipt, snapshot_id), "snapshot_id", ""},
        {offsetof(sf_exec_receipt, artifact_path), "artifact_path", " "},
        {offsetof(sf_exec_receipt, checksum), "checksum", ""},
    };
    size_t k;

    (void)s;
    for (k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        sf_exec_journal j;
        sf_exec_receipt r;
        char field[128], message[256];

        pending_stop(&j, &r);
        set_str((char **)((char *)&r + cases[k].offset), cases[k].value);
        snprintf(field, sizeof field, "operation_receipts[0].%s",
                 cases[k].name);
        snprintf(message, sizeof message,
                 "backup execution journal field operation_receipts[].%s is "
                 "required",
                 cases[k].name);
        expect_receipt_refused(&j, &r, "missing-field", field, message);
        sf_exec_receipt_free(&r);
        sf_exec_journal_free(&j);
    }
}

/* optional receipt fields may be null, required ones may not be NULL in a
 * hand-built struct */
static void test_receipt_optional_nulls(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    set_str(&r.updated_at, NULL);
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    assert_null(op_at(&j, S_STOP)->state_updated_at);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_receipt_journal_mismatch(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    set_str(&r.plan_id, "plan-other");
    expect_receipt_refused(&j, &r, "receipt-journal-mismatch",
                           "operation_receipts[0].plan_id",
                           "operation receipt does not match journal 4");
    set_str(&r.plan_id, "plan-001");
    set_str(&r.run_id, "run-other");
    expect_receipt_refused(&j, &r, "receipt-journal-mismatch",
                           "operation_receipts[0].run_id", NULL);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_receipt_operation_not_found(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    r.sequence = 10;
    expect_receipt_refused(&j, &r, "receipt-operation-not-found",
                           "operation_receipts[0].sequence",
                           "operation receipt references missing operation "
                           "10");
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_receipt_operation_mismatch(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    set_str(&r.operation_id, "stop-other");
    expect_receipt_refused(&j, &r, "receipt-operation-mismatch",
                           "operation_receipts[0].operation_id",
                           "operation receipt does not match operation 4");
    set_str(&r.operation_id, "stop-" APP);
    r.kind = SF_PHASE_START;
    expect_receipt_refused(&j, &r, "receipt-operation-mismatch",
                           "operation_receipts[0].kind", NULL);
    r.kind = SF_PHASE_STOP;
    set_str(&r.target_canister_id, WORKER);
    expect_receipt_refused(&j, &r, "receipt-operation-mismatch",
                           "operation_receipts[0].target_canister_id", NULL);
    set_str(&r.target_canister_id, NULL);
    expect_receipt_refused(&j, &r, "receipt-operation-mismatch",
                           "operation_receipts[0].target_canister_id", NULL);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_receipt_preflight_mismatch(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    set_str(&r.preflight_id, "preflight-other");
    expect_receipt_refused(&j, &r, "receipt-preflight-mismatch",
                           "operation_receipts[0].preflight_id",
                           "operation receipt does not match accepted "
                           "preflight 4");
    /* null-aware */
    set_str(&r.preflight_id, NULL);
    expect_receipt_refused(&j, &r, "receipt-preflight-mismatch", NULL, NULL);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* preflight kinds do not carry the preflight id check */
static void test_preflight_receipt_any_preflight_id(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    make_journal(&j);
    OK(sf_exec_journal_mark_pending_at(&j, S_TOPOLOGY, T1, &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_TOPOLOGY), T1, &r, &e_));
    set_str(&r.preflight_id, "anything");
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    assert_int_equal(op_at(&j, S_TOPOLOGY)->state, SF_EXEC_COMPLETED);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_failed_receipt_needs_reason(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    pending_stop(&j, &r);
    r.outcome = SF_EXEC_OUTCOME_FAILED;
    expect_receipt_refused(&j, &r, "missing-field",
                           "operation_receipts[0].failure_reason",
                           "backup execution journal field "
                           "operation_receipts[].failure_reason is required");
    set_str(&r.failure_reason, "  ");
    expect_receipt_refused(&j, &r, "missing-field",
                           "operation_receipts[0].failure_reason", NULL);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_completed_payload_requirements(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    complete(&j, S_SNAPSHOT, T2);
    complete(&j, S_START, T2);
    OK(sf_exec_journal_mark_pending_at(&j, S_DOWNLOAD, T2, &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_DOWNLOAD), T2, &r, &e_));
    expect_receipt_refused(&j, &r, "missing-field",
                           "operation_receipts[3].artifact_path",
                           "backup execution journal field "
                           "operation_receipts[].artifact_path is required");
    /* a failed download needs no artifact path */
    r.outcome = SF_EXEC_OUTCOME_FAILED;
    set_str(&r.failure_reason, "network");
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    sf_exec_receipt_free(&r);
    complete(&j, S_DOWNLOAD, T2);
    OK(sf_exec_journal_mark_pending_at(&j, S_VERIFY, T2, &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_VERIFY), T2, &r, &e_));
    expect_receipt_refused(&j, &r, "missing-field",
                           "operation_receipts[5].checksum", NULL);
    /* the checksum is not hex-checked here */
    set_str(&r.checksum, "not-hex");
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    sf_exec_receipt_free(&r);
    /* skipped needs nothing */
    OK(sf_exec_journal_mark_pending_at(&j, S_FINALIZE, T2, &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_FINALIZE), T2, &r, &e_));
    r.outcome = SF_EXEC_OUTCOME_SKIPPED;
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    assert_int_equal(op_at(&j, S_FINALIZE)->state, SF_EXEC_SKIPPED);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

static void test_receipt_without_pending_operation(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;
    sf_error err;

    (void)s;
    make_accepted(&j);
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_STOP), T2, &r, &e_));
    /* the receipt itself is fine; the operation is not pending */
    OK(sf_exec_receipt_validate_against(&r, &j, &e_));
    FAILS(sf_exec_journal_record_receipt(&j, &r, &err),
          "receipt-without-pending-operation",
          "operation_receipts[0].sequence",
          "operation receipt 4 has no pending operation");
    assert_int_equal(j.receipt_count, 0);
    assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_READY);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* receipts: fields, then journal, then operation, then preflight, then
 * payload */
static void test_receipt_rule_order(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;
    sf_error err;

    (void)s;
    pending_stop(&j, &r);
    r.outcome = SF_EXEC_OUTCOME_FAILED;
    set_str(&r.preflight_id, "x");
    set_str(&r.operation_id, "x");
    r.sequence = 99;
    set_str(&r.run_id, "x");
    set_str(&r.checksum, "");
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err), "missing-field",
          "operation_receipts[0].checksum", NULL);
    set_str(&r.checksum, NULL);
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err),
          "receipt-journal-mismatch", NULL, NULL);
    set_str(&r.run_id, "run-001");
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err),
          "receipt-operation-not-found", NULL, NULL);
    r.sequence = S_STOP;
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err),
          "receipt-operation-mismatch", NULL, NULL);
    set_str(&r.operation_id, "stop-" APP);
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err),
          "receipt-preflight-mismatch", NULL, NULL);
    set_str(&r.preflight_id, PF);
    FAILS(sf_exec_receipt_validate_against(&r, &j, &err), "missing-field",
          "operation_receipts[0].failure_reason", NULL);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* Stored receipts are re-validated against the journal by validate(). */
static void test_stored_receipts_validated(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    complete(&j, S_SNAPSHOT, T2);
    expect_valid(&j);
    set_str(&j.operation_receipts[1].snapshot_id, NULL);
    expect_invalid(&j, "missing-field", "operation_receipts[1].snapshot_id",
                   NULL);
    set_str(&j.operation_receipts[1].snapshot_id, "snap-app");
    j.operation_receipts[0].sequence = 5;
    expect_invalid(&j, "receipt-operation-mismatch",
                   "operation_receipts[0].operation_id", NULL);
    j.operation_receipts[0].sequence = 12;
    expect_invalid(&j, "receipt-operation-not-found",
                   "operation_receipts[0].sequence", NULL);
    sf_exec_journal_free(&j);
}

static void test_receipt_constructors(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;

    (void)s;
    make_accepted(&j);
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_SNAPSHOT), T2, &r, &e_));
    assert_string_equal(r.plan_id, "plan-001");
    assert_string_equal(r.run_id, "run-001");
    assert_string_equal(r.preflight_id, PF);
    assert_int_equal(r.sequence, S_SNAPSHOT);
    assert_string_equal(r.operation_id, "snapshot-" APP);
    assert_int_equal(r.kind, SF_PHASE_CREATE_SNAPSHOT);
    assert_string_equal(r.target_canister_id, APP);
    assert_int_equal(r.outcome, SF_EXEC_OUTCOME_COMPLETED);
    assert_string_equal(r.updated_at, T2);
    assert_null(r.snapshot_id);
    assert_false(r.has_snapshot_taken_at_timestamp);
    assert_false(r.has_snapshot_total_size_bytes);
    assert_null(r.artifact_path);
    assert_null(r.checksum);
    assert_null(r.failure_reason);
    sf_exec_receipt_free(&r);
    OK(sf_exec_receipt_failed(&j, op_at(&j, S_STOP), NULL, "boom", &r, &e_));
    assert_int_equal(r.outcome, SF_EXEC_OUTCOME_FAILED);
    assert_string_equal(r.failure_reason, "boom");
    assert_null(r.updated_at);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* ---- rollback: a receipt refused by the final validation ---- */

/* A completed receipt carrying a failure_reason makes the operation
 * "completed with reasons": unblocked-operation-has-reasons. The journal
 * in memory must be exactly as before: receipt gone, operation still
 * pending with its old time and no reasons, restart_required unchanged
 * (canic 0.35.10 only removed the receipt). */
static void test_rollback_on_rejected_receipt(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;
    sf_error err;
    char before[4096], after[4096], *json_before, *json_after;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    complete(&j, S_SNAPSHOT, T2);
    OK(sf_exec_journal_mark_pending_at(&j, S_START, T1, &e_));
    assert_true(j.restart_required);
    snapshot_state(&j, before, sizeof before);
    json_before = to_json(&j);

    OK(sf_exec_receipt_completed(&j, op_at(&j, S_START), T2, &r, &e_));
    set_str(&r.failure_reason, "");
    FAILS(sf_exec_journal_record_receipt(&j, &r, &err),
          "unblocked-operation-has-reasons", "operations[6].blocking_reasons",
          "operation 6 cannot have blocking reasons in its current state");
    snapshot_state(&j, after, sizeof after);
    assert_string_equal(before, after);
    json_after = to_json(&j);
    assert_string_equal(json_before, json_after);
    assert_int_equal(op_at(&j, S_START)->state, SF_EXEC_PENDING);
    assert_string_equal(op_at(&j, S_START)->state_updated_at, T1);
    /* had the start completed, restart_required would have flipped */
    assert_true(j.restart_required);
    assert_int_equal(j.receipt_count, 2);

    /* the same receipt without the reason goes through */
    set_str(&r.failure_reason, NULL);
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    assert_false(j.restart_required);
    assert_int_equal(j.receipt_count, 3);
    free(json_before);
    free(json_after);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* A skipped receipt with a reason is refused the same way. */
static void test_rollback_skipped_with_reason(void **s)
{
    sf_exec_journal j;
    sf_exec_receipt r;
    sf_error err;
    char before[4096], after[4096];

    (void)s;
    pending_stop(&j, &r);
    r.outcome = SF_EXEC_OUTCOME_SKIPPED;
    set_str(&r.failure_reason, "already stopped");
    snapshot_state(&j, before, sizeof before);
    FAILS(sf_exec_journal_record_receipt(&j, &r, &err),
          "unblocked-operation-has-reasons", NULL, NULL);
    snapshot_state(&j, after, sizeof after);
    assert_string_equal(before, after);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
}

/* ---- the state machine: every transition from every state ---- */

/* A journal (accepted) whose stop operation (4) is in `state`, stop being
 * the next operation whenever it is ready, pending or failed. Blocked is
 * reached with a hand edit (only possible before acceptance otherwise). */
static void journal_with_stop_in(sf_exec_journal *j, sf_exec_state state)
{
    make_accepted(j);
    switch (state) {
    case SF_EXEC_READY:
        break;
    case SF_EXEC_PENDING:
        OK(sf_exec_journal_mark_pending_at(j, S_STOP, T2, &e_));
        break;
    case SF_EXEC_COMPLETED:
        complete(j, S_STOP, T2);
        break;
    case SF_EXEC_FAILED:
        fail_op(j, S_STOP, "boom");
        break;
    case SF_EXEC_SKIPPED: {
        sf_exec_receipt r;
        OK(sf_exec_journal_mark_pending_at(j, S_STOP, T2, &e_));
        OK(sf_exec_receipt_completed(j, op_at(j, S_STOP), T2, &r, &e_));
        r.outcome = SF_EXEC_OUTCOME_SKIPPED;
        OK(sf_exec_journal_record_receipt(j, &r, &e_));
        sf_exec_receipt_free(&r);
        break;
    }
    case SF_EXEC_BLOCKED: {
        sf_exec_operation *op = op_at(j, S_STOP);
        op->state = SF_EXEC_BLOCKED;
        op->blocking_reasons = calloc(1, sizeof(char *));
        assert_non_null(op->blocking_reasons);
        op->blocking_reasons[0] = xstrdup("operator hold");
        op->blocking_reason_count = 1;
        break;
    }
    }
    assert_int_equal(op_at(j, S_STOP)->state, state);
}

static void test_mark_pending_from_every_state(void **s)
{
    sf_exec_state st;

    (void)s;
    for (st = SF_EXEC_READY; st <= SF_EXEC_SKIPPED; st++) {
        sf_exec_journal j;
        sf_error err;
        char before[4096], after[4096];

        journal_with_stop_in(&j, st);
        snapshot_state(&j, before, sizeof before);
        sf_error_clear(&err);
        if (st == SF_EXEC_READY || st == SF_EXEC_FAILED) {
            OK(sf_exec_journal_mark_pending_at(&j, S_STOP, "unix:5", &e_));
            assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_PENDING);
            assert_string_equal(op_at(&j, S_STOP)->state_updated_at,
                                "unix:5");
            assert_int_equal(op_at(&j, S_STOP)->blocking_reason_count, 0);
        } else if (st == SF_EXEC_PENDING) {
            /* pending is next, but pending -> pending is refused */
            FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, T2, &err),
                  "invalid-operation-transition", "operations[4].state",
                  "operation 4 cannot transition from Pending to Pending");
        } else {
            /* blocked, completed and skipped are never next */
            FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, T2, &err),
                  "out-of-order-operation-transition", "sequence",
                  "operation 4 cannot advance before operation 5");
        }
        if (st != SF_EXEC_READY && st != SF_EXEC_FAILED) {
            snapshot_state(&j, after, sizeof after);
            assert_string_equal(before, after);
        }
        sf_exec_journal_free(&j);
    }
}

static void test_retry_from_every_state(void **s)
{
    sf_exec_state st;

    (void)s;
    for (st = SF_EXEC_READY; st <= SF_EXEC_SKIPPED; st++) {
        sf_exec_journal j;
        sf_error err;
        char before[4096], after[4096];

        journal_with_stop_in(&j, st);
        snapshot_state(&j, before, sizeof before);
        if (st == SF_EXEC_FAILED) {
            OK(sf_exec_journal_retry_failed_at(&j, S_STOP, NULL, &e_));
            assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_READY);
            assert_null(op_at(&j, S_STOP)->state_updated_at);
        } else {
            FAILS(sf_exec_journal_retry_failed_at(&j, S_STOP, T2, &err),
                  "operation-not-failed", "operations[4].state",
                  "operation 4 is not failed");
            snapshot_state(&j, after, sizeof after);
            assert_string_equal(before, after);
        }
        sf_exec_journal_free(&j);
    }
}

static void test_receipt_from_every_state(void **s)
{
    sf_exec_state st;

    (void)s;
    for (st = SF_EXEC_READY; st <= SF_EXEC_SKIPPED; st++) {
        sf_exec_outcome o;

        for (o = SF_EXEC_OUTCOME_COMPLETED; o <= SF_EXEC_OUTCOME_SKIPPED;
             o++) {
            static const sf_exec_state to[] = {
                SF_EXEC_COMPLETED, SF_EXEC_FAILED, SF_EXEC_SKIPPED};
            sf_exec_journal j;
            sf_exec_receipt r;
            sf_error err;

            journal_with_stop_in(&j, st);
            OK(sf_exec_receipt_completed(&j, op_at(&j, S_STOP), "unix:9", &r,
                                         &e_));
            r.outcome = o;
            if (o == SF_EXEC_OUTCOME_FAILED)
                set_str(&r.failure_reason, "boom");
            if (st == SF_EXEC_PENDING) {
                size_t n = j.receipt_count;
                OK(sf_exec_journal_record_receipt(&j, &r, &e_));
                assert_int_equal(op_at(&j, S_STOP)->state, to[o]);
                assert_string_equal(op_at(&j, S_STOP)->state_updated_at,
                                    "unix:9");
                assert_int_equal(op_at(&j, S_STOP)->blocking_reason_count,
                                 o == SF_EXEC_OUTCOME_FAILED);
                assert_int_equal(j.receipt_count, n + 1);
                /* a completed stop with an unstarted start */
                assert_int_equal(j.restart_required,
                                 o == SF_EXEC_OUTCOME_COMPLETED);
            } else {
                FAILS(sf_exec_journal_record_receipt(&j, &r, &err),
                      "receipt-without-pending-operation", NULL, NULL);
            }
            sf_exec_receipt_free(&r);
            sf_exec_journal_free(&j);
        }
    }
}

/* accept: blocked -> ready, preflight -> completed, the rest untouched */
static void test_accept_from_every_state(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_journal(&j);
    /* hand-made pre-acceptance states of preflight operations */
    j.operations[0].state = SF_EXEC_FAILED;
    j.operations[0].blocking_reasons = calloc(1, sizeof(char *));
    assert_non_null(j.operations[0].blocking_reasons);
    j.operations[0].blocking_reasons[0] = xstrdup("x");
    j.operations[0].blocking_reason_count = 1;
    set_str(&j.operations[0].state_updated_at, "unix:1");
    j.operations[1].state = SF_EXEC_PENDING;
    j.operations[2].state = SF_EXEC_SKIPPED;
    expect_valid(&j);
    set_str(&j.operations[4].state_updated_at, "unix:3");
    OK(sf_exec_journal_accept_preflight_at(&j, PF, NULL, &e_));
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(j.operations[i].state, SF_EXEC_COMPLETED);
        assert_null(j.operations[i].state_updated_at);
        assert_int_equal(j.operations[i].blocking_reason_count, 0);
    }
    assert_int_equal(j.operations[4].state, SF_EXEC_READY);
    assert_string_equal(j.operations[4].state_updated_at, "unix:3");
    sf_exec_journal_free(&j);

    /* after acceptance, a re-accept leaves mutating states alone */
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    fail_op(&j, S_SNAPSHOT, "boom");
    OK(sf_exec_journal_accept_preflight_at(&j, PF, T2, &e_));
    assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_COMPLETED);
    assert_int_equal(op_at(&j, S_SNAPSHOT)->state, SF_EXEC_FAILED);
    assert_string_equal(op_at(&j, S_SNAPSHOT)->blocking_reasons[0], "boom");
    assert_true(j.restart_required);
    sf_exec_journal_free(&j);
}

static void test_accept_argument_checks(void **s)
{
    sf_exec_journal j;
    sf_error err;
    char before[4096], after[4096];

    (void)s;
    make_journal(&j);
    snapshot_state(&j, before, sizeof before);
    FAILS(sf_exec_journal_accept_preflight_at(&j, " ", T1, &err),
          "missing-field", "preflight_id",
          "backup execution journal field preflight_id is required");
    FAILS(sf_exec_journal_accept_preflight_at(&j, NULL, T1, &err),
          "missing-field", "preflight_id", NULL);
    FAILS(sf_exec_journal_accept_preflight_at(&j, PF, "", &err),
          "missing-field", "updated_at",
          "backup execution journal field updated_at is required");
    snapshot_state(&j, after, sizeof after);
    assert_string_equal(before, after);
    sf_exec_journal_free(&j);
}

/* accept validates at the end and leaves the journal untouched on
 * failure */
static void test_accept_rolls_back(void **s)
{
    sf_exec_journal j;
    sf_error err;
    char before[4096], after[4096];

    (void)s;
    make_journal(&j);
    j.operations[7].sequence = 70; /* the journal is already invalid */
    snapshot_state(&j, before, sizeof before);
    FAILS(sf_exec_journal_accept_preflight_at(&j, PF, T1, &err),
          "missing-sequence", NULL, NULL);
    snapshot_state(&j, after, sizeof after);
    assert_string_equal(before, after);
    assert_null(j.preflight_id);
    sf_exec_journal_free(&j);
}

static void test_mark_pending_errors(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_accepted(&j);
    FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, " ", &err),
          "missing-field", "updated_at", NULL);
    sf_exec_journal_free(&j);

    /* nothing runnable */
    make_accepted(&j);
    for (uint64_t q = S_STOP; q <= S_FINALIZE; q++)
        complete(&j, q, T2);
    FAILS(sf_exec_journal_mark_pending_at(&j, 0, T2, &err),
          "no-transitionable-operation", "", "no operation can be advanced");
    FAILS(sf_exec_journal_mark_next_pending_at(&j, T2, &err),
          "no-transitionable-operation", NULL, NULL);
    assert_null(sf_exec_journal_next_ready(&j));
    sf_exec_journal_free(&j);

    /* before acceptance only blocked mutations exist, so the refusal of a
     * runnable mutation is reached with a hand-made journal */
    make_journal(&j);
    for (uint64_t q = 0; q < 4; q++)
        j.operations[q].state = SF_EXEC_SKIPPED;
    j.operations[S_STOP].state = SF_EXEC_READY;
    FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, T2, &err),
          "mutation-before-preflight-accepted", "preflight_accepted",
          "mutating operation 4 cannot run before preflight acceptance");
    sf_exec_journal_free(&j);
}

/* snapfleet's transition for several operations in flight: the same
 * refusals as mark_pending_at except the order, which is by canister (and
 * for finalize, everything before it); with and without the index. */
static void mark_beside_case(bool indexed)
{
    sf_exec_journal j;
    sf_error err;

    make_accepted(&j);
    /* a second canister's download and verify */
    set_str(&op_at(&j, S_DOWNLOAD)->target_canister_id, WORKER);
    set_str(&op_at(&j, S_VERIFY)->target_canister_id, WORKER);
    if (indexed)
        OK(sf_exec_journal_index(&j, &e_));
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_STOP, " ", &err),
          "missing-field", "updated_at", NULL);
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, 99, T2, &err),
          "operation-not-found", "sequence", "operation 99 was not found");
    /* the same canister's earlier stop is still ready */
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_SNAPSHOT, T2, &err),
          "out-of-order-operation-transition", "sequence",
          "operation 5 cannot advance before operation 4 of the same "
          "canister");
    /* another canister's operation goes beside it */
    OK(sf_exec_journal_mark_pending_beside_at(&j, S_DOWNLOAD, T2, &e_));
    OK(sf_exec_journal_mark_pending_beside_at(&j, S_STOP, T2, &e_));
    assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_PENDING);
    assert_int_equal(op_at(&j, S_DOWNLOAD)->state, SF_EXEC_PENDING);
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, S_STOP);
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_DOWNLOAD, T2, &err),
          "invalid-operation-transition", "operations[7].state",
          "operation 7 cannot transition from Pending to Pending");
    /* verify waits for its own canister's download */
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_VERIFY, T2, &err),
          "out-of-order-operation-transition", "sequence",
          "operation 8 cannot advance before operation 7 of the same "
          "canister");
    /* finalize waits for everything before it */
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_FINALIZE, T2, &err),
          "out-of-order-operation-transition", "sequence",
          "operation 9 cannot advance before operation 4");
    {
        sf_exec_receipt r;

        /* the download fails; from failed it may go pending again */
        OK(sf_exec_receipt_failed(&j, op_at(&j, S_DOWNLOAD), T2, "lost", &r,
                                  &e_));
        OK(sf_exec_journal_record_receipt(&j, &r, &e_));
        sf_exec_receipt_free(&r);
        OK(sf_exec_journal_mark_pending_beside_at(&j, S_DOWNLOAD, NULL, &e_));
        assert_int_equal(op_at(&j, S_DOWNLOAD)->state, SF_EXEC_PENDING);
    }
    {
        sf_exec_receipt r;

        OK(sf_exec_receipt_completed(&j, op_at(&j, S_STOP), T2, &r, &e_));
        OK(sf_exec_journal_record_receipt(&j, &r, &e_));
        sf_exec_receipt_free(&r);
        FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_STOP, T2, &err),
              "invalid-operation-transition", "operations[4].state",
              "operation 4 cannot transition from Completed to Pending");
        OK(sf_exec_journal_mark_pending_beside_at(&j, S_SNAPSHOT, T2, &e_));
    }
    expect_valid(&j);
    if (indexed)
        assert_true(sf_exec_journal_index_consistent(&j));
    sf_exec_journal_free(&j);

    /* a runnable mutation before acceptance (hand-made, as above) */
    make_journal(&j);
    for (uint64_t q = 0; q < 4; q++)
        j.operations[q].state = SF_EXEC_SKIPPED;
    j.operations[S_STOP].state = SF_EXEC_READY;
    FAILS(sf_exec_journal_mark_pending_beside_at(&j, S_STOP, T2, &err),
          "mutation-before-preflight-accepted", "preflight_accepted",
          "mutating operation 4 cannot run before preflight acceptance");
    sf_exec_journal_free(&j);
}

static void test_mark_pending_beside(void **s)
{
    (void)s;
    mark_beside_case(false);
    mark_beside_case(true);
}

static void test_mark_next_pending(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_accepted(&j);
    OK(sf_exec_journal_mark_next_pending_at(&j, T2, &e_));
    assert_int_equal(op_at(&j, S_STOP)->state, SF_EXEC_PENDING);
    /* a pending op stays next (a crash leaves it to be re-run) */
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, S_STOP);
    sf_exec_journal_free(&j);
}

/* mark_pending validates at the end: on failure nothing changes */
static void test_mark_pending_rolls_back(void **s)
{
    sf_exec_journal j;
    sf_error err;
    char before[4096], after[4096];

    (void)s;
    make_accepted(&j);
    /* a transition validates what it touches (the whole journal is
     * validated when it is read, built, replayed or written): the
     * operation it moves, here invalid */
    set_str(&j.operations[S_STOP].operation_id, "");
    snapshot_state(&j, before, sizeof before);
    FAILS(sf_exec_journal_mark_pending_at(&j, S_STOP, T2, &err),
          "missing-field", "operations[4].operation_id", NULL);
    snapshot_state(&j, after, sizeof after);
    assert_string_equal(before, after);
    FAILS(sf_exec_journal_retry_failed_at(&j, 99, T2, &err),
          "operation-not-found", "sequence", "operation 99 was not found");
    FAILS(sf_exec_journal_retry_failed_at(&j, S_STOP, "", &err),
          "missing-field", "updated_at", NULL);
    sf_exec_journal_free(&j);
}

static void test_restart_required_rules(void **s)
{
    sf_exec_journal j;

    (void)s;
    make_accepted(&j);
    assert_false(sf_exec_journal_compute_restart_required(&j));
    op_at(&j, S_STOP)->state = SF_EXEC_COMPLETED;
    assert_true(sf_exec_journal_compute_restart_required(&j));
    op_at(&j, S_START)->state = SF_EXEC_SKIPPED;
    assert_false(sf_exec_journal_compute_restart_required(&j));
    op_at(&j, S_START)->state = SF_EXEC_FAILED;
    assert_true(sf_exec_journal_compute_restart_required(&j));
    op_at(&j, S_START)->state = SF_EXEC_COMPLETED;
    assert_false(sf_exec_journal_compute_restart_required(&j));
    op_at(&j, S_STOP)->state = SF_EXEC_SKIPPED;
    op_at(&j, S_START)->state = SF_EXEC_READY;
    assert_false(sf_exec_journal_compute_restart_required(&j));
    /* validate does not check the stored flag */
    op_at(&j, S_STOP)->state = SF_EXEC_READY;
    j.restart_required = true;
    expect_valid(&j);
    sf_exec_journal_free(&j);
}

/* a full run to completion */
static void test_full_run(void **s)
{
    sf_exec_journal j;
    sf_exec_resume_summary sum;

    (void)s;
    make_journal(&j);
    sf_exec_journal_resume_summary(&j, &sum);
    assert_int_equal(sum.total_operations, 10);
    assert_int_equal(sum.ready_operations, 4);
    assert_int_equal(sum.blocked_operations, 6);
    assert_false(sf_exec_resume_summary_is_complete(&sum));
    OK(sf_exec_journal_accept_preflight_at(&j, PF, T1, &e_));
    while (sf_exec_journal_next_ready(&j) != NULL)
        complete(&j, sf_exec_journal_next_ready(&j)->sequence, T2);
    sf_exec_journal_resume_summary(&j, &sum);
    assert_int_equal(sum.completed_operations, 10);
    assert_true(sf_exec_resume_summary_is_complete(&sum));
    assert_null(sum.next_operation);
    assert_false(j.restart_required);
    assert_int_equal(j.receipt_count, 6);
    sf_exec_journal_free(&j);
}


/* ---- the index (sf_exec_journal_index) ---- */

/* Both journals answer alike: the indexed one through its index, the
 * plain one by its scans; and the same document. */
static void expect_same(const sf_exec_journal *ix, const sf_exec_journal *plain)
{
    sf_exec_resume_summary a, b;
    char *ja = to_json(ix), *jb = to_json(plain);

    assert_true(sf_exec_journal_has_index(ix));
    assert_false(sf_exec_journal_has_index(plain));
    assert_true(sf_exec_journal_index_consistent(ix));
    assert_string_equal(ja, jb);
    sf_exec_journal_resume_summary(ix, &a);
    sf_exec_journal_resume_summary(plain, &b);
    assert_int_equal(a.ready_operations, b.ready_operations);
    assert_int_equal(a.pending_operations, b.pending_operations);
    assert_int_equal(a.blocked_operations, b.blocked_operations);
    assert_int_equal(a.completed_operations, b.completed_operations);
    assert_int_equal(a.failed_operations, b.failed_operations);
    assert_int_equal(a.skipped_operations, b.skipped_operations);
    assert_int_equal(a.next_operation == NULL, b.next_operation == NULL);
    if (a.next_operation != NULL)
        assert_int_equal(a.next_operation->sequence, b.next_operation->sequence);
    assert_int_equal(ix->restart_required, plain->restart_required);
    assert_int_equal(sf_exec_journal_compute_restart_required(ix),
                     sf_exec_journal_compute_restart_required(plain));
    for (uint64_t q = 0; q < 11; q++)
        assert_int_equal(sf_exec_journal_find_operation(ix, q) == NULL,
                         sf_exec_journal_find_operation(plain, q) == NULL);
    free(ja);
    free(jb);
}

static void both_complete(sf_exec_journal *ix, sf_exec_journal *plain,
                          uint64_t seq)
{
    complete(ix, seq, T2);
    complete(plain, seq, T2);
    expect_same(ix, plain);
}

static void test_index_follows_a_run(void **s)
{
    sf_exec_journal ix, plain;
    sf_exec_receipt r;
    sf_error err;

    (void)s;
    make_journal(&ix);
    make_journal(&plain);
    OK(sf_exec_journal_index(&ix, &e_));
    expect_same(&ix, &plain);
    /* the acceptance replaces every operation and rebuilds the index */
    OK(sf_exec_journal_accept_preflight_at(&ix, PF, T1, &e_));
    OK(sf_exec_journal_accept_preflight_at(&plain, PF, T1, &e_));
    expect_same(&ix, &plain);
    both_complete(&ix, &plain, S_STOP);
    /* a failure, marked pending again, failed again, retried */
    fail_op(&ix, S_SNAPSHOT, "quota");
    fail_op(&plain, S_SNAPSHOT, "quota");
    expect_same(&ix, &plain);
    fail_op(&ix, S_SNAPSHOT, "quota");
    fail_op(&plain, S_SNAPSHOT, "quota");
    OK(sf_exec_journal_retry_failed_at(&ix, S_SNAPSHOT, T2, &e_));
    OK(sf_exec_journal_retry_failed_at(&plain, S_SNAPSHOT, T2, &e_));
    expect_same(&ix, &plain);
    both_complete(&ix, &plain, S_SNAPSHOT);
    /* a rejected receipt leaves the index as the journal: as it was */
    OK(sf_exec_journal_mark_pending_at(&ix, S_START, T1, &e_));
    OK(sf_exec_journal_mark_pending_at(&plain, S_START, T1, &e_));
    OK(sf_exec_receipt_completed(&ix, op_at(&ix, S_START), T2, &r, &e_));
    set_str(&r.failure_reason, "");
    FAILS(sf_exec_journal_record_receipt(&ix, &r, &err),
          "unblocked-operation-has-reasons", NULL, NULL);
    assert_true(ix.restart_required);
    expect_same(&ix, &plain);
    /* out of order and refused transitions change nothing */
    FAILS(sf_exec_journal_mark_pending_at(&ix, S_VERIFY, T1, &err),
          "out-of-order-operation-transition", NULL, NULL);
    FAILS(sf_exec_journal_retry_failed_at(&ix, S_STOP, T1, &err),
          "operation-not-failed", NULL, NULL);
    expect_same(&ix, &plain);
    set_str(&r.failure_reason, NULL);
    OK(sf_exec_journal_record_receipt(&ix, &r, &e_));
    OK(sf_exec_journal_record_receipt(&plain, &r, &e_));
    sf_exec_receipt_free(&r);
    assert_false(ix.restart_required);
    expect_same(&ix, &plain);
    while (sf_exec_journal_next_ready(&plain) != NULL)
        both_complete(&ix, &plain, sf_exec_journal_next_ready(&plain)->sequence);
    assert_null(sf_exec_journal_next_ready(&ix));
    FAILS(sf_exec_journal_mark_next_pending_at(&ix, T1, &err),
          "no-transitionable-operation", NULL, NULL);
    sf_exec_journal_free(&ix);
    assert_null(ix.index);
    sf_exec_journal_free(&plain);
}

static void test_index_latest_snapshot(void **s)
{
    sf_exec_journal ix, plain;
    const sf_exec_receipt *a, *b;

    (void)s;
    make_accepted(&ix);
    make_accepted(&plain);
    OK(sf_exec_journal_index(&ix, &e_));
    assert_null(sf_exec_journal_latest_snapshot(&ix, APP));
    assert_null(sf_exec_journal_latest_snapshot(&ix, NULL));
    complete(&ix, S_STOP, T2);
    complete(&plain, S_STOP, T2);
    /* a failed create carries no snapshot id; the completed one does */
    fail_op(&ix, S_SNAPSHOT, "quota");
    fail_op(&plain, S_SNAPSHOT, "quota");
    assert_null(sf_exec_journal_latest_snapshot(&ix, APP));
    complete(&ix, S_SNAPSHOT, T2);
    complete(&plain, S_SNAPSHOT, T2);
    a = sf_exec_journal_latest_snapshot(&ix, APP);
    b = sf_exec_journal_latest_snapshot(&plain, APP);
    assert_non_null(a);
    assert_int_equal(a - ix.operation_receipts, b - plain.operation_receipts);
    assert_string_equal(a->snapshot_id, "snap-app");
    assert_null(sf_exec_journal_latest_snapshot(&ix, ROOT));
    /* a later create receipt of the same canister (appended as a replayed
     * record would) is the latest, found through the index */
    {
        size_t at = (size_t)(a - ix.operation_receipts);
        sf_exec_receipt *grown = realloc(ix.operation_receipts,
                                         (ix.receipt_count + 1) * sizeof *grown);
        assert_non_null(grown);
        ix.operation_receipts = grown;
        OK(sf_exec_receipt_copy(&grown[ix.receipt_count], &grown[at], &e_));
        set_str(&grown[ix.receipt_count].snapshot_id, "snap-two");
        ix.receipt_count++;
    }
    a = sf_exec_journal_latest_snapshot(&ix, APP);
    assert_string_equal(a->snapshot_id, "snap-two");
    assert_int_equal(a - ix.operation_receipts, (long)ix.receipt_count - 1);
    /* the receipt the map names changed in place (no longer a snapshot):
     * the scan answers, with the earlier one */
    set_str(&ix.operation_receipts[ix.receipt_count - 1].snapshot_id, NULL);
    a = sf_exec_journal_latest_snapshot(&ix, APP);
    assert_non_null(a);
    assert_string_equal(a->snapshot_id, "snap-app");
    /* taken back: the map starts again */
    sf_exec_receipt_free(&ix.operation_receipts[--ix.receipt_count]);
    sf_exec_receipt_free(&ix.operation_receipts[--ix.receipt_count]);
    assert_null(sf_exec_journal_latest_snapshot(&ix, APP));
    assert_true(sf_exec_journal_index_consistent(&ix));
    sf_exec_journal_free(&ix);
    sf_exec_journal_free(&plain);
}

static void test_index_refuses_bad_sequences(void **s)
{
    sf_exec_journal j;
    sf_error err;

    (void)s;
    make_journal(&j);
    j.operations[3].sequence = 2;
    FAILS(sf_exec_journal_index(&j, &err), "duplicate-sequence",
          "operations[3].sequence", NULL);
    assert_null(j.index);
    j.operations[3].sequence = 12;
    FAILS(sf_exec_journal_index(&j, &err), "missing-sequence", NULL, NULL);
    assert_false(sf_exec_journal_has_index(&j));
    sf_exec_journal_free(&j);
}

/* An index whose operations are no longer the journal's is not used; a
 * copy has none; dropping it leaves the scans. */
static void test_index_not_shared(void **s)
{
    sf_exec_journal j, c, view;
    sf_exec_operation *moved;

    (void)s;
    make_accepted(&j);
    OK(sf_exec_journal_index(&j, &e_));
    OK(sf_exec_journal_index(&j, &e_)); /* again: replaces it */
    OK(sf_exec_journal_copy(&c, &j, &e_));
    assert_null(c.index);
    /* a view of one operation (as a log record is written) */
    view = j;
    view.operations = &j.operations[S_STOP];
    view.operation_count = 1;
    assert_false(sf_exec_journal_has_index(&view));
    assert_true(sf_exec_journal_index_consistent(&view));
    assert_int_equal(sf_exec_journal_next_ready(&view)->sequence, S_STOP);
    assert_null(sf_exec_journal_find_operation(&view, S_SNAPSHOT));
    /* the array moved behind the index's back */
    moved = malloc(j.operation_count * sizeof *moved);
    assert_non_null(moved);
    memcpy(moved, j.operations, j.operation_count * sizeof *moved);
    free(j.operations);
    j.operations = moved;
    assert_false(sf_exec_journal_has_index(&j));
    complete(&j, S_STOP, T2);
    assert_int_equal(sf_exec_journal_next_ready(&j)->sequence, S_SNAPSHOT);
    sf_exec_journal_drop_index(&j);
    sf_exec_journal_drop_index(&j);
    assert_null(j.index);
    sf_exec_journal_free(&j);
    sf_exec_journal_free(&c);
}

/* A state set by hand with the index dropped first, then indexed again:
 * the cursor starts over and the counts are the journal's. */
static void test_index_rebuilt_after_direct_change(void **s)
{
    sf_exec_journal ix, plain;

    (void)s;
    make_accepted(&ix);
    make_accepted(&plain);
    OK(sf_exec_journal_index(&ix, &e_));
    complete(&ix, S_STOP, T2);
    complete(&plain, S_STOP, T2);
    complete(&ix, S_SNAPSHOT, T2);
    complete(&plain, S_SNAPSHOT, T2);
    assert_int_equal(sf_exec_journal_next_ready(&ix)->sequence, S_START);
    sf_exec_journal_drop_index(&ix);
    ix.operations[S_STOP].state = SF_EXEC_SKIPPED;
    plain.operations[S_STOP].state = SF_EXEC_SKIPPED;
    OK(sf_exec_journal_index(&ix, &e_));
    expect_same(&ix, &plain);
    sf_exec_journal_free(&ix);
    sf_exec_journal_free(&plain);
}

/* ---- resume summary ---- */

static void test_resume_summary_json(void **s)
{
    static const char expected[] =
        "{\n"
        "  \"plan_id\": \"plan-001\",\n"
        "  \"run_id\": \"run-001\",\n"
        "  \"preflight_id\": \"preflight-001\",\n"
        "  \"preflight_accepted\": true,\n"
        "  \"restart_required\": true,\n"
        "  \"total_operations\": 10,\n"
        "  \"ready_operations\": 4,\n"
        "  \"pending_operations\": 0,\n"
        "  \"blocked_operations\": 0,\n"
        "  \"completed_operations\": 5,\n"
        "  \"failed_operations\": 1,\n"
        "  \"skipped_operations\": 0,\n"
        "  \"next_operation\": {\n"
        "    \"sequence\": 5,\n"
        "    \"operation_id\": \"snapshot-" APP "\",\n"
        "    \"kind\": \"create-snapshot\",\n"
        "    \"target_canister_id\": \"" APP "\",\n"
        "    \"state\": \"failed\",\n"
        "    \"state_updated_at\": \"" T2 "\",\n"
        "    \"blocking_reasons\": [\n"
        "      \"quota\"\n"
        "    ]\n"
        "  }\n"
        "}";
    static const char fresh[] =
        "{\n"
        "  \"plan_id\": \"plan-001\",\n"
        "  \"run_id\": \"run-001\",\n"
        "  \"preflight_id\": null,\n"
        "  \"preflight_accepted\": false,\n"
        "  \"restart_required\": false,\n"
        "  \"total_operations\": 10,\n"
        "  \"ready_operations\": 4,\n"
        "  \"pending_operations\": 0,\n"
        "  \"blocked_operations\": 6,\n"
        "  \"completed_operations\": 0,\n"
        "  \"failed_operations\": 0,\n"
        "  \"skipped_operations\": 0,\n"
        "  \"next_operation\": {\n"
        "    \"sequence\": 0,\n"
        "    \"operation_id\": \"validate-topology\",\n"
        "    \"kind\": \"validate-topology\",\n"
        "    \"target_canister_id\": null,\n"
        "    \"state\": \"ready\",\n"
        "    \"state_updated_at\": null,\n"
        "    \"blocking_reasons\": []\n"
        "  }\n"
        "}";
    sf_exec_journal j;
    sf_buf b;

    (void)s;
    make_journal(&j);
    sf_buf_init(&b);
    OK(sf_exec_journal_resume_summary_json(&j, &b, &e_));
    assert_string_equal(b.data, fresh);
    sf_exec_journal_free(&j);
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    fail_op(&j, S_SNAPSHOT, "quota");
    sf_buf_reset(&b);
    OK(sf_exec_journal_resume_summary_json(&j, &b, &e_));
    assert_string_equal(b.data, expected);
    sf_buf_free(&b);
    sf_exec_journal_free(&j);
}

/* ---- JSON ---- */

/* Appendix A: an operations[] element of a fresh journal, inside the file
 * (two levels deeper). */
static const char appendix_operation[] =
    "    {\n"
    "      \"sequence\": 4,\n"
    "      \"operation_id\": \"stop-renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"kind\": \"stop\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"state\": \"blocked\",\n"
    "      \"state_updated_at\": null,\n"
    "      \"blocking_reasons\": [\n"
    "        \"preflight-not-accepted\"\n"
    "      ]\n"
    "    },\n";

/* Appendix A: an operation_receipts[] element, the last in its file. */
static const char appendix_receipt[] =
    "  \"operation_receipts\": [\n"
    "    {\n"
    "      \"plan_id\": \"plan-test\",\n"
    "      \"run_id\": \"run-test\",\n"
    "      \"preflight_id\": \"preflight-run-test\",\n"
    "      \"sequence\": 5,\n"
    "      \"operation_id\": \"snapshot-renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"kind\": \"create-snapshot\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"outcome\": \"completed\",\n"
    "      \"updated_at\": \"unix:1778709682\",\n"
    "      \"snapshot_id\": \"snap-app\",\n"
    "      \"snapshot_taken_at_timestamp\": 1778709681897818005,\n"
    "      \"snapshot_total_size_bytes\": 272586987,\n"
    "      \"artifact_path\": null,\n"
    "      \"checksum\": null,\n"
    "      \"failure_reason\": null\n"
    "    }\n"
    "  ]\n"
    "}";

static void test_appendix_fragments(void **s)
{
    sf_plan p;
    sf_exec_journal j;
    sf_exec_receipt r;
    char *text;
    const char *at;

    (void)s;
    make_plan(&p, "plan-test", "run-test");
    OK(sf_exec_journal_from_plan(&p, &j, &e_));
    text = to_json(&j);
    assert_non_null(strstr(text, appendix_operation));
    assert_memory_equal(text,
                        "{\n"
                        "  \"journal_version\": 1,\n"
                        "  \"plan_id\": \"plan-test\",\n"
                        "  \"run_id\": \"run-test\",\n"
                        "  \"preflight_id\": null,\n"
                        "  \"preflight_accepted\": false,\n"
                        "  \"restart_required\": false,\n"
                        "  \"operations\": [\n",
                        strlen("{\n"
                               "  \"journal_version\": 1,\n"
                               "  \"plan_id\": \"plan-test\",\n"
                               "  \"run_id\": \"run-test\",\n"
                               "  \"preflight_id\": null,\n"
                               "  \"preflight_accepted\": false,\n"
                               "  \"restart_required\": false,\n"
                               "  \"operations\": [\n"));
    at = strstr(text, "  \"operation_receipts\": []\n}");
    assert_non_null(at);
    assert_int_equal(strlen(at), strlen("  \"operation_receipts\": []\n}"));
    free(text);

    /* the snapshot receipt (a mid-run journal) */
    OK(sf_exec_journal_accept_preflight_at(&j, "preflight-run-test",
                                           "unix:1778709680", &e_));
    OK(sf_exec_journal_mark_pending_at(&j, S_STOP, "unix:1778709681", &e_));
    /* keep the journal to one receipt: the stop is completed by hand */
    op_at(&j, S_STOP)->state = SF_EXEC_COMPLETED;
    OK(sf_exec_journal_mark_pending_at(&j, S_SNAPSHOT, "unix:1778709681",
                                       &e_));
    OK(sf_exec_receipt_completed(&j, op_at(&j, S_SNAPSHOT), "unix:1778709682",
                                 &r, &e_));
    set_str(&r.snapshot_id, "snap-app");
    r.has_snapshot_taken_at_timestamp = true;
    r.snapshot_taken_at_timestamp = 1778709681897818005ULL;
    r.has_snapshot_total_size_bytes = true;
    r.snapshot_total_size_bytes = 272586987;
    OK(sf_exec_journal_record_receipt(&j, &r, &e_));
    text = to_json(&j);
    at = strstr(text, appendix_receipt);
    assert_non_null(at);
    assert_int_equal(strlen(at), strlen(appendix_receipt));
    /* and it reads back exactly (u64 above 2^53) */
    {
        sf_exec_journal back;
        OK(sf_exec_journal_parse(text, strlen(text), &back, &e_));
        assert_true(back.operation_receipts[0].has_snapshot_taken_at_timestamp);
        assert_true(back.operation_receipts[0].snapshot_taken_at_timestamp ==
                    1778709681897818005ULL);
        assert_int_equal(back.operation_receipts[0].snapshot_total_size_bytes,
                         272586987);
        sf_exec_journal_free(&back);
    }
    free(text);
    sf_exec_receipt_free(&r);
    sf_exec_journal_free(&j);
    sf_plan_free(&p);
}

static void round_trip_text(const char *text, size_t len)
{
    sf_exec_journal a, b;
    sf_buf w1, w2;

    OK(sf_exec_journal_parse(text, len, &a, &e_));
    sf_buf_init(&w1);
    sf_buf_init(&w2);
    OK(sf_exec_journal_write_json(&a, &w1, &e_));
    OK(sf_exec_journal_parse(w1.data, w1.len, &b, &e_));
    OK(sf_exec_journal_write_json(&b, &w2, &e_));
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w1.len);
    sf_buf_free(&w1);
    sf_buf_free(&w2);
    sf_exec_journal_free(&a);
    sf_exec_journal_free(&b);
}

static void test_round_trip_and_copy(void **s)
{
    sf_exec_journal j, c;
    char *a, *b;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    fail_op(&j, S_SNAPSHOT, "quota \"exceeded\"\n");
    a = to_json(&j);
    round_trip_text(a, strlen(a));
    OK(sf_exec_journal_copy(&c, &j, &e_));
    sf_exec_journal_free(&j);
    b = to_json(&c);
    assert_string_equal(a, b);
    free(a);
    free(b);
    sf_exec_journal_free(&c);
}

/* absent snapshot_* integers read as null (serde default) */
static void test_receipt_integer_defaults(void **s)
{
    sf_exec_journal j, back;
    char *text, *cut, *at;
    sf_buf b;

    (void)s;
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    text = to_json(&j);
    cut = strstr(text, "      \"snapshot_taken_at_timestamp\": null,\n");
    assert_non_null(cut);
    at = cut + strlen("      \"snapshot_taken_at_timestamp\": null,\n");
    memmove(cut, at, strlen(at) + 1);
    cut = strstr(text, "      \"snapshot_total_size_bytes\": null,\n");
    assert_non_null(cut);
    at = cut + strlen("      \"snapshot_total_size_bytes\": null,\n");
    memmove(cut, at, strlen(at) + 1);
    OK(sf_exec_journal_parse(text, strlen(text), &back, &e_));
    assert_false(back.operation_receipts[0].has_snapshot_taken_at_timestamp);
    assert_false(back.operation_receipts[0].has_snapshot_total_size_bytes);
    sf_buf_init(&b);
    OK(sf_exec_journal_write_json(&back, &b, &e_));
    free(text);
    text = to_json(&j);
    assert_string_equal(b.data, text);
    free(text);
    sf_buf_free(&b);
    sf_exec_journal_free(&back);
    sf_exec_journal_free(&j);
}

static void expect_parse_error(const char *text, const char *kind,
                               const char *field)
{
    sf_exec_journal j;
    sf_error err;

    FAILS(sf_exec_journal_parse(text, strlen(text), &j, &err), kind, field,
          NULL);
    assert_null(j.plan_id);
    assert_null(j.operations);
    assert_null(j.operation_receipts);
}

#define HDR                                                                \
    "{\"journal_version\": 1, \"plan_id\": \"p\", \"run_id\": \"r\", "     \
    "\"preflight_id\": null, \"preflight_accepted\": false, "              \
    "\"restart_required\": false, "

static void test_parse_errors(void **s)
{
    (void)s;
    expect_parse_error("{", "json-syntax", NULL);
    expect_parse_error(HDR "\"operations\": []}", "json-schema",
                       "operation_receipts");
    expect_parse_error("{\"journal_version\": 65536, \"plan_id\": \"p\"}",
                       "json-schema", "journal_version");
    expect_parse_error(HDR "\"operations\": [{\"sequence\": -1}], "
                           "\"operation_receipts\": []}",
                       "json-schema", "operations[0].sequence");
    expect_parse_error(
        HDR "\"operations\": [{\"sequence\": 0, \"operation_id\": \"a\", "
            "\"kind\": \"validate-topology\", \"target_canister_id\": null, "
            "\"state\": \"Ready\", \"state_updated_at\": null, "
            "\"blocking_reasons\": []}], \"operation_receipts\": []}",
        "json-schema", "operations[0].state");
    expect_parse_error(
        HDR "\"operations\": [{\"sequence\": 0, \"operation_id\": \"a\", "
            "\"kind\": \"validate-topology\", \"target_canister_id\": null, "
            "\"state\": \"ready\", \"state_updated_at\": null, "
            "\"blocking_reasons\": [1]}], \"operation_receipts\": []}",
        "json-schema", "operations[0].blocking_reasons[0]");
    expect_parse_error(
        HDR "\"operations\": [{\"sequence\": 0, \"operation_id\": \"a\", "
            "\"kind\": \"validate-topology\", \"target_canister_id\": null, "
            "\"state\": \"ready\", \"state_updated_at\": null}], "
            "\"operation_receipts\": []}",
        "json-schema", "operations[0].blocking_reasons");
    expect_parse_error(
        HDR "\"operations\": [], \"operation_receipts\": [{\"plan_id\": "
            "\"p\", \"run_id\": \"r\", \"preflight_id\": null, \"sequence\": "
            "0, \"operation_id\": \"a\", \"kind\": \"stop\", "
            "\"target_canister_id\": null, \"outcome\": \"ready\"}]}",
        "json-schema", "operation_receipts[0].outcome");
    expect_parse_error(
        HDR "\"operations\": [], \"operation_receipts\": [{\"plan_id\": "
            "\"p\", \"run_id\": \"r\", \"preflight_id\": null, \"sequence\": "
            "0, \"operation_id\": \"a\", \"kind\": \"stop\", "
            "\"target_canister_id\": null, \"outcome\": \"completed\", "
            "\"snapshot_total_size_bytes\": 18446744073709551616}]}",
        "json-schema", "operation_receipts[0].snapshot_total_size_bytes");
    expect_parse_error(HDR "\"preflight_accepted\": true, \"operations\": [], "
                           "\"operation_receipts\": []}",
                       "json-schema", "preflight_accepted");
}

/* An empty journal parses and validates (canic has no non-empty rule). */
static void test_empty_journal(void **s)
{
    sf_exec_journal j;
    const char *text = HDR "\"operations\": [], \"operation_receipts\": []}";

    (void)s;
    OK(sf_exec_journal_parse(text, strlen(text), &j, &e_));
    expect_valid(&j);
    assert_null(sf_exec_journal_next_ready(&j));
    sf_exec_journal_free(&j);
}

static void test_write_refuses_invalid(void **s)
{
    sf_exec_journal j;
    sf_buf b;
    sf_error err;

    (void)s;
    make_journal(&j);
    j.operations[1].sequence = 0;
    sf_buf_init(&b);
    sf_buf_puts(&b, "keep");
    FAILS(sf_exec_journal_write_json(&j, &b, &err), "duplicate-sequence",
          NULL, NULL);
    assert_string_equal(b.data, "keep");
    j.operations[1].sequence = 1;
    j.operations[1].state = (sf_exec_state)9;
    assert_int_equal(sf_exec_journal_write_json(&j, &b, &err), SF_ERR);
    assert_string_equal(b.data, "keep");
    sf_buf_free(&b);
    sf_exec_journal_free(&j);
}

static void test_files(void **s)
{
    char dir[] = "/tmp/sf-execjournal-XXXXXX";
    char path[256];
    sf_exec_journal j, back;
    sf_error err;
    struct stat st;
    char *text, *file;
    size_t len;

    (void)s;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, SF_EXEC_JOURNAL_FILE_NAME);
    make_accepted(&j);
    complete(&j, S_STOP, T2);
    OK(sf_exec_journal_write_file(path, &j, &e_));
    text = to_json(&j);
    file = slurp(path, &len);
    assert_int_equal(len, strlen(text));
    assert_memory_equal(file, text, len);
    free(file);
    free(text);
    OK(sf_exec_journal_read_file(path, &back, &e_));
    assert_true(back.restart_required);
    sf_exec_journal_free(&back);
    unlink(path);

    j.journal_version = 3;
    FAILS(sf_exec_journal_write_file(path, &j, &err), "unsupported-version",
          NULL, NULL);
    assert_int_equal(stat(path, &st), -1);
    FAILS(sf_exec_journal_read_file(path, &back, &err), "io", NULL, NULL);
    assert_null(back.operations);
    rmdir(dir);
    sf_exec_journal_free(&j);
}

/* ---- plan <-> journal binding ---- */

static void test_execution_integrity(void **s)
{
    sf_plan p;
    sf_exec_journal j;
    sf_exec_integrity_report rep;
    sf_error err;
    sf_buf b;

    (void)s;
    make_plan(&p, "plan-001", "run-001");
    OK(sf_exec_journal_from_plan(&p, &j, &e_));
    OK(sf_exec_journal_accept_preflight_at(&j, PF, T1, &e_));
    complete(&j, S_STOP, T2);
    OK(sf_verify_execution_integrity(&p, &j, &rep, &e_));
    assert_true(rep.verified);
    assert_int_equal(rep.plan_operations, 10);
    assert_int_equal(rep.journal_operations, 10);
    sf_buf_init(&b);
    OK(sf_exec_integrity_report_write_json(&rep, &b, &e_));
    assert_string_equal(b.data, "{\n"
                                "  \"plan_id\": \"plan-001\",\n"
                                "  \"run_id\": \"run-001\",\n"
                                "  \"verified\": true,\n"
                                "  \"plan_operations\": 10,\n"
                                "  \"journal_operations\": 10\n"
                                "}");
    sf_buf_free(&b);
    sf_exec_integrity_report_free(&rep);
    OK(sf_verify_execution_integrity(&p, &j, NULL, &e_));

    set_str(&p.plan_id, "plan-002");
    FAILS(sf_verify_execution_integrity(&p, &j, &rep, &err),
          "plan-journal-mismatch", "plan_id",
          "backup plan plan_id does not match execution journal (plan: "
          "plan-002, journal: plan-001)");
    assert_null(rep.plan_id);
    set_str(&p.plan_id, "plan-001");
    sf_exec_journal_free(&j);
    OK(sf_exec_journal_from_plan(&p, &j, &e_));
    set_str(&j.run_id, "run-002");
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-mismatch", "run_id", NULL);
    sf_exec_journal_free(&j);
    sf_plan_free(&p);
}

static void test_execution_integrity_operations(void **s)
{
    sf_plan p;
    sf_exec_journal j;
    sf_error err;
    sf_exec_operation tmp;

    (void)s;
    make_plan(&p, "plan-001", "run-001");
    OK(sf_exec_journal_from_plan(&p, &j, &e_));

    /* operation count */
    j.operation_count = 9;
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-mismatch", "operation_count",
          "backup plan operation_count does not match execution journal "
          "(plan: 10, journal: 9)");
    j.operation_count = 10;

    /* sequence: a valid journal in another array order */
    tmp = j.operations[0];
    j.operations[0] = j.operations[1];
    j.operations[1] = tmp;
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-operation-mismatch", "sequence",
          "backup plan operation 1 sequence does not match execution "
          "journal (plan: 0, journal: 1)");
    tmp = j.operations[0];
    j.operations[0] = j.operations[1];
    j.operations[1] = tmp;

    set_str(&j.operations[6].operation_id, "start-other");
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-operation-mismatch", "operation_id",
          "backup plan operation 6 operation_id does not match execution "
          "journal (plan: start-" APP ", journal: start-other)");
    set_str(&j.operations[6].operation_id, "start-" APP);

    j.operations[6].kind = SF_PHASE_STOP;
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-operation-mismatch", "kind",
          "backup plan operation 6 kind does not match execution journal "
          "(plan: Start, journal: Stop)");
    j.operations[6].kind = SF_PHASE_START;

    set_str(&j.operations[9].target_canister_id, APP);
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "plan-journal-operation-mismatch", "target_canister_id",
          "backup plan operation 9 target_canister_id does not match "
          "execution journal (plan: , journal: " APP ")");
    set_str(&j.operations[9].target_canister_id, NULL);
    OK(sf_verify_execution_integrity(&p, &j, NULL, &e_));

    /* receipts and states are not compared; invalid documents are
     * refused with their own errors */
    p.phases[0].order = 3;
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "operation-order-mismatch", NULL, NULL);
    p.phases[0].order = 0;
    j.journal_version = 2;
    FAILS(sf_verify_execution_integrity(&p, &j, NULL, &err),
          "unsupported-version", NULL, NULL);
    sf_exec_journal_free(&j);
    sf_plan_free(&p);
}

/* ---- sample files ---- */

static void test_sample_files(void **s)
{
    char *dirpath = data_path("execjournals");
    DIR *d = opendir(dirpath);
    struct dirent *e;
    size_t valid = 0, broken = 0;

    (void)s;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char full[1024], kind[64];
        sf_exec_journal j;
        sf_error err;
        size_t len, n;
        const char *end;
        char *text;

        if (strncmp(name, "valid-", 6) != 0 &&
            strncmp(name, "broken-", 7) != 0)
            continue;
        snprintf(full, sizeof full, "%s/%s", dirpath, name);
        sf_error_clear(&err);
        if (name[0] == 'v') {
            if (sf_exec_journal_read_file(full, &j, &err) != SF_OK)
                fail_msg("%s: %s %s", name, err.kind, err.message);
            text = slurp(full, &len);
            if (strstr(name, "lenient") == NULL) {
                sf_buf b;
                sf_buf_init(&b);
                OK(sf_exec_journal_write_json(&j, &b, &e_));
                if (b.len != len || memcmp(b.data, text, len) != 0)
                    fail_msg("%s is not in canonical form", name);
                sf_buf_free(&b);
            }
            round_trip_text(text, len);
            free(text);
            sf_exec_journal_free(&j);
            valid++;
        } else {
            end = strstr(name, "--");
            if (end == NULL)
                end = strstr(name, ".json");
            assert_non_null(end);
            n = (size_t)(end - (name + 7));
            assert_true(n < sizeof kind);
            memcpy(kind, name + 7, n);
            kind[n] = '\0';
            if (sf_exec_journal_read_file(full, &j, &err) == SF_OK)
                fail_msg("%s was accepted", name);
            if (err.kind == NULL || strcmp(err.kind, kind) != 0)
                fail_msg("%s: expected %s, got %s (%s)", name, kind,
                         err.kind ? err.kind : "(none)", err.message);
            assert_null(j.operations);
            broken++;
        }
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= 4);
    assert_true(broken >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_kind_classes_differ_from_plan),
        cmocka_unit_test(test_kind_classes_in_action),
        cmocka_unit_test(test_from_plan),
        cmocka_unit_test(test_from_invalid_plan),
        cmocka_unit_test(
            test_journal_blocks_mutation_until_preflight_is_accepted),
        cmocka_unit_test(
            test_accepting_preflight_unblocks_first_mutating_operation),
        cmocka_unit_test(test_rejects_preflight_receipts_for_different_plan),
        cmocka_unit_test(test_rejects_out_of_order_mutation),
        cmocka_unit_test(test_completed_stop_sets_restart_required),
        cmocka_unit_test(test_snapshot_completion_requires_snapshot_id),
        cmocka_unit_test(test_failed_snapshot_after_stop_is_retryable),
        cmocka_unit_test(test_rejects_different_preflight_after_acceptance),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_missing_header_fields),
        cmocka_unit_test(test_accepted_preflight_missing_id),
        cmocka_unit_test(test_preflight_id_without_acceptance),
        cmocka_unit_test(test_duplicate_sequence),
        cmocka_unit_test(test_missing_sequence),
        cmocka_unit_test(test_permuted_sequences_valid),
        cmocka_unit_test(test_sequence_order),
        cmocka_unit_test(test_operation_fields),
        cmocka_unit_test(test_operation_missing_reason),
        cmocka_unit_test(test_unblocked_operation_has_reasons),
        cmocka_unit_test(test_mutation_ready_before_preflight),
        cmocka_unit_test(test_operation_rule_order),
        cmocka_unit_test(test_receipt_required_fields),
        cmocka_unit_test(test_receipt_optional_nulls),
        cmocka_unit_test(test_receipt_journal_mismatch),
        cmocka_unit_test(test_receipt_operation_not_found),
        cmocka_unit_test(test_receipt_operation_mismatch),
        cmocka_unit_test(test_receipt_preflight_mismatch),
        cmocka_unit_test(test_preflight_receipt_any_preflight_id),
        cmocka_unit_test(test_failed_receipt_needs_reason),
        cmocka_unit_test(test_completed_payload_requirements),
        cmocka_unit_test(test_receipt_without_pending_operation),
        cmocka_unit_test(test_receipt_rule_order),
        cmocka_unit_test(test_stored_receipts_validated),
        cmocka_unit_test(test_receipt_constructors),
        cmocka_unit_test(test_rollback_on_rejected_receipt),
        cmocka_unit_test(test_rollback_skipped_with_reason),
        cmocka_unit_test(test_mark_pending_from_every_state),
        cmocka_unit_test(test_retry_from_every_state),
        cmocka_unit_test(test_receipt_from_every_state),
        cmocka_unit_test(test_accept_from_every_state),
        cmocka_unit_test(test_accept_argument_checks),
        cmocka_unit_test(test_accept_rolls_back),
        cmocka_unit_test(test_mark_pending_errors),
        cmocka_unit_test(test_mark_next_pending),
        cmocka_unit_test(test_mark_pending_rolls_back),
        cmocka_unit_test(test_restart_required_rules),
        cmocka_unit_test(test_full_run),
        cmocka_unit_test(test_index_follows_a_run),
        cmocka_unit_test(test_index_latest_snapshot),
        cmocka_unit_test(test_index_refuses_bad_sequences),
        cmocka_unit_test(test_index_not_shared),
        cmocka_unit_test(test_index_rebuilt_after_direct_change),
        cmocka_unit_test(test_resume_summary_json),
        cmocka_unit_test(test_appendix_fragments),
        cmocka_unit_test(test_round_trip_and_copy),
        cmocka_unit_test(test_receipt_integer_defaults),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_empty_journal),
        cmocka_unit_test(test_write_refuses_invalid),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_mark_pending_beside),
        cmocka_unit_test(test_execution_integrity),
        cmocka_unit_test(test_execution_integrity_operations),
        cmocka_unit_test(test_sample_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
