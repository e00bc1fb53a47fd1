/*
 * snapfleet: `metadata.json`, the snapshot metadata icp writes first into
 * every downloaded snapshot directory (icp-cli's
 * ReadCanisterSnapshotMetadataResult, serde pretty JSON). It carries the
 * only facts the IC gives about a snapshot's content: the sizes of the
 * module, heap and stable memory, and the SHA-256 of every chunk in the
 * wasm chunk store. The downloaded files are checked against them.
 *
 * Read strictly (a backup directory is untrusted input): required fields,
 * exact integer types, byte arrays as JSON arrays of 0..255 (as icp
 * writes them), 32-byte chunk hashes, at most 32 bytes of certified data,
 * globals each one known variant.
 */
#ifndef SNAPFLEET_SNAPSHOT_META_H
#define SNAPFLEET_SNAPSHOT_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"
#include "snapfleet/export.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_SNAPSHOT_META_FILE_NAME "metadata.json"
#define SF_SNAPSHOT_MODULE_FILE_NAME "wasm_module.bin"
#define SF_SNAPSHOT_HEAP_FILE_NAME "wasm_memory.bin"
#define SF_SNAPSHOT_STABLE_FILE_NAME "stable_memory.bin"
#define SF_SNAPSHOT_CHUNKS_DIR_NAME "wasm_chunk_store"
/* metadata.json is small: a bound keeps a hostile one from costing memory */
#define SF_SNAPSHOT_META_MAX_BYTES ((size_t)16 << 20)

typedef struct sf_snapshot_meta {
    uint64_t taken_at_timestamp;
    uint64_t wasm_module_size;
    uint64_t wasm_memory_size;
    uint64_t stable_memory_size;
    uint64_t canister_version;
    size_t global_count;
    unsigned char certified_data[32];
    size_t certified_data_len;
    char (*chunk_hashes)[65]; /* lower-case hex, in metadata order */
    size_t chunk_count;
} sf_snapshot_meta;

/* Errors: "json-syntax", "json-schema" (field = JSON path),
 * "out-of-memory". *out is zeroed on failure. */
SF_API int sf_snapshot_meta_parse(const char *text, size_t len, sf_snapshot_meta *out,
                           sf_error *err);
/* Reads <path> (bounded, links refused) and parses it; errors name it. */
SF_API int sf_snapshot_meta_read_file(const char *path, sf_snapshot_meta *out,
                               sf_error *err);
SF_API void sf_snapshot_meta_free(sf_snapshot_meta *m);

/* Checks a downloaded snapshot directory against its metadata.json: each
 * memory file's size (an absent file stands for size 0), the module's
 * SHA-256 against module_hash (lower-case hex; NULL: not checked), and
 * every chunk the metadata lists is present with the SHA-256 its name
 * gives. The first mismatch is
 * "snapshot-content-mismatch" naming the file and both values;
 * an unreadable metadata.json is its parse error. */
SF_API int sf_snapshot_dir_check(const char *dir, const char *module_hash,
                          sf_error *err);
/* Removes every chunk file metadata.json lists whose content is not the
 * SHA-256 in its name (icp writes chunks in place and a resumed download
 * skips any chunk file that exists, so a truncated one would stay
 * forever); *removed counts them. A resume then fetches them again. */
SF_API int sf_snapshot_chunks_repair(const char *dir, size_t *removed,
                                     sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
