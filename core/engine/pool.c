/*
 * Cooperative tasks over a driver with several operations in flight
 * (pool.h), on the caller's thread: each task is a context (ucontext) on
 * a stack of its own, and control passes by swapcontext between the
 * scheduler's context and a task's, only at spawn, at a task's driver
 * call and end, and at the delivery of a completion. Worker threads
 * handing a baton through a mutex did the same, at the price of a futex
 * wake and a scheduler switch per hand-over (about a fifth of `sim run`'s
 * CPU) and the threads' creation per pool.
 */
#include "engine/pool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* ASan follows the stack in use through a switch only when told (it
 * keeps each stack's shadow and fake frames apart), gcc or clang. */
#if defined(__SANITIZE_ADDRESS__)
#define SF_POOL_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SF_POOL_ASAN 1
#endif
#endif
#ifdef SF_POOL_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

/* Each worker's stack, instead of a thread's default 8 MiB (64 workers:
 * 512 MiB of address space). A task runs engine steps (journals, the
 * transition log, a driver's submit); painted and measured under
 * ASan+UBSan over the tests (backups, downloads, restores and sim runs
 * with --jobs, over the simulator and the fake icp; 9,247 worker stacks
 * in two runs, when workers were threads), the deepest used 77.4 KiB,
 * thread descriptor and TLS included. 512 KiB leaves six times that for
 * paths the tests miss; a guard page below each stack turns an overflow
 * into a fault instead of a write over whatever lies below. */
#define SF_POOL_STACK ((size_t)512 << 10)

typedef struct worker {
    ucontext_t ctx;
    unsigned char *stack; /* its lowest byte; the guard page is below */
    /* the task, from spawn to collection */
    sf_pool_fn fn;
    void *arg;
    bool busy;
    int rc;
    sf_error err;
    /* a driver call the task sleeps on */
    bool waiting;
    uint64_t ticket;
    sf_result *result;
    int call_rc;
    sf_error call_err;
#ifdef SF_POOL_ASAN
    void *fake_stack; /* ASan's, while the task is switched out */
#endif
} worker;

struct sf_pool {
    sf_driver *driver;
    ucontext_t sched; /* the scheduler, while a task runs */
    worker *current;  /* the task running; NULL: the scheduler */
    bool broken;      /* the driver's wait failed: every call fails */
    sf_error broken_err;
    unsigned jobs;
    worker *w;
    unsigned char *map; /* every stack and guard, one mapping */
    size_t map_len, stack;
    size_t running;
    unsigned *done; /* ended tasks in the order they ended (a ring) */
    size_t done_head, done_n;
#ifdef SF_POOL_ASAN
    void *sched_fake;
    const void *sched_bottom;
    size_t sched_size;
#endif
};

/* ASan's side of a switch: before it, the stack switched to (fake: where
 * the leaving side's fake frames are kept, NULL when it ends); after it,
 * on the side switched to. */
static void switch_out(void **fake, const void *bottom, size_t size)
{
#ifdef SF_POOL_ASAN
    __sanitizer_start_switch_fiber(fake, bottom, size);
#else
    (void)fake;
    (void)bottom;
    (void)size;
#endif
}

static void switched_in(void *fake, const void **bottom, size_t *size)
{
#ifdef SF_POOL_ASAN
    __sanitizer_finish_switch_fiber(fake, bottom, size);
#else
    (void)fake;
    (void)bottom;
    (void)size;
#endif
}

#ifdef SF_POOL_ASAN
#define FAKE(x) (x)
#define SCHED_STACK(p) &(p)->sched_bottom, &(p)->sched_size
#define SCHED_STACK_VAL(p) (p)->sched_bottom, (p)->sched_size
#else
#define FAKE(x) NULL
#define SCHED_STACK(p) NULL, NULL
#define SCHED_STACK_VAL(p) NULL, 0
#endif

/* Saves the running context in from and resumes to: swapcontext, but
 * under ASan getcontext and setcontext, because ASan's swapcontext prints
 * a warning on stderr at its first call (the CLI tests check stderr), and
 * what else it does, the fiber calls around each switch and the
 * unpoisoning at spawn do. */
static void swap(ucontext_t *from, const ucontext_t *to)
{
#ifdef SF_POOL_ASAN
    volatile bool back = false;

    getcontext(from);
    if (!back) {
        back = true;
        setcontext(to);
    }
#else
    swapcontext(from, to);
#endif
}

/* From the scheduler: w runs until it calls the driver or ends. */
static void run(sf_pool *p, worker *w)
{
    p->current = w;
    switch_out(FAKE(&p->sched_fake), w->stack, p->stack);
    swap(&p->sched, &w->ctx);
    switched_in(FAKE(p->sched_fake), NULL, NULL);
    p->current = NULL;
}

/* From the task running: control back to the scheduler until a
 * completion (or the pool's breakage) is delivered to it. */
