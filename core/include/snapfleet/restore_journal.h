/*
 * snapfleet: the restore apply journal (canic-backup 0.35.10
 * RestoreApplyJournal, journal version 1, spec restore.md 3).
 *
 * One operation per dry-run operation, each with a state:
 *
 *   ready --claim--> pending --> completed | failed
 *   pending --unclaim--> ready;  failed --retry--> ready
 *   completed --> completed, failed --> failed, pending --> pending
 *                                    (repeats, allowed anywhere)
 *   blocked: never entered, never left
 *
 * A state change other than a repeat may only touch the next operation:
 * the ready, pending or failed one with the smallest sequence (snapfleet's
 * sf_restore_journal_move_beside relaxes this for a runner with several
 * operations in flight: per canister instead). A journal
 * made from a dry-run that was not ready (missing checksums, no artifact
 * validation, ...) has every operation blocked for good.
 *
 * Receipts are the durable record of what a command did (its command,
 * exit status, bounded output, the snapshot id an upload produced); a
 * load's command needs the id from its upload's completed receipt.
 *
 * Where we differ from canic 0.35.10: every transition and every receipt
 * is all or nothing. When the final validation refuses a transition the
 * journal in memory is exactly what it was; canic kept the changed state
 * in memory (harmless there, because its runner never wrote after an
 * error, but a trap for any other caller).
 *
 * Command rendering is split: this module says *what* the next command is
 * (kind, target, snapshot id, resolved input path, whether it mutates,
 * needs a stopped canister, is a resumed upload); the icp driver turns
 * that into argv and hands back the sf_restore_command a receipt records.
 *
 * Ownership: strings are malloc'd and NUL-terminated, NULL meaning null or
 * absent; arrays are pointer + count (`<array>_len` where the document has
 * a counter of the array's own name).
 */
#ifndef SNAPFLEET_RESTORE_JOURNAL_H
#define SNAPFLEET_RESTORE_JOURNAL_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/json.h"
#include "snapfleet/restore_plan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_RESTORE_JOURNAL_VERSION 1
#define SF_RESTORE_RESPONSE_VERSION 1
/* Bytes of command output a receipt keeps (the tail). */
#define SF_RESTORE_OUTPUT_LIMIT 65536
/* The only verification kind that renders a command. */
#define SF_RESTORE_CHECK_STATUS "status"
/* The note of the stopped-canister check the runner makes before a load. */
#define SF_RESTORE_NOTE_STOPPED_PRECONDITION \
    "proves the target canister is stopped before snapshot load"

/* "pending", "ready", "blocked", "completed", "failed" */
typedef enum sf_restore_state {
    SF_RESTORE_PENDING = 0,
    SF_RESTORE_READY = 1,
    SF_RESTORE_BLOCKED = 2,
    SF_RESTORE_COMPLETED = 3,
    SF_RESTORE_FAILED = 4
} sf_restore_state;

/* "command-completed", "command-failed" */
typedef enum sf_restore_outcome {
    SF_RESTORE_COMMAND_COMPLETED = 0,
    SF_RESTORE_COMMAND_FAILED = 1
} sf_restore_outcome;

SF_API const char *sf_restore_state_name(sf_restore_state s);
/* canic's Debug spelling used in messages ("Pending"). */
SF_API const char *sf_restore_state_debug_name(sf_restore_state s);
SF_API const char *sf_restore_outcome_name(sf_restore_outcome o);

/* RestoreApplyJournalOperation, fields in serde order. */
typedef struct sf_restore_journal_op {
    uint64_t sequence;
    sf_restore_op_kind kind; /* "operation" on the wire */
    sf_restore_state state;
    char *state_updated_at; /* NULL = key omitted */
    char **blocking_reasons;
    size_t blocking_reason_count;
    uint64_t member_order;
    char *source_canister;
    char *target_canister;
    char *role;
    char *snapshot_id;       /* NULL = null */
    char *artifact_path;     /* NULL = null */
    char *verification_kind; /* NULL = null */
} sf_restore_journal_op;

/* RestoreApplyRunnerCommand {program, args, mutates,
 * requires_stopped_canister, note}: what was run, as recorded. */
