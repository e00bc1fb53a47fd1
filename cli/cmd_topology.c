/* topology hash and checksum. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/registry.h"
#include "snapfleet/topology.h"

static const char topology_usage[] =
    "usage: snapfleet topology hash --registry FILE --canister ID\n"
    "                               [--include-children] [--recursive] [--json]\n\n"
    "Resolves the targets the snapshot pipeline would capture from a registry\n"
    "JSON file (canic's shapes: a bare array or {\"Ok\": [...]}) and prints\n"
    "their topology hash: SHA-256 of the sorted\n"
    "`pid=..|parent_pid=..|role=..|module_hash=..` rows.\n\n"
    "  --registry FILE      the registry JSON\n"
    "  --canister ID        the selected canister\n"
    "  --include-children   the canister and its direct children\n"
    "  --recursive          the canister and its whole subtree\n"
    "  --json               {\"algorithm\", \"input\", \"hash\", \"targets\", \"rows\"}\n";

static int topology_json(const char *hash, const sf_target *t, size_t n,
                         const char *selected, sf_buf *out, sf_error *err)
{
    sf_topology_record *recs = calloc(n ? n : 1, sizeof *recs);
    char **roles = calloc(n ? n : 1, sizeof *roles);
    sf_topology_labels labels = {"fleet.members", "canister_id",
                                 "parent_canister_id"};
    char *text = NULL, *line, *save = NULL;
    size_t i;
    sf_jw w;
    int rc = SF_ERR;

    if (recs == NULL || roles == NULL) {
        sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        goto done;
    }
    for (i = 0; i < n; i++) {
        roles[i] = sf_target_role_name(t, i, selected);
        recs[i].pid = t[i].canister_id;
        recs[i].parent_pid = t[i].parent_canister_id;
        recs[i].role = roles[i];
        recs[i].module_hash = t[i].module_hash;
    }
    text = sf_topology_canonical_text(recs, n, &labels, err);
    if (text == NULL)
        goto done;
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_kv_string(&w, "algorithm", SF_TOPOLOGY_HASH_ALGORITHM);
    sf_jw_kv_string(&w, "input", SF_TOPOLOGY_HASH_INPUT);
    sf_jw_kv_string(&w, "hash", hash);
    sf_jw_key(&w, "targets");
    sf_jw_begin_array(&w);
    for (i = 0; i < n; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "canister_id", t[i].canister_id);
        sf_jw_kv_string(&w, "role", roles[i]);
        sf_jw_kv_string(&w, "parent_canister_id", t[i].parent_canister_id);
        sf_jw_kv_string(&w, "module_hash", t[i].module_hash);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_key(&w, "rows");
    sf_jw_begin_array(&w);
    for (line = strtok_r(text, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        sf_jw_string(&w, line);
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    rc = sf_jw_finish(&w, err);
done:
    if (roles != NULL)
        for (i = 0; i < n; i++)
            free(roles[i]);
    free(roles);
    free(recs);
    free(text);
    return rc;
}

int cmd_topology_hash(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {"registry", required_argument, NULL, 'r'},
        {"canister", required_argument, NULL, 'c'},
        {"include-children", no_argument, NULL, 'i'},
        {"recursive", no_argument, NULL, 'R'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    const char *registry_file = NULL, *canister = NULL;
    bool children = false, recursive = false, json = false;
    char *text = NULL, hash[SF_SHA256_HEX_SIZE];
    size_t len, n = 0;
    sf_registry reg;
    sf_target *t = NULL;
    sf_error err;
    sf_buf b;
    cli_args a;
    int c, rc;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, topology_usage))
            return EXIT_OK;
        switch (c) {
        case 'r': registry_file = optarg; break;
        case 'c': canister = optarg; break;
        case 'i': children = true; break;
        case 'R': recursive = true; break;
        case 'j': json = true; break;
        default:
            return cli_args_usage(&a, "topology hash");
        }
    }
    if (a.count != 0)
        return cli_usage("topology hash", "unexpected argument: %s", a.operands[0]);
    if (registry_file == NULL || canister == NULL)
        return cli_usage("topology hash", "--registry and --canister are required");
    sf_error_clear(&err);
    if (sf_fs_read_file(registry_file, SF_JSON_MAX_BYTES, &text, &len, &err) != SF_OK)
        return cli_fail(NULL, &err);
    rc = sf_registry_parse(text, len, &reg, &err);
    free(text);
    if (rc != SF_OK)
        return cli_fail(registry_file, &err);
    if (children || recursive) {
        rc = sf_targets_from_registry(&reg, canister, recursive, &t, &n, &err);
    } else {
        t = calloc(1, sizeof *t);
        rc = t != NULL && (t->canister_id = strdup(canister)) != NULL ? SF_OK
             : sf_error_set(&err, SF_EK_NOMEM, "", "out of memory");
        n = 1;
    }
    if (rc == SF_OK)
        rc = sf_targets_topology_hash(canister, t, n, hash, &err);
    sf_buf_init(&b);
    if (rc == SF_OK && json)
        rc = topology_json(hash, t, n, canister, &b, &err);
    if (rc == SF_OK) {
        if (json)
            cli_print(&b);
        else
            printf("%s\n", hash);
    }
    sf_buf_free(&b);
    sf_targets_free(t, n);
    sf_registry_free(&reg);
    return rc == SF_OK ? EXIT_OK : cli_fail(registry_file, &err);
}

static const char checksum_usage[] =
    "usage: snapfleet checksum PATH...\n\n"
    "Prints `<sha256>  <path>` for each path: the SHA-256 of a file, or the\n"
    "artifact checksum of a directory (canic's algorithm: every regular file\n"
    "below it, sorted by path component, hashed as `path NUL sha256 LF`).\n"
    "Symbolic links inside an artifact are refused, never followed.\n"
    "Exit status: 0 all checksummed, 1 any path failed, 2 usage error.\n";

int cmd_checksum(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    cli_args a;
    int c, i, status = EXIT_OK;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, checksum_usage))
            return EXIT_OK;
        return cli_args_usage(&a, "checksum");
    }
    if (a.count == 0)
        return cli_usage("checksum", "expected at least one PATH");
    for (i = 0; i < a.count; i++) {
        char hex[SF_SHA256_HEX_SIZE];
        sf_error err;

        sf_error_clear(&err);
        if (sf_checksum_path(a.operands[i], hex, &err) != SF_OK) {
            cli_fail(a.operands[i], &err);
            status = EXIT_FAIL;
            continue;
        }
        printf("%s  %s\n", hex, a.operands[i]);
    }
    return status;
}
