/*
 * Artifact checksums: see snapfleet/checksum.h for the algorithm and for
 * why symlinks and special files are refused rather than followed/skipped.
 */
#include "snapfleet/checksum.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "formats/checksum_internal.h"
#include "snapfleet/fs.h"
#include "snapfleet/storage.h"

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

/* ---- no-follow access through the storage seam ---- */

static const char *type_name(sf_storage_other other)
{
    switch (other) {
    case SF_STORAGE_OTHER_FIFO:
        return "fifo";
    case SF_STORAGE_OTHER_SOCKET:
        return "socket";
    case SF_STORAGE_OTHER_CHAR_DEVICE:
        return "character device";
    case SF_STORAGE_OTHER_BLOCK_DEVICE:
        return "block device";
    default:
        return "unknown file type";
    }
}

/* The error for something that is neither a directory nor a regular
 * file: a symbolic link is refused as one, anything else as a type no
 * artifact holds. */
static int refuse_other(sf_storage_other other, const char *display,
                        sf_error *err)
{
    if (other == SF_STORAGE_OTHER_SYMLINK)
        return sf_error_set(err, "symlink-refused", NULL,
                            "refusing to follow symlink %s", display);
    return sf_error_set(err, "unsupported-file-type", NULL,
                        "unsupported file type (%s) at %s: artifacts "
                        "hold only regular files and directories",
                        type_name(other), display);
}

/* What path is now (lstat-style), refusing anything but a directory or a
 * regular file; a missing path is "cannot stat P: No such file...". */
static int look(const sf_storage *st, const char *path, sf_storage_info *info,
                sf_error *err)
{
    if (sf_storage_info_of(st, path, info, err) != SF_OK)
        return SF_ERR;
    if (info->kind == SF_STORAGE_ABSENT)
        return sf_error_set_errno(err, ENOENT, NULL, "cannot stat %s", path);
    if (info->kind == SF_STORAGE_OTHER)
        return refuse_other(info->other, path, err);
    return SF_OK;
}

/*
 * Opens a regular file the listing (or look) said is one: no-follow and
 * non-blocking, the type checked on the open handle (the storage's open
 * contract), so a FIFO swapped in is refused, never waited on. When the
 * open fails the path is looked at again, so a file replaced by a link or
 * a FIFO meanwhile gets the error it would have had from the start.
 */
static int open_file(const sf_storage *st, const char *path,
                     sf_storage_file **out, sf_error *err)
{
    sf_storage_info info;
    sf_error again;

    if (sf_storage_open(st, path, SF_STORAGE_READ, out, err) == SF_OK)
        return SF_OK;
    if (look(st, path, &info, &again) != SF_OK && again.kind != NULL &&
        strcmp(again.kind, SF_EK_IO) != 0 && err != NULL)
        *err = again;
    return SF_ERR;
}

/* Hashes an opened file to its end (the storage's reads are positional:
 * one read per buffer, and a short one is the end). */
