/* Publishing a parsed Packer manifest: bucket, version, builds, artifacts,
 * completion, inheritance and channels in ONE transaction -- an import that
 * fails anywhere (a bad field, a refused channel, the disk) leaves the
 * registry exactly as before.
 *
 * Idempotence: a version is identified by (bucket, fingerprint). Importing
 * again into a complete version with the same builds (component type,
 * platform, source image and artifacts; labels are not compared) changes
 * nothing at all: no row, no audit entry, no channel move, *created = false.
 * The same fingerprint with different builds is refused (a complete version
 * is immutable). An existing INCOMPLETE version with that fingerprint (made
 * through the API) has its builds replaced by the manifest's and completes. */
#include "registry/reg_internal.h"

#include "common/strbuf.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, joined list of strings (new string); sorts items in place. */
static char *join_sorted(char **items, size_t n, char sep)
{
    qsort(items, n, sizeof *items, cmp_str);
    strbuf sb = STRBUF_INIT;
    strbuf_puts(&sb, "");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(&sb, items[i]);
        strbuf_putc(&sb, sep);
    }
    return strbuf_steal(&sb);
}

/* One build's identity: type, platform, source and its artifacts. */
static char *build_signature(const char *type, const char *platform, const char *source,
                             char **arts, size_t n)
{
    char *a = join_sorted(arts, n, ',');
    char *sig = xasprintf("%s|%s|%s|%s", type, platform, source ? source : "", a);
    free(a);
    return sig;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static char *import_signature(const reg_import *imp)
{
    char **sigs = xcalloc(imp->n_builds + 1, sizeof *sigs);
    for (size_t i = 0; i < imp->n_builds; i++) {
        const reg_import_build *b = &imp->builds[i];
        char **arts = xcalloc(b->n_artifacts + 1, sizeof *arts);
        for (size_t k = 0; k < b->n_artifacts; k++)
            arts[k] =
                xasprintf("%s=%s", b->artifacts[k].region, b->artifacts[k].external_identifier);
        sigs[i] = build_signature(b->component_type, b->platform, b->source_external_identifier,
                                  arts, b->n_artifacts);
        free_strs(arts, b->n_artifacts);
    }
    char *s = join_sorted(sigs, imp->n_builds, '\n');
    free_strs(sigs, imp->n_builds);
    return s;
}

static char *stored_signature(json_t *builds)
{
    size_t n = json_array_size(builds), i;
    char **sigs = xcalloc(n + 1, sizeof *sigs);
    json_t *b;
    json_array_foreach(builds, i, b)
    {
        json_t *arts = json_object_get(b, "artifacts"), *a;
        size_t na = json_array_size(arts), k;
        char **as = xcalloc(na + 1, sizeof *as);
        json_array_foreach(arts, k, a)
        {
            as[k] = xasprintf("%s=%s", json_string_value(json_object_get(a, "region")),
                              json_string_value(json_object_get(a, "external_identifier")));
        }
        sigs[i] = build_signature(
            json_string_value(json_object_get(b, "component_type")),
            json_string_value(json_object_get(b, "platform")),
            json_string_value(json_object_get(b, "source_external_identifier")), as, na);
        free_strs(as, na);
    }
    char *s = join_sorted(sigs, n, '\n');
    free_strs(sigs, n);
    return s;
}

/* Everything that can be checked without the store. */
/* An imported build's fields: every imported build is done. */
static reg_build_fields import_fields(const reg_import_build *b)
{
    reg_build_fields f = {.component_type = b->component_type,
                          .platform = b->platform,
                          .status = "BUILD_DONE",
                          .packer_run_uuid = b->packer_run_uuid,
                          .source = b->source_external_identifier,
                          .labels = b->labels,
                          .built_at = b->built_at};
    return f;
}

static int import_check(registry *r, const reg_import *imp, char *err, size_t errlen)
{
    if (registry_valid_bucket_name(imp->bucket, err, errlen) < 0)
        return reg_fail(r, REG_EINVAL, NULL, 0, "bucket");
    if (!imp->fingerprint)
        return reg_fail(r, REG_EINVAL, err, errlen,
                        "no fingerprint: give --fingerprint (the manifest has no last_run_uuid)");
    if (registry_valid_fingerprint(imp->fingerprint, err, errlen) < 0)
        return reg_fail(r, REG_EINVAL, NULL, 0, "fingerprint");
    if (reg_bucket_check_fields(r, imp->description, imp->bucket_labels, err, errlen) < 0)
        return -1;
    if (imp->n_builds == 0)
        return reg_fail(r, REG_EINVAL, err, errlen, "builds: nothing to import");
    for (size_t i = 0; i < imp->n_builds; i++) {
        const reg_import_build *b = &imp->builds[i];
        char what[48];
        snprintf(what, sizeof what, "builds[%zu]", i);
        reg_build_fields f = import_fields(b);
        if (reg_build_fields_check(r, &f, what, err, errlen) < 0)
            return -1;
        if (b->n_artifacts == 0)
            return reg_fail(r, REG_EINVAL, err, errlen, "%s: no artifacts", what);
        for (size_t k = 0; k < b->n_artifacts; k++) {
            char awhat[80];
            snprintf(awhat, sizeof awhat, "%s.artifacts[%zu]", what, k);
            if (reg_artifact_check(r, b->artifacts[k].external_identifier, b->artifacts[k].region,
                                   awhat, err, errlen) < 0)
                return -1;
        }
    }
    for (size_t i = 0; i < imp->n_channels; i++)
        if (registry_valid_channel_name(imp->channels[i], err, errlen) < 0)
            return reg_fail(r, REG_EINVAL, NULL, 0, "channel");
    return 0;
}

/* Bucket of the import: created when missing, description / labels
 * updated when given and different. */
static int import_bucket(registry *r, const reg_ctx *ctx, const reg_import *imp, reg_brow *b,
                         char *err, size_t errlen)
{
    bool found;
    if (reg_bucket_lookup(r, imp->bucket, b, &found, err, errlen) < 0)
        return -1;
    if (!found)
        return reg_bucket_insert(r, ctx, imp->bucket, imp->description, imp->bucket_labels, b, err,
                                 errlen);
    char *labels = imp->bucket_labels ? reg_labels_dump(imp->bucket_labels) : xstrdup(b->labels);
    const char *desc = imp->description ? imp->description : b->description;
    int rc = 0;
    if (strcmp(desc, b->description) != 0 || strcmp(labels, b->labels) != 0) {
        if (db_run(r->d,
                   "UPDATE buckets SET description = ?, labels = ?, updated_at = ? WHERE id = ?",
                   "ttTt", desc, labels, ctx->now, b->id) < 0)
            rc = reg_dbfail(r, err, errlen);
        else
            rc = reg_audit(
                r, ctx, "bucket.update", b->name, b->name,
                json_pack("{s:s, s:o}", "description", desc, "labels", reg_labels_load(labels)),
                err, errlen);
    }
    free(labels);
    return rc;
}

static int insert_builds(registry *r, const reg_ctx *ctx, const reg_import *imp,
                         const char *version_id, size_t *n_artifacts, char *err, size_t errlen)
{
    *n_artifacts = 0;
    for (size_t i = 0; i < imp->n_builds; i++) {
        const reg_import_build *b = &imp->builds[i];
        reg_build_fields f = import_fields(b);
        char id[ULID_LEN + 1];
        if (reg_build_insert(r, ctx, version_id, &f, id, err, errlen) < 0)
            return -1;
        for (size_t k = 0; k < b->n_artifacts; k++)
            if (reg_artifact_insert(r, ctx, id, b->artifacts[k].external_identifier,
                                    b->artifacts[k].region, err, errlen) < 0)
                return -1;
        *n_artifacts += b->n_artifacts;
    }
    return 0;
}

/* The existing complete version: unchanged when the builds match, refused
 * otherwise. */
static int compare_existing(registry *r, const reg_import *imp, const reg_vrow *v, char *err,
                            size_t errlen)
{
    json_t *builds = reg_builds_json(r, v->id, NULL, err, errlen);
    if (!builds)
        return -1;
    char *have = stored_signature(builds), *want = import_signature(imp);
    int same = strcmp(have, want) == 0;
    free(have);
    free(want);
    json_decref(builds);
    if (same)
        return 0;
    char name[32];
    return reg_fail(r, REG_ECONFLICT, err, errlen,
                    "fingerprint '%s' already names complete version %s of bucket '%s' with "
                    "different builds; a complete version cannot change (use another "
                    "--fingerprint)",
                    imp->fingerprint, reg_vrow_name(v, name), imp->bucket);
}

int registry_import_check(const reg_import *imp, char *err, size_t errlen)
{
    registry scratch = {0}; /* import_check touches only errcode */
    return import_check(&scratch, imp, err, errlen);
}

json_t *registry_import(registry *r, const reg_ctx *ctx, const reg_import *imp, bool *created,
                        char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    json_t *out = NULL;
    bool completed = false;
    size_t n_artifacts = 0;
    char name[32];
    if (created)
        *created = false;
    if (import_check(r, imp, err, errlen) < 0)
        return NULL;
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (import_bucket(r, ctx, imp, &b, err, errlen) < 0)
        goto done;
    if (reg_version_load(r, &b, imp->fingerprint, &v, err, errlen) == 0) {
        if (v.number > 0) {
            if (compare_existing(r, imp, &v, err, errlen) < 0)
                goto done;
            goto unchanged;
        }
        if (db_run(r->d, "DELETE FROM builds WHERE version_id = ?", "t", v.id) < 0) {
            reg_dbfail(r, err, errlen);
            goto done;
        }
    } else if (r->errcode != REG_ENOTFOUND ||
               reg_version_insert(r, ctx, &b, imp->fingerprint, NULL, &v, err, errlen) < 0 ||
               reg_event_version(r, ctx, "create", v.id, NULL, err, errlen) < 0) {
        /* a new version: create now, complete once its builds are in, as
         * Packer's own flow would have sent them */
        goto done;
    }
    r->errcode = REG_OK;
    if (insert_builds(r, ctx, imp, v.id, &n_artifacts, err, errlen) < 0 ||
        reg_version_complete_if_done(r, ctx, &v, &completed, err, errlen) < 0)
        goto done;
    if (reg_audit(r, ctx, "version.import", b.name, reg_vrow_name(&v, name),
                  json_pack("{s:s, s:s, s:I, s:I}", "fingerprint", v.fingerprint, "version_id",
                            v.id, "builds", (json_int_t)imp->n_builds, "artifacts",
                            (json_int_t)n_artifacts),
                  err, errlen) < 0 ||
        (completed && reg_event_version(r, ctx, "complete", v.id, NULL, err, errlen) < 0) ||
        reg_inherit_sync(r, ctx, &v, err, errlen) < 0)
        goto done;
    for (size_t i = 0; i < imp->n_channels; i++)
        if (reg_channel_assign(r, ctx, &b, imp->channels[i], &v, NULL, err, errlen) < 0)
            goto done;
    if (created)
        *created = true;
unchanged:
    out = reg_version_json(r, ctx, &v, err, errlen);
done:
    if (!(out = reg_tx_end_json(r, out, err, errlen)) && created)
        *created = false;
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}
