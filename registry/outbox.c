/* The outbox, as the sender (notify/) sees it: claim a webhook, take the
 * delivery at the head of its queue, record what the attempt did, give the
 * webhook back.
 *
 * Order per webhook comes from one rule: only the oldest pending delivery
 * of a webhook (lowest seq) is ever sent, and only by the holder of the
 * webhook's lease (lease_owner, lease_until). A claim is one UPDATE ...
 * RETURNING whose subquery picks a webhook with a free (or expired, or
 * released) lease whose head is due; on PostgreSQL the pick is FOR UPDATE
 * SKIP LOCKED, as for run-task deliveries (delivery.c), so replicas racing
 * for webhooks pass over the ones being claimed, and the UPDATE re-checks
 * the lease, so of two claimers exactly one gets a webhook. A sender that
 * died leaves its lease to expire; the delivery it was sending is still
 * pending and goes again (at least once).
 *
 * Recording an attempt is one transaction: the attempt row, always (every
 * attempt is logged), and the delivery's new state only while it is still
 * pending and the recorder still holds the lease -- so a delivery is marked
 * delivered once, whoever else sent it meanwhile. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void registry_outbox_hook_dispose(reg_outbox_hook *h)
{
    if (!h)
        return;
    free(h->id);
    free(h->name);
    free(h->url);
    if (h->secret)
        explicit_bzero(h->secret, strlen(h->secret));
    free(h->secret);
    memset(h, 0, sizeof *h);
}

void registry_outbox_item_dispose(reg_outbox_item *it)
{
    if (!it)
        return;
    free(it->delivery_id);
    free(it->event_id);
    free(it->body);
    memset(it, 0, sizeof *it);
}

static void hook_row(db_stmt *s, size_t n, void *arg)
{
    reg_outbox_hook *h = arg;
    if (n > 0)
        return;
    h->id = db_column_dup(s, 0);
    h->name = db_column_dup(s, 1);
    h->url = db_column_dup(s, 2);
    h->secret = db_column_dup(s, 3);
}

/* A webhook is free when nobody holds it or its holder's lease ran out;
 * its head (oldest pending delivery) must be due. */
#define HOOK_FREE " (lease_owner IS NULL OR lease_until IS NULL OR lease_until <= ?)"
#define CLAIM_SQL(row_lock)                                                                        \
    "UPDATE webhooks SET lease_owner = ?, lease_until = ? WHERE id = (SELECT w.id FROM webhooks w" \
    " WHERE (w.lease_owner IS NULL OR w.lease_until IS NULL OR w.lease_until <= ?)"                \
    " AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.webhook_id = w.id AND d.state = 0"      \
    " AND d.next_at <= ? AND d.seq = (SELECT MIN(h.seq) FROM event_deliveries h"                   \
    " WHERE h.webhook_id = w.id AND h.state = 0))"                                                 \
    " ORDER BY COALESCE(w.lease_until, 0), w.id LIMIT 1" row_lock ")"                              \
    " AND" HOOK_FREE " RETURNING id, name, url, secret"

int registry_outbox_claim(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                          reg_outbox_hook *h, char *err, size_t errlen)
{
    REG_CALL(r);
    memset(h, 0, sizeof *h);
    const char *sql =
        r->d->dialect == DB_DIALECT_POSTGRES ? CLAIM_SQL(" FOR UPDATE SKIP LOCKED") : CLAIM_SQL("");
    int64_t n = reg_query_rows(r, 0, hook_row, h, err, errlen, sql, "tTTTT", owner,
                               ctx->now + lease_ms, ctx->now, ctx->now, ctx->now);
    if (n < 0)
        registry_outbox_hook_dispose(h);
    return n < 0 ? -1 : n > 0;
}

static void item_row(db_stmt *s, size_t n, void *arg)
{
    reg_outbox_item *it = arg;
    if (n > 0)
        return;
    it->delivery_id = db_column_dup(s, 0);
    it->event_id = db_column_dup(s, 1);
    it->body = db_column_dup(s, 2);
    it->attempts = (int)db_column_int64(s, 3);
    it->first_attempt_at = db_column_time(s, 4);
}

