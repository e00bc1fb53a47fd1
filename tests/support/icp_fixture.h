/*
 * Shared set-up for the icp driver tests (tests/test_icp_*.c): a
 * temporary directory per test, the scripted icp (tests/fake-icp/icp)
 * with its state file and its record of every invocation, a driver over
 * it, and small helpers to run operations and read the record back.
 *
 * The fake's fleet: ROOT -> APP -> STORE, controlled by OPERATOR; STORE
 * holds one snapshot, SNAP. Functions that cannot go on after a broken
 * expectation fail the current CMocka test themselves.
 */
#ifndef SF_TEST_ICP_FIXTURE_H
#define SF_TEST_ICP_FIXTURE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "snapfleet/backup.h"
#include "snapfleet/driver.h"
#include "snapfleet/icp.h"

#define ROOT "rrkah-fqaaa-aaaaa-aaaaq-cai"
#define APP "ryjl3-tyaaa-aaaaa-aaaba-cai"
#define STORE "r7inp-6aaaa-aaaaa-aaabq-cai"
#define OPERATOR "4caxa-y5lvo-v2xk5-lvov2-xk5lv-ov2xk-5lvov-2xk5l-vov2x-k5lvo-v2w"
/* The SHA-256 of the module the fake icp puts in ROOT's and APP's
 * snapshots: a download is checked against the module hash. */
#define HASH_A "69a2613dc9b6b55e1b490cd975fc5c44de39fe3c649ce2e08ec378bbe4659e65"
#define HASH_B "dbf55f644e81b1507603aa85e18bb0557175804a88ab7d95a96128d92e259799"
#define SNAP "000000000000000100000000000000010101"

extern char icp_fake[PATH_MAX]; /* tests/fake-icp/icp, absolute */
extern char icp_dir[PATH_MAX];  /* the test's temporary directory */
/* <icp_dir>/state.json and calls.jsonl (FAKE_ICP_STATE, FAKE_ICP_LOG) */
extern char icp_state_path[PATH_MAX + 32], icp_log_path[PATH_MAX + 32];

/* CMocka set-up and tear-down: a new directory, the fleet with no
 * faults; the directory removed. */
int icp_setup(void **state);
int icp_teardown(void **state);

/* Rewrites the fake's fleet; faults is the JSON array of fault rules
 * (the fake's docstring), store_status STORE's status ("Running"). */
void icp_write_state_with(const char *faults, const char *store_status);
void icp_write_state(const char *faults);

/* The fake as the program, network "ic", a 20 s timeout. */
sf_icp_config icp_base_config(void);
sf_driver *icp_new_driver(const sf_icp_config *c);
sf_op icp_op_of(sf_op_kind kind, const char *id, const char *snap,
                const char *path);
/* Runs op to completion; the caller frees *r. */
void icp_run_op(sf_driver *d, const sf_op *op, sf_result *r);
void icp_expect_fail(const sf_result *r, sf_fail_class fail, const char *kind);
void icp_expect_ok(const sf_result *r);

/* The fake's record: one JSON object per invocation ({"argv", "cwd",
 * "pid", "env"}), in the order they were made. */
typedef struct icp_calls {
    cJSON **items;
    size_t count;
} icp_calls;

void icp_read_calls(icp_calls *c);
void icp_free_calls(icp_calls *c);
/* The recorded argv of call i, joined by single spaces. */
void icp_argv_text(const icp_calls *c, size_t i, char *buf, size_t cap);
const char *icp_env_of(const icp_calls *c, size_t i, const char *name);
/* True when some recorded call has exactly this argv (after the program). */
bool icp_called(const icp_calls *c, const char *want);
size_t icp_count_prefix(const icp_calls *c, const char *prefix);
void icp_expect_called(const icp_calls *c, const char *want);
/* The status of a canister in the fake's state file. */
void icp_fake_status(const char *id, char *out, size_t cap);

/* The transport failures icp prints besides a refused connection (the
 * fake's TRANSPORT keys: a fault rule's "text"). */
#define ICP_TRANSPORT_TEXT_COUNT 5
extern const char *const icp_transport_texts[ICP_TRANSPORT_TEXT_COUNT];

/* ---- the engine over the driver ---- */

/* A retry driver (3 attempts, 10..50 ms) over base. */
sf_driver *icp_stack(sf_driver *base, const sf_clock *clock);
/* What the engine tests start from: the icp driver over the fake (the base
 * config), the retry stack over it, the wall clock, and a directory. */
typedef struct icp_engine {
    sf_clock clock;          /* the wall clock */
    sf_driver *base;         /* the icp driver */
    sf_driver *top;          /* retry over base: what the engine is given */
    char out[1024];          /* <icp_dir>/<name> */
} icp_engine;

/* Opens the stack; out is "<icp_dir>/" followed by the printf-formatted
 * name. */
void icp_engine_open(icp_engine *e, const char *name_fmt, ...)
    __attribute__((format(printf, 2, 3)));
void icp_engine_close(icp_engine *e);
/* A fleet-schedule backup of the whole fleet into e->out, failing the
 * test unless it completes. */
void icp_engine_backup(icp_engine *e);

/* The backup at out verifies offline, its three artifacts durable. */
void icp_verify(const char *out);
/* `snapshot download` of the whole fleet from ROOT, recursive, into out. */
void icp_download_config(sf_snapshot_download_config *c, const char *out);
/* A fleet-schedule `backup` of the whole fleet, the root included. */
void icp_backup_config(sf_backup_config *c, const char *out);
/* How many snapshots canister id holds in the fake's state; must_have, if
 * not NULL, must be one of them. */
size_t icp_fake_snapshots(const char *id, const char *must_have);

#endif
