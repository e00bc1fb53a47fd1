/*
 * snapfleet: fault plans (the `--faults` option) and crash injection.
 *
 * A plan is a comma-separated list of rules (docs/faults.md):
 *
 *   OP[:CANISTER|*][:N]=EFFECT     inject EFFECT into calls of OP
 *   topology=KIND                  change the fleet after discovery
 *   crash-after-writes=N           die like kill -9 after the Nth durable write
 *   torn-write=N                   tear the Nth durable write, then die
 *
 * OP is an operation name (sf_op_kind_name); CANISTER a principal (stored
 * in canonical lower case) or `*` for any; N >= 1 selects the Nth call of
 * OP whose canister matches, counted per rule (no N: every matching call).
 * EFFECT is one of transient, permanent, lost-response, corrupt,
 * truncate-chunk, stale-tmp (download only), lost-metadata-response, cut
 * (upload only). KIND is one of add-child, remove-child, reparent, module-hash.
 * No white space anywhere; the empty string is the empty plan.
 *
 * The plan itself is immutable data: the per-rule call counters live in the
 * fault driver (wrap.h) that applies it, so one plan can drive many runs.
 *
 * Errors: kind "invalid-fault-plan", field "faults[i]" (the rule's index
 * among the comma-separated rules), message naming the rule text and what
 * is wrong with it; "invalid-principal" for a bad canister list given to
 * sf_fault_plan_random; "out-of-memory".
 */
#ifndef SNAPFLEET_FAULTS_H
#define SNAPFLEET_FAULTS_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"
#include "snapfleet/principal.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_EK_INVALID_FAULT_PLAN "invalid-fault-plan"

typedef enum sf_fault_effect {
    SF_FAULT_TRANSIENT,     /* not forwarded; completes TRANSIENT */
    SF_FAULT_PERMANENT,     /* not forwarded; completes PERMANENT */
    SF_FAULT_LOST_RESPONSE, /* forwarded; the caller hears UNKNOWN */
    SF_FAULT_CORRUPT,       /* download only: forwarded; one byte flipped */
    /* download only: forwarded; then one chunk file cut to half its size,
     * as a kill halfway through writing it leaves it; UNKNOWN */
    SF_FAULT_TRUNCATE_CHUNK,
    /* download only: forwarded; then the directory's metadata.json
     * describes an older snapshot (taken_at one nanosecond earlier), as a
     * cut-off download of another snapshot leaves it; UNKNOWN */
    SF_FAULT_STALE_TMP,
    /* upload only: the metadata call made a snapshot and its reply was
     * lost: an upload with every size 0 is forwarded from a scratch copy
     * of metadata.json, no progress file appears; UNKNOWN */
    SF_FAULT_LOST_METADATA_RESPONSE,
    /* upload only: forwarded; then .upload_progress.json names the
     * snapshot, as a kill after the metadata call leaves it; UNKNOWN */
    SF_FAULT_CUT,
    SF_FAULT_EFFECT_COUNT
} sf_fault_effect;

/* "transient", "permanent", "lost-response", "corrupt". */
SF_API const char *sf_fault_effect_name(sf_fault_effect e);

typedef struct sf_fault_rule {
    sf_op_kind op;
    char canister_id[SF_PRINCIPAL_TEXT_MAX]; /* canonical; "" means `*` */
    uint64_t nth;                            /* 0: every matching call */
    sf_fault_effect effect;
} sf_fault_rule;

typedef struct sf_fault_plan sf_fault_plan;

/* Parses a plan. spec NULL or "" gives the empty plan. *out is NULL on
 * failure. */
SF_API int sf_fault_plan_parse(const char *spec, sf_fault_plan **out, sf_error *err);

/* Appends the canonical text: the rules in plan order, each as `op=e`,
 * `op:canister=e` or `op:canister|*:N=e` (defaults left out), then
 * `topology=...`, then `crash-after-writes=N`, then `torn-write=N`. Parsing it gives a plan
 * equal to the original. SF_ERR only when out of memory. */
SF_API int sf_fault_plan_format(const sf_fault_plan *plan, sf_buf *out);

/* Same rules in the same order, same topology and crash setting. */
SF_API bool sf_fault_plan_equal(const sf_fault_plan *a, const sf_fault_plan *b);

SF_API void sf_fault_plan_free(sf_fault_plan *plan);

SF_API size_t sf_fault_plan_rule_count(const sf_fault_plan *plan);
SF_API const sf_fault_rule *sf_fault_plan_rule(const sf_fault_plan *plan, size_t i);
/* "add-child", "remove-child", "reparent", "module-hash"; NULL for none. */
SF_API const char *sf_fault_plan_topology(const sf_fault_plan *plan);
/* 0 when the plan does not crash. */
SF_API uint64_t sf_fault_plan_crash_after_writes(const sf_fault_plan *plan);
/* For callers that build on a plan (sf_fault_plan_random never crashes;
 * the simulator adds the crash point itself). 0 removes the setting. */
SF_API void sf_fault_plan_set_crash_after_writes(sf_fault_plan *plan, uint64_t n);
/* torn-write=N: 0 when the plan tears nothing. */
SF_API uint64_t sf_fault_plan_torn_write(const sf_fault_plan *plan);
SF_API void sf_fault_plan_set_torn_write(sf_fault_plan *plan, uint64_t n);

/* A reproducible random plan for deterministic simulation testing: one to
 * four rules mixing every op and effect, canisters drawn from
 * canister_ids (or `*`), mostly with a call number so runs can succeed,
 * and a topology change one time in four. Never crash-after-writes. The
 * generator is a hand-written splitmix64, so a seed gives the same plan on
 * every machine. canister_ids may be NULL when n is 0. */
SF_API int sf_fault_plan_random(uint64_t seed, const char *const *canister_ids,
                                size_t n, sf_fault_plan **out, sf_error *err);

/* splitmix64: advances *state and returns the next value. Exported so
 * tests and the simulator share one definition of "seeded". */
SF_API uint64_t sf_splitmix64(uint64_t *state);

/* ---- crash injection ---- */

/* Installs the process-wide durable-write hook (sf_fs_set_write_hook,
 * replacing whatever hook was there): the Nth durable write from now on
 * raises SIGKILL right after it completes, so the process dies exactly as
 * kill -9 would: no atexit handlers, no stdio flush, no cleanup. n = 0
 * uninstalls (and clears the hook). Not thread-safe: call it before the
 * run starts. Always SF_OK. */
SF_API int sf_crash_after_writes_install(uint64_t n);

/* The same counter with on_crash called instead of SIGKILL, for tests. The
 * callback runs once, on the Nth write, with n and the path written;
 * counting continues afterwards (sf_crash_writes_seen). */
typedef void (*sf_crash_fn)(uint64_t n, const char *path, void *ctx);
SF_API int sf_crash_after_writes_install_fn(uint64_t n, sf_crash_fn on_crash,
                                            void *ctx);

/* Installs the tear hook (sf_fs_set_tear_hook): the Nth durable write
 * from now on (counted as crash-after-writes counts them, but before the
 * write) is left torn (a temporary file with half the bytes, never
 * renamed; half a log record; a rename not made), then SIGKILL. n = 0
 * uninstalls. Not thread-safe. Always SF_OK. */
SF_API int sf_torn_write_install(uint64_t n);

/* Durable writes counted since the last install. */
SF_API uint64_t sf_crash_writes_seen(void);

#ifdef __cplusplus
}
#endif

#endif
