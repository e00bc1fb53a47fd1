/*
 * The S3 pool when libcurl's multi interface itself fails. This program is
 * linked with --wrap=curl_multi_perform,--wrap=curl_multi_poll (see
 * CMakeLists.txt), so each can be made to fail on demand: every transfer
 * still in the pool must then end through its callback (its owner frees
 * what it lent the transfer: a push's part buffers), none may be left in
 * flight, and the pool stays usable to free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "remote/s3_internal.h"
#include "snapfleet/s3.h"

#define OK(call) assert_int_equal((call), 0)

/* What the wrapped calls do: pass through, fail, or (perform) report
 * everything still running without doing anything. */
typedef enum { PASS, FAIL, IDLE } mode;
static mode perform_mode = PASS, poll_mode = PASS;
static int perform_calls, poll_calls;

CURLMcode __real_curl_multi_perform(CURLM *m, int *running);
CURLMcode __real_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned n, int ms,
                                 int *ret);

CURLMcode __wrap_curl_multi_perform(CURLM *m, int *running)
{
    perform_calls++;
    if (perform_mode == FAIL)
        return CURLM_INTERNAL_ERROR;
    if (perform_mode == IDLE) {
        *running = 1;
        return CURLM_OK;
    }
    return __real_curl_multi_perform(m, running);
}

CURLMcode __wrap_curl_multi_poll(CURLM *m, struct curl_waitfd extra[], unsigned n, int ms,
                                 int *ret)
{
    poll_calls++;
    if (poll_mode == FAIL)
        return CURLM_OUT_OF_MEMORY;
    return __real_curl_multi_poll(m, extra, n, ms, ret);
}

/* A transfer's owner: the body it lends, freed by the callback (as a
 * push frees a part's buffer), and what the callback was told. */
typedef struct owner {
    char *body;
    int calls;
    int rc;
    char kind[48];
} owner;

static void on_done(void *payload, int rc, const char *etag, sf_error *err)
{
    owner *o = payload;

    (void)etag;
    o->calls++;
    o->rc = rc;
    snprintf(o->kind, sizeof o->kind, "%s", rc != 0 && err->kind ? err->kind : "");
    free(o->body);
    o->body = NULL;
}

static sf_s3 *client(void)
{
    sf_s3_config c;
    sf_s3 *s3;
    sf_error err;

    setenv("AWS_ACCESS_KEY_ID", "snapfleet-test", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "snapfleet-test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    /* nothing listens there, and with the wrapped calls nothing is sent */
    OK(sf_s3_config_resolve(&c, "http://127.0.0.1:1", "us-east-1", SF_S3_ADDRESSING_PATH,
                            &err));
    c.backoff_ms = 1;
    c.backoff_ms_max = 4;
    c.retries_max = 3;
    OK(sf_s3_open(&s3, &c, &err));
    sf_s3_config_free(&c);
    return s3;
}

/* Three transfers (two PUTs and a part) lent a malloc'd body each. */
static void start_three(sf_s3_pool *p, owner o[3])
{
    static const char *const keys[3] = {"a", "b", "c"};
    sf_error err;
    int i;

    for (i = 0; i < 3; i++) {
        memset(&o[i], 0, sizeof o[i]);
        o[i].body = strdup("payload");
        assert_non_null(o[i].body);
        if (i < 2)
            OK(sf_s3_pool_put(p, "bkt", keys[i], o[i].body, 7, NULL, on_done, &o[i], &err));
        else
            OK(sf_s3_pool_part(p, "bkt", keys[i], "upload-1", 1, o[i].body, 7, NULL, on_done,
                               &o[i], &err));
    }
    assert_int_equal(sf_s3_pool_active(p), 3);
}

static void assert_all_failed(const sf_s3_pool *p, const owner o[3], const sf_error *err)
{
    int i;

    assert_string_equal(err->kind, "s3-transport");
    assert_non_null(strstr(err->message, "multi interface failed"));
    assert_int_equal(sf_s3_pool_active(p), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(o[i].calls, 1);
        assert_int_equal(o[i].rc, SF_ERR);
        assert_string_equal(o[i].kind, "s3-transport");
        assert_null(o[i].body); /* its owner took it back */
    }
}

static void test_perform_fails(void **state)
{
    sf_s3 *s3 = client();
    sf_s3_pool *p;
    sf_error err;
    owner o[3];

    (void)state;
    OK(sf_s3_pool_new(s3, 4, &p, &err));
    start_three(p, o);
    perform_mode = FAIL;
    perform_calls = 0;
    sf_error_clear(&err);
    assert_int_equal(sf_s3_pool_run(p, &err), SF_ERR);
    assert_int_equal(perform_calls, 1);
    assert_all_failed(p, o, &err);
    /* nothing left: the next run returns at once, libcurl not asked */
    OK(sf_s3_pool_run(p, &err));
    assert_int_equal(perform_calls, 1);
    perform_mode = PASS;
    sf_s3_pool_free(p);
    sf_s3_close(s3);
}

static void test_poll_fails(void **state)
{
    sf_s3 *s3 = client();
    sf_s3_pool *p;
    sf_error err;
    owner o[3];

    (void)state;
    OK(sf_s3_pool_new(s3, 4, &p, &err));
    start_three(p, o);
    perform_mode = IDLE; /* all still running: the pool waits in poll */
    poll_mode = FAIL;
    poll_calls = 0;
    sf_error_clear(&err);
    assert_int_equal(sf_s3_pool_run(p, &err), SF_ERR);
    assert_int_equal(poll_calls, 1);
    assert_all_failed(p, o, &err);
    perform_mode = PASS;
    poll_mode = PASS;
    sf_s3_pool_free(p);
    sf_s3_close(s3);
}

/* A NULL err is allowed: the callbacks are still told. */
static void test_null_error(void **state)
{
    sf_s3 *s3 = client();
    sf_s3_pool *p;
    sf_error err;
    owner o[3];
    int i;

    (void)state;
    OK(sf_s3_pool_new(s3, 4, &p, &err));
    start_three(p, o);
    perform_mode = FAIL;
    assert_int_equal(sf_s3_pool_run(p, NULL), SF_ERR);
    perform_mode = PASS;
    assert_int_equal(sf_s3_pool_active(p), 0);
    for (i = 0; i < 3; i++)
        assert_int_equal(o[i].calls, 1);
    sf_s3_pool_free(p);
    sf_s3_close(s3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_perform_fails),
        cmocka_unit_test(test_poll_fails),
        cmocka_unit_test(test_null_error),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
