/* What the API handlers share (api_registry.c, api_scan.c): one call
 * object that travels loop thread -> store worker -> loop thread, the
 * token check on the worker, and the reply with its log line.
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

/* On the loop thread: sends the reply (c->reply as JSON, c->text, or
 * {"code", "message"} from c->err), logs one line and frees the call. */
void webhook_api_call_finish(api_call *c);

/* Submits work for c to the store pool; answers 503 itself when the queue
 * is full (and frees c). Loop thread. */
void webhook_api_call_submit(api_call *c, webhook_work_fn work);

#endif
