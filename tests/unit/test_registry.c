/* Unit tests for registry/: one test per rule of PRODUCT.md section 1, the
 * manifest parser (every fixture and hostile input), import idempotence and
 * atomicity, tokens and deliveries. Each test gets a fresh SQLite store in
 * its own mkdtemp directory and a logical clock it can move. The store is
 * inspected directly with sqlite3 where the API deliberately hides things
 * (token hashes, erased delivery bodies) and used to inject store errors
 * half-way through a change (a trigger that aborts).
 *
 * With IMAGEGATE_TEST_PG_URL set (ctest's unit/test_registry_pg runs this
 * binary under tests/integration/pgserver.py, which starts a throwaway
 * server) the same suite runs against PostgreSQL: each test gets a fresh
 * schema of that database (search_path through the URL's options), raw
 * access goes through libpq, and the PostgreSQL-only tests run instead of the
 * SQLite file tests: URL forms and errors without the password, writers
 * serialised across connections, SKIP LOCKED claims, reconnection after the
 * server closed a connection. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/timeutil.h"
#include "common/xalloc.h"
#include "registry/registry.h"

#define T0 1767225600000LL /* 2026-01-01T00:00:00Z */
#define HOUR 3600000LL

typedef struct fx {
    char dir[64];
    char path[128];
    char schema[64]; /* PostgreSQL: this test's schema */
    char url[1024];
    registry *r;
    reg_ctx ctx;
    char err[1024];
} fx;

/* PostgreSQL mode: the database URL given by the harness, else NULL. */
static const char *pg_url;

static void pg_quiet(void *arg, const char *message)
{
    (void)arg, (void)message; /* NOTICEs such as DROP SCHEMA ... CASCADE's list */
}

/* A libpq connection to url, or NULL with the reason on stderr. */
static PGconn *pg_connect(const char *url)
{
    PGconn *c = PQconnectdb(url);
    if (PQstatus(c) == CONNECTION_OK) {
        PQsetNoticeProcessor(c, pg_quiet, NULL);
        return c;
    }
    fprintf(stderr, "PostgreSQL: %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
}

/* Runs sql on url; 0 or -1 with the reason on stderr. */
static int pg_run(const char *url, const char *sql)
{
    PGconn *c = pg_connect(url);
    if (!c)
        return -1;
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    int rc = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK ? 0 : -1;
    if (rc < 0)
        fprintf(stderr, "PostgreSQL: %s: %s", sql, PQresultErrorMessage(res));
    PQclear(res);
    PQfinish(c);
    return rc;
}

/* base with one more query parameter (value already URL-encoded). */
static void url_with(char *out, size_t len, const char *base, const char *param)
{
    snprintf(out, len, "%s%s%s", base, strchr(base, '?') ? "&" : "?", param);
}

static int setup(void **state)
{
    static int seq;
    fx *f = xcalloc(1, sizeof *f);
    if (pg_url) {
        snprintf(f->schema, sizeof f->schema, "t%ld_%d", (long)getpid(), ++seq);
        char sql[128], opt[128];
        snprintf(sql, sizeof sql, "CREATE SCHEMA %s", f->schema);
        if (pg_run(pg_url, sql) < 0) {
            free(f);
            return -1;
        }
        snprintf(opt, sizeof opt, "options=-csearch_path%%3D%s", f->schema);
        url_with(f->url, sizeof f->url, pg_url, opt);
    } else {
        snprintf(f->dir, sizeof f->dir, "/tmp/igreg-test-XXXXXX");
        if (!mkdtemp(f->dir)) {
            free(f);
            return -1;
        }
        snprintf(f->path, sizeof f->path, "%s/reg.db", f->dir);
        snprintf(f->url, sizeof f->url, "sqlite:%s", f->path);
    }
    int code;
    f->r = registry_open(f->url, REG_OPEN_CREATE, &code, f->err, sizeof f->err);
    if (!f->r) {
        fprintf(stderr, "open: %s\n", f->err);
        free(f);
        return -1;
    }
    f->ctx.author = "tester";
    f->ctx.now = T0;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    registry_close(f->r);
    if (pg_url) {
        char sql[128];
        snprintf(sql, sizeof sql, "DROP SCHEMA %s CASCADE", f->schema);
        pg_run(pg_url, sql);
        free(f);
        return 0;
    }
    char p[200];
    const char *sfx[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s%s", f->path, sfx[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* ---- helpers ---------------------------------------------------------- */

/* A one-build AWS manifest: us-west-1:ami, optional source_ami. */
static json_t *import_ami(fx *f, const char *bucket, const char *fp, const char *ami,
                          const char *source, const char *channel)
{
    char *m = xasprintf("{\"builds\":[{\"name\":\"b\",\"builder_type\":\"amazon-ebs\","
                        "\"artifact_id\":\"us-west-1:%s\",\"packer_run_uuid\":\"run\","
                        "\"custom_data\":%s%s%s}],\"last_run_uuid\":\"run\"}",
                        ami, source ? "{\"source_ami\":\"" : "null", source ? source : "",
                        source ? "\"}" : "");
    reg_import imp;
    assert_int_equal(
        registry_manifest_parse(m, strlen(m), "m.json", false, &imp, f->err, sizeof f->err), 0);
    free(m);
    imp.bucket = xstrdup(bucket);
    free(imp.fingerprint);
    imp.fingerprint = xstrdup(fp);
    if (channel) {
        imp.channels = xcalloc(1, sizeof *imp.channels);
        imp.channels[0] = xstrdup(channel);
        imp.n_channels = 1;
    }
    json_t *v = registry_import(f->r, &f->ctx, &imp, NULL, f->err, sizeof f->err);
    registry_import_dispose(&imp);
    return v;
}

static void must_import(fx *f, const char *bucket, const char *fp, const char *ami,
                        const char *source, const char *channel)
{
    json_t *v = import_ami(f, bucket, fp, ami, source, channel);
    if (!v)
        fail_msg("import %s/%s: %s", bucket, fp, f->err);
    json_decref(v);
}

/* Status (and optionally type / revoke_at) of a version, into static bufs. */
static const char *status_of(fx *f, const char *bucket, const char *ref)
{
    static char buf[64];
    json_t *v = registry_version_get(f->r, &f->ctx, bucket, ref, f->err, sizeof f->err);
    if (!v)
        fail_msg("get %s %s: %s", bucket, ref, f->err);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(v, "status")));
    json_decref(v);
    return buf;
}

static const char *field_of(fx *f, const char *bucket, const char *ref, const char *key)
{
    static char buf[128];
    json_t *v = registry_version_get(f->r, &f->ctx, bucket, ref, f->err, sizeof f->err);
    if (!v)
        fail_msg("get %s %s: %s", bucket, ref, f->err);
    json_t *x = json_object_get(v, key);
    snprintf(buf, sizeof buf, "%s", json_is_string(x) ? json_string_value(x) : "null");
    json_decref(v);
    return buf;
}

/* Version name a channel holds ("-" when empty). */
static const char *channel_of(fx *f, const char *bucket, const char *channel)
{
    static char buf[32];
    json_t *c = registry_channel_get(f->r, &f->ctx, bucket, channel, f->err, sizeof f->err);
    if (!c)
        fail_msg("channel %s %s: %s", bucket, channel, f->err);
    json_t *v = json_object_get(c, "version");
    snprintf(buf, sizeof buf, "%s",
             json_is_object(v) ? json_string_value(json_object_get(v, "name")) : "-");
    json_decref(c);
    return buf;
}

static void set_channel(fx *f, const char *bucket, const char *channel, const char *ref)
{
    json_t *c = registry_channel_set(f->r, &f->ctx, bucket, channel, ref, f->err, sizeof f->err);
    if (!c)
        fail_msg("set %s %s %s: %s", bucket, channel, ref ? ref : "(unset)", f->err);
    json_decref(c);
}

static void do_revoke(fx *f, const char *bucket, const char *ref, ig_time at, bool skip, bool keep)
{
    reg_revoke rv = {
        .revoke_at = at, .message = "test", .skip_descendants = skip, .keep_channels = keep};
    json_t *v = registry_version_revoke(f->r, &f->ctx, bucket, ref, &rv, f->err, sizeof f->err);
    if (!v)
        fail_msg("revoke %s %s: %s", bucket, ref, f->err);
    json_decref(v);
}

static void do_restore(fx *f, const char *bucket, const char *ref)
{
    json_t *v = registry_version_restore(f->r, &f->ctx, bucket, ref, f->err, sizeof f->err);
    if (!v)
        fail_msg("restore %s %s: %s", bucket, ref, f->err);
    json_decref(v);
}

static int64_t audit_count(fx *f, const char *action)
{
    json_t *a = registry_audit_list(f->r, IG_TIME_NONE, NULL, 0, f->err, sizeof f->err);
    assert_non_null(a);
    int64_t n = 0;
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        if (!action || strcmp(json_string_value(json_object_get(e, "action")), action) == 0)
            n++;
    }
    json_decref(a);
    return n;
}

/* Runs SQL on the store directly (inspection, fault injection). */
static void raw_exec(fx *f, const char *sql)
{
    if (pg_url) {
        if (pg_run(f->url, sql) < 0)
            fail_msg("raw sql failed: %s", sql);
        return;
    }
    sqlite3 *db;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("raw sql: %s", msg);
    sqlite3_close(db);
}

/* First column of the first row as a new string (NULL for none / NULL). */
static char *raw_text(fx *f, const char *sql)
{
    char *v = NULL;
    if (pg_url) {
        PGconn *c = pg_connect(f->url);
        assert_non_null(c);
        PGresult *res = PQexec(c, sql);
        if (PQresultStatus(res) != PGRES_TUPLES_OK)
            fail_msg("raw sql: %s: %s", sql, PQresultErrorMessage(res));
        if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
            v = xstrdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        PQfinish(c);
        return v;
    }
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        v = xstrdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int64_t raw_int(fx *f, const char *sql)
{
    char *t = raw_text(f, sql);
    int64_t v = t ? strtoll(t, NULL, 10) : -1;
    free(t);
    return v;
}

/* Makes every INSERT into table whose new row satisfies cond (SQL over
 * NEW.) fail with message; fault_clear(f, table) removes it. */
static void fault_inject(fx *f, const char *table, const char *cond, const char *message)
{
    char sql[1024];
    if (pg_url)
        snprintf(sql, sizeof sql,
                 "CREATE FUNCTION boom_fn() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN"
                 " IF %s THEN RAISE EXCEPTION '%s'; END IF; RETURN NEW; END$$;"
                 " CREATE TRIGGER boom BEFORE INSERT ON %s FOR EACH ROW EXECUTE FUNCTION boom_fn()",
                 cond, message, table);
    else
        snprintf(sql, sizeof sql,
                 "CREATE TRIGGER boom BEFORE INSERT ON %s WHEN %s"
                 " BEGIN SELECT RAISE(ABORT, '%s'); END",
                 table, cond, message);
    raw_exec(f, sql);
}

static void fault_clear(fx *f, const char *table)
{
    char sql[256];
    if (pg_url)
        snprintf(sql, sizeof sql, "DROP TRIGGER boom ON %s; DROP FUNCTION boom_fn()", table);
    else
        snprintf(sql, sizeof sql, "DROP TRIGGER boom");
    raw_exec(f, sql);
}

/* API flow: incomplete version with one running build; returns build id. */
static char *api_version_with_build(fx *f, const char *bucket, const char *fp, const char *ami)
{
    json_t *v = registry_version_create(f->r, &f->ctx, bucket, fp, NULL, f->err, sizeof f->err);
    if (!v)
        fail_msg("version create: %s", f->err);
    assert_string_equal(json_string_value(json_object_get(v, "name")), "v0");
    json_decref(v);
    json_t *spec = json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}]}", "component_type", "amazon-ebs.b",
                             "platform", "aws", "status", "BUILD_RUNNING", "artifacts",
                             "external_identifier", ami, "region", "us-west-1");
    json_t *b = registry_build_create(f->r, &f->ctx, bucket, fp, spec, f->err, sizeof f->err);
    json_decref(spec);
    if (!b)
        fail_msg("build create: %s", f->err);
    char *id = xstrdup(json_string_value(json_object_get(b, "id")));
    json_decref(b);
    return id;
}

static void build_done(fx *f, const char *bucket, const char *fp, const char *build_id)
{
    json_t *patch = json_pack("{s:s}", "status", "BUILD_DONE");
    json_t *b =
        registry_build_update(f->r, &f->ctx, bucket, fp, build_id, patch, f->err, sizeof f->err);
    json_decref(patch);
    if (!b)
        fail_msg("build update: %s", f->err);
    json_decref(b);
}

/* PATCHes a build with {source_external_identifier: source} and, when done,
 * status BUILD_DONE; fails the test when refused. */
static void build_source(fx *f, const char *bucket, const char *fp, const char *build_id,
                         const char *source, bool done)
{
    json_t *patch =
        done ? json_pack("{s:s, s:s}", "status", "BUILD_DONE", "source_external_identifier", source)
             : json_pack("{s:s}", "source_external_identifier", source);
    json_t *b =
        registry_build_update(f->r, &f->ctx, bucket, fp, build_id, patch, f->err, sizeof f->err);
    json_decref(patch);
    if (!b)
        fail_msg("build update %s %s: %s", bucket, fp, f->err);
    json_decref(b);
}

/* ---- store ------------------------------------------------------------ */

static void test_open_missing_creates_nothing(void **state)
{
    fx *f = *state;
    char path[200], url[220], err[512];
    int code = 0;
    snprintf(path, sizeof path, "%s/absent.db", f->dir);
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_null(registry_open(url, 0, &code, err, sizeof err));
    assert_int_equal(code, REG_ESTORE);
    assert_non_null(strstr(err, "absent.db"));
    assert_int_equal(access(path, F_OK), -1);
    /* with REG_OPEN_CREATE: made, mode 0600, migrated once */
    registry *r = registry_open(url, REG_OPEN_CREATE, &code, err, sizeof err);
    assert_non_null(r);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_string_equal(registry_kind(r), "sqlite");
    assert_int_equal(registry_ping(r, err, sizeof err), 0);
    registry_close(r);
    r = registry_open(url, 0, &code, err, sizeof err); /* reopen: nothing pending */
    assert_non_null(r);
    registry_close(r);
    /* 001_init, 003_revocation_keep_channels, 004_results, 005_hcp, 008_usage, 009_events,
     * 010_sbom, 011_store_probe, 014_build_built_at (002 is PostgreSQL's) */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_migrations"), 9);
    /* the /readyz probe writes one row, however often it runs */
    assert_int_equal(registry_probe_write(f->r, T0, err, sizeof err), 0);
    assert_int_equal(registry_probe_write(f->r, T0 + 1000, err, sizeof err), 0);
    assert_int_equal(raw_int(f, "SELECT written_at FROM store_probe WHERE id = 1"), T0 + 1000);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM store_probe"), 1);
    /* other URL forms, bad URLs */
    assert_null(registry_open("mysql://x", 0, &code, err, sizeof err));
    assert_int_equal(code, REG_EINVAL);
    assert_null(registry_open("sqlite:", 0, &code, err, sizeof err));
    assert_int_equal(code, REG_EINVAL);
    assert_null(registry_open(f->dir, 0, &code, err, sizeof err)); /* no .db suffix */
    snprintf(url, sizeof url, "%s", f->path);                      /* bare path ending in .db */
    r = registry_open(url, 0, &code, err, sizeof err);
    assert_non_null(r);
    registry_close(r);
    snprintf(url, sizeof url, "sqlite://%s?busy_timeout=50", f->path);
    r = registry_open(url, 0, &code, err, sizeof err);
    assert_non_null(r);
    registry_close(r);
    snprintf(url, sizeof url, "sqlite:%s?nope=1", f->path);
    assert_null(registry_open(url, 0, &code, err, sizeof err));
    assert_int_equal(code, REG_EINVAL);
    /* a file that is not SQLite */
    snprintf(path, sizeof path, "%s/garbage.db", f->dir);
    FILE *g = fopen(path, "w");
    fputs("this is not a database, just some text that is long enough to matter..........\n", g);
    fclose(g);
    snprintf(url, sizeof url, "sqlite:%s", path);
    assert_null(registry_open(url, 0, &code, err, sizeof err));
    assert_int_equal(code, REG_ESTORE);
    unlink(path);
}

/* ---- names and numbering ---------------------------------------------- */

