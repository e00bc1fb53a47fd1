/*
 * The restore apply journal's state machine: creation from a dry-run,
 * operation transitions, receipts and what the next command is.
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

/* ---- creation from a dry-run ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The dry-run's readiness reasons plus the artifact validation's, sorted
 * in byte order and de-duplicated (canic's Vec::sort + dedup). */
static int blocked_reasons(const sf_restore_dry_run *d, sf_restore_journal *j)
{
    const sf_restore_artifact_validation *v = d->artifact_validation;
    size_t n = 0, i, k;
    char **r;

    r = calloc(d->readiness_reason_count + 2, sizeof *r);
    if (r == NULL)
        return SF_ERR;
    j->blocked_reasons = r;
    for (i = 0; i < d->readiness_reason_count; i++)
        r[n++] = d->readiness_reasons[i];
    if (v == NULL) {
        r[n++] = SF_RESTORE_REASON_NO_ARTIFACT_VALIDATION;
    } else {
        if (!v->artifacts_present)
            r[n++] = SF_RESTORE_REASON_MISSING_ARTIFACTS;
        if (!v->checksums_verified)
            r[n++] = SF_RESTORE_REASON_CHECKSUMS_INCOMPLETE;
    }
    qsort(r, n, sizeof *r, cmp_str);
    for (i = 0, k = 0; i < n; i++)
        if (k == 0 || strcmp(r[k - 1], r[i]) != 0)
            r[k++] = r[i];
    /* Borrowed so far: now own them. */
    for (i = 0; i < k; i++) {
        r[i] = strdup(r[i]);
        if (r[i] == NULL) {
            j->blocked_reason_count = i;
            return SF_ERR;
        }
    }
    j->blocked_reason_count = k;
    if (k == 0) {
        free(r);
        j->blocked_reasons = NULL;
    }
    return SF_OK;
}

static void recount(sf_restore_journal *j)
{
    state_counts sc;

    count_ops(j, &j->operation_counts, &sc);
    j->operation_count = j->operations_len;
    j->pending_operations = sc.n[SF_RESTORE_PENDING];
    j->ready_operations = sc.n[SF_RESTORE_READY];
    j->blocked_operations = sc.n[SF_RESTORE_BLOCKED];
    j->completed_operations = sc.n[SF_RESTORE_COMPLETED];
    j->failed_operations = sc.n[SF_RESTORE_FAILED];
}

int sf_restore_journal_from_dry_run(const sf_restore_dry_run *d,
                                    sf_restore_journal *out, sf_error *err)
{
    copier c = {0};
    size_t i;

    memset(out, 0, sizeof *out);
    out->journal_version = SF_RESTORE_JOURNAL_VERSION;
    out->backup_id = dup(&c, d->backup_id);
    if (c.oom || blocked_reasons(d, out) != SF_OK)
        goto nomem;
    out->ready = out->blocked_reason_count == 0;
    if (d->artifact_validation != NULL)
        out->backup_root = dup(&c, d->artifact_validation->backup_root);
    if (d->operations_len > 0) {
        out->operations = calloc(d->operations_len, sizeof *out->operations);
        if (out->operations == NULL)
            goto nomem;
        out->operations_len = d->operations_len;
    }
    for (i = 0; i < d->operations_len; i++) {
        const sf_restore_operation *src = &d->operations[i];
        sf_restore_journal_op *op = &out->operations[i];

        op->sequence = src->sequence;
        op->kind = src->kind;
        op->state = out->ready ? SF_RESTORE_READY : SF_RESTORE_BLOCKED;
        if (!out->ready)
            op->blocking_reasons =
                dup_strv(&c, out->blocked_reasons, out->blocked_reason_count,
                         &op->blocking_reason_count);
        op->member_order = src->member_order;
        op->source_canister = dup(&c, src->source_canister);
        op->target_canister = dup(&c, src->target_canister);
        op->role = dup(&c, src->role);
        op->snapshot_id = dup(&c, src->snapshot_id);
        op->artifact_path = dup(&c, src->artifact_path);
        op->verification_kind = dup(&c, src->verification_kind);
    }
    if (c.oom)
        goto nomem;
    recount(out);
    if (sf_restore_journal_validate(out, err) != SF_OK) {
        sf_restore_journal_free(out);
        return SF_ERR;
    }
    return SF_OK;
nomem:
    sf_restore_journal_free(out);
    return nomem(err);
}

