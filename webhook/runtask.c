/* POST /runtask on the loop thread: signature, parse, then either answer a
 * verification request at once (nothing stored, fetched or called back) or
 * record the delivery durably on a store worker and answer 200 from the
 * loop when the write is done -- the acknowledgement means "stored", so a
 * crash after it loses nothing. A repeated task_result_id is answered 200
 * and not evaluated again (the store says it was known). */
#include "webhook/runtask.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "webhook/server.h"
#include "webhook/sig.h"
#include "webhook/tokens.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdlib.h>
#include <string.h>

/* ---- parsing ------------------------------------------------------------ */

/* Optional string: absent or null -> NULL; a string -> it; else error. */
static int opt_string(json_t *o, const char *key, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: expected a string", key);
        return -1;
    }
    *out = json_string_value(v);
    return 0;
}

static int req_string(json_t *o, const char *key, const char **out, char *err, size_t errlen)
{
    if (opt_string(o, key, out, err, errlen) < 0)
        return -1;
    if (!*out || !**out) {
        snprintf(err, errlen, "%s: missing", key);
        return -1;
    }
    return 0;
}

static bool is_http_url(const char *s)
{
    return (strncmp(s, "https://", 8) == 0 && s[8]) || (strncmp(s, "http://", 7) == 0 && s[7]);
}

int webhook_runtask_parse(const char *body, size_t len, webhook_runtask_req *out, char *err,
                          size_t errlen)
{
    json_error_t je;
    memset(out, 0, sizeof *out);
    out->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!out->root) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return -1;
    }
    json_t *o = out->root;
    if (!json_is_object(o)) {
        snprintf(err, errlen, "the body must be a JSON object");
        goto fail;
    }
    if (opt_string(o, "access_token", &out->access_token, err, errlen) < 0 ||
        opt_string(o, "stage", &out->stage, err, errlen) < 0)
        goto fail;
    out->verification = (out->access_token && strcmp(out->access_token, "test-token") == 0) ||
                        (out->stage && strcmp(out->stage, "test") == 0);
    if (out->verification)
        return 0;

    json_t *pv = json_object_get(o, "payload_version");
    if (!pv || json_is_null(pv)) {
        snprintf(err, errlen, "payload_version: missing");
        goto fail;
    }
    if (!json_is_integer(pv)) {
        snprintf(err, errlen, "payload_version: expected an integer");
        goto fail;
    }
    out->payload_version = json_integer_value(pv);
    if (req_string(o, "stage", &out->stage, err, errlen) < 0 ||
        req_string(o, "access_token", &out->access_token, err, errlen) < 0 ||
        req_string(o, "task_result_id", &out->task_result_id, err, errlen) < 0 ||
        req_string(o, "task_result_callback_url", &out->callback_url, err, errlen) < 0 ||
        opt_string(o, "run_id", &out->run_id, err, errlen) < 0 ||
        opt_string(o, "plan_json_api_url", &out->plan_url, err, errlen) < 0 ||
        opt_string(o, "configuration_version_download_url", &out->config_url, err, errlen) < 0 ||
        opt_string(o, "organization_name", &out->organization, err, errlen) < 0 ||
        opt_string(o, "workspace_name", &out->workspace, err, errlen) < 0 ||
        opt_string(o, "workspace_working_directory", &out->workdir, err, errlen) < 0 ||
        opt_string(o, "run_app_url", &out->run_app_url, err, errlen) < 0)
        goto fail;
    if (strlen(out->task_result_id) > 128) {
        snprintf(err, errlen, "task_result_id: longer than 128 characters");
        goto fail;
    }
    for (const char *p = out->task_result_id; *p; p++)
        if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e) {
            snprintf(err, errlen, "task_result_id: only printable ASCII is allowed");
            goto fail;
        }
    if (!is_http_url(out->callback_url)) {
        snprintf(err, errlen, "task_result_callback_url: expected an absolute http(s) URL");
        goto fail;
    }
    if (out->plan_url && !is_http_url(out->plan_url)) {
        snprintf(err, errlen, "plan_json_api_url: expected an absolute http(s) URL");
        goto fail;
    }
    if (out->config_url && !is_http_url(out->config_url)) {
        snprintf(err, errlen,
                 "configuration_version_download_url: expected an absolute http(s) URL");
        goto fail;
    }
    json_t *caps = json_object_get(o, "capabilities");
    if (caps && !json_is_null(caps)) {
        if (!json_is_object(caps)) {
            snprintf(err, errlen, "capabilities: expected an object");
            goto fail;
        }
        json_t *oc = json_object_get(caps, "outcomes");
        if (oc && !json_is_null(oc) && !json_is_boolean(oc)) {
            snprintf(err, errlen, "capabilities.outcomes: expected true or false");
            goto fail;
        }
        out->outcomes = json_is_true(oc);
    }
    if (!out->run_id)
        out->run_id = "";
    if (!out->workdir)
        out->workdir = "";
    return 0;