static void test_fingerprint_rules(void **state)
{
    fx *f = *state;
    char err[256];
    const char *good[] = {"a",   "web-1", "9e5a1c42-3d6b-4f8c-a04e-5b6c7d8e9fa3",    "a.b_c-d",
                          "v1a", "va",    "1234567890123456789012345678901234567890"};
    const char *bad[] = {"",   "v1",  "v0",  "v123",
                         "V7", "-a",  "a-",  ".a",
                         "a_", "a b", "a/b", "x12345678901234567890123456789012345678901",
                         "é"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (registry_valid_fingerprint(good[i], err, sizeof err) != 0)
            fail_msg("'%s' refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (registry_valid_fingerprint(bad[i], err, sizeof err) != -1)
            fail_msg("'%s' accepted", bad[i]);
    registry_valid_fingerprint("v12", err, sizeof err);
    assert_non_null(strstr(err, "v<digits>"));
    /* the store refuses them too, and nothing is written */
    json_t *b = registry_bucket_create(f->r, &f->ctx, "web", NULL, NULL, f->err, sizeof f->err);
    assert_non_null(b);
    json_decref(b);
    assert_null(registry_version_create(f->r, &f->ctx, "web", "v12", NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_null(import_ami(f, "web", "v3", "ami-1", NULL, NULL));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM versions"), 0);
}

static void test_names(void **state)
{
    fx *f = *state;
    char err[256];
    assert_int_equal(registry_valid_bucket_name("web-ubuntu", err, sizeof err), 0);
    assert_int_equal(registry_valid_bucket_name("ab", err, sizeof err), -1);
    assert_int_equal(registry_valid_bucket_name("a_b_c", err, sizeof err), -1);
    assert_int_equal(
        registry_valid_bucket_name("x1234567890123456789012345678901234567", err, sizeof err), -1);
    assert_int_equal(registry_valid_channel_name("prod_1", err, sizeof err), 0);
    assert_int_equal(registry_valid_channel_name("-prod", err, sizeof err), -1);
    assert_null(registry_bucket_create(f->r, &f->ctx, "a!", NULL, NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    char desc[300];
    memset(desc, 'x', sizeof desc - 1);
    desc[sizeof desc - 1] = '\0';
    assert_null(registry_bucket_create(f->r, &f->ctx, "abc", desc, NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    json_t *labels = json_pack("{s:i}", "k", 1);
    assert_null(registry_bucket_create(f->r, &f->ctx, "abc", NULL, labels, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_non_null(strstr(f->err, "labels.k"));
    json_decref(labels);
    labels = json_pack("{s:s}", "team", "web");
    json_t *b = registry_bucket_create(f->r, &f->ctx, "abc", "d", labels, f->err, sizeof f->err);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "labels"), "team")),
                        "web");
    json_decref(b);
    json_decref(labels);
    assert_null(registry_bucket_create(f->r, &f->ctx, "abc", NULL, NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_bucket_get(f->r, &f->ctx, "nope", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM buckets"), 1);
}

static void test_numbering_completion_order_never_reused(void **state)
{
    fx *f = *state;
    json_decref(registry_bucket_create(f->r, &f->ctx, "app", NULL, NULL, f->err, sizeof f->err));
    char *ba = api_version_with_build(f, "app", "first", "ami-a");
    char *bb = api_version_with_build(f, "app", "second", "ami-b");
    assert_string_equal(field_of(f, "app", "first", "name"), "v0");
    assert_string_equal(status_of(f, "app", "first"), "VERSION_RUNNING");
    /* a complete version cannot take builds; an incomplete one is not in channels */
    assert_null(registry_channel_set(f->r, &f->ctx, "app", "prod", "first", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    /* "second" completes first and gets v1 */
    build_done(f, "app", "second", bb);
    assert_string_equal(field_of(f, "app", "second", "name"), "v1");
    assert_string_equal(field_of(f, "app", "first", "name"), "v0");
    build_done(f, "app", "first", ba);
    assert_string_equal(field_of(f, "app", "first", "name"), "v2");
    assert_string_equal(status_of(f, "app", "v2"), "VERSION_ACTIVE");
    /* complete versions are immutable */
    json_t *spec = json_pack("{s:s, s:s}", "component_type", "x.y", "platform", "aws");
    assert_null(registry_build_create(f->r, &f->ctx, "app", "v1", spec, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    json_decref(spec);
    /* deleting the highest never frees its number */
    assert_int_equal(registry_version_delete(f->r, &f->ctx, "app", "v2", f->err, sizeof f->err), 0);
    must_import(f, "app", "third", "ami-c", NULL, NULL);
    assert_string_equal(field_of(f, "app", "third", "name"), "v3");
    assert_null(registry_version_get(f->r, &f->ctx, "app", "v2", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    /* audit of the API flow */
    assert_int_equal(audit_count(f, "version.complete"), 2);
    assert_int_equal(audit_count(f, "version.delete"), 1);
    free(ba);
    free(bb);
}

/* ---- latest and the clock --------------------------------------------- */

static void test_latest_at_read_time(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    must_import(f, "web", "w3", "ami-3", NULL, NULL);
    assert_string_equal(channel_of(f, "web", "latest"), "v3");
    do_revoke(f, "web", "v3", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "web", "latest"), "v2");
    /* scheduled still counts */
    do_revoke(f, "web", "v2", T0 + HOUR, false, false);
    assert_string_equal(channel_of(f, "web", "latest"), "v2");
    json_t *b = registry_bucket_get(f->r, &f->ctx, "web", f->err, sizeof f->err);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(b, "latest_version"), "name")), "v2");
    json_decref(b);
    /* the clock passes the schedule: latest moves without any write */
    f->ctx.now = T0 + 2 * HOUR;
    assert_string_equal(channel_of(f, "web", "latest"), "v1");
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "web", "latest"), "-");
    do_restore(f, "web", "v3");
    assert_string_equal(channel_of(f, "web", "latest"), "v3");
    /* an incomplete version never counts */
    json_decref(
        registry_version_create(f->r, &f->ctx, "web", "pending", NULL, f->err, sizeof f->err));
    assert_string_equal(channel_of(f, "web", "latest"), "v3");
}

static void test_immediate_vs_scheduled_clock(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    do_revoke(f, "web", "v1", T0 + HOUR, false, false);
    assert_string_equal(status_of(f, "web", "v1"), "VERSION_REVOCATION_SCHEDULED");
    f->ctx.now = T0 + HOUR - 1;
    assert_string_equal(status_of(f, "web", "v1"), "VERSION_REVOCATION_SCHEDULED");
    f->ctx.now = T0 + HOUR; /* revoke_at <= now is revoked */
    assert_string_equal(status_of(f, "web", "v1"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "web", "v1", "revoke_at"), "2026-01-01T01:00:00Z");
    assert_string_equal(field_of(f, "web", "v1", "revocation_type"), "MANUAL");
    assert_string_equal(field_of(f, "web", "v1", "revocation_message"), "test");
    assert_string_equal(field_of(f, "web", "v1", "revocation_author"), "tester");
    /* immediate: revoke_at = now */
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    do_revoke(f, "web", "v2", IG_TIME_NONE, false, false);
    assert_string_equal(status_of(f, "web", "v2"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "web", "v2", "revoke_at"), "2026-01-01T01:00:00Z");
    /* read with an earlier clock, the same row is a scheduled revocation */
    f->ctx.now = T0;
    assert_string_equal(status_of(f, "web", "v2"), "VERSION_REVOCATION_SCHEDULED");
}

static void test_rerevoke_rules(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    do_revoke(f, "web", "v1", T0 + 10 * HOUR, false, false);
    /* a scheduled revocation may be brought forward (replaced) */
    do_revoke(f, "web", "v1", T0 + HOUR, false, false);
    assert_string_equal(field_of(f, "web", "v1", "revoke_at"), "2026-01-01T01:00:00Z");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations"), 1);
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(status_of(f, "web", "v1"), "VERSION_REVOKED");
    assert_string_equal(channel_of(f, "web", "prod"), "-");
    /* once in effect it cannot be moved; restore first */
    reg_revoke rv = {.revoke_at = T0 + 5 * HOUR};
    assert_null(registry_version_revoke(f->r, &f->ctx, "web", "v1", &rv, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "already revoked"));
    /* restoring something not revoked is refused */
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    assert_null(registry_version_restore(f->r, &f->ctx, "web", "v2", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    /* unknown names */
    assert_null(registry_version_revoke(f->r, &f->ctx, "web", "v9", &rv, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_null(registry_version_revoke(f->r, &f->ctx, "nope", "v1", &rv, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
}

static void test_scheduled_rolls_nothing_back(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    must_import(f, "web", "w2", "ami-2", NULL, "prod");
    do_revoke(f, "web", "v2", T0 + HOUR, false, false);
    assert_string_equal(channel_of(f, "web", "prod"), "v2");
    /* a scheduled version is still valid: it can be assigned */
    set_channel(f, "web", "staging", "v2");
    assert_int_equal(audit_count(f, "channel.rollback"), 0);
    /* the time passes: nothing moves, the channel holds a revoked version */
    f->ctx.now = T0 + 2 * HOUR;
    assert_string_equal(channel_of(f, "web", "prod"), "v2");
    assert_string_equal(channel_of(f, "web", "staging"), "v2");
    json_t *c = registry_channel_get(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err);
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "version"), "status")),
                        "VERSION_REVOKED");
    json_decref(c);
    /* and now it can no longer be assigned */
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "qa", "v2", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    json_t *h = registry_channel_history(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err);
    assert_int_equal(json_array_size(h), 2);
    json_decref(h);
}

/* ---- inheritance ------------------------------------------------------ */

/* base (ami-base) <- mid (built from ami-base) <- leaf (built from ami-mid) */
static void family(fx *f)
{
    must_import(f, "base", "b1", "ami-base", NULL, "prod");
    must_import(f, "mid", "m1", "ami-mid", "ami-base", "prod");
    must_import(f, "leaf", "l1", "ami-leaf", "ami-mid", "prod");
}

/* "bucket version" the effective revocation is inherited from, or "-". */
static const char *inherited_from(fx *f, const char *bucket, const char *ref)
{
    static char buf[128];
    json_t *v = registry_version_get(f->r, &f->ctx, bucket, ref, f->err, sizeof f->err);
    if (!v)
        fail_msg("get %s %s: %s", bucket, ref, f->err);
    json_t *from = json_object_get(v, "revocation_inherited_from");
    if (json_is_object(from))
        snprintf(buf, sizeof buf, "%s %s", json_string_value(json_object_get(from, "bucket_name")),
                 json_string_value(json_object_get(from, "version")));
    else
        snprintf(buf, sizeof buf, "-");
    json_decref(v);
    return buf;
}

static void test_inheritance_transitive_same_revoke_at(void **state)
{
    fx *f = *state;
    family(f);
    json_t *v = registry_version_get(f->r, &f->ctx, "leaf", "v1", f->err, sizeof f->err);
    json_t *p = json_array_get(json_object_get(v, "parent_versions"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "bucket_name")), "mid");
    /* known from the source image only: HCP's UNDETERMINED */
    assert_string_equal(json_string_value(json_object_get(p, "status")), "UNDETERMINED");
    assert_string_equal(json_string_value(json_object_get(json_object_get(v, "parents"), "status")),
                        "UNDETERMINED");
    assert_false(json_is_true(json_object_get(v, "has_descendants")));
    json_decref(v);
    v = registry_version_get(f->r, &f->ctx, "mid", "v1", f->err, sizeof f->err);
    assert_true(json_is_true(json_object_get(v, "has_descendants")));
    json_decref(v);
    do_revoke(f, "base", "v1", T0 + HOUR, false, false);
    const char *buckets[] = {"mid", "leaf"};
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(status_of(f, buckets[i], "v1"), "VERSION_REVOCATION_SCHEDULED");
        assert_string_equal(field_of(f, buckets[i], "v1", "revocation_type"), "INHERITED");
        assert_string_equal(field_of(f, buckets[i], "v1", "revoke_at"), "2026-01-01T01:00:00Z");
        v = registry_version_get(f->r, &f->ctx, buckets[i], "v1", f->err, sizeof f->err);
        json_t *from = json_object_get(v, "revocation_inherited_from");
        assert_string_equal(json_string_value(json_object_get(from, "bucket_name")), "base");
        assert_string_equal(json_string_value(json_object_get(from, "version")), "v1");
        json_decref(v);
    }
    /* artifact find carries the same answer */
    json_t *m =
        registry_artifact_find(f->r, &f->ctx, "AMI-LEAF", NULL, NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(m), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(m, 0), "revocation_type")),
                        "INHERITED");
    json_decref(m);
    /* scheduled: no channel moved anywhere */
    assert_string_equal(channel_of(f, "leaf", "prod"), "v1");
    f->ctx.now = T0 + HOUR;
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
}

static void test_skip_descendants(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "base", "v1", IG_TIME_NONE, true, false);
    assert_string_equal(status_of(f, "base", "v1"), "VERSION_REVOKED");
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_ACTIVE");
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_ACTIVE");
    assert_string_equal(channel_of(f, "mid", "prod"), "v1");
    assert_string_equal(channel_of(f, "base", "prod"), "-");
    /* and a child born later does not inherit a skipping revocation */
    must_import(f, "mid", "m2", "ami-mid2", "ami-base", NULL);
    assert_string_equal(status_of(f, "mid", "v2"), "VERSION_ACTIVE");
}

static void test_child_born_revoked(void **state)
{
    fx *f = *state;
    must_import(f, "base", "b1", "ami-base", NULL, NULL);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, false);
    must_import(f, "mid", "m1", "ami-mid", "AMI-BASE", NULL); /* case-insensitive parent */
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "mid", "v1", "revocation_type"), "INHERITED");
    /* transitively: a grandchild born now inherits the same origin */
    must_import(f, "leaf", "l1", "ami-leaf", "ami-mid", NULL);
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
    json_t *v = registry_version_get(f->r, &f->ctx, "leaf", "v1", f->err, sizeof f->err);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(v, "revocation_inherited_from"), "bucket_name")),
                        "base");
    json_decref(v);
    /* a born-revoked version cannot be imported into a channel: all or nothing */
    assert_null(import_ami(f, "leaf", "l2", "ami-leaf2", "ami-mid", "prod"));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_version_get(f->r, &f->ctx, "leaf", "l2", f->err, sizeof f->err));
    /* API flow too: the child completes already revoked */
    char *bid = api_version_with_build(f, "leaf", "api1", "ami-x");
    json_t *patch =
        json_pack("{s:s, s:s}", "status", "BUILD_DONE", "source_external_identifier", "ami-base");
    json_t *b =
        registry_build_update(f->r, &f->ctx, "leaf", "api1", bid, patch, f->err, sizeof f->err);
    assert_non_null(b);
    json_decref(b);
    json_decref(patch);
    assert_string_equal(status_of(f, "leaf", "api1"), "VERSION_REVOKED");
    free(bid);
}

/* A version that becomes a descendant of a revoked version only later -- a
 * middle image imported after the revocation links an existing child to it
 * -- inherits the revocation then, and an immediate one rolls back its
 * channels as any inherited immediate revocation does (audited); a
 * revocation made with keep_channels keeps them then too. */
static void test_late_link_rolls_back(void **state)
{
    fx *f = *state;
    must_import(f, "gold", "g1", "ami-gold", NULL, NULL);
    must_import(f, "app", "a1", "ami-app1", NULL, "prod");
    must_import(f, "app", "a2", "ami-app2", "ami-mid", "prod"); /* ami-mid: nobody's yet */
    assert_string_equal(channel_of(f, "app", "prod"), "v2");
    do_revoke(f, "gold", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(status_of(f, "app", "v2"), "VERSION_ACTIVE");
    int64_t rollbacks = audit_count(f, "channel.rollback");
    f->ctx.now += 1000;
    must_import(f, "mid", "m1", "ami-mid", "ami-gold", NULL);
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_REVOKED");
    assert_string_equal(status_of(f, "app", "v2"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "app", "v2", "revocation_type"), "INHERITED");
    assert_string_equal(channel_of(f, "app", "prod"), "v1");
    assert_int_equal(audit_count(f, "channel.rollback"), rollbacks + 1);
    assert_int_equal(audit_count(f, "version.inherit"), 1);

    /* the same with a --keep-channels revocation: inherited, channel kept */
    must_import(f, "gold2", "g1", "ami-gold2", NULL, NULL);
    must_import(f, "app2", "a1", "ami-app2-1", NULL, "prod");
    must_import(f, "app2", "a2", "ami-app2-2", "ami-mid2", "prod");
    do_revoke(f, "gold2", "v1", IG_TIME_NONE, false, true);
    must_import(f, "mid2", "m1", "ami-mid2", "ami-gold2", NULL);
    assert_string_equal(status_of(f, "app2", "v2"), "VERSION_REVOKED");
    assert_string_equal(channel_of(f, "app2", "prod"), "v2");

    /* and a scheduled one rolls nothing back */
    must_import(f, "gold3", "g1", "ami-gold3", NULL, NULL);
    must_import(f, "app3", "a1", "ami-app3-1", NULL, "prod");
    must_import(f, "app3", "a2", "ami-app3-2", "ami-mid3", "prod");
    do_revoke(f, "gold3", "v1", f->ctx.now + HOUR, false, false);
    must_import(f, "mid3", "m1", "ami-mid3", "ami-gold3", NULL);
    assert_string_equal(status_of(f, "app3", "v2"), "VERSION_REVOCATION_SCHEDULED");
    assert_string_equal(channel_of(f, "app3", "prod"), "v2");
}

/* An incomplete version whose build stops naming a revoked image as its
 * source loses the inherited revocation (it is no longer a child), and so do
 * the versions built from it; a revocation whose origin is still an
 * ancestor through another parent stays. */
static void test_inheritance_follows_build_changes(void **state)
{
    fx *f = *state;
    must_import(f, "par", "p1", "ami-par", NULL, NULL);
    must_import(f, "other", "o1", "ami-other", NULL, NULL);
    do_revoke(f, "par", "v1", IG_TIME_NONE, false, false);
    json_decref(registry_bucket_create(f->r, &f->ctx, "kid", NULL, NULL, f->err, sizeof f->err));
    json_decref(registry_bucket_create(f->r, &f->ctx, "kid2", NULL, NULL, f->err, sizeof f->err));
    char *bid = api_version_with_build(f, "kid", "k1", "ami-kid");
    build_source(f, "kid", "k1", bid, "ami-par", false);
    assert_string_equal(field_of(f, "kid", "k1", "revocation_type"), "INHERITED");
    /* a grandchild built from the incomplete kid's artifact inherits too */
    must_import(f, "grand", "g1", "ami-grand", "ami-kid", NULL);
    assert_string_equal(status_of(f, "grand", "v1"), "VERSION_REVOKED");
    /* the source changes to an unrelated image and the build completes */
    build_source(f, "kid", "k1", bid, "ami-unrelated", true);
    assert_string_equal(status_of(f, "kid", "v1"), "VERSION_ACTIVE");
    assert_string_equal(field_of(f, "kid", "v1", "revocation_type"), "null");
    assert_string_equal(status_of(f, "grand", "v1"), "VERSION_ACTIVE");
    assert_true(audit_count(f, "version.inherit") >= 2);
    free(bid);

    /* two parents: dropping one keeps the other's revocation */
    bid = api_version_with_build(f, "kid2", "k1", "ami-kid2");
    build_source(f, "kid2", "k1", bid, "ami-par", false);
    json_t *spec =
        json_pack("{s:s, s:s, s:s, s:s}", "component_type", "amazon-ebs.c", "platform", "aws",
                  "status", "BUILD_DONE", "source_external_identifier", "ami-par");
    json_t *b = registry_build_create(f->r, &f->ctx, "kid2", "k1", spec, f->err, sizeof f->err);
    assert_non_null(b);
    json_decref(b);
    json_decref(spec);
    build_source(f, "kid2", "k1", bid, "ami-other", true);
    assert_string_equal(status_of(f, "kid2", "v1"), "VERSION_REVOKED");
    free(bid);
}

/* A build change on one version judges only the rows that can have come
 * through it: a version built from a deleted middle image keeps the
 * revocation it inherited, whatever other versions of the same origin do
 * later (review finding: a child published from the revoked image over the
 * API used to un-revoke it). */
static void test_build_change_leaves_other_families_alone(void **state)
{
    fx *f = *state;
    must_import(f, "par", "p1", "ami-par", NULL, NULL);
    must_import(f, "mid", "m1", "ami-mid", "ami-par", NULL);
    must_import(f, "leaf", "l1", "ami-leaf", "ami-mid", NULL);
    do_revoke(f, "par", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
    assert_int_equal(registry_version_delete(f->r, &f->ctx, "mid", "v1", f->err, sizeof f->err), 0);
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
    json_decref(registry_bucket_create(f->r, &f->ctx, "kid", NULL, NULL, f->err, sizeof f->err));
    char *bid = api_version_with_build(f, "kid", "k1", "ami-kid");
    build_source(f, "kid", "k1", bid, "ami-par", false);
    build_done(f, "kid", "k1", bid);
    free(bid);
    assert_string_equal(status_of(f, "kid", "v1"), "VERSION_REVOKED");
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
    /* and an import of another child of the same origin leaves it too */
    must_import(f, "kid2", "k1", "ami-kid2", "ami-par", NULL);
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
}

static void test_earliest_wins(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "mid", "v1", T0 + 2 * HOUR, false, false);
    do_revoke(f, "base", "v1", T0 + HOUR, false, false);
    assert_string_equal(field_of(f, "mid", "v1", "revoke_at"), "2026-01-01T01:00:00Z");
    assert_string_equal(field_of(f, "mid", "v1", "revocation_type"), "INHERITED");
    assert_string_equal(field_of(f, "leaf", "v1", "revoke_at"), "2026-01-01T01:00:00Z");
    json_t *v = registry_version_get(f->r, &f->ctx, "mid", "v1", f->err, sizeof f->err);
    assert_int_equal(json_array_size(json_object_get(v, "revocations")), 2);
    json_decref(v);
    /* the other way round: own earlier than inherited */
    do_restore(f, "base", "v1");
    do_revoke(f, "base", "v1", T0 + 3 * HOUR, false, false);
    assert_string_equal(field_of(f, "mid", "v1", "revoke_at"), "2026-01-01T02:00:00Z");
    assert_string_equal(field_of(f, "mid", "v1", "revocation_type"), "MANUAL");
    /* leaf inherits from both: the earliest (mid's) wins */
    assert_string_equal(field_of(f, "leaf", "v1", "revoke_at"), "2026-01-01T02:00:00Z");
}

static void test_child_manual_survives_parent_restore(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "mid", "v1", IG_TIME_NONE, false, true);
    f->ctx.now = T0 + 1;
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, true);
    do_restore(f, "base", "v1");
    assert_string_equal(status_of(f, "base", "v1"), "VERSION_ACTIVE");
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "mid", "v1", "revocation_type"), "MANUAL");
    /* leaf keeps what mid caused, loses what base caused */
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_REVOKED");
    json_t *v = registry_version_get(f->r, &f->ctx, "leaf", "v1", f->err, sizeof f->err);
    assert_int_equal(json_array_size(json_object_get(v, "revocations")), 1);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(v, "revocation_inherited_from"), "bucket_name")),
                        "mid");
    json_decref(v);
}

static void test_restore_removes_what_it_caused_no_reassign(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "base", "prod"), "-");
    assert_string_equal(channel_of(f, "mid", "prod"), "-");
    assert_string_equal(channel_of(f, "leaf", "prod"), "-");
    /* a version revoked only by inheritance is restored at its origin */
    assert_null(registry_version_restore(f->r, &f->ctx, "mid", "v1", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "base v1"));
    do_restore(f, "base", "v1");
    assert_string_equal(status_of(f, "base", "v1"), "VERSION_ACTIVE");
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_ACTIVE");
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_ACTIVE");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations"), 0);
    /* channels stay as the rollback left them; latest (computed) is back */
    assert_string_equal(channel_of(f, "base", "prod"), "-");
    assert_string_equal(channel_of(f, "mid", "prod"), "-");
    assert_string_equal(channel_of(f, "mid", "latest"), "v1");
    assert_int_equal(audit_count(f, "version.restore"), 1);
}

static void test_inheritance_cycle_terminates(void **state)
{
    fx *f = *state;
    /* a hostile registry: a built from b's image and b from a's */
    must_import(f, "aaa", "a1", "ami-a", "ami-b", NULL);
    must_import(f, "bbb", "b1", "ami-b", "ami-a", NULL);
    do_revoke(f, "aaa", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(status_of(f, "bbb", "v1"), "VERSION_REVOKED");
    assert_string_equal(field_of(f, "aaa", "v1", "revocation_type"), "MANUAL");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations"), 2);
    do_restore(f, "aaa", "v1");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations"), 0);
}

static void test_orphaned_inherited_restore(void **state)
{
    fx *f = *state;
    must_import(f, "base", "b1", "ami-base", NULL, NULL);
    must_import(f, "mid", "m1", "ami-mid", "ami-base", NULL);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, false);
    /* deleting the origin does not lift the inherited revocation... */
    assert_int_equal(registry_bucket_delete(f->r, &f->ctx, "base", f->err, sizeof f->err), 0);
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_REVOKED");
    assert_string_equal(inherited_from(f, "mid", "v1"), "base v1");
    /* ...but with the origin gone, restoring the child lifts it */
    do_restore(f, "mid", "v1");
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_ACTIVE");
}

/* ---- channels --------------------------------------------------------- */

