/* A growable byte string (in the spirit of redis sds, without the header
 * tricks). Always NUL-terminated so ->s can be used as a C string. */
#ifndef IG_STRBUF_H
#define IG_STRBUF_H

#include <stddef.h>

typedef struct strbuf {
    char *s;
    size_t len;
    size_t cap;
} strbuf;

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void strbuf_init(strbuf *b);
void strbuf_dispose(strbuf *b);
void strbuf_reset(strbuf *b);
void strbuf_append(strbuf *b, const char *p, size_t n);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_putc(strbuf *b, char c);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over to the caller (who frees it); b is left empty. */
char *strbuf_steal(strbuf *b);

/* Replaces, in place, each byte of s[0..n) that is not part of valid UTF-8
 * by '?', NUL included. Valid is what RFC 3629 says: besides broken
 * sequences, overlong forms, surrogates and code points past U+10FFFF are
 * not -- jansson refuses them all. Returns s. */
char *str_utf8_repair(char *s, size_t n);
/* The length of the longest prefix of s (NUL-terminated), at most max bytes,
 * that ends between two characters: a cut there never splits a UTF-8
 * sequence. Bytes that are not part of a valid sequence count as one
 * character each. Pure; any thread. */
size_t str_utf8_prefix(const char *s, size_t max);

#endif
