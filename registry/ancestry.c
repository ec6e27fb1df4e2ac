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
 * cached; statuses follow channel moves at once. */
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

/* Appends the rows of the relation query: one per (parent, channel) pair,
 * ordered by parent, so a parent's rows are adjacent; the first channel a
 * build recorded is the parent's. */
static void parent_row(db_stmt *s, size_t n, void *arg)
{
    reg_rows *rows = arg;
    (void)n;
    const char *id = db_column_text(s, 0);
    reg_parent *last = rows->n ? &((reg_parent *)rows->v)[rows->n - 1] : NULL;
    if (last && strcmp(last->version_id, id) == 0) {
        if (!last->channel_id && !db_column_is_null(s, 4))
            last->channel_id = db_column_dup(s, 4);
        return;
    }
    xgrow(&rows->v, &rows->cap, rows->n + 1, rows->size);
    reg_parent *p = &((reg_parent *)rows->v)[rows->n++];
    memset(p, 0, sizeof *p);
    p->version_id = db_column_dup(s, 0);
    p->bucket_name = db_column_dup(s, 1);
    p->number = db_column_is_null(s, 2) ? 0 : db_column_int64(s, 2);
    p->fingerprint = db_column_dup(s, 3);
    p->channel_id = db_column_dup(s, 4);
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

/* Fills p's channel name, what the channel holds and p's status. */
static int parent_resolve(registry *r, const reg_ctx *ctx, reg_parent *p, char *err, size_t errlen)
{
    bool found;
    char *holds = NULL;
    if (!p->channel_id) {
        p->status = UNDETERMINED;
        return 0;
    }
    if (channel_by_id(r, ctx, p->channel_id, &p->channel_name, &holds, &found, err, errlen) < 0)
        return -1;
    p->status = found && holds && strcmp(holds, p->version_id) == 0 ? UP_TO_DATE : OUT_OF_DATE;
    if (holds) {
        reg_vrow v;
        bool vfound = false;
        if (reg_version_load_id(r, holds, &v, &vfound, err, errlen) < 0) {
            free(holds);
            return -1;
        }
        if (vfound) {
            p->held_id = xstrdup(v.id);
            p->held_fingerprint = xstrdup(v.fingerprint);
            p->held_number = v.number;
        }
        reg_vrow_dispose(&v);
    }
    free(holds);
    return 0;
}

int reg_parents_load(registry *r, const reg_ctx *ctx, const char *version_id, reg_parent **out,
                     size_t *n, char *err, size_t errlen)
{
    reg_rows rows = {.size = sizeof(reg_parent)};
    *out = NULL;
    *n = 0;
    /* the pairs Packer recorded, and the versions holding a source image */
    if (reg_query_rows(r, 0, parent_row, &rows, err, errlen,
                       "SELECT pv.id, bk.name, pv.number, pv.fingerprint, x.channel_id FROM ("
                       "SELECT b.parent_version_id AS pid, b.parent_channel_id AS channel_id"
                       " FROM builds b WHERE b.version_id = ? AND b.parent_version_id IS NOT NULL"
                       " UNION SELECT pb.version_id AS pid, CAST(NULL AS TEXT) AS channel_id"
                       " FROM builds b JOIN artifacts a ON a.external_lower = b.source_lower"
                       " JOIN builds pb ON pb.id = a.build_id WHERE b.version_id = ?) x"
                       " JOIN versions pv ON pv.id = x.pid JOIN buckets bk ON bk.id = pv.bucket_id"
                       " WHERE pv.id <> ? ORDER BY bk.name, COALESCE(pv.number, 0),"
                       " pv.fingerprint, pv.id, COALESCE(x.channel_id, '')",
                       "ttt", version_id, version_id, version_id) < 0)
        goto fail;
    reg_parent *p = rows.v;
    for (size_t i = 0; i < rows.n; i++)
        if (parent_resolve(r, ctx, &p[i], err, errlen) < 0)
            goto fail;
    *out = p;
    *n = rows.n;
    return 0;
fail:
    reg_parents_free(rows.v, rows.n);
    return -1;
}

int reg_has_descendants(registry *r, const char *version_id, bool *out, char *err, size_t errlen)
{
    int64_t yes = 0;
    if (db_query_int64(r->d, &yes,
                       "SELECT CASE WHEN EXISTS (SELECT 1 FROM builds cb"
                       " WHERE cb.parent_version_id = ? AND cb.version_id <> ?)"
                       " OR EXISTS (SELECT 1 FROM builds pb JOIN artifacts a ON a.build_id = pb.id"
                       " JOIN builds cb ON cb.source_lower = a.external_lower"
                       " WHERE pb.version_id = ? AND cb.version_id <> ?) THEN 1 ELSE 0 END",
                       "tttt", version_id, version_id, version_id, version_id) < 0)
        return reg_dbfail(r, err, errlen);
    *out = yes == 1;
    return 0;
}

int reg_latest_complete_id(registry *r, const char *bucket_id, char **id, char *err, size_t errlen)
{
    *id = NULL;
    db_stmt *s = db_query(r->d,
                          "SELECT id FROM versions WHERE bucket_id = ? AND number IS NOT NULL"
                          " ORDER BY number DESC LIMIT 1",
                          "t", bucket_id);
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

/* One (child, parent) pair of reg_children_status: no channel recorded is
 * UNDETERMINED, else whether that channel still holds the parent. */
typedef struct child_pair {
    const reg_ctx *ctx;
    registry *r;
    const char *status;
    char *err;
    size_t errlen;
    int rc;
} child_pair;

static void pair_row(db_stmt *s, size_t n, void *arg)
{
    child_pair *cp = arg;
    (void)n;
    if (cp->rc < 0)
        return;
    if (db_column_is_null(s, 1)) {
        cp->status = rollup(cp->status, UNDETERMINED);
        return;
    }
    reg_parent p = {.version_id = db_column_dup(s, 0), .channel_id = db_column_dup(s, 1)};
    cp->rc = parent_resolve(cp->r, cp->ctx, &p, cp->err, cp->errlen);
    if (cp->rc == 0)
        cp->status = rollup(cp->status, p.status);
    free(p.version_id);
    free(p.channel_id);
    free(p.channel_name);
    free(p.held_id);
    free(p.held_fingerprint);
}

/* reg_children_status's parts: the child is the latest complete version of
 * another bucket, and a (child, parent) pair is resolved by a channel only
 * when no build of the child recorded one for that parent. */
#define CHILD_IS_LATEST                                                                            \
    " cv.bucket_id <> ? AND cv.number IS NOT NULL AND cv.number = (SELECT MAX(v2.number)"          \
    " FROM versions v2 WHERE v2.bucket_id = cv.bucket_id)"
#define NO_CHANNEL_RECORDED                                                                        \
    " NOT EXISTS (SELECT 1 FROM builds rb WHERE rb.version_id = cv.id"                             \
    " AND rb.parent_version_id = pv.id AND rb.parent_channel_id IS NOT NULL)"

int reg_children_status(registry *r, const reg_ctx *ctx, const reg_brow *b, const char **status,
                        char *err, size_t errlen)
{
    child_pair cp = {ctx, r, NULL, err, errlen, 0};
    int64_t undetermined = 0;
    /* the pairs a build recorded with a channel: the least channel, as
     * parent_row keeps the first in that order */
    if (reg_query_rows(r, 0, pair_row, &cp, err, errlen,
                       "SELECT cb.parent_version_id, MIN(cb.parent_channel_id) FROM builds cb"
                       " JOIN versions pv ON pv.id = cb.parent_version_id"
                       " JOIN versions cv ON cv.id = cb.version_id WHERE pv.bucket_id = ?"
                       " AND cb.parent_channel_id IS NOT NULL AND" CHILD_IS_LATEST
                       " GROUP BY cb.version_id, cb.parent_version_id",
                       "tt", b->id, b->id) < 0 ||
        cp.rc < 0)
        return -1;
    /* any pair without a channel is UNDETERMINED: one is enough. A build
     * that recorded its parent without a channel, or (the scan walks the
     * newest parents first, where a golden image's children are) a source
     * image of one of b's versions. */
    if (cp.status != OUT_OF_DATE &&
        (db_query_int64(r->d, &undetermined,
                        "SELECT COUNT(*) FROM (SELECT 1 FROM builds cb"
                        " JOIN versions pv ON pv.id = cb.parent_version_id"
                        " JOIN versions cv ON cv.id = cb.version_id WHERE pv.bucket_id = ? AND"
                        " cb.parent_channel_id IS NULL AND" CHILD_IS_LATEST
                        " AND" NO_CHANNEL_RECORDED " LIMIT 1) x",
                        "tt", b->id, b->id) < 0 ||
         (!undetermined &&
          db_query_int64(r->d, &undetermined,
                         "SELECT COUNT(*) FROM (SELECT 1 FROM versions pv"
                         " JOIN builds pb ON pb.version_id = pv.id"
                         " JOIN artifacts a ON a.build_id = pb.id"
                         " JOIN builds cb ON cb.source_lower = a.external_lower"
                         " JOIN versions cv ON cv.id = cb.version_id WHERE pv.bucket_id = ? AND"
                         " cv.id <> pv.id AND" CHILD_IS_LATEST " AND" NO_CHANNEL_RECORDED
                         " ORDER BY pv.bucket_id DESC, pv.number DESC LIMIT 1) x",
                         "tt", b->id, b->id) < 0)))
        return reg_dbfail(r, err, errlen);
    if (undetermined)
        cp.status = rollup(cp.status, UNDETERMINED);
    *status = cp.status;
    return 0;
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
