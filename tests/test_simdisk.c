/* The simulator's disk: what survives a crash is exactly what was synced
 * (file bytes by sync, names by sync_dir), torn last writes, every fault
 * (EIO, ENOSPC, capacity, virtual latency, random EIO by seed), handles and
 * locks after a crash, and the compound atomic write crashed at every
 * call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"

static sf_simdisk *new_disk(uint64_t seed, unsigned tear)
{
    sf_simdisk_options o = SF_SIMDISK_OPTIONS_INIT;
    sf_simdisk *d = NULL;
    sf_error err;

    o.seed = seed;
    o.tear_per_mille = tear;
    assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_OK);
    return d;
}

/* The file's bytes, or NULL when absent; *len receives the length. */
static char *contents(const sf_storage *st, const char *path, size_t *len)
{
    sf_storage_kind kind;
    char *data = NULL;
    sf_error err;

    assert_int_equal(sf_storage_kind_of(st, path, &kind, &err), SF_OK);
    if (kind == SF_STORAGE_ABSENT)
        return NULL;
    assert_int_equal(kind, SF_STORAGE_REGULAR);
    assert_int_equal(sf_storage_read_all(st, path, 1 << 20, &data, len, &err),
                     SF_OK);
    return data;
}

static void assert_contents(const sf_storage *st, const char *path,
                            const char *want)
{
    size_t len = 0;
    char *got = contents(st, path, &len);

    if (want == NULL) {
        assert_null(got);
        return;
    }
    assert_non_null(got);
    assert_int_equal(len, strlen(want));
    assert_memory_equal(got, want, len);
    free(got);
}

/* Creates path with data: written, synced, and the name synced when
 * sync_name. */
static void put(const sf_storage *st, const char *path, const char *data,
                bool sync_data, bool sync_name)
{
    sf_storage_file *f = NULL;
    sf_error err;

    assert_int_equal(sf_storage_open(st, path, SF_STORAGE_WRITE |
                                     SF_STORAGE_CREATE | SF_STORAGE_TRUNCATE,
                                     &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, data, strlen(data), &err), SF_OK);
    if (sync_data)
        assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_DATA, &err),
                         SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    if (sync_name) {
        char parent[256];
        const char *slash = strrchr(path, '/');

        snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
        assert_int_equal(sf_storage_sync_dir(st, parent[0] ? parent : "/", &err),
                         SF_OK);
    }
}

