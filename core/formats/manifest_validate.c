/*
 * Manifest validation: canic-backup 0.35.10's FleetBackupManifest::validate,
 * rule for rule and in the same order, because the first failure is what
 * an operator sees and what tests pin down.
 *
 * canic names fields without indices ("fleet.members[].canister_id"); those
 * names stay in the messages so the texts match canic byte for byte, while
 * sf_error.field carries the concrete path ("fleet.members[2].canister_id").
 * Element prefixes are formatted as the walk goes; the rest of a path only
 * when a rule fails.
 */
#include "snapfleet/manifest.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/principal.h"
#include "snapfleet/text.h"

/* Error kinds: canic's ManifestValidationError variants in kebab case. */
#define EK_VERSION "unsupported-manifest-version"
#define EK_EMPTY_FIELD "empty-field"
#define EK_EMPTY_COLLECTION "empty-collection"
#define EK_PRINCIPAL "invalid-principal"
#define EK_HASH "invalid-hash"
#define EK_HASH_ALGORITHM "unsupported-hash-algorithm"
#define EK_CHECK_KIND "unsupported-verification-kind"
#define EK_TOPOLOGY_MISMATCH "topology-hash-mismatch"
#define EK_ACCEPTED_MISMATCH "accepted-topology-hash-mismatch"
#define EK_DUP_CANISTER "duplicate-canister-id"
#define EK_DUP_UNIT "duplicate-backup-unit-id"
#define EK_DUP_UNIT_ROLE "duplicate-backup-unit-role"
#define EK_NO_MEMBER_CHECKS "missing-member-verification-checks"
#define EK_UNKNOWN_UNIT_ROLE "unknown-backup-unit-role"
#define EK_COVERAGE "backup-unit-coverage-missing-role"
#define EK_UNKNOWN_CHECK_ROLE "unknown-verification-role"
#define EK_DUP_MEMBER_CHECK_ROLE "duplicate-member-verification-role"
#define EK_DUP_CHECK_ROLE "duplicate-verification-check-role"
#define EK_NOT_CONNECTED "subtree-backup-unit-not-connected"
#define EK_MISSING_DESCENDANT "subtree-backup-unit-missing-descendant"

typedef char path_buf[SF_ERROR_FIELD_MAX];

static const char *pathf(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static const char *pathf(char *buf, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, SF_ERROR_FIELD_MAX, fmt, ap);
    va_end(ap);
    return buf;
}

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

/* `name` is canic's field name (for the message); the concrete path is
 * prefix + leaf. */
static int nonempty(sf_error *err, const char *value, const char *name,
                    const char *prefix, const char *leaf)
{
    path_buf p;

    if (!sf_str_is_blank(value))
        return SF_OK;
    return sf_error_set(err, EK_EMPTY_FIELD, pathf(p, "%s%s", prefix, leaf),
                        "field %s must not be empty", name);
}

static int optional_nonempty(sf_error *err, const char *value,
                             const char *name, const char *prefix,
                             const char *leaf)
{
    return value == NULL ? SF_OK : nonempty(err, value, name, prefix, leaf);
}

static int principal(sf_error *err, const char *value, const char *name,
                     const char *prefix, const char *leaf)
{
    path_buf p;

    if (nonempty(err, value, name, prefix, leaf) != SF_OK)
        return SF_ERR;
    if (sf_principal_is_valid(value))
        return SF_OK;
    return sf_error_set(err, EK_PRINCIPAL, pathf(p, "%s%s", prefix, leaf),
                        "field %s must be a valid principal: %s", name,
                        value);
}

static int optional_principal(sf_error *err, const char *value,
                              const char *name, const char *prefix,
                              const char *leaf)
{
    return value == NULL ? SF_OK : principal(err, value, name, prefix, leaf);
}

static int hash(sf_error *err, const char *value, const char *name,
                const char *prefix, const char *leaf)
{
    path_buf p;

    if (nonempty(err, value, name, prefix, leaf) != SF_OK)
        return SF_ERR;
    if (sf_is_sha256_hex(value))
        return SF_OK;
    return sf_error_set(err, EK_HASH, pathf(p, "%s%s", prefix, leaf),
                        "field %s must be a non-empty sha256 hex string",
                        name);
}

