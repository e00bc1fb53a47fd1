/*
 * Test seams of the artifact checksum (not installed): tests replace the
 * read call to make one file fail, and lower the size from which files go
 * to the helper threads so small fixtures exercise the pool.
 */
#ifndef SNAPFLEET_CHECKSUM_INTERNAL_H
#define SNAPFLEET_CHECKSUM_INTERNAL_H

#include <stddef.h>
#include <sys/types.h>

/* Every read of a hashed file; read(2) unless a test installs another.
 * Called from several threads at once. */
extern ssize_t (*sf_checksum_read_fn)(int fd, void *buf, size_t len);

/* Files of at least this many bytes are hashed on helper threads (default
 * SF_CHECKSUM_BUFFER: below one read, a thread hand-off costs more than it
 * saves). */
extern size_t sf_checksum_parallel_min;

#endif
