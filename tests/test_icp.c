/*
 * The icp driver. Three layers:
 *   - pure: configuration checks, the argv of every operation, dry-run
 *     rendering, and sf_icp_complete()'s parsing and failure classes on
 *     hand-made outcomes;
 *   - processes: the real driver code against tests/fake-icp/icp, a
 *     scripted icp that records each argv and environment: every op's
 *     command line, the sanitized environment, every error class, a child
 *     that hangs (timeout), floods, dies by a signal or prints garbage,
 *     several children at once;
 *   - the engine: a full `snapshot download` and a planned `backup` of a
 *     three-canister fleet through the driver, checked against the
 *     recorded commands and by the offline integrity check, plus resume
 *     and reconciliation after injected failures.
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

#include "snapfleet/backup.h"
#include "snapfleet/restore.h"
#include "snapfleet/fs.h"
#include "snapfleet/icp.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/checksum.h"
#include "snapfleet/snapshot_meta.h"
#include "snapfleet/wrap.h"

#define ROOT "rrkah-fqaaa-aaaaa-aaaaq-cai"
#define APP "ryjl3-tyaaa-aaaaa-aaaba-cai"
#define STORE "r7inp-6aaaa-aaaaa-aaabq-cai"
#define OPERATOR "4caxa-y5lvo-v2xk5-lvov2-xk5lv-ov2xk-5lvov-2xk5l-vov2x-k5lvo-v2w"
/* The SHA-256 of the module the fake icp puts in ROOT's and APP's
 * snapshots: a download is checked against the module hash. */
#define HASH_A "69a2613dc9b6b55e1b490cd975fc5c44de39fe3c649ce2e08ec378bbe4659e65"
#define HASH_B "dbf55f644e81b1507603aa85e18bb0557175804a88ab7d95a96128d92e259799"
#define SNAP "000000000000000100000000000000010101"

static char fake[PATH_MAX]; /* tests/fake-icp/icp */
static char dir[PATH_MAX];  /* per test */
static char state_path[PATH_MAX + 32], log_path[PATH_MAX + 32];

/* ---- fixtures ---- */

static void find_fake(void)
{
    const char *data = getenv("SF_TEST_DATA");
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/../fake-icp/icp",
             data ? data : "tests/data");
    if (realpath(path, fake) == NULL) {
        fprintf(stderr, "cannot find the fake icp at %s\n", path);
        abort();
    }
}

/* The fleet: ROOT -> APP -> STORE, all running, controlled by OPERATOR;
 * faults is the JSON array of fault rules. */
static void write_state_with(const char *faults, const char *store_status)
{
    char text[8192];
    sf_error err;

    snprintf(text, sizeof text,
        "{\"clock\": 1700000000000000000, \"registry_root\": \"" ROOT "\","
        " \"identities\": [\"anonymous\", \"ops\"],"
        " \"registry\": ["
        "  {\"pid\": \"" ROOT "\", \"role\": \"root\", \"parent_pid\": null,"
        "   \"module_hash\": \"" HASH_A "\", \"created_at\": 1},"
        "  {\"pid\": \"" APP "\", \"role\": \"app\", \"parent_pid\": \"" ROOT "\","
        "   \"module_hash\": \"" HASH_B "\", \"created_at\": 2},"
        "  {\"pid\": \"" STORE "\", \"role\": \"store\", \"parent_pid\": \"" APP "\","
        "   \"module_hash\": null, \"created_at\": 3}],"
        " \"canisters\": {"
        "  \"" ROOT "\": {\"status\": \"Running\", \"controllers\": [\"" OPERATOR "\"],"
        "   \"module_hash\": \"" HASH_A "\", \"snapshots\": []},"
        "  \"" APP "\": {\"status\": \"Running\","
        "   \"controllers\": [\"" OPERATOR "\", \"" ROOT "\"],"
        "   \"module_hash\": \"" HASH_B "\", \"snapshots\": []},"
        "  \"" STORE "\": {\"status\": \"%s\", \"controllers\": [\"" ROOT "\"],"
        "   \"module_hash\": null, \"snapshots\": [{\"id\": \"" SNAP "\","
        "   \"taken_at\": 1600000000000000000, \"size\": 10}], \"next\": 1}},"
        " \"faults\": %s}", store_status, faults);
    if (sf_fs_write_atomic_untracked(state_path, text, strlen(text), &err) != SF_OK)
        fail_msg("write state: %s", err.message);
}

static void write_state(const char *faults)
{
    write_state_with(faults, "Running");
}

static int setup(void **state)
{
    (void)state;
    if (fake[0] == '\0')
        find_fake();
    strcpy(dir, "/tmp/sf-icp-XXXXXX");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(state_path, sizeof state_path, "%s/state.json", dir);
    snprintf(log_path, sizeof log_path, "%s/calls.jsonl", dir);
    setenv("FAKE_ICP_STATE", state_path, 1);
    setenv("FAKE_ICP_LOG", log_path, 1);
    write_state("[]");
    return 0;
}

static int teardown(void **state)
{
    char cmd[PATH_MAX + 32];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static sf_icp_config base_config(void)
{
    sf_icp_config c;

    memset(&c, 0, sizeof c);
    c.icp = fake;
    c.network = "ic";
    c.timeout_ms = 20000;
    return c;
}

static sf_driver *new_driver(const sf_icp_config *c)
{
    sf_driver *d;
    sf_error err;

    if (sf_icp_driver_new(c, &d, &err) != SF_OK)
        fail_msg("driver: %s (%s)", err.message, err.kind);
    return d;
}

static sf_op op_of(sf_op_kind kind, const char *id, const char *snap,
                   const char *path)
{
    sf_op op;
    sf_error err;

    if (sf_op_init(&op, kind, id, snap, path, &err) != SF_OK)
        fail_msg("op: %s", err.message);
    return op;
}

/* Runs op to completion; the caller frees *r. */
static void run_op(sf_driver *d, const sf_op *op, sf_result *r)
{
    sf_error err;

    if (sf_driver_run(d, op, r, &err) != SF_OK)
        fail_msg("run: %s (%s)", err.message, err.kind);
}

static void expect_fail(const sf_result *r, sf_fail_class fail,
                        const char *kind)
{
    if (r->fail != fail || r->err.kind == NULL || strcmp(r->err.kind, kind) != 0)
        fail_msg("wanted %s %s, got %s %s: %s", sf_fail_class_name(fail), kind,
                 sf_fail_class_name(r->fail), r->err.kind ? r->err.kind : "-",
                 r->err.message);
}

static void expect_ok(const sf_result *r)
{
    if (r->fail != SF_FAIL_NONE)
        fail_msg("%s: %s (%s)", sf_fail_class_name(r->fail), r->err.message,
                 r->err.kind ? r->err.kind : "-");
}

/* ---- the fake's record ---- */

typedef struct calls {
    cJSON **items;
    size_t count;
} calls;

static void read_calls(calls *c)
{
    char *text = NULL, *line, *save = NULL;
    size_t len;
    sf_error err;

    memset(c, 0, sizeof *c);
    if (access(log_path, F_OK) != 0)
        return;
    if (sf_fs_read_file(log_path, (size_t)64 << 20, &text, &len, &err) != SF_OK)
        fail_msg("log: %s", err.message);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        c->items = realloc(c->items, (c->count + 1) * sizeof *c->items);
        assert_non_null(c->items);
        c->items[c->count] = cJSON_Parse(line);
        assert_non_null(c->items[c->count]);
        c->count++;
    }
    free(text);
}

static void free_calls(calls *c)
{
    for (size_t i = 0; i < c->count; i++)
        cJSON_Delete(c->items[i]);
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* The recorded argv of call i, joined by single spaces. */
static void argv_text(const calls *c, size_t i, char *buf, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItem(c->items[i], "argv"), *x;
    size_t n = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(x, a) {
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s",
                              n ? " " : "", x->valuestring);
    }
}

static const char *env_of(const calls *c, size_t i, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(c->items[i], "env"),
                                         name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* True when some recorded call has exactly this argv (after the program). */
static bool called(const calls *c, const char *want)
{
    char buf[8192];

    for (size_t i = 0; i < c->count; i++) {
        argv_text(c, i, buf, sizeof buf);
        if (strcmp(buf, want) == 0)
            return true;
    }
    return false;
}

static size_t count_prefix(const calls *c, const char *prefix)
{
    char buf[8192];
    size_t n = 0;

    for (size_t i = 0; i < c->count; i++) {
        argv_text(c, i, buf, sizeof buf);
        n += strncmp(buf, prefix, strlen(prefix)) == 0;
    }
    return n;
}

static void expect_called(const calls *c, const char *want)
{
    char buf[8192];

    if (called(c, want))
        return;
    for (size_t i = 0; i < c->count; i++) {
        argv_text(c, i, buf, sizeof buf);
        fprintf(stderr, "  call %zu: %s\n", i, buf);
    }
    fail_msg("no call `%s`", want);
}

/* The status of a canister in the fake's state file. */
static void fake_status(const char *id, char *out, size_t cap)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *c;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "canisters"), id);
    snprintf(out, cap, "%s", cJSON_GetObjectItem(c, "status")->valuestring);
    cJSON_Delete(root);
    free(text);
}

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
    c = base_config(); c.network = NULL;
    check_refused(&c, "--network");
    c = base_config(); c.environment = "prod"; c.project_root = dir;
    check_refused(&c, "--environment");
    c = base_config(); c.network = "http://127.0.0.1:9";
    check_refused(&c, "--root-key");
    c = base_config(); c.network = "http://127.0.0.1:9"; c.root_key = "nope";
    check_refused(&c, "--root-key");
    c = base_config(); c.network = "http://127.0.0.1:9"; c.root_key = "abcd";
    check_refused(&c, "--root-key");
    c = base_config(); c.root_key = "mainnet"; /* a name takes no key */
    check_refused(&c, "--root-key");
    c = base_config(); c.network = NULL; c.environment = "prod";
    check_refused(&c, "--project-root");
    c = base_config(); c.network = "--json";
    check_refused(&c, "--network");
    c = base_config(); c.identity = "";
    check_refused(&c, "--identity");
    c = base_config(); c.identity = "-x";
    check_refused(&c, "--identity");
    c = base_config(); c.icp = "";
    check_refused(&c, "--icp");
    c = base_config(); c.project_root = "/nonexistent/project";
    check_refused(&c, "--project-root");
    c = base_config(); c.project_root = state_path; /* a file */
    check_refused(&c, "--project-root");
    c = base_config(); c.registry_file = "/nonexistent/registry.json";
    check_refused(&c, "--registry-file");
    snprintf(file, sizeof file, "%s", dir);
    c = base_config(); c.registry_file = file; /* a directory */
    check_refused(&c, "--registry-file");
}

