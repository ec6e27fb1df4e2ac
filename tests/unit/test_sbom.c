/* Unit tests for sbom/: SPDX and CycloneDX parsing, the zstd/base64 wire
 * form with its caps, and the version comparators (with dpkg's, rpm's and
 * semver's own documented examples). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/xalloc.h"
#include "sbom/sbom.h"

#include <zstd.h>

static char *slurp(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/sboms/%s", IG_FIXTURES, name);
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

static const sbom_package *find(const sbom_doc *d, const char *name)
{
    for (size_t i = 0; i < d->n_packages; i++)
        if (strcmp(d->packages[i].name, name) == 0)
            return &d->packages[i];
    return NULL;
}

/* ---- parsing ---------------------------------------------------------------- */

static void test_cyclonedx(void **state)
{
    (void)state;
    size_t len;
    char *json = slurp("web-ubuntu-v1.cdx.json", &len), err[512];
    sbom_doc d;
    assert_int_equal(sbom_parse(json, len, NULL, &d, err, sizeof err), 0);
    assert_int_equal(d.format, SBOM_FORMAT_CYCLONEDX);
    assert_string_equal(d.spec_version, "1.5");
    assert_int_equal(d.n_packages, 7); /* 5 top-level, 2 nested; metadata.component skipped */
    const sbom_package *p = find(&d, "openssl");
    assert_non_null(p);
    assert_string_equal(p->version, "3.0.2-0ubuntu1.15");
    assert_string_equal(p->type, "deb");
    assert_string_equal(p->purl,
                        "pkg:deb/ubuntu/openssl@3.0.2-0ubuntu1.15?arch=amd64&distro=ubuntu-22.04");
    p = find(&d, "lodash"); /* nested under the application */
    assert_non_null(p);
    assert_string_equal(p->type, "npm");
    assert_null(find(&d, "web-ubuntu"));
    assert_int_equal(d.json_bytes, len);
    sbom_doc_dispose(&d);
    free(json);
}

static void test_spdx(void **state)
{
    (void)state;
    size_t len;
    char *json = slurp("base-al2023-v1.spdx.json", &len), err[512];
    sbom_doc d;
    assert_int_equal(sbom_parse(json, len, NULL, &d, err, sizeof err), 0);
    assert_int_equal(d.format, SBOM_FORMAT_SPDX);
    assert_string_equal(d.spec_version, "SPDX-2.3");
    assert_int_equal(d.n_packages, 4);
    const sbom_package *p = find(&d, "openssl");
    assert_string_equal(p->version, "1:3.0.8-1.amzn2023.0.9");
    assert_string_equal(p->type, "rpm"); /* the purl, not the cpe23Type reference before it */
    sbom_doc_dispose(&d);
    free(json);
    json = slurp("app-java-v1.spdx.json", &len);
    assert_int_equal(sbom_parse(json, len, NULL, &d, err, sizeof err), 0);
    p = find(&d, "app"); /* no externalRefs: no purl, no type */
    assert_non_null(p);
    assert_string_equal(p->purl, "");
    assert_string_equal(p->type, "");
    assert_string_equal(find(&d, "log4j-core")->type, "maven");
    sbom_doc_dispose(&d);
    free(json);
}

/* Fed one byte at a time, the parser finds the same packages. */
static void test_chunked(void **state)
{
    (void)state;
    size_t len;
    char *json = slurp("app-java-v1.spdx.json", &len), err[512];
    sbom_parser *p = sbom_parser_new(NULL);
    for (size_t i = 0; i < len; i++)
        assert_int_equal(sbom_parser_feed(p, json + i, 1, err, sizeof err), 0);
    sbom_doc d;
    assert_int_equal(sbom_parser_finish(p, &d, err, sizeof err), 0);
    assert_int_equal(d.n_packages, 5);
    assert_string_equal(find(&d, "openjdk-17-jre-headless")->version,
                        "17.0.8.1+1~us1-0ubuntu1~22.04");
    sbom_doc_dispose(&d);
    sbom_parser_free(p);
    free(json);
}

