/*
 * An artifact's tree (tree.h): what push uploads file by file, each file
 * named by its SHA-256, so a file that did not change since the last push
 * (a canister's memory, its module) is not sent again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "snapfleet/buf.h"
#include "tree.h"

static int add(sf_tree *t, const char *root, char type, const char *rel, uint64_t size,
               sf_error *err)
{
    if (strlen(rel) > SF_TREE_PATH_MAX)
        return sf_error_set(err, SF_EK_IO, rel, "%s/%s: path longer than %d bytes", root, rel,
                            SF_TREE_PATH_MAX);
    if (t->n >= SF_TREE_ENTRIES_MAX)
        return sf_error_set(err, SF_EK_IO, NULL, "%s: more than %d entries", root,
                            SF_TREE_ENTRIES_MAX);
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 16;
        sf_tree_entry *ne = realloc(t->e, cap * sizeof *ne);
        if (ne == NULL)
            return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
        t->e = ne;
        t->cap = cap;
    }
    memset(&t->e[t->n], 0, sizeof t->e[t->n]);
    t->e[t->n].rel = strdup(rel);
    if (t->e[t->n].rel == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    t->e[t->n].type = type;
    t->e[t->n].size = size;
    t->n++;
    return 0;
}

static int walk(sf_tree *t, const char *root, const char *rel, unsigned depth, sf_error *err)
{
    sf_buf dir;
    DIR *d;
    struct dirent *de;
    int rc = 0;

    sf_buf_init(&dir);
    sf_buf_puts(&dir, root);
    if (rel[0])
        sf_buf_printf(&dir, "/%s", rel);
    if (dir.oom) {
        sf_buf_free(&dir);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    if (depth > SF_CHECKSUM_MAX_DEPTH) {
        rc = sf_error_set(err, SF_EK_IO, NULL, "%s: nested more than %d deep",
                          sf_buf_cstr(&dir), SF_CHECKSUM_MAX_DEPTH);
        sf_buf_free(&dir);
        return rc;
    }
    d = opendir(sf_buf_cstr(&dir));
    if (d == NULL) {
        rc = sf_error_set_errno(err, errno, NULL, "%s: cannot list", sf_buf_cstr(&dir));
        sf_buf_free(&dir);
        return rc;
    }
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        struct stat st;
        sf_buf child;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        sf_buf_init(&child);
        if (rel[0])
            sf_buf_printf(&child, "%s/", rel);
        sf_buf_puts(&child, de->d_name);
        if (child.oom) {
            sf_buf_free(&child);
            rc = sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
            break;
        }
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = sf_error_set_errno(err, errno, NULL, "%s/%s", sf_buf_cstr(&dir), de->d_name);
        } else if (S_ISDIR(st.st_mode)) {
            rc = add(t, root, 'D', sf_buf_cstr(&child), 0, err);
            if (rc == 0)
                rc = walk(t, root, sf_buf_cstr(&child), depth + 1, err);
        } else if (S_ISREG(st.st_mode)) {
            rc = add(t, root, 'F', sf_buf_cstr(&child), (uint64_t)st.st_size, err);
        } else {
            rc = sf_error_set(err, SF_EK_IO, NULL,
                              "%s/%s: not a regular file or directory (links are refused)",
                              sf_buf_cstr(&dir), de->d_name);
        }
        sf_buf_free(&child);
    }
    if (rc == 0 && errno != 0)
        rc = sf_error_set_errno(err, errno, NULL, "%s: cannot list", sf_buf_cstr(&dir));
    closedir(d);
    sf_buf_free(&dir);
    return rc;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const sf_tree_entry *)a)->rel, ((const sf_tree_entry *)b)->rel);
}

/* Hashing a tree's files on several threads: a shared cursor hands the
 * files out in tree order, and the first failure in tree order is the one
 * reported (every file before it is hashed), as with one thread. */
typedef struct hash_job {
    const char *root;
    sf_tree *t;
    pthread_mutex_t mu;
    size_t next; /* the next entry to hand out */
    size_t bad;  /* the first entry that failed; t->n while none has */
    sf_error err;
} hash_job;

