/*
 * Backups in object storage: push, pull, verify, list and prune (see
 * snapfleet/remote.h for the layout). Push uploads the files that are not
 * there yet, each named by its SHA-256, with the manifest last; multipart
 * uploads keep a write-ahead journal so a killed push resumes where it
 * stopped. Pull fetches into a locked staging directory, checks every
 * file's SHA-256 as it lands, every artifact's checksum and the whole
 * backup, before renaming it into place.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "crypt_internal.h"
#include "remote_internal.h"
#include "s3_internal.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/remote.h"
#include "tree.h"

#define MANIFEST "fleet-backup-manifest.json"
#define DOC_MAX (64u << 20)

/* The documents a backup carries besides its artifacts; the manifest is
 * always sent last. */
static const char *const documents[] = {
    SF_PLAN_FILE_NAME, SF_EXEC_JOURNAL_FILE_NAME, "download-journal.json",
    SF_OBSERVATIONS_FILE_NAME, NULL};

static void progress(const sf_remote_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void progress(const sf_remote_options *o, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (o == NULL || o->progress == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->progress(o->payload, line);
}

static bool safe_name(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > 200 || s[0] == '.')
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
    }
    return true;
}

/* "<prefix>/<rest>" or "<rest>" when the prefix is empty; malloc'd. */
static char *key_of(const char *prefix, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *key_of(const char *prefix, const char *fmt, ...)
{
    sf_buf b;
    va_list ap;
    char tail[1024];

    va_start(ap, fmt);
    vsnprintf(tail, sizeof tail, fmt, ap);
    va_end(ap);
    sf_buf_init(&b);
    if (prefix[0] != '\0')
        sf_buf_printf(&b, "%s/", prefix);
    sf_buf_puts(&b, tail);
    if (b.oom) {
        sf_buf_free(&b);
        return NULL;
    }
    return sf_buf_detach(&b);
}

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
}

/* The keys a push names and encrypts objects with (NULL: plain). */
static const sf_keys *push_keys(const sf_remote_options *o)
{
    return o != NULL && o->encrypt_to != NULL ? sf_recipient_keys(o->encrypt_to) : NULL;
}

static const sf_identity *identity_of(const sf_remote_options *o)
{
    return o != NULL ? o->identity : NULL;
}

/* "blobs/sha256-<hex>", or encrypted "blobs/enc-<hex keyed with the name
 * key>" (object storage cannot confirm a guess of the content). */
static char *blob_key(const char *prefix, const sf_keys *k, const char *sha256)
{
    char name[SF_SHA256_HEX_SIZE];

    if (k == NULL)
        return key_of(prefix, "blobs/sha256-%s", sha256);
    sf_crypt_blob_name(k, sha256, name);
    return key_of(prefix, "blobs/enc-%s", name);
}

/* The size of an object holding size bytes of a file. */
static uint64_t object_size(const sf_keys *k, uint64_t size)
{
    return k != NULL ? sf_crypt_size(size, SF_CRYPT_CHUNK_DEFAULT) : size;
}

/* ---- the objects index ---- */

#define INDEX_ARTIFACTS_MAX 100000u
#define SIZE_MAX_JSON (1ull << 53)

void sf_remote_index_free(sf_remote_index *x)
{
    size_t i, k;

    if (x == NULL)
        return;
    for (i = 0; i < x->n; i++) {
        free(x->a[i].path);
        sf_strv_free(x->a[i].dirs, x->a[i].ndirs);
        for (k = 0; k < x->a[i].nfiles; k++)
            free(x->a[i].files[k].path);
        free(x->a[i].files);
    }
    free(x->a);
    sf_strv_free(x->docs, x->ndocs);
    free(x->name);
    memset(x, 0, sizeof *x);
}

static int index_write(const sf_remote_index *x, sf_buf *out, sf_error *err)
{
    sf_jw w;
    size_t i, k;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "format", "snapfleet-remote-objects");
    sf_jw_kv_u64(&w, "version", 1);
    sf_jw_kv_string(&w, "backup", x->name);
    sf_jw_kv_strv(&w, "documents", x->docs, x->ndocs);
    sf_jw_key(&w, "artifacts");
    sf_jw_begin_array(&w);
    for (i = 0; i < x->n; i++) {
        const sf_ri_artifact *a = &x->a[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "path", a->path);
        sf_jw_kv_string(&w, "checksum", a->checksum);
        sf_jw_kv_strv(&w, "dirs", a->dirs, a->ndirs);
        sf_jw_key(&w, "files");
        sf_jw_begin_array(&w);
        for (k = 0; k < a->nfiles; k++) {
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "path", a->files[k].path);
            sf_jw_kv_u64(&w, "size", a->files[k].size);
            sf_jw_kv_string(&w, "sha256", a->files[k].sha256);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

static bool hex64(const char *s)
{
    size_t i;

    for (i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return s[64] == '\0';
}

static int read_hash(sf_jr *r, const cJSON *obj, const char *key, char out[SF_SHA256_HEX_SIZE])
{
    char *v = NULL;

    if (sf_jr_str(r, obj, key, &v) != 0)
        return SF_ERR;
    if (!hex64(v)) {
        free(v);
        return sf_jr_fail(r, key, "not 64 lowercase hex digits");
    }
    memcpy(out, v, SF_SHA256_HEX_SIZE);
    free(v);
    return 0;
}

static int parse_artifact(sf_jr *r, const cJSON *item, sf_ri_artifact *a)
{
    const cJSON *files;
    size_t nf, k;

    if (sf_jr_expect_object(r, item) != 0 || sf_jr_str(r, item, "path", &a->path) != 0 ||
        read_hash(r, item, "checksum", a->checksum) != 0 ||
        sf_jr_str_array(r, item, "dirs", &a->dirs, &a->ndirs) != 0 ||
        sf_jr_array(r, item, "files", &files, &nf) != 0)
        return SF_ERR;
    if (!sf_tree_safe_rel(a->path))
        return sf_jr_fail(r, "path", "an unsafe artifact path");
    for (k = 0; k < a->ndirs; k++)
        if (!sf_tree_safe_rel(a->dirs[k]))
            return sf_jr_fail(r, "dirs", "an unsafe directory path");
    if (nf > SF_TREE_ENTRIES_MAX)
        return sf_jr_fail(r, "files", "more than %d files", SF_TREE_ENTRIES_MAX);
    a->files = calloc(nf ? nf : 1, sizeof *a->files);
    if (a->files == NULL)
        return sf_jr_fail(r, "files", "out of memory");
    for (k = 0; k < nf; k++) {
        const cJSON *f = cJSON_GetArrayItem(files, (int)k);
        size_t mark = sf_jr_push_key(r, "files");
        size_t mark2 = sf_jr_push_index(r, k);
        sf_ri_file *file = &a->files[a->nfiles];
        if (sf_jr_expect_object(r, f) != 0 || sf_jr_str(r, f, "path", &file->path) != 0)
            return SF_ERR;
        a->nfiles++;
        if (sf_jr_uint(r, f, "size", SIZE_MAX_JSON, &file->size) != 0 ||
            read_hash(r, f, "sha256", file->sha256) != 0)
            return SF_ERR;
        if (file->path[0] == '\0' ? nf != 1 || a->ndirs != 0 : !sf_tree_safe_rel(file->path))
            return sf_jr_fail(r, "path", "an unsafe file path");
        sf_jr_pop(r, mark2);
        sf_jr_pop(r, mark);
    }
    return 0;
}

int sf_remote_index_parse(const char *text, size_t len, sf_remote_index *x, sf_error *err)
{
    cJSON *root = NULL;
    const cJSON *arts;
    size_t i, k, count;
    sf_jr r;
    char *format = NULL;
    uint64_t version;
    int rc = SF_ERR;

    memset(x, 0, sizeof *x);
    sf_jr_init(&r, err);
    if (sf_json_parse(text, len, &root, err) != 0)
        goto done;
    if (sf_jr_expect_object(&r, root) != 0 || sf_jr_str(&r, root, "format", &format) != 0 ||
        sf_jr_uint(&r, root, "version", 1000, &version) != 0 ||
        sf_jr_str(&r, root, "backup", &x->name) != 0 ||
        sf_jr_str_array(&r, root, "documents", &x->docs, &x->ndocs) != 0 ||
        sf_jr_array(&r, root, "artifacts", &arts, &count) != 0)
        goto done;
    if (strcmp(format, "snapfleet-remote-objects") != 0 || version != 1) {
        sf_error_set(err, "remote-index", "format", "not a version 1 snapfleet objects index");
        goto done;
    }
    for (i = 0; i < x->ndocs; i++) {
        bool known = false;
        for (k = 0; documents[k] != NULL; k++)
            known = known || strcmp(x->docs[i], documents[k]) == 0;
        if (!known) {
            sf_error_set(err, "remote-index", "documents", "an unknown document name: %s",
                         x->docs[i]);
            goto done;
        }
    }
    if (count > INDEX_ARTIFACTS_MAX) {
        sf_error_set(err, "remote-index", "artifacts", "more than %u artifacts",
                     INDEX_ARTIFACTS_MAX);
        goto done;
    }
    x->a = calloc(count ? count : 1, sizeof *x->a);
    if (x->a == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < count; i++) {
        size_t mark = sf_jr_push_key(&r, "artifacts");
        size_t mark2 = sf_jr_push_index(&r, i);
        x->n++;
        if (parse_artifact(&r, cJSON_GetArrayItem(arts, (int)i), &x->a[i]) != 0) {
            if (err != NULL && err->kind != NULL && strcmp(err->kind, SF_EK_JSON_SCHEMA) == 0)
                err->kind = "remote-index";
            goto done;
        }
        sf_jr_pop(&r, mark2);
        sf_jr_pop(&r, mark);
    }
    rc = 0;
done:
    free(format);
    cJSON_Delete(root);
    if (rc != 0)
        sf_remote_index_free(x);
    return rc;
}

/* ---- push ---- */

typedef struct existing {
    char **keys;
    uint64_t *sizes;
    size_t n, cap;
} existing;

static int collect_existing(void *payload, const char *key, uint64_t size, const char *etag)
{
    existing *e = payload;

    (void)etag;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        char **k = realloc(e->keys, cap * sizeof *k);
        uint64_t *s;
        if (k == NULL)
            return 1;
        e->keys = k;
        s = realloc(e->sizes, cap * sizeof *s);
        if (s == NULL)
            return 1;
        e->sizes = s;
        e->cap = cap;
    }
    if ((e->keys[e->n] = strdup(key)) == NULL)
        return 1;
    e->sizes[e->n++] = size;
    return 0;
}

static void existing_free(existing *e)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        free(e->keys[i]);
    free(e->keys);
    free(e->sizes);
    memset(e, 0, sizeof *e);
}

static bool existing_has(const existing *e, const char *key, uint64_t size)
{
    size_t i;

    for (i = 0; i < e->n; i++)
        if (strcmp(e->keys[i], key) == 0 && e->sizes[i] == size)
            return true;
    return false;
}

/* The push journal: one entry per multipart upload in progress. */
typedef struct upload {
    char *key;
    char *upload_id;
    uint64_t size, part_size;  /* the object's (encrypted: the ciphertext's) */
    /* Encrypted: the stream's seed and header, durable before the first
     * part, so a resumed upload continues the same stream. */
    bool enc;
    unsigned char seed[SF_CRYPT_SEED_SIZE];
    unsigned char header[SF_CRYPT_HEADER_SIZE];
    sf_s3_part *parts;  /* acknowledged, by number */
    size_t nparts, cap;
} upload;

