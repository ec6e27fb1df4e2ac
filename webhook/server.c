/* The daemon's loop and its pools: start-up, request dispatch, the store,
 * scan and delivery pools (pool.h), signals and shutdown. server.h has the
 * picture.
 *
 * Handlers run on the loop thread and hand anything that may block to a pool
 * with webhook_submit() (store) or webhook_submit_scan(); the job's done
 * function replies, back on the loop thread. Deliveries are queued by
 * task_result_id, bounded by --queue-depth; one that does not fit is already
 * durable in the store and is found by an idle worker's periodic claim (the
 * "sweep"), the same path that resumes deliveries after a crash.
 *
 * Shutdown (SIGTERM/SIGINT): the listener goes first and the delivery pool is
 * closed (workers finish what they hold); a timer polls until the pools are
 * idle or --shutdown-timeout passes, then the abort flag stops any transfer
 * still running (its delivery stays queued in the store, resumed by the next
 * start); the loop exits, the pools are joined (the store pool last: it
 * drains) and the remaining completions run before evhttp is freed. */
#include "webhook/server.h"

#include "common/log.h"
#include "common/strbuf.h"
#include "common/xalloc.h"
#include "webhook/api.h"
#include "webhook/sig.h"
#include "webhook/console.h"
#include "webhook/deadline.h"
#include "webhook/oauth.h"
#include "webhook/pool.h"
#include "webhook/tls.h"
#include "webhook/tokens.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <event2/thread.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct webhook_worker {
    webhook_server *srv;
    int index;
    registry *reg;
    ig_time reg_retry_at; /* after a failed open, no new attempt before this */
    int64_t reg_backoff;  /* ms to wait after the next failed open (0: none failed) */
    char reg_err[256];    /* why the last open failed */
    rules_matcher *matcher;
    char owner[160];
    ig_time next_chores; /* delivery worker 0: next abandon-and-prune pass */
};

/* The last /readyz probe and the requests waiting for the next (loop thread). */
typedef struct readiness {
    bool probing; /* a probe job is queued or running */
    bool ok;      /* its last answer */
    double at;    /* ig_mono_seconds() of that answer; 0: none yet */
    struct evhttp_request **waiting;
    size_t nwaiting, capwaiting;
} readiness;

/* A pool and the contexts of its threads (pool.h). */
typedef struct worker_pool {
    webhook_pool *pool;
    webhook_worker *workers;
    int n;
} worker_pool;

struct webhook_server {
    const webhook_config *cfg;
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    SSL_CTX *ssl;                 /* loop thread */
    webhook_keys *keys;           /* loop thread */
    webhook_deadlines *deadlines; /* loop thread: --header-timeout, --body-timeout */
    webhook_tokens *tokens;       /* loop thread: API token hashes for body limits */
    webhook_throttle *oauth;      /* loop thread: failed POST /oauth2/token per address */
    reg_ids ids;                  /* the HCP organization and project (read-only) */
    char *hmac_path;
    char *cert_path, *key_path;
    rules *rules;
    policy *policy;
    webhook_metrics *metrics;
    char public_url[512];
    char listen_url[300];

    worker_pool store; /* --store-workers */
    worker_pool scan;  /* POST /v1/scan, --workers */
    worker_pool delivery;
    worker_pool notify;     /* event notifications, --webhook-workers (events.c) */
    int64_t jinflight;      /* submitted to store, scan or notify and not yet done (loop thread) */
    atomic_int busy;        /* delivery workers running a delivery */
    atomic_int notify_busy; /* notification workers sending */
    atomic_int notify_stop; /* shutting down: no new sends */
    atomic_int notify_kicked; /* a kick is queued on the notification pool */
    webhook_completions *done;
    readiness ready; /* /readyz (loop thread) */

    struct event *sigterm, *sigint, *sighup, *drain;
    ig_time drain_deadline;
    atomic_int abort;
    bool stopping;
};

/* ---- small accessors -------------------------------------------------- */

const webhook_config *webhook_server_config(const webhook_server *srv)
{
    return srv->cfg;
}
webhook_metrics *webhook_server_metrics(webhook_server *srv)
{
    return srv->metrics;
}
const rules *webhook_server_rules(const webhook_server *srv)
{
    return srv->rules;
}
const policy *webhook_server_policy(const webhook_server *srv)
{
    return srv->policy;
}
const char *webhook_server_public_url(const webhook_server *srv)
{
    return srv->public_url;
}
const reg_ids *webhook_server_ids(const webhook_server *srv)
{
    return &srv->ids;
}
const char *webhook_server_hmac_path(const webhook_server *srv)
{
    return srv->hmac_path;
}
webhook_throttle *webhook_server_oauth_throttle(webhook_server *srv)
{
    return srv->oauth;
}
const struct webhook_keys *webhook_server_keys(const webhook_server *srv)
{
    return srv->keys;
}
const atomic_int *webhook_server_abort_flag(const webhook_server *srv)
{
    return &srv->abort;
}
webhook_tokens *webhook_server_tokens(webhook_server *srv)
{
    return srv->tokens;
}
webhook_server *webhook_worker_server(webhook_worker *w)
{
    return w->srv;
}
const char *webhook_worker_owner(const webhook_worker *w)
{
    return w->owner;
}

rules_matcher *webhook_worker_matcher(webhook_worker *w)
{
    if (!w->matcher)
        w->matcher = rules_matcher_new(w->srv->rules);
    return w->matcher;
}

/* A handle whose last call failed with a store error (a PostgreSQL
 * connection lost, a SQLite file locked) is closed and opened afresh. While
 * the store cannot be opened, attempts are spaced 250 ms, 500 ms ... up to
 * 5 s apart per worker, and calls in between fail at once with the last
 * reason: a database that is down (or a host that swallows packets, where
 * each attempt would hold the thread for connect_timeout) never ties up every
 * worker in connection attempts, and /readyz and acknowledgements answer 503
 * quickly until it is back. */
#define REG_BACKOFF_FIRST 250
#define REG_BACKOFF_MAX 5000

