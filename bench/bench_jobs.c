/*
 * What running several operations at once buys, in the simulator's
 * virtual time (issue 12's figures): a fleet of 100 canisters holding
 * 64 MiB each, 20 MB/s per stream and a 400 MB/s link shared by every
 * transfer in flight (sim.h), 20 ms per call, 50 ms per stop. Rows: the
 * backup with each schedule, the span in which the fleet stands stopped
 * (first stop to last start) and the median time one canister stands
 * stopped, each at the given numbers of jobs; and a restore of the same
 * fleet from the first backup (every member uploaded) at the same numbers
 * of jobs, each from the fleet as that backup left it. Virtual time
 * depends only on the operations and the model, so the figures are the
 * same on every machine; CPU seconds are this machine's.
 *   bench_jobs [--scale K] [--canisters N] [--jobs A,B,...]
 * --jobs: the numbers of jobs, each row's ratios against the first
 * (default 1,8,16).
 * --scale K (1, 2, 4, 8, 16 or 32; default 32) divides every size and
 * both bandwidths by K: the transfer times, and so every virtual figure,
 * stay those of the full sizes (each is bytes / rate, and both shrink
 * alike), while the bytes actually generated, written and hashed are K
 * times fewer (6.4 GB per backup at --scale 1). Uploads carry a few
 * hundred bytes of metadata that do not shrink: restore figures can
 * differ by a ms or so from the full size's.
 * SF_BENCH_DIR: the scratch directory (default: a new one under /tmp,
 * removed at the end).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "snapfleet/backup.h"
#include "snapfleet/restore.h"
#include "snapfleet/sim.h"
#include "snapfleet/wrap.h"

#define MIB ((uint64_t)1 << 20)
#define STREAM_BPMS 20000u /* 20 MB/s in bytes per virtual ms */
#define LINK_BPMS 400000u  /* 400 MB/s */
#define MAX_CANISTERS 1000

static uint64_t scale = 32, canisters = 100;

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* The fleet: 64 MiB per canister (48 MiB heap, 16 MiB stable memory less
 * an 8 KiB module, no chunk store), divided by the scale. */
static int fleet(sf_sim **sim, sf_error *err)
{
    sf_sim_config cfg;

    sf_sim_config_default(&cfg);
    cfg.seed = 12;
    cfg.canister_count = canisters;
    if (sf_sim_shape(canisters, 0, 0, &cfg.max_fanout, &cfg.max_depth,
                     err) != SF_OK)
        return SF_ERR;
    cfg.heap_min = cfg.heap_max = 48 * MIB / scale;
    cfg.module_min = cfg.module_max = 8192 / scale;
    cfg.stable_min = cfg.stable_max = 16 * MIB / scale - cfg.module_max;
    cfg.chunk_max = 0;
    cfg.bandwidth = STREAM_BPMS / scale;
    cfg.link_bandwidth = LINK_BPMS / scale;
    return sf_sim_init(&cfg, sim, err);
}

