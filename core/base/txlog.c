/*
 * The append-only transition log: the record codec, the recovering reader
 * and the appender (snapfleet/txlog.h has the format and the recovery
 * rules). The reader works on bytes in memory, so the fuzz target and the
 * tests drive exactly the code recovery runs; the file functions only read
 * through the storage seam and hand the bytes over. An append is one
 * positional write of the whole record followed by fdatasync; a failure
 * leaves the handle broken, because what reached the disk is unknown
 * until the log is read again.
 */
#include "snapfleet/txlog.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* CRC-32 of the record at p (header and payload, n payload bytes) with
 * the checksum field itself left out. */
static uint32_t record_crc(const uint8_t *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);

    crc = crc32(crc, p, 8);
    crc = crc32(crc, p + 12, (uInt)(SF_TXLOG_HEADER_SIZE - 12 + n));
    return (uint32_t)crc;
}

int sf_txlog_encode(sf_buf *out, const sf_txlog_run *run, uint64_t seq,
                    const void *payload, size_t len, sf_error *err)
{
    uint8_t header[SF_TXLOG_HEADER_SIZE];
    size_t start = out->len;

    if (run == NULL || (payload == NULL && len > 0))
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: invalid record");
    if (len > SF_TXLOG_PAYLOAD_MAX)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: a %zu-byte payload "
                            "exceeds the %u-byte limit", len,
                            SF_TXLOG_PAYLOAD_MAX);
    memcpy(header, SF_TXLOG_MAGIC, 4);
    put32(header + 4, (uint32_t)len);
    put32(header + 8, 0);
    put64(header + 12, seq);
    memcpy(header + 20, run->bytes, sizeof run->bytes);
    if (sf_buf_append(out, header, sizeof header) != 0 ||
        (len > 0 && sf_buf_append(out, payload, len) != 0))
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    put32((uint8_t *)out->data + start + 8,
          record_crc((const uint8_t *)out->data + start, len));
    return SF_OK;
}

/* A valid record at off: magic, a length in bounds and inside the data,
 * and the CRC. *size receives the record's length. */
static int valid_at(const uint8_t *d, size_t len, size_t off, size_t *size)
{
    uint32_t n;

    if (len - off < SF_TXLOG_HEADER_SIZE || memcmp(d + off, SF_TXLOG_MAGIC, 4))
        return 0;
    n = get32(d + off + 4);
    if (n > SF_TXLOG_PAYLOAD_MAX || len - off - SF_TXLOG_HEADER_SIZE < n)
        return 0;
    if (record_crc(d + off, n) != get32(d + off + 8))
        return 0;
    *size = SF_TXLOG_HEADER_SIZE + n;
    return 1;
}

/* The offset of the first valid record after `after`, or len. */
static size_t next_valid(const uint8_t *d, size_t len, size_t after)
{
    size_t size;

    for (size_t p = after + 1; p + SF_TXLOG_HEADER_SIZE <= len; p++) {
        const uint8_t *m = memchr(d + p, SF_TXLOG_MAGIC[0],
                                  len - SF_TXLOG_HEADER_SIZE + 1 - p);
        if (m == NULL)
            break;
        p = (size_t)(m - d);
        if (valid_at(d, len, p, &size))
            return p;
    }
    return len;
}

static void hex_run(char out[33], const sf_txlog_run *run)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[run->bytes[i] >> 4];
        out[2 * i + 1] = hex[run->bytes[i] & 15];
    }
    out[32] = '\0';
}

