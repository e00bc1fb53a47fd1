/* The restore runner (snapfleet/restore.h, spec restore.md 4-6, decisions
 * 5) on the simulator: in-place restores of a changed fleet, relocation
 * through a mapping, refusals before planning and at staging, dry runs,
 * every runner mode, containment before and after a load, lost responses
 * and every other fault effect on every operation kind a restore issues,
 * pauses, reruns and the verification step. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "restore_fixture.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/restore_plan.h"

/* ---- fixtures ----
 * seed 2, 4 canisters: R (root) with children A ("shard") and B
 * ("user_hub"); C ("ledger") under B. Tree order R, A, B, C; the restore
 * runs uploads R A B C, stops R A B C, loads R A B C, starts C B A R and
 * verifications R A B C (20 operations). */

enum { R = 0, A = 1, B = 2, C = 3, N = 4 };

typedef struct rt {
    sf_fx f;
    sf_rfx_capture cap;
    char out[700];
    char id[N][SF_PRINCIPAL_TEXT_MAX];
    const char *ids[N];
    const void *param; /* the fault-matrix case, when there is one */
} rt;

static int setup(void **state)
{
    rt *t = calloc(1, sizeof *t);
    size_t i;

    if (t == NULL)
        return -1;
    if (*state != NULL)
        t->param = *state;
    sf_rfx_fleet(&t->f, "rr", 2, N);
    for (i = 0; i < N; i++) {
        snprintf(t->id[i], sizeof t->id[i], "%s", sf_fx_id(t->f.sim, i));
        t->ids[i] = t->id[i];
    }
    snprintf(t->out, sizeof t->out, "%s", sf_fx_path(&t->f, "backup"));
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    rt *t = *state;

    sf_fs_set_write_hook(NULL, NULL);
    sf_fx_teardown(&t->f);
    free(t);
    return 0;
}

/* Back up the whole fleet, then change the memory of R, A and C (B keeps
 * its state: a restore must leave it as it is, through a load), and keep
 * the fleet as it is now as f->before. */
static void backup_and_mutate(rt *t)
{
    sf_rfx_backup(&t->f, t->out, NULL, &t->cap);
    assert_int_equal(t->cap.n, N);
    sf_rfx_mutate(&t->f, t->id[R]);
    sf_rfx_mutate(&t->f, t->id[A]);
    sf_rfx_mutate(&t->f, t->id[C]);
    sf_fx_snap_before(&t->f);
}

static void assert_restored_once(rt *t)
{
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->ids, N);
    sf_rfx_assert_journal_complete(t->out, NULL);
}

/* Runs c in `mode` (c's mapping, directory and max_steps kept) and
 * asserts success. */
static void assert_restored_once_in(rt *t, const char *dir)
{
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->ids, N);
    sf_rfx_assert_journal_complete(t->out, dir);
}

static void run_ok(rt *t, const sf_restore_config *cfg, sf_restore_mode mode)
{
    sf_restore_config c = *cfg;
    sf_restore_result r;
    sf_error err;

    c.mode = mode;
    if (sf_rfx_run(&t->f, &c, &r, &err) != SF_OK)
        fail_msg("restore mode %d failed: %s (%s)", (int)mode, err.message,
                 err.kind ? err.kind : "?");
    sf_restore_result_free(&r);
}

static bool exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static size_t dir_entries(const char *p)
{
    char cmd[1400];
    FILE *fp;
    size_t n = 0;
    int ch;

    snprintf(cmd, sizeof cmd, "ls -A '%s' 2>/dev/null", p);
    fp = popen(cmd, "r");
    if (fp == NULL)
        fail_msg("popen: %s", strerror(errno));
    while ((ch = fgetc(fp)) != EOF)
        n += ch == '\n';
    pclose(fp);
    return n;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;

    for (; *s != '\0'; s++)
        n += *s == '\n';
    return n;
}

/* ---- in place ---- */

static void test_in_place_restores_mutated_fleet(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *staging;
    size_t i;

    /* C was stopped by an operator before the backup */
    sf_fx_set_status(&t->f, t->id[C], SF_STATUS_STOPPED);
    backup_and_mutate(t);
    assert_int_equal(t->cap.m[3].status, SF_STATUS_STOPPED);
    for (i = 0; i < N; i++)
        if (i != B) {
            sf_rfx_member now;
            sf_rfx_member_now(t->f.sim, t->id[i], &now);
            assert_string_not_equal(now.digest, t->cap.m[i].digest);
        }
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_true(r.complete);
    assert_int_equal(r.executed, 20);
    assert_string_equal(r.stopped_reason, "complete");
    assert_string_equal(r.next_action, "done");
    assert_true(r.loads_done);
    assert_non_null(strstr(sf_buf_cstr(&r.report), "\"outcome\": \"complete\""));
    assert_int_equal(r.commands.len, 0);
    sf_restore_result_free(&r);
    assert_restored_once(t);
    /* the canister that was stopped is never stopped or started, and
     * verified stopped */
    assert_int_equal(sf_fx_status(t->f.sim, t->id[C]), SF_STATUS_STOPPED);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[C], false), 0);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[C], false), 0);
    for (i = 0; i < N; i++) {
        assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[i], false), 1);
        assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "load", t->id[i], false), 1);
        if (i != C) {
            assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[i], false), 1);
            assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[i], false), 1);
        }
    }
    /* the staged copies go once uploaded */
    staging = sf_rfx_restore_path(t->out, NULL, "staging");
    assert_int_equal(dir_entries(staging), 0);
    free(staging);
    /* and the backup still verifies with the restore directory inside it */
    sf_fx_assert_verifies(t->out);
}

static void test_stopped_before_restore_stays_stopped(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_rfx_member now;

    sf_rfx_backup(&t->f, t->out, NULL, &t->cap);
    /* an operator stops B after the backup and its memory changes */
    sf_rfx_mutate(&t->f, t->id[B]);
    sf_fx_set_status(&t->f, t->id[B], SF_STATUS_STOPPED);
    sf_fx_snap_before(&t->f);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    sf_rfx_member_now(t->f.sim, t->id[B], &now);
    assert_string_equal(now.digest, t->cap.m[B].digest);
    assert_string_equal(now.module_hash, t->cap.m[B].module_hash);
    assert_int_equal(now.status, SF_STATUS_STOPPED);
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[B], false), 0);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->ids, N);
    sf_rfx_assert_journal_complete(t->out, NULL);
}

