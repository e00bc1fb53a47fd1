/* snapfleet push, pull, and backup list/verify/prune on s3:// addresses:
 * copies of backups in S3-compatible object storage (libsnapfleet-remote).
 * Credentials come from the environment or the shared credentials file,
 * never from the command line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "snapfleet/json.h"
#include "snapfleet/remote.h"

#define REMOTE_LONGOPTS                                                                \
    {"endpoint", required_argument, NULL, 'E'}, {"region", required_argument, NULL, 'R'}, \
        {"addressing", required_argument, NULL, 'A'}, {"json", no_argument, NULL, 'j'}

#define ENCRYPT_LONGOPT {"encrypt-to", required_argument, NULL, 'e'}
#define IDENTITY_LONGOPT {"identity", required_argument, NULL, 'i'}
#define JOBS_LONGOPT {"jobs", required_argument, NULL, 'J'}

typedef struct remote_args {
    const char *endpoint, *region;
    const char *encrypt_to, *identity;
    sf_s3_addressing addressing;
    bool json, dry_run;
    const char *keep;
    size_t jobs;
    const char *operands[2];
    int count;
} remote_args;

/* Parses the options; -1 to go on, else the exit status. */
static int parse_remote(int argc, char **argv, const char *cmd, const char *usage,
                        const struct option *opts, int want, remote_args *ra)
{
    cli_args a;
    int c, i;

    memset(ra, 0, sizeof *ra);
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, usage))
            return EXIT_OK;
        switch (c) {
        case 'E': ra->endpoint = optarg; break;
        case 'R': ra->region = optarg; break;
        case 'A':
            if (strcmp(optarg, "path") == 0)
                ra->addressing = SF_S3_ADDRESSING_PATH;
            else if (strcmp(optarg, "virtual") == 0)
                ra->addressing = SF_S3_ADDRESSING_VIRTUAL;
            else
                return cli_usage(cmd, "--addressing takes path or virtual");
            break;
        case 'j': ra->json = true; break;
        case 'e': ra->encrypt_to = optarg; break;
        case 'i': ra->identity = optarg; break;
        case 'n': ra->dry_run = true; break;
        case 'k': ra->keep = optarg; break;
        case 'J': {
            char *end;
            unsigned long n;
            errno = 0;
            n = strtoul(optarg, &end, 10);
            if (optarg[0] < '0' || optarg[0] > '9' || *end != '\0' || errno != 0 || n < 1 ||
                n > SF_REMOTE_JOBS_MAX)
                return cli_usage(cmd, "--jobs takes a number from 1 to %d", SF_REMOTE_JOBS_MAX);
            ra->jobs = n;
            break;
        }
        default: return cli_args_usage(&a, cmd);
        }
    }
    if (a.count != want)
        return cli_usage(cmd, "expected %d operand%s", want, want == 1 ? "" : "s");
    for (i = 0; i < a.count; i++)
        ra->operands[i] = a.operands[i];
    ra->count = a.count;
    return -1;
}

static void on_progress(void *payload, const char *line)
{
    (void)payload;
    fprintf(stderr, "snapfleet: %s\n", line);
}

static int fail_json(bool json, const char *context, const sf_error *err)
{
    if (json) {
        sf_buf b;
        sf_buf_init(&b);
        cli_error_json(&b, err);
        cli_print(&b);
        sf_buf_free(&b);
    }
    return cli_fail(context, err);
}

/* Opens the client; on failure prints the error and returns NULL. */
static sf_s3 *open_client(const remote_args *ra, bool json)
{
    sf_s3_config cfg;
    sf_s3 *s3 = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_s3_config_resolve(&cfg, ra->endpoint, ra->region, ra->addressing, &err) != 0 ||
        sf_s3_open(&s3, &cfg, &err) != 0) {
        fail_json(json, NULL, &err);
        sf_s3_config_free(&cfg);
        return NULL;
    }
    sf_s3_config_free(&cfg);
    return s3;
}

