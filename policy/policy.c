/* Policy: the default levels, the policy file, and evaluation.
 *
 * Evaluation turns each scanner reference into a few findings (an image
 * finding -- revoked, revocation_scheduled, untracked, tracked, unknown,
 * launch_resolved, unrecognized -- then outdated and stale when they apply,
 * plus `hardcoded` when the value is written into the configuration), asks
 * the caller's registry through the policy_lookup interface (answers are
 * cached per image, bucket and version for the evaluation, so 2000
 * instances of one image cost one lookup), applies the levels of the
 * policy (defaults, then every matching override in file order), then
 * exemptions, and derives the verdict. No clock, no store, no globals: all
 * of that comes in through the parameters (the freshness policy's ages are
 * counted to the scope's time). */
#include "policy/policy.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/numparse.h"
#include "common/strbuf.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "common/ydoc.h"

static const struct {
    const char *name; /* as printed */
    const char *key;  /* in the policy file */
    policy_level level;
} KINDS[PK__COUNT] = {
    [PK_REVOKED] = {"revoked", "revoked", POLICY_FAIL},
    [PK_REVOKED_UNCHANGED] = {"revoked", "revoked_unchanged", POLICY_WARN},
    [PK_DATA_SOURCE_REVOKED] = {"data_source_revoked", "data_source_revoked", POLICY_FAIL},
    [PK_DATA_SOURCE_REVOKED_UNREFERENCED] = {"data_source_revoked",
                                             "data_source_revoked_unreferenced", POLICY_INFO},
    [PK_REVOCATION_SCHEDULED] = {"revocation_scheduled", "revocation_scheduled", POLICY_WARN},
    [PK_UNTRACKED] = {"untracked", "untracked", POLICY_WARN},
    [PK_HARDCODED] = {"hardcoded", "hardcoded", POLICY_WARN},
    [PK_MENTION] = {"mention", "mention", POLICY_INFO},
    [PK_MENTION_REVOKED] = {"mention", "mention_revoked", POLICY_WARN},
    [PK_UNKNOWN] = {"unknown", "unknown", POLICY_INFO},
    [PK_UNRECOGNIZED] = {"unrecognized", "unrecognized", POLICY_INFO},
    [PK_LAUNCH_RESOLVED] = {"launch_resolved", "launch_resolved", POLICY_WARN},
    [PK_OUTDATED] = {"outdated", "outdated", POLICY_INFO},
    [PK_OUTDATED_BEHIND] = {"outdated", "outdated_behind", POLICY_WARN},
    [PK_STALE] = {"stale", "stale", POLICY_WARN},
    [PK_TRACKED] = {"tracked", "tracked", POLICY_INFO},
};

const char *policy_kind_name(policy_kind k)
{
    return k < PK__COUNT ? KINDS[k].name : "unknown";
}

const char *policy_kind_description(policy_kind k)
{
    static const char *d[PK__COUNT] = {
        [PK_REVOKED] = "A created or replaced resource uses an image whose version is revoked",
        [PK_REVOKED_UNCHANGED] = "An updated resource keeps an image whose version is revoked",
        [PK_DATA_SOURCE_REVOKED] = "An HCP Packer data source resolves to a revoked version",
        [PK_DATA_SOURCE_REVOKED_UNREFERENCED] =
            "An unused HCP Packer data source resolves to a revoked version",
        [PK_REVOCATION_SCHEDULED] = "The image's version has a revocation scheduled",
        [PK_UNTRACKED] = "The image is not in the registry",
        [PK_HARDCODED] = "The image ID is written into the configuration instead of looked up",
        [PK_MENTION] = "An image ID appears outside an image attribute",
        [PK_MENTION_REVOKED] = "A revoked image ID appears outside an image attribute",
        [PK_UNKNOWN] = "The image is known only after apply",
        [PK_UNRECOGNIZED] = "The image attribute holds something that is not an image ID",
        [PK_LAUNCH_RESOLVED] =
            "EC2 resolves the image from an SSM parameter at launch: it cannot be checked now",
        [PK_OUTDATED] = "A channel of the image's bucket holds a newer version",
        [PK_OUTDATED_BEHIND] =
            "The image's version is more versions behind than the freshness policy allows",
        [PK_STALE] = "The image is older than the freshness policy's max_age",
        [PK_TRACKED] = "The image is tracked and valid",
    };
    return k < PK__COUNT ? d[k] : "";
}

bool policy_kind_records_usage(policy_kind k)
{
    static const bool uses[PK__COUNT] = {
        [PK_REVOKED] = true,  [PK_REVOKED_UNCHANGED] = true, [PK_REVOCATION_SCHEDULED] = true,
        [PK_OUTDATED] = true, [PK_OUTDATED_BEHIND] = true,   [PK_STALE] = true,
        [PK_TRACKED] = true,
    };
    return k < PK__COUNT && uses[k];
}

const char *policy_kind_key(policy_kind k)
{
    return k < PK__COUNT ? KINDS[k].key : "unknown";
}

static const char *LEVELS[] = {"info", "warn", "fail"};

const char *policy_level_name(policy_level l)
{
    return l <= POLICY_FAIL ? LEVELS[l] : "info";
}

int policy_level_parse(const char *s, policy_level *out)
{
    for (int i = 0; i < 3; i++)
        if (strcmp(s, LEVELS[i]) == 0) {
            *out = (policy_level)i;
            return 0;
        }
    return -1;
}

const char *policy_verdict_name(policy_verdict v)
{
    return v == POLICY_VERDICT_FAIL ? "fail" : v == POLICY_VERDICT_WARN ? "warn" : "pass";
}

/* ---- the policy object ------------------------------------------------ */

typedef struct override {
    char *organization, *workspace; /* globs, NULL = any */
    int level[PK__COUNT];           /* -1 = unchanged */
} override;

typedef struct exemption {
    char *image; /* or bucket + version */
    char *bucket, *version;
    char *reason;
    ig_time expires;                /* IG_TIME_NONE = never */
    char *organization, *workspace; /* globs, NULL = any */
    unsigned kinds;                 /* bit per policy_kind, 0 = all */
} exemption;

/* freshness: the top level (bucket NULL) or one entry of its buckets list.
 * A key not given is -1: a bucket entry inherits it from the top. */
typedef struct fresh_rule {
    char *bucket;       /* glob; NULL at the top */
    int64_t max_age;    /* ms */
    char *max_age_text; /* as written ("30d") */
    int64_t max_behind; /* max_versions_behind */
} fresh_rule;

struct policy {
    policy_level level[PK__COUNT];
    override *overrides;
    size_t n_overrides;
    exemption *exemptions;
    size_t n_exemptions;
    fresh_rule fresh;          /* freshness: max_age, max_versions_behind */
    fresh_rule *fresh_buckets; /* freshness.buckets, first match wins */
    size_t n_fresh_buckets;
};

policy *policy_default(void)
{
    policy *p = xcalloc(1, sizeof *p);
    for (int k = 0; k < PK__COUNT; k++)
        p->level[k] = KINDS[k].level;
    p->fresh.max_age = p->fresh.max_behind = -1;
    return p;
}

