/* Fault plans (docs/faults.md): parsing, canonical text, random plans and
 * crash injection. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapfleet/faults.h"
#include "snapfleet/fs.h"

#define CID_A "renrk-eyaaa-aaaaa-aaada-cai"
#define CID_B "rno2w-sqaaa-aaaaa-aaacq-cai"
#define CID_C "rdmx6-jaaaa-aaaaa-aaadq-cai"

/* ---- helpers ---- */

static sf_fault_plan *parse_ok(const char *spec)
{
    sf_fault_plan *p = NULL;
    sf_error err;

    sf_error_clear(&err);
    if (sf_fault_plan_parse(spec, &p, &err) != SF_OK)
        fail_msg("`%s` did not parse: %s", spec, err.message);
    assert_non_null(p);
    return p;
}

static char *format(const sf_fault_plan *p)
{
    sf_buf b;

    sf_buf_init(&b);
    assert_int_equal(sf_fault_plan_format(p, &b), SF_OK);
    return sf_buf_detach(&b);
}

/* Parses `spec`, which must fail with invalid-fault-plan at rule `index`
 * with a message quoting `rule` and containing `why`. */
static void parse_fails(const char *spec, size_t index, const char *rule,
                        const char *why)
{
    sf_fault_plan *p = (sf_fault_plan *)1;
    sf_error err;
    char field[32], quoted[512];

    sf_error_clear(&err);
    assert_int_equal(sf_fault_plan_parse(spec, &p, &err), SF_ERR);
    assert_null(p);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, "invalid-fault-plan");
    snprintf(field, sizeof field, "faults[%zu]", index);
    assert_string_equal(err.field, field);
    snprintf(quoted, sizeof quoted, "`%s`", rule);
    if (strstr(err.message, quoted) == NULL)
        fail_msg("message `%s` does not quote the rule %s", err.message,
                 quoted);
    if (strstr(err.message, why) == NULL)
        fail_msg("message `%s` does not say `%s`", err.message, why);
}

static void assert_rule(const sf_fault_plan *p, size_t i, sf_op_kind op,
                        const char *canister, uint64_t nth,
                        sf_fault_effect effect)
{
    const sf_fault_rule *r = sf_fault_plan_rule(p, i);

    assert_non_null(r);
    assert_int_equal(r->op, op);
    assert_string_equal(r->canister_id, canister);
    assert_int_equal(r->nth, nth);
    assert_int_equal(r->effect, effect);
}

/* ---- valid forms ---- */

static void test_empty_plan(void **state)
{
    sf_fault_plan *p = parse_ok("");
    sf_fault_plan *q = parse_ok(NULL);

    (void)state;
    assert_int_equal(sf_fault_plan_rule_count(p), 0);
    assert_null(sf_fault_plan_topology(p));
    assert_int_equal(sf_fault_plan_crash_after_writes(p), 0);
    assert_null(sf_fault_plan_rule(p, 0));
    assert_true(sf_fault_plan_equal(p, q));
    sf_fault_plan_free(p);
    sf_fault_plan_free(q);
}

static void test_op_only(void **state)
{
    sf_fault_plan *p = parse_ok("stop=transient");

    (void)state;
    assert_int_equal(sf_fault_plan_rule_count(p), 1);
    assert_rule(p, 0, SF_OP_STOP, "", 0, SF_FAULT_TRANSIENT);
    sf_fault_plan_free(p);
}

static void test_star_canister(void **state)
{
    sf_fault_plan *p = parse_ok("stop:*=permanent");

    (void)state;
    assert_rule(p, 0, SF_OP_STOP, "", 0, SF_FAULT_PERMANENT);
    sf_fault_plan_free(p);
}

static void test_canister(void **state)
{
    sf_fault_plan *p = parse_ok("download:" CID_A "=corrupt");

    (void)state;
    assert_rule(p, 0, SF_OP_DOWNLOAD, CID_A, 0, SF_FAULT_CORRUPT);
    sf_fault_plan_free(p);
}

static void test_canister_upper_case_is_canonicalised(void **state)
{
    sf_fault_plan *p = parse_ok("status:RENRK-EYAAA-AAAAA-AAADA-CAI="
                                "lost-response");

    (void)state;
    assert_rule(p, 0, SF_OP_STATUS, CID_A, 0, SF_FAULT_LOST_RESPONSE);
    sf_fault_plan_free(p);
}

