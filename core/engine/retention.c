/*
 * On-canister retention: after a run's artifacts are durable and its
 * manifest written, delete the older snapfleet-made snapshots of each
 * target beyond the newest `keep`.
 *
 * snapfleet-made means recorded in a manifest under the backup root;
 * nothing else is ever deleted (an operator's own snapshot, one of a run
 * still in progress, one a live restore of another backup may load).
 * Every delete is recorded in the observations before it is sent and
 * cleared after; a delete whose outcome is unknown is decided by listing
 * the canister's snapshots again, and a rerun lists before it deletes, so
 * a crash anywhere repeats nothing and misses nothing.
 */
#include "engine/engine.h"

#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"

typedef struct candidate {
    const char *id;    /* borrowed from the listing */
    uint64_t taken_at; /* ns; the backup's time when the IC gave none */
    bool held;         /* its backup is held by another live process */
} candidate;

static int newest_first(const void *a, const void *b)
{
    const candidate *x = a, *y = b;

    if (x->taken_at != y->taken_at)
        return x->taken_at > y->taken_at ? -1 : 1;
    return -strcmp(x->id, y->id);
}

/* Is snapshot_id of canister recorded by a backup under the root, and may
 * it go? *protect is set when its backup is held by another live process
 * (a restore may be about to load it). */
static bool recorded(const sf_inventory *inv, const char *own_out,
                     const char *canister, const char *snapshot_id,
                     uint64_t *time_ns, bool *protect)
{
    size_t i, k;
    bool found = false;

    for (i = 0; i < inv->count; i++) {
        const sf_backup_entry *e = &inv->entries[i];
        for (k = 0; k < e->snapshot_count; k++) {
            if (strcmp(e->snapshots[k].canister_id, canister) != 0 ||
                strcmp(e->snapshots[k].snapshot_id, snapshot_id) != 0)
                continue;
            found = true;
            if (*time_ns == 0)
                *time_ns = e->time_s * 1000000000ull;
            if (e->state == SF_BACKUP_LOCKED && !sf_fs_same_dir(e->path, own_out))
                *protect = true;
        }
    }
    return found;
}

static int set_deleting(sf_engine *e, const char *canister, const char *id,
                        sf_error *err)
{
    sf_obs_canister *c = sf_obs_get(&e->obs, canister);

    if (c == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    free(c->deleting);
    c->deleting = id != NULL ? strdup(id) : NULL;
    if (id != NULL && c->deleting == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return sf_engine_save(e, canister, err);
}

static bool listed(const sf_result *res, const char *id)
{
    size_t i;

    for (i = 0; i < res->snapshot_count; i++)
        if (strcmp(res->snapshots[i].id, id) == 0)
            return true;
    return false;
}

/* Deletes one snapshot, write-ahead; an unknown outcome is decided by a
 * listing. */
static int delete_one(sf_engine *e, const char *canister, const char *id,
                      sf_error *err)
{
    sf_op op;
    sf_result res;
    sf_fail_class fail;
    int attempt, rc = SF_ERR;

    if (set_deleting(e, canister, id, err) != SF_OK)
        return SF_ERR;
    sf_engine_say(e, "delete %s %s (older than the snapshots kept)",
                canister, id);
    for (attempt = 0; attempt < 2; attempt++) {
        if (sf_op_init(&op, SF_OP_DELETE, canister, id, NULL, err) != SF_OK)
            return SF_ERR;
        rc = sf_engine_call(e, &op, &res, &fail, err);
        sf_result_free(&res);
        if (rc == SF_OK || fail != SF_FAIL_UNKNOWN)
            break;
        if (sf_engine_list(e, canister, &res, err) != SF_OK) {
            sf_result_free(&res);
            return SF_ERR;
        }
        rc = listed(&res, id) ? SF_ERR : SF_OK;
        sf_result_free(&res);
        if (rc == SF_OK)
            break;
        sf_error_set(err, "driver-unknown-outcome", "", "delete %s %s: "
                     "outcome unknown and the snapshot is still listed",
                     canister, id);
    }
    if (rc != SF_OK)
        return SF_ERR;
    return set_deleting(e, canister, NULL, err);
}

static int retain_canister(sf_engine *e, const sf_inventory *inv,
                           const char *own_out, const char *canister,
                           uint64_t keep, sf_error *err)
{
    sf_result res;
    candidate *v = NULL;
    size_t i, n = 0;
    int rc = SF_OK;

    if (sf_engine_list(e, canister, &res, err) != SF_OK) {
        sf_result_free(&res);
        return SF_ERR;
    }
    if (res.snapshot_count > 0 &&
        (v = calloc(res.snapshot_count, sizeof *v)) == NULL) {
        sf_result_free(&res);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < res.snapshot_count; i++) {
        const sf_snapshot_info *s = &res.snapshots[i];
        uint64_t t = s->has_taken_at ? s->taken_at_timestamp : 0;
        bool protect = false;

        if (!recorded(inv, own_out, canister, s->id, &t, &protect))
            continue; /* not ours: never touched */
        v[n].id = s->id;
        v[n].taken_at = t;
        v[n].held = protect;
        n++;
    }
    if (n > 1)
        qsort(v, n, sizeof *v, newest_first);
    /* The newest `keep` stay, held or not; an older held one stays too
     * (a later run deletes it), so a hold never costs a newer snapshot. */
    for (i = (size_t)(keep < n ? keep : n); i < n && rc == SF_OK; i++)
        if (!v[i].held)
            rc = delete_one(e, canister, v[i].id, err);
    free(v);
    sf_result_free(&res);
    return rc;
}

int sf_engine_retain(sf_engine *e, const char *root, const char *own_out,
                     char *const *canisters, size_t count, uint64_t keep,
                     sf_error *err)
{
    sf_inventory inv;
    size_t i;
    int rc = SF_OK;

    bool own_seen = false;

    if (sf_inventory_scan(root, false, &inv, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < inv.count && !own_seen; i++)
        own_seen = sf_fs_same_dir(inv.entries[i].path, own_out);
    if (!own_seen) {
        /* --root-dir elsewhere: this run's own snapshots still count */
        sf_backup_entry *grown = realloc(inv.entries, (inv.count + 1) * sizeof *grown);
        if (grown == NULL) {
            sf_inventory_free(&inv);
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
        inv.entries = grown;
        if (sf_backup_entry_read(own_out, false, &inv.entries[inv.count], err) != SF_OK) {
            sf_inventory_free(&inv);
            return SF_ERR;
        }
        inv.count++;
    }
    for (i = 0; i < count && rc == SF_OK; i++)
        rc = retain_canister(e, &inv, own_out, canisters[i], keep, err);
    sf_inventory_free(&inv);
    if (rc != SF_OK)
        sf_error_prefix(err, "keeping %llu snapshot(s) on each canister "
                        "(the backup itself is complete): ",
                        (unsigned long long)keep);
    return rc;
}

int sf_engine_retain_run(sf_engine *e, const char *root_dir, const char *out,
                         char *const *canisters, size_t count, uint64_t keep,
                         sf_error *err)
{
    char *copy = NULL;
    int rc;

    if (root_dir == NULL) {
        if ((copy = strdup(out)) == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        root_dir = dirname(copy);
    }
    rc = sf_engine_retain(e, root_dir, out, canisters, count, keep, err);
    free(copy);
    return rc;
}
