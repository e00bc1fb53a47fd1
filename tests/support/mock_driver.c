/* The scripted test driver (mock_driver.h). Test support: allocation
 * failures abort, so tests never see a half-built mock. */
#include "mock_driver.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIRST_TICKET 1001

typedef struct submission {
    sf_op op;
    uint64_t ticket;
    sf_fail_class fail;
    bool done;
} submission;

typedef struct mock {
    sf_driver self;
    submission *subs;
    size_t nsubs, capsubs;
    /* per kind: scripted classes, FIFO */
    sf_fail_class *script[SF_OP_KIND_COUNT];
    size_t nscript[SF_OP_KIND_COUNT], headscript[SF_OP_KIND_COUNT];
    size_t *order;
    size_t norder, headorder;
    bool refuse_next;
    sf_mock_hook hook;
    void *hook_ctx;
    size_t completed;
    uint64_t next_snapshot;
    const sf_clock *clock;
    size_t waits_for;
    uint64_t last_timeout;
} mock;

static void *grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);

    if (q == NULL)
        abort();
    return q;
}

static mock *of(sf_driver *d)
{
    return d->impl;
}

static char *xstrdup(const char *s)
{
    char *c = strdup(s);

    if (c == NULL)
        abort();
    return c;
}

static int mock_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                       sf_error *err)
{
    mock *m = of(d);
    submission *s;
    sf_op_kind k = op->kind;

    if (m->refuse_next) {
        m->refuse_next = false;
        return sf_error_set(err, "mock-refused", "", "mock refused %s",
                            sf_op_kind_name(k));
    }
    if (m->nsubs == m->capsubs) {
        m->capsubs = m->capsubs ? m->capsubs * 2 : 8;
        m->subs = grow(m->subs, m->capsubs, sizeof *m->subs);
    }
    s = &m->subs[m->nsubs];
    s->op = *op;
    s->ticket = FIRST_TICKET + m->nsubs;
    s->done = false;
    s->fail = SF_FAIL_NONE;
    if (m->headscript[k] < m->nscript[k])
        s->fail = m->script[k][m->headscript[k]++];
    m->nsubs++;
    *ticket = s->ticket;
    return SF_OK;
}

static void succeed(mock *m, const sf_op *op, sf_result *r)
{
    switch (op->kind) {
    case SF_OP_REGISTRY:
        r->registry.entries = calloc(1, sizeof *r->registry.entries);
        if (r->registry.entries == NULL)
            abort();
        r->registry.entries[0].pid = xstrdup(op->canister_id);
        r->registry.entries[0].role = xstrdup("root");
        r->registry.count = 1;
        break;
    case SF_OP_STATUS:
        r->status = SF_STATUS_RUNNING;
        r->module_hash = xstrdup("abababababababababababababababab"
                             "abababababababababababababababab");
        break;
    case SF_OP_CREATE:
    case SF_OP_UPLOAD:
        snprintf(r->snapshot.id, sizeof r->snapshot.id, "%016llx",
                 (unsigned long long)++m->next_snapshot);
        break;
    default:
        break;
    }
}

static int mock_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                     sf_error *err)
{
    mock *m = of(d);
    submission *s = NULL;

    if (m->headorder < m->norder) {
        size_t i = m->order[m->headorder++];

        if (i == SF_MOCK_TIMEOUT)
            return sf_error_set(err, "internal", "", "mock: wait() reached "
                                "a scripted time out");
        if (i >= m->nsubs || m->subs[i].done)
            return sf_error_set(err, "internal", "", "mock: scripted op %zu "
                                "is not in flight", i);
        s = &m->subs[i];
    } else {
        for (size_t i = 0; i < m->nsubs && s == NULL; i++)
            if (!m->subs[i].done)
                s = &m->subs[i];
        if (s == NULL)
            return sf_error_set(err, "internal", "", "mock: nothing in "
                                "flight");
    }
    s->done = true;
    m->completed++;
    sf_result_init(result, s->op.kind);
    if (s->fail != SF_FAIL_NONE)
        sf_result_fail(result, s->fail, "mock", "mock %s failure of %s %s",
                       sf_fail_class_name(s->fail), sf_op_kind_name(s->op.kind),
                       s->op.canister_id);
    else
        succeed(m, &s->op, result);
    if (m->hook != NULL)
        m->hook(&s->op, result, m->hook_ctx);
    *ticket = s->ticket;
    return SF_OK;
}