static void test_rollback_most_recent_valid_or_empty(void **state)
{
    fx *f = *state;
    /* the MOST RECENT earlier valid entry: v2, not v1 */
    must_import(f, "app", "a1", "ami-a1", NULL, "prod");
    must_import(f, "app", "a2", "ami-a2", NULL, "prod");
    must_import(f, "app", "a3", "ami-a3", NULL, "prod");
    do_revoke(f, "app", "v3", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "app", "prod"), "v2");
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    must_import(f, "web", "w2", "ami-2", NULL, "prod");
    must_import(f, "web", "w3", "ami-3", NULL, "prod");
    set_channel(f, "web", "prod", NULL); /* an unset entry in history is skipped */
    set_channel(f, "web", "prod", "v3");
    do_revoke(f, "web", "v2", IG_TIME_NONE, false, false); /* not held: nothing moves */
    assert_string_equal(channel_of(f, "web", "prod"), "v3");
    do_revoke(f, "web", "v3", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "web", "prod"), "v1"); /* v2 revoked, skipped */
    json_t *h = registry_channel_history(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err);
    json_t *top = json_array_get(h, 0);
    assert_string_equal(json_string_value(json_object_get(top, "action")), "rollback");
    assert_string_equal(json_string_value(json_object_get(top, "version")), "v1");
    assert_string_equal(json_string_value(json_object_get(top, "author_id")), "tester");
    json_decref(h);
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "web", "prod"), "-");
    assert_int_equal(audit_count(f, "channel.rollback"), 3);
    /* a scheduled version in the history is still valid and is chosen */
    must_import(f, "web", "w4", "ami-4", NULL, "prod");
    do_revoke(f, "web", "v4", T0 + HOUR, false, false);
    must_import(f, "web", "w5", "ami-5", NULL, "prod");
    do_revoke(f, "web", "v5", IG_TIME_NONE, false, false);
    assert_string_equal(channel_of(f, "web", "prod"), "v4");
}

static void test_keep_channels(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, true);
    assert_string_equal(channel_of(f, "base", "prod"), "v1");
    assert_string_equal(channel_of(f, "mid", "prod"), "v1");
    assert_string_equal(status_of(f, "mid", "v1"), "VERSION_REVOKED");
    assert_int_equal(audit_count(f, "channel.rollback"), 0);
}

static void test_channel_set_refusals(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "prod", "v1", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "revoked"));
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "prod", "w1", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "prod", "v7", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_null(
        registry_channel_set(f->r, &f->ctx, "web", "bad name", "v2", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "nochan", NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM channels"), 0);
    /* restored, it can be assigned again */
    do_restore(f, "web", "v1");
    set_channel(f, "web", "prod", "v1");
    assert_string_equal(channel_of(f, "web", "prod"), "v1");
    /* setting what is already there changes nothing */
    int64_t before = audit_count(f, NULL);
    set_channel(f, "web", "prod", "v1");
    assert_int_equal(audit_count(f, NULL), before);
    /* a version in a channel cannot be deleted */
    assert_int_equal(registry_version_delete(f->r, &f->ctx, "web", "v1", f->err, sizeof f->err),
                     -1);
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "prod"));
}

