/*
 * snapfleet: the fleet backup manifest, `fleet-backup-manifest.json`
 * (canic-backup 0.35.10, manifest version 1).
 *
 * The manifest is the proof of what a backup captured: the fleet's
 * topology hashes, one entry per member with its snapshot artifact, the
 * consistency units the members were captured in and the verification
 * plan a restore runs. Reading, validating and writing follow canic
 * exactly (field order, rule order, error texts), so a manifest written
 * here is one canic accepts and the other way round.
 *
 * Ownership: every string is malloc'd and NUL-terminated, NULL meaning
 * JSON null (only for the optional fields); arrays are pointer + count.
 * sf_manifest_free() releases everything a parse or copy produced.
 */
#ifndef SNAPFLEET_MANIFEST_H
#define SNAPFLEET_MANIFEST_H

#include "snapfleet/export.h"

#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/json.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_MANIFEST_FILE_NAME "fleet-backup-manifest.json"
#define SF_MANIFEST_VERSION 1
#define SF_MANIFEST_HASH_ALGORITHM "sha256"
#define SF_MANIFEST_CHECK_KIND_STATUS "status"

typedef enum sf_manifest_unit_kind {
    SF_MANIFEST_UNIT_SINGLE = 0, /* "single" */
    SF_MANIFEST_UNIT_SUBTREE = 1 /* "subtree" */
} sf_manifest_unit_kind;

typedef enum sf_manifest_identity_mode {
    SF_MANIFEST_IDENTITY_FIXED = 0,      /* "fixed" */
    SF_MANIFEST_IDENTITY_RELOCATABLE = 1 /* "relocatable" */
} sf_manifest_identity_mode;

/* VerificationCheck {kind, roles} */
typedef struct sf_manifest_check {
    char *kind;
    char **roles;
    size_t role_count;
} sf_manifest_check;

/* BackupUnit {unit_id, kind, roles} */
typedef struct sf_manifest_unit {
    char *unit_id;
    sf_manifest_unit_kind kind;
    char **roles;
    size_t role_count;
} sf_manifest_unit;

/* SourceSnapshot; module_hash, code_version and checksum may be NULL. */
typedef struct sf_manifest_snapshot {
    char *snapshot_id;
    char *module_hash;
    char *code_version;
    char *artifact_path;
    char *checksum_algorithm;
    char *checksum;
} sf_manifest_snapshot;

/* FleetMember; the three optional principals may be NULL. */
typedef struct sf_manifest_member {
    char *role;
    char *canister_id;
    char *parent_canister_id;
    char *subnet_canister_id;
    char *controller_hint;
    sf_manifest_identity_mode identity_mode;
    sf_manifest_check *verification_checks;
    size_t verification_check_count;
    sf_manifest_snapshot source_snapshot;
} sf_manifest_member;

/* MemberVerificationChecks {role, checks} */
typedef struct sf_manifest_member_checks {
    char *role;
    sf_manifest_check *checks;
    size_t check_count;
} sf_manifest_member_checks;

typedef struct sf_manifest_tool {
    char *name;
    char *version;
} sf_manifest_tool;

typedef struct sf_manifest_source {
    char *environment;
    char *root_canister;
} sf_manifest_source;

typedef struct sf_manifest_consistency {
    sf_manifest_unit *backup_units;
    size_t backup_unit_count;
} sf_manifest_consistency;

typedef struct sf_manifest_fleet {
    char *topology_hash_algorithm;
    char *topology_hash_input;
    char *discovery_topology_hash;
    char *pre_snapshot_topology_hash;
    char *topology_hash;
    sf_manifest_member *members;
    size_t member_count;
} sf_manifest_fleet;

typedef struct sf_manifest_verification {
    sf_manifest_check *fleet_checks;
    size_t fleet_check_count;
    sf_manifest_member_checks *member_checks;
    size_t member_check_count;
} sf_manifest_verification;

/* FleetBackupManifest, fields in serde declaration order. */
typedef struct sf_manifest {
    uint64_t manifest_version; /* a u16 on the wire */
    char *backup_id;
    char *created_at;
    sf_manifest_tool tool;
    sf_manifest_source source;
    sf_manifest_consistency consistency;
    sf_manifest_fleet fleet;
    sf_manifest_verification verification;
} sf_manifest;

/* Wire spellings: "single"/"subtree", "fixed"/"relocatable". */
SF_API const char *sf_manifest_unit_kind_name(sf_manifest_unit_kind kind);
SF_API const char *sf_manifest_identity_mode_name(sf_manifest_identity_mode mode);

/* JSON -> struct with strict reading and no semantic validation. *out is
 * overwritten (not freed first) and is zeroed on failure. Errors:
 * "json-syntax", "json-schema" (field = JSON path), "out-of-memory". */
SF_API int sf_manifest_parse(const char *text, size_t len, sf_manifest *out,
                             sf_error *err);

/* canic's FleetBackupManifest::validate: the rules in canic's order, first
 * failure wins. The error kind is canic's variant name in kebab case, the
 * field the concrete path ("fleet.members[1].source_snapshot.checksum"),
 * the message canic's display text. */
SF_API int sf_manifest_validate(const sf_manifest *m, sf_error *err);

/* Validates, then appends serde_json's pretty form to `out`. On failure
 * `out` keeps its previous contents. */
SF_API int sf_manifest_write_json(const sf_manifest *m, sf_buf *out, sf_error *err);

/* Reads, parses and validates a manifest file; *out is zeroed on failure. */
SF_API int sf_manifest_read_file(const char *path, sf_manifest *out, sf_error *err);

/* Validates, then writes atomically; an invalid manifest creates no file
 * (not even the temporary). */
SF_API int sf_manifest_write_file(const char *path, const sf_manifest *m,
                                  sf_error *err);

/* The `manifest validate` summary (canic's manifest_validation_summary):
 * validates first, then appends pretty JSON with keys in sorted order. */
SF_API int sf_manifest_validation_summary_json(const sf_manifest *m, sf_buf *out,
                                               sf_error *err);

/* Deep copy; *dst is zeroed on failure ("out-of-memory"). */
SF_API int sf_manifest_copy(sf_manifest *dst, const sf_manifest *src,
                            sf_error *err);

/* Releases everything inside *m and zeroes it. NULL is a no-op. */
SF_API void sf_manifest_free(sf_manifest *m);

/* key + an array of VerificationCheck objects ({kind, roles}); the restore
 * plan writes the same shape. */
SF_API void sf_manifest_checks_write(sf_jw *w, const char *key,
                                     const sf_manifest_check *v, size_t n);

#ifdef __cplusplus
}
#endif

#endif
