/*
 * Fuzz target for the download journal: whatever parses must validate
 * without crashing; a valid journal must survive write -> parse -> write
 * with identical bytes, and its resume report and table must build. The
 * state machine is exercised on every entry. Everything is freed: a leak
 * is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/journal.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

/* Every transition is allowed exactly when it does not go back. */
static void check_transitions(const sf_download_journal *j)
{
    sf_error err;
    size_t i;
    int to;

    for (i = 0; i < j->artifact_count && i < 4; i++) {
        for (to = 0; to < 4; to++) {
            sf_journal_artifact a;
            int rc;

            if (sf_journal_artifact_copy(&a, &j->artifacts[i], &err) != SF_OK)
                abort();
            rc = sf_artifact_advance_to(&a, (sf_artifact_state)to, "unix:0",
                                        &err);
            if ((rc == SF_OK) != ((int)j->artifacts[i].state <= to))
                abort();
            if (a.state != (rc == SF_OK ? (sf_artifact_state)to
                                        : j->artifacts[i].state))
                abort();
            sf_journal_artifact_free(&a);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_download_journal j, again;
    sf_journal_resume_summary s;
    sf_buf first, second, report;
    sf_error err;
    int valid;

    if (sf_download_journal_parse((const char *)data, size, &j, &err) != SF_OK)
        return 0;
    valid = sf_download_journal_validate(&j, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    sf_buf_init(&report);
    /* write_json validates first, so it succeeds exactly for valid values */
    if ((sf_download_journal_write_json(&j, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_download_journal_parse(first.data, first.len, &again, &err) !=
            SF_OK)
            abort();
        if (sf_download_journal_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_download_journal_free(&again);

        if (sf_download_journal_resume_report_json(&j, &report, &err) != SF_OK)
            abort();
        sf_buf_reset(&report);
        if (sf_download_journal_resume_table(&j, &report, &err) != SF_OK)
            abort();
        sf_download_journal_resume_summary(&j, &s);
        if (s.total_artifacts != j.artifact_count ||
            s.pending_artifacts + s.counts.skip != s.total_artifacts ||
            s.is_complete != (s.pending_artifacts == 0) ||
            s.counts.created + s.counts.downloaded +
                    s.counts.checksum_verified + s.counts.durable !=
                s.total_artifacts)
            abort();
        /* every entry is found under its own key */
        for (size_t i = 0; i < j.artifact_count; i++)
            if (sf_download_journal_find(&j, j.artifacts[i].canister_id,
                                         j.artifacts[i].snapshot_id) !=
                &j.artifacts[i])
                abort();
        check_transitions(&j);
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_buf_free(&report);
    sf_download_journal_free(&j);
    return 0;
}
