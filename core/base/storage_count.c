/*
 * The counting shim: a storage that forwards every call to another one and
 * counts what passed (opens, reads and bytes read, writes and bytes
 * written, fsyncs, fdatasyncs, directory syncs, renames, removes,
 * truncates). Benchmarks wrap the storage a run uses in it to measure the
 * bytes and syncs a transition costs; tests use it to prove a path syncs
 * what it should. Handles are the inner storage's own: nothing is
 * allocated, so the shim cannot fail on its own.
 */
#include "snapfleet/storage.h"

#include <string.h>

#define C(ctx) ((sf_storage_counting *)(ctx))
#define IN(ctx) (C(ctx)->inner)
/* Counted atomically: a concurrent inner storage (POSIX) stays concurrent
 * through the shim, and the checksum's helper threads read through it. */
#define ADD(ctx, field, n) \
    __atomic_fetch_add(&C(ctx)->counts.field, (uint64_t)(n), __ATOMIC_RELAXED)

static int c_open(void *ctx, const char *path, unsigned flags,
                  sf_storage_file **out, sf_error *err)
{
    ADD(ctx, opens, 1);
    return sf_storage_open(IN(ctx), path, flags, out, err);
}

static int c_open_temp(void *ctx, char *templ, sf_storage_file **out,
                       sf_error *err)
{
    ADD(ctx, opens, 1);
    return sf_storage_open_temp(IN(ctx), templ, out, err);
}

static int c_close(void *ctx, sf_storage_file *file, sf_error *err)
{
    return sf_storage_close(IN(ctx), &file, err);
}

static int c_read(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                  size_t len, size_t *got, sf_error *err)
{
    int rc = sf_storage_read(IN(ctx), file, offset, buf, len, got, err);

    ADD(ctx, reads, 1);
    ADD(ctx, bytes_read, *got);
    return rc;
}

static int c_write(void *ctx, sf_storage_file *file, uint64_t offset,
                   const void *buf, size_t len, sf_error *err)
{
    ADD(ctx, writes, 1);
    ADD(ctx, bytes_written, len);
    return sf_storage_write(IN(ctx), file, offset, buf, len, err);
}

static int c_size(void *ctx, sf_storage_file *file, uint64_t *out,
                  sf_error *err)
{
    return sf_storage_size(IN(ctx), file, out, err);
}

static int c_truncate(void *ctx, sf_storage_file *file, uint64_t len,
                      sf_error *err)
{
    ADD(ctx, truncates, 1);
    return sf_storage_truncate(IN(ctx), file, len, err);
}

static int c_sync(void *ctx, sf_storage_file *file, unsigned how,
                  sf_error *err)
{
    if (how == SF_STORAGE_SYNC_DATA)
        ADD(ctx, fdatasyncs, 1);
    else
        ADD(ctx, fsyncs, 1);
    return sf_storage_sync(IN(ctx), file, how, err);
}

static int c_kind(void *ctx, const char *path, sf_storage_kind *out,
                  sf_error *err)
{
    return sf_storage_kind_of(IN(ctx), path, out, err);
}

static int c_mkdir(void *ctx, const char *path, sf_error *err)
{
    return sf_storage_mkdir(IN(ctx), path, err);
}

static int c_sync_dir(void *ctx, const char *path, sf_error *err)
{
    ADD(ctx, dir_syncs, 1);
    return sf_storage_sync_dir(IN(ctx), path, err);
}

static int c_rename(void *ctx, const char *from, const char *to, sf_error *err)
{
    ADD(ctx, renames, 1);
    return sf_storage_rename(IN(ctx), from, to, err);
}

static int c_remove(void *ctx, const char *path, sf_error *err)
{
    ADD(ctx, removes, 1);
    return sf_storage_remove(IN(ctx), path, err);
}

static int c_list(void *ctx, const char *dir, sf_storage_list_fn fn,
                  void *payload, sf_error *err)
{
    return sf_storage_list(IN(ctx), dir, fn, payload, err);
}

static int c_list_kind(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                       void *payload, sf_error *err)
{
    return sf_storage_list_kind(IN(ctx), dir, fn, payload, err);
}

static int c_info(void *ctx, const char *path, sf_storage_info *out,
                  sf_error *err)
{
    return sf_storage_info_of(IN(ctx), path, out, err);
}

static int c_canonical(void *ctx, const char *path, char **out, sf_error *err)
{
    return sf_storage_canonical(IN(ctx), path, out, err);
}

static int c_lock(void *ctx, const char *path, sf_storage_lock **out,
                  sf_error *err)
{
    return sf_storage_lock_acquire(IN(ctx), path, out, err);
}

static void c_unlock(void *ctx, sf_storage_lock *lock)
{
    sf_storage_lock_release(IN(ctx), &lock);
}

void sf_storage_counting_init(sf_storage_counting *c, const sf_storage *inner)
{
    memset(c, 0, sizeof *c);
    c->inner = inner;
    c->storage.version = SF_STORAGE_VERSION;
    c->storage.name = "counting";
    c->storage.ctx = c;
    c->storage.open = c_open;
    c->storage.open_temp = c_open_temp;
    c->storage.close = c_close;
    c->storage.read = c_read;
    c->storage.write = c_write;
    c->storage.size = c_size;
    c->storage.truncate = c_truncate;
    c->storage.sync = c_sync;
    c->storage.kind = c_kind;
    c->storage.mkdir = c_mkdir;
    c->storage.sync_dir = c_sync_dir;
    c->storage.rename = c_rename;
    c->storage.remove = c_remove;
    c->storage.list = c_list;
    c->storage.list_kind = c_list_kind;
    c->storage.info = c_info;
    c->storage.canonical = c_canonical;
    /* no remove_tree: the wrapper's, over list_kind and remove, so every
     * remove is counted */
    c->storage.flags = sf_storage_concurrent(inner) ? SF_STORAGE_CONCURRENT
                                                    : 0;
    /* a lockless inner storage stays lockless through the shim */
    if (inner != NULL && inner->lock != NULL) {
        c->storage.lock = c_lock;
        c->storage.unlock = c_unlock;
    }
}
