/*
 * The backup execution journal: reading, canic's validation, the
 * serde-pretty writer, the operation state machine, receipts, the resume
 * summary and the plan <-> journal binding check.
 */
#include "base/sequence.h"
#include "snapfleet/execjournal.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_INVALID_PLAN "invalid-plan"
#define EK_UNSUPPORTED_VERSION "unsupported-version"
#define EK_MISSING_FIELD "missing-field"
#define EK_DUPLICATE_SEQUENCE "duplicate-sequence"
#define EK_MISSING_SEQUENCE "missing-sequence"
#define EK_ACCEPTED_MISSING_ID "accepted-preflight-missing-id"
#define EK_ALREADY_ACCEPTED "preflight-already-accepted"
#define EK_PREFLIGHT_PLAN_MISMATCH "preflight-plan-mismatch"
#define EK_MUTATION_READY "mutation-ready-before-preflight"
#define EK_MUTATION_BEFORE_ACCEPTED "mutation-before-preflight-accepted"
#define EK_MISSING_REASON "operation-missing-reason"
#define EK_UNBLOCKED_REASONS "unblocked-operation-has-reasons"
#define EK_OPERATION_NOT_FOUND "operation-not-found"
#define EK_INVALID_TRANSITION "invalid-operation-transition"
#define EK_OUT_OF_ORDER "out-of-order-operation-transition"
#define EK_NO_TRANSITIONABLE "no-transitionable-operation"
#define EK_NOT_FAILED "operation-not-failed"
#define EK_RECEIPT_NOT_FOUND "receipt-operation-not-found"
#define EK_RECEIPT_OP_MISMATCH "receipt-operation-mismatch"
#define EK_RECEIPT_JOURNAL_MISMATCH "receipt-journal-mismatch"
#define EK_RECEIPT_PREFLIGHT_MISMATCH "receipt-preflight-mismatch"
#define EK_RECEIPT_NOT_PENDING "receipt-without-pending-operation"
#define EK_PLAN_JOURNAL_MISMATCH "plan-journal-mismatch"
#define EK_PLAN_JOURNAL_OP_MISMATCH "plan-journal-operation-mismatch"

static const char *const state_names[] = {"ready",     "pending", "blocked",
                                          "completed", "failed",  "skipped"};
static const char *const state_debug_names[] = {
    "Ready", "Pending", "Blocked", "Completed", "Failed", "Skipped"};