/* ---- operations and transitions ---- */

sf_restore_journal_op *sf_restore_journal_find(const sf_restore_journal *j,
                                               uint64_t sequence)
{
    size_t pos = op_position(j, sequence, NULL);

    return pos == SIZE_MAX ? NULL : &j->operations[pos];
}

sf_restore_journal_op *
sf_restore_journal_next_transition(const sf_restore_journal *j)
{
    sf_restore_journal_op *best = NULL;
    size_t i;

    for (i = 0; i < j->operations_len; i++) {
        sf_restore_journal_op *op = &j->operations[i];
        if (op->state != SF_RESTORE_READY && op->state != SF_RESTORE_PENDING &&
            op->state != SF_RESTORE_FAILED)
            continue;
        if (best == NULL || op->sequence < best->sequence)
            best = op;
    }
    return best;
}

bool sf_restore_journal_is_complete(const sf_restore_journal *j)
{
    return j->operation_count > 0 &&
           j->completed_operations == j->operation_count;
}

/* canic's can_transition_to (spec 3.5). */
static bool can_transition(sf_restore_state from, sf_restore_state to)
{
    switch (to) {
    case SF_RESTORE_PENDING:
        return from == SF_RESTORE_READY || from == SF_RESTORE_PENDING;
    case SF_RESTORE_READY:
        return from == SF_RESTORE_PENDING || from == SF_RESTORE_FAILED;
    case SF_RESTORE_COMPLETED:
        return from == SF_RESTORE_READY || from == SF_RESTORE_PENDING ||
               from == SF_RESTORE_COMPLETED;
    case SF_RESTORE_FAILED:
        return from == SF_RESTORE_READY || from == SF_RESTORE_PENDING ||
               from == SF_RESTORE_FAILED;
    default:
        return false;
    }
}

/* The counters a transition recomputes, saved for the rollback. */
typedef struct counters {
    uint64_t operation_count;
    sf_restore_op_counts operation_counts;
    uint64_t n[5];
} counters;

static void counters_save(const sf_restore_journal *j, counters *c)
{
    c->operation_count = j->operation_count;
    c->operation_counts = j->operation_counts;
    c->n[0] = j->pending_operations;
    c->n[1] = j->ready_operations;
    c->n[2] = j->blocked_operations;
    c->n[3] = j->completed_operations;
    c->n[4] = j->failed_operations;
}

static void counters_restore(sf_restore_journal *j, const counters *c)
{
    j->operation_count = c->operation_count;
    j->operation_counts = c->operation_counts;
    j->pending_operations = c->n[0];
    j->ready_operations = c->n[1];
    j->blocked_operations = c->n[2];
    j->completed_operations = c->n[3];
    j->failed_operations = c->n[4];
}

/* beside (snapfleet's moves with several operations in flight): an
 * operation leaving ready needs every earlier operation of its target
 * completed, in place of canic's "only the next operation moves". */
static int out_of_order_beside(const sf_restore_journal *j,
                               const sf_restore_journal_op *op, sf_error *err)
{
    const sf_restore_journal_op *first = NULL;
    size_t i;

    for (i = 0; i < j->operations_len; i++) {
        const sf_restore_journal_op *o = &j->operations[i];

        if (o->sequence < op->sequence && o->state != SF_RESTORE_COMPLETED &&
            str_eq(o->target_canister, op->target_canister) &&
            (first == NULL || o->sequence < first->sequence))
            first = o;
    }
    if (first == NULL)
        return SF_OK;
    return sf_error_set(err, EK_OUT_OF_ORDER, "sequence",
                        "restore apply journal operation %llu cannot advance "
                        "before operation %llu of the same canister",
                        ULL(op->sequence), ULL(first->sequence));
}

/* The counter of operations in state s (s is in range). */
static uint64_t *state_counter(sf_restore_journal *j, sf_restore_state s)
{
    switch (s) {
    case SF_RESTORE_PENDING:
        return &j->pending_operations;
    case SF_RESTORE_READY:
        return &j->ready_operations;
    case SF_RESTORE_BLOCKED:
        return &j->blocked_operations;
    case SF_RESTORE_COMPLETED:
        return &j->completed_operations;
    default:
        return &j->failed_operations;
    }
}

