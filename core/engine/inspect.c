/*
 * `backup inspect`: what a backup directory holds, from its documents
 * only (nothing is recomputed; `backup verify` does that): the manifest's
 * members with their artifacts, checksums and sizes on disk, the topology
 * hashes, and where the execution and download journals stand.
 */
#include "snapfleet/inventory.h"

#include <stdlib.h>
#include <string.h>

#include "engine/walk.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"

typedef struct inspected {
    sf_backup_entry e;
    bool has_m, has_dj, has_ej;
    sf_manifest m;
    sf_download_journal dj;
    sf_exec_journal ej;
    uint64_t *member_bytes;
} inspected;

static void inspected_free(inspected *x)
{
    sf_backup_entry_free(&x->e);
    if (x->has_m)
        sf_manifest_free(&x->m);
    if (x->has_dj)
        sf_download_journal_free(&x->dj);
    if (x->has_ej)
        sf_exec_journal_free(&x->ej);
    free(x->member_bytes);
}

static int read_doc(const char *dir, const char *name, bool *has,
                    int (*fn)(const char *, void *, sf_error *), void *doc,
                    sf_error *err)
{
    char *p = sf_path_join(dir, name);
    int rc = SF_OK;

    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_walk_exists(p)) {
        rc = fn(p, doc, err);
        if (rc == SF_OK)
            *has = true;
        else if (strncmp(err->message, p, strlen(p)) != 0)
            sf_error_prefix(err, "%s: ", p);
    }
    free(p);
    return rc;
}

static int rd_manifest(const char *p, void *d, sf_error *err)
{
    return sf_manifest_read_file(p, d, err);
}
static int rd_dj(const char *p, void *d, sf_error *err)
{
    return sf_download_journal_read_file(p, d, err);
}
static int rd_ej(const char *p, void *d, sf_error *err)
{
    return sf_exec_journal_read_file(p, d, err);
}

