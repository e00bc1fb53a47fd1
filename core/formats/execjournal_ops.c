/*
 * The backup execution journal's state machine: creation from a plan,
 * operation transitions, receipts, the resume summary and the
 * plan <-> journal binding check. The document itself is execjournal.c.
 */
#include "base/sequence.h"
#include "snapfleet/execjournal.h"
#include "formats/execjournal_internal.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- creation ---- */

int sf_exec_journal_from_plan(const sf_plan *plan, sf_exec_journal *out,
                              sf_error *err)
{
    sf_error perr;
    int oom = 0;
    size_t i;

    memset(out, 0, sizeof *out);
    sf_error_clear(&perr);
    if (sf_plan_validate(plan, &perr) != SF_OK) {
        if (perr.kind != NULL && strcmp(perr.kind, SF_EK_NOMEM) == 0)
            return nomem(err);
        return sf_error_set(err, EK_INVALID_PLAN, perr.field,
                            "invalid backup plan for execution journal: %s",
                            perr.message);
    }
    out->journal_version = SF_EXEC_JOURNAL_VERSION;
    out->plan_id = sf_strdup_opt(plan->plan_id, &oom);
    out->run_id = sf_strdup_opt(plan->run_id, &oom);
    if (oom)
        goto nomem;
    out->operations = calloc(plan->phase_count, sizeof *out->operations);
    if (out->operations == NULL)
        goto nomem;
    out->operation_count = plan->phase_count;
    for (i = 0; i < plan->phase_count; i++) {
        const sf_plan_phase *ph = &plan->phases[i];
        sf_exec_operation *op = &out->operations[i];

        op->sequence = ph->order;
        op->operation_id = sf_strdup_opt(ph->operation_id, &oom);
        op->kind = ph->kind;
        op->target_canister_id = sf_strdup_opt(ph->target_canister_id, &oom);
        op->state = SF_EXEC_READY;
        /* Preflight is not accepted yet: every mutating operation waits. */
        if (sf_exec_kind_is_mutating(ph->kind)) {
            op->state = SF_EXEC_BLOCKED;
            op->blocking_reasons = calloc(1, sizeof *op->blocking_reasons);
            if (op->blocking_reasons == NULL)
                goto nomem;
            op->blocking_reason_count = 1;
            op->blocking_reasons[0] =
                sf_strdup_opt(SF_EXEC_PREFLIGHT_NOT_ACCEPTED, &oom);
        }
        if (oom)
            goto nomem;
    }
    if (sf_exec_journal_validate(out, err) != SF_OK) {
        sf_exec_journal_free(out);
        return SF_ERR;
    }
    return SF_OK;
nomem:
    sf_exec_journal_free(out);
    return nomem(err);
}

/* ---- operations ---- */

sf_exec_operation *sf_exec_journal_find_operation(const sf_exec_journal *j,
                                                  uint64_t sequence)
{
    size_t pos = operation_position(j, sequence, NULL);

    return pos == SIZE_MAX ? NULL : &j->operations[pos];
}

sf_exec_operation *sf_exec_journal_next_ready(const sf_exec_journal *j)
{
    sf_exec_operation *best = NULL;
    size_t i;

    if (live_index(j) != NULL)
        return sf_execj_index_next(j);
    for (i = 0; i < j->operation_count; i++) {
        sf_exec_operation *op = &j->operations[i];
        if (op->state != SF_EXEC_READY && op->state != SF_EXEC_PENDING &&
            op->state != SF_EXEC_FAILED)
            continue;
        if (best == NULL || op->sequence < best->sequence)
            best = op;
    }
    return best;
}

bool sf_exec_journal_compute_restart_required(const sf_exec_journal *j)
{
    const struct sf_exec_index *x = live_index(j);
    bool stopped = false, unstarted = false;
    size_t i;

    if (x != NULL)
        return x->stops_completed > 0 && x->starts_open > 0;
    for (i = 0; i < j->operation_count; i++) {
        const sf_exec_operation *op = &j->operations[i];
        if (op->kind == SF_PHASE_STOP && op->state == SF_EXEC_COMPLETED)
            stopped = true;
        if (op->kind == SF_PHASE_START && op->state != SF_EXEC_COMPLETED &&
            op->state != SF_EXEC_SKIPPED)
            unstarted = true;
    }
    return stopped && unstarted;
}