static const char *const outcome_names[] = {"completed", "failed", "skipped"};
static const char *const kind_names[SF_PHASE_KIND_COUNT] = {
    "validate-topology",
    "validate-control-authority",
    "validate-snapshot-read-authority",
    "validate-quiescence-policy",
    "stop",
    "create-snapshot",
    "start",
    "download-snapshot",
    "verify-artifact",
    "finalize-manifest"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ULL(x) ((unsigned long long)(x))

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

const char *sf_exec_state_name(sf_exec_state s)
{
    return (unsigned)s < COUNT(state_names) ? state_names[s] : NULL;
}

const char *sf_exec_state_debug_name(sf_exec_state s)
{
    return (unsigned)s < COUNT(state_debug_names) ? state_debug_names[s]
                                                   : NULL;
}

const char *sf_exec_outcome_name(sf_exec_outcome o)
{
    return (unsigned)o < COUNT(outcome_names) ? outcome_names[o] : NULL;
}

bool sf_exec_kind_is_preflight(sf_phase_kind k)
{
    return sf_phase_kind_is_preflight(k);
}

bool sf_exec_kind_is_mutating(sf_phase_kind k)
{
    return !sf_exec_kind_is_preflight(k);
}

/* ---- lifetime ---- */

static void operation_free(sf_exec_operation *op)
{
    free(op->operation_id);
    free(op->target_canister_id);
    free(op->state_updated_at);
    sf_strv_free(op->blocking_reasons, op->blocking_reason_count);
    memset(op, 0, sizeof *op);
}

void sf_exec_receipt_free(sf_exec_receipt *r)
{
    if (r == NULL)
        return;
    free(r->plan_id);
    free(r->run_id);
    free(r->preflight_id);
    free(r->operation_id);
    free(r->target_canister_id);
    free(r->updated_at);
    free(r->snapshot_id);
    free(r->artifact_path);
    free(r->checksum);
    free(r->failure_reason);
    memset(r, 0, sizeof *r);
}

void sf_exec_journal_free(sf_exec_journal *j)
{
    size_t i;

    if (j == NULL)
        return;
    free(j->plan_id);
    free(j->run_id);
    free(j->preflight_id);
    for (i = 0; i < j->operation_count; i++)
        operation_free(&j->operations[i]);
    free(j->operations);
    for (i = 0; i < j->receipt_count; i++)
        sf_exec_receipt_free(&j->operation_receipts[i]);
    free(j->operation_receipts);
    memset(j, 0, sizeof *j);
}

/* malloc'd copy of a string vector (NULL for an empty one). */
static int strv_copy(char *const *src, size_t n, char ***out)
{
    char **v;
    size_t i;

    *out = NULL;
    if (n == 0)
        return SF_OK;
    v = calloc(n, sizeof *v);
    if (v == NULL)
        return SF_ERR;
    for (i = 0; i < n; i++) {
        v[i] = strdup(src[i] != NULL ? src[i] : "");
        if (v[i] == NULL) {
            sf_strv_free(v, i);
            return SF_ERR;
        }
    }
    *out = v;
    return SF_OK;
}

static int operation_copy(sf_exec_operation *d, const sf_exec_operation *s)
{
    int oom = 0;

    memset(d, 0, sizeof *d);
    d->sequence = s->sequence;
    d->operation_id = sf_strdup_opt(s->operation_id, &oom);
    d->kind = s->kind;
    d->target_canister_id = sf_strdup_opt(s->target_canister_id, &oom);
    d->state = s->state;
    d->state_updated_at = sf_strdup_opt(s->state_updated_at, &oom);
    if (strv_copy(s->blocking_reasons, s->blocking_reason_count,
                  &d->blocking_reasons) != SF_OK)
        oom = 1;
    else
        d->blocking_reason_count = s->blocking_reason_count;
    if (oom) {
        operation_free(d);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_exec_receipt_copy(sf_exec_receipt *d, const sf_exec_receipt *s,
                         sf_error *err)
{
    int oom = 0;

    *d = *s;
    d->plan_id = sf_strdup_opt(s->plan_id, &oom);
    d->run_id = sf_strdup_opt(s->run_id, &oom);
    d->preflight_id = sf_strdup_opt(s->preflight_id, &oom);
    d->operation_id = sf_strdup_opt(s->operation_id, &oom);
    d->target_canister_id = sf_strdup_opt(s->target_canister_id, &oom);
    d->updated_at = sf_strdup_opt(s->updated_at, &oom);
    d->snapshot_id = sf_strdup_opt(s->snapshot_id, &oom);
    d->artifact_path = sf_strdup_opt(s->artifact_path, &oom);
    d->checksum = sf_strdup_opt(s->checksum, &oom);
    d->failure_reason = sf_strdup_opt(s->failure_reason, &oom);
    if (oom) {
        sf_exec_receipt_free(d);
        return nomem(err);
    }
    return SF_OK;
}

int sf_exec_journal_copy(sf_exec_journal *d, const sf_exec_journal *s,
                         sf_error *err)
{
    int oom = 0;
    size_t i;

    memset(d, 0, sizeof *d);
    d->journal_version = s->journal_version;
    d->plan_id = sf_strdup_opt(s->plan_id, &oom);
    d->run_id = sf_strdup_opt(s->run_id, &oom);
    d->preflight_id = sf_strdup_opt(s->preflight_id, &oom);
    d->preflight_accepted = s->preflight_accepted;
    d->restart_required = s->restart_required;
    if (oom)
        goto nomem;
    if (s->operation_count > 0) {
        d->operations = calloc(s->operation_count, sizeof *d->operations);
        if (d->operations == NULL)
            goto nomem;
        for (i = 0; i < s->operation_count; i++) {
            if (operation_copy(&d->operations[i], &s->operations[i]) != SF_OK)
                goto nomem;
            d->operation_count = i + 1;
        }
    }
    if (s->receipt_count > 0) {
        d->operation_receipts =
            calloc(s->receipt_count, sizeof *d->operation_receipts);
        if (d->operation_receipts == NULL)
            goto nomem;
        for (i = 0; i < s->receipt_count; i++) {
            if (sf_exec_receipt_copy(&d->operation_receipts[i],
                                     &s->operation_receipts[i],
                                     NULL) != SF_OK)
                goto nomem;
            d->receipt_count = i + 1;
        }
    }
    return SF_OK;
nomem:
    sf_exec_journal_free(d);
    return nomem(err);
}

/* ---- reading ---- */

static int read_kind(sf_jr *r, const cJSON *obj, sf_phase_kind *out)
{
    int v = 0;

    if (sf_jr_enum(r, obj, "kind", kind_names, SF_PHASE_KIND_COUNT, &v) !=
        SF_OK)
        return SF_ERR;
    *out = (sf_phase_kind)v;
    return SF_OK;
}

static int read_operation(sf_jr *r, const cJSON *obj, sf_exec_operation *op)
{
    int state = 0;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_uint(r, obj, "sequence", (uint64_t)SIZE_MAX, &op->sequence) !=
            SF_OK ||
        sf_jr_str(r, obj, "operation_id", &op->operation_id) != SF_OK ||
        read_kind(r, obj, &op->kind) != SF_OK ||
        sf_jr_str_opt(r, obj, "target_canister_id",
                      &op->target_canister_id) != SF_OK ||
        sf_jr_enum(r, obj, "state", state_names, COUNT(state_names),
                   &state) != SF_OK ||
        sf_jr_str_opt(r, obj, "state_updated_at", &op->state_updated_at) !=
            SF_OK ||
        sf_jr_str_array(r, obj, "blocking_reasons", &op->blocking_reasons,
                        &op->blocking_reason_count) != SF_OK)
        return SF_ERR;
    op->state = (sf_exec_state)state;
    return SF_OK;
}

static int read_receipt(sf_jr *r, const cJSON *obj, sf_exec_receipt *rc)
{
    int outcome = 0;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_str(r, obj, "plan_id", &rc->plan_id) != SF_OK ||
        sf_jr_str(r, obj, "run_id", &rc->run_id) != SF_OK ||
        sf_jr_str_opt(r, obj, "preflight_id", &rc->preflight_id) != SF_OK ||
        sf_jr_uint(r, obj, "sequence", (uint64_t)SIZE_MAX, &rc->sequence) !=
            SF_OK ||
        sf_jr_str(r, obj, "operation_id", &rc->operation_id) != SF_OK ||
        read_kind(r, obj, &rc->kind) != SF_OK ||
        sf_jr_str_opt(r, obj, "target_canister_id",
                      &rc->target_canister_id) != SF_OK ||
        sf_jr_enum(r, obj, "outcome", outcome_names, COUNT(outcome_names),
                   &outcome) != SF_OK ||
        sf_jr_str_opt(r, obj, "updated_at", &rc->updated_at) != SF_OK ||
        sf_jr_str_opt(r, obj, "snapshot_id", &rc->snapshot_id) != SF_OK ||
        sf_jr_uint_opt(r, obj, "snapshot_taken_at_timestamp", UINT64_MAX,
                       &rc->has_snapshot_taken_at_timestamp,
                       &rc->snapshot_taken_at_timestamp) != SF_OK ||
        sf_jr_uint_opt(r, obj, "snapshot_total_size_bytes", UINT64_MAX,
                       &rc->has_snapshot_total_size_bytes,
                       &rc->snapshot_total_size_bytes) != SF_OK ||
        sf_jr_str_opt(r, obj, "artifact_path", &rc->artifact_path) != SF_OK ||
        sf_jr_str_opt(r, obj, "checksum", &rc->checksum) != SF_OK ||
        sf_jr_str_opt(r, obj, "failure_reason", &rc->failure_reason) != SF_OK)
        return SF_ERR;
    rc->outcome = (sf_exec_outcome)outcome;
    return SF_OK;
}

static int read_journal(sf_jr *r, const cJSON *root, sf_exec_journal *j)
{
    const cJSON *ops, *receipts, *c;
    size_t nops, nrec, i, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_uint(r, root, "journal_version", UINT16_MAX,
                   &j->journal_version) != SF_OK ||
        sf_jr_str(r, root, "plan_id", &j->plan_id) != SF_OK ||
        sf_jr_str(r, root, "run_id", &j->run_id) != SF_OK ||
        sf_jr_str_opt(r, root, "preflight_id", &j->preflight_id) != SF_OK ||
        sf_jr_bool(r, root, "preflight_accepted", &j->preflight_accepted) !=
            SF_OK ||
        sf_jr_bool(r, root, "restart_required", &j->restart_required) !=
            SF_OK ||
        sf_jr_array(r, root, "operations", &ops, &nops) != SF_OK ||
        sf_jr_array(r, root, "operation_receipts", &receipts, &nrec) != SF_OK)
        return SF_ERR;
    if (nops > 0) {
        j->operations = calloc(nops, sizeof *j->operations);
        if (j->operations == NULL)
            return nomem(r->err);
        j->operation_count = nops;
        mark = sf_jr_push_key(r, "operations");
        for (i = 0, c = ops->child; c != NULL; c = c->next, i++) {
            size_t m = sf_jr_push_index(r, i);
            if (read_operation(r, c, &j->operations[i]) != SF_OK)
                return SF_ERR;
            sf_jr_pop(r, m);
        }
        sf_jr_pop(r, mark);
    }
    if (nrec > 0) {
        j->operation_receipts = calloc(nrec, sizeof *j->operation_receipts);
        if (j->operation_receipts == NULL)
            return nomem(r->err);
        j->receipt_count = nrec;
        mark = sf_jr_push_key(r, "operation_receipts");
        for (i = 0, c = receipts->child; c != NULL; c = c->next, i++) {
            size_t m = sf_jr_push_index(r, i);
            if (read_receipt(r, c, &j->operation_receipts[i]) != SF_OK)
                return SF_ERR;
            sf_jr_pop(r, m);
        }
        sf_jr_pop(r, mark);
    }
    return SF_OK;
}

