/* A temporary directory for a test group (tmpdir.h). */
#include "tmpdir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>

#include <cmocka.h>

char sf_tmpdir[128];

int sf_tmpdir_setup(void **state)
{
    extern char *program_invocation_short_name;

    (void)state;
    snprintf(sf_tmpdir, sizeof sf_tmpdir, "/tmp/%.40s-XXXXXX",
             program_invocation_short_name);
    return mkdtemp(sf_tmpdir) == NULL ? -1 : 0;
}

int sf_tmpdir_teardown(void **state)
{
    char cmd[sizeof sf_tmpdir + 16];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sf_tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

void sf_tmpdir_path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", sf_tmpdir, name);
}

int sf_tmpdir_count_entries(const char *d)
{
    DIR *dh = opendir(d);
    struct dirent *de;
    int n = 0;

    assert_non_null(dh);
    while ((de = readdir(dh)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(dh);
    return n;
}
