/*
 * metadata.json (icp-cli 1.5.0's ReadCanisterSnapshotMetadataResult) and
 * the checks a downloaded snapshot directory must pass against it.
 */
#include "snapfleet/snapshot_meta.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/storage.h"

/* A JSON array of integers 0..255, at most max long. */
static int read_bytes(sf_jr *r, const cJSON *arr, size_t min, size_t max,
                      unsigned char *out, size_t *len)
{
    const cJSON *v;
    size_t i = 0;

    if (!cJSON_IsArray(arr))
        return sf_jr_fail(r, NULL, "invalid type: expected an array of bytes");
    cJSON_ArrayForEach(v, arr) {
        size_t mark = sf_jr_push_index(r, i);
        uint64_t b;
        if (i >= max) {
            sf_jr_pop(r, mark);
            return sf_jr_fail(r, NULL, "more than %zu bytes", max);
        }
        if (sf_jr_value_uint(r, v, 255, &b) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, mark);
        out[i++] = (unsigned char)b;
    }
    if (i < min)
        return sf_jr_fail(r, NULL, "%zu bytes, wanted %zu", i, min);
    *len = i;
    return SF_OK;
}

static const char *const global_kinds[] = {"i32", "i64", "f32", "f64", "v128"};

/* Each global is one of the five variants (icp refuses an upload with a
 * null one, so a backup holding one could never be restored). */
static int read_globals(sf_jr *r, const cJSON *obj, size_t *count)
{
    const cJSON *arr, *g;
    size_t n, i = 0, k;

    if (sf_jr_array(r, obj, "globals", &arr, &n) != SF_OK)
        return SF_ERR;
    size_t outer = sf_jr_push_key(r, "globals");
    cJSON_ArrayForEach(g, arr) {
        size_t mark = sf_jr_push_index(r, i++);
        bool known = false;
        if (!cJSON_IsObject(g) || cJSON_GetArraySize(g) != 1)
            return sf_jr_fail(r, NULL, "a global is an object with one of "
                              "i32, i64, f32, f64, v128");
        for (k = 0; k < 5; k++)
            known = known || strcmp(g->child->string, global_kinds[k]) == 0;
        if (!known)
            return sf_jr_fail(r, NULL, "unknown variant `%s`", g->child->string);
        if (!cJSON_IsNumber(g->child) && !cJSON_IsArray(g->child))
            return sf_jr_fail(r, g->child->string, "invalid type: expected a number");
        sf_jr_pop(r, mark);
    }
    sf_jr_pop(r, outer);
    *count = n;
    return SF_OK;
}

