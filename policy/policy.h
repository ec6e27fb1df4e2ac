/* Policy: candidate references + registry answers + clock -> findings with
 * levels -> verdict; the policy file (levels per kind, overrides by
 * organization / workspace glob, exemptions); and the report formats.
 *
 * Pure code: the time and the registry are parameters (the registry through
 * a lookup interface the caller implements), no globals. A loaded policy is
 * immutable and may be shared by threads. */
#ifndef IG_POLICY_H
#define IG_POLICY_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "common/timeutil.h"
#include "scanners/scan.h"

typedef enum { POLICY_INFO = 0, POLICY_WARN, POLICY_FAIL } policy_level;
const char *policy_level_name(policy_level l); /* "info", "warn", "fail" */
int policy_level_parse(const char *s, policy_level *out);

/* Finding kinds. The *_UNCHANGED / *_UNREFERENCED / MENTION_REVOKED /
 * OUTDATED_BEHIND variants are the same kind in output ("revoked",
 * "data_source_revoked", "mention", "outdated") with their own default
 * level and their own policy key. */
typedef enum {
    PK_REVOKED = 0,
    PK_REVOKED_UNCHANGED, /* key "revoked_unchanged" */
    PK_DATA_SOURCE_REVOKED,
    PK_DATA_SOURCE_REVOKED_UNREFERENCED, /* key "data_source_revoked_unreferenced" */
    PK_REVOCATION_SCHEDULED,
    PK_UNTRACKED,
    PK_HARDCODED,
    PK_MENTION,
    PK_MENTION_REVOKED, /* key "mention_revoked" */
    PK_UNKNOWN,
    PK_UNRECOGNIZED,
    PK_LAUNCH_RESOLVED, /* "resolve:ssm:PARAMETER": EC2 picks the image at launch */
    PK_OUTDATED,
    PK_OUTDATED_BEHIND, /* key "outdated_behind": more versions behind than the freshness policy
                           allows */
    PK_STALE,           /* older than the freshness policy's max_age */
    PK_TRACKED,
    PK__COUNT
} policy_kind;
const char *policy_kind_name(policy_kind k);        /* as printed: "revoked", "mention", ... */
const char *policy_kind_key(policy_kind k);         /* as in the policy file */
const char *policy_kind_description(policy_kind k); /* one sentence */
/* True for the kinds whose finding says that a resource's image attribute
 * uses an image the registry matched (revoked, revocation_scheduled,
 * outdated, tracked): what the server records as usage. Mentions, data
 * sources and the kinds about the attribute itself (hardcoded, untracked,
 * unknown, unrecognized) are not. A new matched kind is one more row of the
 * table in policy.c. */
bool policy_kind_records_usage(policy_kind k);

typedef struct policy policy;

/* The default policy (PRODUCT.md section 3 table). */
policy *policy_default(void);
/* Loads a policy file (YAML or JSON; format in docs/policy.md). Returns NULL
 * with "FILE:LINE: reason" in err. */
policy *policy_load(const char *path, char *err, size_t errlen);
policy *policy_load_buffer(const char *buf, size_t len, const char *name, char *err, size_t errlen);
void policy_free(policy *p);

/* ---- registry answers ------------------------------------------------ */

/* What the caller's registry says. Each function returns a NEW reference the
 * policy code releases, or NULL when the store failed (the evaluation then
 * fails: a scan never passes on a registry it could not read).
 *
 * find_image: array of matches as registry_artifact_find returns them
 *   (bucket_name, version, fingerprint, status, revoke_at, revocation_type,
 *   revocation_message, revocation_inherited_from, platform, region, ...).
 * channels: array of channel objects of a bucket as registry_channel_list
 *   returns them (name, version {name, fingerprint, status, builds ...}).
 * find_version: a version object (registry_version_get) or JSON null when it
 *   does not exist; ref is a fingerprint, a name or a version id. The
 *   freshness policy reads its completed_at and builds[].built_at, and asks
 *   for the names v(N+1)... to count the versions newer than vN. */
typedef struct policy_lookup {
    void *ctx;
    json_t *(*find_image)(void *ctx, const char *id, const char *platform);
    json_t *(*channels)(void *ctx, const char *bucket);
    json_t *(*find_version)(void *ctx, const char *bucket, const char *ref);
} policy_lookup;

/* ---- findings and report -------------------------------------------- */

/* Every string of a finding belongs to its report (freed with it). */
typedef struct policy_finding {
    policy_kind kind;
    policy_level level;
    char *address;
    char *attribute;    /* NULL when it does not apply */
    char *image;        /* NULL when sensitive or none */
    const char *action; /* "create", "update", "replace" or NULL */
    char *bucket, *version, *fingerprint;
    const char *provenance; /* NULL when it does not apply */
    char *message;          /* one line, never holds a sensitive value */
    /* extra context for run-task outcomes (may be NULL): */
    char *revoke_at;
    char *revocation_message;
    char *channel_note; /* "Channel production now holds v2 (ami-...)" */
    bool sensitive;
    bool exempted;
} policy_finding;

typedef enum { POLICY_PASS = 0, POLICY_VERDICT_WARN, POLICY_VERDICT_FAIL } policy_verdict;
const char *policy_verdict_name(policy_verdict v); /* "pass", "warn", "fail" */

typedef struct policy_report {
    policy_verdict verdict;
    size_t resources, gated, images;
    size_t count[3]; /* findings per level */
    policy_finding *findings;
    size_t n_findings;
    char **gated_addresses; /* for JUnit */
    size_t n_gated_addresses;
    void *arena_, *strings_; /* internal: owns the strings */
} policy_report;

typedef struct policy_scope {
    const char *organization; /* NULL = none given */
    const char *workspace;
    ig_time now; /* revocations, exemption expiry and image ages are judged at this time */
} policy_scope;

/* Evaluates the scanner's references. Returns a new report, or NULL with err
 * when a registry lookup failed. res is borrowed. */
policy_report *policy_eval(const policy *p, const scan_result *res, const policy_lookup *lk,
                           const policy_scope *scope, char *err, size_t errlen);
void policy_report_free(policy_report *r);

/* Exit-relevant decision: true when the verdict reaches fail_on
 * (POLICY_VERDICT_FAIL by default; POLICY_VERDICT_WARN with --fail-on warn). */
bool policy_report_fails(const policy_report *r, policy_verdict fail_on);

/* ---- output formats --------------------------------------------------- */

typedef enum {
    REPORT_TEXT = 0,
    REPORT_JSON,
    REPORT_MARKDOWN,
    REPORT_SARIF,
    REPORT_JUNIT,
} report_format;
int report_format_parse(const char *s, report_format *out);

/* The JSON object of PRODUCT.md section 3 (new reference). */
json_t *report_to_json(const policy_report *r);
/* Writes the report in the given format. color: ANSI colours (text only). */
int report_write(const policy_report *r, report_format fmt, bool color, FILE *out);

#endif