typedef struct journal {
    char *path;
    char *dir, *url;
    upload *u;
    size_t n;
} journal;

static void upload_clear(upload *u)
{
    free(u->key);
    free(u->upload_id);
    free(u->parts);
    sodium_memzero(u, sizeof *u);
}

static void hex_put(sf_jw *w, const char *key, const unsigned char *p, size_t n)
{
    char hex[2 * SF_CRYPT_HEADER_SIZE + 1];

    sf_crypt_hex(p, n, hex);
    sf_jw_kv_string(w, key, hex);
}

static bool hex_get(const char *s, unsigned char *out, size_t n)
{
    return strlen(s) == 2 * n && sf_crypt_unhex(s, n, out);
}

static void journal_free(journal *j)
{
    size_t i;

    for (i = 0; i < j->n; i++)
        upload_clear(&j->u[i]);
    free(j->u);
    free(j->path);
    free(j->dir);
    free(j->url);
    memset(j, 0, sizeof *j);
}

static int journal_save(journal *j, sf_error *err)
{
    sf_buf out;
    sf_jw w;
    size_t i, k;
    int rc;

    sf_buf_init(&out);
    sf_jw_init(&w, &out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "format", "snapfleet-push-journal");
    sf_jw_kv_u64(&w, "version", 1);
    sf_jw_kv_string(&w, "dir", j->dir);
    sf_jw_kv_string(&w, "url", j->url);
    sf_jw_key(&w, "uploads");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->n; i++) {
        const upload *u = &j->u[i];
        if (u->key == NULL || u->upload_id == NULL)
            continue; /* cleared, or its create did not answer */
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "key", u->key);
        sf_jw_kv_string(&w, "upload_id", u->upload_id);
        sf_jw_kv_u64(&w, "size", u->size);
        sf_jw_kv_u64(&w, "part_size", u->part_size);
        if (u->enc) {
            hex_put(&w, "seed", u->seed, sizeof u->seed);
            hex_put(&w, "header", u->header, sizeof u->header);
        }
        sf_jw_key(&w, "parts");
        sf_jw_begin_array(&w);
        for (k = 0; k < u->nparts; k++) {
            sf_jw_begin_object(&w);
            sf_jw_kv_u64(&w, "number", (uint64_t)u->parts[k].number);
            sf_jw_kv_string(&w, "etag", u->parts[k].etag);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    rc = sf_jw_finish(&w, err);
    if (rc == 0)
        rc = sf_fs_write_atomic(j->path, out.data, out.len, err);
    if (out.data != NULL)
        sodium_memzero(out.data, out.len);
    sf_buf_free(&out);
    return rc;
}

/* Loads the journal at j->path when there is one; a journal of another
 * directory or url (a hash collision, or an edited file) is refused. */
static int journal_load(journal *j, sf_error *err)
{
    char *text = NULL;
    size_t len = 0, i, count;
    cJSON *root = NULL;
    const cJSON *ups;
    sf_jr r;
    char *dir = NULL, *url = NULL;
    int rc = SF_ERR;
    struct stat st;

    if (stat(j->path, &st) != 0 && errno == ENOENT)
        return 0;
    if (sf_fs_read_file(j->path, DOC_MAX, &text, &len, err) != 0)
        return SF_ERR;
    sf_jr_init(&r, err);
    if (sf_json_parse(text, len, &root, err) != 0 || sf_jr_expect_object(&r, root) != 0 ||
        sf_jr_str(&r, root, "dir", &dir) != 0 || sf_jr_str(&r, root, "url", &url) != 0 ||
        sf_jr_array(&r, root, "uploads", &ups, &count) != 0)
        goto done;
    if (strcmp(dir, j->dir) != 0 || strcmp(url, j->url) != 0) {
        sf_error_set(err, "push-journal", "dir", "the push journal is another push's");
        goto done;
    }
    j->u = calloc(count ? count : 1, sizeof *j->u);
    if (j->u == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < count; i++) {
        const cJSON *item = cJSON_GetArrayItem(ups, (int)i), *parts;
        upload *u = &j->u[j->n++];
        size_t np, k;
        if (sf_jr_expect_object(&r, item) != 0 || sf_jr_str(&r, item, "key", &u->key) != 0 ||
            sf_jr_str(&r, item, "upload_id", &u->upload_id) != 0 ||
            sf_jr_uint(&r, item, "size", UINT64_MAX, &u->size) != 0 ||
            sf_jr_uint(&r, item, "part_size", UINT64_MAX, &u->part_size) != 0 ||
            sf_jr_array(&r, item, "parts", &parts, &np) != 0)
            goto done;
        {
            char *seed = NULL, *header = NULL;
            bool bad = false;
            if (sf_jr_str_opt(&r, item, "seed", &seed) != 0 ||
                sf_jr_str_opt(&r, item, "header", &header) != 0) {
                free(seed);
                goto done;
            }
            if (seed != NULL || header != NULL) {
                u->enc = true;
                bad = seed == NULL || header == NULL || !hex_get(seed, u->seed, sizeof u->seed) ||
                      !hex_get(header, u->header, sizeof u->header);
            }
            if (seed != NULL)
                sodium_memzero(seed, strlen(seed));
            free(seed);
            free(header);
            if (bad) {
                sf_error_set(err, "push-journal", "seed", "an encrypted upload's seed or "
                             "header is not hex of the right length");
                goto done;
            }
        }
        u->parts = calloc(np ? np : 1, sizeof *u->parts);
        if (u->parts == NULL) {
            nomem(err);
            goto done;
        }
        u->cap = np ? np : 1;
        for (k = 0; k < np; k++) {
            const cJSON *p = cJSON_GetArrayItem(parts, (int)k);
            uint64_t num;
            char *etag = NULL;
            if (sf_jr_expect_object(&r, p) != 0 || sf_jr_uint(&r, p, "number", 10000, &num) != 0 ||
                sf_jr_str(&r, p, "etag", &etag) != 0)
                goto done;
            if (num == 0 || strlen(etag) >= sizeof u->parts[k].etag) {
                free(etag);
                sf_error_set(err, "push-journal", "parts", "a part is out of range");
                goto done;
            }
            u->parts[u->nparts].number = (int)num;
            strcpy(u->parts[u->nparts].etag, etag);
            u->nparts++;
            free(etag);
        }
    }
    rc = 0;
done:
    if (rc != 0 && err != NULL)
        sf_error_prefix(err, "%s: ", j->path);
    cJSON_Delete(root);
    sodium_memzero(text, len);
    free(text);
    free(dir);
    free(url);
    return rc;
}

static upload *journal_find(journal *j, const char *key)
{
    size_t i;

    for (i = 0; i < j->n; i++)
        if (j->u[i].key != NULL && strcmp(j->u[i].key, key) == 0)
            return &j->u[i];
    return NULL;
}

static upload *journal_add(journal *j, sf_error *err)
{
    upload *u = realloc(j->u, (j->n + 1) * sizeof *u);

    if (u == NULL) {
        nomem(err);
        return NULL;
    }
    j->u = u;
    memset(&j->u[j->n], 0, sizeof *j->u);
    return &j->u[j->n++];
}

static bool part_done(const upload *u, int number)
{
    size_t i;

    for (i = 0; i < u->nparts; i++)
        if (u->parts[i].number == number)
            return true;
    return false;
}

static int by_number(const void *a, const void *b)
{
    return ((const sf_s3_part *)a)->number - ((const sf_s3_part *)b)->number;
}

