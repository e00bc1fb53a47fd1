/*
 * `backup`: canic's planned backup (spec sections 1-3). The plan fixes the
 * targets and the phase order; the execution journal records each
 * operation's state before and after its effect; the runner executes the
 * next ready operation until the journal is complete.
 *
 * Fixed here against canic 0.35.10: a rerun into the same directory
 * resumes; the lock is a kernel flock; every operation reconciles by
 * observation (a pending operation left by a crash is re-checked, not
 * replayed blindly); finalize is repeatable; a failure starts again the
 * canisters this run stopped (containment); a disconnected selection gets a
 * manifest unit that validates.
 */
#include "snapfleet/backup.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/posmap.h"
#include "engine/backup_log.h"
#include "engine/engine.h"
#include "engine/manifest_build.h"
#include "engine/pool.h"
#include "engine/stopped.h"
#include "engine/walk.h"
#include "snapfleet/checksum.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/plan.h"
#include "snapfleet/text.h"
#include "snapfleet/topology.h"

typedef struct runner {
    const sf_backup_config *cfg;
    sf_backup_result *result;
    sf_engine e;
    sf_plan plan;
    sf_exec_journal j;
    char *plan_path, *journal_path, *dj_path;
    int have_plan, have_journal;
    /* From the log's opening on, the download journal lives here and
     * every transition is a record of the log (docs/transition-log.md). */
    sf_runlog *rl;
    sf_download_journal dj;
    bool have_dj, have_j;
    size_t logged_receipts; /* receipts already in the log */
    sf_backup_docs docs;
} runner;

void sf_backup_result_free(sf_backup_result *r)
{
    free(r->plan_id);
    free(r->run_id);
    free(r->scope);
    free(r->stopped);
    sf_buf_free(&r->planned_commands);
    memset(r, 0, sizeof *r);
}

static void marker(const runner *r, char out[32])
{
    sf_clock_marker(r->e.clock, out);
}

static bool exists(const char *p)
{
    return sf_walk_exists(p);
}

static bool exists_in(const char *dir, const char *name)
{
    char *p = sf_path_join(dir, name);
    bool yes = p != NULL && exists(p);

    free(p);
    return yes;
}

/* The hash `backup create` takes: every registry entry, root included,
 * role or "" (spec 5.1). */
static int registry_hash(const sf_registry *reg, char out[65], sf_error *err)
{
    sf_topology_record *recs = calloc(reg->count ? reg->count : 1, sizeof *recs);
    size_t i;
    int rc;

    if (recs == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < reg->count; i++) {
        recs[i].pid = reg->entries[i].pid;
        recs[i].parent_pid = reg->entries[i].parent_pid;
        recs[i].role = reg->entries[i].role;
        recs[i].module_hash = reg->entries[i].module_hash;
    }
    rc = sf_topology_hash(recs, reg->count, out, err);
    free(recs);
    return rc;
}

