/* The PostgreSQL driver of db.h: the shared store of several replicas.
 *
 * libpq parses the URL (every form it accepts, the PG* environment, ~/.pgpass);
 * our defaults only fill what the URL leaves out (connect_db). Statements use
 * `?` placeholders, rewritten to $1, $2..., and a per-connection cache of named
 * prepared statements keyed by the SQL text, so after warm-up each call is one
 * round trip (prepared). Writers are serialised across replicas by a
 * transaction-scoped advisory lock taken after BEGIN (p_begin), exactly as
 * SQLite's BEGIN IMMEDIATE serialises them, so the model's read-modify-write
 * logic stays correct under READ COMMITTED.
 *
 * Errors. SQLSTATE class 23 (integrity) -> REG_ECONFLICT; class 22 (data
 * exception: e.g. bytes that are not UTF-8) -> REG_EINVAL; everything else
 * (connection, lock timeout, disk full, read-only standby, ...) -> REG_ESTORE.
 * Messages are one line, "PostgreSQL user@host:port/db: reason", and a
 * password never reaches one (scrub). A connection the server closed while
 * idle is reopened before the next statement outside a transaction (ready);
 * waiting between failed attempts is the caller's business. */
#include "registry/db.h"
#include "registry/registry.h"

#include "common/hex.h"
#include "common/xalloc.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key of the advisory lock db_begin takes (registry.c's migration lock is
 * 7355608). */
#define DB_PG_WRITE_LOCK 7355609
#define STR(x) #x
#define XSTR(x) STR(x)
#define PG_CACHE_BUCKETS 256
#define PG_CACHE_MAX 512
#define PG_MAX_SECRETS 4
#define PG_MIN_SERVER 100000 /* ON CONFLICT, SKIP LOCKED, advisory xact locks: 10+ */

typedef struct pg_prep {
    char *sql;
    char name[24];
    struct pg_prep *next;
} pg_prep;

typedef struct pg_db {
    struct db base; /* first */
    PGconn *conn;
    char where[256]; /* "PostgreSQL user@host:port/db": never the password */
    char *secrets[PG_MAX_SECRETS];
    pg_prep *cache[PG_CACHE_BUCKETS];
    size_t n_prep;
    unsigned long next_prep;
} pg_db;

typedef struct pg_stmt {
    struct db_stmt base; /* first */
    char *sql;           /* with $n */
    int nparams;
    char **values; /* owned copies; NULL = SQL NULL */
    PGresult *res;
    bool executed, failed;
    int row, nrows;
    int64_t changes;
} pg_stmt;

#define PDB(d) ((pg_db *)(d))
#define PST(s) ((pg_stmt *)(s))

/* ---- messages ------------------------------------------------------------ */

/* Replaces every occurrence of each secret in msg (in place) by "***".
 * A password never reaches a message: every message this driver writes passes
 * through scrub() with the password found in the URL (raw and decoded), and a
 * URL libpq cannot parse is never echoed. */
static void scrub(char *msg, char *const *secrets)
{
    for (int i = 0; i < PG_MAX_SECRETS; i++) {
        const char *s = secrets[i];
        size_t n = s ? strlen(s) : 0;
        if (n == 0)
            continue;
        char *p;
        while ((p = strstr(msg, s)) != NULL) {
            size_t rest = strlen(p + n);
            if (n >= 3) {
                memcpy(p, "***", 3);
                memmove(p + 3, p + n, rest + 1);
            } else {
                memset(p, '*', n);
            }
        }
    }
}

/* One line: newlines and tabs become spaces, runs of spaces collapse, the
 * "ERROR:"/"FATAL:" prefixes libpq adds go, trailing space goes. */
static void one_line(char *msg)
{
    char *w = msg;
    bool space = true;
    for (const char *r = msg; *r; r++) {
        char c = *r == '\n' || *r == '\t' || *r == '\r' ? ' ' : *r;
        if (c == ' ' && space)
            continue;
        space = c == ' ';
        *w++ = c;
    }
    while (w > msg && w[-1] == ' ')
        w--;
    *w = '\0';
    const char *pfx[] = {"ERROR: ", "FATAL: "};
    for (size_t i = 0; i < 2; i++) {
        size_t n = strlen(pfx[i]);
        if (strncmp(msg, pfx[i], n) == 0)
            memmove(msg, msg + n, strlen(msg + n) + 1);
    }
}

