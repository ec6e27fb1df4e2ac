/* The registry API's pure parts: routing, query strings, pages, bearer
 * tokens, request bodies, roles and answer shapes (see api.h).
 *
 * Routing splits the raw path on '/' and matches the segments against the
 * HCP Packer 2023-01-01 shapes; nothing is percent-decoded, because no valid
 * name contains a character that needs escaping -- an escape in a name
 * segment is simply an invalid name (400). {org} and {project} are taken as
 * given (one registry per server). The one ambiguous shape is
 * channels/assign: POST is the assignment, the other verbs address a channel
 * called "assign".
 *
 * Page tokens are the decimal offset of the next page for every list but
 * the audit trail, which pages by position ("<at>_<id>" of the last entry)
 * so that entries written between two calls are neither skipped nor
 * repeated. Clients treat tokens as opaque. */
#include "webhook/api.h"

#include "common/hex.h"
#include "common/numparse.h"
#include "common/strbuf.h"
#include "common/xalloc.h"
#include "sbom/sbom.h"

#include <ctype.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- registry errors ----------------------------------------------------- */

int webhook_api_status_for(int regcode)
{
    switch (regcode) {
    case REG_EINVAL:
        return 400;
    case REG_ENOTFOUND:
        return 404;
    case REG_ECONFLICT:
        return 409;
    default:
        return 503;
    }
}

/* ---- routing ------------------------------------------------------------ */

#define MAX_SEGMENTS 16
#define MAX_PATH 1024

typedef struct mop {
    int method;
    webhook_api_op op;
} mop;

const char *webhook_api_method_name(int method)
{
    switch (method) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    default:
        return "OTHER";
    }
}

/* Chooses the op for method among n choices; 405 with allow otherwise. */
static int pick(int method, const mop *m, size_t n, webhook_api_route *out, char *allow,
                size_t allowlen)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].method == method) {
            out->op = m[i].op;
            return 0;
        }
    strbuf b = STRBUF_INIT;
    for (size_t i = 0; i < n; i++)
        strbuf_printf(&b, "%s%s", i ? ", " : "", webhook_api_method_name(m[i].method));
    snprintf(allow, allowlen, "%s", b.s ? b.s : "");
    strbuf_dispose(&b);
    return 405;
}

#define PICK(...)                                                                                  \
    do {                                                                                           \
        static const mop choices_[] = {__VA_ARGS__};                                               \
        return pick(method, choices_, sizeof choices_ / sizeof choices_[0], out, allow, allowlen); \
    } while (0)

static bool is_alnum_str(const char *s, size_t min, size_t max)
{
    size_t n = strlen(s);
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]))
            return false;
    return true;
}

/* A version in a path: a fingerprint (also covers version ids), or vN. */
static int check_version(const char *s, char *err, size_t errlen)
{
    if (s[0] == 'v' && s[1] && strlen(s) <= 10) {
        const char *p = s + 1;
        while (isdigit((unsigned char)*p))
            p++;
        if (!*p)
            return 0;
    }
    return registry_valid_fingerprint(s, err, errlen) < 0 ? 400 : 0;
}

static int check_token_name(const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '-' || s[i] == '_' || s[i] == '.';
    if (ok)
        return 0;
    snprintf(err, errlen, "token name '%.60s': must be 1-64 letters, digits, '-', '_' or '.'", s);
    return 400;
}

static int check_free_segment(const char *what, const char *s, char *err, size_t errlen)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= WEBHOOK_API_MAX_SEGMENT;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] > 0x20 && (unsigned char)s[i] < 0x7f;
    if (ok)
        return 0;
    snprintf(err, errlen, "%s: must be 1-%d printable characters", what, WEBHOOK_API_MAX_SEGMENT);
    return 400;
}

static int copy_name(char *dst, size_t dstlen, const char *src)
{
    if (strlen(src) >= dstlen)
        return -1;
    strcpy(dst, src);
    return 0;
}

/* Any verb: a path of HCP's API that imagegate does not serve. */
static int not_served(webhook_api_route *out)
{
    out->op = API_NOT_SERVED;
    return 0;
}

/* A free {id} segment (runtasks/{task_type}): 1-64 letters, digits, '_'. */
static int copy_id(webhook_api_route *out, const char *what, const char *s, char *err,
                   size_t errlen)
{
    size_t n = strlen(s);
    bool ok = n >= 1 && n <= 64;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == '-';
    if (!ok) {
        snprintf(err, errlen, "%s '%.60s': must be 1-64 letters, digits, '_' or '-'", what, s);
        return 400;
    }
    strcpy(out->id, s);
    return 0;
}

/* BASE/registry, runtasks/..., enforced_blocks/...; -1 when seg is none of
 * them. */
