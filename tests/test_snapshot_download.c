/* `snapshot download` (spec 5.7/5.8) on the simulator: the order of
 * effects, the journal writes W1..W7, the metrics, dry runs, lifecycles,
 * the manifest, every fault effect on every operation kind it uses,
 * topology changes, lost responses, containment and resume from every
 * journal state. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/engine.h"
#include "sim_fixture.h"
#include "snapfleet/backup.h"
#include "snapfleet/txlog.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/journal.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/simrun.h"
#include "snapfleet/text.h"

/* ---- fixtures ----
 * seed 2, 4 canisters: R (root) with children A (shard) and B (user_hub);
 * C (ledger) under B. Tree order R, A, B, C is also registry order.
 * seed 7, 4 canisters: a root with three children all called "worker". */

enum { R = 0, A = 1, B = 2, C = 3 };

static void fresh(sf_fx *f)
{
    sf_sim_config cfg;

    sf_fx_setup(f, "sd");
    sf_fx_config(&cfg, 2, 4);
    sf_fx_start(f, &cfg);
}

static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    fresh(f);
    *state = f;
    return 0;
}

static int setup_workers(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "sdw");
    sf_fx_config(&cfg, 7, 4);
    sf_fx_start(f, &cfg);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    sf_fx *f = *state;

    sf_fx_teardown(f);
    free(f);
    return 0;
}

static const char *id(const sf_fx *f, size_t i)
{
    return sf_fx_id(f->sim, i);
}

/* Copies an id out of the fixture's ring buffer. */
typedef struct cid {
    char s[SF_PRINCIPAL_TEXT_MAX];
} cid;

static cid idc(const sf_fx *f, size_t i)
{
    cid c;
    snprintf(c.s, sizeof c.s, "%s", id(f, i));
    return c;
}

/* The operations of one capture: status, stop, list, create, download
 * (twice with verify_transfer), then status, start when resuming. */
static void capture_ops(sf_buf *b, const char *cid_, bool resume, bool verify)
{
    sf_buf_printf(b, "status %s\nstop %s\nlist %s\ncreate %s\ndownload %s\n",
                  cid_, cid_, cid_, cid_, cid_);
    if (verify)
        sf_buf_printf(b, "download %s\n", cid_);
    if (resume)
        sf_buf_printf(b, "status %s\nstart %s\n", cid_, cid_);
}

static void run_ok(sf_fx *f, const sf_snapshot_download_config *c,
                   sf_snapshot_download_result *r)
{
    sf_error err;

    if (sf_fx_download(f, c, r, &err) != SF_OK)
        fail_msg("snapshot download failed: %s (%s)", err.message,
                 err.kind ? err.kind : "?");
}

static void run_fails(sf_fx *f, const sf_snapshot_download_config *c,
                      const char *kind, sf_error *err)
{
    sf_snapshot_download_result r;

    if (sf_fx_download(f, c, &r, err) == SF_OK) {
        sf_snapshot_download_result_free(&r);
        fail_msg("snapshot download succeeded; wanted %s", kind);
    }
    if (err->kind == NULL || strcmp(err->kind, kind) != 0)
        fail_msg("snapshot download failed with %s (%s); wanted %s",
                 err->kind ? err->kind : "(null)", err->message, kind);
}

/* The download journal as it stands: the checkpoint with the transition
 * log's later records replayed (a killed run leaves them unmerged). */
static void read_journal(const char *out, sf_download_journal *j)
{
    sf_error err;
    sf_exec_journal ej;
    bool have_j, have_dj;

    if (sf_backup_state_read(out, &ej, &have_j, j, &have_dj, &err) != SF_OK)
        fail_msg("%s: %s", out, err.message);
    if (!have_dj)
        fail_msg("%s: no download journal", out);
    assert_false(have_j);
}

/* ---- 1. order of effects ---- */

static void order_single_target_default_lifecycle(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    cid leaf = idc(f, C);
    sf_buf want;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    c.resume_after_snapshot = false;
    run_ok(f, &c, &r);
    /* no include_children: no registry call at all (spec 5.7 step 1) */
    sf_buf_init(&want);
    capture_ops(&want, leaf.s, false, false);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(r.artifact_count, 1);
    assert_string_equal(r.artifacts[0].canister_id, leaf.s);
    assert_false(r.resumed);
    assert_int_equal(r.planned_commands.len, 0);
    /* StopBeforeSnapshot: the captured canister is left stopped, the others
     * were never touched */
    assert_int_equal(sf_fx_status(f->sim, leaf.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, id(f, R)), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, id(f, A)), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, id(f, B)), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 1);
    sf_fx_assert_invariants(f, c.out, true);
    assert_int_equal(sf_fx_assert_verifies(c.out), 1);
    sf_snapshot_download_result_free(&r);
}

static void order_single_target_resume_after_snapshot(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    cid leaf = idc(f, C);
    sf_buf want;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_ok(f, &c, &r);
    sf_buf_init(&want);
    capture_ops(&want, leaf.s, true, false);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
    sf_snapshot_download_result_free(&r);
}

static void order_subtree_resume(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    /* discovery, then the second look before the first stop, then each
     * target in breadth-first order */
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", id(f, R), id(f, R));
    for (i = 0; i < 4; i++)
        capture_ops(&want, id(f, i), true, false);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(r.artifact_count, 4);
    for (i = 0; i < 4; i++) {
        char *seg = sf_path_join(c.out, id(f, i));
        assert_string_equal(r.artifacts[i].canister_id, id(f, i));
        assert_string_equal(r.artifacts[i].path, seg);
        assert_true(sf_is_sha256_hex(r.artifacts[i].checksum));
        free(seg);
    }
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
    sf_snapshot_download_result_free(&r);
}

static void order_subtree_default_lifecycle_leaves_all_stopped(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.resume_after_snapshot = false;
    run_ok(f, &c, &r);
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", id(f, R), id(f, R));
    for (i = 0; i < 4; i++)
        capture_ops(&want, id(f, i), false, false);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    for (i = 0; i < 4; i++)
        assert_int_equal(sf_fx_status(f->sim, id(f, i)), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 0);
    sf_fx_assert_invariants(f, c.out, true);
    sf_snapshot_download_result_free(&r);
}

static void order_include_children_is_direct_children_only(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.recursive = false;
    c.include_children = true;
    run_ok(f, &c, &r);
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", id(f, R), id(f, R));
    capture_ops(&want, id(f, R), true, false);
    capture_ops(&want, id(f, A), true, false);
    capture_ops(&want, id(f, B), true, false);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(r.artifact_count, 3);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, id(f, C)), 0);
    sf_snapshot_download_result_free(&r);
}

