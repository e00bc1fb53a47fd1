/*
 * Building a backup plan from the registry (spec 1.3-1.5): selector
 * resolution, target selection, depths and phase generation, in canic's
 * order, plus snapfleet's per-canister schedule and plans without starts.
 */
#include "snapfleet/plan.h"

#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_EMPTY_FIELD "empty-field"
#define EK_UNKNOWN_SELECTOR "unknown-selector"
#define EK_AMBIGUOUS_SELECTOR "ambiguous-selector"

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

/* ---- selector ---- */

/* Rust's Debug rendering of a string ("\"a\\\"b\""), as canic's message
 * prints the list of matches with {:?}. */
static void debug_string(sf_buf *b, const char *s)
{
    const unsigned char *p;

    sf_buf_putc(b, '"');
    for (p = (const unsigned char *)s; *p != '\0'; p++) {
        switch (*p) {
        case '"':
            sf_buf_puts(b, "\\\"");
            break;
        case '\\':
            sf_buf_puts(b, "\\\\");
            break;
        case '\n':
            sf_buf_puts(b, "\\n");
            break;
        case '\r':
            sf_buf_puts(b, "\\r");
            break;
        case '\t':
            sf_buf_puts(b, "\\t");
            break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                sf_buf_printf(b, "\\u{%x}", *p);
            else
                sf_buf_putc(b, (char)*p);
        }
    }
    sf_buf_putc(b, '"');
}

static int ambiguous(const sf_registry *reg, const char *selector,
                     sf_error *err)
{
    sf_buf list;
    size_t i, n = 0;
    int rc;

    sf_buf_init(&list);
    sf_buf_putc(&list, '[');
    for (i = 0; i < reg->count; i++) {
        const sf_registry_entry *e = &reg->entries[i];
        if (e->role == NULL || strcmp(e->role, selector) != 0)
            continue;
        if (n++ > 0)
            sf_buf_puts(&list, ", ");
        debug_string(&list, e->pid != NULL ? e->pid : "");
    }
    sf_buf_putc(&list, ']');
    if (list.oom)
        rc = nomem(err);
    else
        rc = sf_error_set(err, EK_AMBIGUOUS_SELECTOR, "selector",
                          "backup selector %s matched multiple canisters: %s",
                          selector, sf_buf_cstr(&list));
    sf_buf_free(&list);
    return rc;
}

int sf_resolve_backup_selector(const sf_registry *reg, const char *selector,
                               char **pid, sf_error *err)
{
    const char *found = NULL;
    size_t i, matches = 0;

    *pid = NULL;
    if (sf_str_is_blank(selector))
        return sf_error_set(err, EK_EMPTY_FIELD, "selector",
                            "field selector must not be empty");
    if (sf_principal_is_valid(selector)) {
        /* Principal text never falls back to role matching. */
        for (i = 0; i < reg->count && found == NULL; i++)
            if (reg->entries[i].pid != NULL &&
                strcmp(reg->entries[i].pid, selector) == 0)
                found = reg->entries[i].pid;
    } else {
        for (i = 0; i < reg->count; i++) {
            const sf_registry_entry *e = &reg->entries[i];
            if (e->role != NULL && e->pid != NULL &&
                strcmp(e->role, selector) == 0) {
                if (matches++ == 0)
                    found = e->pid;
            }
        }
        if (matches > 1)
            return ambiguous(reg, selector, err);
    }
    if (found == NULL)
        return sf_error_set(err, EK_UNKNOWN_SELECTOR, "selector",
                            "backup selector %s did not match a live "
                            "topology node",
                            selector);
    *pid = strdup(found);
    return *pid != NULL ? SF_OK : nomem(err);
}

/* ---- targets ---- */

static int registry_targets(const sf_plan_input *in, sf_target **targets,
                            size_t *count, sf_error *err)
{
    const sf_registry *reg = in->registry;
    sf_target *out;
    size_t i, n = 0;
    int oom = 0;

    *targets = NULL;
    *count = 0;
    if (in->scope != SF_SCOPE_NON_ROOT_FLEET) {
        bool recursive = in->scope == SF_SCOPE_SUBTREE ||
                         in->include_descendants ||
                         in->scope == SF_SCOPE_MAINTENANCE_ROOT;
        return sf_targets_from_registry(reg, in->selected_canister_id,
                                        recursive, targets, count, err);
    }
    /* Every entry but the root, in registry order, whatever its parent. */
    out = calloc(reg->count ? reg->count : 1, sizeof *out);
    if (out == NULL)
        return nomem(err);
    for (i = 0; i < reg->count; i++) {
        const sf_registry_entry *e = &reg->entries[i];
        sf_target *t;

        if (e->pid == NULL || (in->root_canister_id != NULL &&
                               strcmp(e->pid, in->root_canister_id) == 0))
            continue;
        t = &out[n++];
        t->canister_id = sf_strdup_opt(e->pid, &oom);
        t->role = sf_strdup_opt(e->role, &oom);
        t->parent_canister_id = sf_strdup_opt(e->parent_pid, &oom);
        t->module_hash = sf_strdup_opt(e->module_hash, &oom);
    }
    if (oom) {
        sf_targets_free(out, n);
        return nomem(err);
    }
    *targets = out;
    *count = n;
    return SF_OK;
}

