/*
 * Encrypted objects and their keys (libsodium): key files, the object
 * header, streaming encryption and decryption. The format is described in
 * crypt_internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypt_internal.h"
#include "snapfleet/fs.h"

#define KEYFILE_MAX 4096
static const unsigned char magic[6] = {'s', 'f', 'e', 'n', 'c', 0};
#define VERSION 1

struct sf_recipient {
    sf_keys k;
};

struct sf_identity {
    sf_keys k;
    unsigned char sk[32];
};

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
}

static int crypto_ready(sf_error *err)
{
    if (sodium_init() < 0)
        return sf_error_set(err, "crypt-init", NULL, "libsodium could not be initialised");
    return 0;
}

void sf_crypt_hex(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;

    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

bool sf_crypt_unhex(const char *s, size_t n, unsigned char *out)
{
    size_t i;

    for (i = 0; i < 2 * n; i++) {
        char c = s[i];
        int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            return false;
        if (i % 2 == 0)
            out[i / 2] = (unsigned char)(v << 4);
        else
            out[i / 2] |= (unsigned char)v;
    }
    return true;
}

static void key_id(sf_keys *k)
{
    crypto_generichash_state st;
    static const char label[] = "snapfleet key id v1";

    crypto_generichash_init(&st, NULL, 0, sizeof k->id);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, k->pk, sizeof k->pk);
    crypto_generichash_final(&st, k->id, sizeof k->id);
}

const sf_keys *sf_recipient_keys(const sf_recipient *r)
{
    return &r->k;
}

const sf_keys *sf_identity_keys(const sf_identity *id)
{
    return &id->k;
}

void sf_recipient_id(const sf_recipient *r, char out[33])
{
    sf_crypt_hex(r->k.id, sizeof r->k.id, out);
}

void sf_identity_id(const sf_identity *id, char out[33])
{
    sf_crypt_hex(id->k.id, sizeof id->k.id, out);
}

/* ---- key files ---- */

#define IDENTITY_HEAD "snapfleet-identity-v1\n"
#define RECIPIENT_HEAD "snapfleet-recipient-v1\n"