registry *webhook_worker_registry(webhook_worker *w, char *err, size_t errlen)
{
    if (w->reg && registry_errcode(w->reg) == REG_ESTORE)
        webhook_worker_reset_registry(w);
    if (w->reg)
        return w->reg;
    ig_time now = ig_time_now();
    if (w->reg_backoff && now < w->reg_retry_at) {
        snprintf(err, errlen, "%s (next attempt in %lld ms)", w->reg_err,
                 (long long)(w->reg_retry_at - now));
        return NULL;
    }
    int code = 0;
    w->reg = registry_open(w->srv->cfg->db, 0, &code, err, errlen);
    if (w->reg) {
        if (w->reg_backoff)
            log_info("event=store_reconnected worker=%s", w->owner);
        w->reg_backoff = 0;
        return w->reg;
    }
    snprintf(w->reg_err, sizeof w->reg_err, "%s", err);
    w->reg_backoff = w->reg_backoff ? w->reg_backoff * 2 : REG_BACKOFF_FIRST;
    if (w->reg_backoff > REG_BACKOFF_MAX)
        w->reg_backoff = REG_BACKOFF_MAX;
    w->reg_retry_at = now + w->reg_backoff;
    return NULL;
}

void webhook_worker_reset_registry(webhook_worker *w)
{
    registry_close(w->reg);
    w->reg = NULL;
}

/* ---- replies ----------------------------------------------------------- */

void webhook_reply_text(struct evhttp_request *req, int code, const char *content_type,
                        const char *text, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", content_type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, len);
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
}

void webhook_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    if (!body)
        body = json_object();
    char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    webhook_reply_text(req, code, "application/json", s, strlen(s));
    free(s);
    json_decref(body);
}

/* Error bodies have the shape of HCP's gateway (a google.rpc.Status):
 * {"code": <gRPC code>, "message", "details": []}. Clients of HCP decide on
 * the gRPC code, not on the HTTP status -- Packer creates a bucket when a
 * read answers code 5 (NotFound), the HCP provider takes 6 (AlreadyExists)
 * for a bucket that is there -- so code follows the status the way
 * grpc-gateway maps one to the other. */
static int grpc_code_for(int status)
{
    switch (status) {
    case 400:
    case 422:
        return 3; /* INVALID_ARGUMENT */
    case 401:
        return 16; /* UNAUTHENTICATED */
    case 403:
        return 7; /* PERMISSION_DENIED */
    case 404:
        return 5; /* NOT_FOUND */
    case 405:
    case 501:
        return 12; /* UNIMPLEMENTED */
    case 408:
    case 504:
        return 4; /* DEADLINE_EXCEEDED */
    case 409:
        return 9; /* FAILED_PRECONDITION */
    case 413:
    case 429:
        return 8; /* RESOURCE_EXHAUSTED */
    case 500:
        return 13; /* INTERNAL */
    case 503:
        return 14; /* UNAVAILABLE */
    default:
        return 2; /* UNKNOWN */
    }
}

static json_t *error_doc(int code, int grpc, const char *msg)
{
    return json_pack("{s:i, s:s, s:[]}", "code", grpc ? grpc : grpc_code_for(code), "message", msg,
                     "details");
}

char *webhook_error_json(int status, const char *msg)
{
    json_t *doc = error_doc(status, 0, msg);
    char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(doc);
    return s;
}

static void reply_status(struct evhttp_request *req, int code, int grpc, const char *fmt,
                         va_list ap) __attribute__((format(printf, 4, 0)));
static void reply_status(struct evhttp_request *req, int code, int grpc, const char *fmt,
                         va_list ap)
{
    char *msg = xvasprintf(fmt, ap);
    webhook_reply_json(req, code, error_doc(code, grpc, msg));
    free(msg);
}

void webhook_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_status(req, code, 0, fmt, ap);
    va_end(ap);
}

void webhook_reply_error_grpc(struct evhttp_request *req, int code, int grpc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    reply_status(req, code, grpc, fmt, ap);
    va_end(ap);
}

/* ---- jobs of the store and scan pools ---------------------------------- */

/* A handler's work and done around the pool's job (first member). A request
 * waiting for its job stays owned by evhttp: if the client goes away
 * meanwhile, libevent 2.1's evhttp_connection_incoming_fail unlinks a
 * request not yet answered from its connection instead of freeing it, and
 * evhttp_send_reply on a request without a connection frees it -- so the
 * done function may always reply. */
typedef struct job {
    webhook_pool_job pj;
    webhook_server *srv;
    webhook_work_fn work;
    webhook_done_fn done;
    void *arg;
    bool posted; /* webhook_post: not counted in jinflight */
} job;

static int job_work(webhook_pool_job *pj, void *thread)
{
    job *j = (job *)pj;
    j->work(thread, j->arg);
    return 0;
}

static void job_done(webhook_pool_job *pj)
{
    job *j = (job *)pj;
    if (j->done)
        j->done(j->srv, j->arg);
    if (!j->posted)
        j->srv->jinflight--;
    free(j);
}

static job *job_new(webhook_server *srv, webhook_work_fn work, webhook_done_fn done, void *arg)
{
    job *j = xcalloc(1, sizeof *j);
    j->pj.work = work ? job_work : NULL;
    j->pj.done = job_done;
    j->srv = srv;
    j->work = work;
    j->done = done;
    j->arg = arg;
    return j;
}

void webhook_post(webhook_server *srv, webhook_done_fn done, void *arg)
{
    job *j = job_new(srv, NULL, done, arg);
    j->posted = true;
    webhook_completions_post(srv->done, &j->pj);
}

static int submit_to(webhook_server *srv, worker_pool *wp, webhook_work_fn work,
                     webhook_done_fn done, void *arg)
{
    job *j = job_new(srv, work, done, arg);
    if (webhook_pool_submit(wp->pool, &j->pj) < 0) {
        free(j);
        return -1;
    }
    srv->jinflight++;
    return 0;
}

int webhook_submit(webhook_server *srv, webhook_work_fn work, webhook_done_fn done, void *arg)
{
    return submit_to(srv, &srv->store, work, done, arg);
}

int webhook_submit_scan(webhook_server *srv, webhook_work_fn work, webhook_done_fn done, void *arg)
{
    return submit_to(srv, &srv->scan, work, done, arg);
}

int webhook_submit_notify(webhook_server *srv, webhook_work_fn work, webhook_done_fn done,
                          void *arg)
{
    return submit_to(srv, &srv->notify, work, done, arg);
}

/* ---- notification pool ------------------------------------------------- */

/* Once a minute, notification worker 0 drops the events whose deliveries
 * all finished more than --webhook-retention ago, with their log. */