static int route_project(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                         size_t allowlen, char *err, size_t errlen)
{
    if (strcmp(seg[0], "registry") == 0 && n == 1) {
        if (method == EVHTTP_REQ_GET)
            PICK({EVHTTP_REQ_GET, API_REGISTRY_GET});
        return not_served(out); /* PUT, PATCH, DELETE: HCP's registry life cycle */
    }
    if (strcmp(seg[0], "runtasks") == 0 && n == 2) {
        if (strcmp(seg[1], "hmac") == 0)
            PICK({EVHTTP_REQ_PATCH, API_RUNTASK_HMAC});
        if (strcmp(seg[1], "config") == 0)
            return not_served(out);
        int rc = copy_id(out, "task_type", seg[1], err, errlen);
        if (rc)
            return rc;
        PICK({EVHTTP_REQ_GET, API_RUNTASK_GET});
    }
    if (strcmp(seg[0], "enforced_blocks") == 0) {
        if (n == 3 && strcmp(seg[1], "bucket") == 0) {
            if (registry_valid_bucket_name(seg[2], err, errlen) < 0 ||
                copy_name(out->bucket, sizeof out->bucket, seg[2]) < 0)
                return 400;
            PICK({EVHTTP_REQ_GET, API_ENFORCED_BUCKET});
        }
        return n <= 6 ? not_served(out) : 404;
    }
    return -1;
}

/* .../buckets/{b}/... paths HCP has and imagegate does not serve: the
 * packages' vulnerability views, the bucket's vulnerabilities. */
static bool unserved_tail(char **seg, size_t n)
{
    static const char *const tails[] = {"packages", "vulnerabilities"};
    for (size_t i = 0; i < sizeof tails / sizeof tails[0]; i++)
        if (strcmp(seg[0], tails[i]) == 0 && n <= 3)
            return true;
    return false;
}

/* After .../builds/{id}/: sboms, sboms/{name}, packages (seg[0..n)). */
static int route_build_tail(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                            size_t allowlen, char *err, size_t errlen)
{
    if (n == 1 && strcmp(seg[0], "packages") == 0)
        PICK({EVHTTP_REQ_GET, API_BUILD_PACKAGES});
    if (strcmp(seg[0], "sboms") != 0 || n > 2)
        return 404;
    if (n == 1)
        PICK({EVHTTP_REQ_GET, API_SBOM_LIST}, {EVHTTP_REQ_PUT, API_SBOM_UPLOAD});
    if (sbom_name_check(seg[1], err, errlen) < 0)
        return 400;
    copy_name(out->sbom, sizeof out->sbom, seg[1]);
    PICK({EVHTTP_REQ_GET, API_SBOM_GET});
}

bool webhook_api_is_sbom_upload(const char *method, const char *path)
{
    static const char tail[] = "/sboms";
    size_t n = path ? strlen(path) : 0;
    while (n && path[n - 1] == '/')
        n--;
    return method && strcmp(method, "PUT") == 0 && n > sizeof tail &&
           strncmp(path, WEBHOOK_API_PREFIX, strlen(WEBHOOK_API_PREFIX)) == 0 &&
           memcmp(path + n - (sizeof tail - 1), tail, sizeof tail - 1) == 0;
}

/* .../buckets/{b}/versions/{fp}[/builds[/{id}[/...]]]: seg[0] is "versions". */
static int route_versions(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                          size_t allowlen, char *err, size_t errlen)
{
    int rc;
    if (n == 1)
        PICK({EVHTTP_REQ_GET, API_VERSION_LIST}, {EVHTTP_REQ_POST, API_VERSION_CREATE});
    if ((rc = check_version(seg[1], err, errlen)) != 0)
        return rc;
    if (copy_name(out->version, sizeof out->version, seg[1]) < 0)
        return 400;
    if (n == 2)
        PICK({EVHTTP_REQ_GET, API_VERSION_GET}, {EVHTTP_REQ_PATCH, API_VERSION_UPDATE},
             {EVHTTP_REQ_DELETE, API_VERSION_DELETE});
    if (strcmp(seg[2], "builds") != 0)
        return 404;
    if (n == 3)
        PICK({EVHTTP_REQ_GET, API_BUILD_LIST}, {EVHTTP_REQ_POST, API_BUILD_CREATE});
    if (!is_alnum_str(seg[3], 1, 64)) {
        snprintf(err, errlen, "build id '%.60s': must be 1-64 letters and digits", seg[3]);
        return 400;
    }
    copy_name(out->build, sizeof out->build, seg[3]);
    if (n > 4)
        return route_build_tail(method, seg + 4, n - 4, out, allow, allowlen, err, errlen);
    PICK({EVHTTP_REQ_GET, API_BUILD_GET}, {EVHTTP_REQ_PATCH, API_BUILD_UPDATE},
         {EVHTTP_REQ_DELETE, API_BUILD_DELETE});
}

/* .../buckets/{b}/channels[/...]: seg[0] is "channels". */
static int route_channels(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                          size_t allowlen, char *err, size_t errlen)
{
    if (n == 1)
        PICK({EVHTTP_REQ_GET, API_CHANNEL_LIST}, {EVHTTP_REQ_POST, API_CHANNEL_CREATE});
    if (n == 2 && strcmp(seg[1], "assign") == 0 && method == EVHTTP_REQ_POST) {
        out->op = API_CHANNEL_ASSIGN;
        return 0;
    }
    if (registry_valid_channel_name(seg[1], err, errlen) < 0 ||
        copy_name(out->channel, sizeof out->channel, seg[1]) < 0)
        return 400;
    if (n == 2) {
        if (strcmp(seg[1], "assign") == 0)
            PICK({EVHTTP_REQ_GET, API_CHANNEL_GET}, {EVHTTP_REQ_PATCH, API_CHANNEL_UPDATE},
                 {EVHTTP_REQ_DELETE, API_CHANNEL_DELETE}, {EVHTTP_REQ_POST, API_CHANNEL_ASSIGN});
        PICK({EVHTTP_REQ_GET, API_CHANNEL_GET}, {EVHTTP_REQ_PATCH, API_CHANNEL_UPDATE},
             {EVHTTP_REQ_DELETE, API_CHANNEL_DELETE});
    }
    if (n == 3 && strcmp(seg[2], "history") == 0)
        PICK({EVHTTP_REQ_GET, API_CHANNEL_HISTORY});
    return 404;
}

