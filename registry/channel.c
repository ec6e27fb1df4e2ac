/* Channels: named pointers to a version, with an append-only history.
 *
 * User channels are rows; `latest` is not: it is computed on every read
 * (highest-numbered complete version not revoked at ctx->now), so it moves
 * by itself when a version completes, is revoked, is restored or when a
 * scheduled revocation comes due, and users can never assign, unset or
 * delete it. Its id is its bucket's id (ancestry.c resolves it). Every assignment -- by a user or
 * by a rollback -- appends a history row with a per-channel sequence number; the channel row is
 * updated first, which locks it, so two writers cannot take the same
 * sequence number.
 *
 * Rollback (reg_channels_rollback) looks at the channel's history entries
 * older than the current one, newest first, and takes the first whose
 * version is still valid at ctx->now; with none the channel is emptied. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LATEST "latest"

typedef struct crow {
    char *id, *name, *version_id, *author;
    bool restricted;
    ig_time created_at, updated_at;
} crow;

static void crow_dispose(crow *c)
{
    free(c->id);
    free(c->name);
    free(c->version_id);
    free(c->author);
    memset(c, 0, sizeof *c);
}

static bool is_latest(const char *name)
{
    return strcasecmp(name, LATEST) == 0;
}

static int refuse_latest(registry *r, const char *what, char *err, size_t errlen)
{
    return reg_fail(r, REG_ECONFLICT, err, errlen,
                    "channel 'latest' is managed by imagegate (it always holds the newest valid "
                    "version) and cannot be %s",
                    what);
}

static int channel_lookup(registry *r, const char *bucket_id, const char *name, crow *c,
                          bool *found, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    *found = false;
    db_stmt *s = db_query(r->d,
                          "SELECT id, name, version_id, author_id, restricted, created_at,"
                          " updated_at FROM channels WHERE bucket_id = ? AND name = ?",
                          "tt", bucket_id, name);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        c->id = db_column_dup(s, 0);
        c->name = db_column_dup(s, 1);
        c->version_id = db_column_dup(s, 2);
        c->author = db_column_dup(s, 3);
        c->restricted = db_column_int64(s, 4) != 0;
        c->created_at = db_column_time(s, 5);
        c->updated_at = db_column_time(s, 6);
        *found = true;
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

static int channel_load(registry *r, const reg_brow *b, const char *name, crow *c, char *err,
                        size_t errlen)
{
    bool found;
    if (channel_lookup(r, b->id, name, c, &found, err, errlen) < 0)
        return -1;
    if (!found)
        return reg_fail(r, REG_ENOTFOUND, err, errlen,
                        "channel '%.60s' of bucket '%s' does not exist", name, b->name);
    return 0;
}

/* Version object of id, or JSON null when id is NULL / gone. */
static json_t *version_or_null(registry *r, const reg_ctx *ctx, const char *id, char *err,
                               size_t errlen)
{
    if (!id)
        return json_null();
    reg_vrow v;
    bool found;
    if (reg_version_load_id(r, id, &v, &found, err, errlen) < 0)
        return NULL;
    json_t *j = found ? reg_version_json(r, ctx, &v, err, errlen) : json_null();
    reg_vrow_dispose(&v);
    return j;
}

static json_t *channel_json(registry *r, const reg_ctx *ctx, const reg_brow *b, const crow *c,
                            char *err, size_t errlen)
{
    json_t *v = version_or_null(r, ctx, c->version_id, err, errlen);
    if (!v)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:s, s:o, s:o}", "id", c->id, "name", c->name,
                     "bucket_name", b->name, "version", v, "managed", 0, "restricted",
                     c->restricted, "author_id", c->author, "created_at",
                     reg_time_json(c->created_at), "updated_at", reg_time_json(c->updated_at));
}

static json_t *latest_json(registry *r, const reg_ctx *ctx, const reg_brow *b, char *err,
                           size_t errlen)
{
    char *id = NULL;
    if (reg_latest_version_id(r, ctx, b->id, &id, err, errlen) < 0)
        return NULL;
    json_t *v = version_or_null(r, ctx, id, err, errlen);
    free(id);
    if (!v)
        return NULL;
    json_t *completed = json_object_get(v, "completed_at");
    /* no row: its id is the bucket's (ancestry.c resolves it) */
    return json_pack("{s:s, s:s, s:s, s:o, s:b, s:b, s:s, s:o, s:O}", "id", b->id, "name", LATEST,
                     "bucket_name", b->name, "version", v, "managed", 1, "restricted", 0,
                     "author_id", "imagegate", "created_at", reg_time_json(b->created_at),
                     "updated_at", completed ? completed : json_null());
}

