/* Set-up and checks for the restore tests (restore_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "restore_fixture.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"

void sf_rfx_fleet(sf_fx *f, const char *tag, uint64_t seed, uint64_t canisters)
{
    sf_sim_config cfg;

    sf_fx_setup(f, tag);
    sf_fx_config(&cfg, seed, canisters);
    sf_fx_start(f, &cfg);
}

void sf_rfx_member_now(const sf_sim *sim, const char *id, sf_rfx_member *out)
{
    sf_sim_canister_info info;
    sf_error err;

    if (sf_sim_canister_at(sim, sf_fx_index(sim, id), &info, &err) != SF_OK)
        fail_msg("canister %s: %s", id, err.message);
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", info.canister_id);
    memcpy(out->digest, info.state_digest, sizeof out->digest);
    memcpy(out->module_hash, info.module_hash, sizeof out->module_hash);
    out->status = info.status;
}

static void capture(const sf_sim *sim, const char *out, sf_rfx_capture *cap)
{
    char *path = sf_path_join(out, SF_MANIFEST_FILE_NAME);
    sf_manifest m;
    sf_error err;
    size_t i;

    memset(cap, 0, sizeof *cap);
    if (sf_manifest_read_file(path, &m, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
    free(path);
    if (m.fleet.member_count > SF_RFX_MAX_MEMBERS)
        fail_msg("backup has %zu members, more than the fixture keeps",
                 m.fleet.member_count);
    for (i = 0; i < m.fleet.member_count; i++)
        sf_rfx_member_now(sim, m.fleet.members[i].canister_id, &cap->m[i]);
    cap->n = m.fleet.member_count;
    sf_manifest_free(&m);
}

void sf_rfx_backup(sf_fx *f, const char *out, const char *subtree,
                   sf_rfx_capture *cap)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, out);
    if (subtree != NULL) {
        c.subtree = subtree;
        c.include_root = false;
    }
    if (sf_fx_backup(f, &c, &r, &err) != SF_OK)
        fail_msg("backup of the fleet failed: %s (%s)", err.message,
                 err.kind ? err.kind : "?");
    assert_true(r.complete);
    sf_backup_result_free(&r);
    sf_fx_unstack(f);
    sf_fx_save(f);
    sf_fx_assert_verifies(out);
    capture(f->sim, out, cap);
    sf_buf_reset(&f->log);
}

void sf_rfx_download(sf_fx *f, const char *out, sf_rfx_capture *cap)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, out);
    if (sf_fx_download(f, &c, &r, &err) != SF_OK)
        fail_msg("snapshot download failed: %s (%s)", err.message,
                 err.kind ? err.kind : "?");
    sf_snapshot_download_result_free(&r);
    sf_fx_unstack(f);
    sf_fx_save(f);
    sf_fx_assert_verifies(out);
    capture(f->sim, out, cap);
    sf_buf_reset(&f->log);
}

void sf_rfx_mutate(sf_fx *f, const char *id)
{
    char before[SF_SHA256_HEX_SIZE], after[SF_SHA256_HEX_SIZE];
    sf_error err;

    if (sf_sim_state_digest(f->sim, id, before, &err) != SF_OK ||
        sf_sim_mutate(f->sim, id, &err) != SF_OK ||
        sf_sim_state_digest(f->sim, id, after, &err) != SF_OK)
        fail_msg("mutating %s: %s", id, err.message);
    if (strcmp(before, after) == 0)
        fail_msg("mutating %s left its digest unchanged", id);
    sf_fx_save(f);
}

void sf_rfx_config(sf_restore_config *c, const char *backup,
                   sf_restore_mode mode)
{
    memset(c, 0, sizeof *c);
    c->backup = backup;
    c->mode = mode;
    /* the upload path: the fixture's backups leave their snapshots on the
     * canisters, which a restore would otherwise load directly */
    c->force_upload = true;
}

int sf_rfx_run(sf_fx *f, const sf_restore_config *c, sf_restore_result *r,
               sf_error *err)
{
    sf_error_clear(err);
    return sf_restore_run(c, f->top, &f->clock, r, err);
}

uint64_t sf_rfx_run_complete(sf_fx *f, const sf_restore_config *c)
{
    sf_restore_result r;
    sf_error err;
    uint64_t n;

    if (sf_rfx_run(f, c, &r, &err) != SF_OK) {
        sf_restore_result_free(&r);
        fail_msg("restore (mode %d) failed: %s (%s)\ntrace:\n%s", (int)c->mode,
                 err.message, err.kind ? err.kind : "?", sf_buf_cstr(&f->log));
    }
    if (!r.complete)
        fail_msg("restore ended incomplete: %s, next %s",
                 r.stopped_reason ? r.stopped_reason : "?",
                 r.next_action ? r.next_action : "?");
    assert_string_equal(r.stopped_reason, "complete");
    assert_string_equal(r.next_action, "done");
    n = r.executed;
    sf_restore_result_free(&r);
    return n;
}

