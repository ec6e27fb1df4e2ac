/* sbom_bench: how fast the package search answers on a large registry
 * (issue 13: 5 000 versions with an SBOM of 500 packages each, under
 * 100 ms).
 *
 *   sbom_bench [--db URL] [--versions 5000] [--packages 500] [--buckets 50]
 *              [--runs 21] [--imagegate PATH] [--reuse]
 *
 * Builds the registry through the registry library (the calls `imagegate
 * import` and `sbom add` make): --buckets buckets, --versions versions
 * spread over them, one build each, every version with an SBOM of
 * --packages deb packages (openssl, libssl3 and synthetic ones); openssl
 * 3.0.0 to 3.0.15 in turn, so 7 versions in 16 ship one below 3.0.7;
 * versions assigned to channel production now and then (it ends up holding
 * one per bucket); every 50th revoked. Then measures
 * the search -- registry_package_find with sbom/'s version rule, as GET
 * /v1/packages runs it -- in process (median, p95, max of --runs, the
 * store warm), with and without --channel, and `imagegate packages find
 * openssl --version-below 3.0.7 --json` as a whole process (start, open,
 * query, JSON to /dev/null). Default store: sqlite:/tmp/sbom-bench/bench.db
 * (made anew unless --reuse). Figures go to docs/performance.md. */
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "registry/registry.h"
#include "sbom/sbom.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct opts {
    const char *db, *imagegate;
    int versions, packages, buckets, runs;
    bool reuse;
} opts;

static int parse_opts(int argc, char **argv, opts *o)
{
    *o = (opts){"sqlite:/tmp/sbom-bench/bench.db", "./imagegate", 5000, 500, 50, 21, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--reuse") == 0) {
            o->reuse = true;
            continue;
        }
        if (!v)
            return -1;
        if (strcmp(a, "--db") == 0)
            o->db = v;
        else if (strcmp(a, "--imagegate") == 0)
            o->imagegate = v;
        else if (strcmp(a, "--versions") == 0)
            o->versions = atoi(v);
        else if (strcmp(a, "--packages") == 0)
            o->packages = atoi(v);
        else if (strcmp(a, "--buckets") == 0)
            o->buckets = atoi(v);
        else if (strcmp(a, "--runs") == 0)
            o->runs = atoi(v);
        else
            return -1;
        i++;
    }
    return o->versions > 0 && o->packages >= 3 && o->buckets > 0 && o->runs > 0 ? 0 : -1;
}

/* ---- building the registry ------------------------------------------------ */

static json_t *import_version(registry *r, const reg_ctx *ctx, int b, int i, char *err,
                              size_t errlen)
{
    char bucket[40], fp[40], ami[40];
    snprintf(bucket, sizeof bucket, "bench-%03d", b);
    snprintf(fp, sizeof fp, "fp-%06d", i);
    snprintf(ami, sizeof ami, "ami-%017d", i);
    reg_import_artifact art = {ami, "us-east-1"};
    reg_import_build build = {"amazon-ebs.ubuntu", "aws", "run", NULL, json_object(), &art, 1, 0};
    char *chan = "production";
    reg_import imp = {bucket, fp, NULL, NULL, &build, 1, &chan, (i / 50) % 10 == 0 ? 1 : 0};
    json_t *v = registry_import(r, ctx, &imp, NULL, err, errlen);
    json_decref(build.labels);
    return v;
}

static int add_sbom(registry *r, const reg_ctx *ctx, const opts *o, int b, int i, char *err,
                    size_t errlen)
{
    char bucket[40], fp[40], ossl[40];
    snprintf(bucket, sizeof bucket, "bench-%03d", b);
    snprintf(fp, sizeof fp, "fp-%06d", i);
    snprintf(ossl, sizeof ossl, "3.0.%d-0ubuntu1.%d", i % 16, i % 7);
    reg_package *pk = xcalloc((size_t)o->packages, sizeof *pk);
    char **names = xcalloc((size_t)o->packages, sizeof *names);
    pk[0] = (reg_package){"openssl", ossl, "pkg:deb/ubuntu/openssl", "deb"};
    pk[1] = (reg_package){"libssl3", ossl, "pkg:deb/ubuntu/libssl3", "deb"};
    for (int k = 2; k < o->packages; k++) {
        names[k] = xasprintf("lib-bench-%04d", k);
        pk[k] = (reg_package){names[k], "1.2.3-4", "pkg:deb/ubuntu/lib-bench", "deb"};
    }
    reg_sbom s = {
        "os-packages", "CYCLONEDX", "1.5", "KLUv/QBYAQAAe30=", "00", 2, pk, (size_t)o->packages};
    json_t *j = registry_sbom_put(r, ctx, bucket, fp, NULL, &s, NULL, err, errlen);
    for (int k = 2; k < o->packages; k++)
        free(names[k]);
    free(names);
    free(pk);
    json_decref(j);
    return j ? 0 : -1;
}