int sf_txlog_scan_bytes(const uint8_t *data, size_t len, const char *name,
                        const sf_txlog_run *run, uint64_t first_seq,
                        sf_txlog_visit_fn fn, void *payload,
                        sf_txlog_scan *out, sf_error *err)
{
    sf_txlog_scan scan = {0};
    sf_txlog_run want;
    int have_run = run != NULL;
    size_t off = 0, size;

    if (name == NULL)
        name = "transition log";
    if (data == NULL && len > 0)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: no data");
    if (have_run)
        want = *run;
    while (off < len) {
        sf_txlog_record rec;

        if (!valid_at(data, len, off, &size)) {
            size_t next = next_valid(data, len, off);

            if (next < len)
                return sf_error_set(err, SF_EK_TXLOG_DAMAGED, "", "%s: damaged "
                                    "record at offset %zu (a valid record "
                                    "follows at offset %zu)", name, off, next);
            scan.torn_bytes = len - off; /* a torn tail: dropped */
            break;
        }
        rec.seq = get64(data + off + 12);
        rec.offset = off;
        memcpy(rec.run.bytes, data + off + 20, sizeof rec.run.bytes);
        rec.payload = data + off + SF_TXLOG_HEADER_SIZE;
        rec.payload_len = size - SF_TXLOG_HEADER_SIZE;
        if (!have_run) {
            want = rec.run;
            have_run = 1;
        } else if (memcmp(want.bytes, rec.run.bytes, sizeof want.bytes) != 0) {
            char a[33], b[33];

            hex_run(a, &rec.run);
            hex_run(b, &want);
            return sf_error_set(err, SF_EK_TXLOG_RUN, "", "%s: record at offset "
                                "%zu belongs to run %s, not to run %s", name,
                                off, a, b);
        }
        if (scan.records == 0 ? (first_seq != 0 && rec.seq != first_seq)
                              : rec.seq != scan.last_seq + 1 ||
                                    scan.last_seq == UINT64_MAX)
            return sf_error_set(err, SF_EK_TXLOG_SEQUENCE, "", "%s: record at "
                                "offset %zu has sequence number %llu, expected "
                                "%llu", name, off, (unsigned long long)rec.seq,
                                (unsigned long long)(scan.records == 0
                                                         ? first_seq
                                                         : scan.last_seq + 1));
        if (fn != NULL && fn(&rec, err, payload) != SF_OK)
            return SF_ERR;
        if (scan.records == 0)
            scan.first_seq = rec.seq;
        scan.last_seq = rec.seq;
        scan.records++;
        off += size;
        scan.valid_end = off;
    }
    if (out != NULL)
        *out = scan;
    return SF_OK;
}

/* Reads the whole log file; *data NULL and *len 0 when it is absent. */
static int read_log(const sf_storage *st, const char *path, char **data,
                    size_t *len, sf_error *err)
{
    sf_storage_kind kind;

    *data = NULL;
    *len = 0;
    if (sf_storage_kind_of(st, path, &kind, err) != SF_OK)
        return SF_ERR;
    if (kind == SF_STORAGE_ABSENT)
        return SF_OK;
    return sf_storage_read_all(st, path, SF_TXLOG_FILE_MAX, data, len, err);
}