static int hash_file_bytes(const sf_storage *st, sf_storage_file *f,
                           unsigned char *buf, const char *display,
                           char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    sf_sha256 *h = sf_sha256_new();
    uint64_t offset = 0;
    int rc = SF_ERR;

    if (h == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory hashing %s", display);
    for (;;) {
        size_t got = 0;

        if (sf_storage_read(st, f, offset, buf, SF_CHECKSUM_BUFFER, &got,
                            err) != SF_OK)
            goto out;
        if (sf_sha256_update(h, buf, got) != SF_OK) {
            sf_error_set(err, SF_EK_NOMEM, NULL, "sha256 failed on %s",
                         display);
            goto out;
        }
        offset += got;
        if (got < SF_CHECKSUM_BUFFER)
            break;
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

/* ---- thread count ---- */

size_t sf_checksum_parallel_min = SF_CHECKSUM_BUFFER;

static unsigned configured_threads; /* 0: one per usable CPU */

void sf_checksum_set_threads(unsigned n)
{
    configured_threads = n > SF_CHECKSUM_MAX_THREADS ? SF_CHECKSUM_MAX_THREADS
                                                     : n;
}

static unsigned usable_cpus;
static pthread_once_t usable_cpus_once = PTHREAD_ONCE_INIT;

/* Counted once per process: sysconf reads a file in /sys on every call. */
static void count_usable_cpus(void)
{
    long n;

#ifdef CPU_COUNT
    {
        cpu_set_t set;

        /* The CPUs this process may run on, not the machine's: a container
         * limited to two of 64 CPUs gains nothing from 64 threads. */
        if (sched_getaffinity(0, sizeof set, &set) == 0) {
            n = CPU_COUNT(&set);
            goto have;
        }
    }
#endif
    n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
have:
#endif
    if (n < 1)
        n = 1;
    usable_cpus = n > SF_CHECKSUM_MAX_THREADS ? SF_CHECKSUM_MAX_THREADS
                                              : (unsigned)n;
}

unsigned sf_checksum_threads(void)
{
    if (configured_threads != 0)
        return configured_threads;
    pthread_once(&usable_cpus_once, count_usable_cpus);
    return usable_cpus;
}

/* ---- directory walk ---- */

/*
 * The walk itself is sequential (listings, the no-follow checks, the
 * order of errors), and the walker hashes files smaller than
 * sf_checksum_parallel_min itself. Helper threads exist only over a
 * storage that may be called from several threads at once
 * (sf_storage_concurrent: POSIX); over the simulated disk every file is
 * hashed on the caller's thread, so its calls come in one order. The
 * first large file starts a pool of
 * helper threads (one per usable CPU, less the walker), and from then on
 * large files go to them through a short queue; each helper has its own read
 * buffer, so memory stays at one buffer per thread. The walker works the
 * queue too when it is full and once the walk is done, so even with two
 * threads two large files are hashed at once.
 *
 * Errors are reported as the sequential walk would report them: every file
 * gets its index in walk order, a failed hash records its index, and the
 * smallest failed index wins. A failure stops the walk; files before the
 * failed one are still hashed, so a smaller failure among them still wins.
 */

typedef struct entry {
    char *rel; /* raw bytes, '/'-separated, relative to the artifact */
    char hex[SF_SHA256_HEX_SIZE];
} entry;

typedef struct job {
    sf_storage_file *f;
    size_t idx;
    char *display;
} job;

#define QUEUE_CAP (2 * SF_CHECKSUM_MAX_THREADS)

typedef struct walk walk;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t not_empty, not_full;
    job q[QUEUE_CAP];
    size_t head, count;
    bool closing;
    pthread_t th[SF_CHECKSUM_MAX_THREADS];
    unsigned nth;
    walk *w;
} pool;

struct walk {
    const sf_storage *st;
    entry *v;
    size_t n, cap;
    sf_buf path;  /* display path: root, then "/rel" of the current entry */
    size_t base;  /* offset of the relative part within path (after '/') */
    unsigned char *buf;
    sf_error *err;
    const char *const *skip; /* top-level names left out, or NULL */
    unsigned threads;        /* sf_checksum_threads() at the start */
    pool *pool;              /* NULL until the first large file */
    /* The first failed file in walk order (guarded by pool->mu once the
     * pool runs). */
    bool failed;
    size_t fail_idx;
    sf_error fail_err;
};

static void lock(walk *w)
{
    if (w->pool != NULL)
        pthread_mutex_lock(&w->pool->mu);
}

static void unlock(walk *w)
{
    if (w->pool != NULL)
        pthread_mutex_unlock(&w->pool->mu);
}

static int nomem(walk *w)
{
    return sf_error_set(w->err, SF_EK_NOMEM, NULL,
                        "out of memory while checksumming %s",
                        sf_buf_cstr(&w->path));
}

/* Records file idx's result: its hex, or its error if it is the first. */
static void settle(walk *w, size_t idx, int rc, const char *hex,
                   const sf_error *err)
{
    lock(w);
    if (rc == SF_OK) {
        memcpy(w->v[idx].hex, hex, SF_SHA256_HEX_SIZE);
    } else if (!w->failed || idx < w->fail_idx) {
        w->failed = true;
        w->fail_idx = idx;
        w->fail_err = *err;
    }
    unlock(w);
}

static bool has_failed(walk *w)
{
    bool failed;

    lock(w);
    failed = w->failed;
    unlock(w);
    return failed;
}

/* Appends the current path as a file entry (hex to come); *idx its index. */
static int push_file(walk *w, size_t *idx)
{
    char *rel = strdup(w->path.data + w->base);
    int rc = SF_OK;

    if (rel == NULL)
        return nomem(w);
    lock(w); /* helpers write into v; the realloc must not move it under them */
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        entry *v = realloc(w->v, cap * sizeof *v);

        if (v == NULL) {
            rc = SF_ERR;
        } else {
            w->v = v;
            w->cap = cap;
        }
    }
    if (rc == SF_OK) {
        w->v[w->n].rel = rel;
        w->v[w->n].hex[0] = '\0';
        *idx = w->n++;
    }
    unlock(w);
    if (rc != SF_OK) {
        free(rel);
        return nomem(w);
    }
    return SF_OK;
}

static void hash_job(walk *w, job *j, unsigned char *buf)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;
    int rc;

    sf_error_clear(&err);
    if (buf == NULL)
        rc = sf_error_set(&err, SF_EK_NOMEM, NULL,
                          "out of memory while checksumming %s", j->display);
    else
        /* only files of at least sf_checksum_parallel_min come here */
        rc = hash_file_bytes(w->st, j->f, buf, j->display, hex, &err);
    sf_storage_close(w->st, &j->f, NULL);
    settle(w, j->idx, rc, hex, &err);
    free(j->display);
}

