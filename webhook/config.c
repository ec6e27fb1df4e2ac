/* Configuration as a table of directives (kore's config.c idea, without its
 * globals): each row names the flag, its type, where it lands in the
 * structure, its default and its bounds. Loading applies four layers in
 * order -- defaults, file, environment, flags -- through the same checked
 * setter, so a value is validated identically wherever it came from and an
 * error names its source ("--workers", "IMAGEGATE_WORKERS", "FILE:LINE:
 * workers"). Lists (allowed_host) are replaced whole by a later layer, and
 * repeated flags append within the flag layer. Cross-field rules run once at
 * the end. Nothing here exits the process. */
#include "webhook/config.h"

#include "common/numparse.h"
#include "common/timeutil.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "common/ydoc.h"
#include "common/log.h"

#include <ctype.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* CT_LIST: the allowed hosts; CT_CIDRS: the networks webhooks may reach. */
typedef enum { CT_STR, CT_BOOL, CT_INT, CT_SIZE, CT_DUR, CT_LIST, CT_CIDRS } cfg_type;

typedef struct directive {
    const char *name; /* flag without "--", dashes; key and env derive from it */
    cfg_type type;
    size_t off;
    const char *def;
    int64_t min, max; /* INT: value; SIZE: bytes; DUR: ms */
    const char *help;
} directive;

#define OFF(f) offsetof(webhook_config, f)
#define SEC 1000LL
#define MIN (60 * SEC)
#define MIB (1024LL * 1024)
#define GIB (1024LL * MIB)

