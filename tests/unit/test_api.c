/* Unit tests for the registry API's pure parts (webhook/api.c) and its op
 * table (api_registry.c): path routing and name checks, roles, bearer
 * tokens, query strings, page tokens (offsets and audit positions), request
 * bodies, the version and channel PATCH bodies, the search and lookup
 * answers, and the two registry queries added for the API (audit paging by
 * position, the channel restricted flag). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "webhook/api.h"
#include "webhook/api_internal.h"
#include "webhook/oauth.h"

#define P "/packer/2023-01-01/organizations/my-org/projects/my-proj"

static int route(int method, const char *path, webhook_api_route *rt, char *allow, char *err)
{
    return webhook_api_route_parse(method, path, rt, allow, 64, err, 512);
}

/* ---- routing ------------------------------------------------------------- */

/* SBOM paths: names, verbs, the upload's body limit, a repeated
 * sorting.order_by (hcp-sdk-go sends it so) and no other repeated key. */
static void test_route_sbom(void **state)
{
    (void)state;
#define SB "/packer/2023-01-01/organizations/o/projects/p/buckets/web-app/versions/v2/builds/01ABC"
    webhook_api_route rt;
    char allow[64], err[512];
    assert_int_equal(route(EVHTTP_REQ_GET, SB "/sboms/os-packages", &rt, allow, err), 0);
    assert_string_equal(rt.sbom, "os-packages");
    assert_string_equal(rt.build, "01ABC");
    assert_string_equal(rt.version, "v2");
    assert_int_equal(route(EVHTTP_REQ_GET, SB "/sboms/ab", &rt, allow, err), 400);
    assert_non_null(strstr(err, "3-36"));
    assert_int_equal(route(EVHTTP_REQ_GET, SB "/sboms/a.b.c", &rt, allow, err), 400);
    assert_int_equal(route(EVHTTP_REQ_GET, SB "/sboms/abc/x", &rt, allow, err), 404);
    assert_int_equal(route(EVHTTP_REQ_GET, SB "/other", &rt, allow, err), 404);
    assert_int_equal(route(EVHTTP_REQ_DELETE, SB "/sboms", &rt, allow, err), 405);
    assert_string_equal(allow, "GET, PUT");
    assert_int_equal(route(EVHTTP_REQ_PUT, SB "/sboms/abc", &rt, allow, err), 405);
    assert_true(webhook_api_is_sbom_upload("PUT", SB "/sboms"));
    assert_true(webhook_api_is_sbom_upload("PUT", SB "/sboms/"));
    assert_false(webhook_api_is_sbom_upload("GET", SB "/sboms"));
    assert_false(webhook_api_is_sbom_upload("PUT", SB "/sboms/abc"));
    assert_false(webhook_api_is_sbom_upload("PUT", "/v1/sboms"));
    assert_false(webhook_api_is_sbom_upload("PUT", NULL));
#undef SB
    webhook_api_query q;
    const char *all[4];
    assert_int_equal(webhook_api_query_parse("sorting.order_by=name%20desc&sorting.order_by=version"
                                             "&package_name=openssl",
                                             &q, err, sizeof err),
                     0);
    assert_int_equal(webhook_api_query_all(&q, "sorting.order_by", all, 4), 2);
    assert_string_equal(all[0], "name desc");
    assert_string_equal(all[1], "version");
    assert_int_equal(webhook_api_query_all(&q, "sorting.order_by", all, 1), 1);
    webhook_api_query_dispose(&q);
    assert_int_equal(webhook_api_query_parse("package_name=a&package_name=b", &q, err, sizeof err),
                     400);
    webhook_api_query_dispose(&q);
}

