/* jansson trees from a stream of events (jbuild.h). A stack of the open
 * containers (borrowed: each is owned by its parent or the root) and, per
 * level, the pending key in a reused strbuf; a value is attached to the top
 * container as it arrives. b->bytes estimates the tree's size (16 bytes a
 * value plus its key) so that the caller can bound it. */
#include "scanners/jbuild.h"
#include "common/xalloc.h"

#include <stdlib.h>

void jbuild_init(jbuild *b)
{
    b->stack = NULL;
    b->keys = NULL;
    b->depth = b->cap = 0;
    b->root = NULL;
    b->bytes = 0;
}

void jbuild_reset(jbuild *b)
{
    json_decref(b->root);
    b->root = NULL;
    b->depth = 0;
    b->bytes = 0;
}

void jbuild_dispose(jbuild *b)
{
    jbuild_reset(b);
    for (size_t i = 0; i < b->cap; i++)
        strbuf_dispose(&b->keys[i]);
    free(b->keys);
    free(b->stack);
    jbuild_init(b);
}

void jbuild_add(jbuild *b, json_t *v)
{
    b->bytes += 16;
    if (b->depth == 0) {
        json_decref(b->root);
        b->root = v;
    } else {
        json_t *parent = b->stack[b->depth - 1];
        if (json_is_object(parent)) {
            strbuf *k = &b->keys[b->depth - 1];
            json_object_setn_new_nocheck(parent, k->s ? k->s : "", k->len, v);
        } else {
            json_array_append_new(parent, v);
        }
    }
    if (json_is_object(v) || json_is_array(v)) {
        if (b->depth == b->cap) {
            size_t nc = b->cap ? b->cap * 2 : 16;
            b->stack = xrealloc(b->stack, nc * sizeof *b->stack);
            b->keys = xrealloc(b->keys, nc * sizeof *b->keys);
            for (size_t i = b->cap; i < nc; i++)
                strbuf_init(&b->keys[i]);
            b->cap = nc;
        }
        b->stack[b->depth++] = v; /* borrowed: owned by parent or root */
    }
}

void jbuild_key(jbuild *b, const char *k, size_t len)
{
    if (b->depth == 0)
        return;
    strbuf *kb = &b->keys[b->depth - 1];
    strbuf_reset(kb);
    strbuf_append(kb, k, len);
    b->bytes += len;
}

int jbuild_close(jbuild *b)
{
    if (b->depth == 0)
        return 1;
    b->depth--;
    return b->depth == 0;
}

json_t *jbuild_take(jbuild *b)
{
    json_t *r = b->root;
    b->root = NULL;
    b->depth = 0;
    b->bytes = 0;
    return r;
}
