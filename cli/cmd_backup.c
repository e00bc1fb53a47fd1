/* snapshot download, backup, backup verify, backup status. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "drivers.h"
#include "snapfleet/backup.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/plan.h"

#define TOOL_NAME "snapfleet"

static const char download_usage[] =
    "usage: snapfleet snapshot download --out DIR [--canister ID] [--root ID]\n"
    "           [--include-children] [--recursive] [--resume-after-snapshot]\n"
    "           [--dry-run] [--network NAME] [--backup-id ID] [--verify-transfer]\n"
    "           [--keep-on-canister N] [--root-dir DIR] [--snapshot-limit N]\n"
    "           [--jobs N] [driver options]\n\n"
    "canic's direct capture: for each target, up to --jobs at once, stop it, take a\n"
    "snapshot, download it into DIR/<id>.tmp, checksum it, rename it to\n"
    "DIR/<id>, and start it again only with --resume-after-snapshot (without\n"
    "it, captured canisters are left stopped, as canic does). Writes\n"
    "download-journal.json after every step and fleet-backup-manifest.json at\n"
    "the end. The topology is hashed at discovery and again before the first\n"
    "stop; any difference stops the run before anything changed. Running again\n"
    "into the same DIR resumes where the last run stopped.\n\n"
    "  --canister ID            the selected canister (default: the root)\n"
    "  --root ID                the registry root (default: the simulator's root)\n"
    "  --include-children       the canister and its direct children\n"
    "  --recursive              the canister and its whole subtree (the default\n"
    "                           when --canister is not given)\n"
    "  --resume-after-snapshot  start each canister again after its capture\n"
    "  --dry-run                print the commands and artifacts, touch nothing\n"
    "  --network NAME           recorded as the manifest's environment (default local)\n"
    "  --backup-id ID           default: the name of DIR\n"
    "  --verify-transfer        download every snapshot twice and compare\n"
    "                           (every download is also checked against its\n"
    "                           metadata.json and the module hash)\n"
    "  --jobs N                 targets captured at once, 1 to 64 (default 4);\n"
    "                           each target's own steps keep their order\n"
    "  --keep-on-canister N     after a complete run, keep the newest N\n"
    "                           snapshots of each target that backups under the\n"
    "                           root recorded and delete older ones (default 1;\n"
    "                           0 deletes this run's too); snapshots no backup\n"
    "                           recorded are never deleted\n"
    "  --root-dir DIR           the backup root (default: the parent of --out)\n"
    "  --snapshot-limit N       the most snapshots a canister may hold (default:\n"
    "                           the simulator's, or 10 with --driver icp, the\n"
    "                           IC's subnet setting today). Before anything is\n"
    "                           stopped, a canister at the limit gets its\n"
    "                           create turned into a replace (icp's --replace)\n"
    "                           of its oldest snapfleet-made snapshot, when that\n"
    "                           snapshot's backup under the root is complete and\n"
    "                           verifies; otherwise the run fails, naming the\n"
    "                           canister and its snapshots\n"    "\n"
    CLI_DRIVER_USAGE;

static const char backup_usage[] =
    "usage: snapfleet backup --out DIR [--fleet NAME] [--network NAME] [--root ID]\n"
    "           [--subtree ROLE|ID | --include-root] [--schedule fleet|per-canister]\n"
    "           [--leave-stopped] [--dry-run] [--max-steps N] [--json]\n"
    "           [--verify-transfer] [--keep-on-canister N] [--root-dir DIR]\n"
    "           [--snapshot-limit N] [--jobs N] [driver options]\n\n"
    "canic's planned backup: writes backup-plan.json and\n"
    "backup-execution-journal.json, proves control of every target, then runs\n"
    "the plan, up to --jobs operations at a time, journalling each before and\n"
    "after its effect, and finishes with fleet-backup-manifest.json. Running again into\n"
    "the same DIR resumes; a failure starts again the canisters this run\n"
    "stopped (unless --leave-stopped).\n\n"
    "  --fleet NAME          fleet name for the plan (default: fleet)\n"
    "  --network NAME        network name for the plan (default: local)\n"
    "  --root ID             the fleet root (default: the simulator's root)\n"
    "  --subtree SEL         only the subtree under a role or canister id\n"
    "  --include-root        the whole fleet, root included (canic's default\n"
    "                        scope leaves the root out)\n"
    "  --schedule fleet      stop all top-down, snapshot all, start all\n"
    "                        bottom-up, then download and verify (default)\n"
    "  --schedule per-canister  one canister at a time: stop, snapshot,\n"
    "                        download, verify, start\n"
    "  --leave-stopped       no start operations, and no restarts on failure\n"
    "  --dry-run             write the plan and journal, print the commands\n"
    "  --max-steps N         stop after N operations (resume later)\n"
    "  --jobs N              operations in flight at once, 1 to 64 (default\n"
    "                        4): different canisters' operations overlap, a\n"
    "                        canister's own keep their order; with the fleet\n"
    "                        schedule stops and starts go one tree depth at\n"
    "                        a time, the snapshots at once, the transfers\n"
    "                        once the fleet runs again\n"
    "  --json                print the run summary as JSON\n"
    "  --verify-transfer     download every snapshot twice and compare\n"
    "  --keep-on-canister N  after a complete run, keep the newest N\n"
    "                        snapshots of each target that backups under the\n"
    "                        root recorded and delete older ones (default 1;\n"
    "                        0 deletes this run's too); snapshots no backup\n"
    "                        recorded are never deleted\n"
    "  --root-dir DIR        the backup root (default: the parent of --out)\n"
    "  --snapshot-limit N    the most snapshots a canister may hold (default:\n"
    "                        the simulator's, or 10 with --driver icp, the\n"
    "                        IC's subnet setting today). Before anything is\n"
    "                        stopped, a canister at the limit gets its\n"
    "                        create turned into a replace (icp's --replace)\n"
    "                        of its oldest snapfleet-made snapshot, when that\n"
    "                        snapshot's backup under the root is complete and\n"
    "                        verifies; otherwise the run fails, naming the\n"
    "                        canister and its snapshots\n"    "\n"
    CLI_DRIVER_USAGE;

static int parse_keep(const char *s, uint64_t *out)
{
    char *end;

    errno = 0;
    *out = strtoull(s, &end, 10);
    return (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0) ? 0 : -1;
}

/* --snapshot-limit: 1 to 1,000,000. */
static int parse_limit(const char *s, uint64_t *out)
{
    return parse_keep(s, out) == 0 && *out >= 1 && *out <= 1000000 ? 0 : -1;
}

