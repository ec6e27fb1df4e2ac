/* console_load: the load generator of bench/console_bench.py.
 *
 *   console_load PORT CALLS TOKENS
 *
 * CALLS has one call a line, "CLIENT<TAB>NAME<TAB>ROLE<TAB>PATH"; TOKENS has
 * "ROLE<TAB>SECRET" lines (secrets never go on a command line). Every
 * client is a thread with one keep-alive HTTP/1.1 connection to
 * 127.0.0.1:PORT that sends its calls one after the other, each GET with
 * the bearer token of its role, and reads each answer whole (by its
 * Content-Length) before the next: a closed loop, as the console's users
 * are. The clients connect first and start together. HTTP is libcurl's,
 * one easy handle per client.
 *
 * It prints one line per call name, "call NAME N P50 P90 P99 MAX" in
 * milliseconds (the client's round trip: from before the request is
 * written to the last byte of the answer), and "total CALLS WALL_S CPU_S",
 * its own CPU time: the server and this program share the machine's cores,
 * and a Python client with a GIL took a share big enough to move the
 * figures. A blocking thread per client costs microseconds per call.
 * Answers other than 200 stop the run (exit 1). */
#include "common/timeutil.h"
#include "common/xalloc.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define MAX_LINE 4096

typedef struct call {
    int client;
    char *name, *role, *path;
    double ms; /* measured */
} call;

typedef struct plan {
    call *v;
    size_t n, cap;
    char *roles[8], *secrets[8];
    size_t nroles;
    int port, clients;
    pthread_barrier_t start;
} plan;

typedef struct client {
    plan *p;
    int id;
    CURL *h;
    size_t bytes; /* of the answers, read and dropped */
    long reconnects;
    int failed;
} client;

static const char *secret_of(const plan *p, const char *role)
{
    for (size_t i = 0; i < p->nroles; i++)
        if (strcmp(p->roles[i], role) == 0)
            return p->secrets[i];
    return NULL;
}

/* Splits line (its newline removed) at tabs into at most n fields. */
static size_t fields(char *line, char **f, size_t n)
{
    size_t k = 0;
    line[strcspn(line, "\r\n")] = '\0';
    for (char *s = line; k < n && s; k++) {
        f[k] = s;
        s = strchr(s, '\t');
        if (s)
            *s++ = '\0';
    }
    return k;
}

static int read_tokens(plan *p, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[MAX_LINE], *fl[2];
    if (!f)
        return fprintf(stderr, "console_load: %s: %s\n", path, strerror(errno)), -1;
    while (fgets(line, sizeof line, f) && p->nroles < 8)
        if (fields(line, fl, 2) == 2) {
            p->roles[p->nroles] = xstrdup(fl[0]);
            p->secrets[p->nroles++] = xstrdup(fl[1]);
        }
    fclose(f);
    return 0;
}

static int read_calls(plan *p, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[MAX_LINE], *fl[4];
    if (!f)
        return fprintf(stderr, "console_load: %s: %s\n", path, strerror(errno)), -1;
    while (fgets(line, sizeof line, f)) {
        if (fields(line, fl, 4) != 4)
            continue;
        xgrow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v);
        call *c = &p->v[p->n++];
        *c = (call){atoi(fl[0]), xstrdup(fl[1]), xstrdup(fl[2]), xstrdup(fl[3]), 0};
        if (c->client + 1 > p->clients)
            p->clients = c->client + 1;
        if (!secret_of(p, c->role))
            return fprintf(stderr, "console_load: no token for role '%s'\n", c->role), -1;
    }
    fclose(f);
    return 0;
}

static size_t discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    *(size_t *)arg += size * n;
    return size * n;
}

/* One keep-alive libcurl handle per client: the connection is made before
 * the start and reused for every call (CURLINFO_NUM_CONNECTS counts the
 * calls that had to open a new one). */
static CURL *dial(client *c)
{
    CURL *h = curl_easy_init();
    char url[64];
    if (!h)
        return NULL;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", c->p->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &c->bytes);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(h) != CURLE_OK) {
        fprintf(stderr, "console_load: cannot connect to 127.0.0.1:%d\n", c->p->port);
        curl_easy_cleanup(h);
        return NULL;
    }
    return h;
}