static void test_fixed_root_restores_in_place(void **state)
{
    rt *t = *state;
    sf_restore_config c;

    /* `snapshot download` of the root: the root is a fixed member */
    sf_rfx_download(&t->f, t->out, &t->cap);
    assert_int_equal(t->cap.n, N);
    sf_rfx_mutate(&t->f, t->id[R]);
    sf_rfx_mutate(&t->f, t->id[B]);
    sf_fx_snap_before(&t->f);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
}

/* ---- relocation ---- */

static void test_relocates_single_member(void **state)
{
    rt *t = *state;
    const char *src[1], *dst[1], *targets[1];
    const char *map = sf_fx_path(&t->f, "mapping.json");
    sf_restore_config c;
    sf_buf plan;
    sf_error err;
    size_t i;

    sf_rfx_backup(&t->f, t->out, t->id[C], &t->cap);
    assert_int_equal(t->cap.n, 1);
    assert_string_equal(t->cap.m[0].id, t->id[C]);
    assert_string_not_equal(t->cap.m[0].digest, "");
    sf_fx_snap_before(&t->f);
    src[0] = t->id[C];
    dst[0] = t->id[A];
    sf_rfx_write_mapping(map, src, dst, 1);
    /* the plan says where it goes */
    sf_buf_init(&plan);
    sf_error_clear(&err);
    if (sf_restore_plan_backup(t->out, map, &plan, &err) != SF_OK)
        fail_msg("plan: %s (%s)", err.message, err.kind);
    assert_non_null(strstr(sf_buf_cstr(&plan), "\"remapped_members\": 1"));
    sf_buf_free(&plan);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.mapping = map;
    assert_int_equal(sf_rfx_run_complete(&t->f, &c), 5);
    /* A now holds C's backed-up memory and module, still running */
    targets[0] = t->id[A];
    sf_rfx_assert_restored(t->f.sim, &t->cap, targets);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, targets, 1);
    /* C, the source, and everything else are untouched */
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, targets, 1);
    for (i = 0; i < N; i++)
        if (i != A) {
            assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[i], false), 0);
            assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[i], false), 0);
        }
    sf_rfx_assert_journal_complete(t->out, NULL);
}

static void test_relocates_subtree_by_swapping(void **state)
{
    rt *t = *state;
    const char *src[2], *dst[2], *targets[2];
    const char *map = sf_fx_path(&t->f, "swap.json");
    sf_restore_config c;

    sf_rfx_backup(&t->f, t->out, t->id[B], &t->cap);
    assert_int_equal(t->cap.n, 2);
    assert_string_equal(t->cap.m[0].id, t->id[B]);
    assert_string_equal(t->cap.m[1].id, t->id[C]);
    sf_fx_snap_before(&t->f);
    src[0] = t->id[B];
    dst[0] = t->id[C];
    src[1] = t->id[C];
    dst[1] = t->id[B];
    sf_rfx_write_mapping(map, src, dst, 2);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.mapping = map;
    assert_int_equal(sf_rfx_run_complete(&t->f, &c), 10);
    targets[0] = t->id[C];
    targets[1] = t->id[B];
    sf_rfx_assert_restored(t->f.sim, &t->cap, targets);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, targets, 2);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, targets, 2);
}

static void test_fixed_identity_remap_refused(void **state)
{
    rt *t = *state;
    const char *src[N], *dst[N];
    const char *map = sf_fx_path(&t->f, "remap.json");
    char *journal, *plan_file;
    sf_restore_config c;
    sf_restore_result r;
    sf_buf plan;
    sf_error err;
    size_t i;

    sf_rfx_download(&t->f, t->out, &t->cap);
    sf_fx_snap_before(&t->f);
    for (i = 0; i < N; i++)
        src[i] = dst[i] = t->id[i];
    dst[R] = t->id[A]; /* the root is fixed */
    dst[A] = t->id[R];
    sf_rfx_write_mapping(map, src, dst, N);
    sf_buf_init(&plan);
    sf_error_clear(&err);
    assert_int_equal(sf_restore_plan_backup(t->out, map, &plan, &err), SF_ERR);
    assert_string_equal(err.kind, "fixed-identity-remap");
    assert_string_equal(err.field, "mapping.members[0].target_canister");
    assert_non_null(strstr(err.message, t->id[R]));
    sf_buf_free(&plan);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.mapping = map;
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "fixed-identity-remap",
                     &r, &err);
    sf_restore_result_free(&r);
    journal = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    plan_file = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_PLAN_FILE_NAME);
    assert_false(exists(journal));
    assert_false(exists(plan_file));
    free(journal);
    free(plan_file);
    assert_int_equal(t->f.log.len, 0);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
}

/* ---- the bytes uploaded are the bytes that were verified ---- */

static void test_unverified_backup_refused_before_planning(void **state)
{
    rt *t = *state;
    char *file = NULL, *rdir;
    sf_restore_config c;
    sf_restore_result r;
    sf_buf plan;
    sf_error err;
    sf_restore_mode modes[] = {SF_RESTORE_MODE_DRY_RUN, SF_RESTORE_MODE_EXECUTE};
    size_t i;

    backup_and_mutate(t);
    file = sf_rfx_artifact_file(t->out, t->id[C], "wasm_memory.bin");
    sf_rfx_flip_byte(file, 7);
    sf_buf_init(&plan);
    sf_error_clear(&err);
    assert_int_equal(sf_restore_plan_backup(t->out, NULL, &plan, &err), SF_ERR);
    assert_string_equal(err.kind, "checksum-mismatch");
    /* it names the artifact */
    assert_non_null(strstr(err.message, t->id[C]));
    assert_int_equal(plan.len, 0);
    sf_buf_free(&plan);
    sf_fx_stack(&t->f, NULL, false);
    for (i = 0; i < 2; i++) {
        sf_rfx_config(&c, t->out, modes[i]);
        sf_rfx_run_fails(&t->f, &c, modes[i], "checksum-mismatch", &r, &err);
        assert_non_null(strstr(err.message, t->id[C]));
        assert_int_equal(r.executed, 0);
        sf_restore_result_free(&r);
    }
    rdir = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    assert_false(exists(rdir));
    free(rdir);
    assert_int_equal(t->f.log.len, 0);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
    free(file);
}

