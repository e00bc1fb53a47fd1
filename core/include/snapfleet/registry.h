/*
 * snapfleet: the fleet registry as the root canister reports it
 * (canic_subnet_registry, rendered as JSON), and what the backup derives
 * from it: the target list of a snapshot run, role names, depths and the
 * topology hash of the targets (canic-backup 0.35.10, spec
 * formats-and-backup 1.2 and 5.4-5.6, canic-cli-and-lessons A.13).
 *
 * Accepted JSON, exactly canic 0.35.10's two shapes:
 *   {"Ok": [entry, ...]}   the host's rendering of the Candid Result
 *   [entry, ...]           a bare array
 * where each entry is an object
 *   {"pid": "<principal>", "role": "<text>"|null, "kind": "<text>"|null,
 *    "record": {"parent_pid": "<principal>"|["<principal>"]|[]|null,
 *               "module_hash": "<text>"|[<byte>, ...]|null,
 *               "kind": "<text>"|null, ...}}
 * `kind` is read from the entry, else (only when the entry has no `kind`
 * key) from the record; a byte-array module hash becomes lower-case hex;
 * the array form of parent_pid is Candid's opt-as-vector. Other keys
 * (record.pid, record.role, created_at, ...) are ignored.
 *
 * Reading is strict where canic is lenient: canic silently drops an entry
 * without a string pid and reads a wrongly typed role, parent or hash as
 * absent. Here each of those is a "json-schema" error naming the path
 * ("Ok[2].record.parent_pid"), because a dropped entry would silently
 * drop that canister and its subtree from the backup. An {"Err": ...}
 * reply, or any other shape, is "registry JSON must be an array or
 * Ok-wrapped".
 *
 * Strings are malloc'd; NULL means absent/null.
 */
#ifndef SNAPFLEET_REGISTRY_H
#define SNAPFLEET_REGISTRY_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* canic's RegistryEntry {pid, role?, kind?, parent_pid?, module_hash?}. */
typedef struct sf_registry_entry {
    char *pid;
    char *role;
    char *kind; /* carried, never used */
    char *parent_pid;
    char *module_hash;
} sf_registry_entry;

/* Entries in the order the registry listed them (the order matters: it is
 * the order of siblings in the target list). */
typedef struct sf_registry {
    sf_registry_entry *entries;
    size_t count;
} sf_registry;

/* JSON -> registry. *out is overwritten (not freed first) and zeroed on
 * failure. Errors: "json-syntax", "json-schema", "out-of-memory". */
SF_API int sf_registry_parse(const char *text, size_t len, sf_registry *out,
                             sf_error *err);

/* Writes the Ok-wrapped shape, the host's own rendering of the registry
 * reply and so the one canic's CLI reads without a fallback:
 *   {"Ok": [{"pid", "role", "kind", "record": {"pid", "role",
 *            "parent_pid", "module_hash"}}]}
 * with nulls written and module hashes as text. Parsing this gives back
 * the same entries. An entry whose pid is NULL is refused ("empty-field",
 * field "Ok[i].pid"). */
SF_API int sf_registry_write_json(const sf_registry *reg, sf_buf *out,
                                  sf_error *err);

/* Releases everything inside *reg and zeroes it. NULL is a no-op. */
SF_API void sf_registry_free(sf_registry *reg);

/* Depth of pid (spec 5.6): the number of parent links followed from pid
 * (last duplicate entry wins) until an entry without a parent, a parent
 * not in the registry, or an entry already visited. root 0, child 1; a
 * 2-cycle gives 2, a self-parent 1; a pid not in the registry 0. */
SF_API uint64_t sf_registry_depth(const sf_registry *reg, const char *pid);
/* The depths of n pids at once (out[i] = sf_registry_depth(reg,
 * pids[i])), indexing the registry once instead of once per pid. */
SF_API void sf_registry_depths(const sf_registry *reg, const char *const *pids,
                               size_t n, uint64_t *out);

/* ---- targets ---- */

/* A canister a snapshot run captures; role, parent and hash may be NULL. */
typedef struct sf_target {
    char *canister_id;
    char *role;
    char *parent_canister_id;
    char *module_hash;
} sf_target;

/*
 * canic's targets_from_registry (spec 5.5): the selected entry (the last
 * one with that pid), then breadth first its children, siblings in
 * registry order, children matched by exact parent_pid equality, each pid
 * once. Not recursive: the selected entry and its direct children only.
 * A selected id not in the registry is kind "canister-not-in-registry"
 * ("registry JSON did not contain the requested canister <id>").
 * *targets is a malloc'd array (free with sf_targets_free).
 */
SF_API int sf_targets_from_registry(const sf_registry *reg, const char *selected_id,
                                    bool recursive, sf_target **targets,
                                    size_t *count, sf_error *err);

SF_API void sf_targets_free(sf_target *targets, size_t count);

/* Role naming of the snapshot pipeline (spec 5.4a): the target's role;
 * else "root" when its id equals `selected`; else "member-<i>".
 * malloc'd; NULL only when out of memory. */
SF_API char *sf_target_role_name(const sf_target *targets, size_t i,
                                 const char *selected);

/* canic's topology_hash_for_targets: one record per target (id, parent,
 * role name as above, module hash). An id that is not a principal is kind
 * "invalid-principal", field "fleet.members[i].canister_id" or
 * "fleet.members[i].parent_canister_id". */
SF_API int sf_targets_topology_hash(const char *selected, const sf_target *targets,
                                    size_t count, char out_hex[SF_SHA256_HEX_SIZE],
                                    sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