void sf_rfx_run_fails(sf_fx *f, const sf_restore_config *c,
                      sf_restore_mode mode, const char *kind,
                      sf_restore_result *r, sf_error *err)
{
    sf_restore_config m = *c;

    m.mode = mode;
    if (sf_rfx_run(f, &m, r, err) == SF_OK)
        fail_msg("restore (mode %d) succeeded; wanted %s", (int)mode, kind);
    if (err->kind == NULL || strcmp(err->kind, kind) != 0)
        fail_msg("restore (mode %d) failed with %s (%s); wanted %s", (int)mode,
                 err->kind ? err->kind : "(null)", err->message, kind);
}

static const char *status_name(sf_canister_status s)
{
    return sf_canister_status_name(s);
}

void sf_rfx_assert_restored(const sf_sim *sim, const sf_rfx_capture *cap,
                            const char *const *targets)
{
    size_t i;
    int bad = 0;

    for (i = 0; i < cap->n; i++) {
        const char *t = targets != NULL && targets[i] != NULL ? targets[i]
                                                              : cap->m[i].id;
        sf_rfx_member now;

        sf_rfx_member_now(sim, t, &now);
        if (strcmp(now.digest, cap->m[i].digest) != 0) {
            print_error("%s: state digest %s, backed up %s (from %s)\n", t,
                        now.digest, cap->m[i].digest, cap->m[i].id);
            bad = 1;
        }
        if (strcmp(now.module_hash, cap->m[i].module_hash) != 0) {
            print_error("%s: module %s, backed up %s\n", t, now.module_hash,
                        cap->m[i].module_hash);
            bad = 1;
        }
        if (now.status != cap->m[i].status) {
            print_error("%s: %s, backed up %s\n", t, status_name(now.status),
                        status_name(cap->m[i].status));
            bad = 1;
        }
    }
    if (bad)
        fail_msg("the fleet is not restored");
}

void sf_rfx_assert_one_new_snapshot(const sf_sim *before, const sf_sim *after,
                                    const char *const *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        size_t k = sf_fx_new_snapshots(before, after, ids[i]);
        if (k != 1)
            fail_msg("%s has %zu new snapshots, wanted exactly 1 (one upload)",
                     ids[i], k);
    }
}

static bool listed(const char *id, const char *const *ids, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return true;
    return false;
}

void sf_rfx_assert_untouched_except(const sf_sim *before, const sf_sim *after,
                                    const char *const *ids, size_t n)
{
    size_t i;

    assert_int_equal(sf_sim_canister_count(before), sf_sim_canister_count(after));
    for (i = 0; i < sf_sim_canister_count(before); i++) {
        sf_rfx_member a, b;
        const char *id = sf_fx_id(before, i);

        if (listed(id, ids, n))
            continue;
        sf_rfx_member_now(before, id, &b);
        sf_rfx_member_now(after, id, &a);
        if (strcmp(a.digest, b.digest) != 0 ||
            strcmp(a.module_hash, b.module_hash) != 0 || a.status != b.status ||
            sf_fx_snapshot_count(before, id) != sf_fx_snapshot_count(after, id))
            fail_msg("%s changed although the restore does not target it "
                     "(%s -> %s, %s -> %s, %zu -> %zu snapshots)", id,
                     b.digest, a.digest, status_name(b.status),
                     status_name(a.status), sf_fx_snapshot_count(before, id),
                     sf_fx_snapshot_count(after, id));
    }
}

void sf_rfx_assert_statuses_as(const sf_sim *before, const sf_sim *after)
{
    size_t i;
    int bad = 0;

    for (i = 0; i < sf_sim_canister_count(before); i++) {
        const char *id = sf_fx_id(before, i);
        sf_canister_status b = sf_fx_status(before, id), a = sf_fx_status(after, id);

        if (a != b) {
            print_error("%s is %s, was %s before the restore\n", id,
                        status_name(a), status_name(b));
            bad = 1;
        }
    }
    if (bad)
        fail_msg("statuses differ from before the restore");
}

char *sf_rfx_restore_path(const char *backup, const char *restore_dir,
                          const char *name)
{
    char *dir = restore_dir != NULL ? strdup(restore_dir)
                                    : sf_path_join(backup, SF_RESTORE_DIR_NAME);
    char *p;

    if (dir == NULL)
        fail_msg("out of memory");
    p = name != NULL ? sf_path_join(dir, name) : strdup(dir);
    free(dir);
    if (p == NULL)
        fail_msg("out of memory");
    return p;
}

