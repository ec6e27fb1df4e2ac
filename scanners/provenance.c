/* The pass that runs once the plan has been read: where did each image value
 * come from, which image IDs are written in the configuration of a gated
 * resource, which hcp_packer data sources gated resources use, and image IDs
 * in outputs.
 *
 * Provenance follows PRODUCT.md section 3. An expression with a
 * constant_value is a literal. References are followed: var.X to the root
 * variable's value / default or, inside a module, to the module call's
 * argument (a literal there is a "module_input"), at any depth;
 * module.M.OUT into the module's output expression; data.* is a data source;
 * local.* is a local (the plan JSON does not show locals), unless the image ID
 * is among the values of a data source read in the plan; other T.N are
 * resources; each.* and count.index lead to the for_each / count expression
 * of the resource or module call they belong to. When an expression
 * references several things, configuration evidence wins: a hardcoded
 * source whose written value contains the image ID beats everything, then
 * data sources, resources, locals. Everything here reads the configuration
 * tree the scanner kept. Traces are memoised per (expression, image): the
 * 2000 instances of a resource cost one trace per image, and a configuration
 * that passes variables through many modules is followed once per
 * expression, not once per path; the memo holds one entry per reference. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/xalloc.h"
#include "scanners/scan_internal.h"

#define MAX_MODS 64
#define MAX_TRACE_DEPTH 64

/* ---- shared helpers --------------------------------------------------- */

scan_ref *scan_state_push(scan_state *st)
{
    if (st->n_refs >= st->max_refs) {
        st->refs_truncated = 1;
        return NULL;
    }
    xgrow((void **)&st->refs, &st->cap_refs, st->n_refs + 1, sizeof *st->refs);
    scan_ref *r = &st->refs[st->n_refs++];
    memset(r, 0, sizeof *r);
    return r;
}

int scan_path_sensitive(const sens_list *sl, const char *path)
{
    if (!sl)
        return 0;
    for (size_t i = 0; i < sl->n; i++) {
        const char *p = sl->paths[i];
        size_t n = strlen(p);
        if (n == 0)
            return 1;
        if (strncmp(path, p, n) == 0 && (path[n] == '\0' || path[n] == '.' || path[n] == '['))
            return 1;
    }
    return 0;
}

size_t scan_norm_path(const char *path, char *out)
{
    size_t o = 0;
    for (const char *p = path; *p; p++) {
        if (*p == '[' && p[1] >= '0' && p[1] <= '9') {
            const char *q = p + 1;
            while (*q >= '0' && *q <= '9')
                q++;
            if (*q == ']') {
                out[o++] = '[';
                out[o++] = ']';
                p = q;
                continue;
            }
        }
        out[o++] = *p;
    }
    out[o] = '\0';
    return o;
}

static void collect_ids(scan_state *st, const json_t *v, int depth)
{
    if (!v || depth > 64)
        return;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        rules_match mt;
        rules_iter it;
        rules_iter_start(&it, st->m, s, json_string_length(v));
        while (rules_next(&it, &mt)) {
            strmap_upsert(&st->data_ids, s + mt.start, mt.len, NULL);
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c) collect_ids(st, c, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c) collect_ids(st, c, depth + 1);
    }
}

void scan_collect_data_ids(scan_state *st, const json_t *v)
{
    collect_ids(st, v, 0);
}

static const char *field(const json_t *vals, const char *a, const char *b)
{
    const char *v = json_string_value(json_object_get(vals, a));
    if ((!v || !*v) && b)
        v = json_string_value(json_object_get(vals, b));
    return v && *v ? v : NULL;
}

void scan_add_data_source(scan_state *st, const char *address, const char *type,
                          const json_t *values)
{
    if (!address || !type || strncmp(type, "hcp_packer_", 11) != 0)
        return;
    if (strcmp(type, "hcp_packer_version") && strcmp(type, "hcp_packer_artifact") &&
        strcmp(type, "hcp_packer_iteration") && strcmp(type, "hcp_packer_image"))
        return;
    int created;
    strmap_upsert(&st->data_addrs, address, strlen(address), &created);
    if (!created)
        return;
    scan_ref *r = scan_state_push(st);
    if (!r)
        return;
    r->kind = SCAN_REF_DATA;
    r->address = arena_strdup(st->ar, address);
    r->data_type = arena_strdup(st->ar, type);
    r->bucket = arena_strdup(st->ar, field(values, "bucket_name", NULL));
    r->fingerprint = arena_strdup(st->ar, field(values, "version_fingerprint", "fingerprint"));
    if (strcmp(type, "hcp_packer_image") == 0)
        r->version_id = arena_strdup(st->ar, field(values, "iteration_id", NULL));
    else if (strcmp(type, "hcp_packer_iteration") == 0)
        r->version_id = arena_strdup(st->ar, field(values, "ulid", "id"));
    else if (strcmp(type, "hcp_packer_version") == 0)
        r->version_id = arena_strdup(st->ar, field(values, "id", NULL));
    r->channel = arena_strdup(st->ar, field(values, "channel_name", "channel"));
    const char *ext = field(values, "external_identifier", "cloud_image_id");
    if (ext) {
        r->value = arena_strdup(st->ar, ext);
        r->lookup = r->value;
        r->recognized = true;
    }
    r->action = SCAN_ACT_NONE;
    r->provenance = SCAN_PROV_UNKNOWN;
}