static void order_verify_transfer_reads_twice(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    cid leaf = idc(f, C);
    sf_buf want;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    c.verify_transfer = true;
    run_ok(f, &c, &r);
    sf_buf_init(&want);
    capture_ops(&want, leaf.s, true, true);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    /* the second copy is gone */
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
    sf_fx_assert_invariants(f, c.out, false);
    sf_snapshot_download_result_free(&r);
}

/* ---- 1. journal writes W1..W7 ---- */

typedef struct jstate {
    const char *out;
    size_t n;
    sf_artifact_state state[64];
    bool temp[64], checksum[64];
    sf_download_metrics m[64];
    size_t artifacts[64];
    sf_buf seq; /* one token a write: a log record's tag, or a file name */
} jstate;

static int last_tag(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    (void)err;
    *(char *)payload = rec->payload_len > 0 ? (char)rec->payload[0] : '?';
    return SF_OK;
}

/* Every durable write: the transition log's records by tag (D: the
 * download journal, O: observations, B: a checkpoint marker), documents
 * by name; after a D record, the journal as it then stood (checkpoint +
 * log). */
static void on_write(const char *path, void *ctx)
{
    jstate *js = ctx;
    const char *base = strrchr(path, '/');
    sf_download_journal j;
    sf_exec_journal ej;
    bool have_j, have_dj;
    sf_error err;
    char tag = '?', dir[700];

    base = base ? base + 1 : path;
    if (strcmp(base, SF_TRANSITION_LOG_FILE_NAME) != 0) {
        sf_buf_printf(&js->seq, "%s%s", js->seq.len ? " " : "", base);
        return;
    }
    sf_txlog_read(sf_fs_storage(), path, NULL, 0, last_tag, &tag, NULL, &err);
    sf_buf_printf(&js->seq, "%s%c", js->seq.len ? " " : "", tag);
    if (tag != 'D' || js->n >= 64)
        return;
    snprintf(dir, sizeof dir, "%.*s", (int)(base - path - 1), path);
    if (sf_backup_state_read(dir, &ej, &have_j, &j, &have_dj, &err) != SF_OK)
        fail_msg("%s", err.message);
    assert_true(have_dj);
    assert_false(have_j);
    js->state[js->n] = j.artifacts[j.artifact_count - 1].state;
    js->temp[js->n] = j.artifacts[j.artifact_count - 1].temp_path != NULL;
    js->checksum[js->n] = j.artifacts[j.artifact_count - 1].checksum != NULL;
    js->m[js->n] = j.operation_metrics;
    js->artifacts[js->n] = j.artifact_count;
    js->n++;
    sf_download_journal_free(&j);
}

static void journal_writes_one_target(void **state)
{
    static const sf_artifact_state want_state[7] = {
        SF_ARTIFACT_CREATED, SF_ARTIFACT_CREATED, SF_ARTIFACT_DOWNLOADED,
        SF_ARTIFACT_DOWNLOADED, SF_ARTIFACT_CHECKSUM_VERIFIED,
        SF_ARTIFACT_CHECKSUM_VERIFIED, SF_ARTIFACT_DURABLE,
    };
    static const bool want_temp[7] = {false, false, true, true, true, true, false};
    static const bool want_sum[7] = {false, false, false, false, true, true, true};
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    cid leaf = idc(f, C);
    sf_fx_writes w;
    jstate js;
    size_t i;

    memset(&w, 0, sizeof w);
    memset(&js, 0, sizeof js);
    w.on_write = on_write;
    w.ctx = &js;
    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    c.resume_after_snapshot = false;
    sf_fx_writes_begin(&w);
    run_ok(f, &c, &r);
    sf_fx_writes_end(&w);
    /* the log starts with a marker of the (absent) documents; the
     * observations before the stop, before the create (the snapshot list)
     * and after it (the id); W1..W6; the artifact's publish (its rename
     * into place, named by the artifact); W7; before finalize a checkpoint
     * (its marker, the journal, the observations); the manifest; the exit
     * checkpoint, where nothing changed but its marker */
    {
        char want[512];

        snprintf(want, sizeof want, "B O O O D D D D D D %s D B "
                 "download-journal.json snapfleet-observations.json "
                 "fleet-backup-manifest.json B", leaf.s);
        assert_string_equal(sf_buf_cstr(&js.seq), want);
    }
    assert_int_equal(js.n, 7);
    for (i = 0; i < 7; i++) {
        const sf_download_metrics *m = &js.m[i];

        assert_int_equal(js.state[i], want_state[i]);
        assert_int_equal(js.temp[i], want_temp[i]);
        assert_int_equal(js.checksum[i], want_sum[i]);
        assert_int_equal(js.artifacts[i], 1);
        assert_int_equal(m->target_count, 1);
        /* W(i+1): the counters step by step, started before completed */
        assert_int_equal(m->snapshot_create_started, 1);
        assert_int_equal(m->snapshot_create_completed, 1);
        assert_int_equal(m->snapshot_download_started, i >= 1);
        assert_int_equal(m->snapshot_download_completed, i >= 2);
        assert_int_equal(m->checksum_verify_started, i >= 3);
        assert_int_equal(m->checksum_verify_completed, i >= 4);
        assert_int_equal(m->artifact_finalize_started, i >= 5);
        assert_int_equal(m->artifact_finalize_completed, i >= 6);
    }
    sf_buf_free(&js.seq);
    sf_fx_writes_free(&w);
    sf_snapshot_download_result_free(&r);
}

static void journal_writes_several_targets(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_fx_writes w;
    jstate js;
    sf_buf want;
    size_t i;

    memset(&w, 0, sizeof w);
    memset(&js, 0, sizeof js);
    w.on_write = on_write;
    w.ctx = &js;
    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    sf_fx_writes_begin(&w);
    run_ok(f, &c, &r);
    sf_fx_writes_end(&w);
    sf_buf_init(&want);
    sf_buf_puts(&want, "B");
    for (i = 0; i < 4; i++) {
        /* W1..W6, the publish, W7 */
        sf_buf_printf(&want, " O O O D D D D D D %s D", sf_fx_id(f->sim, i));
        /* the restart is recorded after W7 */
        sf_buf_puts(&want, " O");
    }
    /* the checkpoint before finalize, the manifest, the exit checkpoint */
    sf_buf_puts(&want, " B download-journal.json snapfleet-observations.json"
                       " fleet-backup-manifest.json B");
    assert_string_equal(sf_buf_cstr(&js.seq), sf_buf_cstr(&want));
    assert_int_equal(js.n, 28);
    assert_int_equal(sf_fx_writes_count(&w, SF_TRANSITION_LOG_FILE_NAME), 47);
    assert_int_equal(w.n, 54); /* and 4 publishes */
    sf_buf_free(&want);
    sf_buf_free(&js.seq);
    sf_fx_writes_free(&w);
    sf_snapshot_download_result_free(&r);
}

