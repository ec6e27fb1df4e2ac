/* Request deadlines on top of libevent 2.1's evhttp, which offers neither a
 * per-request timer nor a callback when a request starts.
 *
 * A guard per connection follows the request cycle from the outside (gstate
 * below): the header deadline starts with a request's first byte, the body
 * deadline at the end of its header block, which an evbuffer callback on the
 * connection's input finds as the bytes arrive; while a handler runs and
 * between kept-alive requests only --read-timeout applies. Guards are
 * indexed by descriptor, so the request callback finds its own in O(1)
 * (memcached's conns[fd]).
 *
 * Expiry never frees anything: it makes evhttp close the connection itself,
 * later, from the loop, as for its own timeout. A guard holds a reference on
 * its bufferevent and goes when evhttp's close callback says so. Knowing
 * where a header block ends also gives each route its own body limit before
 * evhttp reads the body. Every byte of a request also goes through
 * framing.c; a request whose framing evhttp and a proxy could read two ways
 * is answered here, in the JSON error shape, and its connection closed
 * (refuse()). What this relies on in libevent's internals is written where
 * it is used: attach(), owned_by_evhttp(), timer_cb(), refuse(). */
#include "webhook/deadline.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "webhook/authhdr.h"
#include "webhook/framing.h"
#include "webhook/server.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A connection's place in the request cycle:
 *   ATTACHING  made in the bevcb callback, before evhttp has a connection
 *              object (attach() learns it one loop pass later).
 *   HEADER     header deadline armed; the input callback feeds the bytes to
 *              framing.c, which finds the end of the header block.
 *   BODY       body deadline armed from the end of the header block; the
 *              bytes go on to framing.c until the body ends.
 *   HANDLING   evhttp called the request callback: the request is read, no
 *              deadline (the reply is bounded by --read-timeout).
 *   IDLE       reply sent on a kept-alive connection (evhttp's on_complete
 *              callback); the next request's header deadline starts with its
 *              first byte. Idle time is bounded by --read-timeout.
 *   REFUSED    the guard answered a refused request itself (refuse()) and
 *              closes the connection once the answer is out. */
typedef enum { G_ATTACHING, G_HEADER, G_BODY, G_HANDLING, G_IDLE, G_REFUSED } gstate;

/* A refused request's connection: how often the guard looks whether the
 * answer is out and the client quiet, and how long and how much it reads
 * and throws away at most before it closes (so that a close does not reset
 * the connection under the answer while the client still sends, without
 * taking in a whole upload). */
static const struct timeval linger_tick = {0, 100 * 1000};
#define LINGER_MAX_S 2.0
#define LINGER_MAX_BYTES (1024 * 1024)

typedef struct guard {
    webhook_deadlines *d;
    struct bufferevent *bev;         /* one reference held by the guard */
    struct evhttp_connection *evcon; /* NULL until attached */
    struct evbuffer_cb_entry *cbent; /* on bev's input */
    struct event *timer;
    int fd;
    gstate state;
    bool activated;            /* the attach pass (event_active) has not run yet */
    bool fired;                /* a timeout was raised for the current request */
    webhook_framing fr;        /* the current request's framing */
    bool reqline_done;         /* its request line has been read */
    bool body_read;            /* its end has been seen: nothing more to scan */
    bool refuse_pending;       /* refused while evhttp finished the one before */
    bool input_seen;           /* G_REFUSED: bytes arrived since the last tick */
    size_t drained;            /* G_REFUSED: bytes thrown away since the refusal */
    double refused_at;         /* G_REFUSED: ig_mono_seconds() of the refusal */
    webhook_authhdr auth;      /* the header lines' Authorization, for the body limit */
    struct guard *prev, *next; /* the attaching list */
} guard;

