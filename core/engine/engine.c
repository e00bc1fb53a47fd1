#include "engine/engine.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/pool.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/snapshot_meta.h"

int sf_engine_open(sf_engine *e, sf_driver *driver, const sf_clock *clock,
                   const char *out, FILE *log, sf_error *err)
{
    return sf_engine_open_at(e, driver, clock, out, SF_OBSERVATIONS_FILE_NAME,
                             log, err);
}

int sf_engine_open_at(sf_engine *e, sf_driver *driver, const sf_clock *clock,
                      const char *out, const char *obs_name, FILE *log,
                      sf_error *err)
{
    memset(e, 0, sizeof *e);
    e->driver = driver;
    e->clock = clock;
    e->log = log;
    e->out = strdup(out);
    e->obs_path = sf_path_join(out, obs_name);
    if (e->out == NULL || e->obs_path == NULL) {
        sf_engine_close(e);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    if (sf_obs_read_file(e->obs_path, &e->obs, err) != SF_OK) {
        sf_engine_close(e);
        return SF_ERR;
    }
    return SF_OK;
}

void sf_engine_close(sf_engine *e)
{
    free(e->stopped);
    e->stopped = NULL;
    e->stopped_count = e->stopped_cap = 0;
    sf_posmap_free(&e->stopped_index);
    sf_obs_free(&e->obs);
    free(e->out);
    free(e->obs_path);
    e->out = NULL;
    e->obs_path = NULL;
}

int sf_engine_save(sf_engine *e, const char *id, sf_error *err)
{
    const sf_obs_canister *c;

    if (e->save_one != NULL && (c = sf_obs_find(&e->obs, id)) != NULL)
        return e->save_one(e->save_ctx, c, err);
    return sf_obs_write_file(e->obs_path, &e->obs, err);
}

void sf_engine_say(sf_engine *e, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (e->log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (e->progress != NULL) {
        sf_progress_printf(e->progress, "%s", line);
        return;
    }
    fprintf(e->log, "%s\n", line);
    fflush(e->log);
}

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The snapshot bytes below a transfer directory, for the progress lines:
 * the blobs and chunks, not icp's metadata.json and dot files (its lock
 * and progress files), so a finished download counts what the snapshot's
 * total size counts. */
static uint64_t tree_bytes_at(const char *path, int depth)
{
    DIR *d;
    struct dirent *de;
    uint64_t total = 0;

    if (depth > 8 || (d = opendir(path)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char *p;

        if (de->d_name[0] == '.' ||
            (depth == 0 && strcmp(de->d_name, "metadata.json") == 0))
            continue;
        p = sf_path_join(path, de->d_name);
        if (p != NULL && lstat(p, &st) == 0)
            total += S_ISDIR(st.st_mode) ? tree_bytes_at(p, depth + 1)
                                         : (uint64_t)st.st_size;
        free(p);
    }
    closedir(d);
    return total;
}

uint64_t sf_engine_transfer_bytes(const char *dir)
{
    return tree_bytes_at(dir, 0);
}

/* One progress line per effect (the CLI passes stderr when it is a
 * terminal): what, on which canister, how it ended, how long it took, and
 * for a download its size and rate. Wall time, never in any document. */
static void logf_(sf_engine *e, const char *what, const sf_op *op, double secs,
                  uint64_t bytes)
{
    char size[64] = "";

    if (e->log == NULL)
        return;
    if (op->kind == SF_OP_DOWNLOAD && strcmp(what, "done") == 0) {
        double mib = (double)bytes / (1024.0 * 1024.0);
        snprintf(size, sizeof size, ", %.1f MiB, %.1f MiB/s", mib,
                 secs > 0 ? mib / secs : 0.0);
    }
    sf_engine_say(e, "snapfleet: %s %s%s%s: %s (%.2f s%s)",
                  sf_op_kind_name(op->kind), op->canister_id,
                  op->snapshot_id[0] ? " " : "", op->snapshot_id, what, secs,
                  size);
}

static bool is_transfer(sf_op_kind k)
{
    return k == SF_OP_DOWNLOAD || k == SF_OP_UPLOAD;
}

static bool read_only(sf_op_kind k)
{
    return k == SF_OP_REGISTRY || k == SF_OP_STATUS || k == SF_OP_LIST;
}

#define READ_ATTEMPTS 3

int sf_engine_call(sf_engine *e, const sf_op *op, sf_result *res,
                   sf_fail_class *fail, sf_error *err)
{
    static const char *const kinds[] = {
        NULL, "driver-transient", "driver-permanent", "driver-unknown-outcome",
    };
    int attempt;
    double t0 = wall_s();
    bool shown = e->progress != NULL && is_transfer(op->kind);
    uint64_t bytes = 0;
    char key[SF_PROGRESS_KEY_MAX];

    *fail = SF_FAIL_NONE;
    if (shown) {
        sf_op_progress_key(op, key, sizeof key);
        sf_progress_begin(e->progress, key);
    }
    for (attempt = 1; ; attempt++) {
        if (sf_pool_call(e->pool, e->driver, op, res, err) != SF_OK) {
            if (shown)
                sf_progress_end(e->progress, key, false, 0);
            return SF_ERR;
        }
        /* a read has no effect to reconcile: asking again is the answer */
        if (res->fail != SF_FAIL_UNKNOWN || !read_only(op->kind) ||
            attempt == READ_ATTEMPTS)
            break;
        logf_(e, "unknown, asking again", op, wall_s() - t0, 0);
        sf_result_free(res);
    }
    if (res->fail == SF_FAIL_NONE && is_transfer(op->kind) &&
        (shown || e->log != NULL))
        bytes = sf_engine_transfer_bytes(op->path);
    if (shown)
        sf_progress_end(e->progress, key, res->fail == SF_FAIL_NONE, bytes);
    if (res->fail == SF_FAIL_NONE) {
        logf_(e, "done", op, wall_s() - t0, bytes);
        return SF_OK;
    }
    *fail = res->fail;
    logf_(e, sf_fail_class_name(res->fail), op, wall_s() - t0, 0);
    return sf_error_set(err, kinds[res->fail], "", "snapshot driver failed: %s "
                        "%s%s%s: %s (%s)", sf_op_kind_name(op->kind),
                        op->canister_id, op->snapshot_id[0] ? " " : "",
                        op->snapshot_id, res->err.message,
                        sf_fail_class_name(res->fail));
}

int sf_engine_discover(sf_engine *e, const char *root, const char *selected,
                       bool recursive, sf_registry *reg_out, sf_target **targets,
                       size_t *count, char hash[65], sf_error *err)
{
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int rc = SF_ERR;

    *targets = NULL;
    *count = 0;
    if (sf_op_init(&op, SF_OP_REGISTRY, root, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    if (sf_engine_call(e, &op, &res, &fail, err) != SF_OK)
        goto done;
    if (sf_targets_from_registry(&res.registry, selected, recursive, targets,
                                 count, err) != SF_OK)
        goto done;
    if (sf_targets_topology_hash(selected, *targets, *count, hash, err) != SF_OK)
        goto done;
    if (reg_out != NULL) {
        *reg_out = res.registry;
        memset(&res.registry, 0, sizeof res.registry);
    }
    rc = SF_OK;
done:
    if (rc != SF_OK) {
        sf_targets_free(*targets, *count);
        *targets = NULL;
        *count = 0;
    }
    sf_result_free(&res);
    return rc;
}

/* The status, and the module hash with it when module_hash is not NULL
 * (*module_hash malloc'd, NULL when the canister reports none). */
static int status_of(sf_engine *e, const char *id, sf_canister_status *status,
                     char **module_hash, sf_error *err)
{
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int rc;

    if (sf_op_init(&op, SF_OP_STATUS, id, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    rc = sf_engine_call(e, &op, &res, &fail, err);
    if (rc == SF_OK) {
        *status = res.status;
        if (module_hash != NULL) {
            *module_hash = res.module_hash;
            res.module_hash = NULL;
        }
    }
    sf_result_free(&res);
    return rc;
}

int sf_engine_status(sf_engine *e, const char *id, sf_canister_status *status,
                     sf_error *err)
{
    return status_of(e, id, status, NULL, err);
}

/* The stopped-time record of id; created when `create` (NULL when out of
 * memory: the timing is a report, never a reason to fail a run). */
static sf_engine_stopped *stopped_of(sf_engine *e, const char *id, bool create)
{
    uint64_t h = sf_posmap_hash(id, NULL);
    size_t cursor = 0, p;
    sf_engine_stopped *s;

    while ((p = sf_posmap_next(&e->stopped_index, h, &cursor)) != SIZE_MAX)
        if (strcmp(e->stopped[p].canister_id, id) == 0)
            return &e->stopped[p];
    if (!create)
        return NULL;
    if (e->stopped_count == e->stopped_cap) {
        size_t cap = e->stopped_cap ? e->stopped_cap * 2 : 16;
        sf_engine_stopped *grown = realloc(e->stopped, cap * sizeof *grown);

        if (grown == NULL)
            return NULL;
        e->stopped = grown;
        e->stopped_cap = cap;
    }
    if (!sf_posmap_insert(&e->stopped_index, h, e->stopped_count))
        return NULL;
    s = &e->stopped[e->stopped_count++];
    memset(s, 0, sizeof *s);
    snprintf(s->canister_id, sizeof s->canister_id, "%s", id);
    return s;
}

static void note_stop(sf_engine *e, const char *id)
{
    sf_engine_stopped *s = stopped_of(e, id, true);
    uint64_t now = sf_clock_now_ms(e->clock);

    if (s == NULL || s->open)
        return;
    if (!s->restarted)
        s->first_stop_ms = now;
    s->open = true;
    s->open_since = now;
}

static void note_start(sf_engine *e, const char *id)
{
    sf_engine_stopped *s = stopped_of(e, id, false);
    uint64_t now = sf_clock_now_ms(e->clock);

    if (s == NULL || !s->open)
        return;
    s->open = false;
    s->restarted = true;
    s->stopped_ms += now - s->open_since;
    s->last_start_ms = now;
}

bool sf_engine_fleet_span(const sf_engine *e, uint64_t *ms)
{
    uint64_t first = UINT64_MAX, last = 0;
    size_t i;

    for (i = 0; i < e->stopped_count; i++) {
        const sf_engine_stopped *s = &e->stopped[i];

        if (!s->restarted)
            continue;
        if (s->first_stop_ms < first)
            first = s->first_stop_ms;
        if (s->last_start_ms > last)
            last = s->last_start_ms;
    }
    if (first == UINT64_MAX)
        return false;
    *ms = last - first;
    return true;
}

/* Issues op (stop or start) and, when its outcome is unknown, decides by
 * the canister's observed status: both are idempotent, so one more try is
 * safe if the status says it did not happen. */
static int toggle(sf_engine *e, sf_op_kind kind, const char *id, sf_error *err)
{
    sf_canister_status want = kind == SF_OP_STOP ? SF_STATUS_STOPPED
                                                 : SF_STATUS_RUNNING;
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int attempt;

    if (sf_op_init(&op, kind, id, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    for (attempt = 0; attempt < 2; attempt++) {
        sf_canister_status now;
        int rc = sf_engine_call(e, &op, &res, &fail, err);

        sf_result_free(&res);
        if (rc == SF_OK)
            return SF_OK;
        if (fail != SF_FAIL_UNKNOWN)
            return SF_ERR;
        if (sf_engine_status(e, id, &now, err) != SF_OK)
            return SF_ERR;
        if (now == want)
            return SF_OK;
    }
    return sf_error_set(err, "driver-unknown-outcome", "", "%s %s: outcome "
                        "still unknown after observing the canister",
                        sf_op_kind_name(kind), id);
}

int sf_engine_stop(sf_engine *e, const char *id, sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, id);
    sf_canister_status now;
    char *module_hash = NULL;

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (status_of(e, id, &now, &module_hash, err) != SF_OK)
        return SF_ERR;
    c = sf_obs_find(&e->obs, id);
    /* The module the snapshot will hold: a download is checked against it.
     * Nothing installs code between this observation and the create but
     * an operator racing the run, which the check would then catch. */
    free(c->module_hash);
    c->module_hash = module_hash;
    /* What it was before matters for the restart; it is learnt again unless
     * this run holds the canister stopped (an operator may have started it
     * between two runs). */
    if (!c->has_status_before || !c->stopped_by_us || c->restarted) {
        c->has_status_before = true;
        c->status_before = now;
    }
    if (now == SF_STATUS_STOPPED)
        return sf_engine_save(e, id, err);
    /* Write-ahead: the record that we are stopping it lands before the
     * stop, so containment after a crash knows to restart it. */
    c->stopped_by_us = true;
    c->restarted = false;
    if (sf_engine_save(e, id, err) != SF_OK)
        return SF_ERR;
    note_stop(e, id);
    return toggle(e, SF_OP_STOP, id, err);
}

int sf_engine_start(sf_engine *e, const char *id, sf_error *err)
{
    sf_obs_canister *c = sf_obs_find(&e->obs, id);
    sf_canister_status now;

    if (c == NULL || !c->stopped_by_us || c->restarted)
        return SF_OK;
    if (!c->has_status_before || c->status_before != SF_STATUS_RUNNING)
        return SF_OK; /* it was not running when we found it */
    if (sf_engine_status(e, id, &now, err) != SF_OK)
        return SF_ERR;
    if (now != SF_STATUS_RUNNING && toggle(e, SF_OP_START, id, err) != SF_OK)
        return SF_ERR;
    note_start(e, id);
    c = sf_obs_find(&e->obs, id);
    c->restarted = true;
    return sf_engine_save(e, id, err);
}

int sf_engine_contain(sf_engine *e, sf_error *err)
{
    size_t i;
    int rc = SF_OK;
    sf_error one;

    for (i = 0; i < e->obs.count; i++) {
        char *id;

        if (e->obs.canisters[i].load_issued)
            continue; /* its state may be the loaded one: the operator decides */
        id = strdup(e->obs.canisters[i].canister_id);
        if (id == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        if (sf_engine_start(e, id, &one) != SF_OK && rc == SF_OK) {
            rc = SF_ERR;
            if (err != NULL)
                *err = one;
        }
        free(id);
    }
    return rc;
}

int sf_engine_list(sf_engine *e, const char *id, sf_result *res,
                   sf_error *err)
{
    sf_op op;
    sf_fail_class fail;

    if (sf_op_init(&op, SF_OP_LIST, id, NULL, NULL, err) != SF_OK) {
        sf_result_init(res, SF_OP_LIST);
        return SF_ERR;
    }
    return sf_engine_call(e, &op, res, &fail, err);
}

/* After an unknown outcome: the snapshot this backup made is the one that
 * was not there before. 0 found: nothing happened; 1: adopt it; more:
 * someone else is creating snapshots too, and guessing would be unsafe. */
static int reconcile_create(sf_engine *e, const char *id, sf_snapshot_info *snap,
                            bool *adopted, sf_error *err)
{
    sf_obs_canister *c;
    sf_result res;
    size_t i, k, found = 0;

    *adopted = false;
    if (sf_engine_list(e, id, &res, err) != SF_OK) {
        sf_result_free(&res);
        return SF_ERR;
    }
    c = sf_obs_find(&e->obs, id);
    for (i = 0; i < res.snapshot_count; i++) {
        bool known = false;
        for (k = 0; k < c->snapshots_before_count && !known; k++)
            known = strcmp(c->snapshots_before[k], res.snapshots[i].id) == 0;
        if (!known) {
            found++;
            *snap = res.snapshots[i];
        }
    }
    sf_result_free(&res);
    if (found > 1)
        return sf_error_set(err, "snapshot-reconcile-ambiguous", "", "canister "
                            "%s has %zu snapshots that were not there before "
                            "our create; refusing to guess which is ours", id,
                            found);
    *adopted = found == 1;
    return SF_OK;
}

static int adopt(sf_engine *e, const char *id, const sf_snapshot_info *snap,
                 sf_error *err)
{
    sf_obs_canister *c = sf_obs_find(&e->obs, id);

    free(c->snapshot_id);
    c->snapshot_id = strdup(snap->id);
    if (c->snapshot_id == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return sf_engine_save(e, id, err);
}

/* A create makes a new snapshot appear on a canister; it records the
 * snapshot list first, so that after a lost response or a crash the new
 * one is found by listing instead of being made twice. (An upload makes
 * one too, but a new snapshot proves nothing about its data: transfer.c.) */
static int new_snapshot(sf_engine *e, sf_op_kind kind, const char *id,
                        const char *dir, sf_snapshot_info *snap, sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, id);
    sf_result res;
    sf_fail_class fail;
    sf_op op;
    bool adopted;
    int rc;

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    memset(snap, 0, sizeof *snap);
    if (c->snapshot_id != NULL) {
        snprintf(snap->id, sizeof snap->id, "%s", c->snapshot_id);
        return SF_OK; /* already ours: a rerun never makes it twice */
    }
    if (c->snapshots_before != NULL) {
        /* issued before and never heard back (a crash) */
        if (reconcile_create(e, id, snap, &adopted, err) != SF_OK)
            return SF_ERR;
        if (adopted)
            return adopt(e, id, snap, err);
    } else {
        if (sf_engine_list(e, id, &res, err) != SF_OK) {
            sf_result_free(&res);
            return SF_ERR;
        }
        c = sf_obs_find(&e->obs, id);
        rc = sf_obs_set_snapshots_before(c, res.snapshots, res.snapshot_count,
                                         err);
        sf_result_free(&res);
        if (rc != SF_OK || sf_engine_save(e, id, err) != SF_OK)
            return SF_ERR;
    }
    {
        /* at its limit, a create replaces the snapshot chosen before any
         * stop (sf_engine_make_room), recorded before it is sent */
        const char *replace = kind == SF_OP_CREATE
                                  ? sf_obs_find(&e->obs, id)->replacing : NULL;

        if (sf_op_init(&op, kind, id, replace, dir, err) != SF_OK)
            return SF_ERR;
    }
    rc = sf_engine_call(e, &op, &res, &fail, err);
    if (rc == SF_OK)
        *snap = res.snapshot;
    sf_result_free(&res);
    if (rc == SF_OK)
        return adopt(e, id, snap, err);
    if (fail != SF_FAIL_UNKNOWN)
        return SF_ERR;
    if (reconcile_create(e, id, snap, &adopted, err) != SF_OK)
        return SF_ERR;
    if (!adopted)
        return sf_error_set(err, "driver-unknown-outcome", "", "%s %s: the "
                            "response was lost and no new snapshot exists; "
                            "rerun to try again", sf_op_kind_name(kind), id);
    return adopt(e, id, snap, err);
}

int sf_engine_create(sf_engine *e, const char *id, sf_snapshot_info *snap,
                     sf_error *err)
{
    return new_snapshot(e, SF_OP_CREATE, id, NULL, snap, err);
}

int sf_engine_load(sf_engine *e, const char *id, const char *snapshot_id,
                   sf_error *err)
{
    sf_canister_status now;
    sf_result res;
    sf_fail_class fail;
    sf_op op;
    int attempt;

    if (sf_op_init(&op, SF_OP_LOAD, id, snapshot_id, NULL, err) != SF_OK)
        return SF_ERR;
    for (attempt = 0; attempt < 2; attempt++) {
        int rc;

        if (sf_engine_status(e, id, &now, err) != SF_OK)
            return SF_ERR;
        if (now != SF_STATUS_STOPPED)
            return sf_error_set(err, "stopped-precondition-failed", "",
                                "load %s into %s: the canister is %s, not "
                                "stopped", snapshot_id, id,
                                sf_canister_status_name(now));
        {
            /* write-ahead: once a load may have happened, containment
             * leaves this canister to the operator */
            sf_obs_canister *c = sf_obs_get(&e->obs, id);

            if (c == NULL)
                return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            if (!c->load_issued) {
                c->load_issued = true;
                if (sf_engine_save(e, id, err) != SF_OK)
                    return SF_ERR;
            }
        }
        rc = sf_engine_call(e, &op, &res, &fail, err);
        sf_result_free(&res);
        if (rc == SF_OK)
            return SF_OK;
        if (fail == SF_FAIL_PERMANENT || fail == SF_FAIL_TRANSIENT) {
            /* refused, so nothing was loaded: containment may restart it */
            sf_obs_canister *c = sf_obs_find(&e->obs, id);
            sf_error ignored;

            if (c != NULL && c->load_issued) {
                c->load_issued = false;
                sf_engine_save(e, id, &ignored);
            }
            return SF_ERR;
        }
        /* loading the same snapshot into a canister that is still stopped
         * gives the same state again, so one repeat is safe */
        if (fail != SF_FAIL_UNKNOWN)
            return SF_ERR;
    }
    return SF_ERR;
}

static int download_once(sf_engine *e, const char *id, const char *snapshot_id,
                         const char *dir, bool resume, sf_error *err)
{
    sf_result res;
    sf_fail_class fail;
    sf_op op;
    int rc;

    if (!resume && sf_remove_tree(dir, err) != SF_OK)
        return SF_ERR;
    if (sf_fs_mkdir_p(dir, err) != SF_OK)
        return SF_ERR;
    if (sf_op_init(&op, SF_OP_DOWNLOAD, id, snapshot_id, dir, err) != SF_OK)
        return SF_ERR;
    op.resume = resume;
    rc = sf_engine_call(e, &op, &res, &fail, err);
    sf_result_free(&res);
    return rc;
}

#define TRANSFER_ATTEMPTS 3

/* The facts a download carries, checked before it is accepted: the sizes
 * metadata.json gives, the module's SHA-256 against the module hash the
 * canister reported when it was stopped, every listed chunk present. A
 * mismatch is a transfer failure: fetched again from scratch, and after
 * TRANSFER_ATTEMPTS a permanent error naming the file and both values. */
static int download_checked(sf_engine *e, const char *id,
                            const char *snapshot_id, const char *dir,
                            bool resume, sf_error *err)
{
    const sf_obs_canister *c = sf_obs_find(&e->obs, id);
    const char *module_hash = c != NULL ? c->module_hash : NULL;
    char why[sizeof err->message], field[sizeof err->field];
    int attempt;

    for (attempt = 1;; attempt++) {
        size_t removed = 0;

        if (download_once(e, id, snapshot_id, dir, resume, err) != SF_OK)
            return SF_ERR;
        if (sf_snapshot_dir_check(dir, module_hash, err) == SF_OK)
            return SF_OK;
        if (err->kind != NULL && (strcmp(err->kind, SF_EK_NOMEM) == 0 ||
                                  strcmp(err->kind, SF_EK_IO) == 0))
            return SF_ERR;
        if (attempt == TRANSFER_ATTEMPTS)
            break;
        snprintf(why, sizeof why, "%s", err->message);
        /* a chunk that is not what its name says (icp writes chunks in
         * place, a kill leaves a short one, and a resume skips any chunk
         * file that exists): removed, and the resume fetches it again */
        if (strncmp(err->field, SF_SNAPSHOT_CHUNKS_DIR_NAME "/",
                    sizeof SF_SNAPSHOT_CHUNKS_DIR_NAME) == 0 &&
            sf_snapshot_chunks_repair(dir, &removed, err) != SF_OK)
            return SF_ERR;
        sf_engine_say(e, "download %s %s: %s; %s", id, snapshot_id, why,
                      removed ? "removed, resuming" : "downloading again");
        resume = removed > 0;
    }
    snprintf(why, sizeof why, "%s", err->message);
    snprintf(field, sizeof field, "%s", err->field);
    return sf_error_set(err, "snapshot-content-mismatch", field, "snapshot %s "
                        "of %s, after %d downloads: %s", snapshot_id, id,
                        attempt, why);
}

int sf_engine_download(sf_engine *e, const char *id, const char *snapshot_id,
                       const char *dir, bool resume, sf_error *err)
{
    char a[SF_SHA256_HEX_SIZE], b[SF_SHA256_HEX_SIZE], *second;
    int attempt, rc = SF_ERR;

    second = malloc(strlen(dir) + sizeof ".verify");
    if (second == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sprintf(second, "%s.verify", dir);
    if (resume) {
        /* icp resumes from the metadata.json it finds: a directory left by
         * a download of another snapshot would mix the two */
        bool same;

        if (sf_engine_tmp_describes(e, id, snapshot_id, dir, &same, err) != SF_OK)
            goto out;
        if (!same)
            sf_engine_say(e, "download %s %s: %s holds another snapshot's "
                          "download; starting clean", id, snapshot_id, dir);
        resume = same;
    }
    if (download_checked(e, id, snapshot_id, dir, resume, err) != SF_OK)
        goto out;
    if (!e->verify_transfer) {
        rc = SF_OK;
        goto out;
    }
    for (attempt = 1; ; attempt++) {
        if (download_once(e, id, snapshot_id, second, false, err) != SF_OK ||
            sf_checksum_path(dir, a, err) != SF_OK ||
            sf_checksum_path(second, b, err) != SF_OK)
            break;
        if (strcmp(a, b) == 0) {
            rc = sf_remove_tree(second, err);
            break;
        }
        if (attempt == TRANSFER_ATTEMPTS) {
            sf_error_set(err, "transfer-mismatch", "", "snapshot %s of %s: "
                         "two downloads disagree (%s vs %s) after %d attempts",
                         snapshot_id, id, a, b, attempt);
            break;
        }
        /* which copy is wrong is unknown: fetch both again */
        if (download_checked(e, id, snapshot_id, dir, false, err) != SF_OK)
            break;
    }
out:
    {
        /* the second copy (or one a failed run left) never outlives this */
        sf_error ignored;
        sf_remove_tree(second, &ignored);
    }
    free(second);
    return rc;
}

static bool exists(const char *p)
{
    struct stat st;
    return p != NULL && lstat(p, &st) == 0;
}

int sf_engine_publish(const char *temp_path, const char *final_path,
                      const char *checksum, sf_error *err)
{
    char sum[SF_SHA256_HEX_SIZE];

    if (exists(final_path)) {
        if (sf_checksum_path(final_path, sum, err) != SF_OK)
            return SF_ERR;
        if (strcmp(sum, checksum) != 0)
            return sf_error_set(err, SF_EK_IO, "", "artifact path already "
                                "exists with other contents: %s", final_path);
        if (exists(temp_path) && sf_remove_tree(temp_path, err) != SF_OK)
            return SF_ERR;
        return SF_OK;
    }
    if (!exists(temp_path))
        return sf_error_set(err, "missing-artifact-entry", "", "neither the "
                            "temporary nor the final artifact exists: %s",
                            final_path);
    /* through the storage seam: the rename and its directory's sync are a
     * durable write like any document's, so crash injection counts it and
     * the simulated disk decides what a crash keeps */
    return sf_fs_rename_durable(temp_path, final_path, err);
}

static int copy_file(int from_dir, int to_dir, const char *name, sf_error *err)
{
    char buf[1 << 16];
    /* non-blocking, and the type checked on the descriptor: an entry
     * swapped for a FIFO after the caller's fstatat never hangs the copy */
    int in = openat(from_dir, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    int out, rc = SF_OK;
    struct stat st;
    ssize_t n;

    if (in < 0)
        return sf_error_set_errno(err, errno, "", "cannot open %s", name);
    if (fstat(in, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(in);
        return sf_error_set(err, "unsupported-file-type", "", "%s is no longer "
                            "a regular file", name);
    }
    out = openat(to_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                 0600);
    if (out < 0) {
        close(in);
        return sf_error_set_errno(err, errno, "", "cannot create %s", name);
    }
    while ((n = read(in, buf, sizeof buf)) > 0) {
        char *p = buf;
        while (n > 0) {
            ssize_t w = write(out, p, (size_t)n);
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = sf_error_set_errno(err, errno, "", "cannot write %s", name);
                goto done;
            }
            p += w;
            n -= w;
        }
    }
    if (n < 0)
        rc = sf_error_set_errno(err, errno, "", "cannot read %s", name);
done:
    close(in);
    if (close(out) != 0 && rc == SF_OK)
        rc = sf_error_set_errno(err, errno, "", "cannot write %s", name);
    return rc;
}

static int copy_tree(int from, int to, int depth, sf_error *err)
{
    DIR *d;
    struct dirent *de;
    int rc = SF_OK;

    if (depth > SF_CHECKSUM_MAX_DEPTH)
        return sf_error_set(err, SF_EK_IO, "", "artifact nested too deep");
    d = fdopendir(dup(from));
    if (d == NULL)
        return sf_error_set_errno(err, errno, "", "cannot read directory");
    while (rc == SF_OK && (de = readdir(d)) != NULL) {
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (fstatat(from, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = sf_error_set_errno(err, errno, "", "cannot stat %s", de->d_name);
        } else if (S_ISDIR(st.st_mode)) {
            int a, b;

            if (mkdirat(to, de->d_name, 0700) != 0) {
                rc = sf_error_set_errno(err, errno, "", "cannot create %s",
                                        de->d_name);
                break;
            }
            a = openat(from, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            b = openat(to, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (a < 0 || b < 0)
                rc = sf_error_set_errno(err, errno, "", "cannot open %s", de->d_name);
            else
                rc = copy_tree(a, b, depth + 1, err);
            if (a >= 0)
                close(a);
            if (b >= 0)
                close(b);
        } else if (S_ISREG(st.st_mode)) {
            rc = copy_file(from, to, de->d_name, err);
        } else {
            rc = sf_error_set(err, S_ISLNK(st.st_mode) ? "symlink-refused"
                                                       : "unsupported-file-type",
                              "", "artifact holds %s, which is not a regular file "
                              "or directory", de->d_name);
        }
    }
    closedir(d);
    return rc;
}

int sf_stage_artifact(const char *src, const char *dst, const char *checksum,
                      sf_error *err)
{
    char sum[SF_SHA256_HEX_SIZE];
    int from, to, rc;

    if (sf_remove_tree(dst, err) != SF_OK || sf_fs_mkdir_p(dst, err) != SF_OK)
        return SF_ERR;
    from = open(src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (from < 0)
        return sf_error_set_errno(err, errno, "", "cannot open artifact %s", src);
    to = open(dst, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (to < 0) {
        close(from);
        return sf_error_set_errno(err, errno, "", "cannot open %s", dst);
    }
    rc = copy_tree(from, to, 0, err);
    close(from);
    close(to);
    if (rc != SF_OK)
        return sf_error_prefix(err, "staging %s: ", src);
    /* the copy is what gets uploaded, so the copy is what must match */
    if (sf_checksum_dir(dst, sum, err) != SF_OK)
        return SF_ERR;
    if (strcmp(sum, checksum) != 0)
        return sf_error_set(err, "checksum-mismatch", "", "artifact %s does not "
                            "match the manifest: checksum mismatch: expected "
                            "%s, actual %s", src, checksum, sum);
    return SF_OK;
}
