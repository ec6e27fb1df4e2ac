/* What the registry keeps about itself for HCP's clients: the organization
 * and project ids it answers to, and the run-task HMAC keys made with
 * PATCH .../runtasks/hmac.
 *
 * Both live in the store, so replicas sharing a PostgreSQL database and the
 * command line agree on them. The ids are made on first use (random v4
 * UUIDs, which the HCP provider insists on) with INSERT ... ON CONFLICT DO
 * NOTHING inside a write transaction, so two replicas starting together on
 * an empty store end up with the same pair; giving ids replaces the stored
 * ones (audited), which is how an operator keeps the ids a team's Terraform
 * code already names.
 *
 * HMAC keys must be kept as they are (an HMAC is checked with the key
 * itself); they are 32 random bytes in hex, never listed or logged, and the
 * audit entry of a rotation names no key. A rotation retires the current key
 * (retired_at = now) and deletes keys retired before the caller's cutoff
 * (now - --hmac-rotation-grace): the store holds the current key and the
 * ones still inside their grace. */
#include "registry/reg_internal.h"

#include "common/hex.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define META_ORG "organization_id"
#define META_PROJECT "project_id"
#define META_CREATED "ids_created_at"

/* ---- organization and project ------------------------------------------- */

/* The value of key into out (size n); *found false when there is none. */
static int meta_get(registry *r, const char *key, char *out, size_t n, bool *found, char *err,
                    size_t errlen)
{
    *found = false;
    db_stmt *s = db_query(r->d, "SELECT value FROM registry_meta WHERE key = ?", "t", key);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    if (rc == 1) {
        snprintf(out, n, "%s", db_column_text(s, 0));
        *found = true;
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* Sets key (replace: overwrite a value that is there; else keep it). */
static int meta_put(registry *r, const reg_ctx *ctx, const char *key, const char *value,
                    bool replace, char *err, size_t errlen)
{
    int64_t rc = replace
                     ? db_run(r->d,
                              "INSERT INTO registry_meta (key, value, updated_at) VALUES (?, ?, ?)"
                              " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
                              " updated_at = excluded.updated_at",
                              "ttT", key, value, ctx->now)
                     : db_run(r->d,
                              "INSERT INTO registry_meta (key, value, updated_at) VALUES (?, ?, ?)"
                              " ON CONFLICT (key) DO NOTHING",
                              "ttT", key, value, ctx->now);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

/* One id: made when missing, replaced when want differs (audited). */
static int id_ensure(registry *r, const reg_ctx *ctx, const char *key, const char *want,
                     char out[IG_UUID_LEN + 1], char *err, size_t errlen)
{
    bool found;
    char cur[IG_UUID_LEN + 1] = "", made[IG_UUID_LEN + 1];
    if (meta_get(r, key, cur, sizeof cur, &found, err, errlen) < 0)
        return -1;
    if (want && (!found || strcmp(cur, want) != 0)) {
        if (meta_put(r, ctx, key, want, true, err, errlen) < 0 ||
            reg_audit(r, ctx, "registry.ids", NULL, key,
                      json_pack("{s:s, s:o}", "value", want, "previous",
                                found ? json_string(cur) : json_null()),
                      err, errlen) < 0)
            return -1;
        snprintf(out, IG_UUID_LEN + 1, "%s", want);
        return 0;
    }
    if (found) {
        snprintf(out, IG_UUID_LEN + 1, "%s", cur);
        return 0;
    }
    ig_uuid_new(made);
    if (meta_put(r, ctx, key, made, false, err, errlen) < 0)
        return -1;
    snprintf(out, IG_UUID_LEN + 1, "%s", made);
    return 0;
}

/* Lower case, so that the same id given in either case is the same id. */
static int check_id(registry *r, const char *what, const char *id, char out[IG_UUID_LEN + 1],
                    char *err, size_t errlen)
{
    if (!ig_uuid_valid(id))
        return reg_fail(r, REG_EINVAL, err, errlen,
                        "%s '%.60s': must be a UUID (8-4-4-4-12 hex digits)", what, id);
    for (int i = 0; i <= IG_UUID_LEN; i++)
        out[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    return 0;
}

int registry_ids(registry *r, const reg_ctx *ctx, const char *org, const char *project,
                 reg_ids *out, char *err, size_t errlen)
{
    REG_CALL(r);
    char worg[IG_UUID_LEN + 1], wproj[IG_UUID_LEN + 1], created[32];
    bool found;
    memset(out, 0, sizeof *out);
    if ((org && check_id(r, "organization id", org, worg, err, errlen) < 0) ||
        (project && check_id(r, "project id", project, wproj, err, errlen) < 0))
        return -1;
    snprintf(created, sizeof created, "%lld", (long long)ctx->now);
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = id_ensure(r, ctx, META_ORG, org ? worg : NULL, out->organization_id, err, errlen);
    if (rc == 0)
        rc = id_ensure(r, ctx, META_PROJECT, project ? wproj : NULL, out->project_id, err, errlen);
    if (rc == 0)
        rc = meta_put(r, ctx, META_CREATED, created, false, err, errlen);
    if (rc == 0)
        rc = meta_get(r, META_CREATED, created, sizeof created, &found, err, errlen);
    if (reg_tx_end(r, rc, err, errlen) < 0)
        return -1;
    out->created_at = found ? strtoll(created, NULL, 10) : ctx->now;
    return 0;
}

/* ---- run-task HMAC keys ------------------------------------------------- */

void registry_hmac_keys_free(char **keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        OPENSSL_cleanse(keys[i], strlen(keys[i]));
        free(keys[i]);
    }
    free(keys);
}

typedef struct keylist {
    char **v;
    size_t n, cap;
    bool has_current;
} keylist;

static void key_row(db_stmt *s, size_t n, void *arg)
{
    keylist *k = arg;
    if (n == 0)
        k->has_current = db_column_is_null(s, 1);
    xgrow((void **)&k->v, &k->cap, k->n + 1, sizeof *k->v);
    k->v[k->n++] = db_column_dup(s, 0);
}

int registry_hmac_keys(registry *r, ig_time retired_after, char ***keys, size_t *n,
                       bool *has_current, char *err, size_t errlen)
{
    REG_CALL(r);
    keylist k = {0};
    *keys = NULL;
    *n = 0;
    *has_current = false;
    if (reg_query_rows(r, 0, key_row, &k, err, errlen,
                       "SELECT key, retired_at FROM runtask_hmac_keys"
                       " WHERE retired_at IS NULL OR retired_at >= ?"
                       " ORDER BY CASE WHEN retired_at IS NULL THEN 0 ELSE 1 END,"
                       " created_at DESC, id DESC",
                       "T", retired_after) < 0) {
        registry_hmac_keys_free(k.v, k.n);
        return -1;
    }
    *keys = k.v;
    *n = k.n;
    *has_current = k.has_current;
    return 0;
}

int registry_hmac_rotate(registry *r, const reg_ctx *ctx, ig_time prune_before, char **key,
                         char *err, size_t errlen)
{
    REG_CALL(r);
    unsigned char raw[32];
    char hex[65], id[ULID_LEN + 1];
    *key = NULL;
    ig_random_bytes(raw, sizeof raw);
    hex_encode(raw, sizeof raw, hex);
    OPENSSL_cleanse(raw, sizeof raw);
    reg_new_id(id);
    if (reg_tx_begin(r, err, errlen) < 0) {
        OPENSSL_cleanse(hex, sizeof hex);
        return -1;
    }
    int rc = 0;
    if ((db_run(r->d, "UPDATE runtask_hmac_keys SET retired_at = ? WHERE retired_at IS NULL", "T",
                ctx->now) < 0 ||
         db_run(r->d, "DELETE FROM runtask_hmac_keys WHERE retired_at < ?", "T", prune_before) <
             0 ||
         db_run(r->d,
                "INSERT INTO runtask_hmac_keys (id, key, created_by, created_at, retired_at)"
                " VALUES (?, ?, ?, ?, NULL)",
                "tttT", id, hex, ctx->author, ctx->now) < 0))
        rc = reg_dbfail(r, err, errlen);
    else
        rc = reg_audit(r, ctx, "runtask.hmac_rotate", NULL, id, NULL, err, errlen);
    if (reg_tx_end(r, rc, err, errlen) == 0)
        *key = xstrdup(hex);
    OPENSSL_cleanse(hex, sizeof hex);
    return *key ? 0 : -1;
}