/* Loads --encrypt-to / --identity into o (the caller frees both with
 * keys_free). */
static int load_keys(const remote_args *ra, sf_remote_options *o)
{
    sf_recipient *r = NULL;
    sf_identity *id = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (ra->encrypt_to != NULL && sf_recipient_load(ra->encrypt_to, &r, &err) != 0)
        return fail_json(ra->json, "--encrypt-to", &err);
    if (ra->identity != NULL && sf_identity_load(ra->identity, &id, &err) != 0) {
        sf_recipient_free(r);
        return fail_json(ra->json, "--identity", &err);
    }
    o->encrypt_to = r;
    o->identity = id;
    return 0;
}

static void keys_free(sf_remote_options *o)
{
    sf_recipient_free((sf_recipient *)o->encrypt_to);
    sf_identity_free((sf_identity *)o->identity);
    o->encrypt_to = NULL;
    o->identity = NULL;
}

/* After the options: o (progress when stderr is a terminal and wanted,
 * --jobs, the keys) and the client. -1 to go on (remote_close releases
 * both), else the exit status. */
static int remote_open(const remote_args *ra, bool with_progress, sf_remote_options *o,
                       sf_s3 **s3)
{
    if (with_progress && isatty(STDERR_FILENO))
        o->progress = on_progress;
    o->jobs = ra->jobs;
    if (load_keys(ra, o) != 0)
        return EXIT_FAIL;
    if ((*s3 = open_client(ra, ra->json)) == NULL) {
        keys_free(o);
        return EXIT_FAIL;
    }
    return -1;
}

static void remote_close(sf_s3 *s3, sf_remote_options *o)
{
    sf_s3_close(s3);
    keys_free(o);
}

/* The part size: SNAPFLEET_PART_SIZE bytes when set (at least 1024). */
static int part_size(uint64_t *out)
{
    const char *v = getenv("SNAPFLEET_PART_SIZE");
    char *end;
    unsigned long long n;

    *out = 0;
    if (v == NULL || v[0] == '\0')
        return 0;
    errno = 0;
    n = strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || v[0] == '-' || n < 1024 || n > (1ull << 32)) {
        fprintf(stderr, "snapfleet: SNAPFLEET_PART_SIZE must be a number of bytes from "
                        "1024 to 4294967296\n");
        return SF_ERR;
    }
    *out = n;
    return 0;
}

static const char push_usage[] =
    "usage: snapfleet push DIR s3://BUCKET/PREFIX [--endpoint URL] [--region R]\n"
    "                      [--addressing path|virtual] [--jobs N] [--encrypt-to KEYFILE]\n"
    "                      [--json]\n\n"
    "Copies the complete backup in DIR to object storage, after verifying it:\n"
    "every file of every artifact once, named by its SHA-256 under\n"
    "PREFIX/blobs/ (a file already there, from this or an earlier backup, is\n"
    "not sent again), then the backup's documents under\n"
    "PREFIX/backups/<name of DIR>/, its manifest last: the backup is there once\n"
    "the manifest is. Large artifacts go as multipart uploads recorded in a\n"
    "push journal, so a push that stopped resumes without sending a part\n"
    "again; a push of a backup already there sends nothing. Up to N objects or\n"
    "parts go at once (--jobs), each part in memory while it is sent.\n\n"
    REMOTE_OPTIONS_HELP REMOTE_JOBS_HELP
    "  --encrypt-to KEYFILE\n"
    "                     encrypt every object before it leaves the machine, to\n"
    "                     the recipient KEYFILE (KEYFILE.pub of snapfleet keygen;\n"
    "                     no secret needed); blobs are then named by a keyed hash\n"
    "                     (PREFIX/blobs/enc-...), not by their SHA-256\n"
    "  --json             {\"name\", \"already\", \"artifacts\", \"artifacts_sent\", ...}\n";

