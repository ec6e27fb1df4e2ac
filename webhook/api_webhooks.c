/* /v1/webhooks (admin tokens): the event notification webhooks over the
 * API, the same as `imagegate webhook create|list|delete|deliveries|
 * redeliver` (docs/events.md, docs/api.md).
 *
 * Creating one sends HCP's verification event first, as HCP does, and
 * creates nothing when the receiver does not answer 2xx ("verify": false
 * skips it). That request goes out from the notification pool, never from
 * a store worker or the loop: the op's row is flagged API_OP_OUTBOUND. A
 * secret not given is made here and answered once; it is never in any
 * other answer. */
#include "webhook/api_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST 100

/* An optional array of strings: absent or null is empty. Returns 0 with
 * *out (new array of borrowed strings; free it) or -1 after a 400. */
static int string_list(api_call *c, json_t *body, const char *field, const char ***out, size_t *n)
{
    json_t *a = json_object_get(body, field);
    *out = NULL;
    *n = 0;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > MAX_LIST)
        return webhook_api_call_fail(c, 400, "%s: must be an array of at most %d strings", field,
                                     MAX_LIST);
    *out = xcalloc(json_array_size(a) + 1, sizeof **out);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v)) {
            free(*out);
            *out = NULL;
            return webhook_api_call_fail(c, 400, "%s[%zu]: must be a string", field, i);
        }
        (*out)[(*n)++] = json_string_value(v);
    }
    return 0;
}

static int body_string(api_call *c, json_t *body, const char *field, bool required,
                       const char **out)
{
    *out = NULL;
    int st = webhook_api_opt_string(body, field, out, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (required && (!*out || !**out))
        return webhook_api_call_fail(c, 400, "%s: missing", field);
    return 0;
}

/* The request's spec; *made: a secret made here (the caller frees it). */
static int read_spec(api_job *j, reg_webhook_spec *s, char **made, bool *verify)
{
    api_call *c = j->c;
    const char **ev = NULL, **bk = NULL;
    *made = NULL;
    *verify = true;
    memset(s, 0, sizeof *s);
    if (body_string(c, j->body, "name", true, &s->name) < 0 ||
        body_string(c, j->body, "url", true, &s->url) < 0 ||
        body_string(c, j->body, "secret", false, &s->secret) < 0 ||
        webhook_api_opt_bool(j->body, "verify", verify, c->err, sizeof c->err) ||
        string_list(c, j->body, "events", &ev, &s->n_events) < 0 ||
        string_list(c, j->body, "buckets", &bk, &s->n_buckets) < 0) {
        free(ev);
        return c->status ? -1 : webhook_api_call_fail(c, 400, "%s", c->err);
    }
    s->events = ev;
    s->buckets = bk;
    if (!s->secret || !*s->secret)
        s->secret = *made = notify_new_secret();
    if (registry_webhook_check(s, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "%s", c->err);
    return 0;
}

static void spec_dispose(reg_webhook_spec *s, char *made)
{
    free((void *)s->events);
    free((void *)s->buckets);
    if (made) {
        explicit_bzero(made, strlen(made));
        free(made);
    }
}

int webhook_api_webhook_create(api_job *j)
{
    api_call *c = j->c;
    reg_webhook_spec s;
    char *made = NULL;
    bool verify;
    int rc = read_spec(j, &s, &made, &verify);
    json_t *taken = rc == 0 ? registry_webhook_get(j->r, s.name, c->err, sizeof c->err) : NULL;
    if (taken) {
        json_decref(taken);
        rc = webhook_api_call_fail(c, 409, "webhook '%s' already exists", s.name);
        c->grpc = 6; /* ALREADY_EXISTS */
    } else if (rc == 0 && registry_errcode(j->r) != REG_ENOTFOUND) {
        rc = -1; /* the store failed */
    }
    if (rc == 0 && verify) {
        const webhook_config *cfg = webhook_server_config(c->srv);
        notify_opts o = webhook_events_opts(cfg, webhook_server_abort_flag(c->srv));
        if (notify_verify(&o, s.url, s.secret, c->err, sizeof c->err) != NOTIFY_VERIFIED)
            rc = webhook_api_call_fail(c, 422, "webhook '%s' not created: %s", s.name, c->err);
    }
    json_t *w = rc == 0 ? registry_webhook_create(j->r, &j->ctx, &s, c->err, sizeof c->err) : NULL;
    if (w) {
        c->reply = json_pack("{s:o}", "webhook", w);
        if (made) /* shown once, here */
            json_object_set_new(c->reply, "secret", json_string(made));
    }
    spec_dispose(&s, made);
    return w ? 0 : -1;
}

int webhook_api_webhook_list(api_job *j)
{
    api_call *c = j->c;
    json_t *arr = registry_webhook_list(j->r, c->err, sizeof c->err);
    if (!arr)
        return -1;
    char *next = NULL;
    json_t *page = webhook_api_page_slice(arr, &c->page, &next);
    c->reply = json_pack("{s:o, s:o}", "webhooks", page, "pagination",
                         webhook_api_pagination(next, c->page.size));
    free(next);
    json_decref(arr);
    return 0;
}

int webhook_api_webhook_get(api_job *j)
{
    api_call *c = j->c;
    json_t *w = registry_webhook_get(j->r, c->route.webhook, c->err, sizeof c->err);
    if (!w)
        return -1;
    c->reply = json_pack("{s:o}", "webhook", w);
    return 0;
}

int webhook_api_webhook_delete(api_job *j)
{
    api_call *c = j->c;
    return registry_webhook_delete(j->r, &j->ctx, c->route.webhook, c->err, sizeof c->err);
}

/* The newest page.size deliveries (pagination.page_size, at most 1000). */
int webhook_api_webhook_deliveries(api_job *j)
{
    api_call *c = j->c;
    json_t *arr =
        registry_webhook_deliveries(j->r, c->route.webhook, c->page.size, c->err, sizeof c->err);
    if (!arr)
        return -1;
    c->reply = json_pack("{s:s, s:o}", "webhook", c->route.webhook, "deliveries", arr);
    return 0;
}

int webhook_api_webhook_redeliver(api_job *j)
{
    api_call *c = j->c;
    const char *event_id;
    if (body_string(c, j->body, "event_id", true, &event_id) < 0)
        return -1;
    if (strlen(event_id) > 128)
        return webhook_api_call_fail(c, 400, "event_id: longer than 128 bytes");
    json_t *arr =
        registry_event_redeliver(j->r, &j->ctx, event_id, c->route.webhook, c->err, sizeof c->err);
    if (!arr)
        return -1;
    c->reply = json_pack("{s:o}", "deliveries", arr);
    return 0;
}
