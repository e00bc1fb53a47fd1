/* The backup directory: lock, artifact path resolution, and the offline
 * integrity check with each of canic's refusals in its order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "engine/observations.h"
#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/sim.h"
#include "snapfleet/simdisk.h"

static char root[64];
static char out[128];

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

/* A real two-canister backup made by the snapshot pipeline on the
 * simulator, fresh for every test. */
static int setup(void **state)
{
    sf_sim_config cfg;
    sf_sim *sim;
    sf_driver *d;
    sf_clock clock;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    (void)state;
    strcpy(root, "/tmp/sf-layout-XXXXXX");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(out, sizeof out, "%s/backup", root);
    sf_sim_config_default(&cfg);
    cfg.canister_count = 2;
    if (sf_sim_init(&cfg, &sim, &err) != SF_OK ||
        sf_sim_driver_new(sim, NULL, &d, &err) != SF_OK)
        return -1;
    clock = sf_sim_clock(sim);
    memset(&c, 0, sizeof c);
    c.canister = sf_sim_root_id(sim);
    c.root = c.canister;
    c.recursive = true;
    c.resume_after_snapshot = true;
    c.out = out;
    c.tool_name = "snapfleet";
    c.tool_version = "test";
    c.environment = "local";
    if (sf_snapshot_download(&c, d, &clock, &r, &err) != SF_OK) {
        fprintf(stderr, "setup backup failed: %s\n", err.message);
        return -1;
    }
    sf_snapshot_download_result_free(&r);
    sf_driver_destroy(d);
    sf_sim_free(sim);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    return system(cmd) == 0 ? 0 : -1;
}

static void load(sf_manifest *m, sf_download_journal *j)
{
    char mp[256], jp[256];
    sf_error err;

    snprintf(mp, sizeof mp, "%s/%s", out, SF_MANIFEST_FILE_NAME);
    snprintf(jp, sizeof jp, "%s/%s", out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    assert_int_equal(sf_manifest_read_file(mp, m, &err), SF_OK);
    assert_int_equal(sf_download_journal_read_file(jp, j, &err), SF_OK);
}

static void save(const sf_manifest *m, const sf_download_journal *j)
{
    char mp[256], jp[256];
    sf_error err;

    snprintf(mp, sizeof mp, "%s/%s", out, SF_MANIFEST_FILE_NAME);
    snprintf(jp, sizeof jp, "%s/%s", out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    assert_int_equal(sf_manifest_write_file(mp, m, &err), SF_OK);
    assert_int_equal(sf_download_journal_write_file(jp, j, &err), SF_OK);
}

static void replace(char **slot, const char *value)
{
    free(*slot);
    *slot = value ? strdup(value) : NULL;
}

static void expect_refusal(const char *kind)
{
    sf_integrity_report rep;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, kind);
    assert_int_equal(rep.verified, false);
}

static const char other_hash[] =
    "1111111111111111111111111111111111111111111111111111111111111111";

static void test_fresh_backup_verifies(void **state)
{
    sf_integrity_report rep;
    sf_error err;
    sf_buf b;

    (void)state;
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_OK);
    assert_true(rep.verified);
    assert_int_equal(rep.manifest_members, 2);
    assert_int_equal(rep.journal_artifacts, 2);
    assert_int_equal(rep.durable_artifacts, 2);
    assert_int_equal(rep.artifact_count, 2);
    assert_non_null(strstr(rep.artifacts[0].artifact_path, out));
    sf_buf_init(&b);
    assert_int_equal(sf_integrity_report_json(&rep, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "\"durable_artifacts\": 2"));
    sf_buf_free(&b);
    sf_integrity_report_free(&rep);
}

typedef struct counted {
    int calls;
    int fail;     /* 1: fail with an io error, 2: give another hash */
} counted;

static int count_checksum(void *payload, const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                          sf_error *err)
{
    counted *c = payload;

    c->calls++;
    if (c->fail == 1)
        return sf_error_set(err, SF_EK_IO, NULL, "cannot read %s", path);
    if (c->fail == 2) {
        memcpy(out_hex, other_hash, SF_SHA256_HEX_SIZE);
        return SF_OK;
    }
    return sf_checksum_path(path, out_hex, err);
}