static void test_star_and_count(void **state)
{
    sf_fault_plan *p = parse_ok("create:*:3=transient");

    (void)state;
    assert_rule(p, 0, SF_OP_CREATE, "", 3, SF_FAULT_TRANSIENT);
    sf_fault_plan_free(p);
}

static void test_count_without_canister(void **state)
{
    sf_fault_plan *p = parse_ok("create:3=transient");
    sf_fault_plan *q = parse_ok("create:*:3=transient");

    (void)state;
    assert_rule(p, 0, SF_OP_CREATE, "", 3, SF_FAULT_TRANSIENT);
    assert_true(sf_fault_plan_equal(p, q));
    sf_fault_plan_free(p);
    sf_fault_plan_free(q);
}

static void test_canister_and_count(void **state)
{
    sf_fault_plan *p = parse_ok("load:" CID_B ":2=permanent");

    (void)state;
    assert_rule(p, 0, SF_OP_LOAD, CID_B, 2, SF_FAULT_PERMANENT);
    sf_fault_plan_free(p);
}

static void test_largest_count(void **state)
{
    sf_fault_plan *p = parse_ok("list:18446744073709551615=transient");

    (void)state;
    assert_rule(p, 0, SF_OP_LIST, "", UINT64_MAX, SF_FAULT_TRANSIENT);
    sf_fault_plan_free(p);
}

static void test_every_op_name(void **state)
{
    (void)state;
    for (int k = 0; k < SF_OP_KIND_COUNT; k++) {
        char spec[64];
        sf_fault_plan *p;

        snprintf(spec, sizeof spec, "%s=permanent",
                 sf_op_kind_name((sf_op_kind)k));
        p = parse_ok(spec);
        assert_rule(p, 0, (sf_op_kind)k, "", 0, SF_FAULT_PERMANENT);
        sf_fault_plan_free(p);
    }
}

static void test_every_effect_name(void **state)
{
    (void)state;
    for (int e = 0; e < SF_FAULT_EFFECT_COUNT; e++) {
        bool up = e == SF_FAULT_LOST_METADATA_RESPONSE || e == SF_FAULT_CUT;
        char spec[64];
        sf_fault_plan *p;

        snprintf(spec, sizeof spec, "%s=%s", up ? "upload" : "download",
                 sf_fault_effect_name((sf_fault_effect)e));
        p = parse_ok(spec);
        assert_rule(p, 0, up ? SF_OP_UPLOAD : SF_OP_DOWNLOAD, "", 0,
                    (sf_fault_effect)e);
        sf_fault_plan_free(p);
    }
}

static void test_every_topology_kind(void **state)
{
    static const char *const kinds[] = {"add-child", "remove-child",
                                        "reparent", "module-hash"};

    (void)state;
    for (size_t i = 0; i < 4; i++) {
        char spec[64];
        sf_fault_plan *p;

        snprintf(spec, sizeof spec, "topology=%s", kinds[i]);
        p = parse_ok(spec);
        assert_int_equal(sf_fault_plan_rule_count(p), 0);
        assert_string_equal(sf_fault_plan_topology(p), kinds[i]);
        sf_fault_plan_free(p);
    }
}

static void test_crash_after_writes(void **state)
{
    sf_fault_plan *p = parse_ok("crash-after-writes=5");

    (void)state;
    assert_int_equal(sf_fault_plan_crash_after_writes(p), 5);
    assert_int_equal(sf_fault_plan_rule_count(p), 0);
    sf_fault_plan_set_crash_after_writes(p, 0);
    assert_int_equal(sf_fault_plan_crash_after_writes(p), 0);
    sf_fault_plan_free(p);
}

static void test_torn_write(void **state)
{
    sf_fault_plan *p = parse_ok("torn-write=3,crash-after-writes=9");

    (void)state;
    assert_int_equal(sf_fault_plan_torn_write(p), 3);
    assert_int_equal(sf_fault_plan_crash_after_writes(p), 9);
    assert_int_equal(sf_fault_plan_rule_count(p), 0);
    sf_fault_plan_set_torn_write(p, 0);
    assert_int_equal(sf_fault_plan_torn_write(p), 0);
    sf_fault_plan_free(p);
}

static void test_err_torn_zero(void **state)
{
    (void)state;
    parse_fails("torn-write=0", 0, "torn-write=0", "count must be at least 1");
}

