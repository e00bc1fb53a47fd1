/*
 * snapfleet: the progress of a run's transfers, for a person watching.
 *
 * One object per run. The engine says what it expects to move and when a
 * transfer begins and ends; a driver that can see a transfer's bytes
 * mid-way (the icp driver reads icp's progress files) says how far it got.
 * The object keeps a status line: bytes done of bytes expected, the rate
 * and an estimate of the time left for the whole run, and how many
 * transfers are in flight. On a terminal ("live") the line is redrawn in
 * place, and the run's own lines are printed above it; elsewhere it is a
 * line of its own after each finished transfer and at most every
 * SF_PROGRESS_PLAIN_INTERVAL_MS between. Wall time only: nothing here
 * reaches a document. Advisory: no call fails, and a full table of
 * transfers (more than SF_PROGRESS_MAX_FLIGHT at once) only stops the
 * extra ones from being shown mid-way.
 */
#ifndef SNAPFLEET_PROGRESS_H
#define SNAPFLEET_PROGRESS_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_PROGRESS_MAX_FLIGHT 64
#define SF_PROGRESS_KEY_MAX 192
#define SF_PROGRESS_LIVE_INTERVAL_MS 200u
#define SF_PROGRESS_PLAIN_INTERVAL_MS 10000u

typedef struct sf_progress sf_progress;

/* Milliseconds on a clock that never goes back. */
typedef uint64_t (*sf_progress_now_fn)(void *ctx);

/* out receives every line; live: a terminal. now NULL: CLOCK_MONOTONIC.
 * NULL when out of memory (the run then goes on without progress). */
SF_API sf_progress *sf_progress_new(FILE *out, bool live, sf_progress_now_fn now,
                                    void *now_ctx);
/* Clears a live status line. NULL is a no-op. */
SF_API void sf_progress_free(sf_progress *p);

/* Adds bytes the run will move (a snapshot's total size, once known). */
SF_API void sf_progress_expect(sf_progress *p, uint64_t bytes);
/* A transfer named key begins (it may be a resumed one). */
SF_API void sf_progress_begin(sf_progress *p, const char *key);
/* The transfer named key has moved done bytes so far (this attempt). */
SF_API void sf_progress_update(sf_progress *p, const char *key, uint64_t done);
/* The transfer ended: when ok, bytes count as done (what it moved in all);
 * a failed one's partial bytes no longer count. */
SF_API void sf_progress_end(sf_progress *p, const char *key, bool ok,
                            uint64_t bytes);
/* One of the run's own lines (a newline is added), printed above a live
 * status line. */
SF_API void sf_progress_printf(sf_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The status as text, e.g. "12.0 MiB of 640.0 MiB (1 %), 20.0 MiB/s,
 * 31 s left, 3 in flight". */
SF_API void sf_progress_status(sf_progress *p, char *out, size_t size);

/* Counters, for a caller's summary and for tests. */
typedef struct sf_progress_stats {
    uint64_t expected;  /* bytes */
    uint64_t done;      /* bytes: finished transfers + those in flight */
    size_t in_flight;
    size_t finished;
} sf_progress_stats;
SF_API void sf_progress_get_stats(const sf_progress *p, sf_progress_stats *out);

#ifdef __cplusplus
}
#endif

#endif
