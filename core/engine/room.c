/*
 * Room for the create, decided before anything is stopped. The IC refuses
 * a snapshot beyond a canister's limit (a subnet setting, 10 today), so a
 * backup job run every day would break once the limit is reached. Before
 * the first stop, each target whose snapshot is still to be taken is
 * listed; a canister at its limit gets its create turned into a replace
 * of the oldest snapfleet-made snapshot on it, and only when that
 * snapshot belongs to a complete backup under the backup root that
 * verifies (every checksum recomputed) and no other process holds.
 * Otherwise the run fails here, naming the canister, its snapshots and
 * what to do, with nothing stopped.
 *
 * The decision is recorded in the observations (write-ahead: it lands
 * before the create is sent) and taken again by every run until the
 * snapshot exists, so a crash or a lost response anywhere repeats nothing
 * and misses nothing: a snapshot not in the list recorded before the
 * create is this run's and is adopted, never replaced again.
 */
#include "engine/engine.h"

#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/buf.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"

/* The backup under the root recording snapshot `id` of canister, other
 * than own_out; NULL when none does (not snapfleet-made). */
static const sf_backup_entry *owner(const sf_inventory *inv, const char *own_out,
                                    const char *canister, const char *id)
{
    size_t i, k;

    for (i = 0; i < inv->count; i++) {
        const sf_backup_entry *e = &inv->entries[i];

        if (sf_fs_same_dir(e->path, own_out))
            continue;
        for (k = 0; k < e->snapshot_count; k++)
            if (strcmp(e->snapshots[k].canister_id, canister) == 0 &&
                strcmp(e->snapshots[k].snapshot_id, id) == 0)
                return e;
    }
    return NULL;
}

/* A snapshot's time: the IC's taken_at, else its backup's time. */
static uint64_t when(const sf_snapshot_info *s, const sf_backup_entry *e)
{
    if (s->has_taken_at)
        return s->taken_at_timestamp;
    return e != NULL ? e->time_s * 1000000000ull : 0;
}

/* Does the listing hold a snapshot that was not there before this run's
 * create? Then the create happened (its answer was lost, or a crash came
 * before it was recorded) and new_snapshot() adopts it. */
static bool created_already(const sf_obs_canister *c, const sf_result *res)
{
    size_t i, k;

    if (c == NULL || c->snapshots_before == NULL)
        return false;
    for (i = 0; i < res->snapshot_count; i++) {
        bool known = false;
        for (k = 0; k < c->snapshots_before_count && !known; k++)
            known = strcmp(c->snapshots_before[k], res->snapshots[i].id) == 0;
        if (!known)
            return true;
    }
    return false;
}

static int set_replacing(sf_engine *e, const char *canister, const char *id,
                         sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, canister);

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if ((c->replacing == NULL && id == NULL) ||
        (c->replacing != NULL && id != NULL && strcmp(c->replacing, id) == 0))
        return SF_OK; /* nothing new to record */
    free(c->replacing);
    c->replacing = id != NULL ? strdup(id) : NULL;
    if (id != NULL && c->replacing == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return sf_engine_save(e, canister, err);
}

/* The refusal: every snapshot on the canister, whose it is, what to do. */
static int refuse(const sf_inventory *inv, const char *own_out,
                  const char *canister, const sf_result *res, uint64_t limit,
                  const char *why, sf_error *err)
{
    sf_buf b;
    size_t i;
    int rc;

    sf_buf_init(&b);
    for (i = 0; i < res->snapshot_count; i++) {
        const sf_snapshot_info *s = &res->snapshots[i];
        const sf_backup_entry *e = owner(inv, own_out, canister, s->id);

        sf_buf_printf(&b, "%s%s (%s%s%s)", i ? ", " : "", s->id,
                      e ? "backup " : "not made by snapfleet",
                      e ? e->name : "",
                      e ? (e->state == SF_BACKUP_LOCKED ? ", in use"
                           : e->state == SF_BACKUP_CORRUPT ? ", does not verify"
                           : "") : "");
    }
    rc = sf_error_set(err, "snapshot-limit-reached", "", "canister %s holds "
                      "%zu snapshot(s), its limit is %llu: %s; %s. Nothing was "
                      "stopped. Make room: delete one (icp canister snapshot "
                      "delete %s <id>), keep fewer with --keep-on-canister, or "
                      "give the subnet's limit with --snapshot-limit",
                      canister, res->snapshot_count, (unsigned long long)limit,
                      sf_buf_cstr(&b), why, canister);
    sf_buf_free(&b);
    return rc;
}

