/*
 * The restore mapping document (source -> target canister): reading,
 * validation, the serde-pretty writer and files.
 */
#include "snapfleet/restore_plan.h"
#include "formats/restore_plan_internal.h"

#include "snapfleet/fs.h"
#include "snapfleet/json.h"
#include "snapfleet/principal.h"
#include "snapfleet/text.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the mapping document ---- */
static int read_mapping(sf_jr *r, const cJSON *root, sf_restore_mapping *m)
{
    const cJSON *arr, *item;
    size_t n, i = 0, mark;

    if (sf_jr_expect_object(r, root) != SF_OK ||
        sf_jr_array(r, root, "members", &arr, &n) != SF_OK)
        return SF_ERR;
    if (n > 0) {
        m->members = calloc(n, sizeof *m->members);
        if (m->members == NULL)
            return read_nomem(r);
        m->member_count = n;
    }
    mark = sf_jr_push_key(r, "members");
    cJSON_ArrayForEach(item, arr) {
        size_t at = sf_jr_push_index(r, i);
        sf_restore_mapping_entry *e = &m->members[i];

        if (sf_jr_expect_object(r, item) != SF_OK ||
            sf_jr_str(r, item, "source_canister", &e->source_canister) !=
                SF_OK ||
            sf_jr_str(r, item, "target_canister", &e->target_canister) !=
                SF_OK)
            return SF_ERR;
        sf_jr_pop(r, at);
        i++;
    }
    sf_jr_pop(r, mark);
    return SF_OK;
}

int sf_restore_mapping_parse(const char *text, size_t len,
                             sf_restore_mapping *out, sf_error *err)
{
    cJSON *root = NULL;
    sf_jr r;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_json_parse(text, len, &root, err) != SF_OK)
        return SF_ERR;
    sf_jr_init(&r, err);
    rc = read_mapping(&r, root, out);
    cJSON_Delete(root);
    if (rc != SF_OK)
        sf_restore_mapping_free(out);
    return rc;
}

static int mapping_principal(size_t i, const char *key, const char *value,
                             sf_error *err)
{
    char field[SF_ERROR_FIELD_MAX];

    if (value != NULL && sf_principal_is_valid(value))
        return SF_OK;
    snprintf(field, sizeof field, "mapping.members[%zu].%s", i, key);
    return sf_error_set(err, EK_INVALID_PRINCIPAL, field,
                        "field mapping.members[].%s must be a valid "
                        "principal: %s",
                        key, value != NULL ? value : "");
}

int sf_restore_mapping_validate(const sf_restore_mapping *m, sf_error *err)
{
    size_t n = m->member_count, ns = 0, nt = 0, i;
    str_key *src = NULL, *tgt = NULL;
    bool *src_rep = NULL, *tgt_rep = NULL;
    char field[SF_ERROR_FIELD_MAX];
    int rc = SF_OK;

    if (n == 0)
        return SF_OK;
    src = index_build(m->members, n, sizeof *m->members,
                      offsetof(sf_restore_mapping_entry, source_canister),
                      &ns);
    tgt = index_build(m->members, n, sizeof *m->members,
                      offsetof(sf_restore_mapping_entry, target_canister),
                      &nt);
    src_rep = calloc(n, sizeof *src_rep);
    tgt_rep = calloc(n, sizeof *tgt_rep);
    if (src == NULL || tgt == NULL || src_rep == NULL || tgt_rep == NULL) {
        rc = nomem(err);
        goto done;
    }
    index_mark_repeats(src, ns, src_rep);
    index_mark_repeats(tgt, nt, tgt_rep);
    /* canic checks entry by entry: both principals, then the two sets. */
    for (i = 0; i < n && rc == SF_OK; i++) {
        const sf_restore_mapping_entry *e = &m->members[i];

        if (mapping_principal(i, "source_canister", e->source_canister,
                              err) != SF_OK ||
            mapping_principal(i, "target_canister", e->target_canister,
                              err) != SF_OK) {
            rc = SF_ERR;
        } else if (src_rep[i]) {
            snprintf(field, sizeof field,
                     "mapping.members[%zu].source_canister", i);
            rc = sf_error_set(err, EK_DUP_MAPPING_SOURCE, field,
                              "mapping contains duplicate source canister "
                              "%s",
                              e->source_canister);
        } else if (tgt_rep[i]) {
            snprintf(field, sizeof field,
                     "mapping.members[%zu].target_canister", i);
            rc = sf_error_set(err, EK_DUP_MAPPING_TARGET, field,
                              "mapping contains duplicate target canister "
                              "%s",
                              e->target_canister);
        }
    }
done:
    free(src);
    free(tgt);
    free(src_rep);
    free(tgt_rep);
    return rc;
}
int sf_restore_mapping_write_json(const sf_restore_mapping *m, sf_buf *out,
                                  sf_error *err)
{
    size_t start = out->len, i;
    sf_jw w;

    if (sf_restore_mapping_validate(m, err) != SF_OK)
        return SF_ERR;
    sf_jw_init(&w, out);
    sf_jw_begin_object(&w);
    sf_jw_key(&w, "members");
    sf_jw_begin_array(&w);
    for (i = 0; i < m->member_count; i++) {
        sf_jw_begin_object(&w);
        sf_jw_kv_string(&w, "source_canister", m->members[i].source_canister);
        sf_jw_kv_string(&w, "target_canister", m->members[i].target_canister);
        sf_jw_end_object(&w);
    }
    sf_jw_end_array(&w);
    sf_jw_end_object(&w);
    if (sf_jw_finish(&w, err) != SF_OK) {
        buf_truncate(out, start);
        return SF_ERR;
    }
    return SF_OK;
}

int sf_restore_mapping_read_file(const char *path, sf_restore_mapping *out,
                                 sf_error *err)
{
    char *text;
    size_t len;
    int rc;

    memset(out, 0, sizeof *out);
    if (sf_fs_read_file(path, SF_JSON_MAX_BYTES, &text, &len, err) != SF_OK)
        return SF_ERR;
    rc = sf_restore_mapping_parse(text, len, out, err);
    free(text);
    if (rc == SF_OK && sf_restore_mapping_validate(out, err) != SF_OK) {
        sf_restore_mapping_free(out);
        rc = SF_ERR;
    }
    return rc;
}

int sf_restore_mapping_write_file(const char *path,
                                  const sf_restore_mapping *m, sf_error *err)
{
    sf_buf buf;
    int rc;

    sf_buf_init(&buf);
    rc = sf_restore_mapping_write_json(m, &buf, err);
    if (rc == SF_OK)
        rc = sf_fs_write_atomic(path, sf_buf_cstr(&buf), buf.len, err);
    sf_buf_free(&buf);
    return rc;
}
