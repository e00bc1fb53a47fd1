/* The retrying driver wrapper (wrap.h): TRANSIENT completions are
 * resubmitted with exponential backoff; nothing else is ever retried,
 * because PERMANENT will fail again and UNKNOWN may already have happened. */
#include "snapfleet/wrap.h"

#include <stdlib.h>
#include <string.h>

typedef struct attempt {
    uint64_t outer;
    uint64_t inner;
    unsigned attempts; /* made so far, >= 1 */
    sf_op op;
} attempt;

typedef struct retry_driver {
    sf_driver self;
    sf_driver *inner;
    const sf_clock *clock;
    unsigned max_attempts;
    uint64_t base_delay_ms;
    uint64_t max_delay_ms;
    uint64_t next_ticket;
    uint64_t retries;
    attempt *live;
    size_t nlive, caplive;
} retry_driver;

/* Delay before retry k (k >= 1): base * 2^(k-1), capped, without overflow. */
static uint64_t backoff(const retry_driver *r, unsigned k)
{
    uint64_t d = r->base_delay_ms;

    for (unsigned i = 1; i < k && d < r->max_delay_ms; i++)
        d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
    return d < r->max_delay_ms ? d : r->max_delay_ms;
}

static int retry_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                        sf_error *err)
{
    retry_driver *r = d->impl;
    attempt *a;

    if (r->nlive == r->caplive) {
        size_t cap = r->caplive ? r->caplive * 2 : 8;
        attempt *grown = realloc(r->live, cap * sizeof *grown);

        if (grown == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory in the "
                                "retry driver");
        r->live = grown;
        r->caplive = cap;
    }
    a = &r->live[r->nlive];
    if (sf_driver_submit(r->inner, op, &a->inner, err) != SF_OK)
        return SF_ERR;
    a->outer = ++r->next_ticket;
    a->attempts = 1;
    a->op = *op;
    r->nlive++;
    *ticket = a->outer;
    return SF_OK;
}

static int retry_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                      sf_error *err)
{
    retry_driver *r = d->impl;

    for (;;) {
        uint64_t inner_ticket, again;
        attempt *a;
        size_t i;

        if (r->nlive == 0)
            return sf_error_set(err, "internal", "", "retry driver: wait "
                                "with nothing in flight");
        if (sf_driver_wait(r->inner, &inner_ticket, result, err) != SF_OK)
            return SF_ERR;
        for (i = 0; i < r->nlive && r->live[i].inner != inner_ticket; i++)
            ;
        if (i == r->nlive)
            return sf_error_set(err, "internal", "", "retry driver: inner "
                                "driver completed unknown ticket %llu",
                                (unsigned long long)inner_ticket);
        a = &r->live[i];
        if (result->fail == SF_FAIL_TRANSIENT &&
            a->attempts < r->max_attempts) {
            sf_clock_sleep_ms(r->clock, backoff(r, a->attempts));
            /* A refused resubmission ends the retries: the caller gets the
             * last TRANSIENT result, which is still the truth. */
            if (sf_driver_submit(r->inner, &a->op, &again, NULL) == SF_OK) {
                a->inner = again;
                a->attempts++;
                r->retries++;
                sf_result_free(result);
                continue;
            }
        }
        *ticket = a->outer;
        r->live[i] = r->live[--r->nlive];
        return SF_OK;
    }
}

static int retry_render(sf_driver *d, const sf_op *op, sf_buf *out,
                        sf_error *err)
{
    retry_driver *r = d->impl;

    return sf_driver_render(r->inner, op, out, err);
}

static size_t retry_in_flight(sf_driver *d)
{
    retry_driver *r = d->impl;

    return r->nlive;
}

static void retry_destroy(sf_driver *d)
{
    retry_driver *r = d->impl;

    free(r->live);
    free(r);
}

static const sf_driver_ops retry_ops = {
    "retry", retry_submit, retry_wait, retry_render, retry_in_flight,
    retry_destroy,
};

int sf_retry_driver_new(sf_driver *inner, const sf_clock *clock,
                        unsigned max_attempts, uint64_t base_delay_ms,
                        uint64_t max_delay_ms, sf_driver **out,
                        sf_error *err)
{
    retry_driver *r;

    *out = NULL;
    if (inner == NULL || clock == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "retry driver needs an "
                            "inner driver and a clock");
    if (max_attempts == 0)
        return sf_error_set(err, SF_EK_USAGE, "", "retry driver: "
                            "max_attempts must be at least 1");
    if (max_delay_ms < base_delay_ms)
        return sf_error_set(err, SF_EK_USAGE, "", "retry driver: max delay "
                            "%llu ms is below the base delay %llu ms",
                            (unsigned long long)max_delay_ms,
                            (unsigned long long)base_delay_ms);
    r = calloc(1, sizeof *r);
    if (r == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory in the "
                            "retry driver");
    r->self.ops = &retry_ops;
    r->self.impl = r;
    r->inner = inner;
    r->clock = clock;
    r->max_attempts = max_attempts;
    r->base_delay_ms = base_delay_ms;
    r->max_delay_ms = max_delay_ms;
    *out = &r->self;
    return SF_OK;
}

uint64_t sf_retry_driver_retries(sf_driver *d)
{
    if (d == NULL || d->ops != &retry_ops)
        return 0;
    return ((retry_driver *)d->impl)->retries;
}
