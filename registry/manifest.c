/* Packer manifest post-processor files -> reg_import. Pure: bytes in,
 * structs out, no store, no clock.
 *
 * The input is hostile until proven otherwise: every field is type-checked
 * and bounded, and every error names the file and the JSON path of the
 * field at fault ("m.json: builds[2].artifact_id: empty image ID for region
 * us-east-1"). jansson bounds nesting depth and refuses NUL bytes in
 * strings; duplicate keys are refused as ambiguous.
 *
 * Mapping (PRODUCT.md section 2, plus the choices in docs/registry.md):
 *   component_type = builder_type "." name
 *   platform       = aws (amazon-*), azure (azure-*), gce (googlecompute*),
 *                    docker (docker), else the builder type itself
 *   artifacts      = AWS: "region:ami-1,region:ami-2" -> one per region;
 *                    docker: the whole ID, region "docker";
 *                    others: the whole ID, region from custom_data
 *                    region / location, else ""
 *   source         = custom_data source_image_id, else source_ami
 *   built_at       = build_time (Unix seconds), kept for the freshness policy
 *   labels         = every other custom_data key; strings as they are,
 *                    numbers and booleans as text, objects and arrays as
 *                    compact JSON; null values are skipped. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAX_BYTES (16 * 1024 * 1024)
#define MANIFEST_MAX_BUILDS 1000
#define MANIFEST_MAX_ARTIFACTS 500
#define MANIFEST_MAX_NAME 255
#define MANIFEST_MAX_BUILD_TIME 253402300799LL /* 9999-12-31T23:59:59Z */

typedef struct mctx {
    const char *file;
    char *err;
    size_t errlen;
} mctx;

static int merr(const mctx *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int merr(const mctx *m, const char *fmt, ...)
{
    int n = snprintf(m->err, m->errlen, "%s: ", m->file);
    if (n < 0 || (size_t)n >= m->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->err + n, m->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length and control characters of a value about to be stored. */
static int check_str(const mctx *m, const char *path, const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n > max)
        return merr(m, "%s: longer than %zu bytes", path, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f)
            return merr(m, "%s: holds a control character", path);
    }
    return 0;
}

/* A required non-empty string field of o. */
static int req_string(const mctx *m, json_t *o, const char *key, const char *path, size_t max,
                      const char **out)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return merr(m, "%s.%s: missing", path, key);
    if (!json_is_string(v))
        return merr(m, "%s.%s: must be a string", path, key);
    char field[96];
    snprintf(field, sizeof field, "%s.%s", path, key);
    if (!*json_string_value(v))
        return merr(m, "%s: empty", field);
    *out = json_string_value(v);
    return check_str(m, field, *out, max);
}

/* An optional string field: NULL when absent or null. */
static int opt_string(const mctx *m, json_t *o, const char *key, const char *path, size_t max,
                      const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return merr(m, "%s.%s: must be a string", path, key);
    char field[96];
    snprintf(field, sizeof field, "%s.%s", path, key);
    *out = json_string_value(v);
    return check_str(m, field, *out, max);
}

/* build_time: Packer writes the Unix time (seconds) the build finished. An
 * optional whole number from 1970 to 9999; *out in ms, 0 when absent. */
static int opt_build_time(const mctx *m, json_t *o, const char *path, ig_time *out)
{
    json_t *v = json_object_get(o, "build_time");
    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > MANIFEST_MAX_BUILD_TIME)
        return merr(m, "%s.build_time: must be a whole number of seconds since 1970 (Unix time)",
                    path);
    *out = (ig_time)json_integer_value(v) * 1000;
    return 0;
}

static const char *platform_of(const char *builder_type)
{
    if (strncmp(builder_type, "amazon-", 7) == 0)
        return "aws";
    if (strncmp(builder_type, "azure-", 6) == 0)
        return "azure";
    if (strncmp(builder_type, "googlecompute", 13) == 0)
        return "gce";
    if (strcmp(builder_type, "docker") == 0)
        return "docker";
    return builder_type;
}

static void add_artifact(reg_import_build *b, const char *id, size_t idlen, const char *region,
                         size_t rlen)
{
    b->artifacts = xrealloc(b->artifacts, (b->n_artifacts + 1) * sizeof *b->artifacts);
    b->artifacts[b->n_artifacts].external_identifier = xstrndup(id, idlen);
    b->artifacts[b->n_artifacts].region = xstrndup(region, rlen);
    b->n_artifacts++;
}