/* ---- addresses -------------------------------------------------------- */

typedef struct addr_parts {
    char *mods[MAX_MODS];
    size_t n_mods;
    char *res; /* "aws_instance.app" / "data.aws_ami.x" (no instance key) */
    char *buf;
} addr_parts;

/* Splits "module.a[\"k\"].module.b.aws_instance.c[0]" into module names and
 * the resource address within its module, dropping instance keys. */
static int addr_parse(const char *addr, addr_parts *ap)
{
    memset(ap, 0, sizeof *ap);
    char *segs[MAX_MODS * 2 + 8];
    size_t n = 0;
    size_t len = strlen(addr);
    ap->buf = xmalloc(len + 1);
    char *o = ap->buf;
    const char *p = addr;
    while (*p) {
        if (n >= sizeof segs / sizeof segs[0])
            return -1;
        segs[n++] = o;
        while (*p && *p != '.' && *p != '[')
            *o++ = *p++;
        *o++ = '\0';
        while (*p == '[') {
            p++;
            int inq = 0;
            while (*p && (inq || *p != ']')) {
                if (*p == '\\' && p[1])
                    p++;
                else if (*p == '"')
                    inq = !inq;
                p++;
            }
            if (*p == ']')
                p++;
        }
        if (*p == '.')
            p++;
    }
    size_t i = 0;
    while (i + 1 < n && strcmp(segs[i], "module") == 0) {
        if (ap->n_mods >= MAX_MODS)
            return -1;
        ap->mods[ap->n_mods++] = segs[i + 1];
        i += 2;
    }
    if (i >= n)
        return -1;
    /* rejoin the rest ("data.T.N" or "T.N") in place: the NUL that ended
     * each segment before segs[k] becomes a dot */
    ap->res = segs[i];
    for (size_t k = i + 1; k < n; k++)
        ap->buf[(size_t)(segs[k] - ap->buf) - 1] = '.';
    return 0;
}

static void addr_dispose(addr_parts *ap)
{
    free(ap->buf);
}

/* ---- configuration walking ------------------------------------------- */

static const json_t *module_at(const json_t *config, char *const *mods, size_t n)
{
    const json_t *m = json_object_get(config, "root_module");
    for (size_t i = 0; i < n && m; i++)
        m = json_object_get(json_object_get(json_object_get(m, "module_calls"), mods[i]), "module");
    return m;
}

static const json_t *module_call(const json_t *config, char *const *mods, size_t n)
{
    if (n == 0)
        return NULL;
    const json_t *parent = module_at(config, mods, n - 1);
    return json_object_get(json_object_get(parent, "module_calls"), mods[n - 1]);
}

static const json_t *resource_in(const json_t *module, const char *res)
{
    const json_t *rs = json_object_get(module, "resources");
    size_t i;
    const json_t *r;
    json_array_foreach(rs, i, r)
    {
        const char *a = json_string_value(json_object_get(r, "address"));
        if (a && strcmp(a, res) == 0)
            return r;
    }
    return NULL;
}

static int is_expression(const json_t *v)
{
    return json_is_object(v) &&
           (json_object_get(v, "constant_value") || json_object_get(v, "references"));
}

/* The expression that sets a concrete attribute path: walks blocks (arrays
 * of expression objects); stops at the first real expression (a map
 * attribute such as tags is one expression). */
static const json_t *expr_for_path(const json_t *expressions, const char *path)
{
    const json_t *cur = expressions;
    const char *p = path;
    while (cur && *p) {
        if (is_expression(cur))
            return cur;
        char key[256];
        size_t k = 0;
        while (*p && *p != '.' && *p != '[' && k + 1 < sizeof key)
            key[k++] = *p++;
        key[k] = '\0';
        cur = json_object_get(cur, key);
        while (*p == '[') {
            unsigned long idx = strtoul(p + 1, NULL, 10);
            while (*p && *p != ']')
                p++;
            if (*p == ']')
                p++;
            if (json_is_array(cur)) {
                size_t n = json_array_size(cur);
                cur = idx < n ? json_array_get(cur, idx) : (n == 1 ? json_array_get(cur, 0) : NULL);
            }
        }
        if (*p == '.')
            p++;
    }
    return is_expression(cur) ? cur : NULL;
}

static int json_contains(const json_t *v, const char *s, int depth)
{
    if (!v || depth > 64)
        return 0;
    if (json_is_string(v))
        return strstr(json_string_value(v), s) != NULL;
    if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c) if (json_contains(c, s, depth + 1)) return 1;
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c) if (json_contains(c, s, depth + 1)) return 1;
    }
    return 0;
}

typedef struct prov {
    scan_provenance p;
    int evidence; /* the written value contains the image ID */
} prov;

typedef struct trace_ctx {
    const scan_state *st;
    const json_t *config;
    const char *value;
    strmap *seen; /* expression (its address) -> packed prov, for this value */
} trace_ctx;

/* prov in a strmap value: 0 is "absent", MEMO_BUSY "being followed". */
#define MEMO_BUSY ((void *)(uintptr_t)1)

