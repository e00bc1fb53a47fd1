/* The local S3 server for the C tests: ci/s3/server.js (s3rver behind a
 * SigV4-checking front) started on 127.0.0.1 at a port the kernel picks.
 *
 * sf_test_s3_start returns 0 with the server up, 1 when node is not
 * installed (the caller skips; under SF_REQUIRE_S3=1 that is a failure
 * instead), and fails the test when node is there but the server cannot
 * start (ci/s3/node_modules missing: run `bash ci/s3/install.sh`). */
#ifndef SF_TEST_S3_SERVER_H
#define SF_TEST_S3_SERVER_H

#include <sys/types.h>

typedef struct sf_test_s3 {
    pid_t pid;
    int port;
    char dir[256];         /* the server's data directory */
    char faults[300];      /* the faults file (SF_S3_FAULTS) */
    char endpoint[64];     /* http://127.0.0.1:PORT */
} sf_test_s3;

#define SF_TEST_S3_ACCESS "snapfleet-test"
#define SF_TEST_S3_SECRET "snapfleet-test-secret"

/* Starts a server with the named buckets (NULL-terminated list). */
int sf_test_s3_start(sf_test_s3 *s, const char *const *buckets);
void sf_test_s3_stop(sf_test_s3 *s);
/* The next n requests are answered with status (0: connection dropped). */
void sf_test_s3_faults(const sf_test_s3 *s, int n, int status);

#endif
