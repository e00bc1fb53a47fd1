/* The S3 client (remote/): the XML reply parsers, s3:// addresses, the
 * configuration from the environment and the shared credentials file, then
 * every operation against the local server (ci/s3/server.js: s3rver behind
 * a front that checks SigV4): put, get, head, delete, list with
 * continuation, multipart, both addressing styles, a wrong secret refused,
 * retries on 503/500/dropped connections and their limit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote/s3_internal.h"
#include "s3_server.h"
#include "snapfleet/fs.h"
#include "snapfleet/s3.h"

/* ---- XML replies ---- */

typedef struct listed {
    int count;
    char keys[8][64];
    uint64_t sizes[8];
    int stop_at; /* callback returns non-zero at this count (0: never) */
} listed;

static int collect(void *payload, const char *key, uint64_t size, const char *etag)
{
    listed *l = payload;

    (void)etag;
    if (l->count < 8) {
        snprintf(l->keys[l->count], sizeof l->keys[0], "%s", key);
        l->sizes[l->count] = size;
    }
    l->count++;
    return l->stop_at != 0 && l->count >= l->stop_at;
}

static void test_s3_xml__error(void **state)
{
    static const char doc[] = "<?xml version=\"1.0\"?>\n<Error><Code>NoSuchKey</Code>"
                              "<Message>The key &amp; all</Message></Error>";
    sf_buf code, message;

    (void)state;
    sf_buf_init(&code);
    sf_buf_init(&message);
    assert_int_equal(sf_s3_xml_error(doc, sizeof doc - 1, &code, &message), 1);
    assert_string_equal(sf_buf_cstr(&code), "NoSuchKey");
    assert_string_equal(sf_buf_cstr(&message), "The key & all");
    sf_buf_reset(&code);
    assert_int_equal(sf_s3_xml_error("<Other/>", 8, &code, &message), 0);
    assert_int_equal(sf_s3_xml_error("not xml", 7, &code, &message), 0);
    assert_int_equal(sf_s3_xml_error(NULL, 0, &code, &message), 0);
    assert_int_equal(code.len, 0);
    sf_buf_free(&code);
    sf_buf_free(&message);
}

static void test_s3_xml__list(void **state)
{
    static const char page[] =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>b</Name><IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>tok/1</NextContinuationToken>"
        "<Contents><Key>a/1</Key><Size>0</Size><ETag>&quot;x&quot;</ETag></Contents>"
        "<Contents><Key>a/2</Key><Size>18446744073709551615</Size></Contents>"
        "</ListBucketResult>";
    static const char last[] = "<ListBucketResult><IsTruncated>false</IsTruncated>"
                               "</ListBucketResult>";
    listed l = {0};
    bool truncated;
    sf_buf token;
    sf_error err;

    (void)state;
    sf_buf_init(&token);
    assert_int_equal(sf_s3_xml_list(page, sizeof page - 1, collect, &l, &truncated, &token,
                                     &err), 0);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.keys[0], "a/1");
    assert_true(l.sizes[1] == UINT64_MAX);
    assert_true(truncated);
    assert_string_equal(sf_buf_cstr(&token), "tok/1");
    assert_int_equal(sf_s3_xml_list(last, sizeof last - 1, collect, &l, &truncated, &token,
                                     &err), 0);
    assert_false(truncated);
    assert_int_equal(token.len, 0);
    sf_buf_free(&token);
}

