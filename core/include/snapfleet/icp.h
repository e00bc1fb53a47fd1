/*
 * snapfleet: the production driver. Every operation runs DFINITY's `icp`
 * CLI (1.5.0) as a child process: posix_spawn with an argv, never a
 * shell; a sanitized environment; a private empty working directory; a
 * timeout that kills the child's process group; stdout and stderr captured
 * with caps. Several children may run at once (wait() and wait_for(), its
 * form with a time limit, poll them all).
 *
 * Commands (after the program), with the targeting flags appended, where
 * icp 1.5.0 accepts them (after the leaf subcommand):
 *   registry  canister call <root> canic_subnet_registry '()' --query --json
 *   status    canister status <id> --json
 *   stop      canister stop <id>
 *   start     canister start <id>
 *   create    canister snapshot create <id> --json
 *   list      canister snapshot list <id> --json
 *   download  canister snapshot download <id> <snap> --output <dir> [--resume]
 *   upload    canister snapshot upload <id> --input <dir> [--resume] --json
 *   load      canister snapshot restore <id> <snap>
 *   delete    canister snapshot delete <id> <snap>
 *   targeting -n <network> [-k <root-key>] | -e <environment>,
 *             then [--identity <name>] [--project-root-override <dir>]
 *
 * How each way a child can end maps onto a failure class is in
 * docs/icp-driver.md and sf_icp_complete() below.
 */
#ifndef SNAPFLEET_ICP_H
#define SNAPFLEET_ICP_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/driver.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_ICP_VERSION "1.5.0"
/* Control operations: icp's ingress expiry is 4 minutes; one more for the
 * polling around it. */
#define SF_ICP_DEFAULT_TIMEOUT_MS ((uint64_t)300 * 1000)
/* Transfers move whole snapshots (up to hundreds of GiB), and icp retries
 * each chunk for up to 60 s on its own. */
#define SF_ICP_DEFAULT_TRANSFER_TIMEOUT_MS ((uint64_t)24 * 3600 * 1000)
#define SF_ICP_DEFAULT_STDOUT_MAX ((size_t)1 << 20)
#define SF_ICP_DEFAULT_STDERR_MAX ((size_t)64 << 10)

typedef struct sf_icp_config {
    const char *icp;            /* program; NULL: "icp" looked up on PATH */
    const char *network;        /* -n NAME|URL */
    const char *root_key;       /* -k mainnet|fetch|HEX: URL networks only */
    const char *environment;    /* -e NAME; needs project_root */
    const char *identity;       /* --identity NAME; NULL: icp's default */
    const char *project_root;   /* --project-root-override DIR */
    /* Answer REGISTRY from this file instead of running icp: canic's
     * registry JSON (registry.h), or a saved `canister call --json`
     * envelope ({"response_bytes": ...}). For dry runs and tests. */
    const char *registry_file;
    uint64_t timeout_ms;          /* 0: SF_ICP_DEFAULT_TIMEOUT_MS */
    uint64_t transfer_timeout_ms; /* download, upload; 0: the default */
    size_t stdout_max;            /* 0: SF_ICP_DEFAULT_STDOUT_MAX */
    size_t stderr_max;            /* 0: SF_ICP_DEFAULT_STDERR_MAX */
    /* For a status line: while a download or upload runs, wait() calls
     * this about every SF_ICP_PROGRESS_INTERVAL_MS with the bytes icp's own
     * progress files say it moved so far (this attempt). NULL: never. */
    void (*on_bytes)(void *ctx, const sf_op *op, uint64_t bytes);
    void *on_bytes_ctx;
} sf_icp_config;

#define SF_ICP_PROGRESS_INTERVAL_MS 1000u

/* icp's own rule: anything that parses as a URL (a scheme, then ':') is a
 * URL network; anything else is a name. */
SF_API bool sf_icp_network_is_url(const char *network);

/* The checks icp's argument parser would make, made first so they are
 * usage errors with a clear message instead of an exit 2 later: exactly
 * one of network and environment; a root key with, and only with, a URL
 * network (mainnet, fetch, or 266 hex digits); an environment only with a
 * project root (children run outside any project otherwise); names that
 * are non-empty and do not start with '-'; the project root and the
 * registry file must exist. Kind "usage". */
SF_API int sf_icp_config_check(const sf_icp_config *cfg, sf_error *err);

