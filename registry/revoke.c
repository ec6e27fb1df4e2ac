/* Revocation, inheritance and restore (PRODUCT.md section 1, exact rules).
 *
 * A revocation is a ROW, not a field: table revocations holds, per version,
 * its own revocation (type MANUAL, origin = itself) and one INHERITED row per
 * revoked ancestor (origin = that ancestor), each with its revoke_at. So:
 *   - the effective revocation is simply the earliest row;
 *   - restoring X deletes exactly the rows whose origin is X -- its own and
 *     the inherited ones it caused -- and nothing a child did on its own;
 *   - a version is revoked at `now` iff some row has revoke_at <= now.
 * The family graph is never stored: a child is any version with a build
 * whose source_lower equals an artifact's external_lower of the parent; the
 * descendants are found breadth-first with a visited set (a hostile registry
 * may contain cycles). Inheritance is applied in both directions whenever a
 * version's builds change (reg_inherit_sync): inherited rows that reached
 * their holder through that version from an origin that is no longer an
 * ancestor are dropped (an origin that was deleted keeps its rows: deleting a
 * revoked image never un-revokes what was built from it), a version born
 * after its parent's revocation pulls the parent's rows, and a version's rows
 * are pushed down to its descendants. Rows are inserted with ON CONFLICT DO
 * NOTHING on (version, origin), which makes every step idempotent.
 *
 * Channel rollback follows every row that is new and already due, whether it
 * came from registry_version_revoke or from a build change that linked a
 * version to a revoked ancestor, unless the revocation was made with
 * keep_channels (stored on its rows); see channel.c for the rollback rule.
 * A dry run is this same revocation in a transaction that is rolled back. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small set of version ids --------------------------------------- */

typedef struct idset {
    char **v;
    size_t n, cap;
} idset;

static bool idset_has(const idset *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], id) == 0)
            return true;
    return false;
}

static bool idset_add(idset *s, const char *id)
{
    if (idset_has(s, id))
        return false;
    xgrow((void **)&s->v, &s->cap, s->n + 1, sizeof *s->v);
    s->v[s->n++] = xstrdup(id);
    return true;
}

static void idset_dispose(idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static void id_add(db_stmt *s, size_t n, void *set)
{
    (void)n;
    idset_add(set, db_column_text(s, 0));
}

/* Adds the ids returned by a one-column query to out. */
static int query_ids(registry *r, idset *out, char *err, size_t errlen, const char *sql,
                     const char *a, const char *b)
{
    return reg_query_rows(r, 0, id_add, out, err, errlen, sql, "tt", a, b) < 0 ? -1 : 0;
}

static int parents_of(registry *r, const char *id, idset *out, char *err, size_t errlen)
{
    return query_ids(r, out, err, errlen,
                     "SELECT DISTINCT pb.version_id FROM builds b"
                     " JOIN artifacts a ON a.external_lower = b.source_lower"
                     " JOIN builds pb ON pb.id = a.build_id"
                     " WHERE b.version_id = ? AND pb.version_id <> ?",
                     id, id);
}

static int children_of(registry *r, const char *id, idset *out, char *err, size_t errlen)
{
    return query_ids(r, out, err, errlen,
                     "SELECT DISTINCT b.version_id FROM builds pb"
                     " JOIN artifacts a ON a.build_id = pb.id"
                     " JOIN builds b ON b.source_lower = a.external_lower"
                     " WHERE pb.version_id = ? AND b.version_id <> ?",
                     id, id);
}

typedef int (*step_fn)(registry *r, const char *id, idset *out, char *err, size_t errlen);

/* Every version reached from start by repeating step, start itself excluded. */
static int closure_of(registry *r, const char *start, step_fn step, idset *out, char *err,
                      size_t errlen)
{
    idset seen = {0};
    idset_add(&seen, start);
    size_t next = out->n;
    int rc = 0;
    const char *cur = start;
    for (;;) {
        idset next_ids = {0};
        rc = step(r, cur, &next_ids, err, errlen);
        for (size_t i = 0; rc == 0 && i < next_ids.n; i++)
            if (idset_add(&seen, next_ids.v[i]))
                idset_add(out, next_ids.v[i]);
        idset_dispose(&next_ids);
        if (rc < 0 || next >= out->n)
            break;
        cur = out->v[next++];
    }
    idset_dispose(&seen);
    return rc;
}

/* Every descendant of start, transitively, start itself excluded. */
static int descendants_of(registry *r, const char *start, idset *out, char *err, size_t errlen)
{
    return closure_of(r, start, children_of, out, err, errlen);
}

/* Every ancestor of start, transitively, start itself excluded. */
static int ancestors_of(registry *r, const char *start, idset *out, char *err, size_t errlen)
{
    return closure_of(r, start, parents_of, out, err, errlen);
}

/* ---- what a change did to each version's rows, for its events --------- */

/* Every row a change adds or removes is noted (revnotes), and each version
 * touched gets one event (event.c) once the rows are written -- the version
 * the call names first: revoke or schedule-revocation for a version that
 * gained a row (due or future), restore or cancel-revocation for one that
 * lost rows and is no longer revoked at all (a receiver is never told
 * "restored" about a version imagegate still reports revoked). */

typedef struct revnote {
    char *version_id;
    bool gained_due, gained_future, lost_due, lost_future;
} revnote;

typedef struct revnotes {
    revnote *v;
    size_t n, cap;
} revnotes;

static void revnotes_dispose(revnotes *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i].version_id);
    free(ns->v);
    memset(ns, 0, sizeof *ns);
}

