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
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define DIGEST 32
#define USE_EVERY_MS (60 * 1000)    /* last_used_at written at most this often per token */
#define USE_FORGET_MS (3600 * 1000) /* a written use older than this leaves the table */
#define USE_MAX 4096                /* tokens remembered at once; more are not recorded */

struct webhook_tokenset {
    size_t n;
    unsigned char (*md)[DIGEST];
    webhook_keys *hmac; /* the store's run-task HMAC keys, NULL when none */
};

/* One token's last use, as noted and as written. */
typedef struct token_use {
    char name[72];
    ig_time used;       /* the latest use noted */
    ig_time written;    /* the use last written (IG_TIME_NONE: none yet) */
    ig_time written_at; /* when it was written */
} token_use;

struct webhook_tokens {
    webhook_server *srv;
    struct event *timer;
    webhook_tokenset *cur; /* loop thread */
    uint64_t cur_seq;      /* loop thread */
    bool pending;          /* a periodic refresh is queued (loop thread) */
    bool failing;          /* the last refresh failed (loop thread) */
    atomic_uint_fast64_t next_seq;
    pthread_mutex_t use_mu; /* guards uses and nuses (store workers) */
    token_use *uses;
    size_t nuses, capuses;
    bool use_failing; /* the last write of uses failed (the one periodic job) */
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

/* ---- last use ------------------------------------------------------------ */

/* A store worker that has just authenticated a call notes the token's name
 * and time in a small table under a mutex (no store access); the periodic
 * refresh job then writes what is new, each token at most once a minute
 * (USE_EVERY_MS) and best effort: a failed write is logged once and tried
 * again by a later refresh, and never fails a call. */

void webhook_tokens_note_use(webhook_tokens *t, const char *name, ig_time when)
{
    if (!t || !name || strlen(name) >= sizeof t->uses[0].name)
        return;
    pthread_mutex_lock(&t->use_mu);
    size_t i = 0;
    while (i < t->nuses && strcmp(t->uses[i].name, name) != 0)
        i++;
    if (i == t->nuses && t->nuses < USE_MAX) {
        xgrow((void **)&t->uses, &t->capuses, t->nuses + 1, sizeof *t->uses);
        token_use *u = &t->uses[t->nuses++];
        snprintf(u->name, sizeof u->name, "%s", name);
        u->used = u->written = u->written_at = IG_TIME_NONE;
    }
    if (i < t->nuses && when > t->uses[i].used)
        t->uses[i].used = when;
    pthread_mutex_unlock(&t->use_mu);
}

/* Copies out the uses due for a write (new, and the token not written in
 * the last USE_EVERY_MS), and forgets tokens idle for USE_FORGET_MS. */
static size_t uses_due(webhook_tokens *t, ig_time now, token_use **out)
{
    size_t n = 0, cap = 0;
    *out = NULL;
    pthread_mutex_lock(&t->use_mu);
    size_t i = 0;
    while (i < t->nuses) {
        token_use *u = &t->uses[i];
        if (u->used == u->written && now - u->used > USE_FORGET_MS) {
            *u = t->uses[--t->nuses];
            continue;
        }
        if (u->used != u->written &&
            (u->written_at == IG_TIME_NONE || now - u->written_at >= USE_EVERY_MS)) {
            xgrow((void **)out, &cap, n + 1, sizeof **out);
            (*out)[n++] = *u;
        }
        i++;
    }
    pthread_mutex_unlock(&t->use_mu);
    return n;
}

static void use_written(webhook_tokens *t, const token_use *w, ig_time now)
{
    pthread_mutex_lock(&t->use_mu);
    for (size_t i = 0; i < t->nuses; i++)
        if (strcmp(t->uses[i].name, w->name) == 0) {
            t->uses[i].written = w->used;
            t->uses[i].written_at = now;
        }
    pthread_mutex_unlock(&t->use_mu);
}

/* Store worker (the periodic job): writes the uses that are due. Best
 * effort: the first failure ends the pass and is logged once until a pass
 * succeeds again; what was not written stays due. */
static void write_uses(webhook_worker *w, webhook_tokens *t)
{
    char err[512];
    ig_time now = ig_time_now();
    token_use *due = NULL;
    size_t n = uses_due(t, now, &due);
    registry *r = n ? webhook_worker_registry(w, err, sizeof err) : NULL;
    size_t done = 0;
    while (r && done < n &&
           registry_token_touch(r, due[done].name, due[done].used, err, sizeof err) == 0)
        use_written(t, &due[done++], now);
    if (done < n && !t->use_failing) {
        char q[600];
        log_warn("event=token_use_not_recorded tokens=%zu error=%s msg=\"last_used_at is "
                 "recorded later; calls are not affected\"",
                 n - done, log_quote(err, q, sizeof q));
    } else if (done == n && n && t->use_failing) {
        log_info("event=token_use_recorded tokens=%zu", n);
    }
    if (n)
        t->use_failing = done < n;
    free(due);
}

static void periodic_work(webhook_worker *w, void *arg)
{
    refresh_job *j = arg;
    read_tokens(w, j);
    write_uses(w, j->t);
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
    pthread_mutex_init(&t->use_mu, NULL);
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
    pthread_mutex_destroy(&t->use_mu);
    free(t->uses);
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
