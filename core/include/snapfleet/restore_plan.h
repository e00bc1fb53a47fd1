/*
 * snapfleet: restore planning and the apply dry-run (canic-backup 0.35.10
 * restore module, spec restore.md 1 and 2).
 *
 *   manifest [+ mapping] --sf_restore_plan_build--> restore plan
 *   restore plan [+ backup root] --sf_restore_dry_run_build--> dry-run
 *   dry-run --sf_restore_journal_from_dry_run--> apply journal
 *                                             (snapfleet/restore_journal.h)
 *
 * The planner is a pure function: no I/O, no clock. It checks the manifest
 * and the mapping in canic's order (first failure wins), resolves every
 * member's target, orders parents before children and summarises what a
 * restore will do and whether it is ready. The plan JSON is byte for byte
 * canic's. The dry-run turns a plan into numbered operations (upload all,
 * stop all, load all, start all in reverse, verify members, verify fleet)
 * and, given a backup directory, checks every artifact is there and
 * matches its checksum.
 *
 * Ownership: strings are malloc'd and NUL-terminated, NULL meaning JSON
 * null; arrays are pointer + count. Where a document has a counter with
 * the array's own name (`member_count` beside `members`), the array's
 * length is `<array>_len` and the counter keeps what the document says.
 */
#ifndef SNAPFLEET_RESTORE_PLAN_H
#define SNAPFLEET_RESTORE_PLAN_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/json.h"
#include "snapfleet/manifest.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Readiness and blocking reasons (spec 1.5, 3.2). */
#define SF_RESTORE_REASON_MISSING_CHECKSUM "missing-snapshot-checksum"
#define SF_RESTORE_REASON_MISSING_CHECKS "missing-verification-checks"
#define SF_RESTORE_REASON_NO_ARTIFACT_VALIDATION "missing-artifact-validation"
#define SF_RESTORE_REASON_MISSING_ARTIFACTS "missing-artifacts"
#define SF_RESTORE_REASON_CHECKSUMS_INCOMPLETE \
    "artifact-checksum-validation-incomplete"
#define SF_RESTORE_RELATIONSHIP "parent-before-child"
#define SF_RESTORE_DRY_RUN_VERSION 1
/* The role of verify-fleet operations. */
#define SF_RESTORE_FLEET_ROLE "fleet"

/* ---- the mapping document ---- */

/* RestoreMappingEntry {source_canister, target_canister} */
typedef struct sf_restore_mapping_entry {
    char *source_canister;
    char *target_canister;
} sf_restore_mapping_entry;

/* RestoreMapping {members} */
typedef struct sf_restore_mapping {
    sf_restore_mapping_entry *members;
    size_t member_count;
} sf_restore_mapping;

/* JSON -> struct, strict reading; *out zeroed on failure. Errors:
 * "json-syntax", "json-schema", "out-of-memory". */
SF_API int sf_restore_mapping_parse(const char *text, size_t len,
                                    sf_restore_mapping *out, sf_error *err);

/*
 * The mapping rules the planner applies before it looks at the manifest
 * (spec 1.2 step 2), entry by entry in array order: source then target
 * must be principals ("invalid-principal"), no source twice
 * ("duplicate-mapping-source"), no target twice
 * ("duplicate-mapping-target"). `field` is "mapping.members[i].<key>",
 * the message canic's ("field mapping.members[].source_canister must be
 * a valid principal: x", "mapping contains duplicate source canister x").
 */
SF_API int sf_restore_mapping_validate(const sf_restore_mapping *m, sf_error *err);

/* Validates, then appends {"members": [...]} in serde's pretty form. */
SF_API int sf_restore_mapping_write_json(const sf_restore_mapping *m, sf_buf *out,
                                         sf_error *err);
/* Read + parse + validate; *out zeroed on failure. */
SF_API int sf_restore_mapping_read_file(const char *path, sf_restore_mapping *out,
                                        sf_error *err);
/* Validates, then writes atomically; nothing is written when invalid. */
SF_API int sf_restore_mapping_write_file(const char *path,
                                         const sf_restore_mapping *m, sf_error *err);
