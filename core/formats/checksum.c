/*
 * Artifact checksums: see snapfleet/checksum.h for the algorithm and for
 * why symlinks and special files are refused rather than followed/skipped.
 */
#include "snapfleet/checksum.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define SHA256_LEN 32

/* ---- plain SHA-256 ---- */

struct sf_sha256 {
    EVP_MD_CTX *ctx;
};

static void to_hex(const unsigned char *md, char *out)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < SHA256_LEN; i++) {
        out[2 * i] = digits[md[i] >> 4];
        out[2 * i + 1] = digits[md[i] & 0x0f];
    }
    out[2 * SHA256_LEN] = '\0';
}

sf_sha256 *sf_sha256_new(void)
{
    sf_sha256 *h = malloc(sizeof *h);

    if (h == NULL)
        return NULL;
    h->ctx = EVP_MD_CTX_new();
    if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1) {
        sf_sha256_free(h);
        return NULL;
    }
    return h;
}

int sf_sha256_update(sf_sha256 *h, const void *data, size_t len)
{
    if (len == 0)
        return SF_OK;
    return EVP_DigestUpdate(h->ctx, data, len) == 1 ? SF_OK : SF_ERR;
}

int sf_sha256_final(sf_sha256 *h, char out_hex[SF_SHA256_HEX_SIZE])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_DigestFinal_ex(h->ctx, md, &n) != 1 || n != SHA256_LEN)
        return SF_ERR;
    to_hex(md, out_hex);
    return SF_OK;
}

void sf_sha256_free(sf_sha256 *h)
{
    if (h == NULL)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

int sf_sha256_bytes(const void *data, size_t len,
                    char out_hex[SF_SHA256_HEX_SIZE])
{
    sf_sha256 *h = sf_sha256_new();
    int rc = SF_ERR;

    if (h != NULL && sf_sha256_update(h, data, len) == SF_OK &&
        sf_sha256_final(h, out_hex) == SF_OK)
        rc = SF_OK;
    sf_sha256_free(h);
    return rc;
}

/* ---- the two orderings/encodings the directory checksum depends on ---- */

int sf_path_cmp_components(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a;
    const unsigned char *y = (const unsigned char *)b;

    /* '/' ranks as 0 so a component ends before any byte that could
     * continue the other one; the terminating NUL ranks lower still. */
    for (;; x++, y++) {
        int cx = *x == '/' ? 1 : *x == 0 ? 0 : *x + 1;
        int cy = *y == '/' ? 1 : *y == 0 ? 0 : *y + 1;

        if (cx != cy)
            return cx < cy ? -1 : 1;
        if (cx == 0)
            return 0;
    }
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 with *bad set to the
 * length of the maximal invalid subpart to replace (1..3). */
static size_t utf8_seq(const unsigned char *s, size_t avail, size_t *bad)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xbf;
    size_t need, i;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        need = 2;
    else if (c >= 0xe0 && c <= 0xef)
        need = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        need = 4;
    else {
        *bad = 1; /* continuation byte, C0/C1 or F5..FF: never a lead */
        return 0;
    }
    /* The second byte's range excludes overlongs, surrogates and >10FFFF. */
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    for (i = 1; i < need; i++) {
        if (i >= avail || s[i] < lo || s[i] > hi) {
            *bad = i;
            return 0;
        }
        lo = 0x80;
        hi = 0xbf;
    }
    return need;
}

int sf_utf8_lossy(const char *s, size_t len, sf_buf *out)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;

    while (i < len) {
        size_t bad = 0, n = utf8_seq(p + i, len - i, &bad);

        if (n > 0) {
            i += n;
            run += n;
            continue;
        }
        if (sf_buf_append(out, p + i - run, run) != SF_OK ||
            sf_buf_append(out, replacement, 3) != SF_OK)
            return SF_ERR;
        i += bad;
        run = 0;
    }
    return sf_buf_append(out, p + i - run, run);
}

/* ---- verify ---- */

