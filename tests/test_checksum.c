/* Artifact checksums (spec formats-and-backup 5.2, decisions 5.7). Expected
 * hashes were computed independently with Python's hashlib. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "formats/checksum_internal.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"
#include "snapfleet/simdisk.h"
#include "snapfleet/storage.h"

#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- fixtures: one mkdtemp directory per test ---- */

typedef struct fixture {
    char root[64];
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL)
        return -1;
    snprintf(f->root, sizeof f->root, "/tmp/sf-checksum-XXXXXX");
    if (mkdtemp(f->root) == NULL) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;

    nftw(f->root, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static char *path_in(const fixture *f, const char *rel)
{
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];

    if (rel == NULL || rel[0] == '\0')
        snprintf(p, sizeof buf[0], "%s", f->root);
    else
        snprintf(p, sizeof buf[0], "%s/%s", f->root, rel);
    return p;
}

/* mkdir -p for every directory component of rel (not the last). */
static void make_parents(const fixture *f, const char *rel)
{
    char tmp[4096];

    snprintf(tmp, sizeof tmp, "%s", path_in(f, rel));
    for (char *s = tmp + strlen(f->root) + 1; *s; s++) {
        if (*s == '/') {
            *s = '\0';
            assert_true(mkdir(tmp, 0700) == 0 || errno == EEXIST);
            *s = '/';
        }
    }
}

static void write_bytes(const fixture *f, const char *rel, const void *data,
                        size_t len)
{
    FILE *fp;

    make_parents(f, rel);
    fp = fopen(path_in(f, rel), "wb");
    assert_non_null(fp);
    if (len > 0)
        assert_int_equal(fwrite(data, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static void write_text(const fixture *f, const char *rel, const char *text)
{
    write_bytes(f, rel, text, strlen(text));
}

static void make_dir(const fixture *f, const char *rel)
{
    make_parents(f, rel);
    assert_int_equal(mkdir(path_in(f, rel), 0700), 0);
}

static void assert_dir_hash(const char *path, const char *expected)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    sf_error_clear(&err);
    if (sf_checksum_dir(path, hex, &err) != SF_OK)
        fail_msg("sf_checksum_dir(%s): %s: %s", path,
                 err.kind ? err.kind : "?", err.message);
    assert_string_equal(hex, expected);
    /* The path form picks the directory algorithm too. */
    assert_int_equal(sf_checksum_path(path, hex, &err), SF_OK);
    assert_string_equal(hex, expected);
}

static void assert_fails(int rc, const sf_error *err, const char *kind,
                         const char *must_mention)
{
    assert_int_equal(rc, SF_ERR);
    assert_non_null(err->kind);
    assert_string_equal(err->kind, kind);
    if (must_mention != NULL && strstr(err->message, must_mention) == NULL)
        fail_msg("message \"%s\" does not mention \"%s\"", err->message,
                 must_mention);
}

/* ---- plain SHA-256 ---- */

static void test_sha256_bytes_vectors(void **state)
{
    char hex[SF_SHA256_HEX_SIZE];

    (void)state;
    assert_int_equal(sf_sha256_bytes("", 0, hex), SF_OK);
    assert_string_equal(hex, EMPTY_SHA256);
    assert_int_equal(sf_sha256_bytes(NULL, 0, hex), SF_OK);
    assert_string_equal(hex, EMPTY_SHA256);
    assert_int_equal(sf_sha256_bytes("abc", 3, hex), SF_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(sf_sha256_bytes("app snapshot", 12, hex), SF_OK);
    assert_string_equal(hex, "e2cac2614be96c3c77c67a808947928422533f173d2806"
                             "ef749c42265c8ca08a");
}

static void test_sha256_incremental_matches_one_shot(void **state)
{
    char a[SF_SHA256_HEX_SIZE], b[SF_SHA256_HEX_SIZE];
    sf_sha256 *h = sf_sha256_new();

    (void)state;
    assert_non_null(h);
    assert_int_equal(sf_sha256_update(h, "app ", 4), SF_OK);
    assert_int_equal(sf_sha256_update(h, "", 0), SF_OK);
    assert_int_equal(sf_sha256_update(h, "snapshot", 8), SF_OK);
    assert_int_equal(sf_sha256_final(h, a), SF_OK);
    sf_sha256_free(h);
    sf_sha256_free(NULL);
    assert_int_equal(sf_sha256_bytes("app snapshot", 12, b), SF_OK);
    assert_string_equal(a, b);
}

/* ---- file checksums ---- */

static void test_file_vector(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "snapshot.bin", "app snapshot");
    assert_int_equal(sf_checksum_file(path_in(f, "snapshot.bin"), hex, &err),
                     SF_OK);
    assert_string_equal(hex, "e2cac2614be96c3c77c67a808947928422533f173d2806"
                             "ef749c42265c8ca08a");
    assert_int_equal(sf_checksum_path(path_in(f, "snapshot.bin"), hex, &err),
                     SF_OK);
    assert_string_equal(hex, "e2cac2614be96c3c77c67a808947928422533f173d2806"
                             "ef749c42265c8ca08a");
}

/* Skipping named top-level entries gives the checksum of the directory
 * without them; the same names deeper down still count. */
static void test_dir_skipping_top_level_names(void **state)
{
    const fixture *f = *state;
    const char *skip[] = {".upload_progress.json", ".lock", NULL};
    char *a, *b, with[SF_SHA256_HEX_SIZE], without[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "a/x.bin", "memory");
    write_text(f, "a/nested/.lock", "kept");
    write_text(f, "b/x.bin", "memory");
    write_text(f, "b/nested/.lock", "kept");
    write_text(f, "b/.upload_progress.json", "{}");
    write_text(f, "b/.lock", "");
    a = strdup(path_in(f, "a")); /* path_in's buffer is shared */
    b = strdup(path_in(f, "b"));
    assert_int_equal(sf_checksum_dir(a, without, &err), SF_OK);
    assert_int_equal(sf_checksum_dir_skipping(b, skip, with, &err), SF_OK);
    assert_string_equal(with, without);
    assert_int_equal(sf_checksum_dir(b, with, &err), SF_OK);
    assert_string_not_equal(with, without);
    assert_int_equal(sf_checksum_dir_skipping(a, NULL, with, &err), SF_OK);
    assert_string_equal(with, without);
    free(a);
    free(b);
}

static void test_file_empty(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];

    write_bytes(f, "empty.bin", "", 0);
    assert_int_equal(sf_checksum_file(path_in(f, "empty.bin"), hex, NULL),
                     SF_OK);
    assert_string_equal(hex, EMPTY_SHA256);
}

/* Larger than the read buffer and not a multiple of it: the streaming loop
 * must carry the digest across reads. */
static void test_file_larger_than_buffer(void **state)
{
    fixture *f = *state;
    size_t len = 3 * SF_CHECKSUM_BUFFER + 7;
    unsigned char *data = malloc(len);
    char hex[SF_SHA256_HEX_SIZE], want[SF_SHA256_HEX_SIZE];

    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(i * 7 + 3);
    write_bytes(f, "big.bin", data, len);
    assert_int_equal(sf_sha256_bytes(data, len, want), SF_OK);
    free(data);
    assert_string_equal(want, "ae97a234a40c6485ec45d3a98121fa5ffe71520d9e30a5"
                              "0f3e65dfbdc4e7fd9a");
    assert_int_equal(sf_checksum_file(path_in(f, "big.bin"), hex, NULL),
                     SF_OK);
    assert_string_equal(hex, want);
}

static void test_file_missing_is_io(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    assert_fails(sf_checksum_file(path_in(f, "nope.bin"), hex, &err), &err,
                 "io", "nope.bin");
    assert_non_null(strstr(err.message, strerror(ENOENT)));
    assert_fails(sf_checksum_path(path_in(f, "nope"), hex, &err), &err, "io",
                 "nope");
    assert_fails(sf_checksum_dir(path_in(f, "nope"), hex, &err), &err, "io",
                 "nope");
    assert_fails(sf_checksum_file("", hex, &err), &err, "io", NULL);
    /* A NULL error pointer is allowed. */
    assert_int_equal(sf_checksum_file(path_in(f, "nope.bin"), hex, NULL),
                     SF_ERR);
}

static void test_file_on_directory_is_io(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    make_dir(f, "d");
    assert_fails(sf_checksum_file(path_in(f, "d"), hex, &err), &err, "io",
                 path_in(f, "d"));
    assert_non_null(strstr(err.message, strerror(EISDIR)));
}

static void test_dir_on_file_is_io(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "x", "1");
    assert_fails(sf_checksum_dir(path_in(f, "x"), hex, &err), &err, "io",
                 path_in(f, "x"));
    assert_non_null(strstr(err.message, strerror(ENOTDIR)));
}

