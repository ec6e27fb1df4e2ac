/* Unit tests for policy/: levels, verdicts, registry answers through a fake
 * lookup (pure code: no store), the policy file, overrides, exemptions and
 * every report format -- including that a sensitive value is in none. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy.h"

/* ---- a fake registry ------------------------------------------------- */

static const char *REVOKED_AMI = "ami-0d4c3b2a1f0e9d8c7";   /* web-ubuntu v1, revoked */
static const char *SCHEDULED_AMI = "ami-0b3c20f2fd2b1e282"; /* base-al2023 v1 */
static const char *ACTIVE_AMI = "ami-0a1b2c3d4e5f60718";    /* web-ubuntu v2 */
static const char *NEWEST_AMI = "ami-0c9d8e7f6a5b40312";    /* web-ubuntu v3 */
static const char *GCE_NAME = "web-gce-v1-20250101";        /* gce-bad v1, revoked */
static const char *APP_AMI = "ami-0aaaaaaaaaaaaaaa1";       /* app v1 of v1..v5 */

typedef struct fake {
    int fail;          /* lookups fail (store down) */
    int fail_version;  /* find_version fails */
    int image_calls;   /* how often find_image was asked */
    int version_calls; /* how often find_version was asked */
} fake;

static json_t *match(const char *ext, const char *bucket, const char *ver, const char *fp,
                     const char *status, const char *revoke_at, const char *msg)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:s?}", "external_identifier",
                     ext, "platform", "aws", "region", "us-west-1", "bucket_name", bucket,
                     "version", ver, "fingerprint", fp, "status", status, "revoke_at", revoke_at,
                     "revocation_message", msg, "revocation_type", revoke_at ? "MANUAL" : NULL);
}

static json_t *fake_image(void *ctx, const char *id, const char *platform)
{
    (void)platform;
    fake *f = ctx;
    f->image_calls++;
    if (f->fail)
        return NULL;
    json_t *a = json_array();
    if (strcmp(id, REVOKED_AMI) == 0)
        json_array_append_new(a, match(id, "web-ubuntu", "v1", "web-1", "VERSION_REVOKED",
                                       "2026-11-20T09:00:00Z", "CVE-2024-6387"));
    else if (strcmp(id, SCHEDULED_AMI) == 0)
        json_array_append_new(a, match(id, "base-al2023", "v1", "al2023-1",
                                       "VERSION_REVOCATION_SCHEDULED", "2026-12-09T00:00:00Z",
                                       "end of support"));
    else if (strcmp(id, ACTIVE_AMI) == 0)
        json_array_append_new(a,
                              match(id, "web-ubuntu", "v2", "web-2", "VERSION_ACTIVE", NULL, NULL));
    else if (strcmp(id, GCE_NAME) == 0)
        json_array_append_new(a, match(id, "gce-bad", "v1", "gce-bad-1", "VERSION_REVOKED",
                                       "2026-11-01T00:00:00Z", "bad"));
    else if (strcmp(id, NEWEST_AMI) == 0)
        json_array_append_new(a,
                              match(id, "web-ubuntu", "v3", "web-3", "VERSION_ACTIVE", NULL, NULL));
    else if (strcmp(id, APP_AMI) == 0)
        json_array_append_new(a, match(id, "app", "v1", "app-1", "VERSION_ACTIVE", NULL, NULL));
    return a;
}

static json_t *fake_channels(void *ctx, const char *bucket)
{
    fake *f = ctx;
    if (f->fail)
        return NULL;
    if (strcmp(bucket, "app") == 0) /* latest: v5 */
        return json_pack("[{s:s, s:{s:s, s:s, s:[]}}]", "name", "latest", "version", "name", "v5",
                         "status", "VERSION_ACTIVE", "builds");
    if (strcmp(bucket, "web-ubuntu") != 0)
        return json_array();
    return json_pack("[{s:s, s:{s:s, s:s, s:[{s:s, s:[{s:s, s:s}]}]}}, {s:s, s:{s:s, s:s, s:[]}}]",
                     "name", "production", "version", "name", "v2", "status", "VERSION_ACTIVE",
                     "builds", "platform", "aws", "artifacts", "external_identifier", ACTIVE_AMI,
                     "region", "us-west-1", "name", "latest", "version", "name", "v3", "status",
                     "VERSION_ACTIVE", "builds");
}

/* A version as registry_version_get gives it: imported ones carry their
 * builds' built_at (the manifest's build_time), base-al2023 v1 was published
 * through the API (built_at null: its age counts from completed_at). */
static const struct {
    const char *bucket, *name, *fp, *status, *built[2], *completed;
} VERSIONS[] = {
    {"web-ubuntu",
     "v1",
     "web-1",
     "VERSION_REVOKED",
     {"2025-02-19T21:20:00Z"},
     "2026-10-01T00:00:00Z"},
    {"web-ubuntu",
     "v2",
     "web-2",
     "VERSION_ACTIVE",
     {"2025-04-18T18:13:20Z"},
     "2026-10-01T00:00:00Z"},
    {"web-ubuntu",
     "v3",
     "web-3",
     "VERSION_ACTIVE",
     {"2025-06-15T15:06:40Z", "2025-06-15T15:08:20Z"},
     "2026-10-01T00:00:00Z"},
    {"base-al2023",
     "v1",
     "al2023-1",
     "VERSION_REVOCATION_SCHEDULED",
     {NULL},
     "2026-06-01T00:00:00Z"},
    {"app", "v1", "app-1", "VERSION_ACTIVE", {"2026-11-01T00:00:00Z"}, "2026-11-01T00:00:00Z"},
    {"app", "v2", "app-2", "VERSION_REVOKED", {NULL}, "2026-11-02T00:00:00Z"},
    {"app", "v3", "app-3", "VERSION_REVOCATION_SCHEDULED", {NULL}, "2026-11-03T00:00:00Z"},
    /* v4 was deleted */
    {"app", "v5", "app-5", "VERSION_ACTIVE", {NULL}, "2026-11-05T00:00:00Z"},
};

