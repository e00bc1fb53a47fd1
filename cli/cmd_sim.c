/* sim init, sim show, sim registry, sim mutate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/sim.h"
#include "snapfleet/simrun.h"
#include <poll.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static const char init_usage[] =
    "usage: snapfleet sim init --state FILE [--seed N] [--canisters N]\n"
    "           [--fanout N] [--depth N] [--heap-min B] [--heap-max B]\n"
    "           [--stable-min B] [--stable-max B] [--stopped-percent P]\n"
    "           [--snapshot-limit N] [--latency-ms MS] [--bandwidth B]\n"
    "           [--link-bandwidth B]\n\n"
    "Creates a simulated fleet, generated from the seed, and saves it to FILE.\n"
    "Memory contents are generated from the seed as they are read, so large\n"
    "sizes cost no memory.\n\n"
    "  --seed N            (default 1)        --canisters N   root included (8)\n"
    "  --fanout N          children per canister (3, more for a fleet\n"
    "                      over 40 without --depth)\n"
    "  --depth N           levels below the root, 1..64 (3, more for a\n"
    "                      fleet --fanout alone cannot hold)\n"
    "  --heap-min/-max B   wasm heap bytes    --stable-min/-max B  stable memory bytes\n"
    "  --stopped-percent P share of canisters initially stopped (0)\n"
    "  --snapshot-limit N  snapshots a canister may hold\n"
    "  --latency-ms MS     virtual time per call\n"
    "  --bandwidth B       transfer bytes per virtual millisecond, per stream\n"
    "                      (0: instant)\n"
    "  --link-bandwidth B  bytes per virtual millisecond all transfers in\n"
    "                      flight share (0: unlimited, the default)\n";

static int parse_u64(const char *cmd, const char *name, const char *arg,
                     uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || arg[0] == '-') {
        cli_usage(cmd, "%s takes a non-negative number, not `%s`", name, arg);
        return -1;
    }
    return 0;
}

/* --fanout and --depth: a given one must be 1 or more (depth at most
 * SF_SIM_DEPTH_MAX), one not given is chosen for the fleet's size
 * (sf_sim_shape), and a fleet the tree cannot hold is a usage error. */
static bool shape_options(const char *cmd, sf_sim_config *cfg, bool fanout_given,
                          bool depth_given, uint64_t canisters_max)
{
    sf_error err;

    if (fanout_given && cfg->max_fanout < 1) {
        cli_usage(cmd, "--fanout takes 1 or more, not 0");
        return false;
    }
    if (depth_given && (cfg->max_depth < 1 || cfg->max_depth > SF_SIM_DEPTH_MAX)) {
        cli_usage(cmd, "--depth takes 1 to %d, not %llu", SF_SIM_DEPTH_MAX,
                  (unsigned long long)cfg->max_depth);
        return false;
    }
    if (cfg->canister_count < 1 || cfg->canister_count > canisters_max) {
        cli_usage(cmd, "--canisters takes 1 to %llu, not %llu",
                  (unsigned long long)canisters_max,
                  (unsigned long long)cfg->canister_count);
        return false;
    }
    sf_error_clear(&err);
    if (sf_sim_shape(cfg->canister_count, fanout_given ? cfg->max_fanout : 0,
                     depth_given ? cfg->max_depth : 0, &cfg->max_fanout,
                     &cfg->max_depth, &err) != SF_OK) {
        cli_usage(cmd, "%s%s", err.message,
                  fanout_given && depth_given
                      ? "; give a larger --fanout or --depth, or fewer --canisters"
                      : "");
        return false;
    }
    return true;
}

/* Codes above every character, clear of the operand code 1. */
#define SIM_OPT 0x100

