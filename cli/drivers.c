#include "drivers.h"
#include "snapfleet/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "snapfleet/wrap.h"

void cli_driver_opts_init(cli_driver_opts *o)
{
    memset(o, 0, sizeof *o);
    o->driver = "sim";
    o->retries = 5;
}

/* Seconds, 1 to 30 days, into milliseconds. */
static int seconds(const char *arg, const char *opt, const char *cmd,
                   uint64_t *ms)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(arg, &end, 10);
    if (*arg == '\0' || *end != '\0' || errno != 0 || v < 1 ||
        v > 30ull * 24 * 3600) {
        cli_usage(cmd, "%s takes a number of seconds from 1 to 2592000", opt);
        return -1;
    }
    *ms = (uint64_t)v * 1000u;
    return 1;
}

int cli_driver_opt(cli_driver_opts *o, int opt, const char *arg,
                   const char *cmd)
{
    char *end;
    unsigned long v;

    if (opt >= 1005 && opt <= 1012 && o->icp_only == NULL) {
        static const char *const names[] = {
            "--root-key", "--environment", "--identity", "--icp",
            "--project-root", "--timeout", "--transfer-timeout",
            "--registry-file",
        };
        o->icp_only = names[opt - 1005];
    }
    switch (opt) {
    case 1001:
        if (strcmp(arg, "sim") != 0 && strcmp(arg, "icp") != 0) {
            cli_usage(cmd, "unknown driver: %s (this build knows: sim, icp)",
                      arg);
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
    case 1005: o->icp.root_key = arg; return 1;
    case 1006: o->icp.environment = arg; return 1;
    case 1007: o->icp.identity = arg; return 1;
    case 1008: o->icp.icp = arg; return 1;
    case 1009: o->icp.project_root = arg; return 1;
    case 1010: return seconds(arg, "--timeout", cmd, &o->icp.timeout_ms);
    case 1011:
        return seconds(arg, "--transfer-timeout", cmd,
                       &o->icp.transfer_timeout_ms);
    case 1012: o->icp.registry_file = arg; return 1;
    case 1013: o->quiet = true; return 1;
    case 1014: o->progress = true; return 1;
    }
    return 0;
}

static void on_topology(const char *kind, void *ctx)
{
    cli_stack *s = ctx;
    sf_error err;

    /* The fleet moves between discovery and the pre-snapshot check; the
     * state file shows it at the end of the command, or at once when a
     * kill is planned (see cli_stack_open). */
    if (sf_sim_topology_change(s->sim, kind, &err) != SF_OK ||
        (s->save_each && sf_sim_save(s->sim, s->state_path, &err) != SF_OK))
        fprintf(stderr, "snapfleet: topology fault %s: %s\n", kind, err.message);
}

/* The icp driver's mid-transfer bytes, onto the status line. */
static void on_bytes(void *ctx, const sf_op *op, uint64_t bytes)
{
    char key[SF_PROGRESS_KEY_MAX];

    sf_op_progress_key(op, key, sizeof key);
    sf_progress_update(ctx, key, bytes);
}

/* icp: the icp driver under the same wrappers, on the wall clock. */
static int open_icp(const cli_driver_opts *o, cli_stack *s, sf_error *err)
{
    if (o->sim_state != NULL)
        return sf_error_set(err, SF_EK_USAGE, "--sim-state", "--sim-state "
                            "belongs to --driver sim");
    s->clock = sf_clock_wall();
    if (o->faults != NULL &&
        sf_fault_plan_parse(o->faults, &s->plan, err) != SF_OK)
        return sf_error_prefix(err, "--faults: ");
    {
        sf_icp_config c = o->icp;

        if (s->progress != NULL) {
            c.on_bytes = on_bytes;
            c.on_bytes_ctx = s->progress;
        }
        if (sf_icp_driver_new(&c, &s->base, err) != SF_OK)
            goto fail;
    }
    s->top = s->base;
    if (s->plan != NULL) {
        /* no simulator to move: a topology fault is refused here */
        if (sf_fault_driver_new(s->top, s->plan, NULL, NULL, &s->faulty,
                                err) != SF_OK)
            goto fail;
        s->top = s->faulty;
        if (sf_fault_plan_crash_after_writes(s->plan) != 0)
            sf_crash_after_writes_install(
                sf_fault_plan_crash_after_writes(s->plan));
        if (sf_fault_plan_torn_write(s->plan) != 0)
            sf_torn_write_install(sf_fault_plan_torn_write(s->plan));
    }
    if (sf_retry_driver_new(s->top, &s->clock, o->retries, 1000, 30000,
                            &s->retry, err) != SF_OK)
        goto fail;
    s->top = s->retry;
    return SF_OK;
fail:
    cli_stack_close(s, NULL);
    return SF_ERR;
}

int cli_stack_open(const cli_driver_opts *o, cli_stack *s, sf_error *err)
{
    memset(s, 0, sizeof *s);
    /* advisory: without memory for it, the run goes on without a status */
    if (cli_progress(o) != NULL)
        s->progress = sf_progress_new(stderr, isatty(STDERR_FILENO), NULL, NULL);
    if (strcmp(o->driver, "icp") == 0)
        return open_icp(o, s, err);
    if (o->icp_only != NULL)
        return sf_error_set(err, SF_EK_USAGE, o->icp_only, "%s belongs to "
                            "--driver icp", o->icp_only);
    if (o->sim_state == NULL)
        return sf_error_set(err, SF_EK_USAGE, "--sim-state", "--driver sim "
                            "needs --sim-state FILE (create one with "
                            "`snapfleet sim init`)");
    s->state_path = o->sim_state;
    s->lock.held = NULL;
    s->dry_run = o->dry_run;
    sf_buf_init(&s->loaded);
    if (o->faults != NULL && sf_fault_plan_parse(o->faults, &s->plan, err) != SF_OK)
        return sf_error_prefix(err, "--faults: ");
    /* held until cli_stack_close: a second run on the same fleet is refused
     * before it reads, so it can change nothing */
    if (sf_sim_lock_acquire(o->sim_state, &s->lock, err) != SF_OK)
        goto fail;
    if (sf_sim_load(o->sim_state, &s->sim, err) != SF_OK ||
        sf_sim_state_json(s->sim, &s->loaded, err) != SF_OK)
        goto fail;
    s->clock = sf_sim_clock(s->sim);
    /* The state file stands for the IC. It is written once, when the
     * command ends (cli_stack_close), and only when the run changed the
     * fleet; a dry run's queries move the simulated clock and none of it
     * is kept. The exception is a kill planned from the command line
     * (--faults crash-after-writes=N): the process dies at the Nth durable
     * write without reaching the end, and the IC must keep what was done
     * to it until then, so the whole state is saved after every effect,
     * as before. Any other kill of a --sim-state command loses what that
     * command did to the simulated fleet (use crash-after-writes to test
     * kills). */
    s->save_each = !o->dry_run && s->plan != NULL &&
                   sf_fault_plan_crash_after_writes(s->plan) != 0;
    if (sf_sim_driver_new(s->sim, s->save_each ? o->sim_state : NULL, &s->base,
                          err) != SF_OK)
        goto fail;
    s->top = s->base;
    if (s->plan != NULL) {
        if (sf_fault_driver_new(s->top, s->plan, on_topology, s, &s->faulty,
                                err) != SF_OK)
            goto fail;
        s->top = s->faulty;
        if (sf_fault_plan_crash_after_writes(s->plan) != 0)
            sf_crash_after_writes_install(sf_fault_plan_crash_after_writes(s->plan));
        if (sf_fault_plan_torn_write(s->plan) != 0)
            sf_torn_write_install(sf_fault_plan_torn_write(s->plan));
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
    if (s->sim != NULL && !s->dry_run) {
        /* written only when the run changed it: a refused run leaves the
         * file as it was, inode and all */
        sf_buf now;

        sf_buf_init(&now);
        rc = sf_sim_state_json(s->sim, &now, err);
        if (rc == SF_OK && (now.len != s->loaded.len ||
                            memcmp(now.data, s->loaded.data, now.len) != 0))
            rc = sf_fs_write_atomic_untracked(s->state_path, now.data, now.len,
                                              err);
        sf_buf_free(&now);
    }
    cli_status_end(s);
    sf_sim_free(s->sim);
    sf_fault_plan_free(s->plan);
    if (s->state_path != NULL)
        sf_sim_lock_release(&s->lock);
    sf_buf_free(&s->loaded);
    memset(s, 0, sizeof *s);
    return rc;
}

FILE *cli_progress(const cli_driver_opts *o)
{
    return !o->quiet && (o->progress || isatty(STDERR_FILENO)) ? stderr : NULL;
}

void cli_status_end(cli_stack *s)
{
    sf_progress_free(s->progress);
    s->progress = NULL;
}

