/*
 * How far a running icp transfer got, from the files icp 1.5.0 keeps in
 * the transfer directory while it works (its download.rs and upload.rs):
 *
 *  - download: metadata.json (the blob sizes) is written before any blob;
 *    .download_progress.json is rewritten (tmp, rename) after every chunk:
 *    {"wasm_module":{"frontier":u64,"ahead":[u64...]},"wasm_memory":{...},
 *    "stable_memory":{...}}: below `frontier` all is done, `ahead` holds
 *    offsets of 2,000,000-byte chunks finished out of order;
 *  - upload: .upload_progress.json holds {"wasm_module_offset": u64,
 *    "wasm_memory_offset": u64, "stable_memory_offset": u64, ...}, each a
 *    contiguous prefix already sent.
 *
 * Only for the status line: the files are icp's, read while icp may be
 * rewriting them, so anything that does not parse is "not known now" and
 * never an error of the transfer. The figures are capped by the sizes,
 * so a damaged file cannot claim more than the snapshot holds.
 */
#include "icp_internal.h"

#include <stdlib.h>
#include <string.h>

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/layout.h"
#include "snapfleet/snapshot_meta.h"

static const char *const blobs[3] = {"wasm_module", "wasm_memory",
                                     "stable_memory"};

static uint64_t blob_done(sf_jr *jr, const cJSON *obj, uint64_t size, int *rc)
{
    const cJSON *ahead, *item;
    uint64_t frontier, done;
    size_t count, i = 0, mark;

    if (sf_jr_uint(jr, obj, "frontier", UINT64_MAX, &frontier) != SF_OK ||
        sf_jr_array(jr, obj, "ahead", &ahead, &count) != SF_OK) {
        *rc = SF_ERR;
        return 0;
    }
    done = frontier < size ? frontier : size;
    mark = sf_jr_push_key(jr, "ahead");
    cJSON_ArrayForEach(item, ahead) {
        size_t m = sf_jr_push_index(jr, i++);
        uint64_t at;

        if (sf_jr_value_uint(jr, item, UINT64_MAX, &at) != SF_OK) {
            *rc = SF_ERR;
            return 0;
        }
        sf_jr_pop(jr, m);
        if (at >= frontier && at < size)
            done += size - at < SF_ICP_CHUNK ? size - at : SF_ICP_CHUNK;
    }
    sf_jr_pop(jr, mark);
    return done < size ? done : size;
}

int sf_icp_download_progress_parse(const char *text, size_t len,
                                   const uint64_t sizes[3], uint64_t *done,
                                   sf_error *err)
{
    cJSON *root = NULL;
    sf_jr jr;
    uint64_t total = 0;
    int rc, k;

    *done = 0;
    sf_jr_init(&jr, err);
    if ((rc = sf_json_parse(text, len, &root, err)) == SF_OK)
        rc = sf_jr_expect_object(&jr, root);
    for (k = 0; k < 3 && rc == SF_OK; k++) {
        const cJSON *obj;
        size_t mark;

        if (sf_jr_object_default(&jr, root, blobs[k], &obj) != SF_OK) {
            rc = SF_ERR;
            break;
        }
        if (obj == NULL)
            continue;
        mark = sf_jr_push_key(&jr, blobs[k]);
        total += blob_done(&jr, obj, sizes[k], &rc);
        sf_jr_pop(&jr, mark);
    }
    cJSON_Delete(root);
    if (rc == SF_OK)
        *done = total;
    return rc;
}

int sf_icp_upload_progress_parse(const char *text, size_t len,
                                 const uint64_t sizes[3], uint64_t *done,
                                 sf_error *err)
{
    static const char *const keys[3] = {"wasm_module_offset",
                                        "wasm_memory_offset",
                                        "stable_memory_offset"};
    cJSON *root = NULL;
    sf_jr jr;
    uint64_t total = 0;
    int rc, k;

    *done = 0;
    sf_jr_init(&jr, err);
    if ((rc = sf_json_parse(text, len, &root, err)) == SF_OK)
        rc = sf_jr_expect_object(&jr, root);
    for (k = 0; k < 3 && rc == SF_OK; k++) {
        uint64_t at;

        if ((rc = sf_jr_uint(&jr, root, keys[k], UINT64_MAX, &at)) == SF_OK)
            total += at < sizes[k] ? at : sizes[k];
    }
    cJSON_Delete(root);
    if (rc == SF_OK)
        *done = total;
    return rc;
}

/* The whole of a small file, NULL if it cannot be read now (a progress
 * file lists offsets of 2 MB chunks: 1 MiB covers a terabyte of them). */
static char *slurp(const char *dir, const char *name, size_t *len)
{
    char *path = sf_path_join(dir, name), *text = NULL;
    sf_error e;

    if (path != NULL && sf_fs_read_file(path, SF_SNAPSHOT_META_MAX_BYTES,
                                        &text, len, &e) != SF_OK)
        text = NULL;
    free(path);
    return text;
}

bool sf_icp_transfer_bytes(const char *dir, bool upload, uint64_t *done)
{
    sf_snapshot_meta meta;
    uint64_t sizes[3];
    char *text;
    size_t len = 0;
    sf_error e;
    bool known;

    *done = 0;
    if ((text = slurp(dir, "metadata.json", &len)) == NULL)
        return false;
    known = sf_snapshot_meta_parse(text, len, &meta, &e) == SF_OK;
    free(text);
    if (!known)
        return false;
    sizes[0] = meta.wasm_module_size;
    sizes[1] = meta.wasm_memory_size;
    sizes[2] = meta.stable_memory_size;
    sf_snapshot_meta_free(&meta);
    text = slurp(dir, upload ? ".upload_progress.json"
                             : ".download_progress.json", &len);
    if (text == NULL)
        return true; /* metadata only: nothing of the blobs yet */
    known = (upload ? sf_icp_upload_progress_parse(text, len, sizes, done, &e)
                    : sf_icp_download_progress_parse(text, len, sizes, done,
                                                     &e)) == SF_OK;
    free(text);
    return known;
}
