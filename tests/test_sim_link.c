/* The simulator's shared link: transfers in flight at once share
 * link_bandwidth (each at most its stream's bandwidth), completion times
 * move when a transfer starts or ends, the link is never used beyond its
 * capacity, one transfer at a time completes exactly as without a link,
 * and the same submissions give the same completions. Also the state
 * file's link_bandwidth field. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snapfleet/driver.h"
#include "snapfleet/fs.h"
#include "snapfleet/sim.h"
#include "tmpdir.h"

#define LAT 20 /* the default latency, in virtual ms */
#define MAXN 8

typedef struct fixture {
    char root[64];
    sf_sim *sim;
    sf_driver *drv;
    size_t n;                 /* canisters with a snapshot, from index 1 */
    unsigned round;           /* download directories of a new fleet */
    char id[MAXN][SF_PRINCIPAL_TEXT_MAX];
    char snap[MAXN][SF_SNAPSHOT_ID_MAX];
    uint64_t size[MAXN];      /* snapshot total size */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    if (sf_tmpdir_make(f->root, sizeof f->root) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc;

    sf_driver_destroy(f->drv);
    sf_sim_free(f->sim);
    rc = sf_tmpdir_remove(f->root);
    free(f);
    return rc;
}

static const char *path_of(const fixture *f, const char *name, size_t i)
{
    static char buf[4][256];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, 256, "%s/%s%u-%zu", f->root, name, f->round, i);
    return p;
}

/* A fleet of canisters+1 (the root idle), each child with one snapshot.
 * equal: every snapshot the same size. */
static void config(sf_sim_config *c, size_t canisters, bool equal,
                   uint64_t bw, uint64_t link)
{
    sf_sim_config_default(c);
    c->seed = 7;
    c->canister_count = canisters + 1;
    c->max_fanout = MAXN;
    c->heap_min = 40000;
    c->heap_max = equal ? 40000 : 90000;
    c->stable_min = 4000;
    c->stable_max = equal ? 4000 : 30000;
    c->module_min = c->module_max = 1000;
    c->chunk_max = 0;
    c->bandwidth = bw;
    c->link_bandwidth = link;
}

static void run_ok(sf_driver *d, sf_op_kind k, const char *id,
                   const char *snap, const char *path, sf_result *r)
{
    sf_op op;
    sf_error err;

    assert_int_equal(sf_op_init(&op, k, id, snap, path, &err), SF_OK);
    assert_int_equal(sf_driver_run(d, &op, r, &err), SF_OK);
    if (r->fail != SF_FAIL_NONE)
        fail_msg("%s failed: %s", sf_op_kind_name(k), r->err.message);
}

static void start(fixture *f, const sf_sim_config *cfg)
{
    sf_sim_canister_info info;
    sf_snapshot_info si;
    sf_result r;
    sf_error err;
    size_t i;

    f->round++;
    assert_int_equal(sf_sim_init(cfg, &f->sim, &err), SF_OK);
    assert_int_equal(sf_sim_driver_new(f->sim, NULL, &f->drv, &err), SF_OK);
    f->n = sf_sim_canister_count(f->sim) - 1;
    assert_true(f->n <= MAXN);
    for (i = 0; i < f->n; i++) {
        assert_int_equal(sf_sim_canister_at(f->sim, i + 1, &info, &err), SF_OK);
        memcpy(f->id[i], info.canister_id, sizeof f->id[i]);
        run_ok(f->drv, SF_OP_STOP, f->id[i], NULL, NULL, &r);
        sf_result_free(&r);
        run_ok(f->drv, SF_OP_CREATE, f->id[i], NULL, NULL, &r);
        memcpy(f->snap[i], r.snapshot.id, sizeof f->snap[i]);
        sf_result_free(&r);
        assert_int_equal(sf_sim_snapshot_at(f->sim, i + 1, 0, &si, &err), SF_OK);
        f->size[i] = si.total_size_bytes;
    }
}

