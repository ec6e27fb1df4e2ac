/* Ancestry: which versions a version was built from, and whether the
 * channel it was taken from still holds it (HCP's parents status).
 *
 * A parent is known two ways. Packer's UpdateBuild names it when the
 * build's source image came from an hcp-packer-* data source
 * (parent_version_id, and parent_channel_id when the data source read a
 * channel); and any version holding an artifact a build was made from
 * (source_external_identifier, the rule inheritance follows) is a parent
 * too -- imports know only this. Each parent gets a status: UP_TO_DATE
 * while the recorded channel still holds that parent, OUT_OF_DATE once it
 * holds another (or nothing, or the channel was deleted), UNDETERMINED when
 * no channel was recorded. A version's overall status is OUT_OF_DATE if
 * any parent is, else UNDETERMINED if any is, else UP_TO_DATE; a version
 * without parents has none (null).
 *
 * The computed `latest` channel has no row: its id is its bucket's id
 * (ULIDs never collide), so a parent_channel_id naming it is resolved to
 * the bucket's latest version at read time. Nothing here is stored or
 * cached; statuses follow channel moves at once (within one call a channel
 * is looked up once: chan_cache).
 *
 * The parents of a set of versions are one query; the children's roll-up
 * of a set of buckets is one query walked from the children's side (the
 * latest complete version of every bucket), whose cost follows the number
 * of buckets, not the number of versions and artifacts of the page's. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const UP_TO_DATE = "UP_TO_DATE";
static const char *const OUT_OF_DATE = "OUT_OF_DATE";
static const char *const UNDETERMINED = "UNDETERMINED";

void reg_parents_free(reg_parent *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].version_id);
        free(p[i].bucket_name);
        free(p[i].fingerprint);
        free(p[i].channel_id);
        free(p[i].channel_name);
        free(p[i].held_id);
        free(p[i].held_fingerprint);
    }
    free(p);
}

/* The overall status of cur (NULL: none yet) and one more status st:
 * OUT_OF_DATE wins, then UNDETERMINED, then UP_TO_DATE. */
static const char *rollup(const char *cur, const char *st)
{
    if (!cur || st == OUT_OF_DATE || (st == UNDETERMINED && cur == UP_TO_DATE))
        return st;
    return cur;
}

const char *reg_parents_status(const reg_parent *p, size_t n)
{
    const char *st = NULL;
    for (size_t i = 0; i < n; i++)
        st = rollup(st, p[i].status);
    return st;
}

/* What a channel id names now, looked up once per call: the parents of a
 * page of versions were mostly taken from the same few channels. */
typedef struct chan_seen {
    char *id;
    bool found;
    char *name;      /* its name ("latest" for a bucket's computed channel) */
    char *holds;     /* the id of the version it holds, or NULL */
    reg_parent held; /* that version: held_id, held_fingerprint, held_number */
} chan_seen;

typedef struct chan_cache {
    chan_seen *v;
    size_t n, cap;
} chan_cache;

static void chan_cache_dispose(chan_cache *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->v[i].id);
        free(c->v[i].name);
        free(c->v[i].holds);
        free(c->v[i].held.held_id);
        free(c->v[i].held.held_fingerprint);
    }
    free(c->v);
}

/* What channel id names now: its name and the id of the version it holds
 * (NULL when empty); *found false when no channel has that id. */
static int channel_by_id(registry *r, const reg_ctx *ctx, const char *channel_id, char **name,
                         char **holds, bool *found, char *err, size_t errlen)
{
    *name = *holds = NULL;
    *found = false;
    db_stmt *s =
        db_query(r->d, "SELECT name, version_id FROM channels WHERE id = ?", "t", channel_id);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        *name = db_column_dup(s, 0);
        *holds = db_column_dup(s, 1);
        *found = true;
    }
    db_finalize(s);
    if (rc < 0)
        return reg_dbfail(r, err, errlen);
    if (*found)
        return 0;
    int64_t is_bucket = 0; /* the computed `latest` channel: its bucket's id */
    if (db_query_int64(r->d, &is_bucket, "SELECT COUNT(*) FROM buckets WHERE id = ?", "t",
                       channel_id) < 0)
        return reg_dbfail(r, err, errlen);
    if (!is_bucket)
        return 0;
    *found = true;
    *name = xstrdup("latest");
    return reg_latest_version_id(r, ctx, channel_id, holds, err, errlen);
}

