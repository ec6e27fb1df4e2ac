/* API tokens. The secret is shown once and never stored: the table keeps
 * the hex SHA-256 of it. A presented secret is hashed, looked up by hash,
 * and the stored hash compared again in constant time (CRYPTO_memcmp), so
 * neither the lookup nor the comparison reveals how much of a guess was
 * right. Secrets look like "igt_" + 43 base64url characters (32 random
 * bytes): recognisable in a leaked log, long enough never to be guessed.
 * registry_token_hashes hands the hashes alone (with roles, never names) to
 * the server, which keeps them in memory to decide from a request's header
 * block how large a body it may send (webhook/tokens.c). */
#include "registry/reg_internal.h"

#include "common/hex.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PREFIX "igt_"
#define TOKEN_BYTES 32
#define TOKEN_MAX_NAME 64

static const char *const role_names[] = {"none", "read", "write", "admin"};

const char *registry_role_name(reg_role r)
{
    return r >= REG_ROLE_NONE && r <= REG_ROLE_ADMIN ? role_names[r] : "none";
}

int registry_role_parse(const char *s, reg_role *out)
{
    for (int i = REG_ROLE_READ; i <= REG_ROLE_ADMIN; i++)
        if (s && strcmp(s, role_names[i]) == 0) {
            *out = (reg_role)i;
            return 0;
        }
    return -1;
}

/* Hex SHA-256 of s into out (65 bytes). */
static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    hex_encode(md, n < 32 ? n : 32, out);
}

static char *new_secret(void)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[TOKEN_BYTES + 2] = {0};
    ig_random_bytes(raw, TOKEN_BYTES);
    char *s = xmalloc(sizeof TOKEN_PREFIX + (TOKEN_BYTES * 4 + 2) / 3 + 1);
    char *p = s + sizeof TOKEN_PREFIX - 1;
    memcpy(s, TOKEN_PREFIX, sizeof TOKEN_PREFIX - 1);
    for (size_t i = 0; i < TOKEN_BYTES; i += 3) {
        unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
        size_t left = TOKEN_BYTES - i;
        *p++ = b64url[(v >> 18) & 63];
        *p++ = b64url[(v >> 12) & 63];
        if (left > 1)
            *p++ = b64url[(v >> 6) & 63];
        if (left > 2)
            *p++ = b64url[v & 63];
    }
    *p = '\0';
    return s;
}

static int check_name(registry *r, const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= TOKEN_MAX_NAME;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    if (ok)
        return 0;
    return reg_fail(r, REG_EINVAL, err, errlen,
                    "token name '%.60s': must be 1-%d characters of letters, digits, '-', '_' "
                    "and '.'",
                    name ? name : "", TOKEN_MAX_NAME);
}

int registry_token_create(registry *r, const reg_ctx *ctx, const char *name, reg_role role,
                          char **secret, char *err, size_t errlen)
{
    REG_CALL(r);
    *secret = NULL;
    if (check_name(r, name, err, errlen) < 0)
        return -1;
    if (role < REG_ROLE_READ || role > REG_ROLE_ADMIN)
        return reg_fail(r, REG_EINVAL, err, errlen, "role: must be read, write or admin");
    char *s = new_secret();
    char hash[65];
    sha256_hex(s, hash);
    if (reg_tx_begin(r, err, errlen) < 0)
        goto fail;
    if (db_run(r->d,
               "INSERT INTO api_tokens (name, role, hash, created_by, created_at, last_used_at)"
               " VALUES (?, ?, ?, ?, ?, NULL)",
               "ttttT", name, registry_role_name(role), hash, ctx->author, ctx->now) < 0) {
        if (db_errcode(r->d) == REG_ECONFLICT)
            reg_fail(r, REG_ECONFLICT, err, errlen, "token '%s' already exists", name);
        else
            reg_dbfail(r, err, errlen);
        reg_tx_abort(r);
        goto fail;
    }
    if (reg_audit(r, ctx, "token.create", NULL, name,
                  json_pack("{s:s}", "role", registry_role_name(role)), err, errlen) < 0) {
        reg_tx_abort(r);
        goto fail;
    }
    if (reg_tx_commit(r, err, errlen) < 0)
        goto fail;
    *secret = s;
    return 0;
fail:
    OPENSSL_cleanse(s, strlen(s));
    free(s);
    return -1;
}

