/* Events: what a registry change tells the webhooks, written in the change's
 * own transaction (the outbox pattern), so that a change and its events
 * commit or vanish together whichever path made the change -- the API, an
 * import, the command line with no server running. notify/ sends them.
 *
 * The events are HCP Packer's version events (docs/events.md cites the
 * reference): source hashicorp.packer.version, actions create, complete,
 * revoke, restore, delete, schedule-revocation, cancel-revocation, assign,
 * and HCP's envelope {event_id, event_action, event_description,
 * event_source, event_version, resource_id, resource_name, event_payload}.
 * The payload is made here, from the version as it stands at that point of
 * the transaction (a deletion makes its event before the rows go); the
 * organization, project and registry ids are left empty for the sender to
 * fill (notify_body).
 *
 * Fan-out happens now: one delivery row per webhook whose action and bucket
 * filters match, numbered in the webhook's order (seq). Writers hold the
 * store's write lock (db_begin), so MAX(seq) + 1 is never taken twice. With
 * no matching webhook nothing is written and the payload is never built:
 * a registry without webhooks pays one small query per event. */
#include "registry/reg_internal.h"

#include "common/strbuf.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const registry_event_actions[] = {
    "create", "complete", "revoke", "restore", "delete", "schedule-revocation", "cancel-revocation",
    "assign", NULL};

/* HCP's event_description of each action, in the order above. */
static const char *const descriptions[] = {"Created version",
                                           "Completed version",
                                           "Revoked version",
                                           "Restored version",
                                           "Deleted version",
                                           "Scheduled version revocation",
                                           "Cancelled version revocation",
                                           "Assigned version to channel"};

static int action_index(const char *action)
{
    for (int i = 0; action && registry_event_actions[i]; i++)
        if (strcmp(action, registry_event_actions[i]) == 0)
            return i;
    return -1;
}

bool registry_event_action_valid(const char *action)
{
    return action_index(action) >= 0;
}

/* ---- who wants the event ------------------------------------------------ */

typedef struct subscribers {
    char **ids, **buckets; /* a webhook's id and its bucket filter (JSON text) */
    size_t n, cap;
    const char *action;
} subscribers;

/* Whether list (a JSON array of strings, as stored) is empty or holds s. */
static bool list_admits(const char *list, const char *s)
{
    json_t *a = list ? json_loads(list, 0, NULL) : NULL;
    bool ok = !json_is_array(a) || json_array_size(a) == 0;
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!ok && s && json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            ok = true;
    }
    json_decref(a);
    return ok;
}

static void subscriber_row(db_stmt *s, size_t n, void *arg)
{
    subscribers *sub = arg;
    (void)n;
    if (!list_admits(db_column_text(s, 1), sub->action))
        return;
    xgrow((void **)&sub->ids, &sub->cap, sub->n + 1, sizeof *sub->ids);
    sub->buckets = xrealloc(sub->buckets, sub->cap * sizeof *sub->buckets);
    sub->ids[sub->n] = db_column_dup(s, 0);
    sub->buckets[sub->n++] = db_column_dup(s, 2);
}

static void subscribers_dispose(subscribers *sub)
{
    for (size_t i = 0; i < sub->n; i++) {
        free(sub->ids[i]);
        free(sub->buckets[i]);
    }
    free(sub->ids);
    free(sub->buckets);
    memset(sub, 0, sizeof *sub);
}

/* The webhooks subscribed to sub->action: the one query an event costs when
 * no webhook wants it. */
static int subscribers_load(registry *r, subscribers *sub, char *err, size_t errlen)
{
    return reg_query_rows(r, 0, subscriber_row, sub, err, errlen,
                          "SELECT id, actions, buckets FROM webhooks ORDER BY id", NULL) < 0
               ? -1
               : 0;
}

/* Keeps the subscribers whose bucket filter admits bucket. */
static void subscribers_for(subscribers *sub, const char *bucket)
{
    size_t k = 0;
    for (size_t i = 0; i < sub->n; i++) {
        if (list_admits(sub->buckets[i], bucket)) {
            sub->ids[k] = sub->ids[i];
            sub->buckets[k++] = sub->buckets[i];
        } else {
            free(sub->ids[i]);
            free(sub->buckets[i]);
        }
    }
    sub->n = k;
}

/* ---- the payload -------------------------------------------------------- */

/* A string member of o, "" when null or absent (HCP sends "" for unset). */
static json_t *str_or_empty(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return json_string(s ? s : "");
}

/* "VERSION_REVOKED" -> "REVOKED": HCP's payload status has no prefix. */
static json_t *status_of(json_t *v)
{
    const char *s = json_string_value(json_object_get(v, "status"));
    if (s && strncmp(s, "VERSION_", 8) == 0)
        s += 8;
    return json_string(s ? s : "");
}

/* HCP's version object from imagegate's (borrowed); the revocation's type
 * and origin are imagegate's additions. */
