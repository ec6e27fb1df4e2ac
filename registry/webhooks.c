/* Webhooks: the receivers of event notifications, what they were sent and
 * sending an event again (docs/events.md).
 *
 * A webhook's secret is the HMAC key of every delivery, so it is kept as it
 * is -- in the store only. It is never part of an answer, a list, an audit
 * entry or a message; the outbox hands it to the sender alone
 * (registry_outbox_claim). A SQLite store that others than its owner may
 * read is refused as a place for one (its -wal and -shm files too: SQLite
 * copies the database file's mode to them).
 *
 * Deliveries are listed newest first with their attempt log; a redelivery
 * is a new delivery at the end of the webhook's queue, so each delivery row
 * records at most one success and the order per webhook holds. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define WEBHOOK_MAX_NAME 64
#define WEBHOOK_MAX_URL 2048
#define WEBHOOK_MIN_SECRET 16
#define WEBHOOK_MAX_SECRET 1024
#define WEBHOOK_MAX_BUCKETS 100
#define DELIVERIES_DEFAULT 100
#define DELIVERIES_MAX 1000

static const char *const state_names[] = {"pending", "delivered", "failed"};

/* ---- checks ------------------------------------------------------------- */

static int check_name(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= WEBHOOK_MAX_NAME;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_' || name[i] == '.';
    if (ok)
        return 0;
    snprintf(err, errlen,
             "webhook name '%.60s': must be 1-%d characters of letters, digits, '-', '_' and '.'",
             name ? name : "", WEBHOOK_MAX_NAME);
    return -1;
}

/* An absolute http(s) URL of printable ASCII with a host and no userinfo
 * (credentials belong in the secret, and never in a list or a log). */
static int check_url(const char *url, char *err, size_t errlen)
{
    size_t n = url ? strlen(url) : 0;
    const char *why = NULL;
    size_t skip = n >= 8 && strncasecmp(url, "https://", 8) == 0  ? 8
                  : n >= 7 && strncasecmp(url, "http://", 7) == 0 ? 7
                                                                  : 0;
    if (n == 0 || n > WEBHOOK_MAX_URL)
        why = "must be 1-2048 bytes";
    else if (!skip)
        why = "must be an absolute http:// or https:// URL";
    for (size_t i = 0; !why && i < n; i++)
        if ((unsigned char)url[i] <= 0x20 || (unsigned char)url[i] >= 0x7f)
            why = "must be printable ASCII without spaces (percent-encode the rest)";
    size_t auth = why ? 0 : strcspn(url + skip, "/?#");
    if (!why && auth == 0)
        why = "has no host";
    if (!why && memchr(url + skip, '@', auth))
        why = "must not hold a user name or password (the receiver checks the signature)";
    if (!why)
        return 0;
    snprintf(err, errlen, "url: %s", why);
    return -1;
}

static int check_secret(const char *secret, char *err, size_t errlen)
{
    size_t n = secret ? strlen(secret) : 0;
    bool ok = n >= WEBHOOK_MIN_SECRET && n <= WEBHOOK_MAX_SECRET;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)secret[i] >= 0x20 && (unsigned char)secret[i] < 0x7f;
    if (ok)
        return 0;
    snprintf(err, errlen, "secret: must be %d-%d printable ASCII characters", WEBHOOK_MIN_SECRET,
             WEBHOOK_MAX_SECRET);
    return -1;
}

static int check_lists(const reg_webhook_spec *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_events; i++) {
        if (!registry_event_action_valid(s->events[i])) {
            snprintf(err, errlen,
                     "event '%.40s': not an event action (create, complete, revoke, restore, "
                     "delete, schedule-revocation, cancel-revocation, assign)",
                     s->events[i] ? s->events[i] : "");
            return -1;
        }
    }
    if (s->n_buckets > WEBHOOK_MAX_BUCKETS) {
        snprintf(err, errlen, "buckets: at most %d", WEBHOOK_MAX_BUCKETS);
        return -1;
    }
    for (size_t i = 0; i < s->n_buckets; i++)
        if (registry_valid_bucket_name(s->buckets[i], err, errlen) < 0)
            return -1;
    return 0;
}

int registry_webhook_check(const reg_webhook_spec *s, char *err, size_t errlen)
{
    if (check_name(s->name, err, errlen) < 0 || check_url(s->url, err, errlen) < 0 ||
        check_secret(s->secret, err, errlen) < 0 || check_lists(s, err, errlen) < 0)
        return -1;
    return 0;
}

