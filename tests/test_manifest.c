/* The fleet backup manifest: strict reading, every validation rule in
 * canic's order, serde-exact writing, files. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/manifest.h"
#include "snapfleet/principal.h"

#define APP "renrk-eyaaa-aaaaa-aaada-cai"
#define WORKER1 "rno2w-sqaaa-aaaaa-aaacq-cai"
#define WORKER2 "rdmx6-jaaaa-aaaaa-aaadq-cai"
#define HASH_A "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HASH_B "efdc3797c0b70f93aa4f54b971706884fad12ce9aa88409cea5c8f66115240f4"

/* ---- helpers ---- */

static const char *data_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("SF_TEST_DATA");

    assert_non_null(dir);
    snprintf(path, sizeof path, "%s/manifests/%s", dir, name);
    return path;
}

static char *slurp(const char *name, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    sf_error err;

    assert_int_equal(sf_fs_read_file(data_path(name), SIZE_MAX, &text, &n,
                                     &err),
                     SF_OK);
    if (len != NULL)
        *len = n;
    return text;
}

/* The base of every rule test: valid-subtree.json, i.e.
 *   members  0 app    APP     parent aaaaa-aa
 *            1 worker WORKER1 parent APP
 *            2 worker WORKER2 parent APP
 *   units    0 "snapshot-selection" subtree [app, worker]
 *   checks   fleet [status []], member_checks [{worker, [status [worker]]}] */
static void load(sf_manifest *m, const char *name)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_manifest_read_file(data_path(name), m, &err) != SF_OK)
        fail_msg("%s: %s %s: %s", name, err.kind, err.field, err.message);
}

static void set(char **slot, const char *value)
{
    free(*slot);
    *slot = value != NULL ? strdup(value) : NULL;
    assert_true(value == NULL || *slot != NULL);
}

/* Replaces a string list with the NULL-terminated arguments. */
static void vset_list(char ***v, size_t *count, va_list ap)
{
    const char *s;
    size_t n = 0;

    sf_strv_free(*v, *count);
    *v = NULL;
    *count = 0;
    while ((s = va_arg(ap, const char *)) != NULL) {
        *v = realloc(*v, (n + 1) * sizeof **v);
        assert_non_null(*v);
        (*v)[n] = strdup(s);
        assert_non_null((*v)[n]);
        n++;
    }
    *count = n;
}

static void set_list(char ***v, size_t *count, ...)
{
    va_list ap;

    va_start(ap, count);
    vset_list(v, count, ap);
    va_end(ap);
}

#define ROLES(vp, cp, ...) set_list(vp, cp, __VA_ARGS__, (const char *)NULL)
#define NO_ROLES(vp, cp) set_list(vp, cp, (const char *)NULL)

static void clear_checks(sf_manifest_check **v, size_t *n)
{
    size_t i;

    for (i = 0; i < *n; i++) {
        free((*v)[i].kind);
        sf_strv_free((*v)[i].roles, (*v)[i].role_count);
    }
    free(*v);
    *v = NULL;
    *n = 0;
}

/* Appends a unit with the NULL-terminated roles. */
static void add_unit_v(sf_manifest *m, const char *id,
                       sf_manifest_unit_kind kind, ...)
{
    sf_manifest_consistency *c = &m->consistency;
    sf_manifest_unit *u;
    va_list ap;

    c->backup_units = realloc(c->backup_units,
                              (c->backup_unit_count + 1) * sizeof *u);
    assert_non_null(c->backup_units);
    u = &c->backup_units[c->backup_unit_count++];
    memset(u, 0, sizeof *u);
    set(&u->unit_id, id);
    u->kind = kind;
    va_start(ap, kind);
    vset_list(&u->roles, &u->role_count, ap);
    va_end(ap);
}

#define ADD_UNIT(m, id, kind, ...) \
    add_unit_v(m, id, kind, ##__VA_ARGS__, (const char *)NULL)

static void clear_units(sf_manifest *m)
{
    size_t i;

    for (i = 0; i < m->consistency.backup_unit_count; i++) {
        free(m->consistency.backup_units[i].unit_id);
        sf_strv_free(m->consistency.backup_units[i].roles,
                     m->consistency.backup_units[i].role_count);
    }
    free(m->consistency.backup_units);
    m->consistency.backup_units = NULL;
    m->consistency.backup_unit_count = 0;
}

/* Appends a check with the NULL-terminated roles. */
static void add_check_v(sf_manifest_check **v, size_t *n, const char *kind,
                        ...)
{
    sf_manifest_check *c;
    va_list ap;

    *v = realloc(*v, (*n + 1) * sizeof **v);
    assert_non_null(*v);
    c = &(*v)[(*n)++];
    memset(c, 0, sizeof *c);
    set(&c->kind, kind);
    va_start(ap, kind);
    vset_list(&c->roles, &c->role_count, ap);
    va_end(ap);
}

#define ADD_CHECK(v, n, kind, ...) \
    add_check_v(v, n, kind, ##__VA_ARGS__, (const char *)NULL)

/* Appends a member check group; with a `kind`, one check of that kind
 * with the NULL-terminated roles. */
static void add_group_v(sf_manifest *m, const char *role, const char *kind,
                        ...)
{
    sf_manifest_verification *v = &m->verification;
    sf_manifest_member_checks *g;
    va_list ap;

    v->member_checks = realloc(v->member_checks,
                               (v->member_check_count + 1) * sizeof *g);
    assert_non_null(v->member_checks);
    g = &v->member_checks[v->member_check_count++];
    memset(g, 0, sizeof *g);
    set(&g->role, role);
    if (kind == NULL)
        return;
    g->checks = calloc(1, sizeof *g->checks);
    assert_non_null(g->checks);
    g->check_count = 1;
    set(&g->checks[0].kind, kind);
    va_start(ap, kind);
    vset_list(&g->checks[0].roles, &g->checks[0].role_count, ap);
    va_end(ap);
}

#define ADD_GROUP(m, role, kind, ...) \
    add_group_v(m, role, kind, ##__VA_ARGS__, (const char *)NULL)

static void clear_members(sf_manifest *m)
{
    sf_manifest copy = {0};

    /* Let sf_manifest_free release the members by moving them out. */
    copy.fleet.members = m->fleet.members;
    copy.fleet.member_count = m->fleet.member_count;
    sf_manifest_free(&copy);
    m->fleet.members = NULL;
    m->fleet.member_count = 0;
}

static void expect_fail(sf_manifest *m, const char *kind, const char *field)
{
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_manifest_validate(m, &err), SF_ERR);
    if (err.kind == NULL || strcmp(err.kind, kind) != 0 ||
        strcmp(err.field, field) != 0)
        fail_msg("want %s at %s, got %s at %s (%s)", kind, field,
                 err.kind ? err.kind : "(none)", err.field, err.message);
    sf_manifest_free(m);
}

static void expect_fail_msg(sf_manifest *m, const char *kind,
                            const char *field, const char *message)
{
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_manifest_validate(m, &err), SF_ERR);
    assert_non_null(err.kind);
    assert_string_equal(err.kind, kind);
    assert_string_equal(err.field, field);
    assert_string_equal(err.message, message);
    sf_manifest_free(m);
}

static void expect_ok(sf_manifest *m)
{
    sf_error err;

    sf_error_clear(&err);
    if (sf_manifest_validate(m, &err) != SF_OK)
        fail_msg("unexpected %s at %s: %s", err.kind, err.field, err.message);
    sf_manifest_free(m);
}

/* One rule test: load the base, apply the statements, expect kind+field. */
#define FAULT(name, kind, field, ...)            \
    static void name(void **state)               \
    {                                            \
        sf_manifest m;                           \
        (void)state;                             \
        load(&m, "valid-subtree.json");          \
        __VA_ARGS__;                             \
        expect_fail(&m, kind, field);            \
    }

#define MEMBER(i) (m.fleet.members[i])
#define UNIT(i) (m.consistency.backup_units[i])
#define SNAP(i) (m.fleet.members[i].source_snapshot)
#define MCHECK(i, j) (m.fleet.members[i].verification_checks[j])
#define GROUP(i) (m.verification.member_checks[i])

/* ---- the samples ---- */

static void test_samples_are_valid(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-single.json");
    assert_int_equal(m.fleet.member_count, 1);
    assert_null(m.fleet.members[0].subnet_canister_id);
    assert_null(m.fleet.members[0].source_snapshot.module_hash);
    expect_ok(&m);
    load(&m, "valid-subtree.json");
    assert_int_equal(m.fleet.member_count, 3);
    assert_int_equal(m.consistency.backup_units[0].kind,
                     SF_MANIFEST_UNIT_SUBTREE);
    assert_int_equal(m.fleet.members[1].identity_mode,
                     SF_MANIFEST_IDENTITY_RELOCATABLE);
    assert_string_equal(m.fleet.members[2].parent_canister_id, APP);
    expect_ok(&m);
}

/* ---- 1. version ---- */

static void test_version(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    m.manifest_version = 2;
    expect_fail_msg(&m, "unsupported-manifest-version", "manifest_version",
                    "unsupported manifest version 2");
    load(&m, "valid-subtree.json");
    m.manifest_version = 0;
    expect_fail(&m, "unsupported-manifest-version", "manifest_version");
}

/* ---- 2-4. top-level fields ---- */

FAULT(test_backup_id_blank, "empty-field", "backup_id",
      set(&m.backup_id, " \xE3\x80\x80\t"))
FAULT(test_backup_id_null, "empty-field", "backup_id", set(&m.backup_id, NULL))
FAULT(test_created_at_empty, "empty-field", "created_at",
      set(&m.created_at, ""))
FAULT(test_tool_name, "empty-field", "tool.name", set(&m.tool.name, " "))
FAULT(test_tool_version, "empty-field", "tool.version",
      set(&m.tool.version, "\n"))
FAULT(test_source_environment, "empty-field", "source.environment",
      set(&m.source.environment, ""))
/* Emptiness is checked before the principal parse. */
FAULT(test_root_canister_empty, "empty-field", "source.root_canister",
      set(&m.source.root_canister, "  "))

static void test_root_canister_invalid(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&m.source.root_canister, "aaaaaaa");
    expect_fail_msg(&m, "invalid-principal", "source.root_canister",
                    "field source.root_canister must be a valid principal: "
                    "aaaaaaa");
}

