/*
 * Fuzz target for the restore plan: whatever parses must validate without
 * crashing; a valid plan must survive write -> parse -> write with
 * identical bytes, and the dry-run and initial journal made from it must
 * be valid documents whose counts agree with the plan. Everything is
 * freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/restore_journal.h"
#include "snapfleet/restore_plan.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

/* Plan -> dry-run (no backup directory) -> journal. */
static void apply(const sf_restore_plan *p)
{
    sf_restore_dry_run d;
    sf_restore_journal j;
    sf_buf b;
    sf_error err;
    size_t i, checks = 0;

    if (sf_restore_dry_run_build(p, NULL, &d, &err) != SF_OK)
        abort(); /* the plan validated */
    for (i = 0; i < p->members_len; i++)
        checks += p->members[i].verification_check_count;
    if (d.operations_len !=
        4 * p->members_len + checks + p->fleet_verification_check_count)
        abort();
    for (i = 0; i < d.operations_len; i++)
        if (d.operations[i].sequence != i)
            abort();
    sf_buf_init(&b);
    if (sf_restore_dry_run_write_json(&d, &b, &err) != SF_OK)
        abort();
    /* The journal may be refused only for what its validation adds to
     * the plan's: verification kinds other than "status". */
    if (sf_restore_journal_from_dry_run(&d, &j, &err) == SF_OK) {
        if (j.ready || j.blocked_reason_count == 0 ||
            j.operation_count != d.operations_len)
            abort(); /* no artifact validation: always blocked */
        sf_buf_reset(&b);
        if (sf_restore_journal_write_json(&j, &b, &err) != SF_OK)
            abort();
        sf_restore_journal_free(&j);
    } else if (strcmp(err.kind, "unsupported-verification-kind") != 0) {
        abort();
    }
    sf_buf_free(&b);
    sf_restore_dry_run_free(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_restore_plan p, again;
    sf_buf first, second;
    sf_error err;
    int valid;

    if (sf_restore_plan_parse((const char *)data, size, &p, &err) != SF_OK)
        return 0;
    valid = sf_restore_plan_validate(&p, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    if ((sf_restore_plan_write_json(&p, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_restore_plan_parse(first.data, first.len, &again, &err) !=
                SF_OK ||
            sf_restore_plan_validate(&again, &err) != SF_OK ||
            sf_restore_plan_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_restore_plan_free(&again);
        apply(&p);
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_restore_plan_free(&p);
    return 0;
}
