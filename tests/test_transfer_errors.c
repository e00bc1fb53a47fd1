/* Uploads (core/engine/transfer.c) when icp's answers are not the happy
 * ones, against a scripted canister behind the mock driver: an upload
 * that completed but whose reply was unreadable is adopted when exactly
 * one snapshot is new, refused when more are; the sweep of what an
 * incomplete upload left logs each delete, gives up when deletes do not
 * take, and fails when a delete is refused; a listing that fails stops
 * the upload before anything is recorded. Also: a transfer directory
 * without a readable metadata.json never describes a snapshot. Every
 * refusal names the canister, and the observations say no snapshot was
 * adopted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "engine/engine.h"
#include "mock_driver.h"
#include "snapfleet/layout.h"
#include "tmpdir.h"

#define CANISTER "ryjl3-tyaaa-aaaaa-aaaba-cai"
/* snapshot ids are hex: the nth an upload made, and an operator's */
#define U(n) "000000000000000" #n
#define OPERATOR "00000000000000aa"

/* One canister's snapshots, as the IC would hold them. */
typedef struct canister {
    char ids[16][32];
    size_t count;
    unsigned next;        /* ids made: U(1), U(2), ... */
    /* scripted behaviour */
    int upload_makes;     /* snapshots an upload leaves (default 1) */
    bool upload_unreadable; /* the upload completes, its reply is unreadable */
    bool upload_lost;     /* the upload's outcome is unknown */
    bool delete_refused;  /* deletes fail, permanently */
    bool delete_no_effect; /* deletes "succeed" and the snapshot stays */
    int list_fail_after;  /* >0: the nth listing and later ones fail */
    int lists;
} canister;

static void add_snapshot(canister *c, const char *id)
{
    assert_true(c->count < 16);
    snprintf(c->ids[c->count++], sizeof c->ids[0], "%s", id);
}

static void hook(const sf_op *op, sf_result *r, void *ctx)
{
    canister *c = ctx;
    size_t i;

    switch (op->kind) {
    case SF_OP_LIST:
        if (c->list_fail_after > 0 && ++c->lists >= c->list_fail_after) {
            sf_result_fail(r, SF_FAIL_PERMANENT, "mock", "list refused");
            return;
        }
        r->snapshots = calloc(c->count ? c->count : 1, sizeof *r->snapshots);
        assert_non_null(r->snapshots);
        for (i = 0; i < c->count; i++)
            snprintf(r->snapshots[i].id, sizeof r->snapshots[i].id, "%s",
                     c->ids[i]);
        r->snapshot_count = c->count;
        return;
    case SF_OP_UPLOAD: {
        int k, makes = c->upload_makes ? c->upload_makes : 1;
        char id[32];

        for (k = 0; k < makes; k++) {
            snprintf(id, sizeof id, "%016x", ++c->next);
            add_snapshot(c, id);
        }
        snprintf(r->snapshot.id, sizeof r->snapshot.id, "%s", id);
        if (c->upload_unreadable)
            sf_result_fail(r, SF_FAIL_UNKNOWN, "icp-output", "icp's output "
                           "for upload is not icp's");
        else if (c->upload_lost)
            sf_result_fail(r, SF_FAIL_UNKNOWN, "mock", "reply lost");
        return;
    }
    case SF_OP_DELETE:
        if (c->delete_refused) {
            sf_result_fail(r, SF_FAIL_PERMANENT, "mock", "delete refused");
            return;
        }
        if (c->delete_no_effect)
            return;
        for (i = 0; i < c->count; i++) {
            if (strcmp(c->ids[i], op->snapshot_id) == 0) {
                memmove(c->ids[i], c->ids[i + 1],
                        (c->count - i - 1) * sizeof c->ids[0]);
                c->count--;
                break;
            }
        }
        return;
    default:
        return;
    }
}

typedef struct rig {
    sf_driver *m;
    sf_engine e;
    sf_clock clock;
    canister c;
    char out[512], dir[600];
    FILE *log;
    char *logbuf;
    size_t loglen;
} rig;

