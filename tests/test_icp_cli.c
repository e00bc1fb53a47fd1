/*
 * The command line with --driver icp over the fake icp: a backup and its
 * verification, listing on canisters, a dry run, usage errors.
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

/* ---- the command line: --driver icp ---- */

/* Runs the snapfleet binary (SF_CLI) with printf-made arguments, stdout
 * and stderr into <dir>/cli.out and cli.err; returns its exit status. */
static int cli(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int cli(const char *fmt, ...)
{
    const char *bin = getenv("SF_CLI");
    char args[4096], cmd[4096 * 4];
    va_list ap;
    int rc;

    if (bin == NULL || bin[0] == '\0')
        skip();
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "'%s' %s >'%s/cli.out' 2>'%s/cli.err'", bin,
             args, icp_dir, icp_dir);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool cli_said(const char *file, const char *text)
{
    char path[PATH_MAX + 32], *body;
    size_t len;
    bool yes;

    snprintf(path, sizeof path, "%s/%s", icp_dir, file);
    if (sf_fs_read_file(path, (size_t)1 << 24, &body, &len, NULL) != SF_OK)
        return false;
    yes = strstr(body, text) != NULL;
    if (!yes)
        fprintf(stderr, "%s: %s\n", file, body);
    free(body);
    return yes;
}

static void test_cli_backup(void **state)
{
    char st[32];

    (void)state;
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/b' --json --timeout 60",
                         icp_fake, icp_dir), 0);
    assert_true(cli_said("cli.out", "\"complete\": true"));
    assert_true(cli_said("cli.out", "\"network\": \"ic\""));
    assert_int_equal(cli("backup verify '%s/b'", icp_dir), 0);
    icp_fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running");
    /* a refusal fails the run, names its class, and restarts the fleet */
    icp_write_state("[{\"op\": \"create\", \"canister\": \"" APP "\", "
                    "\"mode\": \"reject\", \"count\": -1}]");
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/f'", icp_fake, icp_dir), 1);
    assert_true(cli_said("cli.err", "(driver-permanent)"));
    assert_true(cli_said("cli.err", "reject code CanisterError"));
    icp_fake_status(ROOT, st, sizeof st);
    assert_string_equal(st, "Running");
    icp_fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running");
    icp_fake_status(STORE, st, sizeof st);
    assert_string_equal(st, "Running");
}

/* backup list through the icp driver: day one's snapshots were deleted
 * by day two's retention, day two's are all still there. */
static void test_cli_list_on_canisters(void **state)
{
    (void)state;
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/backups/day1'",
                         icp_fake, icp_dir), 0);
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/backups/day2'",
                         icp_fake, icp_dir), 0);
    assert_int_equal(cli("backup list '%s/backups' --json --driver icp "
                         "--icp '%s' --network ic", icp_dir, icp_fake), 0);
    assert_true(cli_said("cli.out", "\"snapshots_on_canisters\": 3"));
    assert_true(cli_said("cli.out", "\"snapshots_on_canisters\": 0"));
}

static void test_cli_dry_run(void **state)
{
    char want[PATH_MAX * 3];
    icp_calls k;

    (void)state;
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/d' --dry-run",
                         icp_fake, icp_dir), 0);
    snprintf(want, sizeof want, "%s canister snapshot create " STORE
             " --json -n ic\n", icp_fake);
    assert_true(cli_said("cli.out", want));
    snprintf(want, sizeof want, "%s canister snapshot download " APP
             " '<snapshot-id>' --output %s/d/%s.tmp -n ic\n", icp_fake, icp_dir, APP);
    assert_true(cli_said("cli.out", want));
    /* the registry was read through icp; nothing else ran */
    icp_read_calls(&k);
    assert_int_equal(k.count, 1);
    assert_int_equal(icp_count_prefix(&k, "canister call " ROOT), 1);
    icp_free_calls(&k);
}

static void test_cli_usage(void **state)
{
    (void)state;
    /* no network: icp needs a target */
    assert_int_equal(cli("backup --driver icp --icp '%s' --root " ROOT
                         " --out '%s/x'", icp_fake, icp_dir), 2);
    assert_true(cli_said("cli.err", "--network"));
    assert_int_equal(cli("backup --driver icp --network ic --environment e "
                         "--root " ROOT " --out '%s/x'", icp_dir), 2);
    assert_int_equal(cli("backup --driver icp --environment e --root " ROOT
                         " --out '%s/x'", icp_dir), 2);
    assert_true(cli_said("cli.err", "--project-root"));
    assert_int_equal(cli("backup --driver icp --network ic --timeout 0 --root "
                         ROOT " --out '%s/x'", icp_dir), 2);
    assert_int_equal(cli("backup --driver icp --network ic --sim-state s "
                         "--root " ROOT " --out '%s/x'", icp_dir), 2);
    assert_int_equal(cli("backup --driver sim --sim-state s --identity ops "
                         "--root " ROOT " --out '%s/x'", icp_dir), 2);
    assert_true(cli_said("cli.err", "--identity belongs to --driver icp"));
    assert_int_equal(cli("backup --driver nope --out '%s/x'", icp_dir), 2);
    /* a missing binary is a plain failure, not a usage error */
    assert_int_equal(cli("backup --driver icp --icp /nonexistent/icp --network "
                         "ic --root " ROOT " --out '%s/x'", icp_dir), 1);
    assert_true(cli_said("cli.err", "icp-not-found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cli_backup, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_cli_list_on_canisters, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_cli_dry_run, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_cli_usage, icp_setup, icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
