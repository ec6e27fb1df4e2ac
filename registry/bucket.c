/* Buckets: the named containers of versions and channels.
 *
 * A bucket carries the per-bucket version counter (next_number), bumped with
 * UPDATE ... RETURNING when a version completes, so numbers are handed out
 * in completion order and never reused, also under concurrent writers
 * (the row lock serialises them on PostgreSQL, BEGIN IMMEDIATE on SQLite).
 * `latest_version` is not stored: it is computed on every read.
 *
 * A bucket object rolls up its versions (count, latest, revoked and
 * scheduled, platforms, parents' and children's status). A list computes
 * them for its whole page at once, one query per kind of roll-up over the
 * page's bucket ids (bparts), never one per bucket: the per-bucket queries
 * cost 0.35 ms a bucket on a registry of 5 000 versions. One bucket is a
 * page of one, so both answers come from the same code. */
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

/* What the objects of a set of buckets need besides their rows, per bucket
 * (arrays indexed like ids): one query per kind of roll-up for the whole
 * set, whatever its size (a page of the list, or one bucket). */
typedef struct bparts {
    size_t n, hint;
    const char *const *ids;
    int64_t *count, *revoked, *scheduled;
    char **latest_id;                 /* the `latest` rule's (reg_latest_version_id), or NULL */
    char **complete_id;               /* the highest-numbered complete version's, or NULL */
    json_t **latest;                  /* the latest version's object */
    json_t **platforms;               /* the latest complete version's, new arrays */
    const char **parents, **children; /* static status strings or NULL */
} bparts;

static size_t bparts_at(bparts *p, db_stmt *s)
{
    return reg_id_index(p->ids, p->n, db_column_text(s, 0), &p->hint);
}

/* One row of the page's versions with one of their revocation times. */
typedef struct vrev {
    size_t bucket; /* index in bparts */
    char *id;
    int64_t number;    /* 0 while incomplete */
    ig_time revoke_at; /* IG_TIME_NONE: no revocation row */
} vrev;

typedef struct vrevs {
    bparts *p;
    vrev *v;
    size_t n, cap;
} vrevs;

static void vrev_row(db_stmt *s, size_t n, void *arg)
{
    vrevs *vr = arg;
    size_t i = bparts_at(vr->p, s);
    (void)n;
    if (i == SIZE_MAX)
        return;
    xgrow((void **)&vr->v, &vr->cap, vr->n + 1, sizeof *vr->v);
    vr->v[vr->n++] =
        (vrev){i, db_column_dup(s, 1), db_column_is_null(s, 2) ? 0 : db_column_int64(s, 2),
               db_column_time(s, 3)};
}

