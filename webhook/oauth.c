/* POST /oauth2/token (see oauth.h for the contract).
 *
 * The loop thread refuses what it can without the store: an address over
 * --oauth-failure-limit (429), a body that is not a small form, a grant
 * other than client_credentials, missing credentials. The credentials go
 * to a store worker in a job that owns a copy of them (wiped when freed);
 * registry_oauth_issue checks the secret in constant time and stores only
 * the new access token's hash. A refusal (401) counts against the client's
 * address: hcp-sdk-go retries a refused Basic request once with the
 * credentials in the form, so one wrong secret counts twice.
 *
 * The log line of a request names its outcome, the client's address and,
 * once the credentials were accepted, the API token (the same name every
 * API log line carries); never the form, the client id given or a secret. */
#include "webhook/oauth.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "webhook/server.h"
#include "webhook/tokens.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- parsing --------------------------------------------------------------- */

const char *webhook_oauth_error_name(webhook_oauth_error e)
{
    switch (e) {
    case OAUTH_INVALID_CLIENT:
        return "invalid_client";
    case OAUTH_UNSUPPORTED_GRANT:
        return "unsupported_grant_type";
    default:
        return "invalid_request";
    }
}

int webhook_oauth_error_status(webhook_oauth_error e)
{
    return e == OAUTH_INVALID_CLIENT ? 401 : 400;
}

void webhook_oauth_req_wipe(webhook_oauth_req *r)
{
    OPENSSL_cleanse(r, sizeof *r);
}

static webhook_oauth_error fail(webhook_oauth_error e, char *err, size_t errlen, const char *msg)
{
    snprintf(err, errlen, "%s", msg);
    return e;
}

/* Standard base64 (with padding) of s into out (n bytes at most); the
 * decoded length, or -1 when s is not base64 or does not fit. */
static int b64_decode(const char *s, unsigned char *out, size_t n)
{
    size_t len = strlen(s), pad = 0;
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > n)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                   c == '+' || c == '/';
        if (c == '=' && i >= len - 2 && (i == len - 1 || s[len - 1] == '='))
            pad++;
        else if (!b64)
            return -1;
    }
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    return got < 0 ? -1 : got - (int)pad;
}

/* dst = the form-decoding of s[0..n); false when it is not valid, empty or
 * too long. */
static bool decode_part(char *dst, size_t dstlen, const char *s, size_t n)
{
    char *v = webhook_api_form_decode(s, n);
    bool ok = v && *v && strlen(v) < dstlen;
    if (ok)
        strcpy(dst, v);
    if (v) {
        OPENSSL_cleanse(v, strlen(v));
        free(v);
    }
    return ok;
}

/* "Basic base64(urlencode(id) ':' urlencode(secret))". */
static webhook_oauth_error parse_basic(const char *h, webhook_oauth_req *out, char *err,
                                       size_t errlen)
{
    unsigned char raw[2 * (WEBHOOK_API_MAX_SECRET * 3 + 1) + 4];
    const char *bad = "the Authorization header must be Basic with the client id and secret";
    if (strncasecmp(h, "Basic ", 6) != 0 || strlen(h) > 6 + sizeof raw / 3 * 4)
        return fail(OAUTH_INVALID_CLIENT, err, errlen, bad);
    h += 6;
    while (*h == ' ')
        h++;
    int n = b64_decode(h, raw, sizeof raw - 1);
    const unsigned char *colon = n > 0 ? memchr(raw, ':', (size_t)n) : NULL;
    bool ok = colon && !memchr(raw, '\0', (size_t)n) &&
              decode_part(out->client_id, sizeof out->client_id, (const char *)raw,
                          (size_t)(colon - raw)) &&
              decode_part(out->client_secret, sizeof out->client_secret, (const char *)colon + 1,
                          (size_t)(raw + n - colon - 1));
    OPENSSL_cleanse(raw, sizeof raw);
    if (!ok)
        return fail(OAUTH_INVALID_CLIENT, err, errlen, bad);
    out->basic = true;
    return OAUTH_OK;
}

