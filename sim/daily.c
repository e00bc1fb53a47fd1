/*
 * `sim run --daily`: a backup job run every day. A fleet whose canisters
 * allow 3 snapshots, one of them taken by an operator, is backed up DAYS
 * times with on-canister retention keeping K (1 or 2): every run must
 * complete, no canister may hold more snapfleet snapshots than K after a
 * run, the operator's snapshot must stay, and `backup prune --keep 7`
 * must then leave the newest 7 backups, each verifying. Keeping 2 makes
 * the limit bite on the operator's canister (2 of ours and the
 * operator's fill it): from day 3 its create replaces its oldest
 * snapfleet snapshot. The trace of every driver call is hashed, as in
 * `sim run`.
 */
#include "snapfleet/simrun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"
#include "snapfleet/layout.h"
#include "snapfleet/wrap.h"

typedef struct daily {
    const sf_simrun_daily_config *cfg;
    sf_sim *sim;
    char dir[4096], state[4200], root[4200];
    char foreign_canister[SF_PRINCIPAL_TEXT_MAX];
    char foreign[SF_SNAPSHOT_ID_MAX];
    sf_buf trace;
    sf_buf v; /* violations */
} daily;

static int stack(daily *d, sf_driver **base, sf_driver **retry,
                 sf_driver **trace, sf_clock *clock, sf_error *err)
{
    *clock = sf_sim_clock(d->sim);
    *base = *retry = *trace = NULL;
    if (sf_sim_driver_new(d->sim, d->state, base, err) != SF_OK ||
        sf_retry_driver_new(*base, clock, 5, 100, 5000, retry, err) != SF_OK ||
        sf_trace_driver_new(*retry, clock, &d->trace, trace, err) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

static void unstack(sf_driver *base, sf_driver *retry, sf_driver *trace)
{
    sf_driver_destroy(trace);
    sf_driver_destroy(retry);
    sf_driver_destroy(base);
}

/* The operator's own snapshot of the fleet's second canister. */
static int operator_snapshot(daily *d, sf_error *err)
{
    sf_driver *base, *retry, *trace;
    sf_clock clock;
    sf_sim_canister_info info;
    sf_op_kind kinds[3] = {SF_OP_STOP, SF_OP_CREATE, SF_OP_START};
    int k, rc = SF_OK;

    if (sf_sim_canister_at(d->sim, sf_sim_canister_count(d->sim) > 1 ? 1 : 0,
                           &info, err) != SF_OK)
        return SF_ERR;
    snprintf(d->foreign_canister, sizeof d->foreign_canister, "%s", info.canister_id);
    if (stack(d, &base, &retry, &trace, &clock, err) != SF_OK) {
        unstack(base, retry, trace);
        return SF_ERR;
    }
    for (k = 0; k < 3 && rc == SF_OK; k++) {
        sf_op op;
        sf_result r;
        if ((rc = sf_op_init(&op, kinds[k], d->foreign_canister, NULL, NULL, err)) != SF_OK)
            break;
        rc = sf_driver_run(trace, &op, &r, err);
        if (rc == SF_OK && r.fail != SF_FAIL_NONE)
            rc = sf_error_set(err, "operator-snapshot", "", "%s", r.err.message);
        if (rc == SF_OK && kinds[k] == SF_OP_CREATE)
            snprintf(d->foreign, sizeof d->foreign, "%s", r.snapshot.id);
        sf_result_free(&r);
    }
    unstack(base, retry, trace);
    return rc;
}

static int backup_day(daily *d, unsigned day, sf_error *err)
{
    sf_driver *base, *retry, *trace;
    sf_clock clock;
    sf_backup_config c;
    sf_backup_result r;
    char out[4300], root_id[SF_PRINCIPAL_TEXT_MAX];
    int rc;

    snprintf(out, sizeof out, "%s/day-%03u", d->root, day);
    snprintf(root_id, sizeof root_id, "%s", sf_sim_root_id(d->sim));
    sf_buf_printf(&d->trace, "-- day %u\n", day);
    if (stack(d, &base, &retry, &trace, &clock, err) != SF_OK) {
        unstack(base, retry, trace);
        return SF_ERR;
    }
    memset(&c, 0, sizeof c);
    c.out = out;
    c.fleet = "sim";
    c.network = "local";
    c.root = root_id;
    c.include_root = true;
    c.tool_name = "snapfleet";
    c.tool_version = SF_VERSION;
    c.retain_on_canister = true;
    c.keep_on_canister = d->cfg->keep_on_canister;
    c.snapshot_limit = d->cfg->snapshot_limit;
    rc = sf_backup_run(&c, trace, &clock, &r, err);
    if (rc == SF_OK && !r.complete)
        rc = sf_error_set(err, "incomplete", "", "day %u ended incomplete", day);
    sf_backup_result_free(&r);
    unstack(base, retry, trace);
    /* a day later */
    sf_clock_sleep_ms(&clock, 86400000ull);
    return rc;
}

/* No canister holds more snapfleet snapshots than keep + 1 (the new one
 * before retention), and the operator's snapshot is still there. */
static void check_canisters(daily *d, unsigned day)
{
    size_t i, j, n = sf_sim_canister_count(d->sim);
    bool foreign_seen = false;
    sf_error err;

    for (i = 0; i < n; i++) {
        sf_sim_canister_info info;
        size_t ours = 0;
        if (sf_sim_canister_at(d->sim, i, &info, &err) != SF_OK)
            continue;
        for (j = 0; j < info.snapshot_count; j++) {
            sf_snapshot_info s;
            if (sf_sim_snapshot_at(d->sim, i, j, &s, &err) != SF_OK)
                continue;
            if (strcmp(s.id, d->foreign) == 0 &&
                strcmp(info.canister_id, d->foreign_canister) == 0)
                foreign_seen = true;
            else
                ours++;
        }
        if (ours > d->cfg->keep_on_canister)
            sf_buf_printf(&d->v, "day %u: %s holds %zu snapfleet snapshots "
                          "after retention, keep is %llu\n", day,
                          info.canister_id, ours,
                          (unsigned long long)d->cfg->keep_on_canister);
    }
    if (!foreign_seen)
        sf_buf_printf(&d->v, "day %u: the operator's snapshot %s of %s is gone\n",
                      day, d->foreign, d->foreign_canister);
}

/* Creates that replaced a snapshot: trace lines "create <canister>
 * <snapshot>". */
static uint64_t count_replaces(const sf_buf *trace)
{
    const char *p = sf_buf_cstr(trace);
    uint64_t n = 0;

    while ((p = strstr(p, " submit #")) != NULL) {
        char op[16], canister[128], snap[160];

        p++;
        snap[0] = '\0';
        if (sscanf(p, "submit #%*u %15s %127s %159s", op, canister, snap) == 3 &&
            strcmp(op, "create") == 0 && snap[0] != '\0' &&
            strspn(snap, "0123456789abcdef") == strlen(snap))
            n++;
    }
    return n;
}

int sf_simrun_daily(const sf_simrun_daily_config *cfg,
                    sf_simrun_daily_result *res, sf_error *err)
{
    daily d;
    sf_sim_config sc;
    sf_prune_result pr;
    sf_inventory inv;
    unsigned day;
    size_t i;
    int rc = SF_ERR;

    memset(res, 0, sizeof *res);
    memset(&d, 0, sizeof d);
    d.cfg = cfg;
    sf_buf_init(&d.trace);
    sf_buf_init(&d.v);
    snprintf(d.dir, sizeof d.dir, "%s/daily-%llu", cfg->work_dir,
             (unsigned long long)cfg->seed);
    snprintf(d.state, sizeof d.state, "%s/fleet.json", d.dir);
    snprintf(d.root, sizeof d.root, "%s/backups", d.dir);
    if (sf_remove_tree(d.dir, err) != SF_OK || sf_fs_mkdir_p(d.dir, err) != SF_OK)
        goto done;
    sf_sim_config_default(&sc);
    sc.seed = cfg->seed;
    sc.canister_count = cfg->canisters;
    if (sf_sim_shape(cfg->canisters, cfg->fanout, cfg->depth, &sc.max_fanout,
                     &sc.max_depth, err) != SF_OK)
        goto done;
    sc.snapshot_limit = cfg->snapshot_limit;
    sc.heap_min = 1024;
    sc.heap_max = 8192;
    sc.stable_min = 512;
    sc.stable_max = 4096;
    if (sf_sim_init(&sc, &d.sim, err) != SF_OK ||
        sf_sim_save(d.sim, d.state, err) != SF_OK ||
        operator_snapshot(&d, err) != SF_OK)
        goto done;
    for (day = 1; day <= cfg->days; day++) {
        sf_error run_err;
        sf_error_clear(&run_err);
        if (backup_day(&d, day, &run_err) != SF_OK) {
            sf_buf_printf(&d.v, "day %u did not complete: %s (%s)\n", day,
                          run_err.message, run_err.kind ? run_err.kind : "error");
            break;
        }
        res->days_complete++;
        check_canisters(&d, day);
    }
    if (sf_prune(d.root, cfg->prune_keep, false, &pr, err) != SF_OK)
        goto done;
    res->pruned = pr.deleted;
    sf_prune_result_free(&pr);
    if (sf_inventory_scan(d.root, true, &inv, err) != SF_OK)
        goto done;
    res->kept = inv.count;
    for (i = 0; i < inv.count; i++)
        if (inv.entries[i].state != SF_BACKUP_VERIFIED)
            sf_buf_printf(&d.v, "after prune: %s is %s\n", inv.entries[i].name,
                          sf_backup_state_name(inv.entries[i].state));
    if (inv.count != (cfg->days < cfg->prune_keep ? cfg->days : cfg->prune_keep))
        sf_buf_printf(&d.v, "after prune --keep %llu: %zu backups\n",
                      (unsigned long long)cfg->prune_keep, inv.count);
    sf_inventory_free(&inv);
    res->replaced = count_replaces(&d.trace);
    sf_buf_printf(&d.trace, "-- pruned %zu, kept %zu\n", res->pruned, res->kept);
    if (sf_trace_digest(&d.trace, res->digest) != SF_OK) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    res->ok = d.v.len == 0;
    if (!res->ok) {
        char *nl;
        snprintf(res->failure, sizeof res->failure, "%s", sf_buf_cstr(&d.v));
        if ((nl = strchr(res->failure, '\n')) != NULL)
            *nl = '\0';
    }
    rc = SF_OK;
done:
    if (rc == SF_OK && res->ok && !cfg->keep) {
        sf_error ignored;
        sf_remove_tree(d.dir, &ignored);
    }
    sf_sim_free(d.sim);
    sf_buf_free(&d.trace);
    sf_buf_free(&d.v);
    return rc;
}
