/* Unit tests for rules/: shipped rule files, patterns, attribute paths,
 * user rule files and their errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rules/rules.h"

static rules *shipped(void)
{
    char err[512];
    rules *rs = rules_load(NULL, err, sizeof err);
    if (!rs)
        fail_msg("shipped rules: %s", err);
    return rs;
}

static int find_platform(rules *rs, const char *s, char *id, size_t idlen, char *lookup)
{
    rules_matcher *m = rules_matcher_new(rs);
    rules_match mt;
    int found = rules_find(m, s, strlen(s), 0, &mt);
    int plat = -1;
    if (found) {
        snprintf(id, idlen, "%.*s", (int)mt.len, s + mt.start);
        if (lookup)
            snprintf(lookup, idlen, "%.*s", (int)mt.lookup_len, s + mt.lookup_start);
        plat = (int)mt.pattern;
    }
    rules_matcher_free(m);
    return found ? plat : -1;
}

static const char *platform_of(rules *rs, const char *s)
{
    char id[512];
    int p = find_platform(rs, s, id, sizeof id, NULL);
    return p < 0 ? NULL : rules_pattern_at(rs, (size_t)p)->platform;
}

static void test_aws_patterns(void **state)
{
    (void)state;
    rules *rs = shipped();
    char id[512];
    assert_string_equal(platform_of(rs, "ami-0a1b2c3d4e5f60718"), "aws");
    assert_string_equal(platform_of(rs, "ami-1f2e3d4c"), "aws");
    find_platform(rs, "echo built-from=ami-0123456789abcdef0 > /etc/motd", id, sizeof id, NULL);
    assert_string_equal(id, "ami-0123456789abcdef0");
    find_platform(rs, "arn:aws:ec2:us-west-1:123:image/ami-0a1b2c3d4e5f60718", id, sizeof id, NULL);
    assert_string_equal(id, "ami-0a1b2c3d4e5f60718");
    /* not IDs: wrong length, not hex, part of a longer word, upper case */
    assert_null(platform_of(rs, "ami-foobar"));
    assert_null(platform_of(rs, "ami-0a1b2c3d4e5f6071"));   /* 16 hex */
    assert_null(platform_of(rs, "ami-0a1b2c3d4e5f607189")); /* 18 hex */
    assert_null(platform_of(rs, "xami-0a1b2c3d4e5f60718"));
    assert_null(platform_of(rs, "AMI-0A1B2C3D4E5F60718"));
    assert_null(platform_of(rs, "resolve:ssm:/aws/service/ami-amazon-linux-latest"));
    rules_free(rs);
}

static void test_azure_gce_docker(void **state)
{
    (void)state;
    rules *rs = shipped();
    char id[512], lk[512];
    const char *az = "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/images-rg/"
                     "providers/Microsoft.Compute/images/win2022-20250709";
    assert_string_equal(platform_of(rs, az), "azure");
    /* resource IDs compare case-insensitively */
    assert_string_equal(platform_of(rs, "/SUBSCRIPTIONS/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/"
                                        "resourcegroups/images-rg/providers/microsoft.compute/"
                                        "images/win2022-20250709"),
                        "azure");
    const char *gal = "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/rg/"
                      "providers/Microsoft.Compute/galleries/gal/images/def/versions/1.2.3";
    find_platform(rs, gal, id, sizeof id, NULL);
    assert_string_equal(id, gal);
    const char *self = "https://www.googleapis.com/compute/v1/projects/my-proj-1/global/images/"
                       "golden-20250101";
    assert_string_equal(platform_of(rs, self), "gce");
    find_platform(rs, self, id, sizeof id, lk);
    assert_string_equal(id, self);
    assert_string_equal(lk, "golden-20250101"); /* the name is what Packer records */
    find_platform(rs, "projects/my-proj-1/global/images/golden-20250101", id, sizeof id, lk);
    assert_string_equal(lk, "golden-20250101");
    assert_null(platform_of(rs, "projects/debian-cloud/global/images/family/debian-12"));
    assert_string_equal(
        platform_of(rs, "sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945"),
        "docker");
    assert_null(platform_of(rs, "sha256:4f53"));
    rules_free(rs);
}

