/* The backup plan: canic's validation rules and their order, execution
 * readiness, selector resolution, the builder and its schedules, reading,
 * writing and files. */
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
#include "snapfleet/plan.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define OTHER "rdmx6-jaaaa-aaaaa-aaadq-cai"
#define ANON "2vxsx-fae"
#define HASH "25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769"
#define MODHASH "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

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

static void add_target(sf_plan *p, const char *id, const char *role,
                       const char *parent, uint64_t depth)
{
    sf_plan_target *t;

    p->targets = realloc(p->targets, (p->target_count + 1) * sizeof *t);
    assert_non_null(p->targets);
    t = &p->targets[p->target_count++];
    memset(t, 0, sizeof *t);
    t->canister_id = xstrdup(id);
    t->role = xstrdup(role);
    t->parent_canister_id = xstrdup(parent);
    t->depth = depth;
    t->control_authority.kind = SF_CONTROL_OPERATOR_CONTROLLER;
    t->control_authority.evidence = SF_EVIDENCE_PROVEN;
    t->snapshot_read_authority.source = SF_READ_OPERATOR_CONTROLLER;
    t->snapshot_read_authority.evidence = SF_EVIDENCE_PROVEN;
    t->identity_mode = SF_IDENTITY_RELOCATABLE;
}

static void add_phase(sf_plan *p, const char *id, sf_phase_kind kind,
                      const char *target)
{
    sf_plan_phase *ph;

    p->phases = realloc(p->phases, (p->phase_count + 1) * sizeof *ph);
    assert_non_null(p->phases);
    ph = &p->phases[p->phase_count];
    ph->operation_id = xstrdup(id);
    ph->order = p->phase_count;
    ph->kind = kind;
    ph->target_canister_id = xstrdup(target);
    p->phase_count++;
}

/* Renumbers `order` after phases were moved around. */
static void renumber(sf_plan *p)
{
    size_t i;

    for (i = 0; i < p->phase_count; i++)
        p->phases[i].order = i;
}

/* canic's hand-made single-target subtree plan (plan/tests.rs): APP under
 * ROOT, proven operator authority, ten phases. */
static void make_plan(sf_plan *p)
{
    memset(p, 0, sizeof *p);
    p->plan_id = xstrdup("plan-001");
    p->run_id = xstrdup("run-001");
    p->fleet = xstrdup("demo");
    p->network = xstrdup("local");
    p->root_canister_id = xstrdup(ROOT);
    p->selected_subtree_root = xstrdup(APP);
    p->selected_scope_kind = SF_SCOPE_SUBTREE;
    p->include_descendants = true;
    p->root_included = false;
    p->requires_root_controller = false;
    p->snapshot_read_authority.source = SF_READ_ROOT_CONFIGURED_READ;
    p->snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    p->quiescence_policy = SF_QUIESCENCE_CRASH_CONSISTENT;
    p->topology_hash_before_quiesce = xstrdup(HASH);
    add_target(p, APP, "app", ROOT, 1);
    add_phase(p, "validate-topology", SF_PHASE_VALIDATE_TOPOLOGY, NULL);
    add_phase(p, "validate-control", SF_PHASE_VALIDATE_CONTROL_AUTHORITY,
              NULL);
    add_phase(p, "validate-read", SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY,
              NULL);
    add_phase(p, "validate-quiescence", SF_PHASE_VALIDATE_QUIESCENCE_POLICY,
              NULL);
    add_phase(p, "stop-app", SF_PHASE_STOP, APP);
    add_phase(p, "snapshot-app", SF_PHASE_CREATE_SNAPSHOT, APP);
    add_phase(p, "start-app", SF_PHASE_START, APP);
    add_phase(p, "download-app", SF_PHASE_DOWNLOAD_SNAPSHOT, APP);
    add_phase(p, "verify-app", SF_PHASE_VERIFY_ARTIFACT, APP);
    add_phase(p, "finalize", SF_PHASE_FINALIZE_MANIFEST, NULL);
}

static void expect_valid(const sf_plan *p)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_plan_validate(p, &err) != SF_OK)
        fail_msg("unexpected %s at %s: %s", err.kind, err.field, err.message);
}

static void expect_error(const sf_error *err, const char *kind,
                         const char *field, const char *message)
{
    assert_non_null(err->kind);
    if (strcmp(err->kind, kind) != 0)
        fail_msg("expected %s, got %s at %s: %s", kind, err->kind, err->field,
                 err->message);
    if (field != NULL)
        assert_string_equal(err->field, field);
    if (message != NULL)
        assert_string_equal(err->message, message);
}

static void expect_invalid(const sf_plan *p, const char *kind,
                           const char *field, const char *message)
{
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_plan_validate(p, &err), SF_ERR);
    expect_error(&err, kind, field, message);
}

static void expect_not_executable(const sf_plan *p, const char *kind,
                                  const char *field, const char *message)
{
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_plan_validate_for_execution(p, &err), SF_ERR);
    expect_error(&err, kind, field, message);
}

/* One validation rule = one mutation of the valid plan + the error it
 * must produce. */
typedef void (*plan_mutator)(sf_plan *p);

static void check_rule(plan_mutator mutate, const char *kind,
                       const char *field, const char *message)
{
    sf_plan p;

    make_plan(&p);
    expect_valid(&p);
    mutate(&p);
    expect_invalid(&p, kind, field, message);
    sf_plan_free(&p);
}