static void *prov_pack(prov p)
{
    return (void *)(uintptr_t)(2 + ((uintptr_t)p.p << 1 | (p.evidence != 0)));
}

static prov prov_unpack(const void *v)
{
    uintptr_t x = (uintptr_t)v - 2;
    return (prov){(scan_provenance)(x >> 1), (int)(x & 1)};
}

/* Where an expression is written: in module mods[0..n), and for its each.*
 * and count.index references, the resource or module call (iter) whose
 * for_each / count it iterates over (NULL where there is none, as in an
 * output or in a for_each expression itself). */
typedef struct where {
    char *const *mods;
    size_t n;
    const json_t *iter;
} where;

static prov eval_expr(const trace_ctx *t, const json_t *expr, where w, int depth);

static int hardcoded_kind(scan_provenance p)
{
    return p == SCAN_PROV_LITERAL || p == SCAN_PROV_VARIABLE || p == SCAN_PROV_MODULE_INPUT;
}

static prov trace_var(const trace_ctx *t, const char *name, where w, int depth)
{
    prov r = {SCAN_PROV_VARIABLE, 0};
    if (w.n == 0) {
        const json_t *given = json_object_get(json_object_get(t->st->variables, name), "value");
        if (given) {
            r.evidence = json_contains(given, t->value, 0);
            return r;
        }
        const json_t *root = module_at(t->config, NULL, 0);
        const json_t *def =
            json_object_get(json_object_get(json_object_get(root, "variables"), name), "default");
        r.evidence = json_contains(def, t->value, 0);
        return r;
    }
    const json_t *call = module_call(t->config, w.mods, w.n);
    const json_t *arg = json_object_get(json_object_get(call, "expressions"), name);
    if (arg) {
        /* the argument is written in the parent, where each.* and
         * count.index are the module call's */
        where up_w = {w.mods, w.n - 1, call};
        prov up = eval_expr(t, arg, up_w, depth + 1);
        if (up.p == SCAN_PROV_LITERAL)
            up.p = SCAN_PROV_MODULE_INPUT;
        return up;
    }
    const json_t *mod = module_at(t->config, w.mods, w.n);
    const json_t *def =
        json_object_get(json_object_get(json_object_get(mod, "variables"), name), "default");
    r.evidence = json_contains(def, t->value, 0);
    return r;
}

static prov trace_output(const trace_ctx *t, const char *mname, const char *out, where w, int depth)
{
    prov r = {SCAN_PROV_UNKNOWN, 0};
    if (w.n + 1 > MAX_MODS)
        return r;
    char *sub[MAX_MODS];
    for (size_t i = 0; i < w.n; i++)
        sub[i] = w.mods[i];
    sub[w.n] = (char *)mname;
    const json_t *mod = module_at(t->config, sub, w.n + 1);
    const json_t *expr =
        json_object_get(json_object_get(json_object_get(mod, "outputs"), out), "expression");
    if (!expr)
        return r;
    where down = {sub, w.n + 1, NULL};
    return eval_expr(t, expr, down, depth + 1);
}

/* each.key / each.value (each_ref) or count.index: where the resource or
 * module call w.iter takes its instances from. Its for_each / count
 * expression is written in the same module as the expression that refers
 * to it. Terraform leaves out an expression that is neither a constant nor
 * made of references (toset(["ami-..."])): built from literals alone, it is
 * a literal. count.index is a number: when the count's own source does not
 * hold the image (count = 2, count = var.n), the image is written in the
 * expression that indexes with it ("[...][count.index]"), a literal too. */
static prov trace_iteration(const trace_ctx *t, int each_ref, where w, int depth)
{
    prov lit = {SCAN_PROV_LITERAL, 0};
    const json_t *e =
        json_object_get(w.iter, each_ref ? "for_each_expression" : "count_expression");
    if (!is_expression(e))
        return lit;
    where in = {w.mods, w.n, NULL};
    prov r = eval_expr(t, e, in, depth + 1);
    if (!each_ref && !r.evidence && (hardcoded_kind(r.p) || r.p == SCAN_PROV_UNKNOWN))
        return lit;
    return r;
}

/* Splits "a.b[0].c" into at most 4 dot-separated names (indexes dropped). */
static size_t ref_parts(const char *ref, char parts[4][128])
{
    size_t n = 0;
    const char *p = ref;
    while (*p && n < 4) {
        size_t k = 0;
        while (*p && *p != '.' && *p != '[') {
            if (k + 1 < 128)
                parts[n][k++] = *p;
            p++;
        }
        parts[n][k] = '\0';
        n++;
        while (*p == '[') {
            while (*p && *p != ']')
                p++;
            if (*p)
                p++;
        }
        if (*p == '.')
            p++;
    }
    return n;
}

