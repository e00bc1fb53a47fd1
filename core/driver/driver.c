#include "snapfleet/driver.h"
#include "snapfleet/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const op_names[SF_OP_KIND_COUNT] = {
    "registry", "status", "stop", "start", "create",
    "list", "download", "upload", "load", "delete",
};

const char *sf_op_kind_name(sf_op_kind kind)
{
    return (unsigned)kind < SF_OP_KIND_COUNT ? op_names[kind] : "unknown";
}

void sf_op_progress_key(const sf_op *op, char *out, size_t size)
{
    snprintf(out, size, "%s %s %s", sf_op_kind_name(op->kind),
             op->canister_id,
             op->kind == SF_OP_UPLOAD ? op->path : op->snapshot_id);
}

int sf_op_kind_from_name(const char *name, sf_op_kind *out)
{
    int i;

    for (i = 0; i < SF_OP_KIND_COUNT; i++) {
        if (strcmp(name, op_names[i]) == 0) {
            *out = (sf_op_kind)i;
            return SF_OK;
        }
    }
    return SF_ERR;
}

static bool is_hex_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++) {
        char c = s[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
              (c >= 'A' && c <= 'F')))
            return false;
    }
    return n > 0 && n % 2 == 0 && n < SF_SNAPSHOT_ID_MAX;
}

int sf_op_init(sf_op *op, sf_op_kind kind, const char *canister_id,
               const char *snapshot_id, const char *path, sf_error *err)
{
    memset(op, 0, sizeof *op);
    op->kind = kind;
    if (canister_id == NULL || !sf_principal_is_valid(canister_id))
        return sf_error_set(err, "invalid-principal", "canister_id",
                            "%s: canister id `%s` is not a valid principal",
                            sf_op_kind_name(kind),
                            canister_id ? canister_id : "(null)");
    snprintf(op->canister_id, sizeof op->canister_id, "%s", canister_id);
    if (snapshot_id != NULL) {
        if (!is_hex_id(snapshot_id))
            return sf_error_set(err, "invalid-snapshot-id", "snapshot_id",
                                "%s: snapshot id `%s` is not non-empty "
                                "even-length hex", sf_op_kind_name(kind),
                                snapshot_id);
        snprintf(op->snapshot_id, sizeof op->snapshot_id, "%s", snapshot_id);
    } else if (kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
               kind == SF_OP_DELETE) {
        return sf_error_set(err, "invalid-snapshot-id", "snapshot_id",
                            "%s needs a snapshot id", sf_op_kind_name(kind));
    }
    if (path != NULL) {
        if (strlen(path) >= sizeof op->path)
            return sf_error_set(err, SF_EK_USAGE, "path", "path too long: %s",
                                path);
        snprintf(op->path, sizeof op->path, "%s", path);
    } else if (kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD) {
        return sf_error_set(err, SF_EK_USAGE, "path", "%s needs a directory",
                            sf_op_kind_name(kind));
    }
    return SF_OK;
}

const char *sf_fail_class_name(sf_fail_class c)
{
    switch (c) {
    case SF_FAIL_NONE: return "ok";
    case SF_FAIL_TRANSIENT: return "transient";
    case SF_FAIL_PERMANENT: return "permanent";
    case SF_FAIL_UNKNOWN: return "unknown-outcome";
    }
    return "invalid";
}

const char *sf_canister_status_name(sf_canister_status s)
{
    switch (s) {
    case SF_STATUS_RUNNING: return "running";
    case SF_STATUS_STOPPING: return "stopping";
    case SF_STATUS_STOPPED: return "stopped";
    }
    return "invalid";
}

void sf_result_init(sf_result *r, sf_op_kind kind)
{
    memset(r, 0, sizeof *r);
    r->kind = kind;
    sf_error_clear(&r->err);
}

void sf_result_free(sf_result *r)
{
    sf_registry_free(&r->registry);
    free(r->module_hash);
    sf_strv_free(r->controllers, r->controller_count);
    free(r->snapshots);
    r->module_hash = NULL;
    r->controllers = NULL;
    r->controller_count = 0;
    r->snapshots = NULL;
    r->snapshot_count = 0;
}

int sf_result_fail(sf_result *r, sf_fail_class fail, const char *kind,
                   const char *fmt, ...)
{
    va_list ap;

    r->fail = fail;
    r->err.kind = kind;
    r->err.field[0] = '\0';
    va_start(ap, fmt);
    vsnprintf(r->err.message, sizeof r->err.message, fmt, ap);
    va_end(ap);
    return SF_OK;
}

int sf_driver_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                     sf_error *err)
{
    return d->ops->submit(d, op, ticket, err);
}

int sf_driver_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                   sf_error *err)
{
    return d->ops->wait(d, ticket, result, err);
}

int sf_driver_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                       sf_result *result, bool *timed_out, sf_error *err)
{
    *timed_out = false;
    if (d->ops->wait_for == NULL)
        return d->ops->wait(d, ticket, result, err);
    return d->ops->wait_for(d, timeout_ms, ticket, result, timed_out, err);
}

int sf_driver_render(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err)
{
    return d->ops->render(d, op, out, err);
}

size_t sf_driver_in_flight(sf_driver *d)
{
    return d->ops->in_flight(d);
}

void sf_driver_destroy(sf_driver *d)
{
    if (d != NULL && d->ops != NULL)
        d->ops->destroy(d);
}

int sf_driver_run(sf_driver *d, const sf_op *op, sf_result *result,
                  sf_error *err)
{
    uint64_t ticket, got;

    sf_result_init(result, op->kind);
    if (sf_driver_in_flight(d) != 0)
        return sf_error_set(err, "internal", "", "sf_driver_run with %zu "
                            "operations in flight", sf_driver_in_flight(d));
    if (sf_driver_submit(d, op, &ticket, err) != SF_OK)
        return SF_ERR;
    if (sf_driver_wait(d, &got, result, err) != SF_OK)
        return SF_ERR;
    if (got != ticket)
        return sf_error_set(err, "internal", "", "driver completed ticket %llu,"
                            " expected %llu", (unsigned long long)got,
                            (unsigned long long)ticket);
    return SF_OK;
}

/* ---- wall clock ---- */

static uint64_t wall_now_ms(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec < 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void wall_sleep_ms(void *ctx, uint64_t ms)
{
    struct timespec ts;

    (void)ctx;
    ts.tv_sec = (time_t)(ms / 1000u);
    ts.tv_nsec = (long)(ms % 1000u) * 1000000L;
    while (nanosleep(&ts, &ts) != 0)
        ;
}

sf_clock sf_clock_wall(void)
{
    sf_clock c = {wall_now_ms, wall_sleep_ms, NULL};
    return c;
}

uint64_t sf_clock_now_ms(const sf_clock *c)
{
    return c->now_ms(c->ctx);
}

void sf_clock_sleep_ms(const sf_clock *c, uint64_t ms)
{
    c->sleep_ms(c->ctx, ms);
}

void sf_clock_marker(const sf_clock *c, char out[32])
{
    snprintf(out, 32, "unix:%llu",
             (unsigned long long)(sf_clock_now_ms(c) / 1000u));
}
