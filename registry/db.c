/* Store URL dispatch and the thin, driver-independent layer of db.h.
 *
 * The wrappers only forward to the driver table; the conveniences
 * (db_query / db_run with a bind format string) are what keeps the model
 * code short: one line per statement instead of one line per parameter. */
#include "registry/db.h"
#include "registry/registry.h"

#include "common/numparse.h"
#include "common/timeutil.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DB_DEFAULT_BUSY_MS 5000

int db_set_error(db *d, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    d->errcode = code;
    vsnprintf(d->errmsg, sizeof d->errmsg, fmt, ap);
    va_end(ap);
    return -1;
}

static bool has_suffix(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcmp(s + n - m, suf) == 0;
}

/* "sqlite:PATH[?busy_timeout=MS]" etc. Splits off the query. */
static db *open_sqlite_url(const char *rest, const char *url, bool create, int *errcode, char *err,
                           size_t errlen)
{
    char *path = xstrdup(rest);
    int64_t busy = DB_DEFAULT_BUSY_MS;
    db *d = NULL;
    char *q = strchr(path, '?');
    if (q) {
        *q++ = '\0';
        if (strncmp(q, "busy_timeout=", 13) != 0) {
            *errcode = REG_EINVAL;
            snprintf(err, errlen, "--db %s: unknown parameter '%s' (only busy_timeout=MS)", url, q);
            goto out;
        }
        char e2[128];
        if (parse_int64("busy_timeout", q + 13, 0, 600000, &busy, e2, sizeof e2) < 0) {
            *errcode = REG_EINVAL;
            snprintf(err, errlen, "--db %s: %s", url, e2);
            goto out;
        }
    }
    if (!*path) {
        *errcode = REG_EINVAL;
        snprintf(err, errlen, "--db %s: no file path", url);
        goto out;
    }
    d = db_sqlite_open(path, create, (int)busy, errcode, err, errlen);
out:
    free(path);
    return d;
}

db *db_open(const char *url, bool create, int *errcode, char *err, size_t errlen)
{
    if (!url || !*url) {
        *errcode = REG_EINVAL;
        snprintf(err, errlen, "--db: empty store URL");
        return NULL;
    }
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return db_pg_open(url, errcode, err, errlen);
    if (strncmp(url, "sqlite://", 9) == 0)
        return open_sqlite_url(url + 9, url, create, errcode, err, errlen);
    if (strncmp(url, "sqlite:", 7) == 0)
        return open_sqlite_url(url + 7, url, create, errcode, err, errlen);
    if (has_suffix(url, ".db") && !strstr(url, "://"))
        return open_sqlite_url(url, url, create, errcode, err, errlen);
    *errcode = REG_EINVAL;
    snprintf(err, errlen,
             "--db %s: unsupported store URL (use sqlite:PATH, a path ending in .db, or "
             "postgresql://...)",
             url);
    return NULL;
}

void db_close(db *d)
{
    if (d)
        d->drv->close(d);
}

int db_errcode(const db *d)
{
    return d->errcode;
}

const char *db_errmsg(const db *d)
{
    return d->errmsg;
}

int db_exec(db *d, const char *sql)
{
    return d->drv->exec(d, sql);
}

db_stmt *db_prepare(db *d, const char *sql)
{
    return d->drv->prepare(d, sql);
}

int db_bind_text(db_stmt *s, int idx, const char *v)
{
    return v ? s->d->drv->bind_text(s, idx, v) : s->d->drv->bind_null(s, idx);
}

int db_bind_int64(db_stmt *s, int idx, int64_t v)
{
    return s->d->drv->bind_int64(s, idx, v);
}

int db_bind_null(db_stmt *s, int idx)
{
    return s->d->drv->bind_null(s, idx);
}

int db_step(db_stmt *s)
{
    return s->d->drv->step(s);
}

const char *db_column_text(db_stmt *s, int col)
{
    return s->d->drv->column_text(s, col);
}

int64_t db_column_int64(db_stmt *s, int col)
{
    return s->d->drv->column_int64(s, col);
}

bool db_column_is_null(db_stmt *s, int col)
{
    return s->d->drv->column_is_null(s, col);
}

int64_t db_changes(db_stmt *s)
{
    return s->d->drv->changes(s);
}

void db_finalize(db_stmt *s)
{
    if (s)
        s->d->drv->finalize(s);
}

int db_begin(db *d)
{
    return d->drv->begin(d);
}

int db_begin_read(db *d)
{
    return d->drv->begin_read(d);
}

int db_commit(db *d)
{
    return d->drv->commit(d);
}

int db_rollback(db *d)
{
    return d->drv->rollback(d);
}