static int read_chunks(sf_jr *r, const cJSON *obj, sf_snapshot_meta *m)
{
    const cJSON *arr, *c;
    size_t n, i = 0, outer;

    if (sf_jr_array(r, obj, "wasm_chunk_store", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0 && (m->chunk_hashes = calloc(n, sizeof *m->chunk_hashes)) == NULL)
        return sf_error_set(r->err, SF_EK_NOMEM, "", "out of memory");
    outer = sf_jr_push_key(r, "wasm_chunk_store");
    cJSON_ArrayForEach(c, arr) {
        size_t mark = sf_jr_push_index(r, i), len, k;
        const cJSON *h;
        unsigned char hash[32];

        if (sf_jr_expect_object(r, c) != SF_OK)
            return SF_ERR;
        if ((h = cJSON_GetObjectItemCaseSensitive(c, "hash")) == NULL)
            return sf_jr_fail(r, NULL, "missing field `hash`");
        sf_jr_push_key(r, "hash");
        if (read_bytes(r, h, 32, 32, hash, &len) != SF_OK)
            return SF_ERR;
        for (k = 0; k < 32; k++)
            snprintf(m->chunk_hashes[i] + 2 * k, 3, "%02x", hash[k]);
        sf_jr_pop(r, mark);
        i++;
    }
    sf_jr_pop(r, outer);
    m->chunk_count = n;
    return SF_OK;
}

static const char *const source_kinds[] = {"taken_from_canister", "metadata_upload"};
static const char *const timer_kinds[] = {"inactive"};
static const char *const hook_kinds[] = {"condition_not_satisfied", "ready",
                                         "executed"};

/* The optional enums: checked for shape, their values are not needed. */
static int read_optionals(sf_jr *r, const cJSON *obj)
{
    const cJSON *v;
    int k;

    v = cJSON_GetObjectItemCaseSensitive(obj, "source");
    if (v != NULL && !cJSON_IsNull(v)) {
        bool ok = false;
        if (cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1)
            for (k = 0; k < 2 && !ok; k++)
                ok = strcmp(v->child->string, source_kinds[k]) == 0;
        if (!ok)
            return sf_jr_fail(r, "source", "expected null, "
                              "{\"taken_from_canister\": ...} or "
                              "{\"metadata_upload\": ...}");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "global_timer");
    if (v != NULL && !cJSON_IsNull(v)) {
        bool ok = cJSON_IsString(v) && strcmp(v->valuestring, timer_kinds[0]) == 0;
        if (!ok && cJSON_IsObject(v) && cJSON_GetArraySize(v) == 1 &&
            strcmp(v->child->string, "active") == 0) {
            size_t mark = sf_jr_push_key(r, "global_timer");
            uint64_t t;
            if (sf_jr_uint(r, v, "active", UINT64_MAX, &t) != SF_OK)
                return SF_ERR;
            sf_jr_pop(r, mark);
            ok = true;
        }
        if (!ok)
            return sf_jr_fail(r, "global_timer", "expected null, \"inactive\" "
                              "or {\"active\": <u64>}");
    }
    v = cJSON_GetObjectItemCaseSensitive(obj, "on_low_wasm_memory_hook_status");
    if (v != NULL && !cJSON_IsNull(v) &&
        sf_jr_enum(r, obj, "on_low_wasm_memory_hook_status", hook_kinds, 3, &k) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

int sf_snapshot_meta_parse(const char *text, size_t len, sf_snapshot_meta *out,
                           sf_error *err)
{
    cJSON *root = NULL;
    const cJSON *cd;
    sf_jr r;
    int rc = SF_ERR;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    if (sf_jr_expect_object(&r, root) != SF_OK ||
        sf_jr_uint(&r, root, "taken_at_timestamp", UINT64_MAX,
                   &out->taken_at_timestamp) != SF_OK ||
        sf_jr_uint(&r, root, "wasm_module_size", UINT64_MAX,
                   &out->wasm_module_size) != SF_OK ||
        read_globals(&r, root, &out->global_count) != SF_OK ||
        sf_jr_uint(&r, root, "wasm_memory_size", UINT64_MAX,
                   &out->wasm_memory_size) != SF_OK ||
        sf_jr_uint(&r, root, "stable_memory_size", UINT64_MAX,
                   &out->stable_memory_size) != SF_OK ||
        read_chunks(&r, root, out) != SF_OK ||
        sf_jr_uint(&r, root, "canister_version", UINT64_MAX,
                   &out->canister_version) != SF_OK)
        goto done;
    if ((cd = cJSON_GetObjectItemCaseSensitive(root, "certified_data")) == NULL) {
        sf_jr_fail(&r, "certified_data", "missing field `certified_data`");
        goto done;
    }
    {
        size_t mark = sf_jr_push_key(&r, "certified_data");
        if (read_bytes(&r, cd, 0, 32, out->certified_data,
                       &out->certified_data_len) != SF_OK)
            goto done;
        sf_jr_pop(&r, mark);
    }
    if (read_optionals(&r, root) != SF_OK)
        goto done;
    rc = SF_OK;
done:
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_snapshot_meta_free(out);
    return rc;
}

int sf_snapshot_meta_read_file(const char *path, sf_snapshot_meta *out,
                               sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_SNAPSHOT_META_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_snapshot_meta_parse(text, len, out, err);
    free(text);
    if (rc != SF_OK && strncmp(err->message, path, strlen(path)) != 0)
        sf_error_prefix(err, "%s: ", path);
    return rc;
}

void sf_snapshot_meta_free(sf_snapshot_meta *m)
{
    if (m == NULL)
        return;
    free(m->chunk_hashes);
    memset(m, 0, sizeof *m);
}

/* ---- the checks ---- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);

    if (p != NULL)
        snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* Whether path is a regular file (not through a final link). */
static bool is_regular(const char *path)
{
    sf_storage_kind kind;

    return sf_storage_kind_of(sf_fs_storage(), path, &kind, NULL) == SF_OK &&
           kind == SF_STORAGE_REGULAR;
}

static int check_size(const char *dir, const char *name, uint64_t want,
                      sf_error *err)
{
    char *p = join(dir, name);
    sf_storage_info info;
    uint64_t have = 0;
    int rc = SF_OK;

    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_storage_info_of(sf_fs_storage(), p, &info, err) != SF_OK) {
        if (err != NULL) /* "cannot stat P: ...", about this file */
            snprintf(err->field, sizeof err->field, "%s", name);
        rc = SF_ERR;
    } else if (info.kind != SF_STORAGE_ABSENT) {
        if (info.kind != SF_STORAGE_REGULAR)
            rc = sf_error_set(err, "snapshot-content-mismatch", name, "%s is "
                              "not a regular file", p);
        have = info.size;
    }
    if (rc == SF_OK && have != want)
        rc = sf_error_set(err, "snapshot-content-mismatch", name, "%s holds %llu "
                          "bytes, metadata.json says %llu", p,
                          (unsigned long long)have, (unsigned long long)want);
    free(p);
    return rc;
}

int sf_snapshot_dir_check(const char *dir, const char *module_hash,
                          sf_error *err)
{
    sf_snapshot_meta m;
    char *p = join(dir, SF_SNAPSHOT_META_FILE_NAME);
    char have[SF_SHA256_HEX_SIZE];
    size_t i;
    int rc = SF_ERR;

    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_snapshot_meta_read_file(p, &m, err) != SF_OK) {
        free(p);
        return SF_ERR;
    }
    free(p);
    p = NULL;
    if (check_size(dir, SF_SNAPSHOT_MODULE_FILE_NAME, m.wasm_module_size, err) != SF_OK ||
        check_size(dir, SF_SNAPSHOT_HEAP_FILE_NAME, m.wasm_memory_size, err) != SF_OK ||
        check_size(dir, SF_SNAPSHOT_STABLE_FILE_NAME, m.stable_memory_size, err) != SF_OK)
        goto done;
    if (module_hash != NULL && m.wasm_module_size > 0) {
        if ((p = join(dir, SF_SNAPSHOT_MODULE_FILE_NAME)) == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (sf_checksum_file(p, have, err) != SF_OK)
            goto done;
        if (strcmp(have, module_hash) != 0) {
            sf_error_set(err, "snapshot-content-mismatch",
                         SF_SNAPSHOT_MODULE_FILE_NAME, "%s has SHA-256 %s, the "
                         "canister reported module hash %s", p, have,
                         module_hash);
            goto done;
        }
        free(p);
        p = NULL;
    }
    for (i = 0; i < m.chunk_count; i++) {
        char name[sizeof SF_SNAPSHOT_CHUNKS_DIR_NAME + 72];

        snprintf(name, sizeof name, "%s/%s.bin", SF_SNAPSHOT_CHUNKS_DIR_NAME,
                 m.chunk_hashes[i]);
        free(p);
        if ((p = join(dir, name)) == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (!is_regular(p)) {
            sf_error_set(err, "snapshot-content-mismatch", name, "%s is missing: "
                         "metadata.json lists chunk %s", p, m.chunk_hashes[i]);
            goto done;
        }
        /* a chunk is named by its SHA-256: icp writes it in place, so a
         * kill mid-write leaves a short one that a resume skips */
        if (sf_checksum_file(p, have, err) != SF_OK)
            goto done;
        if (strcmp(have, m.chunk_hashes[i]) != 0) {
            sf_error_set(err, "snapshot-content-mismatch", name, "%s has "
                         "SHA-256 %s, its name and metadata.json say %s", p,
                         have, m.chunk_hashes[i]);
            goto done;
        }
    }
    rc = SF_OK;
done:
    free(p);
    sf_snapshot_meta_free(&m);
    return rc;
}

int sf_snapshot_chunks_repair(const char *dir, size_t *removed, sf_error *err)
{
    sf_snapshot_meta m;
    char *p = join(dir, SF_SNAPSHOT_META_FILE_NAME);
    char have[SF_SHA256_HEX_SIZE];
    size_t i;
    int rc = SF_ERR;

    *removed = 0;
    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    if (sf_snapshot_meta_read_file(p, &m, err) != SF_OK) {
        free(p);
        return SF_ERR;
    }
    for (i = 0; i < m.chunk_count; i++) {
        char name[sizeof SF_SNAPSHOT_CHUNKS_DIR_NAME + 72];
        sf_error e;

        snprintf(name, sizeof name, "%s/%s.bin", SF_SNAPSHOT_CHUNKS_DIR_NAME,
                 m.chunk_hashes[i]);
        free(p);
        if ((p = join(dir, name)) == NULL) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        if (!is_regular(p))
            continue; /* missing: a resume fetches it */
        if (sf_checksum_file(p, have, &e) == SF_OK &&
            strcmp(have, m.chunk_hashes[i]) == 0)
            continue;
        if (sf_storage_remove(sf_fs_storage(), p, err) != SF_OK) {
            if (err != NULL) /* "cannot remove P: ..." */
                snprintf(err->field, sizeof err->field, "%s", name);
            goto done;
        }
        (*removed)++;
    }
    rc = SF_OK;
done:
    free(p);
    sf_snapshot_meta_free(&m);
    return rc;
}