static int mock_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                         sf_result *result, bool *timed_out, sf_error *err)
{
    mock *m = of(d);

    m->waits_for++;
    m->last_timeout = timeout_ms;
    *timed_out = false;
    if (m->headorder < m->norder && m->order[m->headorder] == SF_MOCK_TIMEOUT) {
        m->headorder++;
        if (m->clock != NULL)
            sf_clock_sleep_ms(m->clock, timeout_ms);
        *timed_out = true;
        return SF_OK;
    }
    return mock_wait(d, ticket, result, err);
}

static int mock_render(sf_driver *d, const sf_op *op, sf_buf *out,
                       sf_error *err)
{
    (void)d;
    (void)err;
    return sf_buf_printf(out, "mock %s %s", sf_op_kind_name(op->kind),
                         op->canister_id);
}

static size_t mock_in_flight(sf_driver *d)
{
    mock *m = of(d);
    size_t n = 0;

    for (size_t i = 0; i < m->nsubs; i++)
        n += !m->subs[i].done;
    return n;
}

static void mock_destroy(sf_driver *d)
{
    mock *m = of(d);

    for (int k = 0; k < SF_OP_KIND_COUNT; k++)
        free(m->script[k]);
    free(m->subs);
    free(m->order);
    free(m);
}

static const sf_driver_ops mock_ops = {
    "mock", mock_submit, mock_wait, mock_render, mock_in_flight, mock_destroy,
    mock_wait_for,
};

sf_driver *sf_mock_new(void)
{
    mock *m = calloc(1, sizeof *m);

    if (m == NULL)
        return NULL;
    m->self.ops = &mock_ops;
    m->self.impl = m;
    return &m->self;
}

void sf_mock_script(sf_driver *d, sf_op_kind kind, sf_fail_class fail)
{
    mock *m = of(d);

    m->script[kind] = grow(m->script[kind], m->nscript[kind] + 1,
                           sizeof *m->script[kind]);
    m->script[kind][m->nscript[kind]++] = fail;
}

void sf_mock_order(sf_driver *d, size_t index)
{
    mock *m = of(d);

    m->order = grow(m->order, m->norder + 1, sizeof *m->order);
    m->order[m->norder++] = index;
}

void sf_mock_refuse_next_submit(sf_driver *d)
{
    of(d)->refuse_next = true;
}

void sf_mock_set_hook(sf_driver *d, sf_mock_hook hook, void *ctx)
{
    of(d)->hook = hook;
    of(d)->hook_ctx = ctx;
}

size_t sf_mock_submitted(sf_driver *d)
{
    return of(d)->nsubs;
}

const sf_op *sf_mock_op(sf_driver *d, size_t i)
{
    mock *m = of(d);

    return i < m->nsubs ? &m->subs[i].op : NULL;
}

size_t sf_mock_count(sf_driver *d, sf_op_kind kind)
{
    mock *m = of(d);
    size_t n = 0;

    for (size_t i = 0; i < m->nsubs; i++)
        n += m->subs[i].op.kind == kind;
    return n;
}

size_t sf_mock_completed(sf_driver *d)
{
    return of(d)->completed;
}

void sf_mock_set_clock(sf_driver *d, const sf_clock *clock)
{
    of(d)->clock = clock;
}

size_t sf_mock_waits_for(sf_driver *d)
{
    return of(d)->waits_for;
}

uint64_t sf_mock_last_timeout(sf_driver *d)
{
    return of(d)->last_timeout;
}
