#include "drivers.h"

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/wrap.h"

void cli_driver_opts_init(cli_driver_opts *o)
{
    memset(o, 0, sizeof *o);
    o->driver = "sim";
    o->retries = 5;
}

int cli_driver_opt(cli_driver_opts *o, int opt, const char *arg,
                   const char *cmd)
{
    char *end;
    unsigned long v;

    switch (opt) {
    case 1001:
        if (strcmp(arg, "sim") != 0) {
            cli_usage(cmd, "unknown driver: %s (this build knows: sim)", arg);
            return -1;
        }
        o->driver = arg;
        return 1;
    case 1002:
        o->sim_state = arg;
        return 1;
    case 1003:
        o->faults = arg;
        return 1;
    case 1004:
        v = strtoul(arg, &end, 10);
        if (*arg == '\0' || *end != '\0' || v < 1 || v > 100) {
            cli_usage(cmd, "--retries takes a number from 1 to 100");
            return -1;
        }
        o->retries = (unsigned)v;
        return 1;
    }
    return 0;
}

static void on_topology(const char *kind, void *ctx)
{
    cli_stack *s = ctx;
    sf_error err;

    /* The fleet moves between discovery and the pre-snapshot check; the
     * state file must show it too, for a later process. */
    if (sf_sim_topology_change(s->sim, kind, &err) != SF_OK ||
        sf_sim_save(s->sim, s->state_path, &err) != SF_OK)
        fprintf(stderr, "snapfleet: topology fault %s: %s\n", kind, err.message);
}

int cli_stack_open(const cli_driver_opts *o, cli_stack *s, sf_error *err)
{
    memset(s, 0, sizeof *s);
    if (o->sim_state == NULL)
        return sf_error_set(err, SF_EK_USAGE, "--sim-state", "--driver sim "
                            "needs --sim-state FILE (create one with "
                            "`snapfleet sim init`)");
    s->state_path = o->sim_state;
    if (o->faults != NULL && sf_fault_plan_parse(o->faults, &s->plan, err) != SF_OK)
        return sf_error_prefix(err, "--faults: ");
    if (sf_sim_load(o->sim_state, &s->sim, err) != SF_OK)
        goto fail;
    s->clock = sf_sim_clock(s->sim);
    if (sf_sim_driver_new(s->sim, o->sim_state, &s->base, err) != SF_OK)
        goto fail;
    s->top = s->base;
    if (s->plan != NULL) {
        if (sf_fault_driver_new(s->top, s->plan, on_topology, s, &s->faulty,
                                err) != SF_OK)
            goto fail;
        s->top = s->faulty;
        if (sf_fault_plan_crash_after_writes(s->plan) != 0)
            sf_crash_after_writes_install(sf_fault_plan_crash_after_writes(s->plan));
    }
    if (sf_retry_driver_new(s->top, &s->clock, o->retries, 100, 5000, &s->retry,
                            err) != SF_OK)
        goto fail;
    s->top = s->retry;
    return SF_OK;
fail:
    cli_stack_close(s, NULL);
    return SF_ERR;
}

int cli_stack_close(cli_stack *s, sf_error *err)
{
    int rc = SF_OK;

    sf_driver_destroy(s->retry);
    sf_driver_destroy(s->faulty);
    sf_driver_destroy(s->base);
    if (s->sim != NULL)
        rc = sf_sim_save(s->sim, s->state_path, err);
    sf_sim_free(s->sim);
    sf_fault_plan_free(s->plan);
    memset(s, 0, sizeof *s);
    return rc;
}
