/* Helpers shared by the transition-log tests (test_backup_log,
 * test_restore_log): a file's bytes, a log's records, and records cut,
 * appended or re-encoded the way a damaged or foreign log would hold
 * them. Every helper fails the test on an error of its own. */
#ifndef SNAPFLEET_TESTS_LOG_FIXTURE_H
#define SNAPFLEET_TESTS_LOG_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/txlog.h"

void sf_lfx_read_bytes(const char *path, sf_buf *out);
/* A file's bytes, or none when it is absent. */
void sf_lfx_read_or_none(const char *path, sf_buf *out);
void sf_lfx_write_bytes(const char *path, const void *data, size_t len);

#define SF_LFX_MAX_RECORDS 4096

/* The records' offsets, sequence numbers and tags (the first byte of the
 * payload), and the run they belong to. */
typedef struct sf_lfx_recs {
    uint64_t off[SF_LFX_MAX_RECORDS], seq[SF_LFX_MAX_RECORDS];
    char tag[SF_LFX_MAX_RECORDS];
    size_t n;
    sf_txlog_run run;
} sf_lfx_recs;

/* Reads the log's records into *r; asserts there are more than three. */
void sf_lfx_records(const char *log, sf_lfx_recs *r);
/* Index of the last checkpoint marker ('B'): the records after it are
 * what the documents lack. */
size_t sf_lfx_last_marker(const sf_lfx_recs *r);
/* Appends one record holding payload after the log's last (the next
 * sequence number, the same run); returns its offset. */
long sf_lfx_append(const char *log, const sf_lfx_recs *r, const void *payload,
                   size_t len);
/* Cuts the log back to off bytes. */
void sf_lfx_cut(const char *log, long off);
/* Rewrites every record of the log with another run id. */
void sf_lfx_reencode_other_run(const char *log);

#endif