void policy_free(policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_overrides; i++) {
        free(p->overrides[i].organization);
        free(p->overrides[i].workspace);
    }
    free(p->overrides);
    for (size_t i = 0; i < p->n_exemptions; i++) {
        exemption *e = &p->exemptions[i];
        free(e->image);
        free(e->bucket);
        free(e->version);
        free(e->reason);
        free(e->organization);
        free(e->workspace);
    }
    free(p->exemptions);
    free(p->fresh.max_age_text);
    for (size_t i = 0; i < p->n_fresh_buckets; i++) {
        free(p->fresh_buckets[i].bucket);
        free(p->fresh_buckets[i].max_age_text);
    }
    free(p->fresh_buckets);
    free(p);
}

static int kind_by_key(const char *key)
{
    for (int k = 0; k < PK__COUNT; k++)
        if (strcmp(KINDS[k].key, key) == 0)
            return k;
    return -1;
}

static int scalar_str(const ynode *n, const char *name, const char *what, char **out, char *err,
                      size_t errlen)
{
    if (!n || n->type != YNODE_SCALAR || !*n->value) {
        snprintf(err, errlen, "%s:%d: %s must be a non-empty string", name, n ? n->line : 0, what);
        return -1;
    }
    *out = xstrdup(n->value);
    return 0;
}

static int load_levels(const ynode *m, const char *name, int *levels, char *err, size_t errlen)
{
    if (m->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: levels must map finding kinds to info, warn or fail", name,
                 m->line);
        return -1;
    }
    for (size_t i = 0; i < m->n; i++) {
        int k = kind_by_key(m->keys[i]);
        if (k < 0) {
            snprintf(err, errlen,
                     "%s:%d: unknown finding kind '%.40s' (see docs/policy.md for the list)", name,
                     m->key_lines[i], m->keys[i]);
            return -1;
        }
        policy_level lv;
        const ynode *v = m->items[i];
        if (v->type != YNODE_SCALAR || policy_level_parse(v->value, &lv)) {
            snprintf(err, errlen, "%s:%d: %s: level must be info, warn or fail", name, v->line,
                     m->keys[i]);
            return -1;
        }
        levels[k] = (int)lv;
    }
    return 0;
}

static int check_keys(const ynode *m, const char *name, const char *const *allowed, char *err,
                      size_t errlen)
{
    for (size_t i = 0; i < m->n; i++) {
        int ok = 0;
        for (const char *const *a = allowed; *a; a++)
            ok |= strcmp(*a, m->keys[i]) == 0;
        if (!ok) {
            snprintf(err, errlen, "%s:%d: unknown key '%.40s'", name, m->key_lines[i], m->keys[i]);
            return -1;
        }
    }
    return 0;
}

static int load_date(const ynode *n, const char *name, ig_time *out, char *err, size_t errlen)
{
    char e2[200];
    if (n->type != YNODE_SCALAR)
        goto bad;
    /* a plain date means the end of that day (UTC) */
    if (strlen(n->value) == 10) {
        char buf[40];
        snprintf(buf, sizeof buf, "%sT23:59:59Z", n->value);
        if (ig_time_parse(buf, out, e2, sizeof e2) == 0)
            return 0;
    } else if (ig_time_parse(n->value, out, e2, sizeof e2) == 0) {
        return 0;
    }
bad:
    snprintf(err, errlen, "%s:%d: expires: '%.40s' is not a date (2026-12-31) or RFC 3339 time",
             name, n->line, n->type == YNODE_SCALAR ? n->value : "");
    return -1;
}

static int load_exemption(policy *p, const ynode *m, const char *name, char *err, size_t errlen)
{
    static const char *const allowed[] = {"image",     "bucket",  "version",
                                          "reason",    "expires", "organization",
                                          "workspace", "kinds",   NULL};
    if (m->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: an exemption is a mapping (image or bucket+version, reason)",
                 name, m->line);
        return -1;
    }
    if (check_keys(m, name, allowed, err, errlen))
        return -1;
    p->exemptions = xrealloc(p->exemptions, (p->n_exemptions + 1) * sizeof *p->exemptions);
    exemption *e = &p->exemptions[p->n_exemptions++];
    memset(e, 0, sizeof *e);
    e->expires = IG_TIME_NONE;
    const ynode *n;
    if ((n = ydoc_get(m, "image")) && scalar_str(n, name, "image", &e->image, err, errlen))
        return -1;
    if ((n = ydoc_get(m, "bucket")) && scalar_str(n, name, "bucket", &e->bucket, err, errlen))
        return -1;
    if ((n = ydoc_get(m, "version")) && scalar_str(n, name, "version", &e->version, err, errlen))
        return -1;
    if ((n = ydoc_get(m, "organization")) &&
        scalar_str(n, name, "organization", &e->organization, err, errlen))
        return -1;
    if ((n = ydoc_get(m, "workspace")) &&
        scalar_str(n, name, "workspace", &e->workspace, err, errlen))
        return -1;
    if (scalar_str(ydoc_get(m, "reason"), name, "reason", &e->reason, err, errlen)) {
        if (!ydoc_get(m, "reason"))
            snprintf(err, errlen, "%s:%d: an exemption needs a reason", name, m->line);
        return -1;
    }
    if ((n = ydoc_get(m, "expires")) && load_date(n, name, &e->expires, err, errlen))
        return -1;
    if (!e->image && !(e->bucket && e->version)) {
        snprintf(err, errlen, "%s:%d: an exemption names an image, or a bucket and a version", name,
                 m->line);
        return -1;
    }
    if ((n = ydoc_get(m, "kinds"))) {
        if (n->type != YNODE_SEQ) {
            snprintf(err, errlen, "%s:%d: kinds must be a list", name, n->line);
            return -1;
        }
        for (size_t i = 0; i < n->n; i++) {
            const ynode *k = n->items[i];
            int found = 0;
            for (int x = 0; k->type == YNODE_SCALAR && x < PK__COUNT; x++)
                if (strcmp(KINDS[x].key, k->value) == 0 || strcmp(KINDS[x].name, k->value) == 0) {
                    e->kinds |= 1u << x;
                    found = 1;
                }
            if (!found) {
                snprintf(err, errlen, "%s:%d: unknown finding kind in kinds", name, k->line);
                return -1;
            }
        }
    }
    return 0;
}

static int load_override(policy *p, const ynode *m, const char *name, char *err, size_t errlen)
{
    static const char *const allowed[] = {"organization", "workspace", "levels", NULL};
    if (m->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: an override is a mapping (organization, workspace, levels)",
                 name, m->line);
        return -1;
    }
    if (check_keys(m, name, allowed, err, errlen))
        return -1;
    p->overrides = xrealloc(p->overrides, (p->n_overrides + 1) * sizeof *p->overrides);
    override *o = &p->overrides[p->n_overrides++];
    memset(o, 0, sizeof *o);
    for (int k = 0; k < PK__COUNT; k++)
        o->level[k] = -1;
    const ynode *n;
    if ((n = ydoc_get(m, "organization")) &&
        scalar_str(n, name, "organization", &o->organization, err, errlen))
        return -1;
    if ((n = ydoc_get(m, "workspace")) &&
        scalar_str(n, name, "workspace", &o->workspace, err, errlen))
        return -1;
    n = ydoc_get(m, "levels");
    if (!n) {
        snprintf(err, errlen, "%s:%d: an override needs levels", name, m->line);
        return -1;
    }
    return load_levels(n, name, o->level, err, errlen);
}

