/*
 * The torn-write restore crash matrices (test_restore_crash_torn.c) with
 * 4 jobs: each durable write of a restore with several operations in
 * flight torn, the run killed, then recovered with 4 jobs.
 */
#define SF_RESTORE_CRASH_JOBS 4
#define SF_RESTORE_CRASH_TORN 1
#include "test_restore_crash.c"
