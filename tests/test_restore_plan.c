/* Restore planning and the apply dry-run: every planner rule and its place
 * in canic's order, identity and relocation, parents before children,
 * concrete verification checks, summaries and readiness, the plan and
 * mapping documents (reading, snapfleet's plan check, exact bytes, files),
 * operation generation and artifact validation against a backup
 * directory. */
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
#define T2 "r7inp-6aaaa-aaaaa-aaabq-cai"
#define T3 "rrkah-fqaaa-aaaaa-aaaaq-cai"
#define OTHER "qoctq-giaaa-aaaaa-aaaea-cai"

/* Manifest positions in tests/data/restore/manifests/fleet.json:
 *   0 app     APP     parent ROOT  relocatable
 *   1 root    ROOT    no parent    fixed
 *   2 worker  WORKER  parent APP   relocatable (code_version null)
 *   3 worker  WORKER2 parent APP   relocatable
 * one subtree unit over every role, a fleet check with no roles and a
 * member_checks group for "worker". */
enum { M_APP = 0, M_ROOT = 1, M_WORKER = 2, M_WORKER2 = 3 };

static sf_error e_;

#define OK(call)                                                              \
    do {                                                                      \
        sf_error_clear(&e_);                                                  \
        if ((call) != SF_OK)                                                  \
            fail_msg("%s failed: %s [%s] %s", #call,                          \
                     e_.kind ? e_.kind : "?", e_.field, e_.message);          \
    } while (0)

/* The call fails with this kind and, when not NULL, field and message. */
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

static void load_manifest(sf_manifest *m)
{
    char *p = data_path("manifests/fleet.json");

    OK(sf_manifest_read_file(p, m, &e_));
    free(p);
}

/* Every unit single: the ordering tests need shapes a subtree refuses. */
static void single_units(sf_manifest *m)
{
    m->consistency.backup_units[0].kind = SF_MANIFEST_UNIT_SINGLE;
}

static void set_parent(sf_manifest *m, size_t i, const char *parent)
{
    set_str(&m->fleet.members[i].parent_canister_id, parent);
}

/* mapping_of(&map, n, src0, tgt0, src1, tgt1, ...) */
static void mapping_of(sf_restore_mapping *map, size_t n, ...)
{
    va_list ap;
    size_t i;

    memset(map, 0, sizeof *map);
    if (n == 0)
        return;
    map->members = calloc(n, sizeof *map->members);
    assert_non_null(map->members);
    map->member_count = n;
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        map->members[i].source_canister = xstrdup(va_arg(ap, const char *));
        map->members[i].target_canister = xstrdup(va_arg(ap, const char *));
    }
    va_end(ap);
}

/* The complete in-place mapping in manifest order. */
static void identity_mapping(sf_restore_mapping *map)
{
    mapping_of(map, 4, APP, APP, ROOT, ROOT, WORKER, WORKER, WORKER2,
               WORKER2);
}

static void build(const sf_manifest *m, const sf_restore_mapping *map,
                  sf_restore_plan *p)
{
    OK(sf_restore_plan_build(m, map, p, &e_));
}

static void assert_order(const sf_restore_plan *p, size_t n, ...)
{
    va_list ap;
    size_t i;

    assert_int_equal(p->members_len, n);
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        assert_string_equal(p->members[i].source_canister,
                            va_arg(ap, const char *));
        assert_int_equal(p->members[i].member_order, i);
    }
    va_end(ap);
}

static const sf_restore_plan_member *member_of(const sf_restore_plan *p,
                                               const char *source)
{
    size_t i;

    for (i = 0; i < p->members_len; i++)
        if (strcmp(p->members[i].source_canister, source) == 0)
            return &p->members[i];
    fail_msg("no member %s", source);
    return NULL;
}

static void plan_json(const sf_restore_plan *p, sf_buf *b)
{
    sf_buf_init(b);
    OK(sf_restore_plan_write_json(p, b, &e_));
}

/* ---- planning: order and identity ---- */