/* Reads len bytes of path at offset; the file must still have size bytes. */
static int read_range(const char *path, uint64_t size, uint64_t off, void *buf, size_t len,
                      sf_error *err)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    unsigned char *p = buf;
    int rc = 0;

    if (fd < 0)
        return sf_error_set_errno(err, errno, path, "%s", path);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size) {
        rc = sf_error_set(err, SF_EK_IO, path, "%s changed while it was being pushed", path);
    }
    while (rc == 0 && len > 0) {
        ssize_t n = pread(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? sf_error_set_errno(err, errno, path, "%s", path)
                       : sf_error_set(err, SF_EK_IO, path,
                                      "%s changed while it was being pushed", path);
            break;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    close(fd);
    return rc;
}

/* An encrypted file as a stream of object bytes, read in order: the
 * header, then each chunk encrypted as its plaintext is read. The file's
 * SHA-256 is checked before its final chunk is encrypted, so an object
 * whose bytes are not the ones named is never completed. */
typedef struct csrc {
    const char *file;
    const char *sha256;
    int fd;
    sf_enc e;
    sf_sha256 *h;
    uint64_t plain_off;
    unsigned char *pbuf, *cbuf;
    size_t cpos, clen;
    bool header_out;
} csrc;

static int csrc_open(csrc *c, const sf_keys *k, const char *file, const char *sha256,
                     uint64_t size, const upload *resume, upload *u, sf_error *err)
{
    char context[SF_CRYPT_CONTEXT_MAX];
    struct stat st;

    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->file = file;
    c->sha256 = sha256;
    if (sf_crypt_context_blob(sha256, context, sizeof context) != 0)
        return sf_error_set(err, "crypt-format", "context", "object context too long");
    if (sf_enc_init(&c->e, k, context, sha256, size, SF_CRYPT_CHUNK_DEFAULT,
                    resume ? resume->seed : NULL, resume ? resume->header : NULL, err) != 0)
        return SF_ERR;
    if (u != NULL) {
        u->enc = true;
        memcpy(u->seed, c->e.seed, sizeof u->seed);
        memcpy(u->header, c->e.header, sizeof u->header);
    }
    c->h = sf_sha256_new();
    c->pbuf = malloc(SF_CRYPT_CHUNK_DEFAULT);
    c->cbuf = malloc(SF_CRYPT_CHUNK_DEFAULT + SF_CRYPT_HEADER_SIZE + SF_CRYPT_ABYTES);
    if (c->h == NULL || c->pbuf == NULL || c->cbuf == NULL)
        return nomem(err);
    c->fd = open(file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (c->fd < 0)
        return sf_error_set_errno(err, errno, file, "%s", file);
    if (fstat(c->fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)
        return sf_error_set(err, SF_EK_IO, file, "%s changed while it was being pushed", file);
    return 0;
}

static void csrc_close(csrc *c)
{
    if (c->fd >= 0)
        close(c->fd);
    sf_sha256_free(c->h);
    if (c->pbuf != NULL)
        sodium_memzero(c->pbuf, SF_CRYPT_CHUNK_DEFAULT);
    free(c->pbuf);
    free(c->cbuf);
    sf_enc_wipe(&c->e);
    memset(c, 0, sizeof *c);
    c->fd = -1;
}

/* The next len bytes of the object. */
static int csrc_read(csrc *c, unsigned char *out, size_t len, sf_error *err)
{
    while (len > 0) {
        size_t n;
        if (c->cpos == c->clen) {
            uint64_t left = c->e.size - c->plain_off;
            size_t want = left < c->e.chunk ? (size_t)left : c->e.chunk, got = 0;
            if (!c->header_out) {
                memcpy(c->cbuf, c->e.header, SF_CRYPT_HEADER_SIZE);
                c->clen = SF_CRYPT_HEADER_SIZE;
                c->cpos = 0;
                c->header_out = true;
                continue;
            }
            if (c->e.finished)
                return sf_error_set(err, SF_EK_IO, c->file, "%s: read past the object's end",
                                    c->file);
            while (got < want) {
                ssize_t r = pread(c->fd, c->pbuf + got, want - got,
                                  (off_t)(c->plain_off + got));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    return r < 0 ? sf_error_set_errno(err, errno, c->file, "%s", c->file)
                                 : sf_error_set(err, SF_EK_IO, c->file,
                                                "%s changed while it was being pushed", c->file);
                got += (size_t)r;
            }
            if (sf_sha256_update(c->h, c->pbuf, want) != 0)
                return nomem(err);
            if (want == left) {
                /* The last chunk: the bytes sent are the bytes named. */
                char hex[SF_SHA256_HEX_SIZE];
                if (sf_sha256_final(c->h, hex) != 0)
                    return nomem(err);
                sf_sha256_free(c->h);
                c->h = NULL;
                if (strcmp(hex, c->sha256) != 0)
                    return sf_error_set(err, SF_EK_IO, c->file,
                                        "%s changed while it was being pushed", c->file);
            }
            if (sf_enc_chunk(&c->e, c->pbuf, want, c->cbuf, err) != 0)
                return SF_ERR;
            c->plain_off += want;
            c->clen = want + SF_CRYPT_ABYTES;
            c->cpos = 0;
        }
        n = c->clen - c->cpos < len ? c->clen - c->cpos : len;
        memcpy(out, c->cbuf + c->cpos, n);
        c->cpos += n;
        out += n;
        len -= n;
    }
    return 0;
}

/* ---- push: the blobs, up to o->jobs transfers at once ----
 *
 * One thread drives a pool of transfers (libcurl's multi interface,
 * remote/s3_internal.h); every callback, journal write and decision runs
 * on it, in turn. A whole object is read, checked against its name and
 * sent with that SHA-256 as its signed payload hash; a multipart object's
 * parts are read in order (the file's SHA-256 taken over them as they are
 * read, or, encrypted, the stream produced in order), several in flight at
 * once. A part goes into the push journal, durably, when its
 * acknowledgement arrives and before anything depends on it: the complete
 * is sent only when every part is acknowledged and recorded. The complete
 * (and the create, and an abort) are single requests made between pool
 * runs. The first failure stops new transfers; those in flight finish
 * (acknowledged parts are recorded) and the push fails with that error. */

typedef struct blob_job {
    size_t artifact;
    const sf_ri_file *f;
    char *file, *bkey;
    uint64_t osize;
    bool multi;
    /* multipart */
    uint64_t ps;
    int nparts;
    int next;            /* the next part to read; 0: not opened */
    int inflight, tries;
    long ui;             /* its entry in the push journal, -1: none */
    sf_sha256 *h;        /* plain: the file's SHA-256 over the parts read */
    csrc c;              /* encrypted: the object's stream */
    bool c_open;
    bool restart;        /* the upload is gone: start it again once */
    bool abort;          /* the file's bytes are not the ones named */
    bool over;
} blob_job;

typedef struct push_ctx {
    sf_s3 *s3;
    sf_s3_pool *pool;
    const sf_s3_url *u;
    const sf_keys *keys;
    journal *j;
    const sf_remote_options *o;
    sf_push_result *r;
    const sf_remote_index *x;
    blob_job *b;
    size_t n, next;
    size_t *left;        /* per artifact: its jobs not over */
    bool *sent;          /* per artifact: a file of it was sent now */
    bool failed;
    sf_error first;      /* the first failure */
} push_ctx;

typedef struct part_xfer {
    push_ctx *p;
    blob_job *b;
    int number;          /* 0: a whole object */
    unsigned char *buf;
    size_t len;
    sf_buf enc;
} part_xfer;

static void push_fail(push_ctx *p, const sf_error *e)
{
    if (!p->failed) {
        p->first = *e;
        p->failed = true;
    }
}

static void job_sent(push_ctx *p, blob_job *b)
{
    b->over = true;
    p->r->files_sent++;
    p->sent[b->artifact] = true;
    if (--p->left[b->artifact] == 0)
        progress(p->o, "uploaded %s", p->x->a[b->artifact].path);
}

static void on_sent(void *payload, int rc, const char *etag, sf_error *err)
{
    part_xfer *t = payload;
    push_ctx *p = t->p;
    blob_job *b = t->b;
    sf_error e;

    b->inflight--;
    if (t->number == 0) {
        if (rc == 0) {
            p->r->bytes_sent += t->len;
            job_sent(p, b);
        } else {
            push_fail(p, err);
            b->over = true;
        }
    } else if (rc == 0) {
        upload *u = &p->j->u[b->ui];
        sf_error_clear(&e);
        if (etag[0] == '\0' || strlen(etag) >= sizeof u->parts[0].etag) {
            sf_error_set(&e, "s3-reply", "ETag", "PUT %s/%s part %d: the reply has no ETag",
                         p->u->bucket, b->bkey, t->number);
            push_fail(p, &e);
        } else if (u->nparts >= u->cap) {
            sf_error_set(&e, "push-journal", NULL, "%s: more parts than the object has",
                         p->j->path);
            push_fail(p, &e);
        } else {
            u->parts[u->nparts].number = t->number;
            strcpy(u->parts[u->nparts].etag, etag);
            u->nparts++;
            p->r->parts_sent++;
            p->r->bytes_sent += t->len;
            /* Durable before anything depends on it: the complete, or a
             * resumed push that will not send this part again. */
            if (journal_save(p->j, &e) != 0)
                push_fail(p, &e);
        }
    } else if (err != NULL && err->kind != NULL && strcmp(err->kind, "s3-NoSuchUpload") == 0 &&
               b->tries == 0) {
        b->restart = true; /* the upload is gone: started again, once */
    } else {
        push_fail(p, err);
    }
    free(t->buf);
    sf_buf_free(&t->enc);
    free(t);
}

/* Reads a whole object's file, checks it is the bytes named, and starts
 * its PUT (plain: with that SHA-256 as the payload hash, nothing hashed
 * again; encrypted: the ciphertext, hashed by the client). */
static int start_whole(push_ctx *p, blob_job *b, sf_error *err)
{
    part_xfer *t = calloc(1, sizeof *t);
    size_t size = (size_t)b->f->size;
    char hex[SF_SHA256_HEX_SIZE];
    const char *sha = NULL;

    if (t == NULL)
        return nomem(err);
    sf_buf_init(&t->enc);
    t->p = p;
    t->b = b;
    t->buf = malloc(size ? size : 1);
    if (t->buf == NULL)
        goto nomem;
    if (read_range(b->file, b->f->size, 0, t->buf, size, err) != 0)
        goto fail;
    if (sf_sha256_bytes(t->buf, size, hex) != 0)
        goto nomem;
    /* The bytes sent are the bytes named. */
    if (strcmp(hex, b->f->sha256) != 0) {
        sf_error_set(err, SF_EK_IO, b->file, "%s changed while it was being pushed", b->file);
        goto fail;
    }
    if (p->keys != NULL) {
        char context[SF_CRYPT_CONTEXT_MAX];
        if (sf_crypt_context_blob(b->f->sha256, context, sizeof context) != 0)
            goto nomem;
        if (sf_crypt_encrypt_buf(p->keys, context, t->buf, size, &t->enc, err) != 0)
            goto fail;
        free(t->buf);
        t->buf = NULL;
        t->len = t->enc.len;
    } else {
        t->len = size;
        sha = b->f->sha256;
    }
    b->inflight++;
    if (sf_s3_pool_put(p->pool, p->u->bucket, b->bkey, t->buf ? (void *)t->buf : t->enc.data,
                       t->len, sha, on_sent, t, err) != 0) {
        b->inflight--;
        goto fail;
    }
    return 0;
nomem:
    nomem(err);
fail:
    free(t->buf);
    sf_buf_free(&t->enc);
    free(t);
    return SF_ERR;
}

/* Opens b's multipart upload: the journal's (resumed) or a new one, its
 * upload id durable before any part goes. */
static int multipart_open(push_ctx *p, blob_job *b, sf_error *err)
{
    journal *j = p->j;
    upload *u = journal_find(j, b->bkey);

    if (u != NULL && (b->tries > 0 || u->size != b->osize || u->part_size != b->ps ||
                      u->enc != (p->keys != NULL))) {
        upload_clear(u); /* another object's upload, or one that is gone */
        u = NULL;
    }
    if (u != NULL) {
        b->ui = (long)(u - j->u);
        if (u->nparts > (size_t)b->nparts)
            return sf_error_set(err, "push-journal", NULL, "%s: more parts than the object has",
                                j->path);
        if (u->cap < (size_t)b->nparts) {
            sf_s3_part *np = realloc(u->parts, (size_t)b->nparts * sizeof *np);
            if (np == NULL)
                return nomem(err);
            u->parts = np;
            u->cap = (size_t)b->nparts;
        }
        p->r->parts_resumed += u->nparts;
        if (u->nparts > 0)
            progress(p->o, "resuming %s: %zu of %d parts already sent", b->bkey, u->nparts,
                     b->nparts);
        if (p->keys != NULL) {
            b->c_open = true;
            if (csrc_open(&b->c, p->keys, b->file, b->f->sha256, b->f->size, u, NULL, err) != 0)
                return SF_ERR;
        }
    } else {
        u = journal_add(j, err);
        if (u == NULL)
            return SF_ERR;
        b->ui = (long)(u - j->u);
        u->key = strdup(b->bkey);
        u->size = b->osize;
        u->part_size = b->ps;
        u->parts = calloc((size_t)b->nparts, sizeof *u->parts);
        u->cap = (size_t)b->nparts;
        if (u->key == NULL || u->parts == NULL)
            return nomem(err);
        if (p->keys != NULL) {
            /* A fresh stream; its seed and header go into the journal with
             * the upload id. */
            b->c_open = true;
            if (csrc_open(&b->c, p->keys, b->file, b->f->sha256, b->f->size, NULL, u, err) != 0)
                return SF_ERR;
        }
        if (sf_s3_multipart_create(p->s3, p->u->bucket, b->bkey, &u->upload_id, err) != 0)
            return SF_ERR;
        /* Write-ahead: the upload id is durable before any part goes. */
        if (journal_save(j, err) != 0)
            return SF_ERR;
    }
    if (p->keys == NULL && (b->h = sf_sha256_new()) == NULL)
        return nomem(err);
    b->next = 1;
    return 0;
}

/* Moves multipart job b on: reads its next part not yet acknowledged and
 * starts sending it. 1: a transfer started; 0: every part is read; SF_ERR
 * (b->abort when the file's bytes are not the ones named or cannot be
 * read: the upload must not be completed). */
static int multipart_step(push_ctx *p, blob_job *b, sf_error *err)
{
    if (b->next == 0 && multipart_open(p, b, err) != 0)
        return SF_ERR;
    while (b->next <= b->nparts) {
        int number = b->next;
        uint64_t off = (uint64_t)(number - 1) * b->ps;
        size_t len = (size_t)(b->osize - off < b->ps ? b->osize - off : b->ps);
        upload *u = &p->j->u[b->ui];
        part_xfer *t = calloc(1, sizeof *t);

        if (t == NULL || (t->buf = malloc(len)) == NULL) {
            free(t);
            return nomem(err);
        }
        sf_buf_init(&t->enc);
        b->next++;
        if (p->keys != NULL) {
            /* The stream is produced in order: a part already sent is
             * encrypted again (the same bytes) and skipped; the file's
             * SHA-256 is checked before its last chunk. */
            if (csrc_read(&b->c, t->buf, len, err) != 0)
                goto bad_bytes;
        } else {
            if (read_range(b->file, b->osize, off, t->buf, len, err) != 0 ||
                sf_sha256_update(b->h, t->buf, len) != 0)
                goto bad_bytes;
            if (number == b->nparts) {
                /* Every byte read: they must be the bytes named. */
                char hex[SF_SHA256_HEX_SIZE];
                if (sf_sha256_final(b->h, hex) != 0 || strcmp(hex, b->f->sha256) != 0) {
                    sf_error_set(err, SF_EK_IO, b->file,
                                 "%s changed while it was being pushed", b->file);
                    goto bad_bytes;
                }
            }
        }
        if (part_done(u, number)) {
            free(t->buf);
            free(t);
            continue;
        }
        t->p = p;
        t->b = b;
        t->number = number;
        t->len = len;
        b->inflight++;
        if (sf_s3_pool_part(p->pool, p->u->bucket, b->bkey, u->upload_id, number, t->buf, len,
                            NULL, on_sent, t, err) != 0) {
            b->inflight--;
            free(t->buf);
            free(t);
            return SF_ERR;
        }
        return 1;
    bad_bytes:
        b->abort = true;
        free(t->buf);
        free(t);
        return SF_ERR;
    }
    return 0;
}

static void multipart_reset(blob_job *b)
{
    sf_sha256_free(b->h);
    b->h = NULL;
    if (b->c_open)
        csrc_close(&b->c);
    b->c_open = false;
    b->next = 0;
    b->ui = -1;
}

/* Every part read and none in flight: completes the upload (or starts it
 * again when it is gone, or aborts it when the bytes were not the ones
 * named). Single requests, between pool runs. */
static int multipart_finish(push_ctx *p, blob_job *b, sf_error *err)
{
    journal *j = p->j;
    upload *u = b->ui >= 0 ? &j->u[b->ui] : NULL;
    sf_error ignored;

    if (b->abort) {
        /* Nothing sent of this upload may become an object. */
        b->over = true;
        if (u != NULL) {
            if (u->upload_id != NULL)
                sf_s3_multipart_abort(p->s3, p->u->bucket, b->bkey, u->upload_id, &ignored);
            upload_clear(u);
            journal_save(j, &ignored);
        }
        multipart_reset(b);
        return 0;
    }
    if (b->restart) {
        b->restart = false;
        b->tries++;
        if (u != NULL)
            upload_clear(u);
        multipart_reset(b);
        return journal_save(j, err);
    }
    if (u->nparts != (size_t)b->nparts)
        return sf_error_set(err, "push-journal", NULL, "%s: %zu of %d parts acknowledged",
                            j->path, u->nparts, b->nparts);
    qsort(u->parts, u->nparts, sizeof *u->parts, by_number);
    if (sf_s3_multipart_complete(p->s3, p->u->bucket, b->bkey, u->upload_id, u->parts,
                                 u->nparts, err) != 0) {
        uint64_t there = 0;
        /* A complete whose reply was lost: the object is there. */
        if (sf_s3_head(p->s3, p->u->bucket, b->bkey, &there, NULL, &ignored) == 0 &&
            there == b->osize) {
            sf_error_clear(err);
        } else if (err != NULL && err->kind != NULL &&
                   strcmp(err->kind, "s3-NoSuchUpload") == 0 && b->tries == 0) {
            b->restart = true;
            sf_error_clear(err);
            return multipart_finish(p, b, err);
        } else {
            return SF_ERR;
        }
    }
    upload_clear(u);
    multipart_reset(b);
    if (journal_save(j, err) != 0)
        return SF_ERR;
    job_sent(p, b);
    return 0;
}

/* A multipart job with nothing in flight that has a single request (or a
 * decision) to make next. */
static bool needs_finish(const push_ctx *p, const blob_job *b)
{
    if (!b->multi || b->over || b->inflight > 0 || (b->next == 0 && !b->abort))
        return false;
    return b->abort || (!p->failed && (b->restart || b->next > b->nparts));
}

static int push_blobs(push_ctx *p, sf_error *err)
{
    sf_error e;
    size_t k;

    for (;;) {
        bool busy = false;

        for (k = 0; k < p->next; k++) {
            blob_job *b = &p->b[k];
            if (!needs_finish(p, b))
                continue;
            sf_error_clear(&e);
            if (multipart_finish(p, b, &e) != 0)
                push_fail(p, &e);
            busy = true;
        }
        /* Start transfers while there is room: the parts of uploads under
         * way first, then the next blob. */
        while (!p->failed && !sf_s3_pool_full(p->pool)) {
            int rc = 0;
            blob_job *b = NULL;
            for (k = 0; k < p->next && rc == 0; k++) {
                b = &p->b[k];
                if (b->multi && !b->over && !b->restart && !b->abort &&
                    (b->next == 0 ? b->tries > 0 : b->next <= b->nparts)) {
                    sf_error_clear(&e);
                    rc = multipart_step(p, b, &e);
                }
            }
            if (rc == 0 && p->next < p->n) {
                b = &p->b[p->next++];
                sf_error_clear(&e);
                rc = b->multi ? multipart_step(p, b, &e) : start_whole(p, b, &e);
                if (rc == 0)
                    rc = 1;
            }
            if (rc < 0) {
                if (b != NULL && !b->multi)
                    b->over = true;
                push_fail(p, &e);
                busy = true; /* once more: an upload to abort */
            }
            if (rc <= 0)
                break;
            busy = true;
        }
        if (sf_s3_pool_active(p->pool) > 0) {
            sf_error_clear(&e);
            if (sf_s3_pool_run(p->pool, &e) != 0) {
                push_fail(p, &e);
                break;
            }
            continue;
        }
        if (!busy)
            break;
    }
    for (k = 0; k < p->n; k++)
        if (p->b[k].multi)
            multipart_reset(&p->b[k]);
    if (p->failed) {
        if (err != NULL)
            *err = p->first;
        return SF_ERR;
    }
    return 0;
}

static char *journal_path(const sf_remote_options *o, const char *dir, const char *url,
                          sf_error *err)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_buf b, id;
    const char *state = o && o->state_dir ? o->state_dir : NULL;

    sf_buf_init(&b);
    sf_buf_init(&id);
    sf_buf_printf(&id, "%s\n%s", dir, url);
    if (id.oom || sf_sha256_bytes(id.data, id.len, hex) != 0) {
        sf_buf_free(&id);
        nomem(err);
        return NULL;
    }
    sf_buf_free(&id);
    if (state != NULL)
        sf_buf_printf(&b, "%s", state);
    else if (getenv("XDG_STATE_HOME") && getenv("XDG_STATE_HOME")[0] == '/')
        sf_buf_printf(&b, "%s/snapfleet", getenv("XDG_STATE_HOME"));
    else if (getenv("HOME") && getenv("HOME")[0] == '/')
        sf_buf_printf(&b, "%s/.local/state/snapfleet", getenv("HOME"));
    else {
        sf_error_set(err, "push-journal", NULL,
                     "no place for the push journal: set HOME or XDG_STATE_HOME");
        sf_buf_free(&b);
        return NULL;
    }
    sf_buf_printf(&b, "/push-%.32s.json", hex);
    if (b.oom) {
        sf_buf_free(&b);
        nomem(err);
        return NULL;
    }
    return sf_buf_detach(&b);
}

/* Puts a document (k: encrypted, bound to backups/<name>/<docname>). */
static int put_doc(sf_s3 *s3, const sf_s3_url *u, const sf_keys *k, const char *name,
                   const char *docname, const char *text, size_t len, sf_push_result *r,
                   sf_error *err)
{
    char *key = key_of(u->prefix, "backups/%s/%s", name, docname);
    char context[SF_CRYPT_CONTEXT_MAX];
    sf_buf enc;
    int rc;

    if (key == NULL)
        return nomem(err);
    sf_buf_init(&enc);
    if (k != NULL) {
        rc = sf_crypt_context_doc(name, docname, context, sizeof context);
        if (rc != 0)
            rc = sf_error_set(err, "crypt-format", "context", "object context too long");
        if (rc == 0)
            rc = sf_crypt_encrypt_buf(k, context, text, len, &enc, err);
        if (rc == 0) {
            text = enc.data;
            len = enc.len;
        }
    } else {
        rc = 0;
    }
    if (rc == 0)
        rc = sf_s3_put(s3, u->bucket, key, text, len, err);
    if (rc == 0) {
        r->documents_sent++;
        r->bytes_sent += len;
    }
    sf_buf_free(&enc);
    free(key);
    return rc;
}

/* Is the manifest already under the name the same one? Plain: the same
 * bytes. Encrypted (k): encrypted to the same key pair with the content
 * tag of the same bytes (the pushing machine cannot decrypt). 1 the same,
 * 0 another backup's (err says why), SF_ERR on failure. */
static int same_manifest(const sf_keys *k, const char *name, const sf_buf *remote,
                         const char *manifest, size_t len, const char *where, sf_error *err)
{
    char context[SF_CRYPT_CONTEXT_MAX], hex[SF_SHA256_HEX_SIZE];
    unsigned char tag[32];
    sf_crypt_header h;
    bool enc = sf_crypt_is_encrypted(remote->data ? remote->data : "", remote->len);

    if (k == NULL) {
        if (enc) {
            sf_error_set(err, "push-conflict", where, "%s holds an encrypted backup under the "
                         "name %s (push it with --encrypt-to, or under another name)", where,
                         name);
            return 0;
        }
        if (remote->len == len && memcmp(remote->data, manifest, len) == 0)
            return 1;
        sf_error_set(err, "push-conflict", where,
                     "%s holds another backup's manifest under the name %s", where, name);
        return 0;
    }
    if (!enc) {
        sf_error_set(err, "push-conflict", where, "%s holds an unencrypted backup under the "
                     "name %s", where, name);
        return 0;
    }
    if (sf_crypt_header_parse(remote->data, remote->len, &h, err) != 0) {
        sf_error_prefix(err, "%s: ", where);
        return SF_ERR;
    }
    if (sodium_memcmp(h.key_id, k->id, sizeof h.key_id) != 0) {
        sf_error_set(err, "push-conflict", where, "%s holds a backup named %s encrypted to "
                     "another key pair", where, name);
        return 0;
    }
    if (sf_crypt_context_doc(name, MANIFEST, context, sizeof context) != 0 ||
        sf_sha256_bytes(manifest, len, hex) != 0)
        return nomem(err);
    sf_crypt_content_tag(k, context, hex, tag);
    if (h.size == len && sodium_memcmp(tag, h.content, sizeof tag) == 0)
        return 1;
    sf_error_set(err, "push-conflict", where,
                 "%s holds another backup's manifest under the name %s", where, name);
    return 0;
}

/* The artifacts' trees, scanned (every file hashed once) for the verify. */
typedef struct scan_set {
    char **path;
    sf_tree *t;
    size_t n;
} scan_set;

static void scans_free(scan_set *s)
{
    size_t i;

    for (i = 0; i < s->n; i++) {
        free(s->path[i]);
        sf_tree_free(&s->t[i]);
    }
    free(s->path);
    free(s->t);
    memset(s, 0, sizeof *s);
}

/* sf_checksum_fn for the push's verify: the artifact's tree, kept, and
 * its checksum from the files' hashes. */
static int scan_artifact(void *payload, const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                         sf_error *err)
{
    scan_set *s = payload;
    char **np = realloc(s->path, (s->n + 1) * sizeof *np);
    sf_tree *nt;

    if (np == NULL)
        return nomem(err);
    s->path = np;
    nt = realloc(s->t, (s->n + 1) * sizeof *nt);
    if (nt == NULL)
        return nomem(err);
    s->t = nt;
    if ((s->path[s->n] = strdup(path)) == NULL)
        return nomem(err);
    if (sf_tree_scan(path, true, &s->t[s->n], err) != 0) {
        free(s->path[s->n]);
        return SF_ERR;
    }
    s->n++;
    return sf_tree_checksum(&s->t[s->n - 1], out_hex, err);
}

static const char *base_name(const char *dir, char *out, size_t n)
{
    size_t len = strlen(dir);
    const char *slash;

    while (len > 1 && dir[len - 1] == '/')
        len--;
    slash = dir + len;
    while (slash > dir && slash[-1] != '/')
        slash--;
    len -= (size_t)(slash - dir);
    if (len >= n)
        len = n - 1;
    memcpy(out, slash, len);
    out[len] = '\0';
    return out;
}

int sf_remote_push(sf_s3 *s3, const char *dir, const char *url, const sf_remote_options *o,
                   sf_push_result *r, sf_error *err)
{
    sf_s3_url u = {0};
    sf_lock lock = {.fd = -1};
    sf_integrity_report rep;
    sf_remote_index x = {0};
    scan_set scans = {0};
    existing ex = {0};
    journal j = {0};
    char *docs_text[8] = {0};
    size_t docs_len[8] = {0};
    char *manifest = NULL, *key = NULL, *absdir = NULL;
    size_t manifest_len = 0, i, k;
    sf_buf remote_manifest, index_json;
    uint64_t part_size = o && o->part_size ? o->part_size : SF_REMOTE_PART_SIZE_DEFAULT;
    const sf_keys *keys = push_keys(o);
    push_ctx pc;
    size_t nfiles = 0;
    int rc = SF_ERR;
    bool locked = false, have_report = false;

    memset(r, 0, sizeof *r);
    memset(&rep, 0, sizeof rep);
    memset(&pc, 0, sizeof pc);
    sf_buf_init(&remote_manifest);
    sf_buf_init(&index_json);
    if (sf_s3_url_parse(url, &u, err) != 0)
        return SF_ERR;
    base_name(dir, r->name, sizeof r->name);
    if (!safe_name(r->name)) {
        sf_error_set(err, "push-name", dir,
                     "the backup directory's name must be letters, digits, '.', '_' and '-' "
                     "(not starting with '.'): %s", r->name);
        goto done;
    }
    absdir = realpath(dir, NULL);
    if (absdir == NULL) {
        sf_error_set_errno(err, errno, dir, "%s", dir);
        goto done;
    }
    if (sf_lock_acquire(absdir, &lock, err) != 0)
        goto done;
    locked = true;
    /* The verify's checksums come from the artifacts' trees, each file
     * hashed once: its SHA-256 names its blob, and the artifact checksum
     * the verify compares with the journal's is computed from them. */
    if (sf_verify_integrity_with(absdir, scan_artifact, &scans, &rep, err) != 0) {
        sf_error_prefix(err, "%s does not verify, so it is not pushed: ", dir);
        if (err)
            err->kind = "push-unverified";
        goto done;
    }
    have_report = true;
    /* The documents, read once: what is pushed is what was verified. */
    for (i = 0; documents[i] != NULL; i++) {
        char *path = sf_path_join(absdir, documents[i]);
        struct stat st;
        if (path == NULL) {
            nomem(err);
            goto done;
        }
        if (lstat(path, &st) == 0 &&
            sf_fs_read_file(path, DOC_MAX, &docs_text[i], &docs_len[i], err) != 0) {
            free(path);
            goto done;
        }
        free(path);
    }
    {
        char *path = sf_path_join(absdir, MANIFEST);
        if (path == NULL || sf_fs_read_file(path, DOC_MAX, &manifest, &manifest_len, err) != 0) {
            free(path);
            goto done;
        }
        free(path);
    }

    /* Already there? The same manifest: nothing to do; another: refused. */
    key = key_of(u.prefix, "backups/%s/%s", r->name, MANIFEST);
    if (key == NULL) {
        nomem(err);
        goto done;
    }
    if (sf_s3_get(s3, u.bucket, key, &remote_manifest, err) == 0) {
        char where[1024];
        int same;
        snprintf(where, sizeof where, "s3://%s/%s", u.bucket, key);
        same = same_manifest(keys, r->name, &remote_manifest, manifest, manifest_len, where, err);
        if (same == 1) {
            r->already = true;
            r->artifacts = rep.artifact_count;
            progress(o, "%s is already at %s", r->name, url);
            rc = 0;
        }
        goto done;
    }
    if (err == NULL || err->kind == NULL || strcmp(err->kind, "s3-NoSuchKey") != 0)
        goto done;
    sf_error_clear(err);

    /* The objects index: each artifact's tree, every file by its SHA-256. */
    x.name = strdup(r->name);
    x.a = calloc(rep.artifact_count ? rep.artifact_count : 1, sizeof *x.a);
    x.docs = calloc(8, sizeof *x.docs);
    if (x.name == NULL || x.a == NULL || x.docs == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; documents[i] != NULL; i++)
        if (docs_text[i] != NULL && (x.docs[x.ndocs++] = strdup(documents[i])) == NULL) {
            nomem(err);
            goto done;
        }
    for (i = 0; i < rep.artifact_count; i++) {
        const sf_integrity_artifact *ia = &rep.artifacts[i];
        size_t dl = strlen(absdir);
        sf_ri_artifact *a = &x.a[x.n];
        const sf_tree *t = NULL;
        if (strncmp(ia->artifact_path, absdir, dl) != 0 || ia->artifact_path[dl] != '/' ||
            !sf_tree_safe_rel(ia->artifact_path + dl + 1) || !hex64(ia->checksum)) {
            sf_error_set(err, "push-unverified", ia->artifact_path,
                         "artifact %s is not a plain path under %s, or its checksum is not "
                         "SHA-256 hex", ia->artifact_path, absdir);
            goto done;
        }
        x.n++;
        a->path = strdup(ia->artifact_path + dl + 1);
        if (a->path == NULL) {
            nomem(err);
            goto done;
        }
        memcpy(a->checksum, ia->checksum, SF_SHA256_HEX_SIZE);
        /* What is pushed is what was verified: the tree whose hashes gave
         * the checksum the verify accepted. */
        for (k = 0; k < scans.n && t == NULL; k++)
            if (strcmp(scans.path[k], ia->artifact_path) == 0)
                t = &scans.t[k];
        if (t == NULL) {
            sf_error_set(err, "push-unverified", ia->artifact_path,
                         "artifact %s was not scanned by the verify", ia->artifact_path);
            goto done;
        }
        a->dirs = calloc(t->n ? t->n : 1, sizeof *a->dirs);
        a->files = calloc(t->n ? t->n : 1, sizeof *a->files);
        if (a->dirs == NULL || a->files == NULL) {
            nomem(err);
            goto done;
        }
        for (k = 0; k < t->n; k++) {
            const sf_tree_entry *e = &t->e[k];
            if (e->type == 'D') {
                if ((a->dirs[a->ndirs++] = strdup(e->rel)) == NULL) {
                    nomem(err);
                    goto done;
                }
            } else {
                sf_ri_file *f = &a->files[a->nfiles++];
                f->path = strdup(e->rel);
                f->size = e->size;
                memcpy(f->sha256, e->sha256, SF_SHA256_HEX_SIZE);
                if (f->path == NULL) {
                    nomem(err);
                    goto done;
                }
            }
        }
    }
    for (i = 0; i < x.n; i++)
        nfiles += x.a[i].nfiles;
    if (index_write(&x, &index_json, err) != 0 ||
        put_doc(s3, &u, keys, r->name, SF_REMOTE_OBJECTS_FILE, index_json.data, index_json.len,
                r, err) != 0)
        goto done;

    /* What is there already (content-addressed: the same name and size). */
    {
        char *prefix = key_of(u.prefix, "blobs/");
        if (prefix == NULL) {
            nomem(err);
            goto done;
        }
        rc = sf_s3_list(s3, u.bucket, prefix, collect_existing, &ex, err);
        free(prefix);
        if (rc != 0)
            goto done;
        rc = SF_ERR;
    }
    j.dir = strdup(absdir);
    j.url = strdup(url);
    j.path = journal_path(o, absdir, url, err);
    if (j.path == NULL || j.dir == NULL || j.url == NULL) {
        if (err && err->kind == NULL)
            nomem(err);
        goto done;
    }
    if (journal_load(&j, err) != 0)
        goto done;
    /* The blobs not there yet, each once (two files with the same bytes
     * are one blob), up to jobs at once. */
    pc.s3 = s3;
    pc.u = &u;
    pc.keys = keys;
    pc.j = &j;
    pc.o = o;
    pc.r = r;
    pc.x = &x;
    pc.b = calloc(nfiles ? nfiles : 1, sizeof *pc.b);
    pc.left = calloc(x.n ? x.n : 1, sizeof *pc.left);
    pc.sent = calloc(x.n ? x.n : 1, sizeof *pc.sent);
    if (pc.b == NULL || pc.left == NULL || pc.sent == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < x.n; i++) {
        r->artifacts++;
        for (k = 0; k < x.a[i].nfiles; k++) {
            const sf_ri_file *f = &x.a[i].files[k];
            char *bkey = blob_key(u.prefix, keys, f->sha256);
            uint64_t osize = object_size(keys, f->size);
            blob_job *b;
            size_t q;
            bool dup = false;
            if (bkey == NULL) {
                nomem(err);
                goto done;
            }
            r->files++;
            for (q = 0; q < pc.n && !dup; q++)
                dup = strcmp(pc.b[q].bkey, bkey) == 0;
            if (dup || (existing_has(&ex, bkey, osize) && journal_find(&j, bkey) == NULL)) {
                free(bkey);
                continue;
            }
            b = &pc.b[pc.n++];
            b->artifact = i;
            b->f = f;
            b->bkey = bkey;
            b->osize = osize;
            b->ui = -1;
            b->c.fd = -1;
            b->file = sf_path_join(rep.artifacts[i].artifact_path, f->path);
            if (f->path[0] == '\0') {
                free(b->file);
                b->file = strdup(rep.artifacts[i].artifact_path);
            }
            if (b->file == NULL) {
                nomem(err);
                goto done;
            }
            if (osize > part_size) {
                b->multi = true;
                b->ps = part_size;
                while ((osize + b->ps - 1) / b->ps > 10000)
                    b->ps *= 2;
                b->nparts = (int)((osize + b->ps - 1) / b->ps);
            }
            pc.left[i]++;
        }
        if (pc.left[i] == 0)
            progress(o, "already there: %s", x.a[i].path);
    }
    if (sf_s3_pool_new(s3, o && o->jobs ? o->jobs : SF_REMOTE_JOBS_DEFAULT, &pc.pool, err) != 0 ||
        push_blobs(&pc, err) != 0)
        goto done;
    for (i = 0; i < x.n; i++)
        if (pc.sent[i])
            r->artifacts_sent++;
    /* The documents, then the manifest: the commit point. */
    for (i = 0; documents[i] != NULL; i++)
        if (docs_text[i] != NULL &&
            put_doc(s3, &u, keys, r->name, documents[i], docs_text[i], docs_len[i], r, err) != 0)
            goto done;
    if (put_doc(s3, &u, keys, r->name, MANIFEST, manifest, manifest_len, r, err) != 0)
        goto done;
    progress(o, "pushed %s to %s", r->name, url);
    if (unlink(j.path) != 0 && errno != ENOENT) {
        sf_error_set_errno(err, errno, j.path, "%s: cannot remove the push journal", j.path);
        goto done;
    }
    rc = 0;
done:
    sf_s3_pool_free(pc.pool);
    for (i = 0; i < pc.n; i++) {
        free(pc.b[i].file);
        free(pc.b[i].bkey);
    }
    free(pc.b);
    free(pc.left);
    free(pc.sent);
    for (i = 0; i < 8; i++)
        free(docs_text[i]);
    free(manifest);
    free(key);
    free(absdir);
    scans_free(&scans);
    if (have_report)
        sf_integrity_report_free(&rep);
    sf_remote_index_free(&x);
    existing_free(&ex);
    journal_free(&j);
    sf_buf_free(&remote_manifest);
    sf_buf_free(&index_json);
    if (locked)
        sf_lock_release(&lock);
    sf_s3_url_free(&u);
    return rc;
}

/* ---- pull ---- */

/* A file being fetched: written and hashed as it arrives (decrypted
 * first when an identity is given). */
typedef struct fetch {
    const char *path;
    int fd;
    sf_sha256 *h;
    uint64_t bytes, size;
    sf_error *err;
    const sf_identity *id;
    const char *context, *what;
    sf_dec dec;
    bool dec_open;
} fetch;

static int plain_sink(void *payload, const void *data, size_t len);

static int fetch_open(fetch *f)
{
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    f->h = sf_sha256_new();
    f->bytes = 0;
    if (f->fd < 0)
        return sf_error_set_errno(f->err, errno, f->path, "%s", f->path);
    if (f->h == NULL)
        return nomem(f->err);
    if (f->id != NULL) {
        f->dec_open = true;
        if (sf_dec_init(&f->dec, f->id, f->context, f->what, plain_sink, f, f->err) != 0)
            return SF_ERR;
    }
    return 0;
}

static void fetch_close(fetch *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
    sf_sha256_free(f->h);
    f->h = NULL;
    if (f->dec_open)
        sf_dec_free(&f->dec);
    f->dec_open = false;
}

static int fetch_sink(void *payload, const void *data, size_t len)
{
    fetch *f = payload;

    if (f->fd < 0 || f->h == NULL)
        return 1;
    if (f->dec_open)
        return sf_dec_feed(&f->dec, data, len, f->err) != 0;
    return plain_sink(payload, data, len);
}

static int plain_sink(void *payload, const void *data, size_t len)
{
    fetch *f = payload;
    const unsigned char *p = data;

    if (f->fd < 0 || f->h == NULL)
        return 1;
    f->bytes += len;
    if (f->bytes > f->size) {
        sf_error_set(f->err, "checksum-mismatch", f->path,
                     "%s: the object is larger than the %llu bytes the index gives", f->path,
                     (unsigned long long)f->size);
        return 1;
    }
    if (sf_sha256_update(f->h, data, len) != 0) {
        nomem(f->err);
        return 1;
    }
    while (len > 0) {
        ssize_t w = write(f->fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            sf_error_set_errno(f->err, errno, f->path, "%s: write", f->path);
            return 1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

static void fetch_reset(void *payload)
{
    fetch *f = payload;

    fetch_close(f);
    fetch_open(f);
}

/* ---- pull: the blobs, up to o->jobs transfers at once ----
 *
 * Each artifact is fetched into <dest>.pull-part: every file streamed into
 * place, hashed (and decrypted) as it arrives, its size and SHA-256 the
 * index's; once its last file is in, the artifact's checksum against the
 * manifest's, then the rename. Transfers of several files, of one artifact
 * or several, run at once on one thread (the pool's callbacks run in
 * turn). The first failure stops new transfers; those in flight finish,
 * and every artifact not renamed into place is removed. */

typedef struct pull_art {
    char *dest;
    sf_buf part;
    size_t left;          /* files not yet in */
    bool started, placed;
} pull_art;

typedef struct pull_ctx {
    sf_s3_pool *pool;
    const sf_s3_url *u;
    const sf_identity *id;
    const sf_remote_index *x;
    const sf_remote_options *o;
    sf_pull_result *r;
    pull_art *arts;
    bool failed;
    sf_error first;
} pull_ctx;

typedef struct fetch_xfer {
    pull_ctx *p;
    size_t a;
    const sf_ri_file *file;
    char *key;
    sf_buf path;
    char context[SF_CRYPT_CONTEXT_MAX], what[1024];
    fetch f;
    sf_error ferr;        /* the sink's own refusals */
} fetch_xfer;

static void pull_fail(pull_ctx *p, const sf_error *e)
{
    if (!p->failed) {
        p->first = *e;
        p->failed = true;
    }
}

/* Every file of artifact a is in: its checksum, then into place. */
static int artifact_place(pull_ctx *p, size_t a, sf_error *err)
{
    pull_art *pa = &p->arts[a];
    const sf_ri_artifact *ia = &p->x->a[a];
    char hex[SF_SHA256_HEX_SIZE];

    if (sf_checksum_path(sf_buf_cstr(&pa->part), hex, err) != 0)
        return SF_ERR;
    if (strcmp(hex, ia->checksum) != 0)
        return sf_error_set(err, "checksum-mismatch", ia->path,
                            "artifact %s: checksum mismatch: expected %s, actual %s", ia->path,
                            ia->checksum, hex);
    if (sf_fs_rename_durable(sf_buf_cstr(&pa->part), pa->dest, err) != 0)
        return SF_ERR;
    pa->placed = true;
    p->r->artifacts_fetched++;
    progress(p->o, "fetched %s", ia->path);
    return 0;
}

static void on_fetched(void *payload, int rc, const char *etag, sf_error *err)
{
    fetch_xfer *t = payload;
    pull_ctx *p = t->p;
    fetch *f = &t->f;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error e;

    (void)etag;
    sf_error_clear(&e);
    if (rc != 0) {
        /* The sink's reason when it stopped the transfer. */
        e = t->ferr.kind != NULL ? t->ferr : *err;
    } else if (f->dec_open && sf_dec_finish(&f->dec, NULL, &e) != 0) {
        rc = SF_ERR;
    } else if (f->h == NULL || sf_sha256_final(f->h, hex) != 0) {
        rc = nomem(&e);
    } else if (f->bytes != t->file->size || strcmp(hex, t->file->sha256) != 0) {
        rc = sf_error_set(&e, "checksum-mismatch", f->path,
                          "%s: %llu bytes with SHA-256 %s, expected %llu bytes with %s",
                          t->what, (unsigned long long)f->bytes,
                          f->bytes == t->file->size ? hex : "(not computed)",
                          (unsigned long long)t->file->size, t->file->sha256);
    } else if (fsync(f->fd) != 0) {
        rc = sf_error_set_errno(&e, errno, f->path, "%s: fsync", f->path);
    }
    p->r->bytes_fetched += f->bytes;
    fetch_close(f);
    if (rc != 0)
        pull_fail(p, &e);
    else if (--p->arts[t->a].left == 0 && !p->failed && artifact_place(p, t->a, &e) != 0)
        pull_fail(p, &e);
    sf_buf_free(&t->path);
    free(t->key);
    free(t);
}

/* Starts the transfer of file k of artifact a into its place under the
 * artifact's .pull-part directory. */
static int fetch_start(pull_ctx *p, size_t a, size_t k, sf_error *err)
{
    const sf_ri_file *file = &p->x->a[a].files[k];
    fetch_xfer *t = calloc(1, sizeof *t);

    if (t == NULL)
        return nomem(err);
    sf_buf_init(&t->path);
    t->p = p;
    t->a = a;
    t->file = file;
    sf_buf_puts(&t->path, sf_buf_cstr(&p->arts[a].part));
    if (file->path[0])
        sf_buf_printf(&t->path, "/%s", file->path);
    t->key = blob_key(p->u->prefix, p->id ? sf_identity_keys(p->id) : NULL, file->sha256);
    if (t->path.oom || t->key == NULL ||
        sf_crypt_context_blob(file->sha256, t->context, sizeof t->context) != 0)
        goto nomem;
    snprintf(t->what, sizeof t->what, "s3://%s/%s", p->u->bucket, t->key);
    if (strchr(file->path, '/') != NULL) {
        char *parent = strdup(sf_buf_cstr(&t->path));
        int mk;
        if (parent == NULL)
            goto nomem;
        *strrchr(parent, '/') = '\0';
        mk = sf_fs_mkdir_p(parent, err);
        free(parent);
        if (mk != 0)
            goto fail;
    }
    t->f = (fetch){.path = sf_buf_cstr(&t->path), .fd = -1, .size = file->size,
                   .err = &t->ferr, .id = p->id, .context = t->context, .what = t->what};
    sf_error_clear(&t->ferr);
    if (fetch_open(&t->f) != 0) {
        *err = t->ferr;
        fetch_close(&t->f);
        goto fail;
    }
    if (sf_s3_pool_get(p->pool, p->u->bucket, t->key, fetch_sink, fetch_reset, &t->f, on_fetched,
                       t, err) != 0) {
        fetch_close(&t->f);
        goto fail;
    }
    return 0;
nomem:
    nomem(err);
fail:
    sf_buf_free(&t->path);
    free(t->key);
    free(t);
    return SF_ERR;
}

/* Makes artifact a's empty .pull-part tree (a stale one removed first). */
static int artifact_begin(pull_ctx *p, size_t a, sf_error *err)
{
    pull_art *pa = &p->arts[a];
    const sf_ri_artifact *ia = &p->x->a[a];
    sf_buf path;
    sf_error ignored;
    size_t k;
    int rc = SF_ERR;

    sf_buf_init(&path);
    sf_buf_printf(&pa->part, "%s.pull-part", pa->dest);
    if (pa->part.oom)
        return nomem(err);
    pa->started = true;
    pa->left = ia->nfiles;
    sf_remove_tree(sf_buf_cstr(&pa->part), &ignored);
    {
        char *parent = strdup(sf_buf_cstr(&pa->part)), *slash;
        if (parent == NULL)
            return nomem(err);
        slash = strrchr(parent, '/');
        if (slash != NULL)
            *slash = '\0';
        rc = slash ? sf_fs_mkdir_p(parent, err) : 0;
        free(parent);
        if (rc != 0)
            return SF_ERR;
        rc = SF_ERR;
    }
    if (!(ia->nfiles == 1 && ia->files[0].path[0] == '\0') &&
        mkdir(sf_buf_cstr(&pa->part), 0700) != 0)
        return sf_error_set_errno(err, errno, sf_buf_cstr(&pa->part), "%s",
                                  sf_buf_cstr(&pa->part));
    for (k = 0; k < ia->ndirs; k++) {
        sf_buf_reset(&path);
        sf_buf_printf(&path, "%s/%s", sf_buf_cstr(&pa->part), ia->dirs[k]);
        if (path.oom) {
            nomem(err);
            goto done;
        }
        if (sf_fs_mkdir_p(sf_buf_cstr(&path), err) != 0)
            goto done;
    }
    rc = 0;
done:
    sf_buf_free(&path);
    return rc;
}

/* Fetches every artifact of x not already in place (arts[i].dest NULL:
 * kept), up to jobs transfers at once. */
static int pull_blobs(pull_ctx *p, sf_error *err)
{
    size_t a = 0, k = 0;
    sf_error e;

    while (!p->failed) {
        /* Start transfers while there is room. */
        while (!p->failed && !sf_s3_pool_full(p->pool) && a < p->x->n) {
            pull_art *pa = &p->arts[a];
            sf_error_clear(&e);
            if (pa->dest == NULL) {
                a++;
                continue;
            }
            if (!pa->started) {
                k = 0;
                if (artifact_begin(p, a, &e) != 0) {
                    pull_fail(p, &e);
                    break;
                }
                if (pa->left == 0 && artifact_place(p, a, &e) != 0) {
                    pull_fail(p, &e);
                    break;
                }
            }
            if (k == p->x->a[a].nfiles) {
                a++;
                k = 0;
                continue;
            }
            if (fetch_start(p, a, k, &e) != 0) {
                pull_fail(p, &e);
                break;
            }
            k++;
        }
        if (sf_s3_pool_active(p->pool) == 0)
            break;
        sf_error_clear(&e);
        if (sf_s3_pool_run(p->pool, &e) != 0) {
            pull_fail(p, &e);
            break;
        }
    }
    /* Those in flight finish (or, when libcurl failed, are aborted). */
    while (sf_s3_pool_active(p->pool) > 0) {
        sf_error_clear(&e);
        if (sf_s3_pool_run(p->pool, &e) != 0)
            break;
    }
    for (a = 0; a < p->x->n; a++)
        if (p->arts[a].started && !p->arts[a].placed)
            sf_remove_tree(sf_buf_cstr(&p->arts[a].part), &e);
    if (p->failed) {
        if (err != NULL)
            *err = p->first;
        return SF_ERR;
    }
    return 0;
}

/* Splits s3://BUCKET/PREFIX/NAME. */
static int split_backup_url(const char *url, sf_s3_url *u, char **name, sf_error *err)
{
    char *slash;

    if (sf_s3_url_parse(url, u, err) != 0)
        return SF_ERR;
    slash = strrchr(u->prefix, '/');
    *name = strdup(slash ? slash + 1 : u->prefix);
    if (*name == NULL) {
        sf_s3_url_free(u);
        return nomem(err);
    }
    if (slash)
        *slash = '\0';
    else
        u->prefix[0] = '\0';
    if (!safe_name(*name)) {
        sf_error_set(err, "s3-url", "backup",
                     "%s does not end in a backup's name (s3://BUCKET/PREFIX/NAME)", url);
        free(*name);
        *name = NULL;
        sf_s3_url_free(u);
        return SF_ERR;
    }
    return 0;
}

/* Gets a document. With an identity it is decrypted (require: it must be
 * encrypted, as on a pull, so a plain object put in place of an encrypted
 * one is refused; else a plain one is read as it is). Without one an
 * encrypted document is refused ("remote-encrypted"). *encrypted (may be
 * NULL) says which it was. */
static int get_doc(sf_s3 *s3, const sf_s3_url *u, const sf_identity *id, bool require,
                   const char *name, const char *doc, sf_buf *out, bool *encrypted,
                   sf_error *err)
{
    char *key = key_of(u->prefix, "backups/%s/%s", name, doc);
    char context[SF_CRYPT_CONTEXT_MAX], what[1024];
    sf_buf raw;
    bool enc;
    int rc;

    if (key == NULL)
        return nomem(err);
    sf_buf_init(&raw);
    rc = sf_s3_get(s3, u->bucket, key, &raw, err);
    enc = rc == 0 && sf_crypt_is_encrypted(raw.data ? raw.data : "", raw.len);
    if (encrypted != NULL)
        *encrypted = enc;
    snprintf(what, sizeof what, "s3://%s/%s", u->bucket, key);
    if (rc != 0) {
        /* failed */
    } else if (id != NULL && (enc || require)) {
        if (sf_crypt_context_doc(name, doc, context, sizeof context) != 0)
            rc = sf_error_set(err, "crypt-format", "context", "object context too long");
        else
            rc = sf_crypt_decrypt_buf(id, context, what, raw.data ? raw.data : "", raw.len, out,
                                      err);
    } else if (enc) {
        rc = sf_error_set(err, "remote-encrypted", what,
                          "%s is encrypted: give the identity that decrypts it (--identity "
                          "KEYFILE)", what);
    } else {
        rc = sf_buf_append(out, raw.data ? raw.data : "", raw.len) != 0 ? nomem(err) : 0;
    }
    sf_buf_free(&raw);
    free(key);
    return rc;
}

/* Pulls into stage (made, locked, resumed); on success stage holds the
 * verified backup. */
static int pull_into(sf_s3 *s3, const sf_s3_url *u, const char *name, const char *stage,
                     const sf_buf *manifest, const sf_remote_options *o, sf_pull_result *r,
                     sf_error *err)
{
    sf_buf text;
    sf_remote_index x = {0};
    sf_lock lock = {.fd = -1};
    sf_integrity_report rep;
    pull_ctx pc;
    size_t i;
    int rc = SF_ERR;
    bool locked = false;

    memset(&pc, 0, sizeof pc);
    sf_buf_init(&text);
    if (get_doc(s3, u, identity_of(o), true, name, SF_REMOTE_OBJECTS_FILE, &text, NULL, err) !=
        0)
        goto done;
    if (sf_remote_index_parse(text.data, text.len, &x, err) != 0) {
        sf_error_prefix(err, "s3://%s/%s%sbackups/%s/%s: ", u->bucket, u->prefix,
                        u->prefix[0] ? "/" : "", name, SF_REMOTE_OBJECTS_FILE);
        goto done;
    }
    if (sf_fs_mkdir_p(stage, err) != 0 ||
        sf_lock_acquire_named(stage, "pull directory", &lock, err) != 0)
        goto done;
    locked = true;
    r->artifacts = x.n;
    pc.u = u;
    pc.id = identity_of(o);
    pc.x = &x;
    pc.o = o;
    pc.r = r;
    pc.arts = calloc(x.n ? x.n : 1, sizeof *pc.arts);
    if (pc.arts == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < x.n; i++) {
        const sf_ri_artifact *a = &x.a[i];
        char *dest = sf_path_join(stage, a->path);
        char hex[SF_SHA256_HEX_SIZE];
        struct stat st;
        sf_error ignored;

        sf_buf_init(&pc.arts[i].part);
        if (dest == NULL) {
            nomem(err);
            goto done;
        }
        if (lstat(dest, &st) == 0) {
            /* Fetched by a pull that stopped later: kept when it checksums. */
            if (sf_checksum_path(dest, hex, &ignored) == 0 && strcmp(hex, a->checksum) == 0) {
                r->artifacts_resumed++;
                free(dest);
                continue;
            }
            if (sf_remove_tree(dest, err) != 0) {
                free(dest);
                goto done;
            }
        }
        pc.arts[i].dest = dest;
    }
    if (sf_s3_pool_new(s3, o && o->jobs ? o->jobs : SF_REMOTE_JOBS_DEFAULT, &pc.pool, err) != 0 ||
        pull_blobs(&pc, err) != 0)
        goto done;
    /* The documents, the manifest last. */
    for (i = 0; i < x.ndocs; i++) {
        char *path = sf_path_join(stage, x.docs[i]);
        sf_buf_reset(&text);
        if (path == NULL ||
            get_doc(s3, u, identity_of(o), true, name, x.docs[i], &text, NULL, err) != 0 ||
            sf_fs_write_atomic(path, text.data ? text.data : "", text.len, err) != 0) {
            if (path == NULL)
                nomem(err);
            free(path);
            goto done;
        }
        free(path);
    }
    {
        char *path = sf_path_join(stage, MANIFEST);
        if (path == NULL || sf_fs_write_atomic(path, manifest->data, manifest->len, err) != 0) {
            if (path == NULL)
                nomem(err);
            free(path);
            goto done;
        }
        free(path);
    }
    memset(&rep, 0, sizeof rep);
    if (sf_verify_integrity(stage, &rep, err) != 0) {
        sf_error_prefix(err, "the pulled backup does not verify: ");
        goto done;
    }
    sf_integrity_report_free(&rep);
    rc = 0;
done:
    sf_s3_pool_free(pc.pool);
    for (i = 0; pc.arts != NULL && i < x.n; i++) {
        free(pc.arts[i].dest);
        sf_buf_free(&pc.arts[i].part);
    }
    free(pc.arts);
    if (locked)
        sf_lock_release(&lock);
    sf_remote_index_free(&x);
    sf_buf_free(&text);
    return rc;
}

static int fetch_manifest(sf_s3 *s3, const sf_s3_url *u, const sf_identity *id,
                          const char *name, const char *url, sf_buf *manifest, sf_error *err)
{
    if (get_doc(s3, u, id, true, name, MANIFEST, manifest, NULL, err) == 0)
        return 0;
    if (err != NULL && err->kind != NULL && strcmp(err->kind, "s3-NoSuchKey") == 0)
        sf_error_set(err, "remote-incomplete", url,
                     "%s has no manifest: not a complete backup (a push that did not finish, "
                     "or no backup of that name)", url);
    return SF_ERR;
}

/* The opening steps of a pull and of a verify: r reset, url split into
 * its prefix and the backup's name, the manifest fetched (the backup must
 * be complete). pull_end frees what it made, whatever it came to. */
static int pull_begin(sf_s3 *s3, const char *url, const sf_remote_options *o,
                      sf_pull_result *r, sf_s3_url *u, char **name, sf_buf *manifest,
                      sf_error *err)
{
    memset(r, 0, sizeof *r);
    sf_buf_init(manifest);
    if (split_backup_url(url, u, name, err) != 0)
        return SF_ERR;
    return fetch_manifest(s3, u, identity_of(o), *name, url, manifest, err);
}

static void pull_end(sf_s3_url *u, char *name, sf_buf *manifest)
{
    free(name);
    sf_buf_free(manifest);
    sf_s3_url_free(u);
}

int sf_remote_pull(sf_s3 *s3, const char *url, const char *dir, const sf_remote_options *o,
                   sf_pull_result *r, sf_error *err)
{
    sf_s3_url u = {0};
    char *name = NULL, *stage = NULL, base[256];
    sf_buf manifest;
    struct stat st;
    size_t dl;
    int rc = SF_ERR;

    if (pull_begin(s3, url, o, r, &u, &name, &manifest, err) != 0)
        goto done;
    if (lstat(dir, &st) == 0) {
        /* Already pulled: the same manifest, verified. Anything else stays
         * as it is. */
        char *path = sf_path_join(dir, MANIFEST), *text = NULL;
        size_t len = 0;
        sf_integrity_report rep;
        sf_error ignored;
        bool same = path != NULL &&
                    sf_fs_read_file(path, DOC_MAX, &text, &len, &ignored) == 0 &&
                    len == manifest.len && memcmp(text, manifest.data, len) == 0;
        free(path);
        free(text);
        memset(&rep, 0, sizeof rep);
        if (same && sf_verify_integrity(dir, &rep, &ignored) == 0) {
            sf_integrity_report_free(&rep);
            r->already = true;
            rc = 0;
        } else {
            sf_error_set(err, "pull-target-exists", dir,
                         "%s exists and is not this backup, verified; pull into a new "
                         "directory", dir);
        }
        goto done;
    }
    base_name(dir, base, sizeof base);
    dl = strlen(dir);
    while (dl > 1 && dir[dl - 1] == '/')
        dl--;
    stage = malloc(dl + strlen(base) + 32);
    if (stage == NULL) {
        nomem(err);
        goto done;
    }
    memcpy(stage, dir, dl);
    stage[dl] = '\0';
    {
        char *slash = strrchr(stage, '/');
        if (slash != NULL)
            slash[1] = '\0';
        else
            stage[0] = '\0';
        strcat(stage, ".");
        strcat(stage, base);
        strcat(stage, ".snapfleet-pull");
    }
    if (pull_into(s3, &u, name, stage, &manifest, o, r, err) != 0)
        goto done;
    if (sf_fs_rename_durable(stage, dir, err) != 0)
        goto done;
    rc = 0;
done:
    free(stage);
    pull_end(&u, name, &manifest);
    return rc;
}

int sf_remote_verify(sf_s3 *s3, const char *url, const char *scratch_parent,
                     const sf_remote_options *o, sf_pull_result *r, sf_error *err)
{
    sf_s3_url u = {0};
    char *name = NULL, scratch[PATH_MAX], *stage = NULL;
    const char *parent = scratch_parent ? scratch_parent
                         : getenv("TMPDIR") && getenv("TMPDIR")[0] ? getenv("TMPDIR")
                                                                     : "/tmp";
    sf_buf manifest;
    int rc = SF_ERR;

    if (pull_begin(s3, url, o, r, &u, &name, &manifest, err) != 0)
        goto done;
    if ((size_t)snprintf(scratch, sizeof scratch, "%s/snapfleet-verify-XXXXXX", parent) >=
            sizeof scratch ||
        mkdtemp(scratch) == NULL) {
        sf_error_set_errno(err, errno, parent, "%s: cannot make a scratch directory", parent);
        goto done;
    }
    stage = sf_path_join(scratch, name);
    if (stage == NULL) {
        nomem(err);
    } else {
        rc = pull_into(s3, &u, name, stage, &manifest, o, r, err);
    }
    sf_remove_tree(scratch, NULL);
done:
    free(stage);
    pull_end(&u, name, &manifest);
    return rc;
}

/* ---- list and prune ---- */

static int by_recency(const void *pa, const void *pb)
{
    const sf_remote_backup *a = pa, *b = pb;
    int c;

    if (a->complete != b->complete)
        return a->complete ? -1 : 1;
    if (a->complete) {
        c = strcmp(b->created_at ? b->created_at : "", a->created_at ? a->created_at : "");
        if (c != 0)
            return c;
        return strcmp(b->name, a->name);
    }
    return strcmp(a->name, b->name);
}

int sf_remote_list(sf_s3 *s3, const char *url, const sf_remote_options *o,
                   sf_remote_backup **out, size_t *count, sf_error *err)
{
    sf_s3_url u = {0};
    existing ex = {0};
    sf_remote_backup *b = NULL;
    size_t n = 0, i, k, plen;
    char *prefix = NULL;
    int rc = SF_ERR;

    *out = NULL;
    *count = 0;
    if (sf_s3_url_parse(url, &u, err) != 0)
        return SF_ERR;
    prefix = key_of(u.prefix, "backups/");
    if (prefix == NULL) {
        nomem(err);
        goto done;
    }
    plen = strlen(prefix);
    if (sf_s3_list(s3, u.bucket, prefix, collect_existing, &ex, err) != 0)
        goto done;
    b = calloc(ex.n ? ex.n : 1, sizeof *b);
    if (b == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < ex.n; i++) {
        const char *rest = ex.keys[i] + plen, *slash = strchr(rest, '/');
        size_t nl = slash ? (size_t)(slash - rest) : strlen(rest);
        sf_remote_backup *e = NULL;
        for (k = 0; k < n; k++)
            if (strlen(b[k].name) == nl && strncmp(b[k].name, rest, nl) == 0)
                e = &b[k];
        if (e == NULL) {
            e = &b[n++];
            e->name = strndup(rest, nl);
            if (e->name == NULL) {
                nomem(err);
                goto done;
            }
        }
        e->objects++;
        if (slash != NULL && strcmp(slash + 1, MANIFEST) == 0)
            e->complete = true;
    }
    for (i = 0; i < n; i++) {
        sf_buf text;
        sf_manifest m;
        if (!b[i].complete)
            continue;
        sf_buf_init(&text);
        if (get_doc(s3, &u, identity_of(o), false, b[i].name, MANIFEST, &text, &b[i].encrypted,
                    err) != 0 &&
            b[i].encrypted && identity_of(o) == NULL) {
            /* Encrypted, and no identity: listed without its id and time. */
            sf_error_clear(err);
            sf_buf_free(&text);
            continue;
        }
        if ((err != NULL && err->kind != NULL) ||
            sf_manifest_parse(text.data, text.len, &m, err) != 0) {
            sf_error_prefix(err, "s3://%s/%sbackups/%s/%s: ", u.bucket, u.prefix[0] ? "" : "",
                            b[i].name, MANIFEST);
            sf_buf_free(&text);
            goto done;
        }
        b[i].backup_id = m.backup_id ? strdup(m.backup_id) : NULL;
        b[i].created_at = m.created_at ? strdup(m.created_at) : NULL;
        sf_manifest_free(&m);
        sf_buf_free(&text);
    }
    qsort(b, n, sizeof *b, by_recency);
    *out = b;
    *count = n;
    b = NULL;
    rc = 0;
done:
    if (b != NULL)
        sf_remote_backups_free(b, n);
    existing_free(&ex);
    free(prefix);
    sf_s3_url_free(&u);
    return rc;
}

void sf_remote_backups_free(sf_remote_backup *b, size_t count)
{
    size_t i;

    if (b == NULL)
        return;
    for (i = 0; i < count; i++) {
        free(b[i].name);
        free(b[i].backup_id);
        free(b[i].created_at);
    }
    free(b);
}

static int delete_backup(sf_s3 *s3, const sf_s3_url *u, const char *name, sf_error *err)
{
    existing ex = {0};
    char *prefix = key_of(u->prefix, "backups/%s/", name), *mkey;
    size_t i;
    int rc = 0;

    if (prefix == NULL)
        return nomem(err);
    /* The manifest first: the backup stops being complete. */
    mkey = key_of(u->prefix, "backups/%s/%s", name, MANIFEST);
    if (mkey == NULL)
        rc = nomem(err);
    if (rc == 0)
        rc = sf_s3_delete(s3, u->bucket, mkey, err);
    if (rc == 0)
        rc = sf_s3_list(s3, u->bucket, prefix, collect_existing, &ex, err);
    for (i = 0; rc == 0 && i < ex.n; i++)
        rc = sf_s3_delete(s3, u->bucket, ex.keys[i], err);
    existing_free(&ex);
    free(mkey);
    free(prefix);
    return rc;
}

int sf_remote_prune(sf_s3 *s3, const char *url, size_t keep, bool dry_run,
                    const sf_remote_options *o, sf_prune_remote_result *r, sf_error *err)
{
    sf_remote_backup *b = NULL;
    size_t n = 0, i, k, complete = 0;
    sf_s3_url u = {0};
    existing arts = {0};
    char **refs = NULL;
    size_t nrefs = 0;
    char *aprefix = NULL;
    int rc = SF_ERR;

    memset(r, 0, sizeof *r);
    if (sf_remote_list(s3, url, o, &b, &n, err) != 0)
        return SF_ERR;
    if (sf_s3_url_parse(url, &u, err) != 0)
        goto done;
    r->deleted_backups = calloc(n ? n : 1, sizeof *r->deleted_backups);
    if (r->deleted_backups == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < n; i++) {
        if (!b[i].complete)
            continue;
        if (complete++ < keep) {
            r->kept_backups++;
            continue;
        }
        if ((r->deleted_backups[r->deleted_backup_count++] = strdup(b[i].name)) == NULL) {
            nomem(err);
            goto done;
        }
    }
    /* Every object a remaining index names (incomplete backups' too), read
     * before anything is deleted: an index that cannot be read (encrypted
     * without the identity, damaged) stops the prune with nothing gone. */
    for (i = 0; i < n; i++) {
        sf_buf text;
        sf_remote_index x;
        size_t f, nfiles = 0;
        bool gone = false;
        for (k = 0; k < r->deleted_backup_count; k++)
            gone = gone || strcmp(r->deleted_backups[k], b[i].name) == 0;
        if (gone)
            continue;
        bool enc = false;
        sf_buf_init(&text);
        if (get_doc(s3, &u, identity_of(o), false, b[i].name, SF_REMOTE_OBJECTS_FILE, &text,
                    &enc, err) != 0) {
            sf_buf_free(&text);
            if (err != NULL && err->kind != NULL && strcmp(err->kind, "s3-NoSuchKey") == 0 &&
                !b[i].complete) {
                sf_error_clear(err);
                continue;
            }
            goto done;
        }
        rc = sf_remote_index_parse(text.data, text.len, &x, err);
        sf_buf_free(&text);
        if (rc != 0) {
            sf_error_prefix(err, "%s/%s: ", b[i].name, SF_REMOTE_OBJECTS_FILE);
            goto done;
        }
        rc = SF_ERR;
        for (k = 0; k < x.n; k++)
            nfiles += x.a[k].nfiles;
        {
            char **nr = realloc(refs, (nrefs + nfiles + 1) * sizeof *nr);
            if (nr == NULL) {
                sf_remote_index_free(&x);
                nomem(err);
                goto done;
            }
            refs = nr;
        }
        for (k = 0; k < x.n; k++) {
            for (f = 0; f < x.a[k].nfiles; f++) {
                refs[nrefs] = blob_key(u.prefix, enc ? sf_identity_keys(identity_of(o)) : NULL,
                                       x.a[k].files[f].sha256);
                if (refs[nrefs] == NULL) {
                    sf_remote_index_free(&x);
                    nomem(err);
                    goto done;
                }
                nrefs++;
            }
        }
        sf_remote_index_free(&x);
    }
    for (i = 0; !dry_run && i < r->deleted_backup_count; i++)
        if (delete_backup(s3, &u, r->deleted_backups[i], err) != 0)
            goto done;
    aprefix = key_of(u.prefix, "blobs/");
    if (aprefix == NULL || sf_s3_list(s3, u.bucket, aprefix, collect_existing, &arts, err) != 0) {
        if (aprefix == NULL)
            nomem(err);
        goto done;
    }
    for (i = 0; i < arts.n; i++) {
        bool used = false;
        for (k = 0; k < nrefs && !used; k++)
            used = strcmp(refs[k], arts.keys[i]) == 0;
        if (used)
            continue;
        if (!dry_run && sf_s3_delete(s3, u.bucket, arts.keys[i], err) != 0)
            goto done;
        r->deleted_blobs++;
    }
    rc = 0;
done:
    if (rc != 0)
        sf_prune_remote_result_free(r);
    sf_strv_free(refs, nrefs);
    existing_free(&arts);
    free(aprefix);
    sf_remote_backups_free(b, n);
    sf_s3_url_free(&u);
    return rc;
}

void sf_prune_remote_result_free(sf_prune_remote_result *r)
{
    if (r == NULL)
        return;
    sf_strv_free(r->deleted_backups, r->deleted_backup_count);
    memset(r, 0, sizeof *r);
}