/* max_age and max_versions_behind of a freshness mapping (top or entry). */
static int load_fresh_limits(const ynode *m, const char *name, fresh_rule *fr, char *err,
                             size_t errlen)
{
    const ynode *n;
    char e2[160];
    fr->max_age = fr->max_behind = -1;
    if ((n = ydoc_get(m, "max_age"))) {
        if (n->type != YNODE_SCALAR || ig_duration_parse(n->value, &fr->max_age, e2, sizeof e2) ||
            fr->max_age <= 0) {
            snprintf(err, errlen,
                     "%s:%d: max_age must be a duration longer than 0 (180d, 12w, 36h)", name,
                     n->line);
            return -1;
        }
        fr->max_age_text = xstrdup(n->value);
    }
    if ((n = ydoc_get(m, "max_versions_behind")) &&
        (n->type != YNODE_SCALAR || parse_int64("max_versions_behind", n->value, 0, 1000000,
                                                &fr->max_behind, e2, sizeof e2))) {
        snprintf(err, errlen, "%s:%d: max_versions_behind must be a whole number from 0 to 1000000",
                 name, n->line);
        return -1;
    }
    return 0;
}

static int load_fresh_bucket(policy *p, const ynode *m, const char *name, char *err, size_t errlen)
{
    static const char *const allowed[] = {"bucket", "max_age", "max_versions_behind", NULL};
    if (m->type != YNODE_MAP) {
        snprintf(err, errlen,
                 "%s:%d: a freshness.buckets entry is a mapping (bucket, max_age, "
                 "max_versions_behind)",
                 name, m->line);
        return -1;
    }
    if (check_keys(m, name, allowed, err, errlen))
        return -1;
    p->fresh_buckets =
        xrealloc(p->fresh_buckets, (p->n_fresh_buckets + 1) * sizeof *p->fresh_buckets);
    fresh_rule *fr = &p->fresh_buckets[p->n_fresh_buckets++];
    memset(fr, 0, sizeof *fr);
    if (load_fresh_limits(m, name, fr, err, errlen))
        return -1;
    const ynode *b = ydoc_get(m, "bucket");
    if (!b) {
        snprintf(err, errlen, "%s:%d: a freshness.buckets entry needs a bucket (a glob)", name,
                 m->line);
        return -1;
    }
    return scalar_str(b, name, "bucket", &fr->bucket, err, errlen);
}

/* freshness: {max_age, max_versions_behind, buckets: [{bucket, ...}]} */
static int load_freshness(policy *p, const ynode *m, const char *name, char *err, size_t errlen)
{
    static const char *const allowed[] = {"max_age", "max_versions_behind", "buckets", NULL};
    if (m->type != YNODE_MAP) {
        snprintf(err, errlen,
                 "%s:%d: freshness is a mapping (max_age, max_versions_behind, buckets)", name,
                 m->line);
        return -1;
    }
    if (check_keys(m, name, allowed, err, errlen) ||
        load_fresh_limits(m, name, &p->fresh, err, errlen))
        return -1;
    const ynode *n = ydoc_get(m, "buckets");
    if (!n)
        return 0;
    if (n->type != YNODE_SEQ) {
        snprintf(err, errlen, "%s:%d: freshness.buckets must be a list", name, n->line);
        return -1;
    }
    for (size_t i = 0; i < n->n; i++)
        if (load_fresh_bucket(p, n->items[i], name, err, errlen))
            return -1;
    return 0;
}

static policy *load_doc(const ynode *doc, const char *name, char *err, size_t errlen)
{
    static const char *const allowed[] = {"levels",  "overrides", "exemptions",
                                          "version", "freshness", NULL};
    policy *p = policy_default();
    if (doc->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: a policy file is a mapping (levels, overrides, exemptions)",
                 name, doc->line);
        goto fail;
    }
    if (check_keys(doc, name, allowed, err, errlen))
        goto fail;
    const ynode *n = ydoc_get(doc, "levels");
    if (n) {
        int lv[PK__COUNT];
        for (int k = 0; k < PK__COUNT; k++)
            lv[k] = (int)p->level[k];
        if (load_levels(n, name, lv, err, errlen))
            goto fail;
        for (int k = 0; k < PK__COUNT; k++)
            p->level[k] = (policy_level)lv[k];
    }
    if ((n = ydoc_get(doc, "overrides"))) {
        if (n->type != YNODE_SEQ) {
            snprintf(err, errlen, "%s:%d: overrides must be a list", name, n->line);
            goto fail;
        }
        for (size_t i = 0; i < n->n; i++)
            if (load_override(p, n->items[i], name, err, errlen))
                goto fail;
    }
    if ((n = ydoc_get(doc, "exemptions"))) {
        if (n->type != YNODE_SEQ) {
            snprintf(err, errlen, "%s:%d: exemptions must be a list", name, n->line);
            goto fail;
        }
        for (size_t i = 0; i < n->n; i++)
            if (load_exemption(p, n->items[i], name, err, errlen))
                goto fail;
    }
    if ((n = ydoc_get(doc, "freshness")) && load_freshness(p, n, name, err, errlen))
        goto fail;
    return p;
fail:
    policy_free(p);
    return NULL;
}

policy *policy_load_buffer(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
    ynode *doc = ydoc_parse_string(buf, len, name, err, errlen);
    if (!doc)
        return NULL;
    policy *p = load_doc(doc, name, err, errlen);
    ydoc_free(doc);
    return p;
}

policy *policy_load(const char *path, char *err, size_t errlen)
{
    ynode *doc = ydoc_parse_file(path, err, errlen);
    if (!doc)
        return NULL;
    policy *p = load_doc(doc, path, err, errlen);
    ydoc_free(doc);
    return p;
}

/* ---- evaluation ------------------------------------------------------- */

typedef struct eval_ctx {
    const policy *p;
    const policy_lookup *lk;
    const policy_scope *scope;
    policy_level level[PK__COUNT]; /* after overrides */
    strmap images;                 /* lookup key -> json array (owned) */
    strmap channels;               /* bucket -> json array (owned) */
    strmap versions;               /* "bucket/ref" -> version object or null (owned) */
    strmap distinct;               /* image IDs seen */
    strmap memo;                   /* ref signature -> memo_entry* */
    strbuf key;                    /* scratch for memo_key() */
    const char *last_addr_src;     /* add_finding: the last address interned */
    char *last_addr;
    policy_report *rep;
    size_t cap;
    int failed;
    char *err;
    size_t errlen;
} eval_ctx;