static void test_err_duplicate_torn(void **state)
{
    (void)state;
    parse_fails("torn-write=3,torn-write=4", 1, "torn-write=4",
                "torn-write is already set to 3");
}

static void test_several_rules_keep_order(void **state)
{
    sf_fault_plan *p =
        parse_ok("crash-after-writes=7,stop:" CID_A ":2=transient,"
                 "topology=reparent,stop=permanent,download:1=lost-response");

    (void)state;
    assert_int_equal(sf_fault_plan_rule_count(p), 3);
    assert_rule(p, 0, SF_OP_STOP, CID_A, 2, SF_FAULT_TRANSIENT);
    assert_rule(p, 1, SF_OP_STOP, "", 0, SF_FAULT_PERMANENT);
    assert_rule(p, 2, SF_OP_DOWNLOAD, "", 1, SF_FAULT_LOST_RESPONSE);
    assert_string_equal(sf_fault_plan_topology(p), "reparent");
    assert_int_equal(sf_fault_plan_crash_after_writes(p), 7);
    sf_fault_plan_free(p);
}

static void test_duplicate_rules_are_allowed(void **state)
{
    sf_fault_plan *p = parse_ok("stop=transient,stop=transient");

    (void)state;
    assert_int_equal(sf_fault_plan_rule_count(p), 2);
    sf_fault_plan_free(p);
}

/* ---- errors: one case each ---- */

static void test_err_empty_rule_middle(void **state)
{
    (void)state;
    parse_fails("stop=transient,,start=permanent", 1, "", "empty rule");
}

static void test_err_empty_rule_trailing_comma(void **state)
{
    (void)state;
    parse_fails("stop=transient,", 1, "", "empty rule");
}

static void test_err_empty_rule_leading_comma(void **state)
{
    (void)state;
    parse_fails(",stop=transient", 0, "", "empty rule");
}

static void test_err_missing_effect(void **state)
{
    (void)state;
    parse_fails("stop", 0, "stop", "missing `=EFFECT`");
}

static void test_err_unknown_op(void **state)
{
    (void)state;
    parse_fails("stop=transient,halt=transient", 1, "halt=transient",
                "unknown operation `halt`");
}

static void test_err_op_is_case_sensitive(void **state)
{
    (void)state;
    parse_fails("STOP=transient", 0, "STOP=transient",
                "unknown operation `STOP`");
}

static void test_err_missing_op(void **state)
{
    (void)state;
    parse_fails("=transient", 0, "=transient", "missing operation");
}

static void test_err_missing_op_before_canister(void **state)
{
    (void)state;
    parse_fails(":*=transient", 0, ":*=transient", "missing operation");
}

static void test_err_bad_canister(void **state)
{
    (void)state;
    parse_fails("stop:not-a-principal=transient", 0,
                "stop:not-a-principal=transient",
                "canister `not-a-principal` is not a valid principal");
}

static void test_err_canister_bad_checksum(void **state)
{
    (void)state;
    parse_fails("stop:renrk-eyaaa-aaaaa-aaada-caj:1=transient", 0,
                "stop:renrk-eyaaa-aaaaa-aaada-caj:1=transient",
                "is not a valid principal");
}

static void test_err_empty_canister(void **state)
{
    (void)state;
    parse_fails("stop::2=transient", 0, "stop::2=transient",
                "empty canister");
}

static void test_err_count_zero(void **state)
{
    (void)state;
    parse_fails("stop:*:0=transient", 0, "stop:*:0=transient",
                "count must be at least 1");
}

static void test_err_count_zero_short_form(void **state)
{
    (void)state;
    parse_fails("stop:0=transient", 0, "stop:0=transient",
                "count must be at least 1");
}

static void test_err_count_leading_zero(void **state)
{
    (void)state;
    parse_fails("stop:*:02=transient", 0, "stop:*:02=transient",
                "count `02` must be a decimal number");
}

static void test_err_count_not_a_number(void **state)
{
    (void)state;
    parse_fails("stop:*:x=transient", 0, "stop:*:x=transient",
                "count `x` must be a decimal number");
}

static void test_err_count_negative(void **state)
{
    (void)state;
    parse_fails("stop:*:-1=transient", 0, "stop:*:-1=transient",
                "count `-1` must be a decimal number");
}

static void test_err_count_overflow(void **state)
{
    (void)state;
    parse_fails("stop:*:18446744073709551616=transient", 0,
                "stop:*:18446744073709551616=transient",
                "must be a decimal number");
}