static revnote *note_of(revnotes *ns, const char *version_id)
{
    for (size_t i = 0; i < ns->n; i++)
        if (strcmp(ns->v[i].version_id, version_id) == 0)
            return &ns->v[i];
    xgrow((void **)&ns->v, &ns->cap, ns->n + 1, sizeof *ns->v);
    ns->v[ns->n] = (revnote){.version_id = xstrdup(version_id)};
    return &ns->v[ns->n++];
}

/* A row of revoke_at was added to (gained) or removed from version_id. */
static void note(revnotes *ns, const reg_ctx *ctx, const char *version_id, ig_time revoke_at,
                 bool gained)
{
    if (!ns)
        return;
    revnote *n = note_of(ns, version_id);
    bool due = revoke_at <= ctx->now;
    if (gained)
        *(due ? &n->gained_due : &n->gained_future) = true;
    else
        *(due ? &n->lost_due : &n->lost_future) = true;
}

typedef struct lost_rows {
    revnotes *ns;
    const reg_ctx *ctx;
} lost_rows;

static void lost_row(db_stmt *s, size_t n, void *arg)
{
    lost_rows *l = arg;
    (void)n;
    note(l->ns, l->ctx, db_column_text(s, 0), db_column_int64(s, 1), false);
}

/* Runs a DELETE ... RETURNING version_id, revoke_at and notes each row
 * removed. Returns how many, or -1. */
static int64_t delete_rows(registry *r, const reg_ctx *ctx, revnotes *ns, char *err, size_t errlen,
                           const char *sql, const char *fmt, ...)
{
    lost_rows l = {ns, ctx};
    va_list ap;
    va_start(ap, fmt);
    int64_t n = reg_vquery_rows(r, 0, lost_row, &l, err, errlen, sql, fmt, ap);
    va_end(ap);
    return n;
}

/* Whether version_id holds a revocation in effect at ctx->now. */
static int revoked_now(registry *r, const reg_ctx *ctx, const char *version_id, bool *revoked,
                       char *err, size_t errlen)
{
    int64_t one = 0;
    int rc = db_query_int64(r->d, &one,
                            "SELECT 1 FROM revocations WHERE version_id = ? AND revoke_at <= ?"
                            " LIMIT 1",
                            "tT", version_id, ctx->now);
    if (rc < 0)
        return reg_dbfail(r, err, errlen);
    *revoked = rc == 1;
    return 0;
}

/* The event a note calls for (NULL: none). */
static int note_action(registry *r, const reg_ctx *ctx, const revnote *n, const char **action,
                       char *err, size_t errlen)
{
    bool revoked = false;
    *action = n->gained_due ? "revoke" : n->gained_future ? "schedule-revocation" : NULL;
    if (*action || !(n->lost_due || n->lost_future))
        return 0;
    if (revoked_now(r, ctx, n->version_id, &revoked, err, errlen) < 0)
        return -1;
    if (!revoked)
        *action = n->lost_due ? "restore" : "cancel-revocation";
    return 0;
}

/* One event per version noted, first (the version the call names; may be
 * NULL) before the others; first_extra (stolen, may be NULL) goes into its
 * payload. */