/* Root reads everything, so this can only be checked as another user. */
static void test_unreadable_file_is_io(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    if (geteuid() == 0)
        skip();
    write_text(f, "art/secret.bin", "s");
    assert_int_equal(chmod(path_in(f, "art/secret.bin"), 0), 0);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err, "io",
                 "art/secret.bin");
    assert_int_equal(chmod(path_in(f, "art/secret.bin"), 0600), 0);
}

/* ---- directory checksums: the spec vectors ---- */

static void test_dir_vector_nested(void **state)
{
    fixture *f = *state;

    write_text(f, "art/a.txt", "a");
    write_text(f, "art/nested/b.txt", "b");
    assert_dir_hash(path_in(f, "art"), "e4d330f138b8f1b3044e84b5dcbe4fd1cb7e0"
                                       "43d0c20810c083d791b6de01266");
}

static void test_dir_vector_single_file(void **state)
{
    fixture *f = *state;

    write_text(f, "art/snapshot.bin", "app snapshot");
    assert_dir_hash(path_in(f, "art"), "e25f06e07b6815cc3e23d409f84b71affebc0"
                                       "5dbfb5f81f55634c6bea5976c87");
}

/* a/b sorts before a-b in Rust's component order though '-' < '/'. */
static void test_dir_vector_component_order(void **state)
{
    fixture *f = *state;

    write_text(f, "art/a/b", "1");
    write_text(f, "art/a-b", "2");
    assert_dir_hash(path_in(f, "art"), "6bae2064707687651ae1597772bb7e8988c8e"
                                       "81f773c4f225125b0d8bca507da");
}

static void test_dir_component_order_many(void **state)
{
    fixture *f = *state;
    static const char *const files[] = {"a/b/c", "a/b-c", "a b/c", "a-b",
                                        "a.b/c", "a0", "ab"};
    char rel[64];

    /* Created in reverse so the readdir order is unlikely to be sorted. */
    for (size_t i = sizeof files / sizeof files[0]; i-- > 0;) {
        snprintf(rel, sizeof rel, "art/%s", files[i]);
        write_text(f, rel, files[i]);
    }
    /* strcmp order would give a20f0f3159a3b9f1f73c7c40501a6a668e431600... */
    assert_dir_hash(path_in(f, "art"), "23e44b6deb31b025f4b53ddbd47d66b6e0fb4"
                                       "c00c7089caff20373d99ff5268a");
}

static void test_dir_empty(void **state)
{
    fixture *f = *state;

    make_dir(f, "art");
    assert_dir_hash(path_in(f, "art"), EMPTY_SHA256);
}

static void test_dir_empty_subdirs_contribute_nothing(void **state)
{
    fixture *f = *state;

    make_dir(f, "art/x/y");
    make_dir(f, "art/z");
    assert_dir_hash(path_in(f, "art"), EMPTY_SHA256);
    write_text(f, "art/snapshot.bin", "app snapshot");
    assert_dir_hash(path_in(f, "art"), "e25f06e07b6815cc3e23d409f84b71affebc0"
                                       "5dbfb5f81f55634c6bea5976c87");
}

