/*
 * snapfleet: drivers that wrap any driver (decisions 6): fault injection,
 * retry with backoff, tracing. They stack in any order, e.g.
 *
 *   engine -> trace -> retry -> fault -> simulator
 *
 * Ownership: a wrapper never owns its inner driver. Destroying a wrapper
 * frees the wrapper only; the caller destroys the inner driver afterwards
 * (inner first would leave the wrapper dangling). A stack is torn down
 * from the outside in. Operations still in flight when a wrapper is
 * destroyed are forgotten by the wrapper; the inner driver still has them.
 *
 * Tickets: the fault and retry wrappers hand out their own tickets (1, 2,
 * 3, ... in submit order) and map them to the inner driver's, so a
 * caller's ticket stays valid across retries and injected completions; the
 * trace wrapper passes the inner tickets through. Several operations may be
 * in flight; wait() returns completions in whatever order the inner driver
 * produces them, with completions the wrapper made up itself (injected
 * failures) first. render(), in_flight() and wait_for() mean what they
 * mean for any driver; render() is passed through unchanged, and
 * wait_for() waits on the inner driver's wait_for (a completion a wrapper
 * made up itself is returned at once).
 *
 * Errors from the constructors: "usage" for bad arguments, "out-of-memory".
 */
#ifndef SNAPFLEET_WRAP_H
#define SNAPFLEET_WRAP_H

#include "snapfleet/export.h"

#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"
#include "snapfleet/faults.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Applies a fault plan (faults.h, docs/faults.md) to every submit:
 *   - each rule counts the calls that match its op and canister (every
 *     rule counts, whichever rule wins; a call counts when it reaches this
 *     wrapper, even if inner then refuses it); the first rule in plan
 *     order that fires on this call decides its effect;
 *   - transient / permanent: the op never reaches inner; a completion
 *     with that class (error kind "injected-fault") is queued;
 *   - lost-response: forwarded; whatever inner reports, the caller hears
 *     UNKNOWN, error kind "lost-response", "response lost (injected)";
 *   - corrupt: forwarded; when the download succeeds, one byte of the
 *     largest regular file below op->path (ties: the smallest relative
 *     path in byte order; symlinks never followed) is inverted in place, at
 *     offset size / 2. An empty largest file gets one byte appended; a
 *     directory without any regular file gets a one-byte file "corrupt".
 *     A failed download is left alone.
 * With a topology change in the plan, on_topology(kind, ctx) is called
 * once, after the first REGISTRY completion the caller receives as a
 * success and before wait() returns it: the caller saw the fleet as it
 * was, and everything after sees it changed. on_topology may be NULL only
 * when the plan has no topology change.
 * The plan must outlive the driver (it is read, never copied). Its
 * crash-after-writes setting is not applied here: crash injection is
 * process-wide, so the caller installs it (sf_crash_after_writes_install).
 */
SF_API int sf_fault_driver_new(sf_driver *inner, const sf_fault_plan *plan,
                               void (*on_topology)(const char *kind, void *ctx),
                               void *ctx, sf_driver **out, sf_error *err);

/*
 * Retries operations that complete TRANSIENT (nothing happened, so
 * resubmitting the same op is safe), up to max_attempts attempts in all
 * (>= 1; 1 never retries). Retry k (k = 1, 2, ...) is resubmitted
 * min(base_delay_ms * 2^(k-1), max_delay_ms) after the failure was heard,
 * on clock: no jitter, so a virtual clock sees the same delays on every
 * run. The backoff blocks nothing: wait() waits on the inner driver with
 * a limit (sf_driver_wait_for) until the earliest retry is due,
 * resubmits what is due (earliest first, then by ticket) and returns the
 * other operations' completions meanwhile; only when nothing else is in
 * the inner driver does it sleep (clock->sleep_ms) until the next retry.
 * clock should tell the inner driver's time (the simulator's virtual
 * clock, the wall clock for icp); over a driver without wait_for a retry
 * may go out later than due, never earlier. PERMANENT and UNKNOWN are
 * never retried. After the last attempt the caller gets the last
 * TRANSIENT result; the same happens when the inner driver refuses the
 * resubmission. The caller sees one ticket and one completion per
 * submitted op; in_flight() counts the retries waiting for their time.
 * wait_for() is supported, its limit on clock. clock must outlive the
 * driver.
 */
SF_API int sf_retry_driver_new(sf_driver *inner, const sf_clock *clock,
                               unsigned max_attempts, uint64_t base_delay_ms,
                               uint64_t max_delay_ms, sf_driver **out,
                               sf_error *err);

/* Retries made so far (attempts beyond the first), for tests and
 * metrics; 0 when d is not a retry driver. */
SF_API uint64_t sf_retry_driver_retries(sf_driver *d);

/*
 * Appends one line per event to *log (owned by the caller, which must
 * outlive the driver):
 *   t=<ms> submit #<ticket> <op> <canister>[ <snapshot id>][ resume]
 *   t=<ms> done #<ticket> <op> <canister> <class>[ <detail>]
 *   t=<ms> submit-failed <op> <canister> <error kind>
 *   t=<ms> wait-failed <error kind>
 * <ms> is clock->now_ms, <class> sf_fail_class_name. <detail> is, on
 * failure, the error kind; on success the snapshot id (create, upload),
 * "snapshots=<n>" (list), "entries=<n>" (registry) or the status name
 * (status); nothing otherwise. Paths and messages are left out (they name
 * temporary directories), so with a virtual clock the log, and
 * sf_trace_digest of it, is the same on every run of the same seed. The
 * tickets are the inner driver's, passed through. A wait_for() that
 * times out writes nothing: no operation changed.
 */
SF_API int sf_trace_driver_new(sf_driver *inner, const sf_clock *clock, sf_buf *log,
                               sf_driver **out, sf_error *err);

/* Lower-case hex SHA-256 of the log's bytes (the empty log hashes like
 * empty bytes). SF_ERR only when libcrypto fails. */
SF_API int sf_trace_digest(const sf_buf *log, char out[SF_SHA256_HEX_SIZE]);

#ifdef __cplusplus
}
#endif

#endif