int cmd_push(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, REMOTE_LONGOPTS,
                                         ENCRYPT_LONGOPT, JOBS_LONGOPT, {NULL, 0, NULL, 0}};
    remote_args ra;
    sf_remote_options o = {0};
    sf_push_result r;
    sf_error err;
    sf_s3 *s3;
    int rc;

    if ((rc = parse_remote(argc, argv, "push", push_usage, opts, 2, &ra)) >= 0)
        return rc;
    if (!sf_s3_url_is(ra.operands[1]))
        return cli_usage("push", "the destination must be s3://BUCKET/PREFIX: %s",
                         ra.operands[1]);
    if (part_size(&o.part_size) != 0)
        return EXIT_USAGE;
    if ((rc = remote_open(&ra, true, &o, &s3)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_remote_push(s3, ra.operands[0], ra.operands[1], &o, &r, &err);
    remote_close(s3, &o);
    if (rc != 0)
        return fail_json(ra.json, ra.operands[0], &err);
    if (ra.json) {
        sf_buf b;
        sf_jw w;
        sf_buf_init(&b);
        sf_jw_init(&w, &b);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "name", r.name);
        sf_jw_kv_bool(&w, "already", r.already);
        sf_jw_kv_u64(&w, "artifacts", r.artifacts);
        sf_jw_kv_u64(&w, "artifacts_sent", r.artifacts_sent);
        sf_jw_kv_u64(&w, "files", r.files);
        sf_jw_kv_u64(&w, "files_sent", r.files_sent);
        sf_jw_kv_u64(&w, "documents_sent", r.documents_sent);
        sf_jw_kv_u64(&w, "parts_sent", r.parts_sent);
        sf_jw_kv_u64(&w, "parts_resumed", r.parts_resumed);
        sf_jw_kv_u64(&w, "bytes_sent", r.bytes_sent);
        sf_jw_end_object(&w);
        if (sf_jw_finish(&w, &err) == 0)
            cli_print(&b);
        sf_buf_free(&b);
    } else if (r.already) {
        printf("%s is already at %s: nothing sent\n", r.name, ra.operands[1]);
    } else {
        printf("pushed %s to %s: %zu of %zu files sent (the others were there), "
               "%zu documents, %llu bytes%s\n", r.name, ra.operands[1], r.files_sent,
               r.files, r.documents_sent, (unsigned long long)r.bytes_sent,
               r.parts_resumed ? " (resumed)" : "");
    }
    return EXIT_OK;
}

static void pull_json(const sf_pull_result *r, const char *what, const char *where)
{
    sf_buf b;
    sf_jw w;
    sf_error err;

    sf_buf_init(&b);
    sf_jw_init(&w, &b);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, what, where);
    sf_jw_kv_bool(&w, "already", r->already);
    sf_jw_kv_u64(&w, "artifacts", r->artifacts);
    sf_jw_kv_u64(&w, "artifacts_fetched", r->artifacts_fetched);
    sf_jw_kv_u64(&w, "artifacts_resumed", r->artifacts_resumed);
    sf_jw_kv_u64(&w, "bytes_fetched", r->bytes_fetched);
    sf_jw_end_object(&w);
    if (sf_jw_finish(&w, &err) == 0)
        cli_print(&b);
    sf_buf_free(&b);
}

static const char pull_usage[] =
    "usage: snapfleet pull s3://BUCKET/PREFIX/NAME DIR [--endpoint URL] [--region R]\n"
    "                      [--addressing path|virtual] [--jobs N] [--identity KEYFILE]\n"
    "                      [--json]\n\n"
    "Copies the backup NAME from object storage into DIR, which must not exist:\n"
    "into a staging directory beside it (.<DIR's name>.snapfleet-pull), each\n"
    "artifact's checksum recomputed against the manifest as it lands, the whole\n"
    "backup verified, then renamed to DIR. A pull that stopped resumes; a pull\n"
    "into a DIR that already holds this backup, verified, does nothing. Up to N\n"
    "files are fetched at once (--jobs).\n\n"
    REMOTE_OPTIONS_HELP REMOTE_JOBS_HELP IDENTITY_HELP
    "  --json             {\"dir\", \"already\", \"artifacts\", \"artifacts_fetched\", ...}\n";