static void test_in_place_plan_orders_parent_before_child(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    const sf_restore_plan_member *app, *root, *worker;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    assert_order(&p, 4, ROOT, APP, WORKER, WORKER2);
    root = &p.members[0];
    app = &p.members[1];
    worker = &p.members[2];
    assert_null(root->parent_source_canister);
    assert_null(root->parent_target_canister);
    assert_null(root->ordering_dependency);
    assert_string_equal(app->target_canister, APP);
    assert_string_equal(app->parent_source_canister, ROOT);
    assert_string_equal(app->parent_target_canister, ROOT);
    assert_non_null(app->ordering_dependency);
    assert_string_equal(app->ordering_dependency->source_canister, ROOT);
    assert_string_equal(app->ordering_dependency->target_canister, ROOT);
    assert_string_equal(worker->ordering_dependency->source_canister, APP);
    assert_false(p.identity_summary.mapping_supplied);
    assert_false(p.identity_summary.all_sources_mapped);
    assert_int_equal(p.identity_summary.fixed_members, 1);
    assert_int_equal(p.identity_summary.relocatable_members, 3);
    assert_int_equal(p.identity_summary.in_place_members, 4);
    assert_int_equal(p.identity_summary.mapped_members, 0);
    assert_int_equal(p.identity_summary.remapped_members, 0);
    assert_int_equal(p.ordering_summary.ordered_members, 4);
    assert_int_equal(p.ordering_summary.dependency_free_members, 1);
    assert_int_equal(p.ordering_summary.parent_edges, 3);
    assert_string_equal(p.backup_id, "backup-restore-demo");
    assert_string_equal(p.source_environment, "local");
    assert_string_equal(p.source_root_canister, ROOT);
    assert_string_equal(p.topology_hash, m.fleet.topology_hash);
    assert_int_equal(p.member_count, 4);
    assert_true(p.readiness_summary.ready);
    assert_int_equal(p.readiness_summary.reason_count, 0);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

/* canic's scan takes the first eligible member in manifest order, which
 * is not level order. */
static void test_order_is_first_eligible_not_level_order(void **s)
{
    sf_manifest m;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    single_units(&m);
    /* [c(parent r), r, x(no parent), y(parent c)] */
    set_parent(&m, M_WORKER, NULL);
    set_parent(&m, M_WORKER2, APP);
    build(&m, NULL, &p);
    assert_order(&p, 4, ROOT, APP, WORKER, WORKER2);
    assert_null(p.members[2].ordering_dependency);
    assert_int_equal(p.ordering_summary.dependency_free_members, 2);
    assert_int_equal(p.ordering_summary.parent_edges, 2);
    sf_restore_plan_free(&p);
    /* A child listed before its grandparent still waits for both. */
    set_parent(&m, M_ROOT, WORKER);
    set_parent(&m, M_APP, NULL);
    set_parent(&m, M_WORKER, APP);
    set_parent(&m, M_WORKER2, NULL);
    /* app(no parent), root(parent worker), worker(parent app), worker2 */
    build(&m, NULL, &p);
    assert_order(&p, 4, APP, WORKER, ROOT, WORKER2);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_parent_outside_manifest_has_no_target(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    const sf_restore_plan_member *app;

    (void)s;
    load_manifest(&m);
    single_units(&m);
    set_parent(&m, M_APP, OTHER);
    build(&m, NULL, &p);
    assert_order(&p, 4, APP, ROOT, WORKER, WORKER2);
    app = member_of(&p, APP);
    assert_string_equal(app->parent_source_canister, OTHER);
    assert_null(app->parent_target_canister);
    assert_null(app->ordering_dependency);
    assert_int_equal(p.ordering_summary.dependency_free_members, 2);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_parent_cycle_is_refused(void **s)
{
    sf_manifest m;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    single_units(&m);
    set_parent(&m, M_ROOT, APP);
    FAILS(sf_restore_plan_build(&m, NULL, &p, &e_), "restore-order-cycle",
          "fleet.members[0].parent_canister_id",
          "restore plan contains a parent cycle or unresolved dependency");
    assert_null(p.members);
    /* A member that is its own parent. */
    set_parent(&m, M_ROOT, ROOT);
    FAILS(sf_restore_plan_build(&m, NULL, &p, &e_), "restore-order-cycle",
          "fleet.members[0].parent_canister_id", NULL);
    /* Only the member left: root was emitted, then its child loops. */
    set_parent(&m, M_ROOT, NULL);
    set_parent(&m, M_WORKER2, WORKER2);
    FAILS(sf_restore_plan_build(&m, NULL, &p, &e_), "restore-order-cycle",
          "fleet.members[3].parent_canister_id", NULL);
    sf_manifest_free(&m);
}

static void test_fixed_identity_member_cannot_be_remapped(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 4, ROOT, T1, APP, APP, WORKER, WORKER, WORKER2,
               WORKER2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "fixed-identity-remap",
          "mapping.members[0].target_canister",
          "fixed-identity member aaaaa-aa cannot be mapped to " T1);
    sf_restore_mapping_free(&map);
    /* A fixed member may be mapped to itself. */
    identity_mapping(&map);
    build(&m, &map, &p);
    assert_true(p.identity_summary.mapping_supplied);
    assert_true(p.identity_summary.all_sources_mapped);
    assert_int_equal(p.identity_summary.mapped_members, 4);
    assert_int_equal(p.identity_summary.in_place_members, 4);
    assert_int_equal(p.identity_summary.remapped_members, 0);
    sf_restore_plan_free(&p);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

static void test_relocatable_member_can_be_mapped(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;
    const sf_restore_plan_member *app, *worker;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 4, WORKER, T2, APP, T1, ROOT, ROOT, WORKER2, T3);
    build(&m, &map, &p);
    assert_order(&p, 4, ROOT, APP, WORKER, WORKER2);
    app = member_of(&p, APP);
    worker = member_of(&p, WORKER);
    assert_string_equal(app->target_canister, T1);
    assert_string_equal(app->parent_target_canister, ROOT);
    assert_string_equal(worker->target_canister, T2);
    assert_string_equal(worker->parent_source_canister, APP);
    assert_string_equal(worker->parent_target_canister, T1);
    assert_string_equal(worker->ordering_dependency->source_canister, APP);
    assert_string_equal(worker->ordering_dependency->target_canister, T1);
    assert_true(p.identity_summary.mapping_supplied);
    assert_true(p.identity_summary.all_sources_mapped);
    assert_int_equal(p.identity_summary.fixed_members, 1);
    assert_int_equal(p.identity_summary.relocatable_members, 3);
    assert_int_equal(p.identity_summary.in_place_members, 1);
    assert_int_equal(p.identity_summary.mapped_members, 4);
    assert_int_equal(p.identity_summary.remapped_members, 3);
    sf_restore_plan_free(&p);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

static void test_mapping_must_be_total(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 1, ROOT, ROOT);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "missing-mapping-source",
          "mapping.members", "mapping is missing source canister " APP);
    sf_restore_mapping_free(&map);
    /* An empty mapping is a mapping: every member is missing. */
    mapping_of(&map, 0);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "missing-mapping-source",
          "mapping.members", "mapping is missing source canister " APP);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

static void test_mapping_rejects_unknown_sources(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 5, APP, APP, ROOT, ROOT, WORKER, WORKER, OTHER, T3,
               WORKER2, WORKER2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "unknown-mapping-source",
          "mapping.members[3].source_canister",
          "mapping references unknown source canister " OTHER);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

static void test_mapping_entry_rules(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 2, APP, T1, WORKER, T1);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_),
          "duplicate-mapping-target", "mapping.members[1].target_canister",
          "mapping contains duplicate target canister " T1);
    sf_restore_mapping_free(&map);
    mapping_of(&map, 2, APP, T1, APP, T2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_),
          "duplicate-mapping-source", "mapping.members[1].source_canister",
          "mapping contains duplicate source canister " APP);
    sf_restore_mapping_free(&map);
    mapping_of(&map, 2, APP, T1, "not-a-principal", T2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "invalid-principal",
          "mapping.members[1].source_canister",
          "field mapping.members[].source_canister must be a valid "
          "principal: not-a-principal");
    sf_restore_mapping_free(&map);
    mapping_of(&map, 1, APP, "");
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "invalid-principal",
          "mapping.members[0].target_canister",
          "field mapping.members[].target_canister must be a valid "
          "principal: ");
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

/* Steps 1..6 of spec 1.2 and the rule order inside each. */
static void test_planning_rule_order(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    /* 1 before 2: the manifest is checked first. */
    m.manifest_version = 2;
    mapping_of(&map, 1, "bad", "bad");
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "invalid-manifest",
          "manifest_version", "unsupported manifest version 2");
    sf_restore_mapping_free(&map);
    m.manifest_version = 1;
    /* 2: within an entry, principals before the duplicate sets... */
    mapping_of(&map, 2, APP, T1, APP, "bad");
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "invalid-principal",
          "mapping.members[1].target_canister", NULL);
    sf_restore_mapping_free(&map);
    /* ...sources before targets... */
    mapping_of(&map, 2, APP, T1, APP, T1);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_),
          "duplicate-mapping-source", NULL, NULL);
    sf_restore_mapping_free(&map);
    /* ...and entries in array order. */
    mapping_of(&map, 3, APP, T1, WORKER, T1, "bad", T2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_),
          "duplicate-mapping-target", "mapping.members[1].target_canister",
          NULL);
    sf_restore_mapping_free(&map);
    /* 2 before 3: an unknown source does not hide a duplicate target. */
    mapping_of(&map, 2, OTHER, T1, APP, T1);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_),
          "duplicate-mapping-target", NULL, NULL);
    sf_restore_mapping_free(&map);
    /* 3 before 4: unknown before missing. */
    mapping_of(&map, 1, OTHER, T1);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "unknown-mapping-source",
          "mapping.members[0].source_canister", NULL);
    sf_restore_mapping_free(&map);
    /* 4 in manifest order: root (position 1) is remapped, worker
     * (position 2) missing; then the other way round. */
    mapping_of(&map, 2, APP, APP, ROOT, T1);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "fixed-identity-remap",
          "mapping.members[1].target_canister", NULL);
    sf_restore_mapping_free(&map);
    mapping_of(&map, 2, ROOT, T1, WORKER, WORKER);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "missing-mapping-source",
          NULL, "mapping is missing source canister " APP);
    sf_restore_mapping_free(&map);
    /* 4 before 6: a remap is reported before a cycle. */
    single_units(&m);
    set_parent(&m, M_ROOT, APP);
    mapping_of(&map, 4, APP, APP, ROOT, T1, WORKER, WORKER, WORKER2,
               WORKER2);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "fixed-identity-remap",
          NULL, NULL);
    sf_restore_mapping_free(&map);
    identity_mapping(&map);
    FAILS(sf_restore_plan_build(&m, &map, &p, &e_), "restore-order-cycle",
          NULL, NULL);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

