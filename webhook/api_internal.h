/* What the API handlers share (api_call.c, api_registry.c, api_scan.c):
 * one call object that travels loop thread -> store worker -> loop thread,
 * the token check on the worker, the reply with its log line, and the op
 * table that says what each op needs and which handler runs it.
 *
 * Ownership: the call owns its copies of the query, the body and the
 * bearer secret (wiped when freed); req stays evhttp's. A call is touched by
 * one thread at a time, handed over through the server's job queues. */
#ifndef IG_WEBHOOK_API_INTERNAL_H
#define IG_WEBHOOK_API_INTERNAL_H

#include "webhook/api.h"
#include "webhook/server.h"

typedef struct api_call {
    webhook_server *srv;
    struct evhttp_request *req;
    webhook_api_route route;
    webhook_api_query query;
    webhook_api_page page;
    char secret[WEBHOOK_API_MAX_SECRET + 1];
    char *body; /* NUL-terminated copy, or NULL */
    size_t body_len;
    double t0;
    /* set by webhook_api_call_auth on the worker */
    reg_role role;
    char who[72]; /* the token's name: the author of every change */
    /* the outcome: status and either reply (JSON) or err */
    int status;
    int grpc; /* the error body's gRPC code when not the status's (0) */
    json_t *reply;
    char err[1024];
    /* a non-JSON reply (POST /v1/scan's report) */
    char *text;
    size_t text_len;
    const char *content_type;
    const char *verdict;
    /* POST /v1/scan */
    void *scan;
} api_call;

/* ---- the op table (api_registry.c) ------------------------------------- */

/* What a handler gets on the store worker, once the token is authenticated,
 * its role checked (unless API_OP_REVOKES) and the body parsed. */
typedef struct api_job {
    webhook_worker *w;
    api_call *c;
    registry *r;  /* the worker's handle */
    reg_ctx ctx;  /* author: the token's name; now: the request's clock */
    json_t *body; /* the JSON body (borrowed); NULL unless API_OP_BODY */
} api_job;

/* One op's work (store worker). Returns 0 with c->reply set, or left NULL
 * for an empty {} answer (deletes); or -1, either after
 * webhook_api_call_fail / webhook_api_call_regfail, or with c->status still
 * 0 when a registry call failed: the caller records the registry's error
 * (webhook_api_call_regfail). Every reply of the Packer paths is put in
 * HCP's types afterwards (webhook_api_hcp_shape). */
typedef int (*webhook_api_handler)(api_job *j);

enum {
    API_OP_BODY = 1 << 0,    /* reads a JSON object body */
    API_OP_CREATES = 1 << 1, /* a name already taken answers HCP's ALREADY_EXISTS */
    /* the role depends on the body: the handler checks it once read
     * (webhook_api_op_role(op, true) for a revocation or a restore) */
    API_OP_REVOKES = 1 << 2,
    /* runs on the notification pool, not the store pool: it sends a request
     * out (POST /v1/webhooks' verification ping) */
    API_OP_OUTBOUND = 1 << 3,
};

/* A row of the op table: adding an endpoint is a route (api.c or routes.c),
 * a row here and its handler. */
typedef struct webhook_api_op_info {
    const char *name;        /* in logs: "bucket.list" */
    webhook_api_handler run; /* NULL: the op runs elsewhere (POST /v1/scan) */
    reg_role role;           /* the least role that may call it */
    unsigned flags;          /* API_OP_* */
} webhook_api_op_info;

/* The row of op, or NULL when op is not one. */
const webhook_api_op_info *webhook_api_op_get(webhook_api_op op);

/* Replies for handlers (api_registry.c): {key: obj} (obj stolen; NULL, a
 * failed registry call: -1), and {key: one page of arr, "pagination"}
 * (arr stolen). */
int webhook_api_reply(api_call *c, const char *key, json_t *obj);
int webhook_api_reply_page(api_call *c, const char *key, json_t *arr);