static void metrics_all_equal_target_count(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_download_journal j;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    read_journal(c.out, &j);
    assert_int_equal(j.operation_metrics.target_count, 4);
    assert_int_equal(j.operation_metrics.snapshot_create_started, 4);
    assert_int_equal(j.operation_metrics.snapshot_create_completed, 4);
    assert_int_equal(j.operation_metrics.snapshot_download_started, 4);
    assert_int_equal(j.operation_metrics.snapshot_download_completed, 4);
    assert_int_equal(j.operation_metrics.checksum_verify_started, 4);
    assert_int_equal(j.operation_metrics.checksum_verify_completed, 4);
    assert_int_equal(j.operation_metrics.artifact_finalize_started, 4);
    assert_int_equal(j.operation_metrics.artifact_finalize_completed, 4);
    assert_int_equal(j.artifact_count, 4);
    assert_string_equal(j.backup_id, "out");
    assert_non_null(j.discovery_topology_hash);
    assert_string_equal(j.discovery_topology_hash, j.pre_snapshot_topology_hash);
    for (i = 0; i < 4; i++) {
        const sf_journal_artifact *a = &j.artifacts[i];
        char sum[SF_SHA256_HEX_SIZE], *p = sf_path_join(c.out, a->artifact_path);
        sf_error err;

        assert_string_equal(a->canister_id, id(f, i));
        assert_int_equal(a->state, SF_ARTIFACT_DURABLE);
        assert_null(a->temp_path);
        assert_string_equal(a->artifact_path, id(f, i));
        assert_string_equal(a->checksum_algorithm, "sha256");
        assert_int_equal(sf_checksum_path(p, sum, &err), SF_OK);
        assert_string_equal(a->checksum, sum);
        assert_string_equal(r.artifacts[i].checksum, sum);
        assert_string_equal(r.artifacts[i].snapshot_id, a->snapshot_id);
        free(p);
    }
    sf_download_journal_free(&j);
    sf_snapshot_download_result_free(&r);
}

/* ---- 1. dry run ---- */

static void dry_run_case(sf_fx *f, bool resume)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "dry"));
    c.dry_run = true;
    c.resume_after_snapshot = resume;
    run_ok(f, &c, &r);
    sf_buf_init(&want);
    for (i = 0; i < 4; i++) {
        const char *x = id(f, i);
        sf_buf_printf(&want, "icp canister stop %s\n", x);
        sf_buf_printf(&want, "icp canister snapshot create %s --json\n", x);
        sf_buf_printf(&want, "icp canister snapshot download %s '<snapshot-id>' "
                      "--output %s/%s\n", x, c.out, x);
        if (resume)
            sf_buf_printf(&want, "icp canister start %s\n", x);
    }
    assert_string_equal(sf_buf_cstr(&r.planned_commands), sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(r.artifact_count, 4);
    for (i = 0; i < 4; i++) {
        char *p = sf_path_join(c.out, id(f, i));
        assert_string_equal(r.artifacts[i].canister_id, id(f, i));
        assert_string_equal(r.artifacts[i].snapshot_id, "<snapshot-id>");
        assert_string_equal(r.artifacts[i].checksum, "<sha256>");
        assert_string_equal(r.artifacts[i].path, p);
        free(p);
    }
    /* discovery only: no second look, no effect, no file */
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\n", id(f, R));
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_false(sf_fx_exists(c.out));
    sf_fx_assert_all_running(f);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 0);
    sf_snapshot_download_result_free(&r);
}

static void dry_run_with_resume(void **state)
{
    dry_run_case(*state, true);
}

static void dry_run_without_resume(void **state)
{
    dry_run_case(*state, false);
}

/* ---- 1. manifest (spec 5.8) ---- */

static void manifest_subtree_fields(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_manifest m;
    sf_download_journal j;
    size_t i;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.backup_id = "bk-1";
    c.environment = "ic";
    c.created_at = "unix:1234";
    run_ok(f, &c, &r);
    sf_fx_read_manifest(c.out, &m);
    read_journal(c.out, &j);
    assert_int_equal(m.manifest_version, 1);
    assert_string_equal(m.backup_id, "bk-1");
    assert_string_equal(j.backup_id, "bk-1");
    assert_string_equal(m.created_at, "unix:1234");
    assert_string_equal(m.tool.name, "snapfleet");
    assert_string_equal(m.tool.version, "test");
    assert_string_equal(m.source.environment, "ic");
    assert_string_equal(m.source.root_canister, id(f, R));
    assert_int_equal(m.consistency.backup_unit_count, 1);
    assert_string_equal(m.consistency.backup_units[0].unit_id, "snapshot-selection");
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SUBTREE);
    /* roles de-duplicated and sorted byte-wise: worker x3 + root */
    assert_int_equal(m.consistency.backup_units[0].role_count, 2);
    assert_string_equal(m.consistency.backup_units[0].roles[0], "root");
    assert_string_equal(m.consistency.backup_units[0].roles[1], "worker");
    assert_string_equal(m.fleet.topology_hash_algorithm, "sha256");
    assert_string_equal(m.fleet.topology_hash_input,
                        "sorted(pid,parent_pid,role,module_hash)");
    assert_string_equal(m.fleet.discovery_topology_hash, j.discovery_topology_hash);
    assert_string_equal(m.fleet.pre_snapshot_topology_hash, j.discovery_topology_hash);
    assert_string_equal(m.fleet.topology_hash, j.discovery_topology_hash);
    assert_int_equal(m.fleet.member_count, 4);
    for (i = 0; i < 4; i++) {
        const sf_manifest_member *mem = &m.fleet.members[i];
        sf_sim_canister_info info;
        sf_error err;

        assert_int_equal(sf_sim_canister_at(f->sim, i, &info, &err), SF_OK);
        assert_string_equal(mem->canister_id, info.canister_id);
        assert_string_equal(mem->role, i == 0 ? "root" : "worker");
        if (i == 0)
            assert_null(mem->parent_canister_id);
        else
            assert_string_equal(mem->parent_canister_id, info.parent_canister_id);
        /* include_children: the subnet is the root */
        assert_string_equal(mem->subnet_canister_id, id(f, R));
        assert_null(mem->controller_hint);
        assert_int_equal(mem->identity_mode, i == 0 ? SF_MANIFEST_IDENTITY_FIXED
                                                    : SF_MANIFEST_IDENTITY_RELOCATABLE);
        assert_int_equal(mem->verification_check_count, 1);
        assert_string_equal(mem->verification_checks[0].kind, "status");
        assert_int_equal(mem->verification_checks[0].role_count, 1);
        assert_string_equal(mem->verification_checks[0].roles[0], mem->role);
        assert_string_equal(mem->source_snapshot.snapshot_id, j.artifacts[i].snapshot_id);
        assert_string_equal(mem->source_snapshot.module_hash, info.module_hash);
        assert_null(mem->source_snapshot.code_version);
        assert_string_equal(mem->source_snapshot.artifact_path, info.canister_id);
        assert_string_equal(mem->source_snapshot.checksum_algorithm, "sha256");
        assert_string_equal(mem->source_snapshot.checksum, j.artifacts[i].checksum);
    }
    assert_int_equal(m.verification.fleet_check_count, 0);
    assert_int_equal(m.verification.member_check_count, 0);
    sf_manifest_free(&m);
    sf_download_journal_free(&j);
    sf_snapshot_download_result_free(&r);
    sf_fx_assert_invariants(f, c.out, false);
}

