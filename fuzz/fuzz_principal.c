/*
 * Principal codec consistency. The input is used twice:
 *   as text: when it parses, the canonical text must be its ASCII
 *     lower-casing (spec 0.2 step 3), must parse back to the same bytes,
 *     and bytes -> text must give the same canonical text;
 *   as raw bytes (at most 29): they must encode to text that parses back
 *     to exactly those bytes; 30 or more must be refused.
 * Any inconsistency aborts so libFuzzer records the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/principal.h"

static void check_text(const uint8_t *data, size_t size)
{
    char text[256];
    char canon[SF_PRINCIPAL_TEXT_MAX], again[SF_PRINCIPAL_TEXT_MAX];
    char via_canonical[SF_PRINCIPAL_TEXT_MAX];
    sf_principal p, q;
    sf_error err;
    bool ok;

    /* C strings end at NUL, so such inputs say nothing new; no principal is
     * anywhere near 255 characters. */
    if (size >= sizeof text || memchr(data, 0, size) != NULL)
        return;
    memcpy(text, data, size);
    text[size] = '\0';

    ok = sf_principal_from_text(text, &p, &err) == SF_OK;
    if (ok != sf_principal_is_valid(text))
        abort();
    if (ok != (sf_principal_canonical(text, via_canonical, NULL) == SF_OK))
        abort();
    if (!ok) {
        if (err.kind == NULL || strcmp(err.kind, "invalid-principal") != 0)
            abort();
        return;
    }
    if (p.len > SF_PRINCIPAL_MAX_BYTES)
        abort();
    sf_principal_to_text(&p, canon);
    if (strcmp(canon, via_canonical) != 0)
        abort();
    /* Accepted text is the canonical text up to ASCII case. */
    if (strlen(canon) != size)
        abort();
    for (size_t i = 0; i < size; i++) {
        char c = text[i];

        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != canon[i])
            abort();
    }
    if (sf_principal_from_text(canon, &q, NULL) != SF_OK || q.len != p.len ||
        memcmp(q.bytes, p.bytes, p.len) != 0)
        abort();
    if (sf_principal_text_from_bytes(p.bytes, p.len, again, NULL) != SF_OK ||
        strcmp(again, canon) != 0)
        abort();
}

static void check_bytes(const uint8_t *data, size_t size)
{
    char text[SF_PRINCIPAL_TEXT_MAX];
    sf_principal p;

    if (size > SF_PRINCIPAL_MAX_BYTES) {
        if (sf_principal_text_from_bytes(data, size, text, NULL) != SF_ERR)
            abort();
        return;
    }
    if (sf_principal_text_from_bytes(data, size, text, NULL) != SF_OK)
        abort();
    if (strlen(text) >= SF_PRINCIPAL_TEXT_MAX)
        abort();
    if (sf_principal_from_text(text, &p, NULL) != SF_OK || p.len != size ||
        (size > 0 && memcmp(p.bytes, data, size) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_text(data, size);
    check_bytes(data, size);
    return 0;
}
