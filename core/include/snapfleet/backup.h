/*
 * snapfleet: the backup pipelines.
 *
 * sf_snapshot_download() is canic's `snapshot download` (the seed's
 * download_snapshots): per target, stop, snapshot, download, checksum,
 * finalize, and start again only with resume_after_snapshot. It writes the
 * download journal after every step and the manifest at the end.
 *
 * Where snapfleet differs from canic 0.35.10 (docs/differences.md):
 * rerunning into the same `out` resumes from the journals; a kernel lock
 * keeps two runs apart; unknown outcomes are reconciled by observation;
 * finalize is repeatable; canisters we stopped are started again if the run
 * fails and the caller asked for them to run (resume_after_snapshot).
 */
#ifndef SNAPFLEET_BACKUP_H
#define SNAPFLEET_BACKUP_H

#include "snapfleet/progress.h"
#include "snapfleet/export.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/json.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_snapshot_download_config {
    const char *canister;      /* the selected canister */
    const char *root;          /* registry root; required with children */
    bool include_children;
    bool recursive;            /* implies include_children */
    bool dry_run;
    bool resume_after_snapshot;
    const char *out;           /* backup directory */
    const char *backup_id;     /* NULL: the out directory's name */
    const char *tool_name;
    const char *tool_version;
    const char *environment;   /* the network name, recorded in the manifest */
    const char *created_at;    /* NULL: the clock's unix marker */
    FILE *log;                 /* one line per effect, or NULL */
    /* The transfers' status line (progress.h), or NULL; with a log, the
     * log's lines are printed above it. */
    sf_progress *progress;
    bool verify_transfer;      /* read every snapshot twice and compare */
    /* On-canister retention once the run is complete (the CLI turns it on,
     * keeping 1): the newest keep_on_canister snapshots of each target
     * that a manifest under root_dir records stay, older ones recorded
     * there are deleted; snapshots recorded nowhere are never touched.
     * root_dir NULL: the parent of out. 0 deletes this run's own too. */
    bool retain_on_canister;
    uint64_t keep_on_canister;
    const char *root_dir;
    /* The most snapshots a canister may hold (the IC's subnet setting; the
     * CLI gives the simulator's, or 10 for icp). Before the first stop,
     * a canister at the limit gets its create turned into a replace of
     * its oldest snapfleet-made snapshot whose backup under root_dir is
     * complete and verifies, or the run fails naming the canister and its
     * snapshots. 0: not known, not checked (the create may be refused). */
    uint64_t snapshot_limit;
    /* Targets captured at once, 1 to 64 (0 counts as 1: one after the
     * other). Each target's own steps keep their order. */
    unsigned jobs;
} sf_snapshot_download_config;

typedef struct sf_snapshot_artifact {
    char *canister_id;
    char *snapshot_id;
    char *path;     /* the final artifact path */
    char *checksum; /* "<sha256>" in a dry run */
} sf_snapshot_artifact;

typedef struct sf_snapshot_download_result {
    sf_snapshot_artifact *artifacts;
    size_t artifact_count;
    sf_buf planned_commands; /* dry run: one command a line */
    bool resumed;            /* the run continued an interrupted one */
} sf_snapshot_download_result;

SF_API int sf_snapshot_download(const sf_snapshot_download_config *cfg,
                                sf_driver *driver, const sf_clock *clock,
                                sf_snapshot_download_result *result, sf_error *err);
SF_API void sf_snapshot_download_result_free(sf_snapshot_download_result *r);

/* ---- `backup`: canic's plan, execution journal and runner ---- */

typedef enum sf_backup_schedule {
    SF_BACKUP_FLEET = 0,        /* stop all, snapshot all, start all, transfer */
    SF_BACKUP_PER_CANISTER = 1  /* one canister at a time */
} sf_backup_schedule;