static int set_err(pg_db *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int set_err(pg_db *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = xvasprintf(fmt, ap);
    va_end(ap);
    one_line(m);
    scrub(m, d->secrets);
    int rc = db_set_error(&d->base, code, "%s: %s", d->where, m);
    free(m);
    return rc;
}

/* Maps a failed result (or, res NULL, the connection's state) to a class
 * and a message. Returns -1. */
static int fail_res(pg_db *d, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    if (!primary)
        primary =
            res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(d->conn);
    if (!primary || !*primary)
        primary = "unknown error";
    if (PQstatus(d->conn) == CONNECTION_BAD)
        return set_err(d, REG_ESTORE, "the connection to the store was lost: %s", primary);
    if (!state)
        return set_err(d, REG_ESTORE, "%s", primary);
    if (strncmp(state, "23", 2) == 0)
        return set_err(d, REG_ECONFLICT, "%s%s%s", primary, detail ? ": " : "",
                       detail ? detail : "");
    if (strncmp(state, "22", 2) == 0)
        return set_err(d, REG_EINVAL, "%s", primary);
    if (strcmp(state, "55P03") == 0)
        return set_err(d, REG_ESTORE,
                       "the store is locked by another process (gave up after lock_timeout): %s",
                       primary);
    if (strcmp(state, "53100") == 0)
        return set_err(d, REG_ESTORE, "disk full: %s", primary);
    if (strcmp(state, "25006") == 0)
        return set_err(d, REG_ESTORE, "the store is read-only (a standby?): %s", primary);
    return set_err(d, REG_ESTORE, "%s (SQLSTATE %s)", primary, state);
}

/* ---- secrets in the URL ------------------------------------------------ */

static char *pct_decode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        int c = s[i] == '%' && i + 2 < n ? hex_byte(s + i + 1) : -1;
        if (c >= 0) {
            *w++ = (char)c;
            i += 2;
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return out;
}

static void add_secret(pg_db *d, char *s)
{
    for (int i = 0; i < PG_MAX_SECRETS; i++)
        if (!d->secrets[i]) {
            d->secrets[i] = s;
            return;
        }
    free(s);
}

/* The password of postgresql://user:PASSWORD@host/... and of ?password=...,
 * as written and decoded, found by plain scanning so that it works for URLs
 * libpq refuses too. */
static void collect_secrets(pg_db *d, const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return;
    p += 3;
    size_t auth_len = strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < p + auth_len; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon && at > colon + 1) {
            add_secret(d, xstrndup(colon + 1, (size_t)(at - colon - 1)));
            add_secret(d, pct_decode(colon + 1, (size_t)(at - colon - 1)));
        }
    }
    const char *query = strchr(p, '?');
    for (const char *q = query; q && *q; q = strchr(q + 1, '&')) {
        const char *k = q + 1;
        if (strncmp(k, "password=", 9) == 0) {
            size_t n = strcspn(k + 9, "&#");
            if (n) {
                add_secret(d, xstrndup(k + 9, n));
                add_secret(d, pct_decode(k + 9, n));
            }
        }
    }
}

/* ---- connection ----------------------------------------------------- */

static void cache_clear(pg_db *d)
{
    for (int i = 0; i < PG_CACHE_BUCKETS; i++) {
        pg_prep *p = d->cache[i];
        while (p) {
            pg_prep *next = p->next;
            free(p->sql);
            free(p);
            p = next;
        }
        d->cache[i] = NULL;
    }
    d->n_prep = 0;
}

