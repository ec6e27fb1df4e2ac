/* Unit tests for scanners/: the streaming plan scanner (references,
 * provenance, mentions, sensitive values, data sources, bad input, chunking)
 * and the configuration-file scanner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "scanners/scan.h"

static rules *RS;

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (fread(b, 1, (size_t)n, f) != (size_t)n)
        fail_msg("short read %s", path);
    b[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return b;
}

static scan_result *scan_fixture(const char *name)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/plans/%s", IG_FIXTURES, name);
    scan_result *r = NULL;
    if (scan_plan_file(RS, NULL, path, &r, err, sizeof err))
        fail_msg("%s: %s", name, err);
    return r;
}

static scan_ref *find_ref(scan_result *r, scan_ref_kind kind, const char *addr, const char *attr)
{
    for (size_t i = 0; i < r->n_refs; i++) {
        scan_ref *x = &r->refs[i];
        if (x->kind == kind && strcmp(x->address, addr) == 0 &&
            (!attr || (x->attribute && strcmp(x->attribute, attr) == 0)))
            return x;
    }
    return NULL;
}

static size_t count_kind(scan_result *r, scan_ref_kind kind)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_refs; i++)
        n += r->refs[i].kind == kind;
    return n;
}

static scan_result *scan_pieces(const char *buf, size_t len, const size_t *steps, size_t nsteps,
                                bool parse_everything, char *err, size_t errlen);

static void test_hardcoded_literal(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("hardcoded-literal.plan.json");
    assert_int_equal(r->resources, 2);
    assert_int_equal(r->gated, 2);
    scan_ref *a = find_ref(r, SCAN_REF_IMAGE, "aws_instance.app", "ami");
    assert_non_null(a);
    assert_string_equal(a->value, "ami-0a1b2c3d4e5f60718");
    assert_int_equal(a->provenance, SCAN_PROV_LITERAL);
    assert_int_equal(a->action, SCAN_ACT_CREATE);
    assert_string_equal(a->platform, "aws");
    scan_ref *w = find_ref(r, SCAN_REF_IMAGE, "aws_launch_template.web", "image_id");
    assert_non_null(w);
    assert_int_equal(w->provenance, SCAN_PROV_VARIABLE);
    assert_string_equal(r->format_version, "1.2");
    scan_result_free(r);
}

static void test_module_input(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("module-input.plan.json");
    scan_ref *web = find_ref(r, SCAN_REF_IMAGE, "module.web.aws_instance.this", "ami");
    scan_ref *batch = find_ref(r, SCAN_REF_IMAGE, "module.batch.aws_instance.this", "ami");
    assert_non_null(web);
    assert_non_null(batch);
    assert_int_equal(web->provenance, SCAN_PROV_MODULE_INPUT);
    assert_int_equal(batch->provenance, SCAN_PROV_LOCAL);
    assert_string_equal(batch->value, "ami-1f2e3d4c");
    scan_result_free(r);
}

static void test_data_source_provenance(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("data-source.plan.json");
    /* through a local whose value a data source returned, and directly */
    assert_int_equal(find_ref(r, SCAN_REF_IMAGE, "aws_instance.app", "ami")->provenance,
                     SCAN_PROV_DATA_SOURCE);
    assert_int_equal(find_ref(r, SCAN_REF_IMAGE, "aws_instance.direct", "ami")->provenance,
                     SCAN_PROV_DATA_SOURCE);
    scan_result_free(r);
}

static void test_hcp_data_sources(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("hcp-data-source.plan.json");
    assert_int_equal(count_kind(r, SCAN_REF_DATA), 2);
    scan_ref *p = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.pinned", NULL);
    assert_non_null(p);
    assert_string_equal(p->bucket, "web-ubuntu");
    assert_string_equal(p->fingerprint, "web-1");
    assert_string_equal(p->value, "ami-0d4c3b2a1f0e9d8c7");
    assert_true(p->referenced_by_gated);
    scan_ref *w = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.web", NULL);
    assert_string_equal(w->channel, "production");
    assert_int_equal(find_ref(r, SCAN_REF_IMAGE, "aws_instance.pinned", "ami")->provenance,
                     SCAN_PROV_DATA_SOURCE);
    scan_result_free(r);
}

static void test_mentions_and_sensitive(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("mentions.plan.json");
    scan_ref *tag = find_ref(r, SCAN_REF_MENTION, "aws_instance.worker", "tags.SourceAMI");
    assert_non_null(tag);
    assert_string_equal(tag->value, "ami-0fedcba9876543210");
    assert_false(tag->sensitive);
    /* user_data is a hash in the plan: the ID comes from the configuration literal */
    scan_ref *ud = find_ref(r, SCAN_REF_MENTION, "aws_instance.worker", "user_data");
    assert_non_null(ud);
    assert_string_equal(ud->value, "ami-0123456789abcdef0");
    /* tags and tags_all merge: one mention per resource and image */
    size_t n = 0;
    for (size_t i = 0; i < r->n_refs; i++)
        if (r->refs[i].kind == SCAN_REF_MENTION &&
            strcmp(r->refs[i].address, "aws_instance.worker") == 0 &&
            strcmp(r->refs[i].value, "ami-0fedcba9876543210") == 0)
            n++;
    assert_int_equal(n, 1);
    /* the image attribute itself is not a mention */
    assert_null(find_ref(r, SCAN_REF_MENTION, "aws_instance.worker", "ami"));
    scan_ref *ssm = find_ref(r, SCAN_REF_MENTION, "aws_ssm_parameter.golden", "value");
    assert_non_null(ssm);
    assert_true(ssm->sensitive);
    scan_result_free(r);
}

static void test_other_types(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("other-types.plan.json");
    scan_ref *f0 =
        find_ref(r, SCAN_REF_IMAGE, "aws_spot_fleet_request.fleet", "launch_specification[0].ami");
    scan_ref *f1 =
        find_ref(r, SCAN_REF_IMAGE, "aws_spot_fleet_request.fleet", "launch_specification[1].ami");
    assert_non_null(f0);
    assert_non_null(f1);
    assert_int_equal(f1->provenance, SCAN_PROV_LITERAL);
    scan_ref *u = find_ref(r, SCAN_REF_IMAGE, "aws_instance.from_copy", "ami");
    assert_non_null(u);
    assert_true(u->unknown);
    assert_null(u->value);
    assert_non_null(find_ref(r, SCAN_REF_IMAGE, "aws_emr_cluster.analytics", "custom_ami_id"));
    assert_non_null(find_ref(r, SCAN_REF_IMAGE, "aws_ami_copy.dr", "source_ami_id"));
    scan_result_free(r);
}

/* A GCE image attribute no pattern recognises (Packer records the bare
 * name; the provider takes short path forms) keeps its value, and its lookup
 * is the image name of a path form -- never a family's name. */
static void test_gce_short_forms(void **state)
{
    (void)state;
    static const struct {
        const char *value, *lookup;
    } cases[] = {
        {"web-gce-v1-20250101", "web-gce-v1-20250101"},
        {"global/images/web-gce-v1-20250101", "web-gce-v1-20250101"},
        {"my-project/web-gce-v1-20250101", "web-gce-v1-20250101"},
        {"projects/p/global/images/web-gce-v1-20250101", "web-gce-v1-20250101"},
        {"family/web-gce", "family/web-gce"},
        {"global/images/family/web-gce", "global/images/family/web-gce"},
        {"projects/my-project/global/images/family/web-gce",
         "projects/my-project/global/images/family/web-gce"},
        {"global/web-gce", "global/web-gce"},
        {"a/b/web-gce", "a/b/web-gce"},
    };
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char plan[1024];
        snprintf(plan, sizeof plan,
                 "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":"
                 "\"google_compute_instance.g\",\"mode\":\"managed\",\"type\":"
                 "\"google_compute_instance\",\"change\":{\"actions\":[\"create\"],\"after\":"
                 "{\"boot_disk\":[{\"initialize_params\":[{\"image\":\"%s\"}]}]}}}]}",
                 cases[i].value);
        static const size_t whole[] = {1u << 30};
        scan_result *r = scan_pieces(plan, strlen(plan), whole, 1, false, err, sizeof err);
        if (!r)
            fail_msg("%s: %s", cases[i].value, err);
        scan_ref *x = find_ref(r, SCAN_REF_IMAGE, "google_compute_instance.g",
                               "boot_disk[0].initialize_params[0].image");
        assert_non_null(x);
        assert_false(x->recognized);
        assert_string_equal(x->value, cases[i].value);
        if (strcmp(x->lookup, cases[i].lookup) != 0)
            fail_msg("%s: lookup %s, want %s", cases[i].value, x->lookup, cases[i].lookup);
        scan_result_free(r);
    }
}

