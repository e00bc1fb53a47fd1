/*
 * The S3 client: one libcurl easy handle per sf_s3, each request signed by
 * libcurl's AWS SigV4 (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3") with the
 * body's SHA-256 in x-amz-content-sha256 (a signed header, so the server
 * checks the bytes as well as the signature). Queries are written in
 * SigV4's canonical form (sorted, RFC 3986 encoded, "uploads=") so what
 * curl signs is what goes on the wire, whatever curl's version does with a
 * query. Retries with backoff are here, around one attempt (attempt()).
 */
#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "s3_internal.h"
#include "snapfleet/checksum.h"

#define ERROR_BODY_MAX (64u << 10)

struct sf_s3 {
    sf_s3_config cfg;
    CURL *curl;
    char sigv4[96];
    uint64_t requests;
    int list_page; /* max-keys per list page, 0: the server's (1000) */
};

void sf_s3__set_list_page(sf_s3 *s3, int max_keys)
{
    s3->list_page = max_keys;
}

/* One request's description and its outcome. */
typedef struct request {
    const char *method;     /* GET HEAD PUT POST DELETE */
    const char *bucket;
    const char *key;        /* NULL: the bucket */
    const char *query;      /* canonical form, NULL: none */
    const void *body;
    size_t body_len;
    const char *body_sha256; /* the body's SHA-256 hex when known, NULL: hashed */
    sf_s3_sink sink;        /* GET: where a 2xx body goes; NULL: into reply */
    void (*reset)(void *payload);
    void *payload;
    /* outcome */
    long status;
    sf_buf reply;           /* the body when no sink took it (capped) */
    sf_buf etag;            /* the ETag response header */
    uint64_t length;        /* Content-Length response header */
    size_t sent;            /* upload position */
    int sink_failed;
    int reply_too_big;
    /* one try's own */
    char *url;
    struct curl_slist *headers;
} request;

static int s3_global_init(sf_error *err)
{
    static int done;

    if (!done) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return sf_error_set(err, "s3-transport", NULL, "libcurl failed to initialise");
        done = 1;
    }
    return 0;
}

int sf_s3_open(sf_s3 **out, const sf_s3_config *cfg, sf_error *err)
{
    sf_s3 *s3;

    *out = NULL;
    if (cfg == NULL || cfg->endpoint == NULL || cfg->region == NULL ||
        cfg->access_key == NULL || cfg->secret_key == NULL)
        return sf_error_set(err, SF_EK_USAGE, NULL, "sf_s3_open: incomplete configuration");
    if (s3_global_init(err) != 0)
        return SF_ERR;
    s3 = calloc(1, sizeof *s3);
    if (s3 == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    s3->cfg = *cfg;
    s3->cfg.endpoint = strdup(cfg->endpoint);
    s3->cfg.region = strdup(cfg->region);
    s3->cfg.access_key = strdup(cfg->access_key);
    s3->cfg.secret_key = strdup(cfg->secret_key);
    s3->cfg.session_token = cfg->session_token ? strdup(cfg->session_token) : NULL;
    s3->cfg.ca_file = cfg->ca_file ? strdup(cfg->ca_file) : NULL;
    s3->curl = curl_easy_init();
    if (s3->cfg.endpoint == NULL || s3->cfg.region == NULL || s3->cfg.access_key == NULL ||
        s3->cfg.secret_key == NULL || (cfg->session_token && !s3->cfg.session_token) ||
        (cfg->ca_file && !s3->cfg.ca_file) || s3->curl == NULL) {
        sf_s3_close(s3);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    snprintf(s3->sigv4, sizeof s3->sigv4, "aws:amz:%s:s3", s3->cfg.region);
    *out = s3;
    return 0;
}

void sf_s3_close(sf_s3 *s3)
{
    if (s3 == NULL)
        return;
    if (s3->curl != NULL)
        curl_easy_cleanup(s3->curl);
    sf_s3_config_free(&s3->cfg);
    free(s3);
}

uint64_t sf_s3_requests(const sf_s3 *s3)
{
    return s3 ? s3->requests : 0;
}

/* RFC 3986 percent-encoding as SigV4 wants it; '/' kept when keep_slash. */
static int uri_encode(sf_buf *out, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";

    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            if (sf_buf_putc(out, (char)c) != 0)
                return SF_ERR;
        } else if (sf_buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]) != 0) {
            return SF_ERR;
        }
    }
    return 0;
}

