/*
 * Fuzz target for icp's transfer progress files as the icp driver reads
 * them for the status line (drivers/icp_progress.c): any bytes are either
 * refused with "json-syntax", "json-schema", "json-too-large" or
 * "out-of-memory", or read, and what is read never exceeds the sizes it
 * was given (a damaged file cannot claim more than the snapshot holds).
 * The first 24 bytes choose the three blob sizes; the rest is the file,
 * read as a download progress file and as an upload progress file.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/icp_internal.h"

static bool known_kind(const sf_error *e)
{
    return strcmp(e->kind, "json-syntax") == 0 ||
           strcmp(e->kind, "json-schema") == 0 ||
           strcmp(e->kind, "json-too-large") == 0 ||
           strcmp(e->kind, SF_EK_NOMEM) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t sizes[3] = {0, 0, 0}, total, done;
    sf_error err;
    int k;

    if (size < sizeof sizes)
        return 0;
    memcpy(sizes, data, sizeof sizes);
    for (k = 0; k < 3; k++)
        sizes[k] >>= 8; /* three sizes that cannot overflow a sum */
    total = sizes[0] + sizes[1] + sizes[2];
    data += sizeof sizes;
    size -= sizeof sizes;
    sf_error_clear(&err);
    if (sf_icp_download_progress_parse((const char *)data, size, sizes, &done,
                                       &err) == SF_OK) {
        if (done > total)
            abort();
    } else if (done != 0 || !known_kind(&err)) {
        abort();
    }
    sf_error_clear(&err);
    if (sf_icp_upload_progress_parse((const char *)data, size, sizes, &done,
                                     &err) == SF_OK) {
        if (done > total)
            abort();
    } else if (done != 0 || !known_kind(&err)) {
        abort();
    }
    return 0;
}
