/*
 * Artifact checksum throughput against the system's openssl and sha256sum.
 *
 *   bench_checksum [--size N[K|M|G]] [--runs N] [--dir SCRATCH] [--keep]
 *
 * Environment defaults: SF_BENCH_SIZE (1G), SF_BENCH_RUNS (5),
 * SF_BENCH_DIR ($TMPDIR or /tmp, plus /sf-bench).
 *
 * Writes SCRATCH/file.bin (deterministic pseudo-random bytes) and
 * SCRATCH/artifact/, an icp snapshot layout of the same total size, then
 * times every tool (snapfleet's directory checksum on all usable CPUs and on
 * one thread) as a child process (fork + exec; wall clock and the
 * child's user + system CPU time, each the best of N; peak RSS from wait4),
 * so each one pays the same process start-up and reads the same
 * page-cached bytes. Runs go round robin over the tools. Every tool's hash of file.bin is
 * checked against ours before any number is printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "snapfleet/checksum.h"

#define GEN_CHUNK (1u << 20)
#define CHUNK_STORE_FILE (64u << 10)

typedef struct result {
    double best;       /* wall seconds, best run */
    double best_cpu;   /* user + system seconds, best run */
    long maxrss_kib;   /* largest peak over the runs */
    char hex[SF_SHA256_HEX_SIZE];
} result;

static void die(const char *what)
{
    fprintf(stderr, "bench_checksum: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void die_msg(const char *what)
{
    fprintf(stderr, "bench_checksum: %s\n", what);
    exit(1);
}

/* ---- child modes: hash one path and print the hex ---- */

static int child_hash(const char *mode, const char *path)
{
    char hex[SF_SHA256_HEX_SIZE];
    sf_error err;
    int rc;

    sf_error_clear(&err);
    if (strcmp(mode, "--hash-dir-1") == 0)
        sf_checksum_set_threads(1);
    rc = strncmp(mode, "--hash-dir", 10) == 0 ? sf_checksum_dir(path, hex, &err)
                                              : sf_checksum_file(path, hex, &err);
    if (rc != SF_OK) {
        fprintf(stderr, "bench_checksum: %s: %s\n", err.kind, err.message);
        return 1;
    }
    printf("%s  %s\n", hex, path);
    return 0;
}

/* ---- data generation ---- */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t)w;
    }
}

/* `size` deterministic bytes, seeded by `seed`, into path. */
static void gen_file(const char *path, uint64_t size, uint64_t seed)
{
    static unsigned char buf[GEN_CHUNK];
    uint64_t state = seed;
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

    if (fd < 0)
        die(path);
    while (size > 0) {
        size_t n = size < GEN_CHUNK ? (size_t)size : GEN_CHUNK;

        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = splitmix64(&state);

            memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
        }
        write_all(fd, buf, n);
        size -= n;
    }
    if (close(fd) != 0)
        die(path);
}

static void join(char *out, size_t cap, const char *a, const char *b)
{
    if ((size_t)snprintf(out, cap, "%s/%s", a, b) >= cap)
        die_msg("path too long");
}

static void mkdir_ok(const char *path)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        die(path);
}

static void rm_rf(const char *path)
{
    pid_t pid = fork();
    int status;

    if (pid < 0)
        die("fork");
    if (pid == 0) {
        execlp("rm", "rm", "-rf", "--", path, (char *)NULL);
        _exit(127);
    }
    waitpid(pid, &status, 0);
}

/*
 * The icp download layout at `size` bytes in total: a small metadata.json,
 * a module, a wasm_chunk_store/ of many 64 KiB chunks (1/8), stable memory
 * (3/8) and heap memory (the rest).
 */
