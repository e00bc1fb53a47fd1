/* Fault plans: parsing, canonical text, random plans, crash injection. */
#include "snapfleet/faults.h"
#include "snapfleet/fs.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sf_fault_plan {
    sf_fault_rule *rules;
    size_t count;
    size_t cap;
    const char *topology; /* one of topology_kinds, or NULL */
    uint64_t crash_after_writes;
    uint64_t torn_write;
};

static const char *const effect_names[SF_FAULT_EFFECT_COUNT] = {
    "transient", "permanent", "lost-response", "corrupt", "truncate-chunk",
    "stale-tmp", "lost-metadata-response", "cut",
};

static const char *const topology_kinds[] = {
    "add-child", "remove-child", "reparent", "module-hash",
};
#define TOPOLOGY_KIND_COUNT (sizeof topology_kinds / sizeof topology_kinds[0])

/* Rule text quoted in messages is cut here so a huge rule still leaves
 * room for the explanation. */
#define QUOTE_MAX 160

const char *sf_fault_effect_name(sf_fault_effect e)
{
    return (unsigned)e < SF_FAULT_EFFECT_COUNT ? effect_names[e] : "invalid";
}

/* ---- parsing ---- */

typedef struct parse_ctx {
    const char *rule; /* the rule's text, not NUL-terminated */
    size_t len;
    size_t index;
    sf_error *err;
} parse_ctx;