/* /v1/webhooks[/NAME[/deliveries|/redeliver]]: seg[2..n). A name follows
 * the token rules (registry_webhook_check says the same). */
static int route_webhooks(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                          size_t allowlen, char *err, size_t errlen)
{
    if (n == 2)
        PICK({EVHTTP_REQ_GET, API_WEBHOOK_LIST}, {EVHTTP_REQ_POST, API_WEBHOOK_CREATE});
    if (n > 4)
        return 404;
    if (check_token_name(seg[2], err, errlen)) {
        snprintf(err, errlen, "webhook name '%.60s': must be 1-64 letters, digits, '-', '_' or '.'",
                 seg[2]);
        return 400;
    }
    copy_name(out->webhook, sizeof out->webhook, seg[2]);
    if (n == 3)
        PICK({EVHTTP_REQ_GET, API_WEBHOOK_GET}, {EVHTTP_REQ_DELETE, API_WEBHOOK_DELETE});
    if (strcmp(seg[3], "deliveries") == 0)
        PICK({EVHTTP_REQ_GET, API_WEBHOOK_DELIVERIES});
    if (strcmp(seg[3], "redeliver") == 0)
        PICK({EVHTTP_REQ_POST, API_WEBHOOK_REDELIVER});
    return 404;
}

/* The Packer paths after ".../projects/{project}/": seg[0..n). */
static int route_packer(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                        size_t allowlen, char *err, size_t errlen)
{
    if (n == 2 && strcmp(seg[0], "_search") == 0 && strcmp(seg[1], "external_artifact") == 0)
        PICK({EVHTTP_REQ_POST, API_SEARCH_ARTIFACT});
    if (n < 1)
        return 404;
    int rc = route_project(method, seg, n, out, allow, allowlen, err, errlen);
    if (rc >= 0)
        return rc;
    if (strcmp(seg[0], "buckets") != 0)
        return 404;
    if (n == 1)
        PICK({EVHTTP_REQ_GET, API_BUCKET_LIST}, {EVHTTP_REQ_PUT, API_BUCKET_CREATE});
    if (registry_valid_bucket_name(seg[1], err, errlen) < 0 ||
        copy_name(out->bucket, sizeof out->bucket, seg[1]) < 0)
        return 400;
    if (n == 2)
        PICK({EVHTTP_REQ_GET, API_BUCKET_GET}, {EVHTTP_REQ_PATCH, API_BUCKET_UPDATE},
             {EVHTTP_REQ_DELETE, API_BUCKET_DELETE});
    if (strcmp(seg[2], "versions") == 0)
        return route_versions(method, seg + 2, n - 2, out, allow, allowlen, err, errlen);
    if (strcmp(seg[2], "channels") == 0)
        return route_channels(method, seg + 2, n - 2, out, allow, allowlen, err, errlen);
    if (n == 3 && strcmp(seg[2], "ancestry") == 0)
        PICK({EVHTTP_REQ_GET, API_ANCESTRY});
    if (n == 3 && strcmp(seg[2], "packages") == 0)
        PICK({EVHTTP_REQ_GET, API_BUCKET_PACKAGES});
    return unserved_tail(seg + 2, n - 2) ? not_served(out) : 404;
}

/* /resource-manager/2019-12-10/ + seg[0..n): the reads of one
 * organization and one project. */
static int route_rm(int method, char **seg, size_t n, webhook_api_route *out, char *allow,
                    size_t allowlen, char *err, size_t errlen)
{
    bool orgs = n >= 1 && strcmp(seg[0], "organizations") == 0;
    if (n < 1 || n > 2 || (!orgs && strcmp(seg[0], "projects") != 0))
        return 404;
    if (n == 2) {
        int rc = check_free_segment(orgs ? "organization id" : "project id", seg[1], err, errlen);
        if (rc)
            return rc;
        strcpy(out->id, seg[1]);
        if (orgs)
            PICK({EVHTTP_REQ_GET, API_RM_ORG_GET});
        PICK({EVHTTP_REQ_GET, API_RM_PROJECT_GET});
    }
    if (orgs)
        PICK({EVHTTP_REQ_GET, API_RM_ORG_LIST});
    PICK({EVHTTP_REQ_GET, API_RM_PROJECT_LIST});
}