/* ---- "first repeated value" over a strided string field ----
 *
 * canic inserts into a BTreeSet while it walks a list and fails on the
 * first insert that finds the value already there, with other checks
 * interleaved per element. The index of the first element equal to an
 * earlier one, computed up front, reproduces that: the walk fails at that
 * index unless an earlier element failed another check first. */

#define STR_AT(base, stride, i) \
    (*(char *const *)((const char *)(base) + (i) * (stride)))
#define DUP_SCAN_MAX 32 /* below this a quadratic scan beats sorting */

typedef struct str_index {
    const char *s;
    size_t i;
} str_index;

/* Byte-wise order (strcmp compares as unsigned char, like Rust's str Ord),
 * ties by position. */
static int str_index_cmp(const void *a, const void *b)
{
    const str_index *x = a, *y = b;
    int c = strcmp(x->s, y->s);

    if (c != 0)
        return c;
    return (x->i > y->i) - (x->i < y->i);
}

static str_index *sorted_index(const void *base, size_t n, size_t stride)
{
    str_index *v = malloc((n ? n : 1) * sizeof *v);
    size_t i;

    if (v == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        v[i].s = nz(STR_AT(base, stride, i));
        v[i].i = i;
    }
    qsort(v, n, sizeof *v, str_index_cmp);
    return v;
}

/* *out = index of the first value equal to an earlier one, n if none. */
static int first_dup(const void *base, size_t n, size_t stride, size_t *out,
                     sf_error *err)
{
    str_index *v;
    size_t i, j;

    *out = n;
    if (n <= DUP_SCAN_MAX) {
        for (i = 1; i < n; i++)
            for (j = 0; j < i; j++)
                if (strcmp(nz(STR_AT(base, stride, i)),
                           nz(STR_AT(base, stride, j))) == 0) {
                    *out = i;
                    return SF_OK;
                }
        return SF_OK;
    }
    v = sorted_index(base, n, stride);
    if (v == NULL)
        return nomem(err);
    for (i = 1; i < n; i++)
        if (strcmp(v[i - 1].s, v[i].s) == 0 && v[i].i < *out)
            *out = v[i].i;
    free(v);
    return SF_OK;
}

/* ---- section rules ---- */

static int check_validate(sf_error *err, const sf_manifest_check *c,
                          const char *prefix)
{
    path_buf p;
    size_t j, dup;

    if (nonempty(err, c->kind, "verification.check.kind", prefix, ".kind"))
        return SF_ERR;
    if (strcmp(c->kind, SF_MANIFEST_CHECK_KIND_STATUS) != 0)
        return sf_error_set(err, EK_CHECK_KIND, pathf(p, "%s.kind", prefix),
                            "unsupported verification kind %s", c->kind);
    for (j = 0; j < c->role_count; j++)
        if (sf_str_is_blank(c->roles[j]))
            return sf_error_set(err, EK_EMPTY_FIELD,
                                pathf(p, "%s.roles[%zu]", prefix, j),
                                "field verification.check.roles[] must not "
                                "be empty");
    if (first_dup(c->roles, c->role_count, sizeof *c->roles, &dup, err))
        return SF_ERR;
    if (dup < c->role_count)
        return sf_error_set(err, EK_DUP_CHECK_ROLE,
                            pathf(p, "%s.roles[%zu]", prefix, dup),
                            "verification check %s repeats role %s", c->kind,
                            c->roles[dup]);
    return SF_OK;
}

