/*
 * The restore apply journal document: names, lifetime and copies,
 * reading, canic's validation, the serde-pretty writer and files. Its
 * state machine is restore_journal_ops.c, its reports restore_report.c.
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

static const char *const state_names[] = {"pending", "ready", "blocked",
                                          "completed", "failed"};
static const char *const state_debug_names[] = {"Pending", "Ready", "Blocked",
                                                "Completed", "Failed"};
static const char *const outcome_names[] = {"command-completed",
                                            "command-failed"};
static const char *const report_names[] = {"empty",   "complete",
                                           "failed",  "blocked",
                                           "pending", "in-progress"};
static const char *const report_debug_names[] = {
    "Empty", "Complete", "Failed", "Blocked", "Pending", "InProgress"};
/* Wire names in enum order, as sf_jr_enum wants them. */
static const char *const kind_names[SF_RESTORE_OP_KIND_COUNT] = {
    "stop-canister", "start-canister", "upload-snapshot",
    "load-snapshot", "verify-member",  "verify-fleet"};

const char *sf_restore_state_name(sf_restore_state s)
{
    return (unsigned)s < COUNT(state_names) ? state_names[s] : NULL;
}

const char *sf_restore_state_debug_name(sf_restore_state s)
{
    return (unsigned)s < COUNT(state_debug_names) ? state_debug_names[s]
                                                   : NULL;
}

const char *sf_restore_outcome_name(sf_restore_outcome o)
{
    return (unsigned)o < COUNT(outcome_names) ? outcome_names[o] : NULL;
}

const char *sf_restore_report_outcome_name(sf_restore_report_outcome o)
{
    return (unsigned)o < COUNT(report_names) ? report_names[o] : NULL;
}

const char *sf_restore_report_outcome_debug_name(sf_restore_report_outcome o)
{
    return (unsigned)o < COUNT(report_debug_names) ? report_debug_names[o]
                                                    : NULL;
}

/* ---- lifetime ---- */

void sf_restore_output_free(sf_restore_output *o)
{
    if (o == NULL)
        return;
    free(o->text);
    memset(o, 0, sizeof *o);
}

void sf_restore_command_free(sf_restore_command *c)
{
    if (c == NULL)
        return;
    free(c->program);
    sf_strv_free(c->args, c->arg_count);
    free(c->note);
    memset(c, 0, sizeof *c);
}

void sf_restore_receipt_free(sf_restore_receipt *r)
{
    if (r == NULL)
        return;
    free(r->source_canister);
    free(r->target_canister);
    free(r->updated_at);
    if (r->command != NULL) {
        sf_restore_command_free(r->command);
        free(r->command);
    }
    free(r->status);
    if (r->cmd_stdout != NULL) {
        sf_restore_output_free(r->cmd_stdout);
        free(r->cmd_stdout);
    }
    if (r->cmd_stderr != NULL) {
        sf_restore_output_free(r->cmd_stderr);
        free(r->cmd_stderr);
    }
    free(r->failure_reason);
    free(r->source_snapshot_id);
    free(r->artifact_path);
    free(r->uploaded_snapshot_id);
    memset(r, 0, sizeof *r);
}

static void op_free(sf_restore_journal_op *op)
{
    free(op->state_updated_at);
    sf_strv_free(op->blocking_reasons, op->blocking_reason_count);
    free(op->source_canister);
    free(op->target_canister);
    free(op->role);
    free(op->snapshot_id);
    free(op->artifact_path);
    free(op->verification_kind);
    memset(op, 0, sizeof *op);
}

void sf_restore_journal_free(sf_restore_journal *j)
{
    size_t i;

    if (j == NULL)
        return;
    free(j->backup_id);
    sf_strv_free(j->blocked_reasons, j->blocked_reason_count);
    free(j->backup_root);
    for (i = 0; i < j->operations_len; i++)
        op_free(&j->operations[i]);
    free(j->operations);
    for (i = 0; i < j->receipt_count; i++)
        sf_restore_receipt_free(&j->receipts[i]);
    free(j->receipts);
    memset(j, 0, sizeof *j);
}

/* ---- copies ---- */

static void dup_command(copier *c, sf_restore_command *d,
                        const sf_restore_command *s)
{
    d->program = dup(c, s->program);
    d->args = dup_strv(c, s->args, s->arg_count, &d->arg_count);
    d->mutates = s->mutates;
    d->requires_stopped_canister = s->requires_stopped_canister;
    d->note = dup(c, s->note);
}

static sf_restore_output *dup_output(copier *c, const sf_restore_output *s)
{
    sf_restore_output *d;

    if (s == NULL)
        return NULL;
    d = calloc(1, sizeof *d);
    if (d == NULL) {
        c->oom = 1;
        return NULL;
    }
    d->text = dup(c, s->text);
    d->truncated = s->truncated;
    d->original_bytes = s->original_bytes;
    return d;
}

