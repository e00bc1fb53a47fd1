/*
 * What a finished `icp` child means: its output parsed into a result, or
 * its failure put in a class the engine can act on (icp.h,
 * docs/icp-driver.md). Only icp 1.5.0's exact shapes are accepted: output
 * drift between icp versions is the first cause of breakage the reference
 * tool saw, so anything else is an error that says what was expected.
 */
#include "icp_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfleet/candid.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"

#define REGISTRY_FILE_MAX ((size_t)64 << 20)

static bool read_only(sf_op_kind k)
{
    return k == SF_OP_REGISTRY || k == SF_OP_STATUS || k == SF_OP_LIST;
}

/* memmem, which is a GNU extension. */
static bool has(const char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle), i;

    if (hay == NULL || m > n)
        return false;
    for (i = 0; i + m <= n; i++)
        if (hay[i] == needle[0] && memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* ---- the message a failure carries ---- */

static size_t line_end(const char *s, size_t n, size_t i)
{
    while (i < n && s[i] != '\n')
        i++;
    return i;
}

static void trim_copy(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k, j = 0;

    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    /* control bytes would garble a log line */
    for (k = 0; k < n && j + 1 < cap; k++)
        dst[j++] = ((unsigned char)s[k] < 0x20 || s[k] == 0x7f) ? '?' : s[k];
    dst[j] = '\0';
}

/* icp's error line ("Error: ..." from anyhow, "error: ..." from clap) and
 * the first line after "Caused by:" when it adds something; else the last
 * line printed. */
static void error_text(const sf_icp_outcome *o, char *buf, size_t cap)
{
    const char *s = o->err;
    size_t n = s ? o->err_len : 0, i = 0;
    size_t top_at = SIZE_MAX, top_len = 0, last_at = 0, last_len = 0;
    bool causes = false;
    char top[400], cause[300];

    cause[0] = '\0';
    while (i < n) {
        size_t e = line_end(s, n, i), a = i, len;

        while (a < e && (s[a] == ' ' || s[a] == '\t'))
            a++;
        len = e - a;
        while (len > 0 && (s[a + len - 1] == ' ' || s[a + len - 1] == '\r'))
            len--;
        if (len > 0) {
            last_at = a;
            last_len = len;
            if (top_at == SIZE_MAX && len > 7 &&
                (memcmp(s + a, "Error: ", 7) == 0 ||
                 memcmp(s + a, "error: ", 7) == 0)) {
                top_at = a + 7;
                top_len = len - 7;
            } else if (top_at != SIZE_MAX && len >= 10 &&
                       memcmp(s + a, "Caused by:", 10) == 0) {
                causes = true;
            } else if (causes && cause[0] == '\0') {
                size_t k = a, end = a + len;
                while (k < end && s[k] >= '0' && s[k] <= '9')
                    k++;
                if (k > a && k + 1 < end && s[k] == ':' && s[k + 1] == ' ')
                    a = k + 2; /* "0: " numbering when there are several */
                trim_copy(cause, sizeof cause, s + a, end - a);
            }
        }
        i = e + 1;
    }
    if (top_at != SIZE_MAX)
        trim_copy(top, sizeof top, s + top_at, top_len);
    else if (last_len > 0)
        trim_copy(top, sizeof top, s + last_at, last_len);
    else
        snprintf(top, sizeof top, "no error message");
    if (cause[0] != '\0' && strstr(top, cause) == NULL)
        snprintf(buf, cap, "%s: %s", top, cause);
    else
        snprintf(buf, cap, "%s", top);
}

static void how_it_ended(const sf_icp_outcome *o, char *buf, size_t cap)
{
    if (o->timed_out)
        snprintf(buf, cap, "killed at the timeout");
    else if (o->signaled)
        snprintf(buf, cap, "killed by signal %d", o->signal);
    else
        snprintf(buf, cap, "icp exited with status %d", o->exit_code);
}

/* ---- failure classes ---- */

/* Every icp error text the driver recognises, in the order they are
 * tried: the first one stderr contains decides the class. An upload's
 * "Created snapshot" line comes first (whatever failed afterwards, the
 * target snapshot exists); SysTransient before the other rejects; the
 * refusals before the transport texts, because a refusal's message may
 * quote a URL; the root key before the transport texts it wraps. */
static const sf_icp_error_text texts[] = {
    {"Created snapshot", SF_ICP_TEXT_UPLOAD_CREATED},
    {"reject code SysTransient", SF_ICP_TEXT_RETRYABLE_REJECT},
    {"is currently running", SF_ICP_TEXT_REFUSAL},   /* create, restore */
    {"is still stopping", SF_ICP_TEXT_REFUSAL},
    {"was not found", SF_ICP_TEXT_REFUSAL},
    {"reject code", SF_ICP_TEXT_REFUSAL},            /* any other reject */
    {"Cannot resume", SF_ICP_TEXT_REFUSAL},          /* --resume, nothing to resume */
    {"is not empty. Use --resume", SF_ICP_TEXT_REFUSAL}, /* fresh download, used dir */
    {"Missing required file", SF_ICP_TEXT_REFUSAL},  /* upload without metadata.json */
    {"Invalid snapshot metadata", SF_ICP_TEXT_REFUSAL},
    {"failed to parse json file", SF_ICP_TEXT_REFUSAL},
    {"failed to load identity", SF_ICP_TEXT_REFUSAL},
    {"no identity found", SF_ICP_TEXT_REFUSAL},
    {"No project found", SF_ICP_TEXT_REFUSAL},
    {"failed to locate project directory", SF_ICP_TEXT_REFUSAL},
    {"project does not contain a network", SF_ICP_TEXT_REFUSAL},
    {"network for this project is not running", SF_ICP_TEXT_REFUSAL},
    {"Specifying a network is not supported", SF_ICP_TEXT_REFUSAL},
    {"failed to parse Candid arguments", SF_ICP_TEXT_REFUSAL},
    {"failed to fetch root key", SF_ICP_TEXT_BEFORE_CALL}, /* before any call */
    /* the agent's transport (hyper/reqwest) and HTTP errors: 429 and 5xx
     * from boundary nodes come as an HTTP error */
    {"error sending request", SF_ICP_TEXT_TRANSPORT},
    {"communication with the replica", SF_ICP_TEXT_TRANSPORT},
    {"error decoding response body", SF_ICP_TEXT_TRANSPORT},
    {"request or response body error", SF_ICP_TEXT_TRANSPORT},
    {"operation timed out", SF_ICP_TEXT_TRANSPORT},
    {"The request timed out.", SF_ICP_TEXT_TRANSPORT},
    {"The replica returned an HTTP Error:", SF_ICP_TEXT_TRANSPORT},
};

const sf_icp_error_text *sf_icp_error_texts(size_t *count)
{
    *count = sizeof texts / sizeof texts[0];
    return texts;
}

const char *sf_icp_text_class_name(sf_icp_text_class cls)
{
    switch (cls) {
    case SF_ICP_TEXT_UPLOAD_CREATED: return "upload-created";
    case SF_ICP_TEXT_RETRYABLE_REJECT: return "retryable-reject";
    case SF_ICP_TEXT_REFUSAL: return "refusal";
    case SF_ICP_TEXT_BEFORE_CALL: return "before-call";
    case SF_ICP_TEXT_TRANSPORT: return "transport";
    }
    return "?";
}

/* The transfer directory lets a fresh download be submitted again only
 * while it holds none of the files icp refuses to overwrite. */
static bool download_resubmittable(const sf_op *op)
{
    static const char *const blockers[] = {
        "metadata.json", "wasm_module.bin", "wasm_memory.bin",
        "stable_memory.bin",
    };
    char path[4096 + 32];
    size_t k;

    if (op->resume)
        return true; /* --resume again continues where this one stopped */
    for (k = 0; k < sizeof blockers / sizeof blockers[0]; k++) {
        snprintf(path, sizeof path, "%s/%s", op->path, blockers[k]);
        if (access(path, F_OK) == 0)
            return false;
    }
    return true;
}

static void classify_failure(const sf_op *op, const sf_icp_outcome *o,
                             sf_result *r)
{
    const char *e = o->err;
    size_t n = e ? o->err_len : 0, k;
    bool ro = read_only(op->kind);
    char msg[800], end[64];

    error_text(o, msg, sizeof msg);
    how_it_ended(o, end, sizeof end);
    if (o->timed_out) {
        sf_result_fail(r, ro ? SF_FAIL_TRANSIENT : SF_FAIL_UNKNOWN,
                       "icp-timeout", "icp did not finish in time and was "
                       "killed%s", ro ? "" : "; the effect may or may not "
                       "have happened");
        return;
    }
    if (o->signaled) {
        sf_result_fail(r, ro ? SF_FAIL_TRANSIENT : SF_FAIL_UNKNOWN,
                       "icp-signal", "icp was killed by signal %d%s",
                       o->signal, ro ? "" : "; the effect may or may not "
                       "have happened");
        return;
    }
    if (o->exit_code == 2) {
        sf_result_fail(r, SF_FAIL_PERMANENT, "icp-usage", "icp refused the "
                       "command line (a bug, or an icp other than %s): %s "
                       "(%s)", SF_ICP_VERSION, msg, end);
        return;
    }
    for (k = 0; k < sizeof texts / sizeof texts[0]; k++) {
        bool safe;

        if (!has(e, n, texts[k].text))
            continue;
        switch (texts[k].cls) {
        case SF_ICP_TEXT_UPLOAD_CREATED:
            if (op->kind != SF_OP_UPLOAD)
                continue;
            sf_result_fail(r, SF_FAIL_UNKNOWN, "icp-failed", "upload failed "
                           "after it created the target snapshot: %s (%s)",
                           msg, end);
            return;
        case SF_ICP_TEXT_RETRYABLE_REJECT:
            sf_result_fail(r, SF_FAIL_TRANSIENT, "icp-rejected", "%s (%s)",
                           msg, end);
            return;
        case SF_ICP_TEXT_REFUSAL:
            sf_result_fail(r, SF_FAIL_PERMANENT, "icp-rejected", "%s (%s)",
                           msg, end);
            return;
        case SF_ICP_TEXT_BEFORE_CALL:
            sf_result_fail(r, SF_FAIL_TRANSIENT, "icp-unreachable", "%s (%s)",
                           msg, end);
            return;
        case SF_ICP_TEXT_TRANSPORT:
            /* icp cannot say whether the request arrived before the
             * exchange failed, so only operations that change nothing are
             * safe again */
            safe = ro || (op->kind == SF_OP_DOWNLOAD &&
                          download_resubmittable(op));
            sf_result_fail(r, safe ? SF_FAIL_TRANSIENT : SF_FAIL_UNKNOWN,
                           "icp-unreachable", "%s (%s)%s", msg, end,
                           safe ? "" : "; the request may have reached the "
                           "replica");
            return;
        }
    }
    sf_result_fail(r, ro ? SF_FAIL_PERMANENT : SF_FAIL_UNKNOWN, "icp-failed",
                   "%s (%s)", msg, end);
}

/* ---- output parsing ---- */

static int bad_output(const sf_op *op, sf_result *r, const sf_error *e)
{
    bool effect = op->kind == SF_OP_CREATE || op->kind == SF_OP_UPLOAD;

    sf_result_fail(r, effect ? SF_FAIL_UNKNOWN : SF_FAIL_PERMANENT,
                   "icp-output", "icp's output for `%s` is not icp %s's: %s%s"
                   "%s%s", sf_op_kind_name(op->kind), SF_ICP_VERSION,
                   e->field[0] ? e->field : "", e->field[0] ? ": " : "",
                   e->message, effect ? " (it reported success, so the "
                   "effect happened)" : "");
    snprintf(r->err.field, sizeof r->err.field, "%s", e->field);
    return SF_ERR;
}

static bool hex_id(const char *s)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n > 0 && n % 2 == 0 && n < SF_SNAPSHOT_ID_MAX;
}

