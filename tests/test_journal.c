/* The download journal: reading, canic's validation rules and their order,
 * the state machine, the resume report, writing and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfleet/fs.h"
#include "snapfleet/journal.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define HASH "25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769"
#define CKS1 "e25f06e07b6815cc3e23d409f84b71affebc05dbfb5f81f55634c6bea5976c87"
#define CKS2 "e4d330f138b8f1b3044e84b5dcbe4fd1cb7e043d0c20810c083d791b6de01266"

/* ---- helpers ---- */

static char *data_path(const char *rel)
{
    const char *dir = getenv("SF_TEST_DATA");
    char *p;

    assert_non_null(dir);
    p = malloc(strlen(dir) + strlen(rel) + 2);
    assert_non_null(p);
    sprintf(p, "%s/%s", dir, rel);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_fs_read_file(path, (size_t)64 << 20, &text, len, &err) != SF_OK)
        fail_msg("cannot read %s: %s", path, err.message);
    return text;
}

static char *slurp_data(const char *rel, size_t *len)
{
    char *p = data_path(rel);
    char *text = slurp(p, len);

    free(p);
    return text;
}

static char *xstrdup(const char *s)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = strdup(s);
    assert_non_null(d);
    return d;
}

static void set_str(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup(value);
}

static void fill_artifact(sf_journal_artifact *a, const char *cid,
                          const char *snap, sf_artifact_state st,
                          const char *temp, const char *cks, const char *at)
{
    memset(a, 0, sizeof *a);
    a->canister_id = xstrdup(cid);
    a->snapshot_id = xstrdup(snap);
    a->state = st;
    a->temp_path = xstrdup(temp);
    a->artifact_path = xstrdup(cid);
    a->checksum_algorithm = xstrdup("sha256");
    a->checksum = xstrdup(cks);
    a->updated_at = xstrdup(at);
}

/* A valid journal: ROOT Durable, APP Downloaded, WORKER Created. */
static void make_journal(sf_download_journal *j)
{
    sf_download_journal_init(j);
    j->backup_id = xstrdup("fleet-demo-20260514-120000");
    j->discovery_topology_hash = xstrdup(HASH);
    j->pre_snapshot_topology_hash = xstrdup(HASH);
    j->operation_metrics.target_count = 3;
    j->artifacts = calloc(3, sizeof *j->artifacts);
    assert_non_null(j->artifacts);
    j->artifact_count = 3;
    fill_artifact(&j->artifacts[0], ROOT, "snap-root", SF_ARTIFACT_DURABLE,
                  NULL, CKS1, "unix:1778709690");
    fill_artifact(&j->artifacts[1], APP, "snap-app", SF_ARTIFACT_DOWNLOADED,
                  "backups/x/" APP ".tmp", NULL, "unix:1778709691");
    fill_artifact(&j->artifacts[2], WORKER, "snap-worker",
                  SF_ARTIFACT_CREATED, NULL, NULL, "unix:1778709692");
}

static void expect_invalid(const sf_download_journal *j, const char *kind,
                           const char *field, const char *message)
{
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_validate(j, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, kind);
    assert_string_equal(err.field, field);
    if (message != NULL)
        assert_string_equal(err.message, message);
}

static void expect_valid(const sf_download_journal *j)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_download_journal_validate(j, &err) != SF_OK)
        fail_msg("unexpected %s at %s: %s", err.kind, err.field, err.message);
}

static void expect_parse_error(const char *text, const char *kind,
                               const char *field)
{
    sf_download_journal j;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, kind);
    if (field != NULL)
        assert_string_equal(err.field, field);
    /* a failed parse leaves nothing to free */
    assert_null(j.backup_id);
    assert_null(j.artifacts);
    assert_int_equal(j.artifact_count, 0);
}

/* A minimal valid document with `extra` spliced in after backup_id and the
 * artifact given. */
static char *doc(const char *extra, const char *artifact)
{
    static const char fmt[] =
        "{\"journal_version\": 1, \"backup_id\": \"b\"%s, \"artifacts\": [%s]}";
    size_t n = sizeof fmt + strlen(extra) + strlen(artifact);
    char *s = malloc(n);

    assert_non_null(s);
    snprintf(s, n, fmt, extra, artifact);
    return s;
}

#define ART_OK                                                              \
    "{\"canister_id\": \"" ROOT "\", \"snapshot_id\": \"s\", \"state\": "   \
    "\"Created\", \"temp_path\": null, \"artifact_path\": \"" ROOT "\", "   \
    "\"checksum_algorithm\": \"sha256\", \"checksum\": null, "              \
    "\"updated_at\": \"unix:1\"}"

/* ---- states and actions ---- */

static void test_state_and_action_names(void **state)
{
    (void)state;
    assert_string_equal(sf_artifact_state_name(SF_ARTIFACT_CREATED), "Created");
    assert_string_equal(sf_artifact_state_name(SF_ARTIFACT_DOWNLOADED),
                        "Downloaded");
    assert_string_equal(sf_artifact_state_name(SF_ARTIFACT_CHECKSUM_VERIFIED),
                        "ChecksumVerified");
    assert_string_equal(sf_artifact_state_name(SF_ARTIFACT_DURABLE), "Durable");
    assert_null(sf_artifact_state_name((sf_artifact_state)4));
    assert_string_equal(sf_resume_action_name(SF_RESUME_DOWNLOAD), "Download");
    assert_string_equal(sf_resume_action_name(SF_RESUME_VERIFY_CHECKSUM),
                        "VerifyChecksum");
    assert_string_equal(sf_resume_action_name(SF_RESUME_FINALIZE), "Finalize");
    assert_string_equal(sf_resume_action_name(SF_RESUME_SKIP), "Skip");
    assert_null(sf_resume_action_name((sf_resume_action)4));
}

static void test_resume_action_per_state(void **state)
{
    (void)state;
    assert_int_equal(sf_artifact_resume_action(SF_ARTIFACT_CREATED),
                     SF_RESUME_DOWNLOAD);
    assert_int_equal(sf_artifact_resume_action(SF_ARTIFACT_DOWNLOADED),
                     SF_RESUME_VERIFY_CHECKSUM);
    assert_int_equal(sf_artifact_resume_action(SF_ARTIFACT_CHECKSUM_VERIFIED),
                     SF_RESUME_FINALIZE);
    assert_int_equal(sf_artifact_resume_action(SF_ARTIFACT_DURABLE),
                     SF_RESUME_SKIP);
}

