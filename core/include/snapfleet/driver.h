/*
 * snapfleet: the abstract driver. Every effect on the Internet Computer
 * (registry read, status, stop, start, snapshot create/list/download/upload/
 * load/delete) goes through one interface: an operation record in, a
 * completion out. The engine never knows whether a simulator or the real
 * `icp` CLI is underneath, which is what lets the simulator test every
 * failure path the engine has.
 *
 * Asynchrony: submit() starts an operation and returns a ticket at once;
 * wait() returns the next completion of any operation in flight, and
 * wait_for() the same within a time limit (so a wrapper with work of its
 * own due later, such as a retry, can wait for the driver and for its
 * timer at once). A driver may run several operations at once (the
 * simulator completes them in virtual time, the icp driver runs several
 * children). sf_driver_run() is the synchronous convenience for callers
 * with nothing else in flight.
 *
 * Failure classes tell the engine what it may do next:
 *   TRANSIENT  nothing happened; retrying the same operation is safe;
 *   PERMANENT  refused; retrying will not help (a bug or a real refusal);
 *   UNKNOWN    the effect may or may not have happened (timeout, lost
 *              response): the engine must observe before it acts again.
 */
#ifndef SNAPFLEET_DRIVER_H
#define SNAPFLEET_DRIVER_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/principal.h"
#include "snapfleet/registry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sf_op_kind {
    SF_OP_REGISTRY, /* canister_id = root; result: registry */
    SF_OP_STATUS,   /* result: status, module_hash, controllers */
    SF_OP_STOP,
    SF_OP_START,
    SF_OP_CREATE,   /* canister must be stopped; result: snapshot. With
                       snapshot_id: replace that snapshot (icp's
                       `--replace`): it goes as the new one comes, in one
                       step, so a canister at its limit can still take one */
    SF_OP_LIST,     /* result: snapshots */
    SF_OP_DOWNLOAD, /* snapshot_id into path (an existing directory) */
    SF_OP_UPLOAD,   /* path (a snapshot directory) -> new snapshot */
    SF_OP_LOAD,     /* snapshot_id into the (stopped) canister */
    SF_OP_DELETE,   /* snapshot_id */
    SF_OP_KIND_COUNT
} sf_op_kind;

/* "registry", "status", "stop", "start", "create", "list", "download",
 * "upload", "load", "delete": the names the fault plan uses. */
SF_API const char *sf_op_kind_name(sf_op_kind kind);
SF_API int sf_op_kind_from_name(const char *name, sf_op_kind *out);

#define SF_SNAPSHOT_ID_MAX 130 /* 64 bytes of hex and a NUL */

typedef struct sf_op {
    sf_op_kind kind;
    char canister_id[SF_PRINCIPAL_TEXT_MAX];
    char snapshot_id[SF_SNAPSHOT_ID_MAX]; /* download, load, delete; create:
                                             the one replaced, or "" */
    char path[4096];                      /* download: output dir; upload: input dir */
    bool resume;                          /* continue an interrupted transfer */
} sf_op;

/* Fills an op, validating the canister id as a principal and the snapshot
 * id as non-empty even-length hex (so nothing else reaches a driver). path
 * and snapshot_id may be NULL. */
SF_API int sf_op_init(sf_op *op, sf_op_kind kind, const char *canister_id,
                      const char *snapshot_id, const char *path, sf_error *err);
/* The name a status line gives an operation's transfer ("download ID
 * SNAPSHOT", "upload ID PATH"): the engine and a driver reporting bytes
 * mid-way name the same transfer alike. Truncated to size. */
SF_API void sf_op_progress_key(const sf_op *op, char *out, size_t size);

typedef enum sf_fail_class {
    SF_FAIL_NONE = 0,
    SF_FAIL_TRANSIENT,
    SF_FAIL_PERMANENT,
    SF_FAIL_UNKNOWN
} sf_fail_class;

SF_API const char *sf_fail_class_name(sf_fail_class c); /* "ok", "transient", ... */

typedef enum sf_canister_status {
    SF_STATUS_RUNNING,
    SF_STATUS_STOPPING,
    SF_STATUS_STOPPED
} sf_canister_status;

SF_API const char *sf_canister_status_name(sf_canister_status s); /* "running", ... */

typedef struct sf_snapshot_info {
    char id[SF_SNAPSHOT_ID_MAX];
    bool has_taken_at;
    uint64_t taken_at_timestamp; /* ns since the epoch */
    bool has_total_size;
    uint64_t total_size_bytes;
} sf_snapshot_info;

