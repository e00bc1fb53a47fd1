/* restore plan, restore run, restore status. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drivers.h"
#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/restore.h"

static const char plan_usage[] =
    "usage: snapfleet restore plan --backup DIR [--mapping FILE] [--out FILE]\n\n"
    "Verifies the backup (every artifact's checksum) and prints canic's restore\n"
    "plan: members in parents-before-children order, their targets (in place,\n"
    "or moved by a mapping {\"members\": [{\"source_canister\", \"target_canister\"}]}),\n"
    "verification checks, summaries and readiness. Writes nothing unless --out.\n";

static const char run_usage[] =
    "usage: snapfleet restore run --backup DIR (--dry-run | --execute |\n"
    "           --unclaim-pending | --retry-failed) [--mapping FILE]\n"
    "           [--restore-dir DIR] [--max-steps N] [--jobs N] [--json]\n"
    "           [driver options]\n\n"
    "Restores a fleet from a backup: upload each artifact (from a verified\n"
    "private copy), stop the targets parents first, load the snapshots, start\n"
    "them children first (only those that were running), verify status and\n"
    "module hash. The apply journal (canic's format) is written before and\n"
    "after every effect, in DIR/restore unless --restore-dir.\n\n"
    "A member restored in place whose snapshot is still on its canister\n"
    "(listed with the id, taken_at and size the backup recorded) is loaded\n"
    "from there, with no upload; its artifact is still verified first. The\n"
    "dry run ends with one \"# <target> ...\" line per member saying which path\n"
    "it takes; restore status says which path each took.\n\n"
    "  --dry-run          print every command, change nothing\n"
    "  --execute          run until done, a failure, or --max-steps\n"
    "  --unclaim-pending  after an interrupted run: the pending operations are\n"
    "                     made ready again (each effect is reconciled when it runs)\n"
    "  --retry-failed     the failed operations are made ready again\n"
    "  --upload           upload every member, even one whose snapshot is\n"
    "                     still on its canister\n"
    "  --jobs N           operations in flight at once, 1 to 64 (default 4):\n"
    "                     different canisters' operations overlap within a\n"
    "                     step of the plan (the uploads, the loads, the checks;\n"
    "                     stops and starts one tree depth at a time), a\n"
    "                     canister's own keep their order; 1 runs canic's order\n"
    "                     one at a time. A run stopped by a crash leaves each\n"
    "                     operation in flight pending: --unclaim-pending\n"
    "                     releases them all\n"
    "  --json             print the journal report as JSON; with --execute also\n"
    "                     \"stopped\": how long the run held each canister\n"
    "                     stopped and the fleet's span, in the clock's ms\n\n"
    CLI_DRIVER_USAGE;

static const char status_usage[] =
    "usage: snapfleet restore status --backup DIR [--restore-dir DIR] [--json]\n\n"
    "Where a restore stands and the next safe action, and for each member\n"
    "which path its snapshot takes: \"canister <snapshot>\" (loaded from the\n"
    "canister, no upload), \"upload\", or \"undecided\" (not reached yet).\n";

int cmd_restore_plan(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"backup", required_argument, NULL, 'b'},
        {"mapping", required_argument, NULL, 'm'},
        {"out", required_argument, NULL, 'o'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *backup = NULL, *mapping = NULL, *out = NULL;
    sf_error err;
    sf_buf b;
    cli_args a;
    int c, rc;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, plan_usage))
            return EXIT_OK;
        switch (c) {
        case 'b': backup = optarg; break;
        case 'm': mapping = optarg; break;
        case 'o': out = optarg; break;
        case 'j': break; /* the plan is JSON either way */
        default:
            return cli_args_usage(&a, "restore plan");
        }
    }
    if (a.count != 0)
        return cli_usage("restore plan", "unexpected argument: %s", a.operands[0]);
    if (backup == NULL)
        return cli_usage("restore plan", "--backup DIR is required");
    sf_error_clear(&err);
    sf_buf_init(&b);
    rc = sf_restore_plan_backup(backup, mapping, &b, &err);
    if (rc == SF_OK && out != NULL)
        rc = sf_fs_write_atomic(out, b.data, b.len, &err);
    if (rc == SF_OK && out == NULL)
        cli_print(&b);
    sf_buf_free(&b);
    return rc == SF_OK ? EXIT_OK : cli_fail(backup, &err);
}

