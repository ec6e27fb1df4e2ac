/* Runs and usage: what every server-side evaluation saw (issue 15).
 *
 * A run is a row per evaluation: a run-task delivery (keyed by its
 * task_result_id, so a delivery resumed after a crash rewrites its row) or a
 * POST /v1/scan. Usage is a row per (organization, workspace, resource
 * address, image), upserted: a plan scanned every day refreshes last_seen
 * and never grows the table; a late older evaluation never moves it back.
 * Items are merged (PostgreSQL refuses to upsert one row twice in a
 * statement), their version ids looked up once per version, then written
 * USAGE_BATCH rows per INSERT in transactions of USAGE_TX_ROWS, so that an
 * acknowledgement waiting for SQLite's one write lock waits for a batch, not
 * a whole plan. A sensitive attribute's row is keyed "(sensitive) BUCKET
 * FINGERPRINT": bucket and version, never the value. Usage outlives a
 * deleted version (no foreign key).
 *
 * Reads: a bucket's usage by bucket name, a version's by the ids of the
 * version and its descendants (reg_version_family), grouped by workspace.
 * The revocation dry run's answer is read here too, inside its transaction:
 * what the audit trail would have said (r->trace) and which versions its
 * revocation rows reached. */
#include "registry/reg_internal.h"

#include "common/strbuf.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* usage rows per INSERT, and per transaction */
#define USAGE_BATCH 64
#define USAGE_TX_ROWS 128
/* the dry run names the workspaces of the last 30 days */
#define DRY_RUN_WINDOW (30LL * 24 * 60 * 60 * 1000)

/* ---- recording ------------------------------------------------------------ */

#define USAGE_INSERT                                                                               \
    "INSERT INTO image_usage (organization, workspace, address, image_key, image, bucket,"         \
    " version, version_id, first_seen, last_seen, last_run_id, verdict) VALUES "
#define USAGE_VALUES "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
#define USAGE_UPSERT                                                                               \
    " ON CONFLICT (organization, workspace, address, image_key) DO UPDATE SET"                     \
    " bucket = excluded.bucket, version = excluded.version, version_id = excluded.version_id,"     \
    " last_seen = excluded.last_seen, last_run_id = excluded.last_run_id,"                         \
    " verdict = excluded.verdict WHERE excluded.last_seen >= image_usage.last_seen"

typedef struct usage_row {
    const reg_usage_item *it;
    const char *key;        /* image_key: borrowed from the merge map's key */
    const char *version_id; /* NULL when the version is gone; borrowed from the id cache */
} usage_row;

static void id_cache_dispose(strmap *ids)
{
    for (size_t i = 0; i < ids->cap; i++)
        if (ids->slots[i].key)
            free(ids->slots[i].value);
    strmap_dispose(ids);
}

/* The id of a bucket's version by fingerprint, looked up once per version
 * of the run: a plan of 2000 instances of three images asks three times.
 * Borrowed from ids (NULL when it does not exist); -1 on a store error. */
static int version_id(registry *r, strmap *ids, const reg_usage_item *it, const char **out,
                      char *err, size_t errlen)
{
    char key[600];
    int n =
        snprintf(key, sizeof key, "%s\x1f%s", it->bucket, it->fingerprint ? it->fingerprint : "");
    int created = 0;
    strmap_entry *e =
        strmap_upsert(ids, key, (size_t)(n < (int)sizeof key ? n : (int)sizeof key - 1), &created);
    if (created) {
        db_stmt *s = db_query(r->d,
                              "SELECT v.id FROM versions v JOIN buckets b ON b.id = v.bucket_id"
                              " WHERE b.name = ? AND v.fingerprint = ?",
                              "tt", it->bucket, it->fingerprint);
        int rc = s ? db_step(s) : -1;
        e->value = rc == 1 ? db_column_dup(s, 0) : NULL;
        db_finalize(s);
        if (rc < 0)
            return reg_dbfail(r, err, errlen);
    }
    *out = e->value;
    return 0;
}

/* The items of run without duplicates (same address and image key), in
 * rows; seen owns the keys. Returns how many. */
