/* The icp driver's pieces: configuration and argv (icp.c), child processes
 * (icp_proc.c), output parsing and failure classes (icp_parse.c). */
#ifndef SNAPFLEET_ICP_INTERNAL_H
#define SNAPFLEET_ICP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapfleet/buf.h"
#include "snapfleet/icp.h"

/* One operation in flight: a child, or a completion made without one (an
 * offline registry answer). */
typedef struct icp_job {
    uint64_t ticket;
    sf_op op;
    pid_t pid;        /* -1: no child; `ready` holds the result */
    int out_fd, err_fd; /* -1 once at EOF */
    int pid_fd;       /* readable when the child exits; -1 if unsupported */
    sf_buf out, err;
    bool out_truncated, err_truncated;
    uint64_t deadline_ms; /* CLOCK_MONOTONIC */
    bool exited, timed_out;
    int status;       /* waitpid status once exited */
    uint64_t reported_ms; /* when on_bytes was last called for it */
    uint64_t finish_seq; /* 0 until seen finished; then its place in the
                            order the jobs finished */
    sf_result ready;
} icp_job;

typedef struct icp_driver {
    sf_driver base;
    sf_icp_config cfg;  /* strings owned (copies) */
    char *cwd;          /* where relative paths are resolved */
    char *workdir;      /* the children's private working directory */
    icp_job **jobs;
    size_t job_count, job_cap;
    uint64_t next_ticket;
    /* the children's pidfds, one-shot: epoll reports them in the order
     * they became readable, i.e. the order the children exited, however
     * long after; -1 without epoll (then: the order they are seen) */
    int exit_fd;
    uint64_t finish_seq; /* the last finish_seq given */
} icp_driver;

/* icp_proc.c */
uint64_t sf_icp_now_ms(void);
/* Starts job->op's argv as a child of its own process group. */
int sf_icp_spawn(icp_driver *d, icp_job *job, char **argv, sf_error *err);
/* Waits until some job is finished (exited, timed out, or ready) and
 * returns its index, or SIZE_MAX once CLOCK_MONOTONIC reaches limit_ms
 * with none finished (UINT64_MAX: no limit); SF_ERR when nothing is in
 * flight. */
int sf_icp_poll(icp_driver *d, uint64_t limit_ms, size_t *index,
                sf_error *err);
/* Kills a running child's group and reaps it. */
void sf_icp_kill(icp_job *job);
/* Gives job the next place in the finishing order, unless it has one. */
void sf_icp_finished_now(icp_driver *d, icp_job *job);

/* icp_parse.c: hex of a Candid reply into bytes (malloc'd). */
int sf_icp_hex_decode(const char *hex, unsigned char **out, size_t *len);
/* The registry answer from a file (registry_file). */
int sf_icp_registry_file(const char *path, sf_registry *out, sf_error *err);

/* icp_progress.c: how far a running transfer got, from icp's own files
 * in its directory (chunks of SF_ICP_CHUNK bytes; capped by the sizes in
 * metadata.json). False when that cannot be told now. The parsers take a
 * progress file's text and the three blob sizes (module, heap, stable). */
#define SF_ICP_CHUNK 2000000u
bool sf_icp_transfer_bytes(const char *dir, bool upload, uint64_t *done);
int sf_icp_download_progress_parse(const char *text, size_t len,
                                   const uint64_t sizes[3], uint64_t *done,
                                   sf_error *err);
int sf_icp_upload_progress_parse(const char *text, size_t len,
                                 const uint64_t sizes[3], uint64_t *done,
                                 sf_error *err);

#endif
