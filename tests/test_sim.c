/* The fleet simulator: the fleet, every driver operation with its success
 * and refusal paths, the snapshot directory, virtual time, the state file
 * and topology changes. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapfleet/checksum.h"
#include "snapfleet/snapshot_meta.h"
#include "snapfleet/driver.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"
#include "snapfleet/registry.h"
#include "snapfleet/sim.h"
#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"

/* ---- fixture: a temp directory, a simulator and its driver ---- */

typedef struct fixture {
    char root[64];
    sf_sim *sim;
    sf_driver *drv;
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/sf-sim-XXXXXX");
    if (mkdtemp(f->root) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    sf_driver_destroy(f->drv);
    sf_sim_free(f->sim);
    nftw(f->root, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

/* A small fleet; tweak may adjust the config first. */
static void start_sim(fixture *f, void (*tweak)(sf_sim_config *))
{
    sf_sim_config cfg;
    sf_error err;

    sf_sim_config_default(&cfg);
    if (tweak != NULL)
        tweak(&cfg);
    assert_int_equal(sf_sim_init(&cfg, &f->sim, &err), SF_OK);
    assert_int_equal(sf_sim_driver_new(f->sim, NULL, &f->drv, &err), SF_OK);
}

static char *tmp_path(const fixture *f, const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];

    snprintf(p, 256, "%s/%s", f->root, name);
    return p;
}

/* Runs one operation; the call itself must work. */
static void run(sf_driver *d, sf_result *r, sf_op_kind k, const char *id,
                const char *snap, const char *path, bool resume)
{
    sf_op op;
    sf_error err;

    assert_int_equal(sf_op_init(&op, k, id, snap, path, &err), SF_OK);
    op.resume = resume;
    assert_int_equal(sf_driver_run(d, &op, r, &err), SF_OK);
}

static void expect_ok(sf_driver *d, sf_op_kind k, const char *id,
                      const char *snap, const char *path, bool resume)
{
    sf_result r;

    run(d, &r, k, id, snap, path, resume);
    if (r.fail != SF_FAIL_NONE)
        fail_msg("%s failed: %s: %s", sf_op_kind_name(k), r.err.kind,
                 r.err.message);
    sf_result_free(&r);
}

static void expect_fail(sf_driver *d, sf_op_kind k, const char *id,
                        const char *snap, const char *path, bool resume,
                        sf_fail_class cls, const char *kind,
                        const char *message)
{
    sf_result r;

    run(d, &r, k, id, snap, path, resume);
    assert_int_equal(r.fail, cls);
    assert_string_equal(r.err.kind, kind);
    if (message != NULL)
        assert_string_equal(r.err.message, message);
    sf_result_free(&r);
}

static void info_at(const sf_sim *sim, size_t i, sf_sim_canister_info *out)
{
    sf_error err;

    assert_int_equal(sf_sim_canister_at(sim, i, out, &err), SF_OK);
}

/* The first non-root canister, stopped, with one snapshot taken. */
static void stopped_with_snapshot(fixture *f, char id[SF_PRINCIPAL_TEXT_MAX],
                                  char snap[SF_SNAPSHOT_ID_MAX])
{
    sf_sim_canister_info info;
    sf_result r;

    info_at(f->sim, 1, &info);
    memcpy(id, info.canister_id, SF_PRINCIPAL_TEXT_MAX);
    expect_ok(f->drv, SF_OP_STOP, id, NULL, NULL, false);
    run(f->drv, &r, SF_OP_CREATE, id, NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    memcpy(snap, r.snapshot.id, SF_SNAPSHOT_ID_MAX);
    sf_result_free(&r);
}

static char *state_json(const sf_sim *sim)
{
    sf_buf b;
    sf_error err;
    char *s;

    sf_buf_init(&b);
    assert_int_equal(sf_sim_state_json(sim, &b, &err), SF_OK);
    s = sf_buf_detach(&b);
    assert_non_null(s);
    return s;
}

static char *show_json(const sf_sim *sim)
{
    sf_buf b;
    sf_error err;
    char *s;

    sf_buf_init(&b);
    assert_int_equal(sf_sim_show_json(sim, &b, &err), SF_OK);
    s = sf_buf_detach(&b);
    assert_non_null(s);
    return s;
}

static uint64_t file_size(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static bool file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static char *read_text(const char *path)
{
    /* Static, not local: gcc -O2 otherwise suspects the returned pointer
     * of pointing at the local it was written through. */
    static char *text;
    size_t len;
    sf_error err;

    text = NULL;
    assert_int_equal(sf_fs_read_file(path, (size_t)64 << 20, &text, &len,
                                     &err), SF_OK);
    return text;
}

/* SHA-256 of wasm_memory.bin (if any) followed by stable_memory.bin. */
static void memory_digest_of_dir(const char *dir, char out[65])
{
    static const char *const names[] = {"wasm_memory.bin",
                                        "stable_memory.bin"};
    sf_sha256 *h = sf_sha256_new();
    char path[512];
    unsigned char buf[65536];
    int k;

    assert_non_null(h);
    for (k = 0; k < 2; k++) {
        FILE *fp;
        size_t n;

        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        fp = fopen(path, "rb");
        if (fp == NULL)
            continue;
        while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
            assert_int_equal(sf_sha256_update(h, buf, n), SF_OK);
        fclose(fp);
    }
    assert_int_equal(sf_sha256_final(h, out), SF_OK);
    sf_sha256_free(h);
}

static void flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    int c;

    assert_non_null(fp);
    fseek(fp, offset, SEEK_SET);
    c = fgetc(fp);
    fseek(fp, offset, SEEK_SET);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
}

/* ---- config ---- */

static void test_config_defaults(void **state)
{
    sf_sim_config cfg;
    sf_error err;

    (void)state;
    sf_sim_config_default(&cfg);
    assert_int_equal(cfg.snapshot_limit, 10);
    assert_int_equal(cfg.heap_min, 4096);
    assert_int_equal(cfg.heap_max, 256 * 1024);
    assert_int_equal(cfg.stopped_percent, 0);
    assert_int_equal(sf_sim_config_validate(&cfg, &err), SF_OK);
}

static void expect_config_refused(void (*tweak)(sf_sim_config *),
                                  const char *field)
{
    sf_sim_config cfg;
    sf_sim *sim = (sf_sim *)1;
    sf_error err;

    sf_sim_config_default(&cfg);
    tweak(&cfg);
    assert_int_equal(sf_sim_init(&cfg, &sim, &err), SF_ERR);
    assert_null(sim);
    assert_string_equal(err.kind, "usage");
    assert_string_equal(err.field, field);
}

static void cfg_zero_count(sf_sim_config *c) { c->canister_count = 0; }
static void cfg_no_fit(sf_sim_config *c)
{
    c->canister_count = 8;
    c->max_fanout = 2;
    c->max_depth = 2; /* 1 + 2 + 4 = 7 */
}
static void cfg_zero_fanout(sf_sim_config *c) { c->max_fanout = 0; }
static void cfg_zero_depth(sf_sim_config *c) { c->max_depth = 0; }
static void cfg_too_deep(sf_sim_config *c) { c->max_depth = SF_SIM_DEPTH_MAX + 1; }
static void cfg_heap_range(sf_sim_config *c) { c->heap_min = c->heap_max + 1; }
static void cfg_stable_range(sf_sim_config *c)
{
    c->stable_min = c->stable_max + 1;
}
static void cfg_module_small(sf_sim_config *c) { c->module_min = 7; }
static void cfg_stopped_share(sf_sim_config *c) { c->stopped_percent = 101; }
static void cfg_zero_limit(sf_sim_config *c) { c->snapshot_limit = 0; }
static void cfg_zero_chunk(sf_sim_config *c) { c->chunk_size = 0; }

static void test_config_refusals(void **state)
{
    (void)state;
    expect_config_refused(cfg_zero_count, "canister_count");
    expect_config_refused(cfg_no_fit, "canister_count");
    expect_config_refused(cfg_zero_fanout, "max_fanout");
    expect_config_refused(cfg_zero_depth, "max_depth");
    expect_config_refused(cfg_too_deep, "max_depth");
    expect_config_refused(cfg_heap_range, "heap_min");
    expect_config_refused(cfg_stable_range, "stable_min");
    expect_config_refused(cfg_module_small, "module_min");
    expect_config_refused(cfg_stopped_share, "stopped_percent");
    expect_config_refused(cfg_zero_limit, "snapshot_limit");
    expect_config_refused(cfg_zero_chunk, "chunk_size");
}

/* sf_sim_shape: what it picks for each combination given, and what it
 * refuses. */
static void test_shape_choice(void **state)
{
    uint64_t f, d;
    sf_error err;

    (void)state;
    /* nothing given: 3 x 3 while it fits, then a wider fan-out */
    assert_int_equal(sf_sim_shape(6, 0, 0, &f, &d, &err), SF_OK);
    assert_int_equal(f, 3);
    assert_int_equal(d, 3);
    assert_int_equal(sf_sim_shape(40, 0, 0, &f, &d, &err), SF_OK);
    assert_int_equal(f, 3);
    assert_int_equal(d, 3);
    assert_int_equal(sf_sim_shape(41, 0, 0, &f, &d, &err), SF_OK);
    assert_int_equal(f, 4); /* 1 + 4 + 16 + 64 */
    assert_int_equal(d, 3);
    assert_int_equal(sf_sim_shape(10000, 0, 0, &f, &d, &err), SF_OK);
    assert_int_equal(f, 22); /* 1 + 22 + 484 + 10648 */
    assert_int_equal(d, 3);
    assert_int_equal(sf_sim_shape(1, 0, 0, &f, &d, &err), SF_OK);
    /* only the fan-out: depth 3 if it fits, else deeper */
    assert_int_equal(sf_sim_shape(10000, 2, 0, &f, &d, &err), SF_OK);
    assert_int_equal(f, 2);
    assert_int_equal(d, 13); /* 2^14 - 1 = 16383 >= 10000 > 8191 */
    assert_int_equal(sf_sim_shape(10, 5, 0, &f, &d, &err), SF_OK);
    assert_int_equal(d, 3);
    assert_int_equal(sf_sim_shape(65, 1, 0, &f, &d, &err), SF_OK);
    assert_int_equal(d, SF_SIM_DEPTH_MAX); /* a chain */
    /* only the depth: fan-out 3 if it fits, else wider */
    assert_int_equal(sf_sim_shape(10000, 0, 1, &f, &d, &err), SF_OK);
    assert_int_equal(f, 9999);
    assert_int_equal(d, 1);
    assert_int_equal(sf_sim_shape(20, 0, 5, &f, &d, &err), SF_OK);
    assert_int_equal(f, 3);
    /* both: kept when they hold the fleet */
    assert_int_equal(sf_sim_shape(7, 2, 2, &f, &d, &err), SF_OK);
    assert_int_equal(f, 2);
    assert_int_equal(d, 2);
    /* refusals */
    assert_int_equal(sf_sim_shape(8, 2, 2, &f, &d, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_string_equal(err.field, "canister_count");
    assert_non_null(strstr(err.message, "8 canisters do not fit a tree of fan-out 2 "
                                        "and depth 2 (it holds at most 7)"));
    assert_int_equal(sf_sim_shape(66, 1, 0, &f, &d, &err), SF_ERR);
    assert_string_equal(err.field, "canister_count");
    assert_int_equal(sf_sim_shape(5, 3, SF_SIM_DEPTH_MAX + 1, &f, &d, &err), SF_ERR);
    assert_string_equal(err.field, "max_depth");
    assert_int_equal(sf_sim_shape(0, 0, 0, &f, &d, &err), SF_ERR);
    assert_string_equal(err.field, "canister_count");
}

typedef struct indexed_id {
    char id[SF_PRINCIPAL_TEXT_MAX];
    size_t index;
} indexed_id;

static int by_id(const void *a, const void *b)
{
    return strcmp(((const indexed_id *)a)->id, ((const indexed_id *)b)->id);
}

/* A fleet of 10,000 in the chosen shape: every canister within the
 * fan-out and the depth. */
static void test_shape_ten_thousand(void **state)
{
    sf_sim_config cfg;
    sf_sim *sim;
    sf_error err;
    size_t i, n, *children;
    uint64_t *depth;
    indexed_id *ids;

    (void)state;
    sf_sim_config_default(&cfg);
    cfg.canister_count = 10000;
    /* small memories: every canister_at hashes its memory */
    cfg.heap_min = cfg.heap_max = 16;
    cfg.stable_min = cfg.stable_max = 16;
    assert_int_equal(sf_sim_shape(cfg.canister_count, 0, 0, &cfg.max_fanout,
                                  &cfg.max_depth, &err), SF_OK);
    assert_int_equal(sf_sim_init(&cfg, &sim, &err), SF_OK);
    n = sf_sim_canister_count(sim);
    assert_int_equal(n, 10000);
    children = calloc(n, sizeof *children);
    depth = calloc(n, sizeof *depth);
    assert_non_null(children);
    assert_non_null(depth);
    ids = calloc(n, sizeof *ids);
    assert_non_null(ids);
    for (i = 0; i < n; i++) {
        sf_sim_canister_info info;

        assert_int_equal(sf_sim_canister_at(sim, i, &info, &err), SF_OK);
        memcpy(ids[i].id, info.canister_id, sizeof ids[i].id);
        ids[i].index = i;
    }
    qsort(ids, n, sizeof *ids, by_id);
    for (i = 1; i < n; i++) {
        sf_sim_canister_info info;
        indexed_id key, *hit;
        size_t parent;

        assert_int_equal(sf_sim_canister_at(sim, i, &info, &err), SF_OK);
        memcpy(key.id, info.parent_canister_id, sizeof key.id);
        hit = bsearch(&key, ids, n, sizeof *ids, by_id);
        assert_non_null(hit);
        parent = hit->index;
        assert_true(parent < i); /* tree order: parents first */
        children[parent]++;
        depth[i] = depth[parent] + 1;
        assert_true(children[parent] <= 22);
        assert_true(depth[i] <= 3);
    }
    free(ids);
    free(children);
    free(depth);
    sf_sim_free(sim);
}

/* ---- the fleet ---- */

static void cfg_big_tree(sf_sim_config *c)
{
    c->canister_count = 40;
    c->max_fanout = 4;
    c->max_depth = 3;
}

static void test_tree_shape(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info, root;
    size_t i, j, children;

    start_sim(f, cfg_big_tree);
    assert_int_equal(sf_sim_canister_count(f->sim), 40);
    info_at(f->sim, 0, &root);
    assert_string_equal(root.canister_id, sf_sim_root_id(f->sim));
    assert_string_equal(root.role, "root");
    assert_string_equal(root.parent_canister_id, "");
    for (i = 0; i < 40; i++) {
        sf_principal p;
        sf_error err;

        info_at(f->sim, i, &info);
        /* Real canister id shape: 8-byte counter, then 0x01 0x01. */
        assert_int_equal(sf_principal_from_text(info.canister_id, &p, &err),
                         SF_OK);
        assert_int_equal(p.len, 10);
        assert_int_equal(p.bytes[8], 1);
        assert_int_equal(p.bytes[9], 1);
        assert_int_equal(strlen(info.module_hash), 64);
        assert_int_equal(strlen(info.state_digest), 64);
        assert_int_equal(info.status, SF_STATUS_RUNNING);
        assert_int_equal(info.snapshot_count, 0);
        if (i > 0) {
            size_t pi;
            /* Tree order: a parent comes before its children. */
            assert_int_equal(sf_sim_canister_find(f->sim,
                                                  info.parent_canister_id,
                                                  &pi, &err), SF_OK);
            assert_true(pi < i);
            assert_string_not_equal(info.role, "root");
        }
        children = 0;
        for (j = 0; j < 40; j++) {
            sf_sim_canister_info other;
            info_at(f->sim, j, &other);
            children += strcmp(other.parent_canister_id,
                               info.canister_id) == 0;
        }
        assert_true(children <= 4);
    }
}

static void test_same_role_same_module(void **state)
{
    fixture *f = *state;
    size_t i, j, pairs = 0;

    start_sim(f, cfg_big_tree);
    for (i = 1; i < 40; i++)
        for (j = i + 1; j < 40; j++) {
            sf_sim_canister_info a, b;
            info_at(f->sim, i, &a);
            info_at(f->sim, j, &b);
            if (strcmp(a.role, b.role) == 0) {
                assert_string_equal(a.module_hash, b.module_hash);
                pairs++;
            } else {
                assert_string_not_equal(a.module_hash, b.module_hash);
            }
        }
    assert_true(pairs > 0); /* roles repeat in a fleet of 40 */
}

static void seed2(sf_sim_config *c) { c->seed = 2; }

static void test_determinism_same_seed(void **state)
{
    fixture *f = *state;
    sf_sim_config cfg;
    sf_sim *other;
    sf_error err;
    char *a, *b, *sa, *sb;

    start_sim(f, NULL);
    sf_sim_config_default(&cfg);
    assert_int_equal(sf_sim_init(&cfg, &other, &err), SF_OK);
    a = show_json(f->sim);
    b = show_json(other);
    assert_string_equal(a, b);
    sa = state_json(f->sim);
    sb = state_json(other);
    assert_string_equal(sa, sb);
    free(a);
    free(b);
    free(sa);
    free(sb);
    sf_sim_free(other);
}

static void test_determinism_other_seed(void **state)
{
    fixture *f = *state;
    sf_sim_config cfg;
    sf_sim *other;
    sf_error err;
    char *a, *b;

    start_sim(f, NULL);
    sf_sim_config_default(&cfg);
    seed2(&cfg);
    assert_int_equal(sf_sim_init(&cfg, &other, &err), SF_OK);
    a = show_json(f->sim);
    b = show_json(other);
    assert_string_not_equal(a, b);
    assert_string_not_equal(sf_sim_root_id(f->sim), sf_sim_root_id(other));
    free(a);
    free(b);
    sf_sim_free(other);
}

static void all_stopped(sf_sim_config *c) { c->stopped_percent = 100; }

static void test_stopped_share(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    size_t i;

    start_sim(f, all_stopped);
    for (i = 0; i < sf_sim_canister_count(f->sim); i++) {
        info_at(f->sim, i, &info);
        assert_int_equal(info.status, SF_STATUS_STOPPED);
    }
}

static void test_show_json_shape(void **state)
{
    fixture *f = *state;
    char *s, id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    cJSON *root, *c0, *c1, *snaps;
    sf_sim_canister_info info;
    sf_error err;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    s = show_json(f->sim);
    assert_int_equal(sf_json_parse(s, strlen(s), &root, &err), SF_OK);
    assert_string_equal(cJSON_GetObjectItem(root, "root")->valuestring,
                        sf_sim_root_id(f->sim));
    assert_non_null(cJSON_GetObjectItem(root, "clock_ms"));
    c0 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "canisters"), 0);
    c1 = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "canisters"), 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(c0, "parent_canister_id")));
    assert_string_equal(cJSON_GetObjectItem(c1, "canister_id")->valuestring,
                        id);
    assert_string_equal(cJSON_GetObjectItem(c1, "status")->valuestring,
                        "stopped");
    info_at(f->sim, 1, &info);
    assert_string_equal(cJSON_GetObjectItem(c1, "state_digest")->valuestring,
                        info.state_digest);
    snaps = cJSON_GetObjectItem(c1, "snapshots");
    assert_int_equal(cJSON_GetArraySize(snaps), 1);
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetArrayItem(snaps, 0), "snapshot_id")
            ->valuestring, snap);
    /* Key order of a canister entry. */
    assert_true(strstr(s, "\"canister_id\"") <
                strstr(s, "\"parent_canister_id\""));
    assert_true(strstr(s, "\"module_hash\"") < strstr(s, "\"status\""));
    assert_true(strstr(s, "\"status\"") < strstr(s, "\"state_digest\""));
    cJSON_Delete(root);
    free(s);
}

