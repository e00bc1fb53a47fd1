/*
 * A backup directory's records: what a transition appends for each of
 * its three documents, and how a record is checked and applied on
 * recovery. Every record is a part of its document in the document's own
 * format, so the strict readers check it field by field:
 *   'X'  the execution journal's header, the one operation that moved and
 *        the receipts appended since the last record (arg: the index of
 *        the first); the operation must exist with the same id, kind and
 *        target, and its state may not leave completed or skipped nor go
 *        back to blocked; the receipts must follow the journal's last;
 *   'D'  the download journal's header and the one artifact that moved:
 *        the same backup id, a new artifact Created, a known one only
 *        advancing (canic's state order);
 *   'O'  one canister's observations, replacing its entry.
 * The whole of each document is validated at every checkpoint (its
 * writer validates) and after a replay on read (sf_backup_state_read).
 */
#include "engine/backup_log.h"

#include <stdlib.h>
#include <string.h>

#include "snapfleet/backup.h"
#include "snapfleet/fs.h"
#include "snapfleet/storage.h"
#include "snapfleet/layout.h"

const sf_runlog_doc sf_backup_log_docs[3] = {
    {'X', SF_EXEC_JOURNAL_FILE_NAME},
    {'D', SF_DOWNLOAD_JOURNAL_FILE_NAME},
    {'O', SF_OBSERVATIONS_FILE_NAME},
};

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

static bool legal(sf_exec_state from, sf_exec_state to)
{
    if (from == to)
        return true;
    if (from == SF_EXEC_COMPLETED || from == SF_EXEC_SKIPPED)
        return false;
    return to != SF_EXEC_BLOCKED;
}

static size_t op_position(const sf_exec_journal *j, uint64_t seq)
{
    if (seq < j->operation_count && j->operations[seq].sequence == seq)
        return (size_t)seq;
    for (size_t i = 0; i < j->operation_count; i++)
        if (j->operations[i].sequence == seq)
            return i;
    return SIZE_MAX;
}

static int apply_exec(sf_backup_docs *d, uint64_t arg, const char *json,
                      size_t len, sf_error *err)
{
    sf_exec_journal part, *j = d->j;
    sf_exec_receipt *grown;
    size_t i, *pos = NULL;
    int rc = SF_ERR;

    if (!*d->have_j)
        return sf_error_set(err, "txlog-transition", "", "an execution "
                            "journal record, but no execution journal");
    /* a record moves operations behind the index's back */
    sf_exec_journal_drop_index(j);
    if (sf_exec_journal_parse(json, len, &part, err) != SF_OK)
        return sf_error_prefix(err, "execution journal record: ");
    if (!same(part.plan_id, j->plan_id) || !same(part.run_id, j->run_id)) {
        sf_error_set(err, "txlog-transition", "", "the record belongs to "
                     "plan %s run %s, not to plan %s run %s",
                     part.plan_id ? part.plan_id : "null",
                     part.run_id ? part.run_id : "null", j->plan_id,
                     j->run_id);
        goto done;
    }
    if (arg != j->receipt_count) {
        sf_error_set(err, "txlog-transition", "", "the record's receipts "
                     "start at index %llu, the journal holds %zu",
                     (unsigned long long)arg, j->receipt_count);
        goto done;
    }
    if ((pos = calloc(part.operation_count + 1, sizeof *pos)) == NULL) {
        nomem(err);
        goto done;
    }
    for (i = 0; i < part.operation_count; i++) {
        const sf_exec_operation *op = &part.operations[i], *cur;

        pos[i] = op_position(j, op->sequence);
        if (pos[i] == SIZE_MAX) {
            sf_error_set(err, "txlog-transition", "", "operation %llu is not "
                         "in the journal", (unsigned long long)op->sequence);
            goto done;
        }
        cur = &j->operations[pos[i]];
        if (!same(cur->operation_id, op->operation_id) ||
            cur->kind != op->kind ||
            !same(cur->target_canister_id, op->target_canister_id)) {
            sf_error_set(err, "txlog-transition", "", "operation %llu differs "
                         "from the journal's (id, kind or target)",
                         (unsigned long long)op->sequence);
            goto done;
        }
        if (!legal(cur->state, op->state)) {
            sf_error_set(err, "txlog-transition", "", "illegal transition of "
                         "operation %llu from %s to %s",
                         (unsigned long long)op->sequence,
                         sf_exec_state_name(cur->state),
                         sf_exec_state_name(op->state));
            goto done;
        }
    }
    grown = realloc(j->operation_receipts,
                    (j->receipt_count + part.receipt_count + 1) * sizeof *grown);
    if (grown == NULL) {
        nomem(err);
        goto done;
    }
    j->operation_receipts = grown;
    /* checked: from here nothing fails */
    for (i = 0; i < part.operation_count; i++) {
        sf_exec_operation tmp = j->operations[pos[i]];

        j->operations[pos[i]] = part.operations[i];
        part.operations[i] = tmp;
    }
    for (i = 0; i < part.receipt_count; i++) {
        j->operation_receipts[j->receipt_count++] = part.operation_receipts[i];
        memset(&part.operation_receipts[i], 0, sizeof part.operation_receipts[i]);
    }
    {
        char *t = j->preflight_id;

        j->preflight_id = part.preflight_id;
        part.preflight_id = t;
    }
    j->preflight_accepted = part.preflight_accepted;
    j->restart_required = part.restart_required;
    rc = SF_OK;
done:
    free(pos);
    sf_exec_journal_free(&part);
    return rc;
}