static void list_fails(const char *doc, const char *field)
{
    listed l = {0};
    bool truncated;
    sf_buf token;
    sf_error err;

    sf_buf_init(&token);
    sf_error_clear(&err);
    assert_int_equal(sf_s3_xml_list(doc, strlen(doc), collect, &l, &truncated, &token, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "s3-reply");
    assert_string_equal(err.field, field);
    sf_buf_free(&token);
}

static void test_s3_xml__list_refused(void **state)
{
    listed l = {.stop_at = 1};
    bool truncated;
    sf_buf token;
    sf_error err;
    static const char two[] = "<ListBucketResult><Contents><Key>a</Key><Size>1</Size>"
                              "</Contents><Contents><Key>b</Key><Size>1</Size></Contents>"
                              "</ListBucketResult>";

    (void)state;
    list_fails("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
               "NextContinuationToken");
    list_fails("<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
               "Contents.Key");
    list_fails("<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
               "</ListBucketResult>", "Contents.Size");
    list_fails("<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999</Size>"
               "</Contents></ListBucketResult>", "Contents.Size");
    list_fails("<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
               "Contents.Size");
    list_fails("<Error><Code>x</Code></Error>", "ListBucketResult");
    list_fails("<ListBucketResult><Contents><Key>k&#0;</Key><Size>1</Size></Contents>"
               "</ListBucketResult>", "");
    sf_buf_init(&token);
    /* A callback that stops the listing. */
    sf_error_clear(&err);
    assert_int_equal(sf_s3_xml_list(two, sizeof two - 1, collect, &l, &truncated, &token,
                                     &err), SF_ERR);
    assert_string_equal(err.kind, "s3-aborted");
    assert_int_equal(l.count, 1);
    /* Not XML at all. */
    assert_int_equal(sf_s3_xml_list("<<<", 3, collect, &l, &truncated, &token, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-reply");
    sf_buf_free(&token);
}

static void test_s3_xml__child_text(void **state)
{
    static const char init[] = "<InitiateMultipartUploadResult><Bucket>b</Bucket>"
                               "<UploadId>abc-123</UploadId></InitiateMultipartUploadResult>";
    sf_buf out;
    sf_error err;

    (void)state;
    sf_buf_init(&out);
    assert_int_equal(sf_s3_xml_child_text(init, sizeof init - 1,
                                          "InitiateMultipartUploadResult", "UploadId", &out,
                                          &err), 0);
    assert_string_equal(sf_buf_cstr(&out), "abc-123");
    assert_int_equal(sf_s3_xml_child_text(init, sizeof init - 1,
                                          "InitiateMultipartUploadResult", "Key", &out, &err),
                     SF_ERR);
    assert_string_equal(err.field, "Key");
    assert_int_equal(sf_s3_xml_child_text(init, sizeof init - 1, "Other", "UploadId", &out,
                                          &err), SF_ERR);
    assert_string_equal(err.field, "Other");
    assert_int_equal(sf_s3_xml_child_text("", 0, "A", "B", &out, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-reply");
    sf_buf_free(&out);
}

static void test_s3_xml__no_entities_no_network(void **state)
{
    /* An external entity is neither fetched nor expanded: the Code is empty
     * (the reference stays unresolved), never the file's content. */
    static const char xxe[] = "<?xml version=\"1.0\"?><!DOCTYPE Error ["
                              "<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
                              "<Error><Code>&x;</Code><Message>m</Message></Error>";
    static const char laughs[] =
        "<?xml version=\"1.0\"?><!DOCTYPE Error [<!ENTITY a \"aaaaaaaaaa\">"
        "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
        "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">"
        "<!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\"><!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\">]>"
        "<Error><Code>&g;</Code></Error>";
    sf_buf code, message;

    (void)state;
    sf_buf_init(&code);
    sf_buf_init(&message);
    sf_s3_xml_error(xxe, sizeof xxe - 1, &code, &message);
    assert_null(strstr(sf_buf_cstr(&code), "root:"));
    sf_buf_reset(&code);
    sf_s3_xml_error(laughs, sizeof laughs - 1, &code, &message);
    assert_true(code.len <= 1000000);
    sf_buf_free(&code);
    sf_buf_free(&message);
}

/* ---- addresses and configuration ---- */

static void test_s3_url__parse(void **state)
{
    sf_s3_url u;
    sf_error err;
    static const char *const bad[] = {
        "s3:/b/p", "file:///x", "s3://ab/p", "s3://Bucket/p", "s3://-bucket/p",
        "s3://bucket-/p", "s3://b_ucket/p", "s3://bucket/a//b", "s3://bucket/a/../b",
        "s3://bucket/./b", "s3://bucket/../b", "s3://bucket/a/..", "s3://bucket/a\\b",
        "s3://bucket/a\nb",
    };
    size_t i;

    (void)state;
    assert_int_equal(sf_s3_url_parse("s3://my-bucket.1/fleet/prod/", &u, &err), 0);
    assert_string_equal(u.bucket, "my-bucket.1");
    assert_string_equal(u.prefix, "fleet/prod");
    sf_s3_url_free(&u);
    assert_int_equal(sf_s3_url_parse("s3://bucket", &u, &err), 0);
    assert_string_equal(u.prefix, "");
    sf_s3_url_free(&u);
    assert_int_equal(sf_s3_url_parse("s3://bucket//x..y/.z", &u, &err), 0);
    assert_string_equal(u.prefix, "x..y/.z");
    sf_s3_url_free(&u);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        sf_error_clear(&err);
        assert_int_equal(sf_s3_url_parse(bad[i], &u, &err), SF_ERR);
        assert_string_equal(err.kind, "s3-url");
    }
    assert_true(sf_s3_url_is("s3://x"));
    assert_false(sf_s3_url_is("/tmp/x"));
    assert_false(sf_s3_url_is(NULL));
}

static void test_s3_credentials__parse(void **state)
{
    static const char text[] =
        "# comment\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key=SDEF\n"
        "\n[ ops ]\n  aws_access_key_id\t=  AKOPS  \n; note\naws_secret_access_key = S/OPS+=\n"
        "aws_session_token = TOK\nregion = x\n";
    char *a, *s, *t;
    sf_error err;

    (void)state;
    assert_int_equal(sf_s3_credentials_parse(text, sizeof text - 1, "ops", &a, &s, &t, &err), 0);
    assert_string_equal(a, "AKOPS");
    assert_string_equal(s, "S/OPS+=");
    assert_string_equal(t, "TOK");
    free(a), free(s), free(t);
    assert_int_equal(sf_s3_credentials_parse(text, sizeof text - 1, "default", &a, &s, &t,
                                             &err), 0);
    assert_string_equal(a, "AKDEFAULT");
    assert_string_equal(s, "SDEF");
    assert_null(t);
    free(a), free(s);
    assert_int_equal(sf_s3_credentials_parse(text, sizeof text - 1, "nope", &a, &s, &t, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "s3-config");
    assert_null(a);
    assert_int_equal(sf_s3_credentials_parse("[x\n", 3, "x", &a, &s, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-config");
}

static void clear_env(void)
{
    static const char *const names[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE",
        "AWS_SHARED_CREDENTIALS_FILE"};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        unsetenv(names[i]);
}

static void test_s3_config__environment(void **state)
{
    sf_s3_config c;
    sf_error err;

    (void)state;
    clear_env();
    setenv("AWS_ACCESS_KEY_ID", "AKID", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "very-secret", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    setenv("AWS_REGION", "eu-west-3", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), 0);
    assert_string_equal(c.endpoint, "https://s3.eu-west-3.amazonaws.com");
    assert_int_equal(c.addressing, SF_S3_ADDRESSING_VIRTUAL);
    assert_string_equal(c.access_key, "AKID");
    assert_string_equal(c.session_token, "tok");
    sf_s3_config_free(&c);
    /* Arguments win; a custom endpoint is path-style unless told. */
    setenv("AWS_ENDPOINT_URL", "https://env.example:9000/", 1);
    assert_int_equal(sf_s3_config_resolve(&c, "https://minio.example:9000", "r1",
                                          SF_S3_ADDRESSING_AUTO, &err), 0);
    assert_string_equal(c.endpoint, "https://minio.example:9000");
    assert_string_equal(c.region, "r1");
    assert_int_equal(c.addressing, SF_S3_ADDRESSING_PATH);
    sf_s3_config_free(&c);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_VIRTUAL, &err), 0);
    assert_string_equal(c.endpoint, "https://env.example:9000");
    assert_int_equal(c.addressing, SF_S3_ADDRESSING_VIRTUAL);
    sf_s3_config_free(&c);
    /* Plain http only to loopback; no paths; no user info. */
    assert_int_equal(sf_s3_config_resolve(&c, "http://127.0.0.1:9000", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), 0);
    sf_s3_config_free(&c);
    assert_int_equal(sf_s3_config_resolve(&c, "http://s3.localhost:9", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), 0);
    sf_s3_config_free(&c);
    assert_int_equal(sf_s3_config_resolve(&c, "http://storage.example", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-config");
    assert_non_null(strstr(err.message, "use https"));
    assert_int_equal(sf_s3_config_resolve(&c, "http://localhost.evil.example", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_int_equal(sf_s3_config_resolve(&c, "https://h/path", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_int_equal(sf_s3_config_resolve(&c, "https://u:p@h", NULL,
                                          SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_int_equal(sf_s3_config_resolve(&c, "ftp://h", NULL, SF_S3_ADDRESSING_AUTO, &err),
                     SF_ERR);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, "bad region", SF_S3_ADDRESSING_AUTO,
                                          &err), SF_ERR);
    assert_string_equal(err.field, "region");
    /* Half the pair is an error that names the variables, not the value. */
    unsetenv("AWS_ACCESS_KEY_ID");
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_non_null(strstr(err.message, "AWS_ACCESS_KEY_ID"));
    assert_null(strstr(err.message, "very-secret"));
    clear_env();
}

static void test_s3_config__credentials_file(void **state)
{
    char dir[] = "/tmp/sf-s3cfg-XXXXXX", path[64];
    sf_s3_config c;
    sf_error err;

    (void)state;
    clear_env();
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/credentials", dir);
    static const char text[] = "[default]\naws_access_key_id=AKD\naws_secret_access_key=SD\n"
                               "[ci]\naws_access_key_id=AKCI\naws_secret_access_key=SCI\n"
                               "[half]\naws_access_key_id=AKH\n";
    assert_int_equal(sf_fs_write_atomic(path, text, sizeof text - 1, NULL), 0);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), 0);
    assert_string_equal(c.access_key, "AKD");
    sf_s3_config_free(&c);
    setenv("AWS_PROFILE", "ci", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), 0);
    assert_string_equal(c.secret_key, "SCI");
    sf_s3_config_free(&c);
    setenv("AWS_PROFILE", "half", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_string_equal(err.field, "half");
    setenv("AWS_PROFILE", "missing", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_non_null(strstr(err.message, "[missing]"));
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_non_null(strstr(err.message, "/nonexistent/credentials"));
    /* HOME's ~/.aws/credentials when no file is named. */
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_PROFILE");
    setenv("HOME", "/nonexistent-home", 1);
    assert_int_equal(sf_s3_config_resolve(&c, NULL, NULL, SF_S3_ADDRESSING_AUTO, &err), SF_ERR);
    assert_non_null(strstr(err.message, "/nonexistent-home/.aws/credentials"));
    unlink(path);
    rmdir(dir);
    clear_env();
}

/* ---- against the local server ---- */

/* A call that must succeed: on failure its error is printed. */
#define OK(call)                                                          \
    do {                                                                  \
        if ((call) != 0)                                                  \
            fail_msg("%s: %s (%s)", #call, err.message,                   \
                     err.kind ? err.kind : "");                           \
    } while (0)


static sf_test_s3 server;
static int server_up;

static int group_setup(void **state)
{
    static const char *const buckets[] = {"bkt", NULL};

    (void)state;
    server_up = sf_test_s3_start(&server, buckets) == 0;
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    if (server_up)
        sf_test_s3_stop(&server);
    return 0;
}

static sf_s3 *client(const char *endpoint, const char *secret, sf_s3_addressing addressing)
{
    sf_s3_config c;
    sf_s3 *s3;
    sf_error err;

    clear_env();
    setenv("AWS_ACCESS_KEY_ID", SF_TEST_S3_ACCESS, 1);
    setenv("AWS_SECRET_ACCESS_KEY", secret, 1);
    OK(sf_s3_config_resolve(&c, endpoint, "us-east-1", addressing, &err));
    c.backoff_ms = 1;
    c.backoff_ms_max = 4;
    c.retries_max = 3;
    OK(sf_s3_open(&s3, &c, &err));
    sf_s3_config_free(&c);
    clear_env();
    return s3;
}

#define NEED_SERVER()       \
    do {                    \
        (void)state;        \
        if (!server_up)     \
            skip();         \
    } while (0)

static void test_s3_live__object_cycle(void **state)
{
    sf_s3 *s3;
    sf_buf got, etag;
    sf_error err;
    uint64_t size = 0;
    static const char body[] = "hello, object storage";
    listed l = {0};

    NEED_SERVER();
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    sf_buf_init(&got);
    sf_buf_init(&etag);
    OK(sf_s3_put(s3, "bkt", "cycle/a b+c.txt", body, sizeof body - 1, &err));
    OK(sf_s3_put(s3, "bkt", "cycle/empty", NULL, 0, &err));
    OK(sf_s3_get(s3, "bkt", "cycle/a b+c.txt", &got, &err));
    assert_string_equal(sf_buf_cstr(&got), body);
    OK(sf_s3_head(s3, "bkt", "cycle/a b+c.txt", &size, &etag, &err));
    assert_true(size == sizeof body - 1);
    assert_true(etag.len > 2);
    OK(sf_s3_list(s3, "bkt", "cycle/", collect, &l, &err));
    assert_int_equal(l.count, 2);
    assert_string_equal(l.keys[0], "cycle/a b+c.txt");
    OK(sf_s3_delete(s3, "bkt", "cycle/a b+c.txt", &err));
    sf_error_clear(&err);
    assert_int_equal(sf_s3_head(s3, "bkt", "cycle/a b+c.txt", &size, NULL, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-NoSuchKey");
    sf_buf_reset(&got);
    assert_int_equal(sf_s3_get(s3, "bkt", "cycle/a b+c.txt", &got, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-NoSuchKey");
    assert_non_null(strstr(err.message, "GET bkt/cycle/a b+c.txt: HTTP 404 NoSuchKey"));
    assert_int_equal(sf_s3_get(s3, "nobucket", "k", &got, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-NoSuchBucket");
    sf_buf_free(&got);
    sf_buf_free(&etag);
    sf_s3_close(s3);
}

static void test_s3_live__list_continuation(void **state)
{
    sf_s3 *s3;
    sf_error err;
    listed l = {0};
    char key[32];
    int i;
    uint64_t before;

    NEED_SERVER();
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    for (i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "pages/%02d", i);
        OK(sf_s3_put(s3, "bkt", key, key, strlen(key), &err));
    }
    sf_s3__set_list_page(s3, 2);
    before = sf_s3_requests(s3);
    OK(sf_s3_list(s3, "bkt", "pages/", collect, &l, &err));
    assert_int_equal(l.count, 7);
    assert_true(sf_s3_requests(s3) - before == 4);
    assert_string_equal(l.keys[6], "pages/06");
    assert_true(l.sizes[3] == 8);
    sf_s3_close(s3);
}

static void test_s3_live__multipart(void **state)
{
    sf_s3 *s3;
    sf_error err;
    char *id = NULL, *id2 = NULL;
    sf_s3_part parts[2];
    size_t big = 5u << 20;
    char *data = malloc(big + 100);
    sf_buf got;

    NEED_SERVER();
    assert_non_null(data);
    for (size_t i = 0; i < big + 100; i++)
        data[i] = (char)(i * 7 + i / 4096);
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    OK(sf_s3_multipart_create(s3, "bkt", "mp/object", &id, &err));
    parts[0].number = 1;
    parts[1].number = 2;
    OK(sf_s3_multipart_part(s3, "bkt", "mp/object", id, 1, data, big,
                                          parts[0].etag, &err));
    OK(sf_s3_multipart_part(s3, "bkt", "mp/object", id, 2, data + big, 100,
                                          parts[1].etag, &err));
    assert_int_equal(sf_s3_multipart_part(s3, "bkt", "mp/object", id, 0, data, 1,
                                          parts[1].etag, &err), SF_ERR);
    OK(sf_s3_multipart_complete(s3, "bkt", "mp/object", id, parts, 2, &err));
    sf_buf_init(&got);
    OK(sf_s3_get(s3, "bkt", "mp/object", &got, &err));
    assert_true(got.len == big + 100);
    assert_memory_equal(got.data, data, big + 100);
    /* s3rver has no AbortMultipartUpload: the request is the one S3
     * documents, and the server's refusal comes back with its code. */
    OK(sf_s3_multipart_create(s3, "bkt", "mp/aborted", &id2, &err));
    sf_error_clear(&err);
    assert_int_equal(sf_s3_multipart_abort(s3, "bkt", "mp/aborted", id2, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-error");
    assert_non_null(strstr(err.message, "DELETE bkt/mp/aborted?uploadId="));
    assert_non_null(strstr(err.message, "HTTP 405 MethodNotAllowed"));
    /* Completing an upload id that does not exist. */
    sf_error_clear(&err);
    assert_int_equal(sf_s3_multipart_complete(s3, "bkt", "mp/x", "no-such-upload", parts, 2,
                                              &err), SF_ERR);
    assert_true(strncmp(err.kind, "s3-", 3) == 0);
    free(id);
    free(id2);
    free(data);
    sf_buf_free(&got);
    sf_s3_close(s3);
}

static void test_s3_live__virtual_hosted(void **state)
{
    sf_s3 *s3;
    sf_error err;
    sf_buf got;
    char endpoint[64], *url;

    NEED_SERVER();
    snprintf(endpoint, sizeof endpoint, "http://s3.localhost:%d", server.port);
    s3 = client(endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_VIRTUAL);
    url = sf_s3_object_url(s3, "bkt", "v/k ey");
    assert_non_null(url);
    snprintf(endpoint, sizeof endpoint, "http://bkt.s3.localhost:%d/v/k%%20ey", server.port);
    assert_string_equal(url, endpoint);
    free(url);
    sf_buf_init(&got);
    OK(sf_s3_put(s3, "bkt", "v/k ey", "vh", 2, &err));
    OK(sf_s3_get(s3, "bkt", "v/k ey", &got, &err));
    assert_string_equal(sf_buf_cstr(&got), "vh");
    sf_buf_free(&got);
    sf_s3_close(s3);
}

static void test_s3_live__wrong_secret_refused(void **state)
{
    sf_s3 *s3;
    sf_error err;
    uint64_t before;

    NEED_SERVER();
    s3 = client(server.endpoint, "not-the-secret", SF_S3_ADDRESSING_PATH);
    before = sf_s3_requests(s3);
    assert_int_equal(sf_s3_put(s3, "bkt", "x", "y", 1, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-SignatureDoesNotMatch");
    assert_non_null(strstr(err.message, "HTTP 403"));
    assert_null(strstr(err.message, "not-the-secret"));
    assert_true(sf_s3_requests(s3) - before == 1); /* not retried */
    sf_s3_close(s3);
}

static void test_s3_live__retries(void **state)
{
    sf_s3 *s3;
    sf_error err;
    sf_buf got;
    uint64_t before;

    NEED_SERVER();
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    sf_buf_init(&got);
    OK(sf_s3_put(s3, "bkt", "retry", "r", 1, &err));
    /* Two 503s, then success. */
    sf_test_s3_faults(&server, 2, 503);
    before = sf_s3_requests(s3);
    OK(sf_s3_get(s3, "bkt", "retry", &got, &err));
    assert_true(sf_s3_requests(s3) - before == 3);
    /* A dropped connection and a 500: retried too. */
    sf_test_s3_faults(&server, 1, 0);
    OK(sf_s3_put(s3, "bkt", "retry2", "r", 1, &err));
    sf_test_s3_faults(&server, 1, 500);
    OK(sf_s3_delete(s3, "bkt", "retry2", &err));
    sf_test_s3_faults(&server, 1, 429);
    OK(sf_s3_head(s3, "bkt", "retry", NULL, NULL, &err));
    /* More failures than retries: the last error, with the count. */
    sf_test_s3_faults(&server, 10, 503);
    before = sf_s3_requests(s3);
    assert_int_equal(sf_s3_put(s3, "bkt", "retry3", "r", 1, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-SlowDown");
    assert_non_null(strstr(err.message, "after 4 tries"));
    assert_true(sf_s3_requests(s3) - before == 4);
    sf_test_s3_faults(&server, 0, 503);
    sf_buf_free(&got);
    sf_s3_close(s3);
}

static void test_s3_live__unreachable(void **state)
{
    sf_s3 *s3;
    sf_error err;

    (void)state;
    /* Port 1 on loopback: nothing listens; a transport error, retried. */
    s3 = client("http://127.0.0.1:1", SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    assert_int_equal(sf_s3_put(s3, "bkt", "x", "y", 1, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-transport");
    assert_non_null(strstr(err.message, "after 4 tries"));
    assert_true(sf_s3_requests(s3) == 4);
    sf_s3_close(s3);
}

typedef struct sink_state {
    sf_buf data;
    int resets;
    int fail;
} sink_state;

static int sink(void *payload, const void *data, size_t len)
{
    sink_state *s = payload;
    if (s->fail)
        return 1;
    return sf_buf_append(&s->data, data, len);
}

static void sink_reset(void *payload)
{
    sink_state *s = payload;
    sf_buf_reset(&s->data);
    s->resets++;
}

static void test_s3_live__get_stream(void **state)
{
    sf_s3 *s3;
    sf_error err;
    sink_state st = {0};

    NEED_SERVER();
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    sf_buf_init(&st.data);
    OK(sf_s3_put(s3, "bkt", "stream", "0123456789", 10, &err));
    sf_test_s3_faults(&server, 1, 503);
    OK(sf_s3_get_stream(s3, "bkt", "stream", sink, sink_reset, &st, &err));
    assert_string_equal(sf_buf_cstr(&st.data), "0123456789");
    assert_int_equal(st.resets, 1);
    st.fail = 1;
    sf_error_clear(&err);
    assert_int_equal(sf_s3_get_stream(s3, "bkt", "stream", sink, sink_reset, &st, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-aborted");
    /* An error reply never reaches the sink. */
    st.fail = 0;
    sf_buf_reset(&st.data);
    assert_int_equal(sf_s3_get_stream(s3, "bkt", "missing", sink, NULL, &st, &err), SF_ERR);
    assert_string_equal(err.kind, "s3-NoSuchKey");
    assert_int_equal(st.data.len, 0);
    sf_buf_free(&st.data);
    sf_s3_close(s3);
}

/* ---- several transfers at once (the pool) ---- */

typedef struct done_log {
    int calls, failed;
    char etag[8][80];
    char kind[8][48];
    char message[8][1024];
} done_log;

static void on_done(void *payload, int rc, const char *etag, sf_error *err)
{
    done_log *d = payload;

    if (d->calls < 8) {
        snprintf(d->etag[d->calls], sizeof d->etag[0], "%s", etag);
        snprintf(d->kind[d->calls], sizeof d->kind[0], "%s",
                 rc != 0 && err->kind ? err->kind : "");
        snprintf(d->message[d->calls], sizeof d->message[0], "%s", rc != 0 ? err->message : "");
    }
    d->calls++;
    d->failed += rc != 0;
}

static void drain(sf_s3_pool *p)
{
    sf_error err;

    while (sf_s3_pool_active(p) > 0)
        OK(sf_s3_pool_run(p, &err));
}

static void test_s3_pool__limits(void **state)
{
    sf_s3 *s3;
    sf_s3_pool *p;
    sf_error err;
    done_log d = {0};

    (void)state;
    s3 = client("http://127.0.0.1:1", SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    sf_error_clear(&err);
    assert_int_equal(sf_s3_pool_new(s3, 0, &p, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_null(p);
    assert_int_equal(sf_s3_pool_new(s3, SF_S3_JOBS_MAX + 1, &p, &err), SF_ERR);
    OK(sf_s3_pool_new(s3, 1, &p, &err));
    assert_false(sf_s3_pool_full(p));
    OK(sf_s3_pool_put(p, "bkt", "a", "x", 1, NULL, on_done, &d, &err));
    assert_true(sf_s3_pool_full(p));
    /* Full: refused, nothing started. */
    sf_error_clear(&err);
    assert_int_equal(sf_s3_pool_put(p, "bkt", "b", "x", 1, NULL, on_done, &d, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_s3_pool_part(p, "bkt", "b", "id", 0, "x", 1, NULL, on_done, &d, &err),
                     SF_ERR);
    /* Freed with a transfer in flight: aborted, no callback. */
    sf_s3_pool_free(p);
    sf_s3_pool_free(NULL);
    assert_int_equal(d.calls, 0);
    sf_s3_close(s3);
}

static void test_s3_pool__unreachable(void **state)
{
    sf_s3 *s3;
    sf_s3_pool *p;
    sf_error err;
    done_log d = {0};

    (void)state;
    /* Nothing listens: each transfer retried on its timer, then failed
     * with the count, through its callback. */
    s3 = client("http://127.0.0.1:1", SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    OK(sf_s3_pool_new(s3, 2, &p, &err));
    OK(sf_s3_pool_put(p, "bkt", "a", "x", 1, NULL, on_done, &d, &err));
    OK(sf_s3_pool_put(p, "bkt", "b", "y", 1, NULL, on_done, &d, &err));
    drain(p);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.failed, 2);
    assert_string_equal(d.kind[0], "s3-transport");
    assert_non_null(strstr(d.message[0], "after 4 tries"));
    assert_true(sf_s3_requests(s3) == 8);
    OK(sf_s3_pool_run(p, &err)); /* nothing left: returns at once */
    sf_s3_pool_free(p);
    sf_s3_close(s3);
}

static void test_s3_live__pool(void **state)
{
    static const char sha_abc[] =
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    sf_s3 *s3;
    sf_s3_pool *p;
    sf_error err;
    done_log d = {0}, dc = {0};
    sink_state st = {0};
    sf_buf got;
    char *id = NULL;
    sf_s3_part parts[2];
    static char big[5u << 20];
    uint64_t before;

    NEED_SERVER();
    s3 = client(server.endpoint, SF_TEST_S3_SECRET, SF_S3_ADDRESSING_PATH);
    sf_buf_init(&got);
    sf_buf_init(&st.data);
    OK(sf_s3_pool_new(s3, 4, &p, &err));
    /* Whole objects, one with its SHA-256 given (not hashed again). */
    OK(sf_s3_pool_put(p, "bkt", "pool/a", "abc", 3, sha_abc, on_done, &d, &err));
    OK(sf_s3_pool_put(p, "bkt", "pool/b", "bcd", 3, NULL, on_done, &d, &err));
    /* A payload hash that is not the body's: the server refuses it. */
    OK(sf_s3_pool_put(p, "bkt", "pool/c", "abd", 3, sha_abc, on_done, &dc, &err));
    drain(p);
    assert_int_equal(d.calls, 2);
    assert_int_equal(d.failed, 0);
    assert_int_equal(dc.failed, 1);
    assert_string_equal(dc.kind[0], "s3-XAmzContentSHA256Mismatch");
    assert_non_null(strstr(dc.message[0], "PUT bkt/pool/c"));
    OK(sf_s3_get(s3, "bkt", "pool/a", &got, &err));
    assert_string_equal(sf_buf_cstr(&got), "abc");
    /* Parts of one upload at once, through a 503 (retried on its timer). */
    memset(big, 'p', sizeof big);
    OK(sf_s3_multipart_create(s3, "bkt", "pool/mp", &id, &err));
    memset(&d, 0, sizeof d);
    sf_test_s3_faults(&server, 1, 503);
    before = sf_s3_requests(s3);
    OK(sf_s3_pool_part(p, "bkt", "pool/mp", id, 1, big, sizeof big, NULL, on_done, &d, &err));
    OK(sf_s3_pool_part(p, "bkt", "pool/mp", id, 2, "tail", 4, NULL, on_done, &d, &err));
    assert_int_equal(sf_s3_pool_active(p), 2);
    drain(p);
    assert_int_equal(d.failed, 0);
    assert_true(sf_s3_requests(s3) - before == 3);
    /* The callbacks came in the order the parts finished. */
    parts[0].number = 1;
    parts[1].number = 2;
    snprintf(parts[0].etag, sizeof parts[0].etag, "%s", d.etag[0]);
    snprintf(parts[1].etag, sizeof parts[1].etag, "%s", d.etag[1]);
    if (sf_s3_multipart_complete(s3, "bkt", "pool/mp", id, parts, 2, &err) != 0) {
        snprintf(parts[0].etag, sizeof parts[0].etag, "%s", d.etag[1]);
        snprintf(parts[1].etag, sizeof parts[1].etag, "%s", d.etag[0]);
        OK(sf_s3_multipart_complete(s3, "bkt", "pool/mp", id, parts, 2, &err));
    }
    free(id);
    /* A stream through a 503: reset, then whole. */
    memset(&d, 0, sizeof d);
    sf_test_s3_faults(&server, 1, 503);
    OK(sf_s3_pool_get(p, "bkt", "pool/b", sink, sink_reset, &st, on_done, &d, &err));
    drain(p);
    assert_int_equal(d.failed, 0);
    assert_string_equal(sf_buf_cstr(&st.data), "bcd");
    assert_int_equal(st.resets, 1);
    /* A sink that stops, and a missing object: each its own failure. */
    st.fail = 1;
    memset(&d, 0, sizeof d);
    memset(&dc, 0, sizeof dc);
    OK(sf_s3_pool_get(p, "bkt", "pool/b", sink, sink_reset, &st, on_done, &d, &err));
    OK(sf_s3_pool_get(p, "bkt", "pool/none", sink, NULL, &st, on_done, &dc, &err));
    drain(p);
    assert_int_equal(d.failed + dc.failed, 2);
    assert_string_equal(d.kind[0], "s3-aborted");
    assert_string_equal(dc.kind[0], "s3-NoSuchKey");
    sf_s3_pool_free(p);
    sf_buf_free(&got);
    sf_buf_free(&st.data);
    sf_s3_close(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_xml__error),
        cmocka_unit_test(test_s3_xml__list),
        cmocka_unit_test(test_s3_xml__list_refused),
        cmocka_unit_test(test_s3_xml__child_text),
        cmocka_unit_test(test_s3_xml__no_entities_no_network),
        cmocka_unit_test(test_s3_url__parse),
        cmocka_unit_test(test_s3_credentials__parse),
        cmocka_unit_test(test_s3_config__environment),
        cmocka_unit_test(test_s3_config__credentials_file),
        cmocka_unit_test(test_s3_live__object_cycle),
        cmocka_unit_test(test_s3_live__list_continuation),
        cmocka_unit_test(test_s3_live__multipart),
        cmocka_unit_test(test_s3_live__virtual_hosted),
        cmocka_unit_test(test_s3_live__wrong_secret_refused),
        cmocka_unit_test(test_s3_live__retries),
        cmocka_unit_test(test_s3_live__unreachable),
        cmocka_unit_test(test_s3_live__get_stream),
        cmocka_unit_test(test_s3_pool__limits),
        cmocka_unit_test(test_s3_pool__unreachable),
        cmocka_unit_test(test_s3_live__pool),
    };
    return cmocka_run_group_tests_name("s3", tests, group_setup, group_teardown);
}
