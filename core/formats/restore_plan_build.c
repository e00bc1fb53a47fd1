/*
 * canic's restore planner: rules in its order, parents before children,
 * concrete verification checks and summaries.
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

/* ---- the planner ---- */

/* canic's check-applies-to-role: no roles, or the role named exactly. */
static bool check_applies(const sf_manifest_check *c, const char *role)
{
    size_t i;

    if (c->role_count == 0)
        return true;
    for (i = 0; i < c->role_count; i++)
        if (str_eq(c->roles[i], role))
            return true;
    return false;
}

/* The member's own checks for its role, then those of every member_checks
 * group naming its role, in manifest order; duplicates kept. */
static void concrete_checks(copier *c, const sf_manifest *m,
                            const sf_manifest_member *mem,
                            sf_restore_plan_member *out)
{
    const sf_manifest_verification *v = &m->verification;
    size_t n = 0, i, k;

    for (i = 0; i < mem->verification_check_count; i++)
        n += check_applies(&mem->verification_checks[i], mem->role);
    for (k = 0; k < v->member_check_count; k++)
        if (str_eq(v->member_checks[k].role, mem->role))
            for (i = 0; i < v->member_checks[k].check_count; i++)
                n += check_applies(&v->member_checks[k].checks[i], mem->role);
    out->verification_checks =
        dup_alloc(c, n, sizeof *out->verification_checks);
    if (out->verification_checks == NULL)
        return;
    out->verification_check_count = n;
    n = 0;
    for (i = 0; i < mem->verification_check_count; i++)
        if (check_applies(&mem->verification_checks[i], mem->role))
            dup_check(c, &out->verification_checks[n++],
                      &mem->verification_checks[i]);
    for (k = 0; k < v->member_check_count; k++)
        if (str_eq(v->member_checks[k].role, mem->role))
            for (i = 0; i < v->member_checks[k].check_count; i++)
                if (check_applies(&v->member_checks[k].checks[i], mem->role))
                    dup_check(c, &out->verification_checks[n++],
                              &v->member_checks[k].checks[i]);
}

/* A min-heap of manifest positions: canic scans the remaining members in
 * manifest order and takes the first eligible one, which is always the
 * eligible member with the smallest position. */
typedef struct heap {
    size_t *v;
    size_t n;
} heap;

static void heap_push(heap *h, size_t x)
{
    size_t i = h->n++;

    while (i > 0 && h->v[(i - 1) / 2] > x) {
        h->v[i] = h->v[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->v[i] = x;
}

static size_t heap_pop(heap *h)
{
    size_t top = h->v[0], x = h->v[--h->n], i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->v[c + 1] < h->v[c])
            c++;
        if (h->v[c] >= x)
            break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n > 0)
        h->v[i] = x;
    return top;
}

/* Planner scratch state, all indexed by manifest position. */
typedef struct planner {
    const sf_manifest *m;
    const sf_restore_mapping *map;
    size_t n;
    str_key *ids;    /* member canister ids */
    size_t nids;
    str_key *srcs;   /* mapping sources */
    size_t nsrcs;
    const char **target; /* resolved target (borrowed) */
    size_t *map_at;      /* mapping entry of each member, SIZE_MAX if none */
    size_t *parent;      /* parent's position, SIZE_MAX if none in fleet */
    sf_restore_plan_member *rows; /* resolved rows in manifest order */
} planner;

static void planner_free(planner *p)
{
    size_t i;

    free(p->ids);
    free(p->srcs);
    free((void *)p->target);
    free(p->map_at);
    free(p->parent);
    if (p->rows != NULL)
        for (i = 0; i < p->n; i++)
            member_free(&p->rows[i]);
    free(p->rows);
}