int sf_checksum_verify(const char *algorithm, const char *expected,
                       const char *actual, sf_error *err)
{
    if (algorithm == NULL || strcmp(algorithm, SF_CHECKSUM_ALGORITHM) != 0)
        return sf_error_set(err, "unsupported-algorithm", NULL,
                            "unsupported checksum algorithm %s",
                            algorithm != NULL ? algorithm : "null");
    if (expected == NULL || actual == NULL || strcmp(expected, actual) != 0)
        return sf_error_set(err, "checksum-mismatch", NULL,
                            "checksum mismatch: expected %s, actual %s",
                            expected != NULL ? expected : "null",
                            actual != NULL ? actual : "null");
    return SF_OK;
}

/* ---- descriptor-based, no-follow access ---- */

static const char *type_name(mode_t mode)
{
    if (S_ISFIFO(mode))
        return "fifo";
    if (S_ISSOCK(mode))
        return "socket";
    if (S_ISCHR(mode))
        return "character device";
    if (S_ISBLK(mode))
        return "block device";
    return "unknown file type";
}

/*
 * Opens `name` relative to dirfd without following a symlink, refusing
 * anything but a directory or regular file. The lstat-style check gives the
 * precise error; the descriptor is then compared with it so an entry
 * replaced between the two calls is noticed instead of trusted.
 */
static int open_entry(int dirfd, const char *name, const char *display,
                      struct stat *st, int *fd_out, sf_error *err)
{
    struct stat fst;
    int flags = O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
    int fd;

    if (fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) != 0)
        return sf_error_set_errno(err, errno, NULL, "cannot stat %s",
                                  display);
    if (S_ISLNK(st->st_mode))
        return sf_error_set(err, "symlink-refused", NULL,
                            "refusing to follow symlink %s", display);
    if (!S_ISDIR(st->st_mode) && !S_ISREG(st->st_mode))
        return sf_error_set(err, "unsupported-file-type", NULL,
                            "unsupported file type (%s) at %s: artifacts "
                            "hold only regular files and directories",
                            type_name(st->st_mode), display);
    if (S_ISDIR(st->st_mode))
        flags |= O_DIRECTORY;
    do
        fd = openat(dirfd, name, flags);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        if (errno == ELOOP)
            return sf_error_set(err, "symlink-refused", NULL,
                                "refusing to follow symlink %s", display);
        return sf_error_set_errno(err, errno, NULL, "cannot open %s",
                                  display);
    }
    if (fstat(fd, &fst) != 0) {
        int e = errno;

        close(fd);
        return sf_error_set_errno(err, e, NULL, "cannot stat %s", display);
    }
    if (fst.st_dev != st->st_dev || fst.st_ino != st->st_ino ||
        (fst.st_mode & S_IFMT) != (st->st_mode & S_IFMT)) {
        close(fd);
        return sf_error_set(err, SF_EK_IO, NULL,
                            "%s changed while it was being checksummed",
                            display);
    }
    *st = fst;
    *fd_out = fd;
    return SF_OK;
}

static int hash_fd(int fd, unsigned char *buf, const char *display,
                   char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    sf_sha256 *h = sf_sha256_new();
    int rc = SF_ERR;

    if (h == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory hashing %s", display);
#ifdef POSIX_FADV_SEQUENTIAL
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    for (;;) {
        ssize_t n = read(fd, buf, SF_CHECKSUM_BUFFER);

        if (n < 0) {
            if (errno == EINTR)
                continue;
            sf_error_set_errno(err, errno, NULL, "cannot read %s", display);
            goto out;
        }
        if (n == 0)
            break;
        if (sf_sha256_update(h, buf, (size_t)n) != SF_OK) {
            sf_error_set(err, SF_EK_NOMEM, NULL, "sha256 failed on %s",
                         display);
            goto out;
        }
    }
    if (sf_sha256_final(h, out_hex) != SF_OK) {
        sf_error_set(err, SF_EK_NOMEM, NULL, "sha256 failed on %s", display);
        goto out;
    }
    rc = SF_OK;
out:
    sf_sha256_free(h);
    return rc;
}

/* ---- directory walk ---- */

typedef struct entry {
    char *rel; /* raw bytes, '/'-separated, relative to the artifact */
    char hex[SF_SHA256_HEX_SIZE];
} entry;

typedef struct walk {
    entry *v;
    size_t n, cap;
    sf_buf path;  /* display path: root, then "/rel" of the current entry */
    size_t base;  /* offset of the relative part within path (after '/') */
    unsigned char *buf;
    sf_error *err;
    const char *const *skip; /* top-level names left out, or NULL */
} walk;

static int nomem(walk *w)
{
    return sf_error_set(w->err, SF_EK_NOMEM, NULL,
                        "out of memory while checksumming %s",
                        sf_buf_cstr(&w->path));
}

static int push_file(walk *w, const char *hex)
{
    char *rel;

    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        entry *v = realloc(w->v, cap * sizeof *v);

        if (v == NULL)
            return nomem(w);
        w->v = v;
        w->cap = cap;
    }
    rel = strdup(w->path.data + w->base);
    if (rel == NULL)
        return nomem(w);
    w->v[w->n].rel = rel;
    memcpy(w->v[w->n].hex, hex, SF_SHA256_HEX_SIZE);
    w->n++;
    return SF_OK;
}

