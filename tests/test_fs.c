/* Durable writes and bounded reads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/fs.h"
#include "snapfleet/simdisk.h"
#include "tmpdir.h"

static int hook_calls;
static char hook_path[512];

static void hook(const char *path, void *ctx)
{
    hook_calls += *(int *)ctx;
    snprintf(hook_path, sizeof hook_path, "%s", path);
}

/* The same directory however it is spelled; different or missing ones
 * are not. */
static void test_same_dir(void **state)
{
    char dir[512], sub[600], other[600], dotted[700], link[600];

    (void)state;
    sf_tmpdir_path(dir, sizeof dir, "samedir");
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(sub, sizeof sub, "%s/a", dir);
    snprintf(other, sizeof other, "%s/b", dir);
    snprintf(dotted, sizeof dotted, "%s/./b/../a/", dir);
    snprintf(link, sizeof link, "%s/l", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(symlink(sub, link), 0);
    assert_true(sf_fs_same_dir(sub, sub));
    assert_true(sf_fs_same_dir(sub, dotted));
    assert_true(sf_fs_same_dir(link, sub));
    assert_false(sf_fs_same_dir(sub, other));
    assert_false(sf_fs_same_dir(sub, "/nonexistent/a"));
    assert_false(sf_fs_same_dir("/nonexistent/a", "/nonexistent/a"));
}

static void test_write_atomic_creates_parents_and_modes(void **state)
{
    char p[512], tmp[520], *data;
    size_t len;
    struct stat st;
    sf_error err;
    int one = 1;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "a/b/doc.json");
    sf_fs_set_write_hook(hook, &one);
    hook_calls = 0;
    assert_int_equal(sf_fs_write_atomic(p, "{}", 2, &err), SF_OK);
    sf_fs_set_write_hook(NULL, NULL);
    assert_int_equal(hook_calls, 1);
    assert_string_equal(hook_path, p);
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    sf_tmpdir_path(tmp, sizeof tmp, "a/b");
    assert_int_equal(stat(tmp, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    sf_tmpdir_path(tmp, sizeof tmp, "a/b");
    assert_int_equal(sf_tmpdir_count_entries(tmp), 1); /* no temp file left */
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    assert_int_equal(len, 2);
    assert_string_equal(data, "{}");
    free(data);
    /* replacing keeps one file with the new contents */
    assert_int_equal(sf_fs_write_atomic(p, "[1]", 3, &err), SF_OK);
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    assert_string_equal(data, "[1]");
    free(data);
}

/* The simulator's state stands for the IC: its writes must not count as
 * the backup's durable writes, or crash injection would count them. */
static void test_untracked_write_skips_the_hook(void **state)
{
    char p[512], *data;
    size_t len;
    sf_error err;
    int one = 1;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "sim/state.json");
    sf_fs_set_write_hook(hook, &one);
    hook_calls = 0;
    assert_int_equal(sf_fs_write_atomic_untracked(p, "{}", 2, &err), SF_OK);
    assert_int_equal(hook_calls, 0);
    assert_int_equal(sf_fs_write_atomic(p, "[]", 2, &err), SF_OK);
    assert_int_equal(hook_calls, 1);
    sf_fs_set_write_hook(NULL, NULL);
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    assert_string_equal(data, "[]");
    free(data);
}

static void test_rename_durable(void **state)
{
    char a[512], b[512];
    sf_error err;
    struct stat st;
    int one = 1;

    (void)state;
    sf_tmpdir_path(a, sizeof a, "from");
    sf_tmpdir_path(b, sizeof b, "to");
    assert_int_equal(mkdir(a, 0700), 0);
    sf_fs_set_write_hook(hook, &one);
    hook_calls = 0;
    assert_int_equal(sf_fs_rename_durable(a, b, &err), SF_OK);
    assert_int_equal(hook_calls, 1);
    assert_string_equal(hook_path, b);
    assert_int_equal(stat(b, &st), 0);
    assert_int_not_equal(stat(a, &st), 0);
    /* a missing source: an error naming both, and no write counted */
    assert_int_equal(sf_fs_rename_durable(a, b, &err), SF_ERR);
    assert_int_equal(hook_calls, 1);
    assert_non_null(strstr(err.message, a));
    sf_fs_set_write_hook(NULL, NULL);
}

/* A write that fails half way (file size limit: EFBIG) leaves the old
 * file whole and no temp file behind. */
static void test_write_failure_leaves_old_file(void **state)
{
    char p[512], *data;
    size_t len;
    sf_error err;
    struct rlimit saved, small;
    void (*old_handler)(int);
    int rc;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "wf/keep.json");
    assert_int_equal(sf_fs_write_atomic(p, "old", 3, &err), SF_OK);
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &saved), 0);
    small = saved;
    small.rlim_cur = 4;
    old_handler = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    rc = sf_fs_write_atomic(p, "new and longer", 14, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &saved), 0);
    signal(SIGXFSZ, old_handler);
    assert_int_equal(rc, SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "keep.json.tmp."));
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    assert_string_equal(data, "old");
    free(data);
    sf_tmpdir_path(p, sizeof p, "wf");
    assert_int_equal(sf_tmpdir_count_entries(p), 1);
}

