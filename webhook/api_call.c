/* The road every registry API call takes (api_internal.h): made on the
 * loop thread, run on a store worker, answered on the loop thread.
 *
 * On the loop thread webhook_api_call_new reads the bearer secret and the
 * query and copies the body (at most --max-body-bytes, already enforced by
 * dispatch); nothing here touches the store on the loop. On the store
 * worker the job authenticates the secret (registry_token_auth: hashed,
 * constant-time) and checks the role the call needs; the operation itself
 * is the handler of its row in the op table (api_registry.c), which makes
 * one registry call with the token's name as author, so every change lands
 * in the audit trail under that name. Back on the loop
 * webhook_api_call_finish replies and logs one line (op, method, status,
 * token name, time; never the secret, never a body).
 *
 * Errors are HCP's {"code" (gRPC), "message", "details": []} with 400,
 * 401, 403, 404, 405, 409, 413 or 503 (store unavailable or queue full,
 * with Retry-After). docs/api.md is the reference. */
#include "webhook/api_internal.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "webhook/tokens.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *verb(struct evhttp_request *req)
{
    return webhook_api_method_name(evhttp_request_get_command(req));
}

void webhook_api_early_reply(struct evhttp_request *req, const char *op, int status,
                             const char *msg)
{
    char q[600];
    if (status == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"imagegate\"");
    webhook_reply_error(req, status, "%s", msg);
    log_info("event=api op=%s method=%s status=%d token=- error=%s", op, verb(req), status,
             log_quote(msg, q, sizeof q));
}

api_call *webhook_api_call_new(webhook_server *srv, struct evhttp_request *req, webhook_api_op op,
                               bool copy_body)
{
    api_call *c = xcalloc(1, sizeof *c);
    c->srv = srv;
    c->req = req;
    c->route.op = op;
    c->t0 = ig_mono_seconds();
    const char *auth = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *query = u ? evhttp_uri_get_query(u) : NULL;
    int st;
    if (webhook_api_bearer(auth, c->secret, sizeof c->secret) < 0) {
        webhook_api_early_reply(
            req, webhook_api_op_name(op), 401,
            auth ? "the Authorization header must be 'Bearer TOKEN'"
                 : "an API token is required: send 'Authorization: Bearer TOKEN' (imagegate "
                   "token create)");
        goto fail;
    }
    if ((st = webhook_api_query_parse(query, &c->query, c->err, sizeof c->err)) != 0 ||
        (st = webhook_api_page_parse(&c->query, op == API_AUDIT || op == API_RUNS, &c->page, c->err,
                                     sizeof c->err)) != 0) {
        webhook_api_early_reply(req, webhook_api_op_name(op), st, c->err);
        goto fail;
    }
    if (copy_body) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        c->body_len = evbuffer_get_length(in);
        c->body = xmalloc(c->body_len + 1);
        evbuffer_copyout(in, c->body, c->body_len);
        c->body[c->body_len] = '\0';
    }
    return c;
fail:
    webhook_api_call_free(c);
    return NULL;
}

void webhook_api_call_free(api_call *c)
{
    if (!c)
        return;
    explicit_bzero(c->secret, sizeof c->secret);
    webhook_api_query_dispose(&c->query);
    free(c->body);
    json_decref(c->reply);
    free(c->text);
    free(c);
}

int webhook_api_call_fail(api_call *c, int status, const char *fmt, ...)
{
    char msg[sizeof c->err]; /* fmt's arguments may be c->err itself */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(c->err, msg, sizeof msg);
    c->status = status;
    json_decref(c->reply);
    c->reply = NULL;
    return -1;
}

int webhook_api_call_regfail(webhook_worker *w, api_call *c, registry *r)
{
    int code = registry_errcode(r);
    c->status = webhook_api_status_for(code);
    /* a create whose name is taken: HCP's ALREADY_EXISTS, which its clients
     * test for (a 409 of any other cause stays FAILED_PRECONDITION) */
    const webhook_api_op_info *op = webhook_api_op_get(c->route.op);
    size_t n = strlen(c->err);
    if (code == REG_ECONFLICT && op && (op->flags & API_OP_CREATES) && n >= 14 &&
        strcmp(c->err + n - 14, "already exists") == 0)
        c->grpc = 6;
    if (c->status == 503) {
        webhook_worker_reset_registry(w);
        char q[1100];
        log_error("event=api_store_failed op=%s error=%s", webhook_api_op_name(c->route.op),
                  log_quote(c->err, q, sizeof q));
    }
    json_decref(c->reply);
    c->reply = NULL;
    return -1;
}

