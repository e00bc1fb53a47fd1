/*
 * The restore apply dry-run: operations generated from a plan in canic's
 * phase order, artifact validation against a backup directory, and the
 * dry-run JSON.
 */
#include "snapfleet/restore_plan.h"

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/storage.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_ARTIFACT_ESCAPES "artifact-path-escapes-backup"
#define EK_ARTIFACT_MISSING "artifact-missing"
#define EK_ARTIFACT_CHECKSUM "artifact-checksum"

static const char *const kind_names[SF_RESTORE_OP_KIND_COUNT] = {
    "stop-canister", "start-canister", "upload-snapshot",
    "load-snapshot", "verify-member",  "verify-fleet"};
static const char *const kind_debug_names[SF_RESTORE_OP_KIND_COUNT] = {
    "StopCanister", "StartCanister", "UploadSnapshot",
    "LoadSnapshot", "VerifyMember",  "VerifyFleet"};

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

const char *sf_restore_op_kind_name(sf_restore_op_kind k)
{
    return (unsigned)k < SF_RESTORE_OP_KIND_COUNT ? kind_names[k] : NULL;
}

const char *sf_restore_op_kind_debug_name(sf_restore_op_kind k)
{
    return (unsigned)k < SF_RESTORE_OP_KIND_COUNT ? kind_debug_names[k]
                                                   : NULL;
}

void sf_restore_op_counts_add(sf_restore_op_counts *c, sf_restore_op_kind k)
{
    switch (k) {
    case SF_RESTORE_OP_STOP_CANISTER:
        c->canister_stops++;
        break;
    case SF_RESTORE_OP_START_CANISTER:
        c->canister_starts++;
        break;
    case SF_RESTORE_OP_UPLOAD_SNAPSHOT:
        c->snapshot_uploads++;
        break;
    case SF_RESTORE_OP_LOAD_SNAPSHOT:
        c->snapshot_loads++;
        break;
    case SF_RESTORE_OP_VERIFY_MEMBER:
        c->member_verifications++;
        c->verification_operations++;
        break;
    case SF_RESTORE_OP_VERIFY_FLEET:
        c->fleet_verifications++;
        c->verification_operations++;
        break;
    }
}

void sf_restore_op_counts_write(sf_jw *w, const sf_restore_op_counts *c)
{
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "canister_stops", c->canister_stops);
    sf_jw_kv_u64(w, "canister_starts", c->canister_starts);
    sf_jw_kv_u64(w, "snapshot_uploads", c->snapshot_uploads);
    sf_jw_kv_u64(w, "snapshot_loads", c->snapshot_loads);
    sf_jw_kv_u64(w, "member_verifications", c->member_verifications);
    sf_jw_kv_u64(w, "fleet_verifications", c->fleet_verifications);
    sf_jw_kv_u64(w, "verification_operations", c->verification_operations);
    sf_jw_end_object(w);
}

/* ---- lifetime ---- */

static void check_free(sf_restore_artifact_check *c)
{
    free(c->source_canister);
    free(c->target_canister);
    free(c->snapshot_id);
    free(c->artifact_path);
    free(c->resolved_path);
    free(c->checksum_algorithm);
    free(c->checksum_expected);
    free(c->checksum_actual);
}

void sf_restore_artifact_validation_free(sf_restore_artifact_validation *v)
{
    size_t i;

    if (v == NULL)
        return;
    free(v->backup_root);
    for (i = 0; i < v->check_count; i++)
        check_free(&v->checks[i]);
    free(v->checks);
    memset(v, 0, sizeof *v);
}

static void operation_free(sf_restore_operation *op)
{
    free(op->source_canister);
    free(op->target_canister);
    free(op->role);
    free(op->snapshot_id);
    free(op->artifact_path);
    free(op->verification_kind);
}