/* Appends a history row (the channel row must be updated first: lock). */
static int history_add(registry *r, const reg_ctx *ctx, const char *channel_id, const char *action,
                       const reg_vrow *v, char *err, size_t errlen)
{
    int64_t seq = 0;
    char id[ULID_LEN + 1], name[32];
    if (db_query_int64(r->d, &seq,
                       "SELECT COALESCE(MAX(seq), 0) FROM channel_history WHERE channel_id = ?",
                       "t", channel_id) < 0)
        return reg_dbfail(r, err, errlen);
    reg_new_id(id);
    if (db_run(r->d,
               "INSERT INTO channel_history (id, channel_id, seq, action, version_id,"
               " version_name, fingerprint, author_id, assigned_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "ttitttttT", id, channel_id, seq + 1, action, v ? v->id : NULL,
               v ? reg_vrow_name(v, name) : NULL, v ? v->fingerprint : NULL, ctx->author,
               ctx->now) < 0)
        return reg_dbfail(r, err, errlen);
    return 0;
}

/* Points an existing channel at v (NULL = empty), with history. */
static int channel_point(registry *r, const reg_ctx *ctx, const char *channel_id,
                         const char *action, const reg_vrow *v, char *err, size_t errlen)
{
    if (db_run(r->d,
               "UPDATE channels SET version_id = ?, author_id = ?, updated_at = ? WHERE id = ?",
               "ttTt", v ? v->id : NULL, ctx->author, ctx->now, channel_id) < 0)
        return reg_dbfail(r, err, errlen);
    return history_add(r, ctx, channel_id, action, v, err, errlen);
}

static int channel_insert(registry *r, const reg_ctx *ctx, const reg_brow *b, const char *name,
                          bool restricted, crow *c, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    if (db_run(r->d,
               "INSERT INTO channels (id, bucket_id, name, version_id, restricted, author_id,"
               " created_at, updated_at) VALUES (?, ?, ?, NULL, ?, ?, ?, ?)",
               "tttbtTT", id, b->id, name, (int)restricted, ctx->author, ctx->now, ctx->now) < 0)
        return reg_dbfail(r, err, errlen);
    memset(c, 0, sizeof *c);
    c->id = xstrdup(id);
    c->name = xstrdup(name);
    c->author = xstrdup(ctx->author);
    c->restricted = restricted;
    c->created_at = c->updated_at = ctx->now;
    return 0;
}

/* The version may go into a channel: complete and not revoked now. */
static int check_assignable(registry *r, const reg_ctx *ctx, const reg_vrow *v, char *err,
                            size_t errlen)
{
    char name[32];
    if (v->number == 0)
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "version '%s' of bucket '%s' is not complete and cannot be assigned to a "
                        "channel",
                        v->fingerprint, v->bucket_name);
    bool valid;
    if (reg_version_valid(r, ctx, v->id, &valid, err, errlen) < 0)
        return -1;
    if (!valid)
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "version %s of bucket '%s' is revoked; restore it before assigning it to "
                        "a channel",
                        reg_vrow_name(v, name), v->bucket_name);
    return 0;
}

