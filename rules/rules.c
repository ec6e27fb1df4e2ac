/* Rule loading and matching.
 *
 * Rule files are YAML (docs/rules.md): `patterns` (name, platform, regex,
 * case_insensitive) and `resources` (resource type -> list of attribute
 * paths with [] for list elements). Every pattern is compiled on its own
 * first, so a bad one is reported with its file, line and PCRE2's message;
 * then all of them are joined into one alternation, each branch tagged with
 * (*MARK:n), and JIT-compiled. Finding an image ID anywhere in a string is
 * then one PCRE2 call whatever the number of patterns, and the mark says
 * which pattern matched. A later file may redefine a pattern by name and add
 * attribute paths to a resource type. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "rules/rules.h"

#include <dirent.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/strmap.h"
#include "common/xalloc.h"
#include "common/ydoc.h"
#include "rules/rules_shipped.h"

typedef struct {
    char **paths;
    size_t n, cap;
} type_rule;

#define PATH_FULL RULES_PATH_FULL
#define PATH_PREFIX RULES_PATH_PREFIX

/* uint64 path hash -> flags, open addressing (0 = empty slot) */
typedef struct {
    uint64_t *keys;
    unsigned char *flags;
    size_t cap, count;
} hset;

struct rules {
    rules_pattern *patterns;
    size_t n_patterns, cap_patterns;
    strmap types; /* type -> type_rule* */
    strmap paths; /* normalised path -> (void *)(uintptr_t)flags */
    hset hashes;  /* rolling hash of normalised path -> flags */
    uint64_t seg_filter[256];
    pcre2_code *combined;
    uint32_t *group; /* the group of combined that wraps pattern i */
    size_t min_length;
};

/* The memo of rules_iter: direct-mapped by the string's hash. */
#define MEMO_SLOTS 256
#define MEMO_LEN 128
typedef struct memo_slot {
    uint64_t hash;
    size_t len, n; /* len 0: empty */
    char s[MEMO_LEN];
    rules_match m[RULES_ITER_HITS];
} memo_slot;

struct rules_matcher {
    const rules *rs;
    pcre2_match_data *md;
    memo_slot *memo; /* MEMO_SLOTS, made on first use */
};

static void hset_put(hset *hs, uint64_t k, unsigned char f)
{
    if (k == 0)
        k = 1;
    if ((hs->count + 1) * 2 > hs->cap) {
        size_t nc = hs->cap ? hs->cap * 2 : 64;
        uint64_t *nk = xcalloc(nc, sizeof *nk);
        unsigned char *nf = xcalloc(nc, 1);
        for (size_t i = 0; i < hs->cap; i++) {
            if (!hs->keys[i])
                continue;
            size_t j = hs->keys[i] & (nc - 1);
            while (nk[j])
                j = (j + 1) & (nc - 1);
            nk[j] = hs->keys[i];
            nf[j] = hs->flags[i];
        }
        free(hs->keys);
        free(hs->flags);
        hs->keys = nk;
        hs->flags = nf;
        hs->cap = nc;
    }
    size_t j = k & (hs->cap - 1);
    while (hs->keys[j] && hs->keys[j] != k)
        j = (j + 1) & (hs->cap - 1);
    if (!hs->keys[j]) {
        hs->keys[j] = k;
        hs->count++;
    }
    hs->flags[j] |= f;
}

int rules_path_flags(const rules *rs, uint64_t k)
{
    const hset *hs = &rs->hashes;
    if (!hs->cap)
        return 0;
    if (k == 0)
        k = 1;
    size_t j = k & (hs->cap - 1);
    while (hs->keys[j]) {
        if (hs->keys[j] == k)
            return hs->flags[j];
        j = (j + 1) & (hs->cap - 1);
    }
    return 0;
}

const uint64_t *rules_segment_filter(const rules *rs)
{
    return rs->seg_filter;
}

size_t rules_min_length(const rules *rs)
{
    return rs->min_length;
}

static void add_path_hashes(rules *rs, const char *path)
{
    uint64_t h = RULES_PATH_ROOT;
    const char *p = path;
    while (*p) {
        const char *e = p;
        while (*e && *e != '.' && *e != '[')
            e++;
        size_t sl = (size_t)(e - p);
        if (sl)
            rs->seg_filter[(unsigned char)p[0]] |= 1ULL << (sl < 63 ? sl : 63);
        h = rules_path_key(h, p, sl);
        p = e;
        while (p[0] == '[' && p[1] == ']') {
            hset_put(&rs->hashes, h, PATH_PREFIX);
            h = rules_path_index(h);
            p += 2;
        }
        if (*p == '.') {
            hset_put(&rs->hashes, h, PATH_PREFIX);
            p++;
        }
    }
    hset_put(&rs->hashes, h, PATH_FULL);
}