static int load(const char *dir, inspected *x, sf_error *err)
{
    size_t i;

    memset(x, 0, sizeof *x);
    if (sf_backup_entry_read(dir, false, &x->e, err) != SF_OK)
        return SF_ERR;
    if (read_doc(dir, SF_MANIFEST_FILE_NAME, &x->has_m, rd_manifest, &x->m, err) != SF_OK ||
        read_doc(dir, SF_DOWNLOAD_JOURNAL_FILE_NAME, &x->has_dj, rd_dj, &x->dj, err) != SF_OK ||
        read_doc(dir, SF_EXEC_JOURNAL_FILE_NAME, &x->has_ej, rd_ej, &x->ej, err) != SF_OK) {
        inspected_free(x);
        return SF_ERR;
    }
    if (x->has_m) {
        size_t n = x->m.fleet.member_count;
        if ((x->member_bytes = calloc(n ? n : 1, sizeof *x->member_bytes)) == NULL) {
            inspected_free(x);
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
        for (i = 0; i < n; i++) {
            char *p = NULL;
            sf_error ignored;

            sf_error_clear(&ignored);
            /* a path that escapes the directory is not measured */
            if (sf_resolve_artifact_path(dir, x->m.fleet.members[i].source_snapshot.artifact_path,
                                         &p, &ignored) == SF_OK)
                sf_walk_bytes(p, 32, NULL, &x->member_bytes[i], &ignored);
            free(p);
            if (ignored.kind != NULL && strcmp(ignored.kind, SF_EK_NOMEM) == 0) {
                /* a shortage is not a size of 0 */
                inspected_free(x);
                return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            }
        }
    }
    return SF_OK;
}

int sf_backup_inspect_json(const char *dir, sf_buf *out, sf_error *err)
{
    inspected x;
    sf_jw w;
    size_t i;
    int rc;

    if (load(dir, &x, err) != SF_OK)
        return SF_ERR;
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "dir", dir);
    sf_jw_kv_string(&w, "status", sf_backup_state_name(x.e.state));
    sf_jw_kv_bool(&w, "layout", x.e.is_layout);
    sf_jw_kv_string(&w, "detail", x.e.detail);
    sf_jw_kv_string(&w, "backup_id", x.e.backup_id);
    sf_jw_kv_string(&w, "fleet", x.e.fleet);
    sf_jw_kv_string(&w, "network", x.e.network);
    sf_jw_kv_string(&w, "created_at", x.e.created_at);
    sf_jw_kv_u64(&w, "bytes", x.e.bytes);
    sf_jw_key(&w, "manifest");
    if (x.has_m) {
        const sf_manifest *m = &x.m;
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "tool", m->tool.name);
        sf_jw_kv_string(&w, "tool_version", m->tool.version);
        sf_jw_kv_string(&w, "environment", m->source.environment);
        sf_jw_kv_string(&w, "root_canister", m->source.root_canister);
        sf_jw_kv_string(&w, "discovery_topology_hash", m->fleet.discovery_topology_hash);
        sf_jw_kv_string(&w, "pre_snapshot_topology_hash", m->fleet.pre_snapshot_topology_hash);
        sf_jw_kv_string(&w, "topology_hash", m->fleet.topology_hash);
        sf_jw_key(&w, "units");
        sf_jw_begin_array(&w);
        for (i = 0; i < m->consistency.backup_unit_count; i++) {
            const sf_manifest_unit *u = &m->consistency.backup_units[i];
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "unit_id", u->unit_id);
            sf_jw_kv_string(&w, "kind", sf_manifest_unit_kind_name(u->kind));
            sf_jw_kv_strv(&w, "roles", u->roles, u->role_count);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_key(&w, "members");
        sf_jw_begin_array(&w);
        for (i = 0; i < m->fleet.member_count; i++) {
            const sf_manifest_member *mm = &m->fleet.members[i];
            const sf_manifest_snapshot *ss = &mm->source_snapshot;
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "role", mm->role);
            sf_jw_kv_string(&w, "canister_id", mm->canister_id);
            sf_jw_kv_string(&w, "parent_canister_id", mm->parent_canister_id);
            sf_jw_kv_string(&w, "snapshot_id", ss->snapshot_id);
            sf_jw_kv_string(&w, "module_hash", ss->module_hash);
            sf_jw_kv_string(&w, "artifact_path", ss->artifact_path);
            sf_jw_kv_string(&w, "checksum_algorithm", ss->checksum_algorithm);
            sf_jw_kv_string(&w, "checksum", ss->checksum);
            sf_jw_kv_u64(&w, "bytes", x.member_bytes[i]);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
    } else {
        sf_jw_null(&w);
    }
    sf_jw_key(&w, "execution");
    if (x.has_ej) {
        sf_exec_resume_summary s;
        sf_exec_journal_resume_summary(&x.ej, &s);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "plan_id", x.ej.plan_id);
        sf_jw_kv_string(&w, "run_id", x.ej.run_id);
        sf_jw_kv_bool(&w, "preflight_accepted", s.preflight_accepted);
        sf_jw_kv_bool(&w, "restart_required", s.restart_required);
        sf_jw_kv_u64(&w, "total_operations", s.total_operations);
        sf_jw_kv_u64(&w, "completed_operations", s.completed_operations);
        sf_jw_kv_u64(&w, "pending_operations", s.pending_operations);
        sf_jw_kv_u64(&w, "failed_operations", s.failed_operations);
        sf_jw_kv_u64(&w, "skipped_operations", s.skipped_operations);
        sf_jw_kv_string(&w, "next_operation",
                        s.next_operation ? s.next_operation->operation_id : NULL);
        sf_jw_end_object(&w);
    } else {
        sf_jw_null(&w);
    }
    sf_jw_key(&w, "download");
    if (x.has_dj) {
        sf_journal_resume_summary s;
        sf_download_journal_resume_summary(&x.dj, &s);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "backup_id", x.dj.backup_id);
        sf_jw_kv_u64(&w, "total_artifacts", s.total_artifacts);
        sf_jw_kv_bool(&w, "is_complete", s.is_complete);
        sf_jw_kv_u64(&w, "pending_artifacts", s.pending_artifacts);
        sf_jw_key(&w, "artifacts");
        sf_jw_begin_array(&w);
        for (i = 0; i < x.dj.artifact_count; i++) {
            const sf_journal_artifact *a = &x.dj.artifacts[i];
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "canister_id", a->canister_id);
            sf_jw_kv_string(&w, "snapshot_id", a->snapshot_id);
            sf_jw_kv_string(&w, "state", sf_artifact_state_name(a->state));
            sf_jw_kv_string(&w, "artifact_path", a->artifact_path);
            sf_jw_kv_string(&w, "checksum", a->checksum);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
    } else {
        sf_jw_null(&w);
    }
    sf_jw_end_object(&w);
    rc = sf_jw_finish(&w, err);
    inspected_free(&x);
    return rc;
}

