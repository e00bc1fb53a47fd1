/*
 * The backup root: classify every backup directory under it (`backup
 * list`). A directory is read, never written: its documents decide its
 * state, its lock files say whether a live process works in it, and only
 * directories holding nothing but a backup layout's names count as
 * layouts (prune deletes nothing else).
 */
#define _GNU_SOURCE /* timegm */
#include "snapfleet/backup.h"
#include "snapfleet/inventory.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/walk.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/plan.h"
#include "snapfleet/restore.h"

static const char *const state_names[] = {
    "verified", "complete", "corrupt", "failed", "in-progress", "locked",
    "dry-run", "invalid",
};

const char *sf_backup_state_name(sf_backup_state s)
{
    return (unsigned)s < sizeof state_names / sizeof *state_names
               ? state_names[s] : "unknown";
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* "<dir>/<name>" into p, without allocating: a check that cannot run out
 * of memory cannot mistake a shortage for an absent file or a free lock.
 * false when it does not fit (no such path can be opened either). */
static bool join_fixed(char p[PATH_MAX], const char *dir, const char *name)
{
    size_t a = strlen(dir);
    int n = snprintf(p, PATH_MAX, "%s%s%s", dir,
                     a > 0 && dir[a - 1] != '/' ? "/" : "", name);

    return n >= 0 && n < PATH_MAX;
}

static bool exists(const char *dir, const char *name)
{
    char p[PATH_MAX];

    return join_fixed(p, dir, name) && sf_walk_exists(p);
}

/* A live holder of the lock the runs take. Asking for the same exclusive
 * lock without blocking tells; only an existing regular lock file is
 * asked, so the probe creates nothing. A lock had is let go at once. */
static bool lock_held(const char *dir, const char *name)
{
    const sf_storage *st = sf_fs_storage();
    char p[PATH_MAX];
    sf_storage_kind k;
    sf_storage_lock *lock = NULL;
    sf_error err;

    if (!join_fixed(p, dir, name) ||
        sf_storage_kind_of(st, p, &k, NULL) != SF_OK || k != SF_STORAGE_REGULAR)
        return false;
    sf_error_clear(&err);
    if (sf_storage_lock_acquire(st, p, &lock, &err) == SF_OK) {
        sf_storage_lock_release(st, &lock);
        return false;
    }
    return err.kind != NULL && strcmp(err.kind, SF_EK_LOCKED) == 0;
}

/* "unix:<seconds>" -> seconds; 0 when it is not that form. */
static uint64_t marker_seconds(const char *s)
{
    uint64_t v = 0;
    const char *p;

    if (s == NULL || strncmp(s, "unix:", 5) != 0 || s[5] == '\0')
        return 0;
    for (p = s + 5; *p; p++) {
        if (*p < '0' || *p > '9' || v > UINT64_MAX / 10 - 10)
            return 0;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    return v;
}

/* A run id ends in "-YYYYMMDD-HHMMSS" (UTC): the time the plan was made. */
static uint64_t run_id_seconds(const char *id)
{
    struct tm tm;
    size_t n;
    const char *s;
    int i;
    time_t t;

    if (id == NULL || (n = strlen(id)) < 16)
        return 0;
    s = id + n - 16;
    if (s[0] != '-' || s[9] != '-')
        return 0;
    for (i = 1; i < 16; i++)
        if (i != 9 && (s[i] < '0' || s[i] > '9'))
            return 0;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = (s[1] - '0') * 1000 + (s[2] - '0') * 100 + (s[3] - '0') * 10 +
                 (s[4] - '0') - 1900;
    tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
    tm.tm_mday = (s[7] - '0') * 10 + (s[8] - '0');
    tm.tm_hour = (s[10] - '0') * 10 + (s[11] - '0');
    tm.tm_min = (s[12] - '0') * 10 + (s[13] - '0');
    tm.tm_sec = (s[14] - '0') * 10 + (s[15] - '0');
    if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 ||
        tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
        return 0;
    t = timegm(&tm);
    return t > 0 ? (uint64_t)t : 0;
}

uint64_t sf_path_bytes(const char *path)
{
    uint64_t n = 0;

    /* a shortage counts what was counted before it */
    sf_walk_bytes(path, 32, NULL, &n, NULL);
    return n;
}

/* ---- the names a layout may hold ---- */

typedef struct names {
    char **v;
    size_t n, cap;
} names;

static int names_add(names *s, const char *name, const char *suffix)
{
    size_t len;
    char *copy;

    if (name == NULL)
        return SF_OK;
    len = strcspn(name, "/"); /* the first component is what the root holds */
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        char **v = realloc(s->v, cap * sizeof *v);
        if (v == NULL)
            return SF_ERR;
        s->v = v;
        s->cap = cap;
    }
    if ((copy = malloc(len + strlen(suffix) + 1)) == NULL)
        return SF_ERR;
    memcpy(copy, name, len);
    strcpy(copy + len, suffix);
    s->v[s->n++] = copy;
    return SF_OK;
}

/* An artifact directory, its transfer temporaries and verify copies. */
static int names_add_artifact(names *s, const char *name)
{
    static const char *const suffixes[] = {"", ".tmp", ".verify", ".tmp.verify"};
    size_t i;

    for (i = 0; i < 4; i++)
        if (names_add(s, name, suffixes[i]) != SF_OK)
            return SF_ERR;
    return SF_OK;
}

static bool names_has(const names *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (strcmp(s->v[i], name) == 0)
            return true;
    return false;
}

static void names_free(names *s)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static const char *const documents[] = {
    SF_MANIFEST_FILE_NAME, SF_DOWNLOAD_JOURNAL_FILE_NAME, SF_PLAN_FILE_NAME,
    SF_EXEC_JOURNAL_FILE_NAME, SF_OBSERVATIONS_FILE_NAME,
    SF_TRANSITION_LOG_FILE_NAME,
};

/* "<document>.tmp.XXXXXX": the unique temp name an atomic write uses
 * (sf_fs_write_atomic), left behind by a crash before its rename. */
static bool document_temp(const char *name)
{
    size_t i, n, len = strlen(name);

    for (i = 0; i < sizeof documents / sizeof *documents; i++) {
        n = strlen(documents[i]);
        if (len == n + 11 && strncmp(name, documents[i], n) == 0 &&
            strncmp(name + n, ".tmp.", 5) == 0)
            return true;
    }
    return false;
}

/* Every entry of dir is a name in `known`: documents (and their atomic
 * temporaries), locks, the restore directory, artifacts. The first other
 * name is reported. SF_ERR when out of memory. */
static int only_layout_names(const char *dir, names *known, bool *yes,
                             char **stray)
{
    sf_walk_dir d;
    sf_error err;
    size_t i;
    int rc = SF_OK;

    sf_error_clear(&err);
    *yes = sf_walk_read_through(dir, &d, &err) == SF_OK;
    if (!*yes)
        return err.kind != NULL && strcmp(err.kind, SF_EK_NOMEM) == 0 ? SF_ERR
                                                                      : SF_OK;
    for (i = 0; *yes && i < d.n; i++) {
        if (!names_has(known, d.v[i].name) && !document_temp(d.v[i].name)) {
            *yes = false;
            if ((*stray = strdup(d.v[i].name)) == NULL)
                rc = SF_ERR;
        }
    }
    sf_walk_dir_free(&d);
    return rc;
}

/* detail = "a: b", or a alone when b is NULL. */
static int set_detail(sf_backup_entry *e, const char *a, const char *b)
{
    size_t n = strlen(a) + (b ? strlen(b) + 2 : 0) + 1;

    free(e->detail);
    if ((e->detail = malloc(n)) == NULL)
        return SF_ERR;
    snprintf(e->detail, n, "%s%s%s", a, b ? ": " : "", b ? b : "");
    return SF_OK;
}

typedef struct docs {
    bool has_m, has_dj, has_plan, has_ej;
    sf_manifest m;
    sf_download_journal dj;
    sf_plan plan;
    sf_exec_journal ej;
} docs;

static void docs_free(docs *d)
{
    if (d->has_m)
        sf_manifest_free(&d->m);
    if (d->has_dj)
        sf_download_journal_free(&d->dj);
    if (d->has_plan)
        sf_plan_free(&d->plan);
    if (d->has_ej)
        sf_exec_journal_free(&d->ej);
}

/* Reads the documents that exist; one that cannot be read makes the entry
 * invalid (the first such error, which names the file, is the detail),
 * and the others still give its identity and time. Running out of memory
 * is SF_ERR, never a verdict on the document. */
static int read_docs(const char *dir, docs *d, sf_backup_entry *e)
{
    sf_error err;
    char *p;
    bool replayed = false;
    int rc = SF_OK;

    memset(d, 0, sizeof *d);
    sf_error_clear(&err);
#define READ(name, flag, fn, field)                                        \
    if (rc != SF_ERR && exists(dir, name)) {                              \
        if ((p = sf_path_join(dir, name)) == NULL)                        \
            return SF_ERR;                                                \
        if (fn(p, &d->field, &err) == SF_OK)                              \
            d->flag = true;                                               \
        else if (err.kind != NULL && strcmp(err.kind, SF_EK_NOMEM) == 0)  \
            rc = SF_ERR; /* a shortage, not a broken document */          \
        else if (rc == SF_OK)                                             \
            rc = set_detail(e, name, err.message) == SF_OK ? 1 : SF_ERR;  \
        free(p);                                                          \
    }
    READ(SF_MANIFEST_FILE_NAME, has_m, sf_manifest_read_file, m)
    /* With a transition log the journals are read once, as they stand
     * (checkpoint + log), not a second time as the checkpoints alone: the
     * replay reads the same files with the same readers, so it succeeds
     * only where they would. When it fails, or the plan turns out broken,
     * the journals are read as before, so every verdict, detail and
     * identity stays what it was. */
    if (rc == SF_OK && exists(dir, SF_TRANSITION_LOG_FILE_NAME)) {
        if (sf_backup_state_read(dir, &d->ej, &d->has_ej, &d->dj, &d->has_dj,
                                 &err) == SF_OK)
            replayed = true;
        else if (err.kind != NULL && strcmp(err.kind, SF_EK_NOMEM) == 0)
            return SF_ERR;
        sf_error_clear(&err);
    }
    if (!replayed) {
        READ(SF_DOWNLOAD_JOURNAL_FILE_NAME, has_dj, sf_download_journal_read_file, dj)
    }
    READ(SF_PLAN_FILE_NAME, has_plan, sf_plan_read_file, plan)
    if (replayed && rc == 1) {
        if (d->has_dj)
            sf_download_journal_free(&d->dj);
        if (d->has_ej)
            sf_exec_journal_free(&d->ej);
        d->has_dj = d->has_ej = false;
        replayed = false;
        READ(SF_DOWNLOAD_JOURNAL_FILE_NAME, has_dj, sf_download_journal_read_file, dj)
    }
    if (!replayed) {
        READ(SF_EXEC_JOURNAL_FILE_NAME, has_ej, sf_exec_journal_read_file, ej)
    }
#undef READ
    if (!replayed && rc == SF_OK && exists(dir, SF_TRANSITION_LOG_FILE_NAME)) {
        /* the journals as they stand: a killed run's last records are in
         * its transition log only */
        if (d->has_dj)
            sf_download_journal_free(&d->dj);
        if (d->has_ej)
            sf_exec_journal_free(&d->ej);
        if (sf_backup_state_read(dir, &d->ej, &d->has_ej, &d->dj, &d->has_dj,
                                 &err) != SF_OK) {
            if (err.kind != NULL && strcmp(err.kind, SF_EK_NOMEM) == 0)
                rc = SF_ERR; /* a shortage, not a damaged log */
            else
                rc = set_detail(e, SF_TRANSITION_LOG_FILE_NAME, err.message) ==
                             SF_OK ? 1 : SF_ERR;
        }
    }
    return rc;
}

static int known_names(const docs *d, names *s)
{
    size_t i;
    int rc = SF_OK;

    for (i = 0; i < sizeof documents / sizeof *documents && rc == SF_OK; i++) {
        rc = names_add(s, documents[i], "");
        if (rc == SF_OK)
            rc = names_add(s, documents[i], ".tmp");
    }
    if (rc == SF_OK)
        rc = names_add(s, SF_LOCK_FILE_NAME, "");
    if (rc == SF_OK)
        rc = names_add(s, SF_EXEC_JOURNAL_FILE_NAME, ".lock"); /* canic's */
    if (rc == SF_OK)
        rc = names_add(s, SF_RESTORE_DIR_NAME, "");
    for (i = 0; d->has_m && i < d->m.fleet.member_count && rc == SF_OK; i++)
        rc = names_add_artifact(s, d->m.fleet.members[i].source_snapshot.artifact_path);
    for (i = 0; d->has_dj && i < d->dj.artifact_count && rc == SF_OK; i++) {
        rc = names_add_artifact(s, d->dj.artifacts[i].artifact_path);
        if (rc == SF_OK)
            rc = names_add_artifact(s, d->dj.artifacts[i].temp_path);
    }
    for (i = 0; d->has_plan && i < d->plan.target_count && rc == SF_OK; i++)
        rc = names_add_artifact(s, d->plan.targets[i].canister_id);
    return rc;
}

/* The create receipts of a planned backup carry what the IC said about
 * each snapshot: when it was taken and its size. */
static void receipt_facts(const docs *d, sf_recorded_snapshot *r)
{
    size_t i;

    for (i = 0; d->has_ej && i < d->ej.receipt_count; i++) {
        const sf_exec_receipt *x = &d->ej.operation_receipts[i];
        if (x->snapshot_id == NULL || strcmp(x->snapshot_id, r->snapshot_id) != 0)
            continue;
        if (x->has_snapshot_taken_at_timestamp) {
            r->has_taken_at = true;
            r->taken_at_timestamp = x->snapshot_taken_at_timestamp;
        }
        if (x->has_snapshot_total_size_bytes) {
            r->has_total_size = true;
            r->total_size_bytes = x->snapshot_total_size_bytes;
        }
    }
}

static int record_snapshots(const docs *d, sf_backup_entry *e)
{
    size_t i, n = d->m.fleet.member_count;

    if ((e->snapshots = calloc(n ? n : 1, sizeof *e->snapshots)) == NULL)
        return SF_ERR;
    for (i = 0; i < n; i++) {
        sf_recorded_snapshot *r = &e->snapshots[i];
        r->canister_id = strdup(d->m.fleet.members[i].canister_id);
        r->snapshot_id = strdup(d->m.fleet.members[i].source_snapshot.snapshot_id);
        e->snapshot_count++;
        if (r->canister_id == NULL || r->snapshot_id == NULL)
            return SF_ERR;
        receipt_facts(d, r);
    }
    return SF_OK;
}

static sf_backup_state state_of(const char *dir, const docs *d)
{
    if (d->has_ej) {
        sf_exec_resume_summary s;
        sf_exec_journal_resume_summary(&d->ej, &s);
        if (sf_exec_resume_summary_is_complete(&s) && d->has_m)
            return SF_BACKUP_COMPLETE;
        if (s.failed_operations > 0)
            return SF_BACKUP_FAILED;
        if (d->ej.preflight_accepted || s.completed_operations > 0)
            return SF_BACKUP_IN_PROGRESS;
        return SF_BACKUP_DRY_RUN;
    }
    if (d->has_dj) {
        sf_journal_resume_summary s;
        sf_download_journal_resume_summary(&d->dj, &s);
        return s.is_complete && d->has_m ? SF_BACKUP_COMPLETE
                                         : SF_BACKUP_IN_PROGRESS;
    }
    if (d->has_plan)
        return SF_BACKUP_DRY_RUN;
    (void)dir;
    /* A manifest alone: verification will say what it is worth. */
    return SF_BACKUP_COMPLETE;
}

static int fill_identity(const docs *d, sf_backup_entry *e)
{
    const char *id = NULL, *net = NULL, *created = NULL, *run = NULL;
    char marker[40];

    if (d->has_plan)
        run = d->plan.run_id;
    else if (d->has_ej)
        run = d->ej.run_id;
    if (d->has_m) {
        id = d->m.backup_id;
        net = d->m.source.environment;
        created = d->m.created_at;
        e->members = d->m.fleet.member_count;
    } else if (d->has_plan) {
        e->members = d->plan.target_count;
    } else if (d->has_dj) {
        e->members = d->dj.artifact_count;
    }
    if (id == NULL)
        id = d->has_dj ? d->dj.backup_id : run;
    if (d->has_plan) {
        net = d->plan.network;
        if ((e->fleet = strdup(d->plan.fleet)) == NULL)
            return SF_ERR;
    }
    e->time_s = marker_seconds(created);
    if (e->time_s == 0 && (e->time_s = run_id_seconds(run)) != 0 && created == NULL) {
        snprintf(marker, sizeof marker, "unix:%llu", (unsigned long long)e->time_s);
        created = marker;
    }
    if (e->time_s == 0 && d->has_dj) {
        size_t i;
        for (i = 0; i < d->dj.artifact_count; i++) {
            uint64_t t = marker_seconds(d->dj.artifacts[i].updated_at);
            if (t > e->time_s)
                e->time_s = t;
        }
    }
    e->backup_id = dup_or_null(id);
    e->network = dup_or_null(net);
    e->created_at = dup_or_null(created);
    if ((id && !e->backup_id) || (net && !e->network) ||
        (created && !e->created_at))
        return SF_ERR;
    return SF_OK;
}

static bool has_document(const char *dir)
{
    return exists(dir, SF_MANIFEST_FILE_NAME) ||
           exists(dir, SF_DOWNLOAD_JOURNAL_FILE_NAME) ||
           exists(dir, SF_PLAN_FILE_NAME) || exists(dir, SF_EXEC_JOURNAL_FILE_NAME);
}

int sf_backup_entry_read(const char *path, bool verify, sf_backup_entry *e,
                         sf_error *err)
{
    docs d;
    names known = {0};
    char *stray = NULL, restore_dir[PATH_MAX];
    const char *base = strrchr(path, '/');
    int rc;

    memset(e, 0, sizeof *e);
    e->on_canister = -1;
    if (!has_document(path))
        return sf_error_set(err, "not-a-backup", "", "%s holds no backup "
                            "document (%s, %s, %s or %s)", path,
                            SF_MANIFEST_FILE_NAME, SF_DOWNLOAD_JOURNAL_FILE_NAME,
                            SF_PLAN_FILE_NAME, SF_EXEC_JOURNAL_FILE_NAME);
    e->name = strdup(base != NULL && base[1] ? base + 1 : path);
    e->path = strdup(path);
    if (e->name == NULL || e->path == NULL)
        goto nomem;
    if (sf_walk_bytes(path, 32, NULL, &e->bytes, NULL) != SF_OK)
        goto nomem;
    rc = read_docs(path, &d, e);
    if (rc == SF_ERR)
        goto nomem_docs;
    if (fill_identity(&d, e) != SF_OK)
        goto nomem_docs;
    if (rc == 1) {
        e->state = SF_BACKUP_INVALID;
    } else {
        e->state = state_of(path, &d);
        if (known_names(&d, &known) != SF_OK)
            goto nomem_docs;
        if (only_layout_names(path, &known, &e->is_layout, &stray) != SF_OK)
            goto nomem_docs;
        if (!e->is_layout && set_detail(e, stray ? stray : "?",
                                        "not a backup layout's name") != SF_OK)
            goto nomem_docs;
        if (e->state == SF_BACKUP_COMPLETE && d.has_m &&
            record_snapshots(&d, e) != SF_OK)
            goto nomem_docs;
    }
    if (e->state == SF_BACKUP_COMPLETE && verify) {
        sf_integrity_report rep;
        sf_error verr;
        sf_error_clear(&verr);
        if (sf_verify_integrity(path, &rep, &verr) == SF_OK) {
            sf_integrity_report_free(&rep);
            e->state = SF_BACKUP_VERIFIED;
        } else if (verr.kind != NULL && strcmp(verr.kind, SF_EK_NOMEM) == 0) {
            goto nomem_docs; /* not a verdict on the artifacts */
        } else {
            e->state = SF_BACKUP_CORRUPT;
            if (e->detail == NULL && set_detail(e, verr.message, NULL) != SF_OK)
                goto nomem_docs;
        }
    }
    /* A live lock wins over what the documents say: they may be mid-write. */
    if (lock_held(path, SF_LOCK_FILE_NAME) ||
        exists(path, SF_EXEC_JOURNAL_FILE_NAME ".lock") ||
        (join_fixed(restore_dir, path, SF_RESTORE_DIR_NAME) &&
         lock_held(restore_dir, SF_LOCK_FILE_NAME)))
        e->state = SF_BACKUP_LOCKED;
    free(stray);
    names_free(&known);
    docs_free(&d);
    return SF_OK;
nomem_docs:
    free(stray);
    names_free(&known);
    docs_free(&d);
nomem:
    sf_backup_entry_free(e);
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

void sf_backup_entry_free(sf_backup_entry *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < e->snapshot_count; i++) {
        free(e->snapshots[i].canister_id);
        free(e->snapshots[i].snapshot_id);
    }
    free(e->snapshots);
    free(e->name);
    free(e->path);
    free(e->backup_id);
    free(e->fleet);
    free(e->network);
    free(e->created_at);
    free(e->detail);
    memset(e, 0, sizeof *e);
}

static int newest_first(const void *a, const void *b)
{
    const sf_backup_entry *x = a, *y = b;

    if (x->time_s != y->time_s)
        return x->time_s > y->time_s ? -1 : 1;
    return -strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sf_inventory_scan(const char *root, bool verify, sf_inventory *inv,
                      sf_error *err)
{
    sf_walk_dir d;
    sf_storage_kind k;
    size_t i, cap = 0;
    int rc = SF_OK;

    memset(inv, 0, sizeof *inv);
    if ((inv->root = strdup(root)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_storage_kind_of(sf_fs_storage(), root, &k, NULL) == SF_OK &&
        k == SF_STORAGE_ABSENT)
        return SF_OK; /* no backups yet */
    if (sf_walk_read_through(root, &d, err) != SF_OK) {
        sf_walk_reword(err, "cannot read directory", "cannot read the backup "
                       "root");
        sf_inventory_free(inv);
        return SF_ERR;
    }
    for (i = 0; rc == SF_OK && i < d.n; i++) {
        const char *name = d.v[i].name;
        char *p;

        if (d.v[i].kind != SF_STORAGE_DIRECTORY)
            continue;
        if (strncmp(name, SF_TRASH_PREFIX, strlen(SF_TRASH_PREFIX)) == 0) {
            char **t = realloc(inv->trash, (inv->trash_count + 1) * sizeof *t);
            if (t == NULL || (t[inv->trash_count] = strdup(name)) == NULL) {
                if (t != NULL)
                    inv->trash = t;
                rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
                break;
            }
            inv->trash = t;
            inv->trash_count++;
            continue;
        }
        if ((p = sf_path_join(root, name)) == NULL) {
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            break;
        }
        if (has_document(p)) {
            if (inv->count == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                sf_backup_entry *v = realloc(inv->entries, ncap * sizeof *v);
                if (v == NULL) {
                    free(p);
                    rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
                    break;
                }
                inv->entries = v;
                cap = ncap;
            }
            rc = sf_backup_entry_read(p, verify, &inv->entries[inv->count], err);
            if (rc == SF_OK)
                inv->count++;
        }
        free(p);
    }
    sf_walk_dir_free(&d);
    if (rc != SF_OK) {
        sf_inventory_free(inv);
        return rc;
    }
    if (inv->count > 1)
        qsort(inv->entries, inv->count, sizeof *inv->entries, newest_first);
    if (inv->trash_count > 1)
        qsort(inv->trash, inv->trash_count, sizeof *inv->trash, by_name);
    return SF_OK;
}

void sf_inventory_free(sf_inventory *inv)
{
    size_t i;

    if (inv == NULL)
        return;
    for (i = 0; i < inv->count; i++)
        sf_backup_entry_free(&inv->entries[i]);
    for (i = 0; i < inv->trash_count; i++)
        free(inv->trash[i]);
    free(inv->entries);
    free(inv->trash);
    free(inv->root);
    memset(inv, 0, sizeof *inv);
}

int sf_inventory_json(const sf_inventory *inv, sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "root", inv->root);
    sf_jw_key(&w, "backups");
    sf_jw_begin_array(&w);
    for (i = 0; i < inv->count; i++) {
        const sf_backup_entry *e = &inv->entries[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "dir", e->name);
        sf_jw_kv_string(&w, "backup_id", e->backup_id);
        sf_jw_kv_string(&w, "fleet", e->fleet);
        sf_jw_kv_string(&w, "network", e->network);
        sf_jw_kv_string(&w, "created_at", e->created_at);
        sf_jw_kv_string(&w, "status", sf_backup_state_name(e->state));
        sf_jw_kv_bool(&w, "layout", e->is_layout);
        sf_jw_kv_u64(&w, "members", e->members);
        sf_jw_kv_u64(&w, "bytes", e->bytes);
        sf_jw_kv_u64(&w, "snapshots", e->snapshot_count);
        sf_jw_key(&w, "snapshots_on_canisters");
        if (e->on_canister < 0)
            sf_jw_null(&w);
        else
            sf_jw_u64(&w, (uint64_t)e->on_canister);
        sf_jw_kv_string(&w, "detail", e->detail);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_kv_strv(&w, "trash", inv->trash, inv->trash_count);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

int sf_inventory_table(const sf_inventory *inv, sf_buf *out, sf_error *err)
{
    size_t i;

    sf_buf_printf(out, "%-3s %-28s %-30s %-10s %-8s %-16s %-11s %-7s %-12s %s\n",
                  "#", "DIR", "BACKUP_ID", "FLEET", "NETWORK", "CREATED_AT",
                  "STATUS", "MEMBERS", "BYTES", "ON_CANISTERS");
    for (i = 0; i < inv->count; i++) {
        const sf_backup_entry *e = &inv->entries[i];
        char when[32] = "-", on[32] = "-";
        if (e->time_s != 0) {
            time_t t = (time_t)e->time_s;
            struct tm tm;
            if (gmtime_r(&t, &tm) != NULL)
                strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        }
        if (e->on_canister >= 0)
            snprintf(on, sizeof on, "%ld/%zu", e->on_canister, e->snapshot_count);
        sf_buf_printf(out, "%-3zu %-28s %-30s %-10s %-8s %-16s %-11s %-7zu "
                      "%-12llu %s\n", i + 1, e->name,
                      e->backup_id ? e->backup_id : "-", e->fleet ? e->fleet : "-",
                      e->network ? e->network : "-", when,
                      sf_backup_state_name(e->state), e->members,
                      (unsigned long long)e->bytes, on);
    }
    if (inv->trash_count > 0)
        sf_buf_printf(out, "%zu unfinished prune deletion(s): the next "
                      "`backup prune` removes them\n", inv->trash_count);
    return out->oom ? sf_error_set(err, SF_EK_NOMEM, "", "out of memory")
                    : SF_OK;
}
