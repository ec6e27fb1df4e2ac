/* Fuzz driver: the streaming plan scanner (scan_plan_new/feed/finish), then
 * policy_eval and every report format on what it found.
 *
 * Each input is scanned three times with the same limits:
 *   A  pre-scanner on, fed in pieces whose sizes come from the input's hash
 *      (1 byte to 64 KiB; a boundary can fall anywhere, inside a string, an
 *      escape, a key the pre-scanner must capture);
 *   B  pre-scanner on, fed whole;
 *   C  parse_everything (yajl sees every byte), fed whole.
 * A and B must agree exactly (success and references): chunking is not
 * allowed to matter. When C succeeds, A must succeed with the same
 * references: skipping is lossless. C may fail where A succeeds, because
 * the pre-scanner checks skipped bytes for structure only (skip.h).
 * The limits themselves (depth, configuration bytes, references kept) are
 * sometimes small, chosen from the hash, so their error paths run too. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "rules/rules.h"
#include "scanners/scan.h"

static rules *RS;
static policy *POLICY;

static void init(void)
{
    if (RS)
        return;
    char err[512];
    RS = rules_load(NULL, err, sizeof err);
    FUZZ_CHECK(RS != NULL, "rules_load: %s", err);
    POLICY = policy_default();
}

static uint64_t next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 2685821657736338717ULL;
}

static size_t chunk_size(uint64_t *s)
{
    uint64_t r = next(s);
    switch (r & 3) {
    case 0:
        return 1 + (size_t)((r >> 8) % 4); /* byte by byte */
    case 1:
        return 1 + (size_t)((r >> 8) % 64); /* around the 16/64-byte blocks */
    case 2:
        return 1 + (size_t)((r >> 8) % 4096);
    default:
        return 1 + (size_t)((r >> 8) % 65536);
    }
}

/* Returns 0 with *out, or -1 (err holds the scanner's message). seed 0:
 * feed whole. */
static int scan(const uint8_t *data, size_t size, const scan_limits *lim, uint64_t seed,
                scan_result **out, char *err, size_t errlen)
{
    scan_plan *s = scan_plan_new(RS, lim);
    int rc = -1;
    *out = NULL;
    size_t off = 0;
    while (off < size) {
        size_t n = seed ? chunk_size(&seed) : size;
        if (n > size - off)
            n = size - off;
        if (scan_plan_feed(s, data + off, n, err, errlen) < 0)
            goto out;
        off += n;
    }
    rc = scan_plan_finish(s, out, err, errlen);
    if (rc < 0)
        *out = NULL;
    FUZZ_CHECK(rc < 0 || *out != NULL, "scan_plan_finish: 0 without a result");
out:
    scan_plan_free(s);
    return rc;
}

static bool same_str(const char *a, const char *b)
{
    return (a == NULL) == (b == NULL) && (!a || strcmp(a, b) == 0);
}

static void check_same(const scan_result *a, const scan_result *b, const char *what)
{
    FUZZ_CHECK(a->n_refs == b->n_refs, "%s: %zu vs %zu references", what, a->n_refs, b->n_refs);
    FUZZ_CHECK(a->gated == b->gated && a->resources == b->resources,
               "%s: %zu/%zu vs %zu/%zu gated/resources", what, a->gated, a->resources, b->gated,
               b->resources);
    FUZZ_CHECK(a->refs_truncated == b->refs_truncated, "%s: refs_truncated differs", what);
    for (size_t i = 0; i < a->n_refs; i++) {
        const scan_ref *x = &a->refs[i], *y = &b->refs[i];
        FUZZ_CHECK(x->kind == y->kind && same_str(x->address, y->address) &&
                       same_str(x->attribute, y->attribute) && same_str(x->value, y->value) &&
                       same_str(x->lookup, y->lookup) && same_str(x->bucket, y->bucket) &&
                       same_str(x->fingerprint, y->fingerprint) &&
                       same_str(x->version_id, y->version_id) && same_str(x->channel, y->channel),
                   "%s: reference %zu differs: %s %s = %s / %s %s = %s", what, i,
                   x->address ? x->address : "-", x->attribute ? x->attribute : "-",
                   x->value ? x->value : "-", y->address ? y->address : "-",
                   y->attribute ? y->attribute : "-", y->value ? y->value : "-");
        FUZZ_CHECK(
            x->action == y->action && x->unknown == y->unknown && x->sensitive == y->sensitive &&
                x->recognized == y->recognized && x->unchanged == y->unchanged &&
                x->provenance == y->provenance && x->referenced_by_gated == y->referenced_by_gated,
            "%s: reference %zu (%s) differs in its flags", what, i, x->address ? x->address : "-");
    }
}

