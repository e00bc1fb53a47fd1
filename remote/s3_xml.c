/*
 * The parsers of S3's XML replies, on libxml2 (Debian's libxml2-dev: a
 * well-kept parser, so none of ours). Every document is parsed from memory
 * with XML_PARSE_NONET (no fetches), without XML_PARSE_NOENT (entities are
 * not substituted) or XML_PARSE_DTDLOAD, and without XML_PARSE_HUGE, so
 * libxml2's own depth and size limits hold; replies over SF_S3_XML_MAX are
 * refused before parsing. Elements are matched by local name, whatever
 * namespace S3 puts them in.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "s3_internal.h"

static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

static xmlDocPtr parse(const char *body, size_t len)
{
    static int initialised;

    if (body == NULL || len == 0 || len > SF_S3_XML_MAX)
        return NULL;
    if (!initialised) {
        xmlInitParser();
        xmlSetGenericErrorFunc(NULL, quiet);
        initialised = 1;
    }
    return xmlReadMemory(body, (int)len, "s3-reply.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
}

static bool named(const xmlNode *n, const char *name)
{
    return n != NULL && n->type == XML_ELEMENT_NODE &&
           strcmp((const char *)n->name, name) == 0;
}

static const xmlNode *child(const xmlNode *parent, const char *name)
{
    const xmlNode *c;

    for (c = parent ? parent->children : NULL; c != NULL; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

/* The text content of n appended to out; 0, or SF_ERR when out of memory. */
static int text_of(const xmlNode *n, sf_buf *out)
{
    xmlChar *t;
    int rc;

    if (n == NULL)
        return 0;
    t = xmlNodeGetContent(n);
    if (t == NULL)
        return 0;
    rc = sf_buf_puts(out, (const char *)t);
    xmlFree(t);
    return rc;
}

int sf_s3_xml_error(const char *body, size_t len, sf_buf *code, sf_buf *message)
{
    xmlDocPtr doc = parse(body, len);
    const xmlNode *root;
    int found = 0;

    if (doc == NULL)
        return 0;
    root = xmlDocGetRootElement(doc);
    if (named(root, "Error")) {
        found = 1;
        /* Out of memory leaves a code or message short; the caller's
         * message says less, nothing worse. */
        (void)text_of(child(root, "Code"), code);
        (void)text_of(child(root, "Message"), message);
    }
    xmlFreeDoc(doc);
    return found;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s[0] < '0' || s[0] > '9')
        return SF_ERR;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return SF_ERR;
    *out = (uint64_t)v;
    return 0;
}

int sf_s3_xml_list(const char *body, size_t len, sf_s3_list_cb cb, void *payload,
                   bool *truncated, sf_buf *next_token, sf_error *err)
{
    xmlDocPtr doc = parse(body, len);
    const xmlNode *root, *c;
    sf_buf key, size, etag, flag;
    int rc = SF_ERR;

    sf_buf_init(&key);
    sf_buf_init(&size);
    sf_buf_init(&etag);
    sf_buf_init(&flag);
    sf_buf_reset(next_token);
    *truncated = false;
    if (doc == NULL)
        return sf_error_set(err, "s3-reply", NULL,
                            "the list reply is not an XML document (%zu bytes)", len);
    root = xmlDocGetRootElement(doc);
    if (!named(root, "ListBucketResult")) {
        sf_error_set(err, "s3-reply", "ListBucketResult",
                     "the list reply's document element is not ListBucketResult");
        goto done;
    }
    for (c = root->children; c != NULL; c = c->next) {
        uint64_t n;

        if (!named(c, "Contents"))
            continue;
        sf_buf_reset(&key);
        sf_buf_reset(&size);
        sf_buf_reset(&etag);
        if (text_of(child(c, "Key"), &key) != 0 || text_of(child(c, "Size"), &size) != 0 ||
            text_of(child(c, "ETag"), &etag) != 0) {
            sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory reading the list reply");
            goto done;
        }
        if (key.len == 0) {
            sf_error_set(err, "s3-reply", "Contents.Key", "a listed object has no Key");
            goto done;
        }
        if (strlen(sf_buf_cstr(&key)) != key.len) {
            sf_error_set(err, "s3-reply", "Contents.Key", "a listed Key holds a NUL byte");
            goto done;
        }
        if (parse_u64(sf_buf_cstr(&size), &n) != 0) {
            sf_error_set(err, "s3-reply", "Contents.Size",
                         "the Size of a listed object is not a decimal integer");
            goto done;
        }
        if (cb(payload, sf_buf_cstr(&key), n, sf_buf_cstr(&etag)) != 0) {
            if (err != NULL && err->kind == NULL)
                sf_error_set(err, "s3-aborted", NULL, "the listing was stopped");
            goto done;
        }
    }
    if (text_of(child(root, "IsTruncated"), &flag) != 0 ||
        text_of(child(root, "NextContinuationToken"), next_token) != 0) {
        sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory reading the list reply");
        goto done;
    }
    *truncated = strcmp(sf_buf_cstr(&flag), "true") == 0;
    if (*truncated && next_token->len == 0) {
        sf_error_set(err, "s3-reply", "NextContinuationToken",
                     "a truncated list reply has no NextContinuationToken");
        goto done;
    }
    rc = 0;
done:
    sf_buf_free(&key);
    sf_buf_free(&size);
    sf_buf_free(&etag);
    sf_buf_free(&flag);
    xmlFreeDoc(doc);
    return rc;
}

int sf_s3_xml_child_text(const char *body, size_t len, const char *root_name,
                         const char *child_name, sf_buf *out, sf_error *err)
{
    xmlDocPtr doc = parse(body, len);
    const xmlNode *root;
    int rc = SF_ERR;

    sf_buf_reset(out);
    if (doc == NULL)
        return sf_error_set(err, "s3-reply", root_name,
                            "the reply is not an XML document (%zu bytes)", len);
    root = xmlDocGetRootElement(doc);
    if (!named(root, root_name)) {
        sf_error_set(err, "s3-reply", root_name, "the reply's document element is not %s",
                     root_name);
    } else if (text_of(child(root, child_name), out) != 0) {
        sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory reading the reply");
    } else if (out->len == 0 || strlen(sf_buf_cstr(out)) != out->len) {
        sf_error_set(err, "s3-reply", child_name, "the reply's %s is missing or empty",
                     child_name);
    } else {
        rc = 0;
    }
    xmlFreeDoc(doc);
    return rc;
}
