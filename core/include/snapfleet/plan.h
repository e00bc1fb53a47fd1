/*
 * snapfleet: the backup plan, `backup-plan.json` (canic-backup 0.35.10
 * BackupPlan, spec formats-and-backup 1).
 *
 * A plan says what one backup run captures and in which order: the
 * targets (each with the authority that lets us stop, snapshot and read
 * it) and the phases, four preflight checks, then the stops, snapshots,
 * starts, downloads and verifications, then the manifest. The execution
 * journal (execjournal.h) tracks progress through these phases.
 *
 * Reading, validation and writing follow canic exactly (field order, rule
 * order, error kinds and texts). The builder also makes canic's phase order
 * and, as a snapfleet addition, a per-canister order and plans that leave
 * the targets stopped (see sf_plan_input).
 *
 * Ownership: every string is malloc'd and NUL-terminated, NULL meaning
 * JSON null; arrays are pointer + count. sf_plan_free() releases
 * everything a parse, build or copy produced.
 */
#ifndef SNAPFLEET_PLAN_H
#define SNAPFLEET_PLAN_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_PLAN_FILE_NAME "backup-plan.json"

/* ---- enums (wire spellings in kebab case) ---- */

/* "proven", "declared", "unknown" */
typedef enum sf_evidence {
    SF_EVIDENCE_PROVEN = 0,
    SF_EVIDENCE_DECLARED = 1,
    SF_EVIDENCE_UNKNOWN = 2
} sf_evidence;

/* "member", "subtree", "non-root-fleet", "maintenance-root" */
typedef enum sf_scope_kind {
    SF_SCOPE_MEMBER = 0,
    SF_SCOPE_SUBTREE = 1,
    SF_SCOPE_NON_ROOT_FLEET = 2,
    SF_SCOPE_MAINTENANCE_ROOT = 3
} sf_scope_kind;

/* "crash-consistent", "root-coordinated", "app-quiesced" */
typedef enum sf_quiescence_policy {
    SF_QUIESCENCE_CRASH_CONSISTENT = 0,
    SF_QUIESCENCE_ROOT_COORDINATED = 1,
    SF_QUIESCENCE_APP_QUIESCED = 2
} sf_quiescence_policy;

/* canic's BackupOperationKind: "validate-topology",
 * "validate-control-authority", "validate-snapshot-read-authority",
 * "validate-quiescence-policy", "stop", "create-snapshot", "start",
 * "download-snapshot", "verify-artifact", "finalize-manifest". */
typedef enum sf_phase_kind {
    SF_PHASE_VALIDATE_TOPOLOGY = 0,
    SF_PHASE_VALIDATE_CONTROL_AUTHORITY = 1,
    SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY = 2,
    SF_PHASE_VALIDATE_QUIESCENCE_POLICY = 3,
    SF_PHASE_STOP = 4,
    SF_PHASE_CREATE_SNAPSHOT = 5,
    SF_PHASE_START = 6,
    SF_PHASE_DOWNLOAD_SNAPSHOT = 7,
    SF_PHASE_VERIFY_ARTIFACT = 8,
    SF_PHASE_FINALIZE_MANIFEST = 9
} sf_phase_kind;
#define SF_PHASE_KIND_COUNT 10

/* The `kind` tag of ControlAuthoritySource: "unknown", "root-controller",
 * "operator-controller", "alternate-controller". */
typedef enum sf_control_source {
    SF_CONTROL_UNKNOWN = 0,
    SF_CONTROL_ROOT_CONTROLLER = 1,
    SF_CONTROL_OPERATOR_CONTROLLER = 2,
    SF_CONTROL_ALTERNATE_CONTROLLER = 3
} sf_control_source;

/* SnapshotReadAuthority's source: "unknown", "operator-controller",
 * "snapshot-visibility", "root-configured-read", "root-mediated-transfer". */
typedef enum sf_read_source {
    SF_READ_UNKNOWN = 0,
    SF_READ_OPERATOR_CONTROLLER = 1,
    SF_READ_SNAPSHOT_VISIBILITY = 2,
    SF_READ_ROOT_CONFIGURED_READ = 3,
    SF_READ_ROOT_MEDIATED_TRANSFER = 4
} sf_read_source;

/* "fixed", "relocatable" */
typedef enum sf_identity_mode {
    SF_IDENTITY_FIXED = 0,
    SF_IDENTITY_RELOCATABLE = 1
} sf_identity_mode;

