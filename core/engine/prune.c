/*
 * `backup prune`: retention of local backup directories. Decides from a
 * verifying scan (every checksum recomputed: a backup counts towards
 * `keep` only if it would restore), then deletes crash-safely: under the
 * directory's own lock, a durable rename to a trash name, then removal.
 * A crash leaves either the backup whole or a trash entry; the next prune
 * removes trash entries before anything else.
 */
#include "snapfleet/inventory.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"

static const char *const action_names[] = {"keep", "delete", "protect"};

const char *sf_prune_action_name(sf_prune_action a)
{
    return (unsigned)a < 3 ? action_names[a] : "unknown";
}

/* What the scan said, and whether retention may touch it. Order of the
 * checks matters only for the reason shown. */
static void decide(const sf_inventory *inv, size_t keep, sf_prune_decision *d)
{
    size_t i, verified = 0, cutoff = inv->count, newest_failed = inv->count;

    for (i = 0; i < inv->count; i++) {
        if (inv->entries[i].state == SF_BACKUP_VERIFIED && verified < keep &&
            inv->entries[i].is_layout) {
            verified++;
            if (verified == keep)
                cutoff = i;
        }
        if (inv->entries[i].state == SF_BACKUP_FAILED && newest_failed == inv->count)
            newest_failed = i;
    }
    verified = 0;
    for (i = 0; i < inv->count; i++) {
        const sf_backup_entry *e = &inv->entries[i];
        d[i].state = e->state;
        d[i].action = SF_PRUNE_PROTECT;
        if (!e->is_layout) {
            d[i].reason = "not a backup layout";
        } else if (e->state == SF_BACKUP_VERIFIED && verified < keep) {
            verified++;
            d[i].action = SF_PRUNE_KEEP;
            d[i].reason = "one of the newest verified backups";
        } else if (e->state == SF_BACKUP_LOCKED) {
            d[i].reason = "locked by a live run";
        } else if (e->state == SF_BACKUP_IN_PROGRESS) {
            d[i].reason = "in progress";
        } else if (e->state == SF_BACKUP_DRY_RUN) {
            d[i].reason = "a dry-run plan";
        } else if (e->state == SF_BACKUP_INVALID) {
            d[i].reason = "its documents cannot be read";
        } else if (i == newest_failed) {
            d[i].reason = "the newest failed backup (the evidence)";
        } else if (cutoff == inv->count) {
            d[i].reason = "fewer verified backups than --keep";
        } else if (i < cutoff) {
            d[i].reason = "newer than the oldest kept backup";
        } else {
            d[i].action = SF_PRUNE_DELETE;
            d[i].reason = "older than the newest verified backups kept";
        }
    }
}

static char *trash_path(const char *root, const char *name)
{
    size_t n = strlen(SF_TRASH_PREFIX) + strlen(name) + 1;
    char *t = malloc(n), *p;

    if (t == NULL)
        return NULL;
    snprintf(t, n, "%s%s", SF_TRASH_PREFIX, name);
    p = sf_path_join(root, t);
    free(t);
    return p;
}

/* Under the backup's own lock (a run that starts now waits, or finds the
 * directory gone), rename it to its trash name, then remove that. */
static int delete_backup(const char *root, const sf_backup_entry *e,
                         sf_error *err)
{
    sf_lock lock;
    char *trash = trash_path(root, e->name);
    int rc;

    if (trash == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_lock_acquire(e->path, &lock, err) != SF_OK) {
        free(trash);
        return SF_ERR;
    }
    rc = sf_fs_rename_durable(e->path, trash, err);
    sf_lock_release(&lock);
    if (rc == SF_OK)
        rc = sf_remove_tree(trash, err);
    free(trash);
    return rc;
}