typedef struct tamper_ctx {
    const char *file;
    int done;
} tamper_ctx;

/* Called after every durable write: once the restore plan is written
 * (planning and the integrity check are over), the first member's bytes
 * change under the runner. */
static void tamper_after_plan(const char *path, void *ctx)
{
    tamper_ctx *tc = ctx;
    const char *base = strrchr(path, '/');

    base = base ? base + 1 : path;
    if (!tc->done && strcmp(base, SF_RESTORE_PLAN_FILE_NAME) == 0) {
        tc->done = 1;
        sf_rfx_flip_byte(tc->file, 3);
    }
}

/* An interrupted upload is resumed from its staged copy, which is checked
 * again first: icp's progress file does not count, a changed byte does. */
static void test_resumed_upload_rechecks_the_staged_copy(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    sf_buf plan;
    cJSON *doc;
    const cJSON *first;
    char cmd[4096];

    backup_and_mutate(t);
    sf_buf_init(&plan);
    assert_int_equal(sf_restore_plan_backup(t->out, NULL, &plan, &err), SF_OK);
    doc = cJSON_Parse(sf_buf_cstr(&plan));
    assert_non_null(doc);
    first = cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "members"), 0);
    /* operation 0 uploads the first member: fake what an interrupted run
     * leaves, the staged copy with icp's progress file, and change a byte */
    snprintf(cmd, sizeof cmd,
             "mkdir -p '%s/restore/staging' && cp -r '%s/%s' '%s/restore/staging/0' && "
             "echo '{}' > '%s/restore/staging/0/.upload_progress.json' && "
             "printf x >> '%s/restore/staging/0/stable_memory.bin'",
             t->out, t->out,
             cJSON_GetObjectItem(cJSON_GetObjectItem(first, "source_snapshot"),
                                 "artifact_path")->valuestring,
             t->out, t->out, t->out);
    cJSON_Delete(doc);
    sf_buf_free(&plan);
    assert_int_equal(system(cmd), 0);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "checksum-mismatch", &r, &err);
    assert_non_null(strstr(err.message, "staged copy"));
    sf_restore_result_free(&r);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "upload"), 0);
}

static void test_tampered_after_planning_refused_at_staging(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_restore_journal j;
    sf_error err;
    tamper_ctx tc;

    backup_and_mutate(t);
    tc.file = sf_rfx_artifact_file(t->out, t->id[R], "wasm_memory.bin");
    tc.done = 0;
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_fs_set_write_hook(tamper_after_plan, &tc);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "checksum-mismatch",
                     &r, &err);
    sf_fs_set_write_hook(NULL, NULL);
    assert_true(tc.done);
    assert_false(r.loads_done);
    assert_int_equal(r.executed, 1);
    sf_restore_result_free(&r);
    /* nothing was uploaded, nothing stopped */
    assert_int_equal(sf_fx_trace_count(&t->f.log, "upload"), 0);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "stop"), 0);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
    sf_rfx_read_journal(t->out, NULL, &j);
    assert_int_equal(j.failed_operations, 1);
    assert_int_equal(j.operations[0].state, SF_RESTORE_FAILED);
    assert_int_equal(j.operations[0].kind, SF_RESTORE_OP_UPLOAD_SNAPSHOT);
    assert_non_null(strstr(j.operations[0].blocking_reasons[0], "checksum mismatch"));
    sf_restore_journal_free(&j);
    /* while the bytes stay wrong, planning refuses every mode */
    sf_buf_reset(&t->f.log);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_RETRY_FAILED, "checksum-mismatch",
                     &r, &err);
    sf_restore_result_free(&r);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "checksum-mismatch",
                     &r, &err);
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
    /* put the byte back: retry, and the restore completes */
    sf_rfx_flip_byte(tc.file, 3);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
    free((char *)tc.file);
}

/* ---- dry run ---- */

static void test_dry_run_touches_nothing(void **state)
{
    rt *t = *state;
    const char *other = sf_fx_path(&t->f, "elsewhere");
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *rdir;
    const char *p;
    size_t i, uploads = 0, loads = 0;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_DRY_RUN);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    /* one command per operation */
    assert_int_equal(count_lines(sf_buf_cstr(&r.commands)), 20);
    for (p = sf_buf_cstr(&r.commands); *p != '\0'; p = strchr(p, '\n') + 1) {
        assert_int_equal(strncmp(p, "icp canister ", 13), 0);
        uploads += strncmp(p, "icp canister snapshot upload ", 29) == 0;
        loads += strncmp(p, "icp canister snapshot restore ", 30) == 0;
    }
    assert_int_equal(uploads, N);
    assert_int_equal(loads, N);
    for (i = 0; i < N; i++)
        assert_non_null(strstr(sf_buf_cstr(&r.commands), t->id[i]));
    assert_null(strstr(sf_buf_cstr(&r.commands), "--resume"));
    assert_false(r.complete);
    assert_int_equal(r.executed, 0);
    assert_string_equal(r.stopped_reason, "preview");
    assert_string_equal(r.next_action, "rerun");
    sf_restore_result_free(&r);
    /* no file, no driver call, no change */
    rdir = sf_rfx_restore_path(t->out, NULL, NULL);
    assert_false(exists(rdir));
    free(rdir);
    assert_int_equal(t->f.log.len, 0);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
    /* nor with a restore directory of its own */
    c.restore_dir = other;
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    sf_restore_result_free(&r);
    assert_false(exists(other));
    assert_int_equal(t->f.log.len, 0);
}

static void test_dry_run_after_progress_shows_uploaded_ids(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *journal, *before;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 4;
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    journal = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    before = sf_rfx_slurp(journal);
    sf_buf_reset(&t->f.log);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_DRY_RUN);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    /* after the uploads the loads name the uploaded snapshots */
    assert_null(strstr(sf_buf_cstr(&r.commands), "<uploaded-snapshot-id>"));
    assert_int_equal(count_lines(sf_buf_cstr(&r.commands)), 20);
    sf_restore_result_free(&r);
    {
        char *after = sf_rfx_slurp(journal);
        assert_string_equal(before, after);
        free(after);
    }
    assert_int_equal(t->f.log.len, 0);
    free(before);
    free(journal);
}

