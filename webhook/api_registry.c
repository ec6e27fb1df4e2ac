/* The registry API's operations: the HCP Packer 2023-01-01 paths, GET
 * /v1/lookup, GET /v1/audit, /v1/tokens, GET /v1/runs and GET /v1/usage.
 *
 * One table, op_info, holds a row per op (webhook_api_op): its name in
 * logs, the least role that may call it, whether it reads a JSON body, and
 * the handler that does its work on a store worker. api_work runs every op
 * the same way (api_call.c has the road around it): authenticate, parse the
 * body, check the role, run the row's handler, record a registry failure,
 * put the reply in HCP's types. A handler validates what only it knows,
 * makes its registry call with the token's name as author and wraps the
 * answer as HCP does ({"bucket": ...}, {"versions": [...], "pagination":
 * {...}}). Adding an endpoint is a route (api.c's route_packer, or a row of
 * routes.c), a row here and its handler.
 *
 * Creating or revoking a token also re-reads the loop's snapshot of token
 * hashes (tokens.c) on the same worker, handed over before the reply, so
 * POST /v1/scan's large body limit follows the change at once. */
#include "webhook/api_internal.h"

#include "common/xalloc.h"
#include "webhook/tokens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- replies and body fields ------------------------------------------ */

/* {key: obj} as the reply; obj stolen. NULL (a failed registry call): -1. */
static int reply(api_call *c, const char *key, json_t *obj)
{
    if (!obj)
        return -1;
    c->reply = json_pack("{s:o}", key, obj);
    return 0;
}

/* {key: one page of arr, "pagination": ...} as the reply; arr stolen. */
static int reply_page(api_call *c, const char *key, json_t *arr)
{
    if (!arr)
        return -1;
    char *next = NULL;
    json_t *page = webhook_api_page_slice(arr, &c->page, &next);
    c->reply = json_pack("{s:o, s:o}", key, page, "pagination",
                         webhook_api_pagination(next, c->page.size));
    free(next);
    json_decref(arr);
    return 0;
}

int webhook_api_reply(api_call *c, const char *key, json_t *obj)
{
    return reply(c, key, obj);
}

int webhook_api_reply_page(api_call *c, const char *key, json_t *arr)
{
    return reply_page(c, key, arr);
}

/* The page the query asked for, for the lists the store pages itself. */
static reg_page store_page(const api_call *c)
{
    reg_page pg = {c->page.size, *c->page.token ? c->page.token : NULL, NULL};
    return pg;
}

/* {key: arr, "pagination": ...} for a list the store paged (arr stolen);
 * frees pg's next token. */
static int reply_store_page(api_call *c, const char *key, json_t *arr, reg_page *pg)
{
    if (arr)
        c->reply = json_pack("{s:o, s:o}", key, arr, "pagination",
                             webhook_api_pagination(pg->next_page_token, pg->page_size));
    free(pg->next_page_token);
    return arr ? 0 : -1;
}