static void test_dir_creation_order_independent(void **state)
{
    fixture *f = *state;
    char one[SF_SHA256_HEX_SIZE], two[SF_SHA256_HEX_SIZE];
    static const char *const names[] = {"m.bin", "a.bin", "z/q.bin",
                                        "b/c/d.bin", "b.bin", "0.bin"};
    const size_t n = sizeof names / sizeof names[0];
    char rel[64];

    for (size_t i = 0; i < n; i++) {
        snprintf(rel, sizeof rel, "one/%s", names[i]);
        write_text(f, rel, names[i]);
        snprintf(rel, sizeof rel, "two/%s", names[n - 1 - i]);
        write_text(f, rel, names[n - 1 - i]);
    }
    assert_int_equal(sf_checksum_dir(path_in(f, "one"), one, NULL), SF_OK);
    assert_int_equal(sf_checksum_dir(path_in(f, "two"), two, NULL), SF_OK);
    assert_string_equal(one, two);
    assert_string_not_equal(one, EMPTY_SHA256);
}

static void test_dir_content_change_changes_hash(void **state)
{
    fixture *f = *state;
    char before[SF_SHA256_HEX_SIZE], after[SF_SHA256_HEX_SIZE];

    write_text(f, "art/a.txt", "a");
    assert_int_equal(sf_checksum_dir(path_in(f, "art"), before, NULL), SF_OK);
    write_text(f, "art/a.txt", "b");
    assert_int_equal(sf_checksum_dir(path_in(f, "art"), after, NULL), SF_OK);
    assert_string_not_equal(before, after);
}

static void test_dir_hidden_files_included(void **state)
{
    fixture *f = *state;

    write_bytes(f, "art/.lock", "", 0);
    write_text(f, "art/sub/.x", "q");
    assert_dir_hash(path_in(f, "art"), "12cc62ba8c30997a45e33bc32f9d4e6d35d4e"
                                       "fe3a3f0d01db6afd6c6bc7d590e");
}

static void test_dir_trailing_slash_same_hash(void **state)
{
    fixture *f = *state;
    char slashed[4096];

    write_text(f, "art/a.txt", "a");
    write_text(f, "art/nested/b.txt", "b");
    snprintf(slashed, sizeof slashed, "%s//", path_in(f, "art"));
    assert_dir_hash(slashed, "e4d330f138b8f1b3044e84b5dcbe4fd1cb7e043d0c2081"
                             "0c083d791b6de01266");
}

/* Names that are not UTF-8 are hashed as Rust's to_string_lossy renders
 * them (one U+FFFD per maximal invalid subpart). */
static void test_dir_invalid_utf8_name(void **state)
{
    fixture *f = *state;

    write_text(f, "art/\xff", "x");
    assert_dir_hash(path_in(f, "art"), "70758b85013539791a3a73d881f6f0aa93481"
                                       "9d0c5022ad534a8c368aaab60fa");
}

static void test_dir_invalid_utf8_names_maximal_subparts(void **state)
{
    fixture *f = *state;

    write_text(f, "art/a\xe2\x82", "x");
    write_text(f, "art/\xe0\x80z", "y");
    write_text(f, "art/ok\xc3\xa9", "z");
    assert_dir_hash(path_in(f, "art"), "e09f5526cddf4879a7b735d8f6707ec5cd952"
                                       "79f6b03e0c45c5aea9d61fab4dd");
}

static void nest(const fixture *f, unsigned levels)
{
    char rel[4096] = "art";
    size_t len = 3;

    for (unsigned i = 0; i < levels; i++) {
        memcpy(rel + len, "/d", 3);
        len += 2;
    }
    memcpy(rel + len, "/f", 3);
    write_text(f, rel, "deep");
}

static void test_dir_depth_limit_allows_max(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    nest(f, SF_CHECKSUM_MAX_DEPTH);
    sf_error_clear(&err);
    assert_int_equal(sf_checksum_dir(path_in(f, "art"), hex, &err), SF_OK);
    assert_string_not_equal(hex, EMPTY_SHA256);
}

static void test_dir_depth_limit_refuses_deeper(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    nest(f, SF_CHECKSUM_MAX_DEPTH + 1);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err, "io",
                 "nested deeper");
}

/* ---- what canic follows or skips and we refuse ---- */

static void test_symlink_file_artifact_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "real.bin", "app snapshot");
    assert_int_equal(symlink(path_in(f, "real.bin"), path_in(f, "link.bin")),
                     0);
    assert_fails(sf_checksum_file(path_in(f, "link.bin"), hex, &err), &err,
                 "symlink-refused", path_in(f, "link.bin"));
    assert_fails(sf_checksum_path(path_in(f, "link.bin"), hex, &err), &err,
                 "symlink-refused", path_in(f, "link.bin"));
}

static void test_symlink_dir_artifact_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "real/a.txt", "a");
    assert_int_equal(symlink("real", path_in(f, "link")), 0);
    assert_fails(sf_checksum_dir(path_in(f, "link"), hex, &err), &err,
                 "symlink-refused", path_in(f, "link"));
    assert_fails(sf_checksum_path(path_in(f, "link"), hex, &err), &err,
                 "symlink-refused", path_in(f, "link"));
}

/* "link/" would make the kernel follow the link despite O_NOFOLLOW. */
static void test_symlink_dir_artifact_trailing_slash_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE], slashed[4096];
    sf_error err;

    write_text(f, "real/a.txt", "a");
    assert_int_equal(symlink("real", path_in(f, "link")), 0);
    snprintf(slashed, sizeof slashed, "%s/", path_in(f, "link"));
    assert_fails(sf_checksum_dir(slashed, hex, &err), &err,
                 "symlink-refused", path_in(f, "link"));
    assert_fails(sf_checksum_path(slashed, hex, &err), &err,
                 "symlink-refused", path_in(f, "link"));
}

