/* The streaming SBOM parser of sbom.h.
 *
 * yajl tokenises; this file keeps a stack of frames, one per open object
 * or array, each with the role it plays in either format:
 *
 *   CycloneDX   root.components[] -> component {name, version, purl,
 *               components[] -> component ...}   (metadata is skipped)
 *   SPDX 2.x    root.packages[] -> package {name, versionInfo,
 *               externalRefs[] -> {referenceType: "purl", referenceLocator}}
 *
 * Keys of the root (bomFormat, specVersion, spdxVersion) may come in any
 * order, after the packages too, so both kinds of package are collected
 * while reading and the format is decided at the end. A package gets its
 * slot when its object opens (nested components come after their parent)
 * and is checked when it closes; a package without a name is dropped at
 * the end. Strings are copied into the document's arena only for the
 * fields kept. Everything else is read by yajl (so validated as JSON and
 * UTF-8) and thrown away: memory follows the packages, not the bytes. */
#include "sbom/sbom.h"

#include "common/xalloc.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

typedef enum {
    R_OTHER = 0,
    R_ROOT,
    R_CDX_LIST, /* components[] */
    R_CDX_COMP,
    R_SPDX_LIST, /* root.packages[] */
    R_SPDX_PKG,
    R_REFS, /* a package's externalRefs[] */
    R_REF,
} role;

typedef struct frame {
    role role;
    bool map;
    char key[24]; /* the current key of a map; "" when longer or none */
    size_t slot;  /* the package a component, package or reference belongs to */
    bool ref_purl;
    const char *ref_locator;
} frame;

typedef struct pkg_slot {
    sbom_package p;
    bool spdx; /* else CycloneDX */
} pkg_slot;

struct sbom_parser {
    yajl_handle h;
    sbom_limits lim;
    frame st[SBOM_MAX_DEPTH];
    size_t depth;
    bool started, failed, limit; /* limit: a size or count limit was reached */
    uint64_t bytes;
    pkg_slot *slots;
    size_t n, cap;
    arena strings;
    char bom_format[24], spec_version[24], spdx_version[24];
    bool has_bom_format, has_spec_version, has_spdx_version;
    char err[512];
};

/* ---- helpers ------------------------------------------------------------ */

static int fail(sbom_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(sbom_parser *p, const char *fmt, ...)
{
    if (!p->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err, sizeof p->err, fmt, ap);
        va_end(ap);
    }
    p->failed = true;
    return 0; /* yajl: stop */
}

static frame *top(sbom_parser *p)
{
    return p->depth ? &p->st[p->depth - 1] : NULL;
}

static const char *pkg_label(const sbom_parser *p, size_t slot, char *buf, size_t len)
{
    const char *name = p->slots[slot].p.name;
    snprintf(buf, len, "package %zu%s%.60s%s", slot + 1, name ? " (" : "", name ? name : "",
             name ? ")" : "");
    return buf;
}

/* A kept string field: copied into the arena, bounded by SBOM_MAX_FIELD. */
static int keep(sbom_parser *p, size_t slot, const char *field, const unsigned char *s, size_t n,
                const char **dst)
{
    char where[120];
    if (n > SBOM_MAX_FIELD)
        return fail(p, "%s: %s: longer than %d bytes", pkg_label(p, slot, where, sizeof where),
                    field, SBOM_MAX_FIELD);
    if (memchr(s, '\0', n))
        return fail(p, "%s: %s: contains a NUL character", pkg_label(p, slot, where, sizeof where),
                    field);
    *dst = arena_strndup(&p->strings, (const char *)s, n);
    return 1;
}

static void copy_short(char *dst, size_t dstlen, const unsigned char *s, size_t n)
{
    if (n >= dstlen)
        n = dstlen - 1;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static bool key_is(const frame *f, const char *k)
{
    return f && f->map && strcmp(f->key, k) == 0;
}

/* ---- frames ------------------------------------------------------------- */

static size_t new_slot(sbom_parser *p, bool spdx)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 256;
        p->slots = xrealloc(p->slots, p->cap * sizeof *p->slots);
    }
    memset(&p->slots[p->n], 0, sizeof p->slots[p->n]);
    p->slots[p->n].spdx = spdx;
    return p->n++;
}

/* The role of a container opening as the value of the current key (or as
 * an element of the current array). */
