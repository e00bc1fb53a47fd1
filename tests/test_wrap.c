/* Driver wrappers (wrap.h): fault injection, retry, trace, over the
 * scripted mock driver. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mock_driver.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/wrap.h"

#define CID_A "renrk-eyaaa-aaaaa-aaada-cai"
#define CID_B "rno2w-sqaaa-aaaaa-aaacq-cai"
#define SNAP "0a0b0c0d"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- a fake clock: time moves only when someone sleeps ---- */

typedef struct fake_clock {
    uint64_t now;
    uint64_t sleeps[64];
    size_t nsleeps;
} fake_clock;

static uint64_t fake_now(void *ctx)
{
    return ((fake_clock *)ctx)->now;
}

static void fake_sleep(void *ctx, uint64_t ms)
{
    fake_clock *c = ctx;

    if (c->nsleeps < 64)
        c->sleeps[c->nsleeps++] = ms;
    c->now += ms;
}

static sf_clock clock_of(fake_clock *c)
{
    sf_clock k = {fake_now, fake_sleep, c};
    return k;
}

/* ---- helpers ---- */

/* The fault tests run twice: through wait(), and through wait_for()
 * (every entry point joins the fault matrix). */
static bool via_wait_for;

static int wait_any(sf_driver *d, uint64_t *ticket, sf_result *r,
                    sf_error *err)
{
    bool timed_out = true;

    if (!via_wait_for)
        return sf_driver_wait(d, ticket, r, err);
    if (sf_driver_wait_for(d, 60000, ticket, r, &timed_out, err) != SF_OK)
        return SF_ERR;
    assert_false(timed_out);
    return SF_OK;
}

/* sf_driver_run through wait_any. */
static int run_any(sf_driver *d, const sf_op *op, sf_result *r, sf_error *err)
{
    uint64_t t, got;

    sf_result_init(r, op->kind);
    if (sf_driver_submit(d, op, &t, err) != SF_OK ||
        wait_any(d, &got, r, err) != SF_OK)
        return SF_ERR;
    assert_true(got == t);
    return SF_OK;
}

static sf_fault_plan *plan_of(const char *spec)
{
    sf_fault_plan *p = NULL;
    sf_error err;

    if (sf_fault_plan_parse(spec, &p, &err) != SF_OK)
        fail_msg("plan `%s`: %s", spec, err.message);
    return p;
}

static void make_op(sf_op *op, sf_op_kind kind, const char *canister,
                    const char *path)
{
    const char *snap = kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
                               kind == SF_OP_DELETE
                           ? SNAP
                           : NULL;
    const char *dir = path;
    sf_error err;

    if (dir == NULL && (kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD))
        dir = "/nonexistent-sf-test-dir";
    if (sf_op_init(op, kind, canister, snap, dir, &err) != SF_OK)
        fail_msg("sf_op_init: %s", err.message);
}

static uint64_t submit(sf_driver *d, sf_op_kind kind, const char *canister)
{
    sf_op op;
    uint64_t t;
    sf_error err;

    make_op(&op, kind, canister, NULL);
    if (sf_driver_submit(d, &op, &t, &err) != SF_OK)
        fail_msg("submit: %s", err.message);
    return t;
}

/* Waits for one completion; returns its class and fills *ticket. */
static sf_fail_class wait_one(sf_driver *d, uint64_t *ticket,
                              const char **kind, char *message, size_t size)
{
    sf_result r;
    sf_error err;
    sf_fail_class c;

    if (wait_any(d, ticket, &r, &err) != SF_OK)
        fail_msg("wait: %s", err.message);
    c = r.fail;
    if (kind != NULL)
        *kind = r.err.kind;
    if (message != NULL)
        snprintf(message, size, "%s", r.err.message);
    sf_result_free(&r);
    return c;
}

static sf_fail_class run(sf_driver *d, sf_op_kind kind, const char *canister)
{
    uint64_t t, got;
    sf_fail_class c;

    t = submit(d, kind, canister);
    c = wait_one(d, &got, NULL, NULL, 0);
    assert_true(got == t);
    return c;
}

static sf_driver *fault_over(sf_driver *inner, const sf_fault_plan *plan)
{
    sf_driver *d = NULL;
    sf_error err;

    if (sf_fault_driver_new(inner, plan, NULL, NULL, &d, &err) != SF_OK)
        fail_msg("fault driver: %s", err.message);
    return d;
}

/* ---- temp directories ---- */

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void put_file(const char *dir, const char *rel, size_t size,
                     unsigned char fill)
{
    char path[512];
    unsigned char *data = malloc(size ? size : 1);
    FILE *f;

    assert_non_null(data);
    memset(data, fill, size);
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, size, f), size);
    fclose(f);
    free(data);
}

/* Index of the only byte of `rel` that differs from `fill`; -1 when none,
 * -2 when several or the size changed. */
static long changed_byte(const char *dir, const char *rel, size_t size,
                         unsigned char fill)
{
    char path[512];
    unsigned char buf[4096];
    FILE *f;
    size_t n;
    long at = -1;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    f = fopen(path, "rb");
    assert_non_null(f);
    n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    if (n != size)
        return -2;
    for (size_t i = 0; i < n; i++)
        if (buf[i] != fill) {
            if (at != -1)
                return -2;
            at = (long)i;
        }
    return at;
}

static sf_fail_class run_download(sf_driver *d, const char *dir)
{
    sf_op op;
    sf_result r;
    sf_error err;
    sf_fail_class c;

    make_op(&op, SF_OP_DOWNLOAD, CID_A, dir);
    if (run_any(d, &op, &r, &err) != SF_OK)
        fail_msg("run: %s", err.message);
    c = r.fail;
    sf_result_free(&r);
    return c;
}

/* ================= fault driver ================= */

static void test_fault_no_rules_passes_through(void **state)
{
    sf_driver *m = sf_mock_new();
    sf_fault_plan *p = plan_of("");
    sf_driver *d = fault_over(m, p);
    uint64_t t, got;

    (void)state;
    t = submit(d, SF_OP_STOP, CID_A);
    assert_true(t == 1);
    assert_int_equal(sf_driver_in_flight(d), 1);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == 1);
    assert_int_equal(sf_mock_submitted(m), 1);
    assert_int_equal(sf_mock_op(m, 0)->kind, SF_OP_STOP);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void check_not_forwarded(const char *effect, sf_fail_class want)
{
    for (int k = 0; k < SF_OP_KIND_COUNT; k++) {
        char spec[64], message[SF_ERROR_MESSAGE_MAX];
        sf_driver *m = sf_mock_new(), *d;
        sf_fault_plan *p;
        const char *kind;
        uint64_t t, got;

        snprintf(spec, sizeof spec, "%s=%s", sf_op_kind_name((sf_op_kind)k),
                 effect);
        p = plan_of(spec);
        d = fault_over(m, p);
        t = submit(d, (sf_op_kind)k, CID_A);
        assert_int_equal(wait_one(d, &got, &kind, message, sizeof message),
                         want);
        assert_true(got == t);
        assert_string_equal(kind, "injected-fault");
        assert_non_null(strstr(message, spec));
        /* The op never reached the inner driver. */
        assert_int_equal(sf_mock_submitted(m), 0);
        sf_driver_destroy(d);
        sf_driver_destroy(m);
        sf_fault_plan_free(p);
    }
}