static void test_err_too_many_fields(void **state)
{
    (void)state;
    parse_fails("stop:*:1:2=transient", 0, "stop:*:1:2=transient",
                "too many `:` fields");
}

static void test_err_unknown_effect(void **state)
{
    (void)state;
    parse_fails("stop=flaky", 0, "stop=flaky", "unknown effect `flaky`");
}

static void test_err_empty_effect(void **state)
{
    (void)state;
    parse_fails("stop=", 0, "stop=", "unknown effect ``");
}

static void test_err_effect_is_case_sensitive(void **state)
{
    (void)state;
    parse_fails("stop=Transient", 0, "stop=Transient",
                "unknown effect `Transient`");
}

static void test_err_corrupt_on_non_download(void **state)
{
    (void)state;
    for (int k = 0; k < SF_OP_KIND_COUNT; k++) {
        char spec[64];

        if (k == SF_OP_DOWNLOAD)
            continue;
        snprintf(spec, sizeof spec, "%s=corrupt",
                 sf_op_kind_name((sf_op_kind)k));
        parse_fails(spec, 0, spec, "corrupt applies only to download");
    }
}

/* The transfer effects each exist for one op; the rest refuse them. */
static void test_transfer_effects_bound_to_their_op(void **state)
{
    static const struct {
        const char *effect;
        sf_op_kind op;
        sf_fault_effect want;
    } rows[] = {
        {"truncate-chunk", SF_OP_DOWNLOAD, SF_FAULT_TRUNCATE_CHUNK},
        {"stale-tmp", SF_OP_DOWNLOAD, SF_FAULT_STALE_TMP},
        {"lost-metadata-response", SF_OP_UPLOAD, SF_FAULT_LOST_METADATA_RESPONSE},
        {"cut", SF_OP_UPLOAD, SF_FAULT_CUT},
    };
    (void)state;
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        char spec[96], msg[96];
        sf_fault_plan *p;

        snprintf(spec, sizeof spec, "%s:2=%s", sf_op_kind_name(rows[i].op),
                 rows[i].effect);
        p = parse_ok(spec);
        assert_int_equal(sf_fault_plan_rule(p, 0)->effect, rows[i].want);
        assert_string_equal(sf_fault_effect_name(rows[i].want), rows[i].effect);
        sf_fault_plan_free(p);
        for (int k = 0; k < SF_OP_KIND_COUNT; k++) {
            if (k == (int)rows[i].op)
                continue;
            snprintf(spec, sizeof spec, "%s=%s", sf_op_kind_name((sf_op_kind)k),
                     rows[i].effect);
            snprintf(msg, sizeof msg, "%s applies only to %s", rows[i].effect,
                     sf_op_kind_name(rows[i].op));
            parse_fails(spec, 0, spec, msg);
        }
    }
}

static void test_err_space_after_comma(void **state)
{
    (void)state;
    parse_fails("stop=transient, start=permanent", 1, " start=permanent",
                "white space is not allowed");
}

static void test_err_space_around_equals(void **state)
{
    (void)state;
    parse_fails("stop = transient", 0, "stop = transient",
                "white space is not allowed");
}

static void test_err_trailing_newline(void **state)
{
    (void)state;
    parse_fails("stop=transient\n", 0, "stop=transient\n",
                "white space is not allowed");
}

static void test_err_unknown_topology(void **state)
{
    (void)state;
    parse_fails("topology=explode", 0, "topology=explode",
                "unknown topology change `explode`");
}

static void test_err_duplicate_topology(void **state)
{
    (void)state;
    parse_fails("topology=reparent,stop=transient,topology=add-child", 2,
                "topology=add-child", "topology is already set to "
                "`reparent`");
}

static void test_err_topology_with_canister(void **state)
{
    (void)state;
    parse_fails("topology:*=reparent", 0, "topology:*=reparent",
                "takes no canister or count");
}

static void test_err_crash_zero(void **state)
{
    (void)state;
    parse_fails("crash-after-writes=0", 0, "crash-after-writes=0",
                "count must be at least 1");
}

static void test_err_crash_not_a_number(void **state)
{
    (void)state;
    parse_fails("crash-after-writes=soon", 0, "crash-after-writes=soon",
                "count `soon` must be a decimal number");
}