static void describe(pg_db *d)
{
    const char *host = PQhost(d->conn), *port = PQport(d->conn);
    const char *user = PQuser(d->conn), *dbname = PQdb(d->conn);
    snprintf(d->where, sizeof d->where, "PostgreSQL %s%s%s:%s/%s", user ? user : "",
             user && *user ? "@" : "", host && *host ? host : "localhost",
             port && *port ? port : "5432", dbname ? dbname : "");
    scrub(d->where, d->secrets);
}

/* libpq prints server notices ("relation ... already exists, skipping") and
 * messages that arrive while idle on stderr by default; they are not ours to
 * print (the CLI's stderr is one line per error). */
static void quiet(void *arg, const char *message)
{
    (void)arg, (void)message;
}

/* Settings that depend on the connection, sent once per (re)connect. */
static int session_setup(pg_db *d)
{
    PQsetNoticeProcessor(d->conn, quiet, NULL);
    int ver = PQserverVersion(d->conn);
    if (ver < PG_MIN_SERVER)
        return set_err(d, REG_ESTORE,
                       "server version %d.%d is too old (imagegate needs PostgreSQL 10 or newer)",
                       ver / 10000, ver % 10000);
    PGresult *res = PQexec(
        d->conn, "SELECT set_config('lock_timeout', '10s', false)"
                 " WHERE current_setting('lock_timeout') IN ('0', '0ms');"
                 "SELECT set_config('idle_in_transaction_session_timeout', '60s', false)"
                 " WHERE current_setting('idle_in_transaction_session_timeout') IN ('0', '0ms')");
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : fail_res(d, res);
    PQclear(res);
    return rc;
}

/* Connects (conn NULL) or reconnects. 0, or -1 with the error on d.
 *
 * Connection. libpq parses the URL: every form it accepts (postgresql:// and
 * postgres://, user:password@, several host:port pairs, ?sslmode=...,
 * ?host=/socket/dir, ?options=-c...), the PG* environment variables for
 * whatever the URL leaves out, ~/.pgpass. Our own defaults go in FRONT of the
 * URL in the keyword list (libpq keeps the last value given), so the URL and
 * the environment always win: connect_timeout 10 s (unless PGCONNECT_TIMEOUT),
 * client_encoding UTF8 (unless PGCLIENTENCODING), TCP keepalives that notice
 * a dead server within about a minute, fallback_application_name imagegate.
 * After connecting, lock_timeout (10 s) and idle_in_transaction_session_timeout
 * (60 s) are set only where the server, role or URL did not set them already
 * (session_setup). */
static int connect_db(pg_db *d, const char *url)
{
    const char *kw[8], *val[8];
    int n = 0;
    if (!getenv("PGCONNECT_TIMEOUT"))
        kw[n] = "connect_timeout", val[n++] = "10";
    if (!getenv("PGCLIENTENCODING"))
        kw[n] = "client_encoding", val[n++] = "UTF8";
    kw[n] = "keepalives_idle", val[n++] = "30";
    kw[n] = "keepalives_interval", val[n++] = "10";
    kw[n] = "keepalives_count", val[n++] = "3";
    kw[n] = "fallback_application_name", val[n++] = "imagegate";
    kw[n] = "dbname", val[n++] = url; /* last: the URL overrides the defaults above */
    kw[n] = NULL, val[n] = NULL;
    d->conn = PQconnectdbParams(kw, val, 1);
    if (!d->conn) {
        snprintf(d->where, sizeof d->where, "PostgreSQL");
        return set_err(d, REG_ESTORE, "out of memory while connecting");
    }
    describe(d);
    if (PQstatus(d->conn) != CONNECTION_OK)
        return set_err(d, REG_ESTORE, "cannot connect: %s", PQerrorMessage(d->conn));
    return session_setup(d);
}

/* Before a statement outside a transaction: notice, without blocking, a
 * connection the server closed while it sat idle (a restart) and reconnect.
 * 0 when the connection can be used. Input that arrived while the connection
 * was idle is read without blocking: a server that restarted meanwhile has
 * said FATAL and closed the socket, and we then reconnect (one attempt, no
 * statement was sent) instead of failing the call. Inside a transaction a
 * lost connection is an error (REG_ESTORE); the caller rolls back and retries
 * later. */
