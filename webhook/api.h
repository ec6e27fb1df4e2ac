/* The registry API (HCP Packer 2023-01-01 paths under /packer/2023-01-01/)
 * and the /v1 endpoints (scan, lookup, audit, tokens): the pure parts.
 *
 * Everything here is input checking and JSON shaping with no sockets, no
 * store and no clock reads (the time is a parameter), so it is unit-tested
 * directly (tests/unit/test_api.c): path routing, query strings, page
 * tokens, the Authorization header, request bodies, the role each call
 * needs, and the answers of the search and lookup endpoints. What runs
 * them lives in api_call.c (the road every call takes: loop thread, store
 * worker, loop thread), api_registry.c (the op table: one row per op with
 * its handler, for the Packer paths, /v1/lookup, /v1/audit, /v1/tokens),
 * api_hcp.c (the HCP drop-in's resource manager, run task and the paths
 * not served) and api_scan.c (POST /v1/scan); docs/api.md is the user's
 * reference, docs/hcp-compatibility.md what HCP's clients need.
 *
 * Every input has a limit: path segments (names are bounded by their own
 * rules), at most WEBHOOK_API_MAX_PARAMS query parameters of bounded size,
 * page sizes 1..WEBHOOK_API_MAX_PAGE, tokens of at most
 * WEBHOOK_API_MAX_SECRET bytes; bodies are bounded by the server's
 * --max-body-bytes before they get here.
 *
 * Errors: functions return 0, or an HTTP status (400, 404, 405) with a
 * message in err that names the parameter, field or path segment at fault.
 * Any thread; nothing is shared. */
#ifndef IG_WEBHOOK_API_H
#define IG_WEBHOOK_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"
#include "registry/registry.h"

#define WEBHOOK_API_PREFIX "/packer/2023-01-01/"
#define WEBHOOK_API_RM_PREFIX "/resource-manager/2019-12-10/"
#define WEBHOOK_API_MAX_PARAMS 32
#define WEBHOOK_API_MAX_KEY 64
#define WEBHOOK_API_MAX_VALUE 2048
#define WEBHOOK_API_MAX_SECRET 256
#define WEBHOOK_API_MAX_SEGMENT 128 /* {org}, {project} */
#define WEBHOOK_API_DEFAULT_PAGE 100
#define WEBHOOK_API_MAX_PAGE 1000

/* ---- routes ------------------------------------------------------------ */

typedef enum {
    API_BUCKET_LIST = 0,
    API_BUCKET_CREATE,
    API_BUCKET_GET,
    API_BUCKET_UPDATE,
    API_BUCKET_DELETE,
    API_VERSION_LIST,
    API_VERSION_CREATE,
    API_VERSION_GET,
    API_VERSION_UPDATE,
    API_VERSION_DELETE,
    API_BUILD_LIST,
    API_BUILD_CREATE,
    API_BUILD_GET,
    API_BUILD_UPDATE,
    API_BUILD_DELETE,
    API_CHANNEL_LIST,
    API_CHANNEL_CREATE,
    API_CHANNEL_GET,
    API_CHANNEL_UPDATE,
    API_CHANNEL_DELETE,
    API_CHANNEL_HISTORY,
    API_CHANNEL_ASSIGN,
    API_SEARCH_ARTIFACT,
    API_LOOKUP,       /* GET /v1/lookup */
    API_AUDIT,        /* GET /v1/audit */
    API_SCAN,         /* POST /v1/scan */
    API_TOKEN_LIST,   /* GET /v1/tokens */
    API_TOKEN_CREATE, /* POST /v1/tokens */
    API_TOKEN_REVOKE, /* DELETE /v1/tokens/{name} */
    API_RUNS,         /* GET /v1/runs */
    API_USAGE,        /* GET /v1/usage */
    /* the HCP drop-in (api_hcp.c; docs/hcp-compatibility.md) */
    API_ANCESTRY,        /* GET BASE/buckets/{b}/ancestry */
    API_REGISTRY_GET,    /* GET BASE/registry */
    API_ENFORCED_BUCKET, /* GET BASE/enforced_blocks/bucket/{b} */
    API_RUNTASK_GET,     /* GET BASE/runtasks/{task_type} (validation) */
    API_RUNTASK_HMAC,    /* PATCH BASE/runtasks/hmac */
    API_NOT_SERVED,      /* an HCP 2023-01-01 path imagegate does not serve: 501 */
    API_RM_ORG_LIST,     /* GET /resource-manager/2019-12-10/organizations */
    API_RM_ORG_GET,      /* GET .../organizations/{id} */
    API_RM_PROJECT_LIST, /* GET .../projects?scope.id=ORG&scope.type=ORGANIZATION */
    API_RM_PROJECT_GET,  /* GET .../projects/{id} */
    API_WHOAMI,          /* GET /v1/whoami (the console) */
    /* SBOMs and packages (api_sbom.c; docs/sbom.md) */
    API_SBOM_LIST,       /* GET BASE/.../builds/{id}/sboms */
    API_SBOM_UPLOAD,     /* PUT BASE/.../builds/{id}/sboms (Packer's hcp-sbom) */
    API_SBOM_GET,        /* GET BASE/.../builds/{id}/sboms/{name}: a download_url */
    API_BUILD_PACKAGES,  /* GET BASE/.../builds/{id}/packages */
    API_BUCKET_PACKAGES, /* GET BASE/buckets/{b}/packages */
    API_PACKAGES,        /* GET /v1/packages: the search across the registry */
    /* event notifications (api_webhooks.c; docs/events.md) */
    API_WEBHOOK_LIST,       /* GET /v1/webhooks */
    API_WEBHOOK_CREATE,     /* POST /v1/webhooks */
    API_WEBHOOK_GET,        /* GET /v1/webhooks/{name} */
    API_WEBHOOK_DELETE,     /* DELETE /v1/webhooks/{name} */
    API_WEBHOOK_DELIVERIES, /* GET /v1/webhooks/{name}/deliveries */
    API_WEBHOOK_REDELIVER,  /* POST /v1/webhooks/{name}/redeliver */
    API__COUNT
} webhook_api_op;

