/* The storage seam's error paths: the POSIX storage refusing what the
 * kernel refuses (an offset past what off_t holds, a path through a
 * regular file, a non-empty directory, a lock file that is a FIFO), each
 * error naming the path and leaving the file system as it was; and the
 * compound operations (append, read_all, mkdir_p, rename_durable) when a
 * method of the storage under them fails, or a file shrinks while it is
 * read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/storage.h"
#include "tmpdir.h"

/* A file holding `text`, made directly (not through the seam). */
static void make_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

static uint64_t file_size(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return (uint64_t)sb.st_size;
}

/* ---- POSIX ---- */

/* An offset or length beyond what off_t holds: the kernel refuses
 * (EINVAL) and the storage says so, naming the file; the file keeps its
 * bytes. */
static void test_posix_offsets_beyond_off_t(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_file *f = NULL;
    char p[512], buf[8];
    size_t got = 99;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "big-offset.bin");
    make_file(p, "abc");
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE, &f, &err), SF_OK);
    assert_int_equal(sf_storage_read(st, f, UINT64_MAX - 100, buf, sizeof buf,
                                     &got, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot read"));
    assert_non_null(strstr(err.message, "big-offset.bin"));
    assert_non_null(strstr(err.message, strerror(EINVAL)));
    assert_int_equal(got, 0);
    assert_int_equal(sf_storage_write(st, f, UINT64_MAX - 100, "x", 1, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "cannot write"));
    assert_non_null(strstr(err.message, "big-offset.bin"));
    assert_int_equal(sf_storage_truncate(st, f, UINT64_MAX - 100, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot truncate"));
    assert_non_null(strstr(err.message, "big-offset.bin"));
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    assert_int_equal(file_size(p), 3);
}

/* kind: a path through a regular file is an error (ENOTDIR), not
 * "absent"; remove: a directory with something in it stays, with it. */
static void test_posix_kind_and_remove_refusals(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_kind kind = SF_STORAGE_REGULAR;
    char p[512], q[512], d[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "plain-file");
    make_file(p, "x");
    sf_tmpdir_path(q, sizeof q, "plain-file/below");
    assert_int_equal(sf_storage_kind_of(st, q, &kind, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot stat"));
    assert_non_null(strstr(err.message, "plain-file/below"));
    assert_non_null(strstr(err.message, strerror(ENOTDIR)));

    sf_tmpdir_path(d, sizeof d, "full-dir");
    assert_int_equal(mkdir(d, 0700), 0);
    sf_tmpdir_path(q, sizeof q, "full-dir/inside");
    make_file(q, "y");
    assert_int_equal(sf_storage_remove(st, d, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot remove"));
    assert_non_null(strstr(err.message, "full-dir"));
    assert_non_null(strstr(err.message, strerror(ENOTEMPTY)));
    assert_int_equal(sf_tmpdir_count_entries(d), 1);
    assert_int_equal(sf_storage_kind_of(st, q, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_REGULAR);
}

/* A lock file must be a regular file: a FIFO planted in its place is
 * refused at once (the open never blocks) and left where it is. */
static void test_posix_lock_on_a_fifo(void **state)
{
    const sf_storage *st = sf_storage_posix();
    sf_storage_lock *l = NULL;
    sf_storage_kind kind;
    char p[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "lock-fifo");
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(sf_storage_lock_acquire(st, p, &l, &err), SF_ERR);
    assert_null(l);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "lock-fifo"));
    assert_non_null(strstr(err.message, "not a regular file"));
    assert_int_equal(sf_storage_kind_of(st, p, &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_OTHER);
}

/* ---- compound operations over a failing storage ---- */

static int fail_size(void *ctx, sf_storage_file *file, uint64_t *out,
                     sf_error *err)
{
    (void)ctx;
    (void)file;
    (void)out;
    return sf_error_set_errno(err, EIO, "", "cannot stat (injected)");
}

static int fail_read(void *ctx, sf_storage_file *file, uint64_t offset,
                     void *buf, size_t len, size_t *got, sf_error *err)
{
    (void)ctx;
    (void)file;
    (void)offset;
    (void)buf;
    (void)len;
    (void)got;
    return sf_error_set_errno(err, EIO, "", "cannot read (injected)");
}

/* Reads at most 2 bytes, then end of file: a file that shrank after its
 * size was taken. */
static int short_read(void *ctx, sf_storage_file *file, uint64_t offset,
                      void *buf, size_t len, size_t *got, sf_error *err)
{
    const sf_storage *posix = sf_storage_posix();

    (void)ctx;
    if (offset >= 2)
        return SF_OK;
    return posix->read(posix->ctx, file, offset, buf, len < 2 ? len : 2, got,
                       err);
}

static int fail_kind(void *ctx, const char *path, sf_storage_kind *out,
                     sf_error *err)
{
    (void)ctx;
    (void)out;
    return sf_error_set_errno(err, EIO, "", "cannot stat %s (injected)", path);
}

static int fail_sync_dir(void *ctx, const char *path, sf_error *err)
{
    (void)ctx;
    return sf_error_set_errno(err, EIO, "", "cannot sync directory %s "
                              "(injected)", path);
}

/* append needs the file's size to know where its end is: without it,
 * nothing is written. */
static void test_append_without_a_size_writes_nothing(void **state)
{
    sf_storage broken = *sf_storage_posix();
    sf_storage_file *f = NULL;
    uint64_t off = 77;
    char p[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "append.bin");
    make_file(p, "0123");
    broken.size = fail_size;
    assert_int_equal(sf_storage_open(&broken, p, SF_STORAGE_WRITE, &f, &err),
                     SF_OK);
    assert_int_equal(sf_storage_append(&broken, f, "xyz", 3, &off, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "injected"));
    assert_int_equal(off, 77); /* not told where it would have gone */
    assert_int_equal(sf_storage_close(&broken, &f, &err), SF_OK);
    assert_int_equal(file_size(p), 4);
}

/* read_all: a size or read failure is the error, nothing is returned and
 * nothing leaks; a file that shrinks while it is read gives what is
 * there. */
static void test_read_all_failures(void **state)
{
    sf_storage broken = *sf_storage_posix();
    char p[512], *data = (char *)"untouched";
    size_t len = 99;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "read-all.json");
    make_file(p, "{\"a\": 1}");
    broken.size = fail_size;
    assert_int_equal(sf_storage_read_all(&broken, p, 100, &data, &len, &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "cannot stat (injected)"));
    assert_null(data);
    assert_int_equal(len, 0);

    broken = *sf_storage_posix();
    broken.read = fail_read;
    assert_int_equal(sf_storage_read_all(&broken, p, 100, &data, &len, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot read (injected)"));
    assert_null(data);
    assert_int_equal(len, 0);

    broken = *sf_storage_posix();
    broken.read = short_read;
    assert_int_equal(sf_storage_read_all(&broken, p, 100, &data, &len, &err),
                     SF_OK);
    assert_int_equal(len, 2);
    assert_string_equal(data, "{\"");
    free(data);
}

/* mkdir_p makes the directories, then must see a directory there: a
 * failing kind is the error (the directories made stay: mkdir -p is
 * idempotent). */
static void test_mkdir_p_cannot_check_the_result(void **state)
{
    sf_storage broken = *sf_storage_posix();
    char p[512];
    struct stat sb;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "mkp/a/b");
    broken.kind = fail_kind;
    assert_int_equal(sf_storage_mkdir_p(&broken, p, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "mkp/a/b"));
    assert_int_equal(stat(p, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sf_storage_mkdir_p(sf_storage_posix(), p, &err), SF_OK);
}

/* rename_durable: the rename is done, but a failed directory sync is
 * reported (the new name is not promised to survive a crash). A name
 * without a directory part syncs ".". */
static void test_rename_durable_reports_the_directory_sync(void **state)
{
    sf_storage broken = *sf_storage_posix();
    char from[512], to[512], cwd[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(from, sizeof from, "rd-from");
    sf_tmpdir_path(to, sizeof to, "rd-to");
    make_file(from, "x");
    broken.sync_dir = fail_sync_dir;
    assert_int_equal(sf_storage_rename_durable(&broken, from, to, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot sync directory"));
    assert_non_null(strstr(err.message, sf_tmpdir));
    assert_int_equal(access(from, F_OK), -1);
    assert_int_equal(access(to, F_OK), 0);

    /* relative names: the directory synced is "." */
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(sf_tmpdir), 0);
    assert_int_equal(sf_storage_rename_durable(&broken, "rd-to", "rd-rel", &err),
                     SF_ERR);
    assert_non_null(strstr(err.message, "cannot sync directory . "));
    assert_int_equal(sf_storage_rename_durable(sf_storage_posix(), "rd-rel",
                                               "rd-back", &err), SF_OK);
    assert_int_equal(access("rd-back", F_OK), 0);
    assert_int_equal(chdir(cwd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posix_offsets_beyond_off_t),
        cmocka_unit_test(test_posix_kind_and_remove_refusals),
        cmocka_unit_test(test_posix_lock_on_a_fifo),
        cmocka_unit_test(test_append_without_a_size_writes_nothing),
        cmocka_unit_test(test_read_all_failures),
        cmocka_unit_test(test_mkdir_p_cannot_check_the_result),
        cmocka_unit_test(test_rename_durable_reports_the_directory_sync),
    };

    return cmocka_run_group_tests(tests, sf_tmpdir_setup, sf_tmpdir_teardown);
}
