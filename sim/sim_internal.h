/* The simulator's internals, shared by the files under sim/. */
#ifndef SNAPFLEET_SIM_INTERNAL_H
#define SNAPFLEET_SIM_INTERNAL_H

#include "snapfleet/sim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- deterministic randomness (content.c) ----
 * Hand-written rather than rand()/random(): their sequences differ between
 * C libraries, and the simulator promises the same fleet, the same bytes
 * and the same trace from the same seed on every machine. */

typedef struct sim_rng {
    uint64_t s[4]; /* xoshiro256** state */
} sim_rng;

uint64_t sf_sim_splitmix64(uint64_t *state);
/* A 64-bit mix of two values (splitmix64 finaliser), for deriving
 * independent seeds. */
uint64_t sf_sim_mix(uint64_t a, uint64_t b);
/* FNV-1a of a string, for deriving seeds from role names. */
uint64_t sf_sim_hash_text(const char *s);
void sf_sim_rng_seed(sim_rng *r, uint64_t seed);
uint64_t sf_sim_rng_next(sim_rng *r);
/* Uniform in [lo, hi] (hi >= lo), without modulo bias. */
uint64_t sf_sim_rng_range(sim_rng *r, uint64_t lo, uint64_t hi);

/* ---- contents ---- */

/* What a canister holds and a snapshot captures. Generated images are
 * described by seeds and sizes; opaque ones (uploaded bytes the simulator
 * did not generate) only by their digest and sizes. */
typedef struct sim_image {
    bool opaque;
    char digest[SF_SHA256_HEX_SIZE]; /* opaque only: SHA-256(heap||stable) */
    uint64_t seed;                   /* memory content seed */
    uint64_t heap_size, stable_size;
    uint64_t chunk_count, chunk_bytes; /* chunk store: entries, total bytes */
    uint64_t module_seed, module_size;
    char module_hash[SF_SHA256_HEX_SIZE]; /* "" = no module installed */
} sim_image;

/* Parts of an image, each an independent byte stream. */
enum {
    SIM_PART_HEAP = 1,
    SIM_PART_STABLE = 2,
    SIM_PART_MODULE = 3,
    SIM_PART_CERT = 4,
    SIM_PART_GLOBALS = 5,
    SIM_PART_CHUNK = 0x100 /* + chunk index */
};

typedef struct sim_stream {
    sim_rng rng;
    uint64_t left;
    uint8_t word[8];
    unsigned word_left;
    bool wasm_header; /* module streams start with "\0asm" 1 */
    unsigned header_pos;
} sim_stream;

void sf_sim_stream_init(sim_stream *st, uint64_t seed, uint64_t part,
                     uint64_t size);
/* Fills up to cap bytes; returns how many (0 at the end). */
size_t sf_sim_stream_read(sim_stream *st, uint8_t *buf, size_t cap);

/* Size of chunk i of a generated image: chunk_bytes spread evenly. */
uint64_t sf_sim_chunk_size(const sim_image *img, uint64_t i);
/* Hex SHA-256 of a stream's bytes. */
int sf_sim_stream_sha256(uint64_t seed, uint64_t part, uint64_t size,
                      char out[SF_SHA256_HEX_SIZE], sf_error *err);
/* SHA-256 of heap || stable of a generated image, streamed. */
int sf_sim_memory_digest(const sim_image *img,
                         char out[SF_SHA256_HEX_SIZE], sf_error *err);
/* The two globals and the certified data a generated image carries. */
int32_t sf_sim_global_i32(const sim_image *img);
int64_t sf_sim_global_i64(const sim_image *img);
void sf_sim_certified_data(const sim_image *img, uint8_t out[32]);
/* Module seed for a role at a version, and its size from the config. */
uint64_t sf_sim_module_seed(uint64_t fleet_seed, const char *role,
                         uint64_t version);
int sf_sim_hex_to_bytes(const char *hex, uint8_t *out, size_t n);

/* Every memory content the simulator ever generated, so uploaded bytes can
 * be mapped back to a descriptor. */
typedef struct sim_content {
    uint64_t seed, heap_size, stable_size, chunk_count, chunk_bytes;
} sim_content;

/* Every module ever generated: hash -> seed and size. */
typedef struct sim_module {
    uint64_t seed, size;
    char hash[SF_SHA256_HEX_SIZE];
} sim_module;

/* ---- the fleet ---- */

typedef struct sim_snapshot {
    char id[SF_SNAPSHOT_ID_MAX];
    uint64_t taken_at_ns;
    uint64_t total_size;
    uint64_t canister_version;
    bool uploaded; /* metadata.json source: metadata_upload */
    sim_image image;
} sim_snapshot;

