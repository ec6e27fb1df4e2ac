/* The server's side of event notifications: the notification pool's
 * threads (server.c's notify pool) deliver the registry's outbox with
 * notify/, using the server's configuration (--ca-file, --connect-timeout,
 * --webhook-timeout, --webhook-allow-network, the retry settings).
 *
 * Events are rows committed with the changes that made them, by whatever
 * process made them; a sweep finds them: at start (what a crash or a
 * kill -9 left pending), every min(--webhook-retry-min, --sweep-interval),
 * and at once after an API change (webhook_notify_kick). On PostgreSQL each
 * replica sweeps and the webhook lease makes exactly one of them send a
 * given webhook's deliveries. */
#include "webhook/server.h"

#include "common/log.h"

#include <stdio.h>

#define BATCH 50 /* deliveries per claim, so that one busy webhook does not hog a thread */

notify_opts webhook_events_opts(const webhook_config *cfg, const atomic_int *abort_flag)
{
    notify_opts o = {.ca_file = cfg->ca_file,
                     .connect_timeout_ms = cfg->connect_timeout,
                     .timeout_ms = cfg->webhook_timeout,
                     .allow = cfg->webhook_allow,
                     .n_allow = cfg->n_webhook_allow,
                     .abort_flag = abort_flag};
    return o;
}

int webhook_events_send(webhook_worker *w, registry *r)
{
    webhook_server *srv = webhook_worker_server(w);
    const webhook_config *cfg = webhook_server_config(srv);
    char err[512] = "";
    /* HCP's payload names the organization, project and registry; the
     * registry is the project's (GET BASE/registry answers its id) */
    const reg_ids *ids = webhook_server_ids(srv);
    notify_sender s = {
        .r = r,
        .owner = webhook_worker_owner(w),
        .send = webhook_events_opts(cfg, webhook_server_abort_flag(srv)),
        .policy = {cfg->webhook_retry_min, cfg->webhook_retry_max, cfg->webhook_give_up},
        .id = {ids->organization_id, ids->project_id, ids->project_id},
        .batch = BATCH,
    };
    int n = notify_run_once(&s, err, sizeof err);
    if (n < 0) {
        char q[600];
        log_error("event=webhook_outbox_failed worker=%s error=%s", webhook_worker_owner(w),
                  log_quote(err, q, sizeof q));
        if (registry_errcode(r) == REG_ESTORE)
            webhook_worker_reset_registry(w);
        return 0;
    }
    return n > 0;
}
