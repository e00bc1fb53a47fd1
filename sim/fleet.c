/*
 * The simulated fleet: building it from a seed, keeping it in tree order,
 * looking canisters up, and the changes made from outside the driver
 * (mutations, topology changes).
 */
#include "sim_internal.h"

#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Roles other than the root. Real Canic fleets repeat roles (many shards,
 * many workers), so these are drawn with replacement. */
static const char *const roles[] = {"app",   "worker", "index",
                                    "ledger", "shard", "scaler",
                                    "user_hub"};
#define ROLE_COUNT (sizeof roles / sizeof roles[0])

void sf_sim_config_default(sf_sim_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->seed = 1;
    cfg->canister_count = 8;
    cfg->max_fanout = 3;
    cfg->max_depth = 3;
    cfg->heap_min = 4u << 10;
    cfg->heap_max = 256u << 10;
    cfg->stable_min = 4u << 10;
    cfg->stable_max = 256u << 10;
    cfg->module_min = 1u << 10;
    cfg->module_max = 8u << 10;
    cfg->chunk_max = 2;
    cfg->chunk_size = 1u << 10;
    cfg->stopped_percent = 0;
    /* The IC's per-canister snapshot limit is a subnet setting (it was 1,
     * the subnets now allow 10). 10 lets a fleet keep a few old snapshots
     * while a backup takes one more; tests that need the refusal set 1. */
    cfg->snapshot_limit = 10;
    cfg->latency_ms = 20;
    cfg->jitter_ms = 0;
    cfg->bandwidth = 10u << 10;
    cfg->stop_ms = 50;
    cfg->link_bandwidth = 0;
}

static uint64_t tree_capacity(uint64_t fanout, uint64_t depth)
{
    uint64_t total = 1, level = 1, d;

    for (d = 0; d < depth; d++) {
        if (level > UINT64_MAX / fanout)
            return UINT64_MAX;
        level *= fanout;
        if (total > UINT64_MAX - level)
            return UINT64_MAX;
        total += level;
    }
    return total;
}

static int shape_refused(uint64_t canisters, uint64_t fanout, uint64_t depth,
                         sf_error *err)
{
    return sf_error_set(err, SF_EK_USAGE, "canister_count",
                        "%llu canisters do not fit a tree of fan-out %llu and "
                        "depth %llu (it holds at most %llu)",
                        (unsigned long long)canisters,
                        (unsigned long long)fanout, (unsigned long long)depth,
                        (unsigned long long)tree_capacity(fanout, depth));
}

int sf_sim_shape(uint64_t canisters, uint64_t fanout, uint64_t depth,
                 uint64_t *fanout_out, uint64_t *depth_out, sf_error *err)
{
    if (canisters < 1)
        return sf_error_set(err, SF_EK_USAGE, "canister_count",
                            "a fleet holds at least 1 canister (the root)");
    if (depth > SF_SIM_DEPTH_MAX)
        return sf_error_set(err, SF_EK_USAGE, "max_depth",
                            "depth must be 1..%d, not %llu", SF_SIM_DEPTH_MAX,
                            (unsigned long long)depth);
    if (fanout != 0 && depth != 0) {
        if (tree_capacity(fanout, depth) < canisters)
            return shape_refused(canisters, fanout, depth, err);
    } else if (fanout != 0) {
        depth = 3;
        while (depth < SF_SIM_DEPTH_MAX && tree_capacity(fanout, depth) < canisters)
            depth++;
        if (tree_capacity(fanout, depth) < canisters)
            return shape_refused(canisters, fanout, depth, err);
    } else {
        /* depth given or not: the smallest fan-out from 3 up that holds
         * the fleet; a depth of at least 1 always fits with fan-out n-1 */
        if (depth == 0)
            depth = 3;
        fanout = 3;
        while (tree_capacity(fanout, depth) < canisters)
            fanout++;
    }
    *fanout_out = fanout;
    *depth_out = depth;
    return SF_OK;
}

