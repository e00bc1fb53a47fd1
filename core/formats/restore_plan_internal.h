/*
 * What the restore plan's parts share (the mapping document, the planner,
 * the plan document): canic's error kinds, a sorted string index,
 * member cleanup and the copier. Internal to core/formats.
 */
#ifndef SF_FORMATS_RESTORE_PLAN_INTERNAL_H
#define SF_FORMATS_RESTORE_PLAN_INTERNAL_H

#include "snapfleet/error.h"
#include "snapfleet/json.h"
#include "snapfleet/restore_plan.h"
#include "snapfleet/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ULL(x) ((unsigned long long)(x))

static inline int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static inline bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* ---- string index: sorted (text, position) pairs for lookups and
 * repeats in O(n log n); fleets can have thousands of members ---- */

typedef struct str_key {
    const char *s;
    size_t i;
} str_key;

static inline int str_key_cmp(const void *pa, const void *pb)
{
    const str_key *a = pa, *b = pb;
    int c = strcmp(a->s, b->s);

    if (c != 0)
        return c;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* Builds the index of n strings found at base + k * stride + offset
 * (NULL strings are left out). NULL when out of memory. */
static inline str_key *index_build(const void *base, size_t n, size_t stride,
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
static inline size_t index_find(const str_key *keys, size_t n, const char *s)
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
static inline void index_mark_repeats(const str_key *keys, size_t n, bool *repeat)
{
    size_t k;

    for (k = 1; k < n; k++)
        if (strcmp(keys[k].s, keys[k - 1].s) == 0)
            repeat[keys[k].i] = true;
}

/* ---- lifetime ---- */

static inline void checks_free(sf_manifest_check *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        free(v[i].kind);
        sf_strv_free(v[i].roles, v[i].role_count);
    }
    free(v);
}

static inline void snapshot_free(sf_manifest_snapshot *s)
{
    free(s->snapshot_id);
    free(s->module_hash);
    free(s->code_version);
    free(s->artifact_path);
    free(s->checksum_algorithm);
    free(s->checksum);
}

static inline void member_free(sf_restore_plan_member *m)
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

/* ---- copies (the planner copies from the manifest) ---- */

typedef struct copier {
    int oom;
} copier;

static inline char *dup(copier *c, const char *s)
{
    return sf_strdup_opt(s, &c->oom);
}

static inline void *dup_alloc(copier *c, size_t n, size_t size)
{
    void *p;

    if (n == 0)
        return NULL;
    p = calloc(n, size);
    if (p == NULL)
        c->oom = 1;
    return p;
}

static inline void dup_check(copier *c, sf_manifest_check *d,
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

static inline void dup_snapshot(copier *c, sf_manifest_snapshot *d,
                         const sf_manifest_snapshot *s)
{
    d->snapshot_id = dup(c, s->snapshot_id);
    d->module_hash = dup(c, s->module_hash);
    d->code_version = dup(c, s->code_version);
    d->artifact_path = dup(c, s->artifact_path);
    d->checksum_algorithm = dup(c, s->checksum_algorithm);
    d->checksum = dup(c, s->checksum);
}

static inline int read_nomem(sf_jr *r)
{
    return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
}

static inline void buf_truncate(sf_buf *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

#endif
