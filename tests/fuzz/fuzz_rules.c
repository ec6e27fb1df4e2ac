/* Fuzz driver: rules_load_buffer, user rule files (YAML: patterns with
 * PCRE2 regexes, resources with attribute paths).
 *
 * A file that loads is exercised the way the scanners use it: a matcher
 * over a few fixed strings and over the input itself (every match inside
 * the subject, a search from each match's end always ends), the attribute
 * tables, the path hashes, and a small plan scanned with the rules. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "rules/rules.h"
#include "scanners/scan.h"

static const char PLAN[] =
    "{\"format_version\":\"1.2\",\"resource_changes\":[{\"address\":\"aws_instance.a\","
    "\"mode\":\"managed\",\"type\":\"aws_instance\",\"name\":\"a\",\"change\":{\"actions\":"
    "[\"create\"],\"after\":{\"ami\":\"ami-0123456789abcdef0\",\"image\":\"x\",\"tags\":"
    "{\"SourceAMI\":\"ami-0d4c3b2a1f0e9d8c7\"}},\"after_unknown\":{\"image_id\":true}}}],"
    "\"configuration\":{\"root_module\":{\"resources\":[{\"address\":\"aws_instance.a\","
    "\"type\":\"aws_instance\",\"expressions\":{\"ami\":{\"constant_value\":"
    "\"ami-0123456789abcdef0\"}}}]}}}";

static const char *const SUBJECTS[] = {
    "ami-0123456789abcdef0",
    "projects/debian-cloud/global/images/debian-12-bookworm-v20240709",
    "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Compute/images/win2022",
    "nginx@sha256:4f53e0b0ae2d4f1e0f1b1e0c5b5e8f6f3a2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e",
    "",
    "\xff\xfe not utf-8 \xc3",
};

static void find_all(rules_matcher *m, const rules *rs, const char *s, size_t len)
{
    size_t off = 0;
    rules_match mt;
    for (int guard = 0; off < len && rules_find(m, s, len, off, &mt); guard++) {
        FUZZ_CHECK(guard <= (int)len, "rules_find does not advance");
        FUZZ_CHECK(mt.len > 0 && mt.start >= off && mt.start + mt.len <= len,
                   "match [%zu,+%zu) outside [%zu,%zu)", mt.start, mt.len, off, len);
        FUZZ_CHECK(mt.lookup_start + mt.lookup_len <= len, "lookup group outside the subject");
        FUZZ_CHECK(rules_pattern_at(rs, mt.pattern) != NULL, "match names pattern %zu of %zu",
                   mt.pattern, rules_pattern_count(rs));
        off = mt.start + mt.len;
    }
    (void)rules_match_whole(m, s, len, &mt);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    rules *rs = rules_load_buffer((const char *)data, size, "fuzz.yaml", false, err, sizeof err);
    if (!rs) {
        FUZZ_CHECK(err[0] != '\0', "an error without a message");
        return 0;
    }
    rules_matcher *m = rules_matcher_new(rs);
    for (size_t i = 0; i < sizeof SUBJECTS / sizeof SUBJECTS[0]; i++)
        find_all(m, rs, SUBJECTS[i], strlen(SUBJECTS[i]));
    find_all(m, rs, (const char *)data, size);

    for (size_t i = 0; i < rules_pattern_count(rs); i++) {
        const rules_pattern *p = rules_pattern_at(rs, i);
        FUZZ_CHECK(p && p->name && p->platform && p->regex, "pattern %zu incomplete", i);
    }
    static const char *const TYPES[] = {"aws_instance", "aws_launch_template", "x", ""};
    for (size_t t = 0; t < sizeof TYPES / sizeof TYPES[0]; t++) {
        const char *const *paths;
        size_t n = rules_attributes(rs, TYPES[t], &paths);
        for (size_t i = 0; i < n; i++) {
            FUZZ_CHECK(paths[i] != NULL, "attribute path %zu of %s is NULL", i, TYPES[t]);
            size_t len = strlen(paths[i]);
            FUZZ_CHECK(rules_is_any_attribute(rs, paths[i], len),
                       "%s: path %s not known as an attribute", TYPES[t], paths[i]);
            FUZZ_CHECK(rules_is_attribute_prefix(rs, paths[i], len),
                       "%s: path %s not known as a prefix", TYPES[t], paths[i]);
        }
    }
    (void)rules_min_length(rs);
    (void)rules_path_flags(rs, rules_path_key(RULES_PATH_ROOT, "ami", 3));
    (void)rules_segment_maybe(rules_segment_filter(rs), "ami", 3);

    scan_plan *s = scan_plan_new(rs, NULL);
    scan_result *res = NULL;
    if (scan_plan_feed(s, PLAN, sizeof PLAN - 1, err, sizeof err) == 0 &&
        scan_plan_finish(s, &res, err, sizeof err) == 0)
        scan_result_free(res);
    scan_plan_free(s);

    rules_matcher_free(m);
    rules_free(rs);
    return 0;
}