int sf_sim_config_validate(const sf_sim_config *cfg, sf_error *err)
{
    if (cfg->canister_count < 1 || cfg->canister_count > 1000000)
        return sf_error_set(err, SF_EK_USAGE, "canister_count",
                            "canister count must be 1..1000000, not %llu",
                            (unsigned long long)cfg->canister_count);
    if (cfg->max_fanout < 1)
        return sf_error_set(err, SF_EK_USAGE, "max_fanout",
                            "max fan-out must be at least 1");
    if (cfg->max_depth < 1 || cfg->max_depth > SF_SIM_DEPTH_MAX)
        return sf_error_set(err, SF_EK_USAGE, "max_depth",
                            "max depth must be 1..%d, not %llu", SF_SIM_DEPTH_MAX,
                            (unsigned long long)cfg->max_depth);
    if (tree_capacity(cfg->max_fanout, cfg->max_depth) < cfg->canister_count)
        return shape_refused(cfg->canister_count, cfg->max_fanout,
                             cfg->max_depth, err);
    if (cfg->heap_min > cfg->heap_max)
        return sf_error_set(err, SF_EK_USAGE, "heap_min",
                            "heap size range is empty");
    if (cfg->stable_min > cfg->stable_max)
        return sf_error_set(err, SF_EK_USAGE, "stable_min",
                            "stable memory size range is empty");
    if (cfg->module_min < 8 || cfg->module_min > cfg->module_max)
        return sf_error_set(err, SF_EK_USAGE, "module_min",
                            "module size range must be non-empty and at "
                            "least 8 bytes (the wasm header)");
    if (cfg->chunk_size < 1)
        return sf_error_set(err, SF_EK_USAGE, "chunk_size",
                            "chunk size must be at least 1");
    if (cfg->chunk_max > 1000)
        return sf_error_set(err, SF_EK_USAGE, "chunk_max",
                            "at most 1000 chunk-store entries per canister");
    if (cfg->chunk_max > UINT64_MAX / cfg->chunk_size)
        return sf_error_set(err, SF_EK_USAGE, "chunk_size",
                            "chunk store size overflows");
    if (cfg->stopped_percent > 100)
        return sf_error_set(err, SF_EK_USAGE, "stopped_percent",
                            "stopped share must be 0..100 percent");
    if (cfg->snapshot_limit < 1 || cfg->snapshot_limit > 1000)
        return sf_error_set(err, SF_EK_USAGE, "snapshot_limit",
                            "snapshot limit must be 1..1000");
    /* Sums of sizes and times must not wrap. */
    if (cfg->heap_max >= ((uint64_t)1 << 60) ||
        cfg->stable_max >= ((uint64_t)1 << 60) ||
        cfg->module_max >= ((uint64_t)1 << 60))
        return sf_error_set(err, SF_EK_USAGE, "heap_max",
                            "memory sizes must be below 2^60 bytes");
    if (cfg->latency_ms > (UINT64_MAX >> 8) ||
        cfg->jitter_ms > (UINT64_MAX >> 8) || cfg->stop_ms > (UINT64_MAX >> 8))
        return sf_error_set(err, SF_EK_USAGE, "latency_ms",
                            "latencies must be below 2^56 ms");
    if (cfg->link_bandwidth > (UINT64_MAX >> 8))
        return sf_error_set(err, SF_EK_USAGE, "link_bandwidth",
                            "link bandwidth must be below 2^56 bytes per ms");
    return SF_OK;
}

sf_sim *sf_sim_alloc(void)
{
    sf_sim *sim = calloc(1, sizeof *sim);

    if (sim == NULL)
        return NULL;
    sim->cache = calloc(1, sizeof *sim->cache);
    if (sim->cache == NULL) {
        free(sim);
        return NULL;
    }
    return sim;
}

void sf_sim_canister_release(sim_canister *c)
{
    free(c->controllers);
    free(c->snapshots);
    c->controllers = NULL;
    c->snapshots = NULL;
    c->controller_count = 0;
    c->snapshot_count = 0;
}

/* The canisters' ids sorted (then by position), built for one array
 * (base, count); a hit is checked against the id at its position, so an
 * array reordered in place is never misread (the lookup then scans and the
 * index is built again). A sorted copy rather than core's hash map: the
 * simulator is its own library and uses only core's public API. */
typedef struct find_entry {
    char id[SF_PRINCIPAL_TEXT_MAX];
    size_t pos;
} find_entry;

struct sim_find_index {
    find_entry *v;
    const sim_canister *base;
    size_t count;
};

void sf_sim_free(sf_sim *sim)
{
    size_t i;

    if (sim == NULL)
        return;
    for (i = 0; i < sim->count; i++)
        sf_sim_canister_release(&sim->canisters[i]);
    free(sim->canisters);
    free(sim->contents);
    free(sim->modules);
    if (sim->cache != NULL)
        free(sim->cache->digest);
    free(sim->cache);
    if (sim->find != NULL)
        free(sim->find->v);
    free(sim->find);
    free(sim);
}

static int by_id_then_position(const void *a, const void *b)
{
    const find_entry *x = a, *y = b;
    int c = strcmp(x->id, y->id);

    return c != 0 ? c : (x->pos > y->pos) - (x->pos < y->pos);
}

static struct sim_find_index *find_index(const sf_sim *sim)
{
    struct sim_find_index *x = sim->find;
    size_t i;