static void manifest_single_fields(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_manifest m;
    cid leaf = idc(f, C);

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "single"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_ok(f, &c, &r);
    sf_fx_read_manifest(c.out, &m);
    assert_string_equal(m.backup_id, "single"); /* the directory's name */
    /* no root given: the selected canister stands for it */
    assert_string_equal(m.source.root_canister, leaf.s);
    assert_int_equal(m.consistency.backup_units[0].kind, SF_MANIFEST_UNIT_SINGLE);
    assert_int_equal(m.consistency.backup_units[0].role_count, 1);
    /* no registry read: no role, so the selected canister is "root" */
    assert_string_equal(m.consistency.backup_units[0].roles[0], "root");
    assert_int_equal(m.fleet.member_count, 1);
    assert_string_equal(m.fleet.members[0].role, "root");
    assert_null(m.fleet.members[0].parent_canister_id);
    assert_null(m.fleet.members[0].subnet_canister_id);
    assert_null(m.fleet.members[0].source_snapshot.module_hash);
    assert_int_equal(m.fleet.members[0].identity_mode, SF_MANIFEST_IDENTITY_FIXED);
    sf_manifest_free(&m);
    sf_snapshot_download_result_free(&r);
}

static void manifest_subtree_of_non_root_selection(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_manifest m;
    cid sel = idc(f, B);

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "sub"));
    c.canister = sel.s;
    run_ok(f, &c, &r);
    sf_fx_read_manifest(c.out, &m);
    assert_string_equal(m.source.root_canister, id(f, R));
    assert_int_equal(m.fleet.member_count, 2);
    assert_string_equal(m.fleet.members[0].canister_id, sel.s);
    assert_string_equal(m.fleet.members[0].role, "user_hub");
    assert_string_equal(m.fleet.members[1].canister_id, id(f, C));
    assert_string_equal(m.fleet.members[1].role, "ledger");
    assert_int_equal(m.fleet.members[0].identity_mode, SF_MANIFEST_IDENTITY_FIXED);
    assert_int_equal(m.fleet.members[1].identity_mode, SF_MANIFEST_IDENTITY_RELOCATABLE);
    assert_string_equal(m.consistency.backup_units[0].roles[0], "ledger");
    assert_string_equal(m.consistency.backup_units[0].roles[1], "user_hub");
    sf_manifest_free(&m);
    sf_snapshot_download_result_free(&r);
    /* R and A were never touched */
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, id(f, R)), 0);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, id(f, A)), 0);
    sf_fx_assert_invariants(f, c.out, false);
}

/* ---- refusals before any effect ---- */

static void assert_untouched(const sf_fx *f)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(f->before); i++) {
        const char *x = sf_fx_id(f->before, i);
        size_t idx;

        if (sf_sim_canister_find(f->sim, x, &idx, NULL) != SF_OK)
            continue; /* removed by a topology change */
        assert_int_equal(sf_fx_status(f->sim, x), sf_fx_status(f->before, x));
        assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, x), 0);
    }
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 0);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 0);
}

static void include_children_without_root(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.root = NULL;
    c.recursive = false;
    c.include_children = true;
    run_fails(f, &c, "missing-registry-source", &err);
    assert_string_equal(err.field, "root");
    assert_string_equal(err.message, "missing --root when using --include-children");
    assert_int_equal(f->log.len, 0);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/download-journal.json")));
    assert_false(sf_fx_exists(sf_fx_path(f, "out/fleet-backup-manifest.json")));
    assert_untouched(f);
}

static void recursive_without_root(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.root = NULL;
    run_fails(f, &c, "missing-registry-source", &err);
    assert_int_equal(f->log.len, 0);
    assert_untouched(f);
}

static void dry_run_without_root(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.root = NULL;
    c.dry_run = true;
    run_fails(f, &c, "missing-registry-source", &err);
    assert_false(sf_fx_exists(c.out));
}

static void selected_not_in_registry(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = "aaaaa-aa";
    run_fails(f, &c, "canister-not-in-registry", &err);
    assert_untouched(f);
}

static void locked_directory_refused(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_lock lock;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    assert_int_equal(sf_lock_acquire(c.out, &lock, &err), SF_OK);
    run_fails(f, &c, "journal-locked", &err);
    sf_lock_release(&lock);
    assert_int_equal(f->log.len, 0);
    assert_untouched(f);
}

/* ---- 4. topology changes fail closed before any stop ---- */

static void topology_case(sf_fx *f, const char *kind)
{
    sf_snapshot_download_config c;
    sf_error err;
    char faults[64];
    sf_buf want;

    snprintf(faults, sizeof faults, "topology=%s", kind);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "topology-changed", &err);
    assert_non_null(strstr(err.message, "topology changed before snapshot start"));
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", sf_fx_id(f->before, R),
                  sf_fx_id(f->before, R));
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_untouched(f);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/download-journal.json")));
    assert_false(sf_fx_exists(sf_fx_path(f, "out/fleet-backup-manifest.json")));
    sf_fx_assert_invariants(f, c.out, false);
}

static void topology_add_child(void **state) { topology_case(*state, "add-child"); }
static void topology_remove_child(void **state) { topology_case(*state, "remove-child"); }
static void topology_reparent(void **state) { topology_case(*state, "reparent"); }
static void topology_module_hash(void **state) { topology_case(*state, "module-hash"); }

/* A topology change between an interrupted run and its rerun: the rerun
 * refuses before it stops anything (the journal's discovery hash). */