/* -1 for bad input, -2 for a limit reached (the API's 400 and 413). */
static void expect_refused(const char *json, const char *needle)
{
    char err[512] = "";
    sbom_doc d;
    sbom_limits lim = {.max_packages = 3};
    int want = strstr(needle, "more than") ? -2 : -1;
    assert_int_equal(sbom_parse(json, strlen(json), &lim, &d, err, sizeof err), want);
    if (!strstr(err, needle))
        fail_msg("'%s': error '%s' does not say '%s'", json, err, needle);
    assert_int_equal(d.n_packages, 0);
    sbom_doc_dispose(&d);
}

static void test_refused(void **state)
{
    (void)state;
    expect_refused("", "empty");
    expect_refused("{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"1.5\"", "malformed JSON");
    expect_refused("{\"bomFormat\": \"CycloneDX\", \"specVersion\": 1.5}", "specVersion: missing");
    expect_refused("{\"bomFormat\": \"SWID\", \"specVersion\": \"1.5\"}", "not CycloneDX");
    expect_refused("{\"bomFormat\": \"CycloneDX\", \"specVersion\": \"2.0\"}",
                   "not a CycloneDX 1.x");
    expect_refused("{\"spdxVersion\": \"SPDX-3.0\"}", "not SPDX 2.x");
    expect_refused("{\"@context\": \"https://spdx.org/rdf/3.0.1/spdx-context.jsonld\"}",
                   "neither SPDX 2.x");
    expect_refused("{\"spdxVersion\": \"SPDX-2.3\", \"bomFormat\": \"CycloneDX\"}", "both");
    expect_refused("[{\"spdxVersion\": \"SPDX-2.3\"}]", "JSON array");
    expect_refused("\"SPDX-2.3\"", "JSON string");
    expect_refused("{\"spdxVersion\": \"SPDX-2.3\"} {}", "malformed JSON");
    expect_refused("{\"spdxVersion\": \"SPDX-2.3\", \"packages\": [{\"name\": \"a\xff\"}]}",
                   "malformed JSON");
    expect_refused("{\"spdxVersion\": \"SPDX-2.3\", \"packages\": [{}, {}, {}, {}]}",
                   "more than 3 packages");
    strbuf b = STRBUF_INIT;
    strbuf_puts(&b, "{\"bomFormat\": \"CycloneDX\", \"x\": ");
    for (int i = 0; i < SBOM_MAX_DEPTH + 5; i++)
        strbuf_putc(&b, '[');
    expect_refused(b.s, "nested deeper than");
    strbuf_reset(&b);
    strbuf_puts(&b, "{\"bomFormat\": \"CycloneDX\", \"components\": [{\"name\": \"");
    for (int i = 0; i <= SBOM_MAX_FIELD; i++)
        strbuf_putc(&b, 'a');
    strbuf_puts(&b, "\"}]}");
    expect_refused(b.s, "name: longer than 4096 bytes");
    strbuf_dispose(&b);
}

static void test_size_cap(void **state)
{
    (void)state;
    const char *json = "{\"spdxVersion\": \"SPDX-2.3\", \"packages\": []}";
    char err[512];
    sbom_doc d;
    sbom_limits lim = {.max_json_bytes = 10};
    assert_int_equal(sbom_parse(json, strlen(json), &lim, &d, err, sizeof err), -2);
    assert_non_null(strstr(err, "larger than 10 bytes"));
    lim.max_json_bytes = strlen(json);
    assert_int_equal(sbom_parse(json, strlen(json), &lim, &d, err, sizeof err), 0);
    assert_int_equal(d.n_packages, 0);
    sbom_doc_dispose(&d);
}