static int ready(pg_db *d)
{
    if (PQstatus(d->conn) == CONNECTION_OK) {
        if (PQtransactionStatus(d->conn) != PQTRANS_IDLE)
            return 0;
        /* An idle connection has nothing to read but the odd notice; a
         * terminated one has the server's FATAL and then end-of-file, which
         * may take two reads to reach. poll() first: never block here. */
        for (int i = 0; i < 8 && PQstatus(d->conn) == CONNECTION_OK; i++) {
            struct pollfd pfd = {.fd = PQsocket(d->conn), .events = POLLIN};
            if (poll(&pfd, 1, 0) <= 0 || !PQconsumeInput(d->conn))
                break;
        }
        if (PQstatus(d->conn) == CONNECTION_OK)
            return 0;
    }
    cache_clear(d);
    PQreset(d->conn);
    describe(d);
    if (PQstatus(d->conn) != CONNECTION_OK)
        return set_err(d, REG_ESTORE, "the store is unavailable: %s", PQerrorMessage(d->conn));
    return session_setup(d);
}

/* ---- ? -> $n --------------------------------------------------------- */

/* New string with every `?` outside quotes and comments numbered. */
static char *rewrite(const char *sql, int *nparams)
{
    size_t len = strlen(sql);
    char *out = xmalloc(len * 4 + 1), *w = out; /* "?" -> "$NNN" at most */
    int n = 0;
    for (const char *p = sql; *p;) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            *w++ = *p++;
            while (*p && *p != q)
                *w++ = *p++;
            if (*p)
                *w++ = *p++;
        } else if (p[0] == '-' && p[1] == '-') {
            while (*p && *p != '\n')
                *w++ = *p++;
        } else if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            size_t k = end ? (size_t)(end + 2 - p) : strlen(p);
            memcpy(w, p, k);
            w += k;
            p += k;
        } else if (*p == '?') {
            w += sprintf(w, "$%d", ++n);
            p++;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    *nparams = n;
    return out;
}

/* ---- driver ------------------------------------------------------------ */