/* The entry of channel_id in c, looked up now when it is not there yet. */
static const chan_seen *channel_seen(registry *r, const reg_ctx *ctx, chan_cache *c,
                                     const char *channel_id, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->v[i].id, channel_id) == 0)
            return &c->v[i];
    chan_seen e = {.id = xstrdup(channel_id)};
    int rc = channel_by_id(r, ctx, channel_id, &e.name, &e.holds, &e.found, err, errlen);
    if (rc == 0 && e.holds) {
        reg_vrow v;
        bool vfound = false;
        rc = reg_version_load_id(r, e.holds, &v, &vfound, err, errlen);
        if (rc == 0 && vfound) {
            e.held.held_id = xstrdup(v.id);
            e.held.held_fingerprint = xstrdup(v.fingerprint);
            e.held.held_number = v.number;
        }
        reg_vrow_dispose(&v);
    }
    xgrow((void **)&c->v, &c->cap, c->n + 1, sizeof *c->v);
    c->v[c->n++] = e; /* kept after a failure too: freed with the cache */
    return rc == 0 ? &c->v[c->n - 1] : NULL;
}

/* Fills p's channel name, what the channel holds and p's status. */
static int parent_resolve(registry *r, const reg_ctx *ctx, chan_cache *c, reg_parent *p, char *err,
                          size_t errlen)
{
    if (!p->channel_id) {
        p->status = UNDETERMINED;
        return 0;
    }
    const chan_seen *e = channel_seen(r, ctx, c, p->channel_id, err, errlen);
    if (!e)
        return -1;
    p->channel_name = e->name ? xstrdup(e->name) : NULL;
    p->status =
        e->found && e->holds && strcmp(e->holds, p->version_id) == 0 ? UP_TO_DATE : OUT_OF_DATE;
    if (e->held.held_id) {
        p->held_id = xstrdup(e->held.held_id);
        p->held_fingerprint = xstrdup(e->held.held_fingerprint);
        p->held_number = e->held.held_number;
    }
    return 0;
}

/* The rows of the relation query, each to its child's list: one per
 * (child, parent, channel), ordered by child and parent, so a parent's rows
 * are adjacent; the first channel a build recorded is the parent's. */
typedef struct parents_set {
    const char *const *ids;
    size_t n, hint;
    reg_rows *out;
} parents_set;

static void parent_row(db_stmt *s, size_t n, void *arg)
{
    parents_set *ps = arg;
    (void)n;
    size_t i = reg_id_index(ps->ids, ps->n, db_column_text(s, 0), &ps->hint);
    if (i == SIZE_MAX)
        return;
    reg_rows *rows = &ps->out[i];
    const char *id = db_column_text(s, 1);
    reg_parent *last = rows->n ? &((reg_parent *)rows->v)[rows->n - 1] : NULL;
    if (last && strcmp(last->version_id, id) == 0) {
        if (!last->channel_id && !db_column_is_null(s, 5))
            last->channel_id = db_column_dup(s, 5);
        return;
    }
    xgrow(&rows->v, &rows->cap, rows->n + 1, rows->size);
    reg_parent *p = &((reg_parent *)rows->v)[rows->n++];
    memset(p, 0, sizeof *p);
    p->version_id = db_column_dup(s, 1);
    p->bucket_name = db_column_dup(s, 2);
    p->number = db_column_is_null(s, 3) ? 0 : db_column_int64(s, 3);
    p->fingerprint = db_column_dup(s, 4);
    p->channel_id = db_column_dup(s, 5);
}

/* Resolves every parent of out[0..n) against the channels (one cache). */
static int parents_resolve(registry *r, const reg_ctx *ctx, reg_rows *out, size_t n, char *err,
                           size_t errlen)
{
    chan_cache c = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (size_t k = 0; rc == 0 && k < out[i].n; k++)
            rc = parent_resolve(r, ctx, &c, &((reg_parent *)out[i].v)[k], err, errlen);
    chan_cache_dispose(&c);
    return rc;
}

