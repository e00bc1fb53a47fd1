/*
 * How the cost of a backup grows with the fleet: planned backups of
 * simulated fleets of growing size (small memories, instant transfers, so
 * the engine's own work is what is measured), with wall time, driver
 * operations, durable writes, metadata bytes written and fsyncs per
 * canister (every document goes through sf_fs, counted by the storage
 * seam's counting shim; artifacts do not). Growth is reported as the
 * ratio of the per-canister cost to that of the smallest fleet, measured
 * in the same run.
 *   bench_fleet [N...]        default: 8 32 128 512
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "snapfleet/backup.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/sim.h"
#include "snapfleet/storage.h"
#include "snapfleet/wrap.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long writes;

static void count_write(const char *path, void *ctx)
{
    (void)path;
    (void)ctx;
    writes++;
}

static int one(unsigned long n, const char *scratch, double *secs,
               unsigned long *ops, unsigned long *w, sf_storage_counts *io)
{
    sf_storage_counting counting;
    sf_sim_config cfg;
    sf_sim *sim;
    sf_driver *d, *t;
    sf_clock clock;
    sf_backup_config c;
    sf_backup_result r;
    sf_buf trace;
    sf_error err;
    char out[512], root[SF_PRINCIPAL_TEXT_MAX];
    double t0;
    size_t i;

    sf_sim_config_default(&cfg);
    cfg.seed = 1;
    cfg.canister_count = n;
    cfg.max_fanout = 8;
    cfg.max_depth = 6;
    cfg.heap_min = cfg.heap_max = 4096;
    cfg.stable_min = cfg.stable_max = 1024;
    cfg.module_min = cfg.module_max = 1024;
    cfg.chunk_max = 0;
    cfg.latency_ms = 1;
    cfg.bandwidth = 0;
    cfg.stop_ms = 0;
    if (sf_sim_init(&cfg, &sim, &err) != SF_OK ||
        sf_sim_driver_new(sim, NULL, &d, &err) != SF_OK)
        goto fail;
    clock = sf_sim_clock(sim);
    sf_buf_init(&trace);
    if (sf_trace_driver_new(d, &clock, &trace, &t, &err) != SF_OK)
        goto fail;
    snprintf(out, sizeof out, "%s/fleet-%lu", scratch, n);
    snprintf(root, sizeof root, "%s", sf_sim_root_id(sim));
    memset(&c, 0, sizeof c);
    c.out = out;
    c.fleet = "bench";
    c.network = "local";
    c.root = root;
    c.include_root = true;
    c.tool_name = "snapfleet";
    c.tool_version = SF_VERSION;
    writes = 0;
    sf_fs_set_write_hook(count_write, NULL);
    sf_storage_counting_init(&counting, sf_storage_posix());
    sf_fs_set_storage(&counting.storage);
    t0 = now_s();
    if (sf_backup_run(&c, t, &clock, &r, &err) != SF_OK || !r.complete)
        goto fail;
    *secs = now_s() - t0;
    sf_fs_set_storage(NULL);
    sf_fs_set_write_hook(NULL, NULL);
    *io = counting.counts;
    *w = writes;
    *ops = 0;
    for (i = 0; i < trace.len; i++)
        *ops += trace.data[i] == '\n';
    *ops /= 2; /* a submit line and a done line each */
    sf_backup_result_free(&r);
    sf_driver_destroy(t);
    sf_driver_destroy(d);
    sf_sim_free(sim);
    sf_buf_free(&trace);
    return 0;
fail:
    fprintf(stderr, "bench_fleet: n=%lu: %s\n", n, err.message);
    return 1;
}

int main(int argc, char **argv)
{
    unsigned long sizes[16] = {8, 32, 128, 512};
    int count = 4, i;
    char scratch[] = "/tmp/sf-bench-fleet-XXXXXX";
    const char *tmp = getenv("SF_BENCH_DIR");
    double base = 0;
    char cmd[600];
    struct rusage ru;

    if (argc > 1) {
        count = 0;
        for (i = 1; i < argc && count < 16; i++)
            sizes[count++] = strtoul(argv[i], NULL, 10);
    }
    if (tmp != NULL)
        snprintf(scratch, sizeof scratch, "%s", tmp);
    else if (mkdtemp(scratch) == NULL)
        return 1;
    printf("| canisters | wall s | ms per canister | growth vs %lu | driver ops | ops per canister | durable writes | writes per canister | metadata KiB per canister | bytes per durable write | fsyncs per canister |\n",
           sizes[0]);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (i = 0; i < count; i++) {
        double secs, per;
        unsigned long ops, w;
        sf_storage_counts io;

        if (one(sizes[i], scratch, &secs, &ops, &w, &io) != 0)
            return 1;
        per = secs * 1000.0 / (double)sizes[i];
        if (i == 0)
            base = per;
        printf("| %lu | %.3f | %.3f | %.2f | %lu | %.1f | %lu | %.1f | %.1f | %.0f | %.1f |\n",
               sizes[i], secs, per, per / base, ops,
               (double)ops / (double)sizes[i], w, (double)w / (double)sizes[i],
               (double)io.bytes_written / 1024.0 / (double)sizes[i],
               w ? (double)io.bytes_written / (double)w : 0.0,
               (double)(io.fsyncs + io.fdatasyncs + io.dir_syncs) /
                   (double)sizes[i]);
        fflush(stdout);
    }
    getrusage(RUSAGE_SELF, &ru);
    printf("\npeak RSS: %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