    if (x == NULL || x->base != sim->canisters || x->count != sim->count) {
        if (x == NULL) {
            if ((x = calloc(1, sizeof *x)) == NULL)
                return NULL;
            ((sf_sim *)sim)->find = x;
        }
        free(x->v);
        x->v = NULL;
        x->base = NULL;
        x->count = SIZE_MAX;
        if (sim->count > 0 && (x->v = malloc(sim->count * sizeof *x->v)) == NULL)
            return NULL;
        for (i = 0; i < sim->count; i++) {
            memcpy(x->v[i].id, sim->canisters[i].id, sizeof x->v[i].id);
            x->v[i].pos = i;
        }
        if (sim->count > 1)
            qsort(x->v, sim->count, sizeof *x->v, by_id_then_position);
        x->base = sim->canisters;
        x->count = sim->count;
    }
    return x;
}

sim_canister *sf_sim_find(const sf_sim *sim, const char *canister_id)
{
    char canon[SF_PRINCIPAL_TEXT_MAX];
    struct sim_find_index *x;
    size_t i, lo, hi;

    if (canister_id == NULL ||
        sf_principal_canonical(canister_id, canon, NULL) != SF_OK)
        return NULL;
    if ((x = find_index(sim)) != NULL) {
        /* the leftmost entry with the id: the first position, as the scan */
        lo = 0;
        hi = x->count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (strcmp(x->v[mid].id, canon) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < x->count && strcmp(x->v[lo].id, canon) == 0 &&
            strcmp(sim->canisters[x->v[lo].pos].id, canon) == 0)
            return &sim->canisters[x->v[lo].pos];
    }
    /* not indexed (out of memory), not there, or the array changed */
    for (i = 0; i < sim->count; i++)
        if (strcmp(sim->canisters[i].id, canon) == 0) {
            if (x != NULL)
                x->count = SIZE_MAX; /* stale: built again next time */
            return &sim->canisters[i];
        }
    return NULL;
}

int sf_sim_canister_id_bytes(const char *id,
                             uint8_t out[SF_PRINCIPAL_MAX_BYTES], size_t *len)
{
    sf_principal p;

    if (sf_principal_from_text(id, &p, NULL) != SF_OK)
        return SF_ERR;
    memcpy(out, p.bytes, p.len);
    *len = p.len;
    return SF_OK;
}

/* ---- tree order ---- */

typedef struct order_key {
    size_t index;
    const char *parent;
    uint8_t bytes[SF_PRINCIPAL_MAX_BYTES];
    size_t len;
} order_key;

