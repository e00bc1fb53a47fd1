/* The runners' indexes when memory runs out (tests/support/oom.h): the
 * execution journal's index (sf_exec_journal_index) built, rebuilt by the
 * preflight's acceptance and caught up by a snapshot lookup, with each of
 * their allocations made to fail in turn. Each run either gives an index
 * that answers as the scans do, or fails with kind "out-of-memory" leaving
 * the journal as it was (and its index, if it had one, still right), or
 * (a lookup, which cannot fail) answers by the scan. Nothing leaks
 * (ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"
#include "snapfleet/buf.h"
#include "snapfleet/execjournal.h"

typedef struct ej_ctx {
    const char *file;
    sf_exec_journal j;
    char *before; /* the journal's JSON after prep */
    bool indexed; /* prep indexes it */
    bool wrong;   /* a lookup answered otherwise than the scan */
} ej_ctx;

static char *json_of(const sf_exec_journal *j)
{
    sf_buf b;
    sf_error err;

    sf_buf_init(&b);
    if (sf_exec_journal_write_json(j, &b, &err) != SF_OK)
        fail_msg("write: %s", err.message);
    return sf_buf_detach(&b);
}

static void ej_prep(void *ctx)
{
    ej_ctx *c = ctx;
    const char *data = getenv("SF_TEST_DATA");
    char path[1024];
    sf_error err;

    assert_non_null(data);
    snprintf(path, sizeof path, "%s/execjournals/%s", data, c->file);
    if (sf_exec_journal_read_file(path, &c->j, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
    if (c->indexed && sf_exec_journal_index(&c->j, &err) != SF_OK)
        fail_msg("index: %s", err.message);
    c->before = json_of(&c->j);
    c->wrong = false;
}

static void ej_cleanup(void *ctx)
{
    ej_ctx *c = ctx;

    sf_exec_journal_free(&c->j);
    free(c->before);
    c->before = NULL;
}

static void unchanged(void *ctx, const sf_error *err)
{
    ej_ctx *c = ctx;
    char *now = json_of(&c->j);

    (void)err;
    assert_string_equal(now, c->before);
    free(now);
    assert_int_equal(sf_exec_journal_has_index(&c->j), c->indexed);
    assert_true(sf_exec_journal_index_consistent(&c->j));
}

static int build(void *ctx, sf_error *err)
{
    return sf_exec_journal_index(&((ej_ctx *)ctx)->j, err);
}

static void built(void *ctx)
{
    ej_ctx *c = ctx;

    assert_true(sf_exec_journal_has_index(&c->j));
    assert_true(sf_exec_journal_index_consistent(&c->j));
}

static void test_build(void **state)
{
    static const char *const files[] = {
        "valid-fresh-subtree.json", "valid-accepted.json",
        "valid-complete.json", "valid-retried.json",
        "valid-running-snapshot-pending.json",
        "valid-failed-restart-required.json"};
    sf_oom_case oc = {"index", ej_prep, build, built, unchanged, ej_cleanup};

    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        ej_ctx c = {files[i], {0}, NULL, false, false};

        oc.name = files[i];
        assert_true(sf_oom_sweep(&oc, &c, false) >= 2);
    }
}

static int accept(void *ctx, sf_error *err)
{
    return sf_exec_journal_accept_preflight_at(&((ej_ctx *)ctx)->j, "pf-1",
                                               "unix:1", err);
}

static void accepted(void *ctx)
{
    ej_ctx *c = ctx;

    assert_true(c->j.preflight_accepted);
    built(ctx);
}

static void test_accept_rebuilds(void **state)
{
    ej_ctx c = {"valid-fresh-subtree.json", {0}, NULL, true, false};
    sf_oom_case oc = {"accept", ej_prep, accept, accepted, unchanged,
                      ej_cleanup};

    (void)state;
    assert_true(sf_oom_sweep(&oc, &c, false) >= 3);
}

static int lookups(void *ctx, sf_error *err)
{
    ej_ctx *c = ctx;
    sf_exec_journal plain = c->j;

    (void)err;
    plain.index = NULL;
    for (size_t i = 0; i < c->j.receipt_count; i++) {
        const char *id = c->j.operation_receipts[i].target_canister_id;

        if (sf_exec_journal_latest_snapshot(&c->j, id) !=
            sf_exec_journal_latest_snapshot(&plain, id))
            c->wrong = true;
    }
    return SF_OK;
}

static void answered(void *ctx)
{
    ej_ctx *c = ctx;

    assert_false(c->wrong);
    assert_true(sf_exec_journal_index_consistent(&c->j));
}

static void test_latest_snapshot(void **state)
{
    ej_ctx c = {"valid-complete.json", {0}, NULL, true, false};
    sf_oom_case oc = {"latest", ej_prep, lookups, answered, NULL, ej_cleanup};

    (void)state;
    assert_true(sf_oom_sweep(&oc, &c, false) >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_accept_rebuilds),
        cmocka_unit_test(test_latest_snapshot),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