static void test_err_duplicate_crash(void **state)
{
    (void)state;
    parse_fails("crash-after-writes=3,crash-after-writes=4", 1,
                "crash-after-writes=4",
                "crash-after-writes is already set to 3");
}

static void test_err_crash_with_count(void **state)
{
    (void)state;
    parse_fails("crash-after-writes:2=4", 0, "crash-after-writes:2=4",
                "takes no canister or count");
}

static void test_err_long_rule_is_cut(void **state)
{
    char spec[2048];
    sf_fault_plan *p = NULL;
    sf_error err;

    (void)state;
    memset(spec, 'x', sizeof spec - 1);
    spec[sizeof spec - 1] = '\0';
    sf_error_clear(&err);
    assert_int_equal(sf_fault_plan_parse(spec, &p, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-fault-plan");
    assert_non_null(strstr(err.message, "xxx...`"));
    assert_non_null(strstr(err.message, "missing `=EFFECT`"));
}

/* ---- canonical text ---- */

static void test_format_canonical(void **state)
{
    static const char *const cases[][2] = {
        {"", ""},
        {"stop=transient", "stop=transient"},
        {"stop:*=transient", "stop=transient"},
        {"stop:3=transient", "stop:*:3=transient"},
        {"stop:*:3=transient", "stop:*:3=transient"},
        {"stop:RENRK-EYAAA-AAAAA-AAADA-CAI=permanent",
         "stop:" CID_A "=permanent"},
        {"download:" CID_A ":2=corrupt", "download:" CID_A ":2=corrupt"},
        {"crash-after-writes=4,topology=module-hash,start=lost-response",
         "start=lost-response,topology=module-hash,crash-after-writes=4"},
        {"topology=add-child", "topology=add-child"},
        {"crash-after-writes=1", "crash-after-writes=1"},
        {"torn-write=2", "torn-write=2"},
        {"torn-write=2,stop=transient,crash-after-writes=5",
         "stop=transient,crash-after-writes=5,torn-write=2"},
        {"topology=reparent,torn-write=7", "topology=reparent,torn-write=7"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sf_fault_plan *p = parse_ok(cases[i][0]), *q;
        char *text = format(p), *again;

        assert_string_equal(text, cases[i][1]);
        q = parse_ok(text);
        assert_true(sf_fault_plan_equal(p, q));
        again = format(q);
        assert_string_equal(again, text);
        free(text);
        free(again);
        sf_fault_plan_free(p);
        sf_fault_plan_free(q);
    }
}

static void test_equal_sees_every_field(void **state)
{
    static const char *const base = "stop:" CID_A ":2=transient";
    static const char *const other[] = {
        "start:" CID_A ":2=transient",  "stop:" CID_B ":2=transient",
        "stop:*:2=transient",           "stop:" CID_A ":3=transient",
        "stop:" CID_A "=transient",     "stop:" CID_A ":2=permanent",
        "stop:" CID_A ":2=transient,topology=reparent",
        "stop:" CID_A ":2=transient,crash-after-writes=1",
        "stop:" CID_A ":2=transient,torn-write=1",
        "stop:" CID_A ":2=transient,stop=transient",
    };
    sf_fault_plan *p = parse_ok(base);

    (void)state;
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
        sf_fault_plan *q = parse_ok(other[i]);

        assert_false(sf_fault_plan_equal(p, q));
        assert_false(sf_fault_plan_equal(q, p));
        sf_fault_plan_free(q);
    }
    sf_fault_plan_free(p);
}

static void test_format_appends(void **state)
{
    sf_fault_plan *p = parse_ok("stop=transient");
    sf_buf b;

    (void)state;
    sf_buf_init(&b);
    sf_buf_puts(&b, "--faults ");
    assert_int_equal(sf_fault_plan_format(p, &b), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), "--faults stop=transient");
    sf_buf_free(&b);
    sf_fault_plan_free(p);
}

/* ---- random plans ---- */

static const char *const ids[] = {CID_A, CID_B, CID_C};

static void test_splitmix64_reference(void **state)
{
    uint64_t s = 0;

    (void)state;
    /* The published reference outputs for seed 0. */
    assert_true(sf_splitmix64(&s) == 0xe220a8397b1dcdafull);
    assert_true(sf_splitmix64(&s) == 0x6e789e6aa1b965f4ull);
}

static void test_random_is_reproducible(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 200; seed++) {
        sf_fault_plan *p, *q;

        assert_int_equal(sf_fault_plan_random(seed, ids, 3, &p, NULL), SF_OK);
        assert_int_equal(sf_fault_plan_random(seed, ids, 3, &q, NULL), SF_OK);
        assert_true(sf_fault_plan_equal(p, q));
        sf_fault_plan_free(p);
        sf_fault_plan_free(q);
    }
}