char *sf_s3_object_url(const sf_s3 *s3, const char *bucket, const char *key)
{
    sf_buf u;
    const char *ep = s3->cfg.endpoint;
    const char *host = strstr(ep, "://") + 3;

    sf_buf_init(&u);
    if (s3->cfg.addressing == SF_S3_ADDRESSING_VIRTUAL) {
        sf_buf_append(&u, ep, (size_t)(host - ep));
        sf_buf_printf(&u, "%s.%s/", bucket, host);
    } else {
        sf_buf_printf(&u, "%s/%s/", ep, bucket);
    }
    if (key != NULL)
        uri_encode(&u, key, true);
    if (u.oom) {
        sf_buf_free(&u);
        return NULL;
    }
    return sf_buf_detach(&u);
}

/* Appends "name=value" to a canonical query (callers add in sorted order). */
static int query_add(sf_buf *q, const char *name, const char *value)
{
    if (q->len > 0 && sf_buf_putc(q, '&') != 0)
        return SF_ERR;
    if (uri_encode(q, name, false) != 0 || sf_buf_putc(q, '=') != 0)
        return SF_ERR;
    return uri_encode(q, value ? value : "", false);
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *userdata)
{
    request *r = userdata;
    size_t n = size * nmemb;

    if (r->sink != NULL && r->status >= 200 && r->status < 300) {
        if (r->sink(r->payload, data, n) != 0) {
            r->sink_failed = 1;
            return 0;
        }
        return n;
    }
    if (r->reply.len + n > (r->sink ? ERROR_BODY_MAX : SF_S3_XML_MAX)) {
        r->reply_too_big = 1;
        return 0;
    }
    if (sf_buf_append(&r->reply, data, n) != 0)
        return 0;
    return n;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    request *r = userdata;
    size_t n = size * nmemb;

    if (n >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        /* A new status line (after a 100 Continue too): its code. */
        const char *sp = memchr(data, ' ', n);
        r->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        sf_buf_reset(&r->etag);
        r->length = 0;
    } else if (n > 5 && strncasecmp(data, "ETag:", 5) == 0) {
        size_t i = 5, e = n;
        while (i < e && isspace((unsigned char)data[i]))
            i++;
        while (e > i && isspace((unsigned char)data[e - 1]))
            e--;
        sf_buf_reset(&r->etag);
        if (e - i < 80)
            sf_buf_append(&r->etag, data + i, e - i);
    } else if (n > 15 && strncasecmp(data, "Content-Length:", 15) == 0) {
        r->length = strtoull(data + 15, NULL, 10);
    }
    return n;
}

static size_t on_read(char *buffer, size_t size, size_t nitems, void *userdata)
{
    request *r = userdata;
    size_t n = size * nitems, left = r->body_len - r->sent;

    if (n > left)
        n = left;
    if (n > 0)
        memcpy(buffer, (const char *)r->body + r->sent, n);
    r->sent += n;
    return n;
}

static int seek_read(void *userdata, curl_off_t offset, int origin)
{
    request *r = userdata;

    if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > r->body_len)
        return CURL_SEEKFUNC_FAIL;
    r->sent = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

typedef enum { DONE_OK, DONE_FAIL, DONE_RETRY } outcome;

static void describe(const request *r, sf_buf *what)
{
    sf_buf_printf(what, "%s %s/%s", r->method, r->bucket, r->key ? r->key : "");
    if (r->query != NULL && r->query[0] != '\0')
        sf_buf_printf(what, "?%s", r->query);
}

/* Builds and signs a request on handle c: its URL and headers go into
 * r->url and r->headers (freed by finish_attempt). The body's SHA-256 is
 * r->body_sha256 when the caller knows it (the hash of the very bytes in
 * body, e.g. a file checked against its name as it was read), else it is
 * computed here. */
