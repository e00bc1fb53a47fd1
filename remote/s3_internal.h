/* libsnapfleet-remote's internal parts: the parsers of S3's XML replies
 * (s3_xml.c, libxml2; fuzzed by fuzz/fuzz_s3_xml.c). Each reads bytes that
 * came off the network: bounded, no network, no DTD, no entity expansion. */
#ifndef SNAPFLEET_REMOTE_S3_INTERNAL_H
#define SNAPFLEET_REMOTE_S3_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

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

/* Several transfers at once: a pool of up to jobs requests in flight
 * through libcurl's multi interface on the caller's thread (no threads:
 * callbacks run inside sf_s3_pool_run, one at a time, so what they record
 * needs no lock). Each request is signed, retried with backoff (a retry
 * waits on a timer, not in a sleep, so the others go on) and classified
 * exactly as the one-at-a-time calls do. Bodies are the caller's and must
 * stay until the transfer's callback; sha256 (may be NULL: hashed here)
 * is the SHA-256 of exactly those bytes, sent as x-amz-content-sha256. */
#define SF_S3_JOBS_MAX 64
typedef struct sf_s3_pool sf_s3_pool;
/* A transfer is over: rc 0 or SF_ERR with err filled (naming the request);
 * etag is the reply's ETag header ("" when none). */
typedef void (*sf_s3_done)(void *payload, int rc, const char *etag, sf_error *err);
int sf_s3_pool_new(sf_s3 *s3, size_t jobs, sf_s3_pool **out, sf_error *err);
/* Aborts what is still in flight (no callback) and frees the pool. */
void sf_s3_pool_free(sf_s3_pool *p);
size_t sf_s3_pool_active(const sf_s3_pool *p);
bool sf_s3_pool_full(const sf_s3_pool *p);
/* Start a transfer (the pool must not be full); a failure to start is
 * reported through done from the next sf_s3_pool_run, or at once. */
int sf_s3_pool_put(sf_s3_pool *p, const char *bucket, const char *key, const void *data,
                   size_t len, const char *sha256, sf_s3_done done, void *payload,
                   sf_error *err);
int sf_s3_pool_part(sf_s3_pool *p, const char *bucket, const char *key, const char *upload_id,
                    int number, const void *data, size_t len, const char *sha256,
                    sf_s3_done done, void *payload, sf_error *err);
int sf_s3_pool_get(sf_s3_pool *p, const char *bucket, const char *key, sf_s3_sink sink,
                   void (*reset)(void *payload), void *sink_payload, sf_s3_done done,
                   void *payload, sf_error *err);
/* Runs the transfers until at least one is over (its callback called) or
 * none is left. SF_ERR only when libcurl's multi interface fails; then
 * every transfer left is over too, failed through its callback with the
 * same error, and the pool is empty. */
int sf_s3_pool_run(sf_s3_pool *p, sf_error *err);

/* Asks for at most max_keys keys per list page (tests: continuation). */
void sf_s3__set_list_page(sf_s3 *s3, int max_keys);

#endif
