/*
 * The real icp 1.5.0, when it is installed: it accepts every command line
 * the driver builds (skipped without it).
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "icp_fixture.h"

#include "snapfleet/backup.h"
#include "snapfleet/restore.h"
#include "snapfleet/fs.h"
#include "snapfleet/icp.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/checksum.h"
#include "snapfleet/snapshot_meta.h"
#include "snapfleet/wrap.h"

/* ---- the real icp 1.5.0 ---- */

/* <repo>/.icp-cli/... as ci/install-icp.sh leaves it, or SF_ICP_BIN. */
static bool find_real_icp(char *out, size_t cap)
{
    const char *bin = getenv("SF_ICP_BIN"), *data = getenv("SF_TEST_DATA");
    char path[PATH_MAX];

    if (bin != NULL && bin[0] != '\0')
        snprintf(path, sizeof path, "%s", bin);
    else
        snprintf(path, sizeof path, "%s/../../.icp-cli/node_modules/@icp-sdk/"
                 "icp-cli-linux-x64/bin/icp", data ? data : "tests/data");
    if (realpath(path, out) == NULL || access(out, X_OK) != 0)
        return false;
    (void)cap;
    return true;
}

/* Every command the driver can issue, with every targeting form, runs
 * against the real binary and an unreachable URL network: icp may fail
 * to connect (exit 1) or be cut off by the timeout, but its argument
 * parser must accept every one (never exit 2). */
static void test_real_icp_accepts_every_command(void **state)
{
    static const sf_op_kind kinds[] = {
        SF_OP_STOP, SF_OP_REGISTRY, SF_OP_STATUS, SF_OP_START, SF_OP_CREATE,
        SF_OP_LIST, SF_OP_DOWNLOAD, SF_OP_UPLOAD, SF_OP_LOAD, SF_OP_DELETE,
    };
    char real[PATH_MAX], home[PATH_MAX + 32], xfer[PATH_MAX + 32], *old_home;
    const char *require = getenv("SF_REQUIRE_REAL_ICP");
    sf_icp_config c = icp_base_config();
    sf_driver *drivers[4];
    size_t v, k, ran = 0;
    int resume;

    (void)state;
    if (!find_real_icp(real, sizeof real)) {
        if (require != NULL && strcmp(require, "1") == 0)
            fail_msg("SF_REQUIRE_REAL_ICP=1 but the icp binary is missing "
                     "(run ci/install-icp.sh)");
        fprintf(stderr, "SKIP: icp %s not installed (ci/install-icp.sh)\n",
                SF_ICP_VERSION);
        skip();
    }
    /* the operator's identities and settings stay untouched */
    old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    snprintf(home, sizeof home, "%s/home", icp_dir);
    assert_int_equal(mkdir(home, 0700), 0);
    setenv("HOME", home, 1);
    setenv("ICP_HOME", home, 1);
    snprintf(xfer, sizeof xfer, "%s/xfer", icp_dir);
    c.icp = real;
    c.network = "http://127.0.0.1:9";
    c.root_key = "mainnet";
    c.timeout_ms = 3000;
    c.transfer_timeout_ms = 3000;
    /* four targeting forms, all in flight at once; a fresh download only
     * ends at the timeout (icp retries the unreachable replica) */
    for (v = 0; v < 4; v++) {
        uint64_t t;
        sf_error err;

        c.identity = v == 1 ? "anonymous" : NULL;
        c.root_key = v == 2 ? "fetch" : "mainnet";
        if (v == 3) { /* an environment in a project */
            c.network = NULL;
            c.root_key = NULL;
            c.environment = "staging";
            c.project_root = icp_dir;
        }
        drivers[v] = icp_new_driver(&c);
        /* the targeting flags are the same for every op: the other forms
         * need one op each */
        for (k = 0; k < (v == 0 ? sizeof kinds / sizeof kinds[0] : 1); k++) {
            for (resume = 0; resume < 2; resume++) {
                sf_op op;
                if (resume && kinds[k] != SF_OP_DOWNLOAD && kinds[k] != SF_OP_UPLOAD)
                    continue;
                op = icp_op_of(kinds[k], APP, kinds[k] == SF_OP_DOWNLOAD ||
                               kinds[k] == SF_OP_LOAD || kinds[k] == SF_OP_DELETE
                               ? SNAP : NULL, kinds[k] == SF_OP_DOWNLOAD ||
                               kinds[k] == SF_OP_UPLOAD ? xfer : NULL);
                op.resume = resume;
                assert_int_equal(sf_driver_submit(drivers[v], &op, &t, &err),
                                 SF_OK);
            }
        }
    }
    {
        /* a create that replaces a snapshot (at the canister's limit) */
        uint64_t t;
        sf_error err;
        sf_op op = icp_op_of(SF_OP_CREATE, APP, SNAP, NULL);

        assert_int_equal(sf_driver_submit(drivers[0], &op, &t, &err), SF_OK);
    }
    for (v = 0; v < 4; v++) {
        uint64_t t;
        sf_result r;
        sf_error err;

        while (sf_driver_in_flight(drivers[v]) > 0) {
            assert_int_equal(sf_driver_wait(drivers[v], &t, &r, &err), SF_OK);
            ran++;
            if (r.fail == SF_FAIL_NONE || strcmp(r.err.kind, "icp-usage") == 0)
                fail_msg("variant %zu, %s: %s %s", v, sf_op_kind_name(r.kind),
                         sf_fail_class_name(r.fail), r.err.message);
            sf_result_free(&r);
        }
        sf_driver_destroy(drivers[v]);
    }
    assert_int_equal(ran, 12 + 1 + 3);
    unsetenv("ICP_HOME");
    if (old_home != NULL)
        setenv("HOME", old_home, 1);
    free(old_home);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_icp_accepts_every_command, icp_setup,
                                        icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
