/*
 * Child processes for the icp driver: posix_spawn with an argv (never a
 * shell), stdin from /dev/null, stdout and stderr into pipes, a private
 * working directory, a sanitized environment, and a process group of its
 * own so a timeout kills whatever the child started too.
 *
 * One poll(2) loop serves every child in flight: its pipes, and a pidfd
 * that becomes readable when it exits (Linux 5.3; without one the loop
 * looks again every few milliseconds). A child is finished when waitpid
 * says it exited (whatever is still in its pipes is drained then, without
 * waiting for EOF: a grandchild may hold the pipe open) or when its
 * deadline passes (SIGKILL to the group, then reap). Only our own pids are
 * ever waited for.
 *
 * Completions go out in the order the children finished, also when
 * several finished while nobody waited: each pidfd is also registered,
 * one-shot, with an epoll instance, whose ready list keeps the order in
 * which they became readable; each wait reads it first and numbers the
 * exits in that order (finish_seq). A child whose exit epoll has not
 * reported (no pidfd, a timeout kill, an exit in the instant between
 * the two looks) is numbered when it is seen finished.
 */
/* posix_spawn_file_actions_addchdir_np (glibc >= 2.29) */
#define _GNU_SOURCE 1

#include "icp_internal.h"

#include "snapfleet/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define READ_CHUNK 65536
/* Upper bound on one poll when some child has no pidfd: how late its exit
 * may be noticed. */
#define POLL_SLICE_MS 5

uint64_t sf_icp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- environment ---- */

/* Variables that change what icp does behind the argv's back: backtraces
 * appended to errors, a network or environment that conflicts with the
 * flags (icp treats them as -n / -e), a project root that would pull in a
 * project; and the two we set ourselves. */
static const char *const dropped[] = {
    "RUST_BACKTRACE", "RUST_LIB_BACKTRACE", "ICP_NETWORK", "ICP_ENVIRONMENT",
    "ICP_PROJECT_ROOT", "DO_NOT_TRACK", "NO_COLOR",
};

static bool drop(const char *entry)
{
    size_t k, n;

    for (k = 0; k < sizeof dropped / sizeof dropped[0]; k++) {
        n = strlen(dropped[k]);
        if (strncmp(entry, dropped[k], n) == 0 && entry[n] == '=')
            return true;
    }
    return false;
}

/* The child's environment: ours minus `dropped`, plus telemetry off and no
 * colour. Pointers into environ; only the array is malloc'd. */
static char **child_env(void)
{
    static char no_track[] = "DO_NOT_TRACK=1", no_color[] = "NO_COLOR=1";
    size_t n = 0, k, j = 0;
    char **env;

    while (environ != NULL && environ[n] != NULL)
        n++;
    env = malloc((n + 3) * sizeof *env);
    if (env == NULL)
        return NULL;
    for (k = 0; k < n; k++)
        if (!drop(environ[k]))
            env[j++] = environ[k];
    env[j++] = no_track;
    env[j++] = no_color;
    env[j] = NULL;
    return env;
}

/* ---- spawn ---- */

