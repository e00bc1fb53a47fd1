/*
 * Restore planning: the mapping document, canic's planner (rules in its
 * order, parents before children, concrete verification checks,
 * summaries) and the restore plan document (reading, snapfleet's
 * consistency check, the serde-pretty writer, files).
 */
#include "snapfleet/restore_plan.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_INVALID_MANIFEST "invalid-manifest"
#define EK_INVALID_PRINCIPAL "invalid-principal"
#define EK_DUP_MAPPING_SOURCE "duplicate-mapping-source"
#define EK_DUP_MAPPING_TARGET "duplicate-mapping-target"
#define EK_UNKNOWN_MAPPING_SOURCE "unknown-mapping-source"
#define EK_MISSING_MAPPING_SOURCE "missing-mapping-source"
#define EK_FIXED_IDENTITY_REMAP "fixed-identity-remap"
#define EK_DUP_PLAN_TARGET "duplicate-plan-target"
#define EK_ORDER_CYCLE "restore-order-cycle"
#define EK_MISSING_FIELD "missing-field"
#define EK_COUNT_MISMATCH "count-mismatch"

static const char *const identity_names[] = {"fixed", "relocatable"};
static const char *const relationship_names[] = {SF_RESTORE_RELATIONSHIP};

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

/* ---- string index: sorted (text, position) pairs for lookups and
 * repeats in O(n log n); fleets can have thousands of members ---- */

typedef struct str_key {
    const char *s;
    size_t i;
} str_key;

static int str_key_cmp(const void *pa, const void *pb)
{
    const str_key *a = pa, *b = pb;
    int c = strcmp(a->s, b->s);

    if (c != 0)
        return c;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Builds the index of n strings found at base + k * stride + offset
 * (NULL strings are left out). NULL when out of memory. */
static str_key *index_build(const void *base, size_t n, size_t stride,
                            size_t offset, size_t *count)
{
    str_key *keys = malloc((n ? n : 1) * sizeof *keys);
    size_t k, m = 0;

    *count = 0;
    if (keys == NULL)
        return NULL;
    for (k = 0; k < n; k++) {
        const char *s =
            *(char *const *)((const char *)base + k * stride + offset);
        if (s != NULL) {
            keys[m].s = s;
            keys[m].i = k;
            m++;
        }
    }
    qsort(keys, m, sizeof *keys, str_key_cmp);
    *count = m;
    return keys;
}

/* Position of the first occurrence of s, or SIZE_MAX. */
static size_t index_find(const str_key *keys, size_t n, const char *s)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].s, s) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(keys[lo].s, s) == 0 ? keys[lo].i : SIZE_MAX;
}

/* repeat[k] = true when the string at k occurred at a smaller position. */
static void index_mark_repeats(const str_key *keys, size_t n, bool *repeat)
{
    size_t k;

    for (k = 1; k < n; k++)
        if (strcmp(keys[k].s, keys[k - 1].s) == 0)
            repeat[keys[k].i] = true;
}

/* ---- lifetime ---- */

static void checks_free(sf_manifest_check *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(v[i].kind);
        sf_strv_free(v[i].roles, v[i].role_count);
    }
    free(v);
}

static void snapshot_free(sf_manifest_snapshot *s)
{
    free(s->snapshot_id);
    free(s->module_hash);
    free(s->code_version);
    free(s->artifact_path);
    free(s->checksum_algorithm);
    free(s->checksum);
}

static void member_free(sf_restore_plan_member *m)
{
    free(m->source_canister);
    free(m->target_canister);
    free(m->role);
    free(m->parent_source_canister);
    free(m->parent_target_canister);
    if (m->ordering_dependency != NULL) {
        free(m->ordering_dependency->source_canister);
        free(m->ordering_dependency->target_canister);
        free(m->ordering_dependency);
    }
    checks_free(m->verification_checks, m->verification_check_count);
    snapshot_free(&m->source_snapshot);
}

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

/* ---- copies (the planner copies from the manifest) ---- */

typedef struct copier {
    int oom;
} copier;

static char *dup(copier *c, const char *s)
{
    return sf_strdup_opt(s, &c->oom);
}

static void *dup_alloc(copier *c, size_t n, size_t size)
{
    void *p;

    if (n == 0)
        return NULL;
    p = calloc(n, size);
    if (p == NULL)
        c->oom = 1;
    return p;
}

static void dup_check(copier *c, sf_manifest_check *d,
                      const sf_manifest_check *s)
{
    size_t i;

    d->kind = dup(c, s->kind);
    d->roles = dup_alloc(c, s->role_count, sizeof *d->roles);
    if (d->roles == NULL)
        return;
    d->role_count = s->role_count;
    for (i = 0; i < s->role_count; i++)
        d->roles[i] = dup(c, s->roles[i]);
}

