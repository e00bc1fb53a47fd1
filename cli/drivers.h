/* The driver stack a command runs on, built from the common options:
 *   --driver sim --sim-state FILE [--faults SPEC]
 *   --driver icp --network NAME|URL [--root-key K] | --environment NAME
 *                [--identity NAME] [--icp PATH] [--project-root DIR]
 *                [--timeout S] [--transfer-timeout S] [--registry-file F]
 * The stack is base driver -> fault injection (if any) -> retry of
 * transient failures; the clock is the simulator's virtual clock, or the
 * wall clock for icp. --network belongs to the commands (it also names
 * the network in the plan and the manifest); they hand it on in
 * cli_driver_opts.icp.network. */
#ifndef SNAPFLEET_CLI_DRIVERS_H
#define SNAPFLEET_CLI_DRIVERS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "snapfleet/driver.h"
#include "snapfleet/faults.h"
#include "snapfleet/icp.h"
#include "snapfleet/progress.h"
#include "snapfleet/sim.h"

typedef struct cli_driver_opts {
    const char *driver;    /* "sim" or "icp" */
    const char *sim_state; /* the simulator's state file */
    const char *faults;    /* fault plan text, or NULL */
    unsigned retries;      /* attempts for transient failures */
    sf_icp_config icp;     /* --driver icp; icp.network is the command's */
    const char *icp_only;  /* the first icp-only option given, for errors */
    bool quiet;            /* --quiet / --no-progress */
    bool progress;         /* --progress: the lines and status on a pipe too */
    bool dry_run;          /* the command changes nothing: never save the state */
} cli_driver_opts;

typedef struct cli_stack {
    sf_sim *sim;
    sf_fault_plan *plan;
    sf_driver *base, *faulty, *retry, *top;
    sf_clock clock;
    const char *state_path;
    sf_sim_lock lock;      /* the state file's, from open to close */
    sf_buf loaded;         /* the state as loaded: saved again only if changed */
    bool dry_run;
    bool save_each;        /* a planned kill: the state saved after every effect */
    sf_progress *progress; /* the status line, when progress is shown */
} cli_stack;

#define CLI_DRIVER_LONGOPTS                                   \
    {"driver", required_argument, NULL, 1001},                \
    {"sim-state", required_argument, NULL, 1002},             \
    {"faults", required_argument, NULL, 1003},                \
    {"retries", required_argument, NULL, 1004},               \
    {"root-key", required_argument, NULL, 1005},              \
    {"environment", required_argument, NULL, 1006},           \
    {"identity", required_argument, NULL, 1007},              \
    {"icp", required_argument, NULL, 1008},                   \
    {"project-root", required_argument, NULL, 1009},          \
    {"timeout", required_argument, NULL, 1010},               \
    {"transfer-timeout", required_argument, NULL, 1011},      \
    {"registry-file", required_argument, NULL, 1012},         \
    {"quiet", no_argument, NULL, 1013},                        \
    {"no-progress", no_argument, NULL, 1013},                  \
    {"progress", no_argument, NULL, 1014}

#define CLI_DRIVER_USAGE                                                      \
    "Progress: on stderr when it is a terminal, one line per operation and\n" \
    "  a status line (bytes done of bytes expected, rate, time left,\n"       \
    "  transfers in flight) kept current in place;\n"                         \
    "  --progress              the same when stderr is not a terminal (the\n" \
    "                          status as a line of its own now and then)\n"   \
    "  --quiet, --no-progress  no progress at all\n\n"                         \
    "Driver:\n"                                                               \
    "  --driver sim          run against the fleet simulator (the default)\n" \
    "  --sim-state FILE      the simulator's state file (snapfleet sim init)\n" \
    "  --driver icp          run DFINITY's icp CLI 1.5.0 (docs/icp-driver.md)\n" \
    "  --network NAME|URL    icp: the network (e.g. ic); also recorded as\n"    \
    "                        the network name of the backup\n"                 \
    "  --root-key K          icp: mainnet, fetch or hex; URL networks only\n"   \
    "  --environment NAME    icp: a project environment instead of --network\n" \
    "  --identity NAME       icp: the identity to act as (icp's default)\n"    \
    "  --icp PATH            icp: the icp binary (default: icp on PATH)\n"     \
    "  --project-root DIR    icp: the icp project (needed by --environment)\n" \
    "  --timeout S           icp: seconds allowed per operation (default 300)\n" \
    "  --transfer-timeout S  icp: the same for download/upload (default 86400)\n" \
    "  --registry-file FILE  icp: answer the registry read from FILE (offline\n" \
    "                        dry runs; `snapfleet sim registry` output)\n"     \
    "  --faults SPEC         inject faults (docs/faults.md)\n"                 \
    "  --retries N           attempts for transient failures (default 5)\n"

void cli_driver_opts_init(cli_driver_opts *o);
/* Handles one of the driver options; returns 1 if it was one, 0 if not,
 * -1 on a bad value (usage printed). */
int cli_driver_opt(cli_driver_opts *o, int opt, const char *arg,
                   const char *cmd);
int cli_stack_open(const cli_driver_opts *o, cli_stack *s, sf_error *err);
/* Where progress goes: stderr when it is a terminal or --progress was
 * given, and not silenced. */
FILE *cli_progress(const cli_driver_opts *o);
/* Clears the status line and stops it (before a command prints its
 * result); cli_stack_close does it too. */
void cli_status_end(cli_stack *s);
/* Saves the simulator state and tears the stack down. */
int cli_stack_close(cli_stack *s, sf_error *err);

#endif