static uint64_t submit_download(fixture *f, size_t i)
{
    sf_op op;
    sf_error err;
    uint64_t t;

    assert_int_equal(sf_op_init(&op, SF_OP_DOWNLOAD, f->id[i], f->snap[i],
                                path_of(f, "dl", i), &err), SF_OK);
    assert_int_equal(sf_driver_submit(f->drv, &op, &t, &err), SF_OK);
    return t;
}

/* Waits for the next completion: its ticket and the clock then. */
static uint64_t wait_one(fixture *f, uint64_t *at)
{
    sf_result r;
    sf_error err;
    uint64_t t;

    assert_int_equal(sf_driver_wait(f->drv, &t, &r, &err), SF_OK);
    if (r.fail != SF_FAIL_NONE)
        fail_msg("%s failed: %s", sf_op_kind_name(r.kind), r.err.message);
    sf_result_free(&r);
    *at = sf_sim_now_ms(f->sim);
    return t;
}

static uint64_t ceil_div(uint64_t a, uint64_t b)
{
    return a / b + (a % b != 0);
}

/* Two equal downloads at once on a link as wide as one stream: each at
 * half the link, both done at the same ms, in ticket order. */
static void test_two_share_the_link(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, ta, tb, at, want;

    config(&c, 2, true, 1000, 1000);
    start(f, &c);
    assert_int_equal(f->size[0], f->size[1]);
    t0 = sf_sim_now_ms(f->sim);
    ta = submit_download(f, 0);
    tb = submit_download(f, 1);
    want = t0 + LAT + ceil_div(f->size[0], 500);
    assert_int_equal(wait_one(f, &at), ta);
    assert_int_equal(at, want);
    assert_int_equal(wait_one(f, &at), tb);
    assert_int_equal(at, want);
    assert_int_equal(sf_driver_in_flight(f->drv), 0);
}

/* N at once share the link N ways; on a link wider than N streams each
 * keeps its stream's bandwidth, as if alone. */
static void test_n_share_and_stream_cap(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, t[5], at;
    size_t i, round;

    for (round = 0; round < 2; round++) {
        /* 5 streams of 1000 on a link of 2500 (500 each), then of 10000 */
        config(&c, 5, true, 1000, round == 0 ? 2500 : 10000);
        start(f, &c);
        t0 = sf_sim_now_ms(f->sim);
        for (i = 0; i < 5; i++)
            t[i] = submit_download(f, i);
        for (i = 0; i < 5; i++) {
            assert_int_equal(wait_one(f, &at), t[i]);
            assert_int_equal(at, t0 + LAT +
                                 ceil_div(f->size[0], round == 0 ? 500 : 1000));
        }
        sf_driver_destroy(f->drv);
        sf_sim_free(f->sim);
        f->drv = NULL;
        f->sim = NULL;
    }
}

/* Two of different sizes: the smaller ends first, and from then on the
 * larger has the whole link. */
static void test_end_speeds_up_the_rest(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, t[2], at, t1, left, small, large;

    config(&c, 2, false, 1000, 1000);
    start(f, &c);
    assert_true(f->size[0] != f->size[1]);
    small = f->size[0] < f->size[1] ? 0 : 1;
    large = 1 - small;
    t0 = sf_sim_now_ms(f->sim);
    t[0] = submit_download(f, 0);
    t[1] = submit_download(f, 1);
    t1 = ceil_div(f->size[small], 500);
    assert_int_equal(wait_one(f, &at), t[small]);
    assert_int_equal(at, t0 + LAT + t1);
    left = f->size[large] - 500 * t1;
    assert_int_equal(wait_one(f, &at), t[large]);
    assert_int_equal(at, t0 + LAT + t1 + ceil_div(left, 1000));
    /* sooner than had it shared the link to the end */
    assert_true(at < t0 + LAT + ceil_div(f->size[large], 500));
}

/* A transfer that starts later slows the one already moving from then
 * on: A moves alone for 20 ms (the time a status call takes before B is
 * submitted, then B's latency), then both share. */