static void p_close(db *base)
{
    pg_db *d = PDB(base);
    cache_clear(d);
    if (d->conn)
        PQfinish(d->conn);
    for (int i = 0; i < PG_MAX_SECRETS; i++) {
        if (d->secrets[i])
            memset(d->secrets[i], 0, strlen(d->secrets[i]));
        free(d->secrets[i]);
    }
    free(d);
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

static int p_exec(db *base, const char *sql)
{
    pg_db *d = PDB(base);
    if (ready(d) < 0)
        return -1;
    PGresult *res = PQexec(d->conn, sql);
    int rc = result_ok(res) ? 0 : fail_res(d, res);
    PQclear(res);
    return rc;
}

static db_stmt *p_prepare(db *base, const char *sql)
{
    pg_stmt *s = xcalloc(1, sizeof *s);
    s->base.d = base;
    s->sql = rewrite(sql, &s->nparams);
    if (s->nparams)
        s->values = xcalloc((size_t)s->nparams, sizeof *s->values);
    return &s->base;
}

static int bind(db_stmt *base, int idx, char *v)
{
    pg_stmt *s = PST(base);
    if (idx < 1 || idx > s->nparams || s->executed) {
        free(v);
        return set_err(PDB(base->d), REG_ESTORE, "internal: bind of parameter %d of %d%s", idx,
                       s->nparams, s->executed ? " after execution" : "");
    }
    free(s->values[idx - 1]);
    s->values[idx - 1] = v;
    return 0;
}

static int p_bind_text(db_stmt *s, int idx, const char *v)
{
    return bind(s, idx, xstrdup(v));
}

static int p_bind_int64(db_stmt *s, int idx, int64_t v)
{
    return bind(s, idx, xasprintf("%lld", (long long)v));
}

static int p_bind_null(db_stmt *s, int idx)
{
    return bind(s, idx, NULL);
}

static unsigned long hash_sql(const char *s)
{
    unsigned long h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Name of the prepared statement for sql, preparing it when new; NULL with
 * *failed = false when the cache is full (run it unnamed), NULL with
 * *failed = true on error.
 *
 * Preparing costs nothing: the statement is sent at the first step,
 * through a per-connection cache of named prepared statements keyed by the SQL
 * text (the model's SQL is a fixed set of literals, so after warm-up each call
 * is one round trip, parsed and planned once per connection). Parameters go as
 * text with no declared type: the server infers each from its context (db.h
 * asks the model to CAST where the context does not fix it). Results come back
 * in text format; column_int64 parses them. */
static const char *prepared(pg_db *d, const char *sql, int nparams, bool *failed)
{
    *failed = false;
    unsigned long h = hash_sql(sql) % PG_CACHE_BUCKETS;
    for (pg_prep *p = d->cache[h]; p; p = p->next)
        if (strcmp(p->sql, sql) == 0)
            return p->name;
    if (d->n_prep >= PG_CACHE_MAX)
        return NULL;
    pg_prep *p = xcalloc(1, sizeof *p);
    snprintf(p->name, sizeof p->name, "ig%lu", ++d->next_prep);
    PGresult *res = PQprepare(d->conn, p->name, sql, nparams, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fail_res(d, res);
        PQclear(res);
        free(p);
        *failed = true;
        return NULL;
    }
    PQclear(res);
    p->sql = xstrdup(sql);
    p->next = d->cache[h];
    d->cache[h] = p;
    d->n_prep++;
    return p->name;
}

static int execute(pg_stmt *s)
{
    pg_db *d = PDB(s->base.d);
    s->executed = true;
    if (ready(d) < 0)
        return -1;
    bool failed;
    const char *name = prepared(d, s->sql, s->nparams, &failed);
    if (failed)
        return -1;
    const char *const *vals = (const char *const *)s->values;
    s->res = name ? PQexecPrepared(d->conn, name, s->nparams, vals, NULL, NULL, 0)
                  : PQexecParams(d->conn, s->sql, s->nparams, NULL, vals, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(s->res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return fail_res(d, s->res);
    s->nrows = st == PGRES_TUPLES_OK ? PQntuples(s->res) : 0;
    s->changes = strtoll(PQcmdTuples(s->res), NULL, 10);
    s->row = -1;
    return 0;
}

static int p_step(db_stmt *base)
{
    pg_stmt *s = PST(base);
    if (!s->executed) {
        if (execute(s) < 0) {
            s->failed = true;
            return -1;
        }
    } else if (s->failed) {
        return set_err(PDB(base->d), REG_ESTORE, "internal: step after a failed execution");
    }
    if (s->row < s->nrows)
        s->row++;
    return s->row < s->nrows ? 1 : 0;
}

static bool in_row(const pg_stmt *s, int col)
{
    return s->res && s->row >= 0 && s->row < s->nrows && col >= 0 && col < PQnfields(s->res);
}

static const char *p_column_text(db_stmt *base, int col)
{
    pg_stmt *s = PST(base);
    if (!in_row(s, col) || PQgetisnull(s->res, s->row, col))
        return NULL;
    return PQgetvalue(s->res, s->row, col);
}

static int64_t p_column_int64(db_stmt *base, int col)
{
    const char *v = p_column_text(base, col);
    if (!v)
        return 0;
    if (v[0] == 't' && !v[1]) /* a boolean, should the model ever select one */
        return 1;
    return strtoll(v, NULL, 10);
}

static bool p_column_is_null(db_stmt *base, int col)
{
    pg_stmt *s = PST(base);
    return !in_row(s, col) || PQgetisnull(s->res, s->row, col);
}

static int64_t p_changes(db_stmt *s)
{
    return PST(s)->changes;
}

static void p_finalize(db_stmt *base)
{
    pg_stmt *s = PST(base);
    PQclear(s->res);
    for (int i = 0; i < s->nparams; i++)
        free(s->values[i]);
    free(s->values);
    free(s->sql);
    free(s);
}

/* Transactions. After BEGIN, a transaction-scoped advisory lock shared by every
 * imagegate on the database (DB_PG_WRITE_LOCK) serialises writers. Statements
 * outside a transaction (reads, token use, the delivery queue's single-statement
 * updates) never take it. COMMIT of a transaction PostgreSQL has already
 * aborted answers ROLLBACK, which we report as an error (p_commit). */
static int p_begin(db *base)
{
    pg_db *d = PDB(base);
    if (ready(d) < 0)
        return -1;
    /* one round trip */
    PGresult *res =
        PQexec(d->conn, "BEGIN; SELECT pg_advisory_xact_lock(" XSTR(DB_PG_WRITE_LOCK) ")");
    int rc = PQresultStatus(res) == PGRES_TUPLES_OK ? 0 : fail_res(d, res);
    PQclear(res);
    if (rc < 0 && PQtransactionStatus(d->conn) != PQTRANS_IDLE) {
        res = PQexec(d->conn, "ROLLBACK");
        PQclear(res);
    }
    return rc;
}

/* One snapshot for every statement of a read (READ COMMITTED would take
 * one per statement); no advisory lock, nothing to write. */
static int p_begin_read(db *base)
{
    pg_db *d = PDB(base);
    if (ready(d) < 0)
        return -1;
    PGresult *res = PQexec(d->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail_res(d, res);
    PQclear(res);
    return rc;
}

static int p_commit(db *base)
{
    pg_db *d = PDB(base);
    PGresult *res = PQexec(d->conn, "COMMIT");
    int rc;
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        rc = fail_res(d, res);
    else if (strcmp(PQcmdStatus(res), "ROLLBACK") == 0)
        rc = set_err(d, REG_ESTORE,
                     "the transaction was rolled back by the server after an "
                     "earlier error");
    else
        rc = 0;
    PQclear(res);
    return rc;
}

static int p_rollback(db *base)
{
    pg_db *d = PDB(base);
    PGTransactionStatusType ts = PQtransactionStatus(d->conn);
    if (ts == PQTRANS_IDLE || ts == PQTRANS_UNKNOWN)
        return 0; /* nothing open, or the connection is gone and took it along */
    PGresult *res = PQexec(d->conn, "ROLLBACK");
    int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : fail_res(d, res);
    PQclear(res);
    return rc;
}

static const db_driver pg_driver = {
    .name = "postgresql",
    .close = p_close,
    .exec = p_exec,
    .prepare = p_prepare,
    .bind_text = p_bind_text,
    .bind_int64 = p_bind_int64,
    .bind_null = p_bind_null,
    .step = p_step,
    .column_text = p_column_text,
    .column_int64 = p_column_int64,
    .column_is_null = p_column_is_null,
    .changes = p_changes,
    .finalize = p_finalize,
    .begin = p_begin,
    .begin_read = p_begin_read,
    .commit = p_commit,
    .rollback = p_rollback,
};

db *db_pg_open(const char *url, int *errcode, char *err, size_t errlen)
{
    pg_db *d = xcalloc(1, sizeof *d);
    d->base.drv = &pg_driver;
    d->base.dialect = DB_DIALECT_POSTGRES;
    snprintf(d->where, sizeof d->where, "PostgreSQL");
    collect_secrets(d, url);
    char *perr = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &perr);
    if (!opts) {
        /* libpq's message may quote the part it could not parse, which can be
         * the password: scrubbed, and the URL itself is never repeated. */
        set_err(d, REG_EINVAL, "--db: not a valid PostgreSQL URL: %s",
                perr ? perr : "libpq cannot parse it");
        PQfreemem(perr);
        goto bad;
    }
    for (PQconninfoOption *o = opts; o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val && *o->val)
            add_secret(d, xstrdup(o->val));
    PQconninfoFree(opts);
    if (connect_db(d, url) < 0)
        goto bad;
    return &d->base;
bad:
    *errcode = d->base.errcode ? d->base.errcode : REG_ESTORE;
    snprintf(err, errlen, "%s", d->base.errmsg);
    p_close(&d->base);
    return NULL;
}
