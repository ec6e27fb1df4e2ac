/* Packages of SBOMs (registry.h): a build's or a bucket's list, HCP's
 * ListBuildPackages / ListBucketPackages, and the search across the whole
 * registry behind `imagegate packages find` and GET /v1/packages.
 *
 * Both read sbom_packages (010_sbom) through one index: (bucket_id,
 * name_lower) or the SBOM's id for lists, name_lower for the search (on
 * SQLite the table itself is clustered by it). The search joins each row
 * to its SBOM, build, version and bucket by primary key; a second
 * statement reads the revocations of the versions found -- two statements
 * whatever the number of matches. Version rules are the caller's
 * (reg_package_query.keep, sbom/'s comparators): rows whose version the
 * caller refuses are dropped in C, then rows are grouped by version, and
 * the channels come from one read of the channels that hold a version plus
 * `latest` once per bucket in the answer. */
#include "registry/reg_internal.h"

#include "common/strbuf.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- lists ---------------------------------------------------------------- */

#define LIST_COLS                                                                                  \
    "p.name, p.version, p.purl, p.type, p.build_id, b.component_type, bk.name, v.number,"          \
    " v.fingerprint, s.id, s.name, s.format FROM sbom_packages p"                                  \
    " JOIN sboms s ON s.id = p.sbom_id JOIN builds b ON b.id = p.build_id"                         \
    " JOIN versions v ON v.id = p.version_id JOIN buckets bk ON bk.id = p.bucket_id"

static void list_row(db_stmt *s, size_t n, void *arg)
{
    (void)n;
    char vname[32];
    snprintf(vname, sizeof vname, "v%lld",
             db_column_is_null(s, 7) ? 0LL : (long long)db_column_int64(s, 7));
    json_t *sb = json_pack("{s:s, s:s, s:s}", "id", db_column_text(s, 9), "name",
                           db_column_text(s, 10), "format", db_column_text(s, 11));
    json_array_append_new(
        arg, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:[o], s:[]}", "name",
                       db_column_text(s, 0), "version", db_column_text(s, 1), "purl",
                       db_column_text(s, 2), "type", db_column_text(s, 3), "build_id",
                       db_column_text(s, 4), "build_name", db_column_text(s, 5), "bucket_name",
                       db_column_text(s, 6), "version_name", vname, "fingerprint",
                       db_column_text(s, 8), "sboms", sb, "vuln_details"));
}

/* "name desc" -> "p.name_lower DESC"; NULL when the field is not one. */
static const char *order_column(const char *spec, bool *desc)
{
    static const struct {
        const char *field, *col;
    } cols[] = {{"name", "p.name_lower"}, {"package_name", "p.name_lower"},
                {"version", "p.version"}, {"purl", "p.purl"},
                {"type", "p.type"},       {"build_id", "p.build_id"}};
    char f[32];
    size_t n = strcspn(spec, " ");
    const char *dir = spec + n + strspn(spec + n, " ");
    *desc = strcasecmp(dir, "desc") == 0;
    if (n >= sizeof f || (*dir && !*desc && strcasecmp(dir, "asc") != 0))
        return NULL;
    memcpy(f, spec, n);
    f[n] = '\0';
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        if (strcmp(f, cols[i].field) == 0)
            return cols[i].col;
    return NULL;
}

static int order_by(registry *r, const reg_package_filter *f, strbuf *sql, char *err, size_t errlen)
{
    strbuf_puts(sql, " ORDER BY ");
    for (size_t i = 0; f && i < f->n_order_by; i++) {
        bool desc;
        const char *col = order_column(f->order_by[i], &desc);
        if (!col)
            return reg_fail(r, REG_EINVAL, err, errlen,
                            "sorting.order_by: '%.40s' is not name, version, purl, type or "
                            "build_id (each optionally followed by asc or desc)",
                            f->order_by[i]);
        strbuf_printf(sql, "%s%s, ", col, desc ? " DESC" : "");
    }
    strbuf_puts(sql, "p.name_lower, p.version, p.build_id, p.sbom_id, p.seq");
    return 0;
}