int sf_exec_journal_parse(const char *text, size_t len, sf_exec_journal *out,
                          sf_error *err)
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
        sf_exec_journal_free(out);
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
                            "backup execution journal field %s is required",
                            name);
    return SF_OK;
}

static int optional(const char *name, const char *field, const char *value,
                    sf_error *err)
{
    return value == NULL ? SF_OK : required(name, field, value, err);
}

/* The first operation with this sequence: through `index` (sequence ->
 * array position, valid once the sequences are known to be 0..n-1) when
 * given, else by a scan. */
static size_t operation_position(const sf_exec_journal *j, uint64_t sequence,
                                 const size_t *index)
{
    size_t i;

    if (index != NULL)
        return sequence < j->operation_count ? index[sequence] : SIZE_MAX;
    for (i = 0; i < j->operation_count; i++)
        if (j->operations[i].sequence == sequence)
            return i;
    return SIZE_MAX;
}

/* validate_against for receipt slot `slot` (its place in
 * operation_receipts, for the error paths). */
static int receipt_check(const sf_exec_receipt *r, const sf_exec_journal *j,
                         size_t slot, const size_t *index, sf_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
        bool optional;
    } texts[] = {
        {"plan_id", offsetof(sf_exec_receipt, plan_id), false},
        {"run_id", offsetof(sf_exec_receipt, run_id), false},
        {"operation_id", offsetof(sf_exec_receipt, operation_id), false},
        {"updated_at", offsetof(sf_exec_receipt, updated_at), true},
        {"snapshot_id", offsetof(sf_exec_receipt, snapshot_id), true},
        {"artifact_path", offsetof(sf_exec_receipt, artifact_path), true},
        {"checksum", offsetof(sf_exec_receipt, checksum), true},
    };
    char field[SF_ERROR_FIELD_MAX], name[64];
    const sf_exec_operation *op;
    const char *what = NULL;
    size_t k, pos;

    for (k = 0; k < COUNT(texts); k++) {
        const char *v = *(char *const *)((const char *)r + texts[k].offset);
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 texts[k].name);
        snprintf(name, sizeof name, "operation_receipts[].%s", texts[k].name);
        if ((texts[k].optional ? optional(name, field, v, err)
                               : required(name, field, v, err)) != SF_OK)
            return SF_ERR;
    }
    if (!str_eq(r->plan_id, j->plan_id) || !str_eq(r->run_id, j->run_id)) {
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 str_eq(r->plan_id, j->plan_id) ? "run_id" : "plan_id");
        return sf_error_set(err, EK_RECEIPT_JOURNAL_MISMATCH, field,
                            "operation receipt does not match journal %llu",
                            ULL(r->sequence));
    }
    pos = operation_position(j, r->sequence, index);
    if (pos == SIZE_MAX) {
        snprintf(field, sizeof field, "operation_receipts[%zu].sequence",
                 slot);
        return sf_error_set(err, EK_RECEIPT_NOT_FOUND, field,
                            "operation receipt references missing operation "
                            "%llu",
                            ULL(r->sequence));
    }
    op = &j->operations[pos];
    if (!str_eq(op->operation_id, r->operation_id))
        what = "operation_id";
    else if (op->kind != r->kind)
        what = "kind";
    else if (!sf_str_eq_opt(op->target_canister_id, r->target_canister_id))
        what = "target_canister_id";
    if (what != NULL) {
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 what);
        return sf_error_set(err, EK_RECEIPT_OP_MISMATCH, field,
                            "operation receipt does not match operation %llu",
                            ULL(r->sequence));
    }
    if (sf_exec_kind_is_mutating(op->kind) &&
        !sf_str_eq_opt(r->preflight_id, j->preflight_id)) {
        snprintf(field, sizeof field, "operation_receipts[%zu].preflight_id",
                 slot);
        return sf_error_set(err, EK_RECEIPT_PREFLIGHT_MISMATCH, field,
                            "operation receipt does not match accepted "
                            "preflight %llu",
                            ULL(r->sequence));
    }
    if (r->outcome == SF_EXEC_OUTCOME_FAILED) {
        if (sf_str_is_blank(r->failure_reason))
            what = "failure_reason";
    } else if (r->outcome == SF_EXEC_OUTCOME_COMPLETED) {
        if (r->kind == SF_PHASE_CREATE_SNAPSHOT &&
            sf_str_is_blank(r->snapshot_id))
            what = "snapshot_id";
        else if (r->kind == SF_PHASE_DOWNLOAD_SNAPSHOT &&
                 sf_str_is_blank(r->artifact_path))
            what = "artifact_path";
        else if (r->kind == SF_PHASE_VERIFY_ARTIFACT &&
                 sf_str_is_blank(r->checksum))
            what = "checksum";
    }
    if (what != NULL) {
        snprintf(field, sizeof field, "operation_receipts[%zu].%s", slot,
                 what);
        snprintf(name, sizeof name, "operation_receipts[].%s", what);
        return required(name, field, NULL, err);
    }
    return SF_OK;
}

