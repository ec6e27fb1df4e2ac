/* SBOMs attached to builds (registry.h): store, list, download tokens.
 *
 * The registry does not read SBOMs: the caller (webhook, cli) parses and
 * checks the document with sbom/ and hands over the packages and the wire
 * form (base64 of zstd), which is stored as it came so a download gives the
 * uploader's bytes back. One transaction writes the SBOM row, its package
 * rows (name_lower filled here for the search indexes of 010_sbom) and the
 * audit entry; replacing an SBOM deletes the old one first (its packages
 * and tokens go with it, ON DELETE CASCADE).
 *
 * A download token is 32 random bytes in hex; only its SHA-256 and expiry
 * are stored, so every replica of a shared store can serve it, and a copy
 * of the store opens nothing. Expired tokens are pruned whenever a new one
 * is handed out. */
#include "registry/reg_internal.h"

#include "common/hex.h"
#include "common/xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SBOM_COLS                                                                                  \
    "s.id, s.name, s.format, s.spec_version, s.json_bytes, s.sha256, s.package_count,"             \
    " s.build_id, s.author_id, s.created_at"

/* ---- the build an SBOM belongs to -------------------------------------- */

static void build_row(db_stmt *s, size_t n, void *arg)
{
    json_t *arr = arg;
    (void)n;
    json_array_append_new(arr,
                          json_pack("{s:s, s:s, s:s}", "id", db_column_text(s, 0), "component_type",
                                    db_column_text(s, 1), "status", db_column_text(s, 2)));
}

/* The build of v that ref names (an id, or the component type of exactly
 * one build; NULL: the only build), into id; its status into done. */
static int build_resolve(registry *r, const reg_vrow *v, const char *ref, char id[ULID_LEN + 1],
                         bool *done, char *err, size_t errlen)
{
    json_t *builds = reg_query_json(r, build_row, err, errlen,
                                    "SELECT id, component_type, status FROM builds"
                                    " WHERE version_id = ? ORDER BY created_at, id",
                                    "t", v->id);
    if (!builds)
        return -1;
    json_t *hit = NULL, *b;
    size_t i, hits = 0;
    json_array_foreach(builds, i, b)
    {
        if (ref && strcmp(ref, json_string_value(json_object_get(b, "id"))) == 0) {
            hit = b; /* an id wins over a component type */
            hits = 1;
            break;
        }
        if (!ref || strcmp(ref, json_string_value(json_object_get(b, "component_type"))) == 0) {
            hit = b;
            hits++;
        }
    }
    int rc = 0;
    char name[32];
    if (hits == 1) {
        snprintf(id, ULID_LEN + 1, "%s", json_string_value(json_object_get(hit, "id")));
        *done = strcmp(json_string_value(json_object_get(hit, "status")), "BUILD_DONE") == 0;
    } else if (!ref && json_array_size(builds) == 0) {
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "version %s of bucket '%s' has no build",
                      reg_vrow_name(v, name), v->bucket_name);
    } else {
        char *list = json_dumps(builds, JSON_COMPACT);
        if (!ref)
            rc = reg_fail(r, REG_EINVAL, err, errlen,
                          "version %s of bucket '%s' has several builds: name one (its id or "
                          "component type); its builds: %.300s",
                          reg_vrow_name(v, name), v->bucket_name, list);
        else
            rc = reg_fail(r, hits ? REG_EINVAL : REG_ENOTFOUND, err, errlen,
                          "build %s of version %s of bucket '%s': %s; its builds: %.300s", ref,
                          reg_vrow_name(v, name), v->bucket_name,
                          hits ? "several builds have that component type: give a build id"
                               : "no such build id or component type",
                          list);
        free(list);
    }
    json_decref(builds);
    return rc;
}

int reg_sbom_locate(registry *r, const char *bucket, const char *ref, const char *build,
                    reg_vrow *v, char id[ULID_LEN + 1], bool *done, char *err, size_t errlen)
{
    reg_brow b;
    int rc = reg_version_find(r, bucket, ref, &b, v, err, errlen);
    reg_brow_dispose(&b);
    if (rc == 0)
        rc = build_resolve(r, v, build, id, done, err, errlen);
    return rc;
}

/* ---- the SBOM object ----------------------------------------------------- */

