/* The registry API over HTTP: the HCP Packer 2023-01-01 paths, GET
 * /v1/lookup, GET /v1/audit and /v1/tokens.
 *
 * Every call takes the same road. On the loop thread the handler routes
 * the path (api.c), reads the bearer secret and the query, copies the body
 * (at most --max-body-bytes, already enforced by dispatch) and submits one
 * job to the store pool; nothing here touches the store on the loop. On the
 * store worker the job authenticates the secret (registry_token_auth:
 * hashed, constant-time), parses the body, checks the role the call needs
 * (which for a version PATCH depends on the body: revoking and restoring is
 * an admin's, completing a writer's), then makes one registry call with
 * the token's name as author, so every change lands in the audit trail
 * under that name. Back on the loop the done function replies and logs one
 * line (op, status, token name, time; never the secret, never a body).
 * Creating or revoking a token also re-reads the loop's snapshot of token
 * hashes (tokens.c) on the same worker, handed over before the reply, so
 * POST /v1/scan's large body limit follows the change at once.
 *
 * Replies wrap objects as HCP does ({"bucket": ...}, {"versions": [...],
 * "pagination": {...}}); errors are HCP's {"code" (gRPC), "message",
 * "details": []} with 400, 401, 403, 404, 405, 409, 413 or 503 (store
 * unavailable or queue full, with Retry-After). docs/api.md is the
 * reference. */
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

/* ---- the call ------------------------------------------------------------ */

static const char *method_of(struct evhttp_request *req)
{
    switch (evhttp_request_get_command(req)) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    default:
        return "OTHER";
    }
}

/* A reply before any job ran (bad path, no token, bad query). */
static void early_reply(struct evhttp_request *req, const char *op, int status, const char *msg)
{
    char q[600];
    if (status == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Bearer realm=\"imagegate\"");
    webhook_reply_error(req, status, "%s", msg);
    log_info("event=api op=%s method=%s status=%d token=- error=%s", op, method_of(req), status,
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
        early_reply(req, webhook_api_op_name(op), 401,
                    auth
                        ? "the Authorization header must be 'Bearer TOKEN'"
                        : "an API token is required: send 'Authorization: Bearer TOKEN' (imagegate "
                          "token create)");
        goto fail;
    }
    if ((st = webhook_api_query_parse(query, &c->query, c->err, sizeof c->err)) != 0 ||
        (st = webhook_api_page_parse(&c->query, op == API_AUDIT, &c->page, c->err,
                                     sizeof c->err)) != 0) {
        early_reply(req, webhook_api_op_name(op), st, c->err);
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
    webhook_api_op op = c->route.op;
    size_t n = strlen(c->err);
    if (code == REG_ECONFLICT &&
        (op == API_BUCKET_CREATE || op == API_CHANNEL_CREATE || op == API_TOKEN_CREATE) &&
        n >= 14 && strcmp(c->err + n - 14, "already exists") == 0)
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
        if (registry_errcode(r) == REG_ENOTFOUND || registry_errcode(r) == REG_EINVAL) {
            webhook_api_call_fail(c, 401, "the API token is unknown or was revoked");
        } else {
            webhook_api_call_regfail(w, c, r);
            snprintf(c->err, sizeof c->err, "the registry store is unavailable; try again");
        }
        return NULL;
    }
    explicit_bzero(c->secret, sizeof c->secret); /* not needed any more */
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
                 webhook_api_op_name(c->route.op), method_of(c->req),
                 log_quote(*c->who ? c->who : "-", q2, sizeof q2),
                 *c->route.bucket ? " bucket=" : "", c->route.bucket, c->verdict ? " verdict=" : "",
                 c->verdict ? c->verdict : "", ms);
    else
        log_write(status >= 500 ? LOG_ERROR : LOG_INFO,
                  "event=api op=%s method=%s status=%d token=%s%s%s error=%s duration_ms=%.1f",
                  webhook_api_op_name(c->route.op), method_of(c->req), status,
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
    if (webhook_submit(c->srv, work, call_done, c) < 0) {
        webhook_api_call_fail(c, 503, "imagegate is busy; try again");
        webhook_api_call_finish(c);
    }
}

/* ---- helpers for the work functions ----------------------------------- */