typedef struct sf_restore_command {
    char *program;
    char **args;
    size_t arg_count;
    bool mutates;
    bool requires_stopped_canister;
    char *note;
} sf_restore_command;

/* RestoreApplyCommandOutput {text, truncated, original_bytes} */
typedef struct sf_restore_output {
    char *text;
    bool truncated;
    uint64_t original_bytes;
} sf_restore_output;

/* RestoreApplyOperationReceipt, fields in serde order; every pointer from
 * updated_at on is omitted from the JSON when NULL. */
typedef struct sf_restore_receipt {
    uint64_t sequence;
    sf_restore_op_kind kind; /* "operation" */
    sf_restore_outcome outcome; /* absent reads as command-completed */
    char *source_canister;
    char *target_canister;
    uint64_t attempt; /* absent reads as 0 */
    char *updated_at;
    sf_restore_command *command;
    char *status;
    sf_restore_output *cmd_stdout; /* "stdout" */
    sf_restore_output *cmd_stderr; /* "stderr" */
    char *failure_reason;
    char *source_snapshot_id;
    char *artifact_path;
    char *uploaded_snapshot_id;
} sf_restore_receipt;

/* RestoreApplyJournal, fields in serde order. The counters are what the
 * document says (validation compares them with the operations). */
typedef struct sf_restore_journal {
    uint64_t journal_version; /* a u16 on the wire */
    char *backup_id;
    bool ready;
    char **blocked_reasons;
    size_t blocked_reason_count;
    char *backup_root; /* NULL = key omitted */
    uint64_t operation_count;
    sf_restore_op_counts operation_counts;
    uint64_t pending_operations;
    uint64_t ready_operations;
    uint64_t blocked_operations;
    uint64_t completed_operations;
    uint64_t failed_operations;
    sf_restore_journal_op *operations;
    size_t operations_len;
    sf_restore_receipt *receipts; /* "operation_receipts", omitted if none */
    size_t receipt_count;
} sf_restore_journal;

/* ---- the document ---- */

/* JSON -> struct, strict reading (spec 0 defaults); *out zeroed on
 * failure. Errors: "json-syntax", "json-schema", "out-of-memory". */
SF_API int sf_restore_journal_parse(const char *text, size_t len,
                                    sf_restore_journal *out, sf_error *err);

/*
 * canic's RestoreApplyJournal::validate (spec 3.4), first failure wins:
 * unsupported-version, missing-field, count-mismatch,
 * ready-journal-has-blocking-state, duplicate-sequence, missing-sequence,
 * then per operation missing-field, operation-missing-field,
 * unsupported-verification-kind, blocked-operation-missing-reason,
 * failure-reason-required, unblocked-operation-has-reasons, then per
 * receipt operation-receipt-operation-not-found, operation-receipt-mismatch,
 * missing-field. `field` is the concrete path ("operations[3].role",
 * "operation_counts.snapshot_uploads", "operation_receipts[0].sequence"),
 * the message canic's text with canic's field names ("restore apply
 * journal field operations[].role is required").
 */
SF_API int sf_restore_journal_validate(const sf_restore_journal *j, sf_error *err);

/* Validates, then appends serde's pretty form. */
SF_API int sf_restore_journal_write_json(const sf_restore_journal *j, sf_buf *out,
                                         sf_error *err);
/* The same form without the semantic validation (the shape is still
 * checked: no NULL where the document needs a string): a part of a
 * journal (its header, one operation, some receipts) as the transition
 * log records it. */
SF_API int sf_restore_journal_write_json_part(const sf_restore_journal *j,
                                              sf_buf *out, sf_error *err);
/* Read + parse + validate; *out zeroed on failure. */
SF_API int sf_restore_journal_read_file(const char *path, sf_restore_journal *out,
                                        sf_error *err);
/* Validates, then writes atomically (canic 0.35.10 overwrote in place);
 * an invalid journal writes nothing. */
SF_API int sf_restore_journal_write_file(const char *path,
                                         const sf_restore_journal *j, sf_error *err);
SF_API int sf_restore_journal_copy(sf_restore_journal *dst,
                                   const sf_restore_journal *src, sf_error *err);
SF_API void sf_restore_journal_free(sf_restore_journal *j);

