/* The snapfleet command line: shared conventions. Exit 0 on success, 1
 * when the operation failed or the input is invalid, 2 on usage errors.
 * Errors go to stderr, one clear line first. */
#ifndef SNAPFLEET_CLI_H
#define SNAPFLEET_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "snapfleet/buf.h"
#include "snapfleet/backup.h"
#include "snapfleet/error.h"

#define EXIT_OK 0
#define EXIT_FAIL 1
#define EXIT_USAGE 2

typedef struct cli_command {
    const char *noun;
    const char *verb; /* NULL: the noun alone */
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Prints "snapfleet <cmd>: <msg>" and a hint to --help; returns 2. */
int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints one line: "snapfleet: [<context>: ][<field>: ]<message> (<kind>)";
 * context (a file name, say) may be NULL. Returns 1. */
int cli_fail(const char *context, const sf_error *err);
/* {"kind": ..., "field": ..., "message": ...} into w's buffer. */
void cli_error_json(sf_buf *out, const sf_error *err);
/* Writes a buffer to stdout, adding a final newline. */
void cli_print(const sf_buf *b);
/* Handles the options every command takes: returns 1 when opt was
 * --help (usage printed to stdout) or --version (printed), 0 otherwise. */
int cli_common(int opt, const char *usage);
#define CLI_COMMON_LONGOPTS {"help", no_argument, NULL, 'h'}, \
                            {"version", no_argument, NULL, 'V'}

/* Options and operands in any order (GNU permutation, independent of
 * POSIXLY_CORRECT); "--" ends the options. Usage:
 *     cli_args a;
 *     cli_args_begin(&a, argc, argv);
 *     while ((c = cli_args_next(&a, opts)) != -1) { ... optarg ... }
 *     then a.count operands in a.operands[0..count), in command-line order.
 * cli_args_next returns the option's code, or '?' (unknown option) / ':'
 * (missing value); a.bad names the option last returned (for messages).
 * Operands are gathered
 * in place at argv[1..]. */
typedef struct cli_args {
    int argc;
    char **argv;
    char **operands;
    int count;
    bool missing;
    char bad[128];
} cli_args;
void cli_args_begin(cli_args *a, int argc, char **argv);
int cli_args_next(cli_args *a, const struct option *opts);
/* The usage error for an option cli_args_next returned but the command
 * does not take ("unknown option: X" or "option requires a value: X");
 * returns 2. */
int cli_args_usage(const cli_args *a, const char *cmd);
/* --jobs of backup, snapshot download and restore run: 1 to CLI_JOBS_MAX
 * (the engine's limit); -1 otherwise. */
#define CLI_JOBS_MAX 64
int cli_parse_jobs(const char *s, unsigned *out);
/* A run's stopped times for a person (backup, restore run): the fleet's
 * span and the canister held longest, then any left stopped. */
void cli_print_stopped(const sf_backup_stopped *s, size_t n, bool has_span,
                       uint64_t span_ms);

/* True for -h / --help. */
bool cli_is_help(const char *arg);

/* Commands, one file per noun. */
int cmd_manifest_validate(int argc, char **argv);
int cmd_journal_validate(int argc, char **argv);
int cmd_journal_report(int argc, char **argv);
int cmd_topology_hash(int argc, char **argv);
int cmd_checksum(int argc, char **argv);
int cmd_snapshot_download(int argc, char **argv);
int cmd_backup_run(int argc, char **argv);
int cmd_backup_verify(int argc, char **argv);
int cmd_backup_status(int argc, char **argv);
int cmd_backup_list(int argc, char **argv);
int cmd_backup_inspect(int argc, char **argv);
int cmd_backup_prune(int argc, char **argv);
int cmd_sim_init(int argc, char **argv);
int cmd_sim_show(int argc, char **argv);
int cmd_sim_registry(int argc, char **argv);
int cmd_sim_mutate(int argc, char **argv);
int cmd_sim_run(int argc, char **argv);
int cmd_restore_plan(int argc, char **argv);
int cmd_restore_run(int argc, char **argv);
int cmd_restore_status(int argc, char **argv);

/* Object storage (cmd_remote.c): push, pull, and the s3:// forms of backup
 * list, verify and prune, which the local commands hand over to when an
 * operand is an s3:// address. */
#define REMOTE_OPTIONS_HELP                                                            \
    "  --endpoint URL     the S3 endpoint (default AWS_ENDPOINT_URL, else AWS's\n"     \
    "                     https://s3.<region>.amazonaws.com); plain http only to\n"   \
    "                     a loopback address\n"                                        \
    "  --region R         the signing region (default AWS_REGION, else us-east-1)\n"  \
    "  --addressing path|virtual\n"                                                    \
    "                     bucket in the path or in the host name (default: virtual\n" \
    "                     for AWS's endpoint, path for any other)\n"                   \
    "Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or\n"    \
    "the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials)\n"  \
    "at profile AWS_PROFILE; never on the command line. TLS is always verified;\n"   \
    "AWS_CA_BUNDLE names a PEM file of certificate authorities to trust instead.\n"
#define REMOTE_JOBS_HELP                                                                          \
    "  --jobs N           object transfers at once, 1 to 64 (default 4)\n"
#define IDENTITY_HELP                                                                  \
    "  --identity KEYFILE the identity (snapfleet keygen's KEYFILE, mode 0600) that\n"   \
    "                     decrypts backups pushed with --encrypt-to (pull and verify\n"  \
    "                     then refuse any object not encrypted to it)\n"
int cmd_push(int argc, char **argv);
int cmd_keygen(int argc, char **argv); /* cmd_keygen.c */
int cmd_pull(int argc, char **argv);
bool cli_remote_operand(int argc, char **argv);
int cmd_remote_list(int argc, char **argv, const char *usage);
int cmd_remote_verify(int argc, char **argv, const char *usage);
int cmd_remote_prune(int argc, char **argv, const char *usage);

#endif