/* The credentials: in the Authorization header, or in the form; not both. */
static webhook_oauth_error credentials(const char *authorization, const webhook_api_query *q,
                                       webhook_oauth_req *out, char *err, size_t errlen)
{
    const char *id = webhook_api_query_get(q, "client_id");
    const char *secret = webhook_api_query_get(q, "client_secret");
    if (authorization && *authorization) {
        webhook_oauth_error e = parse_basic(authorization, out, err, errlen);
        if (e == OAUTH_OK && (secret || (id && strcmp(id, out->client_id) != 0)))
            return fail(OAUTH_INVALID_REQUEST, err, errlen,
                        "give the client credentials one way: HTTP Basic or the form");
        return e;
    }
    if (!id || !*id || !secret || !*secret)
        return fail(OAUTH_INVALID_CLIENT, err, errlen,
                    "client credentials are required: HTTP Basic, or client_id and client_secret "
                    "in the form");
    if (strlen(id) >= sizeof out->client_id || strlen(secret) >= sizeof out->client_secret)
        return fail(OAUTH_INVALID_CLIENT, err, errlen, "the client id or secret is too long");
    strcpy(out->client_id, id);
    strcpy(out->client_secret, secret);
    return OAUTH_OK;
}

static bool is_form(const char *content_type)
{
    static const char form[] = "application/x-www-form-urlencoded";
    if (!content_type || strncasecmp(content_type, form, sizeof form - 1) != 0)
        return false;
    char next = content_type[sizeof form - 1];
    return next == '\0' || next == ';' || next == ' ';
}

webhook_oauth_error webhook_oauth_parse(const char *content_type, const char *authorization,
                                        const char *body, size_t len, webhook_oauth_req *out,
                                        char *err, size_t errlen)
{
    webhook_api_query q;
    char e2[256], *copy;
    memset(out, 0, sizeof *out);
    memset(&q, 0, sizeof q);
    if (!is_form(content_type))
        return fail(OAUTH_INVALID_REQUEST, err, errlen,
                    "the body must be a form (Content-Type: application/x-www-form-urlencoded)");
    if (len > WEBHOOK_OAUTH_MAX_FORM)
        return fail(OAUTH_INVALID_REQUEST, err, errlen, "the form is larger than 8192 bytes");
    if (memchr(body, '\0', len))
        return fail(OAUTH_INVALID_REQUEST, err, errlen, "the form holds a NUL byte");
    copy = xstrndup(body ? body : "", len);
    int st = webhook_api_query_parse(copy, &q, e2, sizeof e2);
    OPENSSL_cleanse(copy, len);
    free(copy);
    webhook_oauth_error e = OAUTH_OK;
    const char *grant = webhook_api_query_get(&q, "grant_type");
    if (st)
        e = fail(OAUTH_INVALID_REQUEST, err, errlen,
                 "the form is malformed: a parameter is badly escaped, too long or given twice");
    else if (!grant || !*grant)
        e = fail(OAUTH_INVALID_REQUEST, err, errlen, "grant_type: missing");
    else if (strcmp(grant, "client_credentials") != 0)
        e = fail(OAUTH_UNSUPPORTED_GRANT, err, errlen,
                 "grant_type: only client_credentials is supported");
    else
        e = credentials(authorization, &q, out, err, errlen);
    for (size_t i = 0; i < q.n; i++)
        OPENSSL_cleanse(q.value[i], strlen(q.value[i]));
    webhook_api_query_dispose(&q);
    return e;
}

/* ---- the failure throttle --------------------------------------------------- */

typedef struct throttle_entry {
    char addr[64];
    ig_time start; /* the window's first failure */
    int64_t failures;
} throttle_entry;

struct webhook_throttle {
    int64_t limit, window;
    throttle_entry *e;
    size_t n, max;
};