/* Invariants of one result on its own. */
static void check_result(const scan_result *r, const scan_limits *lim, size_t size)
{
    FUZZ_CHECK(r->bytes == size, "bytes %llu, input %zu", (unsigned long long)r->bytes, size);
    FUZZ_CHECK(r->gated <= r->resources, "%zu gated of %zu resources", r->gated, r->resources);
    FUZZ_CHECK(r->n_refs <= lim->max_refs, "%zu references kept, limit %zu", r->n_refs,
               lim->max_refs);
    for (size_t i = 0; i < r->n_refs; i++) {
        const scan_ref *x = &r->refs[i];
        FUZZ_CHECK(x->address != NULL, "reference %zu without an address", i);
        FUZZ_CHECK(x->kind < SCAN_REF_CONFIG, "reference %zu of kind %d", i, (int)x->kind);
        if (x->kind == SCAN_REF_MENTION)
            FUZZ_CHECK(x->value && x->lookup, "mention %zu without a value", i);
        if (x->kind != SCAN_REF_DATA && x->value && x->recognized)
            FUZZ_CHECK(x->lookup && x->platform, "recognised reference %zu without lookup", i);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init();
    uint64_t h = fuzz_hash(data, size, FUZZ_HASH_INIT);
    scan_limits lim;
    scan_limits_default(&lim);
    if ((h >> 32) % 8 == 0)
        lim.max_depth = 2 + (size_t)((h >> 40) % 16);
    if ((h >> 35) % 8 == 0)
        lim.max_config_bytes = (size_t)((h >> 44) % 4096);
    if ((h >> 38) % 4 == 0)
        lim.max_refs = (size_t)((h >> 48) % 8);

    char erra[512] = "", errb[512] = "", errc[512] = "";
    scan_result *a, *b, *c;
    int ra = scan(data, size, &lim, h | 1, &a, erra, sizeof erra);
    int rb = scan(data, size, &lim, 0, &b, errb, sizeof errb);
    scan_limits all = lim;
    all.parse_everything = true;
    int rc = scan(data, size, &all, 0, &c, errc, sizeof errc);

    FUZZ_CHECK(ra == rb, "in pieces: %d (%s), whole: %d (%s)", ra, erra, rb, errb);
    FUZZ_CHECK(ra == 0 || erra[0], "an error without a message");
    if (ra == 0) {
        check_result(a, &lim, size);
        check_same(a, b, "pieces vs whole");
    }
    if (rc == 0) {
        FUZZ_CHECK(ra == 0, "skipping refused what a parse of every byte accepts: %s", erra);
        check_result(c, &all, size);
        check_same(a, c, "skipping vs parse_everything");
    }

    if (ra == 0) {
        policy_scope scope = {"acme", "web-prod", 1795165200000LL};
        char err[512];
        policy_report *rep = policy_eval(POLICY, a, &fuzz_lookup, &scope, err, sizeof err);
        if (rep) {
            FUZZ_CHECK(rep->n_findings == rep->count[0] + rep->count[1] + rep->count[2],
                       "finding counts do not add up");
            fuzz_check_report(rep, a, NULL, 0);
            policy_report_free(rep);
        }
    }
    scan_result_free(a);
    scan_result_free(b);
    scan_result_free(c);
    return 0;
}
