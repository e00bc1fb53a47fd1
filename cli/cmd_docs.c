/* manifest validate, journal validate, journal report. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "snapfleet/backup.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"

static const char manifest_usage[] =
    "usage: snapfleet manifest validate FILE [--json] [--summary]\n\n"
    "Checks a fleet-backup-manifest.json against canic 0.35.10's rules, in\n"
    "canic's order; the first broken rule is reported with the JSON path of\n"
    "the field and the rule's kind.\n\n"
    "  --json      print {\"valid\": true} or {\"valid\": false, \"error\": {...}}\n"
    "  --summary   print canic's validation summary JSON when valid\n"
    "Exit status: 0 valid, 1 invalid (or unreadable), 2 usage error.\n";

static const char journal_usage[] =
    "usage: snapfleet journal validate FILE [--json]\n\n"
    "Checks a download-journal.json against canic 0.35.10's rules.\n\n"
    "  --json      print {\"valid\": true} or {\"valid\": false, \"error\": {...}}\n"
    "Exit status: 0 valid, 1 invalid (or unreadable), 2 usage error.\n";

static const char report_usage[] =
    "usage: snapfleet journal report FILE [--json]\n\n"
    "Shows where each artifact of a download journal stands and what a\n"
    "resumed run would do next.\n\n"
    "  --json      canic's resume report JSON instead of a table\n"
    "Exit status: 0 shown, 1 invalid journal, 2 usage error.\n";

/* Parses [--json] [--summary] FILE; returns -1 to continue, else an exit
 * status. */
static int parse(int argc, char **argv, const char *cmd, const char *usage,
                 bool allow_summary, bool *json, bool *summary,
                 const char **file)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"json", no_argument, NULL, 'j'},
        {"summary", no_argument, NULL, 's'},
        {NULL, 0, NULL, 0},
    };
    cli_args a;
    int c;

    *json = false;
    *summary = false;
    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, usage))
            return EXIT_OK;
        if (c == 'j')
            *json = true;
        else if (c == 's' && allow_summary)
            *summary = true;
        else
            return cli_args_usage(&a, cmd);
    }
    if (a.count != 1)
        return cli_usage(cmd, "expected exactly one FILE");
    *file = a.operands[0];
    return -1;
}

static int report_validity(const char *file, bool json, int rc,
                           const sf_error *err)
{
    sf_buf b;

    if (!json) {
        if (rc != SF_OK)
            return cli_fail(file, err);
        printf("%s: valid\n", file);
        return EXIT_OK;
    }
    sf_buf_init(&b);
    if (rc == SF_OK)
        sf_buf_puts(&b, "{\n  \"valid\": true\n}");
    else
        cli_error_json(&b, err);
    cli_print(&b);
    sf_buf_free(&b);
    if (rc != SF_OK)
        cli_fail(file, err);
    return rc == SF_OK ? EXIT_OK : EXIT_FAIL;
}

int cmd_manifest_validate(int argc, char **argv)
{
    const char *file = NULL;
    bool json, summary;
    sf_manifest m;
    sf_error err;
    int rc;

    if ((rc = parse(argc, argv, "manifest validate", manifest_usage, true,
                    &json, &summary, &file)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_manifest_read_file(file, &m, &err);
    if (rc == SF_OK && summary && !json) {
        sf_buf b;

        sf_buf_init(&b);
        rc = sf_manifest_validation_summary_json(&m, &b, &err);
        if (rc == SF_OK)
            cli_print(&b);
        sf_buf_free(&b);
        sf_manifest_free(&m);
        return rc == SF_OK ? EXIT_OK : cli_fail(file, &err);
    }
    if (rc == SF_OK)
        sf_manifest_free(&m);
    return report_validity(file, json, rc, &err);
}

int cmd_journal_validate(int argc, char **argv)
{
    const char *file = NULL;
    bool json, summary;
    sf_download_journal j;
    sf_error err;
    int rc;

    if ((rc = parse(argc, argv, "journal validate", journal_usage, false,
                    &json, &summary, &file)) >= 0)
        return rc;
    sf_error_clear(&err);
    rc = sf_download_journal_read_file(file, &j, &err);
    if (rc == SF_OK)
        sf_download_journal_free(&j);
    return report_validity(file, json, rc, &err);
}

/* A download journal with a transition log beside it is read as it
 * stands: the checkpoint with the log's later records replayed. */
static int read_journal_as_it_stands(const char *file, sf_download_journal *j,
                                     sf_error *err)
{
    const char *slash = strrchr(file, '/'), *base = slash ? slash + 1 : file;
    sf_download_journal now;
    sf_exec_journal ej;
    bool have_j, have_dj;
    char *dir, *log;
    int rc = SF_OK;

    if (sf_download_journal_read_file(file, j, err) != SF_OK)
        return SF_ERR;
    if (strcmp(base, SF_DOWNLOAD_JOURNAL_FILE_NAME) != 0)
        return SF_OK;
    dir = slash == NULL ? strdup(".")
                        : strndup(file, slash == file ? 1 : (size_t)(slash - file));
    log = dir ? sf_path_join(dir, SF_TRANSITION_LOG_FILE_NAME) : NULL;
    if (log == NULL) {
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    } else if (access(log, F_OK) == 0) {
        rc = sf_backup_state_read(dir, &ej, &have_j, &now, &have_dj, err);
        if (rc == SF_OK) {
            if (have_j)
                sf_exec_journal_free(&ej);
            if (have_dj) {
                sf_download_journal_free(j);
                *j = now;
            } else {
                sf_download_journal_free(&now);
            }
        }
    }
    if (rc != SF_OK)
        sf_download_journal_free(j);
    free(dir);
    free(log);
    return rc;
}

int cmd_journal_report(int argc, char **argv)
{
    const char *file = NULL;
    bool json, summary;
    sf_download_journal j;
    sf_error err;
    sf_buf b;
    int rc;

    if ((rc = parse(argc, argv, "journal report", report_usage, false,
                    &json, &summary, &file)) >= 0)
        return rc;
    sf_error_clear(&err);
    if (read_journal_as_it_stands(file, &j, &err) != SF_OK)
        return cli_fail(file, &err);
    sf_buf_init(&b);
    rc = json ? sf_download_journal_resume_report_json(&j, &b, &err)
              : sf_download_journal_resume_table(&j, &b, &err);
    if (rc == SF_OK) {
        fwrite(sf_buf_cstr(&b), 1, b.len, stdout);
        if (b.len == 0 || b.data[b.len - 1] != '\n')
            fputc('\n', stdout);
    }
    sf_buf_free(&b);
    sf_download_journal_free(&j);
    return rc == SF_OK ? EXIT_OK : cli_fail(file, &err);
}
