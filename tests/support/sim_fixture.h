/*
 * Shared set-up for the engine tests: a simulated fleet in a temporary
 * directory, the driver stack the CLI builds (simulator -> faults -> retry
 * -> trace), and the checks every backup test makes afterwards (the
 * invariants, manifests compared apart from timestamps, what the trace
 * says the engine did, which durable writes it made).
 *
 * Functions that cannot go on after a broken expectation fail the current
 * CMocka test themselves (fail_msg), so callers need no error handling.
 * Paths returned by sf_fx_path() and ids by sf_fx_id() live in two ring
 * buffers of 16: copy them if they must outlive 16 further calls of the
 * same function.
 */
#ifndef SF_TEST_SIM_FIXTURE_H
#define SF_TEST_SIM_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/backup.h"
#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/faults.h"
#include "snapfleet/manifest.h"
#include "snapfleet/sim.h"

typedef struct sf_fx {
    char dir[512];   /* the temporary root, removed by sf_fx_teardown */
    char state[600]; /* <dir>/fleet.json: the simulator's state file */
    sf_sim *sim;     /* the fleet as it is now */
    sf_sim *before;  /* the fleet as it was before any run (a copy) */
    sf_clock clock;  /* the simulator's virtual clock */
    sf_fault_plan *plan;
    sf_driver *base, *faulty, *retry, *trace, *top;
    /* The root's id, copied: sf_sim_root_id() points into the fleet, which
     * a topology change may move (a run's config must not dangle). */
    char root[SF_PRINCIPAL_TEXT_MAX];
    sf_buf log; /* the trace of every driver call since the last reset */
    bool persist; /* the driver saves the state file after every effect */
} sf_fx;

/* A temporary root under $TMPDIR, else /dev/shm (fast fsync), else /tmp. */
void sf_fx_setup(sf_fx *f, const char *tag);
/* Tears the stack down, frees both fleets and removes the directory
 * (kept when SF_TEST_KEEP is set in the environment). */
void sf_fx_teardown(sf_fx *f);

/* Defaults with small memories (so a run costs milliseconds), no jitter,
 * no stopped canisters. */
void sf_fx_config(sf_sim_config *cfg, uint64_t seed, uint64_t canisters);
/* Creates the fleet, saves the state file, keeps a copy as `before`. */
void sf_fx_start(sf_fx *f, const sf_sim_config *cfg);
/* Makes the current fleet the new `before` (after a test's own set-up). */
void sf_fx_snap_before(sf_fx *f);
/* Saves the current fleet to the state file. */
void sf_fx_save(sf_fx *f);

/* Builds sim -> [faults] -> retry (5 attempts, 100 ms doubling) -> trace;
 * f->top is the trace driver. faults NULL or "" for none. persist: the
 * simulator saves the state file after every effect. A topology change in
 * the plan is applied to f->sim (and saved). */
void sf_fx_stack(sf_fx *f, const char *faults, bool persist);
void sf_fx_unstack(sf_fx *f);
/* Replaces f->sim by the fleet in the state file (the stack must be down). */
void sf_fx_reload(sf_fx *f);

/* "<dir>/<name>" (ring buffer of 16). */
const char *sf_fx_path(const sf_fx *f, const char *name);

/* ---- the fleet ---- */

/* Canister id at tree-order index i (ring buffer of 16). */
const char *sf_fx_id(const sf_sim *sim, size_t i);
size_t sf_fx_index(const sf_sim *sim, const char *id);
sf_canister_status sf_fx_status(const sf_sim *sim, const char *id);
size_t sf_fx_snapshot_count(const sf_sim *sim, const char *id);
/* Snapshots of id in `after` that `before` did not have. */
size_t sf_fx_new_snapshots(const sf_sim *before, const sf_sim *after,
                           const char *id);
/* Sum of sf_fx_new_snapshots over every canister of `before`. */
size_t sf_fx_new_snapshots_total(const sf_sim *before, const sf_sim *after);
/* Sets a canister's status at once and saves the state file. */
void sf_fx_set_status(sf_fx *f, const char *id, sf_canister_status s);

/* ---- the trace ---- */

/* One line per submitted operation: "<op> <canister>[ resume]". */
void sf_fx_trace_ops(const sf_buf *log, sf_buf *out);
/* Submitted operations of one kind. */
size_t sf_fx_trace_count(const sf_buf *log, const char *op);
/* Asserts that the operations in the trace are exactly `want` (lines as
 * sf_fx_trace_ops), printing both on a difference. */
void sf_fx_assert_ops(const sf_buf *log, const char *want);

/* ---- the trace of several operations in flight ---- */

/* A canister's depth in the fleet's tree (the root is 0). */
size_t sf_fx_depth(const sf_sim *sim, const char *id);

/* One submit or completion line of the trace driver's log. */
typedef struct sf_fx_flight {
    bool submit; /* a submit, else a completion */
    uint64_t ticket;
    char op[16];
    char id[SF_PRINCIPAL_TEXT_MAX];
} sf_fx_flight;

