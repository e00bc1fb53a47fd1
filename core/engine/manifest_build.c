#include "engine/manifest_build.h"

#include <stdlib.h>
#include <string.h>

static char *dup(const char *s, int *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    if (d == NULL)
        *oom = 1;
    return d;
}

static char **dup_roles(const char *const *roles, size_t n, int *oom)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    size_t i;

    if (v == NULL) {
        *oom = 1;
        return NULL;
    }
    for (i = 0; i < n; i++)
        v[i] = dup(roles[i], oom);
    return v;
}

int sf_manifest_build(sf_manifest *m, const sf_mb_header *h,
                      const sf_mb_member *members, size_t n, sf_error *err)
{
    int oom = 0;
    size_t i;

    memset(m, 0, sizeof *m);
    m->manifest_version = SF_MANIFEST_VERSION;
    m->backup_id = dup(h->backup_id, &oom);
    m->created_at = dup(h->created_at, &oom);
    m->tool.name = dup(h->tool_name, &oom);
    m->tool.version = dup(h->tool_version, &oom);
    m->source.environment = dup(h->environment, &oom);
    m->source.root_canister = dup(h->root_canister, &oom);
    m->consistency.backup_units = calloc(1, sizeof *m->consistency.backup_units);
    if (m->consistency.backup_units == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    m->consistency.backup_unit_count = 1;
    m->consistency.backup_units[0].unit_id = dup(h->unit_id, &oom);
    m->consistency.backup_units[0].kind = h->unit_kind;
    m->consistency.backup_units[0].roles =
        dup_roles(h->unit_roles, h->unit_role_count, &oom);
    m->consistency.backup_units[0].role_count = h->unit_role_count;
    m->fleet.topology_hash_algorithm = dup(SF_MANIFEST_HASH_ALGORITHM, &oom);
    m->fleet.topology_hash_input = dup(h->topology_hash_input, &oom);
    m->fleet.discovery_topology_hash = dup(h->discovery_topology_hash, &oom);
    m->fleet.pre_snapshot_topology_hash = dup(h->pre_snapshot_topology_hash, &oom);
    m->fleet.topology_hash = dup(h->topology_hash, &oom);
    m->fleet.members = calloc(n ? n : 1, sizeof *m->fleet.members);
    if (m->fleet.members == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    m->fleet.member_count = n;
    for (i = 0; i < n; i++) {
        const sf_mb_member *src = &members[i];
        sf_manifest_member *dst = &m->fleet.members[i];

        dst->role = dup(src->role, &oom);
        dst->canister_id = dup(src->canister_id, &oom);
        dst->parent_canister_id = dup(src->parent_canister_id, &oom);
        dst->subnet_canister_id = dup(src->subnet_canister_id, &oom);
        dst->controller_hint = dup(src->controller_hint, &oom);
        dst->identity_mode = src->identity_mode;
        dst->verification_checks = calloc(1, sizeof *dst->verification_checks);
        if (dst->verification_checks == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        dst->verification_check_count = 1;
        dst->verification_checks[0].kind = dup(SF_MANIFEST_CHECK_KIND_STATUS, &oom);
        dst->verification_checks[0].roles = dup_roles(&src->role, 1, &oom);
        dst->verification_checks[0].role_count = 1;
        dst->source_snapshot.snapshot_id = dup(src->snapshot_id, &oom);
        dst->source_snapshot.module_hash = dup(src->module_hash, &oom);
        dst->source_snapshot.code_version = NULL;
        dst->source_snapshot.artifact_path = dup(src->artifact_path, &oom);
        dst->source_snapshot.checksum_algorithm = dup("sha256", &oom);
        dst->source_snapshot.checksum = dup(src->checksum, &oom);
    }
    if (oom)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}
