/* Unit tests for webhook/: signatures, configuration (and the settings table
 * of docs/configuration.md), allowed hosts, the run-task body parser,
 * callback documents and their limits, archive extraction safety,
 * configuration scanning, and the Authorization header picked out of a
 * streaming header block with the token snapshot it is checked against. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "webhook/api.h"
#include "webhook/archive.h"
#include "webhook/console.h"
#include "webhook/authhdr.h"
#include "webhook/framing.h"
#include "webhook/callback.h"
#include "webhook/config.h"
#include "webhook/runtask.h"
#include "webhook/server.h"
#include "webhook/sig.h"
#include "webhook/tokens.h"

#include <openssl/evp.h>

/* ---- signatures ------------------------------------------------------- */

static const char body[] = "{\"payload_version\":1,\"stage\":\"post_plan\"}";

static void test_sig_good_bad(void **state)
{
    (void)state;
    const char *keys[] = {"secret-one"};
    webhook_keys *k = webhook_keys_from(keys, 1);
    char sig[129];
    webhook_sig_sign("secret-one", body, strlen(body), sig);
    assert_int_equal(strlen(sig), 128);
    assert_int_equal(webhook_sig_verify(k, sig, body, strlen(body)), WEBHOOK_SIG_OK);
    /* one flipped hex digit */
    sig[10] = sig[10] == 'a' ? 'b' : 'a';
    assert_int_equal(webhook_sig_verify(k, sig, body, strlen(body)), WEBHOOK_SIG_BAD);
    /* signed with another key */
    webhook_sig_sign("other", body, strlen(body), sig);
    assert_int_equal(webhook_sig_verify(k, sig, body, strlen(body)), WEBHOOK_SIG_BAD);
    /* a body changed by one byte (a re-serialised body would be too) */
    webhook_sig_sign("secret-one", body, strlen(body), sig);
    assert_int_equal(webhook_sig_verify(k, sig, body, strlen(body) - 1), WEBHOOK_SIG_BAD);
    /* uppercase hex is the same bytes */
    char upper[129];
    for (int i = 0; i < 129; i++)
        upper[i] = (char)(sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32 : sig[i]);
    assert_int_equal(webhook_sig_verify(k, upper, body, strlen(body)), WEBHOOK_SIG_OK);
    /* wrong length, not hex */
    assert_int_equal(webhook_sig_verify(k, "abcd", body, strlen(body)), WEBHOOK_SIG_BAD);
    char junk[129];
    memset(junk, 'z', 128);
    junk[128] = '\0';
    assert_int_equal(webhook_sig_verify(k, junk, body, strlen(body)), WEBHOOK_SIG_BAD);
    webhook_keys_free(k);
}

static void test_sig_empty_and_missing(void **state)
{
    (void)state;
    const char *keys[] = {"k"};
    webhook_keys *k = webhook_keys_from(keys, 1);
    /* key configured: missing or empty header -> 401 */
    assert_int_equal(webhook_sig_verify(k, NULL, body, strlen(body)), WEBHOOK_SIG_BAD);
    assert_int_equal(webhook_sig_verify(k, "", body, strlen(body)), WEBHOOK_SIG_BAD);
    /* empty body signed correctly is fine */
    char sig[129];
    webhook_sig_sign("k", "", 0, sig);
    assert_int_equal(webhook_sig_verify(k, sig, "", 0), WEBHOOK_SIG_OK);
    webhook_keys_free(k);
    /* no key: no header ok, empty header ok, a header -> 400 */
    webhook_keys *none = webhook_keys_from(NULL, 0);
    assert_int_equal(webhook_sig_verify(none, NULL, body, strlen(body)), WEBHOOK_SIG_OK);
    assert_int_equal(webhook_sig_verify(NULL, "", body, strlen(body)), WEBHOOK_SIG_OK);
    assert_int_equal(webhook_sig_verify(none, sig, body, strlen(body)), WEBHOOK_SIG_UNEXPECTED);
    webhook_keys_free(none);
}

static void test_sig_rotation_and_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-sig-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/keys", dir);
    FILE *f = fopen(path, "w");
    fputs("  old-key  \n\nnew-key\r\n", f);
    fclose(f);
    chmod(path, 0600);
    webhook_keys *k = webhook_keys_load(path, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(webhook_keys_count(k), 2);
    char s1[129], s2[129];
    webhook_sig_sign("old-key", body, strlen(body), s1);
    webhook_sig_sign("new-key", body, strlen(body), s2);
    assert_int_equal(webhook_sig_verify(k, s1, body, strlen(body)), WEBHOOK_SIG_OK);
    assert_int_equal(webhook_sig_verify(k, s2, body, strlen(body)), WEBHOOK_SIG_OK);
    webhook_keys_free(k);

    /* an empty file is an error, a missing one too */
    f = fopen(path, "w");
    fputs("\n  \n", f);
    fclose(f);
    assert_null(webhook_keys_load(path, err, sizeof err));
    assert_non_null(strstr(err, "no HMAC key"));
    unlink(path);
    assert_null(webhook_keys_load(path, err, sizeof err));

    /* generation: 0600, one 64-hex key, not overwritten */
    assert_int_equal(webhook_keys_generate(path, err, sizeof err), 1);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    k = webhook_keys_load(path, err, sizeof err);
    assert_non_null(k);
    assert_int_equal(webhook_keys_count(k), 1);
    webhook_keys_free(k);
    assert_int_equal(webhook_keys_generate(path, err, sizeof err), 0);
    unlink(path);
    rmdir(dir);
}

/* ---- configuration ---------------------------------------------------- */

static const char *fake_env_names[8];
static const char *fake_env_values[8];
static const char *fake_env(const char *name)
{
    for (int i = 0; i < 8 && fake_env_names[i]; i++)
        if (strcmp(fake_env_names[i], name) == 0)
            return fake_env_values[i];
    return NULL;
}

static void set_env(int i, const char *n, const char *v)
{
    fake_env_names[i] = n;
    fake_env_values[i] = v;
    if (i + 1 < 8)
        fake_env_names[i + 1] = NULL;
}

static webhook_config *load(int argc, char **argv, char *err, size_t errlen)
{
    bool help = false;
    return webhook_config_load(argc, argv, NULL, fake_env, &help, err, errlen);
}

static void test_config_defaults(void **state)
{
    (void)state;
    char err[512];
    set_env(0, NULL, NULL);
    char *argv[] = {"serve"};
    webhook_config *c = load(1, argv, err, sizeof err);
    assert_non_null(c);
    assert_string_equal(c->listen, "0.0.0.0:8443");
    assert_int_equal(c->workers, 2);
    assert_int_equal(c->max_plan_bytes, 1024LL * 1024 * 1024);
    assert_int_equal(c->read_timeout, 30000);
    assert_int_equal(c->header_timeout, 20000);
    assert_int_equal(c->body_timeout, 120000);
    assert_int_equal(c->token_lifetime, 600000);
    assert_int_equal(c->token_refresh, 5000);
    assert_int_equal(c->n_allowed_hosts, 1);
    assert_string_equal(c->allowed_hosts[0], "app.terraform.io");
    assert_false(c->insecure_http);
    webhook_config_free(c);
}

static void test_config_precedence(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-cfg-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], err[512];
    snprintf(path, sizeof path, "%s/imagegate.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs("# test\nworkers: 3\nstore_workers: 3\nqueue_depth: 7\nmax_plan_bytes: 10M\n"
          "allowed_host:\n  - tfe.example.com\n  - Other.Example.com:8443\n"
          "read_timeout: 2m\ninsecure_http: yes\n",
          f);
    fclose(f);
    set_env(0, "IMAGEGATE_CONFIG", path);
    set_env(1, "IMAGEGATE_STORE_WORKERS", "5");
    set_env(2, "IMAGEGATE_QUEUE_DEPTH", "9");
    char *argv[] = {"serve", "--queue-depth", "11", "--max-plan-bytes=2M", "--db", "sqlite:x.db"};
    webhook_config *c = load(6, argv, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->workers, 3);       /* file */
    assert_int_equal(c->store_workers, 5); /* env beats file */
    assert_int_equal(c->queue_depth, 11);  /* flag beats env */
    assert_int_equal(c->max_plan_bytes, 2 * 1024 * 1024);
    assert_int_equal(c->read_timeout, 120000);
    assert_true(c->insecure_http);
    assert_string_equal(c->db, "sqlite:x.db");
    assert_int_equal(c->n_allowed_hosts, 2);
    assert_string_equal(c->allowed_hosts[1], "other.example.com:8443");
    webhook_config_free(c);

    /* repeated flags append; env lists are comma separated */
    set_env(0, "IMAGEGATE_ALLOWED_HOST", "a.example, b.example");
    char *argv2[] = {"serve",
                     "--allowed-host",
                     "x.example",
                     "--allowed-host",
                     "y.example:9",
                     "--allowed-host",
                     "HTTP://Plain.Example:8080/",
                     "--allowed-host",
                     "https://tls.example/"};
    c = load(9, argv2, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->n_allowed_hosts, 4);
    assert_string_equal(c->allowed_hosts[0], "x.example");
    assert_string_equal(c->allowed_hosts[2], "http://plain.example:8080");
    assert_string_equal(c->allowed_hosts[3], "tls.example");
    assert_true(webhook_config_host_allowed(c, "http://plain.example:8080/cb"));
    assert_false(webhook_config_host_allowed(c, "https://plain.example:8080/cb"));
    assert_true(webhook_config_host_allowed(c, "https://tls.example/cb"));
    webhook_config_free(c);
    char *argv3[] = {"serve"};
    c = load(1, argv3, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->n_allowed_hosts, 2);
    assert_string_equal(c->allowed_hosts[1], "b.example");
    webhook_config_free(c);

    /* an unknown key names file and line */
    f = fopen(path, "w");
    fputs("workers: 2\nwrokers: 3\n", f);
    fclose(f);
    set_env(0, "IMAGEGATE_CONFIG", path);
    c = load(1, argv3, err, sizeof err);
    assert_null(c);
    assert_non_null(strstr(err, ":2: wrokers: unknown key"));
    unlink(path);
    rmdir(dir);
    set_env(0, NULL, NULL);
}