struct webhook_deadlines {
    struct event_base *base;
    webhook_body_limit_fn limit_fn;
    void *limit_arg;
    struct timeval header_tv, body_tv;
    guard **by_fd;
    size_t cap;
    guard *attaching;
    uint64_t cut[2];
    uint64_t refused;
};

static const char *const phase_names[] = {"header", "body"};

webhook_deadlines *webhook_deadlines_new(struct event_base *base, int64_t header_ms,
                                         int64_t body_ms)
{
    webhook_deadlines *d = xcalloc(1, sizeof *d);
    d->base = base;
    d->header_tv.tv_sec = header_ms / 1000;
    d->header_tv.tv_usec = (header_ms % 1000) * 1000;
    d->body_tv.tv_sec = body_ms / 1000;
    d->body_tv.tv_usec = (body_ms % 1000) * 1000;
    return d;
}

void webhook_deadlines_set_body_limit(webhook_deadlines *d, webhook_body_limit_fn fn, void *arg)
{
    d->limit_fn = fn;
    d->limit_arg = arg;
}

uint64_t webhook_deadlines_cut(const webhook_deadlines *d, int phase)
{
    return d && phase >= 0 && phase <= 1 ? d->cut[phase] : 0;
}

uint64_t webhook_deadlines_refused(const webhook_deadlines *d)
{
    return d ? d->refused : 0;
}

/* ---- bookkeeping ------------------------------------------------------- */

