/* snapfleet: back up and restore fleets of Internet Computer canisters. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/json.h"

static const cli_command commands[] = {
    {"manifest", "validate", cmd_manifest_validate,
     "check a fleet-backup-manifest.json against canic's rules"},
    {"journal", "validate", cmd_journal_validate,
     "check a download-journal.json against canic's rules"},
    {"journal", "report", cmd_journal_report,
     "show a download journal's resume report"},
    {"topology", "hash", cmd_topology_hash,
     "resolve targets from a registry and print their topology hash"},
    {"checksum", NULL, cmd_checksum,
     "print the artifact checksum of files or artifact directories"},
    {"snapshot", "download", cmd_snapshot_download,
     "canic's direct capture: stop, snapshot, download, verify each target"},
    {"backup", "verify", cmd_backup_verify,
     "check a backup directory offline: documents and every checksum"},
    {"backup", "status", cmd_backup_status,
     "show where a backup directory stands and what comes next"},
    {"backup", "list", cmd_backup_list,
     "list the backups under a root, newest first, with their status"},
    {"backup", "inspect", cmd_backup_inspect,
     "show what a backup directory holds and where its journals stand"},
    {"backup", "prune", cmd_backup_prune,
     "delete local backups beyond the newest N verified ones"},
    {"backup", NULL, cmd_backup_run,
     "plan and run (or resume) a fleet backup"},
    {"push", NULL, cmd_push,
     "copy a verified backup to object storage (s3://), content-addressed"},
    {"pull", NULL, cmd_pull,
     "copy a backup from object storage into a new directory, verified"},
    {"keygen", NULL, cmd_keygen,
     "make a key pair for encrypted copies in object storage"},
    {"restore", "plan", cmd_restore_plan,
     "verify a backup and print canic's restore plan"},
    {"restore", "run", cmd_restore_run,
     "restore a fleet from a backup (dry run, execute, recover)"},
    {"restore", "status", cmd_restore_status,
     "show where a restore stands and what comes next"},
    {"sim", "init", cmd_sim_init, "create a simulated fleet in a state file"},
    {"sim", "show", cmd_sim_show, "show a simulated fleet's canisters"},
    {"sim", "registry", cmd_sim_registry, "print a simulated root's registry JSON"},
    {"sim", "mutate", cmd_sim_mutate, "change a simulated canister's memory"},
    {"sim", "run", cmd_sim_run,
     "deterministic simulation testing over a range of seeds"},
    {NULL, NULL, NULL, NULL},
};

static void print_help(FILE *f)
{
    const cli_command *c;

    fprintf(f, "usage: snapfleet <command> [options]\n\n"
               "Backs up and restores fleets of Internet Computer canisters.\n\n"
               "Commands:\n");
    for (c = commands; c->noun != NULL; c++) {
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", c->noun, c->verb ? " " : "",
                 c->verb ? c->verb : "");
        fprintf(f, "  %-22s %s\n", name, c->summary);
    }
    fprintf(f, "\nEvery command takes --help and --version. Options and operands "
               "come in any\norder; -- ends the options. Exit status: 0 success, "
               "1 failure or invalid\ninput, 2 usage error. Manual: man snapfleet.\n");
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "snapfleet %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'snapfleet %s --help'.\n", cmd);
    return EXIT_USAGE;
}

int cli_fail(const char *context, const sf_error *err)
{
    fprintf(stderr, "snapfleet: ");
    if (context != NULL && strncmp(err->message, context, strlen(context)) != 0)
        fprintf(stderr, "%s: ", context);
    if (err->field[0] != '\0' && strstr(err->message, err->field) != err->message)
        fprintf(stderr, "%s: ", err->field);
    fprintf(stderr, "%s (%s)\n", err->message, err->kind ? err->kind : "error");
    return EXIT_FAIL;
}

int cli_common(int opt, const char *usage)
{
    if (opt == 'h') {
        fputs(usage, stdout);
        return 1;
    }
    if (opt == 'V') {
        printf("snapfleet %s\n", SF_VERSION);
        return 1;
    }
    return 0;
}

void cli_error_json(sf_buf *out, const sf_error *err)
{
    sf_jw w;
    sf_error ignored;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_bool(&w, "valid", false);
    sf_jw_key(&w, "error");
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "kind", err->kind ? err->kind : "unknown");
    sf_jw_kv_string(&w, "field", err->field[0] ? err->field : NULL);
    sf_jw_kv_string(&w, "message", err->message);
    sf_jw_end_object(&w);
    sf_jw_end_object(&w);
    sf_jw_finish(&w, &ignored);
}

void cli_print(const sf_buf *b)
{
    fwrite(sf_buf_cstr(b), 1, b->len, stdout);
    fputc('\n', stdout);
}

bool cli_is_help(const char *arg)
{
    return strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0;
}

int main(int argc, char **argv)
{
    const cli_command *c;
    bool noun_known = false;

    if (argc < 2) {
        print_help(stderr);
        return EXIT_USAGE;
    }
    if (cli_is_help(argv[1]) || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("snapfleet %s\n", SF_VERSION);
        return EXIT_OK;
    }
    for (c = commands; c->noun != NULL; c++) {
        if (strcmp(argv[1], c->noun) != 0)
            continue;
        noun_known = true;
        if (c->verb != NULL && argc >= 3 && strcmp(argv[2], c->verb) == 0)
            return c->run(argc - 2, argv + 2);
    }
    for (c = commands; c->noun != NULL; c++)
        if (c->verb == NULL && strcmp(argv[1], c->noun) == 0)
            return c->run(argc - 1, argv + 1);
    if (noun_known) {
        if (argc >= 3 && (cli_is_help(argv[2]) || strcmp(argv[2], "help") == 0)) {
            printf("usage: snapfleet %s <verb> [options]\n\nVerbs:\n", argv[1]);
            for (c = commands; c->noun != NULL; c++)
                if (strcmp(c->noun, argv[1]) == 0 && c->verb != NULL)
                    printf("  %-10s %s\n", c->verb, c->summary);
            return EXIT_OK;
        }
        return cli_usage(argv[1], "unknown or missing verb%s%s",
                         argc >= 3 ? ": " : "", argc >= 3 ? argv[2] : "");
    }
    fprintf(stderr, "snapfleet: unknown command: %s\nTry 'snapfleet --help'.\n",
            argv[1]);
    return EXIT_USAGE;
}