/* Moves operation `pos` to `state` at `at` with [reason] (or no reasons),
 * recomputes restart_required and validates what the transition touched.
 * All or nothing: on any failure the operation and the flag are as they
 * were.
 *
 * canic validates the whole journal after every transition, which makes
 * each one O(n) and a run O(n^2). A transition changes one operation's
 * state, time and reasons (and restart_required, which nothing checks);
 * the journal's other checks (header, sequences, every other operation,
 * every receipt) read none of these, so on a journal that was valid
 * before (every journal is validated whole when it is read, built,
 * accepted, replayed or written) checking this operation is the same
 * verdict. A new receipt is checked by the caller
 * (sf_exec_receipt_validate_against). */
static int set_operation(sf_exec_journal *j, size_t pos, sf_exec_state state,
                         const char *at, const char *reason, sf_error *err)
{
    sf_exec_operation *op = &j->operations[pos];
    sf_exec_operation saved = *op;
    bool saved_restart = j->restart_required;
    char *new_at = NULL, **new_reasons = NULL;
    int oom = 0;

    new_at = sf_strdup_opt(at, &oom);
    if (!oom && reason != NULL) {
        new_reasons = calloc(1, sizeof *new_reasons);
        if (new_reasons == NULL || (new_reasons[0] = strdup(reason)) == NULL)
            oom = 1;
    }
    if (oom) {
        free(new_at);
        if (new_reasons != NULL)
            free(new_reasons[0]);
        free(new_reasons);
        return nomem(err);
    }
    op->state = state;
    op->state_updated_at = new_at;
    op->blocking_reasons = new_reasons;
    op->blocking_reason_count = reason != NULL ? 1 : 0;
    sf_execj_index_moved(j, pos, saved.state);
    j->restart_required = sf_exec_journal_compute_restart_required(j);
    if (sf_execj_check_operation(j, pos, err) != SF_OK) {
        free(new_at);
        sf_strv_free(new_reasons, op->blocking_reason_count);
        *op = saved;
        sf_execj_index_moved(j, pos, state);
        j->restart_required = saved_restart;
        return SF_ERR;
    }
    free(saved.state_updated_at);
    sf_strv_free(saved.blocking_reasons, saved.blocking_reason_count);
    return SF_OK;
}

int sf_exec_journal_accept_preflight_at(sf_exec_journal *j,
                                        const char *preflight_id,
                                        const char *updated_at,
                                        sf_error *err)
{
    sf_exec_journal work;
    size_t i;
    int oom = 0;

    if (required("preflight_id", "preflight_id", preflight_id, err) != SF_OK ||
        optional("updated_at", "updated_at", updated_at, err) != SF_OK)
        return SF_ERR;
    if (j->preflight_id != NULL && strcmp(j->preflight_id, preflight_id) != 0)
        return sf_error_set(err, EK_ALREADY_ACCEPTED, "preflight_id",
                            "preflight already accepted as %s, cannot "
                            "accept %s",
                            j->preflight_id, preflight_id);
    /* Every operation may change: work on a copy, swap it in on success. */
    if (sf_exec_journal_copy(&work, j, err) != SF_OK)
        return SF_ERR;
    free(work.preflight_id);
    work.preflight_id = sf_strdup_opt(preflight_id, &oom);
    work.preflight_accepted = true;
    for (i = 0; i < work.operation_count && !oom; i++) {
        sf_exec_operation *op = &work.operations[i];

        if (sf_exec_kind_is_preflight(op->kind)) {
            op->state = SF_EXEC_COMPLETED;
            free(op->state_updated_at);
            op->state_updated_at = sf_strdup_opt(updated_at, &oom);
        } else if (op->state == SF_EXEC_BLOCKED) {
            op->state = SF_EXEC_READY;
        } else {
            continue;
        }
        sf_strv_free(op->blocking_reasons, op->blocking_reason_count);
        op->blocking_reasons = NULL;
        op->blocking_reason_count = 0;
    }
    if (oom) {
        sf_exec_journal_free(&work);
        return nomem(err);
    }
    work.restart_required = sf_exec_journal_compute_restart_required(&work);
    if (sf_exec_journal_validate(&work, err) != SF_OK ||
        /* every operation moved: a journal with an index gets a new one */
        (j->index != NULL && sf_exec_journal_index(&work, err) != SF_OK)) {
        sf_exec_journal_free(&work);
        return SF_ERR;
    }
    sf_exec_journal_free(j);
    *j = work;
    return SF_OK;
}