static void dup_receipt(copier *c, sf_restore_receipt *d,
                        const sf_restore_receipt *s)
{
    memset(d, 0, sizeof *d);
    d->sequence = s->sequence;
    d->kind = s->kind;
    d->outcome = s->outcome;
    d->source_canister = dup(c, s->source_canister);
    d->target_canister = dup(c, s->target_canister);
    d->attempt = s->attempt;
    d->updated_at = dup(c, s->updated_at);
    if (s->command != NULL) {
        d->command = calloc(1, sizeof *d->command);
        if (d->command == NULL)
            c->oom = 1;
        else
            dup_command(c, d->command, s->command);
    }
    d->status = dup(c, s->status);
    d->cmd_stdout = dup_output(c, s->cmd_stdout);
    d->cmd_stderr = dup_output(c, s->cmd_stderr);
    d->failure_reason = dup(c, s->failure_reason);
    d->source_snapshot_id = dup(c, s->source_snapshot_id);
    d->artifact_path = dup(c, s->artifact_path);
    d->uploaded_snapshot_id = dup(c, s->uploaded_snapshot_id);
}

static void dup_op(copier *c, sf_restore_journal_op *d,
                   const sf_restore_journal_op *s)
{
    d->sequence = s->sequence;
    d->kind = s->kind;
    d->state = s->state;
    d->state_updated_at = dup(c, s->state_updated_at);
    d->blocking_reasons = dup_strv(c, s->blocking_reasons,
                                   s->blocking_reason_count,
                                   &d->blocking_reason_count);
    d->member_order = s->member_order;
    d->source_canister = dup(c, s->source_canister);
    d->target_canister = dup(c, s->target_canister);
    d->role = dup(c, s->role);
    d->snapshot_id = dup(c, s->snapshot_id);
    d->artifact_path = dup(c, s->artifact_path);
    d->verification_kind = dup(c, s->verification_kind);
}

int sf_restore_command_copy(sf_restore_command *dst,
                            const sf_restore_command *src, sf_error *err)
{
    copier c = {0};

    memset(dst, 0, sizeof *dst);
    dup_command(&c, dst, src);
    if (c.oom) {
        sf_restore_command_free(dst);
        return nomem(err);
    }
    return SF_OK;
}

int sf_restore_receipt_copy(sf_restore_receipt *dst,
                            const sf_restore_receipt *src, sf_error *err)
{
    copier c = {0};

    dup_receipt(&c, dst, src);
    if (c.oom) {
        sf_restore_receipt_free(dst);
        return nomem(err);
    }
    return SF_OK;
}

int sf_restore_journal_copy(sf_restore_journal *d,
                            const sf_restore_journal *s, sf_error *err)
{
    copier c = {0};
    size_t i;

    memset(d, 0, sizeof *d);
    d->journal_version = s->journal_version;
    d->backup_id = dup(&c, s->backup_id);
    d->ready = s->ready;
    d->blocked_reasons = dup_strv(&c, s->blocked_reasons,
                                  s->blocked_reason_count,
                                  &d->blocked_reason_count);
    d->backup_root = dup(&c, s->backup_root);
    d->operation_count = s->operation_count;
    d->operation_counts = s->operation_counts;
    d->pending_operations = s->pending_operations;
    d->ready_operations = s->ready_operations;
    d->blocked_operations = s->blocked_operations;
    d->completed_operations = s->completed_operations;
    d->failed_operations = s->failed_operations;
    if (s->operations_len > 0) {
        d->operations = calloc(s->operations_len, sizeof *d->operations);
        if (d->operations == NULL) {
            c.oom = 1;
        } else {
            d->operations_len = s->operations_len;
            for (i = 0; i < s->operations_len; i++)
                dup_op(&c, &d->operations[i], &s->operations[i]);
        }
    }
    if (s->receipt_count > 0) {
        d->receipts = calloc(s->receipt_count, sizeof *d->receipts);
        if (d->receipts == NULL) {
            c.oom = 1;
        } else {
            d->receipt_count = s->receipt_count;
            for (i = 0; i < s->receipt_count; i++)
                dup_receipt(&c, &d->receipts[i], &s->receipts[i]);
        }
    }
    if (c.oom) {
        sf_restore_journal_free(d);
        return nomem(err);
    }
    return SF_OK;
}

/* ---- reading ---- */

static int read_nomem(sf_jr *r)
{
    return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
}