static void test_route_shapes(void **state)
{
    (void)state;
    webhook_api_route rt;
    char allow[64], err[512];
    static const struct {
        int method;
        const char *path;
        webhook_api_op op;
    } ok[] = {
        {EVHTTP_REQ_GET, P "/buckets", API_BUCKET_LIST},
        {EVHTTP_REQ_PUT, P "/buckets", API_BUCKET_CREATE},
        {EVHTTP_REQ_GET, P "/buckets/web-app", API_BUCKET_GET},
        {EVHTTP_REQ_PATCH, P "/buckets/web-app", API_BUCKET_UPDATE},
        {EVHTTP_REQ_DELETE, P "/buckets/web-app", API_BUCKET_DELETE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions", API_VERSION_LIST},
        {EVHTTP_REQ_POST, P "/buckets/web-app/versions", API_VERSION_CREATE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/abc.1_x-2", API_VERSION_GET},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/v12", API_VERSION_GET},
        {EVHTTP_REQ_PATCH, P "/buckets/web-app/versions/fp1", API_VERSION_UPDATE},
        {EVHTTP_REQ_DELETE, P "/buckets/web-app/versions/fp1", API_VERSION_DELETE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds", API_BUILD_LIST},
        {EVHTTP_REQ_POST, P "/buckets/web-app/versions/fp1/builds", API_BUILD_CREATE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01ABC", API_BUILD_GET},
        {EVHTTP_REQ_PATCH, P "/buckets/web-app/versions/fp1/builds/01ABC", API_BUILD_UPDATE},
        {EVHTTP_REQ_DELETE, P "/buckets/web-app/versions/fp1/builds/01ABC", API_BUILD_DELETE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/channels", API_CHANNEL_LIST},
        {EVHTTP_REQ_POST, P "/buckets/web-app/channels", API_CHANNEL_CREATE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/channels/prod", API_CHANNEL_GET},
        {EVHTTP_REQ_PATCH, P "/buckets/web-app/channels/prod", API_CHANNEL_UPDATE},
        {EVHTTP_REQ_DELETE, P "/buckets/web-app/channels/prod", API_CHANNEL_DELETE},
        {EVHTTP_REQ_GET, P "/buckets/web-app/channels/prod/history", API_CHANNEL_HISTORY},
        {EVHTTP_REQ_POST, P "/buckets/web-app/channels/assign", API_CHANNEL_ASSIGN},
        /* "assign" is also a channel name for the other verbs */
        {EVHTTP_REQ_GET, P "/buckets/web-app/channels/assign", API_CHANNEL_GET},
        {EVHTTP_REQ_POST, P "/_search/external_artifact", API_SEARCH_ARTIFACT},
        {EVHTTP_REQ_GET, "/v1/tokens", API_TOKEN_LIST},
        {EVHTTP_REQ_POST, "/v1/tokens", API_TOKEN_CREATE},
        {EVHTTP_REQ_DELETE, "/v1/tokens/ci.runner", API_TOKEN_REVOKE},
        {EVHTTP_REQ_GET, "/v1/webhooks", API_WEBHOOK_LIST},
        {EVHTTP_REQ_POST, "/v1/webhooks", API_WEBHOOK_CREATE},
        {EVHTTP_REQ_GET, "/v1/webhooks/chat.ops", API_WEBHOOK_GET},
        {EVHTTP_REQ_DELETE, "/v1/webhooks/chat.ops", API_WEBHOOK_DELETE},
        {EVHTTP_REQ_GET, "/v1/webhooks/chat/deliveries", API_WEBHOOK_DELIVERIES},
        {EVHTTP_REQ_POST, "/v1/webhooks/chat/redeliver", API_WEBHOOK_REDELIVER},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = route(ok[i].method, ok[i].path, &rt, allow, err);
        if (rc != 0 || rt.op != ok[i].op)
            fail_msg("%s: rc %d op %s (%s)", ok[i].path, rc, webhook_api_op_name(rt.op), err);
    }
    assert_int_equal(
        route(EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01ABC", &rt, allow, err), 0);
    assert_string_equal(rt.bucket, "web-app");
    assert_string_equal(rt.version, "fp1");
    assert_string_equal(rt.build, "01ABC");
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/b-1/channels/prod/history", &rt, allow, err),
                     0);
    assert_string_equal(rt.channel, "prod");
    assert_int_equal(route(EVHTTP_REQ_DELETE, "/v1/tokens/ci", &rt, allow, err), 0);
    assert_string_equal(rt.token, "ci");
    assert_int_equal(route(EVHTTP_REQ_GET, "/v1/webhooks/chat/deliveries", &rt, allow, err), 0);
    assert_string_equal(rt.webhook, "chat");
}

static void test_route_errors(void **state)
{
    (void)state;
    webhook_api_route rt;
    char allow[64], err[512];
    /* unknown shapes */
    static const char *const unknown[] = {
        "/packer/2023-01-01/organizations/o/projects",
        "/packer/2023-01-01/organizations/o/projects/p",
        "/packer/2021-04-30/organizations/o/projects/p/buckets",
        "/packer/2023-01-01/orgs/o/projects/p/buckets",
        P "/bucket",
        P "/buckets/web-app/version",
        P "/buckets/web-app/versions/fp1/build",
        P "/buckets/web-app/versions/fp1/builds/01ABC/artifacts",
        P "/buckets/web-app/channels/prod/historyx",
        P "/buckets/web-app/channels/prod/history/1",
        P "/buckets/", /* a trailing slash is never routed (docs/api.md) */
        P "/buckets/web-app/",
        "/v1/tokens/",
        P "//buckets",
        P "/buckets//web-app",
        P "/_search",
        "/v1/tokens/a/b",
        "/v1/webhooks/a/b",
        "/v1/webhooks/",
        "/v1/webhooks/a/deliveries/x",
        "",
        "buckets",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int rc = route(EVHTTP_REQ_GET, unknown[i], &rt, allow, err);
        if (rc != 404)
            fail_msg("%s: %d, expected 404", unknown[i], rc);
    }
    /* a path longer than the router reads is unknown, not a crash */
    char *longp = malloc(5000);
    memset(longp, 'a', 4999);
    longp[0] = '/';
    longp[4999] = '\0';
    assert_int_equal(route(EVHTTP_REQ_GET, longp, &rt, allow, err), 404);
    free(longp);
    assert_int_equal(route(EVHTTP_REQ_GET, NULL, &rt, allow, err), 404);

    /* wrong verb: 405 with what is allowed */
    assert_int_equal(route(EVHTTP_REQ_POST, P "/buckets", &rt, allow, err), 405);
    assert_string_equal(allow, "GET, PUT");
    assert_int_equal(route(EVHTTP_REQ_PUT, P "/buckets/web-app", &rt, allow, err), 405);
    assert_string_equal(allow, "GET, PATCH, DELETE");
    assert_int_equal(route(EVHTTP_REQ_GET, P "/_search/external_artifact", &rt, allow, err), 405);
    assert_string_equal(allow, "POST");
    assert_int_equal(route(EVHTTP_REQ_PUT, P "/buckets/web-app/channels/assign", &rt, allow, err),
                     405);
    assert_string_equal(allow, "GET, PATCH, DELETE, POST");
    assert_int_equal(route(EVHTTP_REQ_POST, P "/buckets/b-1/channels/c/history", &rt, allow, err),
                     405);
    assert_string_equal(allow, "GET");

    /* invalid names: 400 naming the rule */
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/ab", &rt, allow, err), 400);
    assert_non_null(strstr(err, "bucket name 'ab'"));
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/web_app", &rt, allow, err), 400);
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/web%20app", &rt, allow, err), 400);
    assert_int_equal(
        route(EVHTTP_REQ_GET, P "/buckets/0123456789012345678901234567890123456", &rt, allow, err),
        400);
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/web-app/versions/-fp", &rt, allow, err),
                     400);
    assert_non_null(strstr(err, "fingerprint"));
    assert_int_equal(route(EVHTTP_REQ_GET,
                           P "/buckets/web-app/versions/0123456789012345678901234567890123456789x",
                           &rt, allow, err),
                     400);
    assert_int_equal(
        route(EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01-AB", &rt, allow, err),
        400);
    assert_int_equal(route(EVHTTP_REQ_GET, P "/buckets/web-app/channels/-prod", &rt, allow, err),
                     400);
    assert_non_null(strstr(err, "channel name"));
    assert_int_equal(route(EVHTTP_REQ_DELETE, "/v1/tokens/bad%20name", &rt, allow, err), 400);
    assert_int_equal(route(EVHTTP_REQ_GET, "/v1/webhooks/bad%20name", &rt, allow, err), 400);
    assert_non_null(strstr(err, "webhook name"));
    assert_int_equal(route(EVHTTP_REQ_PATCH, "/v1/webhooks/chat", &rt, allow, err), 405);
    assert_string_equal(allow, "GET, DELETE");
    assert_int_equal(route(EVHTTP_REQ_GET, "/v1/webhooks/chat/redeliver", &rt, allow, err), 405);
    /* org and project are taken as given, within bounds */
    assert_int_equal(route(EVHTTP_REQ_GET,
                           "/packer/2023-01-01/organizations/0f1e-uuid/projects/any.thing/buckets",
                           &rt, allow, err),
                     0);
    char big[400];
    snprintf(big, sizeof big, "/packer/2023-01-01/organizations/%0200d/projects/p/buckets", 7);
    assert_int_equal(route(EVHTTP_REQ_GET, big, &rt, allow, err), 400);
}

/* ---- roles and tokens ----------------------------------------------------- */

static void test_roles(void **state)
{
    (void)state;
    /* read reads */
    assert_int_equal(webhook_api_op_role(API_BUCKET_LIST, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_VERSION_GET, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_CHANNEL_HISTORY, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_SEARCH_ARTIFACT, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_LOOKUP, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_SCAN, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_RUNS, false), REG_ROLE_READ);
    assert_int_equal(webhook_api_op_role(API_USAGE, false), REG_ROLE_READ);
    /* write publishes and assigns channels */
    assert_int_equal(webhook_api_op_role(API_BUCKET_CREATE, false), REG_ROLE_WRITE);
    assert_int_equal(webhook_api_op_role(API_VERSION_CREATE, false), REG_ROLE_WRITE);
    assert_int_equal(webhook_api_op_role(API_BUILD_UPDATE, false), REG_ROLE_WRITE);
    assert_int_equal(webhook_api_op_role(API_CHANNEL_ASSIGN, false), REG_ROLE_WRITE);
    assert_int_equal(webhook_api_op_role(API_CHANNEL_UPDATE, false), REG_ROLE_WRITE);
    assert_int_equal(webhook_api_op_role(API_VERSION_UPDATE, false), REG_ROLE_WRITE);
    /* admin revokes, restores, deletes, reads the audit trail, manages tokens */
    assert_int_equal(webhook_api_op_role(API_VERSION_UPDATE, true), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_BUCKET_DELETE, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_VERSION_DELETE, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_BUILD_DELETE, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_CHANNEL_DELETE, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_AUDIT, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_TOKEN_CREATE, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_TOKEN_LIST, false), REG_ROLE_ADMIN);
    /* every op has a name and a role */
    for (int op = 0; op < API__COUNT; op++) {
        assert_string_not_equal(webhook_api_op_name((webhook_api_op)op), "unknown");
        assert_true(webhook_api_op_role((webhook_api_op)op, false) >= REG_ROLE_READ);
    }
    assert_int_equal(webhook_api_status_for(REG_EINVAL), 400);
    assert_int_equal(webhook_api_status_for(REG_ENOTFOUND), 404);
    assert_int_equal(webhook_api_status_for(REG_ECONFLICT), 409);
    assert_int_equal(webhook_api_status_for(REG_ESTORE), 503);
}

/* The op table (api_registry.c): every op the API routes runs a handler
 * from its row; only POST /v1/scan (api_scan.c) and an SBOM upload
 * (api_sbom.c) run elsewhere, on the scan pool. */
static void test_op_table(void **state)
{
    (void)state;
    for (int op = 0; op < API__COUNT; op++) {
        const webhook_api_op_info *o = webhook_api_op_get((webhook_api_op)op);
        assert_non_null(o);
        if (op == API_SCAN || op == API_SBOM_UPLOAD)
            assert_null(o->run);
        else
            assert_non_null(o->run);
        /* a body-less op cannot depend on its body */
        if (o->flags & (API_OP_REVOKES | API_OP_CREATES))
            assert_true(webhook_api_op_has_body((webhook_api_op)op));
    }
    assert_null(webhook_api_op_get(API__COUNT));
    assert_null(webhook_api_op_get((webhook_api_op)-1));
    assert_string_equal(webhook_api_op_name(API__COUNT), "unknown");
    assert_true(webhook_api_op_has_body(API_BUCKET_CREATE));
    assert_true(webhook_api_op_has_body(API_VERSION_UPDATE));
    assert_false(webhook_api_op_has_body(API_BUCKET_DELETE));
    assert_false(webhook_api_op_has_body(API_LOOKUP));
    /* only creates by name answer ALREADY_EXISTS */
    assert_true(webhook_api_op_get(API_BUCKET_CREATE)->flags & API_OP_CREATES);
    assert_true(webhook_api_op_get(API_CHANNEL_CREATE)->flags & API_OP_CREATES);
    assert_true(webhook_api_op_get(API_TOKEN_CREATE)->flags & API_OP_CREATES);
    assert_false(webhook_api_op_get(API_VERSION_CREATE)->flags & API_OP_CREATES);

    assert_string_equal(webhook_api_method_name(EVHTTP_REQ_GET), "GET");
    assert_string_equal(webhook_api_method_name(EVHTTP_REQ_PATCH), "PATCH");
    assert_string_equal(webhook_api_method_name(EVHTTP_REQ_HEAD), "HEAD");
    assert_string_equal(webhook_api_method_name(EVHTTP_REQ_OPTIONS), "OPTIONS");
    assert_string_equal(webhook_api_method_name(EVHTTP_REQ_CONNECT), "OTHER");
}

static void test_bearer(void **state)
{
    (void)state;
    char out[WEBHOOK_API_MAX_SECRET + 1];
    assert_int_equal(webhook_api_bearer("Bearer igt_abc-DEF_1", out, sizeof out), 0);
    assert_string_equal(out, "igt_abc-DEF_1");
    assert_int_equal(webhook_api_bearer("bearer   igt_x  ", out, sizeof out), 0);
    assert_string_equal(out, "igt_x");
    assert_int_equal(webhook_api_bearer(NULL, out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer ", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Basic dXNlcjpwYXNz", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer two words", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer tab\there", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer caf\xc3\xa9", out, sizeof out), -1);
    char huge[WEBHOOK_API_MAX_SECRET + 20];
    strcpy(huge, "Bearer ");
    memset(huge + 7, 'a', WEBHOOK_API_MAX_SECRET + 1);
    huge[7 + WEBHOOK_API_MAX_SECRET + 1] = '\0';
    assert_int_equal(webhook_api_bearer(huge, out, sizeof out), -1);
    huge[7 + WEBHOOK_API_MAX_SECRET] = '\0';
    assert_int_equal(webhook_api_bearer(huge, out, sizeof out), 0);
    /* a buffer too small is refused, never overrun */
    char small[4];
    assert_int_equal(webhook_api_bearer("Bearer abcdef", small, sizeof small), -1);
}

/* ---- query strings and pages -------------------------------------------- */

static void test_query(void **state)
{
    (void)state;
    webhook_api_query q;
    char err[512];
    assert_int_equal(webhook_api_query_parse("bucket=web-app&channel=prod&region=us%2Deast-1&x", &q,
                                             err, sizeof err),
                     0);
    assert_int_equal(q.n, 4);
    assert_string_equal(webhook_api_query_get(&q, "bucket"), "web-app");
    assert_string_equal(webhook_api_query_get(&q, "region"), "us-east-1");
    assert_string_equal(webhook_api_query_get(&q, "x"), "");
    assert_null(webhook_api_query_get(&q, "platform"));
    webhook_api_query_dispose(&q);

    assert_int_equal(webhook_api_query_parse("workspace=a+b%20c&&since=2026-01-01T00%3A00%3A00Z",
                                             &q, err, sizeof err),
                     0);
    assert_string_equal(webhook_api_query_get(&q, "workspace"), "a b c");
    assert_string_equal(webhook_api_query_get(&q, "since"), "2026-01-01T00:00:00Z");
    webhook_api_query_dispose(&q);
    assert_int_equal(webhook_api_query_parse(NULL, &q, err, sizeof err), 0);
    assert_int_equal(q.n, 0);
    webhook_api_query_dispose(&q);

    /* UTF-8 passes; bytes that are not UTF-8 do not */
    assert_int_equal(
        webhook_api_query_parse("workspace=caf%C3%A9&o=%F0%9F%9A%80", &q, err, sizeof err), 0);
    assert_string_equal(webhook_api_query_get(&q, "workspace"), "caf\xc3\xa9");
    webhook_api_query_dispose(&q);

    static const char *const bad[] = {
        "a=%zz",    "a=%4",     "a=%",         "a=%00", "a=x%0ay",        "=v",         "a=1&a=2",
        "%ff%fe=1", "a=%C0%80", "a=%ED%A0%80", "a=%C3", "a=%F5%80%80%80", "a=%E0%80%AF"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = webhook_api_query_parse(bad[i], &q, err, sizeof err);
        webhook_api_query_dispose(&q);
        if (rc != 400)
            fail_msg("%s: %d, expected 400", bad[i], rc);
    }
    assert_int_equal(webhook_api_query_parse("a=1&a=2", &q, err, sizeof err), 400);
    assert_non_null(strstr(err, "more than once"));
    webhook_api_query_dispose(&q);
    /* limits: parameters, key and value lengths */
    char *many = malloc(40 * 8);
    many[0] = '\0';
    for (int i = 0; i < 33; i++)
        sprintf(many + strlen(many), "%sk%d=1", i ? "&" : "", i);
    assert_int_equal(webhook_api_query_parse(many, &q, err, sizeof err), 400);
    webhook_api_query_dispose(&q);
    free(many);
    char *longv = malloc(WEBHOOK_API_MAX_VALUE + 10);
    strcpy(longv, "v=");
    memset(longv + 2, 'x', WEBHOOK_API_MAX_VALUE + 1);
    longv[WEBHOOK_API_MAX_VALUE + 3] = '\0';
    assert_int_equal(webhook_api_query_parse(longv, &q, err, sizeof err), 400);
    webhook_api_query_dispose(&q);
    longv[WEBHOOK_API_MAX_VALUE + 2] = '\0';
    assert_int_equal(webhook_api_query_parse(longv, &q, err, sizeof err), 0);
    webhook_api_query_dispose(&q);
    free(longv);
}

static int page(const char *query, bool positional, webhook_api_page *p)
{
    webhook_api_query q;
    char err[512];
    int rc = webhook_api_query_parse(query, &q, err, sizeof err);
    if (!rc)
        rc = webhook_api_page_parse(&q, positional, p, err, sizeof err);
    webhook_api_query_dispose(&q);
    return rc;
}

static void test_pages(void **state)
{
    (void)state;
    webhook_api_page p;
    assert_int_equal(page(NULL, false, &p), 0);
    assert_int_equal(p.size, WEBHOOK_API_DEFAULT_PAGE);
    assert_int_equal(p.offset, 0);
    assert_int_equal(page("pagination.page_size=0", false, &p), 0);
    assert_int_equal(p.size, WEBHOOK_API_DEFAULT_PAGE);
    assert_int_equal(page("pagination.page_size=2&pagination.next_page_token=4", false, &p), 0);
    assert_int_equal(p.size, 2);
    assert_int_equal(p.offset, 4);
    assert_string_equal(p.token, "4");
    assert_int_equal(page("pagination.page_size=1000", false, &p), 0);
    assert_int_equal(page("pagination.page_size=1001", false, &p), 400);
    assert_int_equal(page("pagination.page_size=-1", false, &p), 400);
    assert_int_equal(page("pagination.page_size=ten", false, &p), 400);
    assert_int_equal(page("pagination.next_page_token=abc", false, &p), 400);
    assert_int_equal(page("pagination.next_page_token=-3", false, &p), 400);
    assert_int_equal(page("pagination.next_page_token=99999999999", false, &p), 400);
    assert_int_equal(page("pagination.previous_page_token=2", false, &p), 400);
    /* positional tokens are checked by their own parser */
    assert_int_equal(page("pagination.next_page_token=1764057600000_01JD2", true, &p), 0);
    assert_string_equal(p.token, "1764057600000_01JD2");

    /* slicing */
    json_t *arr = json_pack("[i,i,i,i,i]", 0, 1, 2, 3, 4);
    char *next = NULL;
    webhook_api_page pp = {2, 0, ""};
    json_t *s = webhook_api_page_slice(arr, &pp, &next);
    assert_int_equal(json_array_size(s), 2);
    assert_string_equal(next, "2");
    json_decref(s);
    free(next);
    pp.offset = 4;
    s = webhook_api_page_slice(arr, &pp, &next);
    assert_int_equal(json_array_size(s), 1);
    assert_int_equal(json_integer_value(json_array_get(s, 0)), 4);
    assert_null(next);
    json_decref(s);
    pp.offset = 3; /* exactly the end: no further page */
    s = webhook_api_page_slice(arr, &pp, &next);
    assert_int_equal(json_array_size(s), 2);
    assert_null(next);
    json_decref(s);
    pp.offset = 50; /* past the end: empty, no crash */
    s = webhook_api_page_slice(arr, &pp, &next);
    assert_int_equal(json_array_size(s), 0);
    assert_null(next);
    json_decref(s);
    json_decref(arr);
    json_t *pg = webhook_api_pagination(NULL, 7);
    assert_string_equal(json_string_value(json_object_get(pg, "next_page_token")), "");
    assert_int_equal(json_integer_value(json_object_get(pg, "page_size")), 7);
    json_decref(pg);
}

static void test_audit_tokens(void **state)
{
    (void)state;
    char id[48], err[256];
    ig_time at;
    json_t *e = json_pack("{s:s, s:s}", "id", "01JD2ABC", "at", "2026-11-25T09:00:00.123Z");
    char *tok = webhook_api_audit_token(e);
    assert_non_null(tok);
    assert_int_equal(webhook_api_audit_token_parse(tok, &at, id, sizeof id, err, sizeof err), 0);
    ig_time want;
    assert_int_equal(ig_time_parse("2026-11-25T09:00:00.123Z", &want, err, sizeof err), 0);
    assert_true(at == want);
    assert_string_equal(id, "01JD2ABC");
    free(tok);
    json_decref(e);
    static const char *const bad[] = {
        "", "123", "_01AB", "12_", "12_ab-c", "x1_01AB", "99999999999999999999999_01AB"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(webhook_api_audit_token_parse(bad[i], &at, id, sizeof id, err, sizeof err),
                         400);
    assert_int_equal(webhook_api_audit_token_parse(NULL, &at, id, sizeof id, err, sizeof err), 400);
    e = json_pack("{s:s}", "id", "01AB");
    assert_null(webhook_api_audit_token(e));
    json_decref(e);
    /* GET /v1/runs pages by {evaluated_at, id} with the same tokens */
    e = json_pack("{s:s, s:s}", "id", "01M94XP88J", "evaluated_at", "2026-11-25T09:00:00.123Z");
    tok = webhook_api_position_token(e, "evaluated_at");
    assert_non_null(tok);
    assert_int_equal(webhook_api_audit_token_parse(tok, &at, id, sizeof id, err, sizeof err), 0);
    assert_true(at == want);
    assert_string_equal(id, "01M94XP88J");
    free(tok);
    assert_null(webhook_api_position_token(e, "at"));
    json_decref(e);
}

/* ---- bodies ---------------------------------------------------------------- */

static void test_body(void **state)
{
    (void)state;
    char err[512];
    json_t *j = webhook_api_body_parse("{\"name\":\"web-app\"}", 18, err, sizeof err);
    assert_non_null(j);
    json_decref(j);
    assert_null(webhook_api_body_parse("{\"name\":", 8, err, sizeof err));
    assert_non_null(strstr(err, "malformed JSON at line 1"));
    assert_null(webhook_api_body_parse("[1,2]", 5, err, sizeof err));
    assert_string_equal(err, "the body must be a JSON object");
    assert_null(webhook_api_body_parse("{\"a\":1,\"a\":2}", 13, err, sizeof err));
    assert_null(webhook_api_body_parse("", 0, err, sizeof err));
    assert_null(webhook_api_body_parse(NULL, 0, err, sizeof err));
    /* deep nesting is refused by the parser, not a stack overflow */
    size_t depth = 100000;
    char *deep = malloc(depth * 2 + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = '\0';
    assert_null(webhook_api_body_parse(deep, 2 * depth, err, sizeof err));
    free(deep);

    const char *s = NULL;
    bool b = false;
    j = json_pack("{s:s, s:i, s:b, s:n}", "s", "x", "i", 3, "b", 1, "n");
    assert_int_equal(webhook_api_opt_string(j, "s", &s, err, sizeof err), 0);
    assert_string_equal(s, "x");
    assert_int_equal(webhook_api_opt_string(j, "i", &s, err, sizeof err), 400);
    assert_string_equal(err, "i: must be a string");
    assert_int_equal(webhook_api_opt_bool(j, "b", &b, err, sizeof err), 0);
    assert_true(b);
    assert_int_equal(webhook_api_opt_bool(j, "s", &b, err, sizeof err), 400);
    s = "kept";
    assert_int_equal(webhook_api_opt_string(j, "n", &s, err, sizeof err), 0);
    assert_string_equal(s, "kept");
    assert_int_equal(webhook_api_opt_string(j, "absent", &s, err, sizeof err), 0);
    json_decref(j);
}

static int vpatch(const char *body, ig_time now, webhook_api_version_patch *p, char *err)
{
    json_error_t je;
    json_t *j = json_loads(body, 0, &je);
    assert_non_null(j);
    int rc = webhook_api_version_patch_parse(j, now, p, err, 512);
    json_decref(j);
    return rc;
}

static void test_version_patch(void **state)
{
    (void)state;
    webhook_api_version_patch p;
    char err[512];
    ig_time now;
    assert_int_equal(ig_time_parse("2026-11-25T09:00:00Z", &now, err, sizeof err), 0);
    assert_int_equal(vpatch("{\"revoke_at\":\"2026-11-25T09:00:00Z\",\"revocation_message\":"
                            "\"CVE\",\"disable_rollback_channels\":true}",
                            now, &p, err),
                     0);
    assert_true(p.revoke);
    assert_false(p.restore);
    assert_true(p.rv.revoke_at == now);
    assert_true(p.rv.keep_channels);
    assert_false(p.rv.skip_descendants);
    assert_int_equal(
        vpatch("{\"revoke_in\":\"30d\",\"skip_descendants_revocation\":true}", now, &p, err), 0);
    assert_true(p.rv.revoke_at == now + 30LL * 86400 * 1000);
    assert_true(p.rv.skip_descendants);
    assert_int_equal(vpatch("{\"revoke_in\":\"0s\"}", now, &p, err), 0);
    assert_true(p.rv.revoke_at == now);
    assert_int_equal(vpatch("{\"restore\":true}", now, &p, err), 0);
    assert_true(p.restore);
    assert_false(p.revoke);
    assert_int_equal(vpatch("{\"complete\":true}", now, &p, err), 0);
    assert_true(p.has_complete && p.complete);
    assert_false(p.dry_run);
    /* a dry run is a revocation that changes nothing: the same fields */
    assert_int_equal(vpatch("{\"revoke_in\":\"0s\",\"dry_run\":true,"
                            "\"skip_descendants_revocation\":true}",
                            now, &p, err),
                     0);
    assert_true(p.revoke && p.dry_run && p.rv.skip_descendants);
    assert_int_equal(vpatch("{\"revoke_in\":\"1d\",\"dry_run\":false}", now, &p, err), 0);
    assert_false(p.dry_run);

    static const char *const bad[] = {
        "{}",
        "{\"restore\":false}",
        "{\"revoke_at\":\"2026-02-30T00:00:00Z\"}",
        "{\"revoke_at\":\"tomorrow\"}",
        "{\"revoke_at\":\"\"}",
        "{\"revoke_in\":\"soon\"}",
        "{\"revoke_in\":\"-5d\"}",
        "{\"revoke_at\":\"2026-11-25T09:00:00Z\",\"revoke_in\":\"1d\"}",
        "{\"restore\":true,\"revoke_in\":\"1d\"}",
        "{\"revocation_message\":\"why\"}",
        "{\"disable_rollback_channels\":true}",
        "{\"revoke_at\":5}",
        "{\"restore\":\"yes\"}",
        "{\"complete\":1}",
        "{\"complete\":true,\"restore\":true}",
        "{\"dry_run\":true}",
        "{\"restore\":true,\"dry_run\":true}",
        "{\"complete\":true,\"dry_run\":true}",
        "{\"revoke_in\":\"0s\",\"dry_run\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = vpatch(bad[i], now, &p, err);
        if (rc != 400)
            fail_msg("%s: %d, expected 400", bad[i], rc);
    }
    assert_int_equal(vpatch("{\"revoke_at\":\"2026-02-30T00:00:00Z\"}", now, &p, err), 400);
    assert_non_null(strstr(err, "revoke_at"));
    json_t *arr = json_array();
    assert_int_equal(webhook_api_version_patch_parse(arr, now, &p, err, sizeof err), 400);
    json_decref(arr);
}

/* hcp-sdk-go sends Go's zero time as revoke_at in every version PATCH: it is
 * unset, so restore and revoke_in still work beside it. */
static void test_version_zero_time(void **state)
{
    (void)state;
    webhook_api_version_patch p;
    char err[512];
    ig_time now;
    assert_int_equal(ig_time_parse("2026-11-25T09:00:00Z", &now, err, sizeof err), 0);
    static const char *const zeros[] = {"0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00Z",
                                        "0001-01-01T00:00:00.000000000Z",
                                        "0001-01-01T00:00:00+00:00"};
    for (size_t i = 0; i < sizeof zeros / sizeof zeros[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"restore\":true,\"revoke_at\":\"%s\"}", zeros[i]);
        if (vpatch(body, now, &p, err) != 0)
            fail_msg("%s: %s", body, err);
        assert_true(p.restore);
        assert_false(p.revoke);
        snprintf(body, sizeof body,
                 "{\"revoke_in\":\"30d\",\"revoke_at\":\"%s\",\"revocation_message\":\"eol\"}",
                 zeros[i]);
        if (vpatch(body, now, &p, err) != 0)
            fail_msg("%s: %s", body, err);
        assert_true(p.revoke);
        assert_true(p.rv.revoke_at == now + 30LL * 86400 * 1000);
        snprintf(body, sizeof body, "{\"revoke_at\":\"%s\"}", zeros[i]);
        assert_int_equal(vpatch(body, now, &p, err), 400); /* nothing to change */
        assert_non_null(strstr(err, "nothing to change"));
    }
    /* not zero: a time like any other (long past: revokes at once) */
    static const char *const not_zero[] = {"0001-01-01T00:00:00.001Z", "0001-01-01T00:00:01Z",
                                           "0001-01-02T00:00:00Z", "0002-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof not_zero / sizeof not_zero[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "{\"restore\":true,\"revoke_at\":\"%s\"}", not_zero[i]);
        if (vpatch(body, now, &p, err) != 400)
            fail_msg("%s: accepted, expected 400", body);
    }
}

/* The parsed body stays alive until the next call (p borrows from it). */
static int cpatch(const char *body, webhook_api_channel_patch *p, char *err)
{
    static json_t *keep;
    json_error_t je;
    json_decref(keep);
    keep = body ? json_loads(body, 0, &je) : NULL;
    if (!body)
        return 0;
    assert_non_null(keep);
    return webhook_api_channel_patch_parse(keep, p, err, 512);
}

static void test_channel_patch(void **state)
{
    (void)state;
    webhook_api_channel_patch p;
    char err[512];
    assert_int_equal(cpatch("{\"version_fingerprint\":\"fp1\"}", &p, err), 0);
    assert_true(p.set_version);
    assert_false(p.set_restricted);
    assert_string_equal(p.version, "fp1");
    assert_int_equal(cpatch("{\"version_fingerprint\":\"\"}", &p, err), 0);
    assert_true(p.set_version);
    assert_null(p.version); /* empties the channel */
    assert_int_equal(cpatch("{\"restricted\":true}", &p, err), 0);
    assert_true(p.set_restricted && p.restricted);
    assert_false(p.set_version);
    /* the mask decides, HCP style */
    assert_int_equal(cpatch("{\"update_mask\":\"versionFingerprint\",\"version_fingerprint\":\"a\","
                            "\"restricted\":true}",
                            &p, err),
                     0);
    assert_true(p.set_version);
    assert_false(p.set_restricted);
    assert_int_equal(cpatch("{\"update_mask\":\"versionFingerprint, restricted\"}", &p, err), 0);
    assert_true(p.set_version && p.set_restricted);
    assert_null(p.version);
    assert_int_equal(cpatch("{\"update_mask\":\"name\"}", &p, err), 400);
    assert_int_equal(cpatch("{}", &p, err), 400);
    assert_int_equal(cpatch("{\"restricted\":\"no\"}", &p, err), 400);
    assert_int_equal(cpatch("{\"version_fingerprint\":7}", &p, err), 400);
    cpatch(NULL, &p, err);
}

/* ---- answers ------------------------------------------------------------- */

static json_t *channel_fixture(const char *status)
{
    return json_pack(
        "{s:s, s:s, s:{s:s, s:s, s:s, s:s, s:n, s:s, s:[{s:s, s:[{s:s, s:s}, {s:s, s:s}]}, "
        "{s:s, s:[{s:s, s:s}]}]}}",
        "name", "prod", "bucket_name", "web-app", "version", "name", "v2", "fingerprint", "fp2",
        "status", status, "revoke_at", status[8] == 'R' ? "2026-11-25T09:00:00Z" : "x",
        "revocation_message", "revocation_author", "alice", "builds", "platform", "aws",
        "artifacts", "external_identifier", "ami-1111", "region", "us-east-1",
        "external_identifier", "ami-2222", "region", "us-west-1", "platform", "docker", "artifacts",
        "external_identifier", "sha256:abcd", "region", "docker");
}

static void test_lookup_answer(void **state)
{
    (void)state;
    char err[512];
    json_t *out = NULL;
    json_t *ch = channel_fixture("VERSION_ACTIVE");
    assert_int_equal(webhook_api_lookup_answer(ch, "aws", "us-west-1", &out, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "external_identifier")), "ami-2222");
    assert_string_equal(json_string_value(json_object_get(out, "bucket_name")), "web-app");
    assert_string_equal(json_string_value(json_object_get(out, "version")), "v2");
    assert_string_equal(json_string_value(json_object_get(out, "fingerprint")), "fp2");
    assert_true(json_is_false(json_object_get(out, "revoked")));
    json_decref(out);
    /* case-insensitive platform; docker alone */
    assert_int_equal(webhook_api_lookup_answer(ch, "DOCKER", NULL, &out, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "external_identifier")),
                        "sha256:abcd");
    json_decref(out);
    /* ambiguous without narrowing */
    assert_int_equal(webhook_api_lookup_answer(ch, "aws", NULL, &out, err, sizeof err), 400);
    assert_non_null(strstr(err, "give platform and region"));
    assert_null(out);
    assert_int_equal(webhook_api_lookup_answer(ch, NULL, NULL, &out, err, sizeof err), 400);
    /* nothing there */
    assert_int_equal(webhook_api_lookup_answer(ch, "gce", NULL, &out, err, sizeof err), 404);
    assert_int_equal(webhook_api_lookup_answer(ch, "aws", "eu-west-3", &out, err, sizeof err), 404);
    json_decref(ch);

    /* a revoked version: the literal error_revoked */
    ch = channel_fixture("VERSION_REVOKED");
    assert_int_equal(webhook_api_lookup_answer(ch, "aws", "us-east-1", &out, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "external_identifier")),
                        "error_revoked");
    assert_true(json_is_true(json_object_get(out, "revoked")));
    assert_string_equal(json_string_value(json_object_get(out, "revoke_at")),
                        "2026-11-25T09:00:00Z");
    json_decref(out);
    json_decref(ch);
    /* scheduled: still valid, revoke_at shown */
    ch = channel_fixture("VERSION_REVOCATION_SCHEDULED");
    assert_int_equal(webhook_api_lookup_answer(ch, "aws", "us-east-1", &out, err, sizeof err), 0);
    assert_string_equal(json_string_value(json_object_get(out, "external_identifier")), "ami-1111");
    assert_true(json_is_false(json_object_get(out, "revoked")));
    json_decref(out);
    json_decref(ch);
    /* an empty channel */
    ch = json_pack("{s:s, s:s, s:n}", "name", "qa", "bucket_name", "web-app", "version");
    assert_int_equal(webhook_api_lookup_answer(ch, NULL, NULL, &out, err, sizeof err), 404);
    assert_non_null(strstr(err, "holds no version"));
    json_decref(ch);
}

static void test_search_shape(void **state)
{
    (void)state;
    json_t *m = json_pack(
        "[{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:n}]", "external_identifier",
        "ami-1", "platform", "aws", "region", "us-east-1", "component_type", "amazon-ebs.x",
        "bucket_name", "web-app", "version", "v1", "version_id", "01V", "fingerprint", "fp1",
        "status", "VERSION_REVOKED", "build_id", "01B", "revocation_type", "MANUAL", "revoke_at");
    json_t *s = webhook_api_search_shape(m);
    assert_int_equal(json_array_size(s), 1);
    json_t *o = json_array_get(s, 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "bucket"), "name")),
                        "web-app");
    json_t *v = json_object_get(o, "version");
    assert_string_equal(json_string_value(json_object_get(v, "status")), "VERSION_REVOKED");
    assert_string_equal(json_string_value(json_object_get(v, "fingerprint")), "fp1");
    assert_true(json_is_null(json_object_get(v, "revocation_message"))); /* absent -> null */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(o, "artifact"), "external_identifier")),
        "ami-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "build"), "platform")),
                        "aws");
    json_decref(s);
    json_decref(m);
    json_t *empty = json_array();
    s = webhook_api_search_shape(empty);
    assert_int_equal(json_array_size(s), 0);
    json_decref(s);
    json_decref(empty);
}

