/* The simulator's own file calls go through the storage seam: with the
 * simulated disk installed (sf_fs_set_storage), a snapshot download writes
 * the icp directory there and nowhere else, an upload reads it back from
 * there, the upload's progress file is cleaned up there, and a disk fault
 * reaches the operation as icp's I/O refusal, naming the file. */
#include <setjmp.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/driver.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/sim.h"
#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"
#include "snapfleet/wrap.h"

typedef struct fixture {
    char root[64];   /* a real directory the tests must leave empty */
    char dir[128];   /* root/absent/dl: exists on the simulated disk only */
    sf_sim *sim;
    sf_driver *drv;
    sf_simdisk *disk;
    const sf_storage *st;
} fixture;

static void chunky(sf_sim_config *c)
{
    c->chunk_max = 3;
    c->seed = 7; /* a fleet whose canister 1 has chunks (test_sim.c's) */
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sf_sim_config cfg;
    sf_error err;

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/sf-simseam-XXXXXX");
    if (mkdtemp(f->root) == NULL)
        return -1;
    snprintf(f->dir, sizeof f->dir, "%s/absent/dl", f->root);
    sf_sim_config_default(&cfg);
    chunky(&cfg);
    if (sf_sim_init(&cfg, &f->sim, &err) != SF_OK ||
        sf_sim_driver_new(f->sim, NULL, &f->drv, &err) != SF_OK ||
        sf_simdisk_new(&f->disk, NULL, &err) != SF_OK)
        return -1;
    f->st = sf_simdisk_storage(f->disk);
    sf_fs_set_storage(f->st);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    sf_fs_set_storage(NULL);
    sf_driver_destroy(f->drv);
    sf_sim_free(f->sim);
    sf_simdisk_free(f->disk);
    /* nothing was made under it: rmdir fails on a non-empty directory */
    if (rmdir(f->root) != 0) {
        fprintf(stderr, "%s is not empty\n", f->root);
        free(f);
        return -1;
    }
    free(f);
    return 0;
}

static void run(fixture *f, sf_result *r, sf_op_kind k, const char *id,
                const char *snap, const char *path)
{
    sf_op op;
    sf_error err;

    assert_int_equal(sf_op_init(&op, k, id, snap, path, &err), SF_OK);
    assert_int_equal(sf_driver_run(f->drv, &op, r, &err), SF_OK);
}

static void expect_ok(fixture *f, sf_op_kind k, const char *id,
                      const char *snap, const char *path, sf_result *out)
{
    sf_result r;

    run(f, &r, k, id, snap, path);
    if (r.fail != SF_FAIL_NONE)
        fail_msg("%s failed: %s: %s", sf_op_kind_name(k), r.err.kind,
                 r.err.message);
    if (out != NULL)
        *out = r;
    else
        sf_result_free(&r);
}

/* A canister with children stopped, with one snapshot taken. */
static void stopped_with_snapshot(fixture *f, char id[SF_PRINCIPAL_TEXT_MAX],
                                  char snap[SF_SNAPSHOT_ID_MAX])
{
    sf_sim_canister_info info;
    sf_result r;
    sf_error err;

    assert_int_equal(sf_sim_canister_at(f->sim, 1, &info, &err), SF_OK);
    memcpy(id, info.canister_id, SF_PRINCIPAL_TEXT_MAX);
    expect_ok(f, SF_OP_STOP, id, NULL, NULL, NULL);
    expect_ok(f, SF_OP_CREATE, id, NULL, NULL, &r);
    memcpy(snap, r.snapshot.id, SF_SNAPSHOT_ID_MAX);
    sf_result_free(&r);
}

static sf_storage_kind kind_on_disk(const fixture *f, const char *dir,
                                    const char *name)
{
    char p[512];
    sf_storage_kind k;
    sf_error err;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(sf_storage_kind_of(f->st, p, &k, &err), SF_OK);
    return k;
}

static void nothing_real(const fixture *f)
{
    char p[128];
    struct stat st;

    snprintf(p, sizeof p, "%s/absent", f->root);
    assert_int_not_equal(lstat(p, &st), 0);
}

/* Counts the chunk store's entries on the simulated disk. */
static int count_entry(const char *name, void *payload)
{
    (void)name;
    (*(int *)payload)++;
    return 0;
}