static const directive directives[] = {
    {"listen", CT_STR, OFF(listen), "0.0.0.0:8443", 0, 0,
     "address and port to listen on (port 0 = any free port)"},
    {"tls-cert", CT_STR, OFF(tls_cert), "", 0, 0,
     "PEM certificate chain (empty: self-signed, made next to the store on first start)"},
    {"tls-key", CT_STR, OFF(tls_key), "", 0, 0, "PEM private key of --tls-cert"},
    {"insecure-http", CT_BOOL, OFF(insecure_http), "false", 0, 0,
     "serve plain HTTP instead of HTTPS (tests, a TLS-terminating proxy)"},
    {"port-file", CT_STR, OFF(port_file), "", 0, 0,
     "write the bound port to this file once listening"},
    {"public-url", CT_STR, OFF(public_url), "", 0, 0,
     "base URL used in links sent to HCP Terraform (default: derived from --listen)"},
    {"hmac-key-file", CT_STR, OFF(hmac_key_file), "", 0, 0,
     "HMAC keys, one per line (empty: <store dir>/imagegate-hmac.key, made on first start)"},
    {"allow-unsigned", CT_BOOL, OFF(allow_unsigned), "false", 0, 0,
     "accept run-task requests without a signature (a run task without an HMAC key)"},
    {"allowed-host", CT_LIST, OFF(allowed_hosts), "app.terraform.io", 0, 0,
     "HOST[:PORT] a run token may be sent to over https; http://HOST:PORT allows plain http there "
     "(repeatable; env: comma-separated)"},
    {"ca-file", CT_STR, OFF(ca_file), "", 0, 0,
     "PEM CA bundle for outbound HTTPS (a private TFE CA, webhook receivers)"},
    {"db", CT_STR, OFF(db), "sqlite:imagegate.db", 0, 0,
     "store URL (sqlite:PATH or postgresql://...)"},
    {"policy", CT_STR, OFF(policy_file), "", 0, 0, "policy file (empty: the default policy)"},
    {"rules", CT_STR, OFF(rules_dir), "", 0, 0, "directory of extra rule files"},
    {"tmp-dir", CT_STR, OFF(tmp_dir), "", 0, 0,
     "where configuration archives are unpacked (default: $TMPDIR or /tmp)"},
    {"workers", CT_INT, OFF(workers), "2", 1, 64,
     "delivery workers (downloads and scans running at once), and as many threads for POST "
     "/v1/scan"},
    {"store-workers", CT_INT, OFF(store_workers), "2", 1, 32,
     "threads doing short store work (acknowledgements, /readyz, API)"},
    {"queue-depth", CT_INT, OFF(queue_depth), "1024", 1, 1000000,
     "jobs waiting for a thread before requests get 503"},
    {"max-body-bytes", CT_SIZE, OFF(max_body_bytes), "1M", 4096, 1 * GIB,
     "largest request body (413 beyond)"},
    {"max-header-bytes", CT_SIZE, OFF(max_header_bytes), "16k", 1024, 1 * MIB,
     "largest request header block"},
    {"max-plan-bytes", CT_SIZE, OFF(max_plan_bytes), "1G", 1024 * 1024, 64 * GIB,
     "largest plan JSON downloaded, or sent to POST /v1/scan (413 beyond)"},
    {"max-sbom-upload-bytes", CT_SIZE, OFF(max_sbom_upload_bytes), "64M", 64 * 1024, 4 * GIB,
     "largest SBOM upload body (PUT .../sboms: base64 of zstd, as Packer's hcp-sbom sends it; "
     "413 beyond)"},
    {"max-sbom-bytes", CT_SIZE, OFF(max_sbom_bytes), "256M", 64 * 1024, 16 * GIB,
     "largest SBOM once decompressed: a zstd bomb is refused when it gets there"},
    {"max-sbom-packages", CT_INT, OFF(max_sbom_packages), "200000", 1, 10000000,
     "most packages kept from one SBOM (refused beyond)"},
    {"sbom-download-ttl", CT_DUR, OFF(sbom_download_ttl), "5m", 1 * SEC, 5 * MIN,
     "how long an SBOM's download_url works"},
    {"max-archive-bytes", CT_SIZE, OFF(max_archive_bytes), "256M", 1024 * 1024, 16 * GIB,
     "largest configuration archive, compressed or unpacked"},
    {"max-archive-entries", CT_INT, OFF(max_archive_entries), "10000", 1, 1000000,
     "most entries in a configuration archive"},
    {"read-timeout", CT_DUR, OFF(read_timeout), "30s", 1 * SEC, 10 * MIN,
     "client inactivity while reading a request or writing a reply"},
    {"header-timeout", CT_DUR, OFF(header_timeout), "20s", 1 * SEC, 10 * MIN,
     "a request's header block (and a new connection's TLS handshake) must arrive within this, "
     "however steadily it trickles"},
    {"body-timeout", CT_DUR, OFF(body_timeout), "2m", 1 * SEC, 60 * MIN,
     "a request's body must arrive within this after its header block (raise it for big POST "
     "/v1/scan uploads over slow links)"},
    {"connect-timeout", CT_DUR, OFF(connect_timeout), "10s", 1 * SEC, 2 * MIN,
     "outbound connection set-up"},
    {"low-speed-time", CT_DUR, OFF(low_speed_time), "30s", 1 * SEC, 10 * MIN,
     "abort an outbound transfer slower than 1 KiB/s for this long"},
    {"plan-wait", CT_DUR, OFF(plan_wait), "5m", 0, 30 * MIN,
     "how long to keep retrying a plan that is not ready (204)"},
    {"callback-retry", CT_DUR, OFF(callback_retry), "10m", 0, 60 * MIN,
     "retry budget for a callback that fails with 5xx or a network error"},
    {"token-lifetime", CT_DUR, OFF(token_lifetime), "10m", 1 * MIN, 60 * MIN,
     "deliveries older than this are abandoned at start"},
    {"running-after", CT_DUR, OFF(running_after), "5s", 0, 10 * MIN,
     "send a 'running' status when a scan takes longer than this"},
    {"delivery-lease", CT_DUR, OFF(delivery_lease), "60s", 5 * SEC, 30 * MIN,
     "a worker's claim on a delivery; renewed while it works"},
    {"sweep-interval", CT_DUR, OFF(sweep_interval), "5s", 1 * SEC, 5 * MIN,
     "how often idle workers look for queued deliveries in the store"},
    {"token-refresh", CT_DUR, OFF(token_refresh), "5s", 1 * SEC, 10 * MIN,
     "how often the API tokens are re-read for POST /v1/scan's body limit (a token created or "
     "revoked with the command line counts within this; over the API: at once) and their last "
     "use written (at most once a minute per token)"},
    {"result-retention", CT_DUR, OFF(result_retention), "30d", 0, 365 * 24 * 60 * MIN,
     "how long result pages are kept (a delivery's url in HCP Terraform, a POST /v1/scan's "
     "X-Imagegate-Result-Url); 0s: no pages, a delivery's url is the run's page in HCP Terraform"},
    {"usage-retention", CT_DUR, OFF(usage_retention), "90d", 0, 10 * 365 * 24 * 60 * MIN,
     "how long image usage (which workspace used which image) and the run list are kept; 0s: "
     "record neither"},
    {"organization-id", CT_STR, OFF(organization_id), "", 0, 0,
     "the organization id (a UUID) HCP clients address; kept in the store (empty: the one made on "
     "first start)"},
    {"project-id", CT_STR, OFF(project_id), "", 0, 0,
     "the project id (a UUID) HCP clients address; kept in the store (empty: the one made on first "
     "start)"},
    {"oauth-token-lifetime", CT_DUR, OFF(oauth_token_lifetime), "1h", 1 * MIN, 24 * 60 * MIN,
     "how long an access token of POST /oauth2/token is valid (its expires_in)"},
    {"oauth-failure-limit", CT_INT, OFF(oauth_failure_limit), "20", 1, 100000,
     "failed POST /oauth2/token requests one client address may make per minute (429 beyond)"},
    {"hmac-rotation-grace", CT_DUR, OFF(hmac_rotation_grace), "24h", 0, 30 * 24 * 60 * MIN,
     "how long the run-task HMAC key replaced by PATCH .../runtasks/hmac stays valid"},
    {"shutdown-timeout", CT_DUR, OFF(shutdown_timeout), "30s", 0, 10 * MIN,
     "how long SIGTERM waits for in-flight deliveries"},
    {"webhook-allow-network", CT_CIDRS, OFF(webhook_allow), "", 0, 0,
     "CIDR of special addresses (loopback, private, link-local, unique-local...) event webhooks "
     "may be sent to; public addresses need none (repeatable; env: comma-separated)"},
    {"webhook-workers", CT_INT, OFF(webhook_workers), "2", 1, 16,
     "threads sending event notifications (the notification pool)"},
    {"webhook-timeout", CT_DUR, OFF(webhook_timeout), "10s", 1 * SEC, 2 * MIN,
     "one webhook delivery attempt, connection included"},
    {"webhook-retry-min", CT_DUR, OFF(webhook_retry_min), "5s", 1 * SEC, 10 * MIN,
     "first retry of a failed webhook delivery; the delay doubles from there"},
    {"webhook-retry-max", CT_DUR, OFF(webhook_retry_max), "1h", 1 * SEC, 24 * 60 * MIN,
     "longest delay between two attempts of a webhook delivery"},
    {"webhook-give-up", CT_DUR, OFF(webhook_give_up), "24h", 1 * MIN, 30 * 24 * 60 * MIN,
     "a webhook delivery still failing this long after its first attempt is marked failed and "
     "the webhook's next event goes"},
    {"webhook-retention", CT_DUR, OFF(webhook_retention), "30d", 60 * MIN, 365 * 24 * 60 * MIN,
     "how long events whose deliveries all finished are kept, with their attempt log (webhook "
     "deliveries, redeliver)"},
    {"log-level", CT_STR, OFF(log_level), "info", 0, 0, "debug, info, warn, error"},
};
#define N_DIRECTIVES (sizeof directives / sizeof directives[0])

