/* SBOMs and packages over HTTP (docs/sbom.md): HCP's UploadSbom, ListSboms,
 * GetSbom, ListBuildPackages and ListBucketPackages, imagegate's GET
 * /v1/packages, and the download a GetSbom's download_url points at.
 *
 * Reads are ops of the table in api_registry.c (handlers here, on a store
 * worker). An upload takes three hops, like POST /v1/scan: its token is
 * checked on a store worker first; only then does the body -- up to
 * --max-sbom-upload-bytes, moved out of evhttp's buffer, never copied --
 * go to the scan pool (CPU-bound, lower priority), where it is read as
 * JSON, base64-decoded and stream-decompressed into the SBOM parser under
 * --max-sbom-bytes and --max-sbom-packages, and stored. So a zstd bomb
 * costs one scan thread at most --max-sbom-bytes of work, and the store
 * workers that acknowledge run tasks never decompress anything.
 *
 * A download_url is PUBLIC_URL/v1/sbom-downloads/TOKEN: 32 random bytes,
 * stored hashed (registry), valid for --sbom-download-ttl (5 minutes at
 * most), any replica serves it. It needs no bearer token (HCP's is a
 * presigned URL: clients fetch it without one); the token is the only
 * key, so no log line ever prints it: the download logs the SBOM's id. The
 * document is sent as the uploader sent it (byte-identical JSON), as an
 * attachment. */
#include "webhook/api_internal.h"

#include "common/log.h"
#include "common/timeutil.h"
#include "common/xalloc.h"
#include "sbom/sbom.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DOWNLOAD_PREFIX "/v1/sbom-downloads/"
#define MAX_ORDER_BY 8

/* ---- reads (store worker) ------------------------------------------------- */

int webhook_api_sbom_list(api_job *j)
{
    api_call *c = j->c;
    const webhook_api_route *rt = &c->route;
    return webhook_api_reply(c, "sboms",
                             registry_sbom_list(j->r, &j->ctx, rt->bucket, rt->version, rt->build,
                                                c->err, sizeof c->err));
}

int webhook_api_sbom_get(api_job *j)
{
    api_call *c = j->c;
    const webhook_api_route *rt = &c->route;
    const webhook_config *cfg = webhook_server_config(c->srv);
    ig_time expires = j->ctx.now + cfg->sbom_download_ttl;
    char *token = NULL, at[40];
    if (registry_sbom_download_token(j->r, &j->ctx, rt->bucket, rt->version, rt->build, rt->sbom,
                                     expires, &token, c->err, sizeof c->err) < 0)
        return -1;
    char *url = xasprintf("%s" DOWNLOAD_PREFIX "%s", webhook_server_public_url(c->srv), token);
    c->reply = json_pack("{s:s, s:s}", "download_url", url, "expires_at",
                         ig_time_format(expires, at, sizeof at));
    explicit_bzero(url, strlen(url));
    explicit_bzero(token, strlen(token));
    free(url);
    free(token);
    return 0;
}

/* HCP's package filters and order from the query. */
typedef struct pkg_query {
    reg_package_filter f;
    const char *order[MAX_ORDER_BY];
    char buf[MAX_ORDER_BY][64];
} pkg_query;

static int package_filter(api_call *c, pkg_query *pq)
{
    const webhook_api_query *q = &c->query;
    reg_package_filter *f = &pq->f;
    memset(f, 0, sizeof *f);
    f->name = webhook_api_query_get(q, "package_name");
    f->name_prefix = webhook_api_query_get(q, "package_name_starts_with");
    f->version = webhook_api_query_get(q, "package_version");
    f->order_by = pq->order;
    const char *given[MAX_ORDER_BY];
    size_t n = webhook_api_query_all(q, "sorting.order_by", given, MAX_ORDER_BY);
    /* each value may also hold several, comma-separated ("name,version desc") */
    for (size_t i = 0; i < n; i++) {
        for (const char *p = given[i] + strspn(given[i], ", "); *p; p += strspn(p, ", ")) {
            size_t len = strcspn(p, ",");
            if (f->n_order_by == MAX_ORDER_BY || len >= sizeof pq->buf[0])
                return webhook_api_call_fail(c, 400, "sorting.order_by: at most %d fields",
                                             MAX_ORDER_BY);
            char *dst = pq->buf[f->n_order_by];
            memcpy(dst, p, len);
            while (len && dst[len - 1] == ' ')
                len--;
            dst[len] = '\0';
            pq->order[f->n_order_by++] = dst;
            p += strcspn(p, ",");
        }
    }
    return 0;
}

static int package_page(api_call *c, json_t *arr, reg_page *pg)
{
    if (arr)
        c->reply = json_pack("{s:o, s:o}", "packages", arr, "pagination",
                             webhook_api_pagination(pg->next_page_token, pg->page_size));
    free(pg->next_page_token);
    return arr ? 0 : -1;
}

