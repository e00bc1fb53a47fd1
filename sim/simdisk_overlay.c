/*
 * The simulated disk over a real directory (snapfleet/simdisk.h,
 * sf_simdisk_overlay): names and bytes live on the real storage, so the
 * code that still calls POSIX directly (artifact trees, locks, walks) sees
 * every document; the simulated disk mirrors every change made through
 * the seam and is the one that decides faults and what a crash keeps.
 * Nothing here ever syncs the real storage: a sync is the simulated
 * disk's. A crash freezes the simulated disk as sf_simdisk_crash leaves
 * it and fails every later call but close; recovery then writes back onto
 * the real storage what the simulated disk kept for every name changed
 * through the seam (the rest of the real tree is what a killed process
 * leaves: the page cache survives a kill).
 */
#include "snapfleet/simdisk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sf_storage_file {
    sf_storage_file *real;
    sf_storage_file *shadow; /* NULL: opened for reading, or untracked */
    char path[];
};

struct sf_simdisk_overlay {
    sf_storage storage;
    sf_simdisk *disk;
    const sf_storage *real;
    const sf_storage *shadow;
    bool crashed;
    /* the torn-write crash point */
    uint64_t tear_nth, writes_seen, tear_keep_seed;
    sf_simdisk_crash_fn on_crash;
    void *crash_ctx;
    /* names changed through the seam since the last recovery: an
     * open-addressing set of malloc'd paths */
    char **dirty;
    size_t dirty_n, dirty_cap;
};

/* ---- the set of changed names ---- */