/* These read the op table (api_registry.c, where each op's row also names
 * its handler; see api_internal.h). */
/* "bucket.list", "version.update", "scan", ... (logs). */
const char *webhook_api_op_name(webhook_api_op op);
/* True when the call reads a JSON request body. */
bool webhook_api_op_has_body(webhook_api_op op);

/* A parsed path. Names are checked with the registry's rules (bucket,
 * channel), a version is a fingerprint, a version name (v3) or a version id;
 * a build id is 1-64 letters and digits. */
typedef struct webhook_api_route {
    webhook_api_op op;
    char bucket[40];
    char version[72];
    char build[72];
    char channel[40];
    char token[72]; /* /v1/tokens/{name} */
    /* a resource-manager {id}, or runtasks/{task_type} */
    char id[WEBHOOK_API_MAX_SEGMENT + 1];
    char sbom[40];    /* .../sboms/{name} */
    char webhook[72]; /* /v1/webhooks/{name} */
    /* "/packer/2023-01-01/organizations/{org}/projects/{project}" as given,
     * for the href of HCP answers; "" for /v1/tokens */
    char base[2 * WEBHOOK_API_MAX_SEGMENT + 48];
} webhook_api_route;

/* Routes a request for the Packer paths (path starts with
 * WEBHOOK_API_PREFIX; it is the raw path, without the query), the
 * resource-manager reads (WEBHOOK_API_RM_PREFIX), /v1/tokens[/NAME] or
 * /v1/webhooks[/NAME[/deliveries|/redeliver]]. The HCP paths imagegate
 * does not serve route to API_NOT_SERVED. method is an EVHTTP_REQ_* value.
 * Returns 0; 404 for an unknown path; 405 with the allowed methods ("GET, PUT") in allow; 400 for
 * an invalid name, with the reason in err. */
int webhook_api_route_parse(int method, const char *path, webhook_api_route *out, char *allow,
                            size_t allowlen, char *err, size_t errlen);

/* An EVHTTP_REQ_* value's name ("GET", "PATCH"; "OTHER" for a verb the API
 * does not take), for Allow headers and log lines. */
const char *webhook_api_method_name(int method);

/* ---- roles ------------------------------------------------------------- */

/* The role a call needs: read for reads, lookups, searches and scans;
 * write to publish (buckets, versions, builds) and to create and assign
 * channels; admin to revoke, restore and delete, for the audit trail and
 * for tokens. revocation: the call changes a revocation (a version PATCH
 * with revoke_at, revoke_in or restore). */
reg_role webhook_api_op_role(webhook_api_op op, bool revocation);

