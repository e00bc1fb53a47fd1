/*
 * The engine's effect steps, shared by `snapshot download`, `backup` and
 * (later) restore. Each step is safe to repeat: it observes before it acts,
 * writes what it saw to the observations file before the effect
 * (write-ahead), and reconciles an unknown outcome by observing again
 * instead of replaying blindly.
 */
#ifndef SNAPFLEET_ENGINE_H
#define SNAPFLEET_ENGINE_H

#include <stdbool.h>
#include <stdio.h>

#include "base/posmap.h"
#include "engine/observations.h"
#include "snapfleet/driver.h"
#include "snapfleet/progress.h"
#include "snapfleet/registry.h"

typedef struct sf_engine_stopped {
    char canister_id[SF_PRINCIPAL_TEXT_MAX];
    uint64_t first_stop_ms; /* the first stop's issue */
    uint64_t last_start_ms; /* the last start's completion */
    uint64_t stopped_ms;    /* the closed intervals, summed */
    uint64_t open_since;    /* while open: the stop's issue */
    bool open;              /* stopped by this run, not started again */
    bool restarted;         /* at least one interval closed */
} sf_engine_stopped;

typedef struct sf_engine {
    sf_driver *driver;
    const sf_clock *clock;
    char *out;      /* backup directory */
    char *obs_path; /* <out>/snapfleet-observations.json */
    sf_observations obs;
    FILE *log;      /* one line per effect, or NULL */
    /* The status line of the transfers (with log: its lines go above it),
     * or NULL. */
    sf_progress *progress;
    /* Download every snapshot twice and compare: the IC gives no content
     * hash for snapshot memory, so a second read is the only check that
     * the bytes arrived as they are on the canister. */
    bool verify_transfer;
    /* When set, sf_engine_save hands it the one canister that changed (a
     * runner appends it to its transition log) instead of rewriting the
     * whole observations file. */
    int (*save_one)(void *ctx, const sf_obs_canister *c, sf_error *err);
    void *save_ctx;
    /* When set, driver calls go through the pool (pool.h): a call made by
     * one of its tasks lets the other tasks run until it completes. */
    struct sf_pool *pool;
    /* How long this run held each canister stopped, in the clock's ms
     * (backup --json): from the stop's issue to the start's completion,
     * in the order of the first stops. In memory only. */
    sf_engine_stopped *stopped;
    size_t stopped_count, stopped_cap;
    sf_posmap stopped_index;
} sf_engine;

int sf_engine_open(sf_engine *e, sf_driver *driver, const sf_clock *clock,
                   const char *out, FILE *log, sf_error *err);
/* The same with another observations file name (a restore keeps its own). */
int sf_engine_open_at(sf_engine *e, sf_driver *driver, const sf_clock *clock,
                      const char *out, const char *obs_name, FILE *log,
                      sf_error *err);
void sf_engine_close(sf_engine *e);
/* The snapshot bytes a transfer of dir moves (its blobs and chunks; not
 * metadata.json or icp's dot files): what the status line counts. */
uint64_t sf_engine_transfer_bytes(const char *dir);
/* One line of the run's log (a newline is added): above the status line
 * when there is one. Nothing when the engine has no log. */
