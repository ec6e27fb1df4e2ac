/* The body of the run-task callback (PATCH task_result_callback_url): a
 * JSON:API "task-results" document, shaped as RUNTASK.md and
 * fixtures/runtask/callback-failed.json show, with every limit of the
 * protocol enforced here in one place: status running|passed|failed, message
 * 1..1000 chars, url <= 500, at most 250 outcomes (the last one summarising
 * the rest), outcome-id <= 64, description one line <= 1000, body <= 10 000
 * chars (truncated with a note), tag labels <= 32.
 *
 * Pure functions over a policy report; the report's findings never carry a
 * sensitive value (policy guarantees it), and nothing here adds one. Any
 * thread. */
#ifndef IG_WEBHOOK_CALLBACK_H
#define IG_WEBHOOK_CALLBACK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/timeutil.h"
#include "policy/policy.h"

#define WEBHOOK_MAX_OUTCOMES 250
#define WEBHOOK_MAX_MESSAGE 1000
#define WEBHOOK_MAX_URL 500
#define WEBHOOK_MAX_OUTCOME_ID 64
#define WEBHOOK_MAX_DESCRIPTION 1000
#define WEBHOOK_MAX_BODY 10000
#define WEBHOOK_MAX_LABEL 32

typedef struct webhook_result {
    const char *status;          /* "running", "passed", "failed" */
    const char *message;         /* clamped to 1..1000 chars; NULL/empty gets a default */
    const char *url;             /* absolute http(s) URL or NULL (then omitted) */
    const policy_report *report; /* outcomes from its warn/fail findings; NULL = none */
    bool outcomes;               /* capabilities.outcomes of the request */
    const char *public_url;      /* base of outcome links (no trailing slash), may be NULL */
    ig_time now;                 /* the evaluation time: tells past from scheduled revocations */
} webhook_result;

/* Returns a new reference to the whole document. */
json_t *webhook_callback_body(const webhook_result *res);
/* Only status and message (the retry after a 422). New reference. */
json_t *webhook_callback_minimal(const char *status, const char *message);

/* "2 failing, 3 warning and 5 info findings in 17 resources (9 gated, 8 images)"
 * prefixed with what the verdict means for the stage. New string. */
char *webhook_result_message(const policy_report *r, const char *stage);

/* Cuts s in place to at most max bytes without splitting a UTF-8 sequence;
 * when it had to cut and ellipsis is true, ends with "...". Returns the new
 * length. */
size_t webhook_utf8_clamp(char *s, size_t max, bool ellipsis);

#endif