static void yield(sf_pool *p, worker *w)
{
    switch_out(FAKE(&w->fake_stack), SCHED_STACK_VAL(p));
    swap(&w->ctx, &p->sched);
    switched_in(FAKE(w->fake_stack), SCHED_STACK(p));
}

/* A task's context starts here (makecontext passes ints: the pool's
 * address in two halves), runs the task and hands it to the scheduler as
 * ended; the context is made again at the worker's next spawn. */
static void task_main(unsigned hi, unsigned lo)
{
    sf_pool *p = (sf_pool *)(((uintptr_t)hi << 16 << 16) | (uintptr_t)lo);
    worker *w = p->current;

    switched_in(NULL, SCHED_STACK(p));
    sf_error_clear(&w->err);
    w->rc = w->fn(w->arg, &w->err);
    p->done[(p->done_head + p->done_n++) % p->jobs] = (unsigned)(w - p->w);
    switch_out(NULL, SCHED_STACK_VAL(p));
    setcontext(&p->sched);
    abort(); /* not reached: setcontext returns only when it fails */
}

static int stacks_error(sf_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "pool-threads" (the kind from when workers were threads), with the
 * system's reason. */
static int stacks_error(sf_error *err, int rc, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sf_error_set(err, "pool-threads", "", "%s: %s", what,
                        strerror(rc));
}

/* Every worker's stack, each above a guard page, in one mapping mapped
 * inaccessible and opened stack by stack: two calls per worker at open,
 * none per task. errno set when it fails. */
static int map_stacks(sf_pool *p, size_t page)
{
    unsigned i;
    size_t slot = page + p->stack;

    if (__builtin_mul_overflow(slot, (size_t)p->jobs, &p->map_len)) {
        errno = ENOMEM;
        return SF_ERR;
    }
    p->map = mmap(NULL, p->map_len, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (p->map == MAP_FAILED) {
        p->map = NULL;
        return SF_ERR;
    }
    for (i = 0; i < p->jobs; i++) {
        p->w[i].stack = p->map + i * slot + page;
        if (mprotect(p->w[i].stack, p->stack, PROT_READ | PROT_WRITE) != 0)
            return SF_ERR; /* sf_pool_close unmaps it */
    }
    return SF_OK;
}

int sf_pool_open(sf_pool **out, sf_driver *driver, unsigned jobs,
                 sf_error *err)
{
    return sf_pool_open_stack(out, driver, jobs, SF_POOL_STACK, err);
}

int sf_pool_open_stack(sf_pool **out, sf_driver *driver, unsigned jobs,
                       size_t stack, sf_error *err)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    sf_pool *p;

    *out = NULL;
    if (jobs < 2 || jobs > SF_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "jobs", "a pool runs 2 to %d "
                            "tasks, not %u", SF_JOBS_MAX, jobs);
    if (stack < SF_POOL_STACK_MIN)
        return sf_error_set(err, "pool-threads", "", "cannot give tasks a "
                            "stack of %zu bytes: the least is %zu", stack,
                            SF_POOL_STACK_MIN);
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    p->w = calloc(jobs, sizeof *p->w);
    p->done = calloc(jobs, sizeof *p->done);
    if (p->w == NULL || p->done == NULL) {
        sf_pool_close(p);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    p->driver = driver;
    p->jobs = jobs;
    /* whole pages, without overflowing */
    p->stack = stack + (page - stack % page) % page;
    if (p->stack < stack || map_stacks(p, page) != SF_OK) {
        int rc = p->stack < stack ? ENOMEM : errno;

        sf_pool_close(p);
        return stacks_error(err, rc, "cannot map %u task stacks of %zu "
                            "bytes", jobs, stack);
    }
    *out = p;
    return SF_OK;
}

void sf_pool_close(sf_pool *p)
{
    if (p == NULL)
        return;
    if (p->map != NULL)
        munmap(p->map, p->map_len);
    free(p->w);
    free(p->done);
    free(p);
}

size_t sf_pool_running(const sf_pool *p)
{
    return p->running;
}

bool sf_pool_has_room(const sf_pool *p)
{
    return p->running < p->jobs;
}

bool sf_pool_failed(const sf_pool *p)
{
    size_t i;

    for (i = 0; i < p->done_n; i++)
        if (p->w[p->done[(p->done_head + i) % p->jobs]].rc != SF_OK)
            return true;
    return false;
}

int sf_pool_spawn(sf_pool *p, sf_pool_fn fn, void *arg, sf_error *err)
{
    uintptr_t self = (uintptr_t)p;
    worker *w;
    unsigned i;

    for (i = 0; i < p->jobs && p->w[i].busy; i++)
        ;
    if (i == p->jobs)
        return sf_error_set(err, "pool-full", "", "all %u workers are busy",
                            p->jobs);
    w = &p->w[i];
    w->fn = fn;
    w->arg = arg;
    w->busy = true;
    p->running++;
    /* getcontext only fills in what makecontext needs (it cannot fail
     * here: no signal mask to read wrong) */
    getcontext(&w->ctx);
    w->ctx.uc_stack.ss_sp = w->stack;
    w->ctx.uc_stack.ss_size = p->stack;
    w->ctx.uc_link = NULL;
#ifdef SF_POOL_ASAN
    /* the redzones of the frames the last task left behind */
    __asan_unpoison_memory_region(w->stack, p->stack);
#endif
    makecontext(&w->ctx, (void (*)(void))task_main, 2,
                (unsigned)(self >> 16 >> 16), (unsigned)(self & 0xffffffffu));
    run(p, w);
    return SF_OK;
}

/* The scheduler hands a completion (or the pool's breakage) to w. */
static void deliver(sf_pool *p, worker *w, int rc, sf_result *res,
                    const sf_error *why)
{
    w->waiting = false;
    w->call_rc = rc;
    if (rc == SF_OK)
        *w->result = *res;
    else
        w->call_err = *why;
    run(p, w);
}

static worker *waiting_for(sf_pool *p, bool any, uint64_t ticket)
{
    unsigned i;

    for (i = 0; i < p->jobs; i++)
        if (p->w[i].busy && p->w[i].waiting &&
            (any || p->w[i].ticket == ticket))
            return &p->w[i];
    return NULL;
}

int sf_pool_next(sf_pool *p, void **arg, int *rc, sf_error *task_err,
                 sf_error *err)
{
    if (p->running == 0)
        return sf_error_set(err, "pool-idle", "", "no task is running");
    for (;;) {
        sf_result res;
        uint64_t ticket;
        worker *w;

        if (p->done_n > 0) {
            w = &p->w[p->done[p->done_head]];
            p->done_head = (p->done_head + 1) % p->jobs;
            p->done_n--;
            w->busy = false;
            p->running--;
            *arg = w->arg;
            *rc = w->rc;
            *task_err = w->err;
            return SF_OK;
        }
        /* every running task that has not ended sleeps on a call */
        if (!p->broken) {
            sf_result_init(&res, SF_OP_STATUS);
            if (sf_driver_wait(p->driver, &ticket, &res, &p->broken_err) != SF_OK) {
                sf_result_free(&res);
                p->broken = true;
                sf_error_prefix(&p->broken_err, "waiting for the driver: ");
            } else if ((w = waiting_for(p, false, ticket)) == NULL) {
                sf_result_free(&res);
                p->broken = true;
                sf_error_set(&p->broken_err, "internal", "", "the driver "
                             "completed ticket %llu, which no task waits for",
                             (unsigned long long)ticket);
            } else {
                deliver(p, w, SF_OK, &res, NULL);
                continue;
            }
        }
        if ((w = waiting_for(p, true, 0)) == NULL)
            return sf_error_set(err, "internal", "", "%zu tasks run and none "
                                "waits or has ended", p->running);
        deliver(p, w, SF_ERR, NULL, &p->broken_err);
    }
}

int sf_pool_call(sf_pool *p, sf_driver *driver, const sf_op *op,
                 sf_result *result, sf_error *err)
{
    worker *w = p != NULL ? p->current : NULL;

    if (w == NULL)
        return sf_driver_run(driver, op, result, err);
    sf_result_init(result, op->kind);
    if (p->broken) {
        *err = p->broken_err;
        return SF_ERR;
    }
    if (sf_driver_submit(p->driver, op, &w->ticket, err) != SF_OK)
        return SF_ERR;
    w->waiting = true;
    w->result = result;
    yield(p, w);
    if (w->call_rc != SF_OK) {
        *err = w->call_err;
        return SF_ERR;
    }
    return SF_OK;
}

bool sf_pool_task_stack(const sf_pool *p, void **lowest, size_t *size)
{
    if (p->current == NULL)
        return false;
    *lowest = p->current->stack;
    *size = p->stack;
    return true;
}

int sf_pool_drive(sf_pool *p, sf_pool_fill_fn fill, sf_pool_ended_fn ended,
                  void *ctx, sf_error *err)
{
    sf_error first;
    bool failed = false;

    sf_error_clear(&first);
    for (;;) {
        void *arg;
        sf_error terr;
        int trc;

        if (!failed && fill(ctx, &first) != SF_OK)
            failed = true;
        if (p->running == 0)
            break;
        if (sf_pool_next(p, &arg, &trc, &terr, err) != SF_OK)
            return SF_ERR; /* not reached: a running task always ends */
        if (ended != NULL)
            ended(ctx, arg);
        if (trc != SF_OK && !failed) {
            failed = true;
            first = terr;
        }
    }
    if (failed) {
        if (err != NULL)
            *err = first;
        return SF_ERR;
    }
    return SF_OK;
}