static void test_transitions_every_pair(void **state)
{
    static const char *const names[] = {"Created", "Downloaded",
                                        "ChecksumVerified", "Durable"};
    int from, to;

    (void)state;
    for (from = 0; from < 4; from++) {
        for (to = 0; to < 4; to++) {
            sf_journal_artifact a;
            sf_error err;
            int rc;

            fill_artifact(&a, ROOT, "s", (sf_artifact_state)from, NULL, NULL,
                          "unix:1");
            sf_error_clear(&err);
            assert_int_equal(sf_artifact_state_can_advance(
                                 (sf_artifact_state)from, (sf_artifact_state)to),
                             from <= to);
            rc = sf_artifact_advance_to(&a, (sf_artifact_state)to, "unix:2",
                                        &err);
            if (from <= to) {
                assert_int_equal(rc, SF_OK);
                assert_int_equal(a.state, to);
                assert_string_equal(a.updated_at, "unix:2");
            } else {
                char msg[128];

                assert_int_equal(rc, SF_ERR);
                assert_string_equal(err.kind, "invalid-state-transition");
                snprintf(msg, sizeof msg,
                         "invalid journal transition from %s to %s",
                         names[from], names[to]);
                assert_string_equal(err.message, msg);
                /* a refused transition changes nothing */
                assert_int_equal(a.state, from);
                assert_string_equal(a.updated_at, "unix:1");
            }
            sf_journal_artifact_free(&a);
        }
    }
}

static void test_durable_to_downloaded_refused(void **state)
{
    sf_journal_artifact a;
    sf_error err;

    (void)state;
    fill_artifact(&a, ROOT, "s", SF_ARTIFACT_DURABLE, NULL, CKS1, "unix:1");
    sf_error_clear(&err);
    assert_int_equal(
        sf_artifact_advance_to(&a, SF_ARTIFACT_DOWNLOADED, "unix:2", &err),
        SF_ERR);
    assert_string_equal(err.kind, "invalid-state-transition");
    assert_string_equal(err.message,
                        "invalid journal transition from Durable to Downloaded");
    assert_int_equal(a.state, SF_ARTIFACT_DURABLE);
    sf_journal_artifact_free(&a);
}