/* A SQLite store (and its -wal and -shm files) readable or writable by
 * anyone but its owner is no place for a secret. */
static int store_private(registry *r, char *err, size_t errlen)
{
    const char *path = db_sqlite_path(r->d);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (size_t i = 0; path && i < sizeof suffix / sizeof suffix[0]; i++) {
        char *p = xasprintf("%s%s", path, suffix[i]);
        struct stat st;
        int rc = stat(p, &st);
        bool open_to_others = rc == 0 && (st.st_mode & 077);
        if (open_to_others)
            reg_fail(r, REG_ECONFLICT, err, errlen,
                     "%s has mode %03o: others may read it, so it cannot keep a webhook secret; "
                     "chmod 600 the store and its -wal and -shm files",
                     p, (unsigned)(st.st_mode & 0777));
        free(p);
        if (open_to_others)
            return -1;
    }
    return 0;
}

/* ---- create, list, get, delete ----------------------------------------- */

static json_t *string_array(const char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

/* The webhook columns of WEBHOOK_COLS as an object (never the secret). */
#define WEBHOOK_COLS                                                                               \
    "w.name, w.url, w.actions, w.buckets, w.created_at, w.created_by,"                             \
    " (SELECT COUNT(*) FROM event_deliveries d WHERE d.webhook_id = w.id AND d.state = 0),"        \
    " (SELECT COUNT(*) FROM event_deliveries d WHERE d.webhook_id = w.id AND d.state = 1),"        \
    " (SELECT COUNT(*) FROM event_deliveries d WHERE d.webhook_id = w.id AND d.state = 2)"         \
    " FROM webhooks w"

static json_t *list_or_empty(const char *text)
{
    json_t *a = text ? json_loads(text, 0, NULL) : NULL;
    if (!json_is_array(a)) {
        json_decref(a);
        a = json_array();
    }
    return a;
}

static void webhook_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(
        arr,
        json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:I, s:I, s:I}", "name", db_column_text(s, 0),
                  "url", db_column_text(s, 1), "events", list_or_empty(db_column_text(s, 2)),
                  "buckets", list_or_empty(db_column_text(s, 3)), "created_at",
                  reg_time_json(db_column_time(s, 4)), "created_by", db_column_text(s, 5),
                  "pending", (json_int_t)db_column_int64(s, 6), "delivered",
                  (json_int_t)db_column_int64(s, 7), "failed", (json_int_t)db_column_int64(s, 8)));
}

json_t *registry_webhook_list(registry *r, char *err, size_t errlen)
{
    REG_CALL(r);
    return reg_query_json(r, webhook_row, err, errlen, "SELECT " WEBHOOK_COLS " ORDER BY w.name",
                          NULL);
}

json_t *registry_webhook_get(registry *r, const char *name, char *err, size_t errlen)
{
    REG_CALL(r);
    json_t *arr = reg_query_json(r, webhook_row, err, errlen,
                                 "SELECT " WEBHOOK_COLS " WHERE w.name = ?", "t", name);
    json_t *one = arr ? json_incref(json_array_get(arr, 0)) : NULL;
    if (arr && !one)
        reg_fail(r, REG_ENOTFOUND, err, errlen, "webhook '%.64s' does not exist", name);
    json_decref(arr);
    return one;
}

static int webhook_insert(registry *r, const reg_ctx *ctx, const reg_webhook_spec *s, char *err,
                          size_t errlen)
{
    char id[ULID_LEN + 1];
    json_t *ev = string_array(s->events, s->n_events), *bk = string_array(s->buckets, s->n_buckets);
    char *evs = json_dumps(ev, JSON_COMPACT), *bks = json_dumps(bk, JSON_COMPACT);
    reg_new_id(id);
    int64_t n = db_run(r->d,
                       "INSERT INTO webhooks (id, name, url, secret, actions, buckets, created_at,"
                       " created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       "ttttttTt", id, s->name, s->url, s->secret, evs, bks, ctx->now,
                       ctx->author ? ctx->author : "unknown");
    int rc = 0;
    if (n < 0 && db_errcode(r->d) == REG_ECONFLICT)
        rc = reg_fail(r, REG_ECONFLICT, err, errlen, "webhook '%s' already exists", s->name);
    else if (n < 0)
        rc = reg_dbfail(r, err, errlen);
    else
        rc = reg_audit(r, ctx, "webhook.create", NULL, s->name,
                       json_pack("{s:s, s:O, s:O}", "url", s->url, "events", ev, "buckets", bk),
                       err, errlen);
    free(evs);
    free(bks);
    json_decref(ev);
    json_decref(bk);
    return rc;
}

