/* canic's documents when memory runs out (tests/support/oom.h): every
 * valid sample of the manifest, download journal, backup plan, execution
 * journal, restore plan and restore apply journal is read, validated,
 * copied (where the document has a copy) and written back, with each of
 * its allocations made to fail in turn. Each run either gives the same
 * bytes as without a failure, or fails with kind "out-of-memory" and
 * leaks nothing (ASan). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oom.h"
#include "snapfleet/buf.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/manifest.h"
#include "snapfleet/plan.h"
#include "snapfleet/restore_journal.h"
#include "snapfleet/restore_plan.h"

typedef int (*round_trip_fn)(const char *path, sf_buf *out, sf_error *err);

/* read, validate, copy, write the copy; everything freed */
#define ROUND_TRIP(name, type, read, validate, copy, write, release)      \
    static int name(const char *path, sf_buf *out, sf_error *err)         \
    {                                                                      \
        type a, b;                                                         \
        int rc;                                                            \
                                                                           \
        if (read(path, &a, err) != SF_OK)                                  \
            return SF_ERR;                                                 \
        rc = validate(&a, err);                                            \
        if (rc == SF_OK && (rc = copy(&b, &a, err)) == SF_OK) {            \
            rc = write(&b, out, err);                                      \
            release(&b);                                                   \
        }                                                                  \
        release(&a);                                                       \
        return rc;                                                         \
    }

/* For documents without a copy function: write the one read. */
#define ROUND_TRIP_NO_COPY(name, type, read, validate, write, release)    \
    static int name(const char *path, sf_buf *out, sf_error *err)         \
    {                                                                      \
        type a;                                                            \
        int rc;                                                            \
                                                                           \
        if (read(path, &a, err) != SF_OK)                                  \
            return SF_ERR;                                                 \
        rc = validate(&a, err);                                            \
        if (rc == SF_OK)                                                   \
            rc = write(&a, out, err);                                      \
        release(&a);                                                       \
        return rc;                                                         \
    }

ROUND_TRIP(manifest_rt, sf_manifest, sf_manifest_read_file,
           sf_manifest_validate, sf_manifest_copy, sf_manifest_write_json,
           sf_manifest_free)
ROUND_TRIP_NO_COPY(journal_rt, sf_download_journal,
                   sf_download_journal_read_file, sf_download_journal_validate,
                   sf_download_journal_write_json, sf_download_journal_free)
ROUND_TRIP(plan_rt, sf_plan, sf_plan_read_file, sf_plan_validate,
           sf_plan_copy, sf_plan_write_json, sf_plan_free)
ROUND_TRIP(execjournal_rt, sf_exec_journal, sf_exec_journal_read_file,
           sf_exec_journal_validate, sf_exec_journal_copy,
           sf_exec_journal_write_json, sf_exec_journal_free)
ROUND_TRIP_NO_COPY(restore_plan_rt, sf_restore_plan, sf_restore_plan_read_file,
                   sf_restore_plan_validate, sf_restore_plan_write_json,
                   sf_restore_plan_free)
ROUND_TRIP(restore_journal_rt, sf_restore_journal,
           sf_restore_journal_read_file, sf_restore_journal_validate,
           sf_restore_journal_copy, sf_restore_journal_write_json,
           sf_restore_journal_free)

typedef struct doc_ctx {
    round_trip_fn fn;
    const char *path;
    sf_buf out;
    char *want; /* the bytes of a run with nothing failing */
} doc_ctx;

static int body(void *ctx, sf_error *err)
{
    doc_ctx *d = ctx;

    sf_buf_init(&d->out);
    return d->fn(d->path, &d->out, err);
}

static void check_ok(void *ctx)
{
    doc_ctx *d = ctx;

    assert_string_equal(sf_buf_cstr(&d->out), d->want);
}

static void cleanup(void *ctx)
{
    doc_ctx *d = ctx;

    sf_buf_free(&d->out);
}

/* Sweeps every valid-*.json under $SF_TEST_DATA/sub. */
static void sweep_dir(const char *sub, round_trip_fn fn)
{
    const char *data = getenv("SF_TEST_DATA");
    char dir[1024], path[2048];
    struct dirent *de;
    size_t files = 0;
    DIR *dh;

    assert_non_null(data);
    snprintf(dir, sizeof dir, "%s/%s", data, sub);
    dh = opendir(dir);
    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL) {
        doc_ctx d = {0};
        sf_oom_case c = {path, NULL, body, check_ok, NULL, cleanup};
        sf_error err;

        if (strncmp(de->d_name, "valid-", 6) != 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        d.fn = fn;
        d.path = path;
        if (body(&d, &err) != SF_OK)
            fail_msg("%s: %s", path, err.message);
        d.want = strdup(sf_buf_cstr(&d.out));
        assert_non_null(d.want);
        cleanup(&d);
        assert_true(sf_oom_sweep(&c, &d, false) > 5);
        free(d.want);
        files++;
    }
    closedir(dh);
    assert_true(files > 0);
}

static void test_manifests(void **state)
{
    (void)state;
    sweep_dir("manifests", manifest_rt);
}

static void test_download_journals(void **state)
{
    (void)state;
    sweep_dir("journals", journal_rt);
}

static void test_plans(void **state)
{
    (void)state;
    sweep_dir("plans", plan_rt);
}

static void test_execution_journals(void **state)
{
    (void)state;
    sweep_dir("execjournals", execjournal_rt);
}

static void test_restore_plans(void **state)
{
    (void)state;
    sweep_dir("restore/plan", restore_plan_rt);
}

static void test_restore_journals(void **state)
{
    (void)state;
    sweep_dir("restore/journal", restore_journal_rt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifests),
        cmocka_unit_test(test_download_journals),
        cmocka_unit_test(test_plans),
        cmocka_unit_test(test_execution_journals),
        cmocka_unit_test(test_restore_plans),
        cmocka_unit_test(test_restore_journals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