static int walk_dir(walk *w, int fd, unsigned depth);

/* One entry below the artifact; w->path already names it. */
static int visit(walk *w, int dirfd, const char *name, unsigned depth)
{
    const char *display = w->path.data;
    char hex[SF_SHA256_HEX_SIZE];
    struct stat st;
    int fd, rc;

    if (open_entry(dirfd, name, display, &st, &fd, w->err) != SF_OK)
        return SF_ERR;
    if (S_ISDIR(st.st_mode))
        return walk_dir(w, fd, depth + 1);
    rc = hash_fd(fd, w->buf, display, hex, w->err);
    close(fd);
    return rc == SF_OK ? push_file(w, hex) : SF_ERR;
}

/* Takes ownership of fd. */
static int walk_dir(walk *w, int fd, unsigned depth)
{
    DIR *d;
    int rc = SF_OK;

    if (depth > SF_CHECKSUM_MAX_DEPTH) {
        close(fd);
        return sf_error_set(w->err, SF_EK_IO, NULL,
                            "%s: directories nested deeper than %d levels",
                            sf_buf_cstr(&w->path), SF_CHECKSUM_MAX_DEPTH);
    }
    d = fdopendir(fd);
    if (d == NULL) {
        int e = errno;

        close(fd);
        return sf_error_set_errno(w->err, e, NULL, "cannot read directory %s",
                                  sf_buf_cstr(&w->path));
    }
    for (;;) {
        struct dirent *de;
        size_t mark = w->path.len;

        errno = 0;
        de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = sf_error_set_errno(w->err, errno, NULL,
                                        "cannot read directory %s",
                                        sf_buf_cstr(&w->path));
            break;
        }
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (depth == 0 && w->skip != NULL) {
            const char *const *k;
            bool skipped = false;

            for (k = w->skip; *k != NULL && !skipped; k++)
                skipped = strcmp(*k, de->d_name) == 0;
            if (skipped)
                continue;
        }
        if (sf_buf_putc(&w->path, '/') != SF_OK ||
            sf_buf_puts(&w->path, de->d_name) != SF_OK) {
            rc = nomem(w);
            break;
        }
        rc = visit(w, dirfd(d), de->d_name, depth);
        w->path.len = mark;
        w->path.data[mark] = '\0';
        if (rc != SF_OK)
            break;
    }
    closedir(d);
    return rc;
}

static int cmp_entry(const void *a, const void *b)
{
    return sf_path_cmp_components(((const entry *)a)->rel,
                                  ((const entry *)b)->rel);
}

