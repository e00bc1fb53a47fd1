/*
 * The storage seam over the real file system: what core/base/fs.c did
 * directly before the seam existed, one method per system call. Opens never
 * follow a final symbolic link and never block (O_NOFOLLOW|O_NONBLOCK), and
 * the type is checked on the descriptor, so a FIFO or device planted where
 * a file belongs is refused at once. Reads and writes are positional
 * (pread/pwrite) and retried on EINTR and short counts; temp files come
 * from mkstemp; locks are flock(2) on a lock file, so they die with the
 * process. Error messages name the path and end in strerror's text.
 */
#include "snapfleet/storage.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

struct sf_storage_file {
    int fd;
    char path[]; /* for error messages */
};

struct sf_storage_lock {
    int fd;
};

static sf_storage_file *file_new(int fd, const char *path)
{
    size_t n = strlen(path) + 1;
    sf_storage_file *f = malloc(sizeof *f + n);

    if (f != NULL) {
        f->fd = fd;
        memcpy(f->path, path, n);
    }
    return f;
}

/* Wraps an open descriptor: refuses anything but a regular file. */
static int adopt(int fd, const char *path, sf_storage_file **out, sf_error *err)
{
    struct stat st;

    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sf_error_set_errno(err, e, "", "cannot stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sf_error_set(err, SF_EK_IO, "", "%s: not a regular file", path);
    }
    *out = file_new(fd, path);
    if (*out == NULL) {
        close(fd);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory opening %s",
                            path);
    }
    return SF_OK;
}

static int p_open(void *ctx, const char *path, unsigned flags,
                  sf_storage_file **out, sf_error *err)
{
    int oflags = O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, fd;

    (void)ctx;
    oflags |= (flags & SF_STORAGE_WRITE) ? O_RDWR : O_RDONLY;
    if (flags & SF_STORAGE_CREATE)
        oflags |= O_CREAT;
    if (flags & SF_STORAGE_EXCL)
        oflags |= O_EXCL;
    if (flags & SF_STORAGE_TRUNCATE)
        oflags |= O_TRUNC;
    fd = open(path, oflags, 0600);
    if (fd < 0) {
        if (errno == ELOOP)
            return sf_error_set(err, SF_EK_IO, "", "%s: refusing to follow a "
                                "symbolic link", path);
        return sf_error_set_errno(err, errno, "", "cannot open %s", path);
    }
    return adopt(fd, path, out, err);
}

static int p_open_temp(void *ctx, char *templ, sf_storage_file **out,
                       sf_error *err)
{
    int fd;

    (void)ctx;
    /* mkstemp: O_CREAT|O_EXCL, mode 0600, a name no other writer holds */
    fd = mkstemp(templ);
    if (fd < 0)
        return sf_error_set_errno(err, errno, "", "cannot create %s", templ);
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        int e = errno;
        close(fd);
        unlink(templ);
        return sf_error_set_errno(err, e, "", "cannot create %s", templ);
    }
    *out = file_new(fd, templ);
    if (*out == NULL) {
        close(fd);
        unlink(templ);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory creating %s",
                            templ);
    }
    return SF_OK;
}

static int p_close(void *ctx, sf_storage_file *file, sf_error *err)
{
    int rc = SF_OK;

    (void)ctx;
    /* close(2) releases the descriptor even when it reports an error */
    if (close(file->fd) != 0)
        rc = sf_error_set_errno(err, errno, "", "cannot write %s", file->path);
    free(file);
    return rc;
}

