/* Per-request read deadlines for evhttp connections: a request's header
 * block must arrive within --header-timeout, its body within --body-timeout,
 * however steadily the client trickles bytes. libevent 2.1's evhttp only
 * has an inactivity timeout (a byte every few seconds keeps a connection
 * forever) and no hook at the start of a request (evhttp_set_newreqcb is
 * 2.2), so the tracker watches each connection's bufferevent from the
 * moment evhttp_set_bevcb's callback makes it; see deadline.c for how.
 * Watching every byte of a request, it also refuses framing that evhttp
 * would read differently from a proxy (framing.h), answering in the JSON
 * error shape before evhttp has read the request.
 *
 * Everything here runs on the loop thread (the thread that runs the
 * event_base); nothing is locked. */
#ifndef IG_WEBHOOK_DEADLINE_H
#define IG_WEBHOOK_DEADLINE_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <stdint.h>

typedef struct webhook_deadlines webhook_deadlines;

/* A tracker on base; header_ms and body_ms are positive (validated by the
 * configuration). Never NULL. */
webhook_deadlines *webhook_deadlines_new(struct event_base *base, int64_t header_ms,
                                         int64_t body_ms);

/* Frees the tracker and what it still holds. Call after evhttp_free(),
 * which closes every connection, and before event_base_free(). NULL is a
 * no-op. */
void webhook_deadlines_free(webhook_deadlines *d);

/* Starts watching bev, a bufferevent just made for a new incoming connection
 * in the evhttp_set_bevcb callback (no descriptor yet). Returns bev, still
 * owned by evhttp; the tracker keeps its own reference until the connection
 * closes. The first request's header deadline counts from here, so a slow
 * TLS handshake is bounded too. */
struct bufferevent *webhook_deadlines_watch(webhook_deadlines *d, struct bufferevent *bev);

/* The request has been read completely and is about to be handled: its
 * deadline stops. Call first thing in the evhttp request callback. req is
 * borrowed. */
void webhook_deadlines_dispatched(webhook_deadlines *d, struct evhttp_request *req);

/* Chooses a request's body limit once its header block has arrived, before
 * evhttp reads the body. method is the request line's first word; path its
 * target up to '?' (not decoded), or NULL when the target is not a plain
 * "/path" the tracker could read; authorization the value of the block's one
 * Authorization header, or NULL when there is none, or several, or it is
 * folded or longer than WEBHOOK_AUTHHDR_LINE (authhdr.h). authorization is a
 * secret, borrowed for the call and wiped after it: never keep or log it.
 * Returns the limit in bytes; it stays on the connection until the next
 * request's header block, so return one every time (0 leaves the previous
 * one). Loop thread. */
typedef int64_t (*webhook_body_limit_fn)(void *arg, const char *method, const char *path,
                                         const char *authorization);
void webhook_deadlines_set_body_limit(webhook_deadlines *d, webhook_body_limit_fn fn, void *arg);

/* Connections cut so far because a header block (phase 0) or a body
 * (phase 1) missed its deadline. */
uint64_t webhook_deadlines_cut(const webhook_deadlines *d, int phase);
/* Requests refused so far for their framing (framing.h): answered with a
 * JSON 400, 413 or 501 and the connection closed, without evhttp. */
uint64_t webhook_deadlines_refused(const webhook_deadlines *d);

#endif
