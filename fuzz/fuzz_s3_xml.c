/*
 * Fuzz target for the parsers of S3's XML replies (remote/s3_xml.c): any
 * bytes are either refused with "s3-reply" (or "s3-aborted" when the
 * callback stops) or read, and what is read holds: every listed key is
 * non-empty without a NUL byte, a truncated page has a continuation token,
 * an upload id is non-empty. Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/s3_internal.h"

static int check_key(void *payload, const char *key, uint64_t size, const char *etag)
{
    size_t *n = payload;

    (void)size;
    if (key == NULL || key[0] == '\0' || etag == NULL)
        abort();
    (*n)++;
    return *n >= 100000;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    sf_buf a, b;
    sf_error err;
    bool truncated = false;
    size_t n = 0;

    sf_buf_init(&a);
    sf_buf_init(&b);
    if (sf_s3_xml_error(body, size, &a, &b) != 0 && sf_s3_xml_error(body, size, &a, &b) != 1)
        abort();
    sf_buf_reset(&a);
    sf_error_clear(&err);
    if (sf_s3_xml_list(body, size, check_key, &n, &truncated, &a, &err) == 0) {
        if (truncated && a.len == 0)
            abort();
    } else if (strcmp(err.kind, "s3-reply") != 0 && strcmp(err.kind, "s3-aborted") != 0 &&
               strcmp(err.kind, SF_EK_NOMEM) != 0) {
        abort();
    }
    sf_error_clear(&err);
    if (sf_s3_xml_child_text(body, size, "InitiateMultipartUploadResult", "UploadId", &b,
                             &err) == 0) {
        if (b.len == 0 || strlen(sf_buf_cstr(&b)) != b.len)
            abort();
    } else if (strcmp(err.kind, "s3-reply") != 0 && strcmp(err.kind, SF_EK_NOMEM) != 0) {
        abort();
    }
    sf_buf_free(&a);
    sf_buf_free(&b);
    return 0;
}
