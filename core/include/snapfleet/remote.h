/*
 * snapfleet: copies of backups in S3-compatible object storage
 * (libsnapfleet-remote). Under s3://BUCKET/PREFIX:
 *
 *   PREFIX/blobs/sha256-<hex>                 one object per distinct file
 *                                             of any artifact, named by the
 *                                             file's SHA-256, shared by every
 *                                             backup that holds those bytes
 *   PREFIX/backups/<NAME>/snapfleet-objects.json
 *                                             each artifact's path, checksum,
 *                                             directories and files (path,
 *                                             size, SHA-256), written first
 *   PREFIX/backups/<NAME>/<document>          backup-plan.json,
 *                                             backup-execution-journal.json,
 *                                             download-journal.json,
 *                                             snapfleet-observations.json,
 *                                             and last, the commit point,
 *                                             fleet-backup-manifest.json
 *
 * A backup is there (listed complete, pullable) once its manifest is.
 * NAME is the backup directory's base name.
 *
 * Encrypted (sf_remote_options.encrypt_to): every object, documents and
 * index included, is encrypted to the recipient (remote/crypt_internal.h)
 * and blobs are named PREFIX/blobs/enc-<hex>, a hash of the file's SHA-256
 * keyed with the key pair's name key, so the names do not let object
 * storage confirm a guess of a file's content. Names, sizes, counts and
 * times remain visible (snapfleet-push(1)).
 */
#ifndef SNAPFLEET_REMOTE_H
#define SNAPFLEET_REMOTE_H

#include "snapfleet/buf.h"
#include "snapfleet/crypt.h"
#include "snapfleet/error.h"
#include "snapfleet/export.h"
#include "snapfleet/s3.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SF_REMOTE_OBJECTS_FILE "snapfleet-objects.json"
/* Objects larger than this go up as multipart uploads of parts this size
 * (grown when 10,000 parts would not hold the object). */
#define SF_REMOTE_PART_SIZE_DEFAULT (8u << 20)
/* Object transfers a push or pull keeps in flight at once (1 to 64). */
#define SF_REMOTE_JOBS_DEFAULT 4
#define SF_REMOTE_JOBS_MAX 64

typedef struct sf_remote_options {
    uint64_t part_size;     /* 0: SF_REMOTE_PART_SIZE_DEFAULT */
    /* push, pull, verify: object transfers in flight at once (1 to
     * SF_REMOTE_JOBS_MAX; 0: SF_REMOTE_JOBS_DEFAULT). A push holds up to
     * jobs part-size buffers in memory. */
    size_t jobs;
    const char *state_dir;  /* push journals; NULL: $XDG_STATE_HOME/snapfleet
                               (default ~/.local/state/snapfleet) */
    /* push: encrypt every object to this recipient (NULL: plain). */
    const sf_recipient *encrypt_to;
    /* pull, verify: every object must be encrypted to this identity, and
     * is decrypted (NULL: plain objects; an encrypted one is refused,
     * "remote-encrypted"). list, prune: decrypts what is encrypted. */
    const sf_identity *identity;
    /* Progress lines ("uploaded ...") when non-NULL. */
    void (*progress)(void *payload, const char *line);
    void *payload;
} sf_remote_options;

typedef struct sf_push_result {
    char name[256];           /* the backup's name under PREFIX/backups/ */
    bool already;             /* the same manifest was there: nothing sent */
    size_t artifacts;         /* artifacts the backup holds */
    size_t artifacts_sent;    /* of which at least one file was uploaded now */
    size_t files;             /* files in them */
    size_t files_sent;        /* of which uploaded now (the others were there) */
    size_t documents_sent;
    size_t parts_sent;        /* multipart parts uploaded now */
    size_t parts_resumed;     /* parts a previous, interrupted push had sent */
    uint64_t bytes_sent;
} sf_push_result;

/* Pushes the complete, verified backup in dir to url (s3://BUCKET/PREFIX).
 * The directory is locked and verified first (a backup that does not
 * verify is refused: "push-unverified"); a different manifest already
 * under the same name is refused ("push-conflict"). The write-ahead push
 * journal (<state_dir>/push-<sha256 of dir and url>.json) records every
 * multipart upload id and each acknowledged part, so an interrupted push
 * resumes without sending those parts again; it is removed when the push
 * completes. */
SF_API int sf_remote_push(sf_s3 *s3, const char *dir, const char *url,
                          const sf_remote_options *o, sf_push_result *r, sf_error *err);

typedef struct sf_pull_result {
    bool already;           /* dir already held this backup, verified */
    size_t artifacts;
    size_t artifacts_fetched;
    size_t artifacts_resumed; /* already in the staging directory, checksummed */
    uint64_t bytes_fetched;
} sf_pull_result;

/* Pulls url (s3://BUCKET/PREFIX/NAME) into dir, which must not exist (or
 * already hold exactly this backup, verified: then nothing is done). The
 * pull goes into a staging directory beside dir (.<base>.snapfleet-pull,
 * locked), every artifact's checksum recomputed against the manifest as it
 * lands, the whole backup verified (sf_verify_integrity), and only then
 * renamed to dir. A pull that stopped resumes in the staging directory.
 * Errors: "pull-target-exists", "remote-incomplete" (no manifest),
 * "checksum-mismatch", "pack-format", s3 kinds. */
SF_API int sf_remote_pull(sf_s3 *s3, const char *url, const char *dir,
                          const sf_remote_options *o, sf_pull_result *r, sf_error *err);

/* Pulls url into a scratch directory under scratch_parent (NULL: $TMPDIR or
 * /tmp), verifies it as pull does, and removes it: every artifact streamed
 * and re-hashed. */
SF_API int sf_remote_verify(sf_s3 *s3, const char *url, const char *scratch_parent,
                            const sf_remote_options *o, sf_pull_result *r, sf_error *err);

typedef struct sf_remote_backup {
    char *name;
    bool complete;          /* its manifest is there */
    char *backup_id;        /* from the manifest (NULL when incomplete) */
    char *created_at;       /* likewise */
    bool encrypted;         /* its manifest is encrypted (without the
                               identity: backup_id and created_at NULL) */
    size_t objects;         /* objects under backups/<name>/ */
} sf_remote_backup;

/* Every backup under url (s3://BUCKET/PREFIX), complete ones newest first
 * (manifest created_at, then name), then incomplete ones by name. */
SF_API int sf_remote_list(sf_s3 *s3, const char *url, const sf_remote_options *o,
                          sf_remote_backup **out, size_t *count, sf_error *err);
SF_API void sf_remote_backups_free(sf_remote_backup *b, size_t count);

typedef struct sf_prune_remote_result {
    char **deleted_backups;   /* names */
    size_t deleted_backup_count;
    size_t deleted_blobs;
    size_t kept_backups;
} sf_prune_remote_result;

/* Deletes the complete backups beyond the newest keep (manifest first, so a
 * backup stops being complete before anything else of it goes), then every
 * blob no remaining snapfleet-objects.json names (incomplete
 * backups' included, so a push in progress keeps what it sent). dry_run
 * deletes nothing and reports what would go. Every remaining index is read
 * before anything is deleted: encrypted backups need o->identity
 * ("remote-encrypted"), and then nothing is deleted. On failure r is
 * freed. */
SF_API int sf_remote_prune(sf_s3 *s3, const char *url, size_t keep, bool dry_run,
                           const sf_remote_options *o, sf_prune_remote_result *r,
                           sf_error *err);
SF_API void sf_prune_remote_result_free(sf_prune_remote_result *r);

#ifdef __cplusplus
}
#endif

#endif
