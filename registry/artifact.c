/* Artifact lookup: which versions hold an image. The answer carries the
 * version's state at ctx->now (status, effective revocation), taken from
 * the version object so that the scan, the API and the CLI see one truth. */
#include "registry/reg_internal.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

typedef struct match {
    char *external_id, *platform, *region, *component_type, *version_id, *build_id;
} match;

static void match_dispose(match *m)
{
    free(m->external_id);
    free(m->platform);
    free(m->region);
    free(m->component_type);
    free(m->version_id);
    free(m->build_id);
}

static json_t *match_json(registry *r, const reg_ctx *ctx, const match *m, char *err, size_t errlen)
{
    reg_vrow v;
    bool found;
    if (reg_version_load_id(r, m->version_id, &v, &found, err, errlen) < 0)
        return NULL;
    json_t *vj = found ? reg_version_json(r, ctx, &v, err, errlen) : NULL;
    json_t *out = NULL;
    if (vj) {
#define F(k) json_incref(json_object_get(vj, k))
        out = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
            "s:s}",
            "external_identifier", m->external_id, "platform", m->platform, "region", m->region,
            "component_type", m->component_type, "bucket_name", v.bucket_name, "version", F("name"),
            "version_id", v.id, "fingerprint", F("fingerprint"), "status", F("status"), "revoke_at",
            F("revoke_at"), "revocation_type", F("revocation_type"), "revocation_message",
            F("revocation_message"), "revocation_author", F("revocation_author"),
            "revocation_inherited_from", F("revocation_inherited_from"), "build_id", m->build_id);
#undef F
    }
    json_decref(vj);
    reg_vrow_dispose(&v);
    return out;
}

json_t *registry_artifact_find(registry *r, const reg_ctx *ctx, const char *id,
                               const char *platform, const char *region, char *err, size_t errlen)
{
    REG_CALL(r);
    if (!id || !*id) {
        reg_fail(r, REG_EINVAL, err, errlen, "artifact: empty image ID");
        return NULL;
    }
    char *lower = reg_lower(id);
    db_stmt *s = db_query(r->d,
                          "SELECT a.external_identifier, b.platform, a.region, b.component_type,"
                          " v.id, b.id FROM artifacts a"
                          " JOIN builds b ON b.id = a.build_id"
                          " JOIN versions v ON v.id = b.version_id"
                          " JOIN buckets bk ON bk.id = v.bucket_id"
                          " WHERE a.external_lower = ?"
                          " AND (CAST(? AS TEXT) IS NULL OR b.platform = ?)"
                          " AND (CAST(? AS TEXT) IS NULL OR a.region = ?)"
                          " ORDER BY bk.name, v.number, a.region, a.id",
                          "ttttt", lower, platform, platform, region, region);
    free(lower);
    if (!s) {
        reg_dbfail(r, err, errlen);
        return NULL;
    }
    match *ms = NULL;
    size_t n = 0, cap = 0;
    int rc;
    while ((rc = db_step(s)) == 1) {
        xgrow((void **)&ms, &cap, n + 1, sizeof *ms);
        match *m = &ms[n++];
        m->external_id = db_column_dup(s, 0);
        m->platform = db_column_dup(s, 1);
        m->region = db_column_dup(s, 2);
        m->component_type = db_column_dup(s, 3);
        m->version_id = db_column_dup(s, 4);
        m->build_id = db_column_dup(s, 5);
    }
    db_finalize(s);
    json_t *arr = NULL;
    if (rc < 0) {
        reg_dbfail(r, err, errlen);
    } else {
        arr = json_array();
        for (size_t i = 0; i < n; i++) {
            json_t *j = match_json(r, ctx, &ms[i], err, errlen);
            if (!j) {
                json_decref(arr);
                arr = NULL;
                break;
            }
            json_array_append_new(arr, j);
        }
    }
    for (size_t i = 0; i < n; i++)
        match_dispose(&ms[i]);
    free(ms);
    return arr;
}