static void test_advance_needs_updated_at(void **state)
{
    sf_journal_artifact a;
    sf_error err;

    (void)state;
    fill_artifact(&a, ROOT, "s", SF_ARTIFACT_CREATED, NULL, NULL, "unix:1");
    sf_error_clear(&err);
    assert_int_equal(
        sf_artifact_advance_to(&a, SF_ARTIFACT_DOWNLOADED, NULL, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(a.state, SF_ARTIFACT_CREATED);
    sf_journal_artifact_free(&a);
}

/* ---- validation: one case per rule ---- */

static void test_valid_journal(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_rule_version(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    j.journal_version = 2;
    expect_invalid(&j, "unsupported-journal-version", "journal_version",
                   "unsupported journal version 2");
    j.journal_version = 0;
    expect_invalid(&j, "unsupported-journal-version", "journal_version",
                   "unsupported journal version 0");
    sf_download_journal_free(&j);
}

static void test_rule_backup_id(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.backup_id, "");
    expect_invalid(&j, "empty-field", "backup_id",
                   "field backup_id must not be empty");
    set_str(&j.backup_id, " \t\n\xe3\x80\x80"); /* U+3000 is Rust white space */
    expect_invalid(&j, "empty-field", "backup_id", NULL);
    set_str(&j.backup_id, NULL);
    expect_invalid(&j, "empty-field", "backup_id", NULL);
    set_str(&j.backup_id, " x ");
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_rule_topology_hashes(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.discovery_topology_hash, "   ");
    expect_invalid(&j, "empty-field", "discovery_topology_hash",
                   "field discovery_topology_hash must not be empty");
    set_str(&j.discovery_topology_hash, "abc");
    expect_invalid(&j, "invalid-hash", "discovery_topology_hash",
                   "field discovery_topology_hash must be a non-empty sha256 "
                   "hex string");
    set_str(&j.discovery_topology_hash, NULL); /* optional */
    expect_valid(&j);
    set_str(&j.pre_snapshot_topology_hash, "");
    expect_invalid(&j, "empty-field", "pre_snapshot_topology_hash",
                   "field pre_snapshot_topology_hash must not be empty");
    set_str(&j.pre_snapshot_topology_hash, HASH "0");
    expect_invalid(&j, "invalid-hash", "pre_snapshot_topology_hash",
                   "field pre_snapshot_topology_hash must be a non-empty "
                   "sha256 hex string");
    set_str(&j.pre_snapshot_topology_hash,
            "25E8F03A5FD9145C3952E3BD1F3751768FA802D884F4BC6F80B62F4EBF0EF769");
    expect_valid(&j); /* upper-case hex is accepted */
    sf_download_journal_free(&j);
}

static void test_rule_artifacts_empty(void **state)
{
    sf_download_journal j;

    (void)state;
    sf_download_journal_init(&j);
    j.backup_id = xstrdup("b");
    expect_invalid(&j, "empty-collection", "artifacts",
                   "collection artifacts must not be empty");
    sf_download_journal_free(&j);
}

static void test_rule_canister_id(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.artifacts[1].canister_id, " ");
    expect_invalid(&j, "empty-field", "artifacts[1].canister_id",
                   "field artifacts[].canister_id must not be empty");
    set_str(&j.artifacts[1].canister_id, "aaaaaaa");
    expect_invalid(&j, "invalid-principal", "artifacts[1].canister_id",
                   "field artifacts[].canister_id must be a valid principal: "
                   "aaaaaaa");
    /* validation never rewrites: upper case is a valid principal */
    set_str(&j.artifacts[1].canister_id, "AAAAA-AA");
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_rule_required_texts(void **state)
{
    static const struct {
        size_t offset;
        const char *name;
    } texts[] = {
        {offsetof(sf_journal_artifact, snapshot_id), "snapshot_id"},
        {offsetof(sf_journal_artifact, artifact_path), "artifact_path"},
        {offsetof(sf_journal_artifact, checksum_algorithm),
         "checksum_algorithm"},
        {offsetof(sf_journal_artifact, updated_at), "updated_at"},
    };
    size_t k;

    (void)state;
    for (k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        sf_download_journal j;
        char field[64], msg[128];
        char **slot;

        make_journal(&j);
        slot = (char **)((char *)&j.artifacts[2] + texts[k].offset);
        snprintf(field, sizeof field, "artifacts[2].%s", texts[k].name);
        snprintf(msg, sizeof msg, "field artifacts[].%s must not be empty",
                 texts[k].name);
        set_str(slot, "");
        expect_invalid(&j, "empty-field", field, msg);
        set_str(slot, "\t \r");
        expect_invalid(&j, "empty-field", field, msg);
        sf_download_journal_free(&j);
    }
}

static void test_rule_checksum_algorithm(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.artifacts[0].checksum_algorithm, "sha512");
    expect_invalid(&j, "unsupported-hash-algorithm",
                   "artifacts[0].checksum_algorithm",
                   "unsupported hash algorithm sha512");
    set_str(&j.artifacts[0].checksum_algorithm, "SHA256"); /* exact match */
    expect_invalid(&j, "unsupported-hash-algorithm",
                   "artifacts[0].checksum_algorithm",
                   "unsupported hash algorithm SHA256");
    sf_download_journal_free(&j);
}

static void test_rule_temp_path(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.artifacts[1].temp_path, NULL); /* Downloaded */
    expect_invalid(&j, "empty-field", "artifacts[1].temp_path",
                   "field artifacts[].temp_path must not be empty");
    set_str(&j.artifacts[1].temp_path, " ");
    expect_invalid(&j, "empty-field", "artifacts[1].temp_path", NULL);
    /* ChecksumVerified needs it too */
    j.artifacts[1].state = SF_ARTIFACT_CHECKSUM_VERIFIED;
    set_str(&j.artifacts[1].checksum, CKS2);
    set_str(&j.artifacts[1].temp_path, NULL);
    expect_invalid(&j, "empty-field", "artifacts[1].temp_path", NULL);
    set_str(&j.artifacts[1].temp_path, "t.tmp");
    expect_valid(&j);
    /* not checked for Created and Durable (0.35.10) */
    set_str(&j.artifacts[0].temp_path, "left-behind.tmp");
    set_str(&j.artifacts[2].temp_path, "left-behind.tmp");
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_rule_checksum(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    /* Durable needs a checksum */
    set_str(&j.artifacts[0].checksum, NULL);
    expect_invalid(&j, "empty-field", "artifacts[0].checksum",
                   "field artifacts[].checksum must not be empty");
    set_str(&j.artifacts[0].checksum, "");
    expect_invalid(&j, "empty-field", "artifacts[0].checksum", NULL);
    set_str(&j.artifacts[0].checksum, "xyz");
    expect_invalid(&j, "invalid-hash", "artifacts[0].checksum",
                   "field artifacts[].checksum must be a non-empty sha256 hex "
                   "string");
    set_str(&j.artifacts[0].checksum, CKS1);
    /* ChecksumVerified too */
    j.artifacts[1].state = SF_ARTIFACT_CHECKSUM_VERIFIED;
    expect_invalid(&j, "empty-field", "artifacts[1].checksum", NULL);
    set_str(&j.artifacts[1].checksum, CKS2);
    expect_valid(&j);
    /* not checked for Created and Downloaded */
    j.artifacts[1].state = SF_ARTIFACT_DOWNLOADED;
    set_str(&j.artifacts[1].checksum, "not a hash");
    set_str(&j.artifacts[2].checksum, "");
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_rule_duplicate(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    set_str(&j.artifacts[2].canister_id, APP);
    set_str(&j.artifacts[2].snapshot_id, "snap-app");
    expect_invalid(&j, "duplicate-artifact", "artifacts[2]",
                   "duplicate artifact entry for canister " APP
                   " snapshot snap-app");
    /* same canister, other snapshot: fine */
    set_str(&j.artifacts[2].snapshot_id, "snap-app-2");
    expect_valid(&j);
    /* comparison is exact bytes */
    set_str(&j.artifacts[2].snapshot_id, "SNAP-APP");
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_metrics_not_checked(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    j.operation_metrics.target_count = 0;
    j.operation_metrics.artifact_finalize_completed = 99;
    expect_valid(&j);
    sf_download_journal_free(&j);
}

/* ---- validation order ---- */

static void test_order_top_level(void **state)
{
    sf_download_journal j;

    (void)state;
    make_journal(&j);
    j.journal_version = 7;
    set_str(&j.backup_id, "");
    expect_invalid(&j, "unsupported-journal-version", "journal_version", NULL);
    j.journal_version = 1;
    set_str(&j.discovery_topology_hash, "x");
    expect_invalid(&j, "empty-field", "backup_id", NULL);
    set_str(&j.backup_id, "b");
    set_str(&j.pre_snapshot_topology_hash, "y");
    expect_invalid(&j, "invalid-hash", "discovery_topology_hash", NULL);
    set_str(&j.discovery_topology_hash, HASH);
    expect_invalid(&j, "invalid-hash", "pre_snapshot_topology_hash", NULL);
    set_str(&j.pre_snapshot_topology_hash, HASH);
    sf_download_journal_free(&j);

    /* hashes before the empty collection */
    sf_download_journal_init(&j);
    j.backup_id = xstrdup("b");
    j.pre_snapshot_topology_hash = xstrdup("nothex");
    expect_invalid(&j, "invalid-hash", "pre_snapshot_topology_hash", NULL);
    sf_download_journal_free(&j);
}

static void test_order_within_artifact(void **state)
{
    sf_download_journal j;
    sf_journal_artifact *a;

    (void)state;
    make_journal(&j);
    a = &j.artifacts[0]; /* Durable */
    set_str(&a->canister_id, "bad");
    set_str(&a->snapshot_id, "");
    set_str(&a->artifact_path, "");
    set_str(&a->checksum_algorithm, "md5");
    set_str(&a->updated_at, "");
    set_str(&a->checksum, NULL);
    expect_invalid(&j, "invalid-principal", "artifacts[0].canister_id", NULL);
    set_str(&a->canister_id, ROOT);
    expect_invalid(&j, "empty-field", "artifacts[0].snapshot_id", NULL);
    set_str(&a->snapshot_id, "s");
    expect_invalid(&j, "empty-field", "artifacts[0].artifact_path", NULL);
    set_str(&a->artifact_path, ROOT);
    /* blank updated_at comes before the unsupported (non-blank) algorithm */
    expect_invalid(&j, "empty-field", "artifacts[0].updated_at", NULL);
    set_str(&a->updated_at, "unix:1");
    expect_invalid(&j, "unsupported-hash-algorithm",
                   "artifacts[0].checksum_algorithm", NULL);
    set_str(&a->checksum_algorithm, "sha256");
    expect_invalid(&j, "empty-field", "artifacts[0].checksum", NULL);
    set_str(&a->checksum, CKS1);
    expect_valid(&j);

    /* a blank algorithm is empty-field, before updated_at */
    set_str(&a->checksum_algorithm, "");
    set_str(&a->updated_at, "");
    expect_invalid(&j, "empty-field", "artifacts[0].checksum_algorithm", NULL);
    set_str(&a->checksum_algorithm, "sha256");
    set_str(&a->updated_at, "unix:1");

    /* temp_path before checksum for ChecksumVerified */
    a = &j.artifacts[1];
    a->state = SF_ARTIFACT_CHECKSUM_VERIFIED;
    set_str(&a->temp_path, NULL);
    set_str(&a->checksum, NULL);
    expect_invalid(&j, "empty-field", "artifacts[1].temp_path", NULL);
    sf_download_journal_free(&j);
}

static void test_order_across_artifacts(void **state)
{
    sf_download_journal j;

    (void)state;
    /* the first failing entry wins */
    make_journal(&j);
    set_str(&j.artifacts[1].snapshot_id, "");
    set_str(&j.artifacts[2].canister_id, "bad");
    expect_invalid(&j, "empty-field", "artifacts[1].snapshot_id", NULL);
    sf_download_journal_free(&j);

    /* a duplicate is found when the loop reaches it: [A, A, broken] ... */
    make_journal(&j);
    set_str(&j.artifacts[1].canister_id, ROOT);
    set_str(&j.artifacts[1].snapshot_id, "snap-root");
    set_str(&j.artifacts[2].canister_id, "bad");
    expect_invalid(&j, "duplicate-artifact", "artifacts[1]", NULL);
    sf_download_journal_free(&j);

    /* ... while [A, broken, A] reports the broken entry first */
    make_journal(&j);
    set_str(&j.artifacts[1].canister_id, "bad");
    set_str(&j.artifacts[2].canister_id, ROOT);
    set_str(&j.artifacts[2].snapshot_id, "snap-root");
    expect_invalid(&j, "invalid-principal", "artifacts[1].canister_id", NULL);
    sf_download_journal_free(&j);

    /* an entry's own rules come before its duplicate check */
    make_journal(&j);
    set_str(&j.artifacts[2].canister_id, APP);
    set_str(&j.artifacts[2].snapshot_id, "snap-app");
    set_str(&j.artifacts[2].updated_at, "");
    expect_invalid(&j, "empty-field", "artifacts[2].updated_at", NULL);
    sf_download_journal_free(&j);
}

/* ---- parsing ---- */

static void test_parse_valid_file(void **state)
{
    sf_download_journal j;
    sf_error err;
    size_t len;
    char *text = slurp_data("journals/valid-three-states.json", &len);

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, len, &j, &err), SF_OK);
    assert_int_equal(j.journal_version, 1);
    assert_string_equal(j.backup_id, "fleet-demo-20260514-120000");
    assert_string_equal(j.discovery_topology_hash, HASH);
    assert_string_equal(j.pre_snapshot_topology_hash, HASH);
    assert_int_equal(j.operation_metrics.target_count, 3);
    assert_int_equal(j.operation_metrics.snapshot_download_started, 2);
    assert_int_equal(j.operation_metrics.artifact_finalize_completed, 1);
    assert_int_equal(j.artifact_count, 3);
    assert_string_equal(j.artifacts[0].canister_id, ROOT);
    assert_int_equal(j.artifacts[0].state, SF_ARTIFACT_DURABLE);
    assert_null(j.artifacts[0].temp_path);
    assert_string_equal(j.artifacts[0].checksum, CKS1);
    assert_int_equal(j.artifacts[1].state, SF_ARTIFACT_DOWNLOADED);
    assert_string_equal(j.artifacts[1].temp_path, "backups/x/" APP ".tmp");
    assert_null(j.artifacts[1].checksum);
    assert_int_equal(j.artifacts[2].state, SF_ARTIFACT_CREATED);
    assert_string_equal(j.artifacts[2].updated_at, "unix:1778709692");
    expect_valid(&j);
    sf_download_journal_free(&j);
    free(text);
}

static void test_parse_metrics_default(void **state)
{
    sf_download_journal j;
    sf_error err;
    char *text = doc("", ART_OK);

    (void)state;
    memset(&j, 0xAB, sizeof j); /* parse must not depend on *out */
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_OK);
    assert_int_equal(j.operation_metrics.target_count, 0);
    assert_int_equal(j.operation_metrics.snapshot_create_started, 0);
    assert_int_equal(j.operation_metrics.artifact_finalize_completed, 0);
    assert_null(j.discovery_topology_hash);
    assert_null(j.pre_snapshot_topology_hash);
    expect_valid(&j);
    sf_download_journal_free(&j);
    free(text);
}

