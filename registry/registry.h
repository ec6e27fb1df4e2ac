/* The image registry: buckets -> versions -> builds -> artifacts, channels
 * with history, revocation (own, inherited, scheduled), restore, audit trail,
 * API tokens and run-task deliveries.
 *
 * This is the only module that speaks SQL. The model logic lives here once;
 * the store underneath is a small driver interface (registry/db.h) with a
 * SQLite and a PostgreSQL implementation, chosen by the URL given to
 * registry_open(). Callers never see which one they use.
 *
 * Threads: a registry handle is used by one thread at a time. Workers open
 * their own handle (cheap for SQLite; a connection for PostgreSQL).
 *
 * Errors: functions return 0 / a new object on success; -1 / NULL on error
 * with a message a person can act on in err, and the class of the error in
 * registry_errcode() (what the CLI turns into exit codes and the API into
 * HTTP statuses). A failed call leaves the registry exactly as before: every
 * change runs in one transaction.
 *
 * JSON: read functions return jansson objects shaped with the HCP Packer
 * 2023-01-01 field names (see PRODUCT.md section 1) as NEW references; the
 * caller json_decref()s them. Times are RFC 3339 strings, absent = null.
 *
 * Clock: every call takes a reg_ctx carrying "now" and the author; status
 * (revoked, scheduled) is computed against ctx->now, never the wall clock,
 * so tests can move time. */
#ifndef IG_REGISTRY_H
#define IG_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"
#include "common/ulid.h"

typedef struct registry registry;

/* Error classes (registry_errcode). */
enum {
    REG_OK = 0,
    REG_EINVAL,    /* bad input: invalid name, date, manifest, field -> exit 2 / HTTP 400 */
    REG_ENOTFOUND, /* bucket, version, channel, build, token does not exist -> exit 2 / 404 */
    REG_ECONFLICT, /* refused state change (revoked to channel, assigning latest, changing a
                      complete version, duplicate) -> exit 1 / 409 */
    REG_ESTORE,    /* store unavailable, locked, read-only, disk full -> exit 3 / 503 */
};

/* Who and when, for every call. author: the OS user on the command line,
 * the token name over the API, "imagegate" for the server's own actions. */
typedef struct reg_ctx {
    const char *author;
    ig_time now;
} reg_ctx;

/* registry_open flags */
#define REG_OPEN_CREATE 0x1 /* create a SQLite file that does not exist yet */

/* Opens the store at url:
 *   "sqlite:PATH" (relative or absolute), "sqlite://PATH", or a bare path ending
 *   in .db -> SQLite (WAL, foreign keys, busy timeout; file mode 0600); an
 *   optional "?busy_timeout=MS" (default 5000) bounds the wait for a lock;
 *   "postgresql://..." / "postgres://..." -> PostgreSQL (libpq URL forms).
 * Without REG_OPEN_CREATE a SQLite file that does not exist is an error of
 * class REG_ESTORE and nothing is created. Runs pending schema migrations.
 * On failure returns NULL, writes err and sets *errcode (may be NULL). */
registry *registry_open(const char *url, int flags, int *errcode, char *err, size_t errlen);
void registry_close(registry *r);
int registry_errcode(const registry *r);
/* 0 when the store answers a trivial query. */
int registry_ping(registry *r, char *err, size_t errlen);
/* 0 when the store takes a write now: rewrites the one row of store_probe
 * (written_at = now), committed. Fails on a full disk, a read-only store, a
 * SQLite file deleted under the handle, a PostgreSQL server in recovery
 * (for /readyz). */
int registry_probe_write(registry *r, ig_time now, char *err, size_t errlen);
/* "sqlite" or "postgresql". */
const char *registry_kind(const registry *r);

/* Validation helpers (pure). Return 0 or -1 with a reason in err. */
int registry_valid_bucket_name(const char *name, char *err, size_t errlen);
int registry_valid_fingerprint(const char *fp, char *err, size_t errlen);
int registry_valid_channel_name(const char *name, char *err, size_t errlen);

/* ---- buckets ---------------------------------------------------------- */

/* Creates a bucket (audit: bucket.create). labels: borrowed object of
 * string values, or NULL. Returns the bucket object (new reference). */
json_t *registry_bucket_create(registry *r, const reg_ctx *ctx, const char *name,
                               const char *description, json_t *labels, char *err, size_t errlen);
/* Bucket object: id, name, description, labels, created_at, updated_at,
 * latest_version (version object or null), version_count (all versions,
 * incomplete ones included), platforms (of the latest complete version,
 * sorted), parents ({status} of the latest complete version's parents, or
 * null) and children ({status} of the buckets whose latest complete version
 * was built from one of this bucket's, or null); statuses as in HCP:
 * UP_TO_DATE, OUT_OF_DATE, UNDETERMINED (see ancestry.c); imagegate's
 * revoked_count and scheduled_count (versions revoked at ctx->now, and
 * with a revocation still ahead). */
json_t *registry_bucket_get(registry *r, const reg_ctx *ctx, const char *name, char *err,
                            size_t errlen);
/* Array of bucket objects sorted by name. page: see reg_page. */
typedef struct reg_page {
    int page_size;          /* 0 = all */
    const char *page_token; /* NULL = first page */
    char *next_page_token;  /* out: new string or NULL; caller frees */
} reg_page;
json_t *registry_bucket_list(registry *r, const reg_ctx *ctx, reg_page *page, char *err,
                             size_t errlen);
