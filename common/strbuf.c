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
