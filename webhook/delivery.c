/* One delivery, end to end, on a delivery worker:
 *
 *   stored body -> stage -> fetch (+ scan while downloading) -> evaluate
 *   against the registry -> PATCH the result -> registry_delivery_finish.
 *
 * Every path ends in exactly one final callback: a scan error, a plan that
 * cannot be fetched, an unsupported stage or payload version all become a
 * "failed" result with a message saying what happened, so a mandatory task
 * fails closed instead of timing out. The only exits without a final status
 * are a token HCP Terraform rejects (401: nobody can be told anything) and a
 * shutdown that interrupts the work -- then the delivery stays queued and
 * the next start resumes it while its token can still be valid.
 *
 * While the work runs, tick() renews the worker's lease on the delivery and
 * sends one "running" status after --running-after. The access token lives
 * only in the stored body and in this file's memory; it is never logged. */
#include "common/log.h"
#include "common/strbuf.h"
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "webhook/archive.h"
#include "webhook/callback.h"
#include "webhook/outbound.h"
#include "webhook/results.h"
#include "webhook/runs.h"
#include "webhook/runtask.h"
#include "webhook/server.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef struct dl {
    webhook_worker *w;
    webhook_server *srv;
    const webhook_config *cfg;
    reg_delivery *d;
    webhook_runtask_req rq;
    webhook_http_opts http;
    ig_time start;
    ig_time last_renew;
    bool running_sent;
    bool lease_lost;
    uint64_t bytes;
    double scan_seconds;
    ig_time evaluated_at;
    /* the outcome */
    const char *status;  /* passed / failed */
    const char *verdict; /* pass / warn / fail / error */
    char *message;
    policy_report *report;
    char result_url[WEBHOOK_MAX_URL + 1];
    char result_id[33]; /* the result page's id, or "" when there is none */
} dl;

/* ---- registry answers for the policy --------------------------------- */

typedef struct lookup_ctx {
    registry *r;
    reg_ctx ctx;
    char err[512];
    int (*tick)(void *arg); /* between lookups: lease and "running" */
    void *tick_arg;
} lookup_ctx;

/* Non-zero when the delivery must stop (lease lost, shutdown): the lookup
 * then fails and the evaluation with it; nothing is sent. */
static int lk_stop(lookup_ctx *l)
{
    if (l->tick(l->tick_arg) == 0)
        return 0;
    snprintf(l->err, sizeof l->err, "stopped");
    return 1;
}

static json_t *lk_find_image(void *c, const char *id, const char *platform)
{
    lookup_ctx *l = c;
    if (lk_stop(l))
        return NULL;
    /* by identifier alone, as the command line asks: the policy narrows by
     * platform itself, only among several matches (PRODUCT.md section 3), and
     * caches the answer per identifier. A store query narrowed by the
     * pattern's platform missed a revoked image registered under another
     * platform name (an API build with platform "" or "amazon"). */
    (void)platform;
    return registry_artifact_find(l->r, &l->ctx, id, NULL, NULL, l->err, sizeof l->err);
}

static json_t *lk_channels(void *c, const char *bucket)
{
    lookup_ctx *l = c;
    if (lk_stop(l))
        return NULL;
    return registry_channel_list(l->r, &l->ctx, bucket, l->err, sizeof l->err);
}

static json_t *lk_find_version(void *c, const char *bucket, const char *ref)
{
    lookup_ctx *l = c;
    if (lk_stop(l))
        return NULL;
    json_t *v = registry_version_get(l->r, &l->ctx, bucket, ref, l->err, sizeof l->err);
    if (!v && registry_errcode(l->r) == REG_ENOTFOUND)
        return json_null();
    return v;
}

/* ---- progress ---------------------------------------------------------- */

static void send_running(dl *x)
{
    char err[512];
    json_t *body = webhook_callback_minimal("running", "imagegate is downloading and scanning "
                                                       "the plan");
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    int code =
        webhook_http_patch(&x->http, x->rq.callback_url, x->rq.access_token, text, err, sizeof err);
    webhook_metrics_callback(webhook_server_metrics(x->srv), code);
    if (code < 200 || code >= 300) {
        char q[600];
        log_warn("event=callback_running_failed task_result_id=%s status=%d error=%s",
                 x->d->task_result_id, code, log_quote(err, q, sizeof q));
    }
    free(text);
    json_decref(body);
}

