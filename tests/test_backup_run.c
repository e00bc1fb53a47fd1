/* `backup` (spec 1-3, decisions 5-6) on the simulator: phase order for both
 * schedules, scopes, --leave-stopped, max steps, reruns, refusals, every
 * fault effect on every operation kind, topology changes, lost responses,
 * containment and resume from pending and failed operations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/engine.h"
#include "sim_fixture.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/simrun.h"
#include "snapfleet/plan.h"
#include "snapfleet/backup.h"
#include "snapfleet/txlog.h"

/* ---- fixtures ----
 * seed 2, 4 canisters: R (root, role "root") with children A ("shard")
 * and B ("user_hub"); C ("ledger") under B. Tree and registry order R, A,
 * B, C; top-down order (depth, then id bytes) R, B, A, C.
 * seed 1, 4 canisters: a chain R -> scaler -> app -> index.
 * seed 7, 4 canisters: a root with three children all called "worker". */

enum { R = 0, A = 1, B = 2, C = 3 };

static void fresh_seed(sf_fx *f, uint64_t seed)
{
    sf_sim_config cfg;

    sf_fx_setup(f, "br");
    sf_fx_config(&cfg, seed, 4);
    sf_fx_start(f, &cfg);
}

static int setup_seed(void **state, uint64_t seed)
{
    sf_fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    fresh_seed(f, seed);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_seed(state, 2); }
static int setup_chain(void **state) { return setup_seed(state, 1); }
static int setup_workers(void **state) { return setup_seed(state, 7); }

static int teardown(void **state)
{
    sf_fx *f = *state;

    sf_fx_teardown(f);
    free(f);
    return 0;
}

typedef struct cid {
    char s[SF_PRINCIPAL_TEXT_MAX];
} cid;

static cid idc(const sf_fx *f, size_t i)
{
    cid c;
    snprintf(c.s, sizeof c.s, "%s", sf_fx_id(f->before, i));
    return c;
}

static void run_ok(sf_fx *f, const sf_backup_config *c, sf_backup_result *r)
{
    sf_error err;

    if (sf_fx_backup(f, c, r, &err) != SF_OK) {
        sf_backup_result_free(r);
        fail_msg("backup failed: %s (%s)", err.message, err.kind ? err.kind : "?");
    }
}

static void run_fails(sf_fx *f, const sf_backup_config *c, const char *kind,
                      sf_error *err)
{
    sf_backup_result r;

    if (sf_fx_backup(f, c, &r, err) == SF_OK) {
        sf_backup_result_free(&r);
        fail_msg("backup succeeded; wanted %s", kind);
    }
    sf_backup_result_free(&r);
    if (err->kind == NULL || strcmp(err->kind, kind) != 0)
        fail_msg("backup failed with %s (%s); wanted %s",
                 err->kind ? err->kind : "(null)", err->message, kind);
}

static void read_plan(const char *out, sf_plan *plan)
{
    sf_error err;
    char *p = sf_path_join(out, SF_PLAN_FILE_NAME);

    if (sf_plan_read_file(p, plan, &err) != SF_OK)
        fail_msg("%s: %s", p, err.message);
    free(p);
}

/* "<operation_id> <state>" per operation, one a line. */
static void exec_ops(const char *out, sf_buf *b)
{
    sf_exec_journal j;
    size_t i;

    sf_fx_read_exec(out, &j);
    for (i = 0; i < j.operation_count; i++)
        sf_buf_printf(b, "%s %s\n", j.operations[i].operation_id,
                      sf_exec_state_name(j.operations[i].state));
    sf_exec_journal_free(&j);
}

/* Nothing stopped, nothing snapshotted, no stop or create sent. */
static void assert_untouched(const sf_fx *f)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(f->before); i++) {
        const char *x = sf_fx_id(f->before, i);
        size_t idx;

        if (sf_sim_canister_find(f->sim, x, &idx, NULL) != SF_OK)
            continue;
        assert_int_equal(sf_fx_status(f->sim, x), sf_fx_status(f->before, x));
        assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, x), 0);
    }
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 0);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 0);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 0);
}

static void assert_one_snapshot_each(const sf_fx *f, const size_t *idx, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        assert_int_equal(sf_fx_new_snapshots(f->before, f->sim,
                                             sf_fx_id(f->before, idx[i])), 1);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), n);
}

static const size_t ALL[4] = {R, A, B, C};

/* ---- 2. phase order ---- */

static void fleet_schedule_order(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    cid r_ = idc(f, R), a = idc(f, A), b = idc(f, B), c_ = idc(f, C);
    const char *top[4] = {r_.s, b.s, a.s, c_.s};
    const char *plan_order[4] = {r_.s, a.s, b.s, c_.s};
    sf_buf want, got;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_false(r.resumed);
    assert_false(r.max_steps_reached);
    assert_int_equal(r.total_operations, 25);
    assert_int_equal(r.executed, 21); /* 5N + 1: preflight is accepted */
    assert_string_equal(r.plan_id, "plan-sim-20260513-192000");
    assert_string_equal(r.run_id, "run-sim-20260513-192000");
    sf_backup_result_free(&r);

    /* stop top-down, snapshot, start bottom-up, then transfer in plan order */
    sf_buf_init(&want);
    sf_buf_init(&got);
    sf_buf_puts(&want, "validate-topology completed\n"
                       "validate-control-authority completed\n"
                       "validate-snapshot-read-authority completed\n"
                       "validate-quiescence-policy completed\n");
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "stop-%s completed\n", top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "snapshot-%s completed\n", top[i]);
    for (i = 4; i-- > 0;)
        sf_buf_printf(&want, "start-%s completed\n", top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "download-%s completed\nverify-%s completed\n",
                      plan_order[i], plan_order[i]);
    sf_buf_puts(&want, "finalize-manifest completed\n");
    exec_ops(c.out, &got);
    assert_string_equal(sf_buf_cstr(&got), sf_buf_cstr(&want));

    /* and what reached the fleet: the registry read for the plan and again
     * before the first stop, the preflight status of every target, then
     * each operation observing before it acts */
    sf_buf_reset(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", r_.s, r_.s);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "status %s\n", plan_order[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "status %s\nstop %s\n", top[i], top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "status %s\nlist %s\ncreate %s\n", top[i], top[i], top[i]);
    for (i = 4; i-- > 0;)
        sf_buf_printf(&want, "status %s\nstart %s\n", top[i], top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "download %s\n", plan_order[i]);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    sf_buf_free(&got);

    sf_fx_assert_clean_end(f, c.out, 4);
}