#define RULE(name, kind, field, message)                                   \
    static void mut_##name(sf_plan *p);                                    \
    static void test_##name(void **state)                                  \
    {                                                                      \
        (void)state;                                                       \
        check_rule(mut_##name, kind, field, message);                      \
    }                                                                      \
    static void mut_##name(sf_plan *p)

/* ---- enums ---- */

static void test_enum_names(void **state)
{
    static const char *const kebab[] = {
        "validate-topology", "validate-control-authority",
        "validate-snapshot-read-authority", "validate-quiescence-policy",
        "stop", "create-snapshot", "start", "download-snapshot",
        "verify-artifact", "finalize-manifest"};
    static const char *const pascal[] = {
        "ValidateTopology", "ValidateControlAuthority",
        "ValidateSnapshotReadAuthority", "ValidateQuiescencePolicy", "Stop",
        "CreateSnapshot", "Start", "DownloadSnapshot", "VerifyArtifact",
        "FinalizeManifest"};
    sf_phase_kind k;
    int i;

    (void)state;
    for (i = 0; i < SF_PHASE_KIND_COUNT; i++) {
        assert_string_equal(sf_phase_kind_name((sf_phase_kind)i), kebab[i]);
        assert_string_equal(sf_phase_kind_pascal_name((sf_phase_kind)i),
                            pascal[i]);
        assert_int_equal(sf_phase_kind_from_name(kebab[i], &k), SF_OK);
        assert_int_equal(k, i);
    }
    assert_null(sf_phase_kind_name((sf_phase_kind)SF_PHASE_KIND_COUNT));
    assert_int_equal(sf_phase_kind_from_name("Stop", &k), SF_ERR);
    assert_string_equal(sf_evidence_name(SF_EVIDENCE_PROVEN), "proven");
    assert_string_equal(sf_evidence_name(SF_EVIDENCE_DECLARED), "declared");
    assert_string_equal(sf_evidence_name(SF_EVIDENCE_UNKNOWN), "unknown");
    assert_string_equal(sf_scope_kind_name(SF_SCOPE_MEMBER), "member");
    assert_string_equal(sf_scope_kind_name(SF_SCOPE_SUBTREE), "subtree");
    assert_string_equal(sf_scope_kind_name(SF_SCOPE_NON_ROOT_FLEET),
                        "non-root-fleet");
    assert_string_equal(sf_scope_kind_name(SF_SCOPE_MAINTENANCE_ROOT),
                        "maintenance-root");
    assert_string_equal(
        sf_quiescence_policy_name(SF_QUIESCENCE_CRASH_CONSISTENT),
        "crash-consistent");
    assert_string_equal(
        sf_quiescence_policy_name(SF_QUIESCENCE_ROOT_COORDINATED),
        "root-coordinated");
    assert_string_equal(sf_quiescence_policy_name(SF_QUIESCENCE_APP_QUIESCED),
                        "app-quiesced");
    assert_string_equal(sf_control_source_name(SF_CONTROL_UNKNOWN), "unknown");
    assert_string_equal(sf_control_source_name(SF_CONTROL_ROOT_CONTROLLER),
                        "root-controller");
    assert_string_equal(sf_control_source_name(SF_CONTROL_OPERATOR_CONTROLLER),
                        "operator-controller");
    assert_string_equal(
        sf_control_source_name(SF_CONTROL_ALTERNATE_CONTROLLER),
        "alternate-controller");
    assert_string_equal(sf_read_source_name(SF_READ_UNKNOWN), "unknown");
    assert_string_equal(sf_read_source_name(SF_READ_OPERATOR_CONTROLLER),
                        "operator-controller");
    assert_string_equal(sf_read_source_name(SF_READ_SNAPSHOT_VISIBILITY),
                        "snapshot-visibility");
    assert_string_equal(sf_read_source_name(SF_READ_ROOT_CONFIGURED_READ),
                        "root-configured-read");
    assert_string_equal(sf_read_source_name(SF_READ_ROOT_MEDIATED_TRANSFER),
                        "root-mediated-transfer");
    assert_string_equal(sf_identity_mode_name(SF_IDENTITY_FIXED), "fixed");
    assert_string_equal(sf_identity_mode_name(SF_IDENTITY_RELOCATABLE),
                        "relocatable");
}

/* The plan's mutating class: stop, create, start, download only. */
static void test_plan_kind_classes(void **state)
{
    int i;

    (void)state;
    for (i = 0; i < SF_PHASE_KIND_COUNT; i++) {
        sf_phase_kind k = (sf_phase_kind)i;
        assert_int_equal(sf_phase_kind_is_preflight(k), i <= 3);
        assert_int_equal(sf_phase_kind_is_plan_mutating(k),
                         k == SF_PHASE_STOP || k == SF_PHASE_CREATE_SNAPSHOT ||
                             k == SF_PHASE_START ||
                             k == SF_PHASE_DOWNLOAD_SNAPSHOT);
    }
    assert_false(sf_phase_kind_is_plan_mutating(SF_PHASE_VERIFY_ARTIFACT));
    assert_false(sf_phase_kind_is_plan_mutating(SF_PHASE_FINALIZE_MANIFEST));
}

static void test_authority_predicates(void **state)
{
    sf_control_authority c = {SF_CONTROL_ROOT_CONTROLLER, NULL, NULL,
                              SF_EVIDENCE_PROVEN};
    sf_read_authority r = {SF_READ_SNAPSHOT_VISIBILITY, SF_EVIDENCE_PROVEN};

    (void)state;
    assert_true(sf_control_authority_is_proven(&c));
    assert_true(sf_control_authority_is_proven_root_controller(&c));
    c.kind = SF_CONTROL_OPERATOR_CONTROLLER;
    assert_true(sf_control_authority_is_proven(&c));
    assert_false(sf_control_authority_is_proven_root_controller(&c));
    c.kind = SF_CONTROL_UNKNOWN;
    assert_false(sf_control_authority_is_proven(&c));
    c.kind = SF_CONTROL_ROOT_CONTROLLER;
    c.evidence = SF_EVIDENCE_DECLARED;
    assert_false(sf_control_authority_is_proven(&c));
    assert_false(sf_control_authority_is_proven_root_controller(&c));
    assert_true(sf_read_authority_is_proven(&r));
    r.source = SF_READ_UNKNOWN;
    assert_false(sf_read_authority_is_proven(&r));
    r.source = SF_READ_OPERATOR_CONTROLLER;
    r.evidence = SF_EVIDENCE_UNKNOWN;
    assert_false(sf_read_authority_is_proven(&r));
}

/* ---- validation: canic's scenarios ---- */

static void test_validates_subtree_plan_with_authority_preflights(void **s)
{
    sf_plan p;
    sf_error err;

    (void)s;
    make_plan(&p);
    sf_error_clear(&err);
    assert_int_equal(sf_plan_validate(&p, &err), SF_OK);
    assert_int_equal(sf_plan_validate_for_execution(&p, &err), SF_OK);
    sf_plan_free(&p);
}

static void test_planning_allows_declared_authority(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.targets[0].control_authority.kind = SF_CONTROL_ROOT_CONTROLLER;
    p.targets[0].control_authority.evidence = SF_EVIDENCE_DECLARED;
    expect_valid(&p);
    expect_not_executable(&p, "unproven-control-authority",
                          "targets[0].control_authority",
                          "target " APP " has no proven control authority");
    sf_plan_free(&p);
}

static void test_planning_allows_unknown_authority(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.targets[0].control_authority.kind = SF_CONTROL_UNKNOWN;
    p.targets[0].control_authority.evidence = SF_EVIDENCE_UNKNOWN;
    p.targets[0].snapshot_read_authority.source = SF_READ_UNKNOWN;
    p.targets[0].snapshot_read_authority.evidence = SF_EVIDENCE_UNKNOWN;
    expect_valid(&p);
    expect_not_executable(&p, "unproven-control-authority",
                          "targets[0].control_authority", NULL);
    sf_plan_free(&p);
}

static void test_rejects_unproven_control_authority(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    /* proven evidence of an unknown source is not proof */
    p.targets[0].control_authority.kind = SF_CONTROL_UNKNOWN;
    expect_not_executable(&p, "unproven-control-authority",
                          "targets[0].control_authority", NULL);
    sf_plan_free(&p);
}

static void test_rejects_unproven_snapshot_read_authority(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.targets[0].snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    expect_not_executable(&p, "unproven-target-snapshot-read-authority",
                          "targets[0].snapshot_read_authority",
                          "target " APP
                          " has no proven snapshot read authority");
    sf_plan_free(&p);
    make_plan(&p);
    p.targets[0].snapshot_read_authority.source = SF_READ_UNKNOWN;
    expect_not_executable(&p, "unproven-target-snapshot-read-authority",
                          NULL, NULL);
    sf_plan_free(&p);
}

/* root_controller plans: every non-root target needs a proven
 * root-controller authority; operator proof is not enough. */
static void test_missing_root_controller(void **s)
{
    sf_plan p;
    sf_error err;

    (void)s;
    make_plan(&p);
    p.requires_root_controller = true;
    expect_not_executable(&p, "missing-root-controller",
                          "targets[0].control_authority",
                          "target " APP
                          " must be controllable by root for this plan");
    p.targets[0].control_authority.kind = SF_CONTROL_ROOT_CONTROLLER;
    sf_error_clear(&err);
    assert_int_equal(sf_plan_validate_for_execution(&p, &err), SF_OK);
    sf_plan_free(&p);

    /* the root itself is exempt (maintenance-root plan) */
    make_plan(&p);
    p.requires_root_controller = true;
    p.selected_scope_kind = SF_SCOPE_MAINTENANCE_ROOT;
    p.root_included = true;
    set_str(&p.selected_subtree_root, ROOT);
    set_str(&p.targets[0].canister_id, ROOT);
    set_str(&p.targets[0].parent_canister_id, NULL);
    for (size_t i = 0; i < p.phase_count; i++)
        if (p.phases[i].target_canister_id != NULL)
            set_str(&p.phases[i].target_canister_id, ROOT);
    assert_int_equal(sf_plan_validate_for_execution(&p, &err), SF_OK);
    sf_plan_free(&p);
}

/* execution checks run per target in order: control, read, root */
static void test_execution_check_order(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    add_target(&p, WORKER, "worker", APP, 2);
    p.targets[1].control_authority.evidence = SF_EVIDENCE_DECLARED;
    p.targets[1].snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    p.targets[0].snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    /* target 0's read beats target 1's control */
    expect_not_executable(&p, "unproven-target-snapshot-read-authority",
                          "targets[0].snapshot_read_authority", NULL);
    p.targets[0].snapshot_read_authority.evidence = SF_EVIDENCE_PROVEN;
    p.requires_root_controller = true;
    /* target 0's root requirement beats target 1's control */
    expect_not_executable(&p, "missing-root-controller",
                          "targets[0].control_authority", NULL);
    p.requires_root_controller = false;
    expect_not_executable(&p, "unproven-control-authority",
                          "targets[1].control_authority", NULL);
    /* planning validity comes first */
    set_str(&p.plan_id, "");
    expect_not_executable(&p, "empty-field", "plan_id", NULL);
    sf_plan_free(&p);
}

RULE(rejects_root_in_normal_scope, "root-included-without-maintenance",
     "root_included", "normal backup scope must not include root")
{
    p->root_included = true;
}

RULE(rejects_mutation_before_preflights, "mutation-before-preflight",
     "phases[0].kind",
     "mutating operation stop-app appears before required preflights")
{
    sf_plan_phase stop = p->phases[4];

    memmove(&p->phases[1], &p->phases[0], 4 * sizeof stop);
    p->phases[0] = stop;
    renumber(p);
}

RULE(rejects_non_root_fleet_with_selected_root,
     "non-root-fleet-has-selected-root", "selected_subtree_root",
     "non-root-fleet scope must not declare a selected subtree root")
{
    p->selected_scope_kind = SF_SCOPE_NON_ROOT_FLEET;
}

RULE(rejects_operation_order_mismatch, "operation-order-mismatch",
     "phases[1].order", "operation validate-control has order 42, expected 1")
{
    p->phases[1].order = 42;
}

/* ---- validation: one case per rule (spec 7) ---- */

RULE(empty_plan_id, "empty-field", "plan_id",
     "field plan_id must not be empty")
{
    set_str(&p->plan_id, "");
}

RULE(blank_run_id, "empty-field", "run_id", "field run_id must not be empty")
{
    set_str(&p->run_id, " \t\n");
}

/* U+3000 IDEOGRAPHIC SPACE is white space for Rust's trim */
RULE(blank_fleet, "empty-field", "fleet", "field fleet must not be empty")
{
    set_str(&p->fleet, "\xe3\x80\x80");
}

RULE(blank_network, "empty-field", "network",
     "field network must not be empty")
{
    set_str(&p->network, "  ");
}

RULE(blank_topology_hash, "empty-field", "topology_hash_before_quiesce",
     "field topology_hash_before_quiesce must not be empty")
{
    set_str(&p->topology_hash_before_quiesce, " ");
}

RULE(bad_root_canister_id, "invalid-principal", "root_canister_id",
     "field root_canister_id must be a valid principal: aaaaaaa")
{
    set_str(&p->root_canister_id, "aaaaaaa");
}

/* an empty root is a principal error, not an empty-field one */
RULE(empty_root_canister_id, "invalid-principal", "root_canister_id",
     "field root_canister_id must be a valid principal: ")
{
    set_str(&p->root_canister_id, "");
}

RULE(bad_selected_subtree_root, "invalid-principal", "selected_subtree_root",
     "field selected_subtree_root must be a valid principal: app")
{
    set_str(&p->selected_subtree_root, "app");
}

RULE(bad_target_canister_id, "invalid-principal", "targets[0].canister_id",
     "field targets[].canister_id must be a valid principal: xyz")
{
    set_str(&p->targets[0].canister_id, "xyz");
}

RULE(bad_target_parent, "invalid-principal", "targets[0].parent_canister_id",
     "field targets[].parent_canister_id must be a valid principal: root")
{
    set_str(&p->targets[0].parent_canister_id, "root");
}

RULE(blank_target_role, "empty-field", "targets[0].role",
     "field targets[].role must not be empty")
{
    set_str(&p->targets[0].role, " ");
}

RULE(blank_expected_module_hash, "empty-field",
     "targets[0].expected_module_hash",
     "field targets[].expected_module_hash must not be empty")
{
    set_str(&p->targets[0].expected_module_hash, "");
}

RULE(bad_alternate_controller, "invalid-principal",
     "targets[0].control_authority.source.controller",
     "field targets[].control_authority.controller must be a valid "
     "principal: ops")
{
    p->targets[0].control_authority.kind = SF_CONTROL_ALTERNATE_CONTROLLER;
    set_str(&p->targets[0].control_authority.controller, "ops");
    set_str(&p->targets[0].control_authority.reason, "ops key");
}

RULE(blank_alternate_reason, "empty-field",
     "targets[0].control_authority.source.reason",
     "field targets[].control_authority.reason must not be empty")
{
    p->targets[0].control_authority.kind = SF_CONTROL_ALTERNATE_CONTROLLER;
    set_str(&p->targets[0].control_authority.controller, ROOT);
    set_str(&p->targets[0].control_authority.reason, " ");
}

RULE(maintenance_root_excludes_root, "maintenance-root-excludes-root",
     "root_included", "maintenance root scope must include root")
{
    p->selected_scope_kind = SF_SCOPE_MAINTENANCE_ROOT;
}

RULE(root_among_targets, "root-included-without-maintenance",
     "targets[1].canister_id", "normal backup scope must not include root")
{
    add_target(p, ROOT, "root", NULL, 0);
}

RULE(empty_targets, "empty-targets", "targets", "backup plan has no targets")
{
    size_t i;

    for (i = 0; i < p->target_count; i++) {
        free(p->targets[i].canister_id);
        free(p->targets[i].role);
        free(p->targets[i].parent_canister_id);
    }
    free(p->targets);
    p->targets = NULL;
    p->target_count = 0;
}

RULE(empty_phases, "empty-phases", "phases", "backup plan has no phases")
{
    size_t i;

    for (i = 0; i < p->phase_count; i++) {
        free(p->phases[i].operation_id);
        free(p->phases[i].target_canister_id);
    }
    free(p->phases);
    p->phases = NULL;
    p->phase_count = 0;
}

RULE(duplicate_target, "duplicate-target", "targets[2].canister_id",
     "duplicate backup target " APP)
{
    add_target(p, WORKER, "worker", APP, 2);
    add_target(p, APP, "app2", ROOT, 1);
}

RULE(duplicate_operation_id, "duplicate-operation-id",
     "phases[10].operation_id", "duplicate backup operation id stop-app")
{
    add_phase(p, "stop-app", SF_PHASE_STOP, APP);
}

RULE(blank_operation_id, "empty-field", "phases[3].operation_id",
     "field phases[].operation_id must not be empty")
{
    set_str(&p->phases[3].operation_id, " ");
}

RULE(bad_phase_target, "invalid-principal", "phases[6].target_canister_id",
     "field phases[].target_canister_id must be a valid principal: app")
{
    set_str(&p->phases[6].target_canister_id, "app");
}

RULE(unknown_operation_target, "unknown-operation-target",
     "phases[5].target_canister_id",
     "operation snapshot-app targets unknown canister " WORKER)
{
    set_str(&p->phases[5].target_canister_id, WORKER);
}

RULE(member_without_selected_root, "empty-field", "selected_subtree_root",
     "field selected_subtree_root must not be empty")
{
    p->selected_scope_kind = SF_SCOPE_MEMBER;
    set_str(&p->selected_subtree_root, NULL);
}

RULE(subtree_without_selected_root, "empty-field", "selected_subtree_root",
     NULL)
{
    set_str(&p->selected_subtree_root, NULL);
}

RULE(selected_root_not_in_targets, "selected-root-not-in-targets",
     "selected_subtree_root",
     "selected scope root " WORKER " is not present in plan targets")
{
    set_str(&p->selected_subtree_root, WORKER);
}

RULE(missing_topology_preflight, "missing-preflight", "phases",
     "required preflight operation topology is missing")
{
    p->phases[0].kind = SF_PHASE_FINALIZE_MANIFEST;
}

RULE(missing_control_preflight, "missing-preflight", "phases",
     "required preflight operation control_authority is missing")
{
    p->phases[1].kind = SF_PHASE_VALIDATE_TOPOLOGY;
}

RULE(missing_read_preflight, "missing-preflight", "phases",
     "required preflight operation snapshot_read_authority is missing")
{
    p->phases[2].kind = SF_PHASE_VALIDATE_TOPOLOGY;
}

RULE(missing_quiescence_preflight, "missing-preflight", "phases",
     "required preflight operation quiescence_policy is missing")
{
    p->phases[3].kind = SF_PHASE_VALIDATE_TOPOLOGY;
}

/* start and download are mutating for the plan too */
RULE(start_before_preflight, "mutation-before-preflight", "phases[2].kind",
     "mutating operation start-app appears before required preflights")
{
    /* swap validate-read (2) and start-app (6): the cutoff becomes 6 */
    p->phases[2].kind = SF_PHASE_START;
    set_str(&p->phases[2].operation_id, "start-app");
    set_str(&p->phases[2].target_canister_id, APP);
    p->phases[6].kind = SF_PHASE_VALIDATE_SNAPSHOT_READ_AUTHORITY;
    set_str(&p->phases[6].operation_id, "validate-read");
    set_str(&p->phases[6].target_canister_id, NULL);
}

RULE(download_before_preflight, "mutation-before-preflight", "phases[1].kind",
     NULL)
{
    /* cutoff = index of the last first-preflight (3 here) */
    p->phases[1].kind = SF_PHASE_DOWNLOAD_SNAPSHOT;
    p->phases[7].kind = SF_PHASE_VALIDATE_CONTROL_AUTHORITY;
}

/* ---- validation: things that are fine ---- */

/* verify-artifact and finalize-manifest are not mutating for the plan:
 * before the preflights they are accepted (the journal blocks them). */
static void test_verify_and_finalize_before_preflight_allowed(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    /* move verify-app and finalize (8, 9) in front of the preflights */
    {
        sf_plan_phase tail[2];
        memcpy(tail, &p.phases[8], sizeof tail);
        memmove(&p.phases[2], &p.phases[0], 8 * sizeof tail[0]);
        memcpy(&p.phases[0], tail, sizeof tail);
        renumber(&p);
    }
    assert_int_equal(p.phases[0].kind, SF_PHASE_VERIFY_ARTIFACT);
    assert_int_equal(p.phases[1].kind, SF_PHASE_FINALIZE_MANIFEST);
    expect_valid(&p);
    sf_plan_free(&p);
}

/* Only the FIRST occurrence of each preflight counts: a repeated
 * validate-topology at the end does not move the cutoff. */
static void test_cutoff_uses_first_preflight(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.phases[9].kind = SF_PHASE_VALIDATE_TOPOLOGY;
    expect_valid(&p);
    sf_plan_free(&p);
}

/* Not checked by canic: targets without phases, target-less mutating
 * phases, plan-level read authority. */
static void test_unchecked_things(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    add_target(&p, WORKER, "worker", APP, 2);
    set_str(&p.phases[4].target_canister_id, NULL);
    p.snapshot_read_authority.source = SF_READ_UNKNOWN;
    p.snapshot_read_authority.evidence = SF_EVIDENCE_UNKNOWN;
    expect_valid(&p);
    sf_plan_free(&p);
}

/* Optional fields may be null; ids compare byte for byte. */
static void test_optional_nulls_and_exact_ids(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    set_str(&p.targets[0].role, NULL);
    set_str(&p.targets[0].parent_canister_id, NULL);
    expect_valid(&p);
    /* upper-case principal text is valid but a different id */
    set_str(&p.selected_subtree_root, "RENRK-EYAAA-AAAAA-AAADA-CAI");
    expect_invalid(&p, "selected-root-not-in-targets", "selected_subtree_root",
                   NULL);
    sf_plan_free(&p);
}

/* ---- validation: order (first failure wins) ---- */

static void test_order_header_fields(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    set_str(&p.network, "");
    set_str(&p.root_canister_id, "bad");
    set_str(&p.run_id, "");
    expect_invalid(&p, "empty-field", "run_id", NULL);
    set_str(&p.run_id, "r");
    expect_invalid(&p, "empty-field", "network", NULL);
    set_str(&p.network, "n");
    set_str(&p.selected_subtree_root, "bad");
    set_str(&p.topology_hash_before_quiesce, "");
    expect_invalid(&p, "invalid-principal", "root_canister_id", NULL);
    set_str(&p.root_canister_id, ROOT);
    expect_invalid(&p, "invalid-principal", "selected_subtree_root", NULL);
    set_str(&p.selected_subtree_root, APP);
    p.root_included = true;
    expect_invalid(&p, "empty-field", "topology_hash_before_quiesce", NULL);
    sf_plan_free(&p);
}

static void test_order_root_scope_before_targets(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.selected_scope_kind = SF_SCOPE_MAINTENANCE_ROOT;
    set_str(&p.targets[0].canister_id, "bad");
    expect_invalid(&p, "maintenance-root-excludes-root", "root_included",
                   NULL);
    sf_plan_free(&p);
}

static void test_order_within_target(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    /* every per-target check of target 0 fails: the principal is first */
    set_str(&p.targets[0].canister_id, "bad");
    set_str(&p.targets[0].parent_canister_id, "bad");
    set_str(&p.targets[0].role, "");
    set_str(&p.targets[0].expected_module_hash, "");
    p.targets[0].control_authority.kind = SF_CONTROL_ALTERNATE_CONTROLLER;
    set_str(&p.targets[0].control_authority.controller, "bad");
    expect_invalid(&p, "invalid-principal", "targets[0].canister_id", NULL);
    set_str(&p.targets[0].canister_id, APP);
    expect_invalid(&p, "invalid-principal", "targets[0].parent_canister_id",
                   NULL);
    set_str(&p.targets[0].parent_canister_id, ROOT);
    expect_invalid(&p, "empty-field", "targets[0].role", NULL);
    set_str(&p.targets[0].role, "app");
    expect_invalid(&p, "empty-field", "targets[0].expected_module_hash",
                   NULL);
    set_str(&p.targets[0].expected_module_hash, MODHASH);
    expect_invalid(&p, "invalid-principal",
                   "targets[0].control_authority.source.controller", NULL);
    /* reason NULL (a hand-built struct) counts as empty */
    set_str(&p.targets[0].control_authority.controller, ANON);
    expect_invalid(&p, "empty-field",
                   "targets[0].control_authority.source.reason", NULL);
    set_str(&p.targets[0].control_authority.reason, "ops key");
    expect_valid(&p);
    sf_plan_free(&p);
}

/* A duplicate is reported when the loop reaches it, after the checks of
 * the earlier targets and of the duplicate itself. */
static void test_order_duplicate_target(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    add_target(&p, APP, "app", ROOT, 1);
    add_target(&p, "bad", "x", NULL, 0);
    expect_invalid(&p, "duplicate-target", "targets[1].canister_id", NULL);
    set_str(&p.targets[1].role, "");
    expect_invalid(&p, "empty-field", "targets[1].role", NULL);
    sf_plan_free(&p);
    /* root check comes after the duplicate check of the same target */
    make_plan(&p);
    add_target(&p, ROOT, "root", NULL, 0);
    add_target(&p, ROOT, "root", NULL, 0);
    expect_invalid(&p, "root-included-without-maintenance",
                   "targets[1].canister_id", NULL);
    sf_plan_free(&p);
}

static void test_order_targets_before_phases(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    add_target(&p, WORKER, "", APP, 2);
    p.phases[0].order = 7;
    expect_invalid(&p, "empty-field", "targets[1].role", NULL);
    sf_plan_free(&p);
    make_plan(&p);
    add_target(&p, WORKER, "", APP, 2);
    free(p.phases[0].operation_id);
    free(p.phases[0].target_canister_id);
    /* no phases at all: the target is still first */
    for (size_t i = 1; i < p.phase_count; i++) {
        free(p.phases[i].operation_id);
        free(p.phases[i].target_canister_id);
    }
    free(p.phases);
    p.phases = NULL;
    p.phase_count = 0;
    expect_invalid(&p, "empty-field", "targets[1].role", NULL);
    set_str(&p.targets[1].role, "worker");
    expect_invalid(&p, "empty-phases", "phases", NULL);
    sf_plan_free(&p);
}

static void test_order_within_phase(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    /* phase 4: blank id beats the order mismatch of phase 5 */
    set_str(&p.phases[4].operation_id, "");
    p.phases[5].order = 0;
    expect_invalid(&p, "empty-field", "phases[4].operation_id", NULL);
    set_str(&p.phases[4].operation_id, "stop-app");
    expect_invalid(&p, "operation-order-mismatch", "phases[5].order", NULL);
    /* order beats duplicate id, duplicate id beats target */
    set_str(&p.phases[5].operation_id, "stop-app");
    set_str(&p.phases[5].target_canister_id, "bad");
    expect_invalid(&p, "operation-order-mismatch", "phases[5].order", NULL);
    p.phases[5].order = 5;
    expect_invalid(&p, "duplicate-operation-id", "phases[5].operation_id",
                   NULL);
    set_str(&p.phases[5].operation_id, "snapshot-app");
    expect_invalid(&p, "invalid-principal", "phases[5].target_canister_id",
                   NULL);
    sf_plan_free(&p);
}

static void test_order_phases_before_scope_before_preflight(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    set_str(&p.phases[9].target_canister_id, WORKER);
    set_str(&p.selected_subtree_root, WORKER);
    p.phases[0].kind = SF_PHASE_STOP;
    expect_invalid(&p, "unknown-operation-target",
                   "phases[9].target_canister_id", NULL);
    set_str(&p.phases[9].target_canister_id, NULL);
    expect_invalid(&p, "selected-root-not-in-targets", "selected_subtree_root",
                   NULL);
    set_str(&p.selected_subtree_root, APP);
    expect_invalid(&p, "missing-preflight", "phases",
                   "required preflight operation topology is missing");
    sf_plan_free(&p);
}

/* Missing preflights are looked for in the order topology, control, read,
 * quiescence. */
static void test_order_missing_preflights(void **s)
{
    sf_plan p;

    (void)s;
    make_plan(&p);
    p.phases[3].kind = SF_PHASE_FINALIZE_MANIFEST;
    p.phases[1].kind = SF_PHASE_FINALIZE_MANIFEST;
    expect_invalid(&p, "missing-preflight", "phases",
                   "required preflight operation control_authority is "
                   "missing");
    sf_plan_free(&p);
}

/* ---- selectors ---- */

static void fill_entry(sf_registry_entry *e, const char *pid, const char *role,
                       const char *parent, const char *hash)
{
    memset(e, 0, sizeof *e);
    e->pid = xstrdup(pid);
    e->role = xstrdup(role);
    e->parent_pid = xstrdup(parent);
    e->module_hash = xstrdup(hash);
}

/* ROOT (root), APP (app, parent ROOT), WORKER (worker, parent APP). */
static void make_registry(sf_registry *reg)
{
    reg->entries = calloc(3, sizeof *reg->entries);
    assert_non_null(reg->entries);
    reg->count = 3;
    fill_entry(&reg->entries[0], ROOT, "root", NULL, MODHASH);
    fill_entry(&reg->entries[1], APP, "app", ROOT, HASH);
    fill_entry(&reg->entries[2], WORKER, "worker", APP, NULL);
}

static void push_entry(sf_registry *reg, const char *pid, const char *role,
                       const char *parent)
{
    reg->entries =
        realloc(reg->entries, (reg->count + 1) * sizeof *reg->entries);
    assert_non_null(reg->entries);
    fill_entry(&reg->entries[reg->count++], pid, role, parent, NULL);
}

static void expect_selector(const sf_registry *reg, const char *selector,
                            const char *pid)
{
    sf_error err;
    char *got = NULL;

    sf_error_clear(&err);
    if (sf_resolve_backup_selector(reg, selector, &got, &err) != SF_OK)
        fail_msg("%s: %s", selector, err.message);
    assert_string_equal(got, pid);
    free(got);
}

static void expect_selector_error(const sf_registry *reg, const char *selector,
                                  const char *kind, const char *message)
{
    sf_error err;
    char *got = (char *)"x";

    sf_error_clear(&err);
    assert_int_equal(sf_resolve_backup_selector(reg, selector, &got, &err),
                     SF_ERR);
    assert_null(got);
    expect_error(&err, kind, "selector", message);
}

static void test_resolves_principal_and_role_selectors(void **s)
{
    sf_registry reg = {0};

    (void)s;
    make_registry(&reg);
    expect_selector(&reg, APP, APP);
    expect_selector(&reg, WORKER, WORKER);
    expect_selector(&reg, "worker", WORKER);
    expect_selector(&reg, "root", ROOT);
    sf_registry_free(&reg);
}

static void test_rejects_ambiguous_role_selector(void **s)
{
    sf_registry reg = {0};

    (void)s;
    make_registry(&reg);
    push_entry(&reg, OTHER, "worker", APP);
    expect_selector_error(&reg, "worker", "ambiguous-selector",
                          "backup selector worker matched multiple canisters: "
                          "[\"" WORKER "\", \"" OTHER "\"]");
    sf_registry_free(&reg);
}

static void test_rejects_unknown_selector(void **s)
{
    sf_registry reg = {0};

    (void)s;
    make_registry(&reg);
    expect_selector_error(&reg, "missing-role", "unknown-selector",
                          "backup selector missing-role did not match a live "
                          "topology node");
    expect_selector_error(&reg, OTHER, "unknown-selector", NULL);
    /* principal text is never matched against roles, and compares
     * byte for byte with the pids */
    push_entry(&reg, ANON, OTHER, ROOT);
    expect_selector_error(&reg, OTHER, "unknown-selector", NULL);
    expect_selector_error(&reg, "RENRK-EYAAA-AAAAA-AAADA-CAI",
                          "unknown-selector", NULL);
    sf_registry_free(&reg);
}

static void test_rejects_blank_selector(void **s)
{
    sf_registry reg = {0};

    (void)s;
    make_registry(&reg);
    expect_selector_error(&reg, " ", "empty-field",
                          "field selector must not be empty");
    expect_selector_error(&reg, NULL, "empty-field", NULL);
    sf_registry_free(&reg);
}

/* a principal selector returns the FIRST entry with that pid */
static void test_selector_first_principal_entry(void **s)
{
    sf_registry reg = {0};

    (void)s;
    make_registry(&reg);
    push_entry(&reg, APP, "again", ROOT);
    expect_selector(&reg, APP, APP);
    /* roles are exact and case-sensitive */
    expect_selector_error(&reg, "App", "unknown-selector", NULL);
    sf_registry_free(&reg);
}

/* ---- the builder ---- */

static void make_input(sf_plan_input *in, const sf_registry *reg,
                       sf_scope_kind scope, const char *selected)
{
    memset(in, 0, sizeof *in);
    in->plan_id = "plan-001";
    in->run_id = "run-001";
    in->fleet = "demo";
    in->network = "local";
    in->root_canister_id = ROOT;
    in->selected_canister_id = selected;
    in->scope = scope;
    in->include_descendants = scope == SF_SCOPE_SUBTREE;
    in->topology_hash_before_quiesce = HASH;
    in->registry = reg;
    in->control_authority.kind = SF_CONTROL_ROOT_CONTROLLER;
    in->control_authority.evidence = SF_EVIDENCE_DECLARED;
    in->snapshot_read_authority.source = SF_READ_ROOT_CONFIGURED_READ;
    in->snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    in->quiescence_policy = SF_QUIESCENCE_ROOT_COORDINATED;
    in->identity_mode = SF_IDENTITY_RELOCATABLE;
    in->schedule = SF_SCHEDULE_FLEET;
    in->include_starts = true;
}

static void build_ok(const sf_plan_input *in, sf_plan *p)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_plan_build(in, p, &err) != SF_OK)
        fail_msg("build: %s at %s: %s", err.kind, err.field, err.message);
}

