/*
 * Transfers as icp 1.5.0 really runs them (its upload.rs, download.rs and
 * snapshot_transfer.rs), and what the engine must do about it:
 *
 *  - `download --resume` reloads metadata.json from the transfer
 *    directory and never asks whether it describes the snapshot it was
 *    given; a stale directory of another snapshot would mix two. A resume
 *    is chosen only when the saved metadata's taken_at is the listed
 *    snapshot's.
 *
 *  - `upload` first calls upload_canister_snapshot_metadata, which makes
 *    the target snapshot; only after its reply does icp print `Created
 *    snapshot ... for upload` and write .upload_progress.json, then the
 *    data follows, and the progress file goes once all of it arrived. So
 *    a new snapshot on the canister proves nothing: a lost reply to the
 *    metadata call leaves an empty one and no progress file, a kill
 *    leaves a partial one and the progress file, and icp's own retry of
 *    the metadata call can leave an orphan beside the one it fills. The
 *    size the IC lists for a snapshot made by a metadata upload is the
 *    size that metadata declared, not what arrived, so it proves nothing
 *    either. An upload is adopted only when icp said it completed (exit
 *    0); a cut-off one is resumed while its progress file exists; every
 *    other new snapshot (not in the list recorded before the first
 *    upload) is one of ours, partial or orphaned: deleted, and the upload
 *    made again, a bounded number of times.
 */
#include "engine/engine.h"
#include "engine/walk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/snapshot_meta.h"