static void rig_open(rig *r, const char *name)
{
    sf_error err;

    memset(r, 0, sizeof *r);
    r->m = sf_mock_new();
    assert_non_null(r->m);
    sf_mock_set_hook(r->m, hook, &r->c);
    r->clock = sf_clock_wall();
    sf_tmpdir_path(r->out, sizeof r->out, name);
    assert_int_equal(mkdir(r->out, 0700), 0);
    snprintf(r->dir, sizeof r->dir, "%s/staging", r->out);
    assert_int_equal(mkdir(r->dir, 0700), 0);
    r->log = open_memstream(&r->logbuf, &r->loglen);
    assert_non_null(r->log);
    assert_int_equal(sf_engine_open(&r->e, r->m, &r->clock, r->out, r->log,
                                    &err), SF_OK);
}

static void rig_close(rig *r)
{
    sf_engine_close(&r->e);
    fclose(r->log);
    free(r->logbuf);
    sf_driver_destroy(r->m);
}

/* The snapshot the observations file on disk says the upload adopted
 * (NULL: none). */
static char *adopted_on_disk(rig *r)
{
    sf_engine e2;
    sf_error err;
    const sf_obs_canister *c;
    char *id = NULL;

    assert_int_equal(sf_engine_open(&e2, r->m, &r->clock, r->out, NULL, &err),
                     SF_OK);
    c = sf_obs_find(&e2.obs, CANISTER);
    if (c != NULL && c->snapshot_id != NULL)
        id = strdup(c->snapshot_id);
    sf_engine_close(&e2);
    return id;
}

/* icp exited 0 but its reply could not be read: the one new snapshot is
 * the upload's, adopted and recorded; the operator's snapshot that was
 * there before stays. */
static void test_unreadable_reply_adopts_the_one_new_snapshot(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;
    char *id;

    (void)state;
    rig_open(&r, "adopt-one");
    add_snapshot(&r.c, OPERATOR);
    r.c.upload_unreadable = true;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_OK);
    assert_string_equal(snap.id, U(1));
    assert_int_equal(r.c.count, 2);
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 1);
    assert_int_equal(sf_mock_count(r.m, SF_OP_DELETE), 0);
    id = adopted_on_disk(&r);
    assert_string_equal(id, U(1));
    free(id);
    /* a rerun never uploads twice */
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_OK);
    assert_string_equal(snap.id, U(1));
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 1);
    rig_close(&r);
}

/* Two new snapshots after an unreadable reply: which is ours cannot be
 * told, so nothing is adopted and nothing deleted. */
static void test_unreadable_reply_with_two_new_snapshots_is_refused(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "adopt-two");
    r.c.upload_unreadable = true;
    r.c.upload_makes = 2;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "snapshot-reconcile-ambiguous");
    assert_non_null(strstr(err.message, CANISTER));
    assert_non_null(strstr(err.message, "2 snapshots are new"));
    assert_int_equal(r.c.count, 2);
    assert_int_equal(sf_mock_count(r.m, SF_OP_DELETE), 0);
    assert_null(adopted_on_disk(&r));
    rig_close(&r);
}

/* An unreadable reply and then a listing that fails: the error is the
 * listing's; nothing adopted. */
static void test_unreadable_reply_and_no_listing(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "adopt-nolist");
    r.c.upload_unreadable = true;
    r.c.list_fail_after = 2; /* the write-ahead listing works, the next not */
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_non_null(strstr(err.message, "list refused"));
    assert_null(adopted_on_disk(&r));
    rig_close(&r);
}

/* The first listing (what was there before any upload) fails: no upload
 * is sent and nothing is recorded. */
static void test_no_listing_no_upload(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;
    char obs[700];
    struct stat sb;

    (void)state;
    rig_open(&r, "no-list");
    r.c.list_fail_after = 1;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 0);
    snprintf(obs, sizeof obs, "%s/%s", r.out, SF_OBSERVATIONS_FILE_NAME);
    assert_int_equal(stat(obs, &sb), -1);
    rig_close(&r);
}

/* Lost replies and no progress file: each new snapshot is swept (each
 * delete logged with why) and the upload made again; after three tries
 * the run fails, naming the canister, and what the last try left is
 * swept too: nothing of ours stays on the canister. */
static void test_lost_uploads_are_swept_and_logged(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "lost");
    add_snapshot(&r.c, OPERATOR);
    r.c.upload_lost = true;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    assert_non_null(strstr(err.message, CANISTER));
    assert_non_null(strstr(err.message, "did not complete in 3 attempts"));
    assert_non_null(strstr(err.message, "rerun to make it"));
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 3);
    assert_int_equal(r.c.count, 1);
    assert_string_equal(r.c.ids[0], OPERATOR);
    fflush(r.log);
    assert_non_null(strstr(r.logbuf, "delete " CANISTER " " U(1) " (left by an "
                           "upload that did not complete)"));
    assert_non_null(strstr(r.logbuf, "delete " CANISTER " " U(3) " (left by an "
                           "upload that did not complete)"));
    assert_null(adopted_on_disk(&r));
    rig_close(&r);
}

