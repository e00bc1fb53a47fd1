/*
 * Set-up and checks for the restore tests, on top of sim_fixture.h: make a
 * backup of a simulated fleet, remember what each member looked like when
 * it was captured, change the fleet, run the restore runner through the
 * fixture's driver stack, and check that every target is back to what was
 * captured (state digest, module hash, status) with exactly one uploaded
 * snapshot each.
 *
 * Like sim_fixture, helpers that cannot go on after a broken expectation
 * fail the current CMocka test themselves.
 */
#ifndef SF_TEST_RESTORE_FIXTURE_H
#define SF_TEST_RESTORE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim_fixture.h"
#include "snapfleet/restore.h"
#include "snapfleet/restore_journal.h"

#define SF_RFX_MAX_MEMBERS 16

/* One canister as it was seen at some moment. */
typedef struct sf_rfx_member {
    char id[SF_PRINCIPAL_TEXT_MAX];
    char digest[SF_SHA256_HEX_SIZE];
    char module_hash[SF_SHA256_HEX_SIZE];
    sf_canister_status status;
} sf_rfx_member;

/* The members of a backup as they were when it was taken, in manifest
 * order. */
typedef struct sf_rfx_capture {
    sf_rfx_member m[SF_RFX_MAX_MEMBERS];
    size_t n;
} sf_rfx_capture;

/* sf_fx_setup + sf_fx_config(seed, canisters) + sf_fx_start. */
void sf_rfx_fleet(sf_fx *f, const char *tag, uint64_t seed, uint64_t canisters);

/* Backs up the fleet into out (whole fleet with the root, or `subtree`
 * when non-NULL) through a fault-free stack, asserts it completed and
 * verifies, and captures every member as the fleet is right after it.
 * The stack is taken down and the trace cleared afterwards. */
void sf_rfx_backup(sf_fx *f, const char *out, const char *subtree,
                   sf_rfx_capture *cap);
/* The same with `snapshot download` of the root, recursive: the root is
 * a fixed-identity member, the others relocatable. */
void sf_rfx_download(sf_fx *f, const char *out, sf_rfx_capture *cap);

/* What a canister looks like now. */
void sf_rfx_member_now(const sf_sim *sim, const char *id, sf_rfx_member *out);
/* New memory for id (its digest changes), saved to the state file. */
void sf_rfx_mutate(sf_fx *f, const char *id);

/* Mode, backup, force_upload (the upload path), everything else zero (in
 * place, default restore dir). */
void sf_rfx_config(sf_restore_config *c, const char *backup,
                   sf_restore_mode mode);
/* sf_restore_run through f->top with the fixture's clock; err cleared
 * first. */
int sf_rfx_run(sf_fx *f, const sf_restore_config *c, sf_restore_result *r,
               sf_error *err);
/* Runs c (execute) and asserts success and completion; returns the
 * number of operations it executed. */
uint64_t sf_rfx_run_complete(sf_fx *f, const sf_restore_config *c);
/* Runs c in `mode` and asserts failure with error kind `kind`; *r is
 * kept for the caller (free it). */
void sf_rfx_run_fails(sf_fx *f, const sf_restore_config *c,
                      sf_restore_mode mode, const char *kind,
                      sf_restore_result *r, sf_error *err);

/* Every member of cap, or the target it is mapped to (targets[i] when
 * targets is non-NULL and targets[i] non-NULL), has the captured digest,
 * module hash and status. */
void sf_rfx_assert_restored(const sf_sim *sim, const sf_rfx_capture *cap,
                            const char *const *targets);
/* Each id has exactly one snapshot in `after` that `before` lacks. */
void sf_rfx_assert_one_new_snapshot(const sf_sim *before, const sf_sim *after,
                                    const char *const *ids, size_t n);
/* Each canister of the fleet other than the listed ones is exactly as in
 * `before` (digest, module, status, snapshot count). */
void sf_rfx_assert_untouched_except(const sf_sim *before, const sf_sim *after,
                                    const char *const *ids, size_t n);
/* Each canister has the status it has in `before`. */
void sf_rfx_assert_statuses_as(const sf_sim *before, const sf_sim *after);

/* "<restore_dir or backup/restore>/<name>", malloc'd. */
char *sf_rfx_restore_path(const char *backup, const char *restore_dir,
                          const char *name);
/* Reads and validates the apply journal. */
void sf_rfx_read_journal(const char *backup, const char *restore_dir,
                         sf_restore_journal *j);
/* Asserts the journal is complete: every operation completed, one
 * completed receipt per operation, nothing pending or failed. */
void sf_rfx_assert_journal_complete(const char *backup,
                                    const char *restore_dir);
/* The bytes of a file (for "unchanged" checks); "" when absent. */
char *sf_rfx_slurp(const char *path);

/* "<backup>/<artifact path of member id>/<file>", malloc'd. */
char *sf_rfx_artifact_file(const char *backup, const char *id,
                           const char *file);
/* Inverts the byte at `offset` of path (twice restores it). */
void sf_rfx_flip_byte(const char *path, long offset);

/* Writes a mapping {"members": [{source, target}...]} to path. */
void sf_rfx_write_mapping(const char *path, const char *const *sources,
                          const char *const *targets, size_t n);

/* Counts lines of sf_fx_trace_ops(log) equal to "<op> <id>" exactly (no
 * resume) and those equal to "<op> <id> resume". */
size_t sf_rfx_trace_count_on(const sf_buf *log, const char *op, const char *id,
                             bool resume);

#endif
