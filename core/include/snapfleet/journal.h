/*
 * snapfleet: the download journal, `download-journal.json`
 * (canic-backup 0.35.10, journal version 1).
 *
 * One entry per snapshot artifact, each moving monotonically through
 * Created -> Downloaded -> ChecksumVerified -> Durable. The journal is
 * written before every effect that depends on it, so after a crash each
 * entry's state says what is left to do (its resume action). Reading,
 * validation and writing follow canic exactly: field order, rule order,
 * error kinds and texts.
 *
 * Ownership: every string is malloc'd and NUL-terminated, NULL meaning JSON
 * null (only temp_path, checksum and the two topology hashes may be NULL in
 * a valid journal); the artifacts are pointer + count.
 * sf_download_journal_free() releases everything a parse produced.
 */
#ifndef SNAPFLEET_JOURNAL_H
#define SNAPFLEET_JOURNAL_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_DOWNLOAD_JOURNAL_FILE_NAME "download-journal.json"
#define SF_DOWNLOAD_JOURNAL_VERSION 1

/* Wire spellings (PascalCase): "Created", "Downloaded", "ChecksumVerified",
 * "Durable". The numeric order is the state machine's order. */
typedef enum sf_artifact_state {
    SF_ARTIFACT_CREATED = 0,
    SF_ARTIFACT_DOWNLOADED = 1,
    SF_ARTIFACT_CHECKSUM_VERIFIED = 2,
    SF_ARTIFACT_DURABLE = 3
} sf_artifact_state;

/* What a resumed run does next: "Download", "VerifyChecksum", "Finalize",
 * "Skip". */
typedef enum sf_resume_action {
    SF_RESUME_DOWNLOAD = 0,
    SF_RESUME_VERIFY_CHECKSUM = 1,
    SF_RESUME_FINALIZE = 2,
    SF_RESUME_SKIP = 3
} sf_resume_action;

/* DownloadOperationMetrics: usize counters on the wire, in this order. */
typedef struct sf_download_metrics {
    uint64_t target_count;
    uint64_t snapshot_create_started;
    uint64_t snapshot_create_completed;
    uint64_t snapshot_download_started;
    uint64_t snapshot_download_completed;
    uint64_t checksum_verify_started;
    uint64_t checksum_verify_completed;
    uint64_t artifact_finalize_started;
    uint64_t artifact_finalize_completed;
} sf_download_metrics;

/* ArtifactJournalEntry, fields in serde declaration order. */
typedef struct sf_journal_artifact {
    char *canister_id;
    char *snapshot_id;
    sf_artifact_state state;
    char *temp_path; /* NULL = null */
    char *artifact_path;
    char *checksum_algorithm;
    char *checksum; /* NULL = null */
    char *updated_at;
} sf_journal_artifact;

/* DownloadJournal, fields in serde declaration order. */
typedef struct sf_download_journal {
    uint64_t journal_version; /* a u16 on the wire */
    char *backup_id;
    char *discovery_topology_hash;    /* NULL = null */
    char *pre_snapshot_topology_hash; /* NULL = null */
    sf_download_metrics operation_metrics;
    sf_journal_artifact *artifacts;
    size_t artifact_count;
    /* Not part of the document: by canister and snapshot id, the position
     * of the (first) artifact, kept by parse, append and upsert, so that
     * sf_download_journal_find is O(1). Used only while it covers the
     * array as it is; otherwise (an array filled or moved by hand, out of
     * memory) find scans. NULL: none. Owned; released by
     * sf_download_journal_free. */
    struct sf_artifact_index *index;
} sf_download_journal;

/* ---- states and actions ---- */

SF_API const char *sf_artifact_state_name(sf_artifact_state state);
SF_API const char *sf_resume_action_name(sf_resume_action action);
SF_API sf_resume_action sf_artifact_resume_action(sf_artifact_state state);
/* order(from) <= order(to): staying and skipping ahead are allowed. */
SF_API bool sf_artifact_state_can_advance(sf_artifact_state from,
                                          sf_artifact_state to);

/* canic's advance_to: moves `a` to `next` and sets updated_at (copied),
 * or fails with "invalid-state-transition" ("invalid journal transition
 * from Durable to Downloaded") and leaves `a` untouched. */
SF_API int sf_artifact_advance_to(sf_journal_artifact *a, sf_artifact_state next,
                                  const char *updated_at, sf_error *err);

/* ---- the document ---- */

/* An empty version-1 journal (no strings, no artifacts, zero metrics). */
SF_API void sf_download_journal_init(sf_download_journal *j);

