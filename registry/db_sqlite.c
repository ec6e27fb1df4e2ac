/* The SQLite driver of db.h: the embedded store for one machine.
 *
 * The file is opened read-write WITHOUT SQLITE_OPEN_CREATE, always: when the
 * caller may create the store we create the empty file ourselves first,
 * O_EXCL and mode 0600 (it holds run tokens; SQLite gives the -wal and -shm
 * files the mode of the database file). A read therefore never creates a
 * file by accident. Connection settings: WAL (readers never block the
 * writer), foreign keys on (cascading deletes), synchronous=NORMAL (durable
 * at checkpoints, safe with WAL), a busy timeout so two processes queue
 * instead of failing at once -- polled every millisecond (busy_poll), so a
 * waiter takes the lock in the gap a long writer leaves between two of its
 * transactions. Writers start with BEGIN IMMEDIATE so the lock is taken
 * before the first read and a transaction never dies on a lock upgrade.
 * Prepared statements are kept per connection and reused (cached_stmt
 * below): compiling SQL was half of a bucket list's time. A store deleted or
 * replaced under an open connection stays writable through it, and what goes
 * there is gone at the next start: so nothing is written unless the files at
 * the path are still the ones the handle opened (check_files). */
#include "registry/db.h"
#include "registry/registry.h"

#include "common/timeutil.h"
#include "common/xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A compiled statement kept for the next use of the same SQL text. */
typedef struct cached_stmt {
    char *sql; /* NULL: a free slot */
    uint64_t hash;
    sqlite3_stmt *st;
    bool in_use; /* handed out and not yet finalised (a nested use compiles its own) */
} cached_stmt;

/* Open addressing over the SQL text's hash; the registry has about 200
 * distinct statements, so a full table simply stops caching. */
#define STMT_CACHE_SLOTS 512

/* The store file, its -wal and its -shm, as this handle opened them. */
enum { F_DB, F_WAL, F_SHM, F_COUNT };
static const char *const file_suffix[F_COUNT] = {"", "-wal", "-shm"};
#define READ_CHECK_EVERY 1.0 /* seconds between two checks before reads */

typedef struct file_id {
    dev_t dev;
    ino_t ino;
} file_id;

typedef struct sqlite_db {
    struct db base; /* first */
    sqlite3 *h;
    char *path;
    int busy_ms;
    double busy_since;  /* busy_poll: when this wait began (monotonic seconds) */
    cached_stmt *cache; /* STMT_CACHE_SLOTS slots */
    file_id files[F_COUNT];
    bool joined;       /* counted in open_stores */
    bool moved;        /* a check found them gone: every call fails from now on */
    double checked_at; /* ig_mono_seconds() of the last check */
} sqlite_db;

typedef struct sqlite_stmt {
    struct db_stmt base; /* first */
    sqlite3_stmt *st;
    cached_stmt *slot; /* the cache entry it came from, or NULL */
    int64_t changes;
} sqlite_stmt;

#define SDB(d) ((sqlite_db *)(d))
#define SST(s) ((sqlite_stmt *)(s))

/* SQLite says only "unable to open": find out whether the file or its
 * directory (where WAL keeps -wal and -shm) cannot be written. */