static void test_config_accepted(void **state)
{
    sf_icp_config c;
    sf_error err;
    char key[267];

    (void)state;
    c = base_config();
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    c.network = "http://127.0.0.1:9";
    c.root_key = "fetch";
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    memset(key, 'a', 266);
    key[266] = '\0';
    c.root_key = key;
    assert_int_equal(sf_icp_config_check(&c, &err), SF_OK);
    c = base_config();
    c.network = NULL;
    c.environment = "staging";
    c.project_root = dir;
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
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op;
    char want[8192], cwd[PATH_MAX];

    (void)state;
    c.icp = "icp";
    c.identity = "ops";
    d = new_driver(&c);
    argv_is(d, (op = op_of(SF_OP_REGISTRY, ROOT, NULL, NULL), &op),
            "icp|canister|call|" ROOT "|canic_subnet_registry|()|--query|--json"
            "|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_STATUS, APP, NULL, NULL), &op),
            "icp|canister|status|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_STOP, APP, NULL, NULL), &op),
            "icp|canister|stop|" APP "|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_START, APP, NULL, NULL), &op),
            "icp|canister|start|" APP "|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_CREATE, APP, NULL, NULL), &op),
            "icp|canister|snapshot|create|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_CREATE, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|create|" APP "|--replace|00ff|--json|-n|ic"
            "|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_LIST, APP, NULL, NULL), &op),
            "icp|canister|snapshot|list|" APP "|--json|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_DOWNLOAD, APP, "00FF", "/b/x.tmp"), &op),
            "icp|canister|snapshot|download|" APP "|00FF|--output|/b/x.tmp"
            "|-n|ic|--identity|ops");
    op.resume = true;
    argv_is(d, &op, "icp|canister|snapshot|download|" APP "|00FF|--output|"
            "/b/x.tmp|--resume|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_UPLOAD, APP, NULL, "/b/x"), &op),
            "icp|canister|snapshot|upload|" APP "|--input|/b/x|--json|-n|ic"
            "|--identity|ops");
    op.resume = true;
    argv_is(d, &op, "icp|canister|snapshot|upload|" APP "|--input|/b/x"
            "|--resume|--json|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_LOAD, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|restore|" APP "|00ff|-n|ic|--identity|ops");
    argv_is(d, (op = op_of(SF_OP_DELETE, APP, "00ff", NULL), &op),
            "icp|canister|snapshot|delete|" APP "|00ff|-n|ic|--identity|ops");
    /* a relative path is made absolute: children run elsewhere */
    assert_non_null(getcwd(cwd, sizeof cwd));
    snprintf(want, sizeof want, "icp|canister|snapshot|download|" APP "|00ff|"
             "--output|%s/rel/dir|-n|ic|--identity|ops", cwd);
    argv_is(d, (op = op_of(SF_OP_DOWNLOAD, APP, "00ff", "rel/dir"), &op), want);
    /* principal text is canonicalised */
    argv_is(d, (op = op_of(SF_OP_STOP, "RYJL3-TYAAA-AAAAA-AAABA-CAI", NULL, NULL),
                &op), "icp|canister|stop|" APP "|-n|ic|--identity|ops");
    sf_driver_destroy(d);
}

static void test_argv_targeting(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op = op_of(SF_OP_STOP, APP, NULL, NULL);
    char want[PATH_MAX * 2];

    (void)state;
    c.icp = "icp";
    c.network = "http://127.0.0.1:9";
    c.root_key = "mainnet";
    d = new_driver(&c);
    argv_is(d, &op, "icp|canister|stop|" APP "|-n|http://127.0.0.1:9|-k|mainnet");
    sf_driver_destroy(d);
    c = base_config();
    c.icp = "icp";
    c.network = NULL;
    c.environment = "staging";
    c.project_root = dir;
    d = new_driver(&c);
    snprintf(want, sizeof want, "icp|canister|stop|" APP "|-e|staging|"
             "--project-root-override|%s", dir);
    argv_is(d, &op, want);
    sf_driver_destroy(d);
}