/* Characters (not bytes) of a UTF-8 string: SQL's substr counts them. */
static int64_t utf8_chars(const char *s)
{
    int64_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

typedef struct list_args {
    const char *scope_col, *scope;
    char *name, *prefix;
    const char *version;
} list_args;

static json_t *list_query(registry *r, const list_args *a, const reg_package_filter *f,
                          reg_page *page, char *err, size_t errlen)
{
    int64_t limit, offset;
    if (reg_page_bounds(r, page, &limit, &offset, err, errlen) < 0)
        return NULL;
    strbuf sql = STRBUF_INIT;
    strbuf_printf(&sql,
                  "SELECT " LIST_COLS " WHERE %s = ?"
                  " AND (CAST(? AS TEXT) IS NULL OR p.name_lower = ?)"
                  " AND (CAST(? AS TEXT) IS NULL OR substr(p.name_lower, 1, ?) = ?)"
                  " AND (CAST(? AS TEXT) IS NULL OR p.version = ?)",
                  a->scope_col);
    json_t *arr = NULL;
    if (order_by(r, f, &sql, err, errlen) == 0) {
        strbuf_puts(&sql, " LIMIT ? OFFSET ?");
        arr =
            reg_query_json(r, list_row, err, errlen, sql.s, "ttttitttii", a->scope, a->name,
                           a->name, a->prefix, utf8_chars(a->prefix ? a->prefix : ""), a->prefix,
                           a->version, a->version, limit == INT32_MAX ? limit : limit + 1, offset);
    }
    strbuf_dispose(&sql);
    if (arr && page && page->page_size > 0 && (int64_t)json_array_size(arr) > limit) {
        json_array_remove(arr, json_array_size(arr) - 1);
        reg_page_next(page, offset, limit, (size_t)limit + 1);
    }
    return arr;
}

json_t *registry_package_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              const char *build, const reg_package_filter *f, reg_page *page,
                              char *err, size_t errlen)
{
    (void)ctx;
    REG_CALL(r);
    reg_brow b;
    reg_vrow v;
    memset(&b, 0, sizeof b);
    memset(&v, 0, sizeof v);
    char build_id[ULID_LEN + 1];
    bool done;
    list_args a = {0};
    json_t *out = NULL;
    int rc;
    if (build) {
        rc = reg_sbom_locate(r, bucket, ref, build, &v, build_id, &done, err, errlen);
        a.scope_col = "s.build_id";
        a.scope = build_id;
    } else {
        rc = reg_bucket_load(r, bucket, &b, err, errlen);
        a.scope_col = "p.bucket_id";
        a.scope = b.id;
    }
    if (rc == 0) {
        a.name = f && f->name && *f->name ? reg_lower(f->name) : NULL;
        a.prefix = f && f->name_prefix && *f->name_prefix ? reg_lower(f->name_prefix) : NULL;
        a.version = f && f->version && *f->version ? f->version : NULL;
        out = list_query(r, &a, f, page, err, errlen);
    }
    free(a.name);
    free(a.prefix);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* ---- the search ------------------------------------------------------------ */

#define FIND_SQL                                                                                   \
    "SELECT p.name, p.version, p.purl, p.type, p.build_id, b.component_type, b.platform, s.name,"  \
    " v.id, v.number, v.fingerprint, bk.name, bk.id"                                               \
    " FROM sbom_packages p JOIN sboms s ON s.id = p.sbom_id JOIN builds b ON b.id = p.build_id"    \
    " JOIN versions v ON v.id = p.version_id JOIN buckets bk ON bk.id = p.bucket_id"               \
    " WHERE p.name_lower = ?"                                                                      \
    " ORDER BY bk.name, CASE WHEN v.number IS NULL THEN 1 ELSE 0 END, v.number DESC,"              \
    " v.created_at, v.id, p.build_id, p.seq"

/* The revocation rows of the versions holding a package of that name,
 * effective (earliest) first per version: one statement instead of a
 * lookup per row (a correlated subquery per row cost PostgreSQL 170 ms of
 * the 5 000-version search, docs/performance.md). */
#define REVOCATIONS_SQL                                                                            \
    "SELECT rv.version_id, rv.revoke_at, rv.type FROM revocations rv WHERE rv.version_id IN"       \
    " (SELECT p.version_id FROM sbom_packages p WHERE p.name_lower = ?)"                           \
    " ORDER BY rv.version_id, rv.revoke_at, rv.id"

typedef struct find_state {
    registry *r;
    const reg_ctx *ctx;
    const reg_package_query *q;
    json_t *out;        /* the answer */
    json_t *cur;        /* its last entry */
    json_t *buckets;    /* bucket name -> bucket id, for `latest` */
    json_t *incomplete; /* entries of incomplete versions, status read later */
} find_state;

static json_t *version_entry(find_state *st, db_stmt *s)
{
    char vname[32];
    bool complete = !db_column_is_null(s, 9);
    snprintf(vname, sizeof vname, "v%lld", complete ? (long long)db_column_int64(s, 9) : 0LL);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:n, s:n, s:[], s:[]}", "bucket_name",
                          db_column_text(s, 11), "version", vname, "fingerprint",
                          db_column_text(s, 10), "version_id", db_column_text(s, 8), "status",
                          complete ? "VERSION_ACTIVE" : "VERSION_INCOMPLETE", "revoked", false,
                          "revoke_at", "revocation_type", "channels", "packages");
    json_object_set_new(st->buckets, db_column_text(s, 11), json_string(db_column_text(s, 12)));
    if (!complete)
        json_array_append(st->incomplete, e);
    return e;
}