/* Writes text to path, complete or not at all, never over a file. */
static int write_new(const char *path, const char *text, mode_t mode, sf_error *err)
{
    char *tmp = malloc(strlen(path) + 16);
    size_t len = strlen(text), off = 0;
    int fd, rc = 0;

    if (tmp == NULL)
        return nomem(err);
    sprintf(tmp, "%s.tmp-XXXXXX", path);
    fd = mkstemp(tmp);
    if (fd < 0) {
        rc = sf_error_set_errno(err, errno, path, "%s: cannot create", path);
        free(tmp);
        return rc;
    }
    if (fchmod(fd, mode) != 0)
        rc = sf_error_set_errno(err, errno, path, "%s: chmod", path);
    while (rc == 0 && off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            rc = sf_error_set_errno(err, errno, path, "%s: write", path);
        else
            off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = sf_error_set_errno(err, errno, path, "%s: fsync", path);
    close(fd);
    if (rc == 0 && link(tmp, path) != 0) {
        if (errno == EEXIST)
            rc = sf_error_set(err, "keygen-exists", path,
                              "%s exists: a key file is never overwritten", path);
        else
            rc = sf_error_set_errno(err, errno, path, "%s", path);
    }
    unlink(tmp);
    free(tmp);
    return rc;
}

static void fsync_parent(const char *path)
{
    char *dir = strdup(path), *slash;
    int fd;

    if (dir == NULL)
        return;
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(dir);
}

int sf_keygen(const char *path, sf_error *err)
{
    sf_identity id;
    char pk[65], sk[65], nk[65], text[512], *pub = NULL;
    struct stat st;
    int rc = SF_ERR;

    if (crypto_ready(err) != 0)
        return SF_ERR;
    pub = malloc(strlen(path) + 8);
    if (pub == NULL)
        return nomem(err);
    sprintf(pub, "%s.pub", path);
    if (lstat(path, &st) == 0 || lstat(pub, &st) == 0) {
        const char *there = lstat(path, &st) == 0 ? path : pub;
        sf_error_set(err, "keygen-exists", there,
                     "%s exists: a key file is never overwritten", there);
        free(pub);
        return SF_ERR;
    }
    crypto_box_keypair(id.k.pk, id.sk);
    randombytes_buf(id.k.name_key, sizeof id.k.name_key);
    sf_crypt_hex(id.k.pk, 32, pk);
    sf_crypt_hex(id.sk, 32, sk);
    sf_crypt_hex(id.k.name_key, 32, nk);
    snprintf(text, sizeof text, IDENTITY_HEAD "public-key: %s\nsecret-key: %s\nname-key: %s\n",
             pk, sk, nk);
    if (write_new(path, text, 0600, err) != 0)
        goto done;
    snprintf(text, sizeof text, RECIPIENT_HEAD "public-key: %s\nname-key: %s\n", pk, nk);
    if (write_new(pub, text, 0644, err) != 0) {
        unlink(path);
        goto done;
    }
    fsync_parent(path);
    rc = 0;
done:
    sodium_memzero(&id, sizeof id);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(nk, sizeof nk);
    sodium_memzero(text, sizeof text);
    free(pub);
    return rc;
}

/* Reads "<label>: <64 hex>\n" at *p. */
static bool read_line(const char **p, const char *label, unsigned char out[32])
{
    size_t l = strlen(label);

    if (strncmp(*p, label, l) != 0 || (*p)[l] != ':' || (*p)[l + 1] != ' ')
        return false;
    *p += l + 2;
    if (strlen(*p) < 65 || (*p)[64] != '\n' || !sf_crypt_unhex(*p, 32, out))
        return false;
    *p += 65;
    return true;
}

/* Reads a key file; a secret one (an identity) must not be readable by
 * others, unless it is not an identity at all (then the parser says what
 * it is). */
static int read_keyfile(const char *path, bool secret, char **text, sf_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    ssize_t n;
    size_t len = 0;

    *text = NULL;
    if (fd < 0)
        return sf_error_set_errno(err, errno, path, "%s", path);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return sf_error_set(err, "crypt-key", path, "%s is not a regular file", path);
    }
    *text = malloc(KEYFILE_MAX + 1);
    if (*text == NULL) {
        close(fd);
        return nomem(err);
    }
    while ((n = read(fd, *text + len, KEYFILE_MAX + 1 - len)) > 0 ||
           (n < 0 && errno == EINTR))
        if (n > 0)
            len += (size_t)n;
    close(fd);
    if (n < 0 || len > KEYFILE_MAX) {
        sodium_memzero(*text, len);
        free(*text);
        *text = NULL;
        return n < 0 ? sf_error_set_errno(err, errno, path, "%s", path)
                     : sf_error_set(err, "crypt-key", path, "%s is not a snapfleet key file "
                                    "(larger than %d bytes)", path, KEYFILE_MAX);
    }
    (*text)[len] = '\0';
    if (strlen(*text) != len) {
        sodium_memzero(*text, len);
        free(*text);
        *text = NULL;
        return sf_error_set(err, "crypt-key", path, "%s is not a snapfleet key file", path);
    }
    if (secret && (st.st_mode & 077) != 0 &&
        strncmp(*text, IDENTITY_HEAD, strlen(IDENTITY_HEAD)) == 0) {
        sodium_memzero(*text, len);
        free(*text);
        *text = NULL;
        return sf_error_set(err, "crypt-key-mode", path,
                            "%s holds a secret key and others may read it (mode %04o): "
                            "chmod 600 it", path, (unsigned)(st.st_mode & 07777));
    }
    return 0;
}

