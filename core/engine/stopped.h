/*
 * What a run held stopped, as its result reports it (snapfleet/backup.h's
 * sf_backup_stopped): the backup and the restore runners share it.
 */
#ifndef SF_ENGINE_STOPPED_H
#define SF_ENGINE_STOPPED_H

#include "engine/engine.h"
#include "snapfleet/backup.h"

/* The engine's stopped times into *out (malloc'd, *n of them, in the
 * order of the first stops) and the fleet's span (*has_span false when no
 * canister was started again). A report: without memory for the list it
 * is simply empty. */
void sf_engine_stopped_result(const sf_engine *e, sf_backup_stopped **out,
                              size_t *n, bool *has_span, uint64_t *span_ms);

#endif