int webhook_api_build_packages(api_job *j)
{
    api_call *c = j->c;
    const webhook_api_route *rt = &c->route;
    pkg_query pq;
    if (package_filter(c, &pq) < 0)
        return -1;
    reg_page pg = {c->page.size, *c->page.token ? c->page.token : NULL, NULL};
    return package_page(c,
                        registry_package_list(j->r, &j->ctx, rt->bucket, rt->version, rt->build,
                                              &pq.f, &pg, c->err, sizeof c->err),
                        &pg);
}

int webhook_api_bucket_packages(api_job *j)
{
    api_call *c = j->c;
    pkg_query pq;
    if (package_filter(c, &pq) < 0)
        return -1;
    reg_page pg = {c->page.size, *c->page.token ? c->page.token : NULL, NULL};
    return package_page(c,
                        registry_package_list(j->r, &j->ctx, c->route.bucket, NULL, NULL, &pq.f,
                                              &pg, c->err, sizeof c->err),
                        &pg);
}

/* ---- GET /v1/packages ------------------------------------------------------ */

static const char *param(api_call *c, const char *key)
{
    const char *v = webhook_api_query_get(&c->query, key);
    return v && *v ? v : NULL;
}

int webhook_api_packages_find(api_job *j)
{
    api_call *c = j->c;
    const char *name = param(c, "name"), *channel = param(c, "channel");
    sbom_version_rule vr = {param(c, "version_below"), param(c, "version")};
    if (!name)
        return webhook_api_call_fail(c, 400, "name: the package name is required (?name=openssl)");
    if (strlen(name) > SBOM_MAX_FIELD)
        return webhook_api_call_fail(c, 400, "name: longer than %d bytes", SBOM_MAX_FIELD);
    if (vr.below && vr.equal)
        return webhook_api_call_fail(c, 400, "version_below and version: give one of them");
    if (channel && registry_valid_channel_name(channel, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "channel: %s", c->err);
    reg_package_query q = {name, channel, sbom_version_rule_keep, &vr};
    json_t *found = registry_package_find(j->r, &j->ctx, &q, c->err, sizeof c->err);
    if (!found)
        return -1;
    c->reply = json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", name, "version_below",
                         vr.below ? json_string(vr.below) : json_null(), "version",
                         vr.equal ? json_string(vr.equal) : json_null(), "channel",
                         channel ? json_string(channel) : json_null(), "versions", found);
    return 0;
}

void webhook_handle_packages(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)path;
    api_call *c = webhook_api_call_new(srv, req, API_PACKAGES, false);
    if (c)
        webhook_api_call_run(c);
}

/* ---- PUT .../builds/{id}/sboms ------------------------------------------- */

typedef struct upload {
    api_call *c;
    struct evbuffer *body; /* moved out of the request: never copied */
} upload;

static void upload_finish(upload *u)
{
    if (u->body)
        evbuffer_free(u->body);
    webhook_api_call_finish(u->c);
    free(u);
}

/* The document of a parsed body: decoded, decompressed and parsed under
 * the server's limits. Returns 0, or -1 after webhook_api_call_fail. */