SF_API void sf_restore_mapping_free(sf_restore_mapping *m);

/* ---- the restore plan document (spec 1.4) ---- */

/* RestoreOrderingDependency; the relationship is always
 * "parent-before-child" (the only value canic knows). */
typedef struct sf_restore_dependency {
    char *source_canister;
    char *target_canister;
} sf_restore_dependency;

/* RestorePlanMember, fields in serde declaration order. The checks and
 * the snapshot have the manifest's shapes. */
typedef struct sf_restore_plan_member {
    char *source_canister;
    char *target_canister;
    char *role;
    char *parent_source_canister;               /* NULL = null */
    char *parent_target_canister;               /* NULL = null */
    sf_restore_dependency *ordering_dependency; /* NULL = null */
    uint64_t member_order;
    sf_manifest_identity_mode identity_mode;
    sf_manifest_check *verification_checks;
    size_t verification_check_count;
    sf_manifest_snapshot source_snapshot;
} sf_restore_plan_member;

typedef struct sf_restore_identity_summary {
    bool mapping_supplied;
    bool all_sources_mapped;
    uint64_t fixed_members;
    uint64_t relocatable_members;
    uint64_t in_place_members;
    uint64_t mapped_members;
    uint64_t remapped_members;
} sf_restore_identity_summary;

typedef struct sf_restore_snapshot_summary {
    bool all_members_have_module_hash;
    bool all_members_have_code_version;
    bool all_members_have_checksum;
    uint64_t members_with_module_hash;
    uint64_t members_with_code_version;
    uint64_t members_with_checksum;
} sf_restore_snapshot_summary;

typedef struct sf_restore_verification_summary {
    bool verification_required;
    bool all_members_have_checks;
    uint64_t fleet_checks;
    uint64_t member_check_groups;
    uint64_t member_checks;
    uint64_t members_with_checks;
    uint64_t total_checks;
} sf_restore_verification_summary;

typedef struct sf_restore_readiness_summary {
    bool ready;
    char **reasons;
    size_t reason_count;
} sf_restore_readiness_summary;

/* The two starts/stops counters read absent as 0 (serde default). */
typedef struct sf_restore_operation_summary {
    uint64_t planned_canister_stops;
    uint64_t planned_canister_starts;
    uint64_t planned_snapshot_uploads;
    uint64_t planned_snapshot_loads;
    uint64_t planned_verification_checks;
    uint64_t planned_operations;
} sf_restore_operation_summary;

typedef struct sf_restore_ordering_summary {
    uint64_t ordered_members;
    uint64_t dependency_free_members;
    uint64_t parent_edges;
} sf_restore_ordering_summary;

/* RestorePlan, fields in serde declaration order. `member_count` is the
 * document's counter, `members_len` the array's length. */
typedef struct sf_restore_plan {
    char *backup_id;
    char *source_environment;
    char *source_root_canister;
    char *topology_hash;
    uint64_t member_count;
    sf_restore_identity_summary identity_summary;
    sf_restore_snapshot_summary snapshot_summary;
    sf_restore_verification_summary verification_summary;
    sf_restore_readiness_summary readiness_summary;
    sf_restore_operation_summary operation_summary;
    sf_restore_ordering_summary ordering_summary;
    sf_manifest_check *fleet_verification_checks; /* absent reads as [] */
    size_t fleet_verification_check_count;
    sf_restore_plan_member *members; /* in execution order */
    size_t members_len;
} sf_restore_plan;

/*
 * canic's RestorePlanner::plan (spec 1.2), pure. `mapping` NULL is an
 * in-place restore. Checks, first failure wins:
 *   invalid-manifest         the manifest error's message and field;
 *   invalid-principal, duplicate-mapping-source, duplicate-mapping-target
 *                            (sf_restore_mapping_validate);
 *   unknown-mapping-source   "mapping references unknown source canister x"
 *                            (field mapping.members[i].source_canister);
 *   missing-mapping-source   "mapping is missing source canister x"
 *                            (field mapping.members);
 *   fixed-identity-remap     "fixed-identity member x cannot be mapped to y"
 *                            (field mapping.members[i].target_canister);
 *   duplicate-plan-target    "restore plan contains duplicate target
 *                            canister x" (defensive);
 *   restore-order-cycle      "restore plan contains a parent cycle or
 *                            unresolved dependency" (field of the first
 *                            member left: fleet.members[i].parent_canister_id).
 * *out is zeroed on failure; out-of-memory as usual.
 */
