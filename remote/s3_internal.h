/* libsnapfleet-remote's internal parts: the parsers of S3's XML replies
 * (s3_xml.c, libxml2; fuzzed by fuzz/fuzz_s3_xml.c). Each reads bytes that
 * came off the network: bounded, no network, no DTD, no entity expansion. */
#ifndef SNAPFLEET_REMOTE_S3_INTERNAL_H
#define SNAPFLEET_REMOTE_S3_INTERNAL_H

#include <stdbool.h>

#include "snapfleet/s3.h"

/* Replies larger than this are refused ("s3-reply"). */
#define SF_S3_XML_MAX (16u << 20)

/* An <Error> document: returns 1 with its Code and Message appended to code
 * and message (each may be empty), 0 when body is not one. */
int sf_s3_xml_error(const char *body, size_t len, sf_buf *code, sf_buf *message);

/* A ListBucketResult page: cb for each <Contents> (Key required, Size a
 * decimal integer), *truncated from IsTruncated, next_token from
 * NextContinuationToken (reset first). Errors: "s3-reply" naming the
 * element; a callback's non-zero return: "s3-aborted". */
int sf_s3_xml_list(const char *body, size_t len, sf_s3_list_cb cb, void *payload,
                   bool *truncated, sf_buf *next_token, sf_error *err);

/* The text of element child directly under the document element root
 * (e.g. InitiateMultipartUploadResult/UploadId), into out (reset first).
 * Errors: "s3-reply" when the root or the child is missing or empty. */
int sf_s3_xml_child_text(const char *body, size_t len, const char *root,
                         const char *child, sf_buf *out, sf_error *err);

/* Asks for at most max_keys keys per list page (tests: continuation). */
void sf_s3__set_list_page(sf_s3 *s3, int max_keys);

#endif