static int revocation_events(registry *r, const reg_ctx *ctx, const revnotes *ns, const char *first,
                             json_t *first_extra, char *err, size_t errlen)
{
    int rc = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; rc == 0 && i < ns->n; i++) {
            const revnote *n = &ns->v[i];
            bool is_first = first && strcmp(n->version_id, first) == 0;
            const char *action = NULL;
            if (is_first != (pass == 0) ||
                (rc = note_action(r, ctx, n, &action, err, errlen)) < 0 || !action)
                continue;
            rc = reg_event_version(r, ctx, action, n->version_id,
                                   is_first ? json_incref(first_extra) : NULL, err, errlen);
        }
    json_decref(first_extra);
    return rc;
}

/* ---- rows ------------------------------------------------------------- */

void reg_revrow_dispose(reg_revrow *rv)
{
    free(rv->origin_version_id);
    free(rv->origin_bucket);
    free(rv->origin_name);
    free(rv->origin_fingerprint);
    free(rv->type);
    free(rv->message);
    free(rv->author);
    memset(rv, 0, sizeof *rv);
}

void reg_revrows_free(reg_revrow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        reg_revrow_dispose(&rows[i]);
    free(rows);
}

static void revrow_fill(db_stmt *s, void *row)
{
    reg_revrow *rv = row;
    rv->origin_version_id = db_column_dup(s, 0);
    rv->origin_bucket = db_column_dup(s, 1);
    rv->origin_name = db_column_dup(s, 2);
    rv->origin_fingerprint = db_column_dup(s, 3);
    rv->type = db_column_dup(s, 4);
    rv->revoke_at = db_column_int64(s, 5);
    rv->message = db_column_dup(s, 6);
    rv->author = db_column_dup(s, 7);
    rv->skip_descendants = db_column_int64(s, 8) != 0;
    rv->keep_channels = db_column_int64(s, 9) != 0;
}

static void revrow_dispose(void *rv)
{
    reg_revrow_dispose(rv);
}

/* The rows of a set of versions' revocations, each to its version's list. */
typedef struct revs_set {
    const char *const *ids;
    size_t n, hint;
    reg_rows *out;
} revs_set;

static void revs_set_row(db_stmt *s, size_t n, void *arg)
{
    revs_set *rs = arg;
    size_t i = reg_id_index(rs->ids, rs->n, db_column_text(s, 10), &rs->hint);
    if (i != SIZE_MAX)
        reg_rows_add(s, n, &rs->out[i]);
}

int reg_revocations_load_set(registry *r, const char *const *ids, size_t n, reg_revrow **rows,
                             size_t *counts, char *err, size_t errlen)
{
    reg_rows *got = xcalloc(n ? n : 1, sizeof *got);
    for (size_t i = 0; i < n; i++)
        got[i] = (reg_rows){.size = sizeof **rows, .fill = revrow_fill, .dispose = revrow_dispose};
    revs_set rs = {ids, n, 0, got};
    /* earliest first; on a tie the version's own revocation names it */
    int64_t rc = reg_query_set(
        r, ids, n, revs_set_row, &rs, err, errlen,
        "SELECT origin_version_id, origin_bucket, origin_name, origin_fingerprint, type,"
        " revoke_at, message, author, skip_descendants, keep_channels, version_id FROM revocations"
        " WHERE version_id IN (" DB_SET ")"
        " ORDER BY version_id, revoke_at, CASE WHEN type = 'MANUAL' THEN 0 ELSE 1 END, id",
        "S");
    for (size_t i = 0; i < n; i++) {
        if (rc < 0)
            reg_rows_free(&got[i]);
        rows[i] = got[i].v;
        counts[i] = got[i].n;
    }
    free(got);
    return rc < 0 ? -1 : 0;
}

int reg_revocations_load(registry *r, const char *version_id, reg_revrow **rows, size_t *n,
                         char *err, size_t errlen)
{
    return reg_revocations_load_set(r, &version_id, 1, rows, n, err, errlen);
}

/* Rows that travel to descendants: inherited ones, and an own revocation
 * unless it was made with skip_descendants. */
static bool row_passes_down(const reg_revrow *rv)
{
    return strcmp(rv->type, "INHERITED") == 0 || !rv->skip_descendants;
}

/* Gives version_id a row of type for the revocation described by src.
 * *inserted (may be NULL) tells whether it was new; a new row is noted in
 * ns (may be NULL). */