static void list_unlink(guard *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else if (g->d->attaching == g)
        g->d->attaching = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

/* Drops everything the guard holds. The bufferevent reference goes last:
 * it may be the final one, and then the bufferevent is finalised later from
 * the loop, never here. */
static void release(guard *g)
{
    webhook_deadlines *d = g->d;
    if (g->state == G_ATTACHING)
        list_unlink(g);
    if (g->fd >= 0 && (size_t)g->fd < d->cap && d->by_fd[g->fd] == g)
        d->by_fd[g->fd] = NULL;
    evbuffer_remove_cb_entry(bufferevent_get_input(g->bev), g->cbent);
    event_free(g->timer);
    struct bufferevent *bev = g->bev;
    webhook_authhdr_reset(&g->auth); /* may hold a secret */
    free(g);
    bufferevent_decref(bev);
}

/* True while evhttp still owns the bufferevent: bufferevent_free() clears
 * the callbacks, and evhttp keeps its error callback set for the whole life
 * of a connection. Safe because the guard holds a reference.
 *
 * Memory safety does not rest on the close callback alone: the guard holds
 * a bufferevent reference for its whole life, so the bufferevent it points
 * to cannot be freed under it. When evhttp frees the connection, closecb
 * releases the guard at once; should that ever not happen, every timer
 * expiry first checks here that evhttp still owns the bufferevent and
 * releases the guard if not. */
static bool owned_by_evhttp(guard *g, void **cbarg)
{
    bufferevent_event_cb ecb = NULL;
    void *arg = NULL;
    bufferevent_getcb(g->bev, NULL, NULL, &ecb, &arg);
    if (cbarg)
        *cbarg = arg;
    return ecb != NULL && arg != NULL;
}

static void closed_cb(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    release(arg);
}

static void arm(guard *g, const struct timeval *tv)
{
    evtimer_add(g->timer, tv);
}

/* A new request's first bytes. */
static void begin_request(guard *g)
{
    g->state = G_HEADER;
    g->fired = false;
    webhook_framing_reset(&g->fr);
    g->reqline_done = false;
    g->body_read = false;
    webhook_authhdr_reset(&g->auth);
    arm(g, &g->d->header_tv);
}

/* evhttp has attached the bufferevent: learn the connection and the
 * descriptor. Returns -1 when evhttp gave the bufferevent up instead (its
 * set-up failed), and the caller releases the guard.
 *
 * One event_active() after the bevcb callback, evhttp has attached the
 * bufferevent, and its callback argument is the evhttp_connection
 * (evhttp_connection_base_bufferevent_new in 2.1.x does
 * bufferevent_setcb(bev, ..., evcon)). The guard registers
 * evhttp_connection_set_closecb() for the end of the connection and indexes
 * itself by descriptor. */
static int attach(guard *g)
{
    webhook_deadlines *d = g->d;
    void *evcon = NULL;
    if (!owned_by_evhttp(g, &evcon))
        return -1;
    int fd = (int)bufferevent_getfd(g->bev);
    if (fd < 0)
        return -1;
    if ((size_t)fd >= d->cap) {
        size_t old = d->cap;
        xgrow((void **)&d->by_fd, &d->cap, (size_t)fd + 1, sizeof *d->by_fd);
        memset(d->by_fd + old, 0, (d->cap - old) * sizeof *d->by_fd);
    }
    if (d->by_fd[fd]) {
        /* Cannot happen while closecb fires for every connection: the guard
         * holding this descriptor's old connection keeps its bufferevent,
         * and with it the descriptor, open. Let the old guard go. */
        log_error("event=deadline_stale fd=%d", fd);
        guard *old = d->by_fd[fd];
        d->by_fd[fd] = NULL;
        old->fd = -1;
        release(old);
    }
    list_unlink(g);
    g->evcon = evcon;
    g->fd = fd;
    d->by_fd[fd] = g;
    evhttp_connection_set_closecb(g->evcon, closed_cb, g);
    begin_request(g); /* from the accept: includes the TLS handshake */
    return 0;
}

/* ---- refusing a request ------------------------------------------------ */

static const char *status_phrase(int status)
{
    return status == 413 ? "Content Too Large" : status == 501 ? "Not Implemented" : "Bad Request";
}

/* Answers the request that framing.c refused, in the JSON error shape,
 * before evhttp has seen the end of its header block or the rest of its
 * body, so nothing after it is ever parsed as a request. evhttp's read and
 * write callbacks come off the bufferevent (its write callback would run the
 * send-done of the previous request of a kept-alive connection); its event
 * callback stays, so evhttp still owns the connection. The input is drained
 * (and whatever comes later, until the close), the answer goes out with
 * "Connection: close", and linger() closes the connection through evhttp
 * once it is written. Nothing when evhttp is already answering the request
 * itself (its read callback is gone: it parsed an error of its own first). */
static void refuse(guard *g)
{
    bufferevent_data_cb rcb = NULL;
    bufferevent_event_cb ecb = NULL;
    void *arg = NULL;
    bufferevent_getcb(g->bev, &rcb, NULL, &ecb, &arg);
    if (!rcb || !ecb) {
        g->body_read = true; /* evhttp's answer and close: nothing more to scan */
        return;
    }
    bufferevent_setcb(g->bev, NULL, NULL, ecb, arg);
    struct evbuffer *in = bufferevent_get_input(g->bev);
    evbuffer_drain(in, evbuffer_get_length(in));
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(g->evcon, &peer, &port);
    char q[400];
    log_info("event=http_refused status=%d peer=%s:%u reason=%s", g->fr.status, peer ? peer : "?",
             (unsigned)port, log_quote(g->fr.reason, q, sizeof q));
    char *body = webhook_error_json(g->fr.status, g->fr.reason);
    evbuffer_add_printf(bufferevent_get_output(g->bev),
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nConnection: close\r\nCache-Control: no-store\r\n"
                        "X-Content-Type-Options: nosniff\r\n\r\n%s",
                        g->fr.status, status_phrase(g->fr.status), strlen(body), body);
    free(body);
    bufferevent_enable(g->bev, EV_READ | EV_WRITE);
    webhook_authhdr_reset(&g->auth);
    g->d->refused++;
    g->state = G_REFUSED;
    g->fired = false;
    g->input_seen = false;
    g->drained = 0;
    g->refused_at = ig_mono_seconds();
    arm(g, &linger_tick);
}

/* ---- the request scan -------------------------------------------------- */

/* The header block is complete and evhttp has not looked at the body yet:
 * give this request its own body limit. "METHOD /path?query HTTP/1.1" --
 * anything else (a request line longer than the part kept, an absolute URI)
 * passes NULL for the path. Returns framing.c's answer to the limit.
 *
 * The caller's webhook_body_limit_fn sees the method and path and may lower
 * evhttp's one limit for all routes (evhttp_connection_set_max_body_size),
 * so a big body sent to a route that takes small ones is refused with 413
 * instead of being buffered first. The header lines after the request line
 * pass through authhdr.c, which keeps the one Authorization value for the
 * limit function (POST /v1/scan's limit depends on the token): evhttp
 * drains lines as it parses them, so the guard cannot look back at the
 * block later. The value is wiped as soon as the limit is chosen, and when
 * the guard goes. */
static webhook_framing_event apply_body_limit(guard *g)
{
    webhook_deadlines *d = g->d;
    if (!d->limit_fn) {
        webhook_authhdr_reset(&g->auth);
        return webhook_framing_body_limit(&g->fr, INT64_MAX);
    }
    char line[sizeof g->fr.reqline];
    memcpy(line, g->fr.reqline, sizeof line);
    char *sp = strchr(line, ' ');
    const char *path = NULL;
    if (sp) {
        *sp = '\0';
        char *target = sp + 1;
        size_t n = strcspn(target, " ?#");
        if (*target == '/' && (target[n] == ' ' || target[n] == '?' || target[n] == '#')) {
            target[n] = '\0';
            path = target;
        }
    }
    int64_t limit = d->limit_fn(d->limit_arg, line, path, webhook_authhdr_value(&g->auth));
    webhook_authhdr_reset(&g->auth); /* the secret is not needed any more */
    if (limit > 0)
        evhttp_connection_set_max_body_size(g->evcon, (ev_ssize_t)limit);
    return webhook_framing_body_limit(&g->fr, limit > 0 ? limit : INT64_MAX);
}

/* The end of the header block: the body deadline starts, the body limit is
 * chosen. False when the request is refused. */
static bool headers_done(guard *g)
{
    g->state = G_BODY;
    arm(g, &g->d->body_tv);
    webhook_framing_event ev = apply_body_limit(g);
    g->body_read = ev == WEBHOOK_FRAMING_COMPLETE;
    return ev != WEBHOOK_FRAMING_REFUSED;
}

/* Feeds bytes to the request's framing, and its header lines to authhdr.
 * False when the request is refused. */
static bool scan_bytes(guard *g, const char *p, size_t n)
{
    while (n > 0 && !g->body_read) {
        size_t used = 0;
        bool header_lines = g->state == G_HEADER && g->reqline_done;
        webhook_framing_event ev = webhook_framing_feed(&g->fr, p, n, &used);
        if (header_lines)
            webhook_authhdr_feed(&g->auth, p, used);
        p += used;
        n -= used;
        if (ev == WEBHOOK_FRAMING_REQLINE)
            g->reqline_done = true;
        else if (ev == WEBHOOK_FRAMING_HEADERS && !headers_done(g))
            return false;
        else if (ev == WEBHOOK_FRAMING_COMPLETE)
            g->body_read = true;
        else if (ev == WEBHOOK_FRAMING_REFUSED)
            return false;
    }
    return true;
}

/* Scans the last n bytes of buf. False when the request is refused. */
static bool scan_tail(guard *g, struct evbuffer *buf, size_t n)
{
    size_t len = evbuffer_get_length(buf);
    if (n > len)
        n = len;
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, len - n, EVBUFFER_PTR_SET) < 0)
        return true;
    while (n > 0 && !g->body_read) {
        struct evbuffer_iovec v[8];
        int got = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);
        if (got <= 0)
            return true;
        size_t used = 0;
        for (int i = 0; i < got && i < 8 && used < n; i++) {
            size_t take = v[i].iov_len < n - used ? v[i].iov_len : n - used;
            if (!scan_bytes(g, v[i].iov_base, take))
                return false;
            used += take;
        }
        n -= used;
        if (n > 0 && evbuffer_ptr_set(buf, &pos, used, EVBUFFER_PTR_ADD) < 0)
            return true;
    }
    return true;
}

