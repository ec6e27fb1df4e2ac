/* One signed POST per call. A sender keeps one libcurl easy handle per
 * webhook while it works through that webhook's queue (notify_session), so
 * consecutive deliveries reuse the connection and the TLS session; the
 * handle is reset before each request, so no option or header survives
 * into the next, and it never serves another webhook.
 *
 * Safety, in the order libcurl meets it: only http and https; no redirect
 * is followed (a 3xx is an answer like any other, and a failure); the host
 * of the URL, when it is an IP literal, is checked before anything is sent;
 * and every socket libcurl opens is checked in CURLOPT_OPENSOCKETFUNCTION,
 * which sees the resolved address just before connect() -- a name that
 * resolves somewhere else between creation and delivery (DNS rebinding)
 * is judged by where it points now. Happy eyeballs and several A records
 * each pass through the check; a refused one makes libcurl try the next.
 *
 * With a proxy (libcurl's https_proxy / http_proxy / no_proxy variables,
 * as for every outbound call of imagegate) the socket opened is the
 * proxy's: the proxy's address is what is checked and must be allowed when
 * it is a special one, and the proxy resolves and reaches the receiver --
 * enforcing egress rules there is the proxy's job (docs/events.md). */
#include "notify/notify.h"

#include "common/hmac.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define USER_AGENT "imagegate/0.1 (webhook)"
#define MAX_DISCARD (1024 * 1024)

typedef struct xfer {
    const notify_opts *o;
    notify_result *res;
    size_t kept, seen;
} xfer;

const char *notify_url_origin(const char *url, char *buf, size_t buflen)
{
    char *scheme = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    snprintf(buf, buflen, "(invalid url)");
    if (u && url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        snprintf(buf, buflen, "%s://%s:%s", scheme, host, port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return buf;
}

/* The text of a socket address, for the refusal message. */
static const char *addr_text(const struct sockaddr *sa, char *buf, size_t n)
{
    const void *a = sa->sa_family == AF_INET
                        ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
                        : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
    if (!inet_ntop(sa->sa_family, a, buf, (socklen_t)n))
        snprintf(buf, n, "?");
    return buf;
}

static void refusal(notify_result *res, const char *addr, const char *why, bool v6)
{
    res->refused = true;
    snprintf(res->error, sizeof res->error,
             "refused to connect to %s: a %s address; webhooks reach special addresses only "
             "inside an allowed network (--webhook-allow-network %s/%d, or a wider CIDR)",
             addr, why, addr, v6 ? 128 : 32);
}

static curl_socket_t open_cb(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    xfer *x = arg;
    char text[INET6_ADDRSTRLEN + 1];
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    const char *why = notify_addr_refused(&a->addr, x->o->allow, x->o->n_allow);
    if (why) {
        if (a->addr.sa_family == AF_INET || a->addr.sa_family == AF_INET6)
            refusal(x->res, addr_text(&a->addr, text, sizeof text), why,
                    a->addr.sa_family == AF_INET6);
        else
            refusal(x->res, "a non-IP socket", why, false);
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype, a->protocol);
}

/* The answer's first NOTIFY_MAX_RESPONSE bytes are kept (made valid UTF-8
 * for the delivery log); the rest is read and dropped up to 1 MiB, then the
 * transfer is cut (the status is known by then). */
static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    xfer *x = arg;
    size_t n = size * nmemb;
    if (x->kept < NOTIFY_MAX_RESPONSE) {
        size_t take = n < NOTIFY_MAX_RESPONSE - x->kept ? n : NOTIFY_MAX_RESPONSE - x->kept;
        memcpy(x->res->response + x->kept, ptr, take);
        x->kept += take;
    }
    x->seen += n;
    return x->seen > MAX_DISCARD ? 0 : n;
}

static int progress_cb(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    xfer *x = arg;
    (void)dt, (void)dn, (void)ut, (void)un;
    if (x->o->abort_flag && atomic_load(x->o->abort_flag)) {
        x->res->aborted = true;
        return 1;
    }
    return 0;
}

/* The signature headers of body at unix_s under secret. */
static struct curl_slist *signed_headers(const char *secret, const char *body, int64_t unix_s)
{
    char sig[IG_HMAC_SHA512_HEX], line[256];
    size_t klen = strlen(secret), blen = strlen(body);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Expect:");
    ig_hmac_sha512_hex(secret, klen, body, blen, sig);
    snprintf(line, sizeof line, NOTIFY_HDR_HCP_SIG ": %s", sig);
    h = curl_slist_append(h, line);
    strbuf signed_text = STRBUF_INIT;
    strbuf_printf(&signed_text, "%lld.", (long long)unix_s);
    strbuf_append(&signed_text, body, blen);
    ig_hmac_sha512_hex(secret, klen, signed_text.s, signed_text.len, sig);
    strbuf_dispose(&signed_text);
    snprintf(line, sizeof line, NOTIFY_HDR_TIMESTAMP ": %lld", (long long)unix_s);
    h = curl_slist_append(h, line);
    snprintf(line, sizeof line, NOTIFY_HDR_SIG ": %s", sig);
    return curl_slist_append(h, line);
}

static void set_options(CURL *h, const notify_opts *o, xfer *x, const char *url, const char *body,
                        struct curl_slist *hdrs, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    if (o->ca_file && *o->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_cb);
    curl_easy_setopt(h, CURLOPT_OPENSOCKETDATA, x);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, progress_cb);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
}