int registry_outbox_next(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                         const char *webhook_id, reg_outbox_item *it, char *err, size_t errlen)
{
    REG_CALL(r);
    memset(it, 0, sizeof *it);
    int64_t n = db_run(r->d, "UPDATE webhooks SET lease_until = ? WHERE id = ? AND lease_owner = ?",
                       "Ttt", ctx->now + lease_ms, webhook_id, owner);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    if (n == 0)
        return reg_fail(r, REG_ECONFLICT, err, errlen, "webhook lease no longer held by %.80s",
                        owner);
    n = reg_query_rows(r, 0, item_row, it, err, errlen,
                       "SELECT d.id, d.event_id, e.body, d.attempts, d.first_attempt_at"
                       " FROM event_deliveries d JOIN events e ON e.id = d.event_id"
                       " WHERE d.webhook_id = ? AND d.state = 0 AND d.next_at <= ?"
                       " AND d.seq = (SELECT MIN(h.seq) FROM event_deliveries h"
                       " WHERE h.webhook_id = ? AND h.state = 0)",
                       "tTt", webhook_id, ctx->now, webhook_id);
    if (n < 0)
        registry_outbox_item_dispose(it);
    return n < 0 ? -1 : n > 0;
}

/* Moves the delivery on when it is still pending and owner holds the lease:
 * 1 when it did, 0 when not. */
static int advance(registry *r, const reg_ctx *ctx, const char *owner, const char *webhook_id,
                   const reg_outbox_item *it, const reg_outbox_attempt *a, char *err, size_t errlen)
{
    int64_t state = a->outcome == REG_OUTBOX_DELIVERED ? 1
                    : a->outcome == REG_OUTBOX_FAILED  ? 2
                                                       : 0;
    ig_time finished = state ? ctx->now : IG_TIME_NONE;
    int64_t n = db_run(r->d,
                       "UPDATE event_deliveries SET attempts = attempts + 1,"
                       " first_attempt_at = COALESCE(first_attempt_at, ?), state = ?,"
                       " next_at = ?, finished_at = ? WHERE id = ? AND state = 0"
                       " AND EXISTS (SELECT 1 FROM webhooks w WHERE w.id = ?"
                       " AND w.lease_owner = ?)",
                       "TiTTttt", ctx->now, state, state ? ctx->now : a->next_at, finished,
                       it->delivery_id, webhook_id, owner);
    return n < 0 ? reg_dbfail(r, err, errlen) : n > 0;
}

int registry_outbox_record(registry *r, const reg_ctx *ctx, const char *owner,
                           const char *webhook_id, const reg_outbox_item *it,
                           const reg_outbox_attempt *a, char *err, size_t errlen)
{
    REG_CALL(r);
    char id[ULID_LEN + 1];
    reg_new_id(id);
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int moved = advance(r, ctx, owner, webhook_id, it, a, err, errlen);
    int rc = moved < 0 ? -1 : 0;
    if (rc == 0 && db_run(r->d,
                          "INSERT INTO event_attempts (id, delivery_id, at, status, latency_ms,"
                          " error, response, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          "ttTiittt", id, it->delivery_id, ctx->now, (int64_t)a->status,
                          a->latency_ms, a->error, a->response, owner) < 0)
        rc = reg_dbfail(r, err, errlen);
    if (reg_tx_end(r, rc, err, errlen) < 0)
        return -1;
    if (moved == 0)
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "delivery %.40s: no longer pending or the lease was lost (attempt logged)",
                        it->delivery_id);
    return 0;
}

int registry_outbox_release(registry *r, const reg_ctx *ctx, const char *owner,
                            const char *webhook_id, char *err, size_t errlen)
{
    REG_CALL(r);
    /* lease_until = now: the claim serves the least recently served first */
    int64_t n = db_run(r->d,
                       "UPDATE webhooks SET lease_owner = NULL, lease_until = ?"
                       " WHERE id = ? AND lease_owner = ?",
                       "Ttt", ctx->now, webhook_id, owner);
    return n < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int registry_outbox_prune(registry *r, ig_time cutoff, char *err, size_t errlen)
{
    REG_CALL(r);
    /* finished_at is the sender's clock, as cutoff is; the cascade takes the
     * deliveries and their attempts */
    int64_t n = db_run(r->d,
                       "DELETE FROM events WHERE NOT EXISTS (SELECT 1 FROM event_deliveries d"
                       " WHERE d.event_id = events.id AND (d.state = 0 OR d.finished_at >= ?))",
                       "T", cutoff);
    return n < 0 ? reg_dbfail(r, err, errlen) : (int)n;
}

int registry_outbox_counts(registry *r, int64_t counts[3], char *err, size_t errlen)
{
    REG_CALL(r);
    return reg_state_counts(r, "SELECT state, COUNT(*) FROM event_deliveries GROUP BY state",
                            counts, err, errlen);
}
