/* The audit trail: one row per change, written by the model in the same
 * transaction as the change itself, so the trail and the state can never
 * disagree. Time is ctx->now (the logical clock), author ctx->author.
 * During a dry run (registry_version_revoke_dry_run) each entry is also
 * appended to r->trace, so the answer says exactly what the change would
 * have recorded before the transaction is rolled back. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int reg_audit(registry *r, const reg_ctx *ctx, const char *action, const char *bucket,
              const char *target, json_t *detail, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    char *text = detail ? json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    if (r->trace)
        json_array_append_new(r->trace, json_pack("{s:s, s:o, s:o, s:O?}", "action", action,
                                                  "bucket", reg_str_json(bucket), "target",
                                                  reg_str_json(target), "detail", detail));
    json_decref(detail);
    reg_new_id(id);
    int64_t rc = db_run(r->d,
                        "INSERT INTO audit (id, at, author, action, bucket, target, detail)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?)",
                        "tTttttt", id, ctx->now, ctx->author ? ctx->author : "unknown", action,
                        bucket, target, text);
    free(text);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int registry_audit_add(registry *r, const reg_ctx *ctx, const char *action, const char *bucket,
                       const char *target, json_t *detail, char *err, size_t errlen)
{
    REG_CALL(r);
    if (!action || !*action)
        return reg_fail(r, REG_EINVAL, err, errlen, "audit: empty action");
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    if (reg_audit(r, ctx, action, bucket, target, json_incref(detail), err, errlen) < 0) {
        reg_tx_abort(r);
        return -1;
    }
    return reg_tx_commit(r, err, errlen);
}

/* Reads audit rows from s (finalised here): a new array, or NULL. */
static json_t *audit_rows(registry *r, db_stmt *s, char *err, size_t errlen)
{
    json_t *arr = json_array();
    int rc;
    while ((rc = db_step(s)) == 1) {
        const char *detail = db_column_text(s, 6);
        json_t *d = detail ? json_loads(detail, 0, NULL) : NULL;
        json_array_append_new(
            arr,
            json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:o}", "id", db_column_text(s, 0), "at",
                      reg_time_json(db_column_time(s, 1)), "author", db_column_text(s, 2), "action",
                      db_column_text(s, 3), "bucket", reg_str_json(db_column_text(s, 4)), "target",
                      reg_str_json(db_column_text(s, 5)), "detail", d ? d : json_null()));
    }
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
        json_decref(arr);
        arr = NULL;
    }
    db_finalize(s);
    return arr;
}

json_t *registry_audit_list(registry *r, ig_time since, const char *bucket, int limit, char *err,
                            size_t errlen)
{
    return registry_audit_list_after(r, since, bucket, IG_TIME_NONE, NULL, limit, err, errlen);
}

json_t *registry_audit_list_after(registry *r, ig_time since, const char *bucket, ig_time after_at,
                                  const char *after_id, int limit, char *err, size_t errlen)
{
    reg_audit_filter f = {.since = since, .until = IG_TIME_NONE, .bucket = bucket};
    return registry_audit_query(r, &f, after_at, after_id, limit, err, errlen);
}

json_t *registry_audit_query(registry *r, const reg_audit_filter *f, ig_time after_at,
                             const char *after_id, int limit, char *err, size_t errlen)
{
    REG_CALL(r);
    /* (at, id) is the list's order; rows after the cursor are those with a
     * later time, or the same time and a larger id (earlier and smaller
     * when newest first). NULL-tolerant filters keep one statement per
     * order for every combination. */
#define AUDIT_WHERE(cmp)                                                                           \
    "SELECT id, at, author, action, bucket, target, detail FROM audit"                             \
    " WHERE (CAST(? AS BIGINT) IS NULL OR at >= ?)"                                                \
    " AND (CAST(? AS BIGINT) IS NULL OR at < ?)"                                                   \
    " AND (CAST(? AS TEXT) IS NULL OR bucket = ?)"                                                 \
    " AND (CAST(? AS TEXT) IS NULL OR author = ?)"                                                 \
    " AND (CAST(? AS TEXT) IS NULL OR at " cmp " ? OR (at = ? AND id " cmp " ?))"
    const char *sql = f->newest_first ? AUDIT_WHERE("<") " ORDER BY at DESC, id DESC LIMIT ?"
                                      : AUDIT_WHERE(">") " ORDER BY at, id LIMIT ?";
#undef AUDIT_WHERE
    db_stmt *s = db_query(r->d, sql, "TTTTtttttTTti", f->since, f->since, f->until, f->until,
                          f->bucket, f->bucket, f->author, f->author, after_id, after_at, after_at,
                          after_id, (int64_t)(limit > 0 ? limit : INT32_MAX));
    if (!s) {
        reg_dbfail(r, err, errlen);
        return NULL;
    }
    return audit_rows(r, s, err, errlen);
}