static int rule_error(const parse_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int rule_error(const parse_ctx *c, const char *fmt, ...)
{
    char field[32], why[512];
    va_list ap;
    int shown = c->len > QUOTE_MAX ? QUOTE_MAX : (int)c->len;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    snprintf(field, sizeof field, "faults[%zu]", c->index);
    return sf_error_set(c->err, SF_EK_INVALID_FAULT_PLAN, field,
                        "invalid fault rule `%.*s%s`: %s", shown, c->rule,
                        c->len > QUOTE_MAX ? "..." : "", why);
}

/* A token of the rule as a C string, truncated for messages and lookups
 * (nothing valid is anywhere near this long). */
static void token(const char *s, size_t n, char *buf, size_t size)
{
    if (n >= size)
        n = size - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';
}

/* Decimal without sign or leading zeros, at most UINT64_MAX. */
static bool parse_count(const char *s, size_t n, uint64_t *out)
{
    uint64_t v = 0;

    if (n == 0 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned d;

        if (s[i] < '0' || s[i] > '9')
            return false;
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static int parse_n(const parse_ctx *c, const char *s, size_t n,
                   uint64_t *out)
{
    char tok[32];
    bool zero = all_digits(s, n);

    for (size_t i = 0; zero && i < n; i++)
        zero = s[i] == '0';
    if (zero)
        return rule_error(c, "count must be at least 1 (counting starts at "
                          "the first call)");
    if (!parse_count(s, n, out)) {
        token(s, n, tok, sizeof tok);
        return rule_error(c, "count `%s%s` must be a decimal number from 1 "
                          "to 18446744073709551615 without sign or leading "
                          "zeros", tok, n >= sizeof tok ? "..." : "");
    }
    return SF_OK;
}

static int parse_canister(const parse_ctx *c, const char *s, size_t n,
                          char out[SF_PRINCIPAL_TEXT_MAX])
{
    char tok[SF_PRINCIPAL_TEXT_MAX * 2];

    if (n == 1 && s[0] == '*') {
        out[0] = '\0';
        return SF_OK;
    }
    if (n == 0)
        return rule_error(c, "empty canister (use `*` for any canister)");
    token(s, n, tok, sizeof tok);
    if (n >= SF_PRINCIPAL_TEXT_MAX ||
        sf_principal_canonical(tok, out, NULL) != SF_OK)
        return rule_error(c, "canister `%s%s` is not a valid principal", tok,
                          n >= sizeof tok ? "..." : "");
    return SF_OK;
}

static int push_rule(sf_fault_plan *p, const sf_fault_rule *r, sf_error *err)
{
    if (p->count == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 4;
        sf_fault_rule *grown = realloc(p->rules, cap * sizeof *grown);

        if (grown == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "faults",
                                "out of memory reading the fault plan");
        p->rules = grown;
        p->cap = cap;
    }
    p->rules[p->count++] = *r;
    return SF_OK;
}

static int parse_setting(sf_fault_plan *p, const parse_ctx *c,
                         const char *key, size_t klen, const char *val,
                         size_t vlen)
{
    char tok[32];

    if (klen == 8 && memcmp(key, "topology", 8) == 0) {
        if (p->topology != NULL)
            return rule_error(c, "topology is already set to `%s` (at most "
                              "one topology change per plan)", p->topology);
        for (size_t i = 0; i < TOPOLOGY_KIND_COUNT; i++)
            if (strlen(topology_kinds[i]) == vlen &&
                memcmp(topology_kinds[i], val, vlen) == 0) {
                p->topology = topology_kinds[i];
                return SF_OK;
            }
        token(val, vlen, tok, sizeof tok);
        return rule_error(c, "unknown topology change `%s%s` (expected "
                          "add-child, remove-child, reparent or module-hash)",
                          tok, vlen >= sizeof tok ? "..." : "");
    }
    if (klen == 10 && memcmp(key, "torn-write", 10) == 0) {
        if (p->torn_write != 0)
            return rule_error(c, "torn-write is already set to %llu",
                              (unsigned long long)p->torn_write);
        return parse_n(c, val, vlen, &p->torn_write);
    }
    /* crash-after-writes */
    if (p->crash_after_writes != 0)
        return rule_error(c, "crash-after-writes is already set to %llu",
                          (unsigned long long)p->crash_after_writes);
    return parse_n(c, val, vlen, &p->crash_after_writes);
}

static bool is_setting(const char *key, size_t n)
{
    return (n == 8 && memcmp(key, "topology", 8) == 0) ||
           (n == 18 && memcmp(key, "crash-after-writes", 18) == 0) ||
           (n == 10 && memcmp(key, "torn-write", 10) == 0);
}

static int parse_rule(sf_fault_plan *p, const parse_ctx *c)
{
    const char *s = c->rule, *eq, *end = c->rule + c->len;
    const char *fields[4] = {NULL, NULL, NULL, NULL};
    size_t lens[4] = {0, 0, 0, 0}, nfields = 0;
    sf_fault_rule r;
    char tok[32];
    size_t i;

    memset(&r, 0, sizeof r);
    if (c->len == 0)
        return rule_error(c, "empty rule (two commas in a row, or a comma "
                          "at the start or end)");
    for (i = 0; i < c->len; i++)
        if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r' ||
            s[i] == '\v' || s[i] == '\f')
            return rule_error(c, "white space is not allowed in a fault "
                              "plan");
    eq = memchr(s, '=', c->len);
    if (eq == NULL)
        return rule_error(c, "missing `=EFFECT`");

    /* Split the left side on ':'. */
    for (const char *f = s;;) {
        const char *colon = memchr(f, ':', (size_t)(eq - f));
        const char *stop = colon ? colon : eq;

        if (nfields == 3)
            return rule_error(c, "too many `:` fields (expected "
                              "OP[:CANISTER|*][:N])");
        fields[nfields] = f;
        lens[nfields++] = (size_t)(stop - f);
        if (colon == NULL)
            break;
        f = colon + 1;
    }

    if (is_setting(fields[0], lens[0])) {
        if (nfields > 1)
            return rule_error(c, "`%.*s` takes no canister or count",
                              (int)lens[0], fields[0]);
        return parse_setting(p, c, fields[0], lens[0], eq + 1,
                             (size_t)(end - eq - 1));
    }

    token(fields[0], lens[0], tok, sizeof tok);
    if (lens[0] == 0)
        return rule_error(c, "missing operation before `%s`",
                          nfields > 1 ? ":" : "=");
    if (lens[0] >= sizeof tok || sf_op_kind_from_name(tok, &r.op) != SF_OK)
        return rule_error(c, "unknown operation `%s%s` (expected registry, "
                          "status, stop, start, create, list, download, "
                          "upload, load, delete, topology, "
                          "crash-after-writes or torn-write)", tok,
                          lens[0] >= sizeof tok ? "..." : "");
    if (nfields == 2) {
        /* OP:N is OP:*:N: a number is never principal text. */
        if (all_digits(fields[1], lens[1])) {
            if (parse_n(c, fields[1], lens[1], &r.nth) != SF_OK)
                return SF_ERR;
        } else if (parse_canister(c, fields[1], lens[1], r.canister_id) !=
                   SF_OK) {
            return SF_ERR;
        }
    } else if (nfields == 3) {
        if (parse_canister(c, fields[1], lens[1], r.canister_id) != SF_OK ||
            parse_n(c, fields[2], lens[2], &r.nth) != SF_OK)
            return SF_ERR;
    }

    {
        const char *v = eq + 1;
        size_t vlen = (size_t)(end - v);
        bool found = false;

        for (i = 0; i < SF_FAULT_EFFECT_COUNT; i++)
            if (strlen(effect_names[i]) == vlen &&
                memcmp(effect_names[i], v, vlen) == 0) {
                r.effect = (sf_fault_effect)i;
                found = true;
                break;
            }
        if (!found) {
            token(v, vlen, tok, sizeof tok);
            return rule_error(c, "unknown effect `%s%s` (expected transient, "
                              "permanent, lost-response, corrupt, "
                              "truncate-chunk, stale-tmp, "
                              "lost-metadata-response or cut)", tok,
                              vlen >= sizeof tok ? "..." : "");
        }
    }
    if ((r.effect == SF_FAULT_CORRUPT || r.effect == SF_FAULT_TRUNCATE_CHUNK ||
         r.effect == SF_FAULT_STALE_TMP) && r.op != SF_OP_DOWNLOAD)
        return rule_error(c, "%s applies only to download, not %s",
                          effect_names[r.effect], sf_op_kind_name(r.op));
    if ((r.effect == SF_FAULT_LOST_METADATA_RESPONSE ||
         r.effect == SF_FAULT_CUT) && r.op != SF_OP_UPLOAD)
        return rule_error(c, "%s applies only to upload, not %s",
                          effect_names[r.effect], sf_op_kind_name(r.op));
    return push_rule(p, &r, c->err);
}

int sf_fault_plan_parse(const char *spec, sf_fault_plan **out, sf_error *err)
{
    sf_fault_plan *p = calloc(1, sizeof *p);
    const char *s = spec ? spec : "";
    size_t index = 0;

    *out = NULL;
    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "faults",
                            "out of memory reading the fault plan");
    if (*s == '\0') {
        *out = p;
        return SF_OK;
    }
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        parse_ctx c = {s, len, index++, err};

        if (parse_rule(p, &c) != SF_OK) {
            sf_fault_plan_free(p);
            return SF_ERR;
        }
        if (comma == NULL)
            break;
        s = comma + 1;
    }
    *out = p;
    return SF_OK;
}

