/* Counters and histograms for GET /metrics (Prometheus text format 0.0.4).
 * One mutex guards everything: updates are a handful per delivery, far from
 * contended. Any thread may record; the loop thread renders. */
#ifndef IG_WEBHOOK_METRICS_H
#define IG_WEBHOOK_METRICS_H

#include <stdint.h>

#include "common/strbuf.h"

typedef struct webhook_metrics webhook_metrics;

webhook_metrics *webhook_metrics_new(void);
void webhook_metrics_free(webhook_metrics *m);

/* A request answered on /runtask: kind "verification", "accepted",
 * "duplicate", "unauthorized", "bad_request", "unavailable". seconds: from
 * the handler's start to the reply. */
void webhook_metrics_ack(webhook_metrics *m, const char *kind, double seconds);
/* A finished delivery: stage as received (unknown ones become "other"),
 * verdict "pass", "warn", "fail" or "error". */
void webhook_metrics_delivery(webhook_metrics *m, const char *stage, const char *verdict);
/* A scan: wall time and input bytes. */
void webhook_metrics_scan(webhook_metrics *m, double seconds, uint64_t bytes);
/* A callback attempt: the HTTP status, 0 for a network error. */
void webhook_metrics_callback(webhook_metrics *m, int http_status);

/* Appends the exposition text. Gauges are passed in by the caller. */
void webhook_metrics_render(webhook_metrics *m, strbuf *out, int64_t queue_jobs,
                            int64_t queue_deliveries, int64_t busy_workers);

#endif
