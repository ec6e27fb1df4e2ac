/* The bump allocator of arena.h. Memory comes in 64 KiB chunks, each
 * allocation rounded up to 8 bytes and taken from the head chunk; a block
 * larger than a quarter chunk gets a chunk of its own, linked behind the
 * head so that small strings keep filling the current one. arena_reset()
 * keeps one full-size chunk for the next scan and frees the rest. */
#include "common/arena.h"
#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
    arena_chunk *next;
    size_t size, used;
    char data[];
};

void arena_init(arena *a)
{
    a->head = NULL;
    a->used_bytes = 0;
}

void arena_dispose(arena *a)
{
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *n = c->next;
        free(c);
        c = n;
    }
    arena_init(a);
}

void arena_reset(arena *a)
{
    arena_chunk *keep = NULL;
    arena_chunk *c = a->head;
    while (c) {
        arena_chunk *n = c->next;
        if (!keep && c->size == ARENA_CHUNK) {
            keep = c;
        } else {
            free(c);
        }
        c = n;
    }
    if (keep) {
        keep->used = 0;
        keep->next = NULL;
    }
    a->head = keep;
    a->used_bytes = 0;
}

void *arena_alloc(arena *a, size_t n)
{
    n = (n + 7) & ~(size_t)7;
    arena_chunk *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = n > ARENA_CHUNK / 4 ? n : ARENA_CHUNK;
        c = xmalloc(sizeof *c + sz);
        c->size = sz;
        c->used = 0;
        if (n > ARENA_CHUNK / 4 && a->head) {
            /* big block: keep the current chunk in front for small ones */
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
        }
    }
    void *p = c->data + c->used;
    c->used += n;
    a->used_bytes += n;
    return p;
}

char *arena_strndup(arena *a, const char *s, size_t n)
{
    char *d = arena_alloc(a, n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *arena_strdup(arena *a, const char *s)
{
    return s ? arena_strndup(a, s, strlen(s)) : NULL;
}
