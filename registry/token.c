/* API tokens, and the OAuth2 access tokens issued for them. The secret is
 * shown once and never stored: the table keeps the hex SHA-256 of it. A presented secret is hashed,
 * looked up by hash, and the stored hash compared again in constant time (CRYPTO_memcmp), so
 * neither the lookup nor the comparison reveals how much of a guess was
 * right. Secrets look like "igt_" + 43 base64url characters (32 random
 * bytes): recognisable in a leaked log, long enough never to be guessed.
 * registry_token_hashes hands the hashes alone (with roles, never names) to
 * the server, which keeps them in memory to decide from a request's header
 * block how large a body it may send (webhook/tokens.c). Checking a token
 * only reads: the server records last_used_at apart, at most once a minute
 * per token (registry_token_touch), so reads keep working when the store
 * takes no writes.
 *
 * An API token is also an OAuth2 client (client id = its name, client
 * secret = its secret): registry_oauth_issue gives it an access token,
 * "igo_" + 43 characters, of which oauth_tokens keeps the hash, bound to
 * the API token's hash (so revoking the API token, which deletes its row,
 * deletes them too, and a token re-made under the same name never inherits
 * them). An access token authenticates with its API token's name and role
 * until it expires. */
#include "registry/reg_internal.h"

#include "common/hex.h"
#include "common/xalloc.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_PREFIX "igt_"
#define ACCESS_PREFIX "igo_"
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

/* prefix (4 characters) + 43 base64url characters of 32 random bytes. */
static char *new_secret(const char *prefix)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char raw[TOKEN_BYTES + 2] = {0};
    ig_random_bytes(raw, TOKEN_BYTES);
    size_t plen = strlen(prefix);
    char *s = xmalloc(plen + (TOKEN_BYTES * 4 + 2) / 3 + 1);
    char *p = s + plen;
    memcpy(s, prefix, plen);
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
    OPENSSL_cleanse(raw, sizeof raw);
    return s;
}

static bool name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= 1 && n <= TOKEN_MAX_NAME;
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '-' || c == '_' || c == '.';
    }
    return ok;
}

static int check_name(registry *r, const char *name, char *err, size_t errlen)
{
    if (name_ok(name))
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
    char *s = new_secret(TOKEN_PREFIX);
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
    /* its access tokens die with it (the foreign key cascades too) */
    int64_t access = db_run(r->d,
                            "DELETE FROM oauth_tokens WHERE api_hash IN"
                            " (SELECT hash FROM api_tokens WHERE name = ?)",
                            "t", name);
    int64_t n = access < 0 ? -1 : db_run(r->d, "DELETE FROM api_tokens WHERE name = ?", "t", name);
    int rc = 0;
    if (n < 0)
        rc = reg_dbfail(r, err, errlen);
    else if (n == 0)
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "token '%s' does not exist", name);
    else
        rc = reg_audit(r, ctx, "token.revoke", NULL, name,
                       json_pack("{s:I}", "access_tokens", (json_int_t)access), err, errlen);
    return reg_tx_end(r, rc, err, errlen);
}

/* The name, role and stored hash of the token whose secret hashes to hash:
 * an API token, or (access) the API token an unexpired access token was
 * issued for. *found false when none. */
static int auth_lookup(registry *r, const reg_ctx *ctx, bool access, const char *hash,
                       char name[TOKEN_MAX_NAME + 1], reg_role *role, bool *found, char *err,
                       size_t errlen)
{
    db_stmt *s = access ? db_query(r->d,
                                   "SELECT t.name, t.role, o.hash FROM oauth_tokens o"
                                   " JOIN api_tokens t ON t.hash = o.api_hash"
                                   " WHERE o.hash = ? AND o.expires_at > ?",
                                   "tT", hash, ctx->now)
                        : db_query(r->d, "SELECT name, role, hash FROM api_tokens WHERE hash = ?",
                                   "t", hash);
    if (!s)
        return reg_dbfail(r, err, errlen);
    int rc = db_step(s);
    *found = false;
    if (rc == 1) {
        const char *stored = db_column_text(s, 2);
        *found = stored && strlen(stored) == 64 && CRYPTO_memcmp(stored, hash, 64) == 0 &&
                 registry_role_parse(db_column_text(s, 1), role) == 0;
        snprintf(name, TOKEN_MAX_NAME + 1, "%s", db_column_text(s, 0));
    }
    db_finalize(s);
    return rc < 0 ? reg_dbfail(r, err, errlen) : 0;
}

int registry_token_auth(registry *r, const reg_ctx *ctx, const char *secret, reg_role *role,
                        char *name, size_t namelen, char *err, size_t errlen)
{
    REG_CALL(r);
    char hash[65];
    char tname[TOKEN_MAX_NAME + 1] = "";
    bool ok = false;
    if (!secret || !*secret || strlen(secret) > 256)
        return reg_fail(r, REG_ENOTFOUND, err, errlen, "unknown or revoked token");
    sha256_hex(secret, hash);
    bool access = strncmp(secret, ACCESS_PREFIX, sizeof ACCESS_PREFIX - 1) == 0;
    if (auth_lookup(r, ctx, access, hash, tname, role, &ok, err, errlen) < 0)
        return -1;
    if (!ok)
        return reg_fail(r, REG_ENOTFOUND, err, errlen,
                        access ? "unknown, expired or revoked access token"
                               : "unknown or revoked token");
    if (name && namelen)
        snprintf(name, namelen, "%s", tname);
    return 0;
}

