/* Delivering the outbox: one sender thread at a time per webhook (the
 * registry's lease), its deliveries strictly in order, each attempt
 * recorded before the next one goes.
 *
 * A delivery answered 2xx is done. No answer (a network error, a timeout, a
 * refused address), 408, 429 and 5xx are retried: the first retry after
 * retry_min, each next delay doubled up to retry_max; the head of the queue
 * waits meanwhile, so later events never overtake it. Once give_up has
 * passed since its first attempt (24 hours by default) a last attempt goes
 * at the end of the window, and if that fails too the delivery is failed
 * and the next one goes. Any other answer (3xx: redirects are not followed;
 * 4xx: the receiver refuses the event) fails the delivery at once -- sending
 * the same bytes again would not change the answer; `imagegate webhook
 * redeliver` sends it again by hand.
 *
 * A sender killed between the receiver's 200 and the recording of it
 * leaves the delivery pending: it goes again once the lease runs out (at
 * least once). The record itself marks a delivery delivered once only
 * (registry_outbox_record), whoever else sent it meanwhile. */
#include "notify/notify.h"

#include "common/hex.h"
#include "common/log.h"
#include "common/ulid.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bodies -------------------------------------------------------------- */

char *notify_verification_body(void)
{
    char ulid[ULID_LEN + 1], id[ULID_LEN + 16];
    ulid_new(ig_time_now(), ulid);
    snprintf(id, sizeof id, "webhook.event:%s", ulid);
    json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:{}}", "event_id", id,
                          "event_action", "test", "event_description", "Verification",
                          "event_source", "hashicorp.webhook.verification", "resource_id", "",
                          "resource_name", "", "event_version", "1", "event_payload");
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

char *notify_new_secret(void)
{
    unsigned char raw[32];
    char *s = xmalloc(2 * sizeof raw + 1);
    ig_random_bytes(raw, sizeof raw);
    hex_encode(raw, sizeof raw, s);
    explicit_bzero(raw, sizeof raw);
    return s;
}