static rules *rules_new(void)
{
    rules *rs = xcalloc(1, sizeof *rs);
    strmap_init(&rs->types);
    strmap_init(&rs->paths);
    return rs;
}

void rules_free(rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n_patterns; i++) {
        free((char *)rs->patterns[i].name);
        free((char *)rs->patterns[i].platform);
        free((char *)rs->patterns[i].regex);
    }
    free(rs->patterns);
    for (size_t i = 0; i < rs->types.cap; i++) {
        type_rule *t = rs->types.slots[i].value;
        if (!t)
            continue;
        for (size_t k = 0; k < t->n; k++)
            free(t->paths[k]);
        free(t->paths);
        free(t);
    }
    strmap_dispose(&rs->types);
    strmap_dispose(&rs->paths);
    free(rs->hashes.keys);
    free(rs->hashes.flags);
    pcre2_code_free(rs->combined);
    free(rs->group);
    free(rs);
}

/* "launch_specification[].ami": segments of [A-Za-z0-9_-] with optional [],
 * joined by dots. */
static int valid_path(const char *p)
{
    if (!*p)
        return 0;
    const char *s = p;
    for (;;) {
        const char *start = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
               *s == '_' || *s == '-')
            s++;
        if (s == start)
            return 0;
        while (s[0] == '[' && s[1] == ']')
            s += 2;
        if (*s == '\0')
            return 1;
        if (*s != '.')
            return 0;
        s++;
    }
}

static void add_path_flags(rules *rs, const char *p, size_t n, uintptr_t flag)
{
    strmap_entry *e = strmap_upsert(&rs->paths, p, n, NULL);
    e->value = (void *)((uintptr_t)e->value | flag);
}

static void add_attribute(rules *rs, const char *type, const char *path)
{
    int created;
    strmap_entry *e = strmap_upsert(&rs->types, type, strlen(type), &created);
    type_rule *t = e->value;
    if (!t) {
        t = xcalloc(1, sizeof *t);
        e->value = t;
    }
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->paths[i], path) == 0)
            return;
    xgrow((void **)&t->paths, &t->cap, t->n + 1, sizeof *t->paths);
    t->paths[t->n++] = xstrdup(path);
    size_t len = strlen(path);
    add_path_flags(rs, path, len, PATH_FULL);
    add_path_hashes(rs, path);
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '.' || path[i] == '[')
            add_path_flags(rs, path, i, PATH_PREFIX);
        if (path[i] == ']')
            add_path_flags(rs, path, i + 1, PATH_PREFIX);
    }
}

/* Compiles regex alone to check it; its number of capture groups, or -1. */
static int compile_check(const char *regex, bool ci, const char *file, int line, char *err,
                         size_t errlen)
{
    int ec;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED, ci ? PCRE2_CASELESS : 0,
                                  &ec, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "%s:%d: regex: %s at offset %zu", file, line, (char *)msg,
                 (size_t)off);
        return -1;
    }
    uint32_t capture_count = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &capture_count);
    /* A pattern that can match the empty string would "find" an image in
     * every value. */
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(c, NULL);
    int rc = pcre2_match(c, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);
    pcre2_match_data_free(md);
    pcre2_code_free(c);
    if (rc >= 0) {
        snprintf(err, errlen, "%s:%d: regex matches the empty string", file, line);
        return -1;
    }
    return (int)capture_count;
}

static int scalar(const ynode *n, const char *file, const char *what, char *err, size_t errlen)
{
    if (!n || n->type != YNODE_SCALAR || !*n->value) {
        snprintf(err, errlen, "%s:%d: %s must be a non-empty string", file, n ? n->line : 0, what);
        return -1;
    }
    return 0;
}