/* One canister: list, decide, record. *inv is scanned on first need. */
static int room_for(sf_engine *e, const char *root, const char *own_out,
                    const char *canister, uint64_t limit, sf_inventory *inv,
                    bool *scanned, sf_error *err)
{
    const sf_obs_canister *c = sf_obs_find(&e->obs, canister);
    const sf_snapshot_info *oldest = NULL;
    const sf_backup_entry *oldest_owner = NULL;
    sf_backup_entry check;
    sf_result res;
    size_t i;
    int rc;

    if (c != NULL && c->snapshot_id != NULL)
        return SF_OK; /* taken already */
    if (sf_engine_list(e, canister, &res, err) != SF_OK) {
        sf_result_free(&res);
        return sf_error_prefix(err, "before stopping anything: ");
    }
    c = sf_obs_find(&e->obs, canister);
    if (created_already(c, &res)) {
        sf_result_free(&res);
        return SF_OK;
    }
    if (res.snapshot_count < limit) {
        sf_result_free(&res);
        return set_replacing(e, canister, NULL, err);
    }
    if (!*scanned) {
        if (sf_inventory_scan(root, false, inv, err) != SF_OK) {
            sf_result_free(&res);
            return SF_ERR;
        }
        *scanned = true;
    }
    for (i = 0; i < res.snapshot_count; i++) {
        const sf_snapshot_info *s = &res.snapshots[i];
        const sf_backup_entry *o = owner(inv, own_out, canister, s->id);

        if (o == NULL)
            continue; /* not ours: never replaced */
        if (oldest == NULL || when(s, o) < when(oldest, oldest_owner) ||
            (when(s, o) == when(oldest, oldest_owner) &&
             strcmp(s->id, oldest->id) < 0)) {
            oldest = s;
            oldest_owner = o;
        }
    }
    if (oldest == NULL) {
        rc = refuse(inv, own_out, canister, &res, limit, "none of them was "
                    "made by snapfleet", err);
        sf_result_free(&res);
        return rc;
    }
    if (oldest_owner->state == SF_BACKUP_LOCKED) {
        rc = refuse(inv, own_out, canister, &res, limit, "the oldest made by "
                    "snapfleet belongs to a backup another process holds", err);
        sf_result_free(&res);
        return rc;
    }
    /* only a backup that would restore without it may lose its snapshot */
    if (sf_backup_entry_read(oldest_owner->path, true, &check, err) != SF_OK) {
        sf_result_free(&res);
        return SF_ERR;
    }
    if (check.state != SF_BACKUP_VERIFIED) {
        char why[512];

        snprintf(why, sizeof why, "the oldest made by snapfleet belongs to "
                 "backup %s, which is %s, not complete and verified",
                 check.name, sf_backup_state_name(check.state));
        sf_backup_entry_free(&check);
        rc = refuse(inv, own_out, canister, &res, limit, why, err);
        sf_result_free(&res);
        return rc;
    }
    sf_backup_entry_free(&check);
    sf_engine_say(e, "snapfleet: %s is at its limit of %llu snapshots: the "
                  "create replaces %s (backup %s)", canister,
                (unsigned long long)limit, oldest->id, oldest_owner->name);
    rc = set_replacing(e, canister, oldest->id, err);
    sf_result_free(&res);
    return rc;
}

int sf_engine_make_room(sf_engine *e, const char *root_dir, const char *out,
                        char *const *canisters, size_t count, uint64_t limit,
                        sf_error *err)
{
    sf_inventory inv;
    bool scanned = false;
    char *copy = NULL;
    const char *root = root_dir;
    size_t i;
    int rc = SF_OK;

    if (limit == 0)
        return SF_OK; /* the limit is not known: nothing to decide */
    if (root == NULL) {
        if ((copy = strdup(out)) == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        root = dirname(copy);
    }
    memset(&inv, 0, sizeof inv);
    for (i = 0; i < count && rc == SF_OK; i++)
        rc = room_for(e, root, out, canisters[i], limit, &inv, &scanned, err);
    if (scanned)
        sf_inventory_free(&inv);
    free(copy);
    return rc;
}
