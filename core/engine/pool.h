/*
 * Several operations in flight, each written as sequential code.
 *
 * A pool runs up to `jobs` tasks (functions) as cooperative tasks on the
 * thread that opened it, each on a stack of its own: exactly one runs at
 * any time, the scheduler (the caller of the pool's functions) or one
 * task, and control passes only at driver calls. A task's driver call
 * (sf_pool_call) submits the operation, hands control back to the
 * scheduler and sleeps until that operation completes; the scheduler
 * (sf_pool_next) waits on the driver and hands control to the task whose
 * operation completed. Whoever holds control is the only one touching the
 * journals, the log, the engine's memory and the storage, so nothing
 * races, and the interleaving depends only on the order in which the
 * driver completes operations: under the simulator (virtual time) the
 * same seed gives the same run.
 *
 * Pointers into arrays another task may grow (journal receipts, download
 * journal artifacts, observations) must be looked up again after a driver
 * call.
 */
#ifndef SNAPFLEET_ENGINE_POOL_H
#define SNAPFLEET_ENGINE_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "snapfleet/driver.h"

#define SF_JOBS_MAX 64
#define SF_JOBS_DEFAULT 4

typedef struct sf_pool sf_pool;

/* A task: returns SF_OK or SF_ERR with err set. */
typedef int (*sf_pool_fn)(void *arg, sf_error *err);

/* A pool of `jobs` workers (2 to SF_JOBS_MAX) over driver, their stacks
 * mapped here (each with a guard page below it, reused by every task the
 * worker runs). "pool-threads" when the stacks cannot be mapped. */
int sf_pool_open(sf_pool **out, sf_driver *driver, unsigned jobs,
                 sf_error *err);
/* sf_pool_open with each worker's stack `stack` bytes, rounded up to
 * whole pages (sf_pool_open's is 512 KiB: pool.c says why).
 * "pool-threads" when that size is below SF_POOL_STACK_MIN or cannot be
 * mapped. */
#define SF_POOL_STACK_MIN ((size_t)64 << 10)
int sf_pool_open_stack(sf_pool **out, sf_driver *driver, unsigned jobs,
                       size_t stack, sf_error *err);
/* Unmaps the stacks. Every task spawned must have been collected by
 * sf_pool_next first. NULL is a no-op. */
void sf_pool_close(sf_pool *p);

/* Tasks spawned and not yet collected by sf_pool_next. */
size_t sf_pool_running(const sf_pool *p);
/* Whether another task may be spawned now. */
bool sf_pool_has_room(const sf_pool *p);
/* Whether a task has ended with an error and waits to be collected (one
 * that failed before its first driver call ends inside sf_pool_spawn): a
 * scheduler starts nothing more once this is true. */
bool sf_pool_failed(const sf_pool *p);

/* Starts fn(arg) on an idle worker and runs it until its first driver
 * call or its end. "pool-full" when no worker is idle. */
int sf_pool_spawn(sf_pool *p, sf_pool_fn fn, void *arg, sf_error *err);

/* Runs the tasks until one ends and returns it: *arg as spawned, *rc and
 * *task_err what it returned. Driver completions are delivered in the
 * order the driver gives them. When the driver's wait fails (or names a
 * ticket no task waits for) the pool is broken: every waiting task's call
 * fails with that error, and every later call too, so each task ends and
 * is collected. "pool-idle" when no task is running. */
int sf_pool_next(sf_pool *p, void **arg, int *rc, sf_error *task_err,
                 sf_error *err);

/* The runners' scheduling loop: fill(ctx, err) spawns what may start now
 * (SF_ERR with err set when it cannot go on); every task that ends is
 * handed to ended(ctx, arg) (NULL: nothing to do). After the first
 * failure, a task's or fill's, nothing new starts and the tasks in flight
 * are collected. Returns when none is running: SF_OK, or SF_ERR with the
 * first failure in err. */
typedef int (*sf_pool_fill_fn)(void *ctx, sf_error *err);
typedef void (*sf_pool_ended_fn)(void *ctx, void *arg);
int sf_pool_drive(sf_pool *p, sf_pool_fill_fn fill, sf_pool_ended_fn ended,
                  void *ctx, sf_error *err);

/* The engine's driver call: from a task, submit and sleep until the
 * result; from the scheduler (or with p NULL), sf_driver_run. *result is
 * initialised in every case. */
int sf_pool_call(sf_pool *p, sf_driver *driver, const sf_op *op,
                 sf_result *result, sf_error *err);

/* For tests: the stack p's running task is on (its lowest byte and its
 * size; the page below is the guard). false outside p's tasks. */
bool sf_pool_task_stack(const sf_pool *p, void **lowest, size_t *size);

#endif
