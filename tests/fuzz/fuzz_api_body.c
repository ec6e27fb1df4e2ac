/* Fuzz driver: the registry REST API's request bodies, and the other bytes
 * a client controls on that API (path, query string, Authorization).
 *
 * Every input goes through the pure parsers of webhook/api.h: as a path
 * (webhook_api_route_parse, under the Packer prefix unless it starts with
 * '/', with a method from the input's hash), as a query string (parameters,
 * pagination, audit positions), as an Authorization header, and as a body
 * (webhook_api_body_parse). A body that is a JSON object is then handed to
 * every consumer the handlers in api_registry.c have, in the same way they
 * call them -- bucket create and update, version create and PATCH, build
 * create and update (the body is the build spec), channel create, PATCH
 * and assign, artifact search, token create -- against a real SQLite store:
 * a copy of a template (a bucket with a complete version v1 in channel
 * prod, an incomplete version with one build) made once per process, so
 * each input starts from the same state.
 *
 * Property: no body makes the store fail. A refused body is an input error
 * (REG_EINVAL, REG_ENOTFOUND, REG_ECONFLICT -> 400/404/409); REG_ESTORE
 * (503) from a body would mean the registry sent the store something it
 * cannot take. */
#include "tests/fuzz/fuzz.h"

#include <errno.h>
#include <event2/http.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "registry/registry.h"
#include "webhook/api.h"

#define NOW 1795165200000LL /* 2026-11-20T09:00:00Z */

static const char MANIFEST[] =
    "{\"builds\":[{\"name\":\"u\",\"builder_type\":\"amazon-ebs\",\"artifact_id\":"
    "\"us-west-1:ami-0d4c3b2a1f0e9d8c7,us-east-1:ami-0d4c3b2a1f0e9d8c6\",\"packer_run_uuid\":"
    "\"fp-1\"}],\"last_run_uuid\":\"fp-1\"}";

static char DIR_[4096], TEMPLATE[4200], WORK[4200], URL[4300];
static char BUILD_ID[128];
static int READY;

static void rm_store(const char *path)
{
    char p[4300];
    unlink(path);
    snprintf(p, sizeof p, "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", path);
    unlink(p);
}

static void cleanup(void)
{
    rm_store(TEMPLATE);
    rm_store(WORK);
    rmdir(DIR_);
}