static void test_files_and_names(void **state)
{
    sf_simdisk *d = new_disk(1, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_storage_kind kind;
    sf_storage_file *f = NULL;
    char buf[8];
    size_t got;
    sf_error err;

    (void)state;
    assert_int_equal(sf_storage_mkdir_p(st, "/d/e", &err), SF_OK);
    put(st, "/d/a", "alpha", true, true);
    assert_contents(st, "/d/a", "alpha");
    assert_contents(st, "d/a", "alpha"); /* one tree */
    assert_int_equal(sf_storage_kind_of(st, "/d/e", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_DIRECTORY);
    assert_int_equal(sf_storage_kind_of(st, "/nope/x", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_kind_of(st, "/d/a/x", &kind, &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOTDIR)));
    /* refusals, as POSIX words them */
    assert_int_equal(sf_storage_open(st, "/d/missing", SF_STORAGE_READ, &f, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "cannot open /d/missing"));
    assert_non_null(strstr(err.message, strerror(ENOENT)));
    assert_int_equal(sf_storage_open(st, "/d/e", SF_STORAGE_READ, &f, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(sf_storage_open(st, "/d/a", SF_STORAGE_WRITE |
                                     SF_STORAGE_CREATE | SF_STORAGE_EXCL, &f,
                                     &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(EEXIST)));
    assert_int_equal(sf_storage_open(st, "/d/../a", SF_STORAGE_READ, &f, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "'..'"));
    /* a read-only handle cannot write */
    assert_int_equal(sf_storage_open(st, "/d/a", SF_STORAGE_READ, &f, &err),
                     SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "x", 1, &err), SF_ERR);
    assert_int_equal(sf_storage_read(st, f, 3, buf, sizeof buf, &got, &err),
                     SF_OK);
    assert_int_equal(got, 2);
    assert_memory_equal(buf, "ha", 2);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    /* directories: not into themselves, not removed while full */
    assert_int_equal(sf_storage_rename(st, "/d", "/d/e/d2", &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(EINVAL)));
    assert_int_equal(sf_storage_remove(st, "/d", &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOTEMPTY)));
    assert_int_equal(sf_storage_rename(st, "/d/a", "/d/e", &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(EISDIR)));
    assert_int_equal(sf_storage_remove(st, "/d/e", &err), SF_OK);
    assert_int_equal(sf_storage_remove(st, "/d/e", &err), SF_ERR);
    sf_simdisk_free(d);
}

/* The heart of the model: after a crash, file bytes are those of the last
 * sync and names those of the last directory sync. */
static void test_crash_keeps_exactly_what_was_synced(void **state)
{
    sf_simdisk *d = new_disk(2, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_storage_file *f = NULL;
    sf_error err;

    (void)state;
    assert_int_equal(sf_storage_mkdir(st, "/d", &err), SF_OK);
    put(st, "/d/synced", "S", true, true);          /* bytes and name */
    put(st, "/d/no-name", "N", true, false);        /* bytes, no name */
    assert_int_equal(sf_storage_sync_dir(st, "/d", &err), SF_OK);
    /* created and named durably, bytes never synced: comes back empty */
    put(st, "/d/empty", "", false, true);
    assert_int_equal(sf_storage_open(st, "/d/empty", SF_STORAGE_WRITE, &f, &err),
                     SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "lost", 4, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    /* synced bytes, then an unsynced append and an unsynced truncate */
    assert_int_equal(sf_storage_open(st, "/d/synced", SF_STORAGE_WRITE, &f,
                                     &err), SF_OK);
    assert_int_equal(sf_storage_append(st, f, "+tail", 5, NULL, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    put(st, "/d/trunc", "0123", true, true);
    assert_int_equal(sf_storage_open(st, "/d/trunc", SF_STORAGE_WRITE, &f, &err),
                     SF_OK);
    assert_int_equal(sf_storage_truncate(st, f, 1, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    /* an unsynced rename and an unsynced remove */
    put(st, "/d/old", "O", true, true);
    put(st, "/d/gone", "G", true, true);
    assert_int_equal(sf_storage_rename(st, "/d/old", "/d/new", &err), SF_OK);
    assert_int_equal(sf_storage_remove(st, "/d/gone", &err), SF_OK);
    assert_contents(st, "/d/new", "O");
    assert_contents(st, "/d/gone", NULL);
    put(st, "/d/no-name2", "N2", true, false);      /* name never synced */

    assert_int_equal(sf_simdisk_crash(d), 0);
    assert_contents(st, "/d/synced", "S");
    assert_contents(st, "/d/no-name", "N");
    assert_contents(st, "/d/no-name2", NULL);
    assert_contents(st, "/d/empty", "");
    assert_contents(st, "/d/trunc", "0123");
    assert_contents(st, "/d/old", "O");
    assert_contents(st, "/d/new", NULL);
    assert_contents(st, "/d/gone", "G");

    /* the same changes made durable do survive */
    assert_int_equal(sf_storage_rename(st, "/d/old", "/d/new", &err), SF_OK);
    assert_int_equal(sf_storage_remove(st, "/d/gone", &err), SF_OK);
    assert_int_equal(sf_storage_sync_dir(st, "/d", &err), SF_OK);
    assert_int_equal(sf_simdisk_crash(d), 0);
    assert_contents(st, "/d/new", "O");
    assert_contents(st, "/d/old", NULL);
    assert_contents(st, "/d/gone", NULL);
    sf_simdisk_free(d);
}

static int count_x(const char *name, void *payload)
{
    if (strcmp(name, "x") == 0)
        (*(int *)payload)++;
    return 0;
}

/* A directory removed without a sync of its parent, then made again under
 * the same name: a mkdir is durable at once, so after a crash the name
 * stands once, for the new directory (it stood twice, the old directory's
 * entry beside the new one, and a rename took either). */
static void test_mkdir_over_a_name_removed_unsynced(void **state)
{
    sf_simdisk *d = new_disk(3, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_storage_kind kind;
    sf_error err;
    int seen = 0;

    (void)state;
    assert_int_equal(sf_storage_mkdir(st, "/d", &err), SF_OK);
    assert_int_equal(sf_storage_mkdir(st, "/d/x", &err), SF_OK);
    put(st, "/d/x/f", "old", true, true);
    assert_int_equal(sf_storage_remove(st, "/d/x/f", &err), SF_OK);
    assert_int_equal(sf_storage_remove(st, "/d/x", &err), SF_OK);
    assert_int_equal(sf_storage_mkdir(st, "/d/x", &err), SF_OK);
    assert_int_equal(sf_simdisk_crash(d), 0);
    assert_int_equal(sf_storage_list(st, "/d", count_x, &seen, &err), SF_OK);
    assert_int_equal(seen, 1);
    assert_int_equal(sf_storage_kind_of(st, "/d/x/f", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    /* and the name can go again, for good */
    assert_int_equal(sf_storage_remove(st, "/d/x", &err), SF_OK);
    assert_int_equal(sf_storage_sync_dir(st, "/d", &err), SF_OK);
    assert_int_equal(sf_simdisk_crash(d), 0);
    assert_int_equal(sf_storage_kind_of(st, "/d/x", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    sf_simdisk_free(d);
}

/* A handle or lock from before a crash is stale: calls fail with EIO, the
 * lock is free again, close and unlock still free them. */
static void test_crash_drops_handles_and_locks(void **state)
{
    sf_simdisk *d = new_disk(3, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_storage_file *f = NULL;
    sf_storage_lock *a = NULL, *b = NULL;
    uint64_t size;
    sf_error err;

    (void)state;
    put(st, "/x", "data", true, false);
    assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_OK);
    assert_int_equal(sf_storage_open(st, "/x", SF_STORAGE_WRITE, &f, &err), SF_OK);
    assert_int_equal(sf_storage_lock_acquire(st, "/lock", &a, &err), SF_OK);
    assert_int_equal(sf_storage_lock_acquire(st, "/lock", &b, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_LOCKED);
    sf_simdisk_crash(d);
    assert_int_equal(sf_storage_write(st, f, 0, "y", 1, &err), SF_ERR);
    assert_non_null(strstr(err.message, "stale handle"));
    assert_int_equal(sf_storage_size(st, f, &size, &err), SF_ERR);
    assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, &err), SF_ERR);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    assert_int_equal(sf_storage_lock_acquire(st, "/lock", &b, &err), SF_OK);
    sf_storage_lock_release(st, &a); /* stale: frees only */
    assert_int_equal(sf_storage_lock_acquire(st, "/lock", &a, &err), SF_ERR);
    sf_storage_lock_release(st, &b);
    assert_contents(st, "/x", "data");
    sf_simdisk_free(d);
}

/* Tearing: a prefix of the last unsynced write, at every length, lands on
 * the synced bytes; a gap before it reads as zeros. */
static void test_torn_last_write_at_every_length(void **state)
{
    const char *rec = "0123456789";
    sf_error err;

    (void)state;
    for (size_t keep = 0; keep < 10; keep++) {
        sf_simdisk *d = new_disk(4, 0);
        const sf_storage *st = sf_simdisk_storage(d);
        sf_storage_file *f = NULL;
        char want[32], *got;
        size_t len;

        put(st, "/log", "abc", true, false);
        assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_OK);
        assert_int_equal(sf_storage_open(st, "/log", SF_STORAGE_WRITE, &f, &err),
                         SF_OK);
        assert_int_equal(sf_storage_append(st, f, rec, 10, NULL, &err), SF_OK);
        assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
        assert_int_equal(sf_simdisk_crash_tear(d, "/log", keep, &err), SF_OK);
        snprintf(want, sizeof want, "abc%.*s", (int)keep, rec);
        assert_contents(st, "/log", want);
        sf_simdisk_free(d);

        /* the write lands past the synced end: zeros between */
        d = new_disk(4, 0);
        st = sf_simdisk_storage(d);
        put(st, "/log", "abc", true, false);
        assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_OK);
        assert_int_equal(sf_storage_open(st, "/log", SF_STORAGE_WRITE, &f, &err),
                         SF_OK);
        assert_int_equal(sf_storage_write(st, f, 3, "zz", 2, &err), SF_OK);
        assert_int_equal(sf_storage_write(st, f, 5, rec, 10, &err), SF_OK);
        assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
        assert_int_equal(sf_simdisk_crash_tear(d, "/log", keep, &err), SF_OK);
        got = contents(st, "/log", &len);
        assert_int_equal(len, keep > 0 ? 5 + keep : 3);
        assert_memory_equal(got, "abc", 3);
        if (keep > 0) {
            assert_memory_equal(got + 3, "\0\0", 2);
            assert_memory_equal(got + 5, rec, keep);
        }
        free(got);
        sf_simdisk_free(d);
    }
}

static void test_tear_refusals_and_random_tears(void **state)
{
    sf_error err;
    char *first = NULL;
    size_t first_len = 0;

    (void)state;
    {
        sf_simdisk *d = new_disk(5, 0);
        const sf_storage *st = sf_simdisk_storage(d);

        put(st, "/s", "synced", true, true);
        /* nothing unsynced to tear; keep not shorter than the write */
        assert_int_equal(sf_simdisk_crash_tear(d, "/s", 0, &err), SF_ERR);
        assert_string_equal(err.kind, SF_EK_USAGE);
        put(st, "/u", "abc", false, false);
        assert_int_equal(sf_simdisk_crash_tear(d, "/u", 3, &err), SF_ERR);
        assert_int_equal(sf_simdisk_crash_tear(d, "/missing", 0, &err), SF_ERR);
        assert_contents(st, "/u", "abc"); /* refused: nothing crashed */
        sf_simdisk_free(d);
    }
    /* tear_per_mille 1000: every crash tears, a strict prefix chosen by the
     * seed; the same seed tears the same way */
    for (int run = 0; run < 2; run++) {
        sf_simdisk *d = new_disk(77, 1000);
        const sf_storage *st = sf_simdisk_storage(d);
        sf_storage_file *f = NULL;
        char *got;
        size_t len;

        put(st, "/log", "head", true, false);
        assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_OK);
        assert_int_equal(sf_storage_open(st, "/log", SF_STORAGE_WRITE, &f, &err),
                         SF_OK);
        assert_int_equal(sf_storage_append(st, f, "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                                           26, NULL, &err), SF_OK);
        assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
        assert_int_equal(sf_simdisk_crash(d), 1);
        got = contents(st, "/log", &len);
        assert_true(len >= 4 && len < 30);
        assert_memory_equal(got, "headABCDEFGHIJKLMNOPQRSTUVWXYZ", len);
        if (run == 0) {
            first = got;
            first_len = len;
        } else {
            assert_int_equal(len, first_len);
            assert_memory_equal(got, first, len);
            free(got);
        }
        sf_simdisk_free(d);
    }
    free(first);
}

/* ---- faults ---- */

static void test_scripted_eio_once_and_persistent(void **state)
{
    sf_simdisk *d = new_disk(6, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_simdisk_fault once = {SF_SIMDISK_WRITE, 2, EIO, 0, false};
    sf_simdisk_fault always = {SF_SIMDISK_SYNC, 1, EIO, 0, true};
    sf_storage_file *f = NULL;
    sf_error err;

    (void)state;
    assert_int_equal(sf_simdisk_fault_add(d, &once, &err), SF_OK);
    assert_int_equal(sf_storage_open(st, "/f", SF_STORAGE_WRITE |
                                     SF_STORAGE_CREATE, &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "a", 1, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 1, "b", 1, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot write /f"));
    assert_non_null(strstr(err.message, strerror(EIO)));
    assert_int_equal(sf_storage_write(st, f, 1, "c", 1, &err), SF_OK);
    assert_int_equal(sf_simdisk_faults_injected(d), 1);
    /* a failed sync syncs nothing, every time */
    assert_int_equal(sf_simdisk_fault_add(d, &always, &err), SF_OK);
    assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, &err), SF_ERR);
    assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, &err), SF_ERR);
    assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot sync directory"));
    assert_int_equal(sf_simdisk_faults_injected(d), 4);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    sf_simdisk_faults_clear(d);
    assert_int_equal(sf_storage_sync_dir(st, "/", &err), SF_OK);
    sf_simdisk_crash(d);
    assert_contents(st, "/f", "");
    /* bad faults are refused */
    once.errnum = EPERM;
    assert_int_equal(sf_simdisk_fault_add(d, &once, &err), SF_ERR);
    once.errnum = EIO;
    once.nth = 0;
    assert_int_equal(sf_simdisk_fault_add(d, &once, &err), SF_ERR);
    sf_simdisk_free(d);
}

static void test_enospc_fault_and_capacity(void **state)
{
    sf_simdisk_options o = SF_SIMDISK_OPTIONS_INIT;
    sf_simdisk_fault full = {SF_SIMDISK_WRITE, 1, ENOSPC, 0, false};
    sf_storage_file *f = NULL;
    const sf_storage *st;
    sf_simdisk *d = NULL;
    sf_error err;

    (void)state;
    o.capacity_bytes = 10;
    assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_OK);
    st = sf_simdisk_storage(d);
    assert_int_equal(sf_simdisk_fault_add(d, &full, &err), SF_OK);
    assert_int_equal(sf_storage_write_atomic(st, "/doc", "x", 1, &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOSPC)));
    assert_contents(st, "/doc", NULL);
    assert_int_equal(sf_simdisk_used_bytes(d), 0);
    /* capacity: 10 bytes in all files together */
    assert_int_equal(sf_storage_open(st, "/f", SF_STORAGE_WRITE |
                                     SF_STORAGE_CREATE, &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "12345678", 8, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 8, "9ab", 3, &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOSPC)));
    assert_int_equal(sf_storage_truncate(st, f, 11, &err), SF_ERR);
    assert_int_equal(sf_storage_write(st, f, 0, "abcdefgh", 8, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 8, "9a", 2, &err), SF_OK);
    assert_int_equal(sf_simdisk_used_bytes(d), 10);
    assert_int_equal(sf_storage_truncate(st, f, 4, &err), SF_OK);
    assert_int_equal(sf_simdisk_used_bytes(d), 4);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    assert_int_equal(sf_storage_remove(st, "/f", &err), SF_OK);
    assert_int_equal(sf_simdisk_used_bytes(d), 0);
    assert_int_equal(sf_simdisk_faults_injected(d), 3);
    sf_simdisk_free(d);
}

static void test_virtual_latency(void **state)
{
    sf_simdisk_options o = SF_SIMDISK_OPTIONS_INIT;
    sf_simdisk_fault slow = {SF_SIMDISK_SYNC, 1, 0, 5000000000ull, false};
    sf_simdisk *d = NULL;
    uint64_t t0, t1;
    sf_error err;

    (void)state;
    o.latency_ns_call = 10;
    o.latency_ns_sync = 1000;
    assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_OK);
    t0 = sf_simdisk_now_ns(d);
    assert_int_equal(sf_storage_mkdir(sf_simdisk_storage(d), "/a", &err), SF_OK);
    assert_int_equal(sf_simdisk_now_ns(d) - t0, 10);
    assert_int_equal(sf_storage_sync_dir(sf_simdisk_storage(d), "/a", &err),
                     SF_OK);
    assert_int_equal(sf_simdisk_now_ns(d) - t0, 1020);
    assert_int_equal(sf_simdisk_fault_add(d, &slow, &err), SF_OK);
    t1 = sf_simdisk_now_ns(d);
    /* latency only: the call succeeds, late */
    assert_int_equal(sf_storage_sync_dir(sf_simdisk_storage(d), "/a", &err),
                     SF_OK);
    assert_int_equal(sf_simdisk_now_ns(d) - t1, 5000001010ull);
    assert_int_equal(sf_simdisk_faults_injected(d), 0);
    sf_simdisk_free(d);
}

/* Random EIO from the seed: the same seed fails the same calls. */
static void test_random_eio_reproducible(void **state)
{
    uint64_t pattern[2] = {0, 0};

    (void)state;
    for (int run = 0; run < 2; run++) {
        sf_simdisk_options o = SF_SIMDISK_OPTIONS_INIT;
        sf_simdisk *d = NULL;
        sf_error err;

        o.seed = 99;
        o.eio_per_mille = 300;
        o.eio_ops = SF_SIMDISK_MKDIR;
        assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_OK);
        for (int i = 0; i < 64; i++)
            if (sf_storage_mkdir(sf_simdisk_storage(d), "/m", &err) != SF_OK)
                pattern[run] |= 1ull << i;
        assert_int_equal(sf_simdisk_faults_injected(d),
                         (uint64_t)__builtin_popcountll(pattern[run]));
        sf_simdisk_free(d);
    }
    assert_true(pattern[0] != 0 && pattern[0] != UINT64_MAX);
    assert_int_equal(pattern[0], pattern[1]);
}

/* The atomic replace crashed at every call it makes (a persistent EIO
 * from the Nth call on, then a crash): the document is always the old one
 * or the new one, whole, and no temp file is left named. */
static int count_names(const char *name, void *payload)
{
    (void)name;
    (*(int *)payload)++;
    return 0;
}

static void test_write_atomic_crashed_at_every_call(void **state)
{
    bool saw_old = false, saw_new = false;

    (void)state;
    for (uint64_t n = 1; ; n++) {
        sf_simdisk *d = new_disk(n, 500);
        const sf_storage *st = sf_simdisk_storage(d);
        sf_simdisk_fault stop = {SF_SIMDISK_ALL, n, EIO, 0, true};
        sf_error err;
        char *got;
        size_t len;
        int rc, names = 0;

        assert_int_equal(sf_storage_write_atomic(st, "/b/doc.json", "old", 3,
                                                 &err), SF_OK);
        assert_int_equal(sf_simdisk_fault_add(d, &stop, &err), SF_OK);
        rc = sf_storage_write_atomic(st, "/b/doc.json", "new!", 4, &err);
        sf_simdisk_faults_clear(d);
        sf_simdisk_crash(d);
        got = contents(st, "/b/doc.json", &len);
        assert_non_null(got);
        if (len == 3 && memcmp(got, "old", 3) == 0)
            saw_old = true;
        else if (len == 4 && memcmp(got, "new!", 4) == 0)
            saw_new = true;
        else
            fail_msg("call %llu: torn document", (unsigned long long)n);
        free(got);
        assert_int_equal(sf_storage_list(st, "/b", count_names, &names, &err),
                         SF_OK);
        assert_int_equal(names, 1);
        sf_simdisk_free(d);
        if (rc == SF_OK)
            break; /* the fault came after the last call */
        assert_true(n < 100);
    }
    assert_true(saw_old);
    assert_true(saw_new);
}

static void test_bad_options(void **state)
{
    sf_simdisk_options o = SF_SIMDISK_OPTIONS_INIT;
    sf_simdisk *d = NULL;
    sf_error err;

    (void)state;
    o.tear_per_mille = 1001;
    assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_ERR);
    assert_null(d);
    o.tear_per_mille = 0;
    o.version = 2;
    assert_int_equal(sf_simdisk_new(&d, &o, &err), SF_ERR);
    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    sf_simdisk_free(d);
    sf_simdisk_free(NULL);
}

/* ---- the overlay: the simulated disk over a real directory ---- */

typedef struct overlay_fx {
    char dir[64];
    sf_simdisk *disk;
    sf_simdisk_overlay *ov;
    const sf_storage *st, *real;
} overlay_fx;

static void overlay_open(overlay_fx *x, uint64_t seed)
{
    sf_error err;

    snprintf(x->dir, sizeof x->dir, "/tmp/sf-overlay-XXXXXX");
    assert_non_null(mkdtemp(x->dir));
    x->disk = new_disk(seed, 0);
    assert_int_equal(sf_simdisk_overlay_new(x->disk, sf_storage_posix(), &x->ov,
                                            &err), SF_OK);
    x->st = sf_simdisk_overlay_storage(x->ov);
    x->real = sf_storage_posix();
    assert_int_equal(sf_storage_mkdir_p(x->st, x->dir, &err), SF_OK);
}

static void overlay_close(overlay_fx *x)
{
    char cmd[128];

    sf_simdisk_overlay_free(x->ov);
    sf_simdisk_free(x->disk);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", x->dir);
    assert_int_equal(system(cmd), 0);
}

static char *in(const overlay_fx *x, const char *name)
{
    static char path[4][128];
    static int k;

    k = (k + 1) % 4;
    snprintf(path[k], sizeof path[k], "%s/%s", x->dir, name);
    return path[k];
}

static int crash_seen;
static void count_crash(void *ctx)
{
    (void)ctx;
    crash_seen++;
}

/* The real directory holds every change at once (code calling POSIX sees
 * it), a crash takes back exactly what was not synced, and meanwhile
 * every call fails. */
static void test_overlay_crash_drops_unsynced(void **state)
{
    overlay_fx x;
    sf_storage_file *f = NULL;
    sf_error err;

    (void)state;
    overlay_open(&x, 5);
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "doc"), "v1", 2, &err),
                     SF_OK);
    put(x.st, in(&x, "unsynced"), "lost", false, false);
    put(x.st, in(&x, "data-only"), "kept?", true, false);
    assert_contents(x.real, in(&x, "doc"), "v1");          /* on the real disk */
    assert_contents(x.real, in(&x, "unsynced"), "lost");   /* at once */
    assert_int_equal(sf_storage_open(x.st, in(&x, "doc"), SF_STORAGE_WRITE, &f,
                                     &err), SF_OK);
    assert_int_equal(sf_storage_write(x.st, f, 0, "V2", 2, &err), SF_OK);
    assert_contents(x.real, in(&x, "doc"), "V2");
    sf_simdisk_overlay_crash(x.ov);
    assert_true(sf_simdisk_overlay_crashed(x.ov));
    /* the dead process can do nothing more */
    assert_int_equal(sf_storage_write(x.st, f, 0, "V3", 2, &err), SF_ERR);
    assert_non_null(strstr(err.message, "(the process crashed)"));
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "other"), "x", 1, &err),
                     SF_ERR);
    assert_int_equal(sf_storage_close(x.st, &f, &err), SF_OK); /* close frees */
    assert_int_equal(sf_simdisk_overlay_recover(x.ov, &err), SF_OK);
    assert_false(sf_simdisk_overlay_crashed(x.ov));
    assert_contents(x.real, in(&x, "doc"), "v1");        /* the unsynced write went */
    assert_contents(x.real, in(&x, "unsynced"), NULL);   /* never synced: gone */
    assert_contents(x.real, in(&x, "data-only"), NULL);  /* its name never synced */
    assert_contents(x.real, in(&x, "other"), NULL);
    /* and life goes on */
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "doc"), "v4", 2, &err),
                     SF_OK);
    assert_contents(x.real, in(&x, "doc"), "v4");
    assert_int_equal(sf_simdisk_overlay_recover(x.ov, &err), SF_OK); /* no crash */
    overlay_close(&x);
}