static json_t *fake_version(void *ctx, const char *bucket, const char *ref)
{
    fake *f = ctx;
    f->version_calls++;
    if (f->fail || f->fail_version)
        return NULL;
    for (size_t i = 0; i < sizeof VERSIONS / sizeof VERSIONS[0]; i++) {
        if (strcmp(bucket, VERSIONS[i].bucket) != 0 ||
            (strcmp(ref, VERSIONS[i].name) != 0 && strcmp(ref, VERSIONS[i].fp) != 0))
            continue;
        json_t *builds = json_array();
        for (int k = 0; k < 2; k++)
            if (VERSIONS[i].built[k] || k == 0)
                json_array_append_new(builds,
                                      json_pack("{s:s?}", "built_at", VERSIONS[i].built[k]));
        int revoked = strcmp(VERSIONS[i].status, "VERSION_REVOKED") == 0;
        return json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?, s:s, s:o}", "bucket_name", bucket,
                         "name", VERSIONS[i].name, "fingerprint", VERSIONS[i].fp, "status",
                         VERSIONS[i].status, "revoke_at", revoked ? "2026-11-20T09:00:00Z" : NULL,
                         "revocation_message", revoked ? "CVE-2024-6387" : NULL, "completed_at",
                         VERSIONS[i].completed, "builds", builds);
    }
    return json_null();
}

static fake FAKE;
static policy_lookup LOOKUP = {&FAKE, fake_image, fake_channels, fake_version};

/* ---- building scanner results by hand -------------------------------- */

typedef struct builder {
    scan_result *res;
    size_t cap;
} builder;

static scan_ref *add(builder *b, scan_ref_kind kind, const char *addr, const char *attr,
                     const char *value)
{
    if (!b->res)
        b->res = scan_result_new();
    scan_result *r = b->res;
    if (r->n_refs == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        r->refs = realloc(r->refs, b->cap * sizeof *r->refs);
    }
    scan_ref *x = &r->refs[r->n_refs++];
    memset(x, 0, sizeof *x);
    /* the strings stay valid for the test (literals) */
    x->kind = kind;
    x->address = (char *)addr;
    x->attribute = (char *)attr;
    x->value = (char *)value;
    x->lookup = (char *)value;
    x->platform = "aws";
    x->recognized = value != NULL;
    x->action = SCAN_ACT_CREATE;
    x->provenance = SCAN_PROV_DATA_SOURCE;
    return x;
}

static policy_report *eval(const policy *p, scan_result *res, const char *org, const char *ws,
                           ig_time now)
{
    char err[256];
    policy_scope scope = {org, ws, now};
    policy_report *r = policy_eval(p, res, &LOOKUP, &scope, err, sizeof err);
    if (!r)
        fail_msg("eval: %s", err);
    return r;
}

static const policy_finding *finding(const policy_report *r, policy_kind k, const char *addr)
{
    for (size_t i = 0; i < r->n_findings; i++)
        if (r->findings[i].kind == k && strcmp(r->findings[i].address, addr) == 0)
            return &r->findings[i];
    return NULL;
}

#define NOW 1795165200000LL /* 2026-11-20T09:00:00Z */

static void test_revoked_and_verdict(void **state)
{
    (void)state;
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "aws_instance.a", "ami", REVOKED_AMI);
    scan_ref *u = add(&b, SCAN_REF_IMAGE, "aws_launch_template.t", "image_id", REVOKED_AMI);
    u->action = SCAN_ACT_UPDATE;
    u->unchanged = true;
    scan_ref *c = add(&b, SCAN_REF_IMAGE, "aws_instance.c", "ami", REVOKED_AMI);
    c->action = SCAN_ACT_UPDATE; /* the update changes the image to a revoked one */
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_REVOKED, "aws_instance.a");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_FAIL);
    assert_string_equal(f->bucket, "web-ubuntu");
    assert_string_equal(f->version, "v1");
    assert_string_equal(f->image, REVOKED_AMI);
    assert_non_null(strstr(f->message, "CVE-2024-6387"));
    assert_non_null(f->channel_note);
    assert_non_null(strstr(f->channel_note, "production now holds v2 ("
                                            "ami-0a1b2c3d4e5f60718)"));
    const policy_finding *k = finding(r, PK_REVOKED_UNCHANGED, "aws_launch_template.t");
    assert_non_null(k);
    assert_int_equal(k->level, POLICY_WARN);
    assert_string_equal(policy_kind_name(k->kind), "revoked");
    assert_int_equal(finding(r, PK_REVOKED, "aws_instance.c")->level, POLICY_FAIL);
    assert_int_equal(r->verdict, POLICY_VERDICT_FAIL);
    assert_true(policy_report_fails(r, POLICY_VERDICT_FAIL));
    /* lookups are cached per image */
    assert_int_equal(FAKE.image_calls > 0 && FAKE.image_calls <= 1, 1);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
    FAKE.image_calls = 0;
}

