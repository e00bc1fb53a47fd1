/*
 * The lookup indexes that keep a large backup's cost per transition
 * constant (bench/README.md, "How a backup's cost grows with the
 * fleet"): the position map (core/base/posmap.c), the observations by
 * canister id, the download journal's artifacts by canister and snapshot
 * id, the registry depths computed at once, and the simulator's canisters
 * by id. Each answers exactly as the scan it replaces, including after
 * the arrays it indexes grow, move, are filled by hand or reordered.
 * (The execution journal's index: test_execjournal.c; after a replay:
 * test_backup_log.c; out of memory: test_oom_indexes.c.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/posmap.h"
#include "engine/observations.h"
#include "snapfleet/journal.h"
#include "snapfleet/principal.h"
#include "snapfleet/registry.h"
#include "snapfleet/sim.h"
#include "snapfleet/text.h"

#define N 300

static void test_posmap(void **state)
{
    sf_posmap m = {0};
    size_t cursor = 0, p, seen[N] = {0};
    char key[32];

    (void)state;
    assert_true(sf_posmap_hash(NULL, NULL) != sf_posmap_hash("", NULL));
    assert_true(sf_posmap_hash("ab", "c") != sf_posmap_hash("a", "bc"));
    assert_true(sf_posmap_hash("a", NULL) == sf_posmap_hash("a", NULL));
    assert_int_equal(sf_posmap_next(&m, 1, &cursor), SIZE_MAX);
    for (size_t i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%zu", i % 100);
        assert_true(sf_posmap_insert(&m, sf_posmap_hash(key, NULL), i));
    }
    assert_int_equal(m.count, N);
    assert_true(m.cap >= 2 * N);
    /* every position of a key is found, with no other key's */
    for (size_t k = 0; k < 100; k++) {
        size_t found = 0;

        snprintf(key, sizeof key, "k%zu", k);
        cursor = 0;
        while ((p = sf_posmap_next(&m, sf_posmap_hash(key, NULL), &cursor)) !=
               SIZE_MAX) {
            assert_int_equal(p % 100, k);
            seen[p]++;
            found++;
        }
        assert_int_equal(found, 3);
    }
    for (size_t i = 0; i < N; i++)
        assert_int_equal(seen[i], 1);
    /* the same hash for other positions (a collision): set replaces the
     * one the cursor is at */
    assert_true(sf_posmap_insert(&m, 7, 1000));
    assert_true(sf_posmap_insert(&m, 7, 1001));
    cursor = 0;
    p = sf_posmap_next(&m, 7, &cursor);
    assert_true(p == 1000 || p == 1001);
    sf_posmap_set(&m, 7, cursor, 2000);
    cursor = 0;
    assert_int_equal(sf_posmap_next(&m, 7, &cursor) + sf_posmap_next(&m, 7, &cursor),
                     2000 + (p == 1000 ? 1001 : 1000));
    assert_int_equal(sf_posmap_next(&m, 7, &cursor), SIZE_MAX);
    assert_true(sf_posmap_reserve(&m, 10)); /* already room */
    assert_true(sf_posmap_reserve(&m, 5000));
    assert_true(m.cap >= 10000);
    cursor = 0;
    assert_int_not_equal(sf_posmap_next(&m, 7, &cursor), SIZE_MAX);
    assert_false(sf_posmap_reserve(&m, SIZE_MAX / 2));
    sf_posmap_free(&m);
    assert_int_equal(m.cap, 0);
    assert_null(m.pos);
}

static void id_of(size_t i, char *out, size_t n)
{
    /* a principal of 10 bytes, as a canister id: i in its bytes */
    uint8_t bytes[10] = {0, 0, 0, 0, 0, 0xa0, 0, 0, 0x01, 0x01};
    char text[SF_PRINCIPAL_TEXT_MAX];

    bytes[6] = (uint8_t)(i >> 8);
    bytes[7] = (uint8_t)i;
    if (sf_principal_text_from_bytes(bytes, sizeof bytes, text, NULL) != SF_OK)
        fail_msg("principal %zu", i);
    snprintf(out, n, "%s", text);
}