/* ---- uploads ---- */

static void test_upload_first_without_resume(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_journal j;
    sf_buf ops;
    size_t i, k;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    sf_buf_init(&ops);
    sf_fx_trace_ops(&t->f.log, &ops);
    for (i = 0; i < N; i++) {
        char list[128], up[128];
        const char *l, *u;

        assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[i], false), 1);
        assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[i], true), 0);
        /* the snapshot list is recorded before the upload */
        snprintf(list, sizeof list, "list %s\n", t->id[i]);
        snprintf(up, sizeof up, "upload %s\n", t->id[i]);
        l = strstr(sf_buf_cstr(&ops), list);
        u = strstr(sf_buf_cstr(&ops), up);
        assert_non_null(l);
        assert_non_null(u);
        assert_true(l < u);
    }
    sf_buf_free(&ops);
    /* the receipts record the command that ran: no --resume */
    sf_rfx_read_journal(t->out, NULL, &j);
    for (i = 0; i < j.receipt_count; i++) {
        const sf_restore_receipt *rc = &j.receipts[i];

        assert_non_null(rc->command);
        if (rc->kind != SF_RESTORE_OP_UPLOAD_SNAPSHOT)
            continue;
        assert_non_null(rc->uploaded_snapshot_id);
        for (k = 0; k < rc->command->arg_count; k++)
            assert_string_not_equal(rc->command->args[k], "--resume");
    }
    sf_restore_journal_free(&j);
}

/* The receipt records the argv the driver runs: a restore directory
 * with a space in its name is one argument, not two quoted halves. */
static void test_receipt_args_are_the_argv(void **state)
{
    rt *t = *state;
    char dir[1200], staged[1300];
    sf_restore_config c;
    sf_restore_journal j;
    size_t i, k;
    bool found = false;

    snprintf(dir, sizeof dir, "%s", sf_fx_path(&t->f, "my restore"));
    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.restore_dir = dir;
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once_in(t, dir);
    snprintf(staged, sizeof staged, "%s/staging/0", dir);
    sf_rfx_read_journal(t->out, dir, &j);
    for (i = 0; i < j.receipt_count; i++) {
        const sf_restore_command *cmd = j.receipts[i].command;

        if (j.receipts[i].sequence != 0)
            continue;
        assert_non_null(cmd);
        assert_string_equal(cmd->program, "icp");
        for (k = 0; k < cmd->arg_count; k++)
            found = found || strcmp(cmd->args[k], staged) == 0;
        /* Regression (fixed): command_for() in core/engine/restore_run.c splits the driver's
         * shell-quoted rendering on spaces, so the receipt holds
         * "'<dir>/my" and "restore/staging/0'" instead of the path. */
        if (!found) {
            for (k = 0; k < cmd->arg_count; k++)
                print_error("arg %zu: %s\n", k, cmd->args[k]);
            sf_restore_journal_free(&j);
            fail_msg("the upload receipt does not hold %s as one argument",
                     staged);
        }
    }
    sf_restore_journal_free(&j);
}

/* ---- lost responses ---- */

static void lost_response_case(rt *t, const char *op, size_t target)
{
    char faults[200];
    sf_restore_config c;

    backup_and_mutate(t);
    snprintf(faults, sizeof faults, "%s:%s:1=lost-response", op, t->id[target]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    assert_int_equal(sf_rfx_run_complete(&t->f, &c), 20);
    assert_restored_once(t);
}

static void test_lost_response_upload(void **state)
{
    rt *t = *state;

    lost_response_case(t, "upload", A);
    /* without icp's reply nothing proves the new snapshot whole (a lost
     * reply to the metadata call leaves an empty one, and no progress
     * file either way): deleted, uploaded again, never resumed */
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[A], false), 2);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[A], true), 0);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "delete", t->id[A], false), 1);
    assert_int_equal(sf_fx_new_snapshots(t->f.before, t->f.sim, t->id[A]), 1);
}

static void test_lost_response_load(void **state)
{
    rt *t = *state;

    lost_response_case(t, "load", A);
    /* repeated once while the canister stayed stopped */
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "load", t->id[A], false), 2);
}

static void test_lost_response_stop(void **state)
{
    rt *t = *state;

    lost_response_case(t, "stop", A);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[A], false), 1);
}

static void test_lost_response_start(void **state)
{
    rt *t = *state;

    lost_response_case(t, "start", A);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[A], false), 1);
}

static void test_lost_upload_then_failed_listing_replaced_by_retry(void **state)
{
    rt *t = *state;
    char faults[300];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    /* the upload happens but its response is lost, and the listing that
     * would find it fails: the operation fails */
    snprintf(faults, sizeof faults, "upload:%s:1=lost-response,list:%s:2=permanent",
             t->id[A], t->id[A]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "driver-permanent", &r, &err);
    sf_restore_result_free(&r);
    assert_int_equal(sf_fx_new_snapshots(t->f.before, t->f.sim, t->id[A]), 1);
    /* the retry finds the snapshot by listing; nothing proves it whole,
     * so it is deleted and the upload made again */
    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "delete", t->id[A], false), 1);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[A], false), 1);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "upload", t->id[A], true), 0);
    assert_int_equal(sf_fx_new_snapshots(t->f.before, t->f.sim, t->id[A]), 1);
    assert_restored_once(t);
}

static void test_start_decided_by_status(void **state)
{
    rt *t = *state;
    sf_restore_config c;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 12; /* uploads, stops, loads */
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    /* someone starts A after its load */
    sf_fx_unstack(&t->f);
    sf_fx_set_status(&t->f, t->id[A], SF_STATUS_RUNNING);
    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    c.max_steps = 0;
    assert_int_equal(sf_rfx_run_complete(&t->f, &c), 8);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[A], false), 0);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[B], false), 1);
    assert_restored_once(t);
}

/* ---- every fault effect on every operation kind ---- */

typedef enum { ONE_RUN, FAILS, EITHER } expect;

typedef struct matrix_row {
    const char *op;     /* driver operation */
    const char *effect; /* fault effect */
    unsigned nth;       /* 0: every call */
    expect want;
    const char *failed; /* the restore operation that fails, when FAILS */
} matrix_row;

