/*
 * The one option loop every command uses. getopt_long in "return in order"
 * mode (optstring starting with '-') hands operands back one by one, so
 * options and operands may come in any order, as GNU tools take them, and
 * the result does not depend on POSIXLY_CORRECT; "--" ends the options.
 * Operands are gathered in order at the front of argv (argv[1..]): getopt
 * never looks back at elements it has passed in this mode.
 */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cli_args_begin(cli_args *a, int argc, char **argv)
{
    memset(a, 0, sizeof *a);
    a->argc = argc;
    a->argv = argv;
    a->operands = argv + 1;
    optind = 1;
    opterr = 0;
}

int cli_args_next(cli_args *a, const struct option *opts)
{
    for (;;) {
        int idx = -1;
        int c = getopt_long(a->argc, a->argv, "-:hV", opts, &idx);

        if (c == 1) {
            a->operands[a->count++] = optarg;
            continue;
        }
        if (c == -1) {
            /* after "--" (or the end) every remaining element is an operand */
            while (optind < a->argc)
                a->operands[a->count++] = a->argv[optind++];
            return -1;
        }
        if (c == '?' || c == ':') {
            const char *el = a->argv[optind - 1];

            /* a long option is named whole; a short one by its letter (it
             * may sit inside a cluster such as -jx) */
            if (strncmp(el, "--", 2) == 0 || optopt <= 0 || optopt > 126)
                snprintf(a->bad, sizeof a->bad, "%s", el);
            else
                snprintf(a->bad, sizeof a->bad, "-%c", optopt);
            a->missing = c == ':';
        } else if (idx >= 0) {
            snprintf(a->bad, sizeof a->bad, "--%s", opts[idx].name);
        } else {
            snprintf(a->bad, sizeof a->bad, "-%c", c);
        }
        return c;
    }
}

int cli_args_usage(const cli_args *a, const char *cmd)
{
    if (a->missing)
        return cli_usage(cmd, "option requires a value: %s", a->bad);
    return cli_usage(cmd, "unknown option: %s", a->bad);
}

int cli_parse_jobs(const char *s, unsigned *out)
{
    unsigned long long n;
    char *end;

    /* digits only: strtoull would take a sign or leading blanks */
    if (*s < '0' || *s > '9')
        return -1;
    errno = 0;
    n = strtoull(s, &end, 10);
    if (*end != '\0' || errno != 0 || n < 1 || n > CLI_JOBS_MAX)
        return -1;
    *out = (unsigned)n;
    return 0;
}