int sf_icp_spawn(icp_driver *d, icp_job *job, char **argv, sf_error *err)
{
    int out[2] = {-1, -1}, errp[2] = {-1, -1}, rc;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, deflt;
    char **env;
    pid_t pid;
    bool fa_ok = false, attr_ok = false;

    job->pid = -1;
    job->out_fd = job->err_fd = job->pid_fd = -1;
    env = child_env();
    if (env == NULL)
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    /* close-on-exec: the child gets only its dup2'd copies, and another
     * child spawned later does not keep this one's pipes open */
    if (pipe(out) != 0 || pipe(errp) != 0 ||
        fcntl(out[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(out[1], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(errp[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(errp[1], F_SETFD, FD_CLOEXEC) != 0) {
        rc = sf_error_set_errno(err, errno, "", "cannot create a pipe for icp");
        goto done;
    }
    if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
        goto spawn_fail;
    fa_ok = true;
    if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                               0)) != 0 ||
        (rc = posix_spawn_file_actions_adddup2(&fa, out[1], 1)) != 0 ||
        (rc = posix_spawn_file_actions_adddup2(&fa, errp[1], 2)) != 0 ||
        (rc = posix_spawn_file_actions_addchdir_np(&fa, d->workdir)) != 0)
        goto spawn_fail;
    if ((rc = posix_spawnattr_init(&attr)) != 0)
        goto spawn_fail;
    attr_ok = true;
    /* A group of its own (so the timeout can kill its whole tree), no
     * blocked signals, and default dispositions for the signals a parent
     * commonly ignores or handles. */
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    sigaddset(&deflt, SIGINT);
    sigaddset(&deflt, SIGTERM);
    sigaddset(&deflt, SIGHUP);
    sigaddset(&deflt, SIGQUIT);
    sigaddset(&deflt, SIGCHLD);
    if ((rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                       POSIX_SPAWN_SETSIGMASK |
                                       POSIX_SPAWN_SETSIGDEF)) != 0 ||
        (rc = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
        (rc = posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
        (rc = posix_spawnattr_setsigdefault(&attr, &deflt)) != 0)
        goto spawn_fail;
    if (strchr(argv[0], '/') != NULL)
        rc = posix_spawn(&pid, argv[0], &fa, &attr, argv, env);
    else
        rc = posix_spawnp(&pid, argv[0], &fa, &attr, argv, env);
    if (rc != 0) {
        rc = sf_error_set_errno(err, rc, "--icp", "cannot run `%s` (install "
                                "icp-cli %s, or name it with --icp PATH)",
                                argv[0], SF_ICP_VERSION);
        if (err != NULL)
            err->kind = "icp-not-found";
        goto done;
    }
    job->pid = pid;
#ifdef SYS_pidfd_open
    job->pid_fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (job->pid_fd >= 0) {
        /* not registered: the exit is numbered when seen, as without a
         * pidfd */
        struct epoll_event ev = {EPOLLIN | EPOLLONESHOT, {.ptr = job}};

        fcntl(job->pid_fd, F_SETFD, FD_CLOEXEC);
        if (d->exit_fd >= 0)
            epoll_ctl(d->exit_fd, EPOLL_CTL_ADD, job->pid_fd, &ev);
    }
#endif
    job->out_fd = out[0];
    job->err_fd = errp[0];
    out[0] = errp[0] = -1;
    fcntl(job->out_fd, F_SETFL, O_NONBLOCK);
    fcntl(job->err_fd, F_SETFL, O_NONBLOCK);
    rc = SF_OK;
    goto done;
spawn_fail:
    rc = sf_error_set_errno(err, rc, "", "cannot set up the icp child");
done:
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    for (int k = 0; k < 2; k++) {
        if (out[k] >= 0)
            close(out[k]);
        if (errp[k] >= 0)
            close(errp[k]);
    }
    free(env);
    return rc;
}

/* ---- capture ---- */

/* stdout keeps its head (the JSON answer comes first and whole); stderr
 * keeps its tail (icp's error comes last, after any progress lines). */
static void keep(icp_driver *d, icp_job *job, bool is_out, const char *p,
                 size_t n)
{
    sf_buf *b = is_out ? &job->out : &job->err;
    size_t cap = is_out ? d->cfg.stdout_max : d->cfg.stderr_max;

    if (is_out) {
        if (b->len + n > cap) {
            job->out_truncated = true;
            n = cap > b->len ? cap - b->len : 0;
        }
        if (n > 0)
            sf_buf_append(b, p, n);
        return;
    }
    if (n >= cap) {
        sf_buf_reset(b);
        sf_buf_append(b, p + (n - cap), cap);
        job->err_truncated = true;
        return;
    }
    if (b->len + n > cap) {
        size_t cut = b->len + n - cap;
        memmove(b->data, b->data + cut, b->len - cut);
        b->len -= cut;
        b->data[b->len] = '\0';
        job->err_truncated = true;
    }
    sf_buf_append(b, p, n);
}

/* Reads what is there now; closes the fd at EOF or on error. */
static void drain(icp_driver *d, icp_job *job, int *fd, bool is_out)
{
    char buf[READ_CHUNK];

    while (*fd >= 0) {
        ssize_t n = read(*fd, buf, sizeof buf);
        if (n > 0) {
            keep(d, job, is_out, buf, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        close(*fd);
        *fd = -1;
    }
}

static void close_pipes(icp_job *job)
{
    if (job->out_fd >= 0)
        close(job->out_fd);
    if (job->err_fd >= 0)
        close(job->err_fd);
    if (job->pid_fd >= 0)
        close(job->pid_fd);
    job->out_fd = job->err_fd = job->pid_fd = -1;
}

void sf_icp_kill(icp_job *job)
{
    if (job->pid <= 0 || job->exited)
        return;
    kill(-job->pid, SIGKILL);
    kill(job->pid, SIGKILL); /* in case it left its group */
    while (waitpid(job->pid, &job->status, 0) < 0 && errno == EINTR)
        ;
    job->exited = true;
    close_pipes(job);
}

static bool reap(icp_job *job)
{
    pid_t r;

    do {
        r = waitpid(job->pid, &job->status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == job->pid || (r < 0 && errno == ECHILD)) {
        if (r < 0) /* reaped elsewhere: no status to report */
            job->status = 0x7f00; /* exit code 127 */
        job->exited = true;
    }
    return job->exited;
}

void sf_icp_finished_now(icp_driver *d, icp_job *job)
{
    if (job->finish_seq == 0)
        job->finish_seq = ++d->finish_seq;
}

/* Numbers the exits epoll has seen, in its order. A job's pidfd is
 * closed before the job is freed, and closing it takes it out of the
 * epoll set with any event not yet read: ptr is never a freed job. */
static void number_exits(icp_driver *d)
{
    struct epoll_event ev[32];
    int n, k;

    if (d->exit_fd < 0)
        return;
    do {
        n = epoll_wait(d->exit_fd, ev, 32, 0);
        for (k = 0; k < n; k++)
            sf_icp_finished_now(d, ev[k].data.ptr);
    } while (n == 32 || (n < 0 && errno == EINTR));
}

/* The index of the job that finished first, or SIZE_MAX. */
static size_t finished(icp_driver *d, uint64_t now)
{
    size_t i, first = SIZE_MAX;

    number_exits(d);
    for (i = 0; i < d->job_count; i++) {
        icp_job *job = d->jobs[i];

        if (job->pid >= 0 && !job->exited && reap(job)) {
            drain(d, job, &job->out_fd, true);
            drain(d, job, &job->err_fd, false);
            close_pipes(job);
        }
        if (job->pid >= 0 && !job->exited && now >= job->deadline_ms) {
            job->timed_out = true;
            sf_icp_kill(job);
        }
        if (job->pid >= 0 && !job->exited)
            continue;
        sf_icp_finished_now(d, job); /* no-op once numbered */
        if (first == SIZE_MAX ||
            job->finish_seq < d->jobs[first]->finish_seq)
            first = i;
    }
    return first;
}

static bool is_transfer(const icp_job *job)
{
    return job->pid >= 0 && !job->exited &&
           (job->op.kind == SF_OP_DOWNLOAD || job->op.kind == SF_OP_UPLOAD);
}

/* Mid-transfer bytes for whoever draws a status line, from icp's own
 * progress files, at most every SF_ICP_PROGRESS_INTERVAL_MS per job. */
static void report_bytes(icp_driver *d, uint64_t now)
{
    size_t i;

    for (i = 0; i < d->job_count; i++) {
        icp_job *job = d->jobs[i];
        uint64_t bytes;
        char *dir;

        if (!is_transfer(job) ||
            now - job->reported_ms < SF_ICP_PROGRESS_INTERVAL_MS)
            continue;
        job->reported_ms = now;
        dir = job->op.path[0] == '/' ? strdup(job->op.path)
                                     : sf_path_join(d->cwd, job->op.path);
        if (dir != NULL &&
            sf_icp_transfer_bytes(dir, job->op.kind == SF_OP_UPLOAD, &bytes))
            d->cfg.on_bytes(d->cfg.on_bytes_ctx, &job->op, bytes);
        free(dir);
    }
}

int sf_icp_poll(icp_driver *d, uint64_t limit_ms, size_t *index,
                sf_error *err)
{
    struct pollfd *fds;
    icp_job **owner;
    int *what; /* 1 stdout, 2 stderr, 0 the pidfd */

    if (d->job_count == 0)
        return sf_error_set(err, "internal", "", "wait() with no icp "
                            "operation in flight");
    fds = calloc(3 * d->job_count, sizeof *fds);
    owner = calloc(3 * d->job_count, sizeof *owner);
    what = calloc(3 * d->job_count, sizeof *what);
    if (fds == NULL || owner == NULL || what == NULL) {
        free(fds);
        free(owner);
        free(what);
        return sf_error_set(err, SF_EK_NOMEM, "", "out of memory");
    }
    for (;;) {
        uint64_t now = sf_icp_now_ms(), wait_ms = UINT64_MAX;
        size_t i, n = 0, done = finished(d, now);
        int rc;

        if (done != SIZE_MAX || now >= limit_ms) {
            *index = done;
            break;
        }
        wait_ms = limit_ms - now;
        for (i = 0; i < d->job_count; i++) {
            icp_job *job = d->jobs[i];
            uint64_t left = job->deadline_ms - now;
            int fd[3] = {job->pid_fd, job->out_fd, job->err_fd};

            if (left < wait_ms)
                wait_ms = left;
            if (job->pid_fd < 0 && wait_ms > POLL_SLICE_MS)
                wait_ms = POLL_SLICE_MS;
            if (d->cfg.on_bytes != NULL && is_transfer(job) &&
                wait_ms > SF_ICP_PROGRESS_INTERVAL_MS)
                wait_ms = SF_ICP_PROGRESS_INTERVAL_MS;
            for (int k = 0; k < 3; k++) {
                if (fd[k] < 0)
                    continue;
                fds[n] = (struct pollfd){fd[k], POLLIN, 0};
                owner[n] = job;
                what[n++] = k;
            }
        }
        if (wait_ms > INT_MAX)
            wait_ms = INT_MAX;
        rc = poll(fds, n, (int)wait_ms);
        if (rc < 0 && errno != EINTR) {
            int e = errno;
            free(fds);
            free(owner);
            free(what);
            return sf_error_set_errno(err, e, "", "poll on icp's output");
        }
        for (i = 0; i < n && rc > 0; i++) {
            if (fds[i].revents == 0 || what[i] == 0)
                continue; /* an exit is picked up by finished() */
            if (what[i] == 1)
                drain(d, owner[i], &owner[i]->out_fd, true);
            else
                drain(d, owner[i], &owner[i]->err_fd, false);
        }
        if (d->cfg.on_bytes != NULL)
            report_bytes(d, sf_icp_now_ms());
    }
    free(fds);
    free(owner);
    free(what);
    return SF_OK;
}
