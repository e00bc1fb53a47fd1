/* The icp driver tests' shared set-up (icp_fixture.h). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "icp_fixture.h"
#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/wrap.h"

char icp_fake[PATH_MAX]; /* tests/fake-icp/icp */
char icp_dir[PATH_MAX];  /* per test */
char icp_state_path[PATH_MAX + 32], icp_log_path[PATH_MAX + 32];

const char *const icp_transport_texts[ICP_TRANSPORT_TEXT_COUNT] = {
    "error decoding response body", "request or response body error",
    "operation timed out", "The request timed out.",
    "The replica returned an HTTP Error:",
};

static void find_fake(void)
{
    const char *data = getenv("SF_TEST_DATA");
    char path[PATH_MAX];

    snprintf(path, sizeof path, "%s/../fake-icp/icp",
             data ? data : "tests/data");
    if (realpath(path, icp_fake) == NULL) {
        fprintf(stderr, "cannot find the fake icp at %s\n", path);
        abort();
    }
}

/* The fleet: ROOT -> APP -> STORE, all running, controlled by OPERATOR;
 * faults is the JSON array of fault rules. */
void icp_write_state_with(const char *faults, const char *store_status)
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
    if (sf_fs_write_atomic_untracked(icp_state_path, text, strlen(text), &err) != SF_OK)
        fail_msg("write state: %s", err.message);
}

void icp_write_state(const char *faults)
{
    icp_write_state_with(faults, "Running");
}

int icp_setup(void **state)
{
    (void)state;
    if (icp_fake[0] == '\0')
        find_fake();
    strcpy(icp_dir, "/tmp/sf-icp-XXXXXX");
    if (mkdtemp(icp_dir) == NULL)
        return -1;
    snprintf(icp_state_path, sizeof icp_state_path, "%s/state.json", icp_dir);
    snprintf(icp_log_path, sizeof icp_log_path, "%s/calls.jsonl", icp_dir);
    setenv("FAKE_ICP_STATE", icp_state_path, 1);
    setenv("FAKE_ICP_LOG", icp_log_path, 1);
    icp_write_state("[]");
    return 0;
}

int icp_teardown(void **state)
{
    char cmd[PATH_MAX + 32];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", icp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

sf_icp_config icp_base_config(void)
{
    sf_icp_config c;

    memset(&c, 0, sizeof c);
    c.icp = icp_fake;
    c.network = "ic";
    c.timeout_ms = 20000;
    return c;
}

sf_driver *icp_new_driver(const sf_icp_config *c)
{
    sf_driver *d;
    sf_error err;

    if (sf_icp_driver_new(c, &d, &err) != SF_OK)
        fail_msg("driver: %s (%s)", err.message, err.kind);
    return d;
}

sf_op icp_op_of(sf_op_kind kind, const char *id, const char *snap,
                       const char *path)
{
    sf_op op;
    sf_error err;

    if (sf_op_init(&op, kind, id, snap, path, &err) != SF_OK)
        fail_msg("op: %s", err.message);
    return op;
}

/* Runs op to completion; the caller frees *r. */
void icp_run_op(sf_driver *d, const sf_op *op, sf_result *r)
{
    sf_error err;

    if (sf_driver_run(d, op, r, &err) != SF_OK)
        fail_msg("run: %s (%s)", err.message, err.kind);
}

void icp_expect_fail(const sf_result *r, sf_fail_class fail,
                            const char *kind)
{
    if (r->fail != fail || r->err.kind == NULL || strcmp(r->err.kind, kind) != 0)
        fail_msg("wanted %s %s, got %s %s: %s", sf_fail_class_name(fail), kind,
                 sf_fail_class_name(r->fail), r->err.kind ? r->err.kind : "-",
                 r->err.message);
}

void icp_expect_ok(const sf_result *r)
{
    if (r->fail != SF_FAIL_NONE)
        fail_msg("%s: %s (%s)", sf_fail_class_name(r->fail), r->err.message,
                 r->err.kind ? r->err.kind : "-");
}

/* ---- the fake's record ---- */

void icp_read_calls(icp_calls *c)
{
    char *text = NULL, *line, *save = NULL;
    size_t len;
    sf_error err;

    memset(c, 0, sizeof *c);
    if (access(icp_log_path, F_OK) != 0)
        return;
    if (sf_fs_read_file(icp_log_path, (size_t)64 << 20, &text, &len, &err) != SF_OK)
        fail_msg("log: %s", err.message);
    /* a child may be writing its line right now (a line longer than the
     * fake's buffer takes several writes): only whole lines count */
    {
        char *end = strrchr(text, '\n');

        if (end != NULL)
            end[1] = '\0';
        else
            text[0] = '\0';
    }
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

void icp_free_calls(icp_calls *c)
{
    for (size_t i = 0; i < c->count; i++)
        cJSON_Delete(c->items[i]);
    free(c->items);
    memset(c, 0, sizeof *c);
}

/* The recorded argv of call i, joined by single spaces. */
void icp_argv_text(const icp_calls *c, size_t i, char *buf, size_t cap)
{
    const cJSON *a = cJSON_GetObjectItem(c->items[i], "argv"), *x;
    size_t n = 0;

    buf[0] = '\0';
    cJSON_ArrayForEach(x, a) {
        n += (size_t)snprintf(buf + n, n < cap ? cap - n : 0, "%s%s",
                              n ? " " : "", x->valuestring);
    }
}

const char *icp_env_of(const icp_calls *c, size_t i, const char *name)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(c->items[i], "env"),
                                         name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* True when some recorded call has exactly this argv (after the program). */
bool icp_called(const icp_calls *c, const char *want)
{
    char buf[8192];

    for (size_t i = 0; i < c->count; i++) {
        icp_argv_text(c, i, buf, sizeof buf);
        if (strcmp(buf, want) == 0)
            return true;
    }
    return false;
}

size_t icp_count_prefix(const icp_calls *c, const char *prefix)
{
    char buf[8192];
    size_t n = 0;

    for (size_t i = 0; i < c->count; i++) {
        icp_argv_text(c, i, buf, sizeof buf);
        n += strncmp(buf, prefix, strlen(prefix)) == 0;
    }
    return n;
}

void icp_expect_called(const icp_calls *c, const char *want)
{
    char buf[8192];

    if (icp_called(c, want))
        return;
    for (size_t i = 0; i < c->count; i++) {
        icp_argv_text(c, i, buf, sizeof buf);
        fprintf(stderr, "  call %zu: %s\n", i, buf);
    }
    fail_msg("no call `%s`", want);
}

/* The status of a canister in the fake's state file. */
void icp_fake_status(const char *id, char *out, size_t cap)
{
    char *text;
    size_t len;
    sf_error err;
    cJSON *root;
    const cJSON *c;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
                                     &err), SF_OK);
    root = cJSON_Parse(text);
    c = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "canisters"), id);
    snprintf(out, cap, "%s", cJSON_GetObjectItem(c, "status")->valuestring);
    cJSON_Delete(root);
    free(text);
}