/* Wire names; NULL for a value outside the enum. */
SF_API const char *sf_evidence_name(sf_evidence v);
SF_API const char *sf_scope_kind_name(sf_scope_kind v);
SF_API const char *sf_quiescence_policy_name(sf_quiescence_policy v);
SF_API const char *sf_phase_kind_name(sf_phase_kind v);
/* The Debug spelling canic uses in messages ("CreateSnapshot"). */
SF_API const char *sf_phase_kind_pascal_name(sf_phase_kind v);
SF_API const char *sf_control_source_name(sf_control_source v);
SF_API const char *sf_read_source_name(sf_read_source v);
SF_API const char *sf_identity_mode_name(sf_identity_mode v);
/* Wire name -> value; SF_ERR when the name is not one of the kinds. */
SF_API int sf_phase_kind_from_name(const char *name, sf_phase_kind *out);

/* The four validate-* kinds. */
SF_API bool sf_phase_kind_is_preflight(sf_phase_kind k);
/* The plan's rule (spec 1.6 step 9): stop, create-snapshot, start and
 * download-snapshot mutate; verify-artifact and finalize-manifest do not.
 * The execution journal classes kinds differently: see
 * sf_exec_kind_is_mutating in execjournal.h. */
SF_API bool sf_phase_kind_is_plan_mutating(sf_phase_kind k);

/* ---- authorities ---- */

/* ControlAuthority {source: {kind, ...}, evidence}. controller and reason
 * belong to alternate-controller only and are NULL for the other kinds. */
typedef struct sf_control_authority {
    sf_control_source kind;
    char *controller;
    char *reason;
    sf_evidence evidence;
} sf_control_authority;

/* SnapshotReadAuthority {source, evidence}. */
typedef struct sf_read_authority {
    sf_read_source source;
    sf_evidence evidence;
} sf_read_authority;

/* evidence proven and source not unknown. */
SF_API bool sf_control_authority_is_proven(const sf_control_authority *a);
/* evidence proven and source root-controller. */
SF_API bool sf_control_authority_is_proven_root_controller(
           const sf_control_authority *a);
SF_API bool sf_read_authority_is_proven(const sf_read_authority *a);

/* Deep copy into *dst (zeroed on failure) and release. */
SF_API int sf_control_authority_copy(sf_control_authority *dst,
                                     const sf_control_authority *src, sf_error *err);
SF_API void sf_control_authority_free(sf_control_authority *a);

/* ---- the document ---- */

/* BackupTarget, fields in serde declaration order. */
typedef struct sf_plan_target {
    char *canister_id;
    char *role;               /* NULL = null */
    char *parent_canister_id; /* NULL = null */
    uint64_t depth;           /* a u32 on the wire */
    sf_control_authority control_authority;
    sf_read_authority snapshot_read_authority;
    sf_identity_mode identity_mode;
    char *expected_module_hash; /* NULL = null */
} sf_plan_target;

/* BackupOperation (a "phase" of the plan). */
typedef struct sf_plan_phase {
    char *operation_id;
    uint64_t order; /* a u32 on the wire */
    sf_phase_kind kind;
    char *target_canister_id; /* NULL = null */
} sf_plan_phase;

/* BackupPlan, fields in serde declaration order. */
typedef struct sf_plan {
    char *plan_id;
    char *run_id;
    char *fleet;
    char *network;
    char *root_canister_id;
    char *selected_subtree_root; /* NULL = null */
    sf_scope_kind selected_scope_kind;
    bool include_descendants;
    bool root_included;
    bool requires_root_controller;
    sf_read_authority snapshot_read_authority;
    sf_quiescence_policy quiescence_policy;
    char *topology_hash_before_quiesce;
    sf_plan_target *targets;
    size_t target_count;
    sf_plan_phase *phases;
    size_t phase_count;
} sf_plan;

/* JSON -> struct with strict reading and no semantic validation. *out is
 * overwritten (not freed first) and zeroed on failure. Errors:
 * "json-syntax", "json-schema" (field = JSON path), "out-of-memory". */
SF_API int sf_plan_parse(const char *text, size_t len, sf_plan *out, sf_error *err);

/*
 * canic's BackupPlan::validate (spec 1.6), first failure wins. Kinds:
 * empty-field, invalid-principal, maintenance-root-excludes-root,
 * root-included-without-maintenance, empty-targets, duplicate-target,
 * empty-phases, operation-order-mismatch, duplicate-operation-id,
 * unknown-operation-target, non-root-fleet-has-selected-root,
 * selected-root-not-in-targets, missing-preflight,
 * mutation-before-preflight. `field` is the concrete JSON path
 * ("targets[1].control_authority.source.controller"); the message is
 * canic's text, which names fields its own way
 * ("field targets[].control_authority.controller must be a valid
 * principal: x").
 */
SF_API int sf_plan_validate(const sf_plan *plan, sf_error *err);

/* canic's validate_for_execution (spec 1.7): validate, then per target
 * unproven-control-authority, unproven-target-snapshot-read-authority,
 * missing-root-controller. */
