/*
 * A scripted in-memory driver for unit tests. It performs nothing: it
 * records every submitted op and completes each with a scripted failure
 * class or a default success:
 *   registry  one entry, the op's canister as root
 *   status    running, module hash "ab" x 32, no controllers
 *   create,
 *   upload    a new snapshot id, 16 hex digits counting from 1
 *   list      no snapshots
 *   others    nothing
 * Several ops may be in flight; by default they complete in submit order,
 * or in the order scripted with sf_mock_order. Tickets start at 1001 so a
 * wrapper that forgets to map tickets shows up.
 * Destroy it with sf_driver_destroy.
 */
#ifndef SF_TEST_MOCK_DRIVER_H
#define SF_TEST_MOCK_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/driver.h"

/* NULL when out of memory. */
sf_driver *sf_mock_new(void);

/* The next submitted op of `kind` (FIFO per kind) completes with `fail`
 * (error kind "mock"); SF_FAIL_NONE scripts a default success. Unscripted
 * ops succeed. */
void sf_mock_script(sf_driver *m, sf_op_kind kind, sf_fail_class fail);

/* The next wait() completes the op submitted at `index` (0-based over all
 * submits); once the scripted order runs out, the oldest op in flight.
 * Waiting when the scripted op is not in flight is an "internal" error. */
void sf_mock_order(sf_driver *m, size_t index);

/* In sf_mock_order: that wait_for() times out (sleeping its timeout on
 * the clock given to sf_mock_set_clock, if any) and completes nothing. A
 * plain wait() reaching it is an "internal" error. */
#define SF_MOCK_TIMEOUT ((size_t)-1)

/* wait_for() with nothing scripted behaves as wait(): the mock has no
 * time of its own. */
void sf_mock_set_clock(sf_driver *m, const sf_clock *clock);
/* wait_for() calls so far, and the timeout the last one was given. */
size_t sf_mock_waits_for(sf_driver *m);
uint64_t sf_mock_last_timeout(sf_driver *m);

/* The next submit returns SF_ERR ("mock-refused") without recording. */
void sf_mock_refuse_next_submit(sf_driver *m);

/* Called for every completion after the result is filled, to shape it. */
typedef void (*sf_mock_hook)(const sf_op *op, sf_result *r, void *ctx);
void sf_mock_set_hook(sf_driver *m, sf_mock_hook hook, void *ctx);

/* Observations. */
size_t sf_mock_submitted(sf_driver *m);          /* ops recorded */
const sf_op *sf_mock_op(sf_driver *m, size_t i); /* i-th submitted op */
size_t sf_mock_count(sf_driver *m, sf_op_kind kind);
size_t sf_mock_completed(sf_driver *m);

#endif