/* The IC's per-canister snapshot limit, a subnet setting: 10 today. */
#define IC_SNAPSHOT_LIMIT 10

/* What the run takes as the snapshot limit: the option, else the
 * simulator's own, else the IC's. */
static uint64_t snapshot_limit(uint64_t given, const cli_stack *s)
{
    if (given != 0)
        return given;
    if (s->sim != NULL)
        return sf_sim_get_config(s->sim)->snapshot_limit;
    return IC_SNAPSHOT_LIMIT;
}

static int default_root(const cli_driver_opts *d, char *out, size_t n,
                        sf_error *err)
{
    sf_sim *sim;

    if (d->sim_state == NULL)
        return sf_error_set(err, SF_EK_USAGE, "--root", "--root is required "
                            "without --sim-state");
    if (sf_sim_load(d->sim_state, &sim, err) != SF_OK)
        return SF_ERR;
    snprintf(out, n, "%s", sf_sim_root_id(sim));
    sf_sim_free(sim);
    return SF_OK;
}

int cmd_snapshot_download(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS, CLI_DRIVER_LONGOPTS,
        {"out", required_argument, NULL, 'o'},
        {"canister", required_argument, NULL, 'c'},
        {"root", required_argument, NULL, 'r'},
        {"include-children", no_argument, NULL, 'i'},
        {"recursive", no_argument, NULL, 'R'},
        {"resume-after-snapshot", no_argument, NULL, 'a'},
        {"dry-run", no_argument, NULL, 'n'},
        {"network", required_argument, NULL, 'N'},
        {"backup-id", required_argument, NULL, 'b'},
        {"verify-transfer", no_argument, NULL, 'T'},
        {"keep-on-canister", required_argument, NULL, 'K'},
        {"root-dir", required_argument, NULL, 'D'},
        {"snapshot-limit", required_argument, NULL, 'P'},
        {"jobs", required_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "snapshot download";
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    cli_driver_opts d;
    cli_stack s;
    sf_error err;
    char root[SF_PRINCIPAL_TEXT_MAX + 64];
    cli_args a;
    int c, k, rc;
    size_t i;

    memset(&cfg, 0, sizeof cfg);
    cfg.tool_name = TOOL_NAME;
    cfg.tool_version = SF_VERSION;
    cfg.environment = "local";
    cfg.retain_on_canister = true;
    cfg.keep_on_canister = 1;
    cfg.jobs = 4;
    cli_driver_opts_init(&d);
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, download_usage))
            return EXIT_OK;
        if ((k = cli_driver_opt(&d, c, optarg, cmd)) != 0) {
            if (k < 0)
                return EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'o': cfg.out = optarg; break;
        case 'c': cfg.canister = optarg; break;
        case 'r': cfg.root = optarg; break;
        case 'i': cfg.include_children = true; break;
        case 'R': cfg.recursive = true; break;
        case 'a': cfg.resume_after_snapshot = true; break;
        case 'n': cfg.dry_run = true; break;
        case 'N': cfg.environment = d.icp.network = optarg; break;
        case 'b': cfg.backup_id = optarg; break;
        case 'T': cfg.verify_transfer = true; break;
        case 'K':
            if (parse_keep(optarg, &cfg.keep_on_canister) != 0)
                return cli_usage(cmd, "--keep-on-canister takes a number");
            break;
        case 'D': cfg.root_dir = optarg; break;
        case 'P':
            if (parse_limit(optarg, &cfg.snapshot_limit) != 0)
                return cli_usage(cmd, "--snapshot-limit takes a number from 1 "
                                 "to 1000000");
            break;
        case 'J':
            if (cli_parse_jobs(optarg, &cfg.jobs) != 0)
                return cli_usage(cmd, "--jobs takes a number from 1 to 64");
            break;
        default:
            return cli_args_usage(&a, cmd);
        }
    }
    if (a.count != 0)
        return cli_usage(cmd, "unexpected argument: %s", a.operands[0]);
    if (cfg.out == NULL)
        return cli_usage(cmd, "--out DIR is required");
    if (d.icp.network == NULL && d.icp.environment != NULL)
        cfg.environment = d.icp.environment; /* icp targets by environment */
    sf_error_clear(&err);
    if (cfg.root == NULL) {
        if (default_root(&d, root, sizeof root, &err) != SF_OK)
            return (err.kind && strcmp(err.kind, SF_EK_USAGE) == 0) ? cli_usage(cmd, "%s", err.message)
                                           : cli_fail(d.sim_state, &err);
        cfg.root = root;
    }
    if (cfg.canister == NULL) {
        /* canic: no explicit canister means the whole fleet from its root */
        cfg.canister = cfg.root;
        cfg.recursive = true;
    }
    d.dry_run = cfg.dry_run;
    if (cli_stack_open(&d, &s, &err) != SF_OK)
        return (err.kind && strcmp(err.kind, SF_EK_USAGE) == 0) ? cli_usage(cmd, "%s", err.message)
                                       : cli_fail(NULL, &err);
    cfg.log = cli_progress(&d);
    cfg.progress = s.progress;
    cfg.snapshot_limit = snapshot_limit(cfg.snapshot_limit, &s);
    rc = sf_snapshot_download(&cfg, s.top, &s.clock, &res, &err);
    cli_status_end(&s);
    if (rc == SF_OK) {
        fwrite(sf_buf_cstr(&res.planned_commands), 1, res.planned_commands.len,
               stdout);
        for (i = 0; i < res.artifact_count; i++)
            printf("%s %s %s\n", res.artifacts[i].canister_id,
                   res.artifacts[i].snapshot_id, res.artifacts[i].path);
        sf_snapshot_download_result_free(&res);
    }
    if (cli_stack_close(&s, rc == SF_OK ? &err : NULL) != SF_OK && rc == SF_OK)
        rc = SF_ERR;
    return rc == SF_OK ? EXIT_OK : cli_fail(cfg.out, &err);
}

