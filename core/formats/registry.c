/*
 * The fleet registry: reading canic's registry JSON, writing it back, and
 * the algorithms over it (target resolution, depth, role names, the
 * topology hash of a target list). The accepted shapes are documented in
 * registry.h.
 */
#include "snapfleet/registry.h"

#include "snapfleet/json.h"
#include "snapfleet/text.h"
#include "snapfleet/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHAPE_MESSAGE "registry JSON must be an array or Ok-wrapped"

/* ---- lifetime ---- */

static void entry_free(sf_registry_entry *e)
{
    free(e->pid);
    free(e->role);
    free(e->kind);
    free(e->parent_pid);
    free(e->module_hash);
    memset(e, 0, sizeof *e);
}

void sf_registry_free(sf_registry *reg)
{
    size_t i;

    if (reg == NULL)
        return;
    for (i = 0; i < reg->count; i++)
        entry_free(&reg->entries[i]);
    free(reg->entries);
    memset(reg, 0, sizeof *reg);
}

void sf_targets_free(sf_target *targets, size_t count)
{
    size_t i;

    if (targets == NULL)
        return;
    for (i = 0; i < count; i++) {
        free(targets[i].canister_id);
        free(targets[i].role);
        free(targets[i].parent_canister_id);
        free(targets[i].module_hash);
    }
    free(targets);
}

/* ---- reading ---- */

static const cJSON *member(const cJSON *obj, const char *key)
{
    const cJSON *c;

    for (c = obj->child; c != NULL; c = c->next)
        if (c->string != NULL && strcmp(c->string, key) == 0)
            return c;
    return NULL;
}

static int nomem(sf_jr *r)
{
    return sf_error_set(r->err, SF_EK_NOMEM, r->path, "out of memory");
}

/* parent_pid: null, principal text, or Candid's opt-as-vector ([] or
 * [text]). */
static int read_parent(sf_jr *r, const cJSON *record, char **out)
{
    const cJSON *v = member(record, "parent_pid"), *first;
    size_t mark;
    int rc;

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return SF_OK;
    if (cJSON_IsString(v))
        return sf_jr_str(r, record, "parent_pid", out);
    if (!cJSON_IsArray(v))
        return sf_jr_fail(r, "parent_pid",
                          "expected principal text, [principal text], [] "
                          "or null");
    first = v->child;
    if (first == NULL)
        return SF_OK;
    if (first->next != NULL)
        return sf_jr_fail(r, "parent_pid",
                          "an optional principal has at most one element");
    mark = sf_jr_push_key(r, "parent_pid");
    sf_jr_push_index(r, 0);
    rc = sf_jr_value_str(r, first, out);
    sf_jr_pop(r, mark);
    return rc;
}

/* module_hash: null, text (kept verbatim), or the Candid blob as an array
 * of byte values (rendered as lower-case hex). */
