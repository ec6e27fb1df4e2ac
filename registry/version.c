/* Versions: lookup by name / fingerprint / id, the version object, status
 * at read time, completion and numbering, create / list / delete.
 *
 * Nothing about a version's state is cached: its name comes from `number`
 * (NULL until every build is done), its status from its builds and from the
 * earliest of its revocation rows compared with ctx->now, `latest` from a
 * query. So moving the clock (a scheduled revocation coming due) needs no
 * job and no write. */
#include "registry/reg_internal.h"

#include "common/numparse.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VERSION_COLS                                                                               \
    "v.id, v.bucket_id, b.name, v.fingerprint, v.author_id, v.number, v.completed_at,"             \
    " v.created_at, v.updated_at FROM versions v JOIN buckets b ON b.id = v.bucket_id"

/* A version is valid when complete and no revocation row is due. */
#define NOT_REVOKED_AT(vcol)                                                                       \
    "NOT EXISTS (SELECT 1 FROM revocations rv WHERE rv.version_id = " vcol " AND rv.revoke_at <= " \
    "?)"

void reg_vrow_dispose(reg_vrow *v)
{
    free(v->id);
    free(v->bucket_id);
    free(v->bucket_name);
    free(v->fingerprint);
    free(v->author);
    memset(v, 0, sizeof *v);
}

const char *reg_vrow_name(const reg_vrow *v, char buf[32])
{
    snprintf(buf, 32, "v%lld", (long long)v->number);
    return buf;
}

static void vrow_fill(db_stmt *s, reg_vrow *v)
{
    v->id = db_column_dup(s, 0);
    v->bucket_id = db_column_dup(s, 1);
    v->bucket_name = db_column_dup(s, 2);
    v->fingerprint = db_column_dup(s, 3);
    v->author = db_column_dup(s, 4);
    v->number = db_column_is_null(s, 5) ? 0 : db_column_int64(s, 5);
    v->completed_at = db_column_time(s, 6);
    v->created_at = db_column_time(s, 7);
    v->updated_at = db_column_time(s, 8);
}

/* Runs a query returning VERSION_COLS; fills v with the first row. Returns
 * the number of rows (0, 1, 2 meaning "more than one") or -1. */
static int vquery(registry *r, reg_vrow *v, char *err, size_t errlen, const char *sql,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    db_stmt *s = db_vquery(r->d, sql, fmt, ap);
    va_end(ap);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int n = 0, rc = 0;
    while (n < 2 && (rc = db_step(s)) == 1) {
        if (n++ == 0)
            vrow_fill(s, v);
    }
    db_finalize(s);
    if (n < 2 && rc < 0) {
        reg_vrow_dispose(v);
        return reg_dbfail(r, err, errlen);
    }
    return n;
}

