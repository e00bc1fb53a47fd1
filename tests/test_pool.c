/* The engine's pool of cooperative tasks (core/engine/pool.c) over a
 * scripted driver: tasks run one at a time and switch only at driver
 * calls, each resumed when its own operation completes, in the order the
 * driver completes them; a task without a call ends at once; the
 * refusals (jobs out of range, no idle worker, nothing running, a stack
 * size too small or too large); each task on a stack of the size asked
 * for above a guard page, mapped once per pool and never leaked; a
 * submit that fails; a wait that fails or names an unknown ticket breaks
 * the pool: every waiting call and every later one fails, and every task
 * still ends and is collected. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/pool.h"
#include "snapfleet/buf.h"

/* ---- a scripted driver ----
 * Completes the operations in flight newest first (lifo) or oldest
 * first; a wait may be told to fail, or to name a ticket never issued. */

typedef struct script {
    sf_driver self;
    uint64_t q[64];
    size_t n;
    uint64_t next;
    bool lifo;
    bool fail_submit; /* the next submit fails */
    bool fail_wait;   /* the next wait fails */
    bool bad_ticket;  /* the next wait names ticket 999 */
} script;

static int s_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                    sf_error *err)
{
    script *s = d->impl;

    (void)op;
    if (s->fail_submit) {
        s->fail_submit = false;
        return sf_error_set(err, "cannot-spawn", "", "scripted submit failure");
    }
    *ticket = ++s->next;
    s->q[s->n++] = *ticket;
    return SF_OK;
}

static int s_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                  sf_error *err)
{
    script *s = d->impl;
    size_t k;

    sf_result_init(result, SF_OP_STATUS);
    if (s->fail_wait) {
        s->fail_wait = false;
        return sf_error_set(err, "driver-broke", "", "scripted wait failure");
    }
    if (s->bad_ticket) {
        s->bad_ticket = false;
        *ticket = 999;
        return SF_OK;
    }
    if (s->n == 0)
        return sf_error_set(err, SF_EK_USAGE, "", "nothing in flight");
    k = s->lifo ? s->n - 1 : 0;
    *ticket = s->q[k];
    memmove(&s->q[k], &s->q[k + 1], (s->n - k - 1) * sizeof *s->q);
    s->n--;
    result->status = SF_STATUS_STOPPED;
    return SF_OK;
}

static int s_render(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err)
{
    (void)d;
    (void)op;
    (void)out;
    (void)err;
    return SF_OK;
}

static size_t s_in_flight(sf_driver *d)
{
    return ((script *)d->impl)->n;
}

static void s_destroy(sf_driver *d)
{
    (void)d;
}

static const sf_driver_ops script_ops = {
    "script", s_submit, s_wait, s_render, s_in_flight, s_destroy,
    NULL, /* wait_for: the pool never needs one */
};

static void script_init(script *s, bool lifo)
{
    memset(s, 0, sizeof *s);
    s->lifo = lifo;
    s->self.ops = &script_ops;
    s->self.impl = s;
}

/* ---- tasks ---- */

typedef struct ctx {
    sf_pool *pool;
    script *drv;
    sf_buf *events;
    const char *name;
    int calls;
    int failed_calls;
} ctx;

/* Makes `calls` driver calls, noting each step in the shared event log
 * (only one task runs at a time, so the log needs no lock). */
static int task(void *arg, sf_error *err)
{
    ctx *c = arg;
    int i, rc = SF_OK;

    for (i = 0; i < c->calls; i++) {
        sf_op op;
        sf_result res;

        memset(&op, 0, sizeof op);
        op.kind = SF_OP_STATUS;
        sf_buf_printf(c->events, "%s:call%d ", c->name, i);
        if (sf_pool_call(c->pool, &c->drv->self, &op, &res, err) != SF_OK) {
            sf_buf_printf(c->events, "%s:err(%s) ", c->name, err->kind);
            c->failed_calls++;
            rc = SF_ERR;
        } else {
            assert_int_equal(res.status, SF_STATUS_STOPPED);
            sf_buf_printf(c->events, "%s:back%d ", c->name, i);
        }
        sf_result_free(&res);
    }
    sf_buf_printf(c->events, "%s:end ", c->name);
    return rc;
}

