/* Versions: lookup by name / fingerprint / id, the version object, status
 * at read time, completion and numbering, create / list / delete.
 *
 * Nothing about a version's state is cached: its name comes from `number`
 * (NULL until every build is done), its status from its builds and from the
 * earliest of its revocation rows compared with ctx->now, `latest` from a
 * query. So moving the clock (a scheduled revocation coming due) needs no
 * job and no write.
 *
 * Version objects are made for a set of versions at once (a page of a list,
 * the latest versions of a page of buckets, or one version): builds with
 * artifacts, parents, descendants and revocations are one query each over
 * the set's ids (vparts, reg_query_set), not four queries per version. */
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
    " v.created_at, v.updated_at, v.template_type FROM versions v"                                 \
    " JOIN buckets b ON b.id = v.bucket_id"

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
    free(v->template_type);
    memset(v, 0, sizeof *v);
}

const char *reg_vrow_name(const reg_vrow *v, char buf[32])
{
    snprintf(buf, 32, "v%lld", (long long)v->number);
    return buf;
}

static void vrow_fill(db_stmt *s, void *row)
{
    reg_vrow *v = row;
    v->id = db_column_dup(s, 0);
    v->bucket_id = db_column_dup(s, 1);
    v->bucket_name = db_column_dup(s, 2);
    v->fingerprint = db_column_dup(s, 3);
    v->author = db_column_dup(s, 4);
    v->number = db_column_is_null(s, 5) ? 0 : db_column_int64(s, 5);
    v->completed_at = db_column_time(s, 6);
    v->created_at = db_column_time(s, 7);
    v->updated_at = db_column_time(s, 8);
    v->template_type = db_column_dup(s, 9);
}

static void vrow_dispose(void *v)
{
    reg_vrow_dispose(v);
}

static void vrow_first(db_stmt *s, size_t n, void *v)
{
    if (n == 0)
        vrow_fill(s, v);
}

/* Runs a query returning VERSION_COLS; fills v with the first row. Returns
 * the number of rows (0, 1, 2 meaning "more than one") or -1. */
