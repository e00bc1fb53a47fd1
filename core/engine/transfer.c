/*
 * Transfers as icp 1.5.0 really runs them (its upload.rs, download.rs and
 * snapshot_transfer.rs), and what the engine must do about it:
 *
 *  - `download --resume` reloads metadata.json from the transfer
 *    directory and never asks whether it describes the snapshot it was
 *    given; a stale directory of another snapshot would mix two. A resume
 *    is chosen only when the saved metadata's taken_at is the listed
 *    snapshot's.
 */
#include "engine/engine.h"

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
    sf_fail_class fail;
    sf_op op;
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
    if (sf_op_init(&op, SF_OP_LIST, id, NULL, NULL, err) != SF_OK) {
        sf_snapshot_meta_free(&m);
        return SF_ERR;
    }
    rc = sf_engine_call(e, &op, &res, &fail, err);
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
