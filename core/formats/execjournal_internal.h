/*
 * What the two halves of the backup execution journal share: canic's
 * error kinds, the field checks, the operation lookup and two writer
 * helpers. Internal to core/formats.
 */
#ifndef SF_FORMATS_EXECJOURNAL_INTERNAL_H
#define SF_FORMATS_EXECJOURNAL_INTERNAL_H

#include "base/posmap.h"
#include "snapfleet/error.h"
#include "snapfleet/execjournal.h"
#include "snapfleet/json.h"
#include "snapfleet/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define EK_INVALID_PLAN "invalid-plan"
#define EK_UNSUPPORTED_VERSION "unsupported-version"
#define EK_MISSING_FIELD "missing-field"
#define EK_DUPLICATE_SEQUENCE "duplicate-sequence"
#define EK_MISSING_SEQUENCE "missing-sequence"
#define EK_ACCEPTED_MISSING_ID "accepted-preflight-missing-id"
#define EK_ALREADY_ACCEPTED "preflight-already-accepted"
#define EK_PREFLIGHT_PLAN_MISMATCH "preflight-plan-mismatch"
#define EK_MUTATION_READY "mutation-ready-before-preflight"
#define EK_MUTATION_BEFORE_ACCEPTED "mutation-before-preflight-accepted"
#define EK_MISSING_REASON "operation-missing-reason"
#define EK_UNBLOCKED_REASONS "unblocked-operation-has-reasons"
#define EK_OPERATION_NOT_FOUND "operation-not-found"
#define EK_INVALID_TRANSITION "invalid-operation-transition"
#define EK_OUT_OF_ORDER "out-of-order-operation-transition"
#define EK_NO_TRANSITIONABLE "no-transitionable-operation"
#define EK_NOT_FAILED "operation-not-failed"
#define EK_RECEIPT_NOT_FOUND "receipt-operation-not-found"
#define EK_RECEIPT_OP_MISMATCH "receipt-operation-mismatch"
#define EK_RECEIPT_JOURNAL_MISMATCH "receipt-journal-mismatch"
#define EK_RECEIPT_PREFLIGHT_MISMATCH "receipt-preflight-mismatch"
#define EK_RECEIPT_NOT_PENDING "receipt-without-pending-operation"
#define EK_PLAN_JOURNAL_MISMATCH "plan-journal-mismatch"
#define EK_PLAN_JOURNAL_OP_MISMATCH "plan-journal-operation-mismatch"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ULL(x) ((unsigned long long)(x))

static inline int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static inline bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

static inline int required(const char *name, const char *field,
                           const char *value, sf_error *err)
{
    if (sf_str_is_blank(value))
        return sf_error_set(err, EK_MISSING_FIELD, field,
                            "backup execution journal field %s is required",
                            name);
    return SF_OK;
}

static inline int optional(const char *name, const char *field,
                           const char *value, sf_error *err)
{
    return value == NULL ? SF_OK : required(name, field, value, err);
}

/* The journal's index (sf_exec_journal_index), execjournal_index.c. */
struct sf_exec_index {
    /* what it was built for: used only while these are the journal's */
    const sf_exec_operation *ops;
    size_t op_count;
    size_t *pos;        /* sequence -> array position */
    size_t cursor;      /* no sequence below is ready, pending or failed */
    size_t states[6];   /* operations in each sf_exec_state */
    size_t stops_completed, starts_open;
    sf_posmap snaps;    /* target -> its latest create-snapshot receipt */
    size_t receipts_seen;
};

static inline const struct sf_exec_index *live_index(const sf_exec_journal *j)
{
    const struct sf_exec_index *x = j->index;

    return x != NULL && x->ops == j->operations &&
                   x->op_count == j->operation_count
               ? x : NULL;
}

/* The index's bookkeeping of operation pos moving from state `from` to
 * its current state (execjournal_index.c); nothing when there is none. */
void sf_execj_index_moved(sf_exec_journal *j, size_t pos, sf_exec_state from);
/* next_ready through a live index (live_index(j) != NULL). */
sf_exec_operation *sf_execj_index_next(const sf_exec_journal *j);

/* The first operation with this sequence: through `index` (sequence ->
 * array position, valid once the sequences are known to be 0..n-1) when
 * given, else through the journal's index, else by a scan. */
static inline size_t operation_position(const sf_exec_journal *j,
                                        uint64_t sequence,
                                        const size_t *index)
{
    const struct sf_exec_index *x = live_index(j);
    size_t i;

    if (index == NULL && x != NULL)
        index = x->pos;
    if (index != NULL)
        return sequence < j->operation_count ? index[sequence] : SIZE_MAX;
    for (i = 0; i < j->operation_count; i++)
        if (j->operations[i].sequence == sequence)
            return i;
    return SIZE_MAX;
}

/* canic's check that the sequences are exactly 0..n-1; on success
 * *index_out (malloc'd) maps each sequence to its array position. */
int sf_execj_check_sequences(const sf_exec_journal *j, size_t **index_out,
                             sf_error *err);

/* canic's checks of operation i alone (the part of the journal's
 * validation that one operation's state can change). */
int sf_execj_check_operation(const sf_exec_journal *j, size_t i,
                             sf_error *err);

/* Defined in execjournal.c; the resume summary writes operations too. */
void sf_execj_write_operation(sf_jw *w, const sf_exec_operation *op);
int sf_execj_finish_into(sf_jw *w, sf_buf *tmp, sf_buf *out, sf_error *err);

#endif
