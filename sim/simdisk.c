/*
 * The simulator's disk: a file system in memory behind the storage seam,
 * where a crash keeps exactly what was synced (snapfleet/simdisk.h has the
 * model). Files and directories are inodes in one table; a directory holds
 * two lists of names: the live one every call sees, and the durable one,
 * copied from the live one by sync_dir, which is all a crash keeps. A file
 * keeps its live bytes and the bytes of its last sync, plus where its last
 * unsynced write went, so a crash can tear it. An inode is freed when no
 * list, handle or lock refers to it: each inode counts the directory list
 * entries naming it (links), so that test costs nothing per call. Handles and locks carry the disk's
 * crash generation: after a crash they are stale.
 */
#include "snapfleet/simdisk.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim_internal.h"

#define NO_INO UINT32_MAX

typedef struct sd_entry {
    char *name;
    uint32_t ino;
} sd_entry;

typedef struct sd_list {
    sd_entry *v;
    size_t n, cap;
} sd_list;

typedef struct sd_inode {
    bool used, is_dir;
    /* files */
    uint8_t *data;
    size_t len, cap;
    uint8_t *synced;
    size_t synced_len;
    bool has_last; /* an unsynced write, the last change to the file */
    uint64_t last_off;
    size_t last_len;
    unsigned handles;
    uint32_t links; /* entries in live and durable lists naming it */
    /* directories */
    sd_list live, durable;
} sd_inode;

struct sf_storage_file {
    uint32_t ino;
    uint64_t gen;
    bool writable;
    char path[];
};

struct sf_storage_lock {
    uint32_t ino;
    uint64_t gen;
};

struct sf_simdisk {
    sf_storage storage;
    sf_simdisk_options opts;
    sim_rng rng;
    sd_inode *inodes;
    size_t ninodes, capinodes;
    size_t free_hint; /* no unused inode below this one */
    uint64_t gen;
    uint32_t *locked; /* inodes locked in this generation */
    size_t nlocked, caplocked;
    sf_simdisk_fault faults[SF_SIMDISK_FAULTS_MAX];
    uint64_t fault_seen[SF_SIMDISK_FAULTS_MAX];
    size_t nfaults;
    uint64_t now_ns, used, injected;
};

/* ---- small helpers ---- */

static int oom(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "simdisk: out of memory");
}

static int fail(sf_error *err, int errnum, const char *what, const char *path)
{
    return sf_error_set_errno(err, errnum, "", "%s %s", what, path);
}

/* The list functions keep the inodes' link counts when given the disk
 * (d NULL: a temporary copy, which counts nothing). */
static void link_inc(sf_simdisk *d, uint32_t ino)
{
    if (d != NULL && ino != NO_INO)
        d->inodes[ino].links++;
}

static void link_dec(sf_simdisk *d, uint32_t ino)
{
    /* an inode released before its parent's list (a crash, the disk
     * freed) has nothing left to count */
    if (d != NULL && ino != NO_INO && d->inodes[ino].used)
        d->inodes[ino].links--;
}

static int list_add(sf_simdisk *d, sd_list *l, const char *name, uint32_t ino)
{
    char *copy = strdup(name);

    if (copy == NULL)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        sd_entry *v = realloc(l->v, cap * sizeof *v);
        if (v == NULL) {
            free(copy);
            return -1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n].name = copy;
    l->v[l->n].ino = ino;
    l->n++;
    link_inc(d, ino);
    return 0;
}

static void list_del(sf_simdisk *d, sd_list *l, size_t i)
{
    link_dec(d, l->v[i].ino);
    free(l->v[i].name);
    memmove(&l->v[i], &l->v[i + 1], (l->n - i - 1) * sizeof l->v[0]);
    l->n--;
}

static void list_clear(sf_simdisk *d, sd_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        link_dec(d, l->v[i].ino);
        free(l->v[i].name);
    }
    l->n = 0;
}

static void list_free(sf_simdisk *d, sd_list *l)
{
    list_clear(d, l);
    free(l->v);
    l->v = NULL;
    l->cap = 0;
}

static int list_copy(sf_simdisk *d, sd_list *to, const sd_list *from)
{
    list_clear(d, to);
    for (size_t i = 0; i < from->n; i++)
        if (list_add(d, to, from->v[i].name, from->v[i].ino) != 0)
            return -1;
    return 0;
}

static size_t list_find(const sd_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return i;
    return SIZE_MAX;
}