/* ---- the registry queries added for the API ------------------------------ */

/* The answers of the Packer paths in HCP's types: version_count a string,
 * a bucket's identity (resource_name, location) and roll-up hrefs, a
 * version's parents href, inherited-from objects with HCP's keys and an
 * href, wherever they are. The base is the configured ids', not the path's. */
static void test_hcp_shape(void **state)
{
    (void)state;
    const reg_ids ids = {"3a0f6c1e-5b7d-4c2a-9e11-0d3b5f7a9c21",
                         "7b6b7db5-5e04-498c-a9a5-9a883b9462a4", 0};
#define BASE                                                                                       \
    "/packer/2023-01-01/organizations/3a0f6c1e-5b7d-4c2a-9e11-0d3b5f7a9c21/projects/"              \
    "7b6b7db5-5e04-498c-a9a5-9a883b9462a4"
    json_error_t je;
    json_t *j = json_loads(
        "{\"buckets\":[{\"name\":\"a\",\"version_count\":3,\"parents\":{\"status\":\"UP_TO_DATE\"},"
        "\"children\":null,\"latest_version\":{\"name\":\"v3\",\"bucket_name\":\"a\","
        "\"fingerprint\":\"fp-3\",\"builds\":[],\"parents\":{\"status\":\"OUT_OF_DATE\"},"
        "\"revocation_inherited_from\":{\"bucket_name\":\"g\",\"version\":\"v1\","
        "\"fingerprint\":\"fp-1\",\"version_id\":\"X\"},\"revocations\":[{\"inherited_from\":"
        "{\"bucket_name\":\"g\",\"version\":\"v1\",\"fingerprint\":\"fp-1\"}},"
        "{\"inherited_from\":null}]}}]}",
        0, &je);
    assert_non_null(j);
    webhook_api_hcp_shape(j, &ids);
    json_t *b = json_array_get(json_object_get(j, "buckets"), 0);
    assert_string_equal(json_string_value(json_object_get(b, "version_count")), "3");
    assert_string_equal(json_string_value(json_object_get(b, "resource_name")),
                        "packer/project/7b6b7db5-5e04-498c-a9a5-9a883b9462a4/bucket/a");
    json_t *loc = json_object_get(b, "location");
    assert_string_equal(json_string_value(json_object_get(loc, "organization_id")),
                        ids.organization_id);
    assert_string_equal(json_string_value(json_object_get(loc, "project_id")), ids.project_id);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "parents"), "href")),
                        BASE "/buckets/a/ancestry?type=ANCESTRY_TYPE_PARENTS");
    assert_true(json_is_null(json_object_get(b, "children")));
    json_t *lv = json_object_get(b, "latest_version");
    json_t *lp = json_object_get(lv, "parents");
    assert_string_equal(json_string_value(json_object_get(lp, "status")), "OUT_OF_DATE");
    assert_string_equal(json_string_value(json_object_get(lp, "href")),
                        BASE "/buckets/a/ancestry?type=ANCESTRY_TYPE_PARENTS"
                             "&version_fingerprint=fp-3");
    json_t *o = json_object_get(lv, "revocation_inherited_from");
    assert_string_equal(json_string_value(json_object_get(o, "version")), "v1");
    assert_string_equal(json_string_value(json_object_get(o, "version_name")), "v1");
    assert_string_equal(json_string_value(json_object_get(o, "version_fingerprint")), "fp-1");
    assert_string_equal(json_string_value(json_object_get(o, "href")),
                        BASE "/buckets/g/versions/fp-1");
    json_t *revs = json_object_get(lv, "revocations");
    o = json_object_get(json_array_get(revs, 0), "inherited_from");
    assert_non_null(json_object_get(o, "href"));
    assert_true(json_is_null(json_array_get(revs, 1)
                                 ? json_object_get(json_array_get(revs, 1), "inherited_from")
                                 : NULL));
    /* twice changes nothing more */
    json_t *once = json_deep_copy(j);
    webhook_api_hcp_shape(j, &ids);
    assert_true(json_equal(once, j));
    json_decref(once);
    json_decref(j);