/* The same, keeping the buckets whose name or description contains filter
 * (ASCII case-insensitive; NULL or "" = all). */
json_t *registry_bucket_search(registry *r, const reg_ctx *ctx, const char *filter, reg_page *page,
                               char *err, size_t errlen);
/* *exists: whether a bucket of that name exists (a cheap check, for an
 * error that depends on it). */
int registry_bucket_exists(registry *r, const char *name, bool *exists, char *err, size_t errlen);
/* Changes description and/or labels (NULL = keep). */
json_t *registry_bucket_update(registry *r, const reg_ctx *ctx, const char *name,
                               const char *description, json_t *labels, char *err, size_t errlen);
/* Deletes a bucket with everything in it. */
int registry_bucket_delete(registry *r, const reg_ctx *ctx, const char *name, char *err,
                           size_t errlen);

/* ---- versions --------------------------------------------------------- */

/* ref is a version name ("v3"), a fingerprint or a version id. "v0" names
 * the bucket's only incomplete version (REG_EINVAL when there are several). */

/* Version object: id, bucket_name, fingerprint, name, status, author_id,
 * template_type (HCL2, JSON or null), builds (array of build objects),
 * revoke_at, revocation_message, revocation_author, revocation_type,
 * revocation_inherited_from, parents (HCP's overall {status} of its parents:
 * UP_TO_DATE, OUT_OF_DATE or UNDETERMINED; null without parents),
 * parent_versions (array of {bucket_name, version, fingerprint, version_id,
 * channel_name, status}: every version a build was made from, recorded by
 * Packer or found from source_external_identifier), has_descendants,
 * created_at, updated_at. The revocation_* fields describe the EFFECTIVE revocation (the
 * earliest revoke_at; null when none); revocation_inherited_from is
 * {bucket_name, version, fingerprint, version_id} of the origin for an
 * INHERITED one, else null.
 * Added: completed_at (null while incomplete) and revocations: every
 * revocation the version carries, effective first, as {type, revoke_at,
 * message, author, inherited_from (as above or null), skip_descendants}.
 * Status of an incomplete version: VERSION_RUNNING (a build running, or no
 * build yet), else VERSION_FAILED (a build failed), else VERSION_CANCELLED,
 * else VERSION_INCOMPLETE. */
json_t *registry_version_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                             char *err, size_t errlen);
/* Newest first. */
json_t *registry_version_list(registry *r, const reg_ctx *ctx, const char *bucket, reg_page *page,
                              char *err, size_t errlen);
/* Creates an incomplete version (name v0) for the API flow. A fingerprint
 * that exists already returns the existing version if it is incomplete
 * (HCP behaviour; it takes template_type when it had none) and
 * REG_ECONFLICT if it is complete. template_type: HCL2, JSON, or NULL /
 * TEMPLATE_TYPE_UNSET for none (anything else is REG_EINVAL). */
json_t *registry_version_create(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *fingerprint, const char *template_type, char *err,
                                size_t errlen);
/* True for NULL, HCL2, JSON and TEMPLATE_TYPE_UNSET. */
bool registry_valid_template_type(const char *t);
int registry_version_delete(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                            char *err, size_t errlen);

typedef struct reg_revoke {
    ig_time revoke_at;     /* IG_TIME_NONE = now (immediate) */
    const char *message;   /* may be NULL */
    bool skip_descendants; /* do not give descendants an inherited revocation */
    bool keep_channels;    /* no channel rollback on immediate revocation */
} reg_revoke;

/* Revokes now or schedules (see PRODUCT.md section 1 for the exact rules:
 * inheritance, rollback, earliest wins). Returns the version object.
 * revoke_at <= ctx->now (or IG_TIME_NONE) is immediate: channels roll back
 * unless keep_channels. Only complete versions (REG_ECONFLICT otherwise).
 * A scheduled own revocation is replaced (with the inherited ones it
 * caused); one already in effect is REG_ECONFLICT ("restore it first"). */
json_t *registry_version_revoke(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *ref, const reg_revoke *rv, char *err, size_t errlen);
/* Removes the version's own revocation and the inherited ones it caused.
 * Channels are not re-assigned. Returns the version object (still revoked
 * when it also inherits a revocation). REG_ECONFLICT when the version is not
 * revoked, or is revoked ONLY by inheritance from a version that still
 * exists (the message names it: restore that one); when every origin was
 * deleted, the orphaned inherited revocations are lifted here instead. */
json_t *registry_version_restore(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *ref, char *err, size_t errlen);

/* ---- builds ----------------------------------------------------------- */

/* Build object: id, version_id, component_type, platform, status, labels,
 * packer_run_uuid, source_external_identifier, parent_version_id and
 * parent_channel_id (what Packer recorded, or null), artifacts (array of
 * {id, external_identifier, region, created_at}), created_at, updated_at;
 * and built_at (imagegate's own): when Packer built it, from a manifest's
 * build_time, null when not known (an API build). */

/* spec: borrowed object with the build fields above (artifacts optional).
 * component_type is required; platform may come later, but a BUILD_DONE
 * build needs one; a key whose value is null is absent (an update keeps
 * the stored value). Refused with REG_ECONFLICT on a complete version. When
 * the version's last build becomes BUILD_DONE the version completes and
 * gets its number. */