static void test_latest_cannot_be_assigned(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "latest", "v1", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_channel_set(f->r, &f->ctx, "web", "latest", NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_channel_create(f->r, &f->ctx, "web", "Latest", NULL, false, f->err,
                                        sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_int_equal(registry_channel_delete(f->r, &f->ctx, "web", "latest", f->err, sizeof f->err),
                     -1);
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM channels"), 0);
    json_t *l = registry_channel_list(f->r, &f->ctx, "web", f->err, sizeof f->err);
    json_t *latest = json_array_get(l, 0);
    assert_string_equal(json_string_value(json_object_get(latest, "name")), "latest");
    assert_true(json_is_true(json_object_get(latest, "managed")));
    json_decref(l);
}

static void test_channel_history_and_delete(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    f->ctx.author = "alice";
    f->ctx.now = T0 + 1000;
    set_channel(f, "web", "prod", "w2");
    set_channel(f, "web", "prod", NULL);
    json_t *h = registry_channel_history(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err);
    assert_int_equal(json_array_size(h), 3);
    const char *actions[] = {"unset", "set", "set"}, *versions[] = {NULL, "v2", "v1"};
    const char *authors[] = {"alice", "alice", "tester"};
    for (size_t i = 0; i < 3; i++) {
        json_t *e = json_array_get(h, i);
        assert_string_equal(json_string_value(json_object_get(e, "action")), actions[i]);
        assert_string_equal(json_string_value(json_object_get(e, "author_id")), authors[i]);
        if (versions[i])
            assert_string_equal(json_string_value(json_object_get(e, "version")), versions[i]);
        else
            assert_true(json_is_null(json_object_get(e, "version")));
    }
    assert_string_equal(json_string_value(json_object_get(json_array_get(h, 0), "assigned_at")),
                        "2026-01-01T00:00:01Z");
    json_decref(h);
    h = registry_channel_history(f->r, &f->ctx, "web", "latest", f->err, sizeof f->err);
    assert_int_equal(json_array_size(h), 0);
    json_decref(h);
    assert_int_equal(registry_channel_delete(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err),
                     0);
    assert_null(registry_channel_history(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM channel_history"), 0);
}

/* ---- audit ------------------------------------------------------------ */

static void test_audit_rows_with_time_and_author(void **state)
{
    fx *f = *state;
    f->ctx.author = "bob";
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    f->ctx.author = "carol";
    f->ctx.now = T0 + HOUR;
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    do_restore(f, "web", "v1");
    set_channel(f, "web", "prod", "v1");
    assert_int_equal(registry_channel_delete(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err),
                     0);
    must_import(f, "other", "o1", "ami-o", NULL, NULL);
    assert_int_equal(registry_version_delete(f->r, &f->ctx, "other", "v1", f->err, sizeof f->err),
                     0);
    assert_int_equal(registry_bucket_delete(f->r, &f->ctx, "other", f->err, sizeof f->err), 0);
    json_t *a = registry_audit_list(f->r, IG_TIME_NONE, NULL, 0, f->err, sizeof f->err);
    const char *want[][2] = {
        {"bucket.create", "bob"},    {"version.import", "bob"},     {"channel.set", "bob"},
        {"version.revoke", "carol"}, {"channel.rollback", "carol"}, {"version.restore", "carol"},
        {"channel.set", "carol"},    {"channel.delete", "carol"},   {"bucket.create", "carol"},
        {"version.import", "carol"}, {"version.delete", "carol"},   {"bucket.delete", "carol"}};
    assert_int_equal(json_array_size(a), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *e = json_array_get(a, i);
        assert_string_equal(json_string_value(json_object_get(e, "action")), want[i][0]);
        assert_string_equal(json_string_value(json_object_get(e, "author")), want[i][1]);
        assert_string_equal(json_string_value(json_object_get(e, "at")),
                            i < 3 ? "2026-01-01T00:00:00Z" : "2026-01-01T01:00:00Z");
    }
    json_decref(a);
    a = registry_audit_list(f->r, T0 + HOUR, "web", 0, f->err, sizeof f->err);
    assert_int_equal(json_array_size(a), 5);
    json_decref(a);
    a = registry_audit_list(f->r, IG_TIME_NONE, NULL, 2, f->err, sizeof f->err);
    assert_int_equal(json_array_size(a), 2);
    json_decref(a);
    json_t *d = json_pack("{s:s}", "run_id", "run-1");
    assert_int_equal(registry_audit_add(f->r, &f->ctx, "delivery.abandoned", NULL, "tr-1", d,
                                        f->err, sizeof f->err),
                     0);
    json_decref(d);
    assert_int_equal(audit_count(f, "delivery.abandoned"), 1);
}

/* The console's reads: revoked and scheduled counts on a bucket, the
 * bucket filter (name or description, LIKE's wildcards taken literally),
 * and the audit trail by author, bucket, until and newest first. */
static int64_t bucket_int(fx *f, const char *name, const char *key)
{
    json_t *b = registry_bucket_get(f->r, &f->ctx, name, f->err, sizeof f->err);
    if (!b)
        fail_msg("bucket get %s: %s", name, f->err);
    int64_t v = json_integer_value(json_object_get(b, key));
    json_decref(b);
    return v;
}

static void search_expect(fx *f, const char *filter, const char *want)
{
    reg_page pg = {0, NULL, NULL};
    json_t *a = registry_bucket_search(f->r, &f->ctx, filter, &pg, f->err, sizeof f->err);
    assert_non_null(a);
    char got[256] = "";
    size_t i;
    json_t *b;
    json_array_foreach(a, i, b)
    {
        strncat(got, i ? "," : "", sizeof got - strlen(got) - 1);
        strncat(got, json_string_value(json_object_get(b, "name")), sizeof got - strlen(got) - 1);
    }
    assert_string_equal(got, want);
    json_decref(a);
    free(pg.next_page_token);
}

static void test_console_bucket_reads(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    must_import(f, "web", "w2", "ami-2", NULL, NULL);
    must_import(f, "web", "w3", "ami-3", NULL, NULL);
    json_t *b = registry_bucket_create(f->r, &f->ctx, "pure", "100% _pure_ Ubuntu", NULL, f->err,
                                       sizeof f->err);
    assert_non_null(b);
    json_decref(b);
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    do_revoke(f, "web", "v2", f->ctx.now + 24 * HOUR, false, false);
    assert_int_equal(bucket_int(f, "web", "revoked_count"), 1);
    assert_int_equal(bucket_int(f, "web", "scheduled_count"), 1);
    assert_int_equal(bucket_int(f, "pure", "revoked_count"), 0);
    f->ctx.now += 25 * HOUR; /* the scheduled one has come: counted as revoked at read time */
    assert_int_equal(bucket_int(f, "web", "revoked_count"), 2);
    assert_int_equal(bucket_int(f, "web", "scheduled_count"), 0);
    search_expect(f, NULL, "pure,web");
    search_expect(f, "WE", "web");
    search_expect(f, "ubuntu", "pure");
    search_expect(f, "0%", "pure"); /* % and _ are not wildcards */
    search_expect(f, "_p", "pure");
    search_expect(f, "y_", "");
    search_expect(f, "\\", "");
}

static void audit_expect(fx *f, const reg_audit_filter *flt, ig_time after_at, const char *after_id,
                         int limit, const char *want)
{
    json_t *a = registry_audit_query(f->r, flt, after_at, after_id, limit, f->err, sizeof f->err);
    assert_non_null(a);
    char got[512] = "";
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e)
    {
        char one[96];
        snprintf(one, sizeof one, "%s%s:%s", i ? "," : "",
                 json_string_value(json_object_get(e, "action")),
                 json_string_value(json_object_get(e, "author")));
        strncat(got, one, sizeof got - strlen(got) - 1);
    }
    assert_string_equal(got, want);
    json_decref(a);
}

static void test_console_audit_filters(void **state)
{
    fx *f = *state;
    f->ctx.author = "bob";
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    f->ctx.author = "carol";
    f->ctx.now = T0 + HOUR;
    do_revoke(f, "web", "v1", IG_TIME_NONE, false, false);
    must_import(f, "app", "a1", "ami-a", NULL, NULL);
    f->ctx.now = T0 + 2 * HOUR;
    do_restore(f, "web", "v1");
    reg_audit_filter all = {IG_TIME_NONE, IG_TIME_NONE, NULL, NULL, false};
    audit_expect(f, &all, IG_TIME_NONE, NULL, 0,
                 "bucket.create:bob,version.import:bob,version.revoke:carol,bucket.create:carol,"
                 "version.import:carol,version.restore:carol");
    reg_audit_filter carol_web = {IG_TIME_NONE, IG_TIME_NONE, "web", "carol", true};
    audit_expect(f, &carol_web, IG_TIME_NONE, NULL, 0,
                 "version.restore:carol,version.revoke:carol");
    reg_audit_filter until = {T0 + HOUR, T0 + 2 * HOUR, NULL, NULL, true};
    audit_expect(f, &until, IG_TIME_NONE, NULL, 0,
                 "version.import:carol,bucket.create:carol,version.revoke:carol");
    reg_audit_filter nobody = {IG_TIME_NONE, IG_TIME_NONE, NULL, "nobody", false};
    audit_expect(f, &nobody, IG_TIME_NONE, NULL, 0, "");
    /* newest first pages by position too: after the second entry of the list */
    reg_audit_filter newest = {IG_TIME_NONE, IG_TIME_NONE, NULL, NULL, true};
    json_t *a = registry_audit_query(f->r, &newest, IG_TIME_NONE, NULL, 2, f->err, sizeof f->err);
    json_t *last = json_array_get(a, 1);
    ig_time at;
    char e2[64];
    assert_int_equal(
        ig_time_parse(json_string_value(json_object_get(last, "at")), &at, e2, sizeof e2), 0);
    char *id = xstrdup(json_string_value(json_object_get(last, "id")));
    json_decref(a);
    audit_expect(f, &newest, at, id, 0,
                 "bucket.create:carol,version.revoke:carol,version.import:bob,bucket.create:bob");
    free(id);
}

/* ---- manifests -------------------------------------------------------- */

static char *read_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/manifests/%s", IG_FIXTURES, name);
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    char *buf = xmalloc(1 << 16);
    *len = fread(buf, 1, (1 << 16) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static void test_manifest_fixtures(void **state)
{
    (void)state;
    static const struct {
        const char *file, *component, *platform, *source, *label_key;
        size_t n_builds, n_artifacts;
        const char *ext0, *region0;
    } cases[] = {
        {"golden-base-v1.json", "amazon-ebs.golden", "aws", NULL, NULL, 1, 1,
         "ami-0e1f2a3b4c5d6e7f8", "us-west-1"},
        {"app-java-v1.json", "amazon-ebs.java", "aws", "ami-0e1f2a3b4c5d6e7f8", "git_sha", 1, 1,
         "ami-0fedcba9876543210", "us-west-1"},
        {"base-al2023-v1.json", "amazon-ebs.al2023", "aws", NULL, "git_sha", 1, 1,
         "ami-0b3c20f2fd2b1e282", "us-west-1"},
        {"web-ubuntu-v1.json", "amazon-ebs.ubuntu", "aws", NULL, "os", 1, 2,
         "ami-0d4c3b2a1f0e9d8c6", "us-east-1"},
        {"web-ubuntu-v2.json", "amazon-ebs.ubuntu", "aws", NULL, "os", 1, 2,
         "ami-0a1b2c3d4e5f60719", "us-east-1"},
        {"web-ubuntu-v3.json", "amazon-ebs.ubuntu", "aws", NULL, "git_sha", 2, 2,
         "ami-0c9d8e7f6a5b40313", "us-east-1"},
        {"azure-win-v1.json", "azure-arm.win2022", "azure", NULL, NULL, 1, 1,
         "/subscriptions/0b1c2d3e-4f5a-6b7c-8d9e-0f1a2b3c4d5e/resourceGroups/images-rg/providers/"
         "Microsoft.Compute/images/win2022-20250709",
         ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len;
        char err[512], *buf = read_fixture(cases[i].file, &len);
        reg_import imp;
        if (registry_manifest_parse(buf, len, cases[i].file, false, &imp, err, sizeof err) < 0)
            fail_msg("%s: %s", cases[i].file, err);
        assert_int_equal(imp.n_builds, cases[i].n_builds);
        reg_import_build *b = &imp.builds[0];
        assert_string_equal(b->component_type, cases[i].component);
        assert_string_equal(b->platform, cases[i].platform);
        assert_int_equal(b->n_artifacts, cases[i].n_artifacts);
        assert_string_equal(b->artifacts[0].external_identifier, cases[i].ext0);
        assert_string_equal(b->artifacts[0].region, cases[i].region0);
        if (cases[i].source)
            assert_string_equal(b->source_external_identifier, cases[i].source);
        else
            assert_null(b->source_external_identifier);
        if (cases[i].label_key)
            assert_non_null(json_object_get(b->labels, cases[i].label_key));
        assert_null(json_object_get(b->labels, "source_ami"));
        assert_non_null(imp.fingerprint);
        registry_import_dispose(&imp);
        free(buf);
    }
    /* web-ubuntu v3's second build is Docker */
    size_t len;
    char err[512], *buf = read_fixture("web-ubuntu-v3.json", &len);
    reg_import imp;
    assert_int_equal(registry_manifest_parse(buf, len, "v3", false, &imp, err, sizeof err), 0);
    assert_string_equal(imp.builds[1].platform, "docker");
    assert_string_equal(imp.builds[1].component_type, "docker.ubuntu-docker");
    assert_string_equal(imp.builds[1].artifacts[0].region, "docker");
    assert_string_equal(imp.fingerprint, "9e5a1c42-3d6b-4f8c-a04e-5b6c7d8e9fa3");
    registry_import_dispose(&imp);
    free(buf);
}

static void test_manifest_runs_and_platforms(void **state)
{
    (void)state;
    const char *m =
        "{\"builds\":["
        "{\"name\":\"old\",\"builder_type\":\"amazon-ebs\",\"artifact_id\":\"eu-west-1:ami-old\","
        "\"packer_run_uuid\":\"r1\"},"
        "{\"name\":\"g\",\"builder_type\":\"googlecompute\",\"artifact_id\":\"img-1\","
        "\"packer_run_uuid\":\"r2\",\"custom_data\":{\"region\":\"europe-west1\",\"n\":3,"
        "\"ok\":true,\"nested\":{\"a\":[1]},\"nothing\":null,\"source_image_id\":\"ami-p\","
        "\"source_ami\":\"ignored\"}},"
        "{\"name\":\"az\",\"builder_type\":\"azure-arm\",\"artifact_id\":\"/sub/x/images/y\","
        "\"packer_run_uuid\":\"r2\",\"custom_data\":{\"location\":\"westeurope\"}},"
        "{\"name\":\"q\",\"builder_type\":\"qemu\",\"artifact_id\":\"disk.qcow2\","
        "\"packer_run_uuid\":\"r2\"}"
        "],\"last_run_uuid\":\"r2\"}";
    reg_import imp;
    char err[512];
    assert_int_equal(registry_manifest_parse(m, strlen(m), "m", false, &imp, err, sizeof err), 0);
    assert_int_equal(imp.n_builds, 3);
    assert_string_equal(imp.builds[0].platform, "gce");
    assert_string_equal(imp.builds[0].artifacts[0].region, "europe-west1");
    assert_string_equal(imp.builds[0].source_external_identifier, "ami-p");
    assert_string_equal(json_string_value(json_object_get(imp.builds[0].labels, "n")), "3");
    assert_string_equal(json_string_value(json_object_get(imp.builds[0].labels, "ok")), "true");
    assert_string_equal(json_string_value(json_object_get(imp.builds[0].labels, "nested")),
                        "{\"a\":[1]}");
    assert_null(json_object_get(imp.builds[0].labels, "nothing"));
    assert_null(json_object_get(imp.builds[0].labels, "source_image_id"));
    assert_string_equal(imp.builds[1].platform, "azure");
    assert_string_equal(imp.builds[1].artifacts[0].region, "westeurope");
    assert_string_equal(imp.builds[2].platform, "qemu");
    assert_string_equal(imp.builds[2].artifacts[0].region, "");
    registry_import_dispose(&imp);
    assert_int_equal(registry_manifest_parse(m, strlen(m), "m", true, &imp, err, sizeof err), 0);
    assert_int_equal(imp.n_builds, 4);
    assert_string_equal(imp.builds[0].artifacts[0].region, "eu-west-1");
    registry_import_dispose(&imp);
}

static void test_manifest_hostile(void **state)
{
    (void)state;
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"", "m.json:"},
        {"not json", "m.json:1:"},
        {"[]", "not a Packer manifest"},
        {"{}", "builds: missing"},
        {"{\"builds\":{}}", "builds: must be an array"},
        {"{\"builds\":[],\"last_run_uuid\":\"r\"}", "builds: empty"},
        {"{\"builds\":[1],\"last_run_uuid\":\"r\"}", "builds[0]: must be an object"},
        {"{\"builds\":[{}],\"last_run_uuid\":\"r\"}", "builds[0].name: missing"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":7}],"
         "\"last_run_uuid\":\"r\"}",
         "builds[0].artifact_id: must be a string"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"\"}],"
         "\"last_run_uuid\":\"r\"}",
         "builds[0].artifact_id: empty"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":[],\"artifact_id\":\"x\"}],"
         "\"last_run_uuid\":\"r\"}",
         "builds[0].builder_type: must be a string"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"packer_run_uuid\":\"r\",\"custom_data\":[1]}],\"last_run_uuid\":\"r\"}",
         "builds[0].custom_data: must be an object"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"packer_run_uuid\":\"r\",\"custom_data\":{\"source_ami\":5}}],\"last_run_uuid\":\"r\"}",
         "builds[0].custom_data.source_ami: must be a string"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"amazon-ebs\","
         "\"artifact_id\":\"us-east-1:\",\"packer_run_uuid\":\"r\"}],\"last_run_uuid\":\"r\"}",
         "empty image ID for region us-east-1"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"amazon-ebs\","
         "\"artifact_id\":\"us-east-1:ami-1,,\",\"packer_run_uuid\":\"r\"}],"
         "\"last_run_uuid\":\"r\"}",
         "builds[0].artifact_id: empty entry"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"amazon-ebs\","
         "\"artifact_id\":\":ami-1\",\"packer_run_uuid\":\"r\"}],\"last_run_uuid\":\"r\"}",
         "empty region"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\"}],"
         "\"last_run_uuid\":5}",
         "last_run_uuid: must be a string"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\"}]}",
         "last_run_uuid: missing"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"packer_run_uuid\":\"other\"}],\"last_run_uuid\":\"r\"}",
         "no build has packer_run_uuid r"},
        {"{\"builds\":[],\"builds\":[],\"last_run_uuid\":\"r\"}", "duplicate"},
        {"{\"builds\":[{\"name\":\"a\\u0000b\",\"builder_type\":\"docker\",\"artifact_id\":\"x\"}],"
         "\"last_run_uuid\":\"r\"}",
         "m.json:1:"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":"
         "\"x\\ty\\u0001\","
         "\"packer_run_uuid\":\"r\"}],\"last_run_uuid\":\"r\"}",
         "builds[0].artifact_id: holds a control character"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"build_time\":\"yesterday\"}],\"last_run_uuid\":\"r\"}",
         "builds[0].build_time: must be a whole number of seconds since 1970"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"build_time\":-5}],\"last_run_uuid\":\"r\"}",
         "builds[0].build_time: must be"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"build_time\":1.5e300}],\"last_run_uuid\":\"r\"}",
         "builds[0].build_time: must be"},
        {"{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\","
         "\"build_time\":253402300800}],\"last_run_uuid\":\"r\"}",
         "builds[0].build_time: must be"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reg_import imp;
        char err[512] = "";
        if (registry_manifest_parse(cases[i].json, strlen(cases[i].json), "m.json", false, &imp,
                                    err, sizeof err) != -1)
            fail_msg("case %zu accepted", i);
        if (!strstr(err, cases[i].want))
            fail_msg("case %zu: '%s' does not contain '%s'", i, err, cases[i].want);
        assert_int_equal(imp.n_builds, 0);
    }
    /* huge values */
    size_t big = 70 * 1024;
    char *id = xmalloc(big + 1);
    memset(id, 'a', big);
    id[big] = '\0';
    char *m = xasprintf("{\"builds\":[{\"name\":\"a\",\"builder_type\":\"docker\","
                        "\"artifact_id\":\"%s\",\"packer_run_uuid\":\"r\"}],"
                        "\"last_run_uuid\":\"r\"}",
                        id);
    reg_import imp;
    char err[512];
    assert_int_equal(registry_manifest_parse(m, strlen(m), "m.json", false, &imp, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "builds[0].artifact_id: longer than"));
    free(m);
    /* one huge AWS entry among regions */
    id[3000] = '\0';
    m = xasprintf("{\"builds\":[{\"name\":\"a\",\"builder_type\":\"amazon-ebs\","
                  "\"artifact_id\":\"us-east-1:ami-1,us-west-1:%s\",\"packer_run_uuid\":\"r\"}],"
                  "\"last_run_uuid\":\"r\"}",
                  id);
    assert_int_equal(registry_manifest_parse(m, strlen(m), "m.json", false, &imp, err, sizeof err),
                     -1);
    assert_non_null(strstr(err, "m.json: builds[0].artifact_id: entry 1 longer than"));
    free(m);
    free(id);
    /* too many builds */
    char *many = xmalloc(1002 * 80 + 100), *p = many;
    p += sprintf(p, "{\"last_run_uuid\":\"r\",\"builds\":[");
    for (int i = 0; i < 1001; i++)
        p += sprintf(p, "%s{\"name\":\"a\",\"builder_type\":\"docker\",\"artifact_id\":\"x\"}",
                     i ? "," : "");
    sprintf(p, "]}");
    assert_int_equal(
        registry_manifest_parse(many, strlen(many), "m.json", false, &imp, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than 1000 builds"));
    free(many);
    /* deep nesting is refused by the parser, never a crash */
    size_t depth = 100000;
    char *deep = xmalloc(2 * depth + 200);
    p = deep;
    p += sprintf(p, "{\"last_run_uuid\":\"r\",\"builds\":[{\"name\":\"a\",\"builder_type\":"
                    "\"docker\",\"artifact_id\":\"x\",\"packer_run_uuid\":\"r\",\"custom_data\":"
                    "{\"d\":");
    memset(p, '[', depth);
    p += depth;
    memset(p, ']', depth);
    p += depth;
    sprintf(p, "}}]}");
    assert_int_equal(
        registry_manifest_parse(deep, strlen(deep), "m.json", false, &imp, err, sizeof err), -1);
    free(deep);
}

/* ---- import ----------------------------------------------------------- */

static void test_import_idempotent(void **state)
{
    fx *f = *state;
    size_t len;
    char *buf = read_fixture("web-ubuntu-v3.json", &len);
    for (int round = 0; round < 2; round++) {
        reg_import imp;
        assert_int_equal(
            registry_manifest_parse(buf, len, "v3", false, &imp, f->err, sizeof f->err), 0);
        imp.bucket = xstrdup("web");
        imp.channels = xcalloc(1, sizeof *imp.channels);
        imp.channels[0] = xstrdup("staging");
        imp.n_channels = 1;
        int64_t audit_before = audit_count(f, NULL);
        bool created = !round;
        json_t *v = registry_import(f->r, &f->ctx, &imp, &created, f->err, sizeof f->err);
        assert_non_null(v);
        assert_string_equal(json_string_value(json_object_get(v, "name")), "v1");
        assert_int_equal(created, round == 0);
        if (round == 1)
            assert_int_equal(audit_count(f, NULL), audit_before);
        json_decref(v);
        registry_import_dispose(&imp);
    }
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM versions"), 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM builds"), 2);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM artifacts"), 3);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM channel_history"), 1);
    free(buf);
    /* same fingerprint, different builds: refused, nothing changes */
    must_import(f, "app", "fp", "ami-1", NULL, NULL);
    assert_null(import_ami(f, "app", "fp", "ami-2", NULL, NULL));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "different builds"));
    json_t *m = registry_artifact_find(f->r, &f->ctx, "ami-2", NULL, NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
}

static void test_import_atomic(void **state)
{
    fx *f = *state;
    /* refused half-way (the second channel is 'latest'): nothing at all */
    size_t len;
    char *buf = read_fixture("web-ubuntu-v1.json", &len);
    reg_import imp;
    assert_int_equal(registry_manifest_parse(buf, len, "v1", false, &imp, f->err, sizeof f->err),
                     0);
    imp.bucket = xstrdup("web");
    imp.channels = xcalloc(2, sizeof *imp.channels);
    imp.channels[0] = xstrdup("prod");
    imp.channels[1] = xstrdup("latest");
    imp.n_channels = 2;
    assert_null(registry_import(f->r, &f->ctx, &imp, NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    registry_import_dispose(&imp);
    free(buf);
    const char *tables[] = {"buckets",  "versions",        "builds", "artifacts",
                            "channels", "channel_history", "audit"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        assert_int_equal(raw_int(f, sql), 0);
    }
    /* a store error half-way (injected: the second artifact insert fails) */
    fault_inject(f, "artifacts", "NEW.region = 'us-west-1'", "injected store failure");
    buf = read_fixture("web-ubuntu-v1.json", &len);
    assert_int_equal(registry_manifest_parse(buf, len, "v1", false, &imp, f->err, sizeof f->err),
                     0);
    imp.bucket = xstrdup("web");
    assert_null(registry_import(f->r, &f->ctx, &imp, NULL, f->err, sizeof f->err));
    assert_non_null(strstr(f->err, "injected store failure"));
    registry_import_dispose(&imp);
    free(buf);
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[80];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", tables[i]);
        assert_int_equal(raw_int(f, sql), 0);
    }
    fault_clear(f, "artifacts");
    /* a revocation that fails during rollback leaves no revocation behind */
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    must_import(f, "web", "w2", "ami-2", NULL, "prod");
    fault_inject(f, "channel_history", "NEW.action = 'rollback'", "injected");
    reg_revoke rv = {.revoke_at = IG_TIME_NONE};
    int64_t audits = audit_count(f, NULL);
    assert_null(registry_version_revoke(f->r, &f->ctx, "web", "v2", &rv, f->err, sizeof f->err));
    assert_string_equal(status_of(f, "web", "v2"), "VERSION_ACTIVE");
    assert_string_equal(channel_of(f, "web", "prod"), "v2");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations"), 0);
    assert_int_equal(audit_count(f, NULL), audits);
}

static void test_api_flow_and_builds(void **state)
{
    fx *f = *state;
    json_decref(registry_bucket_create(f->r, &f->ctx, "api", NULL, NULL, f->err, sizeof f->err));
    /* same fingerprint while incomplete returns the same version */
    json_t *a = registry_version_create(f->r, &f->ctx, "api", "fp1", NULL, f->err, sizeof f->err);
    json_t *b = registry_version_create(f->r, &f->ctx, "api", "fp1", NULL, f->err, sizeof f->err);
    assert_string_equal(json_string_value(json_object_get(a, "id")),
                        json_string_value(json_object_get(b, "id")));
    json_decref(a);
    json_decref(b);
    json_t *bad = json_pack("{s:s, s:s, s:s}", "component_type", "x", "platform", "aws", "status",
                            "BUILD_WHATEVER");
    assert_null(registry_build_create(f->r, &f->ctx, "api", "fp1", bad, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    json_decref(bad);
    bad = json_pack("{s:s, s:s, s:[i]}", "component_type", "x", "platform", "aws", "artifacts", 1);
    assert_null(registry_build_create(f->r, &f->ctx, "api", "fp1", bad, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    json_decref(bad);
    json_t *spec = json_pack("{s:s, s:s, s:s}", "component_type", "amazon-ebs.x", "platform", "aws",
                             "status", "BUILD_FAILED");
    json_t *bj = registry_build_create(f->r, &f->ctx, "api", "fp1", spec, f->err, sizeof f->err);
    assert_non_null(bj);
    assert_string_equal(status_of(f, "api", "fp1"), "VERSION_FAILED");
    json_t *list = registry_build_list(f->r, &f->ctx, "api", "fp1", f->err, sizeof f->err);
    assert_int_equal(json_array_size(list), 1);
    json_decref(list);
    const char *bid = json_string_value(json_object_get(bj, "id"));
    json_t *got = registry_build_get(f->r, &f->ctx, "api", "fp1", bid, f->err, sizeof f->err);
    assert_non_null(got);
    json_decref(got);
    assert_int_equal(registry_build_delete(f->r, &f->ctx, "api", "fp1", bid, f->err, sizeof f->err),
                     0);
    assert_null(registry_build_get(f->r, &f->ctx, "api", "fp1", bid, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    json_decref(bj);
    json_decref(spec);
    /* complete, then a fingerprint clash is refused */
    char *id = api_version_with_build(f, "api", "fp2", "ami-z");
    build_done(f, "api", "fp2", id);
    free(id);
    assert_null(registry_version_create(f->r, &f->ctx, "api", "fp2", NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    /* pagination */
    reg_page page = {.page_size = 1};
    json_t *p1 = registry_version_list(f->r, &f->ctx, "api", &page, f->err, sizeof f->err);
    assert_int_equal(json_array_size(p1), 1);
    assert_non_null(page.next_page_token);
    reg_page page2 = {.page_size = 1, .page_token = page.next_page_token};
    json_t *p2 = registry_version_list(f->r, &f->ctx, "api", &page2, f->err, sizeof f->err);
    assert_int_equal(json_array_size(p2), 1);
    assert_null(page2.next_page_token);
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(p1, 0), "id")),
                            json_string_value(json_object_get(json_array_get(p2, 0), "id")));
    free(page.next_page_token);
    json_decref(p1);
    json_decref(p2);
    reg_page badp = {.page_size = 1, .page_token = "zz"};
    assert_null(registry_version_list(f->r, &f->ctx, "api", &badp, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
}

/* A manifest's build_time is kept as each build's built_at (the freshness
 * policy ages an imported version from its newest build); a build published
 * through the API has none. A store made before migration 014 gets the
 * column, its builds with no time. */
static void test_build_times(void **state)
{
    fx *f = *state;
    size_t len;
    char *buf = read_fixture("web-ubuntu-v3.json", &len);
    reg_import imp;
    assert_int_equal(registry_manifest_parse(buf, len, "v3", false, &imp, f->err, sizeof f->err),
                     0);
    free(buf);
    assert_int_equal(imp.builds[0].built_at, 1750000000000LL);
    assert_int_equal(imp.builds[1].built_at, 1750000100000LL);
    imp.bucket = xstrdup("web");
    json_t *v = registry_import(f->r, &f->ctx, &imp, NULL, f->err, sizeof f->err);
    registry_import_dispose(&imp);
    assert_non_null(v);
    json_decref(v);
    v = registry_version_get(f->r, &f->ctx, "web", "v1", f->err, sizeof f->err);
    assert_non_null(v);
    json_t *builds = json_object_get(v, "builds");
    const char *t0 = json_string_value(json_object_get(json_array_get(builds, 0), "built_at"));
    const char *t1 = json_string_value(json_object_get(json_array_get(builds, 1), "built_at"));
    assert_non_null(t0);
    assert_non_null(t1);
    /* the builds come in id order: either may be first */
    assert_true(strcmp(t0, "2025-06-15T15:06:40Z") == 0 || strcmp(t1, "2025-06-15T15:06:40Z") == 0);
    assert_true(strcmp(t0, "2025-06-15T15:08:20Z") == 0 || strcmp(t1, "2025-06-15T15:08:20Z") == 0);
    assert_non_null(json_string_value(json_object_get(v, "completed_at")));
    json_decref(v);
    /* a manifest without build_time, and the API flow: null */
    must_import(f, "plain", "p1", "ami-1", NULL, NULL);
    json_decref(registry_bucket_create(f->r, &f->ctx, "api", NULL, NULL, f->err, sizeof f->err));
    char *id = api_version_with_build(f, "api", "fp", "ami-z");
    build_done(f, "api", "fp", id);
    free(id);
    const char *buckets[] = {"plain", "api"};
    for (int i = 0; i < 2; i++) {
        v = registry_version_get(f->r, &f->ctx, buckets[i], "v1", f->err, sizeof f->err);
        json_t *b0 = json_array_get(json_object_get(v, "builds"), 0);
        assert_non_null(json_object_get(b0, "built_at"));
        assert_true(json_is_null(json_object_get(b0, "built_at")));
        json_decref(v);
    }
    /* back to the schema before 014 (column gone, version 11), then open:
     * migrated again, nothing lost, old rows without a time */
    registry_close(f->r);
    raw_exec(f, "ALTER TABLE builds DROP COLUMN built_at");
    raw_exec(f, "DELETE FROM schema_migrations WHERE version = 14");
    int code;
    f->r = registry_open(f->url, 0, &code, f->err, sizeof f->err);
    if (!f->r)
        fail_msg("reopen: %s", f->err);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM builds WHERE built_at IS NULL"), 4);
    assert_int_equal(raw_int(f, "SELECT MAX(version) FROM schema_migrations"), 14);
    v = registry_version_get(f->r, &f->ctx, "web", "v1", f->err, sizeof f->err);
    assert_non_null(v);
    assert_int_equal(json_array_size(json_object_get(v, "builds")), 2);
    json_decref(v);
}

static void test_artifact_find_narrowing(void **state)
{
    fx *f = *state;
    size_t len;
    char *buf = read_fixture("web-ubuntu-v3.json", &len);
    reg_import imp;
    assert_int_equal(registry_manifest_parse(buf, len, "v3", false, &imp, f->err, sizeof f->err),
                     0);
    imp.bucket = xstrdup("web");
    json_decref(registry_import(f->r, &f->ctx, &imp, NULL, f->err, sizeof f->err));
    registry_import_dispose(&imp);
    free(buf);
    /* the same AMI published in a second bucket (another region) */
    must_import(f, "copy", "c1", "ami-0c9d8e7f6a5b40312", NULL, NULL);
    json_t *m = registry_artifact_find(f->r, &f->ctx, "ami-0c9d8e7f6a5b40312", NULL, NULL, f->err,
                                       sizeof f->err);
    assert_int_equal(json_array_size(m), 2);
    json_decref(m);
    m = registry_artifact_find(f->r, &f->ctx, "ami-0c9d8e7f6a5b40312", "aws", "us-west-1", f->err,
                               sizeof f->err);
    assert_int_equal(json_array_size(m), 2);
    json_decref(m);
    m = registry_artifact_find(f->r, &f->ctx, "ami-0c9d8e7f6a5b40313", "aws", "us-west-1", f->err,
                               sizeof f->err);
    assert_int_equal(json_array_size(m), 0);
    json_decref(m);
    m = registry_artifact_find(
        f->r, &f->ctx, "SHA256:4F53CDA18C2BAA0C0354BB5F9A3ECBE5ED12AB4D8E11BA873C2F11161202B945",
        "docker", NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(m), 1);
    json_t *x = json_array_get(m, 0);
    assert_string_equal(json_string_value(json_object_get(x, "bucket_name")), "web");
    assert_string_equal(json_string_value(json_object_get(x, "version")), "v1");
    assert_string_equal(json_string_value(json_object_get(x, "region")), "docker");
    assert_string_equal(json_string_value(json_object_get(x, "status")), "VERSION_ACTIVE");
    assert_true(json_is_null(json_object_get(x, "revoke_at")));
    json_decref(m);
}

/* ---- tokens ----------------------------------------------------------- */

static void test_tokens(void **state)
{
    fx *f = *state;
    char *secret = NULL, name[80];
    reg_role role;
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "ci", REG_ROLE_WRITE, &secret, f->err, sizeof f->err),
        0);
    assert_non_null(secret);
    assert_int_equal(strncmp(secret, "igt_", 4), 0);
    assert_int_equal(strlen(secret), 4 + 43);
    /* only the SHA-256 is stored */
    char *stored = raw_text(f, "SELECT hash FROM api_tokens WHERE name = 'ci'");
    assert_non_null(stored);
    assert_null(strstr(stored, secret + 4));
    unsigned char md[32];
    unsigned int mdlen;
    EVP_Digest(secret, strlen(secret), md, &mdlen, EVP_sha256(), NULL);
    char hex[65];
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
    assert_string_equal(stored, hex);
    free(stored);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM api_tokens WHERE hash LIKE '%igt_%'"), 0);
    /* the server's snapshot: hashes and roles of live tokens, ordered, never a secret */
    char *s3 = NULL;
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "ro", REG_ROLE_READ, &s3, f->err, sizeof f->err), 0);
    reg_token_hash *th = NULL;
    size_t nth = 0;
    assert_int_equal(registry_token_hashes(f->r, &th, &nth, f->err, sizeof f->err), 0);
    assert_int_equal(nth, 2);
    assert_true(strcmp(th[0].hash, th[1].hash) < 0);
    int at = strcmp(th[0].hash, hex) == 0 ? 0 : 1;
    assert_string_equal(th[at].hash, hex);
    assert_int_equal(th[at].role, REG_ROLE_WRITE);
    assert_int_equal(th[1 - at].role, REG_ROLE_READ);
    free(th);
    assert_int_equal(registry_token_revoke(f->r, &f->ctx, "ro", f->err, sizeof f->err), 0);
    assert_int_equal(registry_token_hashes(f->r, &th, &nth, f->err, sizeof f->err), 0);
    assert_int_equal(nth, 1);
    assert_string_equal(th[0].hash, hex);
    free(th);
    free(s3);
    /* auth */
    f->ctx.now = T0 + 5000;
    assert_int_equal(
        registry_token_auth(f->r, &f->ctx, secret, &role, name, sizeof name, f->err, sizeof f->err),
        0);
    assert_int_equal(role, REG_ROLE_WRITE);
    assert_string_equal(name, "ci");
    secret[10] ^= 1;
    assert_int_equal(
        registry_token_auth(f->r, &f->ctx, secret, &role, name, sizeof name, f->err, sizeof f->err),
        -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    secret[10] ^= 1;
    assert_int_equal(
        registry_token_auth(f->r, &f->ctx, "", &role, name, sizeof name, f->err, sizeof f->err),
        -1);
    /* list: never secrets; a check records no use, a touch does, never backwards */
    json_t *l = registry_token_list(f->r, f->err, sizeof f->err);
    assert_int_equal(json_array_size(l), 1);
    char *dump = json_dumps(l, 0);
    assert_null(strstr(dump, secret));
    assert_non_null(strstr(dump, "\"last_used_at\": null"));
    free(dump);
    json_decref(l);
    assert_int_equal(registry_token_touch(f->r, "ci", T0 + 5000, f->err, sizeof f->err), 0);
    assert_int_equal(registry_token_touch(f->r, "ci", T0 + 4000, f->err, sizeof f->err), 0);
    assert_int_equal(registry_token_touch(f->r, "gone", T0 + 4000, f->err, sizeof f->err), 0);
    l = registry_token_list(f->r, f->err, sizeof f->err);
    dump = json_dumps(l, 0);
    assert_non_null(strstr(dump, "\"last_used_at\": \"2026-01-01T00:00:05Z\""));
    free(dump);
    json_decref(l);
    /* duplicates, bad names and roles */
    char *s2 = NULL;
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "ci", REG_ROLE_READ, &s2, f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(s2);
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "bad name", REG_ROLE_READ, &s2, f->err, sizeof f->err),
        -1);
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_int_equal(registry_role_parse("admin", &role), 0);
    assert_int_equal(role, REG_ROLE_ADMIN);
    assert_int_equal(registry_role_parse("root", &role), -1);
    assert_string_equal(registry_role_name(REG_ROLE_READ), "read");
    /* revoke */
    assert_int_equal(registry_token_revoke(f->r, &f->ctx, "ci", f->err, sizeof f->err), 0);
    assert_int_equal(
        registry_token_auth(f->r, &f->ctx, secret, &role, name, sizeof name, f->err, sizeof f->err),
        -1);
    assert_int_equal(registry_token_revoke(f->r, &f->ctx, "ci", f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_int_equal(registry_token_hashes(f->r, &th, &nth, f->err, sizeof f->err), 0);
    assert_int_equal(nth, 0);
    assert_null(th);
    assert_int_equal(audit_count(f, "token.create"), 2);
    assert_int_equal(audit_count(f, "token.revoke"), 2);
    /* the trail never holds the secret */
    json_t *a = registry_audit_list(f->r, IG_TIME_NONE, NULL, 0, f->err, sizeof f->err);
    dump = json_dumps(a, 0);
    assert_null(strstr(dump, secret));
    free(dump);
    json_decref(a);
    free(secret);
}

/* ---- deliveries ------------------------------------------------------- */

static void test_deliveries(void **state)
{
    fx *f = *state;
    reg_delivery d;
    int64_t counts[3];
    assert_int_equal(registry_delivery_add(f->r, &f->ctx, "tr-1", "run-1", "post_plan",
                                           "{\"access_token\":\"secret-1\"}", f->err,
                                           sizeof f->err),
                     0);
    assert_int_equal(registry_delivery_add(f->r, &f->ctx, "tr-1", "run-1", "post_plan", "other",
                                           f->err, sizeof f->err),
                     1);
    assert_int_equal(
        registry_delivery_add(f->r, &f->ctx, "", NULL, NULL, NULL, f->err, sizeof f->err), -1);
    /* claim takes a lease; a second claimer gets nothing */
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w1", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     1);
    assert_string_equal(d.task_result_id, "tr-1");
    assert_string_equal(d.body, "{\"access_token\":\"secret-1\"}");
    assert_int_equal(d.attempts, 1);
    registry_delivery_dispose(&d);
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w2", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     0);
    assert_int_equal(
        registry_delivery_claim_id(f->r, &f->ctx, "w2", 60000, "tr-1", &d, f->err, sizeof f->err),
        0);
    assert_int_equal(
        registry_delivery_renew(f->r, &f->ctx, "w2", 60000, "tr-1", f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_int_equal(
        registry_delivery_renew(f->r, &f->ctx, "w1", 60000, "tr-1", f->err, sizeof f->err), 0);
    /* the lease expires (a dead worker): claimable again */
    f->ctx.now = T0 + 61000;
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w2", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     1);
    assert_int_equal(d.attempts, 2);
    registry_delivery_dispose(&d);
    /* received_after leaves older ones for abandon_old */
    assert_int_equal(
        registry_delivery_claim(f->r, &f->ctx, "w3", 60000, T0 + 1, &d, f->err, sizeof f->err), 0);
    /* finish erases the body (and so the token) */
    assert_int_equal(registry_delivery_finish(f->r, &f->ctx, "tr-1", REG_DELIVERY_DONE, "fail",
                                              f->err, sizeof f->err),
                     0);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM deliveries WHERE body IS NULL"), 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM deliveries WHERE body LIKE '%secret%'"), 0);
    char *verdict = raw_text(f, "SELECT verdict FROM deliveries WHERE task_result_id = 'tr-1'");
    assert_string_equal(verdict, "fail");
    free(verdict);
    assert_int_equal(
        registry_delivery_claim_id(f->r, &f->ctx, "w2", 60000, "tr-1", &d, f->err, sizeof f->err),
        0);
    assert_int_equal(registry_delivery_finish(f->r, &f->ctx, "nope", REG_DELIVERY_DONE, "pass",
                                              f->err, sizeof f->err),
                     -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    /* abandon old queued ones: body erased, failed, one audit entry each */
    f->ctx.now = T0;
    registry_delivery_add(f->r, &f->ctx, "tr-old", "run-2", "post_plan", "token-2", f->err,
                          sizeof f->err);
    f->ctx.now = T0 + 10 * HOUR;
    registry_delivery_add(f->r, &f->ctx, "tr-new", "run-3", "post_plan", "token-3", f->err,
                          sizeof f->err);
    assert_int_equal(registry_delivery_abandon_old(f->r, &f->ctx, T0 + HOUR, f->err, sizeof f->err),
                     1);
    assert_int_equal(raw_int(f, "SELECT state FROM deliveries WHERE task_result_id = 'tr-old'"),
                     REG_DELIVERY_FAILED);
    assert_int_equal(
        raw_int(f,
                "SELECT COUNT(*) FROM deliveries WHERE task_result_id = 'tr-old' AND body IS NULL"),
        1);
    assert_int_equal(audit_count(f, "delivery.abandoned"), 1);
    assert_int_equal(registry_delivery_counts(f->r, counts, f->err, sizeof f->err), 0);
    assert_int_equal(counts[REG_DELIVERY_QUEUED], 1);
    assert_int_equal(counts[REG_DELIVERY_DONE], 1);
    assert_int_equal(counts[REG_DELIVERY_FAILED], 1);
    assert_int_equal(
        registry_delivery_claim_id(f->r, &f->ctx, "w9", 1000, "tr-new", &d, f->err, sizeof f->err),
        1);
    assert_string_equal(d.body, "token-3");
    registry_delivery_dispose(&d);
}

/* ---- runs and usage (issue 15) ----------------------------------------- */

/* golden-base v1 (ami-g1) <- app-java v1 (ami-a1, built from it); web-ubuntu
 * v1, v2; production channels on golden-base and app-java. */
static void usage_family(fx *f)
{
    must_import(f, "golden-base", "g1", "ami-0000000000000g001", NULL, "production");
    must_import(f, "app-java", "a1", "ami-0000000000000a001", "ami-0000000000000g001",
                "production");
    must_import(f, "web-ubuntu", "w1", "ami-0000000000000w001", NULL, NULL);
    must_import(f, "web-ubuntu", "w2", "ami-0000000000000w002", NULL, NULL);
}

static void record(fx *f, const char *org, const char *ws, const char *verdict,
                   const reg_usage_item *items, size_t n)
{
    reg_run run = {.source = "scan",
                   .organization = org,
                   .workspace = ws,
                   .stage = "scan",
                   .verdict = verdict,
                   .usage = items,
                   .n_usage = n,
                   .gated = (int64_t)n};
    if (registry_run_record(f->r, &f->ctx, &run, f->err, sizeof f->err) < 0)
        fail_msg("run record: %s", f->err);
}

static json_t *usage_of(fx *f, const char *bucket, const char *ref, ig_time since)
{
    json_t *u = registry_usage_get(f->r, &f->ctx, bucket, ref, since, NULL, f->err, sizeof f->err);
    if (!u)
        fail_msg("usage %s %s: %s", bucket, ref ? ref : "", f->err);
    return u;
}

/* "org/ws address image bucket version;" for every resource of u. */
static const char *usage_text(json_t *u)
{
    static char buf[2048];
    size_t i, k, len = 0;
    json_t *w, *res;
    buf[0] = '\0';
    json_array_foreach(json_object_get(u, "workspaces"), i, w)
    {
        json_array_foreach(json_object_get(w, "resources"), k, res)
        {
            json_t *org = json_object_get(w, "organization"), *img = json_object_get(res, "image");
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s/%s %s %s %s %s;",
                                    json_is_string(org) ? json_string_value(org) : "-",
                                    json_string_value(json_object_get(w, "workspace")),
                                    json_string_value(json_object_get(res, "address")),
                                    json_is_string(img) ? json_string_value(img) : "null",
                                    json_string_value(json_object_get(res, "bucket")),
                                    json_string_value(json_object_get(res, "version")));
        }
    }
    return buf;
}

static void test_usage_recorded_and_read(void **state)
{
    fx *f = *state;
    usage_family(f);
    const reg_usage_item items[] = {
        {"aws_instance.app", "ami-0000000000000a001", "app-java", "v1", "a1"},
        {"aws_instance.app", "ami-0000000000000a001", "app-java", "v1", "a1"}, /* merged */
        {"aws_instance.secret", NULL, "golden-base", "v1", "g1"},              /* sensitive */
        {"aws_instance.web", "ami-0000000000000w001", "web-ubuntu", "v1", "w1"},
    };
    record(f, "acme", "prod", "warn", items, 4);
    record(f, NULL, "dev", "pass", items + 3, 1);
    record(f, "acme", NULL, "pass", items, 1); /* no workspace: a run, no usage */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage"), 4);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM runs"), 3);
    /* the sensitive value is never stored: only bucket and version */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage WHERE image IS NULL AND"
                                " image_key = '(sensitive) golden-base g1'"),
                     1);
    /* a version and its descendants */
    json_t *u = usage_of(f, "golden-base", "v1", IG_TIME_NONE);
    assert_string_equal(usage_text(u), "acme/prod aws_instance.app ami-0000000000000a001 app-java "
                                       "v1;acme/prod aws_instance.secret null golden-base v1;");
    assert_string_equal(json_string_value(json_object_get(u, "version")), "v1");
    assert_true(json_is_null(json_object_get(u, "since")));
    json_decref(u);
    /* a bucket: every version, every workspace; an organization that was not given is null */
    u = usage_of(f, "web-ubuntu", NULL, IG_TIME_NONE);
    assert_string_equal(usage_text(u), "-/dev aws_instance.web ami-0000000000000w001 web-ubuntu "
                                       "v1;acme/prod aws_instance.web ami-0000000000000w001 "
                                       "web-ubuntu v1;");
    assert_true(json_is_null(json_object_get(u, "version")));
    json_decref(u);
    u = usage_of(f, "web-ubuntu", "v2", IG_TIME_NONE);
    assert_int_equal(json_array_size(json_object_get(u, "workspaces")), 0);
    json_decref(u);
    /* names that do not exist */
    assert_null(registry_usage_get(f->r, &f->ctx, "nope-bucket", NULL, IG_TIME_NONE, NULL, f->err,
                                   sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    assert_null(registry_usage_get(f->r, &f->ctx, "web-ubuntu", "v9", IG_TIME_NONE, NULL, f->err,
                                   sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
}

static void test_usage_upsert_and_since(void **state)
{
    fx *f = *state;
    usage_family(f);
    reg_usage_item it = {"aws_instance.web", "ami-0000000000000w001", "web-ubuntu", "v1", "w1"};
    record(f, "acme", "prod", "fail", &it, 1);
    f->ctx.now = T0 + 24 * HOUR; /* scanned again the next day: the same row */
    record(f, "acme", "prod", "warn", &it, 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage"), 1);
    assert_int_equal(raw_int(f, "SELECT first_seen FROM image_usage"), T0);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM image_usage"), T0 + 24 * HOUR);
    char *v = raw_text(f, "SELECT verdict FROM image_usage");
    assert_string_equal(v, "warn");
    free(v);
    /* an older evaluation written late moves nothing back */
    f->ctx.now = T0 + HOUR;
    record(f, "acme", "prod", "pass", &it, 1);
    assert_int_equal(raw_int(f, "SELECT last_seen FROM image_usage"), T0 + 24 * HOUR);
    v = raw_text(f, "SELECT verdict FROM image_usage");
    assert_string_equal(v, "warn");
    free(v);
    json_t *u = usage_of(f, "web-ubuntu", "v1", T0 + 2 * HOUR);
    assert_int_equal(json_array_size(json_object_get(u, "workspaces")), 1);
    json_decref(u);
    u = usage_of(f, "web-ubuntu", "v1", T0 + 25 * HOUR);
    assert_int_equal(json_array_size(json_object_get(u, "workspaces")), 0);
    json_decref(u);
    /* pruned by age, runs with them */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM runs"), 3);
    assert_int_equal(registry_usage_prune(f->r, T0 + 2 * HOUR, f->err, sizeof f->err), 2);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM runs"), 1);
    assert_int_equal(registry_usage_prune(f->r, T0 + 48 * HOUR, f->err, sizeof f->err), 2);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage"), 0);
}

/* More items than one INSERT carries, across workspaces, paged. */
static void test_usage_batches_and_pages(void **state)
{
    fx *f = *state;
    usage_family(f);
    enum { N = 150 };
    reg_usage_item items[N];
    char addr[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(addr[i], sizeof addr[i], "aws_instance.n[%d]", i);
        items[i] = (reg_usage_item){addr[i], "ami-0000000000000w002", "web-ubuntu", "v2", "w2"};
    }
    record(f, "acme", "a", "pass", items, N);
    record(f, "acme", "b", "pass", items, 3);
    record(f, "acme", "c", "pass", items, 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage"), N + 4);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM image_usage WHERE version_id IS NULL"), 0);
    reg_page pg = {2, NULL, NULL};
    json_t *u = registry_usage_get(f->r, &f->ctx, "web-ubuntu", "w2", IG_TIME_NONE, &pg, f->err,
                                   sizeof f->err);
    assert_non_null(u);
    json_t *ws = json_object_get(u, "workspaces");
    assert_int_equal(json_array_size(ws), 2);
    assert_int_equal(json_array_size(json_object_get(json_array_get(ws, 0), "resources")), N);
    assert_non_null(pg.next_page_token);
    json_decref(u);
    reg_page pg2 = {2, pg.next_page_token, NULL};
    u = registry_usage_get(f->r, &f->ctx, "web-ubuntu", "w2", IG_TIME_NONE, &pg2, f->err,
                           sizeof f->err);
    assert_non_null(u);
    ws = json_object_get(u, "workspaces");
    assert_int_equal(json_array_size(ws), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ws, 0), "workspace")),
                        "c");
    assert_null(pg2.next_page_token);
    free(pg.next_page_token);
    json_decref(u);
}

static void test_runs_listed_newest_first(void **state)
{
    fx *f = *state;
    reg_run rt = {.source = "run_task",
                  .task_result_id = "taskrs-1",
                  .run_id = "run-1",
                  .organization = "acme",
                  .workspace = "prod",
                  .stage = "post_plan",
                  .verdict = "error",
                  .message = "could not fetch",
                  .result_id = "ab12"};
    assert_int_equal(registry_run_record(f->r, &f->ctx, &rt, f->err, sizeof f->err), 0);
    f->ctx.now = T0 + HOUR; /* the same delivery, resumed: its row is rewritten */
    rt.verdict = "fail";
    rt.fail = 2;
    assert_int_equal(registry_run_record(f->r, &f->ctx, &rt, f->err, sizeof f->err), 0);
    f->ctx.now = T0 + 2 * HOUR;
    reg_run sc = {.source = "scan",
                  .organization = "acme",
                  .workspace = "dev",
                  .stage = "scan",
                  .verdict = "pass",
                  .resources = 7};
    assert_int_equal(registry_run_record(f->r, &f->ctx, &sc, f->err, sizeof f->err), 0);
    json_t *all = registry_run_list(f->r, NULL, NULL, IG_TIME_NONE, IG_TIME_NONE, NULL, 0, f->err,
                                    sizeof f->err);
    assert_non_null(all);
    assert_int_equal(json_array_size(all), 2);
    json_t *a = json_array_get(all, 0), *b = json_array_get(all, 1);
    assert_string_equal(json_string_value(json_object_get(a, "source")), "scan");
    /* a scan's run id is its own */
    assert_string_equal(json_string_value(json_object_get(a, "run_id")),
                        json_string_value(json_object_get(a, "id")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(a, "summary"), "resources")), 7);
    assert_string_equal(json_string_value(json_object_get(b, "run_id")), "run-1");
    assert_string_equal(json_string_value(json_object_get(b, "verdict")), "fail");
    assert_string_equal(json_string_value(json_object_get(b, "evaluated_at")),
                        "2026-01-01T01:00:00Z");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "summary"), "fail")), 2);
    /* filters and positions */
    json_t *x = registry_run_list(f->r, "acme", "prod", IG_TIME_NONE, IG_TIME_NONE, NULL, 0, f->err,
                                  sizeof f->err);
    assert_int_equal(json_array_size(x), 1);
    json_decref(x);
    x = registry_run_list(f->r, "other", NULL, IG_TIME_NONE, IG_TIME_NONE, NULL, 0, f->err,
                          sizeof f->err);
    assert_int_equal(json_array_size(x), 0);
    json_decref(x);
    x = registry_run_list(f->r, NULL, NULL, T0 + 90 * 60000LL, IG_TIME_NONE, NULL, 0, f->err,
                          sizeof f->err);
    assert_int_equal(json_array_size(x), 1);
    json_decref(x);
    x = registry_run_list(f->r, NULL, NULL, IG_TIME_NONE, T0 + 2 * HOUR,
                          json_string_value(json_object_get(a, "id")), 0, f->err, sizeof f->err);
    assert_int_equal(json_array_size(x), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(x, 0), "run_id")),
                        "run-1");
    json_decref(x);
    json_decref(all);
    /* what a run needs */
    reg_run bad = {.source = "scan"};
    assert_int_equal(registry_run_record(f->r, &f->ctx, &bad, f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
}

/* "bucket/channel from->to;" of a dry run's channels, or its inherits. */
static const char *dry_text(json_t *d, const char *key)
{
    static char buf[1024];
    size_t i, len = 0;
    json_t *e;
    buf[0] = '\0';
    json_array_foreach(json_object_get(d, key), i, e)
    {
        json_t *to = json_object_get(e, "to");
        if (strcmp(key, "channels") == 0)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s/%s %s->%s;",
                                    json_string_value(json_object_get(e, "bucket")),
                                    json_string_value(json_object_get(e, "channel")),
                                    json_string_value(json_object_get(e, "from")),
                                    json_is_string(to) ? json_string_value(to) : "null");
        else
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s %s%s%s;",
                                    json_string_value(json_object_get(e, "bucket")),
                                    json_string_value(json_object_get(e, "version")),
                                    json_object_get(e, "workspace") ? " " : "",
                                    json_object_get(e, "workspace")
                                        ? json_string_value(json_object_get(e, "workspace"))
                                        : "");
    }
    return buf;
}

