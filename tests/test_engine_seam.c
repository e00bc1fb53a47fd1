/* The engine's file work over the storage seam alone: backups made on the
 * real file system are copied onto a simulated disk (snapfleet/simdisk.h)
 * under a path that does not exist on this machine, the disk is installed
 * with sf_fs_set_storage, and the engine's functions must give there what
 * they give on the real copy. A POSIX call left anywhere on those paths
 * would find nothing and tell. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/engine.h"
#include "engine/observations.h"
#include "engine/walk.h"
#include "restore_fixture.h"
#include "sim_fixture.h"
#include "snapfleet/buf.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/inventory.h"
#include "snapfleet/layout.h"
#include "snapfleet/simdisk.h"

#define SIM_ROOT "/nonexistent-sf-test/backups"

typedef struct world {
    sf_fx f;
    char root[1024]; /* the real backups */
    sf_simdisk *disk;
} world;

static const char *bdir(const char *root, const char *name)
{
    static char p[8][1200];
    static int k;

    k = (k + 1) % 8;
    snprintf(p[k], sizeof p[k], "%s/%s", root, name);
    return p[k];
}

static int backup(world *w, const char *name, uint64_t max_steps, bool dry_run)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_backup_config(&c, &w->f, bdir(w->root, name));
    c.max_steps = max_steps;
    c.dry_run = dry_run;
    rc = sf_fx_backup(&w->f, &c, &r, &err);
    sf_backup_result_free(&r);
    sf_clock_sleep_ms(&w->f.clock, 60000); /* distinct run ids */
    return rc;
}

/* ---- the real tree copied onto the simulated disk ---- */