int sf_engine_tmp_describes(sf_engine *e, const char *id,
                            const char *snapshot_id, const char *dir,
                            bool *yes, sf_error *err)
{
    sf_snapshot_meta m;
    sf_result res;
    sf_error ignored;
    char *path;
    size_t i;
    int rc;

    *yes = false;
    path = sf_path_join(dir, SF_SNAPSHOT_META_FILE_NAME);
    if (path == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    /* unreadable: nothing worth resuming */
    rc = sf_snapshot_meta_read_file(path, &m, &ignored);
    free(path);
    if (rc != SF_OK)
        return SF_OK;
    rc = sf_engine_list(e, id, &res, err);
    for (i = 0; rc == SF_OK && i < res.snapshot_count; i++) {
        const sf_snapshot_info *s = &res.snapshots[i];
        if (strcmp(s->id, snapshot_id) == 0)
            *yes = s->has_taken_at &&
                   s->taken_at_timestamp == m.taken_at_timestamp;
    }
    sf_result_free(&res);
    sf_snapshot_meta_free(&m);
    return rc;
}

/* ---- upload ---- */

#define UPLOAD_TRIES 3
/* listings to get rid of the snapshots an upload left */
#define SWEEP_ROUNDS 3

static bool upload_in_progress(const char *dir)
{
    char *p = sf_path_join(dir, ".upload_progress.json");
    bool yes = sf_walk_exists(p);

    free(p);
    return yes;
}

static bool was_there(const sf_obs_canister *c, const char *snapshot_id)
{
    size_t k;

    for (k = 0; k < c->snapshots_before_count; k++)
        if (strcmp(c->snapshots_before[k], snapshot_id) == 0)
            return true;
    return false;
}

/* Deletes every snapshot of id that was not there before our first
 * upload, except keep (NULL: none): the partial or orphaned targets of our
 * uploads. Nothing else makes snapshots of a canister a restore holds
 * stopped; a delete whose outcome is unknown is decided by the next
 * listing. */
static int sweep(sf_engine *e, const char *id, const char *keep, sf_error *err)
{
    int round;

    for (round = 0; round < SWEEP_ROUNDS; round++) {
        sf_result res;
        size_t i, found = 0;

        if (sf_engine_list(e, id, &res, err) != SF_OK) {
            sf_result_free(&res);
            return SF_ERR;
        }
        for (i = 0; i < res.snapshot_count; i++) {
            const char *sid = res.snapshots[i].id;
            sf_fail_class fail;
            sf_result dres;
            sf_op op;
            int rc;

            /* looked up at each turn: during the delete below another
             * task may add a canister to the observations and move them */
            if (was_there(sf_obs_find(&e->obs, id), sid) ||
                (keep != NULL && strcmp(sid, keep) == 0))
                continue;
            found++;
            sf_engine_say(e, "delete %s %s (left by an upload that did "
                          "not complete)", id, sid);
            if (sf_op_init(&op, SF_OP_DELETE, id, sid, NULL, err) != SF_OK) {
                sf_result_free(&res);
                return SF_ERR;
            }
            rc = sf_engine_call(e, &op, &dres, &fail, err);
            sf_result_free(&dres);
            if (rc != SF_OK && fail != SF_FAIL_UNKNOWN) {
                sf_result_free(&res);
                return SF_ERR;
            }
        }
        sf_result_free(&res);
        if (found == 0)
            return SF_OK;
    }
    return sf_error_set(err, "driver-unknown-outcome", "", "upload to %s: "
                        "the snapshots an incomplete upload left are still "
                        "listed after %d rounds of deletes; rerun to try "
                        "again", id, SWEEP_ROUNDS);
}

/* icp exited 0 but its reply was unreadable: the upload completed, and
 * its snapshot is the only new one. */
static int adopt_listed(sf_engine *e, const char *id, sf_snapshot_info *snap,
                        sf_error *err)
{
    const sf_obs_canister *c;
    sf_result res;
    size_t i, found = 0;

    if (sf_engine_list(e, id, &res, err) != SF_OK) {
        sf_result_free(&res);
        return SF_ERR;
    }
    c = sf_obs_find(&e->obs, id);
    for (i = 0; i < res.snapshot_count; i++) {
        if (!was_there(c, res.snapshots[i].id)) {
            found++;
            *snap = res.snapshots[i];
        }
    }
    sf_result_free(&res);
    if (found != 1)
        return sf_error_set(err, "snapshot-reconcile-ambiguous", "", "upload "
                            "to %s completed but its reply was unreadable, "
                            "and %zu snapshots are new: refusing to guess "
                            "which is ours", id, found);
    return SF_OK;
}

static int keep_snapshot(sf_engine *e, const char *id,
                         const sf_snapshot_info *snap, sf_error *err)
{
    sf_obs_canister *c;

    if (sweep(e, id, snap->id, err) != SF_OK)
        return SF_ERR;
    c = sf_obs_find(&e->obs, id);
    free(c->snapshot_id);
    c->snapshot_id = strdup(snap->id);
    if (c->snapshot_id == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return sf_engine_save(e, id, err);
}

int sf_engine_upload(sf_engine *e, const char *id, const char *dir,
                     sf_snapshot_info *snap, sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, id);
    int attempt;

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    memset(snap, 0, sizeof *snap);
    if (c->snapshot_id != NULL) {
        snprintf(snap->id, sizeof snap->id, "%s", c->snapshot_id);
        return SF_OK; /* already ours: a rerun never makes it twice */
    }
    if (c->snapshots_before == NULL) {
        /* write-ahead: what was there before any upload of ours */
        sf_result res;
        int rc;

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
    } else if (!upload_in_progress(dir) && sweep(e, id, NULL, err) != SF_OK) {
        /* an earlier run's upload whose outcome it never learnt */
        return SF_ERR;
    }
    for (attempt = 1;; attempt++) {
        sf_result res;
        sf_fail_class fail;
        sf_op op;
        int rc;

        if (sf_op_init(&op, SF_OP_UPLOAD, id, NULL, dir, err) != SF_OK)
            return SF_ERR;
        /* icp resumes only from its progress file, which names the
         * snapshot it was filling */
        op.resume = upload_in_progress(dir);
        rc = sf_engine_call(e, &op, &res, &fail, err);
        if (rc == SF_OK)
            *snap = res.snapshot;
        if (rc != SF_OK && fail == SF_FAIL_UNKNOWN && res.err.kind != NULL &&
            strncmp(res.err.kind, "icp-output", 10) == 0) {
            /* exit 0: complete, only the id is unreadable */
            sf_result_free(&res);
            if (adopt_listed(e, id, snap, err) != SF_OK)
                return SF_ERR;
            return keep_snapshot(e, id, snap, err);
        }
        sf_result_free(&res);
        if (rc == SF_OK)
            return keep_snapshot(e, id, snap, err);
        if (fail != SF_FAIL_UNKNOWN)
            return SF_ERR;
        if (attempt == UPLOAD_TRIES)
            break;
        if (upload_in_progress(dir))
            continue; /* cut off: resumed where it stopped */
        /* no progress file: nothing proves the new snapshot is whole */
        if (sweep(e, id, NULL, err) != SF_OK)
            return SF_ERR;
    }
    {
        char last[sizeof err->message];
        sf_error ignored;

        snprintf(last, sizeof last, "%s", err->message);
        /* an incomplete snapshot never outlives the run that made it: it
         * holds one of the canister's snapshot slots */
        if (!upload_in_progress(dir))
            sweep(e, id, NULL, &ignored);
        return sf_error_set(err, "driver-unknown-outcome", "", "upload to %s "
                            "did not complete in %d attempts (%s); rerun to "
                            "%s it", id, UPLOAD_TRIES, last,
                            upload_in_progress(dir) ? "resume" : "make");
    }
}