static int load_patterns(rules *rs, const ynode *seq, const char *file, char *err, size_t errlen)
{
    if (seq->type != YNODE_SEQ) {
        snprintf(err, errlen, "%s:%d: patterns must be a list", file, seq->line);
        return -1;
    }
    for (size_t i = 0; i < seq->n; i++) {
        const ynode *p = seq->items[i];
        if (p->type != YNODE_MAP) {
            snprintf(err, errlen, "%s:%d: a pattern must be a mapping with name, platform, regex",
                     file, p->line);
            return -1;
        }
        for (size_t k = 0; k < p->n; k++) {
            const char *key = p->keys[k];
            if (strcmp(key, "name") && strcmp(key, "platform") && strcmp(key, "regex") &&
                strcmp(key, "case_insensitive") && strcmp(key, "description")) {
                snprintf(err, errlen, "%s:%d: unknown pattern key '%.40s'", file, p->key_lines[k],
                         key);
                return -1;
            }
        }
        const ynode *name = ydoc_get(p, "name"), *plat = ydoc_get(p, "platform"),
                    *re = ydoc_get(p, "regex"), *ci = ydoc_get(p, "case_insensitive");
        if (!name || !plat || !re) {
            snprintf(err, errlen, "%s:%d: a pattern needs name, platform and regex", file, p->line);
            return -1;
        }
        if (scalar(name, file, "name", err, errlen) ||
            scalar(plat, file, "platform", err, errlen) || scalar(re, file, "regex", err, errlen))
            return -1;
        bool icase = false;
        if (ci && ydoc_bool(ci, &icase) != 0) {
            snprintf(err, errlen, "%s:%d: case_insensitive must be true or false", file, ci->line);
            return -1;
        }
        int groups = compile_check(re->value, icase, file, re->line, err, errlen);
        if (groups < 0)
            return -1;
        rules_pattern *slot = NULL;
        for (size_t k = 0; k < rs->n_patterns; k++)
            if (strcmp(rs->patterns[k].name, name->value) == 0)
                slot = &rs->patterns[k];
        if (slot) {
            free((char *)slot->platform);
            free((char *)slot->regex);
        } else {
            xgrow((void **)&rs->patterns, &rs->cap_patterns, rs->n_patterns + 1,
                  sizeof *rs->patterns);
            slot = &rs->patterns[rs->n_patterns++];
            slot->name = xstrdup(name->value);
        }
        slot->platform = xstrdup(plat->value);
        slot->regex = xstrdup(re->value);
        slot->case_insensitive = icase;
        slot->groups = (unsigned)groups;
    }
    return 0;
}

static int load_resources(rules *rs, const ynode *map, const char *file, char *err, size_t errlen)
{
    if (map->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: resources must map resource types to attribute lists", file,
                 map->line);
        return -1;
    }
    for (size_t i = 0; i < map->n; i++) {
        const char *type = map->keys[i];
        const ynode *v = map->items[i];
        if (!valid_path(type) || strchr(type, '.') || strchr(type, '[')) {
            snprintf(err, errlen, "%s:%d: '%.60s' is not a resource type", file, map->key_lines[i],
                     type);
            return -1;
        }
        if (v->type == YNODE_SCALAR && !ydoc_is_null(v)) {
            /* a single path written without brackets */
            if (!valid_path(v->value)) {
                snprintf(err, errlen, "%s:%d: '%.60s' is not an attribute path", file, v->line,
                         v->value);
                return -1;
            }
            add_attribute(rs, type, v->value);
            continue;
        }
        if (v->type != YNODE_SEQ) {
            snprintf(err, errlen, "%s:%d: %s: expected a list of attribute paths", file, v->line,
                     type);
            return -1;
        }
        for (size_t k = 0; k < v->n; k++) {
            const ynode *p = v->items[k];
            if (p->type != YNODE_SCALAR || !valid_path(p->value)) {
                snprintf(err, errlen,
                         "%s:%d: %s: '%.60s' is not an attribute path (like ami or "
                         "launch_specification[].ami)",
                         file, p->line, type, p->type == YNODE_SCALAR ? p->value : "(not text)");
                return -1;
            }
            add_attribute(rs, type, p->value);
        }
    }
    return 0;
}

static int load_doc(rules *rs, const ynode *doc, const char *file, char *err, size_t errlen)
{
    if (doc->type != YNODE_MAP) {
        snprintf(err, errlen, "%s:%d: a rule file is a mapping with patterns and resources", file,
                 doc->line);
        return -1;
    }
    for (size_t i = 0; i < doc->n; i++) {
        const char *k = doc->keys[i];
        int rc;
        if (strcmp(k, "patterns") == 0)
            rc = load_patterns(rs, doc->items[i], file, err, errlen);
        else if (strcmp(k, "resources") == 0)
            rc = load_resources(rs, doc->items[i], file, err, errlen);
        else {
            snprintf(err, errlen, "%s:%d: unknown key '%.40s' (expected patterns, resources)", file,
                     doc->key_lines[i], k);
            rc = -1;
        }
        if (rc)
            return -1;
    }
    return 0;
}