/* GETs path with the role's bearer token; the status, or -1. */
static long get(client *c, const call *k)
{
    char url[MAX_LINE + 64], auth[MAX_LINE + 32];
    struct curl_slist *hd;
    long status = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", c->p->port, k->path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", secret_of(c->p, k->role));
    hd = curl_slist_append(NULL, auth);
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hd);
    if (curl_easy_perform(c->h) == CURLE_OK) {
        long conns = 0;
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c->h, CURLINFO_NUM_CONNECTS, &conns);
        c->reconnects += conns > 0; /* the kept-alive connection was lost */
    }
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hd);
    return status;
}

static void *client_main(void *arg)
{
    client *c = arg;
    plan *p = c->p;
    pthread_barrier_wait(&p->start);
    for (size_t i = 0; i < p->n && !c->failed; i++) {
        call *k = &p->v[i];
        if (k->client != c->id)
            continue;
        double t0 = ig_mono_seconds();
        long st = get(c, k);
        k->ms = (ig_mono_seconds() - t0) * 1000;
        if (st != 200) {
            fprintf(stderr, "console_load: %s: %s\n", k->path,
                    st < 0 ? "connection broken" : "not 200");
            c->failed = 1;
        }
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The p-th percentile of sorted xs[0..n), as bench/console_bench.py takes it. */
static double pct(const double *xs, size_t n, double p)
{
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return xs[i < n ? i : n - 1];
}

static void report(const plan *p)
{
    const char *names[32];
    size_t nn = 0;
    double *xs = xcalloc(p->n ? p->n : 1, sizeof *xs);
    for (size_t i = 0; i < p->n; i++) {
        size_t j = 0;
        while (j < nn && strcmp(names[j], p->v[i].name) != 0)
            j++;
        if (j == nn && nn < 32)
            names[nn++] = p->v[i].name;
    }
    for (size_t j = 0; j < nn; j++) {
        size_t k = 0;
        for (size_t i = 0; i < p->n; i++)
            if (strcmp(p->v[i].name, names[j]) == 0)
                xs[k++] = p->v[i].ms;
        qsort(xs, k, sizeof *xs, cmp_d);
        printf("call\t%s\t%zu\t%.2f\t%.2f\t%.2f\t%.2f\n", names[j], k, pct(xs, k, 50),
               pct(xs, k, 90), pct(xs, k, 99), xs[k - 1]);
    }
    free(xs);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* Connects every client, starts them together, waits for them. */
static int run(plan *p, double *wall)
{
    client *cs = xcalloc((size_t)p->clients, sizeof *cs);
    pthread_t *t = xcalloc((size_t)p->clients, sizeof *t);
    int failed = 0;
    pthread_barrier_init(&p->start, NULL, (unsigned)p->clients + 1);
    for (int i = 0; i < p->clients; i++) {
        cs[i] = (client){.p = p, .id = i};
        cs[i].h = dial(&cs[i]);
        if (!cs[i].h)
            exit(1);
        pthread_create(&t[i], NULL, client_main, &cs[i]);
    }
    double t0 = ig_mono_seconds();
    pthread_barrier_wait(&p->start);
    for (int i = 0; i < p->clients; i++) {
        pthread_join(t[i], NULL);
        failed |= cs[i].failed;
        if (cs[i].reconnects)
            fprintf(stderr, "console_load: client %d reconnected %ld times\n", i, cs[i].reconnects);
        curl_easy_cleanup(cs[i].h);
    }
    *wall = ig_mono_seconds() - t0;
    pthread_barrier_destroy(&p->start);
    free(t);
    free(cs);
    return failed ? -1 : 0;
}

int main(int argc, char **argv)
{
    plan p = {0};
    double wall = 0;
    if (argc != 4) {
        fprintf(stderr, "usage: console_load PORT CALLS TOKENS\n");
        return 2;
    }
    p.port = atoi(argv[1]);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (read_tokens(&p, argv[3]) < 0 || read_calls(&p, argv[2]) < 0)
        return 1;
    if (p.n == 0 || p.clients == 0) {
        fprintf(stderr, "console_load: %s: no calls\n", argv[2]);
        return 1;
    }
    if (run(&p, &wall) < 0)
        return 1;
    report(&p);
    printf("total\t%zu\t%.3f\t%.3f\n", p.n, wall, cpu_seconds());
    return 0;
}