int webhook_api_route_parse(int method, const char *path, webhook_api_route *out, char *allow,
                            size_t allowlen, char *err, size_t errlen)
{
    char buf[MAX_PATH + 1];
    char *seg[MAX_SEGMENTS];
    size_t n = 0;
    memset(out, 0, sizeof *out);
    if (allowlen)
        allow[0] = '\0';
    if (errlen)
        err[0] = '\0';
    if (!path || strlen(path) > MAX_PATH)
        return 404;
    strcpy(buf, path);
    if (buf[0] != '/')
        return 404; /* a trailing slash ends in an empty segment: 404 as well */
    for (char *p = buf + 1;;) {
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!*p || n == MAX_SEGMENTS)
            return 404; /* empty segment (//) or too deep */
        seg[n++] = p;
        if (!slash)
            break;
        p = slash + 1;
    }
    if (n >= 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "tokens") == 0) {
        if (n == 2)
            PICK({EVHTTP_REQ_GET, API_TOKEN_LIST}, {EVHTTP_REQ_POST, API_TOKEN_CREATE});
        if (n != 3)
            return 404;
        int rc = check_token_name(seg[2], err, errlen);
        if (rc)
            return rc;
        copy_name(out->token, sizeof out->token, seg[2]);
        PICK({EVHTTP_REQ_DELETE, API_TOKEN_REVOKE});
    }
    if (n >= 2 && strcmp(seg[0], "resource-manager") == 0 && strcmp(seg[1], "2019-12-10") == 0)
        return route_rm(method, seg + 2, n - 2, out, allow, allowlen, err, errlen);
    if (n >= 2 && strcmp(seg[0], "v1") == 0 && strcmp(seg[1], "webhooks") == 0)
        return route_webhooks(method, seg, n, out, allow, allowlen, err, errlen);
    /* packer / 2023-01-01 / organizations / {org} / projects / {project} / ... */
    if (n < 7 || strcmp(seg[0], "packer") != 0 || strcmp(seg[1], "2023-01-01") != 0 ||
        strcmp(seg[2], "organizations") != 0 || strcmp(seg[4], "projects") != 0)
        return 404;
    int rc = check_free_segment("organization", seg[3], err, errlen);
    if (!rc)
        rc = check_free_segment("project", seg[5], err, errlen);
    if (rc)
        return rc;
    snprintf(out->base, sizeof out->base, "/packer/2023-01-01/organizations/%s/projects/%s", seg[3],
             seg[5]);
    return route_packer(method, seg + 6, n - 6, out, allow, allowlen, err, errlen);
}

/* ---- bearer tokens --------------------------------------------------- */

int webhook_api_bearer(const char *h, char *out, size_t outlen)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return -1;
    h += 7;
    while (*h == ' ')
        h++;
    size_t n = strlen(h);
    while (n && h[n - 1] == ' ')
        n--;
    if (n < 1 || n > WEBHOOK_API_MAX_SECRET || n >= outlen)
        return -1;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)h[i] <= 0x20 || (unsigned char)h[i] >= 0x7f)
            return -1;
    memcpy(out, h, n);
    out[n] = '\0';
    return 0;
}

/* ---- query strings --------------------------------------------------- */

/* True when s is well-formed UTF-8 (no overlongs, surrogates or values
 * past U+10FFFF). */
static bool utf8_valid(const unsigned char *s)
{
    while (*s) {
        unsigned c = *s;
        size_t n = c < 0x80             ? 0
                   : (c & 0xe0) == 0xc0 ? 1
                   : (c & 0xf0) == 0xe0 ? 2
                   : (c & 0xf8) == 0xf0 ? 3
                                        : 9;
        if (n == 9 || (n == 1 && c < 0xc2) || (n == 3 && c > 0xf4))
            return false;
        for (size_t i = 1; i <= n; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        if (n == 2 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0)))
            return false;
        if (n == 3 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90)))
            return false;
        s += n + 1;
    }
    return true;
}

/* Decodes s[0..n) into a new string; NULL on a bad escape, a control
 * character or bytes that are not UTF-8. */
static char *qdecode(const char *s, size_t n)
{
    char *out = xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            c = i + 2 < n ? hex_byte(s + i + 1) : -1;
            if (c < 0) {
                free(out);
                return NULL;
            }
            i += 2;
        }
        if (c < 0x20 || c == 0x7f) {
            free(out);
            return NULL;
        }
        *o++ = (char)c;
    }
    *o = '\0';
    if (!utf8_valid((const unsigned char *)out)) {
        free(out);
        return NULL;
    }
    return out;
}

char *webhook_api_form_decode(const char *s, size_t n)
{
    return qdecode(s, n);
}

void webhook_api_query_dispose(webhook_api_query *q)
{
    for (size_t i = 0; i < q->n; i++) {
        free(q->key[i]);
        free(q->value[i]);
    }
    memset(q, 0, sizeof *q);
}

const char *webhook_api_query_get(const webhook_api_query *q, const char *key)
{
    for (size_t i = 0; i < q->n; i++)
        if (strcmp(q->key[i], key) == 0)
            return q->value[i];
    return NULL;
}

