/*
 * A backup directory's state on its transition log (backup_log.c): the
 * execution journal, the download journal and the observations are the
 * checkpoints of snapfleet-transitions.log; each transition appends the
 * part of its document it changed (runlog.h).
 */
#ifndef SF_ENGINE_BACKUP_LOG_H
#define SF_ENGINE_BACKUP_LOG_H

#include <stdbool.h>

#include "engine/observations.h"
#include "engine/runlog.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/journal.h"

/* What a backup's log replays into; every pointer may be shared with a
 * runner. */
typedef struct sf_backup_docs {
    sf_exec_journal *j;
    bool *have_j;
    sf_download_journal *dj;
    bool *have_dj;
    sf_observations *obs;
} sf_backup_docs;

extern const sf_runlog_doc sf_backup_log_docs[3];

/* The apply function of a backup's records (payload: sf_backup_docs). */
int sf_backup_log_apply(char tag, uint64_t arg, const char *json, size_t len,
                        sf_error *err, void *payload);

/* Records operation `sequence` of j (its state now) and every receipt from
 * index first_receipt on. */
int sf_backup_log_exec(sf_runlog *l, const sf_exec_journal *j,
                       uint64_t sequence, size_t first_receipt, sf_error *err);
/* Records dj's header and artifact a (NULL: the header alone). */
int sf_backup_log_dj(sf_runlog *l, const sf_download_journal *dj,
                     const sf_journal_artifact *a, sf_error *err);
/* Records one canister's observations. */
int sf_backup_log_obs(sf_runlog *l, const sf_obs_canister *c, sf_error *err);
/* A checkpoint of the three documents (j NULL: a snapshot download, which
 * has none; dj NULL: none yet). */
int sf_backup_log_checkpoint(sf_runlog *l, const sf_exec_journal *j,
                             const sf_download_journal *dj,
                             const sf_observations *obs, sf_error *err);

/* sf_backup_state_read with the observations too (obs NULL: not
 * wanted; else the caller frees them with sf_obs_free). */
int sf_backup_docs_read(const char *dir, sf_exec_journal *j, bool *have_j,
                        sf_download_journal *dj, bool *have_dj,
                        sf_observations *obs, sf_error *err);

#endif