json_t *registry_build_create(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              json_t *spec, char *err, size_t errlen);
json_t *registry_build_update(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              const char *build_id, json_t *patch, char *err, size_t errlen);
json_t *registry_build_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           const char *build_id, char *err, size_t errlen);
json_t *registry_build_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                            char *err, size_t errlen);
int registry_build_delete(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                          const char *build_id, char *err, size_t errlen);

/* ---- import (Packer manifest) ---------------------------------------- */

typedef struct reg_import_artifact {
    char *external_identifier;
    char *region;
} reg_import_artifact;

typedef struct reg_import_build {
    char *component_type; /* "amazon-ebs.ubuntu" */
    char *platform;       /* "aws" */
    char *packer_run_uuid;
    char *source_external_identifier; /* parent image or NULL */
    json_t *labels;                   /* object of strings (owned) */
    reg_import_artifact *artifacts;
    size_t n_artifacts;
    ig_time built_at; /* the manifest's build_time; 0 = not given */
} reg_import_build;

typedef struct reg_import {
    char *bucket;
    char *fingerprint;
    char *description;     /* bucket description or NULL */
    json_t *bucket_labels; /* owned, may be NULL */
    reg_import_build *builds;
    size_t n_builds;
    char **channels;
    size_t n_channels;
} reg_import;

/* Parses a Packer manifest post-processor file (bytes) into imp (builds of
 * last_run_uuid unless all_runs; platform from builder_type; one artifact per
 * AWS region; parent from custom_data source_image_id / source_ami; other
 * custom_data keys become labels). bucket/fingerprint/channels are left for
 * the caller; fingerprint defaults to last_run_uuid. name is used in errors.
 * Pure: no store access. Returns 0 or -1 with "FILE: field: reason". */
int registry_manifest_parse(const char *buf, size_t len, const char *name, bool all_runs,
                            reg_import *imp, char *err, size_t errlen);
void registry_import_dispose(reg_import *imp);

/* Every check registry_import makes without the store (names, bucket
 * description and labels, build fields and labels, source image, artifacts,
 * channel names), so a caller can refuse bad input before it opens or
 * creates a store. Pure. Returns 0 or -1 with "field: reason" in err. */
int registry_import_check(const reg_import *imp, char *err, size_t errlen);

/* Creates bucket (if missing), version, builds, artifacts, completes the
 * version and assigns the channels, all in one transaction. Importing the
 * same thing again changes nothing and returns the existing version. *created
 * (may be NULL) tells whether anything changed. Returns the version object.
 * "The same thing": the fingerprint names a complete version whose builds
 * have the same component types, platforms, source images and artifacts
 * (labels are not compared); then nothing is written, not even channels or
 * an audit row. The same fingerprint with other builds is REG_ECONFLICT.
 * An INCOMPLETE version with that fingerprint gets the manifest's builds
 * and completes. A version born revoked (its parent is revoked) cannot be
 * assigned to channels: the whole import is then REG_ECONFLICT. */
json_t *registry_import(registry *r, const reg_ctx *ctx, const reg_import *imp, bool *created,
                        char *err, size_t errlen);

/* ---- channels --------------------------------------------------------- */

/* Channel object: id, name, bucket_name, version (version object or null),
 * managed, restricted, author_id, created_at, updated_at. "latest" is always
 * present, managed, computed at read time; its id is its bucket's id. */
json_t *registry_channel_list(registry *r, const reg_ctx *ctx, const char *bucket, char *err,
                              size_t errlen);
json_t *registry_channel_get(registry *r, const reg_ctx *ctx, const char *bucket,
                             const char *channel, char *err, size_t errlen);
/* Creates a channel, optionally pointing at ref (NULL = empty). */
json_t *registry_channel_create(registry *r, const reg_ctx *ctx, const char *bucket,
                                const char *channel, const char *ref, bool restricted, char *err,
                                size_t errlen);
/* Points channel at ref (creating the channel if needed); ref NULL empties
 * it (unset; REG_ENOTFOUND when the channel does not exist). Refused
 * (REG_ECONFLICT) for "latest", a revoked version, or an incomplete version.
 * Appends to history; setting what the channel already holds changes
 * nothing (no history, no audit). */
json_t *registry_channel_set(registry *r, const reg_ctx *ctx, const char *bucket,
                             const char *channel, const char *ref, char *err, size_t errlen);
/* Array of {assigned_at, author_id, version (name or null), fingerprint,
 * action ("set", "unset", "rollback"), seq}, newest first. "latest" is
 * computed and has no history: an empty array. */
json_t *registry_channel_history(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *channel, char *err, size_t errlen);
int registry_channel_delete(registry *r, const reg_ctx *ctx, const char *bucket,
                            const char *channel, char *err, size_t errlen);
/* Sets the restricted flag (stored and shown, not enforced) of a user
 * channel; audit channel.update when it changes. Returns the channel
 * object. REG_ECONFLICT for "latest". (Added for the API's channel PATCH.) */
json_t *registry_channel_set_restricted(registry *r, const reg_ctx *ctx, const char *bucket,
                                        const char *channel, bool restricted, char *err,
                                        size_t errlen);

/* ---- ancestry --------------------------------------------------------- */

