/* The driver stack a command runs on, built from the common options:
 *   --driver sim --sim-state FILE [--faults SPEC]
 * The stack is base driver -> fault injection (if any) -> retry of
 * transient failures; the clock is the simulator's virtual clock. */
#ifndef SNAPFLEET_CLI_DRIVERS_H
#define SNAPFLEET_CLI_DRIVERS_H

#include <getopt.h>

#include "snapfleet/driver.h"
#include "snapfleet/faults.h"
#include "snapfleet/sim.h"

typedef struct cli_driver_opts {
    const char *driver;    /* "sim" */
    const char *sim_state; /* the simulator's state file */
    const char *faults;    /* fault plan text, or NULL */
    unsigned retries;      /* attempts for transient failures */
} cli_driver_opts;

typedef struct cli_stack {
    sf_sim *sim;
    sf_fault_plan *plan;
    sf_driver *base, *faulty, *retry, *top;
    sf_clock clock;
    const char *state_path;
} cli_stack;

#define CLI_DRIVER_LONGOPTS                                   \
    {"driver", required_argument, NULL, 1001},                \
    {"sim-state", required_argument, NULL, 1002},             \
    {"faults", required_argument, NULL, 1003},                \
    {"retries", required_argument, NULL, 1004}

#define CLI_DRIVER_USAGE                                                      \
    "Driver:\n"                                                               \
    "  --driver sim          run against the fleet simulator (the default)\n" \
    "  --sim-state FILE      the simulator's state file (snapfleet sim init)\n" \
    "  --faults SPEC         inject faults (docs/faults.md)\n"                 \
    "  --retries N           attempts for transient failures (default 5)\n"

void cli_driver_opts_init(cli_driver_opts *o);
/* Handles one of the driver options; returns 1 if it was one, 0 if not,
 * -1 on a bad value (usage printed). */
int cli_driver_opt(cli_driver_opts *o, int opt, const char *arg,
                   const char *cmd);
int cli_stack_open(const cli_driver_opts *o, cli_stack *s, sf_error *err);
/* Saves the simulator state and tears the stack down. */
int cli_stack_close(cli_stack *s, sf_error *err);

#endif