static prov combine(const prov *c, size_t n, const trace_ctx *t)
{
    prov best = {SCAN_PROV_UNKNOWN, 0};
    for (size_t i = 0; i < n; i++)
        if (hardcoded_kind(c[i].p) && c[i].evidence)
            return c[i];
    static const scan_provenance order[] = {SCAN_PROV_DATA_SOURCE, SCAN_PROV_RESOURCE,
                                            SCAN_PROV_LOCAL};
    for (size_t o = 0; o < 3; o++)
        for (size_t i = 0; i < n; i++)
            if (c[i].p == order[o]) {
                best = c[i];
                if (best.p == SCAN_PROV_LOCAL &&
                    strmap_has(&t->st->data_ids, t->value, strlen(t->value)))
                    best.p = SCAN_PROV_DATA_SOURCE;
                return best;
            }
    for (size_t i = 0; i < n; i++)
        if (hardcoded_kind(c[i].p))
            return c[i];
    return best;
}

/* One reference of an expression written at w: its candidate provenance in
 * *out. Returns 0 when the reference says nothing about where a value
 * comes from (path.*, terraform.*, self), or an iteration reference already
 * followed for this expression (*iter_done). */
static int eval_ref(const trace_ctx *t, const char *ref, where w, int depth, int *iter_done,
                    prov *out)
{
    char parts[4][128];
    size_t np = ref_parts(ref, parts);
    if (np < 2)
        return 0;
    const char *h = parts[0];
    if (strcmp(h, "var") == 0)
        *out = trace_var(t, parts[1], w, depth);
    else if (strcmp(h, "local") == 0)
        *out = (prov){SCAN_PROV_LOCAL, 0};
    else if (strcmp(h, "data") == 0)
        *out = (prov){SCAN_PROV_DATA_SOURCE, 0};
    else if (strcmp(h, "module") == 0 && np >= 3)
        *out = trace_output(t, parts[1], parts[2], w, depth);
    else if (strcmp(h, "each") == 0 || strcmp(h, "count") == 0) {
        int bit = h[0] == 'e' ? 1 : 2;
        if (!w.iter || (*iter_done & bit))
            return 0;
        *iter_done |= bit;
        *out = trace_iteration(t, bit == 1, w, depth);
    } else if (strcmp(h, "path") == 0 || strcmp(h, "terraform") == 0 || strcmp(h, "self") == 0 ||
               strcmp(h, "module") == 0)
        return 0;
    else
        *out = (prov){SCAN_PROV_RESOURCE, 0};
    return 1;
}

static prov eval_expr(const trace_ctx *t, const json_t *expr, where w, int depth)
{
    prov r = {SCAN_PROV_UNKNOWN, 0};
    if (!expr || depth > MAX_TRACE_DEPTH)
        return r;
    const json_t *cv = json_object_get(expr, "constant_value");
    if (cv) {
        r.p = SCAN_PROV_LITERAL;
        r.evidence = json_contains(cv, t->value, 0);
        return r;
    }
    const json_t *refs = json_object_get(expr, "references");
    size_t nr = json_array_size(refs);
    if (nr == 0)
        return r;
    /* each expression is followed once per value: where every module passes
     * two variables on to the next, not 2^depth times (a reference back to
     * one being followed says nothing) */
    int created;
    strmap_entry *e = strmap_upsert(t->seen, (const char *)&expr, sizeof expr, &created);
    if (!created)
        return e->value == MEMO_BUSY ? r : prov_unpack(e->value);
    e->value = MEMO_BUSY;
    prov *c = xcalloc(nr, sizeof *c);
    size_t nc = 0;
    int iter_done = 0;
    for (size_t i = 0; i < nr; i++) {
        const char *ref = json_string_value(json_array_get(refs, i));
        if (ref && eval_ref(t, ref, w, depth, &iter_done, &c[nc]))
            nc++;
    }
    r = combine(c, nc, t);
    free(c);
    strmap_upsert(t->seen, (const char *)&expr, sizeof expr, NULL)->value = prov_pack(r);
    return r;
}

/* ---- configuration literals of a resource ---------------------------- */

typedef struct lit {
    char *path, *value, *lookup;
    size_t pattern;
} lit;

typedef struct lit_list {
    lit *items;
    size_t n, cap;
} lit_list;

static void lits_in_value(scan_state *st, const json_t *v, strbuf *path, lit_list *out, int depth)
{
    if (!v || depth > 64)
        return;
    size_t base = path->len;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        rules_match mt;
        rules_iter it;
        rules_iter_start(&it, st->m, s, json_string_length(v));
        while (rules_next(&it, &mt)) {
            xgrow((void **)&out->items, &out->cap, out->n + 1, sizeof *out->items);
            lit *l = &out->items[out->n++];
            l->path = xstrdup(path->s ? path->s : "");
            l->value = xstrndup(s + mt.start, mt.len);
            l->lookup = xstrndup(s + mt.lookup_start, mt.lookup_len);
            l->pattern = mt.pattern;
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            if (base)
                strbuf_putc(path, '.');
            strbuf_puts(path, k);
            lits_in_value(st, c, path, out, depth + 1);
            path->len = base;
            path->s[base] = '\0';
        }
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c)
        {
            strbuf_printf(path, "[%zu]", i);
            lits_in_value(st, c, path, out, depth + 1);
            path->len = base;
            path->s[base] = '\0';
        }
    }
}

