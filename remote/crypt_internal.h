/*
 * Encrypted objects (libsodium). An object pushed with --encrypt-to is:
 *
 *   offset size
 *        0    8  magic "sfenc", 0, version 1, 0
 *        8   16  key id: BLAKE2b-128 of the recipient's public key
 *       24   16  binding: BLAKE2b-128 keyed with the name key of the
 *                object's context ("blob:<sha256>" or "doc:<name>/<doc>")
 *       40   32  content tag: BLAKE2b-256 keyed with the name key of the
 *                context and the plaintext's SHA-256
 *       72    4  plaintext bytes per chunk (little endian, 1 KiB..16 MiB)
 *       76    8  plaintext size (little endian, at most 2^53)
 *       84   80  the object key, sealed to the recipient (crypto_box_seal)
 *      164   24  the secretstream header
 *      188       the chunks: crypto_secretstream_xchacha20poly1305, each
 *                chunk bytes of plaintext (the last one fewer, or none for
 *                an empty object) plus 17, the last tagged FINAL; every
 *                chunk's additional data is the 188 header bytes followed
 *                by the context
 *
 * The object key is fresh for every object: BLAKE2b-256 keyed with the name
 * key of a random 32-byte seed (kept only in the push journal of a
 * multipart upload in progress, so a resumed upload continues the same
 * stream). Only the identity's secret key opens the sealed key.
 */
#ifndef SNAPFLEET_CRYPT_INTERNAL_H
#define SNAPFLEET_CRYPT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/crypt.h"
#include "snapfleet/error.h"

#define SF_CRYPT_HEADER_SIZE 188
#define SF_CRYPT_ABYTES 17
#define SF_CRYPT_CHUNK_DEFAULT 65536u
#define SF_CRYPT_CHUNK_MIN 1024u
#define SF_CRYPT_CHUNK_MAX (16u << 20)
#define SF_CRYPT_SIZE_MAX (1ull << 53)
#define SF_CRYPT_SEED_SIZE 32
#define SF_CRYPT_CONTEXT_MAX 512

/* The public half of a key pair, shared by recipients and identities. */
typedef struct sf_keys {
    unsigned char pk[32];
    unsigned char name_key[32];
    unsigned char id[16];
} sf_keys;

const sf_keys *sf_recipient_keys(const sf_recipient *r);
/* The key files' text (NUL-terminated; path names it in messages): what
 * sf_recipient_load and sf_identity_load read, fuzzed by
 * fuzz/fuzz_crypt_keyfile.c. */
int sf_recipient_parse(const char *text, const char *path, sf_recipient **out, sf_error *err);
int sf_identity_parse(const char *text, const char *path, sf_identity **out, sf_error *err);
/* A key pair from a 32-byte seed (the fuzz targets' fixed identity). */
int sf_identity_from_seed(const unsigned char seed[32], sf_identity **out);
/* The recipient of an identity. */
int sf_recipient_of(const sf_identity *id, sf_recipient **out);
const sf_keys *sf_identity_keys(const sf_identity *id);

typedef struct sf_crypt_header {
    unsigned char key_id[16];
    unsigned char binding[16];
    unsigned char content[32];
    uint32_t chunk;
    uint64_t size;
    unsigned char sealed[80];
    unsigned char stream[24];
} sf_crypt_header;

/* True when data starts with the magic (an encrypted object, of any
 * version). */
bool sf_crypt_is_encrypted(const void *data, size_t len);

/* Parses the first SF_CRYPT_HEADER_SIZE bytes of data. Errors:
 * "crypt-truncated" (fewer bytes), "crypt-format" (magic, version, a
 * reserved byte, chunk size or plaintext size out of range). */
int sf_crypt_header_parse(const void *data, size_t len, sf_crypt_header *h, sf_error *err);
void sf_crypt_header_write(const sf_crypt_header *h, unsigned char out[SF_CRYPT_HEADER_SIZE]);

/* The encrypted size of size plaintext bytes in chunks of chunk bytes. */
uint64_t sf_crypt_size(uint64_t size, uint32_t chunk);

/* Lower-case hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void sf_crypt_hex(const unsigned char *p, size_t n, char *out);
/* Reads exactly 2n lower-case hex digits at s into out; false on any other
 * character (the caller checks what follows). Not sodium_hex2bin: it also
 * takes upper case (and, with an ignore set, other characters), and key
 * files, push journals and hashes are written in lower case, so anything
 * else is a file that was not written by snapfleet and is refused. */
bool sf_crypt_unhex(const char *s, size_t n, unsigned char *out);