/* ---- the rest of the plan API ---- */

int sf_fault_plan_format(const sf_fault_plan *plan, sf_buf *out)
{
    bool first = true;

    for (size_t i = 0; i < plan->count; i++) {
        const sf_fault_rule *r = &plan->rules[i];

        if (!first)
            sf_buf_putc(out, ',');
        first = false;
        sf_buf_puts(out, sf_op_kind_name(r->op));
        if (r->canister_id[0] != '\0' || r->nth != 0)
            sf_buf_printf(out, ":%s",
                          r->canister_id[0] ? r->canister_id : "*");
        if (r->nth != 0)
            sf_buf_printf(out, ":%llu", (unsigned long long)r->nth);
        sf_buf_printf(out, "=%s", sf_fault_effect_name(r->effect));
    }
    if (plan->topology != NULL) {
        sf_buf_printf(out, "%stopology=%s", first ? "" : ",", plan->topology);
        first = false;
    }
    if (plan->crash_after_writes != 0)
        sf_buf_printf(out, "%scrash-after-writes=%llu", first ? "" : ",",
                      (unsigned long long)plan->crash_after_writes);
    if (plan->torn_write != 0)
        sf_buf_printf(out, "%storn-write=%llu",
                      first && plan->crash_after_writes == 0 ? "" : ",",
                      (unsigned long long)plan->torn_write);
    /* An empty plan appends nothing; make the buffer a valid "" string. */
    if (out->data == NULL)
        sf_buf_append(out, "", 0);
    return out->oom ? SF_ERR : SF_OK;
}

bool sf_fault_plan_equal(const sf_fault_plan *a, const sf_fault_plan *b)
{
    if (a->count != b->count || a->topology != b->topology ||
        a->crash_after_writes != b->crash_after_writes ||
        a->torn_write != b->torn_write)
        return false;
    for (size_t i = 0; i < a->count; i++) {
        const sf_fault_rule *x = &a->rules[i], *y = &b->rules[i];

        if (x->op != y->op || x->nth != y->nth || x->effect != y->effect ||
            strcmp(x->canister_id, y->canister_id) != 0)
            return false;
    }
    return true;
}

void sf_fault_plan_free(sf_fault_plan *plan)
{
    if (plan == NULL)
        return;
    free(plan->rules);
    free(plan);
}

size_t sf_fault_plan_rule_count(const sf_fault_plan *plan)
{
    return plan->count;
}

const sf_fault_rule *sf_fault_plan_rule(const sf_fault_plan *plan, size_t i)
{
    return i < plan->count ? &plan->rules[i] : NULL;
}

const char *sf_fault_plan_topology(const sf_fault_plan *plan)
{
    return plan->topology;
}

uint64_t sf_fault_plan_crash_after_writes(const sf_fault_plan *plan)
{
    return plan->crash_after_writes;
}

void sf_fault_plan_set_crash_after_writes(sf_fault_plan *plan, uint64_t n)
{
    plan->crash_after_writes = n;
}

uint64_t sf_fault_plan_torn_write(const sf_fault_plan *plan)
{
    return plan->torn_write;
}

void sf_fault_plan_set_torn_write(sf_fault_plan *plan, uint64_t n)
{
    plan->torn_write = n;
}

/* ---- random plans ---- */