/* "v12" -> 12; -1 when s is not a version name. */
static int64_t version_name_number(const char *s)
{
    if (s[0] != 'v' || !s[1] || strlen(s) > 19)
        return -1;
    for (const char *p = s + 1; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    return strtoll(s + 1, NULL, 10);
}

int reg_version_load(registry *r, const reg_brow *b, const char *ref, reg_vrow *v, char *err,
                     size_t errlen)
{
    memset(v, 0, sizeof *v);
    if (!ref || !*ref)
        return reg_fail(r, REG_EINVAL, err, errlen, "version: empty name or fingerprint");
    int64_t num = version_name_number(ref);
    int n;
    if (num > 0) {
        n = vquery(r, v, err, errlen,
                   "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.number = ?", "ti", b->id,
                   num);
    } else if (num == 0) {
        n = vquery(r, v, err, errlen,
                   "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.number IS NULL"
                   " ORDER BY v.created_at",
                   "t", b->id);
        if (n > 1) {
            reg_vrow_dispose(v);
            return reg_fail(r, REG_EINVAL, err, errlen,
                            "version v0 of bucket '%s' is ambiguous (several incomplete "
                            "versions); use the fingerprint",
                            b->name);
        }
    } else {
        n = vquery(r, v, err, errlen,
                   "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.fingerprint = ?", "tt",
                   b->id, ref);
        if (n == 0)
            n = vquery(r, v, err, errlen,
                       "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.id = ?", "tt", b->id,
                       ref);
    }
    if (n < 0)
        return -1;
    if (n == 0)
        return reg_fail(r, REG_ENOTFOUND, err, errlen,
                        "version '%.60s' of bucket '%s' does not exist", ref, b->name);
    return 0;
}

int reg_version_load_id(registry *r, const char *id, reg_vrow *v, bool *found, char *err,
                        size_t errlen)
{
    memset(v, 0, sizeof *v);
    int n = vquery(r, v, err, errlen, "SELECT " VERSION_COLS " WHERE v.id = ?", "t", id);
    if (n < 0)
        return -1;
    *found = n > 0;
    return 0;
}

int reg_version_valid(registry *r, const reg_ctx *ctx, const char *version_id, bool *valid,
                      char *err, size_t errlen)
{
    int64_t ok = 0;
    int rc = db_query_int64(r->d, &ok,
                            "SELECT CASE WHEN v.number IS NOT NULL AND " NOT_REVOKED_AT(
                                "v.id") " THEN 1 ELSE 0 END FROM versions v WHERE v.id = ?",
                            "Tt", ctx->now, version_id);
    if (rc < 0)
        return reg_dbfail(r, err, errlen);
    *valid = rc == 1 && ok == 1;
    return 0;
}

int reg_latest_version_id(registry *r, const reg_ctx *ctx, const char *bucket_id, char **id,
                          char *err, size_t errlen)
{
    *id = NULL;
    db_stmt *s =
        db_query(r->d,
                 "SELECT v.id FROM versions v WHERE v.bucket_id = ? AND v.number IS NOT NULL"
                 " AND " NOT_REVOKED_AT("v.id") " ORDER BY v.number DESC LIMIT 1",
                 "tT", bucket_id, ctx->now);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1)
        *id = db_column_dup(s, 0);
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int reg_version_insert(registry *r, const reg_ctx *ctx, const reg_brow *b, const char *fingerprint,
                       reg_vrow *out, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    if (db_run(r->d,
               "INSERT INTO versions (id, bucket_id, fingerprint, number, author_id, completed_at,"
               " created_at, updated_at) VALUES (?, ?, ?, NULL, ?, NULL, ?, ?)",
               "ttttTT", id, b->id, fingerprint, ctx->author, ctx->now, ctx->now) < 0)
        return reg_dbfail(r, err, errlen);
    memset(out, 0, sizeof *out);
    out->id = xstrdup(id);
    out->bucket_id = xstrdup(b->id);
    out->bucket_name = xstrdup(b->name);
    out->fingerprint = xstrdup(fingerprint);
    out->author = xstrdup(ctx->author);
    out->number = 0;
    out->completed_at = IG_TIME_NONE;
    out->created_at = out->updated_at = ctx->now;
    return 0;
}

int reg_version_complete_if_done(registry *r, const reg_ctx *ctx, reg_vrow *v, bool *completed,
                                 char *err, size_t errlen)
{
    *completed = false;
    if (v->number > 0)
        return 0;
    int64_t notdone = 0, total = 0;
    if (db_query_int64(r->d, &total, "SELECT COUNT(*) FROM builds WHERE version_id = ?", "t",
                       v->id) < 0 ||
        db_query_int64(r->d, &notdone,
                       "SELECT COUNT(*) FROM builds WHERE version_id = ? AND status <> ?", "tt",
                       v->id, "BUILD_DONE") < 0)
        return reg_dbfail(r, err, errlen);
    if (total == 0 || notdone > 0)
        return 0;
    int64_t number = 0;
    if (db_query_int64(r->d, &number,
                       "UPDATE buckets SET next_number = next_number + 1 WHERE id = ?"
                       " RETURNING next_number - 1",
                       "t", v->bucket_id) != 1 ||
        db_run(r->d,
               "UPDATE versions SET number = ?, completed_at = ?, updated_at = ? WHERE id = ?",
               "iTTt", number, ctx->now, ctx->now, v->id) < 0)
        return reg_dbfail(r, err, errlen);
    v->number = number;
    v->completed_at = v->updated_at = ctx->now;
    *completed = true;
    return 0;
}

/* ---- the version object ----------------------------------------------- */

/* Status of an incomplete version from its builds: a running build wins,
 * then a failed one, then a cancelled one; otherwise it waits for builds. */
static const char *incomplete_status(json_t *builds)
{
    bool running = false, failed = false, cancelled = false;
    size_t i;
    json_t *b;
    json_array_foreach(builds, i, b)
    {
        const char *st = json_string_value(json_object_get(b, "status"));
        if (!st)
            continue;
        running |= strcmp(st, "BUILD_RUNNING") == 0;
        failed |= strcmp(st, "BUILD_FAILED") == 0;
        cancelled |= strcmp(st, "BUILD_CANCELLED") == 0;
    }
    if (running || json_array_size(builds) == 0)
        return "VERSION_RUNNING";
    if (failed)
        return "VERSION_FAILED";
    if (cancelled)
        return "VERSION_CANCELLED";
    return "VERSION_INCOMPLETE";
}

static json_t *origin_json(const reg_revrow *rv)
{
    return json_pack("{s:s, s:s, s:s, s:s}", "bucket_name", rv->origin_bucket, "version",
                     rv->origin_name, "fingerprint", rv->origin_fingerprint, "version_id",
                     rv->origin_version_id);
}

static json_t *revocations_json(const reg_revrow *rows, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        const reg_revrow *rv = &rows[i];
        bool inherited = strcmp(rv->type, "INHERITED") == 0;
        json_array_append_new(arr,
                              json_pack("{s:s, s:o, s:o, s:s, s:o, s:b}", "type", rv->type,
                                        "revoke_at", reg_time_json(rv->revoke_at), "message",
                                        reg_str_json(rv->message), "author", rv->author,
                                        "inherited_from", inherited ? origin_json(rv) : json_null(),
                                        "skip_descendants", rv->skip_descendants));
    }
    return arr;
}