int sf_exec_journal_accept_preflight_receipts_at(sf_exec_journal *j,
                                                 const char *bundle_plan_id,
                                                 const char *preflight_id,
                                                 const char *updated_at,
                                                 sf_error *err)
{
    if (required("preflight_receipts.plan_id", "preflight_receipts.plan_id",
                 bundle_plan_id, err) != SF_OK)
        return SF_ERR;
    if (!str_eq(bundle_plan_id, j->plan_id))
        return sf_error_set(err, EK_PREFLIGHT_PLAN_MISMATCH,
                            "preflight_receipts.plan_id",
                            "preflight receipt plan id %s does not match "
                            "execution journal plan %s",
                            bundle_plan_id, j->plan_id ? j->plan_id : "");
    return sf_exec_journal_accept_preflight_at(j, preflight_id, updated_at,
                                               err);
}

int sf_exec_journal_mark_pending_at(sf_exec_journal *j, uint64_t sequence,
                                    const char *updated_at, sf_error *err)
{
    const sf_exec_operation *next, *op;
    char field[SF_ERROR_FIELD_MAX];
    size_t pos;

    if (optional("updated_at", "updated_at", updated_at, err) != SF_OK)
        return SF_ERR;
    next = sf_exec_journal_next_ready(j);
    if (next == NULL)
        return sf_error_set(err, EK_NO_TRANSITIONABLE, "",
                            "no operation can be advanced");
    if (sequence != next->sequence)
        return sf_error_set(err, EK_OUT_OF_ORDER, "sequence",
                            "operation %llu cannot advance before operation "
                            "%llu",
                            ULL(sequence), ULL(next->sequence));
    pos = operation_position(j, sequence, NULL);
    if (pos == SIZE_MAX)
        return sf_error_set(err, EK_OPERATION_NOT_FOUND, "sequence",
                            "operation %llu was not found", ULL(sequence));
    op = &j->operations[pos];
    if (sf_exec_kind_is_mutating(op->kind) && !j->preflight_accepted)
        return sf_error_set(err, EK_MUTATION_BEFORE_ACCEPTED,
                            "preflight_accepted",
                            "mutating operation %llu cannot run before "
                            "preflight acceptance",
                            ULL(sequence));
    if (op->state != SF_EXEC_READY && op->state != SF_EXEC_FAILED) {
        const char *from = sf_exec_state_debug_name(op->state);
        snprintf(field, sizeof field, "operations[%zu].state", pos);
        return sf_error_set(err, EK_INVALID_TRANSITION, field,
                            "operation %llu cannot transition from %s to "
                            "Pending",
                            ULL(sequence), from ? from : "?");
    }
    return set_operation(j, pos, SF_EXEC_PENDING, updated_at, NULL, err);
}

static bool op_done(const sf_exec_operation *op)
{
    return op->state == SF_EXEC_COMPLETED || op->state == SF_EXEC_SKIPPED;
}

int sf_exec_journal_mark_pending_beside_at(sf_exec_journal *j,
                                           uint64_t sequence,
                                           const char *updated_at,
                                           sf_error *err)
{
    const sf_exec_operation *op, *next;
    char field[SF_ERROR_FIELD_MAX];
    size_t pos, i, from = 0, to;

    if (optional("updated_at", "updated_at", updated_at, err) != SF_OK)
        return SF_ERR;
    pos = operation_position(j, sequence, NULL);
    if (pos == SIZE_MAX)
        return sf_error_set(err, EK_OPERATION_NOT_FOUND, "sequence",
                            "operation %llu was not found", ULL(sequence));
    op = &j->operations[pos];
    to = j->operation_count;
    if (sf_exec_kind_is_mutating(op->kind) && !j->preflight_accepted)
        return sf_error_set(err, EK_MUTATION_BEFORE_ACCEPTED,
                            "preflight_accepted",
                            "mutating operation %llu cannot run before "
                            "preflight acceptance",
                            ULL(sequence));
    if (op->state != SF_EXEC_READY && op->state != SF_EXEC_FAILED) {
        const char *name = sf_exec_state_debug_name(op->state);
        snprintf(field, sizeof field, "operations[%zu].state", pos);
        return sf_error_set(err, EK_INVALID_TRANSITION, field,
                            "operation %llu cannot transition from %s to "
                            "Pending",
                            ULL(sequence), name ? name : "?");
    }
    /* with the index, positions are sequences and nothing below the next
     * operation is open: only that stretch is looked at */
    if (live_index(j) != NULL) {
        next = sf_exec_journal_next_ready(j); /* op itself is open */
        from = (size_t)next->sequence;
        to = pos;
    }
    for (i = from; i < to; i++) {
        const sf_exec_operation *o = &j->operations[i];

        if (o->sequence >= sequence || op_done(o))
            continue;
        if (op->target_canister_id == NULL ||
            str_eq(o->target_canister_id, op->target_canister_id))
            return sf_error_set(err, EK_OUT_OF_ORDER, "sequence",
                                "operation %llu cannot advance before "
                                "operation %llu%s",
                                ULL(sequence), ULL(o->sequence),
                                op->target_canister_id != NULL
                                    ? " of the same canister" : "");
    }
    return set_operation(j, pos, SF_EXEC_PENDING, updated_at, NULL, err);
}

