/*
 * Cooperative tasks over a driver with several operations in flight
 * (pool.h). Control is a baton: `holder` names the worker that may run,
 * NULL the scheduler; every hand-over goes through the mutex, which also
 * orders each thread's memory effects before the next holder's.
 */
#include "engine/pool.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Each worker's stack, instead of the default 8 MiB (64 workers: 512 MiB
 * of address space). A task runs engine steps (journals, the transition
 * log, a driver's submit); painted and measured under ASan+UBSan over the
 * tests (backups, downloads, restores and sim runs with --jobs, over the
 * simulator and the fake icp; 9,247 worker stacks in two runs), the
 * deepest used 77.4 KiB, thread descriptor and TLS included. 512 KiB
 * leaves six times that for paths the tests miss. */
#define SF_POOL_STACK ((size_t)512 << 10)

typedef struct worker {
    sf_pool *pool;
    pthread_t thread;
    pthread_cond_t cond;
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
} worker;

struct sf_pool {
    sf_driver *driver;
    pthread_mutex_t mu;
    pthread_cond_t sched_cond;
    worker *holder; /* who runs; NULL: the scheduler */
    bool closing;
    bool broken; /* the driver's wait failed: every call fails */
    sf_error broken_err;
    unsigned jobs, started;
    worker *w;
    size_t running;
    unsigned *done; /* ended tasks in the order they ended (a ring) */
    size_t done_head, done_n;
};

/* The worker this thread is, NULL on the scheduler's thread. */
static _Thread_local worker *self;

/* With mu held: control to w (NULL: the scheduler). */
static void give(sf_pool *p, worker *w)
{
    p->holder = w;
    pthread_cond_signal(w != NULL ? &w->cond : &p->sched_cond);
}

/* With mu held: sleeps until control comes to w. */
static void await_turn(sf_pool *p, worker *w)
{
    while (p->holder != w)
        pthread_cond_wait(w != NULL ? &w->cond : &p->sched_cond, &p->mu);
}

/* The scheduler runs w until it hands control back. */
static void run(sf_pool *p, worker *w)
{
    pthread_mutex_lock(&p->mu);
    give(p, w);
    await_turn(p, NULL);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    sf_pool *p = w->pool;

    self = w;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        await_turn(p, w);
        if (p->closing)
            break;
        pthread_mutex_unlock(&p->mu);
        sf_error_clear(&w->err);
        w->rc = w->fn(w->arg, &w->err);
        pthread_mutex_lock(&p->mu);
        p->done[(p->done_head + p->done_n++) % p->jobs] = (unsigned)(w - p->w);
        give(p, NULL);
    }
    give(p, NULL);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static int threads_error(sf_error *err, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* "pool-threads", with the system's reason. */
static int threads_error(sf_error *err, int rc, const char *fmt, ...)
{
    char what[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sf_error_set(err, "pool-threads", "", "%s: %s", what,
                        strerror(rc));
}

int sf_pool_open(sf_pool **out, sf_driver *driver, unsigned jobs,
                 sf_error *err)
{
    return sf_pool_open_stack(out, driver, jobs, SF_POOL_STACK, err);
}

int sf_pool_open_stack(sf_pool **out, sf_driver *driver, unsigned jobs,
                       size_t stack, sf_error *err)
{
    pthread_attr_t attr;
    sf_pool *p;
    unsigned i;
    int rc;

    *out = NULL;
    if (jobs < 2 || jobs > SF_JOBS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "jobs", "a pool runs 2 to %d "
                            "tasks, not %u", SF_JOBS_MAX, jobs);
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    p->w = calloc(jobs, sizeof *p->w);
    p->done = calloc(jobs, sizeof *p->done);
    if (p->w == NULL || p->done == NULL) {
        free(p->w);
        free(p->done);
        free(p);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    p->driver = driver;
    p->jobs = jobs;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->sched_cond, NULL);
    if ((rc = pthread_attr_init(&attr)) != 0) {
        sf_pool_close(p);
        return threads_error(err, rc, "cannot set up worker threads");
    }
    if ((rc = pthread_attr_setstacksize(&attr, stack)) != 0) {
        pthread_attr_destroy(&attr);
        sf_pool_close(p);
        return threads_error(err, rc, "cannot give worker threads a stack "
                             "of %zu bytes", stack);
    }
    for (i = 0; i < jobs; i++) {
        worker *w = &p->w[i];

        w->pool = p;
        pthread_cond_init(&w->cond, NULL);
        if (pthread_create(&w->thread, &attr, worker_main, w) != 0) {
            pthread_cond_destroy(&w->cond);
            pthread_attr_destroy(&attr);
            sf_pool_close(p);
            return sf_error_set(err, "pool-threads", "", "cannot start "
                                "worker thread %u of %u", i + 1, jobs);
        }
        p->started++;
    }
    pthread_attr_destroy(&attr);
    *out = p;
    return SF_OK;
}

void sf_pool_close(sf_pool *p)
{
    unsigned i;

    if (p == NULL)
        return;
    pthread_mutex_lock(&p->mu);
    p->closing = true;
    pthread_mutex_unlock(&p->mu);
    for (i = 0; i < p->started; i++) {
        run(p, &p->w[i]);
        pthread_join(p->w[i].thread, NULL);
        pthread_cond_destroy(&p->w[i].cond);
    }
    pthread_cond_destroy(&p->sched_cond);
    pthread_mutex_destroy(&p->mu);
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
    unsigned i;

    for (i = 0; i < p->jobs && p->w[i].busy; i++)
        ;
    if (i == p->jobs)
        return sf_error_set(err, "pool-full", "", "all %u workers are busy",
                            p->jobs);
    p->w[i].fn = fn;
    p->w[i].arg = arg;
    p->w[i].busy = true;
    p->running++;
    run(p, &p->w[i]);
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
    worker *w = self;

    if (p == NULL || w == NULL || w->pool != p)
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
    pthread_mutex_lock(&p->mu);
    give(p, NULL);
    await_turn(p, w);
    pthread_mutex_unlock(&p->mu);
    if (w->call_rc != SF_OK) {
        *err = w->call_err;
        return SF_ERR;
    }
    return SF_OK;
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
