/* GET /results/ID: the page a run-task result's `url` points at.
 *
 * A delivery worker stores the page (registry_result_put) before it sends
 * the final status; this handler reads it on a store worker and answers on
 * the loop. The random 128-bit id is the only key: the link is what HCP
 * Terraform shows the people who can see the run, and it needs no token. The
 * page is plain text (never interpreted as HTML, so nothing in a plan can
 * script it) and, like every report, holds no sensitive value. Pages older
 * than --result-retention are not served, and workers prune them. */
#include "webhook/server.h"

#include "common/log.h"
#include "common/xalloc.h"
#include "webhook/config.h"

#include <stdlib.h>
#include <string.h>

typedef struct result_job {
    struct evhttp_request *req;
    char *id;
    ig_time not_before;
    int found; /* 1 found, 0 not, -1 store error */
    reg_result res;
    char err[256];
} result_job;

static void result_work(webhook_worker *w, void *arg)
{
    result_job *j = arg;
    registry *r = webhook_worker_registry(w, j->err, sizeof j->err);
    j->found =
        r ? registry_result_get(r, j->id, j->not_before, &j->res, j->err, sizeof j->err) : -1;
    if (r && j->found < 0 && registry_errcode(r) == REG_ESTORE)
        webhook_worker_reset_registry(w);
}

static void result_done(webhook_server *srv, void *arg)
{
    (void)srv;
    result_job *j = arg;
    if (j->found == 1) {
        webhook_reply_text(j->req, 200, "text/plain; charset=utf-8", j->res.page,
                           strlen(j->res.page));
    } else if (j->found == 0) {
        webhook_reply_error(j->req, 404,
                            "no such result (results are kept for "
                            "--result-retention)");
    } else {
        char q[300];
        log_warn("event=result_read_failed error=%s", log_quote(j->err, q, sizeof q));
        webhook_reply_error(j->req, 503, "the store is not reachable");
    }
    registry_result_dispose(&j->res);
    free(j->id);
    free(j);
}

void webhook_handle_result(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    const webhook_config *cfg = webhook_server_config(srv);
    const char *id = path + strlen("/results/");
    if (cfg->result_retention <= 0 || !*id || strchr(id, '/')) {
        webhook_reply_error(req, 404, "no such result");
        return;
    }
    result_job *j = xcalloc(1, sizeof *j);
    j->req = req;
    j->id = xstrdup(id);
    j->not_before = ig_time_now() - cfg->result_retention;
    if (webhook_submit(srv, result_work, result_done, j) < 0) {
        free(j->id);
        free(j);
        webhook_reply_error(req, 503, "busy: the store queue is full");
    }
}