static int inode_new(sf_simdisk *d, bool is_dir, uint32_t *out)
{
    size_t i;

    /* the lowest unused number, as a scan from 1 finds it */
    for (i = d->free_hint > 1 ? d->free_hint : 1; i < d->ninodes; i++)
        if (!d->inodes[i].used)
            break;
    if (i == d->ninodes) {
        if (d->ninodes == d->capinodes) {
            size_t cap = d->capinodes * 2;
            sd_inode *v = realloc(d->inodes, cap * sizeof *v);

            if (v == NULL)
                return -1;
            d->inodes = v;
            d->capinodes = cap;
        }
        d->ninodes++;
    }
    d->free_hint = i + 1;
    memset(&d->inodes[i], 0, sizeof d->inodes[i]);
    d->inodes[i].used = true;
    d->inodes[i].is_dir = is_dir;
    *out = (uint32_t)i;
    return 0;
}

static void inode_release(sf_simdisk *d, uint32_t ino)
{
    sd_inode *n = &d->inodes[ino];

    d->used -= n->len;
    free(n->data);
    free(n->synced);
    n->used = false; /* its own lists' entries may name it */
    list_free(d, &n->live);
    list_free(d, &n->durable);
    memset(n, 0, sizeof *n);
    if (ino < d->free_hint)
        d->free_hint = ino;
}

static bool is_locked(const sf_simdisk *d, uint32_t ino)
{
    for (size_t i = 0; i < d->nlocked; i++)
        if (d->locked[i] == ino)
            return true;
    return false;
}

static bool referenced(const sf_simdisk *d, uint32_t ino)
{
    return d->inodes[ino].handles > 0 || d->inodes[ino].links > 0 ||
           is_locked(d, ino);
}

/* Frees ino when nothing refers to it any more, then what it held. */
static void gc(sf_simdisk *d, uint32_t ino)
{
    sd_inode *n;
    uint32_t *kids;
    size_t nkids = 0;

    if (ino == 0 || ino == NO_INO || !d->inodes[ino].used || referenced(d, ino))
        return;
    n = &d->inodes[ino];
    kids = malloc((n->live.n + n->durable.n + 1) * sizeof *kids);
    if (kids != NULL) {
        for (size_t j = 0; j < n->live.n; j++)
            kids[nkids++] = n->live.v[j].ino;
        for (size_t j = 0; j < n->durable.n; j++)
            kids[nkids++] = n->durable.v[j].ino;
    }
    inode_release(d, ino);
    for (size_t j = 0; j < nkids; j++)
        gc(d, kids[j]);
    free(kids);
}

/* ---- paths ---- */

/* Splits path into a NUL-separated copy of its components (empty and "."
 * skipped); *count receives how many. ".." is refused. */
static int split(const char *path, char **out, size_t *count, sf_error *err)
{
    char *copy = malloc(strlen(path) + 1), *w;
    const char *p = path;

    if (copy == NULL)
        return oom(err);
    w = copy;
    *count = 0;
    while (*p != '\0') {
        const char *start;
        size_t n;

        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        start = p;
        while (*p != '\0' && *p != '/')
            p++;
        n = (size_t)(p - start);
        if (n == 1 && start[0] == '.')
            continue;
        if (n == 2 && start[0] == '.' && start[1] == '.') {
            free(copy);
            return fail(err, EINVAL, "simdisk: '..' is not supported in", path);
        }
        memcpy(w, start, n);
        w[n] = '\0';
        w += n + 1;
        (*count)++;
    }
    *out = copy;
    return SF_OK;
}

typedef struct sd_where {
    char *comps;     /* owned */
    const char *name; /* last component, "" for the root */
    uint32_t parent; /* NO_INO for the root */
    uint32_t ino;    /* NO_INO when absent */
    int errnum;      /* why resolve failed */
} sd_where;

/* Finds path through the live names: every directory on the way must
 * exist (ENOENT) and be one (ENOTDIR). */
static int resolve(sf_simdisk *d, const char *path, sd_where *w,
                   const char *what, sf_error *err)
{
    size_t count, i;
    const char *c;
    uint32_t at = 0;

    memset(w, 0, sizeof *w);
    w->parent = NO_INO;
    w->ino = 0;
    w->name = "";
    if (split(path, &w->comps, &count, err) != SF_OK) {
        w->errnum = EINVAL;
        return SF_ERR;
    }
    c = w->comps;
    for (i = 0; i < count; i++) {
        const sd_inode *dir = &d->inodes[at];
        size_t k;

        if (!dir->is_dir) {
            free(w->comps);
            w->comps = NULL;
            w->errnum = ENOTDIR;
            return fail(err, ENOTDIR, what, path);
        }
        k = list_find(&dir->live, c);
        if (i + 1 == count) {
            w->parent = at;
            w->name = c;
            w->ino = k == SIZE_MAX ? NO_INO : dir->live.v[k].ino;
            return SF_OK;
        }
        if (k == SIZE_MAX) {
            free(w->comps);
            w->comps = NULL;
            w->errnum = ENOENT;
            return fail(err, ENOENT, what, path);
        }
        at = dir->live.v[k].ino;
        c += strlen(c) + 1;
    }
    return SF_OK; /* the root */
}

