/* The streaming plan scanner.
 *
 * A Terraform JSON plan can be hundreds of megabytes on one line. We never
 * build it as a tree: yajl delivers events (behind the pre-scanner of
 * skip.c, which keeps it from tokenising what is not read), and a stack of
 * frames, each with a role, decides what every event means:
 *
 *   - resource_changes[] is handled event by event: each element becomes a
 *     small scratch record (rc_rec) that turns into zero or more references
 *     when it closes and is then reused.
 *   - configuration, variables and output_changes are built as jansson trees
 *     (they describe the configuration, not every instance; a limit bounds
 *     them), and so are the data-source resources of prior_state and
 *     planned_values, one at a time; a managed one is dropped on sight.
 *   - everything else (resource_drift, relevant_attributes, ...) is skipped.
 *
 * Key order inside objects is never assumed: provenance needs the
 * configuration, which usually comes last, so it is resolved once the
 * document has ended (provenance.c). How a frame stays cheap is written at
 * `frame`, what a resource change keeps at rc_rec and RC_KEYS. */
#include "scanners/scan.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yajl/yajl_parse.h>

#include "common/arena.h"
#include "common/strbuf.h"
#include "common/xalloc.h"
#include "scanners/jbuild.h"
#include "scanners/scan_internal.h"
#include "scanners/skip.h"

typedef enum {
    R_SKIP = 0, /* the rest of this container is ignored */
    R_ROOT,
    R_BUILD,     /* subtree handed to the jansson builder */
    R_RC_ARRAY,  /* resource_changes */
    R_RC,        /* one resource change */
    R_RC_CHANGE, /* its "change" */
    R_RC_ACTIONS,
    R_VAL_AFTER, /* value trees */
    R_VAL_BEFORE,
    R_VAL_UNKNOWN,
    R_VAL_SENS,
    R_STATE,         /* prior_state / planned_values containers */
    R_STATE_MODULES, /* child_modules[] */
    R_STATE_RES,     /* resources[] */
    R_SCALAR,        /* pseudo role: a scalar the caller handles */
} role;

typedef enum { B_NONE = 0, B_CONFIG, B_VARIABLES, B_OUTPUTS, B_STATE_RES } build_target;

/* The kind of a scalar yajl delivered. */
typedef enum { V_STRING, V_NUMBER, V_TRUE, V_FALSE, V_NULL } vkind;

/* Speed comes from doing nothing for what is not needed: a skipped subtree
 * is a depth counter (no frame, no key copy); inside value trees the
 * attribute path is never built as a string while streaming -- each frame
 * carries a rolling hash of its normalised path, checked against the rule
 * set's hashes in O(1), and a subtree of before/after_unknown that cannot
 * hold an image attribute is skipped whole. A path string is built from the
 * frames only when something is recorded. Strings are not UTF-8 validated
 * by yajl (the bulk is never looked at); everything kept is validated or
 * repaired before it reaches jansson. */
typedef struct frame {
    unsigned char role;
    unsigned char is_array;
    unsigned char attr_ok; /* value trees: this path is a prefix of an attribute path */
    long index;            /* arrays: index of the element being read (-1 before the first) */
    uint64_t hash;         /* value trees: rolling hash of the normalised path */
    char *key;             /* maps: the current key (buffer reused) */
    size_t keylen, keycap;
} frame;

typedef struct pv {
    char *path;
    char *value;
} pv;

typedef struct mention {
    char *path;
    char *value;
    char *lookup;
    size_t pattern;
} mention;

/* Scratch record of the resource change being read: only its address,
 * type, mode and actions, the strings found at image attribute paths (after
 * and before), the unknown and sensitive paths, and the image IDs the
 * patterns find in its planned values. */
typedef struct rc_rec {
    strbuf address, type, mode;
    unsigned actions; /* bit set of ACT_* */
    int actions_seen;
    unsigned keys_seen;  /* KEY_* bits of the keys read in the change and its "change" */
    const char *dup_key; /* the first key seen twice, or NULL */
    pv *after, *before;
    size_t n_after, cap_after, n_before, cap_before;
    char **unknown;
    size_t n_unknown, cap_unknown;
    char **sens;
    size_t n_sens, cap_sens;
    mention *mentions;
    size_t n_mentions, cap_mentions;
    pv *fields; /* top-level strings of a data source's after */
    size_t n_fields, cap_fields;
    arena tmp;
} rc_rec;

enum {
    ACT_CREATE = 1,
    ACT_UPDATE = 2,
    ACT_DELETE = 4,
    ACT_READ = 8,
    ACT_NOOP = 16,
    ACT_OTHER = 32
};

/* Keys of a resource change (R_RC) and of its "change" (R_RC_CHANGE) whose
 * value the scan reads or decides on. A resource change whose actions or
 * mode come after its values is read as if it could be gated or a data
 * source (nothing is skipped on a guess); one that repeats a key of this
 * list is refused: which copy counts would decide what was skipped. */
static const struct {
    unsigned char role; /* R_RC or R_RC_CHANGE */
    unsigned char len;
    const char *name;
} RC_KEYS[] = {
    {R_RC, 7, "address"},
    {R_RC, 4, "type"},
    {R_RC, 4, "mode"},
    {R_RC, 6, "change"},
    {R_RC_CHANGE, 7, "actions"},
    {R_RC_CHANGE, 5, "after"},
    {R_RC_CHANGE, 6, "before"},
    {R_RC_CHANGE, 13, "after_unknown"},
    {R_RC_CHANGE, 15, "after_sensitive"},
};

struct scan_plan {
    scan_limits lim;
    yajl_handle h;
    yajl_callbacks cbs; /* yajl keeps a pointer to this: see enter_skip() */
    skipper *sk;        /* in front of yajl: skips what the scan does not read */
    char perr[320];     /* the parser's last error, for the feed callback's caller */
    frame *frames;
    size_t depth, cap_frames;
    size_t skip;    /* > 0: inside a skipped subtree, this many levels deep */
    size_t vt_root; /* frames[] index of the current value tree's root */
    strbuf path;    /* scratch for materialised paths */
    jbuild jb;
    build_target target;
    size_t build_depth;
    rc_rec rc;
    scan_state st;
    arena result_arena;
    uint64_t consumed; /* bytes fed before the current chunk */
    int seen_root, seen_format;
    int bom_done;        /* the start of the input was checked for a UTF-8 byte order mark */
    unsigned char bom_n; /* bytes of one matched so far */
    char *format_version;
    char errmsg[256];
    int failed;
    size_t resources, gated;
    size_t min_len;
    const uint64_t *segf; /* rules_segment_filter */
};

static const char *ACTION_NAMES[] = {"create", "update", "replace", NULL};
static const char *PROV_NAMES[] = {"literal",     "variable", "module_input", "local",
                                   "data_source", "resource", "unknown"};

const char *scan_action_name(scan_action a)
{
    return a <= SCAN_ACT_REPLACE ? ACTION_NAMES[a] : NULL;
}

const char *scan_provenance_name(scan_provenance p)
{
    return p <= SCAN_PROV_UNKNOWN ? PROV_NAMES[p] : "unknown";
}