static const matrix_row rows[] = {
    {"upload", "transient", 1, ONE_RUN, NULL},
    {"upload", "permanent", 1, FAILS, "upload-snapshot"},
    {"upload", "lost-response", 1, ONE_RUN, NULL},
    {"stop", "transient", 1, ONE_RUN, NULL},
    {"stop", "permanent", 1, FAILS, "stop-canister"},
    {"stop", "lost-response", 1, ONE_RUN, NULL},
    {"stop", "transient", 0, FAILS, "stop-canister"},
    {"load", "transient", 1, ONE_RUN, NULL},
    {"load", "permanent", 1, FAILS, "load-snapshot"},
    {"load", "lost-response", 1, ONE_RUN, NULL},
    {"start", "transient", 1, ONE_RUN, NULL},
    {"start", "permanent", 1, FAILS, "start-canister"},
    {"start", "lost-response", 1, ONE_RUN, NULL},
    {"status", "transient", 1, ONE_RUN, NULL},
    {"status", "permanent", 1, FAILS, "stop-canister"},
    {"status", "lost-response", 1, EITHER, NULL},
    {"status", "permanent", 5, FAILS, "verify-member"},
    {"status", "lost-response", 5, EITHER, NULL},
    {"list", "transient", 1, ONE_RUN, NULL},
    {"list", "permanent", 1, FAILS, "upload-snapshot"},
    {"list", "lost-response", 1, EITHER, NULL},
    /* every reply lost: nothing ever proves an upload whole */
    {"upload", "lost-response", 0, FAILS, "upload-snapshot"},
    {"upload", "lost-metadata-response", 1, ONE_RUN, NULL},
    {"upload", "lost-metadata-response", 0, FAILS, "upload-snapshot"},
    {"upload", "cut", 1, ONE_RUN, NULL},
    {"stop", "lost-response", 0, ONE_RUN, NULL},
    {"load", "lost-response", 0, FAILS, "load-snapshot"},
    {"start", "lost-response", 0, ONE_RUN, NULL},
};

/* A row, with one job or with 4 (several in flight beside the fault). */
typedef struct matrix_case {
    const matrix_row *row;
    unsigned jobs;
} matrix_case;

static void test_fault_matrix(void **state)
{
    rt *t = *state;
    const matrix_case *mc = t->param;
    const matrix_row *row = mc->row;
    char faults[200];
    sf_restore_config c;
    sf_restore_result r, st;
    sf_restore_journal j;
    sf_error err;
    int rc;
    bool loads_done;

    backup_and_mutate(t);
    if (row->nth != 0)
        snprintf(faults, sizeof faults, "%s:%s:%u=%s", row->op, t->id[A],
                 row->nth, row->effect);
    else
        snprintf(faults, sizeof faults, "%s:%s=%s", row->op, t->id[A],
                 row->effect);
    print_message("faults %s, jobs %u\n", faults, mc->jobs);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.jobs = mc->jobs;
    rc = sf_rfx_run(&t->f, &c, &r, &err);
    loads_done = r.loads_done;
    print_message("%s\n", rc == SF_OK ? "completed in one run" : err.message);
    if (rc == SF_OK) {
        assert_true(r.complete);
        sf_restore_result_free(&r);
        if (row->want == FAILS)
            fail_msg("%s: the restore completed; it should have failed", faults);
        assert_restored_once(t);
        return;
    }
    sf_restore_result_free(&r);
    if (row->want == ONE_RUN)
        fail_msg("%s: the restore failed: %s (%s)", faults, err.message,
                 err.kind ? err.kind : "?");
    /* a clean failure: a kind, one failed operation, nothing pending */
    assert_non_null(err.kind);
    sf_rfx_read_journal(t->out, NULL, &j);
    assert_int_equal(j.failed_operations, 1);
    assert_int_equal(j.pending_operations, 0);
    if (row->failed != NULL) {
        /* the failed one (with one job also the next: nothing passes it) */
        const sf_restore_journal_op *op = NULL;
        size_t i;

        for (i = 0; i < j.operations_len && op == NULL; i++)
            if (j.operations[i].state == SF_RESTORE_FAILED)
                op = &j.operations[i];
        assert_non_null(op);
        if (mc->jobs <= 1)
            assert_ptr_equal(op, sf_restore_journal_next_transition(&j));
        assert_int_equal(op->state, SF_RESTORE_FAILED);
        assert_string_equal(sf_restore_op_kind_name(op->kind), row->failed);
        assert_string_equal(op->target_canister, t->id[A]);
    }
    sf_restore_journal_free(&j);
    assert_int_equal(sf_restore_status(t->out, NULL, &st, &err), SF_OK);
    assert_false(st.complete);
    assert_string_equal(st.next_action, "inspect-failed-operation");
    assert_int_equal(st.loads_done, loads_done);
    sf_restore_result_free(&st);
    /* before any load, whatever the restore stopped runs again */
    if (!loads_done)
        sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    /* an operator fixes the cause, retries the failed operation, runs */
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "failed", &r, &err);
    assert_int_equal(r.executed, 0);
    sf_restore_result_free(&r);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
    /* the failed attempt and the one that worked are both on record */
    sf_rfx_read_journal(t->out, NULL, &j);
    {
        size_t i, failed = 0, retried = 0;

        for (i = 0; i < j.receipt_count; i++) {
            const sf_restore_receipt *rec = &j.receipts[i];

            if (rec->outcome == SF_RESTORE_COMMAND_FAILED) {
                failed++;
                assert_int_equal(rec->attempt, 1);
                assert_non_null(rec->failure_reason);
                assert_string_equal(rec->status, "1");
            } else if (rec->attempt != 1) {
                retried++;
                assert_int_equal(rec->attempt, 2);
            }
        }
        assert_int_equal(failed, 1);
        assert_int_equal(retried, 1);
    }
    sf_restore_journal_free(&j);
}

/* ---- containment ---- */

