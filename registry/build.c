/* Builds and artifacts, and the API flow that publishes a version build by
 * build (create version -> create builds -> mark each BUILD_DONE).
 *
 * Every write here goes through the same two rules: a complete version
 * never changes, and when the last build of a version is done the version
 * completes and takes the bucket's next number. Each change also re-applies
 * the inheritance rule, since a new source image or a new artifact can make
 * versions parents or children of each other. External identifiers are
 * stored twice, as given and ASCII-lowercased: lookups compare the
 * lowercase copy so Azure IDs match whatever their case. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const build_statuses[] = {"BUILD_UNSET", "BUILD_RUNNING", "BUILD_DONE",
                                             "BUILD_FAILED", "BUILD_CANCELLED"};

bool reg_build_status_valid(const char *s)
{
    for (size_t i = 0; s && i < sizeof build_statuses / sizeof build_statuses[0]; i++)
        if (strcmp(s, build_statuses[i]) == 0)
            return true;
    return false;
}

int reg_build_fields_check(registry *r, const reg_build_fields *f, const char *what, char *err,
                           size_t errlen)
{
    char field[160];
#define CHECK_TEXT(val, name, max, required)                                                       \
    do {                                                                                           \
        snprintf(field, sizeof field, "%s.%s", what, name);                                        \
        if ((required) && (!(val) || !*(val)))                                                     \
            return reg_fail(r, REG_EINVAL, err, errlen, "%s: missing", field);                     \
        if (reg_text_check(r, val, max, field, err, errlen) < 0)                                   \
            return -1;                                                                             \
    } while (0)
    CHECK_TEXT(f->component_type, "component_type", REG_MAX_TEXT, true);
    /* Packer's CreateBuild sends no platform: it comes with the artifacts on
     * the UpdateBuild that marks the build done, and a done build needs it */
    if (f->status && strcmp(f->status, "BUILD_DONE") == 0 && (!f->platform || !*f->platform))
        return reg_fail(r, REG_EINVAL, err, errlen,
                        "%s.platform: missing (a BUILD_DONE build needs "
                        "the platform of its artifacts)",
                        what);
    CHECK_TEXT(f->platform, "platform", REG_MAX_TEXT, false);
    CHECK_TEXT(f->packer_run_uuid, "packer_run_uuid", REG_MAX_TEXT, false);
    CHECK_TEXT(f->source, "source_external_identifier", REG_MAX_EXTERNAL_ID, false);
    CHECK_TEXT(f->parent_version_id, "parent_version_id", REG_MAX_ID, false);
    CHECK_TEXT(f->parent_channel_id, "parent_channel_id", REG_MAX_ID, false);
#undef CHECK_TEXT
    if (!reg_build_status_valid(f->status))
        return reg_fail(r, REG_EINVAL, err, errlen,
                        "%s.status: '%.40s' is not one of BUILD_UNSET, BUILD_RUNNING, BUILD_DONE, "
                        "BUILD_FAILED, BUILD_CANCELLED",
                        what, f->status ? f->status : "");
    snprintf(field, sizeof field, "%s.labels", what);
    return reg_labels_check(r, f->labels, field, err, errlen);
}

int reg_artifact_check(registry *r, const char *external_id, const char *region, const char *what,
                       char *err, size_t errlen)
{
    char field[160];
    snprintf(field, sizeof field, "%s.external_identifier", what);
    if (!external_id || !*external_id)
        return reg_fail(r, REG_EINVAL, err, errlen, "%s: missing", field);
    if (reg_text_check(r, external_id, REG_MAX_EXTERNAL_ID, field, err, errlen) < 0)
        return -1;
    snprintf(field, sizeof field, "%s.region", what);
    return reg_text_check(r, region, REG_MAX_TEXT, field, err, errlen);
}

/* What a build's fields are stored as: labels as text, the source (NULL
 * when empty) and its lowercase copy. */
typedef struct build_cols {
    char *labels;
    const char *source;
    char *lower;
    const char *parent_version, *parent_channel; /* NULL when empty */
} build_cols;

static build_cols build_cols_of(const reg_build_fields *f)
{
    build_cols c;
    c.labels = reg_labels_dump(json_is_object(f->labels) ? f->labels : NULL);
    c.source = f->source && *f->source ? f->source : NULL;
    c.lower = reg_lower(c.source);
    c.parent_version = f->parent_version_id && *f->parent_version_id ? f->parent_version_id : NULL;
    c.parent_channel = f->parent_channel_id && *f->parent_channel_id ? f->parent_channel_id : NULL;
    return c;
}

