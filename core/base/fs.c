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
 */
#include "snapfleet/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <libgen.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static sf_fs_write_hook write_hook;
static void *write_hook_ctx;

void sf_fs_set_write_hook(sf_fs_write_hook hook, void *ctx)
{
    write_hook = hook;
    write_hook_ctx = ctx;
}

int sf_fs_read_file(const char *path, size_t max, char **out, size_t *len,
                    sf_error *err)
{
    struct stat st;
    char *buf;
    size_t got = 0;
    int fd;

    *out = NULL;
    *len = 0;
    fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return sf_error_set(err, SF_EK_IO, "", "%s: refusing to follow a "
                                "symbolic link", path);
        return sf_error_set_errno(err, errno, "", "cannot open %s", path);
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return sf_error_set_errno(err, e, "", "cannot stat %s", path);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sf_error_set(err, SF_EK_IO, "", "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > (uint64_t)max) {
        close(fd);
        return sf_error_set(err, SF_EK_IO, "", "%s: %lld bytes exceeds the "
                            "%zu-byte limit", path, (long long)st.st_size, max);
    }
    buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory reading %s",
                            path);
    }
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return sf_error_set_errno(err, e, "", "cannot read %s", path);
        }
        if (n == 0)
            break; /* shrank while reading: take what is there */
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return SF_OK;
}

int sf_fs_mkdir_p(const char *path, sf_error *err)
{
    char *copy = strdup(path), *p;
    struct stat st;

    if (copy == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0700) != 0 && errno != EEXIST) {
                int e = errno;
                sf_error_set_errno(err, e, "", "cannot create directory %s",
                                   copy);
                free(copy);
                return SF_ERR;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return sf_error_set(err, SF_EK_IO, "", "%s: not a directory", path);
    return SF_OK;
}

int sf_fs_dir_nofollow(const char *path, bool create, sf_error *err)
{
    struct stat st;

    if (lstat(path, &st) != 0) {
        if (errno != ENOENT)
            return sf_error_set_errno(err, errno, "", "cannot stat %s", path);
        if (!create)
            return SF_OK;
        if (sf_fs_mkdir_p(path, err) != SF_OK)
            return SF_ERR;
        if (lstat(path, &st) != 0)
            return sf_error_set_errno(err, errno, "", "cannot stat %s", path);
    }
    if (S_ISLNK(st.st_mode))
        return sf_error_set(err, "symlink-refused", "", "%s is a symbolic link: "
                            "refusing to follow it", path);
    if (!S_ISDIR(st.st_mode))
        return sf_error_set(err, SF_EK_IO, "", "%s: not a directory", path);
    return SF_OK;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* "<path>.tmp.XXXXXX": leftover temps are recognisable by ".tmp." */
#define TEMP_SUFFIX ".tmp.XXXXXX"

static int write_atomic(const char *path, const void *data, size_t len,
                        int tracked, sf_error *err)
{
    char *dircopy = strdup(path), *dir, *tmp = NULL;
    size_t plen = strlen(path);
    int fd = -1, rc = SF_ERR;

    if (dircopy == NULL || (tmp = malloc(plen + sizeof TEMP_SUFFIX)) == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    dir = dirname(dircopy);
    if (sf_fs_mkdir_p(dir, err) != SF_OK)
        goto done;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, TEMP_SUFFIX, sizeof TEMP_SUFFIX);
    /* mkstemp: O_CREAT|O_EXCL, mode 0600, a name no other writer holds */
    fd = mkstemp(tmp);
    if (fd < 0) {
        sf_error_set_errno(err, errno, "", "cannot create a temporary file "
                           "for %s", path);
        goto done;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        sf_error_set_errno(err, errno, "", "cannot create %s", tmp);
        goto unlink_tmp;
    }
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        sf_error_set_errno(err, errno, "", "cannot write %s", tmp);
        goto unlink_tmp;
    }
    if (close(fd) != 0) {
        fd = -1;
        sf_error_set_errno(err, errno, "", "cannot write %s", tmp);
        goto unlink_tmp;
    }
    fd = -1;
    if (rename(tmp, path) != 0) {
        sf_error_set_errno(err, errno, "", "cannot replace %s", path);
        goto unlink_tmp;
    }
    if (fsync_dir(dir) != 0) {
        sf_error_set_errno(err, errno, "", "cannot sync directory %s", dir);
        goto done;
    }
    rc = SF_OK;
    if (tracked && write_hook != NULL)
        write_hook(path, write_hook_ctx);
    goto done;
unlink_tmp:
    if (fd >= 0)
        close(fd);
    fd = -1;
    unlink(tmp);
done:
    if (fd >= 0)
        close(fd);
    free(tmp);
    free(dircopy);
    return rc;
}

int sf_fs_rename_durable(const char *from, const char *to, sf_error *err)
{
    char *dircopy = strdup(to);
    int rc = SF_OK;

    if (dircopy == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (rename(from, to) != 0)
        rc = sf_error_set_errno(err, errno, "", "cannot rename %s to %s",
                                from, to);
    else if (fsync_dir(dirname(dircopy)) != 0)
        rc = sf_error_set_errno(err, errno, "", "cannot sync the directory "
                                "of %s", to);
    free(dircopy);
    if (rc == SF_OK && write_hook != NULL)
        write_hook(to, write_hook_ctx);
    return rc;
}

int sf_fs_write_atomic(const char *path, const void *data, size_t len,
                       sf_error *err)
{
    return write_atomic(path, data, len, 1, err);
}

int sf_fs_write_atomic_untracked(const char *path, const void *data,
                                 size_t len, sf_error *err)
{
    return write_atomic(path, data, len, 0, err);
}

static int remove_at(int parent, const char *name, sf_error *err)
{
    struct stat st;

    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? SF_OK
                               : sf_error_set_errno(err, errno, "", "cannot stat %s",
                                                    name);
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                        O_CLOEXEC);
        DIR *d;
        struct dirent *de;
        int rc = SF_OK;

        if (fd < 0)
            return sf_error_set_errno(err, errno, "", "cannot open %s", name);
        d = fdopendir(fd);
        if (d == NULL) {
            close(fd);
            return sf_error_set_errno(err, errno, "", "cannot read %s", name);
        }
        while (rc == SF_OK && (de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            rc = remove_at(dirfd(d), de->d_name, err);
        }
        closedir(d);
        if (rc != SF_OK)
            return rc;
        if (unlinkat(parent, name, AT_REMOVEDIR) != 0)
            return sf_error_set_errno(err, errno, "", "cannot remove %s", name);
        return SF_OK;
    }
    if (unlinkat(parent, name, 0) != 0)
        return sf_error_set_errno(err, errno, "", "cannot remove %s", name);
    return SF_OK;
}

int sf_remove_tree(const char *dir, sf_error *err)
{
    return remove_at(AT_FDCWD, dir, err);
}