static void test_show_text(void **state)
{
    fixture *f = *state;
    sf_buf b;
    sf_error err;

    start_sim(f, NULL);
    sf_buf_init(&b);
    assert_int_equal(sf_sim_show_text(f->sim, &b, &err), SF_OK);
    assert_non_null(strstr(b.data, sf_sim_root_id(f->sim)));
    assert_non_null(strstr(b.data, "CANISTER"));
    assert_non_null(strstr(b.data, "running"));
    sf_buf_free(&b);
}

static void test_accessor_ranges(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_snapshot_info snap;
    size_t i;
    sf_error err;
    char digest[65];

    start_sim(f, NULL);
    assert_int_equal(sf_sim_canister_at(f->sim, 8, &info, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_sim_snapshot_at(f->sim, 0, 0, &snap, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_sim_canister_find(f->sim, "aaaaa-aa", &i, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "canister-not-found");
    assert_string_equal(err.message, "Canister aaaaa-aa was not found.");
    assert_int_equal(sf_sim_state_digest(f->sim, "aaaaa-aa", digest, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "canister-not-found");
    /* Lookups accept any case. */
    {
        char upper[SF_PRINCIPAL_TEXT_MAX];
        size_t k;
        snprintf(upper, sizeof upper, "%s", sf_sim_root_id(f->sim));
        for (k = 0; upper[k]; k++)
            if (upper[k] >= 'a' && upper[k] <= 'z')
                upper[k] = (char)(upper[k] - 32);
        assert_int_equal(sf_sim_canister_find(f->sim, upper, &i, &err), SF_OK);
        assert_int_equal(i, 0);
    }
}

/* ---- registry and status ---- */

static void test_registry_op(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_result r;
    size_t i;

    start_sim(f, NULL);
    run(f->drv, &r, SF_OP_REGISTRY, sf_sim_root_id(f->sim), NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(r.registry.count, 8);
    for (i = 0; i < 8; i++) {
        const sf_registry_entry *e = &r.registry.entries[i];
        info_at(f->sim, i, &info);
        assert_string_equal(e->pid, info.canister_id);
        assert_string_equal(e->role, info.role);
        assert_string_equal(e->module_hash, info.module_hash);
        assert_null(e->kind);
        if (i == 0)
            assert_null(e->parent_pid);
        else
            assert_string_equal(e->parent_pid, info.parent_canister_id);
    }
    sf_result_free(&r);
}

static void test_registry_refusals(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    char msg[256];

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    snprintf(msg, sizeof msg, "Canister %s has no query method "
             "'canic_subnet_registry'", info.canister_id);
    expect_fail(f->drv, SF_OP_REGISTRY, info.canister_id, NULL, NULL, false,
                SF_FAIL_PERMANENT, "method-not-found", msg);
    expect_fail(f->drv, SF_OP_REGISTRY, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found",
                "Canister aaaaa-aa was not found.");
}

static void test_registry_json(void **state)
{
    fixture *f = *state;
    sf_buf a, b;
    sf_registry reg, parsed;
    sf_error err;
    size_t i;

    start_sim(f, NULL);
    sf_buf_init(&a);
    sf_buf_init(&b);
    assert_int_equal(sf_sim_registry_json(f->sim, &a, &err), SF_OK);
    assert_int_equal(sf_sim_registry(f->sim, &reg, &err), SF_OK);
    assert_int_equal(sf_registry_write_json(&reg, &b, &err), SF_OK);
    assert_string_equal(a.data, b.data);
    assert_int_equal(strncmp(a.data, "{\n  \"Ok\": [", 11), 0);
    assert_int_equal(sf_registry_parse(a.data, a.len, &parsed, &err), SF_OK);
    assert_int_equal(parsed.count, reg.count);
    for (i = 0; i < reg.count; i++)
        assert_string_equal(parsed.entries[i].pid, reg.entries[i].pid);
    sf_registry_free(&parsed);
    sf_registry_free(&reg);
    sf_buf_free(&a);
    sf_buf_free(&b);
}

static void test_status_op(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_result r;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    run(f->drv, &r, SF_OP_STATUS, info.canister_id, NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(r.status, SF_STATUS_RUNNING);
    assert_string_equal(r.module_hash, info.module_hash);
    /* Children are controlled by the root and the operator. */
    assert_int_equal(r.controller_count, 2);
    assert_string_equal(r.controllers[0], sf_sim_root_id(f->sim));
    assert_true(sf_principal_is_valid(r.controllers[1]));
    sf_result_free(&r);
    run(f->drv, &r, SF_OP_STATUS, sf_sim_root_id(f->sim), NULL, NULL, false);
    assert_int_equal(r.controller_count, 1); /* the operator */
    sf_result_free(&r);
    expect_fail(f->drv, SF_OP_STATUS, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found",
                "Canister aaaaa-aa was not found.");
}

/* ---- stop / start ---- */

static void test_stop_start(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    const char *id;

    start_sim(f, NULL);
    info_at(f->sim, 2, &info);
    id = info.canister_id;
    expect_ok(f->drv, SF_OP_STOP, id, NULL, NULL, false);
    info_at(f->sim, 2, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    /* Idempotent both ways. */
    expect_ok(f->drv, SF_OP_STOP, id, NULL, NULL, false);
    info_at(f->sim, 2, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
    info_at(f->sim, 2, &info);
    assert_int_equal(info.status, SF_STATUS_RUNNING);
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
    info_at(f->sim, 2, &info);
    assert_int_equal(info.status, SF_STATUS_RUNNING);
    expect_fail(f->drv, SF_OP_STOP, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
    expect_fail(f->drv, SF_OP_START, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
}

static void submit(sf_driver *d, sf_op_kind k, const char *id,
                   const char *snap, const char *path, uint64_t *ticket)
{
    sf_op op;
    sf_error err;

    assert_int_equal(sf_op_init(&op, k, id, snap, path, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &op, ticket, &err), SF_OK);
}

static void test_status_sees_stopping(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    uint64_t t_stop, t_status, got;
    sf_result r;
    sf_error err;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    submit(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, &t_stop);
    submit(f->drv, SF_OP_STATUS, info.canister_id, NULL, NULL, &t_status);
    assert_int_equal(sf_driver_in_flight(f->drv), 2);
    /* The stop takes latency + stop time; the status only latency. */
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_status);
    assert_int_equal(r.status, SF_STATUS_STOPPING);
    assert_int_equal(sf_sim_now_ms(f->sim), SF_SIM_EPOCH_MS + 20);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_stop);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(sf_sim_now_ms(f->sim), SF_SIM_EPOCH_MS + 70);
    sf_result_free(&r);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    assert_int_equal(sf_driver_in_flight(f->drv), 0);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_ERR);
}

static void test_start_cancels_stop(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    uint64_t t_stop, t_start, got;
    sf_result r;
    sf_error err;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    submit(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, &t_stop);
    submit(f->drv, SF_OP_START, info.canister_id, NULL, NULL, &t_start);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_start);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_stop);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "stop-cancelled");
    sf_result_free(&r);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_RUNNING);
}

/* A canister stopped at submit time but started before the stop lands:
 * the stop begins then and completes stop_ms later. */
/* A halted fleet (the process driving it crashed): every call fails at
 * once with no effect, the clock stands still, nothing is drawn; resumed,
 * the fleet goes on from exactly where it stood. */
static void test_halt_changes_nothing(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_buf before, during;
    sf_clock clock;
    sf_error err;
    char id[SF_PRINCIPAL_TEXT_MAX];
    uint64_t t0;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    snprintf(id, sizeof id, "%s", info.canister_id);
    sf_buf_init(&before);
    sf_buf_init(&during);
    assert_int_equal(sf_sim_state_json(f->sim, &before, &err), SF_OK);
    sf_sim_halt(f->sim, true);
    assert_true(sf_sim_halted(f->sim));
    t0 = sf_sim_now_ms(f->sim);
    expect_fail(f->drv, SF_OP_STOP, id, NULL, NULL, false, SF_FAIL_PERMANENT,
                "crashed", NULL);
    expect_fail(f->drv, SF_OP_CREATE, id, NULL, NULL, false, SF_FAIL_PERMANENT,
                "crashed", NULL);
    expect_fail(f->drv, SF_OP_START, id, NULL, NULL, false, SF_FAIL_PERMANENT,
                "crashed", NULL);
    clock = sf_sim_clock(f->sim);
    clock.sleep_ms(clock.ctx, 5000); /* a retry's backoff */
    assert_int_equal(sf_sim_now_ms(f->sim), t0);
    assert_int_equal(sf_sim_state_json(f->sim, &during, &err), SF_OK);
    assert_int_equal(during.len, before.len);
    assert_memory_equal(during.data, before.data, before.len);
    sf_sim_halt(f->sim, false);
    assert_false(sf_sim_halted(f->sim));
    expect_ok(f->drv, SF_OP_STOP, id, NULL, NULL, false);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    assert_true(sf_sim_now_ms(f->sim) > t0);
    sf_buf_free(&before);
    sf_buf_free(&during);
}

static void test_stop_after_start_in_flight(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    uint64_t t_start, t_stop, got, t0;
    sf_result r;
    sf_error err;

    start_sim(f, all_stopped);
    info_at(f->sim, 1, &info);
    t0 = sf_sim_now_ms(f->sim);
    submit(f->drv, SF_OP_START, info.canister_id, NULL, NULL, &t_start);
    submit(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, &t_stop);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_start);
    sf_result_free(&r);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_RUNNING);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t_stop);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_int_equal(sf_sim_now_ms(f->sim), t0 + 20 + 50);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
}