typedef struct sim_canister {
    char id[SF_PRINCIPAL_TEXT_MAX];
    char parent[SF_PRINCIPAL_TEXT_MAX]; /* "" for the root */
    char role[SF_SIM_ROLE_MAX];
    uint64_t module_version;
    sf_canister_status status;
    uint64_t stop_due_ms;     /* stopping: when it becomes stopped */
    uint64_t canister_version;
    uint64_t next_snapshot;   /* per-canister snapshot id counter */
    char (*controllers)[SF_PRINCIPAL_TEXT_MAX];
    size_t controller_count;
    sim_image image;
    sim_snapshot *snapshots;
    size_t snapshot_count;
    /* derived, not state */
    uint64_t depth;
    size_t child_count;
} sim_canister;

/* Cached digests of the content table (not part of the state: a pure
 * function of it). "" = not computed yet. */
typedef struct sim_cache {
    char (*digest)[SF_SHA256_HEX_SIZE];
    size_t cap;
} sim_cache;

struct sf_sim {
    sf_sim_config config;
    uint64_t now_ms;
    sim_rng rng;     /* topology, mutations */
    sim_rng net_rng; /* latency jitter: traffic never shifts topology draws */
    uint64_t next_canister; /* counter of the next canister id */
    char operator_id[SF_PRINCIPAL_TEXT_MAX];
    sim_canister *canisters; /* tree order: root first, then BFS */
    size_t count, cap;
    sim_content *contents;
    size_t content_count, content_cap;
    sim_module *modules;
    size_t module_count, module_cap;
    sim_cache *cache;
    /* not state: set while the process driving this fleet has crashed in
     * a simulation (sf_sim_halt) */
    bool halted;
    /* not state: canister id -> position, for sf_sim_find (fleet.c);
     * rebuilt when the array moved, grew or was reordered */
    struct sim_find_index *find;
    /* not state: no stopping canister is due before this moment (0: not
     * known, look), so sf_sim_settle looks at the fleet only when a stop
     * may have come due instead of at every call */
    uint64_t settle_due_ms;
};

/* fleet.c */
sf_sim *sf_sim_alloc(void);
void sf_sim_canister_release(sim_canister *c);
sim_canister *sf_sim_find(const sf_sim *sim, const char *canister_id);
/* Sorts into tree order (children by canister id counter, i.e. creation)
 * and recomputes depths; SF_ERR ("invalid-sim-state") on a cycle or a
 * dangling parent. */
int sf_sim_reorder(sf_sim *sim, sf_error *err);
int sf_sim_content_add(sf_sim *sim, const sim_content *c, sf_error *err);
int sf_sim_module_add(sf_sim *sim, const sim_module *m, sf_error *err);
const sim_module *sf_sim_module_by_hash(const sf_sim *sim, const char *hash,
                                     uint64_t size);
/* State digest of an image (cached for generated contents). */
int sf_sim_image_digest(const sf_sim *sim, const sim_image *img,
                     char out[SF_SHA256_HEX_SIZE], sf_error *err);
uint64_t sf_sim_image_total_size(const sim_image *img);
/* Stopping canisters whose stop is due become stopped. */
void sf_sim_settle(sf_sim *sim);
/* c starts stopping, stopped at due: the only way a canister becomes
 * stopping (it keeps sf_sim_settle's watermark true). */
void sf_sim_stopping(sf_sim *sim, sim_canister *c, uint64_t due);
int sf_sim_canister_id_bytes(const char *id,
                             uint8_t out[SF_PRINCIPAL_MAX_BYTES], size_t *len);

/* transfer.c: download and upload effects. */
int sf_sim_download(sf_sim *sim, const sf_op *op, sf_result *res,
                 sf_error *err);
/* *cleanup is set to a malloc'd path the caller removes after the state
 * is saved (the upload progress file), or NULL. */
int sf_sim_upload(sf_sim *sim, const sf_op *op, sf_result *res,
                  char **cleanup, sf_error *err);
/* Bytes an upload of dir would move (for transfer time). */
uint64_t sf_sim_upload_bytes(const char *dir);
/* Adds a snapshot to c (limit checked by the caller). */
int sf_sim_snapshot_add(sf_sim *sim, sim_canister *c, const sim_image *img,
                     bool uploaded, sim_snapshot **out, sf_error *err);

/* The first line of a seed's failure into out (n bytes, cut to fit), the
 * work directory written "<work>": a seed's line, and so the summary
 * digest, must not depend on where its scratch was, or a failing seed
 * would not replay to the same digest. */
void sf_simrun_failure_line(const char *work, const char *text, char *out,
                            size_t n);

#endif