void scan_limits_default(scan_limits *l)
{
    l->max_depth = 512;
    l->max_config_bytes = 64u * 1024 * 1024;
    l->max_refs = 1000000;
    l->parse_everything = false;
}

/* ---- small helpers ---------------------------------------------------- */

static int fail(scan_plan *s, const char *msg)
{
    if (!s->failed) {
        snprintf(s->errmsg, sizeof s->errmsg, "%s", msg);
        s->failed = 1;
    }
    return 0; /* tells yajl to stop */
}

static frame *top(scan_plan *s)
{
    return s->depth ? &s->frames[s->depth - 1] : NULL;
}

static frame *push(scan_plan *s, role r, int is_array)
{
    if (s->depth >= s->lim.max_depth) {
        fail(s, "JSON nested deeper than the limit");
        return NULL;
    }
    if (s->depth == s->cap_frames) {
        size_t nc = s->cap_frames ? s->cap_frames * 2 : 32;
        s->frames = xrealloc(s->frames, nc * sizeof *s->frames);
        memset(s->frames + s->cap_frames, 0, (nc - s->cap_frames) * sizeof *s->frames);
        s->cap_frames = nc;
    }
    frame *f = &s->frames[s->depth++];
    f->role = (unsigned char)r;
    f->is_array = (unsigned char)is_array;
    f->attr_ok = 0;
    f->index = -1;
    f->hash = 0;
    f->keylen = 0;
    return f;
}

static int key_is(const frame *f, const char *lit)
{
    size_t n = strlen(lit);
    return f->keylen == n && memcmp(f->key, lit, n) == 0;
}

static void rc_clear(rc_rec *rc)
{
    strbuf_reset(&rc->address);
    strbuf_reset(&rc->type);
    strbuf_reset(&rc->mode);
    rc->actions = 0;
    rc->actions_seen = 0;
    rc->keys_seen = 0;
    rc->dup_key = NULL;
    rc->n_after = rc->n_before = rc->n_unknown = rc->n_sens = rc->n_mentions = rc->n_fields = 0;
    arena_reset(&rc->tmp);
}

static void rc_dispose(rc_rec *rc)
{
    strbuf_dispose(&rc->address);
    strbuf_dispose(&rc->type);
    strbuf_dispose(&rc->mode);
    free(rc->after);
    free(rc->before);
    free(rc->unknown);
    free(rc->sens);
    free(rc->mentions);
    free(rc->fields);
    arena_dispose(&rc->tmp);
}

static int rc_gated(const rc_rec *rc)
{
    return (rc->actions & (ACT_CREATE | ACT_UPDATE)) != 0;
}

static int rc_is_data(const rc_rec *rc)
{
    return rc->mode.len == 4 && memcmp(rc->mode.s, "data", 4) == 0;
}

/* A data source, or not known yet: "mode" may come after "change" (key
 * order is never assumed), so its values are kept until it is known. */
static int rc_maybe_data(const rc_rec *rc)
{
    return rc->mode.len == 0 || rc_is_data(rc);
}

static scan_action rc_action(const rc_rec *rc)
{
    if ((rc->actions & ACT_CREATE) && (rc->actions & ACT_DELETE))
        return SCAN_ACT_REPLACE;
    if (rc->actions & ACT_CREATE)
        return SCAN_ACT_CREATE;
    if (rc->actions & ACT_UPDATE)
        return SCAN_ACT_UPDATE;
    return SCAN_ACT_NONE;
}

/* ---- value trees --------------------------------------------------- */

/* Builds the concrete path of the value about to start in the top frame
 * ("launch_specification[1].ami") into s->path. */
static const char *materialise_path(scan_plan *s)
{
    strbuf_reset(&s->path);
    for (size_t i = s->vt_root; i < s->depth; i++) {
        frame *f = &s->frames[i];
        if (f->is_array) {
            strbuf_printf(&s->path, "[%ld]", f->index);
        } else {
            if (s->path.len)
                strbuf_putc(&s->path, '.');
            strbuf_append(&s->path, f->key ? f->key : "", f->keylen);
        }
    }
    if (!s->path.s)
        strbuf_append(&s->path, "", 0);
    return s->path.s;
}

/* Path hash of the value about to start in value-tree frame f. */
static uint64_t child_hash(const frame *f)
{
    return f->is_array ? rules_path_index(f->hash) : rules_path_key(f->hash, f->key, f->keylen);
}

/* RULES_PATH_* flags of the value about to start in f (0 when f is not on
 * the way to an attribute, or the key cannot be a segment of one). */
static int child_flags(const scan_plan *s, const frame *f, uint64_t *h)
{
    if (!f->attr_ok || (!f->is_array && !rules_segment_maybe(s->segf, f->key, f->keylen)))
        return 0;
    *h = child_hash(f);
    return rules_path_flags(s->st.rs, *h);
}

/* yajl does not validate UTF-8 (yajl_dont_validate_strings): every string
 * kept is repaired, so that it is safe for jansson and terminals. */
static char *tmpdup(rc_rec *rc, const char *p, size_t n)
{
    return str_utf8_repair(arena_strndup(&rc->tmp, p, n), n);
}

static void add_pv(rc_rec *rc, pv **arr, size_t *n, size_t *cap, const char *path, const char *v,
                   size_t vlen)
{
    xgrow((void **)arr, cap, *n + 1, sizeof **arr);
    (*arr)[*n].path = tmpdup(rc, path, strlen(path));
    (*arr)[*n].value = tmpdup(rc, v, vlen);
    (*n)++;
}

static void add_path(rc_rec *rc, char ***arr, size_t *n, size_t *cap, const char *path)
{
    xgrow((void **)arr, cap, *n + 1, sizeof **arr);
    (*arr)[(*n)++] = tmpdup(rc, path, strlen(path));
}

static void find_mentions(scan_plan *s, const char *v, size_t len)
{
    rc_rec *rc = &s->rc;
    rules_match mt;
    rules_iter it;
    const char *path = NULL;
    rules_iter_start(&it, s->st.m, v, len);
    while (rules_next(&it, &mt)) {
        if (!path)
            path = materialise_path(s);
        xgrow((void **)&rc->mentions, &rc->cap_mentions, rc->n_mentions + 1, sizeof *rc->mentions);
        mention *me = &rc->mentions[rc->n_mentions++];
        me->path = tmpdup(rc, path, s->path.len);
        me->value = tmpdup(rc, v + mt.start, mt.len);
        me->lookup = tmpdup(rc, v + mt.lookup_start, mt.lookup_len);
        me->pattern = mt.pattern;
    }
}

