/* Fuzz driver: configuration archive extraction (webhook_archive_extract)
 * and the scan of what it unpacked (webhook_archive_scan), as the pre_plan
 * stage runs them on a downloaded configuration version.
 *
 * Layout, made once per process under $TMPDIR:
 *   ROOT/in.tar              the input, written fresh each time
 *   ROOT/w1/w2/w3/dest/      the extraction directory, fresh each time
 * An entry that escaped with up to four "../" would land in ROOT, w1, w2 or
 * w3, so after each input those must hold exactly their one expected entry.
 * Inside dest there must be only directories and regular files with one
 * link each (no symlink, hard link, device or FIFO was written), and on
 * success the counts and bytes in the stats must match what is on disk.
 * Then the tree is scanned (and the findings evaluated and reported, as the
 * pre_plan stage does: file names from the archive end up in reports and
 * callbacks) and removed with webhook_remove_tree, which must leave nothing
 * behind. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/rules.h"
#include "scanners/scan.h"
#include "webhook/archive.h"

static char ROOT[4096], ARCHIVE[4200], DEST[4200];
static const char *const LEVELS[] = {"w1", "w2", "w3", "dest"};
static rules *RS;
static rules_matcher *M;
static policy *POLICY;

static void cleanup(void)
{
    char path[4200];
    webhook_remove_tree(DEST);
    unlink(ARCHIVE);
    for (int i = 2; i >= 0; i--) {
        snprintf(path, sizeof path, "%s", ROOT);
        for (int j = 0; j <= i; j++) {
            strcat(path, "/");
            strcat(path, LEVELS[j]);
        }
        rmdir(path);
    }
    rmdir(ROOT);
}

static void init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(ROOT, sizeof ROOT, "%s/igfuzz-archive-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(ROOT) != NULL, "mkdtemp %s: %s", ROOT, strerror(errno));
    snprintf(ARCHIVE, sizeof ARCHIVE, "%s/in.tar", ROOT);
    snprintf(DEST, sizeof DEST, "%s", ROOT);
    for (int i = 0; i < 3; i++) {
        strcat(DEST, "/");
        strcat(DEST, LEVELS[i]);
        FUZZ_CHECK(mkdir(DEST, 0700) == 0, "mkdir %s: %s", DEST, strerror(errno));
    }
    strcat(DEST, "/dest");
    char err[512];
    RS = rules_load(NULL, err, sizeof err);
    FUZZ_CHECK(RS != NULL, "rules_load: %s", err);
    M = rules_matcher_new(RS);
    POLICY = policy_default();
    atexit(cleanup);
}

/* dir holds exactly the names given (NULL-terminated). */
static void expect_only(const char *dir, const char *a, const char *b)
{
    DIR *d = opendir(dir);
    FUZZ_CHECK(d != NULL, "opendir %s: %s", dir, strerror(errno));
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        FUZZ_CHECK((a && strcmp(n, a) == 0) || (b && strcmp(n, b) == 0),
                   "'%s' appeared in %s: the archive wrote outside its directory", n, dir);
    }
    closedir(d);
}

typedef struct tally {
    int64_t files, dirs, bytes;
} tally;

static void walk(int dirfd, const char *rel, tally *t, int depth)
{
    FUZZ_CHECK(depth < 200, "extracted tree deeper than 200");
    DIR *d = fdopendir(dirfd);
    FUZZ_CHECK(d != NULL, "fdopendir %s", rel);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *n = de->d_name;
        if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0)
            continue;
        struct stat st;
        FUZZ_CHECK(fstatat(dirfd, n, &st, AT_SYMLINK_NOFOLLOW) == 0, "stat %s/%s", rel, n);
        if (S_ISDIR(st.st_mode)) {
            t->dirs++;
            int fd = openat(dirfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            FUZZ_CHECK(fd >= 0, "open %s/%s", rel, n);
            walk(fd, n, t, depth + 1);
        } else {
            FUZZ_CHECK(S_ISREG(st.st_mode), "%s/%s: written with mode 0%o (not a regular file)",
                       rel, n, (unsigned)st.st_mode);
            FUZZ_CHECK(st.st_nlink == 1, "%s/%s: %lu links", rel, n, (unsigned long)st.st_nlink);
            FUZZ_CHECK((st.st_mode & 07077) == 0, "%s/%s: mode 0%o", rel, n,
                       (unsigned)(st.st_mode & 07777));
            t->files++;
            t->bytes += st.st_size;
        }
    }
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!RS)
        init();
    int fd = open(ARCHIVE, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FUZZ_CHECK(fd >= 0, "%s: %s", ARCHIVE, strerror(errno));
    FUZZ_CHECK(write(fd, data, size) == (ssize_t)size, "write %s", ARCHIVE);
    close(fd);
    FUZZ_CHECK(mkdir(DEST, 0700) == 0, "mkdir %s: %s", DEST, strerror(errno));

    webhook_archive_limits lim = {1 << 20, 1000};
    webhook_archive_stats st;
    char err[512] = "";
    int rc = webhook_archive_extract(ARCHIVE, DEST, &lim, NULL, &st, err, sizeof err);
    FUZZ_CHECK(rc == 0 || err[0], "an error without a message");

    /* nothing outside dest */
    expect_only(ROOT, "in.tar", "w1");
    char path[4200];
    snprintf(path, sizeof path, "%s/w1", ROOT);
    expect_only(path, "w2", NULL);
    strcat(path, "/w2");
    expect_only(path, "w3", NULL);
    strcat(path, "/w3");
    expect_only(path, "dest", NULL);

    /* inside: only what may be written */
    tally t = {0, 0, 0};
    int dfd = open(DEST, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    FUZZ_CHECK(dfd >= 0, "open %s", DEST);
    walk(dfd, "dest", &t, 0);
    FUZZ_CHECK(t.bytes <= lim.max_bytes + 64 * 1024, "%lld bytes on disk, limit %lld",
               (long long)t.bytes, (long long)lim.max_bytes);
    if (rc == 0) {
        FUZZ_CHECK(t.files == st.files && t.bytes == st.bytes,
                   "stats say %lld files / %lld bytes, disk has %lld / %lld", (long long)st.files,
                   (long long)st.bytes, (long long)t.files, (long long)t.bytes);
        FUZZ_CHECK(t.dirs <= st.dirs + t.files * 64 + 64, "%lld directories", (long long)t.dirs);

        scan_result *res = scan_result_new();
        int64_t files = 0;
        int src = webhook_archive_scan(DEST, size % 2 ? "terraform" : "", RS, M, 64 * 1024, NULL,
                                       res, &files, err, sizeof err);
        FUZZ_CHECK(src == 0 || err[0], "scan: an error without a message");
        FUZZ_CHECK(files <= t.files, "scanned %lld of %lld files", (long long)files,
                   (long long)t.files);
        policy_scope scope = {"acme", "web-prod", 1795165200000LL};
        policy_report *rep = policy_eval(POLICY, res, &fuzz_lookup, &scope, err, sizeof err);
        if (rep) {
            fuzz_check_report(rep, res, NULL, 0);
            policy_report_free(rep);
        }
        scan_result_free(res);
    }

    webhook_remove_tree(DEST);
    struct stat sb;
    FUZZ_CHECK(lstat(DEST, &sb) < 0 && errno == ENOENT, "webhook_remove_tree left %s", DEST);
    expect_only(path, NULL, NULL);
    return 0;
}