static void test_kinds(void **state)
{
    (void)state;
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "s", "ami", SCHEDULED_AMI);
    add(&b, SCAN_REF_IMAGE, "u", "ami", "ami-0123456789abcdef0");
    scan_ref *h = add(&b, SCAN_REF_IMAGE, "h", "ami", NEWEST_AMI);
    h->provenance = SCAN_PROV_LITERAL;
    add(&b, SCAN_REF_IMAGE, "o", "ami", ACTIVE_AMI);
    scan_ref *unk = add(&b, SCAN_REF_IMAGE, "k", "ami", NULL);
    unk->unknown = true;
    scan_ref *unr = add(&b, SCAN_REF_IMAGE, "r", "ami", "ami-12345");
    unr->recognized = false;
    add(&b, SCAN_REF_MENTION, "m", "tags.SourceAMI", REVOKED_AMI);
    add(&b, SCAN_REF_MENTION, "n", "user_data", "ami-0123456789abcdef0");
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    assert_int_equal(finding(r, PK_REVOCATION_SCHEDULED, "s")->level, POLICY_WARN);
    assert_int_equal(finding(r, PK_UNTRACKED, "u")->level, POLICY_WARN);
    assert_int_equal(finding(r, PK_TRACKED, "h")->level, POLICY_INFO);
    const policy_finding *hc = finding(r, PK_HARDCODED, "h");
    assert_non_null(hc);
    assert_int_equal(hc->level, POLICY_WARN);
    assert_string_equal(hc->provenance, "literal");
    assert_null(finding(r, PK_HARDCODED, "s")); /* data_source provenance */
    const policy_finding *o = finding(r, PK_OUTDATED, "o");
    assert_non_null(o);
    assert_non_null(strstr(o->message, "latest holds v3"));
    assert_non_null(finding(r, PK_TRACKED, "o")); /* outdated is said besides tracked */
    assert_null(finding(r, PK_OUTDATED, "h"));    /* v3 is the newest */
    assert_int_equal(finding(r, PK_UNKNOWN, "k")->level, POLICY_INFO);
    const policy_finding *x = finding(r, PK_UNRECOGNIZED, "r");
    assert_int_equal(x->level, POLICY_INFO);
    assert_string_equal(policy_kind_name(x->kind), "unrecognized");
    assert_int_equal(finding(r, PK_MENTION_REVOKED, "m")->level, POLICY_WARN);
    assert_int_equal(finding(r, PK_MENTION, "n")->level, POLICY_INFO);
    assert_int_equal(r->verdict, POLICY_VERDICT_WARN);
    assert_false(policy_report_fails(r, POLICY_VERDICT_FAIL));
    assert_true(policy_report_fails(r, POLICY_VERDICT_WARN));
    assert_int_equal(r->images, 5);
    /* usage: the image-attribute findings the registry matched, nothing else */
    static const policy_kind used[] = {PK_REVOKED,  PK_REVOKED_UNCHANGED, PK_REVOCATION_SCHEDULED,
                                       PK_OUTDATED, PK_OUTDATED_BEHIND,   PK_STALE,
                                       PK_TRACKED};
    int n_used = 0;
    for (int k = 0; k < PK__COUNT; k++)
        n_used += policy_kind_records_usage((policy_kind)k);
    assert_int_equal(n_used, (int)(sizeof used / sizeof used[0]));
    for (size_t i = 0; i < sizeof used / sizeof used[0]; i++)
        assert_true(policy_kind_records_usage(used[i]));
    assert_false(policy_kind_records_usage(PK__COUNT));
    for (size_t i = 0; i < r->n_findings; i++) {
        const policy_finding *f = &r->findings[i];
        if (policy_kind_records_usage(f->kind))
            assert_true(f->bucket && f->version && f->attribute);
    }
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

/* A reference the scanner recognised but without a value (the policy
 * allows one: an empty match) is untracked, not a crash, and counts no
 * image. */
static void test_recognized_without_value(void **state)
{
    (void)state;
    builder b = {0};
    scan_ref *x = add(&b, SCAN_REF_IMAGE, "aws_instance.novalue", "ami", NULL);
    x->recognized = true;
    x->provenance = SCAN_PROV_LITERAL;
    add(&b, SCAN_REF_IMAGE, "aws_instance.h", "ami", NEWEST_AMI);
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_UNTRACKED, "aws_instance.novalue");
    assert_non_null(f);
    assert_string_equal(f->message, " is not in the registry");
    assert_non_null(finding(r, PK_TRACKED, "aws_instance.h"));
    assert_int_equal(r->images, 1);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

/* A value no pattern recognises is still looked up: the registry knowing it
 * (a GCE image's bare name, as Packer records it; or its name from a short
 * path form, in lookup) makes it a tracked image with the normal kinds. */
