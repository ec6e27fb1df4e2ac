/* One easy handle per call: transfers here are few and long (plans of
 * hundreds of megabytes), so connection reuse buys nothing and a fresh
 * handle guarantees that no header (the token) survives into the next
 * request. CURLOPT_FOLLOWLOCATION stays off; webhook_http_fetch reads
 * CURLINFO_REDIRECT_URL and decides itself what the next request carries. */
#include "webhook/outbound.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "common/xalloc.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define USER_AGENT "imagegate/0.1 (run task)"
#define MAX_REDIRECTS 5
#define MAX_DISCARD (1024 * 1024)

/* Why the run token is not sent to url (not on an allowed host). */
static void refuse_host(const char *url, char *err, size_t errlen)
{
    char logurl[512];
    webhook_url_for_log(url, logurl, sizeof logurl);
    if (url && strncasecmp(url, "http://", 7) == 0)
        snprintf(err, errlen,
                 "%s is plain http: the run token goes only over https unless "
                 "--allowed-host names this host as http://HOST:PORT",
                 logurl);
    else
        snprintf(err, errlen,
                 "%s is not on an allowed host (--allowed-host); the run token is "
                 "not sent there",
                 logurl);
}

const char *webhook_url_for_log(const char *url, char *buf, size_t buflen)
{
    size_t n = strcspn(url ? url : "", "?#");
    if (n >= buflen)
        n = buflen - 1;
    memcpy(buf, url ? url : "", n);
    buf[n] = '\0';
    return buf;
}

typedef struct xfer {
    const webhook_http_opts *o;
    CURL *h;
    webhook_sink_fn sink;
    void *sink_arg;
    int64_t max;
    uint64_t bytes;
    uint64_t discarded;
    int too_big;
    int sink_failed;
    int tick_abort;
    ig_time last_tick;
    char sink_err[512];
} xfer;

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    long code = 0;
    curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 || !x->sink) {
        x->discarded += n;
        return x->discarded > MAX_DISCARD ? 0 : n;
    }
    if (x->bytes + n > (uint64_t)x->max) {
        x->too_big = 1;
        return 0;
    }
    x->bytes += n;
    if (x->sink(x->sink_arg, ptr, n, x->sink_err, sizeof x->sink_err) < 0) {
        x->sink_failed = 1;
        return 0;
    }
    return n;
}

static int tick_now(const webhook_http_opts *o, ig_time *last)
{
    if (o->abort_flag && atomic_load(o->abort_flag))
        return 1;
    ig_time now = ig_time_now();
    if (o->tick && now - *last >= 1000) {
        *last = now;
        return o->tick(o->tick_arg);
    }
    return 0;
}

static int xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    xfer *x = arg;
    if (tick_now(x->o, &x->last_tick)) {
        x->tick_abort = 1;
        return 1;
    }
    return 0;
}

