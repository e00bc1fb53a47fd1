/*
 * The restore runner (snapfleet/restore.h): canic's apply journal driven
 * through the abstract driver, with the effect steps of core/engine/engine.c.
 * Its state is on the restore directory's transition log (restore_log.h):
 * each transition appends one record, durable before the effect that
 * depends on it, and the apply journal and the observations are
 * checkpoints (runlog.h has the cadence), written whole on every exit.
 */
#include "snapfleet/restore.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/backup_log.h"
#include "engine/pool.h"
#include "engine/restore_log.h"
#include "engine/stopped.h"
#include "engine/walk.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/restore_journal.h"
#include "snapfleet/restore_plan.h"
#include "snapfleet/storage.h"
#include "snapfleet/text.h"

typedef struct rrun {
    const sf_restore_config *cfg;
    sf_restore_result *result;
    sf_engine e;
    int engine_open;
    char backup_root[PATH_MAX];
    char *dir, *plan_path, *journal_path;
    sf_restore_plan plan;
    int have_plan;
    sf_restore_journal j;
    int have_journal;
    sf_runlog *rl;          /* NULL: a dry run, or not opened yet */
    bool have_j;            /* for the log's replay */
    sf_restore_docs docs;
    size_t logged_receipts; /* receipts already in the log */
    /* A change in memory whose record could not be appended (out of
     * memory, a failed write): the exit checkpoint is then skipped, since
     * it would make durable what the log never recorded (a completion
     * without its receipt, a claim nobody made); the documents and the
     * log stay as the last append left them. */
    bool unlogged;
    /* jobs: an operation ended with a change unlogged; its record is
     * lost, so no later one is appended (it would carry what that one
     * should have, receipts of another operation) and the run ends with
     * the log where it stopped. */
    bool lost;
    sf_backup_entry be; /* the backup's entry, read once (decide_path) */
    bool have_be;
} rrun;

void sf_restore_result_free(sf_restore_result *r)
{
    free(r->stopped);
    sf_buf_free(&r->commands);
    sf_buf_free(&r->report);
    sf_buf_free(&r->paths);
    memset(r, 0, sizeof *r);
}

static bool exists(const char *p)
{
    return sf_walk_exists(p);
}