typedef struct figures {
    uint64_t virtual_ms;
    uint64_t span_ms;        /* first stop to last start; 0 if none */
    uint64_t median_stop_ms; /* one canister's stop to its start */
    unsigned long ops;
    double cpu;
} figures;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* From the trace (wrap.h's format): the stopped span, the median time a
 * canister stood stopped, and the number of operations. */
static void read_trace(const sf_buf *trace, figures *f)
{
    static char ids[MAX_CANISTERS][SF_PRINCIPAL_TEXT_MAX];
    static uint64_t stop_at[MAX_CANISTERS], start_at[MAX_CANISTERS];
    uint64_t first = UINT64_MAX, last = 0, spans[MAX_CANISTERS];
    size_t n = 0, k = 0, i;
    const char *p = trace->data, *end = trace->data + trace->len;

    f->ops = 0;
    while (p != NULL && p < end) {
        unsigned long long t, ticket;
        char what[16], op[16], id[SF_PRINCIPAL_TEXT_MAX];

        if (sscanf(p, "t=%llu %15s #%llu %15s %63s", &t, what, &ticket, op,
                   id) == 5) {
            bool stop = strcmp(what, "submit") == 0 && strcmp(op, "stop") == 0;
            bool start = strcmp(what, "done") == 0 && strcmp(op, "start") == 0;

            f->ops += strcmp(what, "done") == 0;
            if (stop || start) {
                for (i = 0; i < n && strcmp(ids[i], id) != 0; i++)
                    ;
                if (i == n && n < MAX_CANISTERS) {
                    snprintf(ids[n], sizeof ids[n], "%s", id);
                    stop_at[n] = start_at[n] = 0;
                    n++;
                }
                if (i < n && stop && stop_at[i] == 0)
                    stop_at[i] = t;
                if (i < n && start)
                    start_at[i] = t;
                if (stop && t < first)
                    first = t;
                if (start && t > last)
                    last = t;
            }
        }
        p = memchr(p, '\n', (size_t)(end - p));
        if (p != NULL)
            p++;
    }
    f->span_ms = first != UINT64_MAX && last >= first ? last - first : 0;
    for (i = 0; i < n; i++)
        if (stop_at[i] != 0 && start_at[i] >= stop_at[i])
            spans[k++] = start_at[i] - stop_at[i];
    qsort(spans, k, sizeof spans[0], cmp_u64);
    f->median_stop_ms = k == 0 ? 0 : spans[k / 2];
}

/* One backup of a fresh fleet into dir; the fleet and its driver are
 * kept for the restore rows when keep is not NULL. */
static int backup_row(const char *dir, sf_backup_schedule schedule,
                      unsigned jobs, figures *f, sf_sim **keep)
{
    sf_sim *sim = NULL;
    sf_driver *d = NULL, *t = NULL;
    sf_clock clock;
    sf_backup_config c;
    sf_backup_result r;
    sf_buf trace;
    sf_error err;
    char root[SF_PRINCIPAL_TEXT_MAX];
    uint64_t t0;
    double c0;
    int rc = SF_ERR;

    sf_buf_init(&trace);
    memset(&r, 0, sizeof r);
    if (fleet(&sim, &err) != SF_OK ||
        sf_sim_driver_new(sim, NULL, &d, &err) != SF_OK)
        goto done;
    clock = sf_sim_clock(sim);
    if (sf_trace_driver_new(d, &clock, &trace, &t, &err) != SF_OK)
        goto done;
    snprintf(root, sizeof root, "%s", sf_sim_root_id(sim));
    memset(&c, 0, sizeof c);
    c.out = dir;
    c.fleet = "bench";
    c.network = "local";
    c.root = root;
    c.include_root = true;
    c.schedule = schedule;
    c.tool_name = "snapfleet";
    c.tool_version = SF_VERSION;
    c.jobs = jobs;
    c0 = cpu_s();
    t0 = sf_sim_now_ms(sim);
    if (sf_backup_run(&c, t, &clock, &r, &err) != SF_OK)
        goto done;
    if (!r.complete) {
        sf_error_set(&err, "incomplete", "", "the backup did not complete");
        goto done;
    }
    f->virtual_ms = sf_sim_now_ms(sim) - t0;
    f->cpu = cpu_s() - c0;
    read_trace(&trace, f);
    rc = SF_OK;
done:
    if (rc != SF_OK)
        fprintf(stderr, "bench_jobs: backup: %s\n", err.message);
    sf_backup_result_free(&r);
    sf_driver_destroy(t);
    sf_driver_destroy(d);
    sf_buf_free(&trace);
    if (rc == SF_OK && keep != NULL)
        *keep = sim;
    else
        sf_sim_free(sim);
    return rc;
}

/* A restore in place, with `jobs`, of the fleet whose state is state
 * from the backup in dir, every member uploaded, its own state in
 * restore_dir. */
static int restore_row(const sf_buf *state, const char *dir,
                       const char *restore_dir, unsigned jobs, figures *f)
{
    sf_sim *sim = NULL;
    sf_driver *d = NULL, *t = NULL;
    sf_clock clock;
    sf_restore_config c;
    sf_restore_result r;
    sf_buf trace;
    sf_error err;
    uint64_t t0;
    double c0;
    int rc = SF_ERR;

    sf_buf_init(&trace);
    memset(&r, 0, sizeof r);
    if (sf_sim_load_json(state->data, state->len, &sim, &err) != SF_OK)
        goto done;
    clock = sf_sim_clock(sim);
    if (sf_sim_driver_new(sim, NULL, &d, &err) != SF_OK ||
        sf_trace_driver_new(d, &clock, &trace, &t, &err) != SF_OK)
        goto done;
    memset(&c, 0, sizeof c);
    c.backup = dir;
    c.restore_dir = restore_dir;
    c.mode = SF_RESTORE_MODE_EXECUTE;
    c.force_upload = true;
    c.jobs = jobs;
    c0 = cpu_s();
    t0 = sf_sim_now_ms(sim);
    if (sf_restore_run(&c, t, &clock, &r, &err) != SF_OK)
        goto done;
    if (!r.complete) {
        sf_error_set(&err, "incomplete", "", "the restore stopped: %s",
                     r.stopped_reason ? r.stopped_reason : "?");
        goto done;
    }
    f->virtual_ms = sf_sim_now_ms(sim) - t0;
    f->cpu = cpu_s() - c0;
    read_trace(&trace, f);
    rc = SF_OK;
done:
    if (rc != SF_OK)
        fprintf(stderr, "bench_jobs: restore: %s\n", err.message);
    sf_restore_result_free(&r);
    sf_driver_destroy(t);
    sf_driver_destroy(d);
    sf_sim_free(sim);
    sf_buf_free(&trace);
    return rc;
}

static int parse_jobs(const char *s, unsigned *jobs, size_t cap, size_t *n)
{
    char *end;

    *n = 0;
    while (*s != '\0' && *n < cap) {
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v < 1 || v > 64 || (*end != ',' && *end != '\0'))
            return -1;
        jobs[(*n)++] = (unsigned)v;
        s = *end == ',' ? end + 1 : end;
    }
    return *n > 0 && *s == '\0' ? 0 : -1;
}