void sf_restore_dry_run_free(sf_restore_dry_run *d)
{
    size_t i;

    if (d == NULL)
        return;
    free(d->backup_id);
    sf_strv_free(d->readiness_reasons, d->readiness_reason_count);
    if (d->artifact_validation != NULL) {
        sf_restore_artifact_validation_free(d->artifact_validation);
        free(d->artifact_validation);
    }
    for (i = 0; i < d->operations_len; i++)
        operation_free(&d->operations[i]);
    free(d->operations);
    memset(d, 0, sizeof *d);
}

/* ---- artifact validation ---- */

/* Turns a checksum failure into canic's ArtifactChecksum error; our own
 * refusals (symlinks, special files) keep their kinds. */
static int checksum_failed(const sf_error *cause, const char *source,
                           const char *path, const char *field,
                           sf_error *err)
{
    const char *kind = EK_ARTIFACT_CHECKSUM;

    if (cause->kind != NULL && (strcmp(cause->kind, "symlink-refused") == 0 ||
                                strcmp(cause->kind, "unsupported-file-type") ==
                                    0 ||
                                strcmp(cause->kind, SF_EK_NOMEM) == 0))
        kind = cause->kind;
    return sf_error_set(err, kind, field,
                        "restore artifact checksum failed for %s at %s: %s",
                        source, path, cause->message);
}

static int validate_member(const sf_restore_plan_member *m, size_t i,
                           const char *root, sf_restore_artifact_check *c,
                           sf_error *err)
{
    const sf_manifest_snapshot *s = &m->source_snapshot;
    char field[SF_ERROR_FIELD_MAX], actual[SF_SHA256_HEX_SIZE];
    sf_error cause;
    sf_storage_kind kind;
    int oom = 0;

    snprintf(field, sizeof field, "members[%zu].source_snapshot.artifact_path",
             i);
    sf_error_clear(&cause);
    if (sf_resolve_artifact_path(root, s->artifact_path, &c->resolved_path,
                                 &cause) != SF_OK) {
        if (cause.kind != NULL &&
            strcmp(cause.kind, EK_ARTIFACT_ESCAPES) == 0)
            return sf_error_set(err, EK_ARTIFACT_ESCAPES, field,
                                "restore artifact path for %s escapes backup "
                                "root: %s",
                                m->source_canister, s->artifact_path);
        return sf_error_set(err, cause.kind, field,
                            "restore artifact for %s is not usable: %s",
                            m->source_canister, cause.message);
    }
    /* lstat-style, not stat: the resolver has refused links on the way,
     * and the artifact itself is never followed either. */
    if (sf_storage_kind_of(sf_fs_storage(), c->resolved_path, &kind, NULL) !=
            SF_OK ||
        kind == SF_STORAGE_ABSENT)
        return sf_error_set(err, EK_ARTIFACT_MISSING, field,
                            "restore artifact for %s is missing: %s at %s",
                            m->source_canister, s->artifact_path,
                            c->resolved_path);
    c->source_canister = sf_strdup_opt(m->source_canister, &oom);
    c->target_canister = sf_strdup_opt(m->target_canister, &oom);
    c->snapshot_id = sf_strdup_opt(s->snapshot_id, &oom);
    c->artifact_path = sf_strdup_opt(s->artifact_path, &oom);
    c->exists = true;
    c->checksum_algorithm = sf_strdup_opt(s->checksum_algorithm, &oom);
    c->checksum_expected = sf_strdup_opt(s->checksum, &oom);
    if (oom)
        return nomem(err);
    if (s->checksum == NULL)
        return SF_OK;
    if (sf_checksum_path(c->resolved_path, actual, &cause) != SF_OK)
        return checksum_failed(&cause, m->source_canister, s->artifact_path,
                               field, err);
    /* canic compares the hex exactly, case included; the algorithm was
     * checked by the manifest and is not looked at here. */
    if (sf_checksum_verify(SF_CHECKSUM_ALGORITHM, s->checksum, actual,
                           &cause) != SF_OK) {
        snprintf(field, sizeof field, "members[%zu].source_snapshot.checksum",
                 i);
        return checksum_failed(&cause, m->source_canister, s->artifact_path,
                               field, err);
    }
    c->checksum_actual = sf_strdup_opt(actual, &oom);
    if (oom)
        return nomem(err);
    c->checksum_verified = true;
    return SF_OK;
}