static int prepare(sf_s3 *s3, CURL *c, request *r, sf_error *err)
{
    struct curl_slist *h = NULL;
    char *url = NULL, *object_url;
    char hash[SF_SHA256_HEX_SIZE], line[160];

    sf_buf_reset(&r->reply);
    sf_buf_reset(&r->etag);
    r->status = 0;
    r->sent = 0;
    r->sink_failed = 0;
    r->reply_too_big = 0;
    if (r->body_sha256 != NULL)
        memcpy(hash, r->body_sha256, SF_SHA256_HEX_SIZE);
    else if (sf_sha256_bytes(r->body ? r->body : "", r->body_len, hash) != 0)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory hashing a request body");
    object_url = sf_s3_object_url(s3, r->bucket, r->key);
    if (object_url != NULL) {
        size_t n = strlen(object_url) + (r->query ? strlen(r->query) : 0) + 2;
        url = malloc(n);
        if (url != NULL)
            snprintf(url, n, "%s%s%s", object_url, r->query ? "?" : "", r->query ? r->query : "");
        free(object_url);
    }
    snprintf(line, sizeof line, "x-amz-content-sha256: %s", hash);
    h = curl_slist_append(h, line);
    /* No "Expect:" to turn 100-continue off: curl 7.88 signs an emptied
     * header it then does not send, and the signature fails. */
    if (h != NULL && (strcmp(r->method, "PUT") == 0 || strcmp(r->method, "POST") == 0))
        h = curl_slist_append(h, "Content-Type: application/octet-stream");
    if (h != NULL && s3->cfg.session_token != NULL) {
        sf_buf tok;
        sf_buf_init(&tok);
        sf_buf_printf(&tok, "x-amz-security-token: %s", s3->cfg.session_token);
        h = tok.oom ? NULL : curl_slist_append(h, sf_buf_cstr(&tok));
        if (tok.data)
            memset(tok.data, 0, tok.len);
        sf_buf_free(&tok);
    }
    r->headers = h;
    r->url = url;
    if (url == NULL || h == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory building a request");

    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (s3->cfg.ca_file != NULL)
        curl_easy_setopt(c, CURLOPT_CAINFO, s3->cfg.ca_file);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, s3->cfg.timeout_s);
    curl_easy_setopt(c, CURLOPT_AWS_SIGV4, s3->sigv4);
    curl_easy_setopt(c, CURLOPT_USERNAME, s3->cfg.access_key);
    curl_easy_setopt(c, CURLOPT_PASSWORD, s3->cfg.secret_key);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(r->method, "PUT") == 0) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_read);
        curl_easy_setopt(c, CURLOPT_SEEKDATA, r);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    } else if (strcmp(r->method, "DELETE") == 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    }
    s3->requests++;
    return 0;
}

/* What one try (transfer result cc) came to: on failure fills err and says
 * whether another try may succeed. Frees what prepare made. */
static outcome finish_attempt(request *r, CURLcode cc, sf_error *err)
{
    sf_buf what, code, message;
    outcome out = DONE_FAIL;

    sf_buf_init(&what);
    sf_buf_init(&code);
    sf_buf_init(&message);
    describe(r, &what);
    curl_slist_free_all(r->headers);
    free(r->url);
    r->headers = NULL;
    r->url = NULL;
    if (r->sink_failed) {
        if (err != NULL && err->kind == NULL)
            sf_error_set(err, "s3-aborted", NULL, "%s: the reader stopped the transfer",
                         sf_buf_cstr(&what));
        goto done;
    }
    if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE) {
        /* Not retried: the certificate will not verify next time either. */
        sf_error_set(err, "s3-tls", NULL,
                     "%s: %s: the server's TLS certificate does not verify against the "
                     "trusted certificate authorities (a private one goes in AWS_CA_BUNDLE; "
                     "verification is never turned off)", sf_buf_cstr(&what),
                     curl_easy_strerror(cc));
        goto done;
    }
    if (cc != CURLE_OK && !(r->reply_too_big && cc == CURLE_WRITE_ERROR)) {
        sf_error_set(err, "s3-transport", NULL, "%s: %s", sf_buf_cstr(&what),
                     curl_easy_strerror(cc));
        switch (cc) {
        case CURLE_COULDNT_RESOLVE_HOST: case CURLE_COULDNT_CONNECT:
        case CURLE_OPERATION_TIMEDOUT: case CURLE_SEND_ERROR: case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING: case CURLE_PARTIAL_FILE: case CURLE_SSL_CONNECT_ERROR:
        case CURLE_HTTP2: case CURLE_HTTP2_STREAM:
            out = DONE_RETRY;
            break;
        default:
            break;
        }
        goto done;
    }
    if (r->status >= 200 && r->status < 300 && !r->reply_too_big) {
        out = DONE_OK;
        goto done;
    }
    if (r->reply_too_big && r->status >= 200 && r->status < 300) {
        sf_error_set(err, "s3-reply", NULL, "%s: the reply is larger than %u bytes",
                     sf_buf_cstr(&what), SF_S3_XML_MAX);
        goto done;
    }
    sf_s3_xml_error(r->reply.data, r->reply.len, &code, &message);
    if (code.len == 0 && r->status == 404)
        sf_buf_puts(&code, "NoSuchKey");
    {
        const char *k = "s3-http";
        /* The kind is "s3-<Code>" for the codes callers branch on, which are
         * static strings; any other code is "s3-error" with the code in the
         * message. */
        static const char *const known[] = {
            "NoSuchKey", "NoSuchBucket", "NoSuchUpload", "AccessDenied",
            "SignatureDoesNotMatch", "InvalidAccessKeyId", "SlowDown", "InternalError",
            "RequestTimeTooSkewed", "XAmzContentSHA256Mismatch", "InvalidPart",
            "EntityTooSmall", "BadDigest", "ServiceUnavailable", "RequestTimeout"};
        static const char *const kinds[] = {
            "s3-NoSuchKey", "s3-NoSuchBucket", "s3-NoSuchUpload", "s3-AccessDenied",
            "s3-SignatureDoesNotMatch", "s3-InvalidAccessKeyId", "s3-SlowDown",
            "s3-InternalError", "s3-RequestTimeTooSkewed", "s3-XAmzContentSHA256Mismatch",
            "s3-InvalidPart", "s3-EntityTooSmall", "s3-BadDigest",
            "s3-ServiceUnavailable", "s3-RequestTimeout"};
        size_t i;
        if (code.len > 0)
            k = "s3-error";
        for (i = 0; i < sizeof known / sizeof known[0]; i++)
            if (strcmp(sf_buf_cstr(&code), known[i]) == 0)
                k = kinds[i];
        sf_error_set(err, k, NULL, "%s: HTTP %ld%s%s%s%s", sf_buf_cstr(&what), r->status,
                     code.len ? " " : "", sf_buf_cstr(&code), message.len ? ": " : "",
                     sf_buf_cstr(&message));
    }
    if (r->status == 500 || r->status == 502 || r->status == 503 || r->status == 504 ||
        r->status == 429 || strcmp(sf_buf_cstr(&code), "SlowDown") == 0 ||
        strcmp(sf_buf_cstr(&code), "RequestTimeout") == 0 ||
        strcmp(sf_buf_cstr(&code), "InternalError") == 0)
        out = DONE_RETRY;
