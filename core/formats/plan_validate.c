/*
 * canic's BackupPlan::validate and validate_for_execution (spec 1.6-1.7):
 * the rules in canic's order, first failure wins. Messages use canic's
 * field names ("targets[].canister_id"); the error's field is the concrete
 * JSON path ("targets[2].canister_id").
 */
#include "snapfleet/plan.h"

#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_EMPTY_FIELD "empty-field"
#define EK_INVALID_PRINCIPAL "invalid-principal"
#define EK_MAINTENANCE_EXCLUDES_ROOT "maintenance-root-excludes-root"
#define EK_ROOT_WITHOUT_MAINTENANCE "root-included-without-maintenance"
#define EK_EMPTY_TARGETS "empty-targets"
#define EK_DUPLICATE_TARGET "duplicate-target"
#define EK_EMPTY_PHASES "empty-phases"
#define EK_ORDER_MISMATCH "operation-order-mismatch"
#define EK_DUPLICATE_OPERATION "duplicate-operation-id"
#define EK_UNKNOWN_TARGET "unknown-operation-target"
#define EK_NON_ROOT_SELECTED "non-root-fleet-has-selected-root"
#define EK_SELECTED_NOT_IN_TARGETS "selected-root-not-in-targets"
#define EK_MISSING_PREFLIGHT "missing-preflight"
#define EK_MUTATION_BEFORE_PREFLIGHT "mutation-before-preflight"
#define EK_UNPROVEN_CONTROL "unproven-control-authority"
#define EK_UNPROVEN_READ "unproven-target-snapshot-read-authority"
#define EK_MISSING_ROOT_CONTROLLER "missing-root-controller"

static const char *text_or_empty(const char *s)
{
    return s != NULL ? s : "";
}

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static int nonempty(const char *name, const char *field, const char *value,
                    sf_error *err)
{
    if (sf_str_is_blank(value))
        return sf_error_set(err, EK_EMPTY_FIELD, field,
                            "field %s must not be empty", name);
    return SF_OK;
}

static int optional_nonempty(const char *name, const char *field,
                             const char *value, sf_error *err)
{
    return value == NULL ? SF_OK : nonempty(name, field, value, err);
}

static int principal(const char *name, const char *field, const char *value,
                     sf_error *err)
{
    if (value == NULL || !sf_principal_is_valid(value))
        return sf_error_set(err, EK_INVALID_PRINCIPAL, field,
                            "field %s must be a valid principal: %s", name,
                            text_or_empty(value));
    return SF_OK;
}

static int optional_principal(const char *name, const char *field,
                              const char *value, sf_error *err)
{
    return value == NULL ? SF_OK : principal(name, field, value, err);
}

/* ---- sets of ids ---- */

typedef struct id_key {
    const char *id;
    size_t index;
} id_key;

static int id_key_cmp(const void *pa, const void *pb)
{
    const id_key *a = pa, *b = pb;
    int c = strcmp(a->id, b->id);

    if (c == 0)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

/* Sorts the ids (with their positions) and sets dup[i] when an earlier
 * position holds the same id: canic inserts each id into a set as its loop
 * reaches it, so the first repeat in array order is the one reported.
 * Sorting keeps large fleets O(n log n). */
static int sort_ids(const char **ids, size_t n, id_key **keys_out,
                    bool **dup_out, sf_error *err)
{
    id_key *keys = malloc((n ? n : 1) * sizeof *keys);
    bool *dup = calloc(n ? n : 1, sizeof *dup);
    size_t i;

    if (keys == NULL || dup == NULL) {
        free(keys);
        free(dup);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < n; i++) {
        keys[i].id = text_or_empty(ids[i]);
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, id_key_cmp);
    for (i = 1; i < n; i++)
        if (strcmp(keys[i - 1].id, keys[i].id) == 0)
            dup[keys[i].index] = true;
    *keys_out = keys;
    *dup_out = dup;
    return SF_OK;
}

static bool id_in(const id_key *keys, size_t n, const char *id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(keys[mid].id, id);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* ---- the rules ---- */

static int validate_root_scope(const sf_plan *p, sf_error *err)
{
    if (p->selected_scope_kind == SF_SCOPE_MAINTENANCE_ROOT) {
        if (!p->root_included)
            return sf_error_set(err, EK_MAINTENANCE_EXCLUDES_ROOT,
                                "root_included",
                                "maintenance root scope must include root");
        return SF_OK;
    }
    if (p->root_included)
        return sf_error_set(err, EK_ROOT_WITHOUT_MAINTENANCE, "root_included",
                            "normal backup scope must not include root");
    return SF_OK;
}

static int validate_control(const sf_control_authority *a, size_t i,
                            sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];

    if (a->kind != SF_CONTROL_ALTERNATE_CONTROLLER)
        return SF_OK;
    snprintf(field, sizeof field,
             "targets[%zu].control_authority.source.controller", i);
    if (principal("targets[].control_authority.controller", field,
                  a->controller, err) != SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field,
             "targets[%zu].control_authority.source.reason", i);
    return nonempty("targets[].control_authority.reason", field, a->reason,
                    err);
}

static int validate_target(const sf_plan_target *t, size_t i, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];

    snprintf(field, sizeof field, "targets[%zu].canister_id", i);
    if (principal("targets[].canister_id", field, t->canister_id, err) !=
        SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "targets[%zu].parent_canister_id", i);
    if (optional_principal("targets[].parent_canister_id", field,
                           t->parent_canister_id, err) != SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "targets[%zu].role", i);
    if (optional_nonempty("targets[].role", field, t->role, err) != SF_OK)
        return SF_ERR;
    snprintf(field, sizeof field, "targets[%zu].expected_module_hash", i);
    if (optional_nonempty("targets[].expected_module_hash", field,
                          t->expected_module_hash, err) != SF_OK)
        return SF_ERR;
    return validate_control(&t->control_authority, i, err);
}