SF_API int sf_plan_validate_for_execution(const sf_plan *plan, sf_error *err);

/* Validates, then appends serde_json's pretty form to `out`. On failure
 * `out` keeps its previous contents. */
SF_API int sf_plan_write_json(const sf_plan *plan, sf_buf *out, sf_error *err);

/* Reads, parses and validates a plan file; *out is zeroed on failure. */
SF_API int sf_plan_read_file(const char *path, sf_plan *out, sf_error *err);

/* Validates, then writes atomically; an invalid plan writes nothing. */
SF_API int sf_plan_write_file(const char *path, const sf_plan *plan, sf_error *err);

/* Deep copy into *dst (zeroed on failure). */
SF_API int sf_plan_copy(sf_plan *dst, const sf_plan *src, sf_error *err);

/* Releases everything inside *plan and zeroes it. NULL is a no-op. */
SF_API void sf_plan_free(sf_plan *plan);

/* Index of the first target with this canister id (byte compare), or
 * SIZE_MAX when there is none. */
SF_API size_t sf_plan_find_target(const sf_plan *plan, const char *canister_id);

/* Replaces target `index`'s control authority and/or snapshot read
 * authority with deep copies (a NULL argument leaves that one as it is):
 * what a preflight does once it has proven them. Nothing is checked here;
 * sf_plan_validate_for_execution() says whether the plan may now run.
 * Errors: "usage" (index out of range), "out-of-memory" (plan unchanged). */
SF_API int sf_plan_set_target_authorities(sf_plan *plan, size_t index,
                                          const sf_control_authority *control,
                                          const sf_read_authority *read,
                                          sf_error *err);

/* ---- building a plan from the registry ---- */

/*
 * canic's resolve_backup_selector (spec 1.3). A selector that is principal
 * text must equal some registry pid byte for byte; anything else is
 * matched against roles. *pid is a malloc'd copy of the pid found.
 * Errors: empty-field ("selector"), unknown-selector, ambiguous-selector
 * (the message lists the matches in registry order).
 */
SF_API int sf_resolve_backup_selector(const sf_registry *reg, const char *selector,
                                      char **pid, sf_error *err);

/* The order of the mutating phases. */
typedef enum sf_schedule {
    /* canic's order (spec 1.5): stop every target top-down, snapshot
     * every target, start every target bottom-up, then download and
     * verify each target in plan order. */
    SF_SCHEDULE_FLEET = 0,
    /* One canister at a time, top-down: stop, snapshot, download, verify,
     * start; each target is down only for its own capture. */
    SF_SCHEDULE_PER_CANISTER = 1
} sf_schedule;

/* build_backup_plan's input (spec 1.4) plus the schedule and whether the
 * plan restarts the targets. Strings are borrowed. */
typedef struct sf_plan_input {
    const char *plan_id;
    const char *run_id;
    const char *fleet;
    const char *network;
    const char *root_canister_id;
    const char *selected_canister_id; /* NULL: none */
    sf_scope_kind scope;
    bool include_descendants;
    const char *topology_hash_before_quiesce;
    const sf_registry *registry;
    sf_control_authority control_authority; /* given to every target */
    sf_read_authority snapshot_read_authority; /* plan and every target */
    sf_quiescence_policy quiescence_policy;
    sf_identity_mode identity_mode;
    sf_schedule schedule;
    /* false: no start phases at all (the targets are left stopped). */
    bool include_starts;
} sf_plan_input;

/*
 * canic's build_backup_plan (spec 1.4-1.5): targets from the registry
 * (scope member/subtree/maintenance-root: the selected canister and its
 * children, recursively for subtree, maintenance-root or
 * include_descendants; non-root-fleet: every registry entry but the root),
 * depths from the registry, phases in the schedule's order with
 * order = index, then sf_plan_validate(). Without a selection where one
 * is needed: empty-field ("selected_canister_id"); a selection missing
 * from the registry: canister-not-in-registry; then any validate error.
 * *out is zeroed on failure.
 *
 * Phase ids: "validate-topology", "validate-control-authority",
 * "validate-snapshot-read-authority", "validate-quiescence-policy",
 * "stop-<id>", "snapshot-<id>", "start-<id>", "download-<id>",
 * "verify-<id>", "finalize-manifest". Targets are ordered top-down by
 * (depth, canister id bytes) for stops, snapshots and per-canister runs;
 * fleet starts run in the reverse order; fleet downloads follow the plan's
 * target order. A fleet plan has 4 + 5N + 1 phases (4 + 4N + 1 without
 * starts).
 */
SF_API int sf_plan_build(const sf_plan_input *input, sf_plan *out, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
