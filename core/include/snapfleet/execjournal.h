/*
 * snapfleet: the backup execution journal, `backup-execution-journal.json`
 * (canic-backup 0.35.10 BackupExecutionJournal, journal version 1, spec
 * formats-and-backup 2 and 4.4).
 *
 * One operation per plan phase, each with a state:
 *
 *   blocked --accept preflight--> ready --mark pending--> pending
 *   pending --receipt--> completed | failed | skipped
 *   failed --mark pending--> pending;  failed --retry--> ready
 *   preflight operations --accept preflight--> completed
 *
 * Nothing leaves completed or skipped. Before the preflight is accepted
 * every mutating operation is blocked ("preflight-not-accepted"). Receipts
 * are an append-only history of what each operation did. The journal is
 * written after every transition, so after a crash it says where to
 * resume: a pending operation is run again (one at a time with canic's
 * transitions, several with mark_pending_beside_at), failed ones run
 * again after being marked pending.
 *
 * Every transition is all or nothing: when it fails, the journal in memory
 * is exactly as it was (canic 0.35.10 left a rejected receipt's state
 * change in memory; see sf_exec_journal_record_receipt).
 *
 * Ownership: every string is malloc'd and NUL-terminated, NULL meaning
 * JSON null; arrays are pointer + count. sf_exec_journal_free() releases
 * everything a parse, from_plan or copy produced.
 */
#ifndef SNAPFLEET_EXECJOURNAL_H
#define SNAPFLEET_EXECJOURNAL_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_EXEC_JOURNAL_FILE_NAME "backup-execution-journal.json"
#define SF_EXEC_JOURNAL_VERSION 1
/* The blocking reason of every mutating operation before acceptance. */
#define SF_EXEC_PREFLIGHT_NOT_ACCEPTED "preflight-not-accepted"

/* "ready", "pending", "blocked", "completed", "failed", "skipped" */
typedef enum sf_exec_state {
    SF_EXEC_READY = 0,
    SF_EXEC_PENDING = 1,
    SF_EXEC_BLOCKED = 2,
    SF_EXEC_COMPLETED = 3,
    SF_EXEC_FAILED = 4,
    SF_EXEC_SKIPPED = 5
} sf_exec_state;

/* "completed", "failed", "skipped" */
typedef enum sf_exec_outcome {
    SF_EXEC_OUTCOME_COMPLETED = 0,
    SF_EXEC_OUTCOME_FAILED = 1,
    SF_EXEC_OUTCOME_SKIPPED = 2
} sf_exec_outcome;

/* Wire names; NULL outside the enum. */
SF_API const char *sf_exec_state_name(sf_exec_state s);
/* canic's Debug spelling used in messages ("Pending"). */
SF_API const char *sf_exec_state_debug_name(sf_exec_state s);
SF_API const char *sf_exec_outcome_name(sf_exec_outcome o);

/* The journal's kind classes (spec 2.1), which differ from the plan's
 * (sf_phase_kind_is_plan_mutating): here every kind that is not one of
 * the four validate-* kinds is mutating, verify-artifact and
 * finalize-manifest included. */
SF_API bool sf_exec_kind_is_preflight(sf_phase_kind k);
SF_API bool sf_exec_kind_is_mutating(sf_phase_kind k);

/* BackupExecutionJournalOperation, fields in serde declaration order. */
typedef struct sf_exec_operation {
    uint64_t sequence; /* a usize on the wire */
    char *operation_id;
    sf_phase_kind kind;
    char *target_canister_id; /* NULL = null */
    sf_exec_state state;
    char *state_updated_at; /* NULL = null */
    char **blocking_reasons;
    size_t blocking_reason_count;
} sf_exec_operation;

/* BackupExecutionOperationReceipt, fields in serde declaration order. The
 * two optional integers read absent as null (has_* false). */
typedef struct sf_exec_receipt {
    char *plan_id;
    char *run_id;
    char *preflight_id; /* NULL = null */
    uint64_t sequence;
    char *operation_id;
    sf_phase_kind kind;
    char *target_canister_id; /* NULL = null */
    sf_exec_outcome outcome;
    char *updated_at;  /* NULL = null */
    char *snapshot_id; /* NULL = null */
    bool has_snapshot_taken_at_timestamp;
    uint64_t snapshot_taken_at_timestamp;
    bool has_snapshot_total_size_bytes;
    uint64_t snapshot_total_size_bytes;
    char *artifact_path;  /* NULL = null */
    char *checksum;       /* NULL = null */
    char *failure_reason; /* NULL = null */
} sf_exec_receipt;

/* The index a runner keeps of its journal (sf_exec_journal_index). */
struct sf_exec_index;

/* BackupExecutionJournal, fields in serde declaration order, then the
 * index (not part of the document). */