static void test_checksums_from_the_caller(void **state)
{
    sf_integrity_report rep;
    sf_error err;
    counted c = {0};

    (void)state;
    assert_int_equal(sf_verify_integrity_with(out, count_checksum, &c, &rep, &err), SF_OK);
    assert_true(rep.verified);
    assert_int_equal(c.calls, 2);
    sf_integrity_report_free(&rep);
    /* The caller's failure is the verify's, with nothing verified. */
    c.fail = 1;
    sf_error_clear(&err);
    assert_int_equal(sf_verify_integrity_with(out, count_checksum, &c, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    assert_false(rep.verified);
    /* A checksum that is not the journal's is refused as changed bytes are. */
    c.fail = 2;
    sf_error_clear(&err);
    assert_int_equal(sf_verify_integrity_with(out, count_checksum, &c, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "checksum-mismatch");
    assert_false(rep.verified);
    /* NULL: sf_checksum_path, as sf_verify_integrity. */
    assert_int_equal(sf_verify_integrity_with(out, NULL, NULL, &rep, &err), SF_OK);
    sf_integrity_report_free(&rep);
}

static void test_backup_id_mismatch(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&j.backup_id, "someone-else");
    save(&m, &j);
    expect_refusal("backup-id-mismatch");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_topology_receipt_missing_or_different(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&j.discovery_topology_hash, NULL);
    save(&m, &j);
    expect_refusal("manifest-journal-topology-receipt-mismatch");
    replace(&j.discovery_topology_hash, m.fleet.discovery_topology_hash);
    replace(&j.pre_snapshot_topology_hash, other_hash);
    save(&m, &j);
    expect_refusal("manifest-journal-topology-receipt-mismatch");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_unexpected_journal_artifact(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&j.artifacts[1].snapshot_id, "00ff");
    save(&m, &j);
    /* checked before the members, so it wins over the missing one */
    expect_refusal("unexpected-journal-artifact");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_missing_journal_artifact(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    sf_journal_artifact_free(&j.artifacts[1]);
    j.artifact_count = 1;
    save(&m, &j);
    expect_refusal("missing-journal-artifact");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_non_durable_artifact(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    j.artifacts[0].state = SF_ARTIFACT_CHECKSUM_VERIFIED;
    replace(&j.artifacts[0].temp_path, "somewhere.tmp");
    save(&m, &j);
    expect_refusal("non-durable-artifact");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_artifact_path_mismatch(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&j.artifacts[0].artifact_path, "elsewhere");
    save(&m, &j);
    expect_refusal("manifest-journal-artifact-path-mismatch");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_manifest_journal_checksum_mismatch(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&m.fleet.members[0].source_snapshot.checksum, other_hash);
    save(&m, &j);
    expect_refusal("manifest-journal-checksum-mismatch");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_path_escaping_the_backup(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    replace(&m.fleet.members[0].source_snapshot.artifact_path, "../outside");
    replace(&j.artifacts[0].artifact_path, "../outside");
    save(&m, &j);
    expect_refusal("artifact-path-escapes-backup");
    replace(&m.fleet.members[0].source_snapshot.artifact_path, "/etc");
    replace(&j.artifacts[0].artifact_path, "/etc");
    save(&m, &j);
    expect_refusal("artifact-path-escapes-backup");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_missing_artifact(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    sh("rm -rf '%s/%s'", out, m.fleet.members[1].source_snapshot.artifact_path);
    expect_refusal("missing-artifact");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_changed_bytes(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    sh("printf x >> '%s/%s/stable_memory.bin'", out,
       m.fleet.members[0].source_snapshot.artifact_path);
    expect_refusal("checksum-mismatch");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_artifact_behind_a_symlink(void **state)
{
    sf_manifest m;
    sf_download_journal j;
    const char *rel;

    (void)state;
    load(&m, &j);
    rel = m.fleet.members[0].source_snapshot.artifact_path;
    sh("mv '%s/%s' '%s/moved' && ln -s '%s/moved' '%s/%s'", out, rel, root, root,
       out, rel);
    expect_refusal("symlink-refused");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_symlink_inside_an_artifact(void **state)
{
    sf_manifest m;
    sf_download_journal j;

    (void)state;
    load(&m, &j);
    sh("ln -s /etc/passwd '%s/%s/extra'", out,
       m.fleet.members[0].source_snapshot.artifact_path);
    expect_refusal("symlink-refused");
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
}

static void test_invalid_documents_name_the_file(void **state)
{
    sf_integrity_report rep;
    sf_error err;

    (void)state;
    sh("printf '{' > '%s/%s'", out, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "json-syntax");
    assert_non_null(strstr(err.message, SF_DOWNLOAD_JOURNAL_FILE_NAME));
    sh("rm '%s/%s'", out, SF_MANIFEST_FILE_NAME);
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    assert_non_null(strstr(err.message, SF_MANIFEST_FILE_NAME));
}

static void test_dry_run_layout_is_not_a_backup(void **state)
{
    sf_integrity_report rep;
    sf_error err;

    (void)state;
    sh("rm '%s/%s' && echo '{}' > '%s/%s'", out, SF_MANIFEST_FILE_NAME, out,
       SF_PLAN_FILE_NAME);
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "dry-run-not-complete");
}

static void test_lock_excludes_a_second_holder(void **state)
{
    sf_lock a, b;
    sf_error err;
    char dir[256];

    (void)state;
    snprintf(dir, sizeof dir, "%s/locked/deeper", root);
    assert_int_equal(sf_lock_acquire(dir, &a, &err), SF_OK);
    assert_int_equal(sf_lock_acquire(dir, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "journal-locked");
    assert_int_equal(b.fd, -1);
    sf_lock_release(&a);
    /* released (or its holder died): the next run gets it */
    assert_int_equal(sf_lock_acquire(dir, &b, &err), SF_OK);
    sf_lock_release(&b);
    sf_lock_release(&b); /* twice is harmless */
}

static void test_lock_on_a_file_is_io(void **state)
{
    sf_lock a;
    sf_error err;
    char file[256];

    (void)state;
    snprintf(file, sizeof file, "%s/plain", root);
    sh("touch '%s'", file);
    assert_int_equal(sf_lock_acquire(file, &a, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
}

static void test_resolve_artifact_path(void **state)
{
    char *p = NULL;
    sf_error err;

    (void)state;
    assert_int_equal(sf_resolve_artifact_path(out, "a//b/./c/", &p, &err), SF_OK);
    assert_non_null(strstr(p, "/backup/a//b/./c/"));
    free(p);
    assert_int_equal(sf_resolve_artifact_path(out, "...", &p, &err), SF_OK);
    free(p);
    assert_int_equal(sf_resolve_artifact_path(out, "..b", &p, &err), SF_OK);
    free(p);
    assert_int_equal(sf_resolve_artifact_path(out, "a/../b", &p, &err), SF_ERR);
    assert_string_equal(err.kind, "artifact-path-escapes-backup");
    assert_null(p);
    assert_int_equal(sf_resolve_artifact_path(out, "..", &p, &err), SF_ERR);
    assert_int_equal(sf_resolve_artifact_path(out, "a/..", &p, &err), SF_ERR);
}

static void test_path_join(void **state)
{
    char *p;

    (void)state;
    p = sf_path_join("a", "b");
    assert_string_equal(p, "a/b");
    free(p);
    p = sf_path_join("a/", "b");
    assert_string_equal(p, "a/b");
    free(p);
    p = sf_path_join("", "b");
    assert_string_equal(p, "b");
    free(p);
}

/* ---- observations ---- */

static void test_observations_round_trip(void **state)
{
    sf_observations o, back;
    sf_obs_canister *c;
    sf_snapshot_info snaps[2];
    sf_buf a, b;
    sf_error err;
    char path[256];

    (void)state;
    memset(&o, 0, sizeof o);
    memset(snaps, 0, sizeof snaps);
    strcpy(snaps[0].id, "0a");
    strcpy(snaps[1].id, "0b");
    c = sf_obs_get(&o, "aaaaa-aa");
    assert_non_null(c);
    c->has_status_before = true;
    c->status_before = SF_STATUS_RUNNING;
    c->stopped_by_us = true;
    assert_int_equal(sf_obs_set_snapshots_before(c, snaps, 2, &err), SF_OK);
    c = sf_obs_get(&o, "2vxsx-fae");
    c->snapshot_id = strdup("0c");
    assert_ptr_equal(sf_obs_get(&o, "aaaaa-aa"), &o.canisters[0]);
    assert_null(sf_obs_find(&o, "renrk-eyaaa-aaaaa-aaada-cai"));
    snprintf(path, sizeof path, "%s/obs.json", root);
    assert_int_equal(sf_obs_write_file(path, &o, &err), SF_OK);
    assert_int_equal(sf_obs_read_file(path, &back, &err), SF_OK);
    sf_buf_init(&a);
    sf_buf_init(&b);
    assert_int_equal(sf_obs_write_json(&o, &a, &err), SF_OK);
    assert_int_equal(sf_obs_write_json(&back, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&a), sf_buf_cstr(&b));
    assert_non_null(strstr(sf_buf_cstr(&a), "\"status_before\": \"running\""));
    assert_non_null(strstr(sf_buf_cstr(&a), "\"snapshots_before_create\": null"));
    assert_int_equal(back.count, 2);
    assert_int_equal(back.canisters[0].snapshots_before_count, 2);
    assert_false(back.canisters[1].has_status_before);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_obs_free(&o);
    sf_obs_free(&back);
}

static void test_observations_missing_file_is_empty(void **state)
{
    sf_observations o;
    sf_error err;
    char path[256];

    (void)state;
    snprintf(path, sizeof path, "%s/none.json", root);
    assert_int_equal(sf_obs_read_file(path, &o, &err), SF_OK);
    assert_int_equal(o.count, 0);
}

static void test_observations_refusals(void **state)
{
    static const struct {
        const char *text, *kind, *field;
    } cases[] = {
        {"{", "json-syntax", ""},
        {"{\"version\": 2, \"canisters\": []}", "json-schema", "version"},
        {"{\"version\": 1}", "json-schema", "canisters"},
        {"{\"version\": 1, \"canisters\": [{\"canister_id\": \"nope\", "
         "\"stopped_by_us\": true, \"restarted\": false}]}",
         "json-schema", "canisters[0].canister_id"},
        {"{\"version\": 1, \"canisters\": [{\"canister_id\": \"aaaaa-aa\", "
         "\"status_before\": \"Running\", \"stopped_by_us\": true, "
         "\"restarted\": false}]}", "json-schema", "canisters[0].status_before"},
        {"{\"version\": 1, \"canisters\": [{\"canister_id\": \"aaaaa-aa\", "
         "\"restarted\": false}]}", "json-schema", "canisters[0].stopped_by_us"},
        {"{\"version\": 1, \"canisters\": [{\"canister_id\": \"aaaaa-aa\", "
         "\"stopped_by_us\": true, \"restarted\": false, "
         "\"snapshots_before_create\": [1]}]}", "json-schema",
         "canisters[0].snapshots_before_create[0]"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sf_observations o;
        sf_error err;

        sf_error_clear(&err);
        assert_int_equal(sf_obs_parse(cases[i].text, strlen(cases[i].text), &o,
                                      &err), SF_ERR);
        assert_string_equal(err.kind, cases[i].kind);
        assert_string_equal(err.field, cases[i].field);
        assert_int_equal(o.count, 0);
    }
}

/* Locks, artifact paths and the layout checks over the simulated disk
 * (installed with sf_fs_set_storage): the same answers, nothing real. */
static void test_over_the_simulated_disk(void **state)
{
    sf_integrity_report rep;
    sf_simdisk *d = NULL;
    sf_lock a = SF_LOCK_INIT, b = SF_LOCK_INIT;
    char *p = NULL;
    sf_error err;

    (void)state;
    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    sf_fs_set_storage(sf_simdisk_storage(d));
    assert_int_equal(sf_lock_acquire_named("/sim/run", "restore directory", &a,
                                           &err), SF_OK);
    assert_int_equal(sf_lock_acquire("/sim/run", &b, &err), SF_ERR);
    assert_string_equal(err.kind, "journal-locked");
    assert_non_null(strstr(err.message, "backup directory is locked by "
                           "another running snapfleet: /sim/run/"
                           SF_LOCK_FILE_NAME));
    assert_int_equal(b.fd, -1);
    sf_lock_release(&a);
    assert_int_equal(sf_lock_acquire("/sim/run", &b, &err), SF_OK);
    sf_lock_release(&b);
    sf_lock_release(&b);
    /* a directory where the lock file belongs */
    assert_int_equal(sf_fs_mkdir_p("/sim/odd/" SF_LOCK_FILE_NAME, &err), SF_OK);
    assert_int_equal(sf_lock_acquire("/sim/odd", &a, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    assert_int_equal(sf_resolve_artifact_path("/sim/run", "a/b", &p, &err),
                     SF_OK);
    assert_string_equal(p, "/sim/run/a/b");
    free(p);
    /* a plan and no manifest: a dry run's layout */
    assert_int_equal(sf_fs_write_atomic("/sim/run/" SF_PLAN_FILE_NAME, "{}", 2,
                                        &err), SF_OK);
    assert_int_equal(sf_verify_integrity("/sim/run", &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "dry-run-not-complete");
    /* a manifest that is not one names its file */
    assert_int_equal(sf_fs_write_atomic("/sim/run/" SF_MANIFEST_FILE_NAME, "{}",
                                        2, &err), SF_OK);
    assert_int_equal(sf_verify_integrity("/sim/run", &rep, &err), SF_ERR);
    assert_non_null(strstr(err.message, "/sim/run/" SF_MANIFEST_FILE_NAME));
    sf_fs_set_storage(NULL);
    assert_int_equal(access("/sim", F_OK), -1);
    sf_simdisk_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fresh_backup_verifies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checksums_from_the_caller, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_id_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_topology_receipt_missing_or_different, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unexpected_journal_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_journal_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_non_durable_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_artifact_path_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manifest_journal_checksum_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_escaping_the_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_changed_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_artifact_behind_a_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_symlink_inside_an_artifact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_documents_name_the_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run_layout_is_not_a_backup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_excludes_a_second_holder, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_on_a_file_is_io, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resolve_artifact_path, setup, teardown),
        cmocka_unit_test_setup_teardown(test_path_join, setup, teardown),
        cmocka_unit_test(test_over_the_simulated_disk),
        cmocka_unit_test_setup_teardown(test_observations_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observations_missing_file_is_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_observations_refusals, setup, teardown),
    };
    return cmocka_run_group_tests_name("layout", tests, NULL, NULL);
}