/* A scalar inside value tree frame f. */
static void value_scalar(scan_plan *s, frame *f, vkind kind, const char *v, size_t len)
{
    rc_rec *rc = &s->rc;
    uint64_t h;
    switch ((role)f->role) {
    case R_VAL_AFTER:
        if (kind != V_STRING)
            return;
        if (child_flags(s, f, &h) & RULES_PATH_FULL)
            add_pv(rc, &rc->after, &rc->n_after, &rc->cap_after, materialise_path(s), v, len);
        if (len >= s->min_len && (!rc->actions_seen || rc_gated(rc) || rc_maybe_data(rc)))
            find_mentions(s, v, len);
        if (rc_maybe_data(rc) && s->depth - 1 == s->vt_root && !f->is_array)
            add_pv(rc, &rc->fields, &rc->n_fields, &rc->cap_fields, materialise_path(s), v, len);
        return;
    case R_VAL_BEFORE:
        if (kind == V_STRING && (child_flags(s, f, &h) & RULES_PATH_FULL))
            add_pv(rc, &rc->before, &rc->n_before, &rc->cap_before, materialise_path(s), v, len);
        return;
    case R_VAL_UNKNOWN:
        if (kind == V_TRUE && child_flags(s, f, &h))
            add_path(rc, &rc->unknown, &rc->n_unknown, &rc->cap_unknown, materialise_path(s));
        return;
    case R_VAL_SENS:
        if (kind == V_TRUE)
            add_path(rc, &rc->sens, &rc->n_sens, &rc->cap_sens, materialise_path(s));
        return;
    default:
        return;
    }
}

/* ---- end of one resource change -------------------------------------- */

static int sens_of(const rc_rec *rc, const char *path)
{
    sens_list sl = {rc->sens, rc->n_sens};
    return scan_path_sensitive(&sl, path);
}

static void note_sensitive_id(scan_state *st, const char *id)
{
    strmap_upsert(&st->sens_ids, id, strlen(id), NULL);
}

static int is_rule_path(const char *const *paths, size_t np, const char *norm)
{
    for (size_t k = 0; k < np; k++)
        if (strcmp(paths[k], norm) == 0)
            return 1;
    return 0;
}

static void rc_finish_data(scan_plan *s)
{
    rc_rec *rc = &s->rc;
    scan_state *st = &s->st;
    json_t *vals = json_object();
    for (size_t i = 0; i < rc->n_fields; i++)
        json_object_set_new(vals, rc->fields[i].path, json_string(rc->fields[i].value));
    for (size_t i = 0; i < rc->n_mentions; i++)
        strmap_upsert(&st->data_ids, rc->mentions[i].value, strlen(rc->mentions[i].value), NULL);
    scan_add_data_source(st, rc->address.s ? rc->address.s : "", rc->type.s ? rc->type.s : "",
                         vals);
    json_decref(vals);
}

/* The image name in a Google Compute image reference the gce-image pattern
 * does not take: the short forms the google provider accepts and Packer
 * records (global/images/NAME, projects/P/global/images/NAME, P/NAME; a
 * googlecompute artifact is the bare NAME, which needs nothing). Families
 * (family/X, .../global/images/family/X) name no image: NULL then. Points
 * into v. */
static const char *gce_image_name(const char *v)
{
    const char *last = strrchr(v, '/');
    if (!last || last == v || !last[1])
        return NULL;
    size_t plen = (size_t)(last - v); /* the part before the name */
    const char *seg = last;           /* the segment before the name */
    while (seg > v && seg[-1] != '/')
        seg--;
    size_t seglen = (size_t)(last - seg);
    if (seglen == 6 && memcmp(seg, "family", 6) == 0)
        return NULL;
    static const char gi[] = "global/images";
    size_t gl = sizeof gi - 1;
    if (plen >= gl && memcmp(last - gl, gi, gl) == 0 && (plen == gl || last[-(long)gl - 1] == '/'))
        return last + 1;
    if (seg == v && !(seglen == 6 && memcmp(seg, "global", 6) == 0))
        return last + 1; /* P/NAME */
    return NULL;
}

/* rules_find from offset 0, through the matcher's memo: find_mentions()
 * searched an image attribute's value already. */
static int first_match(rules_matcher *m, const char *v, rules_match *mt)
{
    rules_iter it;
    rules_iter_start(&it, m, v, strlen(v));
    return rules_next(&it, mt);
}

/* What an image attribute's value v (not empty) is: a parameter EC2
 * resolves at launch, an image a pattern recognises, or a value the
 * registry is asked for all the same. Fills r's value, lookup, platform. */
static void image_value(scan_plan *s, scan_ref *r, const char *v)
{
    scan_state *st = &s->st;
    rules_match mt;
    if (strncmp(v, SCAN_SSM_PREFIX, sizeof SCAN_SSM_PREFIX - 1) == 0) {
        /* no image to look up: EC2 picks one at launch */
        r->launch_resolved = true;
        r->value = arena_strdup(st->ar, v);
        r->lookup = r->value;
    } else if (first_match(st->m, v, &mt)) {
        r->recognized = true;
        r->value = arena_strndup(st->ar, v + mt.start, mt.len);
        r->lookup = arena_strndup(st->ar, v + mt.lookup_start, mt.lookup_len);
        r->platform = rules_pattern_at(st->rs, mt.pattern)->platform;
    } else {
        /* no pattern recognises it, but the registry may still know it
         * (images are matched by identifier alone): the policy asks for
         * the value, then for lookup -- for a Google resource the image
         * name of a short path form */
        r->value = arena_strdup(st->ar, v);
        const rc_rec *rc = &s->rc;
        const char *name =
            rc->type.len > 7 && memcmp(rc->type.s, "google_", 7) == 0 ? gce_image_name(v) : NULL;
        r->lookup = name ? arena_strdup(st->ar, name) : r->value;
    }
}

/* Image attributes known only after apply -- unless after holds a value
 * for the attribute all the same (a contradiction no real plan has): the
 * value wins, as it must, since the pre-scanner skips after_unknown once
 * every image attribute has a value (attrs_all_known). */
static void rc_unknown_refs(scan_plan *s, char *addr, scan_action act, const char *const *paths,
                            size_t np)
{
    rc_rec *rc = &s->rc;
    scan_state *st = &s->st;
    char normbuf[1024];
    for (size_t i = 0; i < rc->n_unknown; i++) {
        const char *up = rc->unknown[i];
        if (strlen(up) >= sizeof normbuf)
            continue;
        size_t nl = scan_norm_path(up, normbuf);
        for (size_t k = 0; k < np; k++) {
            size_t pk = strlen(paths[k]);
            int exact = strcmp(paths[k], normbuf) == 0;
            int prefix = nl == 0 || (pk > nl && strncmp(paths[k], normbuf, nl) == 0 &&
                                     (paths[k][nl] == '.' || paths[k][nl] == '['));
            if (!exact && !prefix)
                continue;
            char *full = exact ? xstrdup(up) : xasprintf("%s%s", up, paths[k] + nl);
            int has_value = 0;
            for (size_t a = 0; a < rc->n_after && !has_value; a++)
                has_value = strcmp(rc->after[a].path, full) == 0;
            if (has_value) {
                free(full);
                continue;
            }
            scan_ref *r = scan_state_push(st);
            if (!r) {
                free(full);
                return;
            }
            r->kind = SCAN_REF_IMAGE;
            r->address = addr;
            r->attribute = arena_strdup(st->ar, full);
            free(full);
            r->action = act;
            r->unknown = true;
            r->sensitive = sens_of(rc, up);
            r->provenance = SCAN_PROV_UNKNOWN;
        }
    }
}