int reg_channel_assign(registry *r, const reg_ctx *ctx, const reg_brow *b, const char *channel,
                       const reg_vrow *v, bool *changed, char *err, size_t errlen)
{
    crow c = {0};
    bool found;
    char name[32];
    int rc = -1;
    if (changed)
        *changed = false;
    if (registry_valid_channel_name(channel, err, errlen) < 0)
        return reg_fail(r, REG_EINVAL, NULL, 0, "invalid channel name");
    if (is_latest(channel))
        return refuse_latest(r, v ? "assigned" : "unset", err, errlen);
    if (v && check_assignable(r, ctx, v, err, errlen) < 0)
        return -1;
    if (channel_lookup(r, b->id, channel, &c, &found, err, errlen) < 0)
        return -1;
    if (!found) {
        if (!v)
            return reg_fail(r, REG_ENOTFOUND, err, errlen,
                            "channel '%.60s' of bucket '%s' does not exist", channel, b->name);
        if (channel_insert(r, ctx, b, channel, false, &c, err, errlen) < 0)
            goto done;
    }
    const char *prev = c.version_id;
    if ((!v && !prev) || (v && prev && strcmp(prev, v->id) == 0)) {
        rc = 0; /* already so: nothing changes, nothing is recorded */
        goto done;
    }
    reg_vrow pv = {0};
    bool pfound = false;
    if (prev && reg_version_load_id(r, prev, &pv, &pfound, err, errlen) < 0)
        goto done;
    json_t *detail = json_pack(
        "{s:o, s:o, s:o, s:b}", "version", v ? json_string(reg_vrow_name(v, name)) : json_null(),
        "fingerprint", reg_str_json(v ? v->fingerprint : NULL), "previous",
        pfound ? json_string(reg_vrow_name(&pv, name)) : json_null(), "created", !found);
    reg_vrow_dispose(&pv);
    if (channel_point(r, ctx, c.id, v ? "set" : "unset", v, err, errlen) < 0) {
        json_decref(detail);
        goto done;
    }
    reg_event_channel ech = {c.id, c.name, c.author, c.restricted};
    if (reg_audit(r, ctx, v ? "channel.set" : "channel.unset", b->name, channel, detail, err,
                  errlen) < 0 ||
        reg_event_assign(r, ctx, b->name, &ech, v ? v->id : NULL, prev, err, errlen) < 0)
        goto done;
    if (changed)
        *changed = true;
    rc = 0;
done:
    crow_dispose(&c);
    return rc;
}

/* The most recent history entry before the current one whose version is
 * valid now; *target = NULL when there is none. */
static int rollback_target(registry *r, const reg_ctx *ctx, const char *channel_id,
                           const char *revoked_id, reg_vrow *target, bool *found, char *err,
                           size_t errlen)
{
    *found = false;
    db_stmt *s = db_query(r->d,
                          "SELECT version_id FROM channel_history WHERE channel_id = ?"
                          " AND version_id IS NOT NULL AND seq < (SELECT MAX(seq) FROM"
                          " channel_history WHERE channel_id = ?) ORDER BY seq DESC",
                          "tt", channel_id, channel_id);
    if (!s)
        return reg_dbfail(r, err, errlen);
    char **ids = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&ids, &cap, n + 1, sizeof *ids);
        ids[n++] = db_column_dup(s, 0);
    }
    db_finalize(s);
    if (rc < 0)
        reg_dbfail(r, err, errlen);
    for (size_t i = 0; rc == 0 && !*found && i < n; i++) {
        bool valid = false;
        if (strcmp(ids[i], revoked_id) == 0)
            continue;
        if ((rc = reg_version_valid(r, ctx, ids[i], &valid, err, errlen)) == 0 && valid)
            rc = reg_version_load_id(r, ids[i], target, found, err, errlen);
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    return rc < 0 ? -1 : 0;
}

/* A channel that holds the version being rolled back. */
typedef struct held {
    char *id, *name, *bucket, *author;
    bool restricted;
} held;

static void held_fill(db_stmt *s, void *row)
{
    held *h = row;
    h->id = db_column_dup(s, 0);
    h->name = db_column_dup(s, 1);
    h->bucket = db_column_dup(s, 2);
    h->author = db_column_dup(s, 3);
    h->restricted = db_column_int64(s, 4) != 0;
}

static void held_dispose(void *row)
{
    held *h = row;
    free(h->id);
    free(h->name);
    free(h->bucket);
    free(h->author);
}

/* Moves one channel off from (its rollback target or nothing): history,
 * audit channel.rollback and an assign event. */
static int rollback_one(registry *r, const reg_ctx *ctx, const held *h, const reg_vrow *from,
                        const char *reason, char *err, size_t errlen)
{
    reg_vrow to = {0};
    bool found = false;
    char fname[32], tname[32];
    reg_event_channel ech = {h->id, h->name, h->author, h->restricted};
    int rc = rollback_target(r, ctx, h->id, from->id, &to, &found, err, errlen);
    if (rc == 0)
        rc = channel_point(r, ctx, h->id, "rollback", found ? &to : NULL, err, errlen);
    if (rc == 0)
        rc = reg_audit(r, ctx, "channel.rollback", h->bucket, h->name,
                       json_pack("{s:s, s:o, s:s}", "from", reg_vrow_name(from, fname), "to",
                                 found ? json_string(reg_vrow_name(&to, tname)) : json_null(),
                                 "reason", reason),
                       err, errlen);
    if (rc == 0)
        rc = reg_event_assign(r, ctx, h->bucket, &ech, found ? to.id : NULL, from->id, err, errlen);
    reg_vrow_dispose(&to);
    return rc;
}

