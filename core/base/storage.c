/*
 * The storage seam's one call site per method (as SQLite's os.c is for its
 * VFS): every caller goes through these wrappers, which check the
 * arguments, report a missing method as "not-supported", and build the
 * compound operations (read a whole file, mkdir -p, atomic replace, durable
 * rename) from the methods alone, so every implementation gets them with
 * the same steps in the same order. The counting shim lives here too.
 */
#include "snapfleet/storage.h"

#include <stdlib.h>
#include <string.h>

#define CHECK_ST(st, method, err)                                             \
    do {                                                                      \
        if ((st) == NULL || (st)->version < 1)                                \
            return sf_error_set((err), SF_EK_USAGE, "", "storage: no storage " \
                                "given");                                     \
        if ((st)->method == NULL)                                             \
            return sf_error_set((err), SF_EK_NOT_SUPPORTED, "", "storage %s "  \
                                "does not support " #method,                  \
                                (st)->name ? (st)->name : "?");               \
    } while (0)

#define CHECK_ARG(cond, err)                                                  \
    do {                                                                      \
        if (!(cond))                                                          \
            return sf_error_set((err), SF_EK_USAGE, "", "storage: invalid "    \
                                "argument (%s)", #cond);                      \
    } while (0)

int sf_storage_open(const sf_storage *st, const char *path, unsigned flags,
                    sf_storage_file **out, sf_error *err)
{
    CHECK_ST(st, open, err);
    CHECK_ARG(path != NULL && *path != '\0' && out != NULL, err);
    CHECK_ARG((flags & ~(SF_STORAGE_WRITE | SF_STORAGE_CREATE | SF_STORAGE_EXCL |
                         SF_STORAGE_TRUNCATE)) == 0, err);
    CHECK_ARG((flags & (SF_STORAGE_CREATE | SF_STORAGE_TRUNCATE)) == 0 ||
              (flags & SF_STORAGE_WRITE) != 0, err);
    *out = NULL;
    return st->open(st->ctx, path, flags, out, err);
}

int sf_storage_open_temp(const sf_storage *st, char *templ,
                         sf_storage_file **out, sf_error *err)
{
    size_t n;

    CHECK_ST(st, open_temp, err);
    CHECK_ARG(templ != NULL && out != NULL, err);
    n = strlen(templ);
    CHECK_ARG(n >= 6 && strcmp(templ + n - 6, "XXXXXX") == 0, err);
    *out = NULL;
    return st->open_temp(st->ctx, templ, out, err);
}

int sf_storage_close(const sf_storage *st, sf_storage_file **file,
                     sf_error *err)
{
    sf_storage_file *f;

    if (file == NULL || *file == NULL)
        return SF_OK;
    CHECK_ST(st, close, err);
    f = *file;
    *file = NULL;
    return st->close(st->ctx, f, err);
}

int sf_storage_read(const sf_storage *st, sf_storage_file *file,
                    uint64_t offset, void *buf, size_t len, size_t *got,
                    sf_error *err)
{
    CHECK_ST(st, read, err);
    CHECK_ARG(file != NULL && got != NULL && (buf != NULL || len == 0), err);
    *got = 0;
    return st->read(st->ctx, file, offset, buf, len, got, err);
}

int sf_storage_write(const sf_storage *st, sf_storage_file *file,
                     uint64_t offset, const void *buf, size_t len,
                     sf_error *err)
{
    CHECK_ST(st, write, err);
    CHECK_ARG(file != NULL && (buf != NULL || len == 0), err);
    CHECK_ARG(offset <= UINT64_MAX - len, err);
    return st->write(st->ctx, file, offset, buf, len, err);
}

int sf_storage_size(const sf_storage *st, sf_storage_file *file, uint64_t *out,
                    sf_error *err)
{
    CHECK_ST(st, size, err);
    CHECK_ARG(file != NULL && out != NULL, err);
    *out = 0;
    return st->size(st->ctx, file, out, err);
}

int sf_storage_truncate(const sf_storage *st, sf_storage_file *file,
                        uint64_t len, sf_error *err)
{
    CHECK_ST(st, truncate, err);
    CHECK_ARG(file != NULL, err);
    return st->truncate(st->ctx, file, len, err);
}

int sf_storage_sync(const sf_storage *st, sf_storage_file *file, unsigned how,
                    sf_error *err)
{
    CHECK_ST(st, sync, err);
    CHECK_ARG(file != NULL, err);
    CHECK_ARG(how == SF_STORAGE_SYNC_FULL || how == SF_STORAGE_SYNC_DATA, err);
    return st->sync(st->ctx, file, how, err);
}

int sf_storage_kind_of(const sf_storage *st, const char *path,
                       sf_storage_kind *out, sf_error *err)
{
    CHECK_ST(st, kind, err);
    CHECK_ARG(path != NULL && *path != '\0' && out != NULL, err);
    *out = SF_STORAGE_ABSENT;
    return st->kind(st->ctx, path, out, err);
}

int sf_storage_mkdir(const sf_storage *st, const char *path, sf_error *err)
{
    CHECK_ST(st, mkdir, err);
    CHECK_ARG(path != NULL && *path != '\0', err);
    return st->mkdir(st->ctx, path, err);
}

int sf_storage_sync_dir(const sf_storage *st, const char *path, sf_error *err)
{
    CHECK_ST(st, sync_dir, err);
    CHECK_ARG(path != NULL && *path != '\0', err);
    return st->sync_dir(st->ctx, path, err);
}

int sf_storage_rename(const sf_storage *st, const char *from, const char *to,
                      sf_error *err)
{
    CHECK_ST(st, rename, err);
    CHECK_ARG(from != NULL && *from != '\0' && to != NULL && *to != '\0', err);
    return st->rename(st->ctx, from, to, err);
}

int sf_storage_remove(const sf_storage *st, const char *path, sf_error *err)
{
    CHECK_ST(st, remove, err);
    CHECK_ARG(path != NULL && *path != '\0', err);
    return st->remove(st->ctx, path, err);
}

int sf_storage_list(const sf_storage *st, const char *dir,
                    sf_storage_list_fn fn, void *payload, sf_error *err)
{
    CHECK_ST(st, list, err);
    CHECK_ARG(dir != NULL && *dir != '\0' && fn != NULL, err);
    return st->list(st->ctx, dir, fn, payload, err);
}

int sf_storage_lock_acquire(const sf_storage *st, const char *path,
                    sf_storage_lock **out, sf_error *err)
{
    CHECK_ST(st, lock, err);
    CHECK_ARG(path != NULL && *path != '\0' && out != NULL, err);
    CHECK_ARG(st->unlock != NULL, err);
    *out = NULL;
    return st->lock(st->ctx, path, out, err);
}

void sf_storage_lock_release(const sf_storage *st, sf_storage_lock **lock)
{
    if (lock == NULL || *lock == NULL || st == NULL || st->unlock == NULL)
        return;
    st->unlock(st->ctx, *lock);
    *lock = NULL;
}

/* ---- compound operations ---- */

int sf_storage_append(const sf_storage *st, sf_storage_file *file,
                      const void *buf, size_t len, uint64_t *offset,
                      sf_error *err)
{
    uint64_t end;

    if (sf_storage_size(st, file, &end, err) != SF_OK)
        return SF_ERR;
    if (offset != NULL)
        *offset = end;
    return sf_storage_write(st, file, end, buf, len, err);
}

int sf_storage_read_all(const sf_storage *st, const char *path, size_t max,
                        char **out, size_t *len, sf_error *err)
{
    sf_storage_file *f = NULL;
    uint64_t size;
    char *buf;
    size_t got = 0;

    CHECK_ARG(out != NULL && len != NULL, err);
    *out = NULL;
    *len = 0;
    if (sf_storage_open(st, path, SF_STORAGE_READ, &f, err) != SF_OK)
        return SF_ERR;
    if (sf_storage_size(st, f, &size, err) != SF_OK)
        goto fail;
    if (size > (uint64_t)max) {
        sf_error_set(err, SF_EK_IO, "", "%s: %llu bytes exceeds the %zu-byte "
                     "limit", path, (unsigned long long)size, max);
        goto fail;
    }
    buf = malloc((size_t)size + 1);
    if (buf == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory reading %s", path);
        goto fail;
    }
    while (got < (size_t)size) {
        size_t n;

        if (sf_storage_read(st, f, got, buf + got, (size_t)size - got, &n,
                            err) != SF_OK) {
            free(buf);
            goto fail;
        }
        if (n == 0)
            break; /* shrank while reading: take what is there */
        got += n;
    }
    sf_storage_close(st, &f, NULL);
    buf[got] = '\0';
    *out = buf;
    *len = got;
    return SF_OK;
fail:
    sf_storage_close(st, &f, NULL);
    return SF_ERR;
}

int sf_storage_mkdir_p(const sf_storage *st, const char *path, sf_error *err)
{
    char *copy, *p;
    sf_storage_kind kind;

    CHECK_ARG(path != NULL && *path != '\0', err);
    copy = strdup(path);
    if (copy == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (p = copy + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;

            *p = '\0';
            if (sf_storage_mkdir(st, copy, err) != SF_OK) {
                free(copy);
                return SF_ERR;
            }
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    free(copy);
    if (sf_storage_kind_of(st, path, &kind, err) != SF_OK)
        return SF_ERR;
    if (kind != SF_STORAGE_DIRECTORY)
        return sf_error_set(err, SF_EK_IO, "", "%s: not a directory", path);
    return SF_OK;
}

/* The directory part of path ("." when there is none), malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    char *d;

    if (slash == NULL)
        return strdup(".");
    n = slash == path ? 1 : (size_t)(slash - path);
    d = malloc(n + 1);
    if (d != NULL) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/* "<path>.tmp.XXXXXX": leftover temps are recognisable by ".tmp." */
#define TEMP_SUFFIX ".tmp.XXXXXX"

int sf_storage_write_atomic(const sf_storage *st, const char *path,
                            const void *data, size_t len, sf_error *err)
{
    char *dir = NULL, *tmp = NULL;
    sf_storage_file *f = NULL;
    size_t plen;
    int rc = SF_ERR;

    CHECK_ARG(path != NULL && *path != '\0' && (data != NULL || len == 0), err);
    plen = strlen(path);
    dir = dir_of(path);
    tmp = malloc(plen + sizeof TEMP_SUFFIX);
    if (dir == NULL || tmp == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    if (sf_storage_mkdir_p(st, dir, err) != SF_OK)
        goto done;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, TEMP_SUFFIX, sizeof TEMP_SUFFIX);
    if (sf_storage_open_temp(st, tmp, &f, err) != SF_OK) {
        sf_error_prefix(err, "cannot create a temporary file for %s: ", path);
        goto done;
    }
    if (sf_storage_write(st, f, 0, data, len, err) != SF_OK ||
        sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, err) != SF_OK ||
        sf_storage_close(st, &f, err) != SF_OK)
        goto remove_tmp;
    if (sf_storage_rename(st, tmp, path, err) != SF_OK) {
        sf_error_prefix(err, "cannot replace %s: ", path);
        goto remove_tmp;
    }
    if (sf_storage_sync_dir(st, dir, err) != SF_OK)
        goto done;
    rc = SF_OK;
    goto done;
remove_tmp:
    sf_storage_close(st, &f, NULL);
    sf_storage_remove(st, tmp, NULL);
done:
    free(tmp);
    free(dir);
    return rc;
}

int sf_storage_rename_durable(const sf_storage *st, const char *from,
                              const char *to, sf_error *err)
{
    char *dir;
    int rc;

    CHECK_ARG(to != NULL && *to != '\0', err);
    if (sf_storage_rename(st, from, to, err) != SF_OK)
        return SF_ERR;
    dir = dir_of(to);
    if (dir == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_storage_sync_dir(st, dir, err);
    free(dir);
    return rc;
}

/* ---- version 2: optional methods and their fallbacks ---- */

/* Whether st is recent enough to have method m, and has it. */
#define HAS_V2(st, m) ((st)->version >= 2 && (st)->m != NULL)

bool sf_storage_concurrent(const sf_storage *st)
{
    return st != NULL && st->version >= 2 &&
           (st->flags & SF_STORAGE_CONCURRENT) != 0;
}

/* "dir/name", malloc'd. */
static char *join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);

    if (p != NULL) {
        memcpy(p, dir, a);
        if (a > 0 && dir[a - 1] != '/')
            p[a++] = '/';
        memcpy(p + a, name, b + 1);
    }
    return p;
}

typedef struct kind_adapter {
    const sf_storage *st;
    const char *dir;
    sf_storage_list_kind_fn fn;
    void *payload;
    sf_error *err;
} kind_adapter;

/* list_kind over list: one kind per entry. */
static int adapt_kind(const char *name, void *payload)
{
    kind_adapter *a = payload;
    sf_storage_kind kind;
    char *p = join(a->dir, name);
    int rc;

    if (p == NULL)
        return sf_error_set(a->err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_storage_kind_of(a->st, p, &kind, a->err);
    free(p);
    if (rc != SF_OK)
        return SF_ERR;
    if (kind == SF_STORAGE_ABSENT)
        return 0; /* gone since the listing: left out */
    return a->fn(name, kind, a->payload);
}

int sf_storage_list_kind(const sf_storage *st, const char *dir,
                         sf_storage_list_kind_fn fn, void *payload,
                         sf_error *err)
{
    kind_adapter a;

    CHECK_ST(st, list, err);
    CHECK_ARG(dir != NULL && *dir != '\0' && fn != NULL, err);
    if (HAS_V2(st, list_kind))
        return st->list_kind(st->ctx, dir, fn, payload, err);
    a.st = st;
    a.dir = dir;
    a.fn = fn;
    a.payload = payload;
    a.err = err;
    return st->list(st->ctx, dir, adapt_kind, &a, err);
}

int sf_storage_info_of(const sf_storage *st, const char *path,
                       sf_storage_info *out, sf_error *err)
{
    sf_storage_file *f = NULL;
    int rc;

    CHECK_ST(st, kind, err);
    CHECK_ARG(path != NULL && *path != '\0' && out != NULL, err);
    out->kind = SF_STORAGE_ABSENT;
    out->other = SF_STORAGE_OTHER_NONE;
    out->size = 0;
    if (HAS_V2(st, info))
        return st->info(st->ctx, path, out, err);
    if (st->kind(st->ctx, path, &out->kind, err) != SF_OK)
        return SF_ERR;
    if (out->kind == SF_STORAGE_OTHER)
        out->other = SF_STORAGE_OTHER_UNKNOWN;
    if (out->kind != SF_STORAGE_REGULAR)
        return SF_OK;
    if (sf_storage_open(st, path, SF_STORAGE_READ, &f, err) != SF_OK)
        return SF_ERR;
    rc = sf_storage_size(st, f, &out->size, err);
    sf_storage_close(st, &f, NULL);
    return rc;
}

int sf_storage_canonical(const sf_storage *st, const char *path, char **out,
                         sf_error *err)
{
    CHECK_ARG(out != NULL, err);
    *out = NULL;
    CHECK_ST(st, kind, err);
    CHECK_ARG(path != NULL && *path != '\0', err);
    if (!HAS_V2(st, canonical))
        return sf_error_set(err, SF_EK_NOT_SUPPORTED, "", "storage %s does "
                            "not support canonical",
                            st->name ? st->name : "?");
    return st->canonical(st->ctx, path, out, err);
}

bool sf_storage_same(const sf_storage *st, const char *a, const char *b)
{
    char *ca = NULL, *cb = NULL;
    bool same;

    if (a == NULL || b == NULL)
        return false;
    same = sf_storage_canonical(st, a, &ca, NULL) == SF_OK &&
           sf_storage_canonical(st, b, &cb, NULL) == SF_OK &&
           strcmp(ca, cb) == 0;
    free(ca);
    free(cb);
    return same;
}

/* The entries of one directory, collected before any is removed. */
typedef struct tree_names {
    char **name;
    sf_storage_kind *kind;
    size_t n, cap;
} tree_names;

static int collect(const char *name, sf_storage_kind kind, void *payload)
{
    tree_names *t = payload;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        char **nv = realloc(t->name, cap * sizeof *nv);
        sf_storage_kind *kv;

        if (nv == NULL)
            return SF_ERR;
        t->name = nv;
        kv = realloc(t->kind, cap * sizeof *kv);
        if (kv == NULL)
            return SF_ERR;
        t->kind = kv;
        t->cap = cap;
    }
    if ((t->name[t->n] = strdup(name)) == NULL)
        return SF_ERR;
    t->kind[t->n++] = kind;
    return 0;
}

static int tree_remove(const sf_storage *st, const char *path,
                       sf_storage_kind kind, sf_error *err)
{
    tree_names t = {0};
    int rc = SF_OK;

    if (kind == SF_STORAGE_DIRECTORY) {
        sf_error lerr;

        sf_error_clear(&lerr);
        rc = sf_storage_list_kind(st, path, collect, &t, &lerr);
        if (rc != SF_OK) {
            if (lerr.kind == NULL)
                sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            else if (err != NULL)
                *err = lerr;
        }
        for (size_t i = 0; i < t.n && rc == SF_OK; i++) {
            char *child = join(path, t.name[i]);

            rc = child == NULL ? sf_error_set(err, SF_EK_NOMEM, "", "out of "
                                              "memory")
                               : tree_remove(st, child, t.kind[i], err);
            free(child);
        }
        for (size_t i = 0; i < t.n; i++)
            free(t.name[i]);
        free(t.name);
        free(t.kind);
    }
    if (rc == SF_OK)
        rc = sf_storage_remove(st, path, err);
    return rc;
}

int sf_storage_remove_tree(const sf_storage *st, const char *path,
                           sf_error *err)
{
    sf_storage_kind kind;

    CHECK_ST(st, remove, err);
    CHECK_ARG(path != NULL && *path != '\0', err);
    if (HAS_V2(st, remove_tree))
        return st->remove_tree(st->ctx, path, err);
    if (sf_storage_kind_of(st, path, &kind, err) != SF_OK)
        return SF_ERR;
    if (kind == SF_STORAGE_ABSENT)
        return SF_OK;
    return tree_remove(st, path, kind, err);
}