/* Renews the lease (every third of --delivery-lease) and, once the work has
 * taken longer than --running-after, sends one "running" status. Called
 * about once a second from libcurl's progress callback during transfers and
 * waits, between pieces of work while a configuration archive is unpacked
 * and scanned (archive.c's progress hook), and before each registry lookup
 * of the policy evaluation; it throttles itself. Non-zero: stop (lease lost,
 * or shutdown). */
static int tick(void *arg)
{
    dl *x = arg;
    ig_time now = ig_time_now();
    if (now - x->last_renew >= x->cfg->delivery_lease / 3) {
        char err[256];
        registry *r = webhook_worker_registry(x->w, err, sizeof err);
        reg_ctx ctx = {"imagegate", now};
        if (r &&
            registry_delivery_renew(r, &ctx, webhook_worker_owner(x->w), x->cfg->delivery_lease,
                                    x->d->task_result_id, err, sizeof err) == 0) {
            x->last_renew = now;
        } else if (r && registry_errcode(r) == REG_ECONFLICT) {
            /* Another worker (here or on another replica) took the delivery
             * over after our lease ran out -- the store was unreachable for
             * longer than the lease -- or finished it: it is theirs now. */
            x->lease_lost = true;
            log_warn("event=lease_lost task_result_id=%s msg=\"another worker holds this "
                     "delivery now; stopping\"",
                     x->d->task_result_id);
            return 1;
        } else {
            char q[600];
            log_warn("event=lease_renew_failed task_result_id=%s error=%s", x->d->task_result_id,
                     log_quote(err, q, sizeof q));
        }
    }
    if (!x->running_sent && now - x->start >= x->cfg->running_after) {
        x->running_sent = true;
        send_running(x);
    }
    return atomic_load(webhook_server_abort_flag(x->srv)) ? 1 : 0;
}

/* ---- outcomes ---------------------------------------------------------- */