static void topology_changed_since_interrupted_run(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;
    char faults[128];
    cid leaf = idc(f, C);

    /* the first run fails on C's create: R, A and B are captured */
    snprintf(faults, sizeof faults, "create:%s=permanent", leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_sim_topology_change(f->sim, "add-child", &err), SF_OK);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    run_fails(f, &c, "topology-changed", &err);
    assert_string_equal(err.field, "discovery_topology_hash");
    assert_untouched(f);
}

static void backup_id_mismatch_refused(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    c.backup_id = "another";
    run_fails(f, &c, "backup-id-mismatch", &err);
    assert_string_equal(err.field, "backup_id");
    assert_untouched(f);
}

/* ---- 3. every fault effect on every operation kind ---- */

typedef struct fault_case {
    const char *op;
    const char *effect;
    int target;       /* tree index the rule names */
    bool every;       /* every call, not just the first */
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

static void one_fault_case(sf_fx *f, const fault_case *fc, size_t n)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;
    char faults[160], out[64];
    size_t i;

    snprintf(faults, sizeof faults, "%s:%s%s=%s", fc->op,
             sf_fx_id(f->before, (size_t)fc->target), fc->every ? "" : ":1",
             fc->effect);
    snprintf(out, sizeof out, "out-%zu", n);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, out));
    if (sf_fx_download(f, &c, &r, &err) == SF_OK) {
        sf_snapshot_download_result_free(&r);
        if (fc->kind != NULL)
            fail_msg("%s: completed; wanted %s", faults, fc->kind);
    } else if (fc->kind == NULL || err.kind == NULL || strcmp(err.kind, fc->kind) != 0) {
        fail_msg("%s: failed with %s (%s); wanted %s", faults,
                 err.kind ? err.kind : "(null)", err.message,
                 fc->kind ? fc->kind : "completion");
    }
    /* either way: nothing left stopped, nothing orphaned, and what the
     * manifest lists verifies */
    if (!defeats_containment(fc))
        sf_fx_assert_invariants(f, c.out, false);
    if (fc->kind != NULL) {
        /* a rerun continues whatever the journal holds */
        char jpath[96];
        bool had_journal;

        snprintf(jpath, sizeof jpath, "%s/download-journal.json", out);
        had_journal = sf_fx_exists(sf_fx_path(f, jpath));
        sf_fx_stack(f, NULL, false);
        run_ok(f, &c, &r);
        assert_int_equal(r.resumed, had_journal);
        sf_snapshot_download_result_free(&r);
        sf_fx_assert_invariants(f, c.out, false);
    }
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
    /* exactly one snapshot per target, over both runs */
    for (i = 0; i < 4; i++)
        assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, sf_fx_id(f->before, i)), 1);
    sf_fx_assert_all_running(f);
}

static void fault_matrix(void **state)
{
    sf_fx *f = *state;
    size_t n;

    for (n = 0; n < sizeof fault_cases / sizeof *fault_cases; n++) {
        sf_fx_teardown(f);
        fresh(f);
        one_fault_case(f, &fault_cases[n], n);
    }
}

/* corrupt with verify_transfer: one bad read is retried to success */
static void corrupt_once_with_verify_is_retried(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    char faults[128];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "download:%s:1=corrupt", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.verify_transfer = true;
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    /* two reads disagreed, both were read again and agreed */
    {
        sf_buf ops;
        size_t n = 0;
        const char *p;
        char line[128];

        sf_buf_init(&ops);
        sf_fx_trace_ops(&f->log, &ops);
        snprintf(line, sizeof line, "download %s\n", b.s);
        for (p = sf_buf_cstr(&ops); (p = strstr(p, line)) != NULL; p++)
            n++;
        assert_int_equal(n, 4);
        sf_buf_free(&ops);
    }
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
}

/* corrupt on every read with verify_transfer: no two reads agree, the run
 * fails with transfer-mismatch, and a clean rerun completes */
static void corrupt_always_with_verify_is_transfer_mismatch(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;
    char faults[128];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "download:%s=corrupt", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.verify_transfer = true;
    run_fails(f, &c, "transfer-mismatch", &err);
    /* R and A: two reads each; B: the first copy, then (second, first
     * again) twice, then the third second copy: 6 */
    assert_int_equal(sf_fx_trace_count(&f->log, "download"), 4 + 6);
    sf_fx_assert_invariants(f, c.out, false);
    sf_fx_stack(f, NULL, false);
    run_ok(f, &c, &r);
    assert_true(r.resumed);
    sf_snapshot_download_result_free(&r);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    assert_int_equal(sf_fx_leftovers(c.out, NULL), 0);
}

/* corrupt without verify_transfer: the known limit verify_transfer exists
 * for. The backup completes and verifies (its checksum is of the bytes
 * received), but B's artifact does not hold B's memory. */
static void corrupt_without_verify_goes_unnoticed(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf v;
    sf_error err;
    char faults[128], want[256];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "download:%s:1=corrupt", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    assert_int_equal(sf_fx_assert_verifies(c.out), 4);
    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f->before, f->sim, c.out, false, &v, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "invariant-violated");
    snprintf(want, sizeof want, "artifact of %s does not hold the canister's memory", b.s);
    assert_non_null(strstr(sf_buf_cstr(&v), want));
    /* and only B's */
    assert_int_equal(strchr(sf_buf_cstr(&v), '\n') - sf_buf_cstr(&v) + 1,
                     (long)v.len);
    sf_buf_free(&v);
}

/* ---- 5. lost responses on create, stop and start ---- */