static void test_symlink_inside_dir_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "outside.txt", "secret");
    write_text(f, "art/a.txt", "a");
    assert_int_equal(symlink(path_in(f, "outside.txt"),
                             path_in(f, "art/leak.txt")),
                     0);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err,
                 "symlink-refused", "art/leak.txt");
}

static void test_symlink_to_dir_nested_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "elsewhere/x.txt", "x");
    make_dir(f, "art/wasm_chunk_store");
    assert_int_equal(symlink("../../elsewhere",
                             path_in(f, "art/wasm_chunk_store/more")),
                     0);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err,
                 "symlink-refused", "art/wasm_chunk_store/more");
}

/* canic skips a dangling link silently; we still refuse it. */
static void test_broken_symlink_inside_dir_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "art/a.txt", "a");
    assert_int_equal(symlink("does-not-exist", path_in(f, "art/dangling")), 0);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err,
                 "symlink-refused", "art/dangling");
}

static void test_fifo_inside_dir_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    write_text(f, "art/a.txt", "a");
    assert_int_equal(mkfifo(path_in(f, "art/pipe"), 0600), 0);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err,
                 "unsupported-file-type", "art/pipe");
    assert_non_null(strstr(err.message, "fifo"));
}

/* Must fail at once rather than block opening the fifo. */
static void test_fifo_as_artifact_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    assert_int_equal(mkfifo(path_in(f, "pipe"), 0600), 0);
    assert_fails(sf_checksum_file(path_in(f, "pipe"), hex, &err), &err,
                 "unsupported-file-type", "pipe");
    assert_fails(sf_checksum_path(path_in(f, "pipe"), hex, &err), &err,
                 "unsupported-file-type", "pipe");
}

static void test_socket_inside_dir_refused(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    struct sockaddr_un addr;
    sf_error err;
    int fd;

    make_dir(f, "art");
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_in(f, "art/s"));
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    close(fd);
    assert_fails(sf_checksum_dir(path_in(f, "art"), hex, &err), &err,
                 "unsupported-file-type", "art/s");
    assert_non_null(strstr(err.message, "socket"));
}

static void test_device_as_artifact_refused(void **state)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    (void)state;
    assert_fails(sf_checksum_path("/dev/null", hex, &err), &err,
                 "unsupported-file-type", "/dev/null");
    assert_non_null(strstr(err.message, "character device"));
}

/* ---- verify ---- */

static void test_verify_ok(void **state)
{
    sf_error err;

    (void)state;
    sf_error_clear(&err);
    assert_int_equal(sf_checksum_verify("sha256", EMPTY_SHA256, EMPTY_SHA256,
                                        &err),
                     SF_OK);
    assert_null(err.kind);
}

static void test_verify_unsupported_algorithm(void **state)
{
    sf_error err;

    (void)state;
    assert_fails(sf_checksum_verify("md5", EMPTY_SHA256, EMPTY_SHA256, &err),
                 &err, "unsupported-algorithm", "md5");
    /* Exact spelling only. */
    assert_fails(sf_checksum_verify("SHA256", EMPTY_SHA256, EMPTY_SHA256,
                                    &err),
                 &err, "unsupported-algorithm", "SHA256");
    assert_fails(sf_checksum_verify(NULL, EMPTY_SHA256, EMPTY_SHA256, &err),
                 &err, "unsupported-algorithm", NULL);
}

static void test_verify_mismatch_message(void **state)
{
    sf_error err;
    const char *other =
        "e2cac2614be96c3c77c67a808947928422533f173d2806ef749c42265c8ca08a";

    (void)state;
    assert_fails(sf_checksum_verify("sha256", other, EMPTY_SHA256, &err),
                 &err, "checksum-mismatch", NULL);
    assert_string_equal(err.message,
                        "checksum mismatch: expected e2cac2614be96c3c77c67a80"
                        "8947928422533f173d2806ef749c42265c8ca08a, actual "
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495"
                        "991b7852b855");
}

/* Manifests may hold upper-case hex, but the comparison is exact. */
static void test_verify_is_case_sensitive(void **state)
{
    sf_error err;

    (void)state;
    assert_fails(sf_checksum_verify("sha256",
                                     "E3B0C44298FC1C149AFBF4C8996FB92427AE41"
                                     "E4649B934CA495991B7852B855",
                                     EMPTY_SHA256, &err),
                 &err, "checksum-mismatch", NULL);
    assert_fails(sf_checksum_verify("sha256", NULL, EMPTY_SHA256, &err), &err,
                 "checksum-mismatch", NULL);
}

/* ---- the comparator and the lossy conversion ---- */

static void test_path_cmp_component_order(void **state)
{
    static const char *const sorted[] = {"a/b",  "a/b/c", "a/b-c",
                                         "a b/c", "a-b",  "a.b",
                                         "a.b/c", "a0",   "ab"};
    const size_t n = sizeof sorted / sizeof sorted[0];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            int c = sf_path_cmp_components(sorted[i], sorted[j]);

            if ((i < j && c >= 0) || (i > j && c <= 0) || (i == j && c != 0))
                fail_msg("cmp(%s, %s) = %d", sorted[i], sorted[j], c);
        }
    }
}

static void test_path_cmp_edges(void **state)
{
    (void)state;
    assert_int_equal(sf_path_cmp_components("", ""), 0);
    assert_true(sf_path_cmp_components("", "a") < 0);
    assert_true(sf_path_cmp_components("a", "") > 0);
    /* A component that is a prefix of the other sorts first. */
    assert_true(sf_path_cmp_components("ab/c", "abc") < 0);
    assert_true(sf_path_cmp_components("a/z", "a\x01") < 0);
    /* Bytes compare unsigned: 0xff above ASCII. */
    assert_true(sf_path_cmp_components("a\xff", "az") > 0);
    assert_true(sf_path_cmp_components("\xff/a", "\xff") > 0);
    /* Where plain strcmp disagrees. */
    assert_true(strcmp("a-b", "a/b") < 0);
    assert_true(sf_path_cmp_components("a-b", "a/b") > 0);
}

