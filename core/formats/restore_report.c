/*
 * Restore reports: the summary of an apply journal, its next action and
 * stop reason, and their JSON.
 */
#include "base/sequence.h"
#include "snapfleet/restore_journal.h"
#include "formats/restore_journal_internal.h"

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- reports ---- */

void sf_restore_journal_report(const sf_restore_journal *j,
                               sf_restore_report *r)
{
    state_counts sc;
    sf_restore_progress *p = &r->progress;
    size_t i;

    memset(r, 0, sizeof *r);
    r->backup_id = j->backup_id;
    r->ready = j->ready;
    r->complete = sf_restore_journal_is_complete(j);
    r->operation_count = j->operation_count;
    count_ops(j, &r->operation_counts, &sc);
    r->pending_operations = j->pending_operations;
    r->ready_operations = j->ready_operations;
    r->blocked_operations = j->blocked_operations;
    r->completed_operations = j->completed_operations;
    r->failed_operations = j->failed_operations;
    r->blocked_reasons = j->blocked_reasons;
    r->blocked_reason_count = j->blocked_reason_count;
    r->next_transition = sf_restore_journal_next_transition(j);
    for (i = 0; i < j->operations_len; i++) {
        const sf_restore_journal_op *op = &j->operations[i];
        if (op->state == SF_RESTORE_PENDING &&
            (r->pending == NULL || op->sequence < r->pending->sequence))
            r->pending = op;
    }
    if (r->operation_count == 0)
        r->outcome = SF_RESTORE_REPORT_EMPTY;
    else if (r->complete)
        r->outcome = SF_RESTORE_REPORT_COMPLETE;
    else if (r->failed_operations > 0)
        r->outcome = SF_RESTORE_REPORT_FAILED;
    else if (!r->ready || r->blocked_operations > 0)
        r->outcome = SF_RESTORE_REPORT_BLOCKED;
    else if (r->pending_operations > 0)
        r->outcome = SF_RESTORE_REPORT_PENDING;
    else
        r->outcome = SF_RESTORE_REPORT_IN_PROGRESS;
    r->attention_required = r->outcome == SF_RESTORE_REPORT_FAILED ||
                            r->outcome == SF_RESTORE_REPORT_BLOCKED ||
                            r->outcome == SF_RESTORE_REPORT_PENDING;
    p->operation_count = r->operation_count;
    p->completed_operations = r->completed_operations;
    p->remaining_operations =
        r->operation_count > r->completed_operations
            ? r->operation_count - r->completed_operations
            : 0;
    p->transitionable_operations = r->ready_operations + r->pending_operations;
    p->attention_operations =
        r->pending_operations + r->blocked_operations + r->failed_operations;
    /* Unsigned arithmetic wraps like canic's release build; the counters
     * of a validated journal are far too small for it to matter. */
    p->completion_basis_points =
        r->operation_count == 0
            ? 0
            : r->completed_operations * 10000 / r->operation_count;
}

const char *sf_restore_report_next_action(const sf_restore_report *r)
{
    if (r->complete)
        return "done";
    if (r->failed_operations > 0)
        return "inspect-failed-operation";
    if (r->pending_operations > 0)
        return "unclaim-pending";
    if (!r->ready || r->blocked_operations > 0)
        return "fix-blocked-journal";
    return "rerun";
}

const char *sf_restore_report_stopped_reason(const sf_restore_report *r,
                                             bool max_steps_reached,
                                             bool executed)
{
    if (r->complete)
        return "complete";
    if (r->failed_operations > 0)
        return "command-failed";
    if (r->pending_operations > 0)
        return "pending";
    if (!r->ready || r->blocked_operations > 0)
        return "blocked";
    if (max_steps_reached)
        return "max-steps-reached";
    if (executed)
        return "ready";
    return "preview";
}

static bool marker_known(const char *m)
{
    return m != NULL && !sf_str_is_blank(m) && strcmp(m, "unknown") != 0;
}

void sf_restore_report_write_fields(sf_jw *w, const sf_restore_report *r)
{
    const sf_restore_progress *p = &r->progress;
    const sf_restore_journal_op *pend = r->pending, *next = r->next_transition;

    sf_jw_kv_bool(w, "ready", r->ready);
    sf_jw_kv_bool(w, "complete", r->complete);
    sf_jw_kv_bool(w, "attention_required", r->attention_required);
    sf_jw_kv_string(w, "outcome", sf_restore_report_outcome_name(r->outcome));
    sf_jw_kv_u64(w, "operation_count", r->operation_count);
    sf_jw_key(w, "operation_counts");
    sf_restore_op_counts_write(w, &r->operation_counts);
    sf_jw_key(w, "progress");
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "operation_count", p->operation_count);
    sf_jw_kv_u64(w, "completed_operations", p->completed_operations);
    sf_jw_kv_u64(w, "remaining_operations", p->remaining_operations);
    sf_jw_kv_u64(w, "transitionable_operations",
                 p->transitionable_operations);
    sf_jw_kv_u64(w, "attention_operations", p->attention_operations);
    sf_jw_kv_u64(w, "completion_basis_points", p->completion_basis_points);
    sf_jw_end_object(w);
    sf_jw_key(w, "pending_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "pending_operations", r->pending_operations);
    sf_jw_kv_bool(w, "pending_operation_available", pend != NULL);
    sf_jw_key(w, "pending_sequence");
    if (pend != NULL)
        sf_jw_u64(w, pend->sequence);
    else
        sf_jw_null(w);
    sf_jw_kv_string(w, "pending_operation",
                    pend ? sf_restore_op_kind_name(pend->kind) : NULL);
    sf_jw_kv_string(w, "pending_updated_at",
                    pend ? pend->state_updated_at : NULL);
    sf_jw_kv_bool(w, "pending_updated_at_known",
                  pend != NULL && marker_known(pend->state_updated_at));
    sf_jw_end_object(w);
    sf_jw_kv_u64(w, "pending_operations", r->pending_operations);
    sf_jw_kv_u64(w, "ready_operations", r->ready_operations);
    sf_jw_kv_u64(w, "blocked_operations", r->blocked_operations);
    sf_jw_kv_u64(w, "completed_operations", r->completed_operations);
    sf_jw_kv_u64(w, "failed_operations", r->failed_operations);
    sf_jw_kv_strv(w, "blocked_reasons", r->blocked_reasons,
                  r->blocked_reason_count);
    sf_jw_key(w, "next_transition");
    if (next == NULL) {
        sf_jw_null(w);
        return;
    }
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "sequence", next->sequence);
    sf_jw_kv_string(w, "operation", sf_restore_op_kind_name(next->kind));
    sf_jw_kv_string(w, "state", sf_restore_state_name(next->state));
    sf_jw_kv_u64(w, "member_order", next->member_order);
    sf_jw_kv_string(w, "role", next->role);
    sf_jw_kv_string(w, "source_canister", next->source_canister);
    sf_jw_kv_string(w, "target_canister", next->target_canister);
    sf_jw_kv_string(w, "state_updated_at", next->state_updated_at);
    sf_jw_kv_strv(w, "reasons", next->blocking_reasons,
                  next->blocking_reason_count);
    sf_jw_end_object(w);
}

int sf_restore_report_write_json(const sf_restore_report *r, sf_buf *out,
                                 sf_error *err)
{
    size_t start = out->len;
    sf_jw w;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "backup_id", r->backup_id);
    sf_restore_report_write_fields(&w, r);
    sf_jw_end_object(&w);
    return sf_rj_finish(&w, out, start, err);
}