static json_t *dry_run(fx *f, const char *bucket, const char *ref, ig_time at, bool skip, bool keep)
{
    reg_revoke rv = {
        .revoke_at = at, .message = "m", .skip_descendants = skip, .keep_channels = keep};
    json_t *d =
        registry_version_revoke_dry_run(f->r, &f->ctx, bucket, ref, &rv, f->err, sizeof f->err);
    if (!d)
        fail_msg("dry run %s %s: %s", bucket, ref, f->err);
    return d;
}

static void test_revoke_dry_run_changes_nothing(void **state)
{
    fx *f = *state;
    usage_family(f);
    reg_usage_item used[] = {
        {"aws_instance.worker", "ami-0000000000000a001", "app-java", "v1", "a1"},
        {"aws_instance.web", "ami-0000000000000w001", "web-ubuntu", "v1", "w1"},
    };
    record(f, "acme", "batch", "pass", used, 2);
    f->ctx.now = T0 - 31 * 24 * HOUR; /* used only long ago: not in the 30 days */
    record(f, "acme", "old", "pass", used, 1);
    f->ctx.now = T0 + HOUR;
    int64_t audit = audit_count(f, NULL);
    json_t *d = dry_run(f, "golden-base", "v1", IG_TIME_NONE, false, false);
    assert_string_equal(dry_text(d, "inherits"), "app-java v1;");
    assert_string_equal(dry_text(d, "channels"),
                        "golden-base/production v1->null;app-java/production v1->null;");
    assert_string_equal(dry_text(d, "workspaces"), "app-java v1 batch;");
    json_decref(d);
    /* nothing changed: no audit entry, channels and statuses as they were */
    assert_int_equal(audit_count(f, NULL), audit);
    assert_string_equal(channel_of(f, "golden-base", "production"), "v1");
    assert_string_equal(channel_of(f, "app-java", "production"), "v1");
    assert_string_equal(status_of(f, "app-java", "v1"), "VERSION_ACTIVE");
    /* the options change the answer as they change the revocation */
    d = dry_run(f, "golden-base", "v1", T0 + 48 * HOUR, false, false); /* scheduled */
    assert_string_equal(dry_text(d, "inherits"), "app-java v1;");
    assert_string_equal(dry_text(d, "channels"), "");
    json_decref(d);
    d = dry_run(f, "golden-base", "v1", IG_TIME_NONE, true, false); /* skip descendants */
    assert_string_equal(dry_text(d, "inherits"), "");
    assert_string_equal(dry_text(d, "channels"), "golden-base/production v1->null;");
    assert_string_equal(dry_text(d, "workspaces"), "");
    json_decref(d);
    d = dry_run(f, "golden-base", "v1", IG_TIME_NONE, false, true); /* keep channels */
    assert_string_equal(dry_text(d, "channels"), "");
    json_decref(d);
    assert_int_equal(audit_count(f, NULL), audit);
    /* the real revocation does what the dry run said */
    do_revoke(f, "golden-base", "v1", IG_TIME_NONE, false, false);
    assert_int_equal(audit_count(f, "channel.rollback"), 2);
    assert_string_equal(channel_of(f, "app-java", "production"), "-");
    /* and a dry run fails as the revocation would */
    reg_revoke rv = {.revoke_at = IG_TIME_NONE};
    assert_null(registry_version_revoke_dry_run(f->r, &f->ctx, "golden-base", "v1", &rv, f->err,
                                                sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_null(registry_version_revoke_dry_run(f->r, &f->ctx, "golden-base", "v7", &rv, f->err,
                                                sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
}

/* ---- both stores: order ------------------------------------------------ */

/* Lists sort bytewise on both stores (PostgreSQL: the "C" collation of
 * migration 002, whatever the database's locale; the test server's is ICU
 * en-US, which would put 'alpha' before 'Zeta' and ignore '-'). */
/* Result pages: stored, read back by id only while younger than the
 * retention, pruned by age; malformed ids are neither stored nor found. */
static void test_result_pages(void **state)
{
    fx *f = *state;
    reg_result in = {.id = "0123456789abcdef0123456789abcdef",
                     .task_result_id = "taskrs-1",
                     .run_id = "run-1",
                     .workspace = "prod",
                     .stage = "post_plan",
                     .verdict = "fail",
                     .page = "imagegate run-task result\n\xc3\xa9"};
    assert_int_equal(registry_result_put(f->r, &f->ctx, &in, f->err, sizeof f->err), 0);
    reg_result out;
    assert_int_equal(registry_result_get(f->r, in.id, T0 - HOUR, &out, f->err, sizeof f->err), 1);
    assert_string_equal(out.page, in.page);
    assert_string_equal(out.verdict, "fail");
    assert_null(out.organization);
    assert_int_equal(out.created_at, T0);
    registry_result_dispose(&out);
    /* older than the caller's retention: not served */
    assert_int_equal(registry_result_get(f->r, in.id, T0 + 1, &out, f->err, sizeof f->err), 0);
    assert_int_equal(registry_result_get(f->r, "0123456789ABCDEF0123456789ABCDEF", T0 - HOUR, &out,
                                         f->err, sizeof f->err),
                     0);
    assert_int_equal(
        registry_result_get(f->r, "' OR 1=1 --", T0 - HOUR, &out, f->err, sizeof f->err), 0);
    reg_result bad = in;
    bad.id = "xyz";
    assert_int_equal(registry_result_put(f->r, &f->ctx, &bad, f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    f->ctx.now = T0 + 2 * HOUR;
    in.id = "fedcba9876543210fedcba9876543210";
    assert_int_equal(registry_result_put(f->r, &f->ctx, &in, f->err, sizeof f->err), 0);
    assert_int_equal(registry_result_prune(f->r, T0 + HOUR, f->err, sizeof f->err), 1);
    assert_int_equal(registry_result_get(f->r, "0123456789abcdef0123456789abcdef", 0, &out, f->err,
                                         sizeof f->err),
                     0);
    assert_int_equal(registry_result_get(f->r, in.id, 0, &out, f->err, sizeof f->err), 1);
    registry_result_dispose(&out);
}

static void test_lists_sort_bytewise(void **state)
{
    fx *f = *state;
    const char *names[] = {"alpha", "Zeta", "ab-c", "abc", "ab9", "B-2", "b-1"};
    const char *want[] = {"B-2", "Zeta", "ab-c", "ab9", "abc", "alpha", "b-1"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        json_decref(
            registry_bucket_create(f->r, &f->ctx, names[i], NULL, NULL, f->err, sizeof f->err));
    json_t *a = registry_bucket_list(f->r, &f->ctx, NULL, f->err, sizeof f->err);
    assert_non_null(a);
    assert_int_equal(json_array_size(a), sizeof want / sizeof want[0]);
    for (size_t i = 0; i < json_array_size(a); i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(a, i), "name")),
                            want[i]);
    json_decref(a);
    must_import(f, "abc", "w1", "ami-1", NULL, "Prod");
    set_channel(f, "abc", "prod", "v1");
    set_channel(f, "abc", "Beta", "v1");
    set_channel(f, "abc", "a-b", "v1");
    json_t *c = registry_channel_list(f->r, &f->ctx, "abc", f->err, sizeof f->err);
    assert_non_null(c);
    const char *cwant[] = {"latest", "Beta", "Prod", "a-b", "prod"};
    assert_int_equal(json_array_size(c), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(c, i), "name")),
                            cwant[i]);
    json_decref(c);
}

/* ---- PostgreSQL only ------------------------------------------------------ */

/* Parsed pieces of the harness URL. */
typedef struct pg_parts {
    char host[128], port[16], user[64], password[128], dbname[64];
} pg_parts;

static void pg_split(pg_parts *p)
{
    memset(p, 0, sizeof *p);
    char *perr = NULL;
    PQconninfoOption *o = PQconninfoParse(pg_url, &perr);
    assert_non_null(o);
    for (PQconninfoOption *i = o; i->keyword; i++) {
        char *dst = NULL;
        size_t n = 0;
        if (!strcmp(i->keyword, "host"))
            dst = p->host, n = sizeof p->host;
        else if (!strcmp(i->keyword, "port"))
            dst = p->port, n = sizeof p->port;
        else if (!strcmp(i->keyword, "user"))
            dst = p->user, n = sizeof p->user;
        else if (!strcmp(i->keyword, "password"))
            dst = p->password, n = sizeof p->password;
        else if (!strcmp(i->keyword, "dbname"))
            dst = p->dbname, n = sizeof p->dbname;
        if (dst && i->val)
            snprintf(dst, n, "%s", i->val);
    }
    PQconninfoFree(o);
    assert_true(*p->password); /* the harness always uses one: we check it never leaks */
}

/* Opening must fail with class code, and err must not hold the password. */
static void open_fails(const char *url, int want, const char *password, const char *says)
{
    char err[1024];
    int code = 0;
    registry *r = registry_open(url, 0, &code, err, sizeof err);
    if (r)
        fail_msg("opened %s", url);
    assert_int_equal(code, want);
    if (strstr(err, password))
        fail_msg("the password shows in: %s", err);
    if (says && !strstr(err, says))
        fail_msg("'%s' not in: %s", says, err);
    assert_null(strchr(err, '\n'));
}

static void test_pg_open(void **state)
{
    fx *f = *state;
    char url[1200], err[1024];
    int code = 0;
    assert_string_equal(registry_kind(f->r), "postgresql");
    assert_int_equal(registry_ping(f->r, err, sizeof err), 0);
    registry *r = registry_open(f->url, 0, &code, err, sizeof err); /* nothing pending */
    if (!r)
        fail_msg("reopen: %s", err);
    registry_close(r);
    /* 001-005, 008_usage, 009_events, 010_sbom, 011_store_probe, 014_build_built_at */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_migrations"), 10);
    assert_int_equal(registry_probe_write(f->r, 1000, err, sizeof err), 0);
    assert_int_equal(registry_probe_write(f->r, 2000, err, sizeof err), 0);
    assert_int_equal(raw_int(f, "SELECT written_at FROM store_probe WHERE id = 1"), 2000);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM information_schema.columns WHERE"
                                " table_schema = current_schema() AND data_type = 'text'"
                                " AND collation_name IS DISTINCT FROM 'C'"),
                     0);
    pg_parts p;
    pg_split(&p);
    /* postgres:// and explicit sslmode=disable */
    snprintf(url, sizeof url, "postgres://%s:%s@%s:%s/%s?sslmode=disable", p.user, p.password,
             p.host, p.port, p.dbname);
    r = registry_open(url, 0, &code, err, sizeof err);
    if (!r)
        fail_msg("postgres://: %s", err);
    registry_close(r);
    /* the password given as a query parameter, the host as one too */
    snprintf(url, sizeof url, "postgresql:///%s?host=%s&port=%s&user=%s&password=%s", p.dbname,
             p.host, p.port, p.user, p.password);
    r = registry_open(url, 0, &code, err, sizeof err);
    if (!r)
        fail_msg("query form: %s", err);
    registry_close(r);
    /* failures: one line, class REG_ESTORE or REG_EINVAL, never the password */
    snprintf(url, sizeof url, "postgresql://%s:%s@%s:%s/%s?sslmode=require", p.user, p.password,
             p.host, p.port, p.dbname);
    open_fails(url, REG_ESTORE, p.password, "SSL");
    snprintf(url, sizeof url, "postgresql://%s:wrong-%s@%s:%s/%s", p.user, p.password, p.host,
             p.port, p.dbname);
    open_fails(url, REG_ESTORE, p.password, "password authentication failed");
    snprintf(url, sizeof url, "postgresql://%s:%s@%s:1/%s?connect_timeout=2", p.user, p.password,
             p.host, p.dbname);
    open_fails(url, REG_ESTORE, p.password, "cannot connect");
    snprintf(url, sizeof url, "postgresql://%s:%s@%s:%s/nosuchdb", p.user, p.password, p.host,
             p.port);
    open_fails(url, REG_ESTORE, p.password, "nosuchdb");
    snprintf(url, sizeof url, "postgresql://%s:%s%%zz@%s:%s/%s", p.user, p.password, p.host, p.port,
             p.dbname);
    open_fails(url, REG_EINVAL, p.password, "not a valid PostgreSQL URL");
    snprintf(url, sizeof url, "postgresql://%s@%s:%s/%s?password=%s&bogus=1", p.user, p.host,
             p.port, p.dbname, p.password);
    open_fails(url, REG_EINVAL, p.password, "bogus");
}

/* What the URL leaves out comes from the PG* environment variables. */
static void test_pg_environment(void **state)
{
    fx *f = *state;
    pg_parts p;
    pg_split(&p);
    char err[1024], opt[128];
    int code = 0;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    snprintf(opt, sizeof opt, "-csearch_path=%s", f->schema);
    setenv("PGHOST", p.host, 1);
    setenv("PGPORT", p.port, 1);
    setenv("PGUSER", p.user, 1);
    setenv("PGPASSWORD", p.password, 1);
    setenv("PGDATABASE", p.dbname, 1);
    setenv("PGOPTIONS", opt, 1);
    setenv("PGAPPNAME", "envtest", 1);
    registry *r = registry_open("postgresql://", 0, &code, err, sizeof err);
    const char *vars[] = {"PGHOST",     "PGPORT",    "PGUSER",   "PGPASSWORD",
                          "PGDATABASE", "PGOPTIONS", "PGAPPNAME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    if (!r)
        fail_msg("postgresql:// with PG* variables: %s", err);
    json_t *b = registry_bucket_get(r, &f->ctx, "web", err, sizeof err);
    assert_non_null(b);
    json_decref(b);
    registry_close(r);
}

typedef struct writer {
    const char *url;
    int index;
    int failures;
    char err[512];
} writer;

static void *writer_main(void *arg)
{
    writer *w = arg;
    int code;
    registry *r = registry_open(w->url, 0, &code, w->err, sizeof w->err);
    if (!r) {
        w->failures++;
        return NULL;
    }
    reg_ctx ctx = {"writer", T0};
    for (int i = 0; i < 6; i++) {
        char *m = xasprintf("{\"builds\":[{\"name\":\"b\",\"builder_type\":\"amazon-ebs\","
                            "\"artifact_id\":\"us-west-1:ami-%d%02d\",\"packer_run_uuid\":\"r\","
                            "\"custom_data\":{\"source_ami\":\"ami-parent\"}}],"
                            "\"last_run_uuid\":\"r\"}",
                            w->index, i);
        reg_import imp;
        if (registry_manifest_parse(m, strlen(m), "m", false, &imp, w->err, sizeof w->err) < 0) {
            w->failures++;
            free(m);
            continue;
        }
        free(m);
        imp.bucket = xstrdup("app");
        free(imp.fingerprint);
        imp.fingerprint = xasprintf("w%d-%d", w->index, i);
        json_t *v = registry_import(r, &ctx, &imp, NULL, w->err, sizeof w->err);
        if (!v)
            w->failures++;
        json_decref(v);
        registry_import_dispose(&imp);
    }
    registry_close(r);
    return NULL;
}

/* Writers on several connections are serialised (db_begin's advisory lock):
 * every import succeeds, numbers are dense and unique, and a child imported
 * while its parent is being revoked is never left without the inherited
 * revocation. */
static void test_pg_writers_serialised(void **state)
{
    fx *f = *state;
    must_import(f, "base", "p1", "ami-parent", NULL, NULL);
    enum { N = 4 };
    pthread_t t[N];
    writer w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (writer){f->url, i, 0, ""};
        assert_int_equal(pthread_create(&t[i], NULL, writer_main, &w[i]), 0);
    }
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, false); /* while they import */
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        if (w[i].failures)
            fail_msg("writer %d: %d failures, last: %s", i, w[i].failures, w[i].err);
    }
    assert_int_equal(raw_int(f, "SELECT COUNT(DISTINCT number) FROM versions v JOIN buckets b"
                                " ON b.id = v.bucket_id WHERE b.name = 'app'"),
                     N * 6);
    assert_int_equal(raw_int(f, "SELECT MAX(number) FROM versions v JOIN buckets b"
                                " ON b.id = v.bucket_id WHERE b.name = 'app'"),
                     N * 6);
    /* every child carries the parent's revocation, however the two interleaved */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM revocations WHERE type = 'INHERITED'"),
                     N * 6);
}