/* Blankness is Rust's trim, not C's isspace: U+200B is not white space. */
static void test_zero_width_space_is_not_blank(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&m.backup_id, "\xE2\x80\x8B");
    expect_ok(&m);
}

/* ---- 5. consistency ---- */

FAULT(test_units_empty, "empty-collection", "consistency.backup_units",
      clear_units(&m))
FAULT(test_unit_id_blank, "empty-field", "consistency.backup_units[0].unit_id",
      set(&UNIT(0).unit_id, " "))
FAULT(test_unit_roles_empty, "empty-collection",
      "consistency.backup_units[0].roles",
      NO_ROLES(&UNIT(0).roles, &UNIT(0).role_count))
FAULT(test_unit_role_blank, "empty-field",
      "consistency.backup_units[0].roles[1]",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app", "", "app"))
FAULT(test_unit_role_duplicate, "duplicate-backup-unit-role",
      "consistency.backup_units[0].roles[2]",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app", "worker", "app"))
/* Rule order inside a unit: every role is checked for blankness before
 * any uniqueness check. */
FAULT(test_unit_blank_role_beats_earlier_duplicate, "empty-field",
      "consistency.backup_units[0].roles[2]",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app", "app", " "))

static void test_unit_messages(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ROLES(&UNIT(0).roles, &UNIT(0).role_count, "worker", "app", "worker");
    expect_fail_msg(&m, "duplicate-backup-unit-role",
                    "consistency.backup_units[0].roles[2]",
                    "backup unit snapshot-selection repeats role worker");
    load(&m, "valid-subtree.json");
    NO_ROLES(&UNIT(0).roles, &UNIT(0).role_count);
    expect_fail_msg(&m, "empty-collection",
                    "consistency.backup_units[0].roles",
                    "collection consistency.backup_units[].roles must not "
                    "be empty");
    load(&m, "valid-subtree.json");
    set(&UNIT(0).unit_id, "");
    expect_fail_msg(&m, "empty-field", "consistency.backup_units[0].unit_id",
                    "field consistency.backup_units[].unit_id must not be "
                    "empty");
}

static void test_unit_id_duplicate(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_UNIT(&m, "snapshot-selection", SF_MANIFEST_UNIT_SINGLE, "worker");
    expect_fail_msg(&m, "duplicate-backup-unit-id",
                    "consistency.backup_units[1].unit_id",
                    "duplicate backup unit id snapshot-selection");
}

/* A unit is validated before its id is checked for uniqueness. */
static void test_unit_validated_before_duplicate_id(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_UNIT(&m, "snapshot-selection", SF_MANIFEST_UNIT_SINGLE);
    expect_fail(&m, "empty-collection", "consistency.backup_units[1].roles");
}

/* The first repeated id wins over a later broken unit. */
static void test_duplicate_unit_id_before_later_broken_unit(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_UNIT(&m, "snapshot-selection", SF_MANIFEST_UNIT_SINGLE, "worker");
    ADD_UNIT(&m, " ", SF_MANIFEST_UNIT_SINGLE);
    expect_fail(&m, "duplicate-backup-unit-id",
                "consistency.backup_units[1].unit_id");
}

/* ---- 6. fleet ---- */

FAULT(test_hash_algorithm_blank, "empty-field",
      "fleet.topology_hash_algorithm",
      set(&m.fleet.topology_hash_algorithm, ""))
FAULT(test_hash_algorithm_input_blank, "empty-field",
      "fleet.topology_hash_input", set(&m.fleet.topology_hash_input, " "))
FAULT(test_discovery_hash_empty, "empty-field", "fleet.discovery_topology_hash",
      set(&m.fleet.discovery_topology_hash, ""))
FAULT(test_discovery_hash_invalid, "invalid-hash",
      "fleet.discovery_topology_hash",
      set(&m.fleet.discovery_topology_hash, "abc"))
FAULT(test_pre_snapshot_hash_invalid, "invalid-hash",
      "fleet.pre_snapshot_topology_hash",
      set(&m.fleet.pre_snapshot_topology_hash, HASH_A "0"))
FAULT(test_topology_hash_invalid, "invalid-hash", "fleet.topology_hash",
      set(&m.fleet.topology_hash,
          "g3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"))
FAULT(test_members_empty, "empty-collection", "fleet.members",
      clear_members(&m))

static void test_hash_algorithm_unsupported(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&m.fleet.topology_hash_algorithm, "SHA256");
    expect_fail_msg(&m, "unsupported-hash-algorithm",
                    "fleet.topology_hash_algorithm",
                    "unsupported hash algorithm SHA256");
}

static void test_hash_messages(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&m.fleet.topology_hash, "xyz");
    expect_fail_msg(&m, "invalid-hash", "fleet.topology_hash",
                    "field fleet.topology_hash must be a non-empty sha256 "
                    "hex string");
    load(&m, "valid-subtree.json");
    set(&m.fleet.members[0].source_snapshot.checksum, "");
    expect_fail_msg(&m, "empty-field",
                    "fleet.members[0].source_snapshot.checksum",
                    "field fleet.members[].source_snapshot.checksum must not "
                    "be empty");
}

static void test_topology_mismatches(void **state)
{
    sf_manifest m;
    char want[512];

    (void)state;
    load(&m, "valid-subtree.json");
    set(&m.fleet.pre_snapshot_topology_hash, HASH_B);
    snprintf(want, sizeof want,
             "topology hash mismatch between discovery %s and pre-snapshot "
             "%s",
             m.fleet.discovery_topology_hash, HASH_B);
    expect_fail_msg(&m, "topology-hash-mismatch",
                    "fleet.pre_snapshot_topology_hash", want);

    load(&m, "valid-subtree.json");
    set(&m.fleet.topology_hash, HASH_B);
    snprintf(want, sizeof want,
             "accepted topology hash %s does not match discovery hash %s",
             HASH_B, m.fleet.discovery_topology_hash);
    expect_fail_msg(&m, "accepted-topology-hash-mismatch",
                    "fleet.topology_hash", want);
}

/* Upper-case hex is a valid hash, but hashes compare as stored text. */
static void test_hash_case_is_significant(void **state)
{
    sf_manifest m;
    char upper[65];
    size_t i;

    (void)state;
    load(&m, "valid-subtree.json");
    for (i = 0; i < 64; i++)
        upper[i] = (char)toupper((unsigned char)HASH_A[i]);
    upper[64] = '\0';
    set(&m.fleet.discovery_topology_hash, upper);
    set(&m.fleet.pre_snapshot_topology_hash, upper);
    set(&m.fleet.topology_hash, upper);
    expect_ok(&m);
    load(&m, "valid-subtree.json");
    set(&m.fleet.discovery_topology_hash, upper);
    set(&m.fleet.pre_snapshot_topology_hash, HASH_A);
    set(&m.fleet.topology_hash, upper);
    expect_fail(&m, "topology-hash-mismatch",
                "fleet.pre_snapshot_topology_hash");
}

/* members */
FAULT(test_member_role_blank, "empty-field", "fleet.members[1].role",
      set(&MEMBER(1).role, " "))
FAULT(test_member_canister_empty, "empty-field", "fleet.members[2].canister_id",
      set(&MEMBER(2).canister_id, ""))
FAULT(test_member_canister_invalid, "invalid-principal",
      "fleet.members[2].canister_id",
      set(&MEMBER(2).canister_id, "rdmx6-jaaaa-aaaaa-aaadq-caj"))
FAULT(test_member_parent_invalid, "invalid-principal",
      "fleet.members[1].parent_canister_id",
      set(&MEMBER(1).parent_canister_id, "renrkeyaaaaaaaaaaadacai"))
FAULT(test_member_parent_present_empty, "empty-field",
      "fleet.members[1].parent_canister_id",
      set(&MEMBER(1).parent_canister_id, ""))
FAULT(test_member_subnet_invalid, "invalid-principal",
      "fleet.members[0].subnet_canister_id",
      set(&MEMBER(0).subnet_canister_id, "subnet"))
FAULT(test_member_controller_invalid, "invalid-principal",
      "fleet.members[0].controller_hint",
      set(&MEMBER(0).controller_hint, "2vxsx-fa"))
/* Upper-case principal text is valid (the stored text is kept). */
FAULT(test_member_uppercase_principal_ok_then_next_rule, "invalid-hash",
      "fleet.members[0].source_snapshot.checksum",
      set(&MEMBER(0).controller_hint, "AAAAA-AA");
      set(&SNAP(0).checksum, "0"))
FAULT(test_member_checks_empty, "missing-member-verification-checks",
      "fleet.members[1].verification_checks",
      clear_checks(&MEMBER(1).verification_checks,
                   &MEMBER(1).verification_check_count))
FAULT(test_member_check_kind_blank, "empty-field",
      "fleet.members[0].verification_checks[0].kind",
      set(&MCHECK(0, 0).kind, " "))
FAULT(test_member_check_kind_unsupported, "unsupported-verification-kind",
      "fleet.members[0].verification_checks[1].kind",
      ADD_CHECK(&MEMBER(0).verification_checks,
                &MEMBER(0).verification_check_count, "Status"))
FAULT(test_member_check_role_blank, "empty-field",
      "fleet.members[2].verification_checks[0].roles[0]",
      ROLES(&MCHECK(2, 0).roles, &MCHECK(2, 0).role_count, "", "worker"))
FAULT(test_member_check_role_duplicate, "duplicate-verification-check-role",
      "fleet.members[0].verification_checks[0].roles[2]",
      ROLES(&MCHECK(0, 0).roles, &MCHECK(0, 0).role_count, "app", "worker",
            "app"))
FAULT(test_snapshot_id_blank, "empty-field",
      "fleet.members[1].source_snapshot.snapshot_id",
      set(&SNAP(1).snapshot_id, ""))
FAULT(test_module_hash_present_blank, "empty-field",
      "fleet.members[1].source_snapshot.module_hash",
      set(&SNAP(1).module_hash, " "))
FAULT(test_code_version_present_blank, "empty-field",
      "fleet.members[0].source_snapshot.code_version",
      set(&SNAP(0).code_version, ""))
FAULT(test_artifact_path_blank, "empty-field",
      "fleet.members[2].source_snapshot.artifact_path",
      set(&SNAP(2).artifact_path, "\t"))
FAULT(test_checksum_algorithm_blank, "empty-field",
      "fleet.members[2].source_snapshot.checksum_algorithm",
      set(&SNAP(2).checksum_algorithm, ""))
FAULT(test_checksum_algorithm_unsupported, "unsupported-hash-algorithm",
      "fleet.members[2].source_snapshot.checksum_algorithm",
      set(&SNAP(2).checksum_algorithm, "md5"))
FAULT(test_checksum_present_empty, "empty-field",
      "fleet.members[1].source_snapshot.checksum", set(&SNAP(1).checksum, ""))
FAULT(test_checksum_invalid, "invalid-hash",
      "fleet.members[1].source_snapshot.checksum",
      set(&SNAP(1).checksum, HASH_A "00"))
FAULT(test_duplicate_canister, "duplicate-canister-id",
      "fleet.members[2].canister_id", set(&MEMBER(2).canister_id, APP))

/* Optional fields are optional: nulls everywhere still validate. */
static void test_optional_nulls_are_valid(void **state)
{
    sf_manifest m;
    size_t i;

    (void)state;
    load(&m, "valid-subtree.json");
    for (i = 0; i < m.fleet.member_count; i++) {
        set(&MEMBER(i).subnet_canister_id, NULL);
        set(&MEMBER(i).controller_hint, NULL);
        set(&SNAP(i).module_hash, NULL);
        set(&SNAP(i).code_version, NULL);
        set(&SNAP(i).checksum, NULL);
    }
    set(&MEMBER(0).parent_canister_id, NULL);
    expect_ok(&m);
}

static void test_member_messages(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_checks(&MEMBER(1).verification_checks,
                 &MEMBER(1).verification_check_count);
    expect_fail_msg(&m, "missing-member-verification-checks",
                    "fleet.members[1].verification_checks",
                    "fleet member " WORKER1
                    " has no concrete verification checks");
    load(&m, "valid-subtree.json");
    set(&MEMBER(2).canister_id, WORKER1);
    expect_fail_msg(&m, "duplicate-canister-id",
                    "fleet.members[2].canister_id",
                    "duplicate canister id " WORKER1);
    load(&m, "valid-subtree.json");
    set(&MCHECK(1, 0).kind, "reachability");
    expect_fail_msg(&m, "unsupported-verification-kind",
                    "fleet.members[1].verification_checks[0].kind",
                    "unsupported verification kind reachability");
    load(&m, "valid-subtree.json");
    ROLES(&MCHECK(1, 0).roles, &MCHECK(1, 0).role_count, "worker", "worker");
    expect_fail_msg(&m, "duplicate-verification-check-role",
                    "fleet.members[1].verification_checks[0].roles[1]",
                    "verification check status repeats role worker");
    load(&m, "valid-subtree.json");
    set(&SNAP(0).module_hash, "");
    expect_fail_msg(&m, "empty-field",
                    "fleet.members[0].source_snapshot.module_hash",
                    "field fleet.members[].source_snapshot.module_hash must "
                    "not be empty");
    load(&m, "valid-subtree.json");
    set(&MEMBER(0).parent_canister_id, "x");
    expect_fail_msg(&m, "invalid-principal",
                    "fleet.members[0].parent_canister_id",
                    "field fleet.members[].parent_canister_id must be a "
                    "valid principal: x");
    load(&m, "valid-subtree.json");
    ROLES(&MCHECK(0, 0).roles, &MCHECK(0, 0).role_count, " ");
    expect_fail_msg(&m, "empty-field",
                    "fleet.members[0].verification_checks[0].roles[0]",
                    "field verification.check.roles[] must not be empty");
}

/* Order inside a member: principal fields before checks before the
 * snapshot; a member is validated before its id is checked for
 * uniqueness; the first member's problem wins. */
FAULT(test_member_principal_before_checks, "invalid-principal",
      "fleet.members[1].controller_hint",
      set(&MEMBER(1).controller_hint, "nope");
      clear_checks(&MEMBER(1).verification_checks,
                   &MEMBER(1).verification_check_count))
FAULT(test_member_checks_before_snapshot, "unsupported-verification-kind",
      "fleet.members[1].verification_checks[0].kind",
      set(&MCHECK(1, 0).kind, "ping"); set(&SNAP(1).snapshot_id, ""))
FAULT(test_member_validated_before_duplicate, "empty-field",
      "fleet.members[2].source_snapshot.artifact_path",
      set(&MEMBER(2).canister_id, WORKER1); set(&SNAP(2).artifact_path, ""))
FAULT(test_first_member_fault_wins, "empty-field",
      "fleet.members[1].source_snapshot.snapshot_id",
      set(&SNAP(1).snapshot_id, ""); set(&MEMBER(2).role, ""))
FAULT(test_hash_checks_before_members, "accepted-topology-hash-mismatch",
      "fleet.topology_hash", set(&m.fleet.topology_hash, HASH_B);
      set(&MEMBER(0).role, ""))

/* ---- 7. verification plan ---- */

FAULT(test_fleet_check_kind_blank, "empty-field",
      "verification.fleet_checks[0].kind",
      set(&m.verification.fleet_checks[0].kind, ""))
FAULT(test_fleet_check_role_duplicate, "duplicate-verification-check-role",
      "verification.fleet_checks[0].roles[1]",
      ROLES(&m.verification.fleet_checks[0].roles,
            &m.verification.fleet_checks[0].role_count, "app", "app"))
FAULT(test_group_role_blank, "empty-field", "verification.member_checks[0].role",
      set(&GROUP(0).role, "  "))
FAULT(test_group_checks_empty, "empty-collection",
      "verification.member_checks[1].checks", ADD_GROUP(&m, "app", NULL))
FAULT(test_group_check_kind, "unsupported-verification-kind",
      "verification.member_checks[0].checks[0].kind",
      set(&GROUP(0).checks[0].kind, "canister-status"))
/* Fleet checks are all validated before the member groups. */
FAULT(test_fleet_checks_before_groups, "empty-field",
      "verification.fleet_checks[1].roles[0]",
      set(&GROUP(0).role, "");
      ADD_CHECK(&m.verification.fleet_checks,
                &m.verification.fleet_check_count, "status", ""))

static void test_group_messages(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_GROUP(&m, "app", NULL);
    expect_fail_msg(&m, "empty-collection",
                    "verification.member_checks[1].checks",
                    "collection verification.member_checks[].checks must "
                    "not be empty");
    load(&m, "valid-subtree.json");
    set(&GROUP(0).role, "");
    expect_fail_msg(&m, "empty-field", "verification.member_checks[0].role",
                    "field verification.member_checks[].role must not be "
                    "empty");
    load(&m, "valid-subtree.json");
    set(&m.verification.fleet_checks[0].kind, " ");
    expect_fail_msg(&m, "empty-field", "verification.fleet_checks[0].kind",
                    "field verification.check.kind must not be empty");
}

/* ---- 8. consistency against the fleet ---- */

FAULT(test_unit_role_unknown, "unknown-backup-unit-role",
      "consistency.backup_units[0].roles[1]",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app", "Worker", "worker"))

static void test_unit_role_unknown_message(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_UNIT(&m, "extra", SF_MANIFEST_UNIT_SINGLE, "indexer");
    expect_fail_msg(&m, "unknown-backup-unit-role",
                    "consistency.backup_units[1].roles[0]",
                    "backup unit extra references unknown role indexer");
}

/* Two uncovered roles: the byte-wise smallest is reported ("Zulu" sorts
 * before "beta"), not the first member's. */
static void test_coverage_sorted_order(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app", SF_MANIFEST_UNIT_SINGLE, "app");
    set(&MEMBER(1).role, "beta");
    set(&MEMBER(2).role, "Zulu");
    expect_fail_msg(&m, "backup-unit-coverage-missing-role",
                    "fleet.members[2].role",
                    "fleet role Zulu is not covered by any backup unit");
}

/* Coverage is checked after every unit, so a later unit's unknown role
 * wins over a role no unit covers. */
static void test_unknown_role_before_coverage(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "a", SF_MANIFEST_UNIT_SINGLE, "app");
    ADD_UNIT(&m, "b", SF_MANIFEST_UNIT_SINGLE, "ghost");
    expect_fail(&m, "unknown-backup-unit-role",
                "consistency.backup_units[1].roles[0]");
}

/* A role may be covered by several units. */
static void test_role_in_two_units(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SINGLE, "worker");
    expect_ok(&m);
}