int sf_recipient_parse(const char *text, const char *path, sf_recipient **out, sf_error *err)
{
    const char *p = text;
    sf_recipient *r;

    *out = NULL;
    if (strncmp(text, IDENTITY_HEAD, strlen(IDENTITY_HEAD)) == 0)
        return sf_error_set(err, "crypt-key", path,
                            "%s is a secret key (an identity): encrypt to its .pub file; the "
                            "machine that pushes needs no secret", path);
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return nomem(err);
    if (strncmp(p, RECIPIENT_HEAD, strlen(RECIPIENT_HEAD)) != 0 ||
        !(p += strlen(RECIPIENT_HEAD), read_line(&p, "public-key", r->k.pk)) ||
        !read_line(&p, "name-key", r->k.name_key) || *p != '\0') {
        sodium_memzero(r, sizeof *r);
        free(r);
        return sf_error_set(err, "crypt-key", path,
                            "%s is not a snapfleet recipient file (made by snapfleet keygen: "
                            "KEYFILE.pub)", path);
    }
    key_id(&r->k);
    *out = r;
    return 0;
}

int sf_recipient_load(const char *path, sf_recipient **out, sf_error *err)
{
    char *text = NULL;
    int rc;

    *out = NULL;
    if (crypto_ready(err) != 0 || read_keyfile(path, false, &text, err) != 0)
        return SF_ERR;
    rc = sf_recipient_parse(text, path, out, err);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

void sf_recipient_free(sf_recipient *r)
{
    if (r == NULL)
        return;
    sodium_memzero(r, sizeof *r);
    free(r);
}

int sf_identity_parse(const char *text, const char *path, sf_identity **out, sf_error *err)
{
    const char *p = text;
    sf_identity *id;
    unsigned char derived[32];
    int rc = SF_ERR;

    *out = NULL;
    id = calloc(1, sizeof *id);
    if (id == NULL)
        return nomem(err);
    if (strncmp(p, IDENTITY_HEAD, strlen(IDENTITY_HEAD)) != 0 ||
        !(p += strlen(IDENTITY_HEAD), read_line(&p, "public-key", id->k.pk)) ||
        !read_line(&p, "secret-key", id->sk) || !read_line(&p, "name-key", id->k.name_key) ||
        *p != '\0') {
        sf_error_set(err, "crypt-key", path,
                     "%s is not a snapfleet identity file (made by snapfleet keygen)%s", path,
                     strncmp(text, RECIPIENT_HEAD, strlen(RECIPIENT_HEAD)) == 0
                         ? ": it is a recipient (.pub) file, which cannot decrypt"
                         : "");
        goto done;
    }
    if (crypto_scalarmult_base(derived, id->sk) != 0 ||
        sodium_memcmp(derived, id->k.pk, 32) != 0) {
        sf_error_set(err, "crypt-key", path,
                     "%s: its public key is not its secret key's (a damaged key file)", path);
        goto done;
    }
    key_id(&id->k);
    *out = id;
    id = NULL;
    rc = 0;
done:
    sodium_memzero(derived, sizeof derived);
    if (id != NULL) {
        sodium_memzero(id, sizeof *id);
        free(id);
    }
    return rc;
}

int sf_identity_load(const char *path, sf_identity **out, sf_error *err)
{
    char *text = NULL;
    int rc;

    *out = NULL;
    if (crypto_ready(err) != 0 || read_keyfile(path, true, &text, err) != 0)
        return SF_ERR;
    rc = sf_identity_parse(text, path, out, err);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

int sf_identity_from_seed(const unsigned char seed[32], sf_identity **out)
{
    sf_identity *id;

    *out = NULL;
    if (sodium_init() < 0 || (id = calloc(1, sizeof *id)) == NULL)
        return SF_ERR;
    crypto_box_seed_keypair(id->k.pk, id->sk, seed);
    crypto_generichash(id->k.name_key, 32, seed, 32, NULL, 0);
    key_id(&id->k);
    *out = id;
    return 0;
}

int sf_recipient_of(const sf_identity *id, sf_recipient **out)
{
    *out = calloc(1, sizeof **out);
    if (*out == NULL)
        return SF_ERR;
    (*out)->k = id->k;
    return 0;
}

void sf_identity_free(sf_identity *id)
{
    if (id == NULL)
        return;
    sodium_memzero(id, sizeof *id);
    free(id);
}

/* ---- names, contexts, tags ---- */

void sf_crypt_blob_name(const sf_keys *k, const char sha256_hex[SF_SHA256_HEX_SIZE],
                        char out[SF_SHA256_HEX_SIZE])
{
    static const char label[] = "snapfleet blob name v1";
    crypto_generichash_state st;
    unsigned char raw[32], h[32];

    if (!sf_crypt_unhex(sha256_hex, 32, raw))
        memset(raw, 0, sizeof raw);
    crypto_generichash_init(&st, k->name_key, sizeof k->name_key, sizeof h);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, raw, sizeof raw);
    crypto_generichash_final(&st, h, sizeof h);
    sf_crypt_hex(h, sizeof h, out);
}

int sf_crypt_context_blob(const char *sha256_hex, char *out, size_t n)
{
    return (size_t)snprintf(out, n, "blob:%s", sha256_hex) < n ? 0 : SF_ERR;
}

int sf_crypt_context_doc(const char *backup, const char *doc, char *out, size_t n)
{
    return (size_t)snprintf(out, n, "doc:%s/%s", backup, doc) < n ? 0 : SF_ERR;
}

static void binding_of(const sf_keys *k, const char *context, unsigned char out[16])
{
    static const char label[] = "snapfleet binding v1";
    crypto_generichash_state st;

    crypto_generichash_init(&st, k->name_key, sizeof k->name_key, 16);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, (const unsigned char *)context, strlen(context));
    crypto_generichash_final(&st, out, 16);
}