/* A crash inside a write: a strict prefix of it lands over what was
 * synced; on_crash is told; the call fails. */
static void test_overlay_torn_write(void **state)
{
    overlay_fx x;
    sf_storage_file *f = NULL;
    sf_error err;
    size_t len = 0;
    char *got;

    (void)state;
    overlay_open(&x, 6);
    put(x.st, in(&x, "log"), "AAAAAAAAAA", true, true);
    assert_int_equal(sf_storage_open(x.st, in(&x, "log"), SF_STORAGE_WRITE, &f,
                                     &err), SF_OK);
    crash_seen = 0;
    sf_simdisk_overlay_tear_at(x.ov, 2, 7, count_crash, NULL);
    assert_int_equal(sf_storage_write(x.st, f, 10, "bb", 2, &err), SF_OK); /* 1st */
    assert_int_equal(sf_storage_sync(x.st, f, SF_STORAGE_SYNC_DATA, &err), SF_OK);
    assert_int_equal(sf_storage_write(x.st, f, 0, "CCCCCCCCCCCC", 12, &err),
                     SF_ERR); /* 2nd: torn */
    assert_int_equal(crash_seen, 1);
    assert_true(sf_simdisk_overlay_crashed(x.ov));
    sf_storage_close(x.st, &f, &err);
    assert_int_equal(sf_simdisk_overlay_recover(x.ov, &err), SF_OK);
    got = contents(x.real, in(&x, "log"), &len);
    assert_non_null(got);
    /* 7 % 12 = 7 bytes of the torn write over the 12 synced ones */
    assert_int_equal(len, 12);
    assert_memory_equal(got, "CCCCCCCAAAbb", 12);
    free(got);
    overlay_close(&x);
}