/* Pinned so a change to the generator (which would silently change every
 * recorded simulation seed) fails here. The expected plans come from an
 * independent Python transcription of the generator. */
static void test_random_golden(void **state)
{
    static const struct {
        uint64_t seed;
        const char *plan;
    } cases[] = {
        {42, "download:" CID_A ":3=corrupt,load:*:4=transient"},
        {7, "download:*:2=transient,upload:" CID_C ":4=lost-metadata-response,"
            "registry:" CID_A "=permanent,download:*:1=corrupt"},
        {0, "delete:" CID_B ":2=transient,download:*:2=truncate-chunk,"
            "upload:*:2=lost-metadata-response,download:*:1=corrupt,"
            "topology=module-hash"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sf_fault_plan *p;
        char *text;

        assert_int_equal(sf_fault_plan_random(cases[i].seed, ids, 3, &p, NULL),
                         SF_OK);
        text = format(p);
        assert_string_equal(text, cases[i].plan);
        free(text);
        sf_fault_plan_free(p);
    }
}

static void test_random_covers_everything(void **state)
{
    bool ops[SF_OP_KIND_COUNT] = {0}, effects[SF_FAULT_EFFECT_COUNT] = {0};
    bool canister[3] = {0}, star = false, every = false, counted = false;
    size_t topologies = 0, distinct = 0;
    char *prev = NULL;

    (void)state;
    for (uint64_t seed = 0; seed < 500; seed++) {
        sf_fault_plan *p, *q;
        size_t n;
        char *text;

        assert_int_equal(sf_fault_plan_random(seed, ids, 3, &p, NULL), SF_OK);
        n = sf_fault_plan_rule_count(p);
        assert_true(n >= 1 && n <= 4);
        assert_int_equal(sf_fault_plan_crash_after_writes(p), 0);
        topologies += sf_fault_plan_topology(p) != NULL;
        for (size_t i = 0; i < n; i++) {
            const sf_fault_rule *r = sf_fault_plan_rule(p, i);

            ops[r->op] = true;
            effects[r->effect] = true;
            if (r->effect == SF_FAULT_CORRUPT ||
                r->effect == SF_FAULT_TRUNCATE_CHUNK ||
                r->effect == SF_FAULT_STALE_TMP)
                assert_int_equal(r->op, SF_OP_DOWNLOAD);
            if (r->effect == SF_FAULT_LOST_METADATA_RESPONSE ||
                r->effect == SF_FAULT_CUT)
                assert_int_equal(r->op, SF_OP_UPLOAD);
            if (r->canister_id[0] == '\0')
                star = true;
            for (size_t c = 0; c < 3; c++)
                canister[c] |= strcmp(r->canister_id, ids[c]) == 0;
            if (r->nth == 0)
                every = true;
            else
                counted = true;
        }
        /* Every random plan is a plan the parser accepts. */
        text = format(p);
        q = parse_ok(text);
        assert_true(sf_fault_plan_equal(p, q));
        if (prev == NULL || strcmp(prev, text) != 0)
            distinct++;
        free(prev);
        prev = text;
        sf_fault_plan_free(p);
        sf_fault_plan_free(q);
    }
    free(prev);
    for (int k = 0; k < SF_OP_KIND_COUNT; k++)
        assert_true(ops[k]);
    for (int e = 0; e < SF_FAULT_EFFECT_COUNT; e++)
        assert_true(effects[e]);
    assert_true(canister[0] && canister[1] && canister[2] && star);
    assert_true(every && counted);
    assert_true(topologies > 50 && topologies < 250);
    assert_true(distinct > 400);
}

static void test_random_without_canisters(void **state)
{
    (void)state;
    for (uint64_t seed = 0; seed < 50; seed++) {
        sf_fault_plan *p;

        assert_int_equal(sf_fault_plan_random(seed, NULL, 0, &p, NULL), SF_OK);
        for (size_t i = 0; i < sf_fault_plan_rule_count(p); i++)
            assert_string_equal(sf_fault_plan_rule(p, i)->canister_id, "");
        sf_fault_plan_free(p);
    }
}

static void test_random_canonicalises_ids(void **state)
{
    static const char *const upper[] = {"RENRK-EYAAA-AAAAA-AAADA-CAI"};

    (void)state;
    for (uint64_t seed = 0; seed < 50; seed++) {
        sf_fault_plan *p;

        assert_int_equal(sf_fault_plan_random(seed, upper, 1, &p, NULL),
                         SF_OK);
        for (size_t i = 0; i < sf_fault_plan_rule_count(p); i++) {
            const char *c = sf_fault_plan_rule(p, i)->canister_id;

            assert_true(c[0] == '\0' || strcmp(c, CID_A) == 0);
        }
        sf_fault_plan_free(p);
    }
}

static void test_random_refuses_bad_ids(void **state)
{
    static const char *const bad[] = {CID_A, "nope"};
    sf_fault_plan *p = (sf_fault_plan *)1;
    sf_error err;

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_fault_plan_random(1, bad, 2, &p, &err), SF_ERR);
    assert_null(p);
    assert_string_equal(err.kind, "invalid-principal");
    assert_non_null(strstr(err.message, "`nope`"));
}