static void test_fault_transient_every_op(void **state)
{
    (void)state;
    check_not_forwarded("transient", SF_FAIL_TRANSIENT);
}

static void test_fault_permanent_every_op(void **state)
{
    (void)state;
    check_not_forwarded("permanent", SF_FAIL_PERMANENT);
}

static void test_fault_lost_response_every_op(void **state)
{
    (void)state;
    for (int k = 0; k < SF_OP_KIND_COUNT; k++) {
        char spec[64], message[SF_ERROR_MESSAGE_MAX];
        sf_driver *m = sf_mock_new(), *d;
        sf_fault_plan *p;
        const char *kind;
        uint64_t t, got;

        snprintf(spec, sizeof spec, "%s=lost-response",
                 sf_op_kind_name((sf_op_kind)k));
        p = plan_of(spec);
        d = fault_over(m, p);
        t = submit(d, (sf_op_kind)k, CID_A);
        assert_int_equal(wait_one(d, &got, &kind, message, sizeof message),
                         SF_FAIL_UNKNOWN);
        assert_true(got == t);
        assert_string_equal(kind, "lost-response");
        assert_non_null(strstr(message, "response lost"));
        /* The effect happened: the inner driver ran the op. */
        assert_int_equal(sf_mock_submitted(m), 1);
        assert_int_equal(sf_mock_op(m, 0)->kind, k);
        assert_int_equal(sf_mock_completed(m), 1);
        sf_driver_destroy(d);
        sf_driver_destroy(m);
        sf_fault_plan_free(p);
    }
}