static ctx make(sf_pool *p, script *d, sf_buf *ev, const char *name, int calls)
{
    ctx c;

    memset(&c, 0, sizeof c);
    c.pool = p;
    c.drv = d;
    c.events = ev;
    c.name = name;
    c.calls = calls;
    return c;
}

/* Collects every task, returning the order in which they ended. */
static void drain(sf_pool *p, sf_buf *ended, int *errors)
{
    *errors = 0;
    while (sf_pool_running(p) > 0) {
        void *arg;
        int rc;
        sf_error terr, err;

        assert_int_equal(sf_pool_next(p, &arg, &rc, &terr, &err), SF_OK);
        sf_buf_printf(ended, "%s(%s) ", ((ctx *)arg)->name,
                      rc == SF_OK ? "ok" : terr.kind);
        *errors += rc != SF_OK;
    }
}

static void interleaves_by_completion(void **state)
{
    script d;
    sf_pool *p;
    sf_buf ev, ended;
    sf_error err;
    ctx a, b, c;
    int errors;

    (void)state;
    /* newest first: B's call completes before A's */
    script_init(&d, true);
    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 3, &err), SF_OK);
    a = make(p, &d, &ev, "A", 2);
    b = make(p, &d, &ev, "B", 1);
    c = make(p, &d, &ev, "C", 0);
    assert_true(sf_pool_has_room(p));
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    assert_int_equal(sf_pool_spawn(p, task, &b, &err), SF_OK);
    assert_int_equal(sf_pool_spawn(p, task, &c, &err), SF_OK);
    assert_false(sf_pool_has_room(p));
    assert_int_equal(sf_pool_running(p), 3);
    /* a full pool refuses another task */
    assert_int_equal(sf_pool_spawn(p, task, &c, &err), SF_ERR);
    assert_string_equal(err.kind, "pool-full");
    drain(p, &ended, &errors);
    assert_int_equal(errors, 0);
    assert_string_equal(sf_buf_cstr(&ev),
                        "A:call0 B:call0 C:end B:back0 B:end A:back0 "
                        "A:call1 A:back1 A:end ");
    assert_string_equal(sf_buf_cstr(&ended), "C(ok) B(ok) A(ok) ");
    /* nothing running */
    {
        void *arg;
        int rc;
        sf_error terr;

        assert_int_equal(sf_pool_next(p, &arg, &rc, &terr, &err), SF_ERR);
        assert_string_equal(err.kind, "pool-idle");
    }
    /* the scheduler's own call runs synchronously */
    {
        sf_op op;
        sf_result res;

        memset(&op, 0, sizeof op);
        op.kind = SF_OP_STATUS;
        assert_int_equal(sf_pool_call(p, &d.self, &op, &res, &err), SF_OK);
        sf_result_free(&res);
        assert_int_equal(sf_pool_call(NULL, &d.self, &op, &res, &err), SF_OK);
        sf_result_free(&res);
    }
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);

    /* oldest first: A's first call completes before B's */
    script_init(&d, false);
    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    a = make(p, &d, &ev, "A", 2);
    b = make(p, &d, &ev, "B", 1);
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    assert_int_equal(sf_pool_spawn(p, task, &b, &err), SF_OK);
    drain(p, &ended, &errors);
    assert_string_equal(sf_buf_cstr(&ev),
                        "A:call0 B:call0 A:back0 A:call1 B:back0 B:end "
                        "A:back1 A:end ");
    assert_string_equal(sf_buf_cstr(&ended), "B(ok) A(ok) ");
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);
}