static void test_failure_before_load_restarts_what_was_stopped(void **state)
{
    rt *t = *state;
    char faults[200];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    /* R and A are stopped by then; B's stop is refused */
    snprintf(faults, sizeof faults, "stop:%s:1=permanent", t->id[B]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "driver-permanent", &r, &err);
    assert_false(r.loads_done);
    assert_false(r.complete);
    assert_string_equal(r.stopped_reason, "command-failed");
    assert_string_equal(r.next_action, "inspect-failed-operation");
    assert_int_equal(r.executed, 7);
    sf_restore_result_free(&r);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[R], false), 1);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[A], false), 1);
    assert_int_equal(sf_fx_trace_count(&t->f.log, "load"), 0);
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_OK);
    assert_false(r.loads_done);
    sf_restore_result_free(&r);
    sf_fx_stack(&t->f, NULL, false);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
}

static void test_failure_after_load_leaves_stopped(void **state)
{
    rt *t = *state;
    char faults[200];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    size_t i;

    backup_and_mutate(t);
    /* R and A are loaded by then; B's load is refused */
    snprintf(faults, sizeof faults, "load:%s:1=permanent", t->id[B]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "driver-permanent", &r, &err);
    assert_non_null(strstr(err.message, "already loaded"));
    assert_true(r.loads_done);
    assert_false(r.complete);
    sf_restore_result_free(&r);
    /* Per canister (issue #5: "unless ITS load already happened"): R and A
     * were loaded, so the operator decides and they stay stopped; B's load
     * was refused and C's never sent, so they go back to how they were
     * before the restore. */
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[R], false), 0);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[A], false), 0);
    assert_int_equal(sf_fx_status(t->f.sim, t->id[R]), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(t->f.sim, t->id[A]), SF_STATUS_STOPPED);
    for (i = B; i < N; i++)
        assert_int_equal(sf_fx_status(t->f.sim, t->id[i]),
                         sf_fx_status(t->f.before, t->id[i]));
    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_OK);
    assert_true(r.loads_done);
    assert_false(r.complete);
    assert_string_equal(r.next_action, "inspect-failed-operation");
    sf_restore_result_free(&r);
    sf_fx_stack(&t->f, NULL, false);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
}

static void test_containment_leaves_stopped_canister_stopped(void **state)
{
    rt *t = *state;
    char faults[200];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    size_t i;

    sf_rfx_backup(&t->f, t->out, NULL, &t->cap);
    sf_rfx_mutate(&t->f, t->id[R]);
    sf_rfx_mutate(&t->f, t->id[A]);
    /* an operator stopped A after the backup */
    sf_fx_set_status(&t->f, t->id[A], SF_STATUS_STOPPED);
    sf_fx_snap_before(&t->f);
    snprintf(faults, sizeof faults, "stop:%s:1=permanent", t->id[B]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "driver-permanent", &r, &err);
    assert_false(r.loads_done);
    sf_restore_result_free(&r);
    /* R runs again, A stays as the operator left it */
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[R], false), 1);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "start", t->id[A], false), 0);
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    sf_fx_stack(&t->f, NULL, false);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    for (i = 0; i < N; i++) {
        sf_rfx_member now;

        sf_rfx_member_now(t->f.sim, t->id[i], &now);
        assert_string_equal(now.digest, t->cap.m[i].digest);
        assert_string_equal(now.module_hash, t->cap.m[i].module_hash);
    }
    sf_rfx_assert_statuses_as(t->f.before, t->f.sim);
    sf_rfx_assert_one_new_snapshot(t->f.before, t->f.sim, t->ids, N);
}

/* ---- modes that have nothing to do ---- */

static void test_unclaim_without_pending_fails_cleanly(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_UNCLAIM_PENDING);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_UNCLAIM_PENDING,
                     "no-pending-operation", &r, &err);
    assert_int_equal(r.executed, 0);
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
    /* a recovery mode creates nothing where no restore has started */
    {
        char path[1024];
        snprintf(path, sizeof path, "%s/restore/restore-apply-journal.json", t->out);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    /* a half-done restore has nothing pending either */
    c.mode = SF_RESTORE_MODE_EXECUTE;
    c.max_steps = 3;
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_UNCLAIM_PENDING,
                     "no-pending-operation", &r, &err);
    sf_restore_result_free(&r);
    /* and a complete one has nothing at all to advance */
    c.max_steps = 0;
    sf_rfx_run_complete(&t->f, &c);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_UNCLAIM_PENDING,
                     "no-transitionable-operation", &r, &err);
    sf_restore_result_free(&r);
    sf_rfx_assert_journal_complete(t->out, NULL);
}

static void test_retry_without_failed_fails_cleanly(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *journal, *before, *after;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_RETRY_FAILED,
                     "no-failed-operation", &r, &err);
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
    c.mode = SF_RESTORE_MODE_EXECUTE;
    c.max_steps = 2;
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    journal = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    before = sf_rfx_slurp(journal);
    sf_buf_reset(&t->f.log);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_RETRY_FAILED,
                     "no-failed-operation", &r, &err);
    sf_restore_result_free(&r);
    after = sf_rfx_slurp(journal);
    assert_string_equal(before, after);
    assert_int_equal(t->f.log.len, 0);
    free(before);
    free(after);
    free(journal);
    c.max_steps = 0;
    sf_rfx_run_complete(&t->f, &c);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_RETRY_FAILED,
                     "no-failed-operation", &r, &err);
    sf_restore_result_free(&r);
}

static void test_execute_refuses_failed_journal(void **state)
{
    rt *t = *state;
    char faults[200];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    snprintf(faults, sizeof faults, "upload:%s:1=permanent", t->id[B]);
    sf_fx_stack(&t->f, faults, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "driver-permanent", &r, &err);
    sf_restore_result_free(&r);
    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "failed", &r, &err);
    assert_non_null(strstr(err.message, "--retry-failed"));
    assert_int_equal(r.executed, 0);
    assert_string_equal(r.next_action, "inspect-failed-operation");
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
}

/* ---- one restore directory, one plan ---- */

