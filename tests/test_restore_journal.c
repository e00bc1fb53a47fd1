/* The restore apply journal: creation from a dry-run, every validation
 * rule and its place in canic's order, every transition of the state
 * machine (legal and illegal, all or nothing), receipts, what the next
 * command is, the preview, reports, reading, writing and files. */
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

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/manifest.h"
#include "snapfleet/restore_journal.h"
#include "snapfleet/restore_plan.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define WORKER2 "rdmx6-jaaaa-aaaaa-aaadq-cai"
#define T1 "ryjl3-tyaaa-aaaaa-aaaba-cai"
#define M1 "unix:1768480001"
#define M2 "unix:1768480002"

/* Sequences of the 23-operation journal of manifests/fleet.json (plan
 * order root, app, worker, worker2). */
enum {
    S_UP_ROOT = 0,
    S_UP_APP = 1,
    S_UP_WORKER = 2,
    S_STOP_ROOT = 4,
    S_LOAD_ROOT = 8,
    S_LOAD_APP = 9,
    S_START_WORKER2 = 12,
    S_START_ROOT = 15,
    S_VERIFY_ROOT = 16,
    S_VERIFY_APP = 17,
    S_VERIFY_FLEET = 22,
    N_OPS = 23
};

static sf_error e_;

#define OK(call)                                                              \
    do {                                                                      \
        sf_error_clear(&e_);                                                  \
        if ((call) != SF_OK)                                                  \
            fail_msg("%s failed: %s [%s] %s", #call,                          \
                     e_.kind ? e_.kind : "?", e_.field, e_.message);          \
    } while (0)

#define FAILS(call, want_kind, want_field, want_message)                      \
    do {                                                                      \
        sf_error_clear(&e_);                                                  \
        if ((call) != SF_ERR)                                                 \
            fail_msg("%s succeeded, expected %s", #call, want_kind);          \
        if (e_.kind == NULL || strcmp(e_.kind, want_kind) != 0)               \
            fail_msg("%s: expected %s, got %s (%s)", #call, want_kind,        \
                     e_.kind ? e_.kind : "(none)", e_.message);               \
        if ((want_field) != NULL)                                             \
            assert_string_equal(e_.field, (const char *)(want_field));        \
        if ((want_message) != NULL)                                           \
            assert_string_equal(e_.message, (const char *)(want_message));    \
    } while (0)

/* ---- helpers ---- */

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

static char *data_path(const char *rel)
{
    const char *dir = getenv("SF_TEST_DATA");
    char *p;

    assert_non_null(dir);
    p = malloc(strlen(dir) + strlen(rel) + 16);
    assert_non_null(p);
    sprintf(p, "%s/restore/%s", dir, rel);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    char *text = NULL;
    sf_error err;

    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, len, &err) != SF_OK)
        fail_msg("cannot read %s: %s", path, err.message);
    return text;
}

static void load(const char *name, sf_restore_journal *j)
{
    char rel[256], *p;

    snprintf(rel, sizeof rel, "journal/%s", name);
    p = data_path(rel);
    OK(sf_restore_journal_read_file(p, j, &e_));
    free(p);
}

static void load_plan(sf_restore_plan *p)
{
    char *path = data_path("manifests/fleet.json");
    sf_manifest m;

    OK(sf_manifest_read_file(path, &m, &e_));
    OK(sf_restore_plan_build(&m, NULL, p, &e_));
    sf_manifest_free(&m);
    free(path);
}

/* The journal's bytes (it must be valid). */
static void bytes(const sf_restore_journal *j, sf_buf *b)
{
    sf_buf_init(b);
    OK(sf_restore_journal_write_json(j, b, &e_));
}

static void assert_same(const sf_buf *a, const sf_buf *b)
{
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len);
}

/* Recomputes the counters the way a correct writer would. */
static void fix_counts(sf_restore_journal *j)
{
    size_t i;

    memset(&j->operation_counts, 0, sizeof j->operation_counts);
    j->pending_operations = j->ready_operations = j->blocked_operations = 0;
    j->completed_operations = j->failed_operations = 0;
    for (i = 0; i < j->operations_len; i++) {
        sf_restore_op_counts_add(&j->operation_counts,
                                 j->operations[i].kind);
        switch (j->operations[i].state) {
        case SF_RESTORE_PENDING:
            j->pending_operations++;
            break;
        case SF_RESTORE_READY:
            j->ready_operations++;
            break;
        case SF_RESTORE_BLOCKED:
            j->blocked_operations++;
            break;
        case SF_RESTORE_COMPLETED:
            j->completed_operations++;
            break;
        case SF_RESTORE_FAILED:
            j->failed_operations++;
            break;
        }
    }
    j->operation_count = j->operations_len;
}

static void set_reasons(sf_restore_journal_op *op, const char *reason)
{
    sf_strv_free(op->blocking_reasons, op->blocking_reason_count);
    op->blocking_reasons = NULL;
    op->blocking_reason_count = 0;
    if (reason != NULL) {
        op->blocking_reasons = calloc(1, sizeof *op->blocking_reasons);
        assert_non_null(op->blocking_reasons);
        op->blocking_reasons[0] = xstrdup(reason);
        op->blocking_reason_count = 1;
    }
}

/* Puts operation `seq` (array position = sequence in the samples) in a
 * state, with a reason where the state needs one, and fixes the counts. */
static void force(sf_restore_journal *j, size_t seq, sf_restore_state s)
{
    sf_restore_journal_op *op = &j->operations[seq];

    assert_int_equal(op->sequence, seq);
    op->state = s;
    set_reasons(op, s == SF_RESTORE_BLOCKED  ? "held"
                    : s == SF_RESTORE_FAILED ? "boom"
                                             : NULL);
    if (s == SF_RESTORE_BLOCKED)
        j->ready = false;
    fix_counts(j);
}

static void assert_valid(const sf_restore_journal *j)
{
    OK(sf_restore_journal_validate(j, &e_));
}

/* ---- names ---- */

static void test_names(void **s)
{
    (void)s;
    assert_string_equal(sf_restore_state_name(SF_RESTORE_PENDING), "pending");
    assert_string_equal(sf_restore_state_name(SF_RESTORE_READY), "ready");
    assert_string_equal(sf_restore_state_name(SF_RESTORE_BLOCKED), "blocked");
    assert_string_equal(sf_restore_state_name(SF_RESTORE_COMPLETED),
                        "completed");
    assert_string_equal(sf_restore_state_name(SF_RESTORE_FAILED), "failed");
    assert_null(sf_restore_state_name((sf_restore_state)5));
    assert_string_equal(sf_restore_state_debug_name(SF_RESTORE_COMPLETED),
                        "Completed");
    assert_string_equal(sf_restore_outcome_name(SF_RESTORE_COMMAND_FAILED),
                        "command-failed");
    assert_string_equal(
        sf_restore_outcome_name(SF_RESTORE_COMMAND_COMPLETED),
        "command-completed");
    assert_null(sf_restore_outcome_name((sf_restore_outcome)2));
    assert_string_equal(sf_restore_op_kind_name(SF_RESTORE_OP_VERIFY_FLEET),
                        "verify-fleet");
    assert_string_equal(
        sf_restore_op_kind_debug_name(SF_RESTORE_OP_UPLOAD_SNAPSHOT),
        "UploadSnapshot");
    assert_null(sf_restore_op_kind_name((sf_restore_op_kind)6));
    assert_string_equal(
        sf_restore_report_outcome_name(SF_RESTORE_REPORT_IN_PROGRESS),
        "in-progress");
    assert_string_equal(
        sf_restore_report_outcome_debug_name(SF_RESTORE_REPORT_IN_PROGRESS),
        "InProgress");
}

/* ---- creation from a dry-run ---- */

static sf_restore_artifact_validation *validation(const char *root,
                                                  bool present, bool verified)
{
    sf_restore_artifact_validation *v = calloc(1, sizeof *v);

    assert_non_null(v);
    v->backup_root = xstrdup(root);
    v->artifacts_present = present;
    v->checksums_verified = verified;
    return v;
}

static void test_from_dry_run_ready(void **s)
{
    sf_restore_plan p;
    sf_restore_dry_run d;
    sf_restore_journal j, want;
    sf_buf a, b;
    size_t i;

    (void)s;
    load_plan(&p);
    OK(sf_restore_dry_run_build(&p, NULL, &d, &e_));
    d.artifact_validation =
        validation("backups/backup-restore-demo", true, true);
    OK(sf_restore_journal_from_dry_run(&d, &j, &e_));
    assert_true(j.ready);
    assert_int_equal(j.blocked_reason_count, 0);
    assert_string_equal(j.backup_root, "backups/backup-restore-demo");
    assert_int_equal(j.operations_len, N_OPS);
    assert_int_equal(j.ready_operations, N_OPS);
    for (i = 0; i < j.operations_len; i++) {
        assert_int_equal(j.operations[i].state, SF_RESTORE_READY);
        assert_int_equal(j.operations[i].blocking_reason_count, 0);
        assert_null(j.operations[i].state_updated_at);
        assert_int_equal(j.operations[i].sequence, d.operations[i].sequence);
        assert_int_equal(j.operations[i].kind, d.operations[i].kind);
    }
    assert_int_equal(j.receipt_count, 0);
    /* The same bytes as the sample. */
    load("valid-ready.json", &want);
    bytes(&j, &a);
    bytes(&want, &b);
    assert_same(&a, &b);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_journal_free(&want);
    sf_restore_journal_free(&j);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
}

static void test_from_dry_run_blocks_without_validation(void **s)
{
    sf_restore_plan p;
    sf_restore_dry_run d;
    sf_restore_journal j, want;
    sf_buf a, b;
    size_t i;

    (void)s;
    load_plan(&p);
    OK(sf_restore_dry_run_build(&p, NULL, &d, &e_));
    OK(sf_restore_journal_from_dry_run(&d, &j, &e_));
    assert_false(j.ready);
    assert_null(j.backup_root);
    assert_int_equal(j.blocked_reason_count, 1);
    assert_string_equal(j.blocked_reasons[0], "missing-artifact-validation");
    assert_int_equal(j.blocked_operations, N_OPS);
    for (i = 0; i < j.operations_len; i++) {
        assert_int_equal(j.operations[i].state, SF_RESTORE_BLOCKED);
        assert_int_equal(j.operations[i].blocking_reason_count, 1);
    }
    /* A blocked journal can never move. */
    assert_null(sf_restore_journal_next_transition(&j));
    FAILS(sf_restore_journal_mark_next_pending(&j, M1, &e_),
          "no-transitionable-operation", NULL,
          "restore apply journal has no operation that can be advanced");
    FAILS(sf_restore_journal_mark_completed(&j, 0, M1, &e_),
          "invalid-operation-transition", "operations[0].state",
          "restore apply journal operation 0 cannot transition from Blocked "
          "to Completed");
    load("valid-blocked-no-validation.json", &want);
    bytes(&j, &a);
    bytes(&want, &b);
    assert_same(&a, &b);
    assert_null(strstr(a.data, "backup_root"));
    assert_null(strstr(a.data, "operation_receipts"));
    assert_null(strstr(a.data, "state_updated_at"));
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_journal_free(&want);
    sf_restore_journal_free(&j);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
}

