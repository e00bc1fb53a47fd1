/*
 * The restore plan document: lifetime, reading, snapfleet's consistency
 * check, the serde-pretty writer and files. The mapping document is
 * restore_mapping.c, canic's planner restore_plan_build.c.
 */
#include "snapfleet/restore_plan.h"
#include "formats/restore_plan_internal.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const identity_names[] = {"fixed", "relocatable"};
static const char *const relationship_names[] = {SF_RESTORE_RELATIONSHIP};

void sf_restore_plan_free(sf_restore_plan *p)
{
    size_t i;

    if (p == NULL)
        return;
    free(p->backup_id);
    free(p->source_environment);
    free(p->source_root_canister);
    free(p->topology_hash);
    sf_strv_free(p->readiness_summary.reasons,
                 p->readiness_summary.reason_count);
    checks_free(p->fleet_verification_checks,
                p->fleet_verification_check_count);
    for (i = 0; i < p->members_len; i++)
        member_free(&p->members[i]);
    free(p->members);
    memset(p, 0, sizeof *p);
}

void sf_restore_mapping_free(sf_restore_mapping *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->member_count; i++) {
        free(m->members[i].source_canister);
        free(m->members[i].target_canister);
    }
    free(m->members);
    memset(m, 0, sizeof *m);
}

/* ---- reading the plan ---- */

static int read_check(sf_jr *r, const cJSON *v, sf_manifest_check *c)
{
    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "kind", &c->kind) != SF_OK ||
        sf_jr_str_array(r, v, "roles", &c->roles, &c->role_count) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