static void test_create_while_stopping(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    uint64_t t1, t2, got;
    sf_result r;
    sf_error err;
    char msg[256];

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    submit(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, &t1);
    submit(f->drv, SF_OP_CREATE, info.canister_id, NULL, NULL, &t2);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, t2);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "canister-stopping");
    snprintf(msg, sizeof msg, "Canister %s is still stopping. Please wait "
             "for it to fully stop.", info.canister_id);
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    sf_result_free(&r);
}

static void test_clock(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_clock clk;
    uint64_t t;
    char marker[32];

    start_sim(f, NULL);
    clk = sf_sim_clock(f->sim);
    assert_int_equal(sf_clock_now_ms(&clk), SF_SIM_EPOCH_MS);
    sf_clock_sleep_ms(&clk, 1500);
    assert_int_equal(sf_clock_now_ms(&clk), SF_SIM_EPOCH_MS + 1500);
    sf_clock_marker(&clk, marker);
    assert_string_equal(marker, "unix:1778700001");
    /* A stop whose caller went away still completes as time passes. */
    info_at(f->sim, 1, &info);
    submit(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, &t);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPING);
    sf_clock_sleep_ms(&clk, 1000);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
}

/* Stops come due however the fleet got its stopping canisters: two stops
 * in flight each settle at their own moment, after a sleep that found
 * nothing due, and a fleet loaded from a state saved mid-stop settles its
 * stopping canisters at the same moments. A stop is due 20 ms (latency)
 * + 50 ms (stop_ms) after its call. */
static void test_settle_when_due(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info a, b;
    sf_sim *loaded = NULL;
    sf_clock clk, lclk;
    sf_buf json;
    sf_error err;
    uint64_t t;

    start_sim(f, NULL);
    clk = sf_sim_clock(f->sim);
    sf_clock_sleep_ms(&clk, 10); /* nothing stopping: nothing due */
    info_at(f->sim, 1, &a);
    submit(f->drv, SF_OP_STOP, a.canister_id, NULL, NULL, &t); /* due +70 */
    sf_clock_sleep_ms(&clk, 30);
    info_at(f->sim, 2, &b);
    submit(f->drv, SF_OP_STOP, b.canister_id, NULL, NULL, &t); /* due +100 */
    info_at(f->sim, 1, &a);
    info_at(f->sim, 2, &b);
    assert_int_equal(a.status, SF_STATUS_STOPPING);
    assert_int_equal(b.status, SF_STATUS_STOPPING);

    sf_buf_init(&json);
    assert_int_equal(sf_sim_state_json(f->sim, &json, &err), SF_OK);
    assert_int_equal(sf_sim_load_json(json.data, json.len, &loaded, &err),
                     SF_OK);
    sf_buf_free(&json);

    sf_clock_sleep_ms(&clk, 39);
    info_at(f->sim, 1, &a);
    assert_int_equal(a.status, SF_STATUS_STOPPING);
    sf_clock_sleep_ms(&clk, 1);
    info_at(f->sim, 1, &a);
    info_at(f->sim, 2, &b);
    assert_int_equal(a.status, SF_STATUS_STOPPED);
    assert_int_equal(b.status, SF_STATUS_STOPPING);
    sf_clock_sleep_ms(&clk, 30);
    info_at(f->sim, 2, &b);
    assert_int_equal(b.status, SF_STATUS_STOPPED);

    /* the loaded copy: the same moments */
    lclk = sf_sim_clock(loaded);
    sf_clock_sleep_ms(&lclk, 39);
    info_at(loaded, 1, &a);
    assert_int_equal(a.status, SF_STATUS_STOPPING);
    sf_clock_sleep_ms(&lclk, 1);
    info_at(loaded, 1, &a);
    info_at(loaded, 2, &b);
    assert_int_equal(a.status, SF_STATUS_STOPPED);
    assert_int_equal(b.status, SF_STATUS_STOPPING);
    sf_clock_sleep_ms(&lclk, 30);
    info_at(loaded, 2, &b);
    assert_int_equal(b.status, SF_STATUS_STOPPED);
    sf_sim_free(loaded);
}

