/*
 * canic's snapshot download pipeline (spec 5.7), made resumable: the
 * download journal already says how far each artifact got, so a rerun
 * continues each target from its state instead of starting over.
 */
#include "snapfleet/backup.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/backup_log.h"
#include "engine/engine.h"
#include "engine/manifest_build.h"
#include "engine/pool.h"
#include "engine/walk.h"
#include "base/posmap.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/text.h"
#include "snapfleet/topology.h"

#define PLACEHOLDER_SNAPSHOT "<snapshot-id>"

typedef struct run {
    const sf_snapshot_download_config *cfg;
    sf_engine e;
    sf_download_journal j;
    char *journal_path;
    char backup_id[512];
    sf_snapshot_download_result *result;
    /* the transition log (docs/transition-log.md): the download journal
     * and the observations are its checkpoints */
    sf_runlog *rl;
    sf_backup_docs docs;
    sf_exec_journal no_j; /* a download has no execution journal */
    bool have_j, have_dj;
} run;

void sf_snapshot_download_result_free(sf_snapshot_download_result *r)
{
    size_t i;

    for (i = 0; i < r->artifact_count; i++) {
        free(r->artifacts[i].canister_id);
        free(r->artifacts[i].snapshot_id);
        free(r->artifacts[i].path);
        free(r->artifacts[i].checksum);
    }
    free(r->artifacts);
    sf_buf_free(&r->planned_commands);
    memset(r, 0, sizeof *r);
}

