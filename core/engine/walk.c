/*
 * Directory walks over the storage seam: a listing taken whole (names,
 * then each name's kind), sizes through an open that refuses anything but
 * a regular file, and the byte count of a tree. Nothing here calls the
 * operating system: whatever storage is installed (POSIX, the simulated
 * disk, its overlay) answers.
 */
#include "engine/walk.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/layout.h"

typedef struct collect {
    sf_walk_dir *d;
    size_t cap;
} collect;

static int collect_one(const char *name, sf_storage_kind kind, void *payload)
{
    collect *c = payload;
    sf_walk_dir *d = c->d;

    if (d->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        sf_walk_entry *v = realloc(d->v, cap * sizeof *v);

        if (v == NULL)
            return 1;
        d->v = v;
        c->cap = cap;
    }
    if ((d->v[d->n].name = strdup(name)) == NULL)
        return 1;
    d->v[d->n].kind = kind;
    d->n++;
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const sf_walk_entry *)a)->name,
                  ((const sf_walk_entry *)b)->name);
}

void sf_walk_dir_free(sf_walk_dir *d)
{
    size_t i;

    if (d == NULL)
        return;
    for (i = 0; i < d->n; i++)
        free(d->v[i].name);
    free(d->v);
    d->v = NULL;
    d->n = 0;
}

int sf_walk_read(const char *dir, sf_walk_dir *out, sf_error *err)
{
    collect c = {out, 0};
    int rc;

    out->v = NULL;
    out->n = 0;
    rc = sf_storage_list_kind(sf_fs_storage(), dir, collect_one, &c, err);
    if (rc == 1) { /* collect_one ran out of memory */
        sf_walk_dir_free(out);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    if (rc != SF_OK) {
        sf_walk_dir_free(out);
        return SF_ERR;
    }
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, by_name);
    return SF_OK;
}

int sf_walk_read_through(const char *dir, sf_walk_dir *out, sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_storage_kind k;
    char *canon = NULL;
    int rc;

    if (sf_storage_kind_of(st, dir, &k, NULL) != SF_OK ||
        k != SF_STORAGE_OTHER ||
        sf_storage_canonical(st, dir, &canon, NULL) != SF_OK)
        return sf_walk_read(dir, out, err);
    rc = sf_walk_read(canon, out, err);
    if (rc != SF_OK) {
        char was[SF_ERROR_MESSAGE_MAX];

        snprintf(was, sizeof was, "cannot read directory %s", canon);
        sf_walk_reword(err, was, "cannot read directory %s", dir);
    }
    free(canon);
    return rc;
}

bool sf_walk_exists(const char *path)
{
    sf_storage_kind k;

    return path != NULL &&
           sf_storage_kind_of(sf_fs_storage(), path, &k, NULL) == SF_OK &&
           k != SF_STORAGE_ABSENT;
}

int sf_walk_file_size(const char *path, uint64_t *out, sf_error *err)
{
    sf_storage_info info;

    *out = 0;
    if (sf_storage_info_of(sf_fs_storage(), path, &info, err) != SF_OK)
        return SF_ERR;
    if (info.kind != SF_STORAGE_REGULAR)
        return sf_error_set(err, SF_EK_IO, "", "%s: not a regular file", path);
    *out = info.size;
    return SF_OK;
}

static int is_nomem(const sf_error *e)
{
    return e->kind != NULL && strcmp(e->kind, SF_EK_NOMEM) == 0;
}

static int tree_bytes(const char *dir, int depth, int depth_max,
                      sf_walk_skip_fn skip, uint64_t *sum, sf_error *err)
{
    sf_walk_dir d;
    sf_error e;
    size_t i;
    int rc = SF_OK;

    if (depth > depth_max)
        return SF_OK;
    sf_error_clear(&e);
    if (sf_walk_read(dir, &d, &e) != SF_OK)
        return is_nomem(&e) ? sf_error_set(err, SF_EK_NOMEM, "", "out of "
                                           "memory")
                            : SF_OK;
    for (i = 0; i < d.n && rc == SF_OK; i++) {
        const sf_walk_entry *x = &d.v[i];
        char *p;
        uint64_t n;

        if (skip != NULL && skip(x->name, depth))
            continue;
        if (x->kind != SF_STORAGE_REGULAR && x->kind != SF_STORAGE_DIRECTORY)
            continue;
        if ((p = sf_path_join(dir, x->name)) == NULL) {
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            break;
        }
        if (x->kind == SF_STORAGE_DIRECTORY) {
            rc = tree_bytes(p, depth + 1, depth_max, skip, sum, err);
        } else {
            sf_error_clear(&e);
            if (sf_walk_file_size(p, &n, &e) == SF_OK)
                *sum += n;
            else if (is_nomem(&e))
                rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
        free(p);
    }
    sf_walk_dir_free(&d);
    return rc;
}

int sf_walk_bytes(const char *path, int depth_max, sf_walk_skip_fn skip,
                  uint64_t *out, sf_error *err)
{
    sf_storage_kind k;
    sf_error e;

    *out = 0;
    if (sf_storage_kind_of(sf_fs_storage(), path, &k, NULL) != SF_OK)
        return SF_OK;
    if (k == SF_STORAGE_DIRECTORY)
        return tree_bytes(path, 0, depth_max, skip, out, err);
    if (k != SF_STORAGE_REGULAR)
        return SF_OK;
    sf_error_clear(&e);
    if (sf_walk_file_size(path, out, &e) != SF_OK && is_nomem(&e))
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}

int sf_walk_reword(sf_error *err, const char *was, const char *fmt, ...)
{
    char msg[SF_ERROR_MESSAGE_MAX];
    size_t n = strlen(was), head, rest;
    va_list ap;
    int w;

    if (err == NULL || strncmp(err->message, was, n) != 0)
        return SF_ERR;
    va_start(ap, fmt);
    w = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    head = w < 0 ? 0 : (size_t)w < sizeof msg ? (size_t)w : sizeof msg - 1;
    rest = strlen(err->message + n);
    if (rest > sizeof msg - 1 - head)
        rest = sizeof msg - 1 - head;
    memcpy(msg + head, err->message + n, rest);
    msg[head + rest] = '\0';
    memcpy(err->message, msg, head + rest + 1);
    return SF_ERR;
}