int reg_channels_rollback(registry *r, const reg_ctx *ctx, const char *version_id,
                          const char *reason, int *count, char *err, size_t errlen)
{
    /* collect first: the loop below writes to the rows it reads */
    reg_rows rows = {.size = sizeof(held), .fill = held_fill, .dispose = held_dispose};
    reg_vrow from = {0};
    bool ffound = false;
    int rc = reg_query_rows(r, 0, reg_rows_add, &rows, err, errlen,
                            "SELECT c.id, c.name, bk.name, c.author_id, c.restricted"
                            " FROM channels c JOIN buckets bk ON bk.id = c.bucket_id"
                            " WHERE c.version_id = ? ORDER BY bk.name, c.name",
                            "t", version_id) < 0
                 ? -1
                 : 0;
    if (rc == 0 && rows.n > 0)
        rc = reg_version_load_id(r, version_id, &from, &ffound, err, errlen);
    for (size_t i = 0; rc == 0 && ffound && i < rows.n; i++) {
        rc = rollback_one(r, ctx, (const held *)rows.v + i, &from, reason, err, errlen);
        if (rc == 0)
            (*count)++;
    }
    reg_vrow_dispose(&from);
    reg_rows_free(&rows);
    return rc;
}

/* ---- public ----------------------------------------------------------- */

json_t *registry_channel_list(registry *r, const reg_ctx *ctx, const char *bucket, char *err,
                              size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    json_t *arr = NULL, *latest = NULL;
    char **names = NULL;
    size_t n = 0, cap = 0;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0 ||
        !(latest = latest_json(r, ctx, &b, err, errlen)))
        goto done;
    db_stmt *s =
        db_query(r->d, "SELECT name FROM channels WHERE bucket_id = ? ORDER BY name", "t", b.id);
    if (!s) {
        reg_dbfail(r, err, errlen);
        goto done;
    }
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&names, &cap, n + 1, sizeof *names);
        names[n++] = db_column_dup(s, 0);
    }
    db_finalize(s);
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
        goto done;
    }
    arr = json_array();
    json_array_append(arr, latest);
    for (size_t i = 0; i < n; i++) {
        crow c;
        json_t *j = NULL;
        if (channel_load(r, &b, names[i], &c, err, errlen) == 0)
            j = channel_json(r, ctx, &b, &c, err, errlen);
        crow_dispose(&c);
        if (!j) {
            json_decref(arr);
            arr = NULL;
            goto done;
        }
        json_array_append_new(arr, j);
    }
done:
    json_decref(latest);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    reg_brow_dispose(&b);
    return arr;
}

json_t *registry_channel_get(registry *r, const reg_ctx *ctx, const char *bucket,
                             const char *channel, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    crow c = {0};
    json_t *out = NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0)
        goto done;
    if (is_latest(channel))
        out = latest_json(r, ctx, &b, err, errlen);
    else if (channel_load(r, &b, channel, &c, err, errlen) == 0)
        out = channel_json(r, ctx, &b, &c, err, errlen);
done:
    crow_dispose(&c);
    reg_brow_dispose(&b);
    return out;
}

/* Shared tail of create / set: the channel object as it is now. */
static json_t *answer(registry *r, const reg_ctx *ctx, const reg_brow *b, const char *channel,
                      char *err, size_t errlen)
{
    crow c = {0};
    json_t *out = NULL;
    if (channel_load(r, b, channel, &c, err, errlen) == 0)
        out = channel_json(r, ctx, b, &c, err, errlen);
    crow_dispose(&c);
    return out;
}

