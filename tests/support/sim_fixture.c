/* Shared set-up and checks for the engine tests (sim_fixture.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "sim_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/simrun.h"
#include "snapfleet/wrap.h"

/* Separate rings, so ids taken in a loop never overwrite a path. */
#define RING 16

static char *id_slot(void)
{
    static char buf[RING][SF_PRINCIPAL_TEXT_MAX];
    static int next;
    return buf[next++ % RING];
}

static char *path_slot(void)
{
    static char buf[RING][1200];
    static int next;
    return buf[next++ % RING];
}

static bool writable_dir(const char *d)
{
    struct stat st;
    return d != NULL && *d != '\0' && stat(d, &st) == 0 && S_ISDIR(st.st_mode) &&
           access(d, W_OK | X_OK) == 0;
}

void sf_fx_setup(sf_fx *f, const char *tag)
{
    const char *base = getenv("TMPDIR");

    memset(f, 0, sizeof *f);
    if (!writable_dir(base))
        base = writable_dir("/dev/shm") ? "/dev/shm" : "/tmp";
    snprintf(f->dir, sizeof f->dir, "%s/sf-%s-XXXXXX", base, tag);
    if (mkdtemp(f->dir) == NULL)
        fail_msg("mkdtemp %s: %s", f->dir, strerror(errno));
    snprintf(f->state, sizeof f->state, "%s/fleet.json", f->dir);
    sf_buf_init(&f->log);
}

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void sf_fx_teardown(sf_fx *f)
{
    sf_fx_unstack(f);
    sf_sim_free(f->sim);
    sf_sim_free(f->before);
    f->sim = f->before = NULL;
    sf_buf_free(&f->log);
    if (f->dir[0] != '\0' && getenv("SF_TEST_KEEP") == NULL)
        nftw(f->dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
    else if (f->dir[0] != '\0')
        fprintf(stderr, "kept %s\n", f->dir);
    f->dir[0] = '\0';
}

void sf_fx_config(sf_sim_config *cfg, uint64_t seed, uint64_t canisters)
{
    sf_sim_config_default(cfg);
    cfg->seed = seed;
    cfg->canister_count = canisters;
    cfg->heap_min = 1024;
    cfg->heap_max = 8192;
    cfg->stable_min = 512;
    cfg->stable_max = 4096;
    cfg->module_min = 256;
    cfg->module_max = 1024;
    cfg->chunk_max = 1;
    cfg->chunk_size = 256;
    cfg->jitter_ms = 0;
    cfg->stopped_percent = 0;
}

static sf_sim *copy_sim(const sf_sim *sim)
{
    sf_buf b;
    sf_sim *out = NULL;
    sf_error err;

    sf_buf_init(&b);
    if (sf_sim_state_json(sim, &b, &err) != SF_OK ||
        sf_sim_load_json(b.data, b.len, &out, &err) != SF_OK)
        fail_msg("copying the fleet: %s", err.message);
    sf_buf_free(&b);
    return out;
}

void sf_fx_start(sf_fx *f, const sf_sim_config *cfg)
{
    sf_error err;

    if (sf_sim_init(cfg, &f->sim, &err) != SF_OK)
        fail_msg("sf_sim_init: %s", err.message);
    sf_fx_save(f);
    sf_fx_snap_before(f);
    f->clock = sf_sim_clock(f->sim);
    snprintf(f->root, sizeof f->root, "%s", sf_sim_root_id(f->sim));
}

void sf_fx_snap_before(sf_fx *f)
{
    sf_sim_free(f->before);
    f->before = copy_sim(f->sim);
}

void sf_fx_save(sf_fx *f)
{
    sf_error err;

    if (sf_sim_save(f->sim, f->state, &err) != SF_OK)
        fail_msg("sf_sim_save: %s", err.message);
}

static void on_topology(const char *kind, void *ctx)
{
    sf_fx *f = ctx;
    sf_error err;

    if (sf_sim_topology_change(f->sim, kind, &err) != SF_OK) {
        fprintf(stderr, "topology change %s failed: %s\n", kind, err.message);
        return;
    }
    if (f->persist)
        sf_sim_save(f->sim, f->state, &err);
}

/* The stack without assertions, so a forked child can build it too. */
static int build_stack(sf_fx *f, const char *faults, bool persist,
                       sf_error *err)
{
    f->persist = persist;
    f->clock = sf_sim_clock(f->sim);
    if (sf_sim_driver_new(f->sim, persist ? f->state : NULL, &f->base, err) != SF_OK)
        return SF_ERR;
    f->top = f->base;
    if (faults != NULL && *faults != '\0') {
        if (sf_fault_plan_parse(faults, &f->plan, err) != SF_OK ||
            sf_fault_driver_new(f->top, f->plan, on_topology, f, &f->faulty,
                                err) != SF_OK)
            return SF_ERR;
        f->top = f->faulty;
    }
    if (sf_retry_driver_new(f->top, &f->clock, 5, 100, 5000, &f->retry, err) != SF_OK ||
        sf_trace_driver_new(f->retry, &f->clock, &f->log, &f->trace, err) != SF_OK)
        return SF_ERR;
    f->top = f->trace;
    return SF_OK;
}

void sf_fx_stack(sf_fx *f, const char *faults, bool persist)
{
    sf_error err;

    sf_fx_unstack(f);
    if (build_stack(f, faults, persist, &err) != SF_OK)
        fail_msg("driver stack (faults \"%s\"): %s (%s)", faults ? faults : "",
                 err.message, err.kind ? err.kind : "?");
}

void sf_fx_unstack(sf_fx *f)
{
    sf_driver_destroy(f->trace);
    sf_driver_destroy(f->retry);
    sf_driver_destroy(f->faulty);
    sf_driver_destroy(f->base);
    sf_fault_plan_free(f->plan);
    f->trace = f->retry = f->faulty = f->base = f->top = NULL;
    f->plan = NULL;
}

void sf_fx_reload(sf_fx *f)
{
    sf_error err;

    if (f->top != NULL)
        fail_msg("sf_fx_reload with a driver stack up");
    sf_sim_free(f->sim);
    f->sim = NULL;
    if (sf_sim_load(f->state, &f->sim, &err) != SF_OK)
        fail_msg("sf_sim_load %s: %s", f->state, err.message);
    f->clock = sf_sim_clock(f->sim);
}

const char *sf_fx_path(const sf_fx *f, const char *name)
{
    char *p = path_slot();

    snprintf(p, 1200, "%s/%s", f->dir, name);
    return p;
}

/* ---- the fleet ---- */

const char *sf_fx_id(const sf_sim *sim, size_t i)
{
    sf_sim_canister_info info;
    sf_error err;
    char *p = id_slot();

    if (sf_sim_canister_at(sim, i, &info, &err) != SF_OK)
        fail_msg("canister %zu: %s", i, err.message);
    snprintf(p, SF_PRINCIPAL_TEXT_MAX, "%s", info.canister_id);
    return p;
}

size_t sf_fx_index(const sf_sim *sim, const char *id)
{
    size_t idx;
    sf_error err;

    if (sf_sim_canister_find(sim, id, &idx, &err) != SF_OK)
        fail_msg("canister %s: %s", id, err.message);
    return idx;
}

static void info_of(const sf_sim *sim, const char *id, sf_sim_canister_info *out)
{
    sf_error err;

    if (sf_sim_canister_at(sim, sf_fx_index(sim, id), out, &err) != SF_OK)
        fail_msg("canister %s: %s", id, err.message);
}

sf_canister_status sf_fx_status(const sf_sim *sim, const char *id)
{
    sf_sim_canister_info info;

    info_of(sim, id, &info);
    return info.status;
}

size_t sf_fx_snapshot_count(const sf_sim *sim, const char *id)
{
    sf_sim_canister_info info;

    info_of(sim, id, &info);
    return info.snapshot_count;
}

static bool has_snapshot(const sf_sim *sim, size_t idx, size_t count,
                         const char *snap)
{
    size_t j;
    sf_snapshot_info s;

    for (j = 0; j < count; j++)
        if (sf_sim_snapshot_at(sim, idx, j, &s, NULL) == SF_OK &&
            strcmp(s.id, snap) == 0)
            return true;
    return false;
}

size_t sf_fx_new_snapshots(const sf_sim *before, const sf_sim *after,
                           const char *id)
{
    sf_sim_canister_info a, b;
    size_t ia, ib, j, n = 0;
    sf_snapshot_info s;

    ia = sf_fx_index(after, id);
    info_of(after, id, &a);
    if (sf_sim_canister_find(before, id, &ib, NULL) != SF_OK)
        return a.snapshot_count;
    info_of(before, id, &b);
    for (j = 0; j < a.snapshot_count; j++) {
        if (sf_sim_snapshot_at(after, ia, j, &s, NULL) != SF_OK)
            fail_msg("snapshot %zu of %s", j, id);
        if (!has_snapshot(before, ib, b.snapshot_count, s.id))
            n++;
    }
    return n;
}

size_t sf_fx_new_snapshots_total(const sf_sim *before, const sf_sim *after)
{
    size_t i, n = 0;

    for (i = 0; i < sf_sim_canister_count(before); i++) {
        const char *id = sf_fx_id(before, i);
        size_t idx;

        if (sf_sim_canister_find(after, id, &idx, NULL) == SF_OK)
            n += sf_fx_new_snapshots(before, after, id);
    }
    return n;
}

void sf_fx_set_status(sf_fx *f, const char *id, sf_canister_status s)
{
    sf_error err;

    if (sf_sim_set_status(f->sim, id, s, &err) != SF_OK)
        fail_msg("sf_sim_set_status %s: %s", id, err.message);
    sf_fx_save(f);
}

/* ---- the trace ---- */

void sf_fx_trace_ops(const sf_buf *log, sf_buf *out)
{
    const char *p = sf_buf_cstr(log);

    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[1024], op[32], id[128], a3[160], a4[32];
        int n;

        snprintf(line, sizeof line, "%.*s", (int)(len < 1023 ? len : 1023), p);
        /* t=<ms> submit #<ticket> <op> <canister>[ <snapshot>][ resume] */
        a3[0] = a4[0] = '\0';
        n = sscanf(line, "t=%*u submit #%*u %31s %127s %159s %31s", op, id, a3, a4);
        if (n >= 2) {
            bool resume = strcmp(a3, "resume") == 0 || strcmp(a4, "resume") == 0;
            sf_buf_printf(out, "%s %s%s\n", op, id, resume ? " resume" : "");
        }
        p += len;
        if (*p == '\n')
            p++;
    }
}