static int glob_ok(const char *pattern, const char *value)
{
    if (!pattern)
        return 1;
    if (!value)
        return 0;
    return fnmatch(pattern, value, 0) == 0;
}

static json_t *cached_image(eval_ctx *c, const char *id, const char *platform)
{
    strmap_entry *e = strmap_upsert(&c->images, id, strlen(id), NULL);
    if (!e->value) {
        json_t *j = c->lk->find_image(c->lk->ctx, id, platform);
        if (!j) {
            if (!c->failed)
                snprintf(c->err, c->errlen, "the registry could not be read");
            c->failed = 1;
            j = json_array();
        }
        e->value = j;
    }
    return e->value;
}

static json_t *cached_channels(eval_ctx *c, const char *bucket)
{
    strmap_entry *e = strmap_upsert(&c->channels, bucket, strlen(bucket), NULL);
    if (!e->value) {
        json_t *j = c->lk->channels(c->lk->ctx, bucket);
        if (!j) {
            if (!c->failed)
                snprintf(c->err, c->errlen, "the registry could not be read");
            c->failed = 1;
            j = json_array();
        }
        e->value = j;
    }
    return e->value;
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Every string of a finding lives in the report's arena, interned: 2000
 * instances of one image share their bucket, version and message. This is
 * also where each one is made valid UTF-8: names from configuration
 * archives, user patterns that match part of a character and messages cut
 * at a byte count would otherwise reach reports as bytes JSON cannot carry
 * (and a callback body jansson refuses to build). */
static char *intern(eval_ctx *c, const char *s)
{
    if (!s)
        return NULL;
    policy_report *rep = c->rep;
    size_t n = strlen(s);
    strmap_entry *e = strmap_upsert(rep->strings_, s, n, NULL);
    if (!e->value)
        e->value = str_utf8_repair(arena_strndup(rep->arena_, s, n), n);
    return e->value;
}

/* intern() for a string made on the heap, which is freed */
static char *intern_take(eval_ctx *c, char *s)
{
    char *r = intern(c, s);
    free(s);
    return r;
}

static int is_revoked(const json_t *m)
{
    const char *st = jstr(m, "status");
    return st && strcmp(st, "VERSION_REVOKED") == 0;
}

static int is_scheduled(const json_t *m)
{
    const char *st = jstr(m, "status");
    return st && strcmp(st, "VERSION_REVOCATION_SCHEDULED") == 0;
}

/* The registry's answer for one image: the worst match (revoked first, then
 * scheduled), preferring the pattern's platform when the identifier is in
 * several places. Borrowed from the cache, or NULL when untracked. */
static const json_t *best_match(eval_ctx *c, const scan_ref *r)
{
    const char *keys[2] = {r->value, r->lookup};
    const json_t *matches = NULL;
    for (int i = 0; i < 2 && (!matches || !json_array_size(matches)); i++) {
        if (!keys[i] || (i == 1 && keys[0] && strcmp(keys[0], keys[1]) == 0))
            continue;
        matches = cached_image(c, keys[i], r->platform);
    }
    if (!matches || !json_array_size(matches))
        return NULL;
    const json_t *best = NULL;
    int best_score = -1;
    size_t i;
    const json_t *m;
    json_array_foreach(matches, i, m)
    {
        int score = is_revoked(m) ? 3 : is_scheduled(m) ? 2 : 1;
        const char *plat = jstr(m, "platform");
        if (r->platform && plat && strcmp(plat, r->platform) == 0)
            score += 4;
        if (score > best_score) {
            best_score = score;
            best = m;
        }
    }
    return best;
}

static policy_finding *add_finding(eval_ctx *c, policy_kind kind, const scan_ref *r)
{
    policy_report *rep = c->rep;
    xgrow((void **)&rep->findings, &c->cap, rep->n_findings + 1, sizeof *rep->findings);
    policy_finding *f = &rep->findings[rep->n_findings++];
    memset(f, 0, sizeof *f);
    f->kind = kind;
    /* the findings of one resource come together: intern its address once */
    if (r->address != c->last_addr_src) {
        c->last_addr_src = r->address;
        c->last_addr = intern(c, r->address);
    }
    f->address = c->last_addr;
    f->attribute = intern(c, r->attribute);
    f->sensitive = r->sensitive;
    f->image = (!r->sensitive && r->value) ? intern(c, r->value) : NULL;
    f->action = r->kind == SCAN_REF_IMAGE || r->kind == SCAN_REF_MENTION
                    ? scan_action_name(r->action)
                    : NULL;
    return f;
}

static void set_match(eval_ctx *c, policy_finding *f, const json_t *m)
{
    if (!m)
        return;
    f->bucket = intern(c, jstr(m, "bucket_name"));
    f->version = intern(c, jstr(m, "version") ? jstr(m, "version") : jstr(m, "name"));
    f->fingerprint = intern(c, jstr(m, "fingerprint"));
    f->revoke_at = intern(c, jstr(m, "revoke_at"));
    f->revocation_message = intern(c, jstr(m, "revocation_message"));
}

/* "(sensitive)" or the image ID, for messages. */
static const char *shown(const scan_ref *r)
{
    return r->sensitive ? "(sensitive)" : r->value ? r->value : "";
}

static void revocation_text(strbuf *b, const json_t *m)
{
    const char *type = jstr(m, "revocation_type");
    const char *at = jstr(m, "revoke_at");
    strbuf_printf(b, "%s %s", jstr(m, "bucket_name") ? jstr(m, "bucket_name") : "?",
                  jstr(m, "version") ? jstr(m, "version") : "?");
    if (is_revoked(m))
        strbuf_printf(b, ", revoked since %s", at ? at : "?");
    else
        strbuf_printf(b, ", revocation scheduled for %s", at ? at : "?");
    if (type && strcmp(type, "INHERITED") == 0) {
        const json_t *from = json_object_get(m, "revocation_inherited_from");
        if (json_is_object(from))
            strbuf_printf(b, " (inherited from %s %s)", jstr(from, "bucket_name"),
                          jstr(from, "version"));
        else if (json_is_string(from))
            strbuf_printf(b, " (inherited from %s)", json_string_value(from));
        else
            strbuf_puts(b, " (inherited)");
    }
    const char *msg = jstr(m, "revocation_message");
    if (msg && *msg)
        strbuf_printf(b, ": %s", msg);
}

/* The external identifier of a channel's version on the same platform and,
 * when possible, region as the matched artifact. */
static const char *channel_artifact(const json_t *version, const json_t *m)
{
    const char *plat = jstr(m, "platform"), *region = jstr(m, "region");
    const char *fallback = NULL;
    size_t i, k;
    const json_t *b, *a;
    json_array_foreach(json_object_get(version, "builds"), i, b)
    {
        if (plat && jstr(b, "platform") && strcmp(plat, jstr(b, "platform")) != 0)
            continue;
        json_array_foreach(json_object_get(b, "artifacts"), k, a)
        {
            const char *ext = jstr(a, "external_identifier");
            if (!ext)
                continue;
            if (!fallback)
                fallback = ext;
            if (region && jstr(a, "region") && strcmp(region, jstr(a, "region")) == 0)
                return ext;
        }
    }
    return fallback;
}

/* "Channel production now holds v2 (ami-...)." for every channel of the
 * bucket that holds a valid version other than this one. */
static char *channel_note(eval_ctx *c, const json_t *m)
{
    const char *bucket = jstr(m, "bucket_name");
    if (!bucket)
        return NULL;
    json_t *chans = cached_channels(c, bucket);
    strbuf b = STRBUF_INIT;
    size_t i;
    const json_t *ch;
    int n = 0;
    json_array_foreach(chans, i, ch)
    {
        const json_t *v = json_object_get(ch, "version");
        const char *vn = jstr(v, "name");
        if (n >= 4)
            break;
        if (!json_is_object(v) || !vn)
            continue;
        const char *st = jstr(v, "status");
        if (st && strcmp(st, "VERSION_REVOKED") == 0)
            continue;
        const char *ext = channel_artifact(v, m);
        if (b.len)
            strbuf_putc(&b, ' ');
        strbuf_printf(&b, "Channel %s now holds %s", jstr(ch, "name"), vn);
        if (ext)
            strbuf_printf(&b, " (%s)", ext);
        strbuf_putc(&b, '.');
        n++;
    }
    if (!b.len) {
        strbuf_dispose(&b);
        return xasprintf("No channel of %s holds a valid version.", bucket);
    }
    return strbuf_steal(&b);
}

static long version_number(const char *name)
{
    if (!name || name[0] != 'v')
        return -1;
    char *end;
    long n = strtol(name + 1, &end, 10);
    return *end ? -1 : n;
}

/* A newer version in some channel: returns "channel staging holds v3" */
static char *outdated_by(eval_ctx *c, const json_t *m)
{
    const char *bucket = jstr(m, "bucket_name");
    long mine = version_number(jstr(m, "version"));
    if (!bucket || mine < 0)
        return NULL;
    json_t *chans = cached_channels(c, bucket);
    size_t i;
    const json_t *ch;
    const json_t *best = NULL;
    long best_n = mine;
    json_array_foreach(chans, i, ch)
    {
        long n = version_number(jstr(json_object_get(ch, "version"), "name"));
        if (n > best_n) {
            best_n = n;
            best = ch;
        }
    }
    if (!best)
        return NULL;
    return xasprintf("channel %s holds %s", jstr(best, "name"),
                     jstr(json_object_get(best, "version"), "name"));
}

static const char *provenance_words(scan_provenance p)
{
    switch (p) {
    case SCAN_PROV_LITERAL:
        return "written as a literal";
    case SCAN_PROV_VARIABLE:
        return "from a variable's default or value";
    case SCAN_PROV_MODULE_INPUT:
        return "passed as a literal module input";
    case SCAN_PROV_LOCAL:
        return "from a local value";
    default:
        return "hardcoded";
    }
}

static int hardcoded(scan_provenance p)
{
    return p == SCAN_PROV_LITERAL || p == SCAN_PROV_VARIABLE || p == SCAN_PROV_MODULE_INPUT ||
           p == SCAN_PROV_LOCAL;
}

/* Counts the reference's image among the report's distinct images; a
 * reference without a value (recognized, but empty) names none. */
static void count_image(eval_ctx *c, const scan_ref *r)
{
    if (r->value)
        strmap_upsert(&c->distinct, r->value, strlen(r->value), NULL);
}

/* ---- freshness and launch-time images ---------------------------------- */

/* The freshness limits for a bucket: those of the first freshness.buckets
 * entry whose glob matches, each key it leaves out taken from the top
 * level. age_glob / behind_glob: the entry a limit came from (NULL: the top
 * level). A limit of -1 is not set. */
typedef struct fresh_limits {
    int64_t max_age, max_behind;
    const char *age_text, *age_glob, *behind_glob;
} fresh_limits;

static void freshness_for(const policy *p, const char *bucket, fresh_limits *fl)
{
    fl->max_age = p->fresh.max_age;
    fl->age_text = p->fresh.max_age_text;
    fl->max_behind = p->fresh.max_behind;
    fl->age_glob = fl->behind_glob = NULL;
    for (size_t i = 0; bucket && i < p->n_fresh_buckets; i++) {
        const fresh_rule *fr = &p->fresh_buckets[i];
        if (fnmatch(fr->bucket, bucket, 0) != 0)
            continue;
        if (fr->max_age >= 0) {
            fl->max_age = fr->max_age;
            fl->age_text = fr->max_age_text;
            fl->age_glob = fr->bucket;
        }
        if (fr->max_behind >= 0) {
            fl->max_behind = fr->max_behind;
            fl->behind_glob = fr->bucket;
        }
        return;
    }
}

/* find_version through the evaluation's cache. Borrowed; JSON null when
 * there is no such version, and when the store failed (the evaluation then
 * fails). */
static const json_t *cached_version(eval_ctx *c, const char *bucket, const char *ref)
{
    char *key = xasprintf("%s/%s", bucket, ref); /* bucket names have no '/' */
    strmap_entry *e = strmap_upsert(&c->versions, key, strlen(key), NULL);
    free(key);
    if (!e->value) {
        json_t *j = c->lk->find_version(c->lk->ctx, bucket, ref);
        if (!j) {
            if (!c->failed)
                snprintf(c->err, c->errlen, "the registry could not be read");
            c->failed = 1;
            j = json_null();
        }
        e->value = j;
    }
    return e->value;
}

/* How many complete, non-revoked versions of m's bucket are numbered above
 * m's version, counted up to cap. No channel holds a number above the
 * highest valid one except a revoked version (latest holds the highest
 * valid one), and numbers are never reused: each name from there down to
 * m's is asked for (cached), newest first. *more: the count stopped at cap
 * with names left. */
static int64_t versions_ahead(eval_ctx *c, const json_t *m, int64_t cap, int *more)
{
    const char *bucket = jstr(m, "bucket_name");
    long mine = version_number(jstr(m, "version")), top = mine;
    size_t i;
    const json_t *ch;
    json_array_foreach(cached_channels(c, bucket), i, ch)
    {
        long n = version_number(jstr(json_object_get(ch, "version"), "name"));
        top = n > top ? n : top;
    }
    int64_t count = 0;
    long k = top;
    for (; k > mine && count < cap && !c->failed; k--) {
        char name[32];
        snprintf(name, sizeof name, "v%ld", k);
        const json_t *v = cached_version(c, bucket, name);
        const char *st = jstr(v, "status");
        if (version_number(jstr(v, "name")) == k && st && strcmp(st, "VERSION_REVOKED") != 0)
            count++;
    }
    *more = k > mine;
    return count;
}

/* outdated: a channel holds a newer version (newer: "channel staging holds
 * v3"); at the outdated_behind level when more complete, non-revoked
 * versions are newer than the freshness policy's max_versions_behind. */
static void eval_outdated(eval_ctx *c, const scan_ref *r, const json_t *m, const char *newer)
{
    fresh_limits fl;
    freshness_for(c->p, jstr(m, "bucket_name"), &fl);
    int more = 0;
    int64_t ahead = fl.max_behind >= 0 ? versions_ahead(c, m, fl.max_behind + 1, &more) : 0;
    int over = fl.max_behind >= 0 && ahead > fl.max_behind;
    policy_finding *f = add_finding(c, over ? PK_OUTDATED_BEHIND : PK_OUTDATED, r);
    set_match(c, f, m);
    if (!over) {
        f->message =
            intern_take(c, xasprintf("%s %s is not the newest: %s", f->bucket, f->version, newer));
        return;
    }
    strbuf msg = STRBUF_INIT;
    strbuf_printf(&msg,
                  "%s %s has %lld%s newer complete version%s (%s); the freshness policy "
                  "allows %lld",
                  f->bucket, f->version, (long long)ahead, more ? " or more" : "",
                  ahead == 1 && !more ? "" : "s", newer, (long long)fl.max_behind);
    if (fl.behind_glob)
        strbuf_printf(&msg, " for %s", fl.behind_glob);
    f->message = intern_take(c, strbuf_steal(&msg));
}

/* When version v was completed: the newest build_time of its builds when
 * Packer's manifest gave them (an import), else completed_at; IG_TIME_NONE
 * when neither is known. *built: it is a build time. */
static ig_time version_done(const json_t *v, int *built)
{
    ig_time best = IG_TIME_NONE, t;
    char e[120];
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(v, "builds"), i, b)
    {
        const char *s = jstr(b, "built_at");
        if (s && ig_time_parse(s, &t, e, sizeof e) == 0 && (best == IG_TIME_NONE || t > best))
            best = t;
    }
    *built = best != IG_TIME_NONE;
    const char *done = jstr(v, "completed_at");
    if (!*built && (!done || ig_time_parse(done, &best, e, sizeof e) != 0))
        best = IG_TIME_NONE;
    return best;
}