/* ---- crash injection ---- */

typedef struct crash_seen {
    int calls;
    uint64_t n;
    char path[512];
} crash_seen;

static void on_crash(uint64_t n, const char *path, void *ctx)
{
    crash_seen *c = ctx;

    c->calls++;
    c->n = n;
    snprintf(c->path, sizeof c->path, "%s", path);
}

static void write_numbered(const char *dir, int i, bool tracked)
{
    char path[512];
    sf_error err;

    snprintf(path, sizeof path, "%s/f%d", dir, i);
    if (tracked)
        assert_int_equal(sf_fs_write_atomic(path, "x", 1, &err), SF_OK);
    else
        assert_int_equal(sf_fs_write_atomic_untracked(path, "x", 1, &err),
                         SF_OK);
}

static void remove_numbered(const char *dir, int upto)
{
    char path[512];

    for (int i = 0; i <= upto; i++) {
        snprintf(path, sizeof path, "%s/f%d", dir, i);
        unlink(path);
    }
    rmdir(dir);
}

static void test_crash_callback_counts(void **state)
{
    char dir[] = "/tmp/sf-faults-XXXXXX";
    crash_seen c = {0, 0, ""};
    char third[600];

    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_int_equal(sf_crash_after_writes_install_fn(3, on_crash, &c),
                     SF_OK);
    assert_int_equal(sf_crash_writes_seen(), 0);
    for (int i = 1; i <= 5; i++) {
        write_numbered(dir, i, true);
        assert_int_equal(c.calls, i < 3 ? 0 : 1);
    }
    assert_int_equal(c.n, 3);
    snprintf(third, sizeof third, "%s/f3", dir);
    assert_string_equal(c.path, third);
    assert_int_equal(sf_crash_writes_seen(), 5);
    /* Writes that stand for the outside world are not counted. */
    write_numbered(dir, 6, false);
    assert_int_equal(sf_crash_writes_seen(), 5);
    /* 0 uninstalls: nothing more is counted. */
    assert_int_equal(sf_crash_after_writes_install(0), SF_OK);
    write_numbered(dir, 7, true);
    assert_int_equal(sf_crash_writes_seen(), 0);
    assert_int_equal(c.calls, 1);
    remove_numbered(dir, 7);
}

static void test_crash_reinstall_restarts_count(void **state)
{
    char dir[] = "/tmp/sf-faults-XXXXXX";
    crash_seen c = {0, 0, ""};

    (void)state;
    assert_non_null(mkdtemp(dir));
    sf_crash_after_writes_install_fn(2, on_crash, &c);
    write_numbered(dir, 1, true);
    sf_crash_after_writes_install_fn(2, on_crash, &c);
    write_numbered(dir, 2, true);
    assert_int_equal(c.calls, 0);
    write_numbered(dir, 3, true);
    assert_int_equal(c.calls, 1);
    sf_crash_after_writes_install(0);
    remove_numbered(dir, 3);
}