static unsigned gen_artifact(const char *dir, uint64_t size)
{
    char path[PATH_MAX], store[PATH_MAX], name[64];
    char meta[256];
    uint64_t module, chunks, stable, heap, left = size;
    unsigned nchunks, i;
    int fd, mlen;

    rm_rf(dir);
    mkdir_ok(dir);
    mlen = snprintf(meta, sizeof meta,
                    "{\n  \"canister_id\": \"renrk-eyaaa-aaaaa-aaada-cai\",\n"
                    "  \"snapshot_size\": %" PRIu64 "\n}",
                    size);
    if ((uint64_t)mlen > left)
        mlen = (int)left;
    join(path, sizeof path, dir, "metadata.json");
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        die(path);
    write_all(fd, (const unsigned char *)meta, (size_t)mlen);
    close(fd);
    left -= (uint64_t)mlen;

    module = left / 64 < (2u << 20) ? left / 64 : (2u << 20);
    chunks = left / 8;
    nchunks = (unsigned)(chunks / CHUNK_STORE_FILE);
    chunks = (uint64_t)nchunks * CHUNK_STORE_FILE;
    stable = left / 8 * 3;
    heap = left - module - chunks - stable;

    join(path, sizeof path, dir, "wasm_module.bin");
    gen_file(path, module, 11);
    join(path, sizeof path, dir, "stable_memory.bin");
    gen_file(path, stable, 12);
    join(path, sizeof path, dir, "wasm_memory.bin");
    gen_file(path, heap, 13);
    join(store, sizeof store, dir, "wasm_chunk_store");
    mkdir_ok(store);
    for (i = 0; i < nchunks; i++) {
        uint64_t s = 1000 + i;

        snprintf(name, sizeof name, "%016" PRIx64 "%016" PRIx64 ".bin",
                 splitmix64(&s), splitmix64(&s));
        join(path, sizeof path, store, name);
        gen_file(path, CHUNK_STORE_FILE, 1000 + i);
    }
    return nchunks + 4;
}

/* ---- timing a child ---- */

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_seconds(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* Runs argv with stdout into out_path; returns wall seconds. */
static double run_child(char *const argv[], const char *out_path,
                        long *maxrss_kib, double *cpu)
{
    struct rusage ru;
    double t0, t1;
    int status;
    pid_t pid;

    t0 = now();
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0)
            _exit(126);
        close(fd);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) < 0)
        die("wait4");
    t1 = now();
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_checksum: %s failed (status %d)\n", argv[0],
                status);
        exit(1);
    }
    *maxrss_kib = ru.ru_maxrss;
    *cpu = tv_seconds(ru.ru_utime) + tv_seconds(ru.ru_stime);
    return t1 - t0;
}

/* First 64-hex token of the first line that has one ("<hex>  path" from
 * sha256sum and us, "SHA2-256(path)= <hex>" from openssl). */
static void first_hex(const char *out_path, char hex[SF_SHA256_HEX_SIZE])
{
    char line[8192];
    FILE *fp = fopen(out_path, "r");

    hex[0] = '\0';
    if (fp == NULL)
        die(out_path);
    while (fgets(line, sizeof line, fp) != NULL) {
        for (char *p = line; *p; p++) {
            size_t n = strspn(p, "0123456789abcdef");

            if (n == 64) {
                memcpy(hex, p, 64);
                hex[64] = '\0';
                fclose(fp);
                return;
            }
            if (n > 0)
                p += n - 1;
        }
    }
    fclose(fp);
}

static void reset(result *r)
{
    r->best = r->best_cpu = 1e30;
    r->maxrss_kib = 0;
    r->hex[0] = '\0';
}

/* One timed run folded into r. */
static void measure(char *const argv[], const char *out_path, result *r)
{
    long rss = 0;
    double cpu = 0, t = run_child(argv, out_path, &rss, &cpu);

    if (t < r->best)
        r->best = t;
    if (cpu < r->best_cpu)
        r->best_cpu = cpu;
    if (rss > r->maxrss_kib)
        r->maxrss_kib = rss;
    first_hex(out_path, r->hex);
}

/* Generated data is flushed before timing so write-back does not compete
 * with the runs. */
static void flush_all(void)
{
    sync();
}

/* ---- arguments ---- */