static const directive *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < N_DIRECTIVES; i++)
        if (strlen(directives[i].name) == len && strncmp(directives[i].name, name, len) == 0)
            return &directives[i];
    return NULL;
}

/* "max-plan-bytes" -> "max_plan_bytes" (file key) */
static void key_name(const directive *d, char *buf, size_t n)
{
    snprintf(buf, n, "%s", d->name);
    for (char *p = buf; *p; p++)
        if (*p == '-')
            *p = '_';
}

/* "max-plan-bytes" -> "IMAGEGATE_MAX_PLAN_BYTES" */
static void env_name(const directive *d, char *buf, size_t n)
{
    snprintf(buf, n, "IMAGEGATE_%s", d->name);
    for (char *p = buf; *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
}

static void free_list(char ***list, size_t *n)
{
    for (size_t i = 0; i < *n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *n = 0;
}

/* An allowed host is HOST or HOST:PORT (https only), or http://HOST:PORT when
 * the run token may go there over plain http: stored lower case as
 * "host[:port]" or "http://host[:port]" ("https://" is accepted and dropped). */
static int add_list_item(webhook_config *c, const char *item, const char *src, char *err,
                         size_t errlen)
{
    size_t len = strlen(item);
    while (len && isspace((unsigned char)item[len - 1]))
        len--;
    while (len && isspace((unsigned char)*item)) {
        item++;
        len--;
    }
    const char *whole = item;
    size_t wlen = len;
    const char *scheme = "";
    if (len > 8 && strncasecmp(item, "https://", 8) == 0) {
        item += 8;
        len -= 8;
    } else if (len > 7 && strncasecmp(item, "http://", 7) == 0) {
        scheme = "http://";
        item += 7;
        len -= 7;
    }
    if (*scheme || item != whole)
        while (len && item[len - 1] == '/')
            len--;
    if (!len)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)item[i];
        if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']' ||
              ch == '_')) {
            snprintf(err, errlen, "%s: '%.*s' is not HOST, HOST:PORT or http://HOST:PORT", src,
                     (int)wlen, whole);
            return -1;
        }
    }
    char *h = xasprintf("%s%.*s", scheme, (int)len, item);
    for (char *p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    c->allowed_hosts = xrealloc(c->allowed_hosts, (c->n_allowed_hosts + 1) * sizeof(char *));
    c->allowed_hosts[c->n_allowed_hosts++] = h;
    return 0;
}