static void lits_in_expressions(scan_state *st, const json_t *exprs, strbuf *path, lit_list *out,
                                int depth)
{
    if (!json_is_object(exprs) || depth > 32)
        return;
    size_t base = path->len;
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)exprs, k, v)
    {
        if (base)
            strbuf_putc(path, '.');
        strbuf_puts(path, k);
        if (is_expression(v)) {
            lits_in_value(st, json_object_get(v, "constant_value"), path, out, depth + 1);
        } else if (json_is_array(v)) {
            size_t i;
            const json_t *blk;
            size_t b2 = path->len;
            json_array_foreach(v, i, blk)
            {
                strbuf_printf(path, "[%zu]", i);
                lits_in_expressions(st, blk, path, out, depth + 1);
                path->len = b2;
                path->s[b2] = '\0';
            }
        } else if (json_is_object(v)) {
            lits_in_expressions(st, v, path, out, depth + 1);
        }
        path->len = base;
        if (path->s)
            path->s[base] = '\0';
    }
}

static void lit_list_free(lit_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].path);
        free(l->items[i].value);
        free(l->items[i].lookup);
    }
    free(l->items);
    free(l);
}

static char *module_prefix(const addr_parts *ap);

/* The data sources an expression tree depends on, as keys
 * "module.a.module.b.data.T.N". Followed like provenance: var.X inside a
 * module goes up to the module call's argument in the parent module, and
 * module.M.OUT down into that module's output expression, at any depth --
 * so a deferred hcp_packer_artifact passed into a module counts as used by
 * the module's resources. Every (module, var) and (module, output) is
 * followed once per pass (visited), which bounds the work on any
 * configuration. */
typedef struct refs_walk {
    const json_t *config;
    strmap *used;
    strmap *visited;
    int *locals; /* counts local.X references met (may be NULL) */
} refs_walk;

static void refs_in(const refs_walk *w, const json_t *v, char *const *mods, size_t n, int depth);

static char *mods_prefix(char *const *mods, size_t n)
{
    addr_parts ap;
    memset(&ap, 0, sizeof ap);
    for (size_t i = 0; i < n; i++)
        ap.mods[i] = mods[i];
    ap.n_mods = n;
    return module_prefix(&ap);
}

/* True the first time (prefix, what, name) is seen; *key is the visited
 * key (free it). On a later visit the local.X references its first walk met
 * are counted again for this resource: the walk is not repeated, but which
 * gated resource goes through a local must not depend on the order the
 * resources are walked in. */
static int first_visit(const refs_walk *w, char *const *mods, size_t n, const char *what,
                       const char *name, char **key)
{
    char *pre = mods_prefix(mods, n);
    *key = xasprintf("%s%s.%s", pre, what, name);
    free(pre);
    int created;
    strmap_entry *e = strmap_upsert(w->visited, *key, strlen(*key), &created);
    if (!created && e->value && w->locals)
        (*w->locals)++;
    return created;
}

/* After a first walk: remember whether it met a local (locals counted
 * since `before`). Entries are looked up again: the walk may have grown the
 * map. */
static void visited_done(const refs_walk *w, const char *key, int before)
{
    if (w->locals && *w->locals > before)
        strmap_upsert(w->visited, key, strlen(key), NULL)->value = (void *)1;
}

/* An argument of module call `call` that takes each.* or count.index uses
 * what the call's for_each / count expression uses. */
static void refs_iteration(const refs_walk *w, const json_t *call, const json_t *arg,
                           char *const *mods, size_t n, int depth)
{
    int each = 0, count = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(arg, "references"), i, r)
    {
        const char *s = json_string_value(r);
        each |= s && strncmp(s, "each.", 5) == 0;
        count |= s && strncmp(s, "count.", 6) == 0;
    }
    if (each)
        refs_in(w, json_object_get(call, "for_each_expression"), mods, n, depth);
    if (count)
        refs_in(w, json_object_get(call, "count_expression"), mods, n, depth);
}

static void refs_follow(const refs_walk *w, const char *s, char *const *mods, size_t n, int depth)
{
    char parts[4][128];
    size_t np = ref_parts(s, parts);
    if (np >= 3 && strcmp(parts[0], "data") == 0) {
        char *pre = mods_prefix(mods, n);
        char *key = xasprintf("%sdata.%s.%s", pre, parts[1], parts[2]);
        strmap_upsert(w->used, key, strlen(key), NULL);
        free(key);
        free(pre);
    } else if (np >= 2 && strcmp(parts[0], "local") == 0) {
        if (w->locals)
            (*w->locals)++;
    } else if (np >= 2 && strcmp(parts[0], "var") == 0 && n > 0) {
        char *key;
        int before = w->locals ? *w->locals : 0;
        if (first_visit(w, mods, n, "var", parts[1], &key)) {
            const json_t *call = module_call(w->config, mods, n);
            const json_t *arg = json_object_get(json_object_get(call, "expressions"), parts[1]);
            refs_in(w, arg, mods, n - 1, depth + 1);
            refs_iteration(w, call, arg, mods, n - 1, depth + 1);
            visited_done(w, key, before);
        }
        free(key);
    } else if (np >= 3 && strcmp(parts[0], "module") == 0 && n < MAX_MODS) {
        char pair[260], *key;
        snprintf(pair, sizeof pair, "%s.%s", parts[1], parts[2]);
        int before = w->locals ? *w->locals : 0;
        if (first_visit(w, mods, n, "module", pair, &key)) {
            char *sub[MAX_MODS];
            for (size_t i = 0; i < n; i++)
                sub[i] = mods[i];
            sub[n] = parts[1];
            const json_t *mod = module_at(w->config, sub, n + 1);
            const json_t *out = json_object_get(json_object_get(mod, "outputs"), parts[2]);
            refs_in(w, json_object_get(out, "expression"), sub, n + 1, depth + 1);
            visited_done(w, key, before);
        }
        free(key);
    }
}

