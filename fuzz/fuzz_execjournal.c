/*
 * Fuzz target for the backup execution journal: whatever parses must
 * validate without crashing; a valid journal must survive write -> parse
 * -> write with identical bytes and give a consistent resume summary.
 * Then the state machine runs on it, steered by the input's last byte:
 * after every successful transition the journal is still valid and
 * restart_required is what the operations say; after every refused one
 * the journal is byte for byte what it was (transitions are all or
 * nothing). Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/execjournal.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

static void snapshot(const sf_exec_journal *j, sf_buf *out)
{
    sf_error err;

    sf_buf_reset(out);
    if (sf_exec_journal_write_json(j, out, &err) != SF_OK)
        abort(); /* only called on valid journals */
}

static void check_summary(const sf_exec_journal *j)
{
    sf_exec_resume_summary s;
    sf_buf b;
    sf_error err;

    sf_exec_journal_resume_summary(j, &s);
    if (s.ready_operations + s.pending_operations + s.blocked_operations +
            s.completed_operations + s.failed_operations +
            s.skipped_operations !=
        s.total_operations)
        abort();
    if ((s.next_operation == NULL) !=
        (s.ready_operations + s.pending_operations + s.failed_operations == 0))
        abort();
    sf_buf_init(&b);
    if (sf_exec_journal_resume_summary_json(j, &b, &err) != SF_OK)
        abort();
    sf_buf_free(&b);
}

/* One transition chosen by `choice`; returns its result. */
static int transition(sf_exec_journal *j, unsigned choice, unsigned step)
{
    sf_exec_operation *next = sf_exec_journal_next_ready(j);
    sf_exec_receipt r;
    sf_error err;
    int rc;

    switch (choice % 6) {
    case 0:
        return sf_exec_journal_accept_preflight_at(
            j, (choice & 8) ? "pf-fuzz" : "pf-other", "unix:1", &err);
    case 1:
        return sf_exec_journal_mark_next_pending_at(j, "unix:2", &err);
    case 2:
        return sf_exec_journal_mark_pending_at(j, step, NULL, &err);
    case 3:
        return sf_exec_journal_retry_failed_at(j, next ? next->sequence : 0,
                                               "unix:3", &err);
    default:
        if (next == NULL)
            return SF_ERR;
        if (sf_exec_receipt_completed(j, next, "unix:4", &r, &err) != SF_OK)
            abort();
        switch ((choice >> 4) % 4) {
        case 0: /* completed with its payload */
            r.snapshot_id = strdup("snap");
            r.artifact_path = strdup("artifact");
            r.checksum = strdup("sum");
            break;
        case 1:
            r.outcome = SF_EXEC_OUTCOME_FAILED;
            r.failure_reason = strdup("boom");
            break;
        case 2:
            r.outcome = SF_EXEC_OUTCOME_SKIPPED;
            break;
        default: /* completed with a reason: always refused */
            r.failure_reason = strdup("");
            break;
        }
        rc = sf_exec_journal_record_receipt(j, &r, &err);
        sf_exec_receipt_free(&r);
        return rc;
    }
}

static void run_state_machine(sf_exec_journal *j, unsigned seed)
{
    sf_buf before, after;
    sf_error err;
    unsigned step;

    sf_buf_init(&before);
    sf_buf_init(&after);
    /* `before` is the journal's bytes before each step: taken again only
     * after a transition that succeeded, since a refused one must leave
     * the bytes as they were, which the step checks (the same oracle with
     * one JSON write a refused step instead of two). */
    snapshot(j, &before);
    for (step = 0; step < 48; step++) {
        unsigned choice = (seed >> (step % 8)) + step * 7u;
        int rc;

        rc = transition(j, choice, step);
        if (rc == SF_OK) {
            if (sf_exec_journal_validate(j, &err) != SF_OK ||
                j->restart_required !=
                    sf_exec_journal_compute_restart_required(j))
                abort();
            check_summary(j);
            snapshot(j, &before);
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
    sf_exec_journal j, again, copy;
    sf_buf first, second;
    sf_error err;
    int valid;

    if (sf_exec_journal_parse((const char *)data, size, &j, &err) != SF_OK)
        return 0;
    valid = sf_exec_journal_validate(&j, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    if ((sf_exec_journal_write_json(&j, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_exec_journal_parse(first.data, first.len, &again, &err) !=
                SF_OK ||
            sf_exec_journal_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_exec_journal_free(&again);
        check_summary(&j);
        if (sf_exec_journal_copy(&copy, &j, &err) != SF_OK)
            abort();
        run_state_machine(&copy, size > 0 ? data[size - 1] : 0);
        sf_exec_journal_free(&copy);
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_exec_journal_free(&j);
    return 0;
}
