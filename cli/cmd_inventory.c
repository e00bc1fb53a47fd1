/* backup list, backup inspect, backup prune: the backup root. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "drivers.h"
#include "snapfleet/inventory.h"

/* Where `backup list` looks without ROOTDIR (canic's default too). */
#define DEFAULT_ROOT "backups"

static const char list_usage[] =
    "usage: snapfleet backup list [ROOTDIR] [--verify] [--json]\n"
    "           [--sim-state FILE | --driver icp --network NAME ...]\n\n"
    "Every backup directory under ROOTDIR (default: " DEFAULT_ROOT "), newest\n"
    "first: directory, backup id, fleet, network, time, status, members, bytes\n"
    "on disk. Status is one of complete, verified, corrupt, failed,\n"
    "in-progress, locked (a live run holds it), dry-run, invalid (a document\n"
    "cannot be read). Directories without a backup document are left out.\n\n"
    "With a driver (--sim-state, or --driver icp), every canister a complete\n"
    "backup recorded a snapshot of is listed once, and ON_CANISTERS says how\n"
    "many of the backup's snapshots are still there (\"2/3\"; JSON\n"
    "snapshots_on_canisters: 2). Without one, nothing is asked: \"-\" and\n"
    "null. Listing changes nothing.\n\n"
    "  --verify  recompute every checksum of complete backups (verified or\n"
    "            corrupt instead of complete; reads every byte)\n"
    "  --json    {\"root\", \"backups\": [...], \"trash\": [...]}\n"
    "  --network NAME|URL  icp: the network the canisters are on\n\n"
    CLI_DRIVER_USAGE
    "\nsnapfleet backup list s3://BUCKET/PREFIX [--json] [--endpoint URL]\n"
    "    [--region R] [--addressing path|virtual] [--identity KEYFILE]: the\n"
    "    backups pushed there (snapfleet push), complete ones (manifest there)\n"
    "    newest first, then incomplete ones (a push that did not finish); an\n"
    "    encrypted one without its identity is listed without id and time.\n"
    REMOTE_OPTIONS_HELP IDENTITY_HELP;

static const char inspect_usage[] =
    "usage: snapfleet backup inspect DIR [--json]\n\n"
    "What a backup directory holds, from its documents: status, the\n"
    "manifest's members (role, canister, parent, snapshot, module hash,\n"
    "artifact, checksum, bytes on disk), topology hashes, and where the\n"
    "execution and download journals stand. Nothing is recomputed: `backup\n"
    "verify` does that.\n\n"
    "  --json    the same as one JSON document\n";

static const char prune_usage[] =
    "usage: snapfleet backup prune ROOTDIR --keep N [--dry-run] [--json]\n\n"
    "Deletes the backup directories under ROOTDIR older than the newest N\n"
    "verified ones (every checksum is recomputed first: only a backup that\n"
    "would restore counts). Never deletes a backup that is locked, in\n"
    "progress, a dry run, unreadable, the newest failed one (the evidence),\n"
    "or a directory holding anything a backup layout does not. Each\n"
    "deletion renames the directory to " SF_TRASH_PREFIX "<name> first, then\n"
    "removes it; a prune interrupted half-way is finished by the next one.\n\n"
    "  --keep N    how many verified backups to keep (at least 1)\n"
    "  --dry-run   decide and report, delete nothing\n"
    "  --json      {\"root\", \"dry_run\", \"kept\", \"deleted\", \"protected\",\n"
    "              \"trash_finished\", \"backups\": [{dir, status, action, reason}]}\n\n"
    "snapfleet backup prune s3://BUCKET/PREFIX --keep N [--dry-run] [--json]\n"
    "    [--endpoint URL] [--region R] [--addressing path|virtual]\n"
    "    [--identity KEYFILE]: deletes the complete pushed backups beyond the\n"
    "    newest N (manifest first), then every artifact object no remaining\n"
    "    backup names (those of incomplete pushes are kept). Every remaining\n"
    "    backup's index is read first (encrypted ones need --identity), so a\n"
    "    prune that cannot read one deletes nothing. Do not run it while a\n"
    "    push to the same prefix runs.\n"
    REMOTE_OPTIONS_HELP IDENTITY_HELP;