/* Steps 3 and 4 of spec 1.2: mapping sources known, targets resolved. */
static int resolve_targets(planner *p, sf_error *err)
{
    const sf_manifest_member *mem = p->m->fleet.members;
    str_key *tkeys = NULL;
    bool *repeat = NULL;
    char field[SF_ERROR_FIELD_MAX];
    size_t i, nt;
    int rc = SF_OK;

    if (p->map != NULL) {
        for (i = 0; i < p->map->member_count; i++) {
            const char *s = p->map->members[i].source_canister;
            if (index_find(p->ids, p->nids, s) == SIZE_MAX) {
                snprintf(field, sizeof field,
                         "mapping.members[%zu].source_canister", i);
                return sf_error_set(err, EK_UNKNOWN_MAPPING_SOURCE, field,
                                    "mapping references unknown source "
                                    "canister %s",
                                    s);
            }
        }
    }
    for (i = 0; i < p->n; i++) {
        p->map_at[i] = SIZE_MAX;
        if (p->map == NULL) {
            p->target[i] = mem[i].canister_id;
            continue;
        }
        p->map_at[i] = index_find(p->srcs, p->nsrcs, mem[i].canister_id);
        p->target[i] = p->map_at[i] == SIZE_MAX
                           ? NULL
                           : p->map->members[p->map_at[i]].target_canister;
    }
    /* Which resolved targets an earlier member already took. */
    tkeys = index_build(p->target, p->n, sizeof *p->target, 0, &nt);
    repeat = calloc(p->n ? p->n : 1, sizeof *repeat);
    if (tkeys == NULL || repeat == NULL) {
        rc = nomem(err);
        goto done;
    }
    index_mark_repeats(tkeys, nt, repeat);
    for (i = 0; i < p->n && rc == SF_OK; i++) {
        if (p->target[i] == NULL) {
            rc = sf_error_set(err, EK_MISSING_MAPPING_SOURCE, "mapping.members",
                              "mapping is missing source canister %s",
                              mem[i].canister_id);
        } else if (mem[i].identity_mode == SF_MANIFEST_IDENTITY_FIXED &&
                   strcmp(p->target[i], mem[i].canister_id) != 0) {
            snprintf(field, sizeof field,
                     "mapping.members[%zu].target_canister", p->map_at[i]);
            rc = sf_error_set(err, EK_FIXED_IDENTITY_REMAP, field,
                              "fixed-identity member %s cannot be mapped to "
                              "%s",
                              mem[i].canister_id, p->target[i]);
        } else if (repeat[i]) {
            if (p->map_at[i] != SIZE_MAX)
                snprintf(field, sizeof field,
                         "mapping.members[%zu].target_canister",
                         p->map_at[i]);
            else
                snprintf(field, sizeof field, "fleet.members[%zu].canister_id",
                         i);
            rc = sf_error_set(err, EK_DUP_PLAN_TARGET, field,
                              "restore plan contains duplicate target "
                              "canister %s",
                              p->target[i]);
        }
    }
done:
    free(tkeys);
    free(repeat);
    return rc;
}

/* Builds the plan row of every member, in manifest order. */
static int build_rows(planner *p, sf_error *err)
{
    const sf_manifest_member *mem = p->m->fleet.members;
    copier c = {0};
    size_t i;

    for (i = 0; i < p->n; i++) {
        sf_restore_plan_member *row = &p->rows[i];

        row->source_canister = dup(&c, mem[i].canister_id);
        row->target_canister = dup(&c, p->target[i]);
        row->role = dup(&c, mem[i].role);
        row->parent_source_canister = dup(&c, mem[i].parent_canister_id);
        p->parent[i] = mem[i].parent_canister_id == NULL
                           ? SIZE_MAX
                           : index_find(p->ids, p->nids,
                                        mem[i].parent_canister_id);
        /* A parent outside this manifest keeps its source id and has no
         * target. */
        if (p->parent[i] != SIZE_MAX)
            row->parent_target_canister = dup(&c, p->target[p->parent[i]]);
        row->identity_mode = mem[i].identity_mode;
        concrete_checks(&c, p->m, &mem[i], row);
        dup_snapshot(&c, &row->source_snapshot, &mem[i].source_snapshot);
        if (c.oom)
            return nomem(err);
    }
    return SF_OK;
}

