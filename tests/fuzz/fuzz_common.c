/* What the drivers share: a hash to derive choices from the input, a fake
 * registry for policy_eval, and the checks every report must pass.
 *
 * The fake registry answers from a hash of the ID or bucket it is asked
 * about, so that one input meets several kinds of answer (not tracked,
 * revoked, scheduled, inherited, several matches, channels that moved on,
 * versions that are gone) and, rarely, a store failure -- the path where
 * policy_eval must give up cleanly. Its answers have the shapes
 * registry_artifact_find / registry_channel_list / registry_version_get
 * return; the registry is our own code, so its answers are not fuzzed.
 *
 * The report checks are properties that hold for every plan: each format
 * writes, JSON and SARIF are valid JSON, a value the scanner marked
 * sensitive is printed nowhere, and the run-task callback body stays within
 * the protocol's limits (a body HCP Terraform refuses would leave the run
 * without a result). */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>
#include <string.h>

#include "webhook/callback.h"

uint64_t fuzz_hash(const void *p, size_t n, uint64_t h)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t hash_str(const char *s)
{
    return fuzz_hash(s, strlen(s), FUZZ_HASH_INIT);
}

/* ---- the fake registry ------------------------------------------------ */

#define FAKE_AMI_V2 "ami-0a1b2c3d4e5f60718"
#define FAKE_AMI_V3 "ami-0c9d8e7f6a5b40312"

/* Strings the fake puts into reports (the sensitive-value check must not
 * blame the scanner for them). */
static const char *const FAKE_STRINGS[] = {"web-ubuntu",
                                           "golden-base",
                                           "fp-1",
                                           "fp-2",
                                           "fp-3",
                                           "CVE-2024-6387 in openssh",
                                           "end of support",
                                           FAKE_AMI_V2,
                                           FAKE_AMI_V3,
                                           "production",
                                           "latest",
                                           "staging",
                                           "01JD0000000000000000000001",
                                           "us-west-1",
                                           "aws",
                                           "alice",
                                           "2026-11-01T00:00:00Z",
                                           "2026-12-09T00:00:00Z"};

static json_t *fake_match(const char *id, const char *platform, unsigned what)
{
    const char *bucket = what & 1 ? "golden-base" : "web-ubuntu";
    json_t *m =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "external_identifier", id,
                  "platform", platform ? platform : "aws", "region", "us-west-1", "component_type",
                  "amazon-ebs.ubuntu", "bucket_name", bucket, "version_id",
                  "01JD0000000000000000000001", "build_id", "01JD0000000000000000000002",
                  "revocation_author", "alice", "fingerprint", what & 2 ? "fp-1" : "fp-2");
    switch (what % 4) {
    case 0: /* active */
        json_object_set_new(m, "version", json_string(what & 4 ? "v2" : "v1"));
        json_object_set_new(m, "status", json_string("VERSION_ACTIVE"));
        json_object_set_new(m, "revoke_at", json_null());
        json_object_set_new(m, "revocation_inherited_from", json_null());
        break;
    case 1: /* revoked */
        json_object_set_new(m, "version", json_string("v1"));
        json_object_set_new(m, "status", json_string("VERSION_REVOKED"));
        json_object_set_new(m, "revoke_at", json_string("2026-11-01T00:00:00Z"));
        json_object_set_new(m, "revocation_type", json_string("MANUAL"));
        json_object_set_new(m, "revocation_message", json_string("CVE-2024-6387 in openssh"));
        json_object_set_new(m, "revocation_inherited_from", json_null());
        break;
    case 2: /* scheduled */
        json_object_set_new(m, "version", json_string("v1"));
        json_object_set_new(m, "status", json_string("VERSION_REVOCATION_SCHEDULED"));
        json_object_set_new(m, "revoke_at", json_string("2026-12-09T00:00:00Z"));
        json_object_set_new(m, "revocation_type", json_string("MANUAL"));
        json_object_set_new(m, "revocation_message", json_string("end of support"));
        json_object_set_new(m, "revocation_inherited_from", json_null());
        break;
    default: /* revoked by inheritance */
        json_object_set_new(m, "version", json_string("v3"));
        json_object_set_new(m, "status", json_string("VERSION_REVOKED"));
        json_object_set_new(m, "revoke_at", json_string("2026-11-01T00:00:00Z"));
        json_object_set_new(m, "revocation_type", json_string("INHERITED"));
        json_object_set_new(m, "revocation_message", json_null());
        json_object_set_new(m, "revocation_inherited_from",
                            json_pack("{s:s, s:s}", "bucket_name", "golden-base", "version", "v1"));
        break;
    }
    return m;
}