/* HCP's ListBucketAncestry: an array of {parent: {bucket_name,
 * channel_name, channel_version ({id, fingerprint, name} or null),
 * version_fingerprint, version_id, version_name}, child: {bucket_name,
 * version_fingerprint, version_id, version_name}, status}. parents: the
 * parents of version fingerprint of bucket (NULL: its latest complete
 * version); children: for each other bucket whose latest complete version
 * was built from a version of this bucket, those relations (channel, when
 * not NULL: only parents taken from this bucket's channel of that name). */
json_t *registry_ancestry(registry *r, const reg_ctx *ctx, const char *bucket, bool parents,
                          bool children, const char *fingerprint, const char *channel, char *err,
                          size_t errlen);

/* ---- artifacts -------------------------------------------------------- */

/* Every registry artifact whose external identifier equals id (compared
 * case-insensitively: Azure IDs vary in case), narrowed by platform and
 * region when given (NULL = any). Array of {external_identifier, platform,
 * region, component_type, bucket_name, version (name), version_id,
 * fingerprint, status, revoke_at, revocation_type, revocation_message,
 * revocation_author, revocation_inherited_from (object {bucket_name,version}
 * or null), build_id}. Empty array when nothing matches. */
json_t *registry_artifact_find(registry *r, const reg_ctx *ctx, const char *id,
                               const char *platform, const char *region, char *err, size_t errlen);

/* ---- audit ------------------------------------------------------------ */

/* Array of {id, at, author, action, bucket, target, detail}, oldest first,
 * since (IG_TIME_NONE = all), bucket NULL = all, at most limit (0 = all).
 * Actions: bucket.create/update/delete, version.create/import/complete/
 * revoke/restore/delete, build.create/update/delete, channel.create/set/
 * unset/rollback/update/delete, token.create/revoke, and what registry_audit_add
 * records (e.g. delivery.abandoned). */
json_t *registry_audit_list(registry *r, ig_time since, const char *bucket, int limit, char *err,
                            size_t errlen);
/* The same list after a position: entries that come after (after_at,
 * after_id) in the list's order (at, then id); after_id NULL = from the
 * start. For GET /v1/audit, which pages by position so that entries written
 * between two pages are neither skipped nor repeated. */
json_t *registry_audit_list_after(registry *r, ig_time since, const char *bucket, ig_time after_at,
                                  const char *after_id, int limit, char *err, size_t errlen);
/* What registry_audit_query keeps (IG_TIME_NONE and NULL: no bound). */
typedef struct reg_audit_filter {
    ig_time since;      /* at >= since */
    ig_time until;      /* at < until */
    const char *bucket; /* entries of this bucket */
    const char *author; /* entries by this author (a token's name, an OS user) */
    bool newest_first;  /* the list's order is (at, id) descending */
} reg_audit_filter;
/* registry_audit_list_after with every filter, in either order: entries
 * after (after_at, after_id) in the list's order (after_id NULL = from the
 * start), at most limit (0 = all). New array, or NULL. */
json_t *registry_audit_query(registry *r, const reg_audit_filter *f, ig_time after_at,
                             const char *after_id, int limit, char *err, size_t errlen);
/* Appends one audit entry outside any other change (server events such as
 * "delivery.abandoned"). detail: borrowed, may be NULL. */
int registry_audit_add(registry *r, const reg_ctx *ctx, const char *action, const char *bucket,
                       const char *target, json_t *detail, char *err, size_t errlen);

/* ---- API tokens ------------------------------------------------------- */

typedef enum {
    REG_ROLE_NONE = 0,
    REG_ROLE_READ = 1,
    REG_ROLE_WRITE = 2,
    REG_ROLE_ADMIN = 3
} reg_role;
const char *registry_role_name(reg_role r);
int registry_role_parse(const char *s, reg_role *out);

/* Creates a token; *secret receives the new random secret (caller frees,
 * shown once): "igt_" + 43 base64url characters (32 random bytes). Only its
 * SHA-256 is stored. Names: 1-64 of letters, digits, '-', '_', '.'. */
int registry_token_create(registry *r, const reg_ctx *ctx, const char *name, reg_role role,
                          char **secret, char *err, size_t errlen);
/* Array of {name, role, created_at, last_used_at}. Never secrets. */
json_t *registry_token_list(registry *r, char *err, size_t errlen);
int registry_token_revoke(registry *r, const reg_ctx *ctx, const char *name, char *err,
                          size_t errlen);
/* Looks a presented secret up (by hash, constant-time compare): an API
 * token's secret, or an unexpired access token of registry_oauth_issue
 * (which gives its API token's role and name). On success fills *role and
 * name (buffer). Reads only: it works while the store takes no writes, and
 * records no use (registry_token_touch does). Returns 0, or -1
 * (REG_ENOTFOUND for an unknown, expired or revoked secret). */
int registry_token_auth(registry *r, const reg_ctx *ctx, const char *secret, reg_role *role,
                        char *name, size_t namelen, char *err, size_t errlen);
/* Records that token name was last used at used, unless the store already
 * holds a later use (no audit entry). A token that does not exist (revoked
 * meanwhile) is not an error. Returns 0 or -1. */
int registry_token_touch(registry *r, const char *name, ig_time used, char *err, size_t errlen);

