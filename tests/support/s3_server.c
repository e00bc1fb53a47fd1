/* The local S3 server for the C tests (see s3_server.h). */
#include "s3_server.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/fs.h"

extern char **environ;

static int have_node(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    char *save = NULL, *dir;

    if (path == NULL || strlen(path) >= sizeof buf)
        return 0;
    strcpy(buf, path);
    for (dir = strtok_r(buf, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
        char cand[4200];
        snprintf(cand, sizeof cand, "%s/node", dir);
        if (access(cand, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* The source tree: SF_TEST_DATA is <src>/tests/data. */
static void source_dir(char *out, size_t n)
{
    const char *data = getenv("SF_TEST_DATA");
    size_t len;

    assert_non_null(data);
    len = strlen(data);
    assert_true(len > 11 && len < n && strcmp(data + len - 11, "/tests/data") == 0);
    memcpy(out, data, len - 11);
    out[len - 11] = '\0';
}

int sf_test_s3_start(sf_test_s3 *s, const char *const *buckets)
{
    char src[1024], script[1200], modules[1200], line[64];
    const char *argv[40];
    int fds[2], argc = 0;
    posix_spawn_file_actions_t fa;
    FILE *f;
    size_t i;

    memset(s, 0, sizeof *s);
    if (!have_node()) {
        if (getenv("SF_REQUIRE_S3") && strcmp(getenv("SF_REQUIRE_S3"), "1") == 0)
            fail_msg("node is not installed, and SF_REQUIRE_S3=1");
        fprintf(stderr, "SKIP: node is not installed; the S3 tests against the local "
                        "server need it (bash ci/s3/install.sh)\n");
        return 1;
    }
    source_dir(src, sizeof src);
    snprintf(script, sizeof script, "%s/ci/s3/server.js", src);
    snprintf(modules, sizeof modules, "%s/ci/s3/node_modules/s3rver", src);
    if (access(modules, R_OK) != 0)
        fail_msg("%s is missing: run `bash ci/s3/install.sh`", modules);
    snprintf(s->dir, sizeof s->dir, "/tmp/sf-s3-XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    snprintf(s->faults, sizeof s->faults, "%s.faults", s->dir);
    setenv("SF_S3_FAULTS", s->faults, 1);
    argv[argc++] = "node";
    /* s3rver's continuation tokens use DES, OpenSSL 3's legacy provider. */
    argv[argc++] = "--openssl-legacy-provider";
    argv[argc++] = script;
    argv[argc++] = s->dir;
    for (i = 0; buckets != NULL && buckets[i] != NULL && argc < 36; i++) {
        argv[argc++] = "--bucket";
        argv[argc++] = buckets[i];
    }
    argv[argc] = NULL;
    assert_int_equal(pipe(fds), 0);
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    posix_spawn_file_actions_addclose(&fa, fds[1]);
    assert_int_equal(posix_spawnp(&s->pid, "node", &fa, NULL, (char *const *)argv, environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    f = fdopen(fds[0], "r");
    assert_non_null(f);
    if (fgets(line, sizeof line, f) == NULL || sscanf(line, "port %d", &s->port) != 1) {
        fclose(f);
        sf_test_s3_stop(s);
        fail_msg("the local S3 server did not start (node %s)", script);
    }
    fclose(f);
    snprintf(s->endpoint, sizeof s->endpoint, "http://127.0.0.1:%d", s->port);
    return 0;
}

void sf_test_s3_stop(sf_test_s3 *s)
{
    int status;

    if (s->pid > 0) {
        kill(s->pid, SIGTERM);
        while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR)
            ;
        s->pid = 0;
    }
    if (s->dir[0] != '\0') {
        sf_remove_tree(s->dir, NULL);
        unlink(s->faults);
        s->dir[0] = '\0';
    }
}

void sf_test_s3_faults(const sf_test_s3 *s, int n, int status)
{
    FILE *f = fopen(s->faults, "w");

    assert_non_null(f);
    fprintf(f, "%d %d\n", n, status);
    fclose(f);
}
