/*
 * Fuzz target for the restore mapping and the planner: whatever parses
 * must validate without crashing; a valid mapping must survive write ->
 * parse -> write with identical bytes. Every parsed mapping (valid or not)
 * is then planned against a fixed four-member manifest: the planner must
 * either refuse it with one of canic's planning errors or produce a plan
 * that is valid, round-trips, maps every member to its mapping target and
 * orders parents before children. Everything is freed: a leak is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/restore_plan.h"

/* tests/data/restore/manifests/fleet.json */
static const char manifest_json[] =
    "{\"manifest_version\":1,\"backup_id\":\"backup-restore-demo\",\"create"
    "d_at\":\"unix:1768478400\",\"tool\":{\"name\":\"snapfleet\",\"version"
    "\":\"0.1.0\"},\"source\":{\"environment\":\"local\",\"root_canister\":"
    "\"aaaaa-aa\"},\"consistency\":{\"backup_units\":[{\"unit_id\":\"fleet"
    "\",\"kind\":\"subtree\",\"roles\":[\"app\",\"root\",\"worker\"]}]},\"f"
    "leet\":{\"topology_hash_algorithm\":\"sha256\",\"topology_hash_input\""
    ":\"sorted(pid,parent_pid,role,module_hash)\",\"discovery_topology_hash"
    "\":\"0227cbecd760376250d4745d9b265e96b7f86e7b67a72b918dc29fe699ce97d3"
    "\",\"pre_snapshot_topology_hash\":\"0227cbecd760376250d4745d9b265e96b7"
    "f86e7b67a72b918dc29fe699ce97d3\",\"topology_hash\":\"0227cbecd76037625"
    "0d4745d9b265e96b7f86e7b67a72b918dc29fe699ce97d3\",\"members\":[{\"role"
    "\":\"app\",\"canister_id\":\"renrk-eyaaa-aaaaa-aaada-cai\",\"parent_ca"
    "nister_id\":\"aaaaa-aa\",\"subnet_canister_id\":null,\"controller_hint"
    "\":null,\"identity_mode\":\"relocatable\",\"verification_checks\":[{\""
    "kind\":\"status\",\"roles\":[\"app\"]}],\"source_snapshot\":{\"snapsho"
    "t_id\":\"snap-app\",\"module_hash\":\"dc1d150a0ea5bf7a48a86c58853727dd"
    "152c8773bed521eb7e6938baf02fcdd8\",\"code_version\":\"1.4.2\",\"artifa"
    "ct_path\":\"artifacts/renrk-eyaaa-aaaaa-aaada-cai\",\"checksum_algorit"
    "hm\":\"sha256\",\"checksum\":\"111111111111111111111111111111111111111"
    "1111111111111111111111111\"}},{\"role\":\"root\",\"canister_id\":\"aaa"
    "aa-aa\",\"parent_canister_id\":null,\"subnet_canister_id\":null,\"cont"
    "roller_hint\":null,\"identity_mode\":\"fixed\",\"verification_checks\""
    ":[{\"kind\":\"status\",\"roles\":[\"root\"]}],\"source_snapshot\":{\"s"
    "napshot_id\":\"snap-root\",\"module_hash\":\"dc1d150a0ea5bf7a48a86c588"
    "53727dd152c8773bed521eb7e6938baf02fcdd8\",\"code_version\":\"1.4.2\","
    "\"artifact_path\":\"artifacts/aaaaa-aa\",\"checksum_algorithm\":\"sha2"
    "56\",\"checksum\":\"22222222222222222222222222222222222222222222222222"
    "22222222222222\"}},{\"role\":\"worker\",\"canister_id\":\"rno2w-sqaaa-"
    "aaaaa-aaacq-cai\",\"parent_canister_id\":\"renrk-eyaaa-aaaaa-aaada-cai"
    "\",\"subnet_canister_id\":null,\"controller_hint\":null,\"identity_mod"
    "e\":\"relocatable\",\"verification_checks\":[{\"kind\":\"status\",\"ro"
    "les\":[\"worker\"]}],\"source_snapshot\":{\"snapshot_id\":\"snap-worke"
    "r\",\"module_hash\":\"dc1d150a0ea5bf7a48a86c58853727dd152c8773bed521eb"
    "7e6938baf02fcdd8\",\"code_version\":null,\"artifact_path\":\"artifacts"
    "/rno2w-sqaaa-aaaaa-aaacq-cai\",\"checksum_algorithm\":\"sha256\",\"che"
    "cksum\":\"333333333333333333333333333333333333333333333333333333333333"
    "3333\"}},{\"role\":\"worker\",\"canister_id\":\"rdmx6-jaaaa-aaaaa-aaad"
    "q-cai\",\"parent_canister_id\":\"renrk-eyaaa-aaaaa-aaada-cai\",\"subne"
    "t_canister_id\":null,\"controller_hint\":null,\"identity_mode\":\"relo"
    "catable\",\"verification_checks\":[{\"kind\":\"status\",\"roles\":[\"w"
    "orker\"]}],\"source_snapshot\":{\"snapshot_id\":\"snap-worker-2\",\"mo"
    "dule_hash\":\"dc1d150a0ea5bf7a48a86c58853727dd152c8773bed521eb7e6938ba"
    "f02fcdd8\",\"code_version\":\"1.4.2\",\"artifact_path\":\"artifacts/rd"
    "mx6-jaaaa-aaaaa-aaadq-cai\",\"checksum_algorithm\":\"sha256\",\"checks"
    "um\":\"444444444444444444444444444444444444444444444444444444444444444"
    "4\"}}]},\"verification\":{\"fleet_checks\":[{\"kind\":\"status\",\"rol"
    "es\":[]}],\"member_checks\":[{\"role\":\"worker\",\"checks\":[{\"kind"
    "\":\"status\",\"roles\":[\"worker\"]}]}]}}";

