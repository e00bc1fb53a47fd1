/*
 * snapfleet: the in-memory fleet simulator (decisions 7).
 *
 * A tree of canisters under one root, built deterministically from a seed:
 * roles, module hashes, controllers, running/stopping/stopped status,
 * memory contents and snapshots. Memory contents are never held in memory:
 * a canister holds a descriptor (content seed and sizes) and the bytes are
 * generated as they are read, so heaps of many GiB cost nothing until they
 * are downloaded, and then only a constant-size buffer.
 *
 * sf_sim_driver_new() puts an sf_driver in front of a simulator. The
 * driver behaves as the IC does behind the `icp` CLI (icp-cli.md 3-4): the
 * same refusals with icp's wording, the same snapshot directory layout, the
 * same snapshot id shape. Operations complete in virtual time: submit()
 * schedules a completion at now + latency (+ transfer time at the
 * configured bandwidth); wait() advances the virtual clock to the earliest
 * completion and applies the effect then. Same seed, same operations:
 * byte-identical results, files and state.
 *
 * Memory contents uploaded back are recognised: bytes the simulator
 * generated are mapped back to their descriptor (a table of every content
 * ever generated is part of the state); anything else (corrupted bytes) is
 * kept as opaque content known only by its digest. Loading it gives the
 * canister that digest as its state digest; downloading it is refused.
 *
 * The state digest of a canister is the SHA-256 of its heap bytes followed
 * by its stable memory bytes: what a restore must bring back.
 */
#ifndef SNAPFLEET_SIM_H
#define SNAPFLEET_SIM_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"
#include "snapfleet/principal.h"
#include "snapfleet/registry.h"
#include "snapfleet/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_SIM_STATE_VERSION 1
/* Virtual time starts here (ms since the Unix epoch, mid May 2026). */
#define SF_SIM_EPOCH_MS 1778700000000ull
/* Longest role name a simulated canister carries, NUL included. */
#define SF_SIM_ROLE_MAX 64

typedef struct sf_sim_config {
    uint64_t seed;
    uint64_t canister_count;  /* >= 1, the root included */
    uint64_t max_fanout;      /* children per canister, >= 1 */
    uint64_t max_depth;       /* levels below the root, >= 1 */
    uint64_t heap_min, heap_max;     /* wasm heap bytes, inclusive range */
    uint64_t stable_min, stable_max; /* stable memory bytes */
    uint64_t module_min, module_max; /* wasm module bytes, >= 8 */
    uint64_t chunk_max;       /* chunk-store entries per canister: 0..max */
    uint64_t chunk_size;      /* bytes per chunk-store entry, >= 1 */
    uint64_t stopped_percent; /* share of canisters initially stopped */
    uint64_t snapshot_limit;  /* snapshots per canister, >= 1 */
    uint64_t latency_ms;      /* virtual ms every call takes */
    uint64_t jitter_ms;       /* + uniform 0..jitter_ms per call */
    uint64_t bandwidth;       /* transfer bytes per virtual ms; 0 = instant */
    uint64_t stop_ms;         /* extra virtual ms a running canister takes
                                 to stop */
    uint64_t link_bandwidth;  /* bytes per virtual ms all transfers in
                                 flight share; 0 = unlimited */
} sf_sim_config;

typedef struct sf_sim sf_sim;

/* Defaults: seed 1, 8 canisters, fan-out 3, depth 3, heap and stable
 * memory 4 KiB..256 KiB, modules 1 KiB..8 KiB, up to 2 chunk-store entries
 * of 1 KiB, none stopped, 10 snapshots per canister, latency 20 ms, no
 * jitter, 10 KiB per ms (~10 MB/s) per stream, an unlimited link, stops
 * take 50 ms.
 *
 * Transfers (a download of an existing snapshot, an upload) and the link:
 * a transfer's bytes start to move once the call's latency (and jitter)
 * has passed, and it completes when the last byte has moved. Alone, it
 * moves `bandwidth` bytes per virtual ms (the stream's limit; 0 =
 * unlimited). With link_bandwidth set, the k transfers moving at once
 * share the link: each moves min(bandwidth, link_bandwidth / k) bytes per
 * ms (when link_bandwidth / k is not whole, the remainder goes one byte
 * each to the transfers with the lowest tickets, so the link is used to
 * the byte and never beyond), and the rates are recomputed whenever a
 * transfer starts or ends. Time is whole virtual ms: a transfer that ends
 * within a ms completes at its end. A transfer that is alone and no
 * slower than the link completes exactly as without a link: latency +
 * ceil(bytes / bandwidth). */