/* A fault the simulated disk injects fails the call through the overlay
 * and leaves the real directory untouched; a name made outside the seam
 * is changed on the real disk alone, and a crash leaves it alone. */
static void test_overlay_faults_and_untracked(void **state)
{
    overlay_fx x;
    sf_simdisk_fault fault = {SF_SIMDISK_RENAME, 1, ENOSPC, 0, false};
    sf_storage_file *f = NULL;
    sf_error err;
    FILE *outside;

    (void)state;
    overlay_open(&x, 7);
    assert_int_equal(sf_simdisk_fault_add(x.disk, &fault, &err), SF_OK);
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "doc"), "v1", 2, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "No space left on device"));
    assert_contents(x.real, in(&x, "doc"), NULL);
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "doc"), "v1", 2, &err),
                     SF_OK); /* once */
    outside = fopen(in(&x, "outside"), "w");
    assert_non_null(outside);
    fputs("posix", outside);
    fclose(outside);
    assert_contents(x.st, in(&x, "outside"), "posix"); /* reads are the real disk's */
    assert_int_equal(sf_storage_open(x.st, in(&x, "outside"), SF_STORAGE_WRITE,
                                     &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(x.st, f, 0, "P", 1, &err), SF_OK);
    assert_int_equal(sf_storage_close(x.st, &f, &err), SF_OK);
    assert_int_equal(sf_storage_rename(x.st, in(&x, "outside"), in(&x, "moved"),
                                       &err), SF_OK);
    sf_simdisk_overlay_crash(x.ov);
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "doc"), "v2", 2, &err),
                     SF_ERR);
    assert_int_equal(sf_simdisk_overlay_recover(x.ov, &err), SF_OK);
    assert_contents(x.real, in(&x, "doc"), "v1");
    assert_contents(x.real, in(&x, "moved"), "Posix");
    {
        sf_simdisk_overlay *none;
        assert_int_equal(sf_simdisk_overlay_new(NULL, x.real, &none, &err), SF_ERR);
        assert_null(none);
    }
    overlay_close(&x);
}