static const char *const planning_errors[] = {
    "invalid-principal",      "duplicate-mapping-source",
    "duplicate-mapping-target", "unknown-mapping-source",
    "missing-mapping-source", "fixed-identity-remap"};

static void same_or_abort(const sf_buf *a, const sf_buf *b)
{
    if (a->len != b->len || memcmp(sf_buf_cstr(a), sf_buf_cstr(b), a->len))
        abort();
}

static const char *target_of(const sf_restore_mapping *m, const char *src)
{
    size_t i;

    for (i = 0; i < m->member_count; i++)
        if (strcmp(m->members[i].source_canister, src) == 0)
            return m->members[i].target_canister;
    return NULL;
}

static void check_plan(const sf_restore_plan *p, const sf_restore_mapping *m)
{
    sf_restore_plan again;
    sf_buf a, b;
    sf_error err;
    size_t i, k;

    if (sf_restore_plan_validate(p, &err) != SF_OK)
        abort();
    sf_buf_init(&a);
    sf_buf_init(&b);
    if (sf_restore_plan_write_json(p, &a, &err) != SF_OK ||
        sf_restore_plan_parse(a.data, a.len, &again, &err) != SF_OK ||
        sf_restore_plan_write_json(&again, &b, &err) != SF_OK)
        abort();
    same_or_abort(&a, &b);
    sf_restore_plan_free(&again);
    sf_buf_free(&a);
    sf_buf_free(&b);
    if (!p->identity_summary.mapping_supplied ||
        !p->identity_summary.all_sources_mapped ||
        p->identity_summary.mapped_members != p->members_len)
        abort();
    for (i = 0; i < p->members_len; i++) {
        const sf_restore_plan_member *mem = &p->members[i];
        const char *t = target_of(m, mem->source_canister);

        if (t == NULL || strcmp(t, mem->target_canister) != 0 ||
            mem->member_order != i)
            abort();
        /* A parent in the plan comes first. */
        if (mem->ordering_dependency != NULL) {
            for (k = 0; k < i; k++)
                if (strcmp(p->members[k].source_canister,
                           mem->ordering_dependency->source_canister) == 0)
                    break;
            if (k == i)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_restore_mapping m, again;
    sf_manifest manifest;
    sf_restore_plan p;
    sf_buf first, second;
    sf_error err;
    size_t i;
    int valid, known;

    if (sf_restore_mapping_parse((const char *)data, size, &m, &err) !=
        SF_OK)
        return 0;
    valid = sf_restore_mapping_validate(&m, &err) == SF_OK;
    sf_buf_init(&first);
    sf_buf_init(&second);
    if ((sf_restore_mapping_write_json(&m, &first, &err) == SF_OK) != valid)
        abort();
    if (valid) {
        if (sf_restore_mapping_parse(first.data, first.len, &again, &err) !=
                SF_OK ||
            sf_restore_mapping_write_json(&again, &second, &err) != SF_OK)
            abort();
        same_or_abort(&first, &second);
        sf_restore_mapping_free(&again);
    }
    if (sf_manifest_parse(manifest_json, sizeof manifest_json - 1, &manifest,
                          &err) != SF_OK)
        abort();
    if (sf_restore_plan_build(&manifest, &m, &p, &err) == SF_OK) {
        if (!valid)
            abort();
        check_plan(&p, &m);
        sf_restore_plan_free(&p);
    } else {
        for (i = 0, known = 0; i < sizeof planning_errors /
                                       sizeof planning_errors[0];
             i++)
            known |= strcmp(err.kind, planning_errors[i]) == 0;
        if (!known)
            abort();
    }
    sf_manifest_free(&manifest);
    sf_buf_free(&first);
    sf_buf_free(&second);
    sf_restore_mapping_free(&m);
    return 0;
}
