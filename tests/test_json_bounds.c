/* The JSON reader's memory bound: a document within the 64 MiB size limit
 * is refused or accepted within bounded memory, never mislabelled. The
 * bounded cases run in a child under a 1 GiB address-space limit
 * (RLIMIT_AS) when the build is not sanitized (ASan reserves terabytes of
 * address space, so there they run without the limit). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/journal.h"
#include "snapfleet/json.h"
#include "snapfleet/manifest.h"

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

#define GIB ((rlim_t)1 << 30)

/* {"manifest_version":1,"x":[V,V,...]} with `count` copies of the literal
 * `item`: valid JSON with one unknown field holding the bulk, and
 * count + 3 values in all. */
static char *padded(const char *item, size_t count, size_t *len)
{
    static const char head[] = "{\"manifest_version\":1,\"x\":[";
    size_t n = strlen(item), pos, i;
    char *s = malloc(sizeof head + count * (n + 1) + 4);

    assert_non_null(s);
    memcpy(s, head, sizeof head - 1);
    pos = sizeof head - 1;
    for (i = 0; i < count; i++) {
        if (i > 0)
            s[pos++] = ',';
        memcpy(s + pos, item, n);
        pos += n;
    }
    memcpy(s + pos, "]}", 3);
    *len = pos + 2;
    return s;
}

#define ZEROS_60MIB (((size_t)60 << 20) / 2) /* "0," fills 60 MiB */

typedef int (*child_fn)(void);

/* Runs fn in a child limited to `limit` bytes of address space (no limit
 * when sanitized); returns its exit status, or 128 + signal. */
static int in_child(child_fn fn, rlim_t limit)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        if (!SANITIZED && limit != 0) {
            struct rlimit rl = {limit, limit};
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(90);
        }
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* Exit codes from the children: 0 accepted, 10 refused as too large,
 * 11 refused as out of memory; anything else is a failure (12 a wrong
 * kind, which is what a mislabelled refusal looks like). */
static int classify(int rc, const sf_error *err)
{
    if (rc == SF_OK)
        return 0;
    if (strcmp(err->kind, SF_EK_JSON_TOO_LARGE) == 0)
        return 10;
    if (strcmp(err->kind, SF_EK_NOMEM) == 0)
        return 11;
    fprintf(stderr, "refused as %s: %s\n", err->kind, err->message);
    return 12;
}

/* 60 MiB of "0," under an unknown field: 31 million values. */
static int zeros_json(void)
{
    size_t len;
    char *s = padded("0", ZEROS_60MIB, &len);
    cJSON *root = NULL;
    sf_error err;
    int rc;

    sf_error_clear(&err);
    rc = sf_json_parse(s, len, &root, &err);
    cJSON_Delete(root);
    free(s);
    return classify(rc, &err);
}

static int zeros_manifest(void)
{
    size_t len;
    char *s = padded("0", ZEROS_60MIB, &len);
    sf_manifest m;
    sf_error err;
    int rc;

    sf_error_clear(&err);
    rc = sf_manifest_parse(s, len, &m, &err);
    if (rc == SF_OK)
        sf_manifest_free(&m);
    free(s);
    return classify(rc, &err);
}

static int zeros_journal(void)
{
    size_t len;
    char *s = padded("0", ZEROS_60MIB, &len);
    sf_download_journal j;
    sf_error err;
    int rc;

    sf_error_clear(&err);
    rc = sf_download_journal_parse(s, len, &j, &err);
    if (rc == SF_OK)
        sf_download_journal_free(&j);
    free(s);
    return classify(rc, &err);
}

/* The largest tree the bound lets through: SF_JSON_MAX_VALUES values (28
 * digits each, about 60 MiB of text) must be built within 1 GiB. */
static int largest_accepted(void)
{
    size_t len;
    char *s = padded("1234567890123456789012345678", SF_JSON_MAX_VALUES - 3,
                     &len);
    cJSON *root = NULL;
    sf_error err;
    int rc;

    sf_error_clear(&err);
    rc = sf_json_parse(s, len, &root, &err);
    cJSON_Delete(root);
    free(s);
    return classify(rc, &err);
}

/* One value past the bound is refused before any tree is built. */
static int one_past(void)
{
    size_t len;
    char *s = padded("0", SF_JSON_MAX_VALUES - 2, &len);
    cJSON *root = NULL;
    sf_error err;
    int rc;

    sf_error_clear(&err);
    rc = sf_json_parse(s, len, &root, &err);
    cJSON_Delete(root);
    free(s);
    if (rc == SF_OK || strstr(err.message, "values") == NULL)
        return 13;
    return classify(rc, &err);
}

/* The address space in use now, from /proc/self/statm (pages). */
static rlim_t vm_now(void)
{
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");

    if (f == NULL)
        return 0;
    if (fscanf(f, "%lu", &pages) != 1)
        pages = 0;
    fclose(f);
    return (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
}

/* A tree that cannot be allocated is reported as out-of-memory (it used
 * to be "json-syntax: document could not be parsed"). */
static int tree_oom(void)
{
    size_t len;
    char *s = padded("0", (size_t)1500 << 10, &len); /* 1.5 M values */
    cJSON *root = NULL;
    sf_error err;
    struct rlimit rl;
    int rc;

    /* room for the text and the validator, not for ~150 MiB of nodes */
    rl.rlim_cur = rl.rlim_max = vm_now() + ((rlim_t)40 << 20);
    if (setrlimit(RLIMIT_AS, &rl) != 0)
        return 90;
    sf_error_clear(&err);
    rc = sf_json_parse(s, len, &root, &err);
    cJSON_Delete(root);
    free(s);
    return classify(rc, &err);
}

static void test_padded_document_refused_as_too_large(void **state)
{
    (void)state;
    assert_int_equal(in_child(zeros_json, GIB), 10);
    assert_int_equal(in_child(zeros_manifest, GIB), 10);
    assert_int_equal(in_child(zeros_journal, GIB), 10);
}

static void test_bound_is_exact(void **state)
{
    (void)state;
    assert_int_equal(in_child(one_past, GIB), 10);
}

static void test_largest_accepted_fits_in_a_gib(void **state)
{
    (void)state;
    assert_int_equal(in_child(largest_accepted, GIB), 0);
}

static void test_tree_allocation_failure_is_out_of_memory(void **state)
{
    (void)state;
    if (SANITIZED)
        skip(); /* an address-space limit cannot be set under ASan */
    assert_int_equal(in_child(tree_oom, 0), 11);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_padded_document_refused_as_too_large),
        cmocka_unit_test(test_bound_is_exact),
        cmocka_unit_test(test_largest_accepted_fits_in_a_gib),
        cmocka_unit_test(test_tree_allocation_failure_is_out_of_memory),
    };
    return cmocka_run_group_tests_name("json_bounds", tests, NULL, NULL);
}
