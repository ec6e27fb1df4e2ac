/* Result pages: what a run-task delivery found, kept for a while so that the
 * `url` of its result in HCP Terraform leads somewhere. A row per page, keyed
 * by a random id that the caller makes (the link is the capability: the page
 * needs no token, so the id must not be guessable), pruned by age. The page
 * is a rendered report: it holds no token and, like every report, no
 * sensitive plan value. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

void registry_result_dispose(reg_result *res)
{
    if (!res)
        return;
    free(res->id);
    free(res->task_result_id);
    free(res->run_id);
    free(res->organization);
    free(res->workspace);
    free(res->stage);
    free(res->verdict);
    free(res->page);
    memset(res, 0, sizeof *res);
}

static bool id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n < 16 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return false;
    return true;
}

int registry_result_put(registry *r, const reg_ctx *ctx, const reg_result *res, char *err,
                        size_t errlen)
{
    REG_CALL(r);
    if (!id_ok(res->id) || !res->task_result_id || !res->page)
        return reg_fail(r, REG_EINVAL, err, errlen,
                        "result: id (16-64 lower-case hex), task_result_id and page are required");
    int64_t n = db_run(r->d,
                       "INSERT INTO results (id, task_result_id, run_id, organization, workspace,"
                       " stage, verdict, created_at, page) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       "tttttttTt", res->id, res->task_result_id, res->run_id, res->organization,
                       res->workspace, res->stage, res->verdict, ctx->now, res->page);
    return n < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int registry_result_get(registry *r, const char *id, ig_time not_before, reg_result *res, char *err,
                        size_t errlen)
{
    REG_CALL(r);
    memset(res, 0, sizeof *res);
    if (!id_ok(id))
        return 0;
    db_stmt *s =
        db_query(r->d,
                 "SELECT id, task_result_id, run_id, organization, workspace, stage,"
                 " verdict, created_at, page FROM results WHERE id = ? AND created_at >= ?",
                 "tT", id, not_before);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        res->id = db_column_dup(s, 0);
        res->task_result_id = db_column_dup(s, 1);
        res->run_id = db_column_dup(s, 2);
        res->organization = db_column_dup(s, 3);
        res->workspace = db_column_dup(s, 4);
        res->stage = db_column_dup(s, 5);
        res->verdict = db_column_dup(s, 6);
        res->created_at = db_column_time(s, 7);
        res->page = db_column_dup(s, 8);
    }
    db_finalize(s);
    if (rc < 0)
        return reg_dbfail(r, err, errlen);
    return rc == 1 ? 1 : 0;
}

int registry_result_prune(registry *r, ig_time cutoff, char *err, size_t errlen)
{
    REG_CALL(r);
    int64_t n = db_run(r->d, "DELETE FROM results WHERE created_at < ?", "T", cutoff);
    return n < 0 ? reg_dbfail(r, err, errlen) : (int)n;
}