static void test_unrecognized_but_tracked(void **state)
{
    (void)state;
    builder b = {0};
    scan_ref *bare = add(&b, SCAN_REF_IMAGE, "google_compute_instance.bare",
                         "boot_disk[0].initialize_params[0].image", GCE_NAME);
    scan_ref *path =
        add(&b, SCAN_REF_IMAGE, "google_compute_instance.path",
            "boot_disk[0].initialize_params[0].image", "global/images/web-gce-v1-20250101");
    path->lookup = (char *)GCE_NAME;
    scan_ref *sens = add(&b, SCAN_REF_IMAGE, "google_compute_disk.s", "image", GCE_NAME);
    sens->sensitive = true;
    scan_ref *fam = add(&b, SCAN_REF_IMAGE, "google_compute_disk.f", "image", "family/web-gce");
    scan_ref *empty = add(&b, SCAN_REF_IMAGE, "google_compute_disk.e", "image", "");
    scan_ref *all[] = {bare, path, sens, fam, empty};
    for (size_t i = 0; i < 5; i++) {
        all[i]->recognized = false;
        all[i]->platform = NULL;
        all[i]->provenance = SCAN_PROV_UNKNOWN;
    }
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_REVOKED, "google_compute_instance.bare");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_FAIL);
    assert_string_equal(f->bucket, "gce-bad");
    assert_string_equal(f->image, GCE_NAME);
    f = finding(r, PK_REVOKED, "google_compute_instance.path");
    assert_non_null(f);
    assert_string_equal(f->image, "global/images/web-gce-v1-20250101");
    f = finding(r, PK_REVOKED, "google_compute_disk.s");
    assert_non_null(f);
    assert_null(f->image);
    assert_null(finding(r, PK_UNRECOGNIZED, "google_compute_instance.bare"));
    f = finding(r, PK_UNRECOGNIZED, "google_compute_disk.f");
    assert_non_null(f);
    assert_non_null(strstr(f->message, "or the registry knows"));
    assert_non_null(finding(r, PK_UNRECOGNIZED, "google_compute_disk.e"));
    assert_int_equal(r->verdict, POLICY_VERDICT_FAIL);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

static void test_data_sources(void **state)
{
    (void)state;
    builder b = {0};
    scan_ref *d = add(&b, SCAN_REF_DATA, "data.hcp_packer_artifact.pinned", NULL, REVOKED_AMI);
    d->bucket = "web-ubuntu";
    d->fingerprint = "web-1";
    d->referenced_by_gated = true;
    scan_ref *e = add(&b, SCAN_REF_DATA, "data.hcp_packer_version.old", NULL, NULL);
    e->bucket = "web-ubuntu";
    e->fingerprint = "web-1";
    scan_ref *g = add(&b, SCAN_REF_DATA, "data.hcp_packer_version.gone", NULL, NULL);
    g->bucket = "web-ubuntu";
    g->fingerprint = "nope";
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_DATA_SOURCE_REVOKED, "data.hcp_packer_artifact.pinned");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_FAIL);
    assert_string_equal(f->version, "v1");
    const policy_finding *u =
        finding(r, PK_DATA_SOURCE_REVOKED_UNREFERENCED, "data.hcp_packer_version.old");
    assert_int_equal(u->level, POLICY_INFO);
    assert_string_equal(policy_kind_name(u->kind), "data_source_revoked");
    assert_int_equal(r->n_findings, 2);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

static void test_store_failure(void **state)
{
    (void)state;
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "a", "ami", ACTIVE_AMI);
    policy *p = policy_default();
    FAKE.fail = 1;
    char err[256] = "";
    policy_scope scope = {NULL, NULL, NOW};
    assert_null(policy_eval(p, b.res, &LOOKUP, &scope, err, sizeof err));
    assert_non_null(strstr(err, "registry"));
    FAKE.fail = 0;
    policy_free(p);
    scan_result_free(b.res);
}

static const char *POLICY_FILE = "levels:\n"
                                 "  hardcoded: fail\n"
                                 "  tracked: info\n"
                                 "overrides:\n"
                                 "  - organization: acme\n"
                                 "    workspace: 'sandbox-*'\n"
                                 "    levels: {hardcoded: info, untracked: info}\n"
                                 "exemptions:\n"
                                 "  - image: ami-0d4c3b2a1f0e9d8c7\n"
                                 "    reason: batch fleet replaced in Q1\n"
                                 "    expires: 2026-12-31\n"
                                 "    workspace: 'batch-*'\n"
                                 "  - bucket: base-al2023\n"
                                 "    version: v1\n"
                                 "    reason: approved by security\n"
                                 "    kinds: [revocation_scheduled]\n";