/* What the JSON's "stopped" says, for a person (backup and restore run):
 * the fleet's span, the canister held longest, and any this run left
 * stopped. */
void cli_print_stopped(const sf_backup_stopped *s, size_t n, bool has_span,
                       uint64_t span_ms)
{
    const sf_backup_stopped *longest = NULL;
    size_t i;

    for (i = 0; i < n; i++)
        if (longest == NULL || s[i].stopped_ms > longest->stopped_ms)
            longest = &s[i];
    if (has_span && longest != NULL)
        printf("stopped: %zu canister%s, the fleet for %llu ms (first stop to "
               "last start), the longest %s, %llu ms\n", n,
               n == 1 ? "" : "s", (unsigned long long)span_ms,
               longest->canister_id, (unsigned long long)longest->stopped_ms);
    for (i = 0; i < n; i++)
        if (!s[i].restarted)
            printf("still stopped: %s\n", s[i].canister_id);
}

static void print_backup_result(const sf_backup_config *cfg,
                                const sf_backup_result *r, bool json)
{
    const char *status = cfg->dry_run ? "planned"
                         : r->complete ? "complete"
                         : r->max_steps_reached ? "paused" : "running";
    const char *scope = r->scope != NULL ? r->scope : "";
    if (json) {
        sf_buf b;
        sf_jw w;
        sf_error ignored;

        sf_buf_init(&b);
        sf_jw_init(&w, &b);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "plan_id", r->plan_id);
        sf_jw_kv_string(&w, "run_id", r->run_id);
        sf_jw_kv_string(&w, "backup_id", r->run_id);
        sf_jw_kv_string(&w, "fleet", cfg->fleet);
        sf_jw_kv_string(&w, "network", cfg->network);
        sf_jw_kv_string(&w, "mode", cfg->dry_run ? "dry-run" : "execute");
        sf_jw_kv_string(&w, "status", status);
        sf_jw_kv_string(&w, "scope", scope);
        sf_jw_kv_bool(&w, "resumed", r->resumed);
        sf_jw_kv_bool(&w, "complete", r->complete);
        sf_jw_kv_bool(&w, "max_steps_reached", r->max_steps_reached);
        sf_jw_kv_u64(&w, "targets", r->target_count);
        sf_jw_kv_u64(&w, "executed_operation_count", r->executed);
        sf_jw_kv_u64(&w, "total_operations", r->total_operations);
        sf_jw_kv_string(&w, "out", cfg->out);
        /* what this run held stopped, in the clock's ms */
        sf_jw_key(&w, "stopped");
        sf_stopped_write_json(&w, r->stopped, r->stopped_count,
                              r->has_fleet_stopped_span,
                              r->fleet_stopped_span_ms);
        sf_jw_end_object(&w);
        sf_jw_finish(&w, &ignored);
        cli_print(&b);
        sf_buf_free(&b);
        return;
    }
    fwrite(sf_buf_cstr(&r->planned_commands), 1, r->planned_commands.len, stdout);
    printf("%-10s %-8s %-8s %-9s %-20s %-8s %-11s %-9s %s\n", "FLEET", "NETWORK",
           "MODE", "STATUS", "SCOPE", "TARGETS", "OPERATIONS", "EXECUTED", "OUT");
    printf("%-10s %-8s %-8s %-9s %-20s %-8llu %-11llu %-9llu %s\n", cfg->fleet,
           cfg->network, cfg->dry_run ? "dry-run" : "execute", status, scope,
           (unsigned long long)r->target_count,
           (unsigned long long)r->total_operations,
           (unsigned long long)r->executed, cfg->out);
    cli_print_stopped(r->stopped, r->stopped_count, r->has_fleet_stopped_span,
                      r->fleet_stopped_span_ms);
}

