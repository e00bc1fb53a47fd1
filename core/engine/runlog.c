/*
 * A run directory's transition log over its documents (runlog.h has the
 * record layout and the recovery rule). This file knows nothing of what
 * the documents mean: a runner hands it parts of documents to append and
 * whole documents to checkpoint, and gets records back through its apply
 * function on recovery. Recovery reads the log twice: once for the
 * checkpoint markers (where each document stands), once to replay what
 * follows; the second pass is the one that opens the log for appending,
 * so a refused log is never cut.
 */
#include "engine/runlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/storage.h"

#define NO_DOC "-"

struct sf_runlog {
    sf_txlog *log;
    char *path, *dir;
    size_t ndocs;
    sf_runlog_doc docs[SF_RUNLOG_DOCS_MAX];
    char hash[SF_RUNLOG_DOCS_MAX][SF_SHA256_HEX_SIZE];
    uint64_t since_records, since_bytes, ckpt_bytes;
    int broken;
    sf_buf rec;
};

/* The recovery state shared by both passes. */
typedef struct recovery {
    const char *path;
    size_t ndocs;
    const sf_runlog_doc *docs;
    char cur[SF_RUNLOG_DOCS_MAX][SF_SHA256_HEX_SIZE];
    uint64_t cur_bytes;
    uint64_t start[SF_RUNLOG_DOCS_MAX]; /* replay records after this seq */
    bool matched[SF_RUNLOG_DOCS_MAX];
    bool marker_seen;
    sf_runlog_apply_fn apply;
    void *payload;
} recovery;

/* A failed hash (out of memory) must not leave a run id of zeros: every
 * record would then look like another run's. */
static int run_of(const char *key, sf_txlog_run *run, sf_error *err)
{
    char hex[SF_SHA256_HEX_SIZE];

    memset(run, 0, sizeof *run);
    if (sf_sha256_bytes(key, strlen(key), hex) != SF_OK)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (int i = 0; i < 16; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        run->bytes[i] = (uint8_t)v;
    }
    return SF_OK;
}

