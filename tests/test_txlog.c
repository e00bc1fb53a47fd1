/* The transition log: the record format round trip (bytes, the simulated
 * disk and POSIX), a tear at every byte, every flipped bit, wrong
 * sequence, wrong run, a record after a damaged one, recovery on open
 * (torn tail cut, refused logs untouched), durability across crashes and
 * the broken appender after a failed append. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"
#include "snapfleet/txlog.h"

static const sf_txlog_run run_a = {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13,
                                    14, 15, 16}};
static const sf_txlog_run run_b = {{0xaa}};

/* What a visitor collected. */
typedef struct seen {
    int n;
    uint64_t seq[16], offset[16];
    char payload[16][64];
    int stop_at; /* 0 = never */
} seen;

static int collect(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    seen *s = payload;

    if (s->stop_at != 0 && s->n + 1 == s->stop_at)
        return sf_error_set(err, "visitor-stop", "", "stopped at %llu",
                            (unsigned long long)rec->seq);
    assert_true(s->n < 16 && rec->payload_len < 64);
    s->seq[s->n] = rec->seq;
    s->offset[s->n] = rec->offset;
    memcpy(s->payload[s->n], rec->payload, rec->payload_len);
    s->payload[s->n][rec->payload_len] = '\0';
    s->n++;
    return SF_OK;
}

static const char *payloads[] = {"op 1 pending", "", "op 1 completed: x"};

/* Three records of run_a, seq 1..3; *ends receives where each ends. */
static void three_records(sf_buf *b, size_t ends[3])
{
    sf_error err;

    sf_buf_init(b);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sf_txlog_encode(b, &run_a, (uint64_t)i + 1, payloads[i],
                                         strlen(payloads[i]), &err), SF_OK);
        ends[i] = b->len;
    }
}

static sf_simdisk *new_disk(void)
{
    sf_simdisk *d = NULL;
    sf_error err;

    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    return d;
}

static void test_record_layout(void **state)
{
    sf_buf b;
    sf_error err;
    const uint8_t *p;

    (void)state;
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 0x0102030405060708ull, "hi", 2,
                                     &err), SF_OK);
    p = (const uint8_t *)b.data;
    assert_int_equal(b.len, SF_TXLOG_HEADER_SIZE + 2);
    assert_memory_equal(p, "SFTL", 4);
    assert_int_equal(p[4], 2); /* little-endian length */
    assert_int_equal(p[5] | p[6] | p[7], 0);
    assert_int_equal(p[12], 0x08); /* little-endian sequence */
    assert_int_equal(p[19], 0x01);
    assert_memory_equal(p + 20, run_a.bytes, 16);
    assert_memory_equal(p + 36, "hi", 2);
    sf_buf_reset(&b);
    /* payload limit */
    {
        char *big = calloc(1, SF_TXLOG_PAYLOAD_MAX + 1);

        assert_non_null(big);
        assert_int_equal(sf_txlog_encode(&b, &run_a, 1, big,
                                         SF_TXLOG_PAYLOAD_MAX + 1, &err), SF_ERR);
        assert_string_equal(err.kind, SF_EK_USAGE);
        assert_int_equal(b.len, 0);
        assert_int_equal(sf_txlog_encode(&b, &run_a, 1, big,
                                         SF_TXLOG_PAYLOAD_MAX, &err), SF_OK);
        assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len,
                                             "big", &run_a, 1, NULL, NULL, NULL,
                                             &err), SF_OK);
        free(big);
    }
    sf_buf_free(&b);
}