size_t sf_fx_trace_count(const sf_buf *log, const char *op)
{
    sf_buf ops;
    const char *p;
    size_t n = 0, k = strlen(op);

    sf_buf_init(&ops);
    sf_fx_trace_ops(log, &ops);
    for (p = sf_buf_cstr(&ops); *p != '\0';) {
        if (strncmp(p, op, k) == 0 && p[k] == ' ')
            n++;
        p = strchr(p, '\n');
        if (p == NULL)
            break;
        p++;
    }
    sf_buf_free(&ops);
    return n;
}

void sf_fx_assert_ops(const sf_buf *log, const char *want)
{
    sf_buf ops;

    sf_buf_init(&ops);
    sf_fx_trace_ops(log, &ops);
    if (strcmp(sf_buf_cstr(&ops), want) != 0) {
        print_error("operations differ.\n--- want\n%s--- got\n%s--- trace\n%s",
                    want, sf_buf_cstr(&ops), sf_buf_cstr(log));
        sf_buf_free(&ops);
        fail();
    }
    sf_buf_free(&ops);
}

/* ---- durable writes ---- */

static void write_hook(const char *path, void *ctx)
{
    sf_fx_writes *w = ctx;

    if (w->n < SF_FX_MAX_WRITES)
        w->paths[w->n++] = strdup(path);
    if (w->on_write != NULL)
        w->on_write(path, w->ctx);
}