static void assert_lossy(const char *in, size_t len, const char *want)
{
    sf_buf b;

    sf_buf_init(&b);
    assert_int_equal(sf_utf8_lossy(in, len, &b), SF_OK);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(sf_buf_cstr(&b), want, b.len);
    sf_buf_free(&b);
}

#define FFFD "\xef\xbf\xbd"

/* Expected outputs from Python's bytes.decode("utf-8", "replace"), which
 * follows the same maximal-subpart rule as Rust. */
static void test_utf8_lossy_cases(void **state)
{
    (void)state;
    assert_lossy("", 0, "");
    assert_lossy("plain/ascii.bin", 15, "plain/ascii.bin");
    assert_lossy("ok\xc3\xa9", 4, "ok\xc3\xa9");
    assert_lossy("\xf0\x9f\x98\x80", 4, "\xf0\x9f\x98\x80");
    assert_lossy("\xff", 1, FFFD);
    assert_lossy("a\xe2\x82", 3, "a" FFFD);              /* truncated */
    assert_lossy("\xe0\x80z", 3, FFFD FFFD "z");         /* overlong */
    assert_lossy("\xed\xa0\x80", 3, FFFD FFFD FFFD);     /* surrogate */
    assert_lossy("\xf4\x90\x80\x80", 4, FFFD FFFD FFFD FFFD); /* >10FFFF */
    assert_lossy("\xf0\x9f\x98", 3, FFFD);               /* truncated 4 */
    assert_lossy("\xc0\xaf", 2, FFFD FFFD);
    assert_lossy("\xf8\x88\x80\x80\x80", 5, FFFD FFFD FFFD FFFD FFFD);
    assert_lossy("\x80\x80", 2, FFFD FFFD);
    assert_lossy("a\xf1\x80\x80" "b", 5, "a" FFFD "b");
    assert_lossy("\xe2\x82\xac\xe2\x82", 5, "\xe2\x82\xac" FFFD);
}


/* ---- hashing on several threads ---- */

/* Files of this size fail to read ("cannot read P: Input/output error")
 * through the storage failing_reads installs: POSIX, but for that, and as
 * concurrent as POSIX, so the helper threads read through it. */
#define FAIL_SIZE 777

struct sf_storage_file {
    sf_storage_file *posix;
    char path[];
};

static int fr_open(void *ctx, const char *path, unsigned flags,
                   sf_storage_file **out, sf_error *err)
{
    size_t n = strlen(path) + 1;
    sf_storage_file *f = malloc(sizeof *f + n);

    (void)ctx;
    assert_non_null(f);
    memcpy(f->path, path, n);
    if (sf_storage_open(sf_storage_posix(), path, flags, &f->posix, err) !=
        SF_OK) {
        free(f);
        return SF_ERR;
    }
    *out = f;
    return SF_OK;
}

static int fr_close(void *ctx, sf_storage_file *f, sf_error *err)
{
    int rc = sf_storage_close(sf_storage_posix(), &f->posix, err);

    (void)ctx;
    free(f);
    return rc;
}

static int fr_size(void *ctx, sf_storage_file *f, uint64_t *out, sf_error *err)
{
    (void)ctx;
    return sf_storage_size(sf_storage_posix(), f->posix, out, err);
}

static int fr_read(void *ctx, sf_storage_file *f, uint64_t offset, void *buf,
                   size_t len, size_t *got, sf_error *err)
{
    uint64_t size = 0;

    (void)ctx;
    if (sf_storage_size(sf_storage_posix(), f->posix, &size, err) != SF_OK)
        return SF_ERR;
    if (size == FAIL_SIZE)
        return sf_error_set_errno(err, EIO, "", "cannot read %s", f->path);
    return sf_storage_read(sf_storage_posix(), f->posix, offset, buf, len, got,
                           err);
}

static sf_storage failing;

static void failing_reads(bool on)
{
    if (!on) {
        sf_fs_set_storage(NULL);
        return;
    }
    failing = *sf_storage_posix();
    failing.name = "failing-reads";
    failing.open = fr_open;
    failing.open_temp = NULL;
    failing.close = fr_close;
    failing.size = fr_size;
    failing.read = fr_read;
    failing.write = NULL;
    failing.truncate = NULL;
    failing.sync = NULL;
    assert_true(sf_storage_concurrent(&failing));
    sf_fs_set_storage(&failing);
}

static void write_sized(const fixture *f, const char *rel, size_t len,
                        unsigned seed)
{
    unsigned char *data = malloc(len + 1);

    assert_non_null(data);
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)(seed * 31u + i * 7u + (i >> 9));
    write_bytes(f, rel, data, len);
    free(data);
}

/* Hash of `path` with n threads and every file sent to the pool (min 0),
 * or the default hand-off size when min_default. */
static int hash_with(const char *path, unsigned n, bool min_default,
                     char hex[SF_SHA256_HEX_SIZE], sf_error *err)
{
    size_t saved = sf_checksum_parallel_min;
    int rc;

    sf_checksum_set_threads(n);
    sf_checksum_parallel_min = min_default ? SF_CHECKSUM_BUFFER : 0;
    sf_error_clear(err);
    rc = sf_checksum_dir(path, hex, err);
    sf_checksum_parallel_min = saved;
    sf_checksum_set_threads(0);
    return rc;
}

