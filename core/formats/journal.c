/*
 * The download journal: reading, canic's validation, the serde-pretty
 * writer, the artifact state machine and the resume report.
 */
#include "snapfleet/journal.h"
#include "base/posmap.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EK_UNSUPPORTED_VERSION "unsupported-journal-version"
#define EK_EMPTY_FIELD "empty-field"
#define EK_EMPTY_COLLECTION "empty-collection"
#define EK_INVALID_PRINCIPAL "invalid-principal"
#define EK_INVALID_HASH "invalid-hash"
#define EK_UNSUPPORTED_ALGORITHM "unsupported-hash-algorithm"
#define EK_DUPLICATE_ARTIFACT "duplicate-artifact"
#define EK_INVALID_TRANSITION "invalid-state-transition"

static const char *const state_names[] = {"Created", "Downloaded",
                                          "ChecksumVerified", "Durable"};
static const char *const action_names[] = {"Download", "VerifyChecksum",
                                           "Finalize", "Skip"};

/* Metric keys in serde declaration order, with their slots. */
static const struct {
    const char *key;
    size_t offset;
} metric_fields[] = {
    {"target_count", offsetof(sf_download_metrics, target_count)},
    {"snapshot_create_started",
     offsetof(sf_download_metrics, snapshot_create_started)},
    {"snapshot_create_completed",
     offsetof(sf_download_metrics, snapshot_create_completed)},
    {"snapshot_download_started",
     offsetof(sf_download_metrics, snapshot_download_started)},
    {"snapshot_download_completed",
     offsetof(sf_download_metrics, snapshot_download_completed)},
    {"checksum_verify_started",
     offsetof(sf_download_metrics, checksum_verify_started)},
    {"checksum_verify_completed",
     offsetof(sf_download_metrics, checksum_verify_completed)},
    {"artifact_finalize_started",
     offsetof(sf_download_metrics, artifact_finalize_started)},
    {"artifact_finalize_completed",
     offsetof(sf_download_metrics, artifact_finalize_completed)},
};
#define METRIC_COUNT (sizeof metric_fields / sizeof metric_fields[0])

static uint64_t *metric_slot(sf_download_metrics *m, size_t i)
{
    return (uint64_t *)((char *)m + metric_fields[i].offset);
}

static uint64_t metric_value(const sf_download_metrics *m, size_t i)
{
    return *(const uint64_t *)((const char *)m + metric_fields[i].offset);
}

/* ---- states and actions ---- */

const char *sf_artifact_state_name(sf_artifact_state state)
{
    if ((unsigned)state > SF_ARTIFACT_DURABLE)
        return NULL;
    return state_names[state];
}

const char *sf_resume_action_name(sf_resume_action action)
{
    if ((unsigned)action > SF_RESUME_SKIP)
        return NULL;
    return action_names[action];
}

sf_resume_action sf_artifact_resume_action(sf_artifact_state state)
{
    switch (state) {
    case SF_ARTIFACT_CREATED:
        return SF_RESUME_DOWNLOAD;
    case SF_ARTIFACT_DOWNLOADED:
        return SF_RESUME_VERIFY_CHECKSUM;
    case SF_ARTIFACT_CHECKSUM_VERIFIED:
        return SF_RESUME_FINALIZE;
    case SF_ARTIFACT_DURABLE:
    default:
        return SF_RESUME_SKIP;
    }
}

bool sf_artifact_state_can_advance(sf_artifact_state from,
                                   sf_artifact_state to)
{
    return (unsigned)from <= (unsigned)to;
}

static int transition_error(sf_artifact_state from, sf_artifact_state to,
                            sf_error *err)
{
    const char *f = sf_artifact_state_name(from);
    const char *t = sf_artifact_state_name(to);

    return sf_error_set(err, EK_INVALID_TRANSITION, "state",
                        "invalid journal transition from %s to %s",
                        f ? f : "?", t ? t : "?");
}