static void per_canister_schedule_order(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    cid r_ = idc(f, R), a = idc(f, A), b = idc(f, B), c_ = idc(f, C);
    const char *top[4] = {r_.s, b.s, a.s, c_.s};
    sf_buf want, got;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.schedule = SF_BACKUP_PER_CANISTER;
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_int_equal(r.total_operations, 25);
    assert_int_equal(r.executed, 21);
    sf_backup_result_free(&r);
    sf_buf_init(&want);
    sf_buf_init(&got);
    sf_buf_puts(&want, "validate-topology completed\n"
                       "validate-control-authority completed\n"
                       "validate-snapshot-read-authority completed\n"
                       "validate-quiescence-policy completed\n");
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "stop-%s completed\nsnapshot-%s completed\n"
                      "download-%s completed\nverify-%s completed\n"
                      "start-%s completed\n", top[i], top[i], top[i], top[i], top[i]);
    sf_buf_puts(&want, "finalize-manifest completed\n");
    exec_ops(c.out, &got);
    assert_string_equal(sf_buf_cstr(&got), sf_buf_cstr(&want));
    sf_buf_reset(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", r_.s, r_.s);
    sf_buf_printf(&want, "status %s\nstatus %s\nstatus %s\nstatus %s\n", r_.s,
                  a.s, b.s, c_.s);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "status %s\nstop %s\nstatus %s\nlist %s\ncreate %s\n"
                      "download %s\nstatus %s\nstart %s\n", top[i], top[i],
                      top[i], top[i], top[i], top[i], top[i], top[i]);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    sf_buf_free(&got);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* ---- 2. scopes and the manifest ---- */

static void include_root_manifest(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_manifest m;
    sf_plan plan;
    char input[256];
    static const char *const roles[4] = {"root", "shard", "user_hub", "ledger"};
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.network = "ic";
    sf_fx_backup_complete(f, &c);
    read_plan(c.out, &plan);
    sf_fx_read_manifest(c.out, &m);
    assert_int_equal(plan.selected_scope_kind, SF_SCOPE_MAINTENANCE_ROOT);
    assert_true(plan.root_included);
    assert_int_equal(plan.target_count, 4);
    assert_string_equal(m.backup_id, plan.run_id);
    assert_string_equal(m.source.environment, "ic");
    assert_string_equal(m.source.root_canister, idc(f, R).s);
    assert_string_equal(m.tool.name, "snapfleet");
    assert_string_equal(m.tool.version, "test");
    assert_int_equal(m.consistency.backup_unit_count, 1);
    assert_string_equal(m.consistency.backup_units[0].unit_id, "backup-selection");
    /* one top canister: a connected subtree */
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SUBTREE);
    assert_int_equal(m.consistency.backup_units[0].role_count, 4);
    snprintf(input, sizeof input, "canic-backup-plan:%s", plan.plan_id);
    assert_string_equal(m.fleet.topology_hash_input, input);
    assert_string_equal(m.fleet.discovery_topology_hash, plan.topology_hash_before_quiesce);
    assert_string_equal(m.fleet.pre_snapshot_topology_hash, plan.topology_hash_before_quiesce);
    assert_string_equal(m.fleet.topology_hash, plan.topology_hash_before_quiesce);
    assert_int_equal(m.fleet.member_count, 4);
    for (i = 0; i < 4; i++) {
        const sf_manifest_member *mem = &m.fleet.members[i];

        assert_string_equal(m.consistency.backup_units[0].roles[i], roles[i]);
        assert_string_equal(mem->canister_id, plan.targets[i].canister_id);
        assert_string_equal(mem->canister_id, idc(f, i).s);
        assert_string_equal(mem->role, roles[i]);
        assert_null(mem->subnet_canister_id);
        assert_null(mem->controller_hint); /* operator-controller proof */
        assert_int_equal(mem->identity_mode, SF_MANIFEST_IDENTITY_RELOCATABLE);
        assert_string_equal(mem->source_snapshot.artifact_path, mem->canister_id);
        if (plan.targets[i].expected_module_hash != NULL)
            assert_string_equal(mem->source_snapshot.module_hash,
                                plan.targets[i].expected_module_hash);
    }
    /* the execution authorities replaced the planning ones */
    assert_int_equal(plan.targets[0].control_authority.kind, SF_CONTROL_OPERATOR_CONTROLLER);
    assert_int_equal(plan.targets[0].control_authority.evidence, SF_EVIDENCE_PROVEN);
    sf_plan_free(&plan);
    sf_manifest_free(&m);
}

static void subtree_by_role(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_manifest m;
    sf_plan plan;
    cid b = idc(f, B), c_ = idc(f, C);

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    c.subtree = "user_hub";
    sf_fx_backup_complete(f, &c);
    read_plan(c.out, &plan);
    assert_int_equal(plan.selected_scope_kind, SF_SCOPE_SUBTREE);
    assert_string_equal(plan.selected_subtree_root, b.s);
    assert_int_equal(plan.target_count, 2);
    assert_string_equal(plan.targets[0].canister_id, b.s);
    assert_string_equal(plan.targets[1].canister_id, c_.s);
    sf_plan_free(&plan);
    sf_fx_read_manifest(c.out, &m);
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SUBTREE);
    assert_int_equal(m.fleet.member_count, 2);
    sf_manifest_free(&m);
    /* R and A untouched */
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, idc(f, R).s), 0);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, idc(f, A).s), 0);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, b.s), 1);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, c_.s), 1);
    {
        char line[128];
        sf_buf ops;
        sf_buf_init(&ops);
        sf_fx_trace_ops(&f->log, &ops);
        snprintf(line, sizeof line, "stop %s\n", idc(f, R).s);
        assert_null(strstr(sf_buf_cstr(&ops), line));
        snprintf(line, sizeof line, "stop %s\n", idc(f, A).s);
        assert_null(strstr(sf_buf_cstr(&ops), line));
        sf_buf_free(&ops);
    }
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 2);
}

static void subtree_by_principal(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_plan plan;
    cid a = idc(f, A);

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    c.subtree = a.s;
    sf_fx_backup_complete(f, &c);
    read_plan(c.out, &plan);
    assert_int_equal(plan.target_count, 1);
    assert_string_equal(plan.targets[0].canister_id, a.s);
    sf_plan_free(&plan);
    {
        sf_manifest m;
        sf_fx_read_manifest(c.out, &m);
        /* one target: a single unit */
        assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SINGLE);
        sf_manifest_free(&m);
    }
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 1);
    sf_fx_assert_invariants(f, c.out, false);
}

/* canic's default scope: every canister but the root. Here the root has
 * two children, so the selection has two top canisters: canic's "subtree"
 * unit would fail validation (SubtreeBackupUnitNotConnected); snapfleet
 * writes a "single" unit that validates. */
