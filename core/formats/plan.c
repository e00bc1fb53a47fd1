/*
 * The backup plan: enum spellings, reading, the serde-pretty writer,
 * files, copies and the authority update a preflight makes. Validation is
 * in plan_validate.c, the builder in plan_build.c.
 */
#include "snapfleet/plan.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const evidence_names[] = {"proven", "declared", "unknown"};
static const char *const scope_names[] = {"member", "subtree",
                                          "non-root-fleet", "maintenance-root"};
static const char *const quiescence_names[] = {
    "crash-consistent", "root-coordinated", "app-quiesced"};
static const char *const phase_names[SF_PHASE_KIND_COUNT] = {
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
static const char *const phase_pascal_names[SF_PHASE_KIND_COUNT] = {
    "ValidateTopology",
    "ValidateControlAuthority",
    "ValidateSnapshotReadAuthority",
    "ValidateQuiescencePolicy",
    "Stop",
    "CreateSnapshot",
    "Start",
    "DownloadSnapshot",
    "VerifyArtifact",
    "FinalizeManifest"};
static const char *const control_names[] = {
    "unknown", "root-controller", "operator-controller",
    "alternate-controller"};
static const char *const read_names[] = {
    "unknown", "operator-controller", "snapshot-visibility",
    "root-configured-read", "root-mediated-transfer"};
static const char *const identity_names[] = {"fixed", "relocatable"};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *name_of(const char *const *names, size_t n, unsigned v)
{
    return v < n ? names[v] : NULL;
}

const char *sf_evidence_name(sf_evidence v)
{
    return name_of(evidence_names, COUNT(evidence_names), (unsigned)v);
}

const char *sf_scope_kind_name(sf_scope_kind v)
{
    return name_of(scope_names, COUNT(scope_names), (unsigned)v);
}

const char *sf_quiescence_policy_name(sf_quiescence_policy v)
{
    return name_of(quiescence_names, COUNT(quiescence_names), (unsigned)v);
}

const char *sf_phase_kind_name(sf_phase_kind v)
{
    return name_of(phase_names, COUNT(phase_names), (unsigned)v);
}

const char *sf_phase_kind_pascal_name(sf_phase_kind v)
{
    return name_of(phase_pascal_names, COUNT(phase_pascal_names), (unsigned)v);
}

const char *sf_control_source_name(sf_control_source v)
{
    return name_of(control_names, COUNT(control_names), (unsigned)v);
}

const char *sf_read_source_name(sf_read_source v)
{
    return name_of(read_names, COUNT(read_names), (unsigned)v);
}

const char *sf_identity_mode_name(sf_identity_mode v)
{
    return name_of(identity_names, COUNT(identity_names), (unsigned)v);
}

int sf_phase_kind_from_name(const char *name, sf_phase_kind *out)
{
    size_t i;

    for (i = 0; name != NULL && i < SF_PHASE_KIND_COUNT; i++) {
        if (strcmp(name, phase_names[i]) == 0) {
            *out = (sf_phase_kind)i;
            return SF_OK;
        }
    }
    return SF_ERR;
}

bool sf_phase_kind_is_preflight(sf_phase_kind k)
{
    return k == SF_PHASE_VALIDATE_TOPOLOGY ||
           k == SF_PHASE_VALIDATE_CONTROL_AUTHORITY ||
           k == SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY ||
           k == SF_PHASE_VALIDATE_QUIESCENCE_POLICY;
}

bool sf_phase_kind_is_plan_mutating(sf_phase_kind k)
{
    return k == SF_PHASE_STOP || k == SF_PHASE_CREATE_SNAPSHOT ||
           k == SF_PHASE_START || k == SF_PHASE_DOWNLOAD_SNAPSHOT;
}

/* ---- authorities ---- */

bool sf_control_authority_is_proven(const sf_control_authority *a)
{
    return a->evidence == SF_EVIDENCE_PROVEN && a->kind != SF_CONTROL_UNKNOWN;
}

bool sf_control_authority_is_proven_root_controller(
    const sf_control_authority *a)
{
    return a->evidence == SF_EVIDENCE_PROVEN &&
           a->kind == SF_CONTROL_ROOT_CONTROLLER;
}

bool sf_read_authority_is_proven(const sf_read_authority *a)
{
    return a->evidence == SF_EVIDENCE_PROVEN && a->source != SF_READ_UNKNOWN;
}

int sf_control_authority_copy(sf_control_authority *dst,
                              const sf_control_authority *src, sf_error *err)
{
    int oom = 0;

    memset(dst, 0, sizeof *dst);
    dst->kind = src->kind;
    dst->evidence = src->evidence;
    dst->controller = sf_strdup_opt(src->controller, &oom);
    dst->reason = sf_strdup_opt(src->reason, &oom);
    if (oom) {
        sf_control_authority_free(dst);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    return SF_OK;
}

void sf_control_authority_free(sf_control_authority *a)
{
    if (a == NULL)
        return;
    free(a->controller);
    free(a->reason);
    a->controller = NULL;
    a->reason = NULL;
}

/* ---- lifetime ---- */

static void target_free(sf_plan_target *t)
{
    free(t->canister_id);
    free(t->role);
    free(t->parent_canister_id);
    sf_control_authority_free(&t->control_authority);
    free(t->expected_module_hash);
    memset(t, 0, sizeof *t);
}

static void phase_free(sf_plan_phase *p)
{
    free(p->operation_id);
    free(p->target_canister_id);
    memset(p, 0, sizeof *p);
}

void sf_plan_free(sf_plan *plan)
{
    size_t i;

    if (plan == NULL)
        return;
    free(plan->plan_id);
    free(plan->run_id);
    free(plan->fleet);
    free(plan->network);
    free(plan->root_canister_id);
    free(plan->selected_subtree_root);
    free(plan->topology_hash_before_quiesce);
    for (i = 0; i < plan->target_count; i++)
        target_free(&plan->targets[i]);
    free(plan->targets);
    for (i = 0; i < plan->phase_count; i++)
        phase_free(&plan->phases[i]);
    free(plan->phases);
    memset(plan, 0, sizeof *plan);
}

int sf_plan_copy(sf_plan *dst, const sf_plan *src, sf_error *err)
{
    int oom = 0;
    size_t i;

    memset(dst, 0, sizeof *dst);
    dst->plan_id = sf_strdup_opt(src->plan_id, &oom);
    dst->run_id = sf_strdup_opt(src->run_id, &oom);
    dst->fleet = sf_strdup_opt(src->fleet, &oom);
    dst->network = sf_strdup_opt(src->network, &oom);
    dst->root_canister_id = sf_strdup_opt(src->root_canister_id, &oom);
    dst->selected_subtree_root =
        sf_strdup_opt(src->selected_subtree_root, &oom);
    dst->selected_scope_kind = src->selected_scope_kind;
    dst->include_descendants = src->include_descendants;
    dst->root_included = src->root_included;
    dst->requires_root_controller = src->requires_root_controller;
    dst->snapshot_read_authority = src->snapshot_read_authority;
    dst->quiescence_policy = src->quiescence_policy;
    dst->topology_hash_before_quiesce =
        sf_strdup_opt(src->topology_hash_before_quiesce, &oom);
    if (src->target_count > 0) {
        dst->targets = calloc(src->target_count, sizeof *dst->targets);
        if (dst->targets == NULL)
            goto nomem;
        dst->target_count = src->target_count;
    }
    for (i = 0; i < src->target_count; i++) {
        const sf_plan_target *s = &src->targets[i];
        sf_plan_target *d = &dst->targets[i];

        d->canister_id = sf_strdup_opt(s->canister_id, &oom);
        d->role = sf_strdup_opt(s->role, &oom);
        d->parent_canister_id = sf_strdup_opt(s->parent_canister_id, &oom);
        d->depth = s->depth;
        d->control_authority.kind = s->control_authority.kind;
        d->control_authority.evidence = s->control_authority.evidence;
        d->control_authority.controller =
            sf_strdup_opt(s->control_authority.controller, &oom);
        d->control_authority.reason =
            sf_strdup_opt(s->control_authority.reason, &oom);
        d->snapshot_read_authority = s->snapshot_read_authority;
        d->identity_mode = s->identity_mode;
        d->expected_module_hash =
            sf_strdup_opt(s->expected_module_hash, &oom);
    }
    if (src->phase_count > 0) {
        dst->phases = calloc(src->phase_count, sizeof *dst->phases);
        if (dst->phases == NULL)
            goto nomem;
        dst->phase_count = src->phase_count;
    }
    for (i = 0; i < src->phase_count; i++) {
        const sf_plan_phase *s = &src->phases[i];
        sf_plan_phase *d = &dst->phases[i];

        d->operation_id = sf_strdup_opt(s->operation_id, &oom);
        d->order = s->order;
        d->kind = s->kind;
        d->target_canister_id = sf_strdup_opt(s->target_canister_id, &oom);
    }
    if (!oom)
        return SF_OK;
nomem:
    sf_plan_free(dst);
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

size_t sf_plan_find_target(const sf_plan *plan, const char *canister_id)
{
    size_t i;

    for (i = 0; canister_id != NULL && i < plan->target_count; i++)
        if (plan->targets[i].canister_id != NULL &&
            strcmp(plan->targets[i].canister_id, canister_id) == 0)
            return i;
    return SIZE_MAX;
}

int sf_plan_set_target_authorities(sf_plan *plan, size_t index,
                                   const sf_control_authority *control,
                                   const sf_read_authority *read,
                                   sf_error *err)
{
    sf_control_authority copy;
    sf_plan_target *t;

    if (index >= plan->target_count)
        return sf_error_set(err, SF_EK_USAGE, "targets",
                            "plan has no target %zu", index);
    t = &plan->targets[index];
    if (control != NULL) {
        if (sf_control_authority_copy(&copy, control, err) != SF_OK)
            return SF_ERR;
        sf_control_authority_free(&t->control_authority);
        t->control_authority = copy;
    }
    if (read != NULL)
        t->snapshot_read_authority = *read;
    return SF_OK;
}

/* ---- reading ---- */

static int read_evidence(sf_jr *r, const cJSON *obj, sf_evidence *out)
{
    int v = 0;

    if (sf_jr_enum(r, obj, "evidence", evidence_names, COUNT(evidence_names),
                   &v) != SF_OK)
        return SF_ERR;
    *out = (sf_evidence)v;
    return SF_OK;
}

/* {"source": {"kind": ..., ...}, "evidence": ...}: serde's internally
 * tagged enum, the variant's own fields next to the tag. */
static int read_control(sf_jr *r, const cJSON *parent, const char *key,
                        sf_control_authority *a)
{
    const cJSON *obj, *src;
    size_t mark, inner;
    int kind = 0, rc = SF_ERR;

    if (sf_jr_object(r, parent, key, &obj) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, key);
    if (sf_jr_object(r, obj, "source", &src) != SF_OK)
        goto out;
    inner = sf_jr_push_key(r, "source");
    if (sf_jr_enum(r, src, "kind", control_names, COUNT(control_names),
                   &kind) != SF_OK)
        goto out;
    a->kind = (sf_control_source)kind;
    if (a->kind == SF_CONTROL_ALTERNATE_CONTROLLER &&
        (sf_jr_str(r, src, "controller", &a->controller) != SF_OK ||
         sf_jr_str(r, src, "reason", &a->reason) != SF_OK))
        goto out;
    sf_jr_pop(r, inner);
    if (read_evidence(r, obj, &a->evidence) != SF_OK)
        goto out;
    rc = SF_OK;
out:
    sf_jr_pop(r, mark);
    return rc;
}

static int read_read_authority(sf_jr *r, const cJSON *parent, const char *key,
                               sf_read_authority *a)
{
    const cJSON *obj;
    size_t mark;
    int src = 0, rc = SF_ERR;

    if (sf_jr_object(r, parent, key, &obj) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, key);
    if (sf_jr_enum(r, obj, "source", read_names, COUNT(read_names), &src) ==
            SF_OK &&
        read_evidence(r, obj, &a->evidence) == SF_OK) {
        a->source = (sf_read_source)src;
        rc = SF_OK;
    }
    sf_jr_pop(r, mark);
    return rc;
}

static int read_target(sf_jr *r, const cJSON *obj, sf_plan_target *t)
{
    int mode = 0;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_str(r, obj, "canister_id", &t->canister_id) != SF_OK ||
        sf_jr_str_opt(r, obj, "role", &t->role) != SF_OK ||
        sf_jr_str_opt(r, obj, "parent_canister_id", &t->parent_canister_id) !=
            SF_OK ||
        sf_jr_uint(r, obj, "depth", UINT32_MAX, &t->depth) != SF_OK ||
        read_control(r, obj, "control_authority", &t->control_authority) !=
            SF_OK ||
        read_read_authority(r, obj, "snapshot_read_authority",
                            &t->snapshot_read_authority) != SF_OK ||
        sf_jr_enum(r, obj, "identity_mode", identity_names,
                   COUNT(identity_names), &mode) != SF_OK ||
        sf_jr_str_opt(r, obj, "expected_module_hash",
                      &t->expected_module_hash) != SF_OK)
        return SF_ERR;
    t->identity_mode = (sf_identity_mode)mode;
    return SF_OK;
}

static int read_phase(sf_jr *r, const cJSON *obj, sf_plan_phase *p)
{
    int kind = 0;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_str(r, obj, "operation_id", &p->operation_id) != SF_OK ||
        sf_jr_uint(r, obj, "order", UINT32_MAX, &p->order) != SF_OK ||
        sf_jr_enum(r, obj, "kind", phase_names, SF_PHASE_KIND_COUNT, &kind) !=
            SF_OK ||
        sf_jr_str_opt(r, obj, "target_canister_id", &p->target_canister_id) !=
            SF_OK)
        return SF_ERR;
    p->kind = (sf_phase_kind)kind;
    return SF_OK;
}

/* Reads array `key` of `size`-byte elements with `each`. */
static int read_array(sf_jr *r, const cJSON *root, const char *key,
                      size_t size, void **items, size_t *count,
                      int (*each)(sf_jr *, const cJSON *, void *))
{
    const cJSON *arr, *c;
    size_t n, i, mark;
    char *base;

    if (sf_jr_array(r, root, key, &arr, &n) != SF_OK)
        return SF_ERR;
    if (n == 0)
        return SF_OK;
    base = calloc(n, size);
    if (base == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    *items = base;
    *count = n;
    mark = sf_jr_push_key(r, key);
    for (i = 0, c = arr->child; c != NULL; c = c->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (each(r, c, base + i * size) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int each_target(sf_jr *r, const cJSON *c, void *item)
{
    return read_target(r, c, item);
}

static int each_phase(sf_jr *r, const cJSON *c, void *item)
{
    return read_phase(r, c, item);
}

static int read_plan(sf_jr *r, const cJSON *root, sf_plan *p)
{
    int scope = 0, policy = 0, rc;
    void *items = NULL;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_str(r, root, "plan_id", &p->plan_id) != SF_OK ||
        sf_jr_str(r, root, "run_id", &p->run_id) != SF_OK ||
        sf_jr_str(r, root, "fleet", &p->fleet) != SF_OK ||
        sf_jr_str(r, root, "network", &p->network) != SF_OK ||
        sf_jr_str(r, root, "root_canister_id", &p->root_canister_id) !=
            SF_OK ||
        sf_jr_str_opt(r, root, "selected_subtree_root",
                      &p->selected_subtree_root) != SF_OK ||
        sf_jr_enum(r, root, "selected_scope_kind", scope_names,
                   COUNT(scope_names), &scope) != SF_OK ||
        sf_jr_bool(r, root, "include_descendants", &p->include_descendants) !=
            SF_OK ||
        sf_jr_bool(r, root, "root_included", &p->root_included) != SF_OK ||
        sf_jr_bool(r, root, "requires_root_controller",
                   &p->requires_root_controller) != SF_OK ||
        read_read_authority(r, root, "snapshot_read_authority",
                            &p->snapshot_read_authority) != SF_OK ||
        sf_jr_enum(r, root, "quiescence_policy", quiescence_names,
                   COUNT(quiescence_names), &policy) != SF_OK ||
        sf_jr_str(r, root, "topology_hash_before_quiesce",
                  &p->topology_hash_before_quiesce) != SF_OK)
        return SF_ERR;
    p->selected_scope_kind = (sf_scope_kind)scope;
    p->quiescence_policy = (sf_quiescence_policy)policy;
    /* The arrays are stored even when reading fails half way, so that
     * sf_plan_free releases what was read. */
    rc = read_array(r, root, "targets", sizeof *p->targets, &items,
                    &p->target_count, each_target);
    p->targets = items;
    if (rc != SF_OK)
        return SF_ERR;
    items = NULL;
    rc = read_array(r, root, "phases", sizeof *p->phases, &items,
                    &p->phase_count, each_phase);
    p->phases = items;
    return rc;
}

int sf_plan_parse(const char *text, size_t len, sf_plan *out, sf_error *err)
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
        sf_plan_free(out);
    return rc;
}

/* ---- writing ---- */

static void write_control(sf_jw *w, const sf_control_authority *a)
{
    sf_jw_begin_object(w);
    sf_jw_key(w, "source");
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "kind", sf_control_source_name(a->kind));
    if (a->kind == SF_CONTROL_ALTERNATE_CONTROLLER) {
        sf_jw_kv_string(w, "controller", a->controller);
        sf_jw_kv_string(w, "reason", a->reason);
    }
    sf_jw_end_object(w);
    sf_jw_kv_string(w, "evidence", sf_evidence_name(a->evidence));
    sf_jw_end_object(w);
}

static void write_read(sf_jw *w, const sf_read_authority *a)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "source", sf_read_source_name(a->source));
    sf_jw_kv_string(w, "evidence", sf_evidence_name(a->evidence));
    sf_jw_end_object(w);
}