/* A deferred hcp_packer_artifact read (value unknown until apply) counts as
 * used by a gated resource that reaches it through module inputs (var.X up
 * through module_calls, two levels here) or a module output
 * (module.M.OUT); an unreferenced one does not. */
static void test_data_through_modules(void **state)
{
    (void)state;
    static const char plan[] =
        "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"module.outer.module."
        "inner.aws_instance.this\","
        "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"x\",\"change\":{\"actions\":["
        "\"create\"],"
        "\"before\":null,\"after\":{\"instance_type\":\"t3.micro\"},\"after_unknown\":{\"ami\":"
        "true}}},"
        "{\"address\":\"aws_instance.viaout\",\"mode\":\"managed\",\"type\":\"aws_instance\","
        "\"name\":\"x\",\"change\":{\"actions\":[\"create\"],\"before\":null,\"after\":{\"instance_"
        "type\":\"t3.micro\"},"
        "\"after_unknown\":{\"ami\":true}}},{\"address\":\"data.hcp_packer_artifact.pinned\","
        "\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"x\",\"change\":{\"actions\":"
        "[\"read\"],"
        "\"before\":null,\"after\":{\"bucket_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-"
        "1\","
        "\"platform\":\"aws\",\"region\":\"us-west-1\"},\"after_unknown\":{\"external_identifier\":"
        "true}}},"
        "{\"address\":\"module.src.data.hcp_packer_artifact.inner\",\"mode\":\"data\","
        "\"type\":\"hcp_packer_artifact\",\"name\":\"x\",\"change\":{\"actions\":[\"read\"],"
        "\"before\":null,\"after\":{\"bucket_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-"
        "1\","
        "\"platform\":\"aws\",\"region\":\"us-west-1\"},\"after_unknown\":{\"external_identifier\":"
        "true}}},"
        "{\"address\":\"data.hcp_packer_artifact.unused\",\"mode\":\"data\",\"type\":\"hcp_packer_"
        "artifact\","
        "\"name\":\"x\",\"change\":{\"actions\":[\"read\"],\"before\":null,\"after\":{\"bucket_"
        "name\":\"web-ubuntu\","
        "\"version_fingerprint\":\"web-1\",\"platform\":\"aws\",\"region\":\"us-west-1\"},"
        "\"after_unknown\":{\"external_identifier\":true}}}],\"configuration\":{\"root_module\":{"
        "\"resources\":[{\"address\":\"aws_instance.viaout\","
        "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"viaout\",\"expressions\":{"
        "\"ami\":{\"references\":[\"module.src.id\","
        "\"module.src\"]}}}],\"module_calls\":{\"outer\":{\"expressions\":{\"ami\":{\"references\":"
        "[\"data.hcp_packer_artifact.pinned.external_identifier\","
        "\"data.hcp_packer_artifact.pinned\"]}},\"module\":{\"variables\":{\"ami\":{}},"
        "\"module_calls\":{\"inner\":{\"expressions\":{\"img\":{\"references\":[\"var.ami\"]}},"
        "\"module\":{\"variables\":{\"img\":{}},\"resources\":[{\"address\":\"aws_instance.this\","
        "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"this\",\"expressions\":{\"ami\":"
        "{\"references\":[\"var.img\"]}}}]}}}}},"
        "\"src\":{\"module\":{\"resources\":[{\"address\":\"data.hcp_packer_artifact.inner\","
        "\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"inner\",\"expressions\":{}}]"
        ","
        "\"outputs\":{\"id\":{\"expression\":{\"references\":[\"data.hcp_packer_artifact.inner."
        "external_identifier\","
        "\"data.hcp_packer_artifact.inner\"]}}}}}}}}}";
    char err[512];
    static const size_t whole[] = {1u << 30}, one[] = {1};
    for (int c = 0; c < 2; c++) {
        scan_result *r =
            scan_pieces(plan, strlen(plan), c ? one : whole, 1, false, err, sizeof err);
        if (!r)
            fail_msg("%s", err);
        scan_ref *p = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.pinned", NULL);
        assert_non_null(p);
        assert_string_equal(p->bucket, "web-ubuntu");
        assert_true(p->referenced_by_gated);
        scan_ref *m = find_ref(r, SCAN_REF_DATA, "module.src.data.hcp_packer_artifact.inner", NULL);
        assert_non_null(m);
        assert_true(m->referenced_by_gated);
        scan_ref *u = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.unused", NULL);
        assert_non_null(u);
        assert_false(u->referenced_by_gated);
        scan_result_free(r);
    }
}

/* Locals are not in the plan JSON: a gated resource whose image is unknown
 * until apply and goes through local.X may take it from any data source read
 * during apply, so each deferred hcp_packer data source counts as used (with
 * used_via_local naming the resource); one whose value is known (read during
 * plan) does not, and neither does any when the image itself is known. */