static int read_module_hash(sf_jr *r, const cJSON *record, char **out)
{
    static const char hex[] = "0123456789abcdef";
    const cJSON *v = member(record, "module_hash"), *c;
    size_t n = 0, i = 0, mark;
    char *text;

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return SF_OK;
    if (cJSON_IsString(v))
        return sf_jr_str(r, record, "module_hash", out);
    if (!cJSON_IsArray(v))
        return sf_jr_fail(r, "module_hash",
                          "expected text, an array of bytes or null");
    for (c = v->child; c != NULL; c = c->next)
        n++;
    text = malloc(2 * n + 1);
    if (text == NULL)
        return nomem(r);
    mark = sf_jr_push_key(r, "module_hash");
    for (c = v->child; c != NULL; c = c->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        uint64_t byte;

        if (sf_jr_value_uint(r, c, 255, &byte) != SF_OK) {
            free(text);
            sf_jr_pop(r, mark);
            return SF_ERR;
        }
        text[2 * i] = hex[byte >> 4];
        text[2 * i + 1] = hex[byte & 15];
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    text[2 * n] = '\0';
    *out = text;
    return SF_OK;
}

static int read_entry(sf_jr *r, const cJSON *obj, sf_registry_entry *e)
{
    const cJSON *record;
    size_t mark;
    int rc;

    if (sf_jr_expect_object(r, obj) != SF_OK ||
        sf_jr_str(r, obj, "pid", &e->pid) != SF_OK ||
        sf_jr_str_opt(r, obj, "role", &e->role) != SF_OK)
        return SF_ERR;
    record = member(obj, "record");
    if (record != NULL && cJSON_IsNull(record))
        record = NULL;
    if (record != NULL && !cJSON_IsObject(record)) {
        mark = sf_jr_push_key(r, "record");
        rc = sf_jr_expect_object(r, record);
        sf_jr_pop(r, mark);
        return rc;
    }
    /* canic takes `kind` from the entry, and from the record only when the
     * entry has no such key at all (an explicit null there wins). */
    if (member(obj, "kind") != NULL || record == NULL) {
        if (sf_jr_str_opt(r, obj, "kind", &e->kind) != SF_OK)
            return SF_ERR;
    }
    if (record == NULL)
        return SF_OK;
    mark = sf_jr_push_key(r, "record");
    rc = SF_OK;
    if (member(obj, "kind") == NULL)
        rc = sf_jr_str_opt(r, record, "kind", &e->kind);
    if (rc == SF_OK)
        rc = read_parent(r, record, &e->parent_pid);
    if (rc == SF_OK)
        rc = read_module_hash(r, record, &e->module_hash);
    sf_jr_pop(r, mark);
    return rc;
}

static int read_registry(sf_jr *r, const cJSON *root, sf_registry *reg)
{
    const cJSON *list, *c;
    size_t n = 0, i = 0, mark;

    if (cJSON_IsArray(root)) {
        list = root;
        mark = r->len;
    } else if (cJSON_IsObject(root) && member(root, "Ok") != NULL) {
        list = member(root, "Ok");
        if (!cJSON_IsArray(list))
            return sf_jr_fail(r, "Ok", "%s", SHAPE_MESSAGE);
        mark = sf_jr_push_key(r, "Ok");
    } else {
        return sf_jr_fail(r, NULL, "%s", SHAPE_MESSAGE);
    }
    for (c = list->child; c != NULL; c = c->next)
        n++;
    if (n > 0) {
        reg->entries = calloc(n, sizeof *reg->entries);
        if (reg->entries == NULL)
            return nomem(r);
    }
    reg->count = n;
    for (c = list->child; c != NULL; c = c->next, i++) {
        size_t m = sf_jr_push_index(r, i);
        if (read_entry(r, c, &reg->entries[i]) != SF_OK)
            return SF_ERR;
        sf_jr_pop(r, m);
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

int sf_registry_parse(const char *text, size_t len, sf_registry *out,
                      sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_registry(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_registry_free(out);
    return rc;
}

/* ---- writing ---- */

int sf_registry_write_json(const sf_registry *reg, sf_buf *out,
                           sf_error *err)
{
    sf_buf tmp;
    sf_jw w;
    size_t i;
    int rc;

    for (i = 0; i < reg->count; i++) {
        if (reg->entries[i].pid == NULL) {
            char field[SF_ERROR_FIELD_MAX];
            snprintf(field, sizeof field, "Ok[%zu].pid", i);
            return sf_error_set(err, "empty-field", field,
                                "field pid must not be empty");
        }
    }
    sf_buf_init(&tmp);
    sf_jw_init(&w, &tmp);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "Ok");
    sf_jw_begin_array(&w);
    for (i = 0; i < reg->count; i++) {
        const sf_registry_entry *e = &reg->entries[i];
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "pid", e->pid);
        sf_jw_kv_string(&w, "role", e->role);
        sf_jw_kv_string(&w, "kind", e->kind);
        sf_jw_key(&w, "record");
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "pid", e->pid);
        sf_jw_kv_string(&w, "role", e->role);
        sf_jw_kv_string(&w, "parent_pid", e->parent_pid);
        sf_jw_kv_string(&w, "module_hash", e->module_hash);
        sf_jw_end_object(&w);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    rc = sf_jw_finish(&w, err);
    if (rc == SF_OK && sf_buf_append(out, sf_buf_cstr(&tmp), tmp.len) != SF_OK)
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    sf_buf_free(&tmp);
    return rc;
}

/* ---- lookup by pid ----
 *
 * canic indexes the registry in a map where a repeated pid's last entry
 * wins. The index here does the same: an open-addressing table of entry
 * indices, or, when it cannot be allocated, a scan from the end. Either
 * way lookup(pid) is the last entry with exactly that pid. */

#define NONE ((size_t)-1)

typedef struct pid_index {
    const sf_registry *reg;
    size_t *slots; /* entry index + 1; 0 = empty; NULL = scan instead */
    size_t mask;
} pid_index;

static uint64_t hash_text(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h;
}

static void index_build(pid_index *ix, const sf_registry *reg)
{
    size_t cap = 16, i;

    ix->reg = reg;
    ix->slots = NULL;
    ix->mask = 0;
    while (cap < reg->count * 2 && cap < SIZE_MAX / 4)
        cap *= 2;
    if (reg->count >= cap)
        return;
    ix->slots = calloc(cap, sizeof *ix->slots);
    if (ix->slots == NULL)
        return;
    ix->mask = cap - 1;
    for (i = 0; i < reg->count; i++) {
        const char *pid = reg->entries[i].pid;
        size_t s;

        if (pid == NULL)
            continue;
        for (s = hash_text(pid) & ix->mask; ix->slots[s] != 0;
             s = (s + 1) & ix->mask)
            if (strcmp(reg->entries[ix->slots[s] - 1].pid, pid) == 0)
                break;
        ix->slots[s] = i + 1; /* a later duplicate replaces the earlier */
    }
}

static size_t index_lookup(const pid_index *ix, const char *pid)
{
    const sf_registry *reg = ix->reg;
    size_t s, i;

    if (pid == NULL)
        return NONE;
    if (ix->slots == NULL) {
        for (i = reg->count; i-- > 0;)
            if (reg->entries[i].pid != NULL &&
                strcmp(reg->entries[i].pid, pid) == 0)
                return i;
        return NONE;
    }
    for (s = hash_text(pid) & ix->mask; ix->slots[s] != 0;
         s = (s + 1) & ix->mask)
        if (strcmp(reg->entries[ix->slots[s] - 1].pid, pid) == 0)
            return ix->slots[s] - 1;
    return NONE;
}

static void index_free(pid_index *ix)
{
    free(ix->slots);
    ix->slots = NULL;
}

/* ---- depth ---- */

/* One step of the parent walk over "current" nodes, each the entry that
 * wins the lookup for its pid: NONE when the walk stops there (no parent,
 * or a parent not in the registry). */
static size_t parent_step(const pid_index *ix, size_t k)
{
    const char *parent = ix->reg->entries[k].parent_pid;

    if (parent == NULL)
        return NONE;
    return index_lookup(ix, parent);
}

/* canic counts the distinct nodes that have a parent, walking until a node
 * without one, a parent outside the registry, or a node seen before. The
 * walk is a path in a functional graph, so no set is needed: if it has not
 * stopped after `count` steps it is in a cycle, and the answer is the
 * length of the path before the cycle plus the cycle's length. */
static uint64_t depth_in(const pid_index *ixp, const char *pid)
{
    const pid_index ix = *ixp;
    const sf_registry *reg = ix.reg;
    size_t k, steps = 0, cycle, tail, a, b;

    k = index_lookup(&ix, pid);
    if (k == NONE || reg->entries[k].parent_pid == NULL)
        return 0;
    /* Walk at most `count` steps; a node whose parent is not in the
     * registry still counts (it has a parent), then the walk stops. */
    for (a = k; steps <= reg->count; steps++) {
        if (a == NONE || reg->entries[a].parent_pid == NULL)
            break;
        a = parent_step(&ix, a);
    }
    if (steps <= reg->count)
        return steps;
    /* In a cycle: a is on it. Measure the cycle, then find where the path
     * enters it. */
    cycle = 1;
    for (b = parent_step(&ix, a); b != a; b = parent_step(&ix, b))
        cycle++;
    a = k;
    b = k;
    for (size_t i = 0; i < cycle; i++)
        b = parent_step(&ix, b);
    for (tail = 0; a != b; tail++) {
        a = parent_step(&ix, a);
        b = parent_step(&ix, b);
    }
    return (uint64_t)(tail + cycle);
}

uint64_t sf_registry_depth(const sf_registry *reg, const char *pid)
{
    pid_index ix;
    uint64_t d;

    index_build(&ix, reg);
    d = depth_in(&ix, pid);
    index_free(&ix);
    return d;
}

void sf_registry_depths(const sf_registry *reg, const char *const *pids,
                        size_t n, uint64_t *out)
{
    pid_index ix;
    size_t i;

    index_build(&ix, reg);
    for (i = 0; i < n; i++)
        out[i] = depth_in(&ix, pids[i]);
    index_free(&ix);
}

/* ---- targets ---- */

static int target_from_entry(sf_target *t, const sf_registry_entry *e)
{
    int oom = 0;

    t->canister_id = sf_strdup_opt(e->pid, &oom);
    t->role = sf_strdup_opt(e->role, &oom);
    t->parent_canister_id = sf_strdup_opt(e->parent_pid, &oom);
    t->module_hash = sf_strdup_opt(e->module_hash, &oom);
    return oom ? SF_ERR : SF_OK;
}

int sf_targets_from_registry(const sf_registry *reg, const char *selected_id,
                             bool recursive, sf_target **targets,
                             size_t *count, sf_error *err)
{
    pid_index ix;
    size_t *head = NULL, *tail = NULL, *next = NULL, *queue = NULL;
    bool *seen = NULL;
    sf_target *out = NULL;
    size_t n = reg->count, nout = 0, qhead = 0, qtail = 0, sel, i;
    int rc = SF_ERR;

    *targets = NULL;
    *count = 0;
    if (selected_id == NULL)
        return sf_error_set(err, SF_EK_USAGE, "",
                            "no canister selected for the registry walk");
    index_build(&ix, reg);
    sel = index_lookup(&ix, selected_id);
    if (sel == NONE) {
        index_free(&ix);
        return sf_error_set(err, "canister-not-in-registry", "",
                            "registry JSON did not contain the requested "
                            "canister %s",
                            selected_id);
    }
    /* Children lists keyed by the winning entry of the parent's pid, each
     * in registry order: the scan canic does per queued id, done once. */
    head = malloc(n * sizeof *head);
    tail = malloc(n * sizeof *tail);
    next = malloc(n * sizeof *next);
    queue = malloc(n * sizeof *queue);
    seen = calloc(n, sizeof *seen);
    out = calloc(n, sizeof *out);
    if (head == NULL || tail == NULL || next == NULL || queue == NULL ||
        seen == NULL || out == NULL)
        goto nomem;
    for (i = 0; i < n; i++)
        head[i] = tail[i] = next[i] = NONE;
    for (i = 0; i < n; i++) {
        size_t p;

        if (reg->entries[i].pid == NULL)
            continue;
        p = index_lookup(&ix, reg->entries[i].parent_pid);
        if (p == NONE)
            continue;
        if (head[p] == NONE)
            head[p] = i;
        else
            next[tail[p]] = i;
        tail[p] = i;
    }

    seen[sel] = true;
    if (target_from_entry(&out[nout++], &reg->entries[sel]) != SF_OK)
        goto nomem;
    queue[qtail++] = sel;
    while (qhead < qtail) {
        size_t k = queue[qhead++], c;

        for (c = head[k]; c != NONE; c = next[c]) {
            size_t id = index_lookup(&ix, reg->entries[c].pid);

            if (seen[id])
                continue;
            seen[id] = true;
            if (target_from_entry(&out[nout++], &reg->entries[c]) != SF_OK)
                goto nomem;
            if (recursive)
                queue[qtail++] = id;
        }
    }
    *targets = out;
    *count = nout;
    out = NULL;
    rc = SF_OK;
    goto done;
nomem:
    sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
done:
    sf_targets_free(out, nout);
    free(head);
    free(tail);
    free(next);
    free(queue);
    free(seen);
    index_free(&ix);
    return rc;
}

char *sf_target_role_name(const sf_target *targets, size_t i,
                          const char *selected)
{
    const sf_target *t = &targets[i];
    char buf[32];

    if (t->role != NULL)
        return strdup(t->role);
    if (selected != NULL && t->canister_id != NULL &&
        strcmp(t->canister_id, selected) == 0)
        return strdup("root");
    snprintf(buf, sizeof buf, "member-%zu", i);
    return strdup(buf);
}

int sf_targets_topology_hash(const char *selected, const sf_target *targets,
                             size_t count, char out_hex[SF_SHA256_HEX_SIZE],
                             sf_error *err)
{
    static const sf_topology_labels labels = {
        "fleet.members", "canister_id", "parent_canister_id"};
    sf_topology_record *recs;
    char **roles;
    size_t i;
    int rc = SF_OK;

    recs = calloc(count ? count : 1, sizeof *recs);
    roles = calloc(count ? count : 1, sizeof *roles);
    if (recs == NULL || roles == NULL) {
        rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    for (i = 0; i < count; i++) {
        roles[i] = sf_target_role_name(targets, i, selected);
        if (roles[i] == NULL) {
            rc = sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
            goto done;
        }
        recs[i].pid = targets[i].canister_id;
        recs[i].parent_pid = targets[i].parent_canister_id;
        recs[i].role = roles[i];
        recs[i].module_hash = targets[i].module_hash;
    }
    rc = sf_topology_hash_labeled(recs, count, &labels, out_hex, err);
done:
    if (roles != NULL)
        for (i = 0; i < count; i++)
            free(roles[i]);
    free(roles);
    free(recs);
    return rc;
}