static void rc_image_refs(scan_plan *s, char *addr, scan_action act, const char *const *paths,
                          size_t np)
{
    rc_rec *rc = &s->rc;
    scan_state *st = &s->st;
    char normbuf[1024];
    for (size_t i = 0; i < rc->n_after; i++) {
        pv *a = &rc->after[i];
        if (strlen(a->path) >= sizeof normbuf)
            continue;
        scan_norm_path(a->path, normbuf);
        if (!is_rule_path(paths, np, normbuf))
            continue; /* an attribute of another resource type */
        if (!a->value[0])
            continue; /* an empty string is no image, like null */
        scan_ref *r = scan_state_push(st);
        if (!r)
            return;
        r->kind = SCAN_REF_IMAGE;
        r->address = addr;
        r->attribute = arena_strdup(st->ar, a->path);
        r->action = act;
        r->sensitive = sens_of(rc, a->path);
        image_value(s, r, a->value);
        if (r->sensitive && r->value)
            note_sensitive_id(st, r->value);
        if (act == SCAN_ACT_UPDATE) {
            for (size_t b = 0; b < rc->n_before; b++)
                if (strcmp(rc->before[b].path, a->path) == 0 &&
                    strcmp(rc->before[b].value, a->value) == 0)
                    r->unchanged = true;
        }
        r->provenance = SCAN_PROV_UNKNOWN;
    }
    rc_unknown_refs(s, addr, act, paths, np);
}

static void rc_mention_refs(scan_plan *s, char *addr, scan_action act, const char *const *paths,
                            size_t np, size_t first_image)
{
    rc_rec *rc = &s->rc;
    scan_state *st = &s->st;
    size_t last_image = st->n_refs;
    char normbuf[1024];
    for (size_t i = 0; i < rc->n_mentions; i++) {
        mention *me = &rc->mentions[i];
        if (strlen(me->path) >= sizeof normbuf)
            continue;
        scan_norm_path(me->path, normbuf);
        if (is_rule_path(paths, np, normbuf))
            continue; /* the image attribute itself */
        int dup = 0;
        for (size_t k = first_image; k < last_image && !dup; k++)
            dup = st->refs[k].value && strcmp(st->refs[k].value, me->value) == 0;
        /* one mention per image: tags and tags_all merge */
        for (size_t k = last_image; k < st->n_refs && !dup; k++) {
            if (strcmp(st->refs[k].value, me->value) == 0) {
                dup = 1;
                if (sens_of(rc, me->path))
                    st->refs[k].sensitive = true;
            }
        }
        if (dup)
            continue;
        scan_ref *r = scan_state_push(st);
        if (!r)
            return;
        r->kind = SCAN_REF_MENTION;
        r->address = addr;
        r->attribute = arena_strdup(st->ar, me->path);
        r->value = arena_strdup(st->ar, me->value);
        r->lookup = arena_strdup(st->ar, me->lookup);
        r->platform = rules_pattern_at(st->rs, me->pattern)->platform;
        r->action = act;
        r->recognized = true;
        r->sensitive = sens_of(rc, me->path);
        if (r->sensitive)
            note_sensitive_id(st, r->value);
        r->provenance = SCAN_PROV_UNKNOWN;
    }
}

/* Returns 0 (and fails the scan) when the change cannot be judged. */
static int rc_finish(scan_plan *s)
{
    rc_rec *rc = &s->rc;
    scan_state *st = &s->st;
    if (rc->dup_key) {
        char a[128];
        size_t n = rc->address.len < sizeof a - 1 ? rc->address.len : sizeof a - 1;
        memcpy(a, rc->address.s ? rc->address.s : "", n);
        a[n] = '\0';
        str_utf8_repair(a, n);
        char m[256];
        snprintf(m, sizeof m,
                 "resource change %s: the key \"%s\" appears twice; refusing the plan (which "
                 "copy counts decides what is read)",
                 n ? a : "(no address)", rc->dup_key);
        return fail(s, m);
    }
    if (rc_is_data(rc)) {
        rc_finish_data(s); /* a data source read during apply */
        return 1;
    }
    if (rc->mode.len && !(rc->mode.len == 7 && memcmp(rc->mode.s, "managed", 7) == 0))
        return 1;
    s->resources++;
    if (!rc_gated(rc))
        return 1;
    s->gated++;
    char *addr = arena_strndup(st->ar, rc->address.s ? rc->address.s : "", rc->address.len);
    str_utf8_repair(addr, rc->address.len);
    xgrow((void **)&st->gated, &st->cap_gated, st->n_gated + 1, sizeof *st->gated);
    st->gated[st->n_gated++] = addr;
    scan_action act = rc_action(rc);

    if (rc->n_sens) {
        sens_list *sl = arena_alloc(st->ar, sizeof *sl);
        sl->n = rc->n_sens;
        sl->paths = arena_alloc(st->ar, rc->n_sens * sizeof *sl->paths);
        for (size_t i = 0; i < rc->n_sens; i++)
            sl->paths[i] = arena_strdup(st->ar, rc->sens[i]);
        strmap_upsert(&st->sens, addr, strlen(addr), NULL)->value = sl;
    }
    const char *const *paths;
    size_t np = rules_attributes(st->rs, rc->type.s ? rc->type.s : "", &paths);
    size_t first_image = st->n_refs;
    rc_image_refs(s, addr, act, paths, np);
    rc_mention_refs(s, addr, act, paths, np, first_image);
    return 1;
}

/* ---- yajl callbacks --------------------------------------------------- */

/* The role of a value about to start at the top level; *bt names the tree
 * a built one becomes. */
static role root_child(const frame *f, build_target *bt)
{
    if (key_is(f, "resource_changes"))
        return R_RC_ARRAY;
    if (key_is(f, "configuration"))
        *bt = B_CONFIG;
    else if (key_is(f, "variables"))
        *bt = B_VARIABLES;
    else if (key_is(f, "output_changes"))
        *bt = B_OUTPUTS;
    if (*bt != B_NONE)
        return R_BUILD;
    if (key_is(f, "prior_state") || key_is(f, "planned_values"))
        return R_STATE;
    if (key_is(f, "format_version"))
        return R_SCALAR;
    return R_SKIP;
}

/* The role of a value about to start in frame f (not NULL, not skipping).
 * Advances array indexes. */
