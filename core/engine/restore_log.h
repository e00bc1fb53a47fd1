/*
 * A restore directory's state on its transition log (restore_log.c): the
 * restore apply journal and the restore observations are the checkpoints
 * of <restore dir>/snapfleet-transitions.log; each transition appends the
 * part of its document it changed (runlog.h), as a backup's do
 * (backup_log.h, whose observations records a restore shares).
 */
#ifndef SF_ENGINE_RESTORE_LOG_H
#define SF_ENGINE_RESTORE_LOG_H

#include <stdbool.h>

#include "engine/observations.h"
#include "engine/runlog.h"
#include "snapfleet/restore_journal.h"

/* What a restore's log replays into. */
typedef struct sf_restore_docs {
    sf_restore_journal *j;
    bool *have_j;
    sf_observations *obs;
} sf_restore_docs;

extern const sf_runlog_doc sf_restore_log_docs[2];

/* The run a restore's log belongs to: its backup id and backup root, as
 * its apply journal records them (malloc'd; NULL: out of memory). */
char *sf_restore_log_run_key(const sf_restore_journal *j);

/* The apply function of a restore's records (payload: sf_restore_docs). */
int sf_restore_log_apply(char tag, uint64_t arg, const char *json, size_t len,
                         sf_error *err, void *payload);

/* Records operation `sequence` of j (its state now; none when it is not
 * in j) and every receipt from index first_receipt on. */
int sf_restore_log_journal(sf_runlog *l, const sf_restore_journal *j,
                           uint64_t sequence, size_t first_receipt,
                           sf_error *err);
/* A checkpoint of both documents. */
int sf_restore_log_checkpoint(sf_runlog *l, const sf_restore_journal *j,
                              const sf_observations *obs, sf_error *err);

/* The apply journal (which must exist: "no-restore" otherwise) and the
 * observations of the restore directory dir with its log replayed, read
 * only (`restore status`); the journal validated whole. */
int sf_restore_docs_read(const char *dir, sf_restore_journal *j,
                         sf_observations *obs, sf_error *err);

#endif
