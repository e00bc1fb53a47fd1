/*
 * snapfleet: the backup directory. File names, the kernel lock that keeps
 * two runs out of one directory, artifact path resolution, and the offline
 * integrity check (canic's verify_layout_integrity).
 */
#ifndef SNAPFLEET_LAYOUT_H
#define SNAPFLEET_LAYOUT_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/error.h"
#include "snapfleet/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_PLAN_FILE_NAME "backup-plan.json"
#define SF_EXEC_JOURNAL_FILE_NAME "backup-execution-journal.json"
#define SF_OBSERVATIONS_FILE_NAME "snapfleet-observations.json"
/* The run's transition log (docs/transition-log.md): the journals and the
 * observations above are its checkpoints. */
#define SF_TRANSITION_LOG_FILE_NAME "snapfleet-transitions.log"
/* Not canic's `backup-execution-journal.json.lock`: that name means "locked"
 * to canic whenever it exists, and a flock file stays behind by design. */
#define SF_LOCK_FILE_NAME ".snapfleet.lock"

/* "<dir>/<name>", malloc'd; NULL when out of memory. */
SF_API char *sf_path_join(const char *dir, const char *name);

/* An exclusive lock on <dir>/.snapfleet.lock through the installed storage
 * (sf_fs_storage(): flock(2) on POSIX), creating dir (0700) if needed. The
 * kernel drops it when the process dies, so a killed run never blocks the
 * next one; two live runs never share a directory. Errors:
 * "journal-locked" (another live run holds it), "io". */
typedef struct sf_lock {
    int fd; /* -1 when not held, 0 when held */
    const sf_storage *st;
    sf_storage_lock *held;
} sf_lock;

/* A lock not held: sf_lock_release on it does nothing. */
#define SF_LOCK_INIT {-1, NULL, NULL}

SF_API int sf_lock_acquire(const char *dir, sf_lock *lock, sf_error *err);
/* The same, with the directory named as `what` ("restore directory") in
 * the "journal-locked" message; sf_lock_acquire says "backup directory". */
SF_API int sf_lock_acquire_named(const char *dir, const char *what,
                                 sf_lock *lock, sf_error *err);
SF_API void sf_lock_release(sf_lock *lock);

/* canic's resolve_backup_artifact_path: refuses an absolute path or one
 * with a `..` component ("artifact-path-escapes-backup"); otherwise root
 * joined with rel verbatim. snapfleet also refuses a path any component of
 * which is a symbolic link ("symlink-refused"): artifacts are never
 * followed through links. *out is malloc'd. */
SF_API int sf_resolve_artifact_path(const char *root, const char *rel, char **out,
                                    sf_error *err);

typedef struct sf_integrity_artifact {
    char *canister_id;
    char *snapshot_id;
    char *artifact_path; /* resolved */
    char *checksum;
} sf_integrity_artifact;

typedef struct sf_integrity_report {
    char *backup_id;
    bool verified;
    size_t manifest_members;
    size_t journal_artifacts;
    size_t durable_artifacts;
    sf_integrity_artifact *artifacts;
    size_t artifact_count;
} sf_integrity_report;

/* Reads and validates <dir>/fleet-backup-manifest.json and
 * <dir>/download-journal.json, then checks them against each other and
 * every artifact's checksum against its bytes, in canic's order (spec 4.3).
 * A directory with a plan and no manifest is "dry-run-not-complete". */
SF_API int sf_verify_integrity(const char *dir, sf_integrity_report *report,
                               sf_error *err);
/* The same, with each artifact's checksum computed by checksum (NULL:
 * sf_checksum_path) from its resolved path: a caller that must read every
 * file anyway (push names each file by its SHA-256) hashes each once and
 * gives the artifact checksum from those hashes. The function must compute
 * it from the bytes on disk; it is compared with the journal's as
 * sf_checksum_path's result would be. */
typedef int (*sf_checksum_fn)(void *payload, const char *path,
                              char out_hex[SF_SHA256_HEX_SIZE], sf_error *err);
SF_API int sf_verify_integrity_with(const char *dir, sf_checksum_fn checksum,
                                    void *payload, sf_integrity_report *report,
                                    sf_error *err);
SF_API int sf_integrity_report_json(const sf_integrity_report *r, sf_buf *out,
                                    sf_error *err);
SF_API void sf_integrity_report_free(sf_integrity_report *r);

#ifdef __cplusplus
}
#endif

#endif