int sf_exec_journal_mark_next_pending_at(sf_exec_journal *j,
                                         const char *updated_at,
                                         sf_error *err)
{
    const sf_exec_operation *next = sf_exec_journal_next_ready(j);

    if (next == NULL)
        return sf_error_set(err, EK_NO_TRANSITIONABLE, "",
                            "no operation can be advanced");
    return sf_exec_journal_mark_pending_at(j, next->sequence, updated_at, err);
}

int sf_exec_journal_record_receipt(sf_exec_journal *j,
                                   const sf_exec_receipt *receipt,
                                   sf_error *err)
{
    static const sf_exec_state by_outcome[] = {
        SF_EXEC_COMPLETED, SF_EXEC_FAILED, SF_EXEC_SKIPPED};
    sf_exec_receipt copy, *grown;
    char field[SF_ERROR_FIELD_MAX];
    size_t pos;

    if (sf_exec_receipt_validate_against(receipt, j, err) != SF_OK)
        return SF_ERR;
    if ((unsigned)receipt->outcome >= COUNT(by_outcome))
        return sf_error_set(err, SF_EK_USAGE, "", "receipt outcome out of "
                                                  "range");
    pos = operation_position(j, receipt->sequence, NULL);
    if (j->operations[pos].state != SF_EXEC_PENDING) {
        snprintf(field, sizeof field, "operation_receipts[%zu].sequence",
                 j->receipt_count);
        return sf_error_set(err, EK_RECEIPT_NOT_PENDING, field,
                            "operation receipt %llu has no pending operation",
                            ULL(receipt->sequence));
    }
    if (j->receipt_count >= SIZE_MAX / sizeof *grown - 1 ||
        sf_exec_receipt_copy(&copy, receipt, err) != SF_OK)
        return nomem(err);
    grown = realloc(j->operation_receipts,
                    (j->receipt_count + 1) * sizeof *grown);
    if (grown == NULL) {
        sf_exec_receipt_free(&copy);
        return nomem(err);
    }
    j->operation_receipts = grown;
    j->operation_receipts[j->receipt_count++] = copy;
    /* The final validation can still refuse the receipt (a completed one
     * carrying a failure_reason is unblocked-operation-has-reasons).
     * set_operation then restores the operation and restart_required and
     * we drop the receipt, so the journal in memory is what it was; canic
     * 0.35.10 dropped only the receipt and kept the operation's new state
     * in memory. */
    if (set_operation(j, pos, by_outcome[receipt->outcome],
                      receipt->updated_at, receipt->failure_reason,
                      err) != SF_OK) {
        sf_exec_receipt_free(&j->operation_receipts[--j->receipt_count]);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_exec_journal_retry_failed_at(sf_exec_journal *j, uint64_t sequence,
                                    const char *updated_at, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];
    size_t pos;

    if (optional("updated_at", "updated_at", updated_at, err) != SF_OK)
        return SF_ERR;
    pos = operation_position(j, sequence, NULL);
    if (pos == SIZE_MAX)
        return sf_error_set(err, EK_OPERATION_NOT_FOUND, "sequence",
                            "operation %llu was not found", ULL(sequence));
    if (j->operations[pos].state != SF_EXEC_FAILED) {
        snprintf(field, sizeof field, "operations[%zu].state", pos);
        return sf_error_set(err, EK_NOT_FAILED, field,
                            "operation %llu is not failed", ULL(sequence));
    }
    return set_operation(j, pos, SF_EXEC_READY, updated_at, NULL, err);
}

/* ---- receipts ---- */

static int receipt_from_operation(const sf_exec_journal *j,
                                  const sf_exec_operation *op,
                                  sf_exec_outcome outcome,
                                  const char *updated_at, const char *reason,
                                  sf_exec_receipt *out, sf_error *err)
{
    int oom = 0;

    memset(out, 0, sizeof *out);
    out->plan_id = sf_strdup_opt(j->plan_id, &oom);
    out->run_id = sf_strdup_opt(j->run_id, &oom);
    out->preflight_id = sf_strdup_opt(j->preflight_id, &oom);
    out->sequence = op->sequence;
    out->operation_id = sf_strdup_opt(op->operation_id, &oom);
    out->kind = op->kind;
    out->target_canister_id = sf_strdup_opt(op->target_canister_id, &oom);
    out->outcome = outcome;
    out->updated_at = sf_strdup_opt(updated_at, &oom);
    out->failure_reason = sf_strdup_opt(reason, &oom);
    if (oom) {
        sf_exec_receipt_free(out);
        return nomem(err);
    }
    return SF_OK;
}

int sf_exec_receipt_completed(const sf_exec_journal *j,
                              const sf_exec_operation *op,
                              const char *updated_at, sf_exec_receipt *out,
                              sf_error *err)
{
    return receipt_from_operation(j, op, SF_EXEC_OUTCOME_COMPLETED,
                                  updated_at, NULL, out, err);
}

int sf_exec_receipt_failed(const sf_exec_journal *j,
                           const sf_exec_operation *op,
                           const char *updated_at, const char *failure_reason,
                           sf_exec_receipt *out, sf_error *err)
{
    return receipt_from_operation(j, op, SF_EXEC_OUTCOME_FAILED, updated_at,
                                  failure_reason != NULL ? failure_reason : "",
                                  out, err);
}

/* ---- resume summary ---- */

void sf_exec_journal_resume_summary(const sf_exec_journal *j,
                                    sf_exec_resume_summary *s)
{
    const struct sf_exec_index *x;
    size_t i;

    memset(s, 0, sizeof *s);
    s->plan_id = j->plan_id;
    s->run_id = j->run_id;
    s->preflight_id = j->preflight_id;
    s->preflight_accepted = j->preflight_accepted;
    s->restart_required = j->restart_required;
    s->total_operations = j->operation_count;
    s->next_operation = sf_exec_journal_next_ready(j);
    if ((x = live_index(j)) != NULL) {
        s->ready_operations = x->states[SF_EXEC_READY];
        s->pending_operations = x->states[SF_EXEC_PENDING];
        s->blocked_operations = x->states[SF_EXEC_BLOCKED];
        s->completed_operations = x->states[SF_EXEC_COMPLETED];
        s->failed_operations = x->states[SF_EXEC_FAILED];
        s->skipped_operations = x->states[SF_EXEC_SKIPPED];
        return;
    }
    for (i = 0; i < j->operation_count; i++) {
        switch (j->operations[i].state) {
        case SF_EXEC_READY:
            s->ready_operations++;
            break;
        case SF_EXEC_PENDING:
            s->pending_operations++;
            break;
        case SF_EXEC_BLOCKED:
            s->blocked_operations++;
            break;
        case SF_EXEC_COMPLETED:
            s->completed_operations++;
            break;
        case SF_EXEC_FAILED:
            s->failed_operations++;
            break;
        case SF_EXEC_SKIPPED:
            s->skipped_operations++;
            break;
        }
    }
}

bool sf_exec_resume_summary_is_complete(const sf_exec_resume_summary *s)
{
    return s->completed_operations + s->skipped_operations ==
           s->total_operations;
}

int sf_exec_journal_resume_summary_json(const sf_exec_journal *j,
                                        sf_buf *out, sf_error *err)
{
    sf_exec_resume_summary s;
    sf_buf tmp;
    sf_jw w;

    sf_exec_journal_resume_summary(j, &s);
    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "plan_id", s.plan_id);
    sf_jw_kv_string(&w, "run_id", s.run_id);
    sf_jw_kv_string(&w, "preflight_id", s.preflight_id);
    sf_jw_kv_bool(&w, "preflight_accepted", s.preflight_accepted);
    sf_jw_kv_bool(&w, "restart_required", s.restart_required);
    sf_jw_kv_u64(&w, "total_operations", s.total_operations);
    sf_jw_kv_u64(&w, "ready_operations", s.ready_operations);
    sf_jw_kv_u64(&w, "pending_operations", s.pending_operations);
    sf_jw_kv_u64(&w, "blocked_operations", s.blocked_operations);
    sf_jw_kv_u64(&w, "completed_operations", s.completed_operations);
    sf_jw_kv_u64(&w, "failed_operations", s.failed_operations);
    sf_jw_kv_u64(&w, "skipped_operations", s.skipped_operations);
    sf_jw_key(&w, "next_operation");
    if (s.next_operation != NULL)
        sf_execj_write_operation(&w, s.next_operation);
    else
        sf_jw_null(&w);
    sf_jw_end_object(&w);
    return sf_execj_finish_into(&w, &tmp, out, err);
}