fail:
    json_decref(out->root);
    out->root = NULL;
    return -1;
}

void webhook_runtask_req_dispose(webhook_runtask_req *r)
{
    json_decref(r->root);
    memset(r, 0, sizeof *r);
}

/* ---- the handler -------------------------------------------------------- */

typedef struct ack_job {
    struct evhttp_request *req;
    double t0;
    char *task_result_id, *run_id, *stage, *body, *workspace;
    int rc;   /* registry_delivery_add: 0 stored, 1 known, -1 error */
    int code; /* registry error class */
    char err[512];
} ack_job;

static void ack_free(ack_job *a)
{
    free(a->task_result_id);
    free(a->run_id);
    free(a->stage);
    free(a->workspace);
    free(a->body);
    free(a);
}

static void ack_work(webhook_worker *w, void *arg)
{
    ack_job *a = arg;
    registry *r = webhook_worker_registry(w, a->err, sizeof a->err);
    if (!r) {
        a->rc = -1;
        a->code = REG_ESTORE;
        return;
    }
    reg_ctx ctx = {"imagegate", ig_time_now()};
    a->rc = registry_delivery_add(r, &ctx, a->task_result_id, a->run_id, a->stage, a->body, a->err,
                                  sizeof a->err);
    if (a->rc == 0)
        webhook_enqueue_delivery(webhook_worker_server(w), a->task_result_id);
    if (a->rc < 0) {
        a->code = registry_errcode(r);
        if (a->code == REG_ESTORE || a->code == REG_OK)
            webhook_worker_reset_registry(w);
    }
}

static void ack_log(const char *result, const char *run_id, const char *trid, const char *stage,
                    const char *ws, double secs)
{
    char q1[160], q2[160], q3[80], q4[300];
    log_info("event=runtask_ack result=%s run_id=%s task_result_id=%s stage=%s workspace=%s "
             "ack_ms=%.2f",
             result, log_quote(run_id, q1, sizeof q1), log_quote(trid, q2, sizeof q2),
             log_quote(stage, q3, sizeof q3), log_quote(ws, q4, sizeof q4), secs * 1000);
}

static void ack_done(webhook_server *srv, void *arg)
{
    ack_job *a = arg;
    double secs;
    if (a->rc == 0 || a->rc == 1) {
        const char *kind = a->rc == 0 ? "accepted" : "duplicate";
        webhook_reply_json(
            a->req, 200,
            json_pack("{s:s,s:s}", "status", kind, "task_result_id", a->task_result_id));
        secs = ig_mono_seconds() - a->t0;
        webhook_metrics_ack(webhook_server_metrics(srv), kind, secs);
        ack_log(kind, a->run_id, a->task_result_id, a->stage, a->workspace, secs);
    } else if (a->code == REG_EINVAL) {
        webhook_reply_error(a->req, 400, "%s", a->err);
        secs = ig_mono_seconds() - a->t0;
        webhook_metrics_ack(webhook_server_metrics(srv), "bad_request", secs);
        ack_log("bad_request", a->run_id, a->task_result_id, a->stage, a->workspace, secs);
    } else {
        char q[600];
        evhttp_add_header(evhttp_request_get_output_headers(a->req), "Retry-After", "5");
        webhook_reply_error(a->req, 503, "the delivery could not be stored; try again");
        secs = ig_mono_seconds() - a->t0;
        webhook_metrics_ack(webhook_server_metrics(srv), "unavailable", secs);
        log_error("event=runtask_store_failed task_result_id=%s error=%s", a->task_result_id,
                  log_quote(a->err, q, sizeof q));
    }
    ack_free(a);
}

