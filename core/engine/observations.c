#include "engine/observations.h"

#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"

#define OBS_VERSION 1

static const char *const status_names[] = {"running", "stopping", "stopped"};

static void canister_free(sf_obs_canister *c)
{
    free(c->canister_id);
    sf_strv_free(c->snapshots_before, c->snapshots_before_count);
    free(c->snapshot_id);
    free(c->module_hash);
    free(c->deleting);
    free(c->replacing);
    free(c->load_from);
    memset(c, 0, sizeof *c);
}

void sf_obs_free(sf_observations *o)
{
    size_t i;

    if (o == NULL)
        return;
    for (i = 0; i < o->count; i++)
        canister_free(&o->canisters[i]);
    free(o->canisters);
    sf_posmap_free(&o->index);
    memset(o, 0, sizeof *o);
}

/* ---- the index by canister id ---- */

static bool index_covers(const sf_observations *o)
{
    return o->indexed == o->count && o->indexed_base == o->canisters;
}

/* The position of id's first entry among the indexed ones, SIZE_MAX. */
static size_t index_find(const sf_observations *o, const char *id)
{
    uint64_t h = sf_posmap_hash(id, NULL);
    size_t cursor = 0, p;

    while ((p = sf_posmap_next(&o->index, h, &cursor)) != SIZE_MAX)
        if (p < o->count && strcmp(o->canisters[p].canister_id, id) == 0)
            return p;
    return SIZE_MAX;
}

/* Brings the index up to the array: the entries appended since (all of
 * them when it does not cover the array's start). Out of memory: no
 * index (sf_obs_find scans) until a later call rebuilds it. */
static void index_sync(sf_observations *o)
{
    size_t i;

    if (o->indexed_base != o->canisters || o->indexed > o->count) {
        sf_posmap_free(&o->index);
        o->indexed = 0;
        o->indexed_base = o->canisters;
    }
    for (i = o->indexed; i < o->count; i++) {
        const char *id = o->canisters[i].canister_id;

        if (index_find(o, id) != SIZE_MAX)
            continue; /* a later duplicate: the first entry is found */
        if (!sf_posmap_insert(&o->index, sf_posmap_hash(id, NULL), i)) {
            sf_posmap_free(&o->index);
            o->indexed = 0;
            o->indexed_base = NULL;
            return;
        }
    }
    o->indexed = o->count;
}

/* The array grew into `grown` (realloc): an index that covered the old
 * one still covers what it held. */
static void moved(sf_observations *o, sf_obs_canister *grown)
{
    if (index_covers(o))
        o->indexed_base = grown;
    o->canisters = grown;
}