static int unit_validate(sf_error *err, const sf_manifest_unit *u,
                         const char *prefix)
{
    path_buf p;
    size_t j, dup;

    if (nonempty(err, u->unit_id, "consistency.backup_units[].unit_id",
                 prefix, ".unit_id"))
        return SF_ERR;
    if (u->role_count == 0)
        return sf_error_set(err, EK_EMPTY_COLLECTION,
                            pathf(p, "%s.roles", prefix),
                            "collection consistency.backup_units[].roles "
                            "must not be empty");
    for (j = 0; j < u->role_count; j++)
        if (sf_str_is_blank(u->roles[j]))
            return sf_error_set(err, EK_EMPTY_FIELD,
                                pathf(p, "%s.roles[%zu]", prefix, j),
                                "field consistency.backup_units[].roles[] "
                                "must not be empty");
    if (first_dup(u->roles, u->role_count, sizeof *u->roles, &dup, err))
        return SF_ERR;
    if (dup < u->role_count)
        return sf_error_set(err, EK_DUP_UNIT_ROLE,
                            pathf(p, "%s.roles[%zu]", prefix, dup),
                            "backup unit %s repeats role %s", u->unit_id,
                            u->roles[dup]);
    return SF_OK;
}

static int consistency_validate(sf_error *err,
                                const sf_manifest_consistency *c)
{
    path_buf p, q;
    size_t i, dup;

    if (c->backup_unit_count == 0)
        return sf_error_set(err, EK_EMPTY_COLLECTION,
                            "consistency.backup_units",
                            "collection consistency.backup_units must not "
                            "be empty");
    if (first_dup(&c->backup_units[0].unit_id, c->backup_unit_count,
                  sizeof *c->backup_units, &dup, err))
        return SF_ERR;
    for (i = 0; i < c->backup_unit_count; i++) {
        pathf(p, "consistency.backup_units[%zu]", i);
        if (unit_validate(err, &c->backup_units[i], p))
            return SF_ERR;
        if (i == dup)
            return sf_error_set(err, EK_DUP_UNIT,
                                pathf(q, "%s.unit_id", p),
                                "duplicate backup unit id %s",
                                c->backup_units[i].unit_id);
    }
    return SF_OK;
}

static int snapshot_validate(sf_error *err, const sf_manifest_snapshot *s,
                             const char *prefix)
{
    path_buf p;

    if (nonempty(err, s->snapshot_id,
                 "fleet.members[].source_snapshot.snapshot_id", prefix,
                 ".source_snapshot.snapshot_id") ||
        optional_nonempty(err, s->module_hash,
                          "fleet.members[].source_snapshot.module_hash",
                          prefix, ".source_snapshot.module_hash") ||
        optional_nonempty(err, s->code_version,
                          "fleet.members[].source_snapshot.code_version",
                          prefix, ".source_snapshot.code_version") ||
        nonempty(err, s->artifact_path,
                 "fleet.members[].source_snapshot.artifact_path", prefix,
                 ".source_snapshot.artifact_path") ||
        nonempty(err, s->checksum_algorithm,
                 "fleet.members[].source_snapshot.checksum_algorithm",
                 prefix, ".source_snapshot.checksum_algorithm"))
        return SF_ERR;
    if (strcmp(s->checksum_algorithm, SF_MANIFEST_HASH_ALGORITHM) != 0)
        return sf_error_set(
            err, EK_HASH_ALGORITHM,
            pathf(p, "%s.source_snapshot.checksum_algorithm", prefix),
            "unsupported hash algorithm %s", s->checksum_algorithm);
    if (s->checksum != NULL &&
        hash(err, s->checksum, "fleet.members[].source_snapshot.checksum",
             prefix, ".source_snapshot.checksum"))
        return SF_ERR;
    return SF_OK;
}

static int member_validate(sf_error *err, const sf_manifest_member *m,
                           const char *prefix)
{
    path_buf p, q;
    size_t j;

    if (nonempty(err, m->role, "fleet.members[].role", prefix, ".role") ||
        principal(err, m->canister_id, "fleet.members[].canister_id",
                  prefix, ".canister_id") ||
        optional_principal(err, m->parent_canister_id,
                           "fleet.members[].parent_canister_id", prefix,
                           ".parent_canister_id") ||
        optional_principal(err, m->subnet_canister_id,
                           "fleet.members[].subnet_canister_id", prefix,
                           ".subnet_canister_id") ||
        optional_principal(err, m->controller_hint,
                           "fleet.members[].controller_hint", prefix,
                           ".controller_hint"))
        return SF_ERR;
    if (m->verification_check_count == 0)
        return sf_error_set(err, EK_NO_MEMBER_CHECKS,
                            pathf(p, "%s.verification_checks", prefix),
                            "fleet member %s has no concrete verification "
                            "checks",
                            m->canister_id);
    for (j = 0; j < m->verification_check_count; j++) {
        pathf(q, "%s.verification_checks[%zu]", prefix, j);
        if (check_validate(err, &m->verification_checks[j], q))
            return SF_ERR;
    }
    return snapshot_validate(err, &m->source_snapshot, prefix);
}