void sf_fx_writes_begin(sf_fx_writes *w)
{
    sf_fs_set_write_hook(write_hook, w);
}

void sf_fx_writes_end(sf_fx_writes *w)
{
    (void)w;
    sf_fs_set_write_hook(NULL, NULL);
}

void sf_fx_writes_free(sf_fx_writes *w)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        free(w->paths[i]);
    w->n = 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

size_t sf_fx_writes_count(const sf_fx_writes *w, const char *name)
{
    size_t i, n = 0;

    for (i = 0; i < w->n; i++)
        if (w->paths[i] != NULL && strcmp(base_name(w->paths[i]), name) == 0)
            n++;
    return n;
}

void sf_fx_writes_names(const sf_fx_writes *w, sf_buf *out)
{
    size_t i;

    for (i = 0; i < w->n; i++)
        sf_buf_printf(out, "%s\n", w->paths[i] ? base_name(w->paths[i]) : "?");
}

/* ---- documents and checks ---- */

void sf_fx_manifest_canonical(const char *path, sf_buf *out)
{
    sf_manifest m;
    sf_error err;

    if (sf_manifest_read_file(path, &m, &err) != SF_OK)
        fail_msg("manifest %s: %s (%s)", path, err.message, err.kind);
    free(m.created_at);
    m.created_at = strdup("unix:0");
    if (sf_manifest_write_json(&m, out, &err) != SF_OK)
        fail_msg("manifest %s: %s", path, err.message);
    sf_manifest_free(&m);
}

