/* Builds the tree from libyaml's event stream with an explicit stack.
 *
 * libyaml hands over one event at a time (scalar, container start and end);
 * parse() keeps a bounded stack of open containers (YDOC_MAX_DEPTH) and a
 * count of nodes (YDOC_MAX_NODES), so a hostile rules or policy file costs
 * at most that much memory. Each open map keeps the set of its keys in a
 * hash (strmap): a repeated key is refused in constant time, where a scan of
 * the earlier keys made a map of 100 000 keys take over a minute. Keys
 * compare as C strings because ydoc_get() looks them up that way. Aliases
 * and anchors are refused on sight: nothing is ever expanded. */
#include "common/ydoc.h"
#include "common/strmap.h"
#include "common/xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#define YDOC_MAX_DEPTH 64
#define YDOC_MAX_NODES 1000000

static ynode *node_new(ynode_type t, int line)
{
    ynode *n = xcalloc(1, sizeof *n);
    n->type = t;
    n->line = line;
    return n;
}

void ydoc_free(ynode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n; i++) {
        ydoc_free(n->items[i]);
        if (n->keys)
            free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->key_lines);
    free(n->value);
    free(n);
}

typedef struct {
    ynode *node;
    char *pending_key; /* map: key read, value not yet */
    int pending_line;
    size_t cap;
    strmap seen; /* map: its keys so far, to refuse a duplicate in O(1) */
} frame;

/* The state of one parse: the open containers and what was made so far. */
typedef struct {
    const char *name;
    char *err;
    size_t errlen;
    frame stack[YDOC_MAX_DEPTH];
    int depth;
    ynode *root;
    size_t count;
    int done;
} builder;

static void add_child(frame *f, ynode *child)
{
    ynode *p = f->node;
    xgrow((void **)&p->items, &f->cap, p->n + 1, sizeof *p->items);
    if (p->type == YNODE_MAP) {
        p->keys = xrealloc(p->keys, f->cap * sizeof *p->keys);
        p->key_lines = xrealloc(p->key_lines, f->cap * sizeof *p->key_lines);
        p->keys[p->n] = f->pending_key;
        p->key_lines[p->n] = f->pending_line;
        f->pending_key = NULL;
    }
    p->items[p->n++] = child;
}

/* The open map that waits for a key, or NULL. */
static frame *wants_key(builder *b)
{
    frame *f = b->depth > 0 ? &b->stack[b->depth - 1] : NULL;
    return f && f->node->type == YNODE_MAP && !f->pending_key ? f : NULL;
}

/* A key of map frame f. Keys compare as C strings, as ydoc_get() looks
 * them up. */
static int take_key(builder *b, frame *f, const yaml_event_t *ev, int line)
{
    const char *key = (const char *)ev->data.scalar.value;
    int created;
    strmap_upsert(&f->seen, key, strlen(key), &created);
    if (!created) {
        snprintf(b->err, b->errlen, "%s:%d: duplicate key '%.60s'", b->name, line, key);
        return -1;
    }
    f->pending_key = xstrndup(key, ev->data.scalar.length);
    f->pending_line = line;
    return 0;
}

/* Adds a new node: a scalar goes into the open container (or is the root),
 * a container is opened. */
static int place(builder *b, ynode *made, int line)
{
    if (++b->count > YDOC_MAX_NODES) {
        ydoc_free(made);
        snprintf(b->err, b->errlen, "%s:%d: more than %d values", b->name, line, YDOC_MAX_NODES);
        return -1;
    }
    if (made->type == YNODE_SCALAR) {
        if (b->depth == 0)
            b->root = made;
        else
            add_child(&b->stack[b->depth - 1], made);
        return 0;
    }
    frame *f = &b->stack[b->depth++];
    f->node = made;
    f->pending_key = NULL;
    f->cap = 0;
    strmap_init(&f->seen);
    return 0;
}

static int on_scalar(builder *b, const yaml_event_t *ev, int line)
{
    if (ev->data.scalar.anchor) {
        snprintf(b->err, b->errlen, "%s:%d: YAML anchors are not supported", b->name, line);
        return -1;
    }
    frame *f = wants_key(b);
    if (f)
        return take_key(b, f, ev, line);
    ynode *made = node_new(YNODE_SCALAR, line);
    made->value = xstrndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
    made->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    return place(b, made, line);
}

