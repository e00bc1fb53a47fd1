/*
 * The simulator behind the driver interface.
 *
 * submit() only schedules: an operation completes at now + latency (plus
 * jitter, plus transfer time at the configured bandwidth), and nothing
 * else happens then, except that a stop puts a running canister into
 * `stopping` at once (as stop_canister does on the IC; it becomes stopped
 * stop_ms later). wait() takes the operation in flight with the smallest
 * (completion time, ticket), moves the virtual clock there and applies the
 * effect at that moment, so a status that completes before a stop does
 * sees `stopping`, and two downloads finish in the order of their sizes.
 * wait_for() does the same when that moment is within its limit, and
 * otherwise moves the clock to the limit and reports the time out: the
 * same on every run.
 *
 * With a shared link (link_bandwidth), a transfer's completion time is
 * not known at submit: its bytes start moving once its latency has passed
 * and move at a rate that depends on how many transfers move at once
 * (sim.h). The link is simulated lazily, in its own time (link_ms, never
 * ahead of the clock): wait() runs it forward only as far as the earliest
 * completion it must return, so a transfer submitted later, which starts
 * no earlier than now, joins the link at the right moment. Without a link
 * every completion time is fixed at submit, as it always was.
 *
 * With a state path, the whole state is saved after every effect: a
 * process killed mid-run leaves the "IC" exactly as far as it got.
 */
#include "sim_internal.h"

#include "snapfleet/fs.h"
#include "snapfleet/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct flight {
    uint64_t ticket;
    uint64_t due_ms; /* a link transfer: valid once `moved` */
    bool began_stop; /* STOP: the canister was running or stopping at submit */
    /* a transfer on the shared link: its bytes move from start_ms on;
     * `moved` once the last one has, at due_ms */
    bool link, moved;
    uint64_t start_ms, left;
    uint64_t rate; /* link_run's scratch: bytes per ms this step */
    sf_op op;
} flight;

typedef struct sim_driver {
    sf_driver base;
    sf_sim *sim;
    char *state_path;
    flight *q;
    size_t n, cap;
    uint64_t next_ticket;
    uint64_t link_ms; /* the link has been simulated up to here */
} sim_driver;