static int insert_row(registry *r, const reg_ctx *ctx, const char *version_id,
                      const reg_revrow *src, const char *type, bool *inserted, revnotes *ns,
                      char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    int64_t n = db_run(
        r->d,
        "INSERT INTO revocations (id, version_id, origin_version_id, origin_bucket, origin_name,"
        " origin_fingerprint, type, revoke_at, message, author, skip_descendants, keep_channels,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (version_id, origin_version_id) DO NOTHING",
        "tttttttTttbbT", id, version_id, src->origin_version_id, src->origin_bucket,
        src->origin_name, src->origin_fingerprint, type, src->revoke_at, src->message, src->author,
        (int)src->skip_descendants, (int)src->keep_channels, ctx->now);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    if (inserted)
        *inserted = n > 0;
    if (n > 0)
        note(ns, ctx, version_id, src->revoke_at, true);
    return 0;
}

/* Whether a new row for src should move the channels of its holder: it is
 * due, and its revocation was not made with keep_channels. */
static bool row_rolls_back(const reg_ctx *ctx, const reg_revrow *src)
{
    return src->revoke_at <= ctx->now && !src->keep_channels;
}

/* Gives every descendant of from an INHERITED copy of src. Versions that
 * received a new row are added to got, those whose channels must roll back
 * to roll (either may be NULL), and noted in ns. */
static int push_down(registry *r, const reg_ctx *ctx, const char *from, const reg_revrow *src,
                     idset *got, idset *roll, revnotes *ns, char *err, size_t errlen)
{
    idset desc = {0};
    int rc = descendants_of(r, from, &desc, err, errlen);
    for (size_t i = 0; rc == 0 && i < desc.n; i++) {
        bool inserted = false;
        if (strcmp(desc.v[i], src->origin_version_id) == 0)
            continue; /* a cycle back to the origin */
        rc = insert_row(r, ctx, desc.v[i], src, "INHERITED", &inserted, ns, err, errlen);
        if (rc == 0 && inserted && got)
            idset_add(got, desc.v[i]);
        if (rc == 0 && inserted && roll && row_rolls_back(ctx, src))
            idset_add(roll, desc.v[i]);
    }
    idset_dispose(&desc);
    return rc;
}

static int version_exists(registry *r, const char *id, bool *exists, char *err, size_t errlen)
{
    reg_vrow o;
    int rc = reg_version_load_id(r, id, &o, exists, err, errlen);
    reg_vrow_dispose(&o);
    return rc;
}

/* Drops the inherited rows that came through v and whose origin is no
 * longer an ancestor of the version holding them: v's builds may have
 * stopped naming a parent's artifact. Only v and its descendants are judged
 * (the versions whose rows can have come through v), and only for origins of
 * v's own rows: a version elsewhere that holds a row of the same origin --
 * say one built from a deleted middle image -- is never touched by a change
 * to v. A row whose origin was deleted stays (see the top of this file). A
 * former child that v's changed artifacts no longer name keeps its rows:
 * the safe side. Holders that lost a row are added to removed. */
static int prune_through(registry *r, const reg_ctx *ctx, const reg_vrow *v, idset *removed,
                         revnotes *ns, char *err, size_t errlen)
{
    idset origins = {0}, holders = {0};
    reg_revrow *rows = NULL;
    size_t n = 0;
    int rc = reg_revocations_load(r, v->id, &rows, &n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (strcmp(rows[i].type, "INHERITED") == 0)
            idset_add(&origins, rows[i].origin_version_id);
    reg_revrows_free(rows, n);
    if (rc < 0 || origins.n == 0) {
        idset_dispose(&origins);
        return rc;
    }
    idset_add(&holders, v->id);
    rc = descendants_of(r, v->id, &holders, err, errlen);
    /* origins that still exist: only their rows can be judged stale */
    idset live = {0};
    for (size_t i = 0; rc == 0 && i < origins.n; i++) {
        bool exists = false;
        rc = version_exists(r, origins.v[i], &exists, err, errlen);
        if (rc == 0 && exists)
            idset_add(&live, origins.v[i]);
    }
    for (size_t h = 0; rc == 0 && h < holders.n; h++) {
        idset anc = {0};
        rc = ancestors_of(r, holders.v[h], &anc, err, errlen);
        for (size_t i = 0; rc == 0 && i < live.n; i++) {
            if (strcmp(live.v[i], holders.v[h]) == 0 || idset_has(&anc, live.v[i]))
                continue;
            int64_t d = delete_rows(r, ctx, ns, err, errlen,
                                    "DELETE FROM revocations WHERE version_id = ? AND"
                                    " origin_version_id = ? AND type = 'INHERITED'"
                                    " RETURNING version_id, revoke_at",
                                    "tt", holders.v[h], live.v[i]);
            if (d < 0)
                rc = -1;
            else if (d > 0)
                idset_add(removed, holders.v[h]);
        }
        idset_dispose(&anc);
    }
    idset_dispose(&live);
    idset_dispose(&holders);
    idset_dispose(&origins);
    return rc;
}

/* Appends {bucket_name, version} of a version id to arr. */
static int append_label(registry *r, const char *id, json_t *arr, char *err, size_t errlen)
{
    reg_vrow v;
    bool found;
    char name[32];
    if (reg_version_load_id(r, id, &v, &found, err, errlen) < 0)
        return -1;
    if (found)
        json_array_append_new(arr, json_pack("{s:s, s:s}", "bucket_name", v.bucket_name, "version",
                                             reg_vrow_name(&v, name)));
    reg_vrow_dispose(&v);
    return 0;
}

static json_t *labels_json(registry *r, const idset *ids, char *err, size_t errlen)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < ids->n; i++)
        if (append_label(r, ids->v[i], arr, err, errlen) < 0) {
            json_decref(arr);
            return NULL;
        }
    return arr;
}

