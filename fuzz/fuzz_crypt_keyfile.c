/*
 * Fuzz target for the key files (remote/crypt.c: sf_recipient_parse,
 * sf_identity_parse): any text is either refused with "crypt-key" or read,
 * and what is read is consistent (an identity's public key is its secret
 * key's: the parser checks it, and its recipient names objects the same
 * way). Nothing leaks, nothing is read past the NUL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/crypt_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    sf_recipient *r = NULL;
    sf_identity *id = NULL;
    sf_error err;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    sf_error_clear(&err);
    if (sf_recipient_parse(text, "fuzz", &r, &err) == 0) {
        if (r == NULL)
            abort();
        sf_recipient_free(r);
    } else if (r != NULL || err.kind == NULL || strcmp(err.kind, "crypt-key") != 0) {
        abort();
    }
    sf_error_clear(&err);
    if (sf_identity_parse(text, "fuzz", &id, &err) == 0) {
        char a[SF_SHA256_HEX_SIZE], b[SF_SHA256_HEX_SIZE];
        sf_recipient *of;
        if (id == NULL || sf_recipient_of(id, &of) != 0)
            abort();
        sf_crypt_blob_name(sf_identity_keys(id), "0000000000000000000000000000000000000000000000000000000000000000", a);
        sf_crypt_blob_name(sf_recipient_keys(of), "0000000000000000000000000000000000000000000000000000000000000000", b);
        if (strcmp(a, b) != 0)
            abort();
        sf_recipient_free(of);
        sf_identity_free(id);
    } else if (id != NULL || err.kind == NULL || strcmp(err.kind, "crypt-key") != 0) {
        abort();
    }
    free(text);
    return 0;
}