static void refusals(void **state)
{
    script d;
    sf_pool *p = (sf_pool *)&d;
    sf_error err;

    (void)state;
    script_init(&d, false);
    assert_int_equal(sf_pool_open(&p, &d.self, 1, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_USAGE);
    assert_null(p);
    assert_int_equal(sf_pool_open(&p, &d.self, SF_JOBS_MAX + 1, &err), SF_ERR);
    assert_string_equal(err.field, "jobs");
    sf_pool_close(NULL);
    /* the most workers */
    assert_int_equal(sf_pool_open(&p, &d.self, SF_JOBS_MAX, &err), SF_OK);
    sf_pool_close(p);
}

/* ---- the tasks' stacks ---- */

typedef struct stack_note {
    sf_pool *pool;
    bool in_task;
    void *lowest;
    size_t size;
    uintptr_t frame;
} stack_note;

/* A task that notes the stack it runs on, and where its frame is. */
static int note_stack(void *arg, sf_error *err)
{
    stack_note *n = arg;

    (void)err;
    n->in_task = sf_pool_task_stack(n->pool, &n->lowest, &n->size);
    n->frame = (uintptr_t)__builtin_frame_address(0);
    return SF_OK;
}

static stack_note stack_of_a_task(sf_pool *p)
{
    stack_note n;
    void *arg;
    int rc;
    sf_error err, task_err;

    memset(&n, 0, sizeof n);
    n.pool = p;
    assert_int_equal(sf_pool_spawn(p, note_stack, &n, &err), SF_OK);
    assert_int_equal(sf_pool_next(p, &arg, &rc, &task_err, &err), SF_OK);
    assert_ptr_equal(arg, &n);
    assert_int_equal(rc, SF_OK);
    assert_true(n.in_task);
    /* the task runs on that stack */
    assert_true(n.frame >= (uintptr_t)n.lowest &&
                n.frame < (uintptr_t)n.lowest + n.size);
    return n;
}

/* The permissions /proc/self/maps gives the page holding addr ("" when
 * none maps it). */
static void perms_at(uintptr_t addr, char perms[5])
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];

    assert_non_null(f);
    perms[0] = '\0';
    while (fgets(line, sizeof line, f) != NULL) {
        unsigned long lo, hi;
        char pr[5];

        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, pr) == 3 && addr >= lo &&
            addr < hi) {
            memcpy(perms, pr, 5);
            break;
        }
    }
    fclose(f);
}

static size_t maps_lines(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    size_t n = 0;
    int c;

    assert_non_null(f);
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* Tasks run on 512 KiB stacks, not a thread's default 8 MiB (pool.c says
 * why), or on the size asked for (whole pages): a task's frame lies in
 * it, it is writable, and the page below it is a guard nothing may touch.
 * Each worker's stack is mapped once, at open, and serves every task it
 * runs. Outside a task there is no task stack. */
static void tasks_have_their_own_stack_with_a_guard(void **state)
{
    script d;
    sf_pool *p;
    sf_error err;
    stack_note n, again;
    void *lowest = &d;
    size_t size = 7, page = (size_t)sysconf(_SC_PAGESIZE);
    char perms[5];

    (void)state;
    script_init(&d, false);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    assert_false(sf_pool_task_stack(p, &lowest, &size));
    n = stack_of_a_task(p);
    assert_int_equal(n.size, 512 * 1024);
    perms_at((uintptr_t)n.lowest, perms);
    assert_string_equal(perms, "rw-p");
    perms_at((uintptr_t)n.lowest + n.size - 1, perms);
    assert_string_equal(perms, "rw-p");
    perms_at((uintptr_t)n.lowest - 1, perms);
    assert_string_equal(perms, "---p");
    again = stack_of_a_task(p);
    assert_ptr_equal(again.lowest, n.lowest);
    sf_pool_close(p);

    assert_int_equal(sf_pool_open_stack(&p, &d.self, 2, 256 * 1024, &err),
                     SF_OK);
    assert_int_equal(stack_of_a_task(p).size, 256 * 1024);
    sf_pool_close(p);
    /* not a whole number of pages: rounded up */
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 2, SF_POOL_STACK_MIN + 1,
                                        &err), SF_OK);
    assert_int_equal(stack_of_a_task(p).size, SF_POOL_STACK_MIN + page);
    sf_pool_close(p);
}

/* Recurses through about `left` bytes of stack, 8 KiB a frame. */
static size_t __attribute__((noinline)) dig(size_t left)
{
    volatile unsigned char frame[8192];
    size_t i, sum = 0;

    for (i = 0; i < sizeof frame; i += 512)
        frame[i] = (unsigned char)(left >> 13);
    if (left > sizeof frame)
        sum = dig(left - sizeof frame);
    for (i = 0; i < sizeof frame; i += 512)
        sum += frame[i];
    return sum;
}