static void test_threads_setting(void **state)
{
    (void)state;
    sf_checksum_set_threads(3);
    assert_int_equal(sf_checksum_threads(), 3);
    sf_checksum_set_threads(1);
    assert_int_equal(sf_checksum_threads(), 1);
    sf_checksum_set_threads(SF_CHECKSUM_MAX_THREADS + 50);
    assert_int_equal(sf_checksum_threads(), SF_CHECKSUM_MAX_THREADS);
    sf_checksum_set_threads(0);
    assert_in_range(sf_checksum_threads(), 1, SF_CHECKSUM_MAX_THREADS);
}

/* Many files of many sizes in nested directories: every thread count gives
 * the one-thread digest, whichever thread hashed which file. */
static void test_pool_same_digest_as_one_thread(void **state)
{
    fixture *f = *state;
    char one[SF_SHA256_HEX_SIZE], hex[SF_SHA256_HEX_SIZE];
    static const unsigned counts[] = {2, 3, 4, SF_CHECKSUM_MAX_THREADS};
    sf_error err;

    for (unsigned i = 0; i < 240; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "art/d%u/e%u/f%u.bin", i % 7, i % 3, i);
        write_sized(f, rel, (i * 613u) % 9000u, i);
    }
    assert_int_equal(hash_with(path_in(f, "art"), 1, true, one, &err), SF_OK);
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
        for (int round = 0; round < 5; round++) {
            assert_int_equal(hash_with(path_in(f, "art"), counts[c], false,
                                       hex, &err),
                             SF_OK);
            assert_string_equal(hex, one);
        }
    }
    /* Changing one byte of one file still changes the digest. */
    write_sized(f, "art/d3/e1/f10.bin", 6130, 99);
    assert_int_equal(hash_with(path_in(f, "art"), 4, false, hex, &err), SF_OK);
    assert_string_not_equal(hex, one);
}

/* With the default hand-off size the pool starts at the first large file,
 * after small files were hashed on the walker: the digest is unchanged. */
static void test_pool_starts_mid_walk(void **state)
{
    fixture *f = *state;
    char one[SF_SHA256_HEX_SIZE], hex[SF_SHA256_HEX_SIZE];
    sf_error err;

    for (unsigned i = 0; i < 20; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "art/small/c%02u", i);
        write_sized(f, rel, 100 + i, i);
    }
    write_sized(f, "art/stable_memory.bin", SF_CHECKSUM_BUFFER + 4097, 1);
    write_sized(f, "art/wasm_memory.bin", 2 * SF_CHECKSUM_BUFFER + 5, 2);
    write_sized(f, "art/z/heap.bin", SF_CHECKSUM_BUFFER, 3);
    assert_int_equal(hash_with(path_in(f, "art"), 1, true, one, &err), SF_OK);
    assert_int_equal(hash_with(path_in(f, "art"), 4, true, hex, &err), SF_OK);
    assert_string_equal(hex, one);
    assert_int_equal(hash_with(path_in(f, "art"), 2, true, hex, &err), SF_OK);
    assert_string_equal(hex, one);
}

/* Reports what the one-thread walk reports for the same tree, several times
 * over (the helpers finish in varying order). */
static void assert_same_error_as_one_thread(const char *path,
                                            const char *kind,
                                            const char *must_mention)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error first, err;

    assert_fails(hash_with(path, 1, true, hex, &first), &first, kind,
                 must_mention);
    for (int round = 0; round < 10; round++) {
        for (unsigned n = 2; n <= 4; n++) {
            assert_fails(hash_with(path, n, false, hex, &err), &err, kind,
                         must_mention);
            assert_string_equal(err.message, first.message);
        }
    }
}

/* Several unreadable files: the error names the first one in walk order,
 * as with one thread, not whichever helper failed first. */
static void test_pool_reports_first_failed_file(void **state)
{
    fixture *f = *state;

    for (unsigned i = 0; i < 60; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "art/d%u/f%02u.bin", i % 4, i);
        write_sized(f, rel, (i % 9 == 5) ? FAIL_SIZE : 2000 + i, i);
    }
    failing_reads(true);
    assert_same_error_as_one_thread(path_in(f, "art"), "io", "cannot read");
    failing_reads(false);
}

/* A bad file among the hashed ones and a fifo met later by the walk: the
 * file's error wins, as with one thread; and the other way round. */
static void test_pool_file_error_and_walk_error_ordered(void **state)
{
    fixture *f = *state;

    for (unsigned i = 0; i < 30; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "art/f%02u.bin", i);
        write_sized(f, rel, i == 17 ? FAIL_SIZE : 3000 + i, i);
    }
    assert_int_equal(mkfifo(path_in(f, "art/pipe"), 0600), 0);
    failing_reads(true);
    {
        char hex[SF_SHA256_HEX_SIZE];
        sf_error first;
        const char *kind;

        /* Which of the two the walk meets first depends on readdir order;
         * whichever it is, every thread count agrees. */
        assert_int_equal(hash_with(path_in(f, "art"), 1, true, hex, &first),
                         SF_ERR);
        kind = first.kind;
        assert_true(strcmp(kind, "io") == 0 ||
                    strcmp(kind, "unsupported-file-type") == 0);
        assert_same_error_as_one_thread(path_in(f, "art"), kind, NULL);
    }
    failing_reads(false);
}

/* A failure stops the walk: nothing after it is reported, and no
 * descriptor or thread is left behind (ASan and the fd count say so). */
static void test_pool_failure_leaves_nothing_open(void **state)
{
    fixture *f = *state;
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;
    int probe_before, probe_after;

    for (unsigned i = 0; i < 100; i++) {
        char rel[64];

        snprintf(rel, sizeof rel, "art/f%03u.bin", i);
        write_sized(f, rel, i == 3 ? FAIL_SIZE : 1500, i);
    }
    probe_before = dup(0);
    close(probe_before);
    failing_reads(true);
    assert_fails(hash_with(path_in(f, "art"), 4, false, hex, &err), &err,
                 "io", "cannot read");
    failing_reads(false);
    assert_non_null(strstr(err.message, "f003.bin"));
    assert_non_null(strstr(err.message, strerror(EIO)));
    probe_after = dup(0);
    close(probe_after);
    assert_int_equal(probe_after, probe_before);
}