/* Sets (append: adds) the networks webhooks may reach from the CIDRs of
 * text, separated by commas or spaces. */
static int add_cidrs(webhook_config *c, const char *text, bool append, const char *src, char *err,
                     size_t errlen)
{
    char *copy = xstrdup(text), *save = NULL, sub[200];
    int rc = 0;
    if (!append) {
        free(c->webhook_allow);
        c->webhook_allow = NULL;
        c->n_webhook_allow = 0;
    }
    for (char *tok = strtok_r(copy, ", \t", &save); tok && rc == 0;
         tok = strtok_r(NULL, ", \t", &save)) {
        notify_cidr cidr;
        if (notify_cidr_parse(tok, &cidr, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s: %s", src, sub);
            rc = -1;
        } else {
            c->webhook_allow =
                xrealloc(c->webhook_allow, (c->n_webhook_allow + 1) * sizeof *c->webhook_allow);
            c->webhook_allow[c->n_webhook_allow++] = cidr;
        }
    }
    free(copy);
    return rc;
}

/* Sets one directive from text. src names the source for messages. For a
 * list, append=false replaces the list first; text may hold several items
 * separated by commas or spaces. */
static int set_value(webhook_config *c, const directive *d, const char *text, bool append,
                     const char *src, char *err, size_t errlen)
{
    char *base = (char *)c;
    char sub[256];
    switch (d->type) {
    case CT_STR: {
        char **slot = (char **)(base + d->off);
        free(*slot);
        *slot = xstrdup(text);
        return 0;
    }
    case CT_BOOL: {
        static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
        for (int i = 0; i < 4; i++) {
            if (strcasecmp(text, t[i]) == 0 || strcasecmp(text, f[i]) == 0) {
                *(bool *)(base + d->off) = strcasecmp(text, t[i]) == 0;
                return 0;
            }
        }
        snprintf(err, errlen, "%s: '%.40s' is not true or false", src, text);
        return -1;
    }
    case CT_INT:
        return parse_int64(src, text, d->min, d->max, (int64_t *)(base + d->off), err, errlen);
    case CT_SIZE:
        return parse_size(src, text, d->min, d->max, (int64_t *)(base + d->off), err, errlen);
    case CT_DUR: {
        int64_t ms;
        if (ig_duration_parse(text, &ms, sub, sizeof sub) < 0) {
            snprintf(err, errlen, "%s: %s", src, sub);
            return -1;
        }
        if (ms < d->min || ms > d->max) {
            snprintf(err, errlen, "%s: '%.40s' is outside %llds..%llds", src, text,
                     (long long)(d->min / SEC), (long long)(d->max / SEC));
            return -1;
        }
        *(int64_t *)(base + d->off) = ms;
        return 0;
    }
    case CT_LIST: {
        if (!append)
            free_list(&c->allowed_hosts, &c->n_allowed_hosts);
        char *copy = xstrdup(text);
        int rc = 0;
        char *save = NULL;
        for (char *tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save))
            if ((rc = add_list_item(c, tok, src, err, errlen)) < 0)
                break;
        free(copy);
        return rc;
    }
    case CT_CIDRS:
        return add_cidrs(c, text, append, src, err, errlen);
    }
    return -1;
}