static sf_obs_canister *scan_obs(const sf_observations *o, const char *id)
{
    for (size_t i = 0; i < o->count; i++)
        if (strcmp(o->canisters[i].canister_id, id) == 0)
            return &o->canisters[i];
    return NULL;
}

static void expect_obs(const sf_observations *o, size_t n)
{
    char id[SF_PRINCIPAL_TEXT_MAX];

    for (size_t i = 0; i < n + 5; i++) {
        id_of(i, id, sizeof id);
        assert_ptr_equal(sf_obs_find(o, id), scan_obs(o, id));
    }
}

static void test_observations(void **state)
{
    sf_observations o, hand;
    sf_obs_canister c, *moved;
    sf_error err;
    char id[SF_PRINCIPAL_TEXT_MAX];
    sf_buf b;

    (void)state;
    memset(&o, 0, sizeof o);
    assert_null(sf_obs_find(&o, "x"));
    for (size_t i = 0; i < N; i++) {
        id_of(i, id, sizeof id);
        assert_non_null(sf_obs_get(&o, id));
        if (i % 37 == 0)
            expect_obs(&o, i + 1);
    }
    assert_int_equal(o.indexed, N);
    expect_obs(&o, N);
    /* get of a known id returns it, adds nothing */
    id_of(17, id, sizeof id);
    assert_ptr_equal(sf_obs_get(&o, id), &o.canisters[17]);
    assert_int_equal(o.count, N);
    /* put replaces in place (the id's strings are new) and appends */
    memset(&c, 0, sizeof c);
    c.canister_id = strdup(id);
    c.restarted = true;
    assert_int_equal(sf_obs_put(&o, &c, &err), SF_OK);
    assert_true(sf_obs_find(&o, id)->restarted);
    memset(&c, 0, sizeof c);
    id_of(N, id, sizeof id);
    c.canister_id = strdup(id);
    assert_int_equal(sf_obs_put(&o, &c, &err), SF_OK);
    expect_obs(&o, N + 1);
    /* the array moved behind the index's back: find scans, the next
     * append indexes it again */
    moved = malloc(o.count * sizeof *moved);
    assert_non_null(moved);
    memcpy(moved, o.canisters, o.count * sizeof *moved);
    free(o.canisters);
    o.canisters = moved;
    expect_obs(&o, N + 1);
    id_of(N + 1, id, sizeof id);
    assert_non_null(sf_obs_get(&o, id));
    assert_true(o.indexed == o.count && o.indexed_base == o.canisters);
    expect_obs(&o, N + 2);
    /* written and parsed back: the parse indexes, a duplicate entry
     * finds the first */
    sf_buf_init(&b);
    assert_int_equal(sf_obs_write_json(&o, &b, &err), SF_OK);
    sf_obs_free(&o);
    assert_int_equal(sf_obs_parse(b.data, b.len, &o, &err), SF_OK);
    assert_int_equal(o.indexed, N + 2);
    expect_obs(&o, N + 2);
    sf_buf_free(&b);
    {
        static const char two[] =
            "{\"version\":1,\"canisters\":["
            "{\"canister_id\":\"aaaaa-aa\",\"stopped_by_us\":true,\"restarted\":false},"
            "{\"canister_id\":\"aaaaa-aa\",\"stopped_by_us\":false,\"restarted\":false}]}";
        sf_observations d;

        assert_int_equal(sf_obs_parse(two, strlen(two), &d, &err), SF_OK);
        assert_ptr_equal(sf_obs_find(&d, "aaaaa-aa"), &d.canisters[0]);
        assert_true(sf_obs_find(&d, "aaaaa-aa")->stopped_by_us);
        sf_obs_free(&d);
    }
    /* a struct filled by hand has no index and scans */
    memset(&hand, 0, sizeof hand);
    hand.canisters = &o.canisters[5];
    hand.count = 1;
    id_of(5, id, sizeof id);
    assert_ptr_equal(sf_obs_find(&hand, id), &o.canisters[5]);
    id_of(6, id, sizeof id);
    assert_null(sf_obs_find(&hand, id));
    sf_obs_free(&o);
    assert_int_equal(o.indexed, 0);
}