int sf_prune(const char *root, size_t keep, bool dry_run, sf_prune_result *res,
             sf_error *err)
{
    sf_inventory inv;
    size_t i;
    int rc = SF_OK;

    memset(res, 0, sizeof *res);
    res->dry_run = dry_run;
    if (keep == 0)
        return sf_error_set(err, SF_EK_USAGE, "--keep", "--keep must be at "
                            "least 1");
    if (sf_inventory_scan(root, false, &inv, err) != SF_OK)
        return SF_ERR;
    /* Finish an interrupted prune first: a trash entry is a backup the
     * last prune had decided to delete. */
    if (inv.trash_count > 0) {
        res->trash_finished = calloc(inv.trash_count, sizeof *res->trash_finished);
        if (res->trash_finished == NULL) {
            sf_inventory_free(&inv);
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
    }
    for (i = 0; i < inv.trash_count && rc == SF_OK; i++) {
        char *p = sf_path_join(root, inv.trash[i]);
        if (p == NULL)
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        else if (!dry_run)
            rc = sf_remove_tree(p, err);
        free(p);
        if (rc == SF_OK) {
            res->trash_finished[res->trash_finished_count++] = inv.trash[i];
            inv.trash[i] = NULL;
        }
    }
    sf_inventory_free(&inv);
    if (rc != SF_OK)
        goto fail;
    /* Verified only now: recomputing every checksum costs a full read. */
    if (sf_inventory_scan(root, true, &inv, err) != SF_OK)
        goto fail;
    if ((res->decisions = calloc(inv.count ? inv.count : 1,
                                 sizeof *res->decisions)) == NULL) {
        sf_inventory_free(&inv);
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto fail;
    }
    decide(&inv, keep, res->decisions);
    res->count = inv.count;
    for (i = 0; i < inv.count; i++) {
        sf_prune_decision *d = &res->decisions[i];
        if ((d->name = strdup(inv.entries[i].name)) == NULL) {
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            break;
        }
        if (d->action == SF_PRUNE_KEEP)
            res->kept++;
        else if (d->action == SF_PRUNE_PROTECT)
            res->protected_count++;
        else if (dry_run || (rc = delete_backup(root, &inv.entries[i], err)) == SF_OK)
            res->deleted++;
        else if (err->kind != NULL && strcmp(err->kind, "journal-locked") == 0) {
            /* a run took it between the scan and now */
            rc = SF_OK;
            d->action = SF_PRUNE_PROTECT;
            d->state = SF_BACKUP_LOCKED;
            d->reason = "locked by a live run";
            res->protected_count++;
        } else
            break;
    }
    sf_inventory_free(&inv);
    if (rc == SF_OK)
        return SF_OK;
fail:
    sf_prune_result_free(res);
    return SF_ERR;
}

void sf_prune_result_free(sf_prune_result *res)
{
    size_t i;

    if (res == NULL)
        return;
    for (i = 0; i < res->count; i++)
        free(res->decisions[i].name);
    for (i = 0; i < res->trash_finished_count; i++)
        free(res->trash_finished[i]);
    free(res->decisions);
    free(res->trash_finished);
    memset(res, 0, sizeof *res);
}

int sf_prune_result_json(const sf_prune_result *res, const char *root,
                         sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "root", root);
    sf_jw_kv_bool(&w, "dry_run", res->dry_run);
    sf_jw_kv_u64(&w, "kept", res->kept);
    sf_jw_kv_u64(&w, "deleted", res->deleted);
    sf_jw_kv_u64(&w, "protected", res->protected_count);
    sf_jw_kv_strv(&w, "trash_finished", res->trash_finished,
                  res->trash_finished_count);
    sf_jw_key(&w, "backups");
    sf_jw_begin_array(&w);
    for (i = 0; i < res->count; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "dir", res->decisions[i].name);
        sf_jw_kv_string(&w, "status", sf_backup_state_name(res->decisions[i].state));
        sf_jw_kv_string(&w, "action", sf_prune_action_name(res->decisions[i].action));
        sf_jw_kv_string(&w, "reason", res->decisions[i].reason);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}