static void test_set_status(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_error err;

    start_sim(f, NULL);
    info_at(f->sim, 3, &info);
    assert_int_equal(sf_sim_set_status(f->sim, info.canister_id,
                                       SF_STATUS_STOPPED, &err), SF_OK);
    info_at(f->sim, 3, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    assert_int_equal(sf_sim_set_status(f->sim, info.canister_id,
                                       SF_STATUS_STOPPING, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_sim_set_status(f->sim, "aaaaa-aa", SF_STATUS_RUNNING,
                                       &err), SF_ERR);
    assert_string_equal(err.kind, "canister-not-found");
}

/* ---- create / list / delete ---- */

static void test_create_refused_running(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    char msg[256];

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    snprintf(msg, sizeof msg, "Canister %s is currently running. Please stop "
             "the canister first with `icp canister stop`.", info.canister_id);
    expect_fail(f->drv, SF_OP_CREATE, info.canister_id, NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-running", msg);
    info_at(f->sim, 1, &info);
    assert_int_equal(info.snapshot_count, 0);
    expect_fail(f->drv, SF_OP_CREATE, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
}

static void test_create_shape(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_principal p;
    sf_result r;
    sf_error err;
    char hex[64];
    size_t k;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    expect_ok(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, false);
    run(f->drv, &r, SF_OP_CREATE, info.canister_id, NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    /* 8-byte counter 0, then the principal bytes: 36 hex digits. */
    assert_int_equal(strlen(r.snapshot.id), 36);
    assert_int_equal(strncmp(r.snapshot.id, "0000000000000000", 16), 0);
    assert_int_equal(sf_principal_from_text(info.canister_id, &p, &err),
                     SF_OK);
    for (k = 0; k < p.len; k++)
        snprintf(hex + 2 * k, 3, "%02x", p.bytes[k]);
    assert_string_equal(r.snapshot.id + 16, hex);
    assert_true(r.snapshot.has_taken_at);
    assert_int_equal(r.snapshot.taken_at_timestamp,
                     sf_sim_now_ms(f->sim) * 1000000u);
    assert_true(r.snapshot.has_total_size);
    assert_true(r.snapshot.total_size_bytes > 0);
    sf_result_free(&r);
    run(f->drv, &r, SF_OP_CREATE, info.canister_id, NULL, NULL, false);
    assert_int_equal(strncmp(r.snapshot.id, "0000000000000001", 16), 0);
    sf_result_free(&r);
}

static void limit_one(sf_sim_config *c) { c->snapshot_limit = 1; }

static void test_create_limit(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[256];

    start_sim(f, limit_one);
    stopped_with_snapshot(f, id, snap);
    snprintf(msg, sizeof msg, "Canister %s has reached the maximum number of "
             "snapshots allowed: 1.", id);
    expect_fail(f->drv, SF_OP_CREATE, id, NULL, NULL, false,
                SF_FAIL_PERMANENT, "snapshot-limit", msg);
    /* Deleting makes room again. */
    expect_ok(f->drv, SF_OP_DELETE, id, snap, NULL, false);
    expect_ok(f->drv, SF_OP_CREATE, id, NULL, NULL, false);
}

static void test_list_and_delete(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[256];
    sf_result r;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    expect_ok(f->drv, SF_OP_CREATE, id, NULL, NULL, false);
    run(f->drv, &r, SF_OP_LIST, id, NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(r.snapshot_count, 2);
    assert_string_equal(r.snapshots[0].id, snap);
    assert_true(r.snapshots[0].has_taken_at && r.snapshots[0].has_total_size);
    assert_true(r.snapshots[1].taken_at_timestamp >
                r.snapshots[0].taken_at_timestamp);
    sf_result_free(&r);
    /* Delete needs no stopped canister; ids are accepted in any case. */
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
    {
        char upper[SF_SNAPSHOT_ID_MAX];
        size_t k;
        snprintf(upper, sizeof upper, "%s", snap);
        for (k = 0; upper[k]; k++)
            if (upper[k] >= 'a' && upper[k] <= 'f')
                upper[k] = (char)(upper[k] - 32);
        expect_ok(f->drv, SF_OP_DELETE, id, upper, NULL, false);
    }
    run(f->drv, &r, SF_OP_LIST, id, NULL, NULL, false);
    assert_int_equal(r.snapshot_count, 1);
    assert_string_not_equal(r.snapshots[0].id, snap);
    sf_result_free(&r);
    snprintf(msg, sizeof msg, "Could not find the snapshot ID %s for "
             "canister %s.", snap, id);
    expect_fail(f->drv, SF_OP_DELETE, id, snap, NULL, false,
                SF_FAIL_PERMANENT, "snapshot-not-found", msg);
    expect_fail(f->drv, SF_OP_DELETE, "aaaaa-aa", snap, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
    expect_fail(f->drv, SF_OP_LIST, "aaaaa-aa", NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
    /* An empty list is a success with no entries. */
    run(f->drv, &r, SF_OP_LIST, sf_sim_root_id(f->sim), NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(r.snapshot_count, 0);
    sf_result_free(&r);
}

/* ---- load ---- */

static void test_load_restores_state(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    char before[65], after[65], back[65];
    sf_error err;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, before, &err), SF_OK);
    assert_int_equal(sf_sim_mutate(f->sim, id, &err), SF_OK);
    assert_int_equal(sf_sim_state_digest(f->sim, id, after, &err), SF_OK);
    assert_string_not_equal(before, after);
    expect_ok(f->drv, SF_OP_LOAD, id, snap, NULL, false);
    assert_int_equal(sf_sim_state_digest(f->sim, id, back, &err), SF_OK);
    assert_string_equal(before, back);
    /* Load does not start the canister. */
    {
        size_t i;
        sf_sim_canister_info info;
        assert_int_equal(sf_sim_canister_find(f->sim, id, &i, &err), SF_OK);
        info_at(f->sim, i, &info);
        assert_int_equal(info.status, SF_STATUS_STOPPED);
    }
}

static void test_load_refusals(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[256];

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    snprintf(msg, sizeof msg, "Could not find the snapshot ID 00ff for "
             "canister %s.", id);
    expect_fail(f->drv, SF_OP_LOAD, id, "00ff", NULL, false,
                SF_FAIL_PERMANENT, "snapshot-not-found", msg);
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
    snprintf(msg, sizeof msg, "Canister %s is currently running. Please stop "
             "the canister first with `icp canister stop`.", id);
    expect_fail(f->drv, SF_OP_LOAD, id, snap, NULL, false, SF_FAIL_PERMANENT,
                "canister-running", msg);
    expect_fail(f->drv, SF_OP_LOAD, "aaaaa-aa", snap, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
}

static void two_canisters(sf_sim_config *c) { c->canister_count = 2; }

static void test_load_restores_module(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    sf_sim_canister_info before, changed, back;
    sf_error err;

    start_sim(f, two_canisters);
    stopped_with_snapshot(f, id, snap);
    info_at(f->sim, 1, &before);
    assert_int_equal(sf_sim_topology_change(f->sim, "module-hash", &err),
                     SF_OK);
    info_at(f->sim, 1, &changed);
    assert_string_not_equal(before.module_hash, changed.module_hash);
    assert_string_equal(before.state_digest, changed.state_digest);
    expect_ok(f->drv, SF_OP_LOAD, id, snap, NULL, false);
    info_at(f->sim, 1, &back);
    assert_string_equal(before.module_hash, back.module_hash);
}

/* ---- download ---- */

/* Offset of needle in hay, -1 when absent. */
static long offset_of(const char *hay, const char *needle)
{
    const char *at = strstr(hay, needle);

    return at == NULL ? -1 : (long)(at - hay);
}

/* Keys of metadata.json in icp's order (icp-cli.md 4). */
static void check_metadata_order(const char *text)
{
    static const char *const keys[] = {
        "\"source\"", "\"taken_at_timestamp\"", "\"wasm_module_size\"",
        "\"globals\"", "\"wasm_memory_size\"", "\"stable_memory_size\"",
        "\"wasm_chunk_store\"", "\"canister_version\"", "\"certified_data\"",
        "\"global_timer\"", "\"on_low_wasm_memory_hook_status\""};
    long prev = 0, off;
    size_t i;

    for (i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        off = offset_of(text, keys[i]);
        assert_true(off >= prev);
        prev = off;
    }
}

static uint64_t meta_u64(const cJSON *root, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);

    assert_non_null(v);
    return (uint64_t)v->valuedouble;
}

static void test_download_layout(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], hash[65];
    char digest[65], path[512], *meta;
    const char *dir;
    sf_sim_canister_info info;
    cJSON *root, *chunks, *e;
    sf_error err;
    size_t i;
    uint64_t total;
    sf_result r;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_canister_find(f->sim, id, &i, &err), SF_OK);
    info_at(f->sim, i, &info);
    dir = tmp_path(f, "snap");
    assert_int_equal(mkdir(dir, 0700), 0);
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);

    snprintf(path, sizeof path, "%s/.lock", dir);
    assert_int_equal(file_size(path), 0);
    snprintf(path, sizeof path, "%s/.download_progress.json", dir);
    assert_false(file_exists(path));
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    meta = read_text(path);
    check_metadata_order(meta);
    assert_int_equal(strncmp(meta, "{\n  \"source\": {\n    "
                     "\"taken_from_canister\": null\n  },\n", 52), 0);
    assert_non_null(strstr(meta, "\"globals\": [\n    {\n      \"i32\": "));
    assert_non_null(strstr(meta, "\"global_timer\": \"inactive\""));
    assert_int_equal(meta[strlen(meta) - 1], '}');
    assert_int_equal(sf_json_parse(meta, strlen(meta), &root, &err), SF_OK);

    /* Blob sizes agree with the metadata; the module is the module. */
    snprintf(path, sizeof path, "%s/wasm_module.bin", dir);
    assert_int_equal(file_size(path), meta_u64(root, "wasm_module_size"));
    assert_int_equal(sf_checksum_file(path, hash, &err), SF_OK);
    assert_string_equal(hash, info.module_hash);
    total = file_size(path);
    {
        char *mod = read_text(path);
        assert_memory_equal(mod, "\0asm\1\0\0\0", 8);
        free(mod);
    }
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_int_equal(file_size(path), meta_u64(root, "wasm_memory_size"));
    total += file_size(path);
    snprintf(path, sizeof path, "%s/stable_memory.bin", dir);
    assert_int_equal(file_size(path), meta_u64(root, "stable_memory_size"));
    total += file_size(path);
    memory_digest_of_dir(dir, digest);
    assert_string_equal(digest, info.state_digest);

    /* Chunk files are named by the SHA-256 of their bytes, which metadata
     * lists as 32-integer arrays. */
    snprintf(path, sizeof path, "%s/wasm_chunk_store", dir);
    assert_true(file_exists(path));
    chunks = cJSON_GetObjectItem(root, "wasm_chunk_store");
    cJSON_ArrayForEach(e, chunks) {
        cJSON *h = cJSON_GetObjectItem(e, "hash"), *b;
        char hex[65];
        size_t k = 0;
        assert_int_equal(cJSON_GetArraySize(h), 32);
        cJSON_ArrayForEach(b, h) {
            snprintf(hex + 2 * k, 3, "%02x", (unsigned)b->valuedouble);
            k++;
        }
        snprintf(path, sizeof path, "%s/wasm_chunk_store/%s.bin", dir, hex);
        assert_int_equal(sf_checksum_file(path, hash, &err), SF_OK);
        assert_string_equal(hash, hex);
        total += file_size(path);
    }
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
                                                            "certified_data")),
                     32);
    /* total_size_bytes = every byte downloaded. */
    run(f->drv, &r, SF_OP_LIST, id, NULL, NULL, false);
    assert_int_equal(r.snapshots[0].total_size_bytes, total);
    assert_int_equal(cJSON_GetObjectItem(root, "taken_at_timestamp")
                         ->valuedouble,
                     (double)r.snapshots[0].taken_at_timestamp);
    sf_result_free(&r);
    cJSON_Delete(root);
    free(meta);
}

static void chunky(sf_sim_config *c)
{
    c->chunk_max = 3;
    c->seed = 7;
}

static void test_download_has_chunks(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    size_t i, with_chunks = 0;
    char snap[SF_SNAPSHOT_ID_MAX], path[512];
    sf_result r;

    start_sim(f, chunky);
    for (i = 0; i < sf_sim_canister_count(f->sim); i++) {
        char *meta;
        info_at(f->sim, i, &info);
        expect_ok(f->drv, SF_OP_STOP, info.canister_id, NULL, NULL, false);
        run(f->drv, &r, SF_OP_CREATE, info.canister_id, NULL, NULL, false);
        memcpy(snap, r.snapshot.id, sizeof snap);
        sf_result_free(&r);
        snprintf(path, sizeof path, "%s/c%zu", f->root, i);
        expect_ok(f->drv, SF_OP_DOWNLOAD, info.canister_id, snap, path, false);
        snprintf(path, sizeof path, "%s/c%zu/metadata.json", f->root, i);
        meta = read_text(path);
        with_chunks += strstr(meta, "\"hash\"") != NULL;
        free(meta);
    }
    assert_true(with_chunks > 0);
}

static void empty_memory(sf_sim_config *c)
{
    c->heap_min = c->heap_max = 0;
    c->stable_min = c->stable_max = 0;
    c->chunk_max = 0;
}

static void test_download_empty_parts(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    const char *dir;
    DIR *d;
    struct dirent *e;
    int entries = 0;

    start_sim(f, empty_memory);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "fresh/nested"); /* created as icp does */
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_false(file_exists(path));
    snprintf(path, sizeof path, "%s/stable_memory.bin", dir);
    assert_int_equal(file_size(path), 0);
    snprintf(path, sizeof path, "%s/wasm_chunk_store", dir);
    d = opendir(path);
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        entries += e->d_name[0] != '.';
    closedir(d);
    assert_int_equal(entries, 0);
}