/* "597 days", "5 hours", "12 minutes" */
static void put_age(strbuf *b, int64_t ms)
{
    static const struct {
        int64_t ms;
        const char *unit;
    } units[] = {{86400000, "day"}, {3600000, "hour"}, {60000, "minute"}};
    size_t u = 0;
    while (u + 1 < sizeof units / sizeof units[0] && ms < units[u].ms)
        u++;
    long long n = (long long)(ms / units[u].ms);
    strbuf_printf(b, "%lld %s%s", n, units[u].unit, n == 1 ? "" : "s");
}

/* stale: the version behind m was completed longer ago than the freshness
 * policy's max_age for its bucket (at scope->now). */
static void eval_stale(eval_ctx *c, const scan_ref *r, const json_t *m)
{
    const char *bucket = jstr(m, "bucket_name");
    const char *ref = jstr(m, "fingerprint") ? jstr(m, "fingerprint") : jstr(m, "version");
    fresh_limits fl;
    freshness_for(c->p, bucket, &fl);
    if (fl.max_age < 0 || !bucket || !ref)
        return;
    int built;
    ig_time done = version_done(cached_version(c, bucket, ref), &built);
    if (done == IG_TIME_NONE || c->scope->now - done <= fl.max_age)
        return;
    policy_finding *f = add_finding(c, PK_STALE, r);
    set_match(c, f, m);
    strbuf msg = STRBUF_INIT;
    char when[40];
    strbuf_printf(&msg, "%s %s is ", f->bucket, f->version);
    put_age(&msg, c->scope->now - done);
    strbuf_printf(&msg, " old (%s %s), older than the %s the freshness policy allows",
                  built ? "built" : "completed", ig_time_format(done, when, sizeof when),
                  fl.age_text);
    if (fl.age_glob)
        strbuf_printf(&msg, " for %s", fl.age_glob);
    f->message = intern_take(c, strbuf_steal(&msg));
}