/* Array of {bucket_name, version, fingerprint, version_id}: the versions
 * holding an artifact that one of v's builds was built from. */
static json_t *parents_json(registry *r, const char *version_id, char *err, size_t errlen)
{
    db_stmt *s = db_query(r->d,
                          "SELECT DISTINCT bk.name, pv.number, pv.fingerprint, pv.id FROM builds b"
                          " JOIN artifacts a ON a.external_lower = b.source_lower"
                          " JOIN builds pb ON pb.id = a.build_id"
                          " JOIN versions pv ON pv.id = pb.version_id"
                          " JOIN buckets bk ON bk.id = pv.bucket_id"
                          " WHERE b.version_id = ? AND pv.id <> ?"
                          " ORDER BY bk.name, pv.number, pv.fingerprint, pv.id",
                          "tt", version_id, version_id);
    if (!s) {
        reg_dbfail(r, err, errlen);
        return NULL;
    }
    json_t *arr = json_array();
    int rc;
    while ((rc = db_step(s)) == 1) {
        char name[32];
        snprintf(name, sizeof name, "v%lld",
                 (long long)(db_column_is_null(s, 1) ? 0 : db_column_int64(s, 1)));
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:s}", "bucket_name", db_column_text(s, 0),
                                        "version", name, "fingerprint", db_column_text(s, 2),
                                        "version_id", db_column_text(s, 3)));
    }
    db_finalize(s);
    if (rc < 0) {
        json_decref(arr);
        reg_dbfail(r, err, errlen);
        return NULL;
    }
    return arr;
}