static sf_journal_artifact *scan_dj(const sf_download_journal *j,
                                    const char *c, const char *s)
{
    for (size_t i = 0; i < j->artifact_count; i++)
        if (sf_str_eq_opt(j->artifacts[i].canister_id, c) &&
            sf_str_eq_opt(j->artifacts[i].snapshot_id, s))
            return &j->artifacts[i];
    return NULL;
}

static void expect_dj(const sf_download_journal *j, size_t n)
{
    char id[SF_PRINCIPAL_TEXT_MAX], snap[32];

    for (size_t i = 0; i < n + 3; i++) {
        id_of(i, id, sizeof id);
        snprintf(snap, sizeof snap, "%04zx", i);
        assert_ptr_equal(sf_download_journal_find(j, id, snap), scan_dj(j, id, snap));
        assert_ptr_equal(sf_download_journal_find(j, id, "ffff"), scan_dj(j, id, "ffff"));
        assert_ptr_equal(sf_download_journal_find(j, id, NULL), scan_dj(j, id, NULL));
    }
}

static void test_download_journal(void **state)
{
    sf_download_journal j, view;
    sf_journal_artifact a, *moved;
    sf_error err;
    char id[SF_PRINCIPAL_TEXT_MAX], snap[32];
    sf_buf b;

    (void)state;
    sf_download_journal_init(&j);
    j.backup_id = strdup("backup-1");
    assert_null(sf_download_journal_find(&j, "x", "y"));
    memset(&a, 0, sizeof a);
    a.state = SF_ARTIFACT_CREATED;
    a.artifact_path = (char *)"p";
    a.checksum_algorithm = (char *)"sha256";
    a.updated_at = (char *)"unix:1";
    for (size_t i = 0; i < N; i++) {
        id_of(i, id, sizeof id);
        snprintf(snap, sizeof snap, "%04zx", i);
        a.canister_id = id;
        a.snapshot_id = snap;
        assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
        if (i % 41 == 0)
            expect_dj(&j, i + 1);
    }
    expect_dj(&j, N);
    /* another snapshot of a canister, a null snapshot id, a duplicate */
    id_of(3, id, sizeof id);
    a.canister_id = id;
    a.snapshot_id = (char *)"ffff";
    assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
    a.snapshot_id = NULL;
    assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
    a.snapshot_id = (char *)"ffff";
    assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
    assert_ptr_equal(sf_download_journal_find(&j, id, "ffff"), &j.artifacts[N]);
    assert_ptr_equal(sf_download_journal_find(&j, id, NULL), &j.artifacts[N + 1]);
    expect_dj(&j, N);
    /* upsert: an advance replaces in place, a new key appends */
    a.state = SF_ARTIFACT_DOWNLOADED;
    assert_int_equal(sf_download_journal_upsert(&j, &a, &err), SF_OK);
    assert_int_equal(j.artifacts[N].state, SF_ARTIFACT_DOWNLOADED);
    assert_int_equal(j.artifact_count, N + 3);
    a.snapshot_id = (char *)"eeee";
    assert_int_equal(sf_download_journal_upsert(&j, &a, &err), SF_OK);
    assert_ptr_equal(sf_download_journal_find(&j, id, "eeee"), &j.artifacts[N + 3]);
    /* moved behind its back: scans; the next append indexes again */
    moved = malloc(j.artifact_count * sizeof *moved);
    assert_non_null(moved);
    memcpy(moved, j.artifacts, j.artifact_count * sizeof *moved);
    free(j.artifacts);
    j.artifacts = moved;
    expect_dj(&j, N);
    a.snapshot_id = (char *)"dddd";
    assert_int_equal(sf_download_journal_append(&j, &a, &err), SF_OK);
    expect_dj(&j, N);
    /* a view of one artifact (as a log record is written) */
    view = j;
    view.artifacts = &j.artifacts[7];
    view.artifact_count = 1;
    id_of(7, id, sizeof id);
    assert_ptr_equal(sf_download_journal_find(&view, id, "0007"), &j.artifacts[7]);
    id_of(8, id, sizeof id);
    assert_null(sf_download_journal_find(&view, id, "0008"));
    /* written and parsed back (the null snapshot id is not canic's):
     * indexed by the parse */
    j.artifacts[N + 1].snapshot_id = strdup("cccc");
    sf_buf_init(&b);
    assert_int_equal(sf_download_journal_write_json_part(&j, &b, &err), SF_OK);
    sf_download_journal_free(&j);
    assert_null(j.index);
    if (sf_download_journal_parse(b.data, b.len, &j, &err) != SF_OK)
        fail_msg("parse: %s", err.message);
    assert_non_null(j.index);
    expect_dj(&j, N);
    id_of(3, id, sizeof id);
    assert_ptr_equal(sf_download_journal_find(&j, id, "ffff"), &j.artifacts[N]);
    sf_buf_free(&b);
    sf_download_journal_free(&j);
}