SF_API void sf_sim_config_default(sf_sim_config *cfg);

/* The tree shape for a fleet of `canisters` (the root included): a
 * fan-out or depth of 0 is chosen here, a non-zero one is kept. Neither
 * given: fan-out 3 and depth 3 while the fleet fits (at most 40), else
 * depth 3 and the smallest fan-out that holds it (22 for 10,000). Only
 * the fan-out given: depth 3 if it fits, else the smallest depth that
 * does. Only the depth given: fan-out 3 if it fits, else the smallest
 * fan-out that does. Refused (kind "usage", field "max_fanout",
 * "max_depth" or "canister_count"): a zero fleet, a depth above
 * SF_SIM_DEPTH_MAX, and a fleet larger than the tree both given values
 * allow or than any tree under the depth limit of a fan-out of 1 allows,
 * with the message naming how many the shape holds. */
#define SF_SIM_DEPTH_MAX 64
SF_API int sf_sim_shape(uint64_t canisters, uint64_t fanout, uint64_t depth,
                        uint64_t *fanout_out, uint64_t *depth_out, sf_error *err);

/* Checks the ranges above (kind "usage", field = the config field). */
SF_API int sf_sim_config_validate(const sf_sim_config *cfg, sf_error *err);

/* Builds the fleet from cfg (copied). Errors: "usage", "out-of-memory". */
SF_API int sf_sim_init(const sf_sim_config *cfg, sf_sim **out, sf_error *err);

SF_API void sf_sim_free(sf_sim *sim);

/* ---- state file ---- */

/* The whole simulator as one JSON document (version field, serde-pretty
 * bytes); loading and writing again gives identical bytes. */
SF_API int sf_sim_state_json(const sf_sim *sim, sf_buf *out, sf_error *err);
SF_API int sf_sim_load_json(const char *text, size_t len, sf_sim **out,
                            sf_error *err);
/* The state stands for the IC, not for a backup's durable state: saved,
 * loaded and locked on the real file system (sf_storage_posix(), an atomic
 * replace), whatever storage the process installed (sf_fs_set_storage), and
 * never counted by the crash hooks. */
SF_API int sf_sim_save(const sf_sim *sim, const char *path, sf_error *err);
/* Errors: "io", "json-syntax", "json-schema", "unsupported-sim-version",
 * "invalid-sim-state". */
SF_API int sf_sim_load(const char *path, sf_sim **out, sf_error *err);

/* The state file's own lock: an exclusive, non-blocking flock(2) on
 * "<path>.lock" (created 0600), held by whoever loads the state to change
 * it, from before the load to after the last save, so two processes never
 * interleave their writes of one fleet. The state file itself cannot carry
 * the lock: every save renames a new file over it. Errors:
 * "sim-state-locked" (another live process holds it), "io". */
typedef struct sf_sim_lock {
    sf_storage_lock *held; /* NULL: not held */
} sf_sim_lock;
SF_API int sf_sim_lock_acquire(const char *path, sf_sim_lock *lock,
                               sf_error *err);
SF_API void sf_sim_lock_release(sf_sim_lock *lock);

/* ---- views ---- */

/* {"root", "clock_ms", "canisters": [{"canister_id", "parent_canister_id",
 * "role", "module_hash", "status", "state_digest", "snapshots":
 * [{"snapshot_id", "taken_at_timestamp", "total_size_bytes"}]}]},
 * canisters in tree order (root, then breadth first). */
SF_API int sf_sim_show_json(const sf_sim *sim, sf_buf *out, sf_error *err);
/* The same as a readable table. */
SF_API int sf_sim_show_text(const sf_sim *sim, sf_buf *out, sf_error *err);

/* The registry the root serves (tree order; kind NULL). *out is
 * overwritten; release with sf_registry_free. */
