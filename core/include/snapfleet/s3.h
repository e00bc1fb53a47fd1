/*
 * snapfleet: a small client for S3-compatible object storage (libsnapfleet-
 * remote, remote/). HTTP goes through libcurl, every request signed with
 * AWS Signature Version 4 (CURLOPT_AWS_SIGV4) and its body's SHA-256 sent
 * as x-amz-content-sha256, so the server checks the bytes too. TLS
 * certificates and host names are always verified; plain http is accepted
 * only for a loopback endpoint (127.0.0.1, ::1, localhost, *.localhost).
 *
 * Errors: every call returns 0 or SF_ERR and fills the sf_error. A reply
 * with S3's error document gives kind "s3-<Code>" ("s3-NoSuchKey",
 * "s3-SignatureDoesNotMatch", ...), the message "<METHOD> <bucket>/<key>:
 * HTTP <status> <Code>: <Message>"; a failure to reach the server is
 * "s3-transport". A HEAD of a missing object is "s3-NoSuchKey" (HEAD
 * replies carry no body). Retries with exponential backoff and full jitter
 * (retries_max more tries, backoff from backoff_ms up to backoff_ms_max)
 * follow HTTP 500, 502, 503, 504, 429, the codes SlowDown, RequestTimeout,
 * InternalError, and connection errors; nothing else is retried. Secrets
 * never appear in an error message.
 */
#ifndef SNAPFLEET_S3_H
#define SNAPFLEET_S3_H

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sf_s3_addressing {
    SF_S3_ADDRESSING_AUTO = 0, /* virtual-hosted for the AWS endpoint, path-style otherwise */
    SF_S3_ADDRESSING_PATH,     /* https://endpoint/bucket/key */
    SF_S3_ADDRESSING_VIRTUAL,  /* https://bucket.endpoint/key */
} sf_s3_addressing;

/* Where and as whom. Strings are owned (malloc'd) once filled by
 * sf_s3_config_resolve; sf_s3_config_free frees them. */
typedef struct sf_s3_config {
    char *endpoint;      /* "https://host[:port]", no path */
    char *region;
    char *access_key;
    char *secret_key;
    char *session_token; /* NULL when none */
    sf_s3_addressing addressing;
    int retries_max;          /* further tries after the first (default 5) */
    unsigned backoff_ms;      /* first backoff (default 200) */
    unsigned backoff_ms_max;  /* cap (default 10000) */
    long timeout_s;           /* per request, 0: none (default 300) */
    char *ca_file;            /* AWS_CA_BUNDLE: the PEM file of the certificate
                                 authorities to trust instead of the system's
                                 (NULL: the system's); verification stays on */
} sf_s3_config;

/* Fills cfg from, in order: endpoint/region arguments (NULL: not given);
 * AWS_ENDPOINT_URL, AWS_REGION (or AWS_DEFAULT_REGION); credentials from
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or else the
 * shared credentials file (AWS_SHARED_CREDENTIALS_FILE, default
 * ~/.aws/credentials) at profile AWS_PROFILE (default "default"). Region
 * defaults to us-east-1, endpoint to https://s3.<region>.amazonaws.com.
 * AWS_CA_BUNDLE (as the AWS CLI and SDKs read it) names a PEM file of the
 * certificate authorities to trust, e.g. a private CA's; it must be
 * readable. Errors: "s3-config" naming what is missing (never a secret's
 * value). */
SF_API int sf_s3_config_resolve(sf_s3_config *cfg, const char *endpoint,
                                const char *region, sf_s3_addressing addressing,
                                sf_error *err);
SF_API void sf_s3_config_free(sf_s3_config *cfg);

/* Reads profile's aws_access_key_id, aws_secret_access_key and
 * aws_session_token from the text of a shared credentials file (INI:
 * "[profile]" sections, "key = value" lines, '#' and ';' comments). The
 * out strings are malloc'd (NULL when absent). Errors: "s3-config". */