static void test_argv_refuses_bad_ids(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d = new_driver(&c);
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
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op;
    sf_buf b;
    sf_error err;

    (void)state;
    c.icp = "icp";
    d = new_driver(&c);
    sf_buf_init(&b);
    op = op_of(SF_OP_CREATE, APP, NULL, NULL);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b),
                        "icp canister snapshot create " APP " --json -n ic");
    sf_buf_reset(&b);
    op = op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    assert_int_equal(sf_driver_render(d, &op, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "icp canister call " ROOT
                        " canic_subnet_registry '()' --query --json -n ic");
    sf_buf_reset(&b);
    op = op_of(SF_OP_DOWNLOAD, APP, "00ff", "/my backups/it's here");
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

/* ---- sf_icp_complete on hand-made outcomes ---- */

static void complete(const sf_op *op, int code, const char *out,
                     const char *err_text, sf_result *r)
{
    sf_icp_outcome o;

    memset(&o, 0, sizeof o);
    o.exit_code = code;
    o.out = out;
    o.out_len = out ? strlen(out) : 0;
    o.err = err_text;
    o.err_len = err_text ? strlen(err_text) : 0;
    sf_result_init(r, op->kind);
    sf_icp_complete(op, &o, r);
}

static void classed(sf_op_kind kind, int code, const char *out,
                    const char *err_text, sf_fail_class fail, const char *ek)
{
    sf_op op = op_of(kind, APP, kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
                     kind == SF_OP_DELETE ? "00ff" : NULL,
                     kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD ? dir : NULL);
    sf_result r;

    complete(&op, code, out, err_text, &r);
    if (fail == SF_FAIL_NONE)
        expect_ok(&r);
    else
        expect_fail(&r, fail, ek);
    sf_result_free(&r);
}

#define CONN "Error: direct update call failed: An error happened during " \
    "communication with the replica: error sending request for url "     \
    "(http://127.0.0.1:9/api/v4/canister/x/call)\n\nCaused by:\n    An "  \
    "error happened during communication with the replica: error "       \
    "sending request for url (http://127.0.0.1:9/api/v4/canister/x/call)\n"

static void test_classes_exit_codes(void **state)
{
    static const sf_op_kind all[] = {
        SF_OP_REGISTRY, SF_OP_STATUS, SF_OP_STOP, SF_OP_START, SF_OP_CREATE,
        SF_OP_LIST, SF_OP_DOWNLOAD, SF_OP_UPLOAD, SF_OP_LOAD, SF_OP_DELETE,
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof all / sizeof all[0]; k++) {
        bool ro = all[k] == SF_OP_REGISTRY || all[k] == SF_OP_STATUS ||
                  all[k] == SF_OP_LIST;
        /* exit 2: the argument parser refused: a bug, whatever the op */
        classed(all[k], 2, NULL, "error: unexpected argument '--x' found\n\n"
                "Usage: icp canister stop <CANISTER>\n", SF_FAIL_PERMANENT,
                "icp-usage");
        /* a refusal */
        classed(all[k], 1, NULL, "Error: Canister x (x) is currently running. "
                "Please stop the canister first with `icp canister stop`.\n",
                SF_FAIL_PERMANENT, "icp-rejected");
        /* the replica rejected: nothing executed */
        classed(all[k], 1, NULL, "Error: direct update call failed: The "
                "replica returned a rejection error: reject code "
                "CanisterError, reject message boom, error code "
                "Some(\"IC0503\")\n", SF_FAIL_PERMANENT, "icp-rejected");
        classed(all[k], 1, NULL, "Error: direct update call failed: The "
                "replica returned a rejection error: reject code SysTransient, "
                "reject message queue full, error code Some(\"IC0515\")\n",
                SF_FAIL_TRANSIENT, "icp-rejected");
        /* the root key comes before any call */
        classed(all[k], 1, NULL, "WARN fetching the root key from u\nError: "
                "failed to fetch root key from http://127.0.0.1:9/\n\nCaused "
                "by:\n    An error happened during communication with the "
                "replica: error sending request for url (x)\n",
                SF_FAIL_TRANSIENT, "icp-unreachable");
        /* anything else */
        classed(all[k], 1, NULL, "Error: something new\n",
                ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN, "icp-failed");
        classed(all[k], 101, NULL, "thread 'main' panicked\n",
                ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN, "icp-failed");
        classed(all[k], 1, NULL, "", ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN,
                "icp-failed");
    }
}

static void test_classes_connection(void **state)
{
    char meta[PATH_MAX + 32];

    (void)state;
    /* read-only: safe again */
    classed(SF_OP_STATUS, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    classed(SF_OP_LIST, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    classed(SF_OP_REGISTRY, 1, NULL, "Error: An error happened during "
            "communication with the replica: error sending request for url "
            "(http://127.0.0.1:9/api/v3/canister/x/query)\n",
            SF_FAIL_TRANSIENT, "icp-unreachable");
    /* mutating: the request may have left */
    classed(SF_OP_STOP, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_START, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_CREATE, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_UPLOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_LOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    classed(SF_OP_DELETE, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    /* download changes no canister: safe again while the directory holds
     * nothing that a fresh download refuses to overwrite */
    classed(SF_OP_DOWNLOAD, 1, NULL, CONN, SF_FAIL_TRANSIENT, "icp-unreachable");
    snprintf(meta, sizeof meta, "%s/metadata.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    classed(SF_OP_DOWNLOAD, 1, NULL, CONN, SF_FAIL_UNKNOWN, "icp-unreachable");
    {
        sf_op op = op_of(SF_OP_DOWNLOAD, APP, "00ff", dir);
        sf_result r;
        op.resume = true; /* resuming again is always possible */
        complete(&op, 1, NULL, CONN, &r);
        expect_fail(&r, SF_FAIL_TRANSIENT, "icp-unreachable");
        sf_result_free(&r);
    }
    /* an upload that failed after it created the target snapshot */
    classed(SF_OP_UPLOAD, 1, NULL, "Uploading snapshot to canister x (x)\n"
            "Created snapshot 00ff for upload\nError: Failed to get file size "
            "at /x/wasm_memory.bin\n", SF_FAIL_UNKNOWN, "icp-failed");
    classed(SF_OP_UPLOAD, 1, NULL, "Error: Missing required file: "
            "/x/metadata.json\n", SF_FAIL_PERMANENT, "icp-rejected");
}

/* Every text of the driver's table, in an error line and as a cause,
 * for every operation: the class the table gives it (docs/icp-driver.md
 * lists the same table). */
static void test_error_text_table(void **state)
{
    static const sf_op_kind all[] = {
        SF_OP_REGISTRY, SF_OP_STATUS, SF_OP_STOP, SF_OP_START, SF_OP_CREATE,
        SF_OP_LIST, SF_OP_DOWNLOAD, SF_OP_UPLOAD, SF_OP_LOAD, SF_OP_DELETE,
    };
    const sf_icp_error_text *t;
    size_t n, i, k, transport = 0;
    char text[600], *doc = NULL, path[PATH_MAX];
    const char *data = getenv("SF_TEST_DATA");
    size_t len;
    sf_error err;

    (void)state;
    t = sf_icp_error_texts(&n);
    assert_true(n >= 27);
    snprintf(path, sizeof path, "%s/../../docs/icp-driver.md",
             data ? data : "tests/data");
    if (sf_fs_read_file(path, (size_t)1 << 22, &doc, &len, &err) != SF_OK)
        fail_msg("docs: %s", err.message);
    for (i = 0; i < n; i++) {
        char quoted[200];
        snprintf(quoted, sizeof quoted, "| `%s` |", t[i].text);
        if (strstr(doc, quoted) == NULL)
            fail_msg("docs/icp-driver.md has no table row for `%s`", t[i].text);
        transport += t[i].cls == SF_ICP_TEXT_TRANSPORT;
        for (k = 0; k < sizeof all / sizeof all[0]; k++) {
            bool ro = all[k] == SF_OP_REGISTRY || all[k] == SF_OP_STATUS ||
                      all[k] == SF_OP_LIST;
            sf_fail_class want = SF_FAIL_PERMANENT;
            const char *kind = "icp-rejected";
            int form;

            switch (t[i].cls) {
            case SF_ICP_TEXT_UPLOAD_CREATED:
                want = all[k] == SF_OP_UPLOAD || !ro ? SF_FAIL_UNKNOWN
                                                     : SF_FAIL_PERMANENT;
                kind = "icp-failed";
                break;
            case SF_ICP_TEXT_RETRYABLE_REJECT:
                want = SF_FAIL_TRANSIENT;
                break;
            case SF_ICP_TEXT_REFUSAL:
                break;
            case SF_ICP_TEXT_BEFORE_CALL:
                want = SF_FAIL_TRANSIENT;
                kind = "icp-unreachable";
                break;
            case SF_ICP_TEXT_TRANSPORT:
                /* the test directory holds nothing a fresh download
                 * refuses: a download may go again */
                want = ro || all[k] == SF_OP_DOWNLOAD ? SF_FAIL_TRANSIENT
                                                      : SF_FAIL_UNKNOWN;
                kind = "icp-unreachable";
                break;
            }
            for (form = 0; form < 2; form++) {
                if (form == 0)
                    snprintf(text, sizeof text, "Error: x: %s (y)\n", t[i].text);
                else
                    snprintf(text, sizeof text, "Error: Failed to do it\n\n"
                             "Caused by:\n    0: direct update call failed\n"
                             "    1: %s and more\n", t[i].text);
                classed(all[k], 1, NULL, text, want, kind);
            }
        }
    }
    assert_int_equal(transport, 7);
    free(doc);
}

static void test_classes_killed(void **state)
{
    sf_op ro = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op mut = op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_icp_outcome o;
    sf_result r;

    (void)state;
    memset(&o, 0, sizeof o);
    o.timed_out = true;
    sf_result_init(&r, ro.kind);
    sf_icp_complete(&ro, &o, &r);
    expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
    sf_result_free(&r);
    sf_result_init(&r, mut.kind);
    sf_icp_complete(&mut, &o, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-timeout");
    sf_result_free(&r);
    memset(&o, 0, sizeof o);
    o.signaled = true;
    o.signal = SIGSEGV;
    sf_result_init(&r, ro.kind);
    sf_icp_complete(&ro, &o, &r);
    expect_fail(&r, SF_FAIL_TRANSIENT, "icp-signal");
    assert_non_null(strstr(r.err.message, "signal 11"));
    sf_result_free(&r);
    sf_result_init(&r, mut.kind);
    sf_icp_complete(&mut, &o, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-signal");
    sf_result_free(&r);
}

static void test_error_message(void **state)
{
    sf_op op = op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_result r;

    (void)state;
    complete(&op, 1, NULL, "Error: failed to load identity\n\nCaused by:\n"
             "    no identity found with name `nosuch`\n", &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected");
    assert_string_equal(r.err.message, "failed to load identity: no identity "
                        "found with name `nosuch` (icp exited with status 1)");
    sf_result_free(&r);
    /* several causes: the first, without its number */
    complete(&op, 1, NULL, "Error: Failed to read snapshot metadata for "
             "canister x\n\nCaused by:\n    0: reject code CanisterError\n    "
             "1: deeper\n", &r);
    assert_string_equal(r.err.message, "Failed to read snapshot metadata for "
                        "canister x: reject code CanisterError (icp exited "
                        "with status 1)");
    sf_result_free(&r);
    /* control bytes never reach a log line */
    complete(&op, 1, NULL, "Error: bad\x1b[31m thing\n", &r);
    assert_string_equal(r.err.message, "bad?[31m thing (icp exited with status 1)");
    sf_result_free(&r);
}

static void test_parse_status(void **state)
{
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;

    (void)state;
    /* another canister's line first, ours second (one object per line) */
    complete(&op, 0, "{\"id\":\"" ROOT "\",\"status\":\"Running\",\"settings\":"
             "{\"controllers\":[]},\"module_hash\":null}\n"
             "{\"id\":\"" APP "\",\"name\":\"app\",\"status\":\"Stopping\","
             "\"settings\":{\"controllers\":[\"" ROOT "\",\"2vxsx-fae\"],"
             "\"new_in_1_5\":\"x\"},\"module_hash\":\"0xABcd\",\"cycles\":\"1\"}\n",
             NULL, &r);
    expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_STOPPING);
    assert_string_equal(r.module_hash, "abcd");
    assert_int_equal(r.controller_count, 2);
    assert_string_equal(r.controllers[1], "2vxsx-fae");
    sf_result_free(&r);
    complete(&op, 0, "{\"id\":\"" APP "\",\"status\":\"Stopped\",\"settings\":"
             "{\"controllers\":[]}}", NULL, &r);
    expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_STOPPED);
    assert_null(r.module_hash);
    sf_result_free(&r);
}

static void bad_status(const char *out, const char *kind, const char *field)
{
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;

    complete(&op, 0, out, NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, kind);
    if (field != NULL)
        assert_string_equal(r.err.field, field);
    sf_result_free(&r);
}

static void test_parse_status_refusals(void **state)
{
    (void)state;
    bad_status("", "icp-output", "id");
    bad_status("Canister Id: x\n  Status: Running\n", "icp-output", NULL);
    bad_status("{\"id\":\"" ROOT "\",\"status\":\"Running\"}\n", "icp-output", "id");
    bad_status("{\"id\":\"" APP "\",\"status\":\"running\",\"settings\":"
               "{\"controllers\":[]}}", "icp-output", "status");
    bad_status("{\"id\":\"" APP "\",\"status\":5,\"settings\":"
               "{\"controllers\":[]}}", "icp-output", "status");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\"}", "icp-output",
               "settings");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":{}}",
               "icp-output", "settings.controllers");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[\"nope\"]}}", "icp-output",
               "settings.controllers[0]");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[]},\"module_hash\":\"abcd\"}", "icp-output",
               "module_hash");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"settings\":"
               "{\"controllers\":[]},\"module_hash\":\"0xabc\"}", "icp-output",
               "module_hash");
    bad_status("{\"id\":\"" APP "\",\"status\":\"Running\",\"status\":\"Stopped\","
               "\"settings\":{\"controllers\":[]}}", "icp-output", NULL);
    /* icp's public-state fallback: no status for a non-controller */
    bad_status("{\"id\":\"" APP "\",\"controllers\":[\"" ROOT "\"],"
               "\"module_hash\":null}\n", "icp-not-controller", NULL);
}

static void test_parse_snapshots(void **state)
{
    sf_op create = op_of(SF_OP_CREATE, APP, NULL, NULL);
    sf_op list = op_of(SF_OP_LIST, APP, NULL, NULL);
    sf_op upload = op_of(SF_OP_UPLOAD, APP, NULL, dir);
    sf_result r;

    (void)state;
    /* u64 values beyond 2^53 stay exact */
    complete(&create, 0, "{\"snapshot_id\":\"0000000000000000FFFFFFFFFFC000020101\","
             "\"taken_at_timestamp\":18446744073709551615,\"total_size_bytes\":"
             "9007199254740993}", NULL, &r);
    expect_ok(&r);
    assert_string_equal(r.snapshot.id, "0000000000000000ffffffffffc000020101");
    assert_true(r.snapshot.has_taken_at);
    assert_true(r.snapshot.taken_at_timestamp == UINT64_MAX);
    assert_true(r.snapshot.total_size_bytes == 9007199254740993ull);
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"00ff\","
             "\"taken_at_timestamp\":1,\"total_size_bytes\":2},{\"snapshot_id\":"
             "\"0101\",\"taken_at_timestamp\":3,\"total_size_bytes\":4}]}", NULL, &r);
    expect_ok(&r);
    assert_int_equal(r.snapshot_count, 2);
    assert_string_equal(r.snapshots[1].id, "0101");
    assert_int_equal(r.snapshots[1].total_size_bytes, 4);
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[]}", NULL, &r);
    expect_ok(&r);
    assert_int_equal(r.snapshot_count, 0);
    sf_result_free(&r);
    complete(&upload, 0, "{\"snapshot_id\":\"0202\"}", NULL, &r);
    expect_ok(&r);
    assert_string_equal(r.snapshot.id, "0202");
    sf_result_free(&r);
    /* broken answers: read-only PERMANENT, create/upload UNKNOWN */
    complete(&list, 0, "[{\"snapshot_id\":\"00ff\"}]", NULL, &r); /* icp 1.0 */
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"0g\"}]}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    assert_string_equal(r.err.field, "snapshots[0].snapshot_id");
    sf_result_free(&r);
    complete(&list, 0, "{\"snapshots\":[{\"snapshot_id\":\"00\","
             "\"total_size_bytes\":-1}]}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\": ", NULL, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\":12}", NULL, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    assert_string_equal(r.err.field, "snapshot_id");
    sf_result_free(&r);
    complete(&create, 0, "{\"snapshot_id\":\"\"}", NULL, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&upload, 0, "Snapshot 00ff uploaded successfully\n", NULL, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
    complete(&create, 0, "", NULL, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output");
    sf_result_free(&r);
}

static void test_parse_registry(void **state)
{
    sf_op op = op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    sf_result r;

    (void)state;
    complete(&op, 0, "{\"response_bytes\":\"4449444c026b02bc8a0101c5fed201716d71"
             "0100000101786\",\"response_text\":null}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output"); /* odd hex */
    sf_result_free(&r);
    complete(&op, 0, "{\"response_text\":\"x\"}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c0000ff\"}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "candid-syntax");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c026b02bc8a0101c5fed201716d71"
             "01000104626f6f6d\"}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "registry-err");
    sf_result_free(&r);
    complete(&op, 0, "{\"response_bytes\":\"4449444c0001710178\"}", NULL, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "candid-schema");
    sf_result_free(&r);
}

static void test_output_too_large(void **state)
{
    sf_op status = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op create = op_of(SF_OP_CREATE, APP, NULL, NULL);
    sf_op stop = op_of(SF_OP_STOP, APP, NULL, NULL);
    sf_icp_outcome o;
    sf_result r;

    (void)state;
    memset(&o, 0, sizeof o);
    o.out = "{";
    o.out_len = 1;
    o.out_truncated = true;
    sf_result_init(&r, status.kind);
    sf_icp_complete(&status, &o, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-output-too-large");
    sf_result_free(&r);
    sf_result_init(&r, create.kind);
    sf_icp_complete(&create, &o, &r);
    expect_fail(&r, SF_FAIL_UNKNOWN, "icp-output-too-large");
    sf_result_free(&r);
    /* stop reports through its exit status only */
    sf_result_init(&r, stop.kind);
    sf_icp_complete(&stop, &o, &r);
    expect_ok(&r);
    sf_result_free(&r);
}

static void test_download_success_needs_metadata(void **state)
{
    char meta[PATH_MAX + 32];

    (void)state;
    classed(SF_OP_DOWNLOAD, 0, NULL, "Snapshot downloaded to x\n",
            SF_FAIL_PERMANENT, "icp-output");
    snprintf(meta, sizeof meta, "%s/metadata.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    classed(SF_OP_DOWNLOAD, 0, NULL, "Snapshot downloaded to x\n",
            SF_FAIL_NONE, NULL);
    classed(SF_OP_STOP, 0, NULL, NULL, SF_FAIL_NONE, NULL);
    classed(SF_OP_LOAD, 0, NULL, "Restored canister\n", SF_FAIL_NONE, NULL);
    classed(SF_OP_DELETE, 0, NULL, "Deleted snapshot\n", SF_FAIL_NONE, NULL);
}

/* ---- processes: the fake icp ---- */

static void test_fake_every_op(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;
    calls k;
    char want[PATH_MAX * 2], cwd[PATH_MAX], dl[PATH_MAX + 32];

    (void)state;
    c.identity = "ops";
    d = new_driver(&c);
    run_op(d, (op = op_of(SF_OP_REGISTRY, ROOT, NULL, NULL), &op), &r);
    expect_ok(&r);
    assert_int_equal(r.registry.count, 3);
    assert_string_equal(r.registry.entries[1].pid, APP);
    assert_string_equal(r.registry.entries[1].parent_pid, ROOT);
    assert_string_equal(r.registry.entries[1].module_hash, HASH_B);
    assert_null(r.registry.entries[2].module_hash);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_STATUS, APP, NULL, NULL), &op), &r);
    expect_ok(&r);
    assert_int_equal(r.status, SF_STATUS_RUNNING);
    assert_string_equal(r.module_hash, HASH_B);
    assert_int_equal(r.controller_count, 2);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_CREATE, APP, NULL, NULL), &op), &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected"); /* running */
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_STOP, APP, NULL, NULL), &op), &r);
    expect_ok(&r);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_CREATE, APP, NULL, NULL), &op), &r);
    expect_ok(&r);
    assert_string_equal(r.snapshot.id, "000000000000000100000000000000020101");
    assert_true(r.snapshot.has_taken_at && r.snapshot.has_total_size);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_LIST, APP, NULL, NULL), &op), &r);
    expect_ok(&r);
    assert_int_equal(r.snapshot_count, 1);
    sf_result_free(&r);
    snprintf(dl, sizeof dl, "%s/dl", dir);
    run_op(d, (op = op_of(SF_OP_DOWNLOAD, APP,
                          "000000000000000100000000000000020101", dl), &op), &r);
    expect_ok(&r);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_UPLOAD, STORE, NULL, dl), &op), &r);
    expect_ok(&r);
    assert_string_equal(r.snapshot.id, "000000000000000200000000000000030101");
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_LOAD, APP, "000000000000000100000000000000020101",
                          NULL), &op), &r);
    expect_ok(&r);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_DELETE, APP, "000000000000000100000000000000020101",
                          NULL), &op), &r);
    expect_ok(&r);
    sf_result_free(&r);
    run_op(d, (op = op_of(SF_OP_START, APP, NULL, NULL), &op), &r);
    expect_ok(&r);
    sf_result_free(&r);
    sf_driver_destroy(d);

    read_calls(&k);
    assert_int_equal(k.count, 11);
    expect_called(&k, "canister call " ROOT " canic_subnet_registry () --query "
                  "--json -n ic --identity ops");
    expect_called(&k, "canister status " APP " --json -n ic --identity ops");
    expect_called(&k, "canister stop " APP " -n ic --identity ops");
    expect_called(&k, "canister snapshot create " APP " --json -n ic --identity ops");
    expect_called(&k, "canister snapshot list " APP " --json -n ic --identity ops");
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s -n ic "
             "--identity ops", dl);
    expect_called(&k, want);
    snprintf(want, sizeof want, "canister snapshot upload " STORE " --input %s "
             "--json -n ic --identity ops", dl);
    expect_called(&k, want);
    expect_called(&k, "canister snapshot restore " APP
                  " 000000000000000100000000000000020101 -n ic --identity ops");
    expect_called(&k, "canister snapshot delete " APP
                  " 000000000000000100000000000000020101 -n ic --identity ops");
    expect_called(&k, "canister start " APP " -n ic --identity ops");
    /* every child ran in the private directory, never ours */
    assert_non_null(getcwd(cwd, sizeof cwd));
    for (size_t i = 0; i < k.count; i++) {
        const char *where = cJSON_GetObjectItem(k.items[i], "cwd")->valuestring;
        assert_string_not_equal(where, cwd);
        assert_non_null(strstr(where, "/snapfleet-icp-"));
    }
    free_calls(&k);
}