SF_API int sf_sim_registry(const sf_sim *sim, sf_registry *out, sf_error *err);
/* The same rendered by sf_registry_write_json (canic's registry JSON). */
SF_API int sf_sim_registry_json(const sf_sim *sim, sf_buf *out, sf_error *err);

/* ---- accessors for invariant checkers ---- */

typedef struct sf_sim_canister_info {
    char canister_id[SF_PRINCIPAL_TEXT_MAX];
    char parent_canister_id[SF_PRINCIPAL_TEXT_MAX]; /* "" for the root */
    char role[SF_SIM_ROLE_MAX];
    char module_hash[SF_SHA256_HEX_SIZE];  /* "" when no module */
    sf_canister_status status;
    char state_digest[SF_SHA256_HEX_SIZE];
    size_t snapshot_count;
} sf_sim_canister_info;

SF_API size_t sf_sim_canister_count(const sf_sim *sim);
/* Points into the fleet: a topology change or a load may move it, so copy
 * it before anything changes the simulator. */
SF_API const char *sf_sim_root_id(const sf_sim *sim);
/* Index in tree order; SF_ERR ("usage") when out of range. */
SF_API int sf_sim_canister_at(const sf_sim *sim, size_t index,
                              sf_sim_canister_info *out, sf_error *err);
/* Tree-order index of a canister id (any case); SF_ERR with kind
 * "canister-not-found" when absent. */
SF_API int sf_sim_canister_find(const sf_sim *sim, const char *canister_id,
                                size_t *index, sf_error *err);
/* Snapshot j of the canister at `index`, in creation order. */
SF_API int sf_sim_snapshot_at(const sf_sim *sim, size_t index, size_t j,
                              sf_snapshot_info *out, sf_error *err);
SF_API int sf_sim_state_digest(const sf_sim *sim, const char *canister_id,
                               char out[SF_SHA256_HEX_SIZE], sf_error *err);
SF_API const sf_sim_config *sf_sim_get_config(const sf_sim *sim);
SF_API uint64_t sf_sim_now_ms(const sf_sim *sim);

/* ---- changes made from outside the driver ----
 * These change the simulator directly (a fault plan, the CLI, a test).
 * They are not saved to a driver's state file until the driver's next
 * effect; call sf_sim_save() when they must be durable at once. */

/* New memory contents for the canister (a new content seed, same sizes):
 * its state digest changes. */
SF_API int sf_sim_mutate(sf_sim *sim, const char *canister_id, sf_error *err);

/* kind: "add-child" (a new canister under a deterministically chosen one),
 * "remove-child" (a leaf other than the root goes, with its snapshots),
 * "reparent" (a non-root leaf moves under a different parent),
 * "module-hash" (one non-root canister gets a new module version). The
 * canister chosen comes from the simulator's seeded generator. Errors:
 * "usage" (unknown kind), "topology-change-impossible" (nothing to apply
 * it to, e.g. removing from a fleet of one). */
SF_API int sf_sim_topology_change(sf_sim *sim, const char *kind, sf_error *err);

/* Sets a canister running or stopped at once (test set-up: a canister an
 * operator stopped by hand). SF_STATUS_STOPPING is refused ("usage"). */
SF_API int sf_sim_set_status(sf_sim *sim, const char *canister_id,
                             sf_canister_status status, sf_error *err);

/* ---- time and the driver ---- */

/* The virtual clock: now_ms reads it, sleep_ms advances it. Valid while
 * sim lives. */
SF_API sf_clock sf_sim_clock(sf_sim *sim);

/* An in-process crash of whatever drives the fleet (sim run on the
 * simulated disk): while halted, every operation a driver over sim is
 * given completes at once as a permanent failure ("crashed") with no
 * effect, and the clock neither moves nor is read differently, so the
 * fleet keeps exactly the state it had when the process "died" while the
 * engine unwinds. A halt is not part of the state (never saved). */
SF_API void sf_sim_halt(sf_sim *sim, bool halted);
SF_API bool sf_sim_halted(const sf_sim *sim);

/* A driver over sim (not owned: free sim after destroying the driver).
 * With state_path non-NULL the whole state is saved there after every
 * effect the driver applies, so a killed process can be resumed by a new
 * one that loads the file. */
SF_API int sf_sim_driver_new(sf_sim *sim, const char *state_path, sf_driver **out,
                             sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