static void put_file(const sf_storage *st, const char *path, const char *data,
                     size_t len)
{
    sf_storage_file *f = NULL;
    sf_error err;

    if (sf_storage_open(st, path, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                        SF_STORAGE_TRUNCATE, &f, &err) != SF_OK ||
        sf_storage_write(st, f, 0, data, len, &err) != SF_OK ||
        sf_storage_sync(st, f, SF_STORAGE_SYNC_FULL, &err) != SF_OK ||
        sf_storage_close(st, &f, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
}

static void mirror(const char *from, const sf_storage *st, const char *to)
{
    sf_walk_dir d;
    sf_error err;
    size_t i;

    sf_fs_set_storage(NULL);
    if (sf_walk_read(from, &d, &err) != SF_OK)
        fail_msg("%s", err.message);
    if (sf_storage_mkdir_p(st, to, &err) != SF_OK)
        fail_msg("%s", err.message);
    for (i = 0; i < d.n; i++) {
        char a[1400], b[1400];

        snprintf(a, sizeof a, "%s/%s", from, d.v[i].name);
        snprintf(b, sizeof b, "%s/%s", to, d.v[i].name);
        if (d.v[i].kind == SF_STORAGE_DIRECTORY) {
            mirror(a, st, b);
        } else if (d.v[i].kind == SF_STORAGE_REGULAR) {
            char *data;
            size_t len;

            if (sf_fs_read_file(a, 1u << 30, &data, &len, &err) != SF_OK)
                fail_msg("%s", err.message);
            put_file(st, b, data, len);
            free(data);
        }
    }
    sf_walk_dir_free(&d);
}

static void use_disk(world *w)
{
    sf_fs_set_storage(sf_simdisk_storage(w->disk));
}

static void use_posix(void)
{
    sf_fs_set_storage(NULL);
}

static int setup(void **state)
{
    world *w = calloc(1, sizeof *w);
    sf_sim_config cfg;
    sf_error err;

    if (w == NULL)
        return -1;
    sf_fx_setup(&w->f, "eseam");
    sf_fx_config(&cfg, 3, 3);
    cfg.snapshot_limit = 10;
    sf_fx_start(&w->f, &cfg);
    sf_fx_stack(&w->f, NULL, false);
    snprintf(w->root, sizeof w->root, "%s/backups", w->f.dir);
    if (backup(w, "a-complete", 0, false) != SF_OK ||
        backup(w, "b-paused", 3, false) != SF_OK ||
        backup(w, "c-dry", 0, true) != SF_OK)
        return -1;
    if (sf_simdisk_new(&w->disk, NULL, &err) != SF_OK)
        return -1;
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    use_posix();
    sf_simdisk_free(w->disk);
    sf_fx_teardown(&w->f);
    free(w);
    return 0;
}

/* Each case starts from a fresh disk holding the real root's copy. */
static int fresh(void **state)
{
    world *w = *state;
    sf_error err;

    use_posix();
    sf_simdisk_free(w->disk);
    if (sf_simdisk_new(&w->disk, NULL, &err) != SF_OK)
        return -1;
    mirror(w->root, sf_simdisk_storage(w->disk), SIM_ROOT);
    return 0;
}

static void scan(const char *root, sf_inventory *inv)
{
    sf_error err;

    if (sf_inventory_scan(root, false, inv, &err) != SF_OK)
        fail_msg("scan %s: %s", root, err.message);
}

static const sf_backup_entry *find(const sf_inventory *inv, const char *name)
{
    size_t i;

    for (i = 0; i < inv->count; i++)
        if (strcmp(inv->entries[i].name, name) == 0)
            return &inv->entries[i];
    fail_msg("%s not in the inventory", name);
    return NULL;
}

/* ---- inventory.c ---- */

static void test_scan_same_as_posix(void **state)
{
    world *w = *state;
    sf_inventory real, sim;
    size_t i;

    use_posix();
    scan(w->root, &real);
    use_disk(w);
    scan(SIM_ROOT, &sim);
    use_posix();
    assert_int_equal(real.count, 3);
    assert_int_equal(sim.count, real.count);
    for (i = 0; i < real.count; i++) {
        const sf_backup_entry *a = &real.entries[i], *b = &sim.entries[i];

        assert_string_equal(b->name, a->name);
        assert_int_equal(b->state, a->state);
        assert_int_equal(b->is_layout, a->is_layout);
        assert_int_equal(b->bytes, a->bytes);
        assert_int_equal(b->members, a->members);
        assert_int_equal(b->snapshot_count, a->snapshot_count);
        assert_string_equal(b->backup_id, a->backup_id);
        assert_null(b->detail);
        assert_true(b->bytes > 0);
    }
    assert_int_equal(find(&sim, "a-complete")->state, SF_BACKUP_COMPLETE);
    assert_int_equal(find(&sim, "b-paused")->state, SF_BACKUP_IN_PROGRESS);
    assert_int_equal(find(&sim, "c-dry")->state, SF_BACKUP_DRY_RUN);
    sf_inventory_free(&real);
    sf_inventory_free(&sim);
}

static void test_lock_held_on_the_disk(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_storage_lock *lock = NULL;
    sf_inventory inv;
    sf_error err;
    char p[1400];

    snprintf(p, sizeof p, "%s/%s", bdir(SIM_ROOT, "a-complete"),
             SF_LOCK_FILE_NAME);
    assert_int_equal(sf_storage_lock_acquire(st, p, &lock, &err), SF_OK);
    use_disk(w);
    scan(SIM_ROOT, &inv);
    assert_int_equal(find(&inv, "a-complete")->state, SF_BACKUP_LOCKED);
    sf_inventory_free(&inv);
    sf_storage_lock_release(st, &lock);
    scan(SIM_ROOT, &inv);
    assert_int_equal(find(&inv, "a-complete")->state, SF_BACKUP_COMPLETE);
    sf_inventory_free(&inv);
    /* the probe created nothing where no lock file was */
    snprintf(p, sizeof p, "%s/%s", bdir(SIM_ROOT, "c-dry"), SF_LOCK_FILE_NAME);
    sf_storage_remove(st, p, NULL);
    scan(SIM_ROOT, &inv);
    assert_false(sf_walk_exists(p));
    sf_inventory_free(&inv);
    use_posix();
}

static void test_stray_name_and_trash(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_inventory inv;
    sf_error err;
    char p[1400];

    snprintf(p, sizeof p, "%s/stray.txt", bdir(SIM_ROOT, "a-complete"));
    put_file(st, p, "x", 1);
    assert_int_equal(sf_storage_mkdir(st, SIM_ROOT "/" SF_TRASH_PREFIX "1",
                                      &err), SF_OK);
    use_disk(w);
    scan(SIM_ROOT, &inv);
    use_posix();
    assert_false(find(&inv, "a-complete")->is_layout);
    assert_string_equal(find(&inv, "a-complete")->detail,
                        "stray.txt: not a backup layout's name");
    assert_int_equal(inv.trash_count, 1);
    assert_string_equal(inv.trash[0], SF_TRASH_PREFIX "1");
    sf_inventory_free(&inv);
}

static void test_root_absent_or_a_file(void **state)
{
    world *w = *state;
    sf_inventory inv;
    sf_error err;

    put_file(sf_simdisk_storage(w->disk), "/nonexistent-sf-test/file", "x", 1);
    use_disk(w);
    scan("/nonexistent-sf-test/none", &inv);
    assert_int_equal(inv.count, 0);
    sf_inventory_free(&inv);
    assert_int_equal(sf_inventory_scan("/nonexistent-sf-test/file", false,
                                       &inv, &err), SF_ERR);
    use_posix();
    assert_string_equal(err.kind, SF_EK_IO);
    assert_string_equal(err.message, "cannot read the backup root "
                        "/nonexistent-sf-test/file: Not a directory");
}

/* A backup root (or backup directory) the user names through a symbolic
 * link is read through it, as opendir read it. */
static void test_root_through_a_link(void **state)
{
    world *w = *state;
    sf_inventory inv;
    char link[1200], blink[1200];

    use_posix();
    snprintf(link, sizeof link, "%s/root-link", w->f.dir);
    snprintf(blink, sizeof blink, "%s/a-link", w->f.dir);
    unlink(link);
    unlink(blink);
    assert_int_equal(symlink(w->root, link), 0);
    assert_int_equal(symlink(bdir(w->root, "a-complete"), blink), 0);
    scan(link, &inv);
    assert_int_equal(inv.count, 3);
    assert_true(find(&inv, "a-complete")->is_layout);
    sf_inventory_free(&inv);
    {
        sf_backup_entry e;
        sf_error err;

        assert_int_equal(sf_backup_entry_read(blink, false, &e, &err), SF_OK);
        assert_true(e.is_layout);
        assert_null(e.detail);
        sf_backup_entry_free(&e);
    }
}

static void test_path_bytes(void **state)
{
    world *w = *state;
    uint64_t real, sim;

    use_posix();
    real = sf_path_bytes(bdir(w->root, "a-complete"));
    use_disk(w);
    sim = sf_path_bytes(bdir(SIM_ROOT, "a-complete"));
    assert_int_equal(sf_path_bytes(bdir(SIM_ROOT, "a-complete/" SF_LOCK_FILE_NAME)),
                     0);
    assert_int_equal(sf_path_bytes(SIM_ROOT "/none"), 0);
    use_posix();
    assert_true(real > 0);
    assert_int_equal(sim, real);
}


/* ---- engine.c ---- */

static void test_transfer_bytes(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    const char *t = "/nonexistent-sf-test/transfer";
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(st, "/nonexistent-sf-test/transfer/"
                                        "chunks/.hidden", &err), SF_OK);
    put_file(st, "/nonexistent-sf-test/transfer/metadata.json", "{}", 2);
    put_file(st, "/nonexistent-sf-test/transfer/.lock", "lock", 4);
    put_file(st, "/nonexistent-sf-test/transfer/wasm_module.bin", "12345", 5);
    put_file(st, "/nonexistent-sf-test/transfer/chunks/metadata.json", "abc", 3);
    put_file(st, "/nonexistent-sf-test/transfer/chunks/a", "1234567", 7);
    put_file(st, "/nonexistent-sf-test/transfer/chunks/.hidden/b", "1", 1);
    use_disk(w);
    /* not metadata.json at the top, nor any dot name */
    assert_int_equal(sf_engine_transfer_bytes(t), 5 + 3 + 7);
    assert_int_equal(sf_engine_transfer_bytes("/nonexistent-sf-test/none"), 0);
    use_posix();
}

static void test_publish(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_storage_kind k;
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(st, "/nonexistent-sf-test/b/x.tmp",
                                        &err), SF_OK);
    put_file(st, "/nonexistent-sf-test/b/x.tmp/f", "1", 1);
    use_disk(w);
    assert_int_equal(sf_engine_publish("/nonexistent-sf-test/b/x.tmp",
                                       "/nonexistent-sf-test/b/x", "unused",
                                       &err), SF_OK);
    assert_int_equal(sf_storage_kind_of(st, "/nonexistent-sf-test/b/x/f", &k,
                                        &err), SF_OK);
    assert_int_equal(k, SF_STORAGE_REGULAR);
    assert_false(sf_walk_exists("/nonexistent-sf-test/b/x.tmp"));
    assert_int_equal(sf_engine_publish("/nonexistent-sf-test/b/y.tmp",
                                       "/nonexistent-sf-test/b/y", "unused",
                                       &err), SF_ERR);
    use_posix();
    assert_string_equal(err.kind, "missing-artifact-entry");
}

