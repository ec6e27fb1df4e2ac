/* A string-keyed hash map (open addressing, a word-at-a-time hash). Keys are copied; values
 * are opaque pointers owned by the caller. Not thread-safe. */
#ifndef IG_STRMAP_H
#define IG_STRMAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct strmap_entry {
    char *key;
    size_t klen;
    uint64_t hash;
    void *value;
} strmap_entry;

typedef struct strmap {
    strmap_entry *slots;
    size_t cap, count;
} strmap;

void strmap_init(strmap *m);
/* Frees the keys; values are the caller's. */
void strmap_dispose(strmap *m);
uint64_t strmap_hash(const char *k, size_t n);
/* True when k is present (whatever its value). */
int strmap_has(const strmap *m, const char *k, size_t n);
/* Returns the value or NULL. */
void *strmap_get(const strmap *m, const char *k, size_t n);
/* Returns the entry for k, creating it (value NULL) when absent; *created
 * tells which. The pointer is valid until the next insertion. */
strmap_entry *strmap_upsert(strmap *m, const char *k, size_t n, int *created);
/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].key) ... */

#endif