static int vrev_cmp(const void *a, const void *b)
{
    const vrev *x = a, *y = b;
    if (x->bucket != y->bucket)
        return x->bucket < y->bucket ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Takes version v[0..n) (one version's rows) into its bucket's roll-ups:
 * revoked at ctx->now when a row is due, scheduled when it has rows and
 * none is; the latest is the highest-numbered complete version with no
 * row due (the rule of reg_latest_version_id), the latest complete the
 * highest-numbered, revoked or not. */
static void vrev_take(bparts *p, const reg_ctx *ctx, const vrev *v, size_t n, int64_t *top,
                      int64_t *top_valid)
{
    size_t b = v->bucket;
    bool due = false, any = false;
    for (size_t k = 0; k < n; k++) {
        any |= v[k].revoke_at != IG_TIME_NONE;
        due |= v[k].revoke_at != IG_TIME_NONE && v[k].revoke_at <= ctx->now;
    }
    p->count[b]++;
    p->revoked[b] += due;
    p->scheduled[b] += any && !due;
    if (v->number > top[b]) {
        top[b] = v->number;
        free(p->complete_id[b]);
        p->complete_id[b] = xstrdup(v->id);
    }
    if (v->number > top_valid[b] && !due) {
        top_valid[b] = v->number;
        free(p->latest_id[b]);
        p->latest_id[b] = xstrdup(v->id);
    }
}

/* Counts, latest ids and revocation counts of every bucket of p, from one
 * read of its versions with their revocation rows: grouping these in SQL
 * (a temporary B-tree per GROUP BY) cost SQLite more than the read. */
static int bparts_counts(registry *r, const reg_ctx *ctx, bparts *p, char *err, size_t errlen)
{
    vrevs vr = {p, NULL, 0, 0};
    int64_t *top = xcalloc(p->n ? p->n : 1, sizeof *top);
    int64_t *top_valid = xcalloc(p->n ? p->n : 1, sizeof *top_valid);
    int64_t rc = reg_query_set(r, p->ids, p->n, vrev_row, &vr, err, errlen,
                               "SELECT v.bucket_id, v.id, v.number, rv.revoke_at FROM versions v"
                               " LEFT JOIN revocations rv ON rv.version_id = v.id"
                               " WHERE v.bucket_id IN (" DB_SET ")",
                               "S");
    if (vr.n)
        qsort(vr.v, vr.n, sizeof *vr.v, vrev_cmp);
    for (size_t i = 0, j; rc >= 0 && i < vr.n; i = j) {
        for (j = i + 1; j < vr.n && vrev_cmp(&vr.v[i], &vr.v[j]) == 0; j++)
            ;
        vrev_take(p, ctx, &vr.v[i], j - i, top, top_valid);
    }
    for (size_t i = 0; i < vr.n; i++)
        free(vr.v[i].id);
    free(vr.v);
    free(top_valid);
    free(top);
    return rc < 0 ? -1 : 0;
}

/* The platforms of a set of versions, each to its version's array. */
typedef struct platforms_set {
    const char **ids;
    size_t n, hint;
    json_t **out;
} platforms_set;

static void platform_row(db_stmt *s, size_t n, void *arg)
{
    platforms_set *ps = arg;
    (void)n;
    for (size_t i = 0; i < ps->n; i++) /* a version is in one bucket: one match */
        if (ps->ids[i] && strcmp(ps->ids[i], db_column_text(s, 0)) == 0) {
            json_array_append_new(ps->out[i], json_string(db_column_text(s, 1)));
            return;
        }
}

/* The parents' roll-up of the latest complete version of every bucket of
 * p. Where that version is the latest one, its object already carries it. */
static int bparts_parents(registry *r, const reg_ctx *ctx, bparts *p, char *err, size_t errlen)
{
    const char **ids = xcalloc(p->n ? p->n : 1, sizeof *ids);
    size_t *at = xcalloc(p->n ? p->n : 1, sizeof *at), k = 0;
    for (size_t i = 0; i < p->n; i++) {
        json_t *own = json_object_get(p->latest[i], "parents");
        if (p->latest[i] && p->complete_id[i] && strcmp(p->latest_id[i], p->complete_id[i]) == 0)
            p->parents[i] = json_string_value(json_object_get(own, "status"));
        else if (p->complete_id[i]) {
            at[k] = i;
            ids[k++] = p->complete_id[i];
        }
    }
    reg_parent **par = xcalloc(k ? k : 1, sizeof *par);
    size_t *npar = xcalloc(k ? k : 1, sizeof *npar);
    int rc = reg_parents_load_set(r, ctx, ids, k, par, npar, err, errlen);
    for (size_t j = 0; j < k; j++) {
        p->parents[at[j]] = reg_parents_status(par[j], npar[j]);
        reg_parents_free(par[j], npar[j]);
    }
    free(npar);
    free(par);
    free(at);
    free(ids);
    return rc;
}

/* HCP's bucket ancestry roll-ups: the parents of the latest complete
 * version (platforms too come from it) and the children built from any
 * version of the bucket. */
static int bparts_family(registry *r, const reg_ctx *ctx, bparts *p, char *err, size_t errlen)
{
    const char **cids = xcalloc(p->n ? p->n : 1, sizeof *cids);
    size_t k = 0;
    for (size_t i = 0; i < p->n; i++)
        if (p->complete_id[i])
            cids[k++] = p->complete_id[i];
    platforms_set ps = {(const char **)p->complete_id, p->n, 0, p->platforms};
    int rc =
        reg_query_set(r, cids, k, platform_row, &ps, err, errlen,
                      "SELECT version_id, platform FROM builds WHERE version_id IN (" DB_SET ")"
                      " AND platform <> '' GROUP BY version_id, platform"
                      " ORDER BY version_id, platform",
                      "S") < 0 ||
                bparts_parents(r, ctx, p, err, errlen) < 0 ||
                reg_children_status_set(r, ctx, p->ids, p->n, p->children, err, errlen) < 0
            ? -1
            : 0;
    free(cids);
    return rc;
}

static void bparts_dispose(bparts *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->latest_id[i]);
        free(p->complete_id[i]);
        json_decref(p->latest[i]);
        json_decref(p->platforms[i]);
    }
    free(p->count);
    free(p->revoked);
    free(p->scheduled);
    free(p->latest_id);
    free(p->complete_id);
    free(p->latest);
    free(p->platforms);
    free(p->parents);
    free(p->children);
}

