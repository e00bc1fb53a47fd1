/* The tracing driver wrapper (wrap.h): one stable line per event, so the
 * log of a simulated run is its fingerprint. */
#include "snapfleet/wrap.h"

#include <stdlib.h>
#include <string.h>

typedef struct traced {
    uint64_t ticket;
    sf_op_kind kind;
    char canister_id[SF_PRINCIPAL_TEXT_MAX];
} traced;

typedef struct trace_driver {
    sf_driver self;
    sf_driver *inner;
    const sf_clock *clock;
    sf_buf *log;
    traced *live;
    size_t nlive, caplive;
} trace_driver;

static unsigned long long now(const trace_driver *t)
{
    return (unsigned long long)sf_clock_now_ms(t->clock);
}

static const char *kind_or_unknown(const sf_error *e)
{
    return e->kind != NULL ? e->kind : "unknown";
}

static int trace_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                        sf_error *err)
{
    trace_driver *t = d->impl;
    sf_error local;
    sf_error *e = err != NULL ? err : &local;

    if (t->nlive == t->caplive) {
        size_t cap = t->caplive ? t->caplive * 2 : 8;
        traced *grown = realloc(t->live, cap * sizeof *grown);

        if (grown == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory in the "
                                "trace driver");
        t->live = grown;
        t->caplive = cap;
    }
    sf_error_clear(e);
    if (sf_driver_submit(t->inner, op, ticket, e) != SF_OK) {
        sf_buf_printf(t->log, "t=%llu submit-failed %s %s %s\n", now(t),
                      sf_op_kind_name(op->kind), op->canister_id,
                      kind_or_unknown(e));
        return SF_ERR;
    }
    t->live[t->nlive].ticket = *ticket;
    t->live[t->nlive].kind = op->kind;
    memcpy(t->live[t->nlive].canister_id, op->canister_id,
           sizeof op->canister_id);
    t->nlive++;
    sf_buf_printf(t->log, "t=%llu submit #%llu %s %s%s%s%s\n", now(t),
                  (unsigned long long)*ticket, sf_op_kind_name(op->kind),
                  op->canister_id, op->snapshot_id[0] ? " " : "",
                  op->snapshot_id, op->resume ? " resume" : "");
    return SF_OK;
}

static void detail(sf_buf *log, const sf_result *r)
{
    if (r->fail != SF_FAIL_NONE) {
        sf_buf_printf(log, " %s", kind_or_unknown(&r->err));
        return;
    }
    switch (r->kind) {
    case SF_OP_CREATE:
    case SF_OP_UPLOAD:
        sf_buf_printf(log, " %s", r->snapshot.id);
        break;
    case SF_OP_LIST:
        sf_buf_printf(log, " snapshots=%zu", r->snapshot_count);
        break;
    case SF_OP_REGISTRY:
        sf_buf_printf(log, " entries=%zu", r->registry.count);
        break;
    case SF_OP_STATUS:
        sf_buf_printf(log, " %s", sf_canister_status_name(r->status));
        break;
    default:
        break;
    }
}

/* wait() (limited false) and wait_for(timeout_ms). */
static int trace_wait_within(sf_driver *d, bool limited, uint64_t timeout_ms,
                             uint64_t *ticket, sf_result *result,
                             bool *timed_out, sf_error *err)
{
    trace_driver *t = d->impl;
    sf_error local;
    sf_error *e = err != NULL ? err : &local;
    size_t i;
    int rc;

    sf_error_clear(e);
    *timed_out = false;
    rc = limited ? sf_driver_wait_for(t->inner, timeout_ms, ticket, result,
                                      timed_out, e)
                 : sf_driver_wait(t->inner, ticket, result, e);
    if (rc != SF_OK) {
        sf_buf_printf(t->log, "t=%llu wait-failed %s\n", now(t),
                      kind_or_unknown(e));
        return SF_ERR;
    }
    if (*timed_out) /* no operation changed: nothing to log */
        return SF_OK;
    for (i = 0; i < t->nlive && t->live[i].ticket != *ticket; i++)
        ;
    if (i == t->nlive) {
        sf_buf_printf(t->log, "t=%llu done #%llu unknown-ticket\n", now(t),
                      (unsigned long long)*ticket);
        return SF_OK;
    }
    sf_buf_printf(t->log, "t=%llu done #%llu %s %s %s", now(t),
                  (unsigned long long)*ticket,
                  sf_op_kind_name(t->live[i].kind), t->live[i].canister_id,
                  sf_fail_class_name(result->fail));
    detail(t->log, result);
    sf_buf_putc(t->log, '\n');
    t->live[i] = t->live[--t->nlive];
    return SF_OK;
}

static int trace_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                      sf_error *err)
{
    bool timed_out;

    return trace_wait_within(d, false, 0, ticket, result, &timed_out, err);
}

static int trace_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                          sf_result *result, bool *timed_out, sf_error *err)
{
    return trace_wait_within(d, true, timeout_ms, ticket, result, timed_out,
                             err);
}

static int trace_render(sf_driver *d, const sf_op *op, sf_buf *out,
                        sf_error *err)
{
    trace_driver *t = d->impl;

    return sf_driver_render(t->inner, op, out, err);
}

static size_t trace_in_flight(sf_driver *d)
{
    trace_driver *t = d->impl;

    return sf_driver_in_flight(t->inner);
}

static void trace_destroy(sf_driver *d)
{
    trace_driver *t = d->impl;

    free(t->live);
    free(t);
}

static const sf_driver_ops trace_ops = {
    "trace", trace_submit, trace_wait, trace_render, trace_in_flight,
    trace_destroy, trace_wait_for,
};

int sf_trace_driver_new(sf_driver *inner, const sf_clock *clock, sf_buf *log,
                        sf_driver **out, sf_error *err)
{
    trace_driver *t;

    *out = NULL;
    if (inner == NULL || clock == NULL || log == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "trace driver needs an "
                            "inner driver, a clock and a log");
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory in the "
                            "trace driver");
    t->self.ops = &trace_ops;
    t->self.impl = t;
    t->inner = inner;
    t->clock = clock;
    t->log = log;
    *out = &t->self;
    return SF_OK;
}

int sf_trace_digest(const sf_buf *log, char out[SF_SHA256_HEX_SIZE])
{
    /* A log that lost lines to a failed allocation fingerprints nothing. */
    if (log->oom)
        return SF_ERR;
    return sf_sha256_bytes(log->data ? log->data : "", log->len, out);
}