static void write_target(sf_jw *w, const sf_plan_target *t)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "canister_id", t->canister_id);
    sf_jw_kv_string(w, "role", t->role);
    sf_jw_kv_string(w, "parent_canister_id", t->parent_canister_id);
    sf_jw_kv_u64(w, "depth", t->depth);
    sf_jw_key(w, "control_authority");
    write_control(w, &t->control_authority);
    sf_jw_key(w, "snapshot_read_authority");
    write_read(w, &t->snapshot_read_authority);
    sf_jw_kv_string(w, "identity_mode", sf_identity_mode_name(t->identity_mode));
    sf_jw_kv_string(w, "expected_module_hash", t->expected_module_hash);
    sf_jw_end_object(w);
}

static void write_phase(sf_jw *w, const sf_plan_phase *p)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "operation_id", p->operation_id);
    sf_jw_kv_u64(w, "order", p->order);
    sf_jw_kv_string(w, "kind", sf_phase_kind_name(p->kind));
    sf_jw_kv_string(w, "target_canister_id", p->target_canister_id);
    sf_jw_end_object(w);
}

/* Enum values are not checked by validate (a parsed plan cannot hold a bad
 * one); a hand-built plan with one must not be written as `null`. */
static int check_enums(const sf_plan *p, sf_error *err)
{
    size_t i;

    if (sf_scope_kind_name(p->selected_scope_kind) == NULL ||
        sf_quiescence_policy_name(p->quiescence_policy) == NULL ||
        sf_read_source_name(p->snapshot_read_authority.source) == NULL ||
        sf_evidence_name(p->snapshot_read_authority.evidence) == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "plan enum out of range");
    for (i = 0; i < p->target_count; i++) {
        const sf_plan_target *t = &p->targets[i];
        if (sf_control_source_name(t->control_authority.kind) == NULL ||
            sf_evidence_name(t->control_authority.evidence) == NULL ||
            sf_read_source_name(t->snapshot_read_authority.source) == NULL ||
            sf_evidence_name(t->snapshot_read_authority.evidence) == NULL ||
            sf_identity_mode_name(t->identity_mode) == NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "plan target %zu enum out of range", i);
    }
    for (i = 0; i < p->phase_count; i++)
        if (sf_phase_kind_name(p->phases[i].kind) == NULL)
            return sf_error_set(err, SF_EK_USAGE, "",
                                "plan phase %zu kind out of range", i);
    return SF_OK;
}

