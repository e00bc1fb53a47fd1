/*
 * Test seam of the artifact checksum (not installed): tests lower the size
 * from which files go to the helper threads so small fixtures exercise the
 * pool. (A file that fails to read comes from a storage installed with
 * sf_fs_set_storage.)
 */
#ifndef SNAPFLEET_CHECKSUM_INTERNAL_H
#define SNAPFLEET_CHECKSUM_INTERNAL_H

#include <stddef.h>

/* Files of at least this many bytes are hashed on helper threads (default
 * SF_CHECKSUM_BUFFER: below one read, a thread hand-off costs more than it
 * saves). */
extern size_t sf_checksum_parallel_min;

#endif