/* The 5.2 digest over the sorted (relpath, hex) list. */
static int digest_entries(walk *w, char out_hex[SF_SHA256_HEX_SIZE])
{
    sf_sha256 *h = sf_sha256_new();
    sf_buf line;
    int rc = SF_ERR;

    if (h == NULL)
        return nomem(w);
    sf_buf_init(&line);
    if (w->n > 1) /* qsort wants a non-NULL base even for none */
        qsort(w->v, w->n, sizeof *w->v, cmp_entry);
    for (size_t i = 0; i < w->n; i++) {
        sf_buf_reset(&line);
        if (sf_utf8_lossy(w->v[i].rel, strlen(w->v[i].rel), &line) != SF_OK ||
            sf_buf_putc(&line, '\0') != SF_OK ||
            sf_buf_append(&line, w->v[i].hex, SF_SHA256_HEX_SIZE - 1) != SF_OK ||
            sf_buf_putc(&line, '\n') != SF_OK ||
            sf_sha256_update(h, line.data, line.len) != SF_OK) {
            nomem(w);
            goto out;
        }
    }
    if (sf_sha256_final(h, out_hex) != SF_OK) {
        nomem(w);
        goto out;
    }
    rc = SF_OK;
out:
    sf_buf_free(&line);
    sf_sha256_free(h);
    return rc;
}

/* Walks an opened artifact directory (takes ownership of fd). */
static int checksum_dir_fd(int fd, const char *path, const char *const *skip,
                           char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    walk w;
    size_t root_len = strlen(path);
    int rc = SF_ERR;

    memset(&w, 0, sizeof w);
    sf_buf_init(&w.path);
    w.err = err;
    w.skip = skip;
    if (sf_buf_append(&w.path, path, root_len) != SF_OK) {
        close(fd);
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory while checksumming %s", path);
    }
    w.base = root_len + 1;
    w.buf = malloc(SF_CHECKSUM_BUFFER);
    if (w.buf == NULL) {
        close(fd);
        nomem(&w);
        goto out;
    }
    if (walk_dir(&w, fd, 0) == SF_OK && digest_entries(&w, out_hex) == SF_OK)
        rc = SF_OK;
out:
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    free(w.buf);
    sf_buf_free(&w.path);
    return rc;
}

static int checksum_file_fd(int fd, const char *path,
                            char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    unsigned char *buf = malloc(SF_CHECKSUM_BUFFER);
    int rc;

    if (buf == NULL) {
        close(fd);
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory while checksumming %s", path);
    }
    rc = hash_fd(fd, buf, path, out_hex, err);
    free(buf);
    close(fd);
    return rc;
}

/* want: 'f' regular file, 'd' directory, 0 either. */
static int checksum_any(const char *path, int want, const char *const *skip,
                        char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    struct stat st;
    char *own;
    size_t len;
    int fd, rc;

    if (path == NULL || path[0] == '\0')
        return sf_error_set_errno(err, ENOENT, NULL, "cannot checksum \"\"");
    /* A trailing slash makes the kernel resolve a final symlink even under
     * O_NOFOLLOW, so "link/" must be looked at as "link". */
    len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    own = strndup(path, len);
    if (own == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory while checksumming %s", path);
    if (open_entry(AT_FDCWD, own, own, &st, &fd, err) != SF_OK) {
        rc = SF_ERR;
    } else if (S_ISDIR(st.st_mode)) {
        if (want == 'f') {
            close(fd);
            rc = sf_error_set_errno(err, EISDIR, NULL, "cannot checksum %s",
                                    own);
        } else {
            rc = checksum_dir_fd(fd, own, skip, out_hex, err);
        }
    } else if (want == 'd') {
        close(fd);
        rc = sf_error_set_errno(err, ENOTDIR, NULL, "cannot checksum %s", own);
    } else {
        rc = checksum_file_fd(fd, own, out_hex, err);
    }
    free(own);
    return rc;
}

int sf_checksum_file(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                     sf_error *err)
{
    return checksum_any(path, 'f', NULL, out_hex, err);
}

int sf_checksum_dir(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                    sf_error *err)
{
    return checksum_any(path, 'd', NULL, out_hex, err);
}

int sf_checksum_dir_skipping(const char *path, const char *const *skip,
                             char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    return checksum_any(path, 'd', skip, out_hex, err);
}

int sf_checksum_path(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                     sf_error *err)
{
    return checksum_any(path, 0, NULL, out_hex, err);
}