static void test_start_slows_the_others(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, ta, tb, ts, at, left_a, t_a, left_b;
    sf_op op;
    sf_error err;

    config(&c, 2, true, 1000, 1000);
    start(f, &c);
    t0 = sf_sim_now_ms(f->sim);
    ta = submit_download(f, 0);
    assert_int_equal(sf_op_init(&op, SF_OP_STATUS, f->id[1], NULL, NULL, &err),
                     SF_OK);
    assert_int_equal(sf_driver_submit(f->drv, &op, &ts, &err), SF_OK);
    assert_int_equal(wait_one(f, &at), ts);
    assert_int_equal(at, t0 + LAT);
    tb = submit_download(f, 1);
    /* A: 1000/ms over [t0+20, t0+40), then 500/ms */
    left_a = f->size[0] - 1000 * LAT;
    t_a = t0 + 2 * LAT + ceil_div(left_a, 500);
    assert_int_equal(wait_one(f, &at), ta);
    assert_int_equal(at, t_a);
    /* B: 500/ms from t0+40 to t_a, then the whole link */
    left_b = f->size[1] - 500 * (t_a - (t0 + 2 * LAT));
    assert_int_equal(wait_one(f, &at), tb);
    assert_int_equal(at, t_a + ceil_div(left_b, 1000));
}

/* A link slower than the stream limits even a transfer alone. */
static void test_slow_link_limits_one(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, at;

    config(&c, 1, true, 1000, 300);
    start(f, &c);
    t0 = sf_sim_now_ms(f->sim);
    submit_download(f, 0);
    wait_one(f, &at);
    assert_int_equal(at, t0 + LAT + ceil_div(f->size[0], 300));
}

/* A link that does not divide evenly: the remainder goes a byte each to
 * the lowest tickets (here 1001 = 501 + 500), so the first ends first. */
static void test_remainder_to_lowest_ticket(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, ta, tb, at, t1, left;

    config(&c, 2, true, 0, 1001); /* no stream limit: the link decides */
    start(f, &c);
    t0 = sf_sim_now_ms(f->sim);
    ta = submit_download(f, 0);
    tb = submit_download(f, 1);
    t1 = ceil_div(f->size[0], 501);
    assert_int_equal(wait_one(f, &at), ta);
    assert_int_equal(at, t0 + LAT + t1);
    left = f->size[1] - 500 * t1;
    assert_int_equal(wait_one(f, &at), tb);
    assert_int_equal(at, t0 + LAT + t1 + ceil_div(left, 1001));
}

/* More transfers than bytes per ms: the lowest tickets move a byte per
 * ms each, the last waits with nothing until one of them ends, then has
 * the whole link. */
static void test_more_transfers_than_bytes(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, t[3], at, s;

    config(&c, 3, true, 0, 2);
    c.heap_min = c.heap_max = 3000;
    c.stable_min = c.stable_max = 1000;
    c.module_min = c.module_max = 100;
    start(f, &c);
    s = f->size[0];
    t0 = sf_sim_now_ms(f->sim);
    t[0] = submit_download(f, 0);
    t[1] = submit_download(f, 1);
    t[2] = submit_download(f, 2);
    assert_int_equal(wait_one(f, &at), t[0]);
    assert_int_equal(at, t0 + LAT + s);
    assert_int_equal(wait_one(f, &at), t[1]);
    assert_int_equal(at, t0 + LAT + s);
    assert_int_equal(wait_one(f, &at), t[2]);
    assert_int_equal(at, t0 + LAT + s + ceil_div(s, 2));
}

/* The link is never used beyond its capacity: by each completion, the
 * bytes of the transfers completed so far fit in link x elapsed; and it
 * is used fully (each ending wastes under a ms). */