int webhook_api_query_parse(const char *query, webhook_api_query *q, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            size_t vlen = eq ? len - klen - 1 : 0;
            if (q->n == WEBHOOK_API_MAX_PARAMS) {
                snprintf(err, errlen, "query: more than %d parameters", WEBHOOK_API_MAX_PARAMS);
                return 400;
            }
            char *k = klen <= WEBHOOK_API_MAX_KEY * 3 ? qdecode(p, klen) : NULL;
            if (!k || !*k || strlen(k) > WEBHOOK_API_MAX_KEY) {
                free(k);
                snprintf(err, errlen,
                         "query: a parameter name is empty, longer than %d bytes or "
                         "badly escaped",
                         WEBHOOK_API_MAX_KEY);
                return 400;
            }
            char *v = vlen <= WEBHOOK_API_MAX_VALUE * 3 ? qdecode(eq ? eq + 1 : "", vlen) : NULL;
            if (!v || strlen(v) > WEBHOOK_API_MAX_VALUE) {
                snprintf(err, errlen, "query: %.64s: longer than %d bytes or badly escaped", k,
                         WEBHOOK_API_MAX_VALUE);
                free(k);
                free(v);
                return 400;
            }
            if (webhook_api_query_get(q, k) && strcmp(k, "sorting.order_by") != 0) {
                snprintf(err, errlen, "query: %.64s: given more than once", k);
                free(k);
                free(v);
                return 400;
            }
            q->key[q->n] = k;
            q->value[q->n] = v;
            q->n++;
        }
        if (!amp)
            break;
        p = amp + 1;
    }
    return 0;
}

size_t webhook_api_query_all(const webhook_api_query *q, const char *key, const char **out,
                             size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n && n < max; i++)
        if (strcmp(q->key[i], key) == 0)
            out[n++] = q->value[i];
    return n;
}

/* ---- pages ------------------------------------------------------------- */

int webhook_api_page_parse(const webhook_api_query *q, bool positional, webhook_api_page *p,
                           char *err, size_t errlen)
{
    memset(p, 0, sizeof *p);
    p->size = WEBHOOK_API_DEFAULT_PAGE;
    const char *size = webhook_api_query_get(q, "pagination.page_size");
    const char *tok = webhook_api_query_get(q, "pagination.next_page_token");
    const char *prev = webhook_api_query_get(q, "pagination.previous_page_token");
    char e2[160];
    if (prev && *prev) {
        snprintf(err, errlen,
                 "pagination.previous_page_token: not supported; pages only go "
                 "forward with pagination.next_page_token");
        return 400;
    }
    if (size && *size) {
        int64_t v;
        if (parse_int64("pagination.page_size", size, 0, WEBHOOK_API_MAX_PAGE, &v, e2, sizeof e2) <
            0) {
            snprintf(err, errlen, "%s", e2);
            return 400;
        }
        if (v > 0)
            p->size = (int)v;
    }
    if (tok && *tok) {
        if (strlen(tok) >= sizeof p->token ||
            (!positional &&
             parse_int64("token", tok, 0, INT32_MAX, &p->offset, e2, sizeof e2) < 0)) {
            snprintf(err, errlen, "pagination.next_page_token: not a token this server made");
            return 400;
        }
        strcpy(p->token, tok);
    }
    return 0;
}

json_t *webhook_api_page_slice(json_t *arr, const webhook_api_page *p, char **next)
{
    json_t *out = json_array();
    size_t n = json_array_size(arr);
    size_t from = (size_t)p->offset, to = from + (size_t)p->size;
    *next = NULL;
    for (size_t i = from; i < n && i < to; i++)
        json_array_append(out, json_array_get(arr, i));
    if (to < n)
        *next = xasprintf("%zu", to);
    return out;
}

json_t *webhook_api_pagination(const char *next, int size)
{
    return json_pack("{s:s, s:i}", "next_page_token", next ? next : "", "page_size", size);
}

int webhook_api_audit_token_parse(const char *token, ig_time *at, char *id, size_t idlen, char *err,
                                  size_t errlen)
{
    const char *us = token ? strchr(token, '_') : NULL;
    char num[24], e2[128];
    int64_t v;
    if (!us || (size_t)(us - token) >= sizeof num || !is_alnum_str(us + 1, 1, 40) ||
        strlen(us + 1) >= idlen) {
        snprintf(err, errlen, "pagination.next_page_token: not a token this server made");
        return 400;
    }
    memcpy(num, token, (size_t)(us - token));
    num[us - token] = '\0';
    if (parse_int64("token", num, INT64_MIN + 1, INT64_MAX, &v, e2, sizeof e2) < 0) {
        snprintf(err, errlen, "pagination.next_page_token: not a token this server made");
        return 400;
    }
    *at = v;
    strcpy(id, us + 1);
    return 0;
}

char *webhook_api_audit_token(json_t *entry)
{
    return webhook_api_position_token(entry, "at");
}

char *webhook_api_position_token(json_t *entry, const char *at_key)
{
    const char *id = json_string_value(json_object_get(entry, "id"));
    const char *at_s = json_string_value(json_object_get(entry, at_key));
    ig_time at;
    char e2[128];
    if (!id || !at_s || ig_time_parse(at_s, &at, e2, sizeof e2) < 0)
        return NULL;
    return xasprintf("%lld_%s", (long long)at, id);
}

/* ---- bodies ------------------------------------------------------------ */

json_t *webhook_api_body_parse(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(body ? body : "", len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errlen, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errlen, "the body must be a JSON object");
        return NULL;
    }
    return j;
}

int webhook_api_opt_string(json_t *o, const char *field, const char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v)) {
        snprintf(err, errlen, "%s: must be a string", field);
        return 400;
    }
    *out = json_string_value(v);
    return 0;
}

int webhook_api_opt_bool(json_t *o, const char *field, bool *out, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, field);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v)) {
        snprintf(err, errlen, "%s: must be true or false", field);
        return 400;
    }
    *out = json_is_true(v);
    return 0;
}