json_t *registry_channel_create(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *channel, const char *ref, bool restricted, char *err,
                                size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    crow c = {0};
    bool found;
    json_t *out = NULL;
    if (registry_valid_channel_name(channel, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (is_latest(channel)) {
        refuse_latest(r, "created", err, errlen);
        return NULL;
    }
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0 ||
        (ref && reg_version_load(r, &b, ref, &v, err, errlen) < 0) ||
        channel_lookup(r, b.id, channel, &c, &found, err, errlen) < 0)
        goto done;
    if (found) {
        reg_fail(r, REG_ECONFLICT, err, errlen, "channel '%s' of bucket '%s' already exists",
                 channel, bucket);
        goto done;
    }
    crow_dispose(&c);
    if ((!ref || check_assignable(r, ctx, &v, err, errlen) == 0) &&
        channel_insert(r, ctx, &b, channel, restricted, &c, err, errlen) == 0 &&
        reg_audit(r, ctx, "channel.create", bucket, channel,
                  json_pack("{s:b}", "restricted", restricted), err, errlen) == 0 &&
        (!ref || reg_channel_assign(r, ctx, &b, channel, &v, NULL, err, errlen) == 0))
        out = answer(r, ctx, &b, channel, err, errlen);
done:
    out = reg_tx_end_json(r, out, err, errlen);
    crow_dispose(&c);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

json_t *registry_channel_set(registry *r, const reg_ctx *ctx, const char *bucket,
                             const char *channel, const char *ref, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    json_t *out = NULL;
    if (registry_valid_channel_name(channel, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) == 0 &&
        (!ref || is_latest(channel) || reg_version_load(r, &b, ref, &v, err, errlen) == 0) &&
        reg_channel_assign(r, ctx, &b, channel, ref ? &v : NULL, NULL, err, errlen) == 0)
        out = answer(r, ctx, &b, channel, err, errlen);
    out = reg_tx_end_json(r, out, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

json_t *registry_channel_set_restricted(registry *r, const reg_ctx *ctx, const char *bucket,
                                        const char *channel, bool restricted, char *err,
                                        size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    crow c = {0};
    json_t *out = NULL;
    if (is_latest(channel)) {
        refuse_latest(r, "changed", err, errlen);
        return NULL;
    }
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0 ||
        channel_load(r, &b, channel, &c, err, errlen) < 0)
        goto done;
    if (c.restricted != restricted &&
        (db_run(r->d, "UPDATE channels SET restricted = ?, updated_at = ? WHERE id = ?", "bTt",
                (int)restricted, ctx->now, c.id) < 0 ||
         reg_audit(r, ctx, "channel.update", bucket, channel,
                   json_pack("{s:b}", "restricted", restricted), err, errlen) < 0)) {
        if (r->errcode == REG_OK)
            reg_dbfail(r, err, errlen);
        goto done;
    }
    out = answer(r, ctx, &b, channel, err, errlen);
done:
    out = reg_tx_end_json(r, out, err, errlen);
    crow_dispose(&c);
    reg_brow_dispose(&b);
    return out;
}

static void history_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(
        arr, json_pack("{s:o, s:s, s:o, s:o, s:s, s:I}", "assigned_at",
                       reg_time_json(db_column_time(s, 0)), "author_id", db_column_text(s, 1),
                       "version", reg_str_json(db_column_text(s, 2)), "fingerprint",
                       reg_str_json(db_column_text(s, 3)), "action", db_column_text(s, 4), "seq",
                       (json_int_t)db_column_int64(s, 5)));
}

json_t *registry_channel_history(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *channel, char *err, size_t errlen)
{
    (void)ctx;
    REG_CALL(r);
    reg_brow b = {0};
    crow c = {0};
    json_t *arr = NULL;
    if (reg_bucket_load(r, bucket, &b, err, errlen) < 0)
        goto done;
    if (is_latest(channel)) {
        arr = json_array(); /* computed, never assigned: no history */
        goto done;
    }
    if (channel_load(r, &b, channel, &c, err, errlen) == 0)
        arr = reg_query_json(r, history_row, err, errlen,
                             "SELECT assigned_at, author_id, version_name, fingerprint, action,"
                             " seq FROM channel_history WHERE channel_id = ? ORDER BY seq DESC",
                             "t", c.id);
done:
    crow_dispose(&c);
    reg_brow_dispose(&b);
    return arr;
}

int registry_channel_delete(registry *r, const reg_ctx *ctx, const char *bucket,
                            const char *channel, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    crow c = {0};
    if (is_latest(channel))
        return refuse_latest(r, "deleted", err, errlen);
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = reg_bucket_load(r, bucket, &b, err, errlen);
    if (rc == 0)
        rc = channel_load(r, &b, channel, &c, err, errlen);
    if (rc == 0 && db_run(r->d, "DELETE FROM channels WHERE id = ?", "t", c.id) < 0)
        rc = reg_dbfail(r, err, errlen);
    if (rc == 0)
        rc = reg_audit(r, ctx, "channel.delete", bucket, channel, NULL, err, errlen);
    /* a channel deleted with a version in it unassigns that version */
    reg_event_channel ech = {c.id, c.name, c.author, c.restricted};
    if (rc == 0 && c.version_id)
        rc = reg_event_assign(r, ctx, bucket, &ech, NULL, c.version_id, err, errlen);
    rc = reg_tx_end(r, rc, err, errlen);
    crow_dispose(&c);
    reg_brow_dispose(&b);
    return rc;
}