void sf_fx_journal_canonical(const char *path, sf_buf *out)
{
    sf_download_journal j;
    sf_error err;
    size_t i;

    if (sf_download_journal_read_file(path, &j, &err) != SF_OK)
        fail_msg("journal %s: %s (%s)", path, err.message, err.kind);
    for (i = 0; i < j.artifact_count; i++) {
        free(j.artifacts[i].updated_at);
        j.artifacts[i].updated_at = strdup("unix:0");
    }
    if (sf_download_journal_write_json(&j, out, &err) != SF_OK)
        fail_msg("journal %s: %s", path, err.message);
    sf_download_journal_free(&j);
}

void sf_fx_assert_manifests_equal(const char *a, const char *b)
{
    sf_buf x, y;

    sf_buf_init(&x);
    sf_buf_init(&y);
    sf_fx_manifest_canonical(a, &x);
    sf_fx_manifest_canonical(b, &y);
    if (strcmp(sf_buf_cstr(&x), sf_buf_cstr(&y)) != 0) {
        const char *p = sf_buf_cstr(&x), *q = sf_buf_cstr(&y);
        size_t line = 1;

        while (*p && *p == *q) {
            line += *p == '\n';
            p++;
            q++;
        }
        print_error("manifests differ at line %zu:\n--- %s\n%.200s\n--- %s\n%.200s\n",
                    line, a, p, b, q);
        sf_buf_free(&x);
        sf_buf_free(&y);
        fail();
    }
    sf_buf_free(&x);
    sf_buf_free(&y);
}

/* The manifest with created_at and every member checksum blanked. */
static void manifest_shape(const char *path, sf_buf *out)
{
    sf_manifest m;
    sf_error err;
    size_t i;

    if (sf_manifest_read_file(path, &m, &err) != SF_OK)
        fail_msg("manifest %s: %s (%s)", path, err.message, err.kind);
    free(m.created_at);
    m.created_at = strdup("unix:0");
    for (i = 0; i < m.fleet.member_count; i++) {
        free(m.fleet.members[i].source_snapshot.checksum);
        m.fleet.members[i].source_snapshot.checksum = NULL;
    }
    if (sf_manifest_write_json(&m, out, &err) != SF_OK)
        fail_msg("manifest %s: %s", path, err.message);
    sf_manifest_free(&m);
}

static void assert_bufs_equal(const sf_buf *x, const sf_buf *y,
                              const char *a, const char *b)
{
    const char *p = sf_buf_cstr(x), *q = sf_buf_cstr(y);
    size_t line = 1;

    if (strcmp(p, q) == 0)
        return;
    while (*p && *p == *q) {
        line += *p == '\n';
        p++;
        q++;
    }
    fail_msg("%s and %s differ at line %zu:\n--- %.200s\n--- %.200s", a, b,
             line, p, q);
}

