/* The growable string of strbuf.h and the UTF-8 helpers that go with it.
 * Growth goes through xgrow (capacity doubles), so appends are amortised
 * O(1) and the buffer is always NUL-terminated. str_utf8_repair() follows
 * RFC 3629 strictly (no overlong forms, surrogates or code points past
 * U+10FFFF), because everything the scanner keeps from a plan passes through
 * it before it reaches jansson or a report. */
#include "common/strbuf.h"
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strbuf_init(strbuf *b)
{
    b->s = NULL;
    b->len = b->cap = 0;
}

void strbuf_dispose(strbuf *b)
{
    free(b->s);
    strbuf_init(b);
}

void strbuf_reset(strbuf *b)
{
    b->len = 0;
    if (b->s)
        b->s[0] = '\0';
}

static void reserve(strbuf *b, size_t extra)
{
    xgrow((void **)&b->s, &b->cap, b->len + extra + 1, 1);
}

void strbuf_append(strbuf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap)
        reserve(b, n);
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void strbuf_puts(strbuf *b, const char *s)
{
    strbuf_append(b, s, strlen(s));
}

void strbuf_putc(strbuf *b, char c)
{
    if (b->len + 2 > b->cap)
        reserve(b, 1);
    b->s[b->len++] = c;
    b->s[b->len] = '\0';
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap, cp;
    va_start(ap, fmt);
    va_copy(cp, ap);
    int n = vsnprintf(NULL, 0, fmt, cp);
    va_end(cp);
    if (n > 0) {
        reserve(b, (size_t)n);
        vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
        b->len += (size_t)n;
    }
    va_end(ap);
}

char *strbuf_steal(strbuf *b)
{
    char *s = b->s ? b->s : xstrdup("");
    strbuf_init(b);
    return s;
}

char *str_utf8_repair(char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        int ok = len != 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = ((unsigned char)s[i + k] >> 6) == 2;
        if (ok && len == 1 && c == 0)
            ok = 0;
        if (ok && len > 1) {
            unsigned char c1 = (unsigned char)s[i + 1];
            ok = !(len == 2 && c < 0xC2) &&                /* overlong */
                 !(c == 0xE0 && c1 < 0xA0) &&              /* overlong */
                 !(c == 0xED && c1 >= 0xA0) &&             /* surrogate */
                 !(c == 0xF0 && c1 < 0x90) &&              /* overlong */
                 !(c > 0xF4 || (c == 0xF4 && c1 >= 0x90)); /* past U+10FFFF */
        }
        if (!ok) {
            s[i++] = '?';
            continue;
        }
        i += len;
    }
    return s;
}

size_t str_utf8_prefix(const char *s, size_t max)
{
    size_t i = 0;
    while (s[i]) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
        for (size_t k = 1; k < n; k++)
            if (((unsigned char)s[i + k] >> 6) != 2) {
                n = 1; /* broken sequence (or the end): its lead byte alone */
                break;
            }
        if (i + n > max)
            break;
        i += n;
    }
    return i;
}