static json_t *version_part(json_t *v)
{
    json_t *from = json_object_get(v, "revocation_inherited_from");
    return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O}", "id", str_or_empty(v, "id"),
                     "fingerprint", str_or_empty(v, "fingerprint"), "name", str_or_empty(v, "name"),
                     "revoke_at", str_or_empty(v, "revoke_at"), "revocation_message",
                     str_or_empty(v, "revocation_message"), "revocation_author",
                     str_or_empty(v, "revocation_author"), "status", status_of(v),
                     "revocation_type", str_or_empty(v, "revocation_type"),
                     "revocation_inherited_from", from ? from : json_null());
}

/* HCP's builds: {id, platform, component_type, labels, artifacts:
 * [{external_identifier, region}]}. */
static json_t *builds_part(json_t *builds)
{
    json_t *out = json_array();
    size_t i, k;
    json_t *b, *a;
    json_array_foreach(builds, i, b)
    {
        json_t *arts = json_array();
        json_array_foreach(json_object_get(b, "artifacts"), k, a)
        {
            json_array_append_new(arts, json_pack("{s:o, s:o}", "external_identifier",
                                                  str_or_empty(a, "external_identifier"), "region",
                                                  str_or_empty(a, "region")));
        }
        json_t *labels = json_object_get(b, "labels");
        json_array_append_new(
            out, json_pack("{s:o, s:o, s:o, s:o, s:o}", "id", str_or_empty(b, "id"), "platform",
                           str_or_empty(b, "platform"), "component_type",
                           str_or_empty(b, "component_type"), "labels",
                           labels ? json_incref(labels) : json_object(), "artifacts", arts));
    }
    return out;
}

/* The version object of id (new reference); *found false when it is gone. */
static json_t *version_object(registry *r, const reg_ctx *ctx, const char *id, bool *found,
                              char *err, size_t errlen)
{
    reg_vrow v;
    json_t *j = NULL;
    if (reg_version_load_id(r, id, &v, found, err, errlen) < 0)
        return NULL;
    j = *found ? reg_version_json(r, ctx, &v, err, errlen) : json_object();
    reg_vrow_dispose(&v);
    return j;
}

/* The common fields of every version event (HCP's table "Common version
 * events fields"): actor, bucket, version, builds, and the ids the sender
 * fills. v: imagegate's version object (borrowed). */
static json_t *common_payload(const reg_ctx *ctx, json_t *v, const char *bucket_id,
                              const char *bucket, bool with_builds)
{
    const char *author = ctx->author ? ctx->author : "unknown";
    json_t *p = json_pack("{s:{s:s, s:s, s:s}, s:{s:s, s:s}, s:o}", "actor", "principal_id", author,
                          "type", "TYPE_UNSET", "name", author, "bucket", "id",
                          bucket_id ? bucket_id : "", "name", bucket, "version", version_part(v));
    if (with_builds)
        json_object_set_new(p, "builds", builds_part(json_object_get(v, "builds")));
    json_object_set_new(p, "organization_id", json_string(""));
    json_object_set_new(p, "project_id", json_string(""));
    json_object_set_new(p, "registry", json_pack("{s:s}", "id", ""));
    return p;
}

/* ---- the event and its deliveries --------------------------------------- */

/* The envelope of event id for payload (stolen). New string. */
static char *envelope(const char *id, int action, json_t *payload)
{
    json_t *e =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "event_id", id, "event_action",
                  registry_event_actions[action], "event_description", descriptions[action],
                  "event_source", "hashicorp.packer.version", "event_version", "1", "resource_id",
                  "", "resource_name", "", "event_payload", payload);
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

/* One delivery per subscriber, in one statement (one round trip on
 * PostgreSQL however many webhooks): each row numbered after its webhook's
 * last delivery. */
static int insert_deliveries(registry *r, const char *event_id, const subscribers *sub, char *err,
                             size_t errlen)
{
    /* wall clock: deliveries are timed by the sender's clock, never by a
     * pinned logical one (IMAGEGATE_NOW) */
    ig_time now = ig_time_now();
    strbuf sql = STRBUF_INIT;
    strbuf_puts(&sql, "INSERT INTO event_deliveries (id, webhook_id, event_id, seq, state,"
                      " attempts, next_at, created_at) VALUES ");
    for (size_t i = 0; i < sub->n; i++)
        strbuf_printf(&sql,
                      "%s(?, ?, ?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM event_deliveries"
                      " WHERE webhook_id = ?), 0, 0, ?, ?)",
                      i ? ", " : "");
    db_stmt *st = db_prepare(r->d, sql.s);
    strbuf_dispose(&sql);
    int rc = st ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < sub->n; i++) {
        char id[ULID_LEN + 1];
        int k = (int)i * 6;
        reg_new_id(id);
        rc = db_bind_text(st, k + 1, id) | db_bind_text(st, k + 2, sub->ids[i]) |
             db_bind_text(st, k + 3, event_id) | db_bind_text(st, k + 4, sub->ids[i]) |
             db_bind_int64(st, k + 5, now) | db_bind_int64(st, k + 6, now);
    }
    if (rc == 0 && db_step(st) < 0)
        rc = -1;
    db_finalize(st);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* Stores the event (payload stolen) and its deliveries to sub. */