static void token_row(db_stmt *s, size_t n, void *arr)
{
    (void)n;
    json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o, s:o}", "name", db_column_text(s, 0),
                                         "role", db_column_text(s, 1), "created_by",
                                         db_column_text(s, 2), "created_at",
                                         reg_time_json(db_column_time(s, 3)), "last_used_at",
                                         reg_time_json(db_column_time(s, 4))));
}

json_t *registry_token_list(registry *r, char *err, size_t errlen)
{
    REG_CALL(r);
    return reg_query_json(r, token_row, err, errlen,
                          "SELECT name, role, created_by, created_at, last_used_at FROM api_tokens"
                          " ORDER BY name",
                          NULL);
}

int registry_token_revoke(registry *r, const reg_ctx *ctx, const char *name, char *err,
                          size_t errlen)
{
    REG_CALL(r);
    if (check_name(r, name, err, errlen) < 0)
        return -1;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int64_t n = db_run(r->d, "DELETE FROM api_tokens WHERE name = ?", "t", name);
    int rc = 0;
    if (n < 0)
        rc = reg_dbfail(r, err, errlen);
    else if (n == 0)
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "token '%s' does not exist", name);
    else
        rc = reg_audit(r, ctx, "token.revoke", NULL, name, NULL, err, errlen);
    return reg_tx_end(r, rc, err, errlen);
}

int registry_token_auth(registry *r, const reg_ctx *ctx, const char *secret, reg_role *role,
                        char *name, size_t namelen, char *err, size_t errlen)
{
    REG_CALL(r);
    char hash[65];
    if (!secret || !*secret || strlen(secret) > 256)
        return reg_fail(r, REG_ENOTFOUND, err, errlen, "unknown or revoked token");
    sha256_hex(secret, hash);
    db_stmt *s =
        db_query(r->d, "SELECT name, role, hash FROM api_tokens WHERE hash = ?", "t", hash);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    bool ok = false;
    char tname[TOKEN_MAX_NAME + 1] = "";
    if (rc == 1) {
        const char *stored = db_column_text(s, 2);
        ok = stored && strlen(stored) == 64 && CRYPTO_memcmp(stored, hash, 64) == 0 &&
             registry_role_parse(db_column_text(s, 1), role) == 0;
        snprintf(tname, sizeof tname, "%s", db_column_text(s, 0));
    }
    db_finalize(s);
    if (rc < 0)
        return reg_dbfail(r, err, errlen);
    if (!ok)
        return reg_fail(r, REG_ENOTFOUND, err, errlen, "unknown or revoked token");
    if (name && namelen)
        snprintf(name, namelen, "%s", tname);
    if (db_run(r->d, "UPDATE api_tokens SET last_used_at = ? WHERE name = ?", "Tt", ctx->now,
               tname) < 0)
        return reg_dbfail(r, err, errlen);
    return 0;
}

int registry_token_hashes(registry *r, reg_token_hash **out, size_t *n, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_token_hash *v = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    db_stmt *s = db_query(r->d, "SELECT hash, role FROM api_tokens ORDER BY hash", NULL);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc;
    while ((rc = db_step(s)) == 1) {
        const char *hash = db_column_text(s, 0);
        if (!hash || strlen(hash) != 64)
            continue; /* not a hash this code wrote: matches nothing */
        xgrow((void **)&v, &cap, len + 1, sizeof *v);
        memcpy(v[len].hash, hash, 65);
        if (registry_role_parse(db_column_text(s, 1), &v[len].role) < 0)
            v[len].role = REG_ROLE_NONE;
        len++;
    }
    db_finalize(s);
    if (rc < 0) {
        free(v);
        return reg_dbfail(r, err, errlen);
    }
    *out = v;
    *n = len;
    return 0;
}