/* The temp file's name is unique: a file (or anything) sitting at the old
 * fixed name "<path>.tmp" neither blocks the write nor is touched by it. */
static void test_temp_name_is_unique(void **state)
{
    char p[512], t[520], *data;
    size_t len;
    sf_error err;
    struct stat st;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "tu/doc.json");
    assert_int_equal(sf_fs_write_atomic(p, "old", 3, &err), SF_OK);
    snprintf(t, sizeof t, "%s.tmp", p);
    assert_int_equal(mkdir(t, 0700), 0);
    assert_int_equal(sf_fs_write_atomic(p, "new", 3, &err), SF_OK);
    assert_int_equal(stat(t, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_OK);
    assert_string_equal(data, "new");
    free(data);
    sf_tmpdir_path(p, sizeof p, "tu");
    assert_int_equal(sf_tmpdir_count_entries(p), 2);
}

/* Two processes rewriting one document at once: every write succeeds and
 * the file is always one writer's whole content (with one shared temp name
 * they truncated each other's temp file or renamed it away). */
static void test_concurrent_writers(void **state)
{
    char p[512], a[4096], b[4096], *data;
    size_t len;
    sf_error err;
    pid_t kids[2];
    int i, k, status;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "cw/shared.json");
    memset(a, 'a', sizeof a);
    memset(b, 'b', sizeof b);
    for (k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            for (i = 0; i < 200; i++)
                if (sf_fs_write_atomic_untracked(p, k ? b : a, sizeof a, &err) != SF_OK)
                    _exit(1);
            _exit(0);
        }
    }
    for (k = 0; k < 2; k++) {
        assert_int_equal(waitpid(kids[k], &status, 0), kids[k]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    assert_int_equal(sf_fs_read_file(p, sizeof a, &data, &len, &err), SF_OK);
    assert_int_equal(len, sizeof a);
    assert_true(memcmp(data, a, len) == 0 || memcmp(data, b, len) == 0);
    free(data);
    sf_tmpdir_path(p, sizeof p, "cw");
    assert_int_equal(sf_tmpdir_count_entries(p), 1);
}

static void on_alarm(int sig)
{
    (void)sig;
    _exit(99); /* a read blocked: fail loudly instead of hanging the suite */
}

/* A FIFO where a document belongs is refused at once, naming the file
 * (the reader used to block in open() waiting for a writer). */
static void test_read_fifo_refused_at_once(void **state)
{
    char p[512], *data = (char *)1;
    size_t len;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "fifo.json");
    assert_int_equal(mkfifo(p, 0600), 0);
    signal(SIGALRM, on_alarm);
    alarm(10);
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_ERR);
    alarm(0);
    assert_null(data);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "fifo.json"));
    assert_non_null(strstr(err.message, "not a regular file"));
    /* a character device too */
    assert_int_equal(sf_fs_read_file("/dev/zero", 100, &data, &len, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
}

static void test_parent_is_a_file(void **state)
{
    char p[512], f[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(f, sizeof f, "plain");
    assert_int_equal(sf_fs_write_atomic(f, "x", 1, &err), SF_OK);
    sf_tmpdir_path(p, sizeof p, "plain/doc.json");
    assert_int_equal(sf_fs_write_atomic(p, "x", 1, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
}

static void test_read_refusals(void **state)
{
    char p[512], link[512], *data = (char *)1;
    size_t len;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "missing.json");
    assert_int_equal(sf_fs_read_file(p, 100, &data, &len, &err), SF_ERR);
    assert_null(data);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "missing.json"));
    sf_tmpdir_path(p, sizeof p, "big.json");
    assert_int_equal(sf_fs_write_atomic(p, "0123456789", 10, &err), SF_OK);
    assert_int_equal(sf_fs_read_file(p, 9, &data, &len, &err), SF_ERR);
    assert_non_null(strstr(err.message, "limit"));
    assert_int_equal(sf_fs_read_file(p, 10, &data, &len, &err), SF_OK);
    free(data);
    sf_tmpdir_path(link, sizeof link, "link.json");
    assert_int_equal(symlink(p, link), 0);
    assert_int_equal(sf_fs_read_file(link, 100, &data, &len, &err), SF_ERR);
    assert_non_null(strstr(err.message, "symbolic link"));
    assert_int_equal(sf_fs_read_file(sf_tmpdir, 100, &data, &len, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a regular file"));
}

static void test_mkdir_p_existing(void **state)
{
    char p[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "x/y/z");
    assert_int_equal(sf_fs_mkdir_p(p, &err), SF_OK);
    assert_int_equal(sf_fs_mkdir_p(p, &err), SF_OK);
}

/* The rule for directories inside a backup: created when asked, fine when
 * absent otherwise, refused as a link or a file. */
static void test_dir_nofollow(void **state)
{
    char p[512], t[512];
    struct stat st;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "nf/a/b");
    assert_int_equal(sf_fs_dir_nofollow(p, false, &err), SF_OK);
    assert_int_not_equal(lstat(p, &st), 0); /* absent, not created */
    assert_int_equal(sf_fs_dir_nofollow(p, true, &err), SF_OK);
    assert_int_equal(lstat(p, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(sf_fs_dir_nofollow(p, true, &err), SF_OK); /* existing */
    sf_tmpdir_path(t, sizeof t, "nf/link");
    assert_int_equal(symlink(p, t), 0);
    assert_int_equal(sf_fs_dir_nofollow(t, false, &err), SF_ERR);
    assert_string_equal(err.kind, "symlink-refused");
    assert_non_null(strstr(err.message, "nf/link"));
    assert_int_equal(sf_fs_dir_nofollow(t, true, &err), SF_ERR);
    assert_string_equal(err.kind, "symlink-refused");
    sf_tmpdir_path(t, sizeof t, "nf/dangling");
    assert_int_equal(symlink("/nonexistent/x", t), 0);
    assert_int_equal(sf_fs_dir_nofollow(t, true, &err), SF_ERR);
    assert_string_equal(err.kind, "symlink-refused");
    assert_int_not_equal(access("/nonexistent/x", F_OK), 0);
    sf_tmpdir_path(t, sizeof t, "nf/file");
    assert_int_equal(sf_fs_write_atomic(t, "x", 1, &err), SF_OK);
    assert_int_equal(sf_fs_dir_nofollow(t, true, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "not a directory"));
    /* below a file: cannot be made */
    sf_tmpdir_path(t, sizeof t, "nf/file/sub");
    assert_int_equal(sf_fs_dir_nofollow(t, false, &err), SF_ERR);
    assert_int_equal(sf_fs_dir_nofollow(t, true, &err), SF_ERR);
}

static void test_mkdir_p_refusals(void **state)
{
    char p[512];
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "mk/file");
    assert_int_equal(sf_fs_write_atomic(p, "x", 1, &err), SF_OK);
    assert_int_equal(sf_fs_mkdir_p(p, &err), SF_ERR);
    assert_non_null(strstr(err.message, "not a directory"));
    sf_tmpdir_path(p, sizeof p, "mk/file/below");
    assert_int_equal(sf_fs_mkdir_p(p, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot create directory"));
}

/* rm -rf never follows a link: the link goes, what it points at stays. */
static void test_remove_tree(void **state)
{
    char p[512], t[512], out[512];
    struct stat st;
    sf_error err;

    (void)state;
    sf_tmpdir_path(out, sizeof out, "rt-outside/keep");
    assert_int_equal(sf_fs_write_atomic(out, "k", 1, &err), SF_OK);
    sf_tmpdir_path(p, sizeof p, "rt/a/b/c.json");
    assert_int_equal(sf_fs_write_atomic(p, "x", 1, &err), SF_OK);
    sf_tmpdir_path(t, sizeof t, "rt/a/link");
    sf_tmpdir_path(p, sizeof p, "rt-outside");
    assert_int_equal(symlink(p, t), 0);
    sf_tmpdir_path(t, sizeof t, "rt/fifo");
    assert_int_equal(mkfifo(t, 0600), 0);
    sf_tmpdir_path(p, sizeof p, "rt");
    assert_int_equal(sf_remove_tree(p, &err), SF_OK);
    assert_int_not_equal(lstat(p, &st), 0);
    assert_int_equal(stat(out, &st), 0);
    /* absent is fine; a link at the top is removed, not followed */
    assert_int_equal(sf_remove_tree(p, &err), SF_OK);
    sf_tmpdir_path(t, sizeof t, "rt-outside");
    assert_int_equal(symlink(t, p), 0);
    assert_int_equal(sf_remove_tree(p, &err), SF_OK);
    assert_int_not_equal(lstat(p, &st), 0);
    assert_int_equal(stat(out, &st), 0);
}

/* Reads take the file as it is when it shrinks; an empty file is "". */
static void test_read_empty_and_exact(void **state)
{
    char p[512], *data;
    size_t len;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "empty.json");
    assert_int_equal(sf_fs_write_atomic(p, "", 0, &err), SF_OK);
    assert_int_equal(sf_fs_read_file(p, 0, &data, &len, &err), SF_OK);
    assert_int_equal(len, 0);
    assert_string_equal(data, "");
    free(data);
    /* a directory in the way of the read */
    sf_tmpdir_path(p, sizeof p, "notdir/x");
    assert_int_equal(sf_fs_write_atomic(p, "1", 1, &err), SF_OK);
    sf_tmpdir_path(p, sizeof p, "notdir/x/y");
    assert_int_equal(sf_fs_read_file(p, 10, &data, &len, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot open"));
}

/* The rename fails (a non-empty directory stands at the target): the
 * error names it, the directory is untouched, no temp file stays. */
static void test_rename_over_directory_fails(void **state)
{
    char p[512], t[600];
    struct stat st;
    sf_error err;

    (void)state;
    sf_tmpdir_path(p, sizeof p, "ro/doc.json");
    snprintf(t, sizeof t, "%s/inside", p);
    assert_int_equal(sf_fs_write_atomic(t, "x", 1, &err), SF_OK);
    assert_int_equal(sf_fs_write_atomic(p, "new", 3, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "cannot replace"));
    assert_int_equal(stat(t, &st), 0);
    sf_tmpdir_path(p, sizeof p, "ro");
    assert_int_equal(sf_tmpdir_count_entries(p), 1);
}

/* No room for the temp name's suffix in a 255-byte name: refused, naming
 * the document. */
static void test_temp_name_too_long(void **state)
{
    char name[256], p[800];
    sf_error err;

    (void)state;
    memset(name, 'n', 250);
    name[250] = '\0';
    snprintf(p, sizeof p, "%s/tl/%s", sf_tmpdir, name);
    assert_int_equal(sf_fs_write_atomic(p, "x", 1, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot create a temporary file"));
    snprintf(p, sizeof p, "%s/tl", sf_tmpdir);
    assert_int_equal(sf_tmpdir_count_entries(p), 0);
}

/* sf_fs_dir_nofollow, sf_remove_tree and sf_fs_same_dir through an
 * installed storage: the simulated disk, which holds no real file. */
static void test_fs_over_the_simulated_disk(void **state)
{
    sf_simdisk *d = NULL;
    const sf_storage *st;
    sf_storage_kind kind;
    sf_error err;

    (void)state;
    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    st = sf_simdisk_storage(d);
    sf_fs_set_storage(st);
    assert_int_equal(sf_fs_dir_nofollow("/sim/a", false, &err), SF_OK);
    assert_int_equal(sf_fs_dir_nofollow("/sim/a", true, &err), SF_OK);
    assert_int_equal(sf_storage_kind_of(st, "/sim/a", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_DIRECTORY);
    assert_int_equal(sf_fs_write_atomic("/sim/a/b/doc", "x", 1, &err), SF_OK);
    assert_int_equal(sf_fs_dir_nofollow("/sim/a/b/doc", true, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_non_null(strstr(err.message, "/sim/a/b/doc: not a directory"));
    assert_int_equal(sf_fs_dir_nofollow("/sim/a/b/doc/x", false, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot stat"));
    assert_true(sf_fs_same_dir("/sim/a", "sim//a/./"));
    assert_false(sf_fs_same_dir("/sim/a", "/sim/a/b"));
    assert_false(sf_fs_same_dir("/sim/none", "/sim/none"));
    assert_int_equal(sf_remove_tree("/sim/a", &err), SF_OK);
    assert_int_equal(sf_storage_kind_of(st, "/sim/a", &kind, &err), SF_OK);
    assert_int_equal(kind, SF_STORAGE_ABSENT);
    assert_int_equal(sf_remove_tree("/sim/a", &err), SF_OK);
    sf_fs_set_storage(NULL);
    /* nothing of it reached the real file system */
    assert_int_equal(access("/sim", F_OK), -1);
    sf_simdisk_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_dir),
        cmocka_unit_test(test_write_atomic_creates_parents_and_modes),
        cmocka_unit_test(test_untracked_write_skips_the_hook),
        cmocka_unit_test(test_write_failure_leaves_old_file),
        cmocka_unit_test(test_rename_durable),
        cmocka_unit_test(test_temp_name_is_unique),
        cmocka_unit_test(test_concurrent_writers),
        cmocka_unit_test(test_read_fifo_refused_at_once),
        cmocka_unit_test(test_parent_is_a_file),
        cmocka_unit_test(test_read_refusals),
        cmocka_unit_test(test_mkdir_p_existing),
        cmocka_unit_test(test_dir_nofollow),
        cmocka_unit_test(test_mkdir_p_refusals),
        cmocka_unit_test(test_remove_tree),
        cmocka_unit_test(test_fs_over_the_simulated_disk),
        cmocka_unit_test(test_read_empty_and_exact),
        cmocka_unit_test(test_rename_over_directory_fails),
        cmocka_unit_test(test_temp_name_too_long),
    };
    return cmocka_run_group_tests_name("fs", tests, sf_tmpdir_setup, sf_tmpdir_teardown);
}
