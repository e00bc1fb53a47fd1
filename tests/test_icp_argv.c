/*
 * The icp driver without children: configuration checks, the argv of
 * every operation and its targeting flags, ids refused before they reach
 * an argv, dry-run rendering and shell quoting.
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

/* ---- configuration ---- */

static void test_network_is_url(void **state)
{
    (void)state;
    assert_true(sf_icp_network_is_url("http://127.0.0.1:9"));
    assert_true(sf_icp_network_is_url("https://icp-api.io"));
    assert_true(sf_icp_network_is_url("x+y.z-w:rest"));
    assert_false(sf_icp_network_is_url("ic"));
    assert_false(sf_icp_network_is_url("local"));
    assert_false(sf_icp_network_is_url("1http://x"));
    assert_false(sf_icp_network_is_url("a b:c"));
    assert_false(sf_icp_network_is_url(""));
    assert_false(sf_icp_network_is_url(NULL));
}

static void check_refused(const sf_icp_config *c, const char *field)
{
    sf_error err;
    sf_driver *d = NULL;

    sf_error_clear(&err);
    assert_int_equal(sf_icp_config_check(c, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_string_equal(err.field, field);
    assert_int_equal(sf_icp_driver_new(c, &d, &err), SF_ERR);
    assert_null(d);
}

static void test_config_refusals(void **state)
{
    sf_icp_config c;
    char file[PATH_MAX + 32];

    (void)state;
    c = icp_base_config(); c.network = NULL;
    check_refused(&c, "--network");
    c = icp_base_config(); c.environment = "prod"; c.project_root = icp_dir;
    check_refused(&c, "--environment");
    c = icp_base_config(); c.network = "http://127.0.0.1:9";
    check_refused(&c, "--root-key");
    c = icp_base_config(); c.network = "http://127.0.0.1:9"; c.root_key = "nope";
    check_refused(&c, "--root-key");
    c = icp_base_config(); c.network = "http://127.0.0.1:9"; c.root_key = "abcd";
    check_refused(&c, "--root-key");
    c = icp_base_config(); c.root_key = "mainnet"; /* a name takes no key */
    check_refused(&c, "--root-key");
    c = icp_base_config(); c.network = NULL; c.environment = "prod";
    check_refused(&c, "--project-root");
    c = icp_base_config(); c.network = "--json";
    check_refused(&c, "--network");
    c = icp_base_config(); c.identity = "";
    check_refused(&c, "--identity");
    c = icp_base_config(); c.identity = "-x";
    check_refused(&c, "--identity");
    c = icp_base_config(); c.icp = "";
    check_refused(&c, "--icp");
    c = icp_base_config(); c.project_root = "/nonexistent/project";
    check_refused(&c, "--project-root");
    c = icp_base_config(); c.project_root = icp_state_path; /* a file */
    check_refused(&c, "--project-root");
    c = icp_base_config(); c.registry_file = "/nonexistent/registry.json";
    check_refused(&c, "--registry-file");
    snprintf(file, sizeof file, "%s", icp_dir);
    c = icp_base_config(); c.registry_file = file; /* a directory */
    check_refused(&c, "--registry-file");
}

static void test_config_accepted(void **state)
{
    sf_icp_config c;
    sf_error err;
    char key[267];

    (void)state;
    c = icp_base_config();
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    c.network = "http://127.0.0.1:9";
    c.root_key = "fetch";
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    memset(key, 'a', 266);
    key[266] = '\0';
    c.root_key = key;
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    c = icp_base_config();
    c.network = NULL;
    c.environment = "staging";
    c.project_root = icp_dir;
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
}

/* ---- argv and rendering ---- */

static void argv_is(sf_driver *d, const sf_op *op, const char *want)
{
    char **argv, buf[8192];
    size_t n = 0, k;
    sf_error err;

    if (sf_icp_argv(d, op, &argv, &err) != SF_OK)
        fail_msg("argv: %s", err.message);
    buf[0] = '\0';
    for (k = 0; argv[k] != NULL; k++)
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", k ? "|" : "",
                              argv[k]);
    sf_icp_argv_free(argv);
    assert_string_equal(buf, want);
}

static void test_argv_every_op(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    char want[8192], cwd[PATH_MAX];

    (void)state;
    c.icp = "icp";
    c.identity = "ops";
    d = icp_new_driver(&c);
    argv_is(d, (op = icp_op_of(SF_OP_REGISTRY, ROOT, NULL, NULL), &op),
            "icp|canister|call|" ROOT "|canic_subnet_registry|()|--query|--json"
            "|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_STATUS, APP, NULL, NULL), &op),
            "icp|canister|status|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_STOP, APP, NULL, NULL), &op),
            "icp|canister|stop|" APP "|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_START, APP, NULL, NULL), &op),
            "icp|canister|start|" APP "|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_CREATE, APP, NULL, NULL), &op),
            "icp|canister|snapshot|create|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_CREATE, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|create|" APP "|--replace|00ff|--json|-n|ic"
            "|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_LIST, APP, NULL, NULL), &op),
            "icp|canister|snapshot|list|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_DOWNLOAD, APP, "00FF", "/b/x.tmp"), &op),
            "icp|canister|snapshot|download|" APP "|00FF|--output|/b/x.tmp"
            "|-n|ic|--identity|ops");
    op.resume = true;
    argv_is(d, &op, "icp|canister|snapshot|download|" APP "|00FF|--output|"
            "/b/x.tmp|--resume|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_UPLOAD, APP, NULL, "/b/x"), &op),
            "icp|canister|snapshot|upload|" APP "|--input|/b/x|--json|-n|ic"
            "|--identity|ops");
    op.resume = true;
    argv_is(d, &op, "icp|canister|snapshot|upload|" APP "|--input|/b/x"
            "|--resume|--json|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_LOAD, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|restore|" APP "|00ff|-n|ic|--identity|ops");
    argv_is(d, (op = icp_op_of(SF_OP_DELETE, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|delete|" APP "|00ff|-n|ic|--identity|ops");
    /* a relative path is made absolute: children run elsewhere */
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "icp|canister|snapshot|download|" APP "|00ff|"
             "--output|%s/rel/dir|-n|ic|--identity|ops", cwd);
    argv_is(d, (op = icp_op_of(SF_OP_DOWNLOAD, APP, "00ff", "rel/dir"), &op), want);
    /* principal text is canonicalised */
    argv_is(d, (op = icp_op_of(SF_OP_STOP, "RYJL3-TYAAA-AAAAA-AAABA-CAI", NULL, NULL),
                &op), "icp|canister|stop|" APP "|-n|ic|--identity|ops");
    sf_driver_destroy(d);
}

static void test_argv_targeting(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op = icp_op_of(SF_OP_STOP, APP, NULL, NULL);
    char want[PATH_MAX * 2];

    (void)state;
    c.icp = "icp";
    c.network = "http://127.0.0.1:9";
    c.root_key = "mainnet";
    d = icp_new_driver(&c);
    argv_is(d, &op, "icp|canister|stop|" APP "|-n|http://127.0.0.1:9|-k|mainnet");
    sf_driver_destroy(d);
    c = icp_base_config();
    c.icp = "icp";
    c.network = NULL;
    c.environment = "staging";
    c.project_root = icp_dir;
    d = icp_new_driver(&c);
    snprintf(want, sizeof want, "icp|canister|stop|" APP "|-e|staging|"
             "--project-root-override|%s", icp_dir);
    argv_is(d, &op, want);
    sf_driver_destroy(d);
}

static void test_argv_refuses_bad_ids(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d = icp_new_driver(&c);
    sf_op op;
    char **argv;
    sf_error err;
    sf_buf b;

    (void)state;
    /* ops built by hand, past sf_op_init's checks */
    memset(&op, 0, sizeof op);
    op.kind = SF_OP_STOP;
    strcpy(op.canister_id, "not-a-principal; rm -rf /");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    op.kind = SF_OP_DELETE;
    strcpy(op.canister_id, APP);
    strcpy(op.snapshot_id, "abc");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-snapshot-id");
    strcpy(op.snapshot_id, "zz");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    strcpy(op.snapshot_id, "");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    /* a dry run's placeholder renders, but never reaches a child */
    strcpy(op.snapshot_id, "<snapshot-id>");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    sf_buf_init(&b);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), " '<snapshot-id>' "));
    sf_buf_free(&b);
    /* the snapshot a create replaces is checked the same way */
    op.kind = SF_OP_CREATE;
    strcpy(op.snapshot_id, "abc");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-snapshot-id");
    strcpy(op.snapshot_id, "00ff; rm");
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    op.kind = SF_OP_UPLOAD; /* no directory */
    assert_int_equal(sf_icp_argv(d, &op, &argv, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    sf_driver_destroy(d);
}

static void test_render(void **state)
{
    sf_icp_config c = icp_base_config();
    sf_driver *d;
    sf_op op;
    sf_buf b;
    sf_error err;

    (void)state;
    c.icp = "icp";
    d = icp_new_driver(&c);
    sf_buf_init(&b);
    op = icp_op_of(SF_OP_CREATE, APP, NULL, NULL);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b),
                        "icp canister snapshot create " APP " --json -n ic");
    sf_buf_reset(&b);
    op = icp_op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "icp canister call " ROOT
                        " canic_subnet_registry '()' --query --json -n ic");
    sf_buf_reset(&b);
    op = icp_op_of(SF_OP_DOWNLOAD, APP, "00ff", "/my backups/it's here");
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "icp canister snapshot download " APP
                        " 00ff --output '/my backups/it'\\''s here' -n ic");
    sf_buf_free(&b);
    sf_driver_destroy(d);
}

static void test_shell_quote(void **state)
{
    sf_buf b;

    (void)state;
    sf_buf_init(&b);
    sf_icp_shell_quote(&b, "");
    sf_buf_putc(&b, '|');
    sf_icp_shell_quote(&b, "plain-1.2_x/y:z=w@v%u+t,s");
    sf_buf_putc(&b, '|');
    sf_icp_shell_quote(&b, "a b");
    sf_buf_putc(&b, '|');
    sf_icp_shell_quote(&b, "$(x)`y`;z");
    sf_buf_putc(&b, '|');
    sf_icp_shell_quote(&b, "'");
    assert_string_equal(sf_buf_cstr(&b), "''|plain-1.2_x/y:z=w@v%u+t,s|'a b'|"
                        "'$(x)`y`;z'|''\\'''");
    sf_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_network_is_url, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_config_accepted, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_argv_every_op, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_argv_targeting, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_argv_refuses_bad_ids, icp_setup,
                                        icp_teardown),
        cmocka_unit_test_setup_teardown(test_render, icp_setup, icp_teardown),
        cmocka_unit_test_setup_teardown(test_shell_quote, icp_setup, icp_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