static int validate_phases(const sf_plan *p, const id_key *targets,
                           sf_error *err)
{
    const char **ids;
    id_key *keys = NULL;
    bool *dup = NULL;
    char field[SF_ERROR_FIELD_MAX];
    size_t i, n = p->phase_count;
    int rc = SF_OK;

    if (n == 0)
        return sf_error_set(err, EK_EMPTY_PHASES, "phases",
                            "backup plan has no phases");
    ids = malloc(n * sizeof *ids);
    if (ids == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < n; i++)
        ids[i] = p->phases[i].operation_id;
    rc = sort_ids(ids, n, &keys, &dup, err);
    free(ids);
    if (rc != SF_OK)
        return SF_ERR;
    for (i = 0; i < n && rc == SF_OK; i++) {
        const sf_plan_phase *ph = &p->phases[i];
        /* canic compares with the index as a u32, saturating. */
        uint64_t expected = i > UINT32_MAX ? UINT32_MAX : (uint64_t)i;

        snprintf(field, sizeof field, "phases[%zu].operation_id", i);
        rc = nonempty("phases[].operation_id", field, ph->operation_id, err);
        if (rc != SF_OK)
            break;
        if (ph->order != expected) {
            snprintf(field, sizeof field, "phases[%zu].order", i);
            rc = sf_error_set(err, EK_ORDER_MISMATCH, field,
                              "operation %s has order %llu, expected %llu",
                              ph->operation_id,
                              (unsigned long long)ph->order,
                              (unsigned long long)expected);
            break;
        }
        if (dup[i]) {
            rc = sf_error_set(err, EK_DUPLICATE_OPERATION, field,
                              "duplicate backup operation id %s",
                              ph->operation_id);
            break;
        }
        if (ph->target_canister_id != NULL) {
            snprintf(field, sizeof field, "phases[%zu].target_canister_id", i);
            rc = principal("phases[].target_canister_id", field,
                           ph->target_canister_id, err);
            if (rc == SF_OK &&
                !id_in(targets, p->target_count, ph->target_canister_id))
                rc = sf_error_set(err, EK_UNKNOWN_TARGET, field,
                                  "operation %s targets unknown canister %s",
                                  ph->operation_id, ph->target_canister_id);
        }
    }
    free(keys);
    free(dup);
    return rc;
}

/* Targets, then (as canic does from inside its target check) the phases,
 * which need the set of target ids. */
static int validate_targets_and_phases(const sf_plan *p, sf_error *err)
{
    const char **ids;
    id_key *keys = NULL;
    bool *dup = NULL;
    char field[SF_ERROR_FIELD_MAX];
    size_t i, n = p->target_count;
    int rc = SF_OK;

    if (n == 0)
        return sf_error_set(err, EK_EMPTY_TARGETS, "targets",
                            "backup plan has no targets");
    ids = malloc(n * sizeof *ids);
    if (ids == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < n; i++)
        ids[i] = p->targets[i].canister_id;
    rc = sort_ids(ids, n, &keys, &dup, err);
    free(ids);
    if (rc != SF_OK)
        return SF_ERR;
    for (i = 0; i < n && rc == SF_OK; i++) {
        const sf_plan_target *t = &p->targets[i];

        rc = validate_target(t, i, err);
        if (rc != SF_OK)
            break;
        snprintf(field, sizeof field, "targets[%zu].canister_id", i);
        if (dup[i])
            rc = sf_error_set(err, EK_DUPLICATE_TARGET, field,
                              "duplicate backup target %s", t->canister_id);
        else if (!p->root_included &&
                 str_eq(t->canister_id, p->root_canister_id))
            rc = sf_error_set(err, EK_ROOT_WITHOUT_MAINTENANCE, field,
                              "normal backup scope must not include root");
    }
    if (rc == SF_OK)
        rc = validate_phases(p, keys, err);
    free(keys);
    free(dup);
    return rc;
}

