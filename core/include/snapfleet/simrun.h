/*
 * snapfleet: deterministic simulation testing.
 *
 * One scenario per seed: a simulated fleet generated from the seed, a
 * random fault plan (and sometimes a crash point), a backup run through
 * every wrapper, a rerun when the first run failed or died, and the
 * invariants checked at the end:
 *   - no canister is left stopped that was running before, and none that
 *     was stopped before is started (unless --leave-stopped);
 *   - every snapshot the runs created is recorded in the download journal;
 *   - the backup verifies, and every artifact holds exactly the memory its
 *     canister has;
 *   - a run that failed left a directory that a rerun completed (a
 *     topology change fails closed instead: nothing was stopped, nothing
 *     was snapshotted, and a fresh backup completes).
 * The trace of every driver call is hashed: the same seed gives the same
 * digest on every machine (and for each disk: the two disks' digests of
 * one seed differ, since a crash in process leaves its trace).
 *
 * A crash on the simulated disk happens in process: at the crash point
 * (the Nth durable write, or inside the Nth write for a torn write) the
 * disk keeps only what was synced (and may tear the last write), the
 * simulator halts (sf_sim_halt: every later driver call fails with no
 * effect, the clock stands still), every later disk call fails, so the
 * engine unwinds and frees its memory without any containment reaching
 * the fleet (a killed process restarts nothing); then the process
 * restarts on what the disk kept (nothing to write back: there is nothing
 * behind the disk), the simulator resumes with the state it had, and the
 * rerun proceeds as after a kill.
 */
#ifndef SNAPFLEET_SIMRUN_H
#define SNAPFLEET_SIMRUN_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/error.h"
#include "snapfleet/sim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where a scenario's backups live. SIM (the default): the simulated disk
 * alone (snapfleet/simdisk.h, in memory), installed as the process's
 * storage (sf_fs_set_storage) for the seed: nothing of the seed is written
 * to the real file system, no fsync, no child process, no state file; a
 * crash is an in-process event (below); a failed seed's tree (every
 * seed's with keep) is copied at the end to work_dir/seed-N as the disk
 * held it. POSIX: the real file system, the fleet saved to a state file
 * after every effect, and a crash is a child process killed with SIGKILL
 * after its Nth durable write. */
typedef enum sf_simrun_disk {
    SF_SIMRUN_DISK_SIM = 0,
    SF_SIMRUN_DISK_POSIX = 1
} sf_simrun_disk;

typedef struct sf_simrun_config {
    uint64_t seed;
    uint64_t canisters;
    const char *work_dir; /* one sub-directory per seed (on the simulated
                             disk: only a failed or kept seed's, copied) */
    bool keep;            /* keep the seed's directory afterwards */
    bool allow_crash;     /* crash scenarios fork a child that is killed */
    uint64_t fanout;      /* children per canister; 0: chosen (sf_sim_shape) */
    uint64_t depth;       /* levels below the root; 0: chosen */
    sf_simrun_disk disk;
} sf_simrun_config;

typedef struct sf_simrun_result {
    bool ok;
    char mode[32];          /* "backup", "backup-per-canister", "snapshot-download" */
    unsigned jobs;          /* the run's --jobs (backup and restore), drawn
                               from the seed (1 to 8) */
    uint64_t link;          /* the fleet's shared link, bytes per virtual ms
                               (0: none), drawn from the seed */
    char faults[512];       /* the plan, canonical text ("" for none) */
    char disk[128];         /* "posix", or "sim" and what the seed drew for
                               it: ",tear@N" (a crash inside the Nth write),
                               ",OP:N=eio|enospc|slow" (a fault) */
    char outcome[64];       /* "complete", "complete-after-rerun", ... */
    char digest[SF_SHA256_HEX_SIZE];
    char failure[1024];     /* the first invariant broken */
} sf_simrun_result;

SF_API int sf_simrun_one(const sf_simrun_config *cfg, sf_simrun_result *out,
                         sf_error *err);

/* The invariants alone, for tests: `before` is the fleet as it was before
 * any run, `after` as it is now, `out` the backup directory. Appends one
 * line per violation to `violations` and returns SF_OK when there is none. */
SF_API int sf_check_invariants(const sf_sim *before, const sf_sim *after,
                               const char *out, bool leave_stopped, sf_buf *violations,
                               sf_error *err);

/* ---- the daily scenario (`sim run --daily`) ----
 * A fleet with snapshot_limit snapshots per canister, one taken by an
 * operator beforehand, backed up `days` times (a virtual day apart) with
 * on-canister retention keeping keep_on_canister and the limit known to
 * each run (a canister at its limit gets a replace); then `backup prune
 * --keep prune_keep`. ok when every day completed, no canister held more
 * snapfleet snapshots than kept after a run, the operator's snapshot
 * stayed, and prune left the newest prune_keep backups, all verifying. */
typedef struct sf_simrun_daily_config {
    uint64_t seed;
    uint64_t canisters;
    uint64_t days;
    uint64_t snapshot_limit;
    uint64_t keep_on_canister;
    uint64_t prune_keep;
    const char *work_dir;
    bool keep; /* keep the scratch directory */
    uint64_t fanout, depth; /* tree shape; 0: chosen (sf_sim_shape) */
} sf_simrun_daily_config;

typedef struct sf_simrun_daily_result {
    bool ok;
    uint64_t days_complete;
    size_t pruned, kept;
    uint64_t replaced; /* creates that replaced a snapshot (at the limit) */
    char digest[SF_SHA256_HEX_SIZE];
    char failure[1024];
} sf_simrun_daily_result;

SF_API int sf_simrun_daily(const sf_simrun_daily_config *cfg,
                           sf_simrun_daily_result *res, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