static int cantopen(sqlite_db *d)
{
    char *dir = xstrdup(d->path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[slash == dir ? 1 : 0] = '\0';
    const char *where = slash ? dir : ".";
    int rc;
    if (access(d->path, W_OK) < 0 || access(where, W_OK) < 0)
        rc = db_set_error(&d->base, REG_ESTORE,
                          "%s: the store is not writable: %s (the file and its directory must be "
                          "writable)",
                          d->path, strerror(errno));
    else
        rc = db_set_error(&d->base, REG_ESTORE, "%s: cannot open the store: %s", d->path,
                          sqlite3_errmsg(d->h));
    free(dir);
    return rc;
}

/* Maps the connection's last error to a REG_* class and a message. */
static int fail(sqlite_db *d)
{
    int ext = sqlite3_extended_errcode(d->h);
    int code = ext & 0xff;
    switch (code) {
    case SQLITE_CONSTRAINT:
        return db_set_error(&d->base, REG_ECONFLICT, "%s: %s", d->path, sqlite3_errmsg(d->h));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return db_set_error(&d->base, REG_ESTORE,
                            "%s: the store is locked by another process (gave up after %d ms)",
                            d->path, d->busy_ms);
    case SQLITE_READONLY:
        return db_set_error(&d->base, REG_ESTORE, "%s: the store is read-only (%s)", d->path,
                            sqlite3_errmsg(d->h));
    case SQLITE_FULL:
        return db_set_error(&d->base, REG_ESTORE, "%s: disk full", d->path);
    case SQLITE_CANTOPEN:
        return cantopen(d);
    case SQLITE_NOTADB:
        return db_set_error(&d->base, REG_ESTORE, "%s: not a registry store (not SQLite)", d->path);
    default:
        return db_set_error(&d->base, REG_ESTORE, "%s: %s", d->path, sqlite3_errmsg(d->h));
    }
}

/* The files of every store this process has open, with how many handles
 * have them. A handle opened while others are open must find the same -wal
 * and -shm: SQLite shares one -shm mapping between the connections of a
 * process, so a connection opened after the -wal was deleted would make a
 * new -wal, read the old one's index from the -shm and corrupt the store.
 * It is refused instead; once every handle on the old files is closed, the
 * next opens start afresh. */
typedef struct open_store {
    file_id files[F_COUNT];
    int refs;
    struct open_store *next;
} open_store;
static pthread_mutex_t open_stores_mu = PTHREAD_MUTEX_INITIALIZER;
static open_store *open_stores;

static bool same_file(const file_id *a, const file_id *b)
{
    return a->dev == b->dev && a->ino == b->ino;
}

/* Counts a handle on ids; -1 when this process has the store file open with
 * another -wal or -shm. */
static int store_join(const file_id ids[F_COUNT])
{
    int rc = 0;
    pthread_mutex_lock(&open_stores_mu);
    open_store *o = open_stores;
    while (o && !same_file(&o->files[F_DB], &ids[F_DB]))
        o = o->next;
    if (!o) {
        o = xcalloc(1, sizeof *o);
        memcpy(o->files, ids, sizeof o->files);
        o->next = open_stores;
        open_stores = o;
    }
    if (same_file(&o->files[F_WAL], &ids[F_WAL]) && same_file(&o->files[F_SHM], &ids[F_SHM]))
        o->refs++;
    else
        rc = -1;
    pthread_mutex_unlock(&open_stores_mu);
    return rc;
}

static void store_leave(const file_id ids[F_COUNT])
{
    pthread_mutex_lock(&open_stores_mu);
    for (open_store **p = &open_stores; *p; p = &(*p)->next)
        if (same_file(&(*p)->files[F_DB], &ids[F_DB])) {
            open_store *o = *p;
            if (--o->refs == 0) {
                *p = o->next;
                free(o);
            }
            break;
        }
    pthread_mutex_unlock(&open_stores_mu);
}

/* Fills ids with the files now at the store's paths; -1 when one is missing. */
static int files_now(const char *path, file_id ids[F_COUNT])
{
    char buf[4096];
    for (int i = 0; i < F_COUNT; i++) {
        struct stat st;
        snprintf(buf, sizeof buf, "%s%s", path, file_suffix[i]);
        if (stat(buf, &st) < 0)
            return -1;
        ids[i].dev = st.st_dev;
        ids[i].ino = st.st_ino;
    }
    return 0;
}

/* 0 while the paths still lead to the files this handle opened; else -1
 * with the error set (and kept: a moved handle never writes again). Before
 * a write always -- BEGIN, COMMIT, and a write statement outside a
 * transaction -- and before a read when READ_CHECK_EVERY has passed: one
 * stat() of the store, its -wal and its -shm, compared by device and inode.
 * A handle that finds them gone fails with REG_ESTORE (the server then
 * re-opens, which finds a new file or none), so nothing is acknowledged
 * that a restart would lose. SQLITE_FCNTL_HAS_MOVED would cover the store
 * file alone: it cannot see a deleted -wal, where the newest transactions
 * live. */
static int check_files(sqlite_db *d, bool for_write)
{
    double now = ig_mono_seconds();
    if (!d->moved && !for_write && now - d->checked_at < READ_CHECK_EVERY)
        return 0;
    file_id ids[F_COUNT];
    d->checked_at = now;
    if (!d->moved && files_now(d->path, ids) < 0)
        d->moved = true;
    for (int i = 0; i < F_COUNT && !d->moved; i++)
        d->moved = ids[i].dev != d->files[i].dev || ids[i].ino != d->files[i].ino;
    if (!d->moved)
        return 0;
    return db_set_error(&d->base, REG_ESTORE,
                        "%s: the store file (or its -wal or -shm) was deleted or replaced while "
                        "open; nothing more is written through this handle",
                        d->path);
}

static void s_close(db *d)
{
    sqlite_db *s = SDB(d);
    for (size_t i = 0; s->cache && i < STMT_CACHE_SLOTS; i++) {
        sqlite3_finalize(s->cache[i].st);
        free(s->cache[i].sql);
    }
    free(s->cache);
    sqlite3_close_v2(s->h);
    if (s->joined)
        store_leave(s->files);
    free(s->path);
    free(s);
}

static int s_exec(db *d, const char *sql)
{
    return sqlite3_exec(SDB(d)->h, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(SDB(d));
}

static uint64_t sql_hash(const char *sql)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    return h;
}

/* The slot holding sql, or the free slot where it would go (NULL: the table
 * is full). */
static cached_stmt *cache_slot(sqlite_db *d, const char *sql, uint64_t h)
{
    for (size_t n = 0, i = h % STMT_CACHE_SLOTS; n < STMT_CACHE_SLOTS;
         n++, i = (i + 1) % STMT_CACHE_SLOTS) {
        cached_stmt *c = &d->cache[i];
        if (!c->sql || (c->hash == h && strcmp(c->sql, sql) == 0))
            return c;
    }
    return NULL;
}

static db_stmt *s_prepare(db *d, const char *sql)
{
    sqlite_db *sd = SDB(d);
    if (check_files(sd, false) < 0)
        return NULL;
    uint64_t h = sql_hash(sql);
    cached_stmt *c = cache_slot(sd, sql, h);
    sqlite3_stmt *st = NULL;
    if (c && c->sql && !c->in_use) {
        st = c->st;
    } else if (sqlite3_prepare_v3(sd->h, sql, -1, c && !c->sql ? SQLITE_PREPARE_PERSISTENT : 0, &st,
                                  NULL) != SQLITE_OK) {
        fail(sd);
        return NULL;
    } else if (c && !c->sql) {
        c->sql = xstrdup(sql);
        c->hash = h;
        c->st = st;
    } else {
        c = NULL; /* in use by an enclosing caller: this one is compiled for once */
    }
    if (c)
        c->in_use = true;
    sqlite_stmt *s = xcalloc(1, sizeof *s);
    s->base.d = d;
    s->st = st;
    s->slot = c;
    return &s->base;
}

static int bound(db_stmt *s, int rc)
{
    return rc == SQLITE_OK ? 0 : fail(SDB(s->d));
}

static int s_bind_text(db_stmt *s, int idx, const char *v)
{
    return bound(s, sqlite3_bind_text(SST(s)->st, idx, v, -1, SQLITE_TRANSIENT));
}

static int s_bind_int64(db_stmt *s, int idx, int64_t v)
{
    return bound(s, sqlite3_bind_int64(SST(s)->st, idx, v));
}

static int s_bind_null(db_stmt *s, int idx)
{
    return bound(s, sqlite3_bind_null(SST(s)->st, idx));
}

static int s_step(db_stmt *s)
{
    sqlite3_stmt *st = SST(s)->st;
    /* a write outside a transaction commits by itself: check before it */
    if (!sqlite3_stmt_busy(st) && !sqlite3_stmt_readonly(st) &&
        sqlite3_get_autocommit(SDB(s->d)->h) && check_files(SDB(s->d), true) < 0)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE) {
        SST(s)->changes = sqlite3_changes64(SDB(s->d)->h);
        return 0;
    }
    return fail(SDB(s->d));
}