static int fleet_validate(sf_error *err, const sf_manifest_fleet *f)
{
    path_buf p, q;
    size_t i, dup;

    if (nonempty(err, f->topology_hash_algorithm,
                 "fleet.topology_hash_algorithm", "fleet",
                 ".topology_hash_algorithm"))
        return SF_ERR;
    if (strcmp(f->topology_hash_algorithm, SF_MANIFEST_HASH_ALGORITHM) != 0)
        return sf_error_set(err, EK_HASH_ALGORITHM,
                            "fleet.topology_hash_algorithm",
                            "unsupported hash algorithm %s",
                            f->topology_hash_algorithm);
    if (nonempty(err, f->topology_hash_input, "fleet.topology_hash_input",
                 "fleet", ".topology_hash_input") ||
        hash(err, f->discovery_topology_hash, "fleet.discovery_topology_hash",
             "fleet", ".discovery_topology_hash") ||
        hash(err, f->pre_snapshot_topology_hash,
             "fleet.pre_snapshot_topology_hash", "fleet",
             ".pre_snapshot_topology_hash") ||
        hash(err, f->topology_hash, "fleet.topology_hash", "fleet",
             ".topology_hash"))
        return SF_ERR;
    /* Exact comparisons: canic compares the stored text, case included. */
    if (strcmp(f->discovery_topology_hash, f->pre_snapshot_topology_hash))
        return sf_error_set(err, EK_TOPOLOGY_MISMATCH,
                            "fleet.pre_snapshot_topology_hash",
                            "topology hash mismatch between discovery %s "
                            "and pre-snapshot %s",
                            f->discovery_topology_hash,
                            f->pre_snapshot_topology_hash);
    if (strcmp(f->topology_hash, f->discovery_topology_hash))
        return sf_error_set(err, EK_ACCEPTED_MISMATCH, "fleet.topology_hash",
                            "accepted topology hash %s does not match "
                            "discovery hash %s",
                            f->topology_hash, f->discovery_topology_hash);
    if (f->member_count == 0)
        return sf_error_set(err, EK_EMPTY_COLLECTION, "fleet.members",
                            "collection fleet.members must not be empty");
    if (first_dup(&f->members[0].canister_id, f->member_count,
                  sizeof *f->members, &dup, err))
        return SF_ERR;
    for (i = 0; i < f->member_count; i++) {
        pathf(p, "fleet.members[%zu]", i);
        if (member_validate(err, &f->members[i], p))
            return SF_ERR;
        if (i == dup)
            return sf_error_set(err, EK_DUP_CANISTER,
                                pathf(q, "%s.canister_id", p),
                                "duplicate canister id %s",
                                f->members[i].canister_id);
    }
    return SF_OK;
}

static int verification_validate(sf_error *err,
                                 const sf_manifest_verification *v)
{
    path_buf p, q;
    size_t i, j;

    for (i = 0; i < v->fleet_check_count; i++) {
        pathf(p, "verification.fleet_checks[%zu]", i);
        if (check_validate(err, &v->fleet_checks[i], p))
            return SF_ERR;
    }
    for (i = 0; i < v->member_check_count; i++) {
        const sf_manifest_member_checks *g = &v->member_checks[i];

        pathf(p, "verification.member_checks[%zu]", i);
        if (nonempty(err, g->role, "verification.member_checks[].role", p,
                     ".role"))
            return SF_ERR;
        if (g->check_count == 0)
            return sf_error_set(err, EK_EMPTY_COLLECTION,
                                pathf(q, "%s.checks", p),
                                "collection verification.member_checks[]."
                                "checks must not be empty");
        for (j = 0; j < g->check_count; j++) {
            pathf(q, "%s.checks[%zu]", p, j);
            if (check_validate(err, &g->checks[j], q))
                return SF_ERR;
        }
    }
    return SF_OK;
}

