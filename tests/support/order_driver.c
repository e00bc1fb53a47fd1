/* The scripted-order driver of the jobs tests (order_driver.h). */
#include "order_driver.h"

#include <stdlib.h>

typedef struct held {
    uint64_t ticket;
    sf_result res;
} held;

typedef struct order_driver {
    sf_driver self;
    sf_driver *inner;
    uint64_t rng;
    held *h;
    size_t n, cap;
} order_driver;

static uint64_t next_rand(order_driver *o)
{
    o->rng = o->rng * 6364136223846793005ull + 1442695040888963407ull;
    return o->rng >> 33;
}

static int order_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                        sf_error *err)
{
    order_driver *o = d->impl;

    return sf_driver_submit(o->inner, op, ticket, err);
}

static int order_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                      sf_error *err)
{
    order_driver *o = d->impl;
    size_t k;

    while (sf_driver_in_flight(o->inner) > 0) {
        if (o->n == o->cap) {
            size_t cap = o->cap ? o->cap * 2 : 8;
            held *grown = realloc(o->h, cap * sizeof *grown);

            if (grown == NULL)
                return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            o->h = grown;
            o->cap = cap;
        }
        if (sf_driver_wait(o->inner, &o->h[o->n].ticket, &o->h[o->n].res,
                           err) != SF_OK)
            return SF_ERR;
        o->n++;
    }
    if (o->n == 0)
        return sf_error_set(err, SF_EK_USAGE, "", "nothing in flight");
    k = (size_t)(next_rand(o) % o->n);
    *ticket = o->h[k].ticket;
    *result = o->h[k].res;
    o->h[k] = o->h[--o->n];
    return SF_OK;
}

static int order_render(sf_driver *d, const sf_op *op, sf_buf *out,
                        sf_error *err)
{
    order_driver *o = d->impl;

    return sf_driver_render(o->inner, op, out, err);
}

static size_t order_in_flight(sf_driver *d)
{
    order_driver *o = d->impl;

    return sf_driver_in_flight(o->inner) + o->n;
}

static void order_destroy(sf_driver *d)
{
    order_driver *o = d->impl;

    while (o->n > 0)
        sf_result_free(&o->h[--o->n].res);
    free(o->h);
    free(o);
}

/* no wait_for: a wait with a limit blocks as wait() does, which the
 * tests' runs never mind */
static const sf_driver_ops order_ops = {
    "order", order_submit, order_wait, order_render, order_in_flight,
    order_destroy, NULL,
};

sf_driver *sf_order_driver_new(sf_driver *inner, uint64_t seed)
{
    order_driver *o = calloc(1, sizeof *o);

    if (o == NULL)
        return NULL;
    o->inner = inner;
    o->rng = seed * 2654435761u + 1;
    o->self.ops = &order_ops;
    o->self.impl = o;
    return &o->self;
}