static void non_root_fleet_disconnected_is_single(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_plan plan;
    sf_manifest m;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    sf_fx_backup_complete(f, &c);
    read_plan(c.out, &plan);
    assert_int_equal(plan.selected_scope_kind, SF_SCOPE_NON_ROOT_FLEET);
    assert_null(plan.selected_subtree_root);
    assert_false(plan.root_included);
    assert_int_equal(plan.target_count, 3);
    assert_string_equal(plan.targets[0].canister_id, idc(f, A).s);
    assert_string_equal(plan.targets[1].canister_id, idc(f, B).s);
    assert_string_equal(plan.targets[2].canister_id, idc(f, C).s);
    sf_plan_free(&plan);
    sf_fx_read_manifest(c.out, &m);
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SINGLE);
    assert_int_equal(m.consistency.backup_units[0].role_count, 3);
    sf_manifest_free(&m);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, idc(f, R).s), 0);
    assert_int_equal(sf_fx_status(f->sim, idc(f, R).s), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 3);
}

static void non_root_fleet_connected_is_subtree(void **state)
{
    sf_fx *f = *state; /* the chain */
    sf_backup_config c;
    sf_manifest m;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    sf_fx_backup_complete(f, &c);
    sf_fx_read_manifest(c.out, &m);
    assert_int_equal(m.fleet.member_count, 3);
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SUBTREE);
    sf_manifest_free(&m);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 3);
}

/* Three members share the role "worker": canic lists it three times and
 * its manifest fails validation (DuplicateBackupUnitRole); here once. */
static void duplicate_roles_listed_once(void **state)
{
    sf_fx *f = *state; /* workers */
    sf_backup_config c;
    sf_manifest m;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    sf_fx_backup_complete(f, &c);
    sf_fx_read_manifest(c.out, &m);
    assert_int_equal(m.consistency.backup_units[0].role_count, 2);
    assert_string_equal(m.consistency.backup_units[0].roles[0], "root");
    assert_string_equal(m.consistency.backup_units[0].roles[1], "worker");
    assert_int_equal(m.fleet.member_count, 4);
    sf_manifest_free(&m);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
}

/* ---- 2. --leave-stopped ---- */

static void leave_stopped_plans_no_starts(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_plan plan;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.leave_stopped = true;
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_int_equal(r.total_operations, 4 + 4 * 4 + 1);
    assert_int_equal(r.executed, 4 * 4 + 1);
    sf_backup_result_free(&r);
    read_plan(c.out, &plan);
    for (i = 0; i < plan.phase_count; i++)
        assert_int_not_equal(plan.phases[i].kind, SF_PHASE_START);
    sf_plan_free(&plan);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 0);
    for (i = 0; i < 4; i++)
        assert_int_equal(sf_fx_status(f->sim, idc(f, i).s), SF_STATUS_STOPPED);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_invariants(f, c.out, true);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
}

static void leave_stopped_failure_is_not_contained(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    char faults[128];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "create:%s=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.leave_stopped = true;
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 0);
    /* all four were stopped before the first create */
    assert_int_equal(sf_fx_status(f->sim, idc(f, R).s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, idc(f, A).s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, b.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, idc(f, C).s), SF_STATUS_STOPPED);
    sf_fx_assert_invariants(f, c.out, true);
}

/* ---- 2. max steps, pause and resume ---- */

static void max_steps_pauses_and_resumes(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_exec_journal j;
    size_t i, completed = 0;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.max_steps = 3;
    run_ok(f, &c, &r);
    assert_false(r.complete);
    assert_true(r.max_steps_reached);
    assert_int_equal(r.executed, 3);
    assert_false(r.resumed);
    sf_backup_result_free(&r);
    /* the first three effects: stop R, B, A; C still runs, nothing snapped */
    sf_fx_read_exec(c.out, &j);
    for (i = 4; i < 7; i++)
        assert_int_equal(j.operations[i].state, SF_EXEC_COMPLETED);
    assert_int_equal(j.operations[7].state, SF_EXEC_READY);
    assert_true(j.restart_required);
    sf_exec_journal_free(&j);
    assert_int_equal(sf_fx_status(f->sim, idc(f, C).s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, idc(f, A).s), SF_STATUS_STOPPED);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/fleet-backup-manifest.json")));

    c.max_steps = 0;
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_true(r.resumed);
    assert_int_equal(r.executed, 21 - 3);
    sf_backup_result_free(&r);
    /* every operation completed exactly once */
    sf_fx_read_exec(c.out, &j);
    for (i = 0; i < j.receipt_count; i++)
        assert_int_equal(j.operation_receipts[i].outcome, SF_EXEC_OUTCOME_COMPLETED);
    for (i = 0; i < j.operation_count; i++)
        completed += j.operations[i].state == SF_EXEC_COMPLETED;
    assert_int_equal(completed, 25);
    assert_int_equal(j.receipt_count, 21);
    assert_false(j.restart_required);
    sf_exec_journal_free(&j);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* One operation per run, 21 runs: the same manifest as one run. */
static void one_step_at_a_time_matches_one_run(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    size_t runs = 0;
    sf_fx g;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "steps"));
    c.max_steps = 1;
    do {
        run_ok(f, &c, &r);
        runs++;
        assert_true(r.executed <= 1);
        if (!r.complete)
            assert_true(r.max_steps_reached);
        if (r.complete) {
            sf_backup_result_free(&r);
            break;
        }
        sf_backup_result_free(&r);
    } while (runs < 40);
    /* 21 runs of one operation each; the last one sees the journal
     * complete right after its operation */
    assert_int_equal(runs, 21);
    sf_fx_assert_all_running(f);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_invariants(f, c.out, false);

    fresh_seed(&g, 2);
    sf_fx_stack(&g, NULL, false);
    sf_fx_backup_config(&c, &g, sf_fx_path(&g, "steps"));
    sf_fx_backup_complete(&g, &c);
    /* every run reads the registry again before it acts, so the snapshots
     * are taken later in virtual time: equal but for the taken_at inside
     * each artifact (and so its checksum) */
    sf_fx_assert_backups_equal(sf_fx_path(&g, "steps"), sf_fx_path(f, "steps"));
    sf_fx_teardown(&g);
}

static void rerun_of_complete_backup_does_nothing(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    char *m1, *m2;
    size_t l1, l2;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    sf_fx_backup_complete(f, &c);
    assert_int_equal(sf_fs_read_file(sf_fx_path(f, "out/fleet-backup-manifest.json"),
                                     1 << 20, &m1, &l1, &err), SF_OK);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_true(r.resumed);
    assert_int_equal(r.executed, 0);
    assert_int_equal(r.total_operations, 25);
    sf_backup_result_free(&r);
    /* not even a registry read */
    assert_int_equal(f->log.len, 0);
    assert_int_equal(sf_fs_read_file(sf_fx_path(f, "out/fleet-backup-manifest.json"),
                                     1 << 20, &m2, &l2, &err), SF_OK);
    assert_int_equal(l1, l2);
    assert_memory_equal(m1, m2, l1);
    free(m1);
    free(m2);
    assert_untouched(f);
}

/* ---- refusals ---- */