static int add_artifact(sf_snapshot_download_result *r, const char *id,
                        const char *snap, const char *path, const char *sum,
                        sf_error *err)
{
    sf_snapshot_artifact *grown, *a;

    grown = realloc(r->artifacts, (r->artifact_count + 1) * sizeof *grown);
    if (grown == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    r->artifacts = grown;
    a = &r->artifacts[r->artifact_count++];
    a->canister_id = strdup(id);
    a->snapshot_id = strdup(snap);
    a->path = strdup(path);
    a->checksum = strdup(sum);
    if (!a->canister_id || !a->snapshot_id || !a->path || !a->checksum)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}

static void now_marker(const run *r, char out[32])
{
    sf_clock_marker(r->e.clock, out);
}

/* A checkpoint: the download journal (once it has an artifact, as
 * before the log) and the observations, whole. */
static int checkpoint(run *r, sf_error *err)
{
    return sf_backup_log_checkpoint(r->rl, NULL,
                                    r->j.artifact_count > 0 ? &r->j : NULL,
                                    &r->e.obs, err);
}

/* Records the journal's header (its metrics) and artifact a. */
static int write_journal(run *r, const sf_journal_artifact *a, sf_error *err)
{
    if (sf_backup_log_dj(r->rl, &r->j, a, err) != SF_OK)
        return SF_ERR;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

static int save_obs(void *ctx, const sf_obs_canister *c, sf_error *err)
{
    run *r = ctx;

    if (sf_backup_log_obs(r->rl, c, err) != SF_OK)
        return SF_ERR;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* Renders one planned command; the snapshot id may be the placeholder, so
 * the op is filled by hand rather than through sf_op_init's checks. */
static int plan_command(run *r, sf_op_kind kind, const char *id,
                        const char *snap, const char *path, sf_error *err)
{
    sf_op op;

    memset(&op, 0, sizeof op);
    op.kind = kind;
    snprintf(op.canister_id, sizeof op.canister_id, "%s", id);
    if (snap != NULL)
        snprintf(op.snapshot_id, sizeof op.snapshot_id, "%s", snap);
    if (path != NULL)
        snprintf(op.path, sizeof op.path, "%s", path);
    if (sf_driver_render(r->e.driver, &op, &r->result->planned_commands, err) != SF_OK)
        return SF_ERR;
    return sf_buf_putc(&r->result->planned_commands, '\n');
}

static int dry_run_target(run *r, const sf_target *t, const char *final_path,
                          sf_error *err)
{
    if (plan_command(r, SF_OP_STOP, t->canister_id, NULL, NULL, err) != SF_OK ||
        plan_command(r, SF_OP_CREATE, t->canister_id, NULL, NULL, err) != SF_OK ||
        plan_command(r, SF_OP_DOWNLOAD, t->canister_id, PLACEHOLDER_SNAPSHOT,
                     final_path, err) != SF_OK)
        return SF_ERR;
    if (r->cfg->resume_after_snapshot &&
        plan_command(r, SF_OP_START, t->canister_id, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    return add_artifact(r->result, t->canister_id, PLACEHOLDER_SNAPSHOT,
                        final_path, "<sha256>", err);
}

static bool path_exists(const char *p)
{
    return sf_walk_exists(p);
}

static int entry_index(const run *r, const char *id, size_t *out)
{
    const sf_journal_artifact *a = sf_download_journal_find_canister(&r->j, id);

    if (a == NULL)
        return SF_ERR;
    *out = (size_t)(a - r->j.artifacts);
    return SF_OK;
}

/* The body of one target (spec 5.7 step 5), continued from whatever state
 * the journal records for it. */
static int capture_body(run *r, const sf_target *t, const char *rel,
                        const char *temp, const char *final_path, sf_error *err)
{
    sf_download_metrics *m = &r->j.operation_metrics;
    sf_journal_artifact *a;
    char now[32], sum[SF_SHA256_HEX_SIZE];
    size_t idx;

    if (entry_index(r, t->canister_id, &idx) != SF_OK) {
        sf_journal_artifact fresh;
        sf_snapshot_info snap;

        if (sf_engine_stop(&r->e, t->canister_id, err) != SF_OK)
            return SF_ERR;
        m->snapshot_create_started++;
        if (sf_engine_create(&r->e, t->canister_id, &snap, err) != SF_OK)
            return SF_ERR;
        m->snapshot_create_completed++;
        if (snap.has_total_size)
            sf_progress_expect(r->e.progress, snap.total_size_bytes);
        now_marker(r, now);
        memset(&fresh, 0, sizeof fresh);
        fresh.canister_id = (char *)t->canister_id;
        fresh.snapshot_id = snap.id;
        fresh.state = SF_ARTIFACT_CREATED;
        fresh.artifact_path = (char *)rel;
        fresh.checksum_algorithm = (char *)"sha256";
        fresh.updated_at = now;
        if (sf_download_journal_append(&r->j, &fresh, err) != SF_OK ||
            write_journal(r, &r->j.artifacts[r->j.artifact_count - 1],
                          err) != SF_OK) /* W1 */
            return SF_ERR;
        if (entry_index(r, t->canister_id, &idx) != SF_OK)
            return sf_error_set(err, "internal", "", "journal entry vanished");
    }
    a = &r->j.artifacts[idx];
    if (a->state == SF_ARTIFACT_CREATED) {
        char *meta = sf_path_join(temp, "metadata.json");
        /* A temp directory holding metadata.json is an interrupted
         * download of this very snapshot: continue it rather than fetch
         * everything again. */
        bool resume = meta != NULL && path_exists(meta);
        int rc;

        free(meta);
        m->snapshot_download_started++;
        if (write_journal(r, a, err) != SF_OK) /* W2 */
            return SF_ERR;
        rc = sf_engine_download(&r->e, t->canister_id, a->snapshot_id, temp,
                                resume, err);
        if (rc != SF_OK && resume)
            rc = sf_engine_download(&r->e, t->canister_id, a->snapshot_id,
                                    temp, false, err);
        if (rc != SF_OK)
            return SF_ERR;
        a = &r->j.artifacts[idx];
        m->snapshot_download_completed++;
        now_marker(r, now);
        free(a->temp_path);
        a->temp_path = strdup(temp);
        if (a->temp_path == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        if (sf_artifact_advance_to(a, SF_ARTIFACT_DOWNLOADED, now, err) != SF_OK ||
            write_journal(r, a, err) != SF_OK) /* W3 */
            return SF_ERR;
    }
    if (a->state == SF_ARTIFACT_DOWNLOADED) {
        m->checksum_verify_started++;
        if (write_journal(r, a, err) != SF_OK) /* W4 */
            return SF_ERR;
        if (sf_checksum_path(a->temp_path, sum, err) != SF_OK)
            return SF_ERR;
        m->checksum_verify_completed++;
        now_marker(r, now);
        free(a->checksum);
        a->checksum = strdup(sum);
        if (a->checksum == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        if (sf_artifact_advance_to(a, SF_ARTIFACT_CHECKSUM_VERIFIED, now, err) != SF_OK ||
            write_journal(r, a, err) != SF_OK) /* W5 */
            return SF_ERR;
    }
    if (a->state == SF_ARTIFACT_CHECKSUM_VERIFIED) {
        m->artifact_finalize_started++;
        if (write_journal(r, a, err) != SF_OK) /* W6 */
            return SF_ERR;
        if (sf_engine_publish(a->temp_path, final_path, a->checksum, err) != SF_OK)
            return SF_ERR;
        m->artifact_finalize_completed++;
        now_marker(r, now);
        free(a->temp_path);
        a->temp_path = NULL;
        if (sf_artifact_advance_to(a, SF_ARTIFACT_DURABLE, now, err) != SF_OK ||
            write_journal(r, a, err) != SF_OK) /* W7 */
            return SF_ERR;
    }
    return add_artifact(r->result, t->canister_id, a->snapshot_id, final_path,
                        a->checksum, err);
}

static int capture(run *r, const sf_target *t, sf_error *err)
{
    char *rel = sf_safe_path_segment(t->canister_id), *temp = NULL;
    char *final_path = NULL, *tempname = NULL;
    int rc = SF_ERR;

    if (rel == NULL || (tempname = malloc(strlen(rel) + 5)) == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    sprintf(tempname, "%s.tmp", rel);
    final_path = sf_path_join(r->cfg->out, rel);
    temp = sf_path_join(r->cfg->out, tempname);
    if (final_path == NULL || temp == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (r->cfg->dry_run) {
        rc = dry_run_target(r, t, final_path, err);
        goto done;
    }
    rc = capture_body(r, t, rel, temp, final_path, err);
    if (r->cfg->resume_after_snapshot) {
        sf_error start_err;

        if (rc == SF_OK)
            rc = sf_engine_start(&r->e, t->canister_id, err);
        else
            sf_engine_start(&r->e, t->canister_id, &start_err); /* best effort */
    }
done:
    free(rel);
    free(tempname);
    free(final_path);
    free(temp);
    return rc;
}

/* ---- several targets at once (cfg.jobs > 1) ----
 * Targets are independent: up to cfg.jobs captures run as tasks of the
 * pool (pool.h), each its own sequential code. On a failure no capture
 * starts, those running end, and the first error is returned. */

typedef struct capture_task {
    run *r;
    const sf_target *t;
} capture_task;

static int capture_task_run(void *arg, sf_error *err)
{
    capture_task *c = arg;

    return capture(c->r, c->t, err);
}

/* The result's artifacts in target order, as one job lists them (the
 * tasks added them in the order they ended). */
static int order_artifacts(run *r, const sf_target *t, size_t n,
                           sf_error *err)
{
    sf_snapshot_download_result *res = r->result;
    sf_snapshot_artifact *sorted;
    sf_posmap by_id = {0};
    size_t i, k = 0;

    sorted = calloc(res->artifact_count ? res->artifact_count : 1,
                    sizeof *sorted);
    if (sorted == NULL || !sf_posmap_reserve(&by_id, res->artifact_count)) {
        free(sorted);
        sf_posmap_free(&by_id);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < res->artifact_count; i++)
        sf_posmap_insert(&by_id, sf_posmap_hash(res->artifacts[i].canister_id,
                                                NULL), i);
    for (i = 0; i < n; i++) {
        uint64_t h = sf_posmap_hash(t[i].canister_id, NULL);
        size_t cursor = 0, p;

        while ((p = sf_posmap_next(&by_id, h, &cursor)) != SIZE_MAX)
            if (strcmp(res->artifacts[p].canister_id, t[i].canister_id) == 0) {
                sorted[k++] = res->artifacts[p];
                break;
            }
    }
    sf_posmap_free(&by_id);
    free(res->artifacts);
    res->artifacts = sorted;
    res->artifact_count = k;
    return SF_OK;
}

/* What capture_all's scheduler starts: the targets in order, as the pool
 * has room. */
typedef struct capture_fill_ctx {
    run *r;
    const sf_target *t;
    size_t n, next;
    capture_task *tasks;
    sf_pool *pool;
} capture_fill_ctx;

static int capture_fill(void *ctx, sf_error *err)
{
    capture_fill_ctx *c = ctx;

    while (c->next < c->n && sf_pool_has_room(c->pool) && !sf_pool_failed(c->pool)) {
        c->tasks[c->next].r = c->r;
        c->tasks[c->next].t = &c->t[c->next];
        if (sf_pool_spawn(c->pool, capture_task_run, &c->tasks[c->next++], err) != SF_OK)
            return SF_ERR; /* not reached: the pool has room */
    }
    return SF_OK;
}

static int capture_all(run *r, const sf_target *t, size_t n, sf_error *err)
{
    capture_task *tasks;
    capture_fill_ctx fill;
    sf_pool *pool;
    size_t i;
    int rc;

    if (r->cfg->jobs <= 1 || r->cfg->dry_run) {
        for (i = 0; i < n; i++)
            if (capture(r, &t[i], err) != SF_OK)
                return SF_ERR;
        return SF_OK;
    }
    if ((tasks = calloc(n ? n : 1, sizeof *tasks)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_pool_open(&pool, r->e.driver, r->cfg->jobs, err) != SF_OK) {
        free(tasks);
        return SF_ERR;
    }
    r->e.pool = pool;
    fill.r = r;
    fill.t = t;
    fill.n = n;
    fill.next = 0;
    fill.tasks = tasks;
    fill.pool = pool;
    rc = sf_pool_drive(pool, capture_fill, NULL, &fill, err);
    r->e.pool = NULL;
    sf_pool_close(pool);
    free(tasks);
    if (rc != SF_OK)
        return SF_ERR;
    return order_artifacts(r, t, n, err);
}

static int compare_roles(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int write_manifest(run *r, const sf_target *t, size_t n,
                          const char *discovery, const char *pre, sf_error *err)
{
    const sf_snapshot_download_config *cfg = r->cfg;
    const char *root = cfg->root != NULL ? cfg->root : cfg->canister;
    sf_mb_member *members = calloc(n ? n : 1, sizeof *members);
    char **names = calloc(n ? n : 1, sizeof *names);
    const char **roles = calloc(n ? n : 1, sizeof *roles);
    char **rels = calloc(n ? n : 1, sizeof *rels);
    char *path = sf_path_join(cfg->out, SF_MANIFEST_FILE_NAME);
    char created[32];
    size_t i, k, nroles = 0;
    sf_manifest m;
    sf_mb_header h;
    int rc = SF_ERR;

    memset(&m, 0, sizeof m);
    if (!members || !names || !roles || !rels || !path) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++) {
        const sf_snapshot_artifact *a = NULL;

        names[i] = sf_target_role_name(t, i, cfg->canister);
        rels[i] = sf_safe_path_segment(t[i].canister_id);
        if (names[i] == NULL || rels[i] == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        for (k = 0; k < r->result->artifact_count && a == NULL; k++)
            if (strcmp(r->result->artifacts[k].canister_id, t[i].canister_id) == 0)
                a = &r->result->artifacts[k];
        if (a == NULL) {
            sf_error_set(err, "missing-artifact", "", "no artifact for %s",
                         t[i].canister_id);
            goto done;
        }
        members[i].role = names[i];
        members[i].canister_id = t[i].canister_id;
        members[i].parent_canister_id = t[i].parent_canister_id;
        members[i].subnet_canister_id = cfg->include_children ? root : NULL;
        members[i].identity_mode = strcmp(t[i].canister_id, cfg->canister) == 0
                                       ? SF_MANIFEST_IDENTITY_FIXED
                                       : SF_MANIFEST_IDENTITY_RELOCATABLE;
        members[i].snapshot_id = a->snapshot_id;
        members[i].module_hash = t[i].module_hash;
        members[i].artifact_path = rels[i];
        members[i].checksum = a->checksum;
        roles[nroles++] = names[i];
    }
    /* de-duplicated and sorted byte-wise, as canic's BTreeSet */
    qsort(roles, nroles, sizeof *roles, compare_roles);
    for (i = 0, k = 0; i < nroles; i++)
        if (k == 0 || strcmp(roles[k - 1], roles[i]) != 0)
            roles[k++] = roles[i];
    nroles = k;
    if (cfg->created_at != NULL)
        snprintf(created, sizeof created, "%s", cfg->created_at);
    else
        now_marker(r, created);
    memset(&h, 0, sizeof h);
    h.backup_id = r->backup_id;
    h.created_at = created;
    h.tool_name = cfg->tool_name;
    h.tool_version = cfg->tool_version;
    h.environment = cfg->environment;
    h.root_canister = root;
    h.unit_id = "snapshot-selection";
    h.unit_kind = cfg->include_children ? SF_MANIFEST_UNIT_SUBTREE
                                        : SF_MANIFEST_UNIT_SINGLE;
    h.unit_roles = roles;
    h.unit_role_count = nroles;
    h.topology_hash_input = SF_TOPOLOGY_HASH_INPUT;
    h.discovery_topology_hash = discovery;
    h.pre_snapshot_topology_hash = pre;
    h.topology_hash = discovery;
    if (sf_manifest_build(&m, &h, members, n, err) != SF_OK)
        goto done;
    if (sf_manifest_write_file(path, &m, err) != SF_OK) {
        sf_error_prefix(err, "%s: ", path);
        goto done;
    }
    rc = SF_OK;
done:
    sf_manifest_free(&m);
    if (names != NULL)
        for (i = 0; i < n; i++)
            free(names[i]);
    if (rels != NULL)
        for (i = 0; i < n; i++)
            free(rels[i]);
    free(names);
    free(rels);
    free(roles);
    free(members);
    free(path);
    return rc;
}

static int resolve_targets(run *r, sf_target **t, size_t *n, char hash[65],
                           sf_error *err)
{
    const sf_snapshot_download_config *cfg = r->cfg;

    if (!cfg->include_children && !cfg->recursive) {
        *t = calloc(1, sizeof **t);
        if (*t == NULL || ((*t)->canister_id = strdup(cfg->canister)) == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        *n = 1;
        return sf_targets_topology_hash(cfg->canister, *t, 1, hash, err);
    }
    if (cfg->root == NULL)
        return sf_error_set(err, "missing-registry-source", "root",
                            "missing --root when using --include-children");
    return sf_engine_discover(&r->e, cfg->root, cfg->canister, cfg->recursive,
                              NULL, t, n, hash, err);
}

static int load_existing_journal(run *r, sf_error *err)
{
    sf_storage_kind k;

    if (sf_storage_kind_of(sf_fs_storage(), r->journal_path, &k, err) != SF_OK)
        return sf_walk_reword(err, "cannot stat", "cannot access");
    if (k == SF_STORAGE_ABSENT)
        return SF_OK;
    sf_download_journal_free(&r->j);
    if (sf_download_journal_read_file(r->journal_path, &r->j, err) != SF_OK)
        return sf_error_prefix(err, "%s: ", r->journal_path);
    r->have_dj = true;
    if (strcmp(r->j.backup_id, r->backup_id) != 0)
        return sf_error_set(err, "backup-id-mismatch", "backup_id", "%s belongs "
                            "to backup %s, not %s", r->journal_path,
                            r->j.backup_id, r->backup_id);
    return SF_OK;
}

/* Opens (recovering) the transition log, then checks the journal as it
 * stands belongs to this download and this tree. */
static int open_log(run *r, const char *discovery, sf_error *err)
{
    r->docs.j = &r->no_j;
    r->docs.have_j = &r->have_j;
    r->docs.dj = &r->j;
    r->docs.have_dj = &r->have_dj;
    r->docs.obs = &r->e.obs;
    if (sf_runlog_open(&r->rl, r->cfg->out, SF_TRANSITION_LOG_FILE_NAME,
                       r->backup_id, sf_backup_log_docs, 3,
                       sf_backup_log_apply, &r->docs, err) != SF_OK)
        return SF_ERR;
    r->e.save_one = save_obs;
    r->e.save_ctx = r;
    if (!r->have_dj)
        return SF_OK;
    if (sf_download_journal_validate(&r->j, err) != SF_OK)
        return sf_error_prefix(err, "%s with its transition log replayed: ",
                               r->journal_path);
    if (strcmp(r->j.backup_id, r->backup_id) != 0)
        return sf_error_set(err, "backup-id-mismatch", "backup_id", "%s belongs "
                            "to backup %s, not %s", r->journal_path,
                            r->j.backup_id, r->backup_id);
    if (r->j.discovery_topology_hash == NULL ||
        strcmp(r->j.discovery_topology_hash, discovery) != 0)
        return sf_error_set(err, "topology-changed", "discovery_topology_hash",
                            "topology changed since the interrupted run: "
                            "journal=%s, now=%s",
                            r->j.discovery_topology_hash
                                ? r->j.discovery_topology_hash : "null",
                            discovery);
    r->result->resumed = true;
    return SF_OK;
}

int sf_snapshot_download(const sf_snapshot_download_config *cfg_in,
                         sf_driver *driver, const sf_clock *clock,
                         sf_snapshot_download_result *result, sf_error *err)
{
    sf_snapshot_download_config cfg = *cfg_in;
    run r;
    sf_lock lock = SF_LOCK_INIT;
    sf_target *t = NULL, *t2 = NULL;
    size_t n = 0, n2 = 0, i;
    char discovery[65], pre[65];
    int rc = SF_ERR, engine_open = 0, room;

    memset(result, 0, sizeof *result);
    sf_buf_init(&result->planned_commands);
    memset(&r, 0, sizeof r);
    if (cfg.jobs > SF_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "jobs", "--jobs takes 1 to %d, "
                            "not %u", SF_JOBS_MAX, cfg.jobs);
    if (cfg.recursive)
        cfg.include_children = true;
    r.cfg = &cfg;
    r.result = result;
    sf_download_journal_init(&r.j);
    if (cfg.backup_id != NULL) {
        snprintf(r.backup_id, sizeof r.backup_id, "%s", cfg.backup_id);
    } else {
        char *copy = strdup(cfg.out);
        if (copy == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        snprintf(r.backup_id, sizeof r.backup_id, "%s", basename(copy));
        free(copy);
    }
    if (!cfg.dry_run && sf_lock_acquire(cfg.out, &lock, err) != SF_OK)
        goto done;
    if (!cfg.dry_run) {
        char *plan = sf_path_join(cfg.out, SF_PLAN_FILE_NAME);
        bool planned = sf_walk_exists(plan);

        free(plan);
        if (planned) {
            /* a planned backup's directory is the runner's to finish */
            sf_error_set(err, "not-a-download-layout", "", "%s holds a backup "
                         "plan: resume it with `snapfleet backup`, or use "
                         "another --out", cfg.out);
            goto done;
        }
    }
    /* A dry run touches no file: the engine reads no observations. */
    if (sf_engine_open(&r.e, driver, clock, cfg.dry_run ? "/nonexistent-dry-run"
                       : cfg.out, cfg.log, err) != SF_OK)
        goto done;
    engine_open = 1;
    r.e.verify_transfer = cfg.verify_transfer;
    r.e.progress = cfg.progress;
    r.journal_path = sf_path_join(cfg.out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    if (r.journal_path == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (resolve_targets(&r, &t, &n, discovery, err) != SF_OK)
        goto done;
    if (cfg.dry_run) {
        memcpy(pre, discovery, sizeof pre);
    } else {
        if (load_existing_journal(&r, err) != SF_OK ||
            open_log(&r, discovery, err) != SF_OK)
            goto done;
        /* Second look right before the first stop: fail closed on any
         * difference, before anything was changed. */
        if (resolve_targets(&r, &t2, &n2, pre, err) != SF_OK)
            goto done;
        if (strcmp(discovery, pre) != 0) {
            sf_error_set(err, "topology-changed", "", "topology changed before "
                         "snapshot start: discovery=%s, pre_snapshot=%s",
                         discovery, pre);
            goto done;
        }
        if (!result->resumed) {
            r.j.journal_version = 1;
            r.j.backup_id = strdup(r.backup_id);
            r.j.discovery_topology_hash = strdup(discovery);
            r.j.pre_snapshot_topology_hash = strdup(pre);
            if (!r.j.backup_id || !r.j.discovery_topology_hash ||
                !r.j.pre_snapshot_topology_hash) {
                sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
                goto done;
            }
        }
        r.j.operation_metrics.target_count = n;
        if (cfg.snapshot_limit != 0) {
            /* before the first stop: room for every create */
            char **ids = calloc(n ? n : 1, sizeof *ids);
            if (ids == NULL) {
                sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
                goto done;
            }
            for (i = 0; i < n; i++)
                ids[i] = t[i].canister_id;
            room = sf_engine_make_room(&r.e, cfg.root_dir, cfg.out, ids, n,
                                       cfg.snapshot_limit, err);
            free(ids);
            if (room != SF_OK)
                goto done;
        }
    }
    if (capture_all(&r, t, n, err) != SF_OK)
        goto done;
    /* before finalize: the journal a manifest stands on is whole */
    if (!cfg.dry_run && (checkpoint(&r, err) != SF_OK ||
                         write_manifest(&r, t, n, discovery, pre, err) != SF_OK))
        goto done;
    if (!cfg.dry_run && cfg.retain_on_canister) {
        char **ids = calloc(n ? n : 1, sizeof *ids);
        if (ids == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        for (i = 0; i < n; i++)
            ids[i] = t[i].canister_id;
        rc = sf_engine_retain_run(&r.e, cfg.root_dir, cfg.out, ids, n,
                                  cfg.keep_on_canister, err);
        free(ids);
        if (rc != SF_OK)
            goto done;
    }
    rc = SF_OK;
done:
    if (rc != SF_OK && engine_open && !cfg.dry_run && cfg.resume_after_snapshot) {
        sf_error contain_err;
        sf_engine_contain(&r.e, &contain_err);
    }
    if (r.rl != NULL) {
        /* every exit leaves the documents whole */
        sf_error cp_err;

        if (checkpoint(&r, &cp_err) != SF_OK) {
            if (rc == SF_OK) {
                *err = cp_err;
                rc = SF_ERR;
            } else {
                sf_error_prefix(err, "(the checkpoint also failed: %s) ",
                                cp_err.message);
            }
        }
        sf_runlog_close(r.rl);
    }
    if (engine_open)
        sf_engine_close(&r.e);
    sf_targets_free(t, n);
    sf_targets_free(t2, n2);
    sf_download_journal_free(&r.j);
    free(r.journal_path);
    sf_lock_release(&lock);
    if (rc != SF_OK) {
        sf_buf planned = result->planned_commands;
        sf_buf_init(&result->planned_commands);
        sf_snapshot_download_result_free(result);
        sf_buf_free(&planned);
    }
    return rc;
}