#undef BASE
}

static void test_registry_additions(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-test-api-XXXXXX", url[80], path[64], err[512];
    assert_non_null(mkdtemp(dir));
    snprintf(url, sizeof url, "sqlite:%s/r.db", dir);
    int code = 0;
    registry *r = registry_open(url, REG_OPEN_CREATE, &code, err, sizeof err);
    assert_non_null(r);
    /* five entries in the same millisecond, then more later: paging by
     * position must give every entry once, in order */
    reg_ctx ctx = {"alice", 1764061200000LL};
    char name[16];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "bucket-%d", i);
        json_t *b = registry_bucket_create(r, &ctx, name, NULL, NULL, err, sizeof err);
        assert_non_null(b);
        json_decref(b);
    }
    ctx.now += 1000;
    json_t *c = registry_channel_create(r, &ctx, "bucket-0", "prod", NULL, false, err, sizeof err);
    assert_non_null(c);
    json_decref(c);
    /* the restricted flag: set, audited once, shown; latest refused */
    ctx.author = "bob";
    c = registry_channel_set_restricted(r, &ctx, "bucket-0", "prod", true, err, sizeof err);
    assert_non_null(c);
    assert_true(json_is_true(json_object_get(c, "restricted")));
    json_decref(c);
    c = registry_channel_set_restricted(r, &ctx, "bucket-0", "prod", true, err, sizeof err);
    assert_non_null(c); /* no change: no audit entry */
    json_decref(c);
    assert_null(
        registry_channel_set_restricted(r, &ctx, "bucket-0", "latest", true, err, sizeof err));
    assert_int_equal(registry_errcode(r), REG_ECONFLICT);
    assert_null(
        registry_channel_set_restricted(r, &ctx, "bucket-0", "nope", true, err, sizeof err));
    assert_int_equal(registry_errcode(r), REG_ENOTFOUND);

    json_t *all = registry_audit_list(r, IG_TIME_NONE, NULL, 0, err, sizeof err);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 7); /* 5 bucket.create, channel.create, .update */
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 6), "action")),
                        "channel.update");
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 6), "author")),
                        "bob");
    json_t *seen = json_array();
    ig_time at = IG_TIME_NONE;
    char id[48] = "";
    for (int pages = 0; pages < 10; pages++) {
        json_t *pg = registry_audit_list_after(r, IG_TIME_NONE, NULL, at, *id ? id : NULL, 2, err,
                                               sizeof err);
        assert_non_null(pg);
        size_t n = json_array_size(pg);
        for (size_t i = 0; i < n; i++)
            json_array_append(seen, json_array_get(pg, i));
        if (n) {
            char *tok = webhook_api_audit_token(json_array_get(pg, n - 1));
            assert_int_equal(
                webhook_api_audit_token_parse(tok, &at, id, sizeof id, err, sizeof err), 0);
            free(tok);
        }
        json_decref(pg);
        if (n < 2)
            break;
    }
    assert_true(json_equal(seen, all));
    json_decref(seen);
    json_decref(all);
    /* since and bucket still filter */
    json_t *pg = registry_audit_list_after(r, 1764061200500LL, "bucket-0", IG_TIME_NONE, NULL, 0,
                                           err, sizeof err);
    assert_int_equal(json_array_size(pg), 2);
    json_decref(pg);
    registry_close(r);
    snprintf(path, sizeof path, "%s/r.db", dir);
    unlink(path);
    snprintf(url, sizeof url, "%s/r.db-wal", dir);
    unlink(url);
    snprintf(url, sizeof url, "%s/r.db-shm", dir);
    unlink(url);
    rmdir(dir);
}

