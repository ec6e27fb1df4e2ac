/* The daemon behind `imagegate serve`: one libevent loop thread that owns
 * every connection, and four pools of threads that own everything that may
 * block.
 *
 *   loop thread    evhttp (HTTP or HTTPS through bufferevent_openssl), the
 *                  route table, signature checks, replies, signals.
 *   store pool     --store-workers threads, each with its own registry
 *                  handle, running short jobs submitted with webhook_submit():
 *                  recording a delivery before it is acknowledged, /readyz's
 *                  write probe, the registry API's handlers, and re-reading
 *                  the API token hashes the loop checks scan uploads against
 *                  and recording their last use (tokens.h).
 *   delivery pool  --workers threads, each with its own registry handle and
 *                  rules matcher, running deliveries end to end (claim, fetch,
 *                  scan, evaluate, call back, finish). They take task_result_ids
 *                  from an in-memory queue and, when idle, sweep the store for
 *                  queued deliveries (crash recovery, overflow, other replicas).
 *   scan pool      --workers threads at a lower priority running POST /v1/scan
 *                  (webhook_submit_scan()): scan, evaluate, render the report.
 *   notify pool    --webhook-workers threads sending event notifications
 *                  (events.c, notify/): when idle, and at once when kicked
 *                  after an API change, they deliver the registry's outbox;
 *                  they also run POST /v1/webhooks, whose verification ping
 *                  is outbound.
 *
 * Each pool is a bounded queue and its threads (pool.h, memcached thread.c
 * is the model); finished jobs come back through one completion list whose
 * wake-up runs each job's done function on the loop thread.
 *
 * Handlers for new endpoints (the registry API, /v1/...) live in their own
 * webhook/ files of their own and are listed in the route table in routes.c. */
#ifndef IG_WEBHOOK_SERVER_H
#define IG_WEBHOOK_SERVER_H

#include <event2/http.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/timeutil.h"
#include "policy/policy.h"
#include "registry/registry.h"
#include "rules/rules.h"
#include "webhook/config.h"
#include "webhook/metrics.h"

typedef struct webhook_server webhook_server;
typedef struct webhook_worker webhook_worker;
typedef struct webhook_tokens webhook_tokens;

/* ---- routes ----------------------------------------------------------- */

/* Runs on the loop thread. path is the decoded path without the query.
 * The handler must answer req, now or later (after a job). */
typedef void (*webhook_handler)(webhook_server *srv, struct evhttp_request *req, const char *path);

typedef struct webhook_route {
    const char *path; /* exact path, or a prefix when prefix is true */
    bool prefix;
    int methods;      /* EVHTTP_REQ_GET | EVHTTP_REQ_POST ... */
    const char *name; /* metrics label: "runtask", "healthz", "api", ... */
    webhook_handler fn;
    bool large_body; /* body bounded by --max-plan-bytes instead of --max-body-bytes */
} webhook_route;

/* The table (routes.c), terminated by a row with path NULL. */
extern const webhook_route webhook_routes[];

