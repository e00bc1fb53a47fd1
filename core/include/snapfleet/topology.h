/*
 * snapfleet: the fleet topology hash (spec formats-and-backup 5.1).
 *
 * One row per record,
 *   pid=<P>|parent_pid=<Q>|role=<R>|module_hash=<M>
 * with P and Q the canonical lower-case principal text (Q "null" when there
 * is no parent), R the role verbatim and M the module hash verbatim or
 * "null". Rows are sorted byte-wise (duplicates kept), joined with '\n'
 * (no trailing newline; no records give the empty text), and the hash is
 * the lower-case hex SHA-256 of that text. Nothing is escaped: this is
 * canic's exact rendering, so hashes compare across the two tools.
 */
#ifndef SNAPFLEET_TOPOLOGY_H
#define SNAPFLEET_TOPOLOGY_H

#include "snapfleet/export.h"

#include <stddef.h>

#include "snapfleet/checksum.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fixed labels of canic's TopologyHash {algorithm, input, hash}. */
#define SF_TOPOLOGY_HASH_ALGORITHM "sha256"
#define SF_TOPOLOGY_HASH_INPUT "sorted(pid,parent_pid,role,module_hash)"

typedef struct sf_topology_record {
    const char *pid;         /* principal text, any case */
    const char *parent_pid;  /* principal text or NULL */
    const char *role;        /* verbatim; NULL renders as "" (canic's
                                `entry.role or ""`) */
    const char *module_hash; /* verbatim or NULL */
} sf_topology_record;

/*
 * How an invalid principal is reported. Record i's pid failing gives kind
 * "invalid-principal", field "<list>[i].<pid>" and message
 * "field <list>[].<pid> must be a valid principal: <value>" (canic's text);
 * likewise for the parent. The snapshot pipeline passes
 * {"fleet.members", "canister_id", "parent_canister_id"}; a NULL labels
 * pointer means {"records", "pid", "parent_pid"}.
 */
typedef struct sf_topology_labels {
    const char *list;
    const char *pid;
    const char *parent;
} sf_topology_labels;

/* Hash of records[0..n) with the default labels. */
SF_API int sf_topology_hash(const sf_topology_record *records, size_t n,
                            char out_hex[SF_SHA256_HEX_SIZE], sf_error *err);

SF_API int sf_topology_hash_labeled(const sf_topology_record *records, size_t n,
                                    const sf_topology_labels *labels,
                                    char out_hex[SF_SHA256_HEX_SIZE], sf_error *err);

/* The sorted, joined text that is hashed (for debugging and --json output);
 * malloc'd, "" for no records; NULL with err set on failure. labels may be
 * NULL. */
SF_API char *sf_topology_canonical_text(const sf_topology_record *records, size_t n,
                                        const sf_topology_labels *labels,
                                        sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
