/*
 * Hostile backup directories: a valid backup, then seeded damage to its
 * layout (FIFOs, symbolic links in and out of the backup, dangling links,
 * directories where files belong and files where directories belong, deep
 * nesting, a huge sparse document, empty documents), and every reading
 * command run on it through the CLI ($SF_CLI) under a timeout. Each must
 * end cleanly: exit 0 or 1 (never a signal, a sanitizer report or a hang),
 * a failure says why on stderr, and nothing outside the backup changes.
 * A fuzz target's worth of layouts, reproducible from the case number.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define CASES 20
#define DAMAGE_PER_CASE 3
#define TIMEOUT_S 60

static char root[256];    /* the scratch directory */
static char pristine[512]; /* the valid backup, copied for every case */
static char outside[512]; /* what links point at: must never change */
static char state[512];   /* the simulator's state file */
static const char *cli;

static uint64_t rng;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* A listing of the outside directory: names, sizes and contents. */
static void fingerprint(char *out, size_t n)
{
    char cmd[1024];
    FILE *p;
    size_t got;

    snprintf(cmd, sizeof cmd, "cd '%s' && find . -printf '%%p %%y %%s\\n' | "
             "sort && find . -type f -exec sha256sum {} + | sort", outside);
    p = popen(cmd, "r");
    assert_non_null(p);
    got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    pclose(p);
}

static int setup(void **st)
{
    (void)st;
    cli = getenv("SF_CLI");
    if (cli == NULL)
        return -1;
    snprintf(root, sizeof root, "%s/sf-hostile-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(root) == NULL)
        return -1;
    snprintf(pristine, sizeof pristine, "%s/pristine", root);
    snprintf(outside, sizeof outside, "%s/outside", root);
    snprintf(state, sizeof state, "%s/state.json", root);
    if (sh("'%s' sim init --state '%s' --seed 5 --canisters 3 --heap-min 1024 "
           "--heap-max 4096 --stable-min 512 --stable-max 2048 >/dev/null", cli, state) != 0 ||
        sh("'%s' backup --sim-state '%s' --out '%s' --include-root >/dev/null",
           cli, state, pristine) != 0 ||
        sh("'%s' restore run --backup '%s' --sim-state '%s' --execute "
           "--max-steps 3 >/dev/null", cli, pristine, state) != 0)
        return -1;
    if (sh("mkdir -p '%s/sub' && echo secret > '%s/keep.json' && "
           "echo x > '%s/sub/file'", outside, outside, outside) != 0)
        return -1;
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    return sh("rm -rf '%s'", root) == 0 ? 0 : -1;
}

/* Every path below dir (files and directories), relative, into names. */
static size_t walk(const char *dir, const char *rel, char names[][256],
                   size_t n, size_t max)
{
    char path[2048];
    DIR *d;
    struct dirent *de;

    snprintf(path, sizeof path, "%s/%s", dir, rel);
    d = opendir(path);
    if (d == NULL)
        return n;
    while (n < max && (de = readdir(d)) != NULL) {
        char sub[600];
        struct stat st;

        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (snprintf(sub, sizeof sub, "%s%s%s", rel, rel[0] ? "/" : "",
                     de->d_name) >= 256)
            continue; /* deeper than any layout we make */
        memcpy(names[n++], sub, strlen(sub) + 1);
        snprintf(path, sizeof path, "%s/%s", dir, sub);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            n = walk(dir, sub, names, n, max);
    }
    closedir(d);
    return n;
}

/* One kind of damage to `victim` (a path in the backup). */
static void damage(const char *victim, const char *backup, unsigned kind,
                   char *what, size_t wn)
{
    char cmd[8192];

    switch (kind % 10) {
    case 0:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkfifo '%s'", victim, victim);
        snprintf(what, wn, "FIFO at %s", victim);
        break;
    case 1:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s '%s/keep.json' '%s'",
                 victim, outside, victim);
        snprintf(what, wn, "link out of the backup (file) at %s", victim);
        break;
    case 2:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s '%s/sub' '%s'", victim,
                 outside, victim);
        snprintf(what, wn, "link out of the backup (directory) at %s", victim);
        break;
    case 3:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s '%s/nowhere' '%s'",
                 victim, root, victim);
        snprintf(what, wn, "dangling link at %s", victim);
        break;
    case 4:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir '%s' && echo '{}' > "
                 "'%s/x.json'", victim, victim, victim);
        snprintf(what, wn, "directory at %s", victim);
        break;
    case 5:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && echo '{\"x\": 1}' > '%s'",
                 victim, victim);
        snprintf(what, wn, "small file at %s", victim);
        break;
    case 6:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s' && cd '%s' && "
                 "for i in $(seq 1 120); do mkdir d && cd d || exit 1; done && "
                 "echo x > f", victim, victim, victim);
        snprintf(what, wn, "120-deep nesting at %s", victim);
        break;
    case 7:
        /* sparse: 70 MiB of size, no blocks */
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && truncate -s 70M '%s'", victim,
                 victim);
        snprintf(what, wn, "70 MiB file at %s", victim);
        break;
    case 8:
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && : > '%s'", victim, victim);
        snprintf(what, wn, "empty file at %s", victim);
        break;
    default:
        /* a link inside the backup, to a sibling */
        snprintf(cmd, sizeof cmd, "rm -rf '%s' && ln -s '%s/backup-plan.json' '%s'",
                 victim, backup, victim);
        snprintf(what, wn, "link inside the backup at %s", victim);
        break;
    }
    assert_int_equal(sh("%s", cmd), 0);
}