static int vquery(registry *r, reg_vrow *v, char *err, size_t errlen, const char *sql,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int64_t n = reg_vquery_rows(r, 2, vrow_first, v, err, errlen, sql, fmt, ap);
    va_end(ap);
    if (n < 0)
        reg_vrow_dispose(v);
    return (int)n;
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

int reg_version_find(registry *r, const char *bucket, const char *ref, reg_brow *b, reg_vrow *v,
                     char *err, size_t errlen)
{
    memset(v, 0, sizeof *v);
    if (reg_bucket_load(r, bucket, b, err, errlen) < 0)
        return -1;
    return reg_version_load(r, b, ref, v, err, errlen);
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
                       const char *template_type, reg_vrow *out, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    if (db_run(r->d,
               "INSERT INTO versions (id, bucket_id, fingerprint, number, author_id, completed_at,"
               " created_at, updated_at, template_type) VALUES (?, ?, ?, NULL, ?, NULL, ?, ?, ?)",
               "ttttTTt", id, b->id, fingerprint, ctx->author, ctx->now, ctx->now,
               template_type) < 0)
        return reg_dbfail(r, err, errlen);
    memset(out, 0, sizeof *out);
    out->template_type = template_type ? xstrdup(template_type) : NULL;
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

/* imagegate's list of the parents (parent_versions): one {bucket_name,
 * version, fingerprint, version_id, channel_name, status} each. */
static json_t *parent_versions_json(const reg_parent *p, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            arr, json_pack("{s:s, s:o, s:s, s:s, s:o, s:s}", "bucket_name", p[i].bucket_name,
                           "version", json_sprintf("v%lld", (long long)p[i].number), "fingerprint",
                           p[i].fingerprint, "version_id", p[i].version_id, "channel_name",
                           reg_str_json(p[i].channel_name), "status", p[i].status));
    return arr;
}

/* The status of an incomplete or complete version at ctx->now. */
static const char *version_status(const reg_ctx *ctx, const reg_vrow *v, json_t *builds,
                                  const reg_revrow *eff)
{
    if (v->number == 0)
        return incomplete_status(builds);
    if (!eff)
        return "VERSION_ACTIVE";
    return eff->revoke_at <= ctx->now ? "VERSION_REVOKED" : "VERSION_REVOCATION_SCHEDULED";
}

/* What the objects of a set of versions need besides their rows: one query
 * per part for the whole set, each part an array indexed like the set. */
typedef struct vparts {
    size_t n;
    const char **ids;
    json_t **builds;
    reg_revrow **revs;
    size_t *nrevs;
    reg_parent **parents;
    size_t *nparents;
    bool *has_descendants;
} vparts;

static void vparts_dispose(vparts *p)
{
    for (size_t i = 0; i < p->n; i++) {
        json_decref(p->builds[i]);
        reg_revrows_free(p->revs[i], p->nrevs[i]);
        reg_parents_free(p->parents[i], p->nparents[i]);
    }
    free(p->ids);
    free(p->builds);
    free(p->revs);
    free(p->nrevs);
    free(p->parents);
    free(p->nparents);
    free(p->has_descendants);
}

static int vparts_load(registry *r, const reg_ctx *ctx, const reg_vrow *v, size_t n, vparts *p,
                       char *err, size_t errlen)
{
    size_t k = n ? n : 1;
    p->n = n;
    p->ids = xcalloc(k, sizeof *p->ids);
    p->builds = xcalloc(k, sizeof *p->builds);
    p->revs = xcalloc(k, sizeof *p->revs);
    p->nrevs = xcalloc(k, sizeof *p->nrevs);
    p->parents = xcalloc(k, sizeof *p->parents);
    p->nparents = xcalloc(k, sizeof *p->nparents);
    p->has_descendants = xcalloc(k, sizeof *p->has_descendants);
    for (size_t i = 0; i < n; i++)
        p->ids[i] = v[i].id;
    if (reg_builds_json_set(r, p->ids, n, p->builds, err, errlen) < 0 ||
        reg_parents_load_set(r, ctx, p->ids, n, p->parents, p->nparents, err, errlen) < 0 ||
        reg_has_descendants_set(r, p->ids, n, p->has_descendants, err, errlen) < 0 ||
        reg_revocations_load_set(r, p->ids, n, p->revs, p->nrevs, err, errlen) < 0)
        return -1;
    return 0;
}

/* The object of the i-th version of p (its row v). New reference. */
static json_t *version_object(const reg_ctx *ctx, const reg_vrow *v, const vparts *p, size_t i)
{
    const reg_revrow *eff = p->nrevs[i] ? &p->revs[i][0] : NULL;
    const char *pstatus = reg_parents_status(p->parents[i], p->nparents[i]);
    bool inherited = eff && strcmp(eff->type, "INHERITED") == 0;
    char name[32];
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:O, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o,"
        " s:o, s:o, s:o}",
        "id", v->id, "bucket_name", v->bucket_name, "fingerprint", v->fingerprint, "name",
        reg_vrow_name(v, name), "status", version_status(ctx, v, p->builds[i], eff), "author_id",
        v->author, "template_type", reg_str_json(v->template_type), "builds", p->builds[i],
        "revoke_at", reg_time_json(eff ? eff->revoke_at : IG_TIME_NONE), "revocation_message",
        reg_str_json(eff ? eff->message : NULL), "revocation_author",
        reg_str_json(eff ? eff->author : NULL), "revocation_type",
        reg_str_json(eff ? eff->type : NULL), "revocation_inherited_from",
        inherited ? origin_json(eff) : json_null(), "parents",
        pstatus ? json_pack("{s:s}", "status", pstatus) : json_null(), "parent_versions",
        parent_versions_json(p->parents[i], p->nparents[i]), "has_descendants",
        p->has_descendants[i], "revocations", revocations_json(p->revs[i], p->nrevs[i]),
        "created_at", reg_time_json(v->created_at), "updated_at", reg_time_json(v->updated_at),
        "completed_at", reg_time_json(v->completed_at));
}

int reg_versions_json(registry *r, const reg_ctx *ctx, const reg_vrow *v, size_t n, json_t *arr,
                      char *err, size_t errlen)
{
    vparts p;
    int rc = vparts_load(r, ctx, v, n, &p, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *o = version_object(ctx, &v[i], &p, i);
        if (!o)
            rc = reg_fail(r, REG_ESTORE, err, errlen, "out of memory making version %s", v[i].id);
        json_array_append_new(arr, o);
    }
    vparts_dispose(&p);
    return rc;
}