static void build_fails(const sf_plan_input *in, const char *kind,
                        const char *field, const char *message)
{
    sf_plan p;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_plan_build(in, &p, &err), SF_ERR);
    expect_error(&err, kind, field, message);
    assert_null(p.plan_id);
    assert_null(p.targets);
    assert_null(p.phases);
}

/* expected = "kind:target" strings ("validate-topology:", "stop:APP") */
static void expect_phases(const sf_plan *p, const char *const *expected,
                          size_t n)
{
    size_t i;

    assert_int_equal(p->phase_count, n);
    for (i = 0; i < n; i++) {
        char got[256];
        const sf_plan_phase *ph = &p->phases[i];

        snprintf(got, sizeof got, "%s:%s", sf_phase_kind_name(ph->kind),
                 ph->target_canister_id ? ph->target_canister_id : "");
        if (strcmp(got, expected[i]) != 0)
            fail_msg("phase %zu: expected %s, got %s", i, expected[i], got);
        assert_int_equal(ph->order, i);
    }
}

#define PRE                                                                \
    "validate-topology:", "validate-control-authority:",                   \
        "validate-snapshot-read-authority:", "validate-quiescence-policy:"

static void test_builds_subtree_plan_from_registry(void **s)
{
    static const char *const expected[] = {
        PRE,
        "stop:" APP,
        "stop:" WORKER,
        "create-snapshot:" APP,
        "create-snapshot:" WORKER,
        "start:" WORKER,
        "start:" APP,
        "download-snapshot:" APP,
        "verify-artifact:" APP,
        "download-snapshot:" WORKER,
        "verify-artifact:" WORKER,
        "finalize-manifest:"};
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_SUBTREE, APP);
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 2);
    assert_string_equal(p.targets[0].canister_id, APP);
    assert_string_equal(p.targets[1].canister_id, WORKER);
    assert_int_equal(p.targets[0].depth, 1);
    assert_int_equal(p.targets[1].depth, 2);
    assert_string_equal(p.targets[0].role, "app");
    assert_string_equal(p.targets[0].parent_canister_id, ROOT);
    assert_string_equal(p.targets[0].expected_module_hash, HASH);
    assert_null(p.targets[1].expected_module_hash);
    assert_int_equal(p.targets[1].control_authority.kind,
                     SF_CONTROL_ROOT_CONTROLLER);
    assert_int_equal(p.targets[1].control_authority.evidence,
                     SF_EVIDENCE_DECLARED);
    assert_int_equal(p.targets[1].snapshot_read_authority.source,
                     SF_READ_ROOT_CONFIGURED_READ);
    assert_int_equal(p.targets[1].identity_mode, SF_IDENTITY_RELOCATABLE);
    assert_string_equal(p.selected_subtree_root, APP);
    assert_false(p.root_included);
    assert_true(p.requires_root_controller);
    assert_int_equal(p.quiescence_policy, SF_QUIESCENCE_ROOT_COORDINATED);
    assert_int_equal(p.snapshot_read_authority.source,
                     SF_READ_ROOT_CONFIGURED_READ);
    expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
    assert_string_equal(p.phases[0].operation_id, "validate-topology");
    assert_string_equal(p.phases[1].operation_id, "validate-control-authority");
    assert_string_equal(p.phases[2].operation_id,
                        "validate-snapshot-read-authority");
    assert_string_equal(p.phases[3].operation_id, "validate-quiescence-policy");
    assert_string_equal(p.phases[4].operation_id, "stop-" APP);
    assert_string_equal(p.phases[6].operation_id, "snapshot-" APP);
    assert_string_equal(p.phases[8].operation_id, "start-" WORKER);
    assert_string_equal(p.phases[10].operation_id, "download-" APP);
    assert_string_equal(p.phases[11].operation_id, "verify-" APP);
    assert_string_equal(p.phases[14].operation_id, "finalize-manifest");
    /* declared authority: a dry-run plan, not executable */
    {
        sf_error err;
        sf_error_clear(&err);
        assert_int_equal(sf_plan_validate_for_execution(&p, &err), SF_ERR);
        assert_string_equal(err.kind, "unproven-control-authority");
    }
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