int cmd_backup_run(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS, CLI_DRIVER_LONGOPTS,
        {"out", required_argument, NULL, 'o'},
        {"fleet", required_argument, NULL, 'f'},
        {"network", required_argument, NULL, 'N'},
        {"root", required_argument, NULL, 'r'},
        {"subtree", required_argument, NULL, 's'},
        {"include-root", no_argument, NULL, 'I'},
        {"schedule", required_argument, NULL, 'S'},
        {"leave-stopped", no_argument, NULL, 'L'},
        {"dry-run", no_argument, NULL, 'n'},
        {"max-steps", required_argument, NULL, 'm'},
        {"jobs", required_argument, NULL, 'J'},
        {"json", no_argument, NULL, 'j'},
        {"verify-transfer", no_argument, NULL, 'T'},
        {"keep-on-canister", required_argument, NULL, 'K'},
        {"root-dir", required_argument, NULL, 'D'},
        {"snapshot-limit", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "backup";
    sf_backup_config cfg;
    sf_backup_result res;
    cli_driver_opts d;
    cli_stack s;
    sf_error err;
    char root[SF_PRINCIPAL_TEXT_MAX + 64], *end;
    bool json = false;
    cli_args a;
    int c, k, rc;

    memset(&cfg, 0, sizeof cfg);
    cfg.fleet = "fleet";
    cfg.network = "local";
    cfg.tool_name = TOOL_NAME;
    cfg.tool_version = SF_VERSION;
    cfg.retain_on_canister = true;
    cfg.keep_on_canister = 1;
    cfg.jobs = 4;
    cli_driver_opts_init(&d);
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, backup_usage))
            return EXIT_OK;
        if ((k = cli_driver_opt(&d, c, optarg, cmd)) != 0) {
            if (k < 0)
                return EXIT_USAGE;
            continue;
        }
        switch (c) {
        case 'o': cfg.out = optarg; break;
        case 'f': cfg.fleet = optarg; break;
        case 'N': cfg.network = d.icp.network = optarg; break;
        case 'r': cfg.root = optarg; break;
        case 's': cfg.subtree = optarg; break;
        case 'I': cfg.include_root = true; break;
        case 'L': cfg.leave_stopped = true; break;
        case 'n': cfg.dry_run = true; break;
        case 'j': json = true; break;
        case 'T': cfg.verify_transfer = true; break;
        case 'K':
            if (parse_keep(optarg, &cfg.keep_on_canister) != 0)
                return cli_usage(cmd, "--keep-on-canister takes a number");
            break;
        case 'D': cfg.root_dir = optarg; break;
        case 'P':
            if (parse_limit(optarg, &cfg.snapshot_limit) != 0)
                return cli_usage(cmd, "--snapshot-limit takes a number from 1 "
                                 "to 1000000");
            break;
        case 'S':
            if (strcmp(optarg, "fleet") == 0)
                cfg.schedule = SF_BACKUP_FLEET;
            else if (strcmp(optarg, "per-canister") == 0)
                cfg.schedule = SF_BACKUP_PER_CANISTER;
            else
                return cli_usage(cmd, "--schedule is fleet or per-canister");
            break;
        case 'J':
            if (cli_parse_jobs(optarg, &cfg.jobs) != 0)
                return cli_usage(cmd, "--jobs takes a number from 1 to 64");
            break;
        case 'm':
            errno = 0;
            cfg.max_steps = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || errno != 0 || cfg.max_steps == 0)
                return cli_usage(cmd, "--max-steps takes a positive number");
            break;
        default:
            return cli_args_usage(&a, cmd);
        }
    }
    if (a.count != 0)
        return cli_usage(cmd, "unexpected argument: %s", a.operands[0]);
    if (cfg.out == NULL)
        return cli_usage(cmd, "--out DIR is required");
    if (cfg.subtree != NULL && cfg.include_root)
        return cli_usage(cmd, "--subtree and --include-root exclude each other");
    if (d.icp.network == NULL && d.icp.environment != NULL)
        cfg.network = d.icp.environment; /* icp targets by environment */
    sf_error_clear(&err);
    if (cfg.root == NULL) {
        if (default_root(&d, root, sizeof root, &err) != SF_OK)
            return (err.kind && strcmp(err.kind, SF_EK_USAGE) == 0) ? cli_usage(cmd, "%s", err.message)
                                           : cli_fail(d.sim_state, &err);
        cfg.root = root;
    }
    d.dry_run = cfg.dry_run;
    if (cli_stack_open(&d, &s, &err) != SF_OK)
        return (err.kind && strcmp(err.kind, SF_EK_USAGE) == 0) ? cli_usage(cmd, "%s", err.message)
                                       : cli_fail(NULL, &err);
    cfg.log = cli_progress(&d);
    cfg.progress = s.progress;
    cfg.snapshot_limit = snapshot_limit(cfg.snapshot_limit, &s);
    rc = sf_backup_run(&cfg, s.top, &s.clock, &res, &err);
    cli_status_end(&s);
    if (rc == SF_OK)
        print_backup_result(&cfg, &res, json);
    sf_backup_result_free(&res);
    if (cli_stack_close(&s, rc == SF_OK ? &err : NULL) != SF_OK && rc == SF_OK)
        rc = SF_ERR;
    return rc == SF_OK ? EXIT_OK : cli_fail(cfg.out, &err);
}