webhook_throttle *webhook_throttle_new(int64_t limit, int64_t window_ms, size_t max_addrs)
{
    webhook_throttle *t = xcalloc(1, sizeof *t);
    t->limit = limit;
    t->window = window_ms;
    t->max = max_addrs ? max_addrs : 1;
    t->e = xcalloc(t->max, sizeof *t->e);
    return t;
}

void webhook_throttle_free(webhook_throttle *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

static throttle_entry *throttle_find(webhook_throttle *t, const char *addr)
{
    for (size_t i = 0; i < t->n; i++)
        if (strncmp(t->e[i].addr, addr, sizeof t->e[i].addr - 1) == 0)
            return &t->e[i];
    return NULL;
}

int64_t webhook_throttle_wait(webhook_throttle *t, const char *addr, ig_time now)
{
    throttle_entry *e = throttle_find(t, addr);
    if (!e || e->failures < t->limit || now >= e->start + t->window)
        return 0;
    return e->start + t->window - now;
}

void webhook_throttle_fail(webhook_throttle *t, const char *addr, ig_time now)
{
    throttle_entry *e = throttle_find(t, addr);
    if (!e && t->n < t->max) {
        e = &t->e[t->n++];
    } else if (!e) {
        e = &t->e[0]; /* full: forget the oldest window */
        for (size_t i = 1; i < t->n; i++)
            if (t->e[i].start < e->start)
                e = &t->e[i];
    }
    if (strncmp(e->addr, addr, sizeof e->addr - 1) != 0 || now >= e->start + t->window) {
        snprintf(e->addr, sizeof e->addr, "%s", addr);
        e->start = now;
        e->failures = 0;
    }
    e->failures++;
}

/* ---- the endpoint ------------------------------------------------------------ */

/* RFC 6749's error body; a 401 says how to authenticate. */
static void oauth_reply(struct evhttp_request *req, int code, const char *error, const char *msg)
{
    if (code == 401)
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Basic realm=\"imagegate\"");
    webhook_reply_json(req, code,
                       json_pack("{s:s, s:s}", "error", error, "error_description", msg));
}

void webhook_oauth_reply_error(struct evhttp_request *req, int code, const char *msg)
{
    oauth_reply(req, code,
                code == 401                  ? "invalid_client"
                : code == 429 || code >= 500 ? "temporarily_unavailable"
                                             : "invalid_request",
                msg);
}

typedef struct oauth_job {
    struct evhttp_request *req;
    double t0;
    char addr[64];
    int64_t lifetime_ms;
    webhook_oauth_req cred;
    int status;
    char who[WEBHOOK_API_MAX_SECRET + 1]; /* the API token, once accepted */
    char *token;
    char err[256];
} oauth_job;

static void job_free(oauth_job *j)
{
    webhook_oauth_req_wipe(&j->cred);
    if (j->token) {
        OPENSSL_cleanse(j->token, strlen(j->token));
        free(j->token);
    }
    free(j);
}

/* Store worker. */
static void oauth_work(webhook_worker *w, void *arg)
{
    oauth_job *j = arg;
    char err[512];
    registry *r = webhook_worker_registry(w, err, sizeof err);
    reg_ctx ctx = {"oauth", ig_time_now()};
    if (r && registry_oauth_issue(r, &ctx, j->cred.client_id, j->cred.client_secret, j->lifetime_ms,
                                  &j->token, err, sizeof err) == 0) {
        j->status = 200;
        snprintf(j->who, sizeof j->who, "%s", j->cred.client_id);
        /* in the loop's token snapshot before the reply: the access token
         * may send what its API token may (an SBOM upload's body limit) */
        webhook_tokens_refresh(w);
    } else if (r && registry_errcode(r) == REG_ENOTFOUND) {
        j->status = 401;
        snprintf(j->err, sizeof j->err, "the client id or secret is wrong");
    } else {
        if (r)
            webhook_worker_reset_registry(w);
        char q[600];
        log_error("event=oauth_store_failed error=%s", log_quote(err, q, sizeof q));
        j->status = 503;
        snprintf(j->err, sizeof j->err, "the registry store is unavailable; try again");
    }
    webhook_oauth_req_wipe(&j->cred);
}