static void test_fake_environment(void **state)
{
    static const char *const leak[] = {
        "RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "ICP_NETWORK",
        "ICP_ENVIRONMENT", "ICP_PROJECT_ROOT",
    };
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;
    calls k;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        setenv(leak[i], "1", 1);
    setenv("DO_NOT_TRACK", "0", 1);
    setenv("NO_COLOR", "", 1);
    setenv("SF_TEST_KEPT", "kept", 1);
    d = new_driver(&c);
    run_op(d, &op, &r);
    expect_ok(&r); /* ICP_ENVIRONMENT with -n would be icp's exit 2 */
    sf_result_free(&r);
    sf_driver_destroy(d);
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        unsetenv(leak[i]);
    unsetenv("DO_NOT_TRACK");
    unsetenv("NO_COLOR");
    unsetenv("SF_TEST_KEPT");
    read_calls(&k);
    assert_int_equal(k.count, 1);
    for (i = 0; i < sizeof leak / sizeof leak[0]; i++)
        assert_null(env_of(&k, 0, leak[i]));
    assert_string_equal(env_of(&k, 0, "DO_NOT_TRACK"), "1");
    assert_string_equal(env_of(&k, 0, "NO_COLOR"), "1");
    assert_string_equal(env_of(&k, 0, "SF_TEST_KEPT"), "kept");
    assert_non_null(env_of(&k, 0, "PATH"));
    free_calls(&k);
}

static void test_fake_on_path(void **state)
{
    sf_icp_config c = base_config();
    char bin[PATH_MAX + 32], link[PATH_MAX + 64], *old, *path;
    sf_driver *d;
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_result r;
    calls k;

    (void)state;
    snprintf(bin, sizeof bin, "%s/bin", dir);
    snprintf(link, sizeof link, "%s/icp", bin);
    assert_int_equal(mkdir(bin, 0700), 0);
    assert_int_equal(symlink(fake, link), 0);
    old = strdup(getenv("PATH"));
    path = malloc(strlen(bin) + strlen(old) + 2);
    sprintf(path, "%s:%s", bin, old);
    setenv("PATH", path, 1);
    c.icp = NULL; /* "icp", looked up on PATH */
    d = new_driver(&c);
    run_op(d, &op, &r);
    setenv("PATH", old, 1);
    free(old);
    free(path);
    expect_ok(&r);
    sf_result_free(&r);
    sf_driver_destroy(d);
    read_calls(&k);
    assert_int_equal(k.count, 1);
    free_calls(&k);
}

static void test_fake_not_found(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t;
    sf_error err;

    (void)state;
    c.icp = "/nonexistent/icp";
    d = new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "icp-not-found");
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
    c.icp = "no-such-icp-on-path";
    d = new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_ERR);
    assert_string_equal(err.kind, "icp-not-found");
    assert_int_equal(sf_driver_wait(d, &t, NULL, &err), SF_ERR); /* nothing */
    sf_driver_destroy(d);
}

/* One op against a fault rule; returns the completion. */
static void faulted(const char *mode, sf_op_kind kind, const char *id,
                    sf_fail_class fail, const char *ek)
{
    char faults[512], path[PATH_MAX + 32];
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;

    snprintf(faults, sizeof faults, "[{\"op\": \"%s\", \"mode\": \"%s\"}]",
             sf_op_kind_name(kind), mode);
    write_state_with(faults, "Stopped");
    snprintf(path, sizeof path, "%s/xfer-%s", dir, mode);
    c.timeout_ms = 1000;
    d = new_driver(&c);
    op = op_of(kind, id, kind == SF_OP_DOWNLOAD || kind == SF_OP_LOAD ||
               kind == SF_OP_DELETE ? SNAP : NULL,
               kind == SF_OP_DOWNLOAD || kind == SF_OP_UPLOAD ? path : NULL);
    if (kind == SF_OP_UPLOAD) {
        /* something to upload */
        char meta[PATH_MAX + 64];
        snprintf(meta, sizeof meta, "%s/metadata.json", path);
        assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    }
    run_op(d, &op, &r);
    if (fail == SF_FAIL_NONE)
        expect_ok(&r);
    else
        expect_fail(&r, fail, ek);
    sf_result_free(&r);
    sf_driver_destroy(d);
}