static const char verify_usage[] =
    "usage: snapfleet backup verify DIR [--json]\n\n"
    "Offline integrity check of a backup directory, canic's order: the\n"
    "manifest and the download journal are valid and agree (backup id,\n"
    "topology hashes, every artifact durable with a checksum, same paths), no\n"
    "artifact path leaves DIR or goes through a symbolic link, and every\n"
    "artifact's checksum recomputes from its bytes.\n\n"
    "  --json    canic's integrity report JSON\n"
    "Exit status: 0 verified, 1 not, 2 usage error.\n\n"
    "snapfleet backup verify s3://BUCKET/PREFIX/NAME [--json] [--endpoint URL]\n"
    "    [--region R] [--addressing path|virtual] [--identity KEYFILE] [--jobs N]:\n"
    "    a pushed\n"
    "    backup, streamed into a scratch directory under $TMPDIR (then removed),\n"
    "    every object decrypted and authenticated when encrypted, every\n"
    "    artifact re-hashed against its manifest, the whole backup verified.\n"
    REMOTE_OPTIONS_HELP IDENTITY_HELP REMOTE_JOBS_HELP;

static int dir_arg(int argc, char **argv, const char *cmd, const char *usage,
                   bool *json, const char **dir)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    cli_args a;
    int c;

    *json = false;
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, usage))
            return EXIT_OK;
        if (c == 'j')
            *json = true;
        else
            return cli_args_usage(&a, cmd);
    }
    if (a.count != 1)
        return cli_usage(cmd, "expected exactly one DIR");
    *dir = a.operands[0];
    return -1;
}

