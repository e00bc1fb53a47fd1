/*
 * Fault plan parser consistency. The input is used twice:
 *   as plan text: parsing must either fail with "invalid-fault-plan" and a
 *     message, or succeed; then the canonical text must parse to an equal
 *     plan whose canonical text is the same bytes (a fixed point);
 *   its first 8 bytes as a seed: the random plan must format to text that
 *     parses back to an equal plan, and the same seed must give the same
 *     plan twice.
 * Any inconsistency aborts so libFuzzer records the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/faults.h"

static const char *const ids[] = {
    "renrk-eyaaa-aaaaa-aaada-cai",
    "rno2w-sqaaa-aaaaa-aaacq-cai",
    "aaaaa-aa",
};

/* Formats p, parses the text, checks equality; returns the text. */
static char *round_trip(const sf_fault_plan *p)
{
    sf_fault_plan *q = NULL;
    sf_buf b;
    char *text, *again;

    sf_buf_init(&b);
    if (sf_fault_plan_format(p, &b) != SF_OK)
        abort();
    text = sf_buf_detach(&b);
    if (text == NULL || sf_fault_plan_parse(text, &q, NULL) != SF_OK ||
        !sf_fault_plan_equal(p, q) || !sf_fault_plan_equal(q, p))
        abort();
    if (sf_fault_plan_format(q, &b) != SF_OK)
        abort();
    again = sf_buf_detach(&b);
    if (again == NULL || strcmp(text, again) != 0)
        abort();
    free(again);
    sf_fault_plan_free(q);
    return text;
}

static void check_text(const uint8_t *data, size_t size)
{
    sf_fault_plan *p = NULL;
    sf_error err;
    char *spec;

    /* A C string ends at the first NUL; such inputs say nothing new. */
    if (memchr(data, 0, size) != NULL)
        return;
    spec = malloc(size + 1);
    if (spec == NULL)
        return;
    memcpy(spec, data, size);
    spec[size] = '\0';
    sf_error_clear(&err);
    if (sf_fault_plan_parse(spec, &p, &err) != SF_OK) {
        if (p != NULL || err.kind == NULL ||
            strcmp(err.kind, SF_EK_INVALID_FAULT_PLAN) != 0 ||
            err.message[0] == '\0' || strncmp(err.field, "faults[", 7) != 0)
            abort();
    } else {
        free(round_trip(p));
        sf_fault_plan_free(p);
    }
    free(spec);
}

static void check_random(const uint8_t *data, size_t size)
{
    sf_fault_plan *p = NULL, *q = NULL;
    uint64_t seed = 0;
    size_t n;

    if (size < 8)
        return;
    memcpy(&seed, data, 8);
    n = size > 8 ? data[8] % 4 : 3;
    if (sf_fault_plan_random(seed, ids, n, &p, NULL) != SF_OK ||
        sf_fault_plan_random(seed, ids, n, &q, NULL) != SF_OK ||
        !sf_fault_plan_equal(p, q) || sf_fault_plan_crash_after_writes(p) != 0)
        abort();
    free(round_trip(p));
    sf_fault_plan_free(p);
    sf_fault_plan_free(q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_text(data, size);
    check_random(data, size);
    return 0;
}