static void test_deferred_data_through_local(void **state)
{
    (void)state;
    static const char unknown_plan[] =
        "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.pinned\","
        "\"mo"
        "de\":\"managed\",\"type\":\"aws_instance\",\"name\":\"pinned\",\"change\":{\"actions\":["
        "\"create"
        "\"],\"before\":null,\"after\":{\"instance_type\":\"t3.micro\"},\"after_unknown\":{\"ami\":"
        "tru"
        "e}}},{\"address\":\"data.hcp_packer_artifact.deferred\",\"mode\":\"data\",\"type\":\"hcp_"
        "pa"
        "cker_artifact\",\"name\":\"deferred\",\"change\":{\"actions\":[\"read\"],\"before\":null,"
        "\"aft"
        "er\":{\"bucket_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-1\",\"platform\":"
        "\"aws\",\""
        "region\":\"us-west-1\"},\"after_unknown\":{\"external_identifier\":true}}}],\"prior_stat"
        "e\":{\"values\":{\"root_module\":{\"resources\":[{\"address\":\"data.hcp_packer_artifact.k"
        "nown\",\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"known\",\"values\":{"
        "\"bucke"
        "t_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-1\",\"platform\":\"aws\",\"region\":"
        "\"us"
        "-west-1\",\"external_identifier\":\"ami-0d4c3b2a1f0e9d8c7\"}}]}}},\"configuration\":{\"r"
        "oot_module\":{\"resources\":[{\"address\":\"aws_instance.pinned\",\"mode\":\"managed\","
        "\"typ"
        "e\":\"aws_instance\",\"name\":\"pinned\",\"expressions\":{\"ami\":{\"references\":["
        "\"local.ami"
        "\"]}}},{\"address\":\"data.hcp_packer_artifact.deferred\",\"mode\":\"data\",\"type\":"
        "\"hcp_p"
        "acker_artifact\",\"name\":\"deferred\",\"expressions\":{\"bucket_name\":{\"constant_"
        "value\""
        ":\"web-ubuntu\"}}},{\"address\":\"data.hcp_packer_artifact.known\",\"mode\":\"data\","
        "\"type"
        "\":\"hcp_packer_artifact\",\"name\":\"known\",\"expressions\":{\"bucket_name\":{"
        "\"constant_v"
        "alue\":\"web-ubuntu\"}}}]}}}";
    static const char order_plan[] =
        "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_cloudformation_stack"
        ".a\",\"mode\":\"managed\",\"type\":\"aws_cloudformation_stack\",\"name\":\"a\",\"change\":"
        "{\"act"
        "ions\":[\"create\"],\"before\":null,\"after\":{\"name\":\"a\"},\"after_unknown\":{"
        "\"parameters"
        "\":true}}},{\"address\":\"aws_instance.b\",\"mode\":\"managed\",\"type\":\"aws_instance\","
        "\"na"
        "me\":\"b\",\"change\":{\"actions\":[\"create\"],\"before\":null,\"after\":{\"instance_"
        "type\":\"t"
        "3.micro\"},\"after_unknown\":{\"ami\":true}}},{\"address\":\"module.img.data.hcp_packer_"
        "artifact.x\",\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"x\",\"change\":"
        "{\"act"
        "ions\":[\"read\"],\"before\":null,\"after\":{\"bucket_name\":\"web-ubuntu\",\"version_"
        "finger"
        "print\":\"web-1\",\"platform\":\"aws\",\"region\":\"us-west-1\"},\"after_unknown\":{"
        "\"external"
        "_identifier\":true}}}],\"configuration\":{\"root_module\":{\"resources\":[{\"address\":\"a"
        "ws_cloudformation_stack.a\",\"mode\":\"managed\",\"type\":\"aws_cloudformation_stack\",\"n"
        "ame\":\"a\",\"expressions\":{\"parameters\":{\"references\":[\"module.img.ami\",\"module."
        "img"
        "\"]}}},{\"address\":\"aws_instance.b\",\"mode\":\"managed\",\"type\":\"aws_instance\","
        "\"name\":"
        "\"b\",\"expressions\":{\"ami\":{\"references\":[\"module.img.ami\",\"module.img\"]}}}],"
        "\"modu"
        "le_calls\":{\"img\":{\"module\":{\"outputs\":{\"ami\":{\"expression\":{\"references\":["
        "\"local"
        ".ami\"]}}},\"resources\":[{\"address\":\"data.hcp_packer_artifact.x\",\"mode\":\"data\","
        "\"ty"
        "pe\":\"hcp_packer_artifact\",\"name\":\"x\",\"expressions\":{\"bucket_name\":{\"constant_"
        "val"
        "ue\":\"web-ubuntu\"}}}]}}}}}}";
    static const char known_plan[] =
        "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.pinned\","
        "\"mo"
        "de\":\"managed\",\"type\":\"aws_instance\",\"name\":\"pinned\",\"change\":{\"actions\":["
        "\"create"
        "\"],\"before\":null,\"after\":{\"instance_type\":\"t3.micro\",\"ami\":\"ami-"
        "0a1b2c3d4e5f6071"
        "8\"},\"after_unknown\":{}}},{\"address\":\"data.hcp_packer_artifact.deferred\",\"mode\":\""
        "data\",\"type\":\"hcp_packer_artifact\",\"name\":\"deferred\",\"change\":{\"actions\":["
        "\"read\""
        "],\"before\":null,\"after\":{\"bucket_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-"
        "1"
        "\",\"platform\":\"aws\",\"region\":\"us-west-1\"},\"after_unknown\":{\"external_"
        "identifier\":"
        "true}}}],\"prior_state\":{\"values\":{\"root_module\":{\"resources\":[{\"address\":\"data."
        "h"
        "cp_packer_artifact.known\",\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":"
        "\"kno"
        "wn\",\"values\":{\"bucket_name\":\"web-ubuntu\",\"version_fingerprint\":\"web-1\","
        "\"platform"
        "\":\"aws\",\"region\":\"us-west-1\",\"external_identifier\":\"ami-0d4c3b2a1f0e9d8c7\"}}]}}"
        "}"
        ",\"configuration\":{\"root_module\":{\"resources\":[{\"address\":\"aws_instance.pinned\","
        "\""
        "mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"pinned\",\"expressions\":{\"ami\":"
        "{\"ref"
        "erences\":[\"local.ami\"]}}},{\"address\":\"data.hcp_packer_artifact.deferred\",\"mode\":"
        "\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"deferred\",\"expressions\":{\"bucket_"
        "nam"
        "e\":{\"constant_value\":\"web-ubuntu\"}}},{\"address\":\"data.hcp_packer_artifact.known\""
        ",\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"known\",\"expressions\":{"
        "\"bucke"
        "t_name\":{\"constant_value\":\"web-ubuntu\"}}}]}}}";
    char err[512];
    static const size_t whole[] = {1u << 30}, one[] = {1};
    for (int c = 0; c < 2; c++) {
        scan_result *r = scan_pieces(unknown_plan, strlen(unknown_plan), c ? one : whole, 1, false,
                                     err, sizeof err);
        if (!r)
            fail_msg("%s", err);
        scan_ref *d = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.deferred", NULL);
        assert_non_null(d);
        assert_true(d->referenced_by_gated);
        assert_string_equal(d->used_via_local, "aws_instance.pinned");
        scan_ref *k = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.known", NULL);
        assert_non_null(k);
        assert_false(k->referenced_by_gated);
        scan_result_free(r);
        r = scan_pieces(known_plan, strlen(known_plan), c ? one : whole, 1, false, err, sizeof err);
        if (!r)
            fail_msg("%s", err);
        d = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.deferred", NULL);
        assert_non_null(d);
        assert_false(d->referenced_by_gated);
        assert_null(d->used_via_local);
        scan_result_free(r);
        /* the local behind a module output walked first for another resource
         * still counts for the one whose image is unknown (review finding) */
        r = scan_pieces(order_plan, strlen(order_plan), c ? one : whole, 1, false, err, sizeof err);
        if (!r)
            fail_msg("%s", err);
        d = find_ref(r, SCAN_REF_DATA, "module.img.data.hcp_packer_artifact.x", NULL);
        assert_non_null(d);
        assert_true(d->referenced_by_gated);
        scan_result_free(r);
    }
}

static void test_replace_and_inplace(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("replace-and-destroy.plan.json");
    assert_int_equal(r->gated, 1);
    assert_int_equal(find_ref(r, SCAN_REF_IMAGE, "aws_instance.app", "ami")->action,
                     SCAN_ACT_REPLACE);
    assert_null(find_ref(r, SCAN_REF_IMAGE, "aws_instance.old", NULL)); /* deleted: not gated */
    scan_result_free(r);
    r = scan_fixture("inplace-unchanged.plan.json");
    scan_ref *b = find_ref(r, SCAN_REF_IMAGE, "aws_launch_template.batch", "image_id");
    assert_int_equal(b->action, SCAN_ACT_UPDATE);
    assert_true(b->unchanged);
    scan_result_free(r);
}

static void test_scale(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("scale.plan.json");
    assert_int_equal(r->gated, 2000);
    assert_int_equal(count_kind(r, SCAN_REF_IMAGE), 2000);
    size_t revoked_img = 0;
    for (size_t i = 0; i < r->n_refs; i++) {
        assert_int_equal(r->refs[i].provenance, SCAN_PROV_LOCAL);
        revoked_img += strcmp(r->refs[i].value, "ami-0d4c3b2a1f0e9d8c7") == 0;
    }
    assert_int_equal(revoked_img, 500);
    scan_result_free(r);
}

/* Feeding the plan in 1..7-byte pieces gives the same references. */
static void test_chunking(void **state)
{
    (void)state;
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/plans/mentions.plan.json", IG_FIXTURES);
    size_t len;
    char *buf = slurp(path, &len);
    scan_plan *s = scan_plan_new(RS, NULL);
    size_t off = 0, step = 1;
    while (off < len) {
        size_t n = off + step > len ? len - off : step;
        assert_int_equal(scan_plan_feed(s, buf + off, n, err, sizeof err), 0);
        off += n;
        step = step % 7 + 1;
    }
    scan_result *r;
    assert_int_equal(scan_plan_finish(s, &r, err, sizeof err), 0);
    scan_result *whole = scan_fixture("mentions.plan.json");
    assert_int_equal(r->n_refs, whole->n_refs);
    for (size_t i = 0; i < r->n_refs; i++) {
        assert_string_equal(r->refs[i].address, whole->refs[i].address);
        assert_string_equal(r->refs[i].value, whole->refs[i].value);
        assert_int_equal(r->refs[i].sensitive, whole->refs[i].sensitive);
    }
    scan_result_free(r);
    scan_result_free(whole);
    scan_plan_free(s);
    free(buf);
}