/* Options in any order (cli_args); at most one positional, required when `required`
 * names it. Returns an exit status, or -1 to go on. */
static int parse(int argc, char **argv, const char *cmd, const char *usage,
                 const struct option *opts, const char *required,
                 int (*on_opt)(int c, const char *arg, void *ctx), void *ctx,
                 const char **positional)
{
    cli_args a;
    int c, k;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, usage))
            return EXIT_OK;
        if (c == '?' || c == ':' || (k = on_opt(c, optarg, ctx)) < 0)
            return cli_args_usage(&a, cmd);
        if (k > 0)
            return k;
    }
    if (a.count > 1)
        return cli_usage(cmd, "unexpected argument: %s", a.operands[1]);
    if (a.count == 1)
        *positional = a.operands[0];
    else if (required != NULL)
        return cli_usage(cmd, "expected %s", required);
    return -1;
}

typedef struct flags {
    bool json, verify, dry_run;
    const char *keep;
} flags;

static int on_flag(int c, const char *arg, void *ctx)
{
    flags *f = ctx;

    switch (c) {
    case 'j': f->json = true; return 0;
    case 'v': f->verify = true; return 0;
    case 'n': f->dry_run = true; return 0;
    case 'k': f->keep = arg; return 0;
    default: return -1;
    }
}

/* Remote roots (object storage) dispatch here once they exist; until then
 * a URL is refused rather than read as a local path. */
static bool refuse_remote(const char *cmd, const char *where)
{
    if (strstr(where, "://") == NULL)
        return false;
    cli_usage(cmd, "%s: only local directories are supported", where);
    return true;
}

typedef struct list_flags {
    flags f;
    cli_driver_opts d;
    bool driver_given; /* --driver or --sim-state */
} list_flags;

/* 1: handled, exit status 2 already printed; see parse(). */
static int on_list_flag(int c, const char *arg, void *ctx)
{
    list_flags *l = ctx;
    int k;

    if (c == 'N') {
        l->d.icp.network = arg;
        return 0;
    }
    if ((k = cli_driver_opt(&l->d, c, arg, "backup list")) != 0) {
        if (c == 1001 || c == 1002)
            l->driver_given = true;
        return k < 0 ? EXIT_USAGE : 0;
    }
    return on_flag(c, arg, &l->f);
}

/* With a driver: how many of each backup's snapshots are still on the
 * canisters. The simulator's state is read, never written. */
