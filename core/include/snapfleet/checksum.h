/*
 * snapfleet: SHA-256 artifact checksums (spec formats-and-backup 5.2).
 *
 * Hashes are lower-case hex, 64 characters plus NUL (SF_SHA256_HEX_SIZE).
 * A file hashes to the SHA-256 of its bytes; a directory to one SHA-256
 * over `relpath NUL <file hex> LF` for every regular file below it, the
 * relative paths in Rust PathBuf (component-wise) order. Both are
 * byte-for-byte what canic-backup 0.35.10 records, so either side
 * verifies the other's artifacts.
 *
 * Where we deliberately differ from canic (decisions 5.7): canic follows
 * symlinks and silently skips anything that is neither a file nor a
 * directory. We follow nothing and skip nothing:
 *   - a symlink, as the artifact path itself or anywhere below it, is an
 *     error of kind "symlink-refused": following one would let a link
 *     planted in a backup make us hash (and later upload) bytes from
 *     outside the backup;
 *   - a fifo, socket or device is an error of kind "unsupported-file-type":
 *     an icp snapshot download only ever contains regular files and
 *     directories, so anything else means the artifact is not what was
 *     downloaded. Skipping it would record a checksum that silently leaves
 *     part of the directory out; opening a fifo would block forever.
 * For every artifact canic accepts that holds only files and directories
 * the checksums are identical. Only the final component of the artifact
 * path and what lies below it are checked: the directories leading to it
 * belong to the caller (the backup root may sit behind a system symlink),
 * who has already refused paths that escape the backup.
 *
 * Everything goes through the installed storage (sf_fs_storage(), POSIX
 * unless the simulator installed its disk). Directories are listed with
 * each entry's kind (d_type on POSIX: no stat per entry), without
 * following a final symbolic link; files are opened no-follow and
 * non-blocking with the type checked on the open handle, so an entry
 * swapped for a symlink or a FIFO after the listing is refused, never
 * followed or waited on. (A directory above the entry swapped for a
 * symlink mid-walk is resolved by the kernel like any path: the caller
 * owns the backup directory, as it owns the directories leading to it.)
 * Memory use is constant in the file sizes (one 1 MiB read buffer per
 * thread) and linear in the number of files.
 *
 * Over a storage that may be called from several threads at once
 * (sf_storage_concurrent: POSIX) a directory's files are hashed on up to
 * sf_checksum_threads() threads (the walk itself stays on the caller's
 * thread); over any other (the simulated disk) on the caller's thread
 * alone. The digest, and which error is reported when several files are
 * bad, are the same either way: the first in walk order.
 *
 * Errors: "io" (message names the path and carries strerror),
 * "symlink-refused", "unsupported-file-type", "out-of-memory",
 * "unsupported-algorithm", "checksum-mismatch".
 */
#ifndef SNAPFLEET_CHECKSUM_H
#define SNAPFLEET_CHECKSUM_H

#include "snapfleet/export.h"

#include <stddef.h>

#include "snapfleet/buf.h"
#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_CHECKSUM_ALGORITHM "sha256"
#define SF_SHA256_HEX_SIZE 65 /* 64 hex digits + NUL */
/* Read buffer for file hashing. */
#define SF_CHECKSUM_BUFFER (1u << 20)
/* Upper bound on the threads a directory checksum uses. */
#define SF_CHECKSUM_MAX_THREADS 16
/* Directories nested deeper than this below an artifact are refused ("io"):
 * the walk holds one descriptor per level, and icp artifacts are two deep. */
#define SF_CHECKSUM_MAX_DEPTH 64

/* ---- plain SHA-256 ---- */

/* Hex SHA-256 of a byte range. SF_ERR only when libcrypto fails (memory). */
SF_API int sf_sha256_bytes(const void *data, size_t len,
                           char out_hex[SF_SHA256_HEX_SIZE]);

/* Incremental SHA-256 for callers that see data in pieces (downloads,
 * state digests). new returns NULL when out of memory; final may be called
 * once; free accepts NULL. */
typedef struct sf_sha256 sf_sha256;
SF_API sf_sha256 *sf_sha256_new(void);
SF_API int sf_sha256_update(sf_sha256 *h, const void *data, size_t len);
SF_API int sf_sha256_final(sf_sha256 *h, char out_hex[SF_SHA256_HEX_SIZE]);
SF_API void sf_sha256_free(sf_sha256 *h);

/* ---- artifact checksums ---- */

/* Threads a directory checksum may use: n (1 = hash on the caller's thread
 * only; capped at SF_CHECKSUM_MAX_THREADS), or 0 (the default) for one per
 * CPU this process may run on (counted once, at the first call).
 * Process-wide; set it before checksumming. */
SF_API void sf_checksum_set_threads(unsigned n);
SF_API unsigned sf_checksum_threads(void);

/* SHA-256 of a regular file's content, streamed. */
SF_API int sf_checksum_file(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                            sf_error *err);

/* Directory checksum (5.2). An empty directory hashes like empty bytes
 * (e3b0c442...b855). */
SF_API int sf_checksum_dir(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                           sf_error *err);

/* The directory checksum with some top-level entries left out (`skip` is
 * NULL-terminated): a staged artifact that icp is uploading also holds
 * icp's own progress file, which is not part of the verified bytes. */
SF_API int sf_checksum_dir_skipping(const char *path, const char *const *skip,
                                    char out_hex[SF_SHA256_HEX_SIZE], sf_error *err);

/* Directory checksum when `path` is a directory, file checksum when it is a
 * regular file; a missing path is an "io" error. */
SF_API int sf_checksum_path(const char *path, char out_hex[SF_SHA256_HEX_SIZE],
                            sf_error *err);

/* canic's ArtifactChecksum::verify: `algorithm` must be "sha256"
 * ("unsupported-algorithm"), and `actual` must equal `expected` exactly,
 * case included ("checksum-mismatch", message
 * "checksum mismatch: expected {e}, actual {a}"). NULL hashes never match. */
SF_API int sf_checksum_verify(const char *algorithm, const char *expected,
                              const char *actual, sf_error *err);

/* ---- the pieces of the directory algorithm, exported for tests ---- */

/* Rust PathBuf order of two '/'-separated relative paths: components
 * compared as raw bytes, a component that is a prefix of the other first.
 * Equals byte order with '/' below every other byte. Returns <0, 0, >0. */
SF_API int sf_path_cmp_components(const char *a, const char *b);

/* Appends `len` bytes of `s` to `out` as Rust's String::from_utf8_lossy
 * does: valid UTF-8 copied, every maximal invalid subpart (Unicode's
 * "maximal subpart" practice) replaced by one U+FFFD (EF BF BD). */
SF_API int sf_utf8_lossy(const char *s, size_t len, sf_buf *out);

#ifdef __cplusplus
}
#endif

#endif