static void write_real(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A published artifact survives a crash whole: what icp wrote unsynced is
 * made durable before the rename that publishes it. */
static void test_publish_survives_a_crash(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_storage_file *f = NULL;
    char *text = NULL;
    size_t len = 0;
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(st, "/nonexistent-sf-test/c/a.tmp/sub",
                                        &err), SF_OK);
    /* written as icp writes: never synced */
    assert_int_equal(sf_storage_open(st, "/nonexistent-sf-test/c/a.tmp/sub/blob",
                                     SF_STORAGE_WRITE | SF_STORAGE_CREATE, &f,
                                     &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, "bytes", 5, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
    use_disk(w);
    assert_int_equal(sf_engine_publish("/nonexistent-sf-test/c/a.tmp",
                                       "/nonexistent-sf-test/c/a", "unused",
                                       &err), SF_OK);
    use_posix();
    sf_simdisk_crash(w->disk);
    assert_int_equal(sf_storage_read_all(st, "/nonexistent-sf-test/c/a/sub/blob",
                                         100, &text, &len, &err), SF_OK);
    assert_int_equal(len, 5);
    assert_memory_equal(text, "bytes", 5);
    free(text);
}

/* A crash after staging (the simulated disk under the real directory):
 * the staged copy survives whole, so a resumed upload can still verify
 * it. Unsynced, its files would come back empty. */
static void test_staged_copy_survives_a_crash(void **state)
{
    world *w = *state;
    sf_simdisk_overlay *ov;
    char src[1200], dst[1200], p[1300], sum[SF_SHA256_HEX_SIZE],
        after[SF_SHA256_HEX_SIZE];
    sf_error err;

    snprintf(src, sizeof src, "%s/art", w->f.dir);
    snprintf(dst, sizeof dst, "%s/staged", w->f.dir);
    assert_int_equal(sf_fs_mkdir_p(src, &err), SF_OK);
    snprintf(p, sizeof p, "%s/sub", src);
    assert_int_equal(sf_fs_mkdir_p(p, &err), SF_OK);
    snprintf(p, sizeof p, "%s/metadata.json", src);
    write_real(p, "{\"x\": 1}");
    snprintf(p, sizeof p, "%s/sub/chunk", src);
    write_real(p, "0123456789");
    assert_int_equal(sf_checksum_dir(src, sum, &err), SF_OK);

    assert_int_equal(sf_simdisk_overlay_new(w->disk, sf_storage_posix(), &ov,
                                            &err), SF_OK);
    sf_fs_set_storage(sf_simdisk_overlay_storage(ov));
    assert_int_equal(sf_stage_artifact(src, dst, sum, &err), SF_OK);
    sf_simdisk_overlay_crash(ov);
    assert_int_equal(sf_simdisk_overlay_recover(ov, &err), SF_OK);
    use_posix();
    sf_simdisk_overlay_free(ov);
    assert_int_equal(sf_checksum_dir(dst, after, &err), SF_OK);
    assert_string_equal(after, sum);
}

/* ---- the staging copy's failures, each as the copy always told it ---- */

#define SRC "/nonexistent-sf-test/s/src"
#define DST "/nonexistent-sf-test/s/dst"

static void stage_tree(world *w)
{
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(st, SRC "/sub", &err), SF_OK);
    put_file(st, SRC "/a", "hello", 5);
    put_file(st, SRC "/sub/b", "world", 5);
}

/* Stages SRC with the nth call of ops failing with errnum; the error. */
static sf_error stage_failing(world *w, unsigned ops, uint64_t nth, int errnum)
{
    sf_simdisk_fault f = {ops, nth, errnum, 0, false};
    sf_error err;

    stage_tree(w);
    use_disk(w);
    assert_int_equal(sf_simdisk_fault_add(w->disk, &f, &err), SF_OK);
    assert_int_equal(sf_stage_artifact(SRC, DST, "unused", &err), SF_ERR);
    sf_simdisk_faults_clear(w->disk);
    use_posix();
    return err;
}

static void test_stage_failures(void **state)
{
    static const struct {
        unsigned ops;
        uint64_t nth;
        int errnum;
        const char *message;
    } cases[] = {
        {SF_SIMDISK_LIST, 1, EIO, "staging " SRC ": cannot read directory: "
                                  "Input/output error"},
        {SF_SIMDISK_OPEN, 1, EIO, "staging " SRC ": cannot open a: "
                                  "Input/output error"},
        {SF_SIMDISK_OPEN, 2, ENOSPC, "staging " SRC ": cannot create a: No "
                                     "space left on device"},
        {SF_SIMDISK_READ, 1, EIO, "staging " SRC ": cannot read a: "
                                  "Input/output error"},
        {SF_SIMDISK_WRITE, 1, ENOSPC, "staging " SRC ": cannot write a: No "
                                      "space left on device"},
        /* mkdir -p of DST makes its three, then sub */
        {SF_SIMDISK_MKDIR, 4, EIO, "staging " SRC ": cannot create sub: "
                                   "Input/output error"},
        {SF_SIMDISK_SYNC, 3, EIO, "staging " SRC ": cannot sync directory "
                                  DST "/sub: Input/output error"},
    };
    world *w = *state;
    size_t i;

    for (i = 0; i < sizeof cases / sizeof *cases; i++) {
        sf_error err;

        fresh(state);
        err = stage_failing(w, cases[i].ops, cases[i].nth, cases[i].errnum);
        assert_string_equal(err.kind, SF_EK_IO);
        assert_string_equal(err.message, cases[i].message);
    }
    /* the file's own sync: the storage's words for it */
    fresh(state);
    {
        sf_error err = stage_failing(w, SF_SIMDISK_SYNC, 1, EIO);

        assert_string_equal(err.kind, SF_EK_IO);
        assert_true(strncmp(err.message, "staging " SRC ": cannot write",
                            strlen("staging " SRC ": cannot write")) == 0);
        assert_non_null(strstr(err.message, "Input/output error"));
    }
}

static void test_stage_source_not_a_directory(void **state)
{
    world *w = *state;
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(sf_simdisk_storage(w->disk),
                                        "/nonexistent-sf-test/s", &err), SF_OK);
    put_file(sf_simdisk_storage(w->disk), "/nonexistent-sf-test/s/file", "x",
             1);
    use_disk(w);
    assert_int_equal(sf_stage_artifact("/nonexistent-sf-test/s/none", DST,
                                       "unused", &err), SF_ERR);
    assert_string_equal(err.message, "cannot open artifact "
                        "/nonexistent-sf-test/s/none: No such file or "
                        "directory");
    assert_int_equal(sf_stage_artifact("/nonexistent-sf-test/s/file", DST,
                                       "unused", &err), SF_ERR);
    use_posix();
    assert_string_equal(err.message, "cannot open artifact "
                        "/nonexistent-sf-test/s/file: Not a directory");
}