/* Two workers, both children of the app, are two roots of a subtree unit
 * holding only workers. */
static void test_subtree_two_roots(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SUBTREE, "worker");
    ADD_UNIT(&m, "app", SF_MANIFEST_UNIT_SINGLE, "app");
    expect_fail_msg(&m, "subtree-backup-unit-not-connected",
                    "consistency.backup_units[0]",
                    "subtree backup unit workers is not connected");
}

/* A parent cycle inside the unit leaves no root at all. */
static void test_subtree_no_root(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app", SF_MANIFEST_UNIT_SINGLE, "app");
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SUBTREE, "worker");
    set(&MEMBER(1).parent_canister_id, WORKER2);
    set(&MEMBER(2).parent_canister_id, WORKER1);
    expect_fail(&m, "subtree-backup-unit-not-connected",
                "consistency.backup_units[1]");
}

/* The same shape as a single unit is fine: only subtrees are checked. */
static void test_single_unit_not_checked_for_shape(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    UNIT(0).kind = SF_MANIFEST_UNIT_SINGLE;
    set(&MEMBER(1).parent_canister_id, WORKER2);
    set(&MEMBER(2).parent_canister_id, WORKER1);
    expect_ok(&m);
}

static void test_subtree_missing_descendant(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app-tree", SF_MANIFEST_UNIT_SUBTREE, "app");
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SINGLE, "worker");
    expect_fail_msg(&m, "subtree-backup-unit-missing-descendant",
                    "consistency.backup_units[0]",
                    "subtree backup unit app-tree includes parent " APP
                    " but omits descendant " WORKER1);
}