static void expect_bad(int argc, char **argv, const char *needle)
{
    char err[512];
    webhook_config *c = load(argc, argv, err, sizeof err);
    if (c) {
        webhook_config_free(c);
        fail_msg("accepted: %s %s", argv[1], argc > 2 ? argv[2] : "");
    }
    if (!strstr(err, needle))
        fail_msg("error '%s' lacks '%s'", err, needle);
}

/* --webhook-allow-network: CIDRs from every layer, repeated flags append,
 * a bad one named with its source; the retry settings' defaults. */
static void test_config_webhook_networks(void **state)
{
    (void)state;
    char err[512];
    set_env(0, "IMAGEGATE_WEBHOOK_ALLOW_NETWORK", "10.0.0.0/8, 192.168.0.0/16");
    char *argv[] = {"serve"};
    webhook_config *c = load(1, argv, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->n_webhook_allow, 2);
    assert_int_equal(c->webhook_allow[1].bits, 16);
    assert_int_equal(c->webhook_retry_min, 5000);
    assert_int_equal(c->webhook_retry_max, 3600000);
    assert_int_equal(c->webhook_give_up, 24 * 3600000LL);
    assert_int_equal(c->webhook_workers, 2);
    webhook_config_free(c);
    char *argv2[] = {
        "serve",    "--webhook-allow-network", "127.0.0.0/8", "--webhook-allow-network",
        "fd00::/8", "--allowed-host",          "tfe.example"};
    c = load(7, argv2, err, sizeof err);
    assert_non_null(c);
    assert_int_equal(c->n_webhook_allow, 2); /* the flags replace the environment's */
    assert_null(notify_ip_refused("127.0.0.1", c->webhook_allow, c->n_webhook_allow));
    assert_null(notify_ip_refused("fd00::5", c->webhook_allow, c->n_webhook_allow));
    assert_string_equal(notify_ip_refused("10.0.0.1", c->webhook_allow, c->n_webhook_allow),
                        "private");
    assert_int_equal(c->n_allowed_hosts, 1);
    webhook_config_free(c);
    set_env(0, NULL, NULL);
    expect_bad(3, (char *[]){"serve", "--webhook-allow-network", "127.0.0.1/8", NULL},
               "--webhook-allow-network: '127.0.0.1/8': bits are set past");
    expect_bad(3, (char *[]){"serve", "--webhook-allow-network", "localhost", NULL}, "not a CIDR");
    expect_bad(5,
               (char *[]){"serve", "--webhook-retry-min", "5m", "--webhook-retry-max", "1m", NULL},
               "webhook-retry-min is longer");
    expect_bad(3, (char *[]){"serve", "--webhook-retry-min", "0s", NULL}, "--webhook-retry-min");
}

static void test_config_bounds(void **state)
{
    (void)state;
    set_env(0, NULL, NULL);
    expect_bad(3, (char *[]){"serve", "--workers", "0", NULL}, "--workers");
    expect_bad(3, (char *[]){"serve", "--workers", "65", NULL}, "outside 1..64");
    expect_bad(3, (char *[]){"serve", "--workers", "two", NULL}, "not a whole number");
    expect_bad(3, (char *[]){"serve", "--max-plan-bytes", "1k", NULL}, "--max-plan-bytes");
    expect_bad(3, (char *[]){"serve", "--read-timeout", "0s", NULL}, "--read-timeout");
    expect_bad(3, (char *[]){"serve", "--read-timeout", "soon", NULL}, "--read-timeout");
    expect_bad(3, (char *[]){"serve", "--header-timeout", "0s", NULL}, "--header-timeout");
    expect_bad(3, (char *[]){"serve", "--header-timeout", "11m", NULL}, "outside 1s..600s");
    expect_bad(3, (char *[]){"serve", "--body-timeout", "2h", NULL}, "--body-timeout");
    expect_bad(3, (char *[]){"serve", "--queue-depth", "-1", NULL}, "--queue-depth");
    expect_bad(2, (char *[]){"serve", "--bogus", NULL}, "unknown option");
    expect_bad(2, (char *[]){"serve", "--workers", NULL}, "needs a value");
    expect_bad(3, (char *[]){"serve", "--listen", "8443", NULL}, "ADDR:PORT");
    expect_bad(3, (char *[]){"serve", "--listen", "127.0.0.1:70000", NULL}, "ADDR:PORT");
    expect_bad(3, (char *[]){"serve", "--tls-cert", "a.pem", NULL}, "together");
    expect_bad(3, (char *[]){"serve", "--public-url", "ftp://x", NULL}, "public-url");
    expect_bad(3, (char *[]){"serve", "--allowed-host", "evil/path", NULL}, "HOST");
    expect_bad(3, (char *[]){"serve", "--allowed-host", "http://evil/path", NULL}, "HOST");
    expect_bad(3, (char *[]){"serve", "--allowed-host", "ftp://host", NULL}, "HOST");
    expect_bad(2, (char *[]){"serve", "--insecure-http=maybe", NULL}, "true or false");
    expect_bad(3, (char *[]){"serve", "--log-level", "loud", NULL}, "log-level");
    set_env(0, "IMAGEGATE_WORKERS", "1000");
    expect_bad(1, (char *[]){"serve", NULL}, "IMAGEGATE_WORKERS");
    set_env(0, NULL, NULL);

    char err[512];
    char *ok[] = {"serve", "--listen", "127.0.0.1:0", "--workers", "64", "--insecure-http"};
    webhook_config *c = load(6, ok, err, sizeof err);
    assert_non_null(c);
    assert_true(c->insecure_http);
    webhook_config_free(c);
    char addr[64];
    int port;
    assert_int_equal(webhook_split_listen("[::1]:8443", addr, sizeof addr, &port, err, sizeof err),
                     0);
    assert_string_equal(addr, "::1");
    assert_int_equal(port, 8443);
}

/* ---- allowed hosts ---------------------------------------------------- */

static void test_allowed_hosts(void **state)
{
    (void)state;
    char *hosts[] = {"app.terraform.io", "tfe.example.com:8443", "http://127.0.0.1:5000",
                     "127.0.0.1:6000"};
    assert_true(webhook_host_allowed(hosts, 3, "https://app.terraform.io/api/v2/plans/x"));
    assert_true(webhook_host_allowed(hosts, 3, "https://APP.terraform.io:443/x"));
    assert_false(webhook_host_allowed(hosts, 3, "https://app.terraform.io:8443/x"));
    assert_false(webhook_host_allowed(hosts, 3, "https://app.terraform.io.evil.com/x"));
    assert_false(webhook_host_allowed(hosts, 3, "https://app.terraform.io@evil.com/x"));
    assert_false(webhook_host_allowed(hosts, 3, "https://evil.com/app.terraform.io"));
    assert_false(webhook_host_allowed(hosts, 3, "https://evil.com/?h=app.terraform.io"));
    assert_true(webhook_host_allowed(hosts, 3, "https://tfe.example.com:8443/api"));
    assert_false(webhook_host_allowed(hosts, 3, "https://tfe.example.com/api"));
    /* plain http only where the entry says http:// */
    assert_true(webhook_host_allowed(hosts, 4, "http://127.0.0.1:5000/plan"));
    assert_false(webhook_host_allowed(hosts, 4, "https://127.0.0.1:5000/plan"));
    assert_false(webhook_host_allowed(hosts, 4, "http://localhost:5000/plan"));
    assert_true(webhook_host_allowed(hosts, 4, "https://127.0.0.1:6000/plan"));
    assert_false(webhook_host_allowed(hosts, 4, "http://127.0.0.1:6000/plan"));
    assert_false(webhook_host_allowed(hosts, 4, "http://app.terraform.io/x"));
    assert_false(webhook_host_allowed(hosts, 4, "http://app.terraform.io:80/x"));
    assert_false(webhook_host_allowed(hosts, 4, "http://tfe.example.com:8443/api"));
    assert_false(webhook_host_allowed(hosts, 3, "ftp://app.terraform.io/x"));
    assert_false(webhook_host_allowed(hosts, 3, "not a url"));
    assert_false(webhook_host_allowed(hosts, 3, NULL));
    assert_false(webhook_host_allowed(hosts, 0, "https://app.terraform.io/"));
}