static int digs(void *arg, sf_error *err)
{
    (void)err;
    dig(*(size_t *)arg);
    return SF_OK;
}

/* A task may use most of its stack; one that overflows it faults on the
 * guard page (in a child: the pool's process dies by a signal, here
 * SIGSEGV, or SIGABRT from ASan's report) instead of writing over
 * whatever lies below. */
static void a_task_uses_its_stack_and_overflow_faults(void **state)
{
    script d;
    sf_pool *p;
    sf_error err, task_err;
    size_t depth = 384 * 1024;
    void *arg;
    int rc, status;
    pid_t pid;

    (void)state;
    script_init(&d, false);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    assert_int_equal(sf_pool_spawn(p, digs, &depth, &err), SF_OK);
    assert_int_equal(sf_pool_next(p, &arg, &rc, &task_err, &err), SF_OK);
    assert_int_equal(rc, SF_OK);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);

        if (null >= 0)
            dup2(null, 2); /* ASan's report is expected */
        depth = 1024 * 1024;
        sf_pool_spawn(p, digs, &depth, &err);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(WTERMSIG(status) == SIGSEGV || WTERMSIG(status) == SIGABRT);
    sf_pool_close(p);
}

/* Stack sizes refused: below the least a task needs, and more than can
 * be mapped (the system's refusal, or a size whose pages overflow); no
 * pool, "pool-threads", and why. The least itself is accepted. */
static void stack_size_refused(void **state)
{
    script d;
    sf_pool *p = (sf_pool *)&d;
    sf_error err;

    (void)state;
    script_init(&d, false);
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 4, 1, &err), SF_ERR);
    assert_null(p);
    assert_string_equal(err.kind, "pool-threads");
    assert_non_null(strstr(err.message, "a stack of 1 bytes"));
    p = (sf_pool *)&d;
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 4, SF_POOL_STACK_MIN - 1,
                                        &err), SF_ERR);
    assert_null(p);
    assert_string_equal(err.kind, "pool-threads");
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 4, SF_POOL_STACK_MIN,
                                        &err), SF_OK);
    sf_pool_close(p);
    /* 2^60 bytes a stack: no system maps that much */
    p = (sf_pool *)&d;
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 4, (size_t)1 << 60,
                                        &err), SF_ERR);
    assert_null(p);
    assert_string_equal(err.kind, "pool-threads");
    assert_non_null(strstr(err.message, "cannot map"));
    p = (sf_pool *)&d;
    assert_int_equal(sf_pool_open_stack(&p, &d.self, 4, SIZE_MAX, &err),
                     SF_ERR);
    assert_null(p);
    assert_string_equal(err.kind, "pool-threads");
    assert_non_null(strstr(err.message, "cannot map"));
}

/* Opens a pool of 2 + i % 8 workers, runs a task on every second one,
 * closes it. */
static void open_run_close(script *d, int i)
{
    sf_pool *p;
    sf_error err;

    assert_int_equal(sf_pool_open(&p, &d->self, 2 + (unsigned)i % 8, &err),
                     SF_OK);
    if (i % 2 == 0)
        stack_of_a_task(p);
    sf_pool_close(p);
}

/* Pools opened and closed many times, with or without a task run, leave
 * no mapping behind: a leaked pool would leave at least two lines in
 * /proc/self/maps (its stack and its guard differ in permissions, so
 * they never merge), 2,000 for 1,000 pools. A round of each kind first,
 * so that the allocator (ASan's too) has mapped what it needs for them. */
static void pools_leave_no_mapping(void **state)
{
    script d;
    size_t before;
    int i;

    (void)state;
    script_init(&d, false);
    for (i = 0; i < 16; i++)
        open_run_close(&d, i);
    before = maps_lines();
    for (i = 0; i < 1000; i++)
        open_run_close(&d, i);
    assert_int_equal(maps_lines(), before);
}

/* A pool closed with no task ever spawned, and one closed after its
 * tasks all ended without a driver call (each ends inside its spawn). */