/* Takes the next queued file that can still matter; false when none is
 * queued. Called with p->mu held. */
static bool pop_job(pool *p, job *out)
{
    while (p->count > 0) {
        job j = p->q[p->head];

        p->head = (p->head + 1) % QUEUE_CAP;
        p->count--;
        pthread_cond_signal(&p->not_full);
        if (p->w->failed && j.idx > p->w->fail_idx) {
            /* Cannot be reported: an earlier file already failed. */
            sf_storage_close(p->w->st, &j.f, NULL);
            free(j.display);
            continue;
        }
        *out = j;
        return true;
    }
    return false;
}

static void *helper_main(void *arg)
{
    pool *p = arg;
    unsigned char *buf = malloc(SF_CHECKSUM_BUFFER);

    pthread_mutex_lock(&p->mu);
    for (;;) {
        job j;

        while (p->count == 0 && !p->closing)
            pthread_cond_wait(&p->not_empty, &p->mu);
        if (!pop_job(p, &j)) {
            if (p->closing)
                break;
            continue;
        }
        pthread_mutex_unlock(&p->mu);
        hash_job(p->w, &j, buf);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    free(buf);
    return NULL;
}

/* The walker hashes one queued file itself; false when none is queued. */
static bool walker_takes_one(walk *w)
{
    job j;
    bool got;

    pthread_mutex_lock(&w->pool->mu);
    got = pop_job(w->pool, &j);
    pthread_mutex_unlock(&w->pool->mu);
    if (got)
        hash_job(w, &j, w->buf);
    return got;
}

/* Starts the helpers; false (and the walker hashes alone) if it cannot. */
static bool pool_start(walk *w)
{
    pool *p = calloc(1, sizeof *p);

    if (p == NULL)
        return false;
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p);
        return false;
    }
    pthread_cond_init(&p->not_empty, NULL);
    pthread_cond_init(&p->not_full, NULL);
    p->w = w;
    for (unsigned i = 0; i + 1 < w->threads; i++) {
        if (pthread_create(&p->th[p->nth], NULL, helper_main, p) != 0)
            break;
        p->nth++;
    }
    if (p->nth == 0) {
        pthread_cond_destroy(&p->not_full);
        pthread_cond_destroy(&p->not_empty);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return false;
    }
    w->pool = p;
    return true;
}