/* ---- request bodies ----------------------------------------------------- */

static char *read_fixture(const char *rel, size_t *len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", IG_FIXTURES, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = xmalloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void test_runtask_parse(void **state)
{
    (void)state;
    char err[512];
    size_t len;
    webhook_runtask_req rq;
    char *b = read_fixture("runtask/post_plan.json", &len);
    assert_int_equal(webhook_runtask_parse(b, len, &rq, err, sizeof err), 0);
    assert_false(rq.verification);
    assert_string_equal(rq.stage, "post_plan");
    assert_string_equal(rq.task_result_id, "taskrs-2nH5dncYoXaMVQmJ");
    assert_string_equal(rq.workspace, "my-workspace");
    assert_string_equal(rq.workdir, "/terraform");
    assert_true(rq.outcomes);
    assert_int_equal(rq.payload_version, 1);
    webhook_runtask_req_dispose(&rq);
    free(b);

    b = read_fixture("runtask/verification.json", &len);
    assert_int_equal(webhook_runtask_parse(b, len, &rq, err, sizeof err), 0);
    assert_true(rq.verification);
    webhook_runtask_req_dispose(&rq);
    free(b);

    b = read_fixture("runtask/pre_plan.json", &len);
    assert_int_equal(webhook_runtask_parse(b, len, &rq, err, sizeof err), 0);
    assert_null(rq.plan_url);
    assert_non_null(rq.config_url);
    webhook_runtask_req_dispose(&rq);
    free(b);

    static const struct {
        const char *body, *needle;
    } bad[] = {
        {"{\"payload_version\":1,", "malformed JSON"},
        {"[1,2]", "JSON object"},
        {"{\"payload_version\":\"1\",\"stage\":\"post_plan\",\"access_token\":\"t\"}",
         "payload_version: expected an integer"},
        {"{\"payload_version\":1,\"stage\":\"post_plan\",\"access_token\":\"t\",\"task_result_id\":"
         "\"taskrs-1\"}",
         "task_result_callback_url: missing"},
        {"{\"payload_version\":1,\"stage\":\"post_plan\",\"access_token\":\"t\",\"task_result_id\":"
         "\"taskrs-1\",\"task_result_callback_url\":\"/relative\"}",
         "absolute"},
        {"{\"payload_version\":1,\"stage\":7,\"access_token\":\"t\"}", "stage: expected a string"},
        {"{\"payload_version\":1,\"stage\":\"post_plan\",\"access_token\":\"t\",\"task_result_id\":"
         "\"taskrs-1\",\"task_result_callback_url\":\"https://x/"
         "cb\",\"capabilities\":{\"outcomes\":\"yes\"}}",
         "capabilities.outcomes"},
        {"{\"payload_version\":1,\"payload_version\":2}", "malformed JSON"},
        {"{\"stage\":\"post_plan\",\"access_token\":\"t\"}", "payload_version: missing"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(
            webhook_runtask_parse(bad[i].body, strlen(bad[i].body), &rq, err, sizeof err), -1);
        if (!strstr(err, bad[i].needle))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, bad[i].needle);
    }
    /* unknown fields and nulls are tolerated */
    const char *ok =
        "{\"payload_version\":1,\"stage\":\"post_plan\",\"access_token\":\"t\","
        "\"task_result_id\":\"taskrs-1\",\"task_result_callback_url\":\"https://x/cb\","
        "\"plan_json_api_url\":null,\"vcs_branch\":null,\"new_field\":{\"a\":[1]},"
        "\"capabilities\":null,\"run_id\":null}";
    assert_int_equal(webhook_runtask_parse(ok, strlen(ok), &rq, err, sizeof err), 0);
    assert_false(rq.outcomes);
    assert_string_equal(rq.run_id, "");
    webhook_runtask_req_dispose(&rq);
}

/* ---- callback documents ------------------------------------------------ */

static void make_finding(policy_finding *f, policy_kind kind, policy_level lv, size_t i,
                         size_t long_len)
{
    memset(f, 0, sizeof *f);
    f->kind = kind;
    f->level = lv;
    char *addr = xasprintf("aws_instance.app_%zu", i);
    if (long_len) {
        free(addr);
        addr = xmalloc(long_len + 1);
        memset(addr, 'a', long_len);
        addr[long_len] = '\0';
    }
    f->address = addr;
    f->attribute = xstrdup("ami");
    f->image = xstrdup("ami-0d4c3b2a1f0e9d8c7");
    f->action = "create";
    f->bucket = xstrdup("web-ubuntu");
    f->version = xstrdup("v1");
    f->fingerprint = xstrdup("web-1");
    f->provenance = "literal";
    if (long_len) {
        f->message = xmalloc(long_len + 40);
        snprintf(f->message, long_len + 40, "line one\nline two %s", addr);
        f->revocation_message = xstrdup(addr);
    } else {
        f->message = xasprintf("%s uses ami-0d4c3b2a1f0e9d8c7, revoked (web-ubuntu v1)", addr);
        f->revocation_message = xstrdup("CVE-2024-6387 (regreSSHion) in openssh");
    }
    f->revoke_at = xstrdup("2026-11-20T09:00:00Z");
    f->channel_note = xstrdup("Channel production now holds v2 (ami-0a1b2c3d4e5f60718)");
}

static void free_findings(policy_finding *fs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(fs[i].address);
        free(fs[i].attribute);
        free(fs[i].image);
        free(fs[i].bucket);
        free(fs[i].version);
        free(fs[i].fingerprint);
        free(fs[i].message);
        free(fs[i].revoke_at);
        free(fs[i].revocation_message);
        free(fs[i].channel_note);
    }
    free(fs);
}

static void check_limits(json_t *doc, size_t expect_outcomes)
{
    json_t *data = json_object_get(doc, "data");
    assert_string_equal(json_string_value(json_object_get(data, "type")), "task-results");
    json_t *attr = json_object_get(data, "attributes");
    const char *msg = json_string_value(json_object_get(attr, "message"));
    assert_true(strlen(msg) >= 1 && strlen(msg) <= 1000);
    json_t *url = json_object_get(attr, "url");
    if (url)
        assert_true(strlen(json_string_value(url)) <= 500);
    json_t *outs = json_object_get(
        json_object_get(json_object_get(data, "relationships"), "outcomes"), "data");
    assert_int_equal(json_array_size(outs), expect_outcomes);
    size_t i;
    json_t *o;
    json_array_foreach(outs, i, o)
    {
        assert_string_equal(json_string_value(json_object_get(o, "type")), "task-result-outcomes");
        json_t *a = json_object_get(o, "attributes");
        const char *id = json_string_value(json_object_get(a, "outcome-id"));
        const char *desc = json_string_value(json_object_get(a, "description"));
        const char *b = json_string_value(json_object_get(a, "body"));
        assert_true(strlen(id) >= 1 && strlen(id) <= 64);
        assert_true(strlen(desc) >= 1 && strlen(desc) <= 1000);
        assert_null(strchr(desc, '\n'));
        assert_true(strlen(b) <= 10000);
        json_t *u = json_object_get(a, "url");
        if (u)
            assert_true(strlen(json_string_value(u)) <= 500);
        json_t *tags = json_object_get(a, "tags");
        assert_true(json_object_size(tags) <= 10);
        const char *k;
        json_t *list;
        json_object_foreach(tags, k, list)
        {
            assert_true(json_array_size(list) <= 32);
            size_t j;
            json_t *t;
            json_array_foreach(list, j, t)
            {
                assert_true(strlen(json_string_value(json_object_get(t, "label"))) <= 32);
                const char *lv = json_string_value(json_object_get(t, "level"));
                assert_true(strcmp(lv, "none") == 0 || strcmp(lv, "info") == 0 ||
                            strcmp(lv, "warning") == 0 || strcmp(lv, "error") == 0);
            }
        }
        assert_non_null(json_object_get(tags, "Status"));
        assert_non_null(json_object_get(tags, "Severity"));
    }
}