static size_t merge_items(const reg_run *run, strmap *seen, usage_row *rows)
{
    size_t n = 0;
    strbuf key = STRBUF_INIT;
    for (size_t i = 0; i < run->n_usage; i++) {
        const reg_usage_item *it = &run->usage[i];
        if (!it->address || !it->bucket || !it->version)
            continue;
        strbuf_reset(&key);
        strbuf_puts(&key, it->address);
        strbuf_putc(&key, '\x1f');
        size_t at = key.len;
        if (it->image)
            strbuf_puts(&key, it->image);
        else
            strbuf_printf(&key, "(sensitive) %s %s", it->bucket,
                          it->fingerprint ? it->fingerprint : it->version);
        int created = 0;
        strmap_entry *e = strmap_upsert(seen, key.s, key.len, &created);
        if (created)
            rows[n++] = (usage_row){it, e->key + at, NULL};
    }
    strbuf_dispose(&key);
    return n;
}

static int usage_bind(db_stmt *s, int *idx, const reg_ctx *ctx, const reg_run *run,
                      const char *last_run, const usage_row *u)
{
    const reg_usage_item *it = u->it;
    const char *text[] = {run->organization ? run->organization : "",
                          run->workspace,
                          it->address,
                          u->key,
                          it->image,
                          it->bucket,
                          it->version,
                          u->version_id};
    for (size_t k = 0; k < sizeof text / sizeof text[0]; k++)
        if (db_bind_text(s, (*idx)++, text[k]) < 0)
            return -1;
    if (db_bind_int64(s, (*idx)++, ctx->now) < 0 || db_bind_int64(s, (*idx)++, ctx->now) < 0 ||
        db_bind_text(s, (*idx)++, last_run) < 0 || db_bind_text(s, (*idx)++, run->verdict) < 0)
        return -1;
    return 0;
}