static void test_builds_non_root_fleet_plan_without_root_target(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    make_registry(&reg);
    /* a given selection is ignored */
    make_input(&in, &reg, SF_SCOPE_NON_ROOT_FLEET, WORKER);
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 2);
    assert_string_equal(p.targets[0].canister_id, APP);
    assert_string_equal(p.targets[1].canister_id, WORKER);
    assert_null(p.selected_subtree_root);
    assert_false(p.root_included);
    assert_int_equal(p.phase_count, 4 + 5 * 2 + 1);
    sf_plan_free(&p);
    /* also without a selection */
    in.selected_canister_id = NULL;
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 2);
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

/* non-root-fleet takes every entry but the root, whatever its parent */
static void test_non_root_fleet_takes_orphans(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    make_registry(&reg);
    push_entry(&reg, OTHER, "orphan", ANON);
    make_input(&in, &reg, SF_SCOPE_NON_ROOT_FLEET, NULL);
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 3);
    assert_string_equal(p.targets[2].canister_id, OTHER);
    /* parent outside the registry: depth 1 */
    assert_int_equal(p.targets[2].depth, 1);
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

static void test_builder_rejects_root_subtree_without_maintenance(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_SUBTREE, ROOT);
    build_fails(&in, "root-included-without-maintenance",
                "targets[0].canister_id",
                "normal backup scope must not include root");
    sf_registry_free(&reg);
}

