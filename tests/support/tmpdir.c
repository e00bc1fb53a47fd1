/* A temporary directory for a test group (tmpdir.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "tmpdir.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>

#include <cmocka.h>

char sf_tmpdir[128];

int sf_tmpdir_make(char *out, size_t n)
{
    extern char *program_invocation_short_name;

    if (snprintf(out, n, "/tmp/%.40s-XXXXXX", program_invocation_short_name) >=
        (int)n)
        return -1;
    return mkdtemp(out) == NULL ? -1 : 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int sf_tmpdir_remove(const char *dir)
{
    return nftw(dir, remove_entry, 32, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int sf_tmpdir_setup(void **state)
{
    (void)state;
    return sf_tmpdir_make(sf_tmpdir, sizeof sf_tmpdir);
}

int sf_tmpdir_teardown(void **state)
{
    (void)state;
    return sf_tmpdir_remove(sf_tmpdir);
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
