/* The loop's snapshot of API token hashes (see tokens.h for why).
 *
 * A snapshot is an array of 32-byte digests, built once and never changed,
 * so the loop reads it without a lock. The loop holds exactly one; a new
 * one arrives as a completion (webhook_submit for the periodic refresh,
 * webhook_post from a worker that has just created or revoked a token) and
 * replaces it on the loop thread, which frees the old one -- no other thread
 * ever sees a snapshot after it was handed over, so none can be freed under
 * a reader.
 *
 * Ordering: two reads may finish out of order (a periodic read that began
 * before a revocation committed, handed over after the revocation's own
 * read). Each read takes a sequence number from an atomic counter *before*
 * it queries the store, and the loop installs a snapshot only when its
 * number is above the one in force. A read numbered after another began
 * after it, so it cannot miss a change the other saw (SQLite WAL and
 * PostgreSQL READ COMMITTED both show every transaction committed before a
 * statement starts).
 *
 * The check itself hashes the presented secret once and compares the digest
 * with every entry using CRYPTO_memcmp, OR-ing the results: its time depends
 * on the number of tokens, never on the secret. Tokens are few (people and
 * pipelines), and it runs only for header blocks of POST /v1/scan. */
#include "webhook/tokens.h"

#include "common/hex.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "webhook/api.h"
#include "webhook/sig.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST 32

struct webhook_tokenset {
    size_t n;
    unsigned char (*md)[DIGEST];
    webhook_keys *hmac; /* the store's run-task HMAC keys, NULL when none */
};

struct webhook_tokens {
    webhook_server *srv;
    struct event *timer;
    webhook_tokenset *cur; /* loop thread */
    uint64_t cur_seq;      /* loop thread */
    bool pending;          /* a periodic refresh is queued (loop thread) */
    bool failing;          /* the last refresh failed (loop thread) */
    atomic_uint_fast64_t next_seq;
};

/* ---- snapshots ---------------------------------------------------------- */

webhook_tokenset *webhook_tokenset_new(const reg_token_hash *rows, size_t n)
{
    webhook_tokenset *s = xcalloc(1, sizeof *s);
    s->md = xcalloc(n ? n : 1, sizeof *s->md);
    for (size_t i = 0; i < n; i++)
        if (rows[i].role >= REG_ROLE_READ && hex_decode(rows[i].hash, s->md[s->n], DIGEST) == 0)
            s->n++;
    return s;
}

webhook_tokenset *webhook_tokenset_load(registry *r, ig_time hmac_since, char *err, size_t errlen)
{
    reg_token_hash *rows = NULL;
    char **keys = NULL;
    size_t n = 0, nkeys = 0;
    bool current;
    if (registry_token_hashes(r, &rows, &n, err, errlen) < 0)
        return NULL;
    if (registry_hmac_keys(r, hmac_since, &keys, &nkeys, &current, err, errlen) < 0) {
        free(rows);
        return NULL;
    }
    webhook_tokenset *s = webhook_tokenset_new(rows, n);
    if (nkeys)
        s->hmac = webhook_keys_from((const char *const *)keys, nkeys);
    registry_hmac_keys_free(keys, nkeys);
    free(rows);
    return s;
}

void webhook_tokenset_free(webhook_tokenset *s)
{
    if (!s)
        return;
    webhook_keys_free(s->hmac);
    free(s->md);
    free(s);
}

size_t webhook_tokenset_size(const webhook_tokenset *s)
{
    return s ? s->n : 0;
}

bool webhook_tokenset_knows(const webhook_tokenset *s, const char *authorization)
{
    char secret[WEBHOOK_API_MAX_SECRET + 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    bool found = false;
    if (!s || !s->n || webhook_api_bearer(authorization, secret, sizeof secret) < 0)
        goto out;
    if (!EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL) || mdlen != DIGEST)
        goto out;
    int hit = 0;
    for (size_t i = 0; i < s->n; i++)
        hit |= CRYPTO_memcmp(s->md[i], md, DIGEST) == 0;
    found = hit != 0;
out:
    OPENSSL_cleanse(secret, sizeof secret);
    OPENSSL_cleanse(md, sizeof md);
    return found;
}

/* ---- the loop's copy ------------------------------------------------------ */