/* metadata.json with taken_at_timestamp set to 0, re-printed. */
static char *metadata_normalized(const char *path)
{
    char *text = NULL, *out;
    size_t len;
    sf_error err;
    cJSON *doc, *ts;

    if (sf_fs_read_file(path, 1 << 24, &text, &len, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
    doc = cJSON_Parse(text);
    free(text);
    if (doc == NULL)
        fail_msg("%s: not JSON", path);
    ts = cJSON_GetObjectItemCaseSensitive(doc, "taken_at_timestamp");
    if (ts == NULL)
        fail_msg("%s: no taken_at_timestamp", path);
    cJSON_ReplaceItemInObjectCaseSensitive(doc, "taken_at_timestamp",
                                           cJSON_CreateNumber(0));
    out = cJSON_PrintUnformatted(doc);
    cJSON_Delete(doc);
    return out;
}

static void assert_trees_equal(const char *a, const char *b)
{
    struct dirent **la = NULL, **lb = NULL;
    int na = scandir(a, &la, NULL, alphasort), nb = scandir(b, &lb, NULL, alphasort);
    int i;

    if (na < 0 || nb < 0)
        fail_msg("cannot list %s or %s", a, b);
    if (na != nb)
        fail_msg("%s has %d entries, %s has %d", a, na, b, nb);
    for (i = 0; i < na; i++) {
        char pa[1400], pb[1400];
        struct stat sa, sb;

        if (strcmp(la[i]->d_name, lb[i]->d_name) != 0)
            fail_msg("%s/%s vs %s/%s", a, la[i]->d_name, b, lb[i]->d_name);
        if (strcmp(la[i]->d_name, ".") == 0 || strcmp(la[i]->d_name, "..") == 0)
            continue;
        snprintf(pa, sizeof pa, "%s/%s", a, la[i]->d_name);
        snprintf(pb, sizeof pb, "%s/%s", b, lb[i]->d_name);
        if (lstat(pa, &sa) != 0 || lstat(pb, &sb) != 0)
            fail_msg("cannot stat %s or %s", pa, pb);
        if (S_ISDIR(sa.st_mode) != S_ISDIR(sb.st_mode))
            fail_msg("%s and %s differ in type", pa, pb);
        if (S_ISDIR(sa.st_mode)) {
            assert_trees_equal(pa, pb);
        } else if (strcmp(la[i]->d_name, "metadata.json") == 0) {
            char *x = metadata_normalized(pa), *y = metadata_normalized(pb);
            if (strcmp(x, y) != 0)
                fail_msg("%s and %s differ beyond taken_at_timestamp", pa, pb);
            cJSON_free(x);
            cJSON_free(y);
        } else {
            char *x = NULL, *y = NULL;
            size_t lx = 0, ly = 0;
            sf_error err;

            if (sf_fs_read_file(pa, 1 << 26, &x, &lx, &err) != SF_OK ||
                sf_fs_read_file(pb, 1 << 26, &y, &ly, &err) != SF_OK)
                fail_msg("reading %s or %s: %s", pa, pb, err.message);
            if (lx != ly || memcmp(x, y, lx) != 0)
                fail_msg("%s and %s differ", pa, pb);
            free(x);
            free(y);
        }
    }
    for (i = 0; i < na; i++)
        free(la[i]);
    for (i = 0; i < nb; i++)
        free(lb[i]);
    free(la);
    free(lb);
}

void sf_fx_assert_backups_equal(const char *out_a, const char *out_b)
{
    char pa[1200], pb[1200];
    sf_buf x, y;
    sf_manifest m;
    sf_error err;
    size_t i;

    sf_fx_assert_verifies(out_a);
    sf_fx_assert_verifies(out_b);
    snprintf(pa, sizeof pa, "%s/%s", out_a, SF_MANIFEST_FILE_NAME);
    snprintf(pb, sizeof pb, "%s/%s", out_b, SF_MANIFEST_FILE_NAME);
    sf_buf_init(&x);
    sf_buf_init(&y);
    manifest_shape(pa, &x);
    manifest_shape(pb, &y);
    assert_bufs_equal(&x, &y, pa, pb);
    sf_buf_free(&x);
    sf_buf_free(&y);
    if (sf_manifest_read_file(pa, &m, &err) != SF_OK)
        fail_msg("%s: %s", pa, err.message);
    for (i = 0; i < m.fleet.member_count; i++) {
        const char *rel = m.fleet.members[i].source_snapshot.artifact_path;
        char da[1400], db[1400];

        snprintf(da, sizeof da, "%s/%s", out_a, rel);
        snprintf(db, sizeof db, "%s/%s", out_b, rel);
        assert_trees_equal(da, db);
    }
    sf_manifest_free(&m);
}

void sf_fx_assert_invariants(const sf_fx *f, const char *out,
                             bool leave_stopped)
{
    sf_buf v;
    sf_error err;

    sf_buf_init(&v);
    sf_error_clear(&err);
    if (sf_check_invariants(f->before, f->sim, out, leave_stopped, &v, &err) != SF_OK) {
        print_error("invariants broken in %s: %s (%s)\n%s", out, err.message,
                    err.kind ? err.kind : "?", sf_buf_cstr(&v));
        sf_buf_free(&v);
        fail();
    }
    sf_buf_free(&v);
}

size_t sf_fx_assert_verifies(const char *out)
{
    sf_integrity_report rep;
    sf_error err;
    size_t n;

    if (sf_verify_integrity(out, &rep, &err) != SF_OK)
        fail_msg("%s does not verify: %s (%s)", out, err.message,
                 err.kind ? err.kind : "?");
    assert_true(rep.verified);
    n = rep.durable_artifacts;
    sf_integrity_report_free(&rep);
    return n;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t sf_fx_leftovers(const char *out, sf_buf *names)
{
    DIR *d = opendir(out);
    struct dirent *de;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (ends_with(de->d_name, ".tmp") || ends_with(de->d_name, ".verify")) {
            n++;
            if (names != NULL)
                sf_buf_printf(names, "%s\n", de->d_name);
        }
    }
    closedir(d);
    return n;
}

bool sf_fx_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* ---- runs ---- */

void sf_fx_backup_config(sf_backup_config *c, const sf_fx *f, const char *out)
{
    memset(c, 0, sizeof *c);
    c->out = out;
    c->fleet = "sim";
    c->network = "local";
    c->root = f->root;
    c->include_root = true;
    c->schedule = SF_BACKUP_FLEET;
    c->tool_name = "snapfleet";
    c->tool_version = "test";
}

void sf_fx_download_config(sf_snapshot_download_config *c, const sf_fx *f,
                           const char *out)
{
    memset(c, 0, sizeof *c);
    c->canister = f->root;
    c->root = f->root;
    c->recursive = true;
    c->resume_after_snapshot = true;
    c->out = out;
    c->tool_name = "snapfleet";
    c->tool_version = "test";
    c->environment = "local";
}

int sf_fx_backup(sf_fx *f, const sf_backup_config *c, sf_backup_result *r,
                 sf_error *err)
{
    sf_error_clear(err);
    return sf_backup_run(c, f->top, &f->clock, r, err);
}

int sf_fx_download(sf_fx *f, const sf_snapshot_download_config *c,
                   sf_snapshot_download_result *r, sf_error *err)
{
    sf_error_clear(err);
    return sf_snapshot_download(c, f->top, &f->clock, r, err);
}

static bool kill_run(sf_fx *f, uint64_t k, bool tear, sf_fx_run_fn fn,
                     void *ctx, int *exit_code)
{
    pid_t pid;
    int status;

    sf_fx_unstack(f);
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        sf_error err;
        int rc;

        /* No CMocka assertions in here: the child must not return into the
         * test runner. */
        /* The state file is the fleet: the child starts from it, as a new
         * process would. */
        sf_sim_free(f->sim);
        f->sim = NULL;
        if (sf_sim_load(f->state, &f->sim, &err) != SF_OK ||
            build_stack(f, NULL, true, &err) != SF_OK)
            _exit(99);
        if (tear)
            sf_torn_write_install(k);
        else
            sf_crash_after_writes_install(k);
        rc = fn(f, ctx);
        _exit(rc == SF_OK ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
    sf_fx_reload(f);
    *exit_code = -1;
    if (WIFSIGNALED(status)) {
        if (WTERMSIG(status) != SIGKILL)
            fail_msg("child died by signal %d, not SIGKILL", WTERMSIG(status));
        return true;
    }
    if (WIFEXITED(status))
        *exit_code = WEXITSTATUS(status);
    if (*exit_code == 99)
        fail_msg("child could not build its driver stack");
    return false;
}

bool sf_fx_crash_run(sf_fx *f, uint64_t k, sf_fx_run_fn fn, void *ctx,
                     int *exit_code)
{
    return kill_run(f, k, false, fn, ctx, exit_code);
}

bool sf_fx_torn_run(sf_fx *f, uint64_t k, sf_fx_run_fn fn, void *ctx,
                    int *exit_code)
{
    return kill_run(f, k, true, fn, ctx, exit_code);
}

/* ---- the end of a run ---- */

void sf_fx_backup_complete(sf_fx *f, const sf_backup_config *c)
{
    sf_backup_result r;
    sf_error err;

    if (sf_fx_backup(f, c, &r, &err) != SF_OK) {
        sf_backup_result_free(&r);
        fail_msg("backup failed: %s (%s)", err.message,
                 err.kind ? err.kind : "?");
    }
    assert_true(r.complete);
    sf_backup_result_free(&r);
}

void sf_fx_read_exec(const char *out, sf_exec_journal *j)
{
    sf_error err;
    sf_download_journal dj;
    bool have_j, have_dj;

    if (sf_backup_state_read(out, j, &have_j, &dj, &have_dj, &err) != SF_OK)
        fail_msg("%s: %s", out, err.message);
    sf_download_journal_free(&dj);
    if (!have_j)
        fail_msg("%s: no execution journal", out);
}

void sf_fx_read_manifest(const char *out, sf_manifest *m)
{
    sf_error err;
    char *p = sf_path_join(out, SF_MANIFEST_FILE_NAME);

    if (p == NULL)
        fail_msg("out of memory");
    if (sf_manifest_read_file(p, m, &err) != SF_OK)
        fail_msg("%s: %s", p, err.message);
    free(p);
}

void sf_fx_assert_all_running(const sf_fx *f)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(f->sim); i++)
        if (sf_fx_status(f->sim, sf_fx_id(f->sim, i)) != SF_STATUS_RUNNING)
            fail_msg("%s is not running", sf_fx_id(f->sim, i));
}

void sf_fx_assert_clean_end(const sf_fx *f, const char *out, size_t members)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(f->before); i++) {
        const char *id = sf_fx_id(f->before, i);

        if (sf_fx_status(f->sim, id) != SF_STATUS_RUNNING)
            fail_msg("%s is not running", id);
        if (sf_fx_new_snapshots(f->before, f->sim, id) != 1)
            fail_msg("%s has %zu new snapshots; wanted 1", id,
                     sf_fx_new_snapshots(f->before, f->sim, id));
    }
    sf_fx_assert_invariants(f, out, false);
    assert_int_equal(sf_fx_assert_verifies(out), members);
    assert_int_equal(sf_fx_leftovers(out, NULL), 0);
}