static int p_read(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                  size_t len, size_t *got, sf_error *err)
{
    char *p = buf;

    (void)ctx;
    while (*got < len) {
        ssize_t n = pread(file->fd, p + *got, len - *got,
                          (off_t)(offset + *got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sf_error_set_errno(err, errno, "", "cannot read %s",
                                      file->path);
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return SF_OK;
}

static int p_write(void *ctx, sf_storage_file *file, uint64_t offset,
                   const void *buf, size_t len, sf_error *err)
{
    const char *p = buf;
    size_t done = 0;

    (void)ctx;
    while (done < len) {
        ssize_t n = pwrite(file->fd, p + done, len - done,
                           (off_t)(offset + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sf_error_set_errno(err, errno, "", "cannot write %s",
                                      file->path);
        done += (size_t)n;
    }
    return SF_OK;
}

static int p_size(void *ctx, sf_storage_file *file, uint64_t *out,
                  sf_error *err)
{
    struct stat st;

    (void)ctx;
    if (fstat(file->fd, &st) != 0)
        return sf_error_set_errno(err, errno, "", "cannot stat %s", file->path);
    *out = (uint64_t)st.st_size;
    return SF_OK;
}

static int p_truncate(void *ctx, sf_storage_file *file, uint64_t len,
                      sf_error *err)
{
    (void)ctx;
    if (ftruncate(file->fd, (off_t)len) != 0)
        return sf_error_set_errno(err, errno, "", "cannot truncate %s",
                                  file->path);
    return SF_OK;
}

static int p_sync(void *ctx, sf_storage_file *file, unsigned how, sf_error *err)
{
    int rc;

    (void)ctx;
    rc = how == SF_STORAGE_SYNC_DATA ? fdatasync(file->fd) : fsync(file->fd);
    if (rc != 0)
        return sf_error_set_errno(err, errno, "", "cannot write %s (sync)",
                                  file->path);
    return SF_OK;
}

static sf_storage_kind kind_of_mode(mode_t mode)
{
    return S_ISREG(mode)   ? SF_STORAGE_REGULAR
           : S_ISDIR(mode) ? SF_STORAGE_DIRECTORY
                           : SF_STORAGE_OTHER;
}

static int p_kind(void *ctx, const char *path, sf_storage_kind *out,
                  sf_error *err)
{
    struct stat st;

    (void)ctx;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) {
            *out = SF_STORAGE_ABSENT;
            return SF_OK;
        }
        return sf_error_set_errno(err, errno, "", "cannot stat %s", path);
    }
    *out = kind_of_mode(st.st_mode);
    return SF_OK;
}

static int p_mkdir(void *ctx, const char *path, sf_error *err)
{
    (void)ctx;
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return sf_error_set_errno(err, errno, "", "cannot create directory %s",
                                  path);
    return SF_OK;
}

static int p_sync_dir(void *ctx, const char *path, sf_error *err)
{
    int fd, rc;

    (void)ctx;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return sf_error_set_errno(err, errno, "", "cannot sync directory %s",
                                  path);
    rc = fsync(fd);
    if (rc != 0) {
        int e = errno;
        close(fd);
        return sf_error_set_errno(err, e, "", "cannot sync directory %s", path);
    }
    close(fd);
    return SF_OK;
}

static int p_rename(void *ctx, const char *from, const char *to, sf_error *err)
{
    (void)ctx;
    if (rename(from, to) != 0)
        return sf_error_set_errno(err, errno, "", "cannot rename %s to %s",
                                  from, to);
    return SF_OK;
}

static int p_remove(void *ctx, const char *path, sf_error *err)
{
    struct stat st;

    (void)ctx;
    if (lstat(path, &st) != 0)
        return sf_error_set_errno(err, errno, "", "cannot remove %s", path);
    if ((S_ISDIR(st.st_mode) ? rmdir(path) : unlink(path)) != 0)
        return sf_error_set_errno(err, errno, "", "cannot remove %s", path);
    return SF_OK;
}

static int p_list(void *ctx, const char *dir, sf_storage_list_fn fn,
                  void *payload, sf_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct dirent *de;
    DIR *d;
    int rc = SF_OK;

    (void)ctx;
    if (fd < 0)
        return sf_error_set_errno(err, errno, "", "cannot read directory %s",
                                  dir);
    d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return sf_error_set_errno(err, e, "", "cannot read directory %s", dir);
    }
    for (;;) {
        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = sf_error_set_errno(err, errno, "", "cannot read "
                                        "directory %s", dir);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = fn(de->d_name, payload);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

/* p_list with d_type: a stat (fstatat, no follow) only where the file
 * system does not say the type (DT_UNKNOWN). */
static int p_list_kind(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                       void *payload, sf_error *err)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct dirent *de;
    DIR *d;
    int rc = SF_OK;

    (void)ctx;
    if (fd < 0)
        return sf_error_set_errno(err, errno, "", "cannot read directory %s",
                                  dir);
    d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;
        close(fd);
        return sf_error_set_errno(err, e, "", "cannot read directory %s", dir);
    }
    for (;;) {
        sf_storage_kind kind = SF_STORAGE_OTHER;

        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = sf_error_set_errno(err, errno, "", "cannot read "
                                        "directory %s", dir);
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
#ifdef DT_UNKNOWN
        if (de->d_type == DT_REG)
            kind = SF_STORAGE_REGULAR;
        else if (de->d_type == DT_DIR)
            kind = SF_STORAGE_DIRECTORY;
        else if (de->d_type == DT_UNKNOWN)
#endif
        {
            struct stat st;

            if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
                if (errno == ENOENT)
                    continue; /* gone since readdir */
                rc = sf_error_set_errno(err, errno, "", "cannot stat %s/%s",
                                        dir, de->d_name);
                break;
            }
            kind = kind_of_mode(st.st_mode);
        }
        rc = fn(de->d_name, kind, payload);
        if (rc != 0)
            break;
    }
    closedir(d);
    return rc;
}

static int p_info(void *ctx, const char *path, sf_storage_info *out,
                  sf_error *err)
{
    struct stat st;

    (void)ctx;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return SF_OK; /* the wrapper set ABSENT */
        return sf_error_set_errno(err, errno, "", "cannot stat %s", path);
    }
    out->kind = kind_of_mode(st.st_mode);
    if (out->kind == SF_STORAGE_REGULAR)
        out->size = (uint64_t)st.st_size;
    else if (out->kind == SF_STORAGE_OTHER)
        out->other = S_ISLNK(st.st_mode)    ? SF_STORAGE_OTHER_SYMLINK
                     : S_ISFIFO(st.st_mode) ? SF_STORAGE_OTHER_FIFO
                     : S_ISSOCK(st.st_mode) ? SF_STORAGE_OTHER_SOCKET
                     : S_ISCHR(st.st_mode)  ? SF_STORAGE_OTHER_CHAR_DEVICE
                     : S_ISBLK(st.st_mode)  ? SF_STORAGE_OTHER_BLOCK_DEVICE
                                            : SF_STORAGE_OTHER_UNKNOWN;
    return SF_OK;
}

