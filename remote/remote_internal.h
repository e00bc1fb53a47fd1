/* libsnapfleet-remote's objects index (remote.c), parsed from bytes that
 * came off the network: fuzzed by fuzz/fuzz_remote_index.c. */
#ifndef SNAPFLEET_REMOTE_INTERNAL_H
#define SNAPFLEET_REMOTE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "snapfleet/checksum.h"
#include "snapfleet/error.h"

typedef struct sf_ri_file {
    char *path;      /* relative to the artifact; "" when the artifact is one file */
    uint64_t size;
    char sha256[SF_SHA256_HEX_SIZE];
} sf_ri_file;

typedef struct sf_ri_artifact {
    char *path;      /* relative to the backup directory */
    char checksum[SF_SHA256_HEX_SIZE];
    char **dirs;     /* directories inside it, parents first */
    size_t ndirs;
    sf_ri_file *files;
    size_t nfiles;
} sf_ri_artifact;

typedef struct sf_remote_index {
    char *name;
    char **docs;
    size_t ndocs;
    sf_ri_artifact *a;
    size_t n;
} sf_remote_index;

/* Reads an index: format "snapfleet-remote-objects" version 1; every
 * path safe (no "..", no absolute path), every document a known name,
 * every hash 64 lowercase hex digits, sizes within 2^53, counts bounded.
 * Errors: the strict reader's kinds, "remote-index" (field = JSON path). */
int sf_remote_index_parse(const char *text, size_t len, sf_remote_index *x, sf_error *err);
void sf_remote_index_free(sf_remote_index *x);

#endif