static void lost_create_adopts_the_snapshot(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    char faults[128];
    cid leaf = idc(f, C);

    snprintf(faults, sizeof faults, "create:%s:1=lost-response", leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_ok(f, &c, &r);
    /* the list after the lost create finds the one new snapshot */
    sf_buf_init(&want);
    sf_buf_printf(&want, "status %s\nstop %s\nlist %s\ncreate %s\nlist %s\n"
                  "download %s\nstatus %s\nstart %s\n", leaf.s, leaf.s, leaf.s,
                  leaf.s, leaf.s, leaf.s, leaf.s, leaf.s);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    {
        sf_snapshot_info s;
        sf_error err;
        assert_int_equal(sf_sim_snapshot_at(f->sim, C, 0, &s, &err), SF_OK);
        assert_string_equal(r.artifacts[0].snapshot_id, s.id);
    }
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
    sf_snapshot_download_result_free(&r);
}

static void lost_create_with_existing_snapshots(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    char faults[128];
    cid leaf = idc(f, C);
    sf_snapshot_info s;
    sf_error err;

    /* a snapshot an operator took earlier must not be mistaken for ours */
    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "first"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    snprintf(faults, sizeof faults, "create:%s:1=lost-response", leaf.s);
    sf_fx_stack(f, faults, false);
    c.out = sf_fx_path(f, "second");
    run_ok(f, &c, &r);
    assert_int_equal(sf_fx_snapshot_count(f->sim, leaf.s), 2);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    assert_int_equal(sf_sim_snapshot_at(f->sim, C, 1, &s, &err), SF_OK);
    assert_string_equal(r.artifacts[0].snapshot_id, s.id);
    sf_snapshot_download_result_free(&r);
    sf_fx_assert_invariants(f, c.out, false);
}

static void lost_stop_and_start_are_observed(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    char faults[256];
    cid leaf = idc(f, C);

    snprintf(faults, sizeof faults, "stop:%s:1=lost-response,start:%s:1=lost-response",
             leaf.s, leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_ok(f, &c, &r);
    /* each lost toggle is followed by a status that settles it; neither is
     * sent twice */
    sf_buf_init(&want);
    sf_buf_printf(&want, "status %s\nstop %s\nstatus %s\nlist %s\ncreate %s\n"
                  "download %s\nstatus %s\nstart %s\nstatus %s\n", leaf.s, leaf.s,
                  leaf.s, leaf.s, leaf.s, leaf.s, leaf.s, leaf.s, leaf.s);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
    sf_snapshot_download_result_free(&r);
}

/* ---- 6. containment ---- */

static void containment_restarts_the_failed_target(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;
    char faults[128];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "create:%s=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    /* B was stopped and is started again; C was never reached */
    sf_fx_assert_all_running(f);
    assert_int_equal(sf_fx_trace_count(&f->log, "stop"), 3);
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 3);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, id(f, C)), 0);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, b.s), 0);
    sf_fx_assert_invariants(f, c.out, false);
}

static void containment_keeps_a_canister_stopped_before(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;
    char faults[128];
    cid b = idc(f, B), a = idc(f, A);

    sf_fx_set_status(f, a.s, SF_STATUS_STOPPED);
    sf_fx_snap_before(f);
    snprintf(faults, sizeof faults, "download:%s:1=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, b.s), SF_STATUS_RUNNING);
    assert_int_equal(sf_fx_status(f->sim, id(f, R)), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, c.out, false);
    /* the rerun finishes and still leaves A as it found it */
    sf_fx_stack(f, NULL, false);
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    assert_int_equal(sf_fx_status(f->sim, a.s), SF_STATUS_STOPPED);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_new_snapshots_total(f->before, f->sim), 4);
}

static void default_lifecycle_failure_leaves_stopped(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;
    char faults[128];
    cid b = idc(f, B);

    snprintf(faults, sizeof faults, "create:%s=permanent", b.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.resume_after_snapshot = false;
    run_fails(f, &c, "driver-permanent", &err);
    /* canic's StopBeforeSnapshot: no start at all */
    assert_int_equal(sf_fx_trace_count(&f->log, "start"), 0);
    assert_int_equal(sf_fx_status(f->sim, id(f, R)), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, id(f, A)), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, b.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_status(f->sim, id(f, C)), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, c.out, true);
}

/* ---- 7. resume from every journal state ---- */

typedef struct single_run {
    const char *out;
    const char *canister;
} single_run;

static void single_config(sf_snapshot_download_config *c, const sf_fx *f,
                          const single_run *s)
{
    sf_fx_download_config(c, f, s->out);
    c->canister = s->canister;
    c->root = NULL;
    c->recursive = false;
    c->resume_after_snapshot = false;
}

/* The whole fleet, resuming each canister after its capture. */
static int resume_fn(sf_fx *f, void *ctx)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    sf_fx_download_config(&c, f, ctx);
    if (sf_fx_download(f, &c, &r, &err) != SF_OK)
        return SF_ERR;
    sf_snapshot_download_result_free(&r);
    return SF_OK;
}

static int single_fn(sf_fx *f, void *ctx)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;

    single_config(&c, f, ctx);
    if (sf_fx_download(f, &c, &r, &err) != SF_OK)
        return SF_ERR;
    sf_snapshot_download_result_free(&r);
    return SF_OK;
}

/* Crash after durable write k of a one-target capture (writes: the log's
 * first marker, 3 observations as 2..4, W1..W6 as 5..10, the artifact's
 * publish as 11, W7 as 12), check the journal on disk, rerun and pin what
 * the rerun had to do. */
static void resume_after_crash(sf_fx *f, uint64_t k, int want_entries,
                               sf_artifact_state want_state,
                               const char *want_rerun_ops)
{
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    char out[64], ref[64], outp[700];
    single_run s;
    cid leaf = idc(f, C);
    sf_buf want;
    int code;

    snprintf(out, sizeof out, "crash-%llu/bk", (unsigned long long)k);
    snprintf(ref, sizeof ref, "ref-%llu/bk", (unsigned long long)k);
    snprintf(outp, sizeof outp, "%s", sf_fx_path(f, out));
    s.out = outp;
    s.canister = leaf.s;
    assert_true(sf_fx_crash_run(f, k, single_fn, &s, &code));
    if (want_entries > 0) {
        sf_download_journal j;
        read_journal(s.out, &j);
        assert_int_equal(j.artifact_count, (size_t)want_entries);
        assert_int_equal(j.artifacts[0].state, want_state);
        sf_download_journal_free(&j);
    } else {
        sf_download_journal j;
        sf_exec_journal ej;
        bool have_j, have_dj;
        sf_error err;

        assert_int_equal(sf_backup_state_read(s.out, &ej, &have_j, &j,
                                              &have_dj, &err), SF_OK);
        assert_false(have_dj);
        sf_download_journal_free(&j);
    }
    {
        char p[96];
        snprintf(p, sizeof p, "%s/fleet-backup-manifest.json", out);
        assert_false(sf_fx_exists(sf_fx_path(f, p)));
    }
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, true);
    single_config(&c, f, &s);
    run_ok(f, &c, &r);
    assert_int_equal(r.resumed, want_entries > 0);
    sf_snapshot_download_result_free(&r);
    sf_buf_init(&want);
    {
        const char *p;
        for (p = want_rerun_ops; *p != '\0'; p++) {
            if (*p == '@')
                sf_buf_puts(&want, leaf.s);
            else
                sf_buf_putc(&want, *p);
        }
    }
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    assert_int_equal(sf_fx_assert_verifies(s.out), 1);
    assert_int_equal(sf_fx_leftovers(s.out, NULL), 0);
    sf_fx_assert_invariants(f, s.out, true);
    /* the same manifest as a run that was never interrupted */
    sf_fx_unstack(f);
    {
        sf_fx g;
        sf_sim_config cfg;
        single_run s2;

        sf_fx_setup(&g, "sdref");
        sf_fx_config(&cfg, 2, 4);
        sf_fx_start(&g, &cfg);
        sf_fx_stack(&g, NULL, false);
        char a[800], b[800];

        s2.out = sf_fx_path(&g, ref);
        s2.canister = leaf.s;
        assert_int_equal(single_fn(&g, &s2), SF_OK);
        snprintf(a, sizeof a, "%s/%s", s2.out, SF_MANIFEST_FILE_NAME);
        snprintf(b, sizeof b, "%s/%s", s.out, SF_MANIFEST_FILE_NAME);
        /* A crash before the create: the rerun takes the snapshot later in
         * virtual time, and the artifact's metadata.json carries that
         * moment (so its checksum differs); everything else is equal. */
        sf_fx_assert_backups_equal(s2.out, s.out);
        if (k >= 4) /* after the snapshot was adopted (write 1 is the
                     * log's first marker) */
            sf_fx_assert_manifests_equal(a, b);
        sf_fx_teardown(&g);
    }
}

