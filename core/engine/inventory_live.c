/*
 * `backup list` with a driver: whether each backup's snapshots are still
 * on the canisters. Every canister a listed backup recorded a snapshot of
 * is listed once through the driver; a recorded snapshot counts as still
 * there when the listing shows its id. Reads only: nothing is changed.
 */
#include <stdlib.h>
#include <string.h>

#include "snapfleet/inventory.h"

typedef struct listing {
    const char *canister; /* borrowed from the inventory */
    sf_result res;
} listing;

static listing *find_listing(listing *v, size_t n, const char *canister)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(v[i].canister, canister) == 0)
            return &v[i];
    return NULL;
}

static bool listed(const sf_result *res, const char *id)
{
    size_t i;

    for (i = 0; i < res->snapshot_count; i++)
        if (strcmp(res->snapshots[i].id, id) == 0)
            return true;
    return false;
}

/* Lists canister through driver; a read whose outcome is unknown is
 * asked again (it changes nothing). */
static int list_one(sf_driver *driver, const char *canister, sf_result *res,
                    sf_error *err)
{
    sf_op op;
    int attempt;

    sf_result_init(res, SF_OP_LIST);
    if (sf_op_init(&op, SF_OP_LIST, canister, NULL, NULL, err) != SF_OK)
        return SF_ERR;
    for (attempt = 0; attempt < 3; attempt++) {
        sf_result_free(res);
        if (sf_driver_run(driver, &op, res, err) != SF_OK)
            return SF_ERR;
        if (res->fail != SF_FAIL_UNKNOWN)
            break;
    }
    if (res->fail != SF_FAIL_NONE)
        return sf_error_set(err, "driver-list-failed", "", "listing the "
                            "snapshots of %s: %s (%s)", canister,
                            res->err.message, sf_fail_class_name(res->fail));
    return SF_OK;
}

int sf_inventory_check_canisters(sf_inventory *inv, sf_driver *driver,
                                 sf_error *err)
{
    listing *v = NULL;
    size_t i, k, n = 0, cap = 0;
    int rc = SF_OK;

    for (i = 0; i < inv->count && rc == SF_OK; i++) {
        sf_backup_entry *e = &inv->entries[i];
        long found = 0;

        if (e->snapshot_count == 0)
            continue; /* nothing recorded: stays "not checked" */
        for (k = 0; k < e->snapshot_count && rc == SF_OK; k++) {
            const sf_recorded_snapshot *s = &e->snapshots[k];
            listing *l = find_listing(v, n, s->canister_id);

            if (l == NULL) {
                if (n == cap) {
                    size_t ncap = cap ? cap * 2 : 16;
                    listing *g = realloc(v, ncap * sizeof *g);
                    if (g == NULL) {
                        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
                        break;
                    }
                    v = g;
                    cap = ncap;
                }
                l = &v[n];
                l->canister = s->canister_id;
                rc = list_one(driver, s->canister_id, &l->res, err);
                n++;
                if (rc != SF_OK)
                    break;
            }
            if (listed(&l->res, s->snapshot_id))
                found++;
        }
        e->on_canister = found;
    }
    if (rc != SF_OK)
        for (i = 0; i < inv->count; i++)
            inv->entries[i].on_canister = -1;
    for (i = 0; i < n; i++)
        sf_result_free(&v[i].res);
    free(v);
    return rc;
}