/* A link or a FIFO in an artifact (the real file system: the simulated
 * disk has neither) is refused by its kind, the FIFO never opened. */
static void test_stage_refuses_links_and_fifos(void **state)
{
    world *w = *state;
    char src[1200], dst[1200], p[1300];
    sf_error err;

    use_posix();
    snprintf(src, sizeof src, "%s/odd", w->f.dir);
    snprintf(dst, sizeof dst, "%s/odd-staged", w->f.dir);
    assert_int_equal(sf_fs_mkdir_p(src, &err), SF_OK);
    snprintf(p, sizeof p, "%s/link", src);
    unlink(p);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    assert_int_equal(sf_stage_artifact(src, dst, "unused", &err), SF_ERR);
    assert_string_equal(err.kind, "symlink-refused");
    assert_non_null(strstr(err.message, "artifact holds link, which is not a "
                           "regular file or directory"));
    unlink(p);
    snprintf(p, sizeof p, "%s/fifo", src);
    assert_int_equal(mkfifo(p, 0600), 0);
    assert_int_equal(sf_stage_artifact(src, dst, "unused", &err), SF_ERR);
    assert_string_equal(err.kind, "unsupported-file-type");
    unlink(p);
}

/* A sync that fails leaves the artifact unpublished: no rename. */
static void test_publish_sync_fails(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    sf_simdisk_fault f = {SF_SIMDISK_SYNC, 1, EIO, 0, false};
    sf_error err;

    assert_int_equal(sf_storage_mkdir_p(st, "/nonexistent-sf-test/d/a.tmp",
                                        &err), SF_OK);
    put_file(st, "/nonexistent-sf-test/d/a.tmp/blob", "x", 1);
    assert_int_equal(sf_simdisk_fault_add(w->disk, &f, &err), SF_OK);
    use_disk(w);
    assert_int_equal(sf_engine_publish("/nonexistent-sf-test/d/a.tmp",
                                       "/nonexistent-sf-test/d/a", "unused",
                                       &err), SF_ERR);
    assert_non_null(strstr(err.message, "Input/output error"));
    assert_false(sf_walk_exists("/nonexistent-sf-test/d/a"));
    assert_true(sf_walk_exists("/nonexistent-sf-test/d/a.tmp/blob"));
    use_posix();
    sf_simdisk_faults_clear(w->disk);
}