static int p_canonical(void *ctx, const char *path, char **out, sf_error *err)
{
    char *p;

    (void)ctx;
    p = realpath(path, NULL);
    if (p == NULL)
        return sf_error_set_errno(err, errno, "", "cannot resolve %s", path);
    *out = p;
    return SF_OK;
}

static int remove_dir_at(int parent, const char *name, int fd, sf_error *err);

/* rm -rf over descriptors (openat, unlinkat), so nothing below the top is
 * reached through a path a symbolic link could be swapped into. d_type:
 * what the parent's listing says name is (DT_UNKNOWN at the top). A listed
 * non-directory is unlinked straight away, a listed directory opened
 * straight away, which saves a stat per entry; when that fails the entry
 * is looked at again as if unlisted, so the outcome and its errors are the
 * stat-first ones. */
static int remove_at(int parent, const char *name, unsigned char d_type,
                     sf_error *err)
{
    struct stat st;

#ifdef DT_UNKNOWN
    if (d_type == DT_DIR) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                        O_CLOEXEC);

        if (fd >= 0)
            return remove_dir_at(parent, name, fd, err);
    } else if (d_type != DT_UNKNOWN && unlinkat(parent, name, 0) == 0) {
        return SF_OK;
    }
#else
    (void)d_type;
#endif
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? SF_OK
                               : sf_error_set_errno(err, errno, "", "cannot "
                                                    "stat %s", name);
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                        O_CLOEXEC);

        if (fd < 0)
            return sf_error_set_errno(err, errno, "", "cannot open %s", name);
        return remove_dir_at(parent, name, fd, err);
    }
    if (unlinkat(parent, name, 0) != 0)
        return sf_error_set_errno(err, errno, "", "cannot remove %s", name);
    return SF_OK;
}

/* Empties the directory name (opened as fd, which this takes) and removes
 * it. */
static int remove_dir_at(int parent, const char *name, int fd, sf_error *err)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    int rc = SF_OK;

    if (d == NULL) {
        close(fd);
        return sf_error_set_errno(err, errno, "", "cannot read %s", name);
    }
    while (rc == SF_OK && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        rc = remove_at(dirfd(d), de->d_name, de->d_type, err);
    }
    closedir(d);
    if (rc != SF_OK)
        return rc;
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0)
        return sf_error_set_errno(err, errno, "", "cannot remove %s", name);
    return SF_OK;
}

static int p_remove_tree(void *ctx, const char *path, sf_error *err)
{
    (void)ctx;
    return remove_at(AT_FDCWD, path, DT_UNKNOWN, err);
}

static int p_lock(void *ctx, const char *path, sf_storage_lock **out,
                  sf_error *err)
{
    sf_storage_lock *lock;
    struct stat st;
    int fd;

    (void)ctx;
    fd = open(path, O_RDWR | O_CREAT | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0)
        return sf_error_set_errno(err, errno, "", "cannot open lock file %s",
                                  path);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sf_error_set(err, SF_EK_IO, "", "lock file %s is not a regular "
                            "file", path);
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            return sf_error_set(err, SF_EK_LOCKED, "", "%s is locked by "
                                "another running snapfleet", path);
        return sf_error_set_errno(err, e, "", "cannot lock %s", path);
    }
    lock = malloc(sizeof *lock);
    if (lock == NULL) {
        close(fd);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    lock->fd = fd;
    *out = lock;
    return SF_OK;
}

static void p_unlock(void *ctx, sf_storage_lock *lock)
{
    (void)ctx;
    flock(lock->fd, LOCK_UN);
    close(lock->fd);
    free(lock);
}

static const sf_storage posix_storage = {
    .version = SF_STORAGE_VERSION,
    .name = "posix",
    .ctx = NULL,
    .open = p_open,
    .open_temp = p_open_temp,
    .close = p_close,
    .read = p_read,
    .write = p_write,
    .size = p_size,
    .truncate = p_truncate,
    .sync = p_sync,
    .kind = p_kind,
    .mkdir = p_mkdir,
    .sync_dir = p_sync_dir,
    .rename = p_rename,
    .remove = p_remove,
    .list = p_list,
    .lock = p_lock,
    .unlock = p_unlock,
    .flags = SF_STORAGE_CONCURRENT,
    .list_kind = p_list_kind,
    .info = p_info,
    .canonical = p_canonical,
    .remove_tree = p_remove_tree,
};

const sf_storage *sf_storage_posix(void)
{
    return &posix_storage;
}