/* The kinds of issue 14 become outcomes with their own title and label. */
static void test_callback_new_kinds(void **state)
{
    (void)state;
    policy_report r;
    memset(&r, 0, sizeof r);
    r.verdict = POLICY_VERDICT_WARN;
    r.n_findings = 3;
    r.findings = xcalloc(3, sizeof *r.findings);
    policy_kind kinds[] = {PK_LAUNCH_RESOLVED, PK_STALE, PK_OUTDATED_BEHIND};
    for (size_t i = 0; i < 3; i++)
        make_finding(&r.findings[i], kinds[i], POLICY_WARN, i, 0);
    r.count[POLICY_WARN] = 3;
    char *msg = webhook_result_message(&r, "post_plan");
    webhook_result res = {"passed", msg, NULL, &r, true, NULL, 1795165200000LL};
    json_t *doc = webhook_callback_body(&res);
    check_limits(doc, 3);
    json_t *outs = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "data"), "relationships"), "outcomes"),
        "data");
    static const char *labels[] = {"Launch resolved", "Stale", "Outdated"};
    static const char *titles[] = {"## Image resolved at launch", "## Stale image",
                                   "## Outdated image"};
    static const char *ids[] = {"launch_resolved:", "stale:", "outdated:"};
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_object_get(json_array_get(outs, i), "attributes");
        json_t *sev = json_array_get(json_object_get(json_object_get(a, "tags"), "Severity"), 0);
        assert_string_equal(json_string_value(json_object_get(sev, "label")), labels[i]);
        assert_string_equal(json_string_value(json_object_get(sev, "level")), "warning");
        assert_non_null(strstr(json_string_value(json_object_get(a, "body")), titles[i]));
        assert_true(strncmp(json_string_value(json_object_get(a, "outcome-id")), ids[i],
                            strlen(ids[i])) == 0);
    }
    json_decref(doc);
    free(msg);
    free_findings(r.findings, r.n_findings);
}

static void test_callback_basic(void **state)
{
    (void)state;
    policy_report r;
    memset(&r, 0, sizeof r);
    r.verdict = POLICY_VERDICT_FAIL;
    r.n_findings = 3;
    r.findings = xcalloc(3, sizeof *r.findings);
    make_finding(&r.findings[0], PK_HARDCODED, POLICY_WARN, 0, 0);
    make_finding(&r.findings[1], PK_REVOKED, POLICY_FAIL, 1, 0);
    make_finding(&r.findings[2], PK_TRACKED, POLICY_INFO, 2, 0);
    free(r.findings[0].message);
    r.findings[0].message = xstrdup("written as a literal");
    free(r.findings[0].revoke_at);
    r.findings[0].revoke_at = xstrdup("2026-12-20T09:00:00Z"); /* after "now" */
    r.count[POLICY_FAIL] = 1;
    r.count[POLICY_WARN] = 1;
    r.count[POLICY_INFO] = 1;
    r.resources = 17;
    r.gated = 5;
    r.images = 3;
    char *msg = webhook_result_message(&r, "post_plan");
    assert_non_null(strstr(msg, "1 failing, 1 warning and 1 info"));
    assert_non_null(strstr(msg, "17 resources"));
    webhook_result res = {"failed",
                          msg,
                          "https://ig.example.com/runs/run-1",
                          &r,
                          true,
                          "https://ig.example.com",
                          1795165200000LL};
    json_t *doc = webhook_callback_body(&res);
    check_limits(doc, 2);
    json_t *outs = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "data"), "relationships"), "outcomes"),
        "data");
    /* fail first */
    json_t *a0 = json_object_get(json_array_get(outs, 0), "attributes");
    assert_string_equal(json_string_value(json_object_get(a0, "outcome-id")),
                        "revoked:aws_instance.app_1.ami");
    json_t *st = json_array_get(json_object_get(json_object_get(a0, "tags"), "Status"), 0);
    assert_string_equal(json_string_value(json_object_get(st, "level")), "error");
    json_t *sev = json_array_get(json_object_get(json_object_get(a0, "tags"), "Severity"), 0);
    assert_string_equal(json_string_value(json_object_get(sev, "label")), "Revoked");
    const char *b0 = json_string_value(json_object_get(a0, "body"));
    assert_non_null(strstr(b0, "web-ubuntu"));
    assert_non_null(strstr(b0, "CVE-2024-6387"));
    assert_non_null(strstr(b0, "Channel production now holds v2"));
    assert_string_equal(json_string_value(json_object_get(a0, "url")),
                        "https://ig.example.com/buckets/web-ubuntu/versions/v1");
    assert_non_null(strstr(b0, "**Revoked at**"));
    json_t *a1 = json_object_get(json_array_get(outs, 1), "attributes");
    /* a message that does not name the resource gets it in front */
    assert_string_equal(json_string_value(json_object_get(a1, "description")),
                        "aws_instance.app_0: written as a literal");
    assert_non_null(
        strstr(json_string_value(json_object_get(a1, "body")), "**Revocation scheduled for**"));
    st = json_array_get(json_object_get(json_object_get(a1, "tags"), "Status"), 0);
    assert_string_equal(json_string_value(json_object_get(st, "level")), "warning");
    json_decref(doc);

    /* without the outcomes capability: no relationships */
    res.outcomes = false;
    doc = webhook_callback_body(&res);
    assert_null(json_object_get(json_object_get(doc, "data"), "relationships"));
    json_decref(doc);
    /* minimal body: status and message only */
    doc = webhook_callback_minimal("failed", "");
    json_t *attr = json_object_get(json_object_get(doc, "data"), "attributes");
    assert_int_equal(json_object_size(attr), 2);
    assert_true(strlen(json_string_value(json_object_get(attr, "message"))) >= 1);
    json_decref(doc);
    free(msg);
    free_findings(r.findings, r.n_findings);
}

static void test_callback_limits(void **state)
{
    (void)state;
    policy_report r;
    memset(&r, 0, sizeof r);
    r.verdict = POLICY_VERDICT_FAIL;
    r.n_findings = 400;
    r.findings = xcalloc(r.n_findings, sizeof *r.findings);
    for (size_t i = 0; i < r.n_findings; i++)
        make_finding(&r.findings[i], i % 3 ? PK_HARDCODED : PK_REVOKED,
                     i % 3 ? POLICY_WARN : POLICY_FAIL, i, i < 5 ? 20000 : 0);
    char longmsg[3000];
    memset(longmsg, 'm', sizeof longmsg - 1);
    longmsg[sizeof longmsg - 1] = '\0';
    char longurl[700];
    snprintf(longurl, sizeof longurl, "https://x/%0650d", 1);
    webhook_result res = {"failed", longmsg, longurl, &r, true, "https://ig.example.com", 0};
    json_t *doc = webhook_callback_body(&res);
    check_limits(doc, 250);
    json_t *attr = json_object_get(json_object_get(doc, "data"), "attributes");
    assert_int_equal(strlen(json_string_value(json_object_get(attr, "message"))), 1000);
    assert_null(json_object_get(attr, "url")); /* too long: left out rather than cut */
    json_t *outs = json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "data"), "relationships"), "outcomes"),
        "data");
    json_t *last = json_object_get(json_array_get(outs, 249), "attributes");
    const char *desc = json_string_value(json_object_get(last, "description"));
    assert_non_null(strstr(desc, "151 more findings"));
    /* outcome ids unique */
    json_t *seen = json_object();
    for (size_t i = 0; i < 250; i++) {
        const char *id = json_string_value(
            json_object_get(json_object_get(json_array_get(outs, i), "attributes"), "outcome-id"));
        assert_null(json_object_get(seen, id));
        json_object_set_new(seen, id, json_true());
    }
    json_decref(seen);
    /* the long body got cut with a note */
    json_t *a0 = json_object_get(json_array_get(outs, 0), "attributes");
    assert_non_null(strstr(json_string_value(json_object_get(a0, "body")), "truncated"));
    json_decref(doc);
    free_findings(r.findings, r.n_findings);

    char s[] = "h\xc3\xa9llo";
    assert_int_equal(webhook_utf8_clamp(s, 2, false), 1);
    assert_string_equal(s, "h");
}

/* Text that ends in a multibyte character at every byte offset of every cut
 * the callback makes (outcome-id at 55/56, description at 997, body at
 * 10000 less the note, message at 997, the summary body): every outcome is
 * still there, within its limit and valid UTF-8 (jansson would refuse it
 * otherwise). */
static char *multibyte(size_t pad, const char *ch, size_t bytes)
{
    size_t w = strlen(ch), n = pad + bytes / w * w;
    char *s = xmalloc(n + 1);
    memset(s, 'a', pad);
    for (size_t o = pad; o < n; o += w)
        memcpy(s + o, ch, w);
    s[n] = '\0';
    return s;
}

static bool utf8_ok(const char *s)
{
    json_t *j = json_string(s);
    json_decref(j);
    return j != NULL;
}

static json_t *only_outcomes(json_t *doc)
{
    return json_object_get(
        json_object_get(json_object_get(json_object_get(doc, "data"), "relationships"), "outcomes"),
        "data");
}