/* ---- observations.c ---- */

static void test_observations_absent_and_present(void **state)
{
    world *w = *state;
    sf_observations o;
    sf_error err;

    use_disk(w);
    assert_int_equal(sf_obs_read_file("/nonexistent-sf-test/obs.json", &o,
                                      &err), SF_OK);
    assert_int_equal(o.count, 0);
    sf_obs_free(&o);
    put_file(sf_simdisk_storage(w->disk), "/nonexistent-sf-test/obs.json",
             "{", 1);
    assert_int_equal(sf_obs_read_file("/nonexistent-sf-test/obs.json", &o,
                                      &err), SF_ERR);
    use_posix();
    assert_non_null(strstr(err.message, "/nonexistent-sf-test/obs.json: "));
}

/* ---- walk.c's edges ---- */

static void test_walk_edges(void **state)
{
    world *w = *state;
    const sf_storage *st = sf_simdisk_storage(w->disk);
    char deep[512] = "/nonexistent-sf-test/deep", link[1200], file[1200];
    sf_inventory inv;
    uint64_t n = 7;
    sf_error err;
    int i;

    /* a file's size: only a regular file has one */
    assert_int_equal(sf_storage_mkdir_p(st, "/nonexistent-sf-test/w", &err),
                     SF_OK);
    put_file(st, "/nonexistent-sf-test/w/f", "123", 3);
    use_disk(w);
    assert_int_equal(sf_walk_file_size("/nonexistent-sf-test/w/f", &n, &err),
                     SF_OK);
    assert_int_equal(n, 3);
    assert_int_equal(sf_walk_file_size("/nonexistent-sf-test/w", &n, &err),
                     SF_ERR);
    assert_string_equal(err.message, "/nonexistent-sf-test/w: not a regular "
                        "file");
    assert_int_equal(n, 0);
    /* a plain file's bytes are its size */
    assert_int_equal(sf_walk_bytes("/nonexistent-sf-test/w/f", 0, NULL, &n,
                                   &err), SF_OK);
    assert_int_equal(n, 3);
    use_posix();
    /* directories below the depth bound are not entered */
    for (i = 0; i < 10; i++)
        strcat(deep, "/d");
    assert_int_equal(sf_storage_mkdir_p(st, deep, &err), SF_OK);
    strcat(deep, "/f");
    put_file(st, deep, "12345", 5);
    put_file(st, "/nonexistent-sf-test/deep/top", "1", 1);
    use_disk(w);
    assert_int_equal(sf_engine_transfer_bytes("/nonexistent-sf-test/deep"), 1);
    assert_int_equal(sf_walk_bytes("/nonexistent-sf-test/deep", 32, NULL, &n,
                                   &err), SF_OK);
    assert_int_equal(n, 6);
    use_posix();
    sf_walk_dir_free(NULL);

    /* a root named through a link to a file: the link's name in the error */
    snprintf(file, sizeof file, "%s/plain", w->f.dir);
    snprintf(link, sizeof link, "%s/plain-link", w->f.dir);
    put_file(sf_storage_posix(), file, "x", 1);
    unlink(link);
    assert_int_equal(symlink(file, link), 0);
    assert_int_equal(sf_inventory_scan(link, false, &inv, &err), SF_ERR);
    assert_non_null(strstr(err.message, "cannot read the backup root "));
    assert_non_null(strstr(err.message, link));
    assert_non_null(strstr(err.message, ": Not a directory"));
}