int cmd_sim_init(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"state", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, SIM_OPT + 1},
        {"canisters", required_argument, NULL, SIM_OPT + 2},
        {"fanout", required_argument, NULL, SIM_OPT + 3},
        {"depth", required_argument, NULL, SIM_OPT + 4},
        {"heap-min", required_argument, NULL, SIM_OPT + 5},
        {"heap-max", required_argument, NULL, SIM_OPT + 6},
        {"stable-min", required_argument, NULL, SIM_OPT + 7},
        {"stable-max", required_argument, NULL, SIM_OPT + 8},
        {"stopped-percent", required_argument, NULL, SIM_OPT + 9},
        {"snapshot-limit", required_argument, NULL, SIM_OPT + 10},
        {"latency-ms", required_argument, NULL, SIM_OPT + 11},
        {"bandwidth", required_argument, NULL, SIM_OPT + 12},
        {"link-bandwidth", required_argument, NULL, SIM_OPT + 13},
        {NULL, 0, NULL, 0},
    };
    uint64_t *fields[14];
    const char *state = NULL;
    sf_sim_lock lock = {NULL};
    sf_sim_config cfg;
    sf_sim *sim;
    sf_error err;
    cli_args a;
    bool fanout_given = false, depth_given = false;
    int c;

    sf_sim_config_default(&cfg);
    fields[1] = &cfg.seed;
    fields[2] = &cfg.canister_count;
    fields[3] = &cfg.max_fanout;
    fields[4] = &cfg.max_depth;
    fields[5] = &cfg.heap_min;
    fields[6] = &cfg.heap_max;
    fields[7] = &cfg.stable_min;
    fields[8] = &cfg.stable_max;
    fields[9] = &cfg.stopped_percent;
    fields[10] = &cfg.snapshot_limit;
    fields[11] = &cfg.latency_ms;
    fields[12] = &cfg.bandwidth;
    fields[13] = &cfg.link_bandwidth;
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, init_usage))
            return EXIT_OK;
        if (c == 's') {
            state = optarg;
        } else if (c > SIM_OPT && c <= SIM_OPT + 13) {
            if (parse_u64("sim init", opts[c - SIM_OPT + 2].name, optarg,
                          fields[c - SIM_OPT]) != 0)
                return EXIT_USAGE;
            fanout_given |= c == SIM_OPT + 3;
            depth_given |= c == SIM_OPT + 4;
        } else {
            return cli_args_usage(&a, "sim init");
        }
    }
    if (a.count != 0)
        return cli_usage("sim init", "unexpected argument: %s", a.operands[0]);
    if (state == NULL)
        return cli_usage("sim init", "--state FILE is required");
    sf_error_clear(&err);
    if (!shape_options("sim init", &cfg, fanout_given, depth_given, 1000000))
        return EXIT_USAGE;
    if (sf_sim_config_validate(&cfg, &err) != SF_OK)
        return cli_usage("sim init", "%s", err.message);
    if (sf_sim_init(&cfg, &sim, &err) != SF_OK)
        return cli_fail(NULL, &err);
    if (sf_sim_lock_acquire(state, &lock, &err) != SF_OK ||
        sf_sim_save(sim, state, &err) != SF_OK) {
        sf_sim_lock_release(&lock);
        sf_sim_free(sim);
        return cli_fail(state, &err);
    }
    sf_sim_lock_release(&lock);
    printf("%s: %zu canisters under root %s\n", state, sf_sim_canister_count(sim),
           sf_sim_root_id(sim));
    sf_sim_free(sim);
    return EXIT_OK;
}

static const char show_usage[] =
    "usage: snapfleet sim show --state FILE [--json]\n\n"
    "Per canister: id, parent, role, module hash, status, state digest (SHA-256\n"
    "of its memory contents) and snapshots.\n";
static const char registry_usage[] =
    "usage: snapfleet sim registry --state FILE\n\n"
    "Prints the root's registry JSON in canic's shape.\n";
static const char mutate_usage[] =
    "usage: snapfleet sim mutate --state FILE --canister ID\n\n"
    "Changes a canister's memory contents (its state digest changes).\n";

enum { SHOW, REGISTRY, MUTATE };