static void test_download_not_empty(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char msg[512];
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "busy");
    assert_int_equal(mkdir(dir, 0700), 0);
    /* Unrelated files do not count. */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    write_text(path, "x");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(msg, sizeof msg, "Directory %s is not empty. Use --resume to "
             "continue a previous download or choose an empty directory.",
             dir);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false,
                SF_FAIL_PERMANENT, "directory-not-empty", msg);
    /* Any one of the four files is enough. */
    dir = tmp_path(f, "busy2");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(path, sizeof path, "%s/stable_memory.bin", dir);
    write_text(path, "");
    snprintf(msg, sizeof msg, "Directory %s is not empty. Use --resume to "
             "continue a previous download or choose an empty directory.",
             dir);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false,
                SF_FAIL_PERMANENT, "directory-not-empty", msg);
}

static void test_download_resume(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char msg[512], before[65], after[65];
    const char *dir, *fresh;
    sf_error err;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    fresh = tmp_path(f, "fresh");
    snprintf(msg, sizeof msg, "Cannot resume: no existing download found in "
             "%s", fresh);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, snap, fresh, true,
                SF_FAIL_PERMANENT, "no-download-to-resume", msg);
    dir = tmp_path(f, "part");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    assert_int_equal(sf_checksum_dir(dir, before, &err), SF_OK);
    /* An interrupted download: blobs missing or short. */
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_int_equal(unlink(path), 0);
    snprintf(path, sizeof path, "%s/stable_memory.bin", dir);
    assert_int_equal(truncate(path, 10), 0);
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, true);
    assert_int_equal(sf_checksum_dir(dir, after, &err), SF_OK);
    assert_string_equal(before, after);
}

/* How many chunks a metadata.json lists. */
static size_t count_chunks_listed(const char *path)
{
    sf_snapshot_meta m;
    sf_error err;
    size_t n;

    assert_int_equal(sf_snapshot_meta_read_file(path, &m, &err), SF_OK);
    n = m.chunk_count;
    sf_snapshot_meta_free(&m);
    return n;
}

static void test_download_resume_mismatch(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char before[65], after[65];
    sf_sim_canister_info other;
    sf_result r;
    sf_error err;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "d");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    /* Resuming with another snapshot's id: as icp, the metadata on disk is
     * what is resumed, never checked against the snapshot (the engine
     * must), and chunk files that exist are skipped whatever they hold;
     * so the directory keeps the first snapshot's metadata. */
    info_at(f->sim, 2, &other);
    expect_ok(f->drv, SF_OP_STOP, other.canister_id, NULL, NULL, false);
    run(f->drv, &r, SF_OP_CREATE, other.canister_id, NULL, NULL, false);
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    assert_int_equal(sf_checksum_file(path, before, &err), SF_OK);
    expect_ok(f->drv, SF_OP_DOWNLOAD, other.canister_id, r.snapshot.id, dir,
              true);
    assert_int_equal(sf_checksum_file(path, after, &err), SF_OK);
    assert_string_equal(before, after);
    /* a listed chunk that is missing and not in that snapshot: refused */
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -f '%s'/wasm_chunk_store/*.bin", dir);
        assert_int_equal(system(cmd), 0);
    }
    if (count_chunks_listed(path) > 0)
        expect_fail(f->drv, SF_OP_DOWNLOAD, other.canister_id, r.snapshot.id,
                    dir, true, SF_FAIL_PERMANENT, "snapshot-chunk-not-found",
                    NULL);
    sf_result_free(&r);
    /* A broken metadata.json cannot be resumed. */
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    write_text(path, "{\"source\": null}");
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, snap, dir, true,
                SF_FAIL_PERMANENT, "invalid-snapshot-metadata", NULL);
}

static void test_download_refusals(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[256];
    char path[512];

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    snprintf(msg, sizeof msg, "Could not find the snapshot ID 0abc for "
             "canister %s.", id);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, "0abc", tmp_path(f, "a"), false,
                SF_FAIL_PERMANENT, "snapshot-not-found", msg);
    expect_fail(f->drv, SF_OP_DOWNLOAD, "aaaaa-aa", snap, tmp_path(f, "b"),
                false, SF_FAIL_PERMANENT, "canister-not-found",
                "Canister aaaaa-aa was not found.");
    /* Like icp, the lock file and chunk directory exist before the
     * replica is asked. */
    snprintf(path, sizeof path, "%s/b/.lock", f->root);
    assert_true(file_exists(path));
    snprintf(path, sizeof path, "%s/b/wasm_chunk_store", f->root);
    assert_true(file_exists(path));
    snprintf(path, sizeof path, "%s/b/metadata.json", f->root);
    assert_false(file_exists(path));
}

static void test_download_symlinked_chunk_dir(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], link[512];
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "trap");
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(tmp_path(f, "elsewhere"), 0700), 0);
    snprintf(link, sizeof link, "%s/wasm_chunk_store", dir);
    assert_int_equal(symlink(tmp_path(f, "elsewhere"), link), 0);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false,
                SF_FAIL_PERMANENT, "io", NULL);
}

static void test_download_deterministic(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    char id2[SF_PRINCIPAL_TEXT_MAX], snap2[SF_SNAPSHOT_ID_MAX];
    char a[65], b[65], c[65];
    fixture g, h;
    sf_error err;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, tmp_path(f, "one"), false);
    memset(&g, 0, sizeof g);
    memcpy(g.root, f->root, sizeof g.root);
    start_sim(&g, NULL);
    stopped_with_snapshot(&g, id2, snap2);
    assert_string_equal(id, id2);
    assert_string_equal(snap, snap2);
    expect_ok(g.drv, SF_OP_DOWNLOAD, id2, snap2, tmp_path(f, "two"), false);
    assert_int_equal(sf_checksum_dir(tmp_path(f, "one"), a, &err), SF_OK);
    assert_int_equal(sf_checksum_dir(tmp_path(f, "two"), b, &err), SF_OK);
    assert_string_equal(a, b);
    memset(&h, 0, sizeof h);
    start_sim(&h, seed2);
    stopped_with_snapshot(&h, id2, snap2);
    expect_ok(h.drv, SF_OP_DOWNLOAD, id2, snap2, tmp_path(f, "three"), false);
    assert_int_equal(sf_checksum_dir(tmp_path(f, "three"), c, &err), SF_OK);
    assert_string_not_equal(a, c);
    sf_driver_destroy(g.drv);
    sf_sim_free(g.sim);
    sf_driver_destroy(h.drv);
    sf_sim_free(h.sim);
}

static void big_heap(sf_sim_config *c)
{
    c->canister_count = 2;
    c->heap_min = c->heap_max = (uint64_t)64 << 20;
    c->stable_min = c->stable_max = 3u << 20;
    c->bandwidth = 0;
}

static void test_download_large(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char digest[65], want[65];
    sf_error err;
    const char *dir;

    start_sim(f, big_heap);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "big");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_int_equal(file_size(path), (uint64_t)64 << 20);
    memory_digest_of_dir(dir, digest);
    assert_int_equal(sf_sim_state_digest(f->sim, id, want, &err), SF_OK);
    assert_string_equal(digest, want);
}

/* ---- upload ---- */

static void test_upload_then_load(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char original[65], now[65], a[65], b[65], *meta;
    sf_result r;
    sf_error err;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, original, &err), SF_OK);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    /* The snapshot is gone from the IC and the canister moved on. */
    expect_ok(f->drv, SF_OP_DELETE, id, snap, NULL, false);
    assert_int_equal(sf_sim_mutate(f->sim, id, &err), SF_OK);
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
    /* Upload needs no stopped canister and returns a new id. */
    run(f->drv, &r, SF_OP_UPLOAD, id, NULL, dir, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_string_not_equal(r.snapshot.id, snap);
    assert_int_equal(strlen(r.snapshot.id), 36);
    snprintf(path, sizeof path, "%s/.upload_progress.json", dir);
    assert_false(file_exists(path));
    expect_ok(f->drv, SF_OP_STOP, id, NULL, NULL, false);
    expect_ok(f->drv, SF_OP_LOAD, id, r.snapshot.id, NULL, false);
    assert_int_equal(sf_sim_state_digest(f->sim, id, now, &err), SF_OK);
    assert_string_equal(original, now);
    /* Recognised content downloads again, byte for byte, except that it is
     * now an uploaded snapshot with its own timestamp. */
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, r.snapshot.id, tmp_path(f, "again"),
              false);
    snprintf(path, sizeof path, "%s/again/metadata.json", f->root);
    meta = read_text(path);
    assert_non_null(strstr(meta, "\"metadata_upload\": null"));
    free(meta);
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_int_equal(sf_checksum_file(path, a, &err), SF_OK);
    snprintf(path, sizeof path, "%s/again/wasm_memory.bin", f->root);
    assert_int_equal(sf_checksum_file(path, b, &err), SF_OK);
    assert_string_equal(a, b);
    sf_result_free(&r);
}