static void test_callback_utf8_cuts(void **state)
{
    (void)state;
    static const char *chars[] = {"\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
    for (size_t c = 0; c < 3; c++) {
        for (size_t pad = 0; pad < 4; pad++) {
            /* the clamp itself, at every length */
            char *t = multibyte(pad, chars[c], 16);
            for (size_t max = 0; max <= strlen(t) + 1; max++) {
                char *u = xstrdup(t);
                size_t len = webhook_utf8_clamp(u, max, max % 2 == 0);
                assert_int_equal(len, strlen(u));
                assert_true(len <= max || (max < 3 && len <= max));
                assert_true(utf8_ok(u));
                free(u);
            }
            free(t);

            /* one finding: id, description and body all cut */
            policy_report r;
            memset(&r, 0, sizeof r);
            r.verdict = POLICY_VERDICT_WARN;
            r.n_findings = 1;
            r.findings = xcalloc(1, sizeof *r.findings);
            policy_finding *f = &r.findings[0];
            f->kind = PK_HARDCODED;
            f->level = POLICY_WARN;
            f->address = multibyte(pad, chars[c], 12000);
            f->attribute = xstrdup("ami");
            char *msg = multibyte(pad, chars[c], 1500);
            webhook_result res = {"passed", msg, NULL, &r, true, "https://ig.example.com", 0};
            json_t *doc = webhook_callback_body(&res);
            assert_non_null(doc);
            check_limits(doc, 1);
            json_t *a = json_object_get(json_array_get(only_outcomes(doc), 0), "attributes");
            assert_non_null(strchr(json_string_value(json_object_get(a, "outcome-id")), '~'));
            const char *desc = json_string_value(json_object_get(a, "description"));
            assert_string_equal(desc + strlen(desc) - 3, "...");
            assert_non_null(strstr(json_string_value(json_object_get(a, "body")), "truncated"));
            const char *m = json_string_value(json_object_get(
                json_object_get(json_object_get(doc, "data"), "attributes"), "message"));
            assert_true(strlen(m) <= 1000 && strlen(m) > 990);
            json_decref(doc);
            free(msg);
            free_findings(r.findings, r.n_findings);

            /* more findings than outcomes: the summary body is cut; the
             * first finding it lists is padded so the cut moves by a byte */
            memset(&r, 0, sizeof r);
            r.verdict = POLICY_VERDICT_WARN;
            r.n_findings = 700;
            r.findings = xcalloc(r.n_findings, sizeof *r.findings);
            for (size_t i = 0; i < r.n_findings; i++) {
                f = &r.findings[i];
                f->kind = PK_HARDCODED;
                f->level = POLICY_WARN;
                char *key = multibyte(i == 249 ? pad : 0, chars[c], 12);
                f->address = xasprintf("aws_instance.x[\"%s%zu\"]", key, i);
                free(key);
                f->attribute = xstrdup("ami");
            }
            res.message = "Passed with warnings";
            doc = webhook_callback_body(&res);
            assert_non_null(doc);
            check_limits(doc, 250);
            json_t *outs = only_outcomes(doc);
            a = json_object_get(json_array_get(outs, 249), "attributes");
            assert_string_equal(json_string_value(json_object_get(a, "outcome-id")),
                                "imagegate-more-findings");
            assert_non_null(strstr(json_string_value(json_object_get(a, "body")), "truncated"));
            json_decref(doc);
            free_findings(r.findings, r.n_findings);
        }
    }

    /* bytes that are not UTF-8 at all are repaired, not a reason to drop */
    policy_report r;
    memset(&r, 0, sizeof r);
    r.verdict = POLICY_VERDICT_FAIL;
    r.n_findings = 1;
    r.findings = xcalloc(1, sizeof *r.findings);
    r.findings[0].kind = PK_REVOKED;
    r.findings[0].level = POLICY_FAIL;
    r.findings[0].address = xstrdup("aws_instance.x[\"\xff\xc3\"]");
    r.findings[0].message = xstrdup("revoked \xed\xa0\x80 image");
    r.findings[0].bucket = xstrdup("b\xc0\xaf");
    webhook_result res = {"failed", "bad \xe2\x82", "https://x/\xff", &r, true, "https://ig", 0};
    json_t *doc = webhook_callback_body(&res);
    assert_non_null(doc);
    check_limits(doc, 1);
    json_t *a = json_object_get(json_array_get(only_outcomes(doc), 0), "attributes");
    assert_string_equal(json_string_value(json_object_get(a, "outcome-id")),
                        "revoked:aws_instance.x[\"??\"]");
    assert_non_null(json_object_get(a, "url"));
    json_decref(doc);
    free_findings(r.findings, r.n_findings);
}

/* ---- archives ------------------------------------------------------------ */

static int exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void test_archive_hostile(void **state)
{
    (void)state;
    char base[] = "/tmp/ig-arc-XXXXXX";
    assert_non_null(mkdtemp(base));
    char dest[300], path[1024], err[512];
    snprintf(dest, sizeof dest, "%s/a/b", base);
    snprintf(path, sizeof path, "%s/a", base);
    mkdir(path, 0700);
    mkdir(dest, 0700);
    snprintf(path, sizeof path, "%s/config/hostile.tar.gz", IG_FIXTURES);
    webhook_archive_limits lim = {1 << 20, 100};
    webhook_archive_stats st;
    assert_int_equal(webhook_archive_extract(path, dest, &lim, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.files, 1);
    assert_int_equal(st.refused, 3);
    snprintf(path, sizeof path, "%s/terraform/main.tf", dest);
    assert_true(exists(path));
    snprintf(path, sizeof path, "%s/terraform/link.tf", dest);
    assert_false(exists(path)); /* no symlink created */
    snprintf(path, sizeof path, "%s/a/escape.tf", base);
    assert_false(exists(path));
    snprintf(path, sizeof path, "%s/escape.tf", dest);
    assert_false(exists(path));
    assert_false(exists("/etc/imagegate-owned.tf"));
    snprintf(path, sizeof path, "%s/etc/imagegate-owned.tf", dest);
    assert_false(exists(path));

    /* a symlink planted beforehand is not followed either */
    webhook_remove_tree(dest);
    mkdir(dest, 0700);
    char victim[300];
    snprintf(victim, sizeof victim, "%s/victim", base);
    mkdir(victim, 0700);
    snprintf(path, sizeof path, "%s/terraform", dest);
    assert_int_equal(symlink(victim, path), 0);
    snprintf(path, sizeof path, "%s/config/hostile.tar.gz", IG_FIXTURES);
    assert_int_equal(webhook_archive_extract(path, dest, &lim, NULL, &st, err, sizeof err), -1);
    snprintf(path, sizeof path, "%s/main.tf", victim);
    assert_false(exists(path));
    webhook_remove_tree(base);
    assert_false(exists(base));
}

static void write_tar(const char *path, int entries, size_t file_bytes)
{
    struct archive *a = archive_write_new();
    archive_write_add_filter_gzip(a);
    archive_write_set_format_pax_restricted(a);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    char *zeros = xcalloc(1, 1 << 20);
    for (int i = 0; i < entries; i++) {
        struct archive_entry *e = archive_entry_new();
        char name[64];
        snprintf(name, sizeof name, "terraform/f%d.tf", i);
        archive_entry_set_pathname(e, name);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t)file_bytes);
        archive_write_header(a, e);
        for (size_t done = 0; done < file_bytes;) {
            size_t n = file_bytes - done > (1 << 20) ? (1 << 20) : file_bytes - done;
            archive_write_data(a, zeros, n);
            done += n;
        }
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    free(zeros);
}

static void test_archive_bombs(void **state)
{
    (void)state;
    char base[] = "/tmp/ig-bomb-XXXXXX";
    assert_non_null(mkdtemp(base));
    char tarball[300], dest[300], err[512];
    snprintf(tarball, sizeof tarball, "%s/bomb.tar.gz", base);
    snprintf(dest, sizeof dest, "%s/out", base);
    /* 64 MiB of zeros: a few dozen KiB compressed */
    write_tar(tarball, 1, 64u << 20);
    struct stat st;
    assert_int_equal(stat(tarball, &st), 0);
    assert_true(st.st_size < (1 << 20));
    mkdir(dest, 0700);
    webhook_archive_limits lim = {8 << 20, 100};
    webhook_archive_stats as;
    assert_int_equal(webhook_archive_extract(tarball, dest, &lim, NULL, &as, err, sizeof err), -1);
    assert_non_null(strstr(err, "max-archive-bytes"));
    assert_true(as.bytes <= (8 << 20) + (64 << 10));
    webhook_remove_tree(dest);
    /* too many entries */
    write_tar(tarball, 50, 10);
    mkdir(dest, 0700);
    lim.max_entries = 20;
    assert_int_equal(webhook_archive_extract(tarball, dest, &lim, NULL, &as, err, sizeof err), -1);
    assert_non_null(strstr(err, "max-archive-entries"));
    webhook_remove_tree(dest);
    /* not an archive */
    FILE *f = fopen(tarball, "w");
    fputs("this is not a tarball", f);
    fclose(f);
    mkdir(dest, 0700);
    assert_int_equal(webhook_archive_extract(tarball, dest, &lim, NULL, &as, err, sizeof err), -1);
    webhook_remove_tree(base);
}

static void test_archive_scan_names(void **state)
{
    (void)state;
    char base[] = "/tmp/ig-scan-XXXXXX";
    assert_non_null(mkdtemp(base));
    char path[1024], err[512];
    snprintf(path, sizeof path, "%s/config/hardcoded.tar.gz", IG_FIXTURES);
    webhook_archive_limits lim = {1 << 20, 100};
    webhook_archive_stats st;
    assert_int_equal(webhook_archive_extract(path, base, &lim, NULL, &st, err, sizeof err), 0);
    assert_int_equal(st.refused, 0);
    rules *rs = rules_load(NULL, err, sizeof err);
    assert_non_null(rs);
    rules_matcher *m = rules_matcher_new(rs);
    scan_result *res = xcalloc(1, sizeof *res);
    int64_t files = 0;
    assert_int_equal(webhook_archive_scan(base, "/terraform", rs, m, 1 << 20, NULL, res, &files,
                                          err, sizeof err),
                     0);
    assert_int_equal(files, 4);
    int saw_web = 0, saw_tfvars = 0, saw_module = 0;
    for (size_t i = 0; i < res->n_refs; i++) {
        const char *a = res->refs[i].address;
        if (strcmp(a, "web.tf:3") == 0)
            saw_web = 1;
        if (strcmp(a, "prod.auto.tfvars:1") == 0)
            saw_tfvars = 1;
        if (strncmp(a, "modules/web/main.tf:", 20) == 0)
            saw_module = 1;
    }
    assert_true(saw_web);
    assert_true(saw_tfvars);
    (void)saw_module;
    scan_result_free(res);
    rules_matcher_free(m);
    rules_free(rs);
    webhook_remove_tree(base);
}

/* The progress hook: called all through a long extraction and scan (the
 * delivery renews its lease there), and a non-zero answer stops the work. */
typedef struct counter {
    int calls, stop_after;
} counter;

static int count_calls(void *arg)
{
    counter *c = arg;
    return ++c->calls > c->stop_after;
}

static void test_archive_progress(void **state)
{
    (void)state;
    char base[] = "/tmp/ig-prog-XXXXXX";
    assert_non_null(mkdtemp(base));
    char tarball[300], dest[300], err[512];
    snprintf(tarball, sizeof tarball, "%s/three.tar.gz", base);
    snprintf(dest, sizeof dest, "%s/out", base);
    write_tar(tarball, 3, 1u << 20); /* 3 files of 1 MiB: 16 chunks of 64 KiB each */
    webhook_archive_limits lim = {8 << 20, 100};
    webhook_archive_stats as;
    counter c = {0, 1 << 30};
    webhook_archive_progress prog = {count_calls, &c};
    mkdir(dest, 0700);
    assert_int_equal(webhook_archive_extract(tarball, dest, &lim, &prog, &as, err, sizeof err), 0);
    assert_int_equal(as.files, 3);
    assert_true(c.calls >= 3 * 16);

    rules *rs = rules_load(NULL, err, sizeof err);
    assert_non_null(rs);
    rules_matcher *m = rules_matcher_new(rs);
    scan_result *res = xcalloc(1, sizeof *res);
    int64_t files = 0;
    c.calls = 0;
    assert_int_equal(
        webhook_archive_scan(dest, "", rs, m, 8 << 20, &prog, res, &files, err, sizeof err), 0);
    assert_int_equal(files, 3);
    assert_true(c.calls >= 4); /* the directory and each file */

    /* stopped mid-way: an error, not a partial success */
    c.calls = 0;
    c.stop_after = 0;
    assert_int_equal(
        webhook_archive_scan(dest, "", rs, m, 8 << 20, &prog, res, &files, err, sizeof err), -1);
    assert_string_equal(err, "stopped");
    webhook_remove_tree(dest);
    mkdir(dest, 0700);
    c.calls = 0;
    c.stop_after = 20;
    assert_int_equal(webhook_archive_extract(tarball, dest, &lim, &prog, &as, err, sizeof err), -1);
    assert_string_equal(err, "stopped");
    assert_int_equal(c.calls, 21);
    assert_true(as.files < 3);

    scan_result_free(res);
    rules_matcher_free(m);
    rules_free(rs);
    webhook_remove_tree(base);
}

/* ---- the settings table of docs/configuration.md ------------------------- */

/* The table is generated (webhook_config_markdown); the document must hold
 * it verbatim, so a directive added or changed without the docs fails here.
 * To update: run this test and replace the table under "## Every setting"
 * with the one it prints. */
static void test_config_docs_table_in_sync(void **state)
{
    (void)state;
    char *table = NULL;
    size_t tlen = 0;
    FILE *mem = open_memstream(&table, &tlen);
    assert_non_null(mem);
    webhook_config_markdown(mem);
    assert_int_equal(fclose(mem), 0);
    FILE *f = fopen(IG_SOURCE_DIR "/docs/configuration.md", "r");
    assert_non_null(f);
    strbuf doc = STRBUF_INIT;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        strbuf_append(&doc, buf, n);
    fclose(f);
    if (!strstr(doc.s, table)) {
        printf("---- the settings table docs/configuration.md should hold ----\n%s----\n", table);
        fail_msg("docs/configuration.md does not hold the generated settings table (printed "
                 "above)");
    }
    strbuf_dispose(&doc);
    free(table);
}

/* ---- the Authorization header of a streaming header block ----------------- */

/* Feeds block in pieces of `piece` bytes (0: whole) and returns a copy of
 * the value ("(none)" for NULL). */
static const char *auth_of(const char *block, size_t piece)
{
    static char out[WEBHOOK_AUTHHDR_LINE + 1];
    webhook_authhdr a;
    webhook_authhdr_reset(&a);
    size_t len = strlen(block);
    if (!piece)
        piece = len ? len : 1;
    for (size_t i = 0; i < len; i += piece)
        webhook_authhdr_feed(&a, block + i, len - i < piece ? len - i : piece);
    const char *v = webhook_authhdr_value(&a);
    snprintf(out, sizeof out, "%s", v ? v : "(none)");
    webhook_authhdr_reset(&a);
    return out;
}

static void assert_auth(const char *block, const char *want)
{
    static const size_t pieces[] = {0, 1, 2, 7, 64};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        const char *got = auth_of(block, pieces[i]);
        if (strcmp(got, want) != 0)
            fail_msg("pieces of %zu: got '%s', want '%s' from:\n%s", pieces[i], got, want, block);
    }
}