/* One INSERT of n rows. */
static int usage_write(registry *r, const reg_ctx *ctx, const reg_run *run, const char *last_run,
                       const usage_row *rows, size_t n, char *err, size_t errlen)
{
    strbuf sql = STRBUF_INIT;
    strbuf_puts(&sql, USAGE_INSERT);
    for (size_t i = 0; i < n; i++)
        strbuf_puts(&sql, i ? ", " USAGE_VALUES : USAGE_VALUES);
    strbuf_puts(&sql, USAGE_UPSERT);
    db_stmt *s = db_prepare(r->d, sql.s);
    strbuf_dispose(&sql);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int idx = 1, rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = usage_bind(s, &idx, ctx, run, last_run, &rows[i]);
    if (rc == 0)
        rc = db_step(s) < 0 ? -1 : 0;
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

static int run_upsert(registry *r, const reg_ctx *ctx, const reg_run *run, const char *id,
                      char *err, size_t errlen)
{
    int64_t n = db_run(
        r->d,
        "INSERT INTO runs (id, source, task_result_id, run_id, organization, workspace, stage,"
        " verdict, message, resources, gated, images, count_info, count_warn, count_fail,"
        " result_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (task_result_id) DO UPDATE SET run_id = excluded.run_id,"
        " organization = excluded.organization, workspace = excluded.workspace,"
        " stage = excluded.stage, verdict = excluded.verdict, message = excluded.message,"
        " resources = excluded.resources, gated = excluded.gated, images = excluded.images,"
        " count_info = excluded.count_info, count_warn = excluded.count_warn,"
        " count_fail = excluded.count_fail, result_id = excluded.result_id,"
        " created_at = excluded.created_at",
        "tttttttttiiiiiitT", id, run->source, run->task_result_id, run->run_id ? run->run_id : id,
        run->organization, run->workspace, run->stage, run->verdict, run->message, run->resources,
        run->gated, run->images, run->info, run->warn, run->fail, run->result_id, ctx->now);
    return n < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* rows[0..n) in the current transaction: USAGE_BATCH per INSERT, the rest
 * one by one. */
static int usage_write_rows(registry *r, const reg_ctx *ctx, const reg_run *run,
                            const char *last_run, const usage_row *rows, size_t n, char *err,
                            size_t errlen)
{
    size_t i = 0;
    int rc = 0;
    for (; rc == 0 && n - i >= USAGE_BATCH; i += USAGE_BATCH)
        rc = usage_write(r, ctx, run, last_run, rows + i, USAGE_BATCH, err, errlen);
    for (; rc == 0 && i < n; i++)
        rc = usage_write(r, ctx, run, last_run, rows + i, 1, err, errlen);
    return rc;
}

/* The usage rows of run, merged, with their version ids (read before any
 * transaction takes the write lock). *rows: new array of *n (seen and ids
 * own what the rows point to). */
static int usage_prepare(registry *r, const reg_run *run, strmap *seen, strmap *ids,
                         usage_row **rows, size_t *n, char *err, size_t errlen)
{
    *rows = xcalloc(run->n_usage ? run->n_usage : 1, sizeof **rows);
    *n = run->workspace && *run->workspace ? merge_items(run, seen, *rows) : 0;
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < *n; k++)
        rc = version_id(r, ids, (*rows)[k].it, &(*rows)[k].version_id, err, errlen);
    return rc;
}

/* Between two of its transactions the usage writer lets a waiting writer
 * take the store: SQLite has one write lock, and its waiters poll every
 * millisecond (db_sqlite.c); PostgreSQL's advisory lock queues them. */
static void usage_yield(registry *r)
{
    if (r->d->dialect == DB_DIALECT_SQLITE) {
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

/* The run row with the first USAGE_TX_ROWS usage rows, then the rest in
 * transactions of USAGE_TX_ROWS: a run-task acknowledgement waiting for
 * the store waits for one of them, not for a 40 000-row plan. Every row is
 * an idempotent upsert, so a failure half-way leaves nothing wrong, only
 * less recorded. */
static int run_write(registry *r, const reg_ctx *ctx, const reg_run *run, const char *id,
                     const usage_row *rows, size_t n, char *err, size_t errlen)
{
    const char *last_run = run->run_id ? run->run_id : id;
    size_t done = 0;
    int rc = 0;
    do {
        size_t k = n - done < USAGE_TX_ROWS ? n - done : USAGE_TX_ROWS;
        if (done)
            usage_yield(r);
        if (reg_tx_begin(r, err, errlen) < 0)
            return -1;
        rc = done == 0 ? run_upsert(r, ctx, run, id, err, errlen) : 0;
        if (rc == 0)
            rc = usage_write_rows(r, ctx, run, last_run, rows + done, k, err, errlen);
        rc = reg_tx_end(r, rc, err, errlen);
        done += k;
    } while (rc == 0 && done < n);
    return rc;
}

int registry_run_record(registry *r, const reg_ctx *ctx, const reg_run *run, char *err,
                        size_t errlen)
{
    REG_CALL(r);
    char id[ULID_LEN + 1];
    if (!run->source || !run->stage || !run->verdict)
        return reg_fail(r, REG_EINVAL, err, errlen, "run: source, stage and verdict are required");
    if (reg_text_check(r, run->message, REG_MAX_TEXT, "run message", err, errlen) < 0)
        return -1;
    if (run->id)
        snprintf(id, sizeof id, "%s", run->id);
    else
        reg_new_id(id);
    strmap seen, ids;
    strmap_init(&seen);
    strmap_init(&ids);
    usage_row *rows = NULL;
    size_t n = 0;
    int rc = usage_prepare(r, run, &seen, &ids, &rows, &n, err, errlen);
    if (rc == 0)
        rc = run_write(r, ctx, run, id, rows, n, err, errlen);
    free(rows);
    strmap_dispose(&seen);
    id_cache_dispose(&ids);
    return rc;
}

int registry_usage_prune(registry *r, ig_time cutoff, char *err, size_t errlen)
{
    REG_CALL(r);
    int64_t a = db_run(r->d, "DELETE FROM image_usage WHERE last_seen < ?", "T", cutoff);
    int64_t b = a < 0 ? -1 : db_run(r->d, "DELETE FROM runs WHERE created_at < ?", "T", cutoff);
    return b < 0 ? reg_dbfail(r, err, errlen) : (int)(a + b);
}

/* ---- runs ----------------------------------------------------------------- */

static void run_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_t *summary = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I}", "resources", (json_int_t)db_column_int64(s, 9), "gated",
        (json_int_t)db_column_int64(s, 10), "images", (json_int_t)db_column_int64(s, 11), "info",
        (json_int_t)db_column_int64(s, 12), "warn", (json_int_t)db_column_int64(s, 13), "fail",
        (json_int_t)db_column_int64(s, 14));
    json_array_append_new(
        arr, json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "id",
                       db_column_text(s, 0), "source", db_column_text(s, 1), "run_id",
                       reg_str_json(db_column_text(s, 2)), "task_result_id",
                       reg_str_json(db_column_text(s, 3)), "organization",
                       reg_str_json(db_column_text(s, 4)), "workspace",
                       reg_str_json(db_column_text(s, 5)), "stage", db_column_text(s, 6), "verdict",
                       db_column_text(s, 7), "message", reg_str_json(db_column_text(s, 8)),
                       "summary", summary, "result_id", reg_str_json(db_column_text(s, 15)),
                       "evaluated_at", reg_time_json(db_column_time(s, 16))));
}

