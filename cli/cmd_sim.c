/* sim init, sim show, sim registry, sim mutate. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/sim.h"

static const char init_usage[] =
    "usage: snapfleet sim init --state FILE [--seed N] [--canisters N]\n"
    "           [--fanout N] [--depth N] [--heap-min B] [--heap-max B]\n"
    "           [--stable-min B] [--stable-max B] [--stopped-percent P]\n"
    "           [--snapshot-limit N] [--latency-ms MS] [--bandwidth B]\n\n"
    "Creates a simulated fleet, generated from the seed, and saves it to FILE.\n"
    "Memory contents are generated from the seed as they are read, so large\n"
    "sizes cost no memory.\n\n"
    "  --seed N            (default 1)        --canisters N   root included (8)\n"
    "  --fanout N          children per canister (3)\n"
    "  --depth N           levels below the root (3)\n"
    "  --heap-min/-max B   wasm heap bytes    --stable-min/-max B  stable memory bytes\n"
    "  --stopped-percent P share of canisters initially stopped (0)\n"
    "  --snapshot-limit N  snapshots a canister may hold\n"
    "  --latency-ms MS     virtual time per call\n"
    "  --bandwidth B       transfer bytes per virtual millisecond (0: instant)\n";

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

int cmd_sim_init(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"state", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 1},
        {"canisters", required_argument, NULL, 2},
        {"fanout", required_argument, NULL, 3},
        {"depth", required_argument, NULL, 4},
        {"heap-min", required_argument, NULL, 5},
        {"heap-max", required_argument, NULL, 6},
        {"stable-min", required_argument, NULL, 7},
        {"stable-max", required_argument, NULL, 8},
        {"stopped-percent", required_argument, NULL, 9},
        {"snapshot-limit", required_argument, NULL, 10},
        {"latency-ms", required_argument, NULL, 11},
        {"bandwidth", required_argument, NULL, 12},
        {NULL, 0, NULL, 0},
    };
    uint64_t *fields[13];
    const char *state = NULL;
    sf_sim_config cfg;
    sf_sim *sim;
    sf_error err;
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
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        if (cli_common(c, init_usage))
            return EXIT_OK;
        if (c == 's') {
            state = optarg;
        } else if (c >= 1 && c <= 12) {
            if (parse_u64("sim init", opts[c + 2].name, optarg, fields[c]) != 0)
                return EXIT_USAGE;
        } else {
            return cli_usage("sim init", "unknown option or missing value: %s",
                             argv[optind - 1]);
        }
    }
    if (optind != argc)
        return cli_usage("sim init", "unexpected argument: %s", argv[optind]);
    if (state == NULL)
        return cli_usage("sim init", "--state FILE is required");
    sf_error_clear(&err);
    if (sf_sim_config_validate(&cfg, &err) != SF_OK)
        return cli_usage("sim init", "%s", err.message);
    if (sf_sim_init(&cfg, &sim, &err) != SF_OK)
        return cli_fail(NULL, &err);
    if (sf_sim_save(sim, state, &err) != SF_OK) {
        sf_sim_free(sim);
        return cli_fail(state, &err);
    }
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
    bool json = false;
    sf_sim *sim;
    sf_error err;
    sf_buf b;
    int c, rc;

    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        if (cli_common(c, usages[what]))
            return EXIT_OK;
        if (c == 's')
            state = optarg;
        else if (c == 'j' && what == SHOW)
            json = true;
        else if (c == 'c' && what == MUTATE)
            canister = optarg;
        else
            return cli_usage(cmd, "unknown option or missing value: %s",
                             argv[optind - 1]);
    }
    if (optind != argc)
        return cli_usage(cmd, "unexpected argument: %s", argv[optind]);
    if (state == NULL)
        return cli_usage(cmd, "--state FILE is required");
    if (what == MUTATE && canister == NULL)
        return cli_usage(cmd, "--canister ID is required");
    sf_error_clear(&err);
    if (sf_sim_load(state, &sim, &err) != SF_OK)
        return cli_fail(state, &err);
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
    return rc == SF_OK ? EXIT_OK : cli_fail(state, &err);
}

int cmd_sim_show(int argc, char **argv) { return sim_view(argc, argv, SHOW); }
int cmd_sim_registry(int argc, char **argv) { return sim_view(argc, argv, REGISTRY); }
int cmd_sim_mutate(int argc, char **argv) { return sim_view(argc, argv, MUTATE); }