/* Rolls back the channels of each version in roll, naming the revocation
 * that is now in effect for it. */
static int rollback_inherited(registry *r, const reg_ctx *ctx, const idset *roll, int *moved,
                              char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < roll->n; i++) {
        reg_vrow x;
        bool found = false;
        reg_revrow *rows = NULL;
        size_t n = 0;
        char name[32];
        if ((rc = reg_version_load_id(r, roll->v[i], &x, &found, err, errlen)) == 0 && found &&
            (rc = reg_revocations_load(r, x.id, &rows, &n, err, errlen)) == 0 && n > 0) {
            char *reason =
                xasprintf("%s %s revoked (inherited from %s %s)", x.bucket_name,
                          reg_vrow_name(&x, name), rows[0].origin_bucket, rows[0].origin_name);
            rc = reg_channels_rollback(r, ctx, x.id, reason, moved, err, errlen);
            free(reason);
        }
        reg_revrows_free(rows, n);
        reg_vrow_dispose(&x);
    }
    return rc;
}

/* Pull: v gains the rows of its parents that travel down (a version born
 * after its parent's revocation is born revoked). */
static int pull_from_parents(registry *r, const reg_ctx *ctx, const reg_vrow *v, idset *got,
                             idset *roll, revnotes *ns, char *err, size_t errlen)
{
    idset parents = {0};
    int rc = parents_of(r, v->id, &parents, err, errlen);
    for (size_t p = 0; rc == 0 && p < parents.n; p++) {
        reg_revrow *rows = NULL;
        size_t n = 0;
        rc = reg_revocations_load(r, parents.v[p], &rows, &n, err, errlen);
        for (size_t i = 0; rc == 0 && i < n; i++) {
            bool inserted = false;
            if (!row_passes_down(&rows[i]) || strcmp(rows[i].origin_version_id, v->id) == 0)
                continue;
            rc = insert_row(r, ctx, v->id, &rows[i], "INHERITED", &inserted, ns, err, errlen);
            if (rc == 0 && inserted) {
                idset_add(got, v->id);
                if (row_rolls_back(ctx, &rows[i]))
                    idset_add(roll, v->id);
            }
        }
        reg_revrows_free(rows, n);
    }
    idset_dispose(&parents);
    return rc;
}