static json_t *fake_image(void *ctx, const char *id, const char *platform)
{
    (void)ctx;
    uint64_t h = hash_str(id);
    if (h % 97 == 13)
        return NULL; /* the store failed */
    json_t *a = json_array();
    unsigned n = (unsigned)(h >> 8) % 4; /* 0: not tracked */
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(a, fake_match(id, platform, (unsigned)(h >> (16 + 4 * i))));
    return a;
}

/* A version object; the freshness policy reads completed_at and the builds'
 * built_at (a manifest's build_time; null for an API build). */
static json_t *fake_version_obj(const char *bucket, const char *name, const char *fp,
                                const char *status, const char *ami)
{
    uint64_t h = hash_str(bucket) ^ hash_str(name);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s, s:s?, s:[{s:s, s:s}]}]}",
                     "bucket_name", bucket, "name", name, "fingerprint", fp, "status", status,
                     "completed_at", h & 1 ? "2026-11-01T00:00:00Z" : "2025-01-01T00:00:00.5Z",
                     "builds", "platform", "aws", "status", "DONE", "built_at",
                     h & 2 ? "2025-02-19T21:20:00Z" : NULL, "artifacts", "external_identifier", ami,
                     "region", "us-west-1");
}

static json_t *fake_channels(void *ctx, const char *bucket)
{
    (void)ctx;
    uint64_t h = hash_str(bucket);
    if (h % 89 == 7)
        return NULL;
    json_t *a = json_array();
    if (h & 1)
        json_array_append_new(
            a, json_pack("{s:s, s:o}", "name", "production", "version",
                         fake_version_obj(bucket, "v2", "fp-2", "VERSION_ACTIVE", FAKE_AMI_V2)));
    if (h & 2)
        json_array_append_new(a, json_pack("{s:s, s:n}", "name", "staging", "version"));
    if (h & 4)
        json_array_append_new(
            a, json_pack("{s:s, s:o}", "name", "latest", "version",
                         fake_version_obj(bucket, "v3", "fp-3", "VERSION_ACTIVE", FAKE_AMI_V3)));
    return a;
}

static json_t *fake_version(void *ctx, const char *bucket, const char *ref)
{
    (void)ctx;
    uint64_t h = fuzz_hash(ref, strlen(ref), hash_str(bucket));
    if (h % 83 == 5)
        return NULL;
    switch ((h >> 8) % 3) {
    case 0:
        return json_null();
    case 1: {
        json_t *v = fake_version_obj(bucket, "v1", "fp-1", "VERSION_REVOKED", FAKE_AMI_V2);
        json_object_set_new(v, "revoke_at", json_string("2026-11-01T00:00:00Z"));
        json_object_set_new(v, "revocation_message", json_string("CVE-2024-6387 in openssh"));
        return v;
    }
    default:
        return fake_version_obj(bucket, "v3", "fp-3", "VERSION_ACTIVE", FAKE_AMI_V3);
    }
}

const policy_lookup fuzz_lookup = {NULL, fake_image, fake_channels, fake_version};

/* ---- report checks ---------------------------------------------------- */

#define NOW 1795165200000LL /* 2026-11-20T09:00:00Z */

static char *render(const policy_report *rep, report_format fmt, bool color, size_t *len)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    FUZZ_CHECK(f != NULL, "open_memstream");
    int rc = report_write(rep, fmt, color, f);
    FUZZ_CHECK(fclose(f) == 0, "fclose");
    FUZZ_CHECK(rc == 0, "report_write(format %d) failed", (int)fmt);
    *len = n;
    return buf;
}