/* ---- the trace of several operations in flight ---- */

/* A canister's depth in the fleet's tree (the root is 0). */
size_t sf_fx_depth(const sf_sim *sim, const char *id)
{
    sf_sim_canister_info info;
    sf_error err;
    size_t i, d = 0;
    char cur[SF_PRINCIPAL_TEXT_MAX];

    snprintf(cur, sizeof cur, "%s", id);
    for (;;) {
        if (sf_sim_canister_find(sim, cur, &i, &err) != SF_OK ||
            sf_sim_canister_at(sim, i, &info, &err) != SF_OK)
            fail_msg("%s: %s", cur, err.message);
        if (info.parent_canister_id[0] == '\0')
            return d;
        snprintf(cur, sizeof cur, "%s", info.parent_canister_id);
        d++;
    }
}

size_t sf_fx_flights(const sf_buf *log, sf_fx_flight **out)
{
    const char *p = sf_buf_cstr(log);
    sf_fx_flight *v = NULL;
    size_t n = 0;

    while (*p != '\0') {
        size_t len = strcspn(p, "\n");
        char line[1024];
        sf_fx_flight l;

        snprintf(line, sizeof line, "%.*s", (int)(len < 1023 ? len : 1023), p);
        memset(&l, 0, sizeof l);
        if (sscanf(line, "t=%*u submit #%llu %15s %63s",
                   (unsigned long long *)&l.ticket, l.op, l.id) == 3) {
            l.submit = true;
        } else if (sscanf(line, "t=%*u done #%llu %15s %63s",
                          (unsigned long long *)&l.ticket, l.op, l.id) != 3) {
            l.op[0] = '\0';
        }
        if (l.op[0] != '\0') {
            v = realloc(v, (n + 1) * sizeof *v);
            assert_non_null(v);
            v[n++] = l;
        }
        p += len;
        if (*p == '\n')
            p++;
    }
    *out = v;
    return n;
}
