/* Allocation policy: running out of memory is not an input error, so every
 * allocation goes through these wrappers, which abort with a message instead
 * of returning NULL. Callers never check for NULL. Safe on any thread. */
#ifndef IG_XALLOC_H
#define IG_XALLOC_H

#include <stddef.h>
#include <stdarg.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
/* Returns a new copy of s (NULL stays NULL). */
char *xstrdup(const char *s);
/* Copies at most n bytes of s and terminates the copy. */
char *xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Grows *arr (element size esize) so that it holds at least need elements;
 * *cap is updated. Amortised doubling. */
void xgrow(void **arr, size_t *cap, size_t need, size_t esize);

#endif
