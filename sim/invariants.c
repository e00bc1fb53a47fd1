/* The invariants every simulated run must keep (snapfleet/simrun.h). */
#include "snapfleet/simrun.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"

static void violation(sf_buf *v, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void violation(sf_buf *v, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    sf_buf_puts(v, line);
    sf_buf_putc(v, '\n');
}

/* Through the storage seam, where the backup wrote (under `sim run`, the
 * simulated disk). */
static int hash_file_into(sf_sha256 *h, const char *path, sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    char buf[1 << 16];
    sf_storage_file *f = NULL;
    sf_storage_kind kind = SF_STORAGE_ABSENT;
    uint64_t off = 0;
    size_t n = 0;
    sf_error e;
    int rc;

    if (sf_storage_open(st, path, SF_STORAGE_READ, &f, &e) != SF_OK) {
        /* a zero-size blob is not written */
        if (sf_storage_kind_of(st, path, &kind, NULL) == SF_OK &&
            kind == SF_STORAGE_ABSENT)
            return SF_OK;
        *err = e;
        return SF_ERR;
    }
    while ((rc = sf_storage_read(st, f, off, buf, sizeof buf, &n, err)) ==
               SF_OK && n > 0) {
        sf_sha256_update(h, buf, n);
        off += n;
    }
    sf_storage_close(st, &f, NULL);
    return rc;
}

/* The state digest of an artifact: heap bytes then stable bytes, the same
 * definition as the simulator's state_digest. */
static int artifact_digest(const char *dir, char out[SF_SHA256_HEX_SIZE],
                           sf_error *err)
{
    static const char *const blobs[] = {"wasm_memory.bin", "stable_memory.bin"};
    sf_sha256 *h = sf_sha256_new();
    size_t i;
    int rc = SF_OK;

    if (h == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (i = 0; i < 2 && rc == SF_OK; i++) {
        char *p = sf_path_join(dir, blobs[i]);
        rc = p ? hash_file_into(h, p, err)
               : sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        free(p);
    }
    if (rc == SF_OK)
        rc = sf_sha256_final(h, out);
    sf_sha256_free(h);
    return rc;
}

static bool present(const char *path)
{
    sf_storage_kind kind = SF_STORAGE_ABSENT;

    return sf_storage_kind_of(sf_fs_storage(), path, &kind, NULL) == SF_OK &&
           kind != SF_STORAGE_ABSENT;
}

static bool had_snapshot(const sf_sim *sim, const char *id, const char *snap)
{
    size_t idx, j;
    sf_sim_canister_info info;
    sf_snapshot_info s;

    if (sf_sim_canister_find(sim, id, &idx, NULL) != SF_OK ||
        sf_sim_canister_at(sim, idx, &info, NULL) != SF_OK)
        return false;
    for (j = 0; j < info.snapshot_count; j++)
        if (sf_sim_snapshot_at(sim, idx, j, &s, NULL) == SF_OK &&
            strcmp(s.id, snap) == 0)
            return true;
    return false;
}

static int check_members(const sf_sim *after, const char *out, sf_buf *v,
                         sf_error *err)
{
    sf_manifest m;
    char *path = sf_path_join(out, SF_MANIFEST_FILE_NAME);
    size_t i;
    int rc;

    if (path == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_manifest_read_file(path, &m, err);
    free(path);
    if (rc != SF_OK)
        return SF_ERR;
    for (i = 0; i < m.fleet.member_count; i++) {
        const sf_manifest_member *mem = &m.fleet.members[i];
        char *dir = NULL, want[SF_SHA256_HEX_SIZE], got[SF_SHA256_HEX_SIZE];

        if (sf_sim_state_digest(after, mem->canister_id, want, NULL) != SF_OK)
            continue; /* removed by a topology change after the backup */
        if (sf_resolve_artifact_path(out, mem->source_snapshot.artifact_path,
                                     &dir, err) != SF_OK ||
            artifact_digest(dir, got, err) != SF_OK) {
            free(dir);
            sf_manifest_free(&m);
            return SF_ERR;
        }
        if (strcmp(want, got) != 0)
            violation(v, "artifact of %s does not hold the canister's memory "
                      "(artifact %s)", mem->canister_id, got);
        free(dir);
    }
    sf_manifest_free(&m);
    return SF_OK;
}

int sf_check_invariants(const sf_sim *before, const sf_sim *after,
                        const char *out, bool leave_stopped, sf_buf *v,
                        sf_error *err)
{
    sf_download_journal dj;
    bool have_dj = false;
    char *dj_path = sf_path_join(out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    char *man_path = sf_path_join(out, SF_MANIFEST_FILE_NAME);
    size_t i, j, start_len = v->len;
    int rc = SF_ERR;

    if (dj_path == NULL || man_path == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (present(dj_path)) {
        if (sf_download_journal_read_file(dj_path, &dj, err) != SF_OK)
            goto done;
        have_dj = true;
    }
    for (i = 0; i < sf_sim_canister_count(before); i++) {
        sf_sim_canister_info b, a;
        size_t idx;

        if (sf_sim_canister_at(before, i, &b, err) != SF_OK)
            goto done;
        if (sf_sim_canister_find(after, b.canister_id, &idx, NULL) != SF_OK ||
            sf_sim_canister_at(after, idx, &a, err) != SF_OK)
            continue;
        if (b.status == SF_STATUS_RUNNING && a.status != SF_STATUS_RUNNING &&
            !leave_stopped)
            violation(v, "%s was running before and is %s now", b.canister_id,
                      sf_canister_status_name(a.status));
        if (b.status == SF_STATUS_STOPPED && a.status != SF_STATUS_STOPPED)
            violation(v, "%s was stopped before and is %s now", b.canister_id,
                      sf_canister_status_name(a.status));
        for (j = 0; j < a.snapshot_count; j++) {
            sf_snapshot_info s;

            if (sf_sim_snapshot_at(after, idx, j, &s, err) != SF_OK)
                goto done;
            if (had_snapshot(before, a.canister_id, s.id))
                continue;
            if (!have_dj || sf_download_journal_find(&dj, a.canister_id, s.id) == NULL)
                violation(v, "%s: snapshot %s was created and not recorded in "
                          "the download journal", a.canister_id, s.id);
        }
    }
    if (present(man_path)) {
        sf_integrity_report rep;
        sf_error verr;

        if (sf_verify_integrity(out, &rep, &verr) != SF_OK)
            violation(v, "backup does not verify: %s (%s)", verr.message,
                      verr.kind ? verr.kind : "error");
        else
            sf_integrity_report_free(&rep);
        if (check_members(after, out, v, err) != SF_OK)
            goto done;
    }
    rc = SF_OK;
done:
    if (have_dj)
        sf_download_journal_free(&dj);
    free(dj_path);
    free(man_path);
    if (rc == SF_OK && v->len != start_len) {
        size_t lines = 0;
        for (i = start_len; i < v->len; i++)
            lines += v->data[i] == '\n';
        return sf_error_set(err, "invariant-violated", "", "%zu invariant "
                            "violation(s)", lines);
    }
    return rc;
}