/* How many placeholders a DB_SET marker stands for with n ids. */
static size_t set_slots(size_t n)
{
    return n <= 1 ? 1 : n <= 32 ? 32 : DB_SET_MAX;
}

/* sql with every DB_SET marker made k placeholders. New string, or NULL
 * when fmt does not bind as many sets (letter S) as sql has markers. */
static char *set_expand(const char *sql, const char *fmt, size_t k)
{
    size_t m = 0, mlen = strlen(DB_SET), want = 0;
    for (const char *p = strstr(sql, DB_SET); p; p = strstr(p + mlen, DB_SET))
        m++;
    for (const char *f = fmt ? fmt : ""; *f; f++)
        want += *f == 'S';
    if (m != want)
        return NULL;
    char *out = xmalloc(strlen(sql) + m * 3 * k + 1), *o = out;
    for (const char *p = sql, *q; *p; p = q + mlen) {
        if (!(q = strstr(p, DB_SET))) {
            strcpy(o, p);
            return out;
        }
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        for (size_t i = 0; i < k; i++)
            o += sprintf(o, i ? ", ?" : "?");
    }
    *o = '\0';
    return out;
}

/* Binds the k placeholders of a set from idx on. */
static int bind_set(db_stmt *s, int idx, const db_set *set, size_t k)
{
    if (!set || set->n > k)
        return db_set_error(s->d, REG_ESTORE, "internal: 'S' without a set of at most %zu ids", k);
    for (size_t i = 0; i < k; i++)
        if ((i < set->n ? db_bind_text(s, idx + (int)i, set->v[i])
                        : db_bind_null(s, idx + (int)i)) < 0)
            return -1;
    return 0;
}

/* Binds one argument of letter f at *idx (advanced past what it bound). */
static int bind_one(db_stmt *s, int *idx, char f, const db_set *set, va_list *ap)
{
    int64_t t;
    size_t k = set ? set_slots(set->n) : 0;
    switch (f) {
    case 't':
        return db_bind_text(s, (*idx)++, va_arg(*ap, const char *));
    case 'i':
        return db_bind_int64(s, (*idx)++, va_arg(*ap, int64_t));
    case 'T':
        t = va_arg(*ap, int64_t);
        return t == IG_TIME_NONE ? db_bind_null(s, (*idx)++) : db_bind_int64(s, (*idx)++, t);
    case 'b':
        return db_bind_int64(s, (*idx)++, va_arg(*ap, int) ? 1 : 0);
    case 'S':
        *idx += (int)k;
        return bind_set(s, *idx - (int)k, set, k);
    default:
        return db_set_error(s->d, REG_ESTORE, "internal: bad bind format '%c'", f);
    }
}

db_stmt *db_vquery_set(db *d, const char *sql, const db_set *set, const char *fmt, va_list ap)
{
    char *text = set ? set_expand(sql, fmt, set_slots(set->n)) : NULL;
    if (set && !text) {
        db_set_error(d, REG_ESTORE, "internal: the sets of a statement and its binds differ");
        return NULL;
    }
    db_stmt *s = db_prepare(d, text ? text : sql);
    free(text); /* the drivers keep what they need */
    if (!s)
        return NULL;
    va_list aq;
    va_copy(aq, ap);
    int idx = 1, rc = 0;
    for (const char *f = fmt ? fmt : ""; *f && rc == 0; f++)
        rc = bind_one(s, &idx, *f, set, &aq);
    va_end(aq);
    if (rc < 0) {
        db_finalize(s);
        return NULL;
    }
    return s;
}

db_stmt *db_vquery(db *d, const char *sql, const char *fmt, va_list ap)
{
    return db_vquery_set(d, sql, NULL, fmt, ap);
}

db_stmt *db_query(db *d, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_stmt *s = db_vquery(d, sql, fmt, ap);
    va_end(ap);
    return s;
}

int64_t db_run(db *d, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_stmt *s = db_vquery(d, sql, fmt, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc;
    while ((rc = db_step(s)) == 1)
        ;
    int64_t n = rc < 0 ? -1 : db_changes(s);
    db_finalize(s);
    return n;
}

int db_query_int64(db *d, int64_t *out, const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_stmt *s = db_vquery(d, sql, fmt, ap);
    va_end(ap);
    if (!s)
        return -1;
    int rc = db_step(s);
    if (rc == 1)
        *out = db_column_int64(s, 0);
    db_finalize(s);
    return rc;
}

char *db_column_dup(db_stmt *s, int col)
{
    return xstrdup(db_column_text(s, col));
}

int64_t db_column_time(db_stmt *s, int col)
{
    return db_column_is_null(s, col) ? IG_TIME_NONE : db_column_int64(s, col);
}
