/*
 * A run's stopped times as its result reports them, and their JSON
 * (backup --json's and restore run --json's "stopped").
 */
#include "engine/stopped.h"

#include <stdlib.h>
#include <string.h>

void sf_engine_stopped_result(const sf_engine *e, sf_backup_stopped **out,
                              size_t *n, bool *has_span, uint64_t *span_ms)
{
    size_t i, count = e->stopped_count;

    *out = NULL;
    *n = 0;
    *span_ms = 0;
    *has_span = sf_engine_fleet_span(e, span_ms);
    if (count == 0 || (*out = calloc(count, sizeof **out)) == NULL)
        return;
    for (i = 0; i < count; i++) {
        memcpy((*out)[i].canister_id, e->stopped[i].canister_id,
               sizeof (*out)[i].canister_id);
        (*out)[i].stopped_ms = e->stopped[i].stopped_ms;
        (*out)[i].restarted = e->stopped[i].restarted && !e->stopped[i].open;
    }
    *n = count;
}

void sf_stopped_write_json(sf_jw *w, const sf_backup_stopped *s, size_t n,
                           bool has_span, uint64_t span_ms)
{
    size_t i;

    sf_jw_begin_object(w);
    sf_jw_key(w, "fleet_span_ms");
    if (has_span)
        sf_jw_u64(w, span_ms);
    else
        sf_jw_null(w);
    sf_jw_key(w, "canisters");
    sf_jw_begin_array(w);
    for (i = 0; i < n; i++) {
        sf_jw_begin_object(w);
        sf_jw_kv_string(w, "canister_id", s[i].canister_id);
        sf_jw_kv_u64(w, "stopped_ms", s[i].stopped_ms);
        sf_jw_kv_bool(w, "restarted", s[i].restarted);
        sf_jw_end_object(w);
    }
    sf_jw_end_array(w);
    sf_jw_end_object(w);
}