/* serde(default) integers: absent reads as `def`, null is a type error. */
static int read_uint_default(sf_jr *r, const cJSON *obj, const char *key,
                             uint64_t *out)
{
    *out = 0;
    if (cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
        return SF_OK;
    return sf_jr_uint(r, obj, key, USIZE, out);
}

static int read_kind(sf_jr *r, const cJSON *obj, sf_restore_op_kind *out)
{
    int v = 0;

    if (sf_jr_enum(r, obj, "operation", kind_names,
                   SF_RESTORE_OP_KIND_COUNT, &v) != SF_OK)
        return SF_ERR;
    *out = (sf_restore_op_kind)v;
    return SF_OK;
}

static int read_counts(sf_jr *r, const cJSON *root, sf_restore_op_counts *c)
{
    const cJSON *o;
    size_t mark;

    if (sf_jr_object(r, root, "operation_counts", &o) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "operation_counts");
    if (read_uint_default(r, o, "canister_stops", &c->canister_stops) !=
            SF_OK ||
        read_uint_default(r, o, "canister_starts", &c->canister_starts) !=
            SF_OK ||
        sf_jr_uint(r, o, "snapshot_uploads", USIZE, &c->snapshot_uploads) !=
            SF_OK ||
        sf_jr_uint(r, o, "snapshot_loads", USIZE, &c->snapshot_loads) !=
            SF_OK ||
        sf_jr_uint(r, o, "member_verifications", USIZE,
                   &c->member_verifications) != SF_OK ||
        sf_jr_uint(r, o, "fleet_verifications", USIZE,
                   &c->fleet_verifications) != SF_OK ||
        sf_jr_uint(r, o, "verification_operations", USIZE,
                   &c->verification_operations) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_op(sf_jr *r, const cJSON *v, sf_restore_journal_op *op)
{
    int state = 0;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_uint(r, v, "sequence", USIZE, &op->sequence) != SF_OK ||
        read_kind(r, v, &op->kind) != SF_OK ||
        sf_jr_enum(r, v, "state", state_names, COUNT(state_names), &state) !=
            SF_OK ||
        sf_jr_str_opt(r, v, "state_updated_at", &op->state_updated_at) !=
            SF_OK ||
        sf_jr_str_array(r, v, "blocking_reasons", &op->blocking_reasons,
                        &op->blocking_reason_count) != SF_OK ||
        sf_jr_uint(r, v, "member_order", USIZE, &op->member_order) != SF_OK ||
        sf_jr_str(r, v, "source_canister", &op->source_canister) != SF_OK ||
        sf_jr_str(r, v, "target_canister", &op->target_canister) != SF_OK ||
        sf_jr_str(r, v, "role", &op->role) != SF_OK ||
        sf_jr_str_opt(r, v, "snapshot_id", &op->snapshot_id) != SF_OK ||
        sf_jr_str_opt(r, v, "artifact_path", &op->artifact_path) != SF_OK ||
        sf_jr_str_opt(r, v, "verification_kind", &op->verification_kind) !=
            SF_OK)
        return SF_ERR;
    op->state = (sf_restore_state)state;
    return SF_OK;
}

/* An optional object: absent or null is none. */
static const cJSON *optional_object(sf_jr *r, const cJSON *obj,
                                    const char *key, int *rc)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

    *rc = SF_OK;
    if (v == NULL || cJSON_IsNull(v))
        return NULL;
    if (!cJSON_IsObject(v)) {
        *rc = sf_jr_fail(r, key, "invalid type, expected an object");
        return NULL;
    }
    return v;
}

static int read_command(sf_jr *r, const cJSON *obj, sf_restore_command **out)
{
    const cJSON *v;
    size_t mark;
    int rc;

    *out = NULL;
    v = optional_object(r, obj, "command", &rc);
    if (v == NULL)
        return rc;
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return read_nomem(r);
    mark = sf_jr_push_key(r, "command");
    if (sf_jr_str(r, v, "program", &(*out)->program) != SF_OK ||
        sf_jr_str_array(r, v, "args", &(*out)->args, &(*out)->arg_count) !=
            SF_OK ||
        sf_jr_bool(r, v, "mutates", &(*out)->mutates) != SF_OK ||
        sf_jr_bool(r, v, "requires_stopped_canister",
                   &(*out)->requires_stopped_canister) != SF_OK ||
        sf_jr_str(r, v, "note", &(*out)->note) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_output(sf_jr *r, const cJSON *obj, const char *key,
                       sf_restore_output **out)
{
    const cJSON *v;
    size_t mark;
    int rc;

    *out = NULL;
    v = optional_object(r, obj, key, &rc);
    if (v == NULL)
        return rc;
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return read_nomem(r);
    mark = sf_jr_push_key(r, key);
    if (sf_jr_str(r, v, "text", &(*out)->text) != SF_OK ||
        sf_jr_bool(r, v, "truncated", &(*out)->truncated) != SF_OK ||
        sf_jr_uint(r, v, "original_bytes", USIZE, &(*out)->original_bytes) !=
            SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_receipt(sf_jr *r, const cJSON *v, sf_restore_receipt *rc)
{
    int outcome = 0;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_uint(r, v, "sequence", USIZE, &rc->sequence) != SF_OK ||
        read_kind(r, v, &rc->kind) != SF_OK)
        return SF_ERR;
    /* serde(default): an absent outcome is command-completed. */
    if (cJSON_GetObjectItemCaseSensitive(v, "outcome") != NULL &&
        sf_jr_enum(r, v, "outcome", outcome_names, COUNT(outcome_names),
                   &outcome) != SF_OK)
        return SF_ERR;
    rc->outcome = (sf_restore_outcome)outcome;
    if (sf_jr_str(r, v, "source_canister", &rc->source_canister) != SF_OK ||
        sf_jr_str(r, v, "target_canister", &rc->target_canister) != SF_OK ||
        read_uint_default(r, v, "attempt", &rc->attempt) != SF_OK ||
        sf_jr_str_opt(r, v, "updated_at", &rc->updated_at) != SF_OK ||
        read_command(r, v, &rc->command) != SF_OK ||
        sf_jr_str_opt(r, v, "status", &rc->status) != SF_OK ||
        read_output(r, v, "stdout", &rc->cmd_stdout) != SF_OK ||
        read_output(r, v, "stderr", &rc->cmd_stderr) != SF_OK ||
        sf_jr_str_opt(r, v, "failure_reason", &rc->failure_reason) != SF_OK ||
        sf_jr_str_opt(r, v, "source_snapshot_id", &rc->source_snapshot_id) !=
            SF_OK ||
        sf_jr_str_opt(r, v, "artifact_path", &rc->artifact_path) != SF_OK ||
        sf_jr_str_opt(r, v, "uploaded_snapshot_id",
                      &rc->uploaded_snapshot_id) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

static int read_journal(sf_jr *r, const cJSON *root, sf_restore_journal *j)
{
    const cJSON *ops, *receipts = NULL, *item;
    size_t nops, nrec = 0, i, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_uint(r, root, "journal_version", UINT16_MAX,
                   &j->journal_version) != SF_OK ||
        sf_jr_str(r, root, "backup_id", &j->backup_id) != SF_OK ||
        sf_jr_bool(r, root, "ready", &j->ready) != SF_OK ||
        sf_jr_str_array(r, root, "blocked_reasons", &j->blocked_reasons,
                        &j->blocked_reason_count) != SF_OK ||
        sf_jr_str_opt(r, root, "backup_root", &j->backup_root) != SF_OK ||
        sf_jr_uint(r, root, "operation_count", USIZE, &j->operation_count) !=
            SF_OK ||
        read_counts(r, root, &j->operation_counts) != SF_OK ||
        sf_jr_uint(r, root, "pending_operations", USIZE,
                   &j->pending_operations) != SF_OK ||
        sf_jr_uint(r, root, "ready_operations", USIZE,
                   &j->ready_operations) != SF_OK ||
        sf_jr_uint(r, root, "blocked_operations", USIZE,
                   &j->blocked_operations) != SF_OK ||
        sf_jr_uint(r, root, "completed_operations", USIZE,
                   &j->completed_operations) != SF_OK ||
        sf_jr_uint(r, root, "failed_operations", USIZE,
                   &j->failed_operations) != SF_OK ||
        sf_jr_array(r, root, "operations", &ops, &nops) != SF_OK)
        return SF_ERR;
    /* serde(default): absent receipts read as []. */
    if (cJSON_GetObjectItemCaseSensitive(root, "operation_receipts") != NULL &&
        sf_jr_array(r, root, "operation_receipts", &receipts, &nrec) != SF_OK)
        return SF_ERR;
    if (nops > 0) {
        j->operations = calloc(nops, sizeof *j->operations);
        if (j->operations == NULL)
            return read_nomem(r);
        j->operations_len = nops;
        mark = sf_jr_push_key(r, "operations");
        i = 0;
        cJSON_ArrayForEach(item, ops) {
            size_t at = sf_jr_push_index(r, i);
            if (read_op(r, item, &j->operations[i]) != SF_OK)
                return SF_ERR;
            sf_jr_pop(r, at);
            i++;
        }
        sf_jr_pop(r, mark);
    }
    if (nrec > 0) {
        j->receipts = calloc(nrec, sizeof *j->receipts);
        if (j->receipts == NULL)
            return read_nomem(r);
        j->receipt_count = nrec;
        mark = sf_jr_push_key(r, "operation_receipts");
        i = 0;
        cJSON_ArrayForEach(item, receipts) {
            size_t at = sf_jr_push_index(r, i);
            if (read_receipt(r, item, &j->receipts[i]) != SF_OK)
                return SF_ERR;
            sf_jr_pop(r, at);
            i++;
        }
        sf_jr_pop(r, mark);
    }
    return SF_OK;
}

int sf_restore_journal_parse(const char *text, size_t len,
                             sf_restore_journal *out, sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_journal(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_restore_journal_free(out);
    return rc;
}

/* ---- validation ---- */

/* `name` is canic's field name for the message, `field` the concrete
 * path. */
static int required(const char *name, const char *field, const char *value,
                    sf_error *err)
{
    if (sf_str_is_blank(value))
        return sf_error_set(err, EK_MISSING_FIELD, field,
                            "restore apply journal field %s is required",
                            name);
    return SF_OK;
}

static int count_check(const char *field, uint64_t reported, uint64_t actual,
                       sf_error *err)
{
    if (reported == actual)
        return SF_OK;
    return sf_error_set(err, EK_COUNT_MISMATCH, field,
                        "restore apply journal count %s mismatch: "
                        "reported=%llu, actual=%llu",
                        field, ULL(reported), ULL(actual));
}

/* canic's check that the sequences are exactly 0..n-1 (core/base/sequence.c);
 * on success *index_out maps each sequence to its array position. */
static int check_sequences(const sf_restore_journal *j, size_t **index_out,
                           sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];
    size_t at;

    switch (sf_seq_check(j->operations, j->operations_len, sizeof *j->operations,
                         offsetof(sf_restore_journal_op, sequence), &at, index_out)) {
    case SF_SEQ_OK:
        return SF_OK;
    case SF_SEQ_DUPLICATE:
        snprintf(field, sizeof field, "operations[%zu].sequence", at);
        return sf_error_set(err, EK_DUPLICATE_SEQUENCE, field,
                            "restore apply journal has duplicate operation sequence %llu",
                            ULL(j->operations[at].sequence));
    case SF_SEQ_MISSING:
        return sf_error_set(err, EK_MISSING_SEQUENCE, "operations",
                            "restore apply journal is missing operation sequence %zu", at);
    default:
        return nomem(err);
    }
}

static int op_field_missing(const sf_restore_journal_op *op, size_t i,
                            const char *key, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];
    const char *debug = sf_restore_op_kind_debug_name(op->kind);

    snprintf(field, sizeof field, "operations[%zu].%s", i, key);
    return sf_error_set(err, EK_OP_MISSING_FIELD, field,
                        "restore apply journal operation %llu %s is missing "
                        "field operations[].%s",
                        ULL(op->sequence), debug ? debug : "?", key);
}

static int op_check(const sf_restore_journal_op *op, size_t i, sf_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
    } texts[] = {
        {"source_canister", offsetof(sf_restore_journal_op, source_canister)},
        {"target_canister", offsetof(sf_restore_journal_op, target_canister)},
        {"role", offsetof(sf_restore_journal_op, role)},
    };
    char field[SF_ERROR_FIELD_MAX], name[64];
    bool reasons = op->blocking_reason_count > 0;
    size_t k;

    for (k = 0; k < COUNT(texts); k++) {
        const char *v = *(char *const *)((const char *)op + texts[k].offset);
        snprintf(field, sizeof field, "operations[%zu].%s", i, texts[k].name);
        snprintf(name, sizeof name, "operations[].%s", texts[k].name);
        if (required(name, field, v, err) != SF_OK)
            return SF_ERR;
    }
    if (op->state_updated_at != NULL) {
        snprintf(field, sizeof field, "operations[%zu].state_updated_at", i);
        if (required("operations[].state_updated_at", field,
                     op->state_updated_at, err) != SF_OK)
            return SF_ERR;
    }
    switch (op->kind) {
    case SF_RESTORE_OP_UPLOAD_SNAPSHOT:
        if (sf_str_is_blank(op->artifact_path))
            return op_field_missing(op, i, "artifact_path", err);
        break;
    case SF_RESTORE_OP_LOAD_SNAPSHOT:
        if (sf_str_is_blank(op->snapshot_id))
            return op_field_missing(op, i, "snapshot_id", err);
        break;
    case SF_RESTORE_OP_VERIFY_MEMBER:
    case SF_RESTORE_OP_VERIFY_FLEET:
        if (sf_str_is_blank(op->verification_kind))
            return op_field_missing(op, i, "verification_kind", err);
        if (strcmp(op->verification_kind, SF_RESTORE_CHECK_STATUS) != 0) {
            snprintf(field, sizeof field, "operations[%zu].verification_kind",
                     i);
            return sf_error_set(err, EK_UNSUPPORTED_CHECK, field,
                                "restore apply journal operation %llu uses "
                                "unsupported verification kind %s",
                                ULL(op->sequence), op->verification_kind);
        }
        break;
    default:
        break;
    }
    snprintf(field, sizeof field, "operations[%zu].blocking_reasons", i);
    if (op->state == SF_RESTORE_BLOCKED && !reasons)
        return sf_error_set(err, EK_BLOCKED_NO_REASON, field,
                            "blocked restore apply journal operation %llu is "
                            "missing a blocking reason",
                            ULL(op->sequence));
    if (op->state == SF_RESTORE_FAILED && !reasons)
        return sf_error_set(err, EK_FAILURE_REASON, field,
                            "failed restore apply journal operation %llu "
                            "requires a reason",
                            ULL(op->sequence));
    if (op->state != SF_RESTORE_BLOCKED && op->state != SF_RESTORE_FAILED &&
        reasons)
        return sf_error_set(err, EK_UNBLOCKED_REASONS, field,
                            "unblocked restore apply journal operation %llu "
                            "cannot have blocking reasons",
                            ULL(op->sequence));
    return SF_OK;
}

/* canic's receipt rules: receipt `slot` against its operation (found
 * through `index` when the sequences are known to be 0..n-1). */
static int receipt_check(const sf_restore_receipt *r,
                         const sf_restore_journal *j, size_t slot,
                         const size_t *index, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX], name[64];
    const sf_restore_journal_op *op;
    const char *what = NULL;
    size_t pos = op_position(j, r->sequence, index);

    if (pos == SIZE_MAX) {
        snprintf(field, sizeof field, "operation_receipts[%zu].sequence",
                 slot);
        return sf_error_set(err, EK_RECEIPT_NOT_FOUND, field,
                            "restore apply journal receipt references "
                            "missing operation %llu",
                            ULL(r->sequence));
    }
    op = &j->operations[pos];
    if (op->kind != r->kind)
        what = "operation";
    else if (!str_eq(op->source_canister, r->source_canister))
        what = "source_canister";
    else if (!str_eq(op->target_canister, r->target_canister))
        what = "target_canister";
    if (what != NULL) {
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 what);
        return sf_error_set(err, EK_RECEIPT_MISMATCH, field,
                            "restore apply journal receipt does not match "
                            "operation %llu",
                            ULL(r->sequence));
    }
    if (r->kind == SF_RESTORE_OP_UPLOAD_SNAPSHOT) {
        if (sf_str_is_blank(r->source_snapshot_id))
            what = "source_snapshot_id";
        else if (sf_str_is_blank(r->artifact_path))
            what = "artifact_path";
        else if (r->outcome == SF_RESTORE_COMMAND_COMPLETED &&
                 sf_str_is_blank(r->uploaded_snapshot_id))
            what = "uploaded_snapshot_id";
    }
    if (what == NULL && r->outcome == SF_RESTORE_COMMAND_FAILED &&
        sf_str_is_blank(r->failure_reason))
        what = "failure_reason";
    if (what != NULL) {
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 what);
        snprintf(name, sizeof name, "operation_receipts[].%s", what);
        return required(name, field, NULL, err);
    }
    return SF_OK;
}