/* Extracts the secret of "Authorization: Bearer SECRET" (scheme compared
 * case-insensitively; SECRET 1..WEBHOOK_API_MAX_SECRET printable ASCII
 * without spaces) into out (at least WEBHOOK_API_MAX_SECRET + 1 bytes).
 * Returns 0, or -1 when the header is absent or malformed. */
int webhook_api_bearer(const char *authorization, char *out, size_t outlen);

/* ---- query strings --------------------------------------------------- */

typedef struct webhook_api_query {
    size_t n;
    char *key[WEBHOOK_API_MAX_PARAMS];
    char *value[WEBHOOK_API_MAX_PARAMS];
} webhook_api_query;

/* Parses "a=1&b=x%20y" (NULL or "" = no parameters): percent-decoding,
 * '+' as a space, keys without '=' get "". Refuses more than
 * WEBHOOK_API_MAX_PARAMS parameters, keys over WEBHOOK_API_MAX_KEY or
 * values over WEBHOOK_API_MAX_VALUE bytes, bad escapes, NUL and control
 * characters, and a key given twice. Returns 0 or 400. q is always
 * initialised; dispose it either way. */
int webhook_api_query_parse(const char *query, webhook_api_query *q, char *err, size_t errlen);
void webhook_api_query_dispose(webhook_api_query *q);
/* One form-urlencoded value s[0..n) decoded as the query parser does
 * (%XX, '+' as a space; control characters and bad UTF-8 refused): a new
 * string, or NULL. */
char *webhook_api_form_decode(const char *s, size_t n);
/* The value of key, or NULL (borrowed from q). */
const char *webhook_api_query_get(const webhook_api_query *q, const char *key);
/* Every value of key, the only parameter that may be given more than once
 * (sorting.order_by, which hcp-sdk-go sends repeated), in order, at most
 * max of them into out (borrowed). Returns how many. */
size_t webhook_api_query_all(const webhook_api_query *q, const char *key, const char **out,
                             size_t max);
/* True for a request that uploads an SBOM (PUT .../builds/{id}/sboms), whose
 * body may reach --max-sbom-upload-bytes. method: "PUT", path without the
 * query. */
bool webhook_api_is_sbom_upload(const char *method, const char *path);

/* ---- pages ------------------------------------------------------------- */

typedef struct webhook_api_page {
    int size;       /* 1..WEBHOOK_API_MAX_PAGE */
    int64_t offset; /* from the token */
    char token[96]; /* the token as given ("" on the first page) */
} webhook_api_page;

/* pagination.page_size (absent or 0 = WEBHOOK_API_DEFAULT_PAGE) and
 * pagination.next_page_token (a token this server made: the decimal offset
 * of the page, or with positional, a position checked later by
 * webhook_api_audit_token_parse); pagination.previous_page_token is refused
 * (pages only go forward). Returns 0 or 400. */
int webhook_api_page_parse(const webhook_api_query *q, bool positional, webhook_api_page *p,
                           char *err, size_t errlen);
/* One page of arr (borrowed): a new array, and in *next a new token string
 * when more follow (else NULL). */
json_t *webhook_api_page_slice(json_t *arr, const webhook_api_page *p, char **next);
/* {"next_page_token": next or "", "page_size": size} (new reference). */
json_t *webhook_api_pagination(const char *next, int size);

/* The audit trail pages by position, not offset: its token is
 * "<at ms>_<id>" of the last entry of the page. Returns 0 or 400. */
int webhook_api_audit_token_parse(const char *token, ig_time *at, char *id, size_t idlen, char *err,
                                  size_t errlen);
/* A new token string for an audit entry ({at, id}). NULL when the entry is
 * not one. */
char *webhook_api_audit_token(json_t *entry);
/* The same for any entry of a list paged by position: its time (RFC 3339)
 * under at_key and its id; GET /v1/runs pages by {evaluated_at, id}. */
char *webhook_api_position_token(json_t *entry, const char *at_key);

/* ---- bodies ------------------------------------------------------------ */

/* Parses a request body as a JSON object (duplicate keys refused). Returns
 * a new reference, or NULL with "malformed JSON at line L column C: ..." or
 * "the body must be a JSON object" in err. */
json_t *webhook_api_body_parse(const char *body, size_t len, char *err, size_t errlen);

/* Reads an optional field of an object: absent or null -> *out untouched
 * and 0; the wrong type -> 400 naming field. */
int webhook_api_opt_string(json_t *o, const char *field, const char **out, char *err,
                           size_t errlen);
int webhook_api_opt_bool(json_t *o, const char *field, bool *out, char *err, size_t errlen);