static uint64_t parse_size(const char *s)
{
    char *end;
    unsigned long long v;

    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || end == s)
        die_msg("bad size (want N, NK, NM or NG)");
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end != '\0' || v == 0)
        die_msg("bad size (want N, NK, NM or NG)");
    return v;
}

static double mbps(uint64_t bytes, double secs)
{
    return (double)bytes / 1e6 / secs;
}

static void row(const char *what, const char *tool, uint64_t bytes,
                const result *r, const result *ours)
{
    printf("| %-9s | %-38s | %7.3f | %7.1f | %7.3f | %7.1f | %8.1f | %7.2f |\n",
           what, tool, r->best, mbps(bytes, r->best), r->best_cpu,
           mbps(bytes, r->best_cpu), (double)r->maxrss_kib / 1024.0,
           r->best / ours->best);
}

int main(int argc, char **argv)
{
    const char *env;
    char scratch[PATH_MAX], file[PATH_MAX], art[PATH_MAX], out[PATH_MAX];
    char self[PATH_MAX], tmpd[PATH_MAX];
    uint64_t size = 1ull << 30;
    int runs = 5;
    bool keep = false;
    unsigned nfiles;
    ssize_t n;
    result sf_file, ossl_file, sum_file, sf_dir, ossl_dir, sum_dir, sf_dir1;

    if (argc == 3 && (strcmp(argv[1], "--hash-file") == 0 ||
                      strcmp(argv[1], "--hash-dir") == 0 ||
                      strcmp(argv[1], "--hash-dir-1") == 0))
        return child_hash(argv[1], argv[2]);

    if ((env = getenv("SF_BENCH_SIZE")) != NULL && *env)
        size = parse_size(env);
    if ((env = getenv("SF_BENCH_RUNS")) != NULL && *env)
        runs = atoi(env);
    env = getenv("TMPDIR");
    snprintf(tmpd, sizeof tmpd, "%s/sf-bench", env != NULL && *env ? env : "/tmp");
    env = getenv("SF_BENCH_DIR");
    snprintf(scratch, sizeof scratch, "%s", env != NULL && *env ? env : tmpd);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            size = parse_size(argv[++i]);
        else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            snprintf(scratch, sizeof scratch, "%s", argv[++i]);
        else if (strcmp(argv[i], "--keep") == 0)
            keep = true;
        else {
            fprintf(stderr, "usage: %s [--size N[K|M|G]] [--runs N] "
                            "[--dir SCRATCH] [--keep]\n", argv[0]);
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;

    n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n < 0)
        die("readlink /proc/self/exe");
    self[n] = '\0';

    mkdir_ok(scratch);
    join(file, sizeof file, scratch, "file.bin");
    join(art, sizeof art, scratch, "artifact");
    join(out, sizeof out, scratch, "stdout.txt");

    fprintf(stderr, "generating %" PRIu64 " bytes twice in %s ...\n", size,
            scratch);
    gen_file(file, size, 42);
    nfiles = gen_artifact(art, size);

    {
        char *sf_f[] = {self, "--hash-file", file, NULL};
        char *os_f[] = {"openssl", "dgst", "-sha256", file, NULL};
        char *ss_f[] = {"sha256sum", file, NULL};
        char *sf_d[] = {self, "--hash-dir", art, NULL};
        char *sf_d1[] = {self, "--hash-dir-1", art, NULL};
        char *os_d[] = {"find", art, "-type", "f", "-exec", "openssl", "dgst",
                        "-sha256", "{}", "+", NULL};
        char *ss_d[] = {"find", art, "-type", "f", "-exec", "sha256sum", "{}",
                        "+", NULL};
        char ref[SF_SHA256_HEX_SIZE];

        char *const *argvs[] = {sf_f, os_f, ss_f, sf_d, os_d, ss_d, sf_d1};
        result *res[] = {&sf_file, &ossl_file, &sum_file,
                         &sf_dir,  &ossl_dir,  &sum_dir, &sf_dir1};

        flush_all();
        /* One untimed pass so every timed run reads page-cached bytes. */
        fprintf(stderr, "warming the page cache ...\n");
        reset(&sf_file);
        reset(&sf_dir);
        measure(sf_f, out, &sf_file);
        measure(sf_d, out, &sf_dir);
        if (sf_checksum_file(file, ref, NULL) != SF_OK)
            die_msg("in-process checksum failed");

        /* Round robin, so a neighbour's load hits every tool alike. */
        fprintf(stderr, "timing, best of %d ...\n", runs);
        for (int i = 0; i < 7; i++)
            reset(res[i]);
        for (int r = 0; r < runs; r++)
            for (int i = 0; i < 7; i++)
                measure(argvs[i], out, res[i]);

        if (strcmp(sf_file.hex, ref) != 0 || strcmp(ossl_file.hex, ref) != 0 ||
            strcmp(sum_file.hex, ref) != 0)
            die_msg("the tools disagree on the file's SHA-256");
        if (strcmp(sf_dir.hex, sf_dir1.hex) != 0)
            die_msg("the directory digest depends on the thread count");
    }

    printf("size: %" PRIu64 " bytes (%.2f GiB); directory: %u files; "
           "best of %d runs, page cache warm; directory threads: %u\n\n",
           size, (double)size / (1u << 30), nfiles, runs,
           sf_checksum_threads());
    printf("| input     | tool                                   | wall s  |"
           " MB/s    | CPU s   | MB/s CPU | peak RSS MiB | wall vs snapfleet |\n");
    printf("|-----------|----------------------------------------|--------:|"
           "--------:|--------:|--------:|---------:|--------:|\n");
    row("file", "snapfleet sf_checksum_file", size, &sf_file, &sf_file);
    row("file", "openssl dgst -sha256", size, &ossl_file, &sf_file);
    row("file", "sha256sum", size, &sum_file, &sf_file);
    row("directory", "snapfleet sf_checksum_dir", size, &sf_dir, &sf_dir);
    row("directory", "find -exec openssl dgst -sha256 {} +", size, &ossl_dir,
        &sf_dir);
    row("directory", "find -exec sha256sum {} +", size, &sum_dir, &sf_dir);
    row("directory", "snapfleet sf_checksum_dir, 1 thread", size, &sf_dir1,
        &sf_dir);
    printf("\nthroughput ratio snapfleet/openssl:   wall: file %.3f, directory "
           "%.3f; CPU: file %.3f, directory %.3f\n",
           ossl_file.best / sf_file.best, ossl_dir.best / sf_dir.best,
           ossl_file.best_cpu / sf_file.best_cpu,
           ossl_dir.best_cpu / sf_dir.best_cpu);
    printf("throughput ratio snapfleet/sha256sum: wall: file %.3f, directory "
           "%.3f; CPU: file %.3f, directory %.3f\n",
           sum_file.best / sf_file.best, sum_dir.best / sf_dir.best,
           sum_file.best_cpu / sf_file.best_cpu,
           sum_dir.best_cpu / sf_dir.best_cpu);
    printf("file: openssl wall / snapfleet wall %.3f (snapfleet at most 1.05x "
           "openssl's time: >= %.3f)\n",
           ossl_file.best / sf_file.best, 1.0 / 1.05);
    printf("directory: snapfleet throughput / one core of openssl %.3f "
           "(target >= 1.7); one thread of snapfleet %.3f\n",
           ossl_dir.best / sf_dir.best, ossl_dir.best / sf_dir1.best);
    printf("snapfleet peak RSS: file %.1f MiB, directory %.1f MiB, "
           "directory on one thread %.1f MiB (target <= 16)\n",
           (double)sf_file.maxrss_kib / 1024.0,
           (double)sf_dir.maxrss_kib / 1024.0,
           (double)sf_dir1.maxrss_kib / 1024.0);
    printf("file sha256: %s\n", sf_file.hex);

    if (!keep) {
        rm_rf(art);
        unlink(file);
        unlink(out);
    }
    return 0;
}
