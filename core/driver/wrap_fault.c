/* The fault-injecting driver wrapper (wrap.h, docs/faults.md). */
#include "snapfleet/wrap.h"

#include "snapfleet/fs.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_BUF 8192

/* No effect: forwarded untouched. */
#define NO_RULE ((size_t)-1)
/* A download directory is two levels deep; anything deeper is not one. */
#define CORRUPT_MAX_DEPTH 64

typedef struct forwarded {
    uint64_t outer;
    uint64_t inner;
    size_t rule; /* NO_RULE, or a lost-response / corrupt rule */
    sf_op op;
} forwarded;

typedef struct injected {
    uint64_t ticket;
    sf_result result;
} injected;

typedef struct fault_driver {
    sf_driver self;
    sf_driver *inner;
    const sf_fault_plan *plan;
    uint64_t *calls; /* per rule: matching calls seen */
    void (*on_topology)(const char *kind, void *ctx);
    void *ctx;
    bool topology_done;
    uint64_t next_ticket;
    uint64_t corruptions; /* corruptions made so far */
    forwarded *fwd;
    size_t nfwd, capfwd;
    injected *queue; /* FIFO, oldest first */
    size_t nqueue, capqueue;
} fault_driver;

static int no_memory(sf_error *err)
{
    return sf_error_set(err, SF_EK_NOMEM, "", "out of memory in the fault "
                        "driver");
}

static int reserve(void **items, size_t *cap, size_t used, size_t size)
{
    void *grown;
    size_t want;

    if (used < *cap)
        return SF_OK;
    want = *cap ? *cap * 2 : 8;
    grown = realloc(*items, want * size);
    if (grown == NULL)
        return SF_ERR;
    *items = grown;
    *cap = want;
    return SF_OK;
}

static void rule_text(const sf_fault_plan *plan, size_t i, char *buf,
                      size_t size)
{
    const sf_fault_rule *r = sf_fault_plan_rule(plan, i);
    char nth[32] = "";

    if (r->nth != 0)
        snprintf(nth, sizeof nth, ":%llu", (unsigned long long)r->nth);
    snprintf(buf, size, "%s%s%s%s=%s", sf_op_kind_name(r->op),
             r->canister_id[0] || r->nth ? ":" : "",
             r->canister_id[0] ? r->canister_id : (r->nth ? "*" : ""), nth,
             sf_fault_effect_name(r->effect));
}

/* Counts the call against every rule it matches and returns the first
 * rule (in plan order) that fires, or NO_RULE. */
static size_t match(fault_driver *f, const sf_op *op)
{
    char canon[SF_PRINCIPAL_TEXT_MAX];
    size_t n = sf_fault_plan_rule_count(f->plan), winner = NO_RULE;

    /* sf_op_init validated the id, but not its case. */
    if (sf_principal_canonical(op->canister_id, canon, NULL) != SF_OK)
        canon[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        const sf_fault_rule *r = sf_fault_plan_rule(f->plan, i);

        if (r->op != op->kind)
            continue;
        if (r->canister_id[0] != '\0' &&
            (canon[0] == '\0' || strcmp(r->canister_id, canon) != 0))
            continue;
        f->calls[i]++;
        if (winner == NO_RULE && (r->nth == 0 || f->calls[i] == r->nth))
            winner = i;
    }
    return winner;
}

static int metadata_only(const char *root, char scratch[PATH_BUF],
                         sf_error *err);