/* ---- faults and time ---- */

static int inject(sf_simdisk *d, unsigned op, const char *what,
                  const char *path, sf_error *err)
{
    int errnum = 0;

    d->now_ns += d->opts.latency_ns_call;
    if (op == SF_SIMDISK_SYNC)
        d->now_ns += d->opts.latency_ns_sync;
    for (size_t i = 0; i < d->nfaults; i++) {
        const sf_simdisk_fault *f = &d->faults[i];

        if ((f->ops & op) == 0)
            continue;
        d->fault_seen[i]++;
        if (d->fault_seen[i] == f->nth ||
            (f->persistent && d->fault_seen[i] > f->nth)) {
            d->now_ns += f->latency_ns;
            if (errnum == 0)
                errnum = f->errnum;
        }
    }
    if (errnum == 0 && d->opts.eio_per_mille > 0 && (d->opts.eio_ops & op) &&
        sf_sim_rng_range(&d->rng, 0, 999) < d->opts.eio_per_mille)
        errnum = EIO;
    if (errnum != 0) {
        d->injected++;
        return fail(err, errnum, what, path);
    }
    return SF_OK;
}

static int live_file(sf_simdisk *d, sf_storage_file *f, const char *what,
                     sf_error *err)
{
    if (f->gen != d->gen)
        return sf_error_set_errno(err, EIO, "", "%s %s (stale handle: the "
                                  "disk crashed)", what, f->path);
    return SF_OK;
}

/* Resizes a file's live bytes (zero-filling growth) within the capacity. */
static int resize(sf_simdisk *d, sd_inode *n, uint64_t len, const char *what,
                  const char *path, sf_error *err)
{
    if (len > SIZE_MAX / 2)
        return fail(err, EFBIG, what, path);
    if (len > n->len && d->opts.capacity_bytes != 0 &&
        d->used + (len - n->len) > d->opts.capacity_bytes) {
        d->injected++;
        return fail(err, ENOSPC, what, path);
    }
    if (len > n->cap) {
        size_t cap = n->cap ? n->cap : 64;
        uint8_t *data;

        while (cap < len)
            cap *= 2;
        data = realloc(n->data, cap);
        if (data == NULL)
            return oom(err);
        n->data = data;
        n->cap = cap;
    }
    if (len > n->len)
        memset(n->data + n->len, 0, (size_t)len - n->len);
    d->used = d->used - n->len + (size_t)len;
    n->len = (size_t)len;
    return SF_OK;
}

/* ---- files ---- */

static int handle_new(sf_simdisk *d, uint32_t ino, bool writable,
                      const char *path, sf_storage_file **out, sf_error *err)
{
    size_t n = strlen(path) + 1;
    sf_storage_file *f = malloc(sizeof *f + n);

    if (f == NULL)
        return oom(err);
    f->ino = ino;
    f->gen = d->gen;
    f->writable = writable;
    memcpy(f->path, path, n);
    d->inodes[ino].handles++;
    *out = f;
    return SF_OK;
}

static int d_open(void *ctx, const char *path, unsigned flags,
                  sf_storage_file **out, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where w;
    uint32_t ino;
    int rc = SF_ERR;

    if (inject(d, SF_SIMDISK_OPEN, "cannot open", path, err) != SF_OK ||
        resolve(d, path, &w, "cannot open", err) != SF_OK)
        return SF_ERR;
    ino = w.ino;
    if (ino == NO_INO) {
        if (!(flags & SF_STORAGE_CREATE)) {
            fail(err, ENOENT, "cannot open", path);
            goto done;
        }
        if (inode_new(d, false, &ino) != 0) {
            oom(err);
            goto done;
        }
        if (list_add(d, &d->inodes[w.parent].live, w.name, ino) != 0) {
            inode_release(d, ino);
            oom(err);
            goto done;
        }
    } else if (d->inodes[ino].is_dir) {
        if (flags & SF_STORAGE_WRITE)
            fail(err, EISDIR, "cannot open", path);
        else
            sf_error_set(err, SF_EK_IO, "", "%s: not a regular file", path);
        goto done;
    } else if (flags & SF_STORAGE_EXCL) {
        fail(err, EEXIST, "cannot open", path);
        goto done;
    } else if (flags & SF_STORAGE_TRUNCATE) {
        d->inodes[ino].has_last = false;
        if (resize(d, &d->inodes[ino], 0, "cannot open", path, err) != SF_OK)
            goto done;
    }
    rc = handle_new(d, ino, (flags & SF_STORAGE_WRITE) != 0, path, out, err);
    if (rc != SF_OK)
        gc(d, ino);
done:
    free(w.comps);
    return rc;
}