/* ---- cross-section rules ----
 *
 * Both need the set of fleet roles (canic's BTreeSet of member roles) and
 * the subtree rule needs members by canister id; both are sorted arrays
 * searched with bsearch, so large fleets stay O(n log n). */

typedef struct role_entry {
    const char *role;
    size_t first_member; /* lowest member index with this role */
    size_t unit_stamp;   /* i + 1 while unit i is being checked */
    bool covered;
} role_entry;

typedef struct fleet_index {
    role_entry *roles; /* unique, byte-wise sorted */
    size_t role_count;
    size_t *role_of;   /* member index -> roles[] index */
    str_index *by_id;  /* canister ids, sorted (unique after validation) */
    bool *in_unit;     /* member index -> member of the unit being checked */
    size_t *visited;   /* member index -> last ancestor walk that saw it */
    bool *no_ancestor; /* member index -> known to have no unit ancestor */
} fleet_index;

#define NO_MEMBER ((size_t)-1)

static int role_entry_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const role_entry *)elem)->role);
}

static int str_index_key_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const str_index *)elem)->s);
}

static role_entry *find_role(const fleet_index *ix, const char *role)
{
    return bsearch(role, ix->roles, ix->role_count, sizeof *ix->roles,
                   role_entry_cmp);
}

/* Member index of a canister id, or NO_MEMBER when no member has it. */
static size_t find_member(const fleet_index *ix, const char *id, size_t n)
{
    const str_index *e =
        bsearch(id, ix->by_id, n, sizeof *ix->by_id, str_index_key_cmp);

    return e != NULL ? e->i : NO_MEMBER;
}

static void fleet_index_free(fleet_index *ix)
{
    free(ix->roles);
    free(ix->role_of);
    free(ix->by_id);
    free(ix->in_unit);
    free(ix->visited);
    free(ix->no_ancestor);
}

static int fleet_index_build(fleet_index *ix, const sf_manifest_fleet *f,
                             sf_error *err)
{
    size_t n = f->member_count, alloc = n ? n : 1, i, k = 0;
    str_index *by_role;

    memset(ix, 0, sizeof *ix);
    by_role = sorted_index(&f->members[0].role, n, sizeof *f->members);
    ix->roles = calloc(alloc, sizeof *ix->roles);
    ix->role_of = calloc(alloc, sizeof *ix->role_of);
    ix->by_id = sorted_index(&f->members[0].canister_id, n,
                             sizeof *f->members);
    ix->in_unit = calloc(alloc, sizeof *ix->in_unit);
    ix->visited = calloc(alloc, sizeof *ix->visited);
    ix->no_ancestor = calloc(alloc, sizeof *ix->no_ancestor);
    if (by_role == NULL || ix->roles == NULL || ix->role_of == NULL ||
        ix->by_id == NULL || ix->in_unit == NULL || ix->visited == NULL ||
        ix->no_ancestor == NULL) {
        free(by_role);
        fleet_index_free(ix);
        return nomem(err);
    }
    /* Sorted by (role, index): the first of each run is the lowest index. */
    for (i = 0; i < n; i++) {
        if (i == 0 || strcmp(by_role[i - 1].s, by_role[i].s) != 0) {
            ix->roles[k].role = by_role[i].s;
            ix->roles[k].first_member = by_role[i].i;
            k++;
        }
        ix->role_of[by_role[i].i] = k - 1;
    }
    ix->role_count = k;
    free(by_role);
    return SF_OK;
}

/* The next member up from `x`, or NO_MEMBER when the parent is absent or
 * no member of the fleet. */
