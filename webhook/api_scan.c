/* POST /v1/scan: a Terraform JSON plan in, the report of PRODUCT.md
 * section 3 out (the format of ?format=, default text), with the verdict in
 * X-Imagegate-Verdict -- the server side of `imagegate scan --server`.
 *
 * A request goes through two workers: a store worker checks the token
 * (auth_work), then, only for an authenticated scan, one of the --workers
 * scan threads parses, looks up, evaluates and renders (scan_work); the
 * loop only moves the body into the job and writes the answer. The plan is
 * not streamed into the scanner while it arrives -- libevent 2.1 reads a
 * body whole before any handler runs; why that stands, and the bound that
 * takes its place, are written above webhook_handle_scan() -- but it is
 * never copied either: its chains move from the request into the job and
 * are freed as they are scanned (scan_job). A scan that names a workspace
 * becomes a run (runs.h): its page, run and usage are recorded before the
 * answer goes back with X-Imagegate-Run-Id and X-Imagegate-Result-Url. */
#include "webhook/api_internal.h"

#include "common/log.h"
#include "common/strbuf.h"
#include "common/timeutil.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "webhook/callback.h"
#include "webhook/results.h"
#include "webhook/runs.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SCOPE 255 /* organization, workspace */

/* What we keep small: the body's chains are moved (not copied) out of the
 * request into the job, the scan worker hands them to the scanner one
 * contiguous chain at a time and frees each chain as soon as it is read, so
 * the plan's memory shrinks while the scan runs and no second copy exists. */
typedef struct scan_job {
    struct evbuffer *plan; /* moved from the request */
    report_format fmt;
    char organization[MAX_SCOPE + 1], workspace[MAX_SCOPE + 1];
    bool has_org, has_ws;
    /* set by record_scan: the run it became, its page ("" when none) */
    char run_id[ULID_LEN + 1];
    char result_url[WEBHOOK_MAX_URL + 1];
} scan_job;

static void scan_job_free(scan_job *s)
{
    if (!s)
        return;
    if (s->plan)
        evbuffer_free(s->plan);
    free(s);
}

static void scan_finish(api_call *c)
{
    scan_job_free(c->scan);
    c->scan = NULL;
    webhook_api_call_finish(c);
}

static const char *content_type(report_format f)
{
    switch (f) {
    case REPORT_JSON:
        return "application/json";
    case REPORT_MARKDOWN:
        return "text/markdown; charset=utf-8";
    case REPORT_SARIF:
        return "application/sarif+json";
    case REPORT_JUNIT:
        return "application/xml";
    default:
        return "text/plain; charset=utf-8";
    }
}

/* ---- the registry behind the policy's lookup interface ------------------ */

typedef struct lookup_ctx {
    registry *r;
    reg_ctx ctx;
    char err[512];
} lookup_ctx;

static json_t *lk_find_image(void *p, const char *id, const char *platform)
{
    lookup_ctx *l = p;
    /* by identifier alone, as the command line asks: the policy narrows by
     * platform itself, only among several matches (PRODUCT.md section 3), and
     * caches the answer per identifier. A store query narrowed by the
     * pattern's platform missed a revoked image registered under another
     * platform name (an API build with platform "" or "amazon"). */
    (void)platform;
    return registry_artifact_find(l->r, &l->ctx, id, NULL, NULL, l->err, sizeof l->err);
}

static json_t *lk_channels(void *p, const char *bucket)
{
    lookup_ctx *l = p;
    json_t *j = registry_channel_list(l->r, &l->ctx, bucket, l->err, sizeof l->err);
    if (!j && registry_errcode(l->r) == REG_ENOTFOUND)
        return json_array();
    return j;
}

static json_t *lk_find_version(void *p, const char *bucket, const char *ref)
{
    lookup_ctx *l = p;
    json_t *v = registry_version_get(l->r, &l->ctx, bucket, ref, l->err, sizeof l->err);
    if (!v && (registry_errcode(l->r) == REG_ENOTFOUND || registry_errcode(l->r) == REG_EINVAL))
        return json_null();
    return v;
}