/* JSON -> struct with strict reading and no semantic validation. *out is
 * overwritten (not freed first) and zeroed on failure. Errors:
 * "json-syntax", "json-schema" (field = JSON path), "out-of-memory". */
SF_API int sf_download_journal_parse(const char *text, size_t len,
                                     sf_download_journal *out, sf_error *err);

/* canic's DownloadJournal::validate, first failure wins. Kinds:
 * unsupported-journal-version, empty-field, empty-collection,
 * invalid-principal, invalid-hash, unsupported-hash-algorithm,
 * duplicate-artifact. field = concrete path ("artifacts[3].checksum"). */
SF_API int sf_download_journal_validate(const sf_download_journal *j, sf_error *err);

/* Validates, then appends serde_json's pretty form to `out`. On failure
 * `out` keeps its previous contents. */
SF_API int sf_download_journal_write_json(const sf_download_journal *j, sf_buf *out,
                                          sf_error *err);

/* The same form without the validation: a part of a journal (the header
 * and some artifacts) as the transition log records it. */
SF_API int sf_download_journal_write_json_part(const sf_download_journal *j,
                                               sf_buf *out, sf_error *err);

/* Reads, parses and validates a journal file; *out is zeroed on failure. */
SF_API int sf_download_journal_read_file(const char *path, sf_download_journal *out,
                                         sf_error *err);

/* Validates, then writes atomically; an invalid journal writes nothing. */
SF_API int sf_download_journal_write_file(const char *path,
                                          const sf_download_journal *j,
                                          sf_error *err);

/* Releases everything inside *j and zeroes it. NULL is a no-op. */
SF_API void sf_download_journal_free(sf_download_journal *j);

/* ---- entries ---- */

/* The entry for (canister_id, snapshot_id), compared byte for byte;
 * NULL when there is none. */
SF_API sf_journal_artifact *sf_download_journal_find(const sf_download_journal *j,
                                                     const char *canister_id,
                                                     const char *snapshot_id);

/* The most recently appended entry for canister_id (a canister whose
 * snapshot was retaken has several); NULL when there is none. */
SF_API sf_journal_artifact *
sf_download_journal_find_canister(const sf_download_journal *j,
                                  const char *canister_id);

/* Appends a deep copy of `a`. */
SF_API int sf_download_journal_append(sf_download_journal *j,
                                      const sf_journal_artifact *a, sf_error *err);

/* Replaces the entry with the same (canister_id, snapshot_id) by a deep
 * copy of `a`, or appends one. Replacing refuses to move the entry back
 * ("invalid-state-transition"), the same rule as advance_to. */
SF_API int sf_download_journal_upsert(sf_download_journal *j,
                                      const sf_journal_artifact *a, sf_error *err);

/* Deep copy into *dst (zeroed on failure) and release of one entry. */
SF_API int sf_journal_artifact_copy(sf_journal_artifact *dst,
                                    const sf_journal_artifact *src, sf_error *err);
SF_API void sf_journal_artifact_free(sf_journal_artifact *a);

/* ---- resume report (canic's resume_report, `backup status`) ---- */

typedef struct sf_journal_counts {
    uint64_t created;
    uint64_t downloaded;
    uint64_t checksum_verified;
    uint64_t durable;
    uint64_t download;
    uint64_t verify_checksum;
    uint64_t finalize;
    uint64_t skip;
} sf_journal_counts;

typedef struct sf_journal_resume_summary {
    uint64_t total_artifacts;
    bool is_complete;           /* every artifact is Skip */
    uint64_t pending_artifacts; /* total - skip */
    sf_journal_counts counts;
} sf_journal_resume_summary;

/* Counts over the journal as it is (no validation). */
SF_API void sf_download_journal_resume_summary(const sf_download_journal *j,
                                               sf_journal_resume_summary *out);

/* The report as pretty JSON: backup_id, both topology hashes,
 * total_artifacts, is_complete, pending_artifacts, counts, a copy of
 * operation_metrics and one row per artifact in journal order. */
SF_API int sf_download_journal_resume_report_json(const sf_download_journal *j,
                                                  sf_buf *out, sf_error *err);

/* The report as a space-aligned table for people: a `Backup:` line, a
 * header row (CANISTER_ID SNAPSHOT_ID STATE NEXT_ACTION PATH), one row per
 * artifact and a summary line. Control characters in values are shown as
 * '?'. Ends with a newline. */
SF_API int sf_download_journal_resume_table(const sf_download_journal *j,
                                            sf_buf *out, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