static int upload_decode(api_call *c, const webhook_config *cfg, const char *b64, sbom_format want,
                         sbom_doc *doc)
{
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (sbom_b64_decode(b64, strlen(b64), &z, &zlen, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "%s", c->err);
    sbom_limits lim = {(uint64_t)cfg->max_sbom_bytes, (size_t)cfg->max_sbom_packages};
    int rc = sbom_parse_zstd(z, zlen, &lim, doc, c->err, sizeof c->err);
    free(z);
    if (rc < 0)
        return webhook_api_call_fail(c, rc == -2 ? 413 : 400, "%s", c->err);
    if (want != SBOM_FORMAT_NONE && want != doc->format) {
        webhook_api_call_fail(c, 400, "format: the document is %s %s, not %s",
                              doc->format == SBOM_FORMAT_SPDX ? "SPDX" : "CycloneDX",
                              doc->spec_version, sbom_format_name(want));
        sbom_doc_dispose(doc);
        return -1;
    }
    return 0;
}

/* compressed_sbom (required), format (SPDX | CYCLONEDX; absent: what the
 * document is), name (absent: made from the version in the path, as HCP
 * names it after the fingerprint). */
static int upload_fields(api_call *c, json_t *body, const char **b64, sbom_format *want,
                         char name[SBOM_NAME_MAX + 1])
{
    const char *fmt = NULL, *nm = NULL;
    *b64 = NULL;
    *want = SBOM_FORMAT_NONE;
    int st;
    if ((st = webhook_api_opt_string(body, "compressed_sbom", b64, c->err, sizeof c->err)) ||
        (st = webhook_api_opt_string(body, "format", &fmt, c->err, sizeof c->err)) ||
        (st = webhook_api_opt_string(body, "name", &nm, c->err, sizeof c->err)))
        return webhook_api_call_fail(c, st, "%s", c->err);
    if (!*b64 || !**b64)
        return webhook_api_call_fail(c, 400,
                                     "compressed_sbom: missing (base64 of the "
                                     "zstd-compressed SPDX or CycloneDX JSON)");
    if (fmt && *fmt && sbom_format_parse(fmt, want) < 0)
        return webhook_api_call_fail(c, 400, "format: '%.40s' is not SPDX or CYCLONEDX", fmt);
    if (nm && *nm && sbom_name_check(nm, c->err, sizeof c->err) < 0)
        return webhook_api_call_fail(c, 400, "name: %s", c->err);
    if (nm && *nm)
        snprintf(name, SBOM_NAME_MAX + 1, "%s", nm);
    else
        sbom_name_from(c->route.version, name);
    return 0;
}

static void upload_store(webhook_worker *w, api_call *c, const sbom_doc *doc, const char *name,
                         const char *b64)
{
    reg_package *pk = xcalloc(doc->n_packages ? doc->n_packages : 1, sizeof *pk);
    for (size_t i = 0; i < doc->n_packages; i++) {
        const sbom_package *p = &doc->packages[i];
        pk[i] = (reg_package){p->name, p->version, p->purl, p->type};
    }
    reg_sbom rs = {name,
                   sbom_format_name(doc->format),
                   doc->spec_version,
                   b64,
                   doc->sha256,
                   (int64_t)doc->json_bytes,
                   pk,
                   doc->n_packages};
    registry *r = webhook_worker_registry(w, c->err, sizeof c->err);
    reg_ctx ctx = {c->who, ig_time_now()};
    json_t *sb = NULL;
    if (!r)
        webhook_api_call_fail(c, 503, "the registry store is unavailable; try again");
    else if (!(sb = registry_sbom_put(r, &ctx, c->route.bucket, c->route.version, c->route.build,
                                      &rs, NULL, c->err, sizeof c->err)))
        webhook_api_call_regfail(w, c, r);
    else
        c->reply = json_pack("{s:o}", "sbom", sb);
    free(pk);
}

/* Scan pool: the body to a stored SBOM. */
static void upload_work(webhook_worker *w, void *arg)
{
    upload *u = arg;
    api_call *c = u->c;
    const webhook_config *cfg = webhook_server_config(webhook_worker_server(w));
    size_t len = evbuffer_get_length(u->body);
    json_t *body = webhook_api_body_parse((const char *)evbuffer_pullup(u->body, -1), len, c->err,
                                          sizeof c->err);
    evbuffer_free(u->body); /* the JSON holds what is needed */
    u->body = NULL;
    const char *b64;
    sbom_format want;
    char name[SBOM_NAME_MAX + 1];
    sbom_doc doc;
    if (!body)
        webhook_api_call_fail(c, 400, "%s", c->err);
    else if (upload_fields(c, body, &b64, &want, name) == 0 &&
             upload_decode(c, cfg, b64, want, &doc) == 0) {
        upload_store(w, c, &doc, name, b64);
        sbom_doc_dispose(&doc);
    }
    json_decref(body);
}

static void upload_done(webhook_server *srv, void *arg)
{
    (void)srv;
    upload_finish(arg);
}

static void upload_auth_work(webhook_worker *w, void *arg)
{
    upload *u = arg;
    if (webhook_api_call_auth(w, u->c))
        webhook_api_call_allow(u->c, webhook_api_op_role(API_SBOM_UPLOAD, false));
}

static void upload_auth_done(webhook_server *srv, void *arg)
{
    upload *u = arg;
    api_call *c = u->c;
    if (!c->status && !evhttp_request_get_connection(c->req))
        webhook_api_call_fail(c, 400, "the client closed the connection");
    if (!c->status && webhook_submit_scan(srv, upload_work, upload_done, u) == 0)
        return;
    if (!c->status)
        webhook_api_call_fail(c, 503, "every scan worker is busy; try again");
    upload_finish(u);
}

void webhook_api_sbom_upload(webhook_server *srv, struct evhttp_request *req,
                             const webhook_api_route *rt)
{
    const webhook_config *cfg = webhook_server_config(srv);
    api_call *c = webhook_api_call_new(srv, req, API_SBOM_UPLOAD, false);
    if (!c)
        return;
    c->route = *rt;
    upload *u = xcalloc(1, sizeof *u);
    u->c = c;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > (size_t)cfg->max_sbom_upload_bytes) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        webhook_api_call_fail(c, 413,
                              "the SBOM upload is larger than --max-sbom-upload-bytes (%lld)",
                              (long long)cfg->max_sbom_upload_bytes);
    } else {
        u->body = evbuffer_new();
        evbuffer_add_buffer(u->body, in);
        if (webhook_submit(srv, upload_auth_work, upload_auth_done, u) == 0)
            return;
        webhook_api_call_fail(c, 503, "imagegate is busy; try again");
    }
    upload_finish(u);
}