/* {"snapshot_id": hex, "taken_at_timestamp": u64?, "total_size_bytes": u64?} */
static int read_snapshot(sf_jr *jr, const cJSON *obj, bool with_meta,
                         sf_snapshot_info *s)
{
    char *id = NULL;
    size_t k;

    memset(s, 0, sizeof *s);
    if (sf_jr_expect_object(jr, obj) != SF_OK ||
        sf_jr_str(jr, obj, "snapshot_id", &id) != SF_OK)
        return SF_ERR;
    if (!hex_id(id)) {
        free(id);
        return sf_jr_fail(jr, "snapshot_id", "is not non-empty even-length "
                          "hex of at most %d digits", SF_SNAPSHOT_ID_MAX - 2);
    }
    for (k = 0; id[k] != '\0'; k++)
        s->id[k] = (char)(id[k] >= 'A' && id[k] <= 'F' ? id[k] + 32 : id[k]);
    s->id[k] = '\0';
    free(id);
    if (!with_meta)
        return SF_OK;
    if (sf_jr_uint_opt(jr, obj, "taken_at_timestamp", UINT64_MAX,
                       &s->has_taken_at, &s->taken_at_timestamp) != SF_OK ||
        sf_jr_uint_opt(jr, obj, "total_size_bytes", UINT64_MAX,
                       &s->has_total_size, &s->total_size_bytes) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

static int parse_json(const sf_icp_outcome *o, cJSON **root, sf_error *e)
{
    if (o->out_len == 0)
        return sf_error_set(e, SF_EK_JSON_SYNTAX, "", "nothing on stdout, "
                            "expected JSON");
    return sf_json_parse(o->out, o->out_len, root, e);
}

static int parse_snapshot_reply(const sf_op *op, const sf_icp_outcome *o,
                                sf_result *r)
{
    cJSON *root = NULL;
    sf_error e;
    sf_jr jr;
    int rc;

    sf_error_clear(&e);
    sf_jr_init(&jr, &e);
    rc = parse_json(o, &root, &e);
    if (rc == SF_OK)
        rc = read_snapshot(&jr, root, op->kind == SF_OP_CREATE, &r->snapshot);
    cJSON_Delete(root);
    return rc == SF_OK ? SF_OK : bad_output(op, r, &e);
}

static int parse_list(const sf_op *op, const sf_icp_outcome *o, sf_result *r)
{
    cJSON *root = NULL;
    const cJSON *arr, *item;
    sf_error e;
    sf_jr jr;
    size_t count = 0, i = 0, mark;
    int rc;

    sf_error_clear(&e);
    sf_jr_init(&jr, &e);
    rc = parse_json(o, &root, &e);
    if (rc == SF_OK && (rc = sf_jr_expect_object(&jr, root)) == SF_OK)
        rc = sf_jr_array(&jr, root, "snapshots", &arr, &count);
    if (rc == SF_OK) {
        r->snapshots = calloc(count ? count : 1, sizeof *r->snapshots);
        if (r->snapshots == NULL)
            rc = sf_error_set(&e, SF_EK_NOMEM, "", "out of memory");
    }
    if (rc == SF_OK) {
        mark = sf_jr_push_key(&jr, "snapshots");
        cJSON_ArrayForEach(item, arr) {
            size_t m = sf_jr_push_index(&jr, i);
            if (read_snapshot(&jr, item, true, &r->snapshots[i]) != SF_OK) {
                rc = SF_ERR;
                break;
            }
            sf_jr_pop(&jr, m);
            r->snapshot_count = ++i;
        }
        sf_jr_pop(&jr, mark);
    }
    cJSON_Delete(root);
    return rc == SF_OK ? SF_OK : bad_output(op, r, &e);
}

/* "0x" + hex, or null: lower-case hex without the prefix. */
static int read_module_hash(sf_jr *jr, const cJSON *obj, char **out)
{
    char *s = NULL;
    size_t k, n;

    *out = NULL;
    if (sf_jr_str_opt(jr, obj, "module_hash", &s) != SF_OK)
        return SF_ERR;
    if (s == NULL)
        return SF_OK;
    n = strlen(s);
    if (n < 4 || n % 2 != 0 || s[0] != '0' || s[1] != 'x' || !hex_id(s + 2)) {
        free(s);
        return sf_jr_fail(jr, "module_hash", "is not \"0x\" and hex");
    }
    for (k = 2; k < n; k++)
        s[k - 2] = (char)(s[k] >= 'A' && s[k] <= 'F' ? s[k] + 32 : s[k]);
    s[n - 2] = '\0';
    *out = s;
    return SF_OK;
}

static int read_status_object(const sf_op *op, const cJSON *obj, sf_result *r,
                              sf_error *e)
{
    static const char *const names[] = {"Running", "Stopping", "Stopped"};
    const cJSON *settings;
    sf_jr jr;
    size_t k;
    int which;

    sf_jr_init(&jr, e);
    if (cJSON_GetObjectItemCaseSensitive(obj, "status") == NULL &&
        cJSON_GetObjectItemCaseSensitive(obj, "controllers") != NULL)
        /* icp's fallback when the caller may not read the full status:
         * public state only, no status */
        return sf_error_set(e, "icp-not-controller", "status", "icp could "
                            "read only the public state of %s: the identity "
                            "is not one of its controllers", op->canister_id);
    if (sf_jr_enum(&jr, obj, "status", names, 3, &which) != SF_OK ||
        sf_jr_object(&jr, obj, "settings", &settings) != SF_OK)
        return SF_ERR;
    sf_jr_push_key(&jr, "settings");
    if (sf_jr_str_array(&jr, settings, "controllers", &r->controllers,
                        &r->controller_count) != SF_OK)
        return SF_ERR;
    sf_jr_push_key(&jr, "controllers");
    for (k = 0; k < r->controller_count; k++) {
        if (!sf_principal_is_valid(r->controllers[k])) {
            sf_jr_push_index(&jr, k);
            return sf_jr_fail(&jr, NULL, "is not a principal");
        }
    }
    sf_jr_pop(&jr, 0);
    if (read_module_hash(&jr, obj, &r->module_hash) != SF_OK)
        return SF_ERR;
    r->status = which == 0 ? SF_STATUS_RUNNING
                : which == 1 ? SF_STATUS_STOPPING : SF_STATUS_STOPPED;
    return SF_OK;
}

/* One compact object per line; the one whose id is ours. */
static int parse_status(const sf_op *op, const sf_icp_outcome *o, sf_result *r)
{
    const char *s = o->out;
    size_t n = o->out_len, i = 0, lines = 0;
    sf_error e;
    int rc = SF_ERR;

    sf_error_clear(&e);
    while (i < n) {
        size_t end = line_end(s, n, i);
        cJSON *obj = NULL;
        const cJSON *id;
        char a[SF_PRINCIPAL_TEXT_MAX], b[SF_PRINCIPAL_TEXT_MAX];

        if (end == i || (end - i == 1 && s[i] == '\r')) {
            i = end + 1;
            continue;
        }
        lines++;
        if (sf_json_parse(s + i, end - i, &obj, &e) != SF_OK)
            return bad_output(op, r, &e);
        id = cJSON_GetObjectItemCaseSensitive(obj, "id");
        if (cJSON_IsObject(obj) && cJSON_IsString(id) &&
            sf_principal_canonical(id->valuestring, a, NULL) == SF_OK &&
            sf_principal_canonical(op->canister_id, b, NULL) == SF_OK &&
            strcmp(a, b) == 0) {
            rc = read_status_object(op, obj, r, &e);
            cJSON_Delete(obj);
            if (rc != SF_OK && e.kind != NULL &&
                strcmp(e.kind, "icp-not-controller") == 0) {
                sf_result_fail(r, SF_FAIL_PERMANENT, e.kind, "%s", e.message);
                return SF_ERR;
            }
            return rc == SF_OK ? SF_OK : bad_output(op, r, &e);
        }
        cJSON_Delete(obj);
        i = end + 1;
    }
    sf_error_set(&e, SF_EK_JSON_SCHEMA, "id", "%s for %s",
                 lines ? "no status object" : "no status output",
                 op->canister_id);
    return bad_output(op, r, &e);
}

int sf_icp_hex_decode(const char *hex, unsigned char **out, size_t *len)
{
    size_t n = strlen(hex), k;
    unsigned char *b;

    *out = NULL;
    *len = 0;
    if (n % 2 != 0)
        return SF_ERR;
    b = malloc(n / 2 ? n / 2 : 1);
    if (b == NULL)
        return SF_ERR;
    for (k = 0; k < n; k++) {
        char c = hex[k];
        int v = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (v < 0) {
            free(b);
            return SF_ERR;
        }
        if (k % 2 == 0)
            b[k / 2] = (unsigned char)(v << 4);
        else
            b[k / 2] |= (unsigned char)v;
    }
    *out = b;
    *len = n / 2;
    return SF_OK;
}

/* {"response_bytes": hex, ...} -> Candid -> registry. */
static int registry_from_envelope(const cJSON *root, sf_registry *reg,
                                  sf_error *e)
{
    unsigned char *bytes;
    size_t len;
    char *hex = NULL;
    sf_jr jr;
    int rc;

    sf_jr_init(&jr, e);
    if (sf_jr_expect_object(&jr, root) != SF_OK ||
        sf_jr_str(&jr, root, "response_bytes", &hex) != SF_OK)
        return SF_ERR;
    if (sf_icp_hex_decode(hex, &bytes, &len) != SF_OK) {
        free(hex);
        return sf_error_set(e, SF_EK_JSON_SCHEMA, "response_bytes", "field "
                            "response_bytes is not hex");
    }
    free(hex);
    rc = sf_candid_registry_from_reply(bytes, len, reg, e);
    free(bytes);
    return rc;
}

static int parse_registry(const sf_op *op, const sf_icp_outcome *o,
                          sf_result *r)
{
    cJSON *root = NULL;
    sf_error e;
    int rc;

    sf_error_clear(&e);
    if (parse_json(o, &root, &e) != SF_OK)
        return bad_output(op, r, &e);
    rc = registry_from_envelope(root, &r->registry, &e);
    cJSON_Delete(root);
    if (rc == SF_OK)
        return SF_OK;
    if (e.kind != NULL && strncmp(e.kind, "json-", 5) == 0)
        return bad_output(op, r, &e);
    /* Candid or registry errors keep their kinds */
    r->fail = SF_FAIL_PERMANENT;
    r->err = e;
    return SF_ERR;
}

int sf_icp_registry_file(const char *path, sf_registry *out, sf_error *err)
{
    char *text = NULL;
    size_t len;
    cJSON *root = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, REGISTRY_FILE_MAX, &text, &len, err) != SF_OK)
        return SF_ERR;
    if (sf_json_parse(text, len, &root, err) != SF_OK) {
        free(text);
        return sf_error_prefix(err, "%s: ", path);
    }
    if (cJSON_IsObject(root) &&
        cJSON_GetObjectItemCaseSensitive(root, "response_bytes") != NULL)
        rc = registry_from_envelope(root, out, err);
    else
        rc = sf_registry_parse(text, len, out, err);
    cJSON_Delete(root);
    free(text);
    return rc == SF_OK ? SF_OK : sf_error_prefix(err, "%s: ", path);
}