static int apply_dj(sf_backup_docs *d, const char *json, size_t len,
                    sf_error *err)
{
    sf_download_journal part, *dj = d->dj;
    int rc = SF_ERR;

    if (sf_download_journal_parse(json, len, &part, err) != SF_OK)
        return sf_error_prefix(err, "download journal record: ");
    if (part.artifact_count > 1) {
        sf_error_set(err, "txlog-transition", "", "a download journal record "
                     "holds %zu artifacts, not one", part.artifact_count);
        goto done;
    }
    if (part.artifact_count == 1 &&
        part.artifacts[0].state != SF_ARTIFACT_CREATED &&
        (!*d->have_dj ||
         sf_download_journal_find(dj, part.artifacts[0].canister_id,
                                  part.artifacts[0].snapshot_id) == NULL)) {
        sf_error_set(err, "txlog-transition", "", "artifact %s is new but %s, "
                     "not Created", part.artifacts[0].canister_id
                         ? part.artifacts[0].canister_id : "null",
                     sf_artifact_state_name(part.artifacts[0].state));
        goto done;
    }
    if (!*d->have_dj) {
        *dj = part;
        *d->have_dj = true;
        return SF_OK;
    }
    if (!same(part.backup_id, dj->backup_id)) {
        sf_error_set(err, "txlog-transition", "", "the record belongs to "
                     "backup %s, not to %s",
                     part.backup_id ? part.backup_id : "null",
                     dj->backup_id ? dj->backup_id : "null");
        goto done;
    }
    if (part.artifact_count == 1 &&
        sf_download_journal_upsert(dj, &part.artifacts[0], err) != SF_OK)
        goto done;
    dj->operation_metrics = part.operation_metrics;
    rc = SF_OK;
done:
    sf_download_journal_free(&part);
    return rc;
}

static int apply_obs(sf_backup_docs *d, const char *json, size_t len,
                     sf_error *err)
{
    sf_observations part;
    int rc = SF_OK;

    if (sf_obs_parse(json, len, &part, err) != SF_OK)
        return sf_error_prefix(err, "observations record: ");
    if (part.count != 1)
        rc = sf_error_set(err, "txlog-transition", "", "an observations "
                          "record holds %zu canisters, not one", part.count);
    else
        rc = sf_obs_put(d->obs, &part.canisters[0], err);
    sf_obs_free(&part);
    return rc;
}

int sf_backup_log_apply(char tag, uint64_t arg, const char *json, size_t len,
                        sf_error *err, void *payload)
{
    sf_backup_docs *d = payload;

    switch (tag) {
    case 'X':
        return apply_exec(d, arg, json, len, err);
    case 'D':
        return apply_dj(d, json, len, err);
    default:
        return apply_obs(d, json, len, err);
    }
}

int sf_backup_log_exec(sf_runlog *l, const sf_exec_journal *j,
                       uint64_t sequence, size_t first_receipt, sf_error *err)
{
    sf_exec_journal part = *j;
    size_t pos = op_position(j, sequence);
    sf_buf b;
    int rc;

    part.operations = pos == SIZE_MAX ? NULL : &j->operations[pos];
    part.operation_count = pos == SIZE_MAX ? 0 : 1;
    part.operation_receipts = j->operation_receipts + first_receipt;
    part.receipt_count = j->receipt_count - first_receipt;
    sf_buf_init(&b);
    rc = sf_exec_journal_write_json_part(&part, &b, err);
    if (rc == SF_OK)
        rc = sf_runlog_append(l, 'X', first_receipt, &b, err);
    sf_buf_free(&b);
    return rc;
}

int sf_backup_log_dj(sf_runlog *l, const sf_download_journal *dj,
                     const sf_journal_artifact *a, sf_error *err)
{
    sf_download_journal part = *dj;
    sf_buf b;
    int rc;

    part.artifacts = (sf_journal_artifact *)a;
    part.artifact_count = a != NULL;
    sf_buf_init(&b);
    rc = sf_download_journal_write_json_part(&part, &b, err);
    if (rc == SF_OK)
        rc = sf_runlog_append(l, 'D', 0, &b, err);
    sf_buf_free(&b);
    return rc;
}

