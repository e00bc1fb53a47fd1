/* The storage seam: the wrappers' checks, the POSIX storage method by
 * method, the compound operations (read_all, mkdir_p, write_atomic,
 * rename_durable) and their cleanup on failure, the counting shim, and
 * sf_fs routed through an installed storage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* ---- version 2: list_kind, info, canonical, remove_tree ---- */

typedef struct kinds_seen {
    char names[512];
    int calls, stop_after;
} kinds_seen;

static int note_kind(const char *name, sf_storage_kind kind, void *payload)
{
    kinds_seen *k = payload;
    size_t n = strlen(k->names);

    snprintf(k->names + n, sizeof k->names - n, "%s=%d;", name, (int)kind);
    k->calls++;
    return k->stop_after != 0 && k->calls == k->stop_after ? 9 : 0;
}

/* "name=kind;" appears in k (the listing's order is not promised). */
static bool listed(const kinds_seen *k, const char *name, sf_storage_kind kind)
{
    char want[128];

    snprintf(want, sizeof want, "%s=%d;", name, (int)kind);
    return strncmp(k->names, want, strlen(want)) == 0 ||
           (strstr(k->names, want) != NULL &&
            strstr(k->names, want)[-1] == ';');
}

/* d holds f (3 bytes), sub/, link -> f and a FIFO. */
static void make_mixed(const char *d)
{
    char p[512];
    FILE *fp;

    snprintf(p, sizeof p, "%s/sub", d);
    assert_int_equal(sf_storage_mkdir_p(sf_storage_posix(), p, NULL), SF_OK);
    snprintf(p, sizeof p, "%s/f", d);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("abc", fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/link", d);
    assert_int_equal(symlink("f", p), 0);
    snprintf(p, sizeof p, "%s/pipe", d);
    assert_int_equal(mkfifo(p, 0600), 0);
}

static void check_list_kind(const sf_storage *st, const char *d)
{
    kinds_seen k = {0};
    char p[512];
    sf_error err;

    assert_int_equal(sf_storage_list_kind(st, d, note_kind, &k, &err), SF_OK);
    assert_int_equal(k.calls, 4);
    assert_true(listed(&k, "f", SF_STORAGE_REGULAR));
    assert_true(listed(&k, "sub", SF_STORAGE_DIRECTORY));
    assert_true(listed(&k, "link", SF_STORAGE_OTHER));
    assert_true(listed(&k, "pipe", SF_STORAGE_OTHER));
    /* a non-zero return stops the listing and is returned */
    memset(&k, 0, sizeof k);
    k.stop_after = 1;
    assert_int_equal(sf_storage_list_kind(st, d, note_kind, &k, &err), 9);
    assert_int_equal(k.calls, 1);
    /* a link to a directory is not listed through; a missing one fails */
    snprintf(p, sizeof p, "%s/dirlink", d);
    assert_int_equal(symlink("sub", p), 0);
    assert_int_equal(sf_storage_list_kind(st, p, note_kind, &k, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot read directory"));
    assert_int_equal(unlink(p), 0);
    snprintf(p, sizeof p, "%s/missing", d);
    assert_int_equal(sf_storage_list_kind(st, p, note_kind, &k, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "missing"));
}

static void check_info(const sf_storage *st, const char *d, bool exact_other)
{
    sf_storage_info info;
    char p[512];
    sf_error err;

    snprintf(p, sizeof p, "%s/f", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_REGULAR);
    assert_int_equal(info.size, 3);
    assert_int_equal(info.other, SF_STORAGE_OTHER_NONE);
    snprintf(p, sizeof p, "%s/sub", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_DIRECTORY);
    assert_int_equal(info.size, 0);
    snprintf(p, sizeof p, "%s/link", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_OTHER);
    assert_int_equal(info.other, exact_other ? SF_STORAGE_OTHER_SYMLINK
                                             : SF_STORAGE_OTHER_UNKNOWN);
    snprintf(p, sizeof p, "%s/pipe", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_OTHER);
    assert_int_equal(info.other, exact_other ? SF_STORAGE_OTHER_FIFO
                                             : SF_STORAGE_OTHER_UNKNOWN);
    snprintf(p, sizeof p, "%s/missing", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_OK);
    assert_int_equal(info.kind, SF_STORAGE_ABSENT);
    /* through a file: not absent, an error */
    snprintf(p, sizeof p, "%s/f/x", d);
    assert_int_equal(sf_storage_info_of(st, p, &info, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot stat"));
}

static void test_posix_list_kind_and_info(void **state)
{
    char d[512];

    (void)state;
    sf_tmpdir_path(d, sizeof d, "v2");
    make_mixed(d);
    check_list_kind(sf_storage_posix(), d);
    check_info(sf_storage_posix(), d, true);
    assert_true(sf_storage_concurrent(sf_storage_posix()));
    assert_false(sf_storage_concurrent(NULL));
}

static void test_posix_canonical_and_same(void **state)
{
    const sf_storage *st = sf_storage_posix();
    char d[512], p[512], q[1024], *c = NULL;
    sf_error err;

    (void)state;
    sf_tmpdir_path(d, sizeof d, "canon/real");
    assert_int_equal(sf_storage_mkdir_p(st, d, &err), SF_OK);
    sf_tmpdir_path(p, sizeof p, "canon/alias");
    assert_int_equal(symlink("real", p), 0);
    assert_int_equal(sf_storage_canonical(st, p, &c, &err), SF_OK);
    assert_non_null(c);
    assert_int_equal(c[0], '/');
    assert_non_null(strstr(c, "canon/real"));
    free(c);
    snprintf(q, sizeof q, "%s/./", d);
    assert_true(sf_storage_same(st, p, q));
    assert_true(sf_storage_same(st, d, d));
    sf_tmpdir_path(q, sizeof q, "canon");
    assert_false(sf_storage_same(st, d, q));
    sf_tmpdir_path(q, sizeof q, "canon/none");
    assert_false(sf_storage_same(st, q, q));
    assert_false(sf_storage_same(st, d, NULL));
    assert_int_equal(sf_storage_canonical(st, q, &c, &err), SF_ERR);
    assert_null(c);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot resolve"));
    assert_non_null(strstr(err.message, "none"));
}

static void test_posix_remove_tree(void **state)
{
    const sf_storage *st = sf_storage_posix();
    char d[512], p[1024], outside[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(outside, sizeof outside, "rt-outside");
    assert_int_equal(sf_storage_write_atomic(st, outside, "keep", 4, &err),
                     SF_OK);
    sf_tmpdir_path(d, sizeof d, "rt-tree");
    make_mixed(d);
    snprintf(p, sizeof p, "%s/sub/deeper/x", d);
    assert_int_equal(sf_storage_write_atomic(st, p, "x", 1, &err), SF_OK);
    snprintf(p, sizeof p, "%s/sub/out", d);
    assert_int_equal(symlink(outside, p), 0);
    assert_int_equal(sf_storage_remove_tree(st, d, &err), SF_OK);
    assert_int_equal(access(d, F_OK), -1);
    assert_int_equal(access(outside, F_OK), 0); /* the link went, not this */
    assert_int_equal(sf_storage_remove_tree(st, d, &err), SF_OK); /* absent */
    /* a single file, and a link at the top (removed, not followed) */
    assert_int_equal(symlink(outside, d), 0);
    assert_int_equal(sf_storage_remove_tree(st, d, &err), SF_OK);
    assert_int_equal(access(outside, F_OK), 0);
    assert_int_equal(sf_storage_remove_tree(st, outside, &err), SF_OK);
    assert_int_equal(access(outside, F_OK), -1);
}

/* Any call of these fails the test: a version-1 storage's wrappers must
 * never read the version-2 fields. */
static int v2_list_kind_never(void *ctx, const char *dir,
                              sf_storage_list_kind_fn fn, void *payload,
                              sf_error *err)
{
    (void)ctx, (void)dir, (void)fn, (void)payload, (void)err;
    fail();
    return SF_ERR;
}

static int v2_info_never(void *ctx, const char *path, sf_storage_info *out,
                         sf_error *err)
{
    (void)ctx, (void)path, (void)out, (void)err;
    fail();
    return SF_ERR;
}

static int v2_canonical_never(void *ctx, const char *path, char **out,
                              sf_error *err)
{
    (void)ctx, (void)path, (void)out, (void)err;
    fail();
    return SF_ERR;
}

static int v2_remove_tree_never(void *ctx, const char *path, sf_error *err)
{
    (void)ctx, (void)path, (void)err;
    fail();
    return SF_ERR;
}

/* A version-1 storage: the wrappers fall back on the version-1 methods. */
static void test_v1_storage_falls_back(void **state)
{
    sf_storage v1 = *sf_storage_posix();
    char d[512], p[1024], *c = NULL;
    sf_error err;

    (void)state;
    v1.version = 1;
    v1.list_kind = v2_list_kind_never;
    v1.info = v2_info_never;
    v1.canonical = v2_canonical_never;
    v1.remove_tree = v2_remove_tree_never;
    assert_false(sf_storage_concurrent(&v1));
    sf_tmpdir_path(d, sizeof d, "v1");
    make_mixed(d);
    check_list_kind(&v1, d);
    check_info(&v1, d, false);
    assert_int_equal(sf_storage_canonical(&v1, d, &c, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    assert_null(c);
    assert_false(sf_storage_same(&v1, d, d));
    snprintf(p, sizeof p, "%s/sub/deeper/x", d);
    assert_int_equal(sf_storage_write_atomic(&v1, p, "x", 1, &err), SF_OK);
    assert_int_equal(sf_storage_remove_tree(&v1, d, &err), SF_OK);
    assert_int_equal(access(d, F_OK), -1);
    assert_int_equal(sf_storage_remove_tree(&v1, d, &err), SF_OK);
}

/* The fallbacks' own failures: a kind that fails per entry, a listing
 * that fails inside a tree, an open that fails for the size. */
static int kind_fails(void *ctx, const char *path, sf_storage_kind *out,
                      sf_error *err)
{
    (void)ctx;
    (void)out;
    if (strstr(path, "/sub") != NULL || strstr(path, "/f") != NULL)
        return sf_error_set(err, SF_EK_IO, "", "cannot stat %s (test)", path);
    return sf_storage_kind_of(sf_storage_posix(), path, out, err);
}

static int list_fails(void *ctx, const char *dir, sf_storage_list_fn fn,
                      void *payload, sf_error *err)
{
    (void)ctx, (void)fn, (void)payload;
    return sf_error_set(err, SF_EK_IO, "", "cannot read directory %s (test)",
                        dir);
}

static int open_fails(void *ctx, const char *path, unsigned flags,
                      sf_storage_file **out, sf_error *err)
{
    (void)ctx, (void)flags, (void)out;
    return sf_error_set(err, SF_EK_IO, "", "cannot open %s (test)", path);
}

static void test_v1_fallback_failures(void **state)
{
    sf_storage v1 = *sf_storage_posix();
    sf_storage_info info;
    kinds_seen k = {0};
    char d[512], p[1024];
    sf_error err;

    (void)state;
    v1.version = 1;
    sf_tmpdir_path(d, sizeof d, "v1f");
    make_mixed(d);
    v1.kind = kind_fails;
    assert_int_equal(sf_storage_list_kind(&v1, d, note_kind, &k, &err), SF_ERR);
    assert_non_null(strstr(err.message, "(test)"));
    v1 = *sf_storage_posix();
    v1.version = 1;
    v1.open = open_fails;
    snprintf(p, sizeof p, "%s/f", d);
    assert_int_equal(sf_storage_info_of(&v1, p, &info, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot open"));
    v1 = *sf_storage_posix();
    v1.version = 1;
    v1.list = list_fails;
    assert_int_equal(sf_storage_remove_tree(&v1, d, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot read directory"));
    assert_int_equal(access(d, F_OK), 0); /* nothing removed */
    v1.list = NULL;
    assert_int_equal(sf_storage_list_kind(&v1, d, note_kind, &k, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_NOT_SUPPORTED);
    assert_int_equal(sf_storage_remove_tree(sf_storage_posix(), d, &err), SF_OK);
    /* bad calls */
    assert_int_equal(sf_storage_list_kind(NULL, d, note_kind, &k, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_list_kind(sf_storage_posix(), d, NULL, &k,
                                          &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_info_of(sf_storage_posix(), "", &info, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_canonical(sf_storage_posix(), d, NULL, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_int_equal(sf_storage_remove_tree(sf_storage_posix(), "", &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
}

/* The counting shim passes the version-2 methods through, removes a tree
 * one counted remove at a time, and is concurrent when its inner is. */
static void test_counting_shim_v2(void **state)
{
    sf_storage_counting c;
    sf_storage_info info;
    kinds_seen k = {0};
    char d[512], p[1024], *canon = NULL;
    sf_error err;

    (void)state;
    sf_storage_counting_init(&c, sf_storage_posix());
    assert_true(sf_storage_concurrent(&c.storage));
    sf_tmpdir_path(d, sizeof d, "cv2");
    make_mixed(d);
    assert_int_equal(sf_storage_list_kind(&c.storage, d, note_kind, &k, &err),
                     SF_OK);
    assert_true(listed(&k, "sub", SF_STORAGE_DIRECTORY));
    assert_true(listed(&k, "link", SF_STORAGE_OTHER));
    snprintf(p, sizeof p, "%s/link", d);
    assert_int_equal(sf_storage_info_of(&c.storage, p, &info, &err), SF_OK);
    assert_int_equal(info.other, SF_STORAGE_OTHER_SYMLINK);
    assert_int_equal(sf_storage_canonical(&c.storage, d, &canon, &err), SF_OK);
    free(canon);
    assert_int_equal(sf_storage_remove_tree(&c.storage, d, &err), SF_OK);
    assert_int_equal(c.counts.removes, 5); /* f, sub, link, pipe, the top */
    assert_int_equal(access(d, F_OK), -1);
    {
        sf_storage v1 = *sf_storage_posix();
        sf_storage_counting c2;

        v1.version = 1;
        sf_storage_counting_init(&c2, &v1);
        assert_false(sf_storage_concurrent(&c2.storage));
    }
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
        cmocka_unit_test(test_posix_list_kind_and_info),
        cmocka_unit_test(test_posix_canonical_and_same),
        cmocka_unit_test(test_posix_remove_tree),
        cmocka_unit_test(test_v1_storage_falls_back),
        cmocka_unit_test(test_v1_fallback_failures),
        cmocka_unit_test(test_counting_shim_v2),
    };

    return cmocka_run_group_tests(tests, sf_tmpdir_setup, sf_tmpdir_teardown);
}
