/*
 * How the cost of a backup grows with the fleet: planned backups of
 * simulated fleets of growing size (small memories, instant transfers, so
 * the engine's own work is what is measured), with wall time, driver
 * operations, transitions (appends to the transition log), durable
 * writes, metadata bytes written per canister and per transition, fsyncs
 * per canister (every document and log record goes through the storage
 * seam, counted by its counting shim; artifacts do not) and peak RSS.
 * Each size runs in its own child process, so its peak RSS is its own.
 * Growth is the ratio of the per-canister time to that of the first
 * size, measured in the same run.
 *   bench_fleet [N...]        default: 64 256 1024 4096
 * SF_BENCH_DIR: the scratch directory (default: a new one under /tmp);
 * SF_BENCH_KEEP=1 leaves the backups there (fleet-N), to compare the
 * documents two builds write.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapfleet/backup.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/sim.h"
#include "snapfleet/storage.h"
#include "snapfleet/wrap.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long writes, appends;

static void count_write(const char *path, void *ctx)
{
    static const char log_name[] = "/" SF_TRANSITION_LOG_FILE_NAME;
    size_t n = strlen(path);

    (void)ctx;
    writes++;
    appends += n >= sizeof log_name - 1 &&
               strcmp(path + n - (sizeof log_name - 1), log_name) == 0;
}

static int one(unsigned long n, const char *scratch, double *secs,
               unsigned long *ops, unsigned long *w, unsigned long *tr,
               sf_storage_counts *io)
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
    writes = appends = 0;
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
    *tr = appends;
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

/* One size in a child process: its row, with the child's peak RSS. */
static int row(unsigned long n, const char *scratch, double *base, int first)
{
    int fds[2], status;
    pid_t pid;
    struct rusage ru;
    struct {
        double secs;
        unsigned long ops, w, tr;
        sf_storage_counts io;
        int rc;
    } m;
    double per, cpu, cpu_per;
    char cmd[700];

    /* a size measured again starts from nothing: a complete backup left
     * by the last row would make this one a rerun that does nothing
     * (removed here, so that the child's CPU time is its backup alone) */
    snprintf(cmd, sizeof cmd, "rm -rf '%s/fleet-%lu'", scratch, n);
    if (system(cmd) != 0)
        return 1;
    if (pipe(fds) != 0 || (pid = fork()) < 0)
        return 1;
    if (pid == 0) {
        close(fds[0]);
        memset(&m, 0, sizeof m);
        m.rc = one(n, scratch, &m.secs, &m.ops, &m.w, &m.tr, &m.io);
        _exit(write(fds[1], &m, sizeof m) == (ssize_t)sizeof m ? 0 : 1);
    }
    close(fds[1]);
    memset(&m, 0, sizeof m);
    if (read(fds[0], &m, sizeof m) != (ssize_t)sizeof m)
        m.rc = 1;
    close(fds[0]);
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || m.rc != 0)
        return 1;
    per = m.secs * 1000.0 / (double)n;
    /* the child's CPU time (setup included): on a loaded machine wall time
     * is mostly waiting for a core */
    cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
          (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    cpu_per = cpu * 1000.0 / (double)n;
    if (first)
        *base = cpu_per;
    printf("| %lu | %.3f | %.3f | %.3f | %.3f | %.2f | %lu | %.1f | %lu | %lu | %.1f | %.1f | %.0f | %.1f | %.1f |\n",
           n, m.secs, per, cpu, cpu_per, cpu_per / *base, m.ops,
           (double)m.ops / (double)n,
           m.tr, m.w, (double)m.w / (double)n,
           (double)m.io.bytes_written / 1024.0 / (double)n,
           m.tr ? (double)m.io.bytes_written / (double)m.tr : 0.0,
           (double)(m.io.fsyncs + m.io.fdatasyncs + m.io.dir_syncs) /
               (double)n,
           (double)ru.ru_maxrss / 1024.0);
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long sizes[16] = {64, 256, 1024, 4096};
    int count = 4, i;
    char scratch[400] = "/tmp/sf-bench-fleet-XXXXXX";
    const char *tmp = getenv("SF_BENCH_DIR");
    double base = 0;
    char cmd[600];

    if (argc > 1) {
        count = 0;
        for (i = 1; i < argc && count < 16; i++)
            sizes[count++] = strtoul(argv[i], NULL, 10);
    }
    if (tmp != NULL)
        snprintf(scratch, sizeof scratch, "%s", tmp);
    else if (mkdtemp(scratch) == NULL)
        return 1;
    printf("| canisters | wall s | wall ms per canister | CPU s | CPU ms per canister | CPU growth vs %lu | driver ops | ops per canister | transitions | durable writes | writes per canister | metadata KiB per canister | metadata bytes per transition | fsyncs per canister | peak RSS MiB |\n",
           sizes[0]);
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    fflush(stdout);
    for (i = 0; i < count; i++)
        if (row(sizes[i], scratch, &base, i == 0) != 0) {
            fprintf(stderr, "bench_fleet: %lu canisters failed\n", sizes[i]);
            return 1;
        }
    if (getenv("SF_BENCH_KEEP") != NULL && strcmp(getenv("SF_BENCH_KEEP"), "1") == 0)
        return 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