/* Go's zero time.Time, as hcp-sdk-go's UpdateVersionBody sends revoke_at
 * in every version PATCH ("0001-01-01T00:00:00.000Z": strfmt.DateTime is a
 * struct, which omitempty never omits): year 1, every field zero, any
 * number of zero fraction digits, Z or a zero offset. HCP reads it as
 * unset, and so do we. */
static bool go_zero_time(const char *s)
{
    static const char zero[] = "0001-01-01T00:00:00";
    if (strncmp(s, zero, sizeof zero - 1) != 0)
        return false;
    s += sizeof zero - 1;
    if (*s == '.') {
        s++;
        if (*s != '0')
            return false;
        while (*s == '0')
            s++;
    }
    return strcmp(s, "Z") == 0 || strcmp(s, "z") == 0 || strcmp(s, "+00:00") == 0 ||
           strcmp(s, "-00:00") == 0;
}

/* revoke_at or revoke_in into out->rv.revoke_at, setting out->revoke. 0 or 400. */
static int patch_revoke_time(const char *at, const char *in, ig_time now,
                             webhook_api_version_patch *out, char *err, size_t errlen)
{
    char e2[256];
    if (at) {
        if (ig_time_parse(at, &out->rv.revoke_at, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "revoke_at: %s", e2);
            return 400;
        }
        out->revoke = true;
    } else if (in) {
        int64_t ms;
        if (ig_duration_parse(in, &ms, e2, sizeof e2) < 0) {
            snprintf(err, errlen, "revoke_in: %s", e2);
            return 400;
        }
        out->rv.revoke_at = now + ms;
        out->revoke = true;
    }
    return 0;
}

/* The combinations of a parsed version PATCH that mean nothing. 0 or 400. */
static int patch_combinations(const webhook_api_version_patch *p, char *err, size_t errlen)
{
    const reg_revoke *rv = &p->rv;
    const char *why = NULL;
    if (!p->revoke && (rv->message || rv->skip_descendants || rv->keep_channels))
        why = "revocation_message, skip_descendants_revocation and disable_rollback_channels need "
              "revoke_at or revoke_in (revoke_at now, or revoke_in \"0s\", revokes at once)";
    else if (p->dry_run && (!p->revoke || p->has_complete))
        why = "dry_run: only for a revocation (revoke_at or revoke_in, without restore or "
              "complete)";
    else if (!p->revoke && !p->restore && !p->has_complete)
        why = "nothing to change: give revoke_at or revoke_in (with revocation_message), or "
              "restore: true";
    else if (p->has_complete && (p->revoke || p->restore))
        why = "complete: cannot be combined with a revocation or a restore";
    if (!why)
        return 0;
    snprintf(err, errlen, "%s", why);
    return 400;
}

int webhook_api_version_patch_parse(json_t *body, ig_time now, webhook_api_version_patch *out,
                                    char *err, size_t errlen)
{
    const char *at = NULL, *in = NULL;
    memset(out, 0, sizeof *out);
    out->rv.revoke_at = IG_TIME_NONE;
    if (!json_is_object(body)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return 400;
    }
    int rc;
    if ((rc = webhook_api_opt_string(body, "revoke_at", &at, err, errlen)) ||
        (rc = webhook_api_opt_string(body, "revoke_in", &in, err, errlen)) ||
        (rc = webhook_api_opt_string(body, "revocation_message", &out->rv.message, err, errlen)) ||
        (rc = webhook_api_opt_bool(body, "skip_descendants_revocation", &out->rv.skip_descendants,
                                   err, errlen)) ||
        (rc = webhook_api_opt_bool(body, "disable_rollback_channels", &out->rv.keep_channels, err,
                                   errlen)) ||
        (rc = webhook_api_opt_bool(body, "restore", &out->restore, err, errlen)) ||
        (rc = webhook_api_opt_bool(body, "dry_run", &out->dry_run, err, errlen)))
        return rc;
    if (at && go_zero_time(at))
        at = NULL;
    json_t *c = json_object_get(body, "complete");
    if (c && !json_is_null(c)) {
        if (!json_is_boolean(c)) {
            snprintf(err, errlen, "complete: must be true or false");
            return 400;
        }
        out->has_complete = true;
        out->complete = json_is_true(c);
    }
    if (at && in) {
        snprintf(err, errlen, "revoke_at and revoke_in: give one of them, not both");
        return 400;
    }
    if (out->restore && (at || in || out->rv.message)) {
        snprintf(err, errlen,
                 "restore: cannot be combined with revoke_at, revoke_in or "
                 "revocation_message");
        return 400;
    }
    if ((rc = patch_revoke_time(at, in, now, out, err, errlen)) != 0)
        return rc;
    return patch_combinations(out, err, errlen);
}