/* An array of checks at `key`; absent reads as [] when `optional`. */
static int read_checks(sf_jr *r, const cJSON *obj, const char *key,
                       bool optional, sf_manifest_check **out, size_t *count)
{
    const cJSON *arr, *item;
    size_t n, i = 0, mark;

    *out = NULL;
    *count = 0;
    if (optional && cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
        return SF_OK;
    if (sf_jr_array(r, obj, key, &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        *out = calloc(n, sizeof **out);
        if (*out == NULL)
            return read_nomem(r);
        *count = n;
    }
    mark = sf_jr_push_key(r, key);
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);
        if (read_check(r, item, &(*out)[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_snapshot(sf_jr *r, const cJSON *obj, sf_manifest_snapshot *s)
{
    const cJSON *v;
    size_t mark;

    if (sf_jr_object(r, obj, "source_snapshot", &v) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "source_snapshot");
    if (sf_jr_str(r, v, "snapshot_id", &s->snapshot_id) != SF_OK ||
        sf_jr_str_opt(r, v, "module_hash", &s->module_hash) != SF_OK ||
        sf_jr_str_opt(r, v, "code_version", &s->code_version) != SF_OK ||
        sf_jr_str(r, v, "artifact_path", &s->artifact_path) != SF_OK ||
        sf_jr_str(r, v, "checksum_algorithm", &s->checksum_algorithm) !=
            SF_OK ||
        sf_jr_str_opt(r, v, "checksum", &s->checksum) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_dependency(sf_jr *r, const cJSON *obj,
                           sf_restore_dependency **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj,
                                                      "ordering_dependency");
    size_t mark;
    int rel;

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return SF_OK;
    mark = sf_jr_push_key(r, "ordering_dependency");
    if (sf_jr_expect_object(r, v) != SF_OK)
        return SF_ERR;
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return read_nomem(r);
    if (sf_jr_str(r, v, "source_canister", &(*out)->source_canister) !=
            SF_OK ||
        sf_jr_str(r, v, "target_canister", &(*out)->target_canister) !=
            SF_OK ||
        sf_jr_enum(r, v, "relationship", relationship_names,
                   COUNT(relationship_names), &rel) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_member(sf_jr *r, const cJSON *v, sf_restore_plan_member *m)
{
    int mode;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "source_canister", &m->source_canister) != SF_OK ||
        sf_jr_str(r, v, "target_canister", &m->target_canister) != SF_OK ||
        sf_jr_str(r, v, "role", &m->role) != SF_OK ||
        sf_jr_str_opt(r, v, "parent_source_canister",
                      &m->parent_source_canister) != SF_OK ||
        sf_jr_str_opt(r, v, "parent_target_canister",
                      &m->parent_target_canister) != SF_OK ||
        read_dependency(r, v, &m->ordering_dependency) != SF_OK ||
        sf_jr_uint(r, v, "member_order", (uint64_t)SIZE_MAX,
                   &m->member_order) != SF_OK ||
        sf_jr_enum(r, v, "identity_mode", identity_names,
                   COUNT(identity_names), &mode) != SF_OK)
        return SF_ERR;
    m->identity_mode = (sf_manifest_identity_mode)mode;
    if (read_checks(r, v, "verification_checks", false,
                    &m->verification_checks,
                    &m->verification_check_count) != SF_OK)
        return SF_ERR;
    return read_snapshot(r, v, &m->source_snapshot);
}

/* Opens the object at key and pushes its path. */
static int open_object(sf_jr *r, const cJSON *obj, const char *key,
                       const cJSON **out, size_t *mark)
{
    if (sf_jr_object(r, obj, key, out) != SF_OK)
        return SF_ERR;
    *mark = sf_jr_push_key(r, key);
    return SF_OK;
}

#define USIZE ((uint64_t)SIZE_MAX)

/* serde(default) integers: absent reads as 0, null is a type error. */
static int read_uint_default(sf_jr *r, const cJSON *obj, const char *key,
                             uint64_t *out)
{
    *out = 0;
    if (cJSON_GetObjectItemCaseSensitive(obj, key) == NULL)
        return SF_OK;
    return sf_jr_uint(r, obj, key, USIZE, out);
}

static int read_summaries(sf_jr *r, const cJSON *root, sf_restore_plan *p)
{
    const cJSON *o;
    size_t mark;

    if (open_object(r, root, "identity_summary", &o, &mark) != SF_OK ||
        sf_jr_bool(r, o, "mapping_supplied",
                   &p->identity_summary.mapping_supplied) != SF_OK ||
        sf_jr_bool(r, o, "all_sources_mapped",
                   &p->identity_summary.all_sources_mapped) != SF_OK ||
        sf_jr_uint(r, o, "fixed_members", USIZE,
                   &p->identity_summary.fixed_members) != SF_OK ||
        sf_jr_uint(r, o, "relocatable_members", USIZE,
                   &p->identity_summary.relocatable_members) != SF_OK ||
        sf_jr_uint(r, o, "in_place_members", USIZE,
                   &p->identity_summary.in_place_members) != SF_OK ||
        sf_jr_uint(r, o, "mapped_members", USIZE,
                   &p->identity_summary.mapped_members) != SF_OK ||
        sf_jr_uint(r, o, "remapped_members", USIZE,
                   &p->identity_summary.remapped_members) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    if (open_object(r, root, "snapshot_summary", &o, &mark) != SF_OK ||
        sf_jr_bool(r, o, "all_members_have_module_hash",
                   &p->snapshot_summary.all_members_have_module_hash) !=
            SF_OK ||
        sf_jr_bool(r, o, "all_members_have_code_version",
                   &p->snapshot_summary.all_members_have_code_version) !=
            SF_OK ||
        sf_jr_bool(r, o, "all_members_have_checksum",
                   &p->snapshot_summary.all_members_have_checksum) != SF_OK ||
        sf_jr_uint(r, o, "members_with_module_hash", USIZE,
                   &p->snapshot_summary.members_with_module_hash) != SF_OK ||
        sf_jr_uint(r, o, "members_with_code_version", USIZE,
                   &p->snapshot_summary.members_with_code_version) != SF_OK ||
        sf_jr_uint(r, o, "members_with_checksum", USIZE,
                   &p->snapshot_summary.members_with_checksum) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    if (open_object(r, root, "verification_summary", &o, &mark) != SF_OK ||
        sf_jr_bool(r, o, "verification_required",
                   &p->verification_summary.verification_required) != SF_OK ||
        sf_jr_bool(r, o, "all_members_have_checks",
                   &p->verification_summary.all_members_have_checks) !=
            SF_OK ||
        sf_jr_uint(r, o, "fleet_checks", USIZE,
                   &p->verification_summary.fleet_checks) != SF_OK ||
        sf_jr_uint(r, o, "member_check_groups", USIZE,
                   &p->verification_summary.member_check_groups) != SF_OK ||
        sf_jr_uint(r, o, "member_checks", USIZE,
                   &p->verification_summary.member_checks) != SF_OK ||
        sf_jr_uint(r, o, "members_with_checks", USIZE,
                   &p->verification_summary.members_with_checks) != SF_OK ||
        sf_jr_uint(r, o, "total_checks", USIZE,
                   &p->verification_summary.total_checks) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    if (open_object(r, root, "readiness_summary", &o, &mark) != SF_OK ||
        sf_jr_bool(r, o, "ready", &p->readiness_summary.ready) != SF_OK ||
        sf_jr_str_array(r, o, "reasons", &p->readiness_summary.reasons,
                        &p->readiness_summary.reason_count) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    /* The stop and start counters came later: absent reads as 0. */
    if (open_object(r, root, "operation_summary", &o, &mark) != SF_OK ||
        read_uint_default(r, o, "planned_canister_stops",
                          &p->operation_summary.planned_canister_stops) !=
            SF_OK ||
        read_uint_default(r, o, "planned_canister_starts",
                          &p->operation_summary.planned_canister_starts) !=
            SF_OK)
        return SF_ERR;
    if (sf_jr_uint(r, o, "planned_snapshot_uploads", USIZE,
                   &p->operation_summary.planned_snapshot_uploads) != SF_OK ||
        sf_jr_uint(r, o, "planned_snapshot_loads", USIZE,
                   &p->operation_summary.planned_snapshot_loads) != SF_OK ||
        sf_jr_uint(r, o, "planned_verification_checks", USIZE,
                   &p->operation_summary.planned_verification_checks) !=
            SF_OK ||
        sf_jr_uint(r, o, "planned_operations", USIZE,
                   &p->operation_summary.planned_operations) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    if (open_object(r, root, "ordering_summary", &o, &mark) != SF_OK ||
        sf_jr_uint(r, o, "ordered_members", USIZE,
                   &p->ordering_summary.ordered_members) != SF_OK ||
        sf_jr_uint(r, o, "dependency_free_members", USIZE,
                   &p->ordering_summary.dependency_free_members) != SF_OK ||
        sf_jr_uint(r, o, "parent_edges", USIZE,
                   &p->ordering_summary.parent_edges) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_plan(sf_jr *r, const cJSON *root, sf_restore_plan *p)
{
    const cJSON *arr, *item;
    size_t n, i = 0, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_str(r, root, "backup_id", &p->backup_id) != SF_OK ||
        sf_jr_str(r, root, "source_environment", &p->source_environment) !=
            SF_OK ||
        sf_jr_str(r, root, "source_root_canister",
                  &p->source_root_canister) != SF_OK ||
        sf_jr_str(r, root, "topology_hash", &p->topology_hash) != SF_OK ||
        sf_jr_uint(r, root, "member_count", USIZE, &p->member_count) !=
            SF_OK ||
        read_summaries(r, root, p) != SF_OK ||
        read_checks(r, root, "fleet_verification_checks", true,
                    &p->fleet_verification_checks,
                    &p->fleet_verification_check_count) != SF_OK ||
        sf_jr_array(r, root, "members", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        p->members = calloc(n, sizeof *p->members);
        if (p->members == NULL)
            return read_nomem(r);
        p->members_len = n;
    }
    mark = sf_jr_push_key(r, "members");
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);
        if (read_member(r, item, &p->members[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

int sf_restore_plan_parse(const char *text, size_t len, sf_restore_plan *out,
                          sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_plan(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_restore_plan_free(out);
    return rc;
}

/* ---- snapfleet's plan check ---- */

static int plan_required(const char *name, const char *field,
                         const char *value, sf_error *err)
{
    if (sf_str_is_blank(value))
        return sf_error_set(err, EK_MISSING_FIELD, field,
                            "restore plan field %s is required", name);
    return SF_OK;
}

static int member_check(const sf_restore_plan_member *m, size_t i,
                        sf_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
    } texts[] = {
        {"source_canister", offsetof(sf_restore_plan_member, source_canister)},
        {"target_canister", offsetof(sf_restore_plan_member, target_canister)},
        {"role", offsetof(sf_restore_plan_member, role)},
        {"source_snapshot.snapshot_id",
         offsetof(sf_restore_plan_member, source_snapshot.snapshot_id)},
        {"source_snapshot.artifact_path",
         offsetof(sf_restore_plan_member, source_snapshot.artifact_path)},
        {"source_snapshot.checksum_algorithm",
         offsetof(sf_restore_plan_member, source_snapshot.checksum_algorithm)},
    };
    char field[SF_ERROR_FIELD_MAX], name[64];
    size_t k;

    for (k = 0; k < COUNT(texts); k++) {
        const char *v = *(char *const *)((const char *)m + texts[k].offset);
        snprintf(field, sizeof field, "members[%zu].%s", i, texts[k].name);
        snprintf(name, sizeof name, "members[].%s", texts[k].name);
        if (plan_required(name, field, v, err) != SF_OK)
            return SF_ERR;
    }
    for (k = 0; k < m->verification_check_count; k++) {
        snprintf(field, sizeof field,
                 "members[%zu].verification_checks[%zu].kind", i, k);
        if (plan_required("members[].verification_checks[].kind", field,
                          m->verification_checks[k].kind, err) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_plan_validate(const sf_restore_plan *p, sf_error *err)
{
    str_key *keys;
    bool *repeat;
    size_t i, nk;
    int rc = SF_OK;

    if (plan_required("backup_id", "backup_id", p->backup_id, err) != SF_OK ||
        plan_required("source_environment", "source_environment",
                      p->source_environment, err) != SF_OK ||
        plan_required("source_root_canister", "source_root_canister",
                      p->source_root_canister, err) != SF_OK ||
        plan_required("topology_hash", "topology_hash", p->topology_hash,
                      err) != SF_OK)
        return SF_ERR;
    if (p->member_count != p->members_len)
        return sf_error_set(err, EK_COUNT_MISMATCH, "member_count",
                            "restore plan count member_count mismatch: "
                            "reported=%llu, actual=%zu",
                            ULL(p->member_count), p->members_len);
    for (i = 0; i < p->fleet_verification_check_count; i++) {
        char field[SF_ERROR_FIELD_MAX];
        snprintf(field, sizeof field, "fleet_verification_checks[%zu].kind",
                 i);
        if (plan_required("fleet_verification_checks[].kind", field,
                          p->fleet_verification_checks[i].kind, err) != SF_OK)
            return SF_ERR;
    }
    for (i = 0; i < p->members_len; i++)
        if (member_check(&p->members[i], i, err) != SF_OK)
            return SF_ERR;
    if (p->members_len == 0)
        return SF_OK;
    keys = index_build(p->members, p->members_len, sizeof *p->members,
                       offsetof(sf_restore_plan_member, target_canister), &nk);
    repeat = calloc(p->members_len, sizeof *repeat);
    if (keys == NULL || repeat == NULL) {
        free(keys);
        free(repeat);
        return nomem(err);
    }
    index_mark_repeats(keys, nk, repeat);
    for (i = 0; i < p->members_len; i++) {
        if (repeat[i]) {
            char field[SF_ERROR_FIELD_MAX];
            snprintf(field, sizeof field, "members[%zu].target_canister", i);
            rc = sf_error_set(err, EK_DUP_PLAN_TARGET, field,
                              "restore plan contains duplicate target "
                              "canister %s",
                              p->members[i].target_canister);
            break;
        }
    }
    free(keys);
    free(repeat);
    return rc;
}

/* ---- writing the plan ---- */

static void write_member(sf_jw *w, const sf_restore_plan_member *m)
{
    const sf_manifest_snapshot *s = &m->source_snapshot;

    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "source_canister", m->source_canister);
    sf_jw_kv_string(w, "target_canister", m->target_canister);
    sf_jw_kv_string(w, "role", m->role);
    sf_jw_kv_string(w, "parent_source_canister", m->parent_source_canister);
    sf_jw_kv_string(w, "parent_target_canister", m->parent_target_canister);
    sf_jw_key(w, "ordering_dependency");
    if (m->ordering_dependency == NULL) {
        sf_jw_null(w);
    } else {
        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "source_canister",
                        m->ordering_dependency->source_canister);
        sf_jw_kv_string(w, "target_canister",
                        m->ordering_dependency->target_canister);
        sf_jw_kv_string(w, "relationship", SF_RESTORE_RELATIONSHIP);
        sf_jw_end_object(w);
    }
    sf_jw_kv_u64(w, "member_order", m->member_order);
    sf_jw_kv_string(w, "identity_mode",
                    sf_manifest_identity_mode_name(m->identity_mode));
    sf_manifest_checks_write(w, "verification_checks", m->verification_checks,
                 m->verification_check_count);
    sf_jw_key(w, "source_snapshot");
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "snapshot_id", s->snapshot_id);
    sf_jw_kv_string(w, "module_hash", s->module_hash);
    sf_jw_kv_string(w, "code_version", s->code_version);
    sf_jw_kv_string(w, "artifact_path", s->artifact_path);
    sf_jw_kv_string(w, "checksum_algorithm", s->checksum_algorithm);
    sf_jw_kv_string(w, "checksum", s->checksum);
    sf_jw_end_object(w);
    sf_jw_end_object(w);
}

static void write_plan(sf_jw *w, const sf_restore_plan *p)
{
    const sf_restore_identity_summary *id = &p->identity_summary;
    const sf_restore_snapshot_summary *ss = &p->snapshot_summary;
    const sf_restore_verification_summary *vs = &p->verification_summary;
    const sf_restore_operation_summary *os = &p->operation_summary;
    const sf_restore_ordering_summary *ord = &p->ordering_summary;
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "backup_id", p->backup_id);
    sf_jw_kv_string(w, "source_environment", p->source_environment);
    sf_jw_kv_string(w, "source_root_canister", p->source_root_canister);
    sf_jw_kv_string(w, "topology_hash", p->topology_hash);
    sf_jw_kv_u64(w, "member_count", p->member_count);
    sf_jw_key(w, "identity_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_bool(w, "mapping_supplied", id->mapping_supplied);
    sf_jw_kv_bool(w, "all_sources_mapped", id->all_sources_mapped);
    sf_jw_kv_u64(w, "fixed_members", id->fixed_members);
    sf_jw_kv_u64(w, "relocatable_members", id->relocatable_members);
    sf_jw_kv_u64(w, "in_place_members", id->in_place_members);
    sf_jw_kv_u64(w, "mapped_members", id->mapped_members);
    sf_jw_kv_u64(w, "remapped_members", id->remapped_members);
    sf_jw_end_object(w);
    sf_jw_key(w, "snapshot_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_bool(w, "all_members_have_module_hash",
                  ss->all_members_have_module_hash);
    sf_jw_kv_bool(w, "all_members_have_code_version",
                  ss->all_members_have_code_version);
    sf_jw_kv_bool(w, "all_members_have_checksum",
                  ss->all_members_have_checksum);
    sf_jw_kv_u64(w, "members_with_module_hash", ss->members_with_module_hash);
    sf_jw_kv_u64(w, "members_with_code_version",
                 ss->members_with_code_version);
    sf_jw_kv_u64(w, "members_with_checksum", ss->members_with_checksum);
    sf_jw_end_object(w);
    sf_jw_key(w, "verification_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_bool(w, "verification_required", vs->verification_required);
    sf_jw_kv_bool(w, "all_members_have_checks", vs->all_members_have_checks);
    sf_jw_kv_u64(w, "fleet_checks", vs->fleet_checks);
    sf_jw_kv_u64(w, "member_check_groups", vs->member_check_groups);
    sf_jw_kv_u64(w, "member_checks", vs->member_checks);
    sf_jw_kv_u64(w, "members_with_checks", vs->members_with_checks);
    sf_jw_kv_u64(w, "total_checks", vs->total_checks);
    sf_jw_end_object(w);
    sf_jw_key(w, "readiness_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_bool(w, "ready", p->readiness_summary.ready);
    sf_jw_kv_strv(w, "reasons", p->readiness_summary.reasons,
                  p->readiness_summary.reason_count);
    sf_jw_end_object(w);
    sf_jw_key(w, "operation_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "planned_canister_stops", os->planned_canister_stops);
    sf_jw_kv_u64(w, "planned_canister_starts", os->planned_canister_starts);
    sf_jw_kv_u64(w, "planned_snapshot_uploads", os->planned_snapshot_uploads);
    sf_jw_kv_u64(w, "planned_snapshot_loads", os->planned_snapshot_loads);
    sf_jw_kv_u64(w, "planned_verification_checks",
                 os->planned_verification_checks);
    sf_jw_kv_u64(w, "planned_operations", os->planned_operations);
    sf_jw_end_object(w);
    sf_jw_key(w, "ordering_summary");
    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "ordered_members", ord->ordered_members);
    sf_jw_kv_u64(w, "dependency_free_members", ord->dependency_free_members);
    sf_jw_kv_u64(w, "parent_edges", ord->parent_edges);
    sf_jw_end_object(w);
    sf_manifest_checks_write(w, "fleet_verification_checks", p->fleet_verification_checks,
                 p->fleet_verification_check_count);
    sf_jw_key(w, "members");
    sf_jw_begin_array(w);
    for (i = 0; i < p->members_len; i++)
        write_member(w, &p->members[i]);
    sf_jw_end_array(w);
    sf_jw_end_object(w);
}

int sf_restore_plan_write_json(const sf_restore_plan *p, sf_buf *out,
                               sf_error *err)
{
    size_t start = out->len, i;
    sf_jw w;

    if (sf_restore_plan_validate(p, err) != SF_OK)
        return SF_ERR;
    /* A hand-built plan with an identity mode out of range must not be
     * written as null. */
    for (i = 0; i < p->members_len; i++)
        if (sf_manifest_identity_mode_name(p->members[i].identity_mode) ==
            NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "member %zu identity mode out of range", i);
    sf_jw_init(&w, out);
    write_plan(&w, p);
    if (sf_jw_finish(&w, err) != SF_OK) {
        buf_truncate(out, start);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_plan_read_file(const char *path, sf_restore_plan *out,
                              sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_restore_plan_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_restore_plan_validate(out, err) != SF_OK) {
        sf_restore_plan_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_restore_plan_write_file(const char *path, const sf_restore_plan *p,
                               sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_restore_plan_write_json(p, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}