static void sbom_row(db_stmt *s, size_t n, void *arg)
{
    (void)n;
    json_array_append_new(
        arg,
        json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:I, s:s, s:s, s:o}", "id", db_column_text(s, 0),
                  "name", db_column_text(s, 1), "format", db_column_text(s, 2), "spec_version",
                  db_column_text(s, 3), "json_bytes", (json_int_t)db_column_int64(s, 4), "sha256",
                  db_column_text(s, 5), "package_count", (json_int_t)db_column_int64(s, 6),
                  "build_id", db_column_text(s, 7), "author_id", db_column_text(s, 8), "created_at",
                  reg_time_json(db_column_time(s, 9))));
}

static json_t *sbom_get(registry *r, const char *build_id, const char *name, char *err,
                        size_t errlen)
{
    json_t *arr =
        reg_query_json(r, sbom_row, err, errlen,
                       "SELECT " SBOM_COLS " FROM sboms s WHERE s.build_id = ? AND s.name = ?",
                       "tt", build_id, name);
    json_t *one = arr ? json_incref(json_array_get(arr, 0)) : NULL;
    json_decref(arr);
    if (arr && !one)
        reg_fail(r, REG_ENOTFOUND, err, errlen, "build %s has no SBOM named '%s'", build_id, name);
    return one;
}

/* ---- put ------------------------------------------------------------------ */

static int insert_packages(registry *r, const char *sbom_id, const char *build_id,
                           const reg_vrow *v, const reg_sbom *s, char *err, size_t errlen)
{
    for (size_t i = 0; i < s->n_packages; i++) {
        const reg_package *p = &s->packages[i];
        char *lower = reg_lower(p->name);
        int64_t rc = db_run(r->d,
                            "INSERT INTO sbom_packages (sbom_id, seq, build_id, version_id,"
                            " bucket_id, name, name_lower, version, purl, type)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            "titttttttt", sbom_id, (int64_t)i, build_id, v->id, v->bucket_id,
                            p->name, lower, p->version, p->purl, p->type);
        free(lower);
        if (rc < 0)
            return reg_dbfail(r, err, errlen);
    }
    return 0;
}

static int insert_sbom(registry *r, const reg_ctx *ctx, const char *id, const char *build_id,
                       const reg_vrow *v, const reg_sbom *s, char *err, size_t errlen)
{
    if (db_run(r->d,
               "INSERT INTO sboms (id, build_id, version_id, bucket_id, name, format,"
               " spec_version, zstd_b64, json_bytes, sha256, package_count, author_id, created_at)"
               " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               "ttttttttititT", id, build_id, v->id, v->bucket_id, s->name, s->format,
               s->spec_version, s->zstd_b64, s->json_bytes, s->sha256, (int64_t)s->n_packages,
               ctx->author, ctx->now) < 0)
        return reg_dbfail(r, err, errlen);
    if (insert_packages(r, id, build_id, v, s, err, errlen) < 0)
        return -1;
    char name[32];
    return reg_audit(r, ctx, "sbom.add", v->bucket_name, reg_vrow_name(v, name),
                     json_pack("{s:s, s:s, s:s, s:s, s:I, s:s}", "build_id", build_id, "name",
                               s->name, "format", s->format, "fingerprint", v->fingerprint,
                               "packages", (json_int_t)s->n_packages, "sha256", s->sha256),
                     err, errlen);
}

/* An SBOM of that name already on the build: 1 = the same document (keep),
 * 0 = none or replaced, -1 = refused or failed. */
static int existing(registry *r, const char *build_id, bool build_done, const reg_sbom *s,
                    char *err, size_t errlen)
{
    db_stmt *st = db_query(r->d, "SELECT id, sha256 FROM sboms WHERE build_id = ? AND name = ?",
                           "tt", build_id, s->name);
    if (!st)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(st);
    char *id = rc == 1 ? db_column_dup(st, 0) : NULL;
    bool same = rc == 1 && strcmp(db_column_text(st, 1), s->sha256) == 0;
    db_finalize(st);
    int out = 0;
    if (rc < 0)
        out = reg_dbfail(r, err, errlen);
    else if (id && same)
        out = 1;
    else if (id && build_done)
        out = reg_fail(r, REG_ECONFLICT, err, errlen,
                       "build %s is done and holds another SBOM named '%s'; SBOM '%s' already "
                       "exists",
                       build_id, s->name, s->name);
    else if (id && db_run(r->d, "DELETE FROM sboms WHERE id = ?", "t", id) < 0)
        out = reg_dbfail(r, err, errlen);
    free(id);
    return out;
}