static void test_parse_metrics_all_required(void **state)
{
    static const char *const keys[] = {
        "target_count",              "snapshot_create_started",
        "snapshot_create_completed", "snapshot_download_started",
        "snapshot_download_completed", "checksum_verify_started",
        "checksum_verify_completed", "artifact_finalize_started",
        "artifact_finalize_completed"};
    size_t k, i;

    (void)state;
    for (k = 0; k < 9; k++) {
        char metrics[1024], field[96];
        char *text;
        size_t used;
        int first;

        used = (size_t)snprintf(metrics, sizeof metrics,
                                ", \"operation_metrics\": {");
        for (i = 0, first = 1; i < 9; i++) {
            if (i == k)
                continue;
            used += (size_t)snprintf(metrics + used, sizeof metrics - used,
                                     "%s\"%s\": %zu", first ? "" : ", ",
                                     keys[i], i);
            first = 0;
        }
        snprintf(metrics + used, sizeof metrics - used, "}");
        text = doc(metrics, ART_OK);
        snprintf(field, sizeof field, "operation_metrics.%s", keys[k]);
        expect_parse_error(text, "json-schema", field);
        free(text);
    }
}

static void test_parse_metrics_values(void **state)
{
    sf_download_journal j;
    sf_error err;
    char *text;

    (void)state;
    text = doc(", \"operation_metrics\": {\"target_count\": 18446744073709551615,"
               " \"snapshot_create_started\": 1, \"snapshot_create_completed\": 2,"
               " \"snapshot_download_started\": 3,"
               " \"snapshot_download_completed\": 4,"
               " \"checksum_verify_started\": 5, \"checksum_verify_completed\": 6,"
               " \"artifact_finalize_started\": 7,"
               " \"artifact_finalize_completed\": 8}",
               ART_OK);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_OK);
    assert_true(j.operation_metrics.target_count == UINT64_MAX);
    assert_int_equal(j.operation_metrics.snapshot_create_started, 1);
    assert_int_equal(j.operation_metrics.snapshot_download_completed, 4);
    assert_int_equal(j.operation_metrics.artifact_finalize_completed, 8);
    sf_download_journal_free(&j);
    free(text);

    text = doc(", \"operation_metrics\": null", ART_OK);
    expect_parse_error(text, "json-schema", "operation_metrics");
    free(text);
    text = doc(", \"operation_metrics\": []", ART_OK);
    expect_parse_error(text, "json-schema", "operation_metrics");
    free(text);
}