/* Scans buf in pieces of the given sizes (cycling), with or without the
 * pre-scanner's skipping. */
static scan_result *scan_pieces(const char *buf, size_t len, const size_t *steps, size_t nsteps,
                                bool parse_everything, char *err, size_t errlen)
{
    scan_limits lim;
    scan_limits_default(&lim);
    lim.parse_everything = parse_everything;
    scan_plan *s = scan_plan_new(RS, &lim);
    size_t off = 0, k = 0;
    scan_result *r = NULL;
    while (off < len) {
        size_t n = steps[k++ % nsteps];
        if (off + n > len)
            n = len - off;
        if (scan_plan_feed(s, buf + off, n, err, errlen))
            goto out;
        off += n;
    }
    if (scan_plan_finish(s, &r, err, errlen))
        r = NULL;
out:
    scan_plan_free(s);
    return r;
}

static void assert_same(const scan_result *a, const scan_result *b, const char *what)
{
    if (a->n_refs != b->n_refs || a->gated != b->gated || a->resources != b->resources)
        fail_msg("%s: %zu/%zu refs, %zu/%zu gated", what, a->n_refs, b->n_refs, a->gated, b->gated);
    for (size_t i = 0; i < a->n_refs; i++) {
        const scan_ref *x = &a->refs[i], *y = &b->refs[i];
#define SAME_STR(f)                                                                                \
    if ((x->f == NULL) != (y->f == NULL) || (x->f && strcmp(x->f, y->f)))                          \
        fail_msg("%s: ref %zu: " #f " differs: %s / %s", what, i, x->f ? x->f : "(null)",          \
                 y->f ? y->f : "(null)");
        SAME_STR(address)
        SAME_STR(attribute)
        SAME_STR(value)
        SAME_STR(bucket)
#undef SAME_STR
        if (x->kind != y->kind || x->sensitive != y->sensitive || x->unknown != y->unknown ||
            x->unchanged != y->unchanged || x->provenance != y->provenance ||
            x->action != y->action || x->referenced_by_gated != y->referenced_by_gated)
            fail_msg("%s: ref %zu (%s) differs in flags", what, i, x->address);
    }
}

/* The pre-scanner skips parts of the document: for every fixture plan, and
 * every way of cutting it into pieces, the references must be exactly those
 * of a parse of every byte. */
static void test_skipping_is_lossless(void **state)
{
    (void)state;
    static const char *plans[] = {"clean.plan.json",
                                  "data-source.plan.json",
                                  "hardcoded-literal.plan.json",
                                  "hcp-data-source.plan.json",
                                  "inplace-unchanged.plan.json",
                                  "mentions.plan.json",
                                  "module-input.plan.json",
                                  "other-types.plan.json",
                                  "replace-and-destroy.plan.json",
                                  "terraform-json/110_sensitive_values.plan.json",
                                  "terraform-json/basic.plan.json",
                                  "terraform-json/has_changes.plan.json",
                                  "terraform-json/nested_config_keys.plan.json",
                                  "terraform-json/deep_module.plan.json",
                                  "terraform-json/moved_block.plan.json"};
    static const size_t whole[] = {1u << 30};
    static const size_t tiny[] = {1, 2, 3, 5, 7, 11, 13, 64, 65, 127};
    static const size_t odd[] = {63, 1, 129, 17, 4093};
    char err[512];
    for (size_t p = 0; p < sizeof plans / sizeof plans[0]; p++) {
        char path[512];
        snprintf(path, sizeof path, "%s/plans/%s", IG_FIXTURES, plans[p]);
        size_t len;
        char *buf = slurp(path, &len);
        scan_result *ref = scan_pieces(buf, len, whole, 1, true, err, sizeof err);
        if (!ref)
            fail_msg("%s: %s", plans[p], err);
        const size_t *cuts[] = {whole, tiny, odd};
        size_t ncuts[] = {1, 10, 5};
        for (int c = 0; c < 3; c++) {
            scan_result *r = scan_pieces(buf, len, cuts[c], ncuts[c], false, err, sizeof err);
            if (!r)
                fail_msg("%s (cut %d): %s", plans[p], c, err);
            assert_same(ref, r, plans[p]);
            scan_result_free(r);
        }
        scan_result_free(ref);
        free(buf);
    }
}

/* Crafted values in skipped places: escapes, brackets in strings, a `true`
 * deep inside after_sensitive, bad structure. */
static void test_skipped_regions(void **state)
{
    (void)state;
    char err[512];
    static const size_t one[] = {1}, whole[] = {1u << 30};
    const char *ok =
        "{\"format_version\":\"1.2\","
        "\"resource_drift\":[{\"a\":\"}]\\\"{[\",\"b\":[[[{\"c\":\"\\\\\"}]]],"
        "\"pad\":\"0123456789012345678901234567890123456789012345678901234567890123456789\"}],"
        "\"resource_changes\":[{\"address\":\"aws_instance.a\",\"mode\":\"managed\","
        "\"type\":\"aws_instance\",\"change\":{\"actions\":[\"create\"],"
        "\"after\":{\"ami\":\"ami-0a1b2c3d4e5f60718\",\"tags\":{\"k\":\"x\"}},"
        "\"after_unknown\":{\"id\":true,\"x\":{\"y\":\"ami-0123456789abcdef0\"}},"
        "\"after_sensitive\":{\"pad\":[[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[],[]],"
        "\"tags\":{\"k\":false,\"z\":[{},{\"q\":\"true\"}]},\"ami\":true}}}]}";
    for (int c = 0; c < 2; c++) {
        scan_result *r = scan_pieces(ok, strlen(ok), c ? one : whole, 1, false, err, sizeof err);
        if (!r)
            fail_msg("cut %d: %s", c, err);
        assert_int_equal(r->n_refs, 1);
        assert_true(r->refs[0].sensitive); /* the true deep in after_sensitive was seen */
        scan_result_free(r);
    }
    /* the same with after_sensitive all false: nothing sensitive */
    const char *plain =
        "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.a\","
        "\"mode\":\"managed\",\"type\":\"aws_instance\",\"change\":{\"actions\":[\"create\"],"
        "\"after\":{\"ami\":\"ami-0a1b2c3d4e5f60718\"},\"after_sensitive\":{\"ami\":false,"
        "\"t\":\"true\"}}}]}";
    scan_result *r = scan_pieces(plain, strlen(plain), whole, 1, false, err, sizeof err);
    assert_non_null(r);
    assert_false(r->refs[0].sensitive);
    scan_result_free(r);
    /* structure errors inside a skipped section are still errors, with the
     * offset counted from 1 like the parser's: the ']' is the 49th byte */
    const char *bad = "{\"format_version\":\"1.2\",\"resource_drift\":[{\"a\":1]]}";
    for (int c = 0; c < 2; c++) {
        r = scan_pieces(bad, strlen(bad), c ? one : whole, 1, false, err, sizeof err);
        assert_null(r);
        if (!strstr(err, "byte 49:"))
            fail_msg("cut %d: %s", c, err);
        assert_non_null(strstr(err, "wrong kind"));
    }
    const char *trunc = "{\"format_version\":\"1.2\",\"resource_drift\":[{\"a\":\"xx";
    r = scan_pieces(trunc, strlen(trunc), whole, 1, false, err, sizeof err);
    assert_null(r);
    assert_non_null(strstr(err, "ends before it is complete"));
    const char *missing = "{\"format_version\":\"1.2\",\"resource_drift\": ,\"a\":1}";
    r = scan_pieces(missing, strlen(missing), whole, 1, false, err, sizeof err);
    assert_null(r);
}

/* A deferred hcp_packer_artifact read used directly by a gated instance
 * (Terraform's key order). */