typedef struct refresh_job {
    webhook_tokens *t;
    uint64_t seq;
    webhook_tokenset *set; /* NULL when the read failed */
    bool periodic;
    char err[512];
} refresh_job;

/* Store worker: numbers the read before it starts (see the top). */
static void read_tokens(webhook_worker *w, refresh_job *j)
{
    j->seq = atomic_fetch_add(&j->t->next_seq, 1) + 1;
    const webhook_config *cfg = webhook_server_config(j->t->srv);
    registry *r = webhook_worker_registry(w, j->err, sizeof j->err);
    if (r)
        j->set = webhook_tokenset_load(r, ig_time_now() - cfg->hmac_rotation_grace, j->err,
                                       sizeof j->err);
}

/* Loop thread: installs the snapshot if it is the newest, and frees the job. */
static void install(webhook_server *srv, void *arg)
{
    (void)srv;
    refresh_job *j = arg;
    webhook_tokens *t = j->t;
    if (j->periodic)
        t->pending = false;
    if (!j->set) {
        char q[600];
        if (!t->failing)
            log_warn("event=token_refresh_failed error=%s msg=\"keeping the tokens known "
                     "before; retried every --token-refresh\"",
                     log_quote(j->err, q, sizeof q));
        t->failing = true;
    } else {
        if (t->failing)
            log_info("event=token_refresh_recovered tokens=%zu", webhook_tokenset_size(j->set));
        t->failing = false;
        if (j->seq > t->cur_seq) {
            if (webhook_tokenset_size(j->set) != webhook_tokenset_size(t->cur))
                log_debug("event=tokens_refreshed tokens=%zu", webhook_tokenset_size(j->set));
            webhook_tokenset_free(t->cur);
            t->cur = j->set;
            t->cur_seq = j->seq;
            j->set = NULL;
        }
    }
    webhook_tokenset_free(j->set);
    free(j);
}

static void periodic_work(webhook_worker *w, void *arg)
{
    read_tokens(w, arg);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    webhook_tokens *t = arg;
    if (t->pending)
        return; /* the last one is still queued: the store is slow or the queue long */
    refresh_job *j = xcalloc(1, sizeof *j);
    j->t = t;
    j->periodic = true;
    if (webhook_submit(t->srv, periodic_work, install, j) < 0) {
        free(j); /* queue full or stopping: the next tick tries again */
        return;
    }
    t->pending = true;
}

webhook_tokens *webhook_tokens_new(webhook_server *srv, struct event_base *base, int64_t refresh_ms,
                                   webhook_tokenset *initial)
{
    webhook_tokens *t = xcalloc(1, sizeof *t);
    t->srv = srv;
    t->cur = initial;
    atomic_init(&t->next_seq, 0);
    t->timer = event_new(base, -1, EV_PERSIST, timer_cb, t);
    if (!t->timer) {
        fprintf(stderr, "imagegate: out of memory (token refresh timer)\n");
        abort();
    }
    struct timeval tv = {refresh_ms / 1000, (refresh_ms % 1000) * 1000};
    event_add(t->timer, &tv);
    return t;
}

void webhook_tokens_stop(webhook_tokens *t)
{
    if (t && t->timer)
        event_del(t->timer);
}

void webhook_tokens_free(webhook_tokens *t)
{
    if (!t)
        return;
    if (t->timer)
        event_free(t->timer);
    webhook_tokenset_free(t->cur);
    free(t);
}

bool webhook_tokens_knows(const webhook_tokens *t, const char *authorization)
{
    return t && webhook_tokenset_knows(t->cur, authorization);
}

const webhook_keys *webhook_tokens_hmac(const webhook_tokens *t)
{
    return t && t->cur ? t->cur->hmac : NULL;
}

int webhook_tokens_refresh(webhook_worker *w)
{
    webhook_server *srv = webhook_worker_server(w);
    webhook_tokens *t = webhook_server_tokens(srv);
    if (!t)
        return 0;
    refresh_job *j = xcalloc(1, sizeof *j);
    j->t = t;
    read_tokens(w, j);
    int rc = j->set ? 0 : -1;
    webhook_post(srv, install, j); /* failures are logged there, on the loop */
    return rc;
}