static int read_registry(runner *r, sf_registry *reg, sf_error *err)
{
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int rc;

    memset(reg, 0, sizeof *reg);
    if (sf_op_init(&op, SF_OP_REGISTRY, r->cfg->root, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    rc = sf_engine_call(&r->e, &op, &res, &fail, err);
    if (rc == SF_OK) {
        *reg = res.registry;
        memset(&res.registry, 0, sizeof res.registry);
    }
    sf_result_free(&res);
    return rc;
}

static int create_plan(runner *r, sf_error *err)
{
    const sf_backup_config *cfg = r->cfg;
    sf_registry reg;
    sf_plan_input in;
    char hash[65], stamp[16], *safe = NULL, *plan_id = NULL, *run_id = NULL;
    char *selected = NULL;
    int rc = SF_ERR;

    if (read_registry(r, &reg, err) != SF_OK)
        return SF_ERR;
    if (registry_hash(&reg, hash, err) != SF_OK)
        goto done;
    safe = sf_file_safe_component(cfg->fleet);
    sf_utc_stamp(sf_clock_now_ms(r->e.clock) / 1000u, stamp);
    plan_id = malloc(strlen(safe ? safe : "") + 32);
    run_id = malloc(strlen(safe ? safe : "") + 32);
    if (safe == NULL || plan_id == NULL || run_id == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    sprintf(plan_id, "plan-%s-%s", safe, stamp);
    sprintf(run_id, "run-%s-%s", safe, stamp);
    memset(&in, 0, sizeof in);
    in.plan_id = plan_id;
    in.run_id = run_id;
    in.fleet = cfg->fleet;
    in.network = cfg->network;
    in.root_canister_id = cfg->root;
    if (cfg->include_root) {
        in.scope = SF_SCOPE_MAINTENANCE_ROOT;
        in.selected_canister_id = cfg->root;
        in.include_descendants = true;
    } else if (cfg->subtree != NULL) {
        if (sf_resolve_backup_selector(&reg, cfg->subtree, &selected, err) != SF_OK)
            goto done;
        in.scope = SF_SCOPE_SUBTREE;
        in.selected_canister_id = selected;
        in.include_descendants = true;
    } else {
        in.scope = SF_SCOPE_NON_ROOT_FLEET;
    }
    in.topology_hash_before_quiesce = hash;
    in.registry = &reg;
    /* canic records declared authority for dry runs and proven operator
     * control for executions (its preflight then proves it per target). */
    if (cfg->dry_run) {
        in.control_authority.kind = SF_CONTROL_ROOT_CONTROLLER;
        in.control_authority.evidence = SF_EVIDENCE_DECLARED;
        in.snapshot_read_authority.source = SF_READ_ROOT_CONFIGURED_READ;
        in.snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
        in.quiescence_policy = SF_QUIESCENCE_ROOT_COORDINATED;
    } else {
        in.control_authority.kind = SF_CONTROL_OPERATOR_CONTROLLER;
        in.control_authority.evidence = SF_EVIDENCE_PROVEN;
        in.snapshot_read_authority.source = SF_READ_OPERATOR_CONTROLLER;
        in.snapshot_read_authority.evidence = SF_EVIDENCE_PROVEN;
        in.quiescence_policy = SF_QUIESCENCE_CRASH_CONSISTENT;
    }
    in.identity_mode = SF_IDENTITY_RELOCATABLE;
    in.schedule = cfg->schedule == SF_BACKUP_PER_CANISTER
                      ? SF_SCHEDULE_PER_CANISTER : SF_SCHEDULE_FLEET;
    in.include_starts = !cfg->leave_stopped;
    if (sf_plan_build(&in, &r->plan, err) != SF_OK)
        goto done;
    r->have_plan = 1;
    if (sf_exec_journal_from_plan(&r->plan, &r->j, err) != SF_OK)
        goto done;
    r->have_journal = 1;
    if (sf_plan_write_file(r->plan_path, &r->plan, err) != SF_OK ||
        sf_exec_journal_write_file(r->journal_path, &r->j, err) != SF_OK)
        goto done;
    rc = SF_OK;
done:
    sf_registry_free(&reg);
    free(safe);
    free(plan_id);
    free(run_id);
    free(selected);
    return rc;
}

static int open_plan(runner *r, sf_error *err)
{
    sf_exec_integrity_report rep;
    int rc;

    if (sf_plan_read_file(r->plan_path, &r->plan, err) != SF_OK)
        return sf_error_prefix(err, "%s: ", r->plan_path);
    r->have_plan = 1;
    if (strcmp(r->plan.root_canister_id, r->cfg->root) != 0 ||
        strcmp(r->plan.network, r->cfg->network) != 0)
        return sf_error_set(err, "plan-mismatch", "root_canister_id", "%s holds "
                            "a backup of root %s on %s, not of %s on %s",
                            r->cfg->out, r->plan.root_canister_id,
                            r->plan.network, r->cfg->root, r->cfg->network);
    if (!exists(r->journal_path)) {
        /* the plan landed and the journal did not (a crash between the
         * two writes): the journal is derived from the plan, as canic's
         * runner does */
        if (sf_exec_journal_from_plan(&r->plan, &r->j, err) != SF_OK)
            return SF_ERR;
        r->have_journal = 1;
        if (sf_exec_journal_write_file(r->journal_path, &r->j, err) != SF_OK)
            return SF_ERR;
    } else {
        if (sf_exec_journal_read_file(r->journal_path, &r->j, err) != SF_OK)
            return sf_error_prefix(err, "%s: ", r->journal_path);
        r->have_journal = 1;
    }
    rc = sf_verify_execution_integrity(&r->plan, &r->j, &rep, err);
    sf_exec_integrity_report_free(&rep);
    r->result->resumed = true;
    return rc;
}

/* Fail closed before the first stop if the tree moved since planning. */
static int check_topology(runner *r, sf_error *err)
{
    sf_registry reg;
    char hash[65];
    int rc;

    if (read_registry(r, &reg, err) != SF_OK)
        return SF_ERR;
    rc = registry_hash(&reg, hash, err);
    sf_registry_free(&reg);
    if (rc != SF_OK)
        return SF_ERR;
    if (strcmp(hash, r->plan.topology_hash_before_quiesce) != 0)
        return sf_error_set(err, "topology-preflight-hash-mismatch",
                            "topology_hash_before_quiesce", "topology preflight "
                            "hash drifted: plan=%s, now=%s; nothing was stopped",
                            r->plan.topology_hash_before_quiesce, hash);
    return SF_OK;
}

/* canic's CLI preflight: every target must show a controller list in its
 * status; then control and snapshot-read authority are proven by the
 * operator's own management access. */
/* A checkpoint: the three documents, whole and validated, from the state
 * in memory (before the log is open, the journal alone). */
static int checkpoint(runner *r, sf_error *err)
{
    if (r->rl == NULL)
        return sf_exec_journal_write_file(r->journal_path, &r->j, err);
    return sf_backup_log_checkpoint(r->rl, &r->j, r->have_dj ? &r->dj : NULL,
                                    &r->e.obs, err);
}

static int preflight(runner *r, sf_error *err)
{
    char now[32], preflight_id[600];
    size_t i;
    sf_control_authority control = {SF_CONTROL_OPERATOR_CONTROLLER, NULL, NULL,
                                     SF_EVIDENCE_PROVEN};
    sf_read_authority read = {SF_READ_OPERATOR_CONTROLLER, SF_EVIDENCE_PROVEN};

    for (i = 0; i < r->plan.target_count; i++) {
        const char *id = r->plan.targets[i].canister_id;
        sf_op op;
        sf_result res;
        sf_fail_class fail;
        int rc;

        if (sf_op_init(&op, SF_OP_STATUS, id, NULL, NULL, err) != SF_OK)
            return SF_ERR;
        rc = sf_engine_call(&r->e, &op, &res, &fail, err);
        if (rc == SF_OK && res.controller_count == 0)
            rc = sf_error_set(err, "unproven-control-authority", "", "canister "
                              "%s reports no controllers; cannot prove control",
                              id);
        sf_result_free(&res);
        if (rc != SF_OK)
            return sf_error_prefix(err, "backup preflight failed: ");
        if (sf_plan_set_target_authorities(&r->plan, i, &control, &read, err) != SF_OK)
            return SF_ERR;
    }
    /* What is proven is the operator's own control of every target; a plan
     * made by a dry run declared root control instead, and executing it
     * means acting with the authority actually proven. Its targets and
     * topology hash stay those of the dry run, so a tree that moved since
     * then is still refused. */
    r->plan.requires_root_controller = false;
    if (sf_plan_validate_for_execution(&r->plan, err) != SF_OK)
        return SF_ERR;
    if (sf_plan_write_file(r->plan_path, &r->plan, err) != SF_OK)
        return SF_ERR;
    marker(r, now);
    snprintf(preflight_id, sizeof preflight_id, "preflight-%s", r->plan.run_id);
    if (sf_exec_journal_accept_preflight_receipts_at(&r->j, r->plan.plan_id,
                                                     preflight_id, now, err) != SF_OK)
        return SF_ERR;
    /* every operation moved at once: a checkpoint rather than a record */
    return checkpoint(r, err);
}

/* Records operation seq's state and the receipts appended since the last
 * record; a checkpoint follows when one is due. */
static int write_journal(runner *r, uint64_t seq, sf_error *err)
{
    if (r->rl == NULL)
        return sf_exec_journal_write_file(r->journal_path, &r->j, err);
    if (sf_backup_log_exec(r->rl, &r->j, seq, r->logged_receipts, err) != SF_OK)
        return SF_ERR;
    r->logged_receipts = r->j.receipt_count;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* Records the download journal's header and artifact a. */
static int write_dj(runner *r, const sf_journal_artifact *a, sf_error *err)
{
    if (sf_backup_log_dj(r->rl, &r->dj, a, err) != SF_OK)
        return SF_ERR;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* The engine's observations, one canister per record. */
static int save_obs(void *ctx, const sf_obs_canister *c, sf_error *err)
{
    runner *r = ctx;

    if (sf_backup_log_obs(r->rl, c, err) != SF_OK)
        return SF_ERR;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* Opens (recovering) the transition log: the documents on disk are the
 * last checkpoints and the log's later records are replayed into them. */
static int open_log(runner *r, sf_error *err)
{
    sf_exec_integrity_report rep;
    int rc;

    sf_download_journal_init(&r->dj);
    if (exists(r->dj_path)) {
        if (sf_download_journal_read_file(r->dj_path, &r->dj, err) != SF_OK)
            return sf_error_prefix(err, "%s: ", r->dj_path);
        r->have_dj = true;
    }
    r->have_j = true;
    r->docs.j = &r->j;
    r->docs.have_j = &r->have_j;
    r->docs.dj = &r->dj;
    r->docs.have_dj = &r->have_dj;
    r->docs.obs = &r->e.obs;
    if (sf_runlog_open(&r->rl, r->cfg->out, SF_TRANSITION_LOG_FILE_NAME,
                       r->plan.run_id, sf_backup_log_docs, 3,
                       sf_backup_log_apply, &r->docs, err) != SF_OK)
        return SF_ERR;
    r->logged_receipts = r->j.receipt_count;
    r->e.save_one = save_obs;
    r->e.save_ctx = r;
    if (sf_exec_journal_validate(&r->j, err) != SF_OK)
        return sf_error_prefix(err, "%s with its transition log replayed: ",
                               r->journal_path);
    if (r->have_dj && sf_download_journal_validate(&r->dj, err) != SF_OK)
        return sf_error_prefix(err, "%s with its transition log replayed: ",
                               r->dj_path);
    if (r->have_dj && strcmp(r->dj.backup_id, r->plan.run_id) != 0)
        return sf_error_set(err, "backup-id-mismatch", "backup_id", "%s belongs "
                            "to backup %s, not to run %s", r->dj_path,
                            r->dj.backup_id, r->plan.run_id);
    rc = sf_verify_execution_integrity(&r->plan, &r->j, &rep, err);
    sf_exec_integrity_report_free(&rep);
    /* from here every change to the journal is a transition, which keeps
     * the index (the run loop's lookups and counts) up to date */
    if (rc == SF_OK)
        rc = sf_exec_journal_index(&r->j, err);
    return rc;
}

/* The download journal in memory; a fresh one (recorded by the first
 * artifact's record) unless it must exist. */
static int load_dj(runner *r, bool must_exist, sf_error *err)
{
    sf_download_journal *dj = &r->dj;

    if (r->have_dj)
        return SF_OK;
    if (must_exist)
        return sf_error_set(err, "missing-artifact-entry", "", "%s does not "
                            "exist yet", r->dj_path);
    sf_download_journal_free(dj);
    sf_download_journal_init(dj);
    dj->backup_id = strdup(r->plan.run_id);
    dj->discovery_topology_hash = strdup(r->plan.topology_hash_before_quiesce);
    dj->pre_snapshot_topology_hash = strdup(r->plan.topology_hash_before_quiesce);
    if (!dj->backup_id || !dj->discovery_topology_hash ||
        !dj->pre_snapshot_topology_hash)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}

static char *seg_path(runner *r, const char *id, const char *suffix)
{
    char *seg = sf_safe_path_segment(id), *name, *p;

    if (seg == NULL)
        return NULL;
    name = malloc(strlen(seg) + strlen(suffix) + 1);
    if (name == NULL) {
        free(seg);
        return NULL;
    }
    sprintf(name, "%s%s", seg, suffix);
    p = sf_path_join(r->cfg->out, name);
    free(seg);
    free(name);
    return p;
}

static int op_create(runner *r, const char *id, sf_exec_receipt *rec,
                     sf_error *err)
{
    sf_snapshot_info snap;
    sf_download_journal *dj = &r->dj;
    sf_journal_artifact *a;
    char now[32];
    int rc;

    /* A canister restarted by containment after an earlier failure must be
     * stopped again before its snapshot. */
    if (sf_engine_stop(&r->e, id, err) != SF_OK ||
        sf_engine_create(&r->e, id, &snap, err) != SF_OK)
        return SF_ERR;
    if (snap.has_total_size)
        sf_progress_expect(r->e.progress, snap.total_size_bytes);
    free(rec->snapshot_id);
    rec->snapshot_id = strdup(snap.id);
    rec->has_snapshot_taken_at_timestamp = snap.has_taken_at;
    rec->snapshot_taken_at_timestamp = snap.taken_at_timestamp;
    rec->has_snapshot_total_size_bytes = snap.has_total_size;
    rec->snapshot_total_size_bytes = snap.total_size_bytes;
    if (rec->snapshot_id == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (load_dj(r, false, err) != SF_OK)
        return SF_ERR;
    a = sf_download_journal_find(dj, id, snap.id);
    if (a == NULL) {
        sf_journal_artifact fresh;
        char *seg = sf_safe_path_segment(id);

        marker(r, now);
        memset(&fresh, 0, sizeof fresh);
        fresh.canister_id = (char *)id;
        fresh.snapshot_id = snap.id;
        fresh.state = SF_ARTIFACT_CREATED;
        fresh.artifact_path = seg;
        fresh.checksum_algorithm = (char *)"sha256";
        fresh.updated_at = now;
        rc = seg == NULL ? sf_error_set(err, SF_EK_NOMEM, "", "out of memory")
                         : sf_download_journal_append(dj, &fresh, err);
        free(seg);
        if (rc != SF_OK)
            return SF_ERR;
        dj->operation_metrics.target_count = dj->artifact_count;
        r->have_dj = true;
        a = &dj->artifacts[dj->artifact_count - 1];
    }
    return write_dj(r, a, err);
}

static const char *latest_snapshot(const runner *r, const char *id)
{
    const sf_exec_receipt *rc = sf_exec_journal_latest_snapshot(&r->j, id);

    return rc != NULL ? rc->snapshot_id : NULL;
}

static int op_download(runner *r, const sf_exec_operation *op,
                       sf_exec_receipt *rec, sf_error *err)
{
    const char *id = op->target_canister_id;
    const char *latest = latest_snapshot(r, id);
    sf_journal_artifact *a;
    /* a copy: with several jobs, the receipts and the artifacts may move
     * while the download runs (looked up again after it) */
    char snap[SF_SNAPSHOT_ID_MAX];
    char now[32], *temp = NULL, *meta = NULL;
    int rc = SF_ERR;

    if (latest == NULL)
        return sf_error_set(err, "missing-snapshot-id", "", "backup operation "
                            "%llu has no snapshot id for target %s",
                            (unsigned long long)op->sequence, id);
    if (strlen(latest) >= sizeof snap)
        return sf_error_set(err, "invalid-snapshot-id", "", "backup operation "
                            "%llu: snapshot id of %s is too long",
                            (unsigned long long)op->sequence, id);
    snprintf(snap, sizeof snap, "%s", latest);
    if (load_dj(r, true, err) != SF_OK)
        goto done;
    a = sf_download_journal_find(&r->dj, id, snap);
    if (a == NULL) {
        sf_error_set(err, "missing-artifact-entry", "", "backup operation %llu "
                     "has no artifact journal entry for target %s",
                     (unsigned long long)op->sequence, id);
        goto done;
    }
    if (a->state == SF_ARTIFACT_CREATED) {
        bool resume;

        temp = seg_path(r, id, ".tmp");
        meta = temp ? sf_path_join(temp, "metadata.json") : NULL;
        if (meta == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        /* an interrupted download of this snapshot is continued */
        resume = exists(meta);
        rc = sf_engine_download(&r->e, id, snap, temp, resume, err);
        if (rc != SF_OK && resume)
            rc = sf_engine_download(&r->e, id, snap, temp, false, err);
        if (rc != SF_OK)
            goto done;
        rc = SF_ERR;
        a = sf_download_journal_find(&r->dj, id, snap);
        marker(r, now);
        free(a->temp_path);
        a->temp_path = strdup(temp);
        if (a->temp_path == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (sf_artifact_advance_to(a, SF_ARTIFACT_DOWNLOADED, now, err) != SF_OK ||
            write_dj(r, a, err) != SF_OK)
            goto done;
    }
    free(rec->artifact_path);
    rec->artifact_path = strdup(a->artifact_path);
    rc = rec->artifact_path ? SF_OK
                            : sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
done:
    free(temp);
    free(meta);
    return rc;
}

static int op_verify(runner *r, const sf_exec_operation *op,
                     sf_exec_receipt *rec, sf_error *err)
{
    const char *id = op->target_canister_id;
    const char *snap = latest_snapshot(r, id);
    sf_journal_artifact *a;
    char now[32], sum[SF_SHA256_HEX_SIZE];
    int rc = SF_ERR;

    if (load_dj(r, true, err) != SF_OK)
        goto done;
    a = snap ? sf_download_journal_find(&r->dj, id, snap) : NULL;
    if (a == NULL || (a->state == SF_ARTIFACT_DOWNLOADED && a->temp_path == NULL) ||
        a->state == SF_ARTIFACT_CREATED) {
        sf_error_set(err, "missing-artifact-entry", "", "backup operation %llu "
                     "has no artifact journal entry for target %s",
                     (unsigned long long)op->sequence, id);
        goto done;
    }
    if (a->state == SF_ARTIFACT_DOWNLOADED) {
        if (sf_checksum_path(a->temp_path, sum, err) != SF_OK)
            goto done;
        marker(r, now);
        free(a->checksum);
        a->checksum = strdup(sum);
        if (a->checksum == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (sf_artifact_advance_to(a, SF_ARTIFACT_CHECKSUM_VERIFIED, now, err) != SF_OK ||
            write_dj(r, a, err) != SF_OK)
            goto done;
    }
    free(rec->checksum);
    rec->checksum = strdup(a->checksum);
    rc = rec->checksum ? SF_OK : sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
done:
    return rc;
}

/* The runner's manifest (spec 3.6), except the unit: canic puts every
 * target in one "subtree" unit, which fails validation when the selection
 * has several top canisters; a connected selection stays "subtree", any
 * other becomes "single", and roles are listed once. */
/* keys[pos] for a position held by a posmap: the position of key among
 * those inserted, SIZE_MAX if none. */
static size_t key_find(const sf_posmap *m, const char *const *keys,
                       const char *key)
{
    uint64_t h = sf_posmap_hash(key, NULL);
    size_t cursor = 0, p;

    while ((p = sf_posmap_next(m, h, &cursor)) != SIZE_MAX)
        if (strcmp(keys[p], key) == 0)
            return p;
    return SIZE_MAX;
}

static bool key_add(sf_posmap *m, const char *key, size_t pos)
{
    return sf_posmap_insert(m, sf_posmap_hash(key, NULL), pos);
}

static int build_manifest(runner *r, const sf_download_journal *dj,
                          sf_manifest *m, sf_error *err)
{
    const sf_plan *p = &r->plan;
    size_t n = p->target_count, na = dj->artifact_count, i, k, tops = 0,
           nroles = 0;
    sf_mb_member *members = calloc(n ? n : 1, sizeof *members);
    char **names = calloc(n ? n : 1, sizeof *names);
    const char **roles = calloc(n ? n : 1, sizeof *roles);
    /* by canister id: each target; each canister's first durable
     * artifact; each role listed (each a lookup instead of a scan) */
    const char **target_ids = calloc(n ? n : 1, sizeof *target_ids);
    const char **artifact_ids = calloc(na ? na : 1, sizeof *artifact_ids);
    sf_posmap by_target = {0}, durable = {0}, listed = {0};
    char created[32], input[600];
    sf_mb_header h;
    int rc = SF_ERR;

    if (!members || !names || !roles || !target_ids || !artifact_ids ||
        !sf_posmap_reserve(&by_target, n) || !sf_posmap_reserve(&durable, na) ||
        !sf_posmap_reserve(&listed, n)) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    /* (reserved: the insertions below cannot fail) */
    for (i = 0; i < n; i++) {
        target_ids[i] = p->targets[i].canister_id;
        if (key_find(&by_target, target_ids, target_ids[i]) == SIZE_MAX)
            key_add(&by_target, target_ids[i], i);
    }
    for (k = 0; k < na; k++) {
        artifact_ids[k] = dj->artifacts[k].canister_id;
        if (dj->artifacts[k].state == SF_ARTIFACT_DURABLE &&
            key_find(&durable, artifact_ids, artifact_ids[k]) == SIZE_MAX)
            key_add(&durable, artifact_ids[k], k);
    }
    for (i = 0; i < n; i++) {
        const sf_plan_target *t = &p->targets[i];
        const sf_journal_artifact *a = NULL;

        k = key_find(&durable, artifact_ids, t->canister_id);
        if (k != SIZE_MAX)
            a = &dj->artifacts[k];
        if (a == NULL) {
            sf_error_set(err, "missing-artifact-entry", "", "backup operation "
                         "18446744073709551615 has no artifact journal entry "
                         "for target %s", t->canister_id);
            goto done;
        }
        if (t->role != NULL) {
            names[i] = strdup(t->role);
        } else {
            names[i] = malloc(32);
            if (names[i] != NULL)
                snprintf(names[i], 32, "member-%zu", i);
        }
        if (names[i] == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (t->parent_canister_id == NULL ||
            key_find(&by_target, target_ids, t->parent_canister_id) == SIZE_MAX)
            tops++;
        if (key_find(&listed, roles, names[i]) == SIZE_MAX) {
            key_add(&listed, names[i], nroles);
            roles[nroles++] = names[i];
        }
        members[i].role = names[i];
        members[i].canister_id = t->canister_id;
        members[i].parent_canister_id = t->parent_canister_id;
        members[i].controller_hint =
            t->control_authority.kind == SF_CONTROL_ROOT_CONTROLLER
                ? p->root_canister_id : NULL;
        members[i].identity_mode = t->identity_mode == SF_IDENTITY_FIXED
                                       ? SF_MANIFEST_IDENTITY_FIXED
                                       : SF_MANIFEST_IDENTITY_RELOCATABLE;
        members[i].snapshot_id = a->snapshot_id;
        members[i].module_hash = t->expected_module_hash;
        members[i].artifact_path = a->artifact_path;
        members[i].checksum = a->checksum;
    }
    marker(r, created);
    snprintf(input, sizeof input, "canic-backup-plan:%s", p->plan_id);
    memset(&h, 0, sizeof h);
    h.backup_id = p->run_id;
    h.created_at = created;
    h.tool_name = r->cfg->tool_name;
    h.tool_version = r->cfg->tool_version;
    h.environment = p->network;
    h.root_canister = p->root_canister_id;
    h.unit_id = "backup-selection";
    h.unit_kind = (n > 1 && tops == 1) ? SF_MANIFEST_UNIT_SUBTREE
                                       : SF_MANIFEST_UNIT_SINGLE;
    h.unit_roles = roles;
    h.unit_role_count = nroles;
    h.topology_hash_input = input;
    h.discovery_topology_hash = p->topology_hash_before_quiesce;
    h.pre_snapshot_topology_hash = p->topology_hash_before_quiesce;
    h.topology_hash = p->topology_hash_before_quiesce;
    rc = sf_manifest_build(m, &h, members, n, err);
done:
    if (names != NULL)
        for (i = 0; i < n; i++)
            free(names[i]);
    free(names);
    free(roles);
    free(members);
    free(target_ids);
    free(artifact_ids);
    sf_posmap_free(&by_target);
    sf_posmap_free(&durable);
    sf_posmap_free(&listed);
    return rc;
}

static int op_finalize(runner *r, const sf_exec_operation *op, sf_error *err)
{
    sf_download_journal *dj = &r->dj;
    sf_manifest m;
    char now[32], *path = NULL;
    size_t i;
    int rc = SF_ERR;

    memset(&m, 0, sizeof m);
    if (load_dj(r, true, err) != SF_OK)
        goto done;
    for (i = 0; i < dj->artifact_count; i++) {
        sf_journal_artifact *a = &dj->artifacts[i];
        char *final_path;

        if (a->state == SF_ARTIFACT_DURABLE)
            continue;
        if (a->state != SF_ARTIFACT_CHECKSUM_VERIFIED) {
            sf_error_set(err, "missing-artifact-entry", "", "backup operation "
                         "%llu: artifact %s is %s, not verified",
                         (unsigned long long)op->sequence, a->canister_id,
                         sf_artifact_state_name(a->state));
            goto done;
        }
        final_path = sf_path_join(r->cfg->out, a->artifact_path);
        if (final_path == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        rc = sf_engine_publish(a->temp_path, final_path, a->checksum, err);
        free(final_path);
        if (rc != SF_OK)
            goto done;
        rc = SF_ERR;
        marker(r, now);
        free(a->temp_path);
        a->temp_path = NULL;
        if (sf_artifact_advance_to(a, SF_ARTIFACT_DURABLE, now, err) != SF_OK ||
            write_dj(r, a, err) != SF_OK)
            goto done;
    }
    /* before finalize: the documents a manifest stands on are whole */
    if (checkpoint(r, err) != SF_OK)
        goto done;
    path = sf_path_join(r->cfg->out, SF_MANIFEST_FILE_NAME);
    if (path == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (build_manifest(r, dj, &m, err) != SF_OK ||
        sf_manifest_write_file(path, &m, err) != SF_OK)
        goto done;
    rc = SF_OK;
done:
    sf_manifest_free(&m);
    free(path);
    return rc;
}

static int execute(runner *r, const sf_exec_operation *op, sf_exec_receipt *rec,
                   sf_error *err)
{
    const char *id = op->target_canister_id;

    if (id == NULL && op->kind != SF_PHASE_FINALIZE_MANIFEST &&
        !sf_exec_kind_is_preflight(op->kind))
        return sf_error_set(err, "missing-operation-target", "", "backup "
                            "operation %llu has no target canister",
                            (unsigned long long)op->sequence);
    switch (op->kind) {
    case SF_PHASE_STOP:
        return sf_engine_stop(&r->e, id, err);
    case SF_PHASE_CREATE_SNAPSHOT:
        return op_create(r, id, rec, err);
    case SF_PHASE_START:
        return sf_engine_start(&r->e, id, err);
    case SF_PHASE_DOWNLOAD_SNAPSHOT:
        return op_download(r, op, rec, err);
    case SF_PHASE_VERIFY_ARTIFACT:
        return op_verify(r, op, rec, err);
    case SF_PHASE_FINALIZE_MANIFEST:
        return op_finalize(r, op, err);
    default:
        return SF_OK; /* preflight bookkeeping */
    }
}

static int record_failure(runner *r, const sf_exec_operation *op,
                          const sf_error *cause, sf_error *err)
{
    sf_exec_receipt rec;
    char now[32];
    int rc;

    marker(r, now);
    if (sf_exec_receipt_failed(&r->j, op, now, cause->message, &rec, err) != SF_OK)
        return SF_ERR;
    rc = sf_exec_journal_record_receipt(&r->j, &rec, err);
    sf_exec_receipt_free(&rec);
    if (rc == SF_OK)
        rc = write_journal(r, op->sequence, err);
    return rc;
}

/* On-canister retention once the backup is complete: the manifest is
 * durable, so this run's snapshots are recorded before anything goes. */
static int retain(runner *r, sf_error *err)
{
    char **ids;
    size_t i;
    int rc;

    if (!r->cfg->retain_on_canister)
        return SF_OK;
    if ((ids = calloc(r->plan.target_count ? r->plan.target_count : 1,
                      sizeof *ids)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < r->plan.target_count; i++)
        ids[i] = r->plan.targets[i].canister_id;
    rc = sf_engine_retain_run(&r->e, r->cfg->root_dir, r->cfg->out, ids,
                              r->plan.target_count, r->cfg->keep_on_canister,
                              err);
    free(ids);
    return rc;
}

/* Before the first stop: a canister at its snapshot limit gets a replace
 * of its oldest verified snapfleet snapshot, or the run fails here. */
static int make_room(runner *r, sf_error *err)
{
    char **ids;
    size_t i;
    int rc;

    if (r->cfg->snapshot_limit == 0)
        return SF_OK;
    if ((ids = calloc(r->plan.target_count ? r->plan.target_count : 1,
                      sizeof *ids)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < r->plan.target_count; i++)
        ids[i] = r->plan.targets[i].canister_id;
    rc = sf_engine_make_room(&r->e, r->cfg->root_dir, r->cfg->out, ids,
                             r->plan.target_count, r->cfg->snapshot_limit, err);
    free(ids);
    return rc;
}

/* For the status line: what the downloads still to come will move, as far
 * as the snapshots taken so far tell (a create in this run adds its own). */
static void expect_downloads(runner *r)
{
    size_t i;

    if (r->e.progress == NULL)
        return;
    for (i = 0; i < r->j.operation_count; i++) {
        const sf_exec_operation *op = &r->j.operations[i];
        const sf_exec_receipt *rec;

        if (op->kind != SF_PHASE_DOWNLOAD_SNAPSHOT ||
            op->state == SF_EXEC_COMPLETED || op->target_canister_id == NULL)
            continue;
        rec = sf_exec_journal_latest_snapshot(&r->j, op->target_canister_id);
        if (rec != NULL && rec->has_snapshot_total_size_bytes)
            sf_progress_expect(r->e.progress, rec->snapshot_total_size_bytes);
    }
}

/* Runs pending operation seq and records its receipt (completed, or
 * failed with the cause, which is then the error returned). */
static int run_op(runner *r, uint64_t seq, sf_error *err)
{
    sf_exec_operation *op = sf_exec_journal_find_operation(&r->j, seq);
    sf_exec_receipt rec;
    char now[32];
    int rc;

    marker(r, now);
    if (sf_exec_receipt_completed(&r->j, op, now, &rec, err) != SF_OK)
        return SF_ERR;
    rc = execute(r, op, &rec, err);
    if (rc != SF_OK) {
        sf_error cause = *err;

        sf_exec_receipt_free(&rec);
        op = sf_exec_journal_find_operation(&r->j, seq);
        if (record_failure(r, op, &cause, err) != SF_OK)
            return SF_ERR;
        *err = cause;
        r->result->executed++;
        return SF_ERR;
    }
    marker(r, now);
    free(rec.updated_at);
    rec.updated_at = strdup(now);
    rc = sf_exec_journal_record_receipt(&r->j, &rec, err);
    sf_exec_receipt_free(&rec);
    if (rc != SF_OK || write_journal(r, seq, err) != SF_OK)
        return SF_ERR;
    r->result->executed++;
    return SF_OK;
}

static int run_loop(runner *r, sf_error *err)
{
    for (;;) {
        sf_exec_resume_summary s;
        sf_exec_operation *op;
        uint64_t seq;
        char now[32];

        sf_exec_journal_resume_summary(&r->j, &s);
        r->result->total_operations = s.total_operations;
        if (sf_exec_resume_summary_is_complete(&s)) {
            r->result->complete = true;
            return SF_OK;
        }
        if (r->cfg->max_steps != 0 && r->result->executed >= r->cfg->max_steps) {
            r->result->max_steps_reached = true;
            return SF_OK;
        }
        op = sf_exec_journal_next_ready(&r->j);
        if (op == NULL)
            return sf_error_set(err, "no-ready-operation", "", "backup execution "
                                "has no operation ready to run");
        if (op->state == SF_EXEC_BLOCKED)
            return sf_error_set(err, "blocked", "", "backup execution is blocked");
        seq = op->sequence;
        if (op->state != SF_EXEC_PENDING) {
            marker(r, now);
            if (sf_exec_journal_mark_pending_at(&r->j, seq, now, err) != SF_OK ||
                write_journal(r, seq, err) != SF_OK)
                return SF_ERR;
        }
        if (run_op(r, seq, err) != SF_OK)
            return SF_ERR;
    }
}

/* ---- several operations at once (cfg->jobs > 1) ----
 *
 * Which operations may overlap, in the journal's (the plan's) order:
 *   - a canister's own operations keep their order: one starts when the
 *     canister's previous one is completed (so at most one per canister
 *     is in flight);
 *   - finalize starts when everything before it is completed;
 *   - fleet schedule: the stops, snapshots and starts run as waves (a
 *     wave: consecutive operations of one kind, stops and starts also of
 *     one tree depth), so the fleet is stopped top-down and started
 *     bottom-up one depth at a time and snapshotted at once; an operation
 *     starts when every wave before it is completed, so transfers begin
 *     once the fleet runs again;
 *   - per-canister schedule (each canister's operations contiguous in
 *     the plan): the canisters' chains overlap, each canister stopped only
 *     for its own snapshot and transfer, as with one job.
 * Several operations are then pending at once: the log records each, and
 * a crash leaves them pending, which a rerun runs again (every operation
 * is repeatable or resumable). */

typedef struct op_task {
    runner *r;
    uint64_t seq;
} op_task;

typedef struct sched {
    runner *r;
    sf_pool *pool;
    size_t n;
    size_t *prev_same;   /* the canister's previous operation, SIZE_MAX: none */
    size_t *wave_before; /* waves that must be completed first */
    size_t *wave_of;     /* a fleet effect's wave, SIZE_MAX: none */
    size_t *wave_left;   /* per wave: operations not completed */
    size_t nwaves, waves_done;
    bool chains;
    bool *running;
    op_task *tasks;
    size_t lo; /* every operation below is completed or skipped */
} sched;

static bool op_done(const sf_exec_operation *op)
{
    return op->state == SF_EXEC_COMPLETED || op->state == SF_EXEC_SKIPPED;
}

static bool fleet_effect(sf_phase_kind k)
{
    return k == SF_PHASE_STOP || k == SF_PHASE_CREATE_SNAPSHOT ||
           k == SF_PHASE_START;
}

static uint64_t target_depth(const sf_plan *p, const sf_posmap *m,
                             const char *id)
{
    uint64_t h = sf_posmap_hash(id, NULL);
    size_t cursor = 0, k;

    while ((k = sf_posmap_next(m, h, &cursor)) != SIZE_MAX)
        if (strcmp(p->targets[k].canister_id, id) == 0)
            return p->targets[k].depth;
    return 0;
}

static void sched_free(sched *s)
{
    free(s->prev_same);
    free(s->wave_before);
    free(s->wave_of);
    free(s->wave_left);
    free(s->running);
    free(s->tasks);
}

/* The journal's positions are its sequences (run_jobs). */
static int sched_init(sched *s, runner *r, sf_error *err)
{
    const sf_exec_journal *j = &r->j;
    sf_posmap last = {0}, depth = {0};
    size_t i, n = j->operation_count;
    int rc = SF_ERR;

    memset(s, 0, sizeof *s);
    s->r = r;
    s->n = n;
    s->chains = true;
    s->prev_same = calloc(n + 1, sizeof *s->prev_same);
    s->wave_before = calloc(n + 1, sizeof *s->wave_before);
    s->wave_of = calloc(n + 1, sizeof *s->wave_of);
    s->wave_left = calloc(n + 1, sizeof *s->wave_left);
    s->running = calloc(n + 1, sizeof *s->running);
    s->tasks = calloc(n + 1, sizeof *s->tasks);
    if (!s->prev_same || !s->wave_before || !s->wave_of || !s->wave_left ||
        !s->running || !s->tasks || !sf_posmap_reserve(&last, n) ||
        !sf_posmap_reserve(&depth, r->plan.target_count)) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    for (i = 0; i < r->plan.target_count; i++)
        sf_posmap_insert(&depth, sf_posmap_hash(r->plan.targets[i].canister_id,
                                                NULL), i);
    for (i = 0; i < n; i++) {
        const sf_exec_operation *op = &j->operations[i];
        const char *id = op->target_canister_id;

        s->prev_same[i] = SIZE_MAX;
        s->wave_of[i] = SIZE_MAX;
        if (id != NULL) {
            uint64_t h = sf_posmap_hash(id, NULL);
            size_t cursor = 0, k;

            while ((k = sf_posmap_next(&last, h, &cursor)) != SIZE_MAX &&
                   strcmp(j->operations[k].target_canister_id, id) != 0)
                ;
            if (k != SIZE_MAX) {
                s->prev_same[i] = k;
                sf_posmap_set(&last, h, cursor, i);
                if (k + 1 != i)
                    s->chains = false;
            } else {
                sf_posmap_insert(&last, h, i);
            }
        }
        if (fleet_effect(op->kind) && id != NULL) {
            const sf_exec_operation *prev = i > 0 ? &j->operations[i - 1] : NULL;
            bool same_wave =
                prev != NULL && s->wave_of[i - 1] != SIZE_MAX &&
                prev->kind == op->kind &&
                (op->kind == SF_PHASE_CREATE_SNAPSHOT ||
                 target_depth(&r->plan, &depth, prev->target_canister_id) ==
                     target_depth(&r->plan, &depth, id));

            if (!same_wave)
                s->nwaves++;
            s->wave_of[i] = s->nwaves - 1;
            s->wave_before[i] = s->nwaves - 1;
            if (!op_done(op))
                s->wave_left[s->nwaves - 1]++;
        } else {
            s->wave_before[i] = s->nwaves;
        }
    }
    while (s->waves_done < s->nwaves && s->wave_left[s->waves_done] == 0)
        s->waves_done++;
    while (s->lo < n && op_done(&j->operations[s->lo]))
        s->lo++;
    rc = SF_OK;
done:
    sf_posmap_free(&last);
    sf_posmap_free(&depth);
    return rc;
}

static int op_task_run(void *arg, sf_error *err)
{
    op_task *t = arg;

    return run_op(t->r, t->seq, err);
}

/* Starts every operation the rules allow, while the pool has room. */
static int sched_fill(sched *s, sf_error *err)
{
    runner *r = s->r;
    size_t i;

    for (i = s->lo; i < s->n && sf_pool_has_room(s->pool); i++) {
        sf_exec_operation *op = &r->j.operations[i];
        char now[32];

        if (r->cfg->max_steps != 0 &&
            r->result->executed + sf_pool_running(s->pool) >= r->cfg->max_steps)
            break;
        if (sf_pool_failed(s->pool))
            break; /* one failed before its first call: nothing more starts */
        if (s->running[i] || op_done(op) || op->state == SF_EXEC_BLOCKED)
            continue;
        if (!s->chains && s->wave_before[i] > s->waves_done)
            break; /* so is every later one */
        if (s->prev_same[i] != SIZE_MAX &&
            !op_done(&r->j.operations[s->prev_same[i]]))
            continue;
        if (op->target_canister_id == NULL && i != s->lo)
            continue;
        if (op->state != SF_EXEC_PENDING) {
            marker(r, now);
            if (sf_exec_journal_mark_pending_beside_at(&r->j, op->sequence,
                                                       now, err) != SF_OK ||
                write_journal(r, op->sequence, err) != SF_OK)
                return SF_ERR;
        }
        s->running[i] = true;
        s->tasks[i].r = r;
        s->tasks[i].seq = op->sequence;
        if (sf_pool_spawn(s->pool, op_task_run, &s->tasks[i], err) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static void sched_ended(sched *s, size_t i)
{
    const sf_exec_journal *j = &s->r->j;

    s->running[i] = false;
    if (op_done(&j->operations[i]) && s->wave_of[i] != SIZE_MAX)
        s->wave_left[s->wave_of[i]]--;
    while (s->waves_done < s->nwaves && s->wave_left[s->waves_done] == 0)
        s->waves_done++;
    while (s->lo < s->n && op_done(&j->operations[s->lo]))
        s->lo++;
}

static int sched_fill_cb(void *ctx, sf_error *err)
{
    return sched_fill(ctx, err);
}

static void sched_ended_cb(void *ctx, void *arg)
{
    sched *s = ctx;

    sched_ended(s, (size_t)((op_task *)arg - s->tasks));
}

/* On a failure nothing new starts, the operations in flight end and are
 * recorded, and the first error is returned. */
static int run_jobs(runner *r, sf_error *err)
{
    sched s;
    int rc;

    /* positions are sequences: the integrity check after the log's replay
     * holds operation i to the plan's phase i, whose order is i */
    if (sched_init(&s, r, err) != SF_OK) {
        sched_free(&s);
        return SF_ERR;
    }
    if (sf_pool_open(&s.pool, r->e.driver, r->cfg->jobs, err) != SF_OK) {
        sched_free(&s);
        return SF_ERR;
    }
    r->e.pool = s.pool;
    rc = sf_pool_drive(s.pool, sched_fill_cb, sched_ended_cb, &s, err);
    r->e.pool = NULL;
    sf_pool_close(s.pool);
    sched_free(&s);
    if (rc != SF_OK)
        return SF_ERR;
    {
        sf_exec_resume_summary sum;

        sf_exec_journal_resume_summary(&r->j, &sum);
        r->result->total_operations = sum.total_operations;
        if (sf_exec_resume_summary_is_complete(&sum)) {
            r->result->complete = true;
            return SF_OK;
        }
    }
    if (r->cfg->max_steps != 0 && r->result->executed >= r->cfg->max_steps) {
        r->result->max_steps_reached = true;
        return SF_OK;
    }
    rc = sf_error_set(err, "no-ready-operation", "", "backup execution has "
                      "no operation ready to run");
    return rc;
}

static int dry_run_commands(runner *r, sf_error *err)
{
    size_t i;

    for (i = 0; i < r->plan.phase_count; i++) {
        const sf_plan_phase *ph = &r->plan.phases[i];
        sf_op op;

        memset(&op, 0, sizeof op);
        switch (ph->kind) {
        case SF_PHASE_STOP: op.kind = SF_OP_STOP; break;
        case SF_PHASE_CREATE_SNAPSHOT: op.kind = SF_OP_CREATE; break;
        case SF_PHASE_START: op.kind = SF_OP_START; break;
        case SF_PHASE_DOWNLOAD_SNAPSHOT: op.kind = SF_OP_DOWNLOAD; break;
        default: continue;
        }
        snprintf(op.canister_id, sizeof op.canister_id, "%s", ph->target_canister_id);
        if (op.kind == SF_OP_DOWNLOAD) {
            char *temp = seg_path(r, ph->target_canister_id, ".tmp");
            snprintf(op.snapshot_id, sizeof op.snapshot_id, "<snapshot-id>");
            snprintf(op.path, sizeof op.path, "%s", temp ? temp : "");
            free(temp);
        }
        if (sf_driver_render(r->e.driver, &op, &r->result->planned_commands,
                             err) != SF_OK ||
            sf_buf_putc(&r->result->planned_commands, '\n') != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

/* The engine's stopped times into the result. */
static void stopped_times(runner *r)
{
    sf_backup_result *res = r->result;

    sf_engine_stopped_result(&r->e, &res->stopped, &res->stopped_count,
                             &res->has_fleet_stopped_span,
                             &res->fleet_stopped_span_ms);
}

int sf_backup_run(const sf_backup_config *cfg, sf_driver *driver,
                  const sf_clock *clock, sf_backup_result *result, sf_error *err)
{
    runner r;
    sf_lock lock = SF_LOCK_INIT;
    int rc = SF_ERR, engine_open = 0, effects = 0;

    memset(result, 0, sizeof *result);
    sf_buf_init(&result->planned_commands);
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.result = result;
    if (cfg->root == NULL || !sf_principal_is_valid(cfg->root))
        return sf_error_set(err, "invalid-principal", "root", "root canister "
                            "`%s` is not a valid principal",
                            cfg->root ? cfg->root : "(none)");
    if (cfg->jobs > SF_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "jobs", "--jobs takes 1 to %d, "
                            "not %u", SF_JOBS_MAX, cfg->jobs);
    if (sf_lock_acquire(cfg->out, &lock, err) != SF_OK)
        return SF_ERR;
    r.plan_path = sf_path_join(cfg->out, SF_PLAN_FILE_NAME);
    r.journal_path = sf_path_join(cfg->out, SF_EXEC_JOURNAL_FILE_NAME);
    r.dj_path = sf_path_join(cfg->out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    if (!r.plan_path || !r.journal_path || !r.dj_path) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (sf_engine_open(&r.e, driver, clock, cfg->out, cfg->log, err) != SF_OK)
        goto done;
    engine_open = 1;
    r.e.verify_transfer = cfg->verify_transfer;
    r.e.progress = cfg->progress;
    if (!exists(r.plan_path)) {
        /* a directory another kind of run wrote is not taken over */
        if (exists(r.dj_path) || exists(r.e.obs_path) ||
            exists_in(cfg->out, SF_TRANSITION_LOG_FILE_NAME)) {
            sf_error_set(err, "not-a-backup-plan-layout", "", "%s holds a "
                         "download journal or observations but no backup plan "
                         "(a `snapshot download` directory?): use another --out",
                         cfg->out);
            goto done;
        }
        if (create_plan(&r, err) != SF_OK)
            goto done;
    } else {
        if (open_plan(&r, err) != SF_OK)
            goto done;
    }
    result->plan_id = strdup(r.plan.plan_id);
    result->run_id = strdup(r.plan.run_id);
    result->target_count = r.plan.target_count;
    {
        const char *kind = sf_scope_kind_name(r.plan.selected_scope_kind);
        const char *sel = r.plan.selected_subtree_root;
        bool show = sel != NULL && r.plan.selected_scope_kind != SF_SCOPE_MAINTENANCE_ROOT;

        result->scope = malloc(strlen(kind) + (sel ? strlen(sel) : 0) + 2);
        if (result->scope != NULL)
            sprintf(result->scope, "%s%s%s", kind, show ? ":" : "", show ? sel : "");
    }
    if (result->plan_id == NULL || result->run_id == NULL || result->scope == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (cfg->dry_run) {
        rc = dry_run_commands(&r, err);
        goto done;
    }
    if (open_log(&r, err) != SF_OK)
        goto done;
    {
        sf_exec_resume_summary s;

        sf_exec_journal_resume_summary(&r.j, &s);
        if (sf_exec_resume_summary_is_complete(&s)) {
            result->complete = true;
            result->total_operations = s.total_operations;
            /* a run killed during retention is finished by its rerun */
            rc = retain(&r, err);
            goto done;
        }
    }
    /* From here the run works on the fleet, and a failure may follow stops
     * of an earlier, killed run: the observations say which, and
     * containment restarts them. (Errors about the invocation itself, such
     * as another plan in the directory, touch nothing.) */
    effects = 1;
    if (check_topology(&r, err) != SF_OK)
        goto done;
    if (!r.j.preflight_accepted && preflight(&r, err) != SF_OK)
        goto done;
    if (make_room(&r, err) != SF_OK)
        goto done;
    expect_downloads(&r);
    rc = cfg->jobs > 1 ? run_jobs(&r, err) : run_loop(&r, err);
    /* complete: the documents whole before retention reads the root */
    if (rc == SF_OK && result->complete && (rc = checkpoint(&r, err)) == SF_OK)
        rc = retain(&r, err);
done:
    if (rc != SF_OK && effects && !cfg->leave_stopped) {
        sf_error contain_err;

        if (sf_engine_contain(&r.e, &contain_err) != SF_OK)
            sf_error_prefix(err, "(containment also failed: %s) ",
                            contain_err.message);
    }
    if (r.rl != NULL) {
        /* every exit leaves the documents whole for canic and older
         * readers */
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
    sf_download_journal_free(&r.dj);
    if (engine_open) {
        stopped_times(&r);
        sf_engine_close(&r.e);
    }
    if (r.have_plan)
        sf_plan_free(&r.plan);
    if (r.have_journal)
        sf_exec_journal_free(&r.j);
    free(r.plan_path);
    free(r.journal_path);
    free(r.dj_path);
    sf_lock_release(&lock);
    return rc;
}
