/* The fleet topology hash; the row format is documented in topology.h. */
#include "snapfleet/topology.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapfleet/buf.h"
#include "snapfleet/principal.h"

static const sf_topology_labels default_labels = {"records", "pid",
                                                  "parent_pid"};

static int bad_principal(const sf_topology_labels *l, size_t i,
                         const char *member, const char *value, sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];

    snprintf(field, sizeof field, "%s[%zu].%s", l->list, i, member);
    return sf_error_set(err, "invalid-principal", field,
                        "field %s[].%s must be a valid principal: %s",
                        l->list, member, value != NULL ? value : "");
}

static int cmp_row(const void *a, const void *b)
{
    /* strcmp orders by unsigned bytes: Rust's str Ord. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_rows(char **rows, size_t n)
{
    if (rows == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
}

/* Renders every row; on success *out holds n malloc'd rows, sorted. */
static int render_rows(const sf_topology_record *records, size_t n,
                       const sf_topology_labels *l, char ***out, sf_error *err)
{
    char **rows = NULL;
    sf_buf b;
    size_t done = 0;

    if (n > 0) {
        rows = calloc(n, sizeof *rows);
        if (rows == NULL)
            return sf_error_set(err, SF_EK_NOMEM, NULL,
                                "out of memory hashing the topology");
    }
    sf_buf_init(&b);
    for (; done < n; done++) {
        const sf_topology_record *r = &records[done];
        char pid[SF_PRINCIPAL_TEXT_MAX];
        char parent[SF_PRINCIPAL_TEXT_MAX];

        if (r->pid == NULL || sf_principal_canonical(r->pid, pid, NULL) != SF_OK) {
            bad_principal(l, done, l->pid, r->pid, err);
            goto fail;
        }
        if (r->parent_pid != NULL &&
            sf_principal_canonical(r->parent_pid, parent, NULL) != SF_OK) {
            bad_principal(l, done, l->parent, r->parent_pid, err);
            goto fail;
        }
        sf_buf_reset(&b);
        sf_buf_printf(&b, "pid=%s|parent_pid=%s|role=%s|module_hash=%s", pid,
                      r->parent_pid != NULL ? parent : "null",
                      r->role != NULL ? r->role : "",
                      r->module_hash != NULL ? r->module_hash : "null");
        rows[done] = sf_buf_detach(&b);
        if (rows[done] == NULL) {
            sf_error_set(err, SF_EK_NOMEM, NULL,
                         "out of memory hashing the topology");
            goto fail;
        }
    }
    if (n > 0)
        qsort(rows, n, sizeof *rows, cmp_row);
    *out = rows;
    return SF_OK;
fail:
    sf_buf_free(&b);
    free_rows(rows, done);
    return SF_ERR;
}

char *sf_topology_canonical_text(const sf_topology_record *records, size_t n,
                                 const sf_topology_labels *labels,
                                 sf_error *err)
{
    char **rows = NULL;
    sf_buf b;
    char *text;

    if (render_rows(records, n, labels != NULL ? labels : &default_labels,
                    &rows, err) != SF_OK)
        return NULL;
    sf_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            sf_buf_putc(&b, '\n');
        sf_buf_puts(&b, rows[i]);
    }
    free_rows(rows, n);
    text = sf_buf_detach(&b); /* NULL when any append ran out of memory */
    if (text == NULL)
        sf_error_set(err, SF_EK_NOMEM, NULL,
                     "out of memory hashing the topology");
    return text;
}

int sf_topology_hash_labeled(const sf_topology_record *records, size_t n,
                             const sf_topology_labels *labels,
                             char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    char *text = sf_topology_canonical_text(records, n, labels, err);
    int rc;

    if (text == NULL)
        return SF_ERR;
    rc = sf_sha256_bytes(text, strlen(text), out_hex);
    free(text);
    if (rc != SF_OK)
        return sf_error_set(err, SF_EK_NOMEM, NULL,
                            "sha256 failed hashing the topology");
    return SF_OK;
}

int sf_topology_hash(const sf_topology_record *records, size_t n,
                     char out_hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    return sf_topology_hash_labeled(records, n, NULL, out_hex, err);
}