json_t *registry_run_list(registry *r, const char *organization, const char *workspace,
                          ig_time since, ig_time after_at, const char *after_id, int limit,
                          char *err, size_t errlen)
{
    REG_CALL(r);
    return reg_query_json(
        r, run_row, err, errlen,
        "SELECT id, source, run_id, task_result_id, organization, workspace, stage, verdict,"
        " message, resources, gated, images, count_info, count_warn, count_fail, result_id,"
        " created_at FROM runs WHERE (CAST(? AS TEXT) IS NULL OR organization = ?)"
        " AND (CAST(? AS TEXT) IS NULL OR workspace = ?)"
        " AND (CAST(? AS BIGINT) IS NULL OR created_at >= ?)"
        " AND (CAST(? AS TEXT) IS NULL OR created_at < ? OR (created_at = ? AND id < ?))"
        " ORDER BY created_at DESC, id DESC LIMIT ?",
        "ttttTTtiiti", organization, organization, workspace, workspace, since, since, after_id,
        (int64_t)after_at, (int64_t)after_at, after_id, (int64_t)(limit > 0 ? limit : INT32_MAX));
}

/* ---- usage ---------------------------------------------------------------- */

/* Which rows a usage read looks at: a version and its descendants (ids), or
 * with no ids every version of bucket; last seen at or after since. */
typedef struct usage_filter {
    const char *bucket;
    char **ids;
    size_t n, cap;
    ig_time since;
} usage_filter;

static void usage_filter_dispose(usage_filter *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->ids[i]);
    free(f->ids);
    f->ids = NULL;
    f->n = f->cap = 0;
}

/* Prepares head + the filter's condition + tail, and binds pre (texts), the
 * filter, then post (integers). NULL after a store error (recorded). */
static db_stmt *filter_query(registry *r, const char *head, const usage_filter *f, const char *tail,
                             const char *const *pre, size_t n_pre, const int64_t *post,
                             size_t n_post, char *err, size_t errlen)
{
    strbuf sql = STRBUF_INIT;
    strbuf_puts(&sql, head);
    if (f->n == 0)
        strbuf_puts(&sql, "bucket = ?");
    for (size_t i = 0; i < f->n; i++)
        strbuf_puts(&sql, i == 0 ? "version_id IN (?" : ", ?");
    strbuf_puts(&sql, f->n ? ") AND last_seen >= ?" : " AND last_seen >= ?");
    strbuf_puts(&sql, tail);
    db_stmt *s = db_prepare(r->d, sql.s);
    strbuf_dispose(&sql);
    int idx = 1, rc = s ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n_pre; i++)
        rc = db_bind_text(s, idx++, pre[i]);
    if (rc == 0 && f->n == 0)
        rc = db_bind_text(s, idx++, f->bucket);
    for (size_t i = 0; rc == 0 && i < f->n; i++)
        rc = db_bind_text(s, idx++, f->ids[i]);
    if (rc == 0)
        rc = db_bind_int64(s, idx++, f->since);
    for (size_t i = 0; rc == 0 && i < n_post; i++)
        rc = db_bind_int64(s, idx++, post[i]);
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
        db_finalize(s);
        return NULL;
    }
    return s;
}

