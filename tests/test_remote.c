/* libsnapfleet-remote's parts that need no server: the objects index a
 * pull reads (every refusal names its field), the artifact tree push
 * uploads (sorted, hashed, links refused) and the path rule both use. The
 * push/pull cycle against the local server is tests/cli/s3.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "remote/remote_internal.h"
#include "remote/tree.h"
#include "snapfleet/checksum.h"
#include "snapfleet/fs.h"

#define H64A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define H64B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static char *index_text(const char *documents, const char *artifacts)
{
    static char text[8192];

    snprintf(text, sizeof text,
             "{\"format\": \"snapfleet-remote-objects\", \"version\": 1, \"backup\": \"b1\", "
             "\"documents\": %s, \"artifacts\": %s}", documents, artifacts);
    return text;
}

static void test_remote_index__valid(void **state)
{
    const char *t = index_text(
        "[\"backup-plan.json\", \"download-journal.json\"]",
        "[{\"path\": \"c1\", \"checksum\": \"" H64A "\", \"dirs\": [\"d\", \"d/e\"], "
        "\"files\": [{\"path\": \"d/e/f.bin\", \"size\": 9007199254740992, \"sha256\": \"" H64B
        "\"}, {\"path\": \"m.json\", \"size\": 0, \"sha256\": \"" H64A "\"}]}, "
        "{\"path\": \"one\", \"checksum\": \"" H64B "\", \"dirs\": [], \"files\": "
        "[{\"path\": \"\", \"size\": 3, \"sha256\": \"" H64B "\"}]}]");
    sf_remote_index x;
    sf_error err;

    (void)state;
    assert_int_equal(sf_remote_index_parse(t, strlen(t), &x, &err), 0);
    assert_string_equal(x.name, "b1");
    assert_int_equal(x.ndocs, 2);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.a[0].path, "c1");
    assert_int_equal(x.a[0].ndirs, 2);
    assert_int_equal(x.a[0].nfiles, 2);
    assert_true(x.a[0].files[0].size == (1ull << 53));
    assert_string_equal(x.a[0].files[1].sha256, H64A);
    assert_string_equal(x.a[1].files[0].path, "");
    sf_remote_index_free(&x);
    sf_remote_index_free(NULL);
}

static void refused(const char *docs, const char *arts, const char *kind, const char *field)
{
    const char *t = index_text(docs, arts);
    sf_remote_index x;
    sf_error err;

    sf_error_clear(&err);
    assert_int_equal(sf_remote_index_parse(t, strlen(t), &x, &err), SF_ERR);
    if (strcmp(err.kind, kind) != 0 || strstr(err.field, field) == NULL)
        fail_msg("%s %s: got %s at '%s': %s", docs, arts, err.kind, err.field, err.message);
    assert_null(x.a);
}

static void test_remote_index__refused(void **state)
{
    const char *f = "\"files\": []";

    (void)state;
    refused("[\"../../etc/passwd\"]", "[]", "remote-index", "documents");
    refused("[]", "[{\"path\": \"../x\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": []}]",
            "remote-index", "artifacts[0].path");
    refused("[]", "[{\"path\": \"/abs\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": []}]",
            "remote-index", "artifacts[0].path");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"dirs\": [\"x/../..\"], "
            "\"files\": []}]", "remote-index", "artifacts[0].dirs");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"AA\", \"dirs\": [], \"files\": []}]",
            "remote-index", "artifacts[0].checksum");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": "
            "[{\"path\": \"a//b\", \"size\": 1, \"sha256\": \"" H64A "\"}]}]",
            "remote-index", "artifacts[0].files[0].path");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": "
            "[{\"path\": \"f\", \"size\": 1, \"sha256\": \"" H64A "0\"}]}]",
            "remote-index", "artifacts[0].files[0].sha256");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": "
            "[{\"path\": \"f\", \"size\": 9007199254740993, \"sha256\": \"" H64A "\"}]}]",
            "remote-index", "artifacts[0].files[0].size");
    /* A whole-file artifact is one file and nothing else. */
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"dirs\": [], \"files\": "
            "[{\"path\": \"\", \"size\": 1, \"sha256\": \"" H64A "\"}, {\"path\": \"g\", "
            "\"size\": 1, \"sha256\": \"" H64A "\"}]}]",
            "remote-index", "artifacts[0].files[0].path");
    refused("[]", "[{\"path\": \"a\", \"checksum\": \"" H64A "\", \"files\": []}]",
            "remote-index", "artifacts[0].dirs");
    (void)f;
    {
        sf_remote_index x;
        sf_error err;
        static const char other[] = "{\"format\": \"x\", \"version\": 1, \"backup\": \"b\", "
                                    "\"documents\": [], \"artifacts\": []}";
        static const char v2[] = "{\"format\": \"snapfleet-remote-objects\", \"version\": 2, "
                                 "\"backup\": \"b\", \"documents\": [], \"artifacts\": []}";
        assert_int_equal(sf_remote_index_parse(other, sizeof other - 1, &x, &err), SF_ERR);
        assert_string_equal(err.kind, "remote-index");
        assert_int_equal(sf_remote_index_parse(v2, sizeof v2 - 1, &x, &err), SF_ERR);
        assert_string_equal(err.field, "format");
        assert_int_equal(sf_remote_index_parse("{", 1, &x, &err), SF_ERR);
        assert_string_equal(err.kind, SF_EK_JSON_SYNTAX);
        assert_int_equal(sf_remote_index_parse("[]", 2, &x, &err), SF_ERR);
    }
}

