/* Downloads checked against what the IC says: metadata.json sizes, the
 * module's SHA-256 against the module hash the canister reported when it
 * was stopped, every listed chunk present. The simulator's corrupt fault,
 * aimed at the module (the largest file of this fleet's snapshots), is
 * caught without --verify-transfer; `backup verify` makes the same
 * checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim_fixture.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/snapshot_meta.h"

/* Modules far larger than the memories: the corrupt fault flips a byte of
 * the largest file, so here it always hits wasm_module.bin. */
static int setup(void **state)
{
    sf_fx *f = calloc(1, sizeof *f);
    sf_sim_config cfg;

    if (f == NULL)
        return -1;
    sf_fx_setup(f, "dlc");
    sf_fx_config(&cfg, 2, 3);
    cfg.module_min = 20000;
    cfg.module_max = 30000;
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

static void test_module_corruption_is_downloaded_again(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char faults[128];

    snprintf(faults, sizeof faults, "download:%s:1=corrupt", sf_fx_id(f->sim, 1));
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    assert_false(c.verify_transfer);
    if (sf_fx_backup(f, &c, &r, &err) != SF_OK)
        fail_msg("backup: %s", err.message);
    assert_true(r.complete);
    sf_backup_result_free(&r);
    /* the artifact holds the canister's memory: the bad copy was refused */
    sf_fx_assert_invariants(f, c.out, false);
    assert_int_equal(sf_fx_assert_verifies(c.out), 3);
    assert_int_equal(sf_fx_trace_count(&f->log, "download"), 4);
}

static void test_module_always_corrupt_is_a_clear_failure(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_error err;
    char faults[128], id[SF_PRINCIPAL_TEXT_MAX];

    snprintf(id, sizeof id, "%s", sf_fx_id(f->sim, 1));
    snprintf(faults, sizeof faults, "download:%s=corrupt", id);
    sf_fx_stack(f, faults, false);
    sf_fx_backup_config(&c, f, sf_fx_path(f, "out"));
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_ERR);
    sf_backup_result_free(&r);
    assert_string_equal(err.kind, "snapshot-content-mismatch");
    assert_string_equal(err.field, "wasm_module.bin");
    assert_non_null(strstr(err.message, id));
    assert_non_null(strstr(err.message, "after 3 downloads"));
    assert_non_null(strstr(err.message, "the canister reported module hash"));
    /* contained: nothing left stopped */
    sf_fx_assert_invariants(f, c.out, false);
}

/* The snapshot pipeline makes the same check. */
static void test_snapshot_download_checks_too(void **state)
{
    sf_fx *f = *state;
    sf_snapshot_download_config c;
    sf_snapshot_download_result r;
    sf_error err;
    char faults[128];

    snprintf(faults, sizeof faults, "download:%s=corrupt", sf_fx_id(f->sim, 2));
    sf_fx_stack(f, faults, false);
    sf_fx_download_config(&c, f, sf_fx_path(f, "snap"));
    assert_int_equal(sf_fx_download(f, &c, &r, &err), SF_ERR);
    assert_string_equal(err.kind, "snapshot-content-mismatch");
}

/* Rewrites every occurrence of `from` in the file at path with `to`. */
static void replace_in(const char *path, const char *from, const char *to)
{
    char *text, *at, *p;
    size_t len;
    sf_error err;
    sf_buf b;

    assert_int_equal(sf_fs_read_file(path, 1 << 24, &text, &len, &err), SF_OK);
    sf_buf_init(&b);
    for (p = text; (at = strstr(p, from)) != NULL; p = at + strlen(from)) {
        sf_buf_append(&b, p, (size_t)(at - p));
        sf_buf_puts(&b, to);
    }
    sf_buf_puts(&b, p);
    assert_int_equal(sf_fs_write_atomic(path, b.data, b.len, &err), SF_OK);
    sf_buf_free(&b);
    free(text);
}

/* An artifact whose bytes disagree with its own metadata.json is refused
 * by `backup verify` even when the recorded checksums were made to match
 * (a backup directory is untrusted input). */
static void test_verify_checks_metadata(void **state)
{
    sf_fx *f = *state;
    sf_backup_config c;
    sf_backup_result r;
    sf_integrity_report rep;
    sf_error err;
    char art[1400], heap[1500], old[SF_SHA256_HEX_SIZE], now[SF_SHA256_HEX_SIZE];
    const char *out = sf_fx_path(f, "out");

    sf_fx_stack(f, NULL, false);
    sf_fx_backup_config(&c, f, out);
    assert_int_equal(sf_fx_backup(f, &c, &r, &err), SF_OK);
    sf_backup_result_free(&r);
    snprintf(art, sizeof art, "%s/%s", out, sf_fx_id(f->sim, 0));
    snprintf(heap, sizeof heap, "%s/wasm_memory.bin", art);
    assert_int_equal(sf_checksum_path(art, old, &err), SF_OK);
    assert_int_equal(sf_fs_write_atomic(heap, "short", 5, &err), SF_OK);
    assert_int_equal(sf_checksum_path(art, now, &err), SF_OK);
    snprintf(heap, sizeof heap, "%s/fleet-backup-manifest.json", out);
    replace_in(heap, old, now);
    snprintf(heap, sizeof heap, "%s/download-journal.json", out);
    replace_in(heap, old, now);
    assert_int_equal(sf_verify_integrity(out, &rep, &err), SF_ERR);
    assert_string_equal(err.kind, "snapshot-content-mismatch");
    assert_non_null(strstr(err.message, "wasm_memory.bin"));
    assert_non_null(strstr(err.message, "holds 5 bytes"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_module_corruption_is_downloaded_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_module_always_corrupt_is_a_clear_failure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_download_checks_too, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify_checks_metadata, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
