/* Topology hash (spec formats-and-backup 5.1). Hashes not quoted by the
 * spec were computed with Python's hashlib over the same rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "snapfleet/topology.h"

#define ROOT "aaaaa-aa"
#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER "rno2w-sqaaa-aaaaa-aaacq-cai"
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define FLEET_HASH \
    "25e8f03a5fd9145c3952e3bd1f3751768fa802d884f4bc6f80b62f4ebf0ef769"

static const sf_topology_record fleet[] = {
    {ROOT, NULL, "root", NULL},
    {APP, ROOT, "app", NULL},
    {WORKER, APP, "worker", NULL},
};

static void assert_hash(const sf_topology_record *recs, size_t n,
                        const char *want)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    sf_error_clear(&err);
    if (sf_topology_hash(recs, n, hex, &err) != SF_OK)
        fail_msg("%s: %s", err.kind ? err.kind : "?", err.message);
    assert_string_equal(hex, want);
}

static void test_constants(void **state)
{
    (void)state;
    assert_string_equal(SF_TOPOLOGY_HASH_ALGORITHM, "sha256");
    assert_string_equal(SF_TOPOLOGY_HASH_INPUT,
                        "sorted(pid,parent_pid,role,module_hash)");
}

static void test_fleet_vector(void **state)
{
    (void)state;
    assert_hash(fleet, 3, FLEET_HASH);
}

static void test_single_root_vector(void **state)
{
    (void)state;
    assert_hash(fleet, 1, "efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409ce"
                          "a5c8f66115240f4");
}

static void test_empty(void **state)
{
    char *text;

    (void)state;
    assert_hash(NULL, 0, EMPTY_SHA256);
    text = sf_topology_canonical_text(NULL, 0, NULL, NULL);
    assert_non_null(text);
    assert_string_equal(text, "");
    free(text);
}

static void test_canonical_text(void **state)
{
    char *text;

    (void)state;
    text = sf_topology_canonical_text(fleet, 3, NULL, NULL);
    assert_non_null(text);
    assert_string_equal(
        text,
        "pid=aaaaa-aa|parent_pid=null|role=root|module_hash=null\n"
        "pid=renrk-eyaaa-aaaaa-aaada-cai|parent_pid=aaaaa-aa|role=app|"
        "module_hash=null\n"
        "pid=rno2w-sqaaa-aaaaa-aaacq-cai|parent_pid=renrk-eyaaa-aaaaa-aaada-"
        "cai|role=worker|module_hash=null");
    free(text);
}

static void test_order_independent(void **state)
{
    const sf_topology_record shuffled[] = {fleet[2], fleet[0], fleet[1]};
    const sf_topology_record reversed[] = {fleet[2], fleet[1], fleet[0]};

    (void)state;
    assert_hash(shuffled, 3, FLEET_HASH);
    assert_hash(reversed, 3, FLEET_HASH);
}

static void test_parent_change_changes_hash(void **state)
{
    const sf_topology_record moved[] = {
        {ROOT, NULL, "root", NULL},
        {APP, ROOT, "app", NULL},
        {WORKER, ROOT, "worker", NULL},
    };

    (void)state;
    assert_hash(moved, 3, "bdf08d38f6d95a69305e0dae0cb61f16dfcd03f03f3c090a8"
                          "d347f9e0c817905");
}

/* Principals are re-rendered canonically, so case does not change the
 * hash (the only place where it does not). */
static void test_upper_case_principals_render_lower_case(void **state)
{
    const sf_topology_record upper[] = {
        {"AAAAA-AA", NULL, "root", NULL},
        {"RENRK-EYAAA-AAAAA-AAADA-CAI", "AAAAA-AA", "app", NULL},
        {"Rno2w-SQAAA-aaaaa-aaacq-cai", "renrk-EYAAA-aaaaa-aaada-cai",
         "worker", NULL},
    };
    char *text;

    (void)state;
    assert_hash(upper, 3, FLEET_HASH);
    text = sf_topology_canonical_text(upper, 1, NULL, NULL);
    assert_non_null(text);
    assert_string_equal(
        text, "pid=aaaaa-aa|parent_pid=null|role=root|module_hash=null");
    free(text);
}