static void refs_in(const refs_walk *w, const json_t *v, char *const *mods, size_t n, int depth)
{
    if (!v || depth > MAX_TRACE_DEPTH)
        return;
    if (json_is_object(v)) {
        const json_t *refs = json_object_get(v, "references");
        size_t i;
        const json_t *r;
        json_array_foreach(refs, i, r)
        {
            const char *s = json_string_value(r);
            if (s)
                refs_follow(w, s, mods, n, depth);
        }
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c) if (strcmp(k, "references"))
            refs_in(w, c, mods, n, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c) refs_in(w, c, mods, n, depth + 1);
    }
}

static char *module_prefix(const addr_parts *ap)
{
    strbuf b = STRBUF_INIT;
    for (size_t i = 0; i < ap->n_mods; i++)
        strbuf_printf(&b, "module.%s.", ap->mods[i]);
    return strbuf_steal(&b);
}

/* ---- the pass ------------------------------------------------------- */

/* Provenance depends on the expression and the image ID alone: it is
 * traced once per (expression, value) -- the 2000 instances of a resource
 * with four images cost four traces -- with a fresh per-trace memo. */
static void resolve_provenance(scan_state *st)
{
    strmap done, seen;
    strmap_init(&done);
    strmap_init(&seen);
    strbuf key = STRBUF_INIT;
    for (size_t i = 0; i < st->n_refs; i++) {
        scan_ref *r = &st->refs[i];
        if (r->kind != SCAN_REF_IMAGE || r->unknown || !r->value)
            continue;
        addr_parts ap;
        if (addr_parse(r->address, &ap) == 0) {
            const json_t *mod = module_at(st->config, ap.mods, ap.n_mods);
            const json_t *res = resource_in(mod, ap.res);
            const json_t *expr = expr_for_path(json_object_get(res, "expressions"), r->attribute);
            strbuf_reset(&key);
            strbuf_append(&key, (const char *)&expr, sizeof expr);
            strbuf_puts(&key, r->value);
            int created;
            strmap_entry *e = strmap_upsert(&done, key.s, key.len, &created);
            if (created) {
                trace_ctx t = {st, st->config, r->value, &seen};
                where w = {ap.mods, ap.n_mods, res};
                e->value = prov_pack(eval_expr(&t, expr, w, 0));
                if (seen.count)
                    strmap_dispose(&seen);
            }
            r->provenance = prov_unpack(e->value).p;
        }
        addr_dispose(&ap);
    }
    strbuf_dispose(&key);
    strmap_dispose(&done);
    strmap_dispose(&seen);
}

static int is_rule_path(const scan_state *st, const char *type, const char *path)
{
    const char *const *paths;
    size_t np = rules_attributes(st->rs, type, &paths);
    char *norm = xmalloc(strlen(path) + 1);
    scan_norm_path(path, norm);
    int hit = 0;
    for (size_t k = 0; k < np && !hit; k++)
        hit = strcmp(paths[k], norm) == 0;
    free(norm);
    return hit;
}

/* Literal image IDs written in each gated resource's configuration become
 * mentions (the AWS provider stores user_data as a hash, so the literal is
 * the only place the ID is visible). */
