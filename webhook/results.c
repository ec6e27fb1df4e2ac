/* Result pages: GET /results/ID, the page a run-task result's `url` (or a
 * POST /v1/scan's X-Imagegate-Result-Url) points at, and the rendering and
 * links both kinds of evaluation share (results.h).
 *
 * A delivery worker stores the page (registry_result_put) before it sends
 * the final status, a scan worker before it answers; this handler reads it
 * on a store worker and answers on the loop. The random 128-bit id is the
 * only key: the link is what HCP Terraform shows the people who can see the
 * run, and it needs no token. The page is plain text (never interpreted as
 * HTML, so nothing in a plan can script it) and, like every report, holds no
 * sensitive value. Pages older than --result-retention are not served, and
 * workers prune them. */
#include "webhook/results.h"

#include "common/hex.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "webhook/callback.h"
#include "webhook/config.h"

#include <openssl/rand.h>
#include <stdio.h>
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

/* ---- rendering and links (any thread) ---------------------------------- */

bool webhook_result_page_link(webhook_server *srv, char id[33], char *url, size_t urllen)
{
    unsigned char raw[16];
    const char *base = webhook_server_public_url(srv);
    id[0] = '\0';
    url[0] = '\0';
    if (webhook_server_config(srv)->result_retention <= 0 || !*base ||
        RAND_bytes(raw, sizeof raw) != 1)
        return false;
    hex_encode(raw, sizeof raw, id);
    int n = snprintf(url, urllen, "%s/results/%s", base, id);
    if (n > 0 && (size_t)n < urllen)
        return true;
    id[0] = '\0';
    url[0] = '\0';
    return false;
}

/* A stdio stream that keeps the first WEBHOOK_RESULT_PAGE_MAX bytes written
 * to it and counts the rest without storing it: a report of a huge plan is
 * many megabytes of text, and the page needs only its start. */
typedef struct page_sink {
    char *buf;
    size_t len;
    bool cut;
} page_sink;

static ssize_t page_sink_write(void *cookie, const char *data, size_t n)
{
    page_sink *p = cookie;
    size_t room = WEBHOOK_RESULT_PAGE_MAX - p->len;
    size_t take = n < room ? n : room;
    memcpy(p->buf + p->len, data, take);
    p->len += take;
    if (take < n)
        p->cut = true;
    return (ssize_t)n;
}

char *webhook_result_page_render(const char *title, const webhook_page_line *lines, size_t n,
                                 const policy_report *rep)
{
    page_sink sink = {xmalloc(WEBHOOK_RESULT_PAGE_MAX + 1), 0, false};
    FILE *f = fopencookie(&sink, "w", (cookie_io_functions_t){.write = page_sink_write});
    if (!f) {
        free(sink.buf);
        return NULL;
    }
    fprintf(f, "%s\n\n", title);
    for (size_t i = 0; i < n; i++) {
        char label[40];
        snprintf(label, sizeof label, "%s:", lines[i].label);
        fprintf(f, "%-15s%s\n", label, lines[i].value ? lines[i].value : "-");
    }
    fputc('\n', f);
    if (rep)
        report_write(rep, REPORT_TEXT, false, f);
    if (fclose(f) != 0) {
        free(sink.buf);
        return NULL;
    }
    sink.buf[sink.len] = '\0';
    if (sink.cut) {
        static const char note[] = "\n[... the page is cut here: the full report is larger than "
                                   "1 MiB; run imagegate scan on the plan for all of it]\n";
        webhook_utf8_clamp(sink.buf, WEBHOOK_RESULT_PAGE_MAX - sizeof note, false);
        size_t len = strlen(sink.buf);
        memcpy(sink.buf + len, note, sizeof note);
    }
    return sink.buf;
}