static void test_fake_error_classes(void **state)
{
    (void)state;
    faulted("conn", SF_OP_STATUS, APP, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("conn", SF_OP_REGISTRY, ROOT, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("conn", SF_OP_STOP, APP, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("conn", SF_OP_DOWNLOAD, STORE, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("lost", SF_OP_START, APP, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("rootkey", SF_OP_CREATE, STORE, SF_FAIL_TRANSIENT, "icp-unreachable");
    faulted("running", SF_OP_CREATE, APP, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("notfound", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("reject", SF_OP_DELETE, STORE, SF_FAIL_PERMANENT, "icp-rejected");
    faulted("systransient", SF_OP_STOP, APP, SF_FAIL_TRANSIENT, "icp-rejected");
    faulted("usage", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-usage");
    faulted("other", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-failed");
    faulted("other", SF_OP_LOAD, STORE, SF_FAIL_UNKNOWN, "icp-failed");
    faulted("badjson", SF_OP_LIST, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("badjson", SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN, "icp-output");
    faulted("wrongtype", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("wrongtype", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT, "icp-output");
    faulted("missing", SF_OP_UPLOAD, STORE, SF_FAIL_UNKNOWN, "icp-output");
    faulted("empty", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output");
    faulted("registry-err", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT, "registry-err");
    faulted("garbage-candid", SF_OP_REGISTRY, ROOT, SF_FAIL_PERMANENT,
            "candid-syntax");
    faulted("notcontroller", SF_OP_STATUS, APP, SF_FAIL_PERMANENT,
            "icp-not-controller");
    faulted("partial", SF_OP_DOWNLOAD, STORE, SF_FAIL_UNKNOWN, "icp-unreachable");
    faulted("no-metadata", SF_OP_DOWNLOAD, STORE, SF_FAIL_PERMANENT, "icp-output");
    faulted("after-create", SF_OP_UPLOAD, STORE, SF_FAIL_UNKNOWN, "icp-failed");
}

static const char *const transport_texts[] = {
    "error decoding response body", "request or response body error",
    "operation timed out", "The request timed out.",
    "The replica returned an HTTP Error:",
};

/* One op against a fault rule naming a transport text. */
static void faulted_text(const char *mode, const char *text, sf_op_kind kind,
                         const char *id, sf_fail_class fail)
{
    char faults[512];
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op;
    sf_result r;

    snprintf(faults, sizeof faults, "[{\"op\": \"%s\", \"mode\": \"%s\", "
             "\"text\": \"%s\"}]", sf_op_kind_name(kind), mode, text);
    write_state_with(faults, "Stopped");
    d = new_driver(&c);
    op = op_of(kind, id, NULL, NULL);
    run_op(d, &op, &r);
    expect_fail(&r, fail, "icp-unreachable");
    if (strstr(r.err.message, text) == NULL)
        fail_msg("message without `%s`: %s", text, r.err.message);
    sf_result_free(&r);
    sf_driver_destroy(d);
}

/* Each transport text icp prints besides a refused connection: a read
 * may be asked again, a stop or create may have happened. */
static void test_fake_transport_texts(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof transport_texts / sizeof transport_texts[0]; i++) {
        const char *t = transport_texts[i];
        faulted_text("conn", t, SF_OP_REGISTRY, ROOT, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_STATUS, APP, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_LIST, APP, SF_FAIL_TRANSIENT);
        faulted_text("conn", t, SF_OP_STOP, APP, SF_FAIL_UNKNOWN);
        faulted_text("lost", t, SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN);
    }
}

static void test_fake_misbehaving_children(void **state)
{
    (void)state;
    faulted("signal", SF_OP_STATUS, APP, SF_FAIL_TRANSIENT, "icp-signal");
    faulted("signal", SF_OP_CREATE, STORE, SF_FAIL_UNKNOWN, "icp-signal");
    faulted("flood", SF_OP_STATUS, APP, SF_FAIL_PERMANENT, "icp-output-too-large");
    faulted("flood", SF_OP_STOP, APP, SF_FAIL_NONE, NULL);
    /* 2.5 MiB of progress, then the connection error at the end: the tail
     * of stderr is what is kept */
    faulted("flood-stderr", SF_OP_LIST, APP, SF_FAIL_TRANSIENT, "icp-unreachable");
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_fake_timeout_kills(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op a = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op b = op_of(SF_OP_STOP, STORE, NULL, NULL);
    uint64_t ta, tb, t;
    sf_result r;
    sf_error err;
    struct timespec t0;
    calls k;
    int seen = 0;

    (void)state;
    write_state("[{\"op\": \"status\", \"mode\": \"hang\"},"
                " {\"op\": \"stop\", \"mode\": \"hang\"}]");
    c.timeout_ms = 1000;
    d = new_driver(&c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* both hang at once: one deadline each, served by one poll loop */
    assert_int_equal(sf_driver_submit(d, &a, &ta, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &b, &tb, &err), SF_OK);
    assert_int_equal(sf_driver_in_flight(d), 2);
    while (sf_driver_in_flight(d) > 0) {
        assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
        if (t == ta) {
            expect_fail(&r, SF_FAIL_TRANSIENT, "icp-timeout");
            seen |= 1;
        } else {
            assert_true(t == tb);
            expect_fail(&r, SF_FAIL_UNKNOWN, "icp-timeout");
            seen |= 2;
        }
        sf_result_free(&r);
    }
    assert_int_equal(seen, 3);
    assert_true(seconds_since(&t0) >= 0.9);
    assert_true(seconds_since(&t0) < 5.0);
    sf_driver_destroy(d);
    /* the children are gone */
    read_calls(&k);
    assert_int_equal(k.count, 2);
    for (size_t i = 0; i < k.count; i++) {
        pid_t pid = (pid_t)cJSON_GetObjectItem(k.items[i], "pid")->valueint;
        assert_int_equal(kill(pid, 0), -1);
        assert_int_equal(errno, ESRCH);
    }
    free_calls(&k);
}

static void test_fake_concurrent(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op slow = op_of(SF_OP_STATUS, ROOT, NULL, NULL);
    sf_op fast = op_of(SF_OP_STATUS, APP, NULL, NULL);
    sf_op mid = op_of(SF_OP_LIST, STORE, NULL, NULL);
    uint64_t ts, tf, tm, t;
    sf_result r;
    sf_error err;

    (void)state;
    write_state("[{\"op\": \"status\", \"canister\": \"" ROOT "\", \"mode\": "
                "\"delay\", \"ms\": 1000},"
                " {\"op\": \"list\", \"mode\": \"delay\", \"ms\": 500}]");
    d = new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &slow, &ts, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &mid, &tm, &err), SF_OK);
    assert_int_equal(sf_driver_submit(d, &fast, &tf, &err), SF_OK);
    assert_true(ts != tf && tf != tm && ts != tm);
    /* completions come in the order the children finish */
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == tf);
    expect_ok(&r);
    assert_int_equal(r.kind, SF_OP_STATUS);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == tm);
    assert_int_equal(r.kind, SF_OP_LIST);
    assert_int_equal(r.snapshot_count, 1);
    sf_result_free(&r);
    assert_int_equal(sf_driver_wait(d, &t, &r, &err), SF_OK);
    assert_true(t == ts);
    expect_ok(&r);
    sf_result_free(&r);
    assert_int_equal(sf_driver_in_flight(d), 0);
    sf_driver_destroy(d);
}

static void test_destroy_kills_in_flight(void **state)
{
    sf_icp_config c = base_config();
    sf_driver *d;
    sf_op op = op_of(SF_OP_STATUS, APP, NULL, NULL);
    uint64_t t;
    sf_error err;
    calls k;
    int tries;

    (void)state;
    write_state("[{\"op\": \"status\", \"mode\": \"hang\"}]");
    d = new_driver(&c);
    assert_int_equal(sf_driver_submit(d, &op, &t, &err), SF_OK);
    for (tries = 0; tries < 200; tries++) { /* until the child has logged */
        read_calls(&k);
        if (k.count == 1)
            break;
        free_calls(&k);
        usleep(20000);
    }
    assert_int_equal(k.count, 1);
    sf_driver_destroy(d);
    assert_int_equal(kill((pid_t)cJSON_GetObjectItem(k.items[0], "pid")->valueint,
                          0), -1);
    free_calls(&k);
}

static void test_registry_file(void **state)
{
    sf_icp_config c = base_config();
    char file[PATH_MAX + 32];
    const char *json = "{\"Ok\": [{\"pid\": \"" ROOT "\", \"role\": \"root\","
                       " \"record\": {\"parent_pid\": null, \"module_hash\": null}}]}";
    const char *env = "{\"response_bytes\": \"4449444c026b02bc8a0101c5fed20171"
                      "6d7101000104626f6f6d\", \"response_text\": null}";
    sf_driver *d;
    sf_op op = op_of(SF_OP_REGISTRY, ROOT, NULL, NULL);
    sf_result r;
    calls k;

    (void)state;
    snprintf(file, sizeof file, "%s/registry.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(file, json, strlen(json), NULL),
                     SF_OK);
    c.registry_file = file;
    d = new_driver(&c);
    run_op(d, &op, &r);
    expect_ok(&r);
    assert_int_equal(r.registry.count, 1);
    assert_string_equal(r.registry.entries[0].role, "root");
    sf_result_free(&r);
    sf_driver_destroy(d);
    /* a saved `canister call --json` envelope works too (an Err here) */
    assert_int_equal(sf_fs_write_atomic_untracked(file, env, strlen(env), NULL),
                     SF_OK);
    d = new_driver(&c);
    run_op(d, &op, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "registry-err");
    sf_result_free(&r);
    /* a broken file */
    assert_int_equal(sf_fs_write_atomic_untracked(file, "[", 1, NULL), SF_OK);
    run_op(d, &op, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "json-syntax");
    sf_result_free(&r);
    sf_driver_destroy(d);
    read_calls(&k);
    assert_int_equal(k.count, 0); /* no child ran */
    free_calls(&k);
}

/* ---- the engine through the driver ---- */

static sf_driver *stack(sf_driver *base, const sf_clock *clock)
{
    sf_driver *retry;
    sf_error err;

    if (sf_retry_driver_new(base, clock, 3, 10, 50, &retry, &err) != SF_OK)
        fail_msg("retry: %s", err.message);
    return retry;
}

static void verify(const char *out)
{
    sf_integrity_report rep;
    sf_error err;

    if (sf_verify_integrity(out, &rep, &err) != SF_OK)
        fail_msg("verify %s: %s (%s)", out, err.message, err.kind);
    assert_true(rep.verified);
    assert_int_equal(rep.durable_artifacts, 3);
    sf_integrity_report_free(&rep);
}

static void download_config(sf_snapshot_download_config *c, const char *out)
{
    memset(c, 0, sizeof *c);
    c->canister = ROOT;
    c->root = ROOT;
    c->recursive = true;
    c->resume_after_snapshot = true;
    c->out = out;
    c->tool_name = "snapfleet";
    c->tool_version = "test";
    c->environment = "ic";
}

static void test_engine_snapshot_download(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char out[PATH_MAX + 32], want[PATH_MAX * 2], st[32];
    calls k;
    const char *ids[] = {ROOT, APP, STORE};

    (void)state;
    snprintf(out, sizeof out, "%s/snap", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    download_config(&cfg, out);
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("snapshot download: %s (%s)", err.message, err.kind);
    assert_int_equal(res.artifact_count, 3);
    sf_snapshot_download_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(out);

    read_calls(&k);
    expect_called(&k, "canister call " ROOT " canic_subnet_registry () --query "
                  "--json -n ic");
    for (size_t i = 0; i < 3; i++) {
        snprintf(want, sizeof want, "canister stop %s -n ic", ids[i]);
        expect_called(&k, want);
        snprintf(want, sizeof want, "canister snapshot create %s --json -n ic",
                 ids[i]);
        expect_called(&k, want);
        snprintf(want, sizeof want, "canister start %s -n ic", ids[i]);
        expect_called(&k, want);
        fake_status(ids[i], st, sizeof st);
        assert_string_equal(st, "Running");
    }
    /* the new snapshot of APP is the first the fake made for it */
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp -n ic",
             out, APP);
    expect_called(&k, want);
    assert_int_equal(count_prefix(&k, "canister snapshot download"), 3);
    free_calls(&k);
}

static void backup_config(sf_backup_config *c, const char *out)
{
    memset(c, 0, sizeof *c);
    c->out = out;
    c->fleet = "demo";
    c->network = "ic";
    c->root = ROOT;
    c->include_root = true;
    c->schedule = SF_BACKUP_FLEET;
    c->tool_name = "snapfleet";
    c->tool_version = "test";
}

static void test_engine_backup(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32], st[32];
    calls k;

    (void)state;
    snprintf(out, sizeof out, "%s/backup", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    backup_config(&cfg, out);
    if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    assert_true(res.complete);
    sf_backup_result_free(&res);
    /* a rerun of a complete backup does nothing */
    read_calls(&k);
    {
        size_t before = k.count;
        free_calls(&k);
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("rerun: %s", err.message);
        assert_true(res.complete);
        assert_int_equal(res.executed, 0);
        sf_backup_result_free(&res);
        read_calls(&k);
        assert_int_equal(count_prefix(&k, "canister stop"), 3);
        assert_true(k.count <= before + 1); /* at most a registry read */
    }
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(out);
    assert_int_equal(count_prefix(&k, "canister snapshot create"), 3);
    assert_int_equal(count_prefix(&k, "canister snapshot download"), 3);
    assert_int_equal(count_prefix(&k, "canister start"), 3);
    fake_status(STORE, st, sizeof st);
    assert_string_equal(st, "Running");
    free_calls(&k);
}

static size_t fake_snapshots(const char *id, const char *must_have)
{
    char *text;
    size_t len, n;
    sf_error err;
    cJSON *root;
    const cJSON *c, *snaps, *x;
    bool found = must_have == NULL;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "canisters"), id);
    snaps = cJSON_GetObjectItem(c, "snapshots");
    n = (size_t)cJSON_GetArraySize(snaps);
    cJSON_ArrayForEach(x, snaps)
        if (must_have != NULL &&
            strcmp(cJSON_GetObjectItem(x, "id")->valuestring, must_have) == 0)
            found = true;
    cJSON_Delete(root);
    free(text);
    assert_true(found);
    return n;
}

/* Daily backups through the fake icp with on-canister retention keeping
 * 1: each day deletes the day before's snapshots with `icp canister
 * snapshot delete`, and STORE's snapshot that no backup made stays. */
static void test_engine_daily_retention(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32];
    calls k;
    int day;

    (void)state;
    d = new_driver(&c);
    top = stack(d, &clock);
    for (day = 1; day <= 3; day++) {
        snprintf(out, sizeof out, "%s/backups/day%d", dir, day);
        backup_config(&cfg, out);
        cfg.retain_on_canister = true;
        cfg.keep_on_canister = 1;
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("day %d: %s (%s)", day, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        assert_int_equal(fake_snapshots(ROOT, NULL), 1);
        assert_int_equal(fake_snapshots(APP, NULL), 1);
        assert_int_equal(fake_snapshots(STORE, SNAP), 2);
    }
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    read_calls(&k);
    assert_int_equal(count_prefix(&k, "canister snapshot delete"), 6);
    free_calls(&k);
}

/* The fake's per-canister snapshot limit (a create beyond it is
 * rejected as the IC rejects it). */
static void set_fake_limit(unsigned limit)
{
    char *text, *both;
    size_t len;
    sf_error err;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    assert_true(len > 1 && text[0] == '{');
    both = malloc(len + 64);
    assert_non_null(both);
    len = (size_t)sprintf(both, "{\"snapshot_limit\": %u, %s", limit, text + 1);
    assert_int_equal(sf_fs_write_atomic_untracked(state_path, both, len, &err),
                     SF_OK);
    free(both);
    free(text);
}

/* At the limit through the fake icp: the create becomes `icp canister
 * snapshot create ... --replace <oldest snapfleet snapshot>`; STORE's
 * snapshot that no backup made stays; keeping 2 with a limit of 2, every
 * day from the second replaces. */
static void test_engine_replace_at_limit(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32];
    calls k;
    int day;

    (void)state;
    set_fake_limit(2);
    d = new_driver(&c);
    top = stack(d, &clock);
    for (day = 1; day <= 3; day++) {
        snprintf(out, sizeof out, "%s/backups/day%d", dir, day);
        backup_config(&cfg, out);
        cfg.retain_on_canister = true;
        cfg.keep_on_canister = 2;
        cfg.snapshot_limit = 2;
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("day %d: %s (%s)", day, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        assert_int_equal(fake_snapshots(ROOT, NULL), day < 2 ? 1 : 2);
        assert_int_equal(fake_snapshots(STORE, SNAP), 2);
        verify(out);
    }
    read_calls(&k);
    /* STORE on days 2 and 3, ROOT and APP on day 3 */
    assert_int_equal(count_prefix(&k, "canister snapshot create " STORE " --replace "), 2);
    assert_int_equal(count_prefix(&k, "canister snapshot create " ROOT " --replace "), 1);
    assert_int_equal(count_prefix(&k, "canister snapshot create " APP " --replace "), 1);
    assert_int_equal(count_prefix(&k, "canister snapshot delete"), 0);
    free_calls(&k);
    /* a limit of 1: STORE holds only a snapshot no backup made, so the run
     * fails before stopping anything */
    write_state("[]");
    set_fake_limit(1);
    remove(log_path);
    snprintf(out, sizeof out, "%s/full/day1", dir);
    backup_config(&cfg, out);
    cfg.snapshot_limit = 1;
    assert_int_equal(sf_backup_run(&cfg, top, &clock, &res, &err), SF_ERR);
    sf_backup_result_free(&res);
    assert_string_equal(err.kind, "snapshot-limit-reached");
    assert_non_null(strstr(err.message, STORE));
    assert_non_null(strstr(err.message, SNAP " (not made by snapfleet)"));
    read_calls(&k);
    assert_int_equal(count_prefix(&k, "canister stop"), 0);
    assert_int_equal(count_prefix(&k, "canister snapshot create"), 0);
    free_calls(&k);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
}

/* A backup and then a restore of it, both through the real driver code
 * against the fake icp: the restore's uploads (--upload) go without
 * --resume the first time, loads use the id each upload returned, and
 * every canister ends running and verified; a second restore without
 * --upload loads the snapshots still on the canisters, uploading nothing. */
static void test_engine_restore(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_restore_config rc;
    sf_restore_result rr;
    sf_error err;
    char out[PATH_MAX + 32], st[32];
    calls k;
    size_t before, i;

    (void)state;
    snprintf(out, sizeof out, "%s/restore-src", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    backup_config(&cfg, out);
    if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    sf_backup_result_free(&res);
    read_calls(&k);
    before = k.count;
    free_calls(&k);
    memset(&rc, 0, sizeof rc);
    rc.backup = out;
    rc.mode = SF_RESTORE_MODE_EXECUTE;
    rc.force_upload = true;
    if (sf_restore_run(&rc, top, &clock, &rr, &err) != SF_OK)
        fail_msg("restore: %s (%s)", err.message, err.kind);
    assert_true(rr.complete);
    sf_restore_result_free(&rr);
    {
        /* again without --upload: the backed-up snapshots are still on
         * the canisters, listed as recorded, and are loaded from there */
        char again[PATH_MAX + 32];

        snprintf(again, sizeof again, "%s/restore-again", dir);
        rc.force_upload = false;
        rc.restore_dir = again;
        if (sf_restore_run(&rc, top, &clock, &rr, &err) != SF_OK)
            fail_msg("restore from the canisters: %s (%s)", err.message, err.kind);
        assert_true(rr.complete);
        sf_restore_result_free(&rr);
    }
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    read_calls(&k);
    assert_int_equal(count_prefix(&k, "canister snapshot upload"), 3);
    assert_int_equal(count_prefix(&k, "canister snapshot restore"), 6);
    for (i = before; i < k.count; i++) {
        char line[8192];
        argv_text(&k, i, line, sizeof line);
        assert_null(strstr(line, "--resume"));
    }
    for (i = 0; i < 3; i++) {
        const char *ids[] = {ROOT, APP, STORE};
        fake_status(ids[i], st, sizeof st);
        assert_string_equal(st, "Running");
    }
    free_calls(&k);
}

static void test_engine_backup_dry_run(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32], want[PATH_MAX * 4], reg[PATH_MAX + 32];
    const char *json = "{\"Ok\": [{\"pid\": \"" ROOT "\", \"role\": \"root\","
        " \"record\": {\"parent_pid\": null, \"module_hash\": \"" HASH_A "\"}},"
        " {\"pid\": \"" APP "\", \"role\": \"app\", \"record\": {\"parent_pid\":"
        " \"" ROOT "\", \"module_hash\": null}}]}";
    calls k;

    (void)state;
    snprintf(out, sizeof out, "%s/dry", dir);
    snprintf(reg, sizeof reg, "%s/registry.json", dir);
    assert_int_equal(sf_fs_write_atomic_untracked(reg, json, strlen(json), NULL),
                     SF_OK);
    c.icp = "icp";
    c.network = "http://127.0.0.1:9";
    c.root_key = "mainnet";
    c.registry_file = reg;
    d = new_driver(&c);
    backup_config(&cfg, out);
    cfg.network = "http://127.0.0.1:9";
    cfg.dry_run = true;
    if (sf_backup_run(&cfg, d, &clock, &res, &err) != SF_OK)
        fail_msg("dry run: %s (%s)", err.message, err.kind);
    snprintf(want, sizeof want,
             "icp canister stop " ROOT " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister stop " APP " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot create " ROOT " --json"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot create " APP " --json"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister start " APP " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister start " ROOT " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot download " ROOT " '<snapshot-id>' --output %s/%s.tmp"
             " -n http://127.0.0.1:9 -k mainnet\n"
             "icp canister snapshot download " APP " '<snapshot-id>' --output %s/%s.tmp"
             " -n http://127.0.0.1:9 -k mainnet\n", out, ROOT, out, APP);
    if (strcmp(sf_buf_cstr(&res.planned_commands), want) != 0)
        fail_msg("dry run printed:\n%s\nwanted:\n%s",
                 sf_buf_cstr(&res.planned_commands), want);
    sf_backup_result_free(&res);
    sf_driver_destroy(d);
    read_calls(&k);
    assert_int_equal(k.count, 0); /* a dry run with a registry file runs nothing */
    free_calls(&k);
}

static void test_engine_reconciles(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;
    char out[PATH_MAX + 32];
    calls k;

    (void)state;
    /* a status that cannot connect (retried), a stop and a create whose
     * answers are lost (the effect happened): observed, not replayed */
    write_state("[{\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"conn\"},"
                " {\"op\": \"stop\", \"canister\": \"" STORE "\", \"mode\": \"lost\"},"
                " {\"op\": \"create\", \"canister\": \"" APP "\", \"mode\": \"lost\"}]");
    snprintf(out, sizeof out, "%s/backup", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    backup_config(&cfg, out);
    if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    assert_true(res.complete);
    sf_backup_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(out);
    read_calls(&k);
    /* one create per canister: the lost one was adopted from the list */
    assert_int_equal(count_prefix(&k, "canister snapshot create"), 3);
    assert_int_equal(count_prefix(&k, "canister stop " STORE), 1);
    free_calls(&k);
}

/* A backup through every transport text: the registry read, a status
 * and a list fail once with it (asked again), a stop and a create go
 * through and their answers are lost with it (observed, not replayed). */
static void test_engine_transport_texts(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    size_t i;

    (void)state;
    for (i = 0; i < sizeof transport_texts / sizeof transport_texts[0]; i++) {
        const char *t = transport_texts[i];
        char faults[2048], out[PATH_MAX + 64];
        sf_driver *d, *top;
        sf_backup_config cfg;
        sf_backup_result res;
        sf_error err;
        calls k;

        snprintf(faults, sizeof faults,
            "[{\"op\": \"registry\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"status\", \"canister\": \"" APP "\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"list\", \"canister\": \"" ROOT "\", \"mode\": \"conn\", \"text\": \"%s\"},"
            " {\"op\": \"stop\", \"canister\": \"" STORE "\", \"mode\": \"lost\", \"text\": \"%s\"},"
            " {\"op\": \"create\", \"canister\": \"" APP "\", \"mode\": \"lost\", \"text\": \"%s\"}]",
            t, t, t, t, t);
        write_state(faults);
        remove(log_path);
        snprintf(out, sizeof out, "%s/backup-%zu", dir, i);
        d = new_driver(&c);
        top = stack(d, &clock);
        backup_config(&cfg, out);
        if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
            fail_msg("backup through `%s`: %s (%s)", t, err.message, err.kind);
        assert_true(res.complete);
        sf_backup_result_free(&res);
        sf_driver_destroy(top);
        sf_driver_destroy(d);
        verify(out);
        read_calls(&k);
        /* the registry is read for the plan and again before the stops;
         * the first read failed once and was asked again */
        assert_int_equal(count_prefix(&k, "canister call"), 3);
        assert_int_equal(count_prefix(&k, "canister snapshot create"), 3);
        assert_int_equal(count_prefix(&k, "canister stop " STORE), 1);
        free_calls(&k);
    }
}

static void test_engine_resumes_download(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char out[PATH_MAX + 32], want[PATH_MAX * 2], st[32];
    calls k;

    (void)state;
    /* APP's download dies after metadata.json: outcome unknown, run fails,
     * canisters are started again; the rerun resumes with --resume */
    write_state("[{\"op\": \"download\", \"canister\": \"" APP "\","
                " \"mode\": \"partial\"}]");
    snprintf(out, sizeof out, "%s/snap", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    download_config(&cfg, out);
    assert_int_equal(sf_snapshot_download(&cfg, top, &clock, &res, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running"); /* containment */
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("rerun: %s (%s)", err.message, err.kind);
    assert_true(res.resumed);
    sf_snapshot_download_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(out);
    read_calls(&k);
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp "
             "--resume -n ic", out, APP);
    expect_called(&k, want);
    free_calls(&k);
}

/* taken_at_timestamp of <artifact>/metadata.json. */
static uint64_t meta_taken_at(const char *artifact)
{
    char path[PATH_MAX + 64];
    sf_snapshot_meta m;
    sf_error err;
    uint64_t t;

    snprintf(path, sizeof path, "%s/metadata.json", artifact);
    if (sf_snapshot_meta_read_file(path, &m, &err) != SF_OK)
        fail_msg("%s", err.message);
    t = m.taken_at_timestamp;
    sf_snapshot_meta_free(&m);
    return t;
}

/* taken_at of a canister's newest snapshot in the fake's state. */
static uint64_t fake_newest_taken_at(const char *id)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *snaps;
    uint64_t t;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    snaps = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
                                "canisters"), id), "snapshots");
    t = (uint64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(snaps,
            cJSON_GetArraySize(snaps) - 1), "taken_at")->valuedouble;
    cJSON_Delete(root);
    free(text);
    return t;
}

/* Every chunk file of an artifact holds the bytes its name hashes to. */
static void chunks_match_names(const char *artifact)
{
    char path[PATH_MAX + 64], cmd[PATH_MAX * 2];
    FILE *ls;
    int n = 0;

    snprintf(cmd, sizeof cmd, "ls '%s/wasm_chunk_store'", artifact);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    while (fgets(path, sizeof path, ls) != NULL) {
        char file[PATH_MAX * 2], sum[SF_SHA256_HEX_SIZE];
        sf_error err;

        path[strcspn(path, "\n")] = '\0';
        snprintf(file, sizeof file, "%s/wasm_chunk_store/%s", artifact, path);
        assert_int_equal(sf_checksum_file(file, sum, &err), SF_OK);
        if (strncmp(path, sum, 64) != 0)
            fail_msg("%s holds bytes with SHA-256 %s", file, sum);
        n++;
    }
    pclose(ls);
    assert_true(n > 0);
}

/* A <id>.tmp left by a download of another snapshot: icp would resume
 * from its metadata.json and mix the two snapshots; it is discarded and
 * the snapshot downloaded clean. */
static void test_engine_stale_tmp_discarded(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char one[PATH_MAX + 32], two[PATH_MAX + 32], cmd[PATH_MAX * 5];
    char artifact[PATH_MAX + 64], line[8192];
    calls k;
    size_t i;

    (void)state;
    snprintf(one, sizeof one, "%s/day1", dir);
    snprintf(two, sizeof two, "%s/day2", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    download_config(&cfg, one);
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("day 1: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    /* day 1's complete download of APP, left as day 2's temp directory */
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp -r '%s/%s' '%s/%s.tmp'",
             two, one, APP, two, APP);
    assert_int_equal(system(cmd), 0);
    remove(log_path);
    download_config(&cfg, two);
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("day 2: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(two);
    snprintf(artifact, sizeof artifact, "%s/%s", two, APP);
    /* the artifact is day 2's snapshot, not day 1's metadata over day 2's
     * bytes */
    assert_true(meta_taken_at(artifact) == fake_newest_taken_at(APP));
    snprintf(artifact, sizeof artifact, "%s/%s", one, APP);
    assert_true(meta_taken_at(artifact) != fake_newest_taken_at(APP));
    read_calls(&k);
    for (i = 0; i < k.count; i++) {
        argv_text(&k, i, line, sizeof line);
        assert_null(strstr(line, "--resume"));
    }
    free_calls(&k);
}

/* icp is killed halfway through writing a chunk file; the rerun resumes,
 * icp skips the chunk because the file exists, and the check finds it
 * short: removed, resumed again, and the artifact's chunk is whole. */
static void test_engine_truncated_chunk_repaired(void **state)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_snapshot_download_config cfg;
    sf_snapshot_download_result res;
    sf_error err;
    char out[PATH_MAX + 32], artifact[PATH_MAX + 64], want[PATH_MAX * 2];
    calls k;

    (void)state;
    write_state("[{\"op\": \"download\", \"canister\": \"" APP "\","
                " \"mode\": \"truncate-chunk\"}]");
    snprintf(out, sizeof out, "%s/snap", dir);
    d = new_driver(&c);
    top = stack(d, &clock);
    download_config(&cfg, out);
    assert_int_equal(sf_snapshot_download(&cfg, top, &clock, &res, &err), SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    if (sf_snapshot_download(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("rerun: %s (%s)", err.message, err.kind);
    sf_snapshot_download_result_free(&res);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
    verify(out);
    snprintf(artifact, sizeof artifact, "%s/%s", out, APP);
    chunks_match_names(artifact);
    read_calls(&k);
    /* the first resume kept the short chunk, the second fetched it */
    snprintf(want, sizeof want, "canister snapshot download " APP " "
             "000000000000000100000000000000020101 --output %s/%s.tmp "
             "--resume -n ic", out, APP);
    assert_int_equal(count_prefix(&k, want), 2);
    free_calls(&k);
}

/* Appends a fault rule to the fake's state, keeping the fleet as it is. */
static void add_fault(const char *rule)
{
    /* Spliced into the text rather than rewritten through cJSON, whose
     * printer turns the u64 taken_at values into floats. */
    char *text, *key, *open, *out;
    const char *after;
    size_t len, head;
    int empty;
    sf_error err;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    key = strstr(text, "\"faults\"");
    assert_non_null(key);
    open = strchr(key, '[');
    assert_non_null(open);
    after = open + 1;
    while (*after == ' ' || *after == '\n' || *after == '\t' ||
           *after == '\r')
        after++;
    empty = *after == ']';
    head = (size_t)(open + 1 - text);
    out = malloc(len + strlen(rule) + 2);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, rule, strlen(rule));
    memcpy(out + head + strlen(rule), empty ? "" : ",", empty ? 0 : 1);
    memcpy(out + head + strlen(rule) + (empty ? 0 : 1), open + 1,
           len - head + 1);
    assert_int_equal(sf_fs_write_atomic_untracked(
                         state_path, out, strlen(out), &err),
                     SF_OK);
    free(out);
    free(text);
}

/* A string field of a canister in the fake's state ("" when null or
 * absent). */
static void fake_field(const char *id, const char *field, char *out, size_t cap)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *v;

    assert_int_equal(sf_fs_read_file(state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    v = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(root,
                            "canisters"), id), field);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
    cJSON_Delete(root);
    free(text);
}

/* A backup of the fleet, then a restore of it with one more fault rule;
 * the restore must complete. */
static void backup_then_restore(const char *rule, const char *name)
{
    sf_icp_config c = base_config();
    sf_clock clock = sf_clock_wall();
    sf_driver *d, *top;
    sf_backup_config cfg;
    sf_backup_result res;
    sf_restore_config rc;
    sf_restore_result rr;
    sf_error err;
    char out[PATH_MAX + 32];

    snprintf(out, sizeof out, "%s/%s", dir, name);
    d = new_driver(&c);
    top = stack(d, &clock);
    backup_config(&cfg, out);
    if (sf_backup_run(&cfg, top, &clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    sf_backup_result_free(&res);
    add_fault(rule);
    remove(log_path);
    memset(&rc, 0, sizeof rc);
    rc.backup = out;
    rc.mode = SF_RESTORE_MODE_EXECUTE;
    rc.force_upload = true; /* the upload path is what these cases test */
    if (sf_restore_run(&rc, top, &clock, &rr, &err) != SF_OK)
        fail_msg("restore: %s (%s)", err.message, err.kind);
    assert_true(rr.complete);
    sf_restore_result_free(&rr);
    sf_driver_destroy(top);
    sf_driver_destroy(d);
}

/* The metadata call of APP's upload made the target snapshot, and its
 * reply was lost: no `Created` line, no progress file, an empty snapshot
 * on the canister. It is never loaded: deleted, the upload made again, and
 * APP ends with its module. */
static void test_engine_upload_lost_metadata_reply(void **state)
{
    char mh[80], loaded[80], want[256];
    calls k;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" APP "\","
                        " \"mode\": \"lost-metadata\"}", "lost-meta");
    fake_field(APP, "loaded_partial", loaded, sizeof loaded);
    assert_string_equal(loaded, "");
    fake_field(APP, "module_hash", mh, sizeof mh);
    assert_string_equal(mh, HASH_B);
    read_calls(&k);
    assert_int_equal(count_prefix(&k, "canister snapshot upload " APP), 2);
    snprintf(want, sizeof want, "canister snapshot delete " APP " ");
    assert_int_equal(count_prefix(&k, want), 1);
    free_calls(&k);
    /* what is left on APP: the backup's snapshot and the restored one */
    assert_int_equal(fake_snapshots(APP, NULL), 2);
}

/* icp is killed during APP's upload, after the metadata call: its
 * progress file stays, and the upload is resumed with --resume into the
 * same snapshot; nothing is deleted. */
static void test_engine_upload_killed_resumes(void **state)
{
    char loaded[80], line[8192];
    calls k;
    size_t i, resumed = 0;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" APP "\","
                        " \"mode\": \"cut\"}", "cut");
    fake_field(APP, "loaded_partial", loaded, sizeof loaded);
    assert_string_equal(loaded, "");
    read_calls(&k);
    for (i = 0; i < k.count; i++) {
        argv_text(&k, i, line, sizeof line);
        if (strncmp(line, "canister snapshot upload " APP, 34) == 0 &&
            strstr(line, " --resume") != NULL)
            resumed++;
    }
    assert_int_equal(resumed, 1);
    assert_int_equal(count_prefix(&k, "canister snapshot upload " APP), 2);
    assert_int_equal(count_prefix(&k, "canister snapshot delete"), 0);
    free_calls(&k);
    assert_int_equal(fake_snapshots(APP, NULL), 2);
}

/* icp's own retry of a metadata call left an empty snapshot beside the
 * one it filled: the upload succeeded, and the orphan is deleted. */
static void test_engine_upload_orphan_deleted(void **state)
{
    calls k;

    (void)state;
    backup_then_restore("{\"op\": \"upload\", \"canister\": \"" STORE "\","
                        " \"mode\": \"orphan\"}", "orphan");
    read_calls(&k);
    assert_int_equal(count_prefix(&k, "canister snapshot upload " STORE), 1);
    assert_int_equal(count_prefix(&k, "canister snapshot delete " STORE), 1);
    free_calls(&k);
    /* STORE's own snapshot, the backup's, the restored one */
    assert_int_equal(fake_snapshots(STORE, SNAP), 3);
}

/* icp 1.5.0's --resume needs the progress file. */
static void test_fake_upload_resume_needs_progress(void **state)
{
    sf_icp_config c = base_config();
    char path[PATH_MAX + 64], meta[PATH_MAX + 96];
    sf_driver *d;
    sf_op op;
    sf_result r;

    (void)state;
    write_state_with("[]", "Stopped");
    snprintf(path, sizeof path, "%s/up", dir);
    snprintf(meta, sizeof meta, "%s/metadata.json", path);
    assert_int_equal(sf_fs_write_atomic_untracked(meta, "{}", 2, NULL), SF_OK);
    d = new_driver(&c);
    op = op_of(SF_OP_UPLOAD, STORE, NULL, path);
    op.resume = true;
    run_op(d, &op, &r);
    expect_fail(&r, SF_FAIL_PERMANENT, "icp-rejected");
    assert_non_null(strstr(r.err.message, "Cannot resume: no upload progress "
                           "file found"));
    sf_result_free(&r);
    /* a fresh upload leaves no progress file behind */
    op.resume = false;
    run_op(d, &op, &r);
    expect_ok(&r);
    sf_result_free(&r);
    snprintf(meta, sizeof meta, "%s/.upload_progress.json", path);
    assert_int_equal(access(meta, F_OK), -1);
    sf_driver_destroy(d);
}

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
             args, dir, dir);
    rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static bool cli_said(const char *file, const char *text)
{
    char path[PATH_MAX + 32], *body;
    size_t len;
    bool yes;

    snprintf(path, sizeof path, "%s/%s", dir, file);
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
                         fake, dir), 0);
    assert_true(cli_said("cli.out", "\"complete\": true"));
    assert_true(cli_said("cli.out", "\"network\": \"ic\""));
    assert_int_equal(cli("backup verify '%s/b'", dir), 0);
    fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running");
    /* a refusal fails the run, names its class, and restarts the fleet */
    write_state("[{\"op\": \"create\", \"canister\": \"" APP "\", "
                "\"mode\": \"reject\", \"count\": -1}]");
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/f'", fake, dir), 1);
    assert_true(cli_said("cli.err", "(driver-permanent)"));
    assert_true(cli_said("cli.err", "reject code CanisterError"));
    fake_status(ROOT, st, sizeof st);
    assert_string_equal(st, "Running");
    fake_status(APP, st, sizeof st);
    assert_string_equal(st, "Running");
    fake_status(STORE, st, sizeof st);
    assert_string_equal(st, "Running");
}

/* backup list through the icp driver: day one's snapshots were deleted
 * by day two's retention, day two's are all still there. */
static void test_cli_list_on_canisters(void **state)
{
    (void)state;
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/backups/day1'",
                         fake, dir), 0);
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/backups/day2'",
                         fake, dir), 0);
    assert_int_equal(cli("backup list '%s/backups' --json --driver icp "
                         "--icp '%s' --network ic", dir, fake), 0);
    assert_true(cli_said("cli.out", "\"snapshots_on_canisters\": 3"));
    assert_true(cli_said("cli.out", "\"snapshots_on_canisters\": 0"));
}

static void test_cli_dry_run(void **state)
{
    char want[PATH_MAX * 3];
    calls k;

    (void)state;
    assert_int_equal(cli("backup --driver icp --icp '%s' --network ic --root "
                         ROOT " --include-root --out '%s/d' --dry-run",
                         fake, dir), 0);
    snprintf(want, sizeof want, "%s canister snapshot create " STORE
             " --json -n ic\n", fake);
    assert_true(cli_said("cli.out", want));
    snprintf(want, sizeof want, "%s canister snapshot download " APP
             " '<snapshot-id>' --output %s/d/%s.tmp -n ic\n", fake, dir, APP);
    assert_true(cli_said("cli.out", want));
    /* the registry was read through icp; nothing else ran */
    read_calls(&k);
    assert_int_equal(k.count, 1);
    assert_int_equal(count_prefix(&k, "canister call " ROOT), 1);
    free_calls(&k);
}

static void test_cli_usage(void **state)
{
    (void)state;
    /* no network: icp needs a target */
    assert_int_equal(cli("backup --driver icp --icp '%s' --root " ROOT
                         " --out '%s/x'", fake, dir), 2);
    assert_true(cli_said("cli.err", "--network"));
    assert_int_equal(cli("backup --driver icp --network ic --environment e "
                         "--root " ROOT " --out '%s/x'", dir), 2);
    assert_int_equal(cli("backup --driver icp --environment e --root " ROOT
                         " --out '%s/x'", dir), 2);
    assert_true(cli_said("cli.err", "--project-root"));
    assert_int_equal(cli("backup --driver icp --network ic --timeout 0 --root "
                         ROOT " --out '%s/x'", dir), 2);
    assert_int_equal(cli("backup --driver icp --network ic --sim-state s "
                         "--root " ROOT " --out '%s/x'", dir), 2);
    assert_int_equal(cli("backup --driver sim --sim-state s --identity ops "
                         "--root " ROOT " --out '%s/x'", dir), 2);
    assert_true(cli_said("cli.err", "--identity belongs to --driver icp"));
    assert_int_equal(cli("backup --driver nope --out '%s/x'", dir), 2);
    /* a missing binary is a plain failure, not a usage error */
    assert_int_equal(cli("backup --driver icp --icp /nonexistent/icp --network "
                         "ic --root " ROOT " --out '%s/x'", dir), 1);
    assert_true(cli_said("cli.err", "icp-not-found"));
}

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
    sf_icp_config c = base_config();
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
    snprintf(home, sizeof home, "%s/home", dir);
    assert_int_equal(mkdir(home, 0700), 0);
    setenv("HOME", home, 1);
    setenv("ICP_HOME", home, 1);
    snprintf(xfer, sizeof xfer, "%s/xfer", dir);
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
            c.project_root = dir;
        }
        drivers[v] = new_driver(&c);
        /* the targeting flags are the same for every op: the other forms
         * need one op each */
        for (k = 0; k < (v == 0 ? sizeof kinds / sizeof kinds[0] : 1); k++) {
            for (resume = 0; resume < 2; resume++) {
                sf_op op;
                if (resume && kinds[k] != SF_OP_DOWNLOAD && kinds[k] != SF_OP_UPLOAD)
                    continue;
                op = op_of(kinds[k], APP, kinds[k] == SF_OP_DOWNLOAD ||
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
        sf_op op = op_of(SF_OP_CREATE, APP, SNAP, NULL);

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
        cmocka_unit_test_setup_teardown(test_network_is_url, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_config_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_every_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_targeting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_argv_refuses_bad_ids, setup, teardown),
        cmocka_unit_test_setup_teardown(test_render, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shell_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_exit_codes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_connection, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_text_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_classes_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_message, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_status_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_snapshots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parse_registry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_output_too_large, setup, teardown),
        cmocka_unit_test_setup_teardown(test_download_success_needs_metadata, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fake_every_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_on_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_error_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_transport_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_misbehaving_children, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fake_timeout_kills, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fake_concurrent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy_kills_in_flight, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_registry_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_snapshot_download, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_daily_retention, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_replace_at_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_backup_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_reconciles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_transport_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_stale_tmp_discarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_lost_metadata_reply, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_killed_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_upload_orphan_deleted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fake_upload_resume_needs_progress, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_truncated_chunk_repaired, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_engine_resumes_download, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_cli_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_list_on_canisters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_icp_accepts_every_command,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