static int check_canisters(list_flags *l, sf_inventory *inv, sf_error *err)
{
    cli_stack s;
    int rc;

    if (!l->driver_given && l->d.icp_only == NULL && l->d.icp.network == NULL)
        return SF_OK;
    if (strcmp(l->d.driver, "sim") == 0 && l->d.sim_state == NULL &&
        (l->d.icp_only != NULL || l->d.icp.network != NULL))
        return sf_error_set(err, SF_EK_USAGE, "--driver", "%s belongs to "
                            "--driver icp", l->d.icp_only != NULL
                                                ? l->d.icp_only : "--network");
    l->d.dry_run = true;
    if (cli_stack_open(&l->d, &s, err) != SF_OK)
        return SF_ERR;
    rc = sf_inventory_check_canisters(inv, s.top, err);
    if (cli_stack_close(&s, rc == SF_OK ? err : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

int cmd_backup_list(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS, CLI_DRIVER_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"verify", no_argument, NULL, 'v'},
        {"network", required_argument, NULL, 'N'},
        {NULL, 0, NULL, 0},
    };
    const char *root = DEFAULT_ROOT;
    list_flags l;
    flags f;
    sf_inventory inv;
    sf_error err;
    sf_buf b;
    int rc;

    memset(&l, 0, sizeof l);
    cli_driver_opts_init(&l.d);
    if (cli_remote_operand(argc, argv))
        return cmd_remote_list(argc, argv, list_usage);
    if ((rc = parse(argc, argv, "backup list", list_usage, opts, NULL,
                    on_list_flag, &l, &root)) >= 0)
        return rc;
    f = l.f;
    if (refuse_remote("backup list", root))
        return EXIT_USAGE;
    sf_error_clear(&err);
    if (sf_inventory_scan(root, f.verify, &inv, &err) != SF_OK)
        return cli_fail(root, &err);
    if (check_canisters(&l, &inv, &err) != SF_OK) {
        sf_inventory_free(&inv);
        if (err.kind != NULL && strcmp(err.kind, SF_EK_USAGE) == 0)
            return cli_usage("backup list", "%s", err.message);
        return cli_fail(l.d.sim_state != NULL ? l.d.sim_state : root, &err);
    }
    sf_buf_init(&b);
    if (f.json) {
        rc = sf_inventory_json(&inv, &b, &err);
        if (rc == SF_OK)
            cli_print(&b);
    } else {
        rc = sf_inventory_table(&inv, &b, &err);
        if (rc == SF_OK)
            fwrite(sf_buf_cstr(&b), 1, b.len, stdout);
    }
    sf_buf_free(&b);
    sf_inventory_free(&inv);
    return rc == SF_OK ? EXIT_OK : cli_fail(root, &err);
}

int cmd_backup_inspect(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    flags f = {0};
    sf_error err;
    sf_buf b;
    int rc;

    if ((rc = parse(argc, argv, "backup inspect", inspect_usage, opts, "DIR",
                    on_flag, &f, &dir)) >= 0)
        return rc;
    if (refuse_remote("backup inspect", dir))
        return EXIT_USAGE;
    sf_error_clear(&err);
    sf_buf_init(&b);
    rc = f.json ? sf_backup_inspect_json(dir, &b, &err)
                : sf_backup_inspect_text(dir, &b, &err);
    if (rc == SF_OK) {
        if (f.json)
            cli_print(&b);
        else
            fwrite(sf_buf_cstr(&b), 1, b.len, stdout);
    }
    sf_buf_free(&b);
    return rc == SF_OK ? EXIT_OK : cli_fail(dir, &err);
}

int cmd_backup_prune(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"keep", required_argument, NULL, 'k'},
        {"dry-run", no_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL;
    flags f = {0};
    sf_prune_result res;
    unsigned long long keep;
    char *end;
    sf_error err;
    sf_buf b;
    size_t i;
    int rc;

    if (cli_remote_operand(argc, argv))
        return cmd_remote_prune(argc, argv, prune_usage);
    if ((rc = parse(argc, argv, "backup prune", prune_usage, opts, "ROOTDIR",
                    on_flag, &f, &root)) >= 0)
        return rc;
    if (f.keep == NULL)
        return cli_usage("backup prune", "--keep N is required");
    errno = 0;
    keep = strtoull(f.keep, &end, 10);
    if (*f.keep == '\0' || *f.keep == '-' || *end != '\0' || errno != 0 || keep == 0)
        return cli_usage("backup prune", "--keep takes a number of at least 1");
    if (refuse_remote("backup prune", root))
        return EXIT_USAGE;
    sf_error_clear(&err);
    if (sf_prune(root, (size_t)keep, f.dry_run, &res, &err) != SF_OK)
        return cli_fail(root, &err);
    sf_buf_init(&b);
    rc = SF_OK;
    if (f.json) {
        if ((rc = sf_prune_result_json(&res, root, &b, &err)) == SF_OK)
            cli_print(&b);
    } else {
        for (i = 0; i < res.trash_finished_count; i++)
            printf("%s %s (finishing an interrupted prune)\n",
                   f.dry_run ? "would remove" : "removed", res.trash_finished[i]);
        for (i = 0; i < res.count; i++) {
            const sf_prune_decision *d = &res.decisions[i];
            const char *act = d->action == SF_PRUNE_DELETE
                                  ? (f.dry_run ? "would delete" : "deleted")
                                  : sf_prune_action_name(d->action);
            printf("%-12s %-30s %-11s %s\n", act, d->name,
                   sf_backup_state_name(d->state), d->reason);
        }
        printf("%zu kept, %zu %s, %zu protected\n", res.kept, res.deleted,
               f.dry_run ? "to delete" : "deleted", res.protected_count);
    }
    sf_buf_free(&b);
    sf_prune_result_free(&res);
    return rc == SF_OK ? EXIT_OK : cli_fail(root, &err);
}