static int fill_targets(sf_plan *p, const sf_plan_input *in,
                        const sf_target *targets, size_t n, sf_error *err)
{
    size_t i;
    int oom = 0;
    uint64_t *depths;
    const char **ids;

    if (n == 0)
        return SF_OK;
    p->targets = calloc(n, sizeof *p->targets);
    if (p->targets == NULL)
        return nomem(err);
    p->target_count = n;
    /* all at once: the registry is indexed once, not once per target */
    depths = malloc(n * sizeof *depths);
    ids = malloc(n * sizeof *ids);
    if (depths == NULL || ids == NULL) {
        free(depths);
        free(ids);
        return nomem(err);
    }
    for (i = 0; i < n; i++)
        ids[i] = targets[i].canister_id;
    sf_registry_depths(in->registry, ids, n, depths);
    free(ids);
    for (i = 0; i < n; i++) {
        sf_plan_target *t = &p->targets[i];
        uint64_t depth = depths[i];

        t->canister_id = sf_strdup_opt(targets[i].canister_id, &oom);
        t->role = sf_strdup_opt(targets[i].role, &oom);
        t->parent_canister_id =
            sf_strdup_opt(targets[i].parent_canister_id, &oom);
        t->depth = depth > UINT32_MAX ? UINT32_MAX : depth;
        t->control_authority.kind = in->control_authority.kind;
        t->control_authority.evidence = in->control_authority.evidence;
        t->control_authority.controller =
            sf_strdup_opt(in->control_authority.controller, &oom);
        t->control_authority.reason =
            sf_strdup_opt(in->control_authority.reason, &oom);
        t->snapshot_read_authority = in->snapshot_read_authority;
        t->identity_mode = in->identity_mode;
        t->expected_module_hash = sf_strdup_opt(targets[i].module_hash, &oom);
    }
    free(depths);
    return oom ? nomem(err) : SF_OK;
}

/* ---- phases ---- */

typedef struct top_key {
    uint64_t depth;
    const char *id;
    size_t index;
} top_key;

static int top_cmp(const void *pa, const void *pb)
{
    const top_key *a = pa, *b = pb;
    int c;

    if (a->depth != b->depth)
        return a->depth < b->depth ? -1 : 1;
    c = sf_str_cmp_bytes(a->id, b->id);
    if (c != 0)
        return c;
    /* canic's sort is stable. */
    return a->index < b->index ? -1 : a->index > b->index;
}

typedef struct phase_list {
    sf_plan_phase *items;
    size_t count;
    int oom;
} phase_list;

static void add_phase(phase_list *l, const char *prefix, sf_phase_kind kind,
                      const char *target)
{
    sf_plan_phase *ph = &l->items[l->count];
    size_t n;

    ph->order = l->count;
    ph->kind = kind;
    l->count++;
    if (target == NULL) {
        ph->operation_id = strdup(prefix);
    } else {
        n = strlen(prefix) + 1 + strlen(target) + 1;
        ph->operation_id = malloc(n);
        if (ph->operation_id != NULL)
            snprintf(ph->operation_id, n, "%s-%s", prefix, target);
        ph->target_canister_id = strdup(target);
        if (ph->target_canister_id == NULL)
            l->oom = 1;
    }
    if (ph->operation_id == NULL)
        l->oom = 1;
}