int webhook_api_channel_patch_parse(json_t *body, webhook_api_channel_patch *out, char *err,
                                    size_t errlen)
{
    const char *mask = NULL, *version = NULL;
    bool restricted = false;
    memset(out, 0, sizeof *out);
    if (!json_is_object(body)) {
        snprintf(err, errlen, "the body must be a JSON object");
        return 400;
    }
    int rc;
    if ((rc = webhook_api_opt_string(body, "update_mask", &mask, err, errlen)) ||
        (rc = webhook_api_opt_string(body, "version_fingerprint", &version, err, errlen)) ||
        (rc = webhook_api_opt_bool(body, "restricted", &restricted, err, errlen)))
        return rc;
    if (mask && *mask) {
        char buf[256];
        if (strlen(mask) >= sizeof buf) {
            snprintf(err, errlen, "update_mask: too long");
            return 400;
        }
        strcpy(buf, mask);
        char *save = NULL;
        for (char *f = strtok_r(buf, ",", &save); f; f = strtok_r(NULL, ",", &save)) {
            while (*f == ' ')
                f++;
            size_t n = strlen(f);
            while (n && f[n - 1] == ' ')
                f[--n] = '\0';
            if (strcmp(f, "versionFingerprint") == 0 || strcmp(f, "version_fingerprint") == 0)
                out->set_version = true;
            else if (strcmp(f, "restricted") == 0)
                out->set_restricted = true;
            else {
                snprintf(err, errlen,
                         "update_mask: '%.40s' is not versionFingerprint or "
                         "restricted",
                         f);
                return 400;
            }
        }
    } else {
        out->set_version = json_object_get(body, "version_fingerprint") != NULL;
        out->set_restricted = json_object_get(body, "restricted") != NULL &&
                              !json_is_null(json_object_get(body, "restricted"));
    }
    if (!out->set_version && !out->set_restricted) {
        snprintf(err, errlen,
                 "nothing to change: give version_fingerprint (\"\" empties the "
                 "channel) or restricted");
        return 400;
    }
    out->version = version && *version ? version : NULL;
    out->restricted = restricted;
    return 0;
}

/* ---- answers ----------------------------------------------------------- */

static json_t *get(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return v ? json_incref(v) : json_null();
}

/* borrowed: the value or the null singleton */
static json_t *get_or_null(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return v ? v : json_null();
}

void webhook_api_hcp_base(const reg_ids *ids, char *out, size_t outlen)
{
    snprintf(out, outlen, "/packer/2023-01-01/organizations/%s/projects/%s", ids->organization_id,
             ids->project_id);
}

/* HCP's keys beside imagegate's in one inherited-from object. */
static void hcp_origin(json_t *o, const char *base)
{
    if (!json_is_object(o))
        return;
    const char *bucket = json_string_value(json_object_get(o, "bucket_name"));
    const char *fp = json_string_value(json_object_get(o, "fingerprint"));
    json_object_set(o, "version_name", get_or_null(o, "version"));
    json_object_set(o, "version_fingerprint", get_or_null(o, "fingerprint"));
    if (bucket && fp)
        json_object_set_new(o, "href", json_sprintf("%s/buckets/%s/versions/%s", base, bucket, fp));
}

/* A {status} roll-up (parents, children) gains its href. */
static void hcp_href(json_t *o, const char *key, json_t *href)
{
    json_t *rollup = json_object_get(o, key);
    if (json_is_object(rollup))
        json_object_set_new(rollup, "href", href);
    else
        json_decref(href);
}

/* A bucket: HCP's identity fields and the hrefs of its roll-ups. */
static void hcp_bucket(json_t *b, const reg_ids *ids, const char *base)
{
    const char *name = json_string_value(json_object_get(b, "name"));
    json_t *count = json_object_get(b, "version_count");
    if (json_is_integer(count))
        json_object_set_new(b, "version_count",
                            json_sprintf("%" JSON_INTEGER_FORMAT, json_integer_value(count)));
    if (!name)
        return;
    json_object_set_new(b, "resource_name",
                        json_sprintf("packer/project/%s/bucket/%s", ids->project_id, name));
    json_object_set_new(b, "location",
                        json_pack("{s:s, s:s}", "organization_id", ids->organization_id,
                                  "project_id", ids->project_id));
    hcp_href(b, "parents",
             json_sprintf("%s/buckets/%s/ancestry?type=ANCESTRY_TYPE_PARENTS", base, name));
    hcp_href(b, "children",
             json_sprintf("%s/buckets/%s/ancestry?type=ANCESTRY_TYPE_CHILDREN", base, name));
}

/* A version: the href of its parents' roll-up. */
static void hcp_version(json_t *v, const char *base)
{
    const char *bucket = json_string_value(json_object_get(v, "bucket_name"));
    const char *fp = json_string_value(json_object_get(v, "fingerprint"));
    if (bucket && fp)
        hcp_href(v, "parents",
                 json_sprintf("%s/buckets/%s/ancestry?type=ANCESTRY_TYPE_PARENTS"
                              "&version_fingerprint=%s",
                              base, bucket, fp));
}

static void hcp_walk(json_t *j, const reg_ids *ids, const char *base)
{
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e)
        {
            hcp_walk(e, ids, base);
        }
        return;
    }
    if (!json_is_object(j))
        return;
    const char *k;
    json_t *v;
    json_object_foreach(j, k, v)
    {
        if (strcmp(k, "revocation_inherited_from") == 0 || strcmp(k, "inherited_from") == 0)
            hcp_origin(v, base);
        else
            hcp_walk(v, ids, base);
    }
    /* keys are added after the walk: never while iterating the object */
    if (json_object_get(j, "version_count"))
        hcp_bucket(j, ids, base);
    else if (json_object_get(j, "fingerprint") && json_is_array(json_object_get(j, "builds")))
        hcp_version(j, base);
}

