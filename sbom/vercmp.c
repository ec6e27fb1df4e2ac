/* Version comparison by package type (sbom.h), for `packages find
 * --version-below`.
 *
 *   Debian   dpkg's algorithm (lib/dpkg/version.c, deb-version(7)): epoch
 *            as a number, then upstream version and revision, each compared
 *            as alternating non-digit runs (letters before other characters,
 *            '~' before everything, even the end) and digit runs (as
 *            numbers); a missing epoch is 0 and a missing revision
 *            compares equal to "0", as deb-version(7) says.
 *   RPM      rpmvercmp (rpm 4.15+, rpmio/rpmvercmp.c): alphanumeric
 *            segments, separators ignored, digits newer than letters, '~'
 *            sorts before and '^' after the base version; epoch first, the
 *            release only when both sides have one (rpmverCmp).
 *   semver   2.0.0 precedence (section 11): numbers, then a pre-release
 *            sorts before its release, identifiers compared one by one;
 *            build metadata ignored; a leading 'v' (Go modules) allowed.
 *   generic  everything else: rpmvercmp over the whole string.
 *
 * Digit runs are compared as strings (leading zeros dropped, then length,
 * then bytes), so no version overflows an integer. Nothing allocates. */
#include "sbom/sbom.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

/* ---- dpkg ----------------------------------------------------------------- */

static int deb_order(int c)
{
    if (isdigit(c))
        return 0;
    if (isalpha(c))
        return c;
    if (c == '~')
        return -1;
    return c ? c + 256 : 0;
}

/* verrevcmp over a[0..an) and b[0..bn). */
static int deb_part(const char *a, size_t an, const char *b, size_t bn)
{
    const char *ae = a + an, *be = b + bn;
#define AC (a < ae ? (unsigned char)*a : 0)
#define BC (b < be ? (unsigned char)*b : 0)
    while (a < ae || b < be) {
        while ((AC && !isdigit(AC)) || (BC && !isdigit(BC))) {
            int ac = deb_order(AC), bc = deb_order(BC);
            if (ac != bc)
                return ac - bc;
            a++;
            b++;
        }
        while (AC == '0')
            a++;
        while (BC == '0')
            b++;
        int first_diff = 0;
        while (isdigit(AC) && isdigit(BC)) {
            if (!first_diff)
                first_diff = AC - BC;
            a++;
            b++;
        }
        if (isdigit(AC))
            return 1;
        if (isdigit(BC))
            return -1;
        if (first_diff)
            return first_diff;
    }
    return 0;
#undef AC
#undef BC
}

typedef struct evr {
    const char *e, *v, *r; /* e NULL: no epoch; r NULL: no release */
    size_t en, vn, rn;
} evr;

/* [epoch:]version[-release]: the epoch ends at the first ':', the release
 * starts after the last '-'. */
static evr evr_split(const char *s)
{
    evr x = {0};
    const char *colon = strchr(s, ':');
    if (colon) {
        x.e = s;
        x.en = (size_t)(colon - s);
        s = colon + 1;
    }
    const char *dash = strrchr(s, '-');
    x.v = s;
    x.vn = dash ? (size_t)(dash - s) : strlen(s);
    if (dash) {
        x.r = dash + 1;
        x.rn = strlen(dash + 1);
    }
    return x;
}

/* Compares two digit strings as numbers (non-digits end them). */
static int num_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    while (an && *a == '0')
        a++, an--;
    while (bn && *b == '0')
        b++, bn--;
    if (an != bn)
        return an > bn ? 1 : -1;
    int rc = memcmp(a, b, an);
    return (rc > 0) - (rc < 0);
}

int sbom_vercmp_deb(const char *a, const char *b)
{
    evr x = evr_split(a), y = evr_split(b);
    int rc = num_cmp(x.e ? x.e : "0", x.e ? x.en : 1, y.e ? y.e : "0", y.e ? y.en : 1);
    if (!rc)
        rc = deb_part(x.v, x.vn, y.v, y.vn);
    if (!rc)
        rc = deb_part(x.r ? x.r : "", x.rn, y.r ? y.r : "", y.rn);
    return (rc > 0) - (rc < 0);
}

/* ---- rpmvercmp -------------------------------------------------------------- */

static bool rpm_sep(int c)
{
    return c && !isalnum(c) && c != '~' && c != '^';
}