json_t *registry_webhook_create(registry *r, const reg_ctx *ctx, const reg_webhook_spec *s,
                                char *err, size_t errlen)
{
    REG_CALL(r);
    if (registry_webhook_check(s, err, errlen) < 0) {
        r->errcode = REG_EINVAL;
        return NULL;
    }
    if (store_private(r, err, errlen) < 0 || reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    int rc = webhook_insert(r, ctx, s, err, errlen);
    if (reg_tx_end(r, rc, err, errlen) < 0)
        return NULL;
    return registry_webhook_get(r, s->name, err, errlen);
}

int registry_webhook_delete(registry *r, const reg_ctx *ctx, const char *name, char *err,
                            size_t errlen)
{
    REG_CALL(r);
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int64_t n = db_run(r->d, "DELETE FROM webhooks WHERE name = ?", "t", name);
    int rc = n < 0 ? reg_dbfail(r, err, errlen)
             : n == 0
                 ? reg_fail(r, REG_ENOTFOUND, err, errlen, "webhook '%.64s' does not exist", name)
                 : reg_audit(r, ctx, "webhook.delete", NULL, name, NULL, err, errlen);
    return reg_tx_end(r, rc, err, errlen);
}

/* ---- deliveries ---------------------------------------------------------- */

static void attempt_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_pack("{s:o, s:I, s:I, s:o, s:o}", "at",
                                         reg_time_json(db_column_time(s, 0)), "status",
                                         (json_int_t)db_column_int64(s, 1), "latency_ms",
                                         (json_int_t)db_column_int64(s, 2), "response",
                                         reg_str_json(db_column_text(s, 3)), "error",
                                         reg_str_json(db_column_text(s, 4))));
}

/* The version an event is about, {name, fingerprint}, read from its body. */
static json_t *event_version(const char *body)
{
    json_t *e = body ? json_loads(body, 0, NULL) : NULL;
    json_t *v = json_object_get(json_object_get(e, "event_payload"), "version");
    const char *name = json_string_value(json_object_get(v, "name"));
    const char *fp = json_string_value(json_object_get(v, "fingerprint"));
    json_t *out = json_pack("{s:o, s:o}", "name", reg_str_json(name && *name ? name : NULL),
                            "fingerprint", reg_str_json(fp && *fp ? fp : NULL));
    json_decref(e);
    return out;
}

static void delivery_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    int64_t st = db_column_int64(s, 5);
    json_t *v = event_version(db_column_text(s, 4));
    json_array_append_new(
        arr,
        json_pack(
            "{s:s, s:s, s:s, s:o, s:O, s:O, s:s, s:I, s:o, s:o, s:o, s:b, s:[]}", "id",
            db_column_text(s, 0), "event_id", db_column_text(s, 1), "action", db_column_text(s, 2),
            "bucket", reg_str_json(db_column_text(s, 3)), "version", json_object_get(v, "name"),
            "fingerprint", json_object_get(v, "fingerprint"), "state",
            st >= 0 && st < 3 ? state_names[st] : "unknown", "attempts",
            (json_int_t)db_column_int64(s, 6), "created_at", reg_time_json(db_column_time(s, 7)),
            "next_at", st == 0 ? reg_time_json(db_column_time(s, 8)) : json_null(), "finished_at",
            reg_time_json(db_column_time(s, 9)), "redelivery", db_column_int64(s, 10) != 0, "log"));
    json_decref(v);
}