static void notify_chores(webhook_worker *w, registry *r)
{
    char err[512];
    ig_time now = ig_time_now();
    if (w->index != 0 || now < w->next_chores)
        return;
    int n = registry_outbox_prune(r, now - w->srv->cfg->webhook_retention, err, sizeof err);
    if (n > 0)
        log_info("event=webhook_events_pruned count=%d", n);
    else if (n < 0)
        log_warn("event=webhook_prune_failed error=\"%s\"", err);
    w->next_chores = now + 60 * 1000;
}

/* The pool's idle function: at start, every min(--webhook-retry-min,
 * --sweep-interval) and at once after a kick or a send, deliver what the
 * outbox holds (events.c). Returns 1 when it sent something: more may be
 * due. */
static int notify_sweep(void *thread)
{
    webhook_worker *w = thread;
    webhook_server *srv = w->srv;
    char err[512] = "";
    if (atomic_load(&srv->notify_stop))
        return 0;
    registry *r = webhook_worker_registry(w, err, sizeof err);
    if (!r)
        return 0;
    notify_chores(w, r);
    atomic_fetch_add(&srv->notify_busy, 1);
    int more = webhook_events_send(w, r);
    atomic_fetch_sub(&srv->notify_busy, 1);
    return more;
}

/* A kick: no work of its own; returning 1 makes its thread sweep at once. */
static int kick_work(webhook_pool_job *pj, void *thread)
{
    webhook_worker *w = thread;
    atomic_store(&w->srv->notify_kicked, 0);
    free(pj);
    return 1;
}

static void kick_discard(webhook_pool_job *pj)
{
    free(pj);
}

void webhook_notify_kick(webhook_server *srv)
{
    if (atomic_exchange(&srv->notify_kicked, 1))
        return; /* one is queued: it will see this change too */
    webhook_pool_job *j = xcalloc(1, sizeof *j);
    j->work = kick_work;
    if (webhook_pool_submit(srv->notify.pool, j) < 0) {
        free(j); /* full or stopping: the next sweep finds the events */
        atomic_store(&srv->notify_kicked, 0);
    }
}

/* ---- delivery pool ---------------------------------------------------- */

/* A task_result_id waiting for a delivery worker. No done: the job frees
 * itself once claimed. */
typedef struct delivery_job {
    webhook_pool_job pj;
    char id[];
} delivery_job;

/* Claims the delivery id (or, with id NULL, the oldest claimable one) and
 * runs it. Returns 1 when a delivery ran (more may be waiting in the store),
 * else 0. err holds why r is NULL. */
static int claim_and_run(webhook_worker *w, registry *r, const char *id, char *err, size_t errlen)
{
    webhook_server *srv = w->srv;
    const webhook_config *cfg = srv->cfg;
    reg_delivery d;
    memset(&d, 0, sizeof d);
    int rc = -1;
    if (r) {
        reg_ctx ctx = {"imagegate", ig_time_now()};
        if (id)
            rc = registry_delivery_claim_id(r, &ctx, w->owner, cfg->delivery_lease, id, &d, err,
                                            errlen);
        else
            rc = registry_delivery_claim(r, &ctx, w->owner, cfg->delivery_lease,
                                         ctx.now - cfg->token_lifetime, &d, err, errlen);
        if (rc < 0 && registry_errcode(r) == REG_ESTORE)
            webhook_worker_reset_registry(w);
    }
    if (rc < 0)
        log_error("event=delivery_claim_failed worker=%d error=\"%s\"", w->index, err);
    if (rc != 1)
        return 0;
    atomic_fetch_add(&srv->busy, 1);
    webhook_delivery_run(w, &d);
    registry_delivery_dispose(&d);
    atomic_fetch_sub(&srv->busy, 1);
    return 1;
}

static int delivery_work(webhook_pool_job *pj, void *thread)
{
    delivery_job *j = (delivery_job *)pj;
    webhook_worker *w = thread;
    char err[512] = "";
    registry *r = webhook_worker_registry(w, err, sizeof err);
    int ran = claim_and_run(w, r, j->id, err, sizeof err);
    free(j);
    return ran;
}

static void delivery_discard(webhook_pool_job *pj)
{
    free(pj);
}

void webhook_enqueue_delivery(webhook_server *srv, const char *task_result_id)
{
    size_t n = strlen(task_result_id);
    delivery_job *j = xcalloc(1, sizeof *j + n + 1);
    j->pj.work = delivery_work;
    memcpy(j->id, task_result_id, n + 1);
    if (webhook_pool_submit(srv->delivery.pool, &j->pj) < 0)
        free(j); /* full or stopping: the store keeps it for a sweep */
}

/* Deliveries that waited past their token's life (a long backlog) can never
 * be delivered: once a minute, worker 0 marks them failed, audited, as
 * start-up does, prunes result pages past --result-retention and usage rows
 * and runs past --usage-retention (all of them when 0). */
static void delivery_chores(webhook_worker *w, registry *r)
{
    const webhook_config *cfg = w->srv->cfg;
    char err[512];
    reg_ctx ctx = {"imagegate", ig_time_now()};
    if (ctx.now < w->next_chores)
        return;
    int n = registry_delivery_abandon_old(r, &ctx, ctx.now - cfg->token_lifetime, err, sizeof err);
    if (n > 0)
        log_warn("event=deliveries_abandoned count=%d msg=\"waited longer than "
                 "--token-lifetime\"",
                 n);
    n = registry_result_prune(r, ctx.now - cfg->result_retention, err, sizeof err);
    if (n > 0)
        log_info("event=results_pruned count=%d", n);
    n = registry_usage_prune(r, ctx.now - cfg->usage_retention, err, sizeof err);
    if (n > 0)
        log_info("event=usage_pruned count=%d", n);
    w->next_chores = ctx.now + 60 * 1000;
}

/* The pool's idle function: at start, after --sweep-interval without a
 * queued id, and straight after a delivery ran, claim whatever the store
 * holds (crash recovery, queue overflow, other replicas' leftovers). */
static int delivery_sweep(void *thread)
{
    webhook_worker *w = thread;
    char err[512] = "";
    registry *r = webhook_worker_registry(w, err, sizeof err);
    if (r && w->index == 0)
        delivery_chores(w, r);
    return claim_and_run(w, r, NULL, err, sizeof err);
}

/* ---- HTTP ----------------------------------------------------------- */