int reg_parents_load_set(registry *r, const reg_ctx *ctx, const char *const *ids, size_t n,
                         reg_parent **out, size_t *counts, char *err, size_t errlen)
{
    reg_rows *rows = xcalloc(n ? n : 1, sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i].size = sizeof(reg_parent);
    parents_set ps = {ids, n, 0, rows};
    /* the pairs Packer recorded, and the versions holding a source image */
    int rc =
        reg_query_set(r, ids, n, parent_row, &ps, err, errlen,
                      "SELECT x.cid, pv.id, bk.name, pv.number, pv.fingerprint, x.channel_id"
                      " FROM (SELECT b.version_id AS cid, b.parent_version_id AS pid,"
                      " b.parent_channel_id AS channel_id FROM builds b"
                      " WHERE b.version_id IN (" DB_SET ") AND b.parent_version_id IS NOT NULL"
                      " UNION SELECT b.version_id AS cid, pb.version_id AS pid,"
                      " CAST(NULL AS TEXT) AS channel_id FROM builds b"
                      " JOIN artifacts a ON a.external_lower = b.source_lower"
                      " JOIN builds pb ON pb.id = a.build_id"
                      " WHERE b.version_id IN (" DB_SET ")) x"
                      " JOIN versions pv ON pv.id = x.pid JOIN buckets bk ON bk.id = pv.bucket_id"
                      " WHERE pv.id <> x.cid ORDER BY x.cid, bk.name, COALESCE(pv.number, 0),"
                      " pv.fingerprint, pv.id, COALESCE(x.channel_id, '')",
                      "SS") < 0
            ? -1
            : 0;
    if (rc == 0)
        rc = parents_resolve(r, ctx, rows, n, err, errlen);
    for (size_t i = 0; i < n; i++) {
        if (rc < 0) {
            reg_parents_free(rows[i].v, rows[i].n);
            rows[i].v = NULL;
            rows[i].n = 0;
        }
        out[i] = rows[i].v;
        counts[i] = rows[i].n;
    }
    free(rows);
    return rc;
}

int reg_parents_load(registry *r, const reg_ctx *ctx, const char *version_id, reg_parent **out,
                     size_t *n, char *err, size_t errlen)
{
    return reg_parents_load_set(r, ctx, &version_id, 1, out, n, err, errlen);
}

typedef struct flag_set {
    const char *const *ids;
    size_t n, hint;
    bool *out;
} flag_set;

static void flag_row(db_stmt *s, size_t n, void *arg)
{
    flag_set *fs = arg;
    (void)n;
    size_t i = reg_id_index(fs->ids, fs->n, db_column_text(s, 0), &fs->hint);
    if (i != SIZE_MAX)
        fs->out[i] = true;
}

int reg_has_descendants_set(registry *r, const char *const *ids, size_t n, bool *out, char *err,
                            size_t errlen)
{
    flag_set fs = {ids, n, 0, out};
    memset(out, 0, n * sizeof *out);
    return reg_query_set(
               r, ids, n, flag_row, &fs, err, errlen,
               "SELECT v.id FROM versions v WHERE v.id IN (" DB_SET ")"
               " AND (EXISTS (SELECT 1 FROM builds cb"
               " WHERE cb.parent_version_id = v.id AND cb.version_id <> v.id)"
               " OR EXISTS (SELECT 1 FROM builds pb JOIN artifacts a ON a.build_id = pb.id"
               " JOIN builds cb ON cb.source_lower = a.external_lower"
               " WHERE pb.version_id = v.id AND cb.version_id <> v.id))",
               "S") < 0
               ? -1
               : 0;
}

int reg_has_descendants(registry *r, const char *version_id, bool *out, char *err, size_t errlen)
{
    return reg_has_descendants_set(r, &version_id, 1, out, err, errlen);
}

int reg_latest_complete_id(registry *r, const char *bucket_id, char **id, char *err, size_t errlen)
{
    *id = NULL;
    db_stmt *s = db_query(r->d, "SELECT " REG_LATEST_COMPLETE_OF("?"), "t", bucket_id);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1)
        *id = db_column_dup(s, 0);
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* ---- relations ---------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *vname_json(int64_t number)
{
    return json_sprintf("v%lld", (long long)number);
}

/* One relation of HCP's ListBucketAncestry. */
static json_t *relation_json(const reg_vrow *child, const reg_parent *p)
{
    char cname[32];
    json_t *held = p->held_id ? json_pack("{s:s, s:s, s:o}", "id", p->held_id, "fingerprint",
                                          p->held_fingerprint, "name", vname_json(p->held_number))
                              : json_null();
    return json_pack("{s:{s:s, s:o, s:o, s:s, s:s, s:o}, s:{s:s, s:s, s:s, s:s}, s:s}", "parent",
                     "bucket_name", p->bucket_name, "channel_name", str_or_null(p->channel_name),
                     "channel_version", held, "version_fingerprint", p->fingerprint, "version_id",
                     p->version_id, "version_name", vname_json(p->number), "child", "bucket_name",
                     child->bucket_name, "version_fingerprint", child->fingerprint, "version_id",
                     child->id, "version_name", reg_vrow_name(child, cname), "status", p->status);
}