int sf_restore_artifact_validate(const sf_restore_plan *plan,
                                 const char *backup_root,
                                 sf_restore_artifact_validation *out,
                                 sf_error *err)
{
    size_t i, n = plan->members_len, verified = 0;

    memset(out, 0, sizeof *out);
    out->backup_root = strdup(backup_root);
    if (out->backup_root == NULL)
        return nomem(err);
    if (n > 0) {
        out->checks = calloc(n, sizeof *out->checks);
        if (out->checks == NULL) {
            sf_restore_artifact_validation_free(out);
            return nomem(err);
        }
    }
    for (i = 0; i < n; i++) {
        /* Counted first so a half-filled row is freed on failure. */
        out->check_count = i + 1;
        if (validate_member(&plan->members[i], i, backup_root,
                            &out->checks[i], err) != SF_OK) {
            sf_restore_artifact_validation_free(out);
            return SF_ERR;
        }
        out->members_with_expected_checksums +=
            out->checks[i].checksum_expected != NULL;
        verified += out->checks[i].checksum_verified;
    }
    out->checked_members = n;
    out->artifacts_present = true;
    out->checksums_verified =
        out->members_with_expected_checksums == plan->member_count &&
        verified == n;
    return SF_OK;
}

/* ---- operations ---- */

typedef struct emitter {
    sf_restore_dry_run *d;
    int oom;
} emitter;

static void emit(emitter *e, sf_restore_op_kind kind, uint64_t member_order,
                 const char *source, const char *target, const char *role,
                 const char *snapshot_id, const char *artifact_path,
                 const char *verification_kind)
{
    sf_restore_operation *op = &e->d->operations[e->d->operations_len];

    op->sequence = e->d->operations_len;
    op->kind = kind;
    op->member_order = member_order;
    op->source_canister = sf_strdup_opt(source, &e->oom);
    op->target_canister = sf_strdup_opt(target, &e->oom);
    op->role = sf_strdup_opt(role, &e->oom);
    op->snapshot_id = sf_strdup_opt(snapshot_id, &e->oom);
    op->artifact_path = sf_strdup_opt(artifact_path, &e->oom);
    op->verification_kind = sf_strdup_opt(verification_kind, &e->oom);
    e->d->operations_len++;
    sf_restore_op_counts_add(&e->d->operation_counts, kind);
}

static void emit_member(emitter *e, sf_restore_op_kind kind,
                        const sf_restore_plan_member *m,
                        const char *verification_kind)
{
    bool snapshot = kind == SF_RESTORE_OP_UPLOAD_SNAPSHOT ||
                    kind == SF_RESTORE_OP_LOAD_SNAPSHOT;

    emit(e, kind, m->member_order, m->source_canister, m->target_canister,
         m->role, snapshot ? m->source_snapshot.snapshot_id : NULL,
         snapshot ? m->source_snapshot.artifact_path : NULL,
         verification_kind);
}