static void test_policy_file(void **state)
{
    (void)state;
    char err[256];
    policy *p = policy_load_buffer(POLICY_FILE, strlen(POLICY_FILE), "p.yaml", err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    builder b = {0};
    scan_ref *h = add(&b, SCAN_REF_IMAGE, "h", "ami", "ami-0123456789abcdef0");
    h->provenance = SCAN_PROV_VARIABLE;
    add(&b, SCAN_REF_IMAGE, "rv", "ami", REVOKED_AMI);
    add(&b, SCAN_REF_IMAGE, "sc", "ami", SCHEDULED_AMI);

    /* plain: hardcoded raised to fail, revoked fails, scheduled exempted */
    policy_report *r = eval(p, b.res, "acme", "prod", NOW);
    assert_int_equal(finding(r, PK_HARDCODED, "h")->level, POLICY_FAIL);
    assert_int_equal(finding(r, PK_REVOKED, "rv")->level, POLICY_FAIL);
    const policy_finding *s = finding(r, PK_REVOCATION_SCHEDULED, "sc");
    assert_int_equal(s->level, POLICY_INFO);
    assert_true(s->exempted);
    assert_non_null(strstr(s->message, "approved by security"));
    policy_report_free(r);

    /* override by organization + workspace glob */
    r = eval(p, b.res, "acme", "sandbox-7", NOW);
    assert_int_equal(finding(r, PK_HARDCODED, "h")->level, POLICY_INFO);
    assert_int_equal(finding(r, PK_UNTRACKED, "h")->level, POLICY_INFO);
    policy_report_free(r);
    r = eval(p, b.res, "other", "sandbox-7", NOW);
    assert_int_equal(finding(r, PK_HARDCODED, "h")->level, POLICY_FAIL);
    policy_report_free(r);

    /* exemption scoped to a workspace glob, with an expiry */
    r = eval(p, b.res, "acme", "batch-eu", NOW);
    const policy_finding *e = finding(r, PK_REVOKED, "rv");
    assert_int_equal(e->level, POLICY_INFO);
    assert_non_null(strstr(e->message, "batch fleet replaced in Q1"));
    policy_report_free(r);
    r = eval(p, b.res, "acme", "batch-eu", NOW + 60LL * 86400 * 1000); /* after 2026-12-31 */
    assert_int_equal(finding(r, PK_REVOKED, "rv")->level, POLICY_FAIL);
    assert_int_equal(r->verdict, POLICY_VERDICT_FAIL);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

static void expect_policy_error(const char *y, const char *needle)
{
    char err[256] = "";
    policy *p = policy_load_buffer(y, strlen(y), "p.yaml", err, sizeof err);
    if (p) {
        policy_free(p);
        fail_msg("accepted: %s", y);
    }
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_policy_errors(void **state)
{
    (void)state;
    expect_policy_error("levels:\n  revokd: fail\n", "p.yaml:2: unknown finding kind 'revokd'");
    expect_policy_error("levels:\n  revoked: fatal\n", "p.yaml:2: revoked: level must be");
    expect_policy_error("exemptions:\n  - image: ami-1\n", "needs a reason");
    expect_policy_error("exemptions:\n  - reason: x\n", "names an image, or a bucket and");
    expect_policy_error("exemptions:\n  - {image: a, reason: r, expires: 2026-02-30}\n", "expires");
    expect_policy_error("overrides:\n  - workspace: x\n", "needs levels");
    expect_policy_error("colour: red\n", "p.yaml:1: unknown key 'colour'");
    expect_policy_error("[1, 2]\n", "a policy file is a mapping");
    expect_policy_error("levels: {\n", "p.yaml:");
    expect_policy_error("levels: {stale: fatal}\n", "stale: level must be");
    expect_policy_error("freshness: 30d\n", "p.yaml:1: freshness is a mapping");
    expect_policy_error("freshness:\n  max_age: soon\n", "p.yaml:2: max_age must be a duration");
    expect_policy_error("freshness:\n  max_age: 0s\n", "p.yaml:2: max_age must be a duration");
    expect_policy_error("freshness:\n  max_versions_behind: -1\n",
                        "p.yaml:2: max_versions_behind must be a whole number");
    expect_policy_error("freshness:\n  max_versions_behind: 1.5\n", "max_versions_behind");
    expect_policy_error("freshness:\n  buckets: web-*\n", "freshness.buckets must be a list");
    expect_policy_error("freshness:\n  buckets:\n    - max_age: 30d\n", "needs a bucket");
    expect_policy_error("freshness:\n  buckets:\n    - bucket: a\n      maxage: 3d\n",
                        "p.yaml:4: unknown key 'maxage'");
    expect_policy_error("freshness:\n  max_ages: 3d\n", "p.yaml:2: unknown key 'max_ages'");
    /* JSON is accepted too */
    char err[256];
    const char *js = "{\"levels\": {\"untracked\": \"fail\"}}";
    policy *p = policy_load_buffer(js, strlen(js), "p.json", err, sizeof err);
    assert_non_null(p);
    policy_free(p);
}

static char *render(const policy_report *r, report_format fmt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    assert_int_equal(report_write(r, fmt, false, f), 0);
    fclose(f);
    return buf;
}

static void test_formats_and_secrets(void **state)
{
    (void)state;
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "aws_instance.a", "ami", REVOKED_AMI);
    scan_ref *s = add(&b, SCAN_REF_MENTION, "aws_ssm_parameter.p", "value", SCHEDULED_AMI);
    s->sensitive = true;
    scan_ref *u = add(&b, SCAN_REF_IMAGE, "aws_instance.x", "ami", "resolve:ssm:secret-path");
    u->recognized = false;
    u->launch_resolved = true;
    u->sensitive = true;
    b.res->resources = 3;
    b.res->gated = 3;
    char *g[] = {"aws_instance.a", "aws_ssm_parameter.p", "aws_instance.x"};
    b.res->gated_addresses = malloc(sizeof g);
    memcpy(b.res->gated_addresses, g, sizeof g);
    policy *p = policy_default();
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_MENTION, "aws_ssm_parameter.p");
    assert_null(f->image);
    assert_non_null(strstr(f->message, "(sensitive)"));
    assert_string_equal(f->bucket, "base-al2023"); /* may still name the version */

    json_t *j = report_to_json(r);
    assert_string_equal(json_string_value(json_object_get(j, "verdict")), "fail");
    json_t *sum = json_object_get(j, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "resources")), 3);
    assert_int_equal(json_integer_value(json_object_get(sum, "fail")), 1);
    json_t *f0 = json_array_get(json_object_get(j, "findings"), 0);
    static const char *fields[] = {"kind",        "level",      "address", "attribute",
                                   "image",       "action",     "bucket",  "version",
                                   "fingerprint", "provenance", "message"};
    assert_int_equal(json_object_size(f0), 11);
    for (size_t i = 0; i < 11; i++)
        assert_non_null(json_object_get(f0, fields[i]));
    json_decref(j);

    for (int fmt = REPORT_TEXT; fmt <= REPORT_JUNIT; fmt++) {
        char *out = render(r, (report_format)fmt);
        if (strstr(out, SCHEDULED_AMI) || strstr(out, "secret-path"))
            fail_msg("format %d leaks a sensitive value:\n%s", fmt, out);
        assert_non_null(strstr(out, "aws_instance.a"));
        free(out);
    }
    char *sarif = render(r, REPORT_SARIF);
    json_error_t je;
    json_t *sj = json_loads(sarif, 0, &je);
    assert_non_null(sj);
    assert_string_equal(json_string_value(json_object_get(sj, "version")), "2.1.0");
    json_t *results = json_object_get(json_array_get(json_object_get(sj, "runs"), 0), "results");
    /* warn/fail findings only: the revoked image and the launch-time one */
    assert_int_equal(json_array_size(results), 2);
    json_t *res0 = json_array_get(results, 0);
    assert_string_equal(json_string_value(json_object_get(res0, "level")), "error");
    json_t *res1 = json_array_get(results, 1);
    assert_string_equal(json_string_value(json_object_get(res1, "ruleId")), "launch_resolved");
    assert_string_equal(json_string_value(json_object_get(res1, "level")), "warning");
    json_decref(sj);
    free(sarif);
    char *junit = render(r, REPORT_JUNIT);
    assert_non_null(strstr(junit, "tests=\"3\" failures=\"1\""));
    free(junit);
    char *md = render(r, REPORT_MARKDOWN);
    assert_non_null(strstr(md, "| Level | Kind |"));
    free(md);
    policy_report_free(r);
    policy_free(p);
    free(b.res->gated_addresses);
    b.res->gated_addresses = NULL;
    scan_result_free(b.res);
}

