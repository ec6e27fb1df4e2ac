/* usage_bench: what recording a run and its image usage costs the worker
 * that evaluated (registry_run_record), without the HTTP around it.
 *
 *   usage_bench [--db URL] [--rows 1,100,2000,20000] [--runs 5]
 *
 * For each size: one bucket with one version, a run of ROWS usage items (one
 * per resource address, as a plan of ROWS instances gives) recorded first
 * into an empty workspace (inserts), then --runs times again (updates: a
 * workspace planned daily). Prints the median milliseconds and microseconds
 * per row of each. The store is a new SQLite file in /tmp unless --db names
 * one (PostgreSQL: an empty database). */
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* A bucket "bench-N" whose v1 has one artifact, imported like a manifest. */
static int make_version(registry *r, reg_ctx *ctx, const char *bucket)
{
    char err[512];
    static const char m[] = "{\"builds\":[{\"name\":\"b\",\"builder_type\":\"amazon-ebs\","
                            "\"artifact_id\":\"us-west-1:ami-0123456789abcdef0\","
                            "\"packer_run_uuid\":\"run\"}],\"last_run_uuid\":\"run\"}";
    reg_import imp;
    if (registry_manifest_parse(m, sizeof m - 1, "bench.json", false, &imp, err, sizeof err) < 0)
        return fprintf(stderr, "usage_bench: %s\n", err), -1;
    imp.bucket = xstrdup(bucket);
    json_t *v = registry_import(r, ctx, &imp, NULL, err, sizeof err);
    registry_import_dispose(&imp);
    if (!v)
        return fprintf(stderr, "usage_bench: import: %s\n", err), -1;
    json_decref(v);
    return 0;
}

/* Milliseconds one registry_run_record of run took, or -1. */
static double record_ms(registry *r, reg_ctx *ctx, const reg_run *run)
{
    char err[512];
    ctx->now += 1000;
    double t0 = ig_mono_seconds();
    if (registry_run_record(r, ctx, run, err, sizeof err) < 0) {
        fprintf(stderr, "usage_bench: %s\n", err);
        return -1;
    }
    return (ig_mono_seconds() - t0) * 1000;
}

static int bench_size(registry *r, reg_ctx *ctx, int rows, int runs)
{
    char bucket[40], (*addr)[48] = xcalloc((size_t)rows, sizeof *addr);
    reg_usage_item *items = xcalloc((size_t)rows, sizeof *items);
    snprintf(bucket, sizeof bucket, "bench-%d", rows);
    int rc = make_version(r, ctx, bucket);
    for (int i = 0; i < rows; i++) {
        snprintf(addr[i], sizeof addr[i], "aws_instance.n[%d]", i);
        items[i] = (reg_usage_item){addr[i], "ami-0123456789abcdef0", bucket, "v1", "run"};
    }
    reg_run run = {.source = "scan",
                   .organization = "bench",
                   .workspace = bucket,
                   .stage = "scan",
                   .verdict = "pass",
                   .usage = items,
                   .n_usage = (size_t)rows};
    double first = rc == 0 ? record_ms(r, ctx, &run) : -1, *t = xcalloc((size_t)runs, sizeof *t);
    for (int i = 0; first >= 0 && i < runs && (t[i] = record_ms(r, ctx, &run)) >= 0; i++)
        ;
    qsort(t, (size_t)runs, sizeof *t, cmp_d);
    if (first >= 0 && t[0] >= 0)
        printf("%8d rows  insert %9.1f ms (%6.1f us/row)  update median %9.1f ms (%6.1f us/row)\n",
               rows, first, first * 1000 / rows, t[runs / 2], t[runs / 2] * 1000 / rows);
    free(t);
    free(items);
    free(addr);
    return first >= 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    const char *db = NULL, *sizes = "1,100,2000,20000";
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--rows") == 0)
            sizes = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]) > 0 ? atoi(argv[i + 1]) : 1;
    }
    char path[64] = "", url[80], err[512];
    if (!db) {
        snprintf(path, sizeof path, "/tmp/usage_bench_%ld.db", (long)getpid());
        snprintf(url, sizeof url, "sqlite:%s", path);
        db = url;
    }
    registry *r = registry_open(db, REG_OPEN_CREATE, NULL, err, sizeof err);
    if (!r)
        return fprintf(stderr, "usage_bench: %s\n", err), 3;
    reg_ctx ctx = {"bench", ig_time_now()};
    printf("store: %s; median of %d updates\n", registry_kind(r), runs);
    int rc = 0;
    char *list = xstrdup(sizes), *save = NULL;
    for (char *s = strtok_r(list, ",", &save); s && rc == 0; s = strtok_r(NULL, ",", &save))
        rc = bench_size(r, &ctx, atoi(s) > 0 ? atoi(s) : 1, runs);
    free(list);
    registry_close(r);
    if (*path) {
        char p[80];
        const char *sfx[] = {"", "-wal", "-shm"};
        for (int i = 0; i < 3; i++) {
            snprintf(p, sizeof p, "%s%s", path, sfx[i]);
            unlink(p);
        }
    }
    return rc ? 1 : 0;
}