static const char DEFERRED_PLAN[] =
    "{\"format_version\":\"1.2\",\"terraform_version\":\"1.11.4\",\"resource_changes\":[{"
    "\"address\":\"aws_instance.pinned\","
    "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"pinned\",\"provider_name\":"
    "\"registry.terraform.io/hashicorp/aws\","
    "\"change\":{\"actions\":[\"create\"],\"before\":null,\"after\":{\"instance_type\":\"t3."
    "micro\"},"
    "\"after_unknown\":{\"ami\":true},\"before_sensitive\":false,\"after_sensitive\":{}}},"
    "{\"address\":\"data.hcp_packer_artifact.pinned\",\"mode\":\"data\",\"type\":\"hcp_packer_"
    "artifact\","
    "\"name\":\"pinned\",\"provider_name\":\"registry.terraform.io/hashicorp/hcp\","
    "\"action_reason\":\"read_because_dependency_pending\",\"change\":{\"actions\":[\"read\"],"
    "\"before\":null,\"after\":{\"bucket_name\":\"web-ubuntu\",\"channel_name\":null,"
    "\"version_fingerprint\":\"web-1\",\"platform\":\"aws\",\"region\":\"us-west-1\"},"
    "\"after_unknown\":{\"external_identifier\":true,\"id\":true,\"labels\":true},"
    "\"before_sensitive\":false,\"after_sensitive\":{\"labels\":{}}}}],\"configuration\":{\"root_"
    "module\":{\"resources\":[{\"address\":\"data.hcp_packer_artifact.pinned\","
    "\"mode\":\"data\",\"type\":\"hcp_packer_artifact\",\"name\":\"pinned\",\"provider_config_"
    "key\":\"hcp\","
    "\"expressions\":{\"bucket_name\":{\"constant_value\":\"web-ubuntu\"},"
    "\"version_fingerprint\":{\"constant_value\":\"web-1\"},\"platform\":{\"constant_value\":"
    "\"aws\"},"
    "\"region\":{\"constant_value\":\"us-west-1\"}},\"schema_version\":0},"
    "{\"address\":\"aws_instance.pinned\",\"mode\":\"managed\",\"type\":\"aws_instance\","
    "\"name\":\"pinned\",\"expressions\":{\"ami\":{\"references\":[\"data.hcp_packer_artifact."
    "pinned.external_identifier\","
    "\"data.hcp_packer_artifact.pinned\"]}}}]}}}";

/* Rebuilds every resource change, and its "change", with its keys in another
 * order: perm 0 reversed, perm k > 0 rotated by k. */
static json_t *reorder(const json_t *o, int perm)
{
    const char *keys[64];
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) if (n < 64) keys[n++] = k;
    json_t *out = json_object();
    for (size_t i = 0; i < n; i++) {
        size_t j = perm == 0 ? n - 1 - i : (i + (size_t)perm) % n;
        json_object_set(out, keys[j], json_object_get(o, keys[j]));
    }
    return out;
}

static char *shuffle_plan(const char *text, size_t len, int perm)
{
    json_error_t je;
    json_t *doc = json_loadb(text, len, 0, &je);
    if (!doc)
        fail_msg("fixture: %s", je.text);
    json_t *rcs = json_object_get(doc, "resource_changes");
    size_t i;
    json_t *rc;
    json_array_foreach(rcs, i, rc)
    {
        json_t *ch = json_object_get(rc, "change");
        if (json_is_object(ch))
            json_object_set_new(rc, "change", reorder(ch, perm));
        json_array_set_new(rcs, i, reorder(rc, perm));
    }
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

/* Key order is never assumed: with the keys of every resource change and
 * change object reordered (mode after change, actions after after, ...),
 * the references are those of Terraform's order, skipping or not. */
static void test_key_order(void **state)
{
    (void)state;
    static const char *plans[] = {"hcp-data-source.plan.json",     "mentions.plan.json",
                                  "other-types.plan.json",         "inplace-unchanged.plan.json",
                                  "replace-and-destroy.plan.json", NULL};
    static const size_t whole[] = {1u << 30}, odd[] = {63, 1, 129, 17, 4093};
    char err[512];
    for (size_t p = 0; p < sizeof plans / sizeof plans[0]; p++) {
        size_t len;
        char *buf;
        if (plans[p]) {
            char path[512];
            snprintf(path, sizeof path, "%s/plans/%s", IG_FIXTURES, plans[p]);
            buf = slurp(path, &len);
        } else {
            buf = strdup(DEFERRED_PLAN);
            len = strlen(buf);
        }
        const char *name = plans[p] ? plans[p] : "deferred read";
        scan_result *ref = scan_pieces(buf, len, whole, 1, false, err, sizeof err);
        if (!ref)
            fail_msg("%s: %s", name, err);
        for (int perm = 0; perm < 4; perm++) {
            char *sh = shuffle_plan(buf, len, perm);
            for (int c = 0; c < 3; c++) {
                scan_result *r = scan_pieces(sh, strlen(sh), c == 1 ? odd : whole, c == 1 ? 5 : 1,
                                             c == 2, err, sizeof err);
                if (!r)
                    fail_msg("%s (order %d): %s", name, perm, err);
                assert_same(ref, r, name);
                if (!plans[p]) {
                    scan_ref *d =
                        find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.pinned", NULL);
                    assert_non_null(d);
                    assert_string_equal(d->bucket, "web-ubuntu");
                    assert_string_equal(d->fingerprint, "web-1");
                    assert_true(d->referenced_by_gated);
                }
                scan_result_free(r);
            }
            free(sh);
        }
        scan_result_free(ref);
        free(buf);
    }
}

static int scan_text(const char *text, char *err, size_t errlen, scan_result **out)
{
    scan_plan *s = scan_plan_new(RS, NULL);
    int rc = scan_plan_feed(s, text, strlen(text), err, errlen);
    if (rc == 0)
        rc = scan_plan_finish(s, out, err, errlen);
    scan_plan_free(s);
    return rc;
}

static void test_bad_input(void **state)
{
    (void)state;
    char err[512];
    scan_result *r = NULL;
    /* truncated: the message names the byte offset */
    const char *trunc = "{\"format_version\":\"1.2\",\"resource_changes\":[{\"addr";
    assert_int_equal(scan_text(trunc, err, sizeof err, &r), -1);
    char want[64];
    snprintf(want, sizeof want, "byte %zu", strlen(trunc));
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, "ends before it is complete"));
    assert_int_equal(scan_text("{\"format_version\": tru}", err, sizeof err, &r), -1);
    assert_non_null(strstr(err, "invalid JSON"));
    assert_int_equal(scan_text("[1,2,3]", err, sizeof err, &r), -1);
    assert_non_null(strstr(err, "not a Terraform plan"));
    assert_int_equal(scan_text("{\"a\":1}", err, sizeof err, &r), -1);
    assert_non_null(strstr(err, "no format_version"));
    assert_int_equal(scan_text("", err, sizeof err, &r), -1);
    assert_int_equal(scan_text("{} {}", err, sizeof err, &r), -1);
    /* wrong types where the plan format has something else are ignored */
    assert_int_equal(scan_text("{\"format_version\":\"1.2\",\"resource_changes\":{\"x\":1},"
                               "\"configuration\":7,\"variables\":[1]}",
                               err, sizeof err, &r),
                     0);
    assert_int_equal(r->n_refs, 0);
    scan_result_free(r);
    assert_int_equal(scan_text("{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":[],"
                               "\"type\":{},\"change\":{\"actions\":\"create\",\"after\":5}}]}",
                               err, sizeof err, &r),
                     0);
    scan_result_free(r);
    /* nesting past the limit is refused, not a stack overflow */
    size_t deep = 100000;
    char *d = malloc(deep * 2 + 64);
    strcpy(d, "{\"format_version\":\"1\",\"x\":");
    size_t o = strlen(d);
    for (size_t i = 0; i < deep; i++)
        d[o++] = '[';
    for (size_t i = 0; i < deep; i++)
        d[o++] = ']';
    d[o++] = '}';
    d[o] = '\0';
    assert_int_equal(scan_text(d, err, sizeof err, &r), -1);
    assert_non_null(strstr(err, "deeper than the limit"));
    free(d);
    /* invalid UTF-8 in a kept string is repaired, never passed on */
    assert_int_equal(
        scan_text("{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":"
                  "\"aws_instance.\xff\",\"mode\":\"managed\",\"type\":\"aws_instance\","
                  "\"change\":{\"actions\":[\"create\"],\"after\":{\"ami\":"
                  "\"ami-0a1b2c3d4e5f60718\"}}}]}",
                  err, sizeof err, &r),
        0);
    assert_int_equal(r->n_refs, 1);
    assert_string_equal(r->refs[0].address, "aws_instance.?");
    scan_result_free(r);
}