/* Push: v's own and inherited rows reach every descendant. */
static int push_to_descendants(registry *r, const reg_ctx *ctx, const reg_vrow *v, idset *got,
                               idset *roll, revnotes *ns, char *err, size_t errlen)
{
    reg_revrow *rows = NULL;
    size_t n = 0;
    int rc = reg_revocations_load(r, v->id, &rows, &n, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (row_passes_down(&rows[i]))
            rc = push_down(r, ctx, v->id, &rows[i], got, roll, ns, err, errlen);
    reg_revrows_free(rows, n);
    return rc;
}

static int inherit_audit(registry *r, const reg_ctx *ctx, const reg_vrow *v, const idset *got,
                         const idset *removed, int moved, char *err, size_t errlen)
{
    char name[32];
    json_t *gained = labels_json(r, got, err, errlen);
    json_t *lost = gained ? labels_json(r, removed, err, errlen) : NULL;
    int rc = !lost
                 ? -1
                 : reg_audit(r, ctx, "version.inherit", v->bucket_name, reg_vrow_name(v, name),
                             json_pack("{s:O, s:O, s:i}", "inherited_by", gained,
                                       "inheritance_removed", lost, "channels_rolled_back", moved),
                             err, errlen);
    json_decref(gained);
    json_decref(lost);
    return rc;
}

int reg_inherit_sync(registry *r, const reg_ctx *ctx, const reg_vrow *v, char *err, size_t errlen)
{
    idset got = {0}, roll = {0}, removed = {0};
    revnotes ns = {0};
    int moved = 0;
    int rc = prune_through(r, ctx, v, &removed, &ns, err, errlen);
    if (rc == 0)
        rc = pull_from_parents(r, ctx, v, &got, &roll, &ns, err, errlen);
    if (rc == 0)
        rc = push_to_descendants(r, ctx, v, &got, &roll, &ns, err, errlen);
    /* the events before the channel moves they cause (assign events) */
    if (rc == 0)
        rc = revocation_events(r, ctx, &ns, v->id, NULL, err, errlen);
    if (rc == 0)
        rc = rollback_inherited(r, ctx, &roll, &moved, err, errlen);
    if (rc == 0 && (got.n > 0 || removed.n > 0))
        rc = inherit_audit(r, ctx, v, &got, &removed, moved, err, errlen);
    revnotes_dispose(&ns);
    idset_dispose(&removed);
    idset_dispose(&roll);
    idset_dispose(&got);
    return rc;
}

/* ---- revoke ----------------------------------------------------------- */

/* Loads bucket and version and refuses an incomplete version. */
static int load_complete(registry *r, const char *bucket, const char *ref, reg_brow *b, reg_vrow *v,
                         char *err, size_t errlen)
{
    if (reg_version_find(r, bucket, ref, b, v, err, errlen) < 0)
        return -1;
    if (v->number == 0)
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "version '%s' of bucket '%s' is not complete; only complete versions can "
                        "be revoked or restored",
                        ref, bucket);
    return 0;
}

/* Finds v's own revocation among rows (NULL when none). */
static const reg_revrow *own_row(const reg_vrow *v, const reg_revrow *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(rows[i].origin_version_id, v->id) == 0)
            return &rows[i];
    return NULL;
}

/* v's own revocation as a row; every string is a copy (dispose it). */
static void manual_row(reg_revrow *out, const reg_vrow *v, const reg_ctx *ctx, const reg_revoke *rv,
                       ig_time at)
{
    char name[32];
    *out = (reg_revrow){
        .origin_version_id = xstrdup(v->id),
        .origin_bucket = xstrdup(v->bucket_name),
        .origin_name = xstrdup(reg_vrow_name(v, name)),
        .origin_fingerprint = xstrdup(v->fingerprint),
        .type = xstrdup("MANUAL"),
        .message = xstrdup(rv->message),
        .author = xstrdup(ctx->author),
        .revoke_at = at,
        .skip_descendants = rv->skip_descendants,
        .keep_channels = rv->keep_channels,
    };
}

/* Puts mine in place of v's own rows and of what they caused, and passes
 * it down unless skip_descendants; got: the descendants that gained it;
 * every row added or removed is noted in ns. */
static int revoke_rows(registry *r, const reg_ctx *ctx, const reg_vrow *v, const reg_revrow *mine,
                       idset *got, revnotes *ns, char *err, size_t errlen)
{
    /* a scheduled revocation of its own is replaced, with what it caused */
    if (delete_rows(r, ctx, ns, err, errlen,
                    "DELETE FROM revocations WHERE origin_version_id = ?"
                    " RETURNING version_id, revoke_at",
                    "t", v->id) < 0 ||
        insert_row(r, ctx, v->id, mine, "MANUAL", NULL, ns, err, errlen) < 0)
        return -1;
    return mine->skip_descendants ? 0 : push_down(r, ctx, v->id, mine, got, NULL, ns, err, errlen);
}