/* ---- issue 14: launch-time images, freshness -------------------------- */

static void test_launch_resolved(void **state)
{
    (void)state;
    builder b = {0};
    scan_ref *w = add(&b, SCAN_REF_IMAGE, "aws_instance.web", "ami", "resolve:ssm:/golden/web");
    scan_ref *t = add(&b, SCAN_REF_IMAGE, "aws_launch_template.t", "image_id",
                      "resolve:ssm:/aws/service/al2023:12");
    scan_ref *s = add(&b, SCAN_REF_IMAGE, "aws_instance.s", "ami", "resolve:ssm:/secret/name");
    scan_ref *all[] = {w, t, s};
    for (size_t i = 0; i < 3; i++) {
        all[i]->recognized = false;
        all[i]->launch_resolved = true;
        all[i]->provenance = SCAN_PROV_LITERAL;
    }
    s->sensitive = true;
    policy *p = policy_default();
    FAKE.image_calls = 0;
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_LAUNCH_RESOLVED, "aws_instance.web");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_WARN);
    assert_string_equal(policy_kind_name(f->kind), "launch_resolved");
    assert_string_equal(f->image, "resolve:ssm:/golden/web");
    assert_non_null(strstr(f->message, "SSM parameter /golden/web "));
    assert_null(f->provenance);
    f = finding(r, PK_LAUNCH_RESOLVED, "aws_launch_template.t");
    assert_non_null(strstr(f->message, "/aws/service/al2023:12"));
    f = finding(r, PK_LAUNCH_RESOLVED, "aws_instance.s");
    assert_null(f->image);
    assert_non_null(strstr(f->message, "(sensitive)"));
    assert_null(strstr(f->message, "secret"));
    /* not an image: nothing looked up, counted, called hardcoded or unrecognized */
    assert_int_equal(FAKE.image_calls, 0);
    assert_int_equal(r->images, 0);
    assert_int_equal(r->n_findings, 3);
    assert_int_equal(r->verdict, POLICY_VERDICT_WARN);
    policy_report_free(r);
    policy_free(p);
    /* a policy may lower it */
    char err[256];
    const char *y = "levels: {launch_resolved: info}\n";
    p = policy_load_buffer(y, strlen(y), "p.yaml", err, sizeof err);
    assert_non_null(p);
    r = eval(p, b.res, NULL, NULL, NOW);
    assert_int_equal(finding(r, PK_LAUNCH_RESOLVED, "aws_instance.web")->level, POLICY_INFO);
    assert_int_equal(r->verdict, POLICY_PASS);
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

static policy *load(const char *y)
{
    char err[256];
    policy *p = policy_load_buffer(y, strlen(y), "p.yaml", err, sizeof err);
    if (!p)
        fail_msg("%s", err);
    return p;
}

static builder fresh_refs(void)
{
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "v1", "ami", REVOKED_AMI);
    add(&b, SCAN_REF_IMAGE, "v2", "ami", ACTIVE_AMI);
    add(&b, SCAN_REF_IMAGE, "v3", "ami", NEWEST_AMI);
    add(&b, SCAN_REF_IMAGE, "al", "ami", SCHEDULED_AMI);
    add(&b, SCAN_REF_MENTION, "m", "tags.Source", ACTIVE_AMI);
    return b;
}