static int fault_submit(sf_driver *d, const sf_op *op, uint64_t *ticket,
                        sf_error *err)
{
    fault_driver *f = d->impl;
    size_t rule;
    const sf_fault_rule *r;

    /* Room first, so running out of memory leaves the counters alone. */
    if (reserve((void **)&f->fwd, &f->capfwd, f->nfwd, sizeof *f->fwd) ||
        reserve((void **)&f->queue, &f->capqueue, f->nqueue,
                sizeof *f->queue))
        return no_memory(err);
    rule = match(f, op);
    r = rule == NO_RULE ? NULL : sf_fault_plan_rule(f->plan, rule);
    if (r != NULL && (r->effect == SF_FAULT_TRANSIENT ||
                      r->effect == SF_FAULT_PERMANENT)) {
        injected *q = &f->queue[f->nqueue];
        char text[160];

        rule_text(f->plan, rule, text, sizeof text);
        q->ticket = ++f->next_ticket;
        sf_result_init(&q->result, op->kind);
        sf_result_fail(&q->result,
                       r->effect == SF_FAULT_TRANSIENT ? SF_FAIL_TRANSIENT
                                                       : SF_FAIL_PERMANENT,
                       "injected-fault",
                       "%s %s: injected %s failure (fault rule `%s`)",
                       sf_op_kind_name(op->kind), op->canister_id,
                       sf_fault_effect_name(r->effect), text);
        f->nqueue++;
        *ticket = q->ticket;
        return SF_OK;
    }
    {
        forwarded *w = &f->fwd[f->nfwd];
        sf_op sent = *op;

        if (r != NULL && r->effect == SF_FAULT_LOST_METADATA_RESPONSE) {
            char scratch[PATH_BUF];
            sf_error e;

            sf_error_clear(&e);
            if (metadata_only(op->path, scratch, &e) != SF_OK ||
                strlen(scratch) >= sizeof sent.path) {
                injected *q = &f->queue[f->nqueue];
                char text[160];

                rule_text(f->plan, rule, text, sizeof text);
                q->ticket = ++f->next_ticket;
                sf_result_init(&q->result, op->kind);
                sf_result_fail(&q->result, SF_FAIL_PERMANENT,
                               e.kind ? e.kind : SF_EK_IO, "could not inject "
                               "fault rule `%s`: %s", text, e.message);
                f->nqueue++;
                *ticket = q->ticket;
                return SF_OK;
            }
            /* fits: checked above */
            memcpy(sent.path, scratch, strlen(scratch) + 1);
            sent.resume = false;
        }
        if (sf_driver_submit(f->inner, &sent, &w->inner, err) != SF_OK)
            return SF_ERR;
        w->outer = ++f->next_ticket;
        w->rule = rule;
        w->op = sent;
        f->nfwd++;
        *ticket = w->outer;
    }
    return SF_OK;
}

/* ---- corrupt ---- */

typedef struct largest {
    char *rel; /* relative path of the best candidate so far */
    uint64_t size;
} largest;

/* Every file call goes through the storage seam (snapfleet/storage.h):
 * these are icp's writes and transit corruption on the directory a
 * download wrote, which lives wherever the process's storage keeps it
 * (under `sim run`, the simulated disk). Not durable writes of a backup:
 * nothing here calls the write hook. */
static const sf_storage *st(void)
{
    return sf_fs_storage();
}

/* a, "/" and b (just one of them when the other is empty); refuses what does not fit rather
 * than touching a truncated path. */
static int join(char out[PATH_BUF], const char *a, const char *b,
                sf_error *err)
{
    int n = snprintf(out, PATH_BUF, "%s%s%s", a, a[0] && b[0] ? "/" : "", b);

    if (n < 0 || n >= PATH_BUF)
        return sf_error_set(err, SF_EK_IO, "", "path too long below %s", a);
    return SF_OK;
}

/* A directory's entries, copied (the walk recurses and the seam's
 * listing must not be re-entered from its callback). */
typedef struct names {
    char **v;
    sf_storage_kind *kind;
    size_t n, cap;
    bool oom;
} names;