static int revoke_audit(registry *r, const reg_ctx *ctx, const reg_revrow *mine, bool immediate,
                        bool replaced, const idset *got, char *err, size_t errlen)
{
    char when[40];
    json_t *inherited = labels_json(r, got, err, errlen);
    if (!inherited)
        return -1;
    json_t *detail = json_pack(
        "{s:s, s:o, s:b, s:b, s:b, s:b, s:o}", "revoke_at",
        ig_time_format(mine->revoke_at, when, sizeof when), "message", reg_str_json(mine->message),
        "immediate", immediate, "skip_descendants", mine->skip_descendants, "keep_channels",
        mine->keep_channels, "replaced_scheduled", replaced, "inherited_by", inherited);
    return reg_audit(r, ctx, "version.revoke", mine->origin_bucket, mine->origin_name, detail, err,
                     errlen);
}

/* An immediate revocation rolls back the channels holding v or one of the
 * descendants that inherited it. */
static int revoke_rollback(registry *r, const reg_ctx *ctx, const reg_revrow *mine,
                           const idset *got, char *err, size_t errlen)
{
    int moved = 0;
    char *reason = xasprintf("%s %s revoked", mine->origin_bucket, mine->origin_name);
    int rc = reg_channels_rollback(r, ctx, mine->origin_version_id, reason, &moved, err, errlen);
    for (size_t i = 0; rc == 0 && i < got->n; i++)
        rc = reg_channels_rollback(r, ctx, got->v[i], reason, &moved, err, errlen);
    free(reason);
    return rc;
}

/* The revocation, inside the caller's transaction: loads v (the caller
 * disposes it either way), checks it and makes every change. */
static int revoke_in_tx(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                        const reg_revoke *rv, reg_vrow *v, char *err, size_t errlen)
{
    reg_brow b = {0};
    reg_revrow *rows = NULL, mine = {0};
    size_t n = 0;
    idset got = {0};
    revnotes ns = {0};
    char name[32], when[40];
    ig_time at = rv->revoke_at == IG_TIME_NONE ? ctx->now : rv->revoke_at;
    bool immediate = at <= ctx->now;
    int rc = -1;
    if (load_complete(r, bucket, ref, &b, v, err, errlen) < 0 ||
        reg_revocations_load(r, v->id, &rows, &n, err, errlen) < 0)
        goto done;
    const reg_revrow *own = own_row(v, rows, n);
    if (own && own->revoke_at <= ctx->now) {
        reg_fail(r, REG_ECONFLICT, err, errlen,
                 "version %s of bucket '%s' is already revoked (since %s); restore it first to "
                 "change its revocation",
                 reg_vrow_name(v, name), bucket, ig_time_format(own->revoke_at, when, sizeof when));
        goto done;
    }
    manual_row(&mine, v, ctx, rv, at);
    /* the events go with the rest: a dry run's rollback takes them too */
    if (revoke_rows(r, ctx, v, &mine, &got, &ns, err, errlen) == 0 &&
        revoke_audit(r, ctx, &mine, immediate, own != NULL, &got, err, errlen) == 0 &&
        revocation_events(r, ctx, &ns, v->id,
                          json_pack("{s:b}", "skip_descendants_revocation", rv->skip_descendants),
                          err, errlen) == 0 &&
        (!immediate || rv->keep_channels || revoke_rollback(r, ctx, &mine, &got, err, errlen) == 0))
        rc = 0;
done:
    revnotes_dispose(&ns);
    reg_revrow_dispose(&mine);
    idset_dispose(&got);
    reg_revrows_free(rows, n);
    reg_brow_dispose(&b);
    return rc;
}