/*
 * The initial journal of a dry-run (spec 3.2): blocked reasons are the
 * readiness reasons plus "missing-artifact-validation" (no validation) or
 * "missing-artifacts" / "artifact-checksum-validation-incomplete", sorted
 * and de-duplicated; no reasons makes every operation ready, otherwise
 * every operation is blocked with all the reasons. backup_root is the
 * validation's. The result is validated (its errors returned). *out zeroed
 * on failure.
 */
SF_API int sf_restore_journal_from_dry_run(const sf_restore_dry_run *d,
                                           sf_restore_journal *out, sf_error *err);

/* ---- operations and transitions ---- */

/* The first operation (array order) with this sequence; NULL if none. */
SF_API sf_restore_journal_op *sf_restore_journal_find(const sf_restore_journal *j,
                                                      uint64_t sequence);
/* The ready, pending or failed operation with the smallest sequence; NULL
 * when there is none. */
SF_API sf_restore_journal_op *
sf_restore_journal_next_transition(const sf_restore_journal *j);
/* operation_count > 0 and every operation completed. */
SF_API bool sf_restore_journal_is_complete(const sf_restore_journal *j);

/*
 * The transitions (spec 3.5). Each checks, in canic's order:
 * operation-not-found, invalid-operation-transition (the table above;
 * message "restore apply journal operation 3 cannot transition from
 * Blocked to Completed"), then, unless the state stays the same,
 * no-transitionable-operation and out-of-order-operation-transition
 * ("restore apply journal operation 4 cannot advance before operation
 * 2"). The operation takes the new state, updated_at (NULL removes the
 * marker) and no reasons ([reason] for failed); the state counters
 * follow and the operation is validated (a blank updated_at is then
 * missing-field): on a valid journal, the whole validation's verdict
 * (the journal is validated whole when read, built and written). On any
 * failure the journal is unchanged.
 */
SF_API int sf_restore_journal_mark_pending(sf_restore_journal *j, uint64_t sequence,
                                           const char *updated_at, sf_error *err);
/* The next operation becomes pending; no-transitionable-operation when
 * there is none. */
SF_API int sf_restore_journal_mark_next_pending(sf_restore_journal *j,
                                                const char *updated_at,
                                                sf_error *err);
/* "Unclaim": the next operation must exist (no-transitionable-operation)
 * and be pending (no-pending-operation); it becomes ready. */
SF_API int sf_restore_journal_mark_next_ready(sf_restore_journal *j,
                                              const char *updated_at, sf_error *err);
/* -> ready (from pending or failed). */
SF_API int sf_restore_journal_mark_ready(sf_restore_journal *j, uint64_t sequence,
                                         const char *updated_at, sf_error *err);
/* canic's retry_failed_operation: the same as mark_ready (it also releases
 * a pending operation, as canic's does). */
SF_API int sf_restore_journal_retry_failed(sf_restore_journal *j, uint64_t sequence,
                                           const char *updated_at, sf_error *err);
SF_API int sf_restore_journal_mark_completed(sf_restore_journal *j,
                                             uint64_t sequence,
                                             const char *updated_at, sf_error *err);
/* A blank reason is failure-reason-required, checked before anything
 * else (even for a sequence that does not exist). */
SF_API int sf_restore_journal_mark_failed(sf_restore_journal *j, uint64_t sequence,
                                          const char *reason, const char *updated_at,
                                          sf_error *err);

/*
 * snapfleet's moves for several operations in flight (canic has none: its
 * runner moves one operation at a time; the transitions above are
 * canic's, unchanged). Operation `sequence` moves to `to` along canic's
 * table whichever operation is next: a ready one claimed (pending) beside
 * others, a pending one completed, failed or released (ready), a failed
 * one made ready again. Refusals, in order: failure-reason-required (to
 * failed with a blank reason), operation-not-found,
 * invalid-operation-transition (the table), then, for a move out of
 * ready, out-of-order-operation-transition when an earlier operation of
 * the same target is not completed ("restore apply journal operation 9
 * cannot advance before operation 5 of the same canister"). Which
 * operations of different targets may overlap is the runner's policy,
 * not the journal's. Then as the transitions above (validated, all or
 * nothing). Every move canic's transitions allow, this allows too.
 */
