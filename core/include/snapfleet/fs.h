/* snapfleet: the file-system primitives every document goes through. */
#ifndef SNAPFLEET_FS_H
#define SNAPFLEET_FS_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>

#include "snapfleet/error.h"
#include "snapfleet/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Reads a whole regular file (symlinks refused) into a malloc'd,
 * NUL-terminated buffer. Opens without blocking and checks the type on the
 * descriptor, so a FIFO or device is refused at once ("not a regular
 * file"), never waited on. Files larger than max are refused. Errors name
 * the path; kind "io" ("out-of-memory" when the buffer cannot be had). */
SF_API int sf_fs_read_file(const char *path, size_t max, char **out, size_t *len,
                           sf_error *err);

/* Whether two paths name the same existing directory (or file): both
 * have the same canonical name in the installed storage (realpath on
 * POSIX; sf_storage_same). False when either does not. */
SF_API bool sf_fs_same_dir(const char *a, const char *b);

/* Atomic replace: creates the parent directory (0700) when missing, writes
 * a temp file with a unique name `<path>.tmp.XXXXXX` (mkstemp, 0600), fsyncs
 * it, renames it over `path` and fsyncs the directory. On failure the old
 * file is untouched and the temp is removed. Concurrent writers of the same
 * path never share a temp file: the last rename wins whole. */
SF_API int sf_fs_write_atomic(const char *path, const void *data, size_t len,
                              sf_error *err);

/* The same write without calling the write hook: for files that stand for
 * the outside world (the simulator's fleet state), not for our own durable
 * state, so crash injection counts only the writes a backup makes. */
SF_API int sf_fs_write_atomic_untracked(const char *path, const void *data,
                                        size_t len, sf_error *err);

/* rename(2), then an fsync of the target's directory; a durable write
 * (the write hook is called with `to`). Both names must be in the same
 * directory for the rename to be atomic and the one fsync to cover it. */
SF_API int sf_fs_rename_durable(const char *from, const char *to, sf_error *err);

/* mkdir -p with mode 0700 for the directories it creates. */
SF_API int sf_fs_mkdir_p(const char *path, sf_error *err);

/* A directory we write into or read from inside a backup: refused when path
 * itself is a symbolic link (kind "symlink-refused") or not a directory
 * ("io"), the rule artifacts follow. Absent: created (mkdir -p, 0700) when
 * create, else fine (nothing to read there). */
SF_API int sf_fs_dir_nofollow(const char *path, bool create, sf_error *err);

/* rm -rf dir (refusing to follow links) in the installed storage
 * (sf_storage_remove_tree); absent is fine. */
SF_API int sf_remove_tree(const char *dir, sf_error *err);

/* Hook for tests and the crash simulator: called after every durable write
 * (after the directory fsync) with the path written. NULL disables. */
typedef void (*sf_fs_write_hook)(const char *path, void *ctx);
SF_API void sf_fs_set_write_hook(sf_fs_write_hook hook, void *ctx);
/* Reports a durable write made elsewhere (an append to a transition log,
 * once it is fdatasync'd) to the hook, so crash tests count it too. */
SF_API void sf_fs_note_durable_write(const char *path);

/* Torn writes (the torn-write=N fault): `want` is asked before every
 * durable write (an atomic replace, a durable rename, a log append) with
 * its path; when it says yes, the writer leaves the write torn (a
 * temporary file with part of the bytes, never renamed; a prefix of a log
 * record; a rename not made) and calls `done`, which is expected not to
 * return (SIGKILL). NULL uninstalls. */
typedef bool (*sf_fs_tear_want_fn)(const char *path, void *ctx);
typedef void (*sf_fs_tear_done_fn)(const char *path, void *ctx);
SF_API void sf_fs_set_tear_hook(sf_fs_tear_want_fn want,
                                sf_fs_tear_done_fn done, void *ctx);
/* Asks the hook about a write to path (false when none is installed). */
SF_API bool sf_fs_tear_wanted(const char *path);
/* Reports a torn write to the hook (it does not return when it kills). */
SF_API void sf_fs_tear_done(const char *path);

/* The storage every function here goes through, and with them every
 * file call of the library and the simulator (the checksum, the run locks
 * and layout checks, the snapshot directory checks, the restore plan, the
 * engine); NULL restores POSIX. Process-wide, like the write hook. Any
 * storage may be installed: the counting shim around sf_storage_posix(),
 * which benchmarks use to count bytes and syncs, or the simulated disk
 * alone (snapfleet/simdisk.h), which `sim run` uses. */
SF_API void sf_fs_set_storage(const sf_storage *storage);
/* The storage in use (never NULL). */
SF_API const sf_storage *sf_fs_storage(void);

#ifdef __cplusplus
}
#endif

#endif