static void different_root_is_plan_mismatch(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    cid a = idc(f, A);

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.max_steps = 2;
    {
        sf_backup_result r;
        run_ok(f, &c, &r);
        sf_backup_result_free(&r);
    }
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    c.max_steps = 0;
    c.root = a.s;
    run_fails(f, &c, "plan-mismatch", &err);
    assert_string_equal(err.field, "root_canister_id");
    assert_int_equal(f->log.len, 0);
    assert_untouched(f);
}

static void different_network_is_plan_mismatch(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.dry_run = true;
    {
        sf_backup_result r;
        run_ok(f, &c, &r);
        sf_backup_result_free(&r);
    }
    sf_buf_reset(&f->log);
    c.dry_run = false;
    c.network = "ic";
    run_fails(f, &c, "plan-mismatch", &err);
    assert_int_equal(f->log.len, 0);
    assert_untouched(f);
}

static void invalid_root_refused(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.root = "not-a-principal";
    run_fails(f, &c, "invalid-principal", &err);
    assert_string_equal(err.field, "root");
    assert_false(sf_fx_exists(c.out));
    c.root = NULL;
    run_fails(f, &c, "invalid-principal", &err);
    assert_int_equal(f->log.len, 0);
}

static void unknown_selector_refused(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    c.subtree = "no-such-role";
    run_fails(f, &c, "unknown-selector", &err);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/backup-plan.json")));
    assert_untouched(f);
}

static void ambiguous_selector_refused(void **state)
{
    sf_fx *f = *state; /* workers */
    sf_backup_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.include_root = false;
    c.subtree = "worker";
    run_fails(f, &c, "ambiguous-selector", &err);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/backup-plan.json")));
    assert_untouched(f);
}

static void locked_directory_refused(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_lock lock;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    assert_int_equal(sf_lock_acquire(c.out, &lock, &err), SF_OK);
    run_fails(f, &c, "journal-locked", &err);
    sf_lock_release(&lock);
    assert_int_equal(f->log.len, 0);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/backup-plan.json")));
}

/* ---- dry run ---- */

static void dry_run_writes_plan_and_prints_commands(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_integrity_report rep;
    sf_plan plan;
    sf_error err;
    cid r_ = idc(f, R), a = idc(f, A), b = idc(f, B), c_ = idc(f, C);
    const char *top[4] = {r_.s, b.s, a.s, c_.s};
    const char *plan_order[4] = {r_.s, a.s, b.s, c_.s};
    sf_buf want;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.dry_run = true;
    run_ok(f, &c, &r);
    assert_false(r.complete);
    sf_buf_init(&want);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "icp canister stop %s\n", top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "icp canister snapshot create %s --json\n", top[i]);
    for (i = 4; i-- > 0;)
        sf_buf_printf(&want, "icp canister start %s\n", top[i]);
    for (i = 0; i < 4; i++)
        sf_buf_printf(&want, "icp canister snapshot download %s '<snapshot-id>' "
                      "--output %s/%s.tmp\n", plan_order[i], c.out, plan_order[i]);
    assert_string_equal(sf_buf_cstr(&r.planned_commands), sf_buf_cstr(&want));
    sf_backup_result_free(&r);
    sf_buf_reset(&want);
    sf_buf_printf(&want, "registry %s\n", r_.s);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    /* canic's dry-run plan: declared root authority */
    read_plan(c.out, &plan);
    assert_true(plan.requires_root_controller);
    assert_int_equal(plan.targets[0].control_authority.evidence, SF_EVIDENCE_DECLARED);
    sf_plan_free(&plan);
    assert_true(sf_fx_exists(sf_fx_path(f, "out/backup-execution-journal.json")));
    assert_false(sf_fx_exists(sf_fx_path(f, "out/fleet-backup-manifest.json")));
    assert_false(sf_fx_exists(sf_fx_path(f, "out/download-journal.json")));
    assert_int_equal(sf_verify_integrity(c.out, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "dry-run-not-complete");
    assert_untouched(f);
}

/* The plan a dry run left is executed by the next run into the same
 * directory (the CLI help: "Running again into the same DIR resumes"). */
static void dry_run_then_execute(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.dry_run = true;
    run_ok(f, &c, &r);
    sf_backup_result_free(&r);
    c.dry_run = false;
    /* Regression (fixed): the dry-run plan records root-controller authority (declared)
     * and requires_root_controller; the execution preflight proves
     * operator-controller authority, so validate_for_execution refuses the
     * plan and the directory can never be executed. */
    sf_fx_backup_complete(f, &c);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* ---- 4. topology changes fail closed before any stop ---- */

static void topology_case(sf_fx *f, const char *kind, bool per_canister)
{
    sf_backup_config c;
    sf_error err;
    char faults[64];
    sf_buf want;
    cid r_ = idc(f, R);

    snprintf(faults, sizeof faults, "topology=%s", kind);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    if (per_canister)
        c.schedule = SF_BACKUP_PER_CANISTER;
    run_fails(f, &c, "topology-preflight-hash-mismatch", &err);
    assert_string_equal(err.field, "topology_hash_before_quiesce");
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", r_.s, r_.s);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_untouched(f);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/download-journal.json")));
    assert_false(sf_fx_exists(sf_fx_path(f, "out/fleet-backup-manifest.json")));
    sf_fx_assert_invariants(f, c.out, false);
    /* the directory keeps refusing: its plan describes another fleet */
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    run_fails(f, &c, "topology-preflight-hash-mismatch", &err);
    assert_untouched(f);
}

static void topology_add_child(void **state) { topology_case(*state, "add-child", false); }
static void topology_remove_child(void **state) { topology_case(*state, "remove-child", false); }
static void topology_reparent(void **state) { topology_case(*state, "reparent", false); }
static void topology_module_hash(void **state) { topology_case(*state, "module-hash", false); }
static void topology_add_child_per_canister(void **state) { topology_case(*state, "add-child", true); }
static void topology_module_hash_per_canister(void **state) { topology_case(*state, "module-hash", true); }

/* ---- 3. every fault effect on every operation kind ---- */

typedef struct fault_case {
    const char *op;
    const char *effect;
    int target;
    bool every;
    const char *kind; /* NULL: the run completes */
} fault_case;

/* A start that fails on every call defeats containment too: the canister
 * stays stopped until a run without the fault (checked after the rerun). */
static bool defeats_containment(const fault_case *fc)
{
    return fc->every && strcmp(fc->op, "start") == 0;
}

