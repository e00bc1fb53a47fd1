/*
 * snapfleet: the storage seam. Durable state (documents, logs, locks) goes
 * through one interface, as SQLite's goes through its VFS: a struct of
 * function pointers plus the context they are called with. Two
 * implementations exist: POSIX (sf_storage_posix, the real file system)
 * and the simulator's disk in memory (snapfleet/simdisk.h), where only what
 * was synced survives a crash. A third wraps any storage and counts what
 * passes through (sf_storage_counting), for benchmarks and tests.
 *
 * Callers never call the function pointers: they call the sf_storage_*
 * wrappers below, which check arguments and turn a missing optional method
 * into an error of kind "not-supported".
 *
 * Contracts, in terms of failure (every method):
 *   - returns SF_OK (0) or SF_ERR and then fills err (kind "io" for an
 *     operating-system style failure, the message naming the path and
 *     ending in strerror's text: "No space left on device", ...);
 *   - paths are plain '/'-separated strings; a symbolic link is never
 *     followed for the last component of an opened file;
 *   - open: READ opens read-only and refuses anything but a regular file
 *     ("not a regular file", "refusing to follow a symbolic link") without
 *     ever blocking; WRITE opens read-write; CREATE creates (mode 0600),
 *     EXCL refuses an existing file, TRUNCATE empties it. A file created is
 *     not durable until its directory is synced (sync_dir);
 *   - open_temp: like mkstemp, replaces the trailing "XXXXXX" of templ in
 *     place with a name no other file holds and creates it (0600, WRITE);
 *   - read: reads up to len bytes at offset; *got < len only at end of file;
 *   - write: writes all len bytes at offset, or fails; a failed write may
 *     have written a part of the bytes (what a crash or a full disk leaves);
 *   - size / truncate: the file's length in bytes; shrink or extend;
 *   - sync: SF_STORAGE_SYNC_FULL is fsync, SF_STORAGE_SYNC_DATA fdatasync
 *     (data and the file's length, not its times). Only synced data is
 *     promised to survive a crash; after a failed sync nothing is promised
 *     about the unsynced data (retrying does not make it durable);
 *   - close: always releases the handle, even when it fails;
 *   - kind: what a path names, without following a final symbolic link;
 *   - mkdir: one directory (mode 0700); an existing directory is fine;
 *   - sync_dir: makes the names created, renamed or removed in a directory
 *     durable;
 *   - rename: atomic replace of `to` (same directory for atomicity); not
 *     durable until the directory is synced;
 *   - remove: a file or an empty directory; absent is an error;
 *   - list: calls fn once per entry name (no "." or ".."), in no
 *     particular order; a non-zero return from fn stops the listing and is
 *     returned;
 *   - lock / unlock: an exclusive, non-blocking lock on a lock file
 *     (created 0600 if absent, must be a regular file); held by another
 *     holder is kind "journal-locked". A lock dies with its process.
 *
 * Version 2 adds, at the end of the struct (a version-1 struct is still
 * accepted; the wrappers never read past its end):
 *   - flags: SF_STORAGE_CONCURRENT when the methods may be called from
 *     several threads at once and what they do does not depend on the
 *     order the threads' calls arrive in (POSIX); a storage without it is
 *     called from one thread at a time (the simulated disk: its faults and
 *     seeded names count calls, so a race would change a seed's run);
 *   - list_kind: list, with each entry's kind as the listing saw it (no
 *     stat per entry where the directory says the type, as d_type does);
 *     an entry that vanishes while listed may be left out. Optional: the
 *     wrapper falls back on list plus kind per entry;
 *   - info: kind plus, for a regular file, its size and, for OTHER, which
 *     kind of other (a symbolic link, a FIFO, ...), without following a
 *     final symbolic link (lstat). Optional: falls back on kind (and an
 *     open for the size; OTHER then says SF_STORAGE_OTHER_UNKNOWN);
 *   - canonical: the name an existing path resolves to, absolute, with
 *     no ".", ".." or symbolic link in it (realpath): two paths name the
 *     same thing when their canonical names are equal. Optional:
 *     "not-supported" without it;
 *   - remove_tree: rm -rf without following a symbolic link anywhere
 *     below (a link is removed, not followed); absent is fine. Optional:
 *     the wrapper falls back on info, list_kind and remove, which is what
 *     a storage without symbolic links needs; POSIX has its own, walking
 *     descriptors, so a directory swapped for a link mid-walk is not
 *     followed either.
 */
#ifndef SNAPFLEET_STORAGE_H
#define SNAPFLEET_STORAGE_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SF_STORAGE_VERSION 2

/* Error kinds of the seam itself. */
#define SF_EK_NOT_SUPPORTED "not-supported"
#define SF_EK_LOCKED "journal-locked"

/* Open flags. */
#define SF_STORAGE_READ 0u
#define SF_STORAGE_WRITE 1u
#define SF_STORAGE_CREATE 2u
#define SF_STORAGE_EXCL 4u
#define SF_STORAGE_TRUNCATE 8u