/* "us-east-1:ami-1,us-west-1:ami-2" -> one artifact per region. */
static int split_aws(const mctx *m, const char *path, const char *s, reg_import_build *b)
{
    const char *p = s;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', len);
        if (len == 0)
            return merr(m, "%s.artifact_id: empty entry in '%.80s'", path, s);
        if (b->n_artifacts >= MANIFEST_MAX_ARTIFACTS)
            return merr(m, "%s.artifact_id: more than %d images", path, MANIFEST_MAX_ARTIFACTS);
        if (!colon) {
            if (len > REG_MAX_EXTERNAL_ID)
                return merr(m, "%s.artifact_id: entry %zu longer than %d bytes", path,
                            b->n_artifacts, REG_MAX_EXTERNAL_ID);
            add_artifact(b, p, len, "", 0);
        } else {
            size_t rlen = (size_t)(colon - p), ilen = len - rlen - 1;
            if (rlen == 0)
                return merr(m, "%s.artifact_id: empty region before '%.*s'", path,
                            (int)(ilen > 40 ? 40 : ilen), colon + 1);
            if (ilen == 0)
                return merr(m, "%s.artifact_id: empty image ID for region %.*s", path,
                            (int)(rlen > 40 ? 40 : rlen), p);
            if (rlen > REG_MAX_TEXT || ilen > REG_MAX_EXTERNAL_ID)
                return merr(m, "%s.artifact_id: entry %zu longer than %d bytes", path,
                            b->n_artifacts, REG_MAX_EXTERNAL_ID);
            add_artifact(b, colon + 1, ilen, p, rlen);
        }
        if (!end)
            return 0;
        p = end + 1;
    }
}

/* custom_data -> source and labels; region for platforms without one. */
static int read_custom_data(const mctx *m, const char *path, json_t *cd, reg_import_build *b,
                            const char **region)
{
    *region = NULL;
    if (!cd || json_is_null(cd)) {
        b->labels = json_object();
        return 0;
    }
    char field[128];
    snprintf(field, sizeof field, "%s.custom_data", path);
    if (!json_is_object(cd))
        return merr(m, "%s: must be an object", field);
    if (json_object_size(cd) > REG_MAX_LABELS)
        return merr(m, "%s: more than %d keys", field, REG_MAX_LABELS);
    const char *src = NULL, *ami = NULL, *reg = NULL, *loc = NULL;
    if (opt_string(m, cd, "source_image_id", field, REG_MAX_EXTERNAL_ID, &src) < 0 ||
        opt_string(m, cd, "source_ami", field, REG_MAX_EXTERNAL_ID, &ami) < 0 ||
        opt_string(m, cd, "region", field, REG_MAX_TEXT, &reg) < 0 ||
        opt_string(m, cd, "location", field, REG_MAX_TEXT, &loc) < 0)
        return -1;
    if (src && *src)
        b->source_external_identifier = xstrdup(src);
    else if (ami && *ami)
        b->source_external_identifier = xstrdup(ami);
    *region = reg ? reg : loc;
    b->labels = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(cd, k, v)
    {
        if (strcmp(k, "source_image_id") == 0 || strcmp(k, "source_ami") == 0 || json_is_null(v))
            continue;
        char kpath[400];
        snprintf(kpath, sizeof kpath, "%s.%.255s", field, k);
        if (!*k || strlen(k) > REG_MAX_LABEL_KEY)
            return merr(m, "%s: a key must be 1-%d bytes", field, REG_MAX_LABEL_KEY);
        char *text;
        if (json_is_string(v))
            text = xstrdup(json_string_value(v));
        else if (json_is_integer(v))
            text = xasprintf("%lld", (long long)json_integer_value(v));
        else if (json_is_boolean(v))
            text = xstrdup(json_is_true(v) ? "true" : "false");
        else {
            char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(17) |
                                        JSON_ENCODE_ANY);
            text = xstrdup(d ? d : "");
            free(d);
        }
        if (check_str(m, kpath, k, REG_MAX_LABEL_KEY) < 0 ||
            check_str(m, kpath, text, REG_MAX_LABEL_VALUE) < 0) {
            free(text);
            return -1;
        }
        json_object_set_new(b->labels, k, json_string(text));
        free(text);
    }
    return 0;
}

