/* A bump allocator for many small strings that live and die together (the
 * references of one scan). Not thread-safe; one arena per owner. */
#ifndef IG_ARENA_H
#define IG_ARENA_H

#include <stddef.h>

typedef struct arena_chunk arena_chunk;
typedef struct arena {
    arena_chunk *head;
    size_t used_bytes;
} arena;

void arena_init(arena *a);
void arena_dispose(arena *a);
/* Frees everything but keeps one chunk for reuse. */
void arena_reset(arena *a);
void *arena_alloc(arena *a, size_t n);
/* Copies s[0..n) plus a terminating NUL into the arena. */
char *arena_strndup(arena *a, const char *s, size_t n);
/* NULL stays NULL. */
char *arena_strdup(arena *a, const char *s);

#endif