static void test_download_and_upload_on_the_simulated_disk(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX];
    char before[SF_SHA256_HEX_SIZE], after[SF_SHA256_HEX_SIZE];
    char chunks[256], *meta = NULL;
    size_t len, idx;
    sf_sim_canister_info info;
    sf_result r;
    sf_error err;
    int n = 0;

    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_sim_state_digest(f->sim, id, before, &err), SF_OK);
    expect_ok(f, SF_OP_DOWNLOAD, id, snap, f->dir, NULL);
    /* icp's directory, on the simulated disk */
    assert_int_equal(kind_on_disk(f, f->dir, "metadata.json"),
                     SF_STORAGE_REGULAR);
    assert_int_equal(kind_on_disk(f, f->dir, "stable_memory.bin"),
                     SF_STORAGE_REGULAR);
    assert_int_equal(kind_on_disk(f, f->dir, ".lock"), SF_STORAGE_REGULAR);
    assert_int_equal(kind_on_disk(f, f->dir, "wasm_chunk_store"),
                     SF_STORAGE_DIRECTORY);
    assert_int_equal(kind_on_disk(f, f->dir, ".download_progress.json"),
                     SF_STORAGE_ABSENT);
    snprintf(chunks, sizeof chunks, "%s/wasm_chunk_store", f->dir);
    assert_int_equal(sf_storage_list(f->st, chunks, count_entry, &n, &err),
                     SF_OK);
    assert_true(n > 0);
    snprintf(chunks, sizeof chunks, "%s/metadata.json", f->dir);
    assert_int_equal(sf_storage_read_all(f->st, chunks, 1 << 20, &meta, &len,
                                         &err), SF_OK);
    assert_non_null(strstr(meta, "\"stable_memory_size\""));
    free(meta);
    nothing_real(f);

    /* the memory changes; uploading the download brings it back */
    assert_int_equal(sf_sim_mutate(f->sim, id, &err), SF_OK);
    expect_ok(f, SF_OP_UPLOAD, id, NULL, f->dir, &r);
    assert_true(r.snapshot.id[0] != '\0');
    expect_ok(f, SF_OP_LOAD, id, r.snapshot.id, NULL, NULL);
    sf_result_free(&r);
    assert_int_equal(sf_sim_state_digest(f->sim, id, after, &err), SF_OK);
    assert_string_equal(after, before);
    assert_int_equal(sf_sim_canister_find(f->sim, id, &idx, &err), SF_OK);
    assert_int_equal(sf_sim_canister_at(f->sim, idx, &info, &err), SF_OK);
    assert_int_equal(info.snapshot_count, 2);
    /* the upload's progress file went once the upload was complete */
    assert_int_equal(kind_on_disk(f, f->dir, ".upload_progress.json"),
                     SF_STORAGE_ABSENT);
    nothing_real(f);
}

/* A write the disk refuses: icp's I/O failure, naming the file and the
 * operating system's reason, as with direct calls. */
static void test_download_write_fault(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    sf_simdisk_fault fault = {SF_SIMDISK_WRITE, 1, EIO, 0, false};
    sf_result r;
    sf_error err;

    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_simdisk_fault_add(f->disk, &fault, &err), SF_OK);
    run(f, &r, SF_OP_DOWNLOAD, id, snap, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "io");
    snprintf(msg, sizeof msg, "cannot write %s/metadata.json: %s", f->dir,
             strerror(EIO));
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
    nothing_real(f);
}

