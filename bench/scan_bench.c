/* scan_bench: throughput and peak memory of `imagegate scan` on plans of
 * 1, 10, 100 and 500 MB grown from fixtures/plans/scale.plan.json, next to a
 * Node.js JSON.parse scanner (bench/node_scan.js) on the same files.
 *
 *   scan_bench [--sizes 1,10,100,500] [--runs 5] [--imagegate PATH]
 *              [--fixtures DIR] [--out DIR] [--no-node]
 *
 * Each measurement is a child process: wall time from fork to exit, peak RSS
 * from wait4(). Reports the median of the runs and the worst RSS. The
 * registry is the fixtures' (setup-registry.sh), so the scan does the whole
 * job: parse, look up, evaluate, write the JSON report (to /dev/null). */
#include "common/timeutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
    double secs;
    long rss_kb;
    int status;
} sample;

static sample run(char *const argv[])
{
    sample s = {0, 0, -1};
    double t0 = ig_mono_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) < 0)
        return s;
    s.secs = ig_mono_seconds() - t0;
    s.rss_kb = ru.ru_maxrss;
    s.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    return s;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs argv `runs` times: median seconds, max RSS, last status. */
static sample measure(char *const argv[], int runs)
{
    double *t = calloc((size_t)runs, sizeof *t);
    sample agg = {0, 0, 0};
    for (int i = 0; i < runs; i++) {
        sample s = run(argv);
        t[i] = s.secs;
        if (s.rss_kb > agg.rss_kb)
            agg.rss_kb = s.rss_kb;
        agg.status = s.status;
    }
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    agg.secs = t[runs / 2];
    free(t);
    return agg;
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && st.st_size > 0;
}

typedef struct bench_opts {
    const char *sizes, *ig, *fix, *outdir, *grow;
    int runs, node;
    char growbuf[4096];
    char db[4200];
} bench_opts;

/* The field an option that takes a string fills, or NULL. */
static const char **string_opt(bench_opts *b, const char *name)
{
    const struct {
        const char *name;
        const char **slot;
    } opts[] = {
        {"--sizes", &b->sizes}, {"--imagegate", &b->ig}, {"--fixtures", &b->fix},
        {"--out", &b->outdir},  {"--grow", &b->grow},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(name, opts[i].name))
            return opts[i].slot;
    return NULL;
}

/* Reads the options. Returns 0, or -1 after the usage line. */
static int parse_args(bench_opts *b, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char **slot = string_opt(b, argv[i]);
        if (slot && i + 1 < argc) {
            *slot = argv[++i];
        } else if (!strcmp(argv[i], "--runs") && i + 1 < argc) {
            b->runs = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--no-node")) {
            b->node = 0;
        } else {
            fprintf(stderr, "usage: scan_bench [--sizes 1,10,100,500] [--runs N] [--imagegate "
                            "PATH] [--fixtures DIR] [--out DIR] [--grow PATH] [--no-node]\n");
            return -1;
        }
    }
    if (b->runs < 1)
        b->runs = 1;
    if (!b->grow) {
        /* plan_grow sits next to this program */
        ssize_t n = readlink("/proc/self/exe", b->growbuf, sizeof b->growbuf - 16);
        b->growbuf[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(b->growbuf, '/');
        strcpy(slash ? slash + 1 : b->growbuf, "plan_grow");
        b->grow = b->growbuf;
    }
    return 0;
}

/* The fixtures registry, made afresh in the output directory. */
static int make_registry(bench_opts *b)
{
    char cmd[8400];
    snprintf(b->db, sizeof b->db, "sqlite:%s/bench-registry.db", b->outdir);
    snprintf(cmd, sizeof cmd,
             "rm -f %s/bench-registry.db* && sh %s/setup-registry.sh %s %s >/dev/null", b->outdir,
             b->fix, b->ig, b->db);
    if (system(cmd) != 0) {
        fprintf(stderr, "scan_bench: building the registry failed: %s\n", cmd);
        return -1;
    }
    return 0;
}

