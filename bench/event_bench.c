/* event_bench: what queueing events costs a registry write.
 *
 * A base version with N children (each built from the base's image) is
 * revoked and restored again and again; each revoke makes N + 1 revoke
 * events, each restore N + 1 restore events, one per subscribed webhook
 * each, in the change's own transaction. Measured with 0, 1 and 4 webhooks,
 * so the first column is the write without events at all (one small query
 * per event to find nobody subscribed) and the others what the outbox adds.
 * A single channel assignment (one event) is measured the same way.
 *
 *   event_bench [--db URL] [--children 1,10,100,1000] [--runs 5]
 *
 * Default store: a SQLite file in a new temporary directory (removed at the
 * end); --db postgresql://... takes an empty database. Prints a Markdown
 * table of the median wall time per call (ms). Timings are measured, never
 * asserted. */
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "registry/registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "bench-secret-0123456789"

static registry *r;
static reg_ctx ctx = {"bench", 0};
static char err[1024];

static void die(const char *what)
{
    fprintf(stderr, "event_bench: %s: %s\n", what, err);
    exit(1);
}

static void import_one(const char *bucket, const char *fp, const char *ami, const char *source)
{
    char *m = xasprintf("{\"builds\":[{\"name\":\"b\",\"builder_type\":\"amazon-ebs\","
                        "\"artifact_id\":\"us-west-1:%s\",\"packer_run_uuid\":\"run\","
                        "\"custom_data\":%s%s%s}],\"last_run_uuid\":\"run\"}",
                        ami, source ? "{\"source_ami\":\"" : "null", source ? source : "",
                        source ? "\"}" : "");
    reg_import imp;
    if (registry_manifest_parse(m, strlen(m), "m", false, &imp, err, sizeof err) < 0)
        die("manifest");
    free(m);
    imp.bucket = xstrdup(bucket);
    free(imp.fingerprint);
    imp.fingerprint = xstrdup(fp);
    json_t *v = registry_import(r, &ctx, &imp, NULL, err, sizeof err);
    if (!v)
        die("import");
    json_decref(v);
    registry_import_dispose(&imp);
}

/* base-N v1 and N children c-N-i, each built from base-N's image. */
static void family(int n)
{
    char base[32], ami[32], fp[32], child[32], cami[32];
    snprintf(base, sizeof base, "base-%d", n);
    snprintf(ami, sizeof ami, "ami-base%d", n);
    import_one(base, "b1", ami, NULL);
    for (int i = 0; i < n; i++) {
        snprintf(child, sizeof child, "c-%d-%d", n, i);
        snprintf(fp, sizeof fp, "c%d", i);
        snprintf(cami, sizeof cami, "ami-c%d-%d", n, i);
        import_one(child, fp, cami, ami);
    }
}

static void add_webhooks(int have, int want)
{
    for (int i = have; i < want; i++) {
        char name[16];
        snprintf(name, sizeof name, "hook%d", i);
        reg_webhook_spec s = {name, "https://receiver.example/hook", SECRET, NULL, 0, NULL, 0};
        json_t *w = registry_webhook_create(r, &ctx, &s, err, sizeof err);
        if (!w)
            die("webhook");
        json_decref(w);
    }
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Median ms of a revoke and of a restore of base-n v1. */
static void revoke_restore(int n, int runs, double *rev, double *res)
{
    char base[32];
    double a[64] = {0}, b[64] = {0};
    snprintf(base, sizeof base, "base-%d", n);
    reg_revoke rv = {.revoke_at = IG_TIME_NONE, .message = "bench", .keep_channels = true};
    for (int i = 0; i < runs; i++) {
        ctx.now = ig_time_now();
        double t0 = ig_mono_seconds();
        json_t *v = registry_version_revoke(r, &ctx, base, "v1", &rv, err, sizeof err);
        double t1 = ig_mono_seconds();
        if (!v)
            die("revoke");
        json_decref(v);
        v = registry_version_restore(r, &ctx, base, "v1", err, sizeof err);
        double t2 = ig_mono_seconds();
        if (!v)
            die("restore");
        json_decref(v);
        a[i] = (t1 - t0) * 1000;
        b[i] = (t2 - t1) * 1000;
    }
    *rev = median(a, runs);
    *res = median(b, runs);
}

/* Median ms of one channel assignment (one assign event). */
static double assign(int runs)
{
    double a[64] = {0};
    for (int i = 0; i < runs; i++) {
        ctx.now = ig_time_now();
        double t0 = ig_mono_seconds();
        json_t *c =
            registry_channel_set(r, &ctx, "base-1", "bench", i % 2 ? NULL : "v1", err, sizeof err);
        a[i] = (ig_mono_seconds() - t0) * 1000;
        if (!c && i % 2 == 0)
            die("channel");
        json_decref(c);
    }
    return median(a, runs);
}

int main(int argc, char **argv)
{
    const char *db = NULL, *sizes = "1,10,100,1000";
    int runs = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--db") == 0)
            db = argv[i + 1];
        else if (strcmp(argv[i], "--children") == 0)
            sizes = argv[i + 1];
        else if (strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[i + 1]) > 0 && atoi(argv[i + 1]) <= 64 ? atoi(argv[i + 1]) : 5;
    }
    char dir[] = "/tmp/event-bench-XXXXXX", url[128];
    if (!db) {
        if (!mkdtemp(dir))
            return 1;
        snprintf(url, sizeof url, "sqlite:%s/bench.db", dir);
        db = url;
    }
    int code;
    ctx.now = ig_time_now();
    if (!(r = registry_open(db, REG_OPEN_CREATE, &code, err, sizeof err)))
        die("open");
    int ns[16], nn = 0;
    char *list = xstrdup(sizes), *save = NULL;
    for (char *t = strtok_r(list, ",", &save); t && nn < 16; t = strtok_r(NULL, ",", &save))
        ns[nn++] = atoi(t);
    free(list);
    for (int i = 0; i < nn; i++)
        family(ns[i]);
    static const int hooks[] = {0, 1, 4};
    double rev[16][3], res[16][3], one[3];
    for (int h = 0; h < 3; h++) {
        add_webhooks(h ? hooks[h - 1] : 0, hooks[h]);
        for (int i = 0; i < nn; i++)
            revoke_restore(ns[i], runs, &rev[i][h], &res[i][h]);
        one[h] = assign(runs * 2);
    }
    printf("store: %s, median of %d runs, ms per call\n\n", registry_kind(r), runs);
    printf("| change | events | 0 webhooks | 1 webhook | 4 webhooks |\n|---|---|---|---|---|\n");
    printf("| channel set / unset | 1 | %.2f | %.2f | %.2f |\n", one[0], one[1], one[2]);
    for (int i = 0; i < nn; i++) {
        printf("| revoke, %d descendants | %d | %.2f | %.2f | %.2f |\n", ns[i], ns[i] + 1,
               rev[i][0], rev[i][1], rev[i][2]);
        printf("| restore, %d descendants | %d | %.2f | %.2f | %.2f |\n", ns[i], ns[i] + 1,
               res[i][0], res[i][1], res[i][2]);
    }
    registry_close(r);
    if (db == url) {
        char cmd[200];
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "event_bench: could not remove %s\n", dir);
    }
    return 0;
}