static void resume_crash_after_stop_record(void **state)
{
    /* the stop was never sent: observe, stop, list, create, download */
    resume_after_crash(*state, 2, 0, SF_ARTIFACT_CREATED,
                       "status @\nstop @\nlist @\ncreate @\ndownload @\n");
}

static void resume_crash_after_snapshot_list(void **state)
{
    /* the list before the create is on record: the create is reconciled
     * (a list finds nothing new) before it is sent */
    resume_after_crash(*state, 3, 0, SF_ARTIFACT_CREATED,
                       "status @\nlist @\ncreate @\ndownload @\n");
}

static void resume_crash_after_snapshot_adopted(void **state)
{
    /* the snapshot id is on record: never created again */
    resume_after_crash(*state, 4, 0, SF_ARTIFACT_CREATED,
                       "status @\ndownload @\n");
}

static void resume_from_created(void **state)
{
    resume_after_crash(*state, 5, 1, SF_ARTIFACT_CREATED, "download @\n");
}

static void resume_from_created_download_started(void **state)
{
    resume_after_crash(*state, 6, 1, SF_ARTIFACT_CREATED, "download @\n");
}

static void resume_from_downloaded(void **state)
{
    resume_after_crash(*state, 7, 1, SF_ARTIFACT_DOWNLOADED, "");
}

static void resume_from_checksum_verified(void **state)
{
    resume_after_crash(*state, 9, 1, SF_ARTIFACT_CHECKSUM_VERIFIED, "");
}

static void resume_from_finalize_started(void **state)
{
    resume_after_crash(*state, 10, 1, SF_ARTIFACT_CHECKSUM_VERIFIED, "");
}

static void resume_after_publish(void **state)
{
    /* the artifact is in place, the journal still says finalize started:
     * the rerun accepts it by its checksum, fetches nothing */
    resume_after_crash(*state, 11, 1, SF_ARTIFACT_CHECKSUM_VERIFIED, "");
}

static void resume_from_durable(void **state)
{
    resume_after_crash(*state, 12, 1, SF_ARTIFACT_DURABLE, "");
}

/* Created with a temp directory holding metadata.json: an interrupted
 * transfer is continued with --resume rather than fetched again. */
static void resume_interrupted_transfer(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf want;
    sf_error err;
    char faults[128], meta[1400];
    cid leaf = idc(f, C);

    /* a lost download response leaves the Created entry and a full temp */
    snprintf(faults, sizeof faults, "download:%s:1=lost-response", leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_fails(f, &c, "driver-unknown-outcome", &err);
    snprintf(meta, sizeof meta, "%s/%s.tmp/metadata.json", c.out, leaf.s);
    assert_true(sf_fx_exists(meta));
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    run_ok(f, &c, &r);
    assert_true(r.resumed);
    sf_snapshot_download_result_free(&r);
    /* C was started again when the first run failed (containment), so the
     * rerun only continues the transfer, once the listing shows the temp
     * directory's metadata.json is this snapshot's */
    assert_int_equal(sf_fx_status(f->sim, leaf.s), SF_STATUS_RUNNING);
    sf_buf_init(&want);
    sf_buf_printf(&want, "list %s\ndownload %s resume\n", leaf.s, leaf.s);
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 1);
}

/* Takes a snapshot of a stopped canister behind the engine's back, as an
 * operator would. */
static void foreign_snapshot(sf_fx *f, const char *canister)
{
    sf_driver *d;
    sf_op op;
    sf_result res;
    sf_error err;

    assert_int_equal(sf_sim_driver_new(f->sim, f->state, &d, &err), SF_OK);
    assert_int_equal(sf_op_init(&op, SF_OP_CREATE, canister, NULL, NULL, &err), SF_OK);
    assert_int_equal(sf_driver_run(d, &op, &res, &err), SF_OK);
    assert_int_equal(res.fail, SF_FAIL_NONE);
    sf_result_free(&res);
    sf_driver_destroy(d);
}

/* Killed after the snapshot list was recorded and before the create was
 * sent; meanwhile two snapshots appear that were not there before: the
 * rerun cannot tell which would be ours and refuses rather than guess. */
static void reconcile_with_two_foreign_snapshots_refuses(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    single_run s;
    sf_error err;
    char outp[700];
    cid leaf = idc(f, C);
    int code;

    snprintf(outp, sizeof outp, "%s", sf_fx_path(f, "out"));
    s.out = outp;
    s.canister = leaf.s;
    /* writes: 1 the log's first marker, 2 the stop record, 3 the
     * snapshot list */
    assert_true(sf_fx_crash_run(f, 3, single_fn, &s, &code));
    assert_int_equal(sf_fx_status(f->sim, leaf.s), SF_STATUS_STOPPED);
    assert_int_equal(sf_fx_snapshot_count(f->sim, leaf.s), 0);
    foreign_snapshot(f, leaf.s);
    foreign_snapshot(f, leaf.s);
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, true);
    single_config(&c, f, &s);
    run_fails(f, &c, "snapshot-reconcile-ambiguous", &err);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 0);
    assert_int_equal(sf_fx_snapshot_count(f->sim, leaf.s), 2);
}

/* A lost create response, and the list that would reconcile it fails:
 * the snapshot exists and no journal records it (the one window the
 * invariant cannot close: nothing knows its id yet, only the list taken
 * before the create is on record). The rerun's list finds it and adopts
 * it: recorded, and never a second snapshot. */