int sf_backup_log_obs(sf_runlog *l, const sf_obs_canister *c, sf_error *err)
{
    sf_observations part;
    sf_buf b;
    int rc;

    memset(&part, 0, sizeof part);
    part.canisters = (sf_obs_canister *)c;
    part.count = 1;

    sf_buf_init(&b);
    rc = sf_obs_write_json(&part, &b, err);
    if (rc == SF_OK)
        rc = sf_runlog_append(l, 'O', 0, &b, err);
    sf_buf_free(&b);
    return rc;
}

int sf_backup_log_checkpoint(sf_runlog *l, const sf_exec_journal *j,
                             const sf_download_journal *dj,
                             const sf_observations *obs, sf_error *err)
{
    sf_buf b[3];
    const sf_buf *docs[3] = {j != NULL ? &b[0] : NULL,
                             dj != NULL ? &b[1] : NULL, &b[2]};
    int rc = SF_OK;

    for (int i = 0; i < 3; i++)
        sf_buf_init(&b[i]);
    if (j != NULL)
        rc = sf_exec_journal_write_json(j, &b[0], err);
    if (rc == SF_OK && dj != NULL)
        rc = sf_download_journal_write_json(dj, &b[1], err);
    if (rc == SF_OK)
        rc = sf_obs_write_json(obs, &b[2], err);
    if (rc == SF_OK)
        rc = sf_runlog_checkpoint(l, docs, err);
    for (int i = 0; i < 3; i++)
        sf_buf_free(&b[i]);
    return rc;
}

static int present(const char *path, bool *yes, sf_error *err)
{
    sf_storage_kind kind;

    if (sf_storage_kind_of(sf_fs_storage(), path, &kind, err) != SF_OK)
        return SF_ERR;
    *yes = kind != SF_STORAGE_ABSENT;
    return SF_OK;
}

int sf_backup_state_read(const char *dir, sf_exec_journal *j, bool *have_j,
                         sf_download_journal *dj, bool *have_dj,
                         sf_error *err)
{
    return sf_backup_docs_read(dir, j, have_j, dj, have_dj, NULL, err);
}

int sf_backup_docs_read(const char *dir, sf_exec_journal *j, bool *have_j,
                        sf_download_journal *dj, bool *have_dj,
                        sf_observations *obs_out, sf_error *err)
{
    sf_observations obs;
    sf_backup_docs d = {j, have_j, dj, have_dj, &obs};
    char *jp = sf_path_join(dir, SF_EXEC_JOURNAL_FILE_NAME);
    char *dp = sf_path_join(dir, SF_DOWNLOAD_JOURNAL_FILE_NAME);
    char *op = sf_path_join(dir, SF_OBSERVATIONS_FILE_NAME);
    int rc = SF_ERR;

    memset(&obs, 0, sizeof obs);
    memset(j, 0, sizeof *j);
    sf_download_journal_init(dj);
    *have_j = *have_dj = false;
    if (jp == NULL || dp == NULL || op == NULL) {
        nomem(err);
        goto done;
    }
    if (present(jp, have_j, err) != SF_OK || present(dp, have_dj, err) != SF_OK)
        goto done;
    if (*have_j && sf_exec_journal_read_file(jp, j, err) != SF_OK) {
        *have_j = false;
        sf_error_prefix(err, "%s: ", jp);
        goto done;
    }
    if (*have_dj && sf_download_journal_read_file(dp, dj, err) != SF_OK) {
        *have_dj = false;
        sf_error_prefix(err, "%s: ", dp);
        goto done;
    }
    if (sf_obs_read_file(op, &obs, err) != SF_OK)
        goto done;
    if (sf_runlog_replay(dir, SF_TRANSITION_LOG_FILE_NAME,
                         *have_j ? j->run_id : NULL, sf_backup_log_docs, 3,
                         sf_backup_log_apply, &d, err) != SF_OK)
        goto done;
    /* the whole of each document, as a checkpoint would write it */
    if (*have_j && sf_exec_journal_validate(j, err) != SF_OK) {
        sf_error_prefix(err, "%s with its transition log replayed: ", jp);
        goto done;
    }
    if (*have_dj && sf_download_journal_validate(dj, err) != SF_OK) {
        sf_error_prefix(err, "%s with its transition log replayed: ", dp);
        goto done;
    }
    rc = SF_OK;
done:
    if (rc != SF_OK) {
        if (*have_j)
            sf_exec_journal_free(j);
        sf_download_journal_free(dj);
        *have_j = *have_dj = false;
    }
    if (rc == SF_OK && obs_out != NULL)
        *obs_out = obs;
    else
        sf_obs_free(&obs);
    free(jp);
    free(dp);
    free(op);
    return rc;
}