/* OAuth2 client credentials (POST /oauth2/token): client_id is an API
 * token's name, client_secret its secret. Checks them in constant time
 * with respect to the secret and issues an access token ("igo_" + 43
 * base64url characters; *access_token: new string, shown once) valid for
 * lifetime_ms, stored as its SHA-256 bound to the API token: it
 * authenticates (registry_token_auth) with that token's name and role, and
 * dies when that token is revoked. Expired access tokens are deleted on the
 * way. REG_ENOTFOUND "invalid client credentials" for a wrong id or secret,
 * never saying which. */
int registry_oauth_issue(registry *r, const reg_ctx *ctx, const char *client_id,
                         const char *client_secret, int64_t lifetime_ms, char **access_token,
                         char *err, size_t errlen);

/* One live token as the server's in-memory check needs it: never its name
 * or secret. */
typedef struct reg_token_hash {
    char hash[65]; /* hex SHA-256 of the secret, lower case */
    reg_role role; /* REG_ROLE_NONE for a role this build does not know */
} reg_token_hash;
/* The hashes of every live (not revoked) token with its role, and of the
 * OAuth access tokens issued for them (with their token's role; expired
 * ones until deleted), ordered by hash, for a snapshot the server checks
 * request headers against before a body is read. *out: new array of *n entries (caller frees; NULL
 * when there are none). Reads only; does not record a use. Returns 0 or -1. */
int registry_token_hashes(registry *r, reg_token_hash **out, size_t *n, char *err, size_t errlen);

/* ---- this registry's ids and run-task keys (HCP clients) ---------------- */

typedef struct reg_ids {
    char organization_id[IG_UUID_LEN + 1];
    char project_id[IG_UUID_LEN + 1];
    ig_time created_at; /* when the ids were first made */
} reg_ids;
/* The organization and project ids HCP clients address: made on first use
 * (random UUIDs) and kept in the store; org / project (NULL = keep) replace
 * the stored ones when they differ (audit registry.ids). Ids given must be
 * UUIDs (REG_EINVAL); they are kept in lower case. */
int registry_ids(registry *r, const reg_ctx *ctx, const char *org, const char *project,
                 reg_ids *out, char *err, size_t errlen);

/* The run-task HMAC keys made by registry_hmac_rotate that are still good:
 * the current one first (*has_current), then those retired at or after
 * retired_after, newest first. *keys: new array of n new strings
 * (registry_hmac_keys_free wipes them). */
int registry_hmac_keys(registry *r, ig_time retired_after, char ***keys, size_t *n,
                       bool *has_current, char *err, size_t errlen);
void registry_hmac_keys_free(char **keys, size_t n);
/* Makes a new current run-task HMAC key (64 hex digits; *key new string),
 * retiring the current one now and deleting those retired before
 * prune_before. Audit runtask.hmac_rotate (never the key). */
int registry_hmac_rotate(registry *r, const reg_ctx *ctx, ig_time prune_before, char **key,
                         char *err, size_t errlen);

/* ---- run-task deliveries --------------------------------------------- */

typedef enum {
    REG_DELIVERY_QUEUED = 0, /* accepted, not yet finished */
    REG_DELIVERY_DONE,       /* final status sent */
    REG_DELIVERY_FAILED,     /* given up (token expired, abandoned) */
} reg_delivery_state;

typedef struct reg_delivery {
    char *task_result_id;
    char *run_id;
    char *stage;
    char *body; /* the raw request body (contains the access token) */
    ig_time received_at;
    int attempts;
    int state;     /* reg_delivery_state */
    char *verdict; /* when done */
} reg_delivery;
void registry_delivery_dispose(reg_delivery *d);

/* Records an accepted delivery durably. Returns 0 when stored, 1 when the
 * task_result_id was already known (nothing changes), -1 on error. */
int registry_delivery_add(registry *r, const reg_ctx *ctx, const char *task_result_id,
                          const char *run_id, const char *stage, const char *body, char *err,
                          size_t errlen);
/* Claims one queued delivery whose lease is free or expired, taking a lease
 * of lease_ms for owner. received_after: only deliveries received after that
 * time (older ones are left for registry_delivery_abandon_old). Returns 1 and
 * fills *d when one was claimed, 0 when none, -1 on error. */
int registry_delivery_claim(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                            ig_time received_after, reg_delivery *d, char *err, size_t errlen);
/* Claims the given task_result_id if queued and not leased by someone else. */
int registry_delivery_claim_id(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                               const char *task_result_id, reg_delivery *d, char *err,
                               size_t errlen);
/* Extends the lease (still owned by owner). */
int registry_delivery_renew(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                            const char *task_result_id, char *err, size_t errlen);
/* Final state: stores verdict, erases the body (and so the token). */
int registry_delivery_finish(registry *r, const reg_ctx *ctx, const char *task_result_id,
                             reg_delivery_state state, const char *verdict, char *err,
                             size_t errlen);
/* Marks queued deliveries received before cutoff as FAILED (token can no
 * longer be valid), erasing their bodies, with one audit entry each.
 * Returns how many, or -1. */
int registry_delivery_abandon_old(registry *r, const reg_ctx *ctx, ig_time cutoff, char *err,
                                  size_t errlen);
/* Counts of deliveries by state (for metrics / tests). */
int registry_delivery_counts(registry *r, int64_t counts[3], char *err, size_t errlen);