/* Checks an IP-literal host before anything is sent (with a proxy the
 * socket check sees only the proxy). Returns 0, or -1 with res filled. */
static int precheck(const notify_opts *o, const char *url, notify_result *res)
{
    char *host = NULL;
    CURLU *u = curl_url();
    int rc = 0;
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        snprintf(res->error, sizeof res->error, "the webhook URL cannot be parsed");
        rc = -1;
    } else {
        const char *why = notify_ip_refused(host, o->allow, o->n_allow);
        if (why) {
            char bare[64];
            size_t n = strlen(host);
            snprintf(bare, sizeof bare, "%.*s", (int)(host[0] == '[' ? n - 2 : n),
                     host[0] == '[' ? host + 1 : host);
            refusal(res, bare, why, strchr(bare, ':') != NULL);
            rc = -1;
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/* What curl_easy_perform's answer means for res. */
static void outcome(CURL *h, CURLcode rc, xfer *x, const char *url, const char *errbuf)
{
    notify_result *res = x->res;
    long code = 0;
    char origin[300];
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    res->response[x->kept] = '\0';
    str_utf8_repair(res->response, x->kept);
    res->response[str_utf8_prefix(res->response, x->kept)] = '\0';
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->seen > MAX_DISCARD && code > 0)) {
        res->status = (int)code;
        if (code < 200 || code >= 300)
            snprintf(res->error, sizeof res->error, "%s answered HTTP %ld%s",
                     notify_url_origin(url, origin, sizeof origin), code,
                     code >= 300 && code < 400 ? " (redirects are not followed)" : "");
        return;
    }
    if (res->refused)
        return; /* the socket check said why */
    if (res->aborted)
        snprintf(res->error, sizeof res->error, "stopped: imagegate is shutting down");
    else
        snprintf(res->error, sizeof res->error, "%s: %s",
                 notify_url_origin(url, origin, sizeof origin),
                 *errbuf ? errbuf : curl_easy_strerror(rc));
}

struct notify_session {
    CURL *h;
};

notify_session *notify_session_new(void)
{
    notify_session *s = xcalloc(1, sizeof *s);
    s->h = curl_easy_init();
    return s;
}

void notify_session_free(notify_session *s)
{
    if (!s)
        return;
    curl_easy_cleanup(s->h);
    free(s);
}

int notify_send(const notify_opts *o, notify_session *session, const char *url, const char *secret,
                const char *body, int64_t unix_s, notify_result *res)
{
    memset(res, 0, sizeof *res);
    double t0 = ig_mono_seconds();
    if (precheck(o, url, res) < 0)
        return -1;
    char errbuf[CURL_ERROR_SIZE] = "";
    xfer x = {.o = o, .res = res};
    struct curl_slist *hdrs = signed_headers(secret, body, unix_s);
    CURL *h = session ? session->h : curl_easy_init();
    if (session)
        curl_easy_reset(h); /* keeps the connection, drops every option */
    set_options(h, o, &x, url, body, hdrs, errbuf);
    CURLcode rc = curl_easy_perform(h);
    res->latency_ms = (int64_t)((ig_mono_seconds() - t0) * 1000 + 0.5);
    outcome(h, rc, &x, url, errbuf);
    if (!session)
        curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    return res->status >= 200 && res->status < 300 ? 0 : -1;
}
