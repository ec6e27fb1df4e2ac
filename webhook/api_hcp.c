/* The HCP drop-in's operations (docs/hcp-compatibility.md): what Packer's
 * hcp_packer_registry and the HCP Terraform provider call besides the
 * registry itself, run by the op table of api_registry.c like every op.
 *
 * The resource manager answers for one organization and one project, whose
 * UUIDs the server read from the store at start-up (registry_ids); the
 * Packer paths keep accepting any {org}/{project}, but GET projects/{id}
 * answers only the configured project, and a projects list scoped to
 * another organization is 403 -- the only error Packer handles there.
 *
 * The run task: GET runtasks/validation gives the URL HCP Terraform calls
 * and the current HMAC key (the store's, made by PATCH runtasks/hmac, else
 * the key file's first line), audited as a read of a secret should be. A new
 * key lives in the store, shared by replicas (within --token-refresh; this
 * server at once); the one it replaced stays valid for --hmac-rotation-grace.
 *
 * Paths of HCP's API that imagegate does not serve answer 501 with gRPC
 * code 12 (UNIMPLEMENTED), not 404 -- a 404's code 5 would read as "no such
 * bucket" to Packer, which decides on codes. */
#include "webhook/api_internal.h"

#include "common/xalloc.h"
#include "webhook/sig.h"
#include "webhook/tokens.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const reg_ids *ids_of(api_job *j)
{
    return webhook_server_ids(webhook_worker_server(j->w));
}

/* ---- Packer paths -------------------------------------------------------- */

int webhook_api_ancestry(api_job *j)
{
    api_call *c = j->c;
    const char *type = webhook_api_query_get(&c->query, "type");
    const char *fp = webhook_api_query_get(&c->query, "version_fingerprint");
    const char *channel = webhook_api_query_get(&c->query, "channel_name");
    bool parents = true, children = true;
    if (type && *type && strcmp(type, "ANCESTRY_TYPE_UNSET") != 0) {
        parents = strcmp(type, "ANCESTRY_TYPE_PARENTS") == 0;
        children = strcmp(type, "ANCESTRY_TYPE_CHILDREN") == 0;
        if (!parents && !children)
            return webhook_api_call_fail(c, 400,
                                         "type: must be ANCESTRY_TYPE_UNSET, ANCESTRY_TYPE_PARENTS "
                                         "or ANCESTRY_TYPE_CHILDREN");
    }
    if (fp && !*fp)
        fp = NULL;
    if (channel && !*channel)
        channel = NULL;
    if ((fp && registry_valid_fingerprint(fp, c->err, sizeof c->err) < 0) ||
        (channel && registry_valid_channel_name(channel, c->err, sizeof c->err) < 0))
        return webhook_api_call_fail(c, 400, "%s", c->err);
    json_t *arr = registry_ancestry(j->r, &j->ctx, c->route.bucket, parents, children, fp, channel,
                                    c->err, sizeof c->err);
    if (!arr)
        return -1;
    size_t total = json_array_size(arr);
    if (webhook_api_reply_page(c, "relations", arr) < 0)
        return -1;
    json_object_set_new(c->reply, "total_count", json_integer((json_int_t)total));
    return 0;
}

int webhook_api_registry_get(api_job *j)
{
    const reg_ids *ids = ids_of(j);
    char created[40];
    ig_time_format(ids->created_at, created, sizeof created);
    return webhook_api_reply(j->c, "registry",
                             json_pack("{s:s, s:{s:s, s:s}, s:{s:b, s:s}, s:s, s:s}", "id",
                                       ids->project_id, "location", "organization_id",
                                       ids->organization_id, "project_id", ids->project_id,
                                       "config", "activated", 1, "feature_tier", "STANDARD",
                                       "created_at", created, "updated_at", created));
}

/* imagegate has no enforced blocks: an empty list for a bucket that exists. */
int webhook_api_enforced_bucket(api_job *j)
{
    api_call *c = j->c;
    bool exists = false;
    if (registry_bucket_exists(j->r, c->route.bucket, &exists, c->err, sizeof c->err) < 0)
        return -1;
    if (!exists)
        return webhook_api_call_fail(c, 404, "bucket '%s' does not exist", c->route.bucket);
    c->reply = json_pack("{s:[]}", "enforced_block_detail");
    return 0;
}

int webhook_api_not_served(api_job *j)
{
    return webhook_api_call_fail(j->c, 501,
                                 "this path of HCP Packer's API is not served by imagegate "
                                 "(docs/hcp-compatibility.md)");
}

/* ---- the run task ------------------------------------------------------- */

/* The run task's current HMAC key (new string; "" with --allow-unsigned):
 * the store's current key, else the key file's first line. NULL after a
 * failure, with the call's status set or a registry error. */
