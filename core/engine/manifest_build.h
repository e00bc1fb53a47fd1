/* Building a fleet backup manifest from what a run captured; shared by the
 * snapshot pipeline and the backup runner, which differ only in the
 * values they pass. */
#ifndef SNAPFLEET_MANIFEST_BUILD_H
#define SNAPFLEET_MANIFEST_BUILD_H

#include "snapfleet/manifest.h"

typedef struct sf_mb_member {
    const char *role;
    const char *canister_id;
    const char *parent_canister_id;
    const char *subnet_canister_id;
    const char *controller_hint;
    sf_manifest_identity_mode identity_mode;
    const char *snapshot_id;
    const char *module_hash;
    const char *artifact_path;
    const char *checksum;
} sf_mb_member;

typedef struct sf_mb_header {
    const char *backup_id;
    const char *created_at;
    const char *tool_name;
    const char *tool_version;
    const char *environment;
    const char *root_canister;
    const char *unit_id;
    sf_manifest_unit_kind unit_kind;
    const char *const *unit_roles;
    size_t unit_role_count;
    const char *topology_hash_input;
    const char *discovery_topology_hash;
    const char *pre_snapshot_topology_hash;
    const char *topology_hash;
} sf_mb_header;

/* Fills *m (released with sf_manifest_free, also on failure). */
int sf_manifest_build(sf_manifest *m, const sf_mb_header *h,
                      const sf_mb_member *members, size_t n, sf_error *err);

#endif