static int build_registry(registry *r, const opts *o)
{
    reg_ctx ctx = {"bench", ig_time_now()};
    char err[1024];
    double t0 = ig_mono_seconds();
    for (int i = 0; i < o->versions; i++) {
        int b = i % o->buckets;
        json_t *v = import_version(r, &ctx, b, i, err, sizeof err);
        if (!v || add_sbom(r, &ctx, o, b, i, err, sizeof err) < 0) {
            fprintf(stderr, "sbom_bench: version %d: %s\n", i, err);
            json_decref(v);
            return -1;
        }
        json_decref(v);
        if (i % 50 == 49) {
            reg_revoke rv = {IG_TIME_NONE, "bench", false, true};
            char bucket[40], fp[40];
            snprintf(bucket, sizeof bucket, "bench-%03d", b);
            snprintf(fp, sizeof fp, "fp-%06d", i);
            json_decref(registry_version_revoke(r, &ctx, bucket, fp, &rv, err, sizeof err));
        }
        if (i % 500 == 499)
            fprintf(stderr, "  %d versions, %.0f s\n", i + 1, ig_mono_seconds() - t0);
    }
    printf("built %d versions x %d packages (%d buckets) in %.1f s\n", o->versions, o->packages,
           o->buckets, ig_mono_seconds() - t0);
    return 0;
}

/* ---- measuring -------------------------------------------------------------- */

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU seconds of this process (the machine is shared: wall time counts
 * the other work too, CPU time only ours). */
static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void report(const char *what, double *t, double *cpu, int n, size_t matches)
{
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    printf("| %s | %zu | %.1f | %.1f | %.1f |", what, matches, t[n / 2] * 1000,
           t[(n * 95) / 100 < n ? (n * 95) / 100 : n - 1] * 1000, t[n - 1] * 1000);
    if (cpu) {
        qsort(cpu, (size_t)n, sizeof *cpu, cmp_d);
        printf(" %.1f |\n", cpu[n / 2] * 1000);
    } else {
        printf(" - |\n");
    }
}

static int measure_find(registry *r, const opts *o, const char *channel)
{
    reg_ctx ctx = {"bench", ig_time_now()};
    sbom_version_rule below = {"3.0.7", NULL};
    reg_package_query q = {"openssl", channel, sbom_version_rule_keep, &below};
    double *t = xcalloc((size_t)o->runs, sizeof *t), *cpu = xcalloc((size_t)o->runs, sizeof *cpu);
    size_t matches = 0;
    char err[1024];
    for (int i = 0; i < o->runs + 1; i++) { /* the first run warms the store */
        double t0 = ig_mono_seconds(), c0 = cpu_seconds();
        json_t *found = registry_package_find(r, &ctx, &q, err, sizeof err);
        double dt = ig_mono_seconds() - t0, dc = cpu_seconds() - c0;
        if (!found) {
            fprintf(stderr, "sbom_bench: find: %s\n", err);
            free(t);
            free(cpu);
            return -1;
        }
        matches = json_array_size(found);
        json_decref(found);
        if (i > 0)
            t[i - 1] = dt, cpu[i - 1] = dc;
    }
    report(channel ? "registry_package_find --channel production" : "registry_package_find", t, cpu,
           o->runs, matches);
    free(t);
    free(cpu);
    return 0;
}

static double run_cli(const opts *o)
{
    double t0 = ig_mono_seconds();
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, STDOUT_FILENO);
        execl(o->imagegate, o->imagegate, "--db", o->db, "--json", "packages", "find", "openssl",
              "--version-below", "3.0.7", (char *)NULL);
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    return ig_mono_seconds() - t0;
}

static void measure_cli(const opts *o)
{
    if (access(o->imagegate, X_OK) != 0) {
        printf("(no %s: the command-line figure is skipped)\n", o->imagegate);
        return;
    }
    double *t = xcalloc((size_t)o->runs, sizeof *t);
    for (int i = 0; i < o->runs; i++)
        if ((t[i] = run_cli(o)) < 0) {
            printf("(%s packages find failed)\n", o->imagegate);
            free(t);
            return;
        }
    report("imagegate packages find (whole process)", t, NULL, o->runs, 0);
    free(t);
}

int main(int argc, char **argv)
{
    opts o;
    if (parse_opts(argc, argv, &o) < 0) {
        fprintf(stderr, "usage: sbom_bench [--db URL] [--versions N] [--packages N] [--buckets N]"
                        " [--runs N] [--imagegate PATH] [--reuse]\n");
        return 2;
    }
    if (!o.reuse && strncmp(o.db, "sqlite:/tmp/sbom-bench/", 23) == 0) {
        mkdir("/tmp/sbom-bench", 0700);
        unlink(o.db + 7);
    }
    char err[1024];
    int code;
    registry *r = registry_open(o.db, REG_OPEN_CREATE, &code, err, sizeof err);
    if (!r) {
        fprintf(stderr, "sbom_bench: %s\n", err);
        return 3;
    }
    int rc = o.reuse ? 0 : build_registry(r, &o);
    if (rc == 0) {
        printf("| search (openssl below 3.0.7) | versions matched | median ms | p95 ms | max ms "
               "| median CPU ms |\n|---|---|---|---|---|---|\n");
        rc = measure_find(r, &o, NULL);
        if (rc == 0)
            rc = measure_find(r, &o, "production");
        if (rc == 0)
            measure_cli(&o);
    }
    registry_close(r);
    return rc == 0 ? 0 : 1;
}