static void test_never_beyond_capacity(void **state)
{
    fixture *f = *state;
    const uint64_t link = 1777;
    sf_sim_config c;
    uint64_t t0, at, done = 0, total = 0, t[MAXN];
    size_t i, k;

    config(&c, 7, false, 600, link);
    start(f, &c);
    t0 = sf_sim_now_ms(f->sim) + LAT;
    for (i = 0; i < f->n; i++) {
        t[i] = submit_download(f, i);
        total += f->size[i];
    }
    for (k = 0; k < f->n; k++) {
        uint64_t got = wait_one(f, &at);
        for (i = 0; i < f->n && t[i] != got; i++)
            ;
        assert_true(i < f->n);
        done += f->size[i];
        assert_true(done <= link * (at - t0));
    }
    assert_int_equal(done, total);
    assert_true(at >= t0 + ceil_div(total, link));
    assert_true(at <= t0 + ceil_div(total, link) + f->n);
}

/* One transfer at a time on a link no slower than the stream: every
 * completion (and the fleet) exactly as without a link. */
static void test_one_at_a_time_unchanged(void **state)
{
    fixture *f = *state;
    fixture g;
    sf_sim_config c;
    uint64_t at_f, at_g;
    sf_buf bf, bg;
    sf_error err;
    size_t i;

    memset(&g, 0, sizeof g);
    memcpy(g.root, f->root, sizeof g.root);
    strcat(g.root, "/g");
    assert_int_equal(mkdir(g.root, 0700), 0);
    config(&c, 4, false, 1000, 1000);
    start(f, &c);
    config(&c, 4, false, 1000, 0);
    start(&g, &c);
    for (i = 0; i < f->n; i++) {
        submit_download(f, i);
        submit_download(&g, i);
        wait_one(f, &at_f);
        wait_one(&g, &at_g);
        assert_int_equal(at_f, at_g);
    }
    sf_buf_init(&bf);
    sf_buf_init(&bg);
    assert_int_equal(sf_sim_show_json(f->sim, &bf, &err), SF_OK);
    assert_int_equal(sf_sim_show_json(g.sim, &bg, &err), SF_OK);
    assert_int_equal(bf.len, bg.len);
    assert_memory_equal(bf.data, bg.data, bf.len);
    sf_buf_free(&bf);
    sf_buf_free(&bg);
    sf_driver_destroy(g.drv);
    sf_sim_free(g.sim);
}

/* Same seed, same submissions (jitter drawn): same completions, same
 * times; staggered submissions in between. */
static void scripted(fixture *f, uint64_t order[MAXN], uint64_t times[MAXN])
{
    sf_sim_config c;
    size_t i, k = 0;

    config(&c, 6, false, 900, 2000);
    c.jitter_ms = 30;
    start(f, &c);
    for (i = 0; i < 3; i++)
        submit_download(f, i);
    order[k] = wait_one(f, &times[k]);
    k++;
    for (i = 3; i < f->n; i++)
        submit_download(f, i);
    for (; k < f->n; k++)
        order[k] = wait_one(f, &times[k]);
}

static void test_deterministic(void **state)
{
    fixture *f = *state;
    fixture g;
    uint64_t oa[MAXN], ob[MAXN], ta[MAXN], tb[MAXN];
    size_t i;

    memset(&g, 0, sizeof g);
    memcpy(g.root, f->root, sizeof g.root);
    strcat(g.root, "/g");
    assert_int_equal(mkdir(g.root, 0700), 0);
    scripted(f, oa, ta);
    scripted(&g, ob, tb);
    for (i = 0; i < f->n; i++) {
        assert_int_equal(oa[i], ob[i]);
        assert_int_equal(ta[i], tb[i]);
        if (i > 0)
            assert_true(ta[i] >= ta[i - 1]);
    }
    sf_driver_destroy(g.drv);
    sf_sim_free(g.sim);
}

/* Calls (no bytes) are not on the link: a status submitted among
 * transfers completes after its latency. Uploads share the link with
 * downloads. */