json_t *registry_webhook_deliveries(registry *r, const char *name, int limit, char *err,
                                    size_t errlen)
{
    REG_CALL(r);
    json_t *hook = registry_webhook_get(r, name, err, errlen);
    if (!hook)
        return NULL;
    json_decref(hook);
    int64_t lim = limit <= 0 ? DELIVERIES_DEFAULT : limit > DELIVERIES_MAX ? DELIVERIES_MAX : limit;
    json_t *arr = reg_query_json(
        r, delivery_row, err, errlen,
        "SELECT d.id, d.event_id, e.action, e.bucket, e.body, d.state, d.attempts, d.created_at,"
        " d.next_at, d.finished_at, CASE WHEN EXISTS (SELECT 1 FROM event_deliveries x"
        " WHERE x.webhook_id = d.webhook_id AND x.event_id = d.event_id AND x.seq < d.seq)"
        " THEN 1 ELSE 0 END FROM event_deliveries d JOIN events e ON e.id = d.event_id"
        " JOIN webhooks w ON w.id = d.webhook_id WHERE w.name = ? ORDER BY d.seq DESC LIMIT ?",
        "ti", name, lim);
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        if (reg_query_rows(r, 0, attempt_row, json_object_get(d, "log"), err, errlen,
                           "SELECT at, status, latency_ms, response, error FROM event_attempts"
                           " WHERE delivery_id = ? ORDER BY at, id",
                           "t", json_string_value(json_object_get(d, "id"))) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* ---- redelivery ----------------------------------------------------------- */

/* A webhook that had the event: its id, name and the state of its latest
 * delivery of it. */
typedef struct hadrow {
    char *id, *name;
    int64_t state;
} hadrow;

static void hadrow_fill(db_stmt *s, void *row)
{
    hadrow *h = row;
    h->id = db_column_dup(s, 0);
    h->name = db_column_dup(s, 1);
    h->state = db_column_int64(s, 2);
}

static void hadrow_dispose(void *row)
{
    hadrow *h = row;
    free(h->id);
    free(h->name);
}

static int redeliver_to(registry *r, const char *event_id, const hadrow *h, json_t *out, char *err,
                        size_t errlen)
{
    char id[ULID_LEN + 1];
    ig_time now = ig_time_now(); /* the sender's clock, as for any delivery */
    reg_new_id(id);
    if (db_run(r->d,
               "INSERT INTO event_deliveries (id, webhook_id, event_id, seq, state, attempts,"
               " next_at, created_at) SELECT ?, ?, ?, COALESCE(MAX(seq), 0) + 1, 0, 0, ?, ?"
               " FROM event_deliveries WHERE webhook_id = ?",
               "tttTTt", id, h->id, event_id, now, now, h->id) < 0)
        return reg_dbfail(r, err, errlen);
    json_array_append_new(out, json_pack("{s:s, s:s}", "webhook", h->name, "delivery_id", id));
    return 0;
}

/* New deliveries for the webhooks in rows whose latest one is finished. */
static int redeliver_rows(registry *r, const reg_ctx *ctx, const char *event_id,
                          const reg_rows *rows, json_t *out, char *err, size_t errlen)
{
    size_t pending = 0;
    int rc = 0;
    json_t *names = json_array();
    for (size_t i = 0; rc == 0 && i < rows->n; i++) {
        const hadrow *h = (const hadrow *)rows->v + i;
        if (h->state == 0) {
            pending++;
            continue;
        }
        rc = redeliver_to(r, event_id, h, out, err, errlen);
        json_array_append_new(names, json_string(h->name));
    }
    if (rc == 0 && json_array_size(out) == 0)
        rc = reg_fail(r, REG_ECONFLICT, err, errlen,
                      "event %.80s is still pending for %zu webhook(s); it will be delivered",
                      event_id, pending);
    if (rc == 0)
        rc = reg_audit(r, ctx, "webhook.redeliver", NULL, event_id,
                       json_pack("{s:O}", "webhooks", names), err, errlen);
    json_decref(names);
    return rc;
}

json_t *registry_event_redeliver(registry *r, const reg_ctx *ctx, const char *event_id,
                                 const char *webhook, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_rows rows = {.size = sizeof(hadrow), .fill = hadrow_fill, .dispose = hadrow_dispose};
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    json_t *out = json_array();
    int rc =
        reg_query_rows(r, 0, reg_rows_add, &rows, err, errlen,
                       "SELECT w.id, w.name, (SELECT d.state FROM event_deliveries d"
                       " WHERE d.webhook_id = w.id AND d.event_id = ? ORDER BY d.seq DESC LIMIT 1)"
                       " FROM webhooks w WHERE (CAST(? AS TEXT) IS NULL OR w.name = ?)"
                       " AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.webhook_id = w.id"
                       " AND d.event_id = ?) ORDER BY w.name",
                       "tttt", event_id, webhook, webhook, event_id) < 0
            ? -1
            : 0;
    if (rc == 0 && rows.n == 0)
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "event '%.80s' was never sent to %s%.64s%s",
                      event_id, webhook ? "webhook '" : "any webhook", webhook ? webhook : "",
                      webhook ? "'" : "");
    if (rc == 0)
        rc = redeliver_rows(r, ctx, event_id, &rows, out, err, errlen);
    reg_rows_free(&rows);
    if (rc < 0) {
        json_decref(out);
        out = NULL;
    }
    return reg_tx_end_json(r, out, err, errlen);
}