json_t *reg_version_json(registry *r, const reg_ctx *ctx, const reg_vrow *v, char *err,
                         size_t errlen)
{
    json_t *builds = NULL, *parents = NULL, *out = NULL;
    reg_revrow *rows = NULL;
    size_t n = 0;
    if (!(builds = reg_builds_json(r, v->id, NULL, err, errlen)) ||
        !(parents = parents_json(r, v->id, err, errlen)) ||
        reg_revocations_load(r, v->id, &rows, &n, err, errlen) < 0)
        goto done;
    const reg_revrow *eff = n ? &rows[0] : NULL;
    const char *status;
    if (v->number == 0)
        status = incomplete_status(builds);
    else if (!eff)
        status = "VERSION_ACTIVE";
    else if (eff->revoke_at <= ctx->now)
        status = "VERSION_REVOKED";
    else
        status = "VERSION_REVOCATION_SCHEDULED";
    bool inherited = eff && strcmp(eff->type, "INHERITED") == 0;
    char name[32];
    out = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:o, s:o, s:o, s:o, s:o, s:O, s:o, s:o, s:o, s:o}",
        "id", v->id, "bucket_name", v->bucket_name, "fingerprint", v->fingerprint, "name",
        reg_vrow_name(v, name), "status", status, "author_id", v->author, "builds", builds,
        "revoke_at", reg_time_json(eff ? eff->revoke_at : IG_TIME_NONE), "revocation_message",
        reg_str_json(eff ? eff->message : NULL), "revocation_author",
        reg_str_json(eff ? eff->author : NULL), "revocation_type",
        reg_str_json(eff ? eff->type : NULL), "revocation_inherited_from",
        inherited ? origin_json(eff) : json_null(), "parents", parents, "revocations",
        revocations_json(rows, n), "created_at", reg_time_json(v->created_at), "updated_at",
        reg_time_json(v->updated_at), "completed_at", reg_time_json(v->completed_at));
done:
    json_decref(builds);
    json_decref(parents);
    for (size_t i = 0; i < n; i++)
        reg_revrow_dispose(&rows[i]);
    free(rows);
    return out;
}

/* ---- public ----------------------------------------------------------- */

json_t *registry_version_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                             char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    json_t *out = NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) == 0 &&
        reg_version_load(r, &b, ref, &v, err, errlen) == 0)
        out = reg_version_json(r, ctx, &v, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

json_t *registry_version_list(registry *r, const reg_ctx *ctx, const char *bucket, reg_page *page,
                              char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow *rows = NULL;
    size_t n = 0, cap = 0;
    json_t *arr = NULL;
    int64_t limit = INT32_MAX, offset = 0;
    if (page) {
        page->next_page_token = NULL;
        if (page->page_size < 0) {
            reg_fail(r, REG_EINVAL, err, errlen, "page_size: must not be negative");
            return NULL;
        }
        if (page->page_size > 0)
            limit = page->page_size;
        char e2[64];
        if (page->page_token && *page->page_token &&
            parse_int64("page_token", page->page_token, 0, INT32_MAX, &offset, e2, sizeof e2) < 0) {
            reg_fail(r, REG_EINVAL, err, errlen, "page_token: not a token this server made");
            return NULL;
        }
    }
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0)
        return NULL;
    /* incomplete versions first, then newest number first */
    db_stmt *s = db_query(r->d,
                          "SELECT " VERSION_COLS " WHERE v.bucket_id = ?"
                          " ORDER BY CASE WHEN v.number IS NULL THEN 0 ELSE 1 END,"
                          " v.number DESC, v.created_at DESC, v.id DESC LIMIT ? OFFSET ?",
                          "tii", b.id, limit + 1, offset);
    if (!s) {
        reg_dbfail(r, err, errlen);
        goto done;
    }
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&rows, &cap, n + 1, sizeof *rows);
        vrow_fill(s, &rows[n++]);
    }
    db_finalize(s);
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
        goto done;
    }
    arr = json_array();
    for (size_t i = 0; i < n && (int64_t)i < limit; i++) {
        json_t *j = reg_version_json(r, ctx, &rows[i], err, errlen);
        if (!j) {
            json_decref(arr);
            arr = NULL;
            goto done;
        }
        json_array_append_new(arr, j);
    }
    if (page && page->page_size > 0 && (int64_t)n > limit)
        page->next_page_token = xasprintf("%lld", (long long)(offset + limit));