SF_API int sf_restore_plan_build(const sf_manifest *manifest,
                                 const sf_restore_mapping *mapping,
                                 sf_restore_plan *out, sf_error *err);

/* JSON -> struct, strict reading (spec 0 defaults); *out zeroed on
 * failure. */
SF_API int sf_restore_plan_parse(const char *text, size_t len, sf_restore_plan *out,
                                 sf_error *err);

/*
 * canic never checks a plan (apply trusts it); snapfleet checks what every
 * plan the planner writes satisfies and what apply relies on, so a
 * hand-edited plan cannot produce an unusable journal:
 *   missing-field          blank backup_id, source_environment,
 *                          source_root_canister, topology_hash, or a
 *                          member's source_canister, target_canister,
 *                          role, source_snapshot.snapshot_id,
 *                          source_snapshot.artifact_path,
 *                          source_snapshot.checksum_algorithm
 *                          ("restore plan field members[].role is
 *                          required");
 *   count-mismatch         member_count differs from the members array
 *                          ("restore plan count member_count mismatch:
 *                          reported=3, actual=2");
 *   duplicate-plan-target  two members restore onto one canister (canic's
 *                          planner error and text).
 * Every plan canic's planner produces passes.
 */
SF_API int sf_restore_plan_validate(const sf_restore_plan *plan, sf_error *err);

/* Validates, then appends serde's pretty form (spec 1.4). */
SF_API int sf_restore_plan_write_json(const sf_restore_plan *plan, sf_buf *out,
                                      sf_error *err);
SF_API int sf_restore_plan_read_file(const char *path, sf_restore_plan *out,
                                     sf_error *err);
SF_API int sf_restore_plan_write_file(const char *path, const sf_restore_plan *plan,
                                      sf_error *err);
SF_API void sf_restore_plan_free(sf_restore_plan *plan);

/* ---- operations (spec 2.1) ---- */

/* "stop-canister", "start-canister", "upload-snapshot", "load-snapshot",
 * "verify-member", "verify-fleet" */
typedef enum sf_restore_op_kind {
    SF_RESTORE_OP_STOP_CANISTER = 0,
    SF_RESTORE_OP_START_CANISTER = 1,
    SF_RESTORE_OP_UPLOAD_SNAPSHOT = 2,
    SF_RESTORE_OP_LOAD_SNAPSHOT = 3,
    SF_RESTORE_OP_VERIFY_MEMBER = 4,
    SF_RESTORE_OP_VERIFY_FLEET = 5
} sf_restore_op_kind;
#define SF_RESTORE_OP_KIND_COUNT 6

/* Wire names; NULL outside the enum. */
SF_API const char *sf_restore_op_kind_name(sf_restore_op_kind k);
/* canic's Debug spelling used in messages ("UploadSnapshot"). */
SF_API const char *sf_restore_op_kind_debug_name(sf_restore_op_kind k);

/* RestoreApplyOperationKindCounts, fields in serde order. */
typedef struct sf_restore_op_counts {
    uint64_t canister_stops;
    uint64_t canister_starts;
    uint64_t snapshot_uploads;
    uint64_t snapshot_loads;
    uint64_t member_verifications;
    uint64_t fleet_verifications;
    uint64_t verification_operations; /* member + fleet */
} sf_restore_op_counts;

/* Counts one more operation of kind k (verification_operations too). */
SF_API void sf_restore_op_counts_add(sf_restore_op_counts *c, sf_restore_op_kind k);
/* Writes the counts object (key already written by the caller). */
SF_API void sf_restore_op_counts_write(sf_jw *w, const sf_restore_op_counts *c);

