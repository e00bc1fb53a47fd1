/*
 * Directory walks over the storage seam (sf_fs_storage(), snapfleet/fs.h):
 * what the engine used opendir, fstatat and lstat for. A listing comes back
 * whole and sorted before the caller looks at it, so a caller may create or
 * remove names while it works through one (the simulated disk's directories
 * move under a live listing) and the order does not depend on the storage.
 */
#ifndef SNAPFLEET_ENGINE_WALK_H
#define SNAPFLEET_ENGINE_WALK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"
#include "snapfleet/storage.h"

typedef struct sf_walk_entry {
    char *name;
    sf_storage_kind kind; /* a link's own kind: SF_STORAGE_OTHER */
} sf_walk_entry;

typedef struct sf_walk_dir {
    sf_walk_entry *v;
    size_t n;
} sf_walk_dir;

/* dir's entries (no "." or ".."), sorted by name, each with its kind as
 * the listing saw it (sf_storage_list_kind: never ABSENT; an entry gone
 * while listed is left out). SF_ERR when the listing fails (the seam's
 * error: "cannot read directory DIR: reason") or memory runs out
 * ("out-of-memory"); *out is then empty. */
int sf_walk_read(const char *dir, sf_walk_dir *out, sf_error *err);
void sf_walk_dir_free(sf_walk_dir *d);
/* The same for a directory a user names (the backup root, a backup
 * directory): a symbolic link there is followed, as opendir follows it.
 * Nothing below it ever is. */
int sf_walk_read_through(const char *dir, sf_walk_dir *out, sf_error *err);

/* Whether path names anything, a symbolic link included (not followed);
 * false when that cannot be told. */
bool sf_walk_exists(const char *path);

/* The size of the regular file path (a link is not followed; anything but
 * a regular file is refused: "PATH: not a regular file"). */
int sf_walk_file_size(const char *path, uint64_t *out, sf_error *err);

/* Whether name (an entry at depth, 0 for path's own entries) is left out. */
typedef bool (*sf_walk_skip_fn)(const char *name, int depth);

/* The bytes of the regular files under path (path itself when it is one),
 * links not followed, directories below depth_max not entered, names skip
 * says yes to left out (skip may be NULL). What cannot be read counts
 * nothing; SF_ERR only when memory runs out ("out-of-memory"), so a
 * shortage is never mistaken for a smaller tree. */
int sf_walk_bytes(const char *path, int depth_max, sf_walk_skip_fn skip,
                  uint64_t *out, sf_error *err);

/* When err's message begins with `was`, that beginning becomes the
 * formatted text and the rest (": " and the reason) stays: the seam's
 * "cannot read directory X: Permission denied" told as the caller always
 * told it. Other messages are left alone. Returns SF_ERR. */
int sf_walk_reword(sf_error *err, const char *was, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
