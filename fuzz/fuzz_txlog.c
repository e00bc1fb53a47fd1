/*
 * Fuzz target for the transition log reader: any bytes either are refused
 * with one of the log's error kinds or read as a valid prefix plus a torn
 * tail. For an accepted log the records re-encode to exactly the valid
 * prefix, the prefix alone reads the same with nothing torn, and reading
 * again against the first record's run and sequence number gives the same
 * answer. Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/txlog.h"

typedef struct acc {
    sf_buf again;
    sf_txlog_run run;
    uint64_t n;
} acc;

static int reencode(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    acc *a = payload;

    if (a->n == 0)
        a->run = rec->run;
    if (rec->offset != a->again.len)
        abort();
    a->n++;
    return sf_txlog_encode(&a->again, &rec->run, rec->seq, rec->payload,
                           rec->payload_len, err);
}

static int known_kind(const char *kind)
{
    return strcmp(kind, SF_EK_TXLOG_DAMAGED) == 0 ||
           strcmp(kind, SF_EK_TXLOG_SEQUENCE) == 0 ||
           strcmp(kind, SF_EK_TXLOG_RUN) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_txlog_scan scan, prefix, again;
    sf_error err;
    acc a;

    sf_buf_init(&a.again);
    a.n = 0;
    if (sf_txlog_scan_bytes(data, size, "fuzz", NULL, 0, reencode, &a, &scan,
                            &err) != SF_OK) {
        if (!known_kind(err.kind))
            abort();
        sf_buf_free(&a.again);
        return 0;
    }
    if (scan.valid_end + scan.torn_bytes != size || scan.records != a.n ||
        a.again.len != scan.valid_end ||
        (scan.valid_end > 0 && memcmp(a.again.data, data, scan.valid_end) != 0))
        abort();
    if (scan.records > 0 && scan.last_seq - scan.first_seq + 1 != scan.records)
        abort();
    if (sf_txlog_scan_bytes(data, (size_t)scan.valid_end, "fuzz", NULL, 0, NULL,
                            NULL, &prefix, &err) != SF_OK ||
        prefix.records != scan.records || prefix.torn_bytes != 0)
        abort();
    if (scan.records > 0 &&
        (sf_txlog_scan_bytes(data, size, "fuzz", &a.run, scan.first_seq, NULL,
                             NULL, &again, &err) != SF_OK ||
         memcmp(&again, &scan, sizeof scan) != 0))
        abort();
    sf_buf_free(&a.again);
    return 0;
}
