/*
 * snapfleet: restoring a fleet from a backup directory (snapfleet's or
 * canic's), through the same driver interface as the backup.
 *
 * The restore keeps its state beside the backup, in a restore directory
 * (default <backup>/restore): restore-plan.json (canic's plan),
 * restore-apply-journal.json (canic's apply journal, written before and
 * after every effect), snapfleet-restore-observations.json (what was seen
 * before each effect) and staging/ (a verified private copy of each
 * artifact, which is what gets uploaded).
 *
 * Modes, as canic's runner: dry-run (render every command, touch nothing),
 * execute (run operations in order until done, a failure, or max_steps;
 * with jobs > 1 several at once), unclaim-pending (after a crash: the
 * pending operations become ready again), retry-failed (the failed
 * operations become ready again).
 *
 * Safety: the backup must verify before anything is planned; the uploaded
 * copy must have the manifest's checksum; an upload whose response was
 * lost is found by listing the target's snapshots, never repeated blindly;
 * a load needs the canister stopped; a canister ends as it was before the
 * restore (running or stopped) and verification checks that, and the
 * module hash. A failure before any load was attempted starts again what
 * the restore stopped; after that the operator decides (the status says so).
 */
#ifndef SNAPFLEET_RESTORE_H
#define SNAPFLEET_RESTORE_H

#include "snapfleet/progress.h"
#include "snapfleet/export.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_RESTORE_DIR_NAME "restore"
#define SF_RESTORE_PLAN_FILE_NAME "restore-plan.json"
#define SF_RESTORE_JOURNAL_FILE_NAME "restore-apply-journal.json"
#define SF_RESTORE_OBSERVATIONS_FILE_NAME "snapfleet-restore-observations.json"

typedef enum sf_restore_mode {
    SF_RESTORE_MODE_DRY_RUN = 0,
    SF_RESTORE_MODE_EXECUTE = 1,
    SF_RESTORE_MODE_UNCLAIM_PENDING = 2,
    SF_RESTORE_MODE_RETRY_FAILED = 3
} sf_restore_mode;

typedef struct sf_restore_config {
    const char *backup;      /* the backup directory */
    const char *mapping;     /* mapping JSON file, or NULL for in place */
    const char *restore_dir; /* NULL: <backup>/restore */
    sf_restore_mode mode;
    uint64_t max_steps;      /* 0: no limit */
    FILE *log;
    sf_progress *progress;   /* the uploads' status line, or NULL */
    /* A member restored in place whose snapshot is still on its canister
     * (listed with the id, taken_at and size the backup recorded) is
     * loaded from there: no upload. Its local artifact is still verified
     * first. force_upload (--upload) uploads every member instead. */
    bool force_upload;
    /* Operations in flight at once, 1 to 64 (0 counts as 1: one at a
     * time, canic's order). Operations of different canisters overlap
     * within a wave of the plan (the uploads; the stops and starts one
     * tree depth at a time, top-down and bottom-up; the loads; the
     * checks); a canister's own keep their order. */
    unsigned jobs;
} sf_restore_config;

typedef struct sf_restore_result {
    bool complete;
    uint64_t executed;
    const char *stopped_reason; /* canic's labels: complete, command-failed, ... */
    const char *next_action;    /* done, inspect-failed-operation, unclaim-pending, ... */
    bool loads_done;            /* a load was attempted: it may have happened */
    sf_buf commands;            /* dry run: one command a line */
    sf_buf report;              /* the journal report (JSON); execute: with
                                   "stopped" last */
    /* One line per member, which path its snapshot takes: "<target>
     * canister <snapshot>" (loaded from the canister), "<target> upload",
     * or "<target> undecided" (status: not run yet). */
    sf_buf paths;
    /* execute: how long this run held canisters stopped, as a backup's
     * result says it (snapfleet/backup.h: sf_backup_stopped, in the order
     * of the first stops; the fleet's span from the first stop to the last
     * start, when a canister was started again); also in the report, as
     * its "stopped" object. */
    struct sf_backup_stopped *stopped;
    size_t stopped_count;
    bool has_fleet_stopped_span;
    uint64_t fleet_stopped_span_ms;
} sf_restore_result;

/* Verifies the backup and builds canic's restore plan JSON (no files
 * written). */
SF_API int sf_restore_plan_backup(const char *backup, const char *mapping,
                                  sf_buf *plan_json, sf_error *err);

SF_API int sf_restore_run(const sf_restore_config *cfg, sf_driver *driver,
                          const sf_clock *clock, sf_restore_result *result,
                          sf_error *err);
SF_API void sf_restore_result_free(sf_restore_result *r);

/* Where a restore stands: the journal report plus a human summary. */
SF_API int sf_restore_status(const char *backup, const char *restore_dir,
                             sf_restore_result *result, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