static int build_plan(const char *backup, const char *mapping,
                      sf_restore_plan *plan, sf_error *err)
{
    sf_integrity_report rep;
    sf_manifest m;
    sf_restore_mapping map;
    char *mpath;
    int rc;

    /* nothing is planned from a backup that does not verify */
    if (sf_verify_integrity(backup, &rep, err) != SF_OK)
        return sf_error_prefix(err, "backup %s does not verify: ", backup);
    sf_integrity_report_free(&rep);
    mpath = sf_path_join(backup, SF_MANIFEST_FILE_NAME);
    if (mpath == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_manifest_read_file(mpath, &m, err);
    free(mpath);
    if (rc != SF_OK)
        return SF_ERR;
    if (mapping != NULL && sf_restore_mapping_read_file(mapping, &map, err) != SF_OK) {
        sf_error_prefix(err, "%s: ", mapping);
        sf_manifest_free(&m);
        return SF_ERR;
    }
    rc = sf_restore_plan_build(&m, mapping != NULL ? &map : NULL, plan, err);
    if (mapping != NULL)
        sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
    return rc;
}

int sf_restore_plan_backup(const char *backup, const char *mapping,
                           sf_buf *plan_json, sf_error *err)
{
    sf_restore_plan plan;
    int rc;

    if (build_plan(backup, mapping, &plan, err) != SF_OK)
        return SF_ERR;
    rc = sf_restore_plan_write_json(&plan, plan_json, err);
    sf_restore_plan_free(&plan);
    return rc;
}

static void marker(rrun *r, char out[32])
{
    sf_clock_marker(r->e.clock, out);
}

static int checkpoint(rrun *r, sf_error *err)
{
    return sf_restore_log_checkpoint(r->rl, &r->j, &r->e.obs, err);
}

/* Records operation seq's state and the receipts appended since the last
 * record; a checkpoint follows when one is due. */
static int write_journal(rrun *r, uint64_t seq, sf_error *err)
{
    if (r->lost)
        return sf_error_set(err, "log-stopped", "", "operation #%llu is not "
                            "recorded: an earlier record of this run could "
                            "not be written", (unsigned long long)seq);
    if (sf_restore_log_journal(r->rl, &r->j, seq, r->logged_receipts, err) !=
        SF_OK)
        return SF_ERR;
    r->logged_receipts = r->j.receipt_count;
    r->unlogged = false;
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* The engine's observations, one canister per record. */
static int save_obs(void *ctx, const sf_obs_canister *c, sf_error *err)
{
    rrun *r = ctx;

    if (sf_backup_log_obs(r->rl, c, err) != SF_OK) {
        r->unlogged = true;
        return SF_ERR;
    }
    return sf_runlog_due(r->rl) ? checkpoint(r, err) : SF_OK;
}

/* Opens (recovering) the transition log: the documents on disk are the
 * last checkpoints and the log's later records are replayed into them
 * (a directory without a log, canic's or an older snapfleet's, starts one
 * from its documents). A dry run replays read only, into a scratch copy
 * of the observations (it has none of its own). */
static int open_log(rrun *r, bool dry, sf_error *err)
{
    char *key = sf_restore_log_run_key(&r->j);
    sf_observations scratch;
    int rc;

    if (key == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    r->have_j = true;
    r->docs.j = &r->j;
    r->docs.have_j = &r->have_j;
    r->docs.obs = &r->e.obs;
    if (dry && !exists(r->journal_path)) {
        rc = SF_OK; /* a journal only in memory: nothing to replay */
    } else if (dry) {
        memset(&scratch, 0, sizeof scratch);
        r->docs.obs = &scratch;
        rc = sf_runlog_replay(r->dir, SF_TRANSITION_LOG_FILE_NAME, key,
                              sf_restore_log_docs, 2, sf_restore_log_apply,
                              &r->docs, err);
        sf_obs_free(&scratch);
    } else {
        rc = sf_runlog_open(&r->rl, r->dir, SF_TRANSITION_LOG_FILE_NAME, key,
                            sf_restore_log_docs, 2, sf_restore_log_apply,
                            &r->docs, err);
    }
    free(key);
    if (rc != SF_OK)
        return SF_ERR;
    r->logged_receipts = r->j.receipt_count;
    if (!dry) {
        r->e.save_one = save_obs;
        r->e.save_ctx = r;
    }
    if (sf_restore_journal_validate(&r->j, err) != SF_OK)
        return sf_error_prefix(err, "%s with its transition log replayed: ",
                               r->journal_path);
    return SF_OK;
}

/* Builds the plan and, on the first run, the journal; on a later run
 * checks the stored plan is the one this backup and mapping give now. */
static int open_restore(rrun *r, bool create, sf_error *err)
{
    sf_buf now, stored;
    char *text = NULL;
    size_t len;
    int rc = SF_ERR;

    sf_buf_init(&now);
    sf_buf_init(&stored);
    if (build_plan(r->cfg->backup, r->cfg->mapping, &r->plan, err) != SF_OK)
        goto done;
    r->have_plan = 1;
    if (sf_restore_plan_write_json(&r->plan, &now, err) != SF_OK)
        goto done;
    if (exists(r->journal_path)) {
        if (sf_fs_read_file(r->plan_path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
            goto done;
        if (len != now.len || memcmp(text, now.data, len) != 0) {
            sf_error_set(err, "restore-plan-mismatch", "", "%s holds a restore "
                         "of another plan (a different backup or mapping); "
                         "finish it or use another --restore-dir", r->dir);
            goto done;
        }
        if (sf_restore_journal_read_file(r->journal_path, &r->j, err) != SF_OK) {
            sf_error_prefix(err, "%s: ", r->journal_path);
            goto done;
        }
        r->have_journal = 1;
        if (r->j.backup_root == NULL || strcmp(r->j.backup_root, r->backup_root) != 0) {
            sf_error_set(err, "restore-plan-mismatch", "backup_root", "%s belongs "
                         "to the backup at %s, not %s", r->journal_path,
                         r->j.backup_root ? r->j.backup_root : "(none)",
                         r->backup_root);
            goto done;
        }
    } else {
        sf_restore_dry_run d;

        if (sf_restore_dry_run_build(&r->plan, r->backup_root, &d, err) != SF_OK)
            goto done;
        rc = sf_restore_journal_from_dry_run(&d, &r->j, err);
        sf_restore_dry_run_free(&d);
        if (rc != SF_OK)
            goto done;
        rc = SF_ERR;
        r->have_journal = 1;
        if (create && (sf_fs_write_atomic(r->plan_path, now.data, now.len, err) != SF_OK ||
                       sf_restore_journal_write_file(r->journal_path, &r->j,
                                                     err) != SF_OK))
            goto done;
    }
    rc = SF_OK;
done:
    free(text);
    sf_buf_free(&now);
    sf_buf_free(&stored);
    return rc;
}

static const sf_restore_plan_member *member_for(const rrun *r, const char *target)
{
    size_t i;

    for (i = 0; i < r->plan.members_len; i++)
        if (strcmp(r->plan.members[i].target_canister, target) == 0)
            return &r->plan.members[i];
    return NULL;
}

/* r->dir/staging, a real directory (never a link out of the restore
 * directory: staging copies are written and removed there). */
static int staging_dir_ok(rrun *r, bool create, sf_error *err)
{
    char *dir = sf_path_join(r->dir, "staging");
    int rc;

    if (dir == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_fs_dir_nofollow(dir, create, err);
    free(dir);
    return rc;
}

static char *staging_path(rrun *r, uint64_t sequence)
{
    char name[64];

    snprintf(name, sizeof name, "staging/%llu", (unsigned long long)sequence);
    return sf_path_join(r->dir, name);
}

/* The driver op that carries out a journal operation (uploads read the
 * staged copy; a load uses the id the upload receipt recorded). */
static int op_for(rrun *r, const sf_restore_journal_op *jop, sf_op *op,
                  bool placeholder, sf_error *err)
{
    const char *target = jop->target_canister;
    char *stage = NULL;
    int rc;

    switch (jop->kind) {
    case SF_RESTORE_OP_STOP_CANISTER:
        return sf_op_init(op, SF_OP_STOP, target, NULL, NULL, err);
    case SF_RESTORE_OP_START_CANISTER:
        return sf_op_init(op, SF_OP_START, target, NULL, NULL, err);
    case SF_RESTORE_OP_VERIFY_MEMBER:
    case SF_RESTORE_OP_VERIFY_FLEET:
        return sf_op_init(op, SF_OP_STATUS, target, NULL, NULL, err);
    case SF_RESTORE_OP_UPLOAD_SNAPSHOT:
        stage = staging_path(r, jop->sequence);
        if (stage == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        rc = sf_op_init(op, SF_OP_UPLOAD, target, NULL, stage, err);
        free(stage);
        return rc;
    case SF_RESTORE_OP_LOAD_SNAPSHOT: {
        const char *id = sf_restore_journal_uploaded_snapshot_id(&r->j, jop);

        if (id == NULL && placeholder) {
            rc = sf_op_init(op, SF_OP_LOAD, target, "00", NULL, err);
            snprintf(op->snapshot_id, sizeof op->snapshot_id, "<uploaded-snapshot-id>");
            return rc;
        }
        if (id == NULL)
            return sf_error_set(err, "command-unavailable", "", "load #%llu: no "
                                "completed upload receipt gives the snapshot id",
                                (unsigned long long)jop->sequence);
        return sf_op_init(op, SF_OP_LOAD, target, id, NULL, err);
    }
    }
    return sf_error_set(err, "internal", "", "unknown restore operation");
}

/* Splits a shell-quoted command line (as drivers render them: 'single
 * quotes', "double quotes", backslash escapes) back into its words. */
static int split_words(const char *line, char ***out, size_t *n)
{
    size_t cap = 8, len = strlen(line);
    char **v = calloc(cap, sizeof *v), *word = malloc(len + 1);
    const char *p = line;

    *out = NULL;
    *n = 0;
    if (v == NULL || word == NULL)
        goto oom;
    while (*p != '\0') {
        size_t w = 0;
        bool any = false;

        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        while (*p != '\0' && *p != ' ' && *p != '\t' && *p != '\n') {
            any = true;
            if (*p == '\'') {
                for (p++; *p != '\0' && *p != '\''; p++)
                    word[w++] = *p;
                if (*p == '\'')
                    p++;
            } else if (*p == '"') {
                for (p++; *p != '\0' && *p != '"'; p++) {
                    if (*p == '\\' && p[1] != '\0')
                        p++;
                    word[w++] = *p;
                }
                if (*p == '"')
                    p++;
            } else if (*p == '\\' && p[1] != '\0') {
                word[w++] = p[1];
                p += 2;
            } else {
                word[w++] = *p++;
            }
        }
        if (!any)
            break;
        if (*n == cap) {
            char **grown = realloc(v, 2 * cap * sizeof *v);
            if (grown == NULL)
                goto oom;
            v = grown;
            cap *= 2;
        }
        v[*n] = malloc(w + 1);
        if (v[*n] == NULL)
            goto oom;
        memcpy(v[*n], word, w);
        v[*n][w] = '\0';
        (*n)++;
    }
    free(word);
    *out = v;
    return SF_OK;
oom:
    free(word);
    sf_strv_free(v, *n);
    *n = 0;
    return SF_ERR;
}

/* The receipt's command object: the driver's rendering, as its argv. */
static sf_restore_command *command_for(rrun *r, const sf_restore_journal_op *jop,
                                       const sf_op *op, sf_error *err)
{
    static const char *const notes[] = {
        "stops the target canister before snapshot restore",
        "starts the target canister after snapshot restore",
        "uploads the downloaded snapshot artifact to the target canister",
        "loads the uploaded snapshot into the target canister",
        "checks target canister status",
        "checks target fleet root canister status",
    };
    sf_restore_command *c = calloc(1, sizeof *c);
    sf_buf text;
    char **words = NULL;
    size_t n = 0, i;

    sf_buf_init(&text);
    if (c == NULL || sf_driver_render(r->e.driver, op, &text, err) != SF_OK)
        goto fail;
    if (split_words(sf_buf_cstr(&text), &words, &n) != SF_OK || n == 0)
        goto fail;
    c->mutates = jop->kind != SF_RESTORE_OP_VERIFY_MEMBER &&
                 jop->kind != SF_RESTORE_OP_VERIFY_FLEET;
    c->requires_stopped_canister = jop->kind == SF_RESTORE_OP_LOAD_SNAPSHOT;
    c->note = strdup(notes[jop->kind]);
    c->program = words[0];
    c->args = calloc(n, sizeof *c->args);
    if (c->note == NULL || c->args == NULL) {
        words[0] = NULL; /* owned by c now: freed with it */
        sf_strv_free(words, n);
        goto fail;
    }
    for (i = 1; i < n; i++)
        c->args[c->arg_count++] = words[i];
    free(words);
    sf_buf_free(&text);
    return c;
fail:
    sf_buf_free(&text);
    if (c != NULL) {
        sf_restore_command_free(c);
        free(c);
    }
    if (err != NULL && err->kind == NULL)
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return NULL;
}

/* A load that was claimed may have happened even if it did not complete
 * (its response lost, the process killed): from then on the fleet is no
 * longer what it was, and restarting it is the operator's decision. */
static bool any_load_started(const rrun *r)
{
    size_t i;

    for (i = 0; i < r->j.operations_len; i++)
        if (r->j.operations[i].kind == SF_RESTORE_OP_LOAD_SNAPSHOT &&
            r->j.operations[i].state != SF_RESTORE_READY &&
            r->j.operations[i].state != SF_RESTORE_BLOCKED)
            return true;
    return false;
}

/* The backup's entry (the snapshots its create receipts recorded), read
 * on first use and kept for the run: reading it for every member was the
 * largest cost of a small restore (the documents, the log replayed, the
 * directory's size). */
static int backup_entry(rrun *r, const sf_backup_entry **be, sf_error *err)
{
    static const sf_backup_entry unreadable; /* records nothing */
    char *manifest;
    sf_storage_kind kind;
    sf_error ignored;
    int rc;

    /* A backup whose documents cannot be read now (an I/O error: on the
     * simulated disk, every call after a crash) records nothing, as a
     * fresh read would find: the member is uploaded. */
    if ((manifest = sf_path_join(r->backup_root, SF_MANIFEST_FILE_NAME)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_storage_kind_of(sf_fs_storage(), manifest, &kind, &ignored);
    free(manifest);
    if (rc != SF_OK) {
        *be = &unreadable;
        return SF_OK;
    }
    if (!r->have_be &&
        sf_backup_entry_read(r->backup_root, false, &r->be, err) != SF_OK)
        return SF_ERR;
    r->have_be = true;
    *be = &r->be;
    return SF_OK;
}

/* Where member m's snapshot comes from: the canister itself (restored in
 * place, not --upload, the backed-up snapshot still listed there as
 * recorded) or an upload. Recorded before the step acts unless dry; an
 * "upload" once recorded stays (an upload may have gone out). */
static int decide_path(rrun *r, const sf_restore_plan_member *m, bool dry,
                       bool *direct, char why[256], sf_error *err)
{
    const sf_obs_canister *c = sf_obs_find(&r->e.obs, m->target_canister);
    const sf_backup_entry *be = NULL;

    *direct = false;
    if (r->cfg->force_upload)
        snprintf(why, 256, "--upload");
    else if (strcmp(m->source_canister, m->target_canister) != 0)
        snprintf(why, 256, "restored onto another canister");
    else if (c != NULL && c->load_from != NULL && strcmp(c->load_from, "upload") == 0)
        snprintf(why, 256, "an earlier run chose the upload");
    else if (backup_entry(r, &be, err) != SF_OK ||
             sf_restore_snapshot_on_canister(&r->e, be,
                                             m->target_canister,
                                             m->source_snapshot.snapshot_id,
                                             direct, why, err) != SF_OK)
        return SF_ERR;
    if (dry)
        return SF_OK;
    return sf_engine_set_load_from(&r->e, m->target_canister,
                                   *direct ? "canister" : "upload", err);
}

static bool e_log(const rrun *r)
{
    return r->e.log != NULL;
}

static sf_restore_command *command_for(rrun *r, const sf_restore_journal_op *jop,
                                       const sf_op *op, sf_error *err);

/* The snapshot is still on the canister: its artifact is verified all the
 * same (a restore never depends on the canister alone), and the receipt
 * records the listing that proved it and the id to load. */
static int load_in_place(rrun *r, const sf_restore_journal_op *jop,
                         const sf_restore_plan_member *m, const char *src,
                         sf_restore_receipt *rec, sf_error *err)
{
    char sum[SF_SHA256_HEX_SIZE];
    sf_restore_command *cmd;
    sf_op op;

    if (sf_checksum_path(src, sum, err) != SF_OK)
        return SF_ERR;
    if (strcmp(sum, m->source_snapshot.checksum) != 0)
        return sf_error_set(err, "checksum-mismatch", "", "artifact %s does not "
                            "match the manifest: checksum mismatch: expected "
                            "%s, actual %s", src, m->source_snapshot.checksum, sum);
    if (sf_op_init(&op, SF_OP_LIST, m->target_canister, NULL, NULL, err) != SF_OK ||
        (cmd = command_for(r, jop, &op, err)) == NULL)
        return SF_ERR;
    free(cmd->note);
    cmd->note = strdup("finds the backed-up snapshot still on the target "
                       "canister: loaded from there, no upload");
    cmd->mutates = false;
    if (rec->command != NULL) {
        sf_restore_command_free(rec->command);
        free(rec->command);
    }
    rec->command = cmd;
    if (e_log(r))
        fprintf(r->e.log, "snapfleet: %s: snapshot %s is still on the canister "
                "as backed up: no upload\n", m->target_canister,
                m->source_snapshot.snapshot_id);
    rec->uploaded_snapshot_id = strdup(m->source_snapshot.snapshot_id);
    if (cmd->note == NULL || rec->uploaded_snapshot_id == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}

static int do_upload(rrun *r, const sf_restore_journal_op *jop,
                     sf_restore_receipt *rec, sf_error *err)
{
    const sf_restore_plan_member *m = member_for(r, jop->target_canister);
    char *src = NULL, *stage = staging_path(r, jop->sequence), *progress = NULL;
    sf_snapshot_info snap;
    int rc = SF_ERR;

    if (m == NULL) {
        sf_error_set(err, "internal", "", "upload #%llu has no plan member",
                     (unsigned long long)jop->sequence);
        goto done;
    }
    if (stage == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (m->source_snapshot.checksum == NULL) {
        sf_error_set(err, "missing-checksum", "", "member %s has no checksum in "
                     "the manifest: its bytes cannot be proved before upload",
                     m->source_canister);
        goto done;
    }
    progress = sf_path_join(stage, ".upload_progress.json");
    if (progress == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (sf_resolve_artifact_path(r->backup_root, jop->artifact_path, &src,
                                 err) != SF_OK)
        goto done;
    {
        bool direct;
        char why[256];

        if (decide_path(r, m, false, &direct, why, err) != SF_OK)
            goto done;
        if (direct) {
            rc = load_in_place(r, jop, m, src, rec, err);
            goto done;
        }
    }
    if (staging_dir_ok(r, true, err) != SF_OK ||
        sf_fs_dir_nofollow(stage, false, err) != SF_OK)
        goto done;
    if (!exists(progress)) {
        if (sf_stage_artifact(src, stage, m->source_snapshot.checksum, err) != SF_OK)
            goto done;
    } else {
        /* An interrupted upload is resumed from its staged copy, which must
         * still hold the verified bytes; icp's own files in it do not count
         * (its lock file only if the artifact did not have one already). */
        const char *skip[3] = {".upload_progress.json", NULL, NULL};
        char *lock = sf_path_join(src, ".lock"), sum[SF_SHA256_HEX_SIZE];

        if (lock == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (!exists(lock))
            skip[1] = ".lock";
        free(lock);
        if (sf_checksum_dir_skipping(stage, skip, sum, err) != SF_OK)
            goto done;
        if (strcmp(sum, m->source_snapshot.checksum) != 0) {
            sf_error_set(err, "checksum-mismatch", "", "the staged copy of %s "
                         "changed since it was verified (checksum mismatch: "
                         "expected %s, actual %s); remove %s to stage it again",
                         src, m->source_snapshot.checksum, sum, stage);
            goto done;
        }
    }
    /* known only now: an in-place member may load from its canister */
    if (r->e.progress != NULL)
        sf_progress_expect(r->e.progress, sf_engine_transfer_bytes(stage));
    if (sf_engine_upload(&r->e, jop->target_canister, stage, &snap, err) != SF_OK)
        goto done;
    rec->uploaded_snapshot_id = strdup(snap.id);
    if (rec->uploaded_snapshot_id == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    rc = SF_OK;
done:
    free(src);
    free(stage);
    free(progress);
    return rc;
}

static int do_verify(rrun *r, const sf_restore_journal_op *jop, sf_error *err)
{
    const sf_restore_plan_member *m = member_for(r, jop->target_canister);
    const sf_obs_canister *c = sf_obs_find(&r->e.obs, jop->target_canister);
    sf_canister_status want = SF_STATUS_RUNNING;
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int rc;

    /* a canister that was stopped before the restore stays stopped */
    if (c != NULL && c->has_status_before && c->status_before == SF_STATUS_STOPPED)
        want = SF_STATUS_STOPPED;
    if (sf_op_init(&op, SF_OP_STATUS, jop->target_canister, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    rc = sf_engine_call(&r->e, &op, &res, &fail, err);
    if (rc == SF_OK && res.status != want)
        rc = sf_error_set(err, "verification-failed", "", "%s is %s, expected %s",
                          jop->target_canister, sf_canister_status_name(res.status),
                          sf_canister_status_name(want));
    if (rc == SF_OK && jop->kind == SF_RESTORE_OP_VERIFY_MEMBER && m != NULL &&
        m->source_snapshot.module_hash != NULL &&
        (res.module_hash == NULL ||
         strcasecmp(res.module_hash, m->source_snapshot.module_hash) != 0))
        rc = sf_error_set(err, "verification-failed", "", "%s runs module %s, the "
                          "backup has %s", jop->target_canister,
                          res.module_hash ? res.module_hash : "(none)",
                          m->source_snapshot.module_hash);
    sf_result_free(&res);
    return rc;
}

static int execute_op(rrun *r, const sf_restore_journal_op *jop,
                      sf_restore_receipt *rec, sf_error *err)
{
    const char *target = jop->target_canister;

    switch (jop->kind) {
    case SF_RESTORE_OP_UPLOAD_SNAPSHOT:
        return do_upload(r, jop, rec, err);
    case SF_RESTORE_OP_STOP_CANISTER:
        return sf_engine_stop(&r->e, target, err);
    case SF_RESTORE_OP_LOAD_SNAPSHOT: {
        const char *found = sf_restore_journal_uploaded_snapshot_id(&r->j, jop);
        char id[SF_SNAPSHOT_ID_MAX];

        if (found == NULL)
            return sf_error_set(err, "command-unavailable", "", "load #%llu has "
                                "no completed upload to load",
                                (unsigned long long)jop->sequence);
        if (strlen(found) >= sizeof id)
            return sf_error_set(err, "invalid-snapshot-id", "", "load #%llu: "
                                "snapshot id %.32s... is too long",
                                (unsigned long long)jop->sequence, found);
        /* a copy: the receipts may move while the stop lets other
         * operations run */
        snprintf(id, sizeof id, "%s", found);
        /* The plan's stop for this canister has run; if the canister is
         * running again (containment after an earlier failure), it is
         * stopped again, with its status before the restore kept. */
        if (sf_engine_stop(&r->e, target, err) != SF_OK)
            return SF_ERR;
        return sf_engine_load(&r->e, target, id, err);
    }
    case SF_RESTORE_OP_START_CANISTER:
        return sf_engine_start(&r->e, target, err);
    case SF_RESTORE_OP_VERIFY_MEMBER:
    case SF_RESTORE_OP_VERIFY_FLEET:
        return do_verify(r, jop, err);
    }
    return sf_error_set(err, "internal", "", "unknown restore operation");
}

/* A staged copy is needed only until its upload completed; a crash right
 * after that can leave one behind, so every run sweeps them. */
static void sweep_staging(rrun *r)
{
    sf_error ignored;
    size_t i;

    if (staging_dir_ok(r, false, &ignored) != SF_OK)
        return; /* a link or a file: nothing of ours to sweep through it */
    if (sf_restore_journal_is_complete(&r->j)) {
        char *dir = sf_path_join(r->dir, "staging");
        if (dir != NULL)
            sf_remove_tree(dir, &ignored);
        free(dir);
        return;
    }
    for (i = 0; i < r->j.operations_len; i++) {
        const sf_restore_journal_op *op = &r->j.operations[i];
        char *stage;

        if (op->kind != SF_RESTORE_OP_UPLOAD_SNAPSHOT ||
            op->state != SF_RESTORE_COMPLETED)
            continue;
        stage = staging_path(r, op->sequence);
        if (stage != NULL)
            sf_remove_tree(stage, &ignored);
        free(stage);
    }
}

/* After operation seq completed: an upload's staged copy goes, and the
 * whole staging directory once the restore is complete (what a crash in
 * between leaves, the next run's sweep_staging finds). */
static void sweep_after(rrun *r, uint64_t seq)
{
    const sf_restore_journal_op *op = sf_restore_journal_find(&r->j, seq);
    sf_error ignored;
    char *stage;

    if (sf_restore_journal_is_complete(&r->j)) {
        sweep_staging(r);
        return;
    }
    if (op == NULL || op->kind != SF_RESTORE_OP_UPLOAD_SNAPSHOT ||
        staging_dir_ok(r, false, &ignored) != SF_OK)
        return;
    stage = staging_path(r, seq);
    if (stage != NULL)
        sf_remove_tree(stage, &ignored);
    free(stage);
}

static bool any_load_issued(const rrun *r)
{
    size_t i;

    for (i = 0; i < r->e.obs.count; i++)
        if (r->e.obs.canisters[i].load_issued)
            return true;
    return false;
}

/* The first operation in state s (a run with several in flight can leave
 * several pending or failed, not necessarily the next one). */
static const sf_restore_journal_op *first_in(const rrun *r, sf_restore_state s)
{
    size_t i;

    for (i = 0; i < r->j.operations_len; i++)
        if (r->j.operations[i].state == s)
            return &r->j.operations[i];
    return NULL;
}

static int refuse_if_not_runnable(rrun *r, sf_error *err)
{
    const sf_restore_journal_op *pending = first_in(r, SF_RESTORE_PENDING);
    const sf_restore_journal_op *failed = first_in(r, SF_RESTORE_FAILED);

    if (r->j.pending_operations > 0)
        return sf_error_set(err, "pending", "", "restore of %s has a pending "
                            "operation (#%llu) left by an interrupted run: run "
                            "`snapfleet restore run --unclaim-pending` first",
                            r->j.backup_id,
                            (unsigned long long)(pending ? pending->sequence : 0));
    if (r->j.failed_operations > 0)
        return sf_error_set(err, "failed", "", "restore of %s has a failed "
                            "operation (#%llu): fix the cause, then run "
                            "`snapfleet restore run --retry-failed`",
                            r->j.backup_id,
                            (unsigned long long)(failed ? failed->sequence : 0));
    if (!r->j.ready)
        return sf_error_set(err, "not-ready", "", "restore of %s is not ready: %s",
                            r->j.backup_id, r->j.blocked_reason_count
                                ? r->j.blocked_reasons[0] : "blocked");
    return SF_OK;
}

/* Ends operation seq: canic's transition with one job, the move beside
 * others with several (the same journal for the next operation). */
static int settle(rrun *r, uint64_t seq, sf_restore_state to,
                  const char *reason, const char *now, sf_error *err)
{
    if (r->cfg->jobs > 1)
        return sf_restore_journal_move_beside(&r->j, seq, to, reason, now, err);
    if (to == SF_RESTORE_COMPLETED)
        return sf_restore_journal_mark_completed(&r->j, seq, now, err);
    return sf_restore_journal_mark_failed(&r->j, seq, reason, now, err);
}

/* Runs claimed operation seq (op: its driver op, attempt: its receipt's)
 * and records its receipt, completed or failed with the cause, which is
 * then the error returned. The journal's operations do not move, but its
 * receipts may grow while a driver call lets other tasks run. */
static int run_claimed(rrun *r, uint64_t seq, uint64_t attempt,
                       const sf_op *op, const char *claimed_at, sf_error *err)
{
    const sf_restore_journal_op *jop = sf_restore_journal_find(&r->j, seq);
    sf_restore_receipt rec;
    sf_restore_command *cmd;
    sf_error cause;
    char now[32];
    int rc;

    cmd = command_for(r, jop, op, err);
    if (cmd == NULL)
        return SF_ERR;
    rc = sf_restore_receipt_init(&rec, jop, SF_RESTORE_COMMAND_COMPLETED,
                                 attempt, claimed_at, err);
    if (rc != SF_OK) {
        sf_restore_command_free(cmd);
        free(cmd);
        return SF_ERR;
    }
    rec.command = cmd;
    rc = execute_op(r, jop, &rec, err);
    marker(r, now);
    free(rec.updated_at);
    rec.updated_at = strdup(now);
    if (rc == SF_OK) {
        rec.status = strdup("0");
        r->unlogged = true;
        rc = settle(r, seq, SF_RESTORE_COMPLETED, NULL, now, err);
        if (rc == SF_OK)
            rc = sf_restore_journal_record_receipt(&r->j, &rec, err);
        sf_restore_receipt_free(&rec);
        if (rc != SF_OK || write_journal(r, seq, err) != SF_OK)
            return SF_ERR;
        r->result->executed++;
        sweep_after(r, seq); /* a finished upload needs its copy no more */
        return SF_OK;
    }
    cause = *err;
    rec.outcome = SF_RESTORE_COMMAND_FAILED;
    rec.status = strdup("1");
    free(rec.uploaded_snapshot_id);
    rec.uploaded_snapshot_id = NULL;
    rec.failure_reason = strdup(cause.message);
    r->unlogged = true;
    rc = settle(r, seq, SF_RESTORE_FAILED, cause.message, now, err);
    if (rc == SF_OK)
        rc = sf_restore_journal_record_receipt(&r->j, &rec, err);
    sf_restore_receipt_free(&rec);
    if (rc != SF_OK || write_journal(r, seq, err) != SF_OK)
        return SF_ERR;
    r->result->executed++;
    *err = cause;
    return SF_ERR;
}

/* Claims operation jop (durable before anything happens) at now, with
 * its driver op and attempt; beside: one of several in flight. */
static int claim(rrun *r, const sf_restore_journal_op *jop, bool beside,
                 sf_op *op, uint64_t *attempt, char now[32], sf_error *err)
{
    uint64_t seq = jop->sequence;

    *attempt = sf_restore_journal_attempt(&r->j, seq);
    if (op_for(r, jop, op, false, err) != SF_OK)
        return SF_ERR;
    marker(r, now);
    r->unlogged = true;
    if ((beside ? sf_restore_journal_move_beside(&r->j, seq, SF_RESTORE_PENDING,
                                                 NULL, now, err)
                : sf_restore_journal_mark_pending(&r->j, seq, now, err)) != SF_OK)
        return SF_ERR;
    return write_journal(r, seq, err);
}

static int run_execute(rrun *r, sf_error *err)
{
    for (;;) {
        sf_restore_journal_op *jop;
        uint64_t seq, attempt;
        sf_op op;
        char now[32];

        if (sf_restore_journal_is_complete(&r->j)) {
            r->result->complete = true;
            return SF_OK;
        }
        if (r->cfg->max_steps != 0 && r->result->executed >= r->cfg->max_steps)
            return SF_OK;
        if (refuse_if_not_runnable(r, err) != SF_OK)
            return SF_ERR;
        jop = sf_restore_journal_next_transition(&r->j);
        if (jop == NULL)
            return sf_error_set(err, "no-transitionable-operation", "", "nothing to run");
        seq = jop->sequence;
        if (claim(r, jop, false, &op, &attempt, now, err) != SF_OK ||
            run_claimed(r, seq, attempt, &op, now, err) != SF_OK)
            return SF_ERR;
    }
}

/* ---- several operations at once (cfg->jobs > 1) ----
 *
 * Which operations may overlap, in the journal's (the plan's) order: the
 * operations form waves, a wave being consecutive operations of one kind
 * (stops and starts also of one tree depth), and one starts when every
 * wave before it is completed and its canister's previous operation is
 * (so at most one per canister is in flight). So the uploads run side by
 * side, then the fleet is stopped top-down one depth at a time, the
 * snapshots load side by side, the fleet starts bottom-up one depth at a
 * time, and the checks run, as with one job but without waiting on each
 * other. On a failure nothing new starts and the operations in flight end
 * and are recorded. A crash leaves several pending, which
 * --unclaim-pending releases, all of them. */

typedef struct rtask {
    rrun *r;
    uint64_t seq, attempt;
    sf_op op;
    char claimed_at[32];
} rtask;

typedef struct rsched {
    rrun *r;
    sf_pool *pool;
    size_t n;
    size_t *prev_same;  /* the canister's previous operation, SIZE_MAX: none */
    size_t *wave_of;    /* each operation's wave */
    size_t *wave_left;  /* per wave: operations not completed */
    size_t nwaves, waves_done;
    bool *running;
    rtask *tasks;
} rsched;

/* A member's depth in the plan's tree (0: no parent in the plan). */
static size_t member_depth(const rrun *r, const char *target)
{
    const sf_restore_plan_member *m = member_for(r, target);
    size_t depth = 0;

    while (m != NULL && m->parent_target_canister != NULL &&
           depth < r->plan.members_len) {
        m = member_for(r, m->parent_target_canister);
        depth++;
    }
    return depth;
}

static void rsched_free(rsched *s)
{
    free(s->prev_same);
    free(s->wave_of);
    free(s->wave_left);
    free(s->running);
    free(s->tasks);
}

static int rsched_init(rsched *s, rrun *r, sf_error *err)
{
    const sf_restore_journal *j = &r->j;
    size_t i, k, n = j->operations_len;
    size_t prev_depth = 0;

    memset(s, 0, sizeof *s);
    s->r = r;
    s->n = n;
    s->prev_same = calloc(n + 1, sizeof *s->prev_same);
    s->wave_of = calloc(n + 1, sizeof *s->wave_of);
    s->wave_left = calloc(n + 1, sizeof *s->wave_left);
    s->running = calloc(n + 1, sizeof *s->running);
    s->tasks = calloc(n + 1, sizeof *s->tasks);
    if (!s->prev_same || !s->wave_of || !s->wave_left || !s->running ||
        !s->tasks)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < n; i++) {
        const sf_restore_journal_op *op = &j->operations[i];
        bool fleet = op->kind == SF_RESTORE_OP_STOP_CANISTER ||
                     op->kind == SF_RESTORE_OP_START_CANISTER;
        size_t depth = fleet ? member_depth(r, op->target_canister) : 0;

        /* the canister's previous operation: a scan back is enough (a
         * plan is a few operations per member, this runs once) */
        s->prev_same[i] = SIZE_MAX;
        for (k = i; k-- > 0;)
            if (strcmp(j->operations[k].target_canister, op->target_canister) == 0) {
                s->prev_same[i] = k;
                break;
            }
        if (i == 0 || op->kind != j->operations[i - 1].kind ||
            (fleet && depth != prev_depth))
            s->nwaves++;
        prev_depth = depth;
        s->wave_of[i] = s->nwaves - 1;
        if (op->state != SF_RESTORE_COMPLETED)
            s->wave_left[s->nwaves - 1]++;
    }
    while (s->waves_done < s->nwaves && s->wave_left[s->waves_done] == 0)
        s->waves_done++;
    return SF_OK;
}

static int rtask_run(void *arg, sf_error *err)
{
    rtask *t = arg;
    int rc = run_claimed(t->r, t->seq, t->attempt, &t->op, t->claimed_at, err);

    if (rc != SF_OK && t->r->unlogged)
        t->r->lost = true;
    return rc;
}

/* Starts every operation the rules allow, while the pool has room. */
static int rsched_fill(rsched *s, sf_error *err)
{
    rrun *r = s->r;
    size_t i;

    for (i = 0; i < s->n && sf_pool_has_room(s->pool); i++) {
        const sf_restore_journal_op *op = &r->j.operations[i];
        rtask *t = &s->tasks[i];

        if (r->cfg->max_steps != 0 &&
            r->result->executed + sf_pool_running(s->pool) >= r->cfg->max_steps)
            break;
        if (sf_pool_failed(s->pool))
            break; /* one failed before its first call: nothing more starts */
        if (s->running[i] || op->state == SF_RESTORE_COMPLETED)
            continue;
        if (s->wave_of[i] > s->waves_done)
            break; /* so is every later one */
        if (s->prev_same[i] != SIZE_MAX &&
            r->j.operations[s->prev_same[i]].state != SF_RESTORE_COMPLETED)
            continue;
        if (claim(r, op, true, &t->op, &t->attempt, t->claimed_at, err) != SF_OK) {
            r->lost = r->unlogged;
            return SF_ERR;
        }
        s->running[i] = true;
        t->r = r;
        t->seq = op->sequence;
        if (sf_pool_spawn(s->pool, rtask_run, t, err) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static void rsched_ended(rsched *s, size_t i)
{
    s->running[i] = false;
    if (s->r->j.operations[i].state == SF_RESTORE_COMPLETED)
        s->wave_left[s->wave_of[i]]--;
    while (s->waves_done < s->nwaves && s->wave_left[s->waves_done] == 0)
        s->waves_done++;
}

static int rsched_fill_cb(void *ctx, sf_error *err)
{
    return rsched_fill(ctx, err);
}

static void rsched_ended_cb(void *ctx, void *arg)
{
    rsched *s = ctx;

    rsched_ended(s, (size_t)((rtask *)arg - s->tasks));
}

/* On a failure nothing new starts, the operations in flight end and are
 * recorded, and the first error is returned. */
static int run_jobs(rrun *r, sf_error *err)
{
    rsched s;
    int rc;

    if (sf_restore_journal_is_complete(&r->j)) {
        r->result->complete = true;
        return SF_OK;
    }
    if (refuse_if_not_runnable(r, err) != SF_OK)
        return SF_ERR;
    if (rsched_init(&s, r, err) != SF_OK ||
        sf_pool_open(&s.pool, r->e.driver, r->cfg->jobs, err) != SF_OK) {
        rsched_free(&s);
        return SF_ERR;
    }
    r->e.pool = s.pool;
    rc = sf_pool_drive(s.pool, rsched_fill_cb, rsched_ended_cb, &s, err);
    r->e.pool = NULL;
    sf_pool_close(s.pool);
    rsched_free(&s);
    if (rc != SF_OK)
        return SF_ERR;
    if (sf_restore_journal_is_complete(&r->j)) {
        r->result->complete = true;
        return SF_OK;
    }
    if (r->cfg->max_steps != 0 && r->result->executed >= r->cfg->max_steps)
        return SF_OK;
    return sf_error_set(err, "no-transitionable-operation", "", "nothing to run");
}

static int run_dry(rrun *r, sf_error *err)
{
    size_t i;

    for (i = 0; i < r->j.operations_len; i++) {
        const sf_restore_journal_op *jop = &r->j.operations[i];
        sf_op op;

        if (op_for(r, jop, &op, true, err) != SF_OK ||
            sf_driver_render(r->e.driver, &op, &r->result->commands, err) != SF_OK ||
            sf_buf_putc(&r->result->commands, '\n') != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

/* Which path each member's snapshot takes, one line each (see
 * sf_restore_result.paths); obs: the restore observations. */
static void fill_paths(rrun *r, const sf_observations *obs)
{
    size_t i;

    sf_buf_reset(&r->result->paths);
    for (i = 0; i < r->j.operations_len; i++) {
        const sf_restore_journal_op *op = &r->j.operations[i];
        const sf_obs_canister *c;
        const char *from;

        if (op->kind != SF_RESTORE_OP_UPLOAD_SNAPSHOT || op->target_canister == NULL)
            continue;
        c = sf_obs_find(obs, op->target_canister);
        from = c != NULL ? c->load_from : NULL;
        if (from != NULL && strcmp(from, "canister") == 0)
            sf_buf_printf(&r->result->paths, "%s canister %s\n",
                          op->target_canister,
                          op->snapshot_id ? op->snapshot_id : "");
        else if (from != NULL)
            sf_buf_printf(&r->result->paths, "%s upload\n", op->target_canister);
        else if (r->cfg->force_upload)
            sf_buf_printf(&r->result->paths, "%s upload (--upload)\n",
                          op->target_canister);
        else if (op->source_canister == NULL ||
                 strcmp(op->source_canister, op->target_canister) != 0)
            sf_buf_printf(&r->result->paths, "%s upload (restored onto another "
                          "canister)\n", op->target_canister);
        else
            sf_buf_printf(&r->result->paths, "%s undecided (loaded from the "
                          "canister if snapshot %s is still there as backed up, "
                          "else uploaded)\n", op->target_canister,
                          op->snapshot_id ? op->snapshot_id : "");
    }
}

static void finish_report(rrun *r)
{
    sf_restore_report rep;
    sf_error ignored;

    sf_restore_journal_report(&r->j, &rep);
    r->result->stopped_reason = sf_restore_report_stopped_reason(
        &rep, r->cfg->max_steps != 0 && r->result->executed >= r->cfg->max_steps &&
                  !r->result->complete,
        r->result->executed > 0);
    r->result->next_action = sf_restore_report_next_action(&rep);
    r->result->complete = sf_restore_journal_is_complete(&r->j);
    r->result->loads_done = any_load_started(r) || any_load_issued(r);
    fill_paths(r, &r->e.obs);
    sf_buf_reset(&r->result->report);
    if (r->cfg->mode != SF_RESTORE_MODE_EXECUTE || !r->engine_open) {
        sf_restore_report_write_json(&rep, &r->result->report, &ignored);
        return;
    }
    /* a run that acted: what it held stopped, after the report's fields */
    {
        sf_restore_result *res = r->result;
        sf_jw w;

        free(res->stopped);
        sf_engine_stopped_result(&r->e, &res->stopped, &res->stopped_count,
                                 &res->has_fleet_stopped_span,
                                 &res->fleet_stopped_span_ms);
        sf_jw_init(&w, &res->report);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "backup_id", rep.backup_id);
        sf_restore_report_write_fields(&w, &rep);
        sf_jw_key(&w, "stopped");
        sf_stopped_write_json(&w, res->stopped, res->stopped_count,
                              res->has_fleet_stopped_span,
                              res->fleet_stopped_span_ms);
        sf_jw_end_object(&w);
        if (sf_jw_finish(&w, &ignored) != SF_OK)
            sf_buf_reset(&res->report);
    }
}

static int open_paths(rrun *r, const char *backup, const char *restore_dir,
                      sf_error *err)
{
    char *canon = NULL, was[SF_ERROR_MESSAGE_MAX];
    size_t n;

    if (sf_storage_canonical(sf_fs_storage(), backup, &canon, err) != SF_OK) {
        snprintf(was, sizeof was, "cannot resolve %s", backup);
        return sf_walk_reword(err, was, "cannot open backup %s", backup);
    }
    n = strlen(canon);
    if (n >= sizeof r->backup_root) {
        free(canon);
        return sf_error_set_errno(err, ENAMETOOLONG, "", "cannot open backup %s",
                                  backup);
    }
    memcpy(r->backup_root, canon, n + 1);
    free(canon);
    r->dir = restore_dir != NULL ? strdup(restore_dir)
                                 : sf_path_join(r->backup_root, SF_RESTORE_DIR_NAME);
    if (r->dir == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    r->plan_path = sf_path_join(r->dir, SF_RESTORE_PLAN_FILE_NAME);
    r->journal_path = sf_path_join(r->dir, SF_RESTORE_JOURNAL_FILE_NAME);
    if (r->plan_path == NULL || r->journal_path == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}

static void close_run(rrun *r)
{
    sf_runlog_close(r->rl);
    r->rl = NULL;
    if (r->have_be)
        sf_backup_entry_free(&r->be);
    if (r->engine_open)
        sf_engine_close(&r->e);
    if (r->have_plan)
        sf_restore_plan_free(&r->plan);
    if (r->have_journal)
        sf_restore_journal_free(&r->j);
    free(r->dir);
    free(r->plan_path);
    free(r->journal_path);
}

/* A recovery mode with nothing to recover (no pending operation to
 * unclaim, no failed one to retry) fails as it would after opening the
 * restore, with the report filled, but from the journal and the log read
 * only: no plan is built (the backup verified, every artifact checksummed)
 * and nothing is written. Otherwise r is left as it was. true: done (err
 * set, or SF_OK never: an error is what such a run ends with). */
/* The stored plan is the one this backup and mapping give (built from
 * the manifest without verifying the backup); false on any doubt. */
static bool same_plan_unverified(rrun *r)
{
    sf_restore_plan plan;
    sf_restore_mapping map;
    sf_manifest m;
    sf_buf now;
    sf_error ignored;
    char *mpath = sf_path_join(r->backup_root, SF_MANIFEST_FILE_NAME);
    char *text = NULL;
    size_t len = 0;
    bool same = false;
    int rc;

    if (mpath == NULL)
        return false;
    rc = sf_manifest_read_file(mpath, &m, &ignored);
    free(mpath);
    if (rc != SF_OK)
        return false;
    if (r->cfg->mapping != NULL &&
        sf_restore_mapping_read_file(r->cfg->mapping, &map, &ignored) != SF_OK) {
        sf_manifest_free(&m);
        return false;
    }
    rc = sf_restore_plan_build(&m, r->cfg->mapping != NULL ? &map : NULL,
                               &plan, &ignored);
    if (r->cfg->mapping != NULL)
        sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
    if (rc != SF_OK)
        return false;
    sf_buf_init(&now);
    if (sf_restore_plan_write_json(&plan, &now, &ignored) == SF_OK &&
        sf_fs_read_file(r->plan_path, SF_JSON_MAX_BYTES, &text, &len,
                        &ignored) == SF_OK)
        same = len == now.len && memcmp(text, now.data, len) == 0;
    free(text);
    sf_buf_free(&now);
    sf_restore_plan_free(&plan);
    return same;
}

static bool nothing_to_recover(rrun *r, sf_error *err)
{
    sf_observations obs;
    bool unclaim = r->cfg->mode == SF_RESTORE_MODE_UNCLAIM_PENDING;

    if (!same_plan_unverified(r))
        return false; /* the full path says why (another plan, ...) */
    if (sf_restore_docs_read(r->dir, &r->j, &obs, err) != SF_OK)
        return true;
    if ((unclaim ? r->j.pending_operations : r->j.failed_operations) > 0) {
        sf_restore_journal_free(&r->j);
        sf_obs_free(&obs);
        memset(&r->j, 0, sizeof r->j);
        return false;
    }
    r->have_journal = 1;
    sf_obs_free(&r->e.obs);
    r->e.obs = obs;
    if (unclaim) /* fails, changing nothing: canic's error */
        sf_restore_journal_mark_next_ready(&r->j, "unix:0", err);
    else
        sf_error_set(err, "no-failed-operation", "", "restore of %s has no "
                     "failed operation to retry", r->j.backup_id);
    finish_report(r);
    return true;
}

/* --unclaim-pending (from pending) and --retry-failed (from failed):
 * every such operation becomes ready, one record each, in sequence order
 * (a run with several in flight can leave several, behind ready ones).
 * None: canic's error, nothing written. */
static int recover_all(rrun *r, sf_restore_state from, sf_error *err)
{
    uint64_t n = from == SF_RESTORE_PENDING ? r->j.pending_operations
                                            : r->j.failed_operations;
    size_t i;

    if (n == 0 && from == SF_RESTORE_PENDING)
        return sf_restore_journal_mark_next_ready(&r->j, "unix:0", err);
    if (n == 0)
        return sf_error_set(err, "no-failed-operation", "", "restore of %s has "
                            "no failed operation to retry", r->j.backup_id);
    for (i = 0; i < r->j.operations_len; i++) {
        uint64_t seq = r->j.operations[i].sequence;
        char now[32];

        if (r->j.operations[i].state != from)
            continue;
        marker(r, now);
        r->unlogged = true;
        if (sf_restore_journal_move_beside(&r->j, seq, SF_RESTORE_READY, NULL,
                                           now, err) != SF_OK ||
            write_journal(r, seq, err) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_run(const sf_restore_config *cfg, sf_driver *driver,
                   const sf_clock *clock, sf_restore_result *result,
                   sf_error *err)
{
    rrun r;
    sf_lock lock = SF_LOCK_INIT;
    bool dry = cfg->mode == SF_RESTORE_MODE_DRY_RUN;
    sf_error local;
    int rc = SF_ERR;

    if (err == NULL)
        err = &local; /* the error is optional for callers, not for us */
    memset(result, 0, sizeof *result);
    sf_buf_init(&result->commands);
    sf_buf_init(&result->report);
    sf_buf_init(&result->paths);
    memset(&r, 0, sizeof r);
    r.cfg = cfg;
    r.result = result;
    if (cfg->jobs > SF_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "jobs", "--jobs takes 1 to %d, "
                            "not %u", SF_JOBS_MAX, cfg->jobs);
    if (open_paths(&r, cfg->backup, cfg->restore_dir, err) != SF_OK)
        goto done;
    /* never through a link, neither in the backup nor --restore-dir */
    if (sf_fs_dir_nofollow(r.dir, !dry, err) != SF_OK)
        goto done;
    if (!dry && sf_lock_acquire_named(r.dir, "restore directory", &lock,
                                      err) != SF_OK)
        goto done;
    if (sf_engine_open_at(&r.e, driver, clock, dry ? "/nonexistent-dry-run" : r.dir,
                          SF_RESTORE_OBSERVATIONS_FILE_NAME, cfg->log, err) != SF_OK)
        goto done;
    r.engine_open = 1;
    r.e.progress = cfg->progress;
    if ((cfg->mode == SF_RESTORE_MODE_UNCLAIM_PENDING ||
         cfg->mode == SF_RESTORE_MODE_RETRY_FAILED) && !exists(r.journal_path)) {
        /* nothing is created by a recovery mode */
        sf_error_set(err, cfg->mode == SF_RESTORE_MODE_UNCLAIM_PENDING
                              ? "no-pending-operation" : "no-failed-operation",
                     "", "no restore has started for %s (no %s): there is "
                     "nothing to recover", cfg->backup, r.journal_path);
        goto done;
    }
    if ((cfg->mode == SF_RESTORE_MODE_UNCLAIM_PENDING ||
         cfg->mode == SF_RESTORE_MODE_RETRY_FAILED) &&
        nothing_to_recover(&r, err))
        goto done;
    if (open_restore(&r, !dry, err) != SF_OK || open_log(&r, dry, err) != SF_OK)
        goto done;
    switch (cfg->mode) {
    case SF_RESTORE_MODE_DRY_RUN:
        rc = run_dry(&r, err);
        break;
    case SF_RESTORE_MODE_UNCLAIM_PENDING:
        rc = recover_all(&r, SF_RESTORE_PENDING, err);
        break;
    case SF_RESTORE_MODE_RETRY_FAILED:
        rc = recover_all(&r, SF_RESTORE_FAILED, err);
        break;
    case SF_RESTORE_MODE_EXECUTE:
        sweep_staging(&r);
        rc = cfg->jobs > 1 ? run_jobs(&r, err) : run_execute(&r, err);
        if (rc != SF_OK) {
            /* canisters the restore stopped go back to how they were,
             * except those a load may already have changed */
            sf_error contain_err;

            if (sf_engine_contain(&r.e, &contain_err) != SF_OK)
                sf_error_prefix(err, "(containment also failed: %s) ",
                                contain_err.message);
            else if (any_load_issued(&r))
                sf_error_prefix(err, "(canisters with a snapshot already loaded "
                                "stay stopped for the operator) ");
        }
        break;
    }
    if (r.rl != NULL && !r.unlogged && !r.lost) {
        /* every exit leaves the documents whole for canic and older
         * readers (unless memory holds what the log does not) */
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
    }
    if (r.have_journal)
        finish_report(&r);
done:
    close_run(&r);
    sf_lock_release(&lock);
    return rc;
}

int sf_restore_status(const char *backup, const char *restore_dir,
                      sf_restore_result *result, sf_error *err)
{
    rrun r;
    sf_restore_config cfg;
    sf_error local;
    int rc = SF_ERR;

    if (err == NULL)
        err = &local;
    memset(result, 0, sizeof *result);
    sf_buf_init(&result->commands);
    sf_buf_init(&result->report);
    sf_buf_init(&result->paths);
    memset(&r, 0, sizeof r);
    memset(&cfg, 0, sizeof cfg);
    cfg.backup = backup;
    r.cfg = &cfg;
    r.result = result;
    if (open_paths(&r, backup, restore_dir, err) != SF_OK ||
        sf_fs_dir_nofollow(r.dir, false, err) != SF_OK)
        goto done;
    if (!exists(r.journal_path)) {
        sf_error_set(err, "no-restore", "", "no restore has started for %s (no %s)",
                     backup, r.journal_path);
        goto done;
    }
    /* the checkpoints with the log replayed; the observations say which
     * path each member took */
    if (sf_restore_docs_read(r.dir, &r.j, &r.e.obs, err) != SF_OK)
        goto done;
    r.have_journal = 1;
    finish_report(&r);
    rc = SF_OK;
done:
    sf_obs_free(&r.e.obs);
    close_run(&r);
    return rc;
}
