/* Encrypted objects (remote/crypt.c): key files (made, never overwritten,
 * the secret one private), the object header, and every refusal a
 * decryption owes: a wrong key, a truncated object, a flipped byte, a
 * reordered chunk, an object swapped for another, trailing bytes, a plain
 * object where an encrypted one was expected. The push/pull cycle with
 * encryption is tests/cli/s3.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote/crypt_internal.h"
#include "tmpdir.h"

#define H64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static sf_identity *id1, *id2;
static sf_recipient *rc1;

static int keys_setup(void **state)
{
    char path[256];
    sf_error err;

    if (sf_tmpdir_setup(state) != 0)
        return -1;
    sf_tmpdir_path(path, sizeof path, "k1");
    if (sf_keygen(path, &err) != 0 || sf_identity_load(path, &id1, &err) != 0)
        return -1;
    strcat(path, ".pub");
    if (sf_recipient_load(path, &rc1, &err) != 0)
        return -1;
    sf_tmpdir_path(path, sizeof path, "k2");
    if (sf_keygen(path, &err) != 0 || sf_identity_load(path, &id2, &err) != 0)
        return -1;
    return 0;
}

static int keys_teardown(void **state)
{
    sf_identity_free(id1);
    sf_identity_free(id2);
    sf_recipient_free(rc1);
    return sf_tmpdir_teardown(state);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static char *slurp(const char *path)
{
    static char text[4096];
    FILE *f = fopen(path, "r");
    size_t n;

    assert_non_null(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return text;
}

static void test_crypt_keygen__files(void **state)
{
    char path[256], pub[300];
    struct stat st;
    sf_error err;
    sf_identity *id;
    sf_recipient *r;
    char a[33], b[33];

    (void)state;
    sf_tmpdir_path(path, sizeof path, "fresh");
    snprintf(pub, sizeof pub, "%s.pub", path);
    assert_int_equal(sf_keygen(path, &err), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    assert_non_null(strstr(slurp(path), "secret-key: "));
    assert_null(strstr(slurp(pub), "secret"));
    assert_int_equal(sf_identity_load(path, &id, &err), 0);
    assert_int_equal(sf_recipient_load(pub, &r, &err), 0);
    sf_identity_id(id, a);
    sf_recipient_id(r, b);
    assert_string_equal(a, b);
    assert_int_equal(strlen(a), 32);
    sf_identity_free(id);
    sf_recipient_free(r);
    /* Never overwritten: neither file changes, nothing is left behind. */
    {
        char before[4096];
        strcpy(before, slurp(path));
        sf_error_clear(&err);
        assert_int_equal(sf_keygen(path, &err), SF_ERR);
        assert_string_equal(err.kind, "keygen-exists");
        assert_string_equal(slurp(path), before);
    }
    sf_tmpdir_path(path, sizeof path, "half");
    snprintf(pub, sizeof pub, "%s.pub", path);
    write_file(pub, "mine\n", 0644);
    sf_error_clear(&err);
    assert_int_equal(sf_keygen(path, &err), SF_ERR);
    assert_string_equal(err.kind, "keygen-exists");
    assert_int_equal(access(path, F_OK), -1);
    assert_string_equal(slurp(pub), "mine\n");
    /* A directory that does not exist. */
    sf_tmpdir_path(path, sizeof path, "no/such/dir/k");
    sf_error_clear(&err);
    assert_int_equal(sf_keygen(path, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    sf_recipient_free(NULL);
    sf_identity_free(NULL);
}

static void key_refused(const char *text, mode_t mode, bool identity, const char *kind,
                        const char *says)
{
    char path[256];
    sf_error err;
    sf_identity *id = (sf_identity *)1;
    sf_recipient *r = (sf_recipient *)1;

    sf_tmpdir_path(path, sizeof path, "bad-key");
    unlink(path);
    write_file(path, text, mode);
    sf_error_clear(&err);
    if (identity) {
        assert_int_equal(sf_identity_load(path, &id, &err), SF_ERR);
        assert_null(id);
    } else {
        assert_int_equal(sf_recipient_load(path, &r, &err), SF_ERR);
        assert_null(r);
    }
    if (strcmp(err.kind, kind) != 0 || strstr(err.message, says) == NULL)
        fail_msg("%s: got %s: %s", text, err.kind, err.message);
    /* A secret never appears in a message. */
    assert_null(strstr(err.message, "secret-key:"));
    unlink(path);
}

static void test_crypt_keys__refused(void **state)
{
    char path[256], text[4096], pub[4096], *p;
    sf_error err;
    sf_identity *id;

    (void)state;
    sf_tmpdir_path(path, sizeof path, "k1");
    strcpy(text, slurp(path));
    strcat(path, ".pub");
    strcpy(pub, slurp(path));
    key_refused(text, 0644, true, "crypt-key-mode", "chmod 600");
    key_refused(text, 0640, true, "crypt-key-mode", "others may read");
    key_refused(text, 0600, false, "crypt-key", "encrypt to its .pub");
    key_refused(pub, 0600, true, "crypt-key", "cannot decrypt");
    key_refused("", 0600, true, "crypt-key", "not a snapfleet identity");
    key_refused("", 0644, false, "crypt-key", "not a snapfleet recipient");
    key_refused("snapfleet-recipient-v1\npublic-key: 00\n", 0644, false, "crypt-key",
                "not a snapfleet recipient");
    {
        char t[4096];
        strcpy(t, pub);
        strcat(t, "extra\n");
        key_refused(t, 0644, false, "crypt-key", "not a snapfleet recipient");
        strcpy(t, pub);
        t[strlen(t) - 1] = '\0'; /* no final newline */
        key_refused(t, 0644, false, "crypt-key", "not a snapfleet recipient");
        strcpy(t, pub);
        p = strstr(t, "public-key: ") + 12;
        *p = *p == 'A' ? 'B' : 'A'; /* not lower-case hex */
        key_refused(t, 0644, false, "crypt-key", "not a snapfleet recipient");
        /* An identity whose public key is not its secret key's. */
        strcpy(t, text);
        p = strstr(t, "public-key: ") + 12;
        *p = *p == '0' ? '1' : '0';
        key_refused(t, 0600, true, "crypt-key", "not its secret key's");
    }
    {
        char big[5000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        key_refused(big, 0600, true, "crypt-key", "larger than");
    }
    sf_tmpdir_path(path, sizeof path, "none");
    sf_error_clear(&err);
    assert_int_equal(sf_identity_load(path, &id, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    assert_int_equal(sf_identity_load(sf_tmpdir, &id, &err), SF_ERR);
    assert_string_equal(err.kind, "crypt-key");
}

/* Encrypts n bytes (a pattern) in ctx to rc1. */
static void encrypt(size_t n, const char *ctx, sf_buf *out, unsigned char **plain)
{
    sf_error err;
    size_t i;

    *plain = malloc(n ? n : 1);
    assert_non_null(*plain);
    for (i = 0; i < n; i++)
        (*plain)[i] = (unsigned char)(i * 7 + i / 251);
    sf_buf_init(out);
    assert_int_equal(sf_crypt_encrypt_buf(sf_recipient_keys(rc1), ctx, *plain, n, out, &err), 0);
    assert_int_equal(out->len, sf_crypt_size(n, SF_CRYPT_CHUNK_DEFAULT));
}

static void decrypt_fails(const sf_identity *id, const char *ctx, const void *data, size_t len,
                          const char *kind, const char *says)
{
    sf_buf out;
    sf_error err;

    sf_buf_init(&out);
    sf_error_clear(&err);
    assert_int_equal(sf_crypt_decrypt_buf(id, ctx, "obj", data, len, &out, &err), SF_ERR);
    if (strcmp(err.kind, kind) != 0 || strstr(err.message, says) == NULL)
        fail_msg("expected %s (%s), got %s: %s", kind, says, err.kind, err.message);
    assert_non_null(strstr(err.message, "obj"));
    sf_buf_free(&out);
}

static void test_crypt_object__round_trip(void **state)
{
    static const size_t sizes[] = {0, 1, 1023, 65535, 65536, 65537, 3 * 65536 + 5};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        sf_buf c, p;
        unsigned char *plain;
        sf_error err;
        sf_crypt_header h;
        encrypt(sizes[i], "blob:" H64A, &c, &plain);
        assert_true(sf_crypt_is_encrypted(c.data, c.len));
        assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), 0);
        assert_int_equal(h.size, sizes[i]);
        assert_int_equal(h.chunk, SF_CRYPT_CHUNK_DEFAULT);
        {
            unsigned char again[SF_CRYPT_HEADER_SIZE];
            sf_crypt_header_write(&h, again);
            assert_memory_equal(again, c.data, SF_CRYPT_HEADER_SIZE);
        }
        sf_buf_init(&p);
        assert_int_equal(sf_crypt_decrypt_buf(id1, "blob:" H64A, "obj", c.data, c.len, &p, &err),
                         0);
        assert_int_equal(p.len, sizes[i]);
        if (sizes[i])
            assert_memory_equal(p.data, plain, sizes[i]);
        sf_buf_free(&p);
        free(plain);
        sf_buf_free(&c);
    }
}

static int to_buf(void *payload, const void *data, size_t len)
{
    return sf_buf_append(payload, data, len) != 0;
}

static void test_crypt_object__streamed(void **state)
{
    sf_buf c, p;
    unsigned char *plain;
    sf_error err;
    char hex[SF_SHA256_HEX_SIZE], want[SF_SHA256_HEX_SIZE];
    sf_dec d;
    size_t k, n = 2 * 65536 + 77;

    (void)state;
    encrypt(n, "doc:b1/fleet-backup-manifest.json", &c, &plain);
    sf_buf_init(&p);
    assert_int_equal(sf_dec_init(&d, id1, "doc:b1/fleet-backup-manifest.json", "obj", to_buf,
                                 &p, &err), 0);
    for (k = 0; k < c.len; k += 999)
        assert_int_equal(sf_dec_feed(&d, c.data + k, c.len - k < 999 ? c.len - k : 999, &err),
                         0);
    assert_int_equal(sf_dec_finish(&d, hex, &err), 0);
    sf_dec_free(&d);
    assert_int_equal(sf_sha256_bytes(plain, n, want), 0);
    assert_string_equal(hex, want);
    assert_int_equal(p.len, n);
    assert_memory_equal(p.data, plain, n);
    /* Two encryptions of the same bytes differ (a fresh key each time). */
    {
        sf_buf c2;
        unsigned char *plain2;
        encrypt(n, "doc:b1/fleet-backup-manifest.json", &c2, &plain2);
        assert_int_equal(c2.len, c.len);
        assert_true(memcmp(c2.data + 84, c.data + 84, c.len - 84) != 0);
        /* ... with the same content tag (a push can tell "already there"). */
        assert_memory_equal(c2.data + 40, c.data + 40, 32);
        free(plain2);
        sf_buf_free(&c2);
    }
    free(plain);
    sf_buf_free(&p);
    sf_buf_free(&c);
}

static void test_crypt_refuse__wrong_key(void **state)
{
    sf_buf c;
    unsigned char *plain;

    (void)state;
    encrypt(1000, "blob:" H64A, &c, &plain);
    decrypt_fails(id2, "blob:" H64A, c.data, c.len, "crypt-wrong-key", "another key");
    free(plain);
    sf_buf_free(&c);
}

static void test_crypt_refuse__truncated(void **state)
{
    sf_buf c;
    unsigned char *plain;
    size_t n = 2 * 65536 + 10;

    (void)state;
    encrypt(n, "blob:" H64A, &c, &plain);
    decrypt_fails(id1, "blob:" H64A, c.data, 0, "crypt-truncated", "inside its");
    decrypt_fails(id1, "blob:" H64A, c.data, 100, "crypt-truncated", "inside its");
    /* Cut inside a chunk, and cut cleanly after a whole chunk. */
    decrypt_fails(id1, "blob:" H64A, c.data, SF_CRYPT_HEADER_SIZE + 5000, "crypt-truncated",
                  "without its final chunk");
    decrypt_fails(id1, "blob:" H64A, c.data, SF_CRYPT_HEADER_SIZE + 2 * (65536 + 17),
                  "crypt-truncated", "after 131072 of its 131082 bytes");
    decrypt_fails(id1, "blob:" H64A, c.data, c.len - 1, "crypt-truncated", "truncated");
    free(plain);
    sf_buf_free(&c);
}

static void test_crypt_refuse__flipped_byte(void **state)
{
    sf_buf c;
    unsigned char *plain;
    size_t at[] = {SF_CRYPT_HEADER_SIZE + 10, SF_CRYPT_HEADER_SIZE + 65536 + 17 + 3, 0};
    size_t i;

    (void)state;
    encrypt(2 * 65536 + 10, "blob:" H64A, &c, &plain);
    at[2] = c.len - 1; /* the last chunk's tag */
    for (i = 0; i < 3; i++) {
        c.data[at[i]] ^= 0x20;
        decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "does not authenticate");
        c.data[at[i]] ^= 0x20;
    }
    /* In the header: the sealed key, the content tag, the sizes, the
     * magic, the key id, the binding. */
    c.data[100] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "sealed object key");
    c.data[100] ^= 1;
    c.data[50] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "chunk 0 does not");
    c.data[50] ^= 1;
    c.data[170] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "chunk 0 does not");
    c.data[170] ^= 1;
    c.data[76] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "does not authenticate");
    c.data[76] ^= 1;
    c.data[0] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-format", "not a snapfleet encrypted");
    c.data[0] ^= 1;
    c.data[9] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-wrong-key", "another key");
    c.data[9] ^= 1;
    c.data[30] ^= 1;
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-swapped", "another object");
    c.data[30] ^= 1;
    {
        sf_buf p;
        sf_error err;
        sf_buf_init(&p);
        assert_int_equal(
            sf_crypt_decrypt_buf(id1, "blob:" H64A, "obj", c.data, c.len, &p, &err), 0);
        sf_buf_free(&p);
    }
    free(plain);
    sf_buf_free(&c);
}