static size_t run(const char *s, const char *e, int (*cls)(int))
{
    const char *p = s;
    while (p < e && cls((unsigned char)*p))
        p++;
    return (size_t)(p - s);
}

/* The '~' and '^' rules at the current position; 2 when neither applies. */
static int rpm_tilde_caret(const char **a, const char *ae, const char **b, const char *be)
{
    int ac = *a < ae ? (unsigned char)**a : 0, bc = *b < be ? (unsigned char)**b : 0;
    if (ac == '~' || bc == '~') {
        if (ac != '~')
            return 1;
        if (bc != '~')
            return -1;
    } else if (ac == '^' || bc == '^') {
        if (!ac)
            return -1;
        if (!bc)
            return 1;
        if (ac != '^')
            return 1;
        if (bc != '^')
            return -1;
    } else {
        return 2;
    }
    (*a)++;
    (*b)++;
    return 0;
}

static int rpm_part(const char *a, size_t an, const char *b, size_t bn)
{
    const char *ae = a + an, *be = b + bn;
    if (an == bn && memcmp(a, b, an) == 0)
        return 0;
    while (a < ae || b < be) {
        while (a < ae && rpm_sep((unsigned char)*a))
            a++;
        while (b < be && rpm_sep((unsigned char)*b))
            b++;
        int tc = rpm_tilde_caret(&a, ae, &b, be);
        if (tc == 0)
            continue;
        if (tc != 2)
            return tc;
        if (!(a < ae && b < be))
            break;
        bool isnum = isdigit((unsigned char)*a);
        size_t la = run(a, ae, isnum ? isdigit : isalpha),
               lb = run(b, be, isnum ? isdigit : isalpha);
        if (lb == 0)
            return isnum ? 1 : -1;
        int rc;
        if (isnum) {
            rc = num_cmp(a, la, b, lb);
        } else {
            rc = memcmp(a, b, la < lb ? la : lb);
            rc = rc ? rc : (la > lb) - (la < lb);
        }
        if (rc)
            return rc < 0 ? -1 : 1;
        a += la;
        b += lb;
    }
    if (a >= ae && b >= be)
        return 0;
    return a >= ae ? -1 : 1;
}

int sbom_vercmp_rpm(const char *a, const char *b)
{
    evr x = evr_split(a), y = evr_split(b);
    int rc = rpm_part(x.e ? x.e : "0", x.e ? x.en : 1, y.e ? y.e : "0", y.e ? y.en : 1);
    if (!rc)
        rc = rpm_part(x.v, x.vn, y.v, y.vn);
    if (!rc && x.r && y.r)
        rc = rpm_part(x.r, x.rn, y.r, y.rn);
    return rc;
}

int sbom_vercmp_generic(const char *a, const char *b)
{
    return rpm_part(a, strlen(a), b, strlen(b));
}

/* ---- semver ----------------------------------------------------------------- */

typedef struct semver {
    const char *num[3];
    size_t numn[3];
    const char *pre; /* NULL: a release */
    size_t pren;
} semver;

static bool numeric_id(const char *s, size_t n)
{
    if (n == 0 || n != run(s, s + n, isdigit))
        return false;
    return n == 1 || s[0] != '0';
}

static bool ident_ok(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-')
            return false;
    return n > 0;
}

/* Each dot-separated identifier of s[0..n) passes ok (and numeric ones
 * have no leading zero when strict). */
static bool idents_ok(const char *s, size_t n, bool strict)
{
    const char *e = s + n;
    while (s <= e) {
        const char *dot = memchr(s, '.', (size_t)(e - s));
        size_t len = dot ? (size_t)(dot - s) : (size_t)(e - s);
        if (!ident_ok(s, len))
            return false;
        if (strict && run(s, s + len, isdigit) == len && !numeric_id(s, len))
            return false;
        if (!dot)
            break;
        s = dot + 1;
    }
    return true;
}

static bool semver_parse(const char *s, semver *v)
{
    memset(v, 0, sizeof *v);
    if (*s == 'v' || *s == 'V')
        s++;
    size_t core = strcspn(s, "-+");
    const char *p = s, *e = s + core;
    for (int i = 0; i < 3; i++) {
        size_t n = run(p, e, isdigit);
        if (!numeric_id(p, n) || (i < 2 && (p + n >= e || p[n] != '.')) || (i == 2 && p + n != e))
            return false;
        v->num[i] = p;
        v->numn[i] = n;
        p += n + 1;
    }
    if (s[core] == '-') {
        v->pre = s + core + 1;
        v->pren = strcspn(v->pre, "+");
        if (!idents_ok(v->pre, v->pren, true))
            return false;
    }
    const char *plus = strchr(s, '+');
    return !plus || idents_ok(plus + 1, strlen(plus + 1), false);
}