/* The walk goes through non-unit ancestors: WORKER1 hangs below WORKER2,
 * which hangs below the app, and WORKER1 comes first in member order. */
static void test_subtree_missing_grandchild(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app-tree", SF_MANIFEST_UNIT_SUBTREE, "app");
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SINGLE, "worker");
    set(&MEMBER(1).parent_canister_id, WORKER2);
    expect_fail_msg(&m, "subtree-backup-unit-missing-descendant",
                    "consistency.backup_units[0]",
                    "subtree backup unit app-tree includes parent " APP
                    " but omits descendant " WORKER1);
}

/* Non-unit members in a parent cycle end their walk without an error. */
static void test_subtree_walk_stops_on_cycle(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app-tree", SF_MANIFEST_UNIT_SUBTREE, "app");
    ADD_UNIT(&m, "workers", SF_MANIFEST_UNIT_SINGLE, "worker");
    set(&MEMBER(1).parent_canister_id, WORKER2);
    set(&MEMBER(2).parent_canister_id, WORKER1);
    expect_ok(&m);
}

/* A subtree unit is checked right after its own roles: a later unit's
 * unknown role does not hide it. */
static void test_subtree_checked_before_later_unit_roles(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    clear_units(&m);
    ADD_UNIT(&m, "app-tree", SF_MANIFEST_UNIT_SUBTREE, "app");
    ADD_UNIT(&m, "later", SF_MANIFEST_UNIT_SINGLE, "ghost");
    expect_fail(&m, "subtree-backup-unit-missing-descendant",
                "consistency.backup_units[0]");
}

/* A unit member without a parent is a root too. */
static void test_subtree_second_parentless_root(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&MEMBER(2).role, "app");
    set(&MEMBER(2).parent_canister_id, NULL);
    expect_fail(&m, "subtree-backup-unit-not-connected",
                "consistency.backup_units[0]");
}

/* ---- 9. verification against the fleet ---- */

FAULT(test_fleet_check_role_unknown, "unknown-verification-role",
      "verification.fleet_checks[0].roles[1]",
      ROLES(&m.verification.fleet_checks[0].roles,
            &m.verification.fleet_checks[0].role_count, "app", "auditor"))
FAULT(test_member_check_role_unknown, "unknown-verification-role",
      "fleet.members[2].verification_checks[0].roles[0]",
      ROLES(&MCHECK(2, 0).roles, &MCHECK(2, 0).role_count, "auditor"))
FAULT(test_group_role_unknown, "unknown-verification-role",
      "verification.member_checks[0].role", set(&GROUP(0).role, "auditor"))
FAULT(test_group_check_role_unknown, "unknown-verification-role",
      "verification.member_checks[0].checks[0].roles[0]",
      ROLES(&GROUP(0).checks[0].roles, &GROUP(0).checks[0].role_count,
            "auditor"))
FAULT(test_group_role_duplicate, "duplicate-member-verification-role",
      "verification.member_checks[1].role",
      ADD_GROUP(&m, "worker", "status"))
/* Fleet checks, then member checks, then the groups. */
FAULT(test_fleet_check_roles_before_member_checks, "unknown-verification-role",
      "verification.fleet_checks[0].roles[0]",
      ROLES(&MCHECK(0, 0).roles, &MCHECK(0, 0).role_count, "ghost-1");
      ROLES(&m.verification.fleet_checks[0].roles,
            &m.verification.fleet_checks[0].role_count, "ghost-2"))
FAULT(test_member_check_roles_before_groups, "unknown-verification-role",
      "fleet.members[1].verification_checks[0].roles[0]",
      set(&GROUP(0).role, "ghost-1");
      ROLES(&MCHECK(1, 0).roles, &MCHECK(1, 0).role_count, "ghost-2"))
/* Within a group: its role is known-checked before the duplicate check,
 * which comes before its checks' roles. */
FAULT(test_group_unknown_before_duplicate, "unknown-verification-role",
      "verification.member_checks[1].role",
      ADD_GROUP(&m, "ghost", "status"); ADD_GROUP(&m, "worker", "status"))
FAULT(test_group_duplicate_before_its_check_roles,
      "duplicate-member-verification-role",
      "verification.member_checks[1].role",
      ADD_GROUP(&m, "worker", "status", "ghost"))

static void test_verification_role_messages(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    set(&GROUP(0).role, "auditor");
    expect_fail_msg(&m, "unknown-verification-role",
                    "verification.member_checks[0].role",
                    "verification plan references unknown role auditor");
    load(&m, "valid-subtree.json");
    ADD_GROUP(&m, "worker", "status");
    expect_fail_msg(&m, "duplicate-member-verification-role",
                    "verification.member_checks[1].role",
                    "duplicate member verification role worker");
}

/* ---- order across the rules: two faults, the earlier rule wins ---- */

FAULT(test_order_version_before_fields, "unsupported-manifest-version",
      "manifest_version", m.manifest_version = 3; set(&m.backup_id, ""))
FAULT(test_order_backup_id_before_created_at, "empty-field", "backup_id",
      set(&m.created_at, ""); set(&m.backup_id, ""))
FAULT(test_order_tool_before_source, "empty-field", "tool.version",
      set(&m.source.root_canister, "x"); set(&m.tool.version, ""))
FAULT(test_order_source_before_consistency, "invalid-principal",
      "source.root_canister", clear_units(&m);
      set(&m.source.root_canister, "x"))
FAULT(test_order_consistency_before_fleet, "duplicate-backup-unit-role",
      "consistency.backup_units[0].roles[1]",
      set(&m.fleet.topology_hash_algorithm, "md5");
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app", "app"))
FAULT(test_order_fleet_before_verification, "invalid-hash",
      "fleet.members[0].source_snapshot.checksum",
      set(&GROUP(0).role, ""); set(&SNAP(0).checksum, "z"))
FAULT(test_order_verification_before_cross_checks,
      "unsupported-verification-kind",
      "verification.fleet_checks[0].kind",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "ghost");
      set(&m.verification.fleet_checks[0].kind, "ping"))
/* Unit roles may name no fleet role until the cross checks run. */
FAULT(test_order_cross_consistency_before_cross_verification,
      "backup-unit-coverage-missing-role", "fleet.members[1].role",
      ROLES(&UNIT(0).roles, &UNIT(0).role_count, "app");
      UNIT(0).kind = SF_MANIFEST_UNIT_SINGLE;
      set(&GROUP(0).role, "ghost"))
/* The hash-algorithm rule of the fleet precedes its input. */
FAULT(test_order_algorithm_before_input, "unsupported-hash-algorithm",
      "fleet.topology_hash_algorithm",
      set(&m.fleet.topology_hash_input, "");
      set(&m.fleet.topology_hash_algorithm, "sha-256"))
/* Discovery-vs-pre-snapshot mismatch comes after all three hash shapes. */
FAULT(test_order_hash_shapes_before_mismatch, "invalid-hash",
      "fleet.topology_hash", set(&m.fleet.pre_snapshot_topology_hash, HASH_B);
      set(&m.fleet.topology_hash, "nothex"))

/* ---- large lists take the sorting path of the duplicate search ---- */

static void grow_fleet(sf_manifest *m, size_t n)
{
    sf_manifest_fleet *f = &m->fleet;
    size_t i;

    f->members = realloc(f->members, n * sizeof *f->members);
    assert_non_null(f->members);
    for (i = f->member_count; i < n; i++) {
        sf_manifest_member *w = &f->members[i];
        const sf_manifest_member *src = &f->members[1];
        uint8_t bytes[6] = {0, 0, (uint8_t)(i >> 8), (uint8_t)i, 1, 1};
        char text[SF_PRINCIPAL_TEXT_MAX];
        sf_error err;

        assert_int_equal(sf_principal_text_from_bytes(bytes, sizeof bytes,
                                                      text, &err),
                         SF_OK);
        memset(w, 0, sizeof *w);
        set(&w->role, "worker");
        set(&w->canister_id, text);
        set(&w->parent_canister_id, APP);
        w->identity_mode = SF_MANIFEST_IDENTITY_RELOCATABLE;
        ADD_CHECK(&w->verification_checks, &w->verification_check_count,
                  "status", "worker");
        set(&w->source_snapshot.snapshot_id, src->source_snapshot.snapshot_id);
        set(&w->source_snapshot.artifact_path, text);
        set(&w->source_snapshot.checksum_algorithm, "sha256");
    }
    f->member_count = n;
}