static int d_open_temp(void *ctx, char *templ, sf_storage_file **out,
                       sf_error *err)
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    sf_simdisk *d = ctx;
    char *x = templ + strlen(templ) - 6;

    for (int attempt = 0; attempt < 100; attempt++) {
        sd_where w;
        bool taken;

        for (int i = 0; i < 6; i++)
            x[i] = digits[sf_sim_rng_range(&d->rng, 0, sizeof digits - 2)];
        if (resolve(d, templ, &w, "cannot create", err) != SF_OK)
            return SF_ERR;
        taken = w.ino != NO_INO;
        free(w.comps);
        if (!taken)
            return d_open(ctx, templ, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                          SF_STORAGE_EXCL, out, err);
    }
    return fail(err, EEXIST, "cannot create", templ);
}

static int d_close(void *ctx, sf_storage_file *file, sf_error *err)
{
    sf_simdisk *d = ctx;

    (void)err;
    if (file->gen == d->gen) {
        d->inodes[file->ino].handles--;
        gc(d, file->ino);
    }
    free(file);
    return SF_OK;
}

static int d_read(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                  size_t len, size_t *got, sf_error *err)
{
    sf_simdisk *d = ctx;
    const sd_inode *n;

    if (live_file(d, file, "cannot read", err) != SF_OK ||
        inject(d, SF_SIMDISK_READ, "cannot read", file->path, err) != SF_OK)
        return SF_ERR;
    n = &d->inodes[file->ino];
    if (offset >= n->len)
        return SF_OK;
    *got = len < n->len - offset ? len : n->len - (size_t)offset;
    memcpy(buf, n->data + offset, *got);
    return SF_OK;
}

static int d_write(void *ctx, sf_storage_file *file, uint64_t offset,
                   const void *buf, size_t len, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_inode *n;

    if (live_file(d, file, "cannot write", err) != SF_OK)
        return SF_ERR;
    if (!file->writable)
        return fail(err, EBADF, "cannot write", file->path);
    if (inject(d, SF_SIMDISK_WRITE, "cannot write", file->path, err) != SF_OK)
        return SF_ERR;
    if (len == 0)
        return SF_OK;
    n = &d->inodes[file->ino];
    if (offset + len > n->len &&
        resize(d, n, offset + len, "cannot write", file->path, err) != SF_OK)
        return SF_ERR;
    memcpy(n->data + offset, buf, len);
    n->has_last = true;
    n->last_off = offset;
    n->last_len = len;
    return SF_OK;
}

static int d_size(void *ctx, sf_storage_file *file, uint64_t *out,
                  sf_error *err)
{
    sf_simdisk *d = ctx;

    if (live_file(d, file, "cannot stat", err) != SF_OK)
        return SF_ERR;
    *out = d->inodes[file->ino].len;
    return SF_OK;
}

static int d_truncate(void *ctx, sf_storage_file *file, uint64_t len,
                      sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_inode *n;

    if (live_file(d, file, "cannot truncate", err) != SF_OK)
        return SF_ERR;
    if (!file->writable)
        return fail(err, EBADF, "cannot truncate", file->path);
    if (inject(d, SF_SIMDISK_TRUNCATE, "cannot truncate", file->path, err) !=
        SF_OK)
        return SF_ERR;
    n = &d->inodes[file->ino];
    if (resize(d, n, len, "cannot truncate", file->path, err) != SF_OK)
        return SF_ERR;
    n->has_last = false; /* the truncate is now the last change */
    return SF_OK;
}

static int d_sync(void *ctx, sf_storage_file *file, unsigned how,
                  sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_inode *n;
    uint8_t *copy = NULL;

    (void)how;
    if (live_file(d, file, "cannot write", err) != SF_OK ||
        inject(d, SF_SIMDISK_SYNC, "cannot write (sync)", file->path, err) !=
            SF_OK)
        return SF_ERR;
    n = &d->inodes[file->ino];
    if (n->len > 0) {
        copy = malloc(n->len);
        if (copy == NULL)
            return oom(err);
        memcpy(copy, n->data, n->len);
    }
    free(n->synced);
    n->synced = copy;
    n->synced_len = n->len;
    n->has_last = false;
    return SF_OK;
}

/* ---- names ---- */

static int d_kind(void *ctx, const char *path, sf_storage_kind *out,
                  sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where w;

    if (resolve(d, path, &w, "cannot stat", err) != SF_OK) {
        if (w.errnum == ENOENT) {
            *out = SF_STORAGE_ABSENT; /* lstat's ENOENT */
            return SF_OK;
        }
        return SF_ERR;
    }
    free(w.comps);
    *out = w.ino == NO_INO              ? SF_STORAGE_ABSENT
           : d->inodes[w.ino].is_dir ? SF_STORAGE_DIRECTORY
                                     : SF_STORAGE_REGULAR;
    return SF_OK;
}