static size_t parent_member(const fleet_index *ix, const sf_manifest_fleet *f,
                            size_t x)
{
    const char *parent = f->members[x].parent_canister_id;

    return parent != NULL ? find_member(ix, parent, f->member_count)
                          : NO_MEMBER;
}

/* canic's first_unit_ancestor for a member outside the unit: follow parent
 * ids through the members until one is in the unit; a parent that is no
 * member ends the walk, and so does a cycle (canic's visited set). Returns
 * the unit member's index or NO_MEMBER.
 *
 * canic walks up from every member separately, which is quadratic on deep
 * chains. A walk that finds a unit member ends validation, so only "none
 * above" needs remembering: it holds for every member the walk passed, and
 * a later walk reaching one of them stops there with the same answer. */
static size_t unit_ancestor(fleet_index *ix, const sf_manifest_fleet *f,
                            size_t start, size_t walk)
{
    size_t x = start, k;

    while (!ix->no_ancestor[x]) {
        k = parent_member(ix, f, x);
        if (k == NO_MEMBER)
            break;
        if (ix->in_unit[k])
            return k;
        if (ix->visited[k] == walk)
            break;
        ix->visited[k] = walk;
        x = k;
    }
    for (x = start; x != NO_MEMBER && !ix->no_ancestor[x];
         x = parent_member(ix, f, x))
        ix->no_ancestor[x] = true;
    return NO_MEMBER;
}

static int subtree_validate(sf_error *err, fleet_index *ix,
                            const sf_manifest_fleet *f,
                            const sf_manifest_unit *u, size_t ui,
                            size_t *walk)
{
    path_buf p;
    size_t i, roots = 0;

    for (i = 0; i < f->member_count; i++) {
        ix->in_unit[i] = ix->roles[ix->role_of[i]].unit_stamp == ui + 1;
        ix->no_ancestor[i] = false;
    }
    for (i = 0; i < f->member_count; i++) {
        size_t k;

        if (!ix->in_unit[i])
            continue;
        k = parent_member(ix, f, i);
        if (k == NO_MEMBER || !ix->in_unit[k])
            roots++;
    }
    if (roots != 1)
        return sf_error_set(err, EK_NOT_CONNECTED,
                            pathf(p, "consistency.backup_units[%zu]", ui),
                            "subtree backup unit %s is not connected",
                            u->unit_id);
    for (i = 0; i < f->member_count; i++) {
        size_t k;

        if (ix->in_unit[i])
            continue;
        k = unit_ancestor(ix, f, i, ++*walk);
        /* canic names the parent as written in the child, which equals the
         * unit member's id exactly (lookups are exact). */
        if (k != NO_MEMBER)
            return sf_error_set(err, EK_MISSING_DESCENDANT,
                                pathf(p, "consistency.backup_units[%zu]", ui),
                                "subtree backup unit %s includes parent %s "
                                "but omits descendant %s",
                                u->unit_id, f->members[k].canister_id,
                                f->members[i].canister_id);
    }
    return SF_OK;
}

static int consistency_against_fleet(sf_error *err, fleet_index *ix,
                                     const sf_manifest_consistency *c,
                                     const sf_manifest_fleet *f)
{
    path_buf p;
    size_t ui, j, walk = 0;

    for (ui = 0; ui < c->backup_unit_count; ui++) {
        const sf_manifest_unit *u = &c->backup_units[ui];

        for (j = 0; j < u->role_count; j++) {
            role_entry *e = find_role(ix, u->roles[j]);

            if (e == NULL)
                return sf_error_set(
                    err, EK_UNKNOWN_UNIT_ROLE,
                    pathf(p, "consistency.backup_units[%zu].roles[%zu]", ui,
                          j),
                    "backup unit %s references unknown role %s", u->unit_id,
                    u->roles[j]);
            e->covered = true;
            e->unit_stamp = ui + 1;
        }
        if (u->kind == SF_MANIFEST_UNIT_SUBTREE &&
            subtree_validate(err, ix, f, u, ui, &walk))
            return SF_ERR;
    }
    /* BTreeSet iteration order: byte-wise sorted roles. */
    for (j = 0; j < ix->role_count; j++)
        if (!ix->roles[j].covered)
            return sf_error_set(
                err, EK_COVERAGE,
                pathf(p, "fleet.members[%zu].role", ix->roles[j].first_member),
                "fleet role %s is not covered by any backup unit",
                ix->roles[j].role);
    return SF_OK;
}