static void test_parse_hash_null_and_absent(void **state)
{
    sf_download_journal j;
    sf_error err;
    char *text;

    (void)state;
    text = doc(", \"discovery_topology_hash\": null, "
               "\"pre_snapshot_topology_hash\": \"" HASH "\"",
               ART_OK);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_OK);
    assert_null(j.discovery_topology_hash);
    assert_string_equal(j.pre_snapshot_topology_hash, HASH);
    sf_download_journal_free(&j);
    free(text);
    text = doc(", \"discovery_topology_hash\": 5", ART_OK);
    expect_parse_error(text, "json-schema", "discovery_topology_hash");
    free(text);
}

static void test_parse_state_spelling(void **state)
{
    static const char *const bad[] = {"durable", "DURABLE", "checksum_verified",
                                      "Checksumverified", ""};
    size_t k;

    (void)state;
    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char art[512], *text;

        snprintf(art, sizeof art,
                 "{\"canister_id\": \"" ROOT "\", \"snapshot_id\": \"s\", "
                 "\"state\": \"%s\", \"temp_path\": null, \"artifact_path\": "
                 "\"p\", \"checksum_algorithm\": \"sha256\", \"checksum\": "
                 "null, \"updated_at\": \"u\"}",
                 bad[k]);
        text = doc("", art);
        expect_parse_error(text, "json-schema", "artifacts[0].state");
        free(text);
    }
}

static void test_parse_schema_errors(void **state)
{
    char *text;

    (void)state;
    expect_parse_error("[]", "json-schema", "");
    expect_parse_error("{\"backup_id\": \"b\", \"artifacts\": []}",
                       "json-schema", "journal_version");
    expect_parse_error("{\"journal_version\": 1, \"artifacts\": []}",
                       "json-schema", "backup_id");
    expect_parse_error("{\"journal_version\": 1, \"backup_id\": \"b\"}",
                       "json-schema", "artifacts");
    expect_parse_error(
        "{\"journal_version\": 65536, \"backup_id\": \"b\", \"artifacts\": []}",
        "json-schema", "journal_version");
    expect_parse_error(
        "{\"journal_version\": -1, \"backup_id\": \"b\", \"artifacts\": []}",
        "json-schema", "journal_version");
    expect_parse_error(
        "{\"journal_version\": 1.0, \"backup_id\": \"b\", \"artifacts\": []}",
        "json-schema", "journal_version");
    expect_parse_error(
        "{\"journal_version\": 1, \"backup_id\": null, \"artifacts\": []}",
        "json-schema", "backup_id");
    expect_parse_error(
        "{\"journal_version\": 1, \"backup_id\": \"b\", \"artifacts\": {}}",
        "json-schema", "artifacts");
    text = doc("", "5");
    expect_parse_error(text, "json-schema", "artifacts[0]");
    free(text);
    text = doc("", ART_OK ", {\"canister_id\": \"" ROOT "\"}");
    expect_parse_error(text, "json-schema", "artifacts[1].snapshot_id");
    free(text);
    text = doc("", "{\"canister_id\": \"" ROOT "\", \"snapshot_id\": \"s\", "
                   "\"state\": \"Created\", \"temp_path\": 1, "
                   "\"artifact_path\": \"p\", \"checksum_algorithm\": "
                   "\"sha256\", \"checksum\": null, \"updated_at\": \"u\"}");
    expect_parse_error(text, "json-schema", "artifacts[0].temp_path");
    free(text);
    /* a missing optional reads as null, a missing required does not */
    text = doc("", "{\"canister_id\": \"" ROOT "\", \"snapshot_id\": \"s\", "
                   "\"state\": \"Created\", \"artifact_path\": \"p\", "
                   "\"checksum_algorithm\": \"sha256\", \"updated_at\": \"u\"}");
    {
        sf_download_journal j;
        sf_error err;

        sf_error_clear(&err);
        assert_int_equal(
            sf_download_journal_parse(text, strlen(text), &j, &err), SF_OK);
        assert_null(j.artifacts[0].temp_path);
        assert_null(j.artifacts[0].checksum);
        sf_download_journal_free(&j);
    }
    free(text);
}

static void test_parse_syntax_errors(void **state)
{
    (void)state;
    expect_parse_error("", "json-syntax", NULL);
    expect_parse_error("{\"journal_version\": 1,}", "json-syntax", NULL);
    expect_parse_error("{\"journal_version\": 01}", "json-syntax", NULL);
}

static void test_parse_duplicate_key_refused(void **state)
{
    sf_download_journal j;
    sf_error err;
    const char *text = "{\"journal_version\": 1, \"backup_id\": \"a\", "
                       "\"backup_id\": \"b\", \"artifacts\": [" ART_OK "]}";

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_ERR);
    assert_non_null(err.kind);
}

static void test_parse_unknown_keys_ignored(void **state)
{
    sf_download_journal j;
    sf_error err;
    char *text = doc(", \"future\": {\"nested\": [1, 2, 3]}", ART_OK);

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, strlen(text), &j, &err),
                     SF_OK);
    assert_int_equal(j.artifact_count, 1);
    sf_download_journal_free(&j);
    free(text);
}

/* ---- writing ---- */