static void test_registry_depths(void **state)
{
    sf_registry reg;
    const char *pids[N + 2];
    uint64_t depths[N + 2];
    char buf[N][SF_PRINCIPAL_TEXT_MAX];

    (void)state;
    memset(&reg, 0, sizeof reg);
    reg.entries = calloc(N + 1, sizeof *reg.entries);
    assert_non_null(reg.entries);
    reg.count = N + 1;
    for (size_t i = 0; i < N; i++) {
        id_of(i, buf[i], sizeof buf[i]);
        reg.entries[i].pid = strdup(buf[i]);
        /* a tree of fan-out 3, then a 2-cycle and a self-parent */
        if (i > 0)
            reg.entries[i].parent_pid = strdup(buf[(i - 1) / 3]);
        pids[i] = buf[i];
    }
    free(reg.entries[N - 1].parent_pid);
    reg.entries[N - 1].parent_pid = strdup(buf[N - 2]);
    free(reg.entries[N - 2].parent_pid);
    reg.entries[N - 2].parent_pid = strdup(buf[N - 1]);
    free(reg.entries[N - 3].parent_pid);
    reg.entries[N - 3].parent_pid = strdup(buf[N - 3]);
    /* a later duplicate of canister 4 under 1 (the last entry wins) */
    reg.entries[N].pid = strdup(buf[4]);
    reg.entries[N].parent_pid = strdup(buf[1]);
    pids[N] = "not-there";
    pids[N + 1] = buf[4];
    sf_registry_depths(&reg, pids, N + 2, depths);
    for (size_t i = 0; i < N + 2; i++)
        assert_int_equal(depths[i], sf_registry_depth(&reg, pids[i]));
    assert_int_equal(depths[0], 0);
    assert_int_equal(depths[N], 0);
    assert_int_equal(depths[N - 1], 2);
    assert_int_equal(depths[N - 3], 1);
    assert_int_equal(depths[N + 1], 2);
    sf_registry_depths(&reg, pids, 0, depths);
    sf_registry_free(&reg);
}

static void expect_sim_found(const sf_sim *sim)
{
    size_t n = sf_sim_canister_count(sim), at;
    sf_sim_canister_info info;
    sf_error err;

    for (size_t i = 0; i < n; i++) {
        assert_int_equal(sf_sim_canister_at(sim, i, &info, &err), SF_OK);
        assert_int_equal(sf_sim_canister_find(sim, info.canister_id, &at, &err),
                         SF_OK);
        assert_int_equal(at, i);
    }
    assert_int_equal(sf_sim_canister_find(sim, "aaaaa-aa", &at, &err), SF_ERR);
    assert_string_equal(err.kind, "canister-not-found");
}

static void test_sim_find(void **state)
{
    static const char *const kinds[] = {"add-child", "remove-child",
                                        "reparent", "add-child", "reparent",
                                        "remove-child", "add-child"};
    sf_sim_config cfg;
    sf_sim *sim;
    sf_error err;

    (void)state;
    sf_sim_config_default(&cfg);
    cfg.seed = 7;
    cfg.canister_count = 120;
    cfg.max_fanout = 6;
    cfg.max_depth = 4;
    assert_int_equal(sf_sim_init(&cfg, &sim, &err), SF_OK);
    expect_sim_found(sim);
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            if (sf_sim_topology_change(sim, kinds[k], &err) != SF_OK)
                assert_string_equal(err.kind, "topology-change-impossible");
            expect_sim_found(sim);
        }
    sf_sim_free(sim);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_posmap),
        cmocka_unit_test(test_observations),
        cmocka_unit_test(test_download_journal),
        cmocka_unit_test(test_registry_depths),
        cmocka_unit_test(test_sim_find),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