/* Sync modes. */
#define SF_STORAGE_SYNC_FULL 0u /* fsync */
#define SF_STORAGE_SYNC_DATA 1u /* fdatasync */

typedef enum sf_storage_kind {
    SF_STORAGE_ABSENT = 0,
    SF_STORAGE_REGULAR = 1,
    SF_STORAGE_DIRECTORY = 2,
    SF_STORAGE_OTHER = 3 /* a symbolic link, FIFO, device, socket */
} sf_storage_kind;

/* What an SF_STORAGE_OTHER is (info). */
typedef enum sf_storage_other {
    SF_STORAGE_OTHER_NONE = 0, /* not OTHER */
    SF_STORAGE_OTHER_SYMLINK = 1,
    SF_STORAGE_OTHER_FIFO = 2,
    SF_STORAGE_OTHER_SOCKET = 3,
    SF_STORAGE_OTHER_CHAR_DEVICE = 4,
    SF_STORAGE_OTHER_BLOCK_DEVICE = 5,
    SF_STORAGE_OTHER_UNKNOWN = 6
} sf_storage_other;

/* What info says about a path. */
typedef struct sf_storage_info {
    sf_storage_kind kind;
    sf_storage_other other; /* when kind is SF_STORAGE_OTHER */
    uint64_t size;          /* bytes, when kind is SF_STORAGE_REGULAR */
} sf_storage_info;

/* flags (version 2) */
#define SF_STORAGE_CONCURRENT 1u

/* Opaque handles, defined by each implementation. */
typedef struct sf_storage_file sf_storage_file;
typedef struct sf_storage_lock sf_storage_lock;

/* One entry name; return 0 to go on, anything else stops the listing. */
typedef int (*sf_storage_list_fn)(const char *name, void *payload);
/* The same with the entry's kind (never ABSENT). */
typedef int (*sf_storage_list_kind_fn)(const char *name, sf_storage_kind kind,
                                       void *payload);

typedef struct sf_storage {
    int version; /* SF_STORAGE_VERSION */
    const char *name;
    void *ctx; /* passed first to every method */

    /* version 1: files */
    int (*open)(void *ctx, const char *path, unsigned flags,
                sf_storage_file **out, sf_error *err);
    int (*open_temp)(void *ctx, char *templ, sf_storage_file **out,
                     sf_error *err);
    int (*close)(void *ctx, sf_storage_file *file, sf_error *err);
    int (*read)(void *ctx, sf_storage_file *file, uint64_t offset, void *buf,
                size_t len, size_t *got, sf_error *err);
    int (*write)(void *ctx, sf_storage_file *file, uint64_t offset,
                 const void *buf, size_t len, sf_error *err);
    int (*size)(void *ctx, sf_storage_file *file, uint64_t *out, sf_error *err);
    int (*truncate)(void *ctx, sf_storage_file *file, uint64_t len,
                    sf_error *err);
    int (*sync)(void *ctx, sf_storage_file *file, unsigned how, sf_error *err);

    /* version 1: names */
    int (*kind)(void *ctx, const char *path, sf_storage_kind *out,
                sf_error *err);
    int (*mkdir)(void *ctx, const char *path, sf_error *err);
    int (*sync_dir)(void *ctx, const char *path, sf_error *err);
    int (*rename)(void *ctx, const char *from, const char *to, sf_error *err);
    int (*remove)(void *ctx, const char *path, sf_error *err);
    int (*list)(void *ctx, const char *dir, sf_storage_list_fn fn,
                void *payload, sf_error *err);

    /* version 1: locks (optional: NULL means "not-supported") */
    int (*lock)(void *ctx, const char *path, sf_storage_lock **out,
                sf_error *err);
    void (*unlock)(void *ctx, sf_storage_lock *lock);

    /* version 2 (all optional; see the contracts above) */
    unsigned flags; /* SF_STORAGE_CONCURRENT */
    int (*list_kind)(void *ctx, const char *dir, sf_storage_list_kind_fn fn,
                     void *payload, sf_error *err);
    int (*info)(void *ctx, const char *path, sf_storage_info *out,
                sf_error *err);
    int (*canonical)(void *ctx, const char *path, char **out, sf_error *err);
    int (*remove_tree)(void *ctx, const char *path, sf_error *err);
} sf_storage;

/* The real file system. Static storage; never freed. */
SF_API const sf_storage *sf_storage_posix(void);

/* ---- the wrappers (one per method; see the contracts above) ---- */

SF_API int sf_storage_open(const sf_storage *st, const char *path,
                           unsigned flags, sf_storage_file **out, sf_error *err);
SF_API int sf_storage_open_temp(const sf_storage *st, char *templ,
                                sf_storage_file **out, sf_error *err);
/* NULL-tolerant; *file is set to NULL. */
SF_API int sf_storage_close(const sf_storage *st, sf_storage_file **file,
                            sf_error *err);
SF_API int sf_storage_read(const sf_storage *st, sf_storage_file *file,
                           uint64_t offset, void *buf, size_t len, size_t *got,
                           sf_error *err);