/* ---- version 2: list_kind, info, canonical, remove_tree ---- */

typedef struct kinds_seen {
    char names[256];
    int calls;
} kinds_seen;

static int note_kind(const char *name, sf_storage_kind kind, void *payload)
{
    kinds_seen *k = payload;
    size_t n = strlen(k->names);

    snprintf(k->names + n, sizeof k->names - n, "%s=%d;", name, (int)kind);
    k->calls++;
    return 0;
}

/* Removes every entry as it is listed: the kinds are the listing's. */
static int remove_each(const char *name, sf_storage_kind kind, void *payload)
{
    const sf_storage *st = payload;
    char p[64];

    snprintf(p, sizeof p, "/t/%s", name);
    assert_int_equal(sf_storage_remove_tree(st, p, NULL), SF_OK);
    return kind == SF_STORAGE_ABSENT ? 1 : 0;
}

static void test_v2_methods(void **state)
{
    sf_simdisk *d = new_disk(7, 0);
    const sf_storage *st = sf_simdisk_storage(d);
    sf_storage_info info;
    kinds_seen k = {0};
    char *c = NULL;
    sf_error err;

    (void)state;
    assert_false(sf_storage_concurrent(st));
    assert_int_equal(sf_storage_mkdir(st, "/t", &err), SF_OK);
    put(st, "/t/f", "abc", true, false);
    assert_int_equal(sf_storage_mkdir_p(st, "/t/sub/deeper", &err), SF_OK);
    put(st, "/t/sub/deeper/g", "xy", false, false);
    /* list_kind: in the order names were made, each with its kind */
    assert_int_equal(sf_storage_list_kind(st, "t", note_kind, &k, &err), SF_OK);
    assert_string_equal(k.names, "f=1;sub=2;");
    assert_int_equal(sf_storage_list_kind(st, "/t/f", note_kind, &k, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOTDIR)));
    assert_int_equal(sf_storage_list_kind(st, "/none", note_kind, &k, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "cannot read directory /none"));
    /* info */
    assert_int_equal(sf_storage_info_of(st, "t//f", &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_REGULAR);
    assert_int_equal(info.size, 3);
    assert_int_equal(sf_storage_info_of(st, "/t/sub/deeper/g", &info, &err),
                     SF_OK);
    assert_int_equal(info.size, 2); /* live bytes, synced or not */
    assert_int_equal(sf_storage_info_of(st, "/t/sub", &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_DIRECTORY);
    assert_int_equal(sf_storage_info_of(st, "/t/none", &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_info_of(st, "/t/none/x", &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_info_of(st, "/t/f/x", &info, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot stat"));
    /* canonical: lexical */
    assert_int_equal(sf_storage_canonical(st, "t//sub/./deeper/", &c, &err),
                     SF_OK);
    assert_string_equal(c, "/t/sub/deeper");
    free(c);
    assert_int_equal(sf_storage_canonical(st, "/", &c, &err), SF_OK);
    assert_string_equal(c, "/");
    free(c);
    assert_int_equal(sf_storage_canonical(st, "/t/none", &c, &err), SF_ERR);
    assert_null(c);
    assert_non_null(strstr(err.message, "cannot resolve /t/none"));
    assert_int_equal(sf_storage_canonical(st, "/t/none/x", &c, &err), SF_ERR);
    assert_int_equal(sf_storage_canonical(st, "/t/../t", &c, &err), SF_ERR);
    assert_true(sf_storage_same(st, "t/sub", "/t//sub/."));
    assert_false(sf_storage_same(st, "/t/sub", "/t"));
    /* remove_tree: the wrapper's, one remove at a time */
    assert_int_equal(sf_storage_remove_tree(st, "/t/sub", &err), SF_OK);
    assert_int_equal(sf_storage_info_of(st, "/t/sub", &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_remove_tree(st, "/t/sub", &err), SF_OK);
    assert_int_equal(sf_storage_remove_tree(st, "/t/f/x", &err), SF_ERR);
    assert_int_equal(sf_storage_mkdir_p(st, "/t/a/b", &err), SF_OK);
    put(st, "/t/a/b/c", "c", false, false);
    assert_int_equal(sf_storage_list_kind(st, "/t", remove_each, (void *)st,
                                          &err), SF_OK);
    memset(&k, 0, sizeof k);
    assert_int_equal(sf_storage_list_kind(st, "/t", note_kind, &k, &err), SF_OK);
    assert_int_equal(k.calls, 0);
    /* a fault while the tree is removed stops it, with the fault's error */
    assert_int_equal(sf_storage_mkdir_p(st, "/u/v", &err), SF_OK);
    {
        sf_simdisk_fault f = {SF_SIMDISK_REMOVE, 1, EIO, 0, false};

        assert_int_equal(sf_simdisk_fault_add(d, &f, &err), SF_OK);
        assert_int_equal(sf_storage_remove_tree(st, "/u", &err), SF_ERR);
        assert_non_null(strstr(err.message, strerror(EIO)));
        sf_simdisk_faults_clear(d);
        f.ops = SF_SIMDISK_LIST;
        assert_int_equal(sf_simdisk_fault_add(d, &f, &err), SF_OK);
        assert_int_equal(sf_storage_remove_tree(st, "/u", &err), SF_ERR);
        assert_non_null(strstr(err.message, "cannot read directory"));
        sf_simdisk_faults_clear(d);
    }
    assert_int_equal(sf_storage_remove_tree(st, "/u", &err), SF_OK);
    sf_simdisk_free(d);
}

/* The overlay: list_kind, info and canonical are the real storage's; a
 * tree removed through it is removed on the simulated disk too, one
 * remove at a time; after a crash each fails. */
static void test_overlay_v2_methods(void **state)
{
    overlay_fx x;
    const sf_storage *shadow;
    sf_storage_info info;
    kinds_seen k = {0};
    sf_storage_kind kind;
    char *c = NULL;
    sf_error err;

    (void)state;
    overlay_open(&x, 3);
    shadow = sf_simdisk_storage(x.disk);
    assert_false(sf_storage_concurrent(x.st));
    assert_int_equal(sf_storage_write_atomic(x.st, in(&x, "t/a/doc"), "v1", 2,
                                             &err), SF_OK);
    assert_int_equal(symlink("doc", in(&x, "t/a/link")), 0); /* real only */
    assert_int_equal(sf_storage_list_kind(x.st, in(&x, "t/a"), note_kind, &k,
                                          &err), SF_OK);
    assert_int_equal(k.calls, 2);
    assert_non_null(strstr(k.names, "doc=1;"));
    assert_non_null(strstr(k.names, "link=3;"));
    assert_int_equal(sf_storage_info_of(x.st, in(&x, "t/a/link"), &info, &err),
                     SF_OK);
    assert_int_equal(info.other, SF_STORAGE_OTHER_SYMLINK);
    assert_int_equal(sf_storage_canonical(x.st, in(&x, "t/a/../a"), &c, &err),
                     SF_OK);
    assert_non_null(strstr(c, "/t/a"));
    free(c);
    assert_int_equal(sf_storage_kind_of(shadow, in(&x, "t/a/doc"), &kind, &err),
                     SF_OK);
    assert_int_equal(kind, SF_STORAGE_REGULAR);
    assert_int_equal(sf_storage_remove_tree(x.st, in(&x, "t"), &err), SF_OK);
    assert_int_equal(sf_storage_kind_of(x.real, in(&x, "t"), &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_kind_of(shadow, in(&x, "t"), &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    sf_simdisk_overlay_crash(x.ov);
    assert_int_equal(sf_storage_list_kind(x.st, x.dir, note_kind, &k, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "crashed"));
    assert_int_equal(sf_storage_info_of(x.st, x.dir, &info, &err), SF_ERR);
    assert_non_null(strstr(err.message, "crashed"));
    assert_int_equal(sf_storage_canonical(x.st, x.dir, &c, &err), SF_ERR);
    assert_non_null(strstr(err.message, "crashed"));
    assert_int_equal(sf_simdisk_overlay_recover(x.ov, &err), SF_OK);
    overlay_close(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_and_names),
        cmocka_unit_test(test_crash_keeps_exactly_what_was_synced),
        cmocka_unit_test(test_crash_drops_handles_and_locks),
        cmocka_unit_test(test_mkdir_over_a_name_removed_unsynced),
        cmocka_unit_test(test_torn_last_write_at_every_length),
        cmocka_unit_test(test_tear_refusals_and_random_tears),
        cmocka_unit_test(test_scripted_eio_once_and_persistent),
        cmocka_unit_test(test_enospc_fault_and_capacity),
        cmocka_unit_test(test_virtual_latency),
        cmocka_unit_test(test_random_eio_reproducible),
        cmocka_unit_test(test_write_atomic_crashed_at_every_call),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_overlay_crash_drops_unsynced),
        cmocka_unit_test(test_overlay_torn_write),
        cmocka_unit_test(test_overlay_faults_and_untracked),
        cmocka_unit_test(test_v2_methods),
        cmocka_unit_test(test_overlay_v2_methods),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