static void test_crash_kills_like_sigkill(void **state)
{
    char dir[] = "/tmp/sf-faults-XXXXXX";
    char path[600];
    struct stat st;
    pid_t pid;
    int status;

    (void)state;
    assert_non_null(mkdtemp(dir));
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        sf_crash_after_writes_install(2);
        for (int i = 1; i <= 3; i++) {
            char p[600];

            snprintf(p, sizeof p, "%s/f%d", dir, i);
            if (sf_fs_write_atomic(p, "x", 1, NULL) != SF_OK)
                _exit(3);
        }
        _exit(0); /* not reached when the hook works */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    /* The second write is durable; the third never started. */
    snprintf(path, sizeof path, "%s/f2", dir);
    assert_int_equal(stat(path, &st), 0);
    snprintf(path, sizeof path, "%s/f3", dir);
    assert_int_not_equal(stat(path, &st), 0);
    remove_numbered(dir, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_plan),
        cmocka_unit_test(test_op_only),
        cmocka_unit_test(test_star_canister),
        cmocka_unit_test(test_canister),
        cmocka_unit_test(test_canister_upper_case_is_canonicalised),
        cmocka_unit_test(test_star_and_count),
        cmocka_unit_test(test_count_without_canister),
        cmocka_unit_test(test_canister_and_count),
        cmocka_unit_test(test_largest_count),
        cmocka_unit_test(test_every_op_name),
        cmocka_unit_test(test_every_effect_name),
        cmocka_unit_test(test_every_topology_kind),
        cmocka_unit_test(test_crash_after_writes),
        cmocka_unit_test(test_torn_write),
        cmocka_unit_test(test_err_torn_zero),
        cmocka_unit_test(test_err_duplicate_torn),
        cmocka_unit_test(test_several_rules_keep_order),
        cmocka_unit_test(test_duplicate_rules_are_allowed),
        cmocka_unit_test(test_err_empty_rule_middle),
        cmocka_unit_test(test_err_empty_rule_trailing_comma),
        cmocka_unit_test(test_err_empty_rule_leading_comma),
        cmocka_unit_test(test_err_missing_effect),
        cmocka_unit_test(test_err_unknown_op),
        cmocka_unit_test(test_err_op_is_case_sensitive),
        cmocka_unit_test(test_err_missing_op),
        cmocka_unit_test(test_err_missing_op_before_canister),
        cmocka_unit_test(test_err_bad_canister),
        cmocka_unit_test(test_err_canister_bad_checksum),
        cmocka_unit_test(test_err_empty_canister),
        cmocka_unit_test(test_err_count_zero),
        cmocka_unit_test(test_err_count_zero_short_form),
        cmocka_unit_test(test_err_count_leading_zero),
        cmocka_unit_test(test_err_count_not_a_number),
        cmocka_unit_test(test_err_count_negative),
        cmocka_unit_test(test_err_count_overflow),
        cmocka_unit_test(test_err_too_many_fields),
        cmocka_unit_test(test_err_unknown_effect),
        cmocka_unit_test(test_err_empty_effect),
        cmocka_unit_test(test_err_effect_is_case_sensitive),
        cmocka_unit_test(test_err_corrupt_on_non_download),
        cmocka_unit_test(test_transfer_effects_bound_to_their_op),
        cmocka_unit_test(test_err_space_after_comma),
        cmocka_unit_test(test_err_space_around_equals),
        cmocka_unit_test(test_err_trailing_newline),
        cmocka_unit_test(test_err_unknown_topology),
        cmocka_unit_test(test_err_duplicate_topology),
        cmocka_unit_test(test_err_topology_with_canister),
        cmocka_unit_test(test_err_crash_zero),
        cmocka_unit_test(test_err_crash_not_a_number),
        cmocka_unit_test(test_err_duplicate_crash),
        cmocka_unit_test(test_err_crash_with_count),
        cmocka_unit_test(test_err_long_rule_is_cut),
        cmocka_unit_test(test_format_canonical),
        cmocka_unit_test(test_equal_sees_every_field),
        cmocka_unit_test(test_format_appends),
        cmocka_unit_test(test_splitmix64_reference),
        cmocka_unit_test(test_random_is_reproducible),
        cmocka_unit_test(test_random_golden),
        cmocka_unit_test(test_random_covers_everything),
        cmocka_unit_test(test_random_without_canisters),
        cmocka_unit_test(test_random_canonicalises_ids),
        cmocka_unit_test(test_random_refuses_bad_ids),
        cmocka_unit_test(test_crash_callback_counts),
        cmocka_unit_test(test_crash_reinstall_restarts_count),
        cmocka_unit_test(test_crash_kills_like_sigkill),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