static int d_mkdir(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where w;
    uint32_t ino;
    int rc = SF_ERR;

    if (inject(d, SF_SIMDISK_MKDIR, "cannot create directory", path, err) !=
            SF_OK ||
        resolve(d, path, &w, "cannot create directory", err) != SF_OK)
        return SF_ERR;
    if (w.ino != NO_INO) {
        rc = SF_OK; /* exists: fine, as mkdir's EEXIST */
        goto done;
    }
    if (inode_new(d, true, &ino) != 0) {
        oom(err);
        goto done;
    }
    /* durable at once (see the header): the name, when a removal not yet
     * synced left it in the durable list, now stands for the new directory
     * (never twice) */
    if (list_add(d, &d->inodes[w.parent].live, w.name, ino) != 0) {
        oom(err);
        goto done;
    }
    {
        sd_list *durable = &d->inodes[w.parent].durable;
        size_t k = list_find(durable, w.name);

        if (k != SIZE_MAX) {
            uint32_t old = durable->v[k].ino;

            link_dec(d, old);
            durable->v[k].ino = ino;
            link_inc(d, ino);
            gc(d, old);
        } else if (list_add(d, durable, w.name, ino) != 0) {
            oom(err);
            goto done;
        }
    }
    rc = SF_OK;
done:
    free(w.comps);
    return rc;
}

static int d_sync_dir(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_inode *n;
    sd_list old = {0};
    sd_where w;
    int rc = SF_OK;

    if (inject(d, SF_SIMDISK_SYNC, "cannot sync directory", path, err) !=
            SF_OK ||
        resolve(d, path, &w, "cannot sync directory", err) != SF_OK)
        return SF_ERR;
    if (w.ino == NO_INO || !d->inodes[w.ino].is_dir) {
        rc = fail(err, w.ino == NO_INO ? ENOENT : ENOTDIR,
                  "cannot sync directory", path);
        goto done;
    }
    n = &d->inodes[w.ino];
    old = n->durable;
    memset(&n->durable, 0, sizeof n->durable);
    if (list_copy(d, &n->durable, &n->live) != 0) {
        rc = oom(err);
        list_free(d, &n->durable);
        n->durable = old;
        memset(&old, 0, sizeof old);
        goto done;
    }
    /* the inodes only the old durable list held are garbage now */
    for (size_t i = 0; i < old.n; i++) {
        uint32_t ino = old.v[i].ino;

        link_dec(d, ino);
        old.v[i].ino = NO_INO;
        gc(d, ino);
    }
done:
    list_free(d, &old);
    free(w.comps);
    return rc;
}

/* Is the canonical path b inside directory a (or a itself)? */
static bool inside(const sd_where *a, size_t na, const sd_where *b, size_t nb)
{
    const char *x = a->comps, *y = b->comps;

    if (nb < na)
        return false;
    for (size_t i = 0; i < na; i++) {
        if (strcmp(x, y) != 0)
            return false;
        x += strlen(x) + 1;
        y += strlen(y) + 1;
    }
    return true;
}

static size_t depth(const char *path)
{
    char *comps = NULL;
    size_t n = 0;

    if (split(path, &comps, &n, NULL) != SF_OK)
        return 0;
    free(comps);
    return n;
}

static int d_rename(void *ctx, const char *from, const char *to, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where a, b;
    uint32_t old = NO_INO;
    sd_list *src;
    size_t k;
    int rc = SF_ERR;

    if (inject(d, SF_SIMDISK_RENAME, "cannot rename", from, err) != SF_OK ||
        resolve(d, from, &a, "cannot rename", err) != SF_OK)
        return SF_ERR;
    if (resolve(d, to, &b, "cannot rename", err) != SF_OK) {
        free(a.comps);
        return SF_ERR;
    }
    if (a.ino == NO_INO || a.parent == NO_INO || b.parent == NO_INO) {
        sf_error_set_errno(err, a.ino == NO_INO ? ENOENT : EBUSY, "",
                           "cannot rename %s to %s", from, to);
        goto done;
    }
    if (a.ino == b.ino) {
        rc = SF_OK;
        goto done;
    }
    if (d->inodes[a.ino].is_dir &&
        inside(&a, depth(from), &b, depth(to))) {
        sf_error_set_errno(err, EINVAL, "", "cannot rename %s to %s", from, to);
        goto done;
    }
    if (b.ino != NO_INO) {
        const sd_inode *t = &d->inodes[b.ino];
        int e = 0;

        if (t->is_dir && !d->inodes[a.ino].is_dir)
            e = EISDIR;
        else if (!t->is_dir && d->inodes[a.ino].is_dir)
            e = ENOTDIR;
        else if (t->is_dir && t->live.n > 0)
            e = ENOTEMPTY;
        if (e != 0) {
            sf_error_set_errno(err, e, "", "cannot rename %s to %s", from, to);
            goto done;
        }
        k = list_find(&d->inodes[b.parent].live, b.name);
        old = b.ino;
        list_del(d, &d->inodes[b.parent].live, k);
    }
    if (list_add(d, &d->inodes[b.parent].live, b.name, a.ino) != 0) {
        oom(err);
        goto done;
    }
    src = &d->inodes[a.parent].live;
    k = list_find(src, a.name);
    list_del(d, src, k);
    gc(d, old);
    rc = SF_OK;
done:
    free(a.comps);
    free(b.comps);
    return rc;
}