SF_API int sf_storage_write(const sf_storage *st, sf_storage_file *file,
                            uint64_t offset, const void *buf, size_t len,
                            sf_error *err);
SF_API int sf_storage_size(const sf_storage *st, sf_storage_file *file,
                           uint64_t *out, sf_error *err);
SF_API int sf_storage_truncate(const sf_storage *st, sf_storage_file *file,
                               uint64_t len, sf_error *err);
SF_API int sf_storage_sync(const sf_storage *st, sf_storage_file *file,
                           unsigned how, sf_error *err);
SF_API int sf_storage_kind_of(const sf_storage *st, const char *path,
                              sf_storage_kind *out, sf_error *err);
SF_API int sf_storage_mkdir(const sf_storage *st, const char *path,
                            sf_error *err);
SF_API int sf_storage_sync_dir(const sf_storage *st, const char *path,
                               sf_error *err);
SF_API int sf_storage_rename(const sf_storage *st, const char *from,
                             const char *to, sf_error *err);
SF_API int sf_storage_remove(const sf_storage *st, const char *path,
                             sf_error *err);
SF_API int sf_storage_list(const sf_storage *st, const char *dir,
                           sf_storage_list_fn fn, void *payload, sf_error *err);
SF_API int sf_storage_lock_acquire(const sf_storage *st, const char *path,
                           sf_storage_lock **out, sf_error *err);
/* NULL-tolerant; *lock is set to NULL. */
SF_API void sf_storage_lock_release(const sf_storage *st, sf_storage_lock **lock);

/* ---- version 2 (each falls back as the contracts above say) ---- */

/* Whether st may be called from several threads at once
 * (SF_STORAGE_CONCURRENT); false for a version-1 storage. */
SF_API bool sf_storage_concurrent(const sf_storage *st);
SF_API int sf_storage_list_kind(const sf_storage *st, const char *dir,
                                sf_storage_list_kind_fn fn, void *payload,
                                sf_error *err);
SF_API int sf_storage_info_of(const sf_storage *st, const char *path,
                              sf_storage_info *out, sf_error *err);
/* *out is malloc'd (the caller frees it), NULL on failure. */
SF_API int sf_storage_canonical(const sf_storage *st, const char *path,
                                char **out, sf_error *err);
SF_API int sf_storage_remove_tree(const sf_storage *st, const char *path,
                                  sf_error *err);
/* Whether a and b name the same existing file or directory: both have a
 * canonical name and the two are equal. False when either has none. */
SF_API bool sf_storage_same(const sf_storage *st, const char *a,
                            const char *b);

/* ---- compound operations built only on the methods ---- */

/* Appends len bytes at the file's current end; *offset (may be NULL)
 * receives where they start. Not synced. */
SF_API int sf_storage_append(const sf_storage *st, sf_storage_file *file,
                             const void *buf, size_t len, uint64_t *offset,
                             sf_error *err);

/* Reads a whole regular file into a malloc'd, NUL-terminated buffer the
 * caller frees; larger than max is refused ("exceeds the N-byte limit"). */
SF_API int sf_storage_read_all(const sf_storage *st, const char *path,
                               size_t max, char **out, size_t *len,
                               sf_error *err);

/* mkdir -p (0700 for what it creates); the result must be a directory. */
SF_API int sf_storage_mkdir_p(const sf_storage *st, const char *path,
                              sf_error *err);

/* Atomic replace: creates the parent directory when missing, writes a temp
 * file `<path>.tmp.XXXXXX` (open_temp), syncs it, renames it over path and
 * syncs the directory. On failure the old file is untouched and the temp
 * is removed (best effort). */
SF_API int sf_storage_write_atomic(const sf_storage *st, const char *path,
                                   const void *data, size_t len, sf_error *err);

/* rename, then a sync of the target's directory. */
SF_API int sf_storage_rename_durable(const sf_storage *st, const char *from,
                                     const char *to, sf_error *err);

/* ---- the counting shim ---- */

/* What passed through a counting storage. */
typedef struct sf_storage_counts {
    uint64_t opens;
    uint64_t reads, bytes_read;
    uint64_t writes, bytes_written;
    uint64_t fsyncs;      /* sync with SF_STORAGE_SYNC_FULL */
    uint64_t fdatasyncs;  /* sync with SF_STORAGE_SYNC_DATA */
    uint64_t dir_syncs;   /* sync_dir */
    uint64_t renames, removes, truncates;
} sf_storage_counts;

/* A storage that forwards every call to `inner` and counts it. The caller
 * owns the struct (typically on the stack or static) and keeps `inner`
 * alive; `storage` is what callers are given. Failed calls are counted
 * too (an attempted write may have written). */
typedef struct sf_storage_counting {
    sf_storage storage;
    const sf_storage *inner;
    sf_storage_counts counts;
} sf_storage_counting;

SF_API void sf_storage_counting_init(sf_storage_counting *c,
                                     const sf_storage *inner);

#ifdef __cplusplus
}
#endif

#endif
