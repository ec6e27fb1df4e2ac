/* Unit tests for notify/: which addresses a webhook may reach (every
 * special range, the IPv6 forms that carry an IPv4 address, allow CIDRs),
 * the retry rules, the bodies, and one real request each way against a
 * listener on 127.0.0.1 -- refused without an allow CIDR (no connection is
 * made), signed and answered with one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/hmac.h"
#include "common/xalloc.h"
#include "notify/notify.h"

static notify_cidr cidr(const char *s)
{
    notify_cidr c;
    char err[200];
    if (notify_cidr_parse(s, &c, err, sizeof err) < 0)
        fail_msg("%s: %s", s, err);
    return c;
}

static void test_cidr_parse(void **state)
{
    (void)state;
    notify_cidr c;
    char err[200];
    c = cidr("10.0.0.0/8");
    assert_int_equal(c.bits, 8);
    c = cidr("127.0.0.1");
    assert_int_equal(c.bits, 32);
    c = cidr("fd00::/8");
    assert_int_equal(c.bits, 8);
    c = cidr("::1");
    assert_int_equal(c.bits, 128);
    const char *bad[] = {"",        "10.0.0.0/33", "10.0.0.1/8",  "10.0.0/8", "10.0.0.0/",
                         "::1/129", "x",           "10.0.0.0/8x", "fd00::1/8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (notify_cidr_parse(bad[i], &c, err, sizeof err) == 0)
            fail_msg("'%s' parsed", bad[i]);
    assert_int_equal(notify_cidr_parse("10.0.0.1/8", &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "past the /8 prefix"));
}

static void test_special_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *addr, *want; /* want NULL: may be reached */
    } cases[] = {
        {"127.0.0.1", "loopback"},
        {"127.255.0.9", "loopback"},
        {"10.1.2.3", "private"},
        {"172.16.0.1", "private"},
        {"172.31.255.255", "private"},
        {"172.32.0.1", NULL},
        {"192.168.1.1", "private"},
        {"169.254.169.254", "link-local"},
        {"100.64.0.1", "shared"},
        {"100.128.0.1", NULL},
        {"0.0.0.0", "this-network"},
        {"224.0.0.1", "multicast"},
        {"255.255.255.255", "reserved"},
        {"198.18.0.1", "benchmarking"},
        {"192.0.2.7", "documentation"},
        {"8.8.8.8", NULL},
        {"::1", "loopback"},
        {"::", "unspecified"},
        {"fe80::1", "link-local"},
        {"fd00:ec2::254", "unique-local"},
        {"fc00::1", "unique-local"},
        {"ff02::1", "multicast"},
        {"::ffff:127.0.0.1", "loopback"},
        {"::ffff:8.8.8.8", NULL},
        {"::ffff:169.254.169.254", "link-local"},
        {"64:ff9b::a00:1", "private"},
        {"2002:7f00:1::", "loopback"},
        {"::7f00:1", "ipv4-compatible"},
        {"2001:db8::1", "documentation"},
        {"2001::1", "ietf-protocol"},
        {"2606:4700::1111", NULL},
        {"[::1]", "loopback"},
        {"example.com", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = notify_ip_refused(cases[i].addr, NULL, 0);
        if ((got == NULL) != (cases[i].want == NULL) || (got && strcmp(got, cases[i].want) != 0))
            fail_msg("%s: got %s, want %s", cases[i].addr, got ? got : "allowed",
                     cases[i].want ? cases[i].want : "allowed");
    }
}

static void test_allow_list(void **state)
{
    (void)state;
    notify_cidr allow[] = {cidr("127.0.0.0/8"), cidr("fd12::/16"), cidr("10.1.0.0/16")};
    assert_null(notify_ip_refused("127.0.0.1", allow, 3));
    assert_null(notify_ip_refused("::ffff:127.0.0.1", allow, 3)); /* the same host */
    assert_null(notify_ip_refused("fd12:3456::1", allow, 3));
    assert_null(notify_ip_refused("10.1.200.3", allow, 3));
    assert_string_equal(notify_ip_refused("10.2.0.1", allow, 3), "private");
    assert_string_equal(notify_ip_refused("fd13::1", allow, 3), "unique-local");
    assert_string_equal(notify_ip_refused("::1", allow, 3), "loopback"); /* v6 loopback is not v4 */
    notify_cidr narrow = cidr("127.1.0.0/16");
    assert_string_equal(notify_ip_refused("127.0.0.1", &narrow, 1), "loopback");
    /* socket addresses as libcurl hands them over */
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "169.254.169.254", &in.sin_addr);
    assert_string_equal(notify_addr_refused((struct sockaddr *)&in, allow, 3), "link-local");
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.1.0.5", &in6.sin6_addr);
    assert_null(notify_addr_refused((struct sockaddr *)&in6, allow, 3));
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    assert_string_equal(notify_addr_refused((struct sockaddr *)&un, allow, 3), "not-ip");
}