static int d_remove(void *ctx, const char *path, sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where w;
    int rc = SF_ERR;

    if (inject(d, SF_SIMDISK_REMOVE, "cannot remove", path, err) != SF_OK ||
        resolve(d, path, &w, "cannot remove", err) != SF_OK)
        return SF_ERR;
    if (w.ino == NO_INO || w.parent == NO_INO) {
        fail(err, w.ino == NO_INO ? ENOENT : EBUSY, "cannot remove", path);
        goto done;
    }
    if (d->inodes[w.ino].is_dir && d->inodes[w.ino].live.n > 0) {
        fail(err, ENOTEMPTY, "cannot remove", path);
        goto done;
    }
    list_del(d, &d->inodes[w.parent].live,
             list_find(&d->inodes[w.parent].live, w.name));
    gc(d, w.ino);
    rc = SF_OK;
done:
    free(w.comps);
    return rc;
}

/* list and list_kind: kfn set for list_kind, else fn. */
static int list_names(sf_simdisk *d, const char *dir, sf_storage_list_fn fn,
                      sf_storage_list_kind_fn kfn, void *payload,
                      sf_error *err)
{
    sd_list names = {0};
    sf_storage_kind *kinds = NULL;
    sd_where w;
    int rc = SF_OK;

    if (inject(d, SF_SIMDISK_LIST, "cannot read directory", dir, err) !=
            SF_OK ||
        resolve(d, dir, &w, "cannot read directory", err) != SF_OK)
        return SF_ERR;
    if (w.ino == NO_INO || !d->inodes[w.ino].is_dir) {
        rc = fail(err, w.ino == NO_INO ? ENOENT : ENOTDIR,
                  "cannot read directory", dir);
        goto done;
    }
    /* a copy: fn may change the directory */
    if (list_copy(NULL, &names, &d->inodes[w.ino].live) != 0) {
        rc = oom(err);
        goto done;
    }
    if (kfn != NULL && names.n > 0) {
        /* the kinds as listed, before fn can change anything */
        kinds = malloc(names.n * sizeof *kinds);
        if (kinds == NULL) {
            rc = oom(err);
            goto done;
        }
        for (size_t i = 0; i < names.n; i++)
            kinds[i] = d->inodes[names.v[i].ino].is_dir ? SF_STORAGE_DIRECTORY
                                                        : SF_STORAGE_REGULAR;
    }
    for (size_t i = 0; i < names.n && rc == 0; i++)
        rc = kfn != NULL ? kfn(names.v[i].name, kinds[i], payload)
                         : fn(names.v[i].name, payload);
done:
    free(kinds);
    list_free(NULL, &names);
    free(w.comps);
    return rc;
}

static int d_list(void *ctx, const char *dir, sf_storage_list_fn fn,
                  void *payload, sf_error *err)
{
    return list_names(ctx, dir, fn, NULL, payload, err);
}

static int d_list_kind(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                       void *payload, sf_error *err)
{
    return list_names(ctx, dir, NULL, fn, payload, err);
}

static int d_info(void *ctx, const char *path, sf_storage_info *out,
                  sf_error *err)
{
    sf_simdisk *d = ctx;
    sd_where w;

    if (resolve(d, path, &w, "cannot stat", err) != SF_OK) {
        if (w.errnum == ENOENT)
            return SF_OK; /* lstat's ENOENT: the wrapper set ABSENT */
        return SF_ERR;
    }
    free(w.comps);
    if (w.ino == NO_INO)
        return SF_OK;
    if (d->inodes[w.ino].is_dir) {
        out->kind = SF_STORAGE_DIRECTORY;
    } else {
        out->kind = SF_STORAGE_REGULAR;
        out->size = d->inodes[w.ino].len;
    }
    return SF_OK;
}

/* No symbolic links: the canonical name is the lexical one, "/" followed
 * by the components. */