static char *current_hmac_key(api_job *j)
{
    api_call *c = j->c;
    webhook_server *srv = webhook_worker_server(j->w);
    const char *path = webhook_server_hmac_path(srv);
    char **keys = NULL, *out = NULL;
    size_t n = 0;
    bool current = false;
    if (!path)
        return xstrdup("");
    if (registry_hmac_keys(j->r, j->ctx.now, &keys, &n, &current, c->err, sizeof c->err) < 0)
        return NULL;
    if (current) {
        out = xstrdup(keys[0]);
    } else {
        webhook_keys *k = webhook_keys_load(path, c->err, sizeof c->err);
        if (!k)
            webhook_api_call_fail(c, 503, "the run task's HMAC key cannot be read; try again");
        else
            out = xstrdup(webhook_keys_get(k, 0));
        webhook_keys_free(k);
    }
    registry_hmac_keys_free(keys, n);
    return out;
}

int webhook_api_runtask_get(api_job *j)
{
    api_call *c = j->c;
    webhook_server *srv = webhook_worker_server(j->w);
    if (strcmp(c->route.id, "validation") != 0)
        return webhook_api_call_fail(c, 404,
                                     "run task type '%s' does not exist; imagegate has one run "
                                     "task, 'validation'",
                                     c->route.id);
    char *key = current_hmac_key(j);
    if (!key)
        return -1;
    if (registry_audit_add(j->r, &j->ctx, "runtask.validation", NULL, "validation", NULL, c->err,
                           sizeof c->err) < 0) {
        OPENSSL_cleanse(key, strlen(key));
        free(key);
        return -1;
    }
    c->reply =
        json_pack("{s:o, s:s}", "api_url",
                  json_sprintf("%s/runtask", webhook_server_public_url(srv)), "hmac_key", key);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    return 0;
}

int webhook_api_runtask_hmac(api_job *j)
{
    api_call *c = j->c;
    webhook_server *srv = webhook_worker_server(j->w);
    const webhook_config *cfg = webhook_server_config(srv);
    char *key = NULL;
    if (!webhook_server_hmac_path(srv))
        return webhook_api_call_fail(c, 409,
                                     "this server runs with --allow-unsigned: run-task requests "
                                     "are not signed, so an HMAC key would not be checked");
    if (registry_hmac_rotate(j->r, &j->ctx, j->ctx.now - cfg->hmac_rotation_grace, &key, c->err,
                             sizeof c->err) < 0)
        return -1;
    webhook_tokens_refresh(j->w); /* in force on this server before the reply */
    c->reply = json_pack("{s:s}", "hmac_key", key);
    OPENSSL_cleanse(key, strlen(key));
    free(key);
    return 0;
}

/* ---- the resource manager ------------------------------------------------ */

static json_t *no_pages(void)
{
    return json_pack("{s:s, s:s}", "next_page_token", "", "previous_page_token", "");
}

int webhook_api_rm_org_list(api_job *j)
{
    j->c->reply = json_pack("{s:[o], s:o}", "organizations", webhook_api_rm_org(ids_of(j)),
                            "pagination", no_pages());
    return 0;
}

int webhook_api_rm_org_get(api_job *j)
{
    api_call *c = j->c;
    const reg_ids *ids = ids_of(j);
    if (strcasecmp(c->route.id, ids->organization_id) != 0)
        return webhook_api_call_fail(c, 404, "organization '%s' does not exist here", c->route.id);
    return webhook_api_reply(c, "organization", webhook_api_rm_org(ids));
}

/* Packer handles only a 403 here (any other error makes it dereference a
 * missing answer): another organization's projects are not this token's to
 * see. */
int webhook_api_rm_project_list(api_job *j)
{
    api_call *c = j->c;
    const reg_ids *ids = ids_of(j);
    const char *scope = webhook_api_query_get(&c->query, "scope.id");
    const char *type = webhook_api_query_get(&c->query, "scope.type");
    if (type && *type && strcmp(type, "ORGANIZATION") != 0)
        return webhook_api_call_fail(c, 400, "scope.type: must be ORGANIZATION");
    if (scope && *scope && strcasecmp(scope, ids->organization_id) != 0)
        return webhook_api_call_fail(c, 403, "organization '%s' is not this imagegate's", scope);
    c->reply = json_pack("{s:[o], s:o}", "projects", webhook_api_rm_project(ids), "pagination",
                         no_pages());
    return 0;
}

int webhook_api_rm_project_get(api_job *j)
{
    api_call *c = j->c;
    const reg_ids *ids = ids_of(j);
    if (strcasecmp(c->route.id, ids->project_id) != 0)
        return webhook_api_call_fail(c, 404, "project '%s' does not exist here", c->route.id);
    return webhook_api_reply(c, "project", webhook_api_rm_project(ids));
}
