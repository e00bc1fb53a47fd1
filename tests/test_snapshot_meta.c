/* metadata.json: every field read strictly with its path in the error,
 * and a snapshot directory checked against it (sizes, the module's
 * SHA-256 against the module hash, every listed chunk present). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/simdisk.h"
#include "snapfleet/snapshot_meta.h"

static const char chunk[] = "chunk bytes";
static const char module[] = "\0asm module";
static char chunk_hash[65];
static char module_hash[65];

/* A valid document; %s is replaced by the chunk hash as a byte array. */
static void good(char *out, size_t n, const char *chunk_bytes)
{
    snprintf(out, n,
             "{\"source\":{\"taken_from_canister\":null},"
             "\"taken_at_timestamp\":1,\"wasm_module_size\":%zu,"
             "\"globals\":[{\"i32\":-1},{\"i64\":2},{\"f32\":1.5},{\"f64\":2.5},"
             "{\"v128\":[1,2]}],\"wasm_memory_size\":4,\"stable_memory_size\":0,"
             "\"wasm_chunk_store\":[{\"hash\":%s}],\"canister_version\":7,"
             "\"certified_data\":[1,2,3],\"global_timer\":{\"active\":5},"
             "\"on_low_wasm_memory_hook_status\":\"ready\"}",
             sizeof module - 1, chunk_bytes);
}

static void bytes_of(const char *hex, char *out, size_t n)
{
    size_t i, k = 0;

    k += (size_t)snprintf(out + k, n - k, "[");
    for (i = 0; i < 32; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        k += (size_t)snprintf(out + k, n - k, "%s%u", i ? "," : "", v);
    }
    snprintf(out + k, n - k, "]");
}

static int setup(void **state)
{
    (void)state;
    if (sf_sha256_bytes(chunk, sizeof chunk - 1, chunk_hash) != SF_OK ||
        sf_sha256_bytes(module, sizeof module - 1, module_hash) != SF_OK)
        return -1;
    return 0;
}

static void test_parse_good(void **state)
{
    char doc[4096], arr[400];
    sf_snapshot_meta m;
    sf_error err;

    (void)state;
    bytes_of(chunk_hash, arr, sizeof arr);
    good(doc, sizeof doc, arr);
    assert_int_equal(sf_snapshot_meta_parse(doc, strlen(doc), &m, &err), SF_OK);
    assert_int_equal(m.wasm_module_size, sizeof module - 1);
    assert_int_equal(m.wasm_memory_size, 4);
    assert_int_equal(m.global_count, 5);
    assert_int_equal(m.canister_version, 7);
    assert_int_equal(m.certified_data_len, 3);
    assert_int_equal(m.chunk_count, 1);
    assert_string_equal(m.chunk_hashes[0], chunk_hash);
    sf_snapshot_meta_free(&m);
}

typedef struct bad_case {
    const char *from, *to, *field;
} bad_case;

static void test_parse_refusals(void **state)
{
    static const bad_case cases[] = {
        {"\"taken_at_timestamp\":1,", "", "taken_at_timestamp"},
        {"\"wasm_module_size\":11", "\"wasm_module_size\":-1", "wasm_module_size"},
        {"\"wasm_memory_size\":4", "\"wasm_memory_size\":\"4\"", "wasm_memory_size"},
        {"\"stable_memory_size\":0", "\"stable_memory_size\":1.0", "stable_memory_size"},
        {"\"canister_version\":7", "\"canister_version\":18446744073709551616", "canister_version"},
        {"{\"i32\":-1}", "{\"i128\":-1}", "globals[0]"},
        {"{\"i32\":-1}", "null", "globals[0]"},
        {"{\"i32\":-1}", "{\"i32\":\"x\"}", "globals[0].i32"},
        {"{\"i32\":-1}", "{\"i32\":1,\"i64\":2}", "globals[0]"},
        {"\"certified_data\":[1,2,3]", "\"certified_data\":[1,2,256]", "certified_data[2]"},
        {"\"certified_data\":[1,2,3]", "\"certified_data\":\"abc\"", "certified_data"},
        {"\"certified_data\":[1,2,3],", "", "certified_data"},
        {"{\"taken_from_canister\":null}", "\"taken_from_canister\"", "source"},
        {"{\"active\":5}", "\"active\"", "global_timer"},
        {"{\"active\":5}", "{\"active\":-5}", "global_timer.active"},
        {"\"ready\"", "\"asleep\"", "on_low_wasm_memory_hook_status"},
        {"[{\"hash\":", "[{\"hush\":", "wasm_chunk_store[0]"},
        {"[{\"hash\":[", "[{\"hash\":[1,", "wasm_chunk_store[0].hash"},
        {"\"wasm_chunk_store\":[", "\"wasm_chunk_store\":[7,", "wasm_chunk_store[0]"},
    };
    char doc[4096], arr[400], bad[4200], *at;
    sf_snapshot_meta m;
    sf_error err;
    size_t i;

    (void)state;
    bytes_of(chunk_hash, arr, sizeof arr);
    good(doc, sizeof doc, arr);
    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        at = strstr(doc, cases[i].from);
        assert_non_null(at);
        snprintf(bad, sizeof bad, "%.*s%s%s", (int)(at - doc), doc, cases[i].to,
                 at + strlen(cases[i].from));
        if (sf_snapshot_meta_parse(bad, strlen(bad), &m, &err) == SF_OK)
            fail_msg("case %zu accepted: %s", i, bad);
        assert_string_equal(err.kind, SF_EK_JSON_SCHEMA);
        if (strcmp(err.field, cases[i].field) != 0)
            fail_msg("case %zu: field %s, wanted %s (%s)", i, err.field,
                     cases[i].field, err.message);
    }
    assert_int_equal(sf_snapshot_meta_parse("[]", 2, &m, &err), SF_ERR);
    assert_int_equal(sf_snapshot_meta_parse("{", 1, &m, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_JSON_SYNTAX);
}

