/* The route table: one row per endpoint, matched in order (exact paths
 * first, prefixes after). New endpoints -- the registry API under
 * /packer/2023-01-01/, /v1/scan, /v1/audit, /v1/lookup -- add a row here and
 * put their handler in their own file; handlers that need the store submit a
 * job with webhook_submit() and reply from its done function. The last field
 * lets a route's body exceed --max-body-bytes, up to --max-plan-bytes. */
#include "webhook/server.h"

const webhook_route webhook_routes[] = {
    {"/runtask", false, EVHTTP_REQ_POST, "runtask", webhook_handle_runtask, false},
    {"/healthz", false, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "healthz", webhook_handle_healthz, false},
    {"/readyz", false, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD, "readyz", webhook_handle_readyz, false},
    {"/metrics", false, EVHTTP_REQ_GET, "metrics", webhook_handle_metrics, false},
    {NULL, false, 0, NULL, NULL, false},
};