/* ---- the engine over the driver ---- */

sf_driver *icp_stack(sf_driver *base, const sf_clock *clock)
{
    sf_driver *retry;
    sf_error err;

    if (sf_retry_driver_new(base, clock, 3, 10, 50, &retry, &err) != SF_OK)
        fail_msg("retry: %s", err.message);
    return retry;
}

void icp_verify(const char *out)
{
    sf_integrity_report rep;
    sf_error err;

    if (sf_verify_integrity(out, &rep, &err) != SF_OK)
        fail_msg("verify %s: %s (%s)", out, err.message, err.kind);
    assert_true(rep.verified);
    assert_int_equal(rep.durable_artifacts, 3);
    sf_integrity_report_free(&rep);
}

void icp_download_config(sf_snapshot_download_config *c, const char *out)
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

void icp_backup_config(sf_backup_config *c, const char *out)
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

size_t icp_fake_snapshots(const char *id, const char *must_have)
{
    char *text;
    size_t len, n;
    sf_error err;
    cJSON *root;
    const cJSON *c, *snaps, *x;
    bool found = must_have == NULL;

    assert_int_equal(sf_fs_read_file(icp_state_path, (size_t)1 << 24, &text, &len,
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

void icp_engine_open(icp_engine *e, const char *name_fmt, ...)
{
    sf_icp_config c = icp_base_config();
    int n = snprintf(e->out, sizeof e->out, "%.900s/", icp_dir);
    va_list ap;

    va_start(ap, name_fmt);
    vsnprintf(e->out + n, sizeof e->out - n, name_fmt, ap);
    va_end(ap);
    e->clock = sf_clock_wall();
    e->base = icp_new_driver(&c);
    e->top = icp_stack(e->base, &e->clock);
}

void icp_engine_close(icp_engine *e)
{
    sf_driver_destroy(e->top);
    sf_driver_destroy(e->base);
    e->top = e->base = NULL;
}

void icp_engine_backup(icp_engine *e)
{
    sf_backup_config cfg;
    sf_backup_result res;
    sf_error err;

    icp_backup_config(&cfg, e->out);
    if (sf_backup_run(&cfg, e->top, &e->clock, &res, &err) != SF_OK)
        fail_msg("backup: %s (%s)", err.message, err.kind);
    assert_true(res.complete);
    sf_backup_result_free(&res);
}