static void config_mentions(scan_state *st)
{
    if (!st->config)
        return;
    strmap cache; /* config address -> lit_list* */
    strmap_init(&cache);
    size_t n_before = st->n_refs;
    size_t ri = 0; /* refs of one resource are contiguous up to n_before */
    for (size_t g = 0; g < st->n_gated; g++) {
        const char *addr = st->gated[g];
        addr_parts ap;
        if (addr_parse(addr, &ap) != 0) {
            addr_dispose(&ap);
            continue;
        }
        char *pre = module_prefix(&ap);
        char *ckey = xasprintf("%s%s", pre, ap.res);
        int created;
        strmap_entry *e = strmap_upsert(&cache, ckey, strlen(ckey), &created);
        if (created) {
            lit_list *ll = xcalloc(1, sizeof *ll);
            const json_t *mod = module_at(st->config, ap.mods, ap.n_mods);
            const json_t *res = resource_in(mod, ap.res);
            strbuf path = STRBUF_INIT;
            strbuf_append(&path, "", 0);
            lits_in_expressions(st, json_object_get(res, "expressions"), &path, ll, 0);
            strbuf_dispose(&path);
            const char *type = json_string_value(json_object_get(res, "type"));
            /* drop literals that are the image attribute itself */
            size_t w = 0;
            for (size_t i = 0; i < ll->n; i++) {
                if (type && is_rule_path(st, type, ll->items[i].path)) {
                    free(ll->items[i].path);
                    free(ll->items[i].value);
                    free(ll->items[i].lookup);
                    continue;
                }
                ll->items[w++] = ll->items[i];
            }
            ll->n = w;
            e->value = ll;
        }
        lit_list *ll = e->value;
        free(ckey);
        free(pre);
        addr_dispose(&ap);
        if (!ll->n)
            continue;
        /* this resource's own refs: rc_finish pushed them contiguously, in
         * gated order, sharing the address pointer; data-source refs may
         * stand between resources */
        while (ri < n_before && st->refs[ri].kind == SCAN_REF_DATA)
            ri++;
        size_t rs = ri, re = ri;
        while (re < n_before && st->refs[re].address == addr)
            re++;
        const sens_list *sl = strmap_get(&st->sens, addr, strlen(addr));
        for (size_t i = 0; i < ll->n; i++) {
            lit *l = &ll->items[i];
            int dup = 0;
            for (size_t k = rs; k < re && !dup; k++) {
                if (st->refs[k].value && strcmp(st->refs[k].value, l->value) == 0) {
                    dup = 1;
                    if (scan_path_sensitive(sl, l->path))
                        st->refs[k].sensitive = true;
                }
            }
            for (size_t k = n_before; k < st->n_refs && !dup; k++)
                if (st->refs[k].address == addr && strcmp(st->refs[k].value, l->value) == 0)
                    dup = 1;
            if (dup)
                continue;
            scan_ref *r = scan_state_push(st);
            if (!r)
                goto out;
            r->kind = SCAN_REF_MENTION;
            r->address = (char *)addr;
            r->attribute = arena_strdup(st->ar, l->path);
            r->value = arena_strdup(st->ar, l->value);
            r->lookup = arena_strdup(st->ar, l->lookup);
            r->platform = rules_pattern_at(st->rs, l->pattern)->platform;
            r->recognized = true;
            r->sensitive = scan_path_sensitive(sl, l->path);
            r->provenance = SCAN_PROV_LITERAL;
            /* the action of the resource: from one of its refs, else create */
            r->action = rs < re ? st->refs[rs].action : SCAN_ACT_CREATE;
        }
        ri = re;
    }
out:
    for (size_t i = 0; i < cache.cap; i++)
        if (cache.slots[i].key)
            lit_list_free(cache.slots[i].value);
    strmap_dispose(&cache);
}

/* "module.a.module.b.aws_instance.x" of an address (instance keys dropped);
 * new string, NULL when the address does not parse. */
static char *config_key(const char *address)
{
    addr_parts ap;
    char *key = NULL;
    if (addr_parse(address, &ap) == 0) {
        char *pre = module_prefix(&ap);
        key = xasprintf("%s%s", pre, ap.res);
        free(pre);
    }
    addr_dispose(&ap);
    return key;
}

/* Which data sources the gated resources use (referenced_by_gated). Locals
 * are not in the plan JSON, so a reference through local.X cannot be
 * followed: when a gated resource whose image is unknown until apply goes
 * through a local, every deferred hcp_packer data source (read during
 * apply, so its image is unknown too) counts as used by it -- a revoked one
 * must fail the run rather than pass because the link is invisible. */
static void data_references(scan_state *st)
{
    if (!st->config)
        return;
    int any = 0;
    for (size_t i = 0; i < st->n_refs && !any; i++)
        any = st->refs[i].kind == SCAN_REF_DATA;
    if (!any)
        return;
    strmap used, seen, visited, via_local;
    strmap_init(&used);
    strmap_init(&seen);
    strmap_init(&visited);
    strmap_init(&via_local); /* config keys of gated resources that reference a local */
    int locals = 0;
    refs_walk w = {st->config, &used, &visited, &locals};
    for (size_t g = 0; g < st->n_gated; g++) {
        addr_parts ap;
        if (addr_parse(st->gated[g], &ap) == 0) {
            char *pre = module_prefix(&ap);
            char *ckey = xasprintf("%s%s", pre, ap.res);
            int created;
            strmap_upsert(&seen, ckey, strlen(ckey), &created);
            if (created) {
                const json_t *res = resource_in(module_at(st->config, ap.mods, ap.n_mods), ap.res);
                locals = 0;
                refs_in(&w, json_object_get(res, "expressions"), ap.mods, ap.n_mods, 0);
                refs_in(&w, json_object_get(res, "count_expression"), ap.mods, ap.n_mods, 0);
                refs_in(&w, json_object_get(res, "for_each_expression"), ap.mods, ap.n_mods, 0);
                if (locals)
                    strmap_upsert(&via_local, ckey, strlen(ckey), NULL);
            }
            free(ckey);
            free(pre);
        }
        addr_dispose(&ap);
    }
    /* a gated image unknown until apply, in a resource that goes through a local */
    const char *unknown_via_local = NULL;
    for (size_t i = 0; i < st->n_refs && via_local.count && !unknown_via_local; i++) {
        const scan_ref *r = &st->refs[i];
        if (r->kind != SCAN_REF_IMAGE || !r->unknown || r->action == SCAN_ACT_NONE)
            continue;
        char *key = config_key(r->address);
        if (key && strmap_has(&via_local, key, strlen(key)))
            unknown_via_local = r->address;
        free(key);
    }
    for (size_t i = 0; i < st->n_refs; i++) {
        scan_ref *r = &st->refs[i];
        if (r->kind != SCAN_REF_DATA)
            continue;
        char *key = config_key(r->address);
        r->referenced_by_gated = key && strmap_has(&used, key, strlen(key));
        free(key);
        if (!r->referenced_by_gated && !r->value && unknown_via_local) {
            r->referenced_by_gated = true;
            r->used_via_local = unknown_via_local;
        }
    }
    strmap_dispose(&used);
    strmap_dispose(&seen);
    strmap_dispose(&visited);
    strmap_dispose(&via_local);
}

