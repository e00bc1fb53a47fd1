/*
 * snapfleet: the append-only transition log (core/base/txlog.c). A run
 * directory's state transitions are appended as small self-delimiting
 * records through the storage seam, each durable (written and fdatasync'd)
 * before sf_txlog_append returns, so the write-ahead rule holds at one
 * record per transition instead of one whole document.
 *
 * A record, all integers little-endian (36 bytes + the payload):
 *
 *   offset  size  field
 *        0     4  magic "SFTL"
 *        4     4  payload length n (at most SF_TXLOG_PAYLOAD_MAX)
 *        8     4  CRC-32 of every other byte of the record (0..7, 12..35+n)
 *       12     8  sequence number: the previous record's plus one
 *       20    16  run id: which run wrote it
 *       36     n  payload (opaque to the log)
 *
 * The checksum is zlib's crc32 (the IEEE 802.3 polynomial), chosen because
 * zlib is already a dependency (principal text), it runs at gigabytes per
 * second, and it detects every burst error up to 32 bits and every odd
 * number of flipped bits in a record this small: the failures it guards
 * against are torn and damaged writes, not an adversary (a backup
 * directory's documents are checked against the manifest's SHA-256s).
 *
 * Recovery, reading from the start: a valid record is one whose magic,
 * length and CRC agree. Where a record is not valid, the rest of the file
 * is searched for any valid record at any byte offset: if there is none,
 * everything from that point on is a torn tail (a crash in the middle of
 * the last append) and is dropped; if there is one, the file is damaged
 * and refused ("txlog-damaged"). A valid record with another run id
 * ("txlog-run") or a sequence number that is not the previous one plus one
 * ("txlog-sequence") is refused too. Every refusal names the file and the
 * record's byte offset, and nothing is changed.
 *
 * A consequence to know: damage to the last record (a flipped bit, or the
 * zeros a file system may leave in a block it extended but never wrote)
 * looks exactly like a torn append and is dropped as one, although that
 * append may have been acknowledged. Callers therefore keep the engine's
 * rule that an effect is reconciled by observation, never assumed from the
 * last record alone.
 */
#ifndef SNAPFLEET_TXLOG_H
#define SNAPFLEET_TXLOG_H

#include "snapfleet/export.h"

#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_TXLOG_MAGIC "SFTL"
#define SF_TXLOG_HEADER_SIZE 36
#define SF_TXLOG_PAYLOAD_MAX (1u << 20)
/* the largest log file sf_txlog_open and sf_txlog_read take */
#define SF_TXLOG_FILE_MAX ((size_t)1 << 30)

/* Error kinds. */
#define SF_EK_TXLOG_DAMAGED "txlog-damaged"
#define SF_EK_TXLOG_SEQUENCE "txlog-sequence"
#define SF_EK_TXLOG_RUN "txlog-run"
#define SF_EK_TXLOG_BROKEN "txlog-broken"

typedef struct sf_txlog_run {
    uint8_t bytes[16];
} sf_txlog_run;

/* One valid record, as the reader hands it to a visitor. */
typedef struct sf_txlog_record {
    uint64_t seq;
    uint64_t offset; /* where the record starts in the file */
    sf_txlog_run run;
    const uint8_t *payload; /* borrowed: valid during the callback only */
    size_t payload_len;
} sf_txlog_record;

/* Called once per valid record, in order. A return other than SF_OK stops
 * the reader, which returns SF_ERR with the err the visitor filled. */
typedef int (*sf_txlog_visit_fn)(const sf_txlog_record *rec, sf_error *err,
                                 void *payload);

/* What a read found. */
typedef struct sf_txlog_scan {
    uint64_t records;
    uint64_t first_seq, last_seq; /* 0 when there are no records */
    uint64_t valid_end;           /* bytes taken by the valid records */
    uint64_t torn_bytes;          /* dropped at the end (a torn tail) */
} sf_txlog_scan;

/* Appends one record's bytes to out. Refused ("usage") when the payload is
 * longer than SF_TXLOG_PAYLOAD_MAX; "out-of-memory" when out cannot grow. */
SF_API int sf_txlog_encode(sf_buf *out, const sf_txlog_run *run, uint64_t seq,
                           const void *payload, size_t len, sf_error *err);

/* Reads a log held in memory (name is what errors call it). run: the run
 * every record must belong to, or NULL to take the first record's.
 * first_seq: the first record's sequence number, or 0 for any. fn may be
 * NULL. On success *out (may be NULL) describes the valid prefix. */
SF_API int sf_txlog_scan_bytes(const uint8_t *data, size_t len,
                               const char *name, const sf_txlog_run *run,
                               uint64_t first_seq, sf_txlog_visit_fn fn,
                               void *payload, sf_txlog_scan *out,
                               sf_error *err);

/* The same over a file read through the storage; changes nothing. An
 * absent file is an empty log. */
SF_API int sf_txlog_read(const sf_storage *st, const char *path,
                         const sf_txlog_run *run, uint64_t first_seq,
                         sf_txlog_visit_fn fn, void *payload,
                         sf_txlog_scan *out, sf_error *err);

/* An open log, appending. */
typedef struct sf_txlog sf_txlog;

/* Opens the log at path for appending as run `run` (required), after
 * recovering it: the records are read as sf_txlog_read reads them (fn sees
 * each), a torn tail is cut off (truncate, then fdatasync), and the next
 * record gets the last sequence number plus one (first_seq, or 1, for an
 * empty log). An absent file is created and made durable (file and
 * directory synced). A refused log is left exactly as it was. */
SF_API int sf_txlog_open(sf_txlog **out, const sf_storage *st,
                         const char *path, const sf_txlog_run *run,
                         uint64_t first_seq, sf_txlog_visit_fn fn,
                         void *payload, sf_txlog_scan *scan, sf_error *err);

/* Appends one record and fdatasyncs it: durable when SF_OK comes back.
 * *seq (may be NULL) receives its sequence number. After a failed append
 * the log refuses every later one ("txlog-broken"): a part of the record
 * may be on disk, and only reopening (which recovers) is safe. */
SF_API int sf_txlog_append(sf_txlog *log, const void *payload, size_t len,
                           uint64_t *seq, sf_error *err);

/* Fault injection (torn-write): writes only the first `keep` bytes of the
 * record an append would write (keep is cut to less than its length) and
 * fdatasyncs them, as a crash in the middle of an append leaves them; the
 * handle is broken afterwards. */
SF_API int sf_txlog_append_torn(sf_txlog *log, const void *payload, size_t len,
                                size_t keep, sf_error *err);

/* The sequence number the next append gets. */
SF_API uint64_t sf_txlog_next_seq(const sf_txlog *log);
/* The log's length in bytes (valid records only). */
SF_API uint64_t sf_txlog_size(const sf_txlog *log);

/* NULL-tolerant. */
SF_API void sf_txlog_close(sf_txlog *log);

#ifdef __cplusplus
}
#endif

#endif