int reg_versions_json_ids(registry *r, const reg_ctx *ctx, const char *const *ids, size_t n,
                          json_t **out, char *err, size_t errlen)
{
    reg_rows rows = {.size = sizeof(reg_vrow), .fill = vrow_fill, .dispose = vrow_dispose};
    const char **want = xcalloc(n ? n : 1, sizeof *want), **got = NULL;
    size_t k = 0, hint = 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        out[i] = NULL;
        if (ids[i])
            want[k++] = ids[i];
    }
    int rc = reg_query_set(r, want, k, reg_rows_add, &rows, err, errlen,
                           "SELECT " VERSION_COLS " WHERE v.id IN (" DB_SET ")", "S") < 0
                 ? -1
                 : reg_versions_json(r, ctx, rows.v, rows.n, arr, err, errlen);
    got = xcalloc(rows.n ? rows.n : 1, sizeof *got);
    for (size_t i = 0; i < rows.n; i++)
        got[i] = ((reg_vrow *)rows.v)[i].id;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        size_t at = ids[i] ? reg_id_index(got, rows.n, ids[i], &hint) : SIZE_MAX;
        out[i] = at == SIZE_MAX ? NULL : json_incref(json_array_get(arr, at));
    }
    json_decref(arr);
    free(got);
    free(want);
    reg_rows_free(&rows);
    return rc;
}