static void test_authhdr(void **state)
{
    (void)state;
    char out[WEBHOOK_API_MAX_SECRET + 1];
    /* found among other headers, CRLF or LF, the final empty line fed or not */
    assert_auth("Host: x\r\nAuthorization: Bearer igt_abc\r\nContent-Length: 3\r\n\r\n",
                "Bearer igt_abc");
    assert_auth("Host: x\nAuthorization: Bearer igt_abc\n", "Bearer igt_abc");
    /* the name in any case; spaces and tabs around the value dropped */
    assert_auth("aUtHoRiZaTiOn:   Bearer igt_abc \t\r\n\r\n", "Bearer igt_abc");
    assert_auth("AUTHORIZATION:\tbearer igt_abc\r\n\r\n", "bearer igt_abc");
    /* missing, or a look-alike name: none */
    assert_auth("Host: x\r\nContent-Length: 3\r\n\r\n", "(none)");
    assert_auth("", "(none)");
    assert_auth("X-Authorization: Bearer igt_abc\r\n\r\n", "(none)");
    assert_auth("Authorization-Extra: Bearer igt_abc\r\n\r\n", "(none)");
    /* evhttp's name would keep the space */
    assert_auth("Authorization : Bearer igt_abc\r\n\r\n", "(none)");
    assert_auth("Authorization Bearer igt_abc\r\n\r\n", "(none)");
    /* a line that never ended is not a header yet */
    assert_auth("Authorization: Bearer igt_abc", "(none)");
    /* empty, or "Bearer" without a secret: a value the bearer parser refuses */
    assert_auth("Authorization:\r\n\r\n", "");
    assert_auth("Authorization:   \r\n\r\n", "");
    assert_auth("Authorization: Bearer\r\n\r\n", "Bearer");
    assert_auth("Authorization: Bearer   \r\n\r\n", "Bearer");
    assert_int_equal(webhook_api_bearer("", out, sizeof out), -1);
    assert_int_equal(webhook_api_bearer("Bearer", out, sizeof out), -1);
    /* a CR inside the value stays (and the bearer parser refuses it) */
    assert_auth("Authorization: Bearer igt_a\rb\r\n\r\n", "Bearer igt_a\rb");
    assert_int_equal(webhook_api_bearer("Bearer igt_a\rb", out, sizeof out), -1);
    /* duplicates, equal or not: none */
    assert_auth("Authorization: Bearer igt_abc\r\nAuthorization: Bearer igt_abc\r\n\r\n", "(none)");
    assert_auth("Authorization: Bearer igt_abc\r\nHost: x\r\nauthorization: Bearer igt_x\r\n\r\n",
                "(none)");
    assert_auth("Authorization:\r\nAuthorization: Bearer igt_abc\r\n\r\n", "(none)");
    /* folded: evhttp would join the continuation to the value -- none */
    assert_auth("Authorization: Bearer\r\n igt_abc\r\n\r\n", "(none)");
    assert_auth("Authorization: Bearer igt_abc\r\n\tmore\r\n\r\n", "(none)");
    /* a fold of another header does not matter */
    assert_auth("X-Long: one\r\n two\r\nAuthorization: Bearer igt_abc\r\n\r\n", "Bearer igt_abc");
    assert_auth("Authorization: Bearer igt_abc\r\nX-Long: one\r\n two\r\n\r\n", "Bearer igt_abc");
    /* huge: up to WEBHOOK_AUTHHDR_LINE bytes per line (CR excluded) kept, longer is none */
    char line[1200];
    size_t pre = strlen("Authorization: Bearer ");
    memcpy(line, "Authorization: Bearer ", pre);
    memset(line + pre, 'x', WEBHOOK_AUTHHDR_LINE - pre);
    strcpy(line + WEBHOOK_AUTHHDR_LINE, "\n\n");
    const char *got = auth_of(line, 0);
    assert_int_equal(strlen(got), WEBHOOK_AUTHHDR_LINE - strlen("Authorization: "));
    assert_int_equal(strncmp(got, "Bearer xxx", 10), 0);
    strcpy(line + WEBHOOK_AUTHHDR_LINE, "\r\n\r\n"); /* the CR is one byte too many */
    assert_auth(line, "(none)");
    memset(line + pre, 'x', sizeof line - pre - 6);
    strcpy(line + sizeof line - 6, "\r\n\r\n");
    assert_auth(line, "(none)");
    /* a huge other header does not hide the one after it */
    memcpy(line, "X-Junk: ", 8);
    strcpy(line + sizeof line - 6, "\r\n");
    char block[1400];
    snprintf(block, sizeof block, "%sAuthorization: Bearer igt_abc\r\n\r\n", line);
    assert_auth(block, "Bearer igt_abc");
    /* reset wipes the value */
    webhook_authhdr a;
    webhook_authhdr_reset(&a);
    webhook_authhdr_feed(&a, "Authorization: Bearer igt_abc\r\n", 31);
    assert_non_null(webhook_authhdr_value(&a));
    webhook_authhdr_reset(&a);
    assert_null(webhook_authhdr_value(&a));
    assert_null(memmem(&a, sizeof a, "igt_abc", 7));
}

