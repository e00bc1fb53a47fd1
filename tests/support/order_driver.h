/*
 * A driver for the jobs tests that hands completions back in a scripted
 * order: wait() collects every completion of the driver below (their
 * effects have happened), then returns one of them chosen by a small
 * generator seeded per run, so across seeds the operations in flight
 * together complete in every order.
 */
#ifndef SF_TEST_ORDER_DRIVER_H
#define SF_TEST_ORDER_DRIVER_H

#include <stdint.h>

#include "snapfleet/driver.h"

/* Wraps inner (not owned: destroy it after this one). */
sf_driver *sf_order_driver_new(sf_driver *inner, uint64_t seed);

#endif