/* ---- GET /v1/sbom-downloads/TOKEN ------------------------------------------ */

typedef struct download {
    struct evhttp_request *req;
    char token[65];
    int status; /* 200, 404, 500, 503 */
    reg_sbom_blob blob;
    char *json;
    size_t len;
    double t0;
    char err[512];
} download;

/* Scan pool: the token to the document. The window the frame may ask for
 * is what an upload was allowed (--max-sbom-bytes); the output must be the
 * size recorded at upload. */
static void download_work(webhook_worker *w, void *arg)
{
    download *d = arg;
    registry *r = webhook_worker_registry(w, d->err, sizeof d->err);
    reg_ctx ctx = {"imagegate", ig_time_now()};
    int found = r ? registry_sbom_by_token(r, &ctx, d->token, &d->blob, d->err, sizeof d->err) : -1;
    explicit_bzero(d->token, sizeof d->token);
    if (found < 0) {
        d->status = 503;
        if (r)
            webhook_worker_reset_registry(w);
        return;
    }
    d->status = found ? 200 : 404;
    if (!found)
        return;
    uint64_t max = (uint64_t)webhook_server_config(webhook_worker_server(w))->max_sbom_bytes;
    if (max < (uint64_t)d->blob.json_bytes)
        max = (uint64_t)d->blob.json_bytes;
    unsigned char *z = NULL;
    size_t zlen = 0;
    if (sbom_b64_decode(d->blob.zstd_b64, strlen(d->blob.zstd_b64), &z, &zlen, d->err,
                        sizeof d->err) < 0 ||
        sbom_zstd_decompress(z, zlen, max, &d->json, &d->len, d->err, sizeof d->err) < 0)
        d->status = 500;
    else if (d->len != (size_t)d->blob.json_bytes)
        d->status = 500,
        snprintf(d->err, sizeof d->err, "stored SBOM %s has the wrong size", d->blob.id);
    free(z);
}

static void free_json(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

static void download_reply(download *d)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(d->req);
    char disp[200];
    snprintf(disp, sizeof disp, "attachment; filename=\"%s-%s-%s.json\"", d->blob.bucket,
             d->blob.fingerprint, d->blob.name);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Content-Disposition", disp);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "X-Imagegate-Sbom-Sha256", d->blob.sha256);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, d->json, d->len, free_json, NULL);
    d->json = NULL; /* b frees it once sent */
    evhttp_send_reply(d->req, 200, NULL, b);
    evbuffer_free(b);
}

static void download_done(webhook_server *srv, void *arg)
{
    (void)srv;
    download *d = arg;
    char q[600];
    if (d->status == 200)
        download_reply(d);
    else if (d->status == 404)
        webhook_reply_error(d->req, 404,
                            "no such download: a download_url works for "
                            "--sbom-download-ttl; ask GET .../sboms/{name} again");
    else
        webhook_reply_error(d->req, d->status, "the SBOM cannot be read now; try again");
    /* never the token: the SBOM's id names what was served */
    log_write(d->status >= 500 ? LOG_ERROR : LOG_INFO,
              "event=sbom_download status=%d sbom=%s bucket=%s bytes=%zu duration_ms=%.1f%s%s",
              d->status, d->blob.id ? d->blob.id : "-", d->blob.bucket ? d->blob.bucket : "-",
              d->status == 200 ? d->len : 0, (ig_mono_seconds() - d->t0) * 1000,
              d->status >= 500 ? " error=" : "",
              d->status >= 500 ? log_quote(d->err, q, sizeof q) : "");
    registry_sbom_blob_dispose(&d->blob);
    free(d->json);
    free(d);
}

void webhook_handle_sbom_download(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    const char *tok = path + strlen(DOWNLOAD_PREFIX);
    size_t n = strspn(tok, "0123456789abcdef");
    if (n != 64 || tok[n]) {
        webhook_reply_error(req, 404, "no such download");
        return;
    }
    download *d = xcalloc(1, sizeof *d);
    d->req = req;
    d->t0 = ig_mono_seconds();
    memcpy(d->token, tok, 64);
    if (webhook_submit_scan(srv, download_work, download_done, d) < 0) {
        explicit_bzero(d->token, sizeof d->token);
        free(d);
        webhook_reply_error(req, 503, "every scan worker is busy; try again");
    }
}