static void test_invalid_manifest_carries_manifest_error(void **s)
{
    sf_manifest m;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    set_str(&m.fleet.members[M_WORKER].canister_id, "nope");
    FAILS(sf_restore_plan_build(&m, NULL, &p, &e_), "invalid-manifest",
          "fleet.members[2].canister_id",
          "field fleet.members[].canister_id must be a valid principal: "
          "nope");
    set_str(&m.fleet.members[M_WORKER].canister_id, WORKER);
    set_str(&m.backup_id, " ");
    FAILS(sf_restore_plan_build(&m, NULL, &p, &e_), "invalid-manifest",
          "backup_id", "field backup_id must not be empty");
    sf_manifest_free(&m);
}

/* ---- planning: members and summaries ---- */

static void test_members_carry_snapshot_and_verification_metadata(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    const sf_restore_plan_member *root, *worker;
    const sf_manifest_snapshot *src;

    (void)s;
    load_manifest(&m);
    src = &m.fleet.members[M_WORKER].source_snapshot;
    build(&m, NULL, &p);
    root = member_of(&p, ROOT);
    worker = member_of(&p, WORKER);
    assert_int_equal(root->identity_mode, SF_MANIFEST_IDENTITY_FIXED);
    assert_int_equal(worker->identity_mode, SF_MANIFEST_IDENTITY_RELOCATABLE);
    assert_string_equal(worker->role, "worker");
    assert_string_equal(worker->source_snapshot.snapshot_id, src->snapshot_id);
    assert_string_equal(worker->source_snapshot.module_hash, src->module_hash);
    assert_null(worker->source_snapshot.code_version);
    assert_string_equal(worker->source_snapshot.artifact_path,
                        src->artifact_path);
    assert_string_equal(worker->source_snapshot.checksum_algorithm, "sha256");
    assert_string_equal(worker->source_snapshot.checksum, src->checksum);
    assert_int_equal(root->verification_check_count, 1);
    assert_string_equal(root->verification_checks[0].kind, "status");
    assert_int_equal(root->verification_checks[0].role_count, 1);
    assert_string_equal(root->verification_checks[0].roles[0], "root");
    assert_int_equal(p.fleet_verification_check_count, 1);
    assert_int_equal(p.fleet_verification_checks[0].role_count, 0);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_snapshot_summary_and_checksum_readiness(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    sf_manifest_snapshot *app;

    (void)s;
    load_manifest(&m);
    app = &m.fleet.members[M_APP].source_snapshot;
    set_str(&app->module_hash, NULL);
    set_str(&app->checksum, NULL);
    build(&m, NULL, &p);
    assert_false(p.snapshot_summary.all_members_have_module_hash);
    assert_false(p.snapshot_summary.all_members_have_code_version);
    assert_false(p.snapshot_summary.all_members_have_checksum);
    assert_int_equal(p.snapshot_summary.members_with_module_hash, 3);
    assert_int_equal(p.snapshot_summary.members_with_code_version, 3);
    assert_int_equal(p.snapshot_summary.members_with_checksum, 3);
    assert_false(p.readiness_summary.ready);
    assert_int_equal(p.readiness_summary.reason_count, 1);
    assert_string_equal(p.readiness_summary.reasons[0],
                        "missing-snapshot-checksum");
    sf_restore_plan_free(&p);
    /* Module hash and code version alone do not block. */
    set_str(&app->checksum, "abcdefabcdefabcdefabcdefabcdefab"
                            "abcdefabcdefabcdefabcdefabcdefab");
    build(&m, NULL, &p);
    assert_true(p.snapshot_summary.all_members_have_checksum);
    assert_true(p.readiness_summary.ready);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_verification_summary_and_role_groups(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    const sf_restore_plan_member *w1, *w2, *app;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    w1 = member_of(&p, WORKER);
    w2 = member_of(&p, WORKER2);
    app = member_of(&p, APP);
    /* Own check then the "worker" group's, duplicates kept, for each
     * worker; other roles get no group checks. */
    assert_int_equal(w1->verification_check_count, 2);
    assert_int_equal(w2->verification_check_count, 2);
    assert_int_equal(app->verification_check_count, 1);
    assert_true(p.verification_summary.verification_required);
    assert_true(p.verification_summary.all_members_have_checks);
    assert_int_equal(p.verification_summary.fleet_checks, 1);
    assert_int_equal(p.verification_summary.member_check_groups, 1);
    assert_int_equal(p.verification_summary.member_checks, 6);
    assert_int_equal(p.verification_summary.members_with_checks, 4);
    assert_int_equal(p.verification_summary.total_checks, 7);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_role_filters_drop_checks(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    sf_manifest_check *own, *group;

    (void)s;
    load_manifest(&m);
    /* The app's own check names only "worker": dropped for the app. */
    own = &m.fleet.members[M_APP].verification_checks[0];
    set_str(&own->roles[0], "worker");
    /* The worker group's check names "app": dropped for the workers, but
     * a role-free check in the group applies. */
    group = &m.verification.member_checks[0].checks[0];
    set_str(&group->roles[0], "app");
    build(&m, NULL, &p);
    assert_int_equal(member_of(&p, APP)->verification_check_count, 0);
    assert_int_equal(member_of(&p, WORKER)->verification_check_count, 1);
    assert_false(p.verification_summary.all_members_have_checks);
    assert_int_equal(p.verification_summary.members_with_checks, 3);
    assert_int_equal(p.verification_summary.member_checks, 3);
    assert_false(p.readiness_summary.ready);
    assert_int_equal(p.readiness_summary.reason_count, 1);
    assert_string_equal(p.readiness_summary.reasons[0],
                        "missing-verification-checks");
    sf_restore_plan_free(&p);
    /* Both reasons, checksum first. */
    set_str(&m.fleet.members[M_ROOT].source_snapshot.checksum, NULL);
    sf_strv_free(group->roles, group->role_count);
    group->roles = NULL;
    group->role_count = 0;
    build(&m, NULL, &p);
    assert_int_equal(member_of(&p, WORKER)->verification_check_count, 2);
    assert_int_equal(p.readiness_summary.reason_count, 2);
    assert_string_equal(p.readiness_summary.reasons[0],
                        "missing-snapshot-checksum");
    assert_string_equal(p.readiness_summary.reasons[1],
                        "missing-verification-checks");
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_operation_summary(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    const sf_restore_operation_summary *o = &p.operation_summary;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    assert_int_equal(o->planned_canister_stops, 4);
    assert_int_equal(o->planned_canister_starts, 4);
    assert_int_equal(o->planned_snapshot_uploads, 4);
    assert_int_equal(o->planned_snapshot_loads, 4);
    assert_int_equal(o->planned_verification_checks, 7);
    assert_int_equal(o->planned_operations, 23);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

/* The planner is pure: the manifest is untouched and the plan owns all
 * its memory (the manifest is freed first here). */
static void test_plan_is_independent_of_manifest(void **s)
{
    sf_manifest m;
    sf_buf before, after;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    sf_buf_init(&before);
    sf_buf_init(&after);
    OK(sf_manifest_write_json(&m, &before, &e_));
    build(&m, NULL, &p);
    OK(sf_manifest_write_json(&m, &after, &e_));
    assert_string_equal(before.data, after.data);
    sf_manifest_free(&m);
    sf_buf_reset(&after);
    OK(sf_restore_plan_write_json(&p, &after, &e_));
    sf_buf_free(&before);
    sf_buf_free(&after);
    sf_restore_plan_free(&p);
}

/* ---- the plan document ---- */

static void test_plan_json_exact_bytes(void **s)
{
    char *path = data_path("plan/valid-in-place.json");
    sf_manifest m;
    sf_restore_plan p;
    sf_buf b;
    size_t len;
    char *want = slurp(path, &len);

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    plan_json(&p, &b);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    sf_buf_free(&b);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    free(want);
    free(path);
}

static void test_plan_round_trip(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p, q;
    sf_buf a, b;

    (void)s;
    load_manifest(&m);
    mapping_of(&map, 4, WORKER, T2, APP, T1, ROOT, ROOT, WORKER2, T3);
    set_str(&m.fleet.members[M_APP].source_snapshot.checksum, NULL);
    build(&m, &map, &p);
    plan_json(&p, &a);
    OK(sf_restore_plan_parse(a.data, a.len, &q, &e_));
    OK(sf_restore_plan_validate(&q, &e_));
    plan_json(&q, &b);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.data, b.data, a.len);
    assert_string_equal(q.members[1].target_canister, T1);
    assert_null(q.members[1].source_snapshot.checksum);
    assert_false(q.readiness_summary.ready);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_plan_free(&p);
    sf_restore_plan_free(&q);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
}

/* Removes every occurrence of `"key": value` lines from pretty JSON. */
static char *drop_line(const char *text, const char *needle)
{
    char *out = xstrdup(text), *at;

    while ((at = strstr(out, needle)) != NULL) {
        char *line = at, *end = strchr(at, '\n');
        while (line > out && line[-1] != '\n')
            line--;
        assert_non_null(end);
        memmove(line, end + 1, strlen(end + 1) + 1);
    }
    return out;
}

static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    char *out;

    assert_non_null(at);
    out = malloc(strlen(text) + strlen(to) + 1);
    assert_non_null(out);
    memcpy(out, text, (size_t)(at - text));
    strcpy(out + (at - text), to);
    strcat(out, at + strlen(from));
    return out;
}

static void test_plan_reading_defaults(void **s)
{
    char *path = data_path("plan/valid-in-place.json"), *text, *t1, *t2;
    sf_restore_plan p;
    size_t len;

    (void)s;
    text = slurp(path, &len);
    /* serde(default) fields: absent reads as 0 / []; checksum as null;
     * unknown keys are ignored. */
    t1 = drop_line(text, "\"planned_canister_stops\"");
    t2 = drop_line(t1, "\"planned_canister_starts\"");
    free(t1);
    t1 = replace(t2, "\"fleet_verification_checks\": [\n    {\n      "
                     "\"kind\": \"status\",\n      \"roles\": []\n    }\n  ],",
                 "\"unknown_key\": {\"x\": [1, 2]},");
    free(t2);
    t2 = replace(t1, "\"checksum_algorithm\": \"sha256\",\n        "
                     "\"checksum\": \"2222222222222222222222222222222222222222"
                     "222222222222222222222222\"",
                 "\"checksum_algorithm\": \"sha256\"");
    free(t1);
    OK(sf_restore_plan_parse(t2, strlen(t2), &p, &e_));
    assert_int_equal(p.operation_summary.planned_canister_stops, 0);
    assert_int_equal(p.operation_summary.planned_canister_starts, 0);
    assert_int_equal(p.operation_summary.planned_snapshot_uploads, 4);
    assert_int_equal(p.fleet_verification_check_count, 0);
    assert_null(p.members[0].source_snapshot.checksum);
    assert_non_null(p.members[1].source_snapshot.checksum);
    OK(sf_restore_plan_validate(&p, &e_));
    sf_restore_plan_free(&p);
    free(t2);
    free(text);
    free(path);
}

static void test_plan_reading_refusals(void **s)
{
    static const struct {
        const char *from, *to, *field;
    } cases[] = {
        {"\"planned_canister_stops\": 4", "\"planned_canister_stops\": null",
         "operation_summary.planned_canister_stops"},
        {"\"relationship\": \"parent-before-child\"",
         "\"relationship\": \"child-before-parent\"",
         "members[1].ordering_dependency.relationship"},
        {"\"member_order\": 0", "\"member_order\": -1",
         "members[0].member_order"},
        {"\"identity_mode\": \"fixed\"", "\"identity_mode\": \"Fixed\"",
         "members[0].identity_mode"},
        {"\"fleet_verification_checks\": [", "\"fleet_verification_checks\": "
                                             "null, \"x\": [",
         "fleet_verification_checks"},
        {"\"member_count\": 4", "\"member_count\": 4.0", "member_count"},
        {"\"mapping_supplied\": false", "\"mapping_supplied\": 0",
         "identity_summary.mapping_supplied"},
        {"\"reasons\": []", "\"reasons\": [null]",
         "readiness_summary.reasons[0]"},
        {"\"snapshot_id\": \"snap-root\",", "", "members[0].source_snapshot"},
    };
    char *path = data_path("plan/valid-in-place.json"), *text, *bad;
    sf_restore_plan p;
    size_t len, i;

    (void)s;
    text = slurp(path, &len);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad = replace(text, cases[i].from, cases[i].to);
        sf_error_clear(&e_);
        if (sf_restore_plan_parse(bad, strlen(bad), &p, &e_) == SF_OK)
            fail_msg("case %zu parsed", i);
        assert_string_equal(e_.kind, "json-schema");
        if (strncmp(e_.field, cases[i].field, strlen(cases[i].field)) != 0)
            fail_msg("case %zu: field %s, expected %s", i, e_.field,
                     cases[i].field);
        assert_null(p.members);
        free(bad);
    }
    FAILS(sf_restore_plan_parse("{", 1, &p, &e_), "json-syntax", NULL, NULL);
    FAILS(sf_restore_plan_parse("[]", 2, &p, &e_), "json-schema", NULL, NULL);
    free(text);
    free(path);
}

static void test_plan_validation_rules(void **s)
{
    static const struct {
        size_t member; /* SIZE_MAX: top level */
        const char *key;
        const char *message;
    } blanks[] = {
        {SIZE_MAX, "backup_id", "restore plan field backup_id is required"},
        {SIZE_MAX, "source_environment", NULL},
        {SIZE_MAX, "source_root_canister", NULL},
        {SIZE_MAX, "topology_hash", NULL},
        {1, "source_canister",
         "restore plan field members[].source_canister is required"},
        {1, "target_canister", NULL},
        {1, "role", NULL},
        {2, "source_snapshot.snapshot_id",
         "restore plan field members[].source_snapshot.snapshot_id is "
         "required"},
        {2, "source_snapshot.artifact_path", NULL},
        {3, "source_snapshot.checksum_algorithm", NULL},
    };
    sf_manifest m;
    sf_restore_plan p;
    char field[128];
    size_t i;

    (void)s;
    load_manifest(&m);
    for (i = 0; i < sizeof blanks / sizeof blanks[0]; i++) {
        char **slot = NULL, *saved;
        sf_restore_plan_member *mem;

        build(&m, NULL, &p);
        mem = blanks[i].member == SIZE_MAX ? NULL
                                           : &p.members[blanks[i].member];
        if (mem == NULL) {
            snprintf(field, sizeof field, "%s", blanks[i].key);
            if (strcmp(blanks[i].key, "backup_id") == 0)
                slot = &p.backup_id;
            else if (strcmp(blanks[i].key, "source_environment") == 0)
                slot = &p.source_environment;
            else if (strcmp(blanks[i].key, "source_root_canister") == 0)
                slot = &p.source_root_canister;
            else
                slot = &p.topology_hash;
        } else {
            snprintf(field, sizeof field, "members[%zu].%s", blanks[i].member,
                     blanks[i].key);
            if (strcmp(blanks[i].key, "source_canister") == 0)
                slot = &mem->source_canister;
            else if (strcmp(blanks[i].key, "target_canister") == 0)
                slot = &mem->target_canister;
            else if (strcmp(blanks[i].key, "role") == 0)
                slot = &mem->role;
            else if (strcmp(blanks[i].key, "source_snapshot.snapshot_id") == 0)
                slot = &mem->source_snapshot.snapshot_id;
            else if (strcmp(blanks[i].key, "source_snapshot.artifact_path") ==
                     0)
                slot = &mem->source_snapshot.artifact_path;
            else
                slot = &mem->source_snapshot.checksum_algorithm;
        }
        saved = *slot;
        *slot = xstrdup(" \t");
        FAILS(sf_restore_plan_validate(&p, &e_), "missing-field", field,
              blanks[i].message);
        free(*slot);
        *slot = saved;
        sf_restore_plan_free(&p);
    }
    build(&m, NULL, &p);
    set_str(&p.members[2].verification_checks[1].kind, "");
    FAILS(sf_restore_plan_validate(&p, &e_), "missing-field",
          "members[2].verification_checks[1].kind", NULL);
    set_str(&p.members[2].verification_checks[1].kind, "status");
    set_str(&p.fleet_verification_checks[0].kind, NULL);
    FAILS(sf_restore_plan_validate(&p, &e_), "missing-field",
          "fleet_verification_checks[0].kind", NULL);
    set_str(&p.fleet_verification_checks[0].kind, "status");
    p.member_count = 3;
    FAILS(sf_restore_plan_validate(&p, &e_), "count-mismatch", "member_count",
          "restore plan count member_count mismatch: reported=3, actual=4");
    p.member_count = 4;
    set_str(&p.members[3].target_canister, APP);
    FAILS(sf_restore_plan_validate(&p, &e_), "duplicate-plan-target",
          "members[3].target_canister",
          "restore plan contains duplicate target canister " APP);
    /* Order: a blank backup_id is reported before the duplicate. */
    set_str(&p.backup_id, "");
    FAILS(sf_restore_plan_validate(&p, &e_), "missing-field", "backup_id",
          NULL);
    /* Nothing is written for an invalid plan. */
    {
        sf_buf b;
        sf_buf_init(&b);
        sf_buf_puts(&b, "keep");
        FAILS(sf_restore_plan_write_json(&p, &b, &e_), "missing-field", NULL,
              NULL);
        assert_string_equal(b.data, "keep");
        sf_buf_free(&b);
    }
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static char *temp_dir(void)
{
    char *d = xstrdup("/tmp/sf-restore-plan-XXXXXX");

    assert_non_null(mkdtemp(d));
    return d;
}

static void remove_tree(const char *path)
{
    char cmd[4200];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

static void test_plan_and_mapping_files(void **s)
{
    char *dir = temp_dir(), path[4096];
    sf_manifest m;
    sf_restore_plan p, q;
    sf_restore_mapping map, map2;
    struct stat st;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    snprintf(path, sizeof path, "%s/plan.json", dir);
    OK(sf_restore_plan_write_file(path, &p, &e_));
    OK(sf_restore_plan_read_file(path, &q, &e_));
    assert_int_equal(q.members_len, 4);
    sf_restore_plan_free(&q);
    /* An invalid plan writes nothing, not even a temporary. */
    set_str(&p.members[0].role, "");
    snprintf(path, sizeof path, "%s/bad-plan.json", dir);
    FAILS(sf_restore_plan_write_file(path, &p, &e_), "missing-field", NULL,
          NULL);
    assert_int_not_equal(stat(path, &st), 0);
    FAILS(sf_restore_plan_read_file(path, &q, &e_), "io", NULL, NULL);
    identity_mapping(&map);
    snprintf(path, sizeof path, "%s/mapping.json", dir);
    OK(sf_restore_mapping_write_file(path, &map, &e_));
    OK(sf_restore_mapping_read_file(path, &map2, &e_));
    assert_int_equal(map2.member_count, 4);
    assert_string_equal(map2.members[1].source_canister, ROOT);
    sf_restore_mapping_free(&map2);
    set_str(&map.members[3].target_canister, APP);
    snprintf(path, sizeof path, "%s/bad-mapping.json", dir);
    FAILS(sf_restore_mapping_write_file(path, &map, &e_),
          "duplicate-mapping-target", NULL, NULL);
    assert_int_not_equal(stat(path, &st), 0);
    sf_restore_mapping_free(&map);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    remove_tree(dir);
    free(dir);
}

/* ---- the mapping document ---- */

static void test_mapping_document(void **s)
{
    static const char want[] =
        "{\n  \"members\": [\n    {\n      \"source_canister\": \"" APP
        "\",\n      \"target_canister\": \"" T1 "\"\n    }\n  ]\n}";
    sf_restore_mapping map;
    sf_buf b;
    const char *text = "{\"members\": [{\"target_canister\": \"" T1 "\", "
                       "\"source_canister\": \"" APP "\", \"note\": 1}],"
                       " \"extra\": null}";

    (void)s;
    OK(sf_restore_mapping_parse(text, strlen(text), &map, &e_));
    OK(sf_restore_mapping_validate(&map, &e_));
    sf_buf_init(&b);
    OK(sf_restore_mapping_write_json(&map, &b, &e_));
    assert_string_equal(b.data, want);
    sf_buf_free(&b);
    sf_restore_mapping_free(&map);
    OK(sf_restore_mapping_parse("{\"members\": []}", 15, &map, &e_));
    OK(sf_restore_mapping_validate(&map, &e_));
    sf_buf_init(&b);
    OK(sf_restore_mapping_write_json(&map, &b, &e_));
    assert_string_equal(b.data, "{\n  \"members\": []\n}");
    sf_buf_free(&b);
    sf_restore_mapping_free(&map);
    {
        static const char *const bad[][2] = {
            {"{}", "members"},
            {"{\"members\": [{\"source_canister\": \"a\"}]}",
             "members[0].target_canister"},
            {"{\"members\": [{\"source_canister\": 1, "
             "\"target_canister\": \"x\"}]}",
             "members[0].source_canister"},
            {"{\"members\": null}", "members"},
            {"{\"members\": [[]]}", "members[0]"},
        };
        size_t i;

        for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
            FAILS(sf_restore_mapping_parse(bad[i][0], strlen(bad[i][0]), &map,
                                           &e_),
                  "json-schema", bad[i][1], NULL);
    }
    assert_null(map.members);
}

/* ---- the apply dry-run: operations ---- */

static void dry_run(const sf_restore_plan *p, const char *root,
                    sf_restore_dry_run *d)
{
    OK(sf_restore_dry_run_build(p, root, d, &e_));
}

static void assert_op(const sf_restore_operation *op, uint64_t seq,
                      sf_restore_op_kind kind, uint64_t member_order,
                      const char *source, const char *target,
                      const char *role)
{
    assert_int_equal(op->sequence, seq);
    if (op->kind != kind)
        fail_msg("operation %llu: kind %s, expected %s",
                 (unsigned long long)seq, sf_restore_op_kind_name(op->kind),
                 sf_restore_op_kind_name(kind));
    assert_int_equal(op->member_order, member_order);
    assert_string_equal(op->source_canister, source);
    assert_string_equal(op->target_canister, target);
    assert_string_equal(op->role, role);
    if (kind == SF_RESTORE_OP_UPLOAD_SNAPSHOT ||
        kind == SF_RESTORE_OP_LOAD_SNAPSHOT) {
        assert_non_null(op->snapshot_id);
        assert_non_null(op->artifact_path);
    } else {
        assert_null(op->snapshot_id);
        assert_null(op->artifact_path);
    }
    if (kind == SF_RESTORE_OP_VERIFY_MEMBER ||
        kind == SF_RESTORE_OP_VERIFY_FLEET)
        assert_string_equal(op->verification_kind, "status");
    else
        assert_null(op->verification_kind);
}

static void test_dry_run_phase_order(void **s)
{
    static const char *const order[4] = {ROOT, APP, WORKER, WORKER2};
    static const char *const roles[4] = {"root", "app", "worker", "worker"};
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    const sf_restore_operation *op;
    size_t i, seq = 0;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    dry_run(&p, NULL, &d);
    op = d.operations;
    for (i = 0; i < 4; i++, seq++)
        assert_op(&op[seq], seq, SF_RESTORE_OP_UPLOAD_SNAPSHOT, i, order[i],
                  order[i], roles[i]);
    assert_string_equal(op[0].snapshot_id, "snap-root");
    assert_string_equal(op[0].artifact_path, "artifacts/aaaaa-aa");
    for (i = 0; i < 4; i++, seq++)
        assert_op(&op[seq], seq, SF_RESTORE_OP_STOP_CANISTER, i, order[i],
                  order[i], roles[i]);
    for (i = 0; i < 4; i++, seq++)
        assert_op(&op[seq], seq, SF_RESTORE_OP_LOAD_SNAPSHOT, i, order[i],
                  order[i], roles[i]);
    /* Children are started before their parents. */
    for (i = 4; i-- > 0; seq++)
        assert_op(&op[seq], seq, SF_RESTORE_OP_START_CANISTER, i, order[i],
                  order[i], roles[i]);
    assert_op(&op[seq], seq, SF_RESTORE_OP_VERIFY_MEMBER, 0, ROOT, ROOT,
              "root");
    seq++;
    assert_op(&op[seq], seq, SF_RESTORE_OP_VERIFY_MEMBER, 1, APP, APP, "app");
    seq++;
    for (i = 0; i < 4; i++, seq++)
        assert_op(&op[seq], seq, SF_RESTORE_OP_VERIFY_MEMBER, 2 + i / 2,
                  order[2 + i / 2], order[2 + i / 2], "worker");
    /* Fleet checks last, against the root, member_order = sequence. */
    assert_op(&op[seq], seq, SF_RESTORE_OP_VERIFY_FLEET, seq, ROOT, ROOT,
              "fleet");
    seq++;
    assert_int_equal(d.operations_len, seq);
    assert_int_equal(d.rendered_operations, 23);
    assert_int_equal(d.planned_operations, 23);
    assert_int_equal(d.operation_counts.canister_stops, 4);
    assert_int_equal(d.operation_counts.canister_starts, 4);
    assert_int_equal(d.operation_counts.snapshot_uploads, 4);
    assert_int_equal(d.operation_counts.snapshot_loads, 4);
    assert_int_equal(d.operation_counts.member_verifications, 6);
    assert_int_equal(d.operation_counts.fleet_verifications, 1);
    assert_int_equal(d.operation_counts.verification_operations, 7);
    assert_true(d.ready);
    assert_null(d.artifact_validation);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_dry_run_fleet_checks_target(void **s)
{
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;
    sf_restore_dry_run d;
    const sf_restore_operation *last;

    (void)s;
    load_manifest(&m);
    /* A relocated root: fleet checks run against its target. */
    m.fleet.members[M_ROOT].identity_mode = SF_MANIFEST_IDENTITY_RELOCATABLE;
    mapping_of(&map, 4, APP, APP, ROOT, T1, WORKER, WORKER, WORKER2, WORKER2);
    build(&m, &map, &p);
    dry_run(&p, NULL, &d);
    last = &d.operations[d.operations_len - 1];
    assert_op(last, 22, SF_RESTORE_OP_VERIFY_FLEET, 22, ROOT, T1, "fleet");
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_restore_mapping_free(&map);
    /* A root that is not restored: both ends are the source root. */
    set_str(&m.source.root_canister, OTHER);
    build(&m, NULL, &p);
    dry_run(&p, NULL, &d);
    last = &d.operations[d.operations_len - 1];
    assert_op(last, 22, SF_RESTORE_OP_VERIFY_FLEET, 22, OTHER, OTHER,
              "fleet");
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    /* Two fleet checks, no fleet checks. */
    m.verification.fleet_check_count = 0;
    build(&m, NULL, &p);
    m.verification.fleet_check_count = 1;
    dry_run(&p, NULL, &d);
    assert_int_equal(d.operations_len, 22);
    assert_int_equal(d.operation_counts.fleet_verifications, 0);
    assert_int_equal(d.operations[21].kind, SF_RESTORE_OP_VERIFY_MEMBER);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

static void test_dry_run_json_exact_bytes(void **s)
{
    char *path = data_path("dry-run-in-place.json"), *want;
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    sf_buf b;
    size_t len;

    (void)s;
    want = slurp(path, &len);
    load_manifest(&m);
    build(&m, NULL, &p);
    dry_run(&p, NULL, &d);
    sf_buf_init(&b);
    OK(sf_restore_dry_run_write_json(&d, &b, &e_));
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, len);
    sf_buf_free(&b);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    free(want);
    free(path);
}

/* A dry-run trusts the plan's order but not a plan snapfleet's check
 * refuses. */
static void test_dry_run_checks_plan(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;

    (void)s;
    load_manifest(&m);
    build(&m, NULL, &p);
    set_str(&p.members[1].target_canister, ROOT);
    FAILS(sf_restore_dry_run_build(&p, NULL, &d, &e_),
          "duplicate-plan-target", "members[1].target_canister", NULL);
    assert_null(d.operations);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
}

/* ---- the apply dry-run: artifact validation ---- */

static void write_text(const char *dir, const char *rel, const char *text)
{
    char path[4096], *slash;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    slash = strrchr(path, '/');
    *slash = '\0';
    OK(sf_fs_mkdir_p(path, &e_));
    *slash = '/';
    OK(sf_fs_write_atomic(path, text, strlen(text), &e_));
}

/* A backup directory with one artifact per member (a directory holding
 * one file for the app, plain files for the others) and the manifest's
 * checksums set to match. */
static char *backup_dir(sf_manifest *m)
{
    char *dir = temp_dir(), path[4096], hex[SF_SHA256_HEX_SIZE];
    size_t i;

    for (i = 0; i < m->fleet.member_count; i++) {
        sf_manifest_snapshot *ss = &m->fleet.members[i].source_snapshot;
        char rel[256];

        if (i == M_APP) {
            snprintf(rel, sizeof rel, "%s/wasm_module.bin", ss->artifact_path);
            write_text(dir, rel, "module bytes");
        } else {
            write_text(dir, ss->artifact_path, m->fleet.members[i].role);
        }
        snprintf(path, sizeof path, "%s/%s", dir, ss->artifact_path);
        OK(sf_checksum_path(path, hex, &e_));
        set_str(&ss->checksum, hex);
    }
    return dir;
}

static void test_artifact_validation_passes(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    const sf_restore_artifact_validation *v;
    char *dir, resolved[4096];
    sf_buf b;

    (void)s;
    load_manifest(&m);
    dir = backup_dir(&m);
    build(&m, NULL, &p);
    dry_run(&p, dir, &d);
    v = d.artifact_validation;
    assert_non_null(v);
    assert_string_equal(v->backup_root, dir);
    assert_int_equal(v->checked_members, 4);
    assert_true(v->artifacts_present);
    assert_true(v->checksums_verified);
    assert_int_equal(v->members_with_expected_checksums, 4);
    assert_int_equal(v->check_count, 4);
    assert_string_equal(v->checks[0].source_canister, ROOT);
    assert_string_equal(v->checks[0].target_canister, ROOT);
    assert_string_equal(v->checks[0].snapshot_id, "snap-root");
    assert_string_equal(v->checks[0].artifact_path, "artifacts/aaaaa-aa");
    snprintf(resolved, sizeof resolved, "%s/artifacts/aaaaa-aa", dir);
    assert_string_equal(v->checks[0].resolved_path, resolved);
    assert_true(v->checks[0].exists);
    assert_string_equal(v->checks[0].checksum_algorithm, "sha256");
    assert_string_equal(v->checks[0].checksum_expected,
                        v->checks[0].checksum_actual);
    assert_true(v->checks[0].checksum_verified);
    sf_buf_init(&b);
    OK(sf_restore_dry_run_write_json(&d, &b, &e_));
    assert_non_null(strstr(b.data, "\"artifact_validation\": {\n    "
                                   "\"backup_root\": \""));
    assert_non_null(strstr(b.data,
                           "\"checksums_verified\": true,\n    "
                           "\"members_with_expected_checksums\": 4,\n    "
                           "\"checks\": [\n      {\n        "
                           "\"source_canister\": \"aaaaa-aa\",\n"));
    assert_non_null(strstr(b.data, "\"exists\": true,\n        "
                                   "\"checksum_algorithm\": \"sha256\",\n"));
    sf_buf_free(&b);
    sf_restore_dry_run_free(&d);
    /* A root given with a trailing slash is joined with no second one. */
    snprintf(resolved, sizeof resolved, "%s/", dir);
    dry_run(&p, resolved, &d);
    snprintf(resolved, sizeof resolved, "%s/artifacts/aaaaa-aa", dir);
    assert_string_equal(d.artifact_validation->checks[0].resolved_path,
                        resolved);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    remove_tree(dir);
    free(dir);
}

static void test_artifact_path_safety(void **s)
{
    static const char *const escapes[] = {"../outside", "/etc/passwd",
                                          "artifacts/../../x", "a//..//b",
                                          ".."};
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    char *dir, msg[512], resolved[4096];
    size_t i;

    (void)s;
    load_manifest(&m);
    dir = backup_dir(&m);
    build(&m, NULL, &p);
    for (i = 0; i < sizeof escapes / sizeof escapes[0]; i++) {
        set_str(&p.members[1].source_snapshot.artifact_path, escapes[i]);
        snprintf(msg, sizeof msg,
                 "restore artifact path for " APP " escapes backup root: %s",
                 escapes[i]);
        FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_),
              "artifact-path-escapes-backup",
              "members[1].source_snapshot.artifact_path", msg);
        assert_null(d.operations);
    }
    /* `..foo` is a name and `./x` stays as written. */
    write_text(dir, "..foo", "app");
    set_str(&p.members[1].source_snapshot.artifact_path, "./..foo");
    set_str(&p.members[1].source_snapshot.checksum, NULL);
    dry_run(&p, dir, &d);
    snprintf(resolved, sizeof resolved, "%s/./..foo", dir);
    assert_string_equal(d.artifact_validation->checks[1].resolved_path,
                        resolved);
    sf_restore_dry_run_free(&d);
    /* A symbolic link is never followed (snapfleet). */
    snprintf(resolved, sizeof resolved, "%s/link", dir);
    assert_int_equal(symlink("artifacts", resolved), 0);
    set_str(&p.members[1].source_snapshot.artifact_path,
            "link/renrk-eyaaa-aaaaa-aaada-cai");
    FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "symlink-refused",
          "members[1].source_snapshot.artifact_path", NULL);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    remove_tree(dir);
    free(dir);
}

static void test_artifact_missing_and_checksums(void **s)
{
    sf_manifest m;
    sf_restore_plan p;
    sf_restore_dry_run d;
    char *dir, path[4096], moved[4200], msg[8192], upper[SF_SHA256_HEX_SIZE];
    const char *expected;
    size_t i;

    (void)s;
    load_manifest(&m);
    dir = backup_dir(&m);
    build(&m, NULL, &p);
    /* Missing. */
    snprintf(path, sizeof path, "%s/artifacts/" WORKER, dir);
    snprintf(moved, sizeof moved, "%s/moved", dir);
    assert_int_equal(rename(path, moved), 0);
    snprintf(msg, sizeof msg,
             "restore artifact for " WORKER " is missing: artifacts/" WORKER
             " at %s",
             path);
    FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "artifact-missing",
          "members[2].source_snapshot.artifact_path", msg);
    assert_int_equal(rename(moved, path), 0);
    dry_run(&p, dir, &d);
    sf_restore_dry_run_free(&d);
    /* Mismatch; an upper-case expected hash is a mismatch too (canic
     * compares exactly). */
    expected = p.members[3].source_snapshot.checksum;
    for (i = 0; i < 64; i++)
        upper[i] = (char)((expected[i] >= 'a' && expected[i] <= 'f')
                              ? expected[i] - 32
                              : expected[i]);
    upper[64] = '\0';
    set_str(&p.members[3].source_snapshot.checksum, upper);
    snprintf(msg, sizeof msg,
             "restore artifact checksum failed for " WORKER2
             " at artifacts/" WORKER2 ": checksum mismatch: expected %s, "
             "actual %s",
             upper, m.fleet.members[M_WORKER2].source_snapshot.checksum);
    FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "artifact-checksum",
          "members[3].source_snapshot.checksum", msg);
    set_str(&p.members[3].source_snapshot.checksum,
            m.fleet.members[M_WORKER2].source_snapshot.checksum);
    /* Unreadable (not for root, who reads everything). */
    if (geteuid() != 0) {
        snprintf(path, sizeof path, "%s/artifacts/" WORKER2, dir);
        assert_int_equal(chmod(path, 0), 0);
        FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "artifact-checksum",
              "members[3].source_snapshot.artifact_path", NULL);
        assert_int_equal(chmod(path, 0600), 0);
    }
    /* An artifact that cannot be hashed (here: nested deeper than the
     * checksum walk allows, which fails even for root) is canic's
     * ArtifactChecksum(io). */
    {
        size_t depth;

        snprintf(path, sizeof path, "%s/artifacts/" APP, dir);
        for (depth = 0; depth <= SF_CHECKSUM_MAX_DEPTH; depth++) {
            strcat(path, "/d");
            assert_int_equal(mkdir(path, 0700), 0);
        }
        FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "artifact-checksum",
              "members[1].source_snapshot.artifact_path", NULL);
        assert_non_null(strstr(e_.message, "restore artifact checksum failed "
                                           "for " APP " at artifacts/" APP
                                           ": "));
        snprintf(path, sizeof path, "rm -rf '%s/artifacts/" APP "/d'", dir);
        assert_int_equal(system(path), 0);
    }
    /* A special file inside a directory artifact keeps snapfleet's kind. */
    snprintf(path, sizeof path, "%s/artifacts/" APP "/fifo", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    FAILS(sf_restore_dry_run_build(&p, dir, &d, &e_), "unsupported-file-type",
          "members[1].source_snapshot.artifact_path", NULL);
    assert_int_equal(unlink(path), 0);
    dry_run(&p, dir, &d);
    sf_restore_dry_run_free(&d);
    /* Members without a checksum are not hashed and leave the dry-run
     * unverified. */
    set_str(&p.members[2].source_snapshot.checksum, NULL);
    dry_run(&p, dir, &d);
    assert_null(d.artifact_validation->checks[2].checksum_expected);
    assert_null(d.artifact_validation->checks[2].checksum_actual);
    assert_false(d.artifact_validation->checks[2].checksum_verified);
    assert_true(d.artifact_validation->artifacts_present);
    assert_false(d.artifact_validation->checksums_verified);
    assert_int_equal(d.artifact_validation->members_with_expected_checksums,
                     3);
    sf_restore_dry_run_free(&d);
    sf_restore_plan_free(&p);
    sf_manifest_free(&m);
    remove_tree(dir);
    free(dir);
}

