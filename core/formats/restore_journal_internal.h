/*
 * What the parts of the restore apply journal share (the document,
 * its state machine, its reports): canic's error kinds and small
 * helpers. Internal to core/formats.
 */
#ifndef SF_FORMATS_RESTORE_JOURNAL_INTERNAL_H
#define SF_FORMATS_RESTORE_JOURNAL_INTERNAL_H

#include "snapfleet/error.h"
#include "snapfleet/json.h"
#include "snapfleet/restore_journal.h"
#include "snapfleet/text.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EK_UNSUPPORTED_VERSION "unsupported-version"
#define EK_MISSING_FIELD "missing-field"
#define EK_COUNT_MISMATCH "count-mismatch"
#define EK_READY_BLOCKING "ready-journal-has-blocking-state"
#define EK_DUPLICATE_SEQUENCE "duplicate-sequence"
#define EK_MISSING_SEQUENCE "missing-sequence"
#define EK_OP_MISSING_FIELD "operation-missing-field"
#define EK_UNSUPPORTED_CHECK "unsupported-verification-kind"
#define EK_BLOCKED_NO_REASON "blocked-operation-missing-reason"
#define EK_FAILURE_REASON "failure-reason-required"
#define EK_UNBLOCKED_REASONS "unblocked-operation-has-reasons"
#define EK_RECEIPT_NOT_FOUND "operation-receipt-operation-not-found"
#define EK_RECEIPT_MISMATCH "operation-receipt-mismatch"
#define EK_OPERATION_NOT_FOUND "operation-not-found"
#define EK_INVALID_TRANSITION "invalid-operation-transition"
#define EK_OUT_OF_ORDER "out-of-order-operation-transition"
#define EK_NO_TRANSITIONABLE "no-transitionable-operation"
#define EK_NO_PENDING "no-pending-operation"
#define EK_COMMAND_UNAVAILABLE "command-unavailable"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define ULL(x) ((unsigned long long)(x))
#define USIZE ((uint64_t)SIZE_MAX)

static inline int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

static inline bool str_eq(const char *a, const char *b)
{
    return a != NULL && b != NULL && strcmp(a, b) == 0;
}

/* Deep copies: the first failed allocation sets oom and the caller
 * frees what was built. */
typedef struct copier {
    int oom;
} copier;

static inline char *dup(copier *c, const char *s)
{
    return sf_strdup_opt(s, &c->oom);
}

static inline char **dup_strv(copier *c, char *const *v, size_t n,
                               size_t *count)
{
    char **out;
    size_t i;

    *count = 0;
    if (n == 0)
        return NULL;
    out = calloc(n, sizeof *out);
    if (out == NULL) {
        c->oom = 1;
        return NULL;
    }
    *count = n;
    for (i = 0; i < n; i++)
        out[i] = dup(c, v[i]);
    return out;
}

typedef struct state_counts {
    uint64_t n[5];
} state_counts;

static inline void count_ops(const sf_restore_journal *j,
                             sf_restore_op_counts *kc, state_counts *sc)
{
    size_t i;

    memset(kc, 0, sizeof *kc);
    memset(sc, 0, sizeof *sc);
    for (i = 0; i < j->operations_len; i++) {
        sf_restore_op_counts_add(kc, j->operations[i].kind);
        if ((unsigned)j->operations[i].state < 5)
            sc->n[j->operations[i].state]++;
    }
}

static inline size_t op_position(const sf_restore_journal *j,
                                 uint64_t sequence, const size_t *index)
{
    size_t i;

    if (index != NULL)
        return sequence < j->operations_len ? index[sequence] : SIZE_MAX;
    /* A journal's operations are built in sequence order: try the slot
     * first (the same answer whenever the sequences are unique, as
     * validation requires). */
    if (sequence < j->operations_len &&
        j->operations[sequence].sequence == sequence)
        return (size_t)sequence;
    for (i = 0; i < j->operations_len; i++)
        if (j->operations[i].sequence == sequence)
            return i;
    return SIZE_MAX;
}

/* Defined in restore_journal.c, used by its state machine too. */
int sf_rj_check_shape(const sf_restore_journal *j, sf_error *err);
/* What sf_restore_journal_validate checks of operation `pos` alone, and
 * of receipt `slot` alone (against its operation, and its shape); see
 * the state machine in restore_journal_ops.c for when that suffices. */
int sf_rj_check_operation(const sf_restore_journal *j, size_t pos,
                          sf_error *err);
int sf_rj_check_receipt(const sf_restore_journal *j, size_t slot,
                        sf_error *err);
int sf_rj_finish(sf_jw *w, sf_buf *out, size_t start, sf_error *err);

#endif
