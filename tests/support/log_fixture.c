#include "log_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapfleet/fs.h"

void sf_lfx_read_bytes(const char *path, sf_buf *out)
{
    char *data;
    size_t len;
    sf_error err;

    sf_buf_reset(out);
    if (sf_fs_read_file(path, (size_t)1 << 30, &data, &len, &err) != SF_OK)
        fail_msg("%s: %s", path, err.message);
    assert_int_equal(sf_buf_append(out, data, len), SF_OK);
    free(data);
}

void sf_lfx_read_or_none(const char *path, sf_buf *out)
{
    FILE *fp = fopen(path, "rb");

    sf_buf_reset(out);
    if (fp == NULL)
        return;
    fclose(fp);
    sf_lfx_read_bytes(path, out);
}

void sf_lfx_write_bytes(const char *path, const void *data, size_t len)
{
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static int collect(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    sf_lfx_recs *r = payload;

    (void)err;
    if (r->n < SF_LFX_MAX_RECORDS) {
        r->off[r->n] = rec->offset;
        r->seq[r->n] = rec->seq;
        r->tag[r->n] = rec->payload_len ? (char)rec->payload[0] : '?';
        r->n++;
    }
    r->run = rec->run;
    return SF_OK;
}

void sf_lfx_records(const char *log, sf_lfx_recs *r)
{
    sf_error err;

    memset(r, 0, sizeof *r);
    if (sf_txlog_read(sf_fs_storage(), log, NULL, 0, collect, r, NULL,
                      &err) != SF_OK)
        fail_msg("%s", err.message);
    assert_true(r->n > 3);
}

size_t sf_lfx_last_marker(const sf_lfx_recs *r)
{
    size_t i = r->n;

    while (i-- > 0)
        if (r->tag[i] == 'B')
            return i;
    fail_msg("no checkpoint marker");
    return 0;
}

long sf_lfx_append(const char *log, const sf_lfx_recs *r, const void *payload,
                   size_t len)
{
    sf_buf rec, b;
    sf_error err;
    long off;

    sf_buf_init(&rec);
    sf_buf_init(&b);
    assert_int_equal(sf_txlog_encode(&rec, &r->run, r->seq[r->n - 1] + 1,
                                     payload, len, &err), SF_OK);
    sf_lfx_read_bytes(log, &b);
    off = (long)b.len;
    assert_int_equal(sf_buf_append(&b, rec.data, rec.len), SF_OK);
    sf_lfx_write_bytes(log, b.data, b.len);
    sf_buf_free(&rec);
    sf_buf_free(&b);
    return off;
}

void sf_lfx_cut(const char *log, long off)
{
    sf_buf b;

    sf_buf_init(&b);
    sf_lfx_read_bytes(log, &b);
    assert_true(off >= 0 && (size_t)off <= b.len);
    sf_lfx_write_bytes(log, b.data, (size_t)off);
    sf_buf_free(&b);
}

static int reencode(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    sf_txlog_run other;

    memset(&other, 0x5a, sizeof other);
    return sf_txlog_encode(payload, &other, rec->seq, rec->payload,
                           rec->payload_len, err);
}

void sf_lfx_reencode_other_run(const char *log)
{
    sf_buf b;
    sf_error err;

    sf_buf_init(&b);
    assert_int_equal(sf_txlog_read(sf_fs_storage(), log, NULL, 0, reencode,
                                   &b, NULL, &err), SF_OK);
    sf_lfx_write_bytes(log, b.data, b.len);
    sf_buf_free(&b);
}