/* ---- sample files ---- */

static void sample_dir(const char *sub, size_t min_valid, size_t min_broken,
                       int (*check)(const char *path, const char *text,
                                    size_t len, bool canonical))
{
    char *dirpath = data_path(sub);
    DIR *d = opendir(dirpath);
    struct dirent *e;
    size_t valid = 0, broken = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name, *end;
        char full[4096], kind[64];
        size_t len, n;
        char *text;

        if (strncmp(name, "valid-", 6) != 0 &&
            strncmp(name, "broken-", 7) != 0)
            continue;
        snprintf(full, sizeof full, "%s/%s", dirpath, name);
        text = slurp(full, &len);
        sf_error_clear(&e_);
        if (name[0] == 'v') {
            if (check(full, text, len, strstr(name, "lenient") == NULL) !=
                SF_OK)
                fail_msg("%s: %s %s", name, e_.kind, e_.message);
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
            if (check(full, text, len, false) == SF_OK)
                fail_msg("%s was accepted", name);
            if (e_.kind == NULL || strcmp(e_.kind, kind) != 0)
                fail_msg("%s: expected %s, got %s (%s)", name, kind,
                         e_.kind ? e_.kind : "(none)", e_.message);
            broken++;
        }
        free(text);
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= min_valid);
    assert_true(broken >= min_broken);
}