static void test_names_formats_purls(void **state)
{
    (void)state;
    char err[256], t[32];
    sbom_format f;
    assert_int_equal(sbom_format_parse("cyclonedx", &f), 0);
    assert_int_equal(f, SBOM_FORMAT_CYCLONEDX);
    assert_string_equal(sbom_format_name(SBOM_FORMAT_SPDX), "SPDX");
    assert_int_equal(sbom_format_parse("SWID", &f), -1);
    assert_int_equal(sbom_name_check("os-packages", err, sizeof err), 0);
    assert_int_equal(sbom_name_check("a_b", err, sizeof err), 0);
    assert_int_equal(sbom_name_check("ab", err, sizeof err), -1);
    assert_int_equal(sbom_name_check("a.b.c", err, sizeof err), -1);
    assert_int_equal(sbom_name_check("0123456789012345678901234567890123456", err, sizeof err), -1);
    assert_int_equal(sbom_purl_type("pkg:RPM/fedora/curl@7.50.3-1.fc25?arch=i386", t, sizeof t), 0);
    assert_string_equal(t, "rpm");
    assert_int_equal(sbom_purl_type("pkg:golang/github.com/gorilla/context@v1.1.1", t, sizeof t),
                     0);
    assert_string_equal(t, "golang");
    assert_int_equal(sbom_purl_type("cpe:2.3:a:openssl", t, sizeof t), -1);
    assert_int_equal(sbom_purl_type("pkg:deb", t, sizeof t), -1);
    assert_int_equal(sbom_purl_type("pkg:de b/x@1", t, sizeof t), -1);
    assert_string_equal(t, "");
}

/* ---- the wire form ------------------------------------------------------------ */

static void test_zstd_roundtrip(void **state)
{
    (void)state;
    size_t len, zlen, plen, jlen;
    char *json = slurp("golden-base-v1.cdx.json", &len), err[512], *back;
    void *z;
    assert_int_equal(sbom_zstd_compress(json, len, &z, &zlen, err, sizeof err), 0);
    char *b64 = sbom_b64_encode(z, zlen);
    assert_int_equal(strlen(b64) % 4, 0);
    unsigned char *plain;
    assert_int_equal(sbom_b64_decode(b64, strlen(b64), &plain, &plen, err, sizeof err), 0);
    assert_int_equal(plen, zlen);
    assert_memory_equal(plain, z, zlen);
    sbom_doc d;
    assert_int_equal(sbom_parse_zstd(plain, plen, NULL, &d, err, sizeof err), 0);
    assert_int_equal(d.json_bytes, len);
    assert_int_equal(strlen(d.sha256), 64);
    assert_non_null(find(&d, "openssh-server"));
    assert_int_equal(sbom_zstd_decompress(plain, plen, len, &back, &jlen, err, sizeof err), 0);
    assert_int_equal(jlen, len);
    assert_memory_equal(back, json, len);
    /* one byte under the size: refused */
    free(back);
    assert_int_equal(sbom_zstd_decompress(plain, plen, len - 1, &back, &jlen, err, sizeof err), -1);
    assert_non_null(strstr(err, "--max-sbom-bytes"));
    sbom_doc_dispose(&d);
    free(plain);
    free(b64);
    free(z);
    free(json);
}

/* 64 MiB of a JSON document's first bytes and then spaces compress to a
 * few KiB; with a 4 MiB cap the bomb is refused, whether its header
 * declares the size or not. */
static void test_zstd_bomb(void **state)
{
    (void)state;
    size_t n = 64u << 20, zlen;
    char *zeros = xmalloc(n), err[512];
    memset(zeros, ' ', n);
    const char *head = "{\"spdxVersion\": \"SPDX-2.3\", \"packages\": [";
    memcpy(zeros, head, strlen(head));
    void *z;
    assert_int_equal(sbom_zstd_compress(zeros, n, &z, &zlen, err, sizeof err), 0);
    assert_true(zlen < 64 * 1024);
    sbom_doc d;
    sbom_limits lim = {.max_json_bytes = 4u << 20};
    assert_int_equal(sbom_parse_zstd(z, zlen, &lim, &d, err, sizeof err), -2);
    assert_non_null(strstr(err, "--max-sbom-bytes"));
    assert_non_null(strstr(err, "decompresses to 67108864 bytes")); /* the header said so */
    free(z);
    /* the same zeros without a content size in the header: stopped by the
     * running count of decompressed bytes */
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, 0);
    z = xmalloc(ZSTD_compressBound(n));
    ZSTD_outBuffer out = {z, ZSTD_compressBound(n), 0};
    ZSTD_inBuffer in = {zeros, n, 0};
    assert_int_equal(ZSTD_compressStream2(cc, &out, &in, ZSTD_e_end), 0);
    ZSTD_freeCCtx(cc);
    assert_true(ZSTD_getFrameContentSize(z, out.pos) == ZSTD_CONTENTSIZE_UNKNOWN);
    assert_int_equal(sbom_parse_zstd(z, out.pos, &lim, &d, err, sizeof err), -2);
    if (!strstr(err, "decompresses to more than 4194304 bytes"))
        fail_msg("%s", err);
    free(z);
    free(zeros);
}