/* PATCH .../versions/{fingerprint}: revoke (revoke_at XOR revoke_in, with
 * revocation_message, skip_descendants_revocation,
 * disable_rollback_channels, and dry_run to only say what it would do), or
 * restore, or complete. */
typedef struct webhook_api_version_patch {
    bool revoke;
    reg_revoke rv; /* message borrowed from the body */
    bool restore;
    bool has_complete; /* "complete" given */
    bool complete;
    bool dry_run; /* "dry_run": answer what the revocation would do, change nothing */
} webhook_api_version_patch;
/* now: the request's clock (revoke_in counts from it). Returns 0 or 400. */
int webhook_api_version_patch_parse(json_t *body, ig_time now, webhook_api_version_patch *out,
                                    char *err, size_t errlen);

/* PATCH .../channels/{channel}: version_fingerprint ("" or null empties the
 * channel), restricted, and an optional update_mask naming which of the two
 * to change ("versionFingerprint,restricted"; without it, the fields
 * present change). */
typedef struct webhook_api_channel_patch {
    bool set_version;
    const char *version; /* NULL = empty the channel; borrowed */
    bool set_restricted;
    bool restricted;
} webhook_api_channel_patch;
int webhook_api_channel_patch_parse(json_t *body, webhook_api_channel_patch *out, char *err,
                                    size_t errlen);

/* ---- answers ----------------------------------------------------------- */

/* POST _search/external_artifact: registry_artifact_find's matches
 * (borrowed) as HCP shapes them, one per match:
 * {"bucket": {"name"}, "version": {"id", "name", "fingerprint", "status",
 *  "revoke_at", "revocation_type", "revocation_message",
 *  "revocation_author", "revocation_inherited_from"},
 *  "build": {"id", "component_type", "platform"},
 *  "artifact": {"external_identifier", "region"}}.
 * New array. */
json_t *webhook_api_search_shape(json_t *matches);
/* Where imagegate's objects and HCP's 2023-01-01 models differ in a way an
 * hcp-sdk-go client would trip on, or HCP has fields only a server that
 * knows its own ids can fill, fixes an answer of the Packer paths in place
 * (the command line's --json keeps imagegate's shape). With BASE =
 * /packer/2023-01-01/organizations/{org}/projects/{project} of ids:
 *   - a bucket (an object with version_count): version_count becomes a
 *     string (HCP's int64 encoding); it gains resource_name
 *     ("packer/project/{project}/bucket/{name}") and location
 *     ({organization_id, project_id}); its parents / children objects gain
 *     href (BASE/buckets/{name}/ancestry?type=ANCESTRY_TYPE_PARENTS or
 *     _CHILDREN);
 *   - a version (an object with fingerprint and builds): its parents object
 *     gains href (the ancestry of the bucket at this version);
 *   - every revocation_inherited_from (and revocations[].inherited_from)
 *     gains HCP's version_name, version_fingerprint and href
 *     (BASE/buckets/B/versions/FP) beside imagegate's keys.
 * reply: borrowed. */
void webhook_api_hcp_shape(json_t *reply, const reg_ids *ids);

/* BASE of ids into out ("/packer/2023-01-01/organizations/O/projects/P"). */
void webhook_api_hcp_base(const reg_ids *ids, char *out, size_t outlen);

/* The resource manager's objects for one organization and one project
 * (new references): {id, name, state, created_at} and {id, name,
 * description, state, created_at, parent: {id, type: ORGANIZATION}}. */
json_t *webhook_api_rm_org(const reg_ids *ids);
json_t *webhook_api_rm_project(const reg_ids *ids);

/* GET /v1/lookup: from a channel object (registry_channel_get, borrowed)
 * picks the artifact of the given platform and region (NULL = any) and
 * answers {"external_identifier" (the literal "error_revoked" when the
 * version is revoked), "bucket_name", "channel", "version", "fingerprint",
 * "platform", "region", "status", "revoke_at", "revoked",
 * "revocation_message"}. Returns 0 with *out (new reference); 404 when the
 * channel holds no version or no artifact matches; 400 when several
 * different images match (platform and region would tell them apart). */
int webhook_api_lookup_answer(json_t *channel, const char *platform, const char *region,
                              json_t **out, char *err, size_t errlen);

/* The HTTP status for a registry error class (REG_EINVAL 400,
 * REG_ENOTFOUND 404, REG_ECONFLICT 409, otherwise 503). */
int webhook_api_status_for(int regcode);

#endif