static void print_row(const char *what, unsigned jobs, const figures *f,
                      const figures *base)
{
    printf("| %s | %u | %.3f | %.3f | %.3f | %.3f | %.3f | %lu | %.1f |\n",
           what, jobs, (double)f->virtual_ms / 1000.0,
           base->virtual_ms ? (double)f->virtual_ms / (double)base->virtual_ms
                            : 0.0,
           (double)f->span_ms / 1000.0,
           base->span_ms ? (double)f->span_ms / (double)base->span_ms : 0.0,
           (double)f->median_stop_ms / 1000.0, f->ops, f->cpu);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        sf_backup_schedule schedule;
    } schedules[] = {
        {"backup, fleet schedule", SF_BACKUP_FLEET},
        {"backup, per-canister schedule", SF_BACKUP_PER_CANISTER},
    };
    unsigned jobs[8] = {1, 8, 16};
    size_t njobs = 3, s, j;
    char scratch[400] = "/tmp/sf-bench-jobs-XXXXXX", dir[600], rdir[700],
         cmd[500];
    const char *tmp = getenv("SF_BENCH_DIR");
    figures f, base = {0};
    sf_sim *sim = NULL;
    sf_buf state;
    sf_error err;
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            scale = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--canisters") == 0 && i + 1 < argc)
            canisters = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
            if (parse_jobs(argv[++i], jobs, 8, &njobs) != 0) {
                fprintf(stderr, "bench_jobs: --jobs takes up to 8 numbers "
                        "1..64, comma-separated\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_jobs [--scale K] [--canisters N] "
                    "[--jobs A,B,...]\n");
            return 2;
        }
    }
    if (scale < 1 || scale > 32 || (scale & (scale - 1)) != 0 ||
        canisters < 1 || canisters > MAX_CANISTERS) {
        fprintf(stderr, "bench_jobs: --scale is 1, 2, 4, 8, 16 or 32; "
                "--canisters 1..%d\n", MAX_CANISTERS);
        return 2;
    }
    if (tmp != NULL)
        snprintf(scratch, sizeof scratch, "%s", tmp);
    else if (mkdtemp(scratch) == NULL)
        return 1;
    printf("%llu canisters of 64 MiB, 20 MB/s per stream, a 400 MB/s link "
           "(scale 1/%llu)\n\n",
           (unsigned long long)canisters, (unsigned long long)scale);
    printf("| run | jobs | virtual s | vs jobs %u | stopped span s | vs jobs %u "
           "| median canister stopped s | driver ops | CPU s |\n",
           jobs[0], jobs[0]);
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (s = 0; s < sizeof schedules / sizeof schedules[0]; s++) {
        for (j = 0; j < njobs; j++) {
            snprintf(dir, sizeof dir, "%s/backup-%zu-%u", scratch, s, jobs[j]);
            memset(&f, 0, sizeof f);
            if (backup_row(dir, schedules[s].schedule, jobs[j], &f,
                           s == 0 && j == 0 ? &sim : NULL) != SF_OK)
                return 1;
            if (j == 0)
                base = f;
            print_row(schedules[s].name, jobs[j], &f, &base);
        }
    }
    /* restores of the fleet the first backup left, from that backup, each
     * from that fleet (a copy of its state) into its own directory */
    sf_buf_init(&state);
    if (sf_sim_state_json(sim, &state, &err) != SF_OK) {
        fprintf(stderr, "bench_jobs: %s\n", err.message);
        return 1;
    }
    sf_sim_free(sim);
    snprintf(dir, sizeof dir, "%s/backup-0-%u", scratch, jobs[0]);
    for (j = 0; j < njobs; j++) {
        snprintf(rdir, sizeof rdir, "%s/restore-%u", scratch, jobs[j]);
        memset(&f, 0, sizeof f);
        if (restore_row(&state, dir, rdir, jobs[j], &f) != SF_OK)
            return 1;
        if (j == 0)
            base = f;
        print_row("restore, every member uploaded", jobs[j], &f, &base);
    }
    sf_buf_free(&state);
    if (tmp != NULL)
        return 0;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