static void test_crypt_refuse__reordered_chunks(void **state)
{
    sf_buf c;
    unsigned char *plain, *tmp;
    size_t cl = 65536 + 17, a = SF_CRYPT_HEADER_SIZE, b = SF_CRYPT_HEADER_SIZE + cl;

    (void)state;
    encrypt(3 * 65536, "blob:" H64A, &c, &plain);
    tmp = malloc(cl);
    assert_non_null(tmp);
    memcpy(tmp, c.data + a, cl);
    memmove(c.data + a, c.data + b, cl);
    memcpy(c.data + b, tmp, cl);
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "chunks reordered");
    /* The final chunk moved before the others: refused too. */
    memcpy(c.data + b, c.data + a, cl);
    memcpy(c.data + a, tmp, cl); /* chunk 0 back in place */
    memcpy(c.data + b, c.data + 2 * cl + SF_CRYPT_HEADER_SIZE, cl);
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "chunk 1 does not");
    free(tmp);
    free(plain);
    sf_buf_free(&c);
}

static void test_crypt_refuse__swapped_object(void **state)
{
    sf_buf c, other;
    unsigned char *plain, *plain2;

    (void)state;
    encrypt(5000, "blob:" H64A, &c, &plain);
    encrypt(5000, "blob:" H64B, &other, &plain2);
    /* B's object where A's should be. */
    decrypt_fails(id1, "blob:" H64A, other.data, other.len, "crypt-swapped", "blob:" H64A);
    /* A manifest moved under another backup's name. */
    decrypt_fails(id1, "doc:b2/fleet-backup-manifest.json", c.data, c.len, "crypt-swapped",
                  "another object was put in its place");
    /* A's header with B's binding: the chunks still refuse (the header is
     * their additional data). */
    memcpy(c.data + 24, other.data + 24, 16);
    decrypt_fails(id1, "blob:" H64B, c.data, c.len, "crypt-auth", "does not authenticate");
    /* B's chunk after A's header: the stream refuses it. */
    memcpy(c.data + 24, other.data + 24, 16);
    {
        sf_buf mix;
        sf_buf_init(&mix);
        sf_buf_append(&mix, c.data, SF_CRYPT_HEADER_SIZE);
        sf_buf_append(&mix, other.data + SF_CRYPT_HEADER_SIZE, other.len - SF_CRYPT_HEADER_SIZE);
        decrypt_fails(id1, "blob:" H64B, mix.data, mix.len, "crypt-auth", "does not");
        sf_buf_free(&mix);
    }
    free(plain);
    free(plain2);
    sf_buf_free(&c);
    sf_buf_free(&other);
}