/* An error found before a route's handler runs, in the route's shape:
 * OAuth2's for the token endpoint (Packer reads gRPC codes out of any error
 * text, a token error's included), HCP's for the rest. */
static void route_error(const webhook_route *r, struct evhttp_request *req, int code,
                        const char *msg)
{
    if (strcmp(r->name, "oauth") == 0)
        webhook_oauth_reply_error(req, code, msg);
    else
        webhook_reply_error(req, code, "%s", msg);
}

/* Appends the names of the verbs in methods to an Allow list. */
static void add_allow(strbuf *allow, int methods)
{
    static const struct {
        int m;
        const char *n;
    } names[] = {{EVHTTP_REQ_GET, "GET"},       {EVHTTP_REQ_POST, "POST"},
                 {EVHTTP_REQ_PUT, "PUT"},       {EVHTTP_REQ_PATCH, "PATCH"},
                 {EVHTTP_REQ_DELETE, "DELETE"}, {EVHTTP_REQ_HEAD, "HEAD"}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (methods & names[i].m)
            strbuf_printf(allow, "%s%s", allow->len ? ", " : "", names[i].n);
}

/* Whether dispatch() refuses a matched request's body as too large: over
 * --max-body-bytes, except POST /v1/scan and an SBOM upload, whose
 * handlers check their own limits (--max-plan-bytes,
 * --max-sbom-upload-bytes). */
static bool body_too_large(const webhook_server *srv, const webhook_route *r, int method,
                           const char *path, size_t len)
{
    if (r->large_body || (method == EVHTTP_REQ_PUT && webhook_api_is_sbom_upload("PUT", path)))
        return false;
    return len > (size_t)srv->cfg->max_body_bytes;
}

static void dispatch(struct evhttp_request *req, void *arg)
{
    webhook_server *srv = arg;
    webhook_deadlines_dispatched(srv->deadlines, req); /* read in time: stop its clock */
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *path = u ? evhttp_uri_get_path(u) : NULL;
    if (!path || !*path)
        path = "/";
    int method = (int)evhttp_request_get_command(req);
    const webhook_route *match = NULL, *known = NULL;
    strbuf allow = STRBUF_INIT;
    char msg[200];
    size_t plen = strlen(path);
    if (plen > 1 && path[plen - 1] == '/' && !webhook_console_owns(path)) {
        /* one rule for every API path: a trailing slash is never routed (the
         * console's pages are the browser's, where /ui/ is the natural root) */
        webhook_reply_error(req, 404, "no such endpoint (paths do not end in '/')");
        return;
    }
    for (const webhook_route *r = webhook_routes; r->path; r++) {
        bool hit =
            r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (!hit)
            continue;
        known = r;
        if (r->methods & method) {
            match = r;
            break;
        }
        add_allow(&allow, r->methods);
    }
    if (match) {
        if (srv->stopping && strcmp(match->name, "healthz") != 0) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            route_error(match, req, 503, "imagegate is shutting down");
        } else if (body_too_large(srv, match, method, path,
                                  evbuffer_get_length(evhttp_request_get_input_buffer(req)))) {
            /* libevent's own limit is the larger --max-plan-bytes (POST
             * /v1/scan) or --max-sbom-upload-bytes; every other route keeps
             * --max-body-bytes. */
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
            snprintf(msg, sizeof msg, "the request body is larger than --max-body-bytes (%lld)",
                     (long long)srv->cfg->max_body_bytes);
            route_error(match, req, 413, msg);
        } else {
            match->fn(srv, req, path);
        }
    } else if (known) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow.s);
        snprintf(msg, sizeof msg, "method not allowed on %.80s (allowed: %s)", path, allow.s);
        route_error(known, req, 405, msg);
    } else {
        webhook_reply_error(req, 404, "no such endpoint");
    }
    strbuf_dispose(&allow);
}

/* A request's body limit, chosen by the deadline tracker as soon as its
 * header block is complete. A route marked large_body (POST /v1/scan) gets
 * --max-plan-bytes only when the block carries the bearer token of a live
 * API token (tokens.c's snapshot), and --max-body-bytes otherwise: a client
 * without a token never gets a plan-sized body buffered; a small one is
 * read and the handler answers 401. Everything else gets twice
 * --max-body-bytes, so a body far too big is refused by evhttp (413, its own
 * HTML page, connection closed) before it is read into memory, while one
 * just over --max-body-bytes is still read and gets dispatch()'s JSON 413.
 * An SBOM upload (PUT .../sboms) gets --max-sbom-upload-bytes (and a little
 * more, so a body just over it gets the handler's JSON 413) on the same
 * condition. When the tracker could not read the path (an absolute URI, a
 * path longer than it keeps), the request might be for any route: the
 * large limit only with a known token. */
static int64_t body_limit(void *arg, const char *method, const char *path,
                          const char *authorization)
{
    webhook_server *srv = arg;
    const webhook_config *cfg = srv->cfg;
    int64_t large =
        cfg->max_plan_bytes > cfg->max_body_bytes ? cfg->max_plan_bytes : cfg->max_body_bytes;
    int64_t sbom = cfg->max_sbom_upload_bytes + cfg->max_body_bytes;
    if (large < sbom)
        large = sbom;
    if (!path)
        return webhook_tokens_knows(srv->tokens, authorization) ? large : 2 * cfg->max_body_bytes;
    if (webhook_api_is_sbom_upload(method, path))
        return webhook_tokens_knows(srv->tokens, authorization) ? sbom : cfg->max_body_bytes;
    static const struct {
        const char *name;
        int m;
    } verbs[] = {{"GET", EVHTTP_REQ_GET},       {"POST", EVHTTP_REQ_POST},
                 {"PUT", EVHTTP_REQ_PUT},       {"PATCH", EVHTTP_REQ_PATCH},
                 {"DELETE", EVHTTP_REQ_DELETE}, {"HEAD", EVHTTP_REQ_HEAD}};
    int method_bit = 0;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(method, verbs[i].name) == 0)
            method_bit = verbs[i].m;
    for (const webhook_route *r = webhook_routes; r->path; r++) {
        bool hit =
            r->prefix ? strncmp(path, r->path, strlen(r->path)) == 0 : strcmp(path, r->path) == 0;
        if (hit && (r->methods & method_bit)) {
            if (!r->large_body)
                return 2 * cfg->max_body_bytes;
            return webhook_tokens_knows(srv->tokens, authorization) ? large : cfg->max_body_bytes;
        }
    }
    return 2 * cfg->max_body_bytes;
}

