/*
 * The execution journal's index (snapfleet/execjournal.h,
 * sf_exec_journal_index): what makes a runner's lookups and counts O(1)
 * per transition instead of a scan of every operation or receipt.
 */
#include "snapfleet/execjournal.h"
#include "formats/execjournal_internal.h"

#include <stdlib.h>
#include <string.h>

#define STATES 6

static bool in_play(sf_exec_state s)
{
    return s == SF_EXEC_READY || s == SF_EXEC_PENDING || s == SF_EXEC_FAILED;
}

static bool open_start(const sf_exec_operation *op, sf_exec_state s)
{
    return op->kind == SF_PHASE_START && s != SF_EXEC_COMPLETED &&
           s != SF_EXEC_SKIPPED;
}

static bool completed_stop(const sf_exec_operation *op, sf_exec_state s)
{
    return op->kind == SF_PHASE_STOP && s == SF_EXEC_COMPLETED;
}

/* Operation op in state s counted in (+1) or out (-1). */
static void count(struct sf_exec_index *x, const sf_exec_operation *op,
                  sf_exec_state s, int dir)
{
    if ((unsigned)s < STATES)
        x->states[s] += (size_t)dir;
    x->stops_completed += (size_t)(completed_stop(op, s) ? dir : 0);
    x->starts_open += (size_t)(open_start(op, s) ? dir : 0);
}

void sf_exec_journal_drop_index(sf_exec_journal *j)
{
    if (j->index == NULL)
        return;
    free(j->index->pos);
    sf_posmap_free(&j->index->snaps);
    free(j->index);
    j->index = NULL;
}

int sf_exec_journal_index(sf_exec_journal *j, sf_error *err)
{
    struct sf_exec_index *x;
    size_t *pos = NULL, i;

    sf_exec_journal_drop_index(j);
    if (sf_execj_check_sequences(j, &pos, err) != SF_OK)
        return SF_ERR;
    if ((x = calloc(1, sizeof *x)) == NULL) {
        free(pos);
        return nomem(err);
    }
    x->ops = j->operations;
    x->op_count = j->operation_count;
    x->pos = pos;
    for (i = 0; i < j->operation_count; i++)
        count(x, &j->operations[i], j->operations[i].state, 1);
    j->index = x;
    return SF_OK;
}

bool sf_exec_journal_has_index(const sf_exec_journal *j)
{
    return live_index(j) != NULL;
}

void sf_execj_index_moved(sf_exec_journal *j, size_t pos, sf_exec_state from)
{
    struct sf_exec_index *x = j->index;
    const sf_exec_operation *op = &j->operations[pos];

    if (live_index(j) == NULL)
        return;
    count(x, op, from, -1);
    count(x, op, op->state, 1);
    /* not made by a transition, but kept true: the cursor never passes
     * an operation in play */
    if (in_play(op->state) && op->sequence < x->cursor)
        x->cursor = (size_t)op->sequence;
}

/* ---- the answers (execjournal_ops.c asks these first) ---- */

sf_exec_operation *sf_execj_index_next(const sf_exec_journal *j)
{
    struct sf_exec_index *x = j->index;

    while (x->cursor < j->operation_count) {
        sf_exec_operation *op = &j->operations[x->pos[x->cursor]];

        if (in_play(op->state))
            return op;
        x->cursor++;
    }
    return NULL;
}

static bool is_snapshot(const sf_exec_receipt *r)
{
    return r->kind == SF_PHASE_CREATE_SNAPSHOT && r->snapshot_id != NULL &&
           r->target_canister_id != NULL;
}

static const sf_exec_receipt *latest_by_scan(const sf_exec_journal *j,
                                             const char *id)
{
    size_t i = j->receipt_count;

    while (i-- > 0) {
        const sf_exec_receipt *r = &j->operation_receipts[i];

        if (is_snapshot(r) && strcmp(r->target_canister_id, id) == 0)
            return r;
    }
    return NULL;
}