/* canic's transition_operation (spec 3.5 steps 1-6), all or nothing;
 * beside: the order rule of out_of_order_beside instead of canic's.
 *
 * canic validates the whole journal after every transition, which makes
 * each one O(n) and a restore O(n^2). A transition changes one
 * operation's state, state_updated_at and blocking_reasons, and the two
 * state counters of its old and new state. Of sf_restore_journal_validate's
 * checks, the header (version, backup_id, backup_root), operation_count
 * and operation_counts, the sequences, every other operation and every
 * receipt (which compares kind and canisters only) read none of these.
 * The state counters are moved by one each, so on counters that matched
 * they still match. The ready rule reads blocked_operations, which no
 * transition changes (none leads to or from blocked). What is left is
 * this operation's own check (a blank state_updated_at; the reasons its
 * state needs), so on a journal valid before (every journal is validated
 * whole when it is read, built, replayed and at each checkpoint write)
 * checking it gives the whole validation's verdict. */
static int transition(sf_restore_journal *j, uint64_t sequence,
                      sf_restore_state to, const char *reason,
                      const char *updated_at, bool beside, sf_error *err)
{
    sf_restore_journal_op *op, saved;
    const sf_restore_journal_op *next;
    char field[SF_ERROR_FIELD_MAX], *new_at = NULL, **new_reasons = NULL;
    size_t pos = op_position(j, sequence, NULL);
    counters before;
    int oom = 0;

    if (pos == SIZE_MAX)
        return sf_error_set(err, EK_OPERATION_NOT_FOUND, "sequence",
                            "restore apply journal operation %llu was not "
                            "found",
                            ULL(sequence));
    op = &j->operations[pos];
    if (!can_transition(op->state, to)) {
        const char *from = sf_restore_state_debug_name(op->state);
        snprintf(field, sizeof field, "operations[%zu].state", pos);
        return sf_error_set(err, EK_INVALID_TRANSITION, field,
                            "restore apply journal operation %llu cannot "
                            "transition from %s to %s",
                            ULL(sequence), from ? from : "?",
                            sf_restore_state_debug_name(to));
    }
    if (beside) {
        if (op->state == SF_RESTORE_READY && to != SF_RESTORE_READY &&
            out_of_order_beside(j, op, err) != SF_OK)
            return SF_ERR;
    } else if (to != op->state) {
        next = sf_restore_journal_next_transition(j);
        if (next == NULL)
            return sf_error_set(err, EK_NO_TRANSITIONABLE, "",
                                "restore apply journal has no operation "
                                "that can be advanced");
        if (next->sequence != sequence)
            return sf_error_set(err, EK_OUT_OF_ORDER, "sequence",
                                "restore apply journal operation %llu "
                                "cannot advance before operation %llu",
                                ULL(sequence), ULL(next->sequence));
    }
    new_at = sf_strdup_opt(updated_at, &oom);
    if (!oom && to == SF_RESTORE_FAILED) {
        new_reasons = calloc(1, sizeof *new_reasons);
        if (new_reasons == NULL ||
            (new_reasons[0] = strdup(reason != NULL ? reason : "")) == NULL)
            oom = 1;
    }
    if (oom) {
        free(new_at);
        if (new_reasons != NULL)
            free(new_reasons[0]);
        free(new_reasons);
        return nomem(err);
    }
    saved = *op;
    counters_save(j, &before);
    --*state_counter(j, op->state);
    ++*state_counter(j, to);
    op->state = to;
    op->state_updated_at = new_at;
    op->blocking_reasons = new_reasons;
    op->blocking_reason_count = new_reasons != NULL ? 1 : 0;
    /* canic 0.35.10 kept the new state in memory when this validation
     * failed; we put everything back. */
    if (sf_rj_check_operation(j, pos, err) != SF_OK) {
        free(new_at);
        sf_strv_free(new_reasons, op->blocking_reason_count);
        *op = saved;
        counters_restore(j, &before);
        return SF_ERR;
    }
    free(saved.state_updated_at);
    sf_strv_free(saved.blocking_reasons, saved.blocking_reason_count);
    return SF_OK;
}

int sf_restore_journal_mark_pending(sf_restore_journal *j, uint64_t sequence,
                                    const char *updated_at, sf_error *err)
{
    return transition(j, sequence, SF_RESTORE_PENDING, NULL, updated_at,
                      false, err);
}