static const fault_case fault_cases[] = {
    {"registry", "transient", R, false, NULL},
    {"registry", "transient", R, true, "driver-transient"},
    {"registry", "permanent", R, false, "driver-permanent"},
    /* a read whose answer was lost is asked again (3 times) */
    {"registry", "lost-response", R, false, NULL},
    {"registry", "lost-response", R, true, "driver-unknown-outcome"},
    {"status", "transient", B, false, NULL},
    {"status", "transient", B, true, "driver-transient"},
    {"status", "permanent", B, false, "driver-permanent"},
    {"status", "lost-response", B, false, NULL},
    {"status", "lost-response", B, true, "driver-unknown-outcome"},
    {"stop", "transient", B, false, NULL},
    {"stop", "transient", B, true, "driver-transient"},
    {"stop", "permanent", B, false, "driver-permanent"},
    {"stop", "lost-response", B, false, NULL},
    {"list", "transient", B, false, NULL},
    {"list", "transient", B, true, "driver-transient"},
    {"list", "permanent", B, false, "driver-permanent"},
    {"list", "lost-response", B, false, NULL},
    {"list", "lost-response", B, true, "driver-unknown-outcome"},
    {"create", "transient", B, false, NULL},
    {"create", "transient", B, true, "driver-transient"},
    {"create", "permanent", B, false, "driver-permanent"},
    {"create", "lost-response", B, false, NULL},
    {"download", "transient", B, false, NULL},
    {"download", "transient", B, true, "driver-transient"},
    {"download", "permanent", B, false, "driver-permanent"},
    {"download", "lost-response", B, false, "driver-unknown-outcome"},
    {"start", "transient", B, false, NULL},
    {"start", "transient", B, true, "driver-transient"},
    {"start", "permanent", B, false, "driver-permanent"},
    {"start", "lost-response", B, false, NULL},
};

static void one_fault_case(sf_fx *f, const fault_case *fc, size_t n,
                           sf_backup_schedule schedule)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char faults[160], out[64];

    snprintf(faults, sizeof faults, "%s:%s%s=%s", fc->op,
             sf_fx_id(f->before, (size_t)fc->target), fc->every ? "" : ":1",
             fc->effect);
    snprintf(out, sizeof out, "out-%zu", n);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, out));
    c.schedule = schedule;
    if (sf_fx_backup(f, &c, &r, &err) == SF_OK) {
        bool complete = r.complete;
        sf_backup_result_free(&r);
        if (fc->kind != NULL)
            fail_msg("%s: completed; wanted %s", faults, fc->kind);
        assert_true(complete);
    } else {
        sf_backup_result_free(&r);
        if (fc->kind == NULL || err.kind == NULL || strcmp(err.kind, fc->kind) != 0)
            fail_msg("%s: failed with %s (%s); wanted %s", faults,
                     err.kind ? err.kind : "(null)", err.message,
                     fc->kind ? fc->kind : "completion");
    }
    if (!defeats_containment(fc))
        sf_fx_assert_invariants(f, c.out, false);
    if (fc->kind != NULL) {
        sf_fx_stack(f, NULL, false);
        run_ok(f, &c, &r);
        assert_true(r.complete);
        sf_backup_result_free(&r);
        sf_fx_assert_invariants(f, c.out, false);
    }
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_all_running(f);
}

static void fault_matrix(sf_fx *f, sf_backup_schedule schedule)
{
    size_t n;

    for (n = 0; n < sizeof fault_cases / sizeof *fault_cases; n++) {
        sf_fx_teardown(f);
        fresh_seed(f, 2);
        one_fault_case(f, &fault_cases[n], n, schedule);
    }
}

static void fault_matrix_fleet(void **state) { fault_matrix(*state, SF_BACKUP_FLEET); }
static void fault_matrix_per_canister(void **state) { fault_matrix(*state, SF_BACKUP_PER_CANISTER); }

static void corrupt_once_with_verify_is_retried(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    char faults[128];

    snprintf(faults, sizeof faults, "download:%s:1=corrupt", idc(f, B).s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.verify_transfer = true;
    sf_fx_backup_complete(f, &c);
    assert_int_equal(sf_fx_trace_count(&f->log, "download"), 8 + 2);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
}

static void corrupt_always_with_verify_is_transfer_mismatch(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    sf_exec_journal j;
    char faults[128];
    size_t i;

    snprintf(faults, sizeof faults, "download:%s=corrupt", idc(f, B).s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.verify_transfer = true;
    run_fails(f, &c, "transfer-mismatch", &err);
    /* the download operation is failed with the reason on record */
    sf_fx_read_exec(c.out, &j);
    for (i = 0; i < j.operation_count; i++) {
        char want[128];
        snprintf(want, sizeof want, "download-%s", idc(f, B).s);
        if (strcmp(j.operations[i].operation_id, want) == 0) {
            assert_int_equal(j.operations[i].state, SF_EXEC_FAILED);
            assert_int_equal(j.operations[i].blocking_reason_count, 1);
            assert_non_null(strstr(j.operations[i].blocking_reasons[0],
                                   "two downloads disagree"));
        }
    }
    sf_exec_journal_free(&j);
    sf_fx_assert_invariants(f, c.out, false);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
}

/* Without verify_transfer a corrupt read is not noticed: the backup
 * completes and verifies, and B's artifact does not hold B's memory. */
static void corrupt_without_verify_goes_unnoticed(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_buf v;
    sf_error err;
    char faults[128], want[256];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "download:%s:1=corrupt", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    sf_fx_backup_complete(f, &c);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f->before, f->sim, c.out, false, &v, &err),
                     SF_ERR);
    snprintf(want, sizeof want, "artifact of %s does not hold the canister's memory", b.s);
    assert_non_null(strstr(sf_buf_cstr(&v), want));
    /* one violation only: B's */
    assert_ptr_equal(strchr(sf_buf_cstr(&v), '\n'), sf_buf_cstr(&v) + v.len - 1);
    sf_buf_free(&v);
}

/* ---- 5. lost responses on create, stop and start ---- */

static void lost_responses_are_reconciled(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    char faults[512];
    cid r_ = idc(f, R), a = idc(f, A), b = idc(f, B);
    sf_buf ops;
    char line[256];

    snprintf(faults, sizeof faults,
             "create:%s:1=lost-response,stop:%s:1=lost-response,"
             "start:%s:1=lost-response", b.s, a.s, r_.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    sf_fx_backup_complete(f, &c);
    sf_buf_init(&ops);
    sf_fx_trace_ops(&f->log, &ops);
    /* each lost effect is settled by observing, never sent twice */
    snprintf(line, sizeof line, "create %s\nlist %s\n", b.s, b.s);
    assert_non_null(strstr(sf_buf_cstr(&ops), line));
    snprintf(line, sizeof line, "stop %s\nstatus %s\n", a.s, a.s);
    assert_non_null(strstr(sf_buf_cstr(&ops), line));
    snprintf(line, sizeof line, "start %s\nstatus %s\n", r_.s, r_.s);
    assert_non_null(strstr(sf_buf_cstr(&ops), line));
    sf_buf_free(&ops);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 4);
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 4);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 4);
    sf_fx_assert_clean_end(f, c.out, 4);
}

/* ---- 6. containment ---- */

