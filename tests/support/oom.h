/*
 * Allocation failure injection, as SQLite's memfault and libgit2's
 * cl_alloc_limit: a test linked with -Wl,--wrap=malloc,... (every
 * tests/test_oom_*.c, see CMakeLists.txt) routes the library's malloc,
 * calloc, realloc, strdup and strndup through here, and one of them can be
 * made to fail (return NULL, errno ENOMEM) while armed. One failure per
 * arming: later allocations succeed, as after a transient shortage.
 *
 * Two ways to choose which allocation fails:
 *   - by count: the nth allocation after arming (sf_oom_arm_nth); a sweep
 *     over n = 1, 2, ... reaches every allocation of an operation;
 *   - by call path: the first allocation whose call path (the three
 *     callers above the allocator) has not failed before in this process
 *     (sf_oom_arm_new_path); a sweep then costs one run per distinct
 *     path, not one per allocation, for operations that allocate a lot.
 *
 * sf_oom_sweep runs such a sweep and checks, after every run, that the
 * operation either succeeded (and its result is right) or failed with
 * kind "out-of-memory", nothing leaked (ASan) and the state is as the
 * case's check requires.
 */
#ifndef SF_TEST_OOM_H
#define SF_TEST_OOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/driver.h"
#include "snapfleet/error.h"

void sf_oom_arm_nth(uint64_t nth);
void sf_oom_arm_new_path(void);
/* Disarms; true when an allocation was made to fail since arming. */
bool sf_oom_disarm(void);
/* Allocations seen since the last arming. */
uint64_t sf_oom_allocations(void);
/* Nesting: while suspended, nothing fails and nothing is counted (the
 * simulator's own allocations, for instance). */
void sf_oom_suspend(void);
void sf_oom_resume(void);
/* Forgets the call paths failed so far. */
void sf_oom_forget_paths(void);

/* A driver that forwards to inner with injection suspended, so only the
 * engine's allocations fail, never the simulated fleet's. Destroying it
 * leaves inner alone. */
sf_driver *sf_oom_driver_new(sf_driver *inner);

typedef struct sf_oom_case {
    const char *name;
    /* Unarmed: sets up a fresh state for one run. May be NULL. */
    void (*prep)(void *ctx);
    /* Armed: the operation under test. */
    int (*body)(void *ctx, sf_error *err);
    /* Unarmed, after body returned SF_OK: the result is right. */
    void (*check_ok)(void *ctx);
    /* Unarmed, after body failed with "out-of-memory": the state is
     * consistent (unchanged, or resumable: what the case says). May be
     * NULL. */
    void (*check_failed)(void *ctx, const sf_error *err);
    /* Unarmed, after the checks: releases what prep and body made. May be
     * NULL. */
    void (*cleanup)(void *ctx);
} sf_oom_case;

/* Runs the sweep until a run injects no failure; returns how many runs
 * had an allocation fail. by_path: sf_oom_arm_new_path (the set of paths
 * failed is forgotten first), else sf_oom_arm_nth. Fails the current
 * CMocka test on any broken expectation, naming the run. */
size_t sf_oom_sweep(const sf_oom_case *c, void *ctx, bool by_path);

#endif
