/*
 * Fuzz target for encrypted objects as a pull reads them from object
 * storage (remote/crypt.c): the header parser and the streaming decryption
 * behind it. Any bytes are either refused with a kind (crypt-format,
 * crypt-truncated, crypt-wrong-key, crypt-swapped, crypt-auth) or decrypt;
 * a parsed header writes back to the same bytes; feeding the object in two
 * pieces (split where the first input byte says) gives the same verdict as
 * feeding it whole. The identity is fixed (from a seed), so the seed
 * corpus holds objects encrypted to it (fuzz/corpus/crypt_header/).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/crypt_internal.h"

#define CONTEXT "blob:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static int count_sink(void *payload, const void *data, size_t len)
{
    (void)data;
    *(size_t *)payload += len;
    return 0;
}

static int decrypt(const sf_identity *id, const uint8_t *data, size_t size, size_t split,
                   sf_error *err, char hex[SF_SHA256_HEX_SIZE], size_t *out)
{
    sf_dec d;
    int rc;

    *out = 0;
    if (sf_dec_init(&d, id, CONTEXT, "fuzz", count_sink, out, err) != 0)
        abort();
    rc = sf_dec_feed(&d, data, split, err);
    if (rc == 0)
        rc = sf_dec_feed(&d, data + split, size - split, err);
    if (rc == 0)
        rc = sf_dec_finish(&d, hex, err);
    sf_dec_free(&d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static sf_identity *id;
    static const unsigned char seed[32] = "snapfleet fuzz identity seed 01";
    sf_crypt_header h;
    sf_error err, err2;
    char hex[SF_SHA256_HEX_SIZE], hex2[SF_SHA256_HEX_SIZE];
    size_t n1, n2;
    int rc1, rc2;

    if (id == NULL && sf_identity_from_seed(seed, &id) != 0)
        abort();
    sf_error_clear(&err);
    if (sf_crypt_header_parse(data, size, &h, &err) == 0) {
        unsigned char again[SF_CRYPT_HEADER_SIZE];
        sf_crypt_header_write(&h, again);
        if (memcmp(again, data, SF_CRYPT_HEADER_SIZE) != 0)
            abort();
        if (h.chunk < SF_CRYPT_CHUNK_MIN || h.chunk > SF_CRYPT_CHUNK_MAX ||
            h.size > SF_CRYPT_SIZE_MAX)
            abort();
    } else if (err.kind == NULL) {
        abort();
    }
    sf_error_clear(&err);
    sf_error_clear(&err2);
    rc1 = decrypt(id, data, size, size, &err, hex, &n1);
    rc2 = decrypt(id, data, size, size ? data[0] % size : 0, &err2, hex2, &n2);
    if (rc1 != rc2)
        abort();
    if (rc1 != 0) {
        if (err.kind == NULL || err2.kind == NULL || strcmp(err.kind, err2.kind) != 0)
            abort();
    } else {
        /* What decrypts is what the header says: its size, its content. */
        if (sf_crypt_header_parse(data, size, &h, &err) != 0 || n1 != h.size || n2 != n1 ||
            strcmp(hex, hex2) != 0 || size != sf_crypt_size(h.size, h.chunk))
            abort();
    }
    return 0;
}
