/* The route table: one row per endpoint, matched in order (exact paths
 * first, prefixes after). New endpoints add a row here and put their
 * handler in their own file; handlers that need the store submit a job with
 * webhook_submit() and reply from its done function. The registry API's
 * rows accept every verb: api_registry.c routes the path itself and answers
 * 405 with the verbs a path takes. POST /v1/scan is the only route whose
 * body may be larger than --max-body-bytes (up to --max-plan-bytes), with
 * one path of the registry API: an SBOM upload (PUT .../sboms, up to
 * --max-sbom-upload-bytes; server.c's body_too_large and body_limit).
 * POST /oauth2/token ("oauth") answers errors in OAuth2's shape, also those
 * the dispatcher finds (405, 413, 503), never HCP's {"code": N}. The
 * console's rows (GET / and /ui/) take every verb so that console.c answers
 * the refusal with the console's security headers. */
#include "webhook/server.h"

/* the registry API's own router answers 405 with the exact Allow of a
 * path, OPTIONS and TRACE included */
#define ANY                                                                                        \
    (EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE |    \
     EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE)

const webhook_route webhook_routes[] = {
    {"/runtask", false, EVHTTP_REQ_POST, "runtask", webhook_handle_runtask, false},
    {"/healthz", false, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "healthz", webhook_handle_healthz, false},
    {"/readyz", false, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "readyz", webhook_handle_readyz, false},
    {"/metrics", false, EVHTTP_REQ_GET, "metrics", webhook_handle_metrics, false},
    {"/v1/scan", false, EVHTTP_REQ_POST, "scan", webhook_handle_scan, true},
    {"/v1/lookup", false, EVHTTP_REQ_GET, "lookup", webhook_handle_lookup, false},
    {"/v1/audit", false, EVHTTP_REQ_GET, "audit", webhook_handle_audit, false},
    {"/v1/runs", false, EVHTTP_REQ_GET, "runs", webhook_handle_runs, false},
    {"/v1/usage", false, EVHTTP_REQ_GET, "usage", webhook_handle_usage, false},
    {"/v1/whoami", false, EVHTTP_REQ_GET, "whoami", webhook_handle_whoami, false},
    {"/v1/packages", false, EVHTTP_REQ_GET, "packages", webhook_handle_packages, false},
    {"/v1/sbom-downloads/", true, EVHTTP_REQ_GET, "sbom_download", webhook_handle_sbom_download,
     false},
    {"/v1/tokens", false, ANY, "tokens", webhook_handle_api, false},
    {"/v1/tokens/", true, ANY, "tokens", webhook_handle_api, false},
    {"/v1/webhooks", false, ANY, "webhooks", webhook_handle_api, false},
    {"/v1/webhooks/", true, ANY, "webhooks", webhook_handle_api, false},
    {"/results/", true, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "results", webhook_handle_result, false},
    {"/packer/2023-01-01/", true, ANY, "api", webhook_handle_api, false},
    {"/resource-manager/2019-12-10/", true, ANY, "api", webhook_handle_api, false},
    {"/oauth2/token", false, EVHTTP_REQ_POST, "oauth", webhook_handle_oauth_token, false},
    {"/", false, ANY | EVHTTP_REQ_HEAD, "console", webhook_handle_console_root, false},
    {"/ui", false, ANY | EVHTTP_REQ_HEAD, "console", webhook_handle_console, false},
    {"/ui/", true, ANY | EVHTTP_REQ_HEAD, "console", webhook_handle_console, false},
    {NULL, false, 0, NULL, NULL, false},
};