static int add_entry(const char *name, sf_storage_kind kind, void *payload)
{
    names *ns = payload;

    if (ns->n == ns->cap) {
        size_t cap = ns->cap ? ns->cap * 2 : 16;
        char **v = realloc(ns->v, cap * sizeof *v);
        sf_storage_kind *k;

        if (v == NULL) {
            ns->oom = true;
            return 1;
        }
        ns->v = v;
        k = realloc(ns->kind, cap * sizeof *k);
        if (k == NULL) {
            ns->oom = true;
            return 1;
        }
        ns->kind = k;
        ns->cap = cap;
    }
    if ((ns->v[ns->n] = strdup(name)) == NULL) {
        ns->oom = true;
        return 1;
    }
    ns->kind[ns->n++] = kind;
    return 0;
}

static void names_free(names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
    free(ns->kind);
}

static int walk(const char *root, const char *rel, int depth, largest *best,
                sf_error *err)
{
    char dir[PATH_BUF];
    names ns = {NULL, NULL, 0, 0, false};
    sf_error e;
    int rc = SF_OK;

    if (join(dir, root, rel, err) != SF_OK)
        return SF_ERR;
    if (depth > CORRUPT_MAX_DEPTH)
        return sf_error_set(err, SF_EK_IO, "", "%s: too deeply nested", dir);
    if (sf_storage_list_kind(st(), dir, add_entry, &ns, &e) != SF_OK) {
        if (ns.oom)
            rc = no_memory(err);
        else {
            /* "cannot open DIR: <reason>", as with opendir */
            const char *r = strrchr(e.message, ':');
            rc = sf_error_set(err, SF_EK_IO, "", "cannot open %s%s", dir,
                              r != NULL ? r : "");
        }
        names_free(&ns);
        return rc;
    }
    for (size_t i = 0; rc == SF_OK && i < ns.n; i++) {
        char child[PATH_BUF], crel[PATH_BUF];
        sf_storage_info info;
        uint64_t size;

        if (join(crel, rel, ns.v[i], err) != SF_OK ||
            join(child, root, crel, err) != SF_OK) {
            rc = SF_ERR;
            break;
        }
        if (ns.kind[i] == SF_STORAGE_DIRECTORY) {
            rc = walk(root, crel, depth + 1, best, err);
        } else if (ns.kind[i] == SF_STORAGE_REGULAR) {
            if (sf_storage_info_of(st(), child, &info, err) != SF_OK) {
                rc = SF_ERR;
                break;
            }
            if (info.kind != SF_STORAGE_REGULAR)
                continue; /* gone or replaced since the listing */
            size = info.size;
            /* Largest first, then the smallest path: the same choice
             * whatever order the listing gives entries in. */
            if (best->rel == NULL || size > best->size ||
                (size == best->size && strcmp(crel, best->rel) < 0)) {
                char *copy = strdup(crel);

                if (copy == NULL) {
                    rc = no_memory(err);
                } else {
                    free(best->rel);
                    best->rel = copy;
                    best->size = size;
                }
            }
        }
        /* Symlinks and special files are skipped, never followed. */
    }
    names_free(&ns);
    return rc;
}

/* The k-th corruption by this driver flips the byte at (size/2 + k) mod
 * size: transit corruption differs from one read to the next, which is
 * what lets a second read of the same snapshot notice it. */