typedef struct sf_exec_journal {
    uint64_t journal_version; /* a u16 on the wire */
    char *plan_id;
    char *run_id;
    char *preflight_id; /* NULL = null */
    bool preflight_accepted;
    bool restart_required;
    sf_exec_operation *operations;
    size_t operation_count;
    sf_exec_receipt *operation_receipts;
    size_t receipt_count;
    /* NULL: none. Owned; released by sf_exec_journal_free, never copied
     * (sf_exec_journal_copy, a parse and from_plan leave it NULL). */
    struct sf_exec_index *index;
} sf_exec_journal;

/* ---- the document ---- */

/* JSON -> struct with strict reading and no semantic validation. *out is
 * overwritten (not freed first) and zeroed on failure. Errors:
 * "json-syntax", "json-schema" (field = JSON path), "out-of-memory". */
SF_API int sf_exec_journal_parse(const char *text, size_t len, sf_exec_journal *out,
                                 sf_error *err);

/*
 * canic's BackupExecutionJournal::validate (spec 2.3), first failure wins.
 * Kinds: unsupported-version, missing-field, accepted-preflight-missing-id,
 * duplicate-sequence, missing-sequence, operation-missing-reason,
 * unblocked-operation-has-reasons, mutation-ready-before-preflight, then
 * per receipt those of sf_exec_receipt_validate_against. `field` is the
 * concrete path ("operations[3].operation_id"); missing-field messages
 * use canic's name ("backup execution journal field
 * operations[].operation_id is required"). restart_required is stored,
 * not checked.
 */
SF_API int sf_exec_journal_validate(const sf_exec_journal *j, sf_error *err);

/* Validates, then appends serde_json's pretty form to `out`. On failure
 * `out` keeps its previous contents. */
SF_API int sf_exec_journal_write_json(const sf_exec_journal *j, sf_buf *out,
                                      sf_error *err);

/* Reads, parses and validates a journal file; *out is zeroed on failure. */
/* The same form without the semantic validation: a part of a journal
 * (some operations, some receipts) as the transition log records it. */
SF_API int sf_exec_journal_write_json_part(const sf_exec_journal *j,
                                           sf_buf *out, sf_error *err);

SF_API int sf_exec_journal_read_file(const char *path, sf_exec_journal *out,
                                     sf_error *err);

/* Validates, then writes atomically; an invalid journal writes nothing. */
SF_API int sf_exec_journal_write_file(const char *path, const sf_exec_journal *j,
                                      sf_error *err);

/* Deep copy into *dst (zeroed on failure). */
SF_API int sf_exec_journal_copy(sf_exec_journal *dst, const sf_exec_journal *src,
                                sf_error *err);

/* Releases everything inside *j and zeroes it. NULL is a no-op. */
SF_API void sf_exec_journal_free(sf_exec_journal *j);

/* canic's from_plan (spec 2.2): the plan must validate (else
 * "invalid-plan", message "invalid backup plan for execution journal:
 * <plan error>", field from the plan error); one ready operation per
 * phase with sequence = order, every mutating one blocked with
 * "preflight-not-accepted"; then validate. *out is zeroed on failure. */
SF_API int sf_exec_journal_from_plan(const sf_plan *plan, sf_exec_journal *out,
                                     sf_error *err);

/* ---- the index ---- */

/*
 * A journal's lookups and counts scan its operations and receipts, O(n)
 * each, and a runner makes several per transition (the next operation,
 * the resume summary, restart_required, an operation by sequence, a
 * target's snapshot): O(n^2) per run. sf_exec_journal_index builds an
 * index that the transitions below keep up to date, making each of these
 * O(1) (amortised):
 *   - sequence -> array position (the sequences are 0..n-1: refused
 *     otherwise, with the kind validation gives, "duplicate-sequence" or
 *     "missing-sequence");
 *   - the number of operations in each state, of completed stops and of
 *     starts neither completed nor skipped (the resume summary and
 *     restart_required);
 *   - a cursor below which no operation is ready, pending or failed
 *     (next_ready; the transitions never make an operation ready,
 *     pending or failed that was not one of those, except the
 *     preflight's acceptance, which rebuilds the index);
 *   - per target canister, its latest create-snapshot receipt (caught up
 *     with the receipts appended since the last lookup).
 * Every answer is the one the scan gives. What changes operations other
 * than through these functions (a test setting a state, a replayed
 * record) must drop the index first; an index whose operations array or
 * count is not the journal's is ignored (the scans answer). The accepting
 * functions rebuild a present index on the journal they produce.
 * "out-of-memory" leaves the journal without one (and as it was).
 */
SF_API int sf_exec_journal_index(sf_exec_journal *j, sf_error *err);
SF_API void sf_exec_journal_drop_index(sf_exec_journal *j);
/* Whether j has an index in use, and (tests) whether it gives the answers
 * the scans give. */
