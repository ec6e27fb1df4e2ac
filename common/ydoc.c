/* Builds the tree from libyaml's event stream with an explicit stack. */
#include "common/ydoc.h"
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
} frame;

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

static ynode *parse(yaml_parser_t *ps, const char *name, char *err, size_t errlen)
{
    frame stack[YDOC_MAX_DEPTH];
    int depth = 0;
    ynode *root = NULL;
    size_t count = 0;
    yaml_event_t ev;
    int done = 0;

    while (!done) {
        if (!yaml_parser_parse(ps, &ev)) {
            snprintf(err, errlen, "%s:%zu: %s%s%s", name, ps->problem_mark.line + 1,
                     ps->problem ? ps->problem : "YAML syntax error", ps->context ? " " : "",
                     ps->context ? ps->context : "");
            goto fail;
        }
        int line = (int)ev.start_mark.line + 1;
        ynode *made = NULL;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (root) {
                snprintf(err, errlen, "%s:%d: only one YAML document is allowed", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            break;
        case YAML_ALIAS_EVENT:
            snprintf(err, errlen, "%s:%d: YAML aliases are not supported", name, line);
            yaml_event_delete(&ev);
            goto fail;
        case YAML_SCALAR_EVENT:
            if (ev.data.scalar.anchor) {
                snprintf(err, errlen, "%s:%d: YAML anchors are not supported", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            if (depth > 0 && stack[depth - 1].node->type == YNODE_MAP &&
                !stack[depth - 1].pending_key) {
                frame *f = &stack[depth - 1];
                for (size_t i = 0; i < f->node->n; i++) {
                    if (strcmp(f->node->keys[i], (char *)ev.data.scalar.value) == 0) {
                        snprintf(err, errlen, "%s:%d: duplicate key '%.60s'", name, line,
                                 (char *)ev.data.scalar.value);
                        yaml_event_delete(&ev);
                        goto fail;
                    }
                }
                f->pending_key = xstrndup((char *)ev.data.scalar.value, ev.data.scalar.length);
                f->pending_line = line;
                break;
            }
            made = node_new(YNODE_SCALAR, line);
            made->value = xstrndup((char *)ev.data.scalar.value, ev.data.scalar.length);
            made->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
            break;
        case YAML_SEQUENCE_START_EVENT:
        case YAML_MAPPING_START_EVENT:
            if (depth > 0 && stack[depth - 1].node->type == YNODE_MAP &&
                !stack[depth - 1].pending_key) {
                snprintf(err, errlen, "%s:%d: a mapping key must be a plain value", name, line);
                yaml_event_delete(&ev);
                goto fail;
            }
            if (depth >= YDOC_MAX_DEPTH) {
                snprintf(err, errlen, "%s:%d: nested deeper than %d levels", name, line,
                         YDOC_MAX_DEPTH);
                yaml_event_delete(&ev);
                goto fail;
            }
            made = node_new(ev.type == YAML_MAPPING_START_EVENT ? YNODE_MAP : YNODE_SEQ, line);
            break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: {
            ynode *closed = stack[--depth].node;
            if (depth == 0)
                root = closed;
            else
                add_child(&stack[depth - 1], closed);
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (made) {
            if (++count > YDOC_MAX_NODES) {
                ydoc_free(made);
                snprintf(err, errlen, "%s:%d: more than %d values", name, line, YDOC_MAX_NODES);
                goto fail;
            }
            if (made->type == YNODE_SCALAR) {
                if (depth == 0)
                    root = made;
                else
                    add_child(&stack[depth - 1], made);
            } else {
                stack[depth].node = made;
                stack[depth].pending_key = NULL;
                stack[depth].cap = 0;
                depth++;
            }
        }
    }
    if (!root)
        root = node_new(YNODE_MAP, 1);
    return root;
fail:
    while (depth > 0) {
        frame *f = &stack[--depth];
        free(f->pending_key);
        ydoc_free(f->node);
    }
    ydoc_free(root);
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