static void test_from_dry_run_reasons_sorted_and_unique(void **s)
{
    sf_restore_plan p;
    sf_restore_dry_run d;
    sf_restore_journal j;

    (void)s;
    load_plan(&p);
    OK(sf_restore_dry_run_build(&p, NULL, &d, &e_));
    d.ready = false;
    d.readiness_reasons = calloc(3, sizeof *d.readiness_reasons);
    assert_non_null(d.readiness_reasons);
    d.readiness_reasons[0] = xstrdup("missing-verification-checks");
    d.readiness_reasons[1] = xstrdup("missing-snapshot-checksum");
    d.readiness_reasons[2] = xstrdup("missing-artifacts");
    d.readiness_reason_count = 3;
    d.artifact_validation = validation("bk", false, false);
    OK(sf_restore_journal_from_dry_run(&d, &j, &e_));
    assert_int_equal(j.blocked_reason_count, 4);
    assert_string_equal(j.blocked_reasons[0],
                        "artifact-checksum-validation-incomplete");
    assert_string_equal(j.blocked_reasons[1], "missing-artifacts");
    assert_string_equal(j.blocked_reasons[2], "missing-snapshot-checksum");
    assert_string_equal(j.blocked_reasons[3], "missing-verification-checks");
    assert_int_equal(j.operations[7].blocking_reason_count, 4);
    assert_string_equal(j.operations[7].blocking_reasons[3],
                        "missing-verification-checks");
    assert_string_equal(j.backup_root, "bk");
    sf_restore_journal_free(&j);
    /* Only the checksums incomplete. */
    d.readiness_reason_count = 0;
    d.artifact_validation->artifacts_present = true;
    OK(sf_restore_journal_from_dry_run(&d, &j, &e_));
    d.readiness_reason_count = 3;
    assert_int_equal(j.blocked_reason_count, 1);
    assert_string_equal(j.blocked_reasons[0],
                        "artifact-checksum-validation-incomplete");
    sf_restore_journal_free(&j);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
}

/* Plan -> dry-run against a real backup directory -> ready journal. */
static void test_end_to_end_ready_journal(void **s)
{
    char dir[] = "/tmp/sf-restore-journal-XXXXXX", path[4096];
    char hex[SF_SHA256_HEX_SIZE], cmd[4200];
    char *mpath = data_path("manifests/fleet.json");
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    sf_restore_journal j, back;
    size_t i;

    (void)s;
    assert_non_null(mkdtemp(dir));
    OK(sf_manifest_read_file(mpath, &m, &e_));
    for (i = 0; i < m.fleet.member_count; i++) {
        sf_manifest_snapshot *ss = &m.fleet.members[i].source_snapshot;
        snprintf(path, sizeof path, "%s/%s", dir, ss->artifact_path);
        OK(sf_fs_write_atomic(path, ss->snapshot_id, strlen(ss->snapshot_id),
                              &e_));
        OK(sf_checksum_path(path, hex, &e_));
        set_str(&ss->checksum, hex);
    }
    OK(sf_restore_plan_build(&m, NULL, &p, &e_));
    OK(sf_restore_dry_run_build(&p, dir, &d, &e_));
    OK(sf_restore_journal_from_dry_run(&d, &j, &e_));
    assert_true(j.ready);
    assert_string_equal(j.backup_root, dir);
    snprintf(path, sizeof path, "%s/restore-apply-journal.json", dir);
    OK(sf_restore_journal_write_file(path, &j, &e_));
    OK(sf_restore_journal_read_file(path, &back, &e_));
    assert_int_equal(back.ready_operations, N_OPS);
    sf_restore_journal_free(&back);
    sf_restore_journal_free(&j);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    free(mpath);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* ---- validation rules ---- */

static void test_unsupported_version(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    j.journal_version = 2;
    FAILS(sf_restore_journal_validate(&j, &e_), "unsupported-version",
          "journal_version", "unsupported restore apply journal version 2");
    j.journal_version = 0;
    FAILS(sf_restore_journal_validate(&j, &e_), "unsupported-version", NULL,
          NULL);
    sf_restore_journal_free(&j);
}

static void test_missing_header_fields(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    set_str(&j.backup_id, " \n");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field", "backup_id",
          "restore apply journal field backup_id is required");
    set_str(&j.backup_id, NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field", "backup_id",
          NULL);
    set_str(&j.backup_id, "b");
    set_str(&j.backup_root, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "backup_root",
          "restore apply journal field backup_root is required");
    /* Absent is fine. */
    set_str(&j.backup_root, NULL);
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

static void test_count_mismatches(void **s)
{
    static const char *const fields[] = {
        "operation_count",
        "operation_counts.canister_stops",
        "operation_counts.canister_starts",
        "operation_counts.snapshot_uploads",
        "operation_counts.snapshot_loads",
        "operation_counts.member_verifications",
        "operation_counts.fleet_verifications",
        "operation_counts.verification_operations",
        "pending_operations",
        "ready_operations",
        "blocked_operations",
        "completed_operations",
        "failed_operations"};
    sf_restore_journal j;
    size_t i;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        uint64_t *slots[] = {&j.operation_count,
                             &j.operation_counts.canister_stops,
                             &j.operation_counts.canister_starts,
                             &j.operation_counts.snapshot_uploads,
                             &j.operation_counts.snapshot_loads,
                             &j.operation_counts.member_verifications,
                             &j.operation_counts.fleet_verifications,
                             &j.operation_counts.verification_operations,
                             &j.pending_operations,
                             &j.ready_operations,
                             &j.blocked_operations,
                             &j.completed_operations,
                             &j.failed_operations};
        uint64_t was = *slots[i];
        char msg[256];

        *slots[i] = was + 7;
        snprintf(msg, sizeof msg,
                 "restore apply journal count %s mismatch: reported=%llu, "
                 "actual=%llu",
                 fields[i], (unsigned long long)(was + 7),
                 (unsigned long long)was);
        FAILS(sf_restore_journal_validate(&j, &e_), "count-mismatch",
              fields[i], msg);
        /* Every later counter is wrong too: the first one is reported. */
        if (i + 1 < sizeof fields / sizeof fields[0]) {
            *slots[i + 1] += 1;
            FAILS(sf_restore_journal_validate(&j, &e_), "count-mismatch",
                  fields[i], NULL);
            *slots[i + 1] -= 1;
        }
        *slots[i] = was;
    }
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

static void test_ready_journal_has_blocking_state(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-ready.json", &j);
    sf_strv_free(j.blocked_reasons, j.blocked_reason_count);
    j.blocked_reasons = calloc(1, sizeof *j.blocked_reasons);
    j.blocked_reasons[0] = xstrdup("missing-artifacts");
    j.blocked_reason_count = 1;
    FAILS(sf_restore_journal_validate(&j, &e_),
          "ready-journal-has-blocking-state", "ready",
          "ready restore apply journal cannot include blocked reasons or "
          "blocked operations");
    j.ready = false;
    assert_valid(&j);
    sf_strv_free(j.blocked_reasons, j.blocked_reason_count);
    j.blocked_reasons = NULL;
    j.blocked_reason_count = 0;
    /* A not-ready journal with no blocked operation is legal; a ready one
     * with a blocked operation is not. */
    assert_valid(&j);
    force(&j, 5, SF_RESTORE_BLOCKED);
    j.ready = true;
    FAILS(sf_restore_journal_validate(&j, &e_),
          "ready-journal-has-blocking-state", NULL, NULL);
    sf_restore_journal_free(&j);
}

static void test_sequences(void **s)
{
    sf_restore_journal j;
    sf_restore_journal_op tmp;

    (void)s;
    load("valid-ready.json", &j);
    /* Stored out of order is fine. */
    tmp = j.operations[0];
    j.operations[0] = j.operations[22];
    j.operations[22] = tmp;
    assert_valid(&j);
    j.operations[5].sequence = 3;
    FAILS(sf_restore_journal_validate(&j, &e_), "duplicate-sequence",
          "operations[5].sequence",
          "restore apply journal has duplicate operation sequence 3");
    /* The first repeat in array order is the one reported. */
    j.operations[2].sequence = 1;
    FAILS(sf_restore_journal_validate(&j, &e_), "duplicate-sequence",
          "operations[2].sequence", NULL);
    j.operations[2].sequence = 2;
    j.operations[5].sequence = 99;
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-sequence",
          "operations",
          "restore apply journal is missing operation sequence 5");
    j.operations[5].sequence = 5;
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

static void test_operation_fields(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    set_str(&j.operations[6].source_canister, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[6].source_canister",
          "restore apply journal field operations[].source_canister is "
          "required");
    set_str(&j.operations[6].source_canister, APP);
    set_str(&j.operations[6].target_canister, " ");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[6].target_canister", NULL);
    set_str(&j.operations[6].target_canister, WORKER);
    set_str(&j.operations[6].role, "\t");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[6].role", NULL);
    set_str(&j.operations[6].role, "worker");
    set_str(&j.operations[4].state_updated_at, " ");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[4].state_updated_at",
          "restore apply journal field operations[].state_updated_at is "
          "required");
    set_str(&j.operations[4].state_updated_at, NULL);
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

static void test_operation_kind_fields(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-ready.json", &j);
    set_str(&j.operations[1].artifact_path, NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-missing-field",
          "operations[1].artifact_path",
          "restore apply journal operation 1 UploadSnapshot is missing field "
          "operations[].artifact_path");
    set_str(&j.operations[1].artifact_path, " ");
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-missing-field",
          "operations[1].artifact_path", NULL);
    set_str(&j.operations[1].artifact_path, "a");
    set_str(&j.operations[S_LOAD_APP].snapshot_id, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-missing-field",
          "operations[9].snapshot_id",
          "restore apply journal operation 9 LoadSnapshot is missing field "
          "operations[].snapshot_id");
    set_str(&j.operations[S_LOAD_APP].snapshot_id, "s");
    set_str(&j.operations[S_VERIFY_FLEET].verification_kind, NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-missing-field",
          "operations[22].verification_kind",
          "restore apply journal operation 22 VerifyFleet is missing field "
          "operations[].verification_kind");
    set_str(&j.operations[S_VERIFY_FLEET].verification_kind, "status");
    set_str(&j.operations[S_VERIFY_APP].verification_kind, "Status");
    FAILS(sf_restore_journal_validate(&j, &e_),
          "unsupported-verification-kind", "operations[17].verification_kind",
          "restore apply journal operation 17 uses unsupported verification "
          "kind Status");
    set_str(&j.operations[S_VERIFY_APP].verification_kind, "status");
    /* Stop and start need none of these. */
    set_str(&j.operations[S_STOP_ROOT].snapshot_id, NULL);
    set_str(&j.operations[S_START_ROOT].artifact_path, NULL);
    assert_valid(&j);
    /* Field checks come before the kind's. */
    set_str(&j.operations[1].artifact_path, NULL);
    set_str(&j.operations[1].role, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[1].role", NULL);
    sf_restore_journal_free(&j);
}

static void test_state_reasons(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-ready.json", &j);
    j.ready = false;
    force(&j, 3, SF_RESTORE_BLOCKED);
    assert_valid(&j);
    set_reasons(&j.operations[3], NULL);
    FAILS(sf_restore_journal_validate(&j, &e_),
          "blocked-operation-missing-reason", "operations[3].blocking_reasons",
          "blocked restore apply journal operation 3 is missing a blocking "
          "reason");
    force(&j, 3, SF_RESTORE_FAILED);
    assert_valid(&j);
    set_reasons(&j.operations[3], NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "failure-reason-required",
          "operations[3].blocking_reasons",
          "failed restore apply journal operation 3 requires a reason");
    force(&j, 3, SF_RESTORE_READY);
    {
        static const sf_restore_state unblocked[] = {
            SF_RESTORE_PENDING, SF_RESTORE_READY, SF_RESTORE_COMPLETED};
        size_t i;

        for (i = 0; i < 3; i++) {
            force(&j, 3, unblocked[i]);
            assert_valid(&j);
            set_reasons(&j.operations[3], "why");
            FAILS(sf_restore_journal_validate(&j, &e_),
                  "unblocked-operation-has-reasons",
                  "operations[3].blocking_reasons",
                  "unblocked restore apply journal operation 3 cannot have "
                  "blocking reasons");
        }
    }
    /* Kind fields come before state reasons. */
    set_str(&j.operations[3].artifact_path, NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-missing-field",
          NULL, NULL);
    sf_restore_journal_free(&j);
}

static void test_receipt_rules(void **s)
{
    sf_restore_journal j;
    sf_restore_receipt *r;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    r = &j.receipts[1];
    r->sequence = 99;
    FAILS(sf_restore_journal_validate(&j, &e_),
          "operation-receipt-operation-not-found",
          "operation_receipts[1].sequence",
          "restore apply journal receipt references missing operation 99");
    r->sequence = 1;
    r->kind = SF_RESTORE_OP_LOAD_SNAPSHOT;
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-receipt-mismatch",
          "operation_receipts[1].operation",
          "restore apply journal receipt does not match operation 1");
    r->kind = SF_RESTORE_OP_UPLOAD_SNAPSHOT;
    set_str(&r->source_canister, ROOT);
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-receipt-mismatch",
          "operation_receipts[1].source_canister", NULL);
    set_str(&r->source_canister, APP);
    set_str(&r->target_canister, T1);
    FAILS(sf_restore_journal_validate(&j, &e_), "operation-receipt-mismatch",
          "operation_receipts[1].target_canister", NULL);
    set_str(&r->target_canister, APP);
    set_str(&r->source_snapshot_id, NULL);
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operation_receipts[1].source_snapshot_id",
          "restore apply journal field operation_receipts[].source_snapshot_id "
          "is required");
    set_str(&r->source_snapshot_id, "snap-app");
    set_str(&r->artifact_path, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operation_receipts[1].artifact_path", NULL);
    set_str(&r->artifact_path, "x");
    set_str(&r->uploaded_snapshot_id, " ");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operation_receipts[1].uploaded_snapshot_id", NULL);
    /* A failed upload has no id, but needs a reason. */
    r->outcome = SF_RESTORE_COMMAND_FAILED;
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operation_receipts[1].failure_reason",
          "restore apply journal field operation_receipts[].failure_reason "
          "is required");
    set_str(&r->failure_reason, "runner-command-exit-1");
    assert_valid(&j);
    /* The receipt's state and snapshot are not compared with the op. */
    set_str(&r->source_snapshot_id, "some-other-snapshot");
    r->outcome = SF_RESTORE_COMMAND_COMPLETED;
    set_str(&r->uploaded_snapshot_id, "u");
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

