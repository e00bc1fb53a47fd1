/*
 * Where the S3 client goes and as whom: s3:// addresses, the endpoint and
 * region, and credentials from the environment or the shared credentials
 * file, as the AWS tools read them. Secrets are copied, never printed: an
 * error names the variable or file and profile, not a value.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snapfleet/fs.h"
#include "snapfleet/s3.h"

#define CREDENTIALS_MAX (1u << 20)

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);

    if (d != NULL) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static const char *env(const char *name)
{
    const char *v = getenv(name);

    return v != NULL && v[0] != '\0' ? v : NULL;
}

bool sf_s3_url_is(const char *text)
{
    return text != NULL && strncmp(text, "s3://", 5) == 0;
}

int sf_s3_url_parse(const char *text, sf_s3_url *out, sf_error *err)
{
    const char *b, *slash;
    size_t n, i, plen;

    memset(out, 0, sizeof *out);
    if (!sf_s3_url_is(text))
        return sf_error_set(err, "s3-url", NULL, "not an s3:// address: %s",
                            text ? text : "(null)");
    b = text + 5;
    slash = strchr(b, '/');
    n = slash ? (size_t)(slash - b) : strlen(b);
    if (n < 3 || n > 63)
        return sf_error_set(err, "s3-url", "bucket",
                            "%s: a bucket name has 3 to 63 characters", text);
    for (i = 0; i < n; i++) {
        char c = b[i];
        if (!(islower((unsigned char)c) || isdigit((unsigned char)c) || c == '-' || c == '.'))
            return sf_error_set(err, "s3-url", "bucket",
                                "%s: a bucket name holds only a-z, 0-9, '-' and '.'", text);
    }
    if (!isalnum((unsigned char)b[0]) || !isalnum((unsigned char)b[n - 1]))
        return sf_error_set(err, "s3-url", "bucket",
                            "%s: a bucket name starts and ends with a letter or digit", text);
    memcpy(out->bucket, b, n);
    out->bucket[n] = '\0';
    b = slash ? slash + 1 : b + n;
    while (*b == '/')
        b++;
    plen = strlen(b);
    while (plen > 0 && b[plen - 1] == '/')
        plen--;
    for (i = 0; i < plen; i++) {
        unsigned char c = (unsigned char)b[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return sf_error_set(err, "s3-url", "prefix",
                                "%s: the prefix holds a control character or '\\'", text);
        if (c == '/' && (b[i + 1] == '/' || (i + 1 < plen && b[i + 1] == '.' &&
                         (b[i + 2] == '/' || b[i + 2] == '\0' ||
                          (b[i + 2] == '.' && (b[i + 3] == '/' || b[i + 3] == '\0'))))))
            return sf_error_set(err, "s3-url", "prefix",
                                "%s: the prefix has an empty, '.' or '..' segment", text);
    }
    if (plen > 0 && b[0] == '.' && (plen == 1 || b[1] == '/' || (b[1] == '.' && (plen == 2 || b[2] == '/'))))
        return sf_error_set(err, "s3-url", "prefix",
                            "%s: the prefix has an empty, '.' or '..' segment", text);
    if (plen > 512)
        return sf_error_set(err, "s3-url", "prefix", "%s: the prefix is longer than 512 bytes",
                            text);
    out->prefix = dup_n(b, plen);
    if (out->prefix == NULL)
        return sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
    return 0;
}

void sf_s3_url_free(sf_s3_url *u)
{
    if (u != NULL) {
        free(u->prefix);
        u->prefix = NULL;
    }
}

/* The value of "key = value" on a line, trimmed; NULL when the line is not
 * that key. */
static const char *ini_value(const char *line, size_t n, const char *key, size_t *vlen)
{
    size_t k = strlen(key), i = 0;

    while (i < n && isspace((unsigned char)line[i]))
        i++;
    if (n - i < k || strncmp(line + i, key, k) != 0)
        return NULL;
    i += k;
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        i++;
    if (i >= n || line[i] != '=')
        return NULL;
    i++;
    while (i < n && isspace((unsigned char)line[i]))
        i++;
    while (n > i && isspace((unsigned char)line[n - 1]))
        n--;
    *vlen = n - i;
    return line + i;
}