int sf_exec_receipt_validate_against(const sf_exec_receipt *r,
                                     const sf_exec_journal *j, sf_error *err)
{
    return receipt_check(r, j, j->receipt_count, NULL, err);
}

/* canic's check that the sequences are exactly 0..n-1 (core/base/sequence.c);
 * on success *index_out maps each sequence to its array position. */
static int check_sequences(const sf_exec_journal *j, size_t **index_out,
                           sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];
    size_t at;

    switch (sf_seq_check(j->operations, j->operation_count, sizeof *j->operations,
                         offsetof(sf_exec_operation, sequence), &at, index_out)) {
    case SF_SEQ_OK:
        return SF_OK;
    case SF_SEQ_DUPLICATE:
        snprintf(field, sizeof field, "operations[%zu].sequence", at);
        return sf_error_set(err, EK_DUPLICATE_SEQUENCE, field,
                            "backup execution journal has duplicate operation sequence %llu",
                            ULL(j->operations[at].sequence));
    case SF_SEQ_MISSING:
        return sf_error_set(err, EK_MISSING_SEQUENCE, "operations",
                            "backup execution journal is missing operation sequence %zu", at);
    default:
        return nomem(err);
    }
}

static int operation_check(const sf_exec_journal *j, size_t i, sf_error *err)
{
    const sf_exec_operation *op = &j->operations[i];
    char field[SF_ERROR_FIELD_MAX];
    bool has_reasons = op->blocking_reason_count > 0;

    snprintf(field, sizeof field, "operations[%zu].operation_id", i);
    if (required("operations[].operation_id", field, op->operation_id, err) !=
        SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "operations[%zu].state_updated_at", i);
    if (optional("operations[].state_updated_at", field,
                 op->state_updated_at, err) != SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "operations[%zu].target_canister_id", i);
    if (optional("operations[].target_canister_id", field,
                 op->target_canister_id, err) != SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "operations[%zu].blocking_reasons", i);
    if ((op->state == SF_EXEC_BLOCKED || op->state == SF_EXEC_FAILED) &&
        !has_reasons)
        return sf_error_set(err, EK_MISSING_REASON, field,
                            "operation %llu is missing a blocking or "
                            "failure reason",
                            ULL(op->sequence));
    if (op->state != SF_EXEC_BLOCKED && op->state != SF_EXEC_FAILED &&
        has_reasons)
        return sf_error_set(err, EK_UNBLOCKED_REASONS, field,
                            "operation %llu cannot have blocking reasons in "
                            "its current state",
                            ULL(op->sequence));
    if (!j->preflight_accepted && sf_exec_kind_is_mutating(op->kind) &&
        op->state != SF_EXEC_BLOCKED) {
        snprintf(field, sizeof field, "operations[%zu].state", i);
        return sf_error_set(err, EK_MUTATION_READY, field,
                            "mutating operation %llu is ready before "
                            "preflight acceptance",
                            ULL(op->sequence));
    }
    return SF_OK;
}