done:
    sf_buf_free(&what);
    sf_buf_free(&code);
    sf_buf_free(&message);
    return out;
}


/* One try on the client's own handle. */
static outcome attempt(sf_s3 *s3, request *r, sf_error *err)
{
    if (prepare(s3, s3->curl, r, err) != 0) {
        curl_slist_free_all(r->headers);
        free(r->url);
        r->headers = NULL;
        r->url = NULL;
        return DONE_FAIL;
    }
    return finish_attempt(r, curl_easy_perform(s3->curl), err);
}

/* The wait before try attempt_no + 2: exponential, capped, full jitter. */
static uint64_t backoff_ms(const sf_s3 *s3, int attempt_no)
{
    uint64_t cap = s3->cfg.backoff_ms;
    int i;

    for (i = 0; i < attempt_no && cap < s3->cfg.backoff_ms_max; i++)
        cap *= 2;
    if (cap > s3->cfg.backoff_ms_max)
        cap = s3->cfg.backoff_ms_max;
    /* Full jitter: uniform in [cap/2, cap], never 0. */
    return cap / 2 + (cap > 1 ? arc4random_uniform((uint32_t)(cap / 2 + 1)) : 0);
}

static void backoff(const sf_s3 *s3, int attempt_no)
{
    uint64_t ms = backoff_ms(s3, attempt_no);
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int perform(sf_s3 *s3, request *r, sf_error *err)
{
    int tries;

    for (tries = 0;; tries++) {
        outcome o;
        if (err != NULL)
            sf_error_clear(err);
        o = attempt(s3, r, err);
        if (o == DONE_OK)
            return 0;
        if (o == DONE_FAIL || tries >= s3->cfg.retries_max)
            break;
        if (r->sink != NULL) {
            if (r->reset == NULL)
                break;
            r->reset(r->payload);
        }
        backoff(s3, tries);
    }
    if (tries > 0 && err != NULL)
        sf_error_prefix(err, "after %d tries: ", tries + 1);
    return SF_ERR;
}

static void request_init(request *r, const char *method, const char *bucket, const char *key)
{
    memset(r, 0, sizeof *r);
    r->method = method;
    r->bucket = bucket;
    r->key = key;
    sf_buf_init(&r->reply);
    sf_buf_init(&r->etag);
}

static void request_free(request *r)
{
    sf_buf_free(&r->reply);
    sf_buf_free(&r->etag);
}

int sf_s3_put(sf_s3 *s3, const char *bucket, const char *key, const void *data, size_t len,
              sf_error *err)
{
    request r;
    int rc;

    request_init(&r, "PUT", bucket, key);
    r.body = data;
    r.body_len = len;
    rc = perform(s3, &r, err);
    request_free(&r);
    return rc;
}

int sf_s3_get(sf_s3 *s3, const char *bucket, const char *key, sf_buf *out, sf_error *err)
{
    request r;
    int rc;

    request_init(&r, "GET", bucket, key);
    rc = perform(s3, &r, err);
    if (rc == 0 && sf_buf_append(out, r.reply.data ? r.reply.data : "", r.reply.len) != 0)
        rc = sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    request_free(&r);
    return rc;
}

int sf_s3_get_stream(sf_s3 *s3, const char *bucket, const char *key, sf_s3_sink sink,
                     void (*reset)(void *payload), void *payload, sf_error *err)
{
    request r;
    int rc;

    request_init(&r, "GET", bucket, key);
    r.sink = sink;
    r.reset = reset;
    r.payload = payload;
    rc = perform(s3, &r, err);
    request_free(&r);
    return rc;
}

int sf_s3_head(sf_s3 *s3, const char *bucket, const char *key, uint64_t *size, sf_buf *etag,
               sf_error *err)
{
    request r;
    int rc;

    request_init(&r, "HEAD", bucket, key);
    rc = perform(s3, &r, err);
    if (rc == 0) {
        if (size != NULL)
            *size = r.length;
        if (etag != NULL && sf_buf_append(etag, sf_buf_cstr(&r.etag), r.etag.len) != 0)
            rc = sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    request_free(&r);
    return rc;
}

int sf_s3_delete(sf_s3 *s3, const char *bucket, const char *key, sf_error *err)
{
    request r;
    int rc;

    request_init(&r, "DELETE", bucket, key);
    rc = perform(s3, &r, err);
    request_free(&r);
    return rc;
}

int sf_s3_list(sf_s3 *s3, const char *bucket, const char *prefix, sf_s3_list_cb cb,
               void *payload, sf_error *err)
{
    sf_buf token, query;
    bool truncated = true;
    int rc = 0, pages = 0;

    sf_buf_init(&token);
    sf_buf_init(&query);
    while (rc == 0 && truncated) {
        request r;

        sf_buf_reset(&query);
        if (token.len > 0)
            query_add(&query, "continuation-token", sf_buf_cstr(&token));
        query_add(&query, "list-type", "2");
        if (s3->list_page > 0) {
            char n[16];
            snprintf(n, sizeof n, "%d", s3->list_page);
            query_add(&query, "max-keys", n);
        }
        if (prefix != NULL && prefix[0] != '\0')
            query_add(&query, "prefix", prefix);
        if (query.oom) {
            rc = sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
            break;
        }
        request_init(&r, "GET", bucket, NULL);
        r.query = sf_buf_cstr(&query);
        rc = perform(s3, &r, err);
        if (rc == 0)
            rc = sf_s3_xml_list(r.reply.data, r.reply.len, cb, payload, &truncated, &token,
                                err);
        request_free(&r);
        if (rc == 0 && ++pages > 1000000)
            rc = sf_error_set(err, "s3-reply", bucket, "the listing of %s/%s does not end",
                              bucket, prefix ? prefix : "");
    }
    sf_buf_free(&token);
    sf_buf_free(&query);
    return rc;
}

int sf_s3_multipart_create(sf_s3 *s3, const char *bucket, const char *key, char **upload_id,
                           sf_error *err)
{
    request r;
    sf_buf id;
    int rc;

    *upload_id = NULL;
    sf_buf_init(&id);
    request_init(&r, "POST", bucket, key);
    r.query = "uploads=";
    rc = perform(s3, &r, err);
    if (rc == 0)
        rc = sf_s3_xml_child_text(r.reply.data, r.reply.len, "InitiateMultipartUploadResult",
                                  "UploadId", &id, err);
    if (rc == 0 && (*upload_id = sf_buf_detach(&id)) == NULL)
        rc = sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    sf_buf_free(&id);
    request_free(&r);
    return rc;
}

static int part_query(sf_buf *q, int number, const char *upload_id, sf_error *err);

int sf_s3_multipart_part(sf_s3 *s3, const char *bucket, const char *key, const char *upload_id,
                         int number, const void *data, size_t len, char etag[80],
                         sf_error *err)
{
    request r;
    sf_buf q;
    int rc;

    etag[0] = '\0';
    sf_buf_init(&q);
    if (part_query(&q, number, upload_id, err) != 0) {
        sf_buf_free(&q);
        return SF_ERR;
    }
    request_init(&r, "PUT", bucket, key);
    r.query = sf_buf_cstr(&q);
    r.body = data;
    r.body_len = len;
    rc = perform(s3, &r, err);
    if (rc == 0 && (r.etag.len == 0 || r.etag.len >= 80))
        rc = sf_error_set(err, "s3-reply", "ETag", "PUT %s/%s part %d: the reply has no ETag",
                          bucket, key, number);
    if (rc == 0)
        memcpy(etag, r.etag.data, r.etag.len + 1);
    request_free(&r);
    sf_buf_free(&q);
    return rc;
}

static int xml_escape(sf_buf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&': sf_buf_puts(out, "&amp;"); break;
        case '<': sf_buf_puts(out, "&lt;"); break;
        case '>': sf_buf_puts(out, "&gt;"); break;
        case '"': sf_buf_puts(out, "&quot;"); break;
        default: sf_buf_putc(out, *s); break;
        }
    }
    return out->oom ? SF_ERR : 0;
}