static int check_plan(const char *path, const char *text, size_t len,
                      bool canonical)
{
    sf_restore_plan p, q;
    sf_buf a, b;
    int rc;

    if (sf_restore_plan_read_file(path, &p, &e_) != SF_OK) {
        assert_null(p.members);
        return SF_ERR;
    }
    sf_buf_init(&a);
    sf_buf_init(&b);
    OK(sf_restore_plan_write_json(&p, &a, &e_));
    if (canonical && (a.len != len || memcmp(a.data, text, len) != 0))
        fail_msg("%s is not in canonical form", path);
    OK(sf_restore_plan_parse(a.data, a.len, &q, &e_));
    OK(sf_restore_plan_write_json(&q, &b, &e_));
    rc = a.len == b.len && memcmp(a.data, b.data, a.len) == 0 ? SF_OK
                                                              : SF_ERR;
    if (rc != SF_OK)
        fail_msg("%s does not round-trip", path);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_plan_free(&p);
    sf_restore_plan_free(&q);
    return SF_OK;
}

static int check_mapping(const char *path, const char *text, size_t len,
                         bool canonical)
{
    sf_restore_mapping m, q;
    sf_buf a, b;

    if (sf_restore_mapping_read_file(path, &m, &e_) != SF_OK) {
        assert_null(m.members);
        return SF_ERR;
    }
    sf_buf_init(&a);
    sf_buf_init(&b);
    OK(sf_restore_mapping_write_json(&m, &a, &e_));
    if (canonical && (a.len != len || memcmp(a.data, text, len) != 0))
        fail_msg("%s is not in canonical form", path);
    OK(sf_restore_mapping_parse(a.data, a.len, &q, &e_));
    OK(sf_restore_mapping_write_json(&q, &b, &e_));
    if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
        fail_msg("%s does not round-trip", path);
    sf_buf_free(&a);
    sf_buf_free(&b);
    sf_restore_mapping_free(&m);
    sf_restore_mapping_free(&q);
    return SF_OK;
}