done:
    for (size_t i = 0; i < n; i++)
        reg_vrow_dispose(&rows[i]);
    free(rows);
    reg_brow_dispose(&b);
    return arr;
}

json_t *registry_version_create(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *fingerprint, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    json_t *out = NULL;
    if (registry_valid_fingerprint(fingerprint, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0)
        goto fail;
    int n = vquery(r, &v, err, errlen,
                   "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.fingerprint = ?", "tt",
                   b.id, fingerprint);
    if (n < 0)
        goto fail;
    if (n > 0 && v.number > 0) {
        char name[32];
        reg_fail(r, REG_ECONFLICT, err, errlen,
                 "fingerprint '%s' already names complete version %s of bucket '%s'", fingerprint,
                 reg_vrow_name(&v, name), bucket);
        goto fail;
    }
    if (n == 0 && (reg_version_insert(r, ctx, &b, fingerprint, &v, err, errlen) < 0 ||
                   reg_audit(r, ctx, "version.create", bucket, fingerprint,
                             json_pack("{s:s}", "fingerprint", fingerprint), err, errlen) < 0))
        goto fail;
    if (!(out = reg_version_json(r, ctx, &v, err, errlen)) || reg_tx_commit(r, err, errlen) < 0)
        goto fail;
    goto done;
fail:
    json_decref(out);
    out = NULL;
    reg_tx_abort(r);
done:
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* Names of the user channels holding version_id, comma-separated (new
 * string) or NULL when none. */
static int channels_holding(registry *r, const char *version_id, char **names, char *err,
                            size_t errlen)
{
    *names = NULL;
    db_stmt *s = db_query(r->d, "SELECT name FROM channels WHERE version_id = ? ORDER BY name", "t",
                          version_id);
    if (!s)
        return reg_dbfail(r, err, errlen);
    strbuf sb = STRBUF_INIT;
    int rc;
    while ((rc = db_step(s)) == 1) {
        if (sb.len)
            strbuf_puts(&sb, ", ");
        strbuf_puts(&sb, db_column_text(s, 0));
    }
    db_finalize(s);
    if (rc < 0) {
        strbuf_dispose(&sb);
        return reg_dbfail(r, err, errlen);
    }
    *names = sb.len ? strbuf_steal(&sb) : NULL;
    strbuf_dispose(&sb);
    return 0;
}

int registry_version_delete(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                            char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    char *held = NULL;
    char name[32];
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0 ||
        reg_version_load(r, &b, ref, &v, err, errlen) < 0 ||
        channels_holding(r, v.id, &held, err, errlen) < 0)
        goto fail;
    reg_vrow_name(&v, name);
    if (held) {
        reg_fail(r, REG_ECONFLICT, err, errlen,
                 "version %s of bucket '%s' is assigned to channel(s) %s; unset them first", name,
                 bucket, held);
        goto fail;
    }
    if (db_run(r->d, "DELETE FROM versions WHERE id = ?", "t", v.id) < 0) {
        reg_dbfail(r, err, errlen);
        goto fail;
    }
    if (reg_audit(r, ctx, "version.delete", bucket, name,
                  json_pack("{s:s, s:s, s:s}", "version", name, "fingerprint", v.fingerprint,
                            "version_id", v.id),
                  err, errlen) < 0 ||
        reg_tx_commit(r, err, errlen) < 0)
        goto fail;
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return 0;
fail:
    reg_tx_abort(r);
    free(held);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return -1;
}