/* ---- the HCP drop-in ----------------------------------------------------- */

static void test_route_hcp(void **state)
{
    (void)state;
    webhook_api_route rt;
    char allow[64], err[512];
#define RM "/resource-manager/2019-12-10"
    static const struct {
        int method;
        const char *path;
        webhook_api_op op;
    } ok[] = {
        {EVHTTP_REQ_GET, RM "/organizations", API_RM_ORG_LIST},
        {EVHTTP_REQ_GET, RM "/organizations/3a0f6c1e-5b7d-4c2a-9e11-0d3b5f7a9c21", API_RM_ORG_GET},
        {EVHTTP_REQ_GET, RM "/projects", API_RM_PROJECT_LIST},
        {EVHTTP_REQ_GET, RM "/projects/7b6b7db5-5e04-498c-a9a5-9a883b9462a4", API_RM_PROJECT_GET},
        {EVHTTP_REQ_GET, P "/registry", API_REGISTRY_GET},
        {EVHTTP_REQ_PUT, P "/registry", API_NOT_SERVED},
        {EVHTTP_REQ_DELETE, P "/registry", API_NOT_SERVED},
        {EVHTTP_REQ_GET, P "/runtasks/validation", API_RUNTASK_GET},
        {EVHTTP_REQ_PATCH, P "/runtasks/hmac", API_RUNTASK_HMAC},
        {EVHTTP_REQ_GET, P "/runtasks/config", API_NOT_SERVED},
        {EVHTTP_REQ_GET, P "/enforced_blocks/bucket/web-app", API_ENFORCED_BUCKET},
        {EVHTTP_REQ_GET, P "/enforced_blocks", API_NOT_SERVED},
        {EVHTTP_REQ_POST, P "/enforced_blocks/EB/versions/V/buckets", API_NOT_SERVED},
        {EVHTTP_REQ_GET, P "/buckets/web-app/ancestry", API_ANCESTRY},
        {EVHTTP_REQ_GET, P "/buckets/web-app/packages/with-vulnerabilities", API_NOT_SERVED},
        {EVHTTP_REQ_GET, P "/buckets/web-app/vulnerabilities", API_NOT_SERVED},
        {EVHTTP_REQ_GET, P "/buckets/web-app/packages/vulnerability-summary", API_NOT_SERVED},
        /* SBOMs and packages (api_sbom.c) */
        {EVHTTP_REQ_PUT, P "/buckets/web-app/versions/fp1/builds/01ABC/sboms", API_SBOM_UPLOAD},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01ABC/sboms", API_SBOM_LIST},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01ABC/sboms/s-1", API_SBOM_GET},
        {EVHTTP_REQ_GET, P "/buckets/web-app/versions/fp1/builds/01ABC/packages",
         API_BUILD_PACKAGES},
        {EVHTTP_REQ_GET, P "/buckets/web-app/packages", API_BUCKET_PACKAGES},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int rc = route(ok[i].method, ok[i].path, &rt, allow, err);
        if (rc != 0 || rt.op != ok[i].op)
            fail_msg("%s: rc %d op %s (%s)", ok[i].path, rc, webhook_api_op_name(rt.op), err);
    }
    assert_int_equal(route(EVHTTP_REQ_GET, RM "/projects/abc", &rt, allow, err), 0);
    assert_string_equal(rt.id, "abc");
    assert_string_equal(rt.base, ""); /* no HCP shaping: not a Packer path */
    assert_int_equal(route(EVHTTP_REQ_GET, P "/runtasks/validation", &rt, allow, err), 0);
    assert_string_equal(rt.id, "validation");
    assert_int_equal(route(EVHTTP_REQ_POST, RM "/organizations", &rt, allow, err), 405);
    assert_string_equal(allow, "GET");
    assert_int_equal(route(EVHTTP_REQ_GET, P "/runtasks/hmac", &rt, allow, err), 405);
    assert_string_equal(allow, "PATCH");
    assert_int_equal(route(EVHTTP_REQ_POST, P "/buckets/web-app/ancestry", &rt, allow, err), 405);
    static const char *const unknown[] = {
        RM "/orgs",
        RM "/projects/a/b",
        RM,
        "/resource-manager/2020-01-01/organizations",
        P "/runtasks",
        P "/registry/x",
        P "/buckets/web-app/ancestry/x",
        P "/buckets/web-app/x",
    };
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        int rc = route(EVHTTP_REQ_GET, unknown[i], &rt, allow, err);
        if (rc != 404)
            fail_msg("%s: %d, expected 404", unknown[i], rc);
    }
    assert_int_equal(route(EVHTTP_REQ_GET, P "/runtasks/bad%20type", &rt, allow, err), 400);
    assert_int_equal(route(EVHTTP_REQ_GET, P "/enforced_blocks/bucket/x!", &rt, allow, err), 400);
    assert_int_equal(webhook_api_op_role(API_RUNTASK_GET, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_RUNTASK_HMAC, false), REG_ROLE_ADMIN);
    assert_int_equal(webhook_api_op_role(API_RM_PROJECT_LIST, false), REG_ROLE_READ);