static int on_open(builder *b, const yaml_event_t *ev, int line)
{
    if (wants_key(b)) {
        snprintf(b->err, b->errlen, "%s:%d: a mapping key must be a plain value", b->name, line);
        return -1;
    }
    if (b->depth >= YDOC_MAX_DEPTH) {
        snprintf(b->err, b->errlen, "%s:%d: nested deeper than %d levels", b->name, line,
                 YDOC_MAX_DEPTH);
        return -1;
    }
    return place(b, node_new(ev->type == YAML_MAPPING_START_EVENT ? YNODE_MAP : YNODE_SEQ, line),
                 line);
}

static void on_close(builder *b)
{
    frame *f = &b->stack[--b->depth];
    strmap_dispose(&f->seen);
    if (b->depth == 0)
        b->root = f->node;
    else
        add_child(&b->stack[b->depth - 1], f->node);
}

/* One event of libyaml's stream. Returns 0, or -1 with the reason in b->err. */
static int on_event(builder *b, const yaml_event_t *ev)
{
    int line = (int)ev->start_mark.line + 1;
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        b->done = 1;
        return 0;
    case YAML_DOCUMENT_START_EVENT:
        if (!b->root)
            return 0;
        snprintf(b->err, b->errlen, "%s:%d: only one YAML document is allowed", b->name, line);
        return -1;
    case YAML_ALIAS_EVENT:
        snprintf(b->err, b->errlen, "%s:%d: YAML aliases are not supported", b->name, line);
        return -1;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev, line);
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT:
        return on_open(b, ev, line);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        on_close(b);
        return 0;
    default:
        return 0;
    }
}

static ynode *parse(yaml_parser_t *ps, const char *name, char *err, size_t errlen)
{
    builder b = {.name = name, .err = err, .errlen = errlen};
    while (!b.done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(ps, &ev)) {
            snprintf(err, errlen, "%s:%zu: %s%s%s", name, ps->problem_mark.line + 1,
                     ps->problem ? ps->problem : "YAML syntax error", ps->context ? " " : "",
                     ps->context ? ps->context : "");
            goto fail;
        }
        int rc = on_event(&b, &ev);
        yaml_event_delete(&ev);
        if (rc != 0)
            goto fail;
    }
    return b.root ? b.root : node_new(YNODE_MAP, 1);
fail:
    while (b.depth > 0) {
        frame *f = &b.stack[--b.depth];
        free(f->pending_key);
        strmap_dispose(&f->seen);
        ydoc_free(f->node);
    }
    ydoc_free(b.root);
    return NULL;
}

ynode *ydoc_parse_string(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        snprintf(err, errlen, "%s: cannot start the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_input_string(&ps, (const unsigned char *)buf, len);
    ynode *n = parse(&ps, name, err, errlen);
    yaml_parser_delete(&ps);
    return n;
}

ynode *ydoc_parse_file(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    yaml_parser_t ps;
    if (!yaml_parser_initialize(&ps)) {
        fclose(f);
        snprintf(err, errlen, "%s: cannot start the YAML parser", path);
        return NULL;
    }
    yaml_parser_set_input_file(&ps, f);
    ynode *n = parse(&ps, path, err, errlen);
    yaml_parser_delete(&ps);
    fclose(f);
    return n;
}

ynode *ydoc_get(const ynode *m, const char *key)
{
    if (!m || m->type != YNODE_MAP)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (strcmp(m->keys[i], key) == 0)
            return m->items[i];
    return NULL;
}

bool ydoc_is_null(const ynode *n)
{
    if (!n)
        return true;
    if (n->type != YNODE_SCALAR || !n->plain)
        return false;
    return !*n->value || strcmp(n->value, "~") == 0 || strcasecmp(n->value, "null") == 0;
}

int ydoc_bool(const ynode *n, bool *out)
{
    if (!n || n->type != YNODE_SCALAR)
        return -1;
    static const char *t[] = {"true", "yes", "on", "1"};
    static const char *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(n->value, t[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(n->value, f[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}