static const char *s_column_text(db_stmt *s, int col)
{
    return (const char *)sqlite3_column_text(SST(s)->st, col);
}

static int64_t s_column_int64(db_stmt *s, int col)
{
    return sqlite3_column_int64(SST(s)->st, col);
}

static bool s_column_is_null(db_stmt *s, int col)
{
    return sqlite3_column_type(SST(s)->st, col) == SQLITE_NULL;
}

static int64_t s_changes(db_stmt *s)
{
    return SST(s)->changes;
}

static void s_finalize(db_stmt *s)
{
    cached_stmt *c = SST(s)->slot;
    if (c) { /* back to the cache, unbound and reset (no read left open) */
        sqlite3_reset(c->st);
        sqlite3_clear_bindings(c->st);
        c->in_use = false;
    } else {
        sqlite3_finalize(SST(s)->st);
    }
    free(s);
}

/* Runs one statement without rows through the statement cache: BEGIN and
 * its ends run once per registry call, and sqlite3_exec compiles them
 * every time. */
static int s_run(db *d, const char *sql)
{
    db_stmt *st = s_prepare(d, sql);
    if (!st)
        return -1;
    int rc = s_step(st);
    s_finalize(st);
    return rc < 0 ? -1 : 0;
}

static int s_begin(db *d)
{
    if (check_files(SDB(d), true) < 0)
        return -1;
    return s_run(d, "BEGIN IMMEDIATE");
}

/* Deferred: the first read takes the snapshot, and no statement of it
 * takes and drops the WAL read lock again. */
static int s_begin_read(db *d)
{
    return s_run(d, "BEGIN");
}

/* The last look before the write is final: a transaction into files that
 * are gone is rolled back, not committed. */
