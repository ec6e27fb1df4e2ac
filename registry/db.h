/* The store driver interface: the only thing the registry model needs from a
 * SQL database. Private to registry/ (callers use registry.h).
 *
 * A driver (db_sqlite.c, db_pg.c) fills a db_driver table of function
 * pointers and embeds `struct db` / `struct db_stmt` as the FIRST member of
 * its own handle structs. Everything above this line -- revocation,
 * inheritance, numbering, channels, audit -- is written once in the registry .c files
 * against these calls and never per store.
 *
 * SQL written by the model is the common subset of SQLite 3.40 and
 * PostgreSQL 15:
 *   - placeholders are `?` (1-based); the PostgreSQL driver rewrites them to
 *     $1, $2... -- so the model never puts a literal `?` inside a string;
 *   - times are BIGINT milliseconds since the epoch (ig_time), booleans are
 *     INTEGER 0/1, JSON (labels, audit detail) is TEXT, ids are TEXT ULIDs
 *     (no AUTOINCREMENT / SERIAL differences);
 *   - INSERT ... ON CONFLICT (cols) DO NOTHING / DO UPDATE and RETURNING are
 *     used; no dialect-specific functions (case folding is done in C);
 *   - a boolean expression is never selected as a value (PostgreSQL would
 *     answer 't'/'f'); use CASE WHEN ... THEN 1 ELSE 0 END;
 *   - a parameter whose type the context does not fix (`? IS NULL`) is
 *     written CAST(? AS TEXT) / CAST(? AS BIGINT), which both accept.
 *
 * Errors: every failing call returns -1 / NULL and leaves in the db handle a
 * message (db_errmsg) and an error class (db_errcode) from registry.h:
 *   REG_ECONFLICT  a constraint (unique, foreign key, check) was violated;
 *   REG_ESTORE     anything else: busy/locked, read-only, I/O, disk full,
 *                  connection lost, not a database.
 * A statement that failed inside a transaction leaves the transaction to be
 * rolled back by the caller (PostgreSQL aborts it anyway).
 *
 * Transactions: db_begin starts a transaction that takes the write lock at
 * once (SQLite: BEGIN IMMEDIATE, so two writers never deadlock on a lock
 * upgrade; PostgreSQL: BEGIN plus a transaction-scoped advisory lock every
 * imagegate on the database shares, so writers are serialised as on SQLite
 * and READ COMMITTED cannot interleave two read-modify-write changes).
 * Single statements outside a transaction take only row locks.
 * No nesting: the model begins once per public call.
 *
 * Dialect: where the two cannot share SQL, the model picks a variant by
 * d->dialect (e.g. FOR UPDATE SKIP LOCKED in the delivery claim); schema
 * differences live in NNN_*.postgresql.sql / NNN_*.sqlite.sql migrations
 * (registry.c). PostgreSQL text columns use the "C" collation so ORDER BY
 * is bytewise on both stores.
 *
 * Threads: one handle, one thread at a time. */
#ifndef IG_REGISTRY_DB_H
#define IG_REGISTRY_DB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { DB_DIALECT_SQLITE = 1, DB_DIALECT_POSTGRES = 2 } db_dialect;

typedef struct db db;
typedef struct db_stmt db_stmt;

/* ---- driver side ------------------------------------------------------ */

typedef struct db_driver {
    const char *name; /* "sqlite", "postgresql" */
    void (*close)(db *d);
    /* Runs one or more ;-separated statements without parameters. */
    int (*exec)(db *d, const char *sql);
    db_stmt *(*prepare)(db *d, const char *sql);
    int (*bind_text)(db_stmt *s, int idx, const char *v); /* v copied or kept until step */
    int (*bind_int64)(db_stmt *s, int idx, int64_t v);
    int (*bind_null)(db_stmt *s, int idx);
    /* 1 = a row is ready, 0 = done, -1 = error. */
    int (*step)(db_stmt *s);
    /* Valid until the next step / finalize; NULL for SQL NULL. */
    const char *(*column_text)(db_stmt *s, int col);
    int64_t (*column_int64)(db_stmt *s, int col);
    bool (*column_is_null)(db_stmt *s, int col);
    /* Rows changed by the statement once it is done (INSERT/UPDATE/DELETE). */
    int64_t (*changes)(db_stmt *s);
    void (*finalize)(db_stmt *s);
    int (*begin)(db *d);
    /* A read-only transaction: one snapshot for several statements, no
     * write lock. Ended by rollback. */
    int (*begin_read)(db *d);
    int (*commit)(db *d);
    int (*rollback)(db *d);
} db_driver;