static int corrupt_download(const char *root, uint64_t k, sf_error *err)
{
    largest best = {NULL, 0};
    char path[PATH_BUF];
    unsigned char byte = 0xff;
    sf_storage_file *f = NULL;
    int rc = SF_OK;
    bool found;

    if (walk(root, "", 0, &best, err) != SF_OK) {
        free(best.rel);
        return SF_ERR;
    }
    found = best.rel != NULL;
    rc = join(path, root, found ? best.rel : "corrupt", err);
    free(best.rel);
    if (rc != SF_OK)
        return SF_ERR;
    if (sf_storage_open(st(), path, found ? SF_STORAGE_WRITE
                        : SF_STORAGE_WRITE | SF_STORAGE_CREATE | SF_STORAGE_EXCL,
                        &f, err) != SF_OK)
        return SF_ERR;
    if (best.size > 0) {
        uint64_t at = (best.size / 2 + k) % best.size;
        size_t got = 0;

        if (sf_storage_read(st(), f, at, &byte, 1, &got, err) != SF_OK)
            rc = SF_ERR;
        else if (got != 1)
            rc = sf_error_set(err, SF_EK_IO, "", "cannot read %s: it shrank",
                              path);
        else {
            byte ^= 0xff;
            rc = sf_storage_write(st(), f, at, &byte, 1, err);
        }
    } else {
        rc = sf_storage_write(st(), f, 0, &byte, 1, err);
    }
    if (sf_storage_close(st(), &f, rc == SF_OK ? err : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

/* ---- the transfer effects (icp's own partial states) ---- */

static int read_text(const char *path, char **text, size_t *len, sf_error *err)
{
    return sf_fs_read_file(path, (size_t)16 << 20, text, len, err);
}

/* truncate-chunk: the chunk file first by name, cut to half its size. */
static int truncate_chunk(const char *root, char *which, size_t cap,
                          sf_error *err)
{
    char dir[PATH_BUF], path[PATH_BUF];
    char *best = NULL;
    names ns = {NULL, NULL, 0, 0, false};
    sf_storage_kind kind;
    sf_storage_file *f = NULL;
    uint64_t size;
    int rc = SF_OK;

    which[0] = '\0';
    if (join(dir, root, "wasm_chunk_store", err) != SF_OK)
        return SF_ERR;
    if (sf_storage_kind_of(st(), dir, &kind, err) != SF_OK)
        return SF_ERR;
    if (kind == SF_STORAGE_ABSENT)
        return SF_OK;
    if (sf_storage_list_kind(st(), dir, add_entry, &ns, err) != SF_OK) {
        rc = ns.oom ? no_memory(err) : SF_ERR;
        names_free(&ns);
        return rc;
    }
    for (size_t i = 0; i < ns.n; i++) {
        const char *name = ns.v[i];
        size_t n = strlen(name);

        if (n < 5 || strcmp(name + n - 4, ".bin") != 0)
            continue;
        if (best == NULL || strcmp(name, best) < 0)
            best = ns.v[i];
    }
    if (best == NULL) {
        names_free(&ns);
        return SF_OK; /* no chunk: the kill came after the last write */
    }
    if (join(path, dir, best, err) != SF_OK) {
        names_free(&ns);
        return SF_ERR;
    }
    snprintf(which, cap, "%s", best);
    names_free(&ns);
    /* the seam opens regular files only and never through a symlink */
    if (sf_storage_open(st(), path, SF_STORAGE_WRITE, &f, err) != SF_OK ||
        sf_storage_size(st(), f, &size, err) != SF_OK ||
        sf_storage_truncate(st(), f, size / 2, err) != SF_OK)
        rc = SF_ERR;
    if (sf_storage_close(st(), &f, rc == SF_OK ? err : NULL) != SF_OK)
        rc = SF_ERR;
    return rc;
}

/* stale-tmp: metadata.json's taken_at_timestamp one less (edited as text:
 * the value does not fit a double). */
static int make_stale(const char *root, sf_error *err)
{
    static const char key[] = "\"taken_at_timestamp\"";
    char path[PATH_BUF], num[32];
    char *text = NULL, *at, *p, *out;
    unsigned long long v;
    size_t len, n;
    int rc;

    if (join(path, root, "metadata.json", err) != SF_OK ||
        read_text(path, &text, &len, err) != SF_OK)
        return SF_ERR;
    at = strstr(text, key);
    p = at ? at + sizeof key - 1 : NULL;
    while (p != NULL && (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t'))
        p++;
    if (p == NULL || *p < '0' || *p > '9') {
        free(text);
        return sf_error_set(err, SF_EK_IO, "", "%s holds no "
                            "taken_at_timestamp", path);
    }
    errno = 0;
    v = strtoull(p, &at, 10);
    if (errno != 0 || v == 0) {
        free(text);
        return sf_error_set(err, SF_EK_IO, "", "%s: taken_at_timestamp out "
                            "of range", path);
    }
    n = (size_t)snprintf(num, sizeof num, "%llu", v - 1);
    out = malloc(len + 1);
    if (out == NULL) {
        free(text);
        return no_memory(err);
    }
    memcpy(out, text, (size_t)(p - text));
    memcpy(out + (p - text), num, n);
    memcpy(out + (p - text) + n, at, len - (size_t)(at - text));
    rc = sf_fs_write_atomic_untracked(path, out,
                                      (size_t)(p - text) + n +
                                          (len - (size_t)(at - text)), err);
    free(out);
    free(text);
    return rc;
}

/* cut: the progress file icp leaves when killed after the metadata call. */
static int leave_progress(const char *root, const char *snapshot_id,
                          sf_error *err)
{
    char path[PATH_BUF], text[512];
    int n;

    if (join(path, root, ".upload_progress.json", err) != SF_OK)
        return SF_ERR;
    n = snprintf(text, sizeof text, "{\n  \"snapshot_id\": \"%s\",\n  "
                 "\"metadata_uploaded\": true,\n  \"wasm_module_offset\": 0,"
                 "\n  \"wasm_memory_offset\": 0,\n  \"stable_memory_offset\": "
                 "0,\n  \"wasm_chunks_uploaded\": []\n}", snapshot_id);
    return sf_fs_write_atomic_untracked(path, text, (size_t)n, err);
}

/* lost-metadata-response: a scratch directory beside the upload's with its
 * metadata.json declaring nothing (every size 0, no chunks) and an empty
 * stable memory: uploading it makes a snapshot without data, which is
 * what the IC holds after a metadata call whose reply was lost. */
static int metadata_only(const char *root, char scratch[PATH_BUF],
                         sf_error *err)
{
    static const char *const keys[] = {
        "\"wasm_module_size\"", "\"wasm_memory_size\"",
        "\"stable_memory_size\"",
    };
    char path[PATH_BUF];
    char *text = NULL;
    size_t len, k;
    int n;

    n = snprintf(scratch, PATH_BUF, "%s.fault-scratch", root);
    if (n < 0 || n >= PATH_BUF)
        return sf_error_set(err, SF_EK_IO, "", "path too long: %s", root);
    if (sf_remove_tree(scratch, err) != SF_OK ||
        sf_fs_mkdir_p(scratch, err) != SF_OK ||
        join(path, root, "metadata.json", err) != SF_OK ||
        read_text(path, &text, &len, err) != SF_OK)
        return SF_ERR;
    /* every size becomes 0 and the chunk list empty, in place: digits are
     * overwritten by spaces, and the list's content likewise */
    for (k = 0; k < 3; k++) {
        char *p = strstr(text, keys[k]);
        if (p == NULL)
            continue;
        p += strlen(keys[k]);
        while (*p == ' ' || *p == ':' || *p == '\n' || *p == '\t')
            p++;
        if (*p >= '0' && *p <= '9') {
            *p++ = '0';
            while (*p >= '0' && *p <= '9')
                *p++ = ' ';
        }
    }
    {
        char *p = strstr(text, "\"wasm_chunk_store\"");
        if (p != NULL && (p = strchr(p, '[')) != NULL) {
            int depth = 0;
            for (p++; *p != '\0' && !(depth == 0 && *p == ']'); p++) {
                depth += *p == '[' || *p == '{';
                depth -= *p == ']' || *p == '}';
                *p = ' ';
            }
        }
    }
    if (join(path, scratch, "metadata.json", err) != SF_OK ||
        sf_fs_write_atomic_untracked(path, text, len, err) != SF_OK) {
        free(text);
        return SF_ERR;
    }
    free(text);
    if (join(path, scratch, "stable_memory.bin", err) != SF_OK)
        return SF_ERR;
    return sf_fs_write_atomic_untracked(path, "", 0, err);
}

/* ---- wait ---- */

static void apply(fault_driver *f, const forwarded *w, sf_result *result)
{
    const sf_fault_rule *r;
    char text[160];

    if (w->rule == NO_RULE)
        return;
    r = sf_fault_plan_rule(f->plan, w->rule);
    rule_text(f->plan, w->rule, text, sizeof text);
    if (r->effect == SF_FAULT_LOST_RESPONSE) {
        /* Whatever happened stays done; only the answer is lost. */
        sf_result_free(result);
        sf_result_init(result, w->op.kind);
        sf_result_fail(result, SF_FAIL_UNKNOWN, "lost-response",
                       "%s %s: response lost (injected by fault rule `%s`)",
                       sf_op_kind_name(w->op.kind), w->op.canister_id, text);
    } else if (r->effect == SF_FAULT_LOST_METADATA_RESPONSE) {
        /* the snapshot the metadata call made stays; icp never heard */
        sf_error e;

        sf_remove_tree(w->op.path, &e);
        sf_result_free(result);
        sf_result_init(result, w->op.kind);
        sf_result_fail(result, SF_FAIL_UNKNOWN, "lost-response", "%s %s: the "
                       "reply to the metadata call was lost (injected by "
                       "fault rule `%s`)", sf_op_kind_name(w->op.kind),
                       w->op.canister_id, text);
    } else if ((r->effect == SF_FAULT_TRUNCATE_CHUNK ||
                r->effect == SF_FAULT_STALE_TMP ||
                r->effect == SF_FAULT_CUT) && result->fail == SF_FAIL_NONE) {
        char which[300] = "";
        sf_error e;
        int rc;

        sf_error_clear(&e);
        rc = r->effect == SF_FAULT_TRUNCATE_CHUNK
                 ? truncate_chunk(w->op.path, which, sizeof which, &e)
             : r->effect == SF_FAULT_STALE_TMP
                 ? make_stale(w->op.path, &e)
                 : leave_progress(w->op.path, result->snapshot.id, &e);
        sf_result_free(result);
        sf_result_init(result, w->op.kind);
        if (rc != SF_OK)
            sf_result_fail(result, SF_FAIL_PERMANENT, e.kind,
                           "could not inject fault rule `%s`: %s", text,
                           e.message);
        else
            sf_result_fail(result, SF_FAIL_UNKNOWN, "killed", "%s %s: icp "
                           "killed %s (injected by fault rule `%s`)",
                           sf_op_kind_name(w->op.kind), w->op.canister_id,
                           r->effect == SF_FAULT_TRUNCATE_CHUNK
                               ? "halfway through writing a chunk"
                           : r->effect == SF_FAULT_STALE_TMP
                               ? "in a directory of another snapshot's "
                                 "download"
                               : "after the metadata call", text);
    } else if (r->effect == SF_FAULT_CORRUPT && result->fail == SF_FAIL_NONE) {
        sf_error e;

        sf_error_clear(&e);
        if (corrupt_download(w->op.path, f->corruptions++, &e) != SF_OK) {
            /* Loud on purpose: a test that meant to corrupt must not pass
             * because the corruption silently did not happen. */
            sf_result_free(result);
            sf_result_init(result, w->op.kind);
            sf_result_fail(result, SF_FAIL_PERMANENT, e.kind,
                           "could not inject fault rule `%s`: %s", text,
                           e.message);
        }
    }
}

/* wait() (limited false) and wait_for(timeout_ms): an injected completion
 * is there at once; anything else is the inner driver's. */
static int fault_wait_within(sf_driver *d, bool limited, uint64_t timeout_ms,
                             uint64_t *ticket, sf_result *result,
                             bool *timed_out, sf_error *err)
{
    fault_driver *f = d->impl;
    uint64_t inner_ticket;
    const char *topology = sf_fault_plan_topology(f->plan);
    size_t i;
    forwarded w;

    *timed_out = false;
    if (f->nqueue > 0) {
        *ticket = f->queue[0].ticket;
        *result = f->queue[0].result;
        memmove(f->queue, f->queue + 1, --f->nqueue * sizeof *f->queue);
        return SF_OK;
    }
    if (f->nfwd == 0)
        return sf_error_set(err, "internal", "", "fault driver: wait with "
                            "nothing in flight");
    if (!limited) {
        if (sf_driver_wait(f->inner, &inner_ticket, result, err) != SF_OK)
            return SF_ERR;
    } else if (sf_driver_wait_for(f->inner, timeout_ms, &inner_ticket, result,
                                  timed_out, err) != SF_OK) {
        return SF_ERR;
    } else if (*timed_out) {
        return SF_OK;
    }
    for (i = 0; i < f->nfwd && f->fwd[i].inner != inner_ticket; i++)
        ;
    if (i == f->nfwd)
        return sf_error_set(err, "internal", "", "fault driver: inner driver "
                            "completed unknown ticket %llu",
                            (unsigned long long)inner_ticket);
    w = f->fwd[i];
    f->fwd[i] = f->fwd[--f->nfwd];
    apply(f, &w, result);
    if (topology != NULL && !f->topology_done &&
        w.op.kind == SF_OP_REGISTRY && result->fail == SF_FAIL_NONE) {
        f->topology_done = true;
        f->on_topology(topology, f->ctx);
    }
    *ticket = w.outer;
    return SF_OK;
}

static int fault_wait(sf_driver *d, uint64_t *ticket, sf_result *result,
                      sf_error *err)
{
    bool timed_out;

    return fault_wait_within(d, false, 0, ticket, result, &timed_out, err);
}

static int fault_wait_for(sf_driver *d, uint64_t timeout_ms, uint64_t *ticket,
                          sf_result *result, bool *timed_out, sf_error *err)
{
    return fault_wait_within(d, true, timeout_ms, ticket, result, timed_out,
                             err);
}

static int fault_render(sf_driver *d, const sf_op *op, sf_buf *out,
                        sf_error *err)
{
    fault_driver *f = d->impl;

    return sf_driver_render(f->inner, op, out, err);
}

static size_t fault_in_flight(sf_driver *d)
{
    fault_driver *f = d->impl;

    return f->nqueue + f->nfwd;
}

static void fault_destroy(sf_driver *d)
{
    fault_driver *f = d->impl;

    for (size_t i = 0; i < f->nqueue; i++)
        sf_result_free(&f->queue[i].result);
    free(f->queue);
    free(f->fwd);
    free(f->calls);
    free(f);
}

static const sf_driver_ops fault_ops = {
    "fault", fault_submit, fault_wait, fault_render, fault_in_flight,
    fault_destroy, fault_wait_for,
};

int sf_fault_driver_new(sf_driver *inner, const sf_fault_plan *plan,
                        void (*on_topology)(const char *kind, void *ctx),
                        void *ctx, sf_driver **out, sf_error *err)
{
    fault_driver *f;
    size_t n;

    *out = NULL;
    if (inner == NULL || plan == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "fault driver needs an "
                            "inner driver and a plan");
    if (sf_fault_plan_topology(plan) != NULL && on_topology == NULL)
        return sf_error_set(err, SF_EK_USAGE, "", "fault plan changes the "
                            "topology (topology=%s) but nothing can apply "
                            "the change", sf_fault_plan_topology(plan));
    f = calloc(1, sizeof *f);
    n = sf_fault_plan_rule_count(plan);
    if (f == NULL || (f->calls = calloc(n ? n : 1, sizeof *f->calls)) == NULL) {
        free(f);
        return no_memory(err);
    }
    f->self.ops = &fault_ops;
    f->self.impl = f;
    f->inner = inner;
    f->plan = plan;
    f->on_topology = on_topology;
    f->ctx = ctx;
    *out = &f->self;
    return SF_OK;
}