static struct bufferevent *tls_bevcb(struct event_base *base, void *arg)
{
    webhook_server *srv = arg;
    SSL *ssl = SSL_new(srv->ssl);
    if (!ssl)
        return NULL;
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
    if (!bev)
        return NULL;
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return webhook_deadlines_watch(srv->deadlines, bev);
}

/* Plain HTTP: the bufferevent evhttp would make itself, made here so that
 * the request deadlines can watch it. */
static struct bufferevent *plain_bevcb(struct event_base *base, void *arg)
{
    webhook_server *srv = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    return bev ? webhook_deadlines_watch(srv->deadlines, bev) : NULL;
}

void webhook_handle_healthz(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    webhook_reply_json(req, 200, json_pack("{s:s}", "status", srv->stopping ? "stopping" : "ok"));
}

/* /readyz means "a run task sent here now would be stored": a probe job
 * rewrites one row of the store (registry_probe_write) on a store worker.
 * Its answer is kept READY_FRESH_S seconds; requests in between are answered
 * from it on the loop, and those that arrive while a probe runs wait for
 * that one, so a load balancer polling hard costs at most one write a
 * second and one store worker at a time. */
#define READY_FRESH_S 1.0

typedef struct ready_job {
    bool ok;
    char err[256];
} ready_job;

static void ready_work(webhook_worker *w, void *arg)
{
    ready_job *rj = arg;
    registry *r = webhook_worker_registry(w, rj->err, sizeof rj->err);
    rj->ok = r && registry_probe_write(r, ig_time_now(), rj->err, sizeof rj->err) == 0;
    if (r && !rj->ok)
        webhook_worker_reset_registry(w);
}

static void ready_reply(webhook_server *srv, struct evhttp_request *req)
{
    if (srv->ready.ok) {
        webhook_reply_json(req, 200, json_pack("{s:s}", "status", "ready"));
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        webhook_reply_error(req, 503,
                            "the store does not take writes now: run tasks cannot be "
                            "accepted");
    }
}

/* Answers every request that waited for the probe. */
static void ready_answer_all(webhook_server *srv)
{
    for (size_t i = 0; i < srv->ready.nwaiting; i++)
        ready_reply(srv, srv->ready.waiting[i]);
    srv->ready.nwaiting = 0;
}

static void ready_done(webhook_server *srv, void *arg)
{
    ready_job *rj = arg;
    if (!rj->ok && srv->ready.ok) {
        char q[600];
        log_warn("event=readyz_failed error=%s", log_quote(rj->err, q, sizeof q));
    } else if (rj->ok && !srv->ready.ok && srv->ready.at > 0) {
        log_info("event=readyz_recovered");
    }
    srv->ready.ok = rj->ok;
    srv->ready.at = ig_mono_seconds();
    srv->ready.probing = false;
    ready_answer_all(srv);
    free(rj);
}

void webhook_handle_readyz(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    readiness *rd = &srv->ready;
    if (rd->at > 0 && ig_mono_seconds() - rd->at < READY_FRESH_S) {
        ready_reply(srv, req);
        return;
    }
    xgrow((void **)&rd->waiting, &rd->capwaiting, rd->nwaiting + 1, sizeof *rd->waiting);
    rd->waiting[rd->nwaiting++] = req;
    if (rd->probing)
        return;
    ready_job *rj = xcalloc(1, sizeof *rj);
    if (webhook_submit(srv, ready_work, ready_done, rj) < 0) {
        free(rj);
        for (size_t i = 0; i < rd->nwaiting; i++)
            webhook_reply_error(rd->waiting[i], 503, "busy: the store queue is full");
        rd->nwaiting = 0;
        return;
    }
    rd->probing = true;
}

void webhook_handle_metrics(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    strbuf b = STRBUF_INIT;
    int64_t jn = webhook_pool_waiting(srv->store.pool) + webhook_pool_waiting(srv->scan.pool);
    int64_t dn = webhook_pool_waiting(srv->delivery.pool);
    webhook_metrics_render(srv->metrics, &b, jn, dn, atomic_load(&srv->busy));
    webhook_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
    strbuf_dispose(&b);
}

/* ---- libevent's own messages ----------------------------------------- */

static void libevent_log_cb(int severity, const char *msg)
{
    log_level lv = severity == EVENT_LOG_DEBUG  ? LOG_DEBUG
                   : severity == EVENT_LOG_MSG  ? LOG_INFO
                   : severity == EVENT_LOG_WARN ? LOG_WARN
                                                : LOG_ERROR;
    char q[512];
    log_write(lv, "event=libevent msg=%s", log_quote(msg, q, sizeof q));
}

/* ---- signals and shutdown -------------------------------------------- */

static bool pools_idle(webhook_server *srv)
{
    return atomic_load(&srv->busy) == 0 && atomic_load(&srv->notify_busy) == 0 &&
           srv->jinflight == 0;
}

static void drain_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    webhook_server *srv = arg;
    if (pools_idle(srv)) {
        log_info("event=drained");
        event_base_loopexit(srv->base, NULL);
        return;
    }
    if (ig_time_now() >= srv->drain_deadline) {
        log_warn("event=drain_timeout msg=\"stopping in-flight deliveries; they stay queued "
                 "and resume on the next start\"");
        atomic_store(&srv->abort, 1);
        event_base_loopexit(srv->base, NULL);
        return;
    }
    struct timeval tv = {0, 100 * 1000};
    evtimer_add(srv->drain, &tv);
}

static void begin_shutdown(webhook_server *srv, const char *why)
{
    if (srv->stopping)
        return;
    srv->stopping = true;
    log_info("event=shutdown signal=%s drain_timeout_ms=%lld", why,
             (long long)srv->cfg->shutdown_timeout);
    if (srv->bound) {
        evhttp_del_accept_socket(srv->http, srv->bound);
        srv->bound = NULL;
    }
    webhook_tokens_stop(srv->tokens);
    webhook_pool_close(srv->delivery.pool);
    atomic_store(&srv->notify_stop, 1); /* sends in flight finish; no new ones start */
    webhook_pool_close(srv->notify.pool);
    srv->drain_deadline = ig_time_now() + srv->cfg->shutdown_timeout;
    srv->drain = evtimer_new(srv->base, drain_cb, srv);
    struct timeval tv = {0, 0};
    evtimer_add(srv->drain, &tv);
}