int sf_restore_journal_mark_next_pending(sf_restore_journal *j,
                                         const char *updated_at,
                                         sf_error *err)
{
    const sf_restore_journal_op *next = sf_restore_journal_next_transition(j);

    if (next == NULL)
        return sf_error_set(err, EK_NO_TRANSITIONABLE, "",
                            "restore apply journal has no operation that "
                            "can be advanced");
    return transition(j, next->sequence, SF_RESTORE_PENDING, NULL,
                      updated_at, false, err);
}

int sf_restore_journal_mark_next_ready(sf_restore_journal *j,
                                       const char *updated_at, sf_error *err)
{
    const sf_restore_journal_op *next = sf_restore_journal_next_transition(j);

    if (next == NULL)
        return sf_error_set(err, EK_NO_TRANSITIONABLE, "",
                            "restore apply journal has no operation that "
                            "can be advanced");
    if (next->state != SF_RESTORE_PENDING)
        return sf_error_set(err, EK_NO_PENDING, "",
                            "restore apply journal has no pending operation "
                            "to release");
    return transition(j, next->sequence, SF_RESTORE_READY, NULL, updated_at,
                      false, err);
}

int sf_restore_journal_mark_ready(sf_restore_journal *j, uint64_t sequence,
                                  const char *updated_at, sf_error *err)
{
    return transition(j, sequence, SF_RESTORE_READY, NULL, updated_at,
                      false, err);
}

int sf_restore_journal_retry_failed(sf_restore_journal *j, uint64_t sequence,
                                    const char *updated_at, sf_error *err)
{
    return transition(j, sequence, SF_RESTORE_READY, NULL, updated_at,
                      false, err);
}

int sf_restore_journal_mark_completed(sf_restore_journal *j,
                                      uint64_t sequence,
                                      const char *updated_at, sf_error *err)
{
    return transition(j, sequence, SF_RESTORE_COMPLETED, NULL, updated_at,
                      false, err);
}

int sf_restore_journal_mark_failed(sf_restore_journal *j, uint64_t sequence,
                                   const char *reason, const char *updated_at,
                                   sf_error *err)
{
    if (sf_str_is_blank(reason))
        return sf_error_set(err, EK_FAILURE_REASON, "reason",
                            "failed restore apply journal operation %llu "
                            "requires a reason",
                            ULL(sequence));
    return transition(j, sequence, SF_RESTORE_FAILED, reason, updated_at,
                      false, err);
}

int sf_restore_journal_move_beside(sf_restore_journal *j, uint64_t sequence,
                                   sf_restore_state to, const char *reason,
                                   const char *updated_at, sf_error *err)
{
    if (to == SF_RESTORE_FAILED && sf_str_is_blank(reason))
        return sf_error_set(err, EK_FAILURE_REASON, "reason",
                            "failed restore apply journal operation %llu "
                            "requires a reason",
                            ULL(sequence));
    return transition(j, sequence, to, to == SF_RESTORE_FAILED ? reason : NULL,
                      updated_at, true, err);
}

/* ---- receipts ---- */

