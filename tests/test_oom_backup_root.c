/* The backup root when memory runs out (tests/support/oom.h): `backup
 * list` (the scan, with and without verifying, the JSON and the table),
 * `backup inspect`, `backup prune` (dry run and real) and on-canister
 * retention, each with every allocation made to fail in turn. Each run
 * either succeeds with the same result as without a failure, or fails
 * with kind "out-of-memory", leaks nothing, and leaves the root as it
 * was, or, for a real prune, as a state the next prune finishes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "engine/engine.h"
#include "oom.h"
#include "sim_fixture.h"
#include "snapfleet/buf.h"
#include "snapfleet/inventory.h"
#include "snapfleet/layout.h"

typedef struct world {
    sf_fx f;
    char root[1100];     /* the backups, as made once */
    char work[1100];     /* a copy a destructive run may change */
    char listing[4096];  /* the root's names and states, as made */
} world;

static const char *bdir(const char *root, const char *name)
{
    static char p[4][1200];
    static int k;

    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", root, name);
    return p[k];
}

static int backup(world *w, const char *name, uint64_t max_steps, bool dry_run,
                  const char *faults)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    if (faults != NULL) {
        sf_fx_unstack(&w->f);
        sf_fx_stack(&w->f, faults, false);
    }
    sf_fx_backup_config(&c, &w->f, bdir(w->root, name));
    c.max_steps = max_steps;
    c.dry_run = dry_run;
    c.keep_on_canister = 3;
    rc = sf_fx_backup(&w->f, &c, &r, &err);
    sf_backup_result_free(&r);
    if (faults != NULL) {
        sf_fx_unstack(&w->f);
        sf_fx_stack(&w->f, NULL, false);
    }
    sf_clock_sleep_ms(&w->f.clock, 60000); /* distinct run ids */
    return rc;
}

/* The names under root with the state a scan gives each, one a line, in
 * the scan's order; trash entries last. */
static void listing(const char *root, char *out, size_t n)
{
    sf_inventory inv;
    sf_error err;
    size_t i, used = 0;

    if (sf_inventory_scan(root, false, &inv, &err) != SF_OK)
        fail_msg("scan %s: %s", root, err.message);
    out[0] = '\0';
    for (i = 0; i < inv.count; i++)
        used += (size_t)snprintf(out + used, n - used, "%s %s\n",
                                 inv.entries[i].name,
                                 sf_backup_state_name(inv.entries[i].state));
    for (i = 0; i < inv.trash_count; i++)
        used += (size_t)snprintf(out + used, n - used, "trash %s\n",
                                 inv.trash[i]);
    sf_inventory_free(&inv);
}

/* Fails showing where two texts part, when they do. */
static void assert_same_text(const char *got, const char *want)
{
    size_t i = 0, from;

    while (got[i] != '\0' && got[i] == want[i])
        i++;
    if (got[i] == want[i])
        return;
    from = i > 120 ? i - 120 : 0;
    fail_msg("texts differ at byte %zu:\n--- got: ...%.240s\n--- want: "
             "...%.240s", i, got + from, want + from);
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);

    if (w == NULL)
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sf_fx_teardown(&w->f);
    free(w);
    return 0;
}

/* Three complete backups, one paused, one failed, one dry run. */
static void make_world(world *w)
{
    sf_sim_config cfg;

    sf_fx_setup(&w->f, "oom-root");
    sf_fx_config(&cfg, 5, 3);
    cfg.snapshot_limit = 10;
    sf_fx_start(&w->f, &cfg);
    sf_fx_stack(&w->f, NULL, false);
    snprintf(w->root, sizeof w->root, "%s/backups", w->f.dir);
    snprintf(w->work, sizeof w->work, "%s/work", w->f.dir);
    assert_int_equal(backup(w, "b1", 0, false, NULL), SF_OK);
    assert_int_equal(backup(w, "b2", 0, false, NULL), SF_OK);
    assert_int_equal(backup(w, "f3", 0, false, "download:*:1=permanent"),
                     SF_ERR);
    assert_int_equal(backup(w, "b4", 0, false, NULL), SF_OK);
    assert_int_equal(backup(w, "p5", 3, false, NULL), SF_OK);
    assert_int_equal(backup(w, "d6", 0, true, NULL), SF_OK);
    listing(w->root, w->listing, sizeof w->listing);
}

