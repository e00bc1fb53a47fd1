/*
 * The production driver: each operation is one `icp` 1.5.0 child
 * (icp.h). This file holds the configuration, the argv of every operation
 * and the driver interface; children are in icp_proc.c, their output and
 * failure classes in icp_parse.c.
 *
 * Working directory: children run in a private empty directory, so an
 * icp.yaml in the operator's working directory (or above it) never turns
 * the run into a project run with a different network; --project-root
 * names a project explicitly (passed as --project-root-override). Paths
 * in argv are made absolute first.
 *
 * ICP_HOME is left alone: the operator's identities live under icp's
 * default home, and a private one would leave only `anonymous`.
 */
#include "icp_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "snapfleet/principal.h"
#include "snapfleet/registry.h"
#include "snapfleet/text.h"

/* ---- configuration ---- */

bool sf_icp_network_is_url(const char *network)
{
    const char *p = network;

    /* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
    if (p == NULL || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
        return false;
    for (p++; *p != '\0' && *p != ':'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))
            return false;
    return *p == ':';
}

static bool is_hex(const char *s, size_t want)
{
    size_t n = 0;

    for (; s[n] != '\0'; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f') ||
              (s[n] >= 'A' && s[n] <= 'F')))
            return false;
    return n == want;
}

/* A value icp's parser reads as a value, not as a flag. */
static int check_name(const char *v, const char *opt, sf_error *err)
{
    if (v != NULL && (v[0] == '\0' || v[0] == '-'))
        return sf_error_set(err, SF_EK_USAGE, opt, "%s must be a non-empty "
                            "name that does not start with '-': `%s`", opt, v);
    return SF_OK;
}

static int check_exists(const char *path, bool dir, const char *opt,
                        sf_error *err)
{
    struct stat st;

    if (path == NULL)
        return SF_OK;
    if (path[0] == '\0' || stat(path, &st) != 0)
        return sf_error_set(err, SF_EK_USAGE, opt, "%s %s: %s", opt, path,
                            path[0] ? strerror(errno) : "empty path");
    if (dir != S_ISDIR(st.st_mode))
        return sf_error_set(err, SF_EK_USAGE, opt, "%s %s: not a %s", opt,
                            path, dir ? "directory" : "file");
    return SF_OK;
}

int sf_icp_config_check(const sf_icp_config *c, sf_error *err)
{
    if (c->network == NULL && c->environment == NULL)
        return sf_error_set(err, SF_EK_USAGE, "--network", "the icp driver "
                            "needs --network NAME|URL (e.g. --network ic) or "
                            "--environment NAME");
    if (c->network != NULL && c->environment != NULL)
        return sf_error_set(err, SF_EK_USAGE, "--environment", "--network and "
                            "--environment exclude each other");
    if (check_name(c->network, "--network", err) != SF_OK ||
        check_name(c->environment, "--environment", err) != SF_OK ||
        check_name(c->identity, "--identity", err) != SF_OK)
        return SF_ERR;
    if (c->network != NULL && sf_icp_network_is_url(c->network)) {
        if (c->root_key == NULL)
            return sf_error_set(err, SF_EK_USAGE, "--root-key", "--network %s "
                                "is a URL: it needs --root-key mainnet|fetch|"
                                "HEX", c->network);
        if (strcmp(c->root_key, "mainnet") != 0 &&
            strcmp(c->root_key, "fetch") != 0 && !is_hex(c->root_key, 266))
            return sf_error_set(err, SF_EK_USAGE, "--root-key", "--root-key "
                                "is mainnet, fetch, or the 133-byte key in hex "
                                "(266 digits)");
    } else if (c->root_key != NULL) {
        return sf_error_set(err, SF_EK_USAGE, "--root-key", "--root-key goes "
                            "only with a URL --network");
    }
    if (c->environment != NULL && c->project_root == NULL)
        return sf_error_set(err, SF_EK_USAGE, "--project-root", "--environment "
                            "needs --project-root DIR (the project that "
                            "defines it)");
    if (c->icp != NULL && c->icp[0] == '\0')
        return sf_error_set(err, SF_EK_USAGE, "--icp", "--icp is empty");
    if (check_exists(c->project_root, true, "--project-root", err) != SF_OK ||
        check_exists(c->registry_file, false, "--registry-file", err) != SF_OK)
        return SF_ERR;
    return SF_OK;
}

/* ---- argv ---- */

typedef struct argv_list {
    char **v;
    size_t n, cap;
    bool oom;
} argv_list;

static void push(argv_list *a, const char *s)
{
    char *copy;

    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = realloc(a->v, cap * sizeof *v);
        if (v == NULL) {
            a->oom = true;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    if ((copy = strdup(s)) == NULL) {
        a->oom = true;
        return;
    }
    a->v[a->n++] = copy;
    a->v[a->n] = NULL;
}

void sf_icp_argv_free(char **argv)
{
    size_t k;

    if (argv == NULL)
        return;
    for (k = 0; argv[k] != NULL; k++)
        free(argv[k]);
    free(argv);
}

/* `path` as the child must see it: absolute. malloc'd. */
static char *absolute(const icp_driver *d, const char *path)
{
    char *out;

    if (path[0] == '/')
        return strdup(path);
    out = malloc(strlen(d->cwd) + strlen(path) + 2);
    if (out != NULL)
        sprintf(out, "%s/%s", d->cwd, path);
    return out;
}

static bool placeholder(const char *s)
{
    size_t n = strlen(s);
    return n >= 2 && s[0] == '<' && s[n - 1] == '>';
}

static bool snapshot_hex(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n % 2 == 0 && is_hex(s, n);
}

/* The argv of op. `render` lets a dry run's placeholder ("<snapshot-id>")
 * stand for a snapshot id that does not exist yet; a child never gets
 * one. */
static int build(const icp_driver *d, const sf_op *op, bool render,
                 argv_list *a, sf_error *err)
{
    const sf_icp_config *c = &d->cfg;
    char id[SF_PRINCIPAL_TEXT_MAX], *path = NULL;
    const char *snap = op->snapshot_id;
    bool need_snap = op->kind == SF_OP_DOWNLOAD || op->kind == SF_OP_LOAD ||
                     op->kind == SF_OP_DELETE;
    bool need_path = op->kind == SF_OP_DOWNLOAD || op->kind == SF_OP_UPLOAD;

    memset(a, 0, sizeof *a);
    if ((unsigned)op->kind >= SF_OP_KIND_COUNT)
        return sf_error_set(err, SF_EK_USAGE, "kind", "unknown operation %d",
                            (int)op->kind);
    if (sf_principal_canonical(op->canister_id, id, NULL) != SF_OK)
        return sf_error_set(err, "invalid-principal", "canister_id", "%s: "
                            "canister id `%s` is not a valid principal",
                            sf_op_kind_name(op->kind), op->canister_id);
    if ((need_snap || (op->kind == SF_OP_CREATE && snap[0] != '\0')) &&
        !snapshot_hex(snap) && !(render && placeholder(snap)))
        return sf_error_set(err, "invalid-snapshot-id", "snapshot_id", "%s: "
                            "snapshot id `%s` is not non-empty even-length "
                            "hex", sf_op_kind_name(op->kind), snap);
    if (need_path) {
        if (op->path[0] == '\0')
            return sf_error_set(err, SF_EK_USAGE, "path", "%s needs a "
                                "directory", sf_op_kind_name(op->kind));
        if ((path = absolute(d, op->path)) == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    push(a, c->icp);
    push(a, "canister");
    switch (op->kind) {
    case SF_OP_REGISTRY:
        push(a, "call");
        push(a, id);
        push(a, "canic_subnet_registry");
        push(a, "()");
        push(a, "--query");
        push(a, "--json");
        break;
    case SF_OP_STATUS:
        push(a, "status");
        push(a, id);
        push(a, "--json");
        break;
    case SF_OP_STOP:
    case SF_OP_START:
        push(a, op->kind == SF_OP_STOP ? "stop" : "start");
        push(a, id);
        break;
    case SF_OP_CREATE:
    case SF_OP_LIST:
        push(a, "snapshot");
        push(a, op->kind == SF_OP_CREATE ? "create" : "list");
        push(a, id);
        if (op->kind == SF_OP_CREATE && snap[0] != '\0') {
            /* the snapshot this one replaces (at the canister's limit) */
            push(a, "--replace");
            push(a, snap);
        }
        push(a, "--json");
        break;
    case SF_OP_DOWNLOAD:
        push(a, "snapshot");
        push(a, "download");
        push(a, id);
        push(a, snap);
        push(a, "--output");
        push(a, path);
        if (op->resume)
            push(a, "--resume");
        break;
    case SF_OP_UPLOAD:
        push(a, "snapshot");
        push(a, "upload");
        push(a, id);
        push(a, "--input");
        push(a, path);
        if (op->resume)
            push(a, "--resume");
        push(a, "--json");
        break;
    case SF_OP_LOAD:
    case SF_OP_DELETE:
        push(a, "snapshot");
        push(a, op->kind == SF_OP_LOAD ? "restore" : "delete");
        push(a, id);
        push(a, snap);
        break;
    case SF_OP_KIND_COUNT:
        break;
    }
    /* icp 1.5.0 takes these only after the leaf subcommand */
    if (c->network != NULL) {
        push(a, "-n");
        push(a, c->network);
        if (c->root_key != NULL) {
            push(a, "-k");
            push(a, c->root_key);
        }
    } else {
        push(a, "-e");
        push(a, c->environment);
    }
    if (c->identity != NULL) {
        push(a, "--identity");
        push(a, c->identity);
    }
    if (c->project_root != NULL) {
        push(a, "--project-root-override");
        push(a, c->project_root);
    }
    free(path);
    if (a->oom) {
        sf_icp_argv_free(a->v);
        memset(a, 0, sizeof *a);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    return SF_OK;
}

static icp_driver *impl(sf_driver *d)
{
    return d->impl;
}

int sf_icp_argv(sf_driver *d, const sf_op *op, char ***argv, sf_error *err)
{
    argv_list a;

    *argv = NULL;
    if (build(impl(d), op, false, &a, err) != SF_OK)
        return SF_ERR;
    *argv = a.v;
    return SF_OK;
}

int sf_icp_shell_quote(sf_buf *out, const char *s)
{
    const char *p;
    bool plain = *s != '\0';

    for (p = s; *p != '\0' && plain; p++)
        plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                (*p >= '0' && *p <= '9') || strchr("-_./:=@%+,", *p) != NULL;
    if (plain)
        return sf_buf_puts(out, s);
    sf_buf_putc(out, '\'');
    for (p = s; *p != '\0'; p++) {
        if (*p == '\'')
            sf_buf_puts(out, "'\\''");
        else
            sf_buf_putc(out, *p);
    }
    return sf_buf_putc(out, '\'');
}

/* ---- the driver ---- */

static void job_free(icp_job *job)
{
    if (job == NULL)
        return;
    sf_icp_kill(job);
    sf_buf_free(&job->out);
    sf_buf_free(&job->err);
    sf_result_free(&job->ready);
    free(job);
}

static int add_job(icp_driver *d, icp_job *job, sf_error *err)
{
    if (d->job_count == d->job_cap) {
        size_t cap = d->job_cap ? d->job_cap * 2 : 8;
        icp_job **v = realloc(d->jobs, cap * sizeof *v);
        if (v == NULL)
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        d->jobs = v;
        d->job_cap = cap;
    }
    d->jobs[d->job_count++] = job;
    return SF_OK;
}

static int drv_submit(sf_driver *base, const sf_op *op, uint64_t *ticket,
                      sf_error *err)
{
    icp_driver *d = impl(base);
    icp_job *job = calloc(1, sizeof *job);
    argv_list a;
    int rc;

    if (job == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    job->pid = -1;
    job->out_fd = job->err_fd = job->pid_fd = -1;
    job->op = *op;
    sf_buf_init(&job->out);
    sf_buf_init(&job->err);
    sf_result_init(&job->ready, op->kind);
    if (build(d, op, false, &a, err) != SF_OK) {
        job_free(job);
        return SF_ERR;
    }
    if (op->kind == SF_OP_REGISTRY && d->cfg.registry_file != NULL) {
        sf_error e;
        /* offline: answered now, completed by the next wait() */
        if (sf_icp_registry_file(d->cfg.registry_file, &job->ready.registry,
                                 &e) != SF_OK) {
            job->ready.fail = SF_FAIL_PERMANENT;
            job->ready.err = e;
        }
        sf_icp_finished_now(d, job);
        rc = SF_OK;
    } else {
        job->reported_ms = sf_icp_now_ms();
        job->deadline_ms = job->reported_ms +
            (op->kind == SF_OP_DOWNLOAD || op->kind == SF_OP_UPLOAD
                 ? d->cfg.transfer_timeout_ms : d->cfg.timeout_ms);
        rc = sf_icp_spawn(d, job, a.v, err);
    }
    sf_icp_argv_free(a.v);
    if (rc == SF_OK)
        rc = add_job(d, job, err);
    if (rc != SF_OK) {
        job_free(job);
        return SF_ERR;
    }
    job->ticket = ++d->next_ticket;
    *ticket = job->ticket;
    return SF_OK;
}

/* Hands over the completion of job i. */
static int complete(icp_driver *d, size_t i, uint64_t *ticket,
                    sf_result *result, sf_error *err)
{
    icp_job *job;

    job = d->jobs[i];
    memmove(&d->jobs[i], &d->jobs[i + 1],
            (d->job_count - i - 1) * sizeof *d->jobs);
    d->job_count--;
    *ticket = job->ticket;
    if (job->pid < 0) {
        *result = job->ready;
        sf_result_init(&job->ready, job->op.kind);
    } else {
        sf_icp_outcome o;

        memset(&o, 0, sizeof o);
        o.timed_out = job->timed_out;
        if (!o.timed_out && WIFSIGNALED(job->status)) {
            o.signaled = true;
            o.signal = WTERMSIG(job->status);
        } else if (!o.timed_out) {
            o.exit_code = WIFEXITED(job->status) ? WEXITSTATUS(job->status) : 1;
        }
        o.out = sf_buf_cstr(&job->out);
        o.out_len = job->out.len;
        o.out_truncated = job->out_truncated;
        o.err = sf_buf_cstr(&job->err);
        o.err_len = job->err.len;
        o.err_truncated = job->err_truncated;
        sf_result_init(result, job->op.kind);
        if (job->out.oom || job->err.oom) {
            job_free(job);
            return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
        }
        sf_icp_complete(&job->op, &o, result);
    }
    job_free(job);
    return SF_OK;
}

static int drv_wait(sf_driver *base, uint64_t *ticket, sf_result *result,
                    sf_error *err)
{
    icp_driver *d = impl(base);
    size_t i;

    if (sf_icp_poll(d, UINT64_MAX, &i, err) != SF_OK)
        return SF_ERR;
    return complete(d, i, ticket, result, err);
}

static int drv_wait_for(sf_driver *base, uint64_t timeout_ms,
                        uint64_t *ticket, sf_result *result, bool *timed_out,
                        sf_error *err)
{
    icp_driver *d = impl(base);
    uint64_t now = sf_icp_now_ms();
    size_t i;

    *timed_out = false;
    if (sf_icp_poll(d, timeout_ms > UINT64_MAX - now ? UINT64_MAX
                                                      : now + timeout_ms,
                    &i, err) != SF_OK)
        return SF_ERR;
    if (i == SIZE_MAX) {
        *timed_out = true;
        return SF_OK;
    }
    return complete(d, i, ticket, result, err);
}

static int drv_render(sf_driver *base, const sf_op *op, sf_buf *out,
                      sf_error *err)
{
    argv_list a;
    size_t k;

    if (build(impl(base), op, true, &a, err) != SF_OK)
        return SF_ERR;
    for (k = 0; k < a.n; k++) {
        if (k > 0)
            sf_buf_putc(out, ' ');
        sf_icp_shell_quote(out, a.v[k]);
    }
    sf_icp_argv_free(a.v);
    return out->oom ? sf_error_set(err, SF_EK_NOMEM, "", "out of memory")
                    : SF_OK;
}

static size_t drv_in_flight(sf_driver *base)
{
    return impl(base)->job_count;
}

static void free_cfg(sf_icp_config *c)
{
    free((char *)c->icp);
    free((char *)c->network);
    free((char *)c->root_key);
    free((char *)c->environment);
    free((char *)c->identity);
    free((char *)c->project_root);
    free((char *)c->registry_file);
}

static void drv_destroy(sf_driver *base)
{
    icp_driver *d = impl(base);
    size_t i;

    for (i = 0; i < d->job_count; i++)
        job_free(d->jobs[i]); /* kills what still runs */
    free(d->jobs);
    if (d->exit_fd >= 0)
        close(d->exit_fd);
    if (d->workdir != NULL)
        rmdir(d->workdir);
    free(d->workdir);
    free(d->cwd);
    free_cfg(&d->cfg);
    free(d);
}

static const sf_driver_ops icp_ops = {
    "icp", drv_submit, drv_wait, drv_render, drv_in_flight, drv_destroy,
    drv_wait_for,
};

/* A copy that is absolute when it is a relative path (children run in
 * the private directory). */
static char *copy_path(const char *cwd, const char *p, int *oom)
{
    char *out;

    if (p == NULL)
        return NULL;
    if (p[0] == '/')
        out = strdup(p);
    else if ((out = malloc(strlen(cwd) + strlen(p) + 2)) != NULL)
        sprintf(out, "%s/%s", cwd, p);
    if (out == NULL)
        *oom = 1;
    return out;
}

/* icp looks for icp.yaml from its working directory upwards; the private
 * directory must not have one above it. */
static int check_no_project_above(const char *dir, sf_error *err)
{
    char path[PATH_MAX + 16];
    size_t n = strlen(dir);

    if (n >= PATH_MAX)
        return sf_error_set(err, SF_EK_IO, "", "path too long: %s", dir);
    memcpy(path, dir, n + 1);
    for (;;) {
        char *slash;
        size_t len = strlen(path);

        snprintf(path + len, sizeof path - len, "%sicp.yaml",
                 len > 0 && path[len - 1] == '/' ? "" : "/");
        if (access(path, F_OK) == 0)
            return sf_error_set(err, SF_EK_USAGE, "--project-root", "%s "
                                "exists, so icp would run inside that project; "
                                "set TMPDIR elsewhere or pass --project-root",
                                path);
        path[len] = '\0';
        if (len <= 1)
            return SF_OK;
        slash = strrchr(path, '/');
        if (slash == path)
            slash[1] = '\0';
        else
            *slash = '\0';
    }
}

int sf_icp_driver_new(const sf_icp_config *cfg, sf_driver **out,
                      sf_error *err)
{
    icp_driver *d;
    const char *tmp = getenv("TMPDIR");
    char cwd[PATH_MAX];
    int oom = 0;

    *out = NULL;
    if (sf_icp_config_check(cfg, err) != SF_OK)
        return SF_ERR;
    if (getcwd(cwd, sizeof cwd) == NULL)
        return sf_error_set_errno(err, errno, "", "cannot read the working "
                                  "directory");
    d = calloc(1, sizeof *d);
    if (d == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    d->base.ops = &icp_ops;
    d->base.impl = d;
    /* without it (out of descriptors), exits are ordered as they are
     * seen: a coarser order, not a failure */
    d->exit_fd = epoll_create1(EPOLL_CLOEXEC);
    d->cfg = *cfg;
    d->cfg.icp = cfg->icp == NULL ? strdup("icp")
                 : strchr(cfg->icp, '/') ? copy_path(cwd, cfg->icp, &oom)
                 : strdup(cfg->icp);
    d->cfg.network = sf_strdup_opt(cfg->network, &oom);
    d->cfg.root_key = sf_strdup_opt(cfg->root_key, &oom);
    d->cfg.environment = sf_strdup_opt(cfg->environment, &oom);
    d->cfg.identity = sf_strdup_opt(cfg->identity, &oom);
    d->cfg.project_root = copy_path(cwd, cfg->project_root, &oom);
    d->cfg.registry_file = copy_path(cwd, cfg->registry_file, &oom);
    if (d->cfg.timeout_ms == 0)
        d->cfg.timeout_ms = SF_ICP_DEFAULT_TIMEOUT_MS;
    if (d->cfg.transfer_timeout_ms == 0)
        d->cfg.transfer_timeout_ms = SF_ICP_DEFAULT_TRANSFER_TIMEOUT_MS;
    if (d->cfg.stdout_max == 0)
        d->cfg.stdout_max = SF_ICP_DEFAULT_STDOUT_MAX;
    if (d->cfg.stderr_max == 0)
        d->cfg.stderr_max = SF_ICP_DEFAULT_STDERR_MAX;
    d->cwd = strdup(cwd);
    if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    d->workdir = malloc(strlen(tmp) + sizeof "/snapfleet-icp-XXXXXX");
    if (oom || d->cfg.icp == NULL || d->cwd == NULL || d->workdir == NULL) {
        drv_destroy(&d->base);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    sprintf(d->workdir, "%s/snapfleet-icp-XXXXXX", tmp);
    if (mkdtemp(d->workdir) == NULL) {
        sf_error_set_errno(err, errno, "", "cannot create a working directory "
                           "for icp under %s", tmp);
        free(d->workdir);
        d->workdir = NULL;
        drv_destroy(&d->base);
        return SF_ERR;
    }
    if (d->cfg.project_root == NULL &&
        check_no_project_above(d->workdir, err) != SF_OK) {
        drv_destroy(&d->base);
        return SF_ERR;
    }
    *out = &d->base;
    return SF_OK;
}