int cmd_backup_verify(int argc, char **argv)
{
    sf_integrity_report rep;
    const char *dir = NULL;
    sf_error err;
    bool json;
    sf_buf b;
    int rc;

    if (cli_remote_operand(argc, argv))
        return cmd_remote_verify(argc, argv, verify_usage);
    if ((rc = dir_arg(argc, argv, "backup verify", verify_usage, &json, &dir)) >= 0)
        return rc;
    sf_error_clear(&err);
    if (sf_verify_integrity(dir, &rep, &err) != SF_OK) {
        if (json) {
            sf_buf_init(&b);
            cli_error_json(&b, &err);
            cli_print(&b);
            sf_buf_free(&b);
        }
        return cli_fail(dir, &err);
    }
    if (json) {
        sf_buf_init(&b);
        if (sf_integrity_report_json(&rep, &b, &err) == SF_OK)
            cli_print(&b);
        sf_buf_free(&b);
    } else {
        printf("verified %s: %zu members, %zu durable artifacts, every "
               "checksum recomputed\n", rep.backup_id, rep.manifest_members,
               rep.durable_artifacts);
    }
    sf_integrity_report_free(&rep);
    return EXIT_OK;
}

static const char status_usage[] =
    "usage: snapfleet backup status DIR [--json]\n\n"
    "Where a backup directory stands: the download journal's resume report\n"
    "(what each artifact needs next) and, for planned backups, the execution\n"
    "journal's summary (operations done, pending, failed, and the next one).\n\n"
    "  --json    {\"layout_status\", \"execution\", \"download\"}\n";