static void reload(webhook_server *srv)
{
    char err[512];
    if (srv->ssl) {
        SSL_CTX *n = webhook_tls_server_ctx(srv->cert_path, srv->key_path, err, sizeof err);
        if (n) {
            SSL_CTX_free(srv->ssl);
            srv->ssl = n;
            log_info("event=tls_reloaded cert=%s", srv->cert_path);
        } else {
            log_error("event=tls_reload_failed error=\"%s\" msg=\"keeping the old certificate\"",
                      err);
        }
    }
    if (srv->hmac_path) {
        webhook_keys *k = webhook_keys_load(srv->hmac_path, err, sizeof err);
        if (k) {
            webhook_keys_free(srv->keys);
            srv->keys = k;
            log_info("event=hmac_keys_reloaded file=%s keys=%zu", srv->hmac_path,
                     webhook_keys_count(k));
        } else {
            log_error("event=hmac_reload_failed error=\"%s\" msg=\"keeping the old keys\"", err);
        }
    }
}

static void signal_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    webhook_server *srv = arg;
    if (sig == SIGHUP)
        reload(srv);
    else
        begin_shutdown(srv, sig == SIGTERM ? "TERM" : "INT");
}

/* ---- start-up ----------------------------------------------------------- */

/* Directory of a SQLite store URL (for the generated key and certificate);
 * "." for other stores. New string. */
static char *store_dir(const char *url)
{
    const char *path = NULL;
    if (strncmp(url, "sqlite://", 9) == 0)
        path = url + 9;
    else if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    else if (strstr(url, "://") == NULL)
        path = url;
    if (!path || !*path)
        return xstrdup(".");
    char *copy = xstrdup(path);
    char *dir = xstrdup(dirname(copy));
    free(copy);
    return dir;
}

int webhook_write_port_file(const char *path, int port, char *err, size_t errlen)
{
    char *tmp = xasprintf("%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    int rc = -1;
    if (!f) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    /* fclose runs once whatever happened: it flushes, and the stream is
     * gone even when it fails */
    int werr = fprintf(f, "%d\n", port) < 0 ? errno : 0;
    if (fclose(f) != 0 && !werr)
        werr = errno;
    if (werr) {
        snprintf(err, errlen, "%s: %s", tmp, strerror(werr));
        unlink(tmp);
    } else if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
    } else {
        rc = 0;
    }
out:
    free(tmp);
    return rc;
}