static void test_large_fleet_duplicates(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    grow_fleet(&m, 200);
    expect_ok(&m);

    load(&m, "valid-subtree.json");
    grow_fleet(&m, 200);
    /* 90 repeats 10 and 70 repeats 50: the walk meets 70 first. */
    set(&MEMBER(90).canister_id, MEMBER(10).canister_id);
    set(&MEMBER(70).canister_id, MEMBER(50).canister_id);
    expect_fail(&m, "duplicate-canister-id", "fleet.members[70].canister_id");

    /* the same with the pairs swapped, so either sort order is covered */
    load(&m, "valid-subtree.json");
    grow_fleet(&m, 200);
    set(&MEMBER(90).canister_id, MEMBER(50).canister_id);
    set(&MEMBER(70).canister_id, MEMBER(10).canister_id);
    expect_fail(&m, "duplicate-canister-id", "fleet.members[70].canister_id");

    load(&m, "valid-subtree.json");
    grow_fleet(&m, 200);
    /* Member 60 is broken and 70 repeats 50: the broken member first. */
    set(&MEMBER(70).canister_id, MEMBER(50).canister_id);
    set(&MEMBER(60).source_snapshot.snapshot_id, "");
    expect_fail(&m, "empty-field",
                "fleet.members[60].source_snapshot.snapshot_id");
}

/* Members 3..n-1 form one chain of role "chain": member i's parent is
 * member i + 1 (deepest first in member order); the last one's parent is
 * `top` (may be NULL). */
static void grow_chain(sf_manifest *m, size_t n, const char *top)
{
    size_t i;

    grow_fleet(m, n);
    for (i = 3; i < n; i++) {
        set(&m->fleet.members[i].role, "chain");
        ROLES(&m->fleet.members[i].verification_checks[0].roles,
              &m->fleet.members[i].verification_checks[0].role_count,
              "chain");
        set(&m->fleet.members[i].parent_canister_id,
            i + 1 < n ? m->fleet.members[i + 1].canister_id : top);
    }
    ADD_UNIT(m, "chain", SF_MANIFEST_UNIT_SINGLE, "chain");
}

/* A deep chain outside a subtree unit: canic walks up from every member,
 * which must neither take quadratic time here nor change the answer. */
static void test_deep_chain_outside_subtree(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    grow_chain(&m, 5000, NULL);
    expect_ok(&m);

    /* hung below WORKER1, the deepest member is reported first, with its
     * nearest unit ancestor */
    load(&m, "valid-subtree.json");
    grow_chain(&m, 5000, WORKER1);
    {
        char want[512];

        snprintf(want, sizeof want,
                 "subtree backup unit snapshot-selection includes parent "
                 WORKER1 " but omits descendant %s",
                 m.fleet.members[3].canister_id);
        expect_fail_msg(&m, "subtree-backup-unit-missing-descendant",
                        "consistency.backup_units[0]", want);
    }
}

/* The chain closed into a cycle: every walk ends without an answer. */
static void test_chain_cycle_outside_subtree(void **state)
{
    sf_manifest m;

    (void)state;
    load(&m, "valid-subtree.json");
    grow_chain(&m, 300, NULL);
    set(&m.fleet.members[299].parent_canister_id,
        m.fleet.members[3].canister_id);
    expect_ok(&m);
}

static void test_large_role_lists(void **state)
{
    sf_manifest m;
    sf_manifest_check *c;
    char role[16];
    size_t i;

    (void)state;
    load(&m, "valid-subtree.json");
    c = &m.verification.fleet_checks[0];
    sf_strv_free(c->roles, c->role_count);
    c->roles = calloc(40, sizeof *c->roles);
    assert_non_null(c->roles);
    c->role_count = 40;
    for (i = 0; i < 40; i++) {
        snprintf(role, sizeof role, "r%zu", i == 35 ? (size_t)5 : i);
        c->roles[i] = strdup(role);
    }
    expect_fail_msg(&m, "duplicate-verification-check-role",
                    "verification.fleet_checks[0].roles[35]",
                    "verification check status repeats role r5");
}

/* ---- reading ---- */

/* valid-single.json with `from` replaced by `to` (must occur). */
static char *variant(const char *from, const char *to)
{
    char *text = slurp("valid-single.json", NULL);
    char *at = strstr(text, from), *out;
    size_t head, flen = strlen(from), tlen = strlen(to);

    assert_non_null(at);
    head = (size_t)(at - text);
    out = malloc(strlen(text) - flen + tlen + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, tlen);
    strcpy(out + head + tlen, at + flen);
    free(text);
    return out;
}

static void parse_fails(const char *from, const char *to, const char *kind,
                        const char *field)
{
    char *text = variant(from, to);
    sf_manifest m;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_manifest_parse(text, strlen(text), &m, &err), SF_ERR);
    assert_non_null(err.kind);
    if (strcmp(err.kind, kind) != 0 || strcmp(err.field, field) != 0)
        fail_msg("%s -> %s: want %s at %s, got %s at %s (%s)", from, to, kind,
                 field, err.kind, err.field, err.message);
    /* a failed parse leaves nothing to free */
    assert_null(m.backup_id);
    assert_null(m.fleet.members);
    free(text);
}

static void parse_ok(const char *from, const char *to, sf_manifest *m)
{
    char *text = variant(from, to);
    sf_error err;

    sf_error_clear(&err);
    if (sf_manifest_parse(text, strlen(text), m, &err) != SF_OK)
        fail_msg("%s -> %s: %s at %s: %s", from, to, err.kind, err.field,
                 err.message);
    free(text);
}

static void test_parse_wrong_types(void **state)
{
    (void)state;
    parse_fails("\"manifest_version\": 1", "\"manifest_version\": \"1\"",
                "json-schema", "manifest_version");
    parse_fails("\"manifest_version\": 1", "\"manifest_version\": 1.0",
                "json-schema", "manifest_version");
    parse_fails("\"manifest_version\": 1", "\"manifest_version\": -1",
                "json-schema", "manifest_version");
    parse_fails("\"backup_id\": \"run-demo-20260115-090000\"",
                "\"backup_id\": null", "json-schema", "backup_id");
    parse_fails("\"tool\": {", "\"tool\": [], \"x\": {", "json-schema",
                "tool");
    parse_fails("\"roles\": [\n          \"app\"\n        ]",
                "\"roles\": \"app\"", "json-schema",
                "consistency.backup_units[0].roles");
    parse_fails("\"roles\": [\n          \"app\"\n        ]",
                "\"roles\": [\"app\", 7]", "json-schema",
                "consistency.backup_units[0].roles[1]");
    parse_fails("\"kind\": \"single\"", "\"kind\": \"Single\"",
                "json-schema", "consistency.backup_units[0].kind");
    parse_fails("\"identity_mode\": \"fixed\"", "\"identity_mode\": \"mobile\"",
                "json-schema", "fleet.members[0].identity_mode");
    parse_fails("\"subnet_canister_id\": null", "\"subnet_canister_id\": 5",
                "json-schema", "fleet.members[0].subnet_canister_id");
    parse_fails("\"checksum\": \"", "\"checksum\": false, \"x\": \"",
                "json-schema", "fleet.members[0].source_snapshot.checksum");
    parse_fails("\"fleet_checks\": []", "\"fleet_checks\": [7]",
                "json-schema", "verification.fleet_checks[0]");
    parse_fails("\"member_checks\": []", "\"member_checks\": [{\"role\": "
                "\"app\", \"checks\": {}}]",
                "json-schema", "verification.member_checks[0].checks");
    parse_fails("\"members\": [", "\"members\": [null, ", "json-schema",
                "fleet.members[0]");
}