static role child_role(frame *f, build_target *bt)
{
    *bt = B_NONE;
    if (f->is_array)
        f->index++;
    switch ((role)f->role) {
    case R_SKIP:
        return R_SKIP;
    case R_BUILD:
        return R_BUILD;
    case R_ROOT:
        return root_child(f, bt);
    case R_RC_ARRAY:
        return R_RC;
    case R_RC:
        if (key_is(f, "change"))
            return R_RC_CHANGE;
        if (key_is(f, "address") || key_is(f, "type") || key_is(f, "mode"))
            return R_SCALAR;
        return R_SKIP;
    case R_RC_CHANGE:
        if (key_is(f, "actions"))
            return R_RC_ACTIONS;
        if (key_is(f, "after"))
            return R_VAL_AFTER;
        if (key_is(f, "before"))
            return R_VAL_BEFORE;
        if (key_is(f, "after_unknown"))
            return R_VAL_UNKNOWN;
        if (key_is(f, "after_sensitive"))
            return R_VAL_SENS;
        return R_SKIP;
    case R_RC_ACTIONS:
        return R_SCALAR;
    case R_VAL_AFTER:
    case R_VAL_BEFORE:
    case R_VAL_UNKNOWN:
    case R_VAL_SENS:
        return (role)f->role;
    case R_STATE:
        if (key_is(f, "values") || key_is(f, "root_module"))
            return R_STATE;
        if (key_is(f, "child_modules"))
            return R_STATE_MODULES;
        if (key_is(f, "resources"))
            return R_STATE_RES;
        return R_SKIP;
    case R_STATE_MODULES:
        return R_STATE;
    case R_STATE_RES:
        *bt = B_STATE_RES;
        return R_BUILD;
    default:
        return R_SKIP;
    }
}

static void finish_build(scan_plan *s)
{
    json_t *t = jbuild_take(&s->jb);
    scan_state *st = &s->st;
    switch (s->target) {
    case B_CONFIG:
        json_decref(st->config);
        st->config = t;
        break;
    case B_VARIABLES:
        json_decref(st->variables);
        st->variables = t;
        break;
    case B_OUTPUTS:
        json_decref(st->outputs);
        st->outputs = t;
        break;
    case B_STATE_RES: {
        const char *mode = json_string_value(json_object_get(t, "mode"));
        if (mode && strcmp(mode, "data") == 0) {
            const json_t *vals = json_object_get(t, "values");
            scan_collect_data_ids(st, vals);
            scan_add_data_source(st, json_string_value(json_object_get(t, "address")),
                                 json_string_value(json_object_get(t, "type")), vals);
        }
        json_decref(t);
        break;
    }
    default:
        json_decref(t);
    }
    s->target = B_NONE;
}

static int build_add(scan_plan *s, json_t *v)
{
    if (!v) {
        /* jansson refuses only strings that are not UTF-8 (numbers are
         * always representable: see on_scalar) */
        static const char *const where[] = {
            [B_CONFIG] = "configuration",
            [B_VARIABLES] = "variables",
            [B_OUTPUTS] = "output_changes",
            [B_STATE_RES] = "a data source in prior_state / planned_values",
        };
        char m[160];
        snprintf(m, sizeof m, "a string in %s is not valid UTF-8",
                 s->target > B_NONE && s->target <= B_STATE_RES ? where[s->target] : "the plan");
        return fail(s, m);
    }
    jbuild_add(&s->jb, v);
    if (s->jb.bytes > s->lim.max_config_bytes)
        return fail(s, "the configuration block is larger than the limit");
    return 1;
}

/* A number as jansson holds it. A number beyond double range (1e400) or
 * longer than any double needs keeps its text, as a string: it cannot be an
 * image ID, and JSON allows it. */
static json_t *number_json(const char *v, size_t len)
{
    char buf[64];
    if (len >= sizeof buf)
        return json_stringn(v, len);
    memcpy(buf, v, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long ll = strtoll(buf, &end, 10);
    if (!errno && !*end)
        return json_integer(ll);
    double d = strtod(buf, NULL);
    return isfinite(d) ? json_real(d) : json_stringn(v, len);
}

/* A scalar in a subtree handed to the jansson builder. */
static int build_scalar(scan_plan *s, frame *f, vkind kind, const char *v, size_t len)
{
    if (f->is_array)
        f->index++;
    /* a resource in state: drop it as soon as its mode says managed */
    if (s->target == B_STATE_RES && s->jb.depth == 1 && kind == V_STRING && key_is(f, "mode") &&
        !(len == 4 && memcmp(v, "data", 4) == 0)) {
        jbuild_reset(&s->jb);
        s->target = B_NONE;
        f->role = R_SKIP;
        return 1;
    }
    switch (kind) {
    case V_STRING:
        return build_add(s, json_stringn(v, len));
    case V_TRUE:
        return build_add(s, json_true());
    case V_FALSE:
        return build_add(s, json_false());
    case V_NULL:
        return build_add(s, json_null());
    default:
        return build_add(s, number_json(v, len));
    }
}

/* One string of a resource change's actions[]. */
static void rc_add_action(rc_rec *rc, const char *v, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } acts[] = {{"create", ACT_CREATE},
                {"update", ACT_UPDATE},
                {"delete", ACT_DELETE},
                {"read", ACT_READ},
                {"no-op", ACT_NOOP}};
    rc->actions_seen = 1;
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (strlen(acts[i].name) == len && memcmp(v, acts[i].name, len) == 0) {
            rc->actions |= acts[i].bit;
            return;
        }
    rc->actions |= ACT_OTHER;
}

/* A scalar directly in the top-level object, a resource change or its
 * "change" (r: its role). */
static void record_scalar(scan_plan *s, frame *f, role r, vkind kind, const char *v, size_t len)
{
    rc_rec *rc = &s->rc;
    if (f->role == R_ROOT && r == R_SCALAR && kind == V_STRING) {
        free(s->format_version);
        s->format_version = str_utf8_repair(xstrndup(v, len), len);
        s->seen_format = 1;
    } else if (f->role == R_RC && r == R_SCALAR && kind == V_STRING) {
        strbuf *dst = key_is(f, "address") ? &rc->address
                      : key_is(f, "type")  ? &rc->type
                                           : &rc->mode;
        strbuf_reset(dst);
        strbuf_append(dst, v, len);
    } else if (f->role == R_RC_CHANGE && kind == V_TRUE) {
        /* a whole value tree given as a scalar: after_unknown /
         * after_sensitive = true mark everything */
        if (r == R_VAL_UNKNOWN)
            add_path(rc, &rc->unknown, &rc->n_unknown, &rc->cap_unknown, "");
        else if (r == R_VAL_SENS)
            add_path(rc, &rc->sens, &rc->n_sens, &rc->cap_sens, "");
    }
}

/* A scalar arrived (s->skip is 0). */
static int on_scalar(scan_plan *s, vkind kind, const char *v, size_t len)
{
    frame *f = top(s);
    if (!f)
        return fail(s, "not a Terraform plan: the document is not a JSON object");
    build_target bt;
    switch ((role)f->role) {
    case R_SKIP:
        return 1;
    case R_BUILD:
        return build_scalar(s, f, kind, v, len);
    case R_RC_ACTIONS:
        child_role(f, &bt);
        if (kind == V_STRING)
            rc_add_action(&s->rc, v, len);
        return 1;
    case R_VAL_AFTER:
    case R_VAL_BEFORE:
    case R_VAL_UNKNOWN:
    case R_VAL_SENS:
        child_role(f, &bt);
        value_scalar(s, f, kind, v, len);
        return 1;
    default:
        record_scalar(s, f, child_role(f, &bt), kind, v, len);
        return 1;
    }
}

