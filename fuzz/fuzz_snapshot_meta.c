/*
 * Fuzz target for metadata.json, the snapshot metadata inside every
 * downloaded snapshot directory (untrusted input): any bytes either parse
 * into bounded values or fail with an error naming a kind; nothing
 * crashes, hangs or leaks, and what parses keeps its own invariants.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/snapshot_meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_snapshot_meta m;
    sf_error err;
    size_t i;

    if (sf_snapshot_meta_parse((const char *)data, size, &m, &err) != SF_OK) {
        if (err.kind == NULL || err.message[0] == '\0')
            abort();
        return 0;
    }
    if (m.certified_data_len > 32 || (m.chunk_count > 0 && m.chunk_hashes == NULL))
        abort();
    for (i = 0; i < m.chunk_count; i++)
        if (strlen(m.chunk_hashes[i]) != 64 ||
            strspn(m.chunk_hashes[i], "0123456789abcdef") != 64)
            abort();
    sf_snapshot_meta_free(&m);
    return 0;
}