static void test_retry_rules(void **state)
{
    (void)state;
    notify_policy p = {5000, 3600000, 24 * 3600000LL};
    assert_int_equal(notify_retry_delay(&p, 1), 5000);
    assert_int_equal(notify_retry_delay(&p, 2), 10000);
    assert_int_equal(notify_retry_delay(&p, 3), 20000);
    assert_int_equal(notify_retry_delay(&p, 10), 2560000);
    assert_int_equal(notify_retry_delay(&p, 11), 3600000); /* at most an hour apart */
    assert_int_equal(notify_retry_delay(&p, 1000), 3600000);
    notify_result r = {0};
    int retried[] = {0, 408, 429, 500, 502, 503, 599};
    int final[] = {200, 204, 301, 302, 400, 401, 404, 410, 422};
    for (size_t i = 0; i < sizeof retried / sizeof retried[0]; i++) {
        r.status = retried[i];
        assert_true(notify_retryable(&r));
    }
    for (size_t i = 0; i < sizeof final / sizeof final[0]; i++) {
        r.status = final[i];
        assert_false(notify_retryable(&r));
    }
    const ig_time t = 1767225600000LL;
    ig_time next;
    r.status = 202;
    assert_int_equal(notify_outcome(&p, &r, 0, IG_TIME_NONE, t, &next), REG_OUTBOX_DELIVERED);
    r.status = 404;
    assert_int_equal(notify_outcome(&p, &r, 0, IG_TIME_NONE, t, &next), REG_OUTBOX_FAILED);
    r.status = 500;
    assert_int_equal(notify_outcome(&p, &r, 0, IG_TIME_NONE, t, &next), REG_OUTBOX_RETRY);
    assert_int_equal(next, t + 5000);
    assert_int_equal(notify_outcome(&p, &r, 1, t, t + 5000, &next), REG_OUTBOX_RETRY);
    assert_int_equal(next, t + 5000 + 10000);
    /* the last retry lands at the end of the window, and failing then gives up */
    assert_int_equal(notify_outcome(&p, &r, 30, t, t + p.give_up_ms - 60000, &next),
                     REG_OUTBOX_RETRY);
    assert_int_equal(next, t + p.give_up_ms);
    assert_int_equal(notify_outcome(&p, &r, 31, t, t + p.give_up_ms, &next), REG_OUTBOX_FAILED);
}

static void test_bodies(void **state)
{
    (void)state;
    char *a = notify_verification_body(), *b = notify_verification_body();
    json_t *e = json_loads(a, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(e, "event_action")), "test");
    assert_string_equal(json_string_value(json_object_get(e, "event_source")),
                        "hashicorp.webhook.verification");
    assert_string_equal(json_string_value(json_object_get(e, "event_description")), "Verification");
    assert_int_equal(json_object_size(json_object_get(e, "event_payload")), 0);
    json_t *e2 = json_loads(b, 0, NULL);
    assert_string_not_equal(json_string_value(json_object_get(e, "event_id")),
                            json_string_value(json_object_get(e2, "event_id")));
    json_decref(e);
    json_decref(e2);
    free(a);
    free(b);
    notify_identity id = {"org-1", "proj-1", "reg-1"};
    char *s = notify_body("{\"event_id\":\"x\",\"resource_id\":\"\",\"event_payload\":"
                          "{\"organization_id\":\"\",\"bucket\":{\"name\":\"b\"}}}",
                          &id);
    e = json_loads(s, 0, NULL);
    json_t *p = json_object_get(e, "event_payload");
    assert_string_equal(json_string_value(json_object_get(e, "resource_id")), "reg-1");
    assert_string_equal(json_string_value(json_object_get(e, "resource_name")),
                        "packer/project/proj-1/registry/reg-1");
    assert_string_equal(json_string_value(json_object_get(p, "organization_id")), "org-1");
    assert_string_equal(json_string_value(json_object_get(p, "project_id")), "proj-1");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "registry"), "id")),
                        "reg-1");
    json_decref(e);
    free(s);
    s = notify_body("not json", &id);
    assert_string_equal(s, "not json");
    free(s);
    char *k1 = notify_new_secret(), *k2 = notify_new_secret();
    assert_int_equal(strlen(k1), 64);
    assert_int_equal(strspn(k1, "0123456789abcdef"), 64);
    assert_string_not_equal(k1, k2);
    free(k1);
    free(k2);
    char buf[300];
    assert_string_equal(
        notify_url_origin("https://u:p@Hooks.example:8443/T0/B0/secret?x=1", buf, sizeof buf),
        "https://Hooks.example:8443"); /* no user, path or query */
}