json_t *registry_version_revoke(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *ref, const reg_revoke *rv, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_vrow v = {0};
    json_t *out = NULL;
    if (reg_text_check(r, rv->message, REG_MAX_TEXT, "revocation message", err, errlen) < 0 ||
        reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (revoke_in_tx(r, ctx, bucket, ref, rv, &v, err, errlen) == 0)
        out = reg_version_json(r, ctx, &v, err, errlen);
    out = reg_tx_end_json(r, out, err, errlen);
    reg_vrow_dispose(&v);
    return out;
}

/* The real revocation in a transaction that is always rolled back: what it
 * wrote -- the audit entries it would have made (r->trace) and its
 * revocation rows -- is read before the rollback. */
json_t *registry_version_revoke_dry_run(registry *r, const reg_ctx *ctx, const char *bucket,
                                        const char *ref, const reg_revoke *rv, char *err,
                                        size_t errlen)
{
    REG_CALL(r);
    reg_vrow v = {0};
    json_t *out = NULL, *trace = json_array();
    if (reg_text_check(r, rv->message, REG_MAX_TEXT, "revocation message", err, errlen) < 0 ||
        reg_tx_begin(r, err, errlen) < 0) {
        json_decref(trace);
        return NULL;
    }
    r->trace = trace;
    int rc = revoke_in_tx(r, ctx, bucket, ref, rv, &v, err, errlen);
    r->trace = NULL;
    if (rc == 0)
        out = reg_usage_dry_run_answer(r, ctx, v.id, trace, err, errlen);
    reg_tx_abort(r); /* a dry run keeps nothing */
    json_decref(trace);
    reg_vrow_dispose(&v);
    return out;
}

int reg_version_family(registry *r, const char *version_id, char ***ids, size_t *n, char *err,
                       size_t errlen)
{
    idset family = {0};
    idset_add(&family, version_id);
    int rc = descendants_of(r, version_id, &family, err, errlen);
    if (rc < 0)
        idset_dispose(&family);
    *ids = family.v;
    *n = family.n;
    return rc;
}

/* ---- restore ---------------------------------------------------------- */

/* v carries only inherited rows. If an origin still exists, restoring must
 * happen there (REG_ECONFLICT naming it). If every origin was deleted, the
 * orphaned rows can no longer be lifted at their origin, so restoring v lifts
 * them from v and its descendants. */
static int restore_orphans(registry *r, const reg_ctx *ctx, const reg_vrow *v, const char *bucket,
                           const reg_revrow *rows, size_t n, int64_t *removed, revnotes *ns,
                           char *err, size_t errlen)
{
    char name[32];
    for (size_t i = 0; i < n; i++) {
        bool found;
        if (version_exists(r, rows[i].origin_version_id, &found, err, errlen) < 0)
            return -1;
        if (found)
            return reg_fail(r, REG_ECONFLICT, err, errlen,
                            "version %s of bucket '%s' is revoked only by inheritance from %s %s; "
                            "restore that version instead",
                            reg_vrow_name(v, name), bucket, rows[i].origin_bucket,
                            rows[i].origin_name);
    }
    idset scope = {0};
    int rc = descendants_of(r, v->id, &scope, err, errlen);
    idset_add(&scope, v->id);
    for (size_t i = 0; rc == 0 && i < n; i++)
        for (size_t k = 0; rc == 0 && k < scope.n; k++) {
            int64_t d = delete_rows(r, ctx, ns, err, errlen,
                                    "DELETE FROM revocations WHERE version_id = ? AND"
                                    " origin_version_id = ? RETURNING version_id, revoke_at",
                                    "tt", scope.v[k], rows[i].origin_version_id);
            if (d < 0)
                rc = -1;
            else
                *removed += d;
        }
    idset_dispose(&scope);
    return rc;
}

json_t *registry_version_restore(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *ref, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    reg_revrow *rows = NULL;
    size_t n = 0;
    json_t *out = NULL;
    char name[32], when[40];
    int64_t removed = 0;
    revnotes ns = {0};
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (load_complete(r, bucket, ref, &b, &v, err, errlen) < 0 ||
        reg_revocations_load(r, v.id, &rows, &n, err, errlen) < 0)
        goto done;
    reg_vrow_name(&v, name);
    const reg_revrow *own = own_row(&v, rows, n);
    if (n == 0) {
        reg_fail(r, REG_ECONFLICT, err, errlen, "version %s of bucket '%s' is not revoked", name,
                 bucket);
        goto done;
    }
    if (!own) {
        if (restore_orphans(r, ctx, &v, bucket, rows, n, &removed, &ns, err, errlen) < 0)
            goto done;
    } else if ((removed = delete_rows(r, ctx, &ns, err, errlen,
                                      "DELETE FROM revocations WHERE origin_version_id = ?"
                                      " RETURNING version_id, revoke_at",
                                      "t", v.id)) < 0) {
        goto done;
    }
    json_t *detail = json_pack("{s:o, s:I}", "revoke_at",
                               own ? json_string(ig_time_format(own->revoke_at, when, sizeof when))
                                   : json_null(),
                               "revocations_removed", (json_int_t)removed);
    if (reg_audit(r, ctx, "version.restore", bucket, name, detail, err, errlen) == 0 &&
        revocation_events(r, ctx, &ns, v.id, NULL, err, errlen) == 0)
        out = reg_version_json(r, ctx, &v, err, errlen);
done:
    out = reg_tx_end_json(r, out, err, errlen);
    revnotes_dispose(&ns);
    reg_revrows_free(rows, n);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}
