#include "engine/engine.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/pool.h"
#include "engine/walk.h"
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
static bool not_snapshot_bytes(const char *name, int depth)
{
    return name[0] == '.' || (depth == 0 && strcmp(name, "metadata.json") == 0);
}

uint64_t sf_engine_transfer_bytes(const char *dir)
{
    uint64_t n = 0;

    /* a progress figure: a shortage counts what was counted before it */
    sf_walk_bytes(dir, 8, not_snapshot_bytes, &n, NULL);
    return n;
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

static int sync_tree(const char *path, int depth, sf_error *err);

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
    /* the journal says "downloaded" next (write-ahead): what icp wrote,
     * unsynced, must be on the disk first, or a crash keeps the record
     * and empties the files it speaks of */
    if (rc == SF_OK)
        rc = sync_tree(dir, 0, err);
    return rc;
}

static bool exists(const char *p)
{
    return sf_walk_exists(p);
}

/* Makes the tree at path durable before it is published: every regular
 * file synced (data and length), every directory synced after what it
 * holds, bottom-up, as canic's artifact_commit does. icp syncs nothing it
 * writes, and after a crash a published artifact must hold what its
 * checksum says, not files a power loss emptied. */
static int sync_file(const char *p, sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_storage_file *f = NULL;
    int rc;

    /* read-only is enough to sync (and a file icp left read-only is
     * synced too); the seam's READ open never blocks on a FIFO */
    rc = sf_storage_open(st, p, SF_STORAGE_READ, &f, err);
    if (rc == SF_OK)
        rc = sf_storage_sync(st, f, SF_STORAGE_SYNC_DATA, err);
    if (sf_storage_close(st, &f, rc == SF_OK ? err : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

static int sync_tree(const char *path, int depth, sf_error *err)
{
    sf_walk_dir d;
    sf_storage_kind k;
    size_t i;
    int rc = SF_OK;

    if (depth > SF_CHECKSUM_MAX_DEPTH)
        return sf_error_set(err, SF_EK_IO, "", "artifact nested too deep");
    if (sf_storage_kind_of(sf_fs_storage(), path, &k, err) != SF_OK)
        return SF_ERR;
    if (k == SF_STORAGE_REGULAR)
        return sync_file(path, err);
    if (k != SF_STORAGE_DIRECTORY)
        return SF_OK; /* the checksum refuses what is neither */
    if (sf_walk_read(path, &d, err) != SF_OK)
        return SF_ERR;
    for (i = 0; rc == SF_OK && i < d.n; i++) {
        char *p;

        if (d.v[i].kind != SF_STORAGE_REGULAR &&
            d.v[i].kind != SF_STORAGE_DIRECTORY)
            continue;
        if ((p = sf_path_join(path, d.v[i].name)) == NULL)
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        else
            rc = sync_tree(p, depth + 1, err);
        free(p);
    }
    sf_walk_dir_free(&d);
    if (rc == SF_OK)
        rc = sf_storage_sync_dir(sf_fs_storage(), path, err);
    return rc;
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
    if (sync_tree(temp_path, 0, err) != SF_OK)
        return SF_ERR;
    /* through the storage seam: the rename and its directory's sync are a
     * durable write like any document's, so crash injection counts it and
     * the simulated disk decides what a crash keeps */
    return sf_fs_rename_durable(temp_path, final_path, err);
}

/* The seam's message "<verb> <path>: reason" as the copy always told it,
 * "<as> <name>: reason". */
static int name_it(sf_error *err, const char *verb, const char *path,
                   const char *as, const char *name)
{
    char was[SF_ERROR_MESSAGE_MAX];

    snprintf(was, sizeof was, "%s %s", verb, path);
    return sf_walk_reword(err, was, "%s %s", as, name);
}

/* Copies the regular file from/name to to/name (created, never there
 * before). The seam's READ open refuses anything but a regular file
 * without blocking: an entry swapped for a FIFO after the listing never
 * hangs the copy. */
static int copy_file(const char *a, const char *b, const char *name,
                     sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    char buf[1 << 16];
    sf_storage_file *in = NULL, *out = NULL;
    sf_storage_kind k;
    uint64_t off = 0;
    size_t got;
    int rc = SF_ERR;

    if (sf_storage_open(st, a, SF_STORAGE_READ, &in, err) != SF_OK) {
        if (sf_storage_kind_of(st, a, &k, NULL) == SF_OK &&
            k != SF_STORAGE_REGULAR && k != SF_STORAGE_ABSENT)
            return sf_error_set(err, "unsupported-file-type", "", "%s is no "
                                "longer a regular file", name);
        return name_it(err, "cannot open", a, "cannot open", name);
    }
    if (sf_storage_open(st, b, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                        SF_STORAGE_EXCL, &out, err) != SF_OK) {
        name_it(err, "cannot open", b, "cannot create", name);
        goto done;
    }
    do {
        if (sf_storage_read(st, in, off, buf, sizeof buf, &got, err) != SF_OK) {
            name_it(err, "cannot read", a, "cannot read", name);
            goto done;
        }
        if (got > 0 && sf_storage_write(st, out, off, buf, got, err) != SF_OK) {
            name_it(err, "cannot write", b, "cannot write", name);
            goto done;
        }
        off += got;
    } while (got == sizeof buf);
    /* the upload that follows, and a resumed one after a crash, read the
     * copy as verified: its bytes must be on the disk first */
    if (sf_storage_sync(st, out, SF_STORAGE_SYNC_DATA, err) != SF_OK) {
        name_it(err, "cannot write", b, "cannot write", name);
        goto done;
    }
    rc = SF_OK;
done:
    sf_storage_close(st, &in, NULL);
    if (out != NULL && sf_storage_close(st, &out, rc == SF_OK ? err : NULL) !=
                           SF_OK && rc == SF_OK)
        rc = name_it(err, "cannot write", b, "cannot write", name);
    return rc;
}

static int copy_tree(const char *from, const char *to, int depth,
                     sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_walk_dir d;
    size_t i;
    int rc = SF_OK;

    if (depth > SF_CHECKSUM_MAX_DEPTH)
        return sf_error_set(err, SF_EK_IO, "", "artifact nested too deep");
    if (sf_walk_read(from, &d, err) != SF_OK)
        return name_it(err, "cannot read directory", from, "cannot read",
                       "directory");
    for (i = 0; rc == SF_OK && i < d.n; i++) {
        const sf_walk_entry *x = &d.v[i];
        char *a = sf_path_join(from, x->name), *b = sf_path_join(to, x->name);
        sf_storage_kind k = x->kind;

        if (a == NULL || b == NULL) {
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        } else if (k == SF_STORAGE_DIRECTORY) {
            if (sf_storage_mkdir(st, b, err) != SF_OK)
                rc = name_it(err, "cannot create directory", b, "cannot create",
                             x->name);
            else
                rc = copy_tree(a, b, depth + 1, err);
        } else if (k == SF_STORAGE_REGULAR) {
            rc = copy_file(a, b, x->name, err);
        } else {
            /* OTHER: a link, FIFO, device or socket; which one decides the
             * kind of the refusal */
            sf_storage_info info;
            bool link = sf_storage_info_of(st, a, &info, NULL) == SF_OK &&
                        info.other == SF_STORAGE_OTHER_SYMLINK;

            rc = sf_error_set(err, link ? "symlink-refused"
                                        : "unsupported-file-type",
                              "", "artifact holds %s, which is not a regular file "
                              "or directory", x->name);
        }
        free(a);
        free(b);
    }
    sf_walk_dir_free(&d);
    /* the names copied, durable as the bytes are */
    if (rc == SF_OK && sf_storage_sync_dir(st, to, err) != SF_OK)
        rc = SF_ERR;
    return rc;
}

/* Makes path's own name durable: a sync of the directory holding it. */
static int sync_parent(const char *path, sf_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    int rc;

    if (slash == NULL)
        return sf_storage_sync_dir(sf_fs_storage(), ".", err);
    if (slash == path)
        return sf_storage_sync_dir(sf_fs_storage(), "/", err);
    if ((dir = strndup(path, (size_t)(slash - path))) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_storage_sync_dir(sf_fs_storage(), dir, err);
    free(dir);
    return rc;
}

int sf_stage_artifact(const char *src, const char *dst, const char *checksum,
                      sf_error *err)
{
    char sum[SF_SHA256_HEX_SIZE];
    sf_storage_kind k;
    int rc;

    if (sf_remove_tree(dst, err) != SF_OK || sf_fs_mkdir_p(dst, err) != SF_OK)
        return SF_ERR;
    /* the source must be a directory of its own, never a link to one */
    if (sf_storage_kind_of(sf_fs_storage(), src, &k, err) != SF_OK)
        return name_it(err, "cannot stat", src, "cannot open artifact", src);
    if (k != SF_STORAGE_DIRECTORY) /* what open(O_DIRECTORY|O_NOFOLLOW) says */
        return sf_error_set_errno(err, k == SF_STORAGE_ABSENT ? ENOENT : ENOTDIR,
                                  "", "cannot open artifact %s", src);
    rc = copy_tree(src, dst, 0, err);
    if (rc == SF_OK)
        rc = sync_parent(dst, err);
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