static void test_remote_tree__safe_rel(void **state)
{
    static const char *const good[] = {"a", "a/b", "a.b/..c", ".x", "wasm_chunk_store/x.bin"};
    static const char *const bad[] = {"", "/a", "a/", "a//b", ".", "..", "a/./b", "a/../b",
                                      "a\\b", "../a"};
    size_t i;
    char longp[SF_TREE_PATH_MAX + 2];

    (void)state;
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(sf_tree_safe_rel(good[i]));
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (sf_tree_safe_rel(bad[i]))
            fail_msg("'%s' accepted", bad[i]);
    memset(longp, 'a', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    assert_false(sf_tree_safe_rel(longp));
}

static void put(const char *path, const char *text)
{
    assert_int_equal(sf_fs_write_atomic(path, text, strlen(text), NULL), 0);
}

static void test_remote_tree__scan(void **state)
{
    char dir[] = "/tmp/sf-tree-XXXXXX", p[128];
    sf_tree t;
    sf_error err;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof p, "%s/z.bin", dir);
    put(p, "zz");
    snprintf(p, sizeof p, "%s/a/b", dir);
    assert_int_equal(sf_fs_mkdir_p(p, NULL), 0);
    snprintf(p, sizeof p, "%s/a/b/c", dir);
    put(p, "");
    snprintf(p, sizeof p, "%s/empty", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    assert_int_equal(sf_tree_scan(dir, true, &t, &err), 0);
    assert_int_equal(t.n, 5);
    assert_string_equal(t.e[0].rel, "a");
    assert_int_equal(t.e[0].type, 'D');
    assert_string_equal(t.e[2].rel, "a/b/c");
    assert_string_equal(t.e[2].sha256,
                        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_string_equal(t.e[3].rel, "empty");
    assert_string_equal(t.e[4].rel, "z.bin");
    assert_true(t.e[4].size == 2);
    sf_tree_free(&t);
    /* One file: one entry with an empty path. */
    snprintf(p, sizeof p, "%s/z.bin", dir);
    assert_int_equal(sf_tree_scan(p, false, &t, &err), 0);
    assert_int_equal(t.n, 1);
    assert_string_equal(t.e[0].rel, "");
    sf_tree_free(&t);
    /* A link anywhere is refused. */
    snprintf(p, sizeof p, "%s/a/link", dir);
    assert_int_equal(symlink("/etc/passwd", p), 0);
    sf_error_clear(&err);
    assert_int_equal(sf_tree_scan(dir, true, &t, &err), SF_ERR);
    assert_non_null(strstr(err.message, "links are refused"));
    assert_int_equal(sf_tree_scan(p, true, &t, &err), SF_ERR);
    snprintf(p, sizeof p, "%s/missing", dir);
    assert_int_equal(sf_tree_scan(p, true, &t, &err), SF_ERR);
    assert_string_equal(err.kind, SF_EK_IO);
    sf_remove_tree(dir, NULL);
}

static void same_checksum(const char *path)
{
    char want[SF_SHA256_HEX_SIZE], got[SF_SHA256_HEX_SIZE];
    sf_tree t;
    sf_error err;

    assert_int_equal(sf_tree_scan(path, true, &t, &err), 0);
    assert_int_equal(sf_tree_checksum(&t, got, &err), 0);
    assert_int_equal(sf_checksum_path(path, want, &err), 0);
    assert_string_equal(got, want);
    sf_tree_free(&t);
}

static void test_remote_tree__checksum(void **state)
{
    char dir[] = "/tmp/sf-tree-XXXXXX", p[160];
    static const char *const files[] = {"a/b", "a-b", "a.b/c", "a", "\xff\xfe", "z/y/x"};
    size_t i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    /* Names where byte order and component order differ ("a-b" < "a/b"
     * as bytes, after it by components), and one that is not UTF-8. */
    for (i = 0; i < sizeof files / sizeof files[0]; i++) {
        char *slash;
        snprintf(p, sizeof p, "%s/t/%s", dir, files[i]);
        slash = strrchr(p, '/');
        *slash = '\0';
        assert_int_equal(sf_fs_mkdir_p(p, NULL), 0);
        *slash = '/';
        if (strcmp(files[i], "a") == 0)
            snprintf(p, sizeof p, "%s/t/a0", dir); /* "a" is a directory */
        put(p, files[i]);
    }
    snprintf(p, sizeof p, "%s/t/empty", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    /* The whole tree, one file (its SHA-256), an empty directory (the
     * empty digest): each as sf_checksum_path gives it. */
    snprintf(p, sizeof p, "%s/t", dir);
    same_checksum(p);
    snprintf(p, sizeof p, "%s/t/a-b", dir);
    same_checksum(p);
    snprintf(p, sizeof p, "%s/t/empty", dir);
    same_checksum(p);
    sf_remove_tree(dir, NULL);
}

/* Files hashed on several threads: the same hashes as on one, and of two
 * files that cannot be read the first in tree order is the one reported,
 * whichever thread reaches it first. */
static void test_remote_tree__hash_threads(void **state)
{
    char dir[] = "/tmp/sf-tree-XXXXXX", p[160];
    sf_tree one, many;
    sf_error err;
    unsigned keep = sf_checksum_threads(), round;
    size_t i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    for (i = 0; i < 40; i++) {
        snprintf(p, sizeof p, "%s/d%zu", dir, i % 3);
        assert_int_equal(sf_fs_mkdir_p(p, NULL), 0);
        snprintf(p, sizeof p, "%s/d%zu/f%02zu", dir, i % 3, i);
        put(p, p + strlen(dir)); /* each file its own bytes */
    }
    sf_checksum_set_threads(1);
    assert_int_equal(sf_tree_scan(dir, true, &one, &err), 0);
    sf_checksum_set_threads(4);
    assert_int_equal(sf_tree_scan(dir, true, &many, &err), 0);
    assert_int_equal(one.n, 43);
    assert_int_equal(many.n, one.n);
    for (i = 0; i < one.n; i++) {
        assert_string_equal(many.e[i].rel, one.e[i].rel);
        assert_string_equal(many.e[i].sha256, one.e[i].sha256);
    }
    sf_tree_free(&one);
    sf_tree_free(&many);
    /* Two files swapped for links after the listing (hashing opens with
     * O_NOFOLLOW): d2/f38 is refused, d0/f03 before it in tree order is
     * what is reported, on one thread and on four. */
    assert_int_equal(sf_tree_scan(dir, false, &many, &err), 0);
    for (i = 0; i < 2; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, i == 0 ? "d2/f38" : "d0/f03");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink("/etc/passwd", p), 0);
    }
    for (round = 0; round < 8; round++) {
        sf_checksum_set_threads(round % 2 ? 4 : 1);
        sf_error_clear(&err);
        assert_int_equal(sf_tree_hash(dir, &many, &err), SF_ERR);
        assert_non_null(strstr(err.message, "d0/f03"));
    }
    sf_tree_free(&many);
    sf_checksum_set_threads(keep);
    sf_remove_tree(dir, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_index__valid),
        cmocka_unit_test(test_remote_index__refused),
        cmocka_unit_test(test_remote_tree__safe_rel),
        cmocka_unit_test(test_remote_tree__scan),
        cmocka_unit_test(test_remote_tree__checksum),
        cmocka_unit_test(test_remote_tree__hash_threads),
    };
    return cmocka_run_group_tests_name("remote", tests, NULL, NULL);
}