/* The rows of s (finalised here) as a new array, row() making each; NULL
 * after a store error. */
static json_t *stmt_json(registry *r, db_stmt *s, reg_row_fn row, char *err, size_t errlen)
{
    if (!s)
        return NULL;
    json_t *arr = json_array();
    size_t n = 0;
    int rc;
    while ((rc = db_step(s)) == 1)
        row(s, n++, arr);
    db_finalize(s);
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
        json_decref(arr);
        return NULL;
    }
    return arr;
}

/* An organization as stored ('' when the evaluation named none) in JSON. */
static json_t *org_json(const char *org)
{
    return org && *org ? json_string(org) : json_null();
}

static void workspace_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_pack("{s:o, s:s, s:o}", "organization",
                                         org_json(db_column_text(s, 0)), "workspace",
                                         db_column_text(s, 1), "last_seen",
                                         reg_time_json(db_column_time(s, 2))));
}

static void resource_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr,
                          json_pack("{s:s, s:o, s:s, s:s, s:o}", "address", db_column_text(s, 0),
                                    "image", reg_str_json(db_column_text(s, 1)), "bucket",
                                    db_column_text(s, 2), "version", db_column_text(s, 3),
                                    "last_seen", reg_time_json(db_column_time(s, 4))));
}

/* The workspaces of the filter (one page: limit rows from offset), each with
 * its resources. New array, or NULL. */
static json_t *usage_workspaces(registry *r, const usage_filter *f, int64_t limit, int64_t offset,
                                char *err, size_t errlen)
{
    const int64_t bounds[2] = {limit, offset};
    json_t *ws = stmt_json(
        r,
        filter_query(r, "SELECT organization, workspace, MAX(last_seen) FROM image_usage WHERE ", f,
                     " GROUP BY organization, workspace ORDER BY organization, workspace"
                     " LIMIT ? OFFSET ?",
                     NULL, 0, bounds, 2, err, errlen),
        workspace_row, err, errlen);
    size_t i;
    json_t *w;
    json_array_foreach(ws, i, w)
    {
        const char *org = json_string_value(json_object_get(w, "organization"));
        const char *pre[2] = {org ? org : "", json_string_value(json_object_get(w, "workspace"))};
        json_t *res = stmt_json(
            r,
            filter_query(r,
                         "SELECT address, image, bucket, version, last_seen FROM image_usage"
                         " WHERE organization = ? AND workspace = ? AND ",
                         f, " ORDER BY address, bucket, version, image_key", pre, 2, NULL, 0, err,
                         errlen),
            resource_row, err, errlen);
        if (!res) {
            json_decref(ws);
            return NULL;
        }
        json_object_set_new(w, "resources", res);
    }
    return ws;
}

/* Fills f for bucket (and version ref, with its descendants); *name gets the
 * version's name. */
static int usage_scope(registry *r, const char *bucket, const char *ref, usage_filter *f,
                       char name[32], char *err, size_t errlen)
{
    reg_brow b = {0};
    reg_vrow v = {0};
    int rc = ref ? reg_version_find(r, bucket, ref, &b, &v, err, errlen)
                 : reg_bucket_load(r, bucket, &b, err, errlen);
    if (rc == 0 && ref) {
        reg_vrow_name(&v, name);
        rc = reg_version_family(r, v.id, &f->ids, &f->n, err, errlen);
    }
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return rc;
}