static void containment_restarts_what_this_run_stopped(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    char faults[128], line[512];
    cid r_ = idc(f, R), a = idc(f, A), b = idc(f, B), c_ = idc(f, C);
    sf_buf ops, starts;
    const char *p;

    /* C was stopped by an operator before the backup */
    sf_fx_set_status(f, c_.s, SF_STATUS_STOPPED);
    sf_fx_snap_before(f);
    /* create fails on B, the second target top-down: all four are stopped,
     * R has its snapshot */
    snprintf(faults, sizeof faults, "create:%s=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_fx_status(f->sim, r_.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, b.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, c_.s), SF_STATUS_STOPPED);
    /* exactly the three this run stopped were started, in stop order */
    sf_buf_init(&ops);
    sf_buf_init(&starts);
    sf_fx_trace_ops(&f->log, &ops);
    for (p = sf_buf_cstr(&ops); (p = strstr(p, "start ")) != NULL; p++) {
        const char *nl = strchr(p, '\n');
        sf_buf_append(&starts, p, (size_t)(nl - p + 1));
    }
    snprintf(line, sizeof line, "start %s\nstart %s\nstart %s\n", r_.s, b.s, a.s);
    assert_string_equal(sf_buf_cstr(&starts), line);
    sf_buf_free(&ops);
    sf_buf_free(&starts);
    sf_fx_assert_invariants(f, c.out, false);
    {
        sf_exec_journal j;
        size_t i, failed = 0;
        sf_fx_read_exec(c.out, &j);
        for (i = 0; i < j.operation_count; i++)
            failed += j.operations[i].state == SF_EXEC_FAILED;
        assert_int_equal(failed, 1);
        sf_exec_journal_free(&j);
    }
    /* the rerun stops them again for their snapshots, and leaves C stopped */
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    assert_int_equal(sf_fx_status(f->sim, c_.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, r_.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, b.s), SF_STATUS_RUNNING);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
}

static void containment_per_canister(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    char faults[128];
    cid r_ = idc(f, R), b = idc(f, B);

    snprintf(faults, sizeof faults, "create:%s=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.schedule = SF_BACKUP_PER_CANISTER;
    run_fails(f, &c, "driver-permanent", &err);
    sf_fx_assert_all_running(f);
    /* R finished (one start), B contained (one start); A, C never stopped */
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 2);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 2);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, r_.s), 1);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 1);
    sf_fx_assert_invariants(f, c.out, false);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    sf_fx_assert_all_running(f);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_invariants(f, c.out, false);
}

/* ---- 7. resume from a pending or failed operation ---- */

/* Which operation the execution journal shows pending at each durable
 * write of a reference run. */
typedef struct write_map {
    size_t n;
    char name[512][40];
    char pending[512][96];
    char current[96];
} write_map;

/* The document a log record changes: its tag (the payload's first byte). */
static int last_tag(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    (void)err;
    *(char *)payload = rec->payload_len > 0 ? (char)rec->payload[0] : '?';
    return SF_OK;
}

/* A write of the transition log counts as a write of the document its
 * record changes (a checkpoint marker as "checkpoint"), with the journal
 * read as it then stood (checkpoint + log). */
static void map_write(const char *path, void *ctx)
{
    write_map *m = ctx;
    const char *base = strrchr(path, '/');
    sf_exec_journal j;
    sf_download_journal dj;
    bool have_j = false, have_dj = false;
    sf_error err;
    size_t i;
    char dir[600];
    int is_log;

    base = base ? base + 1 : path;
    snprintf(dir, sizeof dir, "%.*s", (int)(base - path - (base > path)), path);
    is_log = strcmp(base, SF_TRANSITION_LOG_FILE_NAME) == 0;
    if (is_log) {
        char tag = '?';

        sf_txlog_read(sf_fs_storage(), path, NULL, 0, last_tag, &tag, NULL,
                      &err);
        base = tag == 'X' ? SF_EXEC_JOURNAL_FILE_NAME
               : tag == 'D' ? SF_DOWNLOAD_JOURNAL_FILE_NAME
               : tag == 'O' ? SF_OBSERVATIONS_FILE_NAME
                            : "checkpoint";
    }
    if ((strcmp(base, SF_EXEC_JOURNAL_FILE_NAME) == 0 || is_log) &&
        sf_backup_state_read(dir, &j, &have_j, &dj, &have_dj, &err) == SF_OK &&
        have_j) {
        m->current[0] = '\0';
        for (i = 0; i < j.operation_count; i++)
            if (j.operations[i].state == SF_EXEC_PENDING)
                snprintf(m->current, sizeof m->current, "%s",
                         j.operations[i].operation_id);
        sf_exec_journal_free(&j);
        sf_download_journal_free(&dj);
    }
    if (m->n < 512) {
        snprintf(m->name[m->n], sizeof m->name[m->n], "%s", base);
        snprintf(m->pending[m->n], sizeof m->pending[m->n], "%s", m->current);
        m->n++;
    }
}

static void reference_writes(write_map *m)
{
    sf_fx g;
    sf_backup_config c;
    sf_fx_writes w;

    memset(m, 0, sizeof *m);
    memset(&w, 0, sizeof w);
    w.on_write = map_write;
    w.ctx = m;
    fresh_seed(&g, 2);
    sf_fx_stack(&g, NULL, false);
    sf_fx_backup_config(&c, &g, sf_fx_path(&g, "ref"));
    sf_fx_writes_begin(&w);
    sf_fx_backup_complete(&g, &c);
    sf_fx_writes_end(&w);
    sf_fx_writes_free(&w);
    sf_fx_teardown(&g);
}

/* The 1-based write number of the nth write of `name` while `op` is
 * pending (n = 1 is the first). */
static uint64_t write_index(const write_map *m, const char *name,
                            const char *op, int nth)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (strcmp(m->name[i], name) == 0 && strcmp(m->pending[i], op) == 0 &&
            --nth == 0)
            return i + 1;
    fail_msg("no write of %s while %s is pending", name, op);
    return 0;
}

static int backup_fn(sf_fx *f, void *ctx)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_backup_config(&c, f, ctx);
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    return rc;
}

/* Crash at write k, check that `op` is pending on disk, rerun and check
 * that the rerun did not repeat `not_again` (an op line) and that nothing
 * was doubled. */
static void resume_pending(sf_fx *f, uint64_t k, const char *op,
                           const char *not_again)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_exec_journal j;
    sf_exec_resume_summary s;
    const char *out = sf_fx_path(f, "out");
    char outc[600];
    int code;
    size_t i;

    snprintf(outc, sizeof outc, "%s", out);
    assert_true(sf_fx_crash_run(f, k, backup_fn, outc, &code));
    sf_fx_read_exec(outc, &j);
    sf_exec_journal_resume_summary(&j, &s);
    assert_int_equal(s.pending_operations, 1);
    assert_non_null(s.next_operation);
    assert_string_equal(s.next_operation->operation_id, op);
    for (i = 0; i < j.operation_count; i++)
        if (j.operations[i].state == SF_EXEC_PENDING)
            assert_string_equal(j.operations[i].operation_id, op);
    sf_exec_journal_free(&j);
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, true);
    sf_fx_backup_config(&c, f, outc);
    run_ok(f, &c, &r);
    assert_true(r.complete);
    assert_true(r.resumed);
    sf_backup_result_free(&r);
    if (not_again != NULL) {
        sf_buf ops;
        sf_buf_init(&ops);
        sf_fx_trace_ops(&f->log, &ops);
        if (strstr(sf_buf_cstr(&ops), not_again) != NULL)
            fail_msg("the rerun repeated `%s`:\n%s", not_again, sf_buf_cstr(&ops));
        sf_buf_free(&ops);
    }
    sf_fx_assert_clean_end(f, outc, 4);
}