/* Lets the helpers finish the queue, joins them and frees the pool. */
static void pool_stop(walk *w)
{
    pool *p = w->pool;

    if (p == NULL)
        return;
    /* The walk is over: the walker works through the queue alongside the
     * helpers instead of waiting for them. */
    while (walker_takes_one(w))
        ;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_cond_broadcast(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    for (unsigned i = 0; i < p->nth; i++)
        pthread_join(p->th[i], NULL);
    w->pool = NULL;
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->not_empty);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

/* Hashes the regular file w->path names, here or on a helper. */
static int hash_file(walk *w)
{
    sf_storage_file *f = NULL;
    uint64_t size = 0;
    size_t idx = 0;
    job j;

    if (open_file(w->st, w->path.data, &f, w->err) != SF_OK)
        return SF_ERR;
    /* the size only decides whether a helper takes the file: one call
     * (an fstat) per file saved when there are no helpers */
    if ((w->threads > 1 &&
         sf_storage_size(w->st, f, &size, w->err) != SF_OK) ||
        push_file(w, &idx) != SF_OK) {
        sf_storage_close(w->st, &f, NULL);
        return SF_ERR;
    }
    if (w->pool == NULL && w->threads > 1 &&
        size >= sf_checksum_parallel_min)
        (void)pool_start(w);
    if (w->pool == NULL || size < sf_checksum_parallel_min) {
        char hex[SF_SHA256_HEX_SIZE];
        sf_error err;
        int rc;

        sf_error_clear(&err);
        rc = hash_file_bytes(w->st, f, w->buf, w->path.data, hex, &err);
        sf_storage_close(w->st, &f, NULL);
        settle(w, idx, rc, hex, &err);
        return has_failed(w) ? SF_ERR : SF_OK;
    }
    j.f = f;
    j.idx = idx;
    j.display = strdup(w->path.data);
    if (j.display == NULL) {
        sf_error err;

        sf_storage_close(w->st, &f, NULL);
        sf_error_set(&err, SF_EK_NOMEM, NULL,
                     "out of memory while checksumming %s", w->path.data);
        settle(w, idx, SF_ERR, NULL, &err);
        return SF_ERR;
    }
    /* A full queue means the helpers are busy: the walker hashes one of
     * the queued files rather than wait. */
    for (;;) {
        bool full;

        pthread_mutex_lock(&w->pool->mu);
        full = w->pool->count == QUEUE_CAP;
        pthread_mutex_unlock(&w->pool->mu);
        if (!full || !walker_takes_one(w))
            break;
    }
    pthread_mutex_lock(&w->pool->mu);
    w->pool->q[(w->pool->head + w->pool->count) % QUEUE_CAP] = j;
    w->pool->count++;
    pthread_cond_signal(&w->pool->not_empty);
    pthread_mutex_unlock(&w->pool->mu);
    return has_failed(w) ? SF_ERR : SF_OK;
}

static int walk_dir(walk *w, unsigned depth);

/* One entry below the artifact, of the kind its directory listed; w->path
 * already names it. */
static int visit(walk *w, sf_storage_kind kind, unsigned depth)
{
    if (kind == SF_STORAGE_OTHER) {
        sf_storage_info info;

        /* which kind of other: the error says (or it changed since) */
        if (look(w->st, w->path.data, &info, w->err) != SF_OK)
            return SF_ERR;
        kind = info.kind;
    }
    if (kind == SF_STORAGE_DIRECTORY)
        return walk_dir(w, depth + 1);
    return hash_file(w);
}

typedef struct list_ctx {
    walk *w;
    unsigned depth;
} list_ctx;

static int visit_listed(const char *name, sf_storage_kind kind, void *payload)
{
    list_ctx *c = payload;
    walk *w = c->w;
    size_t mark = w->path.len;
    int rc;

    if (c->depth == 0 && w->skip != NULL) {
        for (const char *const *k = w->skip; *k != NULL; k++)
            if (strcmp(*k, name) == 0)
                return 0;
    }
    if (sf_buf_putc(&w->path, '/') != SF_OK ||
        sf_buf_puts(&w->path, name) != SF_OK)
        rc = nomem(w);
    else
        rc = visit(w, kind, c->depth);
    w->path.len = mark;
    w->path.data[mark] = '\0';
    return rc == SF_OK ? 0 : SF_ERR;
}

/* Walks the directory w->path names (listed without following it). */
static int walk_dir(walk *w, unsigned depth)
{
    list_ctx c = {w, depth};

    if (depth > SF_CHECKSUM_MAX_DEPTH)
        return sf_error_set(w->err, SF_EK_IO, NULL,
                            "%s: directories nested deeper than %d levels",
                            sf_buf_cstr(&w->path), SF_CHECKSUM_MAX_DEPTH);
    return sf_storage_list_kind(w->st, sf_buf_cstr(&w->path), visit_listed,
                                &c, w->err) == SF_OK
               ? SF_OK
               : SF_ERR;
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

/* Walks the artifact directory path. */
static int checksum_dir(const sf_storage *st, const char *path,
                        const char *const *skip,
                        char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    walk w;
    size_t root_len = strlen(path);
    int rc = SF_ERR;

    memset(&w, 0, sizeof w);
    sf_buf_init(&w.path);
    w.st = st;
    w.err = err;
    w.skip = skip;
    w.threads = sf_storage_concurrent(st) ? sf_checksum_threads() : 1;
    if (sf_buf_append(&w.path, path, root_len) != SF_OK) {
        sf_buf_free(&w.path);
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory while checksumming %s", path);
    }
    w.base = root_len + 1;
    w.buf = malloc(SF_CHECKSUM_BUFFER);
    if (w.buf == NULL) {
        nomem(&w);
        goto out;
    }
    rc = walk_dir(&w, 0);
    pool_stop(&w);
    if (w.failed) {
        /* A file's own error comes before anything the walk met later. */
        if (err != NULL)
            *err = w.fail_err;
        rc = SF_ERR;
    } else if (rc == SF_OK) {
        rc = digest_entries(&w, out_hex);
    }
out:
    for (size_t i = 0; i < w.n; i++)
        free(w.v[i].rel);
    free(w.v);
    free(w.buf);
    sf_buf_free(&w.path);
    return rc;
}

static int checksum_file(const sf_storage *st, const char *path,
                         char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    unsigned char *buf;
    sf_storage_file *f = NULL;
    int rc;

    if (open_file(st, path, &f, err) != SF_OK)
        return SF_ERR;
    buf = malloc(SF_CHECKSUM_BUFFER);
    if (buf == NULL) {
        sf_storage_close(st, &f, NULL);
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "out of memory while checksumming %s", path);
    }
    rc = hash_file_bytes(st, f, buf, path, out_hex, err);
    free(buf);
    sf_storage_close(st, &f, NULL);
    return rc;
}

/* want: 'f' regular file, 'd' directory, 0 either. */
static int checksum_any(const char *path, int want, const char *const *skip,
                        char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    const sf_storage *st = sf_fs_storage();
    sf_storage_info info;
    char *own;
    size_t len;
    int rc;

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
    if (look(st, own, &info, err) != SF_OK)
        rc = SF_ERR;
    else if (info.kind == SF_STORAGE_DIRECTORY)
        rc = want == 'f' ? sf_error_set_errno(err, EISDIR, NULL,
                                              "cannot checksum %s", own)
                         : checksum_dir(st, own, skip, out_hex, err);
    else if (want == 'd')
        rc = sf_error_set_errno(err, ENOTDIR, NULL, "cannot checksum %s", own);
    else
        rc = checksum_file(st, own, out_hex, err);
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
