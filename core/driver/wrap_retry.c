/* The retrying driver wrapper (wrap.h): TRANSIENT completions are
 * resubmitted with exponential backoff; nothing else is ever retried,
 * because PERMANENT will fail again and UNKNOWN may already have happened.
 *
 * A retry waiting for its backoff is only a time in this wrapper: wait()
 * waits on the inner driver until the earliest one is due (wait_for) and
 * returns other completions meanwhile, so one operation's backoff never
 * holds back the others in flight. */
#include "snapfleet/wrap.h"

#include <stdlib.h>
#include <string.h>

typedef struct attempt {
    uint64_t outer;
    uint64_t inner;    /* valid unless pending */
    unsigned attempts; /* made so far, >= 1 */
    bool pending;      /* failed TRANSIENT, waiting for its backoff */
    uint64_t heard_ms; /* pending: when the failure was heard (clock) */
    uint64_t delay_ms; /* pending: the backoff from then */
    sf_result last;    /* pending: what the caller gets if resubmission is
                          refused */
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
    size_t npending;
} retry_driver;

/* Delay before retry k (k >= 1): base * 2^(k-1), capped, without overflow. */
static uint64_t backoff(const retry_driver *r, unsigned k)
{
    uint64_t d = r->base_delay_ms;

    for (unsigned i = 1; i < k && d < r->max_delay_ms; i++)
        d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
    return d < r->max_delay_ms ? d : r->max_delay_ms;
}

/* What is left of `span` ms begun at `from`, at `now`. Times are kept as
 * a start and a span, never as a sum, so a delay near UINT64_MAX is waited
 * in full rather than cut at the end of the clock's range. */
static uint64_t left(uint64_t from, uint64_t span, uint64_t now)
{
    uint64_t gone = now - from;

    return gone >= span ? 0 : span - gone;
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
    a->pending = false;
    a->heard_ms = a->delay_ms = 0;
    a->op = *op;
    r->nlive++;
    *ticket = a->outer;
    return SF_OK;
}

/* The pending retry due first at `now`: least time left, then the
 * smallest ticket, so resubmissions go in the same order on every run.
 * NULL when none. */
static attempt *first_due(retry_driver *r, uint64_t now)
{
    attempt *best = NULL;
    uint64_t best_left = 0;

    for (size_t i = 0; i < r->nlive; i++) {
        attempt *a = &r->live[i];
        uint64_t l;

        if (!a->pending)
            continue;
        l = left(a->heard_ms, a->delay_ms, now);
        if (best == NULL || l < best_left ||
            (l == best_left && a->outer < best->outer)) {
            best = a;
            best_left = l;
        }
    }
    return best;
}

/* Hands a's completion to the caller and forgets a. */
static void deliver(retry_driver *r, attempt *a, uint64_t *ticket,
                    sf_result *result, sf_result *got)
{
    *ticket = a->outer;
    *result = *got;
    if (a->pending)
        r->npending--;
    *a = r->live[--r->nlive];
}

/* Resubmits every retry due at `now`. True when one was refused: its last
 * TRANSIENT result, still the truth, is then delivered instead. */
static bool resubmit_due(retry_driver *r, uint64_t now, uint64_t *ticket,
                         sf_result *result)
{
    attempt *a;
    uint64_t again;

    while ((a = first_due(r, now)) != NULL &&
           left(a->heard_ms, a->delay_ms, now) == 0) {
        if (sf_driver_submit(r->inner, &a->op, &again, NULL) != SF_OK) {
            deliver(r, a, ticket, result, &a->last);
            return true;
        }
        a->inner = again;
        a->attempts++;
        a->pending = false;
        r->npending--;
        r->retries++;
        sf_result_free(&a->last);
    }
    return false;
}

/* wait() (limited false) and wait_for() (timeout_ms on the clock). */
static int retry_wait_within(sf_driver *d, bool limited, uint64_t timeout_ms,
                             uint64_t *ticket, sf_result *result,
                             bool *timed_out, sf_error *err)
{
    retry_driver *r = d->impl;
    uint64_t start = sf_clock_now_ms(r->clock), now = start;

    *timed_out = false;
    if (r->nlive == 0)
        return sf_error_set(err, "internal", "", "retry driver: wait "
                            "with nothing in flight");
    for (;;) {
        uint64_t inner_ticket, span = UINT64_MAX, before;
        sf_result got;
        attempt *a;
        bool inner_timed_out = false;
        size_t i;

        if (resubmit_due(r, now, ticket, result))
            return SF_OK;
        if ((a = first_due(r, now)) != NULL)
            span = left(a->heard_ms, a->delay_ms, now);
        if (limited && left(start, timeout_ms, now) < span)
            span = left(start, timeout_ms, now);
        if (r->npending == r->nlive) {
            if (limited && left(start, timeout_ms, now) == 0) {
                *timed_out = true;
                return SF_OK;
            }
            /* nothing in the inner driver: only time moves things on */
            before = now;
            sf_clock_sleep_ms(r->clock, span);
        } else {
            before = now;
            sf_result_init(&got, SF_OP_STATUS);
            if (span == UINT64_MAX && !limited) {
                if (sf_driver_wait(r->inner, &inner_ticket, &got, err) !=
                    SF_OK)
                    return SF_ERR;
            } else if (sf_driver_wait_for(r->inner, span, &inner_ticket, &got,
                                          &inner_timed_out, err) != SF_OK) {
                return SF_ERR;
            }
            if (!inner_timed_out) {
                now = sf_clock_now_ms(r->clock);
                for (i = 0; i < r->nlive && (r->live[i].pending ||
                                             r->live[i].inner != inner_ticket);
                     i++)
                    ;
                if (i == r->nlive) {
                    sf_result_free(&got);
                    return sf_error_set(err, "internal", "", "retry driver: "
                                        "inner driver completed unknown "
                                        "ticket %llu",
                                        (unsigned long long)inner_ticket);
                }
                a = &r->live[i];
                if (got.fail == SF_FAIL_TRANSIENT &&
                    a->attempts < r->max_attempts) {
                    a->pending = true;
                    a->heard_ms = now;
                    a->delay_ms = backoff(r, a->attempts);
                    a->last = got;
                    r->npending++;
                    continue;
                }
                deliver(r, a, ticket, result, &got);
                return SF_OK;
            }
        }
        /* `span` has passed in the sleep or the inner driver's wait; a
         * clock that moved less (a crashed simulation's stands still)
         * counts as having moved that far, so the loop always gets on */
        now = sf_clock_now_ms(r->clock);
        if (now - before < span)
            now = before + span;
        if (limited && left(start, timeout_ms, now) == 0) {
            if (resubmit_due(r, now, ticket, result))
                return SF_OK;
            *timed_out = true;
            return SF_OK;
        }
    }
}

static int retry_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                      sf_error *err)
{
    bool timed_out;

    return retry_wait_within(d, false, 0, ticket, result, &timed_out, err);
}

static int retry_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                          sf_result *result, bool *timed_out, sf_error *err)
{
    return retry_wait_within(d, true, timeout_ms, ticket, result, timed_out,
                             err);
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

    for (size_t i = 0; i < r->nlive; i++)
        if (r->live[i].pending)
            sf_result_free(&r->live[i].last);
    free(r->live);
    free(r);
}

static const sf_driver_ops retry_ops = {
    "retry", retry_submit, retry_wait, retry_render, retry_in_flight,
    retry_destroy, retry_wait_for,
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
