/*
 * Fuzz target for the Candid decoder: any input either decodes or fails
 * with an error kind, never crashes, never reads outside the input, and
 * frees everything it allocated (a leak is a bug). A decoded message must
 * keep its invariants (opt has 0 or 1 items, a variant exactly one case,
 * record fields in ascending id order, text NUL-terminated at text_len)
 * and must also go through the registry mapping cleanly, whatever it
 * answers. Limits are smaller than the defaults so each run stays fast.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/candid.h"

static void check(const sf_candid_value *v, size_t depth)
{
    size_t k;

    if (depth > 64)
        abort();
    switch (v->kind) {
    case SF_CANDID_OPT:
        if (v->count > 1)
            abort();
        break;
    case SF_CANDID_VARIANT:
        if (v->field_count != 1)
            abort();
        break;
    case SF_CANDID_RECORD:
        for (k = 1; k < v->field_count; k++)
            if (v->fields[k].id <= v->fields[k - 1].id)
                abort();
        break;
    case SF_CANDID_TEXT:
    case SF_CANDID_NAT:
    case SF_CANDID_INT:
    case SF_CANDID_PRINCIPAL:
        if (v->text == NULL || v->text[v->text_len] != '\0')
            abort();
        break;
    default:
        break;
    }
    for (k = 0; k < v->count; k++)
        check(&v->items[k], depth + 1);
    for (k = 0; k < v->field_count; k++)
        check(&v->fields[k].value, depth + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_candid_limits lim = sf_candid_default_limits();
    sf_candid_args args;
    sf_registry reg;
    sf_error err;
    size_t k;

    lim.max_values = (size_t)1 << 16;
    lim.max_nat_bytes = 256;
    if (sf_candid_decode(data, size, &lim, &args, &err) != SF_OK) {
        if (err.kind == NULL || args.count != 0 || args.values != NULL)
            abort();
        return 0;
    }
    for (k = 0; k < args.count; k++)
        check(&args.values[k], 0);
    if (args.count > 0) {
        if (sf_candid_registry_from_value(&args.values[0], &reg, &err) == SF_OK) {
            for (k = 0; k < reg.count; k++)
                if (reg.entries[k].pid == NULL || reg.entries[k].role == NULL)
                    abort();
            sf_registry_free(&reg);
        } else if (err.kind == NULL || reg.count != 0) {
            abort();
        }
    }
    sf_candid_args_free(&args);
    return 0;
}