static const char expected_two[] =
    "{\n"
    "  \"journal_version\": 1,\n"
    "  \"backup_id\": \"b\\\"1\",\n"
    "  \"discovery_topology_hash\": null,\n"
    "  \"pre_snapshot_topology_hash\": \"" HASH "\",\n"
    "  \"operation_metrics\": {\n"
    "    \"target_count\": 2,\n"
    "    \"snapshot_create_started\": 2,\n"
    "    \"snapshot_create_completed\": 2,\n"
    "    \"snapshot_download_started\": 1,\n"
    "    \"snapshot_download_completed\": 1,\n"
    "    \"checksum_verify_started\": 1,\n"
    "    \"checksum_verify_completed\": 1,\n"
    "    \"artifact_finalize_started\": 0,\n"
    "    \"artifact_finalize_completed\": 0\n"
    "  },\n"
    "  \"artifacts\": [\n"
    "    {\n"
    "      \"canister_id\": \"" ROOT "\",\n"
    "      \"snapshot_id\": \"snap-root\",\n"
    "      \"state\": \"ChecksumVerified\",\n"
    "      \"temp_path\": \"out/" ROOT ".tmp\",\n"
    "      \"artifact_path\": \"" ROOT "\",\n"
    "      \"checksum_algorithm\": \"sha256\",\n"
    "      \"checksum\": \"" CKS1 "\",\n"
    "      \"updated_at\": \"unix:5\"\n"
    "    },\n"
    "    {\n"
    "      \"canister_id\": \"" APP "\",\n"
    "      \"snapshot_id\": \"snap-app\",\n"
    "      \"state\": \"Created\",\n"
    "      \"temp_path\": null,\n"
    "      \"artifact_path\": \"" APP "\",\n"
    "      \"checksum_algorithm\": \"sha256\",\n"
    "      \"checksum\": null,\n"
    "      \"updated_at\": \"unix:6\"\n"
    "    }\n"
    "  ]\n"
    "}";

static void make_two(sf_download_journal *j)
{
    sf_download_journal_init(j);
    j->backup_id = xstrdup("b\"1");
    j->pre_snapshot_topology_hash = xstrdup(HASH);
    j->operation_metrics.target_count = 2;
    j->operation_metrics.snapshot_create_started = 2;
    j->operation_metrics.snapshot_create_completed = 2;
    j->operation_metrics.snapshot_download_started = 1;
    j->operation_metrics.snapshot_download_completed = 1;
    j->operation_metrics.checksum_verify_started = 1;
    j->operation_metrics.checksum_verify_completed = 1;
    j->artifacts = calloc(2, sizeof *j->artifacts);
    assert_non_null(j->artifacts);
    j->artifact_count = 2;
    fill_artifact(&j->artifacts[0], ROOT, "snap-root",
                  SF_ARTIFACT_CHECKSUM_VERIFIED, "out/" ROOT ".tmp", CKS1,
                  "unix:5");
    fill_artifact(&j->artifacts[1], APP, "snap-app", SF_ARTIFACT_CREATED, NULL,
                  NULL, "unix:6");
}

static void test_write_exact_bytes(void **state)
{
    sf_download_journal j;
    sf_buf b;
    sf_error err;

    (void)state;
    make_two(&j);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_write_json(&j, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), expected_two);
    assert_int_equal(b.len, strlen(expected_two));
    sf_buf_free(&b);
    sf_download_journal_free(&j);
}

static void test_write_invalid_leaves_buffer(void **state)
{
    sf_download_journal j;
    sf_buf b;
    sf_error err;

    (void)state;
    make_two(&j);
    set_str(&j.artifacts[0].checksum, NULL);
    sf_buf_init(&b);
    sf_buf_puts(&b, "keep");
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_write_json(&j, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "empty-field");
    assert_string_equal(err.field, "artifacts[0].checksum");
    assert_string_equal(sf_buf_cstr(&b), "keep");
    sf_buf_free(&b);
    sf_download_journal_free(&j);
}

static void round_trip_text(const char *text, size_t len)
{
    sf_download_journal a, b;
    sf_buf w1, w2;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, len, &a, &err), SF_OK);
    sf_buf_init(&w1);
    sf_buf_init(&w2);
    assert_int_equal(sf_download_journal_write_json(&a, &w1, &err), SF_OK);
    assert_int_equal(sf_download_journal_parse(w1.data, w1.len, &b, &err),
                     SF_OK);
    assert_int_equal(sf_download_journal_write_json(&b, &w2, &err), SF_OK);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w1.len);
    sf_buf_free(&w1);
    sf_buf_free(&w2);
    sf_download_journal_free(&a);
    sf_download_journal_free(&b);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip_text(expected_two, strlen(expected_two));
}

static void test_canonical_file_bytes(void **state)
{
    sf_download_journal j;
    sf_buf b;
    sf_error err;
    size_t len;
    char *text = slurp_data("journals/valid-three-states.json", &len);

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_parse(text, len, &j, &err), SF_OK);
    sf_buf_init(&b);
    assert_int_equal(sf_download_journal_write_json(&j, &b, &err), SF_OK);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, text, len);
    sf_buf_free(&b);
    sf_download_journal_free(&j);
    free(text);
}

/* Every tests/data/journals/valid-*.json reads and round-trips; every
 * broken-<kind>--*.json fails with <kind>. */
static void test_sample_files(void **state)
{
    char *dirpath = data_path("journals");
    DIR *d = opendir(dirpath);
    struct dirent *e;
    size_t valid = 0, broken = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char *rel, kind[64];
        sf_download_journal j;
        sf_error err;
        size_t len, n;
        char *text;
        const char *end;

        if (strncmp(name, "valid-", 6) != 0 && strncmp(name, "broken-", 7) != 0)
            continue;
        rel = malloc(strlen(name) + 16);
        assert_non_null(rel);
        sprintf(rel, "journals/%s", name);
        {
            char *full = data_path(rel);
            sf_error_clear(&err);
            if (name[0] == 'v') {
                if (sf_download_journal_read_file(full, &j, &err) != SF_OK)
                    fail_msg("%s: %s %s", name, err.kind, err.message);
                sf_download_journal_free(&j);
                text = slurp(full, &len);
                round_trip_text(text, len);
                free(text);
                valid++;
            } else {
                end = strstr(name, "--");
                if (end == NULL)
                    end = strstr(name, ".json");
                assert_non_null(end);
                n = (size_t)(end - (name + 7));
                assert_true(n < sizeof kind);
                memcpy(kind, name + 7, n);
                kind[n] = '\0';
                if (sf_download_journal_read_file(full, &j, &err) == SF_OK)
                    fail_msg("%s was accepted", name);
                if (err.kind == NULL || strcmp(err.kind, kind) != 0)
                    fail_msg("%s: expected %s, got %s (%s)", name, kind,
                             err.kind ? err.kind : "(none)", err.message);
                assert_null(j.artifacts);
                broken++;
            }
            free(full);
        }
        free(rel);
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= 5);
    assert_true(broken >= 15);
}