static int apply_file(webhook_config *c, const char *path, char *err, size_t errlen)
{
    int rc = -1;
    char sub[512];
    ynode *root = ydoc_parse_file(path, sub, sizeof sub);
    if (!root) {
        snprintf(err, errlen, "%s", sub);
        goto out;
    }
    if (root->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: the configuration file must be a map of key: value", path,
                 root->line);
        goto out;
    }
    for (size_t i = 0; i < root->n; i++) {
        const char *key = root->keys[i];
        ynode *v = root->items[i];
        const directive *d = NULL;
        char kbuf[64], src[600];
        for (size_t k = 0; k < N_DIRECTIVES && !d; k++) {
            key_name(&directives[k], kbuf, sizeof kbuf);
            if (strcmp(kbuf, key) == 0)
                d = &directives[k];
        }
        snprintf(src, sizeof src, "%s:%d: %s", path, root->key_lines[i], key);
        if (!d) {
            snprintf(err, errlen, "%s: unknown key (see imagegate serve --help)", src);
            goto out;
        }
        if ((d->type == CT_LIST || d->type == CT_CIDRS) && v->type == YNODE_SEQ) {
            set_value(c, d, "", false, src, err, errlen); /* empties the list */
            for (size_t j = 0; j < v->n; j++) {
                if (v->items[j]->type != YNODE_SCALAR) {
                    snprintf(err, errlen, "%s: list items must be strings", src);
                    goto out;
                }
                if (set_value(c, d, v->items[j]->value, true, src, err, errlen) < 0)
                    goto out;
            }
            continue;
        }
        if (v->type != YNODE_SCALAR) {
            snprintf(err, errlen, "%s: expected a single value", src);
            goto out;
        }
        if (set_value(c, d, ydoc_is_null(v) && d->type == CT_STR ? "" : v->value, false, src, err,
                      errlen) < 0)
            goto out;
    }
    rc = 0;
out:
    ydoc_free(root);
    return rc;
}

static const char *std_getenv(const char *name)
{
    return getenv(name);
}

void webhook_config_free(webhook_config *c)
{
    if (!c)
        return;
    free(c->config_file);
    for (size_t i = 0; i < N_DIRECTIVES; i++) {
        const directive *d = &directives[i];
        if (d->type == CT_STR)
            free(*(char **)((char *)c + d->off));
    }
    free_list(&c->allowed_hosts, &c->n_allowed_hosts);
    free(c->webhook_allow);
    free(c);
}

int webhook_split_listen(const char *s, char *addr, size_t addrlen, int *port, char *err,
                         size_t errlen)
{
    const char *colon;
    const char *host = s;
    size_t hostlen;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            goto bad;
        host = s + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            goto bad;
        hostlen = (size_t)(colon - s);
    }
    if (hostlen == 0 || hostlen >= addrlen)
        goto bad;
    int64_t p;
    char sub[128];
    if (parse_int64("port", colon + 1, 0, 65535, &p, sub, sizeof sub) < 0)
        goto bad;
    memcpy(addr, host, hostlen);
    addr[hostlen] = '\0';
    *port = (int)p;
    return 0;
bad:
    snprintf(err, errlen, "'%.80s' is not ADDR:PORT (e.g. 0.0.0.0:8443, [::]:8443, 127.0.0.1:0)",
             s);
    return -1;
}

/* The HCP ids, when given, are UUIDs (the HCP provider refuses others). */
static int validate_ids(const webhook_config *c, char *err, size_t errlen)
{
    const char *const v[] = {c->organization_id, c->project_id};
    const char *const names[] = {"organization-id", "project-id"};
    for (size_t i = 0; i < 2; i++)
        if (*v[i] && !ig_uuid_valid(v[i])) {
            snprintf(err, errlen, "%s: '%.60s' is not a UUID (8-4-4-4-12 hex digits)", names[i],
                     v[i]);
            return -1;
        }
    return 0;
}