static void test_builds_maintenance_root_plan(void **s)
{
    static const char *const expected[] = {
        PRE,
        "stop:" ROOT,
        "stop:" APP,
        "stop:" WORKER,
        "create-snapshot:" ROOT,
        "create-snapshot:" APP,
        "create-snapshot:" WORKER,
        "start:" WORKER,
        "start:" APP,
        "start:" ROOT,
        "download-snapshot:" ROOT,
        "verify-artifact:" ROOT,
        "download-snapshot:" APP,
        "verify-artifact:" APP,
        "download-snapshot:" WORKER,
        "verify-artifact:" WORKER,
        "finalize-manifest:"};
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_MAINTENANCE_ROOT, ROOT);
    in.include_descendants = false; /* maintenance-root is recursive anyway */
    build_ok(&in, &p);
    assert_true(p.root_included);
    assert_string_equal(p.selected_subtree_root, ROOT);
    assert_int_equal(p.target_count, 3);
    assert_int_equal(p.targets[0].depth, 0);
    expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
    assert_int_equal(p.phase_count, 4 + 5 * 3 + 1);
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

/* member scope without descendants still takes the direct children */
static void test_member_scope_takes_direct_children(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    make_registry(&reg);
    push_entry(&reg, OTHER, "grandchild", WORKER);
    make_input(&in, &reg, SF_SCOPE_MEMBER, APP);
    in.include_descendants = false;
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 2);
    assert_string_equal(p.targets[1].canister_id, WORKER);
    sf_plan_free(&p);
    in.include_descendants = true;
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 3);
    assert_string_equal(p.targets[2].canister_id, OTHER);
    assert_int_equal(p.targets[2].depth, 3);
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

static void test_builder_without_selection(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_scope_kind scopes[] = {SF_SCOPE_MEMBER, SF_SCOPE_SUBTREE,
                              SF_SCOPE_MAINTENANCE_ROOT};
    size_t i;

    (void)s;
    make_registry(&reg);
    for (i = 0; i < 3; i++) {
        make_input(&in, &reg, scopes[i], NULL);
        build_fails(&in, "empty-field", "selected_canister_id",
                    "field selected_canister_id must not be empty");
    }
    sf_registry_free(&reg);
}

static void test_builder_selection_not_in_registry(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_SUBTREE, OTHER);
    build_fails(&in, "canister-not-in-registry", NULL, NULL);
    sf_registry_free(&reg);
}

/* builder errors from validate: a blank input field */
static void test_builder_validates(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_SUBTREE, APP);
    in.fleet = " ";
    build_fails(&in, "empty-field", "fleet", NULL);
    in.fleet = NULL;
    build_fails(&in, "empty-field", "fleet", NULL);
    in.fleet = "demo";
    in.topology_hash_before_quiesce = "";
    build_fails(&in, "empty-field", "topology_hash_before_quiesce", NULL);
    in.topology_hash_before_quiesce = HASH;
    in.control_authority.kind = SF_CONTROL_ALTERNATE_CONTROLLER;
    in.control_authority.controller = "nope";
    in.control_authority.reason = "ops key";
    build_fails(&in, "invalid-principal",
                "targets[0].control_authority.source.controller", NULL);
    in.control_authority.controller = ANON;
    {
        sf_plan p;
        build_ok(&in, &p);
        assert_false(p.requires_root_controller);
        assert_string_equal(p.targets[1].control_authority.controller, ANON);
        assert_string_equal(p.targets[1].control_authority.reason, "ops key");
        sf_plan_free(&p);
    }
    sf_registry_free(&reg);
}