static void test_other_mapping_into_same_dir_refused(void **state)
{
    rt *t = *state;
    const char *src[N], *dst[N];
    const char *map = sf_fx_path(&t->f, "swap.json");
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *journal, *before, *after;
    size_t i;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 2;
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    journal = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    before = sf_rfx_slurp(journal);
    sf_buf_reset(&t->f.log);
    for (i = 0; i < N; i++)
        src[i] = dst[i] = t->id[i];
    dst[A] = t->id[C]; /* both relocatable: a valid plan, another plan */
    dst[C] = t->id[A];
    sf_rfx_write_mapping(map, src, dst, N);
    c.mapping = map;
    c.max_steps = 0;
    {
        sf_restore_mode modes[] = {SF_RESTORE_MODE_EXECUTE,
                                   SF_RESTORE_MODE_UNCLAIM_PENDING,
                                   SF_RESTORE_MODE_RETRY_FAILED};
        for (i = 0; i < 3; i++) {
            sf_rfx_run_fails(&t->f, &c, modes[i], "restore-plan-mismatch", &r, &err);
            sf_restore_result_free(&r);
        }
    }
    after = sf_rfx_slurp(journal);
    assert_string_equal(before, after);
    assert_int_equal(t->f.log.len, 0);
    /* the same mapping given as an identity is still another plan */
    for (i = 0; i < N; i++)
        dst[i] = t->id[i];
    sf_rfx_write_mapping(map, src, dst, N);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "restore-plan-mismatch",
                     &r, &err);
    sf_restore_result_free(&r);
    /* the original plan still finishes */
    c.mapping = NULL;
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
    free(before);
    free(after);
    free(journal);
}

static void test_restore_dir_locked(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    sf_lock lock = SF_LOCK_INIT;
    char *dir;

    backup_and_mutate(t);
    dir = sf_rfx_restore_path(t->out, NULL, NULL);
    if (sf_lock_acquire(dir, &lock, &err) != SF_OK)
        fail_msg("lock: %s", err.message);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "journal-locked", &r, &err);
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
    sf_lock_release(&lock);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
    free(dir);
}

/* ---- pauses and reruns ---- */

static void test_max_steps_pauses_and_rerun_completes(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_restore_journal j;
    sf_error err;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 6;
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_false(r.complete);
    assert_int_equal(r.executed, 6);
    assert_string_equal(r.stopped_reason, "max-steps-reached");
    assert_string_equal(r.next_action, "rerun");
    assert_false(r.loads_done);
    sf_restore_result_free(&r);
    sf_rfx_read_journal(t->out, NULL, &j);
    assert_int_equal(j.completed_operations, 6);
    assert_int_equal(j.pending_operations, 0);
    sf_restore_journal_free(&j);
    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_OK);
    assert_false(r.complete);
    assert_string_equal(r.next_action, "rerun");
    sf_restore_result_free(&r);
    c.max_steps = 0;
    assert_int_equal(sf_rfx_run_complete(&t->f, &c), 14);
    assert_restored_once(t);
}

static void test_complete_rerun_executes_nothing(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *journal, *obs, *before, *obs_before, *after;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    sf_rfx_run_complete(&t->f, &c);
    journal = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_JOURNAL_FILE_NAME);
    obs = sf_rfx_restore_path(t->out, NULL, SF_RESTORE_OBSERVATIONS_FILE_NAME);
    before = sf_rfx_slurp(journal);
    obs_before = sf_rfx_slurp(obs);
    sf_fx_snap_before(&t->f);
    sf_buf_reset(&t->f.log);
    assert_int_equal(sf_rfx_run(&t->f, &c, &r, &err), SF_OK);
    assert_true(r.complete);
    assert_int_equal(r.executed, 0);
    assert_string_equal(r.stopped_reason, "complete");
    sf_restore_result_free(&r);
    assert_int_equal(t->f.log.len, 0);
    after = sf_rfx_slurp(journal);
    assert_string_equal(before, after);
    free(after);
    after = sf_rfx_slurp(obs);
    assert_string_equal(obs_before, after);
    free(after);
    sf_rfx_assert_untouched_except(t->f.before, t->f.sim, NULL, 0);
    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_OK);
    assert_true(r.complete);
    assert_string_equal(r.next_action, "done");
    sf_restore_result_free(&r);
    free(before);
    free(obs_before);
    free(journal);
    free(obs);
}

static void test_status_without_restore(void **state)
{
    rt *t = *state;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    sf_error_clear(&err);
    assert_int_equal(sf_restore_status(t->out, NULL, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "no-restore");
    sf_restore_result_free(&r);
    sf_error_clear(&err);
    assert_int_equal(sf_restore_status(sf_fx_path(&t->f, "nope"), NULL, &r, &err),
                     SF_ERR);
    assert_non_null(err.kind);
    sf_restore_result_free(&r);
}

static void test_own_restore_dir(void **state)
{
    rt *t = *state;
    const char *dir = sf_fx_path(&t->f, "my-restore");
    char dir_copy[1200];
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    char *inside;

    snprintf(dir_copy, sizeof dir_copy, "%s", dir);
    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.restore_dir = dir_copy;
    sf_rfx_run_complete(&t->f, &c);
    sf_rfx_assert_restored(t->f.sim, &t->cap, NULL);
    sf_rfx_assert_journal_complete(t->out, dir_copy);
    inside = sf_rfx_restore_path(t->out, NULL, NULL);
    assert_false(exists(inside));
    free(inside);
    assert_int_equal(sf_restore_status(t->out, dir_copy, &r, &err), SF_OK);
    assert_true(r.complete);
    sf_restore_result_free(&r);
}

/* ---- the load precondition and the verification step ---- */

static void test_load_stops_again_what_was_started(void **state)
{
    rt *t = *state;
    sf_restore_config c;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 8; /* uploads and stops */
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    assert_int_equal(sf_fx_status(t->f.sim, t->id[A]), SF_STATUS_STOPPED);
    /* someone starts A before its load */
    sf_fx_unstack(&t->f);
    sf_fx_set_status(&t->f, t->id[A], SF_STATUS_RUNNING);
    sf_fx_stack(&t->f, NULL, false);
    sf_buf_reset(&t->f.log);
    c.max_steps = 0;
    sf_rfx_run_complete(&t->f, &c);
    assert_int_equal(sf_rfx_trace_count_on(&t->f.log, "stop", t->id[A], false), 1);
    assert_restored_once(t);
}

static void test_verification_checks_status(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 16; /* all but the verifications */
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    sf_fx_unstack(&t->f);
    sf_fx_set_status(&t->f, t->id[A], SF_STATUS_STOPPED);
    sf_fx_stack(&t->f, NULL, false);
    c.max_steps = 0;
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "verification-failed",
                     &r, &err);
    assert_non_null(strstr(err.message, t->id[A]));
    assert_non_null(strstr(err.message, "stopped"));
    assert_true(r.loads_done);
    sf_restore_result_free(&r);
    /* nothing is started behind the operator's back */
    assert_int_equal(sf_fx_status(t->f.sim, t->id[A]), SF_STATUS_STOPPED);
    sf_fx_unstack(&t->f);
    sf_fx_set_status(&t->f, t->id[A], SF_STATUS_RUNNING);
    sf_fx_stack(&t->f, NULL, false);
    run_ok(t, &c, SF_RESTORE_MODE_RETRY_FAILED);
    sf_rfx_run_complete(&t->f, &c);
    assert_restored_once(t);
}