SF_API int sf_s3_credentials_parse(const char *text, size_t len, const char *profile,
                                   char **access_key, char **secret_key,
                                   char **session_token, sf_error *err);

/* An s3://BUCKET/PREFIX address, split. prefix has no leading or trailing
 * '/' ("" for the bucket's root). Errors: "s3-url". */
typedef struct sf_s3_url {
    char bucket[64];
    char *prefix;
} sf_s3_url;
SF_API int sf_s3_url_parse(const char *text, sf_s3_url *out, sf_error *err);
SF_API void sf_s3_url_free(sf_s3_url *u);
/* True when text starts with "s3://". */
SF_API bool sf_s3_url_is(const char *text);

typedef struct sf_s3 sf_s3;

SF_API int sf_s3_open(sf_s3 **out, const sf_s3_config *cfg, sf_error *err);
SF_API void sf_s3_close(sf_s3 *s3);

/* The URL a request for bucket/key goes to (key may be NULL), as the
 * addressing says; malloc'd, NULL when out of memory. */
SF_API char *sf_s3_object_url(const sf_s3 *s3, const char *bucket, const char *key);

/* Whole-object operations. put sends data (len bytes, data may be NULL when
 * len is 0). get appends the object to out. head gives the size (and ETag
 * into etag, may be NULL). */
SF_API int sf_s3_put(sf_s3 *s3, const char *bucket, const char *key, const void *data,
                     size_t len, sf_error *err);
SF_API int sf_s3_get(sf_s3 *s3, const char *bucket, const char *key, sf_buf *out,
                     sf_error *err);
SF_API int sf_s3_head(sf_s3 *s3, const char *bucket, const char *key, uint64_t *size,
                      sf_buf *etag, sf_error *err);
SF_API int sf_s3_delete(sf_s3 *s3, const char *bucket, const char *key, sf_error *err);

/* Streams an object to a sink: called with each piece as it arrives; a
 * non-zero return aborts (the error is then "s3-aborted" unless the sink
 * filled err). A retried GET restarts from byte 0 after calling reset
 * (which may be NULL when the sink can never need it: then no retry). */
typedef int (*sf_s3_sink)(void *payload, const void *data, size_t len);
SF_API int sf_s3_get_stream(sf_s3 *s3, const char *bucket, const char *key,
                            sf_s3_sink sink, void (*reset)(void *payload),
                            void *payload, sf_error *err);

/* ListObjectsV2 over every page (continuation tokens followed): each key
 * under prefix in the order S3 gives (UTF-8 binary order), with its size and
 * ETag. A non-zero return from the callback stops the listing
 * ("s3-aborted"). */
typedef int (*sf_s3_list_cb)(void *payload, const char *key, uint64_t size,
                             const char *etag);
SF_API int sf_s3_list(sf_s3 *s3, const char *bucket, const char *prefix,
                      sf_s3_list_cb cb, void *payload, sf_error *err);

/* Multipart upload: create gives an upload id (malloc'd), each part its
 * ETag (into etag), complete names every part in order. Parts are numbered
 * from 1; all but the last must be at least 5 MiB on AWS. */
typedef struct sf_s3_part {
    int number;
    char etag[80];
} sf_s3_part;
SF_API int sf_s3_multipart_create(sf_s3 *s3, const char *bucket, const char *key,
                                  char **upload_id, sf_error *err);
SF_API int sf_s3_multipart_part(sf_s3 *s3, const char *bucket, const char *key,
                                const char *upload_id, int number, const void *data,
                                size_t len, char etag[80], sf_error *err);
SF_API int sf_s3_multipart_complete(sf_s3 *s3, const char *bucket, const char *key,
                                    const char *upload_id, const sf_s3_part *parts,
                                    size_t count, sf_error *err);
SF_API int sf_s3_multipart_abort(sf_s3 *s3, const char *bucket, const char *key,
                                 const char *upload_id, sf_error *err);

/* How many requests the client sent, retries included (for tests). */
SF_API uint64_t sf_s3_requests(const sf_s3 *s3);

#ifdef __cplusplus
}
#endif

#endif