static int start_listener(webhook_server *srv, char *err, size_t errlen)
{
    const webhook_config *cfg = srv->cfg;
    char addr[256];
    int port;
    if (webhook_split_listen(cfg->listen, addr, sizeof addr, &port, err, errlen) < 0)
        return -1;
    srv->bound = evhttp_bind_socket_with_handle(srv->http, addr, (ev_uint16_t)port);
    if (!srv->bound) {
        snprintf(err, errlen, "cannot listen on %s: %s", cfg->listen, strerror(errno));
        return -1;
    }
    /* Replies go out as several small writes (TLS records, headers, body);
     * with Nagle on, the last one waits for the client's delayed ACK (40 ms
     * on Linux). Accepted sockets inherit TCP_NODELAY from the listener. */
    int one = 1;
    setsockopt(evhttp_bound_socket_get_fd(srv->bound), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int bound_port = port;
    if (getsockname(evhttp_bound_socket_get_fd(srv->bound), (struct sockaddr *)&ss, &sl) == 0)
        bound_port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                              : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    const char *scheme = cfg->insecure_http ? "http" : "https";
    bool v6 = strchr(addr, ':') != NULL;
    snprintf(srv->listen_url, sizeof srv->listen_url, "%s://%s%s%s:%d", scheme, v6 ? "[" : "", addr,
             v6 ? "]" : "", bound_port);
    if (*cfg->public_url) {
        snprintf(srv->public_url, sizeof srv->public_url, "%s", cfg->public_url);
    } else {
        char host[300] = "localhost";
        if (strcmp(addr, "0.0.0.0") == 0 || strcmp(addr, "::") == 0) {
            if (gethostname(host, sizeof host - 1) < 0)
                snprintf(host, sizeof host, "localhost");
            host[sizeof host - 1] = '\0';
        } else {
            snprintf(host, sizeof host, "%s%s%s", v6 ? "[" : "", addr, v6 ? "]" : "");
        }
        snprintf(srv->public_url, sizeof srv->public_url, "%s://%s:%d", scheme, host, bound_port);
    }
    if (*cfg->port_file && webhook_write_port_file(cfg->port_file, bound_port, err, errlen) < 0)
        return -1;
    log_info("event=listening url=%s public_url=%s", srv->listen_url, srv->public_url);
    /* The line tests and scripts look for. */
    log_info("listening url=%s", srv->listen_url);
    return 0;
}

static int setup_trust(webhook_server *srv, char *err, size_t errlen)
{
    const webhook_config *cfg = srv->cfg;
    char *dir = store_dir(cfg->db);
    int rc = -1;
    if (!cfg->allow_unsigned) {
        if (*cfg->hmac_key_file) {
            srv->hmac_path = xstrdup(cfg->hmac_key_file);
        } else {
            srv->hmac_path = xasprintf("%s/imagegate-hmac.key", dir);
            int g = webhook_keys_generate(srv->hmac_path, err, errlen);
            if (g < 0)
                goto out;
            if (g == 1)
                log_info("event=hmac_key_generated file=%s", srv->hmac_path);
        }
        srv->keys = webhook_keys_load(srv->hmac_path, err, errlen);
        if (!srv->keys)
            goto out;
    } else {
        log_warn("event=unsigned msg=\"--allow-unsigned: run-task requests are not "
                 "authenticated\"");
    }
    if (!cfg->insecure_http) {
        if (*cfg->tls_cert) {
            srv->cert_path = xstrdup(cfg->tls_cert);
            srv->key_path = xstrdup(cfg->tls_key);
        } else {
            srv->cert_path = xasprintf("%s/imagegate-tls.crt", dir);
            srv->key_path = xasprintf("%s/imagegate-tls.key", dir);
            int g = webhook_tls_selfsigned(srv->cert_path, srv->key_path, err, errlen);
            if (g < 0)
                goto out;
            log_warn("event=self_signed cert=%s generated=%s msg=\"using a self-signed "
                     "certificate; give --tls-cert/--tls-key for production\"",
                     srv->cert_path, g == 1 ? "yes" : "no");
        }
        srv->ssl = webhook_tls_server_ctx(srv->cert_path, srv->key_path, err, errlen);
        if (!srv->ssl)
            goto out;
    }
    rc = 0;
out:
    free(dir);
    return rc;
}

/* Start-up, before the listener and the loop exist: the HCP ids are read
 * (or made, or set from the configuration) into *ids, old deliveries are
 * abandoned and the first snapshot of API tokens is read (*tokens, new), so
 * a valid token's first large POST /v1/scan is not refused for want of one. */
static int prepare_store(const webhook_config *cfg, webhook_tokenset **tokens, reg_ids *ids,
                         char *err, size_t errlen)
{
    int code = 0;
    registry *r = registry_open(cfg->db, REG_OPEN_CREATE, &code, err, errlen);
    if (!r)
        return -1;
    reg_ctx ctx = {"imagegate", ig_time_now()};
    /* the HCP ids: made on the first start, or set from the configuration */
    if (registry_ids(r, &ctx, *cfg->organization_id ? cfg->organization_id : NULL,
                     *cfg->project_id ? cfg->project_id : NULL, ids, err, errlen) < 0) {
        registry_close(r);
        return -1;
    }
    *tokens = webhook_tokenset_load(r, ctx.now - cfg->hmac_rotation_grace, err, errlen);
    if (!*tokens) {
        registry_close(r);
        return -1;
    }
    int n = registry_delivery_abandon_old(r, &ctx, ctx.now - cfg->token_lifetime, err, errlen);
    if (n > 0)
        log_warn("event=deliveries_abandoned count=%d msg=\"received more than %llds ago: "
                 "their run tokens have expired\"",
                 n, (long long)(cfg->token_lifetime / 1000));
    registry_close(r);
    return n < 0 ? -1 : 0;
}

/* ---- pools ------------------------------------------------------------- */

/* Starts def's threads, each with a webhook_worker of its own whose lease
 * owner name is "host:pid:start-ms:<kind><index>". */
static void start_pool(webhook_server *srv, worker_pool *wp, const webhook_pool_def *def, char kind)
{
    char host[100] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    wp->n = def->threads;
    wp->workers = xcalloc((size_t)wp->n, sizeof *wp->workers);
    void **ctx = xcalloc((size_t)wp->n, sizeof *ctx);
    for (int i = 0; i < wp->n; i++) {
        webhook_worker *w = &wp->workers[i];
        w->srv = srv;
        w->index = i;
        w->next_chores = ig_time_now() + 60 * 1000;
        snprintf(w->owner, sizeof w->owner, "%s:%ld:%lld:%c%d", host, (long)getpid(),
                 (long long)ig_time_now(), kind, i);
        ctx[i] = w;
    }
    wp->pool = webhook_pool_new(def, srv->done, ctx);
    free(ctx);
}

/* Joins the pool's threads (a draining pool runs its queue first) and frees
 * what its workers held. */
static void stop_pool(worker_pool *wp)
{
    webhook_pool_free(wp->pool);
    wp->pool = NULL;
    for (int i = 0; wp->workers && i < wp->n; i++) {
        rules_matcher_free(wp->workers[i].matcher);
        registry_close(wp->workers[i].reg);
    }
    free(wp->workers);
    wp->workers = NULL;
}

/* Store and scan jobs drain at shutdown (each holds a request to answer);
 * deliveries are durable in the store, so the queue is dropped and the next
 * start resumes them. Scans and deliveries are CPU-bound and may run for
 * minutes: they run at nice 10 so acknowledgements and API calls never wait
 * behind them. */
static void start_pools(webhook_server *srv)
{
    const webhook_config *cfg = srv->cfg;
    webhook_pool_def store = {
        .name = "store", .threads = (int)cfg->store_workers, .depth = cfg->queue_depth};
    /* each waiting scan holds its plan in memory: few may wait */
    webhook_pool_def scan = {
        .name = "scan", .threads = (int)cfg->workers, .depth = cfg->workers, .nice = 10};
    webhook_pool_def delivery = {.name = "delivery",
                                 .threads = (int)cfg->workers,
                                 .depth = cfg->queue_depth,
                                 .nice = 10,
                                 .idle = delivery_sweep,
                                 .idle_ms = cfg->sweep_interval,
                                 .drop_on_close = true,
                                 .discard = delivery_discard};
    /* outbound and durable in the store: its queue holds kicks and API
     * webhook creations (each answers a request, so the queue drains) */
    webhook_pool_def notify = {.name = "notify",
                               .threads = (int)cfg->webhook_workers,
                               .depth = cfg->queue_depth,
                               .idle = notify_sweep,
                               .idle_ms = cfg->webhook_retry_min < cfg->sweep_interval
                                              ? cfg->webhook_retry_min
                                              : cfg->sweep_interval,
                               .discard = kick_discard};
    start_pool(srv, &srv->store, &store, 's');
    start_pool(srv, &srv->scan, &scan, 'c');
    start_pool(srv, &srv->delivery, &delivery, 'd');
    start_pool(srv, &srv->notify, &notify, 'n');
}

/* After the loop: deliveries see the abort flag and stop, scans finish,
 * the store pool drains; then the done functions of what finished run. */
static void stop_pools(webhook_server *srv)
{
    atomic_store(&srv->abort, 1);
    atomic_store(&srv->notify_stop, 1);
    stop_pool(&srv->notify);
    stop_pool(&srv->delivery);
    stop_pool(&srv->scan);
    stop_pool(&srv->store);
    webhook_completions_run(srv->done);
}

/* ---- the entry point ---------------------------------------------------- */

/* Process-wide settings, before any thread or event base exists. */
static void init_process(const webhook_config *cfg)
{
    log_level lv = LOG_INFO;
    log_level_parse(cfg->log_level, &lv);
    log_set_level(lv);
    event_set_log_callback(libevent_log_cb);
    /* before event_base_new: the base gets a lock and a notification fd,
     * which event_active from the pool threads relies on (pool.c) */
    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);
}

static int fail_start(const char *err, int status)
{
    fprintf(stderr, "imagegate: %s\n", err);
    return status;
}

/* The store, rules, policy, keys and certificate. Returns 0, or the exit
 * status (3: the store; 2: a rule, policy, key or certificate file) after
 * saying why on stderr. *tokens: the first API token snapshot (new). */