int sf_restore_journal_record_receipt(sf_restore_journal *j,
                                      const sf_restore_receipt *r,
                                      sf_error *err)
{
    sf_restore_receipt copy, *grown;

    if (j->receipt_count >= SIZE_MAX / sizeof *grown - 1)
        return nomem(err);
    if (sf_restore_receipt_copy(&copy, r, err) != SF_OK)
        return SF_ERR;
    grown = realloc(j->receipts, (j->receipt_count + 1) * sizeof *grown);
    if (grown == NULL) {
        sf_restore_receipt_free(&copy);
        return nomem(err);
    }
    j->receipts = grown;
    j->receipts[j->receipt_count++] = copy;
    /* A new receipt changes nothing the journal's other checks read: on a
     * journal valid and writable before (see transition), checking it
     * against its operation, and its shape, is the whole verdict. */
    if (sf_rj_check_receipt(j, j->receipt_count - 1, err) != SF_OK) {
        sf_restore_receipt_free(&j->receipts[--j->receipt_count]);
        if (j->receipt_count == 0) {
            free(j->receipts);
            j->receipts = NULL;
        }
        return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_receipt_init(sf_restore_receipt *out,
                            const sf_restore_journal_op *op,
                            sf_restore_outcome outcome, uint64_t attempt,
                            const char *updated_at, sf_error *err)
{
    copier c = {0};

    memset(out, 0, sizeof *out);
    out->sequence = op->sequence;
    out->kind = op->kind;
    out->outcome = outcome;
    out->source_canister = dup(&c, op->source_canister);
    out->target_canister = dup(&c, op->target_canister);
    out->attempt = attempt;
    out->updated_at = dup(&c, updated_at);
    out->source_snapshot_id = dup(&c, op->snapshot_id);
    out->artifact_path = dup(&c, op->artifact_path);
    if (c.oom) {
        sf_restore_receipt_free(out);
        return nomem(err);
    }
    return SF_OK;
}

int sf_restore_output_capture(sf_restore_output *out, const void *data,
                              size_t len, size_t limit, sf_error *err)
{
    size_t start = len > limit ? len - limit : 0;
    sf_buf b;

    memset(out, 0, sizeof *out);
    sf_buf_init(&b);
    if ((len > 0 &&
         sf_utf8_lossy((const char *)data + start, len - start, &b) !=
             SF_OK) ||
        (out->text = sf_buf_detach(&b)) == NULL) {
        sf_buf_free(&b);
        return nomem(err);
    }
    out->truncated = start > 0;
    out->original_bytes = len;
    return SF_OK;
}

uint64_t sf_restore_journal_attempt(const sf_restore_journal *j,
                                    uint64_t sequence)
{
    uint64_t n = 1;
    size_t i;

    for (i = 0; i < j->receipt_count; i++)
        n += j->receipts[i].sequence == sequence;
    return n;
}

const char *sf_restore_journal_uploaded_snapshot_id(
    const sf_restore_journal *j, const sf_restore_journal_op *load)
{
    size_t i;

    if (load->kind != SF_RESTORE_OP_LOAD_SNAPSHOT)
        return NULL;
    for (i = 0; i < j->receipt_count; i++) {
        const sf_restore_receipt *r = &j->receipts[i];
        const sf_restore_journal_op *up;

        if (r->kind != SF_RESTORE_OP_UPLOAD_SNAPSHOT ||
            r->outcome != SF_RESTORE_COMMAND_COMPLETED ||
            !str_eq(r->source_canister, load->source_canister) ||
            !str_eq(r->target_canister, load->target_canister) ||
            !sf_str_eq_opt(r->source_snapshot_id, load->snapshot_id) ||
            !sf_str_eq_opt(r->artifact_path, load->artifact_path) ||
            sf_str_is_blank(r->uploaded_snapshot_id))
            continue;
        up = sf_restore_journal_find(j, r->sequence);
        if (up != NULL && up->kind == SF_RESTORE_OP_UPLOAD_SNAPSHOT &&
            up->state == SF_RESTORE_COMPLETED)
            return r->uploaded_snapshot_id;
    }
    return NULL;
}

/* ---- what the next command is ---- */

void sf_restore_command_spec_free(sf_restore_command_spec *s)
{
    if (s == NULL)
        return;
    free(s->target_canister);
    free(s->snapshot_id);
    free(s->input_path);
    free(s->verification_kind);
    memset(s, 0, sizeof *s);
}

static int unavailable(const sf_restore_journal_op *op, sf_error *err,
                       const char *why, const char *detail)
{
    return sf_error_set(err, EK_COMMAND_UNAVAILABLE, "",
                        "restore apply journal operation %llu %s has no "
                        "command: %s%s",
                        ULL(op->sequence),
                        sf_restore_op_kind_name(op->kind)
                            ? sf_restore_op_kind_name(op->kind)
                            : "?",
                        why, detail ? detail : "");
}

int sf_restore_journal_command_spec(const sf_restore_journal *j,
                                    uint64_t sequence,
                                    sf_restore_command_spec *out,
                                    sf_error *err)
{
    const sf_restore_journal_op *op = sf_restore_journal_find(j, sequence);
    const char *uploaded;
    sf_error cause;
    copier c = {0};

    memset(out, 0, sizeof *out);
    if (op == NULL)
        return sf_error_set(err, EK_OPERATION_NOT_FOUND, "sequence",
                            "restore apply journal operation %llu was not "
                            "found",
                            ULL(sequence));
    out->sequence = op->sequence;
    out->kind = op->kind;
    out->attempt = sf_restore_journal_attempt(j, sequence);
    switch (op->kind) {
    case SF_RESTORE_OP_STOP_CANISTER:
        out->mutates = true;
        out->note = "stops the target canister before snapshot restore";
        break;
    case SF_RESTORE_OP_START_CANISTER:
        out->mutates = true;
        out->note = "starts the target canister after snapshot restore";
        break;
    case SF_RESTORE_OP_UPLOAD_SNAPSHOT:
        if (op->artifact_path == NULL)
            return unavailable(op, err, "no artifact_path", NULL);
        if (j->backup_root == NULL)
            return unavailable(op, err, "the journal has no backup_root",
                               NULL);
        sf_error_clear(&cause);
        if (sf_resolve_artifact_path(j->backup_root, op->artifact_path,
                                     &out->input_path, &cause) != SF_OK) {
            if (cause.kind != NULL && strcmp(cause.kind, SF_EK_NOMEM) == 0)
                return nomem(err);
            return unavailable(op, err, "", cause.message);
        }
        out->mutates = true;
        out->note =
            "uploads the downloaded snapshot artifact to the target canister";
        out->snapshot_id = dup(&c, op->snapshot_id);
        /* snapfleet: --resume only when an earlier attempt is on record. */
        out->resume = out->attempt > 1;
        break;
    case SF_RESTORE_OP_LOAD_SNAPSHOT:
        uploaded = sf_restore_journal_uploaded_snapshot_id(j, op);
        if (uploaded == NULL)
            return unavailable(op, err,
                               "no completed upload receipt for its snapshot",
                               NULL);
        out->mutates = true;
        out->requires_stopped_canister = true;
        out->note = "loads the uploaded snapshot into the target canister";
        out->snapshot_id = dup(&c, uploaded);
        break;
    case SF_RESTORE_OP_VERIFY_MEMBER:
    case SF_RESTORE_OP_VERIFY_FLEET:
        if (!str_eq(op->verification_kind, SF_RESTORE_CHECK_STATUS))
            return unavailable(op, err, "unsupported verification kind ",
                               op->verification_kind ? op->verification_kind
                                                     : "(none)");
        out->note = op->kind == SF_RESTORE_OP_VERIFY_MEMBER
                        ? "checks target canister status"
                        : "checks target fleet root canister status";
        out->verification_kind = dup(&c, op->verification_kind);
        break;
    default:
        return unavailable(op, err, "unknown operation kind", NULL);
    }
    out->target_canister = dup(&c, op->target_canister);
    if (c.oom) {
        sf_restore_command_spec_free(out);
        return nomem(err);
    }
    return SF_OK;
}

int sf_restore_command_preview_write_json(const sf_restore_journal *j,
                                          const sf_restore_command *command,
                                          sf_buf *out, sf_error *err)
{
    const sf_restore_journal_op *next = sf_restore_journal_next_transition(j);
    size_t start = out->len;
    sf_jw w;

    if (next != NULL && (sf_restore_op_kind_name(next->kind) == NULL ||
                         sf_restore_state_name(next->state) == NULL))
        return sf_error_set(err, SF_EK_USAGE, "", "operation is malformed");
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "response_version", SF_RESTORE_RESPONSE_VERSION);
    sf_jw_kv_string(&w, "backup_id", j->backup_id);
    sf_jw_kv_bool(&w, "ready", j->ready);
    sf_jw_kv_bool(&w, "complete", sf_restore_journal_is_complete(j));
    sf_jw_kv_bool(&w, "operation_available", next != NULL);
    sf_jw_kv_bool(&w, "command_available", command != NULL);
    sf_jw_kv_strv(&w, "blocked_reasons", j->blocked_reasons,
                  j->blocked_reason_count);
    sf_jw_key(&w, "operation");
    if (next != NULL)
        sf_restore_journal_op_write(&w, next);
    else
        sf_jw_null(&w);
    sf_jw_key(&w, "command");
    if (command != NULL)
        sf_restore_command_write(&w, command);
    else
        sf_jw_null(&w);
    sf_jw_end_object(&w);
    return sf_rj_finish(&w, out, start, err);
}