static int pre_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    const char *ae = a + an, *be = b + bn;
    for (;;) {
        size_t la = strcspn(a, ".+"), lb = strcspn(b, ".+");
        la = a + la > ae ? (size_t)(ae - a) : la;
        lb = b + lb > be ? (size_t)(be - b) : lb;
        bool na = run(a, a + la, isdigit) == la, nb = run(b, b + lb, isdigit) == lb;
        int rc;
        if (na && nb)
            rc = num_cmp(a, la, b, lb);
        else if (na != nb)
            rc = na ? -1 : 1;
        else
            rc = memcmp(a, b, la < lb ? la : lb), rc = rc ? rc : (int)la - (int)lb;
        if (rc)
            return rc < 0 ? -1 : 1;
        bool enda = a + la >= ae, endb = b + lb >= be;
        if (enda || endb)
            return enda && endb ? 0 : enda ? -1 : 1;
        a += la + 1;
        b += lb + 1;
    }
}

int sbom_vercmp_semver(const char *a, const char *b, bool *valid)
{
    semver x, y;
    *valid = semver_parse(a, &x) && semver_parse(b, &y);
    if (!*valid)
        return sbom_vercmp_generic(a, b);
    for (int i = 0; i < 3; i++) {
        int rc = num_cmp(x.num[i], x.numn[i], y.num[i], y.numn[i]);
        if (rc)
            return rc;
    }
    if (!x.pre || !y.pre)
        return x.pre ? -1 : y.pre ? 1 : 0;
    return pre_cmp(x.pre, x.pren, y.pre, y.pren);
}

/* ---- schemes ----------------------------------------------------------------- */

sbom_vscheme sbom_vscheme_for(const char *type)
{
    static const char *const semver_types[] = {"npm",      "cargo", "golang", "nuget",
                                               "composer", "hex",   "pub",    "swift"};
    if (!type)
        return SBOM_VER_GENERIC;
    if (strcasecmp(type, "deb") == 0)
        return SBOM_VER_DEB;
    if (strcasecmp(type, "rpm") == 0)
        return SBOM_VER_RPM;
    for (size_t i = 0; i < sizeof semver_types / sizeof semver_types[0]; i++)
        if (strcasecmp(type, semver_types[i]) == 0)
            return SBOM_VER_SEMVER;
    return SBOM_VER_GENERIC;
}

const char *sbom_vscheme_name(sbom_vscheme s)
{
    switch (s) {
    case SBOM_VER_DEB:
        return "debian";
    case SBOM_VER_RPM:
        return "rpm";
    case SBOM_VER_SEMVER:
        return "semver";
    default:
        return "generic";
    }
}

int sbom_vercmp(sbom_vscheme s, const char *a, const char *b)
{
    bool valid;
    switch (s) {
    case SBOM_VER_DEB:
        return sbom_vercmp_deb(a, b);
    case SBOM_VER_RPM:
        return sbom_vercmp_rpm(a, b);
    case SBOM_VER_SEMVER:
        return sbom_vercmp_semver(a, b, &valid);
    default:
        return sbom_vercmp_generic(a, b);
    }
}

/* "1:3.0.2-1" -> "3.0.2-1" when the epoch is all digits. */
static const char *without_epoch(const char *v)
{
    const char *colon = strchr(v, ':');
    if (!colon || colon == v || run(v, colon, isdigit) != (size_t)(colon - v))
        return v;
    return colon + 1;
}

int sbom_version_query_cmp(const char *type, const char *version, const char *query)
{
    sbom_vscheme s = sbom_vscheme_for(type);
    if ((s == SBOM_VER_DEB || s == SBOM_VER_RPM) && !strchr(query, ':'))
        version = without_epoch(version);
    return sbom_vercmp(s, version, query);
}

bool sbom_version_rule_keep(const char *type, const char *version, void *rule)
{
    const sbom_version_rule *r = rule;
    if (r->below)
        return sbom_version_query_cmp(type, version, r->below) < 0;
    return !r->equal || sbom_version_query_cmp(type, version, r->equal) == 0;
}
