/* Event notifications, the sending side: the registry's outbox (registry.h,
 * "webhooks and events") turned into signed HTTP deliveries. Used by the
 * server's notification pool (webhook/events.c) and by `imagegate webhook
 * create`, which sends the verification ping from the command line.
 *
 *   net.c      which addresses may be connected to: public ones, and the
 *              special ranges (loopback, private, link-local, unique-local,
 *              ...) only inside an --webhook-allow-network CIDR. Pure.
 *   send.c     one signed POST on libcurl: timeouts, --ca-file, proxies from
 *              the environment, no redirects, the address checked when the
 *              socket is opened (after DNS, so rebinding gains nothing).
 *   deliver.c  claim a webhook, send its due deliveries in order, record
 *              each attempt, retry with doubling delays, give up after the
 *              window; the pure retry rules are unit-tested.
 *
 * Secrets: a webhook's secret is the HMAC key of its deliveries; it is
 * passed in, used, and never logged or put into an error. URLs are logged
 * as scheme://host:port only (a path may be a credential, as Slack's are).
 *
 * Threads: every function may run on any thread; a sender uses its own
 * registry handle. notify_send blocks for up to timeout_ms: never call it on
 * the event loop. */
#ifndef IG_NOTIFY_H
#define IG_NOTIFY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"
#include "registry/registry.h"

struct sockaddr;

/* ---- networks (net.c) ---------------------------------------------------- */

typedef struct notify_cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
} notify_cidr;

/* Parses "10.0.0.0/8", "127.0.0.1" (a /32), "fd00::/8", "::1" (a /128).
 * Bits beyond the prefix must be zero. Returns 0 or -1 with err. */
int notify_cidr_parse(const char *s, notify_cidr *out, char *err, size_t errlen);

/* Why sa may not be connected to: the name of its special range
 * ("loopback", "private", "link-local", "unique-local", "multicast", ...),
 * or NULL when it may -- a public address, or one inside a CIDR of allow.
 * An IPv4-mapped (::ffff:a.b.c.d) or NAT64 (64:ff9b::/96) address is judged
 * by the IPv4 address it carries. */
const char *notify_addr_refused(const struct sockaddr *sa, const notify_cidr *allow, size_t n);
/* The same for an address written as text (an IP literal); NULL also when
 * s is not an IP literal (a host name is judged when it is resolved). */
const char *notify_ip_refused(const char *s, const notify_cidr *allow, size_t n);

/* ---- one signed request (send.c) ------------------------------------------ */

typedef struct notify_opts {
    const char *ca_file; /* PEM bundle for https (NULL or "": the system's) */
    int64_t connect_timeout_ms;
    int64_t timeout_ms; /* the whole request */
    const notify_cidr *allow;
    size_t n_allow;
    const atomic_int *abort_flag; /* non-zero stops a transfer (may be NULL) */
} notify_opts;

#define NOTIFY_MAX_RESPONSE 512

typedef struct notify_result {
    int status; /* HTTP status, 0 when there was no answer */
    int64_t latency_ms;
    char response[NOTIFY_MAX_RESPONSE + 1]; /* the answer's first bytes, valid UTF-8 */
    char error[512];                        /* why there was no usable answer; "" otherwise */
    bool refused;                           /* no connection: the address is not allowed */
    bool aborted;                           /* stopped by abort_flag */
} notify_result;

/* The headers a delivery carries besides Content-Type: HCP's signature and
 * imagegate's signed timestamp (docs/events.md says how to check them). */
#define NOTIFY_HDR_HCP_SIG "X-Hcp-Webhook-Signature"
#define NOTIFY_HDR_TIMESTAMP "X-Imagegate-Webhook-Timestamp"
#define NOTIFY_HDR_SIG "X-Imagegate-Webhook-Signature"

/* What one sender keeps between its requests to one webhook: libcurl's
 * connection (keep-alive, the TLS session), and nothing else -- every
 * option and header is reset before each request. One thread at a time. */
typedef struct notify_session notify_session;
notify_session *notify_session_new(void);
void notify_session_free(notify_session *s);

