/* The run-task request body (payload_version 1): parsing with type checks,
 * shared by the HTTP handler (loop thread) and the delivery worker. Unknown
 * fields and nulls are tolerated; wrong types are errors naming the field.
 * Pure; any thread. */
#ifndef IG_WEBHOOK_RUNTASK_H
#define IG_WEBHOOK_RUNTASK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct webhook_runtask_req {
    json_t *root;      /* owned; the strings below are borrowed from it */
    bool verification; /* access_token "test-token" or stage "test" */
    int64_t payload_version;
    const char *stage;
    const char *access_token;
    const char *task_result_id;
    const char *run_id;       /* "" when absent */
    const char *callback_url; /* task_result_callback_url */
    const char *plan_url;     /* plan_json_api_url or NULL */
    const char *config_url;   /* configuration_version_download_url or NULL */
    const char *organization; /* or NULL */
    const char *workspace;    /* workspace_name or NULL */
    const char *workdir;      /* workspace_working_directory or "" */
    const char *run_app_url;  /* or NULL */
    bool outcomes;            /* capabilities.outcomes */
} webhook_runtask_req;

/* Parses body[0..len). A verification request only needs to be a JSON object
 * with access_token/stage; a real one needs payload_version (integer),
 * stage, access_token, task_result_id and task_result_callback_url (an
 * absolute http(s) URL). Returns 0, or -1 with "field: reason" in err. */
int webhook_runtask_parse(const char *body, size_t len, webhook_runtask_req *out, char *err,
                          size_t errlen);
void webhook_runtask_req_dispose(webhook_runtask_req *r);

#endif
