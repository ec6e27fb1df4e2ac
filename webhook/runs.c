/* Recording runs and usage after an evaluation (runs.h), on the worker that
 * evaluated -- a delivery worker once the final callback is sent, so the
 * bookkeeping never delays HCP Terraform's answer, or a scan worker before
 * the report goes back. The report's findings become usage items here
 * (which kinds count is the policy's call, policy_kind_records_usage); the
 * registry merges duplicates and writes them in batches. */
#include "webhook/runs.h"

#include "common/log.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

/* The usage items of a report: one per image-attribute finding the registry
 * matched. New array (free it; NULL when none), *n items, borrowing the
 * report's strings. */
static reg_usage_item *usage_items(const policy_report *rep, size_t *n)
{
    reg_usage_item *items = NULL;
    size_t cap = 0;
    *n = 0;
    for (size_t i = 0; rep && i < rep->n_findings; i++) {
        const policy_finding *f = &rep->findings[i];
        if (!policy_kind_records_usage(f->kind) || !f->bucket || !f->version || !f->attribute ||
            (!f->sensitive && !f->image))
            continue;
        xgrow((void **)&items, &cap, *n + 1, sizeof *items);
        items[(*n)++] = (reg_usage_item){
            .address = f->address,
            .image = f->sensitive ? NULL : f->image,
            .bucket = f->bucket,
            .version = f->version,
            .fingerprint = f->fingerprint,
        };
    }
    return items;
}

static void run_counts(reg_run *run, const policy_report *rep)
{
    if (!rep)
        return;
    run->resources = (int64_t)rep->resources;
    run->gated = (int64_t)rep->gated;
    run->images = (int64_t)rep->images;
    run->info = (int64_t)rep->count[POLICY_INFO];
    run->warn = (int64_t)rep->count[POLICY_WARN];
    run->fail = (int64_t)rep->count[POLICY_FAIL];
}

double webhook_run_record(webhook_worker *w, const webhook_run_info *info)
{
    webhook_server *srv = webhook_worker_server(w);
    if (webhook_server_config(srv)->usage_retention <= 0)
        return 0;
    double t0 = ig_mono_seconds();
    reg_run run = {
        .id = info->id,
        .source = info->source,
        .task_result_id = info->task_result_id,
        .run_id = info->run_id,
        .organization = info->organization,
        .workspace = info->workspace,
        .stage = info->stage,
        .verdict = info->verdict,
        .message = info->message,
        .result_id = info->result_id,
    };
    run_counts(&run, info->report);
    reg_usage_item *items = info->usage ? usage_items(info->report, &run.n_usage) : NULL;
    run.usage = items;
    char err[512] = "";
    reg_ctx ctx = {"imagegate", info->evaluated_at ? info->evaluated_at : ig_time_now()};
    registry *r = webhook_worker_registry(w, err, sizeof err);
    int rc = r ? registry_run_record(r, &ctx, &run, err, sizeof err) : -1;
    free(items);
    if (rc < 0) {
        char q[2][600];
        if (r && registry_errcode(r) == REG_ESTORE)
            webhook_worker_reset_registry(w);
        log_warn("event=run_record_failed source=%s run_id=%s error=%s", info->source,
                 log_quote(info->run_id ? info->run_id : info->id, q[0], sizeof q[0]),
                 log_quote(err, q[1], sizeof q[1]));
        return -1;
    }
    return (ig_mono_seconds() - t0) * 1000;
}