static int generate(const sf_restore_plan *p, sf_restore_dry_run *d,
                    sf_error *err)
{
    const sf_restore_plan_member *m = p->members;
    const char *root_source = p->source_root_canister;
    const char *root_target = p->source_root_canister;
    size_t n = p->members_len, total = 4 * n, i, k;
    emitter e = {d, 0};

    for (i = 0; i < n; i++)
        total += m[i].verification_check_count;
    total += p->fleet_verification_check_count;
    if (total == 0)
        return SF_OK;
    d->operations = calloc(total, sizeof *d->operations);
    if (d->operations == NULL)
        return nomem(err);
    for (i = 0; i < n; i++)
        emit_member(&e, SF_RESTORE_OP_UPLOAD_SNAPSHOT, &m[i], NULL);
    /* Parents are stopped first and started last. */
    for (i = 0; i < n; i++)
        emit_member(&e, SF_RESTORE_OP_STOP_CANISTER, &m[i], NULL);
    for (i = 0; i < n; i++)
        emit_member(&e, SF_RESTORE_OP_LOAD_SNAPSHOT, &m[i], NULL);
    for (i = n; i-- > 0;)
        emit_member(&e, SF_RESTORE_OP_START_CANISTER, &m[i], NULL);
    for (i = 0; i < n; i++)
        for (k = 0; k < m[i].verification_check_count; k++)
            emit_member(&e, SF_RESTORE_OP_VERIFY_MEMBER, &m[i],
                        m[i].verification_checks[k].kind);
    /* Fleet checks run against the root's target, or the source root when
     * the root is not restored. */
    for (i = 0; i < n; i++) {
        if (strcmp(m[i].source_canister, p->source_root_canister) == 0) {
            root_source = m[i].source_canister;
            root_target = m[i].target_canister;
            break;
        }
    }
    for (k = 0; k < p->fleet_verification_check_count; k++)
        emit(&e, SF_RESTORE_OP_VERIFY_FLEET, d->operations_len, root_source,
             root_target, SF_RESTORE_FLEET_ROLE, NULL, NULL,
             p->fleet_verification_checks[k].kind);
    return e.oom ? nomem(err) : SF_OK;
}

int sf_restore_dry_run_build(const sf_restore_plan *plan,
                             const char *backup_root,
                             sf_restore_dry_run *out, sf_error *err)
{
    const sf_restore_operation_summary *os = &plan->operation_summary;
    size_t i;
    int oom = 0;

    memset(out, 0, sizeof *out);
    if (sf_restore_plan_validate(plan, err) != SF_OK)
        return SF_ERR;
    out->dry_run_version = SF_RESTORE_DRY_RUN_VERSION;
    out->backup_id = sf_strdup_opt(plan->backup_id, &oom);
    out->ready = plan->readiness_summary.ready;
    if (plan->readiness_summary.reason_count > 0) {
        out->readiness_reasons = calloc(plan->readiness_summary.reason_count,
                                        sizeof *out->readiness_reasons);
        if (out->readiness_reasons == NULL)
            goto nomem;
        out->readiness_reason_count = plan->readiness_summary.reason_count;
        for (i = 0; i < out->readiness_reason_count; i++)
            out->readiness_reasons[i] =
                sf_strdup_opt(plan->readiness_summary.reasons[i], &oom);
    }
    if (oom)
        goto nomem;
    out->member_count = plan->member_count;
    out->planned_canister_stops = os->planned_canister_stops;
    out->planned_canister_starts = os->planned_canister_starts;
    out->planned_snapshot_uploads = os->planned_snapshot_uploads;
    out->planned_snapshot_loads = os->planned_snapshot_loads;
    out->planned_verification_checks = os->planned_verification_checks;
    out->planned_operations = os->planned_operations;
    if (generate(plan, out, err) != SF_OK)
        goto fail;
    out->rendered_operations = out->operations_len;
    if (backup_root != NULL) {
        out->artifact_validation = calloc(1, sizeof *out->artifact_validation);
        if (out->artifact_validation == NULL)
            goto nomem;
        if (sf_restore_artifact_validate(plan, backup_root,
                                         out->artifact_validation,
                                         err) != SF_OK)
            goto fail;
    }
    return SF_OK;
nomem:
    nomem(err);
fail:
    sf_restore_dry_run_free(out);
    return SF_ERR;
}

/* ---- the dry-run JSON ---- */