struct db {
    const db_driver *drv;
    db_dialect dialect;
    int errcode;      /* REG_* class of the last error */
    char errmsg[512]; /* last error, for a person */
};

struct db_stmt {
    db *d;
};

/* For drivers: records an error of class code on d. Returns -1. */
int db_set_error(db *d, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Driver constructors (called by db_open). path / conninfo borrowed.
 * On failure NULL with *errcode and err set. */
db *db_sqlite_open(const char *path, bool create, int busy_timeout_ms, int *errcode, char *err,
                   size_t errlen);
db *db_pg_open(const char *conninfo, int *errcode, char *err, size_t errlen);
/* The file of a SQLite store (borrowed), NULL for any other kind. */
const char *db_sqlite_path(const db *d);

/* ---- model side ------------------------------------------------------- */

/* Parses the store URL (see registry_open in registry.h) and opens it.
 * create: a missing SQLite file may be created (mode 0600). */
db *db_open(const char *url, bool create, int *errcode, char *err, size_t errlen);
void db_close(db *d);
int db_errcode(const db *d);
const char *db_errmsg(const db *d);

int db_exec(db *d, const char *sql);
db_stmt *db_prepare(db *d, const char *sql);
int db_bind_text(db_stmt *s, int idx, const char *v);
int db_bind_int64(db_stmt *s, int idx, int64_t v);
int db_bind_null(db_stmt *s, int idx);
int db_step(db_stmt *s);
const char *db_column_text(db_stmt *s, int col);
int64_t db_column_int64(db_stmt *s, int col);
bool db_column_is_null(db_stmt *s, int col);
int64_t db_changes(db_stmt *s);
void db_finalize(db_stmt *s);
int db_begin(db *d);
int db_begin_read(db *d);
int db_commit(db *d);
int db_rollback(db *d);

/* A set of ids for `x IN (` DB_SET `)`. The marker becomes 1, 32 or 128
 * placeholders (the fewest that hold n; the slots past n are bound NULL),
 * so a statement over a set has three SQL texts whatever the set's size
 * and each is compiled once per connection; a longer list runs once per
 * DB_SET_MAX ids (reg_query_set). */
#define DB_SET "@set"
#define DB_SET_MAX 128
typedef struct db_set {
    const char *const *v;
    size_t n; /* at most DB_SET_MAX */
} db_set;

/* Conveniences on top of the calls above. fmt has one letter per `?`:
 *   t  const char *  (NULL binds SQL NULL)
 *   i  int64_t
 *   T  ig_time (int64_t; IG_TIME_NONE binds SQL NULL)
 *   b  int (bool, bound as 0/1)
 *   S  the placeholders of a DB_SET marker, bound to set (no argument;
 *      db_vquery_set only)
 * db_query: prepared and bound, ready to step (NULL on error).
 * db_run: runs to completion; returns rows changed or -1.
 * db_query_int64: first column of the first row; 1 = found, 0 = no row, -1. */
db_stmt *db_query(db *d, const char *sql, const char *fmt, ...);
db_stmt *db_vquery(db *d, const char *sql, const char *fmt, va_list ap);
db_stmt *db_vquery_set(db *d, const char *sql, const db_set *set, const char *fmt, va_list ap);
int64_t db_run(db *d, const char *sql, const char *fmt, ...);
int db_query_int64(db *d, int64_t *out, const char *sql, const char *fmt, ...);

/* Column helpers: a new string (NULL for SQL NULL); ig_time (IG_TIME_NONE
 * for NULL). */
char *db_column_dup(db_stmt *s, int col);
int64_t db_column_time(db_stmt *s, int col);

#endif