int sf_s3_credentials_parse(const char *text, size_t len, const char *profile,
                            char **access_key, char **secret_key, char **session_token,
                            sf_error *err)
{
    const char *p = text, *end = text + len;
    bool in_profile = false, seen = false;
    char **outs[3] = {access_key, secret_key, session_token};
    static const char *const keys[3] = {"aws_access_key_id", "aws_secret_access_key",
                                        "aws_session_token"};
    int i;

    for (i = 0; i < 3; i++)
        *outs[i] = NULL;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        size_t s = 0;

        while (s < n && isspace((unsigned char)p[s]))
            s++;
        if (s < n && p[s] == '[') {
            const char *close = memchr(p + s, ']', n - s);
            if (close == NULL)
                goto bad_line;
            {
                const char *name = p + s + 1;
                size_t nlen = (size_t)(close - name);
                while (nlen > 0 && isspace((unsigned char)*name)) {
                    name++;
                    nlen--;
                }
                while (nlen > 0 && isspace((unsigned char)name[nlen - 1]))
                    nlen--;
                in_profile = nlen == strlen(profile) && strncmp(name, profile, nlen) == 0;
                seen = seen || in_profile;
            }
        } else if (in_profile && s < n && p[s] != '#' && p[s] != ';') {
            for (i = 0; i < 3; i++) {
                size_t vlen;
                const char *v = ini_value(p, n, keys[i], &vlen);
                if (v != NULL) {
                    free(*outs[i]);
                    *outs[i] = dup_n(v, vlen);
                    if (*outs[i] == NULL) {
                        sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
                        goto fail;
                    }
                    break;
                }
            }
        }
        p += n + (nl ? 1 : 0);
        continue;
bad_line:
        sf_error_set(err, "s3-config", NULL,
                     "the credentials file has a '[' line without ']'");
        goto fail;
    }
    if (!seen) {
        sf_error_set(err, "s3-config", profile,
                     "the credentials file has no profile [%s]", profile);
        goto fail;
    }
    return 0;
fail:
    for (i = 0; i < 3; i++) {
        free(*outs[i]);
        *outs[i] = NULL;
    }
    return SF_ERR;
}

static bool loopback_host(const char *host, size_t n)
{
    static const char *const names[] = {"127.0.0.1", "[::1]", "localhost"};
    size_t i;

    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (n == strlen(names[i]) && strncmp(host, names[i], n) == 0)
            return true;
    return n > 10 && strncmp(host + n - 10, ".localhost", 10) == 0;
}

static int check_endpoint(const char *url, sf_error *err)
{
    const char *host;
    size_t n;

    if (strncmp(url, "https://", 8) == 0)
        host = url + 8;
    else if (strncmp(url, "http://", 7) == 0)
        host = url + 7;
    else
        return sf_error_set(err, "s3-config", "endpoint",
                            "the endpoint %s is not an http:// or https:// URL", url);
    n = strcspn(host, "/?#");
    if (host[n] != '\0')
        return sf_error_set(err, "s3-config", "endpoint",
                            "the endpoint %s has a path; give scheme, host and port only", url);
    if (n == 0 || strchr(host, '@') != NULL)
        return sf_error_set(err, "s3-config", "endpoint",
                            "the endpoint %s has no host, or has user information", url);
    if (url[4] == ':') {
        size_t hn = host[0] == '[' ? strcspn(host, "]") + 1 : strcspn(host, ":");
        if (!loopback_host(host, hn > n ? n : hn))
            return sf_error_set(err, "s3-config", "endpoint",
                                "the endpoint %s is plain http to a host that is not "
                                "loopback; use https", url);
    }
    return 0;
}

