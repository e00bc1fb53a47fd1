/* Restore from the snapshot still on the canister: a member restored in
 * place whose backed-up snapshot is still listed on its canister with the
 * id, taken_at and size the backup recorded is loaded from there, with no
 * upload; its artifact is verified all the same; --upload forces the
 * upload; a member whose snapshot went, or one restored elsewhere, is
 * uploaded; the dry run and the status say which path each takes; faults
 * on every operation such a restore issues are recovered as an operator
 * would, with nothing uploaded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restore_fixture.h"
#include "snapfleet/inventory.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/text.h"

#define N 3

typedef struct dt {
    sf_fx f;
    sf_rfx_capture cap;
    char out[700];
    const char *targets[N];
} dt;

static int setup(void **state)
{
    dt *t = calloc(1, sizeof *t);
    size_t i;

    if (t == NULL)
        return -1;
    sf_rfx_fleet(&t->f, "rd", 3, N);
    snprintf(t->out, sizeof t->out, "%s", sf_fx_path(&t->f, "backup"));
    sf_rfx_backup(&t->f, t->out, NULL, &t->cap);
    assert_int_equal(t->cap.n, N);
    for (i = 0; i < N; i++) {
        t->targets[i] = t->cap.m[i].id;
        sf_rfx_mutate(&t->f, t->cap.m[i].id);
    }
    sf_fx_snap_before(&t->f);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    dt *t = *state;

    sf_fx_teardown(&t->f);
    free(t);
    return 0;
}

static void config(dt *t, sf_restore_config *c, sf_restore_mode mode)
{
    sf_rfx_config(c, t->out, mode);
    c->force_upload = false;
}

/* Executes, recovering as an operator would (unclaim, retry, execute)
 * until complete. */
static void run_to_completion(dt *t, const char *faults)
{
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    int round, rc;

    sf_fx_stack(&t->f, faults, false);
    config(t, &c, SF_RESTORE_MODE_EXECUTE);
    rc = sf_rfx_run(&t->f, &c, &r, &err);
    sf_restore_result_free(&r);
    sf_fx_unstack(&t->f);
    for (round = 0; rc != SF_OK && round < 6; round++) {
        sf_fx_stack(&t->f, NULL, false);
        config(t, &c, SF_RESTORE_MODE_UNCLAIM_PENDING);
        sf_rfx_run(&t->f, &c, &r, &err);
        sf_restore_result_free(&r);
        config(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
        sf_rfx_run(&t->f, &c, &r, &err);
        sf_restore_result_free(&r);
        config(t, &c, SF_RESTORE_MODE_EXECUTE);
        rc = sf_rfx_run(&t->f, &c, &r, &err);
        sf_restore_result_free(&r);
        sf_fx_unstack(&t->f);
    }
    if (rc != SF_OK)
        fail_msg("restore (%s) did not complete: %s (%s)", faults ? faults : "",
                 err.message, err.kind);
}

static void status_paths(dt *t, sf_buf *out)
{
    sf_restore_result r;
    sf_error err;

    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_OK);
    sf_buf_puts(out, sf_buf_cstr(&r.paths));
    sf_restore_result_free(&r);
}

static void test_loads_from_the_canister(void **state)
{
    dt *t = *state;
    sf_restore_config c;
    sf_buf paths, line;
    char *journal;
    size_t i, len;
    sf_error err;

    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    config(t, &c, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "upload"), 0);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "load"), N);
    sf_fx_unstack(&t->f);
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    assert_int_equal(sf_fx_new_snapshots_total(t->f.before, t->f.sim), 0);
    sf_rfx_assert_journal_complete(t->out, NULL);
    /* the status says where each member's snapshot came from */
    sf_buf_init(&paths);
    sf_buf_init(&line);
    status_paths(t, &paths);
    for (i = 0; i < N; i++) {
        sf_buf_reset(&line);
        sf_buf_printf(&line, "%s canister ", t->cap.m[i].id);
        assert_non_null(strstr(sf_buf_cstr(&paths), sf_buf_cstr(&line)));
    }
    sf_buf_free(&paths);
    sf_buf_free(&line);
    /* the upload step's receipt records the listing that proved it */
    {
        char *p = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
        assert_int_equal(sf_fs_read_file(p, 1 << 24, &journal, &len, &err), SF_OK);
        free(p);
    }
    assert_non_null(strstr(journal, "loaded from there, no upload"));
    free(journal);
}

static void test_upload_forced(void **state)
{
    dt *t = *state;
    sf_restore_config c;
    sf_buf paths;

    sf_fx_stack(&t->f, NULL, false);
    config(t, &c, SF_RESTORE_MODE_EXECUTE);
    c.force_upload = true;
    sf_rfx_run_complete(&t->f, &c);
    sf_fx_unstack(&t->f);
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->targets, N);
    sf_buf_init(&paths);
    status_paths(t, &paths);
    assert_non_null(strstr(sf_buf_cstr(&paths), " upload\n"));
    assert_null(strstr(sf_buf_cstr(&paths), " canister "));
    sf_buf_free(&paths);
}

/* A member whose snapshot was deleted since is uploaded; the others load
 * from their canisters. */
