/* Builds a jansson tree from a stream of JSON events (yajl callbacks), so
 * that the streaming plan scanner can keep small subtrees (the configuration
 * block, one data source) as ordinary jansson values. Internal to scanners/. */
#ifndef IG_JBUILD_H
#define IG_JBUILD_H

#include <jansson.h>
#include <stddef.h>

#include "common/strbuf.h"

typedef struct jbuild {
    json_t **stack;
    strbuf *keys;
    size_t depth, cap;
    json_t *root;
    size_t bytes; /* rough size of what was built, for limits */
} jbuild;

void jbuild_init(jbuild *b);
void jbuild_dispose(jbuild *b);
/* Starts a new tree (drops any partial one). */
void jbuild_reset(jbuild *b);
/* Adds a scalar or opens a container (v is stolen). */
void jbuild_add(jbuild *b, json_t *v);
void jbuild_key(jbuild *b, const char *k, size_t len);
/* Closes the innermost container; returns 1 when that completed the tree. */
int jbuild_close(jbuild *b);
/* The finished tree (new reference handed over; the builder forgets it). */
json_t *jbuild_take(jbuild *b);

#endif
