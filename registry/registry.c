/* Opening a registry, schema migrations, errors, transactions, validation
 * and the small helpers every model file uses.
 *
 * Migrations are the numbered files of registry/migrations/, compiled in.
 * registry_open first reads the schema version without writing anything (a
 * read-only store can still be read); only when something is pending does
 * it take the write lock and apply, in one transaction, every file the
 * store has not recorded (numbers are reserved per branch, so one may land
 * after a higher one did), re-checking under the lock so that two
 * processes opening a fresh store do not both migrate (on PostgreSQL the
 * lock is an advisory lock, so replicas starting together on an empty
 * database queue behind the first one and then find nothing to do).
 *
 * Dialects: NNN_name.sql applies to every store; NNN_name.postgresql.sql and
 * NNN_name.sqlite.sql only to that kind of store -- for the few schema
 * details the two dialects cannot share (db.h). A store's schema version is
 * the highest number that applies to its dialect. */
#include "registry/reg_internal.h"

#include "common/numparse.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- errors and transactions ------------------------------------------ */

int reg_fail(registry *r, int code, char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && errlen)
        vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    r->errcode = code;
    return -1;
}

int reg_dbfail(registry *r, char *err, size_t errlen)
{
    int code = db_errcode(r->d);
    return reg_fail(r, code ? code : REG_ESTORE, err, errlen, "%s", db_errmsg(r->d));
}

int reg_tx_begin(registry *r, char *err, size_t errlen)
{
    return db_begin(r->d) < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int reg_tx_commit(registry *r, char *err, size_t errlen)
{
    if (db_commit(r->d) == 0)
        return 0;
    reg_dbfail(r, err, errlen);
    db_rollback(r->d);
    return -1;
}

int reg_read_begin(registry *r, char *err, size_t errlen)
{
    return db_begin_read(r->d) < 0 ? reg_dbfail(r, err, errlen) : 0;
}

void reg_read_end(registry *r)
{
    db_rollback(r->d);
}

void reg_tx_abort(registry *r)
{
    db_rollback(r->d);
}

int reg_tx_end(registry *r, int rc, char *err, size_t errlen)
{
    if (rc == 0)
        return reg_tx_commit(r, err, errlen);
    reg_tx_abort(r);
    return -1;
}

json_t *reg_tx_end_json(registry *r, json_t *out, char *err, size_t errlen)
{
    if (reg_tx_end(r, out ? 0 : -1, err, errlen) == 0)
        return out;
    json_decref(out);
    return NULL;
}

/* ---- pages -------------------------------------------------------------- */

/* Page tokens are the decimal offset of the next page. */
int reg_page_bounds(registry *r, reg_page *page, int64_t *limit, int64_t *offset, char *err,
                    size_t errlen)
{
    *limit = INT32_MAX;
    *offset = 0;
    if (!page)
        return 0;
    page->next_page_token = NULL;
    if (page->page_size < 0)
        return reg_fail(r, REG_EINVAL, err, errlen, "page_size: must not be negative");
    if (page->page_size > 0)
        *limit = page->page_size;
    if (page->page_token && *page->page_token) {
        char e2[128];
        if (parse_int64("page_token", page->page_token, 0, INT32_MAX, offset, e2, sizeof e2) < 0)
            return reg_fail(r, REG_EINVAL, err, errlen, "page_token: not a token this server made");
    }
    return 0;
}

void reg_page_next(reg_page *page, int64_t offset, int64_t limit, size_t got)
{
    if (page && page->page_size > 0 && (int64_t)got > limit)
        page->next_page_token = xasprintf("%lld", (long long)(offset + limit));
}

/* ---- row loaders -------------------------------------------------------- */

int64_t reg_vquery_rows(registry *r, size_t max, reg_row_fn row, void *arg, char *err,
                        size_t errlen, const char *sql, const char *fmt, va_list ap)
{
    db_stmt *s = db_vquery(r->d, sql, fmt, ap);
    if (!s)
        return reg_dbfail(r, err, errlen);
    size_t n = 0;
    int rc = 0;
    while ((max == 0 || n < max) && (rc = db_step(s)) == 1)
        row(s, n++, arg);
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : (int64_t)n;
}

int64_t reg_query_rows(registry *r, size_t max, reg_row_fn row, void *arg, char *err, size_t errlen,
                       const char *sql, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int64_t n = reg_vquery_rows(r, max, row, arg, err, errlen, sql, fmt, ap);
    va_end(ap);
    return n;
}

int64_t reg_query_set(registry *r, const char *const *ids, size_t n, reg_row_fn row, void *arg,
                      char *err, size_t errlen, const char *sql, const char *fmt, ...)
{
    size_t got = 0;
    for (size_t off = 0; off < n; off += DB_SET_MAX) {
        db_set set = {ids + off, n - off < DB_SET_MAX ? n - off : DB_SET_MAX};
        va_list ap;
        va_start(ap, fmt);
        db_stmt *s = db_vquery_set(r->d, sql, &set, fmt, ap);
        va_end(ap);
        if (!s)
            return reg_dbfail(r, err, errlen);
        int rc;
        while ((rc = db_step(s)) == 1)
            row(s, got++, arg);
        db_finalize(s);
        if (rc < 0)
            return reg_dbfail(r, err, errlen);
    }
    return (int64_t)got;
}

size_t reg_id_index(const char *const *ids, size_t n, const char *id, size_t *hint)
{
    if (*hint < n && strcmp(ids[*hint], id) == 0)
        return *hint;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ids[i], id) == 0)
            return *hint = i;
    return SIZE_MAX;
}