static void test_crypt_refuse__trailing_and_plain(void **state)
{
    sf_buf c;
    unsigned char *plain;

    (void)state;
    encrypt(10, "blob:" H64A, &c, &plain);
    sf_buf_append(&c, "x", 1);
    decrypt_fails(id1, "blob:" H64A, c.data, c.len, "crypt-auth", "after its final chunk");
    decrypt_fails(id1, "blob:" H64A, "{\"format\": 1}", 13, "crypt-format", "not a snapfleet");
    decrypt_fails(id1, "blob:" H64A, "sfe", 3, "crypt-truncated", "inside its");
    free(plain);
    sf_buf_free(&c);
}

static void test_crypt_header__refused(void **state)
{
    sf_buf c;
    unsigned char *plain;
    sf_crypt_header h;
    sf_error err;

    (void)state;
    encrypt(10, "blob:" H64A, &c, &plain);
    c.data[6] = 2;
    assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), SF_ERR);
    assert_string_equal(err.kind, "crypt-format");
    assert_string_equal(err.field, "version");
    c.data[6] = 1;
    c.data[7] = 1;
    assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), SF_ERR);
    assert_string_equal(err.field, "flags");
    c.data[7] = 0;
    c.data[72] = 0;
    c.data[73] = 0; /* chunk 0 */
    c.data[74] = 0;
    assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), SF_ERR);
    assert_string_equal(err.field, "chunk");
    c.data[74] = 1; /* 65536 */
    c.data[83] = 1; /* size over 2^53 */
    assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), SF_ERR);
    assert_string_equal(err.field, "size");
    c.data[83] = 0;
    assert_int_equal(sf_crypt_header_parse(c.data, c.len, &h, &err), 0);
    assert_int_equal(sf_crypt_header_parse(c.data, 187, &h, &err), SF_ERR);
    assert_string_equal(err.kind, "crypt-truncated");
    assert_int_equal(sf_crypt_header_parse("abc", 3, &h, &err), SF_ERR);
    assert_string_equal(err.kind, "crypt-truncated");
    free(plain);
    sf_buf_free(&c);
}