/* ---- the run it becomes (scan worker) -------------------------------------- */

/* Stores the scan's result page under id. 0, or -1 (logged). */
static int store_page(registry *r, const api_call *c, const scan_job *s, const policy_report *rep,
                      const char *id, const char *message, ig_time at)
{
    char when[40], err[512];
    const webhook_page_line lines[] = {
        {"run", s->run_id},
        {"organization", s->has_org ? s->organization : NULL},
        {"workspace", s->workspace},
        {"requested by", c->who},
        {"evaluated at", ig_time_format(at, when, sizeof when)},
        {"verdict", policy_verdict_name(rep->verdict)},
        {"message", message},
    };
    char *page = webhook_result_page_render("imagegate scan result", lines,
                                            sizeof lines / sizeof lines[0], rep);
    reg_ctx ctx = {"imagegate", at};
    reg_result res = {.id = (char *)id,
                      .task_result_id = (char *)s->run_id,
                      .run_id = (char *)s->run_id,
                      .organization = s->has_org ? (char *)s->organization : NULL,
                      .workspace = (char *)s->workspace,
                      .stage = "scan",
                      .verdict = (char *)policy_verdict_name(rep->verdict),
                      .page = page};
    int rc = page ? registry_result_put(r, &ctx, &res, err, sizeof err) : -1;
    if (rc < 0) {
        char q[600];
        log_warn("event=result_page_failed run_id=%s error=%s", s->run_id,
                 log_quote(page ? err : "out of memory", q, sizeof q));
    }
    free(page);
    return rc;
}

/* A scan that names its workspace becomes a run, with its image usage and,
 * while --result-retention keeps pages, a result page; the run's id and the
 * page's url go back in headers (scan_done). With --usage-retention 0 it
 * records nothing. Returns the milliseconds it took (-1: failed). */
static double record_scan(webhook_worker *w, registry *r, api_call *c, const policy_report *rep,
                          ig_time at)
{
    scan_job *s = c->scan;
    webhook_server *srv = webhook_worker_server(w);
    char result_id[33] = "";
    if (!s->has_ws || webhook_server_config(srv)->usage_retention <= 0)
        return 0;
    double t0 = ig_mono_seconds();
    ulid_new(at, s->run_id);
    char *message = webhook_result_message(rep, "scan");
    if (webhook_result_page_link(srv, result_id, s->result_url, sizeof s->result_url) &&
        store_page(r, c, s, rep, result_id, message, at) < 0)
        result_id[0] = s->result_url[0] = '\0';
    webhook_run_info info = {
        .id = s->run_id,
        .source = "scan",
        .organization = s->has_org ? s->organization : NULL,
        .workspace = s->workspace,
        .stage = "scan",
        .verdict = policy_verdict_name(rep->verdict),
        .message = message,
        .result_id = *result_id ? result_id : NULL,
        .evaluated_at = at,
        .report = rep,
        .usage = true,
    };
    double ms = webhook_run_record(w, &info);
    if (ms < 0)
        s->run_id[0] = '\0';
    free(message);
    return ms < 0 ? -1 : (ig_mono_seconds() - t0) * 1000;
}

/* ---- the scan (scan worker) ------------------------------------------------ */

/* Hands the plan to the scanner one contiguous chain at a time, freeing each
 * as soon as it is read. 0, or -1 with c's status set. */
static int feed_plan(webhook_server *srv, api_call *c, scan_plan *sp)
{
    scan_job *s = c->scan;
    for (;;) {
        size_t n = evbuffer_get_contiguous_space(s->plan);
        if (!n)
            break;
        if (atomic_load(webhook_server_abort_flag(srv)))
            return webhook_api_call_fail(c, 503, "imagegate is shutting down; try again");
        const unsigned char *p = evbuffer_pullup(s->plan, (ev_ssize_t)n); /* no copy: one chain */
        if (scan_plan_feed(sp, p, n, c->err, sizeof c->err) < 0) {
            c->status = 400;
            return -1;
        }
        evbuffer_drain(s->plan, n);
    }
    evbuffer_free(s->plan);
    s->plan = NULL;
    return 0;
}