static void progress(guard *g, struct evbuffer *buf, size_t added)
{
    if (!scan_tail(g, buf, added))
        refuse(g);
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    guard *g = arg;
    if (info->n_added == 0)
        return;
    if (g->state == G_REFUSED || g->refuse_pending) { /* thrown away until the close */
        g->input_seen = true;
        g->drained += evbuffer_get_length(buf);
        evbuffer_drain(buf, evbuffer_get_length(buf));
        if (g->state == G_REFUSED && g->drained > LINGER_MAX_BYTES)
            bufferevent_disable(g->bev, EV_READ); /* enough: linger() closes it */
        return;
    }
    if (g->state == G_ATTACHING && attach(g) < 0)
        return; /* the pending attach pass releases it */
    if (g->state == G_IDLE)
        begin_request(g);
    if ((g->state == G_HEADER || g->state == G_BODY) && !g->body_read)
        progress(g, buf, info->n_added);
}

/* ---- expiry ---------------------------------------------------------- */

/* G_REFUSED: closes the connection (through evhttp) once the answer is
 * written and no byte came in the last tick; whatever the client does, once
 * LINGER_MAX_BYTES were thrown away or LINGER_MAX_S (at most
 * --header-timeout) have passed. */
static void linger(guard *g)
{
    bool written = evbuffer_get_length(bufferevent_get_output(g->bev)) == 0;
    double secs = ig_mono_seconds() - g->refused_at;
    double most = (double)g->d->header_tv.tv_sec + g->d->header_tv.tv_usec / 1e6;
    if (most > LINGER_MAX_S)
        most = LINGER_MAX_S;
    bool enough = secs >= most || g->drained > LINGER_MAX_BYTES;
    if (g->fired || (!(written && !g->input_seen) && !enough)) {
        g->input_seen = false;
        arm(g, g->fired ? &g->d->header_tv : &linger_tick);
        return;
    }
    g->fired = true;
    arm(g, &g->d->header_tv); /* liveness check until evhttp has closed it */
    bufferevent_trigger_event(g->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
                              BEV_TRIG_DEFER_CALLBACKS);
}