/* A resumed multipart upload: the same seed and header give the same
 * stream, byte for byte, so parts sent before a kill and parts sent after
 * it make one object that decrypts. */
static void test_crypt_enc__resumed_stream(void **state)
{
    const sf_keys *k = sf_recipient_keys(rc1);
    size_t n = 3 * 4096 + 7, chunk = 4096, off;
    unsigned char *plain = malloc(n), seed[32], header[SF_CRYPT_HEADER_SIZE];
    sf_buf one, two, p;
    sf_enc e;
    sf_error err;
    char hex[SF_SHA256_HEX_SIZE];

    (void)state;
    assert_non_null(plain);
    memset(plain, 'q', n);
    assert_int_equal(sf_sha256_bytes(plain, n, hex), 0);
    sf_buf_init(&one);
    sf_buf_init(&two);
    sf_buf_init(&p);
    assert_int_equal(sf_enc_init(&e, k, "blob:x", hex, n, (uint32_t)chunk, NULL, NULL, &err), 0);
    memcpy(seed, e.seed, 32);
    memcpy(header, e.header, sizeof header);
    sf_buf_append(&one, e.header, sizeof header);
    for (off = 0; off < n; off += chunk) {
        unsigned char out[4096 + 17];
        size_t len = n - off < chunk ? n - off : chunk;
        assert_int_equal(sf_enc_chunk(&e, plain + off, len, out, &err), 0);
        sf_buf_append(&one, out, len + 17);
    }
    {
        unsigned char out[64];
        assert_int_equal(sf_enc_chunk(&e, plain, 1, out, &err), SF_ERR);
    }
    sf_enc_wipe(&e);
    assert_int_equal(sf_enc_init(&e, k, "blob:x", hex, n, (uint32_t)chunk, seed, header, &err),
                     0);
    sf_buf_append(&two, e.header, sizeof header);
    for (off = 0; off < n; off += chunk) {
        unsigned char out[4096 + 17];
        size_t len = n - off < chunk ? n - off : chunk;
        assert_int_equal(sf_enc_chunk(&e, plain + off, len, out, &err), 0);
        sf_buf_append(&two, out, len + 17);
    }
    sf_enc_wipe(&e);
    assert_int_equal(one.len, sf_crypt_size(n, (uint32_t)chunk));
    assert_int_equal(two.len, one.len);
    assert_memory_equal(one.data, two.data, one.len);
    assert_int_equal(sf_crypt_decrypt_buf(id1, "blob:x", "obj", two.data, two.len, &p, &err), 0);
    assert_int_equal(p.len, n);
    /* A journal header for another object is refused. */
    sf_error_clear(&err);
    assert_int_equal(
        sf_enc_init(&e, k, "blob:x", hex, n + 1, (uint32_t)chunk, seed, header, &err), SF_ERR);
    assert_string_equal(err.kind, "push-journal");
    assert_int_equal(sf_enc_init(&e, k, "blob:x", hex, n, 7, NULL, NULL, &err), SF_ERR);
    assert_int_equal(sf_enc_init(&e, k, "blob:x", hex, n, 0, seed, NULL, &err), SF_ERR);
    free(plain);
    sf_buf_free(&one);
    sf_buf_free(&two);
    sf_buf_free(&p);
}

