/*
 * snapfleet: the simulator's disk (sim/simdisk.c). A file system in memory
 * behind the storage seam (snapfleet/storage.h), driven by a seed, that
 * models what a crash keeps:
 *
 *   - file contents survive a crash only as of their last successful sync
 *     (fsync or fdatasync; the two are the same here);
 *   - a name created, renamed or removed survives only once its directory
 *     was synced (sync_dir); until then a crash brings back the old name
 *     (or none). Directories themselves are durable as soon as mkdir
 *     returns (a simplification: fs.c does not sync a new directory's
 *     parent, and the model would otherwise flag every mkdir -p);
 *   - a crash may tear the last unsynced write to a file: a prefix of it
 *     (possibly empty, never all of it) reaches the disk on top of the
 *     synced content, a gap before it reading as zeros;
 *   - a crash drops every open handle and lock: a later call through an
 *     old handle fails with EIO ("stale handle"); close still frees it.
 *
 * Faults: scripted ones fail (EIO, ENOSPC) or delay (virtual latency) the
 * Nth call of the masked methods, once or from then on; a capacity turns
 * writes past it into ENOSPC; a per-mille rate of random EIO on masked
 * methods is drawn from the seed. A failed write or truncate changes
 * nothing; a failed sync syncs nothing. Time is virtual: every call adds
 * its latency to a clock (sf_simdisk_now_ns) and nothing ever sleeps.
 *
 * Paths: one tree; "/a/b" and "a/b" name the same file; empty and "."
 * components are skipped; ".." is refused (EINVAL). There are no symbolic
 * links, so a path's canonical name (the storage's canonical method) is
 * the lexical one: "/" and the components ("/a/b"). Same seed, same
 * calls: same results, same bytes.
 *
 * Not thread-safe, on purpose: one thread at a time calls a disk (the
 * storage does not set SF_STORAGE_CONCURRENT, so the checksum hashes on
 * its caller's thread). A lock would make concurrent calls safe but not
 * reproducible: faults, random EIO and temp names count and draw per
 * call, so the order threads arrive in would change a seed's run.
 */
#ifndef SNAPFLEET_SIMDISK_H
#define SNAPFLEET_SIMDISK_H

#include "snapfleet/export.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/error.h"
#include "snapfleet/storage.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Methods, as bits of a fault's mask. */
#define SF_SIMDISK_OPEN 0x001u     /* open and open_temp */
#define SF_SIMDISK_READ 0x002u
#define SF_SIMDISK_WRITE 0x004u
#define SF_SIMDISK_SYNC 0x008u     /* sync and sync_dir */
#define SF_SIMDISK_TRUNCATE 0x010u
#define SF_SIMDISK_RENAME 0x020u
#define SF_SIMDISK_REMOVE 0x040u
#define SF_SIMDISK_MKDIR 0x080u
#define SF_SIMDISK_LIST 0x100u
#define SF_SIMDISK_ALL 0x1ffu

typedef struct sf_simdisk_options {
    int version; /* 1 */
    uint64_t seed;
    /* 0 = unlimited; else the bytes all files may hold together */
    uint64_t capacity_bytes;
    /* per crash and file with an unsynced last write: the chance, in
     * thousandths, that a prefix of that write survives */
    unsigned tear_per_mille;
    /* random EIO: the chance, in thousandths, per call of the masked
     * methods */
    unsigned eio_per_mille;
    unsigned eio_ops;
    /* virtual latency of every call, and extra for a sync */
    uint64_t latency_ns_call;
    uint64_t latency_ns_sync;
} sf_simdisk_options;

#define SF_SIMDISK_OPTIONS_INIT {1, 0, 0, 0, 0, 0, 1000, 100000}

/* A scripted fault: the nth (1-based) call of a method in `ops` counted
 * from when the fault was added fails with errnum (EIO or ENOSPC; 0 only
 * delays) after latency_ns of virtual time; persistent: that call and
 * every later one. */
typedef struct sf_simdisk_fault {
    unsigned ops;
    uint64_t nth;
    int errnum;
    uint64_t latency_ns;
    bool persistent;
} sf_simdisk_fault;

#define SF_SIMDISK_FAULTS_MAX 16

typedef struct sf_simdisk sf_simdisk;

/* Creates an empty disk (just the root directory). opts may be NULL
 * (SF_SIMDISK_OPTIONS_INIT). Free with sf_simdisk_free. */
SF_API int sf_simdisk_new(sf_simdisk **out, const sf_simdisk_options *opts,
                          sf_error *err);
/* NULL-tolerant. Handles and locks still open are freed with the disk. */
SF_API void sf_simdisk_free(sf_simdisk *disk);