/* A completion. Payload fields are filled by kind on success and owned by
 * the result: release with sf_result_free(). */
typedef struct sf_result {
    sf_op_kind kind;
    sf_fail_class fail; /* SF_FAIL_NONE on success */
    sf_error err;       /* why, when fail != NONE */
    sf_registry registry;          /* REGISTRY */
    sf_canister_status status;     /* STATUS */
    char *module_hash;             /* STATUS: lower-case hex, no 0x; NULL if none */
    char **controllers;            /* STATUS */
    size_t controller_count;
    sf_snapshot_info snapshot;     /* CREATE, UPLOAD (the new id) */
    sf_snapshot_info *snapshots;   /* LIST */
    size_t snapshot_count;
} sf_result;

SF_API void sf_result_init(sf_result *r, sf_op_kind kind);
SF_API void sf_result_free(sf_result *r);
/* Sets r->fail and r->err in one go; returns SF_OK (the call itself worked,
 * the operation failed). */
SF_API int sf_result_fail(sf_result *r, sf_fail_class fail, const char *kind,
                          const char *fmt, ...) __attribute__((format(printf, 4, 5)));

typedef struct sf_driver sf_driver;

typedef struct sf_driver_ops {
    const char *name;
    /* Starts op. SF_ERR only when the driver itself cannot run at all (out of
     * memory, cannot spawn); an operation that fails completes with a fail
     * class instead. */
    int (*submit)(sf_driver *d, const sf_op *op, uint64_t *ticket,
                  sf_error *err);
    /* Blocks until some operation in flight completes. SF_ERR when nothing is
     * in flight or the driver broke. */
    int (*wait)(sf_driver *d, uint64_t *ticket, sf_result *result,
                sf_error *err);
    /* Appends the command this driver would run for op (dry runs). */
    int (*render)(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err);
    /* Number of operations in flight. */
    size_t (*in_flight)(sf_driver *d);
    void (*destroy)(sf_driver *d);
    /* Entries below were added later and are optional: NULL means absent
     * (a driver written before one existed and initialised in order
     * leaves it NULL). New entries only ever go at the end. */

    /* wait(), giving up once timeout_ms of the driver's own time has
     * passed (the simulator's virtual clock, which it then moves to the
     * limit; the wall clock for icp) with nothing completed: then SF_OK
     * with *timed_out true and *ticket and *result left alone. A
     * completion due within the limit is returned as wait() would
     * (*timed_out false); timeout_ms 0 takes only what is already done.
     * SF_ERR as for wait(), nothing in flight included. */
    int (*wait_for)(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                    sf_result *result, bool *timed_out, sf_error *err);
} sf_driver_ops;

struct sf_driver {
    const sf_driver_ops *ops;
    void *impl;
};

SF_API int sf_driver_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                            sf_error *err);
SF_API int sf_driver_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                          sf_error *err);
/* ops->wait_for. A driver without one blocks as in wait(): its completion
 * comes no earlier than it would have and nothing is lost, but the limit
 * is not kept (*timed_out is then always false). */
SF_API int sf_driver_wait_for(sf_driver *d, uint64_t timeout_ms,
                              uint64_t *ticket, sf_result *result,
                              bool *timed_out, sf_error *err);
SF_API int sf_driver_render(sf_driver *d, const sf_op *op, sf_buf *out, sf_error *err);
SF_API size_t sf_driver_in_flight(sf_driver *d);
SF_API void sf_driver_destroy(sf_driver *d);
/* submit + wait; requires nothing else in flight. *result is initialised
 * here and must be released with sf_result_free() even on failure. */
SF_API int sf_driver_run(sf_driver *d, const sf_op *op, sf_result *result,
                         sf_error *err);

/* ---- time ---- */

/* The engine's only source of time: the wall clock in production, the
 * simulator's virtual clock in tests, so simulated runs are reproducible. */
typedef struct sf_clock {
    uint64_t (*now_ms)(void *ctx);          /* ms since the Unix epoch */
    void (*sleep_ms)(void *ctx, uint64_t ms);
    void *ctx;
} sf_clock;

SF_API sf_clock sf_clock_wall(void);
SF_API uint64_t sf_clock_now_ms(const sf_clock *c);
SF_API void sf_clock_sleep_ms(const sf_clock *c, uint64_t ms);
/* "unix:<seconds>" */
SF_API void sf_clock_marker(const sf_clock *c, char out[32]);

#ifdef __cplusplus
}
#endif

#endif