static void test_calls_and_uploads(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t0, td, ts, tu, at, alone;
    sf_result r;
    sf_op op;
    sf_error err;

    config(&c, 2, true, 1000, 1000);
    start(f, &c);
    /* alone, for reference */
    t0 = sf_sim_now_ms(f->sim);
    submit_download(f, 0);
    wait_one(f, &at);
    alone = at - t0;
    assert_int_equal(alone, LAT + ceil_div(f->size[0], 1000));
    /* a download and an upload of the same snapshot's files, at once */
    t0 = sf_sim_now_ms(f->sim);
    td = submit_download(f, 1);
    assert_int_equal(sf_op_init(&op, SF_OP_UPLOAD, f->id[0], NULL,
                                path_of(f, "dl", 0), &err), SF_OK);
    assert_int_equal(sf_driver_submit(f->drv, &op, &tu, &err), SF_OK);
    assert_int_equal(sf_op_init(&op, SF_OP_STATUS, f->id[0], NULL, NULL, &err),
                     SF_OK);
    assert_int_equal(sf_driver_submit(f->drv, &op, &ts, &err), SF_OK);
    assert_int_equal(wait_one(f, &at), ts);
    assert_int_equal(at, t0 + LAT);
    /* both share: each takes longer than the download alone */
    assert_int_equal(sf_driver_wait(f->drv, &td, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_true(sf_sim_now_ms(f->sim) - t0 > alone);
    assert_int_equal(sf_driver_wait(f->drv, &tu, &r, &err), SF_OK);
    assert_int_equal(r.fail, SF_FAIL_NONE);
    sf_result_free(&r);
    assert_true(sf_sim_now_ms(f->sim) - t0 > alone);
}

/* A clock moved on (a backoff's sleep) while transfers move: they
 * complete at once, in the order the link finishes them, and the clock
 * never goes back. */
static void test_clock_moved_on(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    sf_clock clk;
    uint64_t t[2], at, later;

    config(&c, 2, false, 1000, 1000);
    start(f, &c);
    t[0] = submit_download(f, 0);
    t[1] = submit_download(f, 1);
    clk = sf_sim_clock(f->sim);
    clk.sleep_ms(clk.ctx, 1000000);
    later = sf_sim_now_ms(f->sim);
    assert_int_equal(wait_one(f, &at), f->size[0] < f->size[1] ? t[0] : t[1]);
    assert_int_equal(at, later);
    assert_int_equal(wait_one(f, &at), f->size[0] < f->size[1] ? t[1] : t[0]);
    assert_int_equal(at, later);
}

/* A halted simulator fails every operation in flight at once, transfers
 * on the link among them (after the calls, by ticket). */
static void test_halted_with_transfers(void **state)
{
    fixture *f = *state;
    sf_sim_config c;
    uint64_t t[3], got, now;
    sf_result r;
    sf_op op;
    sf_error err;
    size_t i;

    config(&c, 2, true, 1000, 1000);
    start(f, &c);
    t[0] = submit_download(f, 0);
    t[1] = submit_download(f, 1);
    sf_sim_halt(f->sim, true);
    assert_int_equal(sf_op_init(&op, SF_OP_STATUS, f->id[0], NULL, NULL, &err),
                     SF_OK);
    assert_int_equal(sf_driver_submit(f->drv, &op, &t[2], &err), SF_OK);
    now = sf_sim_now_ms(f->sim);
    for (i = 0; i < 3; i++) {
        assert_int_equal(sf_driver_wait(f->drv, &got, &r, &err), SF_OK);
        assert_int_equal(got, t[i == 0 ? 2 : i - 1]);
        assert_string_equal(r.err.kind, "crashed");
        sf_result_free(&r);
    }
    assert_int_equal(sf_sim_now_ms(f->sim), now);
    sf_sim_halt(f->sim, false);
}

/* ---- the state file ---- */

static char *state_text(const sf_sim *sim)
{
    sf_buf b;
    sf_error err;
    char *s;

    sf_buf_init(&b);
    assert_int_equal(sf_sim_state_json(sim, &b, &err), SF_OK);
    s = strndup(b.data, b.len);
    sf_buf_free(&b);
    return s;
}

/* Replaces the first `from` in text by `to` (a new string). */
static char *replaced(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    size_t n = strlen(text), nf = strlen(from), nt = strlen(to);
    char *out;

    assert_non_null(at);
    out = malloc(n - nf + nt + 1);
    memcpy(out, text, (size_t)(at - text));
    memcpy(out + (at - text), to, nt);
    memcpy(out + (at - text) + nt, at + nf, n - (size_t)(at - text) - nf + 1);
    return out;
}

static void test_state_link_field(void **state)
{
    fixture *f = *state;
    char file[128];
    sf_sim_config c;
    sf_sim *s;
    sf_error err;
    char *good, *bad, *again;

    config(&c, 1, true, 1000, 4321);
    start(f, &c);
    good = state_text(f->sim);
    assert_non_null(strstr(good, "\"stop_ms\": 50,\n    \"link_bandwidth\": 4321\n"));
    /* round trip, the field kept */
    assert_int_equal(sf_sim_load_json(good, strlen(good), &s, &err), SF_OK);
    assert_int_equal(sf_sim_get_config(s)->link_bandwidth, 4321);
    again = state_text(s);
    assert_string_equal(good, again);
    free(again);
    sf_sim_free(s);

    /* a state file from before the field: an unlimited link */
    bad = replaced(good, ",\n    \"link_bandwidth\": 4321", "");
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_OK);
    assert_int_equal(sf_sim_get_config(s)->link_bandwidth, 0);
    sf_sim_free(s);
    free(bad);
    bad = replaced(good, "4321", "null");
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_OK);
    assert_int_equal(sf_sim_get_config(s)->link_bandwidth, 0);
    sf_sim_free(s);
    free(bad);

    /* wrong type, negative: refused naming the file and the field */
    snprintf(file, sizeof file, "%s/state.json", f->root);
    bad = replaced(good, "4321", "\"fast\"");
    assert_int_equal(sf_fs_write_atomic_untracked(file, bad, strlen(bad), &err),
                     SF_OK);
    assert_int_equal(sf_sim_load(file, &s, &err), SF_ERR);
    assert_null(s);
    assert_string_equal(err.kind, "json-schema");
    assert_string_equal(err.field, "config.link_bandwidth");
    assert_non_null(strstr(err.message, file));
    free(bad);
    bad = replaced(good, "4321", "-5");
    assert_int_equal(sf_sim_load_json(bad, strlen(bad), &s, &err), SF_ERR);
    assert_string_equal(err.kind, "json-schema");
    assert_string_equal(err.field, "config.link_bandwidth");
    free(bad);
    /* out of range: invalid-sim-state */
    bad = replaced(good, "4321", "1152921504606846976");
    assert_int_equal(sf_fs_write_atomic_untracked(file, bad, strlen(bad), &err),
                     SF_OK);
    assert_int_equal(sf_sim_load(file, &s, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-sim-state");
    assert_string_equal(err.field, "config.link_bandwidth");
    assert_non_null(strstr(err.message, file));
    free(bad);
    free(good);
}

static void test_config_validate(void **state)
{
    sf_sim_config c;
    sf_error err;

    (void)state;
    sf_sim_config_default(&c);
    assert_int_equal(c.link_bandwidth, 0);
    c.link_bandwidth = UINT64_MAX >> 8;
    assert_int_equal(sf_sim_config_validate(&c, &err), SF_OK);
    c.link_bandwidth++;
    assert_int_equal(sf_sim_config_validate(&c, &err), SF_ERR);
    assert_string_equal(err.kind, "usage");
    assert_string_equal(err.field, "link_bandwidth");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_two_share_the_link),
        T(test_n_share_and_stream_cap),
        T(test_end_speeds_up_the_rest),
        T(test_start_slows_the_others),
        T(test_slow_link_limits_one),
        T(test_remainder_to_lowest_ticket),
        T(test_more_transfers_than_bytes),
        T(test_never_beyond_capacity),
        T(test_one_at_a_time_unchanged),
        T(test_deterministic),
        T(test_calls_and_uploads),
        T(test_clock_moved_on),
        T(test_halted_with_transfers),
        T(test_state_link_field),
        T(test_config_validate),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