/* The SHA-256 of document i's bytes as they are on disk, or "-". */
static int hash_docs(recovery *rc, const char *dir, sf_error *err)
{
    rc->cur_bytes = 0;
    for (size_t i = 0; i < rc->ndocs; i++) {
        char *p = sf_path_join(dir, rc->docs[i].name), *text = NULL;
        sf_storage_kind kind;
        size_t len = 0;
        int r;

        if (p == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        r = sf_storage_kind_of(sf_fs_storage(), p, &kind, err);
        if (r == SF_OK && kind == SF_STORAGE_ABSENT) {
            strcpy(rc->cur[i], NO_DOC);
            free(p);
            continue;
        }
        if (r == SF_OK)
            r = sf_fs_read_file(p, SF_JSON_MAX_BYTES, &text, &len, err);
        if (r == SF_OK)
            r = sf_sha256_bytes(text, len, rc->cur[i]) == SF_OK
                    ? SF_OK
                    : sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        rc->cur_bytes += len;
        free(text);
        free(p);
        if (r != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

/* "<tag> <arg>\n": the header of every record's payload. */
static int parse_head(const sf_txlog_record *rec, char *tag, uint64_t *arg,
                      size_t *body)
{
    const char *p = (const char *)rec->payload;
    size_t n = rec->payload_len, i = 2;
    uint64_t v = 0;

    if (n < 4 || p[1] != ' ')
        return SF_ERR;
    if (p[i] < '0' || p[i] > '9')
        return SF_ERR;
    while (i < n && p[i] >= '0' && p[i] <= '9') {
        if (v > (UINT64_MAX - 9) / 10)
            return SF_ERR;
        v = v * 10 + (uint64_t)(p[i] - '0');
        i++;
    }
    if (i >= n || p[i] != '\n')
        return SF_ERR;
    *tag = p[0];
    *arg = v;
    *body = i + 1;
    return SF_OK;
}

static int bad_record(const recovery *rc, const sf_txlog_record *rec,
                      const char *why, sf_error *err)
{
    return sf_error_set(err, "txlog-record", "", "%s: record at offset %llu "
                        "(sequence %llu): %s", rc->path,
                        (unsigned long long)rec->offset,
                        (unsigned long long)rec->seq, why);
}

static int doc_of(const recovery *rc, char tag)
{
    for (size_t i = 0; i < rc->ndocs; i++)
        if (rc->docs[i].tag == tag)
            return (int)i;
    return -1;
}

/* Pass 1: each checkpoint marker says what every document's bytes were;
 * the newest one naming a document's current hash is where it stands. */
static int visit_marker(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    recovery *rc = payload;
    char tag;
    uint64_t arg;
    size_t body;
    const char *p, *end;

    if (parse_head(rec, &tag, &arg, &body) != SF_OK)
        return bad_record(rc, rec, "no record header", err);
    if (tag != 'B') {
        if (!rc->marker_seen)
            return bad_record(rc, rec, "a transition before the first "
                              "checkpoint marker", err);
        return SF_OK;
    }
    rc->marker_seen = true;
    p = (const char *)rec->payload + body;
    end = (const char *)rec->payload + rec->payload_len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *sp = memchr(p, ' ', nl ? (size_t)(nl - p) : 0);
        size_t i, name_len, hash_len;

        if (nl == NULL || sp == NULL)
            return bad_record(rc, rec, "a malformed checkpoint marker", err);
        name_len = (size_t)(sp - p);
        hash_len = (size_t)(nl - sp - 1);
        for (i = 0; i < rc->ndocs; i++)
            if (strlen(rc->docs[i].name) == name_len &&
                memcmp(rc->docs[i].name, p, name_len) == 0)
                break;
        if (i == rc->ndocs)
            return bad_record(rc, rec, "a checkpoint marker names an unknown "
                              "document", err);
        if (strlen(rc->cur[i]) == hash_len &&
            memcmp(rc->cur[i], sp + 1, hash_len) == 0) {
            rc->matched[i] = true;
            rc->start[i] = rec->seq;
        }
        p = nl + 1;
    }
    return SF_OK;
}

/* Pass 2: the records after each document's marker, applied. */
static int visit_apply(const sf_txlog_record *rec, sf_error *err, void *payload)
{
    recovery *rc = payload;
    char tag;
    uint64_t arg;
    size_t body;
    int d;

    if (parse_head(rec, &tag, &arg, &body) != SF_OK)
        return bad_record(rc, rec, "no record header", err);
    if (tag == 'B')
        return SF_OK;
    if ((d = doc_of(rc, tag)) < 0)
        return bad_record(rc, rec, "an unknown record tag", err);
    if (rec->seq <= rc->start[d])
        return SF_OK; /* already in the document */
    if (rc->apply(tag, arg, (const char *)rec->payload + body,
                  rec->payload_len - body, err, rc->payload) != SF_OK)
        return sf_error_prefix(err, "%s: record at offset %llu (sequence "
                               "%llu): ", rc->path,
                               (unsigned long long)rec->offset,
                               (unsigned long long)rec->seq);
    return SF_OK;
}

static int recover_markers(recovery *rc, const char *dir, const char *path,
                           const sf_txlog_run *run, sf_txlog_scan *scan,
                           sf_error *err)
{
    rc->path = path;
    if (hash_docs(rc, dir, err) != SF_OK ||
        sf_txlog_read(sf_fs_storage(), path, run, 0, visit_marker, rc, scan,
                      err) != SF_OK)
        return SF_ERR;
    if (scan->records == 0)
        return SF_OK;
    for (size_t i = 0; i < rc->ndocs; i++)
        if (!rc->matched[i])
            return sf_error_set(err, "txlog-checkpoint", "", "%s: %s matches "
                                "no checkpoint recorded in the log (was it "
                                "changed by another program?); nothing was "
                                "changed", path, rc->docs[i].name);
    return SF_OK;
}

static void recovery_init(recovery *rc, const sf_runlog_doc *docs,
                          size_t ndocs, sf_runlog_apply_fn apply,
                          void *payload)
{
    memset(rc, 0, sizeof *rc);
    rc->docs = docs;
    rc->ndocs = ndocs;
    rc->apply = apply;
    rc->payload = payload;
}

int sf_runlog_replay(const char *dir, const char *name, const char *run_key,
                     const sf_runlog_doc *docs, size_t ndocs,
                     sf_runlog_apply_fn apply, void *payload, sf_error *err)
{
    recovery rc;
    sf_txlog_scan scan;
    sf_txlog_run run;
    char *path;
    int r = SF_ERR;

    if (ndocs > SF_RUNLOG_DOCS_MAX)
        return sf_error_set(err, SF_EK_USAGE, "", "runlog: too many documents");
    recovery_init(&rc, docs, ndocs, apply, payload);
    if ((path = sf_path_join(dir, name)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (run_key != NULL && run_of(run_key, &run, err) != SF_OK) {
        free(path);
        return SF_ERR;
    }
    if (recover_markers(&rc, dir, path, run_key ? &run : NULL, &scan, err) ==
        SF_OK)
        r = scan.records == 0
                ? SF_OK
                : sf_txlog_read(sf_fs_storage(), path, run_key ? &run : NULL,
                                0, visit_apply, &rc, NULL, err);
    free(path);
    return r;
}

/* Compact JSON: whitespace outside strings dropped. */
static int put_compact(sf_buf *out, const char *s, size_t n)
{
    bool in_str = false, esc = false;
    size_t run = 0; /* start of the bytes kept since the last space */

    for (size_t i = 0; i < n; i++) {
        char c = s[i];

        if (in_str) {
            if (esc)
                esc = false;
            else if (c == '\\')
                esc = true;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
            /* kept bytes go in runs, not a call per byte */
            if (i > run && sf_buf_append(out, s + run, i - run) != SF_OK)
                return SF_ERR;
            run = i + 1;
        }
    }
    if (n > run && sf_buf_append(out, s + run, n - run) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

static int append_raw(sf_runlog *l, sf_error *err)
{
    uint64_t before = sf_txlog_size(l->log);

    if (l->broken)
        return sf_error_set(err, SF_EK_TXLOG_BROKEN, "", "%s: an earlier "
                            "checkpoint failed; rerun to recover", l->path);
    if (sf_fs_tear_wanted(l->path)) {
        /* torn-write: half the record lands, then the crash */
        if (sf_txlog_append_torn(l->log, l->rec.data, l->rec.len,
                                 (SF_TXLOG_HEADER_SIZE + l->rec.len) / 2,
                                 err) == SF_OK)
            sf_fs_tear_done(l->path);
        return sf_error_set(err, SF_EK_IO, "", "%s: torn write", l->path);
    }
    if (sf_txlog_append(l->log, l->rec.data, l->rec.len, NULL, err) != SF_OK)
        return SF_ERR;
    sf_fs_note_durable_write(l->path);
    l->since_records++;
    l->since_bytes += sf_txlog_size(l->log) - before;
    return SF_OK;
}

static int append_marker(sf_runlog *l, char hashes[][SF_SHA256_HEX_SIZE],
                         sf_error *err)
{
    sf_buf_reset(&l->rec);
    if (sf_buf_puts(&l->rec, "B 0\n") != SF_OK)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    for (size_t i = 0; i < l->ndocs; i++)
        if (sf_buf_printf(&l->rec, "%s %s\n", l->docs[i].name, hashes[i]) !=
            SF_OK)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return append_raw(l, err);
}

int sf_runlog_open(sf_runlog **out, const char *dir, const char *name,
                   const char *run_key, const sf_runlog_doc *docs,
                   size_t ndocs, sf_runlog_apply_fn apply, void *payload,
                   sf_error *err)
{
    recovery rc;
    sf_txlog_scan scan;
    sf_txlog_run run;
    sf_runlog *l;

    *out = NULL;
    if (ndocs > SF_RUNLOG_DOCS_MAX || run_key == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "runlog: invalid arguments");
    if ((l = calloc(1, sizeof *l)) == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sf_buf_init(&l->rec);
    l->path = sf_path_join(dir, name);
    l->dir = strdup(dir);
    if (l->path == NULL || l->dir == NULL) {
        sf_runlog_close(l);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    l->ndocs = ndocs;
    memcpy(l->docs, docs, ndocs * sizeof *docs);
    recovery_init(&rc, l->docs, ndocs, apply, payload);
    if (run_of(run_key, &run, err) != SF_OK ||
        recover_markers(&rc, dir, l->path, &run, &scan, err) != SF_OK ||
        sf_txlog_open(&l->log, sf_fs_storage(), l->path, &run, 0,
                      scan.records > 0 ? visit_apply : NULL, &rc, &scan,
                      err) != SF_OK) {
        sf_runlog_close(l);
        return SF_ERR;
    }
    memcpy(l->hash, rc.cur, sizeof l->hash);
    l->ckpt_bytes = rc.cur_bytes;
    /* a new log starts from the documents as they are */
    if (scan.records == 0 && append_marker(l, l->hash, err) != SF_OK) {
        sf_runlog_close(l);
        return SF_ERR;
    }
    l->since_records = l->since_bytes = 0;
    *out = l;
    return SF_OK;
}

int sf_runlog_append(sf_runlog *l, char tag, uint64_t arg, const sf_buf *json,
                     sf_error *err)
{
    sf_buf_reset(&l->rec);
    if (sf_buf_printf(&l->rec, "%c %llu\n", tag, (unsigned long long)arg) !=
            SF_OK ||
        put_compact(&l->rec, json->data ? json->data : "", json->len) != SF_OK)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return append_raw(l, err);
}

bool sf_runlog_due(const sf_runlog *l)
{
    uint64_t bytes = l->ckpt_bytes > SF_RUNLOG_CHECKPOINT_BYTES
                         ? l->ckpt_bytes : SF_RUNLOG_CHECKPOINT_BYTES;
    uint64_t records = l->ckpt_bytes / 512 > SF_RUNLOG_CHECKPOINT_RECORDS
                           ? l->ckpt_bytes / 512
                           : SF_RUNLOG_CHECKPOINT_RECORDS;

    return l->since_bytes >= bytes || l->since_records >= records;
}

int sf_runlog_checkpoint(sf_runlog *l, const sf_buf *const *docs,
                         sf_error *err)
{
    char next[SF_RUNLOG_DOCS_MAX][SF_SHA256_HEX_SIZE];
    uint64_t total = 0;

    for (size_t i = 0; i < l->ndocs; i++) {
        if (docs[i] == NULL) {
            strcpy(next[i], l->hash[i]);
            continue;
        }
        total += docs[i]->len;
        if (sf_sha256_bytes(docs[i]->data ? docs[i]->data : "", docs[i]->len,
                            next[i]) != SF_OK)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    /* the marker first: a crash before a document's rename leaves it
     * matching an earlier marker, and the records after that are kept */
    if (append_marker(l, next, err) != SF_OK)
        return SF_ERR;
    for (size_t i = 0; i < l->ndocs; i++) {
        char *p;
        int r;

        if (docs[i] == NULL || strcmp(next[i], l->hash[i]) == 0)
            continue;
        if ((p = sf_path_join(l->dir, l->docs[i].name)) == NULL) {
            l->broken = 1;
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
        r = sf_fs_write_atomic(p, docs[i]->data ? docs[i]->data : "",
                               docs[i]->len, err);
        free(p);
        if (r != SF_OK) {
            l->broken = 1;
            return SF_ERR;
        }
        strcpy(l->hash[i], next[i]);
    }
    l->ckpt_bytes = total;
    l->since_records = l->since_bytes = 0;
    return SF_OK;
}

void sf_runlog_close(sf_runlog *l)
{
    if (l == NULL)
        return;
    sf_txlog_close(l->log);
    sf_buf_free(&l->rec);
    free(l->path);
    free(l->dir);
    free(l);
}
