/* Fuzz driver: registry_manifest_parse, Packer manifest post-processor
 * files as `imagegate import` and the registry API take them.
 *
 * Parsed twice (last run only, every run). Properties of a success: what
 * the parser promises in registry.h -- at least one build, every build
 * with a component type and platform, bounded counts, labels an object of
 * strings -- and registry_import_dispose leaves the struct empty either
 * way. */
#include "tests/fuzz/fuzz.h"

#include <jansson.h>
#include <string.h>

#include "registry/registry.h"

static void check(const reg_import *imp)
{
    FUZZ_CHECK(imp->n_builds > 0 && imp->builds, "success without builds");
    FUZZ_CHECK(imp->n_builds <= 1000, "%zu builds", imp->n_builds);
    for (size_t i = 0; i < imp->n_builds; i++) {
        const reg_import_build *b = &imp->builds[i];
        FUZZ_CHECK(b->component_type && *b->component_type, "build %zu: no component type", i);
        FUZZ_CHECK(b->platform && *b->platform, "build %zu: no platform", i);
        FUZZ_CHECK(b->n_artifacts <= 500 && (b->n_artifacts == 0 || b->artifacts),
                   "build %zu: %zu artifacts", i, b->n_artifacts);
        for (size_t j = 0; j < b->n_artifacts; j++)
            FUZZ_CHECK(b->artifacts[j].external_identifier && b->artifacts[j].region,
                       "build %zu artifact %zu incomplete", i, j);
        if (b->labels) {
            FUZZ_CHECK(json_is_object(b->labels), "build %zu: labels not an object", i);
            const char *k;
            json_t *v;
            json_object_foreach(b->labels, k, v)
                FUZZ_CHECK(json_is_string(v), "build %zu: label %s is not a string", i, k);
        }
    }
    /* the fingerprint (last_run_uuid by default) is checked by registry_import */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int all_runs = 0; all_runs < 2; all_runs++) {
        reg_import imp;
        memset(&imp, 0, sizeof imp);
        char err[512] = "";
        int rc = registry_manifest_parse((const char *)data, size, "fuzz.json", all_runs, &imp, err,
                                         sizeof err);
        if (rc == 0)
            check(&imp);
        else
            FUZZ_CHECK(err[0] != '\0', "an error without a message");
        registry_import_dispose(&imp);
        FUZZ_CHECK(imp.builds == NULL && imp.n_builds == 0, "dispose left builds");
    }
    return 0;
}
