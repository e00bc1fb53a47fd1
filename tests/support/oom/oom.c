/*
 * Allocation failure injection (oom.h). Linked only into the tests built
 * with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 * --wrap=strndup: the linker sends every call the statically linked
 * objects (the library, the test) make to those functions here, and
 * __real_* reaches the real allocator (ASan's, in a sanitized build).
 * Allocations made inside shared libraries (libc, cJSON, libcrypto) are
 * not seen.
 */
#include "oom.h"

#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

enum { OFF, NTH, NEW_PATH };

#define PATHS_MAX 65536

static struct {
    int mode;
    uint64_t count, nth;
    bool fired;
    int suspended;
    uint64_t paths[PATHS_MAX];
    size_t path_count;
} g;

static uint64_t call_path(void)
{
    void *frames[7];
    int n, i;
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the return addresses */

    n = backtrace(frames, 7);
    /* frames[0]: here; [1]: decide; [2]: should_fail; [3]: __wrap_*;
     * then the callers */
    for (i = 4; i < n; i++) {
        uint64_t a = (uint64_t)(uintptr_t)frames[i];
        int b;
        for (b = 0; b < 8; b++) {
            h ^= (a >> (8 * b)) & 0xff;
            h *= 1099511628211ull;
        }
    }
    return h;
}

static bool path_failed_before(uint64_t p)
{
    size_t i;

    for (i = 0; i < g.path_count; i++)
        if (g.paths[i] == p)
            return true;
    return false;
}

/* Allocations may come from several threads (the checksum workers): the
 * decision is made under a lock. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static bool __attribute__((noinline)) decide(void)
{
    uint64_t p;

    if (g.mode == OFF || g.suspended > 0 || g.fired)
        return false;
    g.count++;
    if (g.mode == NTH) {
        g.fired = g.count == g.nth;
        return g.fired;
    }
    g.suspended++;
    p = call_path();
    g.suspended--;
    if (path_failed_before(p) || g.path_count == PATHS_MAX)
        return false;
    g.paths[g.path_count++] = p;
    g.fired = true;
    return true;
}

static bool __attribute__((noinline)) should_fail(void)
{
    bool yes;

    if (g.mode == OFF)
        return false;
    pthread_mutex_lock(&lock);
    yes = decide();
    pthread_mutex_unlock(&lock);
    return yes;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_realloc(p, n);
}

char *__wrap_strdup(const char *s)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    return __real_strndup(s, n);
}

void sf_oom_arm_nth(uint64_t nth)
{
    g.mode = NTH;
    g.nth = nth;
    g.count = 0;
    g.fired = false;
}

void sf_oom_arm_new_path(void)
{
    void *warm[2];

    /* the first backtrace loads the unwinder: not while armed */
    g.suspended++;
    backtrace(warm, 2);
    g.suspended--;
    g.mode = NEW_PATH;
    g.count = 0;
    g.fired = false;
}

bool sf_oom_disarm(void)
{
    g.mode = OFF;
    return g.fired;
}

uint64_t sf_oom_allocations(void)
{
    return g.count;
}

void sf_oom_suspend(void)
{
    g.suspended++;
}

void sf_oom_resume(void)
{
    g.suspended--;
}

void sf_oom_forget_paths(void)
{
    g.path_count = 0;
}

/* ---- the suspending driver ---- */

typedef struct oom_driver {
    sf_driver base;
    sf_driver *inner;
} oom_driver;

static sf_driver *inner_of(sf_driver *d)
{
    return ((oom_driver *)d->impl)->inner;
}

static int od_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                     sf_error *err)
{
    int rc;

    sf_oom_suspend();
    rc = sf_driver_submit(inner_of(d), op, ticket, err);
    sf_oom_resume();
    return rc;
}

static int od_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                   sf_error *err)
{
    int rc;

    sf_oom_suspend();
    rc = sf_driver_wait(inner_of(d), ticket, result, err);
    sf_oom_resume();
    return rc;
}

static int od_render(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err)
{
    int rc;

    sf_oom_suspend();
    rc = sf_driver_render(inner_of(d), op, out, err);
    sf_oom_resume();
    return rc;
}

static size_t od_in_flight(sf_driver *d)
{
    return sf_driver_in_flight(inner_of(d));
}

static void od_destroy(sf_driver *d)
{
    free(d->impl);
}

static const sf_driver_ops oom_driver_ops = {
    "oom", od_submit, od_wait, od_render, od_in_flight, od_destroy,
    NULL, /* wait_for: none, waits without a limit */
};

sf_driver *sf_oom_driver_new(sf_driver *inner)
{
    oom_driver *o = calloc(1, sizeof *o);

    if (o == NULL)
        return NULL;
    o->inner = inner;
    o->base.ops = &oom_driver_ops;
    o->base.impl = o;
    return &o->base;
}

/* ---- the sweep ---- */

size_t sf_oom_sweep(const sf_oom_case *c, void *ctx, bool by_path)
{
    size_t run, injected = 0;

    if (by_path)
        sf_oom_forget_paths();
    for (run = 1;; run++) {
        sf_error err;
        bool fired;
        int rc;

        if (run > 200000)
            fail_msg("%s: the sweep does not end", c->name);
        if (c->prep != NULL)
            c->prep(ctx);
        sf_error_clear(&err);
        if (by_path)
            sf_oom_arm_new_path();
        else
            sf_oom_arm_nth(run);
        rc = c->body(ctx, &err);
        fired = sf_oom_disarm();
        if (fired)
            injected++;
        if (rc == SF_OK) {
            c->check_ok(ctx);
        } else {
            if (!fired)
                fail_msg("%s, run %zu: failed with no allocation failing: "
                         "%s (%s)", c->name, run, err.message,
                         err.kind ? err.kind : "no kind");
            if (err.kind == NULL || strcmp(err.kind, SF_EK_NOMEM) != 0)
                fail_msg("%s, run %zu: an allocation failure reported as "
                         "kind %s: %s", c->name, run,
                         err.kind ? err.kind : "(none)", err.message);
            if (c->check_failed != NULL)
                c->check_failed(ctx, &err);
        }
        if (c->cleanup != NULL)
            c->cleanup(ctx);
        if (!fired)
            return injected;
    }
}
