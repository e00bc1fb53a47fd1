/* The storage seam: the wrappers' checks, the POSIX storage method by
 * method, the compound operations (read_all, mkdir_p, write_atomic,
 * rename_durable) and their cleanup on failure, the counting shim, and
 * sf_fs routed through an installed storage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/fs.h"
#include "snapfleet/storage.h"
#include "tmpdir.h"

static void test_posix_file_round_trip(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_file *f = NULL;
    char p[512], buf[16];
    uint64_t size, off;
    size_t got;
    sf_error err;
    struct stat sb;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "rt.bin");
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE | SF_STORAGE_CREATE,
                                     &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "hello", 5, &err), SF_OK);
    assert_int_equal(sf_storage_append(st, f, " world", 6, &off, &err), SF_OK);
    assert_int_equal(off, 5);
    assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_DATA, &err), SF_OK);
    assert_int_equal(sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, &err), SF_OK);
    assert_int_equal(sf_storage_size(st, f, &size, &err), SF_OK);
    assert_int_equal(size, 11);
    /* positional read; a read past the end is short, not an error */
    assert_int_equal(sf_storage_read(st, f, 6, buf, sizeof buf, &got, &err),
                     SF_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    assert_int_equal(sf_storage_read(st, f, 100, buf, sizeof buf, &got, &err),
                     SF_OK);
    assert_int_equal(got, 0);
    assert_int_equal(sf_storage_truncate(st, f, 5, &err), SF_OK);
    assert_int_equal(sf_storage_size(st, f, &size, &err), SF_OK);
    assert_int_equal(size, 5);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    assert_null(f);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK); /* NULL-tolerant */
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* EXCL refuses an existing file; TRUNCATE empties it */
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                                     SF_STORAGE_EXCL, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "rt.bin"));
    assert_null(f);
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE | SF_STORAGE_TRUNCATE,
                                     &f, &err), SF_OK);
    assert_int_equal(sf_storage_size(st, f, &size, &err), SF_OK);
    assert_int_equal(size, 0);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
}