void sf_crypt_content_tag(const sf_keys *k, const char *context,
                          const char sha256_hex[SF_SHA256_HEX_SIZE], unsigned char out[32])
{
    static const char label[] = "snapfleet content v1";
    crypto_generichash_state st;
    unsigned char raw[32];

    if (!sf_crypt_unhex(sha256_hex, 32, raw))
        memset(raw, 0, sizeof raw);
    crypto_generichash_init(&st, k->name_key, sizeof k->name_key, 32);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, (const unsigned char *)context, strlen(context) + 1);
    crypto_generichash_update(&st, raw, sizeof raw);
    crypto_generichash_final(&st, out, 32);
}

static void object_key(const sf_keys *k, const unsigned char seed[SF_CRYPT_SEED_SIZE],
                       unsigned char out[32])
{
    static const char label[] = "snapfleet object key v1";
    crypto_generichash_state st;

    crypto_generichash_init(&st, k->name_key, sizeof k->name_key, 32);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, seed, SF_CRYPT_SEED_SIZE);
    crypto_generichash_final(&st, out, 32);
    sodium_memzero(&st, sizeof st);
}

/* ---- the header ---- */

static void put_le(unsigned char *p, uint64_t v, int n)
{
    int i;

    for (i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    int i;

    for (i = n - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

bool sf_crypt_is_encrypted(const void *data, size_t len)
{
    return len >= sizeof magic && memcmp(data, magic, sizeof magic) == 0;
}

int sf_crypt_header_parse(const void *data, size_t len, sf_crypt_header *h, sf_error *err)
{
    const unsigned char *p = data;

    memset(h, 0, sizeof *h);
    if (!sf_crypt_is_encrypted(data, len)) {
        if (len < sizeof magic)
            return sf_error_set(err, "crypt-truncated", "header",
                                "%zu bytes: shorter than an encrypted object's header", len);
        return sf_error_set(err, "crypt-format", "magic", "not a snapfleet encrypted object");
    }
    if (len < SF_CRYPT_HEADER_SIZE)
        return sf_error_set(err, "crypt-truncated", "header",
                            "%zu bytes: the object ends inside its %d-byte header", len,
                            SF_CRYPT_HEADER_SIZE);
    if (p[6] != VERSION)
        return sf_error_set(err, "crypt-format", "version",
                            "encrypted object format version %u (this snapfleet reads %d)",
                            p[6], VERSION);
    if (p[7] != 0)
        return sf_error_set(err, "crypt-format", "flags", "unknown header flags 0x%02x", p[7]);
    memcpy(h->key_id, p + 8, 16);
    memcpy(h->binding, p + 24, 16);
    memcpy(h->content, p + 40, 32);
    h->chunk = (uint32_t)get_le(p + 72, 4);
    h->size = get_le(p + 76, 8);
    memcpy(h->sealed, p + 84, 80);
    memcpy(h->stream, p + 164, 24);
    if (h->chunk < SF_CRYPT_CHUNK_MIN || h->chunk > SF_CRYPT_CHUNK_MAX)
        return sf_error_set(err, "crypt-format", "chunk",
                            "chunk size %u is outside %u..%u", h->chunk, SF_CRYPT_CHUNK_MIN,
                            SF_CRYPT_CHUNK_MAX);
    if (h->size > SF_CRYPT_SIZE_MAX)
        return sf_error_set(err, "crypt-format", "size", "plaintext size %llu is over 2^53",
                            (unsigned long long)h->size);
    return 0;
}

void sf_crypt_header_write(const sf_crypt_header *h, unsigned char out[SF_CRYPT_HEADER_SIZE])
{
    memcpy(out, magic, sizeof magic);
    out[6] = VERSION;
    out[7] = 0;
    memcpy(out + 8, h->key_id, 16);
    memcpy(out + 24, h->binding, 16);
    memcpy(out + 40, h->content, 32);
    put_le(out + 72, h->chunk, 4);
    put_le(out + 76, h->size, 8);
    memcpy(out + 84, h->sealed, 80);
    memcpy(out + 164, h->stream, 24);
}

uint64_t sf_crypt_size(uint64_t size, uint32_t chunk)
{
    uint64_t chunks = size == 0 ? 1 : (size + chunk - 1) / chunk;

    return SF_CRYPT_HEADER_SIZE + size + chunks * SF_CRYPT_ABYTES;
}

static int set_ad(unsigned char *ad, size_t *adlen, const unsigned char *header,
                  const char *context, sf_error *err)
{
    size_t cl = strlen(context);

    if (cl >= SF_CRYPT_CONTEXT_MAX)
        return sf_error_set(err, "crypt-format", "context", "an object context over %d bytes",
                            SF_CRYPT_CONTEXT_MAX);
    memcpy(ad, header, SF_CRYPT_HEADER_SIZE);
    memcpy(ad + SF_CRYPT_HEADER_SIZE, context, cl);
    *adlen = SF_CRYPT_HEADER_SIZE + cl;
    return 0;
}

/* ---- encryption ---- */

int sf_enc_init(sf_enc *e, const sf_keys *k, const char *context,
                const char sha256_hex[SF_SHA256_HEX_SIZE], uint64_t size, uint32_t chunk,
                const unsigned char *seed, const unsigned char *header, sf_error *err)
{
    unsigned char key[32];
    sf_crypt_header h;
    int rc = SF_ERR;

    memset(e, 0, sizeof *e);
    if (crypto_ready(err) != 0)
        return SF_ERR;
    if (chunk == 0)
        chunk = SF_CRYPT_CHUNK_DEFAULT;
    if (size > SF_CRYPT_SIZE_MAX || chunk < SF_CRYPT_CHUNK_MIN || chunk > SF_CRYPT_CHUNK_MAX)
        return sf_error_set(err, "crypt-format", "size", "an object of %llu bytes in chunks "
                            "of %u cannot be encrypted", (unsigned long long)size, chunk);
    if ((seed == NULL) != (header == NULL))
        return sf_error_set(err, SF_EK_USAGE, NULL, "seed and header go together");
    e->chunk = chunk;
    e->size = size;
    if (seed != NULL) {
        /* The same stream again (a resumed multipart upload). */
        if (sf_crypt_header_parse(header, SF_CRYPT_HEADER_SIZE, &h, err) != 0)
            return SF_ERR;
        if (h.chunk != chunk || h.size != size || memcmp(h.key_id, k->id, 16) != 0)
            return sf_error_set(err, "push-journal", "header",
                                "the journal's object header is not this object's");
        memcpy(e->seed, seed, sizeof e->seed);
        memcpy(e->header, header, SF_CRYPT_HEADER_SIZE);
        object_key(k, e->seed, key);
    } else {
        memset(&h, 0, sizeof h);
        randombytes_buf(e->seed, sizeof e->seed);
        object_key(k, e->seed, key);
        memcpy(h.key_id, k->id, 16);
        binding_of(k, context, h.binding);
        sf_crypt_content_tag(k, context, sha256_hex, h.content);
        h.chunk = chunk;
        h.size = size;
        if (crypto_box_seal(h.sealed, key, sizeof key, k->pk) != 0) {
            sf_error_set(err, "crypt-seal", NULL, "the object key could not be sealed");
            goto done;
        }
        randombytes_buf(h.stream, sizeof h.stream);
        sf_crypt_header_write(&h, e->header);
    }
    /* init_pull derives from a given header what init_push derives from a
     * random one: the same state, so a resumed stream is the same stream. */
    if (crypto_secretstream_xchacha20poly1305_init_pull(&e->st, e->header + 164, key) != 0) {
        sf_error_set(err, "crypt-seal", NULL, "the stream could not be started");
        goto done;
    }
    if (set_ad(e->ad, &e->adlen, e->header, context, err) != 0)
        goto done;
    rc = 0;
done:
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        sf_enc_wipe(e);
    return rc;
}

int sf_enc_chunk(sf_enc *e, const void *plain, size_t len, unsigned char *out, sf_error *err)
{
    uint64_t left = e->size - e->done;
    size_t want = left < e->chunk ? (size_t)left : e->chunk;
    bool last = len == left;

    if (e->finished || len != want)
        return sf_error_set(err, SF_EK_USAGE, NULL, "encrypted chunk of %zu bytes, expected %zu",
                            len, e->finished ? (size_t)0 : want);
    crypto_secretstream_xchacha20poly1305_push(
        &e->st, out, NULL, plain, len, e->ad, e->adlen,
        last ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
             : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
    e->done += len;
    e->finished = last;
    return 0;
}

void sf_enc_wipe(sf_enc *e)
{
    sodium_memzero(e, sizeof *e);
}

int sf_crypt_encrypt_buf(const sf_keys *k, const char *context, const void *data, size_t len,
                         sf_buf *out, sf_error *err)
{
    sf_enc e;
    char hex[SF_SHA256_HEX_SIZE];
    const unsigned char *p = data;
    unsigned char *c;
    size_t start = out->len;
    uint64_t total = sf_crypt_size(len, SF_CRYPT_CHUNK_DEFAULT);

    if (sf_sha256_bytes(len ? data : "", len, hex) != 0)
        return nomem(err);
    if (sf_enc_init(&e, k, context, hex, len, 0, NULL, NULL, err) != 0)
        return SF_ERR;
    if (sf_buf_append(out, e.header, SF_CRYPT_HEADER_SIZE) != 0) {
        sf_enc_wipe(&e);
        return nomem(err);
    }
    do {
        size_t n = len - (size_t)e.done < e.chunk ? len - (size_t)e.done : e.chunk;
        size_t at = out->len;
        /* Grow by the chunk's ciphertext, then write into it. */
        if (sf_buf_append(out, p, n) != 0 || sf_buf_append(out, "0123456789abcdefg", 17) != 0) {
            sf_enc_wipe(&e);
            out->len = start;
            return nomem(err);
        }
        c = (unsigned char *)out->data + at;
        if (sf_enc_chunk(&e, p, n, c, err) != 0) {
            sf_enc_wipe(&e);
            out->len = start;
            return SF_ERR;
        }
        p += n;
    } while (!e.finished);
    sf_enc_wipe(&e);
    if (out->len - start != total) {
        out->len = start;
        return sf_error_set(err, SF_EK_USAGE, NULL, "encrypted size mismatch");
    }
    return 0;
}

/* ---- decryption ---- */

int sf_dec_init(sf_dec *d, const sf_identity *id, const char *context, const char *what,
                sf_dec_sink sink, void *payload, sf_error *err)
{
    memset(d, 0, sizeof *d);
    if (crypto_ready(err) != 0)
        return SF_ERR;
    if (strlen(context) >= sizeof d->context)
        return sf_error_set(err, "crypt-format", "context", "an object context over %zu bytes",
                            sizeof d->context);
    d->id = id;
    strcpy(d->context, context);
    snprintf(d->what, sizeof d->what, "%s", what);
    d->sink = sink;
    d->payload = payload;
    d->sha = sf_sha256_new();
    if (d->sha == NULL)
        return nomem(err);
    return 0;
}

void sf_dec_free(sf_dec *d)
{
    if (d->cbuf != NULL)
        free(d->cbuf);
    if (d->pbuf != NULL) {
        sodium_memzero(d->pbuf, d->h.chunk);
        free(d->pbuf);
    }
    sf_sha256_free(d->sha);
    sodium_memzero(d, sizeof *d);
}

/* The header is complete: is it ours, and for this object? */
static int dec_start(sf_dec *d, sf_error *err)
{
    unsigned char binding[16], key[32];
    char want[33], got[33];
    const sf_keys *k = &d->id->k;
    int rc;

    if (sf_crypt_header_parse(d->header, SF_CRYPT_HEADER_SIZE, &d->h, err) != 0)
        return sf_error_prefix(err, "%s: ", d->what);
    if (sodium_memcmp(d->h.key_id, k->id, 16) != 0) {
        sf_crypt_hex(d->h.key_id, 16, got);
        sf_crypt_hex(k->id, 16, want);
        return sf_error_set(err, "crypt-wrong-key", "key_id",
                            "%s is encrypted to another key (key id %s), not to this identity "
                            "(key id %s): wrong --identity", d->what, got, want);
    }
    binding_of(k, d->context, binding);
    if (sodium_memcmp(binding, d->h.binding, 16) != 0)
        return sf_error_set(err, "crypt-swapped", "binding",
                            "%s is not the object stored under this name (%s): another object "
                            "was put in its place, or its header is damaged", d->what,
                            d->context);
    if (crypto_box_seal_open(key, d->h.sealed, sizeof d->h.sealed, k->pk, d->id->sk) != 0)
        return sf_error_set(err, "crypt-auth", "sealed_key",
                            "%s: its sealed object key does not open with this identity (the "
                            "header is damaged)", d->what);
    rc = crypto_secretstream_xchacha20poly1305_init_pull(&d->st, d->h.stream, key);
    sodium_memzero(key, sizeof key);
    if (rc != 0)
        return sf_error_set(err, "crypt-auth", "stream", "%s: a bad stream header", d->what);
    if (set_ad(d->ad, &d->adlen, d->header, d->context, err) != 0)
        return SF_ERR;
    d->cbuf = malloc((size_t)d->h.chunk + SF_CRYPT_ABYTES);
    d->pbuf = malloc(d->h.chunk);
    if (d->cbuf == NULL || d->pbuf == NULL)
        return nomem(err);
    d->ready = true;
    return 0;
}

/* The ciphertext length of the chunk now expected. */
static size_t chunk_want(const sf_dec *d)
{
    uint64_t left = d->h.size - d->done;

    return (size_t)(left < d->h.chunk ? left : d->h.chunk) + SF_CRYPT_ABYTES;
}

static int dec_chunk(sf_dec *d, sf_error *err)
{
    unsigned long long plen = 0;
    unsigned char tag = 0;
    bool last = d->done + (d->clen - SF_CRYPT_ABYTES) == d->h.size;

    if (crypto_secretstream_xchacha20poly1305_pull(&d->st, d->pbuf, &plen, &tag, d->cbuf,
                                                   d->clen, d->ad, d->adlen) != 0)
        return sf_error_set(err, "crypt-auth", "chunk",
                            "%s: chunk %llu does not authenticate: the object was altered, its "
                            "chunks reordered, or the chunk is from another object", d->what,
                            (unsigned long long)d->chunks);
    if (last != (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL))
        return sf_error_set(err, "crypt-auth", "chunk",
                            "%s: chunk %llu is %s the final one", d->what,
                            (unsigned long long)d->chunks, last ? "not marked" : "marked");
    if (sf_sha256_update(d->sha, d->pbuf, (size_t)plen) != 0)
        return nomem(err);
    d->done += plen;
    d->chunks++;
    d->clen = 0;
    d->finished = last;
    if (plen > 0 && d->sink(d->payload, d->pbuf, (size_t)plen) != 0)
        return SF_ERR;
    return 0;
}

int sf_dec_feed(sf_dec *d, const void *data, size_t len, sf_error *err)
{
    const unsigned char *p = data;

    while (len > 0) {
        if (!d->ready) {
            size_t n = SF_CRYPT_HEADER_SIZE - d->hlen < len ? SF_CRYPT_HEADER_SIZE - d->hlen
                                                              : len;
            memcpy(d->header + d->hlen, p, n);
            d->hlen += n;
            p += n;
            len -= n;
            if (d->hlen == SF_CRYPT_HEADER_SIZE && dec_start(d, err) != 0)
                return SF_ERR;
            /* A wrong magic shows before the whole header is there. */
            if (d->hlen >= sizeof magic && d->hlen < SF_CRYPT_HEADER_SIZE &&
                !sf_crypt_is_encrypted(d->header, d->hlen))
                return sf_error_set(err, "crypt-format", "magic",
                                    "%s is not a snapfleet encrypted object (not pushed with "
                                    "--encrypt-to, or damaged)", d->what);
            continue;
        }
        if (d->finished)
            return sf_error_set(err, "crypt-auth", "trailing",
                                "%s: bytes after its final chunk", d->what);
        {
            size_t want = chunk_want(d), n = want - d->clen < len ? want - d->clen : len;
            memcpy(d->cbuf + d->clen, p, n);
            d->clen += n;
            p += n;
            len -= n;
            if (d->clen == want && dec_chunk(d, err) != 0)
                return SF_ERR;
        }
    }
    return 0;
}

int sf_dec_finish(sf_dec *d, char sha256_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    char hex[SF_SHA256_HEX_SIZE];
    unsigned char tag[32];

    if (!d->ready) {
        if (d->hlen >= sizeof magic && !sf_crypt_is_encrypted(d->header, d->hlen))
            return sf_error_set(err, "crypt-format", "magic",
                                "%s is not a snapfleet encrypted object (not pushed with "
                                "--encrypt-to, or damaged)", d->what);
        return sf_error_set(err, "crypt-truncated", "header",
                            "%s: %zu bytes, it ends inside its %d-byte header (truncated)",
                            d->what, d->hlen, SF_CRYPT_HEADER_SIZE);
    }
    if (!d->finished)
        return sf_error_set(err, "crypt-truncated", "chunk",
                            "%s: truncated: it ends after %llu of its %llu bytes, without its "
                            "final chunk", d->what, (unsigned long long)d->done,
                            (unsigned long long)d->h.size);
    if (sf_sha256_final(d->sha, hex) != 0)
        return nomem(err);
    sf_sha256_free(d->sha);
    d->sha = NULL;
    sf_crypt_content_tag(&d->id->k, d->context, hex, tag);
    if (sodium_memcmp(tag, d->h.content, 32) != 0)
        return sf_error_set(err, "crypt-auth", "content",
                            "%s: the decrypted content is not the one its header names", d->what);
    if (sha256_hex != NULL)
        memcpy(sha256_hex, hex, SF_SHA256_HEX_SIZE);
    return 0;
}

static int buf_sink(void *payload, const void *data, size_t len)
{
    return sf_buf_append(payload, data, len) != 0;
}

int sf_crypt_decrypt_buf(const sf_identity *id, const char *context, const char *what,
                         const void *data, size_t len, sf_buf *out, sf_error *err)
{
    sf_dec d;
    int rc;

    if (sf_dec_init(&d, id, context, what, buf_sink, out, err) != 0) {
        sf_dec_free(&d);
        return SF_ERR;
    }
    rc = sf_dec_feed(&d, data, len, err);
    if (out->oom)
        rc = nomem(err);
    if (rc == 0)
        rc = sf_dec_finish(&d, NULL, err);
    sf_dec_free(&d);
    return rc;
}