/* No room for the chunk store's directory. */
static void test_download_mkdir_fault(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    sf_simdisk_fault fault = {SF_SIMDISK_MKDIR, 1, ENOSPC, 0, false};
    sf_result r;
    sf_error err;
    const char *c;

    stopped_with_snapshot(f, id, snap);
    /* mkdir -p of the directory makes each component again, then the
     * chunk store's is the next */
    for (c = f->dir; *c != '\0'; c++)
        fault.nth += *c == '/';
    assert_int_equal(sf_simdisk_fault_add(f->disk, &fault, &err), SF_OK);
    run(f, &r, SF_OP_DOWNLOAD, id, snap, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    snprintf(msg, sizeof msg, "cannot create %s/wasm_chunk_store: %s", f->dir,
             strerror(ENOSPC));
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
}

/* The lock file cannot be created. */
static void test_download_lock_fault(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    sf_simdisk_fault fault = {SF_SIMDISK_OPEN, 1, EIO, 0, false};
    sf_result r;
    sf_error err;

    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_storage_mkdir_p(f->st, f->dir, &err), SF_OK);
    assert_int_equal(sf_simdisk_fault_add(f->disk, &fault, &err), SF_OK);
    run(f, &r, SF_OP_DOWNLOAD, id, snap, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    snprintf(msg, sizeof msg, "cannot create %s/.lock: %s", f->dir,
             strerror(EIO));
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
}

/* A chunk store planted as a file is refused before anything is written. */
static void test_download_chunk_store_not_a_directory(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    char p[256];
    sf_result r;
    sf_error err;

    stopped_with_snapshot(f, id, snap);
    snprintf(p, sizeof p, "%s/wasm_chunk_store", f->dir);
    assert_int_equal(sf_storage_write_atomic(f->st, p, "x", 1, &err), SF_OK);
    run(f, &r, SF_OP_DOWNLOAD, id, snap, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    snprintf(msg, sizeof msg, "%s is not a directory", p);
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
    assert_int_equal(kind_on_disk(f, f->dir, "metadata.json"),
                     SF_STORAGE_ABSENT);
}

/* The progress file cannot be removed at the end. */
static void test_download_remove_fault(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    sf_simdisk_fault fault = {SF_SIMDISK_REMOVE, 1, EIO, 0, false};
    sf_result r;
    sf_error err;

    stopped_with_snapshot(f, id, snap);
    assert_int_equal(sf_simdisk_fault_add(f->disk, &fault, &err), SF_OK);
    run(f, &r, SF_OP_DOWNLOAD, id, snap, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    snprintf(msg, sizeof msg, "cannot remove %s/.download_progress.json: %s",
             f->dir, strerror(EIO));
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);
}

/* A blob the upload cannot read, one it cannot open, one that is a
 * directory: each refused, naming the file. */
static void test_upload_read_refusals(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], msg[512];
    char p[256];
    sf_simdisk_fault fault = {SF_SIMDISK_READ, 2, EIO, 0, false};
    sf_result r;
    sf_error err;

    stopped_with_snapshot(f, id, snap);
    expect_ok(f, SF_OP_DOWNLOAD, id, snap, f->dir, NULL);
    /* the first read is metadata.json's, the second the first blob's */
    assert_int_equal(sf_simdisk_fault_add(f->disk, &fault, &err), SF_OK);
    run(f, &r, SF_OP_UPLOAD, id, NULL, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "io");
    assert_non_null(strstr(r.err.message, "cannot read "));
    snprintf(msg, sizeof msg, ": %s", strerror(EIO));
    assert_non_null(strstr(r.err.message, msg));
    sf_result_free(&r);
    sf_simdisk_faults_clear(f->disk);

    snprintf(p, sizeof p, "%s/stable_memory.bin", f->dir);
    assert_int_equal(sf_storage_remove(f->st, p, &err), SF_OK);
    run(f, &r, SF_OP_UPLOAD, id, NULL, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "missing-file");
    snprintf(msg, sizeof msg, "Failed to get file size at %s: %s", p,
             strerror(ENOENT));
    assert_string_equal(r.err.message, msg);
    sf_result_free(&r);

    assert_int_equal(sf_storage_mkdir(f->st, p, &err), SF_OK);
    run(f, &r, SF_OP_UPLOAD, id, NULL, f->dir);
    assert_int_equal(r.fail, SF_FAIL_PERMANENT);
    assert_string_equal(r.err.kind, "invalid-snapshot-data");
    assert_non_null(strstr(r.err.message, "is not a regular file but "
                           "metadata.json says"));
    sf_result_free(&r);
    nothing_real(f);
}

/* ---- the fault wrapper's effects on what a download wrote ---- */

static sf_driver *faulty(fixture *f, const char *spec, sf_fault_plan **plan)
{
    sf_driver *d = NULL;
    sf_error err;

    assert_int_equal(sf_fault_plan_parse(spec, plan, &err), SF_OK);
    assert_int_equal(sf_fault_driver_new(f->drv, *plan, NULL, NULL, &d, &err),
                     SF_OK);
    return d;
}

static char *read_on_disk(const fixture *f, const char *dir, const char *name,
                          size_t *len)
{
    char p[512], *data = NULL;
    sf_error err;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    if (sf_storage_read_all(f->st, p, 1 << 24, &data, len, &err) != SF_OK)
        fail_msg("%s", err.message);
    return data;
}

/* download=corrupt flips one byte of the largest file, on the disk the
 * download wrote to; the operation itself reports success. */
static void test_fault_corrupt_on_the_simulated_disk(void **state)
{
    static const char *const blobs[] = {"wasm_module.bin", "wasm_memory.bin",
                                        "stable_memory.bin"};
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], clean[160];
    sf_fault_plan *plan = NULL;
    sf_driver *d;
    sf_op op;
    sf_result r;
    sf_error err;
    size_t k, differ = 0;

    stopped_with_snapshot(f, id, snap);
    snprintf(clean, sizeof clean, "%s/absent/clean", f->root);
    expect_ok(f, SF_OP_DOWNLOAD, id, snap, clean, NULL);
    d = faulty(f, "download=corrupt", &plan);
    assert_int_equal(sf_op_init(&op, SF_OP_DOWNLOAD, id, snap, f->dir, &err),
                     SF_OK);
    assert_int_equal(sf_driver_run(d, &op, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    for (k = 0; k < 3; k++) {
        size_t a_len = 0, b_len = 0;
        char *a, *b;

        if (kind_on_disk(f, clean, blobs[k]) == SF_STORAGE_ABSENT)
            continue;
        a = read_on_disk(f, clean, blobs[k], &a_len);
        b = read_on_disk(f, f->dir, blobs[k], &b_len);
        assert_int_equal(a_len, b_len);
        differ += memcmp(a, b, a_len) != 0;
        free(a);
        free(b);
    }
    assert_int_equal(differ, 1);
    sf_driver_destroy(d);
    sf_fault_plan_free(plan);
    nothing_real(f);
}

static int first_entry(const char *name, void *payload)
{
    char *first = payload;

    if (first[0] == '\0' || strcmp(name, first) < 0)
        snprintf(first, 256, "%s", name);
    return 0;
}

/* download=truncate-chunk cuts the first chunk by name to half its size. */
static void test_fault_truncate_chunk_on_the_simulated_disk(void **state)
{
    fixture *f = *state;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[SF_SNAPSHOT_ID_MAX], clean[160];
    char store[256], first[256] = "", name[300];
    sf_fault_plan *plan = NULL;
    sf_driver *d;
    sf_op op;
    sf_result r;
    sf_error err;
    size_t a_len = 0, b_len = 0;
    char *a, *b;

    stopped_with_snapshot(f, id, snap);
    snprintf(clean, sizeof clean, "%s/absent/clean", f->root);
    expect_ok(f, SF_OP_DOWNLOAD, id, snap, clean, NULL);
    d = faulty(f, "download=truncate-chunk", &plan);
    assert_int_equal(sf_op_init(&op, SF_OP_DOWNLOAD, id, snap, f->dir, &err),
                     SF_OK);
    assert_int_equal(sf_driver_run(d, &op, &r, &err), SF_OK);
    assert_int_not_equal(r.fail, SF_FAIL_NONE); /* icp died mid-write */
    sf_result_free(&r);
    snprintf(store, sizeof store, "%s/wasm_chunk_store", f->dir);
    assert_int_equal(sf_storage_list(f->st, store, first_entry, first, &err),
                     SF_OK);
    assert_true(first[0] != '\0');
    snprintf(name, sizeof name, "wasm_chunk_store/%s", first);
    a = read_on_disk(f, clean, name, &a_len);
    b = read_on_disk(f, f->dir, name, &b_len);
    assert_int_equal(b_len, a_len / 2);
    assert_memory_equal(a, b, b_len);
    free(a);
    free(b);
    sf_driver_destroy(d);
    sf_fault_plan_free(plan);
    nothing_real(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_download_and_upload_on_the_simulated_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_write_fault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_download_mkdir_fault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_download_lock_fault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_download_chunk_store_not_a_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_remove_fault, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upload_read_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_fault_corrupt_on_the_simulated_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fault_truncate_chunk_on_the_simulated_disk, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