/* The first matching glob wins; ages count from the newest build_time, or
 * from completed_at when no build time is known; stale comes alongside the
 * revoked and scheduled findings; the age and the limit are in the message. */
static void test_freshness_stale(void **state)
{
    (void)state;
    builder b = fresh_refs();
    policy *p = load("freshness:\n"
                     "  max_age: 180d\n"
                     "  buckets:\n"
                     "    - bucket: \"web-*\"\n"
                     "      max_age: 540d\n"
                     "    - bucket: web-ubuntu\n"
                     "      max_age: 1d\n");
    policy_report *r = eval(p, b.res, NULL, NULL, NOW); /* 2026-11-20T09:00:00Z */
    const policy_finding *f = finding(r, PK_STALE, "v2");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_WARN);
    assert_string_equal(policy_kind_name(f->kind), "stale");
    assert_string_equal(f->version, "v2");
    assert_string_equal(f->provenance, "data_source");
    assert_non_null(
        strstr(f->message, "web-ubuntu v2 is 580 days old (built 2025-04-18T18:13:20Z)"));
    assert_non_null(strstr(f->message, "540d"));
    assert_non_null(strstr(f->message, "for web-*"));
    assert_null(finding(r, PK_STALE, "v3")); /* newest build 2025-06-15: 523 days */
    assert_non_null(finding(r, PK_REVOKED, "v1"));
    assert_non_null(finding(r, PK_STALE, "v1")); /* alongside revoked */
    assert_null(finding(r, PK_STALE, "al"));     /* completed 2026-06-01: 172 days < 180d */
    assert_null(finding(r, PK_STALE, "m"));      /* mentions are not judged */
    policy_report_free(r);
    /* ten days later base-al2023 v1 is stale too, judged from completed_at */
    r = eval(p, b.res, NULL, NULL, NOW + 10LL * 86400000);
    f = finding(r, PK_STALE, "al");
    assert_non_null(f);
    assert_non_null(finding(r, PK_REVOCATION_SCHEDULED, "al"));
    assert_non_null(strstr(f->message, "182 days old (completed 2026-06-01T00:00:00Z)"));
    assert_non_null(strstr(f->message, "the 180d the freshness policy allows"));
    assert_null(strstr(f->message, " for "));
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

/* max_versions_behind counts complete, non-revoked, higher-numbered
 * versions (a scheduled one counts, a revoked or deleted one does not); a
 * bucket entry's missing key is the top level's. */
static void test_freshness_behind(void **state)
{
    (void)state;
    builder b = fresh_refs();
    add(&b, SCAN_REF_IMAGE, "app", "ami", APP_AMI);
    policy *p = load("freshness:\n"
                     "  max_age: 600d\n"
                     "  max_versions_behind: 1\n"
                     "  buckets:\n"
                     "    - bucket: web-ubuntu\n"
                     "      max_versions_behind: 0\n");
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    const policy_finding *f = finding(r, PK_OUTDATED_BEHIND, "v2");
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_WARN);
    assert_string_equal(policy_kind_name(f->kind), "outdated");
    assert_string_equal(policy_kind_key(f->kind), "outdated_behind");
    assert_non_null(strstr(f->message, "web-ubuntu v2 has 1 newer complete version ("));
    assert_non_null(strstr(f->message, "latest holds v3"));
    assert_non_null(strstr(f->message, "allows 0 for web-ubuntu"));
    assert_null(finding(r, PK_OUTDATED, "v2"));
    assert_null(finding(r, PK_OUTDATED_BEHIND, "v3"));
    assert_null(finding(r, PK_OUTDATED_BEHIND, "v1")); /* revoked: no outdated at all */
    /* max_age inherited from the top by the web-ubuntu entry */
    f = finding(r, PK_STALE, "v1"); /* 639 days */
    assert_non_null(f);
    assert_non_null(strstr(f->message, "the 600d the freshness policy allows"));
    assert_null(finding(r, PK_STALE, "v2")); /* 580 days */
    /* app v1: v5 and v3 (scheduled) are newer and valid, v4 deleted, v2 revoked */
    f = finding(r, PK_OUTDATED_BEHIND, "app");
    assert_non_null(f);
    assert_non_null(strstr(f->message, "app v1 has 2 or more newer complete versions"));
    assert_non_null(strstr(f->message, "allows 1"));
    assert_null(strstr(f->message, " for "));
    policy_report_free(r);
    policy_free(p);
    p = load("freshness: {max_versions_behind: 2}\n");
    FAKE.version_calls = 0;
    r = eval(p, b.res, NULL, NULL, NOW);
    f = finding(r, PK_OUTDATED, "app"); /* exactly 2 newer: not more than 2 */
    assert_non_null(f);
    assert_int_equal(f->level, POLICY_INFO);
    assert_non_null(strstr(f->message, "not the newest: channel latest holds v5"));
    assert_null(finding(r, PK_OUTDATED_BEHIND, "app"));
    assert_null(finding(r, PK_STALE, "v1"));  /* no max_age: nothing is stale */
    assert_true(FAKE.version_calls <= 4 + 1); /* app v5..v2, web-ubuntu v3: each asked once */
    policy_report_free(r);
    policy_free(p);
    scan_result_free(b.res);
}

/* stale and outdated_behind are policy keys like the others: levels,
 * overrides, exemptions (kinds by key or by printed name). */