/* Runs the CLI with args (NULL-terminated) under a timeout; returns the
 * exit status, or 128 + signal, or -1 on a timeout. stderr goes to errpath. */
static int run_cli(const char *errpath, char *const args[])
{
    pid_t pid = fork();
    int status = 0;
    time_t start = time(NULL);

    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int nul = open("/dev/null", O_RDWR);

        if (fd < 0 || nul < 0)
            _exit(120);
        dup2(nul, 0);
        dup2(nul, 1);
        dup2(fd, 2);
        execv(cli, args);
        _exit(121);
    }
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);

        if (w == pid)
            break;
        if (time(NULL) - start > TIMEOUT_S) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        usleep(20000);
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

static void check_clean(const char *label, const char *errpath, int rc,
                        const char *layout)
{
    char msg[2048] = "";
    FILE *f;

    f = fopen(errpath, "r");
    if (f != NULL) {
        size_t got = fread(msg, 1, sizeof msg - 1, f);
        msg[got] = '\0';
        fclose(f);
    }
    if (rc != 0 && rc != 1)
        fail_msg("%s on [%s]: exit %d (hang is -1), stderr: %s", label, layout,
                 rc, msg);
    if (strstr(msg, "Sanitizer") != NULL || strstr(msg, "runtime error") != NULL)
        fail_msg("%s on [%s]: sanitizer report: %s", label, layout, msg);
    if (rc == 1 && strncmp(msg, "snapfleet", 9) != 0)
        fail_msg("%s on [%s]: failed without saying why: %s", label, layout, msg);
}

static void test_hostile_layouts(void **st)
{
    static char names[512][256];
    char before[1 << 16], after[1 << 16];
    int c;

    (void)st;
    fingerprint(before, sizeof before);
    for (c = 0; c < CASES; c++) {
        char backup[600], errpath[600], layout[2048] = "", victim[1024];
        char journal[700], mapping[700];
        size_t n, k;
        int rc;

        rng = 0x9E3779B97F4A7C15ull * (uint64_t)(c + 1);
        snprintf(backup, sizeof backup, "%s/case%d", root, c);
        snprintf(errpath, sizeof errpath, "%s/err", root);
        assert_int_equal(sh("rm -rf '%s' && cp -a '%s' '%s'", backup, pristine,
                            backup), 0);
        n = walk(backup, "", names, 0, 512);
        assert_true(n > 10);
        for (k = 0; k < DAMAGE_PER_CASE; k++) {
            char what[1200];
            size_t pick = (size_t)(next() % n);
            unsigned kind = (unsigned)(next() % 10);
            struct stat vs;

            snprintf(victim, sizeof victim, "%s/%s", backup, names[pick]);
            /* an earlier damage may have removed the victim's directory */
            if (lstat(victim, &vs) != 0) {
                char parent[1024], *slash;

                snprintf(parent, sizeof parent, "%s", victim);
                slash = strrchr(parent, '/');
                *slash = '\0';
                if (lstat(parent, &vs) != 0 || !S_ISDIR(vs.st_mode))
                    continue;
            }
            damage(victim, backup, kind + (unsigned)c, what, sizeof what);
            strncat(layout, what, sizeof layout - strlen(layout) - 3);
            strcat(layout, "; ");
        }
        snprintf(journal, sizeof journal, "%s/download-journal.json", backup);
        snprintf(mapping, sizeof mapping, "%s/restore", backup);
        {
            char *verify[] = {(char *)cli, "backup", "verify", backup, NULL};
            char *status[] = {(char *)cli, "backup", "status", backup, "--json", NULL};
            char *plan[] = {(char *)cli, "restore", "plan", "--backup", backup, NULL};
            char *rstatus[] = {(char *)cli, "restore", "status", "--backup", backup, NULL};
            char *dry[] = {(char *)cli, "restore", "run", "--backup", backup,
                           "--sim-state", state, "--dry-run", NULL};
            char *report[] = {(char *)cli, "journal", "report", journal, NULL};
            char *resume[] = {(char *)cli, "restore", "run", "--backup", backup,
                              "--sim-state", state, "--execute", "--max-steps",
                              "1", NULL};

            rc = run_cli(errpath, verify);
            check_clean("backup verify", errpath, rc, layout);
            rc = run_cli(errpath, status);
            check_clean("backup status", errpath, rc, layout);
            rc = run_cli(errpath, plan);
            check_clean("restore plan", errpath, rc, layout);
            rc = run_cli(errpath, rstatus);
            check_clean("restore status", errpath, rc, layout);
            rc = run_cli(errpath, dry);
            check_clean("restore run --dry-run", errpath, rc, layout);
            rc = run_cli(errpath, report);
            check_clean("journal report", errpath, rc, layout);
            rc = run_cli(errpath, resume);
            check_clean("restore run --execute", errpath, rc, layout);
        }
        (void)mapping;
        fingerprint(after, sizeof after);
        if (strcmp(before, after) != 0)
            fail_msg("case %d [%s] changed what is outside the backup", c, layout);
        assert_int_equal(sh("chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'",
                            backup, backup), 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_layouts),
    };
    return cmocka_run_group_tests_name("hostile_layout", tests, setup, teardown);
}