static void log_outcome(const oauth_job *j, int status, const char *error)
{
    char q[100];
    log_write(status >= 500 ? LOG_ERROR : LOG_INFO,
              "event=oauth_token status=%d client=%s addr=%s%s%s duration_ms=%.1f", status,
              log_quote(*j->who ? j->who : "-", q, sizeof q), j->addr, error ? " error=" : "",
              error ? error : "", (ig_mono_seconds() - j->t0) * 1000);
}

/* Loop thread. */
static void oauth_done(webhook_server *srv, void *arg)
{
    oauth_job *j = arg;
    if (j->status == 200) {
        webhook_reply_json(j->req, 200,
                           json_pack("{s:s, s:s, s:I}", "access_token", j->token, "token_type",
                                     "Bearer", "expires_in", (json_int_t)(j->lifetime_ms / 1000)));
        log_outcome(j, 200, NULL);
    } else {
        if (j->status == 401)
            webhook_throttle_fail(webhook_server_oauth_throttle(srv), j->addr, ig_time_now());
        if (j->status == 503)
            evhttp_add_header(evhttp_request_get_output_headers(j->req), "Retry-After", "5");
        webhook_oauth_reply_error(j->req, j->status, j->err);
        log_outcome(j, j->status, j->status == 401 ? "invalid_client" : "store");
    }
    job_free(j);
}

static void peer_of(struct evhttp_request *req, char *out, size_t outlen)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    char *host = NULL;
    ev_uint16_t port = 0;
    if (conn)
        evhttp_connection_get_peer(conn, &host, &port);
    snprintf(out, outlen, "%s", host && *host ? host : "-");
}

/* The checks made on the loop thread; 0, or the status already answered. */
static int oauth_precheck(webhook_server *srv, struct evhttp_request *req, oauth_job *j)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(buf);
    char msg[160];
    int64_t wait =
        webhook_throttle_wait(webhook_server_oauth_throttle(srv), j->addr, ig_time_now());
    if (wait > 0) {
        snprintf(msg, sizeof msg, "%lld", (long long)(wait + 999) / 1000);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", msg);
        snprintf(msg, sizeof msg,
                 "too many failed token requests from this address; try again in %lld s",
                 (long long)(wait + 999) / 1000);
        webhook_oauth_reply_error(req, 429, msg);
        return 429;
    }
    const char *body = len && len <= WEBHOOK_OAUTH_MAX_FORM
                           ? (const char *)evbuffer_pullup(buf, (ev_ssize_t)len)
                           : "";
    webhook_oauth_error e = webhook_oauth_parse(evhttp_find_header(in, "Content-Type"),
                                                evhttp_find_header(in, "Authorization"), body, len,
                                                &j->cred, j->err, sizeof j->err);
    if (e == OAUTH_OK)
        return 0;
    int st = webhook_oauth_error_status(e);
    if (st == 401)
        webhook_throttle_fail(webhook_server_oauth_throttle(srv), j->addr, ig_time_now());
    oauth_reply(req, st, webhook_oauth_error_name(e), j->err);
    return st;
}

void webhook_handle_oauth_token(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    oauth_job *j = xcalloc(1, sizeof *j);
    j->req = req;
    j->t0 = ig_mono_seconds();
    j->lifetime_ms = webhook_server_config(srv)->oauth_token_lifetime;
    peer_of(req, j->addr, sizeof j->addr);
    int st = oauth_precheck(srv, req, j);
    if (st) {
        log_outcome(j, st, st == 429 ? "throttled" : st == 401 ? "invalid_client" : "bad_request");
        job_free(j);
        return;
    }
    if (webhook_submit(srv, oauth_work, oauth_done, j) < 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        webhook_oauth_reply_error(req, 503, "imagegate is busy; try again");
        log_outcome(j, 503, "busy");
        job_free(j);
    }
}