static void build_cols_dispose(build_cols *c)
{
    free(c->labels);
    free(c->lower);
}

int reg_build_insert(registry *r, const reg_ctx *ctx, const char *version_id,
                     const reg_build_fields *f, char out_id[ULID_LEN + 1], char *err, size_t errlen)
{
    reg_new_id(out_id);
    build_cols c = build_cols_of(f);
    int64_t rc =
        db_run(r->d,
               "INSERT INTO builds (id, version_id, component_type, platform, status,"
               " labels, packer_run_uuid, source_external_identifier, source_lower,"
               " parent_version_id, parent_channel_id, built_at, created_at, updated_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "tttttttttttTTT", out_id, version_id, f->component_type,
               f->platform ? f->platform : "", f->status, c.labels,
               f->packer_run_uuid ? f->packer_run_uuid : "", c.source, c.lower, c.parent_version,
               c.parent_channel, f->built_at > 0 ? f->built_at : IG_TIME_NONE, ctx->now, ctx->now);
    build_cols_dispose(&c);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int reg_artifact_insert(registry *r, const reg_ctx *ctx, const char *build_id,
                        const char *external_id, const char *region, char *err, size_t errlen)
{
    char id[ULID_LEN + 1];
    reg_new_id(id);
    char *lower = reg_lower(external_id);
    int64_t rc = db_run(r->d,
                        "INSERT INTO artifacts (id, build_id, external_identifier, external_lower,"
                        " region, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                        "tttttT", id, build_id, external_id, lower, region ? region : "", ctx->now);
    free(lower);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* A row of builds LEFT JOIN artifacts: a new build object when the build
 * changes (rows come ordered by build), and its artifact if it has one. */
static void build_row(db_stmt *s, size_t n, void *arr)
{
    const char *bid = db_column_text(s, 0);
    json_t *cur = n ? json_array_get(arr, json_array_size(arr) - 1) : NULL;
    if (!cur || strcmp(json_string_value(json_object_get(cur, "id")), bid) != 0) {
        cur = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:[], s:o, s:o, s:o}", "id", bid,
            "version_id", db_column_text(s, 1), "component_type", db_column_text(s, 2), "platform",
            db_column_text(s, 3), "status", db_column_text(s, 4), "labels",
            reg_labels_load(db_column_text(s, 5)), "packer_run_uuid", db_column_text(s, 6),
            "source_external_identifier", reg_str_json(db_column_text(s, 7)), "parent_version_id",
            reg_str_json(db_column_text(s, 14)), "parent_channel_id",
            reg_str_json(db_column_text(s, 15)), "artifacts", "created_at",
            reg_time_json(db_column_time(s, 8)), "updated_at", reg_time_json(db_column_time(s, 9)),
            "built_at", reg_time_json(db_column_time(s, 16)));
        json_array_append_new(arr, cur);
    }
    if (!db_column_is_null(s, 10))
        json_array_append_new(json_object_get(cur, "artifacts"),
                              json_pack("{s:s, s:s, s:s, s:o}", "id", db_column_text(s, 10),
                                        "external_identifier", db_column_text(s, 11), "region",
                                        db_column_text(s, 12), "created_at",
                                        reg_time_json(db_column_time(s, 13))));
}

#define BUILD_COLS                                                                                 \
    "b.id, b.version_id, b.component_type, b.platform, b.status, b.labels,"                        \
    " b.packer_run_uuid, b.source_external_identifier, b.created_at, b.updated_at,"                \
    " a.id, a.external_identifier, a.region, a.created_at, b.parent_version_id,"                   \
    " b.parent_channel_id, b.built_at FROM builds b LEFT JOIN artifacts a ON a.build_id = b.id"

json_t *reg_builds_json(registry *r, const char *version_id, const char *build_id, char *err,
                        size_t errlen)
{
    /* one query: builds LEFT JOIN artifacts, grouped here */
    return reg_query_json(r, build_row, err, errlen,
                          "SELECT " BUILD_COLS " WHERE b.version_id = ?"
                          " AND (CAST(? AS TEXT) IS NULL OR b.id = ?) ORDER BY b.id, a.id",
                          "ttt", version_id, build_id, build_id);
}

/* The rows of a set of versions' builds, each to its version's array. */
typedef struct builds_set {
    const char *const *ids;
    size_t n, hint;
    json_t **out;
} builds_set;

static void builds_set_row(db_stmt *s, size_t n, void *arg)
{
    builds_set *bs = arg;
    (void)n;
    size_t i = reg_id_index(bs->ids, bs->n, db_column_text(s, 1), &bs->hint);
    if (i != SIZE_MAX)
        build_row(s, json_array_size(bs->out[i]), bs->out[i]);
}

int reg_builds_json_set(registry *r, const char *const *ids, size_t n, json_t **out, char *err,
                        size_t errlen)
{
    builds_set bs = {ids, n, 0, out};
    for (size_t i = 0; i < n; i++)
        out[i] = json_array();
    return reg_query_set(r, ids, n, builds_set_row, &bs, err, errlen,
                         "SELECT " BUILD_COLS " WHERE b.version_id IN (" DB_SET ")"
                         " ORDER BY b.version_id, b.id, a.id",
                         "S") < 0
               ? -1
               : 0;
}

/* ---- API flow --------------------------------------------------------- */

/* Bucket + version, refusing a complete version (REG_ECONFLICT). */
static int load_open_version(registry *r, const char *bucket, const char *ref, reg_brow *b,
                             reg_vrow *v, char *err, size_t errlen)
{
    if (reg_version_find(r, bucket, ref, b, v, err, errlen) < 0)
        return -1;
    if (v->number > 0) {
        char name[32];
        return reg_fail(r, REG_ECONFLICT, err, errlen,
                        "version %s of bucket '%s' is complete; a complete version cannot change",
                        reg_vrow_name(v, name), bucket);
    }
    return 0;
}

static const char *opt_string(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Reads build fields from an API object into f (borrowing its strings).
 * base: the current values for a patch (NULL for a create). A key whose
 * value is JSON null is absent: hcp-sdk-go sends nulls for what it was not
 * given ("artifacts": null on every CreateBuild and UpdateBuild). */
static int fields_from_json(registry *r, json_t *spec, const reg_build_fields *base,
                            reg_build_fields *f, char *err, size_t errlen)
{
    static const char *const keys[] = {"component_type",
                                       "platform",
                                       "status",
                                       "packer_run_uuid",
                                       "source_external_identifier",
                                       "parent_version_id",
                                       "parent_channel_id"};
    if (!json_is_object(spec))
        return reg_fail(r, REG_EINVAL, err, errlen, "build: must be a JSON object");
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(spec, keys[i]);
        if (v && !json_is_string(v) && !json_is_null(v))
            return reg_fail(r, REG_EINVAL, err, errlen, "build.%s: must be a string", keys[i]);
    }
    if (base)
        *f = *base;
    else
        memset(f, 0, sizeof *f);
#define TAKE(field, key)                                                                           \
    if (opt_string(spec, key))                                                                     \
    f->field = opt_string(spec, key)
    TAKE(component_type, "component_type");
    TAKE(platform, "platform");
    TAKE(status, "status");
    TAKE(packer_run_uuid, "packer_run_uuid");
    TAKE(source, "source_external_identifier");
    TAKE(parent_version_id, "parent_version_id");
    TAKE(parent_channel_id, "parent_channel_id");
#undef TAKE
    if (!f->status)
        f->status = "BUILD_UNSET";
    if (json_object_get(spec, "labels") && !json_is_null(json_object_get(spec, "labels")))
        f->labels = json_object_get(spec, "labels");
    return reg_build_fields_check(r, f, "build", err, errlen);
}

/* spec.artifacts, NULL when absent or null (borrowed). */
static json_t *artifacts_of(json_t *spec)
{
    json_t *a = json_object_get(spec, "artifacts");
    return json_is_null(a) ? NULL : a;
}

/* Validates spec.artifacts (array of {external_identifier, region}). */
static int artifacts_check(registry *r, json_t *arts, char *err, size_t errlen)
{
    if (!arts)
        return 0;
    if (!json_is_array(arts))
        return reg_fail(r, REG_EINVAL, err, errlen, "build.artifacts: must be an array");
    size_t i;
    json_t *a;
    json_array_foreach(arts, i, a)
    {
        char what[64];
        snprintf(what, sizeof what, "build.artifacts[%zu]", i);
        json_t *region = json_object_get(a, "region");
        if (!json_is_object(a) || !json_is_string(json_object_get(a, "external_identifier")) ||
            (region && !json_is_string(region) && !json_is_null(region)))
            return reg_fail(r, REG_EINVAL, err, errlen,
                            "%s: must be an object with string external_identifier and region",
                            what);
        if (reg_artifact_check(r, opt_string(a, "external_identifier"), opt_string(a, "region"),
                               what, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int artifacts_insert(registry *r, const reg_ctx *ctx, const char *build_id, json_t *arts,
                            char *err, size_t errlen)
{
    size_t i;
    json_t *a;
    json_array_foreach(arts, i, a)
    {
        if (reg_artifact_insert(r, ctx, build_id, opt_string(a, "external_identifier"),
                                opt_string(a, "region"), err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* After the builds of v changed: v completes when they are all done
 * (audited), and the inheritance rule is applied again. */
static int builds_changed(registry *r, const reg_ctx *ctx, reg_vrow *v, char *err, size_t errlen)
{
    bool completed;
    char name[32];
    if (reg_version_complete_if_done(r, ctx, v, &completed, err, errlen) < 0)
        return -1;
    if (completed &&
        (reg_audit(r, ctx, "version.complete", v->bucket_name, reg_vrow_name(v, name),
                   json_pack("{s:s, s:s}", "fingerprint", v->fingerprint, "version_id", v->id), err,
                   errlen) < 0 ||
         reg_event_version(r, ctx, "complete", v->id, NULL, err, errlen) < 0))
        return -1;
    return reg_inherit_sync(r, ctx, v, err, errlen);
}

/* After a build change: builds_changed, and the build object. */
static json_t *after_build_change(registry *r, const reg_ctx *ctx, reg_vrow *v,
                                  const char *build_id, char *err, size_t errlen)
{
    if (builds_changed(r, ctx, v, err, errlen) < 0)
        return NULL;
    json_t *arr = reg_builds_json(r, v->id, build_id, err, errlen);
    json_t *b = arr ? json_incref(json_array_get(arr, 0)) : NULL;
    json_decref(arr);
    if (arr && !b)
        reg_fail(r, REG_ENOTFOUND, err, errlen, "build '%s' does not exist", build_id);
    return b;
}

json_t *registry_build_create(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              json_t *spec, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    reg_build_fields f;
    char id[ULID_LEN + 1];
    json_t *out = NULL;
    if (fields_from_json(r, spec, NULL, &f, err, errlen) < 0 ||
        artifacts_check(r, artifacts_of(spec), err, errlen) < 0)
        return NULL;
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (load_open_version(r, bucket, ref, &b, &v, err, errlen) == 0 &&
        reg_build_insert(r, ctx, v.id, &f, id, err, errlen) == 0 &&
        artifacts_insert(r, ctx, id, artifacts_of(spec), err, errlen) == 0 &&
        reg_audit(
            r, ctx, "build.create", bucket, f.component_type,
            json_pack("{s:s, s:s, s:s}", "version_id", v.id, "build_id", id, "status", f.status),
            err, errlen) == 0)
        out = after_build_change(r, ctx, &v, id, err, errlen);
    out = reg_tx_end_json(r, out, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* The build object build_id of version v (new reference); NULL after a
 * failure, REG_ENOTFOUND (naming ref) when v has no such build. */
static json_t *build_one(registry *r, const reg_vrow *v, const char *ref, const char *build_id,
                         char *err, size_t errlen)
{
    json_t *arr = reg_builds_json(r, v->id, build_id, err, errlen);
    if (!arr)
        return NULL;
    json_t *b = json_incref(json_array_get(arr, 0));
    json_decref(arr);
    if (!b)
        reg_fail(r, REG_ENOTFOUND, err, errlen, "build '%.60s' of version '%s' does not exist",
                 build_id, ref);
    return b;
}

/* The fields of a build object (borrowing its strings). */
static void fields_of(json_t *build, reg_build_fields *f)
{
    *f = (reg_build_fields){
        .component_type = opt_string(build, "component_type"),
        .platform = opt_string(build, "platform"),
        .status = opt_string(build, "status"),
        .packer_run_uuid = opt_string(build, "packer_run_uuid"),
        .source = opt_string(build, "source_external_identifier"),
        .labels = json_object_get(build, "labels"),
        .parent_version_id = opt_string(build, "parent_version_id"),
        .parent_channel_id = opt_string(build, "parent_channel_id"),
    };
}

/* Writes f to build_id and, when arts is given, puts arts in place of its
 * artifacts. */
static int build_write(registry *r, const reg_ctx *ctx, const char *build_id,
                       const reg_build_fields *f, json_t *arts, char *err, size_t errlen)
{
    build_cols c = build_cols_of(f);
    int64_t rc =
        db_run(r->d,
               "UPDATE builds SET component_type = ?, platform = ?, status = ?,"
               " labels = ?, packer_run_uuid = ?, source_external_identifier = ?,"
               " source_lower = ?, parent_version_id = ?, parent_channel_id = ?, updated_at = ?"
               " WHERE id = ?",
               "tttttttttTt", f->component_type, f->platform ? f->platform : "", f->status,
               c.labels, f->packer_run_uuid ? f->packer_run_uuid : "", c.source, c.lower,
               c.parent_version, c.parent_channel, ctx->now, build_id);
    build_cols_dispose(&c);
    if (rc < 0 ||
        (arts && db_run(r->d, "DELETE FROM artifacts WHERE build_id = ?", "t", build_id) < 0))
        return reg_dbfail(r, err, errlen);
    return arts ? artifacts_insert(r, ctx, build_id, arts, err, errlen) : 0;
}

json_t *registry_build_update(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                              const char *build_id, json_t *patch, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    reg_build_fields base, f;
    json_t *cur = NULL, *out = NULL, *arts = artifacts_of(patch);
    if (reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    if (load_open_version(r, bucket, ref, &b, &v, err, errlen) == 0 &&
        (cur = build_one(r, &v, ref, build_id, err, errlen)) != NULL) {
        fields_of(cur, &base);
        if (fields_from_json(r, patch, &base, &f, err, errlen) == 0 &&
            artifacts_check(r, arts, err, errlen) == 0 &&
            build_write(r, ctx, build_id, &f, arts, err, errlen) == 0 &&
            reg_audit(r, ctx, "build.update", bucket, f.component_type,
                      json_pack("{s:s, s:s, s:s}", "version_id", v.id, "build_id", build_id,
                                "status", f.status),
                      err, errlen) == 0)
            out = after_build_change(r, ctx, &v, build_id, err, errlen);
    }
    out = reg_tx_end_json(r, out, err, errlen);
    json_decref(cur);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

/* One build of version ref (one: build_id) or all its builds. */
static json_t *builds_read(registry *r, const char *bucket, const char *ref, bool one,
                           const char *build_id, char *err, size_t errlen)
{
    reg_brow b;
    reg_vrow v;
    json_t *out = NULL;
    if (reg_version_find(r, bucket, ref, &b, &v, err, errlen) == 0)
        out = one ? build_one(r, &v, ref, build_id, err, errlen)
                  : reg_builds_json(r, v.id, NULL, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return out;
}

json_t *registry_build_get(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           const char *build_id, char *err, size_t errlen)
{
    (void)ctx;
    REG_CALL(r);
    return builds_read(r, bucket, ref, true, build_id, err, errlen);
}

json_t *registry_build_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                            char *err, size_t errlen)
{
    (void)ctx;
    REG_CALL(r);
    return builds_read(r, bucket, ref, false, NULL, err, errlen);
}

int registry_build_delete(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                          const char *build_id, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_brow b = {0};
    reg_vrow v = {0};
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = load_open_version(r, bucket, ref, &b, &v, err, errlen);
    int64_t n = rc < 0 ? 0
                       : db_run(r->d, "DELETE FROM builds WHERE id = ? AND version_id = ?", "tt",
                                build_id, v.id);
    if (n < 0)
        rc = reg_dbfail(r, err, errlen);
    else if (rc == 0 && n == 0)
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "build '%.60s' of version '%s' does not exist",
                      build_id, ref);
    if (rc == 0)
        rc = reg_audit(r, ctx, "build.delete", bucket, build_id,
                       json_pack("{s:s}", "version_id", v.id), err, errlen);
    /* the remaining builds may all be done now */
    if (rc == 0)
        rc = builds_changed(r, ctx, &v, err, errlen);
    rc = reg_tx_end(r, rc, err, errlen);
    reg_vrow_dispose(&v);
    reg_brow_dispose(&b);
    return rc;
}
