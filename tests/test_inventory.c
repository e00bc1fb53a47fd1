/* The backup root: `backup list` states and order, `backup inspect`, and
 * `backup prune` (what it keeps, what it never deletes, crash safety: a
 * prune killed after any durable write is finished by the next one). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sim_fixture.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"
#include "snapfleet/layout.h"

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "inv");
    sf_fx_config(&cfg, 2, 3);
    cfg.snapshot_limit = 10;
    sf_fx_start(f, &cfg);
    sf_fx_stack(f, NULL, false);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sf_fx *f = *state;

    sf_fx_teardown(f);
    free(f);
    return 0;
}

static char *root_of(sf_fx *f)
{
    static char root[1024];

    snprintf(root, sizeof root, "%s/backups", f->dir);
    return root;
}

static const char *bdir(sf_fx *f, const char *name)
{
    static char p[8][1200];
    static int k;

    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", root_of(f), name);
    return p[k];
}

/* A backup into root/name: complete, or paused after max_steps, or a dry
 * run; faults make a failed one. Returns the run's rc. */
static int backup(sf_fx *f, const char *name, uint64_t max_steps, bool dry_run,
                  const char *faults)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    if (faults != NULL) {
        sf_fx_unstack(f);
        sf_fx_stack(f, faults, false);
    }
    sf_fx_backup_config(&c, f, bdir(f, name));
    c.max_steps = max_steps;
    c.dry_run = dry_run;
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    if (faults != NULL) {
        sf_fx_unstack(f);
        sf_fx_stack(f, NULL, false);
    }
    /* one virtual minute between backups: distinct run ids */
    sf_clock_sleep_ms(&f->clock, 60000);
    return rc;
}

static void complete(sf_fx *f, const char *name)
{
    assert_int_equal(backup(f, name, 0, false, NULL), SF_OK);
}

static const sf_backup_entry *find(const sf_inventory *inv, const char *name)
{
    size_t i;

    for (i = 0; i < inv->count; i++)
        if (strcmp(inv->entries[i].name, name) == 0)
            return &inv->entries[i];
    fail_msg("%s not in the inventory", name);
    return NULL;
}