void reg_rows_add(db_stmt *s, size_t n, void *arg)
{
    reg_rows *rows = arg;
    (void)n;
    xgrow(&rows->v, &rows->cap, rows->n + 1, rows->size);
    void *row = (char *)rows->v + rows->n * rows->size;
    memset(row, 0, rows->size);
    rows->fill(s, row);
    rows->n++;
}

void reg_rows_free(reg_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        rows->dispose((char *)rows->v + i * rows->size);
    free(rows->v);
    rows->v = NULL;
    rows->n = rows->cap = 0;
}

json_t *reg_query_json(registry *r, reg_row_fn row, char *err, size_t errlen, const char *sql,
                       const char *fmt, ...)
{
    json_t *arr = json_array();
    va_list ap;
    va_start(ap, fmt);
    int64_t n = reg_vquery_rows(r, 0, row, arr, err, errlen, sql, fmt, ap);
    va_end(ap);
    if (n < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

int registry_errcode(const registry *r)
{
    return r ? r->errcode : REG_ESTORE;
}

const char *registry_kind(const registry *r)
{
    return r->d->drv->name;
}

int registry_ping(registry *r, char *err, size_t errlen)
{
    int64_t one = 0;
    REG_CALL(r);
    if (db_query_int64(r->d, &one, "SELECT 1", NULL) != 1)
        return reg_dbfail(r, err, errlen);
    return 0;
}

int registry_probe_write(registry *r, ig_time now, char *err, size_t errlen)
{
    REG_CALL(r);
    /* one statement outside a transaction: it does not queue behind the
     * PostgreSQL writers' advisory lock, only behind the row */
    if (db_run(r->d,
               "INSERT INTO store_probe (id, written_at) VALUES (1, ?)"
               " ON CONFLICT (id) DO UPDATE SET written_at = ?",
               "TT", now, now) < 0)
        return reg_dbfail(r, err, errlen);
    return 0;
}

/* ---- migrations ------------------------------------------------------- */

static int64_t migration_number(const reg_migration *m)
{
    return strtoll(m->name, NULL, 10);
}

static bool name_ends(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* Whether migration m is for stores of this dialect. */
static bool migration_applies(const reg_migration *m, db_dialect dialect)
{
    if (name_ends(m->name, ".postgresql.sql"))
        return dialect == DB_DIALECT_POSTGRES;
    if (name_ends(m->name, ".sqlite.sql"))
        return dialect == DB_DIALECT_SQLITE;
    return true;
}

static int64_t latest_known_schema(db_dialect dialect)
{
    int64_t max = 0;
    for (size_t i = 0; i < reg_migrations_count; i++)
        if (migration_applies(&reg_migrations[i], dialect) &&
            migration_number(&reg_migrations[i]) > max)
            max = migration_number(&reg_migrations[i]);
    return max;
}

/* The versions recorded in schema_migrations, ascending, into *out (new
 * array of *n; none when the table is missing or cannot be read: the
 * migration's transaction then finds out why). */
static void applied_versions(registry *r, int64_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    db_stmt *s = db_query(r->d, "SELECT version FROM schema_migrations ORDER BY version", NULL);
    while (s && db_step(s) == 1) {
        xgrow((void **)out, &cap, *n + 1, sizeof **out);
        (*out)[(*n)++] = db_column_int64(s, 0);
    }
    db_finalize(s);
}

static bool applied(const int64_t *v, size_t n, int64_t number)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == number)
            return true;
    return false;
}

/* How many migrations of this dialect the store has not recorded. Not only
 * those above its latest: branches reserve numbers, so 010 may land after
 * 011 did, and a store made in between must still get it. */
static size_t pending(db_dialect dialect, const int64_t *done, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < reg_migrations_count; i++)
        count += migration_applies(&reg_migrations[i], dialect) &&
                 !applied(done, n, migration_number(&reg_migrations[i]));
    return count;
}