static void test_freshness_levels_and_exemptions(void **state)
{
    (void)state;
    builder b = {0};
    add(&b, SCAN_REF_IMAGE, "v2", "ami", ACTIVE_AMI);
    add(&b, SCAN_REF_IMAGE, "v3", "ami", NEWEST_AMI);
    policy *p = load("levels: {stale: fail, outdated_behind: info}\n"
                     "overrides:\n"
                     "  - workspace: 'legacy-*'\n"
                     "    levels: {stale: info, outdated_behind: fail}\n"
                     "exemptions:\n"
                     "  - bucket: web-ubuntu\n"
                     "    version: v2\n"
                     "    reason: rebuilt in Q1\n"
                     "    kinds: [stale]\n"
                     "freshness: {max_age: 30d, max_versions_behind: 0}\n");
    policy_report *r = eval(p, b.res, NULL, "prod", NOW);
    const policy_finding *f = finding(r, PK_STALE, "v2");
    assert_int_equal(f->level, POLICY_INFO);
    assert_true(f->exempted);
    assert_non_null(strstr(f->message, "[exempted: rebuilt in Q1]"));
    assert_int_equal(finding(r, PK_STALE, "v3")->level, POLICY_FAIL);
    assert_int_equal(finding(r, PK_OUTDATED_BEHIND, "v2")->level, POLICY_INFO);
    assert_int_equal(r->verdict, POLICY_VERDICT_FAIL);
    policy_report_free(r);
    r = eval(p, b.res, NULL, "legacy-eu", NOW);
    assert_int_equal(finding(r, PK_STALE, "v3")->level, POLICY_INFO);
    assert_int_equal(finding(r, PK_OUTDATED_BEHIND, "v2")->level, POLICY_FAIL);
    policy_report_free(r);
    policy_free(p);
    p = load("exemptions:\n"
             "  - {image: ami-0a1b2c3d4e5f60718, reason: pinned, kinds: [outdated]}\n"
             "freshness: {max_versions_behind: 0}\n");
    r = eval(p, b.res, NULL, NULL, NOW);
    f = finding(r, PK_OUTDATED_BEHIND, "v2");
    assert_true(f->exempted);
    assert_int_equal(f->level, POLICY_INFO);
    assert_int_equal(r->verdict, POLICY_PASS);
    policy_report_free(r);
    policy_free(p);
    /* a registry that fails while versions are read fails the evaluation */
    p = load("freshness: {max_age: 30d}\n");
    FAKE.fail_version = 1;
    char err[256] = "";
    policy_scope scope = {NULL, NULL, NOW};
    assert_null(policy_eval(p, b.res, &LOOKUP, &scope, err, sizeof err));
    assert_non_null(strstr(err, "registry"));
    FAKE.fail_version = 0;
    policy_free(p);
    scan_result_free(b.res);
}

/* The new kinds in every report format. */
static void test_new_kinds_in_every_format(void **state)
{
    (void)state;
    builder b = {0};
    scan_ref *l = add(&b, SCAN_REF_IMAGE, "aws_instance.l", "ami", "resolve:ssm:/golden/web");
    l->launch_resolved = true;
    l->recognized = false;
    add(&b, SCAN_REF_IMAGE, "aws_instance.o", "ami", ACTIVE_AMI);
    b.res->resources = b.res->gated = 2;
    char *g[] = {"aws_instance.l", "aws_instance.o"};
    b.res->gated_addresses = malloc(sizeof g);
    memcpy(b.res->gated_addresses, g, sizeof g);
    policy *p = load("freshness: {max_age: 30d, max_versions_behind: 0}\n");
    policy_report *r = eval(p, b.res, NULL, NULL, NOW);
    assert_int_equal(r->count[POLICY_WARN], 3);
    for (int fmt = REPORT_TEXT; fmt <= REPORT_JUNIT; fmt++) {
        char *out = render(r, (report_format)fmt);
        static const char *kinds[] = {"launch_resolved", "stale", "outdated"};
        for (size_t k = 0; k < 3; k++)
            if (!strstr(out, kinds[k]))
                fail_msg("format %d lacks %s:\n%s", fmt, kinds[k], out);
        assert_non_null(strstr(out, "/golden/web"));
        free(out);
    }
    char *sarif = render(r, REPORT_SARIF);
    json_t *sj = json_loads(sarif, 0, NULL);
    json_t *run = json_array_get(json_object_get(sj, "runs"), 0);
    json_t *ids = json_object_get(json_object_get(json_object_get(run, "tool"), "driver"), "rules");
    assert_int_equal(json_array_size(ids), 3);
    assert_int_equal(json_array_size(json_object_get(run, "results")), 3);
    json_decref(sj);
    free(sarif);
    policy_report_free(r);
    policy_free(p);
    free(b.res->gated_addresses);
    b.res->gated_addresses = NULL;
    scan_result_free(b.res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_revoked_and_verdict),
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_recognized_without_value),
        cmocka_unit_test(test_data_sources),
        cmocka_unit_test(test_unrecognized_but_tracked),
        cmocka_unit_test(test_store_failure),
        cmocka_unit_test(test_policy_file),
        cmocka_unit_test(test_policy_errors),
        cmocka_unit_test(test_formats_and_secrets),
        cmocka_unit_test(test_launch_resolved),
        cmocka_unit_test(test_freshness_stale),
        cmocka_unit_test(test_freshness_behind),
        cmocka_unit_test(test_freshness_levels_and_exemptions),
        cmocka_unit_test(test_new_kinds_in_every_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