/* ---- result pages ---------------------------------------------------- */

/* A delivery's report as served at PUBLIC_URL/results/ID. */
typedef struct reg_result {
    char *id; /* random, 32 hex characters */
    char *task_result_id, *run_id, *organization, *workspace, *stage, *verdict;
    ig_time created_at;
    char *page; /* the report as text */
} reg_result;
void registry_result_dispose(reg_result *res);
/* Stores res (borrowed; created_at = ctx->now). Any thread with its own
 * handle. */
int registry_result_put(registry *r, const reg_ctx *ctx, const reg_result *res, char *err,
                        size_t errlen);
/* Fills *res (dispose it) and returns 1 when id is known and not older than
 * not_before, 0 when not, -1 on error. */
int registry_result_get(registry *r, const char *id, ig_time not_before, reg_result *res, char *err,
                        size_t errlen);
/* Deletes results created before cutoff; returns how many, or -1. */
int registry_result_prune(registry *r, ig_time cutoff, char *err, size_t errlen);

/* ---- runs and usage (issue 15) ----------------------------------------- */

/* One image an evaluation saw in a resource's image attribute and the
 * registry matched. All borrowed. */
typedef struct reg_usage_item {
    const char *address; /* resource address */
    const char *image;   /* the image ID; NULL for a sensitive attribute (never stored) */
    const char *bucket;  /* the matched version: bucket, name (v3), fingerprint */
    const char *version;
    const char *fingerprint;
} reg_usage_item;

/* One server-side evaluation. All borrowed; NULL = none. */
typedef struct reg_run {
    const char *id;             /* the row's id (ULID); NULL: a new one */
    const char *source;         /* "run_task" or "scan" */
    const char *task_result_id; /* run-task deliveries: the row's key (a resumed delivery
                                   updates its row); NULL for scans */
    const char *run_id;         /* HCP Terraform's run id; a scan's own id */
    const char *organization, *workspace;
    const char *stage;   /* pre_plan, post_plan, pre_apply, post_apply, or scan */
    const char *verdict; /* pass, warn, fail, error */
    const char *message;
    const char *result_id; /* its result page (registry_result_put), or NULL */
    int64_t resources, gated, images, info, warn, fail;
    const reg_usage_item *usage; /* recorded only when workspace is given */
    size_t n_usage;
} reg_run;

/* Records a run (created_at = ctx->now) and upserts its usage rows, one per
 * (organization, workspace, address, image) -- first_seen kept, last_seen,
 * version, last run id and verdict refreshed unless a later evaluation
 * already did. Duplicate items are merged. The run goes with the first 128
 * rows, the rest in transactions of 128 (other writers get in between); a
 * failure half-way leaves the rows written so far. Any thread with its own
 * handle. Returns 0 or -1. */
int registry_run_record(registry *r, const reg_ctx *ctx, const reg_run *run, char *err,
                        size_t errlen);
/* Runs newest first, filtered by organization and workspace (exact; NULL =
 * any) and since (IG_TIME_NONE = all), after the position (after_at,
 * after_id) of the list's order (newest first; after_id NULL = from the
 * start), at most limit. Array of {id, source, run_id, task_result_id,
 * organization, workspace, stage, verdict, message, summary {resources,
 * gated, images, info, warn, fail}, result_id, evaluated_at}. */
json_t *registry_run_list(registry *r, const char *organization, const char *workspace,
                          ig_time since, ig_time after_at, const char *after_id, int limit,
                          char *err, size_t errlen);
/* Who used a bucket's images (ref NULL: every version, by bucket name) or a
 * version and, since an inherited revocation reaches them too, its
 * descendants (ref: a name, fingerprint or id). since: IG_TIME_NONE = all
 * that is kept. page pages the workspaces (NULL = all). Returns {bucket,
 * version (name or null), since, workspaces: [{organization, workspace,
 * last_seen, resources: [{address, image (null when sensitive), bucket,
 * version, last_seen}]}]} sorted by organization, workspace, address.
 * REG_ENOTFOUND when the bucket or version does not exist. */
json_t *registry_usage_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           ig_time since, reg_page *page, char *err, size_t errlen);
/* Deletes usage rows last seen and runs made before cutoff; returns how
 * many rows went, or -1. */
int registry_usage_prune(registry *r, ig_time cutoff, char *err, size_t errlen);

/* What registry_version_revoke would do, changing nothing: the revocation
 * runs in a transaction that is rolled back (so the rules are exactly the
 * real ones and no audit entry remains). Returns {inherits: [{bucket,
 * version}], channels: [{bucket, channel, from, to (null when emptied)}],
 * workspaces: [{organization, workspace, bucket, version, last_seen}]}:
 * versions that would inherit the revocation, channels that would roll back,
 * and workspaces that used the version or a version inheriting it in the 30
 * days before ctx->now. Fails as the revocation would (REG_ECONFLICT for a
 * version already revoked). */
json_t *registry_version_revoke_dry_run(registry *r, const reg_ctx *ctx, const char *bucket,
                                        const char *ref, const reg_revoke *rv, char *err,
                                        size_t errlen);

/* ---- SBOMs and packages ---------------------------------------------- */

/* One package of an SBOM (strings borrowed). type: the purl's type. */
typedef struct reg_package {
    const char *name, *version, *purl, *type;
} reg_package;