static int cb_null(void *ctx)
{
    return on_scalar(ctx, V_NULL, NULL, 0);
}

static int cb_boolean(void *ctx, int b)
{
    return on_scalar(ctx, b ? V_TRUE : V_FALSE, NULL, 0);
}

static int cb_number(void *ctx, const char *n, size_t len)
{
    return on_scalar(ctx, V_NUMBER, n, len);
}

static int cb_string(void *ctx, const unsigned char *str, size_t len)
{
    return on_scalar(ctx, V_STRING, (const char *)str, len);
}

static int cb_map_key(void *ctx, const unsigned char *k, size_t len)
{
    scan_plan *s = ctx;
    frame *f = top(s);
    if (!f || f->role == R_SKIP)
        return 1;
    if (len + 1 > f->keycap) {
        f->keycap = len + 32;
        f->key = xrealloc(f->key, f->keycap);
    }
    memcpy(f->key, k, len);
    f->key[len] = '\0';
    f->keylen = len;
    if (f->role == R_RC || f->role == R_RC_CHANGE) {
        for (size_t i = 0; i < sizeof RC_KEYS / sizeof RC_KEYS[0]; i++) {
            if (RC_KEYS[i].role != f->role || RC_KEYS[i].len != len ||
                memcmp(RC_KEYS[i].name, k, len) != 0)
                continue;
            if ((s->rc.keys_seen & (1u << i)) && !s->rc.dup_key)
                s->rc.dup_key = RC_KEYS[i].name;
            s->rc.keys_seen |= 1u << i;
            break;
        }
    } else if (f->role == R_BUILD) {
        str_utf8_repair(f->key, len);
        jbuild_key(&s->jb, f->key, len);
    }
    return 1;
}

/* Skipping a subtree: yajl keeps a pointer to our callbacks structure and
 * checks each pointer before every call, so clearing the scalar and key
 * callbacks makes yajl do nothing at all for them (not even decode escapes).
 * Only container starts and ends still arrive, to count depth. */
static int enter_skip(scan_plan *s)
{
    s->skip = 1;
    s->cbs.yajl_null = NULL;
    s->cbs.yajl_boolean = NULL;
    s->cbs.yajl_number = NULL;
    s->cbs.yajl_string = NULL;
    s->cbs.yajl_map_key = NULL;
    return 1;
}

static void leave_skip(scan_plan *s)
{
    s->cbs.yajl_null = cb_null;
    s->cbs.yajl_boolean = cb_boolean;
    s->cbs.yajl_number = cb_number;
    s->cbs.yajl_string = cb_string;
    s->cbs.yajl_map_key = cb_map_key;
}

static int on_open(scan_plan *s, int is_array)
{
    if (s->skip) {
        if (++s->skip > s->lim.max_depth * 4)
            return fail(s, "JSON nested deeper than the limit");
        return 1;
    }
    frame *f = top(s);
    if (!f) {
        if (is_array)
            return fail(s, "not a Terraform plan: the document is not a JSON object");
        s->seen_root = 1;
        return push(s, R_ROOT, 0) != NULL;
    }
    if (f->role == R_SKIP)
        return enter_skip(s);
    if (f->role == R_BUILD) {
        if (f->is_array)
            f->index++;
        if (!build_add(s, is_array ? json_array() : json_object()))
            return 0;
        return push(s, R_BUILD, is_array) != NULL;
    }
    build_target bt;
    role r = child_role(f, &bt);
    /* a container where the plan format has something else: ignore it */
    if ((r == R_RC_ARRAY || r == R_RC_ACTIONS || r == R_STATE_MODULES || r == R_STATE_RES) &&
        !is_array)
        return enter_skip(s);
    if ((r == R_RC || r == R_RC_CHANGE || r == R_STATE) && is_array)
        return enter_skip(s);
    if (r == R_SKIP || r == R_SCALAR)
        return enter_skip(s);
    if (r == R_BUILD) {
        if (bt == B_STATE_RES && is_array)
            return enter_skip(s);
        jbuild_reset(&s->jb);
        s->target = bt;
        s->build_depth = s->depth;
        jbuild_add(&s->jb, is_array ? json_array() : json_object());
        return push(s, R_BUILD, is_array) != NULL;
    }
    if (r >= R_VAL_AFTER && r <= R_VAL_SENS) {
        const rc_rec *rc = &s->rc;
        /* values of a resource that is not gated are not needed (data sources
         * are: their values feed provenance); before only for updates */
        if (rc->actions_seen && !rc_gated(rc) && !rc_maybe_data(rc))
            return enter_skip(s);
        if (r == R_VAL_BEFORE && rc->actions_seen && !(rc->actions & ACT_UPDATE))
            return enter_skip(s);
        uint64_t h;
        int ok;
        if (r == R_VAL_SENS) {
            h = 0; /* every true leaf counts: no need to know the path */
            ok = 0;
        } else if (f->role == R_RC_CHANGE) {
            /* the root of a value tree */
            h = RULES_PATH_ROOT;
            ok = 1;
        } else {
            h = 0;
            ok = child_flags(s, f, &h) != 0;
        }
        /* before / after_unknown matter only on the way to an attribute */
        if (!ok && (r == R_VAL_BEFORE || r == R_VAL_UNKNOWN))
            return enter_skip(s);
        size_t at = s->depth;
        frame *c = push(s, r, is_array);
        if (!c)
            return 0;
        c->hash = h;
        c->attr_ok = (unsigned char)ok;
        if (s->frames[at - 1].role == R_RC_CHANGE)
            s->vt_root = at;
        return 1;
    }
    if (r == R_RC)
        rc_clear(&s->rc);
    return push(s, r, is_array) != NULL;
}

static int on_close(scan_plan *s)
{
    if (s->skip) {
        if (--s->skip == 0)
            leave_skip(s);
        return 1;
    }
    frame *f = top(s);
    if (!f)
        return 1;
    role r = (role)f->role;
    s->depth--;
    if (r == R_BUILD) {
        if (jbuild_close(&s->jb) && s->depth == s->build_depth && s->target != B_NONE)
            finish_build(s);
    } else if (r == R_RC) {
        return rc_finish(s);
    }
    return 1;
}

static int cb_start_map(void *ctx)
{
    return on_open(ctx, 0);
}
static int cb_end_map(void *ctx)
{
    return on_close(ctx);
}
static int cb_start_array(void *ctx)
{
    return on_open(ctx, 1);
}
static int cb_end_array(void *ctx)
{
    return on_close(ctx);
}

static const yajl_callbacks callbacks = {
    cb_null,      cb_boolean, NULL,       NULL,           cb_number,    cb_string,
    cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array,
};

/* ---- public ---------------------------------------------------------- */

static int sk_feed(void *ctx, const char *p, size_t n, uint64_t off);
static int sk_want_skip(void *ctx, int where, const char *key, size_t keylen);