static void test_gone_snapshot_is_uploaded(void **state)
{
    dt *t = *state;
    sf_restore_config c;
    sf_backup_entry be;
    sf_buf paths, line;
    sf_error err;
    sf_result r;
    sf_op op;
    size_t k;

    assert_int_equal(sf_backup_entry_read(t->out, false, &be, &err), SF_OK);
    for (k = 0; k < be.snapshot_count; k++)
        if (strcmp(be.snapshots[k].canister_id, t->cap.m[1].id) == 0)
            break;
    assert_true(k < be.snapshot_count);
    sf_fx_stack(&t->f, NULL, false);
    assert_int_equal(sf_op_init(&op, SF_OP_DELETE, t->cap.m[1].id,
                                be.snapshots[k].snapshot_id, NULL, &err), SF_OK);
    sf_backup_entry_free(&be);
    assert_int_equal(sf_driver_run(t->f.base, &op, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    sf_fx_unstack(&t->f);
    sf_fx_save(&t->f);
    sf_fx_snap_before(&t->f);
    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    config(t, &c, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "upload"), 1);
    sf_fx_unstack(&t->f);
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    assert_int_equal(sf_fx_new_snapshots(t->f.before, t->f.sim, t->cap.m[1].id), 1);
    assert_int_equal(sf_fx_new_snapshots_total(t->f.before, t->f.sim), 1);
    sf_buf_init(&paths);
    sf_buf_init(&line);
    status_paths(t, &paths);
    sf_buf_printf(&line, "%s upload\n", t->cap.m[1].id);
    assert_non_null(strstr(sf_buf_cstr(&paths), sf_buf_cstr(&line)));
    sf_buf_reset(&line);
    sf_buf_printf(&line, "%s canister ", t->cap.m[0].id);
    assert_non_null(strstr(sf_buf_cstr(&paths), sf_buf_cstr(&line)));
    sf_buf_free(&paths);
    sf_buf_free(&line);
}

/* The dry run changes nothing and says which path each member takes. */
static void test_dry_run_says_the_paths(void **state)
{
    dt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    sf_fx_stack(&t->f, NULL, false);
    config(t, &c, SF_RESTORE_MODE_DRY_RUN);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&r.paths), " undecided (loaded from the "
                           "canister if snapshot "));
    sf_restore_result_free(&r);
    c.force_upload = true;
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&r.paths), " upload (--upload)\n"));
    sf_restore_result_free(&r);
    sf_fx_unstack(&t->f);
    assert_int_equal(sf_fx_new_snapshots_total(t->f.before, t->f.sim), 0);
}

/* A tampered artifact is refused even though the canister still holds
 * the snapshot: the restore never depends on the canister alone. */
static void test_tampered_artifact_refused(void **state)
{
    dt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char path[1200], *seg;
    FILE *fp;

    seg = sf_safe_path_segment(t->cap.m[0].id);
    snprintf(path, sizeof path, "%s/%s/stable_memory.bin", t->out, seg);
    free(seg);
    fp = fopen(path, "r+b");
    assert_non_null(fp);
    fputc('!', fp);
    fclose(fp);
    sf_fx_stack(&t->f, NULL, false);
    config(t, &c, SF_RESTORE_MODE_EXECUTE);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_ERR);
    sf_restore_result_free(&r);
    sf_fx_unstack(&t->f);
    assert_non_null(strstr(err.message, "does not verify"));
    assert_int_equal(sf_fx_trace_count(&t->f.log, "load"), 0);
}

/* Every fault on every operation a restore from the canisters issues:
 * recovered as an operator would, restored, nothing uploaded. */
static void test_fault_matrix(void **state)
{
    static const char *const ops[] = {"list", "status", "stop", "load", "start"};
    static const char *const effects[] = {"transient", "permanent",
                                          "lost-response"};
    dt *t = *state;
    char pristine[1100], cmd[4000];
    size_t o, x, n;

    sf_fx_save(&t->f);
    snprintf(pristine, sizeof pristine, "%s/pristine.json", t->f.dir);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", t->f.state, pristine);
    assert_int_equal(system(cmd), 0);
    for (o = 0; o < sizeof ops / sizeof ops[0]; o++)
        for (x = 0; x < 3; x++)
            for (n = 1; n <= N; n++) {
                char plan[64];
                char *dir = sf_rfx_restore_path(t->out, NULL, NULL);
                sf_error err;

                snprintf(plan, sizeof plan, "%s:%zu=%s", ops[o], n, effects[x]);
                run_to_completion(t, plan);
                sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
                if (sf_fx_new_snapshots_total(t->f.before, t->f.sim) != 0)
                    fail_msg("%s: something was uploaded", plan);
                sf_rfx_assert_journal_complete(t->out, NULL);
                /* back to before the restore */
                snprintf(cmd, sizeof cmd, "cp '%s' '%s'", pristine, t->f.state);
                assert_int_equal(system(cmd), 0);
                assert_int_equal(sf_remove_tree(dir, &err), SF_OK);
                free(dir);
                sf_fx_reload(&t->f);
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loads_from_the_canister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upload_forced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gone_snapshot_is_uploaded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_says_the_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_artifact_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fault_matrix, setup, teardown),
    };
    return cmocka_run_group_tests_name("restore from the canister", tests, NULL, NULL);
}