/* Appends the relations of child to arr: all its parents, or (of_bucket)
 * only those in that bucket (and, with channel, taken from that channel).
 * *status rolls the appended ones up (reg_parents_status's rule). */
static int child_relations(registry *r, const reg_ctx *ctx, const reg_vrow *child,
                           const char *of_bucket, const char *channel, json_t *arr,
                           const char **status, char *err, size_t errlen)
{
    reg_parent *p = NULL;
    size_t n = 0;
    if (reg_parents_load(r, ctx, child->id, &p, &n, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if ((of_bucket && strcmp(p[i].bucket_name, of_bucket) != 0) ||
            (channel && (!p[i].channel_name || strcmp(p[i].channel_name, channel) != 0)))
            continue;
        if (arr)
            json_array_append_new(arr, relation_json(child, &p[i]));
        *status = rollup(*status, p[i].status);
    }
    reg_parents_free(p, n);
    return 0;
}

static void id_add(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_string(db_column_text(s, 0)));
}

/* The versions that are the latest complete one of their bucket and were
 * built from a version of bucket b (by a recorded parent or a source
 * image). New array of ids, or NULL. */
static json_t *child_ids(registry *r, const reg_brow *b, char *err, size_t errlen)
{
    return reg_query_json(
        r, id_add, err, errlen,
        "SELECT cv.id FROM versions cv WHERE cv.number IS NOT NULL"
        " AND cv.number = (SELECT MAX(v2.number) FROM versions v2 WHERE v2.bucket_id = "
        "cv.bucket_id)"
        " AND cv.id IN (SELECT cb.version_id FROM builds cb"
        " JOIN versions pv ON pv.id = cb.parent_version_id WHERE pv.bucket_id = ?"
        " UNION SELECT cb.version_id FROM versions pv JOIN builds pb ON pb.version_id = pv.id"
        " JOIN artifacts a ON a.build_id = pb.id JOIN builds cb ON cb.source_lower = "
        "a.external_lower"
        " WHERE pv.bucket_id = ?) ORDER BY cv.id",
        "tt", b->id, b->id);
}

int reg_children_rollup(registry *r, const reg_ctx *ctx, const reg_brow *b, const char *channel,
                        json_t *arr, const char **status, char *err, size_t errlen)
{
    json_t *ids = child_ids(r, b, err, errlen);
    size_t i;
    json_t *id;
    int rc = ids ? 0 : -1;
    *status = NULL;
    json_array_foreach(ids, i, id)
    {
        reg_vrow v;
        bool found;
        rc = reg_version_load_id(r, json_string_value(id), &v, &found, err, errlen);
        if (rc == 0 && found && strcmp(v.bucket_id, b->id) != 0)
            rc = child_relations(r, ctx, &v, b->name, channel, arr, status, err, errlen);
        reg_vrow_dispose(&v);
        if (rc < 0)
            break;
    }
    json_decref(ids);
    return rc;
}

/* The rows of reg_children_status_set: (parent's bucket, parent, the least
 * channel a build of the child recorded for it or NULL, kind). Kind 0 is a
 * recorded parent: no channel recorded is UNDETERMINED, else whether that
 * channel still holds the parent. Kind 1 is the holder of a source image
 * for which no build recorded a channel: UNDETERMINED. */
typedef struct child_pairs {
    registry *r;
    const reg_ctx *ctx;
    const char *const *ids;
    size_t n, hint;
    const char **status;
    chan_cache cache;
    char *err;
    size_t errlen;
    int rc;
} child_pairs;

static void pair_row(db_stmt *s, size_t n, void *arg)
{
    child_pairs *cp = arg;
    (void)n;
    size_t i = reg_id_index(cp->ids, cp->n, db_column_text(s, 0), &cp->hint);
    if (cp->rc < 0 || i == SIZE_MAX)
        return;
    if (db_column_int64(s, 3) == 1 || db_column_is_null(s, 2)) {
        cp->status[i] = rollup(cp->status[i], UNDETERMINED);
        return;
    }
    reg_parent p = {.version_id = db_column_dup(s, 1), .channel_id = db_column_dup(s, 2)};
    cp->rc = parent_resolve(cp->r, cp->ctx, &cp->cache, &p, cp->err, cp->errlen);
    if (cp->rc == 0)
        cp->status[i] = rollup(cp->status[i], p.status);
    free(p.version_id);
    free(p.channel_id);
    free(p.channel_name);
    free(p.held_id);
    free(p.held_fingerprint);
}

