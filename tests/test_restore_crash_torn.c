/*
 * The restore crash matrices with each durable write torn (torn-write=N:
 * half a log record, a document's temporary file with half its bytes never
 * renamed, a rename not made) and the run then killed, in place and
 * relocated: test_restore_crash.c, built a second time for these alone.
 */
#define SF_RESTORE_CRASH_TORN 1
#include "test_restore_crash.c"