/* An SBOM to attach to a build, already parsed and checked by the caller
 * (sbom/): everything borrowed. zstd_b64: the document as Packer uploads
 * it, base64 of zstd, kept as it is. */
typedef struct reg_sbom {
    const char *name; /* 3-36 of [A-Za-z0-9_-] */
    const char *format, *spec_version, *zstd_b64, *sha256;
    int64_t json_bytes;
    const reg_package *packages;
    size_t n_packages;
} reg_sbom;

/* Attaches an SBOM to a build of version ref. build: a build id, a
 * component type naming one build, or NULL when the version has exactly
 * one build. The same name on the same build: the same document (sha256)
 * changes nothing (*created false); another document replaces it while the
 * build is not BUILD_DONE (a re-run build uploads again) and is refused
 * with REG_ECONFLICT ("... already exists") once it is. Allowed on complete
 * versions (an SBOM may come after the build). Audit: sbom.add. Returns the
 * SBOM object {id, name, format, spec_version, json_bytes, sha256,
 * package_count, build_id, author_id, created_at}. */
json_t *registry_sbom_put(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                          const char *build, const reg_sbom *s, bool *created, char *err,
                          size_t errlen);
/* The SBOM objects of a build (build as in registry_sbom_put), by name. */
json_t *registry_sbom_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           const char *build, char *err, size_t errlen);
/* A download token for SBOM name of a build: *token receives a new random
 * string (64 hex digits; the caller frees it), valid until expires_at; only
 * its SHA-256 is stored. Expired tokens are pruned here. REG_ENOTFOUND when
 * there is no such SBOM. */
int registry_sbom_download_token(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *ref, const char *build, const char *name,
                                 ig_time expires_at, char **token, char *err, size_t errlen);
/* What a download serves. */
typedef struct reg_sbom_blob {
    char *id, *name, *format, *zstd_b64, *sha256, *bucket, *fingerprint;
    int64_t json_bytes;
} reg_sbom_blob;
void registry_sbom_blob_dispose(reg_sbom_blob *b);
/* The SBOM a token opens: 1 and *out filled, 0 when the token is unknown
 * or expired at ctx->now, -1 on error. */
int registry_sbom_by_token(registry *r, const reg_ctx *ctx, const char *token, reg_sbom_blob *out,
                           char *err, size_t errlen);

/* Filters and order of a package list (HCP's ListBuildPackages /
 * ListBucketPackages): NULL or "" = no filter. name and version match
 * exactly (name case-insensitively), name_prefix case-insensitively.
 * order_by: HCP's sorting.order_by values, "name", "version", "purl",
 * "type", "build_id", each optionally followed by " asc" or " desc"
 * (REG_EINVAL for others); default: name, version, build. */
typedef struct reg_package_filter {
    const char *name, *name_prefix, *version;
    const char *const *order_by;
    size_t n_order_by;
} reg_package_filter;
/* The packages of a build (build non-NULL: as in registry_sbom_put), or of
 * every build of a bucket (ref and build NULL): array of {name, version,
 * purl, type, build_id, build_name (its component type), bucket_name,
 * version (name), fingerprint, sboms: [{id, name, format}],
 * vuln_details: []}. page: see reg_page. */
json_t *registry_package_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              const char *build, const reg_package_filter *f, reg_page *page,
                              char *err, size_t errlen);

/* The search across the whole registry (packages find, GET /v1/packages).
 * name: case-insensitive exact. keep (may be NULL = all) decides on each
 * package of that name by its type and version (the caller's version
 * rules, sbom/); channel (NULL = any): only versions that channel holds
 * ("latest" included). */
typedef struct reg_package_query {
    const char *name;
    const char *channel;
    bool (*keep)(const char *type, const char *version, void *arg);
    void *arg;
} reg_package_query;
/* Array, one entry per version holding a match (bucket name, then newest
 * first): {bucket_name, version (name), fingerprint, version_id, status,
 * revoked, revoke_at, revocation_type, channels: [names], packages:
 * [{name, version, purl, type, build_id, component_type, platform, sbom}]}. */
json_t *registry_package_find(registry *r, const reg_ctx *ctx, const reg_package_query *q,
                              char *err, size_t errlen);

/* ---- webhooks and events (event notifications, docs/events.md) ------- */

/* Every registry change makes HCP Packer's version events (create,
 * complete, revoke, restore, delete, schedule-revocation,
 * cancel-revocation, assign) in the transaction of the change itself: one
 * event row and one delivery row per subscribed webhook (the outbox), so a
 * change and its events commit or vanish together, whichever path made them.
 * notify/ sends them. */

/* The event actions, NULL-terminated. */
extern const char *const registry_event_actions[];
bool registry_event_action_valid(const char *action);

typedef struct reg_webhook_spec {
    const char *name;          /* 1-64 letters, digits, '-', '_', '.' */
    const char *url;           /* absolute http(s) URL without userinfo, at most 2048 bytes */
    const char *secret;        /* HMAC key sent with every delivery: 16-1024 printable bytes */
    const char *const *events; /* actions to send (NULL or n_events 0: every action) */
    size_t n_events;
    const char *const *buckets; /* buckets to send (none: every bucket) */
    size_t n_buckets;
} reg_webhook_spec;
/* Checks a spec without the store. Returns 0 or -1 naming the field. */
int registry_webhook_check(const reg_webhook_spec *s, char *err, size_t errlen);
/* Creates a webhook (audit webhook.create, without the secret). A SQLite
 * store readable by anyone but its owner is refused (REG_ECONFLICT): the
 * secret would be readable too. Returns the webhook object: {name, url,
 * events, buckets, created_at, created_by} -- never the secret. */