static void test_short_hash(void **state)
{
    char doc[4096], arr[400], *end;
    sf_snapshot_meta m;
    sf_error err;

    (void)state;
    bytes_of(chunk_hash, arr, sizeof arr);
    end = strrchr(arr, ',');
    strcpy(end, "]"); /* 31 bytes */
    good(doc, sizeof doc, arr);
    assert_int_equal(sf_snapshot_meta_parse(doc, strlen(doc), &m, &err), SF_ERR);
    assert_string_equal(err.field, "wasm_chunk_store[0].hash");
}

/* ---- the directory check ---- */

static char dir[64];

static void put(const char *name, const void *data, size_t len)
{
    char p[sizeof dir + 256];
    sf_error err;

    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(sf_fs_write_atomic(p, data, len, &err), SF_OK);
}

static void make_dir(void)
{
    char doc[4096], arr[400], name[128];

    strcpy(dir, "/tmp/sf-meta-XXXXXX");
    assert_non_null(mkdtemp(dir));
    bytes_of(chunk_hash, arr, sizeof arr);
    good(doc, sizeof doc, arr);
    put("metadata.json", doc, strlen(doc));
    put("wasm_module.bin", module, sizeof module - 1);
    put("wasm_memory.bin", "heap", 4);
    put("stable_memory.bin", "", 0);
    snprintf(name, sizeof name, "wasm_chunk_store/%s.bin", chunk_hash);
    put(name, chunk, sizeof chunk - 1);
}

static void drop_dir(void)
{
    sf_error err;
    sf_remove_tree(dir, &err);
}

static void test_dir_check(void **state)
{
    char name[256], p[256], wrong[65];
    sf_error err;

    (void)state;
    make_dir();
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_OK);
    assert_int_equal(sf_snapshot_dir_check(dir, NULL, &err), SF_OK);
    /* the module is not what the canister reported */
    memset(wrong, 'a', 64);
    wrong[64] = '\0';
    assert_int_equal(sf_snapshot_dir_check(dir, wrong, &err), SF_ERR);
    assert_string_equal(err.kind, "snapshot-content-mismatch");
    assert_non_null(strstr(err.message, "wasm_module.bin"));
    assert_non_null(strstr(err.message, wrong));
    assert_non_null(strstr(err.message, module_hash));
    /* a heap of the wrong size, naming both values */
    put("wasm_memory.bin", "heap!", 5);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_string_equal(err.field, "wasm_memory.bin");
    assert_non_null(strstr(err.message, "holds 5 bytes, metadata.json says 4"));
    put("wasm_memory.bin", "heap", 4);
    /* stable memory missing stands for 0 bytes */
    snprintf(p, sizeof p, "%s/stable_memory.bin", dir);
    unlink(p);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_OK);
    /* a listed chunk missing */
    snprintf(name, sizeof name, "%s/wasm_chunk_store/%s.bin", dir, chunk_hash);
    unlink(name);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, chunk_hash));
    /* no metadata at all */
    snprintf(p, sizeof p, "%s/metadata.json", dir);
    unlink(p);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, "metadata.json"));
    drop_dir();
}