int sf_rj_check_operation(const sf_restore_journal *j, size_t pos,
                          sf_error *err)
{
    return op_check(&j->operations[pos], pos, err);
}

static bool strv_complete(char *const *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (v[i] == NULL)
            return false;
    return true;
}

static bool receipt_shaped(const sf_restore_receipt *r)
{
    const sf_restore_command *c = r->command;

    return sf_restore_outcome_name(r->outcome) != NULL &&
           (c == NULL || (c->program != NULL && c->note != NULL &&
                          strv_complete(c->args, c->arg_count))) &&
           (r->cmd_stdout == NULL || r->cmd_stdout->text != NULL) &&
           (r->cmd_stderr == NULL || r->cmd_stderr->text != NULL);
}

int sf_rj_check_receipt(const sf_restore_journal *j, size_t slot,
                        sf_error *err)
{
    if (receipt_check(&j->receipts[slot], j, slot, NULL, err) != SF_OK)
        return SF_ERR;
    if (!receipt_shaped(&j->receipts[slot]))
        return sf_error_set(err, SF_EK_USAGE, "", "receipt %zu is malformed",
                            slot);
    return SF_OK;
}

int sf_restore_journal_validate(const sf_restore_journal *j, sf_error *err)
{
    static const char *const state_fields[5] = {
        "pending_operations", "ready_operations", "blocked_operations",
        "completed_operations", "failed_operations"};
    const sf_restore_op_counts *rep = &j->operation_counts;
    const uint64_t reported[5] = {j->pending_operations, j->ready_operations,
                                  j->blocked_operations,
                                  j->completed_operations,
                                  j->failed_operations};
    sf_restore_op_counts kc;
    state_counts sc;
    size_t *index = NULL, i;
    int rc = SF_OK;

    if (j->journal_version != SF_RESTORE_JOURNAL_VERSION)
        return sf_error_set(err, EK_UNSUPPORTED_VERSION, "journal_version",
                            "unsupported restore apply journal version %llu",
                            ULL(j->journal_version));
    if (required("backup_id", "backup_id", j->backup_id, err) != SF_OK)
        return SF_ERR;
    if (j->backup_root != NULL &&
        required("backup_root", "backup_root", j->backup_root, err) != SF_OK)
        return SF_ERR;
    count_ops(j, &kc, &sc);
    if (count_check("operation_count", j->operation_count, j->operations_len,
                    err) != SF_OK ||
        count_check("operation_counts.canister_stops", rep->canister_stops,
                    kc.canister_stops, err) != SF_OK ||
        count_check("operation_counts.canister_starts", rep->canister_starts,
                    kc.canister_starts, err) != SF_OK ||
        count_check("operation_counts.snapshot_uploads",
                    rep->snapshot_uploads, kc.snapshot_uploads,
                    err) != SF_OK ||
        count_check("operation_counts.snapshot_loads", rep->snapshot_loads,
                    kc.snapshot_loads, err) != SF_OK ||
        count_check("operation_counts.member_verifications",
                    rep->member_verifications, kc.member_verifications,
                    err) != SF_OK ||
        count_check("operation_counts.fleet_verifications",
                    rep->fleet_verifications, kc.fleet_verifications,
                    err) != SF_OK ||
        count_check("operation_counts.verification_operations",
                    rep->verification_operations, kc.verification_operations,
                    err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < 5; i++)
        if (count_check(state_fields[i], reported[i], sc.n[i], err) != SF_OK)
            return SF_ERR;
    if (j->ready &&
        (j->blocked_reason_count > 0 || j->blocked_operations > 0))
        return sf_error_set(err, EK_READY_BLOCKING, "ready",
                            "ready restore apply journal cannot include "
                            "blocked reasons or blocked operations");
    if (check_sequences(j, &index, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < j->operations_len && rc == SF_OK; i++)
        rc = op_check(&j->operations[i], i, err);
    for (i = 0; i < j->receipt_count && rc == SF_OK; i++)
        rc = receipt_check(&j->receipts[i], j, i, index, err);
    free(index);
    return rc;
}

/* ---- writing ---- */

void sf_restore_journal_op_write(sf_jw *w, const sf_restore_journal_op *op)
{
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "sequence", op->sequence);
    sf_jw_kv_string(w, "operation", sf_restore_op_kind_name(op->kind));
    sf_jw_kv_string(w, "state", sf_restore_state_name(op->state));
    if (op->state_updated_at != NULL)
        sf_jw_kv_string(w, "state_updated_at", op->state_updated_at);
    sf_jw_kv_strv(w, "blocking_reasons", op->blocking_reasons,
                  op->blocking_reason_count);
    sf_jw_kv_u64(w, "member_order", op->member_order);
    sf_jw_kv_string(w, "source_canister", op->source_canister);
    sf_jw_kv_string(w, "target_canister", op->target_canister);
    sf_jw_kv_string(w, "role", op->role);
    sf_jw_kv_string(w, "snapshot_id", op->snapshot_id);
    sf_jw_kv_string(w, "artifact_path", op->artifact_path);
    sf_jw_kv_string(w, "verification_kind", op->verification_kind);
    sf_jw_end_object(w);
}

void sf_restore_command_write(sf_jw *w, const sf_restore_command *c)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "program", c->program);
    sf_jw_kv_strv(w, "args", c->args, c->arg_count);
    sf_jw_kv_bool(w, "mutates", c->mutates);
    sf_jw_kv_bool(w, "requires_stopped_canister",
                  c->requires_stopped_canister);
    sf_jw_kv_string(w, "note", c->note);
    sf_jw_end_object(w);
}