static void test_fault_lost_response_hides_inner_failure(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop=lost-response");

    (void)state;
    d = fault_over(m, p);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_PERMANENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_UNKNOWN);
    assert_int_equal(sf_mock_submitted(m), 1);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_corrupt_flips_largest_file(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX", sub[600];
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/wasm_chunk_store", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    put_file(dir, "metadata.json", 10, 'm');
    put_file(dir, "wasm_module.bin", 90, 'w');
    put_file(dir, "wasm_memory.bin", 100, 'x');
    /* Same size as wasm_memory.bin; "wasm_chunk_store/c" sorts first. */
    put_file(dir, "wasm_chunk_store/c", 100, 'c');
    d = fault_over(m, p);
    assert_int_equal(run_download(d, dir), SF_FAIL_NONE);
    assert_int_equal(sf_mock_count(m, SF_OP_DOWNLOAD), 1);
    assert_int_equal(changed_byte(dir, "wasm_chunk_store/c", 100, 'c'), 50);
    assert_int_equal(changed_byte(dir, "wasm_memory.bin", 100, 'x'), -1);
    assert_int_equal(changed_byte(dir, "wasm_module.bin", 90, 'w'), -1);
    assert_int_equal(changed_byte(dir, "metadata.json", 10, 'm'), -1);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

/* Two reads of one snapshot must not be corrupted alike, or a second
 * read could never notice. */
static void test_fault_corrupt_moves_between_calls(void **state)
{
    char a[] = "/tmp/sf-wrap-XXXXXX", b[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(a));
    assert_non_null(mkdtemp(b));
    put_file(a, "wasm_memory.bin", 100, 'x');
    put_file(b, "wasm_memory.bin", 100, 'x');
    d = fault_over(m, p);
    assert_int_equal(run_download(d, a), SF_FAIL_NONE);
    assert_int_equal(run_download(d, b), SF_FAIL_NONE);
    assert_int_equal(changed_byte(a, "wasm_memory.bin", 100, 'x'), 50);
    assert_int_equal(changed_byte(b, "wasm_memory.bin", 100, 'x'), 51);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(a);
    rm_tree(b);
}

static void test_fault_corrupt_prefers_size_over_name(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    put_file(dir, "a", 8, 'a');
    put_file(dir, "z", 9, 'z');
    d = fault_over(m, p);
    assert_int_equal(run_download(d, dir), SF_FAIL_NONE);
    assert_int_equal(changed_byte(dir, "z", 9, 'z'), 4);
    assert_int_equal(changed_byte(dir, "a", 8, 'a'), -1);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_corrupt_never_follows_symlinks(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX", outside[] = "/tmp/sf-wrap-XXXXXX";
    char target[600], link[600];
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(mkdtemp(outside));
    put_file(outside, "big", 1000, 'o');
    snprintf(target, sizeof target, "%s/big", outside);
    snprintf(link, sizeof link, "%s/link", dir);
    assert_int_equal(symlink(target, link), 0);
    snprintf(link, sizeof link, "%s/dirlink", dir);
    assert_int_equal(symlink(outside, link), 0);
    put_file(dir, "small", 4, 's');
    d = fault_over(m, p);
    assert_int_equal(run_download(d, dir), SF_FAIL_NONE);
    assert_int_equal(changed_byte(outside, "big", 1000, 'o'), -1);
    assert_int_equal(changed_byte(dir, "small", 4, 's'), 2);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
    rm_tree(outside);
}

static void test_fault_corrupt_empty_file_grows(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    put_file(dir, "empty", 0, 0);
    d = fault_over(m, p);
    assert_int_equal(run_download(d, dir), SF_FAIL_NONE);
    assert_int_equal(changed_byte(dir, "empty", 1, 0), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_corrupt_empty_dir_gets_a_file(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    d = fault_over(m, p);
    assert_int_equal(run_download(d, dir), SF_FAIL_NONE);
    assert_int_equal(changed_byte(dir, "corrupt", 1, 0), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_corrupt_leaves_failed_download_alone(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");

    (void)state;
    assert_non_null(mkdtemp(dir));
    put_file(dir, "wasm_memory.bin", 64, 'x');
    d = fault_over(m, p);
    sf_mock_script(m, SF_OP_DOWNLOAD, SF_FAIL_TRANSIENT);
    assert_int_equal(run_download(d, dir), SF_FAIL_TRANSIENT);
    assert_int_equal(changed_byte(dir, "wasm_memory.bin", 64, 'x'), -1);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_corrupt_missing_dir_is_loud(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=corrupt");
    sf_op op;
    sf_result r;

    (void)state;
    d = fault_over(m, p);
    make_op(&op, SF_OP_DOWNLOAD, CID_A, "/nonexistent-sf-wrap-dir");
    assert_int_equal(run_any(d, &op, &r, NULL), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "io");
    assert_non_null(strstr(r.err.message, "download=corrupt"));
    sf_result_free(&r);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

/* ---- the transfer effects ---- */

static sf_result run_op_at(sf_driver *d, sf_op_kind kind, const char *dir)
{
    sf_op op;
    sf_result r;
    sf_error err;

    make_op(&op, kind, CID_A, dir);
    if (run_any(d, &op, &r, &err) != SF_OK)
        fail_msg("run: %s", err.message);
    return r;
}

static long file_size(const char *dir, const char *rel)
{
    char p[700];
    struct stat st;

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static char *read_all(const char *dir, const char *rel)
{
    char p[700], *text = NULL;
    size_t len;
    sf_error err;

    snprintf(p, sizeof p, "%s/%s", dir, rel);
    if (sf_fs_read_file(p, 1 << 20, &text, &len, &err) != SF_OK)
        return NULL;
    return text;
}

static void test_fault_truncate_chunk(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX", sub[600];
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=truncate-chunk");
    sf_result r;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/wasm_chunk_store", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    put_file(dir, "wasm_chunk_store/bb.bin", 100, 'b');
    put_file(dir, "wasm_chunk_store/aa.bin", 80, 'a');
    put_file(dir, "wasm_memory.bin", 100, 'x');
    d = fault_over(m, p);
    r = run_op_at(d, SF_OP_DOWNLOAD, dir);
    /* forwarded, then the first chunk by name cut to half: a kill */
    assert_int_equal(sf_mock_count(m, SF_OP_DOWNLOAD), 1);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    assert_string_equal(r.err.kind, "killed");
    sf_result_free(&r);
    assert_int_equal(file_size(dir, "wasm_chunk_store/aa.bin"), 40);
    assert_int_equal(file_size(dir, "wasm_chunk_store/bb.bin"), 100);
    assert_int_equal(file_size(dir, "wasm_memory.bin"), 100);
    /* no chunk at all: still a kill, nothing changed */
    rm_tree(sub);
    r = run_op_at(d, SF_OP_DOWNLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    sf_result_free(&r);
    /* a failed download is left alone */
    sf_mock_script(m, SF_OP_DOWNLOAD, SF_FAIL_PERMANENT);
    r = run_op_at(d, SF_OP_DOWNLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    sf_result_free(&r);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_stale_tmp(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX", path[600];
    const char *meta = "{\n  \"taken_at_timestamp\": 1700000000000000001,\n"
                       "  \"wasm_module_size\": 5\n}";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("download=stale-tmp");
    sf_result r;
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(path, meta, strlen(meta),
                                                  NULL), SF_OK);
    d = fault_over(m, p);
    r = run_op_at(d, SF_OP_DOWNLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    assert_string_equal(r.err.kind, "killed");
    sf_result_free(&r);
    /* exact past 2^53: edited as text */
    text = read_all(dir, "metadata.json");
    assert_non_null(text);
    assert_string_equal(text, "{\n  \"taken_at_timestamp\": 1700000000000000000,\n"
                        "  \"wasm_module_size\": 5\n}");
    free(text);
    /* no metadata.json: the fault cannot be made, and says so */
    unlink(path);
    r = run_op_at(d, SF_OP_DOWNLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_non_null(strstr(r.err.message, "download=stale-tmp"));
    sf_result_free(&r);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void upload_answers_id(const sf_op *op, sf_result *r, void *ctx)
{
    (void)ctx;
    if (op->kind == SF_OP_UPLOAD && r->fail == SF_FAIL_NONE)
        snprintf(r->snapshot.id, sizeof r->snapshot.id, "0a0b");
}

static void test_fault_cut_upload(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("upload=cut");
    sf_result r;
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    sf_mock_set_hook(m, upload_answers_id, NULL);
    d = fault_over(m, p);
    r = run_op_at(d, SF_OP_UPLOAD, dir);
    assert_int_equal(sf_mock_count(m, SF_OP_UPLOAD), 1);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    assert_string_equal(r.err.kind, "killed");
    sf_result_free(&r);
    text = read_all(dir, ".upload_progress.json");
    assert_non_null(text);
    assert_non_null(strstr(text, "\"snapshot_id\": \"0a0b\""));
    free(text);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_lost_metadata_response(void **state)
{
    char dir[] = "/tmp/sf-wrap-XXXXXX", path[600], scratch[600];
    const char *meta = "{\"taken_at_timestamp\": 7, \"wasm_module_size\": 1500,"
        " \"wasm_memory_size\": 4096, \"stable_memory_size\": 300,"
        " \"wasm_chunk_store\": [{\"hash\": [1, 2, 3]}, {\"hash\": [4]}],"
        " \"canister_version\": 3}";
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("upload=lost-metadata-response");
    const sf_op *sent;
    sf_result r;
    cJSON *root;
    char *text;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/metadata.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(path, meta, strlen(meta),
                                                  NULL), SF_OK);
    snprintf(scratch, sizeof scratch, "%s.fault-scratch", dir);
    d = fault_over(m, p);
    r = run_op_at(d, SF_OP_UPLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    assert_string_equal(r.err.kind, "lost-response");
    sf_result_free(&r);
    /* what went below: an upload of the scratch copy, declaring nothing */
    assert_int_equal(sf_mock_count(m, SF_OP_UPLOAD), 1);
    sent = sf_mock_op(m, 0);
    assert_string_equal(sent->path, scratch);
    /* gone after, and the real directory untouched, no progress file */
    assert_int_equal(access(scratch, F_OK), -1);
    text = read_all(dir, "metadata.json");
    assert_string_equal(text, meta);
    free(text);
    assert_int_equal(file_size(dir, ".upload_progress.json"), -1);
    /* the scratch metadata as the driver below saw it: run again with a
     * hook that keeps it */
    sf_driver_destroy(d);
    sf_fault_plan_free(p);
    p = plan_of("upload=lost-metadata-response");
    d = fault_over(m, p);
    {
        sf_op op;
        uint64_t t;
        sf_error err;

        make_op(&op, SF_OP_UPLOAD, CID_A, dir);
        assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_OK);
        text = read_all(scratch, "metadata.json");
        assert_non_null(text);
        root = cJSON_Parse(text);
        assert_non_null(root);
        assert_int_equal(cJSON_GetObjectItem(root, "wasm_module_size")->valueint, 0);
        assert_int_equal(cJSON_GetObjectItem(root, "wasm_memory_size")->valueint, 0);
        assert_int_equal(cJSON_GetObjectItem(root, "stable_memory_size")->valueint, 0);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root,
                         "wasm_chunk_store")), 0);
        assert_int_equal(cJSON_GetObjectItem(root, "taken_at_timestamp")->valueint, 7);
        cJSON_Delete(root);
        free(text);
        assert_int_equal(file_size(scratch, "stable_memory.bin"), 0);
        assert_int_equal(wait_any(d, &t, &r, &err), SF_OK);
        sf_result_free(&r);
    }
    /* without metadata.json the fault cannot be made: loud */
    unlink(path);
    r = run_op_at(d, SF_OP_UPLOAD, dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_non_null(strstr(r.err.message, "upload=lost-metadata-response"));
    sf_result_free(&r);
    assert_int_equal(sf_mock_count(m, SF_OP_UPLOAD), 2);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    rm_tree(dir);
}

static void test_fault_nth_without_filter(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:2=transient");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_NONE);
    /* Other ops do not count. */
    assert_int_equal(run(d, SF_OP_START, CID_A), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_NONE);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 3);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_nth_with_filter(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:" CID_A ":2=permanent");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_PERMANENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_NONE);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_every_matching_call(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:" CID_A "=transient");

    (void)state;
    d = fault_over(m, p);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_TRANSIENT);
        assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_NONE);
    }
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_filter_ignores_case(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:" CID_A "=permanent");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, "RENRK-EYAAA-AAAAA-AAADA-CAI"),
                     SF_FAIL_PERMANENT);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

/* Every rule counts every call it matches, even calls an earlier rule
 * won. */
static void test_fault_rules_count_independently(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:" CID_A ":1=permanent,stop:2=transient");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_PERMANENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_NONE);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_first_match_wins(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:" CID_A "=lost-response,stop=permanent,"
                               "stop=transient");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_UNKNOWN);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_PERMANENT);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 1);
    assert_string_equal(sf_mock_op(m, 0)->canister_id, CID_A);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

/* A rule that does not fire on this call lets a later rule win. */
static void test_fault_later_rule_wins_when_earlier_waits(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop:3=permanent,stop=transient");

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_PERMANENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_TRANSIENT);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

typedef struct topo_seen {
    int calls;
    char kind[32];
    sf_driver *mock;
    size_t mock_completed_at_call;
} topo_seen;

static void on_topology(const char *kind, void *ctx)
{
    topo_seen *t = ctx;

    t->calls++;
    snprintf(t->kind, sizeof t->kind, "%s", kind);
    t->mock_completed_at_call = sf_mock_completed(t->mock);
}

static void test_fault_topology_fires_once_after_first_registry(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    sf_fault_plan *p = plan_of("topology=reparent");
    topo_seen t = {0, "", NULL, 0};
    uint64_t ticket;

    (void)state;
    t.mock = m;
    assert_int_equal(sf_fault_driver_new(m, p, on_topology, &t, &d, NULL),
                     SF_OK);
    assert_int_equal(run(d, SF_OP_STATUS, CID_A), SF_FAIL_NONE);
    assert_int_equal(t.calls, 0);
    /* A failed registry read is not a discovery. */
    sf_mock_script(m, SF_OP_REGISTRY, SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_REGISTRY, CID_A), SF_FAIL_TRANSIENT);
    assert_int_equal(t.calls, 0);
    submit(d, SF_OP_REGISTRY, CID_A);
    assert_int_equal(t.calls, 0); /* not on submit */
    assert_int_equal(wait_one(d, &ticket, NULL, NULL, 0), SF_FAIL_NONE);
    assert_int_equal(t.calls, 1);
    assert_string_equal(t.kind, "reparent");
    assert_int_equal(t.mock_completed_at_call, 3);
    assert_int_equal(run(d, SF_OP_REGISTRY, CID_A), SF_FAIL_NONE);
    assert_int_equal(t.calls, 1);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_topology_waits_for_a_heard_registry(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    sf_fault_plan *p = plan_of("registry:1=lost-response,topology=add-child");
    topo_seen t = {0, "", NULL, 0};

    (void)state;
    t.mock = m;
    assert_int_equal(sf_fault_driver_new(m, p, on_topology, &t, &d, NULL),
                     SF_OK);
    assert_int_equal(run(d, SF_OP_REGISTRY, CID_A), SF_FAIL_UNKNOWN);
    assert_int_equal(t.calls, 0);
    assert_int_equal(run(d, SF_OP_REGISTRY, CID_A), SF_FAIL_NONE);
    assert_int_equal(t.calls, 1);
    assert_string_equal(t.kind, "add-child");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_topology_needs_a_callback(void **state)
{
    sf_driver *m = sf_mock_new(), *d = (sf_driver *)1;
    sf_fault_plan *p = plan_of("topology=module-hash");
    sf_error err;

    (void)state;
    assert_int_equal(sf_fault_driver_new(m, p, NULL, NULL, &d, &err), SF_ERR);
    assert_null(d);
    assert_string_equal(err.kind, "usage");
    assert_non_null(strstr(err.message, "topology=module-hash"));
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_needs_inner_and_plan(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    sf_fault_plan *p = plan_of("");
    sf_error err;

    (void)state;
    assert_int_equal(sf_fault_driver_new(NULL, p, NULL, NULL, &d, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_fault_driver_new(m, NULL, NULL, NULL, &d, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_several_in_flight(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("start=transient,list=lost-response");
    uint64_t t1, t2, t3, t4, got;

    (void)state;
    d = fault_over(m, p);
    t1 = submit(d, SF_OP_STOP, CID_A);   /* mock index 0 */
    t2 = submit(d, SF_OP_START, CID_A);  /* injected */
    t3 = submit(d, SF_OP_STATUS, CID_B); /* mock index 1 */
    t4 = submit(d, SF_OP_LIST, CID_B);   /* mock index 2, lost */
    assert_true(t1 == 1 && t2 == 2 && t3 == 3 && t4 == 4);
    assert_int_equal(sf_driver_in_flight(d), 4);
    sf_mock_order(m, 2);
    sf_mock_order(m, 1);
    sf_mock_order(m, 0);
    /* The injected completion first, then the mock's order. */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_TRANSIENT);
    assert_true(got == t2);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_UNKNOWN);
    assert_true(got == t4);
    assert_int_equal(sf_driver_in_flight(d), 2);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t3);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t1);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_wait_with_nothing_in_flight(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("");
    uint64_t t;
    sf_result r;
    sf_error err;

    (void)state;
    d = fault_over(m, p);
    assert_int_equal(wait_any(d, &t, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "internal");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_fault_submit_refused_by_inner(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("");
    sf_op op;
    uint64_t t;
    sf_error err;

    (void)state;
    d = fault_over(m, p);
    make_op(&op, SF_OP_STOP, CID_A, NULL);
    sf_mock_refuse_next_submit(m);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "mock-refused");
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

static void test_wrappers_render_through(void **state)
{
    sf_driver *m = sf_mock_new(), *f, *r = NULL, *t = NULL;
    sf_fault_plan *p = plan_of("stop=permanent");
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log, out;
    sf_op op;

    (void)state;
    sf_buf_init(&log);
    sf_buf_init(&out);
    f = fault_over(m, p);
    assert_int_equal(sf_retry_driver_new(f, &clock, 3, 10, 100, &r, NULL),
                     SF_OK);
    assert_int_equal(sf_trace_driver_new(r, &clock, &log, &t, NULL), SF_OK);
    make_op(&op, SF_OP_STOP, CID_A, NULL);
    /* Rendering is not running: the fault plan does not apply. */
    assert_int_equal(sf_driver_render(t, &op, &out, NULL), SF_OK);
    assert_string_equal(sf_buf_cstr(&out), "mock stop " CID_A);
    assert_int_equal(log.len, 0);
    assert_int_equal(sf_mock_submitted(m), 0);
    sf_driver_destroy(t);
    sf_driver_destroy(r);
    sf_driver_destroy(f);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    sf_buf_free(&log);
    sf_buf_free(&out);
}

/* Destroying a wrapper leaves the inner driver usable; queued injected
 * completions are released (ASan checks both). */
static void test_wrappers_do_not_own_inner(void **state)
{
    sf_driver *m = sf_mock_new(), *f, *r = NULL, *t = NULL;
    sf_fault_plan *p = plan_of("stop=permanent");
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;

    (void)state;
    sf_buf_init(&log);
    f = fault_over(m, p);
    submit(f, SF_OP_STOP, CID_A); /* queued, never collected */
    sf_driver_destroy(f);
    assert_int_equal(sf_retry_driver_new(m, &clock, 3, 10, 100, &r, NULL),
                     SF_OK);
    sf_driver_destroy(r);
    assert_int_equal(sf_trace_driver_new(m, &clock, &log, &t, NULL), SF_OK);
    sf_driver_destroy(t);
    assert_int_equal(run(m, SF_OP_START, CID_A), SF_FAIL_NONE);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    sf_buf_free(&log);
}

/* ================= retry driver ================= */

static sf_driver *retry_over(sf_driver *inner, sf_clock *clock,
                             unsigned attempts, uint64_t base, uint64_t max)
{
    sf_driver *d = NULL;
    sf_error err;

    if (sf_retry_driver_new(inner, clock, attempts, base, max, &d, &err) !=
        SF_OK)
        fail_msg("retry driver: %s", err.message);
    return d;
}

static void test_retry_transient_then_success(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {5000, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t, got;

    (void)state;
    d = retry_over(m, &clock, 5, 100, 1000);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t = submit(d, SF_OP_STOP, CID_A);
    assert_true(t == 1);
    assert_int_equal(sf_driver_in_flight(d), 1);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t);
    assert_int_equal(sf_driver_in_flight(d), 0);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 3);
    assert_int_equal(fc.nsleeps, 2);
    assert_int_equal(fc.sleeps[0], 100);
    assert_int_equal(fc.sleeps[1], 200);
    assert_int_equal(fc.now, 5300);
    assert_int_equal(sf_retry_driver_retries(d), 2);
    /* Nothing more to hear: one logical completion. */
    assert_int_equal(sf_driver_in_flight(m), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_backoff_is_capped(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    d = retry_over(m, &clock, 10, 100, 250);
    for (int i = 0; i < 4; i++)
        sf_mock_script(m, SF_OP_CREATE, SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_CREATE, CID_A), SF_FAIL_NONE);
    assert_int_equal(fc.nsleeps, 4);
    assert_int_equal(fc.sleeps[0], 100);
    assert_int_equal(fc.sleeps[1], 200);
    assert_int_equal(fc.sleeps[2], 250);
    assert_int_equal(fc.sleeps[3], 250);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_huge_delays_do_not_overflow(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    d = retry_over(m, &clock, 70, UINT64_MAX / 4, UINT64_MAX - 1);
    for (int i = 0; i < 4; i++)
        sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_NONE);
    assert_int_equal(fc.nsleeps, 4);
    assert_true(fc.sleeps[0] == UINT64_MAX / 4);
    assert_true(fc.sleeps[1] == (UINT64_MAX / 4) * 2);
    assert_true(fc.sleeps[2] == UINT64_MAX - 3); /* (2^62 - 1) * 4 */
    assert_true(fc.sleeps[3] == UINT64_MAX - 1); /* doubling caps */
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_never_retries_permanent(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    d = retry_over(m, &clock, 5, 100, 1000);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_PERMANENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_PERMANENT);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 1);
    assert_int_equal(fc.nsleeps, 0);
    assert_int_equal(sf_retry_driver_retries(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_never_retries_unknown(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    d = retry_over(m, &clock, 5, 100, 1000);
    sf_mock_script(m, SF_OP_LOAD, SF_FAIL_UNKNOWN);
    assert_int_equal(run(d, SF_OP_LOAD, CID_A), SF_FAIL_UNKNOWN);
    assert_int_equal(sf_mock_count(m, SF_OP_LOAD), 1);
    assert_int_equal(fc.nsleeps, 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_exhaustion(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t, got;
    const char *kind;

    (void)state;
    d = retry_over(m, &clock, 3, 100, 1000);
    for (int i = 0; i < 5; i++)
        sf_mock_script(m, SF_OP_DELETE, SF_FAIL_TRANSIENT);
    t = submit(d, SF_OP_DELETE, CID_A);
    assert_int_equal(wait_one(d, &got, &kind, NULL, 0), SF_FAIL_TRANSIENT);
    assert_true(got == t);
    assert_string_equal(kind, "mock");
    assert_int_equal(sf_mock_count(m, SF_OP_DELETE), 3);
    assert_int_equal(fc.nsleeps, 2);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_single_attempt(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    d = retry_over(m, &clock, 1, 100, 1000);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_TRANSIENT);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 1);
    assert_int_equal(fc.nsleeps, 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_resubmit_refused(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t, got;

    (void)state;
    d = retry_over(m, &clock, 5, 100, 1000);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t = submit(d, SF_OP_STOP, CID_A);
    sf_mock_refuse_next_submit(m);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_TRANSIENT);
    assert_true(got == t);
    assert_int_equal(sf_mock_submitted(m), 1);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_several_in_flight(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, t3, got;

    (void)state;
    d = retry_over(m, &clock, 3, 10, 100);
    sf_mock_set_clock(m, &clock);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);   /* mock 0, retried as mock 3 */
    t2 = submit(d, SF_OP_START, CID_B);  /* mock 1 */
    t3 = submit(d, SF_OP_STATUS, CID_A); /* mock 2 */
    assert_int_equal(sf_driver_in_flight(d), 3);
    sf_mock_order(m, 2);
    sf_mock_order(m, 0);
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    sf_mock_order(m, 3);
    sf_mock_order(m, 1);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t3);
    /* The stop fails; the start stays in flight while the retry's 10 ms
     * pass in the inner driver; then it is resubmitted and completes. */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t1);
    assert_int_equal(sf_mock_waits_for(m), 1);
    assert_int_equal(sf_mock_last_timeout(m), 10);
    assert_int_equal(sf_mock_op(m, 3)->kind, SF_OP_STOP);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t2);
    assert_int_equal(sf_driver_in_flight(d), 0);
    assert_int_equal(fc.nsleeps, 1); /* the inner driver's wait */
    assert_int_equal(fc.sleeps[0], 10);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

static void test_retry_bad_arguments(void **state)
{
    sf_driver *m = sf_mock_new(), *d = (sf_driver *)1;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_error err;

    (void)state;
    assert_int_equal(sf_retry_driver_new(m, &clock, 0, 10, 100, &d, &err),
                     SF_ERR);
    assert_null(d);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_retry_driver_new(m, &clock, 3, 100, 10, &d, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_retry_driver_new(m, NULL, 3, 10, 100, &d, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_retry_driver_retries(m), 0);
    sf_driver_destroy(m);
}

static void test_retry_wait_with_nothing_in_flight(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t;
    sf_result r;
    sf_error err;

    (void)state;
    d = retry_over(m, &clock, 3, 10, 100);
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "internal");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* Retry outside, faults inside: an injected transient is retried, and the
 * retry is a new call the plan counts. */
static void test_retry_over_fault(void **state)
{
    sf_driver *m = sf_mock_new(), *f, *d;
    sf_fault_plan *p = plan_of("download:1=transient,stop=permanent");
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);

    (void)state;
    f = fault_over(m, p);
    d = retry_over(f, &clock, 4, 50, 1000);
    assert_int_equal(run(d, SF_OP_DOWNLOAD, CID_A), SF_FAIL_NONE);
    assert_int_equal(sf_mock_count(m, SF_OP_DOWNLOAD), 1);
    assert_int_equal(fc.nsleeps, 1);
    assert_int_equal(run(d, SF_OP_STOP, CID_A), SF_FAIL_PERMANENT);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 0);
    assert_int_equal(fc.nsleeps, 1);
    sf_driver_destroy(d);
    sf_driver_destroy(f);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}


/* Issue 12: a backoff blocks no one. The stop fails and waits 1000 ms to
 * be retried; the start still in flight completes meanwhile and is
 * delivered at once, with no time passed; the retry goes out when its
 * time comes, with the same delay and count as ever. */
static void test_retry_backoff_blocks_no_one(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, got;

    (void)state;
    d = retry_over(m, &clock, 3, 1000, 1000);
    sf_mock_set_clock(m, &clock);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);  /* mock 0, retried as mock 2 */
    t2 = submit(d, SF_OP_START, CID_B); /* mock 1 */
    sf_mock_order(m, 0);
    sf_mock_order(m, 1);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t2);
    assert_int_equal(fc.now, 0);
    assert_int_equal(fc.nsleeps, 0);
    /* it waited on the inner driver no longer than the backoff */
    assert_int_equal(sf_mock_waits_for(m), 1);
    assert_int_equal(sf_mock_last_timeout(m), 1000);
    assert_int_equal(sf_driver_in_flight(d), 1); /* the retry, waiting */
    assert_int_equal(sf_mock_submitted(m), 2);
    /* nothing else in flight: it sleeps until the retry is due */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t1);
    assert_int_equal(fc.nsleeps, 1);
    assert_int_equal(fc.sleeps[0], 1000);
    assert_int_equal(fc.now, 1000);
    assert_int_equal(sf_mock_count(m, SF_OP_STOP), 2);
    assert_int_equal(sf_retry_driver_retries(d), 1);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* Two retries due at different times go out in due order, each when the
 * inner driver's wait reaches it, while a third op stays in flight. */
static void test_retry_due_order(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, t3, got;

    (void)state;
    d = retry_over(m, &clock, 3, 100, 1000);
    sf_mock_set_clock(m, &clock);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    sf_mock_script(m, SF_OP_DELETE, SF_FAIL_TRANSIENT);
    sf_mock_script(m, SF_OP_DELETE, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);   /* mock 0; retry: mock 4 at 200 */
    t2 = submit(d, SF_OP_DELETE, CID_B); /* mock 1; mock 3 at 100, 5 at 300 */
    t3 = submit(d, SF_OP_STATUS, CID_A); /* mock 2 */
    sf_mock_order(m, 1);               /* t=0: delete fails, due 100 */
    sf_mock_order(m, SF_MOCK_TIMEOUT); /* t=100: resubmitted (mock 3) */
    sf_mock_order(m, 0);               /* stop fails at 100, due 200 */
    sf_mock_order(m, 3);               /* delete fails again, due 300 */
    sf_mock_order(m, SF_MOCK_TIMEOUT); /* t=200: stop resubmitted (mock 4) */
    sf_mock_order(m, 4);               /* stop succeeds */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t1);
    assert_int_equal(fc.now, 200);
    assert_int_equal(sf_mock_op(m, 3)->kind, SF_OP_DELETE);
    assert_int_equal(sf_mock_op(m, 4)->kind, SF_OP_STOP);
    assert_int_equal(sf_mock_last_timeout(m), 100);
    /* t=200: the status completes before the delete's retry at 300 */
    sf_mock_order(m, 2);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t3);
    assert_int_equal(sf_mock_last_timeout(m), 100);
    assert_int_equal(fc.now, 200);
    /* then only the delete is left: a sleep to 300 and its third try */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t2);
    assert_int_equal(fc.now, 300);
    assert_int_equal(sf_mock_op(m, 5)->kind, SF_OP_DELETE);
    assert_int_equal(sf_retry_driver_retries(d), 3);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* A refused resubmission at its due time, with another op in flight:
 * the caller gets the last TRANSIENT result then. */
static void test_retry_resubmit_refused_later(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, got;
    const char *kind;

    (void)state;
    d = retry_over(m, &clock, 5, 50, 1000);
    sf_mock_set_clock(m, &clock);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);
    t2 = submit(d, SF_OP_START, CID_B);
    sf_mock_order(m, 0);
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    sf_mock_refuse_next_submit(m);
    assert_int_equal(wait_one(d, &got, &kind, NULL, 0), SF_FAIL_TRANSIENT);
    assert_true(got == t1);
    assert_string_equal(kind, "mock");
    assert_int_equal(fc.now, 50);
    assert_int_equal(sf_retry_driver_retries(d), 0);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t2);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* wait_for on the retry driver: its limit is kept on the clock, whether
 * the time passes in the inner driver or in a sleep. */
static void test_retry_wait_for(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, got = 0;
    bool timed_out = false;
    sf_result r;
    sf_error err;

    (void)state;
    d = retry_over(m, &clock, 3, 1000, 1000);
    sf_mock_set_clock(m, &clock);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);
    t2 = submit(d, SF_OP_START, CID_B);
    sf_mock_order(m, 0);
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    /* the stop fails; the start does not complete within 300 ms */
    assert_int_equal(sf_driver_wait_for(d, 300, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(got == 0);
    assert_int_equal(sf_mock_last_timeout(m), 300);
    assert_int_equal(fc.now, 300);
    assert_int_equal(sf_driver_in_flight(d), 2);
    /* the start completes */
    assert_int_equal(sf_driver_wait_for(d, 300, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t2);
    sf_result_free(&r);
    /* only the retry is left, due at 1000: 200 ms pass asleep */
    assert_int_equal(sf_driver_wait_for(d, 200, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_int_equal(fc.now, 500);
    assert_int_equal(sf_mock_submitted(m), 2);
    /* the limit reaches the retry: resubmitted, and it completes */
    assert_int_equal(sf_driver_wait_for(d, 600, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t1);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_int_equal(fc.now, 1000);
    assert_int_equal(sf_mock_last_timeout(m), 100); /* 1000 -> 1100 */
    assert_int_equal(sf_retry_driver_retries(d), 1);
    /* nothing in flight */
    assert_int_equal(sf_driver_wait_for(d, 10, &got, &r, &timed_out, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "internal");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* A driver without wait_for (written before it existed): wait_for blocks
 * as wait() does, and the retry wrapper still retries, late rather than
 * early. */
static void test_retry_over_driver_without_wait_for(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_driver_ops legacy = *m->ops;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    uint64_t t1, t2, got;
    bool timed_out = true;
    sf_result r;
    sf_error err;

    (void)state;
    legacy.wait_for = NULL;
    m->ops = &legacy;
    t1 = submit(m, SF_OP_STATUS, CID_A);
    assert_int_equal(sf_driver_wait_for(m, 0, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t1);
    sf_result_free(&r);
    d = retry_over(m, &clock, 3, 100, 100);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    t1 = submit(d, SF_OP_STOP, CID_A);  /* mock 1, retried as mock 3 */
    t2 = submit(d, SF_OP_START, CID_B); /* mock 2 */
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t2);
    assert_int_equal(wait_one(d, &got, NULL, NULL, 0), SF_FAIL_NONE);
    assert_true(got == t1);
    assert_int_equal(fc.now, 100);
    assert_int_equal(sf_retry_driver_retries(d), 1);
    assert_int_equal(sf_mock_waits_for(m), 0);
    sf_driver_destroy(d);
    sf_driver_destroy(m);
}

/* The fault driver's wait_for: an injected completion is there at once,
 * without asking the inner driver; a forwarded op's time out passes
 * through, and its effect is applied when it does complete. */
static void test_fault_wait_for(void **state)
{
    sf_driver *m = sf_mock_new(), *d;
    sf_fault_plan *p = plan_of("stop=transient,start=lost-response");
    uint64_t ts, tr, got = 0;
    bool timed_out = true;
    sf_result r;
    sf_error err;

    (void)state;
    d = fault_over(m, p);
    ts = submit(d, SF_OP_START, CID_A); /* forwarded */
    tr = submit(d, SF_OP_STOP, CID_B);  /* injected */
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    assert_int_equal(sf_driver_wait_for(d, 0, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == tr);
    assert_int_equal(r.fail, SF_FAIL_TRANSIENT);
    sf_result_free(&r);
    assert_int_equal(sf_mock_waits_for(m), 0);
    got = 0;
    assert_int_equal(sf_driver_wait_for(d, 250, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_true(got == 0);
    assert_int_equal(sf_mock_last_timeout(m), 250);
    assert_int_equal(sf_driver_in_flight(d), 1);
    assert_int_equal(sf_driver_wait_for(d, 250, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == ts);
    assert_int_equal(r.fail, SF_FAIL_UNKNOWN);
    assert_string_equal(r.err.kind, "lost-response");
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait_for(d, 1, &got, &r, &timed_out, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "internal");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
}

/* The trace driver's wait_for: a completion is logged as from wait(); a
 * time out changes no operation and logs nothing; a failure is logged. */
static void test_trace_wait_for(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    fake_clock fc = {40, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;
    uint64_t t, got;
    bool timed_out = true;
    sf_result r;
    sf_error err;

    (void)state;
    sf_buf_init(&log);
    assert_int_equal(sf_trace_driver_new(m, &clock, &log, &d, &err), SF_OK);
    sf_mock_set_clock(m, &clock);
    t = submit(d, SF_OP_STOP, CID_A);
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    assert_int_equal(sf_driver_wait_for(d, 60, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_true(timed_out);
    assert_int_equal(fc.now, 100);
    assert_int_equal(sf_driver_wait_for(d, 60, &got, &r, &timed_out, &err),
                     SF_OK);
    assert_false(timed_out);
    assert_true(got == t);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait_for(d, 60, &got, &r, &timed_out, &err),
                     SF_ERR);
    assert_string_equal(sf_buf_cstr(&log),
                        "t=40 submit #1001 stop " CID_A "\n"
                        "t=100 done #1001 stop " CID_A " ok\n"
                        "t=100 wait-failed internal\n");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_buf_free(&log);
}

/* ================= trace driver ================= */

static void test_trace_lines(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    fake_clock fc = {1000, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;
    sf_op op;
    sf_result r;

    (void)state;
    sf_buf_init(&log);
    assert_int_equal(sf_trace_driver_new(m, &clock, &log, &d, NULL), SF_OK);
    assert_int_equal(run(d, SF_OP_REGISTRY, CID_A), SF_FAIL_NONE);
    fc.now = 1500;
    assert_int_equal(run(d, SF_OP_STATUS, CID_A), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_CREATE, CID_A), SF_FAIL_NONE);
    assert_int_equal(run(d, SF_OP_LIST, CID_A), SF_FAIL_NONE);
    sf_mock_script(m, SF_OP_STOP, SF_FAIL_TRANSIENT);
    assert_int_equal(run(d, SF_OP_STOP, CID_B), SF_FAIL_TRANSIENT);
    make_op(&op, SF_OP_DOWNLOAD, CID_A, "/tmp/x");
    op.resume = true;
    assert_int_equal(sf_driver_run(d, &op, &r, NULL), SF_OK);
    sf_result_free(&r);
    assert_string_equal(
        sf_buf_cstr(&log),
        "t=1000 submit #1001 registry " CID_A "\n"
        "t=1000 done #1001 registry " CID_A " ok entries=1\n"
        "t=1500 submit #1002 status " CID_A "\n"
        "t=1500 done #1002 status " CID_A " ok running\n"
        "t=1500 submit #1003 create " CID_A "\n"
        "t=1500 done #1003 create " CID_A " ok 0000000000000001\n"
        "t=1500 submit #1004 list " CID_A "\n"
        "t=1500 done #1004 list " CID_A " ok snapshots=0\n"
        "t=1500 submit #1005 stop " CID_B "\n"
        "t=1500 done #1005 stop " CID_B " transient mock\n"
        "t=1500 submit #1006 download " CID_A " " SNAP " resume\n"
        "t=1500 done #1006 download " CID_A " ok\n");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_buf_free(&log);
}

static void test_trace_failures_are_logged(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    fake_clock fc = {7, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;
    sf_op op;
    uint64_t t;
    sf_result r;
    sf_error err;

    (void)state;
    sf_buf_init(&log);
    assert_int_equal(sf_trace_driver_new(m, &clock, &log, &d, NULL), SF_OK);
    make_op(&op, SF_OP_STOP, CID_A, NULL);
    sf_mock_refuse_next_submit(m);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "mock-refused");
    assert_int_equal(sf_driver_wait(d, &t, &r, NULL), SF_ERR);
    assert_string_equal(sf_buf_cstr(&log),
                        "t=7 submit-failed stop " CID_A " mock-refused\n"
                        "t=7 wait-failed internal\n");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_buf_free(&log);
}

static void test_trace_several_in_flight(void **state)
{
    sf_driver *m = sf_mock_new(), *d = NULL;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;
    uint64_t got;

    (void)state;
    sf_buf_init(&log);
    assert_int_equal(sf_trace_driver_new(m, &clock, &log, &d, NULL), SF_OK);
    submit(d, SF_OP_STOP, CID_A);
    submit(d, SF_OP_STOP, CID_B);
    assert_int_equal(sf_driver_in_flight(d), 2);
    sf_mock_order(m, 1);
    wait_one(d, &got, NULL, NULL, 0);
    assert_true(got == 1002);
    wait_one(d, &got, NULL, NULL, 0);
    assert_true(got == 1001);
    assert_string_equal(sf_buf_cstr(&log),
                        "t=0 submit #1001 stop " CID_A "\n"
                        "t=0 submit #1002 stop " CID_B "\n"
                        "t=0 done #1002 stop " CID_B " ok\n"
                        "t=0 done #1001 stop " CID_A " ok\n");
    sf_driver_destroy(d);
    sf_driver_destroy(m);
    sf_buf_free(&log);
}

static void test_trace_bad_arguments(void **state)
{
    sf_driver *m = sf_mock_new(), *d = (sf_driver *)1;
    fake_clock fc = {0, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_error err;

    (void)state;
    assert_int_equal(sf_trace_driver_new(m, &clock, NULL, &d, &err), SF_ERR);
    assert_null(d);
    assert_string_equal(err.kind, "usage");
    sf_driver_destroy(m);
}

/* A whole stack: trace -> retry -> fault -> mock, several ops in flight,
 * out of order. Returns the trace log (malloc'd). */
static char *stack_run(const char *plan_text, sf_fail_class *classes)
{
    sf_driver *m = sf_mock_new(), *f, *r, *t = NULL;
    sf_fault_plan *p = plan_of(plan_text);
    fake_clock fc = {100, {0}, 0};
    sf_clock clock = clock_of(&fc);
    sf_buf log;
    uint64_t tickets[4], got;

    sf_buf_init(&log);
    f = fault_over(m, p);
    r = retry_over(f, &clock, 3, 20, 1000);
    assert_int_equal(sf_trace_driver_new(r, &clock, &log, &t, NULL), SF_OK);
    tickets[0] = submit(t, SF_OP_STOP, CID_A);
    tickets[1] = submit(t, SF_OP_CREATE, CID_A);
    tickets[2] = submit(t, SF_OP_STOP, CID_B);
    tickets[3] = submit(t, SF_OP_CREATE, CID_B);
    /* the retry's 20 ms pass in the mock's wait_for (with nothing else
     * to complete in them), then the rest completes out of order */
    sf_mock_set_clock(m, &clock);
    sf_mock_order(m, SF_MOCK_TIMEOUT);
    sf_mock_order(m, 2);
    sf_mock_order(m, 0);
    for (int i = 0; i < 4; i++) {
        sf_fail_class c = wait_one(t, &got, NULL, NULL, 0);
        int which = -1;

        for (int k = 0; k < 4; k++)
            if (tickets[k] == got)
                which = k;
        assert_true(which >= 0);
        classes[which] = c;
    }
    assert_int_equal(sf_driver_in_flight(t), 0);
    sf_driver_destroy(t);
    sf_driver_destroy(r);
    sf_driver_destroy(f);
    sf_driver_destroy(m);
    sf_fault_plan_free(p);
    return sf_buf_detach(&log);
}

static void test_trace_digest_is_reproducible(void **state)
{
    const char *plan = "create:" CID_A ":1=transient,stop:" CID_B
                       "=permanent";
    sf_fail_class c1[4], c2[4], c3[4];
    char *a = stack_run(plan, c1), *b = stack_run(plan, c2);
    char *c = stack_run("create:" CID_B ":1=transient", c3);
    char da[SF_SHA256_HEX_SIZE], db[SF_SHA256_HEX_SIZE], dc[SF_SHA256_HEX_SIZE];
    sf_buf ba = {a, strlen(a), strlen(a) + 1, 0};
    sf_buf bb = {b, strlen(b), strlen(b) + 1, 0};
    sf_buf bc = {c, strlen(c), strlen(c) + 1, 0};

    (void)state;
    assert_string_equal(a, b);
    assert_memory_equal(c1, c2, sizeof c1);
    assert_int_equal(c1[0], SF_FAIL_NONE);
    assert_int_equal(c1[1], SF_FAIL_NONE); /* retried after one transient */
    assert_int_equal(c1[2], SF_FAIL_PERMANENT);
    assert_int_equal(c1[3], SF_FAIL_NONE);
    /* The retry's sleep shows in the clock column. */
    assert_non_null(strstr(a, "t=120 done #2 create " CID_A " ok"));
    assert_int_equal(sf_trace_digest(&ba, da), SF_OK);
    assert_int_equal(sf_trace_digest(&bb, db), SF_OK);
    assert_int_equal(sf_trace_digest(&bc, dc), SF_OK);
    assert_string_equal(da, db);
    assert_string_not_equal(da, dc);
    free(a);
    free(b);
    free(c);
}

static void test_trace_digest_of_empty_log(void **state)
{
    sf_buf log;
    char d[SF_SHA256_HEX_SIZE];

    (void)state;
    sf_buf_init(&log);
    assert_int_equal(sf_trace_digest(&log, d), SF_OK);
    assert_string_equal(d, EMPTY_SHA256);
    log.oom = 1;
    assert_int_equal(sf_trace_digest(&log, d), SF_ERR);
}

static void test_trace_digest_known_value(void **state)
{
    sf_buf log;
    char d[SF_SHA256_HEX_SIZE];

    (void)state;
    sf_buf_init(&log);
    sf_buf_puts(&log, "abc");
    assert_int_equal(sf_trace_digest(&log, d), SF_OK);
    assert_string_equal(d, "ba7816bf8f01cfea414140de5dae2223"
                           "b00361a396177a9cb410ff61f20015ad");
    sf_buf_free(&log);
}

#define FAULT_TESTS(T) \
    T(test_fault_no_rules_passes_through), \
    T(test_fault_transient_every_op), \
    T(test_fault_permanent_every_op), \
    T(test_fault_lost_response_every_op), \
    T(test_fault_lost_response_hides_inner_failure), \
    T(test_fault_corrupt_flips_largest_file), \
    T(test_fault_corrupt_moves_between_calls), \
    T(test_fault_corrupt_prefers_size_over_name), \
    T(test_fault_corrupt_never_follows_symlinks), \
    T(test_fault_corrupt_empty_file_grows), \
    T(test_fault_corrupt_empty_dir_gets_a_file), \
    T(test_fault_corrupt_leaves_failed_download_alone), \
    T(test_fault_corrupt_missing_dir_is_loud), \
    T(test_fault_truncate_chunk), \
    T(test_fault_stale_tmp), \
    T(test_fault_cut_upload), \
    T(test_fault_lost_metadata_response), \
    T(test_fault_nth_without_filter), \
    T(test_fault_nth_with_filter), \
    T(test_fault_every_matching_call), \
    T(test_fault_filter_ignores_case), \
    T(test_fault_rules_count_independently), \
    T(test_fault_first_match_wins), \
    T(test_fault_later_rule_wins_when_earlier_waits), \
    T(test_fault_topology_fires_once_after_first_registry), \
    T(test_fault_topology_waits_for_a_heard_registry), \
    T(test_fault_topology_needs_a_callback), \
    T(test_fault_needs_inner_and_plan), \
    T(test_fault_several_in_flight), \
    T(test_fault_wait_with_nothing_in_flight), \
    T(test_fault_submit_refused_by_inner),

/* the fault matrix again, every completion heard through wait_for() */
static int through_wait_for(void **state)
{
    (void)state;
    via_wait_for = true;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        FAULT_TESTS(cmocka_unit_test)
        cmocka_unit_test(test_fault_wait_for),
        cmocka_unit_test(test_wrappers_render_through),
        cmocka_unit_test(test_wrappers_do_not_own_inner),
        cmocka_unit_test(test_retry_transient_then_success),
        cmocka_unit_test(test_retry_backoff_is_capped),
        cmocka_unit_test(test_retry_huge_delays_do_not_overflow),
        cmocka_unit_test(test_retry_never_retries_permanent),
        cmocka_unit_test(test_retry_never_retries_unknown),
        cmocka_unit_test(test_retry_exhaustion),
        cmocka_unit_test(test_retry_single_attempt),
        cmocka_unit_test(test_retry_resubmit_refused),
        cmocka_unit_test(test_retry_several_in_flight),
        cmocka_unit_test(test_retry_bad_arguments),
        cmocka_unit_test(test_retry_wait_with_nothing_in_flight),
        cmocka_unit_test(test_retry_over_fault),
        cmocka_unit_test(test_retry_backoff_blocks_no_one),
        cmocka_unit_test(test_retry_due_order),
        cmocka_unit_test(test_retry_resubmit_refused_later),
        cmocka_unit_test(test_retry_wait_for),
        cmocka_unit_test(test_retry_over_driver_without_wait_for),
        cmocka_unit_test(test_trace_wait_for),
        cmocka_unit_test(test_trace_lines),
        cmocka_unit_test(test_trace_failures_are_logged),
        cmocka_unit_test(test_trace_several_in_flight),
        cmocka_unit_test(test_trace_bad_arguments),
        cmocka_unit_test(test_trace_digest_is_reproducible),
        cmocka_unit_test(test_trace_digest_of_empty_log),
        cmocka_unit_test(test_trace_digest_known_value),
    };

    const struct CMUnitTest fault_matrix_via_wait_for[] = {
        FAULT_TESTS(cmocka_unit_test)
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);

    return failed + cmocka_run_group_tests(fault_matrix_via_wait_for,
                                           through_wait_for, NULL);
}
