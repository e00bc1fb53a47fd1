/*
 * A hash index of positions in an array of records keyed by strings (an
 * artifact by canister and snapshot id, an observation by canister id).
 * It stores, for each indexed record, the hash of its key and its
 * position, never the key itself: a lookup yields the positions whose
 * hash matches and the caller compares the record's key as it is now, so
 * the index holds no pointer into the records and a record whose strings
 * are replaced in place stays found.
 *
 * Open addressing with linear probing, at most half full; insertions
 * only (records are never removed from the arrays indexed this way). An
 * allocation failure leaves the map as it was.
 */
#ifndef SNAPFLEET_POSMAP_H
#define SNAPFLEET_POSMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sf_posmap {
    uint64_t *hashes;
    size_t *pos;  /* SIZE_MAX: an empty slot */
    size_t cap;   /* 0 or a power of two */
    size_t count; /* positions held */
} sf_posmap;

/* 64-bit FNV-1a of the strings in turn (NULL hashes apart from ""). */
uint64_t sf_posmap_hash(const char *a, const char *b);

/* Reserves room for n positions in all (so that as many insertions cannot
 * fail). false when out of memory, the map unchanged. */
bool sf_posmap_reserve(sf_posmap *m, size_t n);

/* Adds (hash, pos); false when out of memory, the map unchanged. */
bool sf_posmap_insert(sf_posmap *m, uint64_t hash, size_t pos);

/* Iterates over the positions stored with this hash (in no particular
 * order: a user keeps one position per key, the first record with it or
 * the latest, with sf_posmap_set): *cursor starts at 0; returns SIZE_MAX
 * at the end. */
size_t sf_posmap_next(const sf_posmap *m, uint64_t hash, size_t *cursor);

/* Replaces the position the sf_posmap_next that left `cursor` (same
 * hash) returned; only between that call and the next insertion. */
void sf_posmap_set(sf_posmap *m, uint64_t hash, size_t cursor, size_t pos);

void sf_posmap_free(sf_posmap *m);

#endif