/* ---- whole runs on the simulated disk alone ---- */

#define FULL "/nonexistent-sf-test/full"

static int backup_at(world *w, const char *out)
{
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    int rc;

    sf_fx_backup_config(&c, &w->f, out);
    rc = sf_fx_backup(&w->f, &c, &r, &err);
    if (rc != SF_OK)
        print_error("backup %s: %s\n", out, err.message);
    sf_backup_result_free(&r);
    sf_clock_sleep_ms(&w->f.clock, 60000); /* distinct run ids */
    return rc;
}

/* A crash right after a download returned: the journal would next say
 * "downloaded", so the files must already be on the disk. */
static void test_download_survives_a_crash(void **state)
{
    world *w = *state;
    const char *id = sf_fx_id(w->f.sim, 1);
    const char *art = "/nonexistent-sf-test/dl/art.tmp";
    char before[SF_SHA256_HEX_SIZE], after[SF_SHA256_HEX_SIZE];
    sf_snapshot_info snap;
    sf_engine e;
    sf_error err;

    use_disk(w);
    assert_int_equal(sf_fs_mkdir_p("/nonexistent-sf-test/dl", &err), SF_OK);
    assert_int_equal(sf_engine_open(&e, w->f.top, &w->f.clock,
                                    "/nonexistent-sf-test/dl", NULL, &err),
                     SF_OK);
    assert_int_equal(sf_engine_stop(&e, id, &err), SF_OK);
    assert_int_equal(sf_engine_create(&e, id, &snap, &err), SF_OK);
    assert_int_equal(sf_engine_start(&e, id, &err), SF_OK);
    assert_int_equal(sf_engine_download(&e, id, snap.id, art, false, &err),
                     SF_OK);
    sf_engine_close(&e);
    assert_int_equal(sf_checksum_dir(art, before, &err), SF_OK);
    sf_simdisk_crash(w->disk);
    assert_int_equal(sf_checksum_dir(art, after, &err), SF_OK);
    use_posix();
    assert_string_equal(after, before);
    assert_true(sf_engine_transfer_bytes(art) == 0); /* nothing real */
}

