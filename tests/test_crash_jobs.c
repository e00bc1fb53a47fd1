/*
 * The crash matrices of test_crash_matrix.c with 4 jobs: a backup with
 * several operations in flight (and so several pending in its log), and a
 * snapshot download with several targets captured at once, killed after
 * each durable write, and torn at each, then rerun with 4 jobs, end as a
 * crash-free run ends.
 */
#define SF_CRASH_JOBS 4
#include "test_crash_matrix.c"