static int sim_view(int argc, char **argv, int what)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"state", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"canister", required_argument, NULL, 'c'},
        {NULL, 0, NULL, 0},
    };
    static const char *const names[] = {"sim show", "sim registry", "sim mutate"};
    static const char *const usages[] = {show_usage, registry_usage, mutate_usage};
    const char *state = NULL, *canister = NULL, *cmd = names[what];
    sf_sim_lock lock = {NULL};
    bool json = false;
    sf_sim *sim;
    sf_error err;
    sf_buf b;
    cli_args a;
    int c, rc;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, usages[what]))
            return EXIT_OK;
        if (c == 's')
            state = optarg;
        else if (c == 'j' && what == SHOW)
            json = true;
        else if (c == 'c' && what == MUTATE)
            canister = optarg;
        else
            return cli_args_usage(&a, cmd);
    }
    if (a.count != 0)
        return cli_usage(cmd, "unexpected argument: %s", a.operands[0]);
    if (state == NULL)
        return cli_usage(cmd, "--state FILE is required");
    if (what == MUTATE && canister == NULL)
        return cli_usage(cmd, "--canister ID is required");
    sf_error_clear(&err);
    /* a change holds the state file's lock from the load to the save */
    if (what == MUTATE && sf_sim_lock_acquire(state, &lock, &err) != SF_OK)
        return cli_fail(state, &err);
    if (sf_sim_load(state, &sim, &err) != SF_OK) {
        sf_sim_lock_release(&lock);
        return cli_fail(state, &err);
    }
    sf_buf_init(&b);
    switch (what) {
    case SHOW:
        rc = json ? sf_sim_show_json(sim, &b, &err) : sf_sim_show_text(sim, &b, &err);
        break;
    case REGISTRY:
        rc = sf_sim_registry_json(sim, &b, &err);
        break;
    default:
        rc = sf_sim_mutate(sim, canister, &err);
        if (rc == SF_OK)
            rc = sf_sim_save(sim, state, &err);
        if (rc == SF_OK)
            sf_buf_printf(&b, "%s: memory of %s changed", state, canister);
        break;
    }
    if (rc == SF_OK) {
        fwrite(sf_buf_cstr(&b), 1, b.len, stdout);
        if (b.len == 0 || b.data[b.len - 1] != '\n')
            fputc('\n', stdout);
    }
    sf_buf_free(&b);
    sf_sim_free(sim);
    sf_sim_lock_release(&lock);
    return rc == SF_OK ? EXIT_OK : cli_fail(state, &err);
}

int cmd_sim_show(int argc, char **argv) { return sim_view(argc, argv, SHOW); }
int cmd_sim_registry(int argc, char **argv) { return sim_view(argc, argv, REGISTRY); }
int cmd_sim_mutate(int argc, char **argv) { return sim_view(argc, argv, MUTATE); }

static const char run_usage[] =
    "usage: snapfleet sim run --seeds A..B [--canisters N] [--fanout N]\n"
    "           [--depth N] [--disk sim|posix] [--workers N] [--work DIR]\n"
    "           [--keep] [--no-crash] [--daily [--days N]]\n\n"
    "Deterministic simulation testing: for every seed, a fleet generated from\n"
    "the seed, a random fault plan, in one seed of four a crash after a\n"
    "random number of durable writes, a backup in one of three modes, a\n"
    "rerun when the first run failed or crashed, a restore, and the\n"
    "invariants (nothing left stopped, every snapshot recorded, the backup\n"
    "verifies and holds each canister's memory, the restore brings it back).\n"
    "On the simulated disk (the default) a crash happens in process: the\n"
    "disk keeps only what was synced and may tear the last write, the\n"
    "simulated IC keeps its state, and the seed also draws crashes inside a\n"
    "write and disk faults (EIO, ENOSPC, slow calls); the disk lives in\n"
    "memory alone: nothing is written to the real file system for a seed\n"
    "(a failed seed's tree is copied to the work directory), nothing is\n"
    "fsynced and no process is forked. On the POSIX disk the crash is a\n"
    "child process killed with SIGKILL and the fleet is saved to a state\n"
    "file after every call. One line per seed with the SHA-256 of the run's\n"
    "trace: the same seed and disk give the same digest on every machine,\n"
    "with any number of workers. Replay a seed's faults with `snapfleet\n"
    "backup --faults ...`.\n"
    "A first line starting with # gives the fleet's size, shape and disk;\n"
    "the last the counts and the SHA-256 of every seed's line in order.\n\n"
    "  --seeds A..B     inclusive range (or one number)\n"
    "  --canisters N    fleet size, root included, 1..10000 (default 6)\n"
    "  --fanout N       children per canister (default 3; a larger fleet\n"
    "                   without --depth gets the smallest that holds it)\n"
    "  --depth N        levels below the root, 1..64 (default 3; more when\n"
    "                   --fanout alone cannot hold the fleet)\n"
    "  --disk sim|posix where backups live (default sim: the simulated disk,\n"
    "                   in memory)\n"
    "  --workers N      processes running seeds side by side, 1..64\n"
    "                   (default 1); the output is the same for any N\n"
    "  --work DIR       work directory (default: a fresh one under $TMPDIR,\n"
    "                   else /tmp); on the simulated disk it receives only\n"
    "                   the trees of failed or kept seeds\n"
    "  --keep           keep every seed's directory (failed ones are kept;\n"
    "                   on the simulated disk: copied to the work directory)\n"
    "  --no-crash       no crash scenarios\n"
    "  --daily          instead, per seed: a backup job run every day on a fleet\n"
    "                   that allows 3 snapshots per canister, one taken by an\n"
    "                   operator, with --keep-on-canister K, K drawn from\n"
    "                   the seed (odd seeds 1, even seeds 2: then the\n"
    "                   operator's canister is full before each create from\n"
    "                   day 3, and the create replaces its oldest snapfleet\n"
    "                   snapshot); every day must complete, the operator's\n"
    "                   snapshot stay, and `backup prune --keep 7` leave the\n"
    "                   newest 7 backups. The line gives K and the replaces.\n"
    "                   Runs on the POSIX disk only\n"
    "  --days N         days of the daily scenario (default 30)\n"
    "Exit status: 0 every seed kept every invariant, 1 otherwise.\n";