/* A resource change that repeats a key the scan decides on is refused: a
 * value skipped under the first copy could become gated under the second. */
static void test_duplicate_keys(void **state)
{
    (void)state;
    static const char *plans[][2] = {
        {"{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.a\","
         "\"mode\":\"managed\",\"type\":\"aws_instance\",\"change\":{\"actions\":[\"delete\"],"
         "\"before\":null,\"after\":{\"ami\":\"ami-0d4c3b2a1f0e9d8c7\"},\"actions\":[\"create\"]}}]"
         "}",
         "\"actions\""},
        {"{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.a\","
         "\"mode\":\"managed\",\"type\":\"aws_instance\",\"change\":{\"actions\":[\"delete\"],"
         "\"after\":{\"ami\":\"ami-0d4c3b2a1f0e9d8c7\"}},\"change\":{\"actions\":[\"create\"]}}]}",
         "\"change\""},
        {"{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"data.x.y\","
         "\"mode\":\"managed\",\"type\":\"hcp_packer_artifact\",\"change\":{\"actions\":"
         "[\"read\"],\"after\":{\"bucket_name\":\"b\"}},\"mode\":\"data\"}]}",
         "\"mode\""},
        {"{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.a\","
         "\"type\":\"aws_instance\",\"change\":{\"actions\":[\"create\"],\"after\":{\"ami\":"
         "\"ami-0d4c3b2a1f0e9d8c7\"}},\"type\":\"null_resource\"}]}",
         "\"type\""},
    };
    static const size_t whole[] = {1u << 30}, one[] = {1};
    char err[512];
    for (size_t i = 0; i < sizeof plans / sizeof plans[0]; i++) {
        for (int c = 0; c < 3; c++) {
            scan_result *r = scan_pieces(plans[i][0], strlen(plans[i][0]), c == 1 ? one : whole, 1,
                                         c == 2, err, sizeof err);
            if (r)
                fail_msg("plan %zu (cut %d) was accepted", i, c);
            if (!strstr(err, plans[i][1]) || !strstr(err, "appears twice") ||
                !strstr(err, "resource change "))
                fail_msg("plan %zu: %s", i, err);
            if (i == 2 && !strstr(err, "resource change data.x.y:"))
                fail_msg("plan %zu: %s", i, err);
        }
    }
}

/* Numbers beyond double range in the blocks kept as trees (configuration,
 * variables, data sources in state) are kept as their text, not refused. */
static void test_huge_numbers(void **state)
{
    (void)state;
    char big[700];
    memset(big, '9', 600);
    big[600] = '\0';
    char plan[2048];
    snprintf(plan, sizeof plan,
             "{\"format_version\":\"1.2\",\"variables\":{\"n\":{\"value\":1e999}},"
             "\"resource_changes\":[{\"address\":\"aws_instance.a\",\"mode\":\"managed\","
             "\"type\":\"aws_instance\",\"change\":{\"actions\":[\"create\"],\"after\":{\"ami\":"
             "\"ami-0d4c3b2a1f0e9d8c7\"}}}],\"prior_state\":{\"values\":{\"root_module\":"
             "{\"resources\":[{\"address\":\"data.x.y\",\"mode\":\"data\",\"type\":\"x\","
             "\"values\":{\"n\":-1e400}}]}}},"
             "\"configuration\":{\"root_module\":{\"resources\":[{\"address\":\"aws_instance.a\","
             "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"a\",\"expressions\":"
             "{\"ami\":{\"constant_value\":\"ami-0d4c3b2a1f0e9d8c7\"},\"cpu\":{\"constant_value\":"
             "1e400},\"m\":{\"constant_value\":-1E+400},\"t\":{\"constant_value\":1e-400},"
             "\"b\":{\"constant_value\":%s}}}]}}}",
             big);
    static const size_t whole[] = {1u << 30}, one[] = {1};
    char err[512];
    for (int c = 0; c < 3; c++) {
        scan_result *r =
            scan_pieces(plan, strlen(plan), c == 1 ? one : whole, 1, c == 2, err, sizeof err);
        if (!r)
            fail_msg("cut %d: %s", c, err);
        scan_ref *a = find_ref(r, SCAN_REF_IMAGE, "aws_instance.a", "ami");
        assert_non_null(a);
        assert_int_equal(a->provenance, SCAN_PROV_LITERAL);
        scan_result_free(r);
    }
    /* invalid UTF-8 in a configuration string: the message names the block */
    const char *bad = "{\"format_version\":\"1.2\",\"variables\":{\"n\":{\"value\":\"\xff\"}}}";
    scan_result *r = scan_pieces(bad, strlen(bad), whole, 1, false, err, sizeof err);
    assert_null(r);
    if (!strstr(err, "a string in variables is not valid UTF-8"))
        fail_msg("%s", err);
}

/* A UTF-8 byte order mark at the start is skipped, however the input is cut;
 * offsets in messages still count it; a partial mark is an error. */
static void test_byte_order_mark(void **state)
{
    (void)state;
    const char *plan = "\xEF\xBB\xBF{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":"
                       "\"aws_instance.a\",\"mode\":\"managed\",\"type\":\"aws_instance\","
                       "\"change\":{\"actions\":[\"create\"],\"after\":{\"ami\":"
                       "\"ami-0d4c3b2a1f0e9d8c7\"}}}]}";
    static const size_t whole[] = {1u << 30}, one[] = {1}, two[] = {2, 5};
    char err[512];
    for (int c = 0; c < 3; c++) {
        scan_result *r = scan_pieces(plan, strlen(plan),
                                     c == 0   ? whole
                                     : c == 1 ? one
                                              : two,
                                     c == 2 ? 2 : 1, false, err, sizeof err);
        if (!r)
            fail_msg("cut %d: %s", c, err);
        assert_int_equal(r->n_refs, 1);
        assert_string_equal(r->refs[0].value, "ami-0d4c3b2a1f0e9d8c7");
        scan_result_free(r);
    }
    const char *bad = "\xEF\xBB\xBF{\"format_version\": tru}";
    for (int c = 0; c < 2; c++) {
        scan_result *r = scan_pieces(bad, strlen(bad), c ? one : whole, 1, false, err, sizeof err);
        assert_null(r);
        assert_non_null(strstr(err, "invalid JSON"));
        if (!strstr(err, "byte 25:")) /* 22 without the mark */
            fail_msg("cut %d: %s", c, err);
    }
    const char *partial = "\xEF\xBB{\"format_version\":\"1.2\"}";
    scan_result *r = scan_pieces(partial, strlen(partial), one, 1, false, err, sizeof err);
    assert_null(r);
    if (!strstr(err, "invalid JSON"))
        fail_msg("%s", err);
}

static void test_terraform_json_corpus(void **state)
{
    (void)state;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/plans/terraform-json", IG_FIXTURES);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int seen = 0, failed = 0;
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".plan.json"))
            continue;
        char path[1024], err[512];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        scan_result *r = NULL;
        int rc = scan_plan_file(RS, NULL, path, &r, err, sizeof err);
        seen++;
        if (strcmp(de->d_name, "invalid.plan.json") == 0) {
            assert_int_equal(rc, -1);
            assert_non_null(strstr(err, "byte "));
            failed++;
            continue;
        }
        if (rc)
            fail_msg("%s: %s", de->d_name, err);
        if (strcmp(de->d_name, "nested_config_keys.plan.json") == 0) {
            scan_ref *x = find_ref(r, SCAN_REF_IMAGE, "aws_instance.foo", "ami");
            assert_non_null(x);
            assert_false(x->recognized);
            assert_string_equal(x->value, "ami-foobar");
        }
        scan_result_free(r);
    }
    closedir(d);
    assert_true(seen >= 21);
    assert_int_equal(failed, 1);
}

