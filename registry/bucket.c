/* Buckets: the named containers of versions and channels.
 *
 * A bucket carries the per-bucket version counter (next_number), bumped with
 * UPDATE ... RETURNING when a version completes, so numbers are handed out
 * in completion order and never reused, also under concurrent writers
 * (the row lock serialises them on PostgreSQL, BEGIN IMMEDIATE on SQLite).
 * `latest_version` is not stored: it is computed on every read. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUCKET_COLS "id, name, description, labels, created_at, updated_at"

void reg_brow_dispose(reg_brow *b)
{
    free(b->id);
    free(b->name);
    free(b->description);
    free(b->labels);
    memset(b, 0, sizeof *b);
}

static void brow_fill(db_stmt *s, void *row)
{
    reg_brow *b = row;
    b->id = db_column_dup(s, 0);
    b->name = db_column_dup(s, 1);
    b->description = db_column_dup(s, 2);
    b->labels = db_column_dup(s, 3);
    b->created_at = db_column_time(s, 4);
    b->updated_at = db_column_time(s, 5);
}

static void brow_row(db_stmt *s, size_t n, void *b)
{
    (void)n;
    brow_fill(s, b);
}

int reg_bucket_lookup(registry *r, const char *name, reg_brow *b, bool *found, char *err,
                      size_t errlen)
{
    memset(b, 0, sizeof *b);
    int64_t n = reg_query_rows(r, 1, brow_row, b, err, errlen,
                               "SELECT " BUCKET_COLS " FROM buckets WHERE name = ?", "t", name);
    *found = n > 0;
    return n < 0 ? -1 : 0;
}

int reg_bucket_load(registry *r, const char *name, reg_brow *b, char *err, size_t errlen)
{
    bool found;
    if (reg_bucket_lookup(r, name, b, &found, err, errlen) < 0)
        return -1;
    if (!found)
        return reg_fail(r, REG_ENOTFOUND, err, errlen, "bucket '%.60s' does not exist", name);
    return 0;
}

int reg_bucket_check_fields(registry *r, const char *description, json_t *labels, char *err,
                            size_t errlen)
{
    if (reg_text_check(r, description, REG_MAX_DESCRIPTION, "description", err, errlen) < 0)
        return -1;
    return reg_labels_check(r, labels, "labels", err, errlen);
}

int reg_bucket_insert(registry *r, const reg_ctx *ctx, const char *name, const char *description,
                      json_t *labels, reg_brow *out, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    char *ltext = reg_labels_dump(json_is_object(labels) ? labels : NULL);
    int64_t rc =
        db_run(r->d,
               "INSERT INTO buckets (id, name, description, labels, next_number,"
               " created_at, updated_at) VALUES (?, ?, ?, ?, 1, ?, ?)",
               "ttttTT", id, name, description ? description : "", ltext, ctx->now, ctx->now);
    if (rc < 0) {
        free(ltext);
        if (db_errcode(r->d) == REG_ECONFLICT)
            return reg_fail(r, REG_ECONFLICT, err, errlen, "bucket '%s' already exists", name);
        return reg_dbfail(r, err, errlen);
    }
    memset(out, 0, sizeof *out);
    out->id = xstrdup(id);
    out->name = xstrdup(name);
    out->description = xstrdup(description ? description : "");
    out->labels = ltext;
    out->created_at = out->updated_at = ctx->now;
    json_t *detail = json_pack("{s:s, s:o}", "description", out->description, "labels",
                               reg_labels_load(out->labels));
    return reg_audit(r, ctx, "bucket.create", name, name, detail, err, errlen);
}

static void platform_add(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_string(db_column_text(s, 0)));
}

/* HCP's bucket ancestry roll-ups: the parents of the latest complete
 * version (platforms too come from it) and the children built from any
 * version of the bucket. *parents, *children: static status strings or
 * NULL; *platforms: new array. */
static int bucket_family(registry *r, const reg_ctx *ctx, const reg_brow *b, json_t **platforms,
                         const char **parents, const char **children, char *err, size_t errlen)
{
    char *id = NULL;
    reg_parent *p = NULL;
    size_t n = 0;
    *platforms = json_array();
    *parents = *children = NULL;
    int rc = reg_latest_complete_id(r, b->id, &id, err, errlen);
    if (rc == 0 && id &&
        (reg_query_rows(r, 0, platform_add, *platforms, err, errlen,
                        "SELECT DISTINCT platform FROM builds WHERE version_id = ?"
                        " AND platform <> '' ORDER BY platform",
                        "t", id) < 0 ||
         reg_parents_load(r, ctx, id, &p, &n, err, errlen) < 0))
        rc = -1;
    *parents = reg_parents_status(p, n);
    if (rc == 0)
        rc = reg_children_status(r, ctx, b, children, err, errlen);
    reg_parents_free(p, n);
    free(id);
    return rc;
}

static json_t *status_json(const char *status)
{
    return status ? json_pack("{s:s}", "status", status) : json_null();
}

