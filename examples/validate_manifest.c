/*
 * validate_manifest: checks a fleet-backup-manifest.json against canic
 * 0.35.10's rules with libsnapfleet, the way `snapfleet manifest validate`
 * does. Uses only the public API (snapfleet/manifest.h).
 *
 *   validate_manifest FILE     exit 0 valid, 1 invalid or unreadable, 2 usage
 *
 * Build against an installed snapfleet:
 *   cc validate_manifest.c $(pkg-config --cflags --libs snapfleet)
 */
#include <stdio.h>

#include <snapfleet/error.h>
#include <snapfleet/manifest.h>

int main(int argc, char **argv)
{
    sf_manifest m;
    sf_error err;
    int rc = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: validate_manifest FILE\n");
        return 2;
    }
    sf_error_clear(&err);
    /* Reading checks the JSON's shape (types, required fields, enums);
     * validating checks canic's rules, in canic's order. */
    if (sf_manifest_read_file(argv[1], &m, &err) != SF_OK) {
        fprintf(stderr, "%s: %s%s%s (%s)\n", argv[1], err.field,
                err.field[0] ? ": " : "", err.message, err.kind);
        return 1;
    }
    if (sf_manifest_validate(&m, &err) != SF_OK) {
        fprintf(stderr, "%s: %s%s%s (%s)\n", argv[1], err.field,
                err.field[0] ? ": " : "", err.message, err.kind);
    } else {
        printf("%s: valid (backup %s, %zu members)\n", argv[1], m.backup_id,
               m.fleet.member_count);
        rc = 0;
    }
    sf_manifest_free(&m);
    return rc;
}