static void test_crypt_names__keyed(void **state)
{
    char a[SF_SHA256_HEX_SIZE], b[SF_SHA256_HEX_SIZE], c[SF_SHA256_HEX_SIZE];
    char ctx[SF_CRYPT_CONTEXT_MAX];

    (void)state;
    sf_crypt_blob_name(sf_recipient_keys(rc1), H64A, a);
    sf_crypt_blob_name(sf_identity_keys(id1), H64A, b);
    sf_crypt_blob_name(sf_identity_keys(id2), H64A, c);
    assert_string_equal(a, b);       /* the recipient and its identity agree */
    assert_string_not_equal(a, c);   /* another key pair names it otherwise */
    assert_string_not_equal(a, H64A); /* not the content's SHA-256 */
    assert_int_equal(strlen(a), 64);
    sf_crypt_blob_name(sf_recipient_keys(rc1), H64B, c);
    assert_string_not_equal(a, c);
    assert_int_equal(sf_crypt_context_blob(H64A, ctx, sizeof ctx), 0);
    assert_string_equal(ctx, "blob:" H64A);
    assert_int_equal(sf_crypt_context_doc("b1", "x.json", ctx, sizeof ctx), 0);
    assert_string_equal(ctx, "doc:b1/x.json");
    assert_int_equal(sf_crypt_context_doc("b1", "x.json", ctx, 5), SF_ERR);
}