static int d_canonical(void *ctx, const char *path, char **out, sf_error *err)
{
    sf_simdisk *d = ctx;
    size_t count = 0, n = strlen(path) + 2;
    sd_where w;
    char *p, *at;
    const char *c;

    if (resolve(d, path, &w, "cannot resolve", err) != SF_OK)
        return SF_ERR;
    if (w.ino == NO_INO) {
        free(w.comps);
        return fail(err, ENOENT, "cannot resolve", path);
    }
    if ((p = malloc(n)) == NULL) {
        free(w.comps);
        return oom(err);
    }
    at = p;
    c = w.comps;
    if (w.parent != NO_INO)
        count = depth(path);
    for (size_t i = 0; i < count; i++) {
        size_t len = strlen(c);

        *at++ = '/';
        memcpy(at, c, len);
        at += len;
        c += len + 1;
    }
    if (at == p)
        *at++ = '/';
    *at = '\0';
    free(w.comps);
    *out = p;
    return SF_OK;
}

static int d_lock(void *ctx, const char *path, sf_storage_lock **out,
                  sf_error *err)
{
    sf_simdisk *d = ctx;
    sf_storage_file *f = NULL;
    sf_storage_lock *lock;
    uint32_t ino;

    if (d_open(ctx, path, SF_STORAGE_WRITE | SF_STORAGE_CREATE, &f, err) !=
        SF_OK)
        return SF_ERR;
    ino = f->ino;
    if (is_locked(d, ino)) {
        d_close(ctx, f, NULL);
        return sf_error_set(err, SF_EK_LOCKED, "", "%s is locked by another "
                            "running snapfleet", path);
    }
    lock = malloc(sizeof *lock);
    if (lock == NULL) {
        free(lock);
        d_close(ctx, f, NULL);
        return oom(err);
    }
    if (d->nlocked == d->caplocked) {
        size_t cap = d->caplocked ? d->caplocked * 2 : 4;
        uint32_t *v = realloc(d->locked, cap * sizeof *v);
        if (v == NULL) {
            free(lock);
            d_close(ctx, f, NULL);
            return oom(err);
        }
        d->locked = v;
        d->caplocked = cap;
    }
    d->locked[d->nlocked++] = ino;
    lock->ino = ino;
    lock->gen = d->gen;
    d_close(ctx, f, NULL); /* the lock keeps the inode */
    *out = lock;
    return SF_OK;
}

static void d_unlock(void *ctx, sf_storage_lock *lock)
{
    sf_simdisk *d = ctx;

    if (lock->gen == d->gen) {
        for (size_t i = 0; i < d->nlocked; i++) {
            if (d->locked[i] == lock->ino) {
                d->locked[i] = d->locked[--d->nlocked];
                break;
            }
        }
        gc(d, lock->ino);
    }
    free(lock);
}

/* ---- the disk ---- */

int sf_simdisk_new(sf_simdisk **out, const sf_simdisk_options *opts,
                   sf_error *err)
{
    static const sf_simdisk_options defaults = SF_SIMDISK_OPTIONS_INIT;
    sf_simdisk *d;

    *out = NULL;
    if (opts == NULL)
        opts = &defaults;
    if (opts->version != 1 || opts->tear_per_mille > 1000 ||
        opts->eio_per_mille > 1000)
        return sf_error_set(err, SF_EK_USAGE, "", "simdisk: invalid options");
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return oom(err);
    d->inodes = calloc(16, sizeof *d->inodes);
    if (d->inodes == NULL) {
        free(d);
        return oom(err);
    }
    d->ninodes = 1;
    d->capinodes = 16;
    d->free_hint = 1;
    d->inodes[0].used = true;
    d->inodes[0].is_dir = true;
    d->opts = *opts;
    sf_sim_rng_seed(&d->rng, sf_sim_mix(opts->seed, 0x5d15c));
    d->storage = (sf_storage){
        .version = SF_STORAGE_VERSION,
        .name = "simdisk",
        .ctx = d,
        .open = d_open,
        .open_temp = d_open_temp,
        .close = d_close,
        .read = d_read,
        .write = d_write,
        .size = d_size,
        .truncate = d_truncate,
        .sync = d_sync,
        .kind = d_kind,
        .mkdir = d_mkdir,
        .sync_dir = d_sync_dir,
        .rename = d_rename,
        .remove = d_remove,
        .list = d_list,
        .lock = d_lock,
        .unlock = d_unlock,
        /* not SF_STORAGE_CONCURRENT: one thread at a time, in an order
         * the seed decides (faults and temp names count calls) */
        .list_kind = d_list_kind,
        .info = d_info,
        .canonical = d_canonical,
    };
    *out = d;
    return SF_OK;
}

void sf_simdisk_free(sf_simdisk *disk)
{
    if (disk == NULL)
        return;
    for (size_t i = 0; i < disk->ninodes; i++)
        if (disk->inodes[i].used)
            inode_release(disk, (uint32_t)i);
    free(disk->inodes);
    free(disk->locked);
    free(disk);
}