static void test_validation_order(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    /* A receipt error is reported last... */
    j.receipts[0].sequence = 99;
    FAILS(sf_restore_journal_validate(&j, &e_),
          "operation-receipt-operation-not-found", NULL, NULL);
    /* ...after operations, */
    set_str(&j.operations[20].role, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "operations[20].role", NULL);
    /* after sequences, */
    j.operations[21].sequence = 0;
    FAILS(sf_restore_journal_validate(&j, &e_), "duplicate-sequence", NULL,
          NULL);
    /* after the ready check, */
    force(&j, 22, SF_RESTORE_BLOCKED);
    j.ready = true;
    FAILS(sf_restore_journal_validate(&j, &e_),
          "ready-journal-has-blocking-state", NULL, NULL);
    /* after counts, */
    j.failed_operations = 3;
    FAILS(sf_restore_journal_validate(&j, &e_), "count-mismatch",
          "failed_operations", NULL);
    /* after the header, */
    set_str(&j.backup_root, " ");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field",
          "backup_root", NULL);
    set_str(&j.backup_id, "");
    FAILS(sf_restore_journal_validate(&j, &e_), "missing-field", "backup_id",
          NULL);
    /* after the version. */
    j.journal_version = 3;
    FAILS(sf_restore_journal_validate(&j, &e_), "unsupported-version", NULL,
          NULL);
    sf_restore_journal_free(&j);
}

/* ---- the state machine ---- */

typedef int (*transition_fn)(sf_restore_journal *, uint64_t, sf_error *);

static int to_pending(sf_restore_journal *j, uint64_t seq, sf_error *err)
{
    return sf_restore_journal_mark_pending(j, seq, M1, err);
}

static int to_ready(sf_restore_journal *j, uint64_t seq, sf_error *err)
{
    return sf_restore_journal_mark_ready(j, seq, M1, err);
}

static int to_completed(sf_restore_journal *j, uint64_t seq, sf_error *err)
{
    return sf_restore_journal_mark_completed(j, seq, M1, err);
}

static int to_failed(sf_restore_journal *j, uint64_t seq, sf_error *err)
{
    return sf_restore_journal_mark_failed(j, seq, "exit-1", M1, err);
}

/* Spec 3.5 table: from (rows) x to (pending, ready, completed, failed). */
static void test_transition_table(void **s)
{
    static const sf_restore_state froms[] = {
        SF_RESTORE_READY, SF_RESTORE_PENDING, SF_RESTORE_FAILED,
        SF_RESTORE_COMPLETED, SF_RESTORE_BLOCKED};
    static const sf_restore_state tos[] = {
        SF_RESTORE_PENDING, SF_RESTORE_READY, SF_RESTORE_COMPLETED,
        SF_RESTORE_FAILED};
    static const transition_fn fns[] = {to_pending, to_ready, to_completed,
                                        to_failed};
    static const bool allowed[5][4] = {
        /* ready */ {true, false, true, true},
        /* pending */ {true, true, true, true},
        /* failed */ {false, true, false, true},
        /* completed */ {false, false, true, false},
        /* blocked */ {false, false, false, false}};
    size_t f, t;

    (void)s;
    for (f = 0; f < 5; f++) {
        for (t = 0; t < 4; t++) {
            sf_restore_journal j;
            sf_buf before, after;
            char msg[256];

            load("valid-ready.json", &j);
            force(&j, 0, froms[f]);
            bytes(&j, &before);
            sf_error_clear(&e_);
            if (allowed[f][t]) {
                if (fns[t](&j, 0, &e_) != SF_OK)
                    fail_msg("%s -> %s refused: %s",
                             sf_restore_state_name(froms[f]),
                             sf_restore_state_name(tos[t]), e_.message);
                assert_int_equal(j.operations[0].state, tos[t]);
                assert_string_equal(j.operations[0].state_updated_at, M1);
                assert_int_equal(j.operations[0].blocking_reason_count,
                                 tos[t] == SF_RESTORE_FAILED ? 1 : 0);
                assert_valid(&j);
            } else {
                snprintf(msg, sizeof msg,
                         "restore apply journal operation 0 cannot "
                         "transition from %s to %s",
                         sf_restore_state_debug_name(froms[f]),
                         sf_restore_state_debug_name(tos[t]));
                FAILS(fns[t](&j, 0, &e_), "invalid-operation-transition",
                      "operations[0].state", msg);
                bytes(&j, &after);
                assert_same(&before, &after);
                sf_buf_free(&after);
            }
            sf_buf_free(&before);
            sf_restore_journal_free(&j);
        }
    }
}

static void test_mark_next_pending_claims_first_operation(void **s)
{
    sf_restore_journal j;
    sf_restore_report r;

    (void)s;
    load("valid-ready.json", &j);
    OK(sf_restore_journal_mark_next_pending(&j, M1, &e_));
    assert_int_equal(j.operations[0].state, SF_RESTORE_PENDING);
    assert_string_equal(j.operations[0].state_updated_at, M1);
    assert_int_equal(j.pending_operations, 1);
    assert_int_equal(j.ready_operations, N_OPS - 1);
    sf_restore_journal_report(&j, &r);
    assert_non_null(r.pending);
    assert_int_equal(r.pending->sequence, 0);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_PENDING);
    /* Re-claiming the pending operation is allowed (same state). */
    OK(sf_restore_journal_mark_next_pending(&j, M2, &e_));
    assert_string_equal(j.operations[0].state_updated_at, M2);
    sf_restore_journal_free(&j);
}