SF_API int sf_restore_journal_move_beside(sf_restore_journal *j,
                                          uint64_t sequence,
                                          sf_restore_state to,
                                          const char *reason,
                                          const char *updated_at,
                                          sf_error *err);

/* ---- receipts ---- */

/* Appends a copy and validates it against the journal (on a valid
 * journal, the whole validation's verdict); a refused receipt is not
 * kept (its error is validation's, with the new receipt's path). */
SF_API int sf_restore_journal_record_receipt(sf_restore_journal *j,
                                             const sf_restore_receipt *r,
                                             sf_error *err);

/* canic's receipt constructors (spec 3.7): sequence, kind, canisters from
 * the operation, source_snapshot_id and artifact_path copied from its
 * snapshot_id and artifact_path, the given outcome, attempt and
 * updated_at; everything else NULL for the caller to fill (command,
 * status, outputs, and failure_reason or uploaded_snapshot_id). *out
 * zeroed on failure. */
SF_API int sf_restore_receipt_init(sf_restore_receipt *out,
                                   const sf_restore_journal_op *op,
                                   sf_restore_outcome outcome, uint64_t attempt,
                                   const char *updated_at, sf_error *err);
SF_API int sf_restore_receipt_copy(sf_restore_receipt *dst,
                                   const sf_restore_receipt *src, sf_error *err);
SF_API void sf_restore_receipt_free(sf_restore_receipt *r);

/* The bounded output object: the last `limit` bytes decoded as Rust's
 * from_utf8_lossy (which may split a character), truncated = len > limit,
 * original_bytes = len. *out zeroed on failure. */
SF_API int sf_restore_output_capture(sf_restore_output *out, const void *data,
                                     size_t len, size_t limit, sf_error *err);
SF_API void sf_restore_output_free(sf_restore_output *o);

SF_API int sf_restore_command_copy(sf_restore_command *dst,
                                   const sf_restore_command *src, sf_error *err);
SF_API void sf_restore_command_free(sf_restore_command *c);

/* 1 + the receipts already recorded for this sequence (canic's attempt
 * number: informational, there is no retry limit). */
SF_API uint64_t sf_restore_journal_attempt(const sf_restore_journal *j,
                                           uint64_t sequence);

/* The uploaded snapshot id a load operation restores (spec 3.6): from the
 * first completed upload receipt with the load's canisters, snapshot id
 * and artifact path, a non-blank uploaded_snapshot_id, and whose
 * operation is a completed upload. NULL when there is none. Borrowed. */
SF_API const char *sf_restore_journal_uploaded_snapshot_id(
           const sf_restore_journal *j, const sf_restore_journal_op *load);

/* ---- what the next command is ---- */

/* Everything the icp driver needs to build an operation's command; all
 * strings malloc'd. */
typedef struct sf_restore_command_spec {
    uint64_t sequence;
    sf_restore_op_kind kind;
    char *target_canister;
    /* load: the uploaded snapshot id to restore; upload: the source
     * snapshot id (informational); NULL otherwise. */
    char *snapshot_id;
    /* upload: the artifact directory, backup_root joined with
     * artifact_path (refused if it escapes or goes through a link);
     * NULL otherwise. */
    char *input_path;
    char *verification_kind; /* verify-*: "status"; NULL otherwise */
    bool mutates;
    bool requires_stopped_canister; /* load: prove "stopped" first */
    const char *note;               /* canic's note (static text) */
    uint64_t attempt;               /* sf_restore_journal_attempt */
    /* upload: an earlier attempt of this operation is on record, so the
     * driver may pass --resume (snapfleet: canic 0.35.10 always passed it,
     * which icp refuses when there is no progress to resume). The driver
     * should still confirm icp's progress file exists. */
    bool resume;
} sf_restore_command_spec;

/*
 * The command of operation `sequence` (spec 3.6, the rules under which
 * canic renders one): stop/start always; upload needs its artifact_path,
 * the journal's backup_root and a safe path; load needs the uploaded id
 * (sf_restore_journal_uploaded_snapshot_id); verify needs kind "status".
 * Otherwise "command-unavailable" with the reason. Also
 * "operation-not-found", "out-of-memory". *out zeroed on failure.
 */
SF_API int sf_restore_journal_command_spec(const sf_restore_journal *j,
                                           uint64_t sequence,
                                           sf_restore_command_spec *out,
                                           sf_error *err);