static void test_round_trip_bytes(void **state)
{
    sf_txlog_scan scan;
    seen s = {0};
    size_t ends[3];
    sf_buf b;
    sf_error err;

    (void)state;
    three_records(&b, ends);
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "log",
                                         &run_a, 1, collect, &s, &scan, &err),
                     SF_OK);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(s.seq[i], i + 1);
        assert_int_equal(s.offset[i], i == 0 ? 0 : ends[i - 1]);
        assert_string_equal(s.payload[i], payloads[i]);
    }
    assert_int_equal(scan.records, 3);
    assert_int_equal(scan.first_seq, 1);
    assert_int_equal(scan.last_seq, 3);
    assert_int_equal(scan.valid_end, b.len);
    assert_int_equal(scan.torn_bytes, 0);
    /* run NULL takes the first record's; first_seq 0 takes any */
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "log",
                                         NULL, 0, NULL, NULL, &scan, &err),
                     SF_OK);
    assert_int_equal(scan.records, 3);
    /* an empty log */
    assert_int_equal(sf_txlog_scan_bytes(NULL, 0, "log", &run_a, 1, NULL, NULL,
                                         &scan, &err), SF_OK);
    assert_int_equal(scan.records, 0);
    assert_int_equal(scan.last_seq, 0);
    /* the visitor stops the read with its own error */
    s.n = 0;
    s.stop_at = 2;
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "log",
                                         &run_a, 1, collect, &s, &scan, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "visitor-stop");
    assert_int_equal(s.n, 1);
    sf_buf_free(&b);
}

/* Cut the log at every byte: the complete records before the cut are
 * read, the rest is a torn tail. */
static void test_tear_at_every_byte(void **state)
{
    size_t ends[3];
    sf_buf b;
    sf_error err;

    (void)state;
    three_records(&b, ends);
    for (size_t cut = 0; cut <= b.len; cut++) {
        sf_txlog_scan scan;
        uint64_t whole = 0;

        for (int i = 0; i < 3; i++)
            if (ends[i] <= cut)
                whole = (uint64_t)i + 1;
        assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, cut, "log",
                                             &run_a, 1, NULL, NULL, &scan, &err),
                         SF_OK);
        assert_int_equal(scan.records, whole);
        assert_int_equal(scan.valid_end, whole == 0 ? 0 : ends[whole - 1]);
        assert_int_equal(scan.torn_bytes, cut - scan.valid_end);
    }
    sf_buf_free(&b);
}

/* Flip every bit: in a record followed by another, the log is refused as
 * damaged at that record's offset; in the last record, it is dropped as a
 * torn tail would be. */
static void test_flipped_bits(void **state)
{
    size_t ends[3];
    sf_buf b;
    sf_error err;

    (void)state;
    three_records(&b, ends);
    for (size_t bit = 0; bit < b.len * 8; bit++) {
        uint8_t *copy = malloc(b.len);
        size_t at = bit / 8, rec_start;
        sf_txlog_scan scan;
        int rec = at < ends[0] ? 0 : at < ends[1] ? 1 : 2;
        char want[160];
        int rc;

        assert_non_null(copy);
        memcpy(copy, b.data, b.len);
        copy[at] ^= (uint8_t)(1u << (bit % 8));
        rec_start = rec == 0 ? 0 : ends[rec - 1];
        rc = sf_txlog_scan_bytes(copy, b.len, "dir/txlog", &run_a, 1, NULL, NULL,
                                 &scan, &err);
        if (rec < 2) {
            assert_int_equal(rc, SF_ERR);
            assert_string_equal(err.kind, SF_EK_TXLOG_DAMAGED);
            snprintf(want, sizeof want, "dir/txlog: damaged record at offset "
                     "%zu (a valid record follows at offset %zu)", rec_start,
                     ends[rec]);
            assert_string_equal(err.message, want);
        } else {
            assert_int_equal(rc, SF_OK);
            assert_int_equal(scan.records, 2);
            assert_int_equal(scan.torn_bytes, b.len - ends[1]);
        }
        free(copy);
    }
    sf_buf_free(&b);
}