int sf_artifact_advance_to(sf_journal_artifact *a, sf_artifact_state next,
                           const char *updated_at, sf_error *err)
{
    char *at;

    if (updated_at == NULL)
        return sf_error_set(err, SF_EK_USAGE, "updated_at",
                            "a journal transition needs updated_at");
    if (!sf_artifact_state_can_advance(a->state, next))
        return transition_error(a->state, next, err);
    at = strdup(updated_at);
    if (at == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    free(a->updated_at);
    a->updated_at = at;
    a->state = next;
    return SF_OK;
}

/* ---- lifetime ---- */

void sf_download_journal_init(sf_download_journal *j)
{
    memset(j, 0, sizeof *j);
    j->journal_version = SF_DOWNLOAD_JOURNAL_VERSION;
}

void sf_journal_artifact_free(sf_journal_artifact *a)
{
    if (a == NULL)
        return;
    free(a->canister_id);
    free(a->snapshot_id);
    free(a->temp_path);
    free(a->artifact_path);
    free(a->checksum_algorithm);
    free(a->checksum);
    free(a->updated_at);
    memset(a, 0, sizeof *a);
}

/* The index by canister and snapshot id (see journal.h). */
struct sf_artifact_index {
    sf_posmap map;
    size_t indexed; /* artifacts[0..indexed) are in the map */
    const sf_journal_artifact *base;
};

static void index_drop(sf_download_journal *j)
{
    if (j->index == NULL)
        return;
    sf_posmap_free(&j->index->map);
    free(j->index);
    j->index = NULL;
}

void sf_download_journal_free(sf_download_journal *j)
{
    size_t i;

    if (j == NULL)
        return;
    free(j->backup_id);
    free(j->discovery_topology_hash);
    free(j->pre_snapshot_topology_hash);
    for (i = 0; i < j->artifact_count; i++)
        sf_journal_artifact_free(&j->artifacts[i]);
    free(j->artifacts);
    index_drop(j);
    memset(j, 0, sizeof *j);
}

/* ---- the index by canister and snapshot id ---- */

static bool index_covers(const sf_download_journal *j)
{
    return j->index != NULL && j->index->base == j->artifacts &&
           j->index->indexed == j->artifact_count;
}

static size_t index_find(const sf_download_journal *j, const char *canister_id,
                         const char *snapshot_id)
{
    uint64_t h = sf_posmap_hash(canister_id, snapshot_id);
    size_t cursor = 0, p;

    while ((p = sf_posmap_next(&j->index->map, h, &cursor)) != SIZE_MAX)
        if (p < j->artifact_count &&
            sf_str_eq_opt(j->artifacts[p].canister_id, canister_id) &&
            sf_str_eq_opt(j->artifacts[p].snapshot_id, snapshot_id))
            return p;
    return SIZE_MAX;
}

/* Brings the index up to the array (the artifacts appended since; all of
 * them when it does not cover the array's start). Out of memory: none
 * (find scans) until a later call builds it again. */
static void index_sync(sf_download_journal *j)
{
    struct sf_artifact_index *x = j->index;
    size_t i;

    if (x != NULL && (x->base != j->artifacts || x->indexed > j->artifact_count)) {
        index_drop(j);
        x = NULL;
    }
    if (x == NULL) {
        if ((x = calloc(1, sizeof *x)) == NULL)
            return;
        x->base = j->artifacts;
        j->index = x;
    }
    for (i = x->indexed; i < j->artifact_count; i++) {
        const sf_journal_artifact *a = &j->artifacts[i];

        if (index_find(j, a->canister_id, a->snapshot_id) != SIZE_MAX)
            continue; /* a later duplicate: find gives the first */
        if (!sf_posmap_insert(&x->map,
                              sf_posmap_hash(a->canister_id, a->snapshot_id),
                              i)) {
            index_drop(j);
            return;
        }
    }
    x->indexed = j->artifact_count;
}

int sf_journal_artifact_copy(sf_journal_artifact *dst,
                             const sf_journal_artifact *src, sf_error *err)
{
    int oom = 0;

    memset(dst, 0, sizeof *dst);
    dst->canister_id = sf_strdup_opt(src->canister_id, &oom);
    dst->snapshot_id = sf_strdup_opt(src->snapshot_id, &oom);
    dst->state = src->state;
    dst->temp_path = sf_strdup_opt(src->temp_path, &oom);
    dst->artifact_path = sf_strdup_opt(src->artifact_path, &oom);
    dst->checksum_algorithm = sf_strdup_opt(src->checksum_algorithm, &oom);
    dst->checksum = sf_strdup_opt(src->checksum, &oom);
    dst->updated_at = sf_strdup_opt(src->updated_at, &oom);
    if (oom) {
        sf_journal_artifact_free(dst);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    return SF_OK;
}

/* ---- reading ---- */

static int parse_artifact(sf_jr *r, const cJSON *obj, sf_journal_artifact *a)
{
    int state = 0;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_str(r, obj, "canister_id", &a->canister_id) != SF_OK ||
        sf_jr_str(r, obj, "snapshot_id", &a->snapshot_id) != SF_OK ||
        sf_jr_enum(r, obj, "state", state_names, 4, &state) != SF_OK ||
        sf_jr_str_opt(r, obj, "temp_path", &a->temp_path) != SF_OK ||
        sf_jr_str(r, obj, "artifact_path", &a->artifact_path) != SF_OK ||
        sf_jr_str(r, obj, "checksum_algorithm", &a->checksum_algorithm) !=
            SF_OK ||
        sf_jr_str_opt(r, obj, "checksum", &a->checksum) != SF_OK ||
        sf_jr_str(r, obj, "updated_at", &a->updated_at) != SF_OK)
        return SF_ERR;
    a->state = (sf_artifact_state)state;
    return SF_OK;
}

static int parse_metrics(sf_jr *r, const cJSON *root, sf_download_metrics *m)
{
    const cJSON *obj;
    size_t i, mark;
    int rc = SF_OK;

    /* serde(default): an absent object is all zeros, a present one needs
     * every key. */
    if (sf_jr_object_default(r, root, "operation_metrics", &obj) != SF_OK)
        return SF_ERR;
    if (obj == NULL)
        return SF_OK;
    mark = sf_jr_push_key(r, "operation_metrics");
    for (i = 0; i < METRIC_COUNT && rc == SF_OK; i++)
        rc = sf_jr_uint(r, obj, metric_fields[i].key, (uint64_t)SIZE_MAX,
                        metric_slot(m, i));
    sf_jr_pop(r, mark);
    return rc;
}

static int parse_journal(sf_jr *r, const cJSON *root, sf_download_journal *j)
{
    const cJSON *arr, *c;
    size_t n, i, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_uint(r, root, "journal_version", UINT16_MAX,
                   &j->journal_version) != SF_OK ||
        sf_jr_str(r, root, "backup_id", &j->backup_id) != SF_OK ||
        sf_jr_str_opt(r, root, "discovery_topology_hash",
                      &j->discovery_topology_hash) != SF_OK ||
        sf_jr_str_opt(r, root, "pre_snapshot_topology_hash",
                      &j->pre_snapshot_topology_hash) != SF_OK ||
        parse_metrics(r, root, &j->operation_metrics) != SF_OK ||
        sf_jr_array(r, root, "artifacts", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n == 0)
        return SF_OK;
    j->artifacts = calloc(n, sizeof *j->artifacts);
    if (j->artifacts == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    j->artifact_count = n;
    mark = sf_jr_push_key(r, "artifacts");
    for (i = 0, c = arr->child; c != NULL; c = c->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (parse_artifact(r, c, &j->artifacts[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

int sf_download_journal_parse(const char *text, size_t len,
                              sf_download_journal *out, sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = parse_journal(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_download_journal_free(out);
    else
        index_sync(out);
    return rc;
}

/* ---- validation ---- */

/* `name` is canic's field name for the message ("artifacts[].checksum"),
 * `field` the concrete path for the error ("artifacts[2].checksum"). */
static int check_nonempty(const char *name, const char *field,
                          const char *value, sf_error *err)
{
    if (sf_str_is_blank(value))
        return sf_error_set(err, EK_EMPTY_FIELD, field,
                            "field %s must not be empty", name);
    return SF_OK;
}

static int check_hash(const char *name, const char *field, const char *value,
                      sf_error *err)
{
    if (check_nonempty(name, field, value, err) != SF_OK)
        return SF_ERR;
    if (!sf_is_sha256_hex(value))
        return sf_error_set(err, EK_INVALID_HASH, field,
                            "field %s must be a non-empty sha256 hex string",
                            name);
    return SF_OK;
}

static int validate_artifact(const sf_journal_artifact *a, size_t i,
                             sf_error *err)
{
    /* canic's order: the five required texts (canister id also as a
     * principal), the algorithm, then what the state requires. */
    static const struct {
        const char *name;
        size_t offset;
    } texts[] = {
        {"snapshot_id", offsetof(sf_journal_artifact, snapshot_id)},
        {"artifact_path", offsetof(sf_journal_artifact, artifact_path)},
        {"checksum_algorithm",
         offsetof(sf_journal_artifact, checksum_algorithm)},
        {"updated_at", offsetof(sf_journal_artifact, updated_at)},
    };
    char field[SF_ERROR_FIELD_MAX], name[64];
    size_t k;

    snprintf(field, sizeof field, "artifacts[%zu].canister_id", i);
    if (check_nonempty("artifacts[].canister_id", field, a->canister_id,
                       err) != SF_OK)
        return SF_ERR;
    if (!sf_principal_is_valid(a->canister_id))
        return sf_error_set(err, EK_INVALID_PRINCIPAL, field,
                            "field artifacts[].canister_id must be a valid "
                            "principal: %s",
                            a->canister_id);
    for (k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        const char *value =
            *(char *const *)((const char *)a + texts[k].offset);
        snprintf(field, sizeof field, "artifacts[%zu].%s", i, texts[k].name);
        snprintf(name, sizeof name, "artifacts[].%s", texts[k].name);
        if (check_nonempty(name, field, value, err) != SF_OK)
            return SF_ERR;
    }
    if (strcmp(a->checksum_algorithm, "sha256") != 0) {
        snprintf(field, sizeof field, "artifacts[%zu].checksum_algorithm", i);
        return sf_error_set(err, EK_UNSUPPORTED_ALGORITHM, field,
                            "unsupported hash algorithm %s",
                            a->checksum_algorithm);
    }
    if (a->state == SF_ARTIFACT_DOWNLOADED ||
        a->state == SF_ARTIFACT_CHECKSUM_VERIFIED) {
        snprintf(field, sizeof field, "artifacts[%zu].temp_path", i);
        if (check_nonempty("artifacts[].temp_path", field, a->temp_path,
                           err) != SF_OK)
            return SF_ERR;
    }
    if (a->state == SF_ARTIFACT_CHECKSUM_VERIFIED ||
        a->state == SF_ARTIFACT_DURABLE) {
        snprintf(field, sizeof field, "artifacts[%zu].checksum", i);
        if (check_hash("artifacts[].checksum", field, a->checksum, err) !=
            SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

typedef struct dup_key {
    const char *canister_id;
    const char *snapshot_id;
    size_t index;
} dup_key;

static int key_cmp(const void *pa, const void *pb)
{
    const dup_key *a = pa, *b = pb;
    int c = strcmp(a->canister_id, b->canister_id);

    if (c == 0)
        c = strcmp(a->snapshot_id, b->snapshot_id);
    if (c == 0)
        c = a->index < b->index ? -1 : a->index > b->index;
    return c;
}

/* dup[i] is set when an earlier entry has the same (canister, snapshot):
 * canic checks each entry as its loop reaches it, so the first repeat in
 * journal order is the one reported. Sorting keeps this O(n log n) for
 * large fleets. */
static int mark_duplicates(const sf_journal_artifact *arts, size_t n,
                           bool **out, sf_error *err)
{
    dup_key *keys;
    bool *dup;
    size_t i;

    *out = NULL;
    keys = malloc(n * sizeof *keys);
    dup = calloc(n, sizeof *dup);
    if (keys == NULL || dup == NULL) {
        free(keys);
        free(dup);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (i = 0; i < n; i++) {
        keys[i].canister_id = arts[i].canister_id ? arts[i].canister_id : "";
        keys[i].snapshot_id = arts[i].snapshot_id ? arts[i].snapshot_id : "";
        keys[i].index = i;
    }
    qsort(keys, n, sizeof *keys, key_cmp);
    for (i = 1; i < n; i++)
        if (strcmp(keys[i - 1].canister_id, keys[i].canister_id) == 0 &&
            strcmp(keys[i - 1].snapshot_id, keys[i].snapshot_id) == 0)
            dup[keys[i].index] = true;
    free(keys);
    *out = dup;
    return SF_OK;
}

int sf_download_journal_validate(const sf_download_journal *j, sf_error *err)
{
    bool *dup;
    size_t i;
    int rc = SF_OK;

    if (j->journal_version != SF_DOWNLOAD_JOURNAL_VERSION)
        return sf_error_set(err, EK_UNSUPPORTED_VERSION, "journal_version",
                            "unsupported journal version %llu",
                            (unsigned long long)j->journal_version);
    if (check_nonempty("backup_id", "backup_id", j->backup_id, err) != SF_OK)
        return SF_ERR;
    if (j->discovery_topology_hash != NULL &&
        check_hash("discovery_topology_hash", "discovery_topology_hash",
                   j->discovery_topology_hash, err) != SF_OK)
        return SF_ERR;
    if (j->pre_snapshot_topology_hash != NULL &&
        check_hash("pre_snapshot_topology_hash", "pre_snapshot_topology_hash",
                   j->pre_snapshot_topology_hash, err) != SF_OK)
        return SF_ERR;
    if (j->artifact_count == 0)
        return sf_error_set(err, EK_EMPTY_COLLECTION, "artifacts",
                            "collection artifacts must not be empty");
    if (mark_duplicates(j->artifacts, j->artifact_count, &dup, err) != SF_OK)
        return SF_ERR;
    for (i = 0; i < j->artifact_count && rc == SF_OK; i++) {
        const sf_journal_artifact *a = &j->artifacts[i];
        char field[SF_ERROR_FIELD_MAX];

        rc = validate_artifact(a, i, err);
        if (rc == SF_OK && dup[i]) {
            snprintf(field, sizeof field, "artifacts[%zu]", i);
            rc = sf_error_set(err, EK_DUPLICATE_ARTIFACT, field,
                              "duplicate artifact entry for canister %s "
                              "snapshot %s",
                              a->canister_id, a->snapshot_id);
        }
    }
    free(dup);
    return rc;
}

/* ---- writing ---- */

static void write_metrics(sf_jw *w, const sf_download_metrics *m)
{
    size_t i;

    sf_jw_begin_object(w);
    for (i = 0; i < METRIC_COUNT; i++)
        sf_jw_kv_u64(w, metric_fields[i].key, metric_value(m, i));
    sf_jw_end_object(w);
}

static void write_artifact(sf_jw *w, const sf_journal_artifact *a)
{
    sf_jw_begin_object(w);
    sf_jw_kv_string(w, "canister_id", a->canister_id);
    sf_jw_kv_string(w, "snapshot_id", a->snapshot_id);
    sf_jw_kv_string(w, "state", sf_artifact_state_name(a->state));
    sf_jw_kv_string(w, "temp_path", a->temp_path);
    sf_jw_kv_string(w, "artifact_path", a->artifact_path);
    sf_jw_kv_string(w, "checksum_algorithm", a->checksum_algorithm);
    sf_jw_kv_string(w, "checksum", a->checksum);
    sf_jw_kv_string(w, "updated_at", a->updated_at);
    sf_jw_end_object(w);
}

/* Moves a finished document onto `out`, leaving `out` as it was when the
 * writer failed. */
static int finish_into(sf_jw *w, sf_buf *tmp, sf_buf *out, sf_error *err)
{
    int rc = sf_jw_finish(w, err);

    if (rc == SF_OK && sf_buf_append(out, tmp->data ? tmp->data : "",
                                     tmp->len) != SF_OK)
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sf_buf_free(tmp);
    return rc;
}

int sf_download_journal_write_json(const sf_download_journal *j, sf_buf *out,
                                   sf_error *err)
{
    if (sf_download_journal_validate(j, err) != SF_OK)
        return SF_ERR;
    return sf_download_journal_write_json_part(j, out, err);
}

int sf_download_journal_write_json_part(const sf_download_journal *j,
                                        sf_buf *out, sf_error *err)
{
    sf_buf tmp;
    sf_jw w;
    size_t i;

    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "journal_version", j->journal_version);
    sf_jw_kv_string(&w, "backup_id", j->backup_id);
    sf_jw_kv_string(&w, "discovery_topology_hash", j->discovery_topology_hash);
    sf_jw_kv_string(&w, "pre_snapshot_topology_hash",
                    j->pre_snapshot_topology_hash);
    sf_jw_key(&w, "operation_metrics");
    write_metrics(&w, &j->operation_metrics);
    sf_jw_key(&w, "artifacts");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->artifact_count; i++)
        write_artifact(&w, &j->artifacts[i]);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return finish_into(&w, &tmp, out, err);
}

int sf_download_journal_read_file(const char *path, sf_download_journal *out,
                                  sf_error *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_download_journal_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_download_journal_validate(out, err) != SF_OK) {
        sf_download_journal_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_download_journal_write_file(const char *path,
                                   const sf_download_journal *j,
                                   sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_download_journal_write_json(j, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}

/* ---- entries ---- */

sf_journal_artifact *sf_download_journal_find(const sf_download_journal *j,
                                              const char *canister_id,
                                              const char *snapshot_id)
{
    size_t i;

    if (index_covers(j)) {
        i = index_find(j, canister_id, snapshot_id);
        return i == SIZE_MAX ? NULL : &j->artifacts[i];
    }
    for (i = 0; i < j->artifact_count; i++) {
        sf_journal_artifact *a = &j->artifacts[i];
        if (sf_str_eq_opt(a->canister_id, canister_id) &&
            sf_str_eq_opt(a->snapshot_id, snapshot_id))
            return a;
    }
    return NULL;
}

sf_journal_artifact *
sf_download_journal_find_canister(const sf_download_journal *j,
                                  const char *canister_id)
{
    size_t i = j->artifact_count;

    while (i-- > 0)
        if (sf_str_eq_opt(j->artifacts[i].canister_id, canister_id))
            return &j->artifacts[i];
    return NULL;
}

int sf_download_journal_append(sf_download_journal *j,
                               const sf_journal_artifact *a, sf_error *err)
{
    sf_journal_artifact copy, *grown;

    if (j->artifact_count >= SIZE_MAX / sizeof *grown - 1)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_journal_artifact_copy(&copy, a, err) != SF_OK)
        return SF_ERR;
    grown = realloc(j->artifacts, (j->artifact_count + 1) * sizeof *grown);
    if (grown == NULL) {
        sf_journal_artifact_free(&copy);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    /* an index that covered the old array covers what it held */
    if (index_covers(j))
        j->index->base = grown;
    j->artifacts = grown;
    j->artifacts[j->artifact_count++] = copy;
    index_sync(j);
    return SF_OK;
}

int sf_download_journal_upsert(sf_download_journal *j,
                               const sf_journal_artifact *a, sf_error *err)
{
    sf_journal_artifact *cur, copy;

    cur = sf_download_journal_find(j, a->canister_id, a->snapshot_id);
    if (cur == NULL)
        return sf_download_journal_append(j, a, err);
    if (cur == a)
        return SF_OK;
    if (!sf_artifact_state_can_advance(cur->state, a->state))
        return transition_error(cur->state, a->state, err);
    if (sf_journal_artifact_copy(&copy, a, err) != SF_OK)
        return SF_ERR;
    sf_journal_artifact_free(cur);
    *cur = copy;
    return SF_OK;
}

/* ---- resume report ---- */

void sf_download_journal_resume_summary(const sf_download_journal *j,
                                        sf_journal_resume_summary *out)
{
    size_t i;

    memset(out, 0, sizeof *out);
    for (i = 0; i < j->artifact_count; i++) {
        sf_artifact_state s = j->artifacts[i].state;
        switch (s) {
        case SF_ARTIFACT_CREATED:
            out->counts.created++;
            break;
        case SF_ARTIFACT_DOWNLOADED:
            out->counts.downloaded++;
            break;
        case SF_ARTIFACT_CHECKSUM_VERIFIED:
            out->counts.checksum_verified++;
            break;
        case SF_ARTIFACT_DURABLE:
            out->counts.durable++;
            break;
        }
        switch (sf_artifact_resume_action(s)) {
        case SF_RESUME_DOWNLOAD:
            out->counts.download++;
            break;
        case SF_RESUME_VERIFY_CHECKSUM:
            out->counts.verify_checksum++;
            break;
        case SF_RESUME_FINALIZE:
            out->counts.finalize++;
            break;
        case SF_RESUME_SKIP:
            out->counts.skip++;
            break;
        }
    }
    out->total_artifacts = j->artifact_count;
    out->is_complete = out->counts.skip == out->total_artifacts;
    out->pending_artifacts = out->total_artifacts - out->counts.skip;
}

int sf_download_journal_resume_report_json(const sf_download_journal *j,
                                           sf_buf *out, sf_error *err)
{
    sf_journal_resume_summary s;
    const sf_journal_counts *c = &s.counts;
    sf_buf tmp;
    sf_jw w;
    size_t i;

    sf_download_journal_resume_summary(j, &s);
    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "backup_id", j->backup_id);
    sf_jw_kv_string(&w, "discovery_topology_hash", j->discovery_topology_hash);
    sf_jw_kv_string(&w, "pre_snapshot_topology_hash",
                    j->pre_snapshot_topology_hash);
    sf_jw_kv_u64(&w, "total_artifacts", s.total_artifacts);
    sf_jw_kv_bool(&w, "is_complete", s.is_complete);
    sf_jw_kv_u64(&w, "pending_artifacts", s.pending_artifacts);
    sf_jw_key(&w, "counts");
    sf_jw_begin_object(&w);
    sf_jw_kv_u64(&w, "created", c->created);
    sf_jw_kv_u64(&w, "downloaded", c->downloaded);
    sf_jw_kv_u64(&w, "checksum_verified", c->checksum_verified);
    sf_jw_kv_u64(&w, "durable", c->durable);
    sf_jw_kv_u64(&w, "download", c->download);
    sf_jw_kv_u64(&w, "verify_checksum", c->verify_checksum);
    sf_jw_kv_u64(&w, "finalize", c->finalize);
    sf_jw_kv_u64(&w, "skip", c->skip);
    sf_jw_end_object(&w);
    sf_jw_key(&w, "operation_metrics");
    write_metrics(&w, &j->operation_metrics);
    sf_jw_key(&w, "artifacts");
    sf_jw_begin_array(&w);
    for (i = 0; i < j->artifact_count; i++) {
        const sf_journal_artifact *a = &j->artifacts[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "canister_id", a->canister_id);
        sf_jw_kv_string(&w, "snapshot_id", a->snapshot_id);
        sf_jw_kv_string(&w, "state", sf_artifact_state_name(a->state));
        sf_jw_kv_string(&w, "resume_action",
                        sf_resume_action_name(
                            sf_artifact_resume_action(a->state)));
        sf_jw_kv_string(&w, "artifact_path", a->artifact_path);
        sf_jw_kv_string(&w, "temp_path", a->temp_path);
        sf_jw_kv_string(&w, "updated_at", a->updated_at);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    return finish_into(&w, &tmp, out, err);
}

/* ---- the table for people ---- */

#define TABLE_COLS 5

/* Terminal-safe copy: control characters become '?', so a journal cannot
 * move the cursor or rewrite the screen of whoever reads the status. */
static char *cell_text(const char *s)
{
    char *t;
    size_t i;

    t = strdup(s != NULL ? s : "-");
    if (t == NULL)
        return NULL;
    for (i = 0; t[i] != '\0'; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == 0x7f)
            t[i] = '?';
    return t;
}

static void pad(sf_buf *b, size_t n)
{
    while (n-- > 0)
        sf_buf_putc(b, ' ');
}

int sf_download_journal_resume_table(const sf_download_journal *j,
                                     sf_buf *out, sf_error *err)
{
    static const char *const head[TABLE_COLS] = {
        "CANISTER_ID", "SNAPSHOT_ID", "STATE", "NEXT_ACTION", "PATH"};
    sf_journal_resume_summary s;
    size_t width[TABLE_COLS], i, k, ncells;
    char **cells, *backup;
    sf_buf tmp;
    int rc = SF_OK;

    sf_download_journal_resume_summary(j, &s);
    ncells = j->artifact_count * TABLE_COLS;
    cells = calloc(ncells ? ncells : 1, sizeof *cells);
    backup = cell_text(j->backup_id);
    if (cells == NULL || backup == NULL) {
        free(cells);
        free(backup);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (k = 0; k < TABLE_COLS; k++)
        width[k] = strlen(head[k]);
    for (i = 0; i < j->artifact_count; i++) {
        const sf_journal_artifact *a = &j->artifacts[i];
        const char *v[TABLE_COLS];

        v[0] = a->canister_id;
        v[1] = a->snapshot_id;
        v[2] = sf_artifact_state_name(a->state);
        v[3] = sf_resume_action_name(sf_artifact_resume_action(a->state));
        v[4] = a->artifact_path;
        for (k = 0; k < TABLE_COLS; k++) {
            char *t = cell_text(v[k]);
            if (t == NULL) {
                rc = SF_ERR;
                goto done;
            }
            cells[i * TABLE_COLS + k] = t;
            if (strlen(t) > width[k])
                width[k] = strlen(t);
        }
    }
    sf_buf_init(&tmp);
    sf_buf_printf(&tmp, "Backup: %s\n", backup);
    for (i = 0; i <= j->artifact_count; i++) {
        for (k = 0; k < TABLE_COLS; k++) {
            const char *t = i == 0 ? head[k] : cells[(i - 1) * TABLE_COLS + k];
            sf_buf_puts(&tmp, t);
            if (k + 1 < TABLE_COLS)
                pad(&tmp, width[k] - strlen(t) + 2);
        }
        sf_buf_putc(&tmp, '\n');
    }
    sf_buf_printf(&tmp,
                  "%llu artifacts: %llu durable, %llu pending "
                  "(%llu download, %llu verify checksum, %llu finalize)%s\n",
                  (unsigned long long)s.total_artifacts,
                  (unsigned long long)s.counts.durable,
                  (unsigned long long)s.pending_artifacts,
                  (unsigned long long)s.counts.download,
                  (unsigned long long)s.counts.verify_checksum,
                  (unsigned long long)s.counts.finalize,
                  s.is_complete ? "; complete" : "; resume needed");
    if (tmp.oom || sf_buf_append(out, sf_buf_cstr(&tmp), tmp.len) != SF_OK)
        rc = SF_ERR;
    sf_buf_free(&tmp);
done:
    for (i = 0; i < ncells; i++)
        free(cells[i]);
    free(cells);
    free(backup);
    if (rc != SF_OK)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    return SF_OK;
}