static int load_text(rules *rs, const char *buf, size_t len, const char *name, char *err,
                     size_t errlen)
{
    ynode *doc = ydoc_parse_string(buf, len, name, err, errlen);
    if (!doc)
        return -1;
    int rc = load_doc(rs, doc, name, err, errlen);
    ydoc_free(doc);
    return rc;
}

static int finish(rules *rs, char *err, size_t errlen)
{
    if (rs->n_patterns == 0) {
        snprintf(err, errlen, "rules: no image ID patterns defined");
        return -1;
    }
    /* Each pattern in a capture group of its own, whose number tells which
     * one matched: (*MARK:n) would say it too, but a mark at the start of
     * each branch keeps PCRE2 from computing the set of first bytes, and a
     * value with no image ID then costs 3-5 times as much to search. */
    strbuf b = STRBUF_INIT;
    rs->group = xcalloc(rs->n_patterns, sizeof *rs->group);
    for (size_t i = 0, g = 1; i < rs->n_patterns; i++) {
        if (i)
            strbuf_putc(&b, '|');
        strbuf_printf(&b, "((?%s:%s))", rs->patterns[i].case_insensitive ? "i" : "",
                      rs->patterns[i].regex);
        rs->group[i] = (uint32_t)g;
        g += 1 + rs->patterns[i].groups;
    }
    int ec;
    PCRE2_SIZE off;
    rs->combined = pcre2_compile((PCRE2_SPTR)b.s, b.len, PCRE2_DUPNAMES, &ec, &off, NULL);
    strbuf_dispose(&b);
    if (!rs->combined) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(ec, msg, sizeof msg);
        snprintf(err, errlen, "rules: patterns cannot be combined: %s", (char *)msg);
        return -1;
    }
    /* JIT is an optimisation: without it pcre2_match interprets. */
    (void)pcre2_jit_compile(rs->combined, PCRE2_JIT_COMPLETE);
    uint32_t minlen = 0;
    pcre2_pattern_info(rs->combined, PCRE2_INFO_MINLENGTH, &minlen);
    rs->min_length = minlen ? minlen : 1;
    return 0;
}

static int load_shipped(rules *rs, char *err, size_t errlen)
{
    for (size_t i = 0; i < rules_shipped_count; i++)
        if (load_text(rs, rules_shipped[i].text, rules_shipped[i].len, rules_shipped[i].name, err,
                      errlen))
            return -1;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_dir(rules *rs, const char *dir, char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "--rules %s: cannot open the directory", dir);
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if ((l > 5 && strcmp(de->d_name + l - 5, ".yaml") == 0) ||
            (l > 4 && strcmp(de->d_name + l - 4, ".yml") == 0)) {
            xgrow((void **)&names, &cap, n + 1, sizeof *names);
            names[n++] = xstrdup(de->d_name);
        }
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *path = xasprintf("%s/%s", dir, names[i]);
        ynode *doc = ydoc_parse_file(path, err, errlen);
        if (!doc)
            rc = -1;
        else
            rc = load_doc(rs, doc, path, err, errlen);
        ydoc_free(doc);
        free(path);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "--rules %s: no .yaml or .yml rule files in it", dir);
        return -1;
    }
    return rc;
}

rules *rules_load(const char *extra_dir, char *err, size_t errlen)
{
    rules *rs = rules_new();
    if (load_shipped(rs, err, errlen))
        goto fail;
    if (extra_dir && load_dir(rs, extra_dir, err, errlen))
        goto fail;
    if (finish(rs, err, errlen))
        goto fail;
    return rs;
fail:
    rules_free(rs);
    return NULL;
}

rules *rules_load_buffer(const char *buf, size_t len, const char *name, bool with_shipped,
                         char *err, size_t errlen)
{
    rules *rs = rules_new();
    if (with_shipped && load_shipped(rs, err, errlen))
        goto fail;
    if (load_text(rs, buf, len, name, err, errlen))
        goto fail;
    if (finish(rs, err, errlen))
        goto fail;
    return rs;
fail:
    rules_free(rs);
    return NULL;
}

size_t rules_attributes(const rules *rs, const char *resource_type, const char *const **paths)
{
    type_rule *t = strmap_get(&rs->types, resource_type, strlen(resource_type));
    if (!t) {
        *paths = NULL;
        return 0;
    }
    *paths = (const char *const *)t->paths;
    return t->n;
}