static int validate_selected_scope(const sf_plan *p, sf_error *err)
{
    size_t i;

    if (p->selected_scope_kind == SF_SCOPE_NON_ROOT_FLEET) {
        if (p->selected_subtree_root != NULL)
            return sf_error_set(err, EK_NON_ROOT_SELECTED,
                                "selected_subtree_root",
                                "non-root-fleet scope must not declare a "
                                "selected subtree root");
        return SF_OK;
    }
    if (p->selected_subtree_root == NULL)
        return sf_error_set(err, EK_EMPTY_FIELD, "selected_subtree_root",
                            "field selected_subtree_root must not be empty");
    for (i = 0; i < p->target_count; i++)
        if (str_eq(p->targets[i].canister_id, p->selected_subtree_root))
            return SF_OK;
    return sf_error_set(err, EK_SELECTED_NOT_IN_TARGETS,
                        "selected_subtree_root",
                        "selected scope root %s is not present in plan "
                        "targets",
                        p->selected_subtree_root);
}

static int validate_phase_order(const sf_plan *p, sf_error *err)
{
    static const struct {
        sf_phase_kind kind;
        const char *label;
    } preflights[] = {
        {SF_PHASE_VALIDATE_TOPOLOGY, "topology"},
        {SF_PHASE_VALIDATE_CONTROL_AUTHORITY, "control_authority"},
        {SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY, "snapshot_read_authority"},
        {SF_PHASE_VALIDATE_QUIESCENCE_POLICY, "quiescence_policy"},
    };
    size_t cutoff = 0, k, i;

    for (k = 0; k < sizeof preflights / sizeof preflights[0]; k++) {
        for (i = 0; i < p->phase_count; i++)
            if (p->phases[i].kind == preflights[k].kind)
                break;
        if (i == p->phase_count)
            return sf_error_set(err, EK_MISSING_PREFLIGHT, "phases",
                                "required preflight operation %s is missing",
                                preflights[k].label);
        if (i > cutoff)
            cutoff = i;
    }
    for (i = 0; i < cutoff; i++) {
        if (sf_phase_kind_is_plan_mutating(p->phases[i].kind)) {
            char field[SF_ERROR_FIELD_MAX];
            snprintf(field, sizeof field, "phases[%zu].kind", i);
            return sf_error_set(err, EK_MUTATION_BEFORE_PREFLIGHT, field,
                                "mutating operation %s appears before "
                                "required preflights",
                                p->phases[i].operation_id);
        }
    }
    return SF_OK;
}

int sf_plan_validate(const sf_plan *p, sf_error *err)
{
    static const struct {
        const char *name;
        size_t offset;
    } required[] = {
        {"plan_id", offsetof(sf_plan, plan_id)},
        {"run_id", offsetof(sf_plan, run_id)},
        {"fleet", offsetof(sf_plan, fleet)},
        {"network", offsetof(sf_plan, network)},
    };
    size_t k;

    for (k = 0; k < sizeof required / sizeof required[0]; k++) {
        const char *v = *(char *const *)((const char *)p + required[k].offset);
        if (nonempty(required[k].name, required[k].name, v, err) != SF_OK)
            return SF_ERR;
    }
    if (principal("root_canister_id", "root_canister_id", p->root_canister_id,
                  err) != SF_OK ||
        optional_principal("selected_subtree_root", "selected_subtree_root",
                           p->selected_subtree_root, err) != SF_OK ||
        nonempty("topology_hash_before_quiesce",
                 "topology_hash_before_quiesce",
                 p->topology_hash_before_quiesce, err) != SF_OK ||
        validate_root_scope(p, err) != SF_OK ||
        validate_targets_and_phases(p, err) != SF_OK ||
        validate_selected_scope(p, err) != SF_OK)
        return SF_ERR;
    return validate_phase_order(p, err);
}

int sf_plan_validate_for_execution(const sf_plan *p, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];
    size_t i;

    if (sf_plan_validate(p, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < p->target_count; i++) {
        const sf_plan_target *t = &p->targets[i];

        snprintf(field, sizeof field, "targets[%zu].control_authority", i);
        if (!sf_control_authority_is_proven(&t->control_authority))
            return sf_error_set(err, EK_UNPROVEN_CONTROL, field,
                                "target %s has no proven control authority",
                                t->canister_id);
        if (!sf_read_authority_is_proven(&t->snapshot_read_authority)) {
            snprintf(field, sizeof field,
                     "targets[%zu].snapshot_read_authority", i);
            return sf_error_set(err, EK_UNPROVEN_READ, field,
                                "target %s has no proven snapshot read "
                                "authority",
                                t->canister_id);
        }
        if (p->requires_root_controller &&
            !str_eq(t->canister_id, p->root_canister_id) &&
            !sf_control_authority_is_proven_root_controller(
                &t->control_authority))
            return sf_error_set(err, EK_MISSING_ROOT_CONTROLLER, field,
                                "target %s must be controllable by root for "
                                "this plan",
                                t->canister_id);
    }
    return SF_OK;
}