void webhook_api_hcp_shape(json_t *j, const reg_ids *ids)
{
    char base[2 * IG_UUID_LEN + 64];
    webhook_api_hcp_base(ids, base, sizeof base);
    hcp_walk(j, ids, base);
}

json_t *webhook_api_rm_org(const reg_ids *ids)
{
    char created[40];
    return json_pack("{s:s, s:s, s:s, s:s, s:b}", "id", ids->organization_id, "name", "imagegate",
                     "state", "ACTIVE", "created_at",
                     ig_time_format(ids->created_at, created, sizeof created), "tfc_synced", 0);
}

json_t *webhook_api_rm_project(const reg_ids *ids)
{
    char created[40];
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:s, s:s}}", "id", ids->project_id, "name",
                     "imagegate", "description", "the registry of this imagegate", "state",
                     "ACTIVE", "created_at",
                     ig_time_format(ids->created_at, created, sizeof created), "parent", "id",
                     ids->organization_id, "type", "ORGANIZATION");
}

json_t *webhook_api_search_shape(json_t *matches)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(matches, i, m)
    {
        json_t *o = json_object();
        json_object_set_new(o, "bucket", json_pack("{s:o}", "name", get(m, "bucket_name")));
        json_object_set_new(
            o, "version",
            json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", get(m, "version_id"),
                      "name", get(m, "version"), "fingerprint", get(m, "fingerprint"), "status",
                      get(m, "status"), "revoke_at", get(m, "revoke_at"), "revocation_type",
                      get(m, "revocation_type"), "revocation_message", get(m, "revocation_message"),
                      "revocation_author", get(m, "revocation_author"), "revocation_inherited_from",
                      get(m, "revocation_inherited_from")));
        json_object_set_new(o, "build",
                            json_pack("{s:o, s:o, s:o}", "id", get(m, "build_id"), "component_type",
                                      get(m, "component_type"), "platform", get(m, "platform")));
        json_object_set_new(o, "artifact",
                            json_pack("{s:o, s:o}", "external_identifier",
                                      get(m, "external_identifier"), "region", get(m, "region")));
        json_array_append_new(out, o);
    }
    return out;
}

static bool same(const char *want, const char *have)
{
    return !want || !*want || (have && strcasecmp(want, have) == 0);
}

int webhook_api_lookup_answer(json_t *channel, const char *platform, const char *region,
                              json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const char *bucket = json_string_value(json_object_get(channel, "bucket_name"));
    const char *cname = json_string_value(json_object_get(channel, "name"));
    json_t *v = json_object_get(channel, "version");
    if (!json_is_object(v)) {
        snprintf(err, errlen, "channel '%s' of bucket '%s' holds no version", cname ? cname : "?",
                 bucket ? bucket : "?");
        return 404;
    }
    const char *vname = json_string_value(json_object_get(v, "name"));
    json_t *found_build = NULL, *found = NULL;
    size_t distinct = 0;
    strbuf seen = STRBUF_INIT;
    size_t i, k;
    json_t *b, *a;
    json_array_foreach(json_object_get(v, "builds"), i, b)
    {
        const char *bp = json_string_value(json_object_get(b, "platform"));
        if (!same(platform, bp))
            continue;
        json_array_foreach(json_object_get(b, "artifacts"), k, a)
        {
            const char *ar = json_string_value(json_object_get(a, "region"));
            const char *id = json_string_value(json_object_get(a, "external_identifier"));
            if (!id || !same(region, ar))
                continue;
            if (!found || strcasecmp(id, json_string_value(
                                             json_object_get(found, "external_identifier"))) != 0) {
                distinct++;
                if (seen.len < 600)
                    strbuf_printf(&seen, "%s%s/%s %s", seen.len ? ", " : "", bp ? bp : "",
                                  ar && *ar ? ar : "-", id);
            }
            if (!found) {
                found = a;
                found_build = b;
            }
        }
    }
    int rc = 0;
    if (!found) {
        snprintf(err, errlen, "version %s of bucket '%s' (channel '%s') has no artifact%s%s%s%s",
                 vname ? vname : "?", bucket ? bucket : "?", cname ? cname : "?",
                 platform && *platform ? " for platform " : "", platform ? platform : "",
                 region && *region ? " in region " : "", region ? region : "");
        rc = 404;
    } else if (distinct > 1) {
        snprintf(err, errlen,
                 "%zu images match in version %s of bucket '%s': %s; give platform "
                 "and region",
                 distinct, vname ? vname : "?", bucket ? bucket : "?", seen.s);
        rc = 400;
    } else {
        const char *status = json_string_value(json_object_get(v, "status"));
        bool revoked = status && strcmp(status, "VERSION_REVOKED") == 0;
        *out = json_pack(
            "{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:o}", "external_identifier",
            revoked ? json_string("error_revoked") : get(found, "external_identifier"),
            "bucket_name", get(channel, "bucket_name"), "channel", get(channel, "name"), "version",
            get(v, "name"), "fingerprint", get(v, "fingerprint"), "platform",
            get(found_build, "platform"), "region", get(found, "region"), "status",
            get(v, "status"), "revoke_at", get(v, "revoke_at"), "revoked", revoked,
            "revocation_message", get(v, "revocation_message"));
    }
    strbuf_dispose(&seen);
    return rc;
}