/* "resolve:ssm:PARAMETER": EC2 picks the image when it launches, so what
 * the run will use cannot be known, let alone checked, now. */
static void eval_launch_resolved(eval_ctx *c, const scan_ref *r)
{
    policy_finding *f = add_finding(c, PK_LAUNCH_RESOLVED, r);
    const char *param = r->sensitive ? "(sensitive)" : r->value ? r->value : "";
    if (strncmp(param, SCAN_SSM_PREFIX, sizeof SCAN_SSM_PREFIX - 1) == 0)
        param += sizeof SCAN_SSM_PREFIX - 1;
    f->message = intern_take(c, xasprintf("the image is whatever the SSM parameter %.200s holds "
                                          "when EC2 launches it: nothing can check it at plan time",
                                          param));
}

/* A tracked, valid image, and outdated when a channel holds a newer version. */
static void eval_tracked(eval_ctx *c, const scan_ref *r, const json_t *m)
{
    policy_finding *f = add_finding(c, PK_TRACKED, r);
    set_match(c, f, m);
    f->message = intern_take(c, xasprintf("uses %s from %s %s", shown(r), f->bucket, f->version));
    char *newer = outdated_by(c, m);
    if (newer)
        eval_outdated(c, r, m, newer);
    free(newer);
}

static void add_hardcoded(eval_ctx *c, const scan_ref *r, const json_t *m)
{
    policy_finding *h = add_finding(c, PK_HARDCODED, r);
    h->provenance = scan_provenance_name(r->provenance);
    set_match(c, h, m);
    h->message =
        intern_take(c, xasprintf("the image %s is hardcoded: %s; look it up from the registry "
                                 "(a data source or the lookup endpoint) instead",
                                 shown(r), provenance_words(r->provenance)));
}

static void eval_image(eval_ctx *c, const scan_ref *r)
{
    policy_finding *f;
    strbuf msg = STRBUF_INIT;
    if (r->unknown) {
        f = add_finding(c, PK_UNKNOWN, r);
        f->message = intern(c, "the image is known only after apply, so it cannot be checked now");
        return;
    }
    if (r->launch_resolved) {
        eval_launch_resolved(c, r);
        return;
    }
    /* Images are matched by identifier alone: a value no pattern recognises
     * (a GCE image's bare name, as Packer records it) is still looked up, and
     * only what the registry does not know either is unrecognized. */
    const json_t *m = r->value && *r->value ? best_match(c, r) : NULL;
    if (!r->recognized && !m) {
        f = add_finding(c, PK_UNRECOGNIZED, r);
        if (r->sensitive)
            f->message = intern(c, "(sensitive) is not an image ID that any rule recognises "
                                   "or the registry knows");
        else
            f->message = intern_take(c, xasprintf("'%.200s' is not an image ID that any rule "
                                                  "recognises or the registry knows",
                                                  r->value ? r->value : ""));
        return;
    }
    count_image(c, r);
    size_t first = c->rep->n_findings;
    if (!m) {
        f = add_finding(c, PK_UNTRACKED, r);
        f->message = intern_take(c, xasprintf("%s is not in the registry", shown(r)));
    } else if (is_revoked(m)) {
        int unchanged = r->kind == SCAN_REF_IMAGE && r->action == SCAN_ACT_UPDATE && r->unchanged;
        f = add_finding(c, unchanged ? PK_REVOKED_UNCHANGED : PK_REVOKED, r);
        set_match(c, f, m);
        strbuf_printf(&msg, "%s %s: ", unchanged ? "keeps" : "uses", shown(r));
        revocation_text(&msg, m);
        if (unchanged)
            strbuf_puts(&msg, " (the update does not change the image)");
        f->message = intern_take(c, strbuf_steal(&msg));
        f->channel_note = intern_take(c, channel_note(c, m));
    } else if (is_scheduled(m)) {
        f = add_finding(c, PK_REVOCATION_SCHEDULED, r);
        set_match(c, f, m);
        strbuf_printf(&msg, "uses %s: ", shown(r));
        revocation_text(&msg, m);
        f->message = intern_take(c, strbuf_steal(&msg));
        f->channel_note = intern_take(c, channel_note(c, m));
    } else {
        eval_tracked(c, r, m);
    }
    if (m)
        eval_stale(c, r, m);
    for (size_t k = first; k < c->rep->n_findings; k++)
        c->rep->findings[k].provenance = scan_provenance_name(r->provenance);
    if (hardcoded(r->provenance))
        add_hardcoded(c, r, m);
}