int cmd_pull(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, REMOTE_LONGOPTS,
                                         IDENTITY_LONGOPT, JOBS_LONGOPT, {NULL, 0, NULL, 0}};
    remote_args ra;
    sf_remote_options o = {0};
    sf_pull_result r;
    sf_error err;
    sf_s3 *s3;
    int rc;

    if ((rc = parse_remote(argc, argv, "pull", pull_usage, opts, 2, &ra)) >= 0)
        return rc;
    if (!sf_s3_url_is(ra.operands[0]))
        return cli_usage("pull", "the source must be s3://BUCKET/PREFIX/NAME: %s",
                         ra.operands[0]);
    if ((rc = remote_open(&ra, true, &o, &s3)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_remote_pull(s3, ra.operands[0], ra.operands[1], &o, &r, &err);
    remote_close(s3, &o);
    if (rc != 0)
        return fail_json(ra.json, ra.operands[0], &err);
    if (ra.json)
        pull_json(&r, "dir", ra.operands[1]);
    else if (r.already)
        printf("%s already holds %s, verified: nothing fetched\n", ra.operands[1],
               ra.operands[0]);
    else
        printf("pulled %s into %s: %zu artifacts (%zu fetched, %zu already staged), every "
               "checksum recomputed, verified\n", ra.operands[0], ra.operands[1],
               r.artifacts, r.artifacts_fetched, r.artifacts_resumed);
    return EXIT_OK;
}

/* ---- backup list / verify / prune on s3:// ---- */

bool cli_remote_operand(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return i + 1 < argc && sf_s3_url_is(argv[i + 1]);
        if (sf_s3_url_is(argv[i]))
            return true;
    }
    return false;
}

int cmd_remote_list(int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, REMOTE_LONGOPTS,
                                         IDENTITY_LONGOPT, {NULL, 0, NULL, 0}};
    remote_args ra;
    sf_remote_options o = {0};
    sf_remote_backup *b;
    size_t n, i;
    sf_error err;
    sf_s3 *s3;
    int rc;

    if ((rc = parse_remote(argc, argv, "backup list", usage, opts, 1, &ra)) >= 0 ||
        (rc = remote_open(&ra, false, &o, &s3)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_remote_list(s3, ra.operands[0], &o, &b, &n, &err);
    remote_close(s3, &o);
    if (rc != 0)
        return fail_json(ra.json, ra.operands[0], &err);
    if (ra.json) {
        sf_buf out;
        sf_jw w;
        sf_buf_init(&out);
        sf_jw_init(&w, &out);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "root", ra.operands[0]);
        sf_jw_key(&w, "backups");
        sf_jw_begin_array(&w);
        for (i = 0; i < n; i++) {
            sf_jw_begin_object(&w);
            sf_jw_kv_string(&w, "name", b[i].name);
            sf_jw_kv_string(&w, "status", b[i].complete ? "complete" : "incomplete");
            sf_jw_kv_string(&w, "backup_id", b[i].backup_id);
            sf_jw_kv_string(&w, "created_at", b[i].created_at);
            sf_jw_kv_bool(&w, "encrypted", b[i].encrypted);
            sf_jw_kv_u64(&w, "objects", b[i].objects);
            sf_jw_end_object(&w);
        }
        sf_jw_end_array(&w);
        sf_jw_end_object(&w);
        if (sf_jw_finish(&w, &err) == 0)
            cli_print(&out);
        sf_buf_free(&out);
    } else {
        printf("%-32s %-10s %-24s %s\n", "NAME", "STATUS", "CREATED", "BACKUP_ID");
        for (i = 0; i < n; i++)
            printf("%-32s %-10s %-24s %s\n", b[i].name,
                   b[i].complete ? "complete" : "incomplete",
                   b[i].created_at ? b[i].created_at
                   : b[i].encrypted ? "(encrypted)" : "-",
                   b[i].backup_id ? b[i].backup_id : "-");
    }
    sf_remote_backups_free(b, n);
    return EXIT_OK;
}