int sf_s3_multipart_complete(sf_s3 *s3, const char *bucket, const char *key,
                             const char *upload_id, const sf_s3_part *parts, size_t count,
                             sf_error *err)
{
    request r;
    sf_buf q, body;
    size_t i;
    int rc;

    sf_buf_init(&q);
    sf_buf_init(&body);
    query_add(&q, "uploadId", upload_id);
    sf_buf_puts(&body, "<CompleteMultipartUpload>");
    for (i = 0; i < count; i++) {
        sf_buf_printf(&body, "<Part><PartNumber>%d</PartNumber><ETag>", parts[i].number);
        xml_escape(&body, parts[i].etag);
        sf_buf_puts(&body, "</ETag></Part>");
    }
    sf_buf_puts(&body, "</CompleteMultipartUpload>");
    if (q.oom || body.oom) {
        sf_buf_free(&q);
        sf_buf_free(&body);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    request_init(&r, "POST", bucket, key);
    r.query = sf_buf_cstr(&q);
    r.body = body.data;
    r.body_len = body.len;
    rc = perform(s3, &r, err);
    if (rc == 0) {
        /* S3 may answer 200 and then an <Error> document in the body. */
        sf_buf code, message;
        sf_buf_init(&code);
        sf_buf_init(&message);
        if (sf_s3_xml_error(r.reply.data, r.reply.len, &code, &message))
            rc = sf_error_set(err, "s3-error", NULL, "POST %s/%s?%s: HTTP 200 %s: %s", bucket,
                              key, sf_buf_cstr(&q), sf_buf_cstr(&code), sf_buf_cstr(&message));
        sf_buf_free(&code);
        sf_buf_free(&message);
    }
    request_free(&r);
    sf_buf_free(&q);
    sf_buf_free(&body);
    return rc;
}

int sf_s3_multipart_abort(sf_s3 *s3, const char *bucket, const char *key,
                          const char *upload_id, sf_error *err)
{
    request r;
    sf_buf q;
    int rc;

    sf_buf_init(&q);
    if (query_add(&q, "uploadId", upload_id) != 0) {
        sf_buf_free(&q);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    request_init(&r, "DELETE", bucket, key);
    r.query = sf_buf_cstr(&q);
    rc = perform(s3, &r, err);
    request_free(&r);
    sf_buf_free(&q);
    return rc;
}

/* ---- several transfers at once (curl multi) ---- */

/* One transfer of a pool: its request, its own easy handle (the multi
 * shares connections between them), its tries. */
typedef struct xfer {
    request r;
    CURL *c;
    char *bucket, *key, *query;
    char sha256[SF_SHA256_HEX_SIZE];
    int tries;
    bool start_failed;      /* reported by the next sf_s3_pool_run */
    uint64_t retry_at;      /* monotonic ms; 0: running (in the multi) */
    sf_s3_done done;
    void *payload;
    sf_error err;
    struct xfer *next;
} xfer;

struct sf_s3_pool {
    sf_s3 *s3;
    CURLM *m;
    size_t jobs, n;
    xfer *list;
};

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int sf_s3_pool_new(sf_s3 *s3, size_t jobs, sf_s3_pool **out, sf_error *err)
{
    sf_s3_pool *p;

    *out = NULL;
    if (jobs < 1 || jobs > SF_S3_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, NULL, "jobs must be 1 to %d", SF_S3_JOBS_MAX);
    p = calloc(1, sizeof *p);
    if (p == NULL || (p->m = curl_multi_init()) == NULL) {
        free(p);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    p->s3 = s3;
    p->jobs = jobs;
    *out = p;
    return 0;
}

static void xfer_free(sf_s3_pool *p, xfer *x)
{
    if (x->c != NULL) {
        if (x->retry_at == 0)
            curl_multi_remove_handle(p->m, x->c);
        curl_easy_cleanup(x->c);
    }
    curl_slist_free_all(x->r.headers);
    free(x->r.url);
    request_free(&x->r);
    free(x->bucket);
    free(x->key);
    free(x->query);
    free(x);
}

void sf_s3_pool_free(sf_s3_pool *p)
{
    if (p == NULL)
        return;
    /* Whatever is still in flight is aborted: its connection closed, its
     * callback never called. */
    while (p->list != NULL) {
        xfer *x = p->list;
        p->list = x->next;
        xfer_free(p, x);
    }
    curl_multi_cleanup(p->m);
    free(p);
}

size_t sf_s3_pool_active(const sf_s3_pool *p)
{
    return p->n;
}

bool sf_s3_pool_full(const sf_s3_pool *p)
{
    return p->n >= p->jobs;
}

/* Puts x (prepared again) into the multi. */
static int xfer_start(sf_s3_pool *p, xfer *x)
{
    sf_error_clear(&x->err);
    x->retry_at = 1;
    if (prepare(p->s3, x->c, &x->r, &x->err) != 0)
        return SF_ERR;
    curl_easy_setopt(x->c, CURLOPT_PRIVATE, x);
    if (curl_multi_add_handle(p->m, x->c) != CURLM_OK)
        return sf_error_set(&x->err, "s3-transport", NULL, "libcurl refused a transfer");
    x->retry_at = 0;
    return 0;
}

/* A transfer is over: out of the pool, its callback told. */
static void xfer_done(sf_s3_pool *p, xfer *x, int rc)
{
    xfer **pp;

    for (pp = &p->list; *pp != x; pp = &(*pp)->next)
        ;
    *pp = x->next;
    p->n--;
    if (x->retry_at == 0) {
        curl_multi_remove_handle(p->m, x->c);
        x->retry_at = 1; /* out of the multi */
    }
    if (rc != 0 && x->tries > 0)
        sf_error_prefix(&x->err, "after %d tries: ", x->tries + 1);
    x->done(x->payload, rc, sf_buf_cstr(&x->r.etag), &x->err);
    xfer_free(p, x);
}

static int pool_add(sf_s3_pool *p, const char *method, const char *bucket, const char *key,
                    const char *query, const void *body, size_t len, const char *sha256,
                    sf_s3_sink sink, void (*reset)(void *), void *sink_payload,
                    sf_s3_done done, void *payload, sf_error *err)
{
    xfer *x;

    if (p->n >= p->jobs)
        return sf_error_set(err, SF_EK_USAGE, NULL, "the pool is full");
    x = calloc(1, sizeof *x);
    if (x == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    x->bucket = strdup(bucket);
    x->key = strdup(key);
    x->query = query ? strdup(query) : NULL;
    x->c = curl_easy_init();
    x->retry_at = 1;
    if (x->bucket == NULL || x->key == NULL || (query && x->query == NULL) || x->c == NULL) {
        xfer_free(p, x);
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    }
    request_init(&x->r, method, x->bucket, x->key);
    x->r.query = x->query;
    x->r.body = body;
    x->r.body_len = len;
    if (sha256 != NULL) {
        memcpy(x->sha256, sha256, SF_SHA256_HEX_SIZE);
        x->r.body_sha256 = x->sha256;
    }
    x->r.sink = sink;
    x->r.reset = reset;
    x->r.payload = sink_payload;
    x->done = done;
    x->payload = payload;
    x->next = p->list;
    p->list = x;
    p->n++;
    /* A failure to start is reported through the callback, as any failed
     * transfer, from sf_s3_pool_run (never from inside this call). */
    if (xfer_start(p, x) != 0)
        x->start_failed = true;
    return 0;
}

int sf_s3_pool_put(sf_s3_pool *p, const char *bucket, const char *key, const void *data,
                   size_t len, const char *sha256, sf_s3_done done, void *payload,
                   sf_error *err)
{
    return pool_add(p, "PUT", bucket, key, NULL, data, len, sha256, NULL, NULL, NULL, done,
                    payload, err);
}

static int part_query(sf_buf *q, int number, const char *upload_id, sf_error *err)
{
    char num[16];

    if (number < 1 || number > 10000)
        return sf_error_set(err, SF_EK_USAGE, NULL, "part number %d is not 1 to 10000", number);
    snprintf(num, sizeof num, "%d", number);
    query_add(q, "partNumber", num);
    query_add(q, "uploadId", upload_id);
    if (q->oom)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    return 0;
}

int sf_s3_pool_part(sf_s3_pool *p, const char *bucket, const char *key, const char *upload_id,
                    int number, const void *data, size_t len, const char *sha256,
                    sf_s3_done done, void *payload, sf_error *err)
{
    sf_buf q;
    int rc;

    sf_buf_init(&q);
    rc = part_query(&q, number, upload_id, err);
    if (rc == 0)
        rc = pool_add(p, "PUT", bucket, key, sf_buf_cstr(&q), data, len, sha256, NULL, NULL,
                      NULL, done, payload, err);
    sf_buf_free(&q);
    return rc;
}

int sf_s3_pool_get(sf_s3_pool *p, const char *bucket, const char *key, sf_s3_sink sink,
                   void (*reset)(void *payload), void *sink_payload, sf_s3_done done,
                   void *payload, sf_error *err)
{
    return pool_add(p, "GET", bucket, key, NULL, NULL, 0, NULL, sink, reset, sink_payload, done,
                    payload, err);
}

/* libcurl's multi interface failed: every transfer still in the pool is
 * over, failed through its callback, so whoever owns its body and payload
 * frees them as after any failed transfer. */
static int pool_broken(sf_s3_pool *p, sf_error *err)
{
    sf_error broken;

    sf_error_clear(&broken);
    sf_error_set(&broken, "s3-transport", NULL, "libcurl's multi interface failed");
    while (p->list != NULL) {
        xfer *x = p->list;

        x->err = broken;
        xfer_done(p, x, SF_ERR);
    }
    if (err != NULL)
        *err = broken;
    return SF_ERR;
}

int sf_s3_pool_run(sf_s3_pool *p, sf_error *err)
{
    for (;;) {
        uint64_t now = now_ms();
        long wait = 1000;
        int running, finished = 0, left;
        CURLMsg *msg;
        xfer *x, *next;

        if (p->n == 0)
            return 0;
        /* Retries whose backoff is over go again. */
        for (x = p->list; x != NULL; x = next) {
            next = x->next;
            if (x->start_failed) {
                x->retry_at = 1;
                xfer_done(p, x, SF_ERR);
                finished++;
                continue;
            }
            if (x->retry_at == 0)
                continue;
            if (x->retry_at <= now) {
                if (xfer_start(p, x) != 0) {
                    xfer_done(p, x, SF_ERR);
                    finished++;
                }
            } else if ((long)(x->retry_at - now) < wait) {
                wait = (long)(x->retry_at - now);
            }
        }
        if (curl_multi_perform(p->m, &running) != CURLM_OK)
            return pool_broken(p, err);
        while ((msg = curl_multi_info_read(p->m, &left)) != NULL) {
            outcome o;
            if (msg->msg != CURLMSG_DONE)
                continue;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
            curl_multi_remove_handle(p->m, x->c);
            x->retry_at = 1;
            o = finish_attempt(&x->r, msg->data.result, &x->err);
            if (o == DONE_RETRY && x->tries < p->s3->cfg.retries_max &&
                (x->r.sink == NULL || x->r.reset != NULL)) {
                if (x->r.sink != NULL)
                    x->r.reset(x->r.payload);
                x->retry_at = now_ms() + backoff_ms(p->s3, x->tries);
                x->tries++;
                if (wait > 0)
                    wait = 0; /* look at the timers again first */
                continue;
            }
            xfer_done(p, x, o == DONE_OK ? 0 : SF_ERR);
            finished++;
        }
        if (finished > 0)
            return 0;
        if (wait > 0 && curl_multi_poll(p->m, NULL, 0, (int)wait, NULL) != CURLM_OK)
            return pool_broken(p, err);
    }
}