static void copy_root(world *w)
{
    char cmd[4096];

    snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", w->work,
             w->root, w->work);
    assert_int_equal(system(cmd), 0);
}

static void assert_root_unchanged(world *w)
{
    char now[4096];

    listing(w->root, now, sizeof now);
    assert_same_text(now, w->listing);
}

/* ---- backup list ---- */

typedef struct list_ctx {
    world *w;
    bool verify;
    sf_inventory inv;
    sf_buf json, table;
    char want_json[65536];
} list_ctx;

static int list_body(void *ctx, sf_error *err)
{
    list_ctx *l = ctx;

    sf_buf_init(&l->json);
    sf_buf_init(&l->table);
    if (sf_inventory_scan(l->w->root, l->verify, &l->inv, err) != SF_OK)
        return SF_ERR;
    if (sf_inventory_json(&l->inv, &l->json, err) != SF_OK)
        return SF_ERR;
    return sf_inventory_table(&l->inv, &l->table, err);
}

static void list_check_ok(void *ctx)
{
    list_ctx *l = ctx;

    assert_int_equal(l->inv.count, 6);
    if (l->want_json[0] == '\0')
        snprintf(l->want_json, sizeof l->want_json, "%.*s", (int)l->json.len,
                 l->json.data);
    /* the same document whatever failed on the way (a table line may be
     * short of memory: the table is best effort) */
    assert_same_text(sf_buf_cstr(&l->json), l->want_json);
}

static void list_check_failed(void *ctx, const sf_error *err)
{
    list_ctx *l = ctx;

    (void)err;
    assert_root_unchanged(l->w);
}

static void list_cleanup(void *ctx)
{
    list_ctx *l = ctx;

    sf_inventory_free(&l->inv);
    memset(&l->inv, 0, sizeof l->inv);
    sf_buf_free(&l->json);
    sf_buf_free(&l->table);
}

static void test_list_out_of_memory(void **state)
{
    world *w = *state;
    static list_ctx l;
    sf_oom_case c = {"backup list", NULL, list_body, list_check_ok,
                     list_check_failed, list_cleanup};

    make_world(w);
    memset(&l, 0, sizeof l);
    l.w = w;
    /* the expected document: one run with nothing failing */
    assert_int_equal(list_body(&l, &(sf_error){0}), SF_OK);
    list_check_ok(&l);
    list_cleanup(&l);
    assert_true(sf_oom_sweep(&c, &l, true) > 10);
    l.verify = true;
    l.want_json[0] = '\0';
    assert_int_equal(list_body(&l, &(sf_error){0}), SF_OK);
    list_check_ok(&l);
    list_cleanup(&l);
    assert_true(sf_oom_sweep(&c, &l, true) > 10);
}

/* ---- backup inspect ---- */

typedef struct inspect_ctx {
    world *w;
    sf_buf json, text;
    char *want_json, *want_text;
} inspect_ctx;

static int inspect_body(void *ctx, sf_error *err)
{
    inspect_ctx *x = ctx;

    sf_buf_init(&x->json);
    sf_buf_init(&x->text);
    if (sf_backup_inspect_json(bdir(x->w->root, "b2"), &x->json, err) != SF_OK)
        return SF_ERR;
    return sf_backup_inspect_text(bdir(x->w->root, "b2"), &x->text, err);
}