static void test_unclaim_pending(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-ready.json", &j);
    FAILS(sf_restore_journal_mark_next_ready(&j, M1, &e_),
          "no-pending-operation", NULL,
          "restore apply journal has no pending operation to release");
    OK(sf_restore_journal_mark_next_pending(&j, M1, &e_));
    OK(sf_restore_journal_mark_next_ready(&j, M2, &e_));
    assert_int_equal(j.operations[0].state, SF_RESTORE_READY);
    assert_string_equal(j.operations[0].state_updated_at, M2);
    assert_int_equal(j.pending_operations, 0);
    /* A pending operation behind an earlier ready one does not count. */
    force(&j, 3, SF_RESTORE_PENDING);
    FAILS(sf_restore_journal_mark_next_ready(&j, M1, &e_),
          "no-pending-operation", NULL, NULL);
    sf_restore_journal_free(&j);
    load("valid-complete.json", &j);
    FAILS(sf_restore_journal_mark_next_ready(&j, M1, &e_),
          "no-transitionable-operation", NULL, NULL);
    FAILS(sf_restore_journal_mark_next_pending(&j, M1, &e_),
          "no-transitionable-operation", NULL, NULL);
    sf_restore_journal_free(&j);
}

static void test_out_of_order_transitions(void **s)
{
    sf_restore_journal j;
    sf_buf before, after;

    (void)s;
    load("valid-ready.json", &j);
    bytes(&j, &before);
    FAILS(sf_restore_journal_mark_pending(&j, 1, M1, &e_),
          "out-of-order-operation-transition", "sequence",
          "restore apply journal operation 1 cannot advance before "
          "operation 0");
    FAILS(sf_restore_journal_mark_completed(&j, 5, M1, &e_),
          "out-of-order-operation-transition", NULL,
          "restore apply journal operation 5 cannot advance before "
          "operation 0");
    FAILS(sf_restore_journal_mark_failed(&j, 5, "x", M1, &e_),
          "out-of-order-operation-transition", NULL, NULL);
    bytes(&j, &after);
    assert_same(&before, &after);
    sf_buf_free(&after);
    /* A failed operation is next too: nothing passes it. */
    force(&j, 0, SF_RESTORE_FAILED);
    FAILS(sf_restore_journal_mark_pending(&j, 1, M1, &e_),
          "out-of-order-operation-transition", NULL, NULL);
    /* Repeats skip the ordering check: a completed operation behind the
     * next one may be completed again. */
    force(&j, 7, SF_RESTORE_COMPLETED);
    OK(sf_restore_journal_mark_completed(&j, 7, M2, &e_));
    assert_string_equal(j.operations[7].state_updated_at, M2);
    OK(sf_restore_journal_mark_failed(&j, 0, "again", M2, &e_));
    assert_string_equal(j.operations[0].blocking_reasons[0], "again");
    sf_buf_free(&before);
    sf_restore_journal_free(&j);
}

static void test_operation_not_found(void **s)
{
    sf_restore_journal j;

    (void)s;
    load("valid-ready.json", &j);
    FAILS(sf_restore_journal_mark_pending(&j, 23, M1, &e_),
          "operation-not-found", "sequence",
          "restore apply journal operation 23 was not found");
    FAILS(sf_restore_journal_mark_ready(&j, 99, M1, &e_),
          "operation-not-found", NULL, NULL);
    FAILS(sf_restore_journal_mark_completed(&j, 99, M1, &e_),
          "operation-not-found", NULL, NULL);
    assert_null(sf_restore_journal_find(&j, 23));
    assert_int_equal(sf_restore_journal_find(&j, 22)->sequence, 22);
    sf_restore_journal_free(&j);
}

static void test_mark_completed_advances(void **s)
{
    sf_restore_journal j;
    sf_restore_report r;
    size_t i;

    (void)s;
    load("valid-ready.json", &j);
    OK(sf_restore_journal_mark_completed(&j, 0, M1, &e_));
    assert_int_equal(sf_restore_journal_next_transition(&j)->sequence, 1);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.progress.completed_operations, 1);
    assert_int_equal(r.progress.remaining_operations, N_OPS - 1);
    assert_int_equal(r.progress.completion_basis_points, 10000 / N_OPS);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_IN_PROGRESS);
    assert_false(sf_restore_journal_is_complete(&j));
    for (i = 1; i < N_OPS; i++) {
        OK(sf_restore_journal_mark_pending(&j, i, M1, &e_));
        OK(sf_restore_journal_mark_completed(&j, i, M2, &e_));
    }
    assert_true(sf_restore_journal_is_complete(&j));
    assert_null(sf_restore_journal_next_transition(&j));
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_COMPLETE);
    assert_int_equal(r.progress.completion_basis_points, 10000);
    sf_restore_journal_free(&j);
}

static void test_mark_failed_and_retry(void **s)
{
    sf_restore_journal j;
    sf_buf before, after;

    (void)s;
    load("valid-ready.json", &j);
    /* The reason is checked before anything else. */
    FAILS(sf_restore_journal_mark_failed(&j, 999, " ", M1, &e_),
          "failure-reason-required", NULL,
          "failed restore apply journal operation 999 requires a reason");
    FAILS(sf_restore_journal_mark_failed(&j, 0, NULL, M1, &e_),
          "failure-reason-required", NULL, NULL);
    OK(sf_restore_journal_mark_pending(&j, 0, M1, &e_));
    OK(sf_restore_journal_mark_failed(&j, 0, "runner-command-exit-1", M2,
                                      &e_));
    assert_int_equal(j.operations[0].state, SF_RESTORE_FAILED);
    assert_int_equal(j.operations[0].blocking_reason_count, 1);
    assert_string_equal(j.operations[0].blocking_reasons[0],
                        "runner-command-exit-1");
    assert_int_equal(j.failed_operations, 1);
    bytes(&j, &before);
    FAILS(sf_restore_journal_mark_completed(&j, 0, M1, &e_),
          "invalid-operation-transition", NULL,
          "restore apply journal operation 0 cannot transition from Failed "
          "to Completed");
    FAILS(sf_restore_journal_mark_pending(&j, 0, M1, &e_),
          "invalid-operation-transition", NULL, NULL);
    bytes(&j, &after);
    assert_same(&before, &after);
    OK(sf_restore_journal_retry_failed(&j, 0, NULL, &e_));
    assert_int_equal(j.operations[0].state, SF_RESTORE_READY);
    assert_int_equal(j.operations[0].blocking_reason_count, 0);
    /* No marker removes the old one. */
    assert_null(j.operations[0].state_updated_at);
    /* Retry also releases a pending operation, as canic's does. */
    OK(sf_restore_journal_mark_pending(&j, 0, M1, &e_));
    OK(sf_restore_journal_retry_failed(&j, 0, M2, &e_));
    assert_int_equal(j.operations[0].state, SF_RESTORE_READY);
    sf_buf_free(&before);
    sf_buf_free(&after);
    sf_restore_journal_free(&j);
}

/* snapfleet's moves beside others (several operations in flight): per
 * canister order instead of canic's "only the next operation moves";
 * canic's own transitions unchanged beside them. */