bool rules_is_any_attribute(const rules *rs, const char *norm_path, size_t len)
{
    uintptr_t f = (uintptr_t)strmap_get(&rs->paths, norm_path, len);
    return (f & PATH_FULL) != 0;
}

bool rules_is_attribute_prefix(const rules *rs, const char *norm_path, size_t len)
{
    uintptr_t f = (uintptr_t)strmap_get(&rs->paths, norm_path, len);
    return f != 0;
}

size_t rules_pattern_count(const rules *rs)
{
    return rs->n_patterns;
}

const rules_pattern *rules_pattern_at(const rules *rs, size_t i)
{
    return i < rs->n_patterns ? &rs->patterns[i] : NULL;
}

rules_matcher *rules_matcher_new(const rules *rs)
{
    rules_matcher *m = xcalloc(1, sizeof *m);
    m->rs = rs;
    m->md = pcre2_match_data_create_from_pattern(rs->combined, NULL);
    if (!m->md) {
        fprintf(stderr, "imagegate: out of memory (pcre2 match data)\n");
        abort();
    }
    return m;
}

void rules_matcher_free(rules_matcher *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    free(m->memo);
    free(m);
}

int rules_find(rules_matcher *m, const char *s, size_t len, size_t start, rules_match *out)
{
    if (start >= len)
        return 0;
    int rc = pcre2_match(m->rs->combined, (PCRE2_SPTR)s, len, start, 0, m->md, NULL);
    if (rc < 0)
        return 0;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
    out->start = ov[0];
    out->len = ov[1] - ov[0];
    out->lookup_start = out->start;
    out->lookup_len = out->len;
    out->pattern = 0;
    for (size_t i = 0; i < m->rs->n_patterns; i++) {
        uint32_t g = m->rs->group[i];
        if ((int)g < rc && ov[2 * g] != PCRE2_UNSET) {
            out->pattern = i;
            break;
        }
    }
    /* the "id" group, when a pattern defines one and it took part */
    PCRE2_SPTR first, last;
    int esize = pcre2_substring_nametable_scan(m->rs->combined, (PCRE2_SPTR) "id", &first, &last);
    if (esize > 0) {
        for (PCRE2_SPTR e = first; e <= last; e += esize) {
            int num = (e[0] << 8) | e[1];
            if (num < rc && ov[2 * num] != PCRE2_UNSET) {
                out->lookup_start = ov[2 * num];
                out->lookup_len = ov[2 * num + 1] - ov[2 * num];
                break;
            }
        }
    }
    if (out->len == 0)
        return 0;
    return 1;
}

int rules_match_whole(rules_matcher *m, const char *s, size_t len, rules_match *out)
{
    return rules_find(m, s, len, 0, out) && out->start == 0 && out->len == len;
}

void rules_iter_start(rules_iter *it, rules_matcher *m, const char *s, size_t len)
{
    *it = (rules_iter){.m = m, .s = s, .len = len};
    if (len == 0 || len > MEMO_LEN)
        return;
    if (!m->memo)
        m->memo = xcalloc(MEMO_SLOTS, sizeof *m->memo);
    it->hash = strmap_hash(s, len);
    const memo_slot *e = &m->memo[it->hash % MEMO_SLOTS];
    if (e->len == len && e->hash == it->hash && memcmp(e->s, s, len) == 0) {
        it->remembered = 1;
        it->n = e->n;
        memcpy(it->found, e->m, e->n * sizeof *e->m);
    }
}

/* A search that reached the end with few enough matches is remembered. */
static void memo_put(rules_iter *it)
{
    if (it->n > RULES_ITER_HITS || it->len > MEMO_LEN || it->len == 0)
        return;
    memo_slot *e = &it->m->memo[it->hash % MEMO_SLOTS];
    e->hash = it->hash;
    e->len = it->len;
    e->n = it->n;
    memcpy(e->s, it->s, it->len);
    memcpy(e->m, it->found, it->n * sizeof *it->found);
}

int rules_next(rules_iter *it, rules_match *out)
{
    if (it->remembered) {
        if (it->next >= it->n)
            return 0;
        *out = it->found[it->next++];
        return 1;
    }
    if (it->off >= it->len || !rules_find(it->m, it->s, it->len, it->off, out)) {
        it->off = it->len;
        memo_put(it);
        it->remembered = 1; /* a further call gives nothing */
        it->next = it->n = 0;
        return 0;
    }
    if (it->n < RULES_ITER_HITS)
        it->found[it->n] = *out;
    it->n++;
    it->off = out->start + out->len;
    return 1;
}
