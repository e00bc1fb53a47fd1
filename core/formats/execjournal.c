/*
 * The backup execution journal document: names, lifetime and copies,
 * reading, canic's validation, the serde-pretty writer and files. The
 * state machine over it is execjournal_ops.c.
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
    sf_exec_journal_drop_index(j);
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
int sf_execj_check_sequences(const sf_exec_journal *j, size_t **index_out,
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

int sf_execj_check_operation(const sf_exec_journal *j, size_t i,
                             sf_error *err)
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
    if (sf_execj_check_sequences(j, &index, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < j->operation_count && rc == SF_OK; i++)
        rc = sf_execj_check_operation(j, i, err);
    for (i = 0; i < j->receipt_count && rc == SF_OK; i++)
        rc = receipt_check(&j->operation_receipts[i], j, i, index, err);
    free(index);
    return rc;
}

/* ---- writing ---- */

void sf_execj_write_operation(sf_jw *w, const sf_exec_operation *op)
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

int sf_execj_finish_into(sf_jw *w, sf_buf *tmp, sf_buf *out, sf_error *err)
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
    if (sf_exec_journal_validate(j, err) != SF_OK)
        return SF_ERR;
    return sf_exec_journal_write_json_part(j, out, err);
}

int sf_exec_journal_write_json_part(const sf_exec_journal *j, sf_buf *out,
                                    sf_error *err)
{
    sf_buf tmp;
    sf_jw w;
    size_t i;

    if (check_enums(j, err) != SF_OK)
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
        sf_execj_write_operation(&w, &j->operations[i]);
    sf_jw_end_array(&w);
    sf_jw_key(&w, "operation_receipts");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->receipt_count; i++)
        write_receipt(&w, &j->operation_receipts[i]);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_execj_finish_into(&w, &tmp, out, err);
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