static int enqueue(registry *r, const reg_ctx *ctx, int action, const char *bucket,
                   const char *version_id, json_t *payload, const subscribers *sub, char *err,
                   size_t errlen)
{
    char ulid[ULID_LEN + 1], id[ULID_LEN + 16];
    reg_new_id(ulid);
    snprintf(id, sizeof id, "packer.event:%s", ulid);
    char *body = envelope(id, action, payload);
    int64_t n = db_run(r->d,
                       "INSERT INTO events (id, seq, created_at, action, bucket, version_id,"
                       " author, body) SELECT ?, COALESCE(MAX(seq), 0) + 1, ?, ?, ?, ?, ?, ?"
                       " FROM events",
                       "tTttttt", id, ctx->now, registry_event_actions[action], bucket, version_id,
                       ctx->author ? ctx->author : "unknown", body);
    free(body);
    if (n < 0)
        return reg_dbfail(r, err, errlen);
    return insert_deliveries(r, id, sub, err, errlen);
}

int reg_event_version(registry *r, const reg_ctx *ctx, const char *action, const char *version_id,
                      json_t *extra, char *err, size_t errlen)
{
    int a = action_index(action);
    subscribers sub = {.action = action};
    reg_vrow v = {0};
    bool found = false;
    json_t *vj = NULL;
    int rc = a < 0 ? 0 : subscribers_load(r, &sub, err, errlen);
    if (rc == 0 && sub.n > 0)
        rc = reg_version_load_id(r, version_id, &v, &found, err, errlen);
    if (rc == 0 && found)
        subscribers_for(&sub, v.bucket_name);
    /* the payload only when some webhook wants the event */
    if (rc == 0 && found && sub.n > 0 && !(vj = reg_version_json(r, ctx, &v, err, errlen)))
        rc = -1;
    if (rc == 0 && vj) {
        json_t *p = common_payload(ctx, vj, v.bucket_id, v.bucket_name, strcmp(action, "create"));
        if (extra)
            json_object_update(p, extra);
        rc = enqueue(r, ctx, a, v.bucket_name, v.id, p, &sub, err, errlen);
    }
    json_decref(extra);
    json_decref(vj);
    subscribers_dispose(&sub);
    reg_vrow_dispose(&v);
    return rc;
}

/* {"id", "fingerprint", "name"} of a version object, for previous_version. */
static json_t *version_ref(json_t *v)
{
    return json_pack("{s:o, s:o, s:o}", "id", str_or_empty(v, "id"), "fingerprint",
                     str_or_empty(v, "fingerprint"), "name", str_or_empty(v, "name"));
}

/* The assign payload: the common fields of the version now held (empty
 * when none), the channel, and previous_version / previous_builds when the
 * channel held one. cur and prev borrowed (NULL: none). */
static json_t *assign_payload(const reg_ctx *ctx, const char *bucket_id, const char *bucket,
                              const reg_event_channel *ch, json_t *cur, json_t *prev)
{
    json_t *empty = json_object();
    json_t *p = common_payload(ctx, cur ? cur : empty, bucket_id, bucket, true);
    json_decref(empty);
    json_object_set_new(p, "channel",
                        json_pack("{s:s, s:s, s:s, s:b, s:b}", "id", ch->id, "name", ch->name,
                                  "author_id", ch->author ? ch->author : "", "managed", 0,
                                  "restricted", ch->restricted));
    if (prev) {
        json_object_set_new(p, "previous_version", version_ref(prev));
        json_object_set_new(p, "previous_builds", builds_part(json_object_get(prev, "builds")));
    }
    return p;
}

int reg_event_assign(registry *r, const reg_ctx *ctx, const char *bucket,
                     const reg_event_channel *ch, const char *version_id, const char *previous_id,
                     char *err, size_t errlen)
{
    subscribers sub = {.action = "assign"};
    json_t *cur = NULL, *prev = NULL;
    bool cf = false, pf = false;
    reg_brow b = {0};
    int rc = subscribers_load(r, &sub, err, errlen);
    if (rc == 0)
        subscribers_for(&sub, bucket);
    if (rc < 0 || sub.n == 0)
        goto out;
    if ((version_id && !(cur = version_object(r, ctx, version_id, &cf, err, errlen))) ||
        (previous_id && !(prev = version_object(r, ctx, previous_id, &pf, err, errlen))) ||
        reg_bucket_load(r, bucket, &b, err, errlen) < 0) {
        rc = -1;
        goto out;
    }
    rc = enqueue(r, ctx, action_index("assign"), bucket, cf ? version_id : NULL,
                 assign_payload(ctx, b.id, bucket, ch, cf ? cur : NULL, pf ? prev : NULL), &sub,
                 err, errlen);
out:
    reg_brow_dispose(&b);
    json_decref(cur);
    json_decref(prev);
    subscribers_dispose(&sub);
    return rc;
}