int sf_plan_write_json(const sf_plan *p, sf_buf *out, sf_error *err)
{
    sf_buf tmp;
    sf_jw w;
    size_t i;
    int rc;

    if (sf_plan_validate(p, err) != SF_OK || check_enums(p, err) != SF_OK)
        return SF_ERR;
    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "plan_id", p->plan_id);
    sf_jw_kv_string(&w, "run_id", p->run_id);
    sf_jw_kv_string(&w, "fleet", p->fleet);
    sf_jw_kv_string(&w, "network", p->network);
    sf_jw_kv_string(&w, "root_canister_id", p->root_canister_id);
    sf_jw_kv_string(&w, "selected_subtree_root", p->selected_subtree_root);
    sf_jw_kv_string(&w, "selected_scope_kind",
                    sf_scope_kind_name(p->selected_scope_kind));
    sf_jw_kv_bool(&w, "include_descendants", p->include_descendants);
    sf_jw_kv_bool(&w, "root_included", p->root_included);
    sf_jw_kv_bool(&w, "requires_root_controller",
                  p->requires_root_controller);
    sf_jw_key(&w, "snapshot_read_authority");
    write_read(&w, &p->snapshot_read_authority);
    sf_jw_kv_string(&w, "quiescence_policy",
                    sf_quiescence_policy_name(p->quiescence_policy));
    sf_jw_kv_string(&w, "topology_hash_before_quiesce",
                    p->topology_hash_before_quiesce);
    sf_jw_key(&w, "targets");
    sf_jw_begin_array(&w);
    for (i = 0; i < p->target_count; i++)
        write_target(&w, &p->targets[i]);
    sf_jw_end_array(&w);
    sf_jw_key(&w, "phases");
    sf_jw_begin_array(&w);
    for (i = 0; i < p->phase_count; i++)
        write_phase(&w, &p->phases[i]);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    rc = sf_jw_finish(&w, err);
    if (rc == SF_OK && sf_buf_append(out, sf_buf_cstr(&tmp), tmp.len) != SF_OK)
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sf_buf_free(&tmp);
    return rc;
}

int sf_plan_read_file(const char *path, sf_plan *out, sf_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_plan_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_plan_validate(out, err) != SF_OK) {
        sf_plan_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_plan_write_file(const char *path, const sf_plan *plan, sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_plan_write_json(plan, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}
