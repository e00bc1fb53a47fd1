/*
 * Snapshot download and upload: the icp snapshot directory (icp-cli.md 4)
 * written from generated contents and read back.
 *
 * Downloads stream every blob from its descriptor through one buffer, so
 * memory use does not depend on the snapshot size. Uploads hash what they
 * read and map it back to the content it was generated from; bytes that
 * match nothing the simulator generated (a corrupted copy) become opaque
 * content known only by its digest.
 *
 * Local refusals come first, in icp's order (the directory checks happen
 * before anything reaches the network), with icp's messages.
 */
#include "sim_internal.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IO_BUF (256u * 1024u)
#define METADATA_MAX ((size_t)16 << 20)

static const char *const blob_names[3] = {"wasm_module.bin", "wasm_memory.bin",
                                          "stable_memory.bin"};

/* ---- small helpers ---- */

static char *path_join(const char *dir, const char *name)
{
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);

    if (p == NULL)
        return NULL;
    memcpy(p, dir, a);
    p[a] = '/';
    memcpy(p + a + 1, name, b + 1);
    return p;
}

static char *path_fmt(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *path_fmt(const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    p = malloc((size_t)n + 1);
    if (p == NULL)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

/* Every file call goes through the storage seam (snapfleet/storage.h):
 * under `sim run` that is the simulated disk, where these files live with
 * the backup that wrote them; elsewhere the real file system. */
static const sf_storage *st(void)
{
    return sf_fs_storage();
}

static bool exists(const char *dir, const char *name)
{
    char *p = path_join(dir, name);
    sf_storage_kind k = SF_STORAGE_ABSENT;
    bool yes = p != NULL && sf_storage_kind_of(st(), p, &k, NULL) == SF_OK &&
               k != SF_STORAGE_ABSENT;

    free(p);
    return yes;
}

/* The size of a regular file (a symbolic link is not followed); false
 * when there is none at path. */
static bool file_size(const char *path, uint64_t *size)
{
    sf_storage_info info;

    if (sf_storage_info_of(st(), path, &info, NULL) != SF_OK ||
        info.kind != SF_STORAGE_REGULAR)
        return false;
    *size = info.size;
    return true;
}

/* The operating system's reason at the end of a seam error ("...: No such
 * file or directory"), so a refusal reads as it did with direct calls. */
static const char *reason(const sf_error *e)
{
    const char *r = strrchr(e->message, ':');

    return r != NULL && r[1] == ' ' ? r + 2 : e->message;
}

static int io_fail(sf_result *res, const char *what, const char *path,
                   const sf_error *e)
{
    return sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s %s: %s",
                          what, path, reason(e));
}

static int nomem(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
}

/* Creates path (empty) unless it exists, as icp's flock file. */
static int touch(const char *path, sf_error *e)
{
    sf_storage_file *f = NULL;

    if (sf_storage_open(st(), path, SF_STORAGE_WRITE | SF_STORAGE_CREATE, &f,
                        e) != SF_OK)
        return SF_ERR;
    return sf_storage_close(st(), &f, e);
}

/* Writes a whole file (replacing it), never through a symlink. */
static int write_file(const char *path, const void *data, size_t len,
                      sf_error *e)
{
    sf_storage_file *f = NULL;
    int rc;

    if (sf_storage_open(st(), path, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                        SF_STORAGE_TRUNCATE, &f, e) != SF_OK)
        return SF_ERR;
    rc = sf_storage_write(st(), f, 0, data, len, e);
    if (sf_storage_close(st(), &f, rc == SF_OK ? e : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

static int write_stream(const char *path, uint8_t *buf, uint64_t seed,
                        uint64_t part, uint64_t size, sf_error *e)
{
    sf_storage_file *f = NULL;
    sim_stream ss;
    uint64_t off = 0;
    size_t n;
    int rc = SF_OK;

    if (sf_storage_open(st(), path, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                        SF_STORAGE_TRUNCATE, &f, e) != SF_OK)
        return SF_ERR;
    sf_sim_stream_init(&ss, seed, part, size);
    while (rc == SF_OK && (n = sf_sim_stream_read(&ss, buf, IO_BUF)) > 0) {
        rc = sf_storage_write(st(), f, off, buf, n, e);
        off += n;
    }
    if (sf_storage_close(st(), &f, rc == SF_OK ? e : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

/* ---- snapshots ---- */

int sf_sim_snapshot_add(sf_sim *sim, sim_canister *c, const sim_image *img,
                        bool uploaded, sim_snapshot **out, sf_error *err)
{
    static const char hex[] = "0123456789abcdef";
    uint8_t bytes[8 + SF_PRINCIPAL_MAX_BYTES];
    size_t len, i;
    sim_snapshot *t, *s;

    if (sf_sim_canister_id_bytes(c->id, bytes + 8, &len) != SF_OK)
        return sf_error_set(err, "invalid-sim-state", "", "canister id `%s` "
                            "is not a principal", c->id);
    t = realloc(c->snapshots, (c->snapshot_count + 1) * sizeof *t);
    if (t == NULL)
        return nomem(err);
    c->snapshots = t;
    s = &t[c->snapshot_count++];
    memset(s, 0, sizeof *s);
    /* The IC's shape: a per-canister 8-byte big-endian counter, then the
     * canister's principal bytes. */
    for (i = 0; i < 8; i++)
        bytes[i] = (uint8_t)(c->next_snapshot >> (56 - 8 * i));
    c->next_snapshot++;
    for (i = 0; i < 8 + len; i++) {
        s->id[2 * i] = hex[bytes[i] >> 4];
        s->id[2 * i + 1] = hex[bytes[i] & 0xF];
    }
    s->id[2 * (8 + len)] = '\0';
    s->taken_at_ns = sim->now_ms * 1000000u;
    s->total_size = sf_sim_image_total_size(img);
    s->canister_version = c->canister_version;
    s->uploaded = uploaded;
    s->image = *img;
    if (out != NULL)
        *out = s;
    return SF_OK;
}

static sim_snapshot *find_snapshot(sim_canister *c, const char *id)
{
    size_t i;

    for (i = 0; i < c->snapshot_count; i++)
        if (strcasecmp(c->snapshots[i].id, id) == 0)
            return &c->snapshots[i];
    return NULL;
}

/* ---- metadata.json ---- */

static void write_bytes(sf_jw *w, const uint8_t *b, size_t n)
{
    size_t i;

    sf_jw_begin_array(w);
    for (i = 0; i < n; i++)
        sf_jw_u64(w, b[i]);
    sf_jw_end_array(w);
}

/* icp's serde pretty rendering of ReadCanisterSnapshotMetadataResult,
 * fields in declaration order, byte strings as arrays of integers. */
static int metadata_json(const sim_snapshot *s, sf_buf *out, sf_error *err)
{
    const sim_image *img = &s->image;
    uint8_t cert[32], hash[32];
    char hex[SF_SHA256_HEX_SIZE];
    sf_jw w;
    uint64_t i;

    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "source");
    sf_jw_begin_object(&w);
    sf_jw_key(&w, s->uploaded ? "metadata_upload" : "taken_from_canister");
    sf_jw_null(&w);
    sf_jw_end_object(&w);
    sf_jw_kv_u64(&w, "taken_at_timestamp", s->taken_at_ns);
    sf_jw_kv_u64(&w, "wasm_module_size", img->module_size);
    sf_jw_key(&w, "globals");
    sf_jw_begin_array(&w);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "i32");
    sf_jw_i64(&w, sf_sim_global_i32(img));
    sf_jw_end_object(&w);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "i64");
    sf_jw_i64(&w, sf_sim_global_i64(img));
    sf_jw_end_object(&w);
    sf_jw_end_array(&w);
    sf_jw_kv_u64(&w, "wasm_memory_size", img->heap_size);
    sf_jw_kv_u64(&w, "stable_memory_size", img->stable_size);
    sf_jw_key(&w, "wasm_chunk_store");
    sf_jw_begin_array(&w);
    for (i = 0; i < img->chunk_count; i++) {
        if (sf_sim_stream_sha256(img->seed, SIM_PART_CHUNK + i,
                                 sf_sim_chunk_size(img, i), hex, err) != SF_OK)
            return SF_ERR;
        sf_sim_hex_to_bytes(hex, hash, sizeof hash);
        sf_jw_begin_object(&w);
        sf_jw_key(&w, "hash");
        write_bytes(&w, hash, sizeof hash);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_kv_u64(&w, "canister_version", s->canister_version);
    sf_jw_key(&w, "certified_data");
    sf_sim_certified_data(img, cert);
    write_bytes(&w, cert, sizeof cert);
    sf_jw_kv_string(&w, "global_timer", "inactive");
    sf_jw_kv_string(&w, "on_low_wasm_memory_hook_status",
                    "condition_not_satisfied");
    sf_jw_end_object(&w);
    return sf_jw_finish(&w, err);
}

/* What upload needs from a metadata.json. */
typedef struct meta {
    uint64_t module_size, heap_size, stable_size;
    /* The simulator's own globals shape: exactly one i32 then one i64. */
    bool sim_globals;
    int64_t g32, g64;
    bool null_global;
    char (*chunks)[SF_SHA256_HEX_SIZE];
    size_t chunk_count;
    uint8_t cert[32];
    size_t cert_len;
    bool cert_too_long;
} meta;

static void meta_free(meta *m)
{
    free(m->chunks);
    m->chunks = NULL;
}

static const cJSON *member(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

/* A signed integer from a number node's literal text. */
static int read_int(sf_jr *r, const cJSON *v, int64_t lo, int64_t hi,
                    int64_t *out)
{
    char *end;
    long long x;

    if (!cJSON_IsNumber(v) || v->valuestring == NULL)
        return sf_jr_fail(r, NULL, "expected an integer");
    errno = 0;
    x = strtoll(v->valuestring, &end, 10);
    if (errno != 0 || *end != '\0' || x < lo || x > hi)
        return sf_jr_fail(r, NULL, "integer out of range: %s",
                          v->valuestring);
    *out = x;
    return SF_OK;
}

/* serde_bytes: an array of 0..255, or a string taken as its UTF-8 bytes. */
static int read_blob(sf_jr *r, const cJSON *v, uint8_t *out, size_t cap,
                     size_t *len, bool *too_long)
{
    size_t i = 0;
    const cJSON *e;

    *too_long = false;
    if (cJSON_IsString(v)) {
        size_t n = strlen(v->valuestring);
        *too_long = n > cap;
        memcpy(out, v->valuestring, n > cap ? cap : n);
        *len = n > cap ? cap : n;
        return SF_OK;
    }
    if (!cJSON_IsArray(v))
        return sf_jr_fail(r, NULL, "expected a byte array");
    for (e = v->child; e != NULL; e = e->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        uint64_t b;
        if (sf_jr_value_uint(r, e, 255, &b) != SF_OK)
            return SF_ERR;
        if (i < cap)
            out[i] = (uint8_t)b;
        sf_jr_pop(r, m);
    }
    *too_long = i > cap;
    *len = i > cap ? cap : i;
    return SF_OK;
}

static int read_globals(sf_jr *r, const cJSON *root, meta *m)
{
    static const char *const kinds[] = {"i32", "i64", "f32", "f64", "v128"};
    const cJSON *arr, *g;
    size_t n, i = 0, mark;

    if (sf_jr_array(r, root, "globals", &arr, &n) != SF_OK)
        return SF_ERR;
    m->sim_globals = n == 2;
    mark = sf_jr_push_key(r, "globals");
    for (g = arr->child; g != NULL; g = g->next, i++) {
        size_t mk = sf_jr_push_index(r, i), k;
        const cJSON *v = NULL;
        int kind = -1;

        if (cJSON_IsNull(g)) {
            m->null_global = true;
            m->sim_globals = false;
            sf_jr_pop(r, mk);
            continue;
        }
        if (sf_jr_expect_object(r, g) != SF_OK)
            return SF_ERR;
        for (k = 0; k < 5; k++)
            if ((v = member(g, kinds[k])) != NULL) {
                kind = (int)k;
                break;
            }
        if (kind < 0 || cJSON_GetArraySize(g) != 1)
            return sf_jr_fail(r, NULL, "expected one of i32, i64, f32, f64, "
                              "v128");
        mk = sf_jr_push_key(r, kinds[kind]);
        if (kind == 0 || kind == 1) {
            int64_t x = 0;
            if (read_int(r, v, kind == 0 ? INT32_MIN : INT64_MIN,
                         kind == 0 ? INT32_MAX : INT64_MAX, &x) != SF_OK)
                return SF_ERR;
            if (i == 0 && kind == 0)
                m->g32 = x;
            else if (i == 1 && kind == 1)
                m->g64 = x;
            else
                m->sim_globals = false;
        } else {
            if (kind < 4 && !cJSON_IsNumber(v))
                return sf_jr_fail(r, NULL, "expected a number");
            if (kind == 4 && !cJSON_IsArray(v) && !cJSON_IsString(v))
                return sf_jr_fail(r, NULL, "expected a Nat");
            m->sim_globals = false;
        }
        sf_jr_pop(r, mk);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_chunks(sf_jr *r, const cJSON *root, meta *m)
{
    static const char hex[] = "0123456789abcdef";
    const cJSON *arr, *e;
    size_t n, i = 0, mark;

    if (sf_jr_array(r, root, "wasm_chunk_store", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0 && (m->chunks = calloc(n, sizeof *m->chunks)) == NULL)
        return nomem(r->err);
    m->chunk_count = n;
    mark = sf_jr_push_key(r, "wasm_chunk_store");
    for (e = arr->child; e != NULL; e = e->next, i++) {
        size_t mk = sf_jr_push_index(r, i), len, k;
        const cJSON *h;
        uint8_t b[32];
        bool too_long;

        if (sf_jr_expect_object(r, e) != SF_OK)
            return SF_ERR;
        if ((h = member(e, "hash")) == NULL)
            return sf_jr_fail(r, NULL, "missing field `hash`");
        sf_jr_push_key(r, "hash");
        if (read_blob(r, h, b, sizeof b, &len, &too_long) != SF_OK)
            return SF_ERR;
        if (len != 32 || too_long)
            return sf_jr_fail(r, NULL, "a chunk hash is 32 bytes");
        for (k = 0; k < 32; k++) {
            m->chunks[i][2 * k] = hex[b[k] >> 4];
            m->chunks[i][2 * k + 1] = hex[b[k] & 0xF];
        }
        m->chunks[i][64] = '\0';
        sf_jr_pop(r, mk);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

static int read_meta(sf_jr *r, const cJSON *root, meta *m)
{
    static const char *const hooks[] = {"condition_not_satisfied", "ready",
                                        "executed"};
    const cJSON *v;
    uint64_t u;
    size_t mark;

    if (sf_jr_expect_object(r, root) != SF_OK)
        return SF_ERR;
    v = member(root, "source");
    if (v != NULL && !cJSON_IsNull(v)) {
        if (!cJSON_IsObject(v) || cJSON_GetArraySize(v) != 1 ||
            (member(v, "taken_from_canister") == NULL &&
             member(v, "metadata_upload") == NULL))
            return sf_jr_fail(r, "source", "expected {\"taken_from_canister\""
                              ": null} or {\"metadata_upload\": null}");
    }
    if (sf_jr_uint(r, root, "taken_at_timestamp", UINT64_MAX, &u) != SF_OK ||
        sf_jr_uint(r, root, "wasm_module_size", UINT64_MAX, &m->module_size) !=
            SF_OK ||
        read_globals(r, root, m) != SF_OK ||
        sf_jr_uint(r, root, "wasm_memory_size", UINT64_MAX, &m->heap_size) !=
            SF_OK ||
        sf_jr_uint(r, root, "stable_memory_size", UINT64_MAX,
                   &m->stable_size) != SF_OK ||
        read_chunks(r, root, m) != SF_OK ||
        sf_jr_uint(r, root, "canister_version", UINT64_MAX, &u) != SF_OK)
        return SF_ERR;
    v = member(root, "certified_data");
    if (v == NULL)
        return sf_jr_fail(r, NULL, "missing field `certified_data`");
    mark = sf_jr_push_key(r, "certified_data");
    if (read_blob(r, v, m->cert, sizeof m->cert, &m->cert_len,
                  &m->cert_too_long) != SF_OK)
        return SF_ERR;
    sf_jr_pop(r, mark);
    v = member(root, "global_timer");
    if (v != NULL && !cJSON_IsNull(v)) {
        const cJSON *a = cJSON_IsObject(v) ? member(v, "active") : NULL;
        mark = sf_jr_push_key(r, "global_timer");
        if (!(cJSON_IsString(v) && strcmp(v->valuestring, "inactive") == 0) &&
            !(a != NULL && cJSON_GetArraySize(v) == 1 &&
              sf_jr_value_uint(r, a, UINT64_MAX, &u) == SF_OK))
            return sf_jr_fail(r, NULL, "expected \"inactive\" or "
                              "{\"active\": <u64>}");
        sf_jr_pop(r, mark);
    }
    v = member(root, "on_low_wasm_memory_hook_status");
    if (v != NULL && !cJSON_IsNull(v)) {
        int h;
        if (sf_jr_enum(r, root, "on_low_wasm_memory_hook_status", hooks, 3,
                       &h) != SF_OK)
            return SF_ERR;
    }
    return SF_OK;
}

/* Parses dir/metadata.json. SF_ERR with res failed (PERMANENT) when it is
 * missing or broken; SF_ERR with res untouched only when out of memory. */
static int load_meta(const char *dir, meta *m, sf_result *res, sf_error *err)
{
    char *path = path_join(dir, "metadata.json"), *text = NULL;
    cJSON *root = NULL;
    size_t len = 0;
    sf_error e;
    sf_jr r;
    int rc = SF_ERR;

    memset(m, 0, sizeof *m);
    if (path == NULL)
        return nomem(err);
    sf_error_clear(&e);
    if (sf_fs_read_file(path, METADATA_MAX, &text, &len, &e) != SF_OK) {
        sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s", e.message);
        goto done;
    }
    if (sf_json_parse(text, len, &root, &e) == SF_OK) {
        sf_jr_init(&r, &e);
        if (read_meta(&r, root, m) == SF_OK)
            rc = SF_OK;
    }
    if (rc != SF_OK) {
        if (e.kind != NULL && strcmp(e.kind, SF_EK_NOMEM) == 0) {
            sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-snapshot-metadata",
                       "failed to parse json file at %s: %s%s%s", path,
                       e.field[0] ? e.field : "", e.field[0] ? ": " : "",
                       e.message);
        if (res->err.field[0] == '\0')
            snprintf(res->err.field, sizeof res->err.field, "%s", e.field);
    }
done:
    if (rc != SF_OK)
        meta_free(m);
    cJSON_Delete(root);
    free(text);
    free(path);
    return rc;
}

/* ---- download ---- */

static int download_refusal(sf_sim *sim, const sf_op *op, sf_result *res,
                            sim_canister **cout, sim_snapshot **sout)
{
    sim_canister *c = sf_sim_find(sim, op->canister_id);
    sim_snapshot *s;

    if (c == NULL)
        return sf_result_fail(res, SF_FAIL_PERMANENT, "canister-not-found",
                              "Canister %s was not found.", op->canister_id);
    s = find_snapshot(c, op->snapshot_id);
    if (s == NULL)
        return sf_result_fail(res, SF_FAIL_PERMANENT, "snapshot-not-found",
                              "Could not find the snapshot ID %s for "
                              "canister %s.", op->snapshot_id, c->id);
    if (s->image.opaque)
        return sf_result_fail(res, SF_FAIL_PERMANENT, "opaque-snapshot",
                              "Snapshot %s of canister %s holds uploaded "
                              "bytes the simulator did not generate (memory "
                              "digest %s); it cannot be downloaded", s->id,
                              c->id, s->image.digest);
    *cout = c;
    *sout = s;
    return SF_OK;
}

/* Writes the snapshot's bytes as icp does: each blob as long as the
 * metadata in use says (on a resume, the metadata found on disk, whatever
 * snapshot it describes), and each chunk that metadata lists unless its
 * file exists already (icp skips those, whatever they hold). A chunk the
 * snapshot does not have is the replica's refusal. */
static int write_blobs(const char *dir, const sim_snapshot *s, const meta *m,
                       uint8_t *buf, sf_result *res, sf_error *err)
{
    const sim_image *img = &s->image;
    const uint64_t seeds[3] = {img->module_seed, img->seed, img->seed};
    const uint64_t parts[3] = {SIM_PART_MODULE, SIM_PART_HEAP,
                               SIM_PART_STABLE};
    const uint64_t sizes[3] = {m->module_size, m->heap_size, m->stable_size};
    char hex[SF_SHA256_HEX_SIZE];
    sf_storage_kind kind;
    sf_error e;
    size_t i;
    uint64_t k;
    int b;

    for (b = 0; b < 3; b++) {
        char *p;
        int rc;

        /* icp writes the module and the heap only when non-empty, stable
         * memory always. */
        if (sizes[b] == 0 && b < 2)
            continue;
        if ((p = path_join(dir, blob_names[b])) == NULL)
            return nomem(err);
        rc = write_stream(p, buf, seeds[b], parts[b], sizes[b], &e);
        if (rc != SF_OK)
            io_fail(res, "cannot write", p, &e);
        free(p);
        if (rc != SF_OK)
            return SF_OK;
    }
    for (i = 0; i < m->chunk_count; i++) {
        char *p;
        int rc;

        if ((p = path_fmt("%s/wasm_chunk_store/%s.bin", dir, m->chunks[i])) ==
            NULL)
            return nomem(err);
        if (sf_storage_kind_of(st(), p, &kind, NULL) == SF_OK &&
            kind != SF_STORAGE_ABSENT) {
            free(p);
            continue;
        }
        for (k = 0; k < img->chunk_count; k++) {
            if (sf_sim_stream_sha256(img->seed, SIM_PART_CHUNK + k,
                                     sf_sim_chunk_size(img, k), hex, err) !=
                SF_OK) {
                free(p);
                return SF_ERR;
            }
            if (strcmp(hex, m->chunks[i]) == 0)
                break;
        }
        if (k == img->chunk_count) {
            free(p);
            sf_result_fail(res, SF_FAIL_PERMANENT, "snapshot-chunk-not-found",
                           "Failed to read WASM chunk with hash %s: snapshot "
                           "%s has no such chunk", m->chunks[i], s->id);
            return SF_OK;
        }
        rc = write_stream(p, buf, img->seed, SIM_PART_CHUNK + k,
                          sf_sim_chunk_size(img, k), &e);
        if (rc != SF_OK)
            io_fail(res, "cannot write", p, &e);
        free(p);
        if (rc != SF_OK)
            return SF_OK;
    }
    return SF_OK;
}

/* The metadata a fresh download writes, as the upload reader sees it. */
static int meta_of(const sim_snapshot *s, meta *m, sf_error *err)
{
    const sim_image *img = &s->image;
    uint64_t k;

    memset(m, 0, sizeof *m);
    m->module_size = img->module_size;
    m->heap_size = img->heap_size;
    m->stable_size = img->stable_size;
    m->chunk_count = (size_t)img->chunk_count;
    if (m->chunk_count > 0 &&
        (m->chunks = calloc(m->chunk_count, sizeof *m->chunks)) == NULL)
        return nomem(err);
    for (k = 0; k < img->chunk_count; k++)
        if (sf_sim_stream_sha256(img->seed, SIM_PART_CHUNK + k,
                                 sf_sim_chunk_size(img, k), m->chunks[k],
                                 err) != SF_OK)
            return SF_ERR;
    return SF_OK;
}

int sf_sim_download(sf_sim *sim, const sf_op *op, sf_result *res,
                    sf_error *err)
{
    const char *dir = op->path;
    char *lock = NULL, *chunks = NULL, *mpath = NULL, *progress = NULL;
    uint8_t *buf = NULL;
    sim_canister *c = NULL;
    sim_snapshot *s = NULL;
    sf_buf json;
    sf_error e;
    meta m;
    int rc = SF_ERR;

    sf_buf_init(&json);
    memset(&m, 0, sizeof m);
    lock = path_join(dir, ".lock");
    chunks = path_join(dir, "wasm_chunk_store");
    mpath = path_join(dir, "metadata.json");
    progress = path_join(dir, ".download_progress.json");
    buf = malloc(IO_BUF);
    if (lock == NULL || chunks == NULL || mpath == NULL || progress == NULL ||
        buf == NULL) {
        nomem(err);
        goto done;
    }
    rc = SF_OK;
    sf_error_clear(&e);
    if (sf_fs_mkdir_p(dir, &e) != SF_OK) {
        sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s", e.message);
        goto done;
    }
    if (touch(lock, &e) != SF_OK) {
        io_fail(res, "cannot create", lock, &e);
        goto done;
    }
    if (op->resume) {
        if (!exists(dir, "metadata.json")) {
            sf_result_fail(res, SF_FAIL_PERMANENT, "no-download-to-resume",
                           "Cannot resume: no existing download found in %s",
                           dir);
            goto done;
        }
    } else if (exists(dir, "metadata.json") || exists(dir, blob_names[0]) ||
               exists(dir, blob_names[1]) || exists(dir, blob_names[2])) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "directory-not-empty",
                       "Directory %s is not empty. Use --resume to continue "
                       "a previous download or choose an empty directory.",
                       dir);
        goto done;
    }
    {
        sf_storage_kind kind = SF_STORAGE_ABSENT;

        /* a name already there (made by icp before, or planted) is
         * judged by what it is, not by mkdir's refusal */
        if (sf_storage_mkdir(st(), chunks, &e) != SF_OK &&
            (sf_storage_kind_of(st(), chunks, &kind, NULL) != SF_OK ||
             kind == SF_STORAGE_ABSENT)) {
            io_fail(res, "cannot create", chunks, &e);
            goto done;
        }
        /* never write through a planted symlink */
        if (sf_storage_kind_of(st(), chunks, &kind, &e) != SF_OK ||
            kind != SF_STORAGE_DIRECTORY) {
            sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s is not a "
                           "directory", chunks);
            goto done;
        }
    }
    if (download_refusal(sim, op, res, &c, &s) != SF_OK ||
        res->fail != SF_FAIL_NONE)
        goto done;
    if (op->resume) {
        /* As icp: it resumes from the metadata already on disk, without
         * asking the replica again and without checking it describes this
         * snapshot (the engine must). */
        if (load_meta(dir, &m, res, err) != SF_OK) {
            rc = res->fail != SF_FAIL_NONE ? SF_OK : SF_ERR;
            goto done;
        }
    } else {
        if (metadata_json(s, &json, err) != SF_OK || meta_of(s, &m, err) != SF_OK) {
            rc = SF_ERR;
            goto done;
        }
        if (write_file(mpath, json.data, json.len, &e) != SF_OK) {
            io_fail(res, "cannot write", mpath, &e);
            goto done;
        }
    }
    {
        static const char start[] =
            "{\"wasm_module\":{\"frontier\":0,\"ahead\":[]},"
            "\"wasm_memory\":{\"frontier\":0,\"ahead\":[]},"
            "\"stable_memory\":{\"frontier\":0,\"ahead\":[]}}";
        if (write_file(progress, start, sizeof start - 1, &e) != SF_OK) {
            io_fail(res, "cannot write", progress, &e);
            goto done;
        }
    }
    if (write_blobs(dir, s, &m, buf, res, err) != SF_OK) {
        rc = SF_ERR;
        goto done;
    }
    if (res->fail == SF_FAIL_NONE &&
        sf_storage_remove(st(), progress, &e) != SF_OK)
        io_fail(res, "cannot remove", progress, &e);
done:
    meta_free(&m);
    sf_buf_free(&json);
    free(lock);
    free(chunks);
    free(mpath);
    free(progress);
    free(buf);
    return rc;
}

/* ---- upload ---- */

/* What the uploaded files hold. */
typedef struct upload_read {
    char module_hash[SF_SHA256_HEX_SIZE];
    char memory_digest[SF_SHA256_HEX_SIZE];
    uint64_t chunk_bytes;
    char (*chunk_hashes)[SF_SHA256_HEX_SIZE]; /* of the bytes read */
    uint64_t *chunk_sizes;
} upload_read;

/* Feeds a blob file into h, requiring exactly `size` bytes. */
static int hash_blob(const char *dir, const char *name, uint64_t size,
                     sf_sha256 *h, uint8_t *buf, sf_result *res)
{
    char *p = path_join(dir, name);
    sf_storage_file *f = NULL;
    sf_storage_kind kind = SF_STORAGE_ABSENT;
    uint64_t total = 0, len = 0;
    sf_error e;
    size_t n;
    int rc = SF_ERR;

    if (p == NULL)
        return SF_ERR;
    if (sf_storage_open(st(), p, SF_STORAGE_READ, &f, &e) != SF_OK) {
        /* the seam opens regular files only; something else in its place
         * is the wrong data, as a wrong size is */
        if (sf_storage_kind_of(st(), p, &kind, NULL) == SF_OK &&
            (kind == SF_STORAGE_DIRECTORY || kind == SF_STORAGE_OTHER))
            sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-snapshot-data",
                           "%s is not a regular file but metadata.json says %"
                           PRIu64 " bytes", p, size);
        else
            sf_result_fail(res, SF_FAIL_PERMANENT, "missing-file",
                           "Failed to get file size at %s: %s", p, reason(&e));
        goto done;
    }
    if (sf_storage_size(st(), f, &len, &e) != SF_OK) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "missing-file",
                       "Failed to get file size at %s: %s", p, reason(&e));
        goto done;
    }
    if (len != size) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-snapshot-data",
                       "%s holds %" PRIu64 " bytes but metadata.json says %"
                       PRIu64, p, len, size);
        goto done;
    }
    for (;;) {
        if (sf_storage_read(st(), f, total, buf, IO_BUF, &n, &e) != SF_OK) {
            io_fail(res, "cannot read", p, &e);
            goto done;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (sf_sha256_update(h, buf, n) != SF_OK)
            goto done;
    }
    if (total != size) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-snapshot-data",
                       "%s changed while it was read", p);
        goto done;
    }
    rc = SF_OK;
done:
    sf_storage_close(st(), &f, NULL);
    free(p);
    return rc;
}

/* Hashes the files named by m. SF_OK with res failed on a refusal;
 * SF_ERR only when out of memory. */
static int read_upload(const char *dir, const meta *m, upload_read *u,
                       uint8_t *buf, sf_result *res, sf_error *err)
{
    sf_sha256 *h = NULL;
    size_t i;

    memset(u, 0, sizeof *u);
    if (m->chunk_count > 0) {
        u->chunk_hashes = calloc(m->chunk_count, sizeof *u->chunk_hashes);
        u->chunk_sizes = calloc(m->chunk_count, sizeof *u->chunk_sizes);
        if (u->chunk_hashes == NULL || u->chunk_sizes == NULL)
            return nomem(err);
    }
    /* The module. */
    if (m->module_size > 0) {
        if ((h = sf_sha256_new()) == NULL)
            return nomem(err);
        if (hash_blob(dir, blob_names[0], m->module_size, h, buf, res) !=
            SF_OK)
            goto refused;
        sf_sha256_final(h, u->module_hash);
        sf_sha256_free(h);
    }
    /* Heap then stable memory: the state digest. */
    if ((h = sf_sha256_new()) == NULL)
        return nomem(err);
    if ((m->heap_size > 0 &&
         hash_blob(dir, blob_names[1], m->heap_size, h, buf, res) != SF_OK) ||
        (m->stable_size > 0 &&
         hash_blob(dir, blob_names[2], m->stable_size, h, buf, res) != SF_OK))
        goto refused;
    sf_sha256_final(h, u->memory_digest);
    sf_sha256_free(h);
    h = NULL;
    /* The chunk store: the IC hashes what it receives. */
    for (i = 0; i < m->chunk_count; i++) {
        char *name = path_fmt("wasm_chunk_store/%s.bin", m->chunks[i]), *p;
        uint64_t size = 0;
        int ok;

        if (name == NULL)
            return nomem(err);
        p = path_join(dir, name);
        ok = p != NULL && file_size(p, &size);
        if (ok) {
            u->chunk_sizes[i] = size;
            u->chunk_bytes += size;
        } else {
            sf_result_fail(res, SF_FAIL_PERMANENT, "missing-file",
                           "Failed to read chunk file %s", p ? p : name);
        }
        free(p);
        if (ok) {
            if ((h = sf_sha256_new()) == NULL) {
                free(name);
                return nomem(err);
            }
            ok = hash_blob(dir, name, u->chunk_sizes[i], h, buf, res) == SF_OK;
            if (ok)
                sf_sha256_final(h, u->chunk_hashes[i]);
            sf_sha256_free(h);
            h = NULL;
        }
        free(name);
        if (!ok)
            return res->fail != SF_FAIL_NONE ? SF_OK : nomem(err);
    }
    return SF_OK;
refused:
    sf_sha256_free(h);
    return res->fail != SF_FAIL_NONE ? SF_OK : nomem(err);
}

static void upload_read_free(upload_read *u)
{
    free(u->chunk_hashes);
    free(u->chunk_sizes);
}

/* The generated content these bytes are, if any. */
static int recognise(sf_sim *sim, const meta *m, const upload_read *u,
                     sim_image *img, sf_error *err)
{
    const sim_module *mod = NULL;
    char digest[SF_SHA256_HEX_SIZE], hex[SF_SHA256_HEX_SIZE];
    uint8_t cert[32];
    size_t i;
    uint64_t k;

    memset(img, 0, sizeof *img);
    img->heap_size = m->heap_size;
    img->stable_size = m->stable_size;
    img->chunk_count = m->chunk_count;
    img->chunk_bytes = u->chunk_bytes;
    img->module_size = m->module_size;
    memcpy(img->module_hash, u->module_hash, sizeof img->module_hash);
    if (m->module_size > 0)
        mod = sf_sim_module_by_hash(sim, u->module_hash, m->module_size);
    if (m->module_size == 0 || mod != NULL) {
        for (i = 0; i < sim->content_count; i++) {
            const sim_content *c = &sim->contents[i];
            sim_image cand;
            bool same = true;

            if (c->heap_size != m->heap_size ||
                c->stable_size != m->stable_size ||
                c->chunk_count != m->chunk_count ||
                c->chunk_bytes != u->chunk_bytes)
                continue;
            memset(&cand, 0, sizeof cand);
            cand.seed = c->seed;
            cand.heap_size = c->heap_size;
            cand.stable_size = c->stable_size;
            cand.chunk_count = c->chunk_count;
            cand.chunk_bytes = c->chunk_bytes;
            if (sf_sim_image_digest(sim, &cand, digest, err) != SF_OK)
                return SF_ERR;
            if (strcmp(digest, u->memory_digest) != 0)
                continue;
            sf_sim_certified_data(&cand, cert);
            if (!m->sim_globals || m->g32 != sf_sim_global_i32(&cand) ||
                m->g64 != sf_sim_global_i64(&cand) || m->cert_len != 32 ||
                m->cert_too_long || memcmp(cert, m->cert, 32) != 0)
                continue;
            for (k = 0; k < cand.chunk_count && same; k++) {
                if (sf_sim_chunk_size(&cand, k) != u->chunk_sizes[k])
                    same = false;
                else if (sf_sim_stream_sha256(cand.seed, SIM_PART_CHUNK + k,
                                              u->chunk_sizes[k], hex, err) !=
                         SF_OK)
                    return SF_ERR;
                else
                    same = strcmp(hex, u->chunk_hashes[k]) == 0;
            }
            if (!same)
                continue;
            img->seed = c->seed;
            if (mod != NULL)
                img->module_seed = mod->seed;
            return SF_OK;
        }
    }
    img->opaque = true;
    memcpy(img->digest, u->memory_digest, sizeof img->digest);
    return SF_OK;
}

static int write_upload_progress(const char *path, const sim_snapshot *s,
                                 const meta *m)
{
    sf_buf b;
    size_t i;
    int rc;

    sf_buf_init(&b);
    sf_buf_printf(&b, "{\"snapshot_id\":\"%s\",\"metadata_uploaded\":true,"
                  "\"wasm_module_offset\":%" PRIu64 ",\"wasm_memory_offset\":%"
                  PRIu64 ",\"stable_memory_offset\":%" PRIu64
                  ",\"wasm_chunks_uploaded\":[", s->id, m->module_size,
                  m->heap_size, m->stable_size);
    for (i = 0; i < m->chunk_count; i++)
        sf_buf_printf(&b, "%s\"%s\"", i ? "," : "", m->chunks[i]);
    sf_buf_puts(&b, "]}");
    rc = b.oom ? SF_ERR : write_file(path, b.data, b.len, NULL);
    sf_buf_free(&b);
    return rc;
}

/* The snapshot id an interrupted upload recorded, or "" if none. */
static int read_upload_progress(const char *path, char id[SF_SNAPSHOT_ID_MAX],
                                sf_result *res)
{
    char *text = NULL, *s = NULL;
    size_t len;
    cJSON *root = NULL;
    sf_error e;
    sf_jr r;
    int rc = SF_ERR;

    id[0] = '\0';
    sf_error_clear(&e);
    if (sf_fs_read_file(path, METADATA_MAX, &text, &len, &e) != SF_OK) {
        sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s", e.message);
        return SF_ERR;
    }
    if (sf_json_parse(text, len, &root, &e) == SF_OK) {
        sf_jr_init(&r, &e);
        if (sf_jr_expect_object(&r, root) == SF_OK &&
            sf_jr_str(&r, root, "snapshot_id", &s) == SF_OK) {
            if (strlen(s) < SF_SNAPSHOT_ID_MAX) {
                memcpy(id, s, strlen(s) + 1);
                rc = SF_OK;
            } else {
                sf_error_set(&e, SF_EK_JSON_SCHEMA, "snapshot_id",
                             "snapshot id too long");
            }
        }
    }
    if (rc != SF_OK)
        sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-upload-progress",
                       "failed to parse json file at %s: %s", path,
                       e.message);
    free(s);
    cJSON_Delete(root);
    free(text);
    return rc;
}

int sf_sim_upload(sf_sim *sim, const sf_op *op, sf_result *res,
                  char **cleanup, sf_error *err)
{
    const char *dir = op->path;
    char *lock = NULL, *mpath = NULL, *progress = NULL;
    char resume_id[SF_SNAPSHOT_ID_MAX];
    uint8_t *buf = NULL;
    sim_canister *c;
    sim_snapshot *s;
    sim_image img;
    upload_read u;
    sf_error e;
    meta m;
    int rc = SF_ERR;

    *cleanup = NULL;
    memset(&m, 0, sizeof m);
    memset(&u, 0, sizeof u);
    lock = path_join(dir, ".lock");
    mpath = path_join(dir, "metadata.json");
    progress = path_join(dir, ".upload_progress.json");
    buf = malloc(IO_BUF);
    if (lock == NULL || mpath == NULL || progress == NULL || buf == NULL) {
        nomem(err);
        goto done;
    }
    rc = SF_OK;
    sf_error_clear(&e);
    if (sf_fs_mkdir_p(dir, &e) != SF_OK) {
        sf_result_fail(res, SF_FAIL_PERMANENT, SF_EK_IO, "%s", e.message);
        goto done;
    }
    if (touch(lock, &e) != SF_OK) {
        io_fail(res, "cannot create", lock, &e);
        goto done;
    }
    if (!exists(dir, "metadata.json")) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "missing-file",
                       "Missing required file: %s", mpath);
        goto done;
    }
    if (load_meta(dir, &m, res, err) != SF_OK) {
        rc = res->fail != SF_FAIL_NONE ? SF_OK : SF_ERR;
        goto done;
    }
    if (m.null_global) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "invalid-snapshot-metadata",
                       "Invalid snapshot metadata: snapshot metadata "
                       "contains unparseable globals");
        goto done;
    }
    if (op->resume) {
        if (!exists(dir, ".upload_progress.json")) {
            sf_result_fail(res, SF_FAIL_PERMANENT, "no-upload-to-resume",
                           "Cannot resume: no upload progress file found in "
                           "%s", dir);
            goto done;
        }
        if (read_upload_progress(progress, resume_id, res) != SF_OK)
            goto done;
    }
    c = sf_sim_find(sim, op->canister_id);
    if (c == NULL) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "canister-not-found",
                       "Canister %s was not found.", op->canister_id);
        goto done;
    }
    if (op->resume) {
        /* Uploads here are whole at once: the snapshot the interrupted run
         * created is complete if it exists at all. */
        s = find_snapshot(c, resume_id);
        if (s == NULL) {
            sf_result_fail(res, SF_FAIL_PERMANENT, "snapshot-not-found",
                           "Could not find the snapshot ID %s for canister "
                           "%s.", resume_id, c->id);
            goto done;
        }
        snprintf(res->snapshot.id, sizeof res->snapshot.id, "%s", s->id);
        *cleanup = progress;
        progress = NULL;
        goto done;
    }
    if (c->snapshot_count >= sim->config.snapshot_limit) {
        sf_result_fail(res, SF_FAIL_PERMANENT, "snapshot-limit",
                       "Canister %s has reached the maximum number of "
                       "snapshots allowed: %" PRIu64 ".", c->id,
                       sim->config.snapshot_limit);
        goto done;
    }
    if (read_upload(dir, &m, &u, buf, res, err) != SF_OK) {
        rc = SF_ERR;
        goto done;
    }
    if (res->fail != SF_FAIL_NONE)
        goto done;
    if (recognise(sim, &m, &u, &img, err) != SF_OK ||
        sf_sim_snapshot_add(sim, c, &img, true, &s, err) != SF_OK) {
        rc = SF_ERR;
        goto done;
    }
    snprintf(res->snapshot.id, sizeof res->snapshot.id, "%s", s->id);
    /* As icp: the progress file exists from the moment the target snapshot
     * does, and goes once the upload is complete (here: once the state
     * holding the snapshot is saved). */
    if (write_upload_progress(progress, s, &m) == SF_OK) {
        *cleanup = progress;
        progress = NULL;
    }
done:
    meta_free(&m);
    upload_read_free(&u);
    free(lock);
    free(mpath);
    free(progress);
    free(buf);
    return rc;
}

/* What sf_sim_upload_bytes adds up: each entry of the chunk store. */
typedef struct chunk_sum {
    const char *dir;
    uint64_t total;
} chunk_sum;

static int add_chunk(const char *name, void *payload)
{
    chunk_sum *cs = payload;
    char *f = path_join(cs->dir, name);
    uint64_t size;

    if (f != NULL && file_size(f, &size))
        cs->total += size;
    free(f);
    return 0;
}

uint64_t sf_sim_upload_bytes(const char *dir)
{
    uint64_t total = 0, size;
    int k;

    for (k = 0; k < 3; k++) {
        char *p = path_join(dir, blob_names[k]);
        if (p != NULL && file_size(p, &size))
            total += size;
        free(p);
    }
    {
        chunk_sum cs = {path_join(dir, "wasm_chunk_store"), 0};

        if (cs.dir != NULL)
            sf_storage_list(st(), cs.dir, add_chunk, &cs, NULL);
        free((char *)cs.dir);
        total += cs.total;
    }
    return total;
}