static void test_move_beside(void **s)
{
    sf_restore_journal j;
    sf_buf before, after;

    (void)s;
    load("valid-ready.json", &j);
    /* the reason first, as mark_failed */
    FAILS(sf_restore_journal_move_beside(&j, 999, SF_RESTORE_FAILED, " ", M1,
                                         &e_),
          "failure-reason-required", "reason",
          "failed restore apply journal operation 999 requires a reason");
    FAILS(sf_restore_journal_move_beside(&j, 99, SF_RESTORE_PENDING, NULL, M1,
                                         &e_),
          "operation-not-found", "sequence",
          "restore apply journal operation 99 was not found");
    /* several uploads of different canisters claimed at once */
    OK(sf_restore_journal_mark_pending(&j, S_UP_ROOT, M1, &e_));
    OK(sf_restore_journal_move_beside(&j, S_UP_WORKER, SF_RESTORE_PENDING,
                                      NULL, M1, &e_));
    OK(sf_restore_journal_move_beside(&j, 3, SF_RESTORE_PENDING, NULL, M2,
                                      &e_));
    assert_int_equal(j.pending_operations, 3);
    assert_int_equal(j.operations[3].state, SF_RESTORE_PENDING);
    assert_string_equal(j.operations[3].state_updated_at, M2);
    assert_valid(&j);
    /* canic's transitions keep canic's order */
    FAILS(sf_restore_journal_mark_pending(&j, S_UP_APP, M1, &e_),
          "out-of-order-operation-transition", "sequence",
          "restore apply journal operation 1 cannot advance before "
          "operation 0");
    FAILS(sf_restore_journal_mark_completed(&j, 3, M1, &e_),
          "out-of-order-operation-transition", NULL, NULL);
    /* a canister's own operations keep their order */
    bytes(&j, &before);
    FAILS(sf_restore_journal_move_beside(&j, S_STOP_ROOT, SF_RESTORE_PENDING,
                                         NULL, M1, &e_),
          "out-of-order-operation-transition", "sequence",
          "restore apply journal operation 4 cannot advance before "
          "operation 0 of the same canister");
    FAILS(sf_restore_journal_move_beside(&j, S_LOAD_APP, SF_RESTORE_COMPLETED,
                                         NULL, M1, &e_),
          "out-of-order-operation-transition", NULL,
          "restore apply journal operation 9 cannot advance before "
          "operation 1 of the same canister");
    FAILS(sf_restore_journal_move_beside(&j, S_LOAD_APP, SF_RESTORE_FAILED,
                                         "x", M1, &e_),
          "out-of-order-operation-transition", NULL, NULL);
    /* canic's table: ready -> ready is no move, completed only repeats */
    FAILS(sf_restore_journal_move_beside(&j, S_UP_APP, SF_RESTORE_READY, NULL,
                                         M1, &e_),
          "invalid-operation-transition", "operations[1].state",
          "restore apply journal operation 1 cannot transition from Ready "
          "to Ready");
    FAILS(sf_restore_journal_move_beside(&j, S_UP_APP, SF_RESTORE_BLOCKED, NULL,
                                         M1, &e_),
          "invalid-operation-transition", NULL, NULL);
    /* the final validation: a blank marker */
    FAILS(sf_restore_journal_move_beside(&j, S_UP_APP, SF_RESTORE_PENDING,
                                         NULL, "  ", &e_),
          "missing-field", "operations[1].state_updated_at", NULL);
    bytes(&j, &after);
    assert_same(&before, &after);
    sf_buf_free(&after);
    sf_buf_free(&before);
    /* pending ones end in any order: completed, failed, released */
    OK(sf_restore_journal_move_beside(&j, 3, SF_RESTORE_COMPLETED, NULL, M2,
                                      &e_));
    OK(sf_restore_journal_move_beside(&j, S_UP_WORKER, SF_RESTORE_FAILED,
                                      "boom", M2, &e_));
    assert_int_equal(j.operations[S_UP_WORKER].blocking_reason_count, 1);
    assert_string_equal(j.operations[S_UP_WORKER].blocking_reasons[0], "boom");
    FAILS(sf_restore_journal_move_beside(&j, 3, SF_RESTORE_READY, NULL, M1,
                                         &e_),
          "invalid-operation-transition", NULL,
          "restore apply journal operation 3 cannot transition from "
          "Completed to Ready");
    FAILS(sf_restore_journal_move_beside(&j, S_UP_WORKER, SF_RESTORE_COMPLETED,
                                         NULL, M1, &e_),
          "invalid-operation-transition", NULL, NULL);
    /* a failed one made ready again though operation 0 is next */
    OK(sf_restore_journal_move_beside(&j, S_UP_WORKER, SF_RESTORE_READY, NULL,
                                      M2, &e_));
    assert_int_equal(j.operations[S_UP_WORKER].blocking_reason_count, 0);
    /* the canister's next operation once its earlier ones completed */
    OK(sf_restore_journal_move_beside(&j, 7, SF_RESTORE_PENDING, NULL, M1,
                                      &e_));
    /* operation 0 released: the next operation is ready again, a later
     * claim of another canister stays */
    OK(sf_restore_journal_move_beside(&j, S_UP_ROOT, SF_RESTORE_READY, NULL,
                                      M2, &e_));
    assert_int_equal(j.pending_operations, 1);
    assert_int_equal(j.ready_operations, N_OPS - 2);
    assert_int_equal(sf_restore_journal_next_transition(&j)->sequence, 0);
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

/* snapfleet: a transition the final validation refuses leaves the journal
 * exactly as it was (canic kept the new state in memory). */
static void test_refused_transition_changes_nothing(void **s)
{
    sf_restore_journal j;
    sf_buf before, after;

    (void)s;
    load("valid-ready.json", &j);
    bytes(&j, &before);
    FAILS(sf_restore_journal_mark_pending(&j, 0, "  ", &e_), "missing-field",
          "operations[0].state_updated_at", NULL);
    bytes(&j, &after);
    assert_same(&before, &after);
    assert_int_equal(j.operations[0].state, SF_RESTORE_READY);
    assert_int_equal(j.pending_operations, 0);
    sf_buf_free(&after);
    /* A transition checks the operation it moves (the journal was valid
     * before: it was read, built or replayed whole); here that operation
     * is invalid: refused, unchanged. */
    set_str(&j.operations[3].role, "");
    FAILS(sf_restore_journal_move_beside(&j, 3, SF_RESTORE_FAILED, "x", M1,
                                         &e_),
          "missing-field", "operations[3].role", NULL);
    assert_int_equal(j.operations[3].state, SF_RESTORE_READY);
    assert_null(j.operations[3].state_updated_at);
    assert_int_equal(j.failed_operations, 0);
    assert_int_equal(j.ready_operations, N_OPS);
    /* Another operation's fault is the whole validation's to find, at the
     * next checkpoint write or read. */
    OK(sf_restore_journal_mark_failed(&j, 0, "x", M1, &e_));
    FAILS(sf_restore_journal_write_json(&j, &after, &e_), "missing-field",
          "operations[3].role", NULL);
    sf_buf_free(&before);
    sf_restore_journal_free(&j);
}

static void same_bytes(const sf_restore_journal *j, const sf_buf *before)
{
    sf_buf after;

    bytes(j, &after);
    assert_same(before, &after);
    sf_buf_free(&after);
}

/* The one rule of the whole validation a transition can break (a blank
 * state_updated_at at the operation it moves), through every entry point
 * and from every state it can leave; each refusal leaves the journal as it
 * was, each move keeps the counters right. */
static void test_every_transition_refuses_a_blank_marker(void **s)
{
    sf_restore_journal j;
    sf_buf before;

#define BLANK(call)                                                           \
    do {                                                                      \
        bytes(&j, &before);                                                   \
        FAILS(call, "missing-field", "operations[0].state_updated_at",        \
              "restore apply journal field operations[].state_updated_at "    \
              "is required");                                                 \
        same_bytes(&j, &before);                                              \
        sf_buf_free(&before);                                                 \
    } while (0)

    (void)s;
    load("valid-ready.json", &j);
    /* from ready */
    BLANK(sf_restore_journal_mark_next_pending(&j, " ", &e_));
    BLANK(sf_restore_journal_mark_pending(&j, 0, "\t", &e_));
    BLANK(sf_restore_journal_mark_completed(&j, 0, "", &e_));
    BLANK(sf_restore_journal_mark_failed(&j, 0, "x", " ", &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_PENDING, NULL, " ",
                                         &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_COMPLETED, NULL,
                                         " ", &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_FAILED, "x", " ",
                                         &e_));
    /* from pending */
    OK(sf_restore_journal_mark_pending(&j, 0, M1, &e_));
    assert_valid(&j);
    BLANK(sf_restore_journal_mark_next_ready(&j, " ", &e_));
    BLANK(sf_restore_journal_mark_ready(&j, 0, " ", &e_));
    BLANK(sf_restore_journal_mark_pending(&j, 0, " ", &e_));
    BLANK(sf_restore_journal_mark_completed(&j, 0, " ", &e_));
    BLANK(sf_restore_journal_mark_failed(&j, 0, "x", " ", &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_READY, NULL, " ",
                                         &e_));
    /* from failed */
    OK(sf_restore_journal_mark_failed(&j, 0, "x", M1, &e_));
    assert_valid(&j);
    assert_int_equal(j.failed_operations, 1);
    assert_int_equal(j.pending_operations, 0);
    BLANK(sf_restore_journal_retry_failed(&j, 0, " ", &e_));
    BLANK(sf_restore_journal_mark_failed(&j, 0, "y", " ", &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_READY, NULL, " ",
                                         &e_));
    /* from completed */
    OK(sf_restore_journal_retry_failed(&j, 0, M1, &e_));
    OK(sf_restore_journal_mark_completed(&j, 0, M2, &e_));
    assert_valid(&j);
    assert_int_equal(j.completed_operations, 1);
    assert_int_equal(j.ready_operations, N_OPS - 1);
    assert_int_equal(j.failed_operations, 0);
    BLANK(sf_restore_journal_mark_completed(&j, 0, " ", &e_));
    BLANK(sf_restore_journal_move_beside(&j, 0, SF_RESTORE_COMPLETED, NULL,
                                         " ", &e_));
#undef BLANK
    sf_restore_journal_free(&j);
}

/* A journal whose operations are not stored in sequence order (valid: the
 * sequences are 0..n-1): transitions and receipts find the right one and
 * name its position. */
static void test_operations_out_of_array_order(void **s)
{
    sf_restore_journal j;
    sf_restore_journal_op t;
    sf_restore_receipt r;

    (void)s;
    load("valid-ready.json", &j);
    t = j.operations[0];
    j.operations[0] = j.operations[1];
    j.operations[1] = t;
    assert_valid(&j);
    FAILS(sf_restore_journal_mark_pending(&j, 0, " ", &e_), "missing-field",
          "operations[1].state_updated_at", NULL);
    OK(sf_restore_journal_mark_pending(&j, 0, M1, &e_));
    assert_int_equal(j.operations[1].state, SF_RESTORE_PENDING);
    assert_int_equal(j.operations[0].state, SF_RESTORE_READY);
    OK(sf_restore_receipt_init(&r, &j.operations[0],
                               SF_RESTORE_COMMAND_FAILED, 1, M1, &e_));
    r.failure_reason = xstrdup("runner-command-exit-1");
    OK(sf_restore_journal_record_receipt(&j, &r, &e_));
    assert_int_equal(j.receipts[0].sequence, S_UP_APP);
    set_str(&r.target_canister, T1);
    FAILS(sf_restore_journal_record_receipt(&j, &r, &e_),
          "operation-receipt-mismatch",
          "operation_receipts[1].target_canister", NULL);
    assert_int_equal(j.receipt_count, 1);
    sf_restore_receipt_free(&r);
    assert_valid(&j);
    sf_restore_journal_free(&j);
}

/* ---- receipts ---- */

static void completed_upload_receipt(const sf_restore_journal *j,
                                     uint64_t seq, const char *uploaded,
                                     sf_restore_receipt *r)
{
    OK(sf_restore_receipt_init(r, sf_restore_journal_find(j, seq),
                               SF_RESTORE_COMMAND_COMPLETED,
                               sf_restore_journal_attempt(j, seq), M1, &e_));
    r->status = xstrdup("0");
    r->uploaded_snapshot_id = xstrdup(uploaded);
}

static void test_receipt_init_and_record(void **s)
{
    sf_restore_journal j;
    sf_restore_receipt r;
    sf_buf before, after;
    const sf_restore_journal_op *op;

    (void)s;
    load("valid-ready.json", &j);
    op = sf_restore_journal_find(&j, S_UP_APP);
    OK(sf_restore_receipt_init(&r, op, SF_RESTORE_COMMAND_FAILED, 3, M2,
                               &e_));
    assert_int_equal(r.sequence, S_UP_APP);
    assert_int_equal(r.kind, SF_RESTORE_OP_UPLOAD_SNAPSHOT);
    assert_int_equal(r.outcome, SF_RESTORE_COMMAND_FAILED);
    assert_string_equal(r.source_canister, APP);
    assert_string_equal(r.target_canister, APP);
    assert_int_equal(r.attempt, 3);
    assert_string_equal(r.updated_at, M2);
    assert_string_equal(r.source_snapshot_id, "snap-app");
    assert_string_equal(r.artifact_path, op->artifact_path);
    assert_null(r.command);
    assert_null(r.uploaded_snapshot_id);
    assert_null(r.failure_reason);
    /* A failed receipt without a reason is refused and not kept. */
    bytes(&j, &before);
    FAILS(sf_restore_journal_record_receipt(&j, &r, &e_), "missing-field",
          "operation_receipts[0].failure_reason", NULL);
    assert_int_equal(j.receipt_count, 0);
    bytes(&j, &after);
    assert_same(&before, &after);
    sf_buf_free(&after);
    r.failure_reason = xstrdup("runner-command-exit-1");
    OK(sf_restore_journal_record_receipt(&j, &r, &e_));
    assert_int_equal(j.receipt_count, 1);
    /* The journal holds its own copy. */
    set_str(&r.failure_reason, "changed");
    assert_string_equal(j.receipts[0].failure_reason,
                        "runner-command-exit-1");
    sf_restore_receipt_free(&r);
    /* Several receipts per sequence; attempt counts them. */
    assert_int_equal(sf_restore_journal_attempt(&j, S_UP_APP), 2);
    assert_int_equal(sf_restore_journal_attempt(&j, S_UP_ROOT), 1);
    completed_upload_receipt(&j, S_UP_APP, "up-app", &r);
    assert_int_equal(r.attempt, 2);
    OK(sf_restore_journal_record_receipt(&j, &r, &e_));
    sf_restore_receipt_free(&r);
    assert_int_equal(sf_restore_journal_attempt(&j, S_UP_APP), 3);
    /* Refusals: unknown operation, mismatch, missing uploaded id. */
    sf_buf_free(&before);
    bytes(&j, &before);
    completed_upload_receipt(&j, S_UP_ROOT, "up", &r);
    r.sequence = 77;
    FAILS(sf_restore_journal_record_receipt(&j, &r, &e_),
          "operation-receipt-operation-not-found",
          "operation_receipts[2].sequence", NULL);
    r.sequence = S_UP_ROOT;
    set_str(&r.target_canister, T1);
    FAILS(sf_restore_journal_record_receipt(&j, &r, &e_),
          "operation-receipt-mismatch", "operation_receipts[2].target_canister",
          NULL);
    set_str(&r.target_canister, ROOT);
    set_str(&r.uploaded_snapshot_id, NULL);
    FAILS(sf_restore_journal_record_receipt(&j, &r, &e_), "missing-field",
          "operation_receipts[2].uploaded_snapshot_id", NULL);
    bytes(&j, &after);
    assert_same(&before, &after);
    sf_restore_receipt_free(&r);
    sf_buf_free(&before);
    sf_buf_free(&after);
    sf_restore_journal_free(&j);
}

/* Every receipt rule of the whole validation, and the receipt's shape,
 * refused at recording with the new receipt's slot; the journal is left as
 * it was. */
static void test_record_receipt_refusals(void **s)
{
    sf_restore_journal j;
    sf_restore_receipt r;
    sf_restore_command cmd;
    sf_restore_output out;
    sf_buf before;

#define REFUSED(kind, field)                                                  \
    do {                                                                      \
        FAILS(sf_restore_journal_record_receipt(&j, &r, &e_), kind, field,    \
              NULL);                                                          \
        assert_int_equal(j.receipt_count, 1);                                 \
        same_bytes(&j, &before);                                              \
    } while (0)

    (void)s;
    load("valid-ready.json", &j);
    completed_upload_receipt(&j, S_UP_APP, "up-app", &r);
    OK(sf_restore_journal_record_receipt(&j, &r, &e_));
    sf_restore_receipt_free(&r);
    bytes(&j, &before);
    completed_upload_receipt(&j, S_UP_ROOT, "up-root", &r);
    r.sequence = N_OPS;
    REFUSED("operation-receipt-operation-not-found",
            "operation_receipts[1].sequence");
    r.sequence = S_UP_ROOT;
    r.kind = SF_RESTORE_OP_LOAD_SNAPSHOT;
    REFUSED("operation-receipt-mismatch", "operation_receipts[1].operation");
    r.kind = SF_RESTORE_OP_UPLOAD_SNAPSHOT;
    set_str(&r.source_canister, APP);
    REFUSED("operation-receipt-mismatch",
            "operation_receipts[1].source_canister");
    set_str(&r.source_canister, ROOT);
    set_str(&r.target_canister, NULL);
    REFUSED("operation-receipt-mismatch",
            "operation_receipts[1].target_canister");
    set_str(&r.target_canister, ROOT);
    set_str(&r.source_snapshot_id, " ");
    REFUSED("missing-field", "operation_receipts[1].source_snapshot_id");
    set_str(&r.source_snapshot_id, "snap-root");
    set_str(&r.artifact_path, NULL);
    REFUSED("missing-field", "operation_receipts[1].artifact_path");
    set_str(&r.artifact_path, j.operations[S_UP_ROOT].artifact_path);
    set_str(&r.uploaded_snapshot_id, "");
    REFUSED("missing-field", "operation_receipts[1].uploaded_snapshot_id");
    r.outcome = SF_RESTORE_COMMAND_FAILED;
    REFUSED("missing-field", "operation_receipts[1].failure_reason");
    set_str(&r.failure_reason, "runner-command-exit-1");
    /* the shape the document needs */
    r.outcome = (sf_restore_outcome)7;
    REFUSED("usage", NULL);
    r.outcome = SF_RESTORE_COMMAND_FAILED;
    memset(&cmd, 0, sizeof cmd);
    cmd.note = "n";
    r.command = &cmd;
    REFUSED("usage", NULL);
    r.command = NULL;
    memset(&out, 0, sizeof out);
    r.cmd_stderr = &out;
    REFUSED("usage", NULL);
    r.cmd_stderr = NULL;
    OK(sf_restore_journal_record_receipt(&j, &r, &e_));
    assert_int_equal(j.receipt_count, 2);
    assert_valid(&j);
#undef REFUSED
    sf_restore_receipt_free(&r);
    sf_buf_free(&before);
    sf_restore_journal_free(&j);
}

static void test_output_capture(void **s)
{
    sf_restore_output o;

    (void)s;
    OK(sf_restore_output_capture(&o, "abcdef", 6, 3, &e_));
    assert_string_equal(o.text, "def");
    assert_true(o.truncated);
    assert_int_equal(o.original_bytes, 6);
    sf_restore_output_free(&o);
    OK(sf_restore_output_capture(&o, "abc", 3, 3, &e_));
    assert_string_equal(o.text, "abc");
    assert_false(o.truncated);
    sf_restore_output_free(&o);
    OK(sf_restore_output_capture(&o, NULL, 0, SF_RESTORE_OUTPUT_LIMIT, &e_));
    assert_string_equal(o.text, "");
    assert_int_equal(o.original_bytes, 0);
    sf_restore_output_free(&o);
    /* The tail may split a character: the stray bytes become U+FFFD. */
    OK(sf_restore_output_capture(&o, "x\xc3\xa9z", 4, 2, &e_));
    assert_string_equal(o.text, "\xef\xbf\xbdz");
    assert_true(o.truncated);
    sf_restore_output_free(&o);
}

static void test_uploaded_snapshot_id_lookup(void **s)
{
    sf_restore_journal j;
    sf_restore_journal_op *load_app;
    sf_restore_receipt *r;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    load_app = sf_restore_journal_find(&j, S_LOAD_APP);
    r = &j.receipts[1];
    assert_string_equal(sf_restore_journal_uploaded_snapshot_id(&j, load_app),
                        "uploaded-snap-app");
    /* (a) a failed receipt does not count */
    r->outcome = SF_RESTORE_COMMAND_FAILED;
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    r->outcome = SF_RESTORE_COMMAND_COMPLETED;
    /* (b) other canisters */
    set_str(&r->target_canister, T1);
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    set_str(&r->target_canister, APP);
    /* (c) other snapshot or artifact (null-aware) */
    set_str(&r->source_snapshot_id, "snap-other");
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    set_str(&r->source_snapshot_id, "snap-app");
    set_str(&r->artifact_path, NULL);
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    set_str(&r->artifact_path, load_app->artifact_path);
    /* (d) a blank id */
    set_str(&r->uploaded_snapshot_id, " ");
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    set_str(&r->uploaded_snapshot_id, "uploaded-snap-app");
    /* (e) the upload operation must be completed */
    j.operations[S_UP_APP].state = SF_RESTORE_PENDING;
    assert_null(sf_restore_journal_uploaded_snapshot_id(&j, load_app));
    j.operations[S_UP_APP].state = SF_RESTORE_COMPLETED;
    /* The first matching receipt wins. */
    r = &j.receipts[0];
    r->sequence = S_UP_APP;
    set_str(&r->source_canister, APP);
    set_str(&r->target_canister, APP);
    set_str(&r->source_snapshot_id, "snap-app");
    set_str(&r->artifact_path, load_app->artifact_path);
    set_str(&r->uploaded_snapshot_id, "first");
    assert_string_equal(sf_restore_journal_uploaded_snapshot_id(&j, load_app),
                        "first");
    /* Only loads have one. */
    assert_null(sf_restore_journal_uploaded_snapshot_id(
        &j, sf_restore_journal_find(&j, S_UP_APP)));
    sf_restore_journal_free(&j);
}

/* ---- what the next command is ---- */

static void test_command_specs(void **s)
{
    sf_restore_journal j;
    sf_restore_command_spec c;
    char want[512];

    (void)s;
    load("valid-in-progress-pending.json", &j);
    OK(sf_restore_journal_command_spec(&j, S_STOP_ROOT, &c, &e_));
    assert_int_equal(c.kind, SF_RESTORE_OP_STOP_CANISTER);
    assert_string_equal(c.target_canister, ROOT);
    assert_true(c.mutates);
    assert_false(c.requires_stopped_canister);
    assert_string_equal(c.note,
                        "stops the target canister before snapshot restore");
    assert_null(c.snapshot_id);
    assert_null(c.input_path);
    assert_int_equal(c.attempt, 1);
    sf_restore_command_spec_free(&c);
    OK(sf_restore_journal_command_spec(&j, S_START_WORKER2, &c, &e_));
    assert_string_equal(c.target_canister, WORKER2);
    assert_string_equal(c.note,
                        "starts the target canister after snapshot restore");
    sf_restore_command_spec_free(&c);
    /* Upload: input = backup_root / artifact_path; no --resume on a
     * first attempt (snapfleet), resume once an attempt is on record. */
    OK(sf_restore_journal_command_spec(&j, S_UP_WORKER, &c, &e_));
    snprintf(want, sizeof want, "backups/backup-restore-demo/artifacts/%s",
             WORKER);
    assert_string_equal(c.input_path, want);
    assert_string_equal(c.snapshot_id, "snap-worker");
    assert_true(c.mutates);
    assert_string_equal(c.note, "uploads the downloaded snapshot artifact to "
                                "the target canister");
    assert_int_equal(c.attempt, 2);
    assert_true(c.resume);
    sf_restore_command_spec_free(&c);
    sf_restore_journal_free(&j);
    load("valid-ready.json", &j);
    OK(sf_restore_journal_command_spec(&j, S_UP_WORKER, &c, &e_));
    assert_int_equal(c.attempt, 1);
    assert_false(c.resume);
    sf_restore_command_spec_free(&c);
    /* A load needs its upload's receipt. */
    FAILS(sf_restore_journal_command_spec(&j, S_LOAD_ROOT, &c, &e_),
          "command-unavailable", NULL, NULL);
    sf_restore_journal_free(&j);
    load("valid-in-progress-pending.json", &j);
    OK(sf_restore_journal_command_spec(&j, S_LOAD_ROOT, &c, &e_));
    assert_string_equal(c.snapshot_id, "uploaded-snap-root");
    assert_true(c.requires_stopped_canister);
    assert_true(c.mutates);
    assert_string_equal(c.note,
                        "loads the uploaded snapshot into the target canister");
    sf_restore_command_spec_free(&c);
    OK(sf_restore_journal_command_spec(&j, S_VERIFY_ROOT, &c, &e_));
    assert_false(c.mutates);
    assert_string_equal(c.verification_kind, "status");
    assert_string_equal(c.note, "checks target canister status");
    sf_restore_command_spec_free(&c);
    OK(sf_restore_journal_command_spec(&j, S_VERIFY_FLEET, &c, &e_));
    assert_string_equal(c.target_canister, ROOT);
    assert_string_equal(c.note, "checks target fleet root canister status");
    sf_restore_command_spec_free(&c);
    /* Not renderable: another verification kind, no backup root, a path
     * that escapes, an unknown sequence. */
    set_str(&j.operations[S_VERIFY_APP].verification_kind, "query");
    FAILS(sf_restore_journal_command_spec(&j, S_VERIFY_APP, &c, &e_),
          "command-unavailable", NULL, NULL);
    set_str(&j.operations[S_UP_WORKER].artifact_path, "../elsewhere");
    FAILS(sf_restore_journal_command_spec(&j, S_UP_WORKER, &c, &e_),
          "command-unavailable", NULL, NULL);
    set_str(&j.backup_root, NULL);
    FAILS(sf_restore_journal_command_spec(&j, S_UP_APP, &c, &e_),
          "command-unavailable", NULL,
          "restore apply journal operation 1 upload-snapshot has no command: "
          "the journal has no backup_root");
    FAILS(sf_restore_journal_command_spec(&j, 40, &c, &e_),
          "operation-not-found", NULL, NULL);
    assert_null(c.target_canister);
    sf_restore_journal_free(&j);
}

static void test_command_preview(void **s)
{
    static const char want[] =
        "{\n"
        "  \"response_version\": 1,\n"
        "  \"backup_id\": \"backup-restore-demo\",\n"
        "  \"ready\": true,\n"
        "  \"complete\": false,\n"
        "  \"operation_available\": true,\n"
        "  \"command_available\": true,\n"
        "  \"blocked_reasons\": [],\n"
        "  \"operation\": {\n"
        "    \"sequence\": 4,\n"
        "    \"operation\": \"stop-canister\",\n"
        "    \"state\": \"pending\",\n"
        "    \"state_updated_at\": \"unix:1768480020\",\n"
        "    \"blocking_reasons\": [],\n"
        "    \"member_order\": 0,\n"
        "    \"source_canister\": \"aaaaa-aa\",\n"
        "    \"target_canister\": \"aaaaa-aa\",\n"
        "    \"role\": \"root\",\n"
        "    \"snapshot_id\": null,\n"
        "    \"artifact_path\": null,\n"
        "    \"verification_kind\": null\n"
        "  },\n"
        "  \"command\": {\n"
        "    \"program\": \"icp\",\n"
        "    \"args\": [\n"
        "      \"canister\",\n"
        "      \"stop\",\n"
        "      \"aaaaa-aa\"\n"
        "    ],\n"
        "    \"mutates\": true,\n"
        "    \"requires_stopped_canister\": false,\n"
        "    \"note\": \"stops the target canister before snapshot restore\"\n"
        "  }\n"
        "}";
    static char *args[] = {"canister", "stop", ROOT};
    sf_restore_command cmd = {"icp", args, 3, true, false,
                              "stops the target canister before snapshot "
                              "restore"};
    sf_restore_journal j;
    sf_buf b;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    sf_buf_init(&b);
    OK(sf_restore_command_preview_write_json(&j, &cmd, &b, &e_));
    assert_string_equal(b.data, want);
    sf_buf_reset(&b);
    OK(sf_restore_command_preview_write_json(&j, NULL, &b, &e_));
    assert_non_null(strstr(b.data, "\"command_available\": false,"));
    assert_non_null(strstr(b.data, "\"command\": null\n}"));
    sf_restore_journal_free(&j);
    /* A blocked journal has nothing to do. */
    load("valid-blocked-no-validation.json", &j);
    sf_buf_reset(&b);
    OK(sf_restore_command_preview_write_json(&j, NULL, &b, &e_));
    assert_non_null(strstr(b.data, "\"ready\": false,\n  \"complete\": false,\n"
                                   "  \"operation_available\": false,\n"));
    assert_non_null(strstr(b.data, "\"blocked_reasons\": [\n    "
                                   "\"missing-artifact-validation\"\n  ],\n"
                                   "  \"operation\": null,\n"));
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
}

/* ---- reports ---- */

static void test_report_outcomes_and_labels(void **s)
{
    sf_restore_journal j;
    sf_restore_report r;

    (void)s;
    load("valid-ready.json", &j);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_IN_PROGRESS);
    assert_false(r.attention_required);
    assert_string_equal(sf_restore_report_next_action(&r), "rerun");
    assert_string_equal(sf_restore_report_stopped_reason(&r, false, false),
                        "preview");
    assert_string_equal(sf_restore_report_stopped_reason(&r, false, true),
                        "ready");
    assert_string_equal(sf_restore_report_stopped_reason(&r, true, true),
                        "max-steps-reached");
    assert_int_equal(r.progress.transitionable_operations, N_OPS);
    assert_int_equal(r.progress.attention_operations, 0);
    assert_int_equal(r.next_transition->sequence, 0);
    /* pending */
    force(&j, 0, SF_RESTORE_PENDING);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_PENDING);
    assert_true(r.attention_required);
    assert_string_equal(sf_restore_report_next_action(&r), "unclaim-pending");
    assert_string_equal(sf_restore_report_stopped_reason(&r, true, true),
                        "pending");
    /* blocked beats pending in the outcome, not in the labels */
    force(&j, 20, SF_RESTORE_BLOCKED);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_BLOCKED);
    assert_string_equal(sf_restore_report_next_action(&r), "unclaim-pending");
    assert_string_equal(sf_restore_report_stopped_reason(&r, false, false),
                        "pending");
    assert_int_equal(r.progress.attention_operations, 2);
    force(&j, 0, SF_RESTORE_READY);
    sf_restore_journal_report(&j, &r);
    assert_string_equal(sf_restore_report_next_action(&r),
                        "fix-blocked-journal");
    assert_string_equal(sf_restore_report_stopped_reason(&r, false, false),
                        "blocked");
    /* failed beats everything but complete */
    force(&j, 1, SF_RESTORE_FAILED);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_FAILED);
    assert_string_equal(sf_restore_report_next_action(&r),
                        "inspect-failed-operation");
    assert_string_equal(sf_restore_report_stopped_reason(&r, false, false),
                        "command-failed");
    assert_int_equal(r.progress.transitionable_operations, N_OPS - 2);
    assert_int_equal(r.next_transition->sequence, 0);
    sf_restore_journal_free(&j);
    /* not ready without blocked operations is still blocked */
    load("valid-ready.json", &j);
    j.ready = false;
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_BLOCKED);
    sf_restore_journal_free(&j);
    /* complete */
    load("valid-complete.json", &j);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_COMPLETE);
    assert_string_equal(sf_restore_report_next_action(&r), "done");
    assert_string_equal(sf_restore_report_stopped_reason(&r, true, true),
                        "complete");
    assert_null(r.next_transition);
    sf_restore_journal_free(&j);
    /* empty */
    memset(&j, 0, sizeof j);
    j.journal_version = 1;
    j.backup_id = xstrdup("b");
    j.ready = true;
    assert_valid(&j);
    sf_restore_journal_report(&j, &r);
    assert_int_equal(r.outcome, SF_RESTORE_REPORT_EMPTY);
    assert_false(r.complete);
    assert_int_equal(r.progress.completion_basis_points, 0);
    assert_false(r.attention_required);
    sf_restore_journal_free(&j);
}