/* ---- over the simulated disk (sf_fs_set_storage) ---- */

/* Writes rel under root on storage st (parents made). */
static void put_on(const sf_storage *st, const char *root, const char *rel,
                   const void *data, size_t len)
{
    char p[512], *slash;
    sf_storage_file *f = NULL;
    sf_error err;

    snprintf(p, sizeof p, "%s/%s", root, rel);
    slash = strrchr(p, '/');
    *slash = '\0';
    assert_int_equal(sf_storage_mkdir_p(st, p, &err), SF_OK);
    *slash = '/';
    assert_int_equal(sf_storage_open(st, p, SF_STORAGE_WRITE | SF_STORAGE_CREATE |
                                     SF_STORAGE_TRUNCATE, &f, &err), SF_OK);
    assert_int_equal(sf_storage_write(st, f, 0, data, len, &err), SF_OK);
    assert_int_equal(sf_storage_close(st, &f, &err), SF_OK);
}

/* The same artifact tree on storage st under root: a large file (more
 * than one read), an empty one, nested directories, a skipped name. */
static void make_tree_on(const sf_storage *st, const char *root)
{
    size_t big = SF_CHECKSUM_BUFFER + 5;
    unsigned char *data = malloc(big);

    assert_non_null(data);
    for (size_t i = 0; i < big; i++)
        data[i] = (unsigned char)(i * 13u + (i >> 11));
    put_on(st, root, "wasm_memory.bin", data, big);
    put_on(st, root, "metadata.json", "{}", 2);
    put_on(st, root, "empty.bin", "", 0);
    put_on(st, root, "wasm_chunk_store/a", "chunk a", 7);
    put_on(st, root, "wasm_chunk_store/deeper/b", "chunk b", 7);
    put_on(st, root, ".icp-progress", "skip me", 7);
    free(data);
}

static sf_simdisk *install_simdisk(void)
{
    sf_simdisk *d = NULL;
    sf_error err;

    assert_int_equal(sf_simdisk_new(&d, NULL, &err), SF_OK);
    sf_fs_set_storage(sf_simdisk_storage(d));
    return d;
}

static void uninstall_simdisk(sf_simdisk *d)
{
    sf_fs_set_storage(NULL);
    sf_simdisk_free(d);
}

/* The digests of a tree on the simulated disk are those of the same tree
 * on POSIX: directory, directory skipping a name, file, path. */
static void test_simdisk_same_digests_as_posix(void **state)
{
    static const char *const skip[] = {".icp-progress", NULL};
    fixture *f = *state;
    char want[4][SF_SHA256_HEX_SIZE], got[SF_SHA256_HEX_SIZE];
    sf_simdisk *d;
    sf_error err;

    make_tree_on(sf_storage_posix(), path_in(f, "art"));
    assert_int_equal(sf_checksum_dir(path_in(f, "art"), want[0], &err), SF_OK);
    assert_int_equal(sf_checksum_dir_skipping(path_in(f, "art"), skip, want[1],
                                              &err), SF_OK);
    assert_int_equal(sf_checksum_file(path_in(f, "art/wasm_memory.bin"),
                                      want[2], &err), SF_OK);
    assert_int_equal(sf_checksum_path(path_in(f, "art/empty.bin"), want[3],
                                      &err), SF_OK);
    assert_string_not_equal(want[0], want[1]);
    d = install_simdisk();
    make_tree_on(sf_simdisk_storage(d), "/sim/art");
    assert_int_equal(sf_checksum_dir("/sim/art/", got, &err), SF_OK);
    assert_string_equal(got, want[0]);
    assert_int_equal(sf_checksum_path("/sim/art", got, &err), SF_OK);
    assert_string_equal(got, want[0]);
    assert_int_equal(sf_checksum_dir_skipping("/sim/art", skip, got, &err),
                     SF_OK);
    assert_string_equal(got, want[1]);
    assert_int_equal(sf_checksum_file("/sim/art/wasm_memory.bin", got, &err),
                     SF_OK);
    assert_string_equal(got, want[2]);
    assert_int_equal(sf_checksum_path("/sim/art/empty.bin", got, &err), SF_OK);
    assert_string_equal(got, want[3]);
    uninstall_simdisk(d);
}

/* Every refusal over the simulated disk, with the POSIX messages. */
static void test_simdisk_errors(void **state)
{
    char hex[SF_SHA256_HEX_SIZE], rel[4 * (SF_CHECKSUM_MAX_DEPTH + 2)];
    sf_simdisk_fault fault = {SF_SIMDISK_READ, 1, EIO, 0, false};
    const sf_storage *st;
    sf_simdisk *d;
    sf_error err;
    size_t n = 0;

    (void)state;
    d = install_simdisk();
    st = sf_simdisk_storage(d);
    make_tree_on(st, "/sim/art");
    assert_fails(sf_checksum_dir("/sim/none", hex, &err), &err, "io",
                 "cannot stat /sim/none");
    assert_non_null(strstr(err.message, strerror(ENOENT)));
    assert_fails(sf_checksum_file("/sim/art", hex, &err), &err, "io",
                 strerror(EISDIR));
    assert_fails(sf_checksum_dir("/sim/art/metadata.json", hex, &err), &err,
                 "io", strerror(ENOTDIR));
    assert_fails(sf_checksum_path("/sim/art/metadata.json/x", hex, &err), &err,
                 "io", "cannot stat");
    assert_int_equal(sf_simdisk_fault_add(d, &fault, &err), SF_OK);
    assert_fails(sf_checksum_file("/sim/art/metadata.json", hex, &err), &err,
                 "io", "cannot read /sim/art/metadata.json");
    assert_non_null(strstr(err.message, strerror(EIO)));
    sf_simdisk_faults_clear(d);
    fault.ops = SF_SIMDISK_LIST;
    fault.nth = 2;
    assert_int_equal(sf_simdisk_fault_add(d, &fault, &err), SF_OK);
    assert_fails(sf_checksum_dir("/sim/art", hex, &err), &err, "io",
                 "cannot read directory /sim/art/wasm_chunk_store");
    sf_simdisk_faults_clear(d);
    fault.ops = SF_SIMDISK_OPEN;
    fault.nth = 1;
    assert_int_equal(sf_simdisk_fault_add(d, &fault, &err), SF_OK);
    assert_fails(sf_checksum_dir("/sim/art", hex, &err), &err, "io",
                 "cannot open /sim/art/");
    sf_simdisk_faults_clear(d);
    /* nested deeper than the limit */
    for (unsigned i = 0; i <= SF_CHECKSUM_MAX_DEPTH + 1; i++)
        n += (size_t)snprintf(rel + n, sizeof rel - n, "d/");
    snprintf(rel + n, sizeof rel - n, "f");
    put_on(st, "/sim/deep", rel, "x", 1);
    assert_fails(sf_checksum_dir("/sim/deep", hex, &err), &err, "io",
                 "nested deeper than");
    uninstall_simdisk(d);
}