int reg_children_status_set(registry *r, const reg_ctx *ctx, const char *const *ids, size_t n,
                            const char **status, char *err, size_t errlen)
{
    child_pairs cp = {r, ctx, ids, n, 0, status, {0}, err, errlen, 0};
    for (size_t i = 0; i < n; i++)
        status[i] = NULL;
    /* The children are the latest complete version of every bucket, with
     * their builds (lc, made once: one index probe per bucket), walked from
     * the child's side: a registry grows in versions per bucket, not in
     * buckets, and the other way reads every artifact of every version of
     * the page's buckets. CROSS JOIN keeps SQLite to that order (PostgreSQL
     * plans it by itself). A recorded parent's least channel is the one
     * parent_row keeps (the first in that order). */
    int rc = reg_query_set(
        r, ids, n, pair_row, &cp, err, errlen,
        "WITH lc AS MATERIALIZED (SELECT cv.bucket_id AS cbucket, cb.version_id AS cid,"
        " cb.source_lower AS src, cb.parent_version_id AS pid, cb.parent_channel_id AS pch"
        " FROM (SELECT lb.id AS bucket_id, " REG_LATEST_COMPLETE_OF(
            "lb.id") " AS id"
                     " FROM buckets lb) cv CROSS JOIN builds cb WHERE cb.version_id = cv.id)"
                     " SELECT pv.bucket_id, lc.pid, MIN(lc.pch), 0 FROM lc CROSS JOIN versions pv"
                     " WHERE pv.id = lc.pid AND pv.bucket_id IN (" DB_SET
                     ") AND pv.bucket_id <> lc.cbucket"
                     " GROUP BY pv.bucket_id, lc.cid, lc.pid"
                     " UNION ALL SELECT DISTINCT pv.bucket_id, NULL, NULL, 1 FROM lc CROSS JOIN "
                     "artifacts a"
                     " CROSS JOIN builds pb CROSS JOIN versions pv WHERE a.external_lower = lc.src"
                     " AND pb.id = a.build_id AND pv.id = pb.version_id AND pv.bucket_id IN "
                     "(" DB_SET ")"
                     " AND pv.bucket_id <> lc.cbucket AND NOT EXISTS (SELECT 1 FROM builds rb"
                     " WHERE rb.version_id = lc.cid AND rb.parent_version_id = pv.id"
                     " AND rb.parent_channel_id IS NOT NULL)",
        "SS");
    chan_cache_dispose(&cp.cache);
    return rc < 0 || cp.rc < 0 ? -1 : 0;
}

/* Parent relations of bucket b at version fingerprint (NULL: its latest
 * complete version), appended to arr. */
static int parent_relations(registry *r, const reg_ctx *ctx, const reg_brow *b,
                            const char *fingerprint, json_t *arr, char *err, size_t errlen)
{
    reg_vrow v = {0};
    char *id = NULL;
    const char *st = NULL;
    int rc;
    if (fingerprint) {
        rc = reg_version_load(r, b, fingerprint, &v, err, errlen);
    } else {
        bool found = false;
        rc = reg_latest_complete_id(r, b->id, &id, err, errlen);
        if (rc == 0 && id)
            rc = reg_version_load_id(r, id, &v, &found, err, errlen);
        if (!found) {
            free(id);
            reg_vrow_dispose(&v);
            return rc;
        }
    }
    if (rc == 0)
        rc = child_relations(r, ctx, &v, NULL, NULL, arr, &st, err, errlen);
    free(id);
    reg_vrow_dispose(&v);
    return rc;
}

json_t *registry_ancestry(registry *r, const reg_ctx *ctx, const char *bucket, bool parents,
                          bool children, const char *fingerprint, const char *channel, char *err,
                          size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    json_t *arr = json_array();
    const char *st;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0 ||
        (parents && parent_relations(r, ctx, &b, fingerprint, arr, err, errlen) < 0) ||
        (children && reg_children_rollup(r, ctx, &b, channel, arr, &st, err, errlen) < 0)) {
        json_decref(arr);
        arr = NULL;
    }
    reg_brow_dispose(&b);
    return arr;
}