static int validate(webhook_config *c, char *err, size_t errlen)
{
    char addr[256];
    int port;
    char sub[256];
    if (webhook_split_listen(c->listen, addr, sizeof addr, &port, sub, sizeof sub) < 0) {
        snprintf(err, errlen, "listen: %s", sub);
        return -1;
    }
    if (!!*c->tls_cert != !!*c->tls_key) {
        snprintf(err, errlen, "tls-cert and tls-key must be given together");
        return -1;
    }
    if (c->insecure_http && *c->tls_cert) {
        snprintf(err, errlen, "insecure-http and tls-cert exclude each other");
        return -1;
    }
    if (c->allow_unsigned && *c->hmac_key_file) {
        snprintf(err, errlen, "allow-unsigned and hmac-key-file exclude each other");
        return -1;
    }
    if (*c->public_url) {
        size_t n = strlen(c->public_url);
        if ((strncmp(c->public_url, "https://", 8) != 0 &&
             strncmp(c->public_url, "http://", 7) != 0) ||
            n > 300) {
            snprintf(err, errlen,
                     "public-url: '%.80s' must be an absolute http(s) URL of at most 300 chars",
                     c->public_url);
            return -1;
        }
        while (n > 0 && c->public_url[n - 1] == '/')
            c->public_url[--n] = '\0';
    }
    log_level lv;
    if (log_level_parse(c->log_level, &lv) < 0) {
        snprintf(err, errlen, "log-level: '%.40s' is not debug, info, warn or error", c->log_level);
        return -1;
    }
    if (!*c->db) {
        snprintf(err, errlen, "db: a store URL is needed");
        return -1;
    }
    if (validate_ids(c, err, errlen) < 0)
        return -1;
    if (c->webhook_retry_min > c->webhook_retry_max) {
        snprintf(err, errlen, "webhook-retry-min is longer than webhook-retry-max");
        return -1;
    }
    if (!*c->tmp_dir) {
        const char *t = getenv("TMPDIR");
        free(c->tmp_dir);
        c->tmp_dir = xstrdup(t && *t ? t : "/tmp");
    }
    return 0;
}

/* The flag layer: argv's --name VALUE / --name=VALUE pairs. A list flag
 * given again appends; its first use replaces what the lower layers set. */
static int apply_flags(webhook_config *c, int argc, char **argv, char *err, size_t errlen)
{
    const directive *lists_seen[N_DIRECTIVES] = {0};
    size_t n_lists_seen = 0;
    char src[128];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            snprintf(err, errlen, "unexpected argument '%.80s'", a);
            return -1;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        if (len == 6 && strncmp(name, "config", 6) == 0) {
            if (!eq)
                i++;
            continue;
        }
        if (len == 4 && strncmp(name, "json", 4) == 0)
            continue;
        const directive *d = find_flag(name, len);
        snprintf(src, sizeof src, "--%.*s", (int)len, name);
        if (!d) {
            snprintf(err, errlen, "unknown option '%.80s' (see imagegate serve --help)", a);
            return -1;
        }
        const char *val;
        if (eq)
            val = eq + 1;
        else if (d->type == CT_BOOL)
            val = "true";
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            snprintf(err, errlen, "%s needs a value", src);
            return -1;
        }
        bool append = false;
        for (size_t k = 0; k < n_lists_seen; k++)
            append = append || lists_seen[k] == d;
        if ((d->type == CT_LIST || d->type == CT_CIDRS) && !append)
            lists_seen[n_lists_seen++] = d;
        if (set_value(c, d, val, append, src, err, errlen) < 0)
            return -1;
    }
    return 0;
}

webhook_config *webhook_config_load(int argc, char **argv, const char *db_flag,
                                    const char *(*env)(const char *), bool *want_help, char *err,
                                    size_t errlen)
{
    webhook_config *c = xcalloc(1, sizeof *c);
    const char *config_path = NULL;
    *want_help = false;
    err[0] = '\0';
    if (!env)
        env = std_getenv;

    for (size_t i = 0; i < N_DIRECTIVES; i++)
        if (set_value(c, &directives[i], directives[i].def, false, "default", err, errlen) < 0)
            goto fail;

    /* --config first: the file layer sits under env and flags. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config_path = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config_path = argv[i] + 9;
        else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            *want_help = true;
            goto fail;
        }
    }
    if (!config_path) {
        const char *e = env("IMAGEGATE_CONFIG");
        if (e && *e)
            config_path = e;
    }
    if (config_path) {
        c->config_file = xstrdup(config_path);
        if (apply_file(c, config_path, err, errlen) < 0)
            goto fail;
    }

    for (size_t i = 0; i < N_DIRECTIVES; i++) {
        char name[64];
        env_name(&directives[i], name, sizeof name);
        /* IMAGEGATE_DB is read by main() already; it arrives via db_flag
         * semantics below, so only look it up here like any other. */
        const char *v = env(name);
        if (v && (*v || directives[i].type == CT_STR))
            if (set_value(c, &directives[i], v, false, name, err, errlen) < 0)
                goto fail;
    }

    if (db_flag && set_value(c, find_flag("db", 2), db_flag, false, "--db", err, errlen) < 0)
        goto fail;

    if (apply_flags(c, argc, argv, err, errlen) < 0 || validate(c, err, errlen) < 0)
        goto fail;
    return c;