/* The simulated disk is called from one thread only, even with a pool of
 * helpers configured: a fault on its third read always hits the same
 * file (with helpers, whichever thread read third would decide). */
static void test_simdisk_hashes_on_one_thread(void **state)
{
    sf_simdisk_fault fault = {SF_SIMDISK_READ, 3, EIO, 0, false};
    char hex[SF_SHA256_HEX_SIZE], first[SF_ERROR_MESSAGE_MAX] = "";
    const sf_storage *st;
    sf_simdisk *d;
    sf_error err;

    (void)state;
    d = install_simdisk();
    st = sf_simdisk_storage(d);
    for (unsigned i = 0; i < 24; i++) {
        char rel[32], data[64];

        snprintf(rel, sizeof rel, "d%u/f%02u", i % 3, i);
        memset(data, 'a' + (int)i, sizeof data);
        put_on(st, "/sim/many", rel, data, sizeof data);
    }
    for (int round = 0; round < 20; round++) {
        sf_simdisk_faults_clear(d);
        assert_int_equal(sf_simdisk_fault_add(d, &fault, &err), SF_OK);
        assert_int_equal(hash_with("/sim/many", 4, false, hex, &err), SF_ERR);
        if (round == 0)
            snprintf(first, sizeof first, "%s", err.message);
        assert_string_equal(err.message, first);
    }
    sf_simdisk_faults_clear(d);
    uninstall_simdisk(d);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static int pool_on(void **state)
{
    (void)state;
    sf_checksum_set_threads(4);
    sf_checksum_parallel_min = 0;
    return 0;
}

static int pool_off(void **state)
{
    (void)state;
    sf_checksum_set_threads(0);
    sf_checksum_parallel_min = SF_CHECKSUM_BUFFER;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256_bytes_vectors),
        cmocka_unit_test(test_sha256_incremental_matches_one_shot),
        T(test_file_vector),
        T(test_dir_skipping_top_level_names),
        T(test_file_empty),
        T(test_file_larger_than_buffer),
        T(test_file_missing_is_io),
        T(test_file_on_directory_is_io),
        T(test_dir_on_file_is_io),
        T(test_unreadable_file_is_io),
        T(test_dir_vector_nested),
        T(test_dir_vector_single_file),
        T(test_dir_vector_component_order),
        T(test_dir_component_order_many),
        T(test_dir_empty),
        T(test_dir_empty_subdirs_contribute_nothing),
        T(test_dir_creation_order_independent),
        T(test_dir_content_change_changes_hash),
        T(test_dir_hidden_files_included),
        T(test_dir_trailing_slash_same_hash),
        T(test_dir_invalid_utf8_name),
        T(test_dir_invalid_utf8_names_maximal_subparts),
        T(test_dir_depth_limit_allows_max),
        T(test_dir_depth_limit_refuses_deeper),
        T(test_symlink_file_artifact_refused),
        T(test_symlink_dir_artifact_refused),
        T(test_symlink_dir_artifact_trailing_slash_refused),
        T(test_symlink_inside_dir_refused),
        T(test_symlink_to_dir_nested_refused),
        T(test_broken_symlink_inside_dir_refused),
        T(test_fifo_inside_dir_refused),
        T(test_fifo_as_artifact_refused),
        T(test_socket_inside_dir_refused),
        cmocka_unit_test(test_device_as_artifact_refused),
        cmocka_unit_test(test_verify_ok),
        cmocka_unit_test(test_verify_unsupported_algorithm),
        cmocka_unit_test(test_verify_mismatch_message),
        cmocka_unit_test(test_verify_is_case_sensitive),
        cmocka_unit_test(test_path_cmp_component_order),
        cmocka_unit_test(test_path_cmp_edges),
        cmocka_unit_test(test_utf8_lossy_cases),
        cmocka_unit_test(test_threads_setting),
        T(test_pool_same_digest_as_one_thread),
        T(test_pool_starts_mid_walk),
        T(test_pool_reports_first_failed_file),
        T(test_pool_file_error_and_walk_error_ordered),
        T(test_pool_failure_leaves_nothing_open),
        T(test_simdisk_same_digests_as_posix),
        cmocka_unit_test(test_simdisk_errors),
        cmocka_unit_test(test_simdisk_hashes_on_one_thread),
    };
    int failed;

    /* Everything once as configured by default, then again with every file
     * of every directory hashed on a pool of four threads, so the spec
     * vectors and every refusal hold on the parallel path too. */
    failed = cmocka_run_group_tests_name("default threads", tests, NULL, NULL);
    failed += cmocka_run_group_tests_name("pool of four", tests, pool_on,
                                          pool_off);
    return failed;
}