void sf_rfx_read_journal(const char *backup, const char *restore_dir,
                         sf_restore_journal *j)
{
    char *p = sf_rfx_restore_path(backup, restore_dir,
                                  SF_RESTORE_JOURNAL_FILE_NAME);
    sf_error err;

    if (sf_restore_journal_read_file(p, j, &err) != SF_OK)
        fail_msg("%s: %s (%s)", p, err.message, err.kind ? err.kind : "?");
    free(p);
}

void sf_rfx_assert_journal_complete(const char *backup, const char *restore_dir)
{
    sf_restore_journal j;
    size_t i, k;

    sf_rfx_read_journal(backup, restore_dir, &j);
    assert_true(sf_restore_journal_is_complete(&j));
    assert_int_equal(j.completed_operations, j.operations_len);
    assert_int_equal(j.pending_operations, 0);
    assert_int_equal(j.failed_operations, 0);
    for (i = 0; i < j.operations_len; i++) {
        size_t completed = 0;

        assert_int_equal(j.operations[i].state, SF_RESTORE_COMPLETED);
        for (k = 0; k < j.receipt_count; k++)
            if (j.receipts[k].sequence == j.operations[i].sequence &&
                j.receipts[k].outcome == SF_RESTORE_COMMAND_COMPLETED)
                completed++;
        if (completed != 1)
            fail_msg("operation %llu has %zu completed receipts, wanted 1",
                     (unsigned long long)j.operations[i].sequence, completed);
    }
    sf_restore_journal_free(&j);
}

char *sf_rfx_slurp(const char *path)
{
    char *text = NULL;
    size_t len;
    sf_error err;

    if (sf_fs_read_file(path, 1 << 26, &text, &len, &err) != SF_OK)
        return strdup("");
    return text;
}

char *sf_rfx_artifact_file(const char *backup, const char *id, const char *file)
{
    char *mpath = sf_path_join(backup, SF_MANIFEST_FILE_NAME), *dir, *p = NULL;
    sf_manifest m;
    sf_error err;
    size_t i;

    if (sf_manifest_read_file(mpath, &m, &err) != SF_OK)
        fail_msg("%s: %s", mpath, err.message);
    free(mpath);
    for (i = 0; i < m.fleet.member_count && p == NULL; i++) {
        if (strcmp(m.fleet.members[i].canister_id, id) != 0)
            continue;
        dir = sf_path_join(backup, m.fleet.members[i].source_snapshot.artifact_path);
        p = dir != NULL ? sf_path_join(dir, file) : NULL;
        free(dir);
        if (p == NULL)
            fail_msg("out of memory");
    }
    sf_manifest_free(&m);
    if (p == NULL)
        fail_msg("%s is not a member of the backup in %s", id, backup);
    return p;
}

void sf_rfx_flip_byte(const char *path, long offset)
{
    FILE *fp = fopen(path, "r+b");
    int c;

    if (fp == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    if (fseek(fp, offset, SEEK_SET) != 0 || (c = fgetc(fp)) == EOF ||
        fseek(fp, offset, SEEK_SET) != 0 || fputc(c ^ 0xff, fp) == EOF) {
        fclose(fp);
        fail_msg("flipping byte %ld of %s failed", offset, path);
    }
    if (fclose(fp) != 0)
        fail_msg("close %s: %s", path, strerror(errno));
}

void sf_rfx_write_mapping(const char *path, const char *const *sources,
                          const char *const *targets, size_t n)
{
    FILE *fp = fopen(path, "w");
    size_t i;

    if (fp == NULL)
        fail_msg("open %s: %s", path, strerror(errno));
    fputs("{\"members\": [", fp);
    for (i = 0; i < n; i++)
        fprintf(fp, "%s{\"source_canister\": \"%s\", \"target_canister\": \"%s\"}",
                i ? ", " : "", sources[i], targets[i]);
    fputs("]}\n", fp);
    if (fclose(fp) != 0)
        fail_msg("close %s: %s", path, strerror(errno));
}

size_t sf_rfx_trace_count_on(const sf_buf *log, const char *op, const char *id,
                             bool resume)
{
    sf_buf ops, want;
    const char *p;
    size_t n = 0;

    sf_buf_init(&ops);
    sf_buf_init(&want);
    sf_fx_trace_ops(log, &ops);
    sf_buf_printf(&want, "%s %s%s", op, id, resume ? " resume" : "");
    for (p = sf_buf_cstr(&ops); *p != '\0';) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);

        if (len == want.len && memcmp(p, want.data, len) == 0)
            n++;
        p += len;
        if (*p == '\n')
            p++;
    }
    sf_buf_free(&ops);
    sf_buf_free(&want);
    return n;
}