/* ---- one request against a listener on 127.0.0.1 ---------------------- */

typedef struct listener {
    int fd, port;
    const char *answer;
    char request[8192];
    size_t len;
    int accepted;
} listener;

static void *serve_one(void *arg)
{
    listener *l = arg;
    int c = accept(l->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    l->accepted = 1;
    ssize_t n;
    /* headers and a body of Content-Length: read until both are in */
    while ((n = read(c, l->request + l->len, sizeof l->request - 1 - l->len)) > 0) {
        l->len += (size_t)n;
        l->request[l->len] = '\0';
        char *end = strstr(l->request, "\r\n\r\n");
        char *cl = strcasestr(l->request, "Content-Length: ");
        if (end && cl && l->len >= (size_t)(end + 4 - l->request) + (size_t)atoi(cl + 16))
            break;
    }
    if (write(c, l->answer, strlen(l->answer)) < 0)
        l->accepted = 2;
    close(c);
    return NULL;
}

static void listen_local(listener *l, const char *answer)
{
    memset(l, 0, sizeof *l);
    l->answer = answer;
    l->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(l->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(l->fd, 4), 0);
    socklen_t al = sizeof a;
    getsockname(l->fd, (struct sockaddr *)&a, &al);
    l->port = ntohs(a.sin_port);
}

/* The value of header name in the request (copied into out). */
static const char *header(const listener *l, const char *name, char *out, size_t n)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s: ", name);
    const char *p = strcasestr(l->request, key);
    if (!p)
        return NULL;
    p += strlen(key);
    snprintf(out, n, "%.*s", (int)strcspn(p, "\r\n"), p);
    return out;
}

static void test_send_refused_and_signed(void **state)
{
    (void)state;
    listener l;
    char url[100], v[300], want[IG_HMAC_SHA512_HEX];
    const char *body = "{\"event_action\":\"revoke\"}";
    listen_local(&l, "HTTP/1.1 201 Created\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/hook", l.port);
    notify_opts o = {.connect_timeout_ms = 2000, .timeout_ms = 5000};
    notify_result r;
    /* refused: no connection is ever made (the listener's queue stays empty) */
    assert_int_equal(notify_send(&o, NULL, url, "sekret-sekret-sekret", body, 1767225600, &r), -1);
    assert_true(r.refused);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.error, "127.0.0.1: a loopback address"));
    assert_non_null(strstr(r.error, "--webhook-allow-network"));
    snprintf(url, sizeof url, "http://localhost:%d/hook",
             l.port); /* a name: judged once resolved */
    assert_int_equal(notify_send(&o, NULL, url, "sekret-sekret-sekret", body, 1767225600, &r), -1);
    assert_true(r.refused);
    fcntl(l.fd, F_SETFL, O_NONBLOCK);
    assert_int_equal(accept(l.fd, NULL, NULL), -1);
    assert_int_equal(errno, EAGAIN);
    fcntl(l.fd, F_SETFL, 0);
    /* allowed: a signed POST, its answer kept */
    notify_cidr allow = cidr("127.0.0.0/8");
    o.allow = &allow;
    o.n_allow = 1;
    pthread_t t;
    pthread_create(&t, NULL, serve_one, &l);
    assert_int_equal(notify_send(&o, NULL, url, "sekret-sekret-sekret", body, 1767225600, &r), 0);
    pthread_join(t, NULL);
    close(l.fd);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.response, "hello");
    assert_non_null(strstr(l.request, "POST /hook HTTP/1.1"));
    assert_string_equal(header(&l, "Content-Type", v, sizeof v), "application/json");
    ig_hmac_sha512_hex("sekret-sekret-sekret", 20, body, strlen(body), want);
    assert_string_equal(header(&l, "X-Hcp-Webhook-Signature", v, sizeof v), want);
    assert_string_equal(header(&l, "X-Imagegate-Webhook-Timestamp", v, sizeof v), "1767225600");
    char *signed_text = xasprintf("1767225600.%s", body);
    ig_hmac_sha512_hex("sekret-sekret-sekret", 20, signed_text, strlen(signed_text), want);
    free(signed_text);
    assert_string_equal(header(&l, "X-Imagegate-Webhook-Signature", v, sizeof v), want);
    assert_null(strstr(l.request, "sekret"));
}