int sf_s3_config_resolve(sf_s3_config *cfg, const char *endpoint, const char *region,
                         sf_s3_addressing addressing, sf_error *err)
{
    const char *v;
    size_t n;

    memset(cfg, 0, sizeof *cfg);
    cfg->addressing = addressing;
    cfg->retries_max = 5;
    cfg->backoff_ms = 200;
    cfg->backoff_ms_max = 10000;
    cfg->timeout_s = 300;

    v = region ? region : env("AWS_REGION") ? env("AWS_REGION") : env("AWS_DEFAULT_REGION");
    cfg->region = strdup(v ? v : "us-east-1");
    if (cfg->region == NULL)
        goto oom;
    for (n = 0; cfg->region[n] != '\0'; n++)
        if (!(isalnum((unsigned char)cfg->region[n]) || cfg->region[n] == '-'))
            break;
    if (cfg->region[n] != '\0' || n == 0 || n > 64) {
        sf_error_set(err, "s3-config", "region",
                     "the region must be letters, digits and '-' (1 to 64)");
        goto fail;
    }
    v = endpoint ? endpoint : env("AWS_ENDPOINT_URL");
    if (v != NULL) {
        n = strlen(v);
        while (n > 0 && v[n - 1] == '/')
            n--;
        cfg->endpoint = dup_n(v, n);
        if (cfg->endpoint == NULL)
            goto oom;
    } else {
        size_t len = strlen(cfg->region) + 32;
        cfg->endpoint = malloc(len);
        if (cfg->endpoint == NULL)
            goto oom;
        snprintf(cfg->endpoint, len, "https://s3.%s.amazonaws.com", cfg->region);
        if (cfg->addressing == SF_S3_ADDRESSING_AUTO)
            cfg->addressing = SF_S3_ADDRESSING_VIRTUAL;
    }
    if (cfg->addressing == SF_S3_ADDRESSING_AUTO)
        cfg->addressing = SF_S3_ADDRESSING_PATH;
    if (check_endpoint(cfg->endpoint, err) != 0)
        goto fail;
    if (env("AWS_CA_BUNDLE") != NULL) {
        /* A private CA: trusted instead of the system's; peers and host
         * names are verified all the same. */
        if ((cfg->ca_file = strdup(env("AWS_CA_BUNDLE"))) == NULL)
            goto oom;
        if (access(cfg->ca_file, R_OK) != 0) {
            sf_error_set_errno(err, errno, "AWS_CA_BUNDLE",
                               "AWS_CA_BUNDLE names %s, which cannot be read", cfg->ca_file);
            if (err != NULL)
                err->kind = "s3-config";
            goto fail;
        }
    }

    if (env("AWS_ACCESS_KEY_ID") != NULL || env("AWS_SECRET_ACCESS_KEY") != NULL) {
        if (env("AWS_ACCESS_KEY_ID") == NULL || env("AWS_SECRET_ACCESS_KEY") == NULL) {
            sf_error_set(err, "s3-config", NULL,
                         "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set together");
            goto fail;
        }
        cfg->access_key = strdup(env("AWS_ACCESS_KEY_ID"));
        cfg->secret_key = strdup(env("AWS_SECRET_ACCESS_KEY"));
        if (cfg->access_key == NULL || cfg->secret_key == NULL)
            goto oom;
        if (env("AWS_SESSION_TOKEN") != NULL &&
            (cfg->session_token = strdup(env("AWS_SESSION_TOKEN"))) == NULL)
            goto oom;
    } else {
        const char *profile = env("AWS_PROFILE") ? env("AWS_PROFILE") : "default";
        char *path = NULL, *text = NULL;
        size_t len = 0;
        int rc;

        if (env("AWS_SHARED_CREDENTIALS_FILE") != NULL) {
            path = strdup(env("AWS_SHARED_CREDENTIALS_FILE"));
        } else if (env("HOME") != NULL) {
            size_t plen = strlen(env("HOME")) + 32;
            path = malloc(plen);
            if (path != NULL)
                snprintf(path, plen, "%s/.aws/credentials", env("HOME"));
        } else {
            sf_error_set(err, "s3-config", NULL,
                         "no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                         "or AWS_SHARED_CREDENTIALS_FILE");
            goto fail;
        }
        if (path == NULL)
            goto oom;
        if (sf_fs_read_file(path, CREDENTIALS_MAX, &text, &len, err) != 0) {
            sf_error_set(err, "s3-config", path,
                         "no credentials: AWS_ACCESS_KEY_ID is not set and the shared "
                         "credentials file %s cannot be read", path);
            free(path);
            goto fail;
        }
        rc = sf_s3_credentials_parse(text, len, profile, &cfg->access_key, &cfg->secret_key,
                                     &cfg->session_token, err);
        free(text);
        if (rc == 0 && (cfg->access_key == NULL || cfg->secret_key == NULL))
            rc = sf_error_set(err, "s3-config", profile,
                              "profile [%s] of %s lacks aws_access_key_id or "
                              "aws_secret_access_key", profile, path);
        else if (rc != 0)
            sf_error_prefix(err, "%s: ", path);
        free(path);
        if (rc != 0)
            goto fail;
    }
    if (strpbrk(cfg->access_key, ":\r\n") != NULL ||
        strpbrk(cfg->secret_key, "\r\n") != NULL ||
        (cfg->session_token && strpbrk(cfg->session_token, "\r\n") != NULL)) {
        sf_error_set(err, "s3-config", NULL,
                     "the access key id holds ':' or a line break, or a secret a line break");
        goto fail;
    }
    return 0;
oom:
    sf_error_set(err, SF_EK_NOMEM, NULL, "out of memory");
fail:
    sf_s3_config_free(cfg);
    return SF_ERR;
}

void sf_s3_config_free(sf_s3_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->endpoint);
    free(cfg->region);
    free(cfg->access_key);
    if (cfg->secret_key != NULL)
        memset(cfg->secret_key, 0, strlen(cfg->secret_key));
    free(cfg->secret_key);
    free(cfg->session_token);
    free(cfg->ca_file);
    memset(cfg, 0, sizeof *cfg);
}