/* A required string field of the body. */
static int need_string(api_call *c, json_t *body, const char *field, const char **out)
{
    *out = NULL;
    int st = webhook_api_opt_string(body, field, out, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (!*out || !**out)
        return webhook_api_call_fail(c, 400, "%s: missing", field);
    return 0;
}

static int opt_string(api_call *c, json_t *body, const char *field, const char **out)
{
    int st = webhook_api_opt_string(body, field, out, c->err, sizeof c->err);
    return st ? webhook_api_call_fail(c, st, "%s", c->err) : 0;
}

static int opt_bool(api_call *c, json_t *body, const char *field, bool *out)
{
    int st = webhook_api_opt_bool(body, field, out, c->err, sizeof c->err);
    return st ? webhook_api_call_fail(c, st, "%s", c->err) : 0;
}

/* labels: absent/null -> NULL; an object -> it (borrowed); else 400. */
static int opt_labels(api_call *c, json_t *body, json_t **out)
{
    json_t *l = json_object_get(body, "labels");
    *out = NULL;
    if (!l || json_is_null(l))
        return 0;
    if (!json_is_object(l))
        return webhook_api_call_fail(c, 400, "labels: must be an object of strings");
    *out = l;
    return 0;
}

/* ---- buckets ------------------------------------------------------------ */

/* imagegate's filter= keeps the buckets whose name or description holds
 * it (the console's filter box); HCP's clients never send it. */
static int bucket_list(api_job *j)
{
    api_call *c = j->c;
    reg_page pg = store_page(c);
    const char *filter = webhook_api_query_get(&c->query, "filter");
    if (filter && strlen(filter) > 255)
        return webhook_api_call_fail(c, 400, "filter: longer than 255 bytes");
    json_t *arr = registry_bucket_search(j->r, &j->ctx, filter, &pg, c->err, sizeof c->err);
    return reply_store_page(c, "buckets", arr, &pg);
}

static int bucket_create(api_job *j)
{
    api_call *c = j->c;
    const char *name, *desc = NULL;
    json_t *labels;
    if (need_string(c, j->body, "name", &name) < 0 ||
        opt_string(c, j->body, "description", &desc) < 0 || opt_labels(c, j->body, &labels) < 0)
        return -1;
    return reply(c, "bucket",
                 registry_bucket_create(j->r, &j->ctx, name, desc, labels, c->err, sizeof c->err));
}

static int bucket_get(api_job *j)
{
    api_call *c = j->c;
    return reply(c, "bucket",
                 registry_bucket_get(j->r, &j->ctx, c->route.bucket, c->err, sizeof c->err));
}

static int bucket_update(api_job *j)
{
    api_call *c = j->c;
    const char *desc = NULL;
    json_t *labels;
    if (opt_string(c, j->body, "description", &desc) < 0 || opt_labels(c, j->body, &labels) < 0)
        return -1;
    if (!desc && !labels)
        return webhook_api_call_fail(c, 400, "nothing to change: give description or labels");
    return reply(c, "bucket",
                 registry_bucket_update(j->r, &j->ctx, c->route.bucket, desc, labels, c->err,
                                        sizeof c->err));
}

static int bucket_delete(api_job *j)
{
    api_call *c = j->c;
    return registry_bucket_delete(j->r, &j->ctx, c->route.bucket, c->err, sizeof c->err);
}

/* ---- versions ----------------------------------------------------------- */

static int version_list(api_job *j)
{
    api_call *c = j->c;
    reg_page pg = store_page(c);
    json_t *arr = registry_version_list(j->r, &j->ctx, c->route.bucket, &pg, c->err, sizeof c->err);
    return reply_store_page(c, "versions", arr, &pg);
}

static int version_create(api_job *j)
{
    api_call *c = j->c;
    const char *fp, *tt = NULL;
    if (need_string(c, j->body, "fingerprint", &fp) < 0 ||
        opt_string(c, j->body, "template_type", &tt) < 0)
        return -1;
    if (registry_valid_fingerprint(fp, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "%s", c->err);
    return reply(
        c, "version",
        registry_version_create(j->r, &j->ctx, c->route.bucket, fp, tt, c->err, sizeof c->err));
}

/* A version that does not exist in a bucket that does is HCP's ABORTED
 * (gRPC 10, HTTP 409): Packer creates a version only on that code. */
static int version_get(api_job *j)
{
    api_call *c = j->c;
    bool exists = false;
    json_t *v = registry_version_get(j->r, &j->ctx, c->route.bucket, c->route.version, c->err,
                                     sizeof c->err);
    if (v || registry_errcode(j->r) != REG_ENOTFOUND)
        return reply(c, "version", v);
    char msg[sizeof c->err];
    memcpy(msg, c->err, sizeof msg);
    if (registry_bucket_exists(j->r, c->route.bucket, &exists, c->err, sizeof c->err) < 0)
        return -1;
    if (!exists) /* the bucket's own 404 */
        return webhook_api_call_fail(c, 404, "%s", msg);
    c->grpc = 10;
    return webhook_api_call_fail(c, 409, "%s", msg);
}

/* A complete: true/false in the body states what the version must be. */
static int check_complete(api_call *c, const webhook_api_version_patch *p, json_t *v)
{
    const webhook_api_route *rt = &c->route;
    bool done = !json_is_null(json_object_get(v, "completed_at"));
    if (!p->has_complete || p->complete == done)
        return 0;
    if (p->complete)
        return webhook_api_call_fail(c, 409,
                                     "version '%s' of bucket '%s' is not complete: it "
                                     "completes by itself when its last build is BUILD_DONE",
                                     rt->version, rt->bucket);
    return webhook_api_call_fail(c, 409,
                                 "version '%s' of bucket '%s' is complete; a complete "
                                 "version cannot change",
                                 rt->version, rt->bucket);
}

static int version_update(api_job *j)
{
    api_call *c = j->c;
    const webhook_api_route *rt = &c->route;
    webhook_api_version_patch p;
    int st = webhook_api_version_patch_parse(j->body, j->ctx.now, &p, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (webhook_api_call_allow(c, webhook_api_op_role(rt->op, p.revoke || p.restore)) < 0)
        return -1;
    if (p.dry_run) /* {inherits, channels, workspaces}: nothing changes */
        return (c->reply = registry_version_revoke_dry_run(j->r, &j->ctx, rt->bucket, rt->version,
                                                           &p.rv, c->err, sizeof c->err))
                   ? 0
                   : -1;
    json_t *v;
    if (p.revoke)
        v = registry_version_revoke(j->r, &j->ctx, rt->bucket, rt->version, &p.rv, c->err,
                                    sizeof c->err);
    else if (p.restore)
        v = registry_version_restore(j->r, &j->ctx, rt->bucket, rt->version, c->err, sizeof c->err);
    else
        v = registry_version_get(j->r, &j->ctx, rt->bucket, rt->version, c->err, sizeof c->err);
    if (v && check_complete(c, &p, v) < 0) {
        json_decref(v);
        return -1;
    }
    return reply(c, "version", v);
}

static int version_delete(api_job *j)
{
    api_call *c = j->c;
    return registry_version_delete(j->r, &j->ctx, c->route.bucket, c->route.version, c->err,
                                   sizeof c->err);
}

/* ---- builds ------------------------------------------------------------- */

static int build_list(api_job *j)
{
    api_call *c = j->c;
    return reply_page(c, "builds",
                      registry_build_list(j->r, &j->ctx, c->route.bucket, c->route.version, c->err,
                                          sizeof c->err));
}

static int build_create(api_job *j)
{
    api_call *c = j->c;
    return reply(c, "build",
                 registry_build_create(j->r, &j->ctx, c->route.bucket, c->route.version, j->body,
                                       c->err, sizeof c->err));
}

static int build_get(api_job *j)
{
    api_call *c = j->c;
    return reply(c, "build",
                 registry_build_get(j->r, &j->ctx, c->route.bucket, c->route.version,
                                    c->route.build, c->err, sizeof c->err));
}

static int build_update(api_job *j)
{
    api_call *c = j->c;
    return reply(c, "build",
                 registry_build_update(j->r, &j->ctx, c->route.bucket, c->route.version,
                                       c->route.build, j->body, c->err, sizeof c->err));
}

static int build_delete(api_job *j)
{
    api_call *c = j->c;
    return registry_build_delete(j->r, &j->ctx, c->route.bucket, c->route.version, c->route.build,
                                 c->err, sizeof c->err);
}

/* ---- channels ----------------------------------------------------------- */

static int channel_list(api_job *j)
{
    api_call *c = j->c;
    return reply_page(c, "channels",
                      registry_channel_list(j->r, &j->ctx, c->route.bucket, c->err, sizeof c->err));
}

/* "latest" exists in every bucket: creating it is HCP's ALREADY_EXISTS
 * (the provider then adopts the managed channel). */
static int latest_exists(api_job *j)
{
    api_call *c = j->c;
    bool exists = false;
    if (registry_bucket_exists(j->r, c->route.bucket, &exists, c->err, sizeof c->err) < 0)
        return -1;
    if (!exists)
        return webhook_api_call_fail(c, 404, "bucket '%s' does not exist", c->route.bucket);
    c->grpc = 6;
    return webhook_api_call_fail(c, 409,
                                 "channel 'latest' of bucket '%s' already exists: it is managed by "
                                 "imagegate",
                                 c->route.bucket);
}

static int channel_create(api_job *j)
{
    api_call *c = j->c;
    const char *name, *fp = NULL;
    bool restricted = false;
    if (need_string(c, j->body, "name", &name) < 0 ||
        opt_string(c, j->body, "version_fingerprint", &fp) < 0 ||
        opt_bool(c, j->body, "restricted", &restricted) < 0)
        return -1;
    if (strcasecmp(name, "latest") == 0)
        return latest_exists(j);
    return reply(c, "channel",
                 registry_channel_create(j->r, &j->ctx, c->route.bucket, name,
                                         fp && *fp ? fp : NULL, restricted, c->err, sizeof c->err));
}

static int channel_get(api_job *j)
{
    api_call *c = j->c;
    return reply(c, "channel",
                 registry_channel_get(j->r, &j->ctx, c->route.bucket, c->route.channel, c->err,
                                      sizeof c->err));
}

static int channel_update(api_job *j)
{
    api_call *c = j->c;
    const webhook_api_route *rt = &c->route;
    webhook_api_channel_patch p;
    int st = webhook_api_channel_patch_parse(j->body, &p, c->err, sizeof c->err);
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    /* PATCH changes a channel that exists; it never creates one */
    json_t *ch =
        registry_channel_get(j->r, &j->ctx, rt->bucket, rt->channel, c->err, sizeof c->err);
    if (ch && p.set_version) {
        json_decref(ch);
        ch = registry_channel_set(j->r, &j->ctx, rt->bucket, rt->channel, p.version, c->err,
                                  sizeof c->err);
    }
    if (ch && p.set_restricted) {
        json_decref(ch);
        ch = registry_channel_set_restricted(j->r, &j->ctx, rt->bucket, rt->channel, p.restricted,
                                             c->err, sizeof c->err);
    }
    return reply(c, "channel", ch);
}

static int channel_delete(api_job *j)
{
    api_call *c = j->c;
    return registry_channel_delete(j->r, &j->ctx, c->route.bucket, c->route.channel, c->err,
                                   sizeof c->err);
}

/* HCP's channel history entries carry the version object, not its name:
 * each entry of the page gets it as "version" (the name stays as
 * "version_name"); a version deleted since is {"name", "fingerprint"}.
 * One read per distinct version of the page. -1 with err when the store
 * fails (the call then fails: no made-up objects on a broken connection). */
static int history_versions(registry *r, const reg_ctx *ctx, const char *bucket, json_t *page,
                            char *err, size_t errlen)
{
    json_t *seen = json_object(); /* fingerprint -> version object */
    size_t i;
    json_t *e;
    int rc = 0;
    json_array_foreach(page, i, e)
    {
        json_t *name = json_object_get(e, "version");
        const char *fp = json_string_value(json_object_get(e, "fingerprint"));
        json_object_set(e, "version_name", name ? name : json_null());
        if (!fp)
            continue;
        json_t *v = json_object_get(seen, fp);
        if (!v) {
            v = registry_version_get(r, ctx, bucket, fp, err, errlen);
            if (!v && registry_errcode(r) != REG_ENOTFOUND) {
                rc = -1;
                break;
            }
            if (!v)
                v = json_pack("{s:O, s:s}", "name", name ? name : json_null(), "fingerprint", fp);
            json_object_set_new(seen, fp, v);
        }
        json_object_set(e, "version", v);
    }
    json_decref(seen);
    return rc;
}

static int channel_history(api_job *j)
{
    api_call *c = j->c;
    json_t *all = registry_channel_history(j->r, &j->ctx, c->route.bucket, c->route.channel, c->err,
                                           sizeof c->err);
    size_t total = json_array_size(all);
    if (reply_page(c, "history", all) < 0)
        return -1;
    json_object_set_new(c->reply, "count", json_integer((json_int_t)total)); /* HCP's int32 */
    if (history_versions(j->r, &j->ctx, c->route.bucket, json_object_get(c->reply, "history"),
                         c->err, sizeof c->err) < 0) {
        json_decref(c->reply);
        c->reply = NULL;
        return -1;
    }
    return 0;
}

/* The fingerprint a channels/assign names: version_fingerprint, or what
 * source_channel holds. A new string, or NULL after a failure. */
static char *assign_source(api_job *j, const char *source, const char *fp)
{
    api_call *c = j->c;
    if (fp && *fp)
        return xstrdup(fp);
    json_t *src =
        registry_channel_get(j->r, &j->ctx, c->route.bucket, source, c->err, sizeof c->err);
    if (!src)
        return NULL;
    const char *sfp =
        json_string_value(json_object_get(json_object_get(src, "version"), "fingerprint"));
    char *ref = sfp ? xstrdup(sfp) : NULL;
    json_decref(src);
    if (!ref)
        webhook_api_call_fail(c, 409, "source channel '%s' of bucket '%s' holds no version", source,
                              c->route.bucket);
    return ref;
}

static int channel_assign(api_job *j)
{
    api_call *c = j->c;
    const char *target, *source = NULL, *fp = NULL;
    if (need_string(c, j->body, "target_channel", &target) < 0 ||
        opt_string(c, j->body, "source_channel", &source) < 0 ||
        opt_string(c, j->body, "version_fingerprint", &fp) < 0)
        return -1;
    if ((source && *source) == (fp && *fp))
        return webhook_api_call_fail(c, 400,
                                     "give source_channel (copy what it holds) or "
                                     "version_fingerprint, exactly one of them");
    char *ref = assign_source(j, source, fp);
    if (!ref)
        return -1;
    json_t *ch =
        registry_channel_set(j->r, &j->ctx, c->route.bucket, target, ref, c->err, sizeof c->err);
    free(ref);
    if (!ch)
        return -1;
    json_t *src = source && *source ? registry_channel_get(j->r, &j->ctx, c->route.bucket, source,
                                                           c->err, sizeof c->err)
                                    : json_null();
    if (!src) {
        json_decref(ch);
        return -1;
    }
    /* HCP's AssignChannelVersionResponse */
    json_t *v = json_object_get(ch, "version");
    json_t *vfp = json_object_get(v, "fingerprint");
    c->reply = json_pack("{s:O, s:O, s:o, s:O}", "fingerprint", vfp ? vfp : json_null(), "version",
                         v ? v : json_null(), "source_channel", src, "target_channel", ch);
    json_decref(ch);
    return 0;
}

/* ---- search, lookup, audit ---------------------------------------------- */

static int artifact_search(api_job *j)
{
    api_call *c = j->c;
    const char *id, *platform = NULL, *region = NULL;
    if (need_string(c, j->body, "external_identifier", &id) < 0 ||
        opt_string(c, j->body, "platform", &platform) < 0 ||
        opt_string(c, j->body, "region", &region) < 0)
        return -1;
    if (strlen(id) > 2048)
        return webhook_api_call_fail(c, 400, "external_identifier: longer than 2048 bytes");
    json_t *res = registry_artifact_find(j->r, &j->ctx, id, platform && *platform ? platform : NULL,
                                         region && *region ? region : NULL, c->err, sizeof c->err);
    if (!res)
        return -1;
    reply_page(c, "artifacts", webhook_api_search_shape(res));
    json_decref(res);
    return 0;
}

/* GET /v1/lookup: the image a channel holds (bucket and channel checked on
 * the loop thread by webhook_handle_lookup). */
static int lookup(api_job *j)
{
    api_call *c = j->c;
    json_t *ch = registry_channel_get(j->r, &j->ctx, c->route.bucket, c->route.channel, c->err,
                                      sizeof c->err);
    if (!ch)
        return -1;
    int st = webhook_api_lookup_answer(ch, webhook_api_query_get(&c->query, "platform"),
                                       webhook_api_query_get(&c->query, "region"), &c->reply,
                                       c->err, sizeof c->err);
    json_decref(ch);
    return st ? webhook_api_call_fail(c, st, "%s", c->err) : 0;
}

/* A query parameter, NULL when absent or empty. */
static const char *query_opt(const api_call *c, const char *key)
{
    const char *v = webhook_api_query_get(&c->query, key);
    return v && *v ? v : NULL;
}

/* A time parameter (since=, until=): a time, or a duration ago;
 * IG_TIME_NONE when absent. */
static int query_time(api_call *c, const char *key, ig_time now, ig_time *out)
{
    char e2[256];
    const char *s = query_opt(c, key);
    *out = IG_TIME_NONE;
    if (s && ig_time_parse_since(s, now, out, e2, sizeof e2) < 0)
        return webhook_api_call_fail(c, 400, "%s: %s", key, e2);
    return 0;
}

/* The filters of GET /v1/audit: since, until, bucket, author, order. */
static int audit_filter(api_call *c, ig_time now, reg_audit_filter *f)
{
    const char *order = query_opt(c, "order");
    memset(f, 0, sizeof *f);
    f->bucket = query_opt(c, "bucket");
    f->author = query_opt(c, "author");
    if (query_time(c, "since", now, &f->since) < 0 || query_time(c, "until", now, &f->until) < 0)
        return -1;
    if (f->bucket && registry_valid_bucket_name(f->bucket, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "%s", c->err);
    if (f->author && strlen(f->author) > 128)
        return webhook_api_call_fail(c, 400, "author: longer than 128 bytes");
    if (order && strcmp(order, "oldest") != 0 && strcmp(order, "newest") != 0)
        return webhook_api_call_fail(c, 400, "order: must be oldest (the default) or newest");
    f->newest_first = order && strcmp(order, "newest") == 0;
    return 0;
}

/* GET /v1/audit: one page of the trail, paged by position. */
static int audit(api_job *j)
{
    api_call *c = j->c;
    ig_time after_at = IG_TIME_NONE;
    char after_id[48];
    reg_audit_filter f;
    if (audit_filter(c, j->ctx.now, &f) < 0)
        return -1;
    int st = *c->page.token ? webhook_api_audit_token_parse(c->page.token, &after_at, after_id,
                                                            sizeof after_id, c->err, sizeof c->err)
                            : 0;
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    /* one more than the page tells whether another page follows */
    json_t *arr =
        registry_audit_query(j->r, &f, after_at, after_at == IG_TIME_NONE ? NULL : after_id,
                             c->page.size + 1, c->err, sizeof c->err);
    if (!arr)
        return -1;
    char *next = NULL;
    if (json_array_size(arr) > (size_t)c->page.size) {
        json_array_remove(arr, (size_t)c->page.size);
        next = webhook_api_audit_token(json_array_get(arr, (size_t)c->page.size - 1));
    }
    c->reply = json_pack("{s:o, s:o}", "entries", arr, "pagination",
                         webhook_api_pagination(next, c->page.size));
    free(next);
    return 0;
}

/* ---- runs and usage ------------------------------------------------------ */

/* Each run's result_id becomes result_url: PUBLIC_URL/results/ID while
 * --result-retention keeps its page, else null. */
static void run_links(webhook_server *srv, json_t *runs, ig_time now)
{
    const webhook_config *cfg = webhook_server_config(srv);
    const char *base = webhook_server_public_url(srv);
    size_t i;
    json_t *run;
    json_array_foreach(runs, i, run)
    {
        const char *id = json_string_value(json_object_get(run, "result_id"));
        const char *at_s = json_string_value(json_object_get(run, "evaluated_at"));
        ig_time at;
        char e2[128];
        bool kept = id && at_s && *base && cfg->result_retention > 0 &&
                    ig_time_parse(at_s, &at, e2, sizeof e2) == 0 &&
                    at >= now - cfg->result_retention;
        json_object_set_new(run, "result_url",
                            kept ? json_sprintf("%s/results/%s", base, id) : json_null());
        json_object_del(run, "result_id");
    }
}

/* GET /v1/runs: run-task and POST /v1/scan evaluations, newest first, paged
 * by position (a run recorded between two pages is neither skipped nor
 * repeated). */
static int runs(api_job *j)
{
    api_call *c = j->c;
    ig_time since, after_at = IG_TIME_NONE;
    char after_id[48];
    const char *org = query_opt(c, "organization"), *ws = query_opt(c, "workspace");
    if (query_time(c, "since", j->ctx.now, &since) < 0)
        return -1;
    int st = *c->page.token ? webhook_api_audit_token_parse(c->page.token, &after_at, after_id,
                                                            sizeof after_id, c->err, sizeof c->err)
                            : 0;
    if (st)
        return webhook_api_call_fail(c, st, "%s", c->err);
    json_t *arr = registry_run_list(j->r, org, ws, since, after_at,
                                    after_at == IG_TIME_NONE ? NULL : after_id, c->page.size + 1,
                                    c->err, sizeof c->err);
    if (!arr)
        return -1;
    char *next = NULL;
    if (json_array_size(arr) > (size_t)c->page.size) {
        json_array_remove(arr, (size_t)c->page.size);
        next = webhook_api_position_token(json_array_get(arr, (size_t)c->page.size - 1),
                                          "evaluated_at");
    }
    run_links(webhook_worker_server(j->w), arr, j->ctx.now);
    c->reply = json_pack("{s:o, s:o}", "runs", arr, "pagination",
                         webhook_api_pagination(next, c->page.size));
    free(next);
    return 0;
}

/* GET /v1/usage: who used a bucket's images, or a version's and its
 * descendants'; the workspaces are paged. */
static int usage(api_job *j)
{
    api_call *c = j->c;
    const char *bucket = query_opt(c, "bucket"), *version = query_opt(c, "version");
    ig_time since;
    if (!bucket)
        return webhook_api_call_fail(c, 400, "bucket is a required query parameter");
    if (registry_valid_bucket_name(bucket, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "%s", c->err);
    if (version && strlen(version) > 64)
        return webhook_api_call_fail(c, 400, "version: longer than 64 bytes");
    if (query_time(c, "since", j->ctx.now, &since) < 0)
        return -1;
    reg_page pg = store_page(c);
    json_t *u =
        registry_usage_get(j->r, &j->ctx, bucket, version, since, &pg, c->err, sizeof c->err);
    if (u)
        json_object_set_new(u, "pagination",
                            webhook_api_pagination(pg.next_page_token, pg.page_size));
    free(pg.next_page_token);
    c->reply = u;
    return u ? 0 : -1;
}

/* ---- tokens ------------------------------------------------------------- */

static int token_list(api_job *j)
{
    api_call *c = j->c;
    return reply_page(c, "tokens", registry_token_list(j->r, c->err, sizeof c->err));
}

static int token_create(api_job *j)
{
    api_call *c = j->c;
    const char *name, *role_s;
    reg_role role;
    char *secret = NULL;
    if (need_string(c, j->body, "name", &name) < 0 || need_string(c, j->body, "role", &role_s) < 0)
        return -1;
    if (registry_role_parse(role_s, &role) < 0)
        return webhook_api_call_fail(c, 400, "role: must be read, write or admin");
    if (registry_token_create(j->r, &j->ctx, name, role, &secret, c->err, sizeof c->err) < 0)
        return -1;
    webhook_tokens_refresh(j->w); /* in force on this server before the reply */
    c->reply = json_pack("{s:{s:s, s:s, s:s}}", "token", "name", name, "role",
                         registry_role_name(role), "secret", secret);
    explicit_bzero(secret, strlen(secret));
    free(secret);
    return 0;
}

static int token_revoke(api_job *j)
{
    api_call *c = j->c;
    if (registry_token_revoke(j->r, &j->ctx, c->route.token, c->err, sizeof c->err) < 0)
        return -1;
    webhook_tokens_refresh(j->w); /* gone on this server before the reply */
    return 0;
}

/* What the console may use beyond the Packer paths: a feature is listed
 * only where this server has it, so the console never sends a request an
 * older server would take for another (a version PATCH with "dry_run"
 * that a server without the dry run would run as a real revocation). */
static const char *const console_features[] = {"audit_filters", "bucket_filter",
                                               "revocation_dry_run", "runs", "usage"};

/* GET /v1/whoami: who the token is, for the console to offer only what
 * its role may do (the API still decides), the ids its Packer paths name,
 * and the features above. */
static int whoami(api_job *j)
{
    api_call *c = j->c;
    const reg_ids *ids = webhook_server_ids(webhook_worker_server(j->w));
    json_t *features = json_array();
    for (size_t i = 0; i < sizeof console_features / sizeof console_features[0]; i++)
        json_array_append_new(features, json_string(console_features[i]));
    c->reply = json_pack("{s:s, s:s, s:s, s:s, s:o}", "name", c->who, "role",
                         registry_role_name(c->role), "organization_id", ids->organization_id,
                         "project_id", ids->project_id, "features", features);
    return 0;
}

/* ---- the op table ------------------------------------------------------- */

#define R REG_ROLE_READ
#define W REG_ROLE_WRITE
#define A REG_ROLE_ADMIN
#define BODY API_OP_BODY

static const webhook_api_op_info op_info[API__COUNT] = {
    [API_BUCKET_LIST] = {"bucket.list", bucket_list, R, 0},
    [API_BUCKET_CREATE] = {"bucket.create", bucket_create, W, BODY | API_OP_CREATES},
    [API_BUCKET_GET] = {"bucket.get", bucket_get, R, 0},
    [API_BUCKET_UPDATE] = {"bucket.update", bucket_update, W, BODY},
    [API_BUCKET_DELETE] = {"bucket.delete", bucket_delete, A, 0},
    [API_VERSION_LIST] = {"version.list", version_list, R, 0},
    [API_VERSION_CREATE] = {"version.create", version_create, W, BODY},
    [API_VERSION_GET] = {"version.get", version_get, R, 0},
    /* write to complete; admin to revoke or restore */
    [API_VERSION_UPDATE] = {"version.update", version_update, W, BODY | API_OP_REVOKES},
    [API_VERSION_DELETE] = {"version.delete", version_delete, A, 0},
    [API_BUILD_LIST] = {"build.list", build_list, R, 0},
    [API_BUILD_CREATE] = {"build.create", build_create, W, BODY},
    [API_BUILD_GET] = {"build.get", build_get, R, 0},
    [API_BUILD_UPDATE] = {"build.update", build_update, W, BODY},
    [API_BUILD_DELETE] = {"build.delete", build_delete, A, 0},
    [API_CHANNEL_LIST] = {"channel.list", channel_list, R, 0},
    [API_CHANNEL_CREATE] = {"channel.create", channel_create, W, BODY | API_OP_CREATES},
    [API_CHANNEL_GET] = {"channel.get", channel_get, R, 0},
    [API_CHANNEL_UPDATE] = {"channel.update", channel_update, W, BODY},
    [API_CHANNEL_DELETE] = {"channel.delete", channel_delete, A, 0},
    [API_CHANNEL_HISTORY] = {"channel.history", channel_history, R, 0},
    [API_CHANNEL_ASSIGN] = {"channel.assign", channel_assign, W, BODY},
    [API_SEARCH_ARTIFACT] = {"artifact.search", artifact_search, R, BODY},
    [API_LOOKUP] = {"lookup", lookup, R, 0},
    [API_AUDIT] = {"audit", audit, A, 0},
    [API_SCAN] = {"scan", NULL, R, 0}, /* api_scan.c: runs on the scan pool */
    [API_TOKEN_LIST] = {"token.list", token_list, A, 0},
    [API_TOKEN_CREATE] = {"token.create", token_create, A, BODY | API_OP_CREATES},
    [API_TOKEN_REVOKE] = {"token.revoke", token_revoke, A, 0},
    [API_RUNS] = {"runs", runs, R, 0},
    [API_USAGE] = {"usage", usage, R, 0},
    /* the HCP drop-in (api_hcp.c) */
    [API_ANCESTRY] = {"bucket.ancestry", webhook_api_ancestry, R, 0},
    [API_REGISTRY_GET] = {"registry.get", webhook_api_registry_get, R, 0},
    [API_ENFORCED_BUCKET] = {"enforced_blocks.bucket", webhook_api_enforced_bucket, R, 0},
    [API_RUNTASK_GET] = {"runtask.get", webhook_api_runtask_get, A, 0},
    [API_RUNTASK_HMAC] = {"runtask.hmac", webhook_api_runtask_hmac, A, BODY},
    [API_NOT_SERVED] = {"not_served", webhook_api_not_served, R, 0},
    [API_RM_ORG_LIST] = {"rm.organization.list", webhook_api_rm_org_list, R, 0},
    [API_RM_ORG_GET] = {"rm.organization.get", webhook_api_rm_org_get, R, 0},
    [API_RM_PROJECT_LIST] = {"rm.project.list", webhook_api_rm_project_list, R, 0},
    [API_RM_PROJECT_GET] = {"rm.project.get", webhook_api_rm_project_get, R, 0},
    [API_WHOAMI] = {"whoami", whoami, R, 0},
    /* SBOMs and packages (api_sbom.c) */
    [API_SBOM_LIST] = {"sbom.list", webhook_api_sbom_list, R, 0},
    /* api_sbom.c: the token on a store worker, the document on the scan pool */
    [API_SBOM_UPLOAD] = {"sbom.upload", NULL, W, BODY | API_OP_CREATES},
    [API_SBOM_GET] = {"sbom.get", webhook_api_sbom_get, R, 0},
    [API_BUILD_PACKAGES] = {"build.packages", webhook_api_build_packages, R, 0},
    [API_BUCKET_PACKAGES] = {"bucket.packages", webhook_api_bucket_packages, R, 0},
    [API_PACKAGES] = {"packages.find", webhook_api_packages_find, R, 0},
    /* event notifications (api_webhooks.c) */
    [API_WEBHOOK_LIST] = {"webhook.list", webhook_api_webhook_list, A, 0},
    [API_WEBHOOK_CREATE] = {"webhook.create", webhook_api_webhook_create, A,
                            BODY | API_OP_CREATES | API_OP_OUTBOUND},
    [API_WEBHOOK_GET] = {"webhook.get", webhook_api_webhook_get, A, 0},
    [API_WEBHOOK_DELETE] = {"webhook.delete", webhook_api_webhook_delete, A, 0},
    [API_WEBHOOK_DELIVERIES] = {"webhook.deliveries", webhook_api_webhook_deliveries, A, 0},
    [API_WEBHOOK_REDELIVER] = {"webhook.redeliver", webhook_api_webhook_redeliver, A, BODY},
};

#undef R
#undef W
#undef A
#undef BODY

const webhook_api_op_info *webhook_api_op_get(webhook_api_op op)
{
    return op >= 0 && op < API__COUNT && op_info[op].name ? &op_info[op] : NULL;
}

const char *webhook_api_op_name(webhook_api_op op)
{
    const webhook_api_op_info *o = webhook_api_op_get(op);
    return o ? o->name : "unknown";
}

bool webhook_api_op_has_body(webhook_api_op op)
{
    const webhook_api_op_info *o = webhook_api_op_get(op);
    return o && (o->flags & API_OP_BODY);
}

reg_role webhook_api_op_role(webhook_api_op op, bool revocation)
{
    const webhook_api_op_info *o = webhook_api_op_get(op);
    if (!o)
        return REG_ROLE_READ;
    return revocation && (o->flags & API_OP_REVOKES) ? REG_ROLE_ADMIN : o->role;
}

/* ---- running an op (store worker) --------------------------------------- */

static void api_work(webhook_worker *w, void *arg)
{
    api_call *c = arg;
    const webhook_api_op_info *op = webhook_api_op_get(c->route.op);
    api_job j = {.w = w, .c = c};
    if (!(j.r = webhook_api_call_auth(w, c)))
        return;
    j.ctx = (reg_ctx){c->who, ig_time_now()};
    if (!op || !op->run) {
        webhook_api_call_fail(c, 404, "no such endpoint");
        return;
    }
    if ((op->flags & API_OP_BODY) &&
        !(j.body = webhook_api_body_parse(c->body, c->body_len, c->err, sizeof c->err))) {
        webhook_api_call_fail(c, 400, "%s", c->err);
        return;
    }
    /* a version PATCH knows its role once its body is read */
    if ((op->flags & API_OP_REVOKES) || webhook_api_call_allow(c, op->role) == 0) {
        if (op->run(&j) < 0 && !c->status)
            webhook_api_call_regfail(w, c, j.r);
        else if (!c->status && c->reply && *c->route.base)
            webhook_api_hcp_shape(c->reply, webhook_server_ids(c->srv));
        /* a change may have queued events: send them now, not at the next sweep */
        if (!c->status && op->role >= REG_ROLE_WRITE)
            webhook_notify_kick(webhook_worker_server(w));
    }
    json_decref(j.body);
    webhook_api_call_serialize(c);
}

void webhook_api_call_run(api_call *c)
{
    webhook_api_call_submit(c, api_work);
}

/* ---- the loop side ------------------------------------------------------ */

void webhook_handle_api(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    webhook_api_route rt;
    char allow[64], err[512];
    int st = webhook_api_route_parse((int)evhttp_request_get_command(req), path, &rt, allow,
                                     sizeof allow, err, sizeof err);
    if (st == 405) {
        char msg[200];
        snprintf(msg, sizeof msg, "method not allowed here (allowed: %s)", allow);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
        webhook_api_early_reply(req, "unknown", 405, msg);
        return;
    }
    if (st) {
        webhook_api_early_reply(req, "unknown", st, st == 404 ? "no such endpoint" : err);
        return;
    }
    if (rt.op == API_SBOM_UPLOAD) {
        webhook_api_sbom_upload(srv, req, &rt);
        return;
    }
    api_call *c = webhook_api_call_new(srv, req, rt.op, webhook_api_op_has_body(rt.op));
    if (!c)
        return;
    c->route = rt;
    webhook_api_call_run(c);
}

void webhook_handle_lookup(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    api_call *c = webhook_api_call_new(srv, req, API_LOOKUP, false);
    if (!c)
        return;
    const char *bucket = webhook_api_query_get(&c->query, "bucket");
    const char *channel = webhook_api_query_get(&c->query, "channel");
    if (!bucket || !*bucket || !channel || !*channel) {
        webhook_api_call_fail(c, 400, "bucket and channel are required query parameters");
    } else if (registry_valid_bucket_name(bucket, c->err, sizeof c->err) < 0 ||
               registry_valid_channel_name(channel, c->err, sizeof c->err) < 0) {
        c->status = 400;
    } else {
        snprintf(c->route.bucket, sizeof c->route.bucket, "%s", bucket);
        snprintf(c->route.channel, sizeof c->route.channel, "%s", channel);
        webhook_api_call_run(c);
        return;
    }
    webhook_api_call_finish(c);
}

/* A GET whose handler reads its query on the store worker. */
static void handle_query(webhook_server *srv, struct evhttp_request *req, webhook_api_op op)
{
    api_call *c = webhook_api_call_new(srv, req, op, false);
    if (c)
        webhook_api_call_run(c);
}

void webhook_handle_audit(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    handle_query(srv, req, API_AUDIT);
}

void webhook_handle_runs(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    handle_query(srv, req, API_RUNS);
}

void webhook_handle_usage(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    handle_query(srv, req, API_USAGE);
}

void webhook_handle_whoami(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    handle_query(srv, req, API_WHOAMI);
}