int cmd_remote_verify(int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, REMOTE_LONGOPTS,
                                         IDENTITY_LONGOPT, JOBS_LONGOPT,
                                         {NULL, 0, NULL, 0}};
    remote_args ra;
    sf_remote_options o = {0};
    sf_pull_result r;
    sf_error err;
    sf_s3 *s3;
    int rc;

    if ((rc = parse_remote(argc, argv, "backup verify", usage, opts, 1, &ra)) >= 0 ||
        (rc = remote_open(&ra, true, &o, &s3)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_remote_verify(s3, ra.operands[0], NULL, &o, &r, &err);
    remote_close(s3, &o);
    if (rc != 0)
        return fail_json(ra.json, ra.operands[0], &err);
    if (ra.json)
        pull_json(&r, "backup", ra.operands[0]);
    else
        printf("verified %s: %zu artifacts streamed and re-hashed, the backup verifies\n",
               ra.operands[0], r.artifacts);
    return EXIT_OK;
}

int cmd_remote_prune(int argc, char **argv, const char *usage)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS, REMOTE_LONGOPTS,
                                         IDENTITY_LONGOPT,
                                         {"keep", required_argument, NULL, 'k'},
                                         {"dry-run", no_argument, NULL, 'n'},
                                         {NULL, 0, NULL, 0}};
    remote_args ra;
    sf_remote_options o = {0};
    sf_prune_remote_result r;
    unsigned long long keep;
    char *end;
    sf_error err;
    sf_s3 *s3;
    size_t i;
    int rc;

    if ((rc = parse_remote(argc, argv, "backup prune", usage, opts, 1, &ra)) >= 0)
        return rc;
    if (ra.keep == NULL)
        return cli_usage("backup prune", "--keep N is required");
    errno = 0;
    keep = strtoull(ra.keep, &end, 10);
    if (*ra.keep == '\0' || *ra.keep == '-' || *end != '\0' || errno != 0 || keep == 0)
        return cli_usage("backup prune", "--keep takes a number of at least 1");
    if ((rc = remote_open(&ra, false, &o, &s3)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_remote_prune(s3, ra.operands[0], (size_t)keep, ra.dry_run, &o, &r, &err);
    remote_close(s3, &o);
    if (rc != 0)
        return fail_json(ra.json, ra.operands[0], &err);
    if (ra.json) {
        sf_buf out;
        sf_jw w;
        sf_buf_init(&out);
        sf_jw_init(&w, &out);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "root", ra.operands[0]);
        sf_jw_kv_bool(&w, "dry_run", ra.dry_run);
        sf_jw_kv_u64(&w, "kept", r.kept_backups);
        sf_jw_kv_strv(&w, "deleted", r.deleted_backups, r.deleted_backup_count);
        sf_jw_kv_u64(&w, "deleted_blobs", r.deleted_blobs);
        sf_jw_end_object(&w);
        if (sf_jw_finish(&w, &err) == 0)
            cli_print(&out);
        sf_buf_free(&out);
    } else {
        for (i = 0; i < r.deleted_backup_count; i++)
            printf("%s %s\n", ra.dry_run ? "would delete" : "deleted", r.deleted_backups[i]);
        printf("%s: kept %zu complete backups; %s %zu backups and %zu unreferenced "
               "blobs\n", ra.operands[0], r.kept_backups,
               ra.dry_run ? "would delete" : "deleted", r.deleted_backup_count,
               r.deleted_blobs);
    }
    sf_prune_remote_result_free(&r);
    return EXIT_OK;
}