static void test_report_fields_exact(void **s)
{
    static const char want[] =
        "{\n"
        "  \"backup_id\": \"backup-restore-demo\",\n"
        "  \"ready\": true,\n"
        "  \"complete\": false,\n"
        "  \"attention_required\": true,\n"
        "  \"outcome\": \"pending\",\n"
        "  \"operation_count\": 23,\n"
        "  \"operation_counts\": {\n"
        "    \"canister_stops\": 4,\n"
        "    \"canister_starts\": 4,\n"
        "    \"snapshot_uploads\": 4,\n"
        "    \"snapshot_loads\": 4,\n"
        "    \"member_verifications\": 6,\n"
        "    \"fleet_verifications\": 1,\n"
        "    \"verification_operations\": 7\n"
        "  },\n"
        "  \"progress\": {\n"
        "    \"operation_count\": 23,\n"
        "    \"completed_operations\": 4,\n"
        "    \"remaining_operations\": 19,\n"
        "    \"transitionable_operations\": 19,\n"
        "    \"attention_operations\": 1,\n"
        "    \"completion_basis_points\": 1739\n"
        "  },\n"
        "  \"pending_summary\": {\n"
        "    \"pending_operations\": 1,\n"
        "    \"pending_operation_available\": true,\n"
        "    \"pending_sequence\": 4,\n"
        "    \"pending_operation\": \"stop-canister\",\n"
        "    \"pending_updated_at\": \"unix:1768480020\",\n"
        "    \"pending_updated_at_known\": true\n"
        "  },\n"
        "  \"pending_operations\": 1,\n"
        "  \"ready_operations\": 18,\n"
        "  \"blocked_operations\": 0,\n"
        "  \"completed_operations\": 4,\n"
        "  \"failed_operations\": 0,\n"
        "  \"blocked_reasons\": [],\n"
        "  \"next_transition\": {\n"
        "    \"sequence\": 4,\n"
        "    \"operation\": \"stop-canister\",\n"
        "    \"state\": \"pending\",\n"
        "    \"member_order\": 0,\n"
        "    \"role\": \"root\",\n"
        "    \"source_canister\": \"aaaaa-aa\",\n"
        "    \"target_canister\": \"aaaaa-aa\",\n"
        "    \"state_updated_at\": \"unix:1768480020\",\n"
        "    \"reasons\": []\n"
        "  }\n"
        "}";
    sf_restore_journal j;
    sf_restore_report r;
    sf_buf b;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    sf_restore_journal_report(&j, &r);
    sf_buf_init(&b);
    OK(sf_restore_report_write_json(&r, &b, &e_));
    assert_string_equal(b.data, want);
    /* A marker of "unknown" is not known; no marker is null, not absent. */
    set_str(&j.operations[4].state_updated_at, "unknown");
    sf_restore_journal_report(&j, &r);
    sf_buf_reset(&b);
    OK(sf_restore_report_write_json(&r, &b, &e_));
    assert_non_null(strstr(b.data, "\"pending_updated_at_known\": false"));
    set_str(&j.operations[4].state_updated_at, NULL);
    sf_restore_journal_report(&j, &r);
    sf_buf_reset(&b);
    OK(sf_restore_report_write_json(&r, &b, &e_));
    assert_non_null(strstr(b.data, "\"pending_updated_at\": null,"));
    assert_non_null(strstr(b.data, "\"state_updated_at\": null,\n    "
                                   "\"reasons\": []"));
    sf_restore_journal_free(&j);
    /* Nothing pending, nothing next. */
    load("valid-complete.json", &j);
    sf_restore_journal_report(&j, &r);
    sf_buf_reset(&b);
    OK(sf_restore_report_write_json(&r, &b, &e_));
    assert_non_null(strstr(b.data,
                           "\"pending_operation_available\": false,\n    "
                           "\"pending_sequence\": null,\n    "
                           "\"pending_operation\": null,\n    "
                           "\"pending_updated_at\": null,\n    "
                           "\"pending_updated_at_known\": false\n"));
    assert_non_null(strstr(b.data, "\"next_transition\": null\n}"));
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
}

