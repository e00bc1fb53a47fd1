/*
 * The fleet backup manifest document: strict reading, serde-compatible
 * writing, files, copies. Validation lives in manifest_validate.c.
 */
#include "snapfleet/manifest.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

static const char *const unit_kind_names[] = {"single", "subtree"};
static const char *const identity_mode_names[] = {"fixed", "relocatable"};

const char *sf_manifest_unit_kind_name(sf_manifest_unit_kind kind)
{
    return kind == SF_MANIFEST_UNIT_SUBTREE ? "subtree" : "single";
}

const char *sf_manifest_identity_mode_name(sf_manifest_identity_mode mode)
{
    return mode == SF_MANIFEST_IDENTITY_RELOCATABLE ? "relocatable" : "fixed";
}

/* ---- freeing ---- */

static void check_free(sf_manifest_check *c)
{
    free(c->kind);
    sf_strv_free(c->roles, c->role_count);
}

static void checks_free(sf_manifest_check *v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        check_free(&v[i]);
    free(v);
}

static void member_free(sf_manifest_member *m)
{
    free(m->role);
    free(m->canister_id);
    free(m->parent_canister_id);
    free(m->subnet_canister_id);
    free(m->controller_hint);
    checks_free(m->verification_checks, m->verification_check_count);
    free(m->source_snapshot.snapshot_id);
    free(m->source_snapshot.module_hash);
    free(m->source_snapshot.code_version);
    free(m->source_snapshot.artifact_path);
    free(m->source_snapshot.checksum_algorithm);
    free(m->source_snapshot.checksum);
}

void sf_manifest_free(sf_manifest *m)
{
    size_t i;

    if (m == NULL)
        return;
    free(m->backup_id);
    free(m->created_at);
    free(m->tool.name);
    free(m->tool.version);
    free(m->source.environment);
    free(m->source.root_canister);
    for (i = 0; i < m->consistency.backup_unit_count; i++) {
        free(m->consistency.backup_units[i].unit_id);
        sf_strv_free(m->consistency.backup_units[i].roles,
                     m->consistency.backup_units[i].role_count);
    }
    free(m->consistency.backup_units);
    free(m->fleet.topology_hash_algorithm);
    free(m->fleet.topology_hash_input);
    free(m->fleet.discovery_topology_hash);
    free(m->fleet.pre_snapshot_topology_hash);
    free(m->fleet.topology_hash);
    for (i = 0; i < m->fleet.member_count; i++)
        member_free(&m->fleet.members[i]);
    free(m->fleet.members);
    checks_free(m->verification.fleet_checks,
                m->verification.fleet_check_count);
    for (i = 0; i < m->verification.member_check_count; i++) {
        free(m->verification.member_checks[i].role);
        checks_free(m->verification.member_checks[i].checks,
                    m->verification.member_checks[i].check_count);
    }
    free(m->verification.member_checks);
    memset(m, 0, sizeof *m);
}

/* ---- reading ----
 *
 * Arrays are allocated zeroed and their count set before the elements are
 * read, so a failure half way leaves a value sf_manifest_free() can take. */

static int read_nomem(sf_jr *r)
{
    return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
}

/* Opens the array at `key`: *items zeroed (NULL when empty), *count set,
 * path pushed. */
static int open_array(sf_jr *r, const cJSON *obj, const char *key,
                      size_t size, void **items, size_t *count,
                      const cJSON **arr, size_t *mark)
{
    size_t n;

    *items = NULL;
    *mark = 0;
    if (sf_jr_array(r, obj, key, arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        *items = calloc(n, size);
        if (*items == NULL)
            return read_nomem(r);
    }
    *count = n;
    *mark = sf_jr_push_key(r, key);
    return SF_OK;
}

static int read_check(sf_jr *r, const cJSON *v, sf_manifest_check *c)
{
    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "kind", &c->kind) != SF_OK ||
        sf_jr_str_array(r, v, "roles", &c->roles, &c->role_count) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

static int read_checks(sf_jr *r, const cJSON *obj, const char *key,
                       sf_manifest_check **out, size_t *count)
{
    const cJSON *arr, *item;
    size_t mark, i = 0;
    void *items;
    int rc;

    rc = open_array(r, obj, key, sizeof **out, &items, count, &arr, &mark);
    *out = items;
    if (rc != SF_OK)
        return SF_ERR;
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

static int read_unit(sf_jr *r, const cJSON *v, sf_manifest_unit *u)
{
    int kind;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "unit_id", &u->unit_id) != SF_OK ||
        sf_jr_enum(r, v, "kind", unit_kind_names, 2, &kind) != SF_OK)
        return SF_ERR;
    u->kind = (sf_manifest_unit_kind)kind;
    return sf_jr_str_array(r, v, "roles", &u->roles, &u->role_count);
}