static int check_roles_known(sf_error *err, const fleet_index *ix,
                             const sf_manifest_check *c, const char *prefix)
{
    path_buf p;
    size_t j;

    for (j = 0; j < c->role_count; j++)
        if (find_role(ix, c->roles[j]) == NULL)
            return sf_error_set(err, EK_UNKNOWN_CHECK_ROLE,
                                pathf(p, "%s.roles[%zu]", prefix, j),
                                "verification plan references unknown role "
                                "%s",
                                c->roles[j]);
    return SF_OK;
}

static int verification_against_fleet(sf_error *err, const fleet_index *ix,
                                      const sf_manifest_verification *v,
                                      const sf_manifest_fleet *f)
{
    path_buf p, q;
    size_t i, j, dup;

    for (i = 0; i < v->fleet_check_count; i++) {
        pathf(p, "verification.fleet_checks[%zu]", i);
        if (check_roles_known(err, ix, &v->fleet_checks[i], p))
            return SF_ERR;
    }
    for (i = 0; i < f->member_count; i++)
        for (j = 0; j < f->members[i].verification_check_count; j++) {
            pathf(p, "fleet.members[%zu].verification_checks[%zu]", i, j);
            if (check_roles_known(err, ix,
                                  &f->members[i].verification_checks[j], p))
                return SF_ERR;
        }
    if (v->member_check_count > 0 &&
        first_dup(&v->member_checks[0].role, v->member_check_count,
                  sizeof *v->member_checks, &dup, err))
        return SF_ERR;
    for (i = 0; i < v->member_check_count; i++) {
        const sf_manifest_member_checks *g = &v->member_checks[i];

        pathf(p, "verification.member_checks[%zu]", i);
        if (find_role(ix, g->role) == NULL)
            return sf_error_set(err, EK_UNKNOWN_CHECK_ROLE,
                                pathf(q, "%s.role", p),
                                "verification plan references unknown role "
                                "%s",
                                g->role);
        if (i == dup)
            return sf_error_set(err, EK_DUP_MEMBER_CHECK_ROLE,
                                pathf(q, "%s.role", p),
                                "duplicate member verification role %s",
                                g->role);
        for (j = 0; j < g->check_count; j++) {
            pathf(q, "%s.checks[%zu]", p, j);
            if (check_roles_known(err, ix, &g->checks[j], q))
                return SF_ERR;
        }
    }
    return SF_OK;
}

int sf_manifest_validate(const sf_manifest *m, sf_error *err)
{
    fleet_index ix;
    int rc;

    if (m->manifest_version != SF_MANIFEST_VERSION)
        return sf_error_set(err, EK_VERSION, "manifest_version",
                            "unsupported manifest version %llu",
                            (unsigned long long)m->manifest_version);
    if (nonempty(err, m->backup_id, "backup_id", "", "backup_id") ||
        nonempty(err, m->created_at, "created_at", "", "created_at") ||
        nonempty(err, m->tool.name, "tool.name", "tool", ".name") ||
        nonempty(err, m->tool.version, "tool.version", "tool", ".version") ||
        nonempty(err, m->source.environment, "source.environment", "source",
                 ".environment") ||
        principal(err, m->source.root_canister, "source.root_canister",
                  "source", ".root_canister") ||
        consistency_validate(err, &m->consistency) ||
        fleet_validate(err, &m->fleet) ||
        verification_validate(err, &m->verification))
        return SF_ERR;
    if (fleet_index_build(&ix, &m->fleet, err))
        return SF_ERR;
    rc = consistency_against_fleet(err, &ix, &m->consistency, &m->fleet);
    if (rc == SF_OK)
        rc = verification_against_fleet(err, &ix, &m->verification,
                                        &m->fleet);
    fleet_index_free(&ix);
    return rc;
}