static void test_config_text(void **state)
{
    (void)state;
    const char *tf = "# ami-0123456789abcdef0 in a comment\n"
                     "variable \"web_ami\" {\n"
                     "  default = \"ami-0b3c20f2fd2b1e282\" // note ami-0fedcba9876543210\n"
                     "}\n"
                     "/* ami-0d4c3b2a1f0e9d8c6\n ami-0d4c3b2a1f0e9d8c6 */\n"
                     "locals { x = <<EOT\n# not a comment ami-0a1b2c3d4e5f60718\nEOT\n}\n"
                     "url = \"http://x/#ami-0c9d8e7f6a5b40312\"\n";
    scan_result *res = scan_result_new();
    rules_matcher *m = rules_matcher_new(RS);
    scan_config_text(RS, m, "main.tf", tf, strlen(tf), res);
    assert_int_equal(res->n_refs, 3);
    assert_string_equal(res->refs[0].address, "main.tf:3");
    assert_string_equal(res->refs[0].value, "ami-0b3c20f2fd2b1e282");
    assert_int_equal(res->refs[0].line, 3);
    assert_string_equal(res->refs[1].address, "main.tf:8");  /* heredoc content is a string */
    assert_string_equal(res->refs[2].address, "main.tf:11"); /* # inside a string */
    rules_matcher_free(m);
    scan_result_free(res);
}

/* ---- issue 14: for_each / count, empty and launch-time images, legacy
 * Azure VMs, byte offsets ------------------------------------------------ */

static scan_provenance prov_of(scan_result *r, const char *addr)
{
    scan_ref *x = find_ref(r, SCAN_REF_IMAGE, addr, NULL);
    if (!x)
        fail_msg("no image reference for %s", addr);
    return x->provenance;
}

/* A real plan (Terraform 1.11.4): each.value, each.key, each.value.ami and
 * count.index follow the resource's or module call's for_each / count. */