/* Applies, in file order, every migration of this dialect the store lacks,
 * recording each (inside the caller's transaction). */
static int apply_pending(registry *r, const reg_ctx *ctx, const int64_t *done, size_t n, char *err,
                         size_t errlen)
{
    for (size_t i = 0; i < reg_migrations_count; i++) {
        const reg_migration *m = &reg_migrations[i];
        int64_t num = migration_number(m);
        if (!migration_applies(m, r->d->dialect) || applied(done, n, num))
            continue;
        if (db_exec(r->d, m->sql) < 0) {
            reg_dbfail(r, err, errlen);
            size_t used = strlen(err);
            snprintf(err + used, errlen - used, " (migration %s)", m->name);
            return -1;
        }
        if (db_run(r->d,
                   "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   "itT", num, m->name, ctx->now) < 0)
            return reg_dbfail(r, err, errlen);
    }
    return 0;
}

static int migrate(registry *r, const reg_ctx *ctx, char *err, size_t errlen)
{
    int64_t want = latest_known_schema(r->d->dialect), *done;
    size_t n;
    applied_versions(r, &done, &n);
    int64_t cur = n ? done[n - 1] : 0;
    size_t todo = pending(r->d->dialect, done, n);
    free(done);
    if (cur > want)
        return reg_fail(r, REG_ESTORE, err, errlen,
                        "store schema version %lld is newer than this imagegate knows (%lld); "
                        "upgrade imagegate",
                        (long long)cur, (long long)want);
    if (todo == 0)
        return 0;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = -1;
    if ((r->d->dialect == DB_DIALECT_POSTGRES &&
         db_run(r->d, "SELECT pg_advisory_xact_lock(7355608)", NULL) < 0) ||
        db_exec(r->d, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                      " version BIGINT PRIMARY KEY, name TEXT NOT NULL,"
                      " applied_at BIGINT NOT NULL)") < 0) {
        reg_dbfail(r, err, errlen);
    } else {
        applied_versions(r, &done, &n); /* again, under the lock */
        rc = apply_pending(r, ctx, done, n, err, errlen);
        free(done);
    }
    return reg_tx_end(r, rc, err, errlen);
}

registry *registry_open(const char *url, int flags, int *errcode, char *err, size_t errlen)
{
    int code = REG_OK;
    db *d = db_open(url, (flags & REG_OPEN_CREATE) != 0, &code, err, errlen);
    if (!d) {
        if (errcode)
            *errcode = code;
        return NULL;
    }
    registry *r = xcalloc(1, sizeof *r);
    r->d = d;
    reg_ctx ctx = {.author = "imagegate", .now = ig_time_now()};
    if (migrate(r, &ctx, err, errlen) < 0) {
        if (errcode)
            *errcode = r->errcode;
        registry_close(r);
        return NULL;
    }
    if (errcode)
        *errcode = REG_OK;
    return r;
}

void registry_close(registry *r)
{
    if (!r)
        return;
    db_close(r->d);
    free(r);
}

/* ---- validation ------------------------------------------------------- */

static bool is_alnum(char c)
{
    return isalnum((unsigned char)c) != 0;
}

int registry_valid_bucket_name(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 3 && n <= 36;
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum(name[i]) || name[i] == '-';
    if (ok)
        return 0;
    snprintf(err, errlen, "bucket name '%.60s': must be 3-36 characters of letters, digits and '-'",
             name ? name : "");
    return -1;
}

/* True for v<digits>: a version name, which a fingerprint must not look like. */
static bool looks_like_version_name(const char *s)
{
    if ((s[0] != 'v' && s[0] != 'V') || !s[1])
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    return true;
}

int registry_valid_fingerprint(const char *fp, char *err, size_t errlen)
{
    size_t n = fp ? strlen(fp) : 0;
    const char *why = NULL;
    if (n < 1 || n > 40)
        why = "must be 1-40 characters";
    for (size_t i = 0; !why && i < n; i++)
        if (!is_alnum(fp[i]) && fp[i] != '-' && fp[i] != '.' && fp[i] != '_')
            why = "may hold only letters, digits, '-', '.' and '_'";
    if (!why && (!is_alnum(fp[0]) || !is_alnum(fp[n - 1])))
        why = "must start and end with a letter or digit";
    if (!why && looks_like_version_name(fp))
        why = "must not have the form v<digits>, which names a version";
    if (!why)
        return 0;
    snprintf(err, errlen, "fingerprint '%.60s': %s", fp ? fp : "", why);
    return -1;
}

int registry_valid_channel_name(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= 36 && is_alnum(name[0]);
    for (size_t i = 0; ok && i < n; i++)
        ok = is_alnum(name[i]) || name[i] == '-' || name[i] == '_';
    if (ok)
        return 0;
    snprintf(err, errlen,
             "channel name '%.60s': must be 1-36 characters of letters, digits, '-' and '_', "
             "starting with a letter or digit",
             name ? name : "");
    return -1;
}

/* ---- helpers ---------------------------------------------------------- */

void reg_new_id(char out[ULID_LEN + 1])
{
    /* Wall clock, not ctx->now: ids order rows by insertion even when tests
     * pin the logical clock. */
    ulid_new(ig_time_now(), out);
}

char *reg_lower(const char *s)
{
    if (!s)
        return NULL;
    char *c = xstrdup(s);
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return c;
}

json_t *reg_time_json(ig_time t)
{
    if (t == IG_TIME_NONE)
        return json_null();
    char buf[40];
    return json_string(ig_time_format(t, buf, sizeof buf));
}

json_t *reg_str_json(const char *s)
{
    return s ? json_string(s) : json_null();
}

json_t *reg_labels_load(const char *text)
{
    json_t *j = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    return j;
}

char *reg_labels_dump(json_t *labels)
{
    if (!labels)
        return xstrdup("{}");
    char *s = json_dumps(labels, JSON_COMPACT | JSON_SORT_KEYS);
    char *c = xstrdup(s ? s : "{}");
    free(s);
    return c;
}

int reg_text_check(registry *r, const char *s, size_t max, const char *what, char *err,
                   size_t errlen)
{
    if (!s)
        return 0;
    size_t n = strlen(s);
    if (n > max)
        return reg_fail(r, REG_EINVAL, err, errlen, "%s: longer than %zu bytes", what, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            return reg_fail(r, REG_EINVAL, err, errlen, "%s: holds a control character", what);
    }
    return 0;
}

int reg_labels_check(registry *r, json_t *labels, const char *what, char *err, size_t errlen)
{
    if (!labels || json_is_null(labels))
        return 0;
    if (!json_is_object(labels))
        return reg_fail(r, REG_EINVAL, err, errlen, "%s: must be an object of strings", what);
    if (json_object_size(labels) > REG_MAX_LABELS)
        return reg_fail(r, REG_EINVAL, err, errlen, "%s: more than %d labels", what,
                        REG_MAX_LABELS);
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        char field[320];
        snprintf(field, sizeof field, "%s.%.255s", what, k);
        if (!*k || strlen(k) > REG_MAX_LABEL_KEY)
            return reg_fail(r, REG_EINVAL, err, errlen, "%s: a label key must be 1-%d bytes", field,
                            REG_MAX_LABEL_KEY);
        if (!json_is_string(v))
            return reg_fail(r, REG_EINVAL, err, errlen, "%s: label values must be strings", field);
        if (reg_text_check(r, k, REG_MAX_LABEL_KEY, field, err, errlen) < 0 ||
            reg_text_check(r, json_string_value(v), REG_MAX_LABEL_VALUE, field, err, errlen) < 0)
            return -1;
    }
    return 0;
}