notify_verify_result notify_verify(const notify_opts *o, const char *url, const char *secret,
                                   char *err, size_t errlen)
{
    notify_result res;
    char origin[300];
    char *body = notify_verification_body();
    int rc = notify_send(o, NULL, url, secret, body, ig_time_now() / 1000, &res);
    free(body);
    if (rc == 0)
        return NOTIFY_VERIFIED;
    if (res.status == 0) {
        snprintf(err, errlen, "the verification event was not delivered: %s", res.error);
        return res.refused ? NOTIFY_VERIFY_REFUSED : NOTIFY_VERIFY_UNREACHABLE;
    }
    snprintf(err, errlen, "the receiver at %s answered the verification event with HTTP %d%s%s",
             notify_url_origin(url, origin, sizeof origin), res.status, *res.response ? ": " : "",
             res.response);
    return NOTIFY_VERIFY_ANSWERED;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

char *notify_body(const char *stored, const notify_identity *id)
{
    json_t *e = json_loads(stored, 0, NULL);
    json_t *p = json_object_get(e, "event_payload");
    if (!json_is_object(e) || !json_is_object(p) || !id) {
        json_decref(e);
        return xstrdup(stored);
    }
    const char *reg = or_empty(id->registry_id), *project = or_empty(id->project_id);
    json_object_set_new(e, "resource_id", json_string(reg));
    json_object_set_new(e, "resource_name",
                        *reg ? json_sprintf("packer/project/%s/registry/%s", project, reg)
                             : json_string(""));
    json_object_set_new(p, "organization_id", json_string(or_empty(id->organization_id)));
    json_object_set_new(p, "project_id", json_string(project));
    json_object_set_new(p, "registry", json_pack("{s:s}", "id", reg));
    char *s = json_dumps(e, JSON_COMPACT);
    json_decref(e);
    return s;
}

/* ---- retry rules ---------------------------------------------------------- */

int64_t notify_retry_delay(const notify_policy *p, int failed)
{
    int64_t d = p->retry_min_ms > 0 ? p->retry_min_ms : 1;
    for (int i = 1; i < failed && d < p->retry_max_ms; i++)
        d *= 2;
    return d < p->retry_max_ms ? d : p->retry_max_ms;
}

bool notify_retryable(const notify_result *res)
{
    int s = res->status;
    return s == 0 || s == 408 || s == 429 || (s >= 500 && s <= 599);
}

reg_outbox_outcome notify_outcome(const notify_policy *p, const notify_result *res, int attempts,
                                  ig_time first_at, ig_time now, ig_time *next_at)
{
    *next_at = IG_TIME_NONE;
    if (res->status >= 200 && res->status < 300)
        return REG_OUTBOX_DELIVERED;
    if (!notify_retryable(res))
        return REG_OUTBOX_FAILED;
    ig_time first = first_at == IG_TIME_NONE ? now : first_at;
    ig_time end = first + p->give_up_ms;
    if (now >= end)
        return REG_OUTBOX_FAILED;
    ig_time next = now + notify_retry_delay(p, attempts + 1);
    *next_at = next < end ? next : end;
    return REG_OUTBOX_RETRY;
}

/* ---- the sender loop ------------------------------------------------------- */

static const char *outcome_name(reg_outbox_outcome o)
{
    return o == REG_OUTBOX_DELIVERED ? "delivered" : o == REG_OUTBOX_FAILED ? "failed" : "retry";
}

static void log_attempt(const reg_outbox_hook *h, const reg_outbox_item *it,
                        const notify_result *res, reg_outbox_outcome o, ig_time next_at)
{
    char origin[300], q[600], when[40];
    notify_url_origin(h->url, origin, sizeof origin);
    log_write(o == REG_OUTBOX_DELIVERED ? LOG_INFO : LOG_WARN,
              "event=webhook_attempt webhook=%s event_id=%s receiver=%s status=%d "
              "latency_ms=%lld attempt=%d outcome=%s%s%s%s%s",
              h->name, it->event_id, origin, res->status, (long long)res->latency_ms,
              it->attempts + 1, outcome_name(o), o == REG_OUTBOX_RETRY ? " next_at=" : "",
              o == REG_OUTBOX_RETRY ? ig_time_format(next_at, when, sizeof when) : "",
              *res->error ? " error=" : "", *res->error ? log_quote(res->error, q, sizeof q) : "");
}

/* Sends one item and records the attempt. Returns 1 when the next item may
 * go, 0 when this webhook must wait (a retry, or shutting down), -1 on a
 * store error. */
static int send_item(notify_sender *s, notify_session *conn, const reg_outbox_hook *h,
                     const reg_outbox_item *it, char *err, size_t errlen)
{
    notify_result res;
    char *body = notify_body(it->body, &s->id);
    int64_t unix_s = ig_time_now() / 1000;
    notify_send(&s->send, conn, h->url, h->secret, body, unix_s, &res);
    free(body);
    if (res.aborted)
        return 0; /* not an attempt the receiver judged: it stays pending */
    ig_time now = ig_time_now(), next_at;
    reg_outbox_outcome o =
        notify_outcome(&s->policy, &res, it->attempts, it->first_attempt_at, now, &next_at);
    reg_outbox_attempt a = {.status = res.status,
                            .latency_ms = res.latency_ms,
                            .response = res.response,
                            .error = *res.error ? res.error : NULL,
                            .outcome = o,
                            .next_at = next_at};
    log_attempt(h, it, &res, o, next_at);
    reg_ctx ctx = {"imagegate", now};
    if (registry_outbox_record(s->r, &ctx, s->owner, h->id, it, &a, err, errlen) < 0)
        return registry_errcode(s->r) == REG_ECONFLICT ? 0 : -1;
    return o == REG_OUTBOX_RETRY ? 0 : 1;
}

int notify_run_once(notify_sender *s, char *err, size_t errlen)
{
    reg_outbox_hook h;
    reg_ctx ctx = {"imagegate", ig_time_now()};
    int64_t lease = 3 * s->send.timeout_ms + 5000; /* outlives a whole attempt */
    int rc = registry_outbox_claim(s->r, &ctx, s->owner, lease, &h, err, errlen);
    if (rc <= 0)
        return rc;
    int attempts = 0;
    notify_session *conn = notify_session_new(); /* this webhook's connection, for the batch */
    for (int go = 1; go > 0 && attempts < s->batch;) {
        reg_outbox_item it;
        ctx.now = ig_time_now();
        go = registry_outbox_next(s->r, &ctx, s->owner, lease, h.id, &it, err, errlen);
        if (go > 0) {
            attempts++;
            go = send_item(s, conn, &h, &it, err, errlen);
        }
        registry_outbox_item_dispose(&it);
        if (go < 0 && registry_errcode(s->r) == REG_ECONFLICT)
            go = 0; /* the lease went to another sender: leave it the webhook */
        if (go < 0)
            rc = -1;
        if (s->send.abort_flag && atomic_load(s->send.abort_flag))
            break;
    }
    notify_session_free(conn);
    char e2[256];
    ctx.now = ig_time_now();
    if (rc >= 0 && registry_outbox_release(s->r, &ctx, s->owner, h.id, e2, sizeof e2) < 0)
        log_warn("event=webhook_release_failed webhook=%s error=\"%s\"", h.name, e2);
    registry_outbox_hook_dispose(&h);
    return rc < 0 ? -1 : attempts;
}