/* POSTs body (JSON) to url with X-Hcp-Webhook-Signature: hex HMAC-SHA512
 * of the body under secret, and X-Imagegate-Webhook-Timestamp: unix_s with
 * X-Imagegate-Webhook-Signature: hex HMAC-SHA512 of "unix_s.body". No
 * redirect is followed. session: a connection to reuse (NULL: a fresh
 * one, closed after). Blocks. Returns 0 when a 2xx answer came back, else
 * -1; *res says what happened either way. */
int notify_send(const notify_opts *o, notify_session *session, const char *url, const char *secret,
                const char *body, int64_t unix_s, notify_result *res);

/* scheme://host:port of url, for logs and messages (never the path, the
 * query or a user name). Returns buf. */
const char *notify_url_origin(const char *url, char *buf, size_t buflen);

/* ---- bodies ------------------------------------------------------------------ */

/* What the server answers to HCP clients as its organization, project and
 * registry; "" when it has none. */
typedef struct notify_identity {
    const char *organization_id, *project_id, *registry_id;
} notify_identity;

/* HCP's verification event (event_action "test", event_source
 * "hashicorp.webhook.verification", a new event_id). New string. */
char *notify_verification_body(void);
/* A new random webhook secret: 64 hex characters (32 random bytes). New
 * string; the caller wipes and frees it. */
char *notify_new_secret(void);

typedef enum {
    NOTIFY_VERIFIED = 0,
    NOTIFY_VERIFY_REFUSED,     /* the address may not be connected to */
    NOTIFY_VERIFY_UNREACHABLE, /* no answer: DNS, connection, TLS, timeout */
    NOTIFY_VERIFY_ANSWERED,    /* an answer other than 2xx */
} notify_verify_result;
/* Sends HCP's verification event to url signed with secret, as HCP does
 * when a webhook is created. On failure err says what the receiver
 * answered (its status and the first bytes of its answer) or why there was
 * no answer. Blocks for up to o->timeout_ms. */
notify_verify_result notify_verify(const notify_opts *o, const char *url, const char *secret,
                                   char *err, size_t errlen);

/* A stored event body with the identity filled in (resource_id,
 * resource_name, event_payload's organization_id, project_id, registry.id).
 * New string; a copy of stored when it is not an object. */
char *notify_body(const char *stored, const notify_identity *id);

/* ---- delivering the outbox (deliver.c) --------------------------------------- */

typedef struct notify_policy {
    int64_t retry_min_ms; /* the first retry comes after this (--webhook-retry-min) */
    int64_t retry_max_ms; /* doubling stops here (--webhook-retry-max) */
    int64_t give_up_ms;   /* after this since the first attempt: failed (--webhook-give-up) */
} notify_policy;

/* The delay before the next attempt after failed (>= 1) failed attempts:
 * retry_min doubling, at most retry_max. Pure. */
int64_t notify_retry_delay(const notify_policy *p, int failed);
/* Whether an answer is worth another attempt: no answer (network error,
 * timeout, refused address), 408, 429 or 5xx. Pure. */
bool notify_retryable(const notify_result *res);
/* What becomes of a delivery after an attempt at now that got res, when
 * attempts were made before it (the first at first_at, IG_TIME_NONE for
 * none): delivered (2xx), failed (not retryable, or the give-up window has
 * passed), or retry at *next_at -- never later than the end of the window,
 * where one last attempt goes. Pure. */
reg_outbox_outcome notify_outcome(const notify_policy *p, const notify_result *res, int attempts,
                                  ig_time first_at, ig_time now, ig_time *next_at);

typedef struct notify_sender {
    registry *r;       /* the thread's handle */
    const char *owner; /* lease owner name: unique per thread and process */
    notify_opts send;
    notify_policy policy;
    notify_identity id;
    int batch; /* deliveries sent per claim, at most */
} notify_sender;

/* Claims one webhook with a due delivery and sends its due deliveries in
 * order, recording every attempt, until one must wait (a retry), batch is
 * reached or abort_flag is set; then gives the webhook back. Returns the
 * number of attempts made (0: nothing was due), or -1 after a store error
 * (err; registry_errcode(s->r) tells its class). */
int notify_run_once(notify_sender *s, char *err, size_t errlen);

#endif