SF_API bool sf_exec_journal_has_index(const sf_exec_journal *j);
SF_API bool sf_exec_journal_index_consistent(const sf_exec_journal *j);

/* The latest receipt (in array order) of a create-snapshot of
 * canister_id that carries a snapshot id; NULL when there is none. */
SF_API const sf_exec_receipt *
sf_exec_journal_latest_snapshot(const sf_exec_journal *j,
                                const char *canister_id);

/* ---- operations and transitions ---- */

/* The first operation (in array order) with this sequence; NULL if none. */
SF_API sf_exec_operation *sf_exec_journal_find_operation(const sf_exec_journal *j,
                                                         uint64_t sequence);

/* Among ready, pending and failed operations, the one with the smallest
 * sequence (the first in array order on a tie); NULL when there is none.
 * Blocked, completed and skipped operations are never next. */
SF_API sf_exec_operation *sf_exec_journal_next_ready(const sf_exec_journal *j);

/* (some stop completed) and (some start neither completed nor skipped):
 * a canister may have been left stopped. */
SF_API bool sf_exec_journal_compute_restart_required(const sf_exec_journal *j);

/*
 * accept_preflight_bundle_at: preflight_id must be non-blank
 * (missing-field "preflight_id"), updated_at NULL or non-blank
 * (missing-field "updated_at"); a different id already stored is
 * "preflight-already-accepted" (the same id may be accepted again). Sets
 * the id and preflight_accepted; every preflight operation becomes
 * completed at updated_at with no reasons; every blocked operation
 * becomes ready with no reasons (its state_updated_at kept); then
 * restart_required is recomputed and the journal validated.
 */
SF_API int sf_exec_journal_accept_preflight_at(sf_exec_journal *j,
                                               const char *preflight_id,
                                               const char *updated_at,
                                               sf_error *err);

/* accept_preflight_receipts_at: the receipt bundle's plan id must be
 * non-blank (missing-field "preflight_receipts.plan_id") and equal the
 * journal's ("preflight-plan-mismatch"); then as above. */
SF_API int sf_exec_journal_accept_preflight_receipts_at(sf_exec_journal *j,
                                                        const char *bundle_plan_id,
                                                        const char *preflight_id,
                                                        const char *updated_at,
                                                        sf_error *err);

/*
 * mark_operation_pending_at: updated_at NULL or non-blank; then
 * no-transitionable-operation (nothing is next), out-of-order-operation-
 * transition (sequence is not the next one), operation-not-found,
 * mutation-before-preflight-accepted, invalid-operation-transition (not
 * ready or failed). The operation becomes pending at updated_at with no
 * reasons; restart_required is recomputed; the operation is validated
 * (canic validates the whole journal after every transition, O(n) each;
 * the transition touches this operation only, and a journal is validated
 * whole when it is parsed from a file, built, accepted or written, so on a
 * valid journal the verdict is the same).
 */
SF_API int sf_exec_journal_mark_pending_at(sf_exec_journal *j, uint64_t sequence,
                                           const char *updated_at, sf_error *err);

/*
 * snapfleet's transition for several operations in flight (canic has
 * none: its runner moves one operation at a time): operation `sequence`
 * becomes pending beside others. Refusals, in order: updated_at NULL or
 * non-blank (missing-field), operation-not-found,
 * mutation-before-preflight-accepted, invalid-operation-transition (not
 * ready or failed), then out-of-order-operation-transition when an
 * earlier operation of the same target is neither completed nor skipped,
 * or, for an operation without a target (finalize), when any earlier
 * operation is. Which operations of different targets may overlap is the
 * runner's policy, not the journal's. Then as mark_pending_at.
 */
SF_API int sf_exec_journal_mark_pending_beside_at(sf_exec_journal *j,
                                                  uint64_t sequence,
                                                  const char *updated_at,
                                                  sf_error *err);

/* The same for whatever operation is next. */
SF_API int sf_exec_journal_mark_next_pending_at(sf_exec_journal *j,
                                                const char *updated_at,
                                                sf_error *err);

/*
 * record_operation_receipt: the receipt is validated against the journal
 * (sf_exec_receipt_validate_against), its operation must be pending
 * ("receipt-without-pending-operation"); a copy is appended, the operation
 * takes the outcome's state, the receipt's updated_at and
 * [failure_reason] (or no reasons), restart_required is recomputed and
 * the operation validated (as mark_pending_at). If that validation fails (for example a
 * completed receipt carrying a failure_reason: unblocked-operation-has-
 * reasons) the receipt is removed and the operation and restart_required
 * are restored, so the journal is unchanged; canic 0.35.10 removed only
 * the receipt.
 */
