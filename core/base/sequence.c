#include "base/sequence.h"

#include <stdlib.h>
#include <string.h>

typedef struct seq_key {
    uint64_t sequence;
    size_t index;
} seq_key;

static int seq_key_cmp(const void *pa, const void *pb)
{
    const seq_key *a = pa, *b = pb;

    if (a->sequence != b->sequence)
        return a->sequence < b->sequence ? -1 : 1;
    return a->index < b->index ? -1 : a->index > b->index;
}

sf_seq_status sf_seq_check(const void *items, size_t n, size_t stride,
                           size_t offset, size_t *at, size_t **index_out)
{
    const char *base = items;
    size_t i, first_dup = SIZE_MAX, missing, *index;
    seq_key *keys;

    *index_out = NULL;
    *at = 0;
    keys = malloc((n ? n : 1) * sizeof *keys);
    index = malloc((n ? n : 1) * sizeof *index);
    if (keys == NULL || index == NULL) {
        free(keys);
        free(index);
        return SF_SEQ_NOMEM;
    }
    for (i = 0; i < n; i++) {
        memcpy(&keys[i].sequence, base + i * stride + offset, sizeof keys[i].sequence);
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, seq_key_cmp);
    for (i = 1; i < n; i++)
        if (keys[i].sequence == keys[i - 1].sequence && keys[i].index < first_dup)
            first_dup = keys[i].index;
    if (first_dup != SIZE_MAX) {
        free(keys);
        free(index);
        *at = first_dup;
        return SF_SEQ_DUPLICATE;
    }
    /* distinct and sorted: the first gap is the smallest missing one */
    for (missing = 0; missing < n && keys[missing].sequence == missing; missing++)
        index[missing] = keys[missing].index;
    free(keys);
    if (missing < n) {
        free(index);
        *at = missing;
        return SF_SEQ_MISSING;
    }
    *index_out = index;
    return SF_SEQ_OK;
}
