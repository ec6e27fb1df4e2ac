/* Outbound HTTP for deliveries, on libcurl: fetching the plan / the
 * configuration archive, and PATCHing the result. Runs on delivery workers
 * only (blocking calls).
 *
 * The run token is sent only to a URL whose host:port is an allowed host,
 * over https unless that host's entry is http://HOST:PORT, and never across
 * a redirect: redirects are followed here, by hand, without
 * the Authorization header (HCP Terraform's 307/302 targets are pre-signed
 * URLs on another host). URLs are logged without their query string, which
 * is where pre-signed URLs keep their signatures. Proxy variables
 * (https_proxy, no_proxy, ...) are honoured as libcurl does by default. */
#ifndef IG_WEBHOOK_OUTBOUND_H
#define IG_WEBHOOK_OUTBOUND_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "webhook/config.h"

typedef struct webhook_http_opts {
    const webhook_config *cfg;
    const atomic_int *abort_flag; /* non-zero: abort transfers and waits now (may be NULL) */
    /* Called about once a second while a transfer or a wait is in progress
     * (renew the lease, send "running"); non-zero aborts. May be NULL. */
    int (*tick)(void *arg);
    void *tick_arg;
} webhook_http_opts;

/* Receives the body of the final 200 response as it arrives. Returns 0, or
 * -1 with err to abort (the scanner rejected the bytes). */
typedef int (*webhook_sink_fn)(void *arg, const char *buf, size_t len, char *err, size_t errlen);

/* GET url with "Authorization: Bearer token" (token NULL = none; refused
 * unless the host is allowed), following up to 5 redirects without the
 * token; a 204 is retried with backoff (1 s doubling to 10 s) until wait_ms
 * has passed; network errors and 5xx before any byte arrived are retried 3
 * times. At most max_bytes of body reach the sink. *bytes gets the body size.
 * Returns 0, or -1 with a message naming the URL (without query) and what
 * happened. */
int webhook_http_fetch(const webhook_http_opts *o, const char *url, const char *token,
                       int64_t max_bytes, int64_t wait_ms, webhook_sink_fn sink, void *sink_arg,
                       uint64_t *bytes, char *err, size_t errlen);

/* PATCH url with the token and a JSON:API body (one attempt, 30 s at most).
 * Returns the HTTP status, or 0 for a network error (reason in err). The
 * token is refused (returns 0) when the host is not allowed. */
int webhook_http_patch(const webhook_http_opts *o, const char *url, const char *token,
                       const char *body, char *err, size_t errlen);

/* Copies url without query and fragment into buf (for logs and messages). */
const char *webhook_url_for_log(const char *url, char *buf, size_t buflen);

/* Sleeps ms in slices, calling tick and watching abort. Returns -1 when
 * aborted, else 0. */
int webhook_http_sleep(const webhook_http_opts *o, int64_t ms);

#endif