static role child_role(const frame *f, bool map)
{
    if (!f)
        return map ? R_ROOT : R_OTHER;
    if (map) {
        if (f->role == R_CDX_LIST)
            return R_CDX_COMP;
        if (f->role == R_SPDX_LIST)
            return R_SPDX_PKG;
        return f->role == R_REFS ? R_REF : R_OTHER;
    }
    if ((f->role == R_ROOT || f->role == R_CDX_COMP) && key_is(f, "components"))
        return R_CDX_LIST;
    if (f->role == R_ROOT && key_is(f, "packages"))
        return R_SPDX_LIST;
    return f->role == R_SPDX_PKG && key_is(f, "externalRefs") ? R_REFS : R_OTHER;
}

static int push(sbom_parser *p, bool map)
{
    frame *parent = top(p);
    if (!parent && !map)
        return fail(p, "the document is a JSON array, not an SPDX or CycloneDX object");
    if (p->depth == SBOM_MAX_DEPTH)
        return fail(p, "JSON nested deeper than %d levels", SBOM_MAX_DEPTH);
    frame *f = &p->st[p->depth++];
    memset(f, 0, sizeof *f);
    f->map = map;
    f->role = child_role(parent, map);
    f->slot = parent ? parent->slot : 0;
    if (f->role == R_CDX_COMP || f->role == R_SPDX_PKG) {
        size_t max = p->lim.max_packages;
        if (p->n >= max) {
            p->limit = true;
            return fail(p, "more than %zu packages (--max-sbom-packages)", max);
        }
        f->slot = new_slot(p, f->role == R_SPDX_PKG);
    }
    return 1;
}

/* A reference object closes: a purl becomes its package's purl. */
static void ref_done(sbom_parser *p, const frame *f)
{
    sbom_package *pk = &p->slots[f->slot].p;
    if (f->ref_purl && f->ref_locator && !pk->purl)
        pk->purl = f->ref_locator;
}

static int pop(sbom_parser *p)
{
    frame *f = top(p);
    if (f->role == R_REF)
        ref_done(p, f);
    p->depth--;
    return 1;
}

/* ---- yajl callbacks ----------------------------------------------------- */

static int on_start_map(void *ctx)
{
    return push(ctx, true);
}

static int on_start_array(void *ctx)
{
    return push(ctx, false);
}

static int on_end(void *ctx)
{
    return pop(ctx);
}

static int on_key(void *ctx, const unsigned char *s, size_t n)
{
    frame *f = top(ctx);
    if (n < sizeof f->key)
        copy_short(f->key, sizeof f->key, s, n);
    else
        f->key[0] = '\0';
    return 1;
}

static int root_string(sbom_parser *p, const frame *f, const unsigned char *s, size_t n)
{
    if (key_is(f, "bomFormat")) {
        copy_short(p->bom_format, sizeof p->bom_format, s, n);
        p->has_bom_format = true;
    } else if (key_is(f, "specVersion")) {
        copy_short(p->spec_version, sizeof p->spec_version, s, n);
        p->has_spec_version = n < sizeof p->spec_version;
    } else if (key_is(f, "spdxVersion")) {
        copy_short(p->spdx_version, sizeof p->spdx_version, s, n);
        p->has_spdx_version = true;
    }
    return 1;
}

/* name and version of a CycloneDX component or an SPDX package */
static int package_string(sbom_parser *p, const frame *f, const unsigned char *s, size_t n)
{
    sbom_package *pk = &p->slots[f->slot].p;
    bool spdx = f->role == R_SPDX_PKG;
    if (!spdx && key_is(f, "purl"))
        return keep(p, f->slot, "purl", s, n, &pk->purl);
    if (key_is(f, "name"))
        return keep(p, f->slot, "name", s, n, &pk->name);
    if (key_is(f, spdx ? "versionInfo" : "version"))
        return keep(p, f->slot, "version", s, n, &pk->version);
    return 1;
}

static int on_string(void *ctx, const unsigned char *s, size_t n)
{
    sbom_parser *p = ctx;
    frame *f = top(p);
    if (!f)
        return fail(p, "the document is a JSON string, not an SPDX or CycloneDX object");
    switch (f->role) {
    case R_ROOT:
        return root_string(p, f, s, n);
    case R_CDX_COMP:
    case R_SPDX_PKG:
        return package_string(p, f, s, n);
    case R_REF:
        if (key_is(f, "referenceType"))
            f->ref_purl = n == 4 && memcmp(s, "purl", 4) == 0;
        else if (key_is(f, "referenceLocator"))
            return keep(p, f->slot, "purl", s, n, &f->ref_locator);
        return 1;
    default:
        return 1;
    }
}