static int read_consistency(sf_jr *r, const cJSON *obj,
                            sf_manifest_consistency *c)
{
    const cJSON *sec, *arr, *item;
    size_t sec_mark, mark, i = 0;
    void *items;
    int rc;

    if (sf_jr_object(r, obj, "consistency", &sec) != SF_OK)
        return SF_ERR;
    sec_mark = sf_jr_push_key(r, "consistency");
    rc = open_array(r, sec, "backup_units", sizeof *c->backup_units, &items,
                    &c->backup_unit_count, &arr, &mark);
    c->backup_units = items;
    if (rc != SF_OK)
        return SF_ERR;
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);

        if (read_unit(r, item, &c->backup_units[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    sf_jr_pop(r, sec_mark);
    return SF_OK;
}

static int read_snapshot(sf_jr *r, const cJSON *obj, sf_manifest_snapshot *s)
{
    const cJSON *v;
    size_t mark;

    if (sf_jr_object(r, obj, "source_snapshot", &v) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "source_snapshot");
    /* `checksum` is serde(default): absent reads as null, like the other
     * Options. */
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

static int read_member(sf_jr *r, const cJSON *v, sf_manifest_member *m)
{
    int mode;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "role", &m->role) != SF_OK ||
        sf_jr_str(r, v, "canister_id", &m->canister_id) != SF_OK ||
        sf_jr_str_opt(r, v, "parent_canister_id", &m->parent_canister_id) !=
            SF_OK ||
        sf_jr_str_opt(r, v, "subnet_canister_id", &m->subnet_canister_id) !=
            SF_OK ||
        sf_jr_str_opt(r, v, "controller_hint", &m->controller_hint) !=
            SF_OK ||
        sf_jr_enum(r, v, "identity_mode", identity_mode_names, 2, &mode) !=
            SF_OK)
        return SF_ERR;
    m->identity_mode = (sf_manifest_identity_mode)mode;
    if (read_checks(r, v, "verification_checks", &m->verification_checks,
                    &m->verification_check_count) != SF_OK)
        return SF_ERR;
    return read_snapshot(r, v, &m->source_snapshot);
}

static int read_fleet(sf_jr *r, const cJSON *obj, sf_manifest_fleet *f)
{
    const cJSON *sec, *arr, *item;
    size_t sec_mark, mark, i = 0;
    void *items;
    int rc;

    if (sf_jr_object(r, obj, "fleet", &sec) != SF_OK)
        return SF_ERR;
    sec_mark = sf_jr_push_key(r, "fleet");
    if (sf_jr_str(r, sec, "topology_hash_algorithm",
                  &f->topology_hash_algorithm) != SF_OK ||
        sf_jr_str(r, sec, "topology_hash_input", &f->topology_hash_input) !=
            SF_OK ||
        sf_jr_str(r, sec, "discovery_topology_hash",
                  &f->discovery_topology_hash) != SF_OK ||
        sf_jr_str(r, sec, "pre_snapshot_topology_hash",
                  &f->pre_snapshot_topology_hash) != SF_OK ||
        sf_jr_str(r, sec, "topology_hash", &f->topology_hash) != SF_OK)
        return SF_ERR;
    rc = open_array(r, sec, "members", sizeof *f->members, &items,
                    &f->member_count, &arr, &mark);
    f->members = items;
    if (rc != SF_OK)
        return SF_ERR;
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);

        if (read_member(r, item, &f->members[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    sf_jr_pop(r, sec_mark);
    return SF_OK;
}

static int read_verification(sf_jr *r, const cJSON *obj,
                             sf_manifest_verification *v)
{
    const cJSON *sec, *arr, *item;
    size_t sec_mark, mark, i = 0;
    void *items;
    int rc;

    /* Required: canic 0.35.10 gives the field no serde(default). */
    if (sf_jr_object(r, obj, "verification", &sec) != SF_OK)
        return SF_ERR;
    sec_mark = sf_jr_push_key(r, "verification");
    if (read_checks(r, sec, "fleet_checks", &v->fleet_checks,
                    &v->fleet_check_count) != SF_OK)
        return SF_ERR;
    rc = open_array(r, sec, "member_checks", sizeof *v->member_checks,
                    &items, &v->member_check_count, &arr, &mark);
    v->member_checks = items;
    if (rc != SF_OK)
        return SF_ERR;
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);
        sf_manifest_member_checks *g = &v->member_checks[i];

        if (sf_jr_expect_object(r, item) != SF_OK ||
            sf_jr_str(r, item, "role", &g->role) != SF_OK ||
            read_checks(r, item, "checks", &g->checks, &g->check_count) !=
                SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    sf_jr_pop(r, sec_mark);
    return SF_OK;
}

static int read_pair(sf_jr *r, const cJSON *obj, const char *key,
                     const char *k1, char **v1, const char *k2, char **v2)
{
    const cJSON *sec;
    size_t mark;

    if (sf_jr_object(r, obj, key, &sec) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, key);
    if (sf_jr_str(r, sec, k1, v1) != SF_OK ||
        sf_jr_str(r, sec, k2, v2) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_manifest(sf_jr *r, const cJSON *root, sf_manifest *m)
{
    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_uint(r, root, "manifest_version", UINT16_MAX,
                   &m->manifest_version) != SF_OK ||
        sf_jr_str(r, root, "backup_id", &m->backup_id) != SF_OK ||
        sf_jr_str(r, root, "created_at", &m->created_at) != SF_OK ||
        read_pair(r, root, "tool", "name", &m->tool.name, "version",
                  &m->tool.version) != SF_OK ||
        read_pair(r, root, "source", "environment", &m->source.environment,
                  "root_canister", &m->source.root_canister) != SF_OK ||
        read_consistency(r, root, &m->consistency) != SF_OK ||
        read_fleet(r, root, &m->fleet) != SF_OK ||
        read_verification(r, root, &m->verification) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

int sf_manifest_parse(const char *text, size_t len, sf_manifest *out,
                      sf_error *err)
{
    cJSON *root;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_manifest(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_manifest_free(out);
    return rc;
}

/* ---- writing: fields in serde declaration order ---- */

void sf_manifest_checks_write(sf_jw *w, const char *key,
                              const sf_manifest_check *v, size_t n)
{
    size_t i;

    sf_jw_key(w, key);
    sf_jw_begin_array(w);
    for (i = 0; i < n; i++) {
        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "kind", v[i].kind);
        sf_jw_kv_strv(w, "roles", v[i].roles, v[i].role_count);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
}

static void write_member(sf_jw *w, const sf_manifest_member *m)
{
    const sf_manifest_snapshot *s = &m->source_snapshot;

    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "role", m->role);
    sf_jw_kv_string(w, "canister_id", m->canister_id);
    sf_jw_kv_string(w, "parent_canister_id", m->parent_canister_id);
    sf_jw_kv_string(w, "subnet_canister_id", m->subnet_canister_id);
    sf_jw_kv_string(w, "controller_hint", m->controller_hint);
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

static void write_manifest(sf_jw *w, const sf_manifest *m)
{
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_kv_u64(w, "manifest_version", m->manifest_version);
    sf_jw_kv_string(w, "backup_id", m->backup_id);
    sf_jw_kv_string(w, "created_at", m->created_at);
    sf_jw_key(w, "tool");
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "name", m->tool.name);
    sf_jw_kv_string(w, "version", m->tool.version);
    sf_jw_end_object(w);
    sf_jw_key(w, "source");
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "environment", m->source.environment);
    sf_jw_kv_string(w, "root_canister", m->source.root_canister);
    sf_jw_end_object(w);

    sf_jw_key(w, "consistency");
    sf_jw_begin_object(w);
    sf_jw_key(w, "backup_units");
    sf_jw_begin_array(w);
    for (i = 0; i < m->consistency.backup_unit_count; i++) {
        const sf_manifest_unit *u = &m->consistency.backup_units[i];

        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "unit_id", u->unit_id);
        sf_jw_kv_string(w, "kind", sf_manifest_unit_kind_name(u->kind));
        sf_jw_kv_strv(w, "roles", u->roles, u->role_count);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
    sf_jw_end_object(w);

    sf_jw_key(w, "fleet");
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "topology_hash_algorithm",
                    m->fleet.topology_hash_algorithm);
    sf_jw_kv_string(w, "topology_hash_input", m->fleet.topology_hash_input);
    sf_jw_kv_string(w, "discovery_topology_hash",
                    m->fleet.discovery_topology_hash);
    sf_jw_kv_string(w, "pre_snapshot_topology_hash",
                    m->fleet.pre_snapshot_topology_hash);
    sf_jw_kv_string(w, "topology_hash", m->fleet.topology_hash);
    sf_jw_key(w, "members");
    sf_jw_begin_array(w);
    for (i = 0; i < m->fleet.member_count; i++)
        write_member(w, &m->fleet.members[i]);
    sf_jw_end_array(w);
    sf_jw_end_object(w);

    sf_jw_key(w, "verification");
    sf_jw_begin_object(w);
    sf_manifest_checks_write(w, "fleet_checks", m->verification.fleet_checks,
                 m->verification.fleet_check_count);
    sf_jw_key(w, "member_checks");
    sf_jw_begin_array(w);
    for (i = 0; i < m->verification.member_check_count; i++) {
        const sf_manifest_member_checks *g = &m->verification.member_checks[i];

        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "role", g->role);
        sf_manifest_checks_write(w, "checks", g->checks, g->check_count);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
    sf_jw_end_object(w);
    sf_jw_end_object(w);
}

/* Drops whatever a failed write appended. */
static void buf_truncate(sf_buf *b, size_t len)
{
    b->len = len;
    if (b->data != NULL)
        b->data[len] = '\0';
}

int sf_manifest_write_json(const sf_manifest *m, sf_buf *out, sf_error *err)
{
    size_t start = out->len;
    sf_jw w;

    if (sf_manifest_validate(m, err) != SF_OK)
        return SF_ERR;
    sf_jw_init(&w, out);
    write_manifest(&w, m);
    if (sf_jw_finish(&w, err) != SF_OK) {
        buf_truncate(out, start);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_manifest_validation_summary_json(const sf_manifest *m, sf_buf *out,
                                        sf_error *err)
{
    size_t start = out->len, i, single = 0, subtree = 0;
    const sf_manifest_consistency *c = &m->consistency;
    sf_jw w;

    if (sf_manifest_validate(m, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < c->backup_unit_count; i++) {
        if (c->backup_units[i].kind == SF_MANIFEST_UNIT_SUBTREE)
            subtree++;
        else
            single++;
    }
    /* canic builds this with json!{} into a BTreeMap-backed Value, so the
     * keys come out sorted. */
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "backup_id", m->backup_id);
    sf_jw_kv_u64(&w, "backup_unit_count", c->backup_unit_count);
    sf_jw_key(&w, "backup_unit_kinds");
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "single", single);
    sf_jw_kv_u64(&w, "subtree", subtree);
    sf_jw_end_object(&w);
    sf_jw_key(&w, "backup_units");
    sf_jw_begin_array(&w);
    for (i = 0; i < c->backup_unit_count; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "kind",
                        sf_manifest_unit_kind_name(c->backup_units[i].kind));
        sf_jw_kv_u64(&w, "role_count", c->backup_units[i].role_count);
        sf_jw_kv_string(&w, "unit_id", c->backup_units[i].unit_id);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_kv_u64(&w, "members", m->fleet.member_count);
    sf_jw_kv_string(&w, "status", "valid");
    sf_jw_kv_string(&w, "topology_hash", m->fleet.topology_hash);
    sf_jw_kv_string(&w, "topology_hash_algorithm",
                    m->fleet.topology_hash_algorithm);
    sf_jw_kv_string(&w, "topology_hash_input", m->fleet.topology_hash_input);
    sf_jw_kv_string(&w, "topology_validation_status", "validated");
    sf_jw_end_object(&w);
    if (sf_jw_finish(&w, err) != SF_OK) {
        buf_truncate(out, start);
        return SF_ERR;
    }
    return SF_OK;
}

/* ---- files ---- */

int sf_manifest_read_file(const char *path, sf_manifest *out, sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_manifest_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_manifest_validate(out, err) != SF_OK) {
        sf_manifest_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_manifest_write_file(const char *path, const sf_manifest *m,
                           sf_error *err)
{
    sf_buf b;
    int rc;

    sf_buf_init(&b);
    rc = sf_manifest_write_json(m, &b, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, b.data, b.len, err);
    sf_buf_free(&b);
    return rc;
}

/* ---- deep copy ---- */

typedef struct copier {
    int oom;
} copier;

static char *dup(copier *c, const char *s)
{
    return sf_strdup_opt(s, &c->oom);
}

static char **dup_strv(copier *c, char *const *v, size_t n, size_t *count)
{
    char **out;
    size_t i;

    *count = 0;
    if (n == 0)
        return NULL;
    out = calloc(n, sizeof *out);
    if (out == NULL) {
        c->oom = 1;
        return NULL;
    }
    *count = n;
    for (i = 0; i < n; i++)
        out[i] = dup(c, v[i]);
    return out;
}

static sf_manifest_check *dup_checks(copier *c, const sf_manifest_check *v,
                                     size_t n, size_t *count)
{
    sf_manifest_check *out;
    size_t i;

    *count = 0;
    if (n == 0)
        return NULL;
    out = calloc(n, sizeof *out);
    if (out == NULL) {
        c->oom = 1;
        return NULL;
    }
    *count = n;
    for (i = 0; i < n; i++) {
        out[i].kind = dup(c, v[i].kind);
        out[i].roles = dup_strv(c, v[i].roles, v[i].role_count,
                                &out[i].role_count);
    }
    return out;
}

static void dup_member(copier *c, sf_manifest_member *d,
                       const sf_manifest_member *s)
{
    d->role = dup(c, s->role);
    d->canister_id = dup(c, s->canister_id);
    d->parent_canister_id = dup(c, s->parent_canister_id);
    d->subnet_canister_id = dup(c, s->subnet_canister_id);
    d->controller_hint = dup(c, s->controller_hint);
    d->identity_mode = s->identity_mode;
    d->verification_checks =
        dup_checks(c, s->verification_checks, s->verification_check_count,
                   &d->verification_check_count);
    d->source_snapshot.snapshot_id = dup(c, s->source_snapshot.snapshot_id);
    d->source_snapshot.module_hash = dup(c, s->source_snapshot.module_hash);
    d->source_snapshot.code_version = dup(c, s->source_snapshot.code_version);
    d->source_snapshot.artifact_path =
        dup(c, s->source_snapshot.artifact_path);
    d->source_snapshot.checksum_algorithm =
        dup(c, s->source_snapshot.checksum_algorithm);
    d->source_snapshot.checksum = dup(c, s->source_snapshot.checksum);
}

/* calloc'd array of n elements, with *count set only on success. */
static void *dup_array(copier *c, size_t n, size_t size, size_t *count)
{
    void *p;

    *count = 0;
    if (n == 0)
        return NULL;
    p = calloc(n, size);
    if (p == NULL)
        c->oom = 1;
    else
        *count = n;
    return p;
}

int sf_manifest_copy(sf_manifest *dst, const sf_manifest *src,
                     sf_error *err)
{
    const sf_manifest_consistency *sc = &src->consistency;
    const sf_manifest_fleet *sf = &src->fleet;
    const sf_manifest_verification *sv = &src->verification;
    copier c = {0};
    size_t i;

    memset(dst, 0, sizeof *dst);
    dst->manifest_version = src->manifest_version;
    dst->backup_id = dup(&c, src->backup_id);
    dst->created_at = dup(&c, src->created_at);
    dst->tool.name = dup(&c, src->tool.name);
    dst->tool.version = dup(&c, src->tool.version);
    dst->source.environment = dup(&c, src->source.environment);
    dst->source.root_canister = dup(&c, src->source.root_canister);

    dst->consistency.backup_units =
        dup_array(&c, sc->backup_unit_count, sizeof *sc->backup_units,
                  &dst->consistency.backup_unit_count);
    for (i = 0; i < dst->consistency.backup_unit_count; i++) {
        sf_manifest_unit *d = &dst->consistency.backup_units[i];
        const sf_manifest_unit *s = &sc->backup_units[i];

        d->unit_id = dup(&c, s->unit_id);
        d->kind = s->kind;
        d->roles = dup_strv(&c, s->roles, s->role_count, &d->role_count);
    }

    dst->fleet.topology_hash_algorithm = dup(&c, sf->topology_hash_algorithm);
    dst->fleet.topology_hash_input = dup(&c, sf->topology_hash_input);
    dst->fleet.discovery_topology_hash = dup(&c, sf->discovery_topology_hash);
    dst->fleet.pre_snapshot_topology_hash =
        dup(&c, sf->pre_snapshot_topology_hash);
    dst->fleet.topology_hash = dup(&c, sf->topology_hash);
    dst->fleet.members = dup_array(&c, sf->member_count, sizeof *sf->members,
                                   &dst->fleet.member_count);
    for (i = 0; i < dst->fleet.member_count; i++)
        dup_member(&c, &dst->fleet.members[i], &sf->members[i]);

    dst->verification.fleet_checks =
        dup_checks(&c, sv->fleet_checks, sv->fleet_check_count,
                   &dst->verification.fleet_check_count);
    dst->verification.member_checks =
        dup_array(&c, sv->member_check_count, sizeof *sv->member_checks,
                  &dst->verification.member_check_count);
    for (i = 0; i < dst->verification.member_check_count; i++) {
        sf_manifest_member_checks *d = &dst->verification.member_checks[i];
        const sf_manifest_member_checks *s = &sv->member_checks[i];

        d->role = dup(&c, s->role);
        d->checks =
            dup_checks(&c, s->checks, s->check_count, &d->check_count);
    }

    if (c.oom) {
        sf_manifest_free(dst);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    return SF_OK;
}