static void test_wrong_sequence(void **state)
{
    static const uint64_t cases[][3] = {{1, 2, 4}, {1, 2, 2}, {1, 3, 4},
                                        {1, 2, 1}};
    sf_buf b;
    sf_error err;
    size_t second_end = 0;

    (void)state;
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t bad = 0, offs[3];
        char want[128];

        sf_buf_init(&b);
        for (int i = 0; i < 3; i++) {
            offs[i] = b.len;
            assert_int_equal(sf_txlog_encode(&b, &run_a, cases[c][i], "p", 1,
                                             &err), SF_OK);
        }
        second_end = offs[2];
        bad = cases[c][1] != 2 ? 1 : 2;
        assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len,
                                             "x/log", &run_a, 1, NULL, NULL, NULL,
                                             &err), SF_ERR);
        assert_string_equal(err.kind, SF_EK_TXLOG_SEQUENCE);
        snprintf(want, sizeof want, "x/log: record at offset %zu has sequence "
                 "number %llu, expected %llu", offs[bad],
                 (unsigned long long)cases[c][bad],
                 (unsigned long long)cases[c][bad - 1] + 1);
        assert_string_equal(err.message, want);
        sf_buf_free(&b);
    }
    (void)second_end;
    /* the first record against the expected first sequence number */
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 5, "p", 1, &err), SF_OK);
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "x/log",
                                         &run_a, 4, NULL, NULL, NULL, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_SEQUENCE);
    assert_non_null(strstr(err.message, "offset 0"));
    assert_non_null(strstr(err.message, "expected 4"));
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "x/log",
                                         &run_a, 5, NULL, NULL, NULL, &err),
                     SF_OK);
    sf_buf_free(&b);
}

static void test_wrong_run(void **state)
{
    sf_buf b;
    sf_error err;
    size_t second;

    (void)state;
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 1, "a", 1, &err), SF_OK);
    second = b.len;
    assert_int_equal(sf_txlog_encode(&b, &run_b, 2, "b", 1, &err), SF_OK);
    /* against the first record's run */
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "r/log",
                                         NULL, 0, NULL, NULL, NULL, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_RUN);
    {
        char want[200];

        snprintf(want, sizeof want, "r/log: record at offset %zu belongs to run "
                 "aa000000000000000000000000000000, not to run "
                 "0102030405060708090a0b0c0d0e0f10", second);
        assert_string_equal(err.message, want);
    }
    /* against the expected run: the very first record */
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "r/log",
                                         &run_b, 0, NULL, NULL, NULL, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_RUN);
    assert_non_null(strstr(err.message, "offset 0 "));
    sf_buf_free(&b);
}

/* A valid record after damage: junk between two records, or a torn record
 * that something appended after without recovering. */
static void test_record_after_damaged_one(void **state)
{
    sf_buf b, torn;
    sf_error err;
    size_t first, second;
    char want[160];

    (void)state;
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 1, "one", 3, &err), SF_OK);
    first = b.len;
    assert_int_equal(sf_buf_append(&b, "junk!", 5), 0);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 2, "two", 3, &err), SF_OK);
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "d/log",
                                         &run_a, 1, NULL, NULL, NULL, &err),
                     SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_DAMAGED);
    snprintf(want, sizeof want, "d/log: damaged record at offset %zu (a valid "
             "record follows at offset %zu)", first, first + 5);
    assert_string_equal(err.message, want);
    sf_buf_free(&b);

    /* record 2 torn at 10 bytes, then record 3 appended after it */
    sf_buf_init(&b);
    sf_buf_init(&torn);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 1, "one", 3, &err), SF_OK);
    first = b.len;
    assert_int_equal(sf_txlog_encode(&torn, &run_a, 2, "two", 3, &err), SF_OK);
    assert_int_equal(sf_buf_append(&b, torn.data, 10), 0);
    second = b.len;
    assert_int_equal(sf_txlog_encode(&b, &run_a, 3, "three", 5, &err), SF_OK);
    assert_int_equal(sf_txlog_scan_bytes((const uint8_t *)b.data, b.len, "d/log",
                                         &run_a, 1, NULL, NULL, NULL, &err),
                     SF_ERR);
    snprintf(want, sizeof want, "d/log: damaged record at offset %zu (a valid "
             "record follows at offset %zu)", first, second);
    assert_string_equal(err.message, want);
    sf_buf_free(&torn);
    sf_buf_free(&b);
}