static void test_zstd_garbage(void **state)
{
    (void)state;
    char err[512];
    sbom_doc d;
    assert_int_equal(
        sbom_parse_zstd("{\"spdxVersion\": \"SPDX-2.3\"}", 27, NULL, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a zstd frame"));
    const char *json = "{\"spdxVersion\": \"SPDX-2.3\", \"packages\": []}";
    void *z;
    size_t zlen;
    assert_int_equal(sbom_zstd_compress(json, strlen(json), &z, &zlen, err, sizeof err), 0);
    assert_int_equal(sbom_parse_zstd(z, zlen - 3, NULL, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "truncated"));
    assert_int_equal(sbom_parse_zstd(z, 0, NULL, &d, err, sizeof err), -1);
    /* a valid frame holding something that is no SBOM */
    free(z);
    assert_int_equal(sbom_zstd_compress("[1,2]", 5, &z, &zlen, err, sizeof err), 0);
    assert_int_equal(sbom_parse_zstd(z, zlen, NULL, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "JSON array"));
    free(z);
}

static void test_b64(void **state)
{
    (void)state;
    char err[256];
    unsigned char *out;
    size_t n;
    assert_int_equal(sbom_b64_decode("aGk=", 4, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_memory_equal(out, "hi", 2);
    free(out);
    assert_int_equal(sbom_b64_decode("", 0, &out, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    free(out);
    assert_int_equal(sbom_b64_decode("aGk", 3, &out, &n, err, sizeof err), -1);
    assert_int_equal(sbom_b64_decode("aG-=", 4, &out, &n, err, sizeof err), -1);
    assert_int_equal(sbom_b64_decode("a=k=", 4, &out, &n, err, sizeof err), -1);
    char *e = sbom_b64_encode("hi!", 3);
    assert_string_equal(e, "aGkh");
    free(e);
}

/* ---- versions ----------------------------------------------------------------- */

#define LT(fn, a, b)                                                                               \
    do {                                                                                           \
        if (!((fn)(a, b) < 0 && (fn)(b, a) > 0))                                                   \
            fail_msg("%s: expected %s < %s", #fn, a, b);                                           \
    } while (0)
#define EQ(fn, a, b)                                                                               \
    do {                                                                                           \
        if ((fn)(a, b) != 0 || (fn)(b, a) != 0)                                                    \
            fail_msg("%s: expected %s == %s", #fn, a, b);                                          \
    } while (0)

/* deb-version(7) and dpkg's t-version.c. */
static void test_vercmp_deb(void **state)
{
    (void)state;
    /* "~~" < "~~a" < "~" < "" < "a" (deb-version(7)) */
    LT(sbom_vercmp_deb, "1.0~~", "1.0~~a");
    LT(sbom_vercmp_deb, "1.0~~a", "1.0~");
    LT(sbom_vercmp_deb, "1.0~", "1.0");
    LT(sbom_vercmp_deb, "1.0", "1.0a");
    EQ(sbom_vercmp_deb, "0:1.0", "1.0");
    EQ(sbom_vercmp_deb, "1.0", "1.0-0"); /* no revision is revision 0 */
    EQ(sbom_vercmp_deb, "1.001", "1.1");
    LT(sbom_vercmp_deb, "1.0", "1.0-1");
    LT(sbom_vercmp_deb, "1:9.9", "2:1.0");
    LT(sbom_vercmp_deb, "9.9", "1:0.1");
    LT(sbom_vercmp_deb, "1.0", "1.0.0");
    LT(sbom_vercmp_deb, "1.0a", "1.0+"); /* letters before other characters */
    LT(sbom_vercmp_deb, "1.0", "1.0+b1");
    LT(sbom_vercmp_deb, "1.2.3", "1.2.10");
    LT(sbom_vercmp_deb, "3.0.2-0ubuntu1.10", "3.0.2-0ubuntu1.15");
    LT(sbom_vercmp_deb, "3.0.2-0ubuntu1.18", "3.0.7");
    LT(sbom_vercmp_deb, "3.0.7~rc1-1", "3.0.7");
    LT(sbom_vercmp_deb, "3.0.11-1~deb12u1", "3.0.11-1");
    LT(sbom_vercmp_deb, "3.0.11-1~deb12u1", "3.0.11-1~deb12u2");
    LT(sbom_vercmp_deb, "2.30-1", "2.30-1+b1");
    LT(sbom_vercmp_deb, "1.2-3-4", "1.2-3-5"); /* the revision is after the last '-' */
    LT(sbom_vercmp_deb, "99999999999999999999", "100000000000000000000"); /* no overflow */
}

/* rpm's rpmvercmp.at. */
static void test_vercmp_rpm(void **state)
{
    (void)state;
    EQ(sbom_vercmp_rpm, "1.0", "1.0");
    LT(sbom_vercmp_rpm, "1.0", "2.0");
    LT(sbom_vercmp_rpm, "2.0", "2.0.1");
    LT(sbom_vercmp_rpm, "2.0.1", "2.0.1a");
    LT(sbom_vercmp_rpm, "5.5p1", "5.5p2");
    LT(sbom_vercmp_rpm, "5.5p2", "5.5p10");
    LT(sbom_vercmp_rpm, "10xyz", "10.1xyz");
    LT(sbom_vercmp_rpm, "xyz10", "xyz10.1");
    EQ(sbom_vercmp_rpm, "xyz.4", "xyz.4");
    LT(sbom_vercmp_rpm, "xyz.4", "8");
    LT(sbom_vercmp_rpm, "xyz.4", "2");
    LT(sbom_vercmp_rpm, "5.5p2", "5.6p1");
    LT(sbom_vercmp_rpm, "5.6p1", "6.5p1");
    LT(sbom_vercmp_rpm, "6.0", "6.0.rc1");
    LT(sbom_vercmp_rpm, "10a1", "10b2");
    EQ(sbom_vercmp_rpm, "1.0aa", "1.0aa");
    LT(sbom_vercmp_rpm, "1.0a", "1.0aa");
    LT(sbom_vercmp_rpm, "a", "b");
    EQ(sbom_vercmp_rpm, "1b.fc17", "1b.fc17");
    LT(sbom_vercmp_rpm, "1b.fc17", "1.fc17");
    LT(sbom_vercmp_rpm, "1.fc17", "1g.fc17");
    EQ(sbom_vercmp_rpm, "1.0", "1_0");
    EQ(sbom_vercmp_rpm, "1..0", "1.0");
    LT(sbom_vercmp_rpm, "1.0~rc1", "1.0");
    LT(sbom_vercmp_rpm, "1.0~rc1", "1.0~rc2");
    LT(sbom_vercmp_rpm, "1.0~rc1~git123", "1.0~rc1");
    LT(sbom_vercmp_rpm, "1.0", "1.0^");
    LT(sbom_vercmp_rpm, "1.0", "1.0^git1");
    LT(sbom_vercmp_rpm, "1.0^git1", "1.01");
    LT(sbom_vercmp_rpm, "1.0^git1", "1.0^git2");
    LT(sbom_vercmp_rpm, "1.0^20160101", "1.0.1");
    LT(sbom_vercmp_rpm, "1.0~rc1", "1.0~rc1^git1");
    LT(sbom_vercmp_rpm, "1.0^git1~pre", "1.0^git1");
    /* epoch, then version, then the release only when both have one */
    LT(sbom_vercmp_rpm, "3.0.8-1.amzn2023", "1:3.0.7-1.amzn2023");
    EQ(sbom_vercmp_rpm, "3.0.7", "3.0.7-27.el9");
    LT(sbom_vercmp_rpm, "3.0.7-26.el9", "3.0.7-27.el9");
}

/* semver.org, section 11. */
static void test_vercmp_semver(void **state)
{
    (void)state;
    static const char *const order[] = {
        "1.0.0-alpha",  "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
        "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1",       "1.0.0",
        "2.0.0",        "2.1.0",         "v2.1.1+build.5",   "2.10.0",
    };
    bool valid;
    for (size_t i = 0; i + 1 < sizeof order / sizeof order[0]; i++) {
        if (!(sbom_vercmp_semver(order[i], order[i + 1], &valid) < 0 && valid))
            fail_msg("semver: expected %s < %s", order[i], order[i + 1]);
        assert_true(sbom_vercmp_semver(order[i + 1], order[i], &valid) > 0);
    }
    assert_int_equal(sbom_vercmp_semver("1.0.0+a", "1.0.0+b", &valid), 0);
    assert_true(valid);
    sbom_vercmp_semver("1.0", "1.0.0", &valid);
    assert_false(valid);
    sbom_vercmp_semver("01.0.0", "1.0.0", &valid);
    assert_false(valid);
    sbom_vercmp_semver("1.0.0-01", "1.0.0", &valid);
    assert_false(valid);
}

static void test_version_query(void **state)
{
    (void)state;
    assert_int_equal(sbom_vscheme_for("deb"), SBOM_VER_DEB);
    assert_int_equal(sbom_vscheme_for("RPM"), SBOM_VER_RPM);
    assert_int_equal(sbom_vscheme_for("golang"), SBOM_VER_SEMVER);
    assert_int_equal(sbom_vscheme_for("pypi"), SBOM_VER_GENERIC);
    assert_int_equal(sbom_vscheme_for(""), SBOM_VER_GENERIC);
    /* a query without an epoch ignores the package's */
    assert_true(sbom_version_query_cmp("rpm", "1:3.0.2-1", "3.0.7") < 0);
    assert_true(sbom_version_query_cmp("rpm", "1:3.0.8-1", "3.0.7") > 0);
    assert_true(sbom_version_query_cmp("rpm", "1:3.0.2-1", "0:3.0.7") > 0);
    assert_true(sbom_version_query_cmp("deb", "1:8.9p1-3", "9.0") < 0);
    assert_true(sbom_version_query_cmp("deb", "3.0.7-1", "3.0.7") > 0);
    assert_int_equal(sbom_version_query_cmp("rpm", "3.0.7-27.el9", "3.0.7"), 0);
    assert_true(sbom_version_query_cmp("npm", "4.17.20", "4.17.21") < 0);
    assert_true(sbom_version_query_cmp("npm", "2.0.0-rc.1", "2.0.0") < 0);
    assert_true(sbom_version_query_cmp("golang", "v1.2.3", "1.10.0") < 0);
    assert_true(sbom_version_query_cmp("", "2.17.1", "2.17.10") < 0);
    assert_true(sbom_version_query_cmp("maven", "2.17.1", "2.3") > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cyclonedx),      cmocka_unit_test(test_spdx),
        cmocka_unit_test(test_chunked),        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_size_cap),       cmocka_unit_test(test_names_formats_purls),
        cmocka_unit_test(test_zstd_roundtrip), cmocka_unit_test(test_zstd_bomb),
        cmocka_unit_test(test_zstd_garbage),   cmocka_unit_test(test_b64),
        cmocka_unit_test(test_vercmp_deb),     cmocka_unit_test(test_vercmp_rpm),
        cmocka_unit_test(test_vercmp_semver),  cmocka_unit_test(test_version_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
