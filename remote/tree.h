/* An artifact's tree: the directories and regular files under an artifact
 * directory (or the artifact itself, when it is one file), sorted by path,
 * each file with its size and SHA-256. Symbolic links and other file types
 * are refused: artifacts are never followed through links. */
#ifndef SNAPFLEET_REMOTE_TREE_H
#define SNAPFLEET_REMOTE_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapfleet/checksum.h"
#include "snapfleet/error.h"

#define SF_TREE_PATH_MAX 4096
#define SF_TREE_ENTRIES_MAX 100000

typedef struct sf_tree_entry {
    char type;       /* 'D' directory, 'F' file */
    char *rel;       /* relative path; "" for an artifact that is one file */
    uint64_t size;
    char sha256[SF_SHA256_HEX_SIZE];
} sf_tree_entry;

typedef struct sf_tree {
    sf_tree_entry *e;
    size_t n, cap;
} sf_tree;

/* Lists path (and hashes every file when hash is true, as sf_tree_hash). */
int sf_tree_scan(const char *path, bool hash, sf_tree *t, sf_error *err);
/* Hashes every file of t, listed from path, on up to
 * sf_checksum_threads() threads; the error is the first in tree order, as
 * with one thread. t is left as it is on an error (some hashes filled). */
int sf_tree_hash(const char *path, sf_tree *t, sf_error *err);
void sf_tree_free(sf_tree *t);

/* The artifact checksum (snapfleet/checksum.h) of a hashed tree, from its
 * files' SHA-256s: the SHA-256 of the file when the artifact is one file,
 * else the directory digest (paths in component-wise order), byte for byte
 * what sf_checksum_path gives for the same bytes, without reading them
 * again. */
int sf_tree_checksum(const sf_tree *t, char out_hex[SF_SHA256_HEX_SIZE], sf_error *err);

/* A relative path an index may name: '/'-separated, no empty, "." or ".."
 * component, no leading or trailing '/', no NUL or '\\', at most
 * SF_TREE_PATH_MAX bytes. */
bool sf_tree_safe_rel(const char *s);

#endif