void sf_icp_complete(const sf_op *op, const sf_icp_outcome *o, sf_result *r)
{
    char path[4096 + 32];

    if (o->timed_out || o->signaled || o->exit_code != 0) {
        classify_failure(op, o, r);
        return;
    }
    if (o->out_truncated && (read_only(op->kind) || op->kind == SF_OP_CREATE ||
                             op->kind == SF_OP_UPLOAD)) {
        sf_result_fail(r, read_only(op->kind) ? SF_FAIL_PERMANENT
                                              : SF_FAIL_UNKNOWN,
                       "icp-output-too-large", "icp printed more than %zu "
                       "bytes for `%s`; icp %s prints one small JSON object%s",
                       o->out_len, sf_op_kind_name(op->kind), SF_ICP_VERSION,
                       read_only(op->kind) ? "" : " (it reported success, so "
                       "the effect happened)");
        return;
    }
    switch (op->kind) {
    case SF_OP_REGISTRY:
        parse_registry(op, o, r);
        return;
    case SF_OP_STATUS:
        parse_status(op, o, r);
        return;
    case SF_OP_CREATE:
    case SF_OP_UPLOAD:
        parse_snapshot_reply(op, o, r);
        return;
    case SF_OP_LIST:
        parse_list(op, o, r);
        return;
    case SF_OP_DOWNLOAD:
        /* success is exit 0; a directory without metadata.json would
         * checksum as an artifact, so it is caught here */
        snprintf(path, sizeof path, "%s/metadata.json", op->path);
        if (access(path, F_OK) != 0)
            sf_result_fail(r, SF_FAIL_PERMANENT, "icp-output", "icp reported "
                           "a finished download but %s does not exist", path);
        return;
    case SF_OP_STOP:
    case SF_OP_START:
    case SF_OP_LOAD:
    case SF_OP_DELETE:
    case SF_OP_KIND_COUNT:
        return; /* icp reports these only through exit 0 */
    }
}