static void test_dir_check_module_absent(void **state)
{
    char p[256];
    sf_error err;

    (void)state;
    make_dir();
    snprintf(p, sizeof p, "%s/wasm_module.bin", dir);
    unlink(p);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_string_equal(err.field, "wasm_module.bin");
    /* a directory where a file belongs */
    mkdir(p, 0700);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    drop_dir();
}

/* A chunk file whose bytes are not the SHA-256 in its name (a short one
 * a killed icp left): the check names it and both hashes; the repair
 * removes exactly that file, and leaves good and missing ones alone. */
static void test_chunk_content(void **state)
{
    char name[256], p[600];
    size_t removed = 9;
    sf_error err;
    struct stat st;

    (void)state;
    make_dir();
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_OK);
    assert_int_equal(removed, 0);
    snprintf(name, sizeof name, "wasm_chunk_store/%s.bin", chunk_hash);
    put(name, chunk, (sizeof chunk - 1) / 2);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_string_equal(err.kind, "snapshot-content-mismatch");
    assert_string_equal(err.field, name);
    assert_non_null(strstr(err.message, chunk_hash));
    assert_non_null(strstr(err.message, "has SHA-256"));
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_OK);
    assert_int_equal(removed, 1);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(stat(p, &st), -1);
    /* missing now: nothing more to remove, and the check says missing */
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, "is missing"));
    /* the same bytes, but longer */
    put(name, "xchunk-bytes-and-more", 21);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    put(name, chunk, sizeof chunk - 1);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_OK);
    /* no metadata: the repair says so */
    snprintf(p, sizeof p, "%s/metadata.json", dir);
    unlink(p);
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_ERR);
    assert_non_null(strstr(err.message, "metadata.json"));
    drop_dir();
}

/* The same checks and the repair over the simulated disk (installed with
 * sf_fs_set_storage): nothing of it on the real file system. */
static void test_over_the_simulated_disk(void **state)
{
    char doc[4096], arr[400], name[128], p[600];
    sf_simdisk_fault fault = {SF_SIMDISK_REMOVE, 1, EIO, 0, false};
    const sf_storage *st;
    sf_storage_kind kind;
    sf_simdisk *d = NULL;
    size_t removed = 9;
    sf_error err;

    (void)state;
    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    st = sf_simdisk_storage(d);
    sf_fs_set_storage(st);
    strcpy(dir, "/sim/meta");
    bytes_of(chunk_hash, arr, sizeof arr);
    good(doc, sizeof doc, arr);
    put("metadata.json", doc, strlen(doc));
    put("wasm_module.bin", module, sizeof module - 1);
    put("wasm_memory.bin", "heap", 4);
    snprintf(name, sizeof name, "wasm_chunk_store/%s.bin", chunk_hash);
    put(name, chunk, sizeof chunk - 1);
    /* stable memory absent: 0 bytes */
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_OK);
    put("wasm_memory.bin", "heap!", 5);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_string_equal(err.field, "wasm_memory.bin");
    assert_non_null(strstr(err.message, "holds 5 bytes, metadata.json says 4"));
    put("wasm_memory.bin", "heap", 4);
    assert_int_equal(sf_storage_mkdir(st, "/sim/meta/stable_memory.bin", &err),
                     SF_OK);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(sf_storage_remove(st, "/sim/meta/stable_memory.bin", &err),
                     SF_OK);
    /* a short chunk: named by the check, removed by the repair, which
     * reports a failed remove about that chunk */
    put(name, chunk, (sizeof chunk - 1) / 2);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_string_equal(err.field, name);
    assert_int_equal(sf_simdisk_fault_add(d, &fault, &err), SF_OK);
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_ERR);
    assert_string_equal(err.field, name);
    assert_non_null(strstr(err.message, "cannot remove"));
    sf_simdisk_faults_clear(d);
    assert_int_equal(sf_snapshot_chunks_repair(dir, &removed, &err), SF_OK);
    assert_int_equal(removed, 1);
    snprintf(p, sizeof p, "%s/%s", dir, name);
    assert_int_equal(sf_storage_kind_of(st, p, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_snapshot_dir_check(dir, module_hash, &err), SF_ERR);
    assert_non_null(strstr(err.message, "is missing"));
    drop_dir();
    assert_int_equal(sf_storage_kind_of(st, dir, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    sf_fs_set_storage(NULL);
    assert_int_equal(access("/sim", F_OK), -1);
    sf_simdisk_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_short_hash),
        cmocka_unit_test(test_dir_check),
        cmocka_unit_test(test_dir_check_module_absent),
        cmocka_unit_test(test_chunk_content),
        cmocka_unit_test(test_over_the_simulated_disk),
    };
    return cmocka_run_group_tests_name("snapshot_meta", tests, setup, NULL);
}
