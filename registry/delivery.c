/* Run-task deliveries: the durable queue that lets an accepted run-task
 * request survive a crash or restart.
 *
 * A row per task_result_id (the primary key makes a repeated request a
 * no-op, whichever replica receives it). Workers claim a queued row by
 * taking a lease (owner + lease_until) with a conditional UPDATE ...
 * RETURNING, which is atomic on both stores: of two replicas racing for one
 * row exactly one gets it back (on PostgreSQL the sweep's pick also skips
 * rows another claimer holds locked: FOR UPDATE SKIP LOCKED). An expired
 * lease (a worker that died) makes the row claimable again. The body holds
 * the run's access token, so it is erased (set NULL) as soon as the
 * delivery reaches a final state -- finished or abandoned. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DELIVERY_RETURNING                                                                         \
    " RETURNING task_result_id, run_id, stage, body, received_at, attempts, state, verdict"

void registry_delivery_dispose(reg_delivery *d)
{
    if (!d)
        return;
    free(d->task_result_id);
    free(d->run_id);
    free(d->stage);
    if (d->body)
        memset(d->body, 0, strlen(d->body));
    free(d->body);
    free(d->verdict);
    memset(d, 0, sizeof *d);
}

int registry_delivery_add(registry *r, const reg_ctx *ctx, const char *task_result_id,
                          const char *run_id, const char *stage, const char *body, char *err,
                          size_t errlen)
{
    REG_CALL(r);
    if (!task_result_id || !*task_result_id || strlen(task_result_id) > 255)
        return reg_fail(r, REG_EINVAL, err, errlen, "task_result_id: must be 1-255 characters");
    int64_t n = db_run(r->d,
                       "INSERT INTO deliveries (task_result_id, run_id, stage, body, state,"
                       " attempts, received_at) VALUES (?, ?, ?, ?, 0, 0, ?)"
                       " ON CONFLICT (task_result_id) DO NOTHING",
                       "ttttT", task_result_id, run_id, stage, body, ctx->now);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    return n == 0 ? 1 : 0;
}

/* The first row of DELIVERY_RETURNING into d. */
static void delivery_row(db_stmt *s, size_t n, void *arg)
{
    reg_delivery *d = arg;
    if (n > 0)
        return;
    d->task_result_id = db_column_dup(s, 0);
    d->run_id = db_column_dup(s, 1);
    d->stage = db_column_dup(s, 2);
    d->body = db_column_dup(s, 3);
    d->received_at = db_column_time(s, 4);
    d->attempts = (int)db_column_int64(s, 5);
    d->state = (int)db_column_int64(s, 6);
    d->verdict = db_column_dup(s, 7);
}

/* Runs a lease-taking UPDATE ... RETURNING to its end; 1 and *d filled
 * when it took, 0 (d zeroed) when not. */
static int take(registry *r, reg_delivery *d, char *err, size_t errlen, const char *sql,
                const char *fmt, ...)
{
    memset(d, 0, sizeof *d);
    va_list ap;
    va_start(ap, fmt);
    int64_t n = reg_vquery_rows(r, 0, delivery_row, d, err, errlen, sql, fmt, ap);
    va_end(ap);
    if (n < 0)
        registry_delivery_dispose(d);
    return n < 0 ? -1 : n > 0;
}

/* One statement: the subquery picks the oldest claimable row, the UPDATE
 * takes its lease, re-checking the conditions. SQLite runs a write statement
 * under its single writer lock; PostgreSQL locks the chosen row, and SKIP
 * LOCKED lets concurrent claimers (other workers, other replicas) pass over
 * rows being claimed instead of queueing behind them. No transaction, so
 * claiming never waits for the registry's write lock (db_begin). */
#define CLAIM_SQL(row_lock)                                                                        \
    "UPDATE deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"              \
    " WHERE task_result_id = (SELECT task_result_id FROM deliveries WHERE state = 0"               \
    " AND (lease_until IS NULL OR lease_until <= ?)"                                               \
    " AND (CAST(? AS BIGINT) IS NULL OR received_at > ?)"                                          \
    " ORDER BY received_at, task_result_id LIMIT 1" row_lock ")"                                   \
    " AND state = 0 AND (lease_until IS NULL OR lease_until <= ?)" DELIVERY_RETURNING

int registry_delivery_claim(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                            ig_time received_after, reg_delivery *d, char *err, size_t errlen)
{
    REG_CALL(r);
    const char *sql =
        r->d->dialect == DB_DIALECT_POSTGRES ? CLAIM_SQL(" FOR UPDATE SKIP LOCKED") : CLAIM_SQL("");
    return take(r, d, err, errlen, sql, "tTTTTT", owner, ctx->now + lease_ms, ctx->now,
                received_after, received_after, ctx->now);
}