/* How many of b's versions are revoked at ctx->now, and how many have a
 * revocation ahead: a version's effective revoke_at is the earliest of its
 * revocation rows (own or inherited). */
static int revocation_counts(registry *r, const reg_ctx *ctx, const reg_brow *b, int64_t *revoked,
                             int64_t *scheduled, char *err, size_t errlen)
{
    *revoked = *scheduled = 0;
    db_stmt *s = db_query(r->d,
                          "SELECT COALESCE(SUM(CASE WHEN m <= ? THEN 1 ELSE 0 END), 0),"
                          " COALESCE(SUM(CASE WHEN m > ? THEN 1 ELSE 0 END), 0) FROM ("
                          "SELECT MIN(rv.revoke_at) AS m FROM revocations rv"
                          " JOIN versions v ON v.id = rv.version_id WHERE v.bucket_id = ?"
                          " GROUP BY rv.version_id) x",
                          "TTt", ctx->now, ctx->now, b->id);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        *revoked = db_column_int64(s, 0);
        *scheduled = db_column_int64(s, 1);
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* The bucket object of registry.h. New reference. */
static json_t *bucket_json(registry *r, const reg_ctx *ctx, const reg_brow *b, char *err,
                           size_t errlen)
{
    json_t *latest = NULL, *out = NULL, *platforms = NULL;
    char *latest_id = NULL;
    const char *parents, *children;
    reg_vrow v = {0};
    int64_t count = 0, revoked = 0, scheduled = 0;
    if (reg_latest_version_id(r, ctx, b->id, &latest_id, err, errlen) < 0)
        goto done;
    if (latest_id) {
        bool found;
        if (reg_version_load_id(r, latest_id, &v, &found, err, errlen) < 0)
            goto done;
        if (!(latest = reg_version_json(r, ctx, &v, err, errlen)))
            goto done;
    }
    if (db_query_int64(r->d, &count, "SELECT COUNT(*) FROM versions WHERE bucket_id = ?", "t",
                       b->id) < 0) {
        reg_dbfail(r, err, errlen);
        goto done;
    }
    if (bucket_family(r, ctx, b, &platforms, &parents, &children, err, errlen) < 0 ||
        revocation_counts(r, ctx, b, &revoked, &scheduled, err, errlen) < 0)
        goto done;
    out = json_pack("{s:s, s:s, s:s, s:o, s:o, s:o, s:O, s:I, s:O, s:o, s:o, s:I, s:I}", "id",
                    b->id, "name", b->name, "description", b->description, "labels",
                    reg_labels_load(b->labels), "created_at", reg_time_json(b->created_at),
                    "updated_at", reg_time_json(b->updated_at), "latest_version",
                    latest ? latest : json_null(), "version_count", (json_int_t)count, "platforms",
                    platforms, "parents", status_json(parents), "children", status_json(children),
                    "revoked_count", (json_int_t)revoked, "scheduled_count", (json_int_t)scheduled);
done:
    json_decref(latest);
    json_decref(platforms);
    free(latest_id);
    reg_vrow_dispose(&v);
    return out;
}

int registry_bucket_exists(registry *r, const char *name, bool *exists, char *err, size_t errlen)
{
    REG_CALL(r);
    int64_t n = 0;
    if (db_query_int64(r->d, &n, "SELECT COUNT(*) FROM buckets WHERE name = ?", "t", name) < 0)
        return reg_dbfail(r, err, errlen);
    *exists = n > 0;
    return 0;
}

json_t *registry_bucket_create(registry *r, const reg_ctx *ctx, const char *name,
                               const char *description, json_t *labels, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    json_t *out = NULL;
    if (registry_valid_bucket_name(name, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (reg_bucket_check_fields(r, description, labels, err, errlen) < 0)
        return NULL;
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_insert(r, ctx, name, description, labels, &b, err, errlen) == 0)
        out = bucket_json(r, ctx, &b, err, errlen);
    out = reg_tx_end_json(r, out, err, errlen);
    reg_brow_dispose(&b);
    return out;
}

json_t *registry_bucket_get(registry *r, const reg_ctx *ctx, const char *name, char *err,
                            size_t errlen)
{
    REG_CALL(r);
    reg_brow b;
    if (reg_bucket_load(r, name, &b, err, errlen) < 0)
        return NULL;
    json_t *out = bucket_json(r, ctx, &b, err, errlen);
    reg_brow_dispose(&b);
    return out;
}

static void brow_dispose(void *b)
{
    reg_brow_dispose(b);
}

static json_t *brow_json(registry *r, const reg_ctx *ctx, const void *b, char *err, size_t errlen)
{
    return bucket_json(r, ctx, b, err, errlen);
}

json_t *registry_bucket_list(registry *r, const reg_ctx *ctx, reg_page *page, char *err,
                             size_t errlen)
{
    return registry_bucket_search(r, ctx, NULL, page, err, errlen);
}

/* "%filter%" for LIKE, ASCII-lowercased, with %, _ and the escape
 * character (a backslash) escaped. New string. */
static char *like_pattern(const char *filter)
{
    char *p = xmalloc(2 * strlen(filter) + 3), *o = p;
    *o++ = '%';
    for (const char *c = filter; *c; c++) {
        if (*c == '%' || *c == '_' || *c == '\\')
            *o++ = '\\';
        *o++ = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
    }
    *o++ = '%';
    *o = '\0';
    return p;
}

json_t *registry_bucket_search(registry *r, const reg_ctx *ctx, const char *filter, reg_page *page,
                               char *err, size_t errlen)
{
    REG_CALL(r);
    reg_rows rows = {.size = sizeof(reg_brow), .fill = brow_fill, .dispose = brow_dispose};
    int64_t limit, offset;
    json_t *arr = NULL;
    char *like = filter && *filter ? like_pattern(filter) : NULL;
    /* one row more than asked tells whether there is a next page */
    if (reg_page_bounds(r, page, &limit, &offset, err, errlen) == 0 &&
        reg_query_rows(r, 0, reg_rows_add, &rows, err, errlen,
                       "SELECT " BUCKET_COLS " FROM buckets WHERE CAST(? AS TEXT) IS NULL"
                       " OR lower(name) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\'"
                       " ORDER BY name LIMIT ? OFFSET ?",
                       "tttii", like, like, like, limit + 1, offset) >= 0 &&
        (arr = reg_rows_json(r, ctx, &rows, limit, brow_json, err, errlen)) != NULL)
        reg_page_next(page, offset, limit, rows.n);
    reg_rows_free(&rows);
    free(like);
    return arr;
}

json_t *registry_bucket_update(registry *r, const reg_ctx *ctx, const char *name,
                               const char *description, json_t *labels, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    json_t *out = NULL;
    char *ltext = NULL;
    if (reg_bucket_check_fields(r, description, labels, err, errlen) < 0)
        return NULL;
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, name, &b, err, errlen) < 0)
        goto done;
    ltext = json_is_object(labels) ? reg_labels_dump(labels) : xstrdup(b.labels);
    const char *desc = description ? description : b.description;
    if (strcmp(desc, b.description) != 0 || strcmp(ltext, b.labels) != 0) {
        if (db_run(r->d,
                   "UPDATE buckets SET description = ?, labels = ?, updated_at = ? WHERE id = ?",
                   "ttTt", desc, ltext, ctx->now, b.id) < 0) {
            reg_dbfail(r, err, errlen);
            goto done;
        }
        json_t *detail =
            json_pack("{s:s, s:o}", "description", desc, "labels", reg_labels_load(ltext));
        if (reg_audit(r, ctx, "bucket.update", name, name, detail, err, errlen) < 0)
            goto done;
        /* desc may be b.description itself (only the labels change): copy first */
        char *newdesc = xstrdup(desc);
        free(b.description);
        free(b.labels);
        b.description = newdesc;
        b.labels = xstrdup(ltext);
        b.updated_at = ctx->now;
    }
    out = bucket_json(r, ctx, &b, err, errlen);
done:
    out = reg_tx_end_json(r, out, err, errlen);
    free(ltext);
    reg_brow_dispose(&b);
    return out;
}