SF_API void sf_restore_command_spec_free(sf_restore_command_spec *s);

/* RestoreApplyCommandPreview (spec 3.6): response_version, backup_id,
 * ready, complete, operation_available, command_available, blocked_reasons,
 * operation (the next operation or null), command (null when `command`
 * is NULL, i.e. nothing could be rendered). */
SF_API int sf_restore_command_preview_write_json(const sf_restore_journal *j,
                                                 const sf_restore_command *command,
                                                 sf_buf *out, sf_error *err);

/* ---- reports (spec 3.8) ---- */

/* "empty", "complete", "failed", "blocked", "pending", "in-progress" */
typedef enum sf_restore_report_outcome {
    SF_RESTORE_REPORT_EMPTY = 0,
    SF_RESTORE_REPORT_COMPLETE = 1,
    SF_RESTORE_REPORT_FAILED = 2,
    SF_RESTORE_REPORT_BLOCKED = 3,
    SF_RESTORE_REPORT_PENDING = 4,
    SF_RESTORE_REPORT_IN_PROGRESS = 5
} sf_restore_report_outcome;

SF_API const char *sf_restore_report_outcome_name(sf_restore_report_outcome o);
/* canic's Debug spelling ("InProgress"), used by the runner's messages. */
SF_API const char *sf_restore_report_outcome_debug_name(sf_restore_report_outcome o);

typedef struct sf_restore_progress {
    uint64_t operation_count;
    uint64_t completed_operations;
    uint64_t remaining_operations;
    uint64_t transitionable_operations; /* ready + pending */
    uint64_t attention_operations;      /* pending + blocked + failed */
    uint64_t completion_basis_points;   /* completed * 10000 / count */
} sf_restore_progress;

/* A journal's report; the pointers borrow from the journal. */
typedef struct sf_restore_report {
    const char *backup_id;
    bool ready;
    bool complete;
    bool attention_required; /* outcome is failed, blocked or pending */
    sf_restore_report_outcome outcome;
    uint64_t operation_count;
    sf_restore_op_counts operation_counts; /* recomputed */
    sf_restore_progress progress;
    /* The lowest-sequence pending operation (pending_summary). */
    const sf_restore_journal_op *pending;
    uint64_t pending_operations;
    uint64_t ready_operations;
    uint64_t blocked_operations;
    uint64_t completed_operations;
    uint64_t failed_operations;
    char *const *blocked_reasons;
    size_t blocked_reason_count;
    const sf_restore_journal_op *next_transition; /* NULL = null */
} sf_restore_report;

SF_API void sf_restore_journal_report(const sf_restore_journal *j,
                                      sf_restore_report *out);

/* The runner's labels (spec 4.3): next action "done",
 * "inspect-failed-operation", "unclaim-pending", "fix-blocked-journal",
 * "rerun"; stopped reason "complete", "command-failed", "pending",
 * "blocked", "max-steps-reached", "ready", "preview". */
SF_API const char *sf_restore_report_next_action(const sf_restore_report *r);
SF_API const char *sf_restore_report_stopped_reason(const sf_restore_report *r,
                                                    bool max_steps_reached,
                                                    bool executed);

/* Writes the report's keys into an open object, in the order of canic's
 * runner response: ready, complete, attention_required, outcome,
 * operation_count, operation_counts, progress, pending_summary,
 * pending_operations, ready_operations, blocked_operations,
 * completed_operations, failed_operations, blocked_reasons,
 * next_transition. */
SF_API void sf_restore_report_write_fields(sf_jw *w, const sf_restore_report *r);

/* A standalone report object: backup_id, then the fields above
 * (snapfleet's `restore status` form; canic has no such document). */
SF_API int sf_restore_report_write_json(const sf_restore_report *r, sf_buf *out,
                                        sf_error *err);

/* One full journal operation row as an object (the preview's
 * `operation`, the runner's `recovered_operation`). */
SF_API void sf_restore_journal_op_write(sf_jw *w, const sf_restore_journal_op *op);
/* A receipt's command object. */
SF_API void sf_restore_command_write(sf_jw *w, const sf_restore_command *c);

#ifdef __cplusplus
}
#endif

#endif