static void write_validation(sf_jw *w, const sf_restore_artifact_validation *v)
{
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "backup_root", v->backup_root);
    sf_jw_kv_u64(w, "checked_members", v->checked_members);
    sf_jw_kv_bool(w, "artifacts_present", v->artifacts_present);
    sf_jw_kv_bool(w, "checksums_verified", v->checksums_verified);
    sf_jw_kv_u64(w, "members_with_expected_checksums",
                 v->members_with_expected_checksums);
    sf_jw_key(w, "checks");
    sf_jw_begin_array(w);
    for (i = 0; i < v->check_count; i++) {
        const sf_restore_artifact_check *c = &v->checks[i];

        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "source_canister", c->source_canister);
        sf_jw_kv_string(w, "target_canister", c->target_canister);
        sf_jw_kv_string(w, "snapshot_id", c->snapshot_id);
        sf_jw_kv_string(w, "artifact_path", c->artifact_path);
        sf_jw_kv_string(w, "resolved_path", c->resolved_path);
        sf_jw_kv_bool(w, "exists", c->exists);
        sf_jw_kv_string(w, "checksum_algorithm", c->checksum_algorithm);
        sf_jw_kv_string(w, "checksum_expected", c->checksum_expected);
        sf_jw_kv_string(w, "checksum_actual", c->checksum_actual);
        sf_jw_kv_bool(w, "checksum_verified", c->checksum_verified);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
    sf_jw_end_object(w);
}

int sf_restore_dry_run_write_json(const sf_restore_dry_run *d, sf_buf *out,
                                  sf_error *err)
{
    size_t start = out->len, i;
    sf_jw w;

    for (i = 0; i < d->operations_len; i++)
        if (sf_restore_op_kind_name(d->operations[i].kind) == NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "operation %zu kind out of range", i);
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "dry_run_version", d->dry_run_version);
    sf_jw_kv_string(&w, "backup_id", d->backup_id);
    sf_jw_kv_bool(&w, "ready", d->ready);
    sf_jw_kv_strv(&w, "readiness_reasons", d->readiness_reasons,
                  d->readiness_reason_count);
    sf_jw_kv_u64(&w, "member_count", d->member_count);
    sf_jw_kv_u64(&w, "planned_canister_stops", d->planned_canister_stops);
    sf_jw_kv_u64(&w, "planned_canister_starts", d->planned_canister_starts);
    sf_jw_kv_u64(&w, "planned_snapshot_uploads", d->planned_snapshot_uploads);
    sf_jw_kv_u64(&w, "planned_snapshot_loads", d->planned_snapshot_loads);
    sf_jw_kv_u64(&w, "planned_verification_checks",
                 d->planned_verification_checks);
    sf_jw_kv_u64(&w, "planned_operations", d->planned_operations);
    sf_jw_kv_u64(&w, "rendered_operations", d->rendered_operations);
    sf_jw_key(&w, "operation_counts");
    sf_restore_op_counts_write(&w, &d->operation_counts);
    sf_jw_key(&w, "artifact_validation");
    if (d->artifact_validation != NULL)
        write_validation(&w, d->artifact_validation);
    else
        sf_jw_null(&w);
    sf_jw_key(&w, "operations");
    sf_jw_begin_array(&w);
    for (i = 0; i < d->operations_len; i++) {
        const sf_restore_operation *op = &d->operations[i];

        sf_jw_begin_object(&w);
        sf_jw_kv_u64(&w, "sequence", op->sequence);
        sf_jw_kv_string(&w, "operation", sf_restore_op_kind_name(op->kind));
        sf_jw_kv_u64(&w, "member_order", op->member_order);
        sf_jw_kv_string(&w, "source_canister", op->source_canister);
        sf_jw_kv_string(&w, "target_canister", op->target_canister);
        sf_jw_kv_string(&w, "role", op->role);
        sf_jw_kv_string(&w, "snapshot_id", op->snapshot_id);
        sf_jw_kv_string(&w, "artifact_path", op->artifact_path);
        sf_jw_kv_string(&w, "verification_kind", op->verification_kind);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    if (sf_jw_finish(&w, err) != SF_OK) {
        out->len = start;
        if (out->data != NULL)
            out->data[start] = '\0';
        return SF_ERR;
    }
    return SF_OK;
}