typedef struct sf_backup_config {
    const char *out;          /* backup directory; a rerun resumes it */
    const char *fleet;        /* fleet name, recorded in the plan */
    const char *network;      /* recorded in the plan and the manifest */
    const char *root;         /* the fleet's root canister */
    const char *subtree;      /* role or principal selector; NULL: whole fleet */
    bool include_root;        /* whole fleet including the root (maintenance) */
    sf_backup_schedule schedule;
    bool leave_stopped;       /* no restarts, planned or on failure */
    bool dry_run;             /* write plan + journal, print commands only */
    uint64_t max_steps;       /* 0: no limit */
    const char *tool_name;
    const char *tool_version;
    FILE *log;
    sf_progress *progress;    /* the transfers' status line, or NULL */
    bool verify_transfer;     /* read every snapshot twice and compare */
    /* On-canister retention once the run is complete (the CLI turns it on,
     * keeping 1): the newest keep_on_canister snapshots of each target
     * that a manifest under root_dir records stay, older ones recorded
     * there are deleted; snapshots recorded nowhere are never touched.
     * root_dir NULL: the parent of out. 0 deletes this run's own too. */
    bool retain_on_canister;
    uint64_t keep_on_canister;
    const char *root_dir;
    /* As sf_snapshot_download_config.snapshot_limit. */
    uint64_t snapshot_limit;
    /* Operations in flight at once, 1 to 64 (0 counts as 1: one at a
     * time). Independent operations of different canisters overlap; a
     * canister's own keep their order; with the fleet schedule the
     * stops, snapshots and starts run as waves, one tree depth at a
     * time. */
    unsigned jobs;
} sf_backup_config;

typedef struct sf_backup_result {
    char *plan_id;
    char *run_id;
    bool resumed;              /* a plan was already in `out` */
    bool complete;
    bool max_steps_reached;
    uint64_t executed;         /* operations executed by this run */
    uint64_t total_operations;
    char *scope;               /* from the plan: "non-root-fleet",
                                  "subtree:<id>", "maintenance-root", ... */
    uint64_t target_count;
    sf_buf planned_commands;   /* dry run: one command a line */
    /* How long this run held canisters stopped, in the clock's ms (virtual
     * under the simulator): each canister it stopped, in the order of the
     * first stops, from the stop's issue to the start's completion
     * (summed when stopped twice); restarted false: still stopped at the
     * end (stopped_ms counts the closed intervals only). The fleet's span:
     * the first stop to the last start, when some canister was started
     * again. */
    struct sf_backup_stopped *stopped;
    size_t stopped_count;
    bool has_fleet_stopped_span;
    uint64_t fleet_stopped_span_ms;
} sf_backup_result;

typedef struct sf_backup_stopped {
    char canister_id[SF_PRINCIPAL_TEXT_MAX];
    uint64_t stopped_ms;
    bool restarted;
} sf_backup_stopped;

/* A run's "stopped" object (the value; the caller has written its key),
 * as backup --json and restore run --json report it:
 * {"fleet_span_ms": the span or null, "canisters": [{"canister_id",
 * "stopped_ms", "restarted"}, ...]}. */
SF_API void sf_stopped_write_json(sf_jw *w, const sf_backup_stopped *s,
                                  size_t n, bool has_span, uint64_t span_ms);

/* A backup directory's execution journal and download journal as they
 * stand: the documents (the last checkpoints) with the later records of
 * its transition log replayed, then validated whole; nothing is written.
 * An absent document leaves *have_j / *have_dj false. Refusals name the
 * file (and for the log, the record's byte offset). */
SF_API int sf_backup_state_read(const char *dir, sf_exec_journal *j,
                                bool *have_j, sf_download_journal *dj,
                                bool *have_dj, sf_error *err);

SF_API int sf_backup_run(const sf_backup_config *cfg, sf_driver *driver,
                         const sf_clock *clock, sf_backup_result *result,
                         sf_error *err);
SF_API void sf_backup_result_free(sf_backup_result *r);

#ifdef __cplusplus
}
#endif

#endif