static void eval_mention(eval_ctx *c, const scan_ref *r)
{
    count_image(c, r);
    const json_t *m = best_match(c, r);
    policy_finding *f = add_finding(c, m && is_revoked(m) ? PK_MENTION_REVOKED : PK_MENTION, r);
    set_match(c, f, m);
    strbuf msg = STRBUF_INIT;
    strbuf_printf(&msg, "mentions %s", shown(r));
    if (r->attribute)
        strbuf_printf(&msg, " in %s", r->attribute);
    if (!m) {
        strbuf_puts(&msg, " (not in the registry)");
    } else if (is_revoked(m) || is_scheduled(m)) {
        strbuf_puts(&msg, " (");
        revocation_text(&msg, m);
        strbuf_putc(&msg, ')');
    } else {
        strbuf_printf(&msg, " (%s %s)", f->bucket, f->version);
    }
    f->message = intern_take(c, strbuf_steal(&msg));
}

static void eval_data(eval_ctx *c, const scan_ref *r)
{
    json_t *v = NULL;
    const json_t *m = NULL;
    if (r->bucket && (r->fingerprint || r->version_id)) {
        v = c->lk->find_version(c->lk->ctx, r->bucket,
                                r->fingerprint ? r->fingerprint : r->version_id);
        if (!v) {
            if (!c->failed)
                snprintf(c->err, c->errlen, "the registry could not be read");
            c->failed = 1;
            return;
        }
        if (json_is_object(v)) {
            /* shape it like an artifact match for the shared helpers */
            json_t *mm = json_pack(
                "{s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?, s:O?}", "bucket_name",
                json_object_get(v, "bucket_name"), "version", json_object_get(v, "name"),
                "fingerprint", json_object_get(v, "fingerprint"), "status",
                json_object_get(v, "status"), "revoke_at", json_object_get(v, "revoke_at"),
                "revocation_message", json_object_get(v, "revocation_message"), "revocation_type",
                json_object_get(v, "revocation_type"), "revocation_inherited_from",
                json_object_get(v, "revocation_inherited_from"));
            json_decref(v);
            v = mm;
            m = v;
        }
    } else if (r->value) {
        const json_t *bm = best_match(c, r);
        if (bm && (!r->bucket ||
                   (jstr(bm, "bucket_name") && strcmp(jstr(bm, "bucket_name"), r->bucket) == 0)))
            m = bm;
    }
    if (m && is_revoked(m)) {
        policy_finding *f = add_finding(
            c,
            r->referenced_by_gated ? PK_DATA_SOURCE_REVOKED : PK_DATA_SOURCE_REVOKED_UNREFERENCED,
            r);
        f->image = NULL;
        f->attribute = NULL;
        set_match(c, f, m);
        strbuf msg = STRBUF_INIT;
        strbuf_puts(&msg, "resolves to ");
        revocation_text(&msg, m);
        if (!r->referenced_by_gated)
            strbuf_puts(&msg, "; no created or updated resource uses it");
        else if (r->used_via_local)
            strbuf_printf(&msg,
                          "; read during apply, and %s takes its image, unknown until apply, "
                          "through a local (locals are not in the plan): counted as used",
                          r->used_via_local);
        f->message = intern_take(c, strbuf_steal(&msg));
        f->channel_note = intern_take(c, channel_note(c, m));
    }
    json_decref(v);
}

static void eval_config(eval_ctx *c, const scan_ref *r)
{
    count_image(c, r);
    const json_t *m = best_match(c, r);
    policy_finding *f;
    strbuf msg = STRBUF_INIT;
    if (!m) {
        f = add_finding(c, PK_UNTRACKED, r);
        f->message = intern_take(c, xasprintf("%s is not in the registry", shown(r)));
        return;
    }
    policy_kind k = is_revoked(m)     ? PK_REVOKED
                    : is_scheduled(m) ? PK_REVOCATION_SCHEDULED
                                      : PK_TRACKED;
    f = add_finding(c, k, r);
    set_match(c, f, m);
    if (k == PK_TRACKED) {
        f->message = intern_take(c, xasprintf("%s is %s %s", shown(r), f->bucket, f->version));
    } else {
        strbuf_printf(&msg, "%s is ", shown(r));
        revocation_text(&msg, m);
        f->message = intern_take(c, strbuf_steal(&msg));
        f->channel_note = intern_take(c, channel_note(c, m));
    }
}

static const exemption *exempted(const eval_ctx *c, const policy_finding *f, const scan_ref *r)
{
    for (size_t i = 0; i < c->p->n_exemptions; i++) {
        const exemption *e = &c->p->exemptions[i];
        if (e->expires != IG_TIME_NONE && e->expires < c->scope->now)
            continue;
        if (!glob_ok(e->organization, c->scope->organization) ||
            !glob_ok(e->workspace, c->scope->workspace))
            continue;
        if (e->kinds && !(e->kinds & (1u << f->kind)))
            continue;
        if (e->image) {
            const char *v = r->value;
            if (!v || (strcmp(e->image, v) != 0 && (!r->lookup || strcmp(e->image, r->lookup))))
                continue;
        }
        if (e->bucket && (!f->bucket || strcmp(e->bucket, f->bucket) != 0))
            continue;
        if (e->version &&
            (!f->version || (strcmp(e->version, f->version) != 0 &&
                             (!f->fingerprint || strcmp(e->version, f->fingerprint) != 0))))
            continue;
        return e;
    }
    return NULL;
}

static void free_cache(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key)
            json_decref(m->slots[i].value);
    strmap_dispose(m);
}

/* Memoisation: refs that would evaluate to the same findings (the same image
 * with the same flags and provenance; for mentions also the same attribute,
 * which the message names) replay the first one's findings with their own
 * address, attribute and action. A plan of 100 000 instances of five images
 * costs five evaluations. */
