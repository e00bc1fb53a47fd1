/*
 * Fuzz target for the registry: whatever parses must write and parse back
 * to the same entries and bytes; target resolution from the first pid,
 * recursive and not, must start with that pid, list each pid once, keep
 * the direct children inside the recursive list, and its topology hash and
 * the depth of every target must compute without crashing. Everything is
 * freed: a leak is a bug.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/registry.h"

static bool same_opt(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void check_targets(const sf_registry *reg, const char *pid,
                          bool recursive, size_t *count)
{
    sf_target *t;
    size_t n, i, k;
    sf_error err;
    char hex[SF_SHA256_HEX_SIZE];

    if (sf_targets_from_registry(reg, pid, recursive, &t, &n, &err) != SF_OK)
        abort();
    if (n == 0 || n > reg->count || strcmp(t[0].canister_id, pid) != 0)
        abort();
    for (i = 0; i < n; i++)
        for (k = i + 1; k < n; k++)
            if (strcmp(t[i].canister_id, t[k].canister_id) == 0)
                abort();
    /* ids may be anything here, so an invalid principal is a fine result */
    (void)sf_targets_topology_hash(pid, t, n, hex, &err);
    for (i = 0; i < n; i++)
        if (sf_registry_depth(reg, t[i].canister_id) > reg->count)
            abort();
    *count = n;
    sf_targets_free(t, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_registry reg, again;
    sf_buf first, second;
    sf_error err;
    size_t i, direct = 0, all = 0;

    if (sf_registry_parse((const char *)data, size, &reg, &err) != SF_OK)
        return 0;
    sf_buf_init(&first);
    sf_buf_init(&second);
    if (sf_registry_write_json(&reg, &first, &err) != SF_OK)
        abort();
    if (sf_registry_parse(first.data, first.len, &again, &err) != SF_OK)
        abort();
    if (again.count != reg.count)
        abort();
    for (i = 0; i < reg.count; i++) {
        const sf_registry_entry *a = &reg.entries[i], *b = &again.entries[i];
        if (strcmp(a->pid, b->pid) != 0 || !same_opt(a->role, b->role) ||
            !same_opt(a->kind, b->kind) ||
            !same_opt(a->parent_pid, b->parent_pid) ||
            !same_opt(a->module_hash, b->module_hash))
            abort();
    }
    if (sf_registry_write_json(&again, &second, &err) != SF_OK)
        abort();
    if (first.len != second.len || memcmp(first.data, second.data, first.len))
        abort();
    if (reg.count > 0) {
        check_targets(&reg, reg.entries[0].pid, false, &direct);
        check_targets(&reg, reg.entries[0].pid, true, &all);
        if (direct > all)
            abort();
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_registry_free(&again);
    sf_registry_free(&reg);
    return 0;
}