/* A delete of a leftover refused: the upload stops there (a second try
 * would add a snapshot while one of ours is still held). */
static void test_sweep_stops_on_a_refused_delete(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "refused");
    r.c.upload_lost = true;
    r.c.delete_refused = true;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_non_null(strstr(err.message, "delete refused"));
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 1);
    assert_int_equal(sf_mock_count(r.m, SF_OP_DELETE), 1);
    assert_null(adopted_on_disk(&r));
    rig_close(&r);
}

/* Deletes that report success while the snapshot stays listed: after
 * three rounds the sweep gives up with an unknown outcome, naming the
 * canister; the upload is not tried again. */
static void test_sweep_gives_up_when_deletes_do_not_take(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "stays");
    r.c.upload_lost = true;
    r.c.delete_no_effect = true;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-unknown-outcome");
    assert_non_null(strstr(err.message, CANISTER));
    assert_non_null(strstr(err.message, "still listed after 3 rounds"));
    assert_int_equal(sf_mock_count(r.m, SF_OP_UPLOAD), 1);
    assert_int_equal(sf_mock_count(r.m, SF_OP_DELETE), 3);
    rig_close(&r);
}

/* A completed upload whose leftovers cannot be swept: the upload is not
 * adopted (the sweep comes first), and a rerun sweeps again. */
static void test_completed_upload_with_an_unsweepable_orphan(void **state)
{
    rig r;
    sf_snapshot_info snap;
    sf_error err;

    (void)state;
    rig_open(&r, "orphan");
    r.c.upload_makes = 2; /* icp's own retry left an orphan */
    r.c.delete_refused = true;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "driver-permanent");
    assert_null(adopted_on_disk(&r));
    /* the orphan deletable now: the rerun sweeps it and uploads again */
    r.c.delete_refused = false;
    r.c.upload_makes = 1;
    assert_int_equal(sf_engine_upload(&r.e, CANISTER, r.dir, &snap, &err),
                     SF_OK);
    assert_string_equal(snap.id, U(3));
    assert_int_equal(r.c.count, 1);
    assert_string_equal(r.c.ids[0], U(3));
    rig_close(&r);
}

/* A transfer directory whose metadata.json is missing or unreadable
 * describes no snapshot, and nothing is asked of the canister. */
static void test_tmp_without_metadata_describes_nothing(void **state)
{
    rig r;
    sf_error err;
    char p[700];
    bool yes = true;
    FILE *fp;

    (void)state;
    rig_open(&r, "describes");
    assert_int_equal(sf_engine_tmp_describes(&r.e, CANISTER, U(1), r.dir, &yes,
                                             &err), SF_OK);
    assert_false(yes);
    snprintf(p, sizeof p, "%s/metadata.json", r.dir);
    fp = fopen(p, "w");
    assert_non_null(fp);
    fputs("{not json", fp);
    fclose(fp);
    yes = true;
    assert_int_equal(sf_engine_tmp_describes(&r.e, CANISTER, U(1), r.dir, &yes,
                                             &err), SF_OK);
    assert_false(yes);
    assert_int_equal(sf_mock_submitted(r.m), 0);
    rig_close(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unreadable_reply_adopts_the_one_new_snapshot),
        cmocka_unit_test(test_unreadable_reply_with_two_new_snapshots_is_refused),
        cmocka_unit_test(test_unreadable_reply_and_no_listing),
        cmocka_unit_test(test_no_listing_no_upload),
        cmocka_unit_test(test_lost_uploads_are_swept_and_logged),
        cmocka_unit_test(test_sweep_stops_on_a_refused_delete),
        cmocka_unit_test(test_sweep_gives_up_when_deletes_do_not_take),
        cmocka_unit_test(test_completed_upload_with_an_unsweepable_orphan),
        cmocka_unit_test(test_tmp_without_metadata_describes_nothing),
    };

    return cmocka_run_group_tests(tests, sf_tmpdir_setup, sf_tmpdir_teardown);
}