json_t *registry_webhook_create(registry *r, const reg_ctx *ctx, const reg_webhook_spec *s,
                                char *err, size_t errlen);
/* Array of webhook objects sorted by name, each with the counts of its
 * deliveries: pending, delivered, failed. Never secrets. */
json_t *registry_webhook_list(registry *r, char *err, size_t errlen);
json_t *registry_webhook_get(registry *r, const char *name, char *err, size_t errlen);
/* Deletes a webhook with its deliveries (audit webhook.delete). */
int registry_webhook_delete(registry *r, const reg_ctx *ctx, const char *name, char *err,
                            size_t errlen);
/* The webhook's deliveries, newest first, at most limit (0 = 100): {id,
 * event_id, action, bucket, version, state (pending|delivered|failed),
 * attempts, created_at, next_at, finished_at, redelivery, log: [{at,
 * status, latency_ms, response, error}]} with the attempts oldest first. */
json_t *registry_webhook_deliveries(registry *r, const char *name, int limit, char *err,
                                    size_t errlen);
/* Sends event_id again: a new delivery at the end of each webhook's queue
 * (only the named one when webhook is not NULL) whose last delivery of that
 * event is finished (REG_ECONFLICT when every one is still pending). Audit
 * webhook.redeliver. Returns the array of new deliveries {webhook,
 * delivery_id}. */
json_t *registry_event_redeliver(registry *r, const reg_ctx *ctx, const char *event_id,
                                 const char *webhook, char *err, size_t errlen);

/* ---- the outbox, for the sender (notify/) ---------------------------- */

/* A webhook claimed for sending. */
typedef struct reg_outbox_hook {
    char *id, *name, *url, *secret;
} reg_outbox_hook;
void registry_outbox_hook_dispose(reg_outbox_hook *h);

/* One delivery at the head of a webhook's queue. */
typedef struct reg_outbox_item {
    char *delivery_id, *event_id, *body;
    int attempts;
    ig_time first_attempt_at; /* IG_TIME_NONE before the first attempt */
} reg_outbox_item;
void registry_outbox_item_dispose(reg_outbox_item *it);

/* Claims one webhook whose oldest pending delivery is due (next_at <= now)
 * and whose lease is free or expired, for owner until now + lease_ms: one
 * sender per webhook across threads, processes and replicas (FOR UPDATE
 * SKIP LOCKED on PostgreSQL). The least recently served webhook first.
 * Times are ctx->now. Returns 1 with *h filled, 0 when none, -1. */
int registry_outbox_claim(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                          reg_outbox_hook *h, char *err, size_t errlen);
/* Renews owner's lease on webhook_id and loads its oldest pending delivery.
 * Returns 1 with *it when that one is due, 0 when there is none or it is
 * not due yet, -1 (REG_ECONFLICT when the lease was lost). */
int registry_outbox_next(registry *r, const reg_ctx *ctx, const char *owner, int64_t lease_ms,
                         const char *webhook_id, reg_outbox_item *it, char *err, size_t errlen);

typedef enum {
    REG_OUTBOX_DELIVERED = 1, /* a 2xx answer: done */
    REG_OUTBOX_RETRY,         /* try again at next_at */
    REG_OUTBOX_FAILED,        /* given up: the next delivery goes */
} reg_outbox_outcome;

typedef struct reg_outbox_attempt {
    int status; /* HTTP status, 0 when there was no answer */
    int64_t latency_ms;
    const char *response; /* at most 512 bytes of the answer, valid UTF-8, or NULL */
    const char *error;    /* why there was no usable answer, or NULL */
    reg_outbox_outcome outcome;
    ig_time next_at; /* REG_OUTBOX_RETRY */
} reg_outbox_attempt;
/* Logs the attempt (made at ctx->now) and moves the delivery on, in one transaction, only
 * while owner still holds the webhook's lease and the delivery is pending:
 * a success is recorded once. Returns 0, or -1 (REG_ECONFLICT when the
 * lease was lost or the delivery finished meanwhile: nothing recorded). */
int registry_outbox_record(registry *r, const reg_ctx *ctx, const char *owner,
                           const char *webhook_id, const reg_outbox_item *it,
                           const reg_outbox_attempt *a, char *err, size_t errlen);
/* Gives the webhook's lease up (the next claim may take it at once). */
int registry_outbox_release(registry *r, const reg_ctx *ctx, const char *owner,
                            const char *webhook_id, char *err, size_t errlen);
/* Deletes the events whose deliveries all finished before cutoff, with
 * their deliveries and attempt logs (and events no webhook has any more).
 * Returns how many events, or -1. */
int registry_outbox_prune(registry *r, ig_time cutoff, char *err, size_t errlen);
/* Pending, delivered and failed deliveries of every webhook (metrics). */
int registry_outbox_counts(registry *r, int64_t counts[3], char *err, size_t errlen);

#endif