static void test_verification_checks_module_hash(void **state)
{
    rt *t = *state;
    sf_restore_config c;
    sf_restore_result r;
    sf_error err;
    size_t i, changed = N;

    backup_and_mutate(t);
    sf_fx_stack(&t->f, NULL, false);
    sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
    c.max_steps = 16;
    run_ok(t, &c, SF_RESTORE_MODE_EXECUTE);
    sf_fx_unstack(&t->f);
    /* another module version lands on one canister before verification */
    if (sf_sim_topology_change(t->f.sim, "module-hash", &err) != SF_OK)
        fail_msg("module-hash: %s", err.message);
    sf_fx_save(&t->f);
    for (i = 0; i < N; i++) {
        sf_rfx_member now;
        sf_rfx_member_now(t->f.sim, t->id[i], &now);
        if (strcmp(now.module_hash, t->cap.m[i].module_hash) != 0)
            changed = i;
    }
    assert_true(changed < N);
    sf_fx_stack(&t->f, NULL, false);
    c.max_steps = 0;
    sf_rfx_run_fails(&t->f, &c, SF_RESTORE_MODE_EXECUTE, "verification-failed",
                     &r, &err);
    assert_non_null(strstr(err.message, t->id[changed]));
    assert_non_null(strstr(err.message, t->cap.m[changed].module_hash));
    sf_restore_result_free(&r);
}

/* ---- the error argument is optional ---- */

static void test_failure_with_null_error(void **state)
{
    rt *t = *state;
    char faults[200];
    pid_t pid;
    int status;

    backup_and_mutate(t);
    snprintf(faults, sizeof faults, "upload:%s:1=permanent", t->id[A]);
    sf_fx_stack(&t->f, faults, false);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sf_restore_config c;
        sf_restore_result r;
        int rc;

        sf_rfx_config(&c, t->out, SF_RESTORE_MODE_EXECUTE);
        rc = sf_restore_run(&c, t->f.top, &t->f.clock, &r, NULL);
        sf_restore_result_free(&r);
        _exit(rc == SF_ERR ? 0 : 3);
    }
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    /* Regression (fixed): run_execute copies *err (`cause = *err`) after a failed
     * operation, so a caller passing a NULL sf_error (optional by the
     * error.h contract) crashes instead of getting SF_ERR. */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("sf_restore_run with err == NULL: %s %d",
                 WIFSIGNALED(status) ? "killed by signal" : "exit",
                 WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
/* every row with one job, then with 4 */
static const matrix_case cases[] = {
#define C(i) {&rows[i], 1}, {&rows[i], 4}
    C(0), C(1), C(2), C(3), C(4), C(5), C(6), C(7), C(8), C(9), C(10),
    C(11), C(12), C(13), C(14), C(15), C(16), C(17), C(18), C(19), C(20),
    C(21), C(22), C(23), C(24), C(25), C(26), C(27),
#undef C
};
#define M(i)                                                                    \
    {"fault_matrix_" #i, test_fault_matrix, setup, teardown,                    \
     (void *)&cases[2 * (i)]},                                                  \
    {"fault_matrix_" #i "_jobs_4", test_fault_matrix, setup, teardown,          \
     (void *)&cases[2 * (i) + 1]}

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_in_place_restores_mutated_fleet),
        T(test_stopped_before_restore_stays_stopped),
        T(test_fixed_root_restores_in_place),
        T(test_relocates_single_member),
        T(test_relocates_subtree_by_swapping),
        T(test_fixed_identity_remap_refused),
        T(test_unverified_backup_refused_before_planning),
        T(test_tampered_after_planning_refused_at_staging),
        T(test_resumed_upload_rechecks_the_staged_copy),
        T(test_dry_run_touches_nothing),
        T(test_dry_run_after_progress_shows_uploaded_ids),
        T(test_upload_first_without_resume),
        T(test_receipt_args_are_the_argv),
        T(test_lost_response_upload),
        T(test_lost_response_load),
        T(test_lost_response_stop),
        T(test_lost_response_start),
        T(test_lost_upload_then_failed_listing_replaced_by_retry),
        T(test_start_decided_by_status),
        M(0), M(1), M(2), M(3), M(4), M(5), M(6), M(7), M(8), M(9), M(10),
        M(11), M(12), M(13), M(14), M(15), M(16), M(17), M(18), M(19), M(20),
        M(21), M(22), M(23), M(24), M(25), M(26), M(27),
        T(test_failure_before_load_restarts_what_was_stopped),
        T(test_failure_after_load_leaves_stopped),
        T(test_containment_leaves_stopped_canister_stopped),
        T(test_unclaim_without_pending_fails_cleanly),
        T(test_retry_without_failed_fails_cleanly),
        T(test_execute_refuses_failed_journal),
        T(test_other_mapping_into_same_dir_refused),
        T(test_restore_dir_locked),
        T(test_max_steps_pauses_and_rerun_completes),
        T(test_complete_rerun_executes_nothing),
        T(test_status_without_restore),
        T(test_own_restore_dir),
        T(test_load_stops_again_what_was_started),
        T(test_verification_checks_status),
        T(test_verification_checks_module_hash),
        T(test_failure_with_null_error),
    };

    _Static_assert(sizeof rows / sizeof rows[0] == 28, "one M() per row");
    _Static_assert(sizeof cases / sizeof cases[0] == 2 * 28, "two per row");
    return cmocka_run_group_tests(tests, NULL, NULL);
}