/* ---- the document ---- */

static void test_reading_defaults_and_omissions(void **s)
{
    sf_restore_journal j;
    sf_buf b;
    const sf_restore_receipt *r;

    (void)s;
    load("valid-lenient-older-journal.json", &j);
    assert_int_equal(j.operation_counts.canister_stops, 0);
    assert_int_equal(j.operation_counts.canister_starts, 0);
    r = &j.receipts[0];
    assert_int_equal(r->outcome, SF_RESTORE_COMMAND_COMPLETED);
    assert_int_equal(r->attempt, 0);
    assert_null(r->status);
    assert_null(r->command);
    assert_null(j.operations[0].verification_kind);
    bytes(&j, &b);
    /* Omitted when none: receipt options, state_updated_at. */
    assert_null(strstr(b.data, "\"status\""));
    assert_null(strstr(b.data, "\"stdout\""));
    assert_non_null(strstr(b.data, "\"outcome\": \"command-completed\",\n"
                                   "      \"source_canister\""));
    assert_non_null(strstr(b.data, "\"attempt\": 0,\n"));
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
    /* Absent receipts read as none and stay absent. */
    load("valid-ready.json", &j);
    bytes(&j, &b);
    assert_null(strstr(b.data, "operation_receipts"));
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
}

static void test_copy(void **s)
{
    sf_restore_journal j, c;
    sf_buf a, b;

    (void)s;
    load("valid-failed-upload.json", &j);
    OK(sf_restore_journal_copy(&c, &j, &e_));
    sf_restore_journal_free(&j);
    bytes(&c, &a);
    load("valid-failed-upload.json", &j);
    bytes(&j, &b);
    assert_same(&a, &b);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
    sf_restore_journal_free(&c);
}

