/*
 * A run directory's transition log over its documents (runlog.c): the
 * documents (canic's journals, the observations) are checkpoints, and
 * every state transition between two checkpoints is one record appended
 * to <dir>/<log name> through the transition log (snapfleet/txlog.h).
 *
 * A record's payload is text: "<tag> <arg>\n<compact JSON>", where the tag
 * names the document it changes and the JSON is a part of that document
 * in the document's own format (the header and the one element touched);
 * arg is the tag's own number (the first receipt's index for the
 * execution journal, 0 otherwise). The tag 'B' is the log's own: a
 * checkpoint marker, "B 0\n" and one line "<name> <sha256|->" per
 * document, appended BEFORE the checkpoint's documents are written.
 *
 * Recovery: each document's bytes are hashed and matched against the
 * markers; the newest marker naming that hash is the point the document
 * stands at, and only the records after it are replayed into it. So a
 * crash in the middle of a checkpoint (some documents written, some not)
 * replays exactly what each document lacks, and a replayed record is
 * always a real transition from the state it is applied to. A document
 * that matches no marker was changed by something else (canic, an older
 * snapfleet): refused, naming it. A directory without a log resumes from
 * its documents alone; the log then starts with a marker of them.
 */
#ifndef SF_ENGINE_RUNLOG_H
#define SF_ENGINE_RUNLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"
#include "snapfleet/txlog.h"

#define SF_RUNLOG_DOCS_MAX 4

/* Checkpoint cadence: when the log has grown by max(M, the last
 * checkpoint's size) bytes, or by max(K, the last checkpoint's size /
 * 512) records, since the last checkpoint. Scaling both with the size of
 * what a checkpoint writes keeps its cost amortised to O(1) bytes per
 * transition however large the fleet. */
#define SF_RUNLOG_CHECKPOINT_BYTES ((uint64_t)1 << 20)
#define SF_RUNLOG_CHECKPOINT_RECORDS 1024u

typedef struct sf_runlog_doc {
    char tag;         /* the records' tag for this document */
    const char *name; /* its file name in the run directory */
} sf_runlog_doc;

/* Applies one record (tag, arg, the JSON part) to the state in memory;
 * validates what it touches and changes nothing when it fails. */
typedef int (*sf_runlog_apply_fn)(char tag, uint64_t arg, const char *json,
                                  size_t len, sf_error *err, void *payload);

typedef struct sf_runlog sf_runlog;

/* Opens (creating when absent) the log `name` in dir for the run called
 * run_key, after replaying into the caller's state, through apply, the
 * records each document lacks. Refusals (a damaged log, a record of
 * another run, a sequence gap, an illegal transition, a document that
 * matches no checkpoint) name the log, the record's offset and why, and
 * change nothing. */
int sf_runlog_open(sf_runlog **out, const char *dir, const char *name,
                   const char *run_key, const sf_runlog_doc *docs,
                   size_t ndocs, sf_runlog_apply_fn apply, void *payload,
                   sf_error *err);

/* The same replay, read only (status and report): nothing is created,
 * cut or written. run_key NULL: any run. An absent log replays nothing. */
int sf_runlog_replay(const char *dir, const char *name, const char *run_key,
                     const sf_runlog_doc *docs, size_t ndocs,
                     sf_runlog_apply_fn apply, void *payload, sf_error *err);

/* Appends one record: the document part `json` (pretty or compact JSON;
 * stored compact), durable when SF_OK returns; counted as a durable write
 * (sf_fs_note_durable_write). */
int sf_runlog_append(sf_runlog *l, char tag, uint64_t arg, const sf_buf *json,
                     sf_error *err);

/* A checkpoint is due (the cadence above). */
bool sf_runlog_due(const sf_runlog *l);

/* A checkpoint: docs[i] is document i's full text as it must be written
 * (NULL: absent, nothing written). Appends the marker, then writes each
 * document whose bytes changed since the last checkpoint atomically.
 * After a failure the log refuses appends until reopened. */
int sf_runlog_checkpoint(sf_runlog *l, const sf_buf *const *docs,
                         sf_error *err);

/* NULL-tolerant. */
void sf_runlog_close(sf_runlog *l);

#endif