/* ---- sim run: seeds, inline or spread over worker processes ---- */

typedef struct run_opts {
    uint64_t canisters, fanout, depth, days; /* fan-out, depth 0: chosen */
    const char *work;
    bool keep, crash, daily;
    sf_simrun_disk disk;
} run_opts;

#define LINE_MAX_BYTES 4096

/* One seed's line (no newline) into line; true when the seed passed. */
static bool run_seed(const run_opts *o, uint64_t seed, char *line, size_t cap)
{
    sf_error err;

    sf_error_clear(&err);
    if (o->daily) {
        /* the seed draws the retention: keeping 2 makes the limit bite */
        sf_simrun_daily_config dc = {seed, o->canisters, o->days, 3,
                                     1 + seed % 2, 7, o->work, o->keep,
                                     o->fanout, o->depth};
        sf_simrun_daily_result dr;

        if (sf_simrun_daily(&dc, &dr, &err) != SF_OK) {
            snprintf(line, cap, "seed=%llu error: %s", (unsigned long long)seed,
                     err.message);
            return false;
        }
        snprintf(line, cap, "seed=%llu scenario=daily days=%llu pruned=%zu "
                 "kept=%zu keep-on-canister=%llu replaced=%llu digest=%s %s%s",
                 (unsigned long long)seed, (unsigned long long)dr.days_complete,
                 dr.pruned, dr.kept, (unsigned long long)dc.keep_on_canister,
                 (unsigned long long)dr.replaced, dr.digest,
                 dr.ok ? "ok" : "FAIL: ", dr.ok ? "" : dr.failure);
        return dr.ok;
    } else {
        sf_simrun_config cfg = {seed, o->canisters, o->work, o->keep, o->crash,
                                o->fanout, o->depth, o->disk};
        sf_simrun_result r;

        if (sf_simrun_one(&cfg, &r, &err) != SF_OK) {
            snprintf(line, cap, "seed=%llu error: %s", (unsigned long long)seed,
                     err.message);
            return false;
        }
        snprintf(line, cap, "seed=%llu mode=%s jobs=%u link=%llu faults=\"%s\" disk=%s "
                 "outcome=%s digest=%s %s%s", (unsigned long long)seed, r.mode,
                 r.jobs, (unsigned long long)r.link, r.faults, r.disk,
                 r.outcome, r.digest,
                 r.ok ? "ok" : "FAIL: ",
                 r.ok ? "" : r.failure);
        return r.ok;
    }
}

/* Prints a seed's line and adds it to the summary digest: the lines in
 * seed order, whoever ran them. */
static void emit(const char *line, bool ok, sf_sha256 *summary,
                 uint64_t *failures)
{
    printf("%s\n", line);
    fflush(stdout);
    sf_sha256_update(summary, line, strlen(line));
    sf_sha256_update(summary, "\n", 1);
    if (!ok)
        (*failures)++;
}