static void close_with_no_task(void **state)
{
    script d;
    sf_pool *p;
    sf_buf ev, ended;
    sf_error err;
    ctx a, b;
    int errors, round;

    (void)state;
    script_init(&d, false);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    assert_int_equal(sf_pool_running(p), 0);
    sf_pool_close(p);

    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    /* the same workers again and again, each task ending before any call,
     * then one with calls on the stacks those left */
    for (round = 0; round < 3; round++) {
        a = make(p, &d, &ev, "A", 0);
        b = make(p, &d, &ev, "B", 0);
        assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
        assert_int_equal(sf_pool_spawn(p, task, &b, &err), SF_OK);
        assert_int_equal(sf_pool_running(p), 2);
        assert_int_equal(d.next, 0);
        drain(p, &ended, &errors);
        assert_int_equal(errors, 0);
    }
    a = make(p, &d, &ev, "C", 2);
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    drain(p, &ended, &errors);
    assert_string_equal(sf_buf_cstr(&ev),
                        "A:end B:end A:end B:end A:end B:end "
                        "C:call0 C:back0 C:call1 C:back1 C:end ");
    assert_string_equal(sf_buf_cstr(&ended),
                        "A(ok) B(ok) A(ok) B(ok) A(ok) B(ok) C(ok) ");
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);
}

/* A task that fails before any call ends inside the spawn: the pool says
 * so before it is collected, so a scheduler starts nothing more. */
static int fails_at_once(void *arg, sf_error *err)
{
    (void)arg;
    return sf_error_set(err, "refused", "", "fails before any call");
}

static void failure_before_any_call_is_seen(void **state)
{
    script d;
    sf_pool *p;
    sf_buf ev, ended;
    sf_error err;
    ctx a;
    int errors;

    (void)state;
    script_init(&d, false);
    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 3, &err), SF_OK);
    a = make(p, &d, &ev, "A", 1);
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    assert_false(sf_pool_failed(p));
    assert_int_equal(sf_pool_spawn(p, fails_at_once, &a, &err), SF_OK);
    assert_true(sf_pool_failed(p));
    drain(p, &ended, &errors);
    assert_int_equal(errors, 1);
    assert_false(sf_pool_failed(p));
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);
}

static void submit_failure_is_the_tasks(void **state)
{
    script d;
    sf_pool *p;
    sf_buf ev, ended;
    sf_error err;
    ctx a, b;
    int errors;

    (void)state;
    script_init(&d, false);
    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    a = make(p, &d, &ev, "A", 1);
    b = make(p, &d, &ev, "B", 1);
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    d.fail_submit = true;
    assert_int_equal(sf_pool_spawn(p, task, &b, &err), SF_OK);
    drain(p, &ended, &errors);
    assert_int_equal(errors, 1);
    assert_string_equal(sf_buf_cstr(&ended), "B(cannot-spawn) A(ok) ");
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);
}

static void broken(bool bad_ticket)
{
    script d;
    sf_pool *p;
    sf_buf ev, ended;
    sf_error err;
    ctx a, b;
    int errors;

    script_init(&d, false);
    sf_buf_init(&ev);
    sf_buf_init(&ended);
    assert_int_equal(sf_pool_open(&p, &d.self, 2, &err), SF_OK);
    a = make(p, &d, &ev, "A", 2);
    b = make(p, &d, &ev, "B", 2);
    assert_int_equal(sf_pool_spawn(p, task, &a, &err), SF_OK);
    assert_int_equal(sf_pool_spawn(p, task, &b, &err), SF_OK);
    if (bad_ticket)
        d.bad_ticket = true;
    else
        d.fail_wait = true;
    drain(p, &ended, &errors);
    /* both waiting calls fail, and so does each task's second call,
     * without reaching the driver */
    assert_int_equal(errors, 2);
    assert_int_equal(a.failed_calls, 2);
    assert_int_equal(b.failed_calls, 2);
    assert_int_equal(d.next, 2);
    if (bad_ticket)
        assert_string_equal(sf_buf_cstr(&ended), "A(internal) B(internal) ");
    else
        assert_string_equal(sf_buf_cstr(&ended),
                            "A(driver-broke) B(driver-broke) ");
    sf_pool_close(p);
    sf_buf_free(&ev);
    sf_buf_free(&ended);
}

