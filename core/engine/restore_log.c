/*
 * A restore directory's records: what a transition appends for each of
 * its two documents, and how a record is checked and applied on recovery.
 * Every record is a part of its document in the document's own format,
 * so the strict readers check it field by field:
 *   'R'  the apply journal's header, the one operation that moved and the
 *        receipts appended since the last record (arg: the index of the
 *        first); the same backup id and root; the operation must exist
 *        with the same sequence, kind, source and target, and it moves
 *        through the journal's moves beside others (canic's table, and a
 *        canister's operations in order, so a run with several in flight
 *        replays: an illegal or out-of-order move is refused with canic's
 *        kind);
 *        the receipts must follow the journal's last and are checked as
 *        the journal records any receipt;
 *   'O'  one canister's observations, replacing its entry (the backup's
 *        records, backup_log.c).
 * The whole journal is validated at every checkpoint (its writer
 * validates) and after a replay on read.
 */
#include "engine/restore_log.h"

#include <stdlib.h>
#include <string.h>

#include "engine/backup_log.h"
#include "snapfleet/fs.h"
#include "snapfleet/layout.h"
#include "snapfleet/restore.h"
#include "snapfleet/storage.h"

const sf_runlog_doc sf_restore_log_docs[2] = {
    {'R', SF_RESTORE_JOURNAL_FILE_NAME},
    {'O', SF_RESTORE_OBSERVATIONS_FILE_NAME},
};

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static bool same(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

char *sf_restore_log_run_key(const sf_restore_journal *j)
{
    const char *id = j->backup_id ? j->backup_id : "";
    const char *root = j->backup_root ? j->backup_root : "";
    size_t n = strlen("restore\n") + strlen(id) + 1 + strlen(root) + 1;
    char *key = malloc(n);

    if (key != NULL)
        snprintf(key, n, "restore\n%s\n%s", id, root);
    return key;
}

/* Drops the receipts from index `from` on (a refused record's). */
static void drop_receipts(sf_restore_journal *j, size_t from)
{
    while (j->receipt_count > from)
        sf_restore_receipt_free(&j->receipts[--j->receipt_count]);
    if (j->receipt_count == 0) {
        free(j->receipts);
        j->receipts = NULL;
    }
}

/* Moves cur to op's state through the journal's moves beside others
 * (canic's table; a canister's own operations in order), which accept
 * every move canic's transitions do and the records of a run with
 * several operations in flight: several pending, completed in any order. */
static int move(sf_restore_journal *j, const sf_restore_journal_op *op,
                sf_error *err)
{
    if (op->state == SF_RESTORE_BLOCKED || sf_restore_state_name(op->state) == NULL)
        return sf_error_set(err, "txlog-transition", "", "illegal transition "
                            "of operation %llu to %s",
                            (unsigned long long)op->sequence,
                            sf_restore_state_name(op->state)
                                ? sf_restore_state_name(op->state) : "?");
    return sf_restore_journal_move_beside(
        j, op->sequence, op->state,
        op->state == SF_RESTORE_FAILED && op->blocking_reason_count == 1
            ? op->blocking_reasons[0] : NULL,
        op->state_updated_at, err);
}

static int apply_journal(sf_restore_docs *d, uint64_t arg, const char *json,
                         size_t len, sf_error *err)
{
    sf_restore_journal part, *j = d->j;
    size_t first = j->receipt_count, i;
    int rc = SF_ERR;

    if (!*d->have_j)
        return sf_error_set(err, "txlog-transition", "", "a restore apply "
                            "journal record, but no restore apply journal");
    if (sf_restore_journal_parse(json, len, &part, err) != SF_OK)
        return sf_error_prefix(err, "restore apply journal record: ");
    if (!same(part.backup_id, j->backup_id) ||
        !same(part.backup_root, j->backup_root)) {
        sf_error_set(err, "txlog-transition", "", "the record belongs to the "
                     "restore of backup %s at %s, not of %s at %s",
                     part.backup_id ? part.backup_id : "null",
                     part.backup_root ? part.backup_root : "null",
                     j->backup_id ? j->backup_id : "null",
                     j->backup_root ? j->backup_root : "null");
        goto done;
    }
    if (arg != j->receipt_count) {
        sf_error_set(err, "txlog-transition", "", "the record's receipts "
                     "start at index %llu, the journal holds %zu",
                     (unsigned long long)arg, j->receipt_count);
        goto done;
    }
    if (part.operations_len > 1) {
        sf_error_set(err, "txlog-transition", "", "a restore apply journal "
                     "record holds %zu operations, not one",
                     part.operations_len);
        goto done;
    }
    if (part.operations_len == 1) {
        const sf_restore_journal_op *op = &part.operations[0];
        const sf_restore_journal_op *cur = sf_restore_journal_find(j, op->sequence);

        if (cur == NULL) {
            sf_error_set(err, "txlog-transition", "", "operation %llu is not "
                         "in the journal", (unsigned long long)op->sequence);
            goto done;
        }
        if (cur->kind != op->kind ||
            !same(cur->source_canister, op->source_canister) ||
            !same(cur->target_canister, op->target_canister)) {
            sf_error_set(err, "txlog-transition", "", "operation %llu differs "
                         "from the journal's (kind, source or target)",
                         (unsigned long long)op->sequence);
            goto done;
        }
    }
    /* the receipts first (each checked against its operation, which a
     * state does not change), then the move; a refusal takes back both */
    for (i = 0; i < part.receipt_count; i++)
        if (sf_restore_journal_record_receipt(j, &part.receipts[i], err) !=
            SF_OK) {
            drop_receipts(j, first);
            goto done;
        }
    if (part.operations_len == 1) {
        const sf_restore_journal_op *op = &part.operations[0];
        const sf_restore_journal_op *cur = sf_restore_journal_find(j, op->sequence);

        if ((cur->state != op->state ||
             !same(cur->state_updated_at, op->state_updated_at)) &&
            move(j, op, err) != SF_OK) {
            drop_receipts(j, first);
            goto done;
        }
    }
    rc = SF_OK;
done:
    sf_restore_journal_free(&part);
    return rc;
}

int sf_restore_log_apply(char tag, uint64_t arg, const char *json, size_t len,
                         sf_error *err, void *payload)
{
    sf_restore_docs *d = payload;

    if (tag == 'R')
        return apply_journal(d, arg, json, len, err);
    {
        /* the observations records are a backup's */
        bool none = false;
        sf_backup_docs b = {NULL, &none, NULL, &none, d->obs};

        return sf_backup_log_apply('O', arg, json, len, err, &b);
    }
}

int sf_restore_log_journal(sf_runlog *l, const sf_restore_journal *j,
                           uint64_t sequence, size_t first_receipt,
                           sf_error *err)
{
    sf_restore_journal part = *j;
    sf_restore_journal_op *op = sf_restore_journal_find(j, sequence);
    sf_buf b;
    int rc;

    part.operations = op;
    part.operations_len = op != NULL;
    part.receipts = j->receipt_count > first_receipt
                        ? j->receipts + first_receipt : NULL;
    part.receipt_count = j->receipt_count - first_receipt;
    sf_buf_init(&b);
    rc = sf_restore_journal_write_json_part(&part, &b, err);
    if (rc == SF_OK)
        rc = sf_runlog_append(l, 'R', first_receipt, &b, err);
    sf_buf_free(&b);
    return rc;
}

int sf_restore_log_checkpoint(sf_runlog *l, const sf_restore_journal *j,
                              const sf_observations *obs, sf_error *err)
{
    sf_buf b[2];
    const sf_buf *docs[2] = {&b[0], &b[1]};
    int rc;

    sf_buf_init(&b[0]);
    sf_buf_init(&b[1]);
    rc = sf_restore_journal_write_json(j, &b[0], err);
    if (rc == SF_OK)
        rc = sf_obs_write_json(obs, &b[1], err);
    if (rc == SF_OK)
        rc = sf_runlog_checkpoint(l, docs, err);
    sf_buf_free(&b[0]);
    sf_buf_free(&b[1]);
    return rc;
}

int sf_restore_docs_read(const char *dir, sf_restore_journal *j,
                         sf_observations *obs, sf_error *err)
{
    bool have_j = false;
    sf_restore_docs d = {j, &have_j, obs};
    char *jp = sf_path_join(dir, SF_RESTORE_JOURNAL_FILE_NAME);
    char *op = sf_path_join(dir, SF_RESTORE_OBSERVATIONS_FILE_NAME);
    char *key = NULL;
    int rc = SF_ERR;

    memset(j, 0, sizeof *j);
    memset(obs, 0, sizeof *obs);
    if (jp == NULL || op == NULL) {
        nomem(err);
        goto done;
    }
    if (sf_restore_journal_read_file(jp, j, err) != SF_OK) {
        sf_error_prefix(err, "%s: ", jp);
        goto done;
    }
    have_j = true;
    if (sf_obs_read_file(op, obs, err) != SF_OK)
        goto done;
    if ((key = sf_restore_log_run_key(j)) == NULL) {
        nomem(err);
        goto done;
    }
    if (sf_runlog_replay(dir, SF_TRANSITION_LOG_FILE_NAME, key,
                         sf_restore_log_docs, 2, sf_restore_log_apply, &d,
                         err) != SF_OK)
        goto done;
    /* the whole journal, as a checkpoint would write it */
    if (sf_restore_journal_validate(j, err) != SF_OK) {
        sf_error_prefix(err, "%s with its transition log replayed: ", jp);
        goto done;
    }
    rc = SF_OK;
done:
    if (rc != SF_OK) {
        if (have_j)
            sf_restore_journal_free(j);
        sf_obs_free(obs);
        memset(j, 0, sizeof *j);
    }
    free(key);
    free(jp);
    free(op);
    return rc;
}