static void inspect_check_ok(void *ctx)
{
    inspect_ctx *x = ctx;

    if (x->want_json == NULL) {
        x->want_json = strdup(sf_buf_cstr(&x->json));
        x->want_text = strdup(sf_buf_cstr(&x->text));
        assert_non_null(strstr(x->want_json, "\"members\""));
    }
    assert_same_text(sf_buf_cstr(&x->json), x->want_json);
    assert_same_text(sf_buf_cstr(&x->text), x->want_text);
}

static void inspect_check_failed(void *ctx, const sf_error *err)
{
    inspect_ctx *x = ctx;

    (void)err;
    assert_root_unchanged(x->w);
}

static void inspect_cleanup(void *ctx)
{
    inspect_ctx *x = ctx;

    sf_buf_free(&x->json);
    sf_buf_free(&x->text);
}

/* ---- backup prune ---- */

typedef struct prune_ctx {
    world *w;
    bool dry_run;
    sf_prune_result res;
    sf_buf json;
    char after[4096]; /* the listing a complete prune leaves */
} prune_ctx;

static void prune_prep(void *ctx)
{
    prune_ctx *p = ctx;

    if (!p->dry_run)
        copy_root(p->w);
}

static int prune_body(void *ctx, sf_error *err)
{
    prune_ctx *p = ctx;
    const char *root = p->dry_run ? p->w->root : p->w->work;

    sf_buf_init(&p->json);
    if (sf_prune(root, 2, p->dry_run, &p->res, err) != SF_OK)
        return SF_ERR;
    return sf_prune_result_json(&p->res, root, &p->json, err);
}

static void prune_check_ok(void *ctx)
{
    prune_ctx *p = ctx;
    char now[4096];

    assert_int_equal(p->res.count, 6);
    assert_int_equal(p->res.kept, 2);
    assert_int_equal(p->res.deleted, 1);
    assert_int_equal(p->res.protected_count, 3);
    assert_non_null(strstr(sf_buf_cstr(&p->json),
                           "\"dir\": \"b1\",\n      \"status\": \"verified\",\n"
                           "      \"action\": \"delete\""));
    if (p->dry_run) {
        assert_root_unchanged(p->w);
        return;
    }
    listing(p->w->work, now, sizeof now);
    assert_same_text(now, p->after);
}

/* A real prune that ran out of memory left the root as it was, or with
 * b1 gone or in the trash: the next prune finishes the job. */
static void prune_check_failed(void *ctx, const sf_error *err)
{
    prune_ctx *p = ctx;
    sf_prune_result again;
    sf_error err2;
    char now[4096];

    (void)err;
    if (p->dry_run) {
        assert_root_unchanged(p->w);
        return;
    }
    assert_int_equal(sf_prune(p->w->work, 2, false, &again, &err2), SF_OK);
    sf_prune_result_free(&again);
    listing(p->w->work, now, sizeof now);
    assert_same_text(now, p->after);
}

static void prune_cleanup(void *ctx)
{
    prune_ctx *p = ctx;

    sf_prune_result_free(&p->res);
    sf_buf_free(&p->json);
}

static void test_inspect_and_prune_out_of_memory(void **state)
{
    world *w = *state;
    inspect_ctx x = {0};
    prune_ctx p = {0};
    sf_oom_case ci = {"backup inspect", NULL, inspect_body, inspect_check_ok,
                      inspect_check_failed, inspect_cleanup};
    sf_oom_case cp = {"backup prune", prune_prep, prune_body, prune_check_ok,
                      prune_check_failed, prune_cleanup};
    const char *b1;

    make_world(w);
    x.w = w;
    /* the expected texts: one run with nothing failing */
    assert_int_equal(inspect_body(&x, &(sf_error){0}), SF_OK);
    inspect_check_ok(&x);
    inspect_cleanup(&x);
    assert_true(sf_oom_sweep(&ci, &x, true) > 10);
    free(x.want_json);
    free(x.want_text);

    p.w = w;
    p.dry_run = true;
    assert_true(sf_oom_sweep(&cp, &p, true) > 10);
    /* what a complete real prune leaves: the listing without b1 */
    b1 = strstr(w->listing, "b1 ");
    assert_non_null(b1);
    snprintf(p.after, sizeof p.after, "%.*s%s", (int)(b1 - w->listing),
             w->listing, strchr(b1, '\n') + 1);
    p.dry_run = false;
    assert_true(sf_oom_sweep(&cp, &p, true) > 10);
}