fail:
    webhook_config_free(c);
    return NULL;
}

static void describe_bounds(const directive *d, char *buf, size_t n)
{
    switch (d->type) {
    case CT_INT:
        snprintf(buf, n, "%lld..%lld", (long long)d->min, (long long)d->max);
        break;
    case CT_SIZE:
        if (d->max >= GIB)
            snprintf(buf, n, "%lldk..%lldG", (long long)(d->min / 1024), (long long)(d->max / GIB));
        else
            snprintf(buf, n, "%lldk..%lldM", (long long)(d->min / 1024), (long long)(d->max / MIB));
        break;
    case CT_DUR:
        snprintf(buf, n, "%llds..%llds", (long long)(d->min / SEC), (long long)(d->max / SEC));
        break;
    default:
        buf[0] = '\0';
    }
}

void webhook_config_usage(FILE *out)
{
    fputs("usage: imagegate serve [--config FILE] [--db URL] [OPTIONS]\n\n"
          "Runs the HCP Terraform run-task webhook (POST /runtask), /healthz, /readyz and\n"
          "/metrics. Every option is also a configuration-file key (dashes become\n"
          "underscores) and an IMAGEGATE_* environment variable; a flag beats the\n"
          "environment, which beats the file, which beats the default.\n\n",
          out);
    for (size_t i = 0; i < N_DIRECTIVES; i++) {
        const directive *d = &directives[i];
        char bounds[64];
        describe_bounds(d, bounds, sizeof bounds);
        fprintf(out, "  --%-20s %s\n", d->name, d->help);
        if (d->type != CT_BOOL)
            fprintf(out, "  %-22s default %s%s%s\n", "", *d->def ? d->def : "(none)",
                    *bounds ? ", bounds " : "", bounds);
    }
    fputs("  --config FILE          YAML configuration file (env IMAGEGATE_CONFIG)\n"
          "\nSignals: SIGHUP reloads the TLS certificate and the HMAC keys; SIGTERM drains.\n",
          out);
}

void webhook_config_markdown(FILE *out)
{
    fputs("| flag | file key | environment | default | bounds | meaning |\n"
          "|---|---|---|---|---|---|\n",
          out);
    for (size_t i = 0; i < N_DIRECTIVES; i++) {
        const directive *d = &directives[i];
        char k[64], e[80], bounds[64];
        key_name(d, k, sizeof k);
        env_name(d, e, sizeof e);
        describe_bounds(d, bounds, sizeof bounds);
        fprintf(out, "| `--%s` | `%s` | `%s` | %s%s%s | %s | %s |\n", d->name, k, e,
                *d->def ? "`" : "", *d->def ? d->def : "(empty)", *d->def ? "`" : "", bounds,
                d->help);
    }
}

bool webhook_host_allowed(char *const *hosts, size_t n, const char *url)
{
    bool ok = false;
    char *scheme = NULL, *host = NULL, *port = NULL;
    CURLU *u = curl_url();
    if (!u || !url)
        goto out;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK)
        goto out;
    bool https = strcasecmp(scheme, "https") == 0;
    if (!https && strcasecmp(scheme, "http") != 0)
        goto out;
    const char *defport = https ? "443" : "80";
    for (size_t i = 0; i < n && !ok; i++) {
        const char *h = hosts[i];
        /* plain http only where the entry says so */
        bool plain = strncasecmp(h, "http://", 7) == 0;
        if (plain == https)
            continue;
        if (plain)
            h += 7;
        const char *colon = h[0] == '[' ? strstr(h, "]:") : strrchr(h, ':');
        if (colon && h[0] == '[')
            colon++;
        size_t hlen = colon ? (size_t)(colon - h) : strlen(h);
        const char *want_port = colon ? colon + 1 : defport;
        if (strlen(host) == hlen && strncasecmp(host, h, hlen) == 0 && strcmp(port, want_port) == 0)
            ok = true;
    }
out:
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

bool webhook_config_host_allowed(const webhook_config *c, const char *url)
{
    return webhook_host_allowed(c->allowed_hosts, c->n_allowed_hosts, url);
}
