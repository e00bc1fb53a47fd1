/* The runners' indexes when memory runs out (tests/support/oom.h): the
 * execution journal's index (sf_exec_journal_index) built, rebuilt by the
 * preflight's acceptance and caught up by a snapshot lookup, and the
 * observations' and the download journal's indexes kept by appends, with
 * each of their allocations made to fail in turn. Each run either gives an index
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
#include "engine/observations.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/principal.h"

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

#define MANY 40

typedef struct grow_ctx {
    sf_observations o;
    sf_download_journal dj;
} grow_ctx;

static void id_of(size_t i, char *out, size_t n)
{
    /* a principal of 10 bytes, as a canister id: i in its bytes */
    uint8_t bytes[10] = {0, 0, 0, 0, 0, 0xa0, 0, 0, 0x01, 0x01};
    char text[SF_PRINCIPAL_TEXT_MAX];

    bytes[6] = (uint8_t)(i >> 8);
    bytes[7] = (uint8_t)i;
    if (sf_principal_text_from_bytes(bytes, sizeof bytes, text, NULL) != SF_OK)
        fail_msg("principal %zu", i);
    snprintf(out, n, "%s", text);
}

static void grow_prep(void *ctx)
{
    grow_ctx *g = ctx;

    memset(&g->o, 0, sizeof g->o);
    sf_download_journal_init(&g->dj);
    g->dj.backup_id = strdup("backup-1");
    assert_non_null(g->dj.backup_id);
}

static void grow_cleanup(void *ctx)
{
    grow_ctx *g = ctx;

    sf_obs_free(&g->o);
    sf_download_journal_free(&g->dj);
}

/* Every lookup, present or not, answers as the scan does. */
static void found_as_scanned(void *ctx)
{
    grow_ctx *g = ctx;
    char id[SF_PRINCIPAL_TEXT_MAX];

    for (size_t i = 0; i < MANY + 2; i++) {
        sf_obs_canister *want = NULL;
        sf_journal_artifact *art = NULL;

        id_of(i, id, sizeof id);
        for (size_t k = 0; k < g->o.count && want == NULL; k++)
            if (strcmp(g->o.canisters[k].canister_id, id) == 0)
                want = &g->o.canisters[k];
        assert_ptr_equal(sf_obs_find(&g->o, id), want);
        for (size_t k = 0; k < g->dj.artifact_count && art == NULL; k++)
            if (strcmp(g->dj.artifacts[k].canister_id, id) == 0 &&
                strcmp(g->dj.artifacts[k].snapshot_id, "01") == 0)
                art = &g->dj.artifacts[k];
        assert_ptr_equal(sf_download_journal_find(&g->dj, id, "01"), art);
    }
}

static void grown(void *ctx)
{
    grow_ctx *g = ctx;

    assert_int_equal(g->o.count, MANY);
    assert_int_equal(g->dj.artifact_count, MANY);
    found_as_scanned(ctx);
}

static void partly_grown(void *ctx, const sf_error *err)
{
    (void)err;
    found_as_scanned(ctx);
}

static int grow(void *ctx, sf_error *err)
{
    grow_ctx *g = ctx;
    sf_journal_artifact a;
    char id[SF_PRINCIPAL_TEXT_MAX];

    memset(&a, 0, sizeof a);
    a.state = SF_ARTIFACT_CREATED;
    a.snapshot_id = (char *)"01";
    a.artifact_path = (char *)"p";
    a.checksum_algorithm = (char *)"sha256";
    a.updated_at = (char *)"unix:1";
    for (size_t i = 0; i < MANY; i++) {
        id_of(i, id, sizeof id);
        if (sf_obs_get(&g->o, id) == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        a.canister_id = id;
        if (sf_download_journal_append(&g->dj, &a, err) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

static void test_appends(void **state)
{
    grow_ctx g;
    sf_oom_case oc = {"appends", grow_prep, grow, grown, partly_grown,
                      grow_cleanup};

    (void)state;
    assert_true(sf_oom_sweep(&oc, &g, false) > MANY);
}

static int reparse(void *ctx, sf_error *err)
{
    grow_ctx *g = ctx;
    sf_buf b;
    int rc;

    sf_buf_init(&b);
    sf_oom_suspend();
    rc = sf_obs_write_json(&g->o, &b, err);
    sf_oom_resume();
    assert_int_equal(rc, SF_OK);
    sf_obs_free(&g->o);
    rc = sf_obs_parse(b.data, b.len, &g->o, err);
    sf_buf_reset(&b);
    if (rc == SF_OK) {
        sf_oom_suspend();
        rc = sf_download_journal_write_json_part(&g->dj, &b, err);
        sf_oom_resume();
        assert_int_equal(rc, SF_OK);
        sf_download_journal_free(&g->dj);
        rc = sf_download_journal_parse(b.data, b.len, &g->dj, err);
    }
    sf_buf_free(&b);
    return rc;
}

/* A parse whose index cannot be built still reads the document; lookups
 * then scan. */
static void grown_prep(void *ctx)
{
    sf_error err;

    grow_prep(ctx);
    if (grow(ctx, &err) != SF_OK)
        fail_msg("growth: %s", err.message);
}

static void test_parses(void **state)
{
    grow_ctx g;
    sf_oom_case oc = {"parses", grown_prep, reparse, grown, partly_grown,
                      grow_cleanup};

    (void)state;
    assert_true(sf_oom_sweep(&oc, &g, false) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_accept_rebuilds),
        cmocka_unit_test(test_latest_snapshot),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_parses),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