uint64_t sf_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n) without modulo bias; n > 0. */
static uint64_t below(uint64_t *state, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n, v;

    do
        v = sf_splitmix64(state);
    while (v >= limit);
    return v % n;
}

int sf_fault_plan_random(uint64_t seed, const char *const *canister_ids,
                         size_t n, sf_fault_plan **out, sf_error *err)
{
    sf_fault_plan *p = calloc(1, sizeof *p);
    char canon[SF_PRINCIPAL_TEXT_MAX];
    uint64_t st = seed, rules;

    *out = NULL;
    if (p == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "faults",
                            "out of memory building a fault plan");
    /* Refuse bad ids up front, so the plan does not depend on which ids
     * the generator happened to draw. */
    for (size_t i = 0; i < n; i++)
        if (canister_ids[i] == NULL ||
            sf_principal_canonical(canister_ids[i], canon, NULL) != SF_OK) {
            sf_fault_plan_free(p);
            return sf_error_set(err, "invalid-principal", "canister_ids",
                                "canister id `%s` is not a valid principal",
                                canister_ids[i] ? canister_ids[i] : "(null)");
        }

    rules = 1 + below(&st, 4);
    for (uint64_t k = 0; k < rules; k++) {
        sf_fault_rule r;
        uint64_t e = below(&st, 12);

        memset(&r, 0, sizeof r);
        /* The transfer effects exist for one op each, so they are drawn
         * as an effect and force the op; everything else draws the op. */
        if (e >= 7) {
            static const sf_fault_effect xfer[] = {
                SF_FAULT_CORRUPT, SF_FAULT_TRUNCATE_CHUNK, SF_FAULT_STALE_TMP,
                SF_FAULT_LOST_METADATA_RESPONSE, SF_FAULT_CUT,
            };
            r.effect = xfer[e - 7];
            r.op = r.effect == SF_FAULT_LOST_METADATA_RESPONSE ||
                   r.effect == SF_FAULT_CUT ? SF_OP_UPLOAD : SF_OP_DOWNLOAD;
        } else {
            r.effect = e < 3   ? SF_FAULT_TRANSIENT
                       : e < 5 ? SF_FAULT_PERMANENT
                               : SF_FAULT_LOST_RESPONSE;
            r.op = (sf_op_kind)below(&st, SF_OP_KIND_COUNT);
        }
        if (n > 0 && below(&st, 2) == 0) {
            sf_principal_canonical(canister_ids[below(&st, n)], r.canister_id,
                                   NULL);
        }
        /* Mostly one call, so a run can still get through; sometimes
         * every call, which a correct engine must survive by failing
         * cleanly. */
        r.nth = below(&st, 4) == 0 ? 0 : 1 + below(&st, 4);
        if (push_rule(p, &r, err) != SF_OK) {
            sf_fault_plan_free(p);
            return SF_ERR;
        }
    }
    if (below(&st, 4) == 0)
        p->topology = topology_kinds[below(&st, TOPOLOGY_KIND_COUNT)];
    *out = p;
    return SF_OK;
}

/* ---- crash injection ---- */

static struct {
    uint64_t n;
    uint64_t seen;
    sf_crash_fn fn;
    void *ctx;
} crash;

static void crash_hook(const char *path, void *ctx)
{
    (void)ctx;
    crash.seen++;
    if (crash.seen != crash.n)
        return;
    if (crash.fn != NULL) {
        crash.fn(crash.n, path, crash.ctx);
        return;
    }
    /* The write is durable (the hook runs after the directory fsync);
     * dying here is the worst moment for whatever comes next. */
    raise(SIGKILL);
}

int sf_crash_after_writes_install_fn(uint64_t n, sf_crash_fn on_crash,
                                     void *ctx)
{
    crash.n = n;
    crash.seen = 0;
    crash.fn = on_crash;
    crash.ctx = ctx;
    sf_fs_set_write_hook(n != 0 ? crash_hook : NULL, NULL);
    return SF_OK;
}

int sf_crash_after_writes_install(uint64_t n)
{
    return sf_crash_after_writes_install_fn(n, NULL, NULL);
}

uint64_t sf_crash_writes_seen(void)
{
    return crash.seen;
}

/* ---- torn writes ---- */

static struct {
    uint64_t n;
    uint64_t seen;
} torn;

static bool torn_want(const char *path, void *ctx)
{
    (void)path;
    (void)ctx;
    return ++torn.seen == torn.n;
}

static void torn_done(const char *path, void *ctx)
{
    (void)path;
    (void)ctx;
    /* what the write left on disk is all that survives */
    raise(SIGKILL);
}

int sf_torn_write_install(uint64_t n)
{
    torn.n = n;
    torn.seen = 0;
    if (n != 0)
        sf_fs_set_tear_hook(torn_want, torn_done, NULL);
    else
        sf_fs_set_tear_hook(NULL, NULL, NULL);
    return SF_OK;
}
