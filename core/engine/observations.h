/*
 * snapfleet-observations.json: what snapfleet saw before each effect it
 * caused, written before the effect (write-ahead). canic's documents have
 * no room for this, and it is what makes every step safe to repeat:
 *   status_before          observed before our first stop; only a canister
 *                          that was running is restarted by us;
 *   stopped_by_us          a stop was (maybe) issued by this backup;
 *   restarted              we started it again afterwards;
 *   snapshots_before_create the snapshot list before our create: after a
 *                          lost response or a crash, the new id is the one
 *                          not in this list, so nothing is created twice;
 *   snapshot_id            the snapshot this backup created (or adopted);
 *   load_issued            a restore sent a load to it (it may have
 *                          happened even if no answer came back).
 */
#ifndef SNAPFLEET_OBSERVATIONS_H
#define SNAPFLEET_OBSERVATIONS_H

#include <stdbool.h>
#include <stddef.h>

#include "base/posmap.h"
#include "snapfleet/buf.h"
#include "snapfleet/driver.h"
#include "snapfleet/error.h"

typedef struct sf_obs_canister {
    char *canister_id;
    bool has_status_before;
    sf_canister_status status_before;
    bool stopped_by_us;
    bool restarted;
    char **snapshots_before; /* NULL: no create issued yet */
    size_t snapshots_before_count;
    char *snapshot_id;
    bool load_issued;
    /* The module hash the canister reported when this run stopped it:
     * a downloaded wasm_module.bin must hash to it. NULL: not seen. */
    char *module_hash;
    /* A snapshot retention is deleting: set before the delete is sent,
     * cleared once it is gone. NULL: none. */
    char *deleting;
    /* The snapshot this run's create replaces (the canister is at its
     * snapshot limit), decided before anything is stopped and recorded
     * before the create is sent. NULL: a plain create. */
    char *replacing;
    /* Restore: where the snapshot loaded into this canister comes from,
     * recorded before the upload step acts: "canister" (the backed-up
     * snapshot is still on it) or "upload". Once "upload", never switched
     * back (an upload may have gone out). NULL: undecided. */
    char *load_from;
} sf_obs_canister;

typedef struct sf_observations {
    sf_obs_canister *canisters;
    size_t count;
    /* By canister id, the position of its (first) entry: kept by
     * sf_obs_parse, sf_obs_get and sf_obs_put, used by sf_obs_find while
     * it covers the array as it is (indexed == count, indexed_base ==
     * canisters); otherwise, or once out of memory, sf_obs_find scans.
     * A struct filled by hand ({canisters, count}) has none. */
    sf_posmap index;
    size_t indexed;
    const sf_obs_canister *indexed_base;
} sf_observations;

int sf_obs_parse(const char *text, size_t len, sf_observations *out,
                 sf_error *err);
int sf_obs_write_json(const sf_observations *o, sf_buf *out, sf_error *err);
/* A missing file reads as empty observations. */
int sf_obs_read_file(const char *path, sf_observations *out, sf_error *err);
int sf_obs_write_file(const char *path, const sf_observations *o,
                      sf_error *err);
void sf_obs_free(sf_observations *o);
/* The entry for canister_id, created empty when absent; NULL when out of
 * memory. */
sf_obs_canister *sf_obs_get(sf_observations *o, const char *canister_id);
sf_obs_canister *sf_obs_find(const sf_observations *o, const char *canister_id);
/* Puts c (taking what it owns; *c is zeroed) in place of the entry with its
 * canister id, or adds it. */
int sf_obs_put(sf_observations *o, sf_obs_canister *c, sf_error *err);
/* Replaces the snapshot list recorded before a create (copies). */
int sf_obs_set_snapshots_before(sf_obs_canister *c, const sf_snapshot_info *s,
                                size_t n, sf_error *err);

#endif