static int build_phases(sf_plan *p, const sf_plan_input *in, sf_error *err)
{
    size_t n = p->target_count, per = in->include_starts ? 5 : 4, i;
    phase_list l = {NULL, 0, 0};
    top_key *top;

    top = malloc((n ? n : 1) * sizeof *top);
    l.items = calloc(4 + per * n + 1, sizeof *l.items);
    if (top == NULL || l.items == NULL) {
        free(top);
        free(l.items);
        return nomem(err);
    }
    for (i = 0; i < n; i++) {
        top[i].depth = p->targets[i].depth;
        top[i].id = p->targets[i].canister_id;
        top[i].index = i;
    }
    qsort(top, n, sizeof *top, top_cmp);

    add_phase(&l, "validate-topology", SF_PHASE_VALIDATE_TOPOLOGY, NULL);
    add_phase(&l, "validate-control-authority",
              SF_PHASE_VALIDATE_CONTROL_AUTHORITY, NULL);
    add_phase(&l, "validate-snapshot-read-authority",
              SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY, NULL);
    add_phase(&l, "validate-quiescence-policy",
              SF_PHASE_VALIDATE_QUIESCENCE_POLICY, NULL);
    if (in->schedule == SF_SCHEDULE_PER_CANISTER) {
        for (i = 0; i < n; i++) {
            const char *id = top[i].id;
            add_phase(&l, "stop", SF_PHASE_STOP, id);
            add_phase(&l, "snapshot", SF_PHASE_CREATE_SNAPSHOT, id);
            add_phase(&l, "download", SF_PHASE_DOWNLOAD_SNAPSHOT, id);
            add_phase(&l, "verify", SF_PHASE_VERIFY_ARTIFACT, id);
            if (in->include_starts)
                add_phase(&l, "start", SF_PHASE_START, id);
        }
    } else {
        for (i = 0; i < n; i++)
            add_phase(&l, "stop", SF_PHASE_STOP, top[i].id);
        for (i = 0; i < n; i++)
            add_phase(&l, "snapshot", SF_PHASE_CREATE_SNAPSHOT, top[i].id);
        for (i = n; in->include_starts && i-- > 0;)
            add_phase(&l, "start", SF_PHASE_START, top[i].id);
        for (i = 0; i < n; i++) {
            const char *id = p->targets[i].canister_id;
            add_phase(&l, "download", SF_PHASE_DOWNLOAD_SNAPSHOT, id);
            add_phase(&l, "verify", SF_PHASE_VERIFY_ARTIFACT, id);
        }
    }
    add_phase(&l, "finalize-manifest", SF_PHASE_FINALIZE_MANIFEST, NULL);
    free(top);
    p->phases = l.items;
    p->phase_count = l.count;
    return l.oom ? nomem(err) : SF_OK;
}

/* ---- the plan ---- */

int sf_plan_build(const sf_plan_input *in, sf_plan *out, sf_error *err)
{
    sf_target *targets = NULL;
    size_t count = 0;
    int oom = 0, rc;

    memset(out, 0, sizeof *out);
    if (in->registry == NULL)
        return sf_error_set(err, SF_EK_USAGE, "registry",
                            "a backup plan needs the registry");
    if (in->scope != SF_SCOPE_NON_ROOT_FLEET &&
        in->selected_canister_id == NULL)
        return sf_error_set(err, EK_EMPTY_FIELD, "selected_canister_id",
                            "field selected_canister_id must not be empty");
    if (registry_targets(in, &targets, &count, err) != SF_OK)
        return SF_ERR;

    out->plan_id = sf_strdup_opt(in->plan_id, &oom);
    out->run_id = sf_strdup_opt(in->run_id, &oom);
    out->fleet = sf_strdup_opt(in->fleet, &oom);
    out->network = sf_strdup_opt(in->network, &oom);
    out->root_canister_id = sf_strdup_opt(in->root_canister_id, &oom);
    /* A non-root-fleet plan ignores any selection it was given. */
    if (in->scope != SF_SCOPE_NON_ROOT_FLEET)
        out->selected_subtree_root =
            sf_strdup_opt(in->selected_canister_id, &oom);
    out->selected_scope_kind = in->scope;
    out->include_descendants = in->include_descendants;
    out->root_included = in->scope == SF_SCOPE_MAINTENANCE_ROOT;
    out->requires_root_controller =
        in->control_authority.kind == SF_CONTROL_ROOT_CONTROLLER;
    out->snapshot_read_authority = in->snapshot_read_authority;
    out->quiescence_policy = in->quiescence_policy;
    out->topology_hash_before_quiesce =
        sf_strdup_opt(in->topology_hash_before_quiesce, &oom);

    rc = oom ? nomem(err) : fill_targets(out, in, targets, count, err);
    sf_targets_free(targets, count);
    if (rc == SF_OK)
        rc = build_phases(out, in, err);
    if (rc == SF_OK)
        rc = sf_plan_validate(out, err);
    if (rc != SF_OK)
        sf_plan_free(out);
    return rc;
}