static void output_value(scan_state *st, const char *name, const json_t *v, const json_t *sens,
                         strbuf *path, int depth);

static void add_output_mention(scan_state *st, const char *name, const char *path, const char *s,
                               size_t len, const rules_match *mt, int sensitive)
{
    char *addr = xasprintf("output.%s", name);
    for (size_t k = 0; k < st->n_refs; k++) {
        scan_ref *o = &st->refs[k];
        if (o->kind == SCAN_REF_MENTION && strcmp(o->address, addr) == 0 &&
            strlen(o->value) == mt->len && memcmp(o->value, s + mt->start, mt->len) == 0) {
            if (sensitive)
                o->sensitive = true;
            free(addr);
            return;
        }
    }
    (void)len;
    scan_ref *r = scan_state_push(st);
    if (r) {
        r->kind = SCAN_REF_MENTION;
        r->address = arena_strdup(st->ar, addr);
        r->attribute = *path ? arena_strdup(st->ar, path) : NULL;
        r->value = arena_strndup(st->ar, s + mt->start, mt->len);
        r->lookup = arena_strndup(st->ar, s + mt->lookup_start, mt->lookup_len);
        r->platform = rules_pattern_at(st->rs, mt->pattern)->platform;
        r->recognized = true;
        r->sensitive = sensitive;
        r->action = SCAN_ACT_NONE;
        r->provenance = SCAN_PROV_UNKNOWN;
    }
    free(addr);
}

static int sens_at(const json_t *sens)
{
    return json_is_true(sens);
}

static void output_value(scan_state *st, const char *name, const json_t *v, const json_t *sens,
                         strbuf *path, int depth)
{
    if (!v || depth > 64)
        return;
    size_t base = path->len;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        rules_match mt;
        rules_iter it;
        size_t len = json_string_length(v);
        rules_iter_start(&it, st->m, s, len);
        while (rules_next(&it, &mt)) {
            add_output_mention(st, name, path->s ? path->s : "", s, len, &mt, sens_at(sens));
        }
    } else if (json_is_object(v)) {
        const char *k;
        const json_t *c;
        json_object_foreach((json_t *)v, k, c)
        {
            if (base)
                strbuf_putc(path, '.');
            strbuf_puts(path, k);
            const json_t *cs = sens_at(sens) ? sens : json_object_get(sens, k);
            output_value(st, name, c, cs, path, depth + 1);
            path->len = base;
            path->s[base] = '\0';
        }
    } else if (json_is_array(v)) {
        size_t i;
        const json_t *c;
        json_array_foreach(v, i, c)
        {
            strbuf_printf(path, "[%zu]", i);
            const json_t *cs = sens_at(sens) ? sens : json_array_get(sens, i);
            output_value(st, name, c, cs, path, depth + 1);
            path->len = base;
            path->s[base] = '\0';
        }
    }
}

static void output_mentions(scan_state *st)
{
    if (!json_is_object(st->outputs))
        return;
    const json_t *couts = json_object_get(module_at(st->config, NULL, 0), "outputs");
    const char *name;
    const json_t *oc;
    json_object_foreach(st->outputs, name, oc)
    {
        const json_t *acts = json_object_get(oc, "actions");
        int changes = 0;
        size_t i;
        const json_t *a;
        json_array_foreach(acts, i, a)
        {
            const char *s = json_string_value(a);
            if (s && (strcmp(s, "create") == 0 || strcmp(s, "update") == 0))
                changes = 1;
        }
        if (!changes)
            continue;
        const json_t *co = json_object_get(couts, name);
        const json_t *sens = json_object_get(oc, "after_sensitive");
        json_t *all = json_true();
        if (json_is_true(json_object_get(co, "sensitive")))
            sens = all;
        strbuf path = STRBUF_INIT;
        strbuf_append(&path, "", 0);
        output_value(st, name, json_object_get(oc, "after"), sens, &path, 0);
        output_value(st, name, json_object_get(json_object_get(co, "expression"), "constant_value"),
                     sens, &path, 0);
        strbuf_dispose(&path);
        json_decref(all);
    }
}

void scan_resolve(scan_state *st)
{
    resolve_provenance(st);
    config_mentions(st);
    data_references(st);
    output_mentions(st);
    /* an image ID seen inside a sensitive value is never printed anywhere */
    if (st->sens_ids.count) {
        for (size_t i = 0; i < st->n_refs; i++) {
            scan_ref *r = &st->refs[i];
            if (r->value && strmap_has(&st->sens_ids, r->value, strlen(r->value)))
                r->sensitive = true;
        }
    }
}