/* The submits and completions in log, in order (the caller frees *out). */
size_t sf_fx_flights(const sf_buf *log, sf_fx_flight **out);

/* ---- durable writes (sf_fs_set_write_hook) ---- */

#define SF_FX_MAX_WRITES 4096

typedef struct sf_fx_writes {
    char *paths[SF_FX_MAX_WRITES]; /* full paths, in write order */
    size_t n;
    /* Called after each write is recorded, when set. */
    void (*on_write)(const char *path, void *ctx);
    void *ctx;
} sf_fx_writes;

/* Installs the hook; every durable write from now on is recorded. */
void sf_fx_writes_begin(sf_fx_writes *w);
/* Uninstalls it (the record stays until sf_fx_writes_free). */
void sf_fx_writes_end(sf_fx_writes *w);
void sf_fx_writes_free(sf_fx_writes *w);
/* Writes whose file name (last component) is `name`. */
size_t sf_fx_writes_count(const sf_fx_writes *w, const char *name);
/* The file names written, one a line. */
void sf_fx_writes_names(const sf_fx_writes *w, sf_buf *out);

/* ---- documents and checks ---- */

/* The manifest at path as JSON with created_at replaced by "unix:0". */
void sf_fx_manifest_canonical(const char *path, sf_buf *out);
/* The download journal at path as JSON with every updated_at "unix:0". */
void sf_fx_journal_canonical(const char *path, sf_buf *out);
/* Asserts both manifests are equal apart from created_at. */
void sf_fx_assert_manifests_equal(const char *a, const char *b);
/* Two backup directories hold the same backup: their manifests are equal
 * apart from created_at and the member checksums, and every member's
 * artifact holds the same files with the same bytes, apart from the
 * snapshot's taken_at_timestamp in metadata.json (a snapshot retaken at
 * another virtual moment: the timestamp is inside the artifact, so its
 * checksum differs too). Both must verify (checksums match the bytes). */
void sf_fx_assert_backups_equal(const char *out_a, const char *out_b);
/* sf_check_invariants(f->before, f->sim, out, leave_stopped), failing
 * the test with every violation. */
void sf_fx_assert_invariants(const sf_fx *f, const char *out,
                             bool leave_stopped);
/* sf_verify_integrity passes; returns its durable artifact count. */
size_t sf_fx_assert_verifies(const char *out);
/* Names in out ending in ".tmp" or ".verify" (leftover transfers), one a
 * line; 0 when there is none. */
size_t sf_fx_leftovers(const char *out, sf_buf *names);
bool sf_fx_exists(const char *path);

/* ---- runs ---- */

/* Whole fleet, root included, fleet schedule, verify_transfer off. */
void sf_fx_backup_config(sf_backup_config *c, const sf_fx *f, const char *out);
/* Root, recursive, resume_after_snapshot on, verify_transfer off. */
void sf_fx_download_config(sf_snapshot_download_config *c, const sf_fx *f,
                           const char *out);
int sf_fx_backup(sf_fx *f, const sf_backup_config *c, sf_backup_result *r,
                 sf_error *err);
int sf_fx_download(sf_fx *f, const sf_snapshot_download_config *c,
                   sf_snapshot_download_result *r, sf_error *err);

/* ---- the end of a run ---- */

/* sf_fx_backup, failing the test unless it succeeds and is complete. */
void sf_fx_backup_complete(sf_fx *f, const sf_backup_config *c);
/* The execution journal of the backup directory out as it stands (the
 * checkpoint with the transition log's later records replayed: a killed
 * run leaves them unmerged); fails the test when there is none. */
void sf_fx_read_exec(const char *out, sf_exec_journal *j);
/* The manifest of the backup directory out. */
void sf_fx_read_manifest(const char *out, sf_manifest *m);
/* Every canister of the fleet as it is now is running. */
void sf_fx_assert_all_running(const sf_fx *f);
/* A fleet backup into out ended clean: every canister of `before` is
 * running with exactly one snapshot more, the invariants hold, and out
 * verifies with `members` durable artifacts and no leftover transfer. */
void sf_fx_assert_clean_end(const sf_fx *f, const char *out, size_t members);

/* Runs fn in a child process whose stack persists the state file and
 * which dies by SIGKILL after its k-th durable write; waits for it,
 * takes the fleet back from the state file (f->sim) and rebuilds no
 * stack. Returns true when the child was killed, false when it exited
 * (with *exit_code set). */
typedef int (*sf_fx_run_fn)(sf_fx *f, void *ctx);
bool sf_fx_crash_run(sf_fx *f, uint64_t k, sf_fx_run_fn fn, void *ctx,
                     int *exit_code);
/* The same with the k-th durable write torn instead (torn-write=k: a
 * temporary file with half the bytes never renamed, half a log record,
 * a rename not made), then SIGKILL. */
bool sf_fx_torn_run(sf_fx *f, uint64_t k, sf_fx_run_fn fn, void *ctx,
                    int *exit_code);

#endif