static void resume_pending_stop(void **state)
{
    sf_fx *f = *state;
    write_map *m = malloc(sizeof *m);
    char op[128];

    reference_writes(m);
    snprintf(op, sizeof op, "stop-%s", idc(f, B).s);
    /* right after it was marked pending: the stop may or may not have
     * happened; the rerun observes and stops */
    resume_pending(f, write_index(m, SF_EXEC_JOURNAL_FILE_NAME, op, 1), op, NULL);
    free(m);
}

static void resume_pending_create_after_the_snapshot(void **state)
{
    sf_fx *f = *state;
    write_map *m = malloc(sizeof *m);
    char op[128], line[128];

    reference_writes(m);
    snprintf(op, sizeof op, "snapshot-%s", idc(f, B).s);
    snprintf(line, sizeof line, "create %s\n", idc(f, B).s);
    /* the download journal's Created entry is written: the snapshot exists
     * and is recorded; the receipt is not */
    resume_pending(f, write_index(m, SF_DOWNLOAD_JOURNAL_FILE_NAME, op, 1), op,
                   line);
    free(m);
}

static void resume_pending_create_after_the_list(void **state)
{
    sf_fx *f = *state;
    write_map *m = malloc(sizeof *m);
    char op[128];

    reference_writes(m);
    snprintf(op, sizeof op, "snapshot-%s", idc(f, B).s);
    /* observations: 1st the status, 2nd the list before the create */
    resume_pending(f, write_index(m, SF_OBSERVATIONS_FILE_NAME, op, 2), op, NULL);
    free(m);
}

static void resume_pending_download_after_transfer(void **state)
{
    sf_fx *f = *state;
    write_map *m = malloc(sizeof *m);
    char op[128], line[128];

    reference_writes(m);
    snprintf(op, sizeof op, "download-%s", idc(f, B).s);
    snprintf(line, sizeof line, "download %s\n", idc(f, B).s);
    resume_pending(f, write_index(m, SF_DOWNLOAD_JOURNAL_FILE_NAME, op, 1), op,
                   line);
    free(m);
}

static void resume_pending_finalize(void **state)
{
    sf_fx *f = *state;
    write_map *m = malloc(sizeof *m);

    reference_writes(m);
    /* after the manifest was written, before the receipt */
    resume_pending(f, write_index(m, SF_MANIFEST_FILE_NAME, "finalize-manifest", 1),
                   "finalize-manifest", "download");
    free(m);
}

static void resume_failed_operation(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    sf_exec_journal j;
    char faults[128], op[128];
    size_t i, failed = 0, completed = 0;

    snprintf(faults, sizeof faults, "download:%s:1=permanent", idc(f, B).s);
    snprintf(op, sizeof op, "download-%s", idc(f, B).s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    sf_fx_read_exec(c.out, &j);
    {
        sf_exec_resume_summary s;
        sf_exec_journal_resume_summary(&j, &s);
        assert_int_equal(s.failed_operations, 1);
        assert_string_equal(s.next_operation->operation_id, op);
    }
    sf_exec_journal_free(&j);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    sf_fx_read_exec(c.out, &j);
    for (i = 0; i < j.receipt_count; i++) {
        if (strcmp(j.operation_receipts[i].operation_id, op) != 0)
            continue;
        if (j.operation_receipts[i].outcome == SF_EXEC_OUTCOME_FAILED) {
            failed++;
            assert_non_null(strstr(j.operation_receipts[i].failure_reason,
                                   "snapshot driver failed: download"));
        } else {
            completed++;
        }
    }
    assert_int_equal(failed, 1);
    assert_int_equal(completed, 1);
    sf_exec_journal_free(&j);
    assert_one_snapshot_each(f, ALL, 4);
    sf_fx_assert_invariants(f, c.out, false);
}

/* ---- directories and operators between runs ---- */

/* `backup` into a directory that holds a finished `snapshot download`:
 * either it refuses before it acts, or it makes a backup that verifies
 * from snapshots of now. */
static void backup_into_snapshot_download_directory(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config d;
    sf_snapshot_download_result dr;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&d, f, sf_fx_path(f, "out"));
    if (sf_fx_download(f, &d, &dr, &err) != SF_OK)
        fail_msg("snapshot download: %s", err.message);
    sf_snapshot_download_result_free(&dr);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    rc = sf_fx_backup(f, &c, &r, &err);
    sf_backup_result_free(&r);
    if (rc != SF_OK) {
        assert_untouched(f);
        return;
    }
    /* Regression (fixed): it "completes" without taking a single snapshot: the
     * observations file of the snapshot download says every canister's
     * snapshot is already taken (sf_engine_create adopts it), the download
     * journal says every artifact is Durable, and finalize writes a
     * manifest whose backup_id (the plan's run id) is not the journal's,
     * so the directory no longer verifies (backup-id-mismatch). */
    sf_fx_assert_verifies(c.out);
    assert_one_snapshot_each(f, ALL, 4);
}

/* A canister found stopped by a first run that failed, then started by an
 * operator before the rerun: the rerun stops it for its snapshot, so it
 * must start it again (decisions 5.3: the canisters we stopped that were
 * running before we stopped them). */
static void operator_start_between_runs_is_restarted(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    char faults[128];
    cid a = idc(f, A), b = idc(f, B);

    sf_fx_set_status(f, a.s, SF_STATUS_STOPPED);
    snprintf(faults, sizeof faults, "create:%s:1=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_STOPPED);
    /* the operator starts A; the rerun begins from this fleet */
    sf_fx_set_status(f, a.s, SF_STATUS_RUNNING);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    sf_fx_backup_complete(f, &c);
    {
        char line[128];
        sf_buf ops;

        /* the rerun did stop A (for its snapshot) */
        sf_buf_init(&ops);
        sf_fx_trace_ops(&f->log, &ops);
        snprintf(line, sizeof line, "stop %s\n", a.s);
        assert_non_null(strstr(sf_buf_cstr(&ops), line));
        sf_buf_free(&ops);
    }
    /* Regression (fixed): A stays stopped. sf_engine_stop records status_before only the
     * first time it sees a canister (engine.c, sf_engine_stop), so the
     * "stopped" of the first run survives although the rerun found A
     * running and stopped it itself; sf_engine_start then declines to
     * start it. */
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, c.out, false);
}