int sf_exec_journal_validate(const sf_exec_journal *j, sf_error *err)
{
    size_t *index = NULL, i;
    int rc = SF_OK;

    if (j->journal_version != SF_EXEC_JOURNAL_VERSION)
        return sf_error_set(err, EK_UNSUPPORTED_VERSION, "journal_version",
                            "unsupported backup execution journal version "
                            "%llu",
                            ULL(j->journal_version));
    if (required("plan_id", "plan_id", j->plan_id, err) != SF_OK ||
        required("run_id", "run_id", j->run_id, err) != SF_OK)
        return SF_ERR;
    if (j->preflight_id != NULL) {
        if (required("preflight_id", "preflight_id", j->preflight_id, err) !=
            SF_OK)
            return SF_ERR;
    } else if (j->preflight_accepted) {
        return sf_error_set(err, EK_ACCEPTED_MISSING_ID, "preflight_id",
                            "accepted preflight is missing preflight_id");
    }
    if (check_sequences(j, &index, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < j->operation_count && rc == SF_OK; i++)
        rc = operation_check(j, i, err);
    for (i = 0; i < j->receipt_count && rc == SF_OK; i++)
        rc = receipt_check(&j->operation_receipts[i], j, i, index, err);
    free(index);
    return rc;
}

/* ---- writing ---- */

static void write_operation(sf_jw *w, const sf_exec_operation *op)
{
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "sequence", op->sequence);
    sf_jw_kv_string(w, "operation_id", op->operation_id);
    sf_jw_kv_string(w, "kind", sf_phase_kind_name(op->kind));
    sf_jw_kv_string(w, "target_canister_id", op->target_canister_id);
    sf_jw_kv_string(w, "state", sf_exec_state_name(op->state));
    sf_jw_kv_string(w, "state_updated_at", op->state_updated_at);
    sf_jw_key(w, "blocking_reasons");
    sf_jw_begin_array(w);
    for (i = 0; i < op->blocking_reason_count; i++)
        sf_jw_string(w, op->blocking_reasons[i]);
    sf_jw_end_array(w);
    sf_jw_end_object(w);
}