static int s_commit(db *d)
{
    if (check_files(SDB(d), true) < 0) {
        sqlite3_exec(SDB(d)->h, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return s_run(d, "COMMIT");
}

static int s_rollback(db *d)
{
    if (sqlite3_get_autocommit(SDB(d)->h))
        return 0; /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    /* through the cache; sqlite3_exec when that fails (a moved store) */
    return s_run(d, "ROLLBACK") == 0 ? 0 : s_exec(d, "ROLLBACK");
}

static const db_driver sqlite_driver = {
    .name = "sqlite",
    .close = s_close,
    .exec = s_exec,
    .prepare = s_prepare,
    .bind_text = s_bind_text,
    .bind_int64 = s_bind_int64,
    .bind_null = s_bind_null,
    .step = s_step,
    .column_text = s_column_text,
    .column_int64 = s_column_int64,
    .column_is_null = s_column_is_null,
    .changes = s_changes,
    .finalize = s_finalize,
    .begin = s_begin,
    .begin_read = s_begin_read,
    .commit = s_commit,
    .rollback = s_rollback,
};

/* Makes sure path exists as a regular file. Returns 1 when this call created
 * it, 0 when it was there, -1 with err set. */
static int ensure_file(const char *path, bool create, int *errcode, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            *errcode = REG_ESTORE;
            snprintf(err, errlen, "%s: is a directory, not a registry store", path);
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT || !create) {
        *errcode = REG_ESTORE;
        if (errno == ENOENT)
            snprintf(err, errlen,
                     "%s: no registry store here (only import, bucket create and serve "
                     "make a new one)",
                     path);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    int fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return 0; /* another process won the race */
        *errcode = REG_ESTORE;
        snprintf(err, errlen, "%s: cannot create the store: %s", path, strerror(errno));
        return -1;
    }
    close(fd);
    return 1;
}

/* SQLite's own busy handler sleeps 1, 2, 5 ... 100 ms between attempts: a
 * waiter can sleep through every gap a long writer leaves between its
 * transactions (registry_run_record writes big plans' usage in batches so
 * that a run-task acknowledgement gets in). This one tries every
 * millisecond, up to the busy timeout. */
static int busy_poll(void *arg, int count)
{
    sqlite_db *d = arg;
    double now = ig_mono_seconds();
    if (count == 0)
        d->busy_since = now;
    if ((now - d->busy_since) * 1000 >= d->busy_ms)
        return 0;
    struct timespec ts = {0, 1000000};
    nanosleep(&ts, NULL);
    return 1;
}

const char *db_sqlite_path(const db *d)
{
    return d && d->dialect == DB_DIALECT_SQLITE ? ((const sqlite_db *)d)->path : NULL;
}

db *db_sqlite_open(const char *path, bool create, int busy_timeout_ms, int *errcode, char *err,
                   size_t errlen)
{
    int created = ensure_file(path, create, errcode, err, errlen);
    if (created < 0)
        return NULL;
    sqlite_db *d = xcalloc(1, sizeof *d);
    d->base.drv = &sqlite_driver;
    d->base.dialect = DB_DIALECT_SQLITE;
    d->path = xstrdup(path);
    d->busy_ms = busy_timeout_ms;
    d->cache = xcalloc(STMT_CACHE_SLOTS, sizeof *d->cache);
    int rc = sqlite3_open_v2(path, &d->h, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (!d->h) {
            db_set_error(&d->base, REG_ESTORE, "%s: cannot open the store", path);
        } else {
            fail(d);
        }
        goto bad;
    }
    sqlite3_extended_result_codes(d->h, 1);
    sqlite3_busy_handler(d->h, busy_poll, d);
    /* secure_delete: deleted and overwritten content (a run token erased
     * from a finished delivery) is zeroed, not left in free space. */
    if (s_exec(&d->base, "PRAGMA foreign_keys=ON; PRAGMA journal_mode=WAL; "
                         "PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON; "
                         "SELECT count(*) FROM sqlite_master") < 0)
        goto bad;
    /* the first read opened (or made) the -wal and -shm: remember all three */
    if (files_now(path, d->files) < 0 || store_join(d->files) < 0) {
        db_set_error(&d->base, REG_ESTORE,
                     "%s: the store's -wal or -shm is not the one this process has open (deleted "
                     "or replaced while it runs): restore the store and restart",
                     path);
        goto bad;
    }
    d->joined = true;
    d->checked_at = ig_mono_seconds();
    return &d->base;
bad:
    *errcode = d->base.errcode ? d->base.errcode : REG_ESTORE;
    snprintf(err, errlen, "%s", d->base.errmsg);
    sqlite3_close_v2(d->h);
    if (created == 1)
        unlink(path);
    free(d->cache);
    free(d->path);
    free(d);
    return NULL;
}