static bool contains(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

/* Text the caller says the report may quote (fuzz_check_report). */
static const void *ALSO;
static size_t ALSO_LEN;

/* True when v may legitimately appear in output: it is (part of) some text
 * of the scan that is not a sensitive value, of the fake's answers, or of
 * what the caller allowed. */
static bool printable_elsewhere(const scan_result *res, const char *v)
{
    if (ALSO && memmem(ALSO, ALSO_LEN, v, strlen(v)))
        return true;
    for (size_t i = 0; i < sizeof FAKE_STRINGS / sizeof FAKE_STRINGS[0]; i++)
        if (contains(FAKE_STRINGS[i], v) || contains(v, FAKE_STRINGS[i]))
            return true;
    for (size_t i = 0; i < res->n_refs; i++) {
        const scan_ref *r = &res->refs[i];
        if (contains(r->address, v) || contains(r->attribute, v) || contains(r->bucket, v) ||
            contains(r->fingerprint, v) || contains(r->version_id, v) || contains(r->channel, v) ||
            contains(r->data_type, v))
            return true;
        if (!r->sensitive && (contains(r->value, v) || contains(r->lookup, v)))
            return true;
    }
    for (size_t i = 0; res->gated_addresses && i < res->gated; i++)
        if (contains(res->gated_addresses[i], v))
            return true;
    return false;
}

static void check_no_sensitive(const scan_result *res, const char *out, size_t len,
                               const char *what)
{
    if (!res)
        return;
    for (size_t i = 0; i < res->n_refs; i++) {
        const scan_ref *r = &res->refs[i];
        /* Only recognised image IDs: a short or common sensitive string may
         * be part of the report's own words. */
        if (!r->sensitive || !r->value || !r->recognized || strlen(r->value) < 12)
            continue;
        if (!memmem(out, len, r->value, strlen(r->value)))
            continue;
        FUZZ_CHECK(printable_elsewhere(res, r->value),
                   "%s: the sensitive value of %s %s is in the output", what, r->address,
                   r->attribute ? r->attribute : "");
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void check_str_max(json_t *o, const char *key, size_t max, bool required)
{
    json_t *v = json_object_get(o, key);
    if (!v) {
        FUZZ_CHECK(!required, "callback: %s missing", key);
        return;
    }
    FUZZ_CHECK(json_is_string(v), "callback: %s is not a string", key);
    size_t n = utf8_chars(json_string_value(v));
    FUZZ_CHECK(n <= max, "callback: %s has %zu characters (max %zu)", key, n, max);
    FUZZ_CHECK(!required || n > 0, "callback: %s is empty", key);
}

static void check_callback(const policy_report *rep, const scan_result *res)
{
    char *msg = webhook_result_message(rep, "post_plan");
    webhook_result wr = {"failed", msg,  "https://imagegate.example/runs/run-1",
                         rep,      true, "https://imagegate.example",
                         NOW};
    json_t *body = webhook_callback_body(&wr);
    FUZZ_CHECK(body != NULL, "webhook_callback_body returned NULL");
    json_t *attr = json_object_get(json_object_get(body, "data"), "attributes");
    FUZZ_CHECK(json_is_object(attr), "callback: no attributes");
    check_str_max(attr, "message", WEBHOOK_MAX_MESSAGE, true);
    check_str_max(attr, "url", WEBHOOK_MAX_URL, false);
    json_t *outs = json_object_get(
        json_object_get(json_object_get(json_object_get(body, "data"), "relationships"),
                        "outcomes"),
        "data");
    FUZZ_CHECK(json_array_size(outs) <= WEBHOOK_MAX_OUTCOMES, "callback: %zu outcomes",
               json_array_size(outs));
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o)
    {
        json_t *a = json_object_get(o, "attributes");
        FUZZ_CHECK(json_is_object(a), "callback: outcome %zu has no attributes", i);
        check_str_max(a, "outcome-id", WEBHOOK_MAX_OUTCOME_ID, true);
        check_str_max(a, "description", WEBHOOK_MAX_DESCRIPTION, true);
        check_str_max(a, "body", WEBHOOK_MAX_BODY, false);
        check_str_max(a, "url", WEBHOOK_MAX_URL, false);
        const char *d = json_string_value(json_object_get(a, "description"));
        FUZZ_CHECK(!strchr(d, '\n'), "callback: outcome %zu description has a newline", i);
        json_t *tags = json_object_get(a, "tags");
        FUZZ_CHECK(!tags || json_object_size(tags) <= 10, "callback: more than 10 tag keys");
        const char *k;
        json_t *list;
        json_object_foreach(tags, k, list)
        {
            FUZZ_CHECK(json_array_size(list) <= 32, "callback: tag %s: too many labels", k);
            size_t j;
            json_t *t;
            json_array_foreach(list, j, t) check_str_max(t, "label", WEBHOOK_MAX_LABEL, true);
        }
    }
    char *text = json_dumps(body, JSON_COMPACT);
    FUZZ_CHECK(text != NULL, "callback body does not serialise");
    check_no_sensitive(res, text, strlen(text), "callback body");
    free(text);
    json_decref(body);
    free(msg);
}

void fuzz_check_report(const policy_report *rep, const scan_result *res, const void *also,
                       size_t also_len)
{
    ALSO = also;
    ALSO_LEN = also_len;
    static const struct {
        report_format fmt;
        bool color, json;
    } formats[] = {{REPORT_TEXT, false, false}, {REPORT_TEXT, true, false},
                   {REPORT_JSON, false, true},  {REPORT_MARKDOWN, false, false},
                   {REPORT_SARIF, false, true}, {REPORT_JUNIT, false, false}};
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        size_t len;
        char *out = render(rep, formats[i].fmt, formats[i].color, &len);
        if (formats[i].json) {
            json_error_t je;
            json_t *doc = json_loadb(out, len, 0, &je);
            FUZZ_CHECK(doc != NULL, "report format %d is not JSON: line %d: %s",
                       (int)formats[i].fmt, je.line, je.text);
            json_decref(doc);
        }
        check_no_sensitive(res, out, len, "report");
        free(out);
    }
    json_t *j = report_to_json(rep);
    FUZZ_CHECK(j != NULL, "report_to_json returned NULL");
    json_decref(j);
    check_callback(rep, res);
}