/* Wraps obj (stolen) as {key: obj}; NULL stays NULL. */
static json_t *wrap(const char *key, json_t *obj)
{
    return obj ? json_pack("{s:o}", key, obj) : NULL;
}

/* {key: one page of arr (stolen), "pagination": ...}. */
static json_t *paged(api_call *c, const char *key, json_t *arr)
{
    if (!arr)
        return NULL;
    char *next = NULL;
    json_t *page = webhook_api_page_slice(arr, &c->page, &next);
    json_t *out = json_pack("{s:o, s:o}", key, page, "pagination",
                            webhook_api_pagination(next, c->page.size));
    free(next);
    json_decref(arr);
    return out;
}

/* A required string field of the body. */
static int need_string(api_call *c, json_t *body, const char *field, const char **out)
{
    *out = NULL;
    int st = webhook_api_opt_string(body, field, out, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (!*out || !**out)
        return webhook_api_call_fail(c, 400, "%s: missing", field);
    return 0;
}

static int opt_string(api_call *c, json_t *body, const char *field, const char **out)
{
    int st = webhook_api_opt_string(body, field, out, c->err, sizeof c->err);
    return st ? webhook_api_call_fail(c, st, "%s", c->err) : 0;
}

static int opt_bool(api_call *c, json_t *body, const char *field, bool *out)
{
    int st = webhook_api_opt_bool(body, field, out, c->err, sizeof c->err);
    return st ? webhook_api_call_fail(c, st, "%s", c->err) : 0;
}

/* labels: absent/null -> NULL; an object -> it (borrowed); else 400. */
static int opt_labels(api_call *c, json_t *body, json_t **out)
{
    json_t *l = json_object_get(body, "labels");
    *out = NULL;
    if (!l || json_is_null(l))
        return 0;
    if (!json_is_object(l))
        return webhook_api_call_fail(c, 400, "labels: must be an object of strings");
    *out = l;
    return 0;
}

/* ---- the Packer paths -------------------------------------------------- */

static int version_update(webhook_worker *w, api_call *c, registry *r, const reg_ctx *ctx,
                          json_t *body)
{
    const webhook_api_route *rt = &c->route;
    webhook_api_version_patch p;
    int st = webhook_api_version_patch_parse(body, ctx->now, &p, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (webhook_api_call_allow(c, webhook_api_op_role(rt->op, p.revoke || p.restore)) < 0)
        return -1;
    json_t *v;
    if (p.revoke)
        v = registry_version_revoke(r, ctx, rt->bucket, rt->version, &p.rv, c->err, sizeof c->err);
    else if (p.restore)
        v = registry_version_restore(r, ctx, rt->bucket, rt->version, c->err, sizeof c->err);
    else
        v = registry_version_get(r, ctx, rt->bucket, rt->version, c->err, sizeof c->err);
    if (!v)
        return webhook_api_call_regfail(w, c, r);
    if (p.has_complete) {
        bool done = !json_is_null(json_object_get(v, "completed_at"));
        if (p.complete && !done) {
            json_decref(v);
            return webhook_api_call_fail(c, 409,
                                         "version '%s' of bucket '%s' is not complete: it "
                                         "completes by itself when its last build is BUILD_DONE",
                                         rt->version, rt->bucket);
        }
        if (!p.complete && done) {
            json_decref(v);
            return webhook_api_call_fail(c, 409,
                                         "version '%s' of bucket '%s' is complete; a complete "
                                         "version cannot change",
                                         rt->version, rt->bucket);
        }
    }
    c->reply = wrap("version", v);
    return 0;
}

static int channel_update(webhook_worker *w, api_call *c, registry *r, const reg_ctx *ctx,
                          json_t *body)
{
    const webhook_api_route *rt = &c->route;
    webhook_api_channel_patch p;
    int st = webhook_api_channel_patch_parse(body, &p, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    /* PATCH changes a channel that exists; it never creates one */
    json_t *ch = registry_channel_get(r, ctx, rt->bucket, rt->channel, c->err, sizeof c->err);
    if (!ch)
        return webhook_api_call_regfail(w, c, r);
    if (p.set_version) {
        json_decref(ch);
        ch =
            registry_channel_set(r, ctx, rt->bucket, rt->channel, p.version, c->err, sizeof c->err);
        if (!ch)
            return webhook_api_call_regfail(w, c, r);
    }
    if (p.set_restricted) {
        json_decref(ch);
        ch = registry_channel_set_restricted(r, ctx, rt->bucket, rt->channel, p.restricted, c->err,
                                             sizeof c->err);
        if (!ch)
            return webhook_api_call_regfail(w, c, r);
    }
    c->reply = wrap("channel", ch);
    return 0;
}

static int channel_assign(webhook_worker *w, api_call *c, registry *r, const reg_ctx *ctx,
                          json_t *body)
{
    const char *target, *source = NULL, *fp = NULL;
    if (need_string(c, body, "target_channel", &target) < 0 ||
        opt_string(c, body, "source_channel", &source) < 0 ||
        opt_string(c, body, "version_fingerprint", &fp) < 0)
        return -1;
    if ((source && *source) == (fp && *fp))
        return webhook_api_call_fail(c, 400,
                                     "give source_channel (copy what it holds) or "
                                     "version_fingerprint, exactly one of them");
    char *ref = fp && *fp ? xstrdup(fp) : NULL;
    if (!ref) {
        json_t *src = registry_channel_get(r, ctx, c->route.bucket, source, c->err, sizeof c->err);
        if (!src)
            return webhook_api_call_regfail(w, c, r);
        const char *sfp =
            json_string_value(json_object_get(json_object_get(src, "version"), "fingerprint"));
        ref = xstrdup(sfp);
        json_decref(src);
        if (!ref)
            return webhook_api_call_fail(c, 409,
                                         "source channel '%s' of bucket '%s' holds no "
                                         "version",
                                         source, c->route.bucket);
    }
    json_t *ch = registry_channel_set(r, ctx, c->route.bucket, target, ref, c->err, sizeof c->err);
    free(ref);
    if (!ch)
        return webhook_api_call_regfail(w, c, r);
    c->reply = wrap("channel", ch);
    return 0;
}

static int token_create(webhook_worker *w, api_call *c, registry *r, const reg_ctx *ctx,
                        json_t *body)
{
    const char *name, *role_s;
    reg_role role;
    char *secret = NULL;
    if (need_string(c, body, "name", &name) < 0 || need_string(c, body, "role", &role_s) < 0)
        return -1;
    if (registry_role_parse(role_s, &role) < 0)
        return webhook_api_call_fail(c, 400, "role: must be read, write or admin");
    if (registry_token_create(r, ctx, name, role, &secret, c->err, sizeof c->err) < 0)
        return webhook_api_call_regfail(w, c, r);
    webhook_tokens_refresh(w); /* in force on this server before the reply */
    c->reply = json_pack("{s:{s:s, s:s, s:s}}", "token", "name", name, "role",
                         registry_role_name(role), "secret", secret);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    return 0;
}

/* HCP's channel history entries carry the version object, not its name:
 * each entry of the page gets it as "version" (the name stays as
 * "version_name"); a version deleted since is {"name", "fingerprint"}.
 * One read per distinct version of the page. -1 with err when the store
 * fails (the call then fails: no made-up objects on a broken connection). */
static int history_versions(registry *r, const reg_ctx *ctx, const char *bucket, json_t *page,
                            char *err, size_t errlen)
{
    json_t *seen = json_object(); /* fingerprint -> version object */
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(page, i, e)
    {
        json_t *name = json_object_get(e, "version");
        const char *fp = json_string_value(json_object_get(e, "fingerprint"));
        json_object_set(e, "version_name", name ? name : json_null());
        if (!fp)
            continue;
        json_t *v = json_object_get(seen, fp);
        if (!v) {
            v = registry_version_get(r, ctx, bucket, fp, err, errlen);
            if (!v && registry_errcode(r) != REG_ENOTFOUND) {
                rc = -1;
                break;
            }
            if (!v)
                v = json_pack("{s:O, s:s}", "name", name ? name : json_null(), "fingerprint", fp);
            json_object_set_new(seen, fp, v);
        }
        json_object_set(e, "version", v);
    }
    json_decref(seen);
    return rc;
}

/* Runs one call of the Packer paths or /v1/tokens (store worker). */
static void api_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    const webhook_api_route *rt = &c->route;
    json_t *body = NULL, *labels = NULL;
    registry *r = webhook_api_call_auth(w, c);
    if (!r)
        return;
    reg_ctx ctx = {c->who, ig_time_now()};
    char *err = c->err;
    size_t errlen = sizeof c->err;
    if (webhook_api_op_has_body(rt->op) &&
        !(body = webhook_api_body_parse(c->body, c->body_len, err, errlen))) {
        webhook_api_call_fail(c, 400, "%s", err);
        return;
    }
    /* a version PATCH knows its role once its body is read */
    if (rt->op != API_VERSION_UPDATE &&
        webhook_api_call_allow(c, webhook_api_op_role(rt->op, false)) < 0)
        goto out;
    reg_page pg = {c->page.size, *c->page.token ? c->page.token : NULL, NULL};
    const char *s1 = NULL, *s2 = NULL;
    bool b1 = false;
    json_t *res = NULL;
    int rc = 0;
    switch (rt->op) {
    case API_BUCKET_LIST:
        res = registry_bucket_list(r, &ctx, &pg, err, errlen);
        if (res)
            c->reply = json_pack("{s:o, s:o}", "buckets", res, "pagination",
                                 webhook_api_pagination(pg.next_page_token, pg.page_size));
        free(pg.next_page_token);
        break;
    case API_BUCKET_CREATE:
        if (need_string(c, body, "name", &s1) < 0 || opt_string(c, body, "description", &s2) < 0 ||
            opt_labels(c, body, &labels) < 0)
            goto out;
        c->reply = wrap("bucket", registry_bucket_create(r, &ctx, s1, s2, labels, err, errlen));
        break;
    case API_BUCKET_GET:
        c->reply = wrap("bucket", registry_bucket_get(r, &ctx, rt->bucket, err, errlen));
        break;
    case API_BUCKET_UPDATE:
        if (opt_string(c, body, "description", &s2) < 0 || opt_labels(c, body, &labels) < 0)
            goto out;
        if (!s2 && !labels) {
            webhook_api_call_fail(c, 400, "nothing to change: give description or labels");
            goto out;
        }
        c->reply =
            wrap("bucket", registry_bucket_update(r, &ctx, rt->bucket, s2, labels, err, errlen));
        break;
    case API_BUCKET_DELETE:
        rc = registry_bucket_delete(r, &ctx, rt->bucket, err, errlen);
        break;
    case API_VERSION_LIST:
        res = registry_version_list(r, &ctx, rt->bucket, &pg, err, errlen);
        if (res)
            c->reply = json_pack("{s:o, s:o}", "versions", res, "pagination",
                                 webhook_api_pagination(pg.next_page_token, pg.page_size));
        free(pg.next_page_token);
        break;
    case API_VERSION_CREATE:
        if (need_string(c, body, "fingerprint", &s1) < 0)
            goto out;
        if (registry_valid_fingerprint(s1, err, errlen) < 0) {
            c->status = 400;
            goto out;
        }
        c->reply = wrap("version", registry_version_create(r, &ctx, rt->bucket, s1, err, errlen));
        break;
    case API_VERSION_GET:
        c->reply =
            wrap("version", registry_version_get(r, &ctx, rt->bucket, rt->version, err, errlen));
        break;
    case API_VERSION_UPDATE:
        version_update(w, c, r, &ctx, body);
        goto out;
    case API_VERSION_DELETE:
        rc = registry_version_delete(r, &ctx, rt->bucket, rt->version, err, errlen);
        break;
    case API_BUILD_LIST:
        c->reply =
            paged(c, "builds", registry_build_list(r, &ctx, rt->bucket, rt->version, err, errlen));
        break;
    case API_BUILD_CREATE:
        c->reply = wrap("build",
                        registry_build_create(r, &ctx, rt->bucket, rt->version, body, err, errlen));
        break;
    case API_BUILD_GET:
        c->reply = wrap(
            "build", registry_build_get(r, &ctx, rt->bucket, rt->version, rt->build, err, errlen));
        break;
    case API_BUILD_UPDATE:
        c->reply = wrap("build", registry_build_update(r, &ctx, rt->bucket, rt->version, rt->build,
                                                       body, err, errlen));
        break;
    case API_BUILD_DELETE:
        rc = registry_build_delete(r, &ctx, rt->bucket, rt->version, rt->build, err, errlen);
        break;
    case API_CHANNEL_LIST:
        c->reply = paged(c, "channels", registry_channel_list(r, &ctx, rt->bucket, err, errlen));
        break;
    case API_CHANNEL_CREATE:
        if (need_string(c, body, "name", &s1) < 0 ||
            opt_string(c, body, "version_fingerprint", &s2) < 0 ||
            opt_bool(c, body, "restricted", &b1) < 0)
            goto out;
        c->reply = wrap("channel", registry_channel_create(r, &ctx, rt->bucket, s1,
                                                           s2 && *s2 ? s2 : NULL, b1, err, errlen));
        break;
    case API_CHANNEL_GET:
        c->reply =
            wrap("channel", registry_channel_get(r, &ctx, rt->bucket, rt->channel, err, errlen));
        break;
    case API_CHANNEL_UPDATE:
        channel_update(w, c, r, &ctx, body);
        goto out;
    case API_CHANNEL_DELETE:
        rc = registry_channel_delete(r, &ctx, rt->bucket, rt->channel, err, errlen);
        break;
    case API_CHANNEL_HISTORY:
        c->reply = paged(c, "history",
                         registry_channel_history(r, &ctx, rt->bucket, rt->channel, err, errlen));
        if (c->reply && history_versions(r, &ctx, rt->bucket, json_object_get(c->reply, "history"),
                                         err, errlen) < 0) {
            json_decref(c->reply);
            c->reply = NULL;
            rc = -1;
        }
        break;
    case API_CHANNEL_ASSIGN:
        channel_assign(w, c, r, &ctx, body);
        goto out;
    case API_SEARCH_ARTIFACT: {
        const char *platform = NULL, *region = NULL;
        if (need_string(c, body, "external_identifier", &s1) < 0 ||
            opt_string(c, body, "platform", &platform) < 0 ||
            opt_string(c, body, "region", &region) < 0)
            goto out;
        if (strlen(s1) > 2048) {
            webhook_api_call_fail(c, 400, "external_identifier: longer than 2048 bytes");
            goto out;
        }
        res = registry_artifact_find(r, &ctx, s1, platform && *platform ? platform : NULL,
                                     region && *region ? region : NULL, err, errlen);
        if (res) {
            c->reply = paged(c, "artifacts", webhook_api_search_shape(res));
            json_decref(res);
        }
        break;
    }
    case API_TOKEN_LIST:
        c->reply = paged(c, "tokens", registry_token_list(r, err, errlen));
        break;
    case API_TOKEN_CREATE:
        token_create(w, c, r, &ctx, body);
        goto out;
    case API_TOKEN_REVOKE:
        rc = registry_token_revoke(r, &ctx, rt->token, err, errlen);
        if (rc == 0)
            webhook_tokens_refresh(w); /* gone on this server before the reply */
        break;
    default:
        webhook_api_call_fail(c, 404, "no such endpoint");
        goto out;
    }
    if (c->status)
        goto out;
    bool is_delete = rt->op == API_BUCKET_DELETE || rt->op == API_VERSION_DELETE ||
                     rt->op == API_BUILD_DELETE || rt->op == API_CHANNEL_DELETE ||
                     rt->op == API_TOKEN_REVOKE;
    if (rc < 0 || (!c->reply && !is_delete))
        webhook_api_call_regfail(w, c, r);
    else if (c->reply && *rt->base)
        webhook_api_hcp_shape(c->reply, rt->base);
out:
    json_decref(body);
}

void webhook_handle_api(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    webhook_api_route rt;
    char allow[64], err[512];
    int st = webhook_api_route_parse((int)evhttp_request_get_command(req), path, &rt, allow,
                                     sizeof allow, err, sizeof err);
    if (st == 404) {
        early_reply(req, "unknown", 404, "no such endpoint");
        return;
    }
    if (st == 405) {
        char msg[200];
        snprintf(msg, sizeof msg, "method not allowed here (allowed: %s)", allow);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        early_reply(req, "unknown", 405, msg);
        return;
    }
    if (st) {
        early_reply(req, "unknown", st, err);
        return;
    }
    api_call *c = webhook_api_call_new(srv, req, rt.op, webhook_api_op_has_body(rt.op));
    if (!c)
        return;
    c->route = rt;
    webhook_api_call_submit(c, api_work);
}

/* ---- GET /v1/lookup -------------------------------------------------------- */

static void lookup_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    registry *r = webhook_api_call_auth(w, c);
    if (!r || webhook_api_call_allow(c, webhook_api_op_role(API_LOOKUP, false)) < 0)
        return;
    reg_ctx ctx = {c->who, ig_time_now()};
    json_t *ch =
        registry_channel_get(r, &ctx, c->route.bucket, c->route.channel, c->err, sizeof c->err);
    if (!ch) {
        webhook_api_call_regfail(w, c, r);
        return;
    }
    int st = webhook_api_lookup_answer(ch, webhook_api_query_get(&c->query, "platform"),
                                       webhook_api_query_get(&c->query, "region"), &c->reply,
                                       c->err, sizeof c->err);
    if (st)
        webhook_api_call_fail(c, st, "%s", c->err);
    json_decref(ch);
}

void webhook_handle_lookup(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    api_call *c = webhook_api_call_new(srv, req, API_LOOKUP, false);
    if (!c)
        return;
    const char *bucket = webhook_api_query_get(&c->query, "bucket");
    const char *channel = webhook_api_query_get(&c->query, "channel");
    if (!bucket || !*bucket || !channel || !*channel) {
        webhook_api_call_fail(c, 400, "bucket and channel are required query parameters");
    } else if (registry_valid_bucket_name(bucket, c->err, sizeof c->err) < 0 ||
               registry_valid_channel_name(channel, c->err, sizeof c->err) < 0) {
        c->status = 400;
    } else {
        snprintf(c->route.bucket, sizeof c->route.bucket, "%s", bucket);
        snprintf(c->route.channel, sizeof c->route.channel, "%s", channel);
        webhook_api_call_submit(c, lookup_work);
        return;
    }
    webhook_api_call_finish(c);
}

/* ---- GET /v1/audit --------------------------------------------------------- */

static void audit_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    registry *r = webhook_api_call_auth(w, c);
    if (!r || webhook_api_call_allow(c, webhook_api_op_role(API_AUDIT, false)) < 0)
        return;
    ig_time since = IG_TIME_NONE, after_at = IG_TIME_NONE;
    char after_id[48], e2[256];
    const char *since_s = webhook_api_query_get(&c->query, "since");
    const char *bucket = webhook_api_query_get(&c->query, "bucket");
    if (since_s && *since_s &&
        ig_time_parse_since(since_s, ig_time_now(), &since, e2, sizeof e2) < 0) {
        webhook_api_call_fail(c, 400, "since: %s", e2);
        return;
    }
    if (bucket && *bucket && registry_valid_bucket_name(bucket, c->err, sizeof c->err) < 0) {
        c->status = 400;
        return;
    }
    if (*c->page.token) {
        int st = webhook_api_audit_token_parse(c->page.token, &after_at, after_id, sizeof after_id,
                                               c->err, sizeof c->err);
        if (st) {
            c->status = st;
            return;
        }
    }
    /* one more than the page tells whether another page follows */
    json_t *arr = registry_audit_list_after(r, since, bucket && *bucket ? bucket : NULL, after_at,
                                            after_at == IG_TIME_NONE ? NULL : after_id,
                                            c->page.size + 1, c->err, sizeof c->err);
    if (!arr) {
        webhook_api_call_regfail(w, c, r);
        return;
    }
    char *next = NULL;
    if (json_array_size(arr) > (size_t)c->page.size) {
        json_array_remove(arr, (size_t)c->page.size);
        next = webhook_api_audit_token(json_array_get(arr, (size_t)c->page.size - 1));
    }
    c->reply = json_pack("{s:o, s:o}", "entries", arr, "pagination",
                         webhook_api_pagination(next, c->page.size));
    free(next);
}

void webhook_handle_audit(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    api_call *c = webhook_api_call_new(srv, req, API_AUDIT, false);
    if (c)
        webhook_api_call_submit(c, audit_work);
}
