#include "snapfleet/layout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/json.h"
#include "snapfleet/manifest.h"
#include "snapfleet/snapshot_meta.h"
#include "snapfleet/storage.h"

char *sf_path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);

    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    if (a > 0 && dir[a - 1] != '/')
        p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

int sf_lock_acquire(const char *dir, sf_lock *lock, sf_error *err)
{
    return sf_lock_acquire_named(dir, "backup directory", lock, err);
}

/* The storage's lock (flock on POSIX): a lock file planted as a FIFO,
 * device or directory is refused, and never waited on. */
int sf_lock_acquire_named(const char *dir, const char *what, sf_lock *lock,
                          sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    char *path;
    int rc;

    lock->fd = -1;
    lock->st = NULL;
    lock->held = NULL;
    if (sf_fs_mkdir_p(dir, err) != SF_OK)
        return SF_ERR;
    path = sf_path_join(dir, SF_LOCK_FILE_NAME);
    if (path == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_storage_lock_acquire(st, path, &lock->held, err);
    if (rc != SF_OK && err != NULL && err->kind != NULL &&
        strcmp(err->kind, SF_EK_LOCKED) == 0)
        sf_error_set(err, SF_EK_LOCKED, "", "%s is locked by another running "
                     "snapfleet: %s", what, path);
    free(path);
    if (rc != SF_OK)
        return SF_ERR;
    lock->fd = 0;
    lock->st = st;
    return SF_OK;
}

void sf_lock_release(sf_lock *lock)
{
    if (lock->fd >= 0 && lock->held != NULL)
        sf_storage_lock_release(lock->st, &lock->held);
    lock->fd = -1;
    lock->st = NULL;
    lock->held = NULL;
}

int sf_resolve_artifact_path(const char *root, const char *rel, char **out,
                             sf_error *err)
{
    const char *p = rel;
    char *full, *walk;
    size_t rootlen;

    *out = NULL;
    if (rel[0] == '/')
        goto escape;
    while (*p != '\0') {
        const char *end = strchr(p, '/');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        if (n == 2 && p[0] == '.' && p[1] == '.')
            goto escape;
        p += n;
        if (*p == '/')
            p++;
    }
    full = sf_path_join(root, rel);
    if (full == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    /* Check every component below root (lstat-style): a link anywhere on
     * the way could point outside the backup. */
    rootlen = strlen(root);
    walk = full + rootlen;
    for (;;) {
        sf_storage_info info;
        char saved;

        while (*walk == '/')
            walk++;
        if (*walk == '\0')
            break;
        while (*walk != '\0' && *walk != '/')
            walk++;
        saved = *walk;
        *walk = '\0';
        if (sf_storage_info_of(sf_fs_storage(), full, &info, NULL) == SF_OK &&
            info.kind == SF_STORAGE_OTHER &&
            info.other == SF_STORAGE_OTHER_SYMLINK) {
            sf_error_set(err, "symlink-refused", "", "artifact path %s goes "
                         "through a symbolic link: %s", rel, full);
            free(full);
            return SF_ERR;
        }
        *walk = saved;
    }
    *out = full;
    return SF_OK;
escape:
    return sf_error_set(err, "artifact-path-escapes-backup", "",
                        "artifact path escapes backup root: %s", rel);
}

void sf_integrity_report_free(sf_integrity_report *r)
{
    size_t i;

    if (r == NULL)
        return;
    for (i = 0; i < r->artifact_count; i++) {
        free(r->artifacts[i].canister_id);
        free(r->artifacts[i].snapshot_id);
        free(r->artifacts[i].artifact_path);
        free(r->artifacts[i].checksum);
    }
    free(r->artifacts);
    free(r->backup_id);
    memset(r, 0, sizeof *r);
}

/* Whether path names anything (a dangling link too, as lstat says). */
static bool exists(const char *path)
{
    sf_storage_kind kind;

    return sf_storage_kind_of(sf_fs_storage(), path, &kind, NULL) == SF_OK &&
           kind != SF_STORAGE_ABSENT;
}

static bool file_exists(const char *dir, const char *name)
{
    char *p = sf_path_join(dir, name);
    bool ok = p != NULL && exists(p);

    free(p);
    return ok;
}

/* Prefixes err's message with the file it came from, so every failure
 * names the file and the field. */
static int in_file(sf_error *err, const char *path)
{
    if (err == NULL || strncmp(err->message, path, strlen(path)) == 0)
        return SF_ERR;
    return sf_error_prefix(err, "%s: ", path);
}

static int check_topology(const sf_manifest *m, const sf_download_journal *j,
                          sf_error *err)
{
    const char *fields[2] = {"discovery_topology_hash",
                             "pre_snapshot_topology_hash"};
    const char *mv[2] = {m->fleet.discovery_topology_hash,
                         m->fleet.pre_snapshot_topology_hash};
    const char *jv[2] = {j->discovery_topology_hash,
                         j->pre_snapshot_topology_hash};
    int i;

    for (i = 0; i < 2; i++)
        if (jv[i] == NULL || strcmp(jv[i], mv[i]) != 0)
            return sf_error_set(err, "manifest-journal-topology-receipt-mismatch",
                                fields[i], "manifest topology receipt %s does "
                                "not match journal topology receipt (manifest "
                                "%s, journal %s)", fields[i], mv[i],
                                jv[i] ? jv[i] : "null");
    return SF_OK;
}

static int verify_member(const char *dir, const sf_manifest_member *mem,
                         const sf_download_journal *j, size_t index,
                         sf_checksum_fn checksum, void *payload,
                         sf_integrity_report *r, sf_error *err)
{
    const sf_manifest_snapshot *ss = &mem->source_snapshot;
    const sf_journal_artifact *a;
    char field[64], actual[SF_SHA256_HEX_SIZE];
    char *resolved = NULL;
    sf_integrity_artifact *out;
    sf_storage_kind kind;

    snprintf(field, sizeof field, "fleet.members[%zu]", index);
    a = sf_download_journal_find(j, mem->canister_id, ss->snapshot_id);
    if (a == NULL)
        return sf_error_set(err, "missing-journal-artifact", field,
                            "manifest member %s snapshot %s has no journal "
                            "artifact", mem->canister_id, ss->snapshot_id);
    if (a->state != SF_ARTIFACT_DURABLE)
        return sf_error_set(err, "non-durable-artifact", field,
                            "journal artifact %s snapshot %s is not durable",
                            mem->canister_id, ss->snapshot_id);
    if (a->checksum == NULL)
        return sf_error_set(err, "missing-journal-artifact-checksum", field,
                            "journal artifact %s snapshot %s has no checksum",
                            mem->canister_id, ss->snapshot_id);
    if (strcmp(ss->artifact_path, a->artifact_path) != 0)
        return sf_error_set(err, "manifest-journal-artifact-path-mismatch",
                            field, "manifest artifact path for %s snapshot %s "
                            "does not match journal artifact path (manifest "
                            "%s, journal %s)", mem->canister_id,
                            ss->snapshot_id, ss->artifact_path,
                            a->artifact_path);
    if (ss->checksum != NULL && strcmp(ss->checksum, a->checksum) != 0)
        return sf_error_set(err, "manifest-journal-checksum-mismatch", field,
                            "manifest checksum for %s snapshot %s does not "
                            "match journal checksum", mem->canister_id,
                            ss->snapshot_id);
    if (sf_resolve_artifact_path(dir, ss->artifact_path, &resolved, err) != SF_OK) {
        snprintf(err->field, sizeof err->field, "%s.source_snapshot.artifact_path",
                 field);
        return SF_ERR;
    }
    if (sf_storage_kind_of(sf_fs_storage(), resolved, &kind, NULL) != SF_OK ||
        kind == SF_STORAGE_ABSENT) {
        sf_error_set(err, "missing-artifact", field,
                     "artifact path does not exist: %s", resolved);
        free(resolved);
        return SF_ERR;
    }
    if ((checksum != NULL ? checksum(payload, resolved, actual, err)
                          : sf_checksum_path(resolved, actual, err)) != SF_OK) {
        free(resolved);
        return SF_ERR;
    }
    if (sf_checksum_verify("sha256", a->checksum, actual, err) != SF_OK) {
        sf_error_prefix(err, "artifact %s of %s: ", resolved, mem->canister_id);
        snprintf(err->field, sizeof err->field, "%s", field);
        free(resolved);
        return SF_ERR;
    }
    /* A snapshot directory must also agree with its own metadata.json
     * (sizes, listed chunks, the module against the recorded hash): the
     * checksum alone only proves the bytes are the ones the run saw. */
    if (kind == SF_STORAGE_DIRECTORY &&
        file_exists(resolved, SF_SNAPSHOT_META_FILE_NAME) &&
        sf_snapshot_dir_check(resolved, ss->module_hash, err) != SF_OK) {
        snprintf(err->field, sizeof err->field, "%s", field);
        free(resolved);
        return SF_ERR;
    }
    out = &r->artifacts[r->artifact_count];
    out->canister_id = strdup(mem->canister_id);
    out->snapshot_id = strdup(ss->snapshot_id);
    out->artifact_path = resolved;
    out->checksum = strdup(a->checksum);
    r->artifact_count++;
    if (out->canister_id == NULL || out->snapshot_id == NULL ||
        out->checksum == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    r->durable_artifacts++;
    return SF_OK;
}

int sf_verify_integrity(const char *dir, sf_integrity_report *r, sf_error *err)
{
    return sf_verify_integrity_with(dir, NULL, NULL, r, err);
}

int sf_verify_integrity_with(const char *dir, sf_checksum_fn checksum, void *payload,
                             sf_integrity_report *r, sf_error *err)
{
    sf_manifest m;
    sf_download_journal j;
    char *mpath = sf_path_join(dir, SF_MANIFEST_FILE_NAME);
    char *jpath = sf_path_join(dir, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    size_t i, k;
    int rc = SF_ERR, have_m = 0, have_j = 0;

    memset(r, 0, sizeof *r);
    if (mpath == NULL || jpath == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (!exists(mpath) && file_exists(dir, SF_PLAN_FILE_NAME)) {
        sf_error_set(err, "dry-run-not-complete", "", "%s: dry-run layout, not "
                     "a complete backup (a plan and no manifest)", dir);
        goto done;
    }
    if (sf_manifest_read_file(mpath, &m, err) != SF_OK) {
        in_file(err, mpath);
        goto done;
    }
    have_m = 1;
    if (sf_download_journal_read_file(jpath, &j, err) != SF_OK) {
        in_file(err, jpath);
        goto done;
    }
    have_j = 1;
    if (strcmp(m.backup_id, j.backup_id) != 0) {
        sf_error_set(err, "backup-id-mismatch", "backup_id", "manifest backup "
                     "id %s does not match journal backup id %s", m.backup_id,
                     j.backup_id);
        goto done;
    }
    if (check_topology(&m, &j, err) != SF_OK)
        goto done;
    for (i = 0; i < j.artifact_count; i++) {
        const sf_journal_artifact *a = &j.artifacts[i];
        bool found = false;

        for (k = 0; k < m.fleet.member_count && !found; k++)
            found = strcmp(m.fleet.members[k].canister_id, a->canister_id) == 0 &&
                    strcmp(m.fleet.members[k].source_snapshot.snapshot_id,
                           a->snapshot_id) == 0;
        if (!found) {
            char f[64];
            snprintf(f, sizeof f, "artifacts[%zu]", i);
            sf_error_set(err, "unexpected-journal-artifact", f, "journal "
                         "artifact %s snapshot %s is not declared in manifest",
                         a->canister_id, a->snapshot_id);
            goto done;
        }
    }
    r->artifacts = calloc(m.fleet.member_count ? m.fleet.member_count : 1,
                          sizeof *r->artifacts);
    r->backup_id = strdup(m.backup_id);
    if (r->artifacts == NULL || r->backup_id == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    r->manifest_members = m.fleet.member_count;
    r->journal_artifacts = j.artifact_count;
    for (i = 0; i < m.fleet.member_count; i++)
        if (verify_member(dir, &m.fleet.members[i], &j, i, checksum, payload, r, err) != SF_OK)
            goto done;
    r->verified = true;
    rc = SF_OK;
done:
    if (rc != SF_OK)
        sf_integrity_report_free(r);
    if (have_m)
        sf_manifest_free(&m);
    if (have_j)
        sf_download_journal_free(&j);
    free(mpath);
    free(jpath);
    return rc;
}

int sf_integrity_report_json(const sf_integrity_report *r, sf_buf *out,
                             sf_error *err)
{
    sf_jw w;
    size_t i;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "backup_id", r->backup_id);
    sf_jw_kv_bool(&w, "verified", r->verified);
    sf_jw_kv_u64(&w, "manifest_members", r->manifest_members);
    sf_jw_kv_u64(&w, "journal_artifacts", r->journal_artifacts);
    sf_jw_kv_u64(&w, "durable_artifacts", r->durable_artifacts);
    sf_jw_key(&w, "artifacts");
    sf_jw_begin_array(&w);
    for (i = 0; i < r->artifact_count; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "canister_id", r->artifacts[i].canister_id);
        sf_jw_kv_string(&w, "snapshot_id", r->artifacts[i].snapshot_id);
        sf_jw_kv_string(&w, "artifact_path", r->artifacts[i].artifact_path);
        sf_jw_kv_string(&w, "checksum", r->artifacts[i].checksum);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}