static void test_plan_sample_files(void **s)
{
    (void)s;
    sample_dir("plan", 2, 8, check_plan);
}

static void test_mapping_sample_files(void **s)
{
    (void)s;
    sample_dir("mapping", 2, 5, check_mapping);
}

/* Every mapping sample planned against the fixture manifest. */
static void test_valid_mappings_plan(void **s)
{
    char *path = data_path("mapping/valid-relocated.json");
    sf_manifest m;
    sf_restore_mapping map;
    sf_restore_plan p;

    (void)s;
    load_manifest(&m);
    OK(sf_restore_mapping_read_file(path, &map, &e_));
    build(&m, &map, &p);
    assert_int_equal(p.identity_summary.remapped_members, 3);
    sf_restore_plan_free(&p);
    sf_restore_mapping_free(&map);
    sf_manifest_free(&m);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_place_plan_orders_parent_before_child),
        cmocka_unit_test(test_order_is_first_eligible_not_level_order),
        cmocka_unit_test(test_parent_outside_manifest_has_no_target),
        cmocka_unit_test(test_parent_cycle_is_refused),
        cmocka_unit_test(test_fixed_identity_member_cannot_be_remapped),
        cmocka_unit_test(test_relocatable_member_can_be_mapped),
        cmocka_unit_test(test_mapping_must_be_total),
        cmocka_unit_test(test_mapping_rejects_unknown_sources),
        cmocka_unit_test(test_mapping_entry_rules),
        cmocka_unit_test(test_planning_rule_order),
        cmocka_unit_test(test_invalid_manifest_carries_manifest_error),
        cmocka_unit_test(test_members_carry_snapshot_and_verification_metadata),
        cmocka_unit_test(test_snapshot_summary_and_checksum_readiness),
        cmocka_unit_test(test_verification_summary_and_role_groups),
        cmocka_unit_test(test_role_filters_drop_checks),
        cmocka_unit_test(test_operation_summary),
        cmocka_unit_test(test_plan_is_independent_of_manifest),
        cmocka_unit_test(test_plan_json_exact_bytes),
        cmocka_unit_test(test_plan_round_trip),
        cmocka_unit_test(test_plan_reading_defaults),
        cmocka_unit_test(test_plan_reading_refusals),
        cmocka_unit_test(test_plan_validation_rules),
        cmocka_unit_test(test_plan_and_mapping_files),
        cmocka_unit_test(test_mapping_document),
        cmocka_unit_test(test_dry_run_phase_order),
        cmocka_unit_test(test_dry_run_fleet_checks_target),
        cmocka_unit_test(test_dry_run_json_exact_bytes),
        cmocka_unit_test(test_dry_run_checks_plan),
        cmocka_unit_test(test_artifact_validation_passes),
        cmocka_unit_test(test_artifact_path_safety),
        cmocka_unit_test(test_artifact_missing_and_checksums),
        cmocka_unit_test(test_plan_sample_files),
        cmocka_unit_test(test_mapping_sample_files),
        cmocka_unit_test(test_valid_mappings_plan),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