static void lost_create_then_failed_list_is_adopted_by_rerun(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf v;
    sf_error err;
    char faults[256];
    cid leaf = idc(f, C);

    snprintf(faults, sizeof faults, "create:%s:1=lost-response,list:%s:2=permanent",
             leaf.s, leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_fails(f, &c, "driver-permanent", &err);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    sf_buf_init(&v);
    assert_int_equal(sf_check_invariants(f->before, f->sim, c.out, false, &v, &err),
                     SF_ERR);
    assert_non_null(strstr(sf_buf_cstr(&v), "was created and not recorded"));
    sf_buf_free(&v);
    sf_buf_reset(&f->log);
    sf_fx_stack(f, NULL, false);
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    assert_int_equal(sf_fx_trace_count(&f->log, "create"), 0);
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 1);
    sf_fx_assert_invariants(f, c.out, false);
}

/* A lost create response whose create in fact failed (the snapshot limit):
 * the list finds nothing new, nothing is adopted, and the run fails with
 * an unknown outcome to be retried. */
static void lost_create_that_failed_is_not_adopted(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;
    char faults[128];
    cid leaf = idc(f, C);

    sf_fx_teardown(f);
    {
        sf_sim_config cfg;
        sf_fx_setup(f, "sdlim");
        sf_fx_config(&cfg, 2, 4);
        cfg.snapshot_limit = 1;
        sf_fx_start(f, &cfg);
    }
    sf_fx_set_status(f, leaf.s, SF_STATUS_STOPPED);
    foreign_snapshot(f, leaf.s);
    sf_fx_set_status(f, leaf.s, SF_STATUS_RUNNING);
    sf_fx_snap_before(f);
    snprintf(faults, sizeof faults, "create:%s:1=lost-response", leaf.s);
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    c.canister = leaf.s;
    c.root = NULL;
    c.recursive = false;
    run_fails(f, &c, "driver-unknown-outcome", &err);
    assert_non_null(strstr(err.message, "no new snapshot exists"));
    assert_int_equal(sf_fx_new_snapshots(f->before, f->sim, leaf.s), 0);
    assert_false(sf_fx_exists(sf_fx_path(f, "out/download-journal.json")));
    sf_fx_assert_all_running(f);
    sf_fx_assert_invariants(f, c.out, false);
}

/* Killed with a canister stopped (before its restart); the rerun is
 * refused on a topology change, and still starts it again. */
static void rerun_refused_on_topology_contains_a_killed_run(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_error err;
    char outp[700];
    int code;

    snprintf(outp, sizeof outp, "%s", sf_fx_path(f, "out"));
    /* the root's 11th write is its W7 (the first is the log's marker):
     * captured, not started again */
    assert_true(sf_fx_crash_run(f, 11, resume_fn, outp, &code));
    assert_int_equal(sf_fx_status(f->sim, id(f, R)), SF_STATUS_STOPPED);
    assert_int_equal(sf_sim_topology_change(f->sim, "add-child", &err), SF_OK);
    sf_fx_save(f);
    sf_fx_stack(f, NULL, true);
    sf_fx_download_config(&c, f, outp);
    run_fails(f, &c, "topology-changed", &err);
    assert_int_equal(sf_fx_status(f->sim, id(f, R)), SF_STATUS_RUNNING);
    sf_fx_assert_invariants(f, outp, false);
}

/* A complete backup run again: nothing is stopped or created, the
 * manifest is written again with the same content. */
static void rerun_of_complete_download_does_nothing(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_buf before, after, want;

    sf_fx_stack(f, NULL, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "out"));
    run_ok(f, &c, &r);
    sf_snapshot_download_result_free(&r);
    sf_buf_init(&before);
    sf_buf_init(&after);
    sf_fx_manifest_canonical(sf_fx_path(f, "out/fleet-backup-manifest.json"), &before);
    sf_fx_snap_before(f);
    sf_buf_reset(&f->log);
    run_ok(f, &c, &r);
    assert_true(r.resumed);
    assert_int_equal(r.artifact_count, 4);
    sf_snapshot_download_result_free(&r);
    sf_buf_init(&want);
    sf_buf_printf(&want, "registry %s\nregistry %s\n", id(f, R), id(f, R));
    sf_fx_assert_ops(&f->log, sf_buf_cstr(&want));
    sf_buf_free(&want);
    sf_fx_manifest_canonical(sf_fx_path(f, "out/fleet-backup-manifest.json"), &after);
    assert_string_equal(sf_buf_cstr(&before), sf_buf_cstr(&after));
    assert_untouched(f);
    sf_buf_free(&before);
    sf_buf_free(&after);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TW(fn) cmocka_unit_test_setup_teardown(fn, setup_workers, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(order_single_target_default_lifecycle),
        T(order_single_target_resume_after_snapshot),
        T(order_subtree_resume),
        T(order_subtree_default_lifecycle_leaves_all_stopped),
        T(order_include_children_is_direct_children_only),
        T(order_verify_transfer_reads_twice),
        T(journal_writes_one_target),
        T(journal_writes_several_targets),
        T(metrics_all_equal_target_count),
        T(dry_run_with_resume),
        T(dry_run_without_resume),
        TW(manifest_subtree_fields),
        T(manifest_single_fields),
        T(manifest_subtree_of_non_root_selection),
        T(include_children_without_root),
        T(recursive_without_root),
        T(dry_run_without_root),
        T(selected_not_in_registry),
        T(locked_directory_refused),
        T(topology_add_child),
        T(topology_remove_child),
        T(topology_reparent),
        T(topology_module_hash),
        T(topology_changed_since_interrupted_run),
        T(backup_id_mismatch_refused),
        T(fault_matrix),
        T(corrupt_once_with_verify_is_retried),
        T(corrupt_always_with_verify_is_transfer_mismatch),
        T(corrupt_without_verify_goes_unnoticed),
        T(lost_create_adopts_the_snapshot),
        T(lost_create_with_existing_snapshots),
        T(lost_stop_and_start_are_observed),
        T(containment_restarts_the_failed_target),
        T(containment_keeps_a_canister_stopped_before),
        T(default_lifecycle_failure_leaves_stopped),
        T(resume_crash_after_stop_record),
        T(resume_crash_after_snapshot_list),
        T(resume_crash_after_snapshot_adopted),
        T(resume_from_created),
        T(resume_from_created_download_started),
        T(resume_from_downloaded),
        T(resume_from_checksum_verified),
        T(resume_from_finalize_started),
        T(resume_after_publish),
        T(resume_from_durable),
        T(resume_interrupted_transfer),
        T(rerun_of_complete_download_does_nothing),
        T(reconcile_with_two_foreign_snapshots_refuses),
        T(lost_create_that_failed_is_not_adopted),
        T(lost_create_then_failed_list_is_adopted_by_rerun),
        T(rerun_refused_on_topology_contains_a_killed_run),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