int registry_delivery_claim_id(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                               const char *task_result_id, reg_delivery *d, char *err,
                               size_t errlen)
{
    REG_CALL(r);
    return take(
        r, d, err, errlen,
        "UPDATE deliveries SET lease_owner = ?, lease_until = ?, attempts = attempts + 1"
        " WHERE task_result_id = ? AND state = 0"
        " AND (lease_until IS NULL OR lease_until <= ? OR lease_owner = ?)" DELIVERY_RETURNING,
        "tTtTt", owner, ctx->now + lease_ms, task_result_id, ctx->now, owner);
}

int registry_delivery_renew(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                            const char *task_result_id, char *err, size_t errlen)
{
    REG_CALL(r);
    int64_t n = db_run(r->d,
                       "UPDATE deliveries SET lease_until = ? WHERE task_result_id = ?"
                       " AND state = 0 AND lease_owner = ?",
                       "Ttt", ctx->now + lease_ms, task_result_id, owner);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    if (n == 0)
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "delivery %.80s: lease no longer held by %.80s", task_result_id, owner);
    return 0;
}

/* The body held the run's access token. "body = NULL" clears the row, but
 * SQLite keeps the old bytes in the page's free space and in earlier WAL
 * frames: secure_delete (set when the store is opened) zeroes the former, a
 * TRUNCATE checkpoint removes the latter. Best effort: a checkpoint that
 * cannot finish now (another connection still reading an old snapshot)
 * leaves the WAL to the next one. PostgreSQL keeps a dead row version until
 * VACUUM (docs/security.md). */
static void scrub_erased(registry *r)
{
    if (r->d->dialect == DB_DIALECT_SQLITE)
        db_exec(r->d, "PRAGMA wal_checkpoint(TRUNCATE)");
}

int registry_delivery_finish(registry *r, const reg_ctx *ctx, const char *task_result_id,
                             reg_delivery_state state, const char *verdict, char *err,
                             size_t errlen)
{
    REG_CALL(r);
    if (state != REG_DELIVERY_DONE && state != REG_DELIVERY_FAILED)
        return reg_fail(r, REG_EINVAL, err, errlen, "delivery state: must be done or failed");
    int64_t n = db_run(r->d,
                       "UPDATE deliveries SET state = ?, verdict = ?, body = NULL,"
                       " finished_at = ?, lease_owner = NULL, lease_until = NULL"
                       " WHERE task_result_id = ?",
                       "itTt", (int64_t)state, verdict, ctx->now, task_result_id);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    if (n == 0)
        return reg_fail(r, REG_ENOTFOUND, err, errlen, "delivery %.80s does not exist",
                        task_result_id);
    scrub_erased(r);
    return 0;
}

int registry_delivery_abandon_old(registry *r, const reg_ctx *ctx, ig_time cutoff, char *err,
                                  size_t errlen)
{
    REG_CALL(r);
    int count = 0;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    db_stmt *s = db_query(r->d,
                          "UPDATE deliveries SET state = 2, body = NULL, finished_at = ?,"
                          " verdict = 'abandoned', lease_owner = NULL, lease_until = NULL"
                          " WHERE state = 0 AND received_at < ? RETURNING task_result_id, run_id",
                          "TT", ctx->now, cutoff);
    if (!s) {
        reg_dbfail(r, err, errlen);
        goto fail;
    }
    char **rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&rows, &cap, n + 2, sizeof *rows);
        rows[n++] = db_column_dup(s, 0);
        rows[n++] = db_column_dup(s, 1);
    }
    db_finalize(s);
    if (rc < 0)
        reg_dbfail(r, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i += 2, count++)
        rc = reg_audit(r, ctx, "delivery.abandoned", NULL, rows[i],
                       json_pack("{s:o}", "run_id", reg_str_json(rows[i + 1])), err, errlen);
    for (size_t i = 0; i < n; i++)
        free(rows[i]);
    free(rows);
    if (rc < 0)
        goto fail;
    if (reg_tx_commit(r, err, errlen) < 0)
        return -1;
    if (count > 0)
        scrub_erased(r);
    return count;
fail:
    reg_tx_abort(r);
    return -1;
}

int reg_state_counts(registry *r, const char *sql, int64_t counts[3], char *err, size_t errlen)
{
    counts[0] = counts[1] = counts[2] = 0;
    db_stmt *s = db_query(r->d, sql, NULL);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc;
    while ((rc = db_step(s)) == 1) {
        int64_t st = db_column_int64(s, 0);
        if (st >= 0 && st < 3)
            counts[st] = db_column_int64(s, 1);
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int registry_delivery_counts(registry *r, int64_t counts[3], char *err, size_t errlen)
{
    REG_CALL(r);
    return reg_state_counts(r, "SELECT state, COUNT(*) FROM deliveries GROUP BY state", counts, err,
                            errlen);
}
