/* snapfleet keygen: a key pair for encrypted copies in object storage
 * (push --encrypt-to KEYFILE.pub, pull --identity KEYFILE). The secret
 * key is written to its file only, never printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "snapfleet/crypt.h"
#include "snapfleet/json.h"

static const char keygen_usage[] =
    "usage: snapfleet keygen KEYFILE [--json]\n\n"
    "Writes a new key pair for encrypted copies in object storage:\n"
    "  KEYFILE       the identity (mode 0600): decrypts (pull --identity,\n"
    "                backup verify --identity); keep it off the machines that push\n"
    "  KEYFILE.pub   the recipient: encrypts (push --encrypt-to), cannot decrypt;\n"
    "                it also holds the key that names encrypted objects, so give\n"
    "                it to the machines that push, not to the storage\n"
    "Neither file is overwritten when it exists. The secret key is never printed.\n\n"
    "  --json             {\"identity\", \"recipient\", \"key_id\"}\n";

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_LONGOPTS,
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    cli_args a;
    bool json = false;
    sf_identity *id = NULL;
    char kid[33], *pub;
    sf_error err;
    int c;

    cli_args_begin(&a, argc, argv);
    while ((c = cli_args_next(&a, opts)) != -1) {
        if (cli_common(c, keygen_usage))
            return EXIT_OK;
        switch (c) {
        case 'j': json = true; break;
        default: return cli_args_usage(&a, "keygen");
        }
    }
    if (a.count != 1)
        return cli_usage("keygen", "expected 1 operand: the identity file to write");
    sf_error_clear(&err);
    if (sf_keygen(a.operands[0], &err) != 0 || sf_identity_load(a.operands[0], &id, &err) != 0) {
        if (json) {
            sf_buf b;
            sf_buf_init(&b);
            cli_error_json(&b, &err);
            cli_print(&b);
            sf_buf_free(&b);
        }
        return cli_fail(NULL, &err);
    }
    sf_identity_id(id, kid);
    sf_identity_free(id);
    pub = malloc(strlen(a.operands[0]) + 8);
    if (pub == NULL) {
        fprintf(stderr, "snapfleet: out of memory\n");
        return EXIT_FAIL;
    }
    sprintf(pub, "%s.pub", a.operands[0]);
    if (json) {
        sf_buf b;
        sf_jw w;
        sf_buf_init(&b);
        sf_jw_init(&w, &b);
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "identity", a.operands[0]);
        sf_jw_kv_string(&w, "recipient", pub);
        sf_jw_kv_string(&w, "key_id", kid);
        sf_jw_end_object(&w);
        if (sf_jw_finish(&w, &err) == 0)
            cli_print(&b);
        sf_buf_free(&b);
    } else {
        printf("wrote %s (identity, secret, mode 0600) and %s (recipient), key id %s\n",
               a.operands[0], pub, kid);
    }
    free(pub);
    return EXIT_OK;
}