static int parse_canister(sf_jr *r, const cJSON *v, sf_obs_canister *c)
{
    const cJSON *st;
    int status;

    if (sf_jr_expect_object(r, v) != SF_OK ||
        sf_jr_str(r, v, "canister_id", &c->canister_id) != SF_OK)
        return SF_ERR;
    if (!sf_principal_is_valid(c->canister_id))
        return sf_jr_fail(r, "canister_id", "not a valid principal: %s",
                          c->canister_id);
    st = cJSON_GetObjectItemCaseSensitive(v, "status_before");
    if (st != NULL && !cJSON_IsNull(st)) {
        if (sf_jr_enum(r, v, "status_before", status_names, 3, &status) != SF_OK)
            return SF_ERR;
        c->has_status_before = true;
        c->status_before = (sf_canister_status)status;
    }
    if (sf_jr_bool(r, v, "stopped_by_us", &c->stopped_by_us) != SF_OK ||
        sf_jr_bool(r, v, "restarted", &c->restarted) != SF_OK ||
        sf_jr_str_opt(r, v, "snapshot_id", &c->snapshot_id) != SF_OK)
        return SF_ERR;
    st = cJSON_GetObjectItemCaseSensitive(v, "load_issued");
    if (st != NULL && sf_jr_bool(r, v, "load_issued", &c->load_issued) != SF_OK)
        return SF_ERR;
    if (sf_jr_str_opt(r, v, "module_hash", &c->module_hash) != SF_OK ||
        sf_jr_str_opt(r, v, "snapshot_deleting", &c->deleting) != SF_OK ||
        sf_jr_str_opt(r, v, "snapshot_replacing", &c->replacing) != SF_OK ||
        sf_jr_str_opt(r, v, "restore_load_from", &c->load_from) != SF_OK)
        return SF_ERR;
    if (c->load_from != NULL && strcmp(c->load_from, "canister") != 0 &&
        strcmp(c->load_from, "upload") != 0)
        return sf_jr_fail(r, "restore_load_from", "neither canister nor upload");
    if (c->replacing != NULL && (c->replacing[0] == '\0' ||
                                 strlen(c->replacing) % 2 != 0 ||
                                 strlen(c->replacing) >= SF_SNAPSHOT_ID_MAX ||
                                 strspn(c->replacing, "0123456789abcdefABCDEF") !=
                                     strlen(c->replacing)))
        return sf_jr_fail(r, "snapshot_replacing", "not a snapshot id");
    if (c->module_hash != NULL && (strlen(c->module_hash) != 64 ||
                                   strspn(c->module_hash, "0123456789abcdef") != 64))
        return sf_jr_fail(r, "module_hash", "not 64 lower-case hex digits");
    st = cJSON_GetObjectItemCaseSensitive(v, "snapshots_before_create");
    if (st != NULL && !cJSON_IsNull(st)) {
        if (sf_jr_str_array(r, v, "snapshots_before_create",
                            &c->snapshots_before,
                            &c->snapshots_before_count) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

int sf_obs_parse(const char *text, size_t len, sf_observations *out,
                 sf_error *err)
{
    cJSON *root = NULL;
    const cJSON *arr, *it;
    sf_jr r;
    uint64_t version;
    size_t n, i = 0, mark;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    if (sf_jr_expect_object(&r, root) != SF_OK ||
        sf_jr_uint(&r, root, "version", UINT16_MAX, &version) != SF_OK)
        goto fail;
    if (version != OBS_VERSION) {
        sf_jr_fail(&r, "version", "unsupported observations version %llu",
                   (unsigned long long)version);
        goto fail;
    }
    if (sf_jr_array(&r, root, "canisters", &arr, &n) != SF_OK)
        goto fail;
    out->canisters = calloc(n ? n : 1, sizeof *out->canisters);
    if (out->canisters == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto fail;
    }
    sf_jr_push_key(&r, "canisters");
    mark = r.len;
    cJSON_ArrayForEach(it, arr) {
        sf_jr_push_index(&r, i);
        out->count = i + 1;
        if (parse_canister(&r, it, &out->canisters[i]) != SF_OK)
            goto fail;
        sf_jr_pop(&r, mark);
        i++;
    }
    cJSON_Delete(root);
    index_sync(out);
    return SF_OK;
fail:
    cJSON_Delete(root);
    sf_obs_free(out);
    return SF_ERR;
}

int sf_obs_write_json(const sf_observations *o, sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i, k;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "version", OBS_VERSION);
    sf_jw_key(&w, "canisters");
    sf_jw_begin_array(&w);
    for (i = 0; i < o->count; i++) {
        const sf_obs_canister *c = &o->canisters[i];

        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "canister_id", c->canister_id);
        sf_jw_kv_string(&w, "status_before",
                        c->has_status_before ? status_names[c->status_before]
                                             : NULL);
        sf_jw_kv_bool(&w, "stopped_by_us", c->stopped_by_us);
        sf_jw_kv_bool(&w, "restarted", c->restarted);
        sf_jw_key(&w, "snapshots_before_create");
        if (c->snapshots_before == NULL) {
            sf_jw_null(&w);
        } else {
            sf_jw_begin_array(&w);
            for (k = 0; k < c->snapshots_before_count; k++)
                sf_jw_string(&w, c->snapshots_before[k]);
            sf_jw_end_array(&w);
        }
        sf_jw_kv_string(&w, "snapshot_id", c->snapshot_id);
        sf_jw_kv_bool(&w, "load_issued", c->load_issued);
        sf_jw_kv_string(&w, "module_hash", c->module_hash);
        sf_jw_kv_string(&w, "snapshot_deleting", c->deleting);
        sf_jw_kv_string(&w, "snapshot_replacing", c->replacing);
        sf_jw_kv_string(&w, "restore_load_from", c->load_from);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

int sf_obs_read_file(const char *path, sf_observations *out, sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    sf_storage_kind k;

    /* absent: nothing observed yet; anything else is read (and refused
     * there when it is not a regular file) */
    if (sf_storage_kind_of(sf_fs_storage(), path, &k, NULL) == SF_OK &&
        k == SF_STORAGE_ABSENT)
        return SF_OK;
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_obs_parse(text, len, out, err);
    free(text);
    if (rc != SF_OK)
        sf_error_prefix(err, "%s: ", path);
    return rc;
}

int sf_obs_write_file(const char *path, const sf_observations *o,
                      sf_error *err)
{
    sf_buf b;
    int rc;

    sf_buf_init(&b);
    rc = sf_obs_write_json(o, &b, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, b.data, b.len, err);
    sf_buf_free(&b);
    return rc;
}

sf_obs_canister *sf_obs_find(const sf_observations *o, const char *canister_id)
{
    size_t i;

    if (index_covers(o) && (o->count == 0 || o->index.count > 0)) {
        i = index_find(o, canister_id);
        return i == SIZE_MAX ? NULL : &o->canisters[i];
    }
    for (i = 0; i < o->count; i++)
        if (strcmp(o->canisters[i].canister_id, canister_id) == 0)
            return &o->canisters[i];
    return NULL;
}

sf_obs_canister *sf_obs_get(sf_observations *o, const char *canister_id)
{
    sf_obs_canister *c = sf_obs_find(o, canister_id), *grown;

    if (c != NULL)
        return c;
    grown = realloc(o->canisters, (o->count + 1) * sizeof *grown);
    if (grown == NULL)
        return NULL;
    moved(o, grown);
    c = &o->canisters[o->count];
    memset(c, 0, sizeof *c);
    c->canister_id = strdup(canister_id);
    if (c->canister_id == NULL)
        return NULL;
    o->count++;
    index_sync(o);
    return c;
}

int sf_obs_set_snapshots_before(sf_obs_canister *c, const sf_snapshot_info *s,
                                size_t n, sf_error *err)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    size_t i;

    if (v == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < n; i++) {
        v[i] = strdup(s[i].id);
        if (v[i] == NULL) {
            sf_strv_free(v, i);
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
    }
    sf_strv_free(c->snapshots_before, c->snapshots_before_count);
    c->snapshots_before = v;
    c->snapshots_before_count = n;
    return SF_OK;
}

int sf_obs_put(sf_observations *o, sf_obs_canister *c, sf_error *err)
{
    sf_obs_canister *cur = sf_obs_find(o, c->canister_id), *grown;

    if (cur != NULL) {
        canister_free(cur);
        *cur = *c;
        memset(c, 0, sizeof *c);
        return SF_OK;
    }
    grown = realloc(o->canisters, (o->count + 1) * sizeof *grown);
    if (grown == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    moved(o, grown);
    o->canisters[o->count++] = *c;
    memset(c, 0, sizeof *c);
    index_sync(o);
    return SF_OK;
}