/* The signature against the --hmac-key-file's keys and the store's (made by
 * PATCH .../runtasks/hmac), both always computed. With --allow-unsigned
 * there are no keys, and the store's are not used either. */
static webhook_sig_result verify(webhook_server *srv, const char *sig, const void *body, size_t len)
{
    const webhook_keys *file = webhook_server_keys(srv);
    const webhook_keys *store = webhook_tokens_hmac(webhook_server_tokens(srv));
    webhook_sig_result a = webhook_sig_verify(file, sig, body, len);
    if (!file)
        return a;
    webhook_sig_result b = webhook_sig_verify(store, sig, body, len);
    return webhook_keys_count(store) && b == WEBHOOK_SIG_OK ? b : a;
}

void webhook_handle_runtask(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    double t0 = ig_mono_seconds();
    webhook_metrics *m = webhook_server_metrics(srv);
    const webhook_config *cfg = webhook_server_config(srv);
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    const char *sig =
        evhttp_find_header(evhttp_request_get_input_headers(req), "X-TFC-Task-Signature");
    char err[512];
    webhook_runtask_req rq;
    memset(&rq, 0, sizeof rq);

    switch (verify(srv, sig, body, len)) {
    case WEBHOOK_SIG_OK:
        break;
    case WEBHOOK_SIG_BAD:
        webhook_reply_error(req, 401,
                            "X-TFC-Task-Signature is missing or does not match any "
                            "configured HMAC key");
        webhook_metrics_ack(m, "unauthorized", ig_mono_seconds() - t0);
        log_warn("event=runtask_rejected reason=signature status=401 header=%s",
                 sig && *sig ? "present" : "missing");
        return;
    case WEBHOOK_SIG_UNEXPECTED:
        webhook_reply_error(req, 400,
                            "the request is signed but no HMAC key is configured "
                            "(--hmac-key-file)");
        webhook_metrics_ack(m, "bad_request", ig_mono_seconds() - t0);
        log_warn("event=runtask_rejected reason=unexpected_signature status=400");
        return;
    }

    if (webhook_runtask_parse(body, len, &rq, err, sizeof err) < 0) {
        webhook_reply_error(req, 400, "%s", err);
        webhook_metrics_ack(m, "bad_request", ig_mono_seconds() - t0);
        char q[600];
        log_warn("event=runtask_rejected reason=bad_request status=400 error=%s",
                 log_quote(err, q, sizeof q));
        return;
    }
    if (rq.verification) {
        webhook_reply_json(req, 200, json_pack("{s:s}", "status", "verified"));
        double secs = ig_mono_seconds() - t0;
        webhook_metrics_ack(m, "verification", secs);
        log_info("event=runtask_verification ack_ms=%.2f", secs * 1000);
        goto out;
    }
    if (!webhook_config_host_allowed(cfg, rq.callback_url)) {
        webhook_reply_error(req, 400,
                            "task_result_callback_url is not on an allowed host; add "
                            "it with --allowed-host");
        webhook_metrics_ack(m, "bad_request", ig_mono_seconds() - t0);
        log_warn("event=runtask_rejected reason=callback_host status=400 task_result_id=%s",
                 rq.task_result_id);
        goto out;
    }

    ack_job *a = xcalloc(1, sizeof *a);
    a->req = req;
    a->t0 = t0;
    a->task_result_id = xstrdup(rq.task_result_id);
    a->run_id = xstrdup(rq.run_id);
    a->stage = xstrdup(rq.stage);
    a->workspace = xstrdup(rq.workspace ? rq.workspace : "");
    a->body = xstrndup(body, len);
    if (webhook_submit(srv, ack_work, ack_done, a) < 0) {
        ack_free(a);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        webhook_reply_error(req, 503, "imagegate is busy; try again");
        webhook_metrics_ack(m, "unavailable", ig_mono_seconds() - t0);
        log_warn("event=runtask_rejected reason=queue_full status=503");
    }
out:
    webhook_runtask_req_dispose(&rq);
}