static void print_machine(const bench_opts *b)
{
    char cpu[600] = "?";
    FILE *ci = fopen("/proc/cpuinfo", "r");
    if (ci) {
        char line[512];
        while (fgets(line, sizeof line, ci))
            if (!strncmp(line, "model name", 10)) {
                char *c = strchr(line, ':');
                snprintf(cpu, sizeof cpu, "%s", c ? c + 2 : line);
                cpu[strcspn(cpu, "\n")] = '\0';
                break;
            }
        fclose(ci);
    }
    printf("machine: %s, %ld cores; median of %d runs; peak RSS is the worst run\n", cpu,
           sysconf(_SC_NPROCESSORS_ONLN), b->runs);
}

/* The plan of `size` MB in the output directory, grown when missing. */
static int plan_of(const bench_opts *b, const char *size, char *plan, size_t planlen)
{
    snprintf(plan, planlen, "%s/plan-%sMB.json", b->outdir, size);
    if (file_exists(plan))
        return 0;
    char src[4200];
    snprintf(src, sizeof src, "%s/plans/scale.plan.json", b->fix);
    char *gargv[] = {(char *)b->grow, src, (char *)size, plan, NULL};
    if (run(gargv).status != 0) {
        fprintf(stderr, "scan_bench: %s failed to grow %s\n", b->grow, plan);
        return -1;
    }
    return 0;
}

/* One row: imagegate and (unless --no-node) the Node.js scanner on one plan. */
static int bench_size(bench_opts *b, const char *size)
{
    char plan[4200];
    if (plan_of(b, size, plan, sizeof plan) != 0)
        return -1;
    struct stat st;
    stat(plan, &st);
    double mb = st.st_size / 1048576.0;
    char *iargv[] = {(char *)b->ig, "--db", b->db, "scan", plan, "--format", "json", NULL};
    sample s = measure(iargv, b->runs);
    if (s.status != 0 && s.status != 1) {
        fprintf(stderr, "scan_bench: imagegate exited %d on %s\n", s.status, plan);
        return -1;
    }
    printf("%6sMB %10lld %9.3fs %10.0f %8.1f |", size, (long long)st.st_size, s.secs, mb / s.secs,
           s.rss_kb / 1024.0);
    if (b->node) {
        char *nargv[] = {"node", "--max-old-space-size=8192", "bench/node_scan.js", plan, NULL};
        sample n = measure(nargv, b->runs);
        if (n.status == 0)
            printf(" %9.3fs %10.0f %8.1f | %6.1fx\n", n.secs, mb / n.secs, n.rss_kb / 1024.0,
                   n.secs / s.secs);
        else
            printf(" %10s %10s %8.1f | %7s\n", "failed", "-", n.rss_kb / 1024.0, "-");
    } else {
        printf(" %10s %10s %8s | %7s\n", "-", "-", "-", "-");
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    bench_opts b = {
        .sizes = "1,10,100,500",
        .ig = "./build/imagegate",
        .fix = "tests/fixtures",
        .outdir = "bench/out",
        .runs = 5,
        .node = 1,
    };
    if (parse_args(&b, argc, argv) != 0)
        return 2;
    mkdir(b.outdir, 0755);
    if (b.node && system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "scan_bench: node not found; measuring imagegate only\n");
        b.node = 0;
    }
    if (make_registry(&b) != 0)
        return 1;
    print_machine(&b);
    printf("%8s %10s %10s %10s %8s | %10s %10s %8s | %7s\n", "plan", "bytes", "imagegate", "MB/s",
           "RSS MB", "node", "MB/s", "RSS MB", "speedup");
    char *list = strdup(b.sizes);
    int rc = 0;
    for (char *tok = strtok(list, ","); tok && rc == 0; tok = strtok(NULL, ","))
        rc = bench_size(&b, tok) != 0;
    free(list);
    return rc;
}