/* The slot of id's entry (*cursor for sf_posmap_set), SIZE_MAX if none. */
static size_t snap_entry(const sf_exec_journal *j, const char *id,
                         uint64_t h, size_t *cursor)
{
    const struct sf_exec_index *x = j->index;
    size_t p;

    *cursor = 0;
    while ((p = sf_posmap_next(&x->snaps, h, cursor)) != SIZE_MAX)
        if (p < j->receipt_count &&
            j->operation_receipts[p].target_canister_id != NULL &&
            strcmp(j->operation_receipts[p].target_canister_id, id) == 0)
            return p;
    return SIZE_MAX;
}

/* Takes the receipts appended since the last call into the map (they
 * are an append-only history; fewer than seen means one was taken back:
 * the map starts again). false when out of memory. */
static bool catch_up(const sf_exec_journal *j)
{
    struct sf_exec_index *x = j->index;
    size_t i, cursor;

    if (x->receipts_seen > j->receipt_count) {
        sf_posmap_free(&x->snaps);
        x->receipts_seen = 0;
    }
    for (i = x->receipts_seen; i < j->receipt_count; i++) {
        const sf_exec_receipt *r = &j->operation_receipts[i];
        uint64_t h;

        if (!is_snapshot(r))
            continue;
        h = sf_posmap_hash(r->target_canister_id, NULL);
        if (snap_entry(j, r->target_canister_id, h, &cursor) != SIZE_MAX) {
            sf_posmap_set(&x->snaps, h, cursor, i);
        } else if (!sf_posmap_insert(&x->snaps, h, i)) {
            x->receipts_seen = i;
            return false;
        }
    }
    x->receipts_seen = j->receipt_count;
    return true;
}

const sf_exec_receipt *sf_exec_journal_latest_snapshot(const sf_exec_journal *j,
                                                       const char *canister_id)
{
    size_t p, cursor;

    if (canister_id == NULL)
        return NULL;
    if (live_index(j) == NULL || !catch_up(j))
        return latest_by_scan(j, canister_id);
    p = snap_entry(j, canister_id, sf_posmap_hash(canister_id, NULL), &cursor);
    if (p == SIZE_MAX)
        return NULL;
    /* a receipt taken back and another put in its place */
    if (!is_snapshot(&j->operation_receipts[p]))
        return latest_by_scan(j, canister_id);
    return &j->operation_receipts[p];
}

bool sf_exec_journal_index_consistent(const sf_exec_journal *j)
{
    const struct sf_exec_index *x = live_index(j);
    sf_exec_journal plain = *j;
    sf_exec_resume_summary a, b;
    size_t i;

    if (x == NULL)
        return true; /* the scans answer */
    plain.index = NULL;
    for (i = 0; i < j->operation_count; i++)
        if (x->pos[j->operations[i].sequence] != i)
            return false;
    for (i = 0; i < x->cursor && i < j->operation_count; i++)
        if (in_play(j->operations[x->pos[i]].state))
            return false;
    sf_exec_journal_resume_summary(j, &a);
    sf_exec_journal_resume_summary(&plain, &b);
    if (a.next_operation != b.next_operation ||
        a.ready_operations != b.ready_operations ||
        a.pending_operations != b.pending_operations ||
        a.blocked_operations != b.blocked_operations ||
        a.completed_operations != b.completed_operations ||
        a.failed_operations != b.failed_operations ||
        a.skipped_operations != b.skipped_operations ||
        a.total_operations != b.total_operations ||
        sf_exec_journal_compute_restart_required(j) !=
            sf_exec_journal_compute_restart_required(&plain))
        return false;
    for (i = 0; i < j->receipt_count; i++) {
        const char *id = j->operation_receipts[i].target_canister_id;

        if (id != NULL && sf_exec_journal_latest_snapshot(j, id) !=
                              sf_exec_journal_latest_snapshot(&plain, id))
            return false;
    }
    return true;
}