static void test_attributes(void **state)
{
    (void)state;
    rules *rs = shipped();
    const char *const *paths;
    /* every resource type PRODUCT.md section 3 requires */
    static const struct {
        const char *type, *path;
    } want[] = {
        {"aws_instance", "ami"},
        {"aws_launch_template", "image_id"},
        {"aws_launch_configuration", "image_id"},
        {"aws_spot_instance_request", "ami"},
        {"aws_spot_fleet_request", "launch_specification[].ami"},
        {"aws_emr_cluster", "custom_ami_id"},
        {"aws_ami_copy", "source_ami_id"},
        {"aws_ami_launch_permission", "image_id"},
        {"aws_batch_compute_environment", "compute_resources[].image_id"},
        {"aws_opsworks_instance", "ami_id"},
        {"azurerm_linux_virtual_machine", "source_image_id"},
        {"azurerm_windows_virtual_machine", "source_image_id"},
        {"azurerm_linux_virtual_machine_scale_set", "source_image_id"},
        {"azurerm_windows_virtual_machine_scale_set", "source_image_id"},
        {"azurerm_virtual_machine", "storage_image_reference[].id"}, /* legacy, issue 14 */
        {"azurerm_virtual_machine_scale_set", "storage_profile_image_reference[].id"},
        {"google_compute_instance", "boot_disk[].initialize_params[].image"},
        {"google_compute_instance_template", "disk[].source_image"},
        {"google_compute_disk", "image"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t n = rules_attributes(rs, want[i].type, &paths);
        int hit = 0;
        for (size_t k = 0; k < n; k++)
            hit |= strcmp(paths[k], want[i].path) == 0;
        if (!hit)
            fail_msg("%s.%s missing from the shipped rules", want[i].type, want[i].path);
    }
    assert_int_equal(rules_attributes(rs, "aws_s3_bucket", &paths), 0);
    assert_null(paths);
    /* the streaming filters */
    assert_true(rules_is_any_attribute(rs, "ami", 3));
    assert_false(rules_is_any_attribute(rs, "tags", 4));
    assert_true(rules_is_attribute_prefix(rs, "boot_disk[]", 11));
    uint64_t h = rules_path_key(RULES_PATH_ROOT, "boot_disk", 9);
    assert_int_equal(rules_path_flags(rs, h), RULES_PATH_PREFIX);
    h = rules_path_index(h);
    h = rules_path_key(h, "initialize_params", 17);
    h = rules_path_index(h);
    h = rules_path_key(h, "image", 5);
    assert_true(rules_path_flags(rs, h) & RULES_PATH_FULL);
    assert_int_equal(rules_path_flags(rs, rules_path_key(RULES_PATH_ROOT, "tags", 4)), 0);
    assert_true(rules_segment_maybe(rules_segment_filter(rs), "ami", 3));
    assert_false(rules_segment_maybe(rules_segment_filter(rs), "zzz", 3));
    assert_int_equal(rules_min_length(rs), 12); /* ami- + 8 hex */
    rules_free(rs);
}

static void test_user_rules(void **state)
{
    (void)state;
    char err[512];
    const char *y = "patterns:\n"
                    "  - name: corp-image\n"
                    "    platform: vsphere\n"
                    "    regex: 'tmpl-[0-9]{6}'\n"
                    "resources:\n"
                    "  vsphere_virtual_machine: [\"clone[].template_uuid\"]\n"
                    "  aws_instance: [ami, \"tags.SourceAMI\"]\n";
    rules *rs = rules_load_buffer(y, strlen(y), "corp.yaml", true, err, sizeof err);
    assert_non_null(rs);
    assert_string_equal(platform_of(rs, "template tmpl-123456"), "vsphere");
    assert_string_equal(platform_of(rs, "ami-0a1b2c3d4e5f60718"), "aws"); /* shipped still there */
    const char *const *paths;
    assert_int_equal(rules_attributes(rs, "aws_instance", &paths), 2); /* merged, no duplicate */
    assert_int_equal(rules_attributes(rs, "vsphere_virtual_machine", &paths), 1);
    rules_free(rs);
}

/* Which pattern matched is told by the capture group that wraps it in the
 * combined pattern: patterns with groups of their own (GCE's "id", a
 * user's) must not shift the ones after them. */
static void test_pattern_groups(void **state)
{
    (void)state;
    char err[512], id[512], lk[512];
    const char *y = "patterns:\n"
                    "  - name: corp-image\n"
                    "    platform: vsphere\n"
                    "    regex: '(tmpl)-([0-9]{6})'\n"
                    "  - name: corp-disk\n"
                    "    platform: corpdisk\n"
                    "    regex: 'disk-(?:(a)|(b))-(?<id>[0-9]{4})'\n"
                    "  - name: corp-last\n"
                    "    platform: corplast\n"
                    "    regex: 'last-[0-9]{4}'\n";
    rules *rs = rules_load_buffer(y, strlen(y), "corp.yaml", true, err, sizeof err);
    assert_non_null(rs);
    assert_string_equal(platform_of(rs, "tmpl-123456"), "vsphere");
    assert_string_equal(platform_of(rs, "x disk-b-0042 y"), "corpdisk");
    find_platform(rs, "x disk-b-0042 y", id, sizeof id, lk);
    assert_string_equal(id, "disk-b-0042");
    assert_string_equal(lk, "0042");
    assert_string_equal(platform_of(rs, "last-1234"), "corplast");
    assert_string_equal(platform_of(rs, "projects/my-proj-1/global/images/golden-20250101"), "gce");
    assert_string_equal(platform_of(rs, "ami-0a1b2c3d4e5f60718"), "aws");
    rules_free(rs);
}

/* rules_iter gives rules_find's matches one after another, the same the
 * second time (from the matcher's memo) as the first. */
static void test_iter_and_memo(void **state)
{
    (void)state;
    rules *rs = shipped();
    rules_matcher *m = rules_matcher_new(rs);
    static const char *const subjects[] = {
        "ami-0a1b2c3d4e5f60718 and ami-1f2e3d4c, sha256:4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e"
        "11ba873c2f11161202b945",
        "fa5e1a4df381d0b650f5f55e8d7155719602e5a2",
        "ami-00000001 ami-00000002 ami-00000003 ami-00000004 ami-00000005 ami-00000006",
        "",
    };
    static const size_t want[] = {3, 0, 6, 0};
    for (int round = 0; round < 3; round++)
        for (size_t k = 0; k < sizeof subjects / sizeof *subjects; k++) {
            const char *s = subjects[k];
            rules_iter it;
            rules_match mt, ref;
            size_t n = 0, off = 0;
            rules_iter_start(&it, m, s, strlen(s));
            while (rules_next(&it, &mt)) {
                assert_true(rules_find(m, s, strlen(s), off, &ref));
                assert_memory_equal(&mt, &ref, sizeof mt);
                off = ref.start + ref.len;
                n++;
            }
            assert_false(rules_next(&it, &mt)); /* stays at the end */
            assert_int_equal(n, want[k]);
        }
    rules_matcher_free(m);
    rules_free(rs);
}

static void expect_error(const char *y, const char *needle)
{
    char err[512] = "";
    rules *rs = rules_load_buffer(y, strlen(y), "bad.yaml", true, err, sizeof err);
    if (rs) {
        rules_free(rs);
        fail_msg("accepted: %s", y);
    }
    if (!strstr(err, needle))
        fail_msg("error '%s' does not contain '%s'", err, needle);
}

static void test_bad_rules(void **state)
{
    (void)state;
    /* bad regex: file, line and PCRE2's message */
    expect_error("patterns:\n  - name: x\n    platform: p\n    regex: 'ami-(['\n",
                 "bad.yaml:4: regex: missing terminating ] for character class");
    expect_error("patterns:\n  - name: x\n    platform: p\n    regex: 'a*'\n",
                 "bad.yaml:4: regex matches the empty string");
    expect_error("patterns:\n  - name: x\n    regex: 'abc'\n", "needs name, platform and regex");
    expect_error("resources:\n  aws_instance: [\"a..b\"]\n", "bad.yaml:2:");
    expect_error("resources:\n  aws_instance: [\"a[0].b\"]\n", "not an attribute path");
    expect_error("resources: [1, 2]\n", "resources must map");
    expect_error("resource: {}\n", "bad.yaml:1: unknown key 'resource'");
    expect_error("patterns:\n  - name: x\n    platform: p\n    regex: abc\n    colour: red\n",
                 "unknown pattern key 'colour'");
    expect_error("patterns: [\n", "bad.yaml:");
}

static void test_rules_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-rules-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[600], err[512];
    snprintf(path, sizeof path, "%s/extra.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("resources:\n  my_vm: [image_ref]\n", f);
    fclose(f);
    rules *rs = rules_load(dir, err, sizeof err);
    assert_non_null(rs);
    const char *const *paths;
    assert_int_equal(rules_attributes(rs, "my_vm", &paths), 1);
    rules_free(rs);
    f = fopen(path, "w");
    fputs("patterns:\n  - {name: b, platform: p, regex: '(unclosed'}\n", f);
    fclose(f);
    assert_null(rules_load(dir, err, sizeof err));
    assert_non_null(strstr(err, "extra.yaml:2: regex:"));
    unlink(path);
    assert_null(rules_load(dir, err, sizeof err)); /* no rule files in it */
    rmdir(dir);
    assert_null(rules_load("/nonexistent/rules", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/rules"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_aws_patterns),   cmocka_unit_test(test_azure_gce_docker),
        cmocka_unit_test(test_attributes),     cmocka_unit_test(test_user_rules),
        cmocka_unit_test(test_pattern_groups), cmocka_unit_test(test_iter_and_memo),
        cmocka_unit_test(test_bad_rules),      cmocka_unit_test(test_rules_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