static void set_failed(dl *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_failed(dl *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(x->message);
    char *m = xvasprintf(fmt, ap);
    va_end(ap);
    x->message = xasprintf("imagegate could not check this run: %s", m);
    free(m);
    x->status = "failed";
    x->verdict = "error";
}

static int evaluate(dl *x, const scan_result *res, const char *stage)
{
    char err[512];
    registry *r = webhook_worker_registry(x->w, err, sizeof err);
    if (!r) {
        set_failed(x, "the registry store is unavailable (%s)", err);
        return -1;
    }
    lookup_ctx l = {r, {"imagegate", ig_time_now()}, "", tick, x};
    policy_lookup lk = {&l, lk_find_image, lk_channels, lk_find_version};
    policy_scope scope = {x->rq.organization, x->rq.workspace, l.ctx.now};
    x->evaluated_at = l.ctx.now;
    x->report = policy_eval(webhook_server_policy(x->srv), res, &lk, &scope, err, sizeof err);
    if (!x->report) {
        if (registry_errcode(r) == REG_ESTORE)
            webhook_worker_reset_registry(x->w);
        set_failed(x, "the registry could not be read: %s", *err ? err : l.err);
        return -1;
    }
    bool report_only = strcmp(stage, "post_apply") == 0;
    x->verdict = policy_verdict_name(x->report->verdict);
    x->status = x->report->verdict == POLICY_VERDICT_FAIL && !report_only ? "failed" : "passed";
    free(x->message);
    x->message = webhook_result_message(x->report, stage);
    return 0;
}

static int plan_sink(void *arg, const char *buf, size_t len, char *err, size_t errlen)
{
    return scan_plan_feed(arg, buf, len, err, errlen);
}

static int run_plan(dl *x)
{
    char err[1024];
    scan_result *res = NULL;
    int rc = -1;
    if (!x->rq.plan_url) {
        set_failed(x, "the request has no plan_json_api_url");
        return -1;
    }
    double t0 = ig_mono_seconds();
    scan_plan *sp = scan_plan_new(webhook_server_rules(x->srv), NULL);
    if (webhook_http_fetch(&x->http, x->rq.plan_url, x->rq.access_token, x->cfg->max_plan_bytes,
                           x->cfg->plan_wait, plan_sink, sp, &x->bytes, err, sizeof err) < 0) {
        set_failed(x, "the plan could not be fetched: %s", err);
        goto out;
    }
    if (scan_plan_finish(sp, &res, err, sizeof err) < 0) {
        set_failed(x, "the plan could not be read: %s", err);
        goto out;
    }
    x->scan_seconds = ig_mono_seconds() - t0;
    webhook_metrics_scan(webhook_server_metrics(x->srv), x->scan_seconds, x->bytes);
    rc = evaluate(x, res, x->rq.stage);
out:
    scan_result_free(res);
    scan_plan_free(sp);
    return rc;
}

static int file_sink(void *arg, const char *buf, size_t len, char *err, size_t errlen)
{
    if (fwrite(buf, 1, len, arg) != len) {
        snprintf(err, errlen, "cannot write the configuration archive: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Downloads the configuration archive into DIR/configuration.tar.gz and
 * makes DIR/root for its contents. 0, or -1 after set_failed. */
static int fetch_config(dl *x, const char *dir, const char *tarball, const char *root)
{
    char err[1024];
    FILE *f = fopen(tarball, "wbx");
    if (!f || mkdir(root, 0700) < 0) {
        set_failed(x, "cannot prepare %s: %s", dir, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    if (webhook_http_fetch(&x->http, x->rq.config_url, x->rq.access_token,
                           x->cfg->max_archive_bytes, x->cfg->plan_wait, file_sink, f, &x->bytes,
                           err, sizeof err) < 0) {
        set_failed(x, "the configuration could not be fetched: %s", err);
        fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        set_failed(x, "cannot write the configuration archive: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Unpacks the archive into root and scans it; res and st receive what was
 * found. 0, or -1 after set_failed. */
static int scan_config(dl *x, const char *tarball, const char *root, scan_result *res,
                       webhook_archive_stats *st)
{
    char err[1024];
    webhook_archive_limits lim = {x->cfg->max_archive_bytes, x->cfg->max_archive_entries};
    webhook_archive_progress prog = {tick, x};
    if (webhook_archive_extract(tarball, root, &lim, &prog, st, err, sizeof err) < 0) {
        set_failed(x, "the configuration archive was refused: %s", err);
        return -1;
    }
    if (st->refused) {
        /* an entry name from the archive: quoted */
        char q[600];
        log_warn("event=archive_entries_refused task_result_id=%s count=%lld first=%s",
                 x->d->task_result_id, (long long)st->refused,
                 log_quote(st->first_refused, q, sizeof q));
    }
    int64_t files = 0;
    if (webhook_archive_scan(root, x->rq.workdir, webhook_server_rules(x->srv),
                             webhook_worker_matcher(x->w), x->cfg->max_archive_bytes, &prog, res,
                             &files, err, sizeof err) < 0) {
        set_failed(x, "the configuration could not be scanned: %s", err);
        return -1;
    }
    res->bytes = (uint64_t)st->bytes;
    return 0;
}

/* pre_plan: the configuration version's archive, downloaded into a private
 * directory, unpacked with limits, scanned, evaluated; the directory goes. */
static int run_config(dl *x)
{
    if (!x->rq.config_url) {
        set_failed(x, "the request has no configuration_version_download_url");
        return -1;
    }
    double t0 = ig_mono_seconds();
    char *tmp = xasprintf("%s/imagegate-XXXXXX", x->cfg->tmp_dir);
    if (!mkdtemp(tmp)) {
        set_failed(x, "cannot make a private directory in %s: %s", x->cfg->tmp_dir,
                   strerror(errno));
        free(tmp);
        return -1;
    }
    char *tarball = xasprintf("%s/configuration.tar.gz", tmp);
    char *root = xasprintf("%s/root", tmp);
    scan_result *res = xcalloc(1, sizeof *res);
    webhook_archive_stats st;
    memset(&st, 0, sizeof st);
    int rc = -1;
    if (fetch_config(x, tmp, tarball, root) == 0 && scan_config(x, tarball, root, res, &st) == 0) {
        x->scan_seconds = ig_mono_seconds() - t0;
        webhook_metrics_scan(webhook_server_metrics(x->srv), x->scan_seconds, x->bytes);
        rc = evaluate(x, res, "pre_plan");
    }
    if (rc == 0 && st.refused) {
        char *m = xasprintf("%s; %lld archive entries were refused and not scanned (first: %s)",
                            x->message, (long long)st.refused, st.first_refused);
        webhook_utf8_clamp(m, WEBHOOK_MAX_MESSAGE, true);
        free(x->message);
        x->message = m;
    }
    webhook_remove_tree(tmp);
    scan_result_free(res);
    free(tmp);
    free(tarball);
    free(root);
    return rc;
}

/* ---- the result page ----------------------------------------------- */

/* No page of ours: the result's url is the run's page in HCP Terraform
 * (none when it has none, or it is too long). */
static void link_run_page(dl *x)
{
    x->result_id[0] = '\0';
    x->result_url[0] = '\0';
    if (x->rq.run_app_url && strlen(x->rq.run_app_url) < sizeof x->result_url)
        snprintf(x->result_url, sizeof x->result_url, "%s", x->rq.run_app_url);
}

/* The result's url: a page of this server's (PUBLIC_URL/results/ID, with a
 * random id) while --result-retention keeps pages, else the run's page in
 * HCP Terraform. */
static void result_link(dl *x)
{
    if (!webhook_result_page_link(x->srv, x->result_id, x->result_url, sizeof x->result_url))
        link_run_page(x);
}

/* The page: what the run was, the result, and the report as `imagegate scan`
 * prints it. New string, or NULL. */
static char *render_page(const dl *x)
{
    char when[40], status[80];
    snprintf(status, sizeof status, "%s (verdict %s)", x->status, x->verdict);
    const webhook_page_line lines[] = {
        {"run", *x->rq.run_id ? x->rq.run_id : NULL},
        {"run page", x->rq.run_app_url},
        {"organization", x->rq.organization},
        {"workspace", x->rq.workspace},
        {"stage", x->rq.stage},
        {"task result", x->d->task_result_id},
        {"evaluated at",
         ig_time_format(x->evaluated_at ? x->evaluated_at : ig_time_now(), when, sizeof when)},
        {"status", status},
        {"message", x->message ? x->message : ""},
    };
    return webhook_result_page_render("imagegate run-task result", lines,
                                      sizeof lines / sizeof lines[0], x->report);
}

/* Stores the result page before the final status names its url; when that
 * fails the url falls back to the run's page, so the link never dangles. */
static void store_page(dl *x)
{
    if (!x->result_id[0])
        return;
    char err[512] = "";
    char *page = render_page(x);
    registry *r = page ? webhook_worker_registry(x->w, err, sizeof err) : NULL;
    reg_ctx ctx = {"imagegate", ig_time_now()};
    reg_result res = {
        .id = x->result_id,
        .task_result_id = x->d->task_result_id,
        .run_id = (char *)x->rq.run_id,
        .organization = (char *)x->rq.organization,
        .workspace = (char *)x->rq.workspace,
        .stage = (char *)x->rq.stage,
        .verdict = (char *)x->verdict,
        .page = page,
    };
    if (!r || registry_result_put(r, &ctx, &res, err, sizeof err) < 0) {
        char q[600];
        if (r && registry_errcode(r) == REG_ESTORE)
            webhook_worker_reset_registry(x->w);
        log_warn("event=result_page_failed task_result_id=%s error=%s", x->d->task_result_id,
                 log_quote(page ? err : "out of memory", q, sizeof q));
        link_run_page(x);
    }
    free(page);
}

/* ---- the final callback -------------------------------------------- */

/* Returns the last HTTP status (2xx = delivered), 0 when it could not be
 * delivered for network reasons, -1 when interrupted by shutdown. */
static int send_final(dl *x)
{
    char err[512] = "";
    /* outcomes carry no link of their own: the result's url (the page with
     * every finding) is the one imagegate serves */
    webhook_result res = {x->status,      x->message, x->result_url,  x->report,
                          x->rq.outcomes, NULL,       x->evaluated_at};
    json_t *body = webhook_callback_body(&res);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(body);
    bool minimal = false;
    if (!text) {
        /* the result could not be written as JSON (jansson refuses invalid
         * UTF-8): send the status with a fixed message rather than nothing */
        log_error("event=callback_body_failed task_result_id=%s", x->d->task_result_id);
        json_t *m = webhook_callback_minimal(
            x->status, "imagegate could not write the details of this result; see its log");
        text = m ? json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(m);
        minimal = true;
        if (!text)
            return 0;
    }
    int64_t delay = 1000;
    ig_time deadline = x->d->received_at + x->cfg->callback_retry;
    int code;
    for (;;) {
        code = webhook_http_patch(&x->http, x->rq.callback_url, x->rq.access_token, text, err,
                                  sizeof err);
        webhook_metrics_callback(webhook_server_metrics(x->srv), code);
        if (code >= 200 && code < 300)
            break;
        log_warn("event=callback_failed task_result_id=%s status=%d error=\"%s\"",
                 x->d->task_result_id, code, err);
        if (code == 422 && !minimal) {
            minimal = true;
            free(text);
            json_t *m = webhook_callback_minimal(x->status, x->message);
            text = json_dumps(m, JSON_COMPACT | JSON_PRESERVE_ORDER);
            json_decref(m);
            continue;
        }
        bool transient = code == 0 || code == 429 || code >= 500;
        if (!transient || ig_time_now() + delay > deadline)
            break;
        if (webhook_http_sleep(&x->http, delay) < 0) {
            code = -1;
            break;
        }
        delay = delay * 2 > 30000 ? 30000 : delay * 2;
    }
    free(text);
    return code;
}

static void finish(dl *x, reg_delivery_state state, const char *verdict)
{
    char err[512];
    for (int attempt = 0; attempt < 5; attempt++) {
        registry *r = webhook_worker_registry(x->w, err, sizeof err);
        reg_ctx ctx = {"imagegate", ig_time_now()};
        if (r && registry_delivery_finish(r, &ctx, x->d->task_result_id, state, verdict, err,
                                          sizeof err) == 0)
            return;
        if (r)
            webhook_worker_reset_registry(x->w);
        log_error("event=delivery_finish_failed task_result_id=%s attempt=%d error=\"%s\"",
                  x->d->task_result_id, attempt + 1, err);
        struct timespec ts = {1 << attempt, 0};
        nanosleep(&ts, NULL);
    }
}

static void release(dl *x)
{
    char err[256];
    registry *r = webhook_worker_registry(x->w, err, sizeof err);
    reg_ctx ctx = {"imagegate", ig_time_now()};
    if (r)
        registry_delivery_renew(r, &ctx, webhook_worker_owner(x->w), 1, x->d->task_result_id, err,
                                sizeof err);
}

static void dl_init(dl *x, webhook_worker *w, reg_delivery *d)
{
    memset(x, 0, sizeof *x);
    x->w = w;
    x->srv = webhook_worker_server(w);
    x->cfg = webhook_server_config(x->srv);
    x->d = d;
    x->start = ig_time_now();
    x->last_renew = x->start;
    x->http.cfg = x->cfg;
    x->http.abort_flag = webhook_server_abort_flag(x->srv);
    x->http.tick = tick;
    x->http.tick_arg = x;
    x->status = "failed";
    x->verdict = "error";
}

/* Reads the stored body. Returns 0 when there is work to do, -1 when the
 * delivery is finished already: a damaged row, or a token that cannot be
 * valid any more. */
static int dl_open(dl *x)
{
    reg_delivery *d = x->d;
    char err[512], q[300];
    if (!d->body || webhook_runtask_parse(d->body, strlen(d->body), &x->rq, err, sizeof err) < 0) {
        /* Only bodies that parsed are stored; this is a damaged store row. */
        log_error("event=delivery_unreadable task_result_id=%s error=\"%s\"", d->task_result_id,
                  d->body ? err : "no body stored");
        finish(x, REG_DELIVERY_FAILED, "error");
        webhook_metrics_delivery(webhook_server_metrics(x->srv), d->stage, "error");
        return -1;
    }
    if (x->start - d->received_at > x->cfg->token_lifetime) {
        log_warn("event=delivery_expired task_result_id=%s run_id=%s msg=\"received too long "
                 "ago; its token cannot be valid any more\"",
                 d->task_result_id, log_quote(x->rq.run_id, q, sizeof q));
        finish(x, REG_DELIVERY_FAILED, "expired");
        return -1;
    }
    return 0;
}

/* Fetches, scans and evaluates what the stage asks for; the outcome is in
 * x (status, verdict, message, report). */
static void run_stage(dl *x)
{
    const char *stage = x->rq.stage;
    if (x->rq.payload_version != 1) {
        set_failed(x, "payload_version %lld is not supported (imagegate speaks version 1)",
                   (long long)x->rq.payload_version);
    } else if (strcmp(stage, "post_plan") == 0 || strcmp(stage, "pre_apply") == 0 ||
               strcmp(stage, "post_apply") == 0) {
        run_plan(x);
    } else if (strcmp(stage, "pre_plan") == 0) {
        run_config(x);
    } else {
        set_failed(x,
                   "stage '%.40s' is not supported (pre_plan, post_plan, pre_apply, "
                   "post_apply are)",
                   stage);
    }
}

/* Stores the result page, then checks the delivery is still this worker's
 * and the server is not stopping. false: send nothing (another worker holds
 * the lease, or the delivery was released for the next start). */
static bool still_ours(dl *x)
{
    /* the page first: its store write may take a while (a PostgreSQL
     * reconnect), and the lease check below must come after it */
    if (!x->lease_lost)
        store_page(x);
    if (!x->lease_lost) {
        /* the last moment to find out that another worker took over */
        x->running_sent = true;
        x->last_renew = 0;
        tick(x);
    }
    if (x->lease_lost) {
        log_warn("event=delivery_left task_result_id=%s msg=\"lease lost; the worker holding "
                 "it sends the result\"",
                 x->d->task_result_id);
        return false;
    }
    if (atomic_load(webhook_server_abort_flag(x->srv))) {
        log_warn("event=delivery_interrupted task_result_id=%s msg=\"left queued; resumed on "
                 "the next start\"",
                 x->d->task_result_id);
        release(x);
        return false;
    }
    return true;
}

/* The run and, past pre_plan, the images its resources used (runs.h):
 * after the final status, so HCP Terraform's answer never waits for it, and
 * before the delivery is finished, so a crash in between records it when
 * the delivery is resumed. Returns the milliseconds it took (-1: failed). */
static double record_run(const dl *x)
{
    webhook_run_info info = {
        .source = "run_task",
        .task_result_id = x->d->task_result_id,
        .run_id = *x->rq.run_id ? x->rq.run_id : NULL,
        .organization = x->rq.organization,
        .workspace = x->rq.workspace,
        .stage = x->rq.stage,
        .verdict = x->verdict,
        .message = x->message,
        .result_id = x->result_id[0] ? x->result_id : NULL,
        .evaluated_at = x->evaluated_at,
        .report = x->report,
        .usage = strcmp(x->rq.stage, "pre_plan") != 0,
    };
    return webhook_run_record(x->w, &info);
}

static void log_delivery(const dl *x, int code, bool delivered, double usage_ms)
{
    char q[4][300];
    log_info("event=delivery run_id=%s task_result_id=%s workspace=%s stage=%s verdict=%s "
             "status=%s callback=%d fail=%zu warn=%zu info=%zu bytes=%llu duration_ms=%lld "
             "usage_ms=%.1f",
             log_quote(x->rq.run_id, q[0], sizeof q[0]),
             log_quote(x->d->task_result_id, q[1], sizeof q[1]),
             log_quote(x->rq.workspace, q[2], sizeof q[2]),
             log_quote(x->rq.stage, q[3], sizeof q[3]), x->verdict, x->status, code,
             x->report ? x->report->count[POLICY_FAIL] : 0,
             x->report ? x->report->count[POLICY_WARN] : 0,
             x->report ? x->report->count[POLICY_INFO] : 0, (unsigned long long)x->bytes,
             (long long)(ig_time_now() - x->start), usage_ms);
    if (!delivered) {
        char qm[1100];
        log_error("event=delivery_undelivered task_result_id=%s status=%d message=%s",
                  x->d->task_result_id, code, log_quote(x->message, qm, sizeof qm));
    }
}

/* Sends the final status and records the delivery as done or failed; a
 * shutdown that interrupts the callback releases it for the next start. */
static void deliver(dl *x)
{
    x->running_sent = true; /* nothing but the final status from here on */
    int code = send_final(x);
    if (code < 0) {
        release(x);
        return;
    }
    bool delivered = code >= 200 && code < 300;
    double usage_ms = record_run(x);
    finish(x, delivered ? REG_DELIVERY_DONE : REG_DELIVERY_FAILED, x->verdict);
    webhook_metrics_delivery(webhook_server_metrics(x->srv), x->rq.stage, x->verdict);
    log_delivery(x, code, delivered, usage_ms);
}

void webhook_delivery_run(webhook_worker *w, reg_delivery *d)
{
    dl x;
    dl_init(&x, w, d);
    if (dl_open(&x) == 0) {
        result_link(&x);
        run_stage(&x);
        if (still_ours(&x))
            deliver(&x);
    }
    policy_report_free(x.report);
    free(x.message);
    webhook_runtask_req_dispose(&x.rq); /* a body that did not parse left it empty */
}