/* The guard's one timer: the attach pass, the deadlines and the liveness
 * check. Expiry never frees anything: it raises
 * BEV_EVENT_READING|BEV_EVENT_TIMEOUT on the bufferevent with
 * BEV_TRIG_DEFER_CALLBACKS, so evhttp's own error callback runs later from
 * the loop, exactly as for its inactivity timeout, and evhttp closes the
 * connection itself (or detaches a request a handler still holds). Nothing
 * is freed inside a connection's callback chain. */
static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    guard *g = arg;
    if (g->refuse_pending) {
        g->refuse_pending = false;
        refuse(g);
        return;
    }
    if (g->activated) {
        g->activated = false;
        if (g->state == G_ATTACHING) {
            if (attach(g) < 0)
                release(g);
            return;
        }
        /* Attached meanwhile (input_cb, dispatch). Running an activated
         * event removed the timeout they had set: set it again. */
        arm(g, g->state == G_BODY ? &g->d->body_tv : &g->d->header_tv);
        return;
    }
    if (!owned_by_evhttp(g, NULL)) {
        release(g); /* the connection is gone and closecb did not say so */
        return;
    }
    if (g->state == G_REFUSED) {
        linger(g);
        return;
    }
    if ((g->state != G_HEADER && g->state != G_BODY) || g->fired) {
        /* Between requests or while one is handled: only a liveness check. */
        arm(g, &g->d->header_tv);
        return;
    }
    int phase = g->state == G_BODY;
    const struct timeval *tv = phase ? &g->d->body_tv : &g->d->header_tv;
    char *peer = NULL;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(g->evcon, &peer, &port);
    log_warn("event=client_timeout phase=%s timeout_ms=%lld peer=%s:%u msg=\"the %s did not "
             "arrive in time; connection closed\"",
             phase_names[phase], (long long)tv->tv_sec * 1000 + tv->tv_usec / 1000,
             peer ? peer : "?", (unsigned)port, phase ? "request body" : "request header");
    g->d->cut[phase]++;
    g->fired = true;
    arm(g, &g->d->header_tv); /* liveness check until evhttp has closed it */
    /* evhttp's error callback runs from the loop, later: it treats this as
     * its own read timeout and frees the connection (closed_cb). */
    bufferevent_trigger_event(g->bev, BEV_EVENT_READING | BEV_EVENT_TIMEOUT,
                              BEV_TRIG_DEFER_CALLBACKS);
}