static int bytes_cmp(const order_key *a, const order_key *b)
{
    size_t n = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->bytes, b->bytes, n);

    if (c != 0)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* Children grouped by parent, siblings by principal bytes (for the
 * simulator's own ids: creation order). */
static int by_parent(const void *pa, const void *pb)
{
    const order_key *a = pa, *b = pb;
    int c = strcmp(a->parent, b->parent);

    return c != 0 ? c : bytes_cmp(a, b);
}

static int by_id(const void *pa, const void *pb)
{
    return bytes_cmp(pa, pb);
}

/* First key whose parent is `parent`, or count. */
static size_t first_child(const order_key *keys, size_t count,
                          const char *parent)
{
    size_t lo = 0, hi = count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(keys[mid].parent, parent) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int sf_sim_reorder(sf_sim *sim, sf_error *err)
{
    size_t n = sim->count, i, head = 0, tail = 0, roots = 0;
    order_key *keys = calloc(n ? n : 1, sizeof *keys);
    size_t *queue = calloc(n ? n : 1, sizeof *queue);
    sim_canister *sorted = calloc(n ? n : 1, sizeof *sorted);
    int rc = SF_ERR;

    if (keys == NULL || queue == NULL || sorted == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++) {
        sim_canister *c = &sim->canisters[i];
        keys[i].index = i;
        keys[i].parent = c->parent;
        if (sf_sim_canister_id_bytes(c->id, keys[i].bytes, &keys[i].len) !=
            SF_OK) {
            sf_error_set(err, "invalid-sim-state", "", "canister id `%s` is "
                         "not a principal", c->id);
            goto done;
        }
        if (c->parent[0] == '\0') {
            queue[tail++] = i;
            roots++;
        }
    }
    if (roots != 1) {
        sf_error_set(err, "invalid-sim-state", "", "the fleet has %zu roots, "
                     "expected 1", roots);
        goto done;
    }
    qsort(keys, n, sizeof *keys, by_id);
    for (i = 1; i < n; i++)
        if (bytes_cmp(&keys[i - 1], &keys[i]) == 0) {
            sf_error_set(err, "invalid-sim-state", "", "canister `%s` is "
                         "listed twice", sim->canisters[keys[i].index].id);
            goto done;
        }
    qsort(keys, n, sizeof *keys, by_parent);
    sim->canisters[queue[0]].depth = 0;
    while (head < tail) {
        sim_canister *p = &sim->canisters[queue[head++]];
        size_t k = first_child(keys, n, p->id);

        p->child_count = 0;
        for (; k < n && strcmp(keys[k].parent, p->id) == 0; k++) {
            if (tail == n) /* a cycle through the root cannot happen, but */
                break;     /* never overrun */
            queue[tail++] = keys[k].index;
            sim->canisters[keys[k].index].depth = p->depth + 1;
            p->child_count++;
        }
    }
    if (tail != n) {
        sf_error_set(err, "invalid-sim-state", "", "%zu canisters are not "
                     "connected to the root", n - tail);
        goto done;
    }
    for (i = 0; i < n; i++)
        sorted[i] = sim->canisters[queue[i]];
    memcpy(sim->canisters, sorted, n * sizeof *sorted);
    rc = SF_OK;
done:
    free(keys);
    free(queue);
    free(sorted);
    return rc;
}

/* ---- tables ---- */

int sf_sim_content_add(sf_sim *sim, const sim_content *c, sf_error *err)
{
    if (sim->content_count == sim->content_cap) {
        size_t cap = sim->content_cap ? sim->content_cap * 2 : 16;
        sim_content *t = realloc(sim->contents, cap * sizeof *t);
        if (t == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        sim->contents = t;
        sim->content_cap = cap;
    }
    if (sim->cache->cap < sim->content_cap) {
        char(*d)[SF_SHA256_HEX_SIZE] =
            realloc(sim->cache->digest, sim->content_cap * sizeof *d);
        if (d == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        memset(d + sim->cache->cap, 0,
               (sim->content_cap - sim->cache->cap) * sizeof *d);
        sim->cache->digest = d;
        sim->cache->cap = sim->content_cap;
    }
    sim->cache->digest[sim->content_count][0] = '\0';
    sim->contents[sim->content_count++] = *c;
    return SF_OK;
}

int sf_sim_module_add(sf_sim *sim, const sim_module *m, sf_error *err)
{
    if (sim->module_count == sim->module_cap) {
        size_t cap = sim->module_cap ? sim->module_cap * 2 : 8;
        sim_module *t = realloc(sim->modules, cap * sizeof *t);
        if (t == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        sim->modules = t;
        sim->module_cap = cap;
    }
    sim->modules[sim->module_count++] = *m;
    return SF_OK;
}

const sim_module *sf_sim_module_by_hash(const sf_sim *sim, const char *hash,
                                        uint64_t size)
{
    size_t i;

    for (i = 0; i < sim->module_count; i++)
        if (sim->modules[i].size == size &&
            strcmp(sim->modules[i].hash, hash) == 0)
            return &sim->modules[i];
    return NULL;
}

static const sim_module *module_by_seed(const sf_sim *sim, uint64_t seed,
                                        uint64_t size)
{
    size_t i;

    for (i = 0; i < sim->module_count; i++)
        if (sim->modules[i].seed == seed && sim->modules[i].size == size)
            return &sim->modules[i];
    return NULL;
}

int sf_sim_image_digest(const sf_sim *sim, const sim_image *img,
                        char out[SF_SHA256_HEX_SIZE], sf_error *err)
{
    size_t i;

    if (img->opaque)
        return sf_sim_memory_digest(img, out, err);
    for (i = 0; i < sim->content_count; i++) {
        const sim_content *c = &sim->contents[i];
        if (c->seed != img->seed || c->heap_size != img->heap_size ||
            c->stable_size != img->stable_size)
            continue;
        if (sim->cache->digest[i][0] == '\0' &&
            sf_sim_memory_digest(img, sim->cache->digest[i], err) != SF_OK)
            return SF_ERR;
        memcpy(out, sim->cache->digest[i], SF_SHA256_HEX_SIZE);
        return SF_OK;
    }
    return sf_sim_memory_digest(img, out, err);
}

uint64_t sf_sim_image_total_size(const sim_image *img)
{
    return img->module_size + img->heap_size + img->stable_size +
           img->chunk_bytes;
}

void sf_sim_settle(sf_sim *sim)
{
    uint64_t next = UINT64_MAX;
    size_t i;

    /* every wait and sleep settles: the fleet is looked at only when a
     * stop may be due, and the look finds when the next one is */
    if (sim->now_ms < sim->settle_due_ms)
        return;
    for (i = 0; i < sim->count; i++) {
        sim_canister *c = &sim->canisters[i];

        if (c->status != SF_STATUS_STOPPING)
            continue;
        if (c->stop_due_ms <= sim->now_ms) {
            c->status = SF_STATUS_STOPPED;
            c->stop_due_ms = 0;
        } else if (c->stop_due_ms < next) {
            next = c->stop_due_ms;
        }
    }
    sim->settle_due_ms = next;
}

void sf_sim_stopping(sf_sim *sim, sim_canister *c, uint64_t due)
{
    c->status = SF_STATUS_STOPPING;
    c->stop_due_ms = due;
    if (due < sim->settle_due_ms)
        sim->settle_due_ms = due;
}

/* ---- building ---- */

/* The module of a role at a version: the same bytes for every canister of
 * that role and version, as an upgrade installs the same wasm everywhere. */
static int module_for(sf_sim *sim, const char *role, uint64_t version,
                      sim_image *img, sf_error *err)
{
    const sf_sim_config *cfg = &sim->config;
    uint64_t seed = sf_sim_module_seed(cfg->seed, role, version);
    uint64_t span = cfg->module_max - cfg->module_min + 1;
    uint64_t size = cfg->module_min + sf_sim_mix(seed, 1) % span;
    const sim_module *known = module_by_seed(sim, seed, size);
    sim_module m;

    if (known == NULL) {
        m.seed = seed;
        m.size = size;
        if (sf_sim_stream_sha256(seed, SIM_PART_MODULE, size, m.hash, err) !=
                SF_OK ||
            sf_sim_module_add(sim, &m, err) != SF_OK)
            return SF_ERR;
        known = &sim->modules[sim->module_count - 1];
    }
    img->module_seed = known->seed;
    img->module_size = known->size;
    memcpy(img->module_hash, known->hash, SF_SHA256_HEX_SIZE);
    return SF_OK;
}

static int add_controller(sim_canister *c, const char *id, sf_error *err)
{
    char(*t)[SF_PRINCIPAL_TEXT_MAX] =
        realloc(c->controllers, (c->controller_count + 1) * sizeof *t);

    if (t == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    c->controllers = t;
    snprintf(t[c->controller_count++], SF_PRINCIPAL_TEXT_MAX, "%s", id);
    return SF_OK;
}

/* Appends a new canister (not yet in tree order). Every draw from the
 * generator happens here, in a fixed order. */
static int make_canister(sf_sim *sim, const char *parent, bool is_root,
                         sf_error *err)
{
    const sf_sim_config *cfg = &sim->config;
    sim_canister c;
    uint8_t bytes[10];
    uint64_t counter = sim->next_canister++;
    sim_content content;
    int i;

    memset(&c, 0, sizeof c);
    /* Real canister ids: an 8-byte big-endian counter, then 0x01 0x01. */
    for (i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(counter >> (56 - 8 * i));
    bytes[8] = 0x01;
    bytes[9] = 0x01;
    if (sf_principal_text_from_bytes(bytes, sizeof bytes, c.id, err) != SF_OK)
        return SF_ERR;
    snprintf(c.parent, sizeof c.parent, "%s", is_root ? "" : parent);
    snprintf(c.role, sizeof c.role, "%s",
             is_root ? "root"
                     : roles[sf_sim_rng_range(&sim->rng, 0, ROLE_COUNT - 1)]);
    c.module_version = 0;
    c.image.seed = sf_sim_rng_next(&sim->rng);
    c.image.heap_size = sf_sim_rng_range(&sim->rng, cfg->heap_min,
                                         cfg->heap_max);
    c.image.stable_size = sf_sim_rng_range(&sim->rng, cfg->stable_min,
                                           cfg->stable_max);
    c.image.chunk_count = sf_sim_rng_range(&sim->rng, 0, cfg->chunk_max);
    c.image.chunk_bytes = c.image.chunk_count * cfg->chunk_size;
    c.status = sf_sim_rng_range(&sim->rng, 0, 99) < cfg->stopped_percent
                   ? SF_STATUS_STOPPED
                   : SF_STATUS_RUNNING;
    c.canister_version = 1; /* created, then the module installed */
    content.seed = c.image.seed;
    content.heap_size = c.image.heap_size;
    content.stable_size = c.image.stable_size;
    content.chunk_count = c.image.chunk_count;
    content.chunk_bytes = c.image.chunk_bytes;
    if (module_for(sim, c.role, 0, &c.image, err) != SF_OK ||
        sf_sim_content_add(sim, &content, err) != SF_OK)
        return SF_ERR;
    /* Canic: the root is controlled by the operator, every other canister
     * by the root and the operator. */
    if (!is_root && add_controller(&c, sim->canisters[0].id, err) != SF_OK)
        goto fail;
    if (add_controller(&c, sim->operator_id, err) != SF_OK)
        goto fail;
    if (sim->count == sim->cap) {
        size_t cap = sim->cap ? sim->cap * 2 : 16;
        sim_canister *t = realloc(sim->canisters, cap * sizeof *t);
        if (t == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto fail;
        }
        sim->canisters = t;
        sim->cap = cap;
    }
    sim->canisters[sim->count++] = c;
    return SF_OK;
fail:
    sf_sim_canister_release(&c);
    return SF_ERR;
}

int sf_sim_init(const sf_sim_config *cfg, sf_sim **out, sf_error *err)
{
    sf_sim *sim;
    uint8_t op[29];
    uint64_t i, w = 0;
    size_t *open = NULL, n_open;
    int k;

    *out = NULL;
    if (sf_sim_config_validate(cfg, err) != SF_OK)
        return SF_ERR;
    sim = sf_sim_alloc();
    if (sim == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sim->config = *cfg;
    sim->now_ms = SF_SIM_EPOCH_MS;
    sf_sim_rng_seed(&sim->rng, cfg->seed);
    sf_sim_rng_seed(&sim->net_rng, sf_sim_mix(cfg->seed, 0x6e6574)); /* "net" */
    /* Where this subnet's canister counter starts: differs per seed, like
     * fleets on different subnets. */
    sim->next_canister = sf_sim_rng_range(&sim->rng, 1, 1u << 20) << 12;
    /* The operator is a self-authenticating principal: 28 bytes of key
     * hash, then 0x02. */
    for (k = 0; k < 28; k++) {
        if (k % 8 == 0)
            w = sf_sim_rng_next(&sim->rng);
        op[k] = (uint8_t)(w >> (8 * (k % 8)));
    }
    op[28] = 0x02;
    if (sf_principal_text_from_bytes(op, sizeof op, sim->operator_id, err) !=
        SF_OK)
        goto fail;
    if (make_canister(sim, NULL, true, err) != SF_OK)
        goto fail;
    sim->canisters[0].depth = 0;
    open = calloc(cfg->canister_count, sizeof *open);
    if (open == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto fail;
    }
    /* Parents with room (shallower than max depth, fewer children than
     * the fan-out), in creation order; validation guarantees there is
     * one. Kept up to date rather than rescanned, so a fleet of 10,000
     * costs no quadratic scan. */
    n_open = 0;
    open[n_open++] = 0;
    for (i = 1; i < cfg->canister_count; i++) {
        size_t slot = (size_t)sf_sim_rng_range(&sim->rng, 0, n_open - 1);
        size_t pick = open[slot];

        if (make_canister(sim, sim->canisters[pick].id, false, err) != SF_OK)
            goto fail;
        sim->canisters[pick].child_count++;
        sim->canisters[sim->count - 1].depth = sim->canisters[pick].depth + 1;
        if (sim->canisters[pick].child_count >= cfg->max_fanout) {
            memmove(&open[slot], &open[slot + 1],
                    (n_open - slot - 1) * sizeof *open);
            n_open--;
        }
        if (sim->canisters[sim->count - 1].depth < cfg->max_depth)
            open[n_open++] = sim->count - 1;
    }
    free(open);
    open = NULL;
    if (sf_sim_reorder(sim, err) != SF_OK)
        goto fail;
    *out = sim;
    return SF_OK;
fail:
    free(open);
    sf_sim_free(sim);
    return SF_ERR;
}

/* ---- accessors ---- */

size_t sf_sim_canister_count(const sf_sim *sim)
{
    return sim->count;
}

const char *sf_sim_root_id(const sf_sim *sim)
{
    return sim->count > 0 ? sim->canisters[0].id : "";
}

const sf_sim_config *sf_sim_get_config(const sf_sim *sim)
{
    return &sim->config;
}

uint64_t sf_sim_now_ms(const sf_sim *sim)
{
    return sim->now_ms;
}

static int not_found(const char *id, sf_error *err)
{
    return sf_error_set(err, "canister-not-found", "",
                        "Canister %s was not found.", id ? id : "(null)");
}

int sf_sim_canister_find(const sf_sim *sim, const char *canister_id,
                         size_t *index, sf_error *err)
{
    sim_canister *c = sf_sim_find(sim, canister_id);

    if (c == NULL)
        return not_found(canister_id, err);
    *index = (size_t)(c - sim->canisters);
    return SF_OK;
}

int sf_sim_canister_at(const sf_sim *sim, size_t index,
                       sf_sim_canister_info *out, sf_error *err)
{
    const sim_canister *c;

    if (index >= sim->count)
        return sf_error_set(err, SF_EK_USAGE, "", "canister index %zu out of "
                            "range (%zu canisters)", index, sim->count);
    c = &sim->canisters[index];
    memset(out, 0, sizeof *out);
    memcpy(out->canister_id, c->id, sizeof out->canister_id);
    memcpy(out->parent_canister_id, c->parent, sizeof out->parent_canister_id);
    memcpy(out->role, c->role, sizeof out->role);
    memcpy(out->module_hash, c->image.module_hash, sizeof out->module_hash);
    out->status = c->status;
    out->snapshot_count = c->snapshot_count;
    return sf_sim_image_digest(sim, &c->image, out->state_digest, err);
}

int sf_sim_snapshot_at(const sf_sim *sim, size_t index, size_t j,
                       sf_snapshot_info *out, sf_error *err)
{
    const sim_snapshot *s;

    if (index >= sim->count || j >= sim->canisters[index].snapshot_count)
        return sf_error_set(err, SF_EK_USAGE, "", "snapshot %zu of canister "
                            "%zu out of range", j, index);
    s = &sim->canisters[index].snapshots[j];
    memset(out, 0, sizeof *out);
    memcpy(out->id, s->id, sizeof out->id);
    out->has_taken_at = true;
    out->taken_at_timestamp = s->taken_at_ns;
    out->has_total_size = true;
    out->total_size_bytes = s->total_size;
    return SF_OK;
}

int sf_sim_state_digest(const sf_sim *sim, const char *canister_id,
                        char out[SF_SHA256_HEX_SIZE], sf_error *err)
{
    const sim_canister *c = sf_sim_find(sim, canister_id);

    if (c == NULL)
        return not_found(canister_id, err);
    return sf_sim_image_digest(sim, &c->image, out, err);
}

int sf_sim_registry(const sf_sim *sim, sf_registry *out, sf_error *err)
{
    size_t i;
    int oom = 0;

    memset(out, 0, sizeof *out);
    out->entries = calloc(sim->count ? sim->count : 1, sizeof *out->entries);
    if (out->entries == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    out->count = sim->count;
    for (i = 0; i < sim->count; i++) {
        const sim_canister *c = &sim->canisters[i];
        sf_registry_entry *e = &out->entries[i];

        e->pid = sf_strdup_opt(c->id, &oom);
        e->role = sf_strdup_opt(c->role, &oom);
        e->parent_pid = sf_strdup_opt(c->parent[0] ? c->parent : NULL, &oom);
        e->module_hash = sf_strdup_opt(
            c->image.module_hash[0] ? c->image.module_hash : NULL, &oom);
    }
    if (oom) {
        sf_registry_free(out);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    return SF_OK;
}

int sf_sim_registry_json(const sf_sim *sim, sf_buf *out, sf_error *err)
{
    sf_registry reg;
    int rc;

    if (sf_sim_registry(sim, &reg, err) != SF_OK)
        return SF_ERR;
    rc = sf_registry_write_json(&reg, out, err);
    sf_registry_free(&reg);
    return rc;
}

/* ---- changes from outside ---- */

int sf_sim_mutate(sf_sim *sim, const char *canister_id, sf_error *err)
{
    sim_canister *c = sf_sim_find(sim, canister_id);
    sim_content content;

    if (c == NULL)
        return not_found(canister_id, err);
    memset(&content, 0, sizeof content);
    content.seed = sf_sim_rng_next(&sim->rng);
    content.heap_size = c->image.heap_size;
    content.stable_size = c->image.stable_size;
    content.chunk_count = c->image.chunk_count;
    content.chunk_bytes = c->image.chunk_bytes;
    if (sf_sim_content_add(sim, &content, err) != SF_OK)
        return SF_ERR;
    c->image.opaque = false;
    c->image.digest[0] = '\0';
    c->image.seed = content.seed;
    c->canister_version++;
    return SF_OK;
}

int sf_sim_set_status(sf_sim *sim, const char *canister_id,
                      sf_canister_status status, sf_error *err)
{
    sim_canister *c = sf_sim_find(sim, canister_id);

    if (status != SF_STATUS_RUNNING && status != SF_STATUS_STOPPED)
        return sf_error_set(err, SF_EK_USAGE, "status", "a canister can only "
                            "be set running or stopped");
    if (c == NULL)
        return not_found(canister_id, err);
    c->status = status;
    c->stop_due_ms = 0;
    return SF_OK;
}

static bool is_leaf(const sim_canister *c)
{
    return c->child_count == 0 && c->parent[0] != '\0';
}

static int impossible(const char *kind, sf_error *err)
{
    return sf_error_set(err, "topology-change-impossible", "",
                        "topology change `%s` has no canister to apply to",
                        kind);
}

static int add_child(sf_sim *sim, sf_error *err)
{
    size_t *open = calloc(sim->count, sizeof *open), n = 0, i, pick;
    char parent[SF_PRINCIPAL_TEXT_MAX];

    if (open == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < sim->count; i++)
        if (sim->canisters[i].depth < sim->config.max_depth)
            open[n++] = i;
    if (n == 0) /* every canister at max depth: cannot happen (root is 0) */
        open[n++] = 0;
    pick = open[sf_sim_rng_range(&sim->rng, 0, n - 1)];
    free(open);
    memcpy(parent, sim->canisters[pick].id, sizeof parent);
    if (make_canister(sim, parent, false, err) != SF_OK)
        return SF_ERR;
    /* A new canister starts running, whatever the initial share said. */
    sim->canisters[sim->count - 1].status = SF_STATUS_RUNNING;
    return sf_sim_reorder(sim, err);
}

/* Index of a deterministically chosen leaf (not the root), or count. */
static size_t pick_leaf(sf_sim *sim)
{
    size_t n = 0, i, k;

    for (i = 0; i < sim->count; i++)
        n += is_leaf(&sim->canisters[i]);
    if (n == 0)
        return sim->count;
    k = sf_sim_rng_range(&sim->rng, 0, n - 1);
    for (i = 0; i < sim->count; i++)
        if (is_leaf(&sim->canisters[i]) && k-- == 0)
            return i;
    return sim->count;
}

static int remove_child(sf_sim *sim, sf_error *err)
{
    size_t i = pick_leaf(sim);

    if (i == sim->count)
        return impossible("remove-child", err);
    sf_sim_canister_release(&sim->canisters[i]);
    memmove(&sim->canisters[i], &sim->canisters[i + 1],
            (sim->count - i - 1) * sizeof *sim->canisters);
    sim->count--;
    return sf_sim_reorder(sim, err);
}

static int reparent(sf_sim *sim, sf_error *err)
{
    size_t leaf, n, i, k;
    sim_canister *c;

    /* A leaf can move when some canister other than itself and its parent
     * exists: in a fleet of two there is nowhere to go. */
    if (sim->count < 3)
        return impossible("reparent", err);
    leaf = pick_leaf(sim);
    if (leaf == sim->count)
        return impossible("reparent", err);
    c = &sim->canisters[leaf];
    n = sim->count - 2;
    k = sf_sim_rng_range(&sim->rng, 0, n - 1);
    for (i = 0; i < sim->count; i++) {
        if (i == leaf || strcmp(sim->canisters[i].id, c->parent) == 0)
            continue;
        if (k-- == 0)
            break;
    }
    memcpy(c->parent, sim->canisters[i].id, sizeof c->parent);
    return sf_sim_reorder(sim, err);
}

static int module_change(sf_sim *sim, sf_error *err)
{
    sim_canister *c;
    size_t i;

    if (sim->count < 2)
        return impossible("module-hash", err);
    i = sf_sim_rng_range(&sim->rng, 1, sim->count - 1);
    c = &sim->canisters[i];
    if (module_for(sim, c->role, c->module_version + 1, &c->image, err) !=
        SF_OK)
        return SF_ERR;
    c->module_version++;
    c->canister_version++;
    return SF_OK;
}

int sf_sim_topology_change(sf_sim *sim, const char *kind, sf_error *err)
{
    if (kind == NULL)
        kind = "(null)";
    if (strcmp(kind, "add-child") == 0)
        return add_child(sim, err);
    if (strcmp(kind, "remove-child") == 0)
        return remove_child(sim, err);
    if (strcmp(kind, "reparent") == 0)
        return reparent(sim, err);
    if (strcmp(kind, "module-hash") == 0)
        return module_change(sim, err);
    return sf_error_set(err, SF_EK_USAGE, "kind", "unknown topology change "
                        "`%s` (expected add-child, remove-child, reparent or "
                        "module-hash)", kind);
}

/* ---- the virtual clock ---- */

static uint64_t clock_now(void *ctx)
{
    return ((const sf_sim *)ctx)->now_ms;
}

static void clock_sleep(void *ctx, uint64_t ms)
{
    sf_sim *sim = ctx;

    if (sim->halted) /* a dead process's timers move nothing */
        return;
    sim->now_ms = ms > UINT64_MAX - sim->now_ms ? UINT64_MAX
                                                : sim->now_ms + ms;
    sf_sim_settle(sim);
}

void sf_sim_halt(sf_sim *sim, bool halted)
{
    sim->halted = halted;
}

bool sf_sim_halted(const sf_sim *sim)
{
    return sim->halted;
}

sf_clock sf_sim_clock(sf_sim *sim)
{
    sf_clock c = {clock_now, clock_sleep, sim};
    return c;
}