/* version id -> its effective revocation [revoke_at, type]: the first row
 * of each version. */
static void revocation_row(db_stmt *s, size_t n, void *arg)
{
    (void)n;
    if (!json_object_get(arg, db_column_text(s, 0)))
        json_object_set_new(
            arg, db_column_text(s, 0),
            json_pack("[I, s]", (json_int_t)db_column_int64(s, 1), db_column_text(s, 2)));
}

/* The status of each complete version of the answer at ctx->now. */
static int revocation_statuses(find_state *st, const char *name_lower, char *err, size_t errlen)
{
    json_t *map = json_object(), *e;
    size_t i;
    if (reg_query_rows(st->r, 0, revocation_row, map, err, errlen, REVOCATIONS_SQL, "t",
                       name_lower) < 0) {
        json_decref(map);
        return -1;
    }
    json_array_foreach(st->out, i, e)
    {
        json_t *rv = json_object_get(map, json_string_value(json_object_get(e, "version_id")));
        if (!rv || strcmp(json_string_value(json_object_get(e, "status")), "VERSION_ACTIVE") != 0)
            continue;
        ig_time at = json_integer_value(json_array_get(rv, 0));
        bool revoked = at <= st->ctx->now;
        json_object_set_new(
            e, "status", json_string(revoked ? "VERSION_REVOKED" : "VERSION_REVOCATION_SCHEDULED"));
        json_object_set_new(e, "revoked", json_boolean(revoked));
        json_object_set_new(e, "revoke_at", reg_time_json(at));
        json_object_set(e, "revocation_type", json_array_get(rv, 1));
    }
    json_decref(map);
    return 0;
}

static void find_row(db_stmt *s, size_t n, void *arg)
{
    (void)n;
    find_state *st = arg;
    const char *type = db_column_text(s, 3), *version = db_column_text(s, 1);
    if (st->q->keep && !st->q->keep(type, version, st->q->arg))
        return;
    const char *vid = db_column_text(s, 8);
    if (!st->cur || strcmp(vid, json_string_value(json_object_get(st->cur, "version_id"))) != 0) {
        st->cur = version_entry(st, s);
        json_array_append_new(st->out, st->cur);
    }
    json_array_append_new(
        json_object_get(st->cur, "packages"),
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "name", db_column_text(s, 0),
                  "version", version, "purl", db_column_text(s, 2), "type", type, "build_id",
                  db_column_text(s, 4), "component_type", db_column_text(s, 5), "platform",
                  db_column_text(s, 6), "sbom", db_column_text(s, 7)));
}

