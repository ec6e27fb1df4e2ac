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
 * evhttp reads the body. What this relies on in libevent's internals is
 * written where it is used: attach(), owned_by_evhttp(), timer_cb(). */
#include "webhook/deadline.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "webhook/authhdr.h"

#include <event2/buffer.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A connection's place in the request cycle:
 *   ATTACHING  made in the bevcb callback, before evhttp has a connection
 *              object (attach() learns it one loop pass later).
 *   HEADER     header deadline armed; the input callback looks for the empty
 *              line that ends the header block.
 *   BODY       body deadline armed from the end of the header block.
 *   HANDLING   evhttp called the request callback: the request is read, no
 *              deadline (the reply is bounded by --read-timeout).
 *   IDLE       reply sent on a kept-alive connection (evhttp's on_complete
 *              callback); the next request's header deadline starts with its
 *              first byte. Idle time is bounded by --read-timeout. */
typedef enum { G_ATTACHING, G_HEADER, G_BODY, G_HANDLING, G_IDLE } gstate;

typedef struct guard {
    webhook_deadlines *d;
    struct bufferevent *bev;         /* one reference held by the guard */
    struct evhttp_connection *evcon; /* NULL until attached */
    struct evbuffer_cb_entry *cbent; /* on bev's input */
    struct event *timer;
    int fd;
    gstate state;
    bool activated;    /* the attach pass (event_active) has not run yet */
    bool fired;        /* a timeout was raised for the current request */
    int line_len;      /* bytes other than CR on the current header line */
    bool seen_line;    /* a non-empty line (the request line) was seen */
    char reqline[256]; /* the start of the request line, for the body limit */
    size_t reqline_len;
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
    g->line_len = 0;
    g->seen_line = false;
    g->reqline_len = 0;
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

/* ---- the header scan ------------------------------------------------- */

/* Feeds bytes to the empty-line detector; true when the header block ended.
 * It is an approximation of evhttp's parser (LF or CRLF line ends, leading
 * empty lines ignored). A client that fools it only moves time from one
 * deadline to the other: reading one request never takes longer than
 * --header-timeout + --body-timeout. */
static bool scan_bytes(guard *g, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (g->seen_line) /* a header line (or the block's final empty line) */
            webhook_authhdr_feed(&g->auth, (const char *)p + i, 1);
        if (p[i] == '\n') {
            if (g->line_len == 0 && g->seen_line)
                return true;
            if (g->line_len > 0)
                g->seen_line = true;
            g->line_len = 0;
        } else if (p[i] != '\r') {
            g->line_len++;
            if (!g->seen_line && g->reqline_len < sizeof g->reqline - 1)
                g->reqline[g->reqline_len++] = (char)p[i];
        }
    }
    return false;
}

/* Scans the last n bytes of buf. */
static bool scan_tail(guard *g, struct evbuffer *buf, size_t n)
{
    size_t len = evbuffer_get_length(buf);
    if (n > len)
        n = len;
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(buf, &pos, len - n, EVBUFFER_PTR_SET) < 0)
        return false;
    while (n > 0) {
        struct evbuffer_iovec v[8];
        int got = evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, 8);
        if (got <= 0)
            return false;
        size_t used = 0;
        for (int i = 0; i < got && i < 8 && used < n; i++) {
            size_t take = v[i].iov_len < n - used ? v[i].iov_len : n - used;
            if (scan_bytes(g, v[i].iov_base, take))
                return true;
            used += take;
        }
        n -= used;
        if (n > 0 && evbuffer_ptr_set(buf, &pos, used, EVBUFFER_PTR_ADD) < 0)
            return false;
    }
    return false;
}

/* The header block is complete and evhttp has not looked at the body yet:
 * give this request its own body limit. "METHOD /path?query HTTP/1.1" --
 * anything else (a request line longer than the buffer, an absolute URI)
 * passes NULL for the path.
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
static void apply_body_limit(guard *g)
{
    webhook_deadlines *d = g->d;
    if (!d->limit_fn) {
        webhook_authhdr_reset(&g->auth);
        return;
    }
    char line[sizeof g->reqline];
    memcpy(line, g->reqline, g->reqline_len);
    line[g->reqline_len] = '\0';
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
}

static void header_progress(guard *g, struct evbuffer *buf, size_t added)
{
    if (scan_tail(g, buf, added)) {
        g->state = G_BODY;
        arm(g, &g->d->body_tv);
        apply_body_limit(g);
    }
}

static void input_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    guard *g = arg;
    if (info->n_added == 0)
        return;
    if (g->state == G_ATTACHING && attach(g) < 0)
        return; /* the pending attach pass releases it */
    if (g->state == G_IDLE)
        begin_request(g);
    if (g->state == G_HEADER)
        header_progress(g, buf, info->n_added);
}

/* ---- expiry ---------------------------------------------------------- */

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
    if (pending > 0) { /* a pipelined request is already waiting */
        begin_request(g);
        header_progress(g, in, pending);
    } else {
        arm(g, &g->d->header_tv); /* liveness check */
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