/* ---- the public side ------------------------------------------------- */

struct bufferevent *webhook_deadlines_watch(webhook_deadlines *d, struct bufferevent *bev)
{
    guard *g = xcalloc(1, sizeof *g);
    g->d = d;
    g->bev = bev;
    g->fd = -1;
    g->state = G_ATTACHING;
    bufferevent_incref(bev);
    g->cbent = evbuffer_add_cb(bufferevent_get_input(bev), input_cb, g);
    g->timer = evtimer_new(d->base, timer_cb, g);
    if (!g->cbent || !g->timer) {
        fprintf(stderr, "imagegate: out of memory (deadline guard)\n");
        abort();
    }
    g->next = d->attaching;
    if (g->next)
        g->next->prev = g;
    d->attaching = g;
    /* Runs after evhttp_get_request() has returned: by then evhttp has
     * attached the bufferevent, or given it up. */
    g->activated = true;
    event_active(g->timer, EV_TIMEOUT, 1);
    return bev;
}

static void complete_cb(struct evhttp_request *req, void *arg)
{
    (void)req;
    guard *g = arg;
    g->state = G_IDLE;
    g->fired = false;
    struct evbuffer *in = bufferevent_get_input(g->bev);
    size_t pending = evbuffer_get_length(in);
    if (pending == 0) {
        arm(g, &g->d->header_tv); /* liveness check */
        return;
    }
    /* A pipelined request is already waiting. evhttp re-arms the connection
     * for reading after this returns, so a refusal is answered from the
     * loop; its bytes go now, before evhttp can parse them. */
    begin_request(g);
    if (!scan_tail(g, in, pending)) {
        evbuffer_drain(in, pending);
        g->refuse_pending = true;
        event_active(g->timer, EV_TIMEOUT, 1);
    }
}

void webhook_deadlines_dispatched(webhook_deadlines *d, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!d || !evcon)
        return;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;
    guard *g = fd >= 0 && (size_t)fd < d->cap ? d->by_fd[fd] : NULL;
    if (!g || g->bev != bev) {
        g = NULL;
        for (guard *a = d->attaching; a; a = a->next)
            if (a->bev == bev) {
                g = a;
                break;
            }
        if (g && attach(g) < 0)
            return; /* released by its pending attach pass */
    }
    if (!g)
        return; /* a connection evhttp made without our bevcb */
    g->state = G_HANDLING;
    g->fired = false;
    arm(g, &d->header_tv); /* liveness check */
    evhttp_request_set_on_complete_cb(req, complete_cb, g);
}

void webhook_deadlines_free(webhook_deadlines *d)
{
    if (!d)
        return;
    while (d->attaching)
        release(d->attaching);
    for (size_t i = 0; i < d->cap; i++)
        if (d->by_fd[i])
            release(d->by_fd[i]);
    free(d->by_fd);
    free(d);
}
