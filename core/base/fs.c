/*
 * Durable file writes. Every document goes through sf_fs_write_atomic so
 * that a crash leaves either the old file or the new one, never a torn one:
 * temp file, fsync, rename over the target, fsync of the directory. The
 * temp file's name is unique (mkstemp in the target's directory), so two
 * processes writing the same document never share a temp file.
 *
 * Reads open without blocking and without following a link, then check the
 * type on the open descriptor: a FIFO or device planted where a document
 * belongs is refused at once instead of hanging the reader.
 *
 * Everything here goes through the storage seam (snapfleet/storage.h):
 * the POSIX storage unless sf_fs_set_storage installed another one.
 */
#include "snapfleet/fs.h"
#include "snapfleet/storage.h"

#include <stdlib.h>
#include <string.h>

static sf_fs_write_hook write_hook;
static void *write_hook_ctx;
static const sf_storage *fs_storage;

void sf_fs_set_write_hook(sf_fs_write_hook hook, void *ctx)
{
    write_hook = hook;
    write_hook_ctx = ctx;
}

static sf_fs_tear_want_fn tear_want;
static sf_fs_tear_done_fn tear_done;
static void *tear_ctx;

void sf_fs_set_tear_hook(sf_fs_tear_want_fn want, sf_fs_tear_done_fn done,
                         void *ctx)
{
    tear_want = want;
    tear_done = done;
    tear_ctx = ctx;
}

bool sf_fs_tear_wanted(const char *path)
{
    return tear_want != NULL && tear_want(path, tear_ctx);
}

void sf_fs_tear_done(const char *path)
{
    if (tear_done != NULL)
        tear_done(path, tear_ctx);
}

/* A torn atomic replace: the temporary file gets the first half of the
 * bytes, synced, and is never renamed. */
static int write_torn(const char *path, const void *data, size_t len,
                      sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_storage_file *f = NULL;
    size_t n = strlen(path);
    char *tmp = malloc(n + sizeof ".tmp.XXXXXX");
    int rc = SF_ERR;

    if (tmp == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
    if (sf_storage_open_temp(st, tmp, &f, err) == SF_OK &&
        sf_storage_write(st, f, 0, data, len / 2, err) == SF_OK &&
        sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, err) == SF_OK)
        rc = SF_OK;
    sf_storage_close(st, &f, NULL);
    free(tmp);
    sf_fs_tear_done(path);
    return rc == SF_OK ? sf_error_set(err, SF_EK_IO, "", "%s: torn write",
                                      path)
                       : SF_ERR;
}

void sf_fs_note_durable_write(const char *path)
{
    if (write_hook != NULL)
        write_hook(path, write_hook_ctx);
}

void sf_fs_set_storage(const sf_storage *storage)
{
    fs_storage = storage;
}

const sf_storage *sf_fs_storage(void)
{
    return fs_storage != NULL ? fs_storage : sf_storage_posix();
}

int sf_fs_read_file(const char *path, size_t max, char **out, size_t *len,
                    sf_error *err)
{
    return sf_storage_read_all(sf_fs_storage(), path, max, out, len, err);
}

int sf_fs_mkdir_p(const char *path, sf_error *err)
{
    return sf_storage_mkdir_p(sf_fs_storage(), path, err);
}

int sf_fs_dir_nofollow(const char *path, bool create, sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_storage_info info;

    if (sf_storage_info_of(st, path, &info, err) != SF_OK)
        return SF_ERR;
    if (info.kind == SF_STORAGE_ABSENT) {
        if (!create)
            return SF_OK;
        if (sf_fs_mkdir_p(path, err) != SF_OK ||
            sf_storage_info_of(st, path, &info, err) != SF_OK)
            return SF_ERR;
    }
    if (info.kind == SF_STORAGE_OTHER && info.other == SF_STORAGE_OTHER_SYMLINK)
        return sf_error_set(err, "symlink-refused", "", "%s is a symbolic link: "
                            "refusing to follow it", path);
    if (info.kind != SF_STORAGE_DIRECTORY)
        return sf_error_set(err, SF_EK_IO, "", "%s: not a directory", path);
    return SF_OK;
}

int sf_fs_rename_durable(const char *from, const char *to, sf_error *err)
{
    if (sf_fs_tear_wanted(to)) {
        /* a rename cannot be half made: the crash comes before it */
        sf_fs_tear_done(to);
        return sf_error_set(err, SF_EK_IO, "", "%s: torn write", to);
    }
    if (sf_storage_rename_durable(sf_fs_storage(), from, to, err) != SF_OK)
        return SF_ERR;
    if (write_hook != NULL)
        write_hook(to, write_hook_ctx);
    return SF_OK;
}

int sf_fs_write_atomic(const char *path, const void *data, size_t len,
                       sf_error *err)
{
    if (sf_fs_tear_wanted(path))
        return write_torn(path, data, len, err);
    if (sf_storage_write_atomic(sf_fs_storage(), path, data, len, err) != SF_OK)
        return SF_ERR;
    if (write_hook != NULL)
        write_hook(path, write_hook_ctx);
    return SF_OK;
}

int sf_fs_write_atomic_untracked(const char *path, const void *data,
                                 size_t len, sf_error *err)
{
    return sf_storage_write_atomic(sf_fs_storage(), path, data, len, err);
}

int sf_remove_tree(const char *dir, sf_error *err)
{
    return sf_storage_remove_tree(sf_fs_storage(), dir, err);
}

bool sf_fs_same_dir(const char *a, const char *b)
{
    return sf_storage_same(sf_fs_storage(), a, b);
}