static void init(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(DIR_, sizeof DIR_, "%s/igfuzz-api-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    FUZZ_CHECK(mkdtemp(DIR_) != NULL, "mkdtemp: %s", strerror(errno));
    snprintf(TEMPLATE, sizeof TEMPLATE, "%s/template.db", DIR_);
    snprintf(WORK, sizeof WORK, "%s/work.db", DIR_);
    snprintf(URL, sizeof URL, "sqlite:%s", WORK);
    atexit(cleanup);

    char url[4300], err[1024];
    snprintf(url, sizeof url, "sqlite:%s", TEMPLATE);
    int code;
    registry *r = registry_open(url, REG_OPEN_CREATE, &code, err, sizeof err);
    FUZZ_CHECK(r != NULL, "registry_open: %s", err);
    reg_ctx ctx = {"fuzz", NOW};
    reg_import imp;
    memset(&imp, 0, sizeof imp);
    FUZZ_CHECK(registry_manifest_parse(MANIFEST, sizeof MANIFEST - 1, "m.json", false, &imp, err,
                                       sizeof err) == 0,
               "manifest: %s", err);
    imp.bucket = strdup("web");
    imp.channels = calloc(1, sizeof *imp.channels);
    imp.channels[0] = strdup("prod");
    imp.n_channels = 1;
    json_t *v = registry_import(r, &ctx, &imp, NULL, err, sizeof err);
    FUZZ_CHECK(v != NULL, "import: %s", err);
    json_decref(v);
    registry_import_dispose(&imp);
    v = registry_version_create(r, &ctx, "web", "fp-open", NULL, err, sizeof err);
    FUZZ_CHECK(v != NULL, "version create: %s", err);
    json_decref(v);
    json_t *spec = json_pack("{s:s, s:s}", "component_type", "amazon-ebs.u", "platform", "aws");
    json_t *b = registry_build_create(r, &ctx, "web", "fp-open", spec, err, sizeof err);
    FUZZ_CHECK(b != NULL, "build create: %s", err);
    snprintf(BUILD_ID, sizeof BUILD_ID, "%s", json_string_value(json_object_get(b, "id")));
    json_decref(b);
    json_decref(spec);
    registry_close(r);
    READY = 1;
}

static void copy_template(void)
{
    rm_store(WORK);
    int in = open(TEMPLATE, O_RDONLY | O_CLOEXEC);
    int out = open(WORK, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    FUZZ_CHECK(in >= 0 && out >= 0, "copy %s: %s", TEMPLATE, strerror(errno));
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        FUZZ_CHECK(write(out, buf, (size_t)n) == n, "write %s", WORK);
    close(in);
    close(out);
}

/* A registry call's result: fine when it worked or refused the input;
 * a store failure is a finding. */
static void done(registry *r, json_t *res, const char *what, const char *err)
{
    if (res) {
        json_decref(res);
        return;
    }
    int code = registry_errcode(r);
    FUZZ_CHECK(code == REG_EINVAL || code == REG_ENOTFOUND || code == REG_ECONFLICT,
               "%s: error class %d from a request body: %s", what, code, err);
    FUZZ_CHECK(err[0], "%s: an error without a message", what);
}

static const char *str(json_t *body, const char *field, int *bad)
{
    const char *s = NULL;
    char err[256];
    int st = webhook_api_opt_string(body, field, &s, err, sizeof err);
    FUZZ_CHECK(st == 0 || st == 400, "opt_string %s: %d", field, st);
    if (st)
        *bad = 1;
    return s;
}

static void consume(json_t *body)
{
    copy_template();
    char err[1024] = "";
    int code;
    registry *r = registry_open(URL, 0, &code, err, sizeof err);
    FUZZ_CHECK(r != NULL, "registry_open: %s", err);
    reg_ctx ctx = {"fuzz", NOW};
    int bad = 0;

    /* POST buckets / PATCH buckets/web */
    const char *name = str(body, "name", &bad), *desc = str(body, "description", &bad);
    json_t *labels = json_object_get(body, "labels");
    if (labels && json_is_null(labels))
        labels = NULL;
    if (labels && !json_is_object(labels))
        bad = 1; /* 400 "labels: must be an object of strings" */
    if (!bad && name && *name)
        done(r, registry_bucket_create(r, &ctx, name, desc, labels, err, sizeof err),
             "bucket create", err);
    if (!bad && (desc || labels))
        done(r, registry_bucket_update(r, &ctx, "web", desc, labels, err, sizeof err),
             "bucket update", err);

    /* POST versions */
    bad = 0;
    const char *fp = str(body, "fingerprint", &bad);
    const char *tt = str(body, "template_type", &bad);
    if (!bad && fp && *fp && registry_valid_fingerprint(fp, err, sizeof err) == 0)
        done(r, registry_version_create(r, &ctx, "web", fp, tt, err, sizeof err), "version create",
             err);

    /* POST / PATCH builds: the body is the spec */
    done(r, registry_build_create(r, &ctx, "web", "fp-open", body, err, sizeof err), "build create",
         err);
    done(r, registry_build_update(r, &ctx, "web", "fp-open", BUILD_ID, body, err, sizeof err),
         "build update", err);

    /* PATCH versions/fp-1: revoke, restore or complete */
    webhook_api_version_patch p;
    int st = webhook_api_version_patch_parse(body, NOW, &p, err, sizeof err);
    FUZZ_CHECK(st == 0 || (st == 400 && err[0]), "version patch: %d", st);
    if (st == 0 && p.revoke)
        done(r, registry_version_revoke(r, &ctx, "web", "fp-1", &p.rv, err, sizeof err),
             "version revoke", err);
    else if (st == 0 && p.restore)
        done(r, registry_version_restore(r, &ctx, "web", "fp-1", err, sizeof err),
             "version restore", err);

    /* POST channels */
    bad = 0;
    bool restricted = false;
    const char *vfp = str(body, "version_fingerprint", &bad);
    if (webhook_api_opt_bool(body, "restricted", &restricted, err, sizeof err))
        bad = 1;
    if (!bad && name && *name)
        done(r,
             registry_channel_create(r, &ctx, "web", name, vfp && *vfp ? vfp : NULL, restricted,
                                     err, sizeof err),
             "channel create", err);

    /* PATCH channels/prod */
    webhook_api_channel_patch cp;
    st = webhook_api_channel_patch_parse(body, &cp, err, sizeof err);
    FUZZ_CHECK(st == 0 || (st == 400 && err[0]), "channel patch: %d", st);
    if (st == 0 && cp.set_version)
        done(r, registry_channel_set(r, &ctx, "web", "prod", cp.version, err, sizeof err),
             "channel set", err);
    if (st == 0 && cp.set_restricted)
        done(
            r,
            registry_channel_set_restricted(r, &ctx, "web", "prod", cp.restricted, err, sizeof err),
            "channel restricted", err);

    /* POST channels/:assign */
    bad = 0;
    const char *target = str(body, "target_channel", &bad);
    const char *source = str(body, "source_channel", &bad);
    if (!bad && target && *target && (source && *source) != (vfp && *vfp)) {
        char *ref = vfp && *vfp ? strdup(vfp) : NULL;
        if (!ref) {
            json_t *src = registry_channel_get(r, &ctx, "web", source, err, sizeof err);
            if (src) {
                const char *s = json_string_value(
                    json_object_get(json_object_get(src, "version"), "fingerprint"));
                ref = s ? strdup(s) : NULL;
                json_decref(src);
            } else {
                done(r, NULL, "channel get", err);
            }
        }
        if (ref)
            done(r, registry_channel_set(r, &ctx, "web", target, ref, err, sizeof err),
                 "channel assign", err);
        free(ref);
    }

    /* POST _search/external_artifact, GET /v1/lookup */
    bad = 0;
    const char *ext = str(body, "external_identifier", &bad);
    const char *platform = str(body, "platform", &bad), *region = str(body, "region", &bad);
    if (!bad && ext && *ext && strlen(ext) <= 2048) {
        json_t *m = registry_artifact_find(r, &ctx, ext, platform && *platform ? platform : NULL,
                                           region && *region ? region : NULL, err, sizeof err);
        if (m) {
            json_t *shaped = webhook_api_search_shape(m);
            FUZZ_CHECK(json_array_size(shaped) == json_array_size(m), "search shape: %zu of %zu",
                       json_array_size(shaped), json_array_size(m));
            json_decref(shaped);
        }
        done(r, m, "artifact find", err);
    }
    if (!bad) {
        json_t *ch = registry_channel_get(r, &ctx, "web", "prod", err, sizeof err);
        FUZZ_CHECK(ch != NULL, "channel prod: %s", err);
        json_t *ans = NULL;
        st = webhook_api_lookup_answer(ch, platform, region, &ans, err, sizeof err);
        FUZZ_CHECK((st == 0 && ans) || st == 400 || st == 404, "lookup answer: %d", st);
        json_decref(ans);
        json_decref(ch);
    }

    /* POST /v1/tokens */
    bad = 0;
    const char *role_s = str(body, "role", &bad);
    reg_role role;
    if (!bad && name && *name && role_s && registry_role_parse(role_s, &role) == 0) {
        char *secret = NULL;
        if (registry_token_create(r, &ctx, name, role, &secret, err, sizeof err) == 0) {
            FUZZ_CHECK(secret && strncmp(secret, "igt_", 4) == 0, "token secret shape");
            free(secret);
        } else {
            done(r, NULL, "token create", err);
        }
    }

    FUZZ_CHECK(registry_ping(r, err, sizeof err) == 0, "store unusable afterwards: %s", err);
    registry_close(r);
}

/* The input as a path, a query string and an Authorization header. */
static void request_strings(const char *s, uint64_t h)
{
    static const int methods[] = {EVHTTP_REQ_GET, EVHTTP_REQ_POST, EVHTTP_REQ_PUT, EVHTTP_REQ_PATCH,
                                  EVHTTP_REQ_DELETE};
    char path[4096], allow[64], err[512];
    snprintf(path, sizeof path, "%s%s", s[0] == '/' ? "" : WEBHOOK_API_PREFIX, s);
    webhook_api_route rt;
    int st =
        webhook_api_route_parse(methods[h % 5], path, &rt, allow, sizeof allow, err, sizeof err);
    FUZZ_CHECK(st == 0 || st == 400 || st == 404 || st == 405, "route: %d", st);
    if (st == 0) {
        FUZZ_CHECK(rt.op < API__COUNT, "route: op %d", (int)rt.op);
        FUZZ_CHECK(
            memchr(rt.bucket, 0, sizeof rt.bucket) && memchr(rt.version, 0, sizeof rt.version) &&
                memchr(rt.build, 0, sizeof rt.build) && memchr(rt.channel, 0, sizeof rt.channel) &&
                memchr(rt.token, 0, sizeof rt.token),
            "route: an unterminated name");
        (void)webhook_api_op_role(rt.op, h & 1);
        (void)webhook_api_op_name(rt.op);
    }

    webhook_api_query q;
    st = webhook_api_query_parse(s, &q, err, sizeof err);
    FUZZ_CHECK(st == 0 || (st == 400 && err[0]), "query: %d", st);
    FUZZ_CHECK(q.n <= WEBHOOK_API_MAX_PARAMS, "query: %zu parameters", q.n);
    if (st == 0) {
        for (size_t i = 0; i < q.n; i++)
            FUZZ_CHECK(webhook_api_query_get(&q, q.key[i]) == q.value[i],
                       "query: %s is not found again", q.key[i]);
        webhook_api_page pg;
        for (int positional = 0; positional < 2; positional++) {
            st = webhook_api_page_parse(&q, positional, &pg, err, sizeof err);
            FUZZ_CHECK(st == 0 || st == 400, "page: %d", st);
            if (st == 0)
                FUZZ_CHECK(pg.size >= 1 && pg.size <= WEBHOOK_API_MAX_PAGE && pg.offset >= 0,
                           "page: size %d offset %lld", pg.size, (long long)pg.offset);
        }
    }
    webhook_api_query_dispose(&q);

    ig_time at;
    char id[64];
    (void)webhook_api_audit_token_parse(s, &at, id, sizeof id, err, sizeof err);

    char secret[WEBHOOK_API_MAX_SECRET + 1];
    if (webhook_api_bearer(s, secret, sizeof secret) == 0)
        FUZZ_CHECK(strlen(secret) >= 1 && strlen(secret) <= WEBHOOK_API_MAX_SECRET,
                   "bearer: %zu bytes", strlen(secret));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!READY)
        init();
    char *s = malloc(size + 1);
    memcpy(s, data, size);
    s[size] = '\0';
    request_strings(s, fuzz_hash(data, size, FUZZ_HASH_INIT));
    free(s);

    char err[512] = "";
    json_t *body = webhook_api_body_parse((const char *)data, size, err, sizeof err);
    if (!body) {
        FUZZ_CHECK(err[0], "body: an error without a message");
        return 0;
    }
    FUZZ_CHECK(json_is_object(body), "body: not an object");
    consume(body);
    json_decref(body);
    return 0;
}