static void test_crypt_hex__lower_case_only(void **state)
{
    static const unsigned char bytes[4] = {0x00, 0xab, 0x7f, 0xff};
    unsigned char out[4];
    char hex[9];

    (void)state;
    sf_crypt_hex(bytes, sizeof bytes, hex);
    assert_string_equal(hex, "00ab7fff");
    assert_true(sf_crypt_unhex(hex, 4, out));
    assert_memory_equal(out, bytes, 4);
    /* Only the 2n digits asked for are read. */
    assert_true(sf_crypt_unhex("00ab7fffZZ", 4, out));
    assert_false(sf_crypt_unhex("00AB7fff", 4, out));  /* upper case */
    assert_false(sf_crypt_unhex("00ab7ffg", 4, out));
    assert_false(sf_crypt_unhex("00ab7f f", 4, out));
    assert_false(sf_crypt_unhex("00ab7f", 4, out));     /* short: stops at the NUL */
    assert_true(sf_crypt_unhex("", 0, out));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crypt_hex__lower_case_only),
        cmocka_unit_test(test_crypt_keygen__files),
        cmocka_unit_test(test_crypt_keys__refused),
        cmocka_unit_test(test_crypt_object__round_trip),
        cmocka_unit_test(test_crypt_object__streamed),
        cmocka_unit_test(test_crypt_refuse__wrong_key),
        cmocka_unit_test(test_crypt_refuse__truncated),
        cmocka_unit_test(test_crypt_refuse__flipped_byte),
        cmocka_unit_test(test_crypt_refuse__reordered_chunks),
        cmocka_unit_test(test_crypt_refuse__swapped_object),
        cmocka_unit_test(test_crypt_refuse__trailing_and_plain),
        cmocka_unit_test(test_crypt_header__refused),
        cmocka_unit_test(test_crypt_enc__resumed_stream),
        cmocka_unit_test(test_crypt_names__keyed),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