/* Creates the driver (copies cfg) and its private working directory under
 * $TMPDIR (or /tmp). Kind "usage" for a bad config, "io" otherwise. */
SF_API int sf_icp_driver_new(const sf_icp_config *cfg, sf_driver **out,
                             sf_error *err);

/* The argv the driver would run for op (a NULL-terminated malloc'd array
 * of malloc'd strings; free with sf_icp_argv_free). The canister id must
 * be a principal and the snapshot id non-empty even-length hex; relative
 * paths are made absolute against the directory the driver was created in
 * (children run elsewhere). d must be an icp driver. */
SF_API int sf_icp_argv(sf_driver *d, const sf_op *op, char ***argv, sf_error *err);
SF_API void sf_icp_argv_free(char **argv);

/* Appends `s` shell-quoted: as is when it is made only of characters no
 * shell treats specially, else in single quotes ('\'' for a quote). */
SF_API int sf_icp_shell_quote(sf_buf *out, const char *s);

/* How one child ended, as wait() saw it. */
typedef struct sf_icp_outcome {
    bool timed_out;        /* killed by the driver at the deadline */
    bool signaled;         /* ended by a signal (not ours) */
    int signal;
    int exit_code;         /* when neither of the above */
    const char *out;       /* captured stdout (first stdout_max bytes) */
    size_t out_len;
    bool out_truncated;    /* stdout was longer than the cap */
    const char *err;       /* captured stderr (last stderr_max bytes) */
    size_t err_len;
    bool err_truncated;
} sf_icp_outcome;

/*
 * Turns an outcome into a completion: parses the output of a success and
 * classifies a failure. r must be initialised for op->kind. Read-only ops
 * are registry, status and list; every other op counts as mutating
 * (download changes no canister but writes the transfer directory).
 *   exit 2 (icp's argument parser)             PERMANENT "icp-usage"
 *   timeout                     read-only TRANSIENT, mutating UNKNOWN
 *                                                          "icp-timeout"
 *   killed by a signal          read-only TRANSIENT, mutating UNKNOWN
 *                                                           "icp-signal"
 *   a failure whose stderr holds one of sf_icp_error_texts() (below):
 *     the class of the first one found
 *   any other failure: read-only PERMANENT, mutating UNKNOWN "icp-failed"
 *   exit 0 with output that is not icp's: read-only PERMANENT, create and
 *     upload UNKNOWN (the effect happened, its id is unreadable)
 *                                     "icp-output" / "icp-output-too-large"
 * REGISTRY replies decode as Candid (candid.h); its errors keep their
 * kinds, and an Err answer is PERMANENT "registry-err".
 */
SF_API void sf_icp_complete(const sf_op *op, const sf_icp_outcome *o, sf_result *r);

/* The icp error texts the driver recognises in a failed child's stderr,
 * in the order they are tried (the first that occurs decides), each with
 * its class (docs/icp-driver.md mirrors the table). */
typedef enum sf_icp_text_class {
    /* upload only: the target snapshot exists, its data may be partial:
     * UNKNOWN "icp-failed" */
    SF_ICP_TEXT_UPLOAD_CREATED,
    /* the replica did not execute the message and says a retry may work:
     * TRANSIENT "icp-rejected" */
    SF_ICP_TEXT_RETRYABLE_REJECT,
    /* icp or the replica looked and said no: PERMANENT "icp-rejected" */
    SF_ICP_TEXT_REFUSAL,
    /* nothing was sent yet: TRANSIENT "icp-unreachable" */
    SF_ICP_TEXT_BEFORE_CALL,
    /* the connection or the HTTP exchange failed, before or after the
     * request arrived: read-only TRANSIENT, a download TRANSIENT while
     * resubmitting it is safe, every other op UNKNOWN "icp-unreachable" */
    SF_ICP_TEXT_TRANSPORT,
} sf_icp_text_class;

typedef struct sf_icp_error_text {
    const char *text;       /* matched anywhere in stderr, case-sensitive */
    sf_icp_text_class cls;
} sf_icp_error_text;

/* The table (static storage) and its length. */
SF_API const sf_icp_error_text *sf_icp_error_texts(size_t *count);
SF_API const char *sf_icp_text_class_name(sf_icp_text_class cls);

#ifdef __cplusplus
}
#endif

#endif