static void test_upload_other_canister(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    char want[65], got[65];
    sf_sim_canister_info target;
    sf_result r;
    sf_error err;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, want, &err), SF_OK);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    info_at(f->sim, 3, &target);
    assert_string_not_equal(target.state_digest, want);
    run(f->drv, &r, SF_OP_UPLOAD, target.canister_id, NULL, dir, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    expect_ok(f->drv, SF_OP_STOP, target.canister_id, NULL, NULL, false);
    expect_ok(f->drv, SF_OP_LOAD, target.canister_id, r.snapshot.id, NULL,
              false);
    assert_int_equal(sf_sim_state_digest(f->sim, target.canister_id, got,
                                         &err), SF_OK);
    assert_string_equal(want, got);
    sf_result_free(&r);
}

static void test_upload_corrupted(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char original[65], corrupt[65], now[65], msg[512];
    sf_result r;
    sf_error err;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, original, &err), SF_OK);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    flip_byte(path, 100);
    memory_digest_of_dir(dir, corrupt);
    run(f->drv, &r, SF_OP_UPLOAD, id, NULL, dir, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    expect_ok(f->drv, SF_OP_LOAD, id, r.snapshot.id, NULL, false);
    assert_int_equal(sf_sim_state_digest(f->sim, id, now, &err), SF_OK);
    assert_string_not_equal(now, original);
    assert_string_equal(now, corrupt);
    /* Opaque content cannot be downloaded. */
    snprintf(msg, sizeof msg, "Snapshot %s of canister %s holds uploaded "
             "bytes the simulator did not generate (memory digest %s); it "
             "cannot be downloaded", r.snapshot.id, id, corrupt);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, r.snapshot.id,
                tmp_path(f, "nope"), false, SF_FAIL_PERMANENT,
                "opaque-snapshot", msg);
    sf_result_free(&r);
    /* A snapshot of the now-opaque canister is opaque too. */
    run(f->drv, &r, SF_OP_CREATE, id, NULL, NULL, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, r.snapshot.id,
                tmp_path(f, "nope2"), false, SF_FAIL_PERMANENT,
                "opaque-snapshot", NULL);
    sf_result_free(&r);
    /* Mutating gives it generated content again. */
    assert_int_equal(sf_sim_mutate(f->sim, id, &err), SF_OK);
    assert_int_equal(sf_sim_state_digest(f->sim, id, now, &err), SF_OK);
    assert_string_not_equal(now, corrupt);
}

static void test_upload_corrupted_module(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char original[65], now[65], hash[65];
    sf_sim_canister_info info;
    sf_result r;
    sf_error err;
    size_t i;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, original, &err), SF_OK);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(path, sizeof path, "%s/wasm_module.bin", dir);
    flip_byte(path, 20);
    assert_int_equal(sf_checksum_file(path, hash, &err), SF_OK);
    run(f->drv, &r, SF_OP_UPLOAD, id, NULL, dir, false);
    expect_ok(f->drv, SF_OP_LOAD, id, r.snapshot.id, NULL, false);
    assert_int_equal(sf_sim_canister_find(f->sim, id, &i, &err), SF_OK);
    info_at(f->sim, i, &info);
    /* Memory intact, module hash = the hash of the bytes uploaded. */
    assert_int_equal(sf_sim_state_digest(f->sim, id, now, &err), SF_OK);
    assert_string_equal(now, original);
    assert_string_equal(info.module_hash, hash);
    expect_fail(f->drv, SF_OP_DOWNLOAD, id, r.snapshot.id, tmp_path(f, "x"),
                false, SF_FAIL_PERMANENT, "opaque-snapshot", NULL);
    sf_result_free(&r);
}

static void test_upload_refusals(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char msg[512], *meta, *bad;
    const char *dir, *empty;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    empty = tmp_path(f, "empty");
    snprintf(msg, sizeof msg, "Missing required file: %s/metadata.json",
             empty);
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, empty, false,
                SF_FAIL_PERMANENT, "missing-file", msg);
    snprintf(path, sizeof path, "%s/.lock", empty); /* icp made it */
    assert_true(file_exists(path));
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    expect_fail(f->drv, SF_OP_UPLOAD, "aaaaa-aa", NULL, dir, false,
                SF_FAIL_PERMANENT, "canister-not-found", NULL);
    snprintf(msg, sizeof msg, "Cannot resume: no upload progress file found "
             "in %s", dir);
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, true, SF_FAIL_PERMANENT,
                "no-upload-to-resume", msg);

    /* A short heap file. */
    snprintf(path, sizeof path, "%s/wasm_memory.bin", dir);
    assert_int_equal(truncate(path, 5), 0);
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "invalid-snapshot-data", NULL);
    /* A missing module file. */
    snprintf(path, sizeof path, "%s/wasm_module.bin", dir);
    assert_int_equal(unlink(path), 0);
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "missing-file", NULL);

    /* Metadata problems. */
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    meta = read_text(path);
    {
        /* The first global becomes null (an unknown variant). */
        char *obj = strchr(strstr(meta, "\"globals\": ["), '{');
        char *close = strchr(obj, '}');
        bad = malloc(strlen(meta) + 8);
        assert_non_null(bad);
        snprintf(bad, strlen(meta) + 8, "%.*snull%s", (int)(obj - meta), meta,
                 close + 1);
        write_text(path, bad);
    }
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "invalid-snapshot-metadata",
                "Invalid snapshot metadata: snapshot metadata contains "
                "unparseable globals");
    write_text(path, "{\"source\": null, \"taken_at_timestamp\": 1}");
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "invalid-snapshot-metadata", NULL);
    write_text(path, "{not json");
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "invalid-snapshot-metadata", NULL);
    free(bad);
    free(meta);
}

static void test_upload_limit(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    const char *dir;

    start_sim(f, limit_one);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, false, SF_FAIL_PERMANENT,
                "snapshot-limit", NULL);
}

static void test_upload_resume(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    char text[512];
    sf_result r;
    const char *dir;

    start_sim(f, NULL);
    stopped_with_snapshot(f, id, snap);
    dir = tmp_path(f, "bk");
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    run(f->drv, &r, SF_OP_UPLOAD, id, NULL, dir, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    /* A run killed after the snapshot existed but before the progress
     * file went: resuming reports the same snapshot. */
    snprintf(path, sizeof path, "%s/.upload_progress.json", dir);
    snprintf(text, sizeof text, "{\"snapshot_id\":\"%s\",\"metadata_uploaded"
             "\":true}", r.snapshot.id);
    write_text(path, text);
    {
        sf_result again;
        run(f->drv, &again, SF_OP_UPLOAD, id, NULL, dir, true);
        assert_int_equal(again.fail, SF_FAIL_NONE);
        assert_string_equal(again.snapshot.id, r.snapshot.id);
        sf_result_free(&again);
    }
    assert_false(file_exists(path));
    /* A progress file naming a snapshot the IC never got. */
    write_text(path, "{\"snapshot_id\":\"00ff\"}");
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, true, SF_FAIL_PERMANENT,
                "snapshot-not-found", NULL);
    write_text(path, "[]");
    expect_fail(f->drv, SF_OP_UPLOAD, id, NULL, dir, true, SF_FAIL_PERMANENT,
                "invalid-upload-progress", NULL);
    sf_result_free(&r);
}

/* ---- virtual time ---- */

static void sized(sf_sim_config *c)
{
    c->canister_count = 3;
    c->max_fanout = 2;
    c->bandwidth = 1000; /* bytes per ms */
}

static void test_downloads_complete_by_size(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info a, b, small, large;
    char snap_a[SF_SNAPSHOT_ID_MAX], snap_b[SF_SNAPSHOT_ID_MAX];
    uint64_t ta, tb, got, start, size_a, size_b;
    sf_snapshot_info sa, sb;
    sf_result r;
    sf_error err;

    start_sim(f, sized);
    info_at(f->sim, 1, &a);
    info_at(f->sim, 2, &b);
    expect_ok(f->drv, SF_OP_STOP, a.canister_id, NULL, NULL, false);
    expect_ok(f->drv, SF_OP_STOP, b.canister_id, NULL, NULL, false);
    run(f->drv, &r, SF_OP_CREATE, a.canister_id, NULL, NULL, false);
    memcpy(snap_a, r.snapshot.id, sizeof snap_a);
    sf_result_free(&r);
    run(f->drv, &r, SF_OP_CREATE, b.canister_id, NULL, NULL, false);
    memcpy(snap_b, r.snapshot.id, sizeof snap_b);
    sf_result_free(&r);
    assert_int_equal(sf_sim_snapshot_at(f->sim, 1, 0, &sa, &err), SF_OK);
    assert_int_equal(sf_sim_snapshot_at(f->sim, 2, 0, &sb, &err), SF_OK);
    size_a = sa.total_size_bytes;
    size_b = sb.total_size_bytes;
    assert_true(size_a != size_b);
    small = size_a < size_b ? a : b;
    large = size_a < size_b ? b : a;
    start = sf_sim_now_ms(f->sim);
    submit(f->drv, SF_OP_DOWNLOAD, a.canister_id, snap_a, tmp_path(f, "a"),
           &ta);
    submit(f->drv, SF_OP_DOWNLOAD, b.canister_id, snap_b, tmp_path(f, "b"),
           &tb);
    assert_int_equal(sf_sim_now_ms(f->sim), start); /* submit takes no time */
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    assert_int_equal(got, strcmp(small.canister_id, a.canister_id) == 0 ? ta
                                                                        : tb);
    assert_int_equal(sf_sim_now_ms(f->sim),
                     start + 20 + ((size_a < size_b ? size_a : size_b) + 999) /
                                      1000);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
    assert_int_equal(got, strcmp(large.canister_id, a.canister_id) == 0 ? ta
                                                                        : tb);
    assert_int_equal(sf_sim_now_ms(f->sim),
                     start + 20 + ((size_a < size_b ? size_b : size_a) + 999) /
                                      1000);
    sf_result_free(&r);
}

static void jittery(sf_sim_config *c)
{
    c->jitter_ms = 40;
}