static int load_inputs(webhook_server *srv, webhook_tokenset **tokens)
{
    const webhook_config *cfg = srv->cfg;
    char err[1024] = "";
    if (prepare_store(cfg, tokens, &srv->ids, err, sizeof err) < 0)
        return fail_start(err, 3);
    srv->rules = rules_load(*cfg->rules_dir ? cfg->rules_dir : NULL, err, sizeof err);
    if (!srv->rules)
        return fail_start(err, 2);
    srv->policy =
        *cfg->policy_file ? policy_load(cfg->policy_file, err, sizeof err) : policy_default();
    if (!srv->policy)
        return fail_start(err, 2);
    if (setup_trust(srv, err, sizeof err) < 0)
        return fail_start(err, 2);
    return 0;
}

/* The event base, evhttp with its limits, request deadlines, the token
 * snapshot (takes *tokens and sets it to NULL) and the completion list. -1
 * when libevent cannot make them. */
static int setup_loop(webhook_server *srv, webhook_tokenset **tokens)
{
    const webhook_config *cfg = srv->cfg;
    srv->base = event_base_new();
    srv->http = srv->base ? evhttp_new(srv->base) : NULL;
    srv->done = srv->http ? webhook_completions_new(srv->base) : NULL;
    if (!srv->done)
        return -1;
    evhttp_set_gencb(srv->http, dispatch, srv);
    /* libevent 2.1 reads a whole request body before any handler runs and
     * has one limit for every route: the larger of the two. dispatch()
     * applies --max-body-bytes to every route but POST /v1/scan. */
    int64_t max_body =
        cfg->max_plan_bytes > cfg->max_body_bytes ? cfg->max_plan_bytes : cfg->max_body_bytes;
    if (max_body < cfg->max_sbom_upload_bytes + cfg->max_body_bytes)
        max_body = cfg->max_sbom_upload_bytes + cfg->max_body_bytes;
    evhttp_set_max_body_size(srv->http, max_body);
    evhttp_set_max_headers_size(srv->http, cfg->max_header_bytes);
    struct timeval tv = {cfg->read_timeout / 1000, (cfg->read_timeout % 1000) * 1000};
    evhttp_set_timeout_tv(srv->http, &tv);
    /* OPTIONS and TRACE reach dispatch(), which answers 405 with Allow in
     * the JSON error shape (evhttp's own refusal is an HTML 501); CONNECT and
     * methods evhttp does not know are refused by framing.c with 501 */
    evhttp_set_allowed_methods(
        srv->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH |
                       EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE);
    srv->deadlines = webhook_deadlines_new(srv->base, cfg->header_timeout, cfg->body_timeout);
    webhook_deadlines_set_body_limit(srv->deadlines, body_limit, srv);
    srv->tokens = webhook_tokens_new(srv, srv->base, cfg->token_refresh, *tokens);
    *tokens = NULL;
    srv->oauth = webhook_throttle_new(cfg->oauth_failure_limit, 60 * 1000, 4096);
    evhttp_set_bevcb(srv->http, srv->ssl ? tls_bevcb : plain_bevcb, srv);
    return 0;
}

static void add_signals(webhook_server *srv)
{
    srv->sigterm = evsignal_new(srv->base, SIGTERM, signal_cb, srv);
    srv->sigint = evsignal_new(srv->base, SIGINT, signal_cb, srv);
    srv->sighup = evsignal_new(srv->base, SIGHUP, signal_cb, srv);
    event_add(srv->sigterm, NULL);
    event_add(srv->sigint, NULL);
    event_add(srv->sighup, NULL);
}

static void print_banner(const webhook_server *srv)
{
    fprintf(stderr,
            "imagegate serve: run task URL:  %s/runtask\n"
            "imagegate serve: HMAC key file: %s%s\n"
            "imagegate serve: HCP organization %s, project %s (docs/hcp-compatibility.md)\n",
            srv->public_url, srv->hmac_path ? srv->hmac_path : "(none: --allow-unsigned)",
            srv->hmac_path ? " (its first line is the run task's HMAC key, unless one was made "
                             "with PATCH .../runtasks/hmac)"
                           : "",
            srv->ids.organization_id, srv->ids.project_id);
    fflush(stderr);
}

/* Frees everything, in the order the parts depend on each other; works on a
 * server whose start-up stopped half-way. */
static void server_free(webhook_server *srv)
{
    if (srv->sigterm)
        event_free(srv->sigterm);
    if (srv->sigint)
        event_free(srv->sigint);
    if (srv->sighup)
        event_free(srv->sighup);
    if (srv->drain)
        event_free(srv->drain);
    if (srv->http)
        evhttp_free(srv->http);
    webhook_deadlines_free(srv->deadlines); /* after evhttp_free: connections closed */
    webhook_tokens_free(srv->tokens);       /* after the completions: none holds it */
    webhook_completions_free(srv->done);
    webhook_throttle_free(srv->oauth);
    if (srv->base)
        event_base_free(srv->base);
    SSL_CTX_free(srv->ssl);
    webhook_keys_free(srv->keys);
    free(srv->ready.waiting);
    free(srv->hmac_path);
    free(srv->cert_path);
    free(srv->key_path);
    policy_free(srv->policy);
    rules_free(srv->rules);
    webhook_metrics_free(srv->metrics);
    free(srv);
}

int webhook_serve(const webhook_config *cfg)
{
    char err[1024] = "";
    webhook_tokenset *tokens = NULL;
    webhook_server *srv = xcalloc(1, sizeof *srv);
    srv->cfg = cfg;
    srv->metrics = webhook_metrics_new();
    init_process(cfg);

    int status = load_inputs(srv, &tokens);
    if (status)
        goto out;
    status = 3;
    if (setup_loop(srv, &tokens) < 0) {
        fprintf(stderr, "imagegate: cannot create the event loop\n");
        goto out;
    }
    if (start_listener(srv, err, sizeof err) < 0) {
        fprintf(stderr, "imagegate: %s\n", err);
        goto out;
    }
    print_banner(srv);
    add_signals(srv);
    start_pools(srv);

    event_base_dispatch(srv->base);
    stop_pools(srv);
    log_info("event=stopped");
    status = 0;
out:
    webhook_tokenset_free(tokens); /* NULL once setup_loop took it */
    server_free(srv);
    curl_global_cleanup();
    return status;
}