/* Two requests, read from one accepted connection (keep-alive). */
static void *serve_two(void *arg)
{
    listener *l = arg;
    int c = accept(l->fd, NULL, NULL);
    if (c < 0)
        return NULL;
    l->accepted = 1;
    for (int i = 0; i < 2; i++) {
        l->len = 0;
        ssize_t n;
        while ((n = read(c, l->request + l->len, sizeof l->request - 1 - l->len)) > 0) {
            l->len += (size_t)n;
            l->request[l->len] = '\0';
            char *end = strstr(l->request, "\r\n\r\n");
            char *cl = strcasestr(l->request, "Content-Length: ");
            if (end && cl && l->len >= (size_t)(end + 4 - l->request) + (size_t)atoi(cl + 16))
                break;
        }
        if (n <= 0 || write(c, l->answer, strlen(l->answer)) < 0)
            break;
        l->accepted += i; /* 2 when the second request came on the same connection */
    }
    close(c);
    return NULL;
}

/* A session reuses its connection, and the second request carries its own
 * signatures, nothing of the first. */
static void test_session_keeps_connection(void **state)
{
    (void)state;
    listener l;
    char url[100], v[300], want[IG_HMAC_SHA512_HEX];
    listen_local(&l, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/h", l.port);
    notify_cidr allow = cidr("127.0.0.0/8");
    notify_opts o = {.connect_timeout_ms = 2000, .timeout_ms = 5000, .allow = &allow, .n_allow = 1};
    notify_session *s = notify_session_new();
    notify_result r;
    pthread_t t;
    pthread_create(&t, NULL, serve_two, &l);
    assert_int_equal(notify_send(&o, s, url, "first-secret-0123456789", "{\"n\":1}", 10, &r), 0);
    assert_int_equal(notify_send(&o, s, url, "other-secret-0123456789", "{\"n\":2}", 20, &r), 0);
    pthread_join(t, NULL);
    notify_session_free(s);
    close(l.fd);
    assert_int_equal(l.accepted, 2);
    ig_hmac_sha512_hex("other-secret-0123456789", 23, "{\"n\":2}", 7, want);
    assert_string_equal(header(&l, "X-Hcp-Webhook-Signature", v, sizeof v), want);
    assert_string_equal(header(&l, "X-Imagegate-Webhook-Timestamp", v, sizeof v), "20");
}

static void test_send_no_redirects(void **state)
{
    (void)state;
    listener l;
    char url[100];
    listen_local(&l, "HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
    snprintf(url, sizeof url, "http://127.0.0.1:%d/", l.port);
    notify_cidr allow = cidr("127.0.0.1/32");
    notify_opts o = {.connect_timeout_ms = 2000, .timeout_ms = 5000, .allow = &allow, .n_allow = 1};
    notify_result r;
    pthread_t t;
    pthread_create(&t, NULL, serve_one, &l);
    assert_int_equal(notify_send(&o, NULL, url, "sekret-sekret-sekret", "{}", 1, &r), -1);
    pthread_join(t, NULL);
    close(l.fd);
    assert_int_equal(r.status, 302);
    assert_non_null(strstr(r.error, "redirects are not followed"));
    assert_false(notify_retryable(&r));
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cidr_parse),
        cmocka_unit_test(test_special_ranges),
        cmocka_unit_test(test_allow_list),
        cmocka_unit_test(test_retry_rules),
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_send_refused_and_signed),
        cmocka_unit_test(test_send_no_redirects),
        cmocka_unit_test(test_session_keeps_connection),
    };
    int rc = cmocka_run_group_tests_name("notify", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