static int on_scalar(void *ctx)
{
    sbom_parser *p = ctx;
    if (!top(p))
        return fail(p, "the document is a JSON scalar, not an SPDX or CycloneDX object");
    return 1;
}

static int on_null(void *ctx)
{
    return on_scalar(ctx);
}

static int on_bool(void *ctx, int b)
{
    (void)b;
    return on_scalar(ctx);
}

static int on_number(void *ctx, const char *s, size_t n)
{
    (void)s;
    (void)n;
    return on_scalar(ctx);
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_bool,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

/* ---- the parser --------------------------------------------------------- */

sbom_parser *sbom_parser_new(const sbom_limits *lim)
{
    sbom_parser *p = xcalloc(1, sizeof *p);
    if (lim)
        p->lim = *lim;
    if (!p->lim.max_json_bytes)
        p->lim.max_json_bytes = SBOM_DEFAULT_MAX_BYTES;
    if (!p->lim.max_packages)
        p->lim.max_packages = SBOM_DEFAULT_MAX_PACKAGES;
    arena_init(&p->strings);
    p->h = yajl_alloc(&callbacks, NULL, p);
    return p;
}

void sbom_parser_free(sbom_parser *p)
{
    if (!p)
        return;
    yajl_free(p->h);
    free(p->slots);
    arena_dispose(&p->strings);
    free(p);
}

/* yajl's own message for a syntax error, with the byte offset. */
static void syntax_error(sbom_parser *p, const unsigned char *buf, size_t len, uint64_t base)
{
    unsigned char *msg = yajl_get_error(p->h, 0, buf, len);
    uint64_t at = base + yajl_get_bytes_consumed(p->h);
    char text[200];
    copy_short(text, sizeof text, msg, strcspn((const char *)msg, "\n"));
    yajl_free_error(p->h, msg);
    fail(p, "malformed JSON at byte %llu: %s", (unsigned long long)at, text);
}

int sbom_parser_feed(sbom_parser *p, const void *buf, size_t len, char *err, size_t errlen)
{
    if (!p->failed && len) {
        uint64_t base = p->bytes;
        p->bytes += len;
        if (p->bytes > p->lim.max_json_bytes && (p->limit = true))
            fail(p, "the SBOM is larger than %llu bytes (--max-sbom-bytes)",
                 (unsigned long long)p->lim.max_json_bytes);
        else if (yajl_parse(p->h, buf, len) != yajl_status_ok && !p->failed)
            syntax_error(p, buf, len, base);
        p->started = true;
    }
    if (p->failed)
        snprintf(err, errlen, "%s", p->err);
    return p->failed ? (p->limit ? -2 : -1) : 0;
}

/* ---- the end: format and packages ---------------------------------------- */

/* "1.5" -> true; "SPDX-2.3" after the prefix likewise. */
static bool minor_of(const char *s, char major)
{
    if (s[0] != major || s[1] != '.' || !s[2])
        return false;
    for (const char *c = s + 2; *c; c++)
        if (!isdigit((unsigned char)*c))
            return false;
    return true;
}

static int decide_format(sbom_parser *p, sbom_doc *out)
{
    if (p->has_spdx_version && (p->has_bom_format || p->has_spec_version))
        return fail(p, "the document has both spdxVersion (SPDX) and bomFormat/specVersion "
                       "(CycloneDX)");
    if (p->has_spdx_version) {
        if (strncmp(p->spdx_version, "SPDX-", 5) != 0 || !minor_of(p->spdx_version + 5, '2'))
            return fail(p, "spdxVersion: '%s' is not SPDX 2.x (imagegate reads SPDX 2.x JSON)",
                        p->spdx_version);
        out->format = SBOM_FORMAT_SPDX;
        snprintf(out->spec_version, sizeof out->spec_version, "%s", p->spdx_version);
        return 1;
    }
    if (!p->has_bom_format)
        return fail(p, "neither SPDX 2.x (no spdxVersion) nor CycloneDX 1.x (no bomFormat)");
    if (strcasecmp(p->bom_format, "CycloneDX") != 0)
        return fail(p, "bomFormat: '%s' is not CycloneDX", p->bom_format);
    if (!p->has_spec_version || !minor_of(p->spec_version, '1'))
        return fail(
            p, "specVersion: %s%s%s is not a CycloneDX 1.x version", p->has_spec_version ? "'" : "",
            p->has_spec_version ? p->spec_version : "missing", p->has_spec_version ? "'" : "");
    out->format = SBOM_FORMAT_CYCLONEDX;
    snprintf(out->spec_version, sizeof out->spec_version, "%s", p->spec_version);
    return 1;
}

/* The packages of the chosen format that have a name, with their types. */
static void collect(sbom_parser *p, sbom_doc *out)
{
    bool spdx = out->format == SBOM_FORMAT_SPDX;
    out->packages = xcalloc(p->n ? p->n : 1, sizeof *out->packages);
    for (size_t i = 0; i < p->n; i++) {
        sbom_package pk = p->slots[i].p;
        if (p->slots[i].spdx != spdx || !pk.name || !*pk.name)
            continue;
        char type[32];
        sbom_purl_type(pk.purl, type, sizeof type);
        pk.type = arena_strdup(&p->strings, type);
        if (!pk.version)
            pk.version = "";
        if (!pk.purl)
            pk.purl = "";
        out->packages[out->n_packages++] = pk;
    }
    out->strings = p->strings; /* moved */
    arena_init(&p->strings);
}

int sbom_parser_finish(sbom_parser *p, sbom_doc *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    arena_init(&out->strings);
    if (!p->failed && !p->started)
        fail(p, "the SBOM is empty");
    if (!p->failed && yajl_complete_parse(p->h) != yajl_status_ok && !p->failed)
        syntax_error(p, (const unsigned char *)"", 0, p->bytes);
    if (!p->failed)
        decide_format(p, out);
    if (p->failed) {
        snprintf(err, errlen, "%s", p->err);
        return p->limit ? -2 : -1;
    }
    collect(p, out);
    out->json_bytes = p->bytes;
    return 0;
}

int sbom_parse(const void *json, size_t len, const sbom_limits *lim, sbom_doc *out, char *err,
               size_t errlen)
{
    sbom_parser *p = sbom_parser_new(lim);
    int rc = sbom_parser_feed(p, json, len, err, errlen);
    if (rc == 0)
        rc = sbom_parser_finish(p, out, err, errlen);
    else
        memset(out, 0, sizeof *out), arena_init(&out->strings);
    sbom_parser_free(p);
    return rc;
}

void sbom_doc_dispose(sbom_doc *d)
{
    if (!d)
        return;
    free(d->packages);
    arena_dispose(&d->strings);
    memset(d, 0, sizeof *d);
}

/* ---- names, formats, purls ----------------------------------------------- */

const char *sbom_format_name(sbom_format f)
{
    return f == SBOM_FORMAT_SPDX ? "SPDX" : f == SBOM_FORMAT_CYCLONEDX ? "CYCLONEDX" : "";
}

int sbom_format_parse(const char *s, sbom_format *out)
{
    if (s && strcasecmp(s, "SPDX") == 0)
        *out = SBOM_FORMAT_SPDX;
    else if (s && strcasecmp(s, "CYCLONEDX") == 0)
        *out = SBOM_FORMAT_CYCLONEDX;
    else
        return -1;
    return 0;
}

int sbom_name_check(const char *name, char *err, size_t errlen)
{
    size_t n = name ? strlen(name) : 0;
    bool ok = n >= SBOM_NAME_MIN && n <= SBOM_NAME_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = isalnum((unsigned char)name[i]) || name[i] == '-' || name[i] == '_';
    if (ok)
        return 0;
    snprintf(err, errlen, "SBOM name '%.40s': must be %d-%d letters, digits, '-' or '_'",
             name ? name : "", SBOM_NAME_MIN, SBOM_NAME_MAX);
    return -1;
}

void sbom_name_from(const char *s, char out[SBOM_NAME_MAX + 1])
{
    char buf[SBOM_NAME_MAX + 1];
    size_t n = 0;
    for (; s && s[n] && n < SBOM_NAME_MAX; n++)
        buf[n] = isalnum((unsigned char)s[n]) || s[n] == '_' ? s[n] : '-';
    buf[n] = '\0';
    if (n < SBOM_NAME_MIN) { /* "sbom-" and at most 2 characters */
        memcpy(out, "sbom-", 5);
        memcpy(out + 5, buf, n + 1);
    } else {
        memcpy(out, buf, n + 1);
    }
}

int sbom_purl_type(const char *purl, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!purl || strncasecmp(purl, "pkg:", 4) != 0)
        return -1;
    const char *t = purl + 4;
    while (*t == '/')
        t++;
    size_t n = strcspn(t, "/@?#");
    if (n == 0 || n >= outlen || t[n] != '/')
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != '+')
            return (out[0] = '\0'), -1;
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return 0;
}