static void dup_snapshot(copier *c, sf_manifest_snapshot *d,
                         const sf_manifest_snapshot *s)
{
    d->snapshot_id = dup(c, s->snapshot_id);
    d->module_hash = dup(c, s->module_hash);
    d->code_version = dup(c, s->code_version);
    d->artifact_path = dup(c, s->artifact_path);
    d->checksum_algorithm = dup(c, s->checksum_algorithm);
    d->checksum = dup(c, s->checksum);
}

/* ---- the mapping document ---- */

static int read_nomem(sf_jr *r)
{
    return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
}

static int read_mapping(sf_jr *r, const cJSON *root, sf_restore_mapping *m)
{
    const cJSON *arr, *item;
    size_t n, i = 0, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_array(r, root, "members", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        m->members = calloc(n, sizeof *m->members);
        if (m->members == NULL)
            return read_nomem(r);
        m->member_count = n;
    }
    mark = sf_jr_push_key(r, "members");
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);
        sf_restore_mapping_entry *e = &m->members[i];

        if (sf_jr_expect_object(r, item) != SF_OK ||
            sf_jr_str(r, item, "source_canister", &e->source_canister) !=
                SF_OK ||
            sf_jr_str(r, item, "target_canister", &e->target_canister) !=
                SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

int sf_restore_mapping_parse(const char *text, size_t len,
                             sf_restore_mapping *out, sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_mapping(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_restore_mapping_free(out);
    return rc;
}

static int mapping_principal(size_t i, const char *key, const char *value,
                             sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];

    if (value != NULL && sf_principal_is_valid(value))
        return SF_OK;
    snprintf(field, sizeof field, "mapping.members[%zu].%s", i, key);
    return sf_error_set(err, EK_INVALID_PRINCIPAL, field,
                        "field mapping.members[].%s must be a valid "
                        "principal: %s",
                        key, value != NULL ? value : "");
}

int sf_restore_mapping_validate(const sf_restore_mapping *m, sf_error *err)
{
    size_t n = m->member_count, ns = 0, nt = 0, i;
    str_key *src = NULL, *tgt = NULL;
    bool *src_rep = NULL, *tgt_rep = NULL;
    char field[SF_ERROR_FIELD_MAX];
    int rc = SF_OK;

    if (n == 0)
        return SF_OK;
    src = index_build(m->members, n, sizeof *m->members,
                      offsetof(sf_restore_mapping_entry, source_canister),
                      &ns);
    tgt = index_build(m->members, n, sizeof *m->members,
                      offsetof(sf_restore_mapping_entry, target_canister),
                      &nt);
    src_rep = calloc(n, sizeof *src_rep);
    tgt_rep = calloc(n, sizeof *tgt_rep);
    if (src == NULL || tgt == NULL || src_rep == NULL || tgt_rep == NULL) {
        rc = nomem(err);
        goto done;
    }
    index_mark_repeats(src, ns, src_rep);
    index_mark_repeats(tgt, nt, tgt_rep);
    /* canic checks entry by entry: both principals, then the two sets. */
    for (i = 0; i < n && rc == SF_OK; i++) {
        const sf_restore_mapping_entry *e = &m->members[i];

        if (mapping_principal(i, "source_canister", e->source_canister,
                              err) != SF_OK ||
            mapping_principal(i, "target_canister", e->target_canister,
                              err) != SF_OK) {
            rc = SF_ERR;
        } else if (src_rep[i]) {
            snprintf(field, sizeof field,
                     "mapping.members[%zu].source_canister", i);
            rc = sf_error_set(err, EK_DUP_MAPPING_SOURCE, field,
                              "mapping contains duplicate source canister "
                              "%s",
                              e->source_canister);
        } else if (tgt_rep[i]) {
            snprintf(field, sizeof field,
                     "mapping.members[%zu].target_canister", i);
            rc = sf_error_set(err, EK_DUP_MAPPING_TARGET, field,
                              "mapping contains duplicate target canister "
                              "%s",
                              e->target_canister);
        }
    }
done:
    free(src);
    free(tgt);
    free(src_rep);
    free(tgt_rep);
    return rc;
}

static void buf_truncate(sf_buf *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

int sf_restore_mapping_write_json(const sf_restore_mapping *m, sf_buf *out,
                                  sf_error *err)
{
    size_t start = out->len, i;
    sf_jw w;

    if (sf_restore_mapping_validate(m, err) != SF_OK)
        return SF_ERR;
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "members");
    sf_jw_begin_array(&w);
    for (i = 0; i < m->member_count; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "source_canister", m->members[i].source_canister);
        sf_jw_kv_string(&w, "target_canister", m->members[i].target_canister);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    if (sf_jw_finish(&w, err) != SF_OK) {
        buf_truncate(out, start);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_mapping_read_file(const char *path, sf_restore_mapping *out,
                                 sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_restore_mapping_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_restore_mapping_validate(out, err) != SF_OK) {
        sf_restore_mapping_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_restore_mapping_write_file(const char *path,
                                  const sf_restore_mapping *m, sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_restore_mapping_write_json(m, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}

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
