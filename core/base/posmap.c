#include "base/posmap.h"

#include <stdlib.h>

uint64_t sf_posmap_hash(const char *a, const char *b)
{
    uint64_t h = 14695981039346656037ull;
    const char *parts[2] = {a, b};

    for (int k = 0; k < 2; k++) {
        const unsigned char *p = (const unsigned char *)parts[k];

        /* a separator, and NULL apart from "" */
        h = (h ^ (p == NULL ? 0xffu : 0xfeu)) * 1099511628211ull;
        for (; p != NULL && *p != '\0'; p++)
            h = (h ^ *p) * 1099511628211ull;
    }
    return h;
}

static void put(uint64_t *hashes, size_t *pos, size_t cap, uint64_t hash,
                size_t p)
{
    size_t i = (size_t)hash & (cap - 1);

    while (pos[i] != SIZE_MAX)
        i = (i + 1) & (cap - 1);
    hashes[i] = hash;
    pos[i] = p;
}

bool sf_posmap_reserve(sf_posmap *m, size_t n)
{
    size_t cap = 16, i;
    uint64_t *hashes;
    size_t *pos;

    if (n <= m->cap / 2)
        return true;
    while (cap / 2 < n) {
        if (cap > SIZE_MAX / 2 / sizeof *hashes)
            return false;
        cap *= 2;
    }
    hashes = malloc(cap * sizeof *hashes);
    pos = malloc(cap * sizeof *pos);
    if (hashes == NULL || pos == NULL) {
        free(hashes);
        free(pos);
        return false;
    }
    for (i = 0; i < cap; i++)
        pos[i] = SIZE_MAX;
    for (i = 0; i < m->cap; i++)
        if (m->pos[i] != SIZE_MAX)
            put(hashes, pos, cap, m->hashes[i], m->pos[i]);
    free(m->hashes);
    free(m->pos);
    m->hashes = hashes;
    m->pos = pos;
    m->cap = cap;
    return true;
}

bool sf_posmap_insert(sf_posmap *m, uint64_t hash, size_t pos)
{
    if (m->count == SIZE_MAX || !sf_posmap_reserve(m, m->count + 1))
        return false;
    put(m->hashes, m->pos, m->cap, hash, pos);
    m->count++;
    return true;
}

size_t sf_posmap_next(const sf_posmap *m, uint64_t hash, size_t *cursor)
{
    size_t i, start;

    if (m->cap == 0)
        return SIZE_MAX;
    /* *cursor: 0 before the first call, else one past the slot returned
     * (relative to the home slot) */
    start = (size_t)hash & (m->cap - 1);
    for (i = *cursor; i < m->cap; i++) {
        size_t s = (start + i) & (m->cap - 1);

        if (m->pos[s] == SIZE_MAX)
            return SIZE_MAX;
        if (m->hashes[s] == hash) {
            *cursor = i + 1;
            return m->pos[s];
        }
    }
    return SIZE_MAX;
}

void sf_posmap_set(sf_posmap *m, uint64_t hash, size_t cursor, size_t pos)
{
    /* the slot the sf_posmap_next that left *cursor here returned */
    m->pos[((size_t)hash + cursor - 1) & (m->cap - 1)] = pos;
}

void sf_posmap_free(sf_posmap *m)
{
    free(m->hashes);
    free(m->pos);
    m->hashes = NULL;
    m->pos = NULL;
    m->cap = m->count = 0;
}