/* TOP = (depth, canister id bytes); fleet downloads in plan order. */
static void test_fleet_schedule_orders(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    /* ROOT, then two children of ROOT listed against byte order and a
     * grandchild: the plan's target order is the registry's. */
    reg.entries = calloc(1, sizeof *reg.entries);
    assert_non_null(reg.entries);
    reg.count = 1;
    fill_entry(&reg.entries[0], ROOT, "root", NULL, NULL);
    push_entry(&reg, WORKER, "b", ROOT);   /* rno2w... */
    push_entry(&reg, APP, "a", ROOT);      /* renrk... < rno2w... */
    push_entry(&reg, OTHER, "c", WORKER);  /* depth 2 */
    make_input(&in, &reg, SF_SCOPE_NON_ROOT_FLEET, NULL);
    build_ok(&in, &p);
    {
        static const char *const expected[] = {
            PRE,
            "stop:" APP,
            "stop:" WORKER,
            "stop:" OTHER,
            "create-snapshot:" APP,
            "create-snapshot:" WORKER,
            "create-snapshot:" OTHER,
            "start:" OTHER,
            "start:" WORKER,
            "start:" APP,
            "download-snapshot:" WORKER,
            "verify-artifact:" WORKER,
            "download-snapshot:" APP,
            "verify-artifact:" APP,
            "download-snapshot:" OTHER,
            "verify-artifact:" OTHER,
            "finalize-manifest:"};
        assert_string_equal(p.targets[0].canister_id, WORKER);
        assert_string_equal(p.targets[1].canister_id, APP);
        expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
    }
    sf_plan_free(&p);

    in.schedule = SF_SCHEDULE_PER_CANISTER;
    build_ok(&in, &p);
    {
        static const char *const expected[] = {
            PRE,
            "stop:" APP,
            "create-snapshot:" APP,
            "download-snapshot:" APP,
            "verify-artifact:" APP,
            "start:" APP,
            "stop:" WORKER,
            "create-snapshot:" WORKER,
            "download-snapshot:" WORKER,
            "verify-artifact:" WORKER,
            "start:" WORKER,
            "stop:" OTHER,
            "create-snapshot:" OTHER,
            "download-snapshot:" OTHER,
            "verify-artifact:" OTHER,
            "start:" OTHER,
            "finalize-manifest:"};
        expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
        assert_string_equal(p.phases[4].operation_id, "stop-" APP);
        assert_string_equal(p.phases[5].operation_id, "snapshot-" APP);
        assert_string_equal(p.phases[6].operation_id, "download-" APP);
        assert_string_equal(p.phases[7].operation_id, "verify-" APP);
        assert_string_equal(p.phases[8].operation_id, "start-" APP);
    }
    sf_plan_free(&p);

    in.include_starts = false;
    build_ok(&in, &p);
    {
        static const char *const expected[] = {
            PRE,
            "stop:" APP,
            "create-snapshot:" APP,
            "download-snapshot:" APP,
            "verify-artifact:" APP,
            "stop:" WORKER,
            "create-snapshot:" WORKER,
            "download-snapshot:" WORKER,
            "verify-artifact:" WORKER,
            "stop:" OTHER,
            "create-snapshot:" OTHER,
            "download-snapshot:" OTHER,
            "verify-artifact:" OTHER,
            "finalize-manifest:"};
        expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
    }
    sf_plan_free(&p);

    in.schedule = SF_SCHEDULE_FLEET;
    build_ok(&in, &p);
    {
        static const char *const expected[] = {
            PRE,
            "stop:" APP,
            "stop:" WORKER,
            "stop:" OTHER,
            "create-snapshot:" APP,
            "create-snapshot:" WORKER,
            "create-snapshot:" OTHER,
            "download-snapshot:" WORKER,
            "verify-artifact:" WORKER,
            "download-snapshot:" APP,
            "verify-artifact:" APP,
            "download-snapshot:" OTHER,
            "verify-artifact:" OTHER,
            "finalize-manifest:"};
        expect_phases(&p, expected, sizeof expected / sizeof expected[0]);
        assert_int_equal(p.phase_count, 4 + 4 * 3 + 1);
    }
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

/* 4 + 5N + 1 phases for N targets, and every target's five phases. */
static void test_fleet_phase_count(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;

    (void)s;
    reg.entries = calloc(1, sizeof *reg.entries);
    assert_non_null(reg.entries);
    reg.count = 1;
    fill_entry(&reg.entries[0], ROOT, "root", NULL, NULL);
    push_entry(&reg, APP, "a", ROOT);
    push_entry(&reg, WORKER, "b", APP);
    push_entry(&reg, OTHER, "c", APP);
    push_entry(&reg, ANON, "d", OTHER);
    make_input(&in, &reg, SF_SCOPE_NON_ROOT_FLEET, NULL);
    build_ok(&in, &p);
    assert_int_equal(p.target_count, 4);
    assert_int_equal(p.phase_count, 4 + 5 * 4 + 1);
    for (size_t t = 0; t < p.target_count; t++) {
        size_t per[SF_PHASE_KIND_COUNT] = {0};
        for (size_t i = 0; i < p.phase_count; i++)
            if (p.phases[i].target_canister_id != NULL &&
                strcmp(p.phases[i].target_canister_id,
                       p.targets[t].canister_id) == 0)
                per[p.phases[i].kind]++;
        assert_int_equal(per[SF_PHASE_STOP], 1);
        assert_int_equal(per[SF_PHASE_CREATE_SNAPSHOT], 1);
        assert_int_equal(per[SF_PHASE_START], 1);
        assert_int_equal(per[SF_PHASE_DOWNLOAD_SNAPSHOT], 1);
        assert_int_equal(per[SF_PHASE_VERIFY_ARTIFACT], 1);
    }
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

/* ---- authority updates and copies ---- */

static void test_set_target_authorities(void **s)
{
    sf_plan p, c;
    sf_error err;
    sf_control_authority alt = {SF_CONTROL_ALTERNATE_CONTROLLER, (char *)ANON,
                                (char *)"ops key", SF_EVIDENCE_PROVEN};
    sf_control_authority op = {SF_CONTROL_OPERATOR_CONTROLLER, NULL, NULL,
                               SF_EVIDENCE_PROVEN};
    sf_read_authority rd = {SF_READ_OPERATOR_CONTROLLER, SF_EVIDENCE_PROVEN};

    (void)s;
    make_plan(&p);
    p.targets[0].control_authority.evidence = SF_EVIDENCE_DECLARED;
    p.targets[0].snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
    expect_not_executable(&p, "unproven-control-authority", NULL, NULL);
    sf_error_clear(&err);
    assert_int_equal(sf_plan_set_target_authorities(&p, 0, &alt, NULL, &err),
                     SF_OK);
    assert_ptr_not_equal(p.targets[0].control_authority.controller, alt.controller);
    assert_string_equal(p.targets[0].control_authority.controller, ANON);
    expect_not_executable(&p, "unproven-target-snapshot-read-authority", NULL,
                          NULL);
    assert_int_equal(sf_plan_set_target_authorities(&p, 0, &op, &rd, &err),
                     SF_OK);
    assert_null(p.targets[0].control_authority.controller);
    assert_int_equal(sf_plan_validate_for_execution(&p, &err), SF_OK);
    assert_int_equal(sf_plan_set_target_authorities(&p, 1, &op, &rd, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_int_equal(sf_plan_find_target(&p, APP), 0);
    assert_int_equal(sf_plan_find_target(&p, WORKER), SIZE_MAX);

    assert_int_equal(sf_plan_copy(&c, &p, &err), SF_OK);
    sf_plan_free(&p);
    assert_int_equal(sf_plan_validate_for_execution(&c, &err), SF_OK);
    assert_int_equal(c.phase_count, 10);
    sf_plan_free(&c);
}

/* ---- JSON ---- */

/* The canonical single-target plan with Appendix A's target. */
static const char expected_plan_json[] =
    "{\n"
    "  \"plan_id\": \"plan-001\",\n"
    "  \"run_id\": \"run-001\",\n"
    "  \"fleet\": \"demo\",\n"
    "  \"network\": \"local\",\n"
    "  \"root_canister_id\": \"aaaaa-aa\",\n"
    "  \"selected_subtree_root\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "  \"selected_scope_kind\": \"subtree\",\n"
    "  \"include_descendants\": true,\n"
    "  \"root_included\": false,\n"
    "  \"requires_root_controller\": false,\n"
    "  \"snapshot_read_authority\": {\n"
    "    \"source\": \"root-configured-read\",\n"
    "    \"evidence\": \"declared\"\n"
    "  },\n"
    "  \"quiescence_policy\": \"crash-consistent\",\n"
    "  \"topology_hash_before_quiesce\": \"" HASH "\",\n"
    "  \"targets\": [\n"
    "    {\n"
    "      \"canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"role\": \"app\",\n"
    "      \"parent_canister_id\": \"aaaaa-aa\",\n"
    "      \"depth\": 1,\n"
    "      \"control_authority\": {\n"
    "        \"source\": {\n"
    "          \"kind\": \"alternate-controller\",\n"
    "          \"controller\": \"aaaaa-aa\",\n"
    "          \"reason\": \"ops key\"\n"
    "        },\n"
    "        \"evidence\": \"declared\"\n"
    "      },\n"
    "      \"snapshot_read_authority\": {\n"
    "        \"source\": \"root-configured-read\",\n"
    "        \"evidence\": \"declared\"\n"
    "      },\n"
    "      \"identity_mode\": \"relocatable\",\n"
    "      \"expected_module_hash\": null\n"
    "    }\n"
    "  ],\n"
    "  \"phases\": [\n"
    "    {\n"
    "      \"operation_id\": \"validate-topology\",\n"
    "      \"order\": 0,\n"
    "      \"kind\": \"validate-topology\",\n"
    "      \"target_canister_id\": null\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"validate-control\",\n"
    "      \"order\": 1,\n"
    "      \"kind\": \"validate-control-authority\",\n"
    "      \"target_canister_id\": null\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"validate-read\",\n"
    "      \"order\": 2,\n"
    "      \"kind\": \"validate-snapshot-read-authority\",\n"
    "      \"target_canister_id\": null\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"validate-quiescence\",\n"
    "      \"order\": 3,\n"
    "      \"kind\": \"validate-quiescence-policy\",\n"
    "      \"target_canister_id\": null\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"stop-app\",\n"
    "      \"order\": 4,\n"
    "      \"kind\": \"stop\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\"\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"snapshot-app\",\n"
    "      \"order\": 5,\n"
    "      \"kind\": \"create-snapshot\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\"\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"start-app\",\n"
    "      \"order\": 6,\n"
    "      \"kind\": \"start\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\"\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"download-app\",\n"
    "      \"order\": 7,\n"
    "      \"kind\": \"download-snapshot\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\"\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"verify-app\",\n"
    "      \"order\": 8,\n"
    "      \"kind\": \"verify-artifact\",\n"
    "      \"target_canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\"\n"
    "    },\n"
    "    {\n"
    "      \"operation_id\": \"finalize\",\n"
    "      \"order\": 9,\n"
    "      \"kind\": \"finalize-manifest\",\n"
    "      \"target_canister_id\": null\n"
    "    }\n"
    "  ]\n"
    "}";

/* Appendix A's target, as it sits in a plan file (4 more spaces). */
static const char appendix_a_target[] =
    "    {\n"
    "      \"canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
    "      \"role\": \"app\",\n"
    "      \"parent_canister_id\": \"aaaaa-aa\",\n"
    "      \"depth\": 1,\n"
    "      \"control_authority\": {\n"
    "        \"source\": {\n"
    "          \"kind\": \"alternate-controller\",\n"
    "          \"controller\": \"aaaaa-aa\",\n"
    "          \"reason\": \"ops key\"\n"
    "        },\n"
    "        \"evidence\": \"declared\"\n"
    "      },\n"
    "      \"snapshot_read_authority\": {\n"
    "        \"source\": \"root-configured-read\",\n"
    "        \"evidence\": \"declared\"\n"
    "      },\n"
    "      \"identity_mode\": \"relocatable\",\n"
    "      \"expected_module_hash\": null\n"
    "    }";

static void make_appendix_plan(sf_plan *p)
{
    sf_plan_target *t;

    make_plan(p);
    t = &p->targets[0];
    t->control_authority.kind = SF_CONTROL_ALTERNATE_CONTROLLER;
    t->control_authority.controller = xstrdup(ROOT);
    t->control_authority.reason = xstrdup("ops key");
    t->control_authority.evidence = SF_EVIDENCE_DECLARED;
    t->snapshot_read_authority.source = SF_READ_ROOT_CONFIGURED_READ;
    t->snapshot_read_authority.evidence = SF_EVIDENCE_DECLARED;
}

static void test_write_exact_bytes(void **s)
{
    sf_plan p;
    sf_buf b;
    sf_error err;

    (void)s;
    make_appendix_plan(&p);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_plan_write_json(&p, &b, &err), SF_OK);
    assert_string_equal(b.data, expected_plan_json);
    assert_non_null(strstr(b.data, appendix_a_target));
    assert_true(b.data[b.len - 1] == '}');
    sf_buf_free(&b);
    sf_plan_free(&p);
}

static void round_trip_text(const char *text, size_t len)
{
    sf_plan a, c;
    sf_buf w1, w2;
    sf_error err;

    sf_error_clear(&err);
    if (sf_plan_parse(text, len, &a, &err) != SF_OK)
        fail_msg("parse: %s at %s: %s", err.kind, err.field, err.message);
    sf_buf_init(&w1);
    sf_buf_init(&w2);
    assert_int_equal(sf_plan_write_json(&a, &w1, &err), SF_OK);
    assert_int_equal(sf_plan_parse(w1.data, w1.len, &c, &err), SF_OK);
    assert_int_equal(sf_plan_write_json(&c, &w2, &err), SF_OK);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w1.len);
    sf_buf_free(&w1);
    sf_buf_free(&w2);
    sf_plan_free(&a);
    sf_plan_free(&c);
}

static void test_round_trip(void **s)
{
    sf_plan p;
    sf_error err;

    (void)s;
    round_trip_text(expected_plan_json, strlen(expected_plan_json));
    /* and the parse gives the struct back */
    sf_error_clear(&err);
    assert_int_equal(sf_plan_parse(expected_plan_json,
                                   strlen(expected_plan_json), &p, &err),
                     SF_OK);
    assert_int_equal(p.targets[0].control_authority.kind,
                     SF_CONTROL_ALTERNATE_CONTROLLER);
    assert_string_equal(p.targets[0].control_authority.reason, "ops key");
    assert_int_equal(p.targets[0].depth, 1);
    assert_null(p.targets[0].expected_module_hash);
    assert_int_equal(p.phases[9].kind, SF_PHASE_FINALIZE_MANIFEST);
    assert_null(p.phases[9].target_canister_id);
    assert_int_equal(p.selected_scope_kind, SF_SCOPE_SUBTREE);
    sf_plan_free(&p);
}

static void test_built_plan_round_trip(void **s)
{
    sf_registry reg = {0};
    sf_plan_input in;
    sf_plan p;
    sf_buf b;
    sf_error err;

    (void)s;
    make_registry(&reg);
    make_input(&in, &reg, SF_SCOPE_MAINTENANCE_ROOT, ROOT);
    in.schedule = SF_SCHEDULE_PER_CANISTER;
    build_ok(&in, &p);
    sf_buf_init(&b);
    sf_error_clear(&err);
    assert_int_equal(sf_plan_write_json(&p, &b, &err), SF_OK);
    round_trip_text(b.data, b.len);
    sf_buf_free(&b);
    sf_plan_free(&p);
    sf_registry_free(&reg);
}

static void expect_parse_error(const char *text, const char *kind,
                               const char *field)
{
    sf_plan p;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_plan_parse(text, strlen(text), &p, &err), SF_ERR);
    expect_error(&err, kind, field, NULL);
    assert_null(p.plan_id);
    assert_null(p.targets);
    assert_null(p.phases);
}

/* Replaces the first `from` of the canonical document with `to`. */
static char *edit(const char *from, const char *to)
{
    const char *at = strstr(expected_plan_json, from);
    size_t n;
    char *out;

    assert_non_null(at);
    n = strlen(expected_plan_json) - strlen(from) + strlen(to) + 1;
    out = malloc(n);
    assert_non_null(out);
    memcpy(out, expected_plan_json, (size_t)(at - expected_plan_json));
    strcpy(out + (at - expected_plan_json), to);
    strcat(out, at + strlen(from));
    return out;
}

static void expect_edit_error(const char *from, const char *to,
                              const char *kind, const char *field)
{
    char *text = edit(from, to);

    expect_parse_error(text, kind, field);
    free(text);
}

static void test_parse_errors(void **s)
{
    (void)s;
    expect_parse_error("", "json-syntax", NULL);
    expect_parse_error("[]", "json-schema", NULL);
    expect_edit_error("\"plan_id\": \"plan-001\",\n", "", "json-schema",
                      "plan_id");
    expect_edit_error("\"selected_scope_kind\": \"subtree\"",
                      "\"selected_scope_kind\": \"Subtree\"", "json-schema",
                      "selected_scope_kind");
    expect_edit_error("\"include_descendants\": true",
                      "\"include_descendants\": 1", "json-schema",
                      "include_descendants");
    expect_edit_error("\"depth\": 1", "\"depth\": 4294967296", "json-schema",
                      "targets[0].depth");
    expect_edit_error("\"depth\": 1", "\"depth\": -1", "json-schema",
                      "targets[0].depth");
    expect_edit_error("\"order\": 4", "\"order\": 4.0", "json-schema",
                      "phases[4].order");
    expect_edit_error("\"kind\": \"stop\"", "\"kind\": \"Stop\"",
                      "json-schema", "phases[4].kind");
    expect_edit_error("\"kind\": \"alternate-controller\"",
                      "\"kind\": \"sideways\"", "json-schema",
                      "targets[0].control_authority.source.kind");
    expect_edit_error("          \"reason\": \"ops key\"\n",
                      "          \"why\": \"ops key\"\n", "json-schema",
                      "targets[0].control_authority.source.reason");
    expect_edit_error(",\n          \"controller\": \"aaaaa-aa\"", "",
                      "json-schema",
                      "targets[0].control_authority.source.controller");
    expect_edit_error("\"evidence\": \"declared\"\n      },\n      \"snapshot",
                      "\"evidence\": \"maybe\"\n      },\n      \"snapshot",
                      "json-schema", "targets[0].control_authority.evidence");
    expect_edit_error("\"source\": \"root-configured-read\"",
                      "\"source\": \"anyone\"", "json-schema",
                      "snapshot_read_authority.source");
    expect_edit_error("\"identity_mode\": \"relocatable\"",
                      "\"identity_mode\": null", "json-schema",
                      "targets[0].identity_mode");
    expect_edit_error("\"targets\": [", "\"targets\": {\"a\": [", "json-syntax",
                      NULL);
    expect_edit_error("\"role\": \"app\"", "\"role\": 7", "json-schema",
                      "targets[0].role");
    /* duplicate keys are refused */
    expect_edit_error("\"fleet\": \"demo\",",
                      "\"fleet\": \"demo\", \"fleet\": \"x\",", "json-schema",
                      "fleet");
}

static void test_parse_leniencies(void **s)
{
    sf_plan p;
    sf_error err;
    char *text;

    (void)s;
    /* unknown keys, also next to the source tag, are ignored */
    text = edit("\"kind\": \"alternate-controller\",",
                "\"kind\": \"alternate-controller\", \"extra\": 1,");
    sf_error_clear(&err);
    assert_int_equal(sf_plan_parse(text, strlen(text), &p, &err), SF_OK);
    sf_plan_free(&p);
    free(text);
    /* absent optionals read as null */
    text = edit("      \"expected_module_hash\": null\n",
                "      \"x\": null\n");
    assert_int_equal(sf_plan_parse(text, strlen(text), &p, &err), SF_OK);
    assert_null(p.targets[0].expected_module_hash);
    sf_plan_free(&p);
    free(text);
    /* extra fields of a unit source kind are ignored and not kept */
    text = edit("\"kind\": \"alternate-controller\",",
                "\"kind\": \"root-controller\",");
    assert_int_equal(sf_plan_parse(text, strlen(text), &p, &err), SF_OK);
    assert_int_equal(p.targets[0].control_authority.kind,
                     SF_CONTROL_ROOT_CONTROLLER);
    assert_null(p.targets[0].control_authority.controller);
    sf_plan_free(&p);
    free(text);
    /* semantic problems are not parse errors */
    text = edit("\"plan_id\": \"plan-001\"", "\"plan_id\": \"\"");
    assert_int_equal(sf_plan_parse(text, strlen(text), &p, &err), SF_OK);
    assert_int_equal(sf_plan_validate(&p, &err), SF_ERR);
    assert_string_equal(err.kind, "empty-field");
    sf_plan_free(&p);
    free(text);
}

static void test_write_refuses_invalid(void **s)
{
    sf_plan p;
    sf_buf b;
    sf_error err;

    (void)s;
    make_plan(&p);
    p.phases[2].order = 9;
    sf_buf_init(&b);
    sf_buf_puts(&b, "keep");
    sf_error_clear(&err);
    assert_int_equal(sf_plan_write_json(&p, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "operation-order-mismatch");
    assert_string_equal(b.data, "keep");
    p.phases[2].order = 2;
    p.phases[2].kind = (sf_phase_kind)77;
    assert_int_equal(sf_plan_write_json(&p, &b, &err), SF_ERR);
    assert_string_equal(b.data, "keep");
    sf_buf_free(&b);
    sf_plan_free(&p);
}

static void test_files(void **s)
{
    char dir[] = "/tmp/sf-plan-XXXXXX";
    char path[256];
    sf_plan p, back;
    sf_error err;
    struct stat st;
    char *text;
    size_t len;

    (void)s;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/%s", dir, SF_PLAN_FILE_NAME);
    make_appendix_plan(&p);
    sf_error_clear(&err);
    assert_int_equal(sf_plan_write_file(path, &p, &err), SF_OK);
    text = slurp(path, &len);
    assert_int_equal(len, strlen(expected_plan_json));
    assert_memory_equal(text, expected_plan_json, len);
    free(text);
    assert_int_equal(sf_plan_read_file(path, &back, &err), SF_OK);
    assert_string_equal(back.plan_id, "plan-001");
    sf_plan_free(&back);
    assert_int_equal(unlink(path), 0);

    /* invalid: nothing written */
    set_str(&p.fleet, "");
    assert_int_equal(sf_plan_write_file(path, &p, &err), SF_ERR);
    assert_string_equal(err.kind, "empty-field");
    assert_int_equal(stat(path, &st), -1);

    /* a file that parses but does not validate */
    {
        FILE *f = fopen(path, "w");
        char *bad = edit("\"order\": 4", "\"order\": 5");
        assert_non_null(f);
        fputs(bad, f);
        fclose(f);
        free(bad);
    }
    assert_int_equal(sf_plan_read_file(path, &back, &err), SF_ERR);
    assert_string_equal(err.kind, "operation-order-mismatch");
    assert_null(back.plan_id);
    unlink(path);
    assert_int_equal(sf_plan_read_file(path, &back, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    rmdir(dir);
    sf_plan_free(&p);
}

/* Every tests/data/plans/valid-*.json reads, is written back byte for
 * byte (valid-lenient-* aside) and round-trips; every
 * broken-<kind>--*.json fails with <kind>. */
static void test_sample_files(void **s)
{
    char *dirpath = data_path("plans");
    DIR *d = opendir(dirpath);
    struct dirent *e;
    size_t valid = 0, broken = 0;

    (void)s;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        char full[1024], kind[64];
        sf_plan p;
        sf_error err;
        size_t len, n;
        const char *end;
        char *text;

        if (strncmp(name, "valid-", 6) != 0 &&
            strncmp(name, "broken-", 7) != 0)
            continue;
        snprintf(full, sizeof full, "%s/%s", dirpath, name);
        sf_error_clear(&err);
        if (name[0] == 'v') {
            sf_buf b;
            if (sf_plan_read_file(full, &p, &err) != SF_OK)
                fail_msg("%s: %s %s", name, err.kind, err.message);
            text = slurp(full, &len);
            sf_buf_init(&b);
            assert_int_equal(sf_plan_write_json(&p, &b, &err), SF_OK);
            /* valid-lenient-* files carry what a reader ignores */
            if (strstr(name, "lenient") == NULL &&
                (b.len != len || memcmp(b.data, text, len) != 0))
                fail_msg("%s is not in canonical form", name);
            round_trip_text(text, len);
            sf_buf_free(&b);
            free(text);
            sf_plan_free(&p);
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
            if (sf_plan_read_file(full, &p, &err) == SF_OK)
                fail_msg("%s was accepted", name);
            if (err.kind == NULL || strcmp(err.kind, kind) != 0)
                fail_msg("%s: expected %s, got %s (%s)", name, kind,
                         err.kind ? err.kind : "(none)", err.message);
            assert_null(p.targets);
            broken++;
        }
    }
    closedir(d);
    free(dirpath);
    assert_true(valid >= 3);
    assert_true(broken >= 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_enum_names),
        cmocka_unit_test(test_plan_kind_classes),
        cmocka_unit_test(test_authority_predicates),
        cmocka_unit_test(test_validates_subtree_plan_with_authority_preflights),
        cmocka_unit_test(test_planning_allows_declared_authority),
        cmocka_unit_test(test_planning_allows_unknown_authority),
        cmocka_unit_test(test_rejects_unproven_control_authority),
        cmocka_unit_test(test_rejects_unproven_snapshot_read_authority),
        cmocka_unit_test(test_missing_root_controller),
        cmocka_unit_test(test_execution_check_order),
        cmocka_unit_test(test_rejects_root_in_normal_scope),
        cmocka_unit_test(test_rejects_mutation_before_preflights),
        cmocka_unit_test(test_rejects_non_root_fleet_with_selected_root),
        cmocka_unit_test(test_rejects_operation_order_mismatch),
        cmocka_unit_test(test_empty_plan_id),
        cmocka_unit_test(test_blank_run_id),
        cmocka_unit_test(test_blank_fleet),
        cmocka_unit_test(test_blank_network),
        cmocka_unit_test(test_blank_topology_hash),
        cmocka_unit_test(test_bad_root_canister_id),
        cmocka_unit_test(test_empty_root_canister_id),
        cmocka_unit_test(test_bad_selected_subtree_root),
        cmocka_unit_test(test_bad_target_canister_id),
        cmocka_unit_test(test_bad_target_parent),
        cmocka_unit_test(test_blank_target_role),
        cmocka_unit_test(test_blank_expected_module_hash),
        cmocka_unit_test(test_bad_alternate_controller),
        cmocka_unit_test(test_blank_alternate_reason),
        cmocka_unit_test(test_maintenance_root_excludes_root),
        cmocka_unit_test(test_root_among_targets),
        cmocka_unit_test(test_empty_targets),
        cmocka_unit_test(test_empty_phases),
        cmocka_unit_test(test_duplicate_target),
        cmocka_unit_test(test_duplicate_operation_id),
        cmocka_unit_test(test_blank_operation_id),
        cmocka_unit_test(test_bad_phase_target),
        cmocka_unit_test(test_unknown_operation_target),
        cmocka_unit_test(test_member_without_selected_root),
        cmocka_unit_test(test_subtree_without_selected_root),
        cmocka_unit_test(test_selected_root_not_in_targets),
        cmocka_unit_test(test_missing_topology_preflight),
        cmocka_unit_test(test_missing_control_preflight),
        cmocka_unit_test(test_missing_read_preflight),
        cmocka_unit_test(test_missing_quiescence_preflight),
        cmocka_unit_test(test_start_before_preflight),
        cmocka_unit_test(test_download_before_preflight),
        cmocka_unit_test(test_verify_and_finalize_before_preflight_allowed),
        cmocka_unit_test(test_cutoff_uses_first_preflight),
        cmocka_unit_test(test_unchecked_things),
        cmocka_unit_test(test_optional_nulls_and_exact_ids),
        cmocka_unit_test(test_order_header_fields),
        cmocka_unit_test(test_order_root_scope_before_targets),
        cmocka_unit_test(test_order_within_target),
        cmocka_unit_test(test_order_duplicate_target),
        cmocka_unit_test(test_order_targets_before_phases),
        cmocka_unit_test(test_order_within_phase),
        cmocka_unit_test(test_order_phases_before_scope_before_preflight),
        cmocka_unit_test(test_order_missing_preflights),
        cmocka_unit_test(test_resolves_principal_and_role_selectors),
        cmocka_unit_test(test_rejects_ambiguous_role_selector),
        cmocka_unit_test(test_rejects_unknown_selector),
        cmocka_unit_test(test_rejects_blank_selector),
        cmocka_unit_test(test_selector_first_principal_entry),
        cmocka_unit_test(test_builds_subtree_plan_from_registry),
        cmocka_unit_test(test_builds_non_root_fleet_plan_without_root_target),
        cmocka_unit_test(test_non_root_fleet_takes_orphans),
        cmocka_unit_test(test_builder_rejects_root_subtree_without_maintenance),
        cmocka_unit_test(test_builds_maintenance_root_plan),
        cmocka_unit_test(test_member_scope_takes_direct_children),
        cmocka_unit_test(test_builder_without_selection),
        cmocka_unit_test(test_builder_selection_not_in_registry),
        cmocka_unit_test(test_builder_validates),
        cmocka_unit_test(test_fleet_schedule_orders),
        cmocka_unit_test(test_fleet_phase_count),
        cmocka_unit_test(test_set_target_authorities),
        cmocka_unit_test(test_write_exact_bytes),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_built_plan_round_trip),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_leniencies),
        cmocka_unit_test(test_write_refuses_invalid),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_sample_files),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