scan_plan *scan_plan_new(const rules *rs, const scan_limits *lim)
{
    scan_plan *s = xcalloc(1, sizeof *s);
    if (lim)
        s->lim = *lim;
    else
        scan_limits_default(&s->lim);
    if (s->lim.max_depth < 8)
        s->lim.max_depth = 8;
    s->cbs = callbacks;
    s->h = yajl_alloc(&s->cbs, NULL, s);
    if (!s->h) {
        fprintf(stderr, "imagegate: out of memory (yajl)\n");
        abort();
    }
    yajl_config(s->h, yajl_dont_validate_strings, 1);
    skip_ops ops = {s, sk_feed, sk_want_skip};
    /* the skipper bounds a skipped value as on_open() bounds one the parser
     * skips: max_depth * 4 levels from the value down */
    s->sk = skipper_new(&ops, s->lim.max_depth * 4, !s->lim.parse_everything);
    strbuf_init(&s->path);
    jbuild_init(&s->jb);
    arena_init(&s->rc.tmp);
    arena_init(&s->result_arena);
    s->st.rs = rs;
    s->st.m = rules_matcher_new(rs);
    s->st.ar = &s->result_arena;
    s->st.max_refs = s->lim.max_refs;
    s->min_len = rules_min_length(rs);
    s->segf = rules_segment_filter(rs);
    strmap_init(&s->st.data_ids);
    strmap_init(&s->st.data_addrs);
    strmap_init(&s->st.sens);
    strmap_init(&s->st.sens_ids);
    return s;
}

static void state_dispose(scan_state *st)
{
    free(st->refs);
    free(st->gated);
    json_decref(st->config);
    json_decref(st->variables);
    json_decref(st->outputs);
    strmap_dispose(&st->data_ids);
    strmap_dispose(&st->data_addrs);
    strmap_dispose(&st->sens);
    strmap_dispose(&st->sens_ids);
    rules_matcher_free(st->m);
    memset(st, 0, sizeof *st);
}

void scan_plan_free(scan_plan *s)
{
    if (!s)
        return;
    yajl_free(s->h);
    skipper_free(s->sk);
    for (size_t i = 0; i < s->cap_frames; i++)
        free(s->frames[i].key);
    free(s->frames);
    strbuf_dispose(&s->path);
    jbuild_dispose(&s->jb);
    rc_dispose(&s->rc);
    state_dispose(&s->st);
    arena_dispose(&s->result_arena);
    free(s->format_version);
    free(s);
}

/* For a map missing its ',' or '}', yajl steps back by the length of the
 * offending token (yajl_parser.c, "try to restore error offset"), which
 * for a string leaves it 2 bytes into the string (the quotes are not in
 * that length). Returns the chunk index of the token's first byte, given
 * yajl's o. */
static size_t restored_token(const unsigned char *buf, size_t len, size_t o)
{
    if (o >= len || strchr("[{]}:,-0123456789tfn", buf[o]))
        return o; /* a token that starts here (or a string with such a byte: o is inside it) */
    return o >= 2 && buf[o - 2] == '"' ? o - 2 : o;
}

/* Formats the parser's error for a piece that started at original offset
 * off (buf NULL: at the end of the input). "byte N" counts from 1 and names
 * the byte at which the problem was found: yajl stops just past it, except
 * for a map missing its ',' or '}', where it steps back into the offending
 * token (restored_token). */
static void parse_error(scan_plan *s, const unsigned char *buf, size_t len, uint64_t off, char *err,
                        size_t errlen)
{
    uint64_t at = buf ? off + yajl_get_bytes_consumed(s->h) : off;
    if (s->failed) {
        snprintf(err, errlen, "plan: byte %llu: %s", (unsigned long long)at, s->errmsg);
        return;
    }
    unsigned char *msg = yajl_get_error(s->h, 0, buf, len);
    const char *m = (const char *)msg;
    if (strncmp(m, "parse error: ", 13) == 0)
        m += 13;
    if (buf && strncmp(m, "after key and value, inside map", 31) == 0)
        at = off + restored_token(buf, len, yajl_get_bytes_consumed(s->h)) + 1;
    snprintf(err, errlen, "plan: byte %llu: invalid JSON: %s", (unsigned long long)at, m);
    size_t l = strlen(err);
    while (l && (err[l - 1] == '\n' || err[l - 1] == ' '))
        err[--l] = '\0';
    yajl_free_error(s->h, msg);
    snprintf(s->errmsg, sizeof s->errmsg, "%s", err + 6);
    s->failed = 1;
}

/* skipper -> yajl */
static int sk_feed(void *ctx, const char *p, size_t n, uint64_t off)
{
    scan_plan *s = ctx;
    if (yajl_parse(s->h, (const unsigned char *)p, n) != yajl_status_ok) {
        parse_error(s, (const unsigned char *)p, n, off, s->perr, sizeof s->perr);
        return -1;
    }
    return 0;
}

/* Every image attribute of the type already has a value in after: nothing
 * in after_unknown can matter. */
