/*
 * A temporary directory for a CMocka test group: made by the group set-up
 * (/tmp/<program>-XXXXXX), removed with everything in it by the group
 * tear-down. Shared by the tests that work on the real file system
 * (test_fs, test_storage, test_storage_posix_errors).
 */
#ifndef SF_TEST_TMPDIR_H
#define SF_TEST_TMPDIR_H

#include <stddef.h>

/* The directory's path; valid between set-up and tear-down. */
extern char sf_tmpdir[128];

/* Group set-up and tear-down (cmocka_run_group_tests). */
int sf_tmpdir_setup(void **state);
int sf_tmpdir_teardown(void **state);

/* "<sf_tmpdir>/<name>" into out. */
void sf_tmpdir_path(char *out, size_t n, const char *name);

/* Entries in d other than . and .. (fails the test if d cannot be read). */
int sf_tmpdir_count_entries(const char *d);

#endif