json_t *registry_sbom_put(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                          const char *build, const reg_sbom *s, bool *created, char *err,
                          size_t errlen)
{
    REG_CALL(r);
    if (created)
        *created = false;
    if (reg_text_check(r, s->name, 64, "SBOM name", err, errlen) < 0 ||
        reg_tx_begin(r, err, errlen) < 0)
        return NULL;
    reg_vrow v;
    char build_id[ULID_LEN + 1], id[ULID_LEN + 1];
    bool done = false;
    json_t *out = NULL;
    int rc = reg_sbom_locate(r, bucket, ref, build, &v, build_id, &done, err, errlen);
    if (rc == 0)
        rc = existing(r, build_id, done, s, err, errlen);
    if (rc == 0) {
        reg_new_id(id);
        rc = insert_sbom(r, ctx, id, build_id, &v, s, err, errlen);
        if (rc == 0 && created)
            *created = true;
    }
    if (rc >= 0)
        out = sbom_get(r, build_id, s->name, err, errlen);
    reg_vrow_dispose(&v);
    return reg_tx_end_json(r, out, err, errlen);
}

json_t *registry_sbom_list(registry *r, const reg_ctx *ctx, const char *bucket, const char *ref,
                           const char *build, char *err, size_t errlen)
{
    (void)ctx;
    REG_CALL(r);
    reg_vrow v;
    char build_id[ULID_LEN + 1];
    bool done;
    json_t *out = NULL;
    if (reg_sbom_locate(r, bucket, ref, build, &v, build_id, &done, err, errlen) == 0)
        out = reg_query_json(r, sbom_row, err, errlen,
                             "SELECT " SBOM_COLS " FROM sboms s WHERE s.build_id = ?"
                             " ORDER BY s.name",
                             "t", build_id);
    reg_vrow_dispose(&v);
    return out;
}

/* ---- downloads ------------------------------------------------------------ */

int registry_sbom_download_token(registry *r, const reg_ctx *ctx, const char *bucket,
                                 const char *ref, const char *build, const char *name,
                                 ig_time expires_at, char **token, char *err, size_t errlen)
{
    REG_CALL(r);
    *token = NULL;
    reg_vrow v;
    char build_id[ULID_LEN + 1], hash[65];
    bool done;
    int rc = reg_sbom_locate(r, bucket, ref, build, &v, build_id, &done, err, errlen);
    json_t *sb = rc == 0 ? sbom_get(r, build_id, name, err, errlen) : NULL;
    reg_vrow_dispose(&v);
    if (!sb)
        return -1;
    unsigned char raw[32];
    char *tok = xmalloc(2 * sizeof raw + 1);
    ig_random_bytes(raw, sizeof raw);
    hex_encode(raw, sizeof raw, tok);
    reg_sha256_hex(tok, hash);
    if (db_run(r->d, "DELETE FROM sbom_downloads WHERE expires_at <= ?", "T", ctx->now) < 0 ||
        db_run(r->d, "INSERT INTO sbom_downloads (hash, sbom_id, expires_at) VALUES (?, ?, ?)",
               "ttT", hash, json_string_value(json_object_get(sb, "id")), expires_at) < 0) {
        json_decref(sb);
        free(tok);
        return reg_dbfail(r, err, errlen);
    }
    json_decref(sb);
    *token = tok;
    return 0;
}

void registry_sbom_blob_dispose(reg_sbom_blob *b)
{
    free(b->id);
    free(b->name);
    free(b->format);
    free(b->zstd_b64);
    free(b->sha256);
    free(b->bucket);
    free(b->fingerprint);
    memset(b, 0, sizeof *b);
}

int registry_sbom_by_token(registry *r, const reg_ctx *ctx, const char *token, reg_sbom_blob *out,
                           char *err, size_t errlen)
{
    REG_CALL(r);
    memset(out, 0, sizeof *out);
    char hash[65];
    reg_sha256_hex(token, hash);
    db_stmt *s = db_query(r->d,
                          "SELECT s.id, s.name, s.format, s.zstd_b64, s.sha256, bk.name,"
                          " v.fingerprint, s.json_bytes FROM sbom_downloads d"
                          " JOIN sboms s ON s.id = d.sbom_id"
                          " JOIN versions v ON v.id = s.version_id"
                          " JOIN buckets bk ON bk.id = s.bucket_id"
                          " WHERE d.hash = ? AND d.expires_at > ?",
                          "tT", hash, ctx->now);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        out->id = db_column_dup(s, 0);
        out->name = db_column_dup(s, 1);
        out->format = db_column_dup(s, 2);
        out->zstd_b64 = db_column_dup(s, 3);
        out->sha256 = db_column_dup(s, 4);
        out->bucket = db_column_dup(s, 5);
        out->fingerprint = db_column_dup(s, 6);
        out->json_bytes = db_column_int64(s, 7);
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : rc;
}