static int attrs_all_known(const scan_plan *s)
{
    const rc_rec *rc = &s->rc;
    if (!rc->type.len)
        return 0;
    const char *const *paths;
    size_t np = rules_attributes(s->st.rs, rc->type.s, &paths);
    for (size_t k = 0; k < np; k++) {
        if (strchr(paths[k], '['))
            return 0; /* list elements: cannot tell that all are known */
        int found = 0;
        for (size_t i = 0; i < rc->n_after && !found; i++)
            found = strcmp(rc->after[i].path, paths[k]) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

/* The parser has just read `key:` in a change object or a state resource:
 * may the value be skipped? */
static int sk_want_skip(void *ctx, int where, const char *key, size_t keylen)
{
    scan_plan *s = ctx;
    frame *f = top(s);
    if (!f || s->skip || s->lim.parse_everything)
        return SKIP_KEEP;
#define KEY(lit) (keylen == sizeof(lit) - 1 && memcmp(key, lit, keylen) == 0)
#define SKIP_IF(cond) ((cond) ? SKIP_VALUE : SKIP_KEEP)
    if (where == SKIP_AT_STATE_RESOURCE) {
        if (KEY("sensitive_values"))
            return SKIP_VALUE;
        /* a resource the parser already dropped (its mode is managed) */
        return SKIP_IF(f->role == R_SKIP);
    }
    if (f->role != R_RC_CHANGE)
        return SKIP_KEEP;
    const rc_rec *rc = &s->rc;
    int known = rc->actions_seen;
    int needed = !known || rc_gated(rc) || rc_maybe_data(rc);
    if (KEY("before_sensitive"))
        return SKIP_VALUE;
    if (KEY("before"))
        return SKIP_IF(known && !(rc->actions & ACT_UPDATE));
    if (KEY("after"))
        return SKIP_IF(!needed);
    if (KEY("after_sensitive"))
        /* without a true anywhere nothing is sensitive: the usual case */
        return known && !rc_gated(rc) ? SKIP_VALUE : SKIP_UNLESS_TRUE;
    if (KEY("after_unknown"))
        return SKIP_IF(known && (!rc_gated(rc) || attrs_all_known(s)));
#undef SKIP_IF
#undef KEY
    return SKIP_KEEP;
}

/* A UTF-8 byte order mark at the very start (some editors and PowerShell's
 * Out-File write one) is dropped; it may arrive split across chunks. Returns
 * the bytes of buf to skip; bytes that looked like a mark but were not are
 * handed on first (the parser then refuses them). */
static size_t strip_bom(scan_plan *s, const unsigned char *p, size_t len, char *err, size_t errlen,
                        uint64_t *at, int *rc)
{
    static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};
    size_t i = 0;
    *rc = SKIP_OK;
    while (i < len && s->bom_n < 3 && p[i] == BOM[s->bom_n]) {
        i++;
        s->bom_n++;
    }
    if (s->bom_n == 3) {
        s->bom_done = 1;
        skipper_advance(s->sk, 3);
    } else if (i < len) {
        s->bom_done = 1; /* not a mark: what was held goes first */
        if (s->bom_n)
            *rc = skipper_feed(s->sk, (const char *)BOM, s->bom_n, err, errlen, at);
    }
    return i;
}

int scan_plan_feed(scan_plan *s, const void *buf, size_t len, char *err, size_t errlen)
{
    if (s->failed) {
        snprintf(err, errlen, "plan: %s", s->errmsg[0] ? s->errmsg : "earlier error");
        return -1;
    }
    uint64_t at = 0;
    int rc = SKIP_OK;
    size_t skip = 0;
    if (!s->bom_done)
        skip = strip_bom(s, buf, len, err, errlen, &at, &rc);
    if (rc == SKIP_OK)
        rc = skipper_feed(s->sk, (const char *)buf + skip, len - skip, err, errlen, &at);
    if (rc == SKIP_ERR_PARSER) {
        snprintf(err, errlen, "%s", s->perr);
        return -1;
    }
    if (rc == SKIP_ERR_STRUCTURE) {
        char m[256];
        snprintf(m, sizeof m, "%s", err);
        snprintf(err, errlen, "plan: byte %llu: %s", (unsigned long long)at, m);
        snprintf(s->errmsg, sizeof s->errmsg, "%s", err + 6);
        s->failed = 1;
        return -1;
    }
    s->consumed += len;
    return 0;
}

int scan_plan_finish(scan_plan *s, scan_result **out, char *err, size_t errlen)
{
    *out = NULL;
    if (s->failed) {
        snprintf(err, errlen, "plan: %s", s->errmsg[0] ? s->errmsg : "earlier error");
        return -1;
    }
    yajl_status st = yajl_complete_parse(s->h);
    if (st != yajl_status_ok || s->depth > 0 || s->skip || skipper_incomplete(s->sk)) {
        if (s->depth > 0 || s->skip || !s->seen_root || skipper_incomplete(s->sk))
            snprintf(err, errlen, "plan: byte %llu: the document ends before it is complete (%s)",
                     (unsigned long long)s->consumed, s->consumed ? "truncated?" : "empty input");
        else
            parse_error(s, NULL, 0, s->consumed, err, errlen);
        s->failed = 1;
        return -1;
    }
    if (!s->seen_root || !s->seen_format) {
        snprintf(err, errlen,
                 "plan: not a Terraform JSON plan (no format_version); make one with "
                 "`terraform show -json PLANFILE`");
        s->failed = 1;
        return -1;
    }
    if (s->st.refs_truncated) {
        snprintf(err, errlen,
                 "plan: more than %zu image references (the limit); refusing to give a verdict "
                 "on part of the plan",
                 s->lim.max_refs);
        s->failed = 1;
        return -1;
    }
    scan_resolve(&s->st);
    if (s->st.refs_truncated) {
        snprintf(err, errlen,
                 "plan: more than %zu image references (the limit); refusing to give a verdict "
                 "on part of the plan",
                 s->lim.max_refs);
        s->failed = 1;
        return -1;
    }
    scan_result *r = xcalloc(1, sizeof *r);
    r->refs = s->st.refs;
    r->n_refs = s->st.n_refs;
    r->gated_addresses = s->st.gated;
    r->gated = s->gated;
    r->resources = s->resources;
    r->bytes = s->consumed;
    r->format_version = s->format_version;
    r->refs_truncated = s->st.refs_truncated != 0;
    s->format_version = NULL;
    s->st.refs = NULL;
    s->st.n_refs = s->st.cap_refs = 0;
    s->st.gated = NULL;
    s->st.n_gated = s->st.cap_gated = 0;
    /* the strings live in the arena, which moves to the result */
    arena *a = xmalloc(sizeof *a);
    *a = s->result_arena;
    r->arena_ = a;
    arena_init(&s->result_arena);
    s->st.ar = &s->result_arena;
    *out = r;
    return 0;
}

scan_result *scan_result_new(void)
{
    return xcalloc(1, sizeof(scan_result));
}

void scan_result_free(scan_result *r)
{
    if (!r)
        return;
    free(r->refs);
    free(r->gated_addresses);
    free(r->format_version);
    if (r->arena_) {
        arena_dispose(r->arena_);
        free(r->arena_);
    }
    free(r);
}

/* A regular file is mapped and fed in 1 MiB windows, each released once
 * read (so the mapping does not count against memory); anything else (stdin,
 * a pipe) is read in 256 KiB chunks. */
static int feed_mapped(scan_plan *s, int fd, size_t size, const char *name, char *err,
                       size_t errlen)
{
    const size_t win = 1u << 20;
    char *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED)
        return 1; /* not mappable: read it instead */
    madvise(map, size, MADV_SEQUENTIAL);
    char e2[512];
    int rc = 0;
    for (size_t off = 0; off < size; off += win) {
        size_t n = size - off < win ? size - off : win;
        if (scan_plan_feed(s, map + off, n, e2, sizeof e2)) {
            snprintf(err, errlen, "%s: %s", name, e2);
            rc = -1;
            break;
        }
        madvise(map + off, n, MADV_DONTNEED);
    }
    munmap(map, size);
    return rc;
}

int scan_plan_file(const rules *rs, const scan_limits *lim, const char *path, scan_result **out,
                   char *err, size_t errlen)
{
    int is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "stdin" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    scan_plan *s = scan_plan_new(rs, lim);
    char *buf = NULL;
    int rc = 1;
    char e2[512];
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0)
        rc = feed_mapped(s, fd, (size_t)st.st_size, name, err, errlen);
    if (rc == 1) {
        rc = 0;
        size_t cap = 256 * 1024;
        buf = xmalloc(cap);
        for (;;) {
            ssize_t n = read(fd, buf, cap);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                snprintf(err, errlen, "%s: %s", name, strerror(errno));
                rc = -1;
                break;
            }
            if (n == 0)
                break;
            if (scan_plan_feed(s, buf, (size_t)n, e2, sizeof e2)) {
                snprintf(err, errlen, "%s: %s", name, e2);
                rc = -1;
                break;
            }
        }
    }
    if (rc == 0 && scan_plan_finish(s, out, e2, sizeof e2)) {
        snprintf(err, errlen, "%s: %s", name, e2);
        rc = -1;
    }
    free(buf);
    scan_plan_free(s);
    if (!is_stdin)
        close(fd);
    return rc;
}
