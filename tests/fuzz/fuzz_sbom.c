/* Fuzz driver: the sbom/ module -- SPDX / CycloneDX documents as an upload
 * or `imagegate sbom add` hands them over, the zstd wire form, and the
 * version comparators the package search runs on their versions.
 *
 * Properties: a document parsed whole and in two chunks (at a point the
 * input chooses) gives the same answer and the same packages; every package
 * of a success has a name, fields within SBOM_MAX_FIELD and a type that is
 * what sbom_purl_type says of its purl; a failure has a message. The input
 * is also tried as zstd frames under a 1 MiB cap. Two versions taken from
 * the input compare antisymmetrically under every scheme. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "sbom/sbom.h"

static void check_doc(const sbom_doc *d)
{
    FUZZ_CHECK(d->format == SBOM_FORMAT_SPDX || d->format == SBOM_FORMAT_CYCLONEDX, "format %d",
               d->format);
    for (size_t i = 0; i < d->n_packages; i++) {
        const sbom_package *p = &d->packages[i];
        FUZZ_CHECK(p->name && *p->name && p->version && p->purl && p->type, "package %zu", i);
        FUZZ_CHECK(strlen(p->name) <= SBOM_MAX_FIELD && strlen(p->version) <= SBOM_MAX_FIELD &&
                       strlen(p->purl) <= SBOM_MAX_FIELD,
                   "package %zu: a field past the limit", i);
        char t[32];
        sbom_purl_type(p->purl, t, sizeof t);
        FUZZ_CHECK(strcmp(t, p->type) == 0, "package %zu: type %s, purl says %s", i, p->type, t);
    }
}

static void check_same(const sbom_doc *a, const sbom_doc *b)
{
    FUZZ_CHECK(a->n_packages == b->n_packages, "%zu vs %zu packages", a->n_packages, b->n_packages);
    for (size_t i = 0; i < a->n_packages; i++)
        FUZZ_CHECK(strcmp(a->packages[i].name, b->packages[i].name) == 0 &&
                       strcmp(a->packages[i].version, b->packages[i].version) == 0 &&
                       strcmp(a->packages[i].purl, b->packages[i].purl) == 0,
                   "package %zu differs when chunked", i);
}

static void parse_twice(const uint8_t *data, size_t size)
{
    sbom_limits lim = {.max_json_bytes = 1 << 20, .max_packages = 2000};
    char err[512] = "", err2[512] = "";
    sbom_doc whole, parts;
    int rc = sbom_parse(data, size, &lim, &whole, err, sizeof err);
    FUZZ_CHECK(rc == 0 || err[0], "a failure without a message");
    size_t cut = size ? (size_t)(fuzz_hash(data, size, FUZZ_HASH_INIT) % size) : 0;
    sbom_parser *p = sbom_parser_new(&lim);
    int rc2 = sbom_parser_feed(p, data, cut, err2, sizeof err2);
    if (rc2 == 0)
        rc2 = sbom_parser_feed(p, data + cut, size - cut, err2, sizeof err2);
    if (rc2 == 0)
        rc2 = sbom_parser_finish(p, &parts, err2, sizeof err2);
    else
        memset(&parts, 0, sizeof parts);
    sbom_parser_free(p);
    FUZZ_CHECK(rc == rc2, "whole %d, in two chunks %d (%s / %s)", rc, rc2, err, err2);
    if (rc == 0) {
        check_doc(&whole);
        check_same(&whole, &parts);
        sbom_doc_dispose(&parts);
    }
    sbom_doc_dispose(&whole);
}

static void versions(const uint8_t *data, size_t size)
{
    char a[64], b[64];
    size_t n = size < 126 ? size : 126, half = n / 2;
    memcpy(a, data, half);
    a[half] = '\0';
    memcpy(b, data + half, n - half);
    b[n - half] = '\0';
    if (strlen(a) != half || strlen(b) != n - half)
        return;
    for (int s = SBOM_VER_GENERIC; s <= SBOM_VER_SEMVER; s++) {
        int ab = sbom_vercmp((sbom_vscheme)s, a, b), ba = sbom_vercmp((sbom_vscheme)s, b, a);
        FUZZ_CHECK((ab < 0) == (ba > 0) && (ab == 0) == (ba == 0),
                   "scheme %d: cmp(%s, %s) = %d but cmp(b, a) = %d", s, a, b, ab, ba);
    }
    sbom_version_query_cmp("deb", a, b);
    sbom_version_query_cmp("rpm", a, b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    parse_twice(data, size);
    sbom_limits lim = {.max_json_bytes = 1 << 20, .max_packages = 2000};
    sbom_doc d;
    char err[512] = "";
    if (sbom_parse_zstd(data, size, &lim, &d, err, sizeof err) == 0)
        check_doc(&d);
    else
        FUZZ_CHECK(err[0], "a zstd failure without a message");
    sbom_doc_dispose(&d);
    versions(data, size);
    return 0;
}