static void summarise(const sf_manifest *m, bool mapping_supplied,
                      sf_restore_plan *plan)
{
    sf_restore_identity_summary *id = &plan->identity_summary;
    sf_restore_snapshot_summary *ss = &plan->snapshot_summary;
    sf_restore_verification_summary *vs = &plan->verification_summary;
    sf_restore_operation_summary *os = &plan->operation_summary;
    sf_restore_ordering_summary *ord = &plan->ordering_summary;
    uint64_t n = plan->members_len;
    size_t i;

    id->mapping_supplied = mapping_supplied;
    id->mapped_members = mapping_supplied ? n : 0;
    id->all_sources_mapped = mapping_supplied && id->mapped_members == n;
    vs->verification_required = true;
    vs->fleet_checks = m->verification.fleet_check_count;
    vs->member_check_groups = m->verification.member_check_count;
    for (i = 0; i < plan->members_len; i++) {
        const sf_restore_plan_member *row = &plan->members[i];

        if (row->identity_mode == SF_MANIFEST_IDENTITY_FIXED)
            id->fixed_members++;
        else
            id->relocatable_members++;
        if (strcmp(row->source_canister, row->target_canister) == 0)
            id->in_place_members++;
        else
            id->remapped_members++;
        ss->members_with_module_hash +=
            row->source_snapshot.module_hash != NULL;
        ss->members_with_code_version +=
            row->source_snapshot.code_version != NULL;
        ss->members_with_checksum += row->source_snapshot.checksum != NULL;
        vs->member_checks += row->verification_check_count;
        vs->members_with_checks += row->verification_check_count > 0;
        if (row->ordering_dependency != NULL)
            ord->parent_edges++;
        else
            ord->dependency_free_members++;
    }
    ss->all_members_have_module_hash = ss->members_with_module_hash == n;
    ss->all_members_have_code_version = ss->members_with_code_version == n;
    ss->all_members_have_checksum = ss->members_with_checksum == n;
    vs->all_members_have_checks = vs->members_with_checks == n;
    vs->total_checks = vs->fleet_checks + vs->member_checks;
    os->planned_canister_stops = n;
    os->planned_canister_starts = n;
    os->planned_snapshot_uploads = n;
    os->planned_snapshot_loads = n;
    os->planned_verification_checks = vs->total_checks;
    os->planned_operations = 4 * n + vs->total_checks;
    ord->ordered_members = n;
}

static int readiness(sf_restore_plan *plan, sf_error *err)
{
    sf_restore_readiness_summary *r = &plan->readiness_summary;
    const char *reasons[2];
    size_t n = 0, i;

    if (!plan->snapshot_summary.all_members_have_checksum)
        reasons[n++] = SF_RESTORE_REASON_MISSING_CHECKSUM;
    if (!plan->verification_summary.all_members_have_checks)
        reasons[n++] = SF_RESTORE_REASON_MISSING_CHECKS;
    r->ready = n == 0;
    if (n == 0)
        return SF_OK;
    r->reasons = calloc(n, sizeof *r->reasons);
    if (r->reasons == NULL)
        return nomem(err);
    r->reason_count = n;
    for (i = 0; i < n; i++)
        if ((r->reasons[i] = strdup(reasons[i])) == NULL)
            return nomem(err);
    return SF_OK;
}

/* Step 6: parents before children. Moves the rows into plan->members. */
static int order_members(planner *p, sf_restore_plan *plan, sf_error *err)
{
    size_t *first = NULL, *next = NULL, i, emitted = 0;
    bool *done = NULL;
    heap h = {NULL, 0};
    char field[SF_ERROR_FIELD_MAX];
    int rc = SF_OK;

    plan->members = calloc(p->n ? p->n : 1, sizeof *plan->members);
    h.v = malloc((p->n ? p->n : 1) * sizeof *h.v);
    first = malloc((p->n ? p->n : 1) * sizeof *first);
    next = malloc((p->n ? p->n : 1) * sizeof *next);
    done = calloc(p->n ? p->n : 1, sizeof *done);
    if (plan->members == NULL || h.v == NULL || first == NULL ||
        next == NULL || done == NULL) {
        rc = nomem(err);
        goto out;
    }
    /* Children lists; a member whose parent is absent or outside the
     * fleet is eligible from the start. */
    for (i = 0; i < p->n; i++)
        first[i] = SIZE_MAX;
    for (i = p->n; i-- > 0;) {
        if (p->parent[i] == SIZE_MAX) {
            next[i] = SIZE_MAX;
            heap_push(&h, i);
        } else {
            next[i] = first[p->parent[i]];
            first[p->parent[i]] = i;
        }
    }
    while (h.n > 0) {
        size_t at = heap_pop(&h), c;
        sf_restore_plan_member *row = &plan->members[emitted];

        *row = p->rows[at];
        memset(&p->rows[at], 0, sizeof p->rows[at]);
        done[at] = true;
        row->member_order = emitted++;
        plan->members_len = emitted;
        if (row->parent_source_canister != NULL &&
            row->parent_target_canister != NULL) {
            row->ordering_dependency =
                calloc(1, sizeof *row->ordering_dependency);
            if (row->ordering_dependency == NULL ||
                (row->ordering_dependency->source_canister =
                     strdup(row->parent_source_canister)) == NULL ||
                (row->ordering_dependency->target_canister =
                     strdup(row->parent_target_canister)) == NULL) {
                rc = nomem(err);
                goto out;
            }
        }
        for (c = first[at]; c != SIZE_MAX; c = next[c])
            heap_push(&h, c);
    }
    if (emitted < p->n) {
        for (i = 0; i < p->n && done[i]; i++)
            ;
        snprintf(field, sizeof field, "fleet.members[%zu].parent_canister_id",
                 i);
        rc = sf_error_set(err, EK_ORDER_CYCLE, field,
                          "restore plan contains a parent cycle or "
                          "unresolved dependency");
    }
out:
    free(h.v);
    free(first);
    free(next);
    free(done);
    return rc;
}