static void test_files(void **s)
{
    char dir[] = "/tmp/sf-restore-jfiles-XXXXXX", path[4096], cmd[4200];
    sf_restore_journal j, back;
    struct stat st;
    sf_buf a, b;

    (void)s;
    assert_non_null(mkdtemp(dir));
    load("valid-failed-upload.json", &j);
    snprintf(path, sizeof path, "%s/journal.json", dir);
    OK(sf_restore_journal_write_file(path, &j, &e_));
    OK(sf_restore_journal_read_file(path, &back, &e_));
    bytes(&j, &a);
    bytes(&back, &b);
    assert_same(&a, &b);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_journal_free(&back);
    j.failed_operations = 0;
    snprintf(path, sizeof path, "%s/bad.json", dir);
    FAILS(sf_restore_journal_write_file(path, &j, &e_), "count-mismatch",
          "failed_operations", NULL);
    assert_int_not_equal(stat(path, &st), 0);
    FAILS(sf_restore_journal_read_file(path, &back, &e_), "io", NULL, NULL);
    assert_null(back.operations);
    sf_restore_journal_free(&j);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A part of a journal (the header, one operation, no receipts), as the
 * transition log records it: written without the semantic validation
 * (its counters no longer match), read back by the strict reader to the
 * same operation; the whole-document writer refuses it. A malformed
 * part is still refused. */
static void test_write_part(void **s)
{
    sf_restore_journal j, part, back;
    sf_buf b;
    sf_error err;

    (void)s;
    load("valid-in-progress-pending.json", &j);
    assert_true(j.operations_len > 1);
    part = j;
    part.operations = &j.operations[1];
    part.operations_len = 1;
    part.receipts = NULL;
    part.receipt_count = 0;
    sf_buf_init(&b);
    assert_int_equal(sf_restore_journal_write_json(&part, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "count-mismatch");
    assert_int_equal(b.len, 0);
    OK(sf_restore_journal_write_json_part(&part, &b, &e_));
    OK(sf_restore_journal_parse(b.data, b.len, &back, &e_));
    assert_int_equal(back.operations_len, 1);
    assert_int_equal(back.operations[0].sequence, j.operations[1].sequence);
    assert_int_equal(back.operations[0].state, j.operations[1].state);
    assert_string_equal(back.backup_id, j.backup_id);
    assert_int_equal(back.receipt_count, 0);
    sf_restore_journal_free(&back);
    /* a shape no document can hold */
    sf_buf_reset(&b);
    {
        sf_restore_state was = j.operations[1].state;

        j.operations[1].state = (sf_restore_state)9;
        assert_int_equal(sf_restore_journal_write_json_part(&part, &b, &err),
                         SF_ERR);
        assert_string_equal(err.kind, SF_EK_USAGE);
        j.operations[1].state = was;
    }
    sf_buf_free(&b);
    sf_restore_journal_free(&j);
}

static void test_sample_files(void **s)
{
    char *dirpath = data_path("journal");
    DIR *d = opendir(dirpath);
    struct dirent *ent;
    size_t valid = 0, broken = 0;

    (void)s;
    assert_non_null(d);
    while ((ent = readdir(d)) != NULL) {
        const char *name = ent->d_name, *end;
        char full[4096], kind[64];
        sf_restore_journal j, q;
        size_t len, n;
        sf_buf a, b;
        char *text;

        if (strncmp(name, "valid-", 6) != 0 &&
            strncmp(name, "broken-", 7) != 0)
            continue;
        snprintf(full, sizeof full, "%s/%s", dirpath, name);
        sf_error_clear(&e_);
        if (name[0] == 'v') {
            if (sf_restore_journal_read_file(full, &j, &e_) != SF_OK)
                fail_msg("%s: %s %s", name, e_.kind, e_.message);
            text = slurp(full, &len);
            bytes(&j, &a);
            if (strstr(name, "lenient") == NULL &&
                (a.len != len || memcmp(a.data, text, len) != 0))
                fail_msg("%s is not in canonical form", name);
            OK(sf_restore_journal_parse(a.data, a.len, &q, &e_));
            bytes(&q, &b);
            assert_same(&a, &b);
            sf_buf_free(&a);
            sf_buf_free(&b);
            sf_restore_journal_free(&q);
            sf_restore_journal_free(&j);
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
            if (sf_restore_journal_read_file(full, &j, &e_) == SF_OK)
                fail_msg("%s was accepted", name);
            if (e_.kind == NULL || strcmp(e_.kind, kind) != 0)
                fail_msg("%s: expected %s, got %s (%s)", name, kind,
                         e_.kind ? e_.kind : "(none)", e_.message);
            assert_null(j.operations);
            broken++;
        }
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= 6);
    assert_true(broken >= 25);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_from_dry_run_ready),
        cmocka_unit_test(test_from_dry_run_blocks_without_validation),
        cmocka_unit_test(test_from_dry_run_reasons_sorted_and_unique),
        cmocka_unit_test(test_end_to_end_ready_journal),
        cmocka_unit_test(test_unsupported_version),
        cmocka_unit_test(test_missing_header_fields),
        cmocka_unit_test(test_count_mismatches),
        cmocka_unit_test(test_ready_journal_has_blocking_state),
        cmocka_unit_test(test_sequences),
        cmocka_unit_test(test_operation_fields),
        cmocka_unit_test(test_operation_kind_fields),
        cmocka_unit_test(test_state_reasons),
        cmocka_unit_test(test_receipt_rules),
        cmocka_unit_test(test_validation_order),
        cmocka_unit_test(test_transition_table),
        cmocka_unit_test(test_mark_next_pending_claims_first_operation),
        cmocka_unit_test(test_unclaim_pending),
        cmocka_unit_test(test_out_of_order_transitions),
        cmocka_unit_test(test_operation_not_found),
        cmocka_unit_test(test_mark_completed_advances),
        cmocka_unit_test(test_mark_failed_and_retry),
        cmocka_unit_test(test_move_beside),
        cmocka_unit_test(test_refused_transition_changes_nothing),
        cmocka_unit_test(test_every_transition_refuses_a_blank_marker),
        cmocka_unit_test(test_operations_out_of_array_order),
        cmocka_unit_test(test_receipt_init_and_record),
        cmocka_unit_test(test_record_receipt_refusals),
        cmocka_unit_test(test_output_capture),
        cmocka_unit_test(test_uploaded_snapshot_id_lookup),
        cmocka_unit_test(test_command_specs),
        cmocka_unit_test(test_command_preview),
        cmocka_unit_test(test_report_outcomes_and_labels),
        cmocka_unit_test(test_report_fields_exact),
        cmocka_unit_test(test_reading_defaults_and_omissions),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_sample_files),
        cmocka_unit_test(test_write_part),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