static void scan_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    scan_job *s = c->scan;
    webhook_server *srv = webhook_worker_server(w);
    scan_result *res = NULL;
    policy_report *rep = NULL;
    FILE *out = NULL;
    double t0 = ig_mono_seconds();
    uint64_t bytes = evbuffer_get_length(s->plan);
    scan_plan *sp = scan_plan_new(webhook_server_rules(srv), NULL);
    if (feed_plan(srv, c, sp) < 0)
        goto out;
    if (scan_plan_finish(sp, &res, c->err, sizeof c->err) < 0) {
        c->status = 400;
        goto out;
    }
    registry *r = webhook_worker_registry(w, c->err, sizeof c->err);
    if (!r) {
        webhook_api_call_fail(c, 503, "the registry store is unavailable; try again");
        goto out;
    }
    lookup_ctx l = {r, {c->who, ig_time_now()}, ""};
    policy_lookup lk = {&l, lk_find_image, lk_channels, lk_find_version};
    policy_scope scope = {s->has_org ? s->organization : NULL, s->has_ws ? s->workspace : NULL,
                          l.ctx.now};
    rep = policy_eval(webhook_server_policy(srv), res, &lk, &scope, c->err, sizeof c->err);
    if (!rep) {
        char q[600];
        log_error("event=scan_store_failed token=%s error=%s", c->who,
                  log_quote(*l.err ? l.err : c->err, q, sizeof q));
        webhook_worker_reset_registry(w);
        webhook_api_call_fail(c, 503, "the registry could not be read; try again");
        goto out;
    }
    scan_result_free(res);
    res = NULL;
    out = open_memstream(&c->text, &c->text_len);
    if (!out || report_write(rep, s->fmt, false, out) != 0 || fclose(out) != 0) {
        out = NULL;
        webhook_api_call_fail(c, 500, "the report could not be written");
        goto out;
    }
    out = NULL;
    c->content_type = content_type(s->fmt);
    c->verdict = policy_verdict_name(rep->verdict);
    double secs = ig_mono_seconds() - t0;
    double usage_ms = record_scan(w, r, c, rep, l.ctx.now);
    webhook_metrics_scan(webhook_server_metrics(srv), secs, bytes);
    log_info("event=scan token=%s run_id=%s bytes=%llu verdict=%s fail=%zu warn=%zu info=%zu "
             "scan_ms=%.1f usage_ms=%.1f",
             c->who, *s->run_id ? s->run_id : "-", (unsigned long long)bytes, c->verdict,
             rep->count[POLICY_FAIL], rep->count[POLICY_WARN], rep->count[POLICY_INFO], secs * 1000,
             usage_ms);
out:
    if (out)
        fclose(out);
    if (c->status) {
        free(c->text);
        c->text = NULL;
    }
    policy_report_free(rep);
    scan_result_free(res);
    scan_plan_free(sp);
}

static void scan_done(webhook_server *srv, void *arg)
{
    (void)srv;
    api_call *c = arg;
    scan_job *s = c->scan;
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    if (!c->status && *s->run_id)
        evhttp_add_header(h, "X-Imagegate-Run-Id", s->run_id);
    if (!c->status && *s->result_url)
        evhttp_add_header(h, "X-Imagegate-Result-Url", s->result_url);
    scan_finish(c);
}

/* ---- the token (store worker), then the scan pool ---------------------- */

/* The token is checked on a store worker first; only an authenticated scan
 * takes one of the --workers scan threads (lower priority, like
 * deliveries), and at most --workers scans wait for one (503 beyond), so
 * the plans held in memory are bounded by 2 x --workers x --max-plan-bytes
 * plus those still being received from token holders. */

static void auth_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    if (webhook_api_call_auth(w, c))
        webhook_api_call_allow(c, webhook_api_op_role(API_SCAN, false));
}