/* The same operations on two simulators from the same seed. */
static void scripted_run(sf_sim *sim, sf_driver *d, const char *root,
                         uint64_t order[8])
{
    sf_sim_canister_info info;
    uint64_t t;
    sf_result r;
    sf_error err;
    size_t i;

    (void)root;
    for (i = 0; i < 8; i++) {
        info_at(sim, i, &info);
        submit(d, SF_OP_STATUS, info.canister_id, NULL, NULL, &t);
    }
    for (i = 0; i < 8; i++) {
        assert_int_equal(sf_driver_wait(d, &order[i], &r, &err), SF_OK);
        sf_result_free(&r);
    }
}

static void test_jitter_deterministic(void **state)
{
    fixture *f = *state;
    fixture g;
    uint64_t a[8], b[8];
    size_t i;
    bool reordered = false;

    start_sim(f, jittery);
    memset(&g, 0, sizeof g);
    start_sim(&g, jittery);
    scripted_run(f->sim, f->drv, f->root, a);
    scripted_run(g.sim, g.drv, f->root, b);
    assert_memory_equal(a, b, sizeof a);
    assert_int_equal(sf_sim_now_ms(f->sim), sf_sim_now_ms(g.sim));
    for (i = 1; i < 8; i++)
        reordered |= a[i] < a[i - 1];
    assert_true(reordered); /* jitter does reorder completions */
    sf_driver_destroy(g.drv);
    sf_sim_free(g.sim);
}

/* ---- state file ---- */

/* A little history: snapshots, an upload of corrupted bytes, changes. */
static void some_history(fixture *f)
{
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], path[512];
    sf_error err;
    sf_result r;
    const char *dir = tmp_path(f, "hist");

    stopped_with_snapshot(f, id, snap);
    expect_ok(f->drv, SF_OP_DOWNLOAD, id, snap, dir, false);
    snprintf(path, sizeof path, "%s/stable_memory.bin", dir);
    flip_byte(path, 3);
    run(f->drv, &r, SF_OP_UPLOAD, id, NULL, dir, false);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_int_equal(sf_sim_mutate(f->sim, id, &err), SF_OK);
    assert_int_equal(sf_sim_topology_change(f->sim, "add-child", &err), SF_OK);
    assert_int_equal(sf_sim_topology_change(f->sim, "module-hash", &err),
                     SF_OK);
    expect_ok(f->drv, SF_OP_START, id, NULL, NULL, false);
}

static void test_state_round_trip(void **state)
{
    fixture *f = *state;
    char *a, *b, *sa, *sb;
    sf_sim *loaded;
    sf_error err;

    start_sim(f, NULL);
    some_history(f);
    a = state_json(f->sim);
    assert_int_equal(sf_sim_load_json(a, strlen(a), &loaded, &err), SF_OK);
    b = state_json(loaded);
    assert_string_equal(a, b);
    sa = show_json(f->sim);
    sb = show_json(loaded);
    assert_string_equal(sa, sb);
    free(a);
    free(b);
    free(sa);
    free(sb);
    sf_sim_free(loaded);
}

/* The state stands for the IC: saved, loaded and locked on the real file
 * system whatever storage the process installed, so a simulated disk's
 * crash never takes it back; its lock refuses a second holder, a planted
 * FIFO, a planted directory and a missing directory, each with its own
 * message. */
