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

int main(int argc, char **argv)
{
    const char *sizes = "1,10,100,500", *ig = "./build/imagegate", *fix = "tests/fixtures",
               *outdir = "bench/out", *grow = NULL;
    int runs = 5, node = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc)
            sizes = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--imagegate") && i + 1 < argc)
            ig = argv[++i];
        else if (!strcmp(argv[i], "--fixtures") && i + 1 < argc)
            fix = argv[++i];
        else if (!strcmp(argv[i], "--out") && i + 1 < argc)
            outdir = argv[++i];
        else if (!strcmp(argv[i], "--grow") && i + 1 < argc)
            grow = argv[++i];
        else if (!strcmp(argv[i], "--no-node"))
            node = 0;
        else {
            fprintf(stderr, "usage: scan_bench [--sizes 1,10,100,500] [--runs N] [--imagegate "
                            "PATH] [--fixtures DIR] [--out DIR] [--grow PATH] [--no-node]\n");
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    char growbuf[4096];
    if (!grow) {
        /* plan_grow sits next to this program */
        ssize_t n = readlink("/proc/self/exe", growbuf, sizeof growbuf - 16);
        growbuf[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(growbuf, '/');
        strcpy(slash ? slash + 1 : growbuf, "plan_grow");
        grow = growbuf;
    }
    mkdir(outdir, 0755);
    if (node && system("node --version >/dev/null 2>&1") != 0) {
        fprintf(stderr, "scan_bench: node not found; measuring imagegate only\n");
        node = 0;
    }
    char db[4200], cmd[8400];
    snprintf(db, sizeof db, "sqlite:%s/bench-registry.db", outdir);
    snprintf(cmd, sizeof cmd,
             "rm -f %s/bench-registry.db* && sh %s/setup-registry.sh %s %s >/dev/null", outdir, fix,
             ig, db);
    if (system(cmd) != 0) {
        fprintf(stderr, "scan_bench: building the registry failed: %s\n", cmd);
        return 1;
    }
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
           sysconf(_SC_NPROCESSORS_ONLN), runs);
    printf("%8s %10s %10s %10s %8s | %10s %10s %8s | %7s\n", "plan", "bytes", "imagegate", "MB/s",
           "RSS MB", "node", "MB/s", "RSS MB", "speedup");
    char *list = strdup(sizes);
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        char plan[4200];
        snprintf(plan, sizeof plan, "%s/plan-%sMB.json", outdir, tok);
        if (!file_exists(plan)) {
            char src[4200];
            snprintf(src, sizeof src, "%s/plans/scale.plan.json", fix);
            char *gargv[] = {(char *)grow, src, tok, plan, NULL};
            sample g = run(gargv);
            if (g.status != 0) {
                fprintf(stderr, "scan_bench: %s failed to grow %s\n", grow, plan);
                return 1;
            }
        }
        struct stat st;
        stat(plan, &st);
        double mb = st.st_size / 1048576.0;
        char *iargv[] = {(char *)ig, "--db", db, "scan", plan, "--format", "json", NULL};
        sample s = measure(iargv, runs);
        if (s.status != 0 && s.status != 1) {
            fprintf(stderr, "scan_bench: imagegate exited %d on %s\n", s.status, plan);
            return 1;
        }
        printf("%6sMB %10lld %9.3fs %10.0f %8.1f |", tok, (long long)st.st_size, s.secs,
               mb / s.secs, s.rss_kb / 1024.0);
        if (node) {
            char js[4200];
            snprintf(js, sizeof js, "bench/node_scan.js");
            char *nargv[] = {"node", "--max-old-space-size=8192", js, plan, NULL};
            sample n = measure(nargv, runs);
            if (n.status == 0)
                printf(" %9.3fs %10.0f %8.1f | %6.1fx\n", n.secs, mb / n.secs, n.rss_kb / 1024.0,
                       n.secs / s.secs);
            else
                printf(" %10s %10s %8.1f | %7s\n", "failed", "-", n.rss_kb / 1024.0, "-");
        } else {
            printf(" %10s %10s %8s | %7s\n", "-", "-", "-", "-");
        }
        fflush(stdout);
    }
    free(list);
    return 0;
}