int sf_backup_inspect_text(const char *dir, sf_buf *out, sf_error *err)
{
    inspected x;
    size_t i;

    if (load(dir, &x, err) != SF_OK)
        return SF_ERR;
    sf_buf_printf(out, "Backup: %s\nBackup id: %s\nStatus: %s\n", dir,
                  x.e.backup_id ? x.e.backup_id : "-",
                  sf_backup_state_name(x.e.state));
    if (x.e.detail)
        sf_buf_printf(out, "Detail: %s\n", x.e.detail);
    sf_buf_printf(out, "Created: %s\nBytes: %llu\n",
                  x.e.created_at ? x.e.created_at : "-",
                  (unsigned long long)x.e.bytes);
    if (x.has_m) {
        const sf_manifest *m = &x.m;
        sf_buf_printf(out, "Environment: %s\nRoot: %s\nTopology: %s\n",
                      m->source.environment, m->source.root_canister,
                      m->fleet.topology_hash);
        sf_buf_printf(out, "%-12s %-28s %-28s %-38s %-14s %-14s %s\n", "ROLE",
                      "CANISTER_ID", "PARENT", "SNAPSHOT_ID", "MODULE_HASH",
                      "CHECKSUM", "BYTES");
        for (i = 0; i < m->fleet.member_count; i++) {
            const sf_manifest_member *mm = &m->fleet.members[i];
            const sf_manifest_snapshot *ss = &mm->source_snapshot;
            sf_buf_printf(out, "%-12s %-28s %-28s %-38s %-14.12s %-14.12s %llu\n",
                          mm->role, mm->canister_id,
                          mm->parent_canister_id ? mm->parent_canister_id : "-",
                          ss->snapshot_id, ss->module_hash ? ss->module_hash : "-",
                          ss->checksum ? ss->checksum : "-",
                          (unsigned long long)x.member_bytes[i]);
        }
    } else {
        sf_buf_puts(out, "Manifest: none (the backup has not finished)\n");
    }
    if (x.has_ej) {
        sf_exec_resume_summary s;
        sf_exec_journal_resume_summary(&x.ej, &s);
        sf_buf_printf(out, "Execution: %llu operations, %llu completed, %llu "
                      "pending, %llu failed%s%s\n",
                      (unsigned long long)s.total_operations,
                      (unsigned long long)s.completed_operations,
                      (unsigned long long)s.pending_operations,
                      (unsigned long long)s.failed_operations,
                      s.next_operation ? "; next " : "",
                      s.next_operation ? s.next_operation->operation_id : "");
    }
    if (x.has_dj) {
        sf_journal_resume_summary s;
        sf_download_journal_resume_summary(&x.dj, &s);
        sf_buf_printf(out, "Download: %llu artifacts, %llu pending%s\n",
                      (unsigned long long)s.total_artifacts,
                      (unsigned long long)s.pending_artifacts,
                      s.is_complete ? ", complete" : "");
    }
    inspected_free(&x);
    if (out->oom)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}
