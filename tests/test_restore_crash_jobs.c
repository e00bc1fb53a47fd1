/*
 * The restore crash matrices of test_restore_crash.c with 4 jobs: a
 * restore with several operations in flight (and so several claims in its
 * log) killed after each durable write, then --unclaim-pending (every
 * claim released) and a rerun with 4 jobs, ends restored as a crash-free
 * run ends.
 */
#define SF_RESTORE_CRASH_JOBS 4
#include "test_restore_crash.c"