static void test_state_on_the_real_disk_whatever_storage(void **state)
{
    fixture *f = *state;
    const char *file = tmp_path(f, "outside.json");
    char lock_path[300], msg[700];
    sf_simdisk *disk;
    sf_storage_kind kind;
    sf_sim_lock a = {NULL}, b = {NULL};
    sf_sim *loaded;
    sf_error err;
    char *x, *y;

    start_sim(f, NULL);
    assert_int_equal(sf_simdisk_new(&disk, NULL, &err), SF_OK);
    sf_fs_set_storage(sf_simdisk_storage(disk));
    assert_int_equal(sf_sim_save(f->sim, file, &err), SF_OK);
    assert_true(file_exists(file));
    assert_int_equal(sf_storage_kind_of(sf_simdisk_storage(disk), file, &kind,
                                        &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_sim_load(file, &loaded, &err), SF_OK);
    x = state_json(f->sim);
    y = state_json(loaded);
    assert_string_equal(x, y);
    free(x);
    free(y);
    sf_sim_free(loaded);

    assert_int_equal(sf_sim_lock_acquire(file, &a, &err), SF_OK);
    snprintf(lock_path, sizeof lock_path, "%s.lock", file);
    assert_true(file_exists(lock_path));
    assert_int_equal(sf_sim_lock_acquire(file, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "sim-state-locked");
    snprintf(msg, sizeof msg, "simulator state %s is in use by another "
             "running snapfleet (lock %s)", file, lock_path);
    assert_string_equal(err.message, msg);
    assert_null(b.held);
    sf_sim_lock_release(&a);
    assert_null(a.held);
    sf_sim_lock_release(&a); /* twice is harmless */
    assert_int_equal(sf_sim_lock_acquire(file, &b, &err), SF_OK);
    sf_sim_lock_release(&b);

    file = tmp_path(f, "planted.json");
    snprintf(lock_path, sizeof lock_path, "%s.lock", file);
    assert_int_equal(mkfifo(lock_path, 0600), 0);
    assert_int_equal(sf_sim_lock_acquire(file, &a, &err), SF_ERR);
    snprintf(msg, sizeof msg, "lock file %s is not a regular file", lock_path);
    assert_string_equal(err.message, msg);
    file = tmp_path(f, "dir.json");
    snprintf(lock_path, sizeof lock_path, "%s.lock", file);
    assert_int_equal(mkdir(lock_path, 0700), 0);
    assert_int_equal(sf_sim_lock_acquire(file, &a, &err), SF_ERR);
    snprintf(msg, sizeof msg, "cannot open lock file %s: %s", lock_path,
             strerror(EISDIR));
    assert_string_equal(err.message, msg);

    file = tmp_path(f, "no/such/dir.json");
    assert_int_equal(sf_sim_lock_acquire(file, &a, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    assert_non_null(strstr(err.message, "cannot open lock file "));
    sf_fs_set_storage(NULL);
    sf_simdisk_free(disk);
}

static void test_state_file_continues(void **state)
{
    fixture *f = *state;
    const char *file = tmp_path(f, "state.json");
    sf_sim *loaded;
    sf_driver *d2;
    sf_error err;
    char *a, *b;
    int k;

    start_sim(f, NULL);
    some_history(f);
    assert_int_equal(sf_sim_save(f->sim, file, &err), SF_OK);
    assert_int_equal(sf_sim_load(file, &loaded, &err), SF_OK);
    assert_int_equal(sf_sim_driver_new(loaded, NULL, &d2, &err), SF_OK);
    /* The same further steps on both give the same states. */
    for (k = 0; k < 2; k++) {
        sf_sim *s = k == 0 ? f->sim : loaded;
        sf_driver *d = k == 0 ? f->drv : d2;
        sf_sim_canister_info info;
        info_at(s, 2, &info);
        expect_ok(d, SF_OP_STOP, info.canister_id, NULL, NULL, false);
        expect_ok(d, SF_OP_CREATE, info.canister_id, NULL, NULL, false);
        assert_int_equal(sf_sim_topology_change(s, "reparent", &err), SF_OK);
        assert_int_equal(sf_sim_mutate(s, info.canister_id, &err), SF_OK);
    }
    a = state_json(f->sim);
    b = state_json(loaded);
    assert_string_equal(a, b);
    free(a);
    free(b);
    sf_driver_destroy(d2);
    sf_sim_free(loaded);
}

static void test_driver_saves_state(void **state)
{
    fixture *f = *state;
    const char *file = tmp_path(f, "ic.json");
    sf_sim_canister_info info;
    sf_driver *d;
    sf_sim *loaded;
    sf_error err;
    uint64_t t;
    char *mem, *disk;
    size_t i;

    start_sim(f, NULL);
    assert_int_equal(sf_sim_driver_new(f->sim, file, &d, &err), SF_OK);
    info_at(f->sim, 1, &info);
    /* The stop's first effect (stopping) is on disk at once. */
    submit(d, SF_OP_STOP, info.canister_id, NULL, NULL, &t);
    assert_int_equal(sf_sim_load(file, &loaded, &err), SF_OK);
    assert_int_equal(sf_sim_canister_find(loaded, info.canister_id, &i, &err),
                     SF_OK);
    info_at(loaded, i, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPING);
    sf_sim_free(loaded);
    {
        sf_result r;
        assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
        sf_result_free(&r);
    }
    expect_ok(d, SF_OP_CREATE, info.canister_id, NULL, NULL, false);
    mem = state_json(f->sim);
    disk = read_text(file);
    assert_string_equal(mem, disk);
    free(mem);
    free(disk);
    sf_driver_destroy(d);
}

/* The state file is what survives a killed process: effects applied
 * before the kill are on the "IC" for the next process. */
static void test_effects_survive_kill(void **state)
{
    fixture *f = *state;
    const char *file = tmp_path(f, "ic.json");
    sf_sim_canister_info info;
    sf_sim *loaded;
    sf_error err;
    size_t i;
    pid_t pid;
    int status;

    start_sim(f, NULL);
    info_at(f->sim, 1, &info);
    assert_int_equal(sf_sim_save(f->sim, file, &err), SF_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sf_sim *sim;
        sf_driver *d;
        sf_result r;
        sf_op op;

        if (sf_sim_load(file, &sim, &err) != SF_OK ||
            sf_sim_driver_new(sim, file, &d, &err) != SF_OK)
            _exit(2);
        sf_op_init(&op, SF_OP_STOP, info.canister_id, NULL, NULL, &err);
        sf_driver_run(d, &op, &r, &err);
        sf_op_init(&op, SF_OP_CREATE, info.canister_id, NULL, NULL, &err);
        sf_driver_run(d, &op, &r, &err);
        /* Killed before it could record anything of its own. */
        raise(SIGKILL);
        _exit(3);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    assert_int_equal(sf_sim_load(file, &loaded, &err), SF_OK);
    assert_int_equal(sf_sim_canister_find(loaded, info.canister_id, &i, &err),
                     SF_OK);
    info_at(loaded, i, &info);
    assert_int_equal(info.status, SF_STATUS_STOPPED);
    assert_int_equal(info.snapshot_count, 1);
    assert_true(sf_sim_now_ms(loaded) > SF_SIM_EPOCH_MS);
    sf_sim_free(loaded);
}

static void test_state_load_refusals(void **state)
{
    fixture *f = *state;
    char *good, *bad, *at;
    sf_sim *s;
    sf_error err;

    start_sim(f, NULL);
    good = state_json(f->sim);

    assert_int_equal(sf_sim_load_json("{", 1, &s, &err), SF_ERR);
    assert_string_equal(err.kind, "json-syntax");
    assert_null(s);

    bad = strdup(good);
    at = strstr(bad, "\"version\": 1");
    at[11] = '2';
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "unsupported-sim-version");
    free(bad);

    bad = strdup(good);
    at = strstr(bad, "\"clock_ms\"");
    memcpy(at, "\"clock_xx\"", 10);
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "json-schema");
    assert_string_equal(err.field, "clock_ms");
    free(bad);

    bad = strdup(good);
    at = strstr(bad, "\"status\": \"running\"");
    memcpy(at + 11, "Running", 7);
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "json-schema");
    assert_string_equal(err.field, "canisters[0].status");
    free(bad);

    /* Two roots. */
    bad = strdup(good);
    at = strstr(strstr(bad, "\"canisters\""), "\"parent_canister_id\": \"");
    {
        char *end = strchr(at + 23, '"');
        size_t n = (size_t)(end + 1 - (at + 22));
        memset(at + 22, ' ', n);
        memcpy(at + 22, "null", 4);
    }
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-sim-state");
    free(bad);

    /* A bad config. */
    bad = strdup(good);
    at = strstr(bad, "\"snapshot_limit\": 10");
    memcpy(at + 18, " 0", 2);
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-sim-state");
    assert_string_equal(err.field, "config.snapshot_limit");
    free(bad);

    assert_int_equal(sf_sim_load(tmp_path(f, "missing.json"), &s, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "io");
    free(good);
}

/* ---- topology ---- */

static void topology_hash(const sf_sim *sim, char out[65])
{
    sf_registry reg;
    sf_target *targets;
    size_t n;
    sf_error err;

    assert_int_equal(sf_sim_registry(sim, &reg, &err), SF_OK);
    assert_int_equal(sf_targets_from_registry(&reg, sf_sim_root_id(sim), true,
                                              &targets, &n, &err), SF_OK);
    assert_int_equal(n, reg.count);
    assert_int_equal(sf_targets_topology_hash(sf_sim_root_id(sim), targets, n,
                                              out, &err), SF_OK);
    sf_targets_free(targets, n);
    sf_registry_free(&reg);
}

static void test_topology_changes(void **state)
{
    fixture *f = *state;
    static const char *const kinds[] = {"add-child", "remove-child",
                                        "reparent", "module-hash"};
    char before[65], after[65];
    sf_error err;
    size_t k, n;

    start_sim(f, cfg_big_tree);
    for (k = 0; k < 4; k++) {
        n = sf_sim_canister_count(f->sim);
        topology_hash(f->sim, before);
        assert_int_equal(sf_sim_topology_change(f->sim, kinds[k], &err),
                         SF_OK);
        topology_hash(f->sim, after);
        assert_string_not_equal(before, after);
        if (k == 0)
            assert_int_equal(sf_sim_canister_count(f->sim), n + 1);
        else if (k == 1)
            assert_int_equal(sf_sim_canister_count(f->sim), n - 1);
        else
            assert_int_equal(sf_sim_canister_count(f->sim), n);
        /* The root stays the root, first in tree order. */
        {
            sf_sim_canister_info info;
            info_at(f->sim, 0, &info);
            assert_string_equal(info.role, "root");
        }
    }
    assert_int_equal(sf_sim_topology_change(f->sim, "explode", &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
}

static void one_canister(sf_sim_config *c) { c->canister_count = 1; }

static void test_topology_impossible(void **state)
{
    fixture *f = *state;
    sf_error err;

    start_sim(f, one_canister);
    assert_int_equal(sf_sim_topology_change(f->sim, "remove-child", &err),
                     SF_ERR);
    assert_string_equal(err.kind, "topology-change-impossible");
    assert_int_equal(sf_sim_topology_change(f->sim, "reparent", &err),
                     SF_ERR);
    assert_string_equal(err.kind, "topology-change-impossible");
    assert_int_equal(sf_sim_topology_change(f->sim, "module-hash", &err),
                     SF_ERR);
    assert_string_equal(err.kind, "topology-change-impossible");
    assert_int_equal(sf_sim_topology_change(f->sim, "add-child", &err), SF_OK);
    assert_int_equal(sf_sim_canister_count(f->sim), 2);
    assert_int_equal(sf_sim_topology_change(f->sim, "reparent", &err),
                     SF_ERR);
    assert_string_equal(err.kind, "topology-change-impossible");
    assert_int_equal(sf_sim_topology_change(f->sim, "remove-child", &err),
                     SF_OK);
    assert_int_equal(sf_sim_canister_count(f->sim), 1);
}

static void test_removed_canister_ops(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    sf_error err;
    size_t i;
    char msg[256];

    start_sim(f, two_canisters);
    info_at(f->sim, 1, &info);
    assert_int_equal(sf_sim_topology_change(f->sim, "remove-child", &err),
                     SF_OK);
    assert_int_equal(sf_sim_canister_find(f->sim, info.canister_id, &i, &err),
                     SF_ERR);
    snprintf(msg, sizeof msg, "Canister %s was not found.", info.canister_id);
    expect_fail(f->drv, SF_OP_STATUS, info.canister_id, NULL, NULL, false,
                SF_FAIL_PERMANENT, "canister-not-found", msg);
}

static void test_mutate(void **state)
{
    fixture *f = *state;
    sf_sim_canister_info info;
    char a[65], b[65], c[65];
    sf_error err;

    start_sim(f, NULL);
    info_at(f->sim, 4, &info);
    assert_int_equal(sf_sim_state_digest(f->sim, info.canister_id, a, &err),
                     SF_OK);
    assert_int_equal(sf_sim_mutate(f->sim, info.canister_id, &err), SF_OK);
    assert_int_equal(sf_sim_state_digest(f->sim, info.canister_id, b, &err),
                     SF_OK);
    assert_int_equal(sf_sim_mutate(f->sim, info.canister_id, &err), SF_OK);
    assert_int_equal(sf_sim_state_digest(f->sim, info.canister_id, c, &err),
                     SF_OK);
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
    assert_string_not_equal(a, c);
    assert_int_equal(sf_sim_mutate(f->sim, "aaaaa-aa", &err), SF_ERR);
    assert_string_equal(err.kind, "canister-not-found");
}

/* ---- render ---- */

static void expect_render(sf_driver *d, sf_op_kind k, const char *id,
                          const char *snap, const char *path, bool resume,
                          const char *want)
{
    sf_op op;
    sf_buf b;
    sf_error err;

    assert_int_equal(sf_op_init(&op, k, id, snap, path, &err), SF_OK);
    op.resume = resume;
    sf_buf_init(&b);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(b.data, want);
    sf_buf_free(&b);
}

static void test_render(void **state)
{
    fixture *f = *state;
    const char *id = "ryjl3-tyaaa-aaaaa-aaaba-cai";

    start_sim(f, NULL);
    expect_render(f->drv, SF_OP_REGISTRY, id, NULL, NULL, false,
                  "icp canister call ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "canic_subnet_registry '()' --query --json");
    expect_render(f->drv, SF_OP_STATUS, id, NULL, NULL, false,
                  "icp canister status ryjl3-tyaaa-aaaaa-aaaba-cai --json");
    expect_render(f->drv, SF_OP_STOP, id, NULL, NULL, false,
                  "icp canister stop ryjl3-tyaaa-aaaaa-aaaba-cai");
    expect_render(f->drv, SF_OP_START, id, NULL, NULL, false,
                  "icp canister start ryjl3-tyaaa-aaaaa-aaaba-cai");
    expect_render(f->drv, SF_OP_CREATE, id, NULL, NULL, false,
                  "icp canister snapshot create ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "--json");
    expect_render(f->drv, SF_OP_LIST, id, NULL, NULL, false,
                  "icp canister snapshot list ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "--json");
    expect_render(f->drv, SF_OP_DOWNLOAD, id, "00ff", "/bk/a b", true,
                  "icp canister snapshot download ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "00ff --output '/bk/a b' --resume");
    expect_render(f->drv, SF_OP_UPLOAD, id, NULL, "/bk/x", false,
                  "icp canister snapshot upload ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "--input /bk/x --json");
    expect_render(f->drv, SF_OP_LOAD, id, "00ff", NULL, false,
                  "icp canister snapshot restore ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "00ff");
    expect_render(f->drv, SF_OP_DELETE, id, "00ff", NULL, false,
                  "icp canister snapshot delete ryjl3-tyaaa-aaaaa-aaaba-cai "
                  "00ff");
    /* Rendering runs nothing. */
    assert_int_equal(sf_driver_in_flight(f->drv), 0);
    assert_int_equal(sf_sim_now_ms(f->sim), SF_SIM_EPOCH_MS);
}

/* Same seed, same operations: the same state, byte for byte. */
static void test_same_ops_same_state(void **state)
{
    fixture *f = *state;
    fixture g;
    char *a, *b;

    start_sim(f, NULL);
    memset(&g, 0, sizeof g);
    memcpy(g.root, f->root, sizeof g.root);
    start_sim(&g, NULL);
    some_history(f);
    /* some_history writes into f->root/hist; g gets its own copy. */
    {
        char saved[64];
        memcpy(saved, g.root, sizeof saved);
        if (snprintf(g.root, sizeof g.root, "%s/g", f->root) >=
            (int)sizeof g.root)
            fail();
        assert_int_equal(mkdir(g.root, 0700), 0);
        some_history(&g);
        memcpy(g.root, saved, sizeof saved);
    }
    a = state_json(f->sim);
    b = state_json(g.sim);
    assert_string_equal(a, b);
    free(a);
    free(b);
    sf_driver_destroy(g.drv);
    sf_sim_free(g.sim);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_refusals),
        cmocka_unit_test(test_shape_choice),
        cmocka_unit_test(test_shape_ten_thousand),
        T(test_tree_shape),
        T(test_halt_changes_nothing),
        T(test_same_role_same_module),
        T(test_determinism_same_seed),
        T(test_determinism_other_seed),
        T(test_stopped_share),
        T(test_show_json_shape),
        T(test_show_text),
        T(test_accessor_ranges),
        T(test_registry_op),
        T(test_registry_refusals),
        T(test_registry_json),
        T(test_status_op),
        T(test_stop_start),
        T(test_status_sees_stopping),
        T(test_start_cancels_stop),
        T(test_stop_after_start_in_flight),
        T(test_create_while_stopping),
        T(test_clock),
        T(test_settle_when_due),
        T(test_set_status),
        T(test_create_refused_running),
        T(test_create_shape),
        T(test_create_limit),
        T(test_list_and_delete),
        T(test_load_restores_state),
        T(test_load_refusals),
        T(test_load_restores_module),
        T(test_download_layout),
        T(test_download_has_chunks),
        T(test_download_empty_parts),
        T(test_download_not_empty),
        T(test_download_resume),
        T(test_download_resume_mismatch),
        T(test_download_refusals),
        T(test_download_symlinked_chunk_dir),
        T(test_download_deterministic),
        T(test_download_large),
        T(test_upload_then_load),
        T(test_upload_other_canister),
        T(test_upload_corrupted),
        T(test_upload_corrupted_module),
        T(test_upload_refusals),
        T(test_upload_limit),
        T(test_upload_resume),
        T(test_downloads_complete_by_size),
        T(test_jitter_deterministic),
        T(test_state_round_trip),
        T(test_state_file_continues),
        T(test_state_on_the_real_disk_whatever_storage),
        T(test_driver_saves_state),
        T(test_effects_survive_kill),
        T(test_state_load_refusals),
        T(test_topology_changes),
        T(test_topology_impossible),
        T(test_removed_canister_ops),
        T(test_mutate),
        T(test_render),
        T(test_same_ops_same_state),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