/* Two backups of the simulated fleet, backup list with verification,
 * inspect and a prune: every file of them on the simulated disk, under a
 * path this machine does not have. */
static void test_backups_on_the_disk_alone(void **state)
{
    world *w = *state;
    sf_inventory inv;
    sf_prune_result pr;
    sf_buf out = {0};
    sf_error err;

    use_disk(w);
    assert_int_equal(backup_at(w, FULL "/b1"), SF_OK);
    assert_int_equal(backup_at(w, FULL "/b2"), SF_OK);
    assert_int_equal(sf_inventory_scan(FULL, true, &inv, &err), SF_OK);
    assert_int_equal(inv.count, 2);
    assert_int_equal(find(&inv, "b1")->state, SF_BACKUP_VERIFIED);
    assert_int_equal(find(&inv, "b2")->state, SF_BACKUP_VERIFIED);
    assert_true(find(&inv, "b1")->is_layout);
    assert_true(find(&inv, "b1")->bytes > 0);
    sf_inventory_free(&inv);
    assert_int_equal(sf_backup_inspect_json(FULL "/b1", &out, &err), SF_OK);
    assert_non_null(strstr(out.data, "\"complete\""));
    sf_buf_free(&out);
    /* a restore of b1 through uploads: the staging copies too */
    {
        sf_restore_config c;

        sf_rfx_mutate(&w->f, sf_fx_id(w->f.sim, 0));
        sf_rfx_config(&c, FULL "/b1", SF_RESTORE_MODE_EXECUTE);
        c.force_upload = true;
        assert_true(sf_rfx_run_complete(&w->f, &c) > 0);
        assert_true(sf_walk_exists(FULL "/b1/" SF_RESTORE_DIR_NAME));
    }
    assert_int_equal(sf_prune(FULL, 1, false, &pr, &err), SF_OK);
    assert_int_equal(pr.deleted, 1);
    sf_prune_result_free(&pr);
    assert_false(sf_walk_exists(FULL "/b1"));
    assert_true(sf_walk_exists(FULL "/b2"));
    use_posix();
    assert_false(sf_walk_exists("/nonexistent-sf-test"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_scan_same_as_posix, fresh),
        cmocka_unit_test_setup(test_lock_held_on_the_disk, fresh),
        cmocka_unit_test_setup(test_stray_name_and_trash, fresh),
        cmocka_unit_test_setup(test_root_absent_or_a_file, fresh),
        cmocka_unit_test_setup(test_root_through_a_link, fresh),
        cmocka_unit_test_setup(test_path_bytes, fresh),
        cmocka_unit_test_setup(test_transfer_bytes, fresh),
        cmocka_unit_test_setup(test_publish, fresh),
        cmocka_unit_test_setup(test_publish_survives_a_crash, fresh),
        cmocka_unit_test_setup(test_staged_copy_survives_a_crash, fresh),
        cmocka_unit_test_setup(test_stage_failures, fresh),
        cmocka_unit_test_setup(test_stage_source_not_a_directory, fresh),
        cmocka_unit_test_setup(test_stage_refuses_links_and_fifos, fresh),
        cmocka_unit_test_setup(test_publish_sync_fails, fresh),
        cmocka_unit_test_setup(test_observations_absent_and_present, fresh),
        cmocka_unit_test_setup(test_walk_edges, fresh),
        cmocka_unit_test_setup(test_download_survives_a_crash, fresh),
        cmocka_unit_test_setup(test_backups_on_the_disk_alone, fresh),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