static void write_output(sf_jw *w, const char *key, const sf_restore_output *o)
{
    sf_jw_key(w, key);
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "text", o->text);
    sf_jw_kv_bool(w, "truncated", o->truncated);
    sf_jw_kv_u64(w, "original_bytes", o->original_bytes);
    sf_jw_end_object(w);
}

/* Optional receipt fields are skipped when none (skip_serializing_if). */
static void kv_opt(sf_jw *w, const char *key, const char *v)
{
    if (v != NULL)
        sf_jw_kv_string(w, key, v);
}

static void write_receipt(sf_jw *w, const sf_restore_receipt *r)
{
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "sequence", r->sequence);
    sf_jw_kv_string(w, "operation", sf_restore_op_kind_name(r->kind));
    sf_jw_kv_string(w, "outcome", sf_restore_outcome_name(r->outcome));
    sf_jw_kv_string(w, "source_canister", r->source_canister);
    sf_jw_kv_string(w, "target_canister", r->target_canister);
    sf_jw_kv_u64(w, "attempt", r->attempt);
    kv_opt(w, "updated_at", r->updated_at);
    if (r->command != NULL) {
        sf_jw_key(w, "command");
        sf_restore_command_write(w, r->command);
    }
    kv_opt(w, "status", r->status);
    if (r->cmd_stdout != NULL)
        write_output(w, "stdout", r->cmd_stdout);
    if (r->cmd_stderr != NULL)
        write_output(w, "stderr", r->cmd_stderr);
    kv_opt(w, "failure_reason", r->failure_reason);
    kv_opt(w, "source_snapshot_id", r->source_snapshot_id);
    kv_opt(w, "artifact_path", r->artifact_path);
    kv_opt(w, "uploaded_snapshot_id", r->uploaded_snapshot_id);
    sf_jw_end_object(w);
}

