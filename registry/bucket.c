/* Buckets: the named containers of versions and channels.
 *
 * A bucket carries the per-bucket version counter (next_number), bumped with
 * UPDATE ... RETURNING when a version completes, so numbers are handed out
 * in completion order and never reused, also under concurrent writers
 * (the row lock serialises them on PostgreSQL, BEGIN IMMEDIATE on SQLite).
 * `latest_version` is not stored: it is computed on every read. */
#include "registry/reg_internal.h"

#include "common/numparse.h"
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

static void brow_fill(db_stmt *s, reg_brow *b)
{
    b->id = db_column_dup(s, 0);
    b->name = db_column_dup(s, 1);
    b->description = db_column_dup(s, 2);
    b->labels = db_column_dup(s, 3);
    b->created_at = db_column_time(s, 4);
    b->updated_at = db_column_time(s, 5);
}

int reg_bucket_lookup(registry *r, const char *name, reg_brow *b, bool *found, char *err,
                      size_t errlen)
{
    memset(b, 0, sizeof *b);
    *found = false;
    db_stmt *s = db_query(r->d, "SELECT " BUCKET_COLS " FROM buckets WHERE name = ?", "t", name);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        brow_fill(s, b);
        *found = true;
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
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

/* The bucket object of registry.h. New reference. */
static json_t *bucket_json(registry *r, const reg_ctx *ctx, const reg_brow *b, char *err,
                           size_t errlen)
{
    json_t *latest = NULL, *out = NULL;
    char *latest_id = NULL;
    reg_vrow v = {0};
    int64_t count = 0;
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
    out = json_pack("{s:s, s:s, s:o, s:o, s:o, s:O, s:I}", "name", b->name, "description",
                    b->description, "labels", reg_labels_load(b->labels), "created_at",
                    reg_time_json(b->created_at), "updated_at", reg_time_json(b->updated_at),
                    "latest_version", latest ? latest : json_null(), "version_count",
                    (json_int_t)count);
done:
    json_decref(latest);
    free(latest_id);
    reg_vrow_dispose(&v);
    return out;
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
    if (reg_bucket_insert(r, ctx, name, description, labels, &b, err, errlen) < 0 ||
        !(out = bucket_json(r, ctx, &b, err, errlen)) || reg_tx_commit(r, err, errlen) < 0) {
        json_decref(out);
        out = NULL;
        reg_tx_abort(r);
    }
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

/* Page tokens are the decimal offset of the next page. */
static int page_bounds(registry *r, reg_page *page, int64_t *limit, int64_t *offset, char *err,
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

static void page_next(reg_page *page, int64_t offset, int64_t limit, size_t got)
{
    if (page && page->page_size > 0 && (int64_t)got > limit)
        page->next_page_token = xasprintf("%lld", (long long)(offset + limit));
}

json_t *registry_bucket_list(registry *r, const reg_ctx *ctx, reg_page *page, char *err,
                             size_t errlen)
{
    REG_CALL(r);
    int64_t limit, offset;
    if (page_bounds(r, page, &limit, &offset, err, errlen) < 0)
        return NULL;
    /* one row more than asked tells whether there is a next page */
    db_stmt *s =
        db_query(r->d, "SELECT " BUCKET_COLS " FROM buckets ORDER BY name LIMIT ? OFFSET ?", "ii",
                 limit + 1, offset);
    if (!s) {
        reg_dbfail(r, err, errlen);
        return NULL;
    }
    reg_brow *rows = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&rows, &cap, n + 1, sizeof *rows);
        brow_fill(s, &rows[n++]);
    }
    db_finalize(s);
    json_t *arr = rc < 0 ? NULL : json_array();
    if (rc < 0)
        reg_dbfail(r, err, errlen);
    for (size_t i = 0; arr && i < n && (int64_t)i < limit; i++) {
        json_t *b = bucket_json(r, ctx, &rows[i], err, errlen);
        if (!b) {
            json_decref(arr);
            arr = NULL;
            break;
        }
        json_array_append_new(arr, b);
    }
    if (arr)
        page_next(page, offset, limit, n);
    for (size_t i = 0; i < n; i++)
        reg_brow_dispose(&rows[i]);
    free(rows);
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
        goto fail;
    ltext = json_is_object(labels) ? reg_labels_dump(labels) : xstrdup(b.labels);
    const char *desc = description ? description : b.description;
    if (strcmp(desc, b.description) != 0 || strcmp(ltext, b.labels) != 0) {
        if (db_run(r->d,
                   "UPDATE buckets SET description = ?, labels = ?, updated_at = ? WHERE id = ?",
                   "ttTt", desc, ltext, ctx->now, b.id) < 0) {
            reg_dbfail(r, err, errlen);
            goto fail;
        }
        json_t *detail =
            json_pack("{s:s, s:o}", "description", desc, "labels", reg_labels_load(ltext));
        if (reg_audit(r, ctx, "bucket.update", name, name, detail, err, errlen) < 0)
            goto fail;
        /* desc may be b.description itself (only the labels change): copy first */
        char *newdesc = xstrdup(desc);
        free(b.description);
        free(b.labels);
        b.description = newdesc;
        b.labels = xstrdup(ltext);
        b.updated_at = ctx->now;
    }
    if (!(out = bucket_json(r, ctx, &b, err, errlen)) || reg_tx_commit(r, err, errlen) < 0)
        goto fail;
    goto done;
fail:
    json_decref(out);
    out = NULL;
    reg_tx_abort(r);
done:
    free(ltext);
    reg_brow_dispose(&b);
    return out;
}

int registry_bucket_delete(registry *r, const reg_ctx *ctx, const char *name, char *err,
                           size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    int64_t nversions = 0;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    if (reg_bucket_load(r, name, &b, err, errlen) < 0)
        goto fail;
    if (db_query_int64(r->d, &nversions, "SELECT COUNT(*) FROM versions WHERE bucket_id = ?", "t",
                       b.id) < 0 ||
        db_run(r->d, "DELETE FROM buckets WHERE id = ?", "t", b.id) < 0) {
        reg_dbfail(r, err, errlen);
        goto fail;
    }
    if (reg_audit(r, ctx, "bucket.delete", name, name,
                  json_pack("{s:I}", "versions", (json_int_t)nversions), err, errlen) < 0 ||
        reg_tx_commit(r, err, errlen) < 0)
        goto fail;
    reg_brow_dispose(&b);
    return 0;
fail:
    reg_tx_abort(r);
    reg_brow_dispose(&b);
    return -1;
}