int cmd_restore_run(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS, CLI_DRIVER_LONGOPTS,
        {"backup", required_argument, NULL, 'b'},
        {"mapping", required_argument, NULL, 'm'},
        {"restore-dir", required_argument, NULL, 'R'},
        {"dry-run", no_argument, NULL, 'n'},
        {"execute", no_argument, NULL, 'x'},
        {"unclaim-pending", no_argument, NULL, 'u'},
        {"retry-failed", no_argument, NULL, 'r'},
        {"max-steps", required_argument, NULL, 's'},
        {"json", no_argument, NULL, 'j'},
        {"network", required_argument, NULL, 'N'},
        {"upload", no_argument, NULL, 'U'},
        {"jobs", required_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "restore run";
    sf_restore_config cfg;
    sf_restore_result res;
    cli_driver_opts d;
    cli_stack s;
    sf_error err;
    bool json = false;
    cli_args a;
    int c, k, modes = 0, rc;
    char *end;

    memset(&cfg, 0, sizeof cfg);
    cfg.jobs = 4;
    cli_driver_opts_init(&d);
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, run_usage))
            return EXIT_OK;
        if ((k = cli_driver_opt(&d, c, optarg, cmd)) != 0) {
            if (k < 0)
                return EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'b': cfg.backup = optarg; break;
        case 'm': cfg.mapping = optarg; break;
        case 'R': cfg.restore_dir = optarg; break;
        case 'n': cfg.mode = SF_RESTORE_MODE_DRY_RUN; modes++; break;
        case 'x': cfg.mode = SF_RESTORE_MODE_EXECUTE; modes++; break;
        case 'u': cfg.mode = SF_RESTORE_MODE_UNCLAIM_PENDING; modes++; break;
        case 'r': cfg.mode = SF_RESTORE_MODE_RETRY_FAILED; modes++; break;
        case 'j': json = true; break;
        case 'U': cfg.force_upload = true; break;
        case 'J':
            if (cli_parse_jobs(optarg, &cfg.jobs) != 0)
                return cli_usage(cmd, "--jobs takes a number from 1 to 64");
            break;
        case 'N': d.icp.network = optarg; break; /* icp's target network */
        case 's':
            cfg.max_steps = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || cfg.max_steps == 0)
                return cli_usage(cmd, "--max-steps takes a positive number");
            break;
        default:
            return cli_args_usage(&a, cmd);
        }
    }
    if (a.count != 0)
        return cli_usage(cmd, "unexpected argument: %s", a.operands[0]);
    if (cfg.backup == NULL)
        return cli_usage(cmd, "--backup DIR is required");
    if (modes != 1)
        return cli_usage(cmd, "give exactly one of --dry-run, --execute, "
                         "--unclaim-pending, --retry-failed");
    sf_error_clear(&err);
    d.dry_run = cfg.mode == SF_RESTORE_MODE_DRY_RUN;
    if (cli_stack_open(&d, &s, &err) != SF_OK)
        return err.kind && strcmp(err.kind, SF_EK_USAGE) == 0
                   ? cli_usage(cmd, "%s", err.message) : cli_fail(NULL, &err);
    cfg.log = cli_progress(&d);
    cfg.progress = s.progress;
    rc = sf_restore_run(&cfg, s.top, &s.clock, &res, &err);
    cli_status_end(&s);
    fwrite(sf_buf_cstr(&res.commands), 1, res.commands.len, stdout);
    if (cfg.mode == SF_RESTORE_MODE_DRY_RUN && rc == SF_OK && !json) {
        /* which path each member takes, as shell comments */
        const char *p = sf_buf_cstr(&res.paths);
        while (*p != '\0') {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            printf("# %.*s\n", (int)n, p);
            p += n + (nl != NULL);
        }
    }
    if (json && res.report.len > 0) {
        cli_print(&res.report);
    } else if (res.stopped_reason != NULL && cfg.mode != SF_RESTORE_MODE_DRY_RUN) {
        printf("restore %s: %s, %llu operation(s) run; next: %s\n",
               res.complete ? "complete" : "stopped", res.stopped_reason,
               (unsigned long long)res.executed, res.next_action);
        if (!res.complete && res.loads_done)
            printf("note: snapshots were already loaded into some canisters; "
                   "those stay stopped until you decide (see restore status)\n");
        cli_print_stopped(res.stopped, res.stopped_count,
                          res.has_fleet_stopped_span, res.fleet_stopped_span_ms);
    }
    sf_restore_result_free(&res);
    if (cli_stack_close(&s, rc == SF_OK ? &err : NULL) != SF_OK && rc == SF_OK)
        rc = SF_ERR;
    return rc == SF_OK ? EXIT_OK : cli_fail(cfg.backup, &err);
}

int cmd_restore_status(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"backup", required_argument, NULL, 'b'},
        {"restore-dir", required_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *backup = NULL, *dir = NULL;
    sf_restore_result res;
    sf_error err;
    bool json = false;
    cli_args a;
    int c;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, status_usage))
            return EXIT_OK;
        switch (c) {
        case 'b': backup = optarg; break;
        case 'R': dir = optarg; break;
        case 'j': json = true; break;
        default:
            return cli_args_usage(&a, "restore status");
        }
    }
    if (a.count != 0)
        return cli_usage("restore status", "unexpected argument: %s", a.operands[0]);
    if (backup == NULL)
        return cli_usage("restore status", "--backup DIR is required");
    sf_error_clear(&err);
    if (sf_restore_status(backup, dir, &res, &err) != SF_OK)
        return cli_fail(backup, &err);
    if (json) {
        cli_print(&res.report);
    } else {
        printf("Restore of %s: %s; next action: %s\n", backup,
               res.complete ? "complete" : "incomplete", res.next_action);
        if (!res.complete && res.loads_done)
            printf("Attention: snapshots were already loaded; canisters the "
                   "restore stopped are left stopped for the operator.\n");
        {
            const char *p = sf_buf_cstr(&res.paths);
            while (*p != '\0') {
                const char *nl = strchr(p, '\n');
                size_t n = nl ? (size_t)(nl - p) : strlen(p);
                printf("member %.*s\n", (int)n, p);
                p += n + (nl != NULL);
            }
        }
        cli_print(&res.report);
    }
    sf_restore_result_free(&res);
    return EXIT_OK;
}