registry *webhook_api_call_auth(webhook_worker *w, api_call *c)
{
    registry *r = webhook_worker_registry(w, c->err, sizeof c->err);
    if (!r) {
        c->status = 503;
        char q[1100];
        log_error("event=api_store_failed op=%s error=%s", webhook_api_op_name(c->route.op),
                  log_quote(c->err, q, sizeof q));
        snprintf(c->err, sizeof c->err, "the registry store is unavailable; try again");
        return NULL;
    }
    reg_ctx ctx = {"imagegate", ig_time_now()};
    if (registry_token_auth(r, &ctx, c->secret, &c->role, c->who, sizeof c->who, c->err,
                            sizeof c->err) < 0) {
        if ((registry_errcode(r) == REG_ENOTFOUND || registry_errcode(r) == REG_EINVAL) &&
            strncmp(c->secret, "igo_", 4) == 0) {
            webhook_api_call_fail(c, 401,
                                  "the access token is unknown or expired, or its API token was "
                                  "revoked; get a new one from POST /oauth2/token");
        } else if (registry_errcode(r) == REG_ENOTFOUND || registry_errcode(r) == REG_EINVAL) {
            webhook_api_call_fail(c, 401, "the API token is unknown or was revoked");
        } else {
            webhook_api_call_regfail(w, c, r);
            snprintf(c->err, sizeof c->err, "the registry store is unavailable; try again");
        }
        return NULL;
    }
    explicit_bzero(c->secret, sizeof c->secret); /* not needed any more */
    /* last_used_at is written later by the token refresh, never here: a
     * read must not wait for, or fail on, a write */
    webhook_tokens_note_use(webhook_server_tokens(c->srv), c->who, ctx.now);
    return r;
}

int webhook_api_call_allow(api_call *c, reg_role need)
{
    if (c->role >= need)
        return 0;
    return webhook_api_call_fail(c, 403, "%s needs a%s %s token; token '%s' is %s",
                                 webhook_api_op_name(c->route.op),
                                 need == REG_ROLE_ADMIN ? "n" : "", registry_role_name(need),
                                 c->who, registry_role_name(c->role));
}

void webhook_api_call_serialize(api_call *c)
{
    if (c->status || !c->reply || c->text)
        return;
    c->text = json_dumps(c->reply, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!c->text)
        return; /* the loop tries again (and fails the same way) */
    c->text_len = strlen(c->text);
    c->content_type = "application/json";
    json_decref(c->reply);
    c->reply = NULL;
}

void webhook_api_call_finish(api_call *c)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    int status = c->status ? c->status : 200;
    if (status == 503)
        evhttp_add_header(h, "Retry-After", "5");
    if (status == 401)
        evhttp_add_header(h, "WWW-Authenticate", "Bearer realm=\"imagegate\"");
    if (status == 200 && c->text) {
        if (c->verdict)
            evhttp_add_header(h, "X-Imagegate-Verdict", c->verdict);
        webhook_reply_text(c->req, 200, c->content_type, c->text, c->text_len);
    } else if (status == 200) {
        webhook_reply_json(c->req, 200, c->reply ? json_incref(c->reply) : json_object());
    } else {
        webhook_reply_error_grpc(c->req, status, c->grpc, "%s", c->err);
    }
    char q1[1100], q2[100];
    double ms = (ig_mono_seconds() - c->t0) * 1000;
    if (status == 200)
        log_info("event=api op=%s method=%s status=200 token=%s%s%s%s%s duration_ms=%.1f",
                 webhook_api_op_name(c->route.op), verb(c->req),
                 log_quote(*c->who ? c->who : "-", q2, sizeof q2),
                 *c->route.bucket ? " bucket=" : "", c->route.bucket, c->verdict ? " verdict=" : "",
                 c->verdict ? c->verdict : "", ms);
    else
        log_write(status >= 500 ? LOG_ERROR : LOG_INFO,
                  "event=api op=%s method=%s status=%d token=%s%s%s error=%s duration_ms=%.1f",
                  webhook_api_op_name(c->route.op), verb(c->req), status,
                  log_quote(*c->who ? c->who : "-", q2, sizeof q2),
                  *c->route.bucket ? " bucket=" : "", c->route.bucket,
                  log_quote(c->err, q1, sizeof q1), ms);
    webhook_api_call_free(c);
}

static void call_done(webhook_server *srv, void *arg)
{
    (void)srv;
    webhook_api_call_finish(arg);
}

void webhook_api_call_submit(api_call *c, webhook_work_fn work)
{
    const webhook_api_op_info *op = webhook_api_op_get(c->route.op);
    int rc = op && (op->flags & API_OP_OUTBOUND) ? webhook_submit_notify(c->srv, work, call_done, c)
                                                 : webhook_submit(c->srv, work, call_done, c);
    if (rc < 0) {
        webhook_api_call_fail(c, 503, "imagegate is busy; try again");
        webhook_api_call_finish(c);
    }
}