/* A claim passes over a row another connection holds locked instead of
 * waiting for it (FOR UPDATE SKIP LOCKED). */
static void test_pg_claim_skips_locked(void **state)
{
    fx *f = *state;
    reg_delivery d;
    assert_int_equal(registry_delivery_add(f->r, &f->ctx, "tr-a", "run-a", "post_plan", "a", f->err,
                                           sizeof f->err),
                     0);
    f->ctx.now = T0 + 1;
    assert_int_equal(registry_delivery_add(f->r, &f->ctx, "tr-b", "run-b", "post_plan", "b", f->err,
                                           sizeof f->err),
                     0);
    PGconn *c = pg_connect(f->url);
    assert_non_null(c);
    PGresult *res = PQexec(c, "BEGIN; SELECT 1 FROM deliveries WHERE task_result_id = 'tr-a'"
                              " FOR UPDATE");
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    PQclear(res);
    ig_time t0 = ig_time_now();
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w1", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     1);
    assert_true(ig_time_now() - t0 < 2000);
    assert_string_equal(d.task_result_id, "tr-b");
    registry_delivery_dispose(&d);
    /* the locked one is not claimed, but not waited for either */
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w2", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     0);
    res = PQexec(c, "ROLLBACK");
    PQclear(res);
    PQfinish(c);
    assert_int_equal(registry_delivery_claim(f->r, &f->ctx, "w2", 60000, IG_TIME_NONE, &d, f->err,
                                             sizeof f->err),
                     1);
    assert_string_equal(d.task_result_id, "tr-a");
    registry_delivery_dispose(&d);
}

/* The server closing an idle connection (a restart, an administrator) does
 * not fail the next call: the driver notices and reconnects first. */
static void test_pg_reconnects_when_idle_connection_closed(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, "prod");
    int64_t killed = raw_int(f, "SELECT COUNT(*) FROM (SELECT pid FROM pg_stat_activity WHERE"
                                " application_name = 'imagegate' AND datname = current_database()"
                                " OFFSET 0) a WHERE pg_terminate_backend(pid, 5000)");
    assert_int_equal(killed, 1);
    json_t *v = registry_version_get(f->r, &f->ctx, "web", "v1", f->err, sizeof f->err);
    if (!v)
        fail_msg("after the server closed the connection: %s", f->err);
    json_decref(v);
    set_channel(f, "web", "staging", "v1"); /* a write transaction on the new connection */
    assert_int_equal(registry_ping(f->r, f->err, sizeof f->err), 0);
}

/* registry_import_check: every refusal registry_import makes without the
 * store, with no store at all (the CLI runs it before it creates one). */
