/*
 * Fuzz target for the fleet backup manifest: any input that parses must
 * validate without crashing, and a valid one must survive
 * write -> parse -> write with identical bytes (the round-trip promise
 * canic compatibility rests on). Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/manifest.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_manifest m, again, copy;
    sf_buf first, second, summary;
    sf_error err;
    int valid;

    if (sf_manifest_parse((const char *)data, size, &m, &err) != SF_OK)
        return 0;
    valid = sf_manifest_validate(&m, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    sf_buf_init(&summary);
    /* write_json validates first, so it succeeds exactly for valid values */
    if ((sf_manifest_write_json(&m, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_manifest_parse(first.data, first.len, &again, &err) != SF_OK)
            abort();
        if (sf_manifest_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_manifest_free(&again);

        /* a deep copy writes the same bytes */
        if (sf_manifest_copy(&copy, &m, &err) != SF_OK)
            abort();
        sf_buf_reset(&second);
        if (sf_manifest_write_json(&copy, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_manifest_free(&copy);

        if (sf_manifest_validation_summary_json(&m, &summary, &err) != SF_OK)
            abort();
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_buf_free(&summary);
    sf_manifest_free(&m);
    return 0;
}