static void id_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_string(db_column_text(s, 0)));
}

/* A delete event for each version of the bucket, made before they go. */
static int delete_events(registry *r, const reg_ctx *ctx, const reg_brow *b, char *err,
                         size_t errlen)
{
    json_t *ids = reg_query_json(r, id_row, err, errlen,
                                 "SELECT id FROM versions WHERE bucket_id = ?"
                                 " ORDER BY CASE WHEN number IS NULL THEN 1 ELSE 0 END, number,"
                                 " created_at, id",
                                 "t", b->id);
    size_t i;
    json_t *id;
    int rc = ids ? 0 : -1;
    json_array_foreach(ids, i, id)
    {
        if (rc == 0)
            rc = reg_event_version(r, ctx, "delete", json_string_value(id), NULL, err, errlen);
    }
    json_decref(ids);
    return rc;
}

int registry_bucket_delete(registry *r, const reg_ctx *ctx, const char *name, char *err,
                           size_t errlen)
{
    REG_CALL(r);
    reg_brow b;
    int64_t nversions = 0;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = reg_bucket_load(r, name, &b, err, errlen);
    if (rc == 0)
        rc = delete_events(r, ctx, &b, err, errlen);
    if (rc == 0 &&
        (db_query_int64(r->d, &nversions, "SELECT COUNT(*) FROM versions WHERE bucket_id = ?", "t",
                        b.id) < 0 ||
         db_run(r->d, "DELETE FROM buckets WHERE id = ?", "t", b.id) < 0))
        rc = reg_dbfail(r, err, errlen);
    if (rc == 0)
        rc = reg_audit(r, ctx, "bucket.delete", name, name,
                       json_pack("{s:I}", "versions", (json_int_t)nversions), err, errlen);
    rc = reg_tx_end(r, rc, err, errlen);
    reg_brow_dispose(&b);
    return rc;
}
