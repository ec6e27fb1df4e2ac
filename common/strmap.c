/* The hash map of strmap.h: open addressing with linear probing over a
 * power-of-two table, hashes stored beside the keys (a probe compares
 * the hash and the length before the bytes), grown to twice its size before
 * it is three quarters full. Nothing is ever deleted, so probing needs no
 * tombstones. */
#include "common/strmap.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

void strmap_init(strmap *m)
{
    m->slots = NULL;
    m->cap = m->count = 0;
}

void strmap_dispose(strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

/* Eight bytes a step (FNV-1a's byte loop is a chain of dependent
 * multiplies: a 100-byte finding message took about 400 cycles), then
 * murmur3's finaliser, so that the low bits the table indexes by depend
 * on every byte. */
uint64_t strmap_hash(const char *k, size_t n)
{
    const uint64_t mul = 0x9e3779b97f4a7c15ULL;
    uint64_t h = (uint64_t)n * mul, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, k + i, 8);
        h = (((h << 5) | (h >> 59)) ^ w) * mul;
    }
    if (i < n) {
        w = 0;
        memcpy(&w, k + i, n - i);
        h = (((h << 5) | (h >> 59)) ^ w) * mul;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static strmap_entry *find(const strmap *m, const char *k, size_t n)
{
    if (!m->cap)
        return NULL;
    uint64_t h = strmap_hash(k, n);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_entry *e = &m->slots[i];
        if (!e->key)
            return NULL;
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0)
            return e;
    }
}

int strmap_has(const strmap *m, const char *k, size_t n)
{
    return find(m, k, n) != NULL;
}

void *strmap_get(const strmap *m, const char *k, size_t n)
{
    strmap_entry *e = find(m, k, n);
    return e ? e->value : NULL;
}

static void grow(strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    strmap_entry *ns = xcalloc(ncap, sizeof *ns);
    for (size_t i = 0; i < m->cap; i++) {
        strmap_entry *e = &m->slots[i];
        if (!e->key)
            continue;
        size_t j = e->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *e;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
}

strmap_entry *strmap_upsert(strmap *m, const char *k, size_t n, int *created)
{
    if ((m->count + 1) * 4 > m->cap * 3)
        grow(m);
    uint64_t h = strmap_hash(k, n);
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        strmap_entry *e = &m->slots[i];
        if (!e->key) {
            e->key = xstrndup(k, n);
            e->klen = n;
            e->hash = h;
            e->value = NULL;
            m->count++;
            if (created)
                *created = 1;
            return e;
        }
        if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) {
            if (created)
                *created = 0;
            return e;
        }
    }
}
