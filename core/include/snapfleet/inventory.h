/*
 * snapfleet: the backup root. Every backup directory under a root, what
 * state it is in, which snapshots it recorded, and retention of local
 * backup directories (`backup list`, `backup inspect`, `backup prune`).
 *
 * A backup directory is untrusted input: a directory counts as a backup
 * layout only when it holds a snapfleet or canic document and nothing but
 * the names such a layout has (documents, their atomic temporaries, locks,
 * artifact directories the journal or manifest names, transfer leftovers,
 * the restore directory). Anything else is never deleted.
 */
#ifndef SNAPFLEET_INVENTORY_H
#define SNAPFLEET_INVENTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"
#include "snapfleet/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Prune moves a directory to "<root>/.snapfleet-trash-<name>" before it
 * removes it, so a crash leaves either the whole backup or a trash entry
 * the next prune finishes removing. */
#define SF_TRASH_PREFIX ".snapfleet-trash-"

typedef enum sf_backup_state {
    SF_BACKUP_VERIFIED,    /* complete, and every checksum recomputed */
    SF_BACKUP_COMPLETE,    /* manifest and journals complete and agreeing */
    SF_BACKUP_CORRUPT,     /* complete, but verification failed */
    SF_BACKUP_FAILED,      /* an operation failed and none ran since */
    SF_BACKUP_IN_PROGRESS, /* started, not finished (paused or crashed) */
    SF_BACKUP_LOCKED,      /* a live process holds its lock */
    SF_BACKUP_DRY_RUN,     /* a plan and nothing executed */
    SF_BACKUP_INVALID      /* a document cannot be read */
} sf_backup_state;

/* "verified", "complete", "corrupt", "failed", "in-progress", "locked",
 * "dry-run", "invalid". */
SF_API const char *sf_backup_state_name(sf_backup_state s);

typedef struct sf_recorded_snapshot {
    char *canister_id;
    char *snapshot_id;
    bool has_taken_at;
    uint64_t taken_at_timestamp; /* ns, from the create receipt */
    bool has_total_size;
    uint64_t total_size_bytes;
} sf_recorded_snapshot;

typedef struct sf_backup_entry {
    char *name;       /* the directory's name under the root */
    char *path;       /* root joined with name */
    char *backup_id;  /* manifest, else journal or plan run id; may be NULL */
    char *fleet;      /* from the plan; NULL for snapshot-download layouts */
    char *network;    /* plan network, else manifest environment */
    char *created_at; /* manifest created_at, else derived; may be NULL */
    uint64_t time_s;  /* sort key: seconds since the epoch, 0 unknown */
    sf_backup_state state;
    char *detail;     /* why invalid/corrupt/not a layout; may be NULL */
    bool is_layout;   /* only the names a backup layout has */
    size_t members;   /* manifest members, else plan targets */
    uint64_t bytes;   /* regular files under the directory */
    /* Snapshots recorded in the manifest (complete backups only). */
    sf_recorded_snapshot *snapshots;
    size_t snapshot_count;
    /* Still on the canisters: -1 not checked, else how many of the
     * recorded snapshots a listing found. */
    long on_canister;
} sf_backup_entry;

typedef struct sf_inventory {
    char *root;
    sf_backup_entry *entries; /* newest first */
    size_t count;
    char **trash;             /* trash entries a prune left behind */
    size_t trash_count;
} sf_inventory;

/* Scans the immediate subdirectories of root (symbolic links skipped).
 * A directory with none of the backup documents is left out. verify:
 * recompute every checksum of complete backups (VERIFIED or CORRUPT);
 * otherwise they are COMPLETE. A missing root is an empty inventory.
 * Newest first: time, then name, descending. */
SF_API int sf_inventory_scan(const char *root, bool verify, sf_inventory *inv,
                      sf_error *err);
SF_API void sf_inventory_free(sf_inventory *inv);
/* Classifies one backup directory (the same as a scan entry). */
SF_API int sf_backup_entry_read(const char *path, bool verify, sf_backup_entry *e,
                         sf_error *err);
SF_API void sf_backup_entry_free(sf_backup_entry *e);

/* Fills on_canister of every entry that recorded snapshots: how many of
 * them a listing of their canisters through driver still shows (same
 * snapshot id). Each canister is listed once; an unknown outcome is asked
 * again. A listing that fails names the canister and leaves every entry
 * unchecked (-1). Changes nothing on the canisters. */
SF_API int sf_inventory_check_canisters(sf_inventory *inv, sf_driver *driver,
                                        sf_error *err);

/* {"root", "backups": [...], "trash": [...]} */
SF_API int sf_inventory_json(const sf_inventory *inv, sf_buf *out, sf_error *err);
/* The `backup list` table, appended to out; "out-of-memory" when it
 * could not all be had. */
SF_API int sf_inventory_table(const sf_inventory *inv, sf_buf *out,
                              sf_error *err);

/* Bytes of the regular files at path (a file or a tree; links not
 * followed). */
SF_API uint64_t sf_path_bytes(const char *path);

/* ---- inspect ---- */

/* canic's inspect, for every layout: the manifest's members (role,
 * canister, parent, snapshot, module hash, artifact path, checksum, size
 * on disk), topology hashes, and where the journals stand. */
SF_API int sf_backup_inspect_json(const char *dir, sf_buf *out, sf_error *err);
SF_API int sf_backup_inspect_text(const char *dir, sf_buf *out, sf_error *err);

/* ---- prune ---- */

typedef enum sf_prune_action {
    SF_PRUNE_KEEP,    /* one of the newest `keep` verified backups */
    SF_PRUNE_DELETE,  /* deleted (or would be, in a dry run) */
    SF_PRUNE_PROTECT  /* never deleted: see reason */
} sf_prune_action;

typedef struct sf_prune_decision {
    char *name;
    sf_backup_state state;
    sf_prune_action action;
    const char *reason; /* static text */
} sf_prune_decision;

typedef struct sf_prune_result {
    sf_prune_decision *decisions; /* newest first */
    size_t count;
    size_t kept, deleted, protected_count;
    char **trash_finished; /* trash entries of an earlier prune, removed */
    size_t trash_finished_count;
    bool dry_run;
} sf_prune_result;

/* Deletes the backup directories under root beyond the newest `keep`
 * verified ones (every checksum recomputed), never one that is locked, in
 * progress, a dry run, invalid, not a backup layout, or the newest failed
 * one. Each deletion renames the directory to a trash name (durably) under
 * its lock, then removes it; a trash entry left by a crash is removed
 * first. dry_run: decide and report, touch nothing. keep must be >= 1. */
SF_API int sf_prune(const char *root, size_t keep, bool dry_run,
             sf_prune_result *res, sf_error *err);
SF_API void sf_prune_result_free(sf_prune_result *res);
SF_API const char *sf_prune_action_name(sf_prune_action a); /* "keep", ... */
SF_API int sf_prune_result_json(const sf_prune_result *res, const char *root,
                         sf_buf *out, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