/* RestoreApplyDryRunOperation, fields in serde order. */
typedef struct sf_restore_operation {
    uint64_t sequence;
    sf_restore_op_kind kind; /* "operation" on the wire */
    uint64_t member_order;
    char *source_canister;
    char *target_canister;
    char *role;
    char *snapshot_id;       /* NULL = null */
    char *artifact_path;     /* NULL = null */
    char *verification_kind; /* NULL = null */
} sf_restore_operation;

/* ---- artifact validation (spec 2.3) ---- */

typedef struct sf_restore_artifact_check {
    char *source_canister;
    char *target_canister;
    char *snapshot_id;
    char *artifact_path;
    char *resolved_path;
    bool exists;
    char *checksum_algorithm;
    char *checksum_expected; /* NULL = null */
    char *checksum_actual;   /* NULL = null */
    bool checksum_verified;
} sf_restore_artifact_check;

typedef struct sf_restore_artifact_validation {
    char *backup_root;
    uint64_t checked_members;
    bool artifacts_present;
    bool checksums_verified;
    uint64_t members_with_expected_checksums;
    sf_restore_artifact_check *checks;
    size_t check_count;
} sf_restore_artifact_validation;

/*
 * For each plan member in order, fail fast:
 *   artifact-path-escapes-backup  absolute path or a `..` component
 *     ("restore artifact path for x escapes backup root: p");
 *   symlink-refused  a component of the path is a symbolic link
 *     (snapfleet: artifacts are never followed through links; canic
 *     follows them);
 *   artifact-missing  nothing at root/path
 *     ("restore artifact for x is missing: p at r");
 *   artifact-checksum  the expected checksum does not match exactly (case
 *     included) or the artifact cannot be read ("restore artifact checksum
 *     failed for x at p: checksum mismatch: expected e, actual a"); a
 *     symlink or special file inside a directory artifact keeps the
 *     checksum module's kind ("symlink-refused", "unsupported-file-type")
 *     with the same message prefix.
 * Members without an expected checksum are not hashed. `field` is
 * "members[i].source_snapshot.artifact_path" (or .checksum). *out zeroed
 * on failure.
 */
SF_API int sf_restore_artifact_validate(const sf_restore_plan *plan,
                                        const char *backup_root,
                                        sf_restore_artifact_validation *out,
                                        sf_error *err);
SF_API void sf_restore_artifact_validation_free(sf_restore_artifact_validation *v);

/* ---- the dry-run (spec 2.2) ---- */

/* RestoreApplyDryRun, fields in serde order. */
typedef struct sf_restore_dry_run {
    uint64_t dry_run_version;
    char *backup_id;
    bool ready;
    char **readiness_reasons;
    size_t readiness_reason_count;
    uint64_t member_count;
    uint64_t planned_canister_stops;
    uint64_t planned_canister_starts;
    uint64_t planned_snapshot_uploads;
    uint64_t planned_snapshot_loads;
    uint64_t planned_verification_checks;
    uint64_t planned_operations;
    uint64_t rendered_operations;
    sf_restore_op_counts operation_counts;
    sf_restore_artifact_validation *artifact_validation; /* NULL = null */
    sf_restore_operation *operations;
    size_t operations_len;
} sf_restore_dry_run;

/* The plan is checked with sf_restore_plan_validate (its errors as they
 * are), operations are generated (spec 2.1) and, when backup_root is not
 * NULL, the artifacts validated (sf_restore_artifact_validate, whose
 * errors end the dry-run). *out zeroed on failure. */
SF_API int sf_restore_dry_run_build(const sf_restore_plan *plan,
                                    const char *backup_root,
                                    sf_restore_dry_run *out, sf_error *err);

/* serde's pretty form of a built dry-run (spec 2.2). */
SF_API int sf_restore_dry_run_write_json(const sf_restore_dry_run *d, sf_buf *out,
                                         sf_error *err);
SF_API void sf_restore_dry_run_free(sf_restore_dry_run *d);

#ifdef __cplusplus
}
#endif

#endif