/* ---- the appender, on the simulated disk ---- */

static void test_append_open_and_crash(void **state)
{
    sf_simdisk *d = new_disk();
    const sf_storage *st = sf_simdisk_storage(d);
    sf_txlog *log = NULL;
    sf_txlog_scan scan;
    uint64_t seq;
    seen s = {0};
    sf_error err;

    (void)state;
    assert_int_equal(sf_storage_mkdir_p(st, "/run", &err), SF_OK);
    assert_int_equal(sf_txlog_open(&log, st, "/run/txlog", &run_a, 0, NULL, NULL,
                                   &scan, &err), SF_OK);
    assert_int_equal(scan.records, 0);
    assert_int_equal(sf_txlog_next_seq(log), 1);
    /* the new, empty log is durable at once */
    sf_simdisk_crash(d);
    sf_txlog_close(log);
    assert_int_equal(sf_txlog_open(&log, st, "/run/txlog", &run_a, 0, NULL, NULL,
                                   &scan, &err), SF_OK);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sf_txlog_append(log, payloads[i], strlen(payloads[i]),
                                         &seq, &err), SF_OK);
        assert_int_equal(seq, i + 1);
    }
    assert_int_equal(sf_txlog_next_seq(log), 4);
    /* every acknowledged append survives a crash */
    sf_simdisk_crash(d);
    sf_txlog_close(log);
    assert_int_equal(sf_txlog_read(st, "/run/txlog", &run_a, 1, collect, &s,
                                   &scan, &err), SF_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.payload[2], payloads[2]);
    /* reopening continues the sequence, replaying through the visitor */
    s.n = 0;
    assert_int_equal(sf_txlog_open(&log, st, "/run/txlog", &run_a, 1, collect, &s,
                                   &scan, &err), SF_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(sf_txlog_next_seq(log), 4);
    assert_int_equal(sf_txlog_size(log), scan.valid_end);
    assert_int_equal(sf_txlog_append(log, "four", 4, &seq, &err), SF_OK);
    assert_int_equal(seq, 4);
    sf_txlog_close(log);
    /* another run may not append to this log */
    assert_int_equal(sf_txlog_open(&log, st, "/run/txlog", &run_b, 0, NULL, NULL,
                                   NULL, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_RUN);
    assert_null(log);
    /* an absent log reads as empty; a log may start later than 1 */
    assert_int_equal(sf_txlog_read(st, "/run/none", &run_a, 0, NULL, NULL, &scan,
                                   &err), SF_OK);
    assert_int_equal(scan.records, 0);
    assert_int_equal(sf_txlog_open(&log, st, "/run/later", &run_a, 41, NULL, NULL,
                                   NULL, &err), SF_OK);
    assert_int_equal(sf_txlog_append(log, "x", 1, &seq, &err), SF_OK);
    assert_int_equal(seq, 41);
    sf_txlog_close(log);
    sf_txlog_close(NULL);
    sf_simdisk_free(d);
}

/* A crash tears the third append at every byte: opening recovers (the
 * tail is cut and the cut is durable), the sequence goes on from 3. */
static void test_recovery_after_torn_append(void **state)
{
    size_t rec_len = SF_TXLOG_HEADER_SIZE + strlen(payloads[2]);

    (void)state;
    for (size_t keep = 0; keep < rec_len; keep++) {
        sf_simdisk *d = new_disk();
        const sf_storage *st = sf_simdisk_storage(d);
        sf_simdisk_fault nosync = {SF_SIMDISK_SYNC, 1, EIO, 0, false};
        sf_txlog *log = NULL;
        sf_txlog_scan scan;
        uint64_t seq;
        seen s = {0};
        sf_error err;

        assert_int_equal(sf_txlog_open(&log, st, "/txlog", &run_a, 1, NULL, NULL,
                                       NULL, &err), SF_OK);
        assert_int_equal(sf_txlog_append(log, payloads[0], strlen(payloads[0]),
                                         NULL, &err), SF_OK);
        assert_int_equal(sf_txlog_append(log, payloads[1], 0, NULL, &err), SF_OK);
        /* the third is written but its sync fails, then the crash tears it */
        assert_int_equal(sf_simdisk_fault_add(d, &nosync, &err), SF_OK);
        assert_int_equal(sf_txlog_append(log, payloads[2], strlen(payloads[2]),
                                         NULL, &err), SF_ERR);
        assert_int_equal(sf_txlog_append(log, "more", 4, NULL, &err), SF_ERR);
        assert_string_equal(err.kind, SF_EK_TXLOG_BROKEN);
        assert_int_equal(sf_simdisk_crash_tear(d, "/txlog", keep, &err), SF_OK);
        sf_txlog_close(log);
        assert_int_equal(sf_txlog_read(st, "/txlog", &run_a, 1, NULL, NULL, &scan,
                                       &err), SF_OK);
        assert_int_equal(scan.records, 2);
        assert_int_equal(scan.torn_bytes, keep);
        assert_int_equal(sf_txlog_open(&log, st, "/txlog", &run_a, 1, NULL, NULL,
                                       &scan, &err), SF_OK);
        assert_int_equal(scan.torn_bytes, keep);
        assert_int_equal(sf_txlog_next_seq(log), 3);
        /* the cut is durable: a crash right now keeps it */
        sf_simdisk_crash(d);
        sf_txlog_close(log);
        assert_int_equal(sf_txlog_open(&log, st, "/txlog", &run_a, 1, NULL, NULL,
                                       &scan, &err), SF_OK);
        assert_int_equal(scan.torn_bytes, 0);
        assert_int_equal(sf_txlog_append(log, "three", 5, &seq, &err), SF_OK);
        assert_int_equal(seq, 3);
        sf_txlog_close(log);
        assert_int_equal(sf_txlog_read(st, "/txlog", &run_a, 1, collect, &s,
                                       &scan, &err), SF_OK);
        assert_int_equal(s.n, 3);
        assert_string_equal(s.payload[2], "three");
        assert_int_equal(scan.torn_bytes, 0);
        sf_simdisk_free(d);
    }
}

/* A refused log is left exactly as it was. */
static void test_refused_log_untouched(void **state)
{
    sf_simdisk *d = new_disk();
    const sf_storage *st = sf_simdisk_storage(d);
    sf_txlog *log = NULL;
    char *before, *after;
    size_t blen, alen;
    sf_buf b;
    sf_error err;

    (void)state;
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 1, "one", 3, &err), SF_OK);
    assert_int_equal(sf_buf_append(&b, "XX", 2), 0);
    assert_int_equal(sf_txlog_encode(&b, &run_a, 2, "two", 3, &err), SF_OK);
    assert_int_equal(sf_buf_append(&b, "torn", 4), 0);
    assert_int_equal(sf_storage_write_atomic(st, "/log", b.data, b.len, &err),
                     SF_OK);
    assert_int_equal(sf_storage_read_all(st, "/log", 1 << 20, &before, &blen,
                                         &err), SF_OK);
    assert_int_equal(sf_txlog_open(&log, st, "/log", &run_a, 1, NULL, NULL, NULL,
                                   &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_DAMAGED);
    assert_non_null(strstr(err.message, "/log: damaged record at offset"));
    assert_null(log);
    assert_int_equal(sf_storage_read_all(st, "/log", 1 << 20, &after, &alen,
                                         &err), SF_OK);
    assert_int_equal(alen, blen);
    assert_memory_equal(after, before, blen);
    free(before);
    free(after);
    sf_buf_free(&b);
    sf_simdisk_free(d);
}

