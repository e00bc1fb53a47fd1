/*
 * Restore from the snapshot still on the canister. A member restored in
 * place whose backed-up snapshot is still listed on its canister, with
 * the id, taken_at and size the backup recorded (the create receipts of
 * a planned backup), can be loaded from there: no upload, minutes saved
 * per GiB. Anything less than all three facts agreeing means upload.
 * The decision is recorded in the restore observations before the step
 * acts; once an upload may have gone out it is never switched back.
 */
#include "engine/engine.h"

#include <stdlib.h>
#include <string.h>

#include "snapfleet/inventory.h"

int sf_restore_snapshot_on_canister(sf_engine *e, const sf_backup_entry *be,
                                    const char *canister,
                                    const char *snapshot_id, bool *yes,
                                    char why[256], sf_error *err)
{
    const sf_recorded_snapshot *rs = NULL;
    sf_result res;
    size_t i;
    int rc;

    *yes = false;
    for (i = 0; i < be->snapshot_count && rs == NULL; i++)
        if (strcmp(be->snapshots[i].canister_id, canister) == 0 &&
            strcmp(be->snapshots[i].snapshot_id, snapshot_id) == 0)
            rs = &be->snapshots[i];
    if (rs == NULL || !rs->has_taken_at || !rs->has_total_size) {
        snprintf(why, 256, "the backup records no taken_at and size for it");
        return SF_OK;
    }
    rc = sf_engine_list(e, canister, &res, err);
    snprintf(why, 256, "it is no longer on the canister");
    for (i = 0; rc == SF_OK && i < res.snapshot_count; i++) {
        const sf_snapshot_info *s = &res.snapshots[i];

        if (strcmp(s->id, snapshot_id) != 0)
            continue;
        if (s->has_taken_at && s->taken_at_timestamp == rs->taken_at_timestamp &&
            s->has_total_size && s->total_size_bytes == rs->total_size_bytes)
            *yes = true;
        else
            snprintf(why, 256, "the canister lists it with another taken_at or "
                     "size than the backup recorded");
    }
    sf_result_free(&res);
    return rc;
}

int sf_engine_set_load_from(sf_engine *e, const char *canister,
                            const char *from, sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, canister);

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (c->load_from != NULL && strcmp(c->load_from, from) == 0)
        return SF_OK;
    free(c->load_from);
    if ((c->load_from = strdup(from)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return sf_engine_save(e, canister, err);
}