#undef RM
}

static webhook_oauth_error oparse(const char *ct, const char *auth, const char *body,
                                  webhook_oauth_req *r, char *err)
{
    return webhook_oauth_parse(ct, auth, body, strlen(body), r, err, 256);
}

/* "Basic " + base64 of s. */
static char *basic(const char *s, char *out)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(s), o = 6;
    strcpy(out, "Basic ");
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned char)s[i] << 16 | (i + 1 < n ? (unsigned char)s[i + 1] << 8 : 0) |
                     (i + 2 < n ? (unsigned char)s[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* The token request as golang.org/x/oauth2 sends it (Basic with each part
 * form-urlencoded, or the form), and every way it can be wrong. */
static void test_oauth_parse(void **state)
{
    (void)state;
    webhook_oauth_req r;
    char err[256], h[512];
    const char *form = "application/x-www-form-urlencoded";
    const char *g = "audience=https%3A%2F%2Fapi.hashicorp.cloud&grant_type=client_credentials";
    assert_int_equal(oparse(form, basic("packer:igt_s3cret", h), g, &r, err), OAUTH_OK);
    assert_string_equal(r.client_id, "packer");
    assert_string_equal(r.client_secret, "igt_s3cret");
    assert_true(r.basic);
    /* percent escapes and '+' decode (QueryEscape of each part) */
    assert_int_equal(oparse("Application/X-WWW-Form-Urlencoded; charset=utf-8",
                            basic("%70ack+er:a%2Bb%3Ac", h), g, &r, err),
                     OAUTH_OK);
    assert_string_equal(r.client_id, "pack er");
    assert_string_equal(r.client_secret, "a+b:c");
    assert_int_equal(oparse(form, NULL,
                            "grant_type=client_credentials&client_id=packer&client_secret=igt_x",
                            &r, err),
                     OAUTH_OK);
    assert_false(r.basic);
    assert_string_equal(r.client_secret, "igt_x");
    webhook_oauth_req_wipe(&r);
    assert_int_equal(r.client_secret[0], 0);
    static const struct {
        const char *ct, *auth, *body;
        webhook_oauth_error want;
    } bad[] = {
        {NULL, "packer:zq9", "grant_type=client_credentials", OAUTH_INVALID_REQUEST},
        {"application/json", "packer:zq9", "grant_type=client_credentials", OAUTH_INVALID_REQUEST},
        {"application/x-www-form-urlencodedx", "packer:zq9", "grant_type=client_credentials",
         OAUTH_INVALID_REQUEST},
        {"f", "packer:zq9", "audience=x", OAUTH_INVALID_REQUEST},
        {"f", "packer:zq9", "grant_type=password", OAUTH_UNSUPPORTED_GRANT},
        {"f", "packer:zq9", "grant_type=client_credentials&grant_type=x", OAUTH_INVALID_REQUEST},
        {"f", "packer:zq9", "grant_type=%zz", OAUTH_INVALID_REQUEST},
        {"f", "packer:zq9", "grant_type=client_credentials&client_secret=y", OAUTH_INVALID_REQUEST},
        {"f", "packer:zq9", "grant_type=client_credentials&client_id=other", OAUTH_INVALID_REQUEST},
        {"f", NULL, "grant_type=client_credentials", OAUTH_INVALID_CLIENT},
        {"f", NULL, "grant_type=client_credentials&client_id=packer", OAUTH_INVALID_CLIENT},
        {"f", "packer", "grant_type=client_credentials", OAUTH_INVALID_CLIENT},
        {"f", ":zq9", "grant_type=client_credentials", OAUTH_INVALID_CLIENT},
        {"f", "packer:", "grant_type=client_credentials", OAUTH_INVALID_CLIENT},
        {"f", "p%zz:zq9", "grant_type=client_credentials", OAUTH_INVALID_CLIENT},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *ct = bad[i].ct && strcmp(bad[i].ct, "f") == 0 ? form : bad[i].ct;
        webhook_oauth_error e =
            oparse(ct, bad[i].auth ? basic(bad[i].auth, h) : NULL, bad[i].body, &r, err);
        if (e != bad[i].want)
            fail_msg("case %zu: %d, expected %d (%s)", i, e, bad[i].want, err);
        assert_non_null(err[0] ? err : NULL);
        assert_null(strstr(err, "zq9")); /* never the secret */
    }
    /* not base64, another scheme, a NUL, too big */
    assert_int_equal(oparse(form, "Basic %%%%", g, &r, err), OAUTH_INVALID_CLIENT);
    assert_int_equal(oparse(form, "Basic cGFja2Vy=OnM=", g, &r, err), OAUTH_INVALID_CLIENT);
    assert_int_equal(oparse(form, "Bearer igt_x", g, &r, err), OAUTH_INVALID_CLIENT);
    assert_int_equal(
        webhook_oauth_parse(form, basic("a:b", h), "grant_type=a\0b", 14, &r, err, sizeof err),
        OAUTH_INVALID_REQUEST);
    char *big = malloc(WEBHOOK_OAUTH_MAX_FORM + 2);
    memset(big, 'a', WEBHOOK_OAUTH_MAX_FORM + 1);
    big[WEBHOOK_OAUTH_MAX_FORM + 1] = '\0';
    assert_int_equal(oparse(form, basic("a:b", h), big, &r, err), OAUTH_INVALID_REQUEST);
    free(big);
    assert_string_equal(webhook_oauth_error_name(OAUTH_UNSUPPORTED_GRANT),
                        "unsupported_grant_type");
    assert_int_equal(webhook_oauth_error_status(OAUTH_INVALID_CLIENT), 401);
    assert_int_equal(webhook_oauth_error_status(OAUTH_INVALID_REQUEST), 400);
}

static void test_oauth_throttle(void **state)
{
    (void)state;
    webhook_throttle *t = webhook_throttle_new(3, 60000, 2);
    ig_time now = 1000000;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(webhook_throttle_wait(t, "10.0.0.1", now), 0);
        webhook_throttle_fail(t, "10.0.0.1", now + i);
    }
    assert_int_equal(webhook_throttle_wait(t, "10.0.0.1", now + 10), 59990);
    assert_int_equal(webhook_throttle_wait(t, "10.0.0.2", now + 10), 0);
    assert_int_equal(webhook_throttle_wait(t, "10.0.0.1", now + 60000), 0);
    /* a new window after the old one ended */
    webhook_throttle_fail(t, "10.0.0.1", now + 60000);
    assert_int_equal(webhook_throttle_wait(t, "10.0.0.1", now + 60001), 0);
    /* full: the oldest window is forgotten */
    webhook_throttle_fail(t, "10.0.0.2", now + 60002);
    for (int i = 0; i < 3; i++)
        webhook_throttle_fail(t, "10.0.0.3", now + 60003);
    assert_true(webhook_throttle_wait(t, "10.0.0.3", now + 60004) > 0);
    assert_int_equal(webhook_throttle_wait(t, "10.0.0.1", now + 60004), 0);
    webhook_throttle_free(t);
}

int main(void)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_shapes),
        cmocka_unit_test(test_route_errors),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_pages),
        cmocka_unit_test(test_audit_tokens),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_version_patch),
        cmocka_unit_test(test_version_zero_time),
        cmocka_unit_test(test_channel_patch),
        cmocka_unit_test(test_lookup_answer),
        cmocka_unit_test(test_search_shape),
        cmocka_unit_test(test_hcp_shape),
        cmocka_unit_test(test_route_hcp),
        cmocka_unit_test(test_route_sbom),
        cmocka_unit_test(test_oauth_parse),
        cmocka_unit_test(test_oauth_throttle),
        cmocka_unit_test(test_registry_additions),
    };
    // clang-format on
    return cmocka_run_group_tests(tests, NULL, NULL);
}
