/* Metrics with fixed label sets: small arrays instead of a generic registry,
 * so rendering is a loop and recording never allocates. Unknown label values
 * are folded into "other" to keep cardinality bounded whatever the input. */
#include "webhook/metrics.h"

#include "common/xalloc.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static const char *const ack_kinds[] = {"verification", "accepted",    "duplicate", "unauthorized",
                                        "bad_request",  "unavailable", "other"};
#define N_ACK (sizeof ack_kinds / sizeof ack_kinds[0])
static const char *const stages[] = {"pre_plan", "post_plan", "pre_apply", "post_apply", "other"};
#define N_STAGE (sizeof stages / sizeof stages[0])
static const char *const verdicts[] = {"pass", "warn", "fail", "error"};
#define N_VERDICT (sizeof verdicts / sizeof verdicts[0])
static const double ack_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,   0.25,   0.5,   1,    2.5};
#define N_ACKB (sizeof ack_bounds / sizeof ack_bounds[0])
static const double scan_bounds[] = {0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};
#define N_SCANB (sizeof scan_bounds / sizeof scan_bounds[0])

typedef struct hist {
    uint64_t bucket[16];
    uint64_t count;
    double sum;
} hist;

struct webhook_metrics {
    pthread_mutex_t mu;
    uint64_t acks[N_ACK];
    hist ack_latency;
    uint64_t deliveries[N_STAGE][N_VERDICT];
    hist scan_seconds;
    uint64_t scan_bytes;
    uint64_t callbacks[6]; /* 0 network, 2xx, 3xx, 4xx, 5xx, other */
};

webhook_metrics *webhook_metrics_new(void)
{
    webhook_metrics *m = xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    return m;
}

void webhook_metrics_free(webhook_metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static size_t index_of(const char *const *names, size_t n, const char *v)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (v && strcmp(names[i], v) == 0)
            return i;
    return n - 1;
}

static void observe(hist *h, const double *bounds, size_t nb, double v)
{
    for (size_t i = 0; i < nb; i++)
        if (v <= bounds[i])
            h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void webhook_metrics_ack(webhook_metrics *m, const char *kind, double seconds)
{
    pthread_mutex_lock(&m->mu);
    m->acks[index_of(ack_kinds, N_ACK, kind)]++;
    observe(&m->ack_latency, ack_bounds, N_ACKB, seconds);
    pthread_mutex_unlock(&m->mu);
}

void webhook_metrics_delivery(webhook_metrics *m, const char *stage, const char *verdict)
{
    size_t v = N_VERDICT - 1;
    for (size_t i = 0; i < N_VERDICT; i++)
        if (verdict && strcmp(verdicts[i], verdict) == 0)
            v = i;
    pthread_mutex_lock(&m->mu);
    m->deliveries[index_of(stages, N_STAGE, stage)][v]++;
    pthread_mutex_unlock(&m->mu);
}

void webhook_metrics_scan(webhook_metrics *m, double seconds, uint64_t bytes)
{
    pthread_mutex_lock(&m->mu);
    observe(&m->scan_seconds, scan_bounds, N_SCANB, seconds);
    m->scan_bytes += bytes;
    pthread_mutex_unlock(&m->mu);
}

static size_t status_class(int status)
{
    if (status == 0)
        return 0;
    if (status >= 200 && status < 600)
        return (size_t)(status / 100 - 1);
    return 5;
}

void webhook_metrics_callback(webhook_metrics *m, int http_status)
{
    pthread_mutex_lock(&m->mu);
    m->callbacks[status_class(http_status)]++;
    pthread_mutex_unlock(&m->mu);
}

static void render_hist(strbuf *out, const char *name, const hist *h, const double *bounds,
                        size_t nb)
{
    for (size_t i = 0; i < nb; i++)
        strbuf_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[i],
                      (unsigned long long)h->bucket[i]);
    strbuf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name,
                  (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

void webhook_metrics_render(webhook_metrics *m, strbuf *out, int64_t queue_jobs,
                            int64_t queue_deliveries, int64_t busy_workers)
{
    static const char *const classes[] = {"error", "2xx", "3xx", "4xx", "5xx", "other"};
    pthread_mutex_lock(&m->mu);
    strbuf_puts(out, "# HELP imagegate_runtask_requests_total Run-task requests answered, by "
                     "outcome.\n# TYPE imagegate_runtask_requests_total counter\n");
    for (size_t i = 0; i < N_ACK; i++)
        strbuf_printf(out, "imagegate_runtask_requests_total{result=\"%s\"} %llu\n", ack_kinds[i],
                      (unsigned long long)m->acks[i]);
    strbuf_puts(out, "# HELP imagegate_runtask_ack_seconds Time from receiving a run-task "
                     "request to answering it.\n# TYPE imagegate_runtask_ack_seconds histogram\n");
    render_hist(out, "imagegate_runtask_ack_seconds", &m->ack_latency, ack_bounds, N_ACKB);
    strbuf_puts(out, "# HELP imagegate_deliveries_total Deliveries finished, by stage and "
                     "verdict.\n# TYPE imagegate_deliveries_total counter\n");
    for (size_t s = 0; s < N_STAGE; s++)
        for (size_t v = 0; v < N_VERDICT; v++)
            strbuf_printf(out, "imagegate_deliveries_total{stage=\"%s\",verdict=\"%s\"} %llu\n",
                          stages[s], verdicts[v], (unsigned long long)m->deliveries[s][v]);
    strbuf_puts(out, "# HELP imagegate_scan_seconds Time to download and scan a plan or "
                     "configuration.\n# TYPE imagegate_scan_seconds histogram\n");
    render_hist(out, "imagegate_scan_seconds", &m->scan_seconds, scan_bounds, N_SCANB);
    strbuf_printf(out,
                  "# HELP imagegate_scan_bytes_total Plan and configuration bytes scanned.\n"
                  "# TYPE imagegate_scan_bytes_total counter\nimagegate_scan_bytes_total %llu\n",
                  (unsigned long long)m->scan_bytes);
    strbuf_puts(out, "# HELP imagegate_callbacks_total Callback attempts to HCP Terraform, by "
                     "HTTP status class (error = network).\n"
                     "# TYPE imagegate_callbacks_total counter\n");
    for (size_t i = 0; i < 6; i++)
        strbuf_printf(out, "imagegate_callbacks_total{status=\"%s\"} %llu\n", classes[i],
                      (unsigned long long)m->callbacks[i]);
    pthread_mutex_unlock(&m->mu);
    strbuf_printf(out,
                  "# HELP imagegate_queue_depth Work waiting for a thread.\n"
                  "# TYPE imagegate_queue_depth gauge\n"
                  "imagegate_queue_depth{queue=\"store\"} %lld\n"
                  "imagegate_queue_depth{queue=\"deliveries\"} %lld\n"
                  "# HELP imagegate_workers_busy Delivery workers working.\n"
                  "# TYPE imagegate_workers_busy gauge\nimagegate_workers_busy %lld\n",
                  (long long)queue_jobs, (long long)queue_deliveries, (long long)busy_workers);
}