/* Write faults: a failed append is not acknowledged, breaks the handle,
 * and a reopen carries on after the records that were. */
static void test_failed_append_breaks_handle(void **state)
{
    sf_simdisk *d = new_disk();
    const sf_storage *st = sf_simdisk_storage(d);
    sf_simdisk_fault full = {SF_SIMDISK_WRITE, 2, ENOSPC, 0, false};
    sf_txlog *log = NULL;
    sf_txlog_scan scan;
    uint64_t seq = 0;
    sf_error err;

    (void)state;
    assert_int_equal(sf_txlog_open(&log, st, "/txlog", &run_a, 1, NULL, NULL,
                                   NULL, &err), SF_OK);
    assert_int_equal(sf_simdisk_fault_add(d, &full, &err), SF_OK);
    assert_int_equal(sf_txlog_append(log, "a", 1, &seq, &err), SF_OK);
    assert_int_equal(sf_txlog_append(log, "b", 1, &seq, &err), SF_ERR);
    assert_non_null(strstr(err.message, strerror(ENOSPC)));
    assert_int_equal(seq, 1);
    assert_int_equal(sf_txlog_append(log, "c", 1, &seq, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_TXLOG_BROKEN);
    assert_non_null(strstr(err.message, "/txlog"));
    sf_txlog_close(log);
    assert_int_equal(sf_txlog_open(&log, st, "/txlog", &run_a, 1, NULL, NULL,
                                   &scan, &err), SF_OK);
    assert_int_equal(scan.records, 1);
    assert_int_equal(sf_txlog_append(log, "b", 1, &seq, &err), SF_OK);
    assert_int_equal(seq, 2);
    sf_txlog_close(log);
    /* creating a log needs its directory */
    assert_int_equal(sf_txlog_open(&log, st, "/no/such/txlog", &run_a, 1, NULL,
                                   NULL, NULL, &err), SF_ERR);
    assert_null(log);
    sf_simdisk_free(d);
}

/* The same log through the real file system. */
static void test_posix_round_trip(void **state)
{
    char dir[] = "/tmp/sf-txlog-XXXXXX", path[64], cmd[96];
    const sf_storage *st = sf_storage_posix();
    sf_txlog *log = NULL;
    sf_txlog_scan scan;
    seen s = {0};
    sf_error err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/txlog", dir);
    assert_int_equal(sf_txlog_open(&log, st, path, &run_a, 1, NULL, NULL, NULL,
                                   &err), SF_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sf_txlog_append(log, payloads[i], strlen(payloads[i]),
                                         NULL, &err), SF_OK);
    sf_txlog_close(log);
    /* a torn tail on disk is cut by the next open */
    assert_int_equal(truncate(path, (off_t)(3 * SF_TXLOG_HEADER_SIZE + 20)), 0);
    assert_int_equal(sf_txlog_open(&log, st, path, &run_a, 1, collect, &s, &scan,
                                   &err), SF_OK);
    assert_int_equal(s.n, 2);
    assert_int_equal(scan.torn_bytes, SF_TXLOG_HEADER_SIZE + 20 -
                                          strlen(payloads[0]) -
                                          strlen(payloads[1]));
    sf_txlog_close(log);
    assert_int_equal(sf_txlog_read(st, path, &run_a, 1, NULL, NULL, &scan, &err),
                     SF_OK);
    assert_int_equal(scan.torn_bytes, 0);
    assert_int_equal(scan.records, 2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_layout),
        cmocka_unit_test(test_round_trip_bytes),
        cmocka_unit_test(test_tear_at_every_byte),
        cmocka_unit_test(test_flipped_bits),
        cmocka_unit_test(test_wrong_sequence),
        cmocka_unit_test(test_wrong_run),
        cmocka_unit_test(test_record_after_damaged_one),
        cmocka_unit_test(test_append_open_and_crash),
        cmocka_unit_test(test_recovery_after_torn_append),
        cmocka_unit_test(test_refused_log_untouched),
        cmocka_unit_test(test_failed_append_breaks_handle),
        cmocka_unit_test(test_posix_round_trip),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