static int hash_one(const char *root, sf_tree_entry *e, sf_error *err)
{
    char *file;
    int rc;

    file = e->rel[0] ? malloc(strlen(root) + strlen(e->rel) + 2) : strdup(root);
    if (file == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    if (e->rel[0])
        sprintf(file, "%s/%s", root, e->rel);
    rc = sf_checksum_file(file, e->sha256, err);
    free(file);
    return rc;
}

static void *hash_worker(void *arg)
{
    hash_job *h = arg;

    for (;;) {
        size_t i;
        sf_error e;

        pthread_mutex_lock(&h->mu);
        while (h->next < h->bad && h->t->e[h->next].type != 'F')
            h->next++;
        i = h->next++;
        if (i >= h->bad) {
            pthread_mutex_unlock(&h->mu);
            return NULL;
        }
        pthread_mutex_unlock(&h->mu);
        sf_error_clear(&e);
        if (hash_one(h->root, &h->t->e[i], &e) != 0) {
            pthread_mutex_lock(&h->mu);
            if (i < h->bad) {
                h->bad = i;
                h->err = e;
            }
            pthread_mutex_unlock(&h->mu);
        }
    }
}

int sf_tree_hash(const char *path, sf_tree *t, sf_error *err)
{
    pthread_t th[SF_CHECKSUM_MAX_THREADS];
    hash_job h = {.root = path, .t = t, .next = 0, .bad = t->n};
    size_t files = 0, want, started = 0, i;

    for (i = 0; i < t->n; i++)
        files += t->e[i].type == 'F';
    want = sf_checksum_threads();
    if (want > files)
        want = files;
    sf_error_clear(&h.err);
    if (pthread_mutex_init(&h.mu, NULL) != 0)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "cannot make a mutex");
    /* The caller's thread is one of the workers; a thread that cannot be
     * started only means fewer of them. */
    for (; started + 1 < want; started++)
        if (pthread_create(&th[started], NULL, hash_worker, &h) != 0)
            break;
    hash_worker(&h);
    for (i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&h.mu);
    if (h.bad < t->n) {
        if (err != NULL)
            *err = h.err;
        return SF_ERR;
    }
    return 0;
}

int sf_tree_scan(const char *path, bool hash, sf_tree *t, sf_error *err)
{
    struct stat st;

    memset(t, 0, sizeof *t);
    if (lstat(path, &st) != 0)
        return sf_error_set_errno(err, errno, NULL, "%s", path);
    if (S_ISREG(st.st_mode)) {
        if (add(t, path, 'F', "", (uint64_t)st.st_size, err) != 0)
            goto fail;
    } else if (S_ISDIR(st.st_mode)) {
        if (walk(t, path, "", 0, err) != 0)
            goto fail;
        if (t->n > 1) /* qsort wants a non-NULL base even for none */
            qsort(t->e, t->n, sizeof *t->e, by_path);
    } else {
        sf_error_set(err, SF_EK_IO, NULL, "%s: not a regular file or directory", path);
        goto fail;
    }
    if (hash && sf_tree_hash(path, t, err) != 0)
        goto fail;
    return 0;
fail:
    sf_tree_free(t);
    return SF_ERR;
}

void sf_tree_free(sf_tree *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->n; i++)
        free(t->e[i].rel);
    free(t->e);
    memset(t, 0, sizeof *t);
}

bool sf_tree_safe_rel(const char *s)
{
    size_t i = 0, n = strlen(s);

    if (n == 0 || n > SF_TREE_PATH_MAX)
        return false;
    while (i < n) {
        size_t j = i;
        while (j < n && s[j] != '/') {
            if (s[j] == '\\')
                return false;
            j++;
        }
        if (j == i || (j - i == 1 && s[i] == '.') ||
            (j - i == 2 && s[i] == '.' && s[i + 1] == '.'))
            return false;
        if (j == n - 1)
            return false; /* trailing '/' */
        i = j + 1;
    }
    return true;
}

static int by_components(const void *a, const void *b)
{
    return sf_path_cmp_components((*(const sf_tree_entry *const *)a)->rel,
                                  (*(const sf_tree_entry *const *)b)->rel);
}

int sf_tree_checksum(const sf_tree *t, char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    const sf_tree_entry **files;
    sf_sha256 *h;
    sf_buf line;
    size_t i, n = 0;
    int rc = SF_ERR;

    if (t->n == 1 && t->e[0].type == 'F' && t->e[0].rel[0] == '\0') {
        memcpy(out_hex, t->e[0].sha256, SF_SHA256_HEX_SIZE);
        return 0;
    }
    files = malloc((t->n ? t->n : 1) * sizeof *files);
    h = sf_sha256_new();
    sf_buf_init(&line);
    if (files == NULL || h == NULL)
        goto nomem;
    for (i = 0; i < t->n; i++)
        if (t->e[i].type == 'F')
            files[n++] = &t->e[i];
    if (n > 1)
        qsort(files, n, sizeof *files, by_components);
    for (i = 0; i < n; i++) {
        sf_buf_reset(&line);
        if (sf_utf8_lossy(files[i]->rel, strlen(files[i]->rel), &line) != 0 ||
            sf_buf_putc(&line, '\0') != 0 ||
            sf_buf_append(&line, files[i]->sha256, SF_SHA256_HEX_SIZE - 1) != 0 ||
            sf_buf_putc(&line, '\n') != 0 || sf_sha256_update(h, line.data, line.len) != 0)
            goto nomem;
    }
    if (sf_sha256_final(h, out_hex) != 0)
        goto nomem;
    rc = 0;
    goto done;
nomem:
    sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
done:
    sf_buf_free(&line);
    sf_sha256_free(h);
    free(files);
    return rc;
}
