/*
 * Fuzz target for the objects index a pull reads from object storage
 * (remote/remote.c, sf_remote_index_parse): any bytes are either refused
 * with a JSON or "remote-index" error or read, and what is read holds:
 * every artifact, directory and file path is safe (relative, no "..",
 * no empty component), every hash 64 hex digits, a whole-file artifact
 * has exactly one file and no directory. Everything is freed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "remote/remote_internal.h"
#include "remote/tree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sf_remote_index x;
    sf_error err;
    size_t i, k;

    sf_error_clear(&err);
    if (sf_remote_index_parse((const char *)data, size, &x, &err) != 0) {
        if (err.kind == NULL)
            abort();
        return 0;
    }
    for (i = 0; i < x.n; i++) {
        const sf_ri_artifact *a = &x.a[i];
        if (!sf_tree_safe_rel(a->path) || strlen(a->checksum) != 64)
            abort();
        for (k = 0; k < a->ndirs; k++)
            if (!sf_tree_safe_rel(a->dirs[k]))
                abort();
        for (k = 0; k < a->nfiles; k++) {
            const sf_ri_file *f = &a->files[k];
            if (strlen(f->sha256) != 64)
                abort();
            if (f->path[0] == '\0' ? a->nfiles != 1 || a->ndirs != 0 : !sf_tree_safe_rel(f->path))
                abort();
        }
    }
    sf_remote_index_free(&x);
    return 0;
}