static void test_files(void **state)
{
    char dir[] = "/tmp/sf-journal-XXXXXX";
    char path[256];
    sf_download_journal j, back;
    sf_error err;
    struct stat st;
    char *text;
    size_t len;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    make_two(&j);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_write_file(path, &j, &err), SF_OK);
    text = slurp(path, &len);
    assert_int_equal(len, strlen(expected_two));
    assert_memory_equal(text, expected_two, len);
    free(text);
    assert_int_equal(sf_download_journal_read_file(path, &back, &err), SF_OK);
    assert_string_equal(back.backup_id, "b\"1");
    assert_int_equal(back.artifact_count, 2);
    sf_download_journal_free(&back);
    unlink(path);

    /* an invalid journal writes nothing */
    j.journal_version = 3;
    assert_int_equal(sf_download_journal_write_file(path, &j, &err), SF_ERR);
    assert_string_equal(err.kind, "unsupported-journal-version");
    assert_int_equal(stat(path, &st), -1);
    sf_download_journal_free(&j);

    /* a missing file is an I/O error */
    assert_int_equal(sf_download_journal_read_file(path, &back, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    rmdir(dir);
}

/* ---- entries ---- */

static void test_find(void **state)
{
    sf_download_journal j;
    sf_journal_artifact extra;
    sf_error err;

    (void)state;
    make_journal(&j);
    assert_ptr_equal(sf_download_journal_find(&j, APP, "snap-app"),
                     &j.artifacts[1]);
    assert_null(sf_download_journal_find(&j, APP, "snap-root"));
    assert_null(sf_download_journal_find(&j, "AAAAA-AA", "snap-root"));
    assert_ptr_equal(sf_download_journal_find_canister(&j, WORKER),
                     &j.artifacts[2]);
    assert_null(sf_download_journal_find_canister(&j, "nobody"));
    /* a retaken snapshot: the latest entry wins */
    fill_artifact(&extra, WORKER, "snap-worker-2", SF_ARTIFACT_CREATED, NULL,
                  NULL, "unix:9");
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_append(&j, &extra, &err), SF_OK);
    assert_int_equal(j.artifact_count, 4);
    assert_ptr_equal(sf_download_journal_find_canister(&j, WORKER),
                     &j.artifacts[3]);
    assert_string_equal(j.artifacts[3].snapshot_id, "snap-worker-2");
    /* the appended entry is a copy */
    assert_ptr_not_equal(j.artifacts[3].snapshot_id, extra.snapshot_id);
    sf_journal_artifact_free(&extra);
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_append_to_empty(void **state)
{
    sf_download_journal j;
    sf_journal_artifact a;
    sf_error err;

    (void)state;
    sf_download_journal_init(&j);
    assert_int_equal(j.journal_version, 1);
    j.backup_id = xstrdup("b");
    fill_artifact(&a, ROOT, "s", SF_ARTIFACT_CREATED, NULL, NULL, "unix:1");
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
    assert_int_equal(j.artifact_count, 1);
    expect_valid(&j);
    sf_journal_artifact_free(&a);
    sf_download_journal_free(&j);
}

static void test_upsert(void **state)
{
    sf_download_journal j;
    sf_journal_artifact a;
    sf_error err;

    (void)state;
    make_journal(&j);
    /* forward: replaces in place */
    fill_artifact(&a, APP, "snap-app", SF_ARTIFACT_CHECKSUM_VERIFIED, "t.tmp",
                  CKS2, "unix:50");
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_upsert(&j, &a, &err), SF_OK);
    assert_int_equal(j.artifact_count, 3);
    assert_int_equal(j.artifacts[1].state, SF_ARTIFACT_CHECKSUM_VERIFIED);
    assert_string_equal(j.artifacts[1].checksum, CKS2);
    assert_string_equal(j.artifacts[1].updated_at, "unix:50");
    sf_journal_artifact_free(&a);
    /* backward: refused, entry untouched */
    fill_artifact(&a, ROOT, "snap-root", SF_ARTIFACT_DOWNLOADED, "t", NULL,
                  "unix:51");
    assert_int_equal(sf_download_journal_upsert(&j, &a, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-state-transition");
    assert_string_equal(err.message,
                        "invalid journal transition from Durable to Downloaded");
    assert_int_equal(j.artifacts[0].state, SF_ARTIFACT_DURABLE);
    assert_string_equal(j.artifacts[0].updated_at, "unix:1778709690");
    sf_journal_artifact_free(&a);
    /* new key: appended */
    fill_artifact(&a, ROOT, "snap-root-2", SF_ARTIFACT_CREATED, NULL, NULL,
                  "unix:52");
    assert_int_equal(sf_download_journal_upsert(&j, &a, &err), SF_OK);
    assert_int_equal(j.artifact_count, 4);
    sf_journal_artifact_free(&a);
    /* upserting an entry onto itself is a no-op */
    assert_int_equal(sf_download_journal_upsert(&j, &j.artifacts[2], &err),
                     SF_OK);
    assert_string_equal(j.artifacts[2].canister_id, WORKER);
    expect_valid(&j);
    sf_download_journal_free(&j);
}

static void test_copy_and_free(void **state)
{
    sf_journal_artifact a, b;
    sf_error err;

    (void)state;
    fill_artifact(&a, ROOT, "s", SF_ARTIFACT_DOWNLOADED, "t", NULL, "u");
    sf_error_clear(&err);
    assert_int_equal(sf_journal_artifact_copy(&b, &a, &err), SF_OK);
    assert_string_equal(b.temp_path, "t");
    assert_null(b.checksum);
    assert_int_equal(b.state, SF_ARTIFACT_DOWNLOADED);
    sf_journal_artifact_free(&a);
    sf_journal_artifact_free(&b);
    assert_null(b.canister_id);
    sf_journal_artifact_free(NULL);
    sf_download_journal_free(NULL);
}

/* ---- resume report ---- */

static void test_resume_counts(void **state)
{
    sf_download_journal j;
    sf_journal_resume_summary s;

    (void)state;
    make_journal(&j); /* Durable, Downloaded, Created */
    sf_download_journal_resume_summary(&j, &s);
    assert_int_equal(s.total_artifacts, 3);
    assert_int_equal(s.pending_artifacts, 2);
    assert_false(s.is_complete);
    assert_int_equal(s.counts.created, 1);
    assert_int_equal(s.counts.downloaded, 1);
    assert_int_equal(s.counts.checksum_verified, 0);
    assert_int_equal(s.counts.durable, 1);
    assert_int_equal(s.counts.download, 1);
    assert_int_equal(s.counts.verify_checksum, 1);
    assert_int_equal(s.counts.finalize, 0);
    assert_int_equal(s.counts.skip, 1);

    j.artifacts[1].state = SF_ARTIFACT_DURABLE;
    j.artifacts[2].state = SF_ARTIFACT_DURABLE;
    sf_download_journal_resume_summary(&j, &s);
    assert_true(s.is_complete);
    assert_int_equal(s.pending_artifacts, 0);
    assert_int_equal(s.counts.skip, 3);
    sf_download_journal_free(&j);
}

static const char expected_report[] =
    "{\n"
    "  \"backup_id\": \"b\\\"1\",\n"
    "  \"discovery_topology_hash\": null,\n"
    "  \"pre_snapshot_topology_hash\": \"" HASH "\",\n"
    "  \"total_artifacts\": 2,\n"
    "  \"is_complete\": false,\n"
    "  \"pending_artifacts\": 2,\n"
    "  \"counts\": {\n"
    "    \"created\": 1,\n"
    "    \"downloaded\": 0,\n"
    "    \"checksum_verified\": 1,\n"
    "    \"durable\": 0,\n"
    "    \"download\": 1,\n"
    "    \"verify_checksum\": 0,\n"
    "    \"finalize\": 1,\n"
    "    \"skip\": 0\n"
    "  },\n"
    "  \"operation_metrics\": {\n"
    "    \"target_count\": 2,\n"
    "    \"snapshot_create_started\": 2,\n"
    "    \"snapshot_create_completed\": 2,\n"
    "    \"snapshot_download_started\": 1,\n"
    "    \"snapshot_download_completed\": 1,\n"
    "    \"checksum_verify_started\": 1,\n"
    "    \"checksum_verify_completed\": 1,\n"
    "    \"artifact_finalize_started\": 0,\n"
    "    \"artifact_finalize_completed\": 0\n"
    "  },\n"
    "  \"artifacts\": [\n"
    "    {\n"
    "      \"canister_id\": \"" ROOT "\",\n"
    "      \"snapshot_id\": \"snap-root\",\n"
    "      \"state\": \"ChecksumVerified\",\n"
    "      \"resume_action\": \"Finalize\",\n"
    "      \"artifact_path\": \"" ROOT "\",\n"
    "      \"temp_path\": \"out/" ROOT ".tmp\",\n"
    "      \"updated_at\": \"unix:5\"\n"
    "    },\n"
    "    {\n"
    "      \"canister_id\": \"" APP "\",\n"
    "      \"snapshot_id\": \"snap-app\",\n"
    "      \"state\": \"Created\",\n"
    "      \"resume_action\": \"Download\",\n"
    "      \"artifact_path\": \"" APP "\",\n"
    "      \"temp_path\": null,\n"
    "      \"updated_at\": \"unix:6\"\n"
    "    }\n"
    "  ]\n"
    "}";

static void test_resume_report_json(void **state)
{
    sf_download_journal j;
    sf_buf b;
    sf_error err;

    (void)state;
    make_two(&j);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_resume_report_json(&j, &b, &err),
                     SF_OK);
    assert_string_equal(sf_buf_cstr(&b), expected_report);
    sf_buf_free(&b);
    sf_download_journal_free(&j);
}

static void test_resume_table(void **state)
{
    static const char expected[] =
        "Backup: b\"1\n"
        "CANISTER_ID                  SNAPSHOT_ID  STATE             "
        "NEXT_ACTION  PATH\n"
        "aaaaa-aa                     snap-root    ChecksumVerified  "
        "Finalize     aaaaa-aa\n"
        "renrk-eyaaa-aaaaa-aaada-cai  snap-app     Created           "
        "Download     renrk-eyaaa-aaaaa-aaada-cai\n"
        "2 artifacts: 0 durable, 2 pending (1 download, 0 verify checksum, "
        "1 finalize); resume needed\n";
    sf_download_journal j;
    sf_buf b;
    sf_error err;

    (void)state;
    make_two(&j);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_download_journal_resume_table(&j, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), expected);
    sf_buf_free(&b);

    /* complete, and control characters are neutralised */
    j.artifacts[0].state = SF_ARTIFACT_DURABLE;
    j.artifacts[1].state = SF_ARTIFACT_DURABLE;
    set_str(&j.backup_id, "x\x1b[2Jy");
    sf_buf_init(&b);
    assert_int_equal(sf_download_journal_resume_table(&j, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b), "Backup: x?[2Jy\n"));
    assert_null(strchr(sf_buf_cstr(&b), '\x1b'));
    assert_non_null(strstr(sf_buf_cstr(&b),
                           "2 artifacts: 2 durable, 0 pending (0 download, 0 "
                           "verify checksum, 0 finalize); complete\n"));
    sf_buf_free(&b);
    sf_download_journal_free(&j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_and_action_names),
        cmocka_unit_test(test_resume_action_per_state),
        cmocka_unit_test(test_transitions_every_pair),
        cmocka_unit_test(test_durable_to_downloaded_refused),
        cmocka_unit_test(test_advance_needs_updated_at),
        cmocka_unit_test(test_valid_journal),
        cmocka_unit_test(test_rule_version),
        cmocka_unit_test(test_rule_backup_id),
        cmocka_unit_test(test_rule_topology_hashes),
        cmocka_unit_test(test_rule_artifacts_empty),
        cmocka_unit_test(test_rule_canister_id),
        cmocka_unit_test(test_rule_required_texts),
        cmocka_unit_test(test_rule_checksum_algorithm),
        cmocka_unit_test(test_rule_temp_path),
        cmocka_unit_test(test_rule_checksum),
        cmocka_unit_test(test_rule_duplicate),
        cmocka_unit_test(test_metrics_not_checked),
        cmocka_unit_test(test_order_top_level),
        cmocka_unit_test(test_order_within_artifact),
        cmocka_unit_test(test_order_across_artifacts),
        cmocka_unit_test(test_parse_valid_file),
        cmocka_unit_test(test_parse_metrics_default),
        cmocka_unit_test(test_parse_metrics_all_required),
        cmocka_unit_test(test_parse_metrics_values),
        cmocka_unit_test(test_parse_hash_null_and_absent),
        cmocka_unit_test(test_parse_state_spelling),
        cmocka_unit_test(test_parse_schema_errors),
        cmocka_unit_test(test_parse_syntax_errors),
        cmocka_unit_test(test_parse_duplicate_key_refused),
        cmocka_unit_test(test_parse_unknown_keys_ignored),
        cmocka_unit_test(test_write_exact_bytes),
        cmocka_unit_test(test_write_invalid_leaves_buffer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_canonical_file_bytes),
        cmocka_unit_test(test_sample_files),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_append_to_empty),
        cmocka_unit_test(test_upsert),
        cmocka_unit_test(test_copy_and_free),
        cmocka_unit_test(test_resume_counts),
        cmocka_unit_test(test_resume_report_json),
        cmocka_unit_test(test_resume_table),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