static void test_import_check_needs_no_store(void **state)
{
    (void)state;
    size_t len;
    char err[512], *buf = read_fixture("web-ubuntu-v1.json", &len);
    reg_import imp;
    assert_int_equal(registry_manifest_parse(buf, len, "m", false, &imp, err, sizeof err), 0);
    free(buf);
    imp.bucket = xstrdup("web");
    assert_int_equal(registry_import_check(&imp, err, sizeof err), 0);
    char longtext[300];
    memset(longtext, 'a', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    imp.description = xstrdup(longtext);
    assert_int_equal(registry_import_check(&imp, err, sizeof err), -1);
    assert_string_equal(err, "description: longer than 255 bytes");
    free(imp.description);
    imp.description = NULL;
    free(imp.builds[0].source_external_identifier);
    imp.builds[0].source_external_identifier = xstrdup("ami-\001");
    assert_int_equal(registry_import_check(&imp, err, sizeof err), -1);
    assert_non_null(strstr(err, "builds[0].source_external_identifier"));
    free(imp.builds[0].source_external_identifier);
    imp.builds[0].source_external_identifier = NULL;
    json_object_set_new(imp.builds[0].labels, "k", json_string("a\002"));
    assert_int_equal(registry_import_check(&imp, err, sizeof err), -1);
    assert_non_null(strstr(err, "builds[0].labels.k"));
    json_object_del(imp.builds[0].labels, "k");
    imp.bucket_labels = json_pack("{s:s}", "", "v");
    assert_int_equal(registry_import_check(&imp, err, sizeof err), -1);
    assert_non_null(strstr(err, "labels"));
    registry_import_dispose(&imp);
}

/* The build calls as Packer makes them through hcp-sdk-go: CreateBuild with
 * no platform and "artifacts": null, heartbeats with nulls (which change
 * nothing), then the UpdateBuild that brings platform and artifacts and
 * marks the build done; a BUILD_DONE build without a platform is refused. */
static void test_build_sdk_nulls_and_late_platform(void **state)
{
    fx *f = *state;
    json_decref(registry_bucket_create(f->r, &f->ctx, "sdk", NULL, NULL, f->err, sizeof f->err));
    json_decref(
        registry_version_create(f->r, &f->ctx, "sdk", "fp-sdk", NULL, f->err, sizeof f->err));
    json_t *spec = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n}", "component_type", "amazon-ebs.x",
                             "packer_run_uuid", "run-1", "status", "BUILD_RUNNING", "artifacts",
                             "labels", "platform");
    json_t *bj = registry_build_create(f->r, &f->ctx, "sdk", "fp-sdk", spec, f->err, sizeof f->err);
    if (!bj)
        fail_msg("create: %s", f->err);
    json_decref(spec);
    assert_string_equal(json_string_value(json_object_get(bj, "platform")), "");
    char *bid = xstrdup(json_string_value(json_object_get(bj, "id")));
    json_decref(bj);
    /* a heartbeat: nulls keep what is there */
    json_t *patch = json_pack("{s:s, s:n, s:n, s:n, s:n}", "status", "BUILD_RUNNING", "artifacts",
                              "labels", "component_type", "packer_run_uuid");
    bj = registry_build_update(f->r, &f->ctx, "sdk", "fp-sdk", bid, patch, f->err, sizeof f->err);
    if (!bj)
        fail_msg("heartbeat: %s", f->err);
    assert_string_equal(json_string_value(json_object_get(bj, "component_type")), "amazon-ebs.x");
    assert_string_equal(json_string_value(json_object_get(bj, "packer_run_uuid")), "run-1");
    json_decref(bj);
    json_decref(patch);
    /* done without a platform: refused, nothing changes */
    patch = json_pack("{s:s, s:[{s:s, s:s}]}", "status", "BUILD_DONE", "artifacts",
                      "external_identifier", "ami-sdk", "region", "us-east-1");
    assert_null(
        registry_build_update(f->r, &f->ctx, "sdk", "fp-sdk", bid, patch, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_non_null(strstr(f->err, "build.platform: missing"));
    assert_string_equal(status_of(f, "sdk", "fp-sdk"), "VERSION_RUNNING");
    /* with it: the version completes */
    json_object_set_new(patch, "platform", json_string("aws"));
    json_object_set_new(patch, "labels", json_null());
    bj = registry_build_update(f->r, &f->ctx, "sdk", "fp-sdk", bid, patch, f->err, sizeof f->err);
    if (!bj)
        fail_msg("done: %s", f->err);
    assert_string_equal(json_string_value(json_object_get(bj, "platform")), "aws");
    assert_int_equal(json_array_size(json_object_get(bj, "artifacts")), 1);
    json_decref(bj);
    json_decref(patch);
    assert_string_equal(status_of(f, "sdk", "v1"), "VERSION_ACTIVE");
    free(bid);
}

/* ---- the HCP drop-in --------------------------------------------------- */

/* A complete version of bucket with one done build made from parent: Packer's
 * UpdateBuild with parent_version_id / parent_channel_id (NULL: not sent)
 * and the source image. Returns the version object. */
static json_t *hcp_version(fx *f, const char *bucket, const char *fp, const char *ami,
                           const char *source, const char *parent_id, const char *channel_id)
{
    char *bid = api_version_with_build(f, bucket, fp, ami);
    json_t *patch =
        json_pack("{s:s, s:o, s:o, s:o}", "status", "BUILD_DONE", "source_external_identifier",
                  source ? json_string(source) : json_null(), "parent_version_id",
                  parent_id ? json_string(parent_id) : json_null(), "parent_channel_id",
                  channel_id ? json_string(channel_id) : json_null());
    json_t *b = registry_build_update(f->r, &f->ctx, bucket, fp, bid, patch, f->err, sizeof f->err);
    if (!b)
        fail_msg("build update: %s", f->err);
    json_decref(b);
    json_decref(patch);
    free(bid);
    json_t *v = registry_version_get(f->r, &f->ctx, bucket, fp, f->err, sizeof f->err);
    if (!v)
        fail_msg("get %s: %s", fp, f->err);
    return v;
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    json_t *x = json_object_get(o, a);
    return json_string_value(b ? json_object_get(x, b) : x);
}

static const char *parents_status(fx *f, const char *bucket, const char *ref)
{
    static char buf[32];
    json_t *v = registry_version_get(f->r, &f->ctx, bucket, ref, f->err, sizeof f->err);
    if (!v)
        fail_msg("get %s %s: %s", bucket, ref, f->err);
    const char *st = str_at(v, "parents", "status");
    snprintf(buf, sizeof buf, "%s", st ? st : "null");
    json_decref(v);
    return buf;
}

/* HCP's parents status: UP_TO_DATE while the channel Packer took the parent
 * from still holds it, OUT_OF_DATE once it moved on, UNDETERMINED without a
 * channel; the computed latest channel (id = the bucket's id) resolves at
 * read time; bucket roll-ups, platforms and the ancestry list follow. */
static void test_hcp_parents_status(void **state)
{
    fx *f = *state;
    json_decref(registry_bucket_create(f->r, &f->ctx, "base", NULL, NULL, f->err, sizeof f->err));
    json_decref(registry_bucket_create(f->r, &f->ctx, "app", NULL, NULL, f->err, sizeof f->err));
    json_t *b1 = hcp_version(f, "base", "fp-b1", "ami-p1", NULL, NULL, NULL);
    json_t *prod = registry_channel_create(f->r, &f->ctx, "base", "prod", "fp-b1", false, f->err,
                                           sizeof f->err);
    assert_non_null(prod);
    assert_int_equal(strlen(str_at(prod, "id", NULL)), 26);
    json_t *a1 = hcp_version(f, "app", "fp-a1", "ami-a1", "ami-p1", str_at(b1, "id", NULL),
                             str_at(prod, "id", NULL));
    assert_string_equal(str_at(a1, "parents", "status"), "UP_TO_DATE");
    json_t *pv = json_array_get(json_object_get(a1, "parent_versions"), 0);
    assert_string_equal(str_at(pv, "channel_name", NULL), "prod");
    assert_int_equal(json_array_size(json_object_get(a1, "parent_versions")), 1);
    json_t *bk = registry_bucket_get(f->r, &f->ctx, "base", f->err, sizeof f->err);
    assert_string_equal(str_at(bk, "children", "status"), "UP_TO_DATE");
    assert_true(json_is_null(json_object_get(bk, "parents")));
    assert_string_equal(json_string_value(json_array_get(json_object_get(bk, "platforms"), 0)),
                        "aws");
    json_decref(bk);
    json_t *rel =
        registry_ancestry(f->r, &f->ctx, "base", false, true, NULL, "prod", f->err, sizeof f->err);
    assert_int_equal(json_array_size(rel), 1);
    assert_string_equal(str_at(json_array_get(rel, 0), "child", "bucket_name"), "app");
    json_decref(rel);
    rel =
        registry_ancestry(f->r, &f->ctx, "base", false, true, NULL, "other", f->err, sizeof f->err);
    assert_int_equal(json_array_size(rel), 0);
    json_decref(rel);
    /* the channel moves on */
    json_t *b2 = hcp_version(f, "base", "fp-b2", "ami-p2", NULL, NULL, NULL);
    json_decref(
        registry_channel_set(f->r, &f->ctx, "base", "prod", "fp-b2", f->err, sizeof f->err));
    assert_string_equal(parents_status(f, "app", "fp-a1"), "OUT_OF_DATE");
    bk = registry_bucket_get(f->r, &f->ctx, "base", f->err, sizeof f->err);
    assert_string_equal(str_at(bk, "children", "status"), "OUT_OF_DATE");
    json_decref(bk);
    /* latest's id is the bucket's; a parent taken from it follows the computed channel */
    json_t *latest = registry_channel_get(f->r, &f->ctx, "base", "latest", f->err, sizeof f->err);
    bk = registry_bucket_get(f->r, &f->ctx, "base", f->err, sizeof f->err);
    assert_string_equal(str_at(latest, "id", NULL), str_at(bk, "id", NULL));
    json_decref(hcp_version(f, "app", "fp-a2", "ami-a2", "ami-p2", str_at(b2, "id", NULL),
                            str_at(bk, "id", NULL)));
    assert_string_equal(parents_status(f, "app", "fp-a2"), "UP_TO_DATE");
    json_decref(hcp_version(f, "app", "fp-a3", "ami-a3", "ami-p1", str_at(b1, "id", NULL),
                            str_at(bk, "id", NULL)));
    assert_string_equal(parents_status(f, "app", "fp-a3"), "OUT_OF_DATE");
    /* a channel that is gone, and no channel at all */
    json_decref(hcp_version(f, "app", "fp-a4", "ami-a4", "ami-p2", str_at(b2, "id", NULL),
                            "01NOSUCHCHANNEL0000000000A"));
    assert_string_equal(parents_status(f, "app", "fp-a4"), "OUT_OF_DATE");
    json_decref(hcp_version(f, "app", "fp-a5", "ami-a5", "ami-p2", NULL, NULL));
    assert_string_equal(parents_status(f, "app", "fp-a5"), "UNDETERMINED");
    assert_string_equal(parents_status(f, "base", "fp-b1"), "null");
    json_decref(latest);
    json_decref(bk);
    json_decref(b1);
    json_decref(b2);
    json_decref(a1);
    json_decref(prod);
}

/* CreateVersion's template_type: kept and echoed; an incomplete version
 * without one takes a later one; anything but HCL2 / JSON / UNSET is 400. */
static void test_hcp_template_type(void **state)
{
    fx *f = *state;
    json_decref(registry_bucket_create(f->r, &f->ctx, "tpl", NULL, NULL, f->err, sizeof f->err));
    json_t *v =
        registry_version_create(f->r, &f->ctx, "tpl", "fp-1", "HCL2", f->err, sizeof f->err);
    assert_string_equal(str_at(v, "template_type", NULL), "HCL2");
    json_decref(v);
    v = registry_version_create(f->r, &f->ctx, "tpl", "fp-1", "JSON", f->err, sizeof f->err);
    assert_string_equal(str_at(v, "template_type", NULL), "HCL2");
    json_decref(v);
    v = registry_version_create(f->r, &f->ctx, "tpl", "fp-2", "TEMPLATE_TYPE_UNSET", f->err,
                                sizeof f->err);
    assert_true(json_is_null(json_object_get(v, "template_type")));
    json_decref(v);
    v = registry_version_create(f->r, &f->ctx, "tpl", "fp-2", "JSON", f->err, sizeof f->err);
    assert_string_equal(str_at(v, "template_type", NULL), "JSON");
    json_decref(v);
    assert_null(
        registry_version_create(f->r, &f->ctx, "tpl", "fp-3", "YAML", f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    assert_non_null(strstr(f->err, "template_type"));
}

static void sha256_hex(const char *s, char hex[65])
{
    unsigned char md[32];
    unsigned int mdlen;
    EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", md[i]);
}

static int auth_of(fx *f, const char *secret, reg_role *role, char *name)
{
    return registry_token_auth(f->r, &f->ctx, secret, role, name, 80, f->err, sizeof f->err);
}

/* OAuth2 access tokens: issued for the right client id and secret only,
 * stored as a hash, authenticate with the API token's name and role until
 * they expire, die with the API token and never come back with a token
 * re-made under the same name. */
static void test_oauth_tokens(void **state)
{
    fx *f = *state;
    char *secret = NULL, *tok = NULL, *bad = NULL, name[80], hex[65], sql[160];
    reg_role role;
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "ci", REG_ROLE_WRITE, &secret, f->err, sizeof f->err),
        0);
    assert_int_equal(
        registry_oauth_issue(f->r, &f->ctx, "ci", secret, HOUR, &tok, f->err, sizeof f->err), 0);
    assert_int_equal(strncmp(tok, "igo_", 4), 0);
    assert_int_equal(strlen(tok), 4 + 43);
    sha256_hex(tok, hex);
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM oauth_tokens WHERE hash = '%s'", hex);
    assert_int_equal(raw_int(f, sql), 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM oauth_tokens WHERE hash LIKE 'igo_%'"), 0);
    assert_int_equal(auth_of(f, tok, &role, name), 0);
    assert_int_equal(role, REG_ROLE_WRITE);
    assert_string_equal(name, "ci");
    /* the server's body-limit snapshot knows the access token, with its role */
    reg_token_hash *hashes = NULL;
    size_t nh = 0;
    assert_int_equal(registry_token_hashes(f->r, &hashes, &nh, f->err, sizeof f->err), 0);
    assert_int_equal(nh, 2);
    bool seen = false;
    for (size_t i = 0; i < nh; i++) {
        seen |= strcmp(hashes[i].hash, hex) == 0 && hashes[i].role == REG_ROLE_WRITE;
        if (i)
            assert_true(strcmp(hashes[i - 1].hash, hashes[i].hash) < 0);
    }
    assert_true(seen);
    free(hashes);
    /* refusals say nothing about which part was wrong */
    const char *ids[] = {"ci", "nobody", "bad name!", ""};
    const char *secrets[] = {"igt_wrong", secret, secret, secret};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(registry_oauth_issue(f->r, &f->ctx, ids[i], secrets[i], HOUR, &bad, f->err,
                                              sizeof f->err),
                         -1);
        assert_null(bad);
        assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
        assert_string_equal(f->err, "invalid client credentials");
    }
    /* expiry */
    f->ctx.now += HOUR;
    assert_int_equal(auth_of(f, tok, &role, name), -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    f->ctx.now -= HOUR;
    /* revocation, and a token re-made under the same name */
    assert_int_equal(registry_token_revoke(f->r, &f->ctx, "ci", f->err, sizeof f->err), 0);
    assert_int_equal(auth_of(f, tok, &role, name), -1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM oauth_tokens"), 0);
    char *again = NULL;
    assert_int_equal(
        registry_token_create(f->r, &f->ctx, "ci", REG_ROLE_ADMIN, &again, f->err, sizeof f->err),
        0);
    assert_int_equal(auth_of(f, tok, &role, name), -1);
    free(again);
    free(tok);
    free(secret);
}

/* The organization and project ids: made once, kept, replaced when given
 * (audited, lower case), refused when not UUIDs; the run-task HMAC keys:
 * rotation keeps the replaced key until the cutoff the caller gives, and
 * neither the audit trail nor any listing shows a key. */
static void test_hcp_ids_and_hmac_keys(void **state)
{
    fx *f = *state;
    reg_ids a, b;
    assert_int_equal(registry_ids(f->r, &f->ctx, NULL, NULL, &a, f->err, sizeof f->err), 0);
    assert_int_equal(strlen(a.organization_id), 36);
    assert_int_equal(a.organization_id[14], '4'); /* a version 4 UUID */
    assert_int_equal(a.created_at, T0);
    f->ctx.now += HOUR;
    assert_int_equal(registry_ids(f->r, &f->ctx, NULL, NULL, &b, f->err, sizeof f->err), 0);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(registry_ids(f->r, &f->ctx, "0B1E3C5A-7D9F-4A2B-8C4D-6E8F0A2B4C6D", NULL, &b,
                                  f->err, sizeof f->err),
                     0);
    assert_string_equal(b.organization_id, "0b1e3c5a-7d9f-4a2b-8c4d-6e8f0a2b4c6d");
    assert_string_equal(b.project_id, a.project_id);
    assert_int_equal(b.created_at, T0);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM audit WHERE action = 'registry.ids'"), 1);
    assert_int_equal(registry_ids(f->r, &f->ctx, NULL, "nope", &b, f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);
    /* HMAC keys */
    char **keys = NULL, *k1 = NULL, *k2 = NULL;
    size_t n = 9;
    bool current = true;
    assert_int_equal(registry_hmac_keys(f->r, 0, &keys, &n, &current, f->err, sizeof f->err), 0);
    assert_int_equal(n, 0);
    assert_false(current);
    assert_int_equal(
        registry_hmac_rotate(f->r, &f->ctx, f->ctx.now - 24 * HOUR, &k1, f->err, sizeof f->err), 0);
    assert_int_equal(strlen(k1), 64);
    f->ctx.now += HOUR;
    assert_int_equal(
        registry_hmac_rotate(f->r, &f->ctx, f->ctx.now - 24 * HOUR, &k2, f->err, sizeof f->err), 0);
    assert_int_equal(registry_hmac_keys(f->r, f->ctx.now - 24 * HOUR, &keys, &n, &current, f->err,
                                        sizeof f->err),
                     0);
    assert_int_equal(n, 2);
    assert_true(current);
    assert_string_equal(keys[0], k2);
    assert_string_equal(keys[1], k1);
    registry_hmac_keys_free(keys, n);
    /* past the grace the replaced key is no longer handed out, then deleted */
    assert_int_equal(
        registry_hmac_keys(f->r, f->ctx.now + 1, &keys, &n, &current, f->err, sizeof f->err), 0);
    assert_int_equal(n, 1);
    registry_hmac_keys_free(keys, n);
    char *k3 = NULL;
    f->ctx.now += 48 * HOUR;
    assert_int_equal(
        registry_hmac_rotate(f->r, &f->ctx, f->ctx.now - 24 * HOUR, &k3, f->err, sizeof f->err), 0);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM runtask_hmac_keys"), 2);
    char *detail = raw_text(f, "SELECT COALESCE(MAX(detail), '') || MAX(target) FROM audit"
                               " WHERE action = 'runtask.hmac_rotate'");
    assert_null(strstr(detail, k1));
    assert_null(strstr(detail, k3));
    free(detail);
    free(k1);
    free(k2);
    free(k3);
}

/* ---- SBOMs and packages ------------------------------------------------- */

static json_t *put_sbom(fx *f, const char *bucket, const char *ref, const char *build,
                        const char *name, const char *sha, const char *openssl, bool *created)
{
    const reg_package pk[] = {
        {"OpenSSL", openssl, "pkg:deb/ubuntu/openssl@x", "deb"},
        {"libssl3", openssl, "pkg:deb/ubuntu/libssl3@x", "deb"},
        {"lodash", "4.17.20", "pkg:npm/lodash@4.17.20", "npm"},
    };
    reg_sbom s = {name, "CYCLONEDX", "1.5", "KLUv/QBYAQAAe30=", sha, 2, pk, 3};
    return registry_sbom_put(f->r, &f->ctx, bucket, ref, build, &s, created, f->err, sizeof f->err);
}

static bool below_3_0_7(const char *type, const char *version, void *arg)
{
    (void)arg;
    /* the test's own rule (the real one is sbom/'s): every deb but 3.0.13 */
    return strcmp(type, "deb") == 0 && strcmp(version, "3.0.13") != 0;
}

static void test_sboms_and_packages(void **state)
{
    fx *f = *state;
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    must_import(f, "web", "w2", "ami-2", NULL, "prod");
    must_import(f, "base", "b1", "ami-3", NULL, NULL);
    bool created;
    json_t *sb = put_sbom(f, "web", "v1", NULL, "os-packages", "aa", "3.0.2-0ubuntu1", &created);
    if (!sb)
        fail_msg("put: %s", f->err);
    assert_true(created);
    assert_int_equal(json_integer_value(json_object_get(sb, "package_count")), 3);
    json_decref(sb);
    /* the same document again: nothing changes; another one on a done build: refused */
    json_decref(put_sbom(f, "web", "v1", NULL, "os-packages", "aa", "3.0.2-0ubuntu1", &created));
    assert_false(created);
    assert_null(put_sbom(f, "web", "v1", NULL, "os-packages", "bb", "3.0.2", &created));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_non_null(strstr(f->err, "already exists"));
    assert_null(put_sbom(f, "web", "v1", "nosuchbuild", "x-y", "bb", "3.0.2", &created));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    json_decref(put_sbom(f, "web", "v2", "amazon-ebs.b", "os-packages", "cc", "3.0.13", NULL));
    json_decref(put_sbom(f, "base", "v1", NULL, "os-packages", "dd", "3.0.1", NULL));
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, false);

    json_t *list = registry_sbom_list(f->r, &f->ctx, "web", "v1", NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(list), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "format")),
                        "CYCLONEDX");
    json_decref(list);

    /* a download token: stored hashed, opens the SBOM until it expires */
    char *tok = NULL;
    assert_int_equal(registry_sbom_download_token(f->r, &f->ctx, "web", "v1", NULL, "os-packages",
                                                  f->ctx.now + 300000, &tok, f->err, sizeof f->err),
                     0);
    assert_int_equal(strlen(tok), 64);
    reg_sbom_blob blob;
    assert_int_equal(registry_sbom_by_token(f->r, &f->ctx, tok, &blob, f->err, sizeof f->err), 1);
    assert_string_equal(blob.zstd_b64, "KLUv/QBYAQAAe30=");
    assert_string_equal(blob.bucket, "web");
    registry_sbom_blob_dispose(&blob);
    assert_int_equal(registry_sbom_by_token(f->r, &f->ctx, "0000", &blob, f->err, sizeof f->err),
                     0);
    f->ctx.now += 300000;
    assert_int_equal(registry_sbom_by_token(f->r, &f->ctx, tok, &blob, f->err, sizeof f->err), 0);
    free(tok);
    assert_int_equal(registry_sbom_download_token(f->r, &f->ctx, "web", "v1", NULL, "nope",
                                                  f->ctx.now + 1, &tok, f->err, sizeof f->err),
                     -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);

    /* lists: a build's, a bucket's with HCP's filters, pages and order */
    reg_package_filter flt = {0};
    json_t *pk = registry_package_list(f->r, &f->ctx, "web", "v1", "amazon-ebs.b", &flt, NULL,
                                       f->err, sizeof f->err);
    assert_int_equal(json_array_size(pk), 3);
    json_decref(pk);
    flt.name_prefix = "LIB";
    pk = registry_package_list(f->r, &f->ctx, "web", NULL, NULL, &flt, NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(pk), 2);
    json_decref(pk);
    const char *order[] = {"version desc"};
    reg_package_filter by_version = {.name = "openssl", .order_by = order, .n_order_by = 1};
    reg_page page = {1, NULL, NULL};
    pk = registry_package_list(f->r, &f->ctx, "web", NULL, NULL, &by_version, &page, f->err,
                               sizeof f->err);
    assert_int_equal(json_array_size(pk), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pk, 0), "version")),
                        "3.0.2-0ubuntu1");
    assert_non_null(page.next_page_token);
    free(page.next_page_token);
    json_decref(pk);
    const char *bad[] = {"size"};
    by_version.order_by = bad;
    assert_null(registry_package_list(f->r, &f->ctx, "web", NULL, NULL, &by_version, NULL, f->err,
                                      sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_EINVAL);

    /* the search: every version with an old openssl, with status and channels */
    reg_package_query q = {"openssl", NULL, below_3_0_7, NULL};
    json_t *found = registry_package_find(f->r, &f->ctx, &q, f->err, sizeof f->err);
    if (!found)
        fail_msg("find: %s", f->err);
    assert_int_equal(json_array_size(found), 2);
    json_t *e0 = json_array_get(found, 0), *e1 = json_array_get(found, 1);
    assert_string_equal(json_string_value(json_object_get(e0, "bucket_name")), "base");
    assert_string_equal(json_string_value(json_object_get(e0, "status")), "VERSION_REVOKED");
    assert_true(json_is_true(json_object_get(e0, "revoked")));
    assert_int_equal(json_array_size(json_object_get(e0, "channels")), 0);
    assert_string_equal(json_string_value(json_object_get(e1, "version")), "v1");
    assert_string_equal(json_string_value(json_object_get(e1, "status")), "VERSION_ACTIVE");
    json_decref(found);
    q.keep = NULL; /* every openssl; web v2 holds prod and latest */
    q.channel = "prod";
    found = registry_package_find(f->r, &f->ctx, &q, f->err, sizeof f->err);
    assert_int_equal(json_array_size(found), 1);
    json_t *ch = json_object_get(json_array_get(found, 0), "channels");
    assert_int_equal(json_array_size(ch), 2);
    assert_string_equal(json_string_value(json_array_get(ch, 0)), "latest");
    json_decref(found);

    /* deleting the version takes its SBOMs and packages along */
    set_channel(f, "web", "prod", NULL);
    if (registry_version_delete(f->r, &f->ctx, "web", "v2", f->err, sizeof f->err) < 0)
        fail_msg("delete: %s", f->err);
    q.channel = NULL;
    found = registry_package_find(f->r, &f->ctx, &q, f->err, sizeof f->err);
    assert_int_equal(json_array_size(found), 2); /* base v1, web v1 */
    json_decref(found);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM sbom_packages"), 6);
}

/* A store made by a binary that had 011 but not 010 (the numbers are
 * reserved per change and may be released out of order) gets 010 when a
 * binary that has it opens the store; nothing else is applied again. */
static void test_migration_below_the_latest_is_applied(void **state)
{
    fx *f = *state;
    int64_t before = raw_int(f, "SELECT COUNT(*) FROM schema_migrations");
    raw_exec(f, "DELETE FROM schema_migrations WHERE version = 10");
    raw_exec(f, "DROP TABLE sbom_downloads");
    raw_exec(f, "DROP TABLE sbom_packages");
    raw_exec(f, "DROP TABLE sboms");
    int code;
    registry *r = registry_open(f->url, 0, &code, f->err, sizeof f->err);
    if (!r)
        fail_msg("reopen: %s", f->err);
    registry_close(r);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_migrations"), before);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM schema_migrations WHERE version = 10"), 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM sbom_packages"), 0); /* the table is back */
    must_import(f, "web", "w1", "ami-1", NULL, NULL);
    json_t *sb = put_sbom(f, "web", "v1", NULL, "os-packages", "aa", "3.0.2", NULL);
    if (!sb)
        fail_msg("put: %s", f->err);
    json_decref(sb);
}

/* ---- events and the outbox ------------------------------------------------ */

#define HOOK_SECRET "hook-secret-0123456789"