/* The HCP drop-in's handlers (api_hcp.c): bucket ancestry, the registry,
 * enforced blocks, the run task's validation and HMAC key, the resource
 * manager, and the paths imagegate does not serve. */
int webhook_api_ancestry(api_job *j);
int webhook_api_registry_get(api_job *j);
int webhook_api_enforced_bucket(api_job *j);
int webhook_api_runtask_get(api_job *j);
int webhook_api_runtask_hmac(api_job *j);
int webhook_api_not_served(api_job *j);
int webhook_api_rm_org_list(api_job *j);
int webhook_api_rm_org_get(api_job *j);
int webhook_api_rm_project_list(api_job *j);
int webhook_api_rm_project_get(api_job *j);

/* SBOMs and packages (api_sbom.c): the handlers of their ops, and the
 * upload, which takes its own road (store worker for the token, scan pool
 * for the document; loop thread). */
int webhook_api_sbom_list(api_job *j);
int webhook_api_sbom_get(api_job *j);
int webhook_api_build_packages(api_job *j);
int webhook_api_bucket_packages(api_job *j);
int webhook_api_packages_find(api_job *j);
void webhook_api_sbom_upload(webhook_server *srv, struct evhttp_request *req,
                             const webhook_api_route *rt);

/* The handlers of /v1/webhooks (api_webhooks.c). */
int webhook_api_webhook_list(api_job *j);
int webhook_api_webhook_create(api_job *j);
int webhook_api_webhook_get(api_job *j);
int webhook_api_webhook_delete(api_job *j);
int webhook_api_webhook_deliveries(api_job *j);
int webhook_api_webhook_redeliver(api_job *j);

/* Loop thread: submits c to run the handler of c->route.op on a store
 * worker, then replies (webhook_api_call_finish). */
void webhook_api_call_run(api_call *c);

/* ---- the call (api_call.c) ---------------------------------------------- */

/* Replies to req before any call was made (bad path, no token, bad query),
 * logging op, method and status (loop thread). */
void webhook_api_early_reply(struct evhttp_request *req, const char *op, int status,
                             const char *msg);

/* Makes a call for req (loop thread): reads the bearer secret and the
 * query string (pagination included). On a missing token (401) or a bad
 * query (400) it replies, logs and returns NULL. copy_body: keep a copy of
 * the request body. */
api_call *webhook_api_call_new(webhook_server *srv, struct evhttp_request *req, webhook_api_op op,
                               bool copy_body);
void webhook_api_call_free(api_call *c);

/* On a worker: opens the registry and authenticates the secret. Returns the
 * registry handle, or NULL with c->status (401, or 503 when the store is
 * unavailable) and c->err set. */
registry *webhook_api_call_auth(webhook_worker *w, api_call *c);
/* 0 when the token's role reaches need, else 403 in c->status. */
int webhook_api_call_allow(api_call *c, reg_role need);
/* Records a registry failure: status from its error class; a store error
 * resets the worker's handle. Returns -1. */
int webhook_api_call_regfail(webhook_worker *w, api_call *c, registry *r);
/* Records an error status with a message. Returns -1. */
int webhook_api_call_fail(api_call *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* On the worker, last: a successful c->reply becomes c->text (JSON), so
 * that the loop thread only sends bytes; a large answer's serialising and
 * freeing took the loop a millisecond. */
void webhook_api_call_serialize(api_call *c);

/* On the loop thread: sends the reply (c->reply as JSON, c->text, or
 * {"code", "message"} from c->err), logs one line and frees the call. */
void webhook_api_call_finish(api_call *c);

/* Submits work for c to the store pool (the notification pool for an op
 * flagged API_OP_OUTBOUND); answers 503 itself when the queue is full (and
 * frees c). Loop thread. */
void webhook_api_call_submit(api_call *c, webhook_work_fn work);

#endif