static int bparts_load(registry *r, const reg_ctx *ctx, const char *const *ids, size_t n, bparts *p,
                       char *err, size_t errlen)
{
    size_t k = n ? n : 1;
    *p = (bparts){.n = n, .ids = ids};
    p->count = xcalloc(k, sizeof *p->count);
    p->revoked = xcalloc(k, sizeof *p->revoked);
    p->scheduled = xcalloc(k, sizeof *p->scheduled);
    p->latest_id = xcalloc(k, sizeof *p->latest_id);
    p->complete_id = xcalloc(k, sizeof *p->complete_id);
    p->latest = xcalloc(k, sizeof *p->latest);
    p->platforms = xcalloc(k, sizeof *p->platforms);
    p->parents = xcalloc(k, sizeof *p->parents);
    p->children = xcalloc(k, sizeof *p->children);
    for (size_t i = 0; i < n; i++)
        p->platforms[i] = json_array();
    if (bparts_counts(r, ctx, p, err, errlen) < 0 ||
        reg_versions_json_ids(r, ctx, (const char *const *)p->latest_id, n, p->latest, err,
                              errlen) < 0)
        return -1;
    return bparts_family(r, ctx, p, err, errlen);
}

static json_t *status_json(const char *status)
{
    return status ? json_pack("{s:s}", "status", status) : json_null();
}

/* The object of registry.h for the i-th bucket of p (its row b). New
 * reference. */
static json_t *bucket_object(const reg_brow *b, const bparts *p, size_t i)
{
    return json_pack(
        "{s:s, s:s, s:s, s:o, s:o, s:o, s:O, s:I, s:O, s:o, s:o, s:I, s:I}", "id", b->id, "name",
        b->name, "description", b->description, "labels", reg_labels_load(b->labels), "created_at",
        reg_time_json(b->created_at), "updated_at", reg_time_json(b->updated_at), "latest_version",
        p->latest[i] ? p->latest[i] : json_null(), "version_count", (json_int_t)p->count[i],
        "platforms", p->platforms[i], "parents", status_json(p->parents[i]), "children",
        status_json(p->children[i]), "revoked_count", (json_int_t)p->revoked[i], "scheduled_count",
        (json_int_t)p->scheduled[i]);
}

/* The objects of buckets b[0..n), appended to arr in that order. */
static int buckets_json(registry *r, const reg_ctx *ctx, const reg_brow *b, size_t n, json_t *arr,
                        char *err, size_t errlen)
{
    const char **ids = xcalloc(n ? n : 1, sizeof *ids);
    bparts p;
    for (size_t i = 0; i < n; i++)
        ids[i] = b[i].id;
    int rc = bparts_load(r, ctx, ids, n, &p, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *o = bucket_object(&b[i], &p, i);
        if (!o)
            rc = reg_fail(r, REG_ESTORE, err, errlen, "out of memory making bucket %s", b[i].name);
        json_array_append_new(arr, o);
    }
    bparts_dispose(&p);
    free(ids);
    return rc;
}

/* The bucket object of registry.h. New reference. */
static json_t *bucket_json(registry *r, const reg_ctx *ctx, const reg_brow *b, char *err,
                           size_t errlen)
{
    json_t *arr = json_array(), *out = NULL;
    if (buckets_json(r, ctx, b, 1, arr, err, errlen) == 0)
        out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
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
    reg_brow b = {0};
    json_t *out = NULL;
    if (reg_read_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, name, &b, err, errlen) == 0)
        out = bucket_json(r, ctx, &b, err, errlen);
    reg_read_end(r);
    reg_brow_dispose(&b);
    return out;
}

static void brow_dispose(void *b)
{
    reg_brow_dispose(b);
}

/* The objects of the first limit rows (a page read one row long). New
 * array, or NULL. */
static json_t *brows_json(registry *r, const reg_ctx *ctx, const reg_rows *rows, int64_t limit,
                          char *err, size_t errlen)
{
    json_t *arr = json_array();
    size_t n = (int64_t)rows->n < limit ? rows->n : (size_t)limit;
    if (buckets_json(r, ctx, rows->v, n, arr, err, errlen) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
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
    if (reg_page_bounds(r, page, &limit, &offset, err, errlen) < 0 ||
        reg_read_begin(r, err, errlen) < 0) {
        free(like);
        return NULL;
    }
    if (reg_query_rows(r, 0, reg_rows_add, &rows, err, errlen,
                       "SELECT " BUCKET_COLS " FROM buckets WHERE CAST(? AS TEXT) IS NULL"
                       " OR lower(name) LIKE ? ESCAPE '\\' OR lower(description) LIKE ? ESCAPE '\\'"
                       " ORDER BY name LIMIT ? OFFSET ?",
                       "tttii", like, like, like, limit + 1, offset) >= 0 &&
        (arr = brows_json(r, ctx, &rows, limit, err, errlen)) != NULL)
        reg_page_next(page, offset, limit, rows.n);
    reg_read_end(r);
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
