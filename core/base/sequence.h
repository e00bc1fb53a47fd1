/* The check both journals make of their operations' sequence numbers. */
#ifndef SNAPFLEET_SEQUENCE_H
#define SNAPFLEET_SEQUENCE_H

#include <stddef.h>
#include <stdint.h>

typedef enum sf_seq_status {
    SF_SEQ_OK,
    SF_SEQ_DUPLICATE, /* *at: array index of the first repeat, array order */
    SF_SEQ_MISSING,   /* *at: the smallest sequence in 0..n-1 not present */
    SF_SEQ_NOMEM
} sf_seq_status;

/*
 * Whether the n items' sequences are exactly 0..n-1 in some order, as canic
 * checks it (insert each into a set in array order, reporting the first
 * repeat; then look for 0..n-1 in turn). Each item is `stride` bytes and
 * holds a uint64_t sequence at `offset`. Sorting keeps it O(n log n). On
 * SF_SEQ_OK, *index (malloc'd) maps each sequence to its array position.
 */
sf_seq_status sf_seq_check(const void *items, size_t n, size_t stride,
                           size_t offset, size_t *at, size_t **index);

#endif