json_t *reg_version_json(registry *r, const reg_ctx *ctx, const reg_vrow *v, char *err,
                         size_t errlen)
{
    json_t *arr = json_array();
    json_t *out = NULL;
    if (reg_versions_json(r, ctx, v, 1, arr, err, errlen) == 0)
        out = json_incref(json_array_get(arr, 0));
    json_decref(arr);
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
    if (reg_read_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_version_find(r, bucket, ref, &b, &v, err, errlen) == 0)
        out = reg_version_json(r, ctx, &v, err, errlen);
    reg_read_end(r);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* The objects of the first limit rows (a page read one row long). New
 * array, or NULL. */
static json_t *vrows_json(registry *r, const reg_ctx *ctx, const reg_rows *rows, int64_t limit,
                          char *err, size_t errlen)
{
    json_t *arr = json_array();
    size_t n = (int64_t)rows->n < limit ? rows->n : (size_t)limit;
    if (reg_versions_json(r, ctx, rows->v, n, arr, err, errlen) < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

json_t *registry_version_list(registry *r, const reg_ctx *ctx, const char *bucket, reg_page *page,
                              char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_rows rows = {.size = sizeof(reg_vrow), .fill = vrow_fill, .dispose = vrow_dispose};
    json_t *arr = NULL;
    int64_t limit, offset;
    /* incomplete versions first, then newest number first */
    if (reg_page_bounds(r, page, &limit, &offset, err, errlen) < 0 ||
        reg_read_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) == 0 &&
        reg_query_rows(r, 0, reg_rows_add, &rows, err, errlen,
                       "SELECT " VERSION_COLS " WHERE v.bucket_id = ?"
                       " ORDER BY CASE WHEN v.number IS NULL THEN 0 ELSE 1 END,"
                       " v.number DESC, v.created_at DESC, v.id DESC LIMIT ? OFFSET ?",
                       "tii", b.id, limit + 1, offset) >= 0 &&
        (arr = vrows_json(r, ctx, &rows, limit, err, errlen)) != NULL)
        reg_page_next(page, offset, limit, rows.n);
    reg_read_end(r);
    reg_rows_free(&rows);
    reg_brow_dispose(&b);
    return arr;
}

bool registry_valid_template_type(const char *t)
{
    return !t || strcmp(t, "HCL2") == 0 || strcmp(t, "JSON") == 0 ||
           strcmp(t, "TEMPLATE_TYPE_UNSET") == 0;
}

/* An incomplete version created without a template type takes the one a
 * later CreateVersion names (Packer resuming a build). */
static int version_adopt_template(registry *r, const reg_ctx *ctx, reg_vrow *v,
                                  const char *template_type, char *err, size_t errlen)
{
    if (!template_type || v->template_type)
        return 0;
    if (db_run(r->d, "UPDATE versions SET template_type = ?, updated_at = ? WHERE id = ?", "tTt",
               template_type, ctx->now, v->id) < 0)
        return reg_dbfail(r, err, errlen);
    v->template_type = xstrdup(template_type);
    v->updated_at = ctx->now;
    return 0;
}

json_t *registry_version_create(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *fingerprint, const char *template_type, char *err,
                                size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    json_t *out = NULL;
    if (registry_valid_fingerprint(fingerprint, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (template_type && strcmp(template_type, "TEMPLATE_TYPE_UNSET") == 0)
        template_type = NULL;
    if (!registry_valid_template_type(template_type)) {
        reg_fail(r, REG_EINVAL, err, errlen,
                 "template_type: '%.40s' is not HCL2, JSON or TEMPLATE_TYPE_UNSET", template_type);
        return NULL;
    }
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0)
        goto done;
    int n = vquery(r, &v, err, errlen,
                   "SELECT " VERSION_COLS " WHERE v.bucket_id = ? AND v.fingerprint = ?", "tt",
                   b.id, fingerprint);
    if (n < 0)
        goto done;
    if (n > 0 && v.number > 0) {
        char name[32];
        reg_fail(r, REG_ECONFLICT, err, errlen,
                 "fingerprint '%s' already names complete version %s of bucket '%s'", fingerprint,
                 reg_vrow_name(&v, name), bucket);
        goto done;
    }
    if (n > 0 && version_adopt_template(r, ctx, &v, template_type, err, errlen) < 0)
        goto done;
    if (n == 0 &&
        (reg_version_insert(r, ctx, &b, fingerprint, template_type, &v, err, errlen) < 0 ||
         reg_audit(r, ctx, "version.create", bucket, fingerprint,
                   json_pack("{s:s}", "fingerprint", fingerprint), err, errlen) < 0 ||
         reg_event_version(r, ctx, "create", v.id, NULL, err, errlen) < 0))
        goto done;
    out = reg_version_json(r, ctx, &v, err, errlen);
done:
    out = reg_tx_end_json(r, out, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* Names of the user channels holding version_id, comma-separated (new
 * string) or NULL when none. */
static void name_add(db_stmt *s, size_t n, void *arg)
{
    strbuf *sb = arg;
    (void)n;
    if (sb->len)
        strbuf_puts(sb, ", ");
    strbuf_puts(sb, db_column_text(s, 0));
}

static int channels_holding(registry *r, const char *version_id, char **names, char *err,
                            size_t errlen)
{
    strbuf sb = STRBUF_INIT;
    int64_t n = reg_query_rows(r, 0, name_add, &sb, err, errlen,
                               "SELECT name FROM channels WHERE version_id = ? ORDER BY name", "t",
                               version_id);
    *names = n >= 0 && sb.len ? strbuf_steal(&sb) : NULL;
    strbuf_dispose(&sb);
    return n < 0 ? -1 : 0;
}

int registry_version_delete(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                            char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b;
    reg_vrow v;
    char *held = NULL;
    char name[32];
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = reg_version_find(r, bucket, ref, &b, &v, err, errlen);
    if (rc == 0)
        rc = channels_holding(r, v.id, &held, err, errlen);
    reg_vrow_name(&v, name);
    if (rc == 0 && held)
        rc = reg_fail(r, REG_ECONFLICT, err, errlen,
                      "version %s of bucket '%s' is assigned to channel(s) %s; unset them first",
                      name, bucket, held);
    /* the event first: its payload is the version about to go */
    if (rc == 0)
        rc = reg_event_version(r, ctx, "delete", v.id, NULL, err, errlen);
    if (rc == 0 && db_run(r->d, "DELETE FROM versions WHERE id = ?", "t", v.id) < 0)
        rc = reg_dbfail(r, err, errlen);
    if (rc == 0)
        rc = reg_audit(r, ctx, "version.delete", bucket, name,
                       json_pack("{s:s, s:s, s:s}", "version", name, "fingerprint", v.fingerprint,
                                 "version_id", v.id),
                       err, errlen);
    rc = reg_tx_end(r, rc, err, errlen);
    free(held);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return rc;
}
