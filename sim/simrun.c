/*
 * `sim run`: one deterministic scenario per seed (snapfleet/simrun.h).
 * Everything random comes from the seed; the virtual clock and the trace
 * of every driver call make the run reproducible to the byte.
 */
#include "snapfleet/simrun.h"

#include "snapfleet/inventory.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapfleet/backup.h"
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/manifest.h"
#include "snapfleet/restore.h"
#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"
#include "snapfleet/wrap.h"

enum { MODE_FLEET, MODE_PER_CANISTER, MODE_SNAPSHOT_DOWNLOAD, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {
    "backup", "backup-per-canister", "snapshot-download",
};

static uint64_t mix(uint64_t seed, uint64_t salt);


typedef struct expected_member {
    char id[SF_PRINCIPAL_TEXT_MAX];
    char digest[SF_SHA256_HEX_SIZE];
    char module_hash[SF_SHA256_HEX_SIZE];
    sf_canister_status status;
    size_t snapshots_before_restore;
    bool from_canister; /* loaded from the snapshot still on it: no upload */
} expected_member;

typedef struct scenario {
    const sf_simrun_config *cfg;
    sf_simrun_result *res;
    sf_sim *sim;
    char dir[4096], state[4200], out[4200], out2[4200];
    int mode;
    sf_fault_plan *plan;
    uint64_t crash_at;
    uint64_t restore_crash_at;
    bool force_upload; /* restore --upload, drawn from the seed */
    unsigned jobs;     /* --jobs of the backup and the restore, 1 to 8, drawn
                        * from the seed */
    sf_buf trace;
    /* the simulated disk (cfg->disk == SF_SIMRUN_DISK_SIM), as the
     * process sees it */
    sf_simdisk *disk;
    struct proc_disk *proc;
    uint64_t tear_at, tear_keep; /* a crash inside the Nth write */
    sf_simdisk_fault disk_fault; /* ops == 0: none */
    char disk_fault_text[64];
    bool crashed;                /* the in-process crash has happened */
} scenario;

static bool on_sim_disk(const scenario *sc)
{
    return sc->cfg->disk == SF_SIMRUN_DISK_SIM;
}

/* The state file stands for the IC across a real process death; in
 * process the fleet simply stays in memory, so nothing is saved. */
static const char *state_path(const scenario *sc)
{
    return on_sim_disk(sc) ? NULL : sc->state;
}

static void topology_cb(const char *kind, void *ctx)
{
    scenario *sc = ctx;
    sf_error err;

    if (sf_sim_halted(sc->sim)) /* the process died: nothing moves */
        return;
    if (sf_sim_topology_change(sc->sim, kind, &err) == SF_OK &&
        state_path(sc) != NULL)
        sf_sim_save(sc->sim, sc->state, &err);
}

/* One run of the scenario's backup through sim -> faults -> retry -> trace. */
static int run_once(scenario *sc, const char *out, bool with_faults,
                    sf_error *err)
{
    sf_driver *base = NULL, *faulty = NULL, *retry = NULL, *trace = NULL, *top;
    sf_clock clock = sf_sim_clock(sc->sim);
    char root[SF_PRINCIPAL_TEXT_MAX];
    int rc = SF_ERR;

    /* a copy: a topology fault reallocates the fleet under the pointer */
    snprintf(root, sizeof root, "%s", sf_sim_root_id(sc->sim));
    if (sf_sim_driver_new(sc->sim, state_path(sc), &base, err) != SF_OK)
        return SF_ERR;
    top = base;
    if (with_faults && sc->plan != NULL) {
        if (sf_fault_driver_new(top, sc->plan, topology_cb, sc, &faulty, err) != SF_OK)
            goto done;
        top = faulty;
    }
    if (sf_retry_driver_new(top, &clock, 5, 100, 5000, &retry, err) != SF_OK)
        goto done;
    if (sf_trace_driver_new(retry, &clock, &sc->trace, &trace, err) != SF_OK)
        goto done;
    top = trace;
    if (sc->mode == MODE_SNAPSHOT_DOWNLOAD) {
        sf_snapshot_download_config c;
        sf_snapshot_download_result r;

        memset(&c, 0, sizeof c);
        c.canister = root;
        c.root = root;
        c.recursive = true;
        c.resume_after_snapshot = true;
        c.out = out;
        c.tool_name = "snapfleet";
        c.tool_version = SF_VERSION;
        c.environment = "local";
        c.verify_transfer = true;
        c.jobs = sc->jobs;
        rc = sf_snapshot_download(&c, top, &clock, &r, err);
        if (rc == SF_OK)
            sf_snapshot_download_result_free(&r);
    } else {
        sf_backup_config c;
        sf_backup_result r;

        memset(&c, 0, sizeof c);
        c.out = out;
        c.fleet = "sim";
        c.network = "local";
        c.root = root;
        c.include_root = true;
        c.schedule = sc->mode == MODE_PER_CANISTER ? SF_BACKUP_PER_CANISTER
                                                   : SF_BACKUP_FLEET;
        c.tool_name = "snapfleet";
        c.tool_version = SF_VERSION;
        c.verify_transfer = true;
        c.jobs = sc->jobs;
        rc = sf_backup_run(&c, top, &clock, &r, err);
        if (rc == SF_OK && !r.complete)
            rc = sf_error_set(err, "incomplete", "", "backup ended incomplete");
        sf_backup_result_free(&r);
    }
done:
    sf_driver_destroy(trace);
    sf_driver_destroy(retry);
    sf_driver_destroy(faulty);
    sf_driver_destroy(base);
    return rc;
}

/* The first run in a child that dies (SIGKILL) after its Nth durable write;
 * the simulator's state file keeps what it did to the fleet. */
static bool topology_kind(const sf_error *e)
{
    return e->kind != NULL && strncmp(e->kind, "topology-", 9) == 0;
}

#define EXIT_TOPOLOGY 3 /* the child's way to say "failed closed on topology" */

/* ---- the process's view of the simulated disk ----
 *
 * The seed's whole tree lives on the simulated disk alone; nothing of it
 * is on the real file system. This thin storage sits between the process
 * and the disk for what a crash needs beyond sf_simdisk_crash: once the
 * process has died every call but close fails (the engine unwinds without
 * touching the disk again, as a killed process would), and a crash can
 * strike inside the Nth write (a torn write). */

struct sf_storage_file {
    sf_storage_file *inner;
    char path[];
};

typedef struct proc_disk {
    sf_storage storage;
    sf_simdisk *disk;
    const sf_storage *inner;
    bool dead;
    uint64_t writes_seen, tear_nth, tear_keep;
    void (*on_crash)(void *ctx);
    void *crash_ctx;
} proc_disk;

static int dead_call(sf_error *err, const char *what, const char *path)
{
    return sf_error_set_errno(err, EIO, "", "%s %s (the process crashed)",
                              what, path);
}

static int p_wrap(proc_disk *pd, const char *path, sf_storage_file *inner,
                  sf_storage_file **out, sf_error *err)
{
    size_t n = strlen(path) + 1;
    sf_storage_file *f = malloc(sizeof *f + n);

    if (f == NULL) {
        sf_storage_close(pd->inner, &inner, NULL);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    f->inner = inner;
    memcpy(f->path, path, n);
    *out = f;
    return SF_OK;
}

static int p_open(void *ctx, const char *path, unsigned flags,
                  sf_storage_file **out, sf_error *err)
{
    proc_disk *pd = ctx;
    sf_storage_file *inner = NULL;

    *out = NULL;
    if (pd->dead)
        return dead_call(err, "cannot open", path);
    if (sf_storage_open(pd->inner, path, flags, &inner, err) != SF_OK)
        return SF_ERR;
    return p_wrap(pd, path, inner, out, err);
}

static int p_open_temp(void *ctx, char *templ, sf_storage_file **out,
                       sf_error *err)
{
    proc_disk *pd = ctx;
    sf_storage_file *inner = NULL;

    *out = NULL;
    if (pd->dead)
        return dead_call(err, "cannot create", templ);
    if (sf_storage_open_temp(pd->inner, templ, &inner, err) != SF_OK)
        return SF_ERR;
    return p_wrap(pd, templ, inner, out, err);
}

static int p_close(void *ctx, sf_storage_file *file, sf_error *err)
{
    proc_disk *pd = ctx;
    int rc = sf_storage_close(pd->inner, &file->inner, err);

    free(file);
    return rc;
}

static int p_read(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                  size_t len, size_t *got, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot read", file->path);
    return sf_storage_read(pd->inner, file->inner, offset, buf, len, got, err);
}

static int p_write(void *ctx, sf_storage_file *file, uint64_t offset,
                   const void *buf, size_t len, sf_error *err)
{
    proc_disk *pd = ctx;
    bool tear;

    if (pd->dead)
        return dead_call(err, "cannot write", file->path);
    pd->writes_seen++;
    tear = pd->tear_nth != 0 && pd->writes_seen == pd->tear_nth && len > 0;
    if (sf_storage_write(pd->inner, file->inner, offset, buf, len, err) !=
        SF_OK)
        return SF_ERR;
    if (tear) {
        /* the process dies inside this write: a prefix of it (never all
         * of it) reaches the disk */
        pd->dead = true;
        if (sf_simdisk_crash_tear(pd->disk, file->path,
                                  (size_t)(pd->tear_keep % len), NULL) != SF_OK)
            sf_simdisk_crash(pd->disk);
        if (pd->on_crash != NULL)
            pd->on_crash(pd->crash_ctx);
        return dead_call(err, "cannot write", file->path);
    }
    return SF_OK;
}

static int p_size(void *ctx, sf_storage_file *file, uint64_t *out,
                  sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot stat", file->path);
    return sf_storage_size(pd->inner, file->inner, out, err);
}

static int p_truncate(void *ctx, sf_storage_file *file, uint64_t len,
                      sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot truncate", file->path);
    return sf_storage_truncate(pd->inner, file->inner, len, err);
}

static int p_sync(void *ctx, sf_storage_file *file, unsigned how,
                  sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot sync", file->path);
    return sf_storage_sync(pd->inner, file->inner, how, err);
}

static int p_kind(void *ctx, const char *path, sf_storage_kind *out,
                  sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot stat", path);
    return sf_storage_kind_of(pd->inner, path, out, err);
}

static int p_mkdir(void *ctx, const char *path, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot create directory", path);
    return sf_storage_mkdir(pd->inner, path, err);
}

static int p_sync_dir(void *ctx, const char *path, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot sync directory", path);
    return sf_storage_sync_dir(pd->inner, path, err);
}

static int p_rename(void *ctx, const char *from, const char *to,
                    sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot rename", from);
    return sf_storage_rename(pd->inner, from, to, err);
}

static int p_remove(void *ctx, const char *path, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot remove", path);
    return sf_storage_remove(pd->inner, path, err);
}

static int p_list(void *ctx, const char *dir, sf_storage_list_fn fn,
                  void *payload, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot read directory", dir);
    return sf_storage_list(pd->inner, dir, fn, payload, err);
}

static int p_lock(void *ctx, const char *path, sf_storage_lock **out,
                  sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot lock", path);
    return sf_storage_lock_acquire(pd->inner, path, out, err);
}

static void p_unlock(void *ctx, sf_storage_lock *lock)
{
    proc_disk *pd = ctx;

    sf_storage_lock_release(pd->inner, &lock);
}

static int p_list_kind(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                       void *payload, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot read directory", dir);
    return sf_storage_list_kind(pd->inner, dir, fn, payload, err);
}

static int p_info(void *ctx, const char *path, sf_storage_info *out,
                  sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot stat", path);
    return sf_storage_info_of(pd->inner, path, out, err);
}

static int p_canonical(void *ctx, const char *path, char **out, sf_error *err)
{
    proc_disk *pd = ctx;

    *out = NULL;
    if (pd->dead)
        return dead_call(err, "cannot resolve", path);
    return sf_storage_canonical(pd->inner, path, out, err);
}

static int p_remove_tree(void *ctx, const char *path, sf_error *err)
{
    proc_disk *pd = ctx;

    if (pd->dead)
        return dead_call(err, "cannot remove", path);
    return sf_storage_remove_tree(pd->inner, path, err);
}

static proc_disk *proc_disk_new(sf_simdisk *disk)
{
    proc_disk *pd = calloc(1, sizeof *pd);

    if (pd == NULL)
        return NULL;
    pd->disk = disk;
    pd->inner = sf_simdisk_storage(disk);
    pd->storage.version = SF_STORAGE_VERSION;
    pd->storage.name = "simdisk-process";
    pd->storage.ctx = pd;
    pd->storage.open = p_open;
    pd->storage.open_temp = p_open_temp;
    pd->storage.close = p_close;
    pd->storage.read = p_read;
    pd->storage.write = p_write;
    pd->storage.size = p_size;
    pd->storage.truncate = p_truncate;
    pd->storage.sync = p_sync;
    pd->storage.kind = p_kind;
    pd->storage.mkdir = p_mkdir;
    pd->storage.sync_dir = p_sync_dir;
    pd->storage.rename = p_rename;
    pd->storage.remove = p_remove;
    pd->storage.list = p_list;
    pd->storage.lock = p_lock;
    pd->storage.unlock = p_unlock;
    /* not concurrent: the disk counts and draws per call */
    pd->storage.list_kind = p_list_kind;
    pd->storage.info = p_info;
    pd->storage.canonical = p_canonical;
    pd->storage.remove_tree = p_remove_tree;
    return pd;
}

/* The process dies (nothing when it already has): the disk keeps what
 * was synced (a last unsynced write may be torn). */
static void proc_disk_crash(proc_disk *pd)
{
    if (pd->dead)
        return;
    pd->dead = true;
    sf_simdisk_crash(pd->disk);
}

static void proc_disk_tear_at(proc_disk *pd, uint64_t nth, uint64_t keep,
                              void (*on_crash)(void *), void *ctx)
{
    pd->tear_nth = nth == 0 ? 0 : pd->writes_seen + nth;
    pd->tear_keep = keep;
    pd->on_crash = on_crash;
    pd->crash_ctx = ctx;
}

/* The process restarts: what the disk kept is what it finds (no write-
 * back: there is nothing behind the disk); faults belonged to the run
 * that crashed. */
static void proc_disk_restart(proc_disk *pd)
{
    sf_simdisk_faults_clear(pd->disk);
    pd->dead = false;
    pd->tear_nth = 0;
}

/* ---- a failing seed's tree, for the operator ---- */

typedef struct export_walk {
    const sf_storage *from;
    const char *src, *dst;
    sf_error *err;
    int rc;
} export_walk;

static int export_tree(const sf_storage *from, const char *src,
                       const char *dst, sf_error *err);

static int export_entry(const char *name, void *payload)
{
    export_walk *w = payload;
    char *s = sf_path_join(w->src, name), *d = sf_path_join(w->dst, name);

    if (s == NULL || d == NULL)
        w->rc = sf_error_set(w->err, SF_EK_NOMEM, "", "out of memory");
    else
        w->rc = export_tree(w->from, s, d, w->err);
    free(s);
    free(d);
    return w->rc != SF_OK;
}

/* Copies the tree at src on `from` to dst on the real file system, as it
 * stands now (unsynced bytes included: what the process saw). */
static int export_tree(const sf_storage *from, const char *src,
                       const char *dst, sf_error *err)
{
    const sf_storage *real = sf_storage_posix();
    sf_storage_kind kind;
    export_walk w = {from, src, dst, err, SF_OK};
    char *data = NULL;
    size_t len = 0;
    int rc;

    if (sf_storage_kind_of(from, src, &kind, err) != SF_OK)
        return SF_ERR;
    if (kind == SF_STORAGE_DIRECTORY) {
        if (sf_storage_mkdir_p(real, dst, err) != SF_OK)
            return SF_ERR;
        if (sf_storage_list(from, src, export_entry, &w, err) != SF_OK &&
            w.rc == SF_OK)
            return SF_ERR;
        return w.rc;
    }
    if (kind != SF_STORAGE_REGULAR)
        return SF_OK;
    if (sf_storage_read_all(from, src, SIZE_MAX / 2, &data, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_storage_write_atomic(real, dst, data, len, err);
    free(data);
    return rc;
}

/* ---- the in-process crash (simulated disk) ---- */

static void crash_now(scenario *sc)
{
    sc->crashed = true;
    proc_disk_crash(sc->proc); /* nothing if the tear did it */
    sf_sim_halt(sc->sim, true);
}

static void on_crash_point(uint64_t n, const char *path, void *ctx)
{
    (void)n;
    (void)path;
    crash_now(ctx);
}

static void on_torn_write(void *ctx)
{
    crash_now(ctx);
}

/* Arms the crash point (the Nth durable write, else a tear inside the Nth
 * write), runs `body`, disarms, and once the engine has unwound (its
 * memory freed, its handles closed) restarts the process on what the disk
 * kept and lets the fleet go on from where it stood. */
enum { BODY_OK = 0, BODY_FAILED = 1 };

static int crash_in_process(scenario *sc, uint64_t at, uint64_t tear_at,
                            bool *crashed,
                            int (*body)(scenario *, void *, sf_error *),
                            void *arg, sf_error *run_err)
{
    int rc;

    sc->crashed = false;
    if (at != 0)
        sf_crash_after_writes_install_fn(at, on_crash_point, sc);
    else
        proc_disk_tear_at(sc->proc, tear_at, sc->tear_keep, on_torn_write,
                          sc);
    rc = body(sc, arg, run_err);
    sf_crash_after_writes_install_fn(0, NULL, NULL);
    proc_disk_tear_at(sc->proc, 0, 0, NULL, NULL);
    *crashed = sc->crashed;
    if (sc->crashed) {
        sc->crashed = false;
        sf_sim_halt(sc->sim, false);
        proc_disk_restart(sc->proc);
        return BODY_OK;
    }
    return rc == SF_OK ? BODY_OK : BODY_FAILED;
}

static int backup_body(scenario *sc, void *arg, sf_error *err)
{
    (void)arg;
    return run_once(sc, sc->out, true, err);
}

static int run_crashing(scenario *sc, bool *crashed, sf_error *err)
{
    pid_t pid;
    int status;

    if (on_sim_disk(sc)) {
        sf_error run_err;
        int r;

        sf_error_clear(&run_err);
        r = crash_in_process(sc, sc->crash_at, sc->tear_at, crashed,
                             backup_body, NULL, &run_err);
        if (r == BODY_OK)
            return SF_OK;
        if (topology_kind(&run_err))
            return sf_error_set(err, "topology-changed", "", "first run "
                                "refused a topology change");
        return sf_error_set(err, "run-failed", "", "first run failed");
    }

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return sf_error_set_errno(err, errno, "", "fork");
    if (pid == 0) {
        sf_error child_err;

        sf_crash_after_writes_install(sc->crash_at);
        if (run_once(sc, sc->out, true, &child_err) == SF_OK)
            _exit(0);
        _exit(topology_kind(&child_err) ? EXIT_TOPOLOGY : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return sf_error_set_errno(err, errno, "", "waitpid");
    *crashed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    sf_sim_free(sc->sim);
    sc->sim = NULL;
    if (sf_sim_load(sc->state, &sc->sim, err) != SF_OK)
        return SF_ERR;
    if (*crashed)
        return SF_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return SF_OK;
    if (WIFEXITED(status) && WEXITSTATUS(status) == EXIT_TOPOLOGY)
        return sf_error_set(err, "topology-changed", "", "first run refused a "
                            "topology change");
    return sf_error_set(err, "run-failed", "", "first run failed");
}

/* A run that fails closed on a topology change must have changed nothing. */
static void check_untouched(const sf_sim *before, const sf_sim *now, sf_buf *v)
{
    size_t i;

    for (i = 0; i < sf_sim_canister_count(before); i++) {
        sf_sim_canister_info b, a;
        size_t idx;

        if (sf_sim_canister_at(before, i, &b, NULL) != SF_OK ||
            sf_sim_canister_find(now, b.canister_id, &idx, NULL) != SF_OK ||
            sf_sim_canister_at(now, idx, &a, NULL) != SF_OK)
            continue;
        if (a.status != b.status || a.snapshot_count != b.snapshot_count)
            sf_buf_printf(v, "%s changed although the topology check failed "
                          "first\n", b.canister_id);
    }
}

/* One restore run of the backup in `out` through the same driver stack. */
static int restore_once(scenario *sc, const char *out, sf_restore_mode mode,
                        bool with_faults, sf_error *err)
{
    sf_driver *base = NULL, *faulty = NULL, *retry = NULL, *trace = NULL, *top;
    sf_clock clock = sf_sim_clock(sc->sim);
    sf_restore_config c;
    sf_restore_result r;
    int rc = SF_ERR;

    if (sf_sim_driver_new(sc->sim, state_path(sc), &base, err) != SF_OK)
        return SF_ERR;
    top = base;
    if (with_faults && sc->plan != NULL) {
        if (sf_fault_driver_new(top, sc->plan, topology_cb, sc, &faulty, err) != SF_OK)
            goto done;
        top = faulty;
    }
    if (sf_retry_driver_new(top, &clock, 5, 100, 5000, &retry, err) != SF_OK ||
        sf_trace_driver_new(retry, &clock, &sc->trace, &trace, err) != SF_OK)
        goto done;
    memset(&c, 0, sizeof c);
    c.backup = out;
    c.mode = mode;
    c.force_upload = sc->force_upload;
    c.jobs = sc->jobs; /* the backup's, drawn from the seed */
    rc = sf_restore_run(&c, trace, &clock, &r, err);
    if (rc == SF_OK && mode == SF_RESTORE_MODE_EXECUTE && !r.complete)
        rc = sf_error_set(err, "incomplete", "", "restore ended incomplete");
    sf_restore_result_free(&r);
done:
    sf_driver_destroy(trace);
    sf_driver_destroy(retry);
    sf_driver_destroy(faulty);
    sf_driver_destroy(base);
    return rc;
}

static int restore_body(scenario *sc, void *arg, sf_error *err)
{
    return restore_once(sc, arg, SF_RESTORE_MODE_EXECUTE, true, err);
}

static int restore_crashing(scenario *sc, const char *out, bool *crashed,
                            sf_error *err)
{
    pid_t pid;
    int status;

    if (on_sim_disk(sc)) {
        sf_error run_err;
        int r;

        sf_error_clear(&run_err);
        r = crash_in_process(sc, sc->restore_crash_at, 0, crashed,
                             restore_body, (void *)out, &run_err);
        if (r == BODY_OK)
            return SF_OK;
        return sf_error_set(err, "run-failed", "", "restore failed");
    }

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return sf_error_set_errno(err, errno, "", "fork");
    if (pid == 0) {
        sf_error child_err;

        sf_crash_after_writes_install(sc->restore_crash_at);
        _exit(restore_once(sc, out, SF_RESTORE_MODE_EXECUTE, true, &child_err) == SF_OK
                  ? 0 : 1);
    }
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return sf_error_set_errno(err, errno, "", "waitpid");
    *crashed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    sf_sim_free(sc->sim);
    sc->sim = NULL;
    if (sf_sim_load(sc->state, &sc->sim, err) != SF_OK)
        return SF_ERR;
    if (*crashed || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        return SF_OK;
    return sf_error_set(err, "run-failed", "", "restore failed");
}

/* What the backup captured, read back from the fleet right after it. */
static int expect_from_backup(scenario *sc, const char *out,
                              expected_member **members, size_t *n, sf_error *err)
{
    sf_manifest m;
    char *path = sf_path_join(out, SF_MANIFEST_FILE_NAME);
    size_t i;
    int rc;

    *members = NULL;
    *n = 0;
    if (path == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    rc = sf_manifest_read_file(path, &m, err);
    free(path);
    if (rc != SF_OK)
        return SF_ERR;
    *members = calloc(m.fleet.member_count ? m.fleet.member_count : 1,
                      sizeof **members);
    if (*members == NULL) {
        sf_manifest_free(&m);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < m.fleet.member_count; i++) {
        expected_member *e = &(*members)[*n];
        sf_sim_canister_info info;
        size_t idx;

        if (sf_sim_canister_find(sc->sim, m.fleet.members[i].canister_id, &idx,
                                 NULL) != SF_OK ||
            sf_sim_canister_at(sc->sim, idx, &info, NULL) != SF_OK)
            continue;
        snprintf(e->id, sizeof e->id, "%s", info.canister_id);
        memcpy(e->digest, info.state_digest, sizeof e->digest);
        memcpy(e->module_hash, info.module_hash, sizeof e->module_hash);
        e->status = info.status;
        (*n)++;
    }
    sf_manifest_free(&m);
    return SF_OK;
}

/* Backup, mutate, restore: every member back to what was captured. */
static void restore_phase(scenario *sc, const char *out, sf_buf *v,
                          sf_error *err_out)
{
    expected_member *exp = NULL;
    sf_error err;
    size_t n = 0, i;
    bool crashed = false;
    int rc, round;

    if (expect_from_backup(sc, out, &exp, &n, &err) != SF_OK) {
        sf_buf_printf(v, "cannot read the backup to restore: %s\n", err.message);
        return;
    }
    for (i = 0; i < n; i++) {
        sf_sim_canister_info info;
        size_t idx;

        if (mix(sc->cfg->seed, 100 + i) % 2 == 0)
            sf_sim_mutate(sc->sim, exp[i].id, &err);
        if (sf_sim_canister_find(sc->sim, exp[i].id, &idx, NULL) == SF_OK &&
            sf_sim_canister_at(sc->sim, idx, &info, NULL) == SF_OK)
            exp[i].snapshots_before_restore = info.snapshot_count;
    }
    if (state_path(sc) != NULL)
        sf_sim_save(sc->sim, sc->state, &err);
    {
        /* a member whose backup recorded its snapshot's taken_at and size
         * is loaded from the canister (it is still there) unless --upload */
        sf_backup_entry be;

        if (sf_backup_entry_read(out, false, &be, &err) == SF_OK) {
            for (i = 0; i < n; i++) {
                size_t k;
                for (k = 0; k < be.snapshot_count; k++)
                    if (strcmp(be.snapshots[k].canister_id, exp[i].id) == 0 &&
                        be.snapshots[k].has_taken_at && be.snapshots[k].has_total_size)
                        exp[i].from_canister = !sc->force_upload;
            }
            sf_backup_entry_free(&be);
        }
    }
    sf_buf_printf(&sc->trace, "-- restore%s\n", sc->force_upload ? " --upload" : "");
    if (sc->restore_crash_at != 0)
        rc = restore_crashing(sc, out, &crashed, &err);
    else
        rc = restore_once(sc, out, SF_RESTORE_MODE_EXECUTE, true, &err);
    /* recover as an operator would: unclaim, retry, execute, until done */
    for (round = 0; round < 8 && (rc != SF_OK || crashed); round++) {
        crashed = false;
        sf_buf_printf(&sc->trace, "-- restore recovery %d\n", round);
        restore_once(sc, out, SF_RESTORE_MODE_UNCLAIM_PENDING, false, &err);
        restore_once(sc, out, SF_RESTORE_MODE_RETRY_FAILED, false, &err);
        rc = restore_once(sc, out, SF_RESTORE_MODE_EXECUTE, false, &err);
    }
    if (rc != SF_OK)
        sf_buf_printf(v, "restore did not complete: %s (%s)\n", err.message,
                      err.kind ? err.kind : "error");
    for (i = 0; i < n && rc == SF_OK; i++) {
        sf_sim_canister_info info;
        size_t idx;

        if (sf_sim_canister_find(sc->sim, exp[i].id, &idx, NULL) != SF_OK ||
            sf_sim_canister_at(sc->sim, idx, &info, NULL) != SF_OK)
            continue;
        if (strcmp(info.state_digest, exp[i].digest) != 0)
            sf_buf_printf(v, "%s: state digest %s after restore, %s backed up\n",
                          exp[i].id, info.state_digest, exp[i].digest);
        if (strcmp(info.module_hash, exp[i].module_hash) != 0)
            sf_buf_printf(v, "%s: module hash differs after restore\n", exp[i].id);
        if (info.status != exp[i].status)
            sf_buf_printf(v, "%s: %s after restore, %s when backed up\n", exp[i].id,
                          sf_canister_status_name(info.status),
                          sf_canister_status_name(exp[i].status));
        if (info.snapshot_count !=
            exp[i].snapshots_before_restore + (exp[i].from_canister ? 0 : 1))
            sf_buf_printf(v, "%s: %zu snapshots uploaded, expected exactly %d\n",
                          exp[i].id, info.snapshot_count - exp[i].snapshots_before_restore,
                          exp[i].from_canister ? 0 : 1);
    }
    free(exp);
    (void)err_out;
}

static uint64_t mix(uint64_t seed, uint64_t salt)
{
    uint64_t s = seed ^ (salt * 0x9E3779B97F4A7C15ull);
    return sf_splitmix64(&s);
}

/* The simulated disk for one seed: its own seed, half the crashes tear
 * the last unsynced write, and in one seed of four a fault in the first
 * run (EIO or ENOSPC on the Nth call of one kind, or a slow call). The
 * seed's directory exists on it alone: nothing is made on the real file
 * system (a failing seed's tree is exported there at the end). */
static int setup_disk(scenario *sc, sf_error *err)
{
    static const struct {
        unsigned ops;
        const char *name;
    } kinds[] = {
        {SF_SIMDISK_WRITE, "write"}, {SF_SIMDISK_SYNC, "sync"},
        {SF_SIMDISK_RENAME, "rename"}, {SF_SIMDISK_OPEN, "open"},
        {SF_SIMDISK_MKDIR, "mkdir"},
    };
    uint64_t seed = sc->cfg->seed;
    sf_simdisk_options opts = SF_SIMDISK_OPTIONS_INIT;

    opts.seed = mix(seed, 20);
    opts.tear_per_mille = 500;
    if (sf_simdisk_new(&sc->disk, &opts, err) != SF_OK)
        return SF_ERR;
    if ((sc->proc = proc_disk_new(sc->disk)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sf_fs_set_storage(&sc->proc->storage);
    if (sf_fs_mkdir_p(sc->dir, err) != SF_OK)
        return SF_ERR;
    if (mix(seed, 24) % 4 == 0) {
        size_t k = (size_t)(mix(seed, 25) % (sizeof kinds / sizeof kinds[0]));
        uint64_t r = mix(seed, 27) % 8;

        sc->disk_fault.ops = kinds[k].ops;
        sc->disk_fault.nth = 1 + mix(seed, 26) % 40;
        sc->disk_fault.errnum = r == 0 ? 0 : r % 2 ? EIO : ENOSPC;
        sc->disk_fault.latency_ns = r == 0 ? 5000000 : 0;
        if (sf_simdisk_fault_add(sc->disk, &sc->disk_fault, err) != SF_OK)
            return SF_ERR;
        snprintf(sc->disk_fault_text, sizeof sc->disk_fault_text, "%s:%llu=%s",
                 kinds[k].name, (unsigned long long)sc->disk_fault.nth,
                 r == 0 ? "slow" : r % 2 ? "eio" : "enospc");
    }
    return SF_OK;
}

static int setup(scenario *sc, sf_error *err)
{
    const sf_simrun_config *cfg = sc->cfg;
    sf_sim_config sim_cfg;
    sf_registry reg;
    const char **ids = NULL;
    size_t i;
    int rc;

    snprintf(sc->dir, sizeof sc->dir, "%s/seed-%llu", cfg->work_dir,
             (unsigned long long)cfg->seed);
    snprintf(sc->state, sizeof sc->state, "%s/fleet.json", sc->dir);
    snprintf(sc->out, sizeof sc->out, "%s/backup", sc->dir);
    snprintf(sc->out2, sizeof sc->out2, "%s/backup-fresh", sc->dir);
    if (!on_sim_disk(sc) && (sf_remove_tree(sc->dir, err) != SF_OK ||
                             sf_fs_mkdir_p(sc->dir, err) != SF_OK))
        return SF_ERR;
    sf_sim_config_default(&sim_cfg);
    sim_cfg.seed = cfg->seed;
    sim_cfg.canister_count = cfg->canisters;
    if (sf_sim_shape(cfg->canisters, cfg->fanout, cfg->depth,
                     &sim_cfg.max_fanout, &sim_cfg.max_depth, err) != SF_OK)
        return SF_ERR;
    sim_cfg.stopped_percent = mix(cfg->seed, 1) % 3 == 0 ? 20 : 0;
    /* small memories: a seed tests the bookkeeping (every step, fault and
     * crash point), not bulk hashing; 1..16 KiB of heap, 0.5..8 KiB of
     * stable memory */
    sim_cfg.heap_min = 1024;
    sim_cfg.heap_max = 16384;
    sim_cfg.stable_min = 512;
    sim_cfg.stable_max = 8192;
    sim_cfg.latency_ms = 5;
    sim_cfg.jitter_ms = 3;
    sim_cfg.bandwidth = 4096;
    /* half the seeds share a link of two to four streams' worth, so
     * transfers in flight together slow each other down */
    if (mix(cfg->seed, 29) % 2 == 0)
        sim_cfg.link_bandwidth = sim_cfg.bandwidth * (2 + mix(cfg->seed, 30) % 3);
    if (sf_sim_init(&sim_cfg, &sc->sim, err) != SF_OK ||
        (state_path(sc) != NULL && sf_sim_save(sc->sim, sc->state, err) != SF_OK))
        return SF_ERR;
    if (on_sim_disk(sc) && setup_disk(sc, err) != SF_OK)
        return SF_ERR;
    sc->mode = (int)(mix(cfg->seed, 2) % MODE_COUNT);
    if (sf_sim_registry(sc->sim, &reg, err) != SF_OK)
        return SF_ERR;
    ids = calloc(reg.count ? reg.count : 1, sizeof *ids);
    if (ids == NULL) {
        sf_registry_free(&reg);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < reg.count; i++)
        ids[i] = reg.entries[i].pid;
    rc = sf_fault_plan_random(cfg->seed, ids, reg.count, &sc->plan, err);
    free(ids);
    sf_registry_free(&reg);
    if (rc != SF_OK)
        return SF_ERR;
    if (cfg->allow_crash && mix(cfg->seed, 3) % 4 == 0)
        sc->crash_at = 1 + mix(cfg->seed, 4) % 80;
    sf_fault_plan_set_crash_after_writes(sc->plan, sc->crash_at);
    if (cfg->allow_crash && mix(cfg->seed, 5) % 4 == 0)
        sc->restore_crash_at = 1 + mix(cfg->seed, 6) % 60;
    sc->force_upload = mix(cfg->seed, 7) % 2 == 0;
    /* several operations in flight: every seed its own number, the same
     * for the same seed whatever runs it */
    sc->jobs = 1 + (unsigned)(mix(cfg->seed, 28) % 8);
    if (on_sim_disk(sc) && cfg->allow_crash && sc->crash_at == 0 &&
        mix(cfg->seed, 21) % 6 == 0) {
        /* a crash inside a write (a temp file never renamed, a torn
         * record), counted in writes through the seam */
        sc->tear_at = 1 + mix(cfg->seed, 22) % 100;
        sc->tear_keep = mix(cfg->seed, 23);
    }
    return SF_OK;
}

void sf_simrun_failure_line(const char *work, const char *text, char *out,
                            size_t n)
{
    size_t wl = work != NULL ? strlen(work) : 0, k = 0;

    while (*text != '\0' && *text != '\n' && k + 1 < n) {
        if (wl > 0 && strncmp(text, work, wl) == 0) {
            k += (size_t)snprintf(out + k, n - k, "<work>");
            if (k >= n) {
                k = n - 1;
                break;
            }
            text += wl;
            continue;
        }
        out[k++] = *text++;
    }
    out[k] = '\0';
}

int sf_simrun_one(const sf_simrun_config *cfg, sf_simrun_result *res,
                  sf_error *err)
{
    scenario sc;
    sf_sim *before = NULL;
    sf_buf v, state;
    sf_error run_err;
    const char *final_out;
    bool crashed = false;
    int rc = SF_ERR, first;

    memset(res, 0, sizeof *res);
    memset(&sc, 0, sizeof sc);
    sc.cfg = cfg;
    sc.res = res;
    sf_buf_init(&sc.trace);
    sf_buf_init(&v);
    sf_buf_init(&state);
    sf_error_clear(&run_err);
    if (setup(&sc, err) != SF_OK)
        goto done;
    snprintf(res->mode, sizeof res->mode, "%s", mode_names[sc.mode]);
    res->jobs = sc.jobs;
    res->link = sf_sim_get_config(sc.sim)->link_bandwidth;
    if (!on_sim_disk(&sc))
        snprintf(res->disk, sizeof res->disk, "posix");
    else if (sc.tear_at != 0)
        snprintf(res->disk, sizeof res->disk, "sim,tear@%llu%s%s",
                 (unsigned long long)sc.tear_at,
                 sc.disk_fault.ops != 0 ? "," : "", sc.disk_fault_text);
    else
        snprintf(res->disk, sizeof res->disk, "sim%s%s",
                 sc.disk_fault.ops != 0 ? "," : "", sc.disk_fault_text);
    {
        sf_buf f;
        sf_buf_init(&f);
        sf_fault_plan_format(sc.plan, &f);
        snprintf(res->faults, sizeof res->faults, "%s", sf_buf_cstr(&f));
        sf_buf_free(&f);
    }
    if (sf_sim_state_json(sc.sim, &state, err) != SF_OK ||
        sf_sim_load_json(state.data, state.len, &before, err) != SF_OK)
        goto done;
    if (sc.crash_at != 0 || sc.tear_at != 0)
        first = run_crashing(&sc, &crashed, &run_err);
    else
        first = run_once(&sc, sc.out, true, &run_err);
    final_out = sc.out;
    if (sc.disk != NULL) /* disk faults belong to the first run */
        sf_simdisk_faults_clear(sc.disk);
    if (first == SF_OK && !crashed) {
        snprintf(res->outcome, sizeof res->outcome, "complete");
    } else {
        bool topology = first != SF_OK && topology_kind(&run_err);

        if (!topology && !on_sim_disk(&sc)) {
            /* in process the fleet simply stayed in memory */
            sf_sim_free(sc.sim);
            sc.sim = NULL;
            if (sf_sim_load(sc.state, &sc.sim, err) != SF_OK)
                goto done;
        }
        if (!topology) {
            sf_buf_printf(&sc.trace, "-- rerun after %s\n",
                          crashed ? "crash" : (run_err.kind ? run_err.kind : "error"));
            if (run_once(&sc, sc.out, false, &run_err) == SF_OK)
                snprintf(res->outcome, sizeof res->outcome, "%s",
                         crashed ? "complete-after-crash" : "complete-after-rerun");
            else if (topology_kind(&run_err))
                topology = true; /* the fleet moved before the crash */
            else
                sf_buf_printf(&v, "rerun did not complete: %s (%s)\n",
                              run_err.message,
                              run_err.kind ? run_err.kind : "error");
        }
        if (topology) {
            /* fails closed: nothing may have moved; a fresh backup completes */
            check_untouched(before, sc.sim, &v);
            sf_sim_free(before);
            before = NULL;
            sf_buf_reset(&state);
            if (sf_sim_state_json(sc.sim, &state, err) != SF_OK ||
                sf_sim_load_json(state.data, state.len, &before, err) != SF_OK)
                goto done;
            final_out = sc.out2;
            sf_buf_puts(&sc.trace, "-- fresh backup after a topology change\n");
            if (run_once(&sc, sc.out2, false, &run_err) != SF_OK)
                sf_buf_printf(&v, "fresh backup after a topology change failed: "
                              "%s\n", run_err.message);
            snprintf(res->outcome, sizeof res->outcome, "topology-refused");
        }
    }
    {
        sf_error inv_err;
        sf_check_invariants(before, sc.sim, final_out, false, &v, &inv_err);
    }
    if (v.len == 0)
        restore_phase(&sc, final_out, &v, err);
    sf_buf_printf(&sc.trace, "-- outcome %s\n", res->outcome);
    if (sf_trace_digest(&sc.trace, res->digest) != SF_OK) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    res->ok = v.len == 0;
    if (!res->ok)
        sf_simrun_failure_line(cfg->work_dir, sf_buf_cstr(&v), res->failure,
                               sizeof res->failure);
    rc = SF_OK;
done:
    if (sc.proc != NULL)
        sf_fs_set_storage(NULL);
    if (rc == SF_OK && res->ok && !cfg->keep) {
        sf_error ignored;

        if (!on_sim_disk(&sc)) /* the simulated disk goes with its memory */
            sf_remove_tree(sc.dir, &ignored);
    } else if (sc.disk != NULL) {
        /* kept for inspection: the seed's tree as the disk holds it now,
         * copied to the real work directory */
        sf_error xerr;

        if (sf_remove_tree(sc.dir, &xerr) != SF_OK ||
            export_tree(sf_simdisk_storage(sc.disk), sc.dir, sc.dir, &xerr) !=
                SF_OK) {
            if (rc == SF_OK)
                rc = sf_error_set(err, xerr.kind, "", "cannot keep the seed's "
                                  "tree in %s: %s", sc.dir, xerr.message);
        }
    }
    free(sc.proc);
    sf_simdisk_free(sc.disk);
    sf_sim_free(before);
    sf_sim_free(sc.sim);
    sf_fault_plan_free(sc.plan);
    sf_buf_free(&sc.trace);
    sf_buf_free(&v);
    sf_buf_free(&state);
    return rc;
}
