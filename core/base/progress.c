#include "snapfleet/progress.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct flight {
    bool used;
    char key[SF_PROGRESS_KEY_MAX];
    uint64_t done;
} flight;

struct sf_progress {
    FILE *out;
    bool live;
    sf_progress_now_fn now;
    void *now_ctx;
    uint64_t expected, finished_bytes;
    size_t in_flight, finished;
    bool started;      /* a transfer has begun: the rate counts from then */
    uint64_t start_ms;
    bool shown;        /* a live status line is on the screen */
    bool drawn_once;
    uint64_t drawn_ms; /* when the status was last drawn or printed */
    flight f[SF_PROGRESS_MAX_FLIGHT];
};

static uint64_t monotonic_ms(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

sf_progress *sf_progress_new(FILE *out, bool live, sf_progress_now_fn now,
                             void *now_ctx)
{
    sf_progress *p = calloc(1, sizeof *p);

    if (p == NULL)
        return NULL;
    p->out = out;
    p->live = live;
    p->now = now != NULL ? now : monotonic_ms;
    p->now_ctx = now_ctx;
    return p;
}

static void clear_line(sf_progress *p)
{
    if (p->shown) {
        fputs("\r\033[K", p->out);
        p->shown = false;
    }
}

void sf_progress_free(sf_progress *p)
{
    if (p == NULL)
        return;
    clear_line(p);
    fflush(p->out);
    free(p);
}

static uint64_t done_bytes(const sf_progress *p)
{
    uint64_t d = p->finished_bytes;
    size_t i;

    for (i = 0; i < SF_PROGRESS_MAX_FLIGHT; i++)
        if (p->f[i].used)
            d += p->f[i].done;
    return d;
}

static void put_bytes(char *out, size_t size, uint64_t b)
{
    static const char *const unit[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)b / 1024.0;
    size_t u = 0;

    if (b < 1024) {
        snprintf(out, size, "%llu B", (unsigned long long)b);
        return;
    }
    while (v >= 1024.0 && u + 1 < sizeof unit / sizeof *unit) {
        v /= 1024.0;
        u++;
    }
    snprintf(out, size, "%.1f %s", v, unit[u]);
}

static void put_duration(char *out, size_t size, uint64_t s)
{
    if (s >= 3600)
        snprintf(out, size, "%lluh%02llum", (unsigned long long)(s / 3600),
                 (unsigned long long)(s / 60 % 60));
    else if (s >= 60)
        snprintf(out, size, "%llum%02llus", (unsigned long long)(s / 60),
                 (unsigned long long)(s % 60));
    else
        snprintf(out, size, "%llu s", (unsigned long long)s);
}

void sf_progress_status(sf_progress *p, char *out, size_t size)
{
    uint64_t done = done_bytes(p), elapsed = 0;
    char d[32], e[32], r[32], left[32];
    double rate = 0.0;
    size_t n;

    if (p->started)
        elapsed = p->now(p->now_ctx) - p->start_ms;
    if (elapsed > 0)
        rate = (double)done * 1000.0 / (double)elapsed;
    put_bytes(d, sizeof d, done);
    if (p->expected >= done && p->expected > 0) {
        put_bytes(e, sizeof e, p->expected);
        n = (size_t)snprintf(out, size, "%s of %s (%llu %%)", d, e,
                             (unsigned long long)(done * 100.0 / (double)p->expected));
    } else {
        n = (size_t)snprintf(out, size, "%s", d);
    }
    if (n >= size)
        return;
    put_bytes(r, sizeof r, (uint64_t)rate);
    if (rate > 0.0 && p->expected > done) {
        put_duration(left, sizeof left,
                     (uint64_t)((double)(p->expected - done) / rate + 0.5));
        n += (size_t)snprintf(out + n, size - n, ", %s/s, %s left", r, left);
    } else if (rate > 0.0) {
        n += (size_t)snprintf(out + n, size - n, ", %s/s", r);
    }
    if (n >= size)
        return;
    snprintf(out + n, size - n, ", %zu in flight", p->in_flight);
}

/* Live: redrawn in place, at most every SF_PROGRESS_LIVE_INTERVAL_MS
 * unless forced. Plain: a line of its own when forced (a transfer ended)
 * or every SF_PROGRESS_PLAIN_INTERVAL_MS. */
static void draw(sf_progress *p, bool forced)
{
    uint64_t now = p->now(p->now_ctx);
    uint64_t gap = p->live ? SF_PROGRESS_LIVE_INTERVAL_MS
                           : SF_PROGRESS_PLAIN_INTERVAL_MS;
    char line[256];

    if (!forced && p->drawn_once && now - p->drawn_ms < gap)
        return;
    p->drawn_once = true;
    p->drawn_ms = now;
    sf_progress_status(p, line, sizeof line);
    if (p->live) {
        fprintf(p->out, "\r%s\033[K", line);
        p->shown = true;
    } else {
        fprintf(p->out, "snapfleet: progress: %s\n", line);
    }
    fflush(p->out);
}

static flight *find(sf_progress *p, const char *key)
{
    size_t i;

    for (i = 0; i < SF_PROGRESS_MAX_FLIGHT; i++)
        if (p->f[i].used && strcmp(p->f[i].key, key) == 0)
            return &p->f[i];
    return NULL;
}

void sf_progress_expect(sf_progress *p, uint64_t bytes)
{
    if (p == NULL)
        return;
    p->expected = bytes > UINT64_MAX - p->expected ? UINT64_MAX
                                                   : p->expected + bytes;
}

void sf_progress_begin(sf_progress *p, const char *key)
{
    flight *f;
    size_t i;

    if (p == NULL)
        return;
    if (!p->started) {
        p->started = true;
        p->start_ms = p->now(p->now_ctx);
    }
    p->in_flight++;
    if ((f = find(p, key)) != NULL) {
        f->done = 0; /* begun again: this attempt's bytes */
    } else {
        for (i = 0; i < SF_PROGRESS_MAX_FLIGHT && p->f[i].used; i++)
            ;
        if (i < SF_PROGRESS_MAX_FLIGHT) {
            p->f[i].used = true;
            p->f[i].done = 0;
            snprintf(p->f[i].key, sizeof p->f[i].key, "%s", key);
        }
    }
    draw(p, true);
}

void sf_progress_update(sf_progress *p, const char *key, uint64_t done)
{
    flight *f;

    if (p == NULL || (f = find(p, key)) == NULL || done <= f->done)
        return;
    f->done = done;
    draw(p, false);
}

void sf_progress_end(sf_progress *p, const char *key, bool ok, uint64_t bytes)
{
    flight *f;

    if (p == NULL)
        return;
    if ((f = find(p, key)) != NULL)
        f->used = false;
    if (p->in_flight > 0)
        p->in_flight--;
    if (ok) {
        p->finished++;
        p->finished_bytes += bytes;
    }
    draw(p, true);
}

void sf_progress_printf(sf_progress *p, const char *fmt, ...)
{
    va_list ap;
    bool was_shown;

    if (p == NULL)
        return;
    was_shown = p->shown;
    clear_line(p);
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
    if (was_shown)
        draw(p, true);
    fflush(p->out);
}

void sf_progress_get_stats(const sf_progress *p, sf_progress_stats *out)
{
    memset(out, 0, sizeof *out);
    if (p == NULL)
        return;
    out->expected = p->expected;
    out->done = done_bytes(p);
    out->in_flight = p->in_flight;
    out->finished = p->finished;
}