/* One builds[i] entry. *keep = false when it belongs to another run. */
static int read_build(const mctx *m, json_t *jb, size_t i, const char *run, reg_import_build *b,
                      bool *keep)
{
    char path[32];
    snprintf(path, sizeof path, "builds[%zu]", i);
    const char *name, *type, *artifact_id, *uuid, *region;
    if (!json_is_object(jb))
        return merr(m, "%s: must be an object", path);
    if (req_string(m, jb, "name", path, MANIFEST_MAX_NAME, &name) < 0 ||
        req_string(m, jb, "builder_type", path, MANIFEST_MAX_NAME, &type) < 0 ||
        req_string(m, jb, "artifact_id", path, 64 * 1024, &artifact_id) < 0 ||
        opt_string(m, jb, "packer_run_uuid", path, MANIFEST_MAX_NAME, &uuid) < 0 ||
        opt_build_time(m, jb, path, &b->built_at) < 0)
        return -1;
    *keep = !run || (uuid && strcmp(uuid, run) == 0);
    b->component_type = xasprintf("%s.%s", type, name);
    b->platform = xstrdup(platform_of(type));
    b->packer_run_uuid = xstrdup(uuid ? uuid : "");
    if (read_custom_data(m, path, json_object_get(jb, "custom_data"), b, &region) < 0)
        return -1;
    if (strcmp(b->platform, "aws") == 0)
        return split_aws(m, path, artifact_id, b);
    char field[64];
    snprintf(field, sizeof field, "%s.artifact_id", path);
    if (check_str(m, field, artifact_id, REG_MAX_EXTERNAL_ID) < 0)
        return -1;
    if (strcmp(b->platform, "docker") == 0)
        region = "docker";
    add_artifact(b, artifact_id, strlen(artifact_id), region ? region : "",
                 region ? strlen(region) : 0);
    return 0;
}

static void build_dispose(reg_import_build *b)
{
    free(b->component_type);
    free(b->platform);
    free(b->packer_run_uuid);
    free(b->source_external_identifier);
    json_decref(b->labels);
    for (size_t i = 0; i < b->n_artifacts; i++) {
        free(b->artifacts[i].external_identifier);
        free(b->artifacts[i].region);
    }
    free(b->artifacts);
    memset(b, 0, sizeof *b);
}

int registry_manifest_parse(const char *buf, size_t len, const char *name, bool all_runs,
                            reg_import *imp, char *err, size_t errlen)
{
    mctx m = {name ? name : "manifest", err, errlen};
    json_t *root = NULL;
    json_error_t je;
    int rc = -1;
    memset(imp, 0, sizeof *imp);
    if (len > MANIFEST_MAX_BYTES)
        return merr(&m, "larger than %d MiB", MANIFEST_MAX_BYTES / (1024 * 1024));
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        snprintf(err, errlen, "%s:%d:%d: %s", m.file, je.line, je.column, je.text);
        return -1;
    }
    if (!json_is_object(root)) {
        merr(&m, "not a Packer manifest (expected a JSON object with builds)");
        goto done;
    }
    json_t *builds = json_object_get(root, "builds");
    const char *run = NULL;
    if (!builds || json_is_null(builds)) {
        merr(&m, "builds: missing");
        goto done;
    }
    if (!json_is_array(builds)) {
        merr(&m, "builds: must be an array");
        goto done;
    }
    if (json_array_size(builds) > MANIFEST_MAX_BUILDS) {
        merr(&m, "builds: more than %d builds", MANIFEST_MAX_BUILDS);
        goto done;
    }
    json_t *jrun = json_object_get(root, "last_run_uuid");
    if (jrun && !json_is_null(jrun)) {
        if (!json_is_string(jrun)) {
            merr(&m, "last_run_uuid: must be a string");
            goto done;
        }
        run = json_string_value(jrun);
        if (check_str(&m, "last_run_uuid", run, MANIFEST_MAX_NAME) < 0)
            goto done;
    }
    if (!all_runs && (!run || !*run)) {
        merr(&m, "last_run_uuid: missing (use --all-runs to import every build)");
        goto done;
    }
    imp->builds = xcalloc(json_array_size(builds) + 1, sizeof *imp->builds);
    size_t i;
    json_t *jb;
    json_array_foreach(builds, i, jb)
    {
        bool keep = false;
        reg_import_build *b = &imp->builds[imp->n_builds];
        if (read_build(&m, jb, i, all_runs ? NULL : run, b, &keep) < 0) {
            build_dispose(b);
            goto done;
        }
        if (keep)
            imp->n_builds++;
        else
            build_dispose(b);
    }
    if (imp->n_builds == 0) {
        if (json_array_size(builds) == 0)
            merr(&m, "builds: empty, nothing to import");
        else
            merr(&m, "builds: no build has packer_run_uuid %s (last_run_uuid)", run);
        goto done;
    }
    imp->fingerprint = run && *run ? xstrdup(run) : NULL;
    rc = 0;
done:
    json_decref(root);
    if (rc < 0)
        registry_import_dispose(imp);
    return rc;
}

void registry_import_dispose(reg_import *imp)
{
    if (!imp)
        return;
    for (size_t i = 0; i < imp->n_builds; i++)
        build_dispose(&imp->builds[i]);
    free(imp->builds);
    free(imp->bucket);
    free(imp->fingerprint);
    free(imp->description);
    json_decref(imp->bucket_labels);
    for (size_t i = 0; i < imp->n_channels; i++)
        free(imp->channels[i]);
    free(imp->channels);
    memset(imp, 0, sizeof *imp);
}