static void make_webhook(fx *f, const char *name, const char *const *events, size_t ne,
                         const char *const *buckets, size_t nb)
{
    reg_webhook_spec s = {name, "https://receiver.example/hook", HOOK_SECRET, events, ne, buckets,
                          nb};
    json_t *w = registry_webhook_create(f->r, &f->ctx, &s, f->err, sizeof f->err);
    if (!w)
        fail_msg("webhook create %s: %s", name, f->err);
    char *text = json_dumps(w, 0);
    if (strstr(text, HOOK_SECRET))
        fail_msg("the webhook object shows its secret: %s", text);
    free(text);
    json_decref(w);
}

/* The actions and "bucket version" of the events, in commit order, as one
 * string: "revoke base v1, revoke mid v1". */
static char *event_list(fx *f)
{
    char *t = raw_text(f, pg_url ? "SELECT string_agg(body, '\n' ORDER BY seq) FROM events"
                                 : "SELECT group_concat(body, char(10)) FROM"
                                   " (SELECT body FROM events ORDER BY seq)");
    char *out = xstrdup("");
    for (char *line = t ? strtok(t, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        json_t *e = json_loads(line, 0, NULL);
        json_t *p = json_object_get(e, "event_payload");
        char *next =
            xasprintf("%s%s%s %s %s", out, *out ? ", " : "",
                      json_string_value(json_object_get(e, "event_action")),
                      json_string_value(json_object_get(json_object_get(p, "bucket"), "name")),
                      json_string_value(json_object_get(json_object_get(p, "version"), "name")));
        free(out);
        out = next;
        json_decref(e);
    }
    free(t);
    return out;
}

static void assert_events(fx *f, const char *want)
{
    char *got = event_list(f);
    if (strcmp(got, want) != 0)
        fail_msg("events:\n  got  %s\n  want %s", got, want);
    free(got);
}

/* Events are rows of the change's own transaction, made only for webhooks
 * that want them; the version the call names comes first. */
static void test_events_in_the_change_transaction(void **state)
{
    fx *f = *state;
    family(f);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, true);
    do_restore(f, "base", "v1");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM events"), 0); /* no webhook: none */
    const char *mid[] = {"mid"}, *rev[] = {"revoke"};
    make_webhook(f, "all", NULL, 0, NULL, 0);
    make_webhook(f, "mid-revokes", rev, 1, mid, 1);
    /* a dry run makes none: it is the revocation in a transaction rolled back */
    reg_revoke dry = {.revoke_at = IG_TIME_NONE};
    json_t *d =
        registry_version_revoke_dry_run(f->r, &f->ctx, "base", "v1", &dry, f->err, sizeof f->err);
    if (!d)
        fail_msg("dry run: %s", f->err);
    json_decref(d);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM events"), 0);
    /* a change that fails leaves neither its rows nor its events */
    fault_inject(f, "event_deliveries", "NEW.webhook_id IS NOT NULL", "injected");
    reg_revoke rv = {.revoke_at = IG_TIME_NONE, .keep_channels = true};
    assert_null(registry_version_revoke(f->r, &f->ctx, "base", "v1", &rv, f->err, sizeof f->err));
    fault_clear(f, "event_deliveries");
    assert_string_equal(status_of(f, "leaf", "v1"), "VERSION_ACTIVE");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM events"), 0);
    /* scheduled, replaced by immediate, restored */
    do_revoke(f, "base", "v1", T0 + HOUR, false, true);
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, true);
    do_restore(f, "base", "v1");
    assert_events(f, "schedule-revocation base v1, schedule-revocation mid v1, "
                     "schedule-revocation leaf v1, revoke base v1, revoke mid v1, revoke leaf v1, "
                     "restore base v1, restore mid v1, restore leaf v1");
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_deliveries d JOIN webhooks w ON"
                                " w.id = d.webhook_id WHERE w.name = 'all'"),
                     9);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_deliveries d JOIN webhooks w ON"
                                " w.id = d.webhook_id WHERE w.name = 'mid-revokes'"),
                     1);
    assert_int_equal(raw_int(f, "SELECT COUNT(DISTINCT seq) FROM event_deliveries d JOIN"
                                " webhooks w ON w.id = d.webhook_id WHERE w.name = 'all'"),
                     9);
}

/* Restore and cancel-revocation reach only versions no longer revoked. */
static void test_events_restore_only_what_is_valid(void **state)
{
    fx *f = *state;
    family(f);
    make_webhook(f, "all", NULL, 0, NULL, 0);
    do_revoke(f, "mid", "v1", IG_TIME_NONE, false, true); /* mid's own: leaf inherits it too */
    do_revoke(f, "base", "v1", IG_TIME_NONE, false, true);
    raw_exec(f, "DELETE FROM events");
    do_restore(f, "base", "v1");
    assert_events(f, "restore base v1"); /* mid and leaf are still revoked (by mid) */
    raw_exec(f, "DELETE FROM event_deliveries; DELETE FROM events");
    do_restore(f, "mid", "v1");
    assert_events(f, "restore mid v1, restore leaf v1");
    raw_exec(f, "DELETE FROM event_deliveries; DELETE FROM events");
    do_revoke(f, "base", "v1", T0 + HOUR, true, false); /* skip descendants */
    do_restore(f, "base", "v1");
    assert_events(f, "schedule-revocation base v1, cancel-revocation base v1");
}

/* Every path makes its events: create and complete (API flow and import),
 * assign (set, rollback, delete of a channel that held a version), delete
 * (a version; every version of a deleted bucket), the payload HCP's. */
static void test_events_paths_and_payload(void **state)
{
    fx *f = *state;
    make_webhook(f, "all", NULL, 0, NULL, 0);
    json_decref(registry_bucket_create(f->r, &f->ctx, "api", NULL, NULL, f->err, sizeof f->err));
    char *bid = api_version_with_build(f, "api", "fp-1", "ami-api");
    build_done(f, "api", "fp-1", bid);
    free(bid);
    must_import(f, "web", "w1", "ami-w1", NULL, "prod");
    must_import(f, "web", "w2", "ami-w2", NULL, NULL);
    set_channel(f, "web", "prod", "v2");
    do_revoke(f, "web", "v2", IG_TIME_NONE, false, false); /* rolls prod back to v1 */
    assert_int_equal(registry_channel_delete(f->r, &f->ctx, "web", "prod", f->err, sizeof f->err),
                     0);
    assert_int_equal(registry_version_delete(f->r, &f->ctx, "web", "v2", f->err, sizeof f->err), 0);
    assert_int_equal(registry_bucket_delete(f->r, &f->ctx, "api", f->err, sizeof f->err), 0);
    assert_events(f, "create api v0, complete api v1, create web v0, complete web v1, "
                     "assign web v1, create web v0, complete web v2, assign web v2, "
                     "revoke web v2, assign web v1, assign web , delete web v2, delete api v1");
    /* the payload of the rollback's assign: the version now held, the one before */
    char *t = raw_text(f, "SELECT body FROM events WHERE action = 'assign' ORDER BY seq DESC"
                          " LIMIT 1 OFFSET 1");
    json_t *e = json_loads(t, 0, NULL);
    free(t);
    json_t *p = json_object_get(e, "event_payload");
    assert_string_equal(json_string_value(json_object_get(e, "event_source")),
                        "hashicorp.packer.version");
    assert_string_equal(json_string_value(json_object_get(e, "event_description")),
                        "Assigned version to channel");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "channel"), "name")),
                        "prod");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p, "previous_version"), "name")), "v2");
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "version"), "status")),
                        "ACTIVE");
    json_t *a = json_array_get(
        json_object_get(json_array_get(json_object_get(p, "builds"), 0), "artifacts"), 0);
    assert_string_equal(json_string_value(json_object_get(a, "external_identifier")), "ami-w1");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(p, "actor"), "principal_id")), "tester");
    json_decref(e);
    /* HCP: the create event carries no builds */
    t = raw_text(f, "SELECT body FROM events WHERE action = 'create' ORDER BY seq LIMIT 1");
    e = json_loads(t, 0, NULL);
    free(t);
    assert_null(json_object_get(json_object_get(e, "event_payload"), "builds"));
    json_decref(e);
}

/* One sender per webhook, the head of its queue only, due or not, and a
 * success recorded once whoever else holds the lease. */
static void test_outbox_lease_order_and_one_success(void **state)
{
    fx *f = *state;
    make_webhook(f, "hook", NULL, 0, NULL, 0);
    must_import(f, "web", "w1", "ami-w1", NULL, "a");
    reg_outbox_hook h, h2;
    reg_outbox_item it, it2;
    reg_ctx now = {"sender", ig_time_now()};
    const int64_t lease = 10000;
    assert_int_equal(registry_outbox_claim(f->r, &now, "A", lease, &h, f->err, sizeof f->err), 1);
    assert_string_equal(h.secret, HOOK_SECRET);
    assert_int_equal(registry_outbox_claim(f->r, &now, "B", lease, &h2, f->err, sizeof f->err), 0);
    assert_int_equal(registry_outbox_next(f->r, &now, "A", lease, h.id, &it, f->err, sizeof f->err),
                     1);
    assert_int_equal(it.attempts, 0);
    reg_outbox_attempt a = {.status = 503,
                            .latency_ms = 3,
                            .response = "busy",
                            .outcome = REG_OUTBOX_RETRY,
                            .next_at = now.now + 60000};
    assert_int_equal(registry_outbox_record(f->r, &now, "A", h.id, &it, &a, f->err, sizeof f->err),
                     0);
    registry_outbox_item_dispose(&it);
    /* the head waits: nothing else of this webhook goes, for anybody */
    assert_int_equal(registry_outbox_next(f->r, &now, "A", lease, h.id, &it, f->err, sizeof f->err),
                     0);
    assert_int_equal(registry_outbox_release(f->r, &now, "A", h.id, f->err, sizeof f->err), 0);
    assert_int_equal(registry_outbox_claim(f->r, &now, "B", lease, &h2, f->err, sizeof f->err), 0);
    /* once due, B takes it; A's lease is gone: its late record is logged, not counted */
    now.now += 60000;
    assert_int_equal(registry_outbox_claim(f->r, &now, "B", lease, &h2, f->err, sizeof f->err), 1);
    assert_int_equal(
        registry_outbox_next(f->r, &now, "B", lease, h2.id, &it2, f->err, sizeof f->err), 1);
    assert_int_equal(it2.attempts, 1);
    a = (reg_outbox_attempt){.status = 200, .outcome = REG_OUTBOX_DELIVERED};
    assert_int_equal(registry_outbox_record(f->r, &now, "A", h.id, &it2, &a, f->err, sizeof f->err),
                     -1);
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    assert_int_equal(
        registry_outbox_record(f->r, &now, "B", h2.id, &it2, &a, f->err, sizeof f->err), 0);
    assert_int_equal(
        registry_outbox_record(f->r, &now, "B", h2.id, &it2, &a, f->err, sizeof f->err), -1);
    int64_t counts[3];
    assert_int_equal(registry_outbox_counts(f->r, counts, f->err, sizeof f->err), 0);
    assert_int_equal(counts[1], 1);
    assert_int_equal(raw_int(f, "SELECT attempts FROM event_deliveries ORDER BY seq LIMIT 1"), 2);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_attempts"), 4); /* every one logged */
    /* retention: only events whose deliveries all finished before the cutoff go */
    assert_int_equal(registry_outbox_prune(f->r, now.now, f->err, sizeof f->err), 0);
    assert_int_equal(registry_outbox_prune(f->r, now.now + 1, f->err, sizeof f->err), 1);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM events"), 2); /* still pending */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_attempts"), 0);
    registry_outbox_item_dispose(&it2);
    registry_outbox_hook_dispose(&h);
    registry_outbox_hook_dispose(&h2);
}

/* Listing, deleting, redelivering; checks on what a webhook may be. */
static void test_webhook_admin(void **state)
{
    fx *f = *state;
    const char *bad_event[] = {"revoked"};
    struct {
        reg_webhook_spec s;
        const char *says;
    } bad[] = {
        {{"a b", "https://x.example/", HOOK_SECRET, NULL, 0, NULL, 0}, "webhook name"},
        {{"h", "ftp://x.example/", HOOK_SECRET, NULL, 0, NULL, 0}, "absolute http"},
        {{"h", "https://user:pw@x.example/", HOOK_SECRET, NULL, 0, NULL, 0}, "user name"},
        {{"h", "https:///path", HOOK_SECRET, NULL, 0, NULL, 0}, "no host"},
        {{"h", "https://x.example/", "short", NULL, 0, NULL, 0}, "secret"},
        {{"h", "https://x.example/", HOOK_SECRET, bad_event, 1, NULL, 0}, "not an event action"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_null(registry_webhook_create(f->r, &f->ctx, &bad[i].s, f->err, sizeof f->err));
        assert_int_equal(registry_errcode(f->r), REG_EINVAL);
        if (!strstr(f->err, bad[i].says))
            fail_msg("case %zu: '%s' not in %s", i, bad[i].says, f->err);
    }
    make_webhook(f, "one", NULL, 0, NULL, 0);
    reg_webhook_spec dup = {"one", "https://x.example/", HOOK_SECRET, NULL, 0, NULL, 0};
    assert_null(registry_webhook_create(f->r, &f->ctx, &dup, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
    must_import(f, "web", "w1", "ami-w1", NULL, NULL);
    char *id = raw_text(f, "SELECT id FROM events");
    assert_null(registry_event_redeliver(f->r, &f->ctx, id, NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ECONFLICT); /* still pending */
    raw_exec(f, "UPDATE event_deliveries SET state = 2");
    json_t *r = registry_event_redeliver(f->r, &f->ctx, id, NULL, f->err, sizeof f->err);
    assert_int_equal(json_array_size(r), 1);
    json_decref(r);
    json_t *d = registry_webhook_deliveries(f->r, "one", 0, f->err, sizeof f->err);
    assert_int_equal(json_array_size(d), 3); /* create, complete, and the redelivery */
    assert_true(json_is_true(json_object_get(json_array_get(d, 0), "redelivery")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "state")),
                        "pending");
    json_decref(d);
    assert_null(
        registry_event_redeliver(f->r, &f->ctx, "packer.event:X", NULL, f->err, sizeof f->err));
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    free(id);
    json_t *l = registry_webhook_list(f->r, f->err, sizeof f->err);
    char *text = json_dumps(l, 0);
    assert_null(strstr(text, HOOK_SECRET));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(l, 0), "pending")), 1);
    free(text);
    json_decref(l);
    assert_int_equal(registry_webhook_delete(f->r, &f->ctx, "one", f->err, sizeof f->err), 0);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_deliveries"), 0);
    assert_int_equal(registry_webhook_delete(f->r, &f->ctx, "one", f->err, sizeof f->err), -1);
    assert_int_equal(registry_errcode(f->r), REG_ENOTFOUND);
    if (!pg_url) { /* a store others may read keeps no secret */
        chmod(f->path, 0644);
        reg_webhook_spec s = {"two", "https://x.example/", HOOK_SECRET, NULL, 0, NULL, 0};
        assert_null(registry_webhook_create(f->r, &f->ctx, &s, f->err, sizeof f->err));
        assert_int_equal(registry_errcode(f->r), REG_ECONFLICT);
        assert_non_null(strstr(f->err, "mode 644"));
    }
}

typedef struct sender {
    const char *url;
    char owner[16];
    int sent;
    char err[512];
} sender;

/* A sender thread: claims webhooks and "delivers" whatever is due. */
static void *sender_main(void *arg)
{
    sender *s = arg;
    int code;
    registry *r = registry_open(s->url, 0, &code, s->err, sizeof s->err);
    for (int idle = 0; r && idle < 20;) {
        reg_ctx ctx = {"sender", ig_time_now()};
        reg_outbox_hook h;
        reg_outbox_item it;
        int got = registry_outbox_claim(r, &ctx, s->owner, 10000, &h, s->err, sizeof s->err);
        idle = got == 1 ? 0 : idle + 1;
        while (got == 1 && registry_outbox_next(r, &ctx, s->owner, 10000, h.id, &it, s->err,
                                                sizeof s->err) == 1) {
            reg_outbox_attempt a = {.status = 200, .outcome = REG_OUTBOX_DELIVERED};
            if (registry_outbox_record(r, &ctx, s->owner, h.id, &it, &a, s->err, sizeof s->err) ==
                0)
                s->sent++;
            registry_outbox_item_dispose(&it);
        }
        if (got == 1)
            registry_outbox_release(r, &ctx, s->owner, h.id, s->err, sizeof s->err);
        registry_outbox_hook_dispose(&h);
    }
    registry_close(r);
    return NULL;
}

/* Senders on their own connections share the outbox: every delivery is
 * recorded delivered once, in its webhook's order. */
static void test_outbox_concurrent_senders(void **state)
{
    fx *f = *state;
    make_webhook(f, "h1", NULL, 0, NULL, 0);
    make_webhook(f, "h2", NULL, 0, NULL, 0);
    make_webhook(f, "h3", NULL, 0, NULL, 0);
    for (int i = 0; i < 4; i++) {
        char fp[16], ami[16];
        snprintf(fp, sizeof fp, "w%d", i);
        snprintf(ami, sizeof ami, "ami-%d", i);
        must_import(f, "web", fp, ami, NULL, "prod"); /* create, complete, assign */
    }
    enum { N = 4 };
    pthread_t t[N];
    sender s[N];
    for (int i = 0; i < N; i++) {
        s[i] = (sender){.url = f->url};
        snprintf(s[i].owner, sizeof s[i].owner, "s%d", i);
        assert_int_equal(pthread_create(&t[i], NULL, sender_main, &s[i]), 0);
    }
    int sent = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        sent += s[i].sent;
    }
    assert_int_equal(sent, 3 * 12);
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_deliveries WHERE state = 1"), 36);
    assert_int_equal(raw_int(f, "SELECT MAX(attempts) FROM event_deliveries"), 1);
    /* in order: within a webhook, a later delivery never finished first */
    assert_int_equal(raw_int(f, "SELECT COUNT(*) FROM event_deliveries a JOIN event_deliveries b"
                                " ON a.webhook_id = b.webhook_id AND a.seq < b.seq"
                                " WHERE a.finished_at > b.finished_at"),
                     0);
}

/* Tests that run on both stores. */
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define COMMON_TESTS                                                                               \
    T(test_fingerprint_rules), T(test_names), T(test_numbering_completion_order_never_reused),     \
        T(test_latest_at_read_time), T(test_immediate_vs_scheduled_clock), T(test_rerevoke_rules), \
        T(test_scheduled_rolls_nothing_back), T(test_inheritance_transitive_same_revoke_at),       \
        T(test_skip_descendants), T(test_child_born_revoked), T(test_late_link_rolls_back),        \
        T(test_result_pages), T(test_build_change_leaves_other_families_alone),                    \
        T(test_inheritance_follows_build_changes), T(test_earliest_wins),                          \
        T(test_child_manual_survives_parent_restore),                                              \
        T(test_restore_removes_what_it_caused_no_reassign), T(test_inheritance_cycle_terminates),  \
        T(test_orphaned_inherited_restore), T(test_rollback_most_recent_valid_or_empty),           \
        T(test_keep_channels), T(test_channel_set_refusals), T(test_latest_cannot_be_assigned),    \
        T(test_console_bucket_reads), T(test_console_audit_filters),                               \
        T(test_channel_history_and_delete), T(test_audit_rows_with_time_and_author),               \
        T(test_manifest_fixtures), T(test_manifest_runs_and_platforms), T(test_manifest_hostile),  \
        T(test_import_idempotent), T(test_import_atomic), T(test_api_flow_and_builds),             \
        T(test_artifact_find_narrowing), T(test_tokens), T(test_deliveries),                       \
        T(test_lists_sort_bytewise), T(test_build_sdk_nulls_and_late_platform),                    \
        T(test_hcp_parents_status), T(test_hcp_template_type), T(test_oauth_tokens),               \
        T(test_hcp_ids_and_hmac_keys), T(test_usage_recorded_and_read),                            \
        T(test_usage_upsert_and_since), T(test_usage_batches_and_pages),                           \
        T(test_runs_listed_newest_first), T(test_revoke_dry_run_changes_nothing),                  \
        T(test_sboms_and_packages), T(test_migration_below_the_latest_is_applied),                 \
        T(test_build_times), T(test_events_in_the_change_transaction),                             \
        T(test_events_restore_only_what_is_valid), T(test_events_paths_and_payload),               \
        T(test_outbox_lease_order_and_one_success), T(test_webhook_admin),                         \
        T(test_outbox_concurrent_senders)

int main(void)
{
    pg_url = getenv("IMAGEGATE_TEST_PG_URL");
    if (pg_url && *pg_url) {
        const struct CMUnitTest tests[] = {
            T(test_pg_open),
            COMMON_TESTS,
            T(test_pg_environment),
            T(test_pg_writers_serialised),
            T(test_pg_claim_skips_locked),
            T(test_pg_reconnects_when_idle_connection_closed),
        };
        return cmocka_run_group_tests_name("registry on PostgreSQL", tests, NULL, NULL);
    }
    pg_url = NULL;
    const struct CMUnitTest tests[] = {
        T(test_open_missing_creates_nothing),
        T(test_import_check_needs_no_store),
        COMMON_TESTS,
    };
    return cmocka_run_group_tests_name("registry on SQLite", tests, NULL, NULL);
}