/* Validation cannot see what only a hand-built journal can hold (enums out
 * of range, NULL where the document needs a string); such a journal must
 * not be written with nulls. */
int sf_rj_check_shape(const sf_restore_journal *j, sf_error *err)
{
    size_t i;

    if (!strv_complete(j->blocked_reasons, j->blocked_reason_count))
        return sf_error_set(err, SF_EK_USAGE, "blocked_reasons",
                            "blocked reason is NULL");
    for (i = 0; i < j->operations_len; i++) {
        const sf_restore_journal_op *op = &j->operations[i];
        if (sf_restore_op_kind_name(op->kind) == NULL ||
            sf_restore_state_name(op->state) == NULL ||
            !strv_complete(op->blocking_reasons, op->blocking_reason_count))
            return sf_error_set(err, SF_EK_USAGE, "",
                                "operation %zu is malformed", i);
    }
    for (i = 0; i < j->receipt_count; i++)
        if (!receipt_shaped(&j->receipts[i]))
            return sf_error_set(err, SF_EK_USAGE, "",
                                "receipt %zu is malformed", i);
    return SF_OK;
}

int sf_rj_finish(sf_jw *w, sf_buf *out, size_t start, sf_error *err)
{
    if (sf_jw_finish(w, err) != SF_OK) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_journal_write_json(const sf_restore_journal *j, sf_buf *out,
                                  sf_error *err)
{
    if (sf_restore_journal_validate(j, err) != SF_OK)
        return SF_ERR;
    return sf_restore_journal_write_json_part(j, out, err);
}

int sf_restore_journal_write_json_part(const sf_restore_journal *j,
                                       sf_buf *out, sf_error *err)
{
    size_t start = out->len, i;
    sf_jw w;

    if (sf_rj_check_shape(j, err) != SF_OK)
        return SF_ERR;
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "journal_version", j->journal_version);
    sf_jw_kv_string(&w, "backup_id", j->backup_id);
    sf_jw_kv_bool(&w, "ready", j->ready);
    sf_jw_kv_strv(&w, "blocked_reasons", j->blocked_reasons,
                  j->blocked_reason_count);
    kv_opt(&w, "backup_root", j->backup_root);
    sf_jw_kv_u64(&w, "operation_count", j->operation_count);
    sf_jw_key(&w, "operation_counts");
    sf_restore_op_counts_write(&w, &j->operation_counts);
    sf_jw_kv_u64(&w, "pending_operations", j->pending_operations);
    sf_jw_kv_u64(&w, "ready_operations", j->ready_operations);
    sf_jw_kv_u64(&w, "blocked_operations", j->blocked_operations);
    sf_jw_kv_u64(&w, "completed_operations", j->completed_operations);
    sf_jw_kv_u64(&w, "failed_operations", j->failed_operations);
    sf_jw_key(&w, "operations");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->operations_len; i++)
        sf_restore_journal_op_write(&w, &j->operations[i]);
    sf_jw_end_array(&w);
    if (j->receipt_count > 0) {
        sf_jw_key(&w, "operation_receipts");
        sf_jw_begin_array(&w);
        for (i = 0; i < j->receipt_count; i++)
            write_receipt(&w, &j->receipts[i]);
        sf_jw_end_array(&w);
    }
    sf_jw_end_object(&w);
    return sf_rj_finish(&w, out, start, err);
}

int sf_restore_journal_read_file(const char *path, sf_restore_journal *out,
                                 sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_restore_journal_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_restore_journal_validate(out, err) != SF_OK) {
        sf_restore_journal_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_restore_journal_write_file(const char *path,
                                  const sf_restore_journal *j, sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_restore_journal_write_json(j, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}