/* ---- on-canister retention ---- */

typedef struct retain_ctx {
    world *w;
    sf_driver *od;
    char *ids[3];
    size_t want[3]; /* snapshots per canister after a complete run */
} retain_ctx;

static void retain_prep(void *ctx)
{
    retain_ctx *r = ctx;

    sf_fx_unstack(&r->w->f);
    sf_fx_reload(&r->w->f);
    sf_fx_stack(&r->w->f, NULL, false);
    r->od = sf_oom_driver_new(r->w->f.top);
    assert_non_null(r->od);
    copy_root(r->w);
}

static int retain_run(retain_ctx *r, sf_error *err)
{
    sf_engine e;
    int rc;

    if (sf_engine_open(&e, r->od, &r->w->f.clock, bdir(r->w->work, "b4"), NULL,
                       err) != SF_OK)
        return SF_ERR;
    rc = sf_engine_retain(&e, r->w->work, bdir(r->w->work, "b4"), r->ids, 3, 1,
                          err);
    sf_engine_close(&e);
    return rc;
}

static int retain_body(void *ctx, sf_error *err)
{
    return retain_run(ctx, err);
}

static void retain_check_ok(void *ctx)
{
    retain_ctx *r = ctx;
    size_t i;

    for (i = 0; i < 3; i++)
        assert_int_equal(sf_fx_snapshot_count(r->w->f.sim, r->ids[i]),
                         r->want[i]);
}

/* The next run finishes what the failed one started. */
static void retain_check_failed(void *ctx, const sf_error *err)
{
    retain_ctx *r = ctx;
    sf_error err2;

    (void)err;
    if (retain_run(r, &err2) != SF_OK)
        fail_msg("retention after an out-of-memory: %s", err2.message);
    retain_check_ok(r);
}

static void retain_cleanup(void *ctx)
{
    retain_ctx *r = ctx;

    sf_driver_destroy(r->od);
    r->od = NULL;
}

static void test_retention_out_of_memory(void **state)
{
    world *w = *state;
    retain_ctx r = {0};
    sf_oom_case c = {"retention", retain_prep, retain_body, retain_check_ok,
                     retain_check_failed, retain_cleanup};
    sf_error err;
    size_t i, before = 0, after = 0;

    make_world(w);
    sf_fx_save(&w->f);
    r.w = w;
    for (i = 0; i < 3; i++) {
        r.ids[i] = strdup(sf_fx_id(w->f.sim, i));
        assert_non_null(r.ids[i]);
    }
    /* one run without failures says what is left: b4's snapshot, plus
     * the ones no manifest records (the failed and the paused run's) */
    retain_prep(&r);
    for (i = 0; i < 3; i++)
        before += sf_fx_snapshot_count(w->f.sim, r.ids[i]);
    assert_int_equal(retain_run(&r, &err), SF_OK);
    for (i = 0; i < 3; i++) {
        r.want[i] = sf_fx_snapshot_count(w->f.sim, r.ids[i]);
        assert_true(r.want[i] >= 1);
        after += r.want[i];
    }
    /* b1's and b2's snapshots went */
    assert_int_equal(after + 6, before);
    retain_cleanup(&r);
    assert_true(sf_oom_sweep(&c, &r, true) > 10);
    for (i = 0; i < 3; i++)
        free(r.ids[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_out_of_memory, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_inspect_and_prune_out_of_memory,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_out_of_memory, setup,
                                        teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