static void test_for_each_provenance(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("for-each.plan.json");
    static const struct {
        const char *addr;
        scan_provenance want;
    } cases[] = {
        {"aws_instance.by_map[\"web\"]", SCAN_PROV_VARIABLE},
        {"aws_instance.by_map[\"api\"]", SCAN_PROV_VARIABLE},
        {"aws_instance.by_object[\"cache\"]", SCAN_PROV_VARIABLE},
        {"aws_instance.by_local[\"batch\"]", SCAN_PROV_LOCAL},
        {"aws_instance.by_key[\"ami-0a1b2c3d4e5f60718\"]", SCAN_PROV_LITERAL},
        {"aws_instance.by_count[0]", SCAN_PROV_LITERAL},
        {"aws_instance.by_count[1]", SCAN_PROV_LITERAL},
        {"aws_instance.by_data[\"golden\"]", SCAN_PROV_DATA_SOURCE},
        {"module.fleet[\"a\"].aws_instance.this", SCAN_PROV_MODULE_INPUT},
        {"module.fleet[\"b\"].aws_instance.this", SCAN_PROV_MODULE_INPUT},
        {"module.counted[0].aws_instance.this", SCAN_PROV_MODULE_INPUT},
        {"module.outer[\"web\"].module.web.aws_instance.this", SCAN_PROV_VARIABLE},
        {"module.outer[\"api\"].module.web.aws_instance.this", SCAN_PROV_VARIABLE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (prov_of(r, cases[i].addr) != cases[i].want)
            fail_msg("%s: provenance %s, want %s", cases[i].addr,
                     scan_provenance_name(prov_of(r, cases[i].addr)),
                     scan_provenance_name(cases[i].want));
    assert_int_equal(count_kind(r, SCAN_REF_IMAGE), 13);
    scan_result_free(r);
}

/* A plan of the configuration-only cases: a for_each over a variable the
 * root gives a value whose image the data source does not hold; a module
 * call whose for_each reads a deferred hcp_packer_artifact (the data source
 * counts as used by the module's resources); a count over a variable list. */
static void test_iteration_edges(void **state)
{
    (void)state;
    static const char plan[] =
        "{\"format_version\":\"1.2\",\"variables\":{\"amis\":{\"value\":[\"ami-0a1b2c3d4e5f60718\"]"
        "}},"
        "\"resource_changes\":["
        "{\"address\":\"aws_instance.c[0]\",\"mode\":\"managed\",\"type\":\"aws_instance\","
        "\"change\":{\"actions\":[\"create\"],\"after\":{\"ami\":\"ami-0a1b2c3d4e5f60718\"}}},"
        "{\"address\":\"module.m[\\\"a\\\"].aws_instance.this\",\"mode\":\"managed\","
        "\"type\":\"aws_instance\",\"change\":{\"actions\":[\"create\"],\"after\":{},"
        "\"after_unknown\":{\"ami\":true}}},"
        "{\"address\":\"data.hcp_packer_artifact.web\",\"mode\":\"data\","
        "\"type\":\"hcp_packer_artifact\",\"change\":{\"actions\":[\"read\"],\"after\":"
        "{\"bucket_name\":\"web-ubuntu\",\"channel_name\":\"production\"},"
        "\"after_unknown\":{\"external_identifier\":true}}}],"
        "\"configuration\":{\"root_module\":{\"variables\":{\"amis\":{}},\"resources\":["
        "{\"address\":\"aws_instance.c\",\"mode\":\"managed\",\"type\":\"aws_instance\","
        "\"name\":\"c\",\"expressions\":{\"ami\":{\"references\":[\"count.index\"]}},"
        "\"count_expression\":{\"references\":[\"var.amis\"]}},"
        "{\"address\":\"data.hcp_packer_artifact.web\",\"mode\":\"data\","
        "\"type\":\"hcp_packer_artifact\",\"name\":\"web\",\"expressions\":{}}],"
        "\"module_calls\":{\"m\":{\"source\":\"./m\",\"expressions\":{\"image\":{\"references\":"
        "[\"each.value\"]}},\"for_each_expression\":{\"references\":["
        "\"data.hcp_packer_artifact.web.external_identifier\",\"data.hcp_packer_artifact.web\"]},"
        "\"module\":{\"variables\":{\"image\":{}},\"resources\":[{\"address\":\"aws_instance."
        "this\","
        "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"this\",\"expressions\":{"
        "\"ami\":{\"references\":[\"var.image\"]}}}]}}}}}}";
    char err[512];
    scan_result *r = NULL;
    if (scan_text(plan, err, sizeof err, &r))
        fail_msg("%s", err);
    /* count.index over a variable list that holds the image */
    assert_int_equal(prov_of(r, "aws_instance.c[0]"), SCAN_PROV_VARIABLE);
    scan_ref *d = find_ref(r, SCAN_REF_DATA, "data.hcp_packer_artifact.web", NULL);
    assert_non_null(d);
    assert_true(d->referenced_by_gated);
    assert_null(d->used_via_local);
    scan_result_free(r);
}

/* Every module passes two variables on to the next, 60 deep: each
 * expression is followed once per image (2^60 paths would never end). */
static void test_provenance_deep_fanout(void **state)
{
    (void)state;
    static const char AMI[] = "ami-0a1b2c3d4e5f60718";
    json_t *mod =
        json_pack("{s:[{s:s, s:s, s:s, s:s, s:{s:{s:[s,s]}}}], s:{s:{}, s:{}}}", "resources",
                  "address", "aws_instance.x", "mode", "managed", "type", "aws_instance", "name",
                  "x", "expressions", "ami", "references", "var.a", "var.b", "variables", "a", "b");
    char addr[1024] = "";
    for (int i = 0; i < 60; i++) {
        mod = json_pack("{s:{s:{s:s, s:{s:{s:[s,s]}, s:{s:[s,s]}}, s:o}}, s:{s:{}, s:{}}}",
                        "module_calls", "m", "source", "./m", "expressions", "a", "references",
                        "var.a", "var.b", "b", "references", "var.b", "var.a", "module", mod,
                        "variables", "a", "b");
        strcat(addr, "module.m.");
    }
    strcat(addr, "aws_instance.x");
    json_object_set_new(json_object_get(mod, "variables"), "a", json_pack("{s:s}", "default", AMI));
    json_t *plan = json_pack("{s:s, s:[{s:s, s:s, s:s, s:{s:[s], s:{s:s}}}], s:{s:o}}",
                             "format_version", "1.2", "resource_changes", "address", addr, "mode",
                             "managed", "type", "aws_instance", "change", "actions", "create",
                             "after", "ami", AMI, "configuration", "root_module", mod);
    char *text = json_dumps(plan, JSON_COMPACT);
    json_decref(plan);
    char err[512];
    scan_result *r = NULL;
    if (scan_text(text, err, sizeof err, &r))
        fail_msg("%s", err);
    assert_int_equal(prov_of(r, addr), SCAN_PROV_VARIABLE);
    scan_result_free(r);
    free(text);
}

/* An empty image attribute is no image, like null: no reference at all (a
 * real AWS plan, and a hand-written google one). */
static void test_empty_image(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("empty-image.plan.json");
    assert_int_equal(r->gated, 2);
    assert_null(find_ref(r, SCAN_REF_IMAGE, "aws_launch_template.blank", NULL));
    assert_non_null(find_ref(r, SCAN_REF_IMAGE, "aws_instance.app", "ami"));
    assert_int_equal(count_kind(r, SCAN_REF_IMAGE), 1);
    scan_result_free(r);
    r = scan_fixture("gce-empty-image.plan.json");
    assert_int_equal(r->gated, 2);
    assert_int_equal(r->n_refs, 0);
    scan_result_free(r);
}

/* resolve:ssm:... is a launch-time image, not an unrecognized value. */
static void test_launch_resolved(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("launch-resolved.plan.json");
    scan_ref *w = find_ref(r, SCAN_REF_IMAGE, "aws_instance.web", "ami");
    assert_non_null(w);
    assert_true(w->launch_resolved);
    assert_false(w->recognized);
    assert_string_equal(w->value, "resolve:ssm:/golden/web/ami-id");
    scan_ref *t = find_ref(r, SCAN_REF_IMAGE, "aws_launch_template.al2023", "image_id");
    assert_non_null(t);
    assert_true(t->launch_resolved);
    assert_string_equal(t->value, "resolve:ssm:/aws/service/ami-amazon-linux-latest/"
                                  "al2023-ami-kernel-default-x86_64:12");
    scan_ref *typo = find_ref(r, SCAN_REF_IMAGE, "aws_instance.typo", "ami");
    assert_non_null(typo);
    assert_false(typo->launch_resolved);
    assert_false(typo->recognized);
    scan_result_free(r);
}

/* The legacy azurerm_virtual_machine: storage_image_reference[].id. */
static void test_azure_legacy_vm(void **state)
{
    (void)state;
    scan_result *r = scan_fixture("azure-legacy-vm.plan.json");
    scan_ref *x = find_ref(r, SCAN_REF_IMAGE, "azurerm_virtual_machine.legacy",
                           "storage_image_reference[0].id");
    assert_non_null(x);
    assert_true(x->recognized);
    assert_string_equal(x->platform, "azure");
    assert_non_null(strstr(x->value, "/images/win2022-20250709"));
    assert_int_equal(x->provenance, SCAN_PROV_VARIABLE);
    /* no mention of the same ID besides the image reference */
    assert_null(find_ref(r, SCAN_REF_MENTION, "azurerm_virtual_machine.legacy", NULL));
    /* a marketplace image (publisher/offer/sku, id unset) is no reference */
    assert_null(find_ref(r, SCAN_REF_IMAGE, "azurerm_virtual_machine.marketplace", NULL));
    scan_result_free(r);
}

/* The byte offset in an error message, or 0. */
static size_t err_byte(const char *err)
{
    const char *p = strstr(err, "byte ");
    return p ? (size_t)strtoull(p + 5, NULL, 10) : 0;
}

/* "byte N" counts from 1: N is the position of the byte at which the
 * problem was found (head -c N ends with it), whichever part of the scanner
 * finds it, however the input is cut, and with the parser reading
 * everything. A token out of place inside a map (yajl steps back into it)
 * is named by its first byte when it arrived in one piece, else by one of
 * its bytes. A truncated document gives its length. */
static void test_error_offsets_count_from_one(void **state)
{
    (void)state;
    char wide[512];
    snprintf(wide, sizeof wide, "{\"format_version\":\"1.2\",\"relevant_attributes\":[%200s{]]}",
             "");
    static const struct {
        const char *text;
        const char *bad; /* the text that starts with the offending byte */
        size_t token;    /* > 0: a token out of place, of this length */
    } cases[] = {
        {"{\"format_version\": x}", "x}", 0},                                       /* parser */
        {"{\"format_version\":\"1.2\",\"resource_drift\":[{\"a\":1]]}", "]]}", 0},  /* skipper */
        {"{\"format_version\":\"1.2\",\"resource_drift\": ,\"a\":1}", ",\"a\"", 0}, /* skipper */
        {"{\"format_version\":\"1.2\",\"resource_changes\":[1 2]}", "2]", 0},       /* parser */
        {"{\"format_version\":\"1.2\"} }", "}", 0},                                 /* trailing */
        {"{\"format_version\":\"1.2\",\"a\":1 \"xyz\"}", "\"xyz", 5},
        {"{\"format_version\":\"1.2\",\"a\":1 [2]}", "[2]", 1},
        {NULL, "{]", 0}, /* wide: the skipper's 64-byte blocks */
    };
    static const size_t whole[] = {1u << 30}, one[] = {1}, seven[] = {7};
    const size_t *cuts[] = {whole, one, seven};
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *text = cases[i].text ? cases[i].text : wide;
        const char *bad = strstr(text, cases[i].bad) + (cases[i].text ? 0 : 1);
        if (i == 4)
            bad = strrchr(text, '}');
        size_t want = (size_t)(bad - text) + 1;
        for (int c = 0; c < 4; c++) {
            scan_result *r =
                scan_pieces(text, strlen(text), cuts[c % 3], 1, c == 3, err, sizeof err);
            assert_null(r);
            size_t got = err_byte(err);
            int exact = !cases[i].token || c == 0 || c == 3;
            if (exact ? got != want : got < want || got >= want + cases[i].token)
                fail_msg("case %zu cut %d: want byte %zu in \"%s\"", i, c, want, err);
        }
    }
    /* truncated: after the last byte there is nothing */
    const char *trunc = "{\"format_version\":\"1.2\",\"resource_drift\":[{\"a\":\"xx";
    scan_result *r = scan_pieces(trunc, strlen(trunc), whole, 1, false, err, sizeof err);
    assert_null(r);
    assert_int_equal(err_byte(err), strlen(trunc));
}

int main(void)
{
    char err[512];
    RS = rules_load(NULL, err, sizeof err);
    if (!RS) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hardcoded_literal),
        cmocka_unit_test(test_module_input),
        cmocka_unit_test(test_data_source_provenance),
        cmocka_unit_test(test_hcp_data_sources),
        cmocka_unit_test(test_mentions_and_sensitive),
        cmocka_unit_test(test_other_types),
        cmocka_unit_test(test_gce_short_forms),
        cmocka_unit_test(test_data_through_modules),
        cmocka_unit_test(test_deferred_data_through_local),
        cmocka_unit_test(test_replace_and_inplace),
        cmocka_unit_test(test_scale),
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_skipping_is_lossless),
        cmocka_unit_test(test_skipped_regions),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_huge_numbers),
        cmocka_unit_test(test_byte_order_mark),
        cmocka_unit_test(test_terraform_json_corpus),
        cmocka_unit_test(test_config_text),
        cmocka_unit_test(test_for_each_provenance),
        cmocka_unit_test(test_iteration_edges),
        cmocka_unit_test(test_provenance_deep_fanout),
        cmocka_unit_test(test_empty_image),
        cmocka_unit_test(test_launch_resolved),
        cmocka_unit_test(test_azure_legacy_vm),
        cmocka_unit_test(test_error_offsets_count_from_one),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    rules_free(RS);
    return rc;
}
