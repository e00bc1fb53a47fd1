/*
 * The simulator's state file (one JSON document, written and read back to
 * identical bytes) and its two views: `show` as JSON and as a table.
 */
#include "sim_internal.h"

#include "snapfleet/storage.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_STATE "invalid-sim-state"
#define STATE_MAX_BYTES SF_JSON_MAX_BYTES

static const char *const status_names[] = {"running", "stopping", "stopped"};
static const char *const source_names[] = {"taken_from_canister",
                                           "metadata_upload"};

/* Config fields in state order, with their slots. Optional ones came
 * later: a state file written before them reads as 0 (the old
 * behaviour). */
static const struct {
    const char *key;
    size_t offset;
    bool optional;
} config_fields[] = {
#define F(name) {#name, offsetof(sf_sim_config, name), false}
#define OPT(name) {#name, offsetof(sf_sim_config, name), true}
    F(seed),        F(canister_count), F(max_fanout),   F(max_depth),
    F(heap_min),    F(heap_max),       F(stable_min),   F(stable_max),
    F(module_min),  F(module_max),     F(chunk_max),    F(chunk_size),
    F(stopped_percent), F(snapshot_limit), F(latency_ms), F(jitter_ms),
    F(bandwidth),   F(stop_ms),        OPT(link_bandwidth),
#undef OPT
#undef F
};
#define CONFIG_FIELDS (sizeof config_fields / sizeof config_fields[0])

static uint64_t *config_slot(sf_sim_config *c, size_t i)
{
    return (uint64_t *)((char *)c + config_fields[i].offset);
}

/* ---- writing ---- */

static void write_rng(sf_jw *w, const char *key, const sim_rng *r)
{
    int i;

    sf_jw_key(w, key);
    sf_jw_begin_array(w);
    for (i = 0; i < 4; i++)
        sf_jw_u64(w, r->s[i]);
    sf_jw_end_array(w);
}

static void write_image(sf_jw *w, const sim_image *img)
{
    sf_jw_key(w, "image");
    sf_jw_begin_object(w);
    sf_jw_kv_bool(w, "opaque", img->opaque);
    sf_jw_kv_string(w, "digest", img->opaque ? img->digest : NULL);
    sf_jw_kv_u64(w, "seed", img->seed);
    sf_jw_kv_u64(w, "heap_size", img->heap_size);
    sf_jw_kv_u64(w, "stable_size", img->stable_size);
    sf_jw_kv_u64(w, "chunk_count", img->chunk_count);
    sf_jw_kv_u64(w, "chunk_bytes", img->chunk_bytes);
    sf_jw_kv_u64(w, "module_seed", img->module_seed);
    sf_jw_kv_u64(w, "module_size", img->module_size);
    sf_jw_kv_string(w, "module_hash",
                    img->module_hash[0] ? img->module_hash : NULL);
    sf_jw_end_object(w);
}

static void write_canister(sf_jw *w, const sim_canister *c)
{
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "canister_id", c->id);
    sf_jw_kv_string(w, "parent_canister_id", c->parent[0] ? c->parent : NULL);
    sf_jw_kv_string(w, "role", c->role);
    sf_jw_kv_u64(w, "module_version", c->module_version);
    sf_jw_kv_string(w, "status", status_names[c->status]);
    sf_jw_kv_u64(w, "stop_due_ms", c->stop_due_ms);
    sf_jw_kv_u64(w, "canister_version", c->canister_version);
    sf_jw_kv_u64(w, "next_snapshot", c->next_snapshot);
    sf_jw_key(w, "controllers");
    sf_jw_begin_array(w);
    for (i = 0; i < c->controller_count; i++)
        sf_jw_string(w, c->controllers[i]);
    sf_jw_end_array(w);
    write_image(w, &c->image);
    sf_jw_key(w, "snapshots");
    sf_jw_begin_array(w);
    for (i = 0; i < c->snapshot_count; i++) {
        const sim_snapshot *s = &c->snapshots[i];
        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "snapshot_id", s->id);
        sf_jw_kv_u64(w, "taken_at_timestamp", s->taken_at_ns);
        sf_jw_kv_u64(w, "total_size_bytes", s->total_size);
        sf_jw_kv_u64(w, "canister_version", s->canister_version);
        sf_jw_kv_string(w, "source", source_names[s->uploaded ? 1 : 0]);
        write_image(w, &s->image);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
    sf_jw_end_object(w);
}