static void write_opt_u64(sf_jw *w, const char *key, bool present,
                          uint64_t v)
{
    sf_jw_key(w, key);
    if (present)
        sf_jw_u64(w, v);
    else
        sf_jw_null(w);
}

static void write_receipt(sf_jw *w, const sf_exec_receipt *r)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "plan_id", r->plan_id);
    sf_jw_kv_string(w, "run_id", r->run_id);
    sf_jw_kv_string(w, "preflight_id", r->preflight_id);
    sf_jw_kv_u64(w, "sequence", r->sequence);
    sf_jw_kv_string(w, "operation_id", r->operation_id);
    sf_jw_kv_string(w, "kind", sf_phase_kind_name(r->kind));
    sf_jw_kv_string(w, "target_canister_id", r->target_canister_id);
    sf_jw_kv_string(w, "outcome", sf_exec_outcome_name(r->outcome));
    sf_jw_kv_string(w, "updated_at", r->updated_at);
    sf_jw_kv_string(w, "snapshot_id", r->snapshot_id);
    write_opt_u64(w, "snapshot_taken_at_timestamp",
                  r->has_snapshot_taken_at_timestamp,
                  r->snapshot_taken_at_timestamp);
    write_opt_u64(w, "snapshot_total_size_bytes",
                  r->has_snapshot_total_size_bytes,
                  r->snapshot_total_size_bytes);
    sf_jw_kv_string(w, "artifact_path", r->artifact_path);
    sf_jw_kv_string(w, "checksum", r->checksum);
    sf_jw_kv_string(w, "failure_reason", r->failure_reason);
    sf_jw_end_object(w);
}