static uint64_t hash_path(const char *s)
{
    uint64_t h = 1469598103934665603ull;

    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int dirty_put(sf_simdisk_overlay *ov, const char *path);

static int dirty_grow(sf_simdisk_overlay *ov)
{
    char **old = ov->dirty;
    size_t old_cap = ov->dirty_cap, i;

    ov->dirty_cap = old_cap ? old_cap * 2 : 64;
    ov->dirty = calloc(ov->dirty_cap, sizeof *ov->dirty);
    if (ov->dirty == NULL) {
        ov->dirty = old;
        ov->dirty_cap = old_cap;
        return -1;
    }
    ov->dirty_n = 0;
    for (i = 0; i < old_cap; i++)
        if (old[i] != NULL) {
            size_t j = hash_path(old[i]) & (ov->dirty_cap - 1);
            while (ov->dirty[j] != NULL)
                j = (j + 1) & (ov->dirty_cap - 1);
            ov->dirty[j] = old[i];
            ov->dirty_n++;
        }
    free(old);
    return 0;
}

static int dirty_put(sf_simdisk_overlay *ov, const char *path)
{
    size_t j;

    if ((ov->dirty_n + 1) * 2 > ov->dirty_cap && dirty_grow(ov) != 0)
        return -1;
    j = hash_path(path) & (ov->dirty_cap - 1);
    while (ov->dirty[j] != NULL) {
        if (strcmp(ov->dirty[j], path) == 0)
            return 0;
        j = (j + 1) & (ov->dirty_cap - 1);
    }
    if ((ov->dirty[j] = strdup(path)) == NULL)
        return -1;
    ov->dirty_n++;
    return 0;
}

static void dirty_clear(sf_simdisk_overlay *ov)
{
    for (size_t i = 0; i < ov->dirty_cap; i++) {
        free(ov->dirty[i]);
        ov->dirty[i] = NULL;
    }
    ov->dirty_n = 0;
}

/* ---- helpers ---- */

static int crashed(sf_error *err, const char *what, const char *path)
{
    return sf_error_set_errno(err, EIO, "", "%s %s (the process crashed)",
                              what, path);
}

static int oom(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static int mark(sf_simdisk_overlay *ov, const char *path, sf_error *err)
{
    return dirty_put(ov, path) == 0 ? SF_OK : oom(err);
}

/* Did the simulated disk refuse by injection (a fault to pass on), rather
 * than because it never saw the name (changed outside the seam)? */
static bool injected(const sf_simdisk_overlay *ov, uint64_t before)
{
    return sf_simdisk_faults_injected(ov->disk) != before;
}

/* ---- files ---- */

static int o_open(void *ctx, const char *path, unsigned flags,
                  sf_storage_file **out, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    size_t n = strlen(path) + 1;
    sf_storage_file *f;
    uint64_t before = sf_simdisk_faults_injected(ov->disk);
    sf_error ignored;

    *out = NULL;
    if (ov->crashed)
        return crashed(err, "cannot open", path);
    if ((f = calloc(1, sizeof *f + n)) == NULL)
        return oom(err);
    memcpy(f->path, path, n);
    if (flags & SF_STORAGE_WRITE) {
        if (sf_storage_open(ov->shadow, path, flags, &f->shadow, err) != SF_OK) {
            if (injected(ov, before)) {
                free(f);
                return SF_ERR;
            }
            f->shadow = NULL; /* a file the seam never made: untracked */
        } else if (flags & (SF_STORAGE_CREATE | SF_STORAGE_TRUNCATE)) {
            if (mark(ov, path, err) != SF_OK)
                goto fail;
        }
    }
    if (sf_storage_open(ov->real, path, flags, &f->real, err) != SF_OK)
        goto fail;
    *out = f;
    return SF_OK;
fail:
    sf_storage_close(ov->shadow, &f->shadow, &ignored);
    free(f);
    return SF_ERR;
}

static int o_open_temp(void *ctx, char *templ, sf_storage_file **out,
                       sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    size_t n = strlen(templ) + 1;
    sf_storage_file *f;
    sf_error ignored;

    *out = NULL;
    if (ov->crashed)
        return crashed(err, "cannot create", templ);
    if ((f = calloc(1, sizeof *f + n)) == NULL)
        return oom(err);
    /* the simulated disk picks the name (from its seed), the real one
     * takes the same */
    if (sf_storage_open_temp(ov->shadow, templ, &f->shadow, err) != SF_OK) {
        free(f);
        return SF_ERR;
    }
    memcpy(f->path, templ, n);
    if (mark(ov, templ, err) != SF_OK ||
        sf_storage_open(ov->real, templ, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                        SF_STORAGE_EXCL, &f->real, err) != SF_OK) {
        sf_storage_close(ov->shadow, &f->shadow, &ignored);
        sf_storage_remove(ov->shadow, templ, &ignored);
        free(f);
        return SF_ERR;
    }
    *out = f;
    return SF_OK;
}

static int o_close(void *ctx, sf_storage_file *file, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    sf_error ignored;
    int rc;

    /* always releases both; a handle from before a crash is stale on the
     * simulated disk, which is fine to close */
    sf_storage_close(ov->shadow, &file->shadow, &ignored);
    rc = sf_storage_close(ov->real, &file->real, err);
    free(file);
    return rc;
}

static int o_read(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                  size_t len, size_t *got, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot read", file->path);
    return sf_storage_read(ov->real, file->real, offset, buf, len, got, err);
}

static int o_write(void *ctx, sf_storage_file *file, uint64_t offset,
                   const void *buf, size_t len, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    bool tear;

    if (ov->crashed)
        return crashed(err, "cannot write", file->path);
    ov->writes_seen++;
    tear = ov->tear_nth != 0 && ov->writes_seen == ov->tear_nth &&
           file->shadow != NULL && len > 0;
    if (file->shadow != NULL &&
        sf_storage_write(ov->shadow, file->shadow, offset, buf, len, err) != SF_OK)
        return SF_ERR; /* a failed write changes nothing */
    if (file->shadow != NULL && mark(ov, file->path, err) != SF_OK)
        return SF_ERR;
    if (sf_storage_write(ov->real, file->real, offset, buf, len, err) != SF_OK)
        return SF_ERR;
    if (tear) {
        /* the process dies inside this write: a prefix of it (never all
         * of it) reaches the disk */
        size_t keep = (size_t)(ov->tear_keep_seed % len);
        sf_error ignored;

        ov->crashed = true;
        if (sf_simdisk_crash_tear(ov->disk, file->path, keep, &ignored) != SF_OK)
            sf_simdisk_crash(ov->disk);
        if (ov->on_crash != NULL)
            ov->on_crash(ov->crash_ctx);
        return crashed(err, "cannot write", file->path);
    }
    return SF_OK;
}

static int o_size(void *ctx, sf_storage_file *file, uint64_t *out, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot stat", file->path);
    return sf_storage_size(ov->real, file->real, out, err);
}

static int o_truncate(void *ctx, sf_storage_file *file, uint64_t len,
                      sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot truncate", file->path);
    if (file->shadow != NULL &&
        (sf_storage_truncate(ov->shadow, file->shadow, len, err) != SF_OK ||
         mark(ov, file->path, err) != SF_OK))
        return SF_ERR;
    return sf_storage_truncate(ov->real, file->real, len, err);
}

static int o_sync(void *ctx, sf_storage_file *file, unsigned how, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot sync", file->path);
    /* durability is the simulated disk's; the real storage is never
     * synced (that is the time a seed saves) */
    if (file->shadow == NULL)
        return SF_OK;
    return sf_storage_sync(ov->shadow, file->shadow, how, err);
}

/* ---- names ---- */

static int o_kind(void *ctx, const char *path, sf_storage_kind *out,
                  sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot stat", path);
    return sf_storage_kind_of(ov->real, path, out, err);
}

static int o_mkdir(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    uint64_t before = sf_simdisk_faults_injected(ov->disk);
    sf_error shadow_err;

    if (ov->crashed)
        return crashed(err, "cannot create directory", path);
    if (sf_storage_mkdir(ov->shadow, path, &shadow_err) != SF_OK &&
        injected(ov, before)) {
        *err = shadow_err;
        return SF_ERR;
    }
    return sf_storage_mkdir(ov->real, path, err);
}

static int o_sync_dir(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    uint64_t before = sf_simdisk_faults_injected(ov->disk);
    sf_error shadow_err;

    if (ov->crashed)
        return crashed(err, "cannot sync directory", path);
    if (sf_storage_sync_dir(ov->shadow, path, &shadow_err) != SF_OK &&
        injected(ov, before)) {
        *err = shadow_err;
        return SF_ERR;
    }
    return SF_OK;
}

static int o_rename(void *ctx, const char *from, const char *to, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    uint64_t before = sf_simdisk_faults_injected(ov->disk);
    sf_error shadow_err;

    if (ov->crashed)
        return crashed(err, "cannot rename", from);
    if (sf_storage_rename(ov->shadow, from, to, &shadow_err) != SF_OK) {
        if (injected(ov, before)) {
            *err = shadow_err;
            return SF_ERR;
        }
    } else if (mark(ov, from, err) != SF_OK || mark(ov, to, err) != SF_OK) {
        return SF_ERR;
    }
    return sf_storage_rename(ov->real, from, to, err);
}

static int o_remove(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;
    uint64_t before = sf_simdisk_faults_injected(ov->disk);
    sf_error shadow_err;

    if (ov->crashed)
        return crashed(err, "cannot remove", path);
    if (sf_storage_remove(ov->shadow, path, &shadow_err) != SF_OK) {
        if (injected(ov, before)) {
            *err = shadow_err;
            return SF_ERR;
        }
    } else if (mark(ov, path, err) != SF_OK) {
        return SF_ERR;
    }
    return sf_storage_remove(ov->real, path, err);
}

static int o_list(void *ctx, const char *dir, sf_storage_list_fn fn,
                  void *payload, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot read directory", dir);
    return sf_storage_list(ov->real, dir, fn, payload, err);
}

static int o_list_kind(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                       void *payload, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot read directory", dir);
    return sf_storage_list_kind(ov->real, dir, fn, payload, err);
}

static int o_info(void *ctx, const char *path, sf_storage_info *out,
                  sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot stat", path);
    return sf_storage_info_of(ov->real, path, out, err);
}

static int o_canonical(void *ctx, const char *path, char **out, sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot resolve", path);
    return sf_storage_canonical(ov->real, path, out, err);
}

static int o_lock(void *ctx, const char *path, sf_storage_lock **out,
                  sf_error *err)
{
    sf_simdisk_overlay *ov = ctx;

    if (ov->crashed)
        return crashed(err, "cannot lock", path);
    return sf_storage_lock_acquire(ov->real, path, out, err);
}

static void o_unlock(void *ctx, sf_storage_lock *lock)
{
    sf_simdisk_overlay *ov = ctx;

    sf_storage_lock_release(ov->real, &lock);
}

/* ---- the overlay ---- */

int sf_simdisk_overlay_new(sf_simdisk *disk, const sf_storage *real,
                           sf_simdisk_overlay **out, sf_error *err)
{
    sf_simdisk_overlay *ov;

    *out = NULL;
    if (disk == NULL || real == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "overlay: a disk and a real "
                            "storage are needed");
    if ((ov = calloc(1, sizeof *ov)) == NULL)
        return oom(err);
    ov->disk = disk;
    ov->real = real;
    ov->shadow = sf_simdisk_storage(disk);
    ov->storage.version = SF_STORAGE_VERSION;
    ov->storage.name = "simdisk-overlay";
    ov->storage.ctx = ov;
    ov->storage.open = o_open;
    ov->storage.open_temp = o_open_temp;
    ov->storage.close = o_close;
    ov->storage.read = o_read;
    ov->storage.write = o_write;
    ov->storage.size = o_size;
    ov->storage.truncate = o_truncate;
    ov->storage.sync = o_sync;
    ov->storage.kind = o_kind;
    ov->storage.mkdir = o_mkdir;
    ov->storage.sync_dir = o_sync_dir;
    ov->storage.rename = o_rename;
    ov->storage.remove = o_remove;
    ov->storage.list = o_list;
    ov->storage.lock = o_lock;
    ov->storage.unlock = o_unlock;
    /* not concurrent (the simulated disk is not); no remove_tree: the
     * wrapper's goes through remove, so the simulated disk sees each */
    ov->storage.list_kind = o_list_kind;
    ov->storage.info = o_info;
    ov->storage.canonical = o_canonical;
    *out = ov;
    return SF_OK;
}

void sf_simdisk_overlay_free(sf_simdisk_overlay *ov)
{
    if (ov == NULL)
        return;
    dirty_clear(ov);
    free(ov->dirty);
    free(ov);
}

const sf_storage *sf_simdisk_overlay_storage(sf_simdisk_overlay *ov)
{
    return &ov->storage;
}

unsigned sf_simdisk_overlay_crash(sf_simdisk_overlay *ov)
{
    if (ov->crashed)
        return 0;
    ov->crashed = true;
    return sf_simdisk_crash(ov->disk);
}

void sf_simdisk_overlay_tear_at(sf_simdisk_overlay *ov, uint64_t nth,
                                uint64_t keep_seed, sf_simdisk_crash_fn on_crash,
                                void *ctx)
{
    ov->tear_nth = nth == 0 ? 0 : ov->writes_seen + nth;
    ov->tear_keep_seed = keep_seed;
    ov->on_crash = on_crash;
    ov->crash_ctx = ctx;
}

bool sf_simdisk_overlay_crashed(const sf_simdisk_overlay *ov)
{
    return ov->crashed;
}

/* Makes the real name what the simulated disk kept for it. A name whose
 * real directory is gone (removed outside the seam) stays gone. */
static int restore_name(sf_simdisk_overlay *ov, const char *path, sf_error *err)
{
    sf_storage_kind kept, now;
    sf_storage_file *f = NULL;
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (sf_storage_kind_of(ov->shadow, path, &kept, err) != SF_OK ||
        sf_storage_kind_of(ov->real, path, &now, err) != SF_OK)
        return SF_ERR;
    if (kept == SF_STORAGE_ABSENT) {
        if (now == SF_STORAGE_REGULAR)
            return sf_storage_remove(ov->real, path, err);
        return SF_OK;
    }
    if (kept != SF_STORAGE_REGULAR)
        return SF_OK; /* directories are durable once made */
    if (sf_storage_read_all(ov->shadow, path, SIZE_MAX / 2, &data, &len, err) !=
        SF_OK)
        return SF_ERR;
    rc = sf_storage_open(ov->real, path, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                         SF_STORAGE_TRUNCATE, &f, err);
    if (rc != SF_OK && now == SF_STORAGE_ABSENT) {
        free(data); /* its directory went outside the seam */
        return SF_OK;
    }
    if (rc == SF_OK)
        rc = sf_storage_write(ov->real, f, 0, data, len, err);
    if (f != NULL && sf_storage_close(ov->real, &f, rc == SF_OK ? err : NULL) !=
        SF_OK)
        rc = SF_ERR;
    free(data);
    return rc;
}

int sf_simdisk_overlay_recover(sf_simdisk_overlay *ov, sf_error *err)
{
    int rc = SF_OK;

    if (!ov->crashed)
        return SF_OK;
    /* faults belong to the run that crashed; the restart reads cleanly */
    sf_simdisk_faults_clear(ov->disk);
    for (size_t i = 0; i < ov->dirty_cap && rc == SF_OK; i++)
        if (ov->dirty[i] != NULL)
            rc = restore_name(ov, ov->dirty[i], err);
    if (rc != SF_OK)
        return SF_ERR;
    dirty_clear(ov);
    ov->crashed = false;
    ov->tear_nth = 0;
    return SF_OK;
}
