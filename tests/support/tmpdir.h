/*
 * A temporary directory for a CMocka test group: made by the group set-up
 * (/tmp/<program>-XXXXXX), removed with everything in it by the group
 * tear-down. Shared by the tests that work on the real file system
 * (test_fs, test_storage, test_storage_posix_errors). Tests that want a
 * directory of their own per case use sf_tmpdir_make and sf_tmpdir_remove.
 */
#ifndef SF_TEST_TMPDIR_H
#define SF_TEST_TMPDIR_H

#include <stddef.h>

/* The directory's path; valid between set-up and tear-down. */
extern char sf_tmpdir[128];

/* Group set-up and tear-down (cmocka_run_group_tests). */
int sf_tmpdir_setup(void **state);
int sf_tmpdir_teardown(void **state);

/* A new directory /tmp/<program>-XXXXXX, its path into out (n at least
 * 64). 0, or -1 with nothing made. */
int sf_tmpdir_make(char *out, size_t n);

/* Removes dir and everything in it, symbolic links not followed. 0, or -1
 * when something could not be removed. */
int sf_tmpdir_remove(const char *dir);

/* "<sf_tmpdir>/<name>" into out. */
void sf_tmpdir_path(char *out, size_t n, const char *name);

/* Entries in d other than . and .. (fails the test if d cannot be read). */
int sf_tmpdir_count_entries(const char *d);

#endif