static void test_role_and_module_hash_verbatim(void **state)
{
    const char *mh =
        "abababababababababababababababababababababababababababababababab";
    const sf_topology_record with_hash[] = {{APP, ROOT, "app", mh}};
    const sf_topology_record empty_role[] = {{ROOT, NULL, "", NULL}};
    const sf_topology_record null_role[] = {{ROOT, NULL, NULL, NULL}};
    const sf_topology_record odd_role[] = {{ROOT, NULL, "Root|x", NULL}};
    char *text;

    (void)state;
    assert_hash(with_hash, 1, "99f3568c3ee6cdcfe8384882cc415f00f3ab63ff0d1b8c"
                              "b5c1b6e3ec30e4fdb3");
    assert_hash(empty_role, 1, "601cfd2b1958cec29f82fa0085e0e1e82bec9d21ab6b0"
                               "d112b039d873b1c67fa");
    /* NULL role is canic's `entry.role or ""`. */
    assert_hash(null_role, 1, "601cfd2b1958cec29f82fa0085e0e1e82bec9d21ab6b0"
                              "d112b039d873b1c67fa");
    text = sf_topology_canonical_text(odd_role, 1, NULL, NULL);
    assert_non_null(text);
    assert_string_equal(
        text, "pid=aaaaa-aa|parent_pid=null|role=Root|x|module_hash=null");
    free(text);
}

static void test_duplicates_kept(void **state)
{
    const sf_topology_record twice[] = {fleet[0], fleet[0]};

    (void)state;
    assert_hash(twice, 2, "46614e19a022bf28fd0cd09aa3af18ec2a375d44732fc0c0e"
                          "f4529653e23565a");
}

static void test_invalid_pid(void **state)
{
    const sf_topology_record bad[] = {
        {ROOT, NULL, "root", NULL},
        {"not-a-principal", ROOT, "app", NULL},
    };
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    assert_int_equal(sf_topology_hash(bad, 2, hex, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "records[1].pid");
    assert_string_equal(err.message, "field records[].pid must be a valid "
                                     "principal: not-a-principal");
    assert_null(sf_topology_canonical_text(bad, 2, NULL, &err));
    assert_string_equal(err.kind, "invalid-principal");
}

static void test_invalid_parent(void **state)
{
    const sf_topology_record bad[] = {{APP, "aaaaaaa", "app", NULL}};
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    assert_int_equal(sf_topology_hash(bad, 1, hex, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "records[0].parent_pid");
    assert_string_equal(err.message, "field records[].parent_pid must be a "
                                     "valid principal: aaaaaaa");
}

static void test_null_pid_is_invalid(void **state)
{
    const sf_topology_record bad[] = {{NULL, NULL, "root", NULL}};
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    assert_int_equal(sf_topology_hash(bad, 1, hex, &err), SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "records[0].pid");
    /* A NULL error pointer is allowed. */
    assert_int_equal(sf_topology_hash(bad, 1, hex, NULL), SF_ERR);
}

/* The snapshot pipeline reports canic's own field names. */
static void test_labels(void **state)
{
    const sf_topology_labels labels = {"fleet.members", "canister_id",
                                       "parent_canister_id"};
    const sf_topology_record bad_pid[] = {fleet[0], fleet[1], {"", ROOT, "w", NULL}};
    const sf_topology_record bad_parent[] = {{APP, "AAAAA-A", "app", NULL}};
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    assert_int_equal(sf_topology_hash_labeled(fleet, 3, &labels, hex, &err),
                     SF_OK);
    assert_string_equal(hex, FLEET_HASH);

    assert_int_equal(sf_topology_hash_labeled(bad_pid, 3, &labels, hex, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "invalid-principal");
    assert_string_equal(err.field, "fleet.members[2].canister_id");
    assert_string_equal(err.message, "field fleet.members[].canister_id must "
                                     "be a valid principal: ");

    assert_int_equal(
        sf_topology_hash_labeled(bad_parent, 1, &labels, hex, &err), SF_ERR);
    assert_string_equal(err.field, "fleet.members[0].parent_canister_id");
    assert_string_equal(err.message, "field fleet.members[].parent_canister_id"
                                     " must be a valid principal: AAAAA-A");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_fleet_vector),
        cmocka_unit_test(test_single_root_vector),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_order_independent),
        cmocka_unit_test(test_parent_change_changes_hash),
        cmocka_unit_test(test_upper_case_principals_render_lower_case),
        cmocka_unit_test(test_role_and_module_hash_verbatim),
        cmocka_unit_test(test_duplicates_kept),
        cmocka_unit_test(test_invalid_pid),
        cmocka_unit_test(test_invalid_parent),
        cmocka_unit_test(test_null_pid_is_invalid),
        cmocka_unit_test(test_labels),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