/* The disk as a storage; borrowed, valid until sf_simdisk_free. */
SF_API const sf_storage *sf_simdisk_storage(sf_simdisk *disk);

/* A crash: the process's handles and locks are gone, every directory
 * holds the names it held at its last sync, every file the bytes it held
 * at its last sync, plus (tear_per_mille) a torn prefix of its last
 * unsynced write. Returns how many writes were torn. */
SF_API unsigned sf_simdisk_crash(sf_simdisk *disk);

/* A crash that tears path's last unsynced write exactly: keep bytes of it
 * survive (keep < that write's length); every other file as
 * sf_simdisk_crash with tear_per_mille 0. Refused ("usage") when path has
 * no unsynced last write or keep is not less than its length; the disk is
 * then unchanged. */
SF_API int sf_simdisk_crash_tear(sf_simdisk *disk, const char *path,
                                 size_t keep, sf_error *err);

SF_API int sf_simdisk_fault_add(sf_simdisk *disk, const sf_simdisk_fault *f,
                                sf_error *err);
SF_API void sf_simdisk_faults_clear(sf_simdisk *disk);

/* Virtual nanoseconds spent in calls since the disk was created. */
SF_API uint64_t sf_simdisk_now_ns(const sf_simdisk *disk);
/* Bytes all files hold now (what the capacity counts). */
SF_API uint64_t sf_simdisk_used_bytes(const sf_simdisk *disk);
/* Calls that failed by injection (scripted, random or capacity). */
SF_API uint64_t sf_simdisk_faults_injected(const sf_simdisk *disk);

/* ---- the overlay: the simulated disk over a real directory ----
 *
 * A storage whose names and bytes live on `real` (sf_storage_posix(): a
 * tree a test or a tool outside the seam can look at), while `disk`
 * mirrors every change made through the seam and decides what a crash
 * keeps and which calls fail. `sim run` no longer uses it (everything it
 * calls goes through the seam, so it runs on the simulated disk alone):
 *   - open for writing, open_temp, write, truncate, sync, mkdir, sync_dir,
 *     rename and remove go to the simulated disk first; a fault it injects
 *     fails the call and the real storage is not touched (a failed write
 *     changes nothing); open_temp's name is the simulated disk's (seeded);
 *   - reads, kind, info, list, list_kind, canonical and locks go to the
 *     real storage only (remove_tree is the wrapper's, one remove at a
 *     time through the overlay);
 *   - nothing ever syncs the real storage: durability is the simulated
 *     disk's, so a run costs no fsync;
 *   - a name the simulated disk never saw (made outside the seam) is
 *     changed on the real storage alone and is not tracked.
 * sf_simdisk_overlay_crash: the process dies here. The simulated disk
 * crashes (sf_simdisk_crash: only what was synced survives, a last
 * unsynced write may be torn) and every later call but close fails with
 * EIO until sf_simdisk_overlay_recover, which (once the crashed process's
 * handles are closed) writes back onto the real storage, for every name
 * changed through the seam since the last recovery, what the simulated
 * disk kept: its bytes, or its absence. The rest of the real tree is
 * what a killed process leaves (its page cache survives a kill). */

typedef struct sf_simdisk_overlay sf_simdisk_overlay;
typedef void (*sf_simdisk_crash_fn)(void *ctx);

/* `disk` and `real` are borrowed and must outlive the overlay. */
SF_API int sf_simdisk_overlay_new(sf_simdisk *disk, const sf_storage *real,
                                  sf_simdisk_overlay **out, sf_error *err);
SF_API void sf_simdisk_overlay_free(sf_simdisk_overlay *ov);
SF_API const sf_storage *sf_simdisk_overlay_storage(sf_simdisk_overlay *ov);
/* Crash now (nothing when already crashed); returns the writes torn. */
SF_API unsigned sf_simdisk_overlay_crash(sf_simdisk_overlay *ov);
/* A crash inside the nth write through the overlay from now (0: none):
 * that write lands on the simulated disk as a strict prefix of
 * keep_seed % len bytes over what was synced (sf_simdisk_crash_tear), the
 * call fails, and on_crash(ctx) (may be NULL) is told. */
SF_API void sf_simdisk_overlay_tear_at(sf_simdisk_overlay *ov, uint64_t nth,
                                       uint64_t keep_seed,
                                       sf_simdisk_crash_fn on_crash, void *ctx);
SF_API bool sf_simdisk_overlay_crashed(const sf_simdisk_overlay *ov);
/* After a crash: the real names made what the simulated disk kept, faults
 * cleared, calls succeed again. Nothing to do without a crash. */
SF_API int sf_simdisk_overlay_recover(sf_simdisk_overlay *ov, sf_error *err);

#ifdef __cplusplus
}
#endif

#endif