/* The name of a blob holding the bytes with this SHA-256 (hex in, 64 hex
 * digits out): BLAKE2b-256 keyed with the name key. */
void sf_crypt_blob_name(const sf_keys *k, const char sha256_hex[SF_SHA256_HEX_SIZE],
                        char out[SF_SHA256_HEX_SIZE]);

/* An object's context: "blob:<sha256 hex>" or "doc:<backup>/<document>". */
int sf_crypt_context_blob(const char *sha256_hex, char *out, size_t n);
int sf_crypt_context_doc(const char *backup, const char *doc, char *out, size_t n);

/* The content tag of a plaintext (its SHA-256 hex) in a context. */
void sf_crypt_content_tag(const sf_keys *k, const char *context,
                          const char sha256_hex[SF_SHA256_HEX_SIZE], unsigned char out[32]);

/* ---- encryption ---- */

typedef struct sf_enc {
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char header[SF_CRYPT_HEADER_SIZE];
    unsigned char seed[SF_CRYPT_SEED_SIZE];
    unsigned char ad[SF_CRYPT_HEADER_SIZE + SF_CRYPT_CONTEXT_MAX];
    size_t adlen;
    uint32_t chunk;
    uint64_t size, done;
    bool finished;
} sf_enc;

/* Starts an object of size plaintext bytes whose SHA-256 is sha256_hex.
 * seed and header NULL: a fresh object (new seed, new sealed key, new
 * stream); both given (from a push journal): the same stream again, from
 * its first chunk. chunk 0: SF_CRYPT_CHUNK_DEFAULT. */
int sf_enc_init(sf_enc *e, const sf_keys *k, const char *context,
                const char sha256_hex[SF_SHA256_HEX_SIZE], uint64_t size, uint32_t chunk,
                const unsigned char *seed, const unsigned char *header, sf_error *err);
/* Encrypts the next chunk: len must be the chunk size, or what is left for
 * the last one; out receives len + SF_CRYPT_ABYTES bytes. */
int sf_enc_chunk(sf_enc *e, const void *plain, size_t len, unsigned char *out, sf_error *err);
void sf_enc_wipe(sf_enc *e);

/* A whole object in memory: header and chunks appended to out. */
int sf_crypt_encrypt_buf(const sf_keys *k, const char *context, const void *data, size_t len,
                         sf_buf *out, sf_error *err);

/* ---- decryption, streaming ---- */

typedef int (*sf_dec_sink)(void *payload, const void *data, size_t len);

typedef struct sf_dec {
    const sf_identity *id;
    char context[SF_CRYPT_CONTEXT_MAX];
    char what[512];  /* the object, for messages */
    sf_dec_sink sink;
    void *payload;
    unsigned char header[SF_CRYPT_HEADER_SIZE];
    size_t hlen;
    sf_crypt_header h;
    crypto_secretstream_xchacha20poly1305_state st;
    unsigned char ad[SF_CRYPT_HEADER_SIZE + SF_CRYPT_CONTEXT_MAX];
    size_t adlen;
    unsigned char *cbuf, *pbuf;
    size_t clen;
    uint64_t done, chunks;
    bool ready, finished;
    sf_sha256 *sha;
} sf_dec;

/* Decrypts the object what (a name for messages) expected in context;
 * plaintext goes to sink (a non-zero return stops: the error is then the
 * sink's). */
int sf_dec_init(sf_dec *d, const sf_identity *id, const char *context, const char *what,
                sf_dec_sink sink, void *payload, sf_error *err);
/* Errors: "crypt-truncated", "crypt-format", "crypt-wrong-key" (encrypted
 * to another key pair), "crypt-swapped" (another object's: its binding is
 * not this context's), "crypt-auth" (a damaged sealed key, a chunk that
 * does not authenticate: altered, reordered or from another stream; bytes
 * after the final chunk), "out-of-memory", or the sink's. */
int sf_dec_feed(sf_dec *d, const void *data, size_t len, sf_error *err);
/* The end of the object: refused unless the final chunk was there
 * ("crypt-truncated") and the plaintext is the content tag's
 * ("crypt-auth"). sha256_hex (may be NULL) receives the plaintext's. */
int sf_dec_finish(sf_dec *d, char sha256_hex[SF_SHA256_HEX_SIZE], sf_error *err);
void sf_dec_free(sf_dec *d);

/* A whole object in memory; out receives the plaintext. */
int sf_crypt_decrypt_buf(const sf_identity *id, const char *context, const char *what,
                         const void *data, size_t len, sf_buf *out, sf_error *err);

#endif