static void auth_done(webhook_server *srv, void *arg)
{
    api_call *c = arg;
    if (c->status) {
        scan_finish(c);
        return;
    }
    if (!evhttp_request_get_connection(c->req)) {
        /* the client hung up while its token was checked: nobody to answer */
        webhook_api_call_fail(c, 400, "the client closed the connection");
        scan_finish(c);
        return;
    }
    if (webhook_submit_scan(srv, scan_work, scan_done, c) < 0) {
        webhook_api_call_fail(c, 503,
                              "all %lld scan workers are busy and %lld scans wait; try "
                              "again",
                              (long long)webhook_server_config(srv)->workers,
                              (long long)webhook_server_config(srv)->workers);
        scan_finish(c);
    }
}

static int scope_param(api_call *c, const char *key, char *dst, bool *has)
{
    const char *v = webhook_api_query_get(&c->query, key);
    if (!v || !*v)
        return 0;
    if (strlen(v) > MAX_SCOPE)
        return webhook_api_call_fail(c, 400, "%s: longer than %d bytes", key, MAX_SCOPE);
    strcpy(dst, v);
    /* it is stored with the run and its usage: text, not bytes */
    if (strcmp(str_utf8_repair(dst, strlen(dst)), v) != 0)
        return webhook_api_call_fail(c, 400, "%s: not valid UTF-8", key);
    *has = true;
    return 0;
}

/* The body is NOT streamed into the scanner while it arrives. libevent 2.1
 * (Debian 12 ships 2.1.12) reads a request body completely before it calls
 * any handler and gives no request object before that: evhttp_set_newreqcb,
 * which would let us attach evhttp_request_set_chunked_cb to an incoming
 * request, first appears in libevent 2.2. Taking the body away from evhttp
 * earlier is possible only below it -- a bufferevent filter handed to
 * evhttp_set_bevcb sees the raw bytes -- but that filter would be a second
 * HTTP/1.1 parser in front of evhttp's: it would have to find where each
 * request ends (Content-Length, chunked framing, trailers, pipelining),
 * rewrite the header block so evhttp dispatches without a body, and keep
 * the two parsers agreeing on every byte; where they disagree is request
 * smuggling. So the plan is bounded instead: POST /v1/scan is the one
 * route (large_body) whose body may reach --max-plan-bytes (413 beyond;
 * past libevent's own limit the 413 comes from libevent), and only when its
 * header block carries a live token (server.c's body_limit against
 * tokens.c's snapshot, before the body is read); any other request may send
 * --max-body-bytes and is answered 401 here or 413 by libevent. docs/api.md
 * says what that costs. */
void webhook_handle_scan(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    const webhook_config *cfg = webhook_server_config(srv);
    api_call *c = webhook_api_call_new(srv, req, API_SCAN, false);
    if (!c)
        return;
    scan_job *s = xcalloc(1, sizeof *s);
    c->scan = s;
    const char *fmt = webhook_api_query_get(&c->query, "format");
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (fmt && *fmt && report_format_parse(fmt, &s->fmt) != 0) {
        webhook_api_call_fail(c, 400,
                              "format: '%.40s' is not text, json, markdown, sarif or "
                              "junit",
                              fmt);
    } else if (scope_param(c, "organization", s->organization, &s->has_org) < 0 ||
               scope_param(c, "workspace", s->workspace, &s->has_ws) < 0) {
        /* c->status set */
    } else if (len > (size_t)cfg->max_plan_bytes) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        webhook_api_call_fail(c, 413, "the plan is larger than --max-plan-bytes (%lld bytes)",
                              (long long)cfg->max_plan_bytes);
    } else if (len == 0) {
        webhook_api_call_fail(c, 400,
                              "the request body must be the plan (terraform show -json "
                              "PLANFILE); it is empty");
    } else {
        s->plan = evbuffer_new();
        evbuffer_add_buffer(s->plan, in); /* moves the chains */
        if (webhook_submit(srv, auth_work, auth_done, c) == 0)
            return;
        webhook_api_call_fail(c, 503, "imagegate is busy; try again");
    }
    scan_finish(c);
}