static void run_inline(const run_opts *o, uint64_t first, uint64_t last,
                       sf_sha256 *summary, uint64_t *failures)
{
    char line[LINE_MAX_BYTES];
    uint64_t seed;

    for (seed = first; ; seed++) {
        bool ok = run_seed(o, seed, line, sizeof line);

        emit(line, ok, summary, failures);
        if (seed == last)
            break;
    }
}

/* A line a worker sent, waiting for the seeds before it. */
typedef struct pending {
    uint64_t seed;
    bool ok;
    char *line;
} pending;

typedef struct gather {
    pending *v;
    size_t n, cap;
    uint64_t next; /* the next seed to print */
    bool done;     /* printed the last */
} gather;

static void gather_flush(gather *g, uint64_t last, sf_sha256 *summary,
                         uint64_t *failures)
{
    size_t i;

    for (i = 0; i < g->n && !g->done;) {
        if (g->v[i].seed != g->next) {
            i++;
            continue;
        }
        emit(g->v[i].line, g->v[i].ok, summary, failures);
        free(g->v[i].line);
        g->v[i] = g->v[--g->n];
        if (g->next == last)
            g->done = true;
        else
            g->next++;
        i = 0;
    }
}

/* A worker's line: "P seed=..." or "F seed=...". */
static void gather_line(gather *g, const char *text)
{
    const char *p = strstr(text, "seed=");
    pending *v;

    if ((text[0] != 'P' && text[0] != 'F') || p == NULL)
        return;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 16;
        if ((v = realloc(g->v, cap * sizeof *v)) == NULL)
            return;
        g->v = v;
        g->cap = cap;
    }
    v = &g->v[g->n];
    v->seed = strtoull(p + 5, NULL, 10);
    v->ok = text[0] == 'P';
    if ((v->line = strdup(text + 2)) != NULL)
        g->n++;
}

/* `workers` processes, each taking the next seed not yet taken (a counter
 * they share), so a worker that drew slow seeds holds nobody back; each
 * seed runs exactly as it does inline (every seed builds its own fleet,
 * disk and scratch directory), and the lines are printed in seed order, so
 * the output and the summary digest do not depend on workers or on which
 * worker ran which seed. */