/* ---- the token snapshot ----------------------------------------------------- */

static void sha256_hex(const char *s, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void test_tokenset(void **state)
{
    (void)state;
    reg_token_hash rows[5];
    memset(rows, 0, sizeof rows);
    sha256_hex("igt_reader", rows[0].hash);
    rows[0].role = REG_ROLE_READ;
    sha256_hex("igt_admin", rows[1].hash);
    rows[1].role = REG_ROLE_ADMIN;
    for (char *p = rows[1].hash; *p; p++) /* hex in capitals decodes too */
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    sha256_hex("igt_norole", rows[2].hash);
    rows[2].role = REG_ROLE_NONE;  /* a role this build does not know: never trusted */
    memset(rows[3].hash, 'z', 64); /* not hex */
    rows[3].role = REG_ROLE_WRITE;
    strcpy(rows[4].hash, "abcd"); /* too short */
    rows[4].role = REG_ROLE_WRITE;
    webhook_tokenset *s = webhook_tokenset_new(rows, 5);
    assert_int_equal(webhook_tokenset_size(s), 2);
    assert_true(webhook_tokenset_knows(s, "Bearer igt_reader"));
    assert_true(webhook_tokenset_knows(s, "bearer   igt_admin  "));
    assert_false(webhook_tokenset_knows(s, "Bearer igt_norole"));
    assert_false(webhook_tokenset_knows(s, "Bearer igt_reade"));
    assert_false(webhook_tokenset_knows(s, "Bearer igt_readerx"));
    assert_false(webhook_tokenset_knows(s, "Bearer IGT_READER"));
    assert_false(webhook_tokenset_knows(s, "igt_reader"));
    assert_false(webhook_tokenset_knows(s, "Basic igt_reader"));
    assert_false(webhook_tokenset_knows(s, "Bearer"));
    assert_false(webhook_tokenset_knows(s, ""));
    assert_false(webhook_tokenset_knows(s, NULL));
    assert_false(webhook_tokenset_knows(NULL, "Bearer igt_reader"));
    /* a secret longer than any token the server makes */
    char big[400] = "Bearer ";
    memset(big + 7, 'a', sizeof big - 8);
    big[sizeof big - 1] = '\0';
    assert_false(webhook_tokenset_knows(s, big));
    webhook_tokenset_free(s);
    /* empty */
    s = webhook_tokenset_new(NULL, 0);
    assert_int_equal(webhook_tokenset_size(s), 0);
    assert_false(webhook_tokenset_knows(s, "Bearer igt_reader"));
    webhook_tokenset_free(s);
    webhook_tokenset_free(NULL);
    /* end to end: a header block's value against a snapshot */
    s = webhook_tokenset_new(rows, 1);
    webhook_authhdr a;
    webhook_authhdr_reset(&a);
    const char *blk = "Host: x\r\nAUTHORIZATION: Bearer igt_reader\r\n\r\n";
    for (size_t i = 0; blk[i]; i++)
        webhook_authhdr_feed(&a, blk + i, 1);
    assert_true(webhook_tokenset_knows(s, webhook_authhdr_value(&a)));
    webhook_authhdr_feed(&a, "Authorization: Bearer igt_reader\r\n", 34); /* a duplicate */
    assert_false(webhook_tokenset_knows(s, webhook_authhdr_value(&a)));
    webhook_authhdr_reset(&a);
    webhook_tokenset_free(s);
}

/* ---- the port file (--port-file) ------------------------------------------ */

static void read_small(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

/* ---- request framing (framing.c) ---------------------------------------- */

/* Feeds a whole request in pieces of `piece` bytes, with limit set at the
 * end of the header block; returns the final event, the bytes taken before
 * it in *taken. */
static webhook_framing_event frame(webhook_framing *f, const char *req, size_t len, size_t piece,
                                   int64_t limit, size_t *taken)
{
    webhook_framing_reset(f);
    size_t i = 0;
    webhook_framing_event ev = WEBHOOK_FRAMING_MORE;
    while (i < len) {
        size_t n = len - i < piece ? len - i : piece, used = 0;
        ev = webhook_framing_feed(f, req + i, n, &used);
        assert_true(used <= n);
        i += used;
        if (ev == WEBHOOK_FRAMING_HEADERS)
            ev = webhook_framing_body_limit(f, limit);
        if (ev == WEBHOOK_FRAMING_COMPLETE || ev == WEBHOOK_FRAMING_REFUSED)
            break;
    }
    *taken = i;
    return ev;
}

/* The same verdict (and status) whatever the pieces the bytes arrive in. */
static webhook_framing_event frame_all(const char *req, int64_t limit, int *status, size_t *taken)
{
    webhook_framing f;
    size_t len = strlen(req), t1 = 0;
    webhook_framing_event ev = frame(&f, req, len, len, limit, taken);
    *status = f.status;
    static const size_t pieces[] = {1, 2, 3, 7, 64};
    for (size_t k = 0; k < sizeof pieces / sizeof pieces[0]; k++) {
        assert_int_equal(frame(&f, req, len, pieces[k], limit, &t1), ev);
        assert_int_equal(f.status, *status);
        assert_int_equal(t1, *taken);
    }
    return ev;
}

static void assert_complete(const char *req, size_t rest)
{
    int st = 0;
    size_t taken = 0;
    if (frame_all(req, 1000, &st, &taken) != WEBHOOK_FRAMING_COMPLETE)
        fail_msg("not complete (%d): %s", st, req);
    assert_int_equal(taken, strlen(req) - rest); /* what follows is the next request */
}

static void assert_refused(const char *req, int status, const char *why)
{
    webhook_framing f;
    int st = 0;
    size_t taken = 0;
    if (frame_all(req, 1000, &st, &taken) != WEBHOOK_FRAMING_REFUSED)
        fail_msg("not refused: %s", req);
    assert_int_equal(st, status);
    frame(&f, req, strlen(req), strlen(req), 1000, &taken);
    if (!strstr(f.reason, why))
        fail_msg("reason '%s' lacks '%s'", f.reason, why);
}

static void test_framing_accepts(void **state)
{
    (void)state;
    assert_complete("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    assert_complete("\r\nGET / HTTP/1.0\nHost: x\n\n", 0); /* LF alone, an empty line first */
    assert_complete("POST /runtask HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET", 3);
    assert_complete("POST /x HTTP/1.1\r\ncontent-length:\t5 \r\nContent-Length: 005\r\n\r\n12345",
                    0);
    assert_complete("PUT /x HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n"
                    "5\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\nnext",
                    4);
    assert_complete("DELETE /x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0);
    assert_complete("HEAD /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 0);
    assert_complete("OPTIONS /runtask HTTP/1.1\r\nX: a:b\r\n\r\n", 0);
    /* the request line and path for the body limit */
    webhook_framing f;
    size_t used;
    webhook_framing_reset(&f);
    const char *r = "POST /v1/scan?x=1 HTTP/1.1\r\nAuthorization: Bearer igt_x\r\n";
    assert_int_equal(webhook_framing_feed(&f, r, strlen(r), &used), WEBHOOK_FRAMING_REQLINE);
    assert_int_equal(used, 28);
    assert_string_equal(f.reqline, "POST /v1/scan?x=1 HTTP/1.1");
    assert_int_equal(webhook_framing_feed(&f, r + used, strlen(r) - used, &used),
                     WEBHOOK_FRAMING_MORE);
    /* a long target: the version is still checked */
    char big[2200];
    snprintf(big, sizeof big, "GET /%01900d HTTP/1.1\r\n\r\n", 0);
    assert_complete(big, 0);
    snprintf(big, sizeof big, "GET /%01900d HTTP/2.0\r\n\r\n", 0);
    assert_refused(big, 400, "HTTP/1.0 or HTTP/1.1");
}

static void test_framing_refuses(void **state)
{
    (void)state;
    /* issue 18: conflicting lengths, unknown codings, bad chunk sizes */
    assert_refused("POST /runtask HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 50\r\n\r\n", 400,
                   "conflicting Content-Length");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 400, "exactly 'chunked'");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
                   "'gzip' is not implemented");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
                   "exactly");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: ,chunked\r\n\r\n", 400, "exactly");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
                   400, "exactly");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
                   "invalid chunk size");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n", 400,
                   "invalid chunk size");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5 junk\r\n", 400,
                   "invalid chunk size");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400,
                   "without a size");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n", 400,
                   "extensions");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400,
                   "longer than its size");
    /* framing that two readers could read two ways */
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
                   400, "both");
    assert_refused("POST /x HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400, "digits only");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n", 400, "digits only");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: \r\n\r\n", 400, "empty");
    assert_refused("HEAD /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 400,
                   "HEAD request has no body");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length : 5\r\n\r\n", 400, "before the colon");
    assert_refused("POST /x HTTP/1.1\r\nX: a\r\n Content-Length: 5\r\n\r\n", 400, "folded");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: 5\rX\r\n\r\n", 400, "CR not followed");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\x01\r\n\r\n", 400,
                   "control character");
    assert_refused("POST /x HTTP/1.1\r\nno colon here\r\n\r\n", 400, "without a colon");
    /* request lines */
    assert_refused("PROPFIND /x HTTP/1.1\r\n\r\n", 501, "'PROPFIND' is not implemented");
    assert_refused("CONNECT a:443 HTTP/1.1\r\n\r\n", 501, "not implemented");
    assert_refused("GET /x\r\n\r\n", 400, "METHOD /path HTTP/1.1");
    assert_refused("GET  HTTP/1.1\r\n\r\n", 400, "METHOD /path");
    assert_refused("GET /a b HTTP/1.1\r\n\r\n", 400, "METHOD /path");
    /* limits: declared, or summed chunk by chunk */
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", 413, "larger than 1000");
    assert_refused("POST /x HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413,
                   "larger");
    char chunks[1200];
    snprintf(chunks, sizeof chunks,
             "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n%0500d\r\n1f5\r\n", 0);
    assert_refused(chunks, 413, "larger than 1000");
    assert_refused("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
                   413, "larger than 1000");
}