typedef struct memo_entry {
    size_t n;
    policy_finding f[]; /* as produced, before levels and exemptions */
} memo_entry;

/* The signature of a reference, in c->key (NULL when not memoised). */
static const strbuf *memo_key(eval_ctx *c, const scan_ref *r)
{
    if (r->kind != SCAN_REF_IMAGE && r->kind != SCAN_REF_MENTION)
        return NULL;
    strbuf *b = &c->key;
    strbuf_reset(b);
    char flags[8] = {(char)('0' + r->kind),
                     (char)('0' + r->unknown),
                     (char)('0' + r->recognized),
                     (char)('0' + r->sensitive),
                     (char)('0' + (r->action == SCAN_ACT_UPDATE && r->unchanged)),
                     (char)('0' + (r->action == SCAN_ACT_UPDATE)),
                     (char)('0' + r->provenance),
                     '|'};
    strbuf_append(b, flags, sizeof flags);
    const char *parts[4] = {r->value, r->lookup, r->platform,
                            r->kind == SCAN_REF_MENTION ? r->attribute : NULL};
    for (int i = 0; i < 4; i++) {
        if (parts[i])
            strbuf_puts(b, parts[i]);
        strbuf_putc(b, '\x1f');
    }
    return b;
}

static void remember(eval_ctx *c, const scan_ref *r, size_t first)
{
    const strbuf *key = memo_key(c, r);
    if (!key)
        return;
    size_t n = c->rep->n_findings - first;
    memo_entry *m = xmalloc(sizeof *m + n * sizeof m->f[0]);
    m->n = n;
    memcpy(m->f, c->rep->findings + first, n * sizeof m->f[0]);
    strmap_entry *e = strmap_upsert(&c->memo, key->s, key->len, NULL);
    free(e->value);
    e->value = m;
}

static int replay(eval_ctx *c, const scan_ref *r)
{
    const strbuf *key = memo_key(c, r);
    if (!key)
        return 0;
    memo_entry *m = strmap_get(&c->memo, key->s, key->len);
    if (!m)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        policy_finding *f = add_finding(c, m->f[i].kind, r);
        const char *address = f->address, *attribute = f->attribute, *action = f->action;
        *f = m->f[i];
        f->address = (char *)address;
        f->attribute = (char *)attribute;
        f->action = action;
    }
    return 1;
}

/* The levels of this scope: the policy's, then every matching override in
 * file order. */
static void scope_levels(eval_ctx *c)
{
    const policy *p = c->p;
    for (int k = 0; k < PK__COUNT; k++)
        c->level[k] = p->level[k];
    for (size_t i = 0; i < p->n_overrides; i++) {
        const override *o = &p->overrides[i];
        if (!glob_ok(o->organization, c->scope->organization) ||
            !glob_ok(o->workspace, c->scope->workspace))
            continue;
        for (int k = 0; k < PK__COUNT; k++)
            if (o->level[k] >= 0)
                c->level[k] = (policy_level)o->level[k];
    }
}

/* Levels, then exemptions, for the findings of r (from index first on). */
static void apply_levels(eval_ctx *c, const scan_ref *r, size_t first)
{
    for (size_t k = first; k < c->rep->n_findings; k++) {
        policy_finding *f = &c->rep->findings[k];
        f->level = c->level[f->kind];
        const exemption *e = exempted(c, f, r);
        if (e) {
            f->exempted = true;
            if (f->level != POLICY_INFO)
                f->message = intern_take(c, xasprintf("%s [exempted: %s]", f->message, e->reason));
            f->level = POLICY_INFO;
        }
    }
}

/* Everything of the evaluation but the report. */
static void eval_dispose(eval_ctx *c)
{
    for (size_t i = 0; i < c->memo.cap; i++)
        if (c->memo.slots[i].key)
            free(c->memo.slots[i].value);
    strmap_dispose(&c->memo);
    strbuf_dispose(&c->key);
    free_cache(&c->images);
    free_cache(&c->channels);
    free_cache(&c->versions);
    strmap_dispose(&c->distinct);
}

policy_report *policy_eval(const policy *p, const scan_result *res, const policy_lookup *lk,
                           const policy_scope *scope, char *err, size_t errlen)
{
    eval_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.lk = lk;
    c.scope = scope;
    c.err = err;
    c.errlen = errlen;
    strmap_init(&c.images);
    strmap_init(&c.channels);
    strmap_init(&c.versions);
    strmap_init(&c.distinct);
    scope_levels(&c);
    policy_report *rep = xcalloc(1, sizeof *rep);
    rep->arena_ = xmalloc(sizeof(arena));
    arena_init(rep->arena_);
    rep->strings_ = xmalloc(sizeof(strmap));
    strmap_init(rep->strings_);
    strmap_init(&c.memo);
    c.rep = rep;
    rep->resources = res->resources;
    rep->gated = res->gated;

    for (size_t i = 0; i < res->n_refs && !c.failed; i++) {
        const scan_ref *r = &res->refs[i];
        size_t first = rep->n_findings;
        if (!replay(&c, r)) {
            switch (r->kind) {
            case SCAN_REF_IMAGE:
                eval_image(&c, r);
                break;
            case SCAN_REF_MENTION:
                eval_mention(&c, r);
                break;
            case SCAN_REF_DATA:
                eval_data(&c, r);
                break;
            case SCAN_REF_CONFIG:
                eval_config(&c, r);
                break;
            }
            remember(&c, r, first);
        }
        apply_levels(&c, r, first);
    }
    rep->images = c.distinct.count;
    eval_dispose(&c);
    if (c.failed) {
        policy_report_free(rep);
        return NULL;
    }
    for (size_t i = 0; i < rep->n_findings; i++)
        rep->count[rep->findings[i].level]++;
    rep->verdict = rep->count[POLICY_FAIL]   ? POLICY_VERDICT_FAIL
                   : rep->count[POLICY_WARN] ? POLICY_VERDICT_WARN
                                             : POLICY_PASS;
    rep->n_gated_addresses = res->gated_addresses ? res->gated : 0;
    rep->gated_addresses = xcalloc(rep->n_gated_addresses + 1, sizeof *rep->gated_addresses);
    for (size_t i = 0; i < rep->n_gated_addresses; i++)
        rep->gated_addresses[i] = intern(&c, res->gated_addresses[i]);
    /* the intern table is only needed while building */
    strmap_dispose(rep->strings_);
    free(rep->strings_);
    rep->strings_ = NULL;
    return rep;
}

void policy_report_free(policy_report *r)
{
    if (!r)
        return;
    free(r->findings);
    free(r->gated_addresses);
    if (r->strings_) {
        strmap_dispose(r->strings_);
        free(r->strings_);
    }
    if (r->arena_) {
        arena_dispose(r->arena_);
        free(r->arena_);
    }
    free(r);
}

bool policy_report_fails(const policy_report *r, policy_verdict fail_on)
{
    return r->verdict >= fail_on;
}