int sf_restore_plan_build(const sf_manifest *m,
                          const sf_restore_mapping *mapping,
                          sf_restore_plan *out, sf_error *err)
{
    planner p;
    sf_error merr;
    copier c = {0};
    size_t n, i;
    int rc = SF_ERR;

    memset(out, 0, sizeof *out);
    memset(&p, 0, sizeof p);
    sf_error_clear(&merr);
    if (sf_manifest_validate(m, &merr) != SF_OK) {
        if (merr.kind != NULL && strcmp(merr.kind, SF_EK_NOMEM) == 0)
            return nomem(err);
        return sf_error_set(err, EK_INVALID_MANIFEST, merr.field, "%s",
                            merr.message);
    }
    if (mapping != NULL && sf_restore_mapping_validate(mapping, err) != SF_OK)
        return SF_ERR;
    n = m->fleet.member_count;
    p.m = m;
    p.map = mapping;
    p.n = n;
    p.ids = index_build(m->fleet.members, n, sizeof *m->fleet.members,
                        offsetof(sf_manifest_member, canister_id), &p.nids);
    if (mapping != NULL)
        p.srcs = index_build(mapping->members, mapping->member_count,
                             sizeof *mapping->members,
                             offsetof(sf_restore_mapping_entry,
                                      source_canister),
                             &p.nsrcs);
    p.target = calloc(n ? n : 1, sizeof *p.target);
    p.map_at = calloc(n ? n : 1, sizeof *p.map_at);
    p.parent = calloc(n ? n : 1, sizeof *p.parent);
    p.rows = calloc(n ? n : 1, sizeof *p.rows);
    if (p.ids == NULL || (mapping != NULL && p.srcs == NULL) ||
        p.target == NULL || p.map_at == NULL || p.parent == NULL ||
        p.rows == NULL) {
        nomem(err);
        goto done;
    }
    if (resolve_targets(&p, err) != SF_OK || build_rows(&p, err) != SF_OK ||
        order_members(&p, out, err) != SF_OK)
        goto done;
    out->backup_id = dup(&c, m->backup_id);
    out->source_environment = dup(&c, m->source.environment);
    out->source_root_canister = dup(&c, m->source.root_canister);
    out->topology_hash = dup(&c, m->fleet.topology_hash);
    out->member_count = n;
    out->fleet_verification_checks = dup_alloc(
        &c, m->verification.fleet_check_count,
        sizeof *out->fleet_verification_checks);
    if (out->fleet_verification_checks != NULL) {
        out->fleet_verification_check_count =
            m->verification.fleet_check_count;
        for (i = 0; i < m->verification.fleet_check_count; i++)
            dup_check(&c, &out->fleet_verification_checks[i],
                      &m->verification.fleet_checks[i]);
    }
    if (c.oom) {
        nomem(err);
        goto done;
    }
    summarise(m, mapping != NULL, out);
    if (readiness(out, err) != SF_OK)
        goto done;
    rc = SF_OK;
done:
    planner_free(&p);
    if (rc != SF_OK)
        sf_restore_plan_free(out);
    return rc;
}