static void test_port_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/ig-port-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], tmp[256], err[512], buf[64];
    snprintf(path, sizeof path, "%s/port", dir);
    snprintf(tmp, sizeof tmp, "%s/port.tmp", dir);
    assert_int_equal(webhook_write_port_file(path, 8443, err, sizeof err), 0);
    read_small(path, buf, sizeof buf);
    assert_string_equal(buf, "8443\n");
    assert_int_equal(access(tmp, F_OK), -1);

    /* a write that fails only when fclose flushes it (/dev/full: ENOSPC):
     * one fclose, the .tmp removed, the old port file left as it was */
    assert_int_equal(symlink("/dev/full", tmp), 0);
    assert_int_equal(webhook_write_port_file(path, 9000, err, sizeof err), -1);
    assert_non_null(strstr(err, "port.tmp"));
    assert_non_null(strstr(err, strerror(ENOSPC)));
    struct stat st;
    assert_int_equal(lstat(tmp, &st), -1);
    read_small(path, buf, sizeof buf);
    assert_string_equal(buf, "8443\n");

    /* a directory that does not exist: said, nothing made */
    char missing[300];
    snprintf(missing, sizeof missing, "%s/no/port", dir);
    assert_int_equal(webhook_write_port_file(missing, 1, err, sizeof err), -1);
    assert_non_null(strstr(err, "no/port.tmp"));

    unlink(path);
    rmdir(dir);
}

/* ---- the console's files (console.c) ------------------------------------ */

static void test_console_resolve(void **state)
{
    (void)state;
    const webhook_console_asset *a, *index;
    assert_int_equal(webhook_console_resolve("/ui/index.html", &index), 200);
    assert_string_equal(index->content_type, "text/html; charset=utf-8");
    assert_int_equal(webhook_console_resolve("/ui/", &a), 200);
    assert_ptr_equal(a, index);
    /* deep links are the page: the browser routes */
    assert_int_equal(webhook_console_resolve("/ui/buckets/web-ubuntu/versions/v1", &a), 200);
    assert_ptr_equal(a, index);
    assert_int_equal(webhook_console_resolve("/ui/assets/app.js", &a), 200);
    assert_string_equal(a->content_type, "text/javascript; charset=utf-8");
    assert_true(a->len > 0 && a->data[a->len] == 0);
    assert_int_equal(webhook_console_resolve("/ui/assets/style.css", &a), 200);
    assert_string_equal(a->content_type, "text/css; charset=utf-8");
    assert_int_equal(strlen(a->etag), 26); /* "24 hex digits" */
    /* a missing file under assets/ is a 404, not the page */
    assert_int_equal(webhook_console_resolve("/ui/assets/nope.js", &a), 404);
    assert_null(a);
    assert_int_equal(webhook_console_resolve("/ui", &a), 301);
    assert_int_equal(webhook_console_resolve("/ui/../etc/passwd", &a), 404);
    assert_int_equal(webhook_console_resolve("/ui/a\\b", &a), 404);
    assert_int_equal(webhook_console_resolve("/ui/a\x01", &a), 404);
    assert_int_equal(webhook_console_resolve("/other", &a), 404);
    /* every embedded file has a type, an ETag and its bytes */
    for (const webhook_console_asset *x = webhook_console_assets; x->path; x++) {
        assert_true(strncmp(x->path, "/ui/", 4) == 0);
        assert_non_null(x->content_type);
        assert_true(x->etag[0] == '"');
    }
}

static void test_console_etag(void **state)
{
    (void)state;
    const char *tag = "\"0123abcd\"";
    assert_false(webhook_console_etag_match(NULL, tag));
    assert_true(webhook_console_etag_match("\"0123abcd\"", tag));
    assert_true(webhook_console_etag_match("W/\"0123abcd\"", tag));
    assert_true(webhook_console_etag_match("\"x\", \"0123abcd\"", tag));
    assert_true(webhook_console_etag_match("*", tag));
    assert_false(webhook_console_etag_match("\"0123abcd", tag));
    assert_false(webhook_console_etag_match("\"0123abce\"", tag));
    assert_false(webhook_console_etag_match("", tag));
    assert_false(webhook_console_etag_match(" , ,", tag));
}

int main(void)
{
    log_set_level(LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sig_good_bad),
        cmocka_unit_test(test_sig_empty_and_missing),
        cmocka_unit_test(test_sig_rotation_and_file),
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_precedence),
        cmocka_unit_test(test_config_bounds),
        cmocka_unit_test(test_config_webhook_networks),
        cmocka_unit_test(test_allowed_hosts),
        cmocka_unit_test(test_runtask_parse),
        cmocka_unit_test(test_callback_basic),
        cmocka_unit_test(test_callback_new_kinds),
        cmocka_unit_test(test_callback_limits),
        cmocka_unit_test(test_callback_utf8_cuts),
        cmocka_unit_test(test_archive_hostile),
        cmocka_unit_test(test_archive_bombs),
        cmocka_unit_test(test_archive_scan_names),
        cmocka_unit_test(test_archive_progress),
        cmocka_unit_test(test_config_docs_table_in_sync),
        cmocka_unit_test(test_authhdr),
        cmocka_unit_test(test_tokenset),
        cmocka_unit_test(test_port_file),
        cmocka_unit_test(test_console_resolve),
        cmocka_unit_test(test_console_etag),
        cmocka_unit_test(test_framing_accepts),
        cmocka_unit_test(test_framing_refuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