static void scan(sf_fx *f, bool verify, sf_inventory *inv)
{
    sf_error err;

    if (sf_inventory_scan(root_of(f), verify, inv, &err) != SF_OK)
        fail_msg("scan: %s", err.message);
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* ---- list ---- */

static void test_missing_root_is_empty(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;

    scan(f, true, &inv);
    assert_int_equal(inv.count, 0);
    assert_int_equal(inv.trash_count, 0);
    sf_inventory_free(&inv);
}

static void test_root_not_a_directory(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;
    sf_error err;

    write_file(root_of(f), "x");
    assert_int_equal(sf_inventory_scan(root_of(f), false, &inv, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, root_of(f)));
}

static void test_states_and_order(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;
    sf_lock lock;
    sf_error err;
    char path[1300];

    complete(f, "a-old");
    assert_int_equal(backup(f, "b-paused", 3, false, NULL), SF_OK);
    assert_int_equal(backup(f, "c-dry", 0, true, NULL), SF_OK);
    assert_int_not_equal(backup(f, "d-failed", 0, false, "create:1=permanent"), SF_OK);
    complete(f, "e-locked");
    complete(f, "f-corrupt");
    complete(f, "g-invalid");
    complete(f, "h-new");
    mkdir(bdir(f, "not-a-backup"), 0700);
    write_file(bdir(f, "stray-file"), "x");
    /* a corrupt artifact: one byte changed */
    snprintf(path, sizeof path, "%s/%s/metadata.json", bdir(f, "f-corrupt"),
             sf_fx_id(f->sim, 0));
    write_file(path, "{}");
    snprintf(path, sizeof path, "%s/backup-plan.json", bdir(f, "g-invalid"));
    write_file(path, "{");
    assert_int_equal(sf_lock_acquire(bdir(f, "e-locked"), &lock, &err), SF_OK);

    scan(f, false, &inv);
    assert_int_equal(inv.count, 8);
    /* newest first */
    assert_string_equal(inv.entries[0].name, "h-new");
    assert_string_equal(inv.entries[7].name, "a-old");
    assert_int_equal(find(&inv, "a-old")->state, SF_BACKUP_COMPLETE);
    assert_int_equal(find(&inv, "b-paused")->state, SF_BACKUP_IN_PROGRESS);
    assert_int_equal(find(&inv, "c-dry")->state, SF_BACKUP_DRY_RUN);
    assert_int_equal(find(&inv, "d-failed")->state, SF_BACKUP_FAILED);
    assert_int_equal(find(&inv, "e-locked")->state, SF_BACKUP_LOCKED);
    assert_int_equal(find(&inv, "f-corrupt")->state, SF_BACKUP_COMPLETE);
    assert_int_equal(find(&inv, "g-invalid")->state, SF_BACKUP_INVALID);
    assert_non_null(strstr(find(&inv, "g-invalid")->detail, "backup-plan.json"));
    assert_true(find(&inv, "a-old")->is_layout);
    assert_int_equal(find(&inv, "a-old")->members, 3);
    assert_int_equal(find(&inv, "a-old")->snapshot_count, 3);
    assert_true(find(&inv, "a-old")->snapshots[0].has_taken_at);
    assert_true(find(&inv, "a-old")->snapshots[0].has_total_size);
    assert_true(find(&inv, "a-old")->bytes > 0);
    assert_string_equal(find(&inv, "a-old")->fleet, "sim");
    assert_non_null(find(&inv, "a-old")->created_at);
    assert_int_equal(find(&inv, "a-old")->on_canister, -1);
    sf_inventory_free(&inv);

    scan(f, true, &inv);
    assert_int_equal(find(&inv, "a-old")->state, SF_BACKUP_VERIFIED);
    assert_int_equal(find(&inv, "f-corrupt")->state, SF_BACKUP_CORRUPT);
    assert_non_null(find(&inv, "f-corrupt")->detail);
    sf_inventory_free(&inv);

    sf_lock_release(&lock);
    scan(f, true, &inv);
    assert_int_equal(find(&inv, "e-locked")->state, SF_BACKUP_VERIFIED);
    sf_inventory_free(&inv);
}

static void test_stray_names_make_no_layout(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;
    char path[1300];

    complete(f, "a");
    complete(f, "b");
    complete(f, "c");
    snprintf(path, sizeof path, "%s/notes.txt", bdir(f, "b"));
    write_file(path, "mine");
    snprintf(path, sizeof path, "%s/link", bdir(f, "c"));
    assert_int_equal(symlink("/", path), 0);
    /* a temp file a crash left before its rename is still the layout */
    snprintf(path, sizeof path, "%s/backup-plan.json.tmp.Ab12Cd", bdir(f, "a"));
    write_file(path, "{");
    scan(f, false, &inv);
    assert_true(find(&inv, "a")->is_layout);
    assert_false(find(&inv, "b")->is_layout);
    assert_non_null(strstr(find(&inv, "b")->detail, "notes.txt"));
    assert_false(find(&inv, "c")->is_layout);
    sf_inventory_free(&inv);
}

static void test_snapshot_download_layout(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_inventory inv;
    sf_error err;

    sf_fx_download_config(&c, f, bdir(f, "direct"));
    assert_int_equal(sf_fx_download(f, &c, &r, &err), SF_OK);
    sf_snapshot_download_result_free(&r);
    scan(f, true, &inv);
    assert_int_equal(inv.count, 1);
    assert_int_equal(inv.entries[0].state, SF_BACKUP_VERIFIED);
    assert_string_equal(inv.entries[0].backup_id, "direct");
    assert_null(inv.entries[0].fleet);
    assert_true(inv.entries[0].is_layout);
    sf_inventory_free(&inv);
}

static void test_list_json_and_table(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;
    sf_error err;
    sf_buf b;

    complete(f, "one");
    mkdir(bdir(f, SF_TRASH_PREFIX "old"), 0700);
    scan(f, false, &inv);
    assert_int_equal(inv.trash_count, 1);
    sf_buf_init(&b);
    assert_int_equal(sf_inventory_json(&inv, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"status\": \"complete\""));
    assert_non_null(strstr(sf_buf_cstr(&b), "\"snapshots_on_canisters\": null"));
    assert_non_null(strstr(sf_buf_cstr(&b), "\"trash\": [\n    \"" SF_TRASH_PREFIX "old\""));
    b.len = 0;
    assert_int_equal(sf_inventory_table(&inv, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "STATUS"));
    assert_non_null(strstr(sf_buf_cstr(&b), "one"));
    assert_non_null(strstr(sf_buf_cstr(&b), "unfinished prune"));
    sf_buf_free(&b);
    sf_inventory_free(&inv);
}

/* With a driver, each backup says how many of its snapshots are still on
 * the canisters; each canister is listed once; a failed listing names
 * the canister and leaves every entry unchecked. */
static void test_list_checks_canisters(void **state)
{
    sf_fx *f = *state;
    sf_inventory inv;
    sf_error err;
    sf_result r;
    sf_op op;
    sf_buf b;
    const sf_backup_entry *one;

    complete(f, "one");
    complete(f, "two");
    assert_int_equal(backup(f, "paused", 2, false, NULL), SF_OK);
    scan(f, false, &inv);
    one = find(&inv, "one");
    assert_int_equal(one->snapshot_count, 3);
    /* an operator deletes one of day one's snapshots */
    assert_int_equal(sf_op_init(&op, SF_OP_DELETE, one->snapshots[1].canister_id,
                                one->snapshots[1].snapshot_id, NULL, &err), SF_OK);
    assert_int_equal(sf_driver_run(f->top, &op, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    sf_buf_reset(&f->log);
    assert_int_equal(sf_inventory_check_canisters(&inv, f->top, &err), SF_OK);
    assert_int_equal(find(&inv, "one")->on_canister, 2);
    assert_int_equal(find(&inv, "two")->on_canister, 3);
    assert_int_equal(find(&inv, "paused")->on_canister, -1); /* records none */
    assert_int_equal(sf_fx_trace_count(&f->log, "list"), 3); /* once each */
    sf_buf_init(&b);
    assert_int_equal(sf_inventory_json(&inv, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"snapshots_on_canisters\": 2"));
    b.len = 0;
    assert_int_equal(sf_inventory_table(&inv, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "2/3"));
    sf_buf_free(&b);
    sf_inventory_free(&inv);

    /* a listing that fails: named, and nothing is claimed */
    sf_fx_unstack(f);
    sf_fx_stack(f, "list:2=permanent", false);
    scan(f, false, &inv);
    assert_int_equal(sf_inventory_check_canisters(&inv, f->top, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-list-failed");
    assert_non_null(strstr(err.message, "listing the snapshots of "));
    assert_int_equal(find(&inv, "one")->on_canister, -1);
    assert_int_equal(find(&inv, "two")->on_canister, -1);
    sf_inventory_free(&inv);
}

/* ---- inspect ---- */

static void test_inspect(void **state)
{
    sf_fx *f = *state;
    sf_error err;
    sf_buf b;

    complete(f, "x");
    assert_int_equal(backup(f, "p", 3, false, NULL), SF_OK);
    sf_buf_init(&b);
    assert_int_equal(sf_backup_inspect_json(bdir(f, "x"), &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"members\": ["));
    assert_non_null(strstr(sf_buf_cstr(&b), sf_fx_id(f->sim, 0)));
    assert_non_null(strstr(sf_buf_cstr(&b), "\"completed_operations\""));
    assert_non_null(strstr(sf_buf_cstr(&b), "\"is_complete\": true"));
    b.len = 0;
    assert_int_equal(sf_backup_inspect_text(bdir(f, "x"), &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "Status: complete"));
    assert_non_null(strstr(sf_buf_cstr(&b), "MODULE_HASH"));
    b.len = 0;
    assert_int_equal(sf_backup_inspect_text(bdir(f, "p"), &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "Manifest: none"));
    b.len = 0;
    assert_int_equal(sf_backup_inspect_json(bdir(f, "p"), &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"manifest\": null"));
    b.len = 0;
    assert_int_equal(sf_backup_inspect_json(f->dir, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "not-a-backup");
    sf_buf_free(&b);
}

static void test_inspect_names_a_broken_document(void **state)
{
    sf_fx *f = *state;
    char path[1300];
    sf_error err;
    sf_buf b;

    complete(f, "x");
    snprintf(path, sizeof path, "%s/fleet-backup-manifest.json", bdir(f, "x"));
    write_file(path, "{\"manifest_version\": 1}");
    sf_buf_init(&b);
    assert_int_equal(sf_backup_inspect_json(bdir(f, "x"), &b, &err), SF_ERR);
    assert_non_null(strstr(err.message, "fleet-backup-manifest.json"));
    sf_buf_free(&b);
}

/* ---- prune ---- */

static const sf_prune_decision *decision(const sf_prune_result *r,
                                         const char *name)
{
    size_t i;

    for (i = 0; i < r->count; i++)
        if (strcmp(r->decisions[i].name, name) == 0)
            return &r->decisions[i];
    fail_msg("%s not decided", name);
    return NULL;
}

static void prune_ok(sf_fx *f, size_t keep, bool dry_run, sf_prune_result *r)
{
    sf_error err;

    if (sf_prune(root_of(f), keep, dry_run, r, &err) != SF_OK)
        fail_msg("prune: %s (%s)", err.message, err.kind);
}

static void test_prune_keeps_newest_verified(void **state)
{
    sf_fx *f = *state;
    sf_prune_result r;
    sf_error err;
    sf_buf b;

    complete(f, "b1");
    complete(f, "b2");
    complete(f, "b3");
    complete(f, "b4");
    prune_ok(f, 2, true, &r);
    assert_int_equal(r.kept, 2);
    assert_int_equal(r.deleted, 2);
    assert_int_equal(decision(&r, "b1")->action, SF_PRUNE_DELETE);
    sf_prune_result_free(&r);
    assert_true(sf_fx_exists(bdir(f, "b1"))); /* dry run deletes nothing */

    prune_ok(f, 2, false, &r);
    assert_int_equal(decision(&r, "b4")->action, SF_PRUNE_KEEP);
    assert_int_equal(decision(&r, "b3")->action, SF_PRUNE_KEEP);
    assert_int_equal(decision(&r, "b2")->action, SF_PRUNE_DELETE);
    assert_int_equal(decision(&r, "b1")->action, SF_PRUNE_DELETE);
    sf_buf_init(&b);
    assert_int_equal(sf_prune_result_json(&r, root_of(f), &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"deleted\": 2"));
    sf_buf_free(&b);
    sf_prune_result_free(&r);
    assert_false(sf_fx_exists(bdir(f, "b1")));
    assert_false(sf_fx_exists(bdir(f, "b2")));
    assert_false(sf_fx_exists(bdir(f, SF_TRASH_PREFIX "b1")));
    sf_fx_assert_verifies(bdir(f, "b3"));
    sf_fx_assert_verifies(bdir(f, "b4"));
    /* idempotent */
    prune_ok(f, 2, false, &r);
    assert_int_equal(r.deleted, 0);
    assert_int_equal(r.kept, 2);
    sf_prune_result_free(&r);
}

static void test_prune_never_deletes_protected(void **state)
{
    sf_fx *f = *state;
    sf_prune_result r;
    sf_lock lock;
    sf_error err;
    char path[1300];

    assert_int_not_equal(backup(f, "a-failed-old", 0, false, "create:1=permanent"), SF_OK);
    assert_int_not_equal(backup(f, "b-failed", 0, false, "create:1=permanent"), SF_OK);
    assert_int_equal(backup(f, "c-paused", 3, false, NULL), SF_OK);
    assert_int_equal(backup(f, "d-dry", 0, true, NULL), SF_OK);
    complete(f, "e-foreign");
    complete(f, "f-locked");
    complete(f, "g-invalid");
    complete(f, "h-corrupt");
    complete(f, "i-keep");
    snprintf(path, sizeof path, "%s/mine.txt", bdir(f, "e-foreign"));
    write_file(path, "user data");
    snprintf(path, sizeof path, "%s/download-journal.json", bdir(f, "g-invalid"));
    write_file(path, "[]");
    snprintf(path, sizeof path, "%s/%s/wasm_memory.bin", bdir(f, "h-corrupt"),
             sf_fx_id(f->sim, 1));
    write_file(path, "changed");
    assert_int_equal(sf_lock_acquire(bdir(f, "f-locked"), &lock, &err), SF_OK);

    prune_ok(f, 1, false, &r);
    assert_int_equal(decision(&r, "i-keep")->action, SF_PRUNE_KEEP);
    assert_int_equal(decision(&r, "h-corrupt")->action, SF_PRUNE_DELETE);
    assert_int_equal(decision(&r, "g-invalid")->action, SF_PRUNE_PROTECT);
    assert_int_equal(decision(&r, "f-locked")->action, SF_PRUNE_PROTECT);
    assert_int_equal(decision(&r, "e-foreign")->action, SF_PRUNE_PROTECT);
    assert_int_equal(decision(&r, "d-dry")->action, SF_PRUNE_PROTECT);
    assert_int_equal(decision(&r, "c-paused")->action, SF_PRUNE_PROTECT);
    assert_int_equal(decision(&r, "b-failed")->action, SF_PRUNE_PROTECT);
    assert_non_null(strstr(decision(&r, "b-failed")->reason, "newest failed"));
    assert_int_equal(decision(&r, "a-failed-old")->action, SF_PRUNE_DELETE);
    assert_int_equal(r.deleted, 2);
    assert_int_equal(r.protected_count, 6);
    sf_prune_result_free(&r);
    sf_lock_release(&lock);
    assert_true(sf_fx_exists(path) == false); /* h-corrupt is gone */
    snprintf(path, sizeof path, "%s/mine.txt", bdir(f, "e-foreign"));
    assert_true(sf_fx_exists(path));
    assert_true(sf_fx_exists(bdir(f, "b-failed")));
    assert_false(sf_fx_exists(bdir(f, "a-failed-old")));
}

static void test_prune_needs_enough_verified(void **state)
{
    sf_fx *f = *state;
    sf_prune_result r;
    sf_error err;

    complete(f, "a");
    complete(f, "b");
    prune_ok(f, 3, false, &r);
    assert_int_equal(r.deleted, 0);
    assert_int_equal(r.kept, 2);
    sf_prune_result_free(&r);
    assert_int_equal(sf_prune(root_of(f), 0, false, &r, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
}

static void test_prune_finishes_trash(void **state)
{
    sf_fx *f = *state;
    sf_prune_result r;
    char path[1300];

    complete(f, "a");
    snprintf(path, sizeof path, "%s/" SF_TRASH_PREFIX "gone", root_of(f));
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/" SF_TRASH_PREFIX "gone/half", root_of(f));
    write_file(path, "x");
    prune_ok(f, 1, true, &r);
    assert_int_equal(r.trash_finished_count, 1);
    sf_prune_result_free(&r);
    assert_true(sf_fx_exists(path));
    prune_ok(f, 1, false, &r);
    assert_int_equal(r.trash_finished_count, 1);
    assert_string_equal(r.trash_finished[0], SF_TRASH_PREFIX "gone");
    sf_prune_result_free(&r);
    assert_false(sf_fx_exists(path));
    assert_true(sf_fx_exists(bdir(f, "a")));
}

/* The crash matrix: a prune killed right after each of its durable writes
 * (each deletion's rename) leaves every backup whole or in the trash; the
 * next prune ends exactly where an uninterrupted one does. */
static int run_prune(sf_fx *f, void *ctx)
{
    sf_prune_result r;
    sf_error err;
    int rc;

    (void)ctx;
    rc = sf_prune(root_of(f), 2, false, &r, &err);
    if (rc == SF_OK)
        sf_prune_result_free(&r);
    return rc;
}

static void test_prune_crash_matrix(void **state)
{
    sf_fx *f = *state;
    const char *names[] = {"b1", "b2", "b3", "b4", "b5"};
    char keep_root[1100], cmd[4000];
    sf_prune_result r;
    uint64_t k;
    size_t i;
    int code;

    for (i = 0; i < 5; i++)
        complete(f, names[i]);
    snprintf(keep_root, sizeof keep_root, "%s/pristine", f->dir);
    snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", root_of(f), keep_root);
    assert_int_equal(system(cmd), 0);
    for (k = 1;; k++) {
        bool killed = sf_fx_crash_run(f, k, run_prune, NULL, &code);
        sf_inventory inv;

        if (!killed) {
            assert_int_equal(code, 0);
            break;
        }
        /* killed after its k-th write: backups whole or in the trash */
        /* killed after its k-th write: each backup is whole, in the trash
         * or gone, and only those to delete are not whole */
        scan(f, false, &inv);
        assert_int_equal(inv.count + inv.trash_count, 5 - (k - 1));
        for (i = 0; i < inv.count; i++)
            assert_int_equal(inv.entries[i].state, SF_BACKUP_COMPLETE);
        assert_int_equal(inv.trash_count, 1);
        assert_true(sf_fx_exists(bdir(f, "b4")) && sf_fx_exists(bdir(f, "b5")));
        sf_inventory_free(&inv);
        sf_fx_stack(f, NULL, false);
        prune_ok(f, 2, false, &r);
        sf_prune_result_free(&r);
        assert_false(sf_fx_exists(bdir(f, "b1")));
        assert_false(sf_fx_exists(bdir(f, "b2")));
        assert_false(sf_fx_exists(bdir(f, "b3")));
        assert_false(sf_fx_exists(bdir(f, SF_TRASH_PREFIX "b1")));
        assert_false(sf_fx_exists(bdir(f, SF_TRASH_PREFIX "b3")));
        sf_fx_assert_verifies(bdir(f, "b4"));
        sf_fx_assert_verifies(bdir(f, "b5"));
        /* back to five backups for the next k */
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", root_of(f),
                 keep_root, root_of(f));
        assert_int_equal(system(cmd), 0);
    }
    assert_int_equal(k, 4); /* three deletions, one write each */
    sf_fx_stack(f, NULL, false);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_missing_root_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_not_a_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_states_and_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stray_names_make_no_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_layout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_json_and_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_checks_canisters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inspect_names_a_broken_document, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_keeps_newest_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_never_deletes_protected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_needs_enough_verified, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_finishes_trash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prune_crash_matrix, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