static sim_driver *impl(sf_driver *d)
{
    return d->impl;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static sim_snapshot *find_snapshot(sim_canister *c, const char *id)
{
    size_t i;

    for (i = 0; i < c->snapshot_count; i++)
        if (strcasecmp(c->snapshots[i].id, id) == 0)
            return &c->snapshots[i];
    return NULL;
}

static int save(sim_driver *sd, sf_error *err)
{
    if (sd->state_path == NULL)
        return SF_OK;
    return sf_sim_save(sd->sim, sd->state_path, err);
}

/* ---- submit ---- */

static uint64_t transfer_ms(const sf_sim *sim, uint64_t bytes)
{
    uint64_t bw = sim->config.bandwidth;

    if (bw == 0)
        return 0;
    return bytes / bw + (bytes % bw != 0);
}

/* Bytes the operation moves over the network; 0 for a call. */
static uint64_t transfer_bytes(const sf_op *op, sim_canister *c)
{
    if (op->kind == SF_OP_DOWNLOAD && c != NULL) {
        sim_snapshot *s = find_snapshot(c, op->snapshot_id);
        return s != NULL ? s->total_size : 0;
    }
    if (op->kind == SF_OP_UPLOAD)
        return sf_sim_upload_bytes(op->path);
    return 0;
}

static int drv_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                      sf_error *err)
{
    sim_driver *sd = impl(d);
    sf_sim *sim = sd->sim;
    sim_canister *c = sf_sim_find(sim, op->canister_id);
    uint64_t due = sim->config.latency_ms, bytes;
    bool changed = false;
    flight *f;

    if ((unsigned)op->kind >= SF_OP_KIND_COUNT)
        return sf_error_set(err, SF_EK_USAGE, "", "unknown operation kind %d",
                            (int)op->kind);
    if (sd->n == sd->cap) {
        size_t cap = sd->cap ? sd->cap * 2 : 8;
        flight *t = realloc(sd->q, cap * sizeof *t);
        if (t == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        sd->q = t;
        sd->cap = cap;
    }
    f = &sd->q[sd->n];
    f->began_stop = f->link = f->moved = false;
    f->start_ms = f->left = f->rate = 0;
    if (sim->halted) {
        /* the process crashed: the call never reaches the fleet; it
         * completes (as a failure) at once, drawing nothing */
        sd->n++;
        f->ticket = sd->next_ticket++;
        f->due_ms = sim->now_ms;
        f->op = *op;
        *ticket = f->ticket;
        return SF_OK;
    }
    if (sim->config.jitter_ms > 0)
        due += sf_sim_rng_range(&sim->net_rng, 0, sim->config.jitter_ms);
    bytes = transfer_bytes(op, c);
    if (sim->config.link_bandwidth != 0 && bytes != 0) {
        f->link = true;
        f->start_ms = add_sat(sim->now_ms, due);
        f->left = bytes;
    } else {
        due = add_sat(due, transfer_ms(sim, bytes));
    }
    due = add_sat(sim->now_ms, due);
    if (op->kind == SF_OP_STOP && c != NULL) {
        f->began_stop = c->status != SF_STATUS_STOPPED;
        if (c->status == SF_STATUS_RUNNING) {
            sf_sim_stopping(sim, c, add_sat(due, sim->config.stop_ms));
            changed = true;
        }
        /* The call returns once the canister has stopped. */
        if (c->status == SF_STATUS_STOPPING && c->stop_due_ms > due)
            due = c->stop_due_ms;
    }
    sd->n++;
    f->ticket = sd->next_ticket++;
    f->due_ms = due;
    f->op = *op;
    *ticket = f->ticket;
    if (changed && save(sd, err) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

/* ---- the shared link ---- */

/* True while f's bytes move at the link's time. */
static bool link_active(const sim_driver *sd, const flight *f)
{
    return f->link && !f->moved && f->start_ms <= sd->link_ms;
}

/* Bytes per ms of active transfer f, k transfers being active: the
 * stream's limit, or an equal share of the link, whose remainder goes one
 * byte each to the lowest tickets. Can be 0 (more transfers than bytes per
 * ms): f then waits for others to finish. */
static uint64_t link_rate(const sim_driver *sd, const flight *f, uint64_t k)
{
    uint64_t bw = sd->sim->config.bandwidth;
    uint64_t link = sd->sim->config.link_bandwidth, share, rank = 0;
    size_t i;

    share = link / k;
    if (bw != 0 && bw <= share)
        return bw;
    if (link % k == 0)
        return share;
    for (i = 0; i < sd->n; i++)
        if (link_active(sd, &sd->q[i]) && sd->q[i].ticket < f->ticket)
            rank++;
    return share + (rank < link % k);
}

/* Whole ms active transfer f needs to finish at `rate` (> 0). */
static uint64_t link_ms_left(const flight *f, uint64_t rate)
{
    return f->left / rate + (f->left % rate != 0);
}

/* Runs the link from link_ms towards `limit`, stopping at the first moment
 * at or before it when a transfer finishes: those that finish then are
 * `moved`, due then, and true is returned. False: nothing finishes by
 * `limit`, and the link stands at limit (if it was behind it). */
static bool link_run(sim_driver *sd, uint64_t limit)
{
    for (;;) {
        uint64_t k = 0, next = UINT64_MAX, dt;
        bool pending = false, finished = false;
        size_t i;

        for (i = 0; i < sd->n; i++) {
            const flight *f = &sd->q[i];
            if (link_active(sd, f))
                k++;
            else if (f->link && !f->moved) {
                pending = true;
                if (f->start_ms < next)
                    next = f->start_ms;
            }
        }
        if (k == 0 && !pending)
            return false;
        for (i = 0; i < sd->n && k > 0; i++) {
            const flight *f = &sd->q[i];
            uint64_t rate;
            if (!link_active(sd, f) || (rate = link_rate(sd, f, k)) == 0)
                continue;
            if (add_sat(sd->link_ms, link_ms_left(f, rate)) < next)
                next = add_sat(sd->link_ms, link_ms_left(f, rate));
        }
        if (next > limit) {
            if (limit == UINT64_MAX || limit <= sd->link_ms)
                return false;
            next = limit;
        }
        dt = next - sd->link_ms;
        /* The rates hold from link_ms to next: compute them all before any
         * transfer moves (a finisher leaving changes the others' shares). */
        for (i = 0; i < sd->n; i++) {
            flight *f = &sd->q[i];
            if (link_active(sd, f))
                f->rate = link_rate(sd, f, k);
        }
        for (i = 0; i < sd->n; i++) {
            flight *f = &sd->q[i];
            if (!link_active(sd, f) || f->rate == 0)
                continue;
            if (dt >= link_ms_left(f, f->rate)) {
                f->left = 0;
                f->moved = finished = true;
                f->due_ms = next;
            } else {
                f->left -= f->rate * dt; /* < left: no overflow */
            }
        }
        sd->link_ms = next;
        if (finished)
            return true;
        if (next == limit)
            return false;
    }
}

/* ---- effects ---- */

static int not_found(sf_result *r, const sf_op *op)
{
    return sf_result_fail(r, SF_FAIL_PERMANENT, "canister-not-found",
                          "Canister %s was not found.", op->canister_id);
}

static int snapshot_not_found(sf_result *r, const sf_op *op,
                              const sim_canister *c)
{
    return sf_result_fail(r, SF_FAIL_PERMANENT, "snapshot-not-found",
                          "Could not find the snapshot ID %s for canister "
                          "%s.", op->snapshot_id, c->id);
}

/* icp checks the status before create and restore (icp-cli.md 3). */
static bool refuse_unless_stopped(sf_result *r, const sim_canister *c)
{
    if (c->status == SF_STATUS_RUNNING) {
        sf_result_fail(r, SF_FAIL_PERMANENT, "canister-running",
                       "Canister %s is currently running. Please stop the "
                       "canister first with `icp canister stop`.", c->id);
        return true;
    }
    if (c->status == SF_STATUS_STOPPING) {
        sf_result_fail(r, SF_FAIL_PERMANENT, "canister-stopping",
                       "Canister %s is still stopping. Please wait for it to "
                       "fully stop.", c->id);
        return true;
    }
    return false;
}

static void fill_info(sf_snapshot_info *info, const sim_snapshot *s)
{
    memset(info, 0, sizeof *info);
    memcpy(info->id, s->id, sizeof info->id);
    info->has_taken_at = true;
    info->taken_at_timestamp = s->taken_at_ns;
    info->has_total_size = true;
    info->total_size_bytes = s->total_size;
}

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static int do_status(sim_canister *c, sf_result *r, sf_error *err)
{
    size_t i;

    r->status = c->status;
    if (c->image.module_hash[0] != '\0' &&
        (r->module_hash = strdup(c->image.module_hash)) == NULL)
        return nomem(err);
    if (c->controller_count == 0)
        return SF_OK;
    r->controllers = calloc(c->controller_count, sizeof *r->controllers);
    if (r->controllers == NULL)
        return nomem(err);
    r->controller_count = c->controller_count;
    for (i = 0; i < c->controller_count; i++)
        if ((r->controllers[i] = strdup(c->controllers[i])) == NULL)
            return nomem(err);
    return SF_OK;
}

static int apply(sf_sim *sim, const sf_op *op, sf_result *r, char **cleanup,
                 sf_error *err)
{
    sim_canister *c;
    sim_snapshot *s;
    size_t i;

    *cleanup = NULL;
    switch (op->kind) {
    case SF_OP_DOWNLOAD:
        return sf_sim_download(sim, op, r, err);
    case SF_OP_UPLOAD:
        return sf_sim_upload(sim, op, r, cleanup, err);
    default:
        break;
    }
    c = sf_sim_find(sim, op->canister_id);
    if (c == NULL)
        return not_found(r, op);
    switch (op->kind) {
    case SF_OP_REGISTRY:
        if (c != &sim->canisters[0])
            return sf_result_fail(r, SF_FAIL_PERMANENT, "method-not-found",
                                  "Canister %s has no query method "
                                  "'canic_subnet_registry'", c->id);
        return sf_sim_registry(sim, &r->registry, err);
    case SF_OP_STATUS:
        return do_status(c, r, err);
    case SF_OP_STOP:
        /* Only reached stopped or cancelled: a stop still under way is
         * requeued by wait(). A start that came in while this stop was
         * under way cancels it, as on the IC. */
        if (c->status != SF_STATUS_STOPPED)
            return sf_result_fail(r, SF_FAIL_PERMANENT, "stop-cancelled",
                                  "Canister %s has been restarted while "
                                  "stopping.", c->id);
        return SF_OK;
    case SF_OP_START:
        c->status = SF_STATUS_RUNNING;
        c->stop_due_ms = 0;
        return SF_OK;
    case SF_OP_CREATE:
        if (refuse_unless_stopped(r, c))
            return SF_OK;
        if (op->snapshot_id[0] != '\0') {
            /* --replace: the named snapshot goes and the new one comes in
             * one step, as take_canister_snapshot's replace_snapshot */
            if ((s = find_snapshot(c, op->snapshot_id)) == NULL)
                return snapshot_not_found(r, op, c);
            i = (size_t)(s - c->snapshots);
            memmove(&c->snapshots[i], &c->snapshots[i + 1],
                    (c->snapshot_count - i - 1) * sizeof *c->snapshots);
            c->snapshot_count--;
        }
        if (c->snapshot_count >= sim->config.snapshot_limit)
            return sf_result_fail(r, SF_FAIL_PERMANENT, "snapshot-limit",
                                  "Canister %s has reached the maximum "
                                  "number of snapshots allowed: %" PRIu64 ".",
                                  c->id, sim->config.snapshot_limit);
        if (sf_sim_snapshot_add(sim, c, &c->image, false, &s, err) != SF_OK)
            return SF_ERR;
        fill_info(&r->snapshot, s);
        return SF_OK;
    case SF_OP_LIST:
        if (c->snapshot_count == 0)
            return SF_OK;
        r->snapshots = calloc(c->snapshot_count, sizeof *r->snapshots);
        if (r->snapshots == NULL)
            return nomem(err);
        r->snapshot_count = c->snapshot_count;
        for (i = 0; i < c->snapshot_count; i++)
            fill_info(&r->snapshots[i], &c->snapshots[i]);
        return SF_OK;
    case SF_OP_LOAD:
        if (refuse_unless_stopped(r, c))
            return SF_OK;
        if ((s = find_snapshot(c, op->snapshot_id)) == NULL)
            return snapshot_not_found(r, op, c);
        /* The snapshot's memory and module; the canister stays stopped. */
        c->image = s->image;
        c->canister_version++;
        return SF_OK;
    case SF_OP_DELETE:
        if ((s = find_snapshot(c, op->snapshot_id)) == NULL)
            return snapshot_not_found(r, op, c);
        i = (size_t)(s - c->snapshots);
        memmove(&c->snapshots[i], &c->snapshots[i + 1],
                (c->snapshot_count - i - 1) * sizeof *c->snapshots);
        c->snapshot_count--;
        return SF_OK;
    default:
        return sf_error_set(err, SF_EK_USAGE, "", "unknown operation kind %d",
                            (int)op->kind);
    }
}

/* A stop that finds its canister not stopped at completion time: one
 * that found it stopped at submit and sees it running now (someone
 * started it meanwhile) starts stopping it now; one still stopping (another
 * stop's schedule) waits for it. Either way it goes back in flight and
 * f->ticket becomes 0. */
static int requeue_stop(sim_driver *sd, flight *f, sf_error *err)
{
    sf_sim *sim = sd->sim;
    sim_canister *c = sf_sim_find(sim, f->op.canister_id);

    if (c == NULL || c->status == SF_STATUS_STOPPED ||
        (c->status == SF_STATUS_RUNNING && f->began_stop))
        return SF_OK;
    if (c->status == SF_STATUS_RUNNING) {
        sf_sim_stopping(sim, c, add_sat(sim->now_ms, sim->config.stop_ms));
        if (save(sd, err) != SF_OK)
            return SF_ERR;
    }
    f->began_stop = true;
    f->due_ms = c->stop_due_ms;
    sd->q[sd->n++] = *f; /* the slot it came from is free */
    f->ticket = 0;
    return SF_OK;
}

/* The flight wait() returns next: the smallest (completion time,
 * ticket), if it completes by `limit` (SIZE_MAX if none does). Link
 * transfers still moving have no completion time yet: the link is run up
 * to the earliest known one (or the limit), and any transfer that
 * finishes by then joins the candidates. While halted the link stands
 * still, everything completes now and they come last, by ticket. */
static size_t next_flight(sim_driver *sd, uint64_t limit)
{
    for (;;) {
        size_t i, best = SIZE_MAX;

        for (i = 0; i < sd->n; i++) {
            const flight *f = &sd->q[i], *b;
            if (f->link && !f->moved)
                continue;
            if (f->due_ms > limit && !sd->sim->halted)
                continue;
            b = best == SIZE_MAX ? NULL : &sd->q[best];
            if (b == NULL || f->due_ms < b->due_ms ||
                (f->due_ms == b->due_ms && f->ticket < b->ticket))
                best = i;
        }
        if (sd->sim->halted) {
            if (best != SIZE_MAX)
                return best;
            for (i = best = 0; i < sd->n; i++)
                if (sd->q[i].ticket < sd->q[best].ticket)
                    best = i;
            return best;
        }
        if (!link_run(sd, best == SIZE_MAX ? limit : sd->q[best].due_ms))
            return best;
    }
}

/* wait() with deadline UINT64_MAX, wait_for() with now + its timeout. */
static int wait_until(sim_driver *sd, uint64_t deadline, uint64_t *ticket,
                      sf_result *result, bool *timed_out, sf_error *err)
{
    sf_sim *sim = sd->sim;
    size_t best;
    char *cleanup = NULL;
    flight f;
    int rc;

    if (sd->n == 0)
        return sf_error_set(err, SF_EK_USAGE, "", "wait with nothing in "
                            "flight");
    best = next_flight(sd, deadline);
    if (best == SIZE_MAX) {
        /* nothing completes by the deadline: time passes up to it */
        if (deadline > sim->now_ms)
            sim->now_ms = deadline;
        sf_sim_settle(sim);
        *timed_out = true;
        return SF_OK;
    }
    f = sd->q[best];
    sd->q[best] = sd->q[--sd->n];
    if (sim->halted) {
        sf_result_init(result, f.op.kind);
        *ticket = f.ticket;
        return sf_result_fail(result, SF_FAIL_PERMANENT, "crashed",
                              "the process driving the fleet has crashed");
    }
    if (f.due_ms > sim->now_ms)
        sim->now_ms = f.due_ms;
    sf_sim_settle(sim);
    if (f.op.kind == SF_OP_STOP && requeue_stop(sd, &f, err) != SF_OK)
        return SF_ERR;
    if (f.ticket == 0) /* requeued: the stop is still under way */
        return wait_until(sd, deadline, ticket, result, timed_out, err);
    sf_result_init(result, f.op.kind);
    *ticket = f.ticket;
    rc = apply(sim, &f.op, result, &cleanup, err);
    if (rc == SF_OK)
        rc = save(sd, err);
    if (rc == SF_OK && cleanup != NULL) /* icp's progress file, best effort */
        sf_storage_remove(sf_fs_storage(), cleanup, NULL);
    free(cleanup);
    return rc;
}

static int drv_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                    sf_error *err)
{
    bool timed_out = false;

    if (wait_until(impl(d), UINT64_MAX, ticket, result, &timed_out, err) !=
        SF_OK)
        return SF_ERR;
    if (timed_out) /* never: something in flight completes in time */
        return sf_error_set(err, "internal", "", "sim: nothing completes");
    return SF_OK;
}

static int drv_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                        sf_result *result, bool *timed_out, sf_error *err)
{
    sim_driver *sd = impl(d);

    *timed_out = false;
    return wait_until(sd, add_sat(sd->sim->now_ms, timeout_ms), ticket,
                      result, timed_out, err);
}

/* ---- render ---- */

/* Shell-style quoting for display, only where needed. */
static void put_arg(sf_buf *out, const char *s)
{
    const char *p;
    bool plain = *s != '\0';

    for (p = s; *p != '\0' && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("-_./:=@%+,", *p) != NULL;
    sf_buf_putc(out, ' ');
    if (plain) {
        sf_buf_puts(out, s);
        return;
    }
    sf_buf_putc(out, '\'');
    for (p = s; *p != '\0'; p++) {
        if (*p == '\'')
            sf_buf_puts(out, "'\\''");
        else
            sf_buf_putc(out, *p);
    }
    sf_buf_putc(out, '\'');
}

static int drv_render(sf_driver *d, const sf_op *op, sf_buf *out,
                      sf_error *err)
{
    const char *id = op->canister_id;

    (void)d;
    sf_buf_puts(out, "icp canister");
    switch (op->kind) {
    case SF_OP_REGISTRY:
        sf_buf_puts(out, " call");
        put_arg(out, id);
        sf_buf_puts(out, " canic_subnet_registry '()' --query --json");
        break;
    case SF_OP_STATUS:
        sf_buf_puts(out, " status");
        put_arg(out, id);
        sf_buf_puts(out, " --json");
        break;
    case SF_OP_STOP:
    case SF_OP_START:
        put_arg(out, op->kind == SF_OP_STOP ? "stop" : "start");
        put_arg(out, id);
        break;
    case SF_OP_CREATE:
    case SF_OP_LIST:
        sf_buf_puts(out, " snapshot");
        put_arg(out, op->kind == SF_OP_CREATE ? "create" : "list");
        put_arg(out, id);
        sf_buf_puts(out, " --json");
        break;
    case SF_OP_DOWNLOAD:
        sf_buf_puts(out, " snapshot download");
        put_arg(out, id);
        put_arg(out, op->snapshot_id);
        sf_buf_puts(out, " --output");
        put_arg(out, op->path);
        if (op->resume)
            sf_buf_puts(out, " --resume");
        break;
    case SF_OP_UPLOAD:
        sf_buf_puts(out, " snapshot upload");
        put_arg(out, id);
        sf_buf_puts(out, " --input");
        put_arg(out, op->path);
        if (op->resume)
            sf_buf_puts(out, " --resume");
        sf_buf_puts(out, " --json");
        break;
    case SF_OP_LOAD:
    case SF_OP_DELETE:
        sf_buf_puts(out, " snapshot");
        put_arg(out, op->kind == SF_OP_LOAD ? "restore" : "delete");
        put_arg(out, id);
        put_arg(out, op->snapshot_id);
        break;
    default:
        return sf_error_set(err, SF_EK_USAGE, "", "unknown operation kind %d",
                            (int)op->kind);
    }
    if (out->oom)
        return nomem(err);
    return SF_OK;
}

static size_t drv_in_flight(sf_driver *d)
{
    return impl(d)->n;
}

static void drv_destroy(sf_driver *d)
{
    sim_driver *sd = impl(d);

    free(sd->q);
    free(sd->state_path);
    free(sd);
}

static const sf_driver_ops sim_ops = {
    "sim", drv_submit, drv_wait, drv_render, drv_in_flight, drv_destroy,
    drv_wait_for,
};

int sf_sim_driver_new(sf_sim *sim, const char *state_path, sf_driver **out,
                      sf_error *err)
{
    sim_driver *sd = calloc(1, sizeof *sd);

    *out = NULL;
    if (sd == NULL)
        return nomem(err);
    if (state_path != NULL && (sd->state_path = strdup(state_path)) == NULL) {
        free(sd);
        return nomem(err);
    }
    sd->sim = sim;
    sd->next_ticket = 1;
    sd->base.ops = &sim_ops;
    sd->base.impl = sd;
    *out = &sd->base;
    return SF_OK;
}
