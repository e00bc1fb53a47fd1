/*
 * Fuzz target for the restore apply journal: whatever parses must validate
 * without crashing; a valid journal must survive write -> parse -> write
 * with identical bytes. Then the state machine runs on a copy, steered by
 * the input's last byte (canic's transitions and snapfleet's moves beside
 * others): after every successful transition or receipt the
 * journal is still valid and its counters are what the operations say;
 * after every refused one it is byte for byte what it was (all or
 * nothing). Reports, command specs and the preview must never crash and
 * must agree with the journal. Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/restore_journal.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

static void snapshot(const sf_restore_journal *j, sf_buf *out)
{
    sf_error err;

    sf_buf_reset(out);
    if (sf_restore_journal_write_json(j, out, &err) != SF_OK)
        abort(); /* only called on valid journals */
}

static void check_report(const sf_restore_journal *j)
{
    sf_restore_report r;
    const sf_restore_journal_op *next = sf_restore_journal_next_transition(j);
    sf_restore_command_spec spec;
    sf_error err;
    sf_buf b;

    sf_restore_journal_report(j, &r);
    if (r.pending_operations + r.ready_operations + r.blocked_operations +
            r.completed_operations + r.failed_operations !=
        r.operation_count)
        abort();
    if ((r.next_transition == NULL) !=
        (r.ready_operations + r.pending_operations + r.failed_operations ==
         0))
        abort();
    if (r.complete != (r.operation_count > 0 &&
                       r.completed_operations == r.operation_count))
        abort();
    if (r.progress.completion_basis_points > 10000)
        abort();
    if (sf_restore_report_next_action(&r) == NULL ||
        sf_restore_report_stopped_reason(&r, false, false) == NULL)
        abort();
    sf_buf_init(&b);
    if (sf_restore_report_write_json(&r, &b, &err) != SF_OK ||
        sf_restore_command_preview_write_json(j, NULL, &b, &err) != SF_OK)
        abort();
    sf_buf_free(&b);
    if (next != NULL) {
        if (sf_restore_journal_command_spec(j, next->sequence, &spec,
                                            &err) == SF_OK) {
            if (spec.kind != next->kind || spec.note == NULL ||
                spec.target_canister == NULL ||
                (spec.kind == SF_RESTORE_OP_LOAD_SNAPSHOT &&
                 (spec.snapshot_id == NULL ||
                  !spec.requires_stopped_canister)))
                abort();
            sf_restore_command_spec_free(&spec);
        } else if (strcmp(err.kind, "command-unavailable") != 0) {
            abort();
        }
    }
}

static int record(sf_restore_journal *j, unsigned choice)
{
    const sf_restore_journal_op *op = sf_restore_journal_next_transition(j);
    sf_restore_receipt r;
    sf_error err;
    int rc;

    if (op == NULL)
        op = j->operations_len > 0 ? &j->operations[0] : NULL;
    if (op == NULL)
        return SF_ERR;
    if (sf_restore_receipt_init(&r, op,
                                (choice & 16) ? SF_RESTORE_COMMAND_FAILED
                                              : SF_RESTORE_COMMAND_COMPLETED,
                                sf_restore_journal_attempt(j, op->sequence),
                                "unix:5", &err) != SF_OK)
        abort();
    r.status = strdup("0");
    if (choice & 32)
        r.uploaded_snapshot_id = strdup("uploaded-fuzz");
    if (choice & 64)
        r.failure_reason = strdup("runner-command-exit-1");
    if (choice & 128)
        r.sequence += 1;
    rc = sf_restore_journal_record_receipt(j, &r, &err);
    sf_restore_receipt_free(&r);
    return rc;
}

/* One transition chosen by `choice`; returns its result. With bit 128,
 * choices 2 to 6 are snapfleet's moves beside others to the same state
 * (any operation, a canister's own in order). */
static int transition(sf_restore_journal *j, unsigned choice, unsigned step)
{
    static const sf_restore_state beside_to[8] = {
        SF_RESTORE_READY, SF_RESTORE_READY, SF_RESTORE_PENDING,
        SF_RESTORE_COMPLETED, SF_RESTORE_FAILED, SF_RESTORE_READY,
        SF_RESTORE_READY, SF_RESTORE_READY};
    const sf_restore_journal_op *next = sf_restore_journal_next_transition(j);
    uint64_t seq = (choice & 8) && next ? next->sequence : step % 8;
    const char *marker = (choice & 64) ? NULL : "unix:7";
    sf_error err;

    if ((choice & 128) && choice % 8 >= 2 && choice % 8 <= 6)
        return sf_restore_journal_move_beside(
            j, seq, beside_to[choice % 8],
            (choice & 16) ? "runner-command-exit-1" : " ", marker, &err);
    switch (choice % 8) {
    case 0:
        return sf_restore_journal_mark_next_pending(j, marker, &err);
    case 1:
        return sf_restore_journal_mark_next_ready(j, marker, &err);
    case 2:
        return sf_restore_journal_mark_pending(j, seq, marker, &err);
    case 3:
        return sf_restore_journal_mark_completed(j, seq, marker, &err);
    case 4:
        return sf_restore_journal_mark_failed(
            j, seq, (choice & 16) ? "runner-command-exit-1" : " ", marker,
            &err);
    case 5:
        return sf_restore_journal_retry_failed(j, seq, marker, &err);
    case 6:
        return sf_restore_journal_mark_ready(
            j, seq, (choice & 32) ? " " : marker, &err);
    default:
        return record(j, choice);
    }
}

static void run_state_machine(sf_restore_journal *j, unsigned seed)
{
    sf_buf before, after;
    sf_error err;
    unsigned step;

    sf_buf_init(&before);
    sf_buf_init(&after);
    for (step = 0; step < 48; step++) {
        unsigned choice = (seed >> (step % 8)) + step * 13u;
        int rc;

        snapshot(j, &before);
        rc = transition(j, choice, step);
        if (rc == SF_OK) {
            if (sf_restore_journal_validate(j, &err) != SF_OK)
                abort();
            check_report(j);
        } else {
            snapshot(j, &after);
            same_or_abort(&before, &after);
        }
    }
    sf_buf_free(&before);
    sf_buf_free(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_restore_journal j, again, copy;
    sf_buf first, second;
    sf_error err;
    int valid;

    if (sf_restore_journal_parse((const char *)data, size, &j, &err) !=
        SF_OK)
        return 0;
    valid = sf_restore_journal_validate(&j, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    if ((sf_restore_journal_write_json(&j, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_restore_journal_parse(first.data, first.len, &again, &err) !=
                SF_OK ||
            sf_restore_journal_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_restore_journal_free(&again);
        check_report(&j);
        if (sf_restore_journal_copy(&copy, &j, &err) != SF_OK)
            abort();
        run_state_machine(&copy, size > 0 ? data[size - 1] : 0);
        sf_restore_journal_free(&copy);
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_restore_journal_free(&j);
    return 0;
}
