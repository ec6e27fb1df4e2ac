/* Runs and usage on the server side: what a worker records after an
 * evaluation (a run-task delivery on a delivery worker, a POST /v1/scan on a
 * scan worker), never on the loop thread. See registry_run_record for what
 * is stored, docs/usage.md for what users see. */
#ifndef IG_WEBHOOK_RUNS_H
#define IG_WEBHOOK_RUNS_H

#include <stdbool.h>

#include "common/timeutil.h"
#include "policy/policy.h"
#include "webhook/server.h"

/* One evaluation. Everything borrowed; NULL = none. */
typedef struct webhook_run_info {
    const char *id;             /* the run's id (ULID); NULL: a new one */
    const char *source;         /* "run_task" or "scan" */
    const char *task_result_id; /* run-task deliveries */
    const char *run_id;         /* HCP Terraform's; NULL for a scan (its own id) */
    const char *organization, *workspace, *stage, *verdict, *message;
    const char *result_id; /* its result page, when one was stored */
    ig_time evaluated_at;
    const policy_report *report; /* NULL when the evaluation did not finish */
    bool usage;                  /* record the report's image usage (not for pre_plan) */
} webhook_run_info;

/* Records the run and, with a workspace, the images its report's
 * image-attribute findings matched in the registry (policy_kind_records_usage;
 * a sensitive value never: only its bucket and version), on w's store handle.
 * Does nothing when --usage-retention is 0. A failure is logged and never
 * changes the evaluation's outcome. Returns the milliseconds it took (0 when
 * off), or -1 after a failure. Worker thread. */
double webhook_run_record(webhook_worker *w, const webhook_run_info *info);

#endif