/* Validate does not look at enum ranges (a parsed journal cannot hold a
 * bad one); a hand-built journal with one must not be written as null. */
static int check_enums(const sf_exec_journal *j, sf_error *err)
{
    size_t i;

    for (i = 0; i < j->operation_count; i++)
        if (sf_phase_kind_name(j->operations[i].kind) == NULL ||
            sf_exec_state_name(j->operations[i].state) == NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "operation %zu enum out of range", i);
    for (i = 0; i < j->receipt_count; i++)
        if (sf_phase_kind_name(j->operation_receipts[i].kind) == NULL ||
            sf_exec_outcome_name(j->operation_receipts[i].outcome) == NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "receipt %zu enum out of range", i);
    return SF_OK;
}

static int finish_into(sf_jw *w, sf_buf *tmp, sf_buf *out, sf_error *err)
{
    int rc = sf_jw_finish(w, err);

    if (rc == SF_OK && sf_buf_append(out, sf_buf_cstr(tmp), tmp->len) != SF_OK)
        rc = nomem(err);
    sf_buf_free(tmp);
    return rc;
}

int sf_exec_journal_write_json(const sf_exec_journal *j, sf_buf *out,
                               sf_error *err)
{
    sf_buf tmp;
    sf_jw w;
    size_t i;

    if (sf_exec_journal_validate(j, err) != SF_OK ||
        check_enums(j, err) != SF_OK)
        return SF_ERR;
    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "journal_version", j->journal_version);
    sf_jw_kv_string(&w, "plan_id", j->plan_id);
    sf_jw_kv_string(&w, "run_id", j->run_id);
    sf_jw_kv_string(&w, "preflight_id", j->preflight_id);
    sf_jw_kv_bool(&w, "preflight_accepted", j->preflight_accepted);
    sf_jw_kv_bool(&w, "restart_required", j->restart_required);
    sf_jw_key(&w, "operations");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->operation_count; i++)
        write_operation(&w, &j->operations[i]);
    sf_jw_end_array(&w);
    sf_jw_key(&w, "operation_receipts");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->receipt_count; i++)
        write_receipt(&w, &j->operation_receipts[i]);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return finish_into(&w, &tmp, out, err);
}

int sf_exec_journal_read_file(const char *path, sf_exec_journal *out,
                              sf_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_exec_journal_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_exec_journal_validate(out, err) != SF_OK) {
        sf_exec_journal_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_exec_journal_write_file(const char *path, const sf_exec_journal *j,
                               sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_exec_journal_write_json(j, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}

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
    bool stopped = false, unstarted = false;
    size_t i;

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
 * recomputes restart_required and validates the journal. All or nothing:
 * on any failure the operation and the flag are as they were. */
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
    j->restart_required = sf_exec_journal_compute_restart_required(j);
    if (sf_exec_journal_validate(j, err) != SF_OK) {
        free(new_at);
        sf_strv_free(new_reasons, op->blocking_reason_count);
        *op = saved;
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
    if (sf_exec_journal_validate(&work, err) != SF_OK) {
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
    size_t i;

    memset(s, 0, sizeof *s);
    s->plan_id = j->plan_id;
    s->run_id = j->run_id;
    s->preflight_id = j->preflight_id;
    s->preflight_accepted = j->preflight_accepted;
    s->restart_required = j->restart_required;
    s->total_operations = j->operation_count;
    s->next_operation = sf_exec_journal_next_ready(j);
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
        write_operation(&w, s.next_operation);
    else
        sf_jw_null(&w);
    sf_jw_end_object(&w);
    return finish_into(&w, &tmp, out, err);
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
    return finish_into(&w, &tmp, out, err);
}

void sf_exec_integrity_report_free(sf_exec_integrity_report *r)
{
    if (r == NULL)
        return;
    free(r->plan_id);
    free(r->run_id);
    memset(r, 0, sizeof *r);
}