const sf_storage *sf_simdisk_storage(sf_simdisk *disk)
{
    return &disk->storage;
}

static void mark(const sf_simdisk *d, uint32_t ino, bool *seen)
{
    const sd_inode *n = &d->inodes[ino];

    if (seen[ino])
        return;
    seen[ino] = true;
    if (n->is_dir)
        for (size_t i = 0; i < n->durable.n; i++)
            mark(d, n->durable.v[i].ino, seen);
}

/* The crash itself; forced (NO_INO = none) tears exactly keep bytes of
 * that inode's last write. Returns the number of torn writes, or -1 when
 * memory ran out (the disk is then still consistent, untorn). */
static int crash(sf_simdisk *d, uint32_t forced, size_t keep)
{
    bool *seen = calloc(d->ninodes, sizeof *seen);
    int torn = 0;

    if (seen == NULL)
        return -1;
    d->gen++;
    d->nlocked = 0;
    mark(d, 0, seen);
    for (size_t i = 0; i < d->ninodes; i++) {
        sd_inode *n = &d->inodes[i];
        size_t tear = 0, newlen;
        bool torn_here = false;
        uint8_t *data;

        if (!n->used)
            continue;
        if (!seen[i]) {
            inode_release(d, (uint32_t)i);
            continue;
        }
        n->handles = 0;
        if (n->is_dir) {
            if (list_copy(d, &n->live, &n->durable) != 0) {
                free(seen);
                return -1;
            }
            continue;
        }
        if (n->has_last) {
            if (forced != NO_INO) {
                torn_here = i == forced;
                tear = keep;
            } else if (d->opts.tear_per_mille > 0 &&
                       sf_sim_rng_range(&d->rng, 0, 999) <
                           d->opts.tear_per_mille) {
                torn_here = true;
                tear = (size_t)sf_sim_rng_range(&d->rng, 0, n->last_len - 1);
            }
        }
        newlen = n->synced_len;
        if (torn_here && tear > 0 && n->last_off + tear > newlen)
            newlen = (size_t)n->last_off + tear;
        data = newlen > 0 ? calloc(newlen, 1) : NULL;
        if (newlen > 0 && data == NULL) {
            free(seen);
            return -1;
        }
        if (n->synced_len > 0)
            memcpy(data, n->synced, n->synced_len);
        if (torn_here && tear > 0)
            memcpy(data + n->last_off, n->data + n->last_off, tear);
        torn += torn_here;
        d->used = d->used - n->len + newlen;
        free(n->data);
        n->data = data;
        n->len = n->cap = newlen;
        n->has_last = false;
    }
    free(seen);
    return torn;
}

unsigned sf_simdisk_crash(sf_simdisk *disk)
{
    int torn = crash(disk, NO_INO, 0);

    return torn < 0 ? 0 : (unsigned)torn;
}

int sf_simdisk_crash_tear(sf_simdisk *disk, const char *path, size_t keep,
                          sf_error *err)
{
    sd_where w;
    const sd_inode *n;
    uint32_t ino;

    if (resolve(disk, path, &w, "simdisk: cannot find", err) != SF_OK)
        return SF_ERR;
    free(w.comps);
    ino = w.ino;
    n = ino == NO_INO ? NULL : &disk->inodes[ino];
    if (n == NULL || n->is_dir || !n->has_last || keep >= n->last_len)
        return sf_error_set(err, SF_EK_USAGE, "", "simdisk: %s has no unsynced "
                            "last write longer than %zu bytes", path, keep);
    if (crash(disk, ino, keep) < 0)
        return oom(err);
    return SF_OK;
}

int sf_simdisk_fault_add(sf_simdisk *disk, const sf_simdisk_fault *f,
                         sf_error *err)
{
    if (disk->nfaults == SF_SIMDISK_FAULTS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "", "simdisk: at most %d faults",
                            SF_SIMDISK_FAULTS_MAX);
    if (f->ops == 0 || (f->ops & ~SF_SIMDISK_ALL) != 0 || f->nth == 0 ||
        (f->errnum != 0 && f->errnum != EIO && f->errnum != ENOSPC))
        return sf_error_set(err, SF_EK_USAGE, "", "simdisk: invalid fault");
    disk->faults[disk->nfaults] = *f;
    disk->fault_seen[disk->nfaults] = 0;
    disk->nfaults++;
    return SF_OK;
}

void sf_simdisk_faults_clear(sf_simdisk *disk)
{
    disk->nfaults = 0;
}

uint64_t sf_simdisk_now_ns(const sf_simdisk *disk)
{
    return disk->now_ns;
}

uint64_t sf_simdisk_used_bytes(const sf_simdisk *disk)
{
    return disk->used;
}

uint64_t sf_simdisk_faults_injected(const sf_simdisk *disk)
{
    return disk->injected;
}