static void test_parse_root_must_be_object(void **state)
{
    sf_manifest m;
    sf_error err;

    (void)state;
    assert_int_equal(sf_manifest_parse("[]", 2, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "json-schema");
    assert_int_equal(sf_manifest_parse("{", 1, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "json-syntax");
    assert_int_equal(sf_manifest_parse("", 0, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "json-syntax");
}

static void test_parse_missing_required(void **state)
{
    (void)state;
    parse_fails("\"verification\"", "\"verification_plan\"", "json-schema",
                "verification");
    parse_fails("\"version\": \"0.35.10\"", "\"ver\": \"0.35.10\"",
                "json-schema", "tool.version");
    parse_fails("\"unit_id\"", "\"id\"", "json-schema",
                "consistency.backup_units[0].unit_id");
    parse_fails("\"artifact_path\"", "\"artifact\"", "json-schema",
                "fleet.members[0].source_snapshot.artifact_path");
    parse_fails("\"identity_mode\"", "\"identity\"", "json-schema",
                "fleet.members[0].identity_mode");
    parse_fails("\"member_checks\": []", "\"member_check\": []",
                "json-schema", "verification.member_checks");
    parse_fails("\"topology_hash\": ", "\"topology_hash_x\": ", "json-schema",
                "fleet.topology_hash");
}

/* u16 overflow is a reading error, not an unsupported version. */
static void test_parse_version_range(void **state)
{
    sf_manifest m;
    sf_error err;

    (void)state;
    parse_fails("\"manifest_version\": 1", "\"manifest_version\": 70000",
                "json-schema", "manifest_version");
    parse_fails("\"manifest_version\": 1", "\"manifest_version\": 65536",
                "json-schema", "manifest_version");
    parse_ok("\"manifest_version\": 1", "\"manifest_version\": 65535", &m);
    assert_int_equal(m.manifest_version, 65535);
    assert_int_equal(sf_manifest_validate(&m, &err), SF_ERR);
    assert_string_equal(err.kind, "unsupported-manifest-version");
    assert_string_equal(err.message, "unsupported manifest version 65535");
    sf_manifest_free(&m);
}

static void test_parse_unknown_keys_ignored(void **state)
{
    sf_manifest m;

    (void)state;
    parse_ok("\"backup_id\"", "\"comment\": {\"a\": [1, null]}, \"backup_id\"",
             &m);
    expect_ok(&m);
    /* canic 0.36+ adds wasm_hash: an unknown key here, ignored */
    parse_ok("\"code_version\"", "\"wasm_hash\": \"abc\", \"code_version\"",
             &m);
    expect_ok(&m);
}

static void test_parse_absent_optionals_are_null(void **state)
{
    sf_manifest m;

    (void)state;
    parse_ok("\"subnet_canister_id\": null,", "", &m);
    assert_null(m.fleet.members[0].subnet_canister_id);
    expect_ok(&m);
    parse_ok(",\n          \"checksum\": \"bd73cb15d09851be82f0c6f3fbcf4b7b0ed"
             "43896490d7128bacf3bcf247aecaa\"",
             "", &m);
    assert_null(m.fleet.members[0].source_snapshot.checksum);
    expect_ok(&m);
    parse_ok("\"parent_canister_id\": \"aaaaa-aa\",", "", &m);
    assert_null(m.fleet.members[0].parent_canister_id);
    expect_ok(&m);
}

static void test_parse_duplicate_key_refused(void **state)
{
    (void)state;
    parse_fails("\"backup_id\"", "\"backup_id\": \"x\", \"backup_id\"",
                "json-schema", "backup_id");
    parse_fails("\"snapshot_id\"", "\"snapshot_id\": \"x\", \"snapshot_id\"",
                "json-schema", "fleet.members[0].source_snapshot.snapshot_id");
}

/* Parsing never validates. */
static void test_parse_does_not_validate(void **state)
{
    sf_manifest m;

    (void)state;
    parse_ok("\"manifest_version\": 1", "\"manifest_version\": 9", &m);
    assert_int_equal(m.manifest_version, 9);
    sf_manifest_free(&m);
    parse_ok("\"backup_units\": [", "\"backup_units\": [], \"x\": [", &m);
    assert_int_equal(m.consistency.backup_unit_count, 0);
    sf_manifest_free(&m);
}

/* ---- writing ---- */

static const char small_expected[] =
    "{\n"
    "  \"manifest_version\": 1,\n"
    "  \"backup_id\": \"run-1\",\n"
    "  \"created_at\": \"unix:1700000000\",\n"
    "  \"tool\": {\n"
    "    \"name\": \"snapfleet\",\n"
    "    \"version\": \"0.1.0\"\n"
    "  },\n"
    "  \"source\": {\n"
    "    \"environment\": \"staging \\\"eu\\\"\\t\xC3\xA9/\\\\\",\n"
    "    \"root_canister\": \"aaaaa-aa\"\n"
    "  },\n"
    "  \"consistency\": {\n"
    "    \"backup_units\": [\n"
    "      {\n"
    "        \"unit_id\": \"u\",\n"
    "        \"kind\": \"subtree\",\n"
    "        \"roles\": [\n"
    "          \"app\"\n"
    "        ]\n"
    "      }\n"
    "    ]\n"
    "  },\n"
    "  \"fleet\": {\n"
    "    \"topology_hash_algorithm\": \"sha256\",\n"
    "    \"topology_hash_input\": \"sorted(pid,parent_pid,role,module_hash)\",\n"
    "    \"discovery_topology_hash\": \"" HASH_A "\",\n"
    "    \"pre_snapshot_topology_hash\": \"" HASH_A "\",\n"
    "    \"topology_hash\": \"" HASH_A "\",\n"
    "    \"members\": [\n"
    "      {\n"
    "        \"role\": \"app\",\n"
    "        \"canister_id\": \"" APP "\",\n"
    "        \"parent_canister_id\": \"aaaaa-aa\",\n"
    "        \"subnet_canister_id\": null,\n"
    "        \"controller_hint\": \"aaaaa-aa\",\n"
    "        \"identity_mode\": \"relocatable\",\n"
    "        \"verification_checks\": [\n"
    "          {\n"
    "            \"kind\": \"status\",\n"
    "            \"roles\": []\n"
    "          }\n"
    "        ],\n"
    "        \"source_snapshot\": {\n"
    "          \"snapshot_id\": \"snap-1\",\n"
    "          \"module_hash\": null,\n"
    "          \"code_version\": \"1.0\",\n"
    "          \"artifact_path\": \"" APP "\",\n"
    "          \"checksum_algorithm\": \"sha256\",\n"
    "          \"checksum\": null\n"
    "        }\n"
    "      }\n"
    "    ]\n"
    "  },\n"
    "  \"verification\": {\n"
    "    \"fleet_checks\": [],\n"
    "    \"member_checks\": [\n"
    "      {\n"
    "        \"role\": \"app\",\n"
    "        \"checks\": [\n"
    "          {\n"
    "            \"kind\": \"status\",\n"
    "            \"roles\": [\n"
    "              \"app\"\n"
    "            ]\n"
    "          }\n"
    "        ]\n"
    "      }\n"
    "    ]\n"
    "  }\n"
    "}";

/* Built by hand (not parsed) so the writer is tested on its own. */
static void small_manifest(sf_manifest *m)
{
    static char *app_roles[] = {"app"};
    static sf_manifest_unit unit = {"u", SF_MANIFEST_UNIT_SUBTREE, app_roles,
                                    1};
    static sf_manifest_check member_check = {"status", NULL, 0};
    static sf_manifest_check group_check = {"status", app_roles, 1};
    static sf_manifest_member_checks group = {"app", &group_check, 1};
    static sf_manifest_member member = {
        "app", APP, "aaaaa-aa", NULL, "aaaaa-aa",
        SF_MANIFEST_IDENTITY_RELOCATABLE, &member_check, 1,
        {"snap-1", NULL, "1.0", APP, "sha256", NULL}};

    memset(m, 0, sizeof *m);
    m->manifest_version = 1;
    m->backup_id = "run-1";
    m->created_at = "unix:1700000000";
    m->tool.name = "snapfleet";
    m->tool.version = "0.1.0";
    m->source.environment = "staging \"eu\"\t\xC3\xA9/\\";
    m->source.root_canister = "aaaaa-aa";
    m->consistency.backup_units = &unit;
    m->consistency.backup_unit_count = 1;
    m->fleet.topology_hash_algorithm = "sha256";
    m->fleet.topology_hash_input = "sorted(pid,parent_pid,role,module_hash)";
    m->fleet.discovery_topology_hash = HASH_A;
    m->fleet.pre_snapshot_topology_hash = HASH_A;
    m->fleet.topology_hash = HASH_A;
    m->fleet.members = &member;
    m->fleet.member_count = 1;
    m->verification.member_checks = &group;
    m->verification.member_check_count = 1;
}

static void test_write_exact_bytes(void **state)
{
    sf_manifest m;
    sf_buf b;
    sf_error err;

    (void)state;
    small_manifest(&m);
    sf_buf_init(&b);
    assert_int_equal(sf_manifest_write_json(&m, &b, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&b), small_expected);
    assert_int_equal(b.len, strlen(small_expected));
    sf_buf_free(&b);
}

static void test_write_refuses_invalid_and_keeps_buffer(void **state)
{
    sf_manifest m;
    sf_buf b;
    sf_error err;

    (void)state;
    small_manifest(&m);
    m.fleet.topology_hash = HASH_B;
    sf_buf_init(&b);
    sf_buf_puts(&b, "keep");
    assert_int_equal(sf_manifest_write_json(&m, &b, &err), SF_ERR);
    assert_string_equal(err.kind, "accepted-topology-hash-mismatch");
    assert_string_equal(sf_buf_cstr(&b), "keep");
    assert_int_equal(sf_manifest_validation_summary_json(&m, &b, &err),
                     SF_ERR);
    assert_string_equal(sf_buf_cstr(&b), "keep");
    sf_buf_free(&b);
}

static void round_trip(const char *name)
{
    size_t len;
    char *file = slurp(name, &len);
    sf_manifest a, c;
    sf_buf w1, w2;
    sf_error err;

    sf_buf_init(&w1);
    sf_buf_init(&w2);
    assert_int_equal(sf_manifest_parse(file, len, &a, &err), SF_OK);
    assert_int_equal(sf_manifest_write_json(&a, &w1, &err), SF_OK);
    /* the samples are stored in canonical form */
    assert_string_equal(sf_buf_cstr(&w1), file);
    assert_int_equal(sf_manifest_parse(w1.data, w1.len, &c, &err), SF_OK);
    assert_int_equal(sf_manifest_write_json(&c, &w2, &err), SF_OK);
    assert_int_equal(w1.len, w2.len);
    assert_memory_equal(w1.data, w2.data, w1.len);
    sf_manifest_free(&a);
    sf_manifest_free(&c);
    sf_buf_free(&w1);
    sf_buf_free(&w2);
    free(file);
}

static void test_round_trip(void **state)
{
    (void)state;
    round_trip("valid-single.json");
    round_trip("valid-subtree.json");
}

/* A document laid out differently (compact, shuffled keys, unknown keys)
 * is rewritten in canonical form. */
static void test_write_canonicalizes(void **state)
{
    static const char compact[] =
        "{\"verification\":{\"member_checks\":[],\"fleet_checks\":[]},"
        "\"x\":1,\"fleet\":{\"members\":[{\"source_snapshot\":{"
        "\"checksum_algorithm\":\"sha256\",\"artifact_path\":\"a\","
        "\"snapshot_id\":\"s\"},\"verification_checks\":[{\"roles\":[],"
        "\"kind\":\"status\"}],\"identity_mode\":\"fixed\","
        "\"canister_id\":\"aaaaa-aa\",\"role\":\"root\"}],"
        "\"topology_hash\":\"" HASH_A "\",\"pre_snapshot_topology_hash\":\""
        HASH_A "\",\"discovery_topology_hash\":\"" HASH_A "\","
        "\"topology_hash_input\":\"i\",\"topology_hash_algorithm\":\"sha256\"},"
        "\"consistency\":{\"backup_units\":[{\"roles\":[\"root\"],"
        "\"kind\":\"single\",\"unit_id\":\"u\"}]},\"source\":{"
        "\"root_canister\":\"aaaaa-aa\",\"environment\":\"e\"},\"tool\":{"
        "\"version\":\"v\",\"name\":\"n\"},\"created_at\":\"c\","
        "\"backup_id\":\"b\",\"manifest_version\":1}";
    sf_manifest m;
    sf_buf b;
    sf_error err;

    (void)state;
    sf_buf_init(&b);
    assert_int_equal(sf_manifest_parse(compact, strlen(compact), &m, &err),
                     SF_OK);
    assert_int_equal(sf_manifest_write_json(&m, &b, &err), SF_OK);
    assert_non_null(strstr(sf_buf_cstr(&b),
                           "{\n  \"manifest_version\": 1,\n  \"backup_id\": "
                           "\"b\",\n  \"created_at\": \"c\",\n  \"tool\""));
    assert_non_null(strstr(sf_buf_cstr(&b),
                           "\"artifact_path\": \"a\",\n          "
                           "\"checksum_algorithm\": \"sha256\",\n          "
                           "\"checksum\": null\n"));
    assert_null(strstr(sf_buf_cstr(&b), "\"x\""));
    sf_manifest_free(&m);
    sf_buf_free(&b);
}

static void test_summary_json(void **state)
{
    static const char want[] =
        "{\n"
        "  \"backup_id\": \"run-1\",\n"
        "  \"backup_unit_count\": 2,\n"
        "  \"backup_unit_kinds\": {\n"
        "    \"single\": 1,\n"
        "    \"subtree\": 1\n"
        "  },\n"
        "  \"backup_units\": [\n"
        "    {\n"
        "      \"kind\": \"subtree\",\n"
        "      \"role_count\": 1,\n"
        "      \"unit_id\": \"u\"\n"
        "    },\n"
        "    {\n"
        "      \"kind\": \"single\",\n"
        "      \"role_count\": 1,\n"
        "      \"unit_id\": \"v\"\n"
        "    }\n"
        "  ],\n"
        "  \"members\": 1,\n"
        "  \"status\": \"valid\",\n"
        "  \"topology_hash\": \"" HASH_A "\",\n"
        "  \"topology_hash_algorithm\": \"sha256\",\n"
        "  \"topology_hash_input\": "
        "\"sorted(pid,parent_pid,role,module_hash)\",\n"
        "  \"topology_validation_status\": \"validated\"\n"
        "}";
    static char *app_roles[] = {"app"};
    sf_manifest m;
    sf_manifest_unit units[2] = {
        {"u", SF_MANIFEST_UNIT_SUBTREE, app_roles, 1},
        {"v", SF_MANIFEST_UNIT_SINGLE, app_roles, 1},
    };
    sf_buf b;
    sf_error err;

    (void)state;
    small_manifest(&m);
    m.consistency.backup_units = units;
    m.consistency.backup_unit_count = 2;
    sf_buf_init(&b);
    assert_int_equal(sf_manifest_validation_summary_json(&m, &b, &err),
                     SF_OK);
    assert_string_equal(sf_buf_cstr(&b), want);
    sf_buf_free(&b);
}

static void test_copy(void **state)
{
    sf_manifest a, c, s;
    sf_buf w1, w2;
    sf_error err;

    (void)state;
    load(&a, "valid-subtree.json");
    assert_int_equal(sf_manifest_copy(&c, &a, &err), SF_OK);
    assert_ptr_not_equal(c.fleet.members, a.fleet.members);
    assert_ptr_not_equal(c.fleet.members[1].verification_checks[0].roles[0],
                         a.fleet.members[1].verification_checks[0].roles[0]);
    sf_buf_init(&w1);
    sf_buf_init(&w2);
    assert_int_equal(sf_manifest_write_json(&a, &w1, &err), SF_OK);
    sf_manifest_free(&a);
    assert_int_equal(sf_manifest_write_json(&c, &w2, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&w1), sf_buf_cstr(&w2));
    sf_manifest_free(&c);
    /* a hand-built value with empty lists copies too */
    small_manifest(&s);
    assert_int_equal(sf_manifest_copy(&c, &s, &err), SF_OK);
    sf_buf_reset(&w2);
    assert_int_equal(sf_manifest_write_json(&c, &w2, &err), SF_OK);
    assert_string_equal(sf_buf_cstr(&w2), small_expected);
    sf_manifest_free(&c);
    sf_manifest_free(NULL);
    sf_buf_free(&w1);
    sf_buf_free(&w2);
}

/* ---- files ---- */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/sf-manifest-XXXXXX");
    return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int remove_tmpdir(void **state)
{
    char cmd[512];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_read_file_errors(void **state)
{
    sf_manifest m;
    sf_error err;
    char path[512];

    (void)state;
    snprintf(path, sizeof path, "%s/missing.json", tmpdir);
    assert_int_equal(sf_manifest_read_file(path, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
    assert_null(m.backup_id);
    assert_int_equal(sf_manifest_read_file(data_path("broken-json-syntax.json"),
                                           &m, &err),
                     SF_ERR);
    assert_string_equal(err.kind, "json-syntax");
    assert_int_equal(
        sf_manifest_read_file(data_path("broken-duplicate-canister-id.json"),
                              &m, &err),
        SF_ERR);
    assert_string_equal(err.kind, "duplicate-canister-id");
    /* nothing left allocated on a validation failure */
    assert_null(m.backup_id);
    assert_null(m.fleet.members);
    /* a directory is not a manifest */
    assert_int_equal(sf_manifest_read_file(tmpdir, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "io");
}

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void test_write_file(void **state)
{
    sf_manifest m, back;
    sf_error err;
    char path[512], tmp[520];
    char *text = NULL;
    size_t len;

    (void)state;
    snprintf(path, sizeof path, "%s/out/" SF_MANIFEST_FILE_NAME, tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);

    /* invalid: no file, no temp, not even the directory's content */
    small_manifest(&m);
    m.manifest_version = 2;
    assert_int_equal(sf_manifest_write_file(path, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "unsupported-manifest-version");
    assert_false(exists(path));
    assert_false(exists(tmp));

    m.manifest_version = 1;
    assert_int_equal(sf_manifest_write_file(path, &m, &err), SF_OK);
    assert_true(exists(path));
    assert_false(exists(tmp));
    assert_int_equal(sf_fs_read_file(path, SIZE_MAX, &text, &len, &err),
                     SF_OK);
    assert_string_equal(text, small_expected);
    free(text);
    assert_int_equal(sf_manifest_read_file(path, &back, &err), SF_OK);
    assert_string_equal(back.source.environment, m.source.environment);
    sf_manifest_free(&back);

    /* an invalid value never replaces a good file */
    m.backup_id = " ";
    assert_int_equal(sf_manifest_write_file(path, &m, &err), SF_ERR);
    assert_string_equal(err.kind, "empty-field");
    assert_false(exists(tmp));
    assert_int_equal(sf_fs_read_file(path, SIZE_MAX, &text, &len, &err),
                     SF_OK);
    assert_string_equal(text, small_expected);
    free(text);
}

/* ---- the sample files: every broken-<kind>.json fails with <kind> ---- */

typedef struct expectation {
    char file[128];
    char kind[96];
    char field[160];
    char message[512];
    bool seen;
} expectation;

static size_t read_expectations(expectation *v, size_t max)
{
    char *text = slurp("broken.tsv", NULL);
    char *line, *save = NULL;
    size_t n = 0;

    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char *f[4], *p = line;
        int i;

        if (line[0] == '#')
            continue;
        for (i = 0; i < 4; i++) {
            f[i] = p;
            p = strchr(p, '\t');
            if (i < 3) {
                assert_non_null(p);
                *p++ = '\0';
            }
        }
        assert_true(n < max);
        memset(&v[n], 0, sizeof v[n]);
        snprintf(v[n].file, sizeof v[n].file, "%s", f[0]);
        snprintf(v[n].kind, sizeof v[n].kind, "%s", f[1]);
        snprintf(v[n].field, sizeof v[n].field, "%s", f[2]);
        snprintf(v[n].message, sizeof v[n].message, "%s", f[3]);
        n++;
    }
    free(text);
    return n;
}

static void test_broken_samples(void **state)
{
    static const char *const all_kinds[] = {
        "unsupported-manifest-version", "empty-field", "empty-collection",
        "invalid-principal", "invalid-hash", "unsupported-hash-algorithm",
        "unsupported-verification-kind", "topology-hash-mismatch",
        "accepted-topology-hash-mismatch", "duplicate-canister-id",
        "duplicate-backup-unit-id", "duplicate-backup-unit-role",
        "missing-member-verification-checks", "unknown-backup-unit-role",
        "backup-unit-coverage-missing-role", "unknown-verification-role",
        "duplicate-member-verification-role",
        "duplicate-verification-check-role",
        "subtree-backup-unit-not-connected",
        "subtree-backup-unit-missing-descendant",
    };
    expectation want[64];
    size_t n = read_expectations(want, 64), i, files = 0;
    char dir[4096];
    struct dirent *de;
    DIR *d;

    (void)state;
    snprintf(dir, sizeof dir, "%s", data_path(""));
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        size_t len = strlen(name);
        char kind[128];
        expectation *e = NULL;
        sf_manifest m;
        sf_error err;

        if (strncmp(name, "broken-", 7) != 0 || len < 12 ||
            strcmp(name + len - 5, ".json") != 0)
            continue;
        snprintf(kind, sizeof kind, "%.*s", (int)(len - 12), name + 7);
        for (i = 0; i < n; i++)
            if (strcmp(want[i].file, name) == 0)
                e = &want[i];
        if (e == NULL)
            fail_msg("%s is not listed in broken.tsv", name);
        e->seen = true;
        assert_string_equal(e->kind, kind);
        sf_error_clear(&err);
        assert_int_equal(sf_manifest_read_file(data_path(name), &m, &err),
                         SF_ERR);
        if (err.kind == NULL || strcmp(err.kind, kind) != 0)
            fail_msg("%s: want %s, got %s at %s: %s", name, kind,
                     err.kind ? err.kind : "(none)", err.field, err.message);
        if (strcmp(e->field, "-") != 0)
            assert_string_equal(err.field, e->field);
        if (strcmp(e->message, "-") != 0)
            assert_string_equal(err.message, e->message);
        files++;
    }
    closedir(d);
    for (i = 0; i < n; i++)
        if (!want[i].seen)
            fail_msg("%s is listed but missing", want[i].file);
    /* every validation kind has its sample */
    for (i = 0; i < sizeof all_kinds / sizeof all_kinds[0]; i++) {
        size_t j;
        bool found = false;

        for (j = 0; j < n; j++)
            found = found || strcmp(want[j].kind, all_kinds[i]) == 0;
        if (!found)
            fail_msg("no broken sample for %s", all_kinds[i]);
    }
    assert_int_equal(files, n);
}

static void test_names(void **state)
{
    (void)state;
    assert_string_equal(sf_manifest_unit_kind_name(SF_MANIFEST_UNIT_SINGLE),
                        "single");
    assert_string_equal(sf_manifest_unit_kind_name(SF_MANIFEST_UNIT_SUBTREE),
                        "subtree");
    assert_string_equal(
        sf_manifest_identity_mode_name(SF_MANIFEST_IDENTITY_FIXED), "fixed");
    assert_string_equal(
        sf_manifest_identity_mode_name(SF_MANIFEST_IDENTITY_RELOCATABLE),
        "relocatable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_are_valid),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_backup_id_blank),
        cmocka_unit_test(test_backup_id_null),
        cmocka_unit_test(test_created_at_empty),
        cmocka_unit_test(test_tool_name),
        cmocka_unit_test(test_tool_version),
        cmocka_unit_test(test_source_environment),
        cmocka_unit_test(test_root_canister_empty),
        cmocka_unit_test(test_root_canister_invalid),
        cmocka_unit_test(test_zero_width_space_is_not_blank),
        cmocka_unit_test(test_units_empty),
        cmocka_unit_test(test_unit_id_blank),
        cmocka_unit_test(test_unit_roles_empty),
        cmocka_unit_test(test_unit_role_blank),
        cmocka_unit_test(test_unit_role_duplicate),
        cmocka_unit_test(test_unit_blank_role_beats_earlier_duplicate),
        cmocka_unit_test(test_unit_messages),
        cmocka_unit_test(test_unit_id_duplicate),
        cmocka_unit_test(test_unit_validated_before_duplicate_id),
        cmocka_unit_test(test_duplicate_unit_id_before_later_broken_unit),
        cmocka_unit_test(test_hash_algorithm_blank),
        cmocka_unit_test(test_hash_algorithm_input_blank),
        cmocka_unit_test(test_discovery_hash_empty),
        cmocka_unit_test(test_discovery_hash_invalid),
        cmocka_unit_test(test_pre_snapshot_hash_invalid),
        cmocka_unit_test(test_topology_hash_invalid),
        cmocka_unit_test(test_members_empty),
        cmocka_unit_test(test_hash_algorithm_unsupported),
        cmocka_unit_test(test_hash_messages),
        cmocka_unit_test(test_topology_mismatches),
        cmocka_unit_test(test_hash_case_is_significant),
        cmocka_unit_test(test_member_role_blank),
        cmocka_unit_test(test_member_canister_empty),
        cmocka_unit_test(test_member_canister_invalid),
        cmocka_unit_test(test_member_parent_invalid),
        cmocka_unit_test(test_member_parent_present_empty),
        cmocka_unit_test(test_member_subnet_invalid),
        cmocka_unit_test(test_member_controller_invalid),
        cmocka_unit_test(test_member_uppercase_principal_ok_then_next_rule),
        cmocka_unit_test(test_member_checks_empty),
        cmocka_unit_test(test_member_check_kind_blank),
        cmocka_unit_test(test_member_check_kind_unsupported),
        cmocka_unit_test(test_member_check_role_blank),
        cmocka_unit_test(test_member_check_role_duplicate),
        cmocka_unit_test(test_snapshot_id_blank),
        cmocka_unit_test(test_module_hash_present_blank),
        cmocka_unit_test(test_code_version_present_blank),
        cmocka_unit_test(test_artifact_path_blank),
        cmocka_unit_test(test_checksum_algorithm_blank),
        cmocka_unit_test(test_checksum_algorithm_unsupported),
        cmocka_unit_test(test_checksum_present_empty),
        cmocka_unit_test(test_checksum_invalid),
        cmocka_unit_test(test_duplicate_canister),
        cmocka_unit_test(test_optional_nulls_are_valid),
        cmocka_unit_test(test_member_messages),
        cmocka_unit_test(test_member_principal_before_checks),
        cmocka_unit_test(test_member_checks_before_snapshot),
        cmocka_unit_test(test_member_validated_before_duplicate),
        cmocka_unit_test(test_first_member_fault_wins),
        cmocka_unit_test(test_hash_checks_before_members),
        cmocka_unit_test(test_fleet_check_kind_blank),
        cmocka_unit_test(test_fleet_check_role_duplicate),
        cmocka_unit_test(test_group_role_blank),
        cmocka_unit_test(test_group_checks_empty),
        cmocka_unit_test(test_group_check_kind),
        cmocka_unit_test(test_fleet_checks_before_groups),
        cmocka_unit_test(test_group_messages),
        cmocka_unit_test(test_unit_role_unknown),
        cmocka_unit_test(test_unit_role_unknown_message),
        cmocka_unit_test(test_coverage_sorted_order),
        cmocka_unit_test(test_unknown_role_before_coverage),
        cmocka_unit_test(test_role_in_two_units),
        cmocka_unit_test(test_subtree_two_roots),
        cmocka_unit_test(test_subtree_no_root),
        cmocka_unit_test(test_single_unit_not_checked_for_shape),
        cmocka_unit_test(test_subtree_missing_descendant),
        cmocka_unit_test(test_subtree_missing_grandchild),
        cmocka_unit_test(test_subtree_walk_stops_on_cycle),
        cmocka_unit_test(test_subtree_checked_before_later_unit_roles),
        cmocka_unit_test(test_subtree_second_parentless_root),
        cmocka_unit_test(test_fleet_check_role_unknown),
        cmocka_unit_test(test_member_check_role_unknown),
        cmocka_unit_test(test_group_role_unknown),
        cmocka_unit_test(test_group_check_role_unknown),
        cmocka_unit_test(test_group_role_duplicate),
        cmocka_unit_test(test_fleet_check_roles_before_member_checks),
        cmocka_unit_test(test_member_check_roles_before_groups),
        cmocka_unit_test(test_group_unknown_before_duplicate),
        cmocka_unit_test(test_group_duplicate_before_its_check_roles),
        cmocka_unit_test(test_verification_role_messages),
        cmocka_unit_test(test_order_version_before_fields),
        cmocka_unit_test(test_order_backup_id_before_created_at),
        cmocka_unit_test(test_order_tool_before_source),
        cmocka_unit_test(test_order_source_before_consistency),
        cmocka_unit_test(test_order_consistency_before_fleet),
        cmocka_unit_test(test_order_fleet_before_verification),
        cmocka_unit_test(test_order_verification_before_cross_checks),
        cmocka_unit_test(test_order_cross_consistency_before_cross_verification),
        cmocka_unit_test(test_order_algorithm_before_input),
        cmocka_unit_test(test_order_hash_shapes_before_mismatch),
        cmocka_unit_test(test_large_fleet_duplicates),
        cmocka_unit_test(test_deep_chain_outside_subtree),
        cmocka_unit_test(test_chain_cycle_outside_subtree),
        cmocka_unit_test(test_large_role_lists),
        cmocka_unit_test(test_parse_wrong_types),
        cmocka_unit_test(test_parse_root_must_be_object),
        cmocka_unit_test(test_parse_missing_required),
        cmocka_unit_test(test_parse_version_range),
        cmocka_unit_test(test_parse_unknown_keys_ignored),
        cmocka_unit_test(test_parse_absent_optionals_are_null),
        cmocka_unit_test(test_parse_duplicate_key_refused),
        cmocka_unit_test(test_parse_does_not_validate),
        cmocka_unit_test(test_write_exact_bytes),
        cmocka_unit_test(test_write_refuses_invalid_and_keeps_buffer),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_write_canonicalizes),
        cmocka_unit_test(test_summary_json),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_read_file_errors),
        cmocka_unit_test(test_write_file),
        cmocka_unit_test(test_broken_samples),
        cmocka_unit_test(test_names),
    };

    return cmocka_run_group_tests(tests, make_tmpdir, remove_tmpdir);
}
