/* Fuzz driver: policy_load_buffer, policy files (YAML or JSON: levels,
 * overrides with globs, exemptions with dates and kinds).
 *
 * A policy that loads is used: it evaluates a fixed set of references
 * (images, mentions, data sources, configuration IDs; sensitive and not)
 * against the fake registry under three scopes -- with organization and
 * workspace, other names, none -- so overrides, globs and exemptions are
 * matched for real, and the reports pass the common checks. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

static scan_result *RES;

static scan_ref *add(scan_ref_kind kind, const char *addr, const char *attr, const char *value)
{
    RES->refs = realloc(RES->refs, (RES->n_refs + 1) * sizeof *RES->refs);
    FUZZ_CHECK(RES->refs != NULL, "out of memory");
    scan_ref *x = &RES->refs[RES->n_refs++];
    memset(x, 0, sizeof *x);
    /* string literals: scan_result_free frees only the array and its arena */
    x->kind = kind;
    x->address = (char *)addr;
    x->attribute = (char *)attr;
    x->value = (char *)value;
    x->lookup = (char *)value;
    x->platform = "aws";
    x->recognized = value != NULL;
    x->action = SCAN_ACT_CREATE;
    x->provenance = SCAN_PROV_LITERAL;
    return x;
}

static void init(void)
{
    RES = scan_result_new();
    static char *gated[] = {"aws_instance.a", "aws_launch_template.t", "module.m.aws_instance.b"};
    RES->resources = 5;
    RES->gated = 3;
    RES->gated_addresses = malloc(sizeof gated);
    memcpy(RES->gated_addresses, gated, sizeof gated);
    add(SCAN_REF_IMAGE, "aws_instance.a", "ami", "ami-0d4c3b2a1f0e9d8c7");
    scan_ref *r = add(SCAN_REF_IMAGE, "aws_launch_template.t", "image_id", "ami-0b3c20f2fd2b1e282");
    r->action = SCAN_ACT_UPDATE;
    r->unchanged = true;
    r->provenance = SCAN_PROV_VARIABLE;
    r = add(SCAN_REF_IMAGE, "module.m.aws_instance.b", "ami", "ami-0a1b2c3d4e5f60718");
    r->provenance = SCAN_PROV_DATA_SOURCE;
    r = add(SCAN_REF_IMAGE, "aws_instance.u", "ami", NULL);
    r->unknown = true;
    r->provenance = SCAN_PROV_RESOURCE;
    r = add(SCAN_REF_IMAGE, "aws_instance.x", "ami", "ami-foobar");
    r->recognized = false;
    r = add(SCAN_REF_IMAGE, "aws_instance.ssm", "ami", "resolve:ssm:/golden/web");
    r->recognized = false;
    r->launch_resolved = true;
    r = add(SCAN_REF_IMAGE, "aws_instance.s", "ami", "ami-0c9d8e7f6a5b40312");
    r->sensitive = true;
    r->provenance = SCAN_PROV_MODULE_INPUT;
    add(SCAN_REF_MENTION, "aws_instance.a", "tags.SourceAMI", "ami-0fedcba9876543210");
    r = add(SCAN_REF_MENTION, "output.secret", NULL, "ami-0e1f2a3b4c5d6e7f8");
    r->sensitive = true;
    r = add(SCAN_REF_DATA, "data.hcp_packer_artifact.pinned", NULL, NULL);
    r->data_type = "hcp_packer_artifact";
    r->bucket = "web-ubuntu";
    r->version_id = "01JD0000000000000000000001";
    r->referenced_by_gated = true;
    r = add(SCAN_REF_DATA, "data.hcp_packer_version.ch", NULL, NULL);
    r->data_type = "hcp_packer_version";
    r->bucket = "base-al2023";
    r->channel = "production";
    r = add(SCAN_REF_CONFIG, "main.tf:4", NULL, "ami-0123456789abcdef0");
    r->line = 4;
    r->action = SCAN_ACT_NONE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!RES)
        init();
    char err[512] = "";
    policy *p = policy_load_buffer((const char *)data, size, "fuzz.yaml", err, sizeof err);
    if (!p) {
        FUZZ_CHECK(err[0] != '\0', "an error without a message");
        return 0;
    }
    static const policy_scope scopes[] = {{"acme", "web-prod", 1795165200000LL},
                                          {"other", "sandbox-1", 1798761600000LL},
                                          {NULL, NULL, 1795165200000LL}};
    for (size_t i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
        policy_report *rep = policy_eval(p, RES, &fuzz_lookup, &scopes[i], err, sizeof err);
        if (!rep)
            continue;
        fuzz_check_report(rep, RES, data, size);
        (void)policy_report_fails(rep, POLICY_VERDICT_WARN);
        policy_report_free(rep);
    }
    policy_free(p);
    return 0;
}