/* Handlers of this module (runtask.c, server.c). */
void webhook_handle_runtask(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_healthz(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_readyz(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_metrics(webhook_server *srv, struct evhttp_request *req, const char *path);
/* GET /results/ID (results.c). */
void webhook_handle_result(webhook_server *srv, struct evhttp_request *req, const char *path);
/* The registry API and /v1 endpoints (api_registry.c, api_scan.c). */
void webhook_handle_api(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_lookup(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_audit(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_scan(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_runs(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_usage(webhook_server *srv, struct evhttp_request *req, const char *path);
/* GET /v1/whoami: the token's name and role (api_registry.c). */
void webhook_handle_whoami(webhook_server *srv, struct evhttp_request *req, const char *path);
/* GET / (a redirect to /ui/) and the web console under /ui/ (console.c). */
void webhook_handle_console_root(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_console(webhook_server *srv, struct evhttp_request *req, const char *path);
/* POST /oauth2/token and its error shape (oauth.c). */
void webhook_handle_oauth_token(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_oauth_reply_error(struct evhttp_request *req, int code, const char *msg);
/* GET /v1/packages and GET /v1/sbom-downloads/TOKEN (api_sbom.c). */
void webhook_handle_packages(webhook_server *srv, struct evhttp_request *req, const char *path);
void webhook_handle_sbom_download(webhook_server *srv, struct evhttp_request *req,
                                  const char *path);

/* ---- replies (loop thread) ------------------------------------------- */

/* Sends body (stolen; NULL = {}) as application/json with code. */
void webhook_reply_json(struct evhttp_request *req, int code, json_t *body);
/* Sends HTTP status code with HCP's error body {"code": <gRPC code>,
 * "message": "...", "details": []}, the gRPC code following the status
 * (400 -> 3, 401 -> 16, 403 -> 7, 404 -> 5, 405 -> 12, 409 -> 9, 413 and
 * 429 -> 8, 500 -> 13, 503 -> 14; docs/api.md). */
void webhook_reply_error(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with the gRPC code given (0 = from the status), for a caller
 * that knows more than the status says (6 ALREADY_EXISTS for a 409). */
void webhook_reply_error_grpc(struct evhttp_request *req, int code, int grpc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void webhook_reply_text(struct evhttp_request *req, int code, const char *content_type,
                        const char *text, size_t len);
/* The body webhook_reply_error sends for status and msg (borrowed), as a
 * new string (caller frees): for an answer written outside evhttp
 * (deadline.c's refusals). Any thread. */
char *webhook_error_json(int status, const char *msg);

/* ---- jobs on the store pool ----------------------------------------- */

/* Runs on a store worker; w gives the thread's registry handle. */
typedef void (*webhook_work_fn)(webhook_worker *w, void *arg);
/* Runs on the loop thread after work finished; replies and frees arg. */
typedef void (*webhook_done_fn)(webhook_server *srv, void *arg);

/* Queues a job (loop thread). Returns 0, or -1 when the queue is full or the
 * server is stopping: the caller answers 503 itself and keeps arg. */
int webhook_submit(webhook_server *srv, webhook_work_fn work, webhook_done_fn done, void *arg);

/* Queues a job on the scan pool (--workers threads at a lower priority,
 * for POST /v1/scan), of which at most --workers may wait. Same contract as
 * webhook_submit(). Loop thread. */
int webhook_submit_scan(webhook_server *srv, webhook_work_fn work, webhook_done_fn done, void *arg);

/* Queues a job on the notification pool (outbound: the verification ping
 * of POST /v1/webhooks). Same contract as webhook_submit(). Loop thread. */
int webhook_submit_notify(webhook_server *srv, webhook_work_fn work, webhook_done_fn done,
                          void *arg);
/* Asks the notification pool to look at the outbox now (a change was just
 * committed); at most one such request waits at a time. Any thread. */
void webhook_notify_kick(webhook_server *srv);
/* Delivers what the outbox holds for one webhook on the notification
 * worker w, with its registry handle r (events.c). Returns 1 when it sent
 * something (more may be due), else 0. */
int webhook_events_send(webhook_worker *w, registry *r);
/* The sending options of this server's configuration (events.c): borrowed
 * from cfg; abort_flag may be NULL. */
notify_opts webhook_events_opts(const webhook_config *cfg, const atomic_int *abort_flag);

/* Hands arg to done on the loop thread through the completion list, without
 * a job (any thread). Completions run in the order they were posted, so one
 * posted from a job's work function runs before that job's done. */
void webhook_post(webhook_server *srv, webhook_done_fn done, void *arg);

/* The worker's registry handle, opened on first use and re-opened after a
 * call on it failed with a store error (REG_ESTORE: e.g. the PostgreSQL
 * connection was lost). NULL with err when the store cannot be opened;
 * failed attempts are spaced out (250 ms doubling to 5 s) and calls in
 * between fail at once. Worker thread. */
registry *webhook_worker_registry(webhook_worker *w, char *err, size_t errlen);
/* Call after a store error so the next use re-opens the handle. */
void webhook_worker_reset_registry(webhook_worker *w);
webhook_server *webhook_worker_server(webhook_worker *w);

/* ---- shared state (read-only after start; any thread) ----------------- */

const webhook_config *webhook_server_config(const webhook_server *srv);
webhook_metrics *webhook_server_metrics(webhook_server *srv);
const rules *webhook_server_rules(const webhook_server *srv);
const policy *webhook_server_policy(const webhook_server *srv);
/* The base of links in results: --public-url or derived from the listener. */
const char *webhook_server_public_url(const webhook_server *srv);
/* The organization and project ids HCP clients address (read from the
 * store at start-up). */
const reg_ids *webhook_server_ids(const webhook_server *srv);
/* The HMAC key file, or NULL with --allow-unsigned. */
const char *webhook_server_hmac_path(const webhook_server *srv);
/* The failure throttle of POST /oauth2/token (loop thread only). */
struct webhook_throttle *webhook_server_oauth_throttle(webhook_server *srv);

/* Hands a newly recorded delivery to the delivery pool (any thread). When
 * the in-memory queue is full the delivery stays queued in the store, where
 * an idle worker's sweep finds it. */
void webhook_enqueue_delivery(webhook_server *srv, const char *task_result_id);

/* ---- run-task internals shared by runtask.c and delivery.c ------------- */

/* The HMAC keys in force (loop thread only). NULL = no key (--allow-unsigned). */
const struct webhook_keys *webhook_server_keys(const webhook_server *srv);

/* Runs one claimed delivery to its final state (delivery worker thread).
 * d is borrowed. */
void webhook_delivery_run(webhook_worker *w, reg_delivery *d);
/* Per-worker objects for deliveries. */
rules_matcher *webhook_worker_matcher(webhook_worker *w);
/* Owner name of the worker's leases ("host:pid:n"). */
const char *webhook_worker_owner(const webhook_worker *w);
/* Non-zero when in-flight work must stop now (hard shutdown). */
const atomic_int *webhook_server_abort_flag(const webhook_server *srv);
/* The loop's API token snapshot (tokens.h); the pointer is fixed while the
 * pools run, what it holds is the loop thread's. */
webhook_tokens *webhook_server_tokens(webhook_server *srv);

/* ---- the public entry point ----------------------------------------- */

/* Writes port and a newline to path through path.tmp and a rename, so a
 * reader never sees half a number; on failure path.tmp is removed. Returns
 * 0, or -1 with the file and the reason in err. Main thread (start-up). */
int webhook_write_port_file(const char *path, int port, char *err, size_t errlen);

/* Runs the server until SIGTERM/SIGINT; cfg is borrowed and must stay
 * unchanged. Returns a process exit status (0, or 3 when the store or the
 * listener cannot be set up, with a line on stderr). Main thread. */
int webhook_serve(const webhook_config *cfg);

#endif