void sf_engine_say(sf_engine *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Makes canister id's observations durable (write-ahead): through
 * save_one when set, else the whole observations file. */
int sf_engine_save(sf_engine *e, const char *id, sf_error *err);
/* The first stop of this run to its last start, when something was
 * stopped and started again. */
bool sf_engine_fleet_span(const sf_engine *e, uint64_t *ms);

/* Runs one operation to completion; a failed operation becomes an error
 * whose kind names its class ("driver-transient", "driver-permanent",
 * "driver-unknown-outcome") and *fail tells the class. A read (registry,
 * status, list) whose outcome is unknown is simply asked again. */
int sf_engine_call(sf_engine *e, const sf_op *op, sf_result *res,
                   sf_fail_class *fail, sf_error *err);

/* Lists a canister's snapshots through sf_engine_call. *res is initialised
 * in every case, so the caller always frees it. */
int sf_engine_list(sf_engine *e, const char *canister, sf_result *res,
                   sf_error *err);

/* Reads the registry from root and resolves the targets the snapshot
 * pipeline would capture, with their topology hash. */
int sf_engine_discover(sf_engine *e, const char *root, const char *selected,
                       bool recursive, sf_registry *reg_out, sf_target **targets,
                       size_t *count, char hash[65], sf_error *err);

int sf_engine_status(sf_engine *e, const char *id, sf_canister_status *status,
                     sf_error *err);
/* Stops id unless it is already stopped; records what it was before. */
int sf_engine_stop(sf_engine *e, const char *id, sf_error *err);
/* Creates a snapshot of a stopped id, or adopts the one an interrupted
 * create made. */
int sf_engine_create(sf_engine *e, const char *id, sf_snapshot_info *snap,
                     sf_error *err);
/* transfer.c: uploads the snapshot directory `dir` to id. The new
 * snapshot is adopted only when icp reported the upload complete; one cut
 * off with its progress file left is resumed (--resume); any other new
 * snapshot (not in the list recorded before the first upload: a partial
 * one, or an orphan of a retried metadata call) is deleted and the upload
 * made again, up to 3 times. */
int sf_engine_upload(sf_engine *e, const char *id, const char *dir,
                     sf_snapshot_info *snap, sf_error *err);
/* Loads snapshot_id into id, which must be stopped
 * ("stopped-precondition-failed" otherwise); repeated once after an unknown
 * outcome, which is safe while the canister stays stopped. */
int sf_engine_load(sf_engine *e, const char *id, const char *snapshot_id,
                   sf_error *err);
/* Copies an artifact directory to dst (emptied first; only regular files
 * and directories) and checks the copy's checksum is `checksum`: what is
 * uploaded is then exactly the bytes that were verified, and icp's
 * progress files land in the copy, not in the backup. The copy is synced
 * (files and directories) before it is checked: a crash during the upload
 * leaves a copy a resumed upload can still verify. */
int sf_stage_artifact(const char *src, const char *dst, const char *checksum,
                      sf_error *err);
/* Starts id if, and only if, this backup stopped it and it was running
 * before. */
int sf_engine_start(sf_engine *e, const char *id, sf_error *err);
/* Containment after a failure: starts every canister this run stopped
 * that was running before and is not restarted yet, except those a restore
 * sent a load to (their state may be the loaded one: the operator decides).
 * Returns the first error, having tried all. */
int sf_engine_contain(sf_engine *e, sf_error *err);
/* Downloads snapshot_id of id into dir (fresh: dir is emptied first;
 * resume: continues a transfer into dir, if its metadata.json describes
 * this snapshot, else starts clean). A chunk file whose content is not
 * the SHA-256 in its name is removed and the download resumed. With verify_transfer the
 * snapshot is read a second time into "<dir>.verify" and both copies must
 * have the same checksum; a disagreement is retried a few times and then
 * fails with "transfer-mismatch". A download that succeeds is synced
 * (every file and directory of dir) before this returns. */
int sf_engine_download(sf_engine *e, const char *id, const char *snapshot_id,
                       const char *dir, bool resume, sf_error *err);
/* transfer.c: *yes when dir's metadata.json describes snapshot_id of id
 * (its taken_at is the listed snapshot's): only then may a download into
 * dir be resumed, since icp resumes from whatever metadata it finds.
 * An unreadable metadata.json is a no. */
int sf_engine_tmp_describes(sf_engine *e, const char *id,
                            const char *snapshot_id, const char *dir,
                            bool *yes, sf_error *err);

/* On-canister retention (retention.c): for each of the canisters, keeps
 * the newest `keep` snapshots recorded in a manifest under root (own_out,
 * this run's directory, counts even when it is not under root) and
 * deletes the older ones, write-ahead. Snapshots recorded nowhere are
 * never touched. */
int sf_engine_retain(sf_engine *e, const char *root, const char *own_out,
                     char *const *canisters, size_t count, uint64_t keep,
                     sf_error *err);
/* The same with root_dir NULL meaning the parent of out. */
int sf_engine_retain_run(sf_engine *e, const char *root_dir, const char *out,
                         char *const *canisters, size_t count, uint64_t keep,
                         sf_error *err);

/* Room for the creates (room.c), before anything is stopped: each of
 * the canisters whose snapshot is still to be taken is listed; one
 * holding `limit` snapshots or more gets its create turned into a
 * replace of its oldest snapfleet-made snapshot (recorded in a manifest
 * under the backup root, root_dir or the parent of out), only when that
 * snapshot's backup verifies and no other process holds it; otherwise
 * "snapshot-limit-reached", naming the canister, its snapshots and what
 * to do. The choice is recorded in the observations (`replacing`) before
 * the create. limit 0: not known, nothing is checked. */
int sf_engine_make_room(sf_engine *e, const char *root_dir, const char *out,
                        char *const *canisters, size_t count, uint64_t limit,
                        sf_error *err);

/* Restore from the snapshot still on the canister (restore_direct.c):
 * *yes when canister lists snapshot_id with the taken_at and size the
 * backup (its entry be, sf_backup_entry_read, read once per run: the
 * backup does not change under a restore) recorded for it; otherwise why
 * says what differs. A read only. */
struct sf_backup_entry;
int sf_restore_snapshot_on_canister(sf_engine *e,
                                    const struct sf_backup_entry *be,
                                    const char *canister,
                                    const char *snapshot_id, bool *yes,
                                    char why[256], sf_error *err);
/* Records (write-ahead) where a restore takes canister's snapshot from:
 * "canister" or "upload". */
int sf_engine_set_load_from(sf_engine *e, const char *canister,
                            const char *from, sf_error *err);

/* Moves a verified artifact from temp_path to final_path, durably, through
 * the storage seam: every file and directory under temp_path synced,
 * bottom-up, then sf_fs_rename_durable (a durable write the crash
 * injection counts).
 * Repeatable: when final_path already exists (a crash came between the
 * rename and the journal write) it is accepted if, and only if, its
 * checksum is `checksum`, and a leftover temp is removed. */
int sf_engine_publish(const char *temp_path, const char *final_path,
                      const char *checksum, sf_error *err);

#endif