int registry_token_touch(registry *r, const char *name, ig_time used, char *err, size_t errlen)
{
    REG_CALL(r);
    /* never moves last_used_at back: two servers may record out of order */
    if (db_run(r->d,
               "UPDATE api_tokens SET last_used_at = ? WHERE name = ?"
               " AND (last_used_at IS NULL OR last_used_at < ?)",
               "TtT", used, name, used) < 0)
        return reg_dbfail(r, err, errlen);
    return 0;
}

/* Checks client credentials in constant time with respect to the secret:
 * the secret is hashed and compared with the stored hash (or, for a name
 * that is not a token, with a hash nobody's secret has) either way. Fills
 * api_hash (the API token's stored hash). */
static int client_check(registry *r, const char *client_id, const char *client_secret,
                        char api_hash[65], bool *ok, char *err, size_t errlen)
{
    static const char nobody[65] =
        "0000000000000000000000000000000000000000000000000000000000000000";
    char hash[65];
    bool known = false;
    *ok = false;
    size_t slen = client_secret ? strlen(client_secret) : 0;
    sha256_hex(slen <= 256 ? (client_secret ? client_secret : "") : "", hash);
    memcpy(api_hash, nobody, sizeof nobody);
    if (name_ok(client_id)) {
        db_stmt *s = db_query(r->d, "SELECT hash FROM api_tokens WHERE name = ?", "t", client_id);
        if (!s)
            return reg_dbfail(r, err, errlen);
        int rc = db_step(s);
        const char *stored = rc == 1 ? db_column_text(s, 0) : NULL;
        if (stored && strlen(stored) == 64) {
            memcpy(api_hash, stored, 65);
            known = true;
        }
        db_finalize(s);
        if (rc < 0)
            return reg_dbfail(r, err, errlen);
    }
    bool same = CRYPTO_memcmp(api_hash, hash, 64) == 0;
    *ok = known && same && slen >= 1 && slen <= 256;
    OPENSSL_cleanse(hash, sizeof hash);
    return 0;
}

int registry_oauth_issue(registry *r, const reg_ctx *ctx, const char *client_id,
                         const char *client_secret, int64_t lifetime_ms, char **access_token,
                         char *err, size_t errlen)
{
    REG_CALL(r);
    char api_hash[65], hash[65];
    bool ok;
    *access_token = NULL;
    if (reg_tx_begin(r, err, errlen) < 0)
        return -1;
    int rc = client_check(r, client_id, client_secret, api_hash, &ok, err, errlen);
    if (rc == 0 && !ok)
        rc = reg_fail(r, REG_ENOTFOUND, err, errlen, "invalid client credentials");
    char *tok = rc == 0 ? new_secret(ACCESS_PREFIX) : NULL;
    if (tok) {
        sha256_hex(tok, hash);
        if (db_run(r->d, "DELETE FROM oauth_tokens WHERE expires_at <= ?", "T", ctx->now) < 0 ||
            db_run(r->d,
                   "INSERT INTO oauth_tokens (hash, api_hash, created_at, expires_at)"
                   " VALUES (?, ?, ?, ?)",
                   "ttTT", hash, api_hash, ctx->now, ctx->now + lifetime_ms) < 0 ||
            db_run(r->d, "UPDATE api_tokens SET last_used_at = ? WHERE hash = ?", "Tt", ctx->now,
                   api_hash) < 0)
            rc = reg_dbfail(r, err, errlen);
    }
    if (reg_tx_end(r, rc, err, errlen) == 0) {
        *access_token = tok;
        return 0;
    }
    if (tok) {
        OPENSSL_cleanse(tok, strlen(tok));
        free(tok);
    }
    return -1;
}

int registry_token_hashes(registry *r, reg_token_hash **out, size_t *n, char *err, size_t errlen)
{
    REG_CALL(r);
    reg_token_hash *v = NULL;
    size_t len = 0, cap = 0;
    *out = NULL;
    *n = 0;
    /* OAuth access tokens too (their API token's role): Packer authenticates
     * with one and uploads SBOMs larger than --max-body-bytes. Expired ones
     * not yet deleted only let a body be read that the store then refuses. */
    db_stmt *s = db_query(r->d,
                          "SELECT hash, role FROM api_tokens UNION ALL"
                          " SELECT o.hash, a.role FROM oauth_tokens o"
                          " JOIN api_tokens a ON a.hash = o.api_hash ORDER BY 1",
                          NULL);
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

void reg_sha256_hex(const char *s, char out[65])
{
    sha256_hex(s, out);
}