int sf_txlog_read(const sf_storage *st, const char *path,
                  const sf_txlog_run *run, uint64_t first_seq,
                  sf_txlog_visit_fn fn, void *payload, sf_txlog_scan *out,
                  sf_error *err)
{
    char *data;
    size_t len;
    int rc;

    if (path == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: no path");
    if (read_log(st, path, &data, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_txlog_scan_bytes((const uint8_t *)data, len, path, run, first_seq,
                             fn, payload, out, err);
    free(data);
    return rc;
}

struct sf_txlog {
    const sf_storage *st;
    sf_storage_file *file;
    sf_txlog_run run;
    uint64_t next_seq, end;
    int broken;
    sf_buf rec;
    char path[];
};

/* Syncs the directory path lives in. */
static int sync_parent(const sf_storage *st, const char *path, sf_error *err)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    size_t n;
    int rc;

    if (slash == NULL)
        return sf_storage_sync_dir(st, ".", err);
    n = slash == path ? 1 : (size_t)(slash - path);
    dir = malloc(n + 1);
    if (dir == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    memcpy(dir, path, n);
    dir[n] = '\0';
    rc = sf_storage_sync_dir(st, dir, err);
    free(dir);
    return rc;
}

int sf_txlog_open(sf_txlog **out, const sf_storage *st, const char *path,
                  const sf_txlog_run *run, uint64_t first_seq,
                  sf_txlog_visit_fn fn, void *payload, sf_txlog_scan *scan,
                  sf_error *err)
{
    sf_txlog_scan found = {0};
    sf_txlog *log;
    char *data = NULL;
    size_t len = 0, plen;

    if (out == NULL || path == NULL || run == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: invalid arguments");
    *out = NULL;
    if (read_log(st, path, &data, &len, err) != SF_OK)
        return SF_ERR;
    if (sf_txlog_scan_bytes((const uint8_t *)data, len, path, run, first_seq,
                            fn, payload, &found, err) != SF_OK) {
        free(data);
        return SF_ERR;
    }
    plen = strlen(path) + 1;
    log = calloc(1, sizeof *log + plen);
    if (log == NULL) {
        free(data);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    memcpy(log->path, path, plen);
    log->st = st;
    log->run = *run;
    sf_buf_init(&log->rec);
    if (data == NULL) {
        /* a new log: the file and its name durable before any record */
        if (sf_storage_open(st, path, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                            SF_STORAGE_EXCL, &log->file, err) != SF_OK ||
            sf_storage_sync(st, log->file, SF_STORAGE_SYNC_FULL, err) != SF_OK ||
            sync_parent(st, path, err) != SF_OK)
            goto fail;
    } else {
        free(data);
        data = NULL;
        if (sf_storage_open(st, path, SF_STORAGE_WRITE, &log->file, err) !=
            SF_OK)
            goto fail;
        if (found.torn_bytes > 0 &&
            (sf_storage_truncate(st, log->file, found.valid_end, err) != SF_OK ||
             sf_storage_sync(st, log->file, SF_STORAGE_SYNC_DATA, err) != SF_OK))
            goto fail;
    }
    log->end = found.valid_end;
    log->next_seq = found.records > 0 ? found.last_seq + 1
                    : first_seq != 0  ? first_seq
                                      : 1;
    if (scan != NULL)
        *scan = found;
    *out = log;
    return SF_OK;
fail:
    free(data);
    sf_txlog_close(log);
    return SF_ERR;
}

int sf_txlog_append(sf_txlog *log, const void *payload, size_t len,
                    uint64_t *seq, sf_error *err)
{
    if (log == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: no log");
    if (log->broken)
        return sf_error_set(err, SF_EK_TXLOG_BROKEN, "", "%s: an earlier append "
                            "failed; reopen the log to recover it", log->path);
    if (log->next_seq == 0) /* wrapped past UINT64_MAX */
        return sf_error_set(err, SF_EK_TXLOG_SEQUENCE, "", "%s: sequence "
                            "numbers exhausted", log->path);
    sf_buf_reset(&log->rec);
    if (sf_txlog_encode(&log->rec, &log->run, log->next_seq, payload, len,
                        err) != SF_OK)
        return SF_ERR;
    if (sf_storage_write(log->st, log->file, log->end, log->rec.data,
                         log->rec.len, err) != SF_OK ||
        sf_storage_sync(log->st, log->file, SF_STORAGE_SYNC_DATA, err) !=
            SF_OK) {
        log->broken = 1;
        return SF_ERR;
    }
    log->end += log->rec.len;
    if (seq != NULL)
        *seq = log->next_seq;
    log->next_seq++;
    return SF_OK;
}

int sf_txlog_append_torn(sf_txlog *log, const void *payload, size_t len,
                         size_t keep, sf_error *err)
{
    if (log == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "txlog: no log");
    sf_buf_reset(&log->rec);
    if (sf_txlog_encode(&log->rec, &log->run, log->next_seq, payload, len,
                        err) != SF_OK)
        return SF_ERR;
    if (keep >= log->rec.len)
        keep = log->rec.len - 1;
    log->broken = 1;
    if (sf_storage_write(log->st, log->file, log->end, log->rec.data, keep,
                         err) != SF_OK ||
        sf_storage_sync(log->st, log->file, SF_STORAGE_SYNC_DATA, err) !=
            SF_OK)
        return SF_ERR;
    return SF_OK;
}

uint64_t sf_txlog_next_seq(const sf_txlog *log)
{
    return log->next_seq;
}

uint64_t sf_txlog_size(const sf_txlog *log)
{
    return log->end;
}

void sf_txlog_close(sf_txlog *log)
{
    if (log == NULL)
        return;
    sf_storage_close(log->st, &log->file, NULL);
    sf_buf_free(&log->rec);
    free(log);
}