SF_API int sf_exec_journal_record_receipt(sf_exec_journal *j,
                                          const sf_exec_receipt *receipt,
                                          sf_error *err);

/* retry_failed_operation_at: updated_at NULL or non-blank;
 * operation-not-found; operation-not-failed. failed -> ready at
 * updated_at with no reasons; recompute; validate. */
SF_API int sf_exec_journal_retry_failed_at(sf_exec_journal *j, uint64_t sequence,
                                           const char *updated_at, sf_error *err);

/* ---- receipts ---- */

/*
 * canic's validate_against (spec 2.5) for a receipt about to be recorded
 * (its field paths name the next slot of operation_receipts). Kinds:
 * missing-field, receipt-journal-mismatch, receipt-operation-not-found,
 * receipt-operation-mismatch, receipt-preflight-mismatch (mutating kinds
 * only, null-aware), then missing-field for a failed receipt without a
 * reason, a completed create-snapshot without snapshot_id, a completed
 * download-snapshot without artifact_path, a completed verify-artifact
 * without checksum.
 */
SF_API int sf_exec_receipt_validate_against(const sf_exec_receipt *r,
                                            const sf_exec_journal *j,
                                            sf_error *err);

/* canic's completed()/failed() constructors: plan_id, run_id and
 * preflight_id from the journal, sequence, operation_id, kind and target
 * from the operation, every payload field null (failed() stores a NULL
 * reason as "", which recording then refuses). *out is zeroed on
 * failure. */
SF_API int sf_exec_receipt_completed(const sf_exec_journal *j,
                                     const sf_exec_operation *op,
                                     const char *updated_at, sf_exec_receipt *out,
                                     sf_error *err);
SF_API int sf_exec_receipt_failed(const sf_exec_journal *j,
                                  const sf_exec_operation *op,
                                  const char *updated_at, const char *failure_reason,
                                  sf_exec_receipt *out, sf_error *err);

SF_API int sf_exec_receipt_copy(sf_exec_receipt *dst, const sf_exec_receipt *src,
                                sf_error *err);
SF_API void sf_exec_receipt_free(sf_exec_receipt *r);

/* ---- resume summary (spec 2.6) ---- */

typedef struct sf_exec_resume_summary {
    const char *plan_id;      /* borrowed from the journal */
    const char *run_id;       /* borrowed */
    const char *preflight_id; /* borrowed; NULL = null */
    bool preflight_accepted;
    bool restart_required;
    uint64_t total_operations;
    uint64_t ready_operations;
    uint64_t pending_operations;
    uint64_t blocked_operations;
    uint64_t completed_operations;
    uint64_t failed_operations;
    uint64_t skipped_operations;
    const sf_exec_operation *next_operation; /* borrowed; NULL = null */
} sf_exec_resume_summary;

/* Counts over the journal as it is (no validation). */
SF_API void sf_exec_journal_resume_summary(const sf_exec_journal *j,
                                           sf_exec_resume_summary *out);

/* completed + skipped == total. */
SF_API bool sf_exec_resume_summary_is_complete(const sf_exec_resume_summary *s);

/* The summary as pretty JSON, canic's field order, next_operation a full
 * operation object or null. */
SF_API int sf_exec_journal_resume_summary_json(const sf_exec_journal *j,
                                               sf_buf *out, sf_error *err);

/* ---- plan <-> journal binding (spec 4.4) ---- */

typedef struct sf_exec_integrity_report {
    char *plan_id;
    char *run_id;
    bool verified;
    uint64_t plan_operations;
    uint64_t journal_operations;
} sf_exec_integrity_report;

/*
 * canic's verify_execution_integrity: both documents must validate
 * (their own errors are returned as they are), then plan_id, run_id and
 * the operation count must agree ("plan-journal-mismatch", field
 * "plan_id" | "run_id" | "operation_count"), then phase i and operation
 * i must agree on order/sequence, operation_id, kind and target
 * ("plan-journal-operation-mismatch", field "sequence" | "operation_id" |
 * "kind" | "target_canister_id"). Messages are canic's text followed by
 * the two values, kinds in PascalCase and a null target as empty text:
 * "backup plan operation 4 kind does not match execution journal
 * (plan: Stop, journal: Start)". Receipts, states and preflight data are
 * not compared. On success fills *report when non-NULL.
 */
SF_API int sf_verify_execution_integrity(const sf_plan *plan,
                                         const sf_exec_journal *journal,
                                         sf_exec_integrity_report *report,
                                         sf_error *err);

/* {plan_id, run_id, verified, plan_operations, journal_operations} */
SF_API int sf_exec_integrity_report_write_json(const sf_exec_integrity_report *r,
                                               sf_buf *out, sf_error *err);
SF_API void sf_exec_integrity_report_free(sf_exec_integrity_report *r);

#ifdef __cplusplus
}
#endif

#endif