static void wait_failure_breaks_the_pool(void **state)
{
    (void)state;
    broken(false);
}

static void unknown_ticket_breaks_the_pool(void **state)
{
    (void)state;
    broken(true);
}

/* ---- sf_pool_drive: the runners' loop ---- */

typedef struct drive_ctx {
    sf_pool *pool;
    ctx t[6];
    size_t n, next;
    size_t fill_fails_at; /* fill fails when it would spawn this one */
    sf_buf ended;
} drive_ctx;

static int drive_fill(void *arg, sf_error *err)
{
    drive_ctx *c = arg;

    while (c->next < c->n && sf_pool_has_room(c->pool)) {
        if (c->next == c->fill_fails_at)
            return sf_error_set(err, "fill-failed", "", "scripted fill failure");
        assert_int_equal(sf_pool_spawn(c->pool, c->t[c->next].calls ? task : fails_at_once,
                                       &c->t[c->next], err), SF_OK);
        c->next++;
    }
    return SF_OK;
}

static void drive_ended(void *arg, void *task_arg)
{
    drive_ctx *c = arg;

    sf_buf_printf(&c->ended, "%s ", ((ctx *)task_arg)->name);
}

/* Six tasks over two workers: every one is started and handed to ended,
 * in the order they end; a failed task (the fourth) stops the spawning,
 * the tasks in flight are collected and its error is the one returned; a
 * fill that fails does the same. */
static void drive_runs_and_stops_at_the_first_failure(void **state)
{
    static const char *const names[6] = {"A", "B", "C", "D", "E", "F"};
    script d;
    drive_ctx c;
    sf_buf ev;
    sf_error err;
    int round;

    (void)state;
    for (round = 0; round < 3; round++) {
        size_t i;

        script_init(&d, false);
        sf_buf_init(&ev);
        memset(&c, 0, sizeof c);
        sf_buf_init(&c.ended);
        assert_int_equal(sf_pool_open(&c.pool, &d.self, 2, &err), SF_OK);
        c.n = 6;
        c.fill_fails_at = round == 2 ? 3 : SIZE_MAX;
        for (i = 0; i < 6; i++)
            c.t[i] = make(c.pool, &d, &ev, names[i], round == 1 && i == 3 ? 0 : 2);
        sf_error_clear(&err);
        if (round == 0) {
            assert_int_equal(sf_pool_drive(c.pool, drive_fill, drive_ended, &c, &err),
                             SF_OK);
            assert_int_equal(c.next, 6);
            assert_string_equal(sf_buf_cstr(&c.ended), "A B C D E F ");
        } else {
            assert_int_equal(sf_pool_drive(c.pool, drive_fill, drive_ended, &c, &err),
                             SF_ERR);
            assert_string_equal(err.kind, round == 1 ? "refused" : "fill-failed");
            /* nothing after the failure was started; all started ended */
            assert_int_equal(c.next, round == 1 ? 4 : 3);
            assert_string_equal(sf_buf_cstr(&c.ended),
                                round == 1 ? "A B D C " : "A B C ");
        }
        assert_int_equal(sf_pool_running(c.pool), 0);
        sf_pool_close(c.pool);
        sf_buf_free(&c.ended);
        sf_buf_free(&ev);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(interleaves_by_completion),
        cmocka_unit_test(refusals),
        cmocka_unit_test(tasks_have_their_own_stack_with_a_guard),
        cmocka_unit_test(a_task_uses_its_stack_and_overflow_faults),
        cmocka_unit_test(stack_size_refused),
        cmocka_unit_test(pools_leave_no_mapping),
        cmocka_unit_test(close_with_no_task),
        cmocka_unit_test(submit_failure_is_the_tasks),
        cmocka_unit_test(failure_before_any_call_is_seen),
        cmocka_unit_test(wait_failure_breaks_the_pool),
        cmocka_unit_test(unknown_ticket_breaks_the_pool),
        cmocka_unit_test(drive_runs_and_stops_at_the_first_failure),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