int sf_sim_state_json(const sf_sim *sim, sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "version", SF_SIM_STATE_VERSION);
    sf_jw_key(&w, "config");
    sf_jw_begin_object(&w);
    for (i = 0; i < CONFIG_FIELDS; i++)
        sf_jw_kv_u64(&w, config_fields[i].key,
                     *config_slot((sf_sim_config *)&sim->config, i));
    sf_jw_end_object(&w);
    sf_jw_kv_u64(&w, "clock_ms", sim->now_ms);
    write_rng(&w, "rng", &sim->rng);
    write_rng(&w, "net_rng", &sim->net_rng);
    sf_jw_kv_u64(&w, "next_canister", sim->next_canister);
    sf_jw_kv_string(&w, "operator", sim->operator_id);
    sf_jw_key(&w, "canisters");
    sf_jw_begin_array(&w);
    for (i = 0; i < sim->count; i++)
        write_canister(&w, &sim->canisters[i]);
    sf_jw_end_array(&w);
    sf_jw_key(&w, "contents");
    sf_jw_begin_array(&w);
    for (i = 0; i < sim->content_count; i++) {
        const sim_content *c = &sim->contents[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_u64(&w, "seed", c->seed);
        sf_jw_kv_u64(&w, "heap_size", c->heap_size);
        sf_jw_kv_u64(&w, "stable_size", c->stable_size);
        sf_jw_kv_u64(&w, "chunk_count", c->chunk_count);
        sf_jw_kv_u64(&w, "chunk_bytes", c->chunk_bytes);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_key(&w, "modules");
    sf_jw_begin_array(&w);
    for (i = 0; i < sim->module_count; i++) {
        const sim_module *m = &sim->modules[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_u64(&w, "seed", m->seed);
        sf_jw_kv_u64(&w, "size", m->size);
        sf_jw_kv_string(&w, "hash", m->hash);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

/* The state file stands for the IC, the outside world: it lives on the
 * real file system (through the seam's POSIX storage), never on the
 * storage the process installed (sf_fs_set_storage), so a crash of a
 * simulated disk never takes the IC back in time, and benchmarks counting
 * a backup's writes do not count it. */
static const sf_storage *outside(void)
{
    return sf_storage_posix();
}

int sf_sim_save(const sf_sim *sim, const char *path, sf_error *err)
{
    sf_buf b;
    int rc;

    sf_buf_init(&b);
    rc = sf_sim_state_json(sim, &b, err);
    if (rc == SF_OK)
        rc = sf_storage_write_atomic(outside(), path, b.data, b.len, err);
    sf_buf_free(&b);
    return rc;
}

/* ---- the state file's lock ---- */

int sf_sim_lock_acquire(const char *path, sf_sim_lock *lock, sf_error *err)
{
    size_t n = strlen(path);
    char *lp = malloc(n + sizeof ".lock");
    sf_error e;

    lock->held = NULL;
    if (lp == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    memcpy(lp, path, n);
    memcpy(lp + n, ".lock", sizeof ".lock");
    /* a lock file planted as a FIFO, device or directory is refused */
    if (sf_storage_lock_acquire(outside(), lp, &lock->held, &e) != SF_OK) {
        if (e.kind != NULL && strcmp(e.kind, SF_EK_LOCKED) == 0)
            sf_error_set(err, "sim-state-locked", "", "simulator state %s is in "
                         "use by another running snapfleet (lock %s)", path, lp);
        else if (err != NULL)
            *err = e;
        free(lp);
        return SF_ERR;
    }
    free(lp);
    return SF_OK;
}

void sf_sim_lock_release(sf_sim_lock *lock)
{
    sf_storage_lock_release(outside(), &lock->held); /* drops the flock */
}

/* ---- reading ---- */

/* A string field into a fixed buffer; NULL/absent allowed when optional
 * (then buf is ""). */
static int read_fixed(sf_jr *r, const cJSON *obj, const char *key,
                      char *buf, size_t size, bool optional)
{
    char *s = NULL;
    int rc = optional ? sf_jr_str_opt(r, obj, key, &s)
                      : sf_jr_str(r, obj, key, &s);

    buf[0] = '\0';
    if (rc != SF_OK)
        return SF_ERR;
    if (s != NULL && strlen(s) >= size) {
        free(s);
        return sf_jr_fail(r, key, "longer than %zu bytes", size - 1);
    }
    if (s != NULL)
        memcpy(buf, s, strlen(s) + 1);
    free(s);
    return SF_OK;
}

static int read_u64(sf_jr *r, const cJSON *obj, const char *key,
                    uint64_t *out)
{
    return sf_jr_uint(r, obj, key, UINT64_MAX, out);
}

static int read_rng(sf_jr *r, const cJSON *obj, const char *key,
                    sim_rng *out)
{
    const cJSON *arr, *v;
    size_t n, i = 0, mark;

    if (sf_jr_array(r, obj, key, &arr, &n) != SF_OK)
        return SF_ERR;
    if (n != 4)
        return sf_jr_fail(r, key, "expected 4 numbers, found %zu", n);
    mark = sf_jr_push_key(r, key);
    for (v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (sf_jr_value_uint(r, v, UINT64_MAX, &out->s[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    if ((out->s[0] | out->s[1] | out->s[2] | out->s[3]) == 0)
        return sf_jr_fail(r, key, "an all-zero generator state never moves");
    return SF_OK;
}

static bool is_lower_sha256(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i == 64;
}

static bool is_principal_text(const char *s)
{
    char canon[SF_PRINCIPAL_TEXT_MAX];

    return sf_principal_canonical(s, canon, NULL) == SF_OK &&
           strcmp(canon, s) == 0;
}

#define SIZE_LIMIT ((uint64_t)1 << 60)

static int read_image(sf_jr *r, const cJSON *obj, sim_image *img)
{
    const cJSON *o;
    size_t mark;
    int rc = SF_ERR;

    memset(img, 0, sizeof *img);
    if (sf_jr_object(r, obj, "image", &o) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "image");
    if (sf_jr_bool(r, o, "opaque", &img->opaque) != SF_OK ||
        read_fixed(r, o, "digest", img->digest, sizeof img->digest, true) !=
            SF_OK ||
        read_u64(r, o, "seed", &img->seed) != SF_OK ||
        read_u64(r, o, "heap_size", &img->heap_size) != SF_OK ||
        read_u64(r, o, "stable_size", &img->stable_size) != SF_OK ||
        read_u64(r, o, "chunk_count", &img->chunk_count) != SF_OK ||
        read_u64(r, o, "chunk_bytes", &img->chunk_bytes) != SF_OK ||
        read_u64(r, o, "module_seed", &img->module_seed) != SF_OK ||
        read_u64(r, o, "module_size", &img->module_size) != SF_OK ||
        read_fixed(r, o, "module_hash", img->module_hash,
                   sizeof img->module_hash, true) != SF_OK)
        goto done;
    if (img->opaque ? !is_lower_sha256(img->digest) : img->digest[0] != '\0')
        sf_jr_fail(r, "digest", "an opaque image needs a lower-case SHA-256 "
                   "digest, a generated one none");
    else if (img->module_hash[0] != '\0' &&
             !is_lower_sha256(img->module_hash))
        sf_jr_fail(r, "module_hash", "not a lower-case SHA-256 hex digest");
    else if ((img->module_size == 0) != (img->module_hash[0] == '\0'))
        sf_jr_fail(r, "module_hash", "a module hash goes with a non-zero "
                   "module size, and only with one");
    else if (img->heap_size >= SIZE_LIMIT || img->stable_size >= SIZE_LIMIT ||
             img->module_size >= SIZE_LIMIT || img->chunk_bytes >= SIZE_LIMIT)
        sf_jr_fail(r, "heap_size", "sizes must be below 2^60 bytes");
    else if (img->chunk_count > 1000 ||
             (img->chunk_count == 0 && img->chunk_bytes != 0))
        sf_jr_fail(r, "chunk_count", "at most 1000 chunk-store entries, and "
                   "chunk bytes only with entries");
    else
        rc = SF_OK;
done:
    sf_jr_pop(r, mark);
    return rc;
}

static bool is_snapshot_id(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return i > 0 && i % 2 == 0;
}

static int read_snapshot(sf_jr *r, const cJSON *o, sim_snapshot *s)
{
    int source = 0;

    if (sf_jr_expect_object(r, o) != SF_OK ||
        read_fixed(r, o, "snapshot_id", s->id, sizeof s->id, false) != SF_OK ||
        read_u64(r, o, "taken_at_timestamp", &s->taken_at_ns) != SF_OK ||
        read_u64(r, o, "total_size_bytes", &s->total_size) != SF_OK ||
        read_u64(r, o, "canister_version", &s->canister_version) != SF_OK ||
        sf_jr_enum(r, o, "source", source_names, 2, &source) != SF_OK ||
        read_image(r, o, &s->image) != SF_OK)
        return SF_ERR;
    s->uploaded = source == 1;
    if (!is_snapshot_id(s->id))
        return sf_jr_fail(r, "snapshot_id", "not lower-case even-length hex");
    return SF_OK;
}

static int read_canister(sf_jr *r, const cJSON *o, sim_canister *c)
{
    const cJSON *arr, *v;
    size_t n, i, mark;
    int status = 0;

    if (sf_jr_expect_object(r, o) != SF_OK ||
        read_fixed(r, o, "canister_id", c->id, sizeof c->id, false) != SF_OK ||
        read_fixed(r, o, "parent_canister_id", c->parent, sizeof c->parent,
                   true) != SF_OK ||
        read_fixed(r, o, "role", c->role, sizeof c->role, false) != SF_OK ||
        read_u64(r, o, "module_version", &c->module_version) != SF_OK ||
        sf_jr_enum(r, o, "status", status_names, 3, &status) != SF_OK ||
        read_u64(r, o, "stop_due_ms", &c->stop_due_ms) != SF_OK ||
        read_u64(r, o, "canister_version", &c->canister_version) != SF_OK ||
        read_u64(r, o, "next_snapshot", &c->next_snapshot) != SF_OK)
        return SF_ERR;
    c->status = (sf_canister_status)status;
    if (!is_principal_text(c->id))
        return sf_jr_fail(r, "canister_id", "not a canonical principal");
    if (c->parent[0] != '\0' && !is_principal_text(c->parent))
        return sf_jr_fail(r, "parent_canister_id",
                          "not a canonical principal");
    if (sf_str_is_blank(c->role))
        return sf_jr_fail(r, "role", "must not be empty");
    if (sf_jr_array(r, o, "controllers", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        c->controllers = calloc(n, sizeof *c->controllers);
        if (c->controllers == NULL)
            return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    }
    c->controller_count = n;
    mark = sf_jr_push_key(r, "controllers");
    for (i = 0, v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        char *s = NULL;
        if (sf_jr_value_str(r, v, &s) != SF_OK)
            return SF_ERR;
        if (!is_principal_text(s)) {
            free(s);
            return sf_jr_fail(r, NULL, "not a canonical principal");
        }
        memcpy(c->controllers[i], s, strlen(s) + 1);
        free(s);
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    if (read_image(r, o, &c->image) != SF_OK ||
        sf_jr_array(r, o, "snapshots", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        c->snapshots = calloc(n, sizeof *c->snapshots);
        if (c->snapshots == NULL)
            return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    }
    c->snapshot_count = n;
    mark = sf_jr_push_key(r, "snapshots");
    for (i = 0, v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (read_snapshot(r, v, &c->snapshots[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_tables(sf_jr *r, const cJSON *root, sf_sim *sim)
{
    const cJSON *arr, *v;
    size_t n, i, mark;

    if (sf_jr_array(r, root, "contents", &arr, &n) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "contents");
    for (i = 0, v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        sim_content c;
        if (sf_jr_expect_object(r, v) != SF_OK ||
            read_u64(r, v, "seed", &c.seed) != SF_OK ||
            read_u64(r, v, "heap_size", &c.heap_size) != SF_OK ||
            read_u64(r, v, "stable_size", &c.stable_size) != SF_OK ||
            read_u64(r, v, "chunk_count", &c.chunk_count) != SF_OK ||
            read_u64(r, v, "chunk_bytes", &c.chunk_bytes) != SF_OK)
            return SF_ERR;
        if (c.heap_size >= SIZE_LIMIT || c.stable_size >= SIZE_LIMIT ||
            c.chunk_bytes >= SIZE_LIMIT || c.chunk_count > 1000)
            return sf_jr_fail(r, NULL, "sizes out of range");
        if (sf_sim_content_add(sim, &c, r->err) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    if (sf_jr_array(r, root, "modules", &arr, &n) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "modules");
    for (i = 0, v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        sim_module mod;
        if (sf_jr_expect_object(r, v) != SF_OK ||
            read_u64(r, v, "seed", &mod.seed) != SF_OK ||
            read_u64(r, v, "size", &mod.size) != SF_OK ||
            read_fixed(r, v, "hash", mod.hash, sizeof mod.hash, false) !=
                SF_OK)
            return SF_ERR;
        if (!is_lower_sha256(mod.hash))
            return sf_jr_fail(r, "hash", "not a lower-case SHA-256 digest");
        if (sf_sim_module_add(sim, &mod, r->err) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_state(sf_jr *r, const cJSON *root, sf_sim *sim)
{
    const cJSON *cfg, *arr, *v;
    uint64_t version;
    size_t i, n, mark;
    sf_error verr;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        read_u64(r, root, "version", &version) != SF_OK)
        return SF_ERR;
    if (version != SF_SIM_STATE_VERSION)
        return sf_error_set(r->err, "unsupported-sim-version", "version",
                            "unsupported simulator state version %" PRIu64
                            " (expected %d)", version, SF_SIM_STATE_VERSION);
    if (sf_jr_object(r, root, "config", &cfg) != SF_OK)
        return SF_ERR;
    mark = sf_jr_push_key(r, "config");
    for (i = 0; i < CONFIG_FIELDS; i++) {
        bool present;
        if (!config_fields[i].optional) {
            if (read_u64(r, cfg, config_fields[i].key,
                         config_slot(&sim->config, i)) != SF_OK)
                return SF_ERR;
        } else if (sf_jr_uint_opt(r, cfg, config_fields[i].key, UINT64_MAX,
                                  &present, config_slot(&sim->config, i)) !=
                   SF_OK) { /* absent or null reads as 0 */
            return SF_ERR;
        }
    }
    sf_jr_pop(r, mark);
    if (sf_sim_config_validate(&sim->config, &verr) != SF_OK) {
        sf_error_set(r->err, EK_STATE, "", "%s", verr.message);
        if (r->err != NULL)
            snprintf(r->err->field, sizeof r->err->field, "config.%.*s",
                     SF_ERROR_FIELD_MAX - 8, verr.field);
        return SF_ERR;
    }
    if (read_u64(r, root, "clock_ms", &sim->now_ms) != SF_OK ||
        read_rng(r, root, "rng", &sim->rng) != SF_OK ||
        read_rng(r, root, "net_rng", &sim->net_rng) != SF_OK ||
        read_u64(r, root, "next_canister", &sim->next_canister) != SF_OK ||
        read_fixed(r, root, "operator", sim->operator_id,
                   sizeof sim->operator_id, false) != SF_OK)
        return SF_ERR;
    if (!is_principal_text(sim->operator_id))
        return sf_jr_fail(r, "operator", "not a canonical principal");
    if (sf_jr_array(r, root, "canisters", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n == 0)
        return sf_jr_fail(r, "canisters", "a fleet has at least its root");
    sim->canisters = calloc(n, sizeof *sim->canisters);
    if (sim->canisters == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    sim->cap = n;
    mark = sf_jr_push_key(r, "canisters");
    for (i = 0, v = arr->child; v != NULL; v = v->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        sim->count = i + 1; /* released on failure */
        if (read_canister(r, v, &sim->canisters[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    if (read_tables(r, root, sim) != SF_OK)
        return SF_ERR;
    return sf_sim_reorder(sim, r->err);
}

int sf_sim_load_json(const char *text, size_t len, sf_sim **out,
                     sf_error *err)
{
    cJSON *root = NULL;
    sf_sim *sim;
    sf_jr r;
    int rc;

    *out = NULL;
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sim = sf_sim_alloc();
    if (sim == NULL) {
        cJSON_Delete(root);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    sf_jr_init(&r, err);
    rc = read_state(&r, root, sim);
    cJSON_Delete(root);
    if (rc != SF_OK) {
        sf_sim_free(sim);
        return SF_ERR;
    }
    *out = sim;
    return SF_OK;
}

int sf_sim_load(const char *path, sf_sim **out, sf_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if (sf_storage_read_all(outside(), path, STATE_MAX_BYTES, &text, &len,
                            err) != SF_OK)
        return SF_ERR;
    rc = sf_sim_load_json(text, len, out, err);
    free(text);
    if (rc != SF_OK && err != NULL && err->message[0] != '\0') {
        /* Name the file: the CLI prints this one line. */
        sf_buf b;
        sf_buf_init(&b);
        sf_buf_printf(&b, "%s: %s", path, err->message);
        if (!b.oom)
            snprintf(err->message, sizeof err->message, "%.*s",
                     (int)(sizeof err->message - 1), b.data);
        sf_buf_free(&b);
    }
    return rc;
}

/* ---- views ---- */

int sf_sim_show_json(const sf_sim *sim, sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i, j;
    char digest[SF_SHA256_HEX_SIZE];

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "root", sf_sim_root_id(sim));
    sf_jw_kv_u64(&w, "clock_ms", sim->now_ms);
    sf_jw_key(&w, "canisters");
    sf_jw_begin_array(&w);
    for (i = 0; i < sim->count; i++) {
        const sim_canister *c = &sim->canisters[i];

        if (sf_sim_image_digest(sim, &c->image, digest, err) != SF_OK)
            return SF_ERR;
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "canister_id", c->id);
        sf_jw_kv_string(&w, "parent_canister_id",
                        c->parent[0] ? c->parent : NULL);
        sf_jw_kv_string(&w, "role", c->role);
        sf_jw_kv_string(&w, "module_hash",
                        c->image.module_hash[0] ? c->image.module_hash : NULL);
        sf_jw_kv_string(&w, "status", status_names[c->status]);
        sf_jw_kv_string(&w, "state_digest", digest);
        sf_jw_key(&w, "snapshots");
        sf_jw_begin_array(&w);
        for (j = 0; j < c->snapshot_count; j++) {
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "snapshot_id", c->snapshots[j].id);
            sf_jw_kv_u64(&w, "taken_at_timestamp",
                         c->snapshots[j].taken_at_ns);
            sf_jw_kv_u64(&w, "total_size_bytes", c->snapshots[j].total_size);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

int sf_sim_show_text(const sf_sim *sim, sf_buf *out, sf_error *err)
{
    size_t i, j;
    char digest[SF_SHA256_HEX_SIZE];

    sf_buf_printf(out, "root %s, %zu canisters, clock %" PRIu64 " ms\n",
                  sf_sim_root_id(sim), sim->count, sim->now_ms);
    sf_buf_printf(out, "%-40s %-10s %-8s %-12s %-12s %s\n", "CANISTER",
                  "ROLE", "STATUS", "MODULE", "STATE", "SNAPSHOTS");
    for (i = 0; i < sim->count; i++) {
        const sim_canister *c = &sim->canisters[i];
        char name[96];

        if (sf_sim_image_digest(sim, &c->image, digest, err) != SF_OK)
            return SF_ERR;
        /* Indent by depth so the tree shows. */
        snprintf(name, sizeof name, "%*s%s",
                 (int)(c->depth > 8 ? 16 : 2 * c->depth), "", c->id);
        sf_buf_printf(out, "%-40s %-10s %-8s %-12.12s %-12.12s %zu\n", name,
                      c->role, status_names[c->status],
                      c->image.module_hash[0] ? c->image.module_hash : "-",
                      digest, c->snapshot_count);
        for (j = 0; j < c->snapshot_count; j++)
            sf_buf_printf(out, "%*s  snapshot %s  %" PRIu64 " bytes%s\n",
                          (int)(c->depth > 8 ? 16 : 2 * c->depth), "",
                          c->snapshots[j].id, c->snapshots[j].total_size,
                          c->snapshots[j].image.opaque ? "  (opaque)" : "");
    }
    if (out->oom)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}