int cmd_backup_status(int argc, char **argv)
{
    const char *dir = NULL, *layout = "empty";
    char *plan_path = NULL, *journal_path = NULL, *dj_path = NULL, *man_path = NULL;
    sf_exec_journal j;
    sf_download_journal dj;
    sf_exec_resume_summary s;
    bool json, have_j = false, have_dj = false;
    sf_error err;
    sf_buf b, table;
    sf_jw w;
    int rc;

    if ((rc = dir_arg(argc, argv, "backup status", status_usage, &json, &dir)) >= 0)
        return rc;
    sf_error_clear(&err);
    plan_path = sf_path_join(dir, SF_PLAN_FILE_NAME);
    journal_path = sf_path_join(dir, SF_EXEC_JOURNAL_FILE_NAME);
    dj_path = sf_path_join(dir, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    man_path = sf_path_join(dir, "fleet-backup-manifest.json");
    rc = EXIT_OK;
    /* the journals as they stand: checkpoints + the transition log */
    if (sf_backup_state_read(dir, &j, &have_j, &dj, &have_dj, &err) != SF_OK) {
        rc = cli_fail(dir, &err);
        goto done;
    }
    if (have_j) {
        sf_exec_journal_resume_summary(&j, &s);
        if (sf_exec_resume_summary_is_complete(&s) && access(man_path, F_OK) == 0)
            layout = "complete";
        else if (s.failed_operations > 0)
            layout = "failed";
        else if (j.preflight_accepted || s.completed_operations > 0)
            layout = "running";
        else
            layout = "dry-run";
    } else if (have_dj) {
        sf_journal_resume_summary ds;
        sf_download_journal_resume_summary(&dj, &ds);
        layout = ds.is_complete && access(man_path, F_OK) == 0 ? "complete"
                                                               : "running";
    } else if (access(dir, F_OK) != 0) {
        sf_error_set_errno(&err, errno, "", "cannot open %s", dir);
        rc = cli_fail(NULL, &err);
        goto done;
    }
    sf_buf_init(&b);
    if (json) {
        sf_jw_init(&w, &b);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "layout_status", layout);
        sf_jw_end_object(&w);
        /* splice the two reports in as raw JSON members */
        b.len -= 2;
        b.data[b.len] = '\0';
        sf_buf_puts(&b, ",\n  \"execution\": ");
        if (have_j) {
            sf_buf sub;
            sf_buf_init(&sub);
            sf_exec_journal_resume_summary_json(&j, &sub, &err);
            for (size_t i = 0; i < sub.len; i++) {
                sf_buf_putc(&b, sub.data[i]);
                if (sub.data[i] == '\n')
                    sf_buf_puts(&b, "  ");
            }
            sf_buf_free(&sub);
        } else {
            sf_buf_puts(&b, "null");
        }
        sf_buf_puts(&b, ",\n  \"download\": ");
        if (have_dj) {
            sf_buf sub;
            sf_buf_init(&sub);
            sf_download_journal_resume_report_json(&dj, &sub, &err);
            for (size_t i = 0; i < sub.len; i++) {
                sf_buf_putc(&b, sub.data[i]);
                if (sub.data[i] == '\n')
                    sf_buf_puts(&b, "  ");
            }
            sf_buf_free(&sub);
        } else {
            sf_buf_puts(&b, "null");
        }
        sf_buf_puts(&b, "\n}");
        cli_print(&b);
    } else {
        printf("Backup: %s\nStatus: %s\n", dir, layout);
        if (have_j) {
            printf("Operations: %llu total, %llu completed, %llu pending, "
                   "%llu failed, %llu ready, %llu blocked\n",
                   (unsigned long long)s.total_operations,
                   (unsigned long long)s.completed_operations,
                   (unsigned long long)s.pending_operations,
                   (unsigned long long)s.failed_operations,
                   (unsigned long long)s.ready_operations,
                   (unsigned long long)s.blocked_operations);
            if (s.next_operation != NULL)
                printf("Next: #%llu %s (%s)\n",
                       (unsigned long long)s.next_operation->sequence,
                       s.next_operation->operation_id,
                       sf_exec_state_name(s.next_operation->state));
            if (s.restart_required)
                printf("Attention: a canister this backup stopped is not "
                       "started yet; rerun the backup to finish it.\n");
        }
        if (have_dj) {
            sf_buf_init(&table);
            if (sf_download_journal_resume_table(&dj, &table, &err) == SF_OK)
                fwrite(sf_buf_cstr(&table), 1, table.len, stdout);
            sf_buf_free(&table);
        }
    }
    sf_buf_free(&b);
done:
    if (have_j)
        sf_exec_journal_free(&j);
    if (have_dj)
        sf_download_journal_free(&dj);
    free(plan_path);
    free(journal_path);
    free(dj_path);
    free(man_path);
    return rc;
}