/* An incomplete version's status is its builds' (the version object's). */
static int incomplete_statuses(find_state *st, char *err, size_t errlen)
{
    size_t i;
    json_t *e;
    json_array_foreach(st->incomplete, i, e)
    {
        reg_vrow v;
        bool found;
        if (reg_version_load_id(st->r, json_string_value(json_object_get(e, "version_id")), &v,
                                &found, err, errlen) < 0)
            return -1;
        json_t *vj = found ? reg_version_json(st->r, st->ctx, &v, err, errlen) : NULL;
        reg_vrow_dispose(&v);
        if (found && !vj)
            return -1;
        if (vj)
            json_object_set(e, "status", json_object_get(vj, "status"));
        json_decref(vj);
    }
    return 0;
}

static void channel_row(db_stmt *s, size_t n, void *arg)
{
    (void)n;
    json_t *map = arg, *names = json_object_get(map, db_column_text(s, 0));
    if (!names) {
        names = json_array();
        json_object_set_new(map, db_column_text(s, 0), names);
    }
    json_array_append_new(names, json_string(db_column_text(s, 1)));
}

/* version id -> [channel names]: the user channels holding a version, and
 * `latest` of each bucket of the answer. */
static json_t *channels_of(find_state *st, char *err, size_t errlen)
{
    json_t *map = json_object();
    if (reg_query_rows(st->r, 0, channel_row, map, err, errlen,
                       "SELECT version_id, name FROM channels WHERE version_id IS NOT NULL"
                       " ORDER BY name",
                       "") < 0)
        goto fail;
    const char *bucket;
    json_t *bid;
    json_object_foreach(st->buckets, bucket, bid)
    {
        char *latest = NULL;
        if (reg_latest_version_id(st->r, st->ctx, json_string_value(bid), &latest, err, errlen) < 0)
            goto fail;
        if (!latest)
            continue;
        json_t *names = json_object_get(map, latest);
        if (!names)
            json_object_set_new(map, latest, names = json_array());
        json_array_insert_new(names, 0, json_string("latest"));
        free(latest);
    }
    return map;
fail:
    json_decref(map);
    return NULL;
}

static bool holds(json_t *names, const char *channel)
{
    size_t i;
    json_t *c;
    json_array_foreach(names, i, c) if (strcmp(json_string_value(c), channel) == 0) return true;
    return false;
}

/* Gives every entry its channels; with a channel filter, drops the others. */
static json_t *with_channels(find_state *st, json_t *map)
{
    json_t *kept = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(st->out, i, e)
    {
        json_t *names = json_object_get(map, json_string_value(json_object_get(e, "version_id")));
        if (names)
            json_object_set(e, "channels", names);
        if (!st->q->channel || holds(names, st->q->channel))
            json_array_append(kept, e);
    }
    return kept;
}

json_t *registry_package_find(registry *r, const reg_ctx *ctx, const reg_package_query *q,
                              char *err, size_t errlen)
{
    REG_CALL(r);
    if (!q->name || !*q->name) {
        reg_fail(r, REG_EINVAL, err, errlen, "name: the package name to look for is required");
        return NULL;
    }
    find_state st = {r, ctx, q, json_array(), NULL, json_object(), json_array()};
    char *lower = reg_lower(q->name);
    json_t *map = NULL, *answer = NULL;
    if (reg_query_rows(r, 0, find_row, &st, err, errlen, FIND_SQL, "t", lower) >= 0 &&
        revocation_statuses(&st, lower, err, errlen) == 0 &&
        incomplete_statuses(&st, err, errlen) == 0 && (map = channels_of(&st, err, errlen)))
        answer = with_channels(&st, map);
    free(lower);
    json_decref(map);
    json_decref(st.out);
    json_decref(st.buckets);
    json_decref(st.incomplete);
    return answer;
}