static int run_workers(const run_opts *o, uint64_t first, uint64_t last,
                       unsigned workers, sf_sha256 *summary, uint64_t *failures)
{
    struct pollfd fds[64];
    pid_t pids[64];
    char *buf[64];
    size_t used[64];
    unsigned w, open_fds = 0;
    gather g;
    uint64_t *taken; /* seeds handed out so far, shared with the workers */

    memset(&g, 0, sizeof g);
    g.next = first;
    if (last - first + 1 < workers)
        workers = (unsigned)(last - first + 1);
    taken = mmap(NULL, sizeof *taken, PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (taken == MAP_FAILED)
        return -1; /* nothing started: the caller runs the seeds inline */
    *taken = 0;
    fflush(NULL);
    for (w = 0; w < workers; w++) {
        int pfd[2];

        buf[w] = NULL;
        used[w] = 0;
        fds[w].fd = -1;
        fds[w].events = POLLIN;
        pids[w] = -1;
        if (pipe(pfd) != 0)
            continue;
        pids[w] = fork();
        if (pids[w] == 0) {
            char line[LINE_MAX_BYTES + 3];
            uint64_t seed;
            unsigned k;

            for (k = 0; k < w; k++)
                if (fds[k].fd >= 0)
                    close(fds[k].fd);
            close(pfd[0]);
            for (;;) {
                uint64_t k0 = __atomic_fetch_add(taken, 1, __ATOMIC_RELAXED);
                bool ok;
                size_t n;
                const char *p = line;

                if (k0 > last - first)
                    break;
                seed = first + k0;
                ok = run_seed(o, seed, line + 2, sizeof line - 3);
                line[0] = ok ? 'P' : 'F';
                line[1] = ' ';
                n = strlen(line);
                line[n++] = '\n';
                while (n > 0) {
                    ssize_t k2 = write(pfd[1], p, n);
                    if (k2 < 0 && errno == EINTR)
                        continue;
                    if (k2 <= 0)
                        _exit(1);
                    p += k2;
                    n -= (size_t)k2;
                }
            }
            _exit(0);
        }
        close(pfd[1]);
        if (pids[w] < 0) {
            close(pfd[0]);
            continue;
        }
        fds[w].fd = pfd[0];
        open_fds++;
    }
    while (open_fds > 0) {
        if (poll(fds, workers, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (w = 0; w < workers; w++) {
            char chunk[8192], *nl, *start;
            ssize_t n;

            if (fds[w].fd < 0 || (fds[w].revents & (POLLIN | POLLHUP)) == 0)
                continue;
            n = read(fds[w].fd, chunk, sizeof chunk);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                close(fds[w].fd);
                fds[w].fd = -1;
                open_fds--;
                continue;
            }
            {
                char *grown = realloc(buf[w], used[w] + (size_t)n + 1);
                if (grown == NULL)
                    continue;
                buf[w] = grown;
            }
            memcpy(buf[w] + used[w], chunk, (size_t)n);
            used[w] += (size_t)n;
            buf[w][used[w]] = '\0';
            start = buf[w];
            while ((nl = strchr(start, '\n')) != NULL) {
                *nl = '\0';
                gather_line(&g, start);
                start = nl + 1;
            }
            used[w] -= (size_t)(start - buf[w]);
            memmove(buf[w], start, used[w]);
            gather_flush(&g, last, summary, failures);
        }
    }
    for (w = 0; w < workers; w++) {
        int status;

        free(buf[w]);
        if (pids[w] > 0)
            while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR)
                ;
    }
    munmap(taken, sizeof *taken);
    gather_flush(&g, last, summary, failures);
    /* a worker that died took the seed it ran with it: a failure */
    while (!g.done) {
        char line[96];

        snprintf(line, sizeof line, "seed=%llu error: its worker process died",
                 (unsigned long long)g.next);
        emit(line, false, summary, failures);
        if (g.next == last)
            g.done = true;
        else
            g.next++;
        gather_flush(&g, last, summary, failures);
    }
    for (size_t i = 0; i < g.n; i++)
        free(g.v[i].line);
    free(g.v);
    return 0;
}

int cmd_sim_run(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"seeds", required_argument, NULL, 's'},
        {"canisters", required_argument, NULL, 'c'},
        {"work", required_argument, NULL, 'w'},
        {"keep", no_argument, NULL, 'k'},
        {"no-crash", no_argument, NULL, 'n'},
        {"daily", no_argument, NULL, 'D'},
        {"days", required_argument, NULL, 'd'},
        {"fanout", required_argument, NULL, 'f'},
        {"depth", required_argument, NULL, 'e'},
        {"disk", required_argument, NULL, 'K'},
        {"workers", required_argument, NULL, 'W'},
        {NULL, 0, NULL, 0},
    };
    sf_sim_config shape;
    bool fanout_given = false, depth_given = false;
    const char *seeds = NULL, *work = NULL, *disk_name = NULL;
    uint64_t first, last, canisters = 6, days = 30, workers = 1, failures = 0;
    bool keep = false, crash = true, daily = false;
    char scratch[4200], *dots, digest[SF_SHA256_HEX_SIZE];
    sf_sha256 *summary;
    run_opts o;
    cli_args a;
    int c;

    memset(&o, 0, sizeof o);
    sf_sim_config_default(&shape);
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, run_usage))
            return EXIT_OK;
        switch (c) {
        case 's': seeds = optarg; break;
        case 'c':
            if (parse_u64("sim run", "--canisters", optarg, &canisters) != 0)
                return EXIT_USAGE;
            break;
        case 'w': work = optarg; break;
        case 'k': keep = true; break;
        case 'n': crash = false; break;
        case 'D': daily = true; break;
        case 'd':
            if (parse_u64("sim run", "--days", optarg, &days) != 0)
                return EXIT_USAGE;
            break;
        case 'f':
            if (parse_u64("sim run", "--fanout", optarg, &shape.max_fanout) != 0)
                return EXIT_USAGE;
            fanout_given = true;
            break;
        case 'e':
            if (parse_u64("sim run", "--depth", optarg, &shape.max_depth) != 0)
                return EXIT_USAGE;
            depth_given = true;
            break;
        case 'K': disk_name = optarg; break;
        case 'W':
            if (parse_u64("sim run", "--workers", optarg, &workers) != 0)
                return EXIT_USAGE;
            break;
        default:
            return cli_args_usage(&a, "sim run");
        }
    }
    if (a.count != 0)
        return cli_usage("sim run", "unexpected argument: %s", a.operands[0]);
    if (seeds == NULL)
        return cli_usage("sim run", "--seeds A..B is required");
    dots = strstr(seeds, "..");
    if (dots != NULL) {
        char head[32];
        size_t n = (size_t)(dots - seeds);
        if (n == 0 || n >= sizeof head)
            return cli_usage("sim run", "--seeds takes A..B");
        memcpy(head, seeds, n);
        head[n] = '\0';
        if (parse_u64("sim run", "--seeds", head, &first) != 0 ||
            parse_u64("sim run", "--seeds", dots + 2, &last) != 0)
            return EXIT_USAGE;
    } else {
        if (parse_u64("sim run", "--seeds", seeds, &first) != 0)
            return EXIT_USAGE;
        last = first;
    }
    if (last < first)
        return cli_usage("sim run", "--seeds A..B needs A <= B");
    shape.canister_count = canisters;
    if (!shape_options("sim run", &shape, fanout_given, depth_given, 10000))
        return EXIT_USAGE;
    if (days < 1 || days > 10000)
        return cli_usage("sim run", "--days takes 1 to 10000");
    if (workers < 1 || workers > 64)
        return cli_usage("sim run", "--workers takes 1 to 64, not %llu",
                         (unsigned long long)workers);
    if (disk_name != NULL && strcmp(disk_name, "sim") == 0)
        o.disk = SF_SIMRUN_DISK_SIM;
    else if (disk_name != NULL && strcmp(disk_name, "posix") == 0)
        o.disk = SF_SIMRUN_DISK_POSIX;
    else if (disk_name != NULL)
        return cli_usage("sim run", "--disk takes sim or posix, not `%s`",
                         disk_name);
    if (daily && disk_name != NULL && o.disk != SF_SIMRUN_DISK_POSIX)
        return cli_usage("sim run", "--daily runs on the POSIX disk only "
                         "(--disk posix)");
    if (work == NULL) {
        /* on the simulated disk it only receives the trees of failed or
         * kept seeds: the seeds themselves run in memory */
        const char *tmp = getenv("TMPDIR");

        if (tmp == NULL || *tmp == '\0')
            tmp = "/tmp";
        if ((size_t)snprintf(scratch, sizeof scratch, "%s/snapfleet-simrun-XXXXXX",
                             tmp) >= sizeof scratch ||
            mkdtemp(scratch) == NULL) {
            fprintf(stderr, "snapfleet: cannot create a scratch directory under "
                    "%s: %s\n", tmp, strerror(errno));
            return EXIT_FAIL;
        }
        work = scratch;
    }
    o.canisters = canisters;
    o.fanout = fanout_given ? shape.max_fanout : 0;
    o.depth = depth_given ? shape.max_depth : 0;
    o.days = days;
    o.work = work;
    o.keep = keep;
    o.crash = crash;
    o.daily = daily;
    if (!daily)
        printf("# %llu canisters, fan-out %llu, depth %llu, disk %s\n",
               (unsigned long long)canisters,
               (unsigned long long)shape.max_fanout,
               (unsigned long long)shape.max_depth,
               o.disk == SF_SIMRUN_DISK_SIM ? "sim" : "posix");
    fflush(stdout);
    if ((summary = sf_sha256_new()) == NULL) {
        fprintf(stderr, "snapfleet: out of memory\n");
        return EXIT_FAIL;
    }
    if (workers == 1 || last - first == 0 ||
        run_workers(&o, first, last, (unsigned)workers, summary, &failures) != 0)
        run_inline(&o, first, last, summary, &failures);
    if (sf_sha256_final(summary, digest) != SF_OK)
        digest[0] = '\0';
    sf_sha256_free(summary);
    if (work == scratch && failures == 0)
        rmdir(scratch);
    printf("%llu passed, %llu failed, digest %s\n",
           (unsigned long long)(last - first + 1) - (unsigned long long)failures,
           (unsigned long long)failures, digest);
    return failures == 0 ? EXIT_OK : EXIT_FAIL;
}