/* The second copy of a verified transfer left by a failed run is removed
 * by a rerun, also one without verify_transfer. */
static void verify_copy_left_by_failure_is_cleaned(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_error err;
    char faults[128];
    sf_buf names;

    /* the second read of B (the verify copy) loses its response */
    snprintf(faults, sizeof faults, "download:%s:2=lost-response", idc(f, B).s);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    c.verify_transfer = true;
    run_fails(f, &c, "driver-unknown-outcome", &err);
    sf_fx_stack(f, NULL, false);
    c.verify_transfer = false;
    sf_fx_backup_complete(f, &c);
    sf_buf_init(&names);
    /* Regression (fixed): "<B>.tmp.verify" stays in the backup directory for good: only
     * sf_engine_download with verify_transfer ever removes it. */
    if (sf_fx_leftovers(c.out, &names) != 0) {
        print_error("leftovers after a complete rerun:\n%s", sf_buf_cstr(&names));
        sf_buf_free(&names);
        fail();
    }
    sf_buf_free(&names);
    sf_fx_assert_invariants(f, c.out, false);
}

/* A run killed with every target stopped; the rerun fails before its
 * preflight (`how`: a topology change, or the registry refusing). The
 * canisters the killed run stopped are this backup's: the failed rerun
 * must start them again (decisions 5.3), as it would after a failure
 * later on. */
static void rerun_failing_early_after_crash(sf_fx *f, bool topology)
{
    write_map *m = malloc(sizeof *m);
    sf_backup_config c;
    sf_error err;
    char outc[600], op[128], faults[128];
    int code;
    size_t i;

    reference_writes(m);
    snprintf(op, sizeof op, "snapshot-%s", idc(f, R).s);
    snprintf(outc, sizeof outc, "%s", sf_fx_path(f, "out"));
    /* killed right after the first create was marked pending: all four
     * are stopped */
    assert_true(sf_fx_crash_run(f, write_index(m, SF_EXEC_JOURNAL_FILE_NAME, op, 1),
                                backup_fn, outc, &code));
    free(m);
    for (i = 0; i < 4; i++)
        assert_int_equal(sf_fx_status(f->sim, idc(f, i).s), SF_STATUS_STOPPED);
    sf_buf_reset(&f->log);
    sf_fx_backup_config(&c, f, outc);
    if (topology) {
        assert_int_equal(sf_sim_topology_change(f->sim, "add-child", &err), SF_OK);
        sf_fx_save(f);
        sf_fx_stack(f, NULL, true);
        run_fails(f, &c, "topology-preflight-hash-mismatch", &err);
    } else {
        snprintf(faults, sizeof faults, "registry:%s=permanent", idc(f, R).s);
        sf_fx_stack(f, faults, true);
        run_fails(f, &c, "driver-permanent", &err);
    }
    /* Regression (fixed): they all stay stopped. sf_backup_run contains only once the
     * preflight passed (`effects`, backup_run.c), but the observations of
     * the killed run already list them as stopped by this backup. */
    for (i = 0; i < 4; i++)
        assert_int_equal(sf_fx_status(f->sim, idc(f, i).s), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, outc, false);
}

static void rerun_refused_on_topology_contains_a_killed_run(void **state)
{
    rerun_failing_early_after_crash(*state, true);
}

static void rerun_failing_registry_contains_a_killed_run(void **state)
{
    rerun_failing_early_after_crash(*state, false);
}

/* `sim run` over a fleet whose canister array is full (16 = the
 * simulator's first capacity) with a topology=add-child fault (seed 6).
 * Run in a child: under ASan the failure is an abort. */
static void simrun_add_child_on_a_full_fleet(void **state)
{
    sf_fx *f = *state;
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sf_simrun_config cfg;
        sf_simrun_result res;
        sf_error err;

        memset(&cfg, 0, sizeof cfg);
        cfg.seed = 6;
        cfg.canisters = 16;
        cfg.work_dir = f->dir;
        if (sf_simrun_one(&cfg, &res, &err) != SF_OK || !res.ok)
            _exit(1);
        /* the premise: this seed's plan adds a child */
        _exit(strstr(res.faults, "topology=add-child") != NULL ? 0 : 2);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Regression (fixed): heap-use-after-free. sim/simrun.c run_once() sets the run's
     * root (and canister) to sf_sim_root_id(sc->sim), a pointer into the
     * fleet's canister array; the add-child callback reallocates that
     * array after the first registry read, and create_plan reads the
     * dangling root (ASan: registry.c hash_text via sf_targets_from_registry).
     * `snapfleet sim run --seeds 6 --canisters 16 --no-crash` shows it. */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TC(fn) cmocka_unit_test_setup_teardown(fn, setup_chain, teardown)
#define TW(fn) cmocka_unit_test_setup_teardown(fn, setup_workers, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(fleet_schedule_order),
        T(per_canister_schedule_order),
        T(include_root_manifest),
        T(subtree_by_role),
        T(subtree_by_principal),
        T(non_root_fleet_disconnected_is_single),
        TC(non_root_fleet_connected_is_subtree),
        TW(duplicate_roles_listed_once),
        T(leave_stopped_plans_no_starts),
        T(leave_stopped_failure_is_not_contained),
        T(max_steps_pauses_and_resumes),
        T(one_step_at_a_time_matches_one_run),
        T(rerun_of_complete_backup_does_nothing),
        T(different_root_is_plan_mismatch),
        T(different_network_is_plan_mismatch),
        T(invalid_root_refused),
        T(unknown_selector_refused),
        TW(ambiguous_selector_refused),
        T(locked_directory_refused),
        T(dry_run_writes_plan_and_prints_commands),
        T(dry_run_then_execute),
        T(topology_add_child),
        T(topology_remove_child),
        T(topology_reparent),
        T(topology_module_hash),
        T(topology_add_child_per_canister),
        T(topology_module_hash_per_canister),
        T(fault_matrix_fleet),
        T(fault_matrix_per_canister),
        T(corrupt_once_with_verify_is_retried),
        T(corrupt_always_with_verify_is_transfer_mismatch),
        T(corrupt_without_verify_goes_unnoticed),
        T(lost_responses_are_reconciled),
        T(containment_restarts_what_this_run_stopped),
        T(containment_per_canister),
        T(resume_pending_stop),
        T(resume_pending_create_after_the_snapshot),
        T(resume_pending_create_after_the_list),
        T(resume_pending_download_after_transfer),
        T(resume_pending_finalize),
        T(resume_failed_operation),
        T(backup_into_snapshot_download_directory),
        T(operator_start_between_runs_is_restarted),
        T(verify_copy_left_by_failure_is_cleaned),
        T(rerun_refused_on_topology_contains_a_killed_run),
        T(rerun_failing_registry_contains_a_killed_run),
        T(simrun_add_child_on_a_full_fleet),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