json_t *registry_usage_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           ig_time since, reg_page *page, char *err, size_t errlen)
{
    REG_CALL(r);
    (void)ctx;
    usage_filter f = {.bucket = bucket, .since = since};
    int64_t limit, offset;
    char name[32] = "";
    json_t *ws = NULL;
    if (reg_page_bounds(r, page, &limit, &offset, err, errlen) < 0 ||
        usage_scope(r, bucket, ref, &f, name, err, errlen) < 0)
        goto done;
    /* one more than the page tells whether another page follows */
    ws = usage_workspaces(r, &f, limit < INT32_MAX ? limit + 1 : limit, offset, err, errlen);
    if (ws) {
        reg_page_next(page, offset, limit, json_array_size(ws));
        while ((int64_t)json_array_size(ws) > limit)
            json_array_remove(ws, json_array_size(ws) - 1);
    }
done:
    usage_filter_dispose(&f);
    if (!ws)
        return NULL;
    return json_pack("{s:s, s:o, s:o, s:o}", "bucket", bucket, "version",
                     ref ? json_string(name) : json_null(), "since", reg_time_json(since),
                     "workspaces", ws);
}

/* ---- the revocation dry run ----------------------------------------------- */

/* The inherits and channels of a revocation from the audit entries it made. */
static void trace_changes(json_t *trace, json_t *inherits, json_t *channels)
{
    size_t i, k;
    json_t *e, *x;
    json_array_foreach(trace, i, e)
    {
        const char *action = json_string_value(json_object_get(e, "action"));
        json_t *d = json_object_get(e, "detail");
        if (action && strcmp(action, "version.revoke") == 0) {
            json_array_foreach(json_object_get(d, "inherited_by"), k, x)
            {
                json_array_append_new(
                    inherits, json_pack("{s:O?, s:O?}", "bucket", json_object_get(x, "bucket_name"),
                                        "version", json_object_get(x, "version")));
            }
        } else if (action && strcmp(action, "channel.rollback") == 0) {
            json_array_append_new(channels, json_pack("{s:O?, s:O?, s:O?, s:O?}", "bucket",
                                                      json_object_get(e, "bucket"), "channel",
                                                      json_object_get(e, "target"), "from",
                                                      json_object_get(d, "from"), "to",
                                                      json_object_get(d, "to")));
        }
    }
}

static void id_row(db_stmt *s, size_t n, void *arg)
{
    usage_filter *f = arg;
    (void)n;
    xgrow((void **)&f->ids, &f->cap, f->n + 1, sizeof *f->ids);
    f->ids[f->n++] = db_column_dup(s, 0);
}

static void touched_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(
        arr, json_pack("{s:o, s:s, s:s, s:s, s:o}", "organization", org_json(db_column_text(s, 0)),
                       "workspace", db_column_text(s, 1), "bucket", db_column_text(s, 2), "version",
                       db_column_text(s, 3), "last_seen", reg_time_json(db_column_time(s, 4))));
}

json_t *reg_usage_dry_run_answer(registry *r, const reg_ctx *ctx, const char *version_id,
                                 json_t *trace, char *err, size_t errlen)
{
    usage_filter f = {.since = ctx->now - DRY_RUN_WINDOW};
    json_t *inherits = json_array(), *channels = json_array(), *ws = NULL;
    trace_changes(trace, inherits, channels);
    /* the versions the revocation reached: its own row and every inherited one */
    if (reg_query_rows(r, 0, id_row, &f, err, errlen,
                       "SELECT version_id FROM revocations WHERE origin_version_id = ?"
                       " ORDER BY version_id",
                       "t", version_id) < 0)
        ws = NULL;
    else if (f.n == 0)
        ws = json_array();
    else
        ws = stmt_json(r,
                       filter_query(r,
                                    "SELECT organization, workspace, bucket, version,"
                                    " MAX(last_seen) FROM image_usage WHERE ",
                                    &f,
                                    " GROUP BY organization, workspace, bucket, version"
                                    " ORDER BY organization, workspace, bucket, version",
                                    NULL, 0, NULL, 0, err, errlen),
                       touched_row, err, errlen);
    usage_filter_dispose(&f);
    if (!ws) {
        json_decref(inherits);
        json_decref(channels);
        return NULL;
    }
    return json_pack("{s:o, s:o, s:o}", "inherits", inherits, "channels", channels, "workspaces",
                     ws);
}