int webhook_http_sleep(const webhook_http_opts *o, int64_t ms)
{
    ig_time end = ig_time_now() + ms, last = ig_time_now();
    while (ig_time_now() < end) {
        if (tick_now(o, &last))
            return -1;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static void common_opts(CURL *h, const webhook_http_opts *o, char *errbuf)
{
    const webhook_config *c = o->cfg;
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->connect_timeout);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, (long)(c->low_speed_time / 1000));
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (c->ca_file && *c->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
}

/* One GET. Returns the HTTP status, 0 for a transport error, -1 when the
 * transfer was stopped on purpose (err says why). *location gets a new copy
 * of the redirect target for 3xx. */
static long get_once(const webhook_http_opts *o, const char *url, const char *token, xfer *x,
                     char **location, char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char logurl[512];
    struct curl_slist *hdrs = NULL;
    long code = 0;
    CURL *h = curl_easy_init();
    x->h = h;
    common_opts(h, o, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    if (token) {
        char *auth = xasprintf("Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, auth);
        free(auth);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    webhook_url_for_log(url, logurl, sizeof logurl);
    if (x->too_big) {
        snprintf(err, errlen,
                 "GET %s: more than %lld bytes (limit --max-plan-bytes / "
                 "--max-archive-bytes)",
                 logurl, (long long)x->max);
        code = -1;
    } else if (x->sink_failed) {
        snprintf(err, errlen, "%s", x->sink_err);
        code = -1;
    } else if (x->tick_abort) {
        snprintf(err, errlen, "GET %s: stopped (shutting down)", logurl);
        code = -1;
    } else if (rc != CURLE_OK) {
        snprintf(err, errlen, "GET %s: %s", logurl, *errbuf ? errbuf : curl_easy_strerror(rc));
        code = 0;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        char *loc = NULL;
        if (code >= 300 && code < 400 &&
            curl_easy_getinfo(h, CURLINFO_REDIRECT_URL, &loc) == CURLE_OK && loc)
            *location = xstrdup(loc);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    x->h = NULL;
    return code;
}

int webhook_http_fetch(const webhook_http_opts *o, const char *url, const char *token,
                       int64_t max_bytes, int64_t wait_ms, webhook_sink_fn sink, void *sink_arg,
                       uint64_t *bytes, char *err, size_t errlen)
{
    int rc = -1;
    char *cur = xstrdup(url);
    char logurl[512];
    int hops = 0, transient = 0;
    int64_t delay = 1000;
    ig_time deadline = ig_time_now() + wait_ms;
    xfer x = {
        .o = o, .sink = sink, .sink_arg = sink_arg, .max = max_bytes, .last_tick = ig_time_now()};
    const char *send_token = token;

    if (token && !webhook_config_host_allowed(o->cfg, url)) {
        refuse_host(url, err, errlen);
        goto out;
    }
    for (;;) {
        char *location = NULL;
        long code = get_once(o, cur, send_token, &x, &location, err, errlen);
        webhook_url_for_log(cur, logurl, sizeof logurl);
        if (code < 0)
            goto out;
        if (code == 200) {
            rc = 0;
            goto out;
        }
        if (code >= 300 && code < 400 && code != 304) {
            if (!location) {
                snprintf(err, errlen, "GET %s answered %ld without a Location", logurl, code);
                goto out;
            }
            if (++hops > MAX_REDIRECTS) {
                free(location);
                snprintf(err, errlen, "GET %s: more than %d redirects", logurl, MAX_REDIRECTS);
                goto out;
            }
            log_debug("event=redirect status=%ld from=%s", code, logurl);
            free(cur);
            cur = location;
            send_token = NULL; /* never across a redirect */
            continue;
        }
        free(location);
        if (code == 204) {
            if (ig_time_now() + delay > deadline) {
                snprintf(err, errlen, "GET %s: the plan was still not ready (204) after %llds",
                         logurl, (long long)(wait_ms / 1000));
                goto out;
            }
        } else if ((code == 0 || code == 429 || code >= 500) && x.bytes == 0 && transient < 3) {
            transient++;
        } else if (code == 422 && hops == 0 && strstr(logurl, "/json-output")) {
            /* RUNTASK.md: the plan JSON endpoint's 422 means the run's
             * Terraform is too old to produce a JSON plan */
            snprintf(err, errlen,
                     "GET %s answered HTTP 422: HCP Terraform has no JSON plan for "
                     "this run; the run's Terraform version is too old to produce one (JSON "
                     "plans need Terraform 0.12 or later)",
                     logurl);
            goto out;
        } else {
            if (code != 0) /* else err was set by get_once */
                snprintf(err, errlen, "GET %s answered HTTP %ld", logurl, code);
            goto out;
        }
        log_debug("event=fetch_retry status=%ld url=%s delay_ms=%lld", code, logurl,
                  (long long)delay);
        if (webhook_http_sleep(o, delay) < 0) {
            snprintf(err, errlen, "GET %s: stopped (shutting down)", logurl);
            goto out;
        }
        delay = delay * 2 > 10000 ? 10000 : delay * 2;
    }
out:
    if (bytes)
        *bytes = x.bytes;
    free(cur);
    return rc;
}

static size_t discard_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    (void)ptr;
    size_t *total = arg;
    *total += size * nmemb;
    return *total > MAX_DISCARD ? 0 : size * nmemb;
}

int webhook_http_patch(const webhook_http_opts *o, const char *url, const char *token,
                       const char *body, char *err, size_t errlen)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    char logurl[512];
    size_t discarded = 0;
    long code = 0;
    webhook_url_for_log(url, logurl, sizeof logurl);
    if (!webhook_config_host_allowed(o->cfg, url)) {
        refuse_host(url, err, errlen);
        return 0;
    }
    CURL *h = curl_easy_init();
    struct curl_slist *hdrs = NULL;
    char *auth = xasprintf("Authorization: Bearer %s", token ? token : "");
    hdrs = curl_slist_append(hdrs, auth);
    free(auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.api+json");
    hdrs = curl_slist_append(hdrs, "Accept: application/vnd.api+json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    common_opts(h, o, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PATCH");
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &discarded);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    CURLcode rc = curl_easy_perform(h);
    if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && discarded > MAX_DISCARD)) {
        snprintf(err, errlen, "PATCH %s: %s", logurl, *errbuf ? errbuf : curl_easy_strerror(rc));
        code = 0;
    } else {
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        if (code < 200 || code >= 300)
            snprintf(err, errlen, "PATCH %s answered HTTP %ld", logurl, code);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return (int)code;
}