static void test_posix_open_refusals(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_file *f = NULL;
    char p[512], q[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "missing.bin");
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_READ, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot open"));
    assert_non_null(strstr(err.message, "missing.bin"));
    sf_tmpdir_path(p, sizeof p, "fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_READ, &f, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE, &f, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    sf_tmpdir_path(q, sizeof q, "link");
    assert_int_equal(symlink("fifo", q), 0);
    assert_int_equal(sf_storage_open(st, q, SF_STORAGE_READ, &f, &err), SF_ERR);
    assert_non_null(strstr(err.message, "symbolic link"));
    assert_int_equal(sf_storage_open(st, sf_tmpdir, SF_STORAGE_READ, &f, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_null(f);
}

static void test_posix_temp_names_are_unique(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_file *a = NULL, *b = NULL;
    char t1[512], t2[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(t1, sizeof t1, "doc.tmp.XXXXXX");
    strcpy(t2, t1);
    assert_int_equal(sf_storage_open_temp(st, t1, &a, &err), SF_OK);
    assert_int_equal(sf_storage_open_temp(st, t2, &b, &err), SF_OK);
    assert_null(strstr(t1, "XXXXXX"));
    assert_string_not_equal(t1, t2);
    assert_int_equal(access(t1, F_OK), 0);
    assert_int_equal(access(t2, F_OK), 0);
    assert_int_equal(sf_storage_close(st, &a, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &b, &err), SF_OK);
    /* a template must end in XXXXXX */
    sf_tmpdir_path(t1, sizeof t1, "doc.tmp");
    assert_int_equal(sf_storage_open_temp(st, t1, &a, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
}

static int collect(const char *name, void *payload)
{
    char *acc = payload;

    strcat(acc, name);
    strcat(acc, ";");
    return 0;
}

static int stop_at_first(const char *name, void *payload)
{
    (void)name;
    (*(int *)payload)++;
    return 7;
}

static void test_posix_names(void **state)
{
    const sf_storage *st = sf_storage_posix();
    char p[512], q[512], d[512], names[256] = "";
    sf_storage_kind kind;
    sf_error err;
    int calls = 0;

    (void)state;
    sf_tmpdir_path(d, sizeof d, "names/sub");
    assert_int_equal(sf_storage_mkdir_p(st, d, &err), SF_OK);
    assert_int_equal(sf_storage_mkdir(st, d, &err), SF_OK); /* exists: fine */
    assert_int_equal(sf_storage_kind_of(st, d, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_DIRECTORY);
    sf_tmpdir_path(p, sizeof p, "names/a");
    assert_int_equal(sf_storage_write_atomic(st, p, "A", 1, &err), SF_OK);
    assert_int_equal(sf_storage_kind_of(st, p, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_REGULAR);
    sf_tmpdir_path(q, sizeof q, "names/b");
    assert_int_equal(sf_storage_kind_of(st, q, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_storage_rename_durable(st, p, q, &err), SF_OK);
    assert_int_equal(access(p, F_OK), -1);
    sf_tmpdir_path(p, sizeof p, "names/l");
    assert_int_equal(symlink("b", p), 0);
    assert_int_equal(sf_storage_kind_of(st, p, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_OTHER);
    assert_int_equal(sf_storage_remove(st, p, &err), SF_OK); /* the link only */
    assert_int_equal(access(q, F_OK), 0);
    sf_tmpdir_path(p, sizeof p, "names");
    assert_int_equal(sf_storage_sync_dir(st, p, &err), SF_OK);
    assert_int_equal(sf_storage_list(st, p, collect, names, &err), SF_OK);
    assert_true(strcmp(names, "b;sub;") == 0 || strcmp(names, "sub;b;") == 0);
    assert_int_equal(sf_storage_list(st, p, stop_at_first, &calls, &err), 7);
    assert_int_equal(calls, 1);
    assert_int_equal(sf_storage_remove(st, d, &err), SF_OK); /* empty dir */
    assert_int_equal(sf_storage_remove(st, d, &err), SF_ERR); /* absent */
    assert_non_null(strstr(err.message, "cannot remove"));
    assert_int_equal(sf_storage_rename(st, d, q, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot rename"));
    assert_int_equal(sf_storage_list(st, d, collect, names, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot read directory"));
    assert_int_equal(sf_storage_sync_dir(st, d, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot sync directory"));
    /* mkdir_p through a file */
    sf_tmpdir_path(d, sizeof d, "names/b/sub");
    assert_int_equal(sf_storage_mkdir_p(st, d, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot create directory"));
}

static void test_posix_lock(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_lock *a = NULL, *b = NULL;
    char p[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "lockfile");
    assert_int_equal(sf_storage_lock_acquire(st, p, &a, &err), SF_OK);
    assert_non_null(a);
    assert_int_equal(sf_storage_lock_acquire(st, p, &b, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_LOCKED);
    assert_non_null(strstr(err.message, "lockfile"));
    assert_null(b);
    sf_storage_lock_release(st, &a);
    assert_null(a);
    sf_storage_lock_release(st, &a); /* NULL-tolerant */
    assert_int_equal(sf_storage_lock_acquire(st, p, &b, &err), SF_OK);
    sf_storage_lock_release(st, &b);
    /* a directory where the lock file belongs */
    assert_int_equal(sf_storage_lock_acquire(st, sf_tmpdir, &a, &err), SF_ERR);
    assert_null(a);
}

static void test_read_all_limit(void **state)
{
    const sf_storage *st = sf_storage_posix();
    char p[512], *data;
    size_t len;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "ra/doc");
    assert_int_equal(sf_storage_write_atomic(st, p, "0123456789", 10, &err),
                     SF_OK);
    assert_int_equal(sf_storage_read_all(st, p, 10, &data, &len, &err), SF_OK);
    assert_int_equal(len, 10);
    assert_string_equal(data, "0123456789");
    free(data);
    assert_int_equal(sf_storage_read_all(st, p, 9, &data, &len, &err), SF_ERR);
    assert_null(data);
    assert_non_null(strstr(err.message, "limit"));
    /* no temp file stays after the write */
    sf_tmpdir_path(p, sizeof p, "ra");
    assert_int_equal(sf_tmpdir_count_entries(p), 1);
}

/* ---- the wrappers' checks ---- */

static void test_wrappers_refuse_bad_calls(void **state)
{
    sf_storage empty = {.version = SF_STORAGE_VERSION, .name = "empty"};
    const sf_storage *st = sf_storage_posix();
    sf_storage_file *f = NULL;
    sf_storage_lock *l = NULL;
    char p[512];
    sf_error err;

    (void)state;
    assert_int_equal(sf_storage_open(NULL, "x", 0, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_open(&empty, "x", 0, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    assert_non_null(strstr(err.message, "empty"));
    assert_int_equal(sf_storage_lock_acquire(&empty, "x", &l, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    assert_int_equal(sf_storage_sync_dir(&empty, "x", &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    /* CREATE without WRITE, unknown flags, empty paths */
    sf_tmpdir_path(p, sizeof p, "bad");
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_CREATE, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_open(st, p, 0x100, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_open(st, "", 0, &f, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(access(p, F_OK), -1);
    assert_int_equal(sf_storage_sync(st, NULL, 0, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
}

/* ---- failures in the middle of an atomic write ---- */

static int fail_sync(void *ctx, sf_storage_file *file, unsigned how,
                     sf_error *err)
{
    (void)ctx;
    (void)file;
    (void)how;
    return sf_error_set_errno(err, 5 /* EIO */, "", "cannot write (test)");
}

static int fail_rename(void *ctx, const char *from, const char *to,
                       sf_error *err)
{
    (void)ctx;
    (void)to;
    return sf_error_set_errno(err, 28 /* ENOSPC */, "", "cannot rename %s",
                              from);
}

static void test_write_atomic_failures_clean_up(void **state)
{
    sf_storage broken = *sf_storage_posix();
    char p[512], d[512], *data;
    size_t len;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "wa/doc.json");
    sf_tmpdir_path(d, sizeof d, "wa");
    assert_int_equal(sf_storage_write_atomic(sf_storage_posix(), p, "old", 3,
                                             &err), SF_OK);
    broken.sync = fail_sync;
    assert_int_equal(sf_storage_write_atomic(&broken, p, "new", 3, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_int_equal(sf_tmpdir_count_entries(d), 1);
    broken = *sf_storage_posix();
    broken.rename = fail_rename;
    assert_int_equal(sf_storage_write_atomic(&broken, p, "new", 3, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot replace"));
    assert_non_null(strstr(err.message, "No space left on device"));
    assert_int_equal(sf_tmpdir_count_entries(d), 1);
    assert_int_equal(sf_storage_read_all(sf_storage_posix(), p, 100, &data,
                                         &len, &err), SF_OK);
    assert_string_equal(data, "old");
    free(data);
}

/* ---- the counting shim ---- */

static void test_counting_shim(void **state)
{
    sf_storage_counting c;
    sf_storage_file *f = NULL;
    sf_storage_lock *l = NULL;
    char p[512], *data;
    size_t len;
    sf_error err;

    (void)state;
    sf_storage_counting_init(&c, sf_storage_posix());
    sf_tmpdir_path(p, sizeof p, "count/doc.json");
    assert_int_equal(sf_storage_write_atomic(&c.storage, p, "12345", 5, &err),
                     SF_OK);
    assert_int_equal(c.counts.writes, 1);
    assert_int_equal(c.counts.bytes_written, 5);
    assert_int_equal(c.counts.fsyncs, 1);
    assert_int_equal(c.counts.fdatasyncs, 0);
    assert_int_equal(c.counts.dir_syncs, 1);
    assert_int_equal(c.counts.renames, 1);
    assert_int_equal(c.counts.opens, 1);
    assert_int_equal(sf_storage_read_all(&c.storage, p, 100, &data, &len, &err),
                     SF_OK);
    free(data);
    assert_int_equal(c.counts.bytes_read, 5);
    assert_int_equal(sf_storage_open(&c.storage, p, SF_STORAGE_WRITE, &f, &err),
                     SF_OK);
    assert_int_equal(sf_storage_append(&c.storage, f, "678", 3, NULL, &err),
                     SF_OK);
    assert_int_equal(sf_storage_sync(&c.storage, f, SF_STORAGE_SYNC_DATA, &err),
                     SF_OK);
    assert_int_equal(sf_storage_truncate(&c.storage, f, 2, &err), SF_OK);
    assert_int_equal(sf_storage_close(&c.storage, &f, &err), SF_OK);
    assert_int_equal(c.counts.bytes_written, 8);
    assert_int_equal(c.counts.fdatasyncs, 1);
    assert_int_equal(c.counts.truncates, 1);
    assert_int_equal(sf_storage_remove(&c.storage, p, &err), SF_OK);
    assert_int_equal(c.counts.removes, 1);
    /* locks pass through */
    sf_tmpdir_path(p, sizeof p, "count/lock");
    assert_int_equal(sf_storage_lock_acquire(&c.storage, p, &l, &err), SF_OK);
    sf_storage_lock_release(&c.storage, &l);
    /* a lockless inner storage stays lockless */
    {
        sf_storage lockless = *sf_storage_posix();
        sf_storage_counting c2;

        lockless.lock = NULL;
        lockless.unlock = NULL;
        sf_storage_counting_init(&c2, &lockless);
        assert_int_equal(sf_storage_lock_acquire(&c2.storage, p, &l, &err),
                         SF_ERR);
        assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    }
}

/* sf_fs's durable primitives go through the installed storage. */
static void test_fs_routes_through_installed_storage(void **state)
{
    sf_storage_counting c;
    char p[512], q[512], *data;
    size_t len;
    sf_error err;

    (void)state;
    sf_storage_counting_init(&c, sf_storage_posix());
    sf_fs_set_storage(&c.storage);
    assert_ptr_equal(sf_fs_storage(), &c.storage);
    sf_tmpdir_path(p, sizeof p, "routed/a.json");
    sf_tmpdir_path(q, sizeof q, "routed/b.json");
    assert_int_equal(sf_fs_write_atomic(p, "{}", 2, &err), SF_OK);
    assert_int_equal(sf_fs_write_atomic_untracked(q, "[]", 2, &err), SF_OK);
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    free(data);
    assert_int_equal(sf_fs_rename_durable(p, q, &err), SF_OK);
    sf_fs_set_storage(NULL);
    assert_ptr_equal(sf_fs_storage(), sf_storage_posix());
    assert_int_equal(c.counts.bytes_written, 4);
    assert_int_equal(c.counts.fsyncs, 2);
    assert_int_equal(c.counts.dir_syncs, 3);
    assert_int_equal(c.counts.renames, 3);
    assert_int_equal(c.counts.bytes_read, 2);
    /* nothing counted once POSIX is back */
    assert_int_equal(sf_fs_write_atomic(p, "{}", 2, &err), SF_OK);
    assert_int_equal(c.counts.bytes_written, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posix_file_round_trip),
        cmocka_unit_test(test_posix_open_refusals),
        cmocka_unit_test(test_posix_temp_names_are_unique),
        cmocka_unit_test(test_posix_names),
        cmocka_unit_test(test_posix_lock),
        cmocka_unit_test(test_read_all_limit),
        cmocka_unit_test(test_wrappers_refuse_bad_calls),
        cmocka_unit_test(test_write_atomic_failures_clean_up),
        cmocka_unit_test(test_counting_shim),
        cmocka_unit_test(test_fs_routes_through_installed_storage),
    };

    return cmocka_run_group_tests(tests, sf_tmpdir_setup, sf_tmpdir_teardown);
}