/* ---- plan <-> journal binding ---- */

static int journal_mismatch(const char *field, const char *plan,
                            const char *journal, sf_error *err)
{
    return sf_error_set(err, EK_PLAN_JOURNAL_MISMATCH, field,
                        "backup plan %s does not match execution journal "
                        "(plan: %s, journal: %s)",
                        field, plan ? plan : "", journal ? journal : "");
}

static int operation_mismatch(uint64_t sequence, const char *field,
                              const char *plan, const char *journal,
                              sf_error *err)
{
    return sf_error_set(err, EK_PLAN_JOURNAL_OP_MISMATCH, field,
                        "backup plan operation %llu %s does not match "
                        "execution journal (plan: %s, journal: %s)",
                        ULL(sequence), field, plan ? plan : "",
                        journal ? journal : "");
}

int sf_verify_execution_integrity(const sf_plan *plan,
                                  const sf_exec_journal *journal,
                                  sf_exec_integrity_report *report,
                                  sf_error *err)
{
    char a[32], b[32];
    size_t i;
    int oom = 0;

    if (report != NULL)
        memset(report, 0, sizeof *report);
    if (sf_plan_validate(plan, err) != SF_OK ||
        sf_exec_journal_validate(journal, err) != SF_OK)
        return SF_ERR;
    if (strcmp(plan->plan_id, journal->plan_id) != 0)
        return journal_mismatch("plan_id", plan->plan_id, journal->plan_id,
                                err);
    if (strcmp(plan->run_id, journal->run_id) != 0)
        return journal_mismatch("run_id", plan->run_id, journal->run_id, err);
    if (plan->phase_count != journal->operation_count) {
        snprintf(a, sizeof a, "%zu", plan->phase_count);
        snprintf(b, sizeof b, "%zu", journal->operation_count);
        return journal_mismatch("operation_count", a, b, err);
    }
    for (i = 0; i < plan->phase_count; i++) {
        const sf_plan_phase *ph = &plan->phases[i];
        const sf_exec_operation *op = &journal->operations[i];

        if (ph->order != op->sequence) {
            snprintf(a, sizeof a, "%llu", ULL(ph->order));
            snprintf(b, sizeof b, "%llu", ULL(op->sequence));
            return operation_mismatch(op->sequence, "sequence", a, b, err);
        }
        if (strcmp(ph->operation_id, op->operation_id) != 0)
            return operation_mismatch(op->sequence, "operation_id",
                                      ph->operation_id, op->operation_id,
                                      err);
        if (ph->kind != op->kind)
            return operation_mismatch(op->sequence, "kind",
                                      sf_phase_kind_pascal_name(ph->kind),
                                      sf_phase_kind_pascal_name(op->kind),
                                      err);
        if (!sf_str_eq_opt(ph->target_canister_id, op->target_canister_id))
            return operation_mismatch(op->sequence, "target_canister_id",
                                      ph->target_canister_id,
                                      op->target_canister_id, err);
    }
    if (report != NULL) {
        report->plan_id = sf_strdup_opt(plan->plan_id, &oom);
        report->run_id = sf_strdup_opt(plan->run_id, &oom);
        report->verified = true;
        report->plan_operations = plan->phase_count;
        report->journal_operations = journal->operation_count;
        if (oom) {
            sf_exec_integrity_report_free(report);
            return nomem(err);
        }
    }
    return SF_OK;
}

int sf_exec_integrity_report_write_json(const sf_exec_integrity_report *r,
                                        sf_buf *out, sf_error *err)
{
    sf_buf tmp;
    sf_jw w;

    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "plan_id", r->plan_id);
    sf_jw_kv_string(&w, "run_id", r->run_id);
    sf_jw_kv_bool(&w, "verified", r->verified);
    sf_jw_kv_u64(&w, "plan_operations", r->plan_operations);
    sf_jw_kv_u64(&w, "journal_operations", r->journal_operations);
    sf_jw_end_object(&w);
    return sf_execj_finish_into(&w, &tmp, out, err);
}

void sf_exec_integrity_report_free(sf_exec_integrity_report *r)
{
    if (r == NULL)
        return;
    free(r->plan_id);
    free(r->run_id);
    memset(r, 0, sizeof *r);
}
