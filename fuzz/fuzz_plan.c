/*
 * Fuzz target for the backup plan: whatever parses must validate without
 * crashing; a valid plan must survive write -> parse -> write with
 * identical bytes, copy to the same bytes, give an execution journal
 * (from_plan never refuses a valid plan) that is bound to it
 * (verify_execution_integrity), and write exactly when it validates.
 * Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/execjournal.h"
#include "snapfleet/plan.h"

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

/* The journal made from a valid plan is valid, bound to the plan, blocks
 * exactly the journal-mutating operations and round-trips. */
static void check_journal(const sf_plan *p)
{
    sf_exec_journal j, again;
    sf_exec_integrity_report rep;
    sf_buf first, second;
    sf_error err;
    size_t i;

    if (sf_exec_journal_from_plan(p, &j, &err) != SF_OK)
        abort();
    if (sf_verify_execution_integrity(p, &j, &rep, &err) != SF_OK ||
        !rep.verified || rep.plan_operations != p->phase_count)
        abort();
    sf_exec_integrity_report_free(&rep);
    for (i = 0; i < j.operation_count; i++)
        if ((j.operations[i].state == SF_EXEC_BLOCKED) !=
            sf_exec_kind_is_mutating(j.operations[i].kind))
            abort();
    sf_buf_init(&first);
    sf_buf_init(&second);
    if (sf_exec_journal_write_json(&j, &first, &err) != SF_OK ||
        sf_exec_journal_parse(first.data, first.len, &again, &err) != SF_OK ||
        sf_exec_journal_write_json(&again, &second, &err) != SF_OK)
        abort();
    same_or_abort(&first, &second);
    sf_exec_journal_free(&again);
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_exec_journal_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_plan p, again, copy;
    sf_buf first, second, third;
    sf_error err;
    int valid;

    if (sf_plan_parse((const char *)data, size, &p, &err) != SF_OK)
        return 0;
    valid = sf_plan_validate(&p, &err) == SF_OK;
    /* execution readiness implies planning validity */
    if (sf_plan_validate_for_execution(&p, &err) == SF_OK && !valid)
        abort();
    sf_buf_init(&first);
    sf_buf_init(&second);
    sf_buf_init(&third);
    if ((sf_plan_write_json(&p, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_plan_parse(first.data, first.len, &again, &err) != SF_OK ||
            sf_plan_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_plan_free(&again);
        if (sf_plan_copy(&copy, &p, &err) != SF_OK ||
            sf_plan_write_json(&copy, &third, &err) != SF_OK)
            abort();
        same_or_abort(&first, &third);
        sf_plan_free(&copy);
        for (size_t i = 0; i < p.target_count; i++)
            if (sf_plan_find_target(&p, p.targets[i].canister_id) != i)
                abort(); /* ids are unique in a valid plan */
        check_journal(&p);
    }
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_buf_free(&third);
    sf_plan_free(&p);
    return 0;
}
