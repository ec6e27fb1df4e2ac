/* The streaming JSON writer of jsonw.h. A string is copied in runs (found
 * 16 bytes at a time with SSE2): bytes
 * that need no escape are appended together, and only '"', '\\' and control
 * characters are escaped (the short forms where JSON has them, \u00XX
 * otherwise). UTF-8 passes through as it is; the caller guarantees it is
 * valid. */
#include "common/jsonw.h"

#include <stdbool.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static bool needs_escape(unsigned char c)
{
    return c < 0x20 || c == '"' || c == '\\';
}

/* How many bytes of s[0..n) come before the first that needs an escape:
 * 16 at a time where SSE2 is there (a report is mostly plain text). */
static size_t plain_run(const char *s, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
    const __m128i ctl = _mm_set1_epi8(0x1f);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i low = _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl); /* v <= 0x1f */
        __m128i hit =
            _mm_or_si128(low, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
        int mask = _mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz((unsigned)mask);
    }
#endif
    while (i < n && !needs_escape((unsigned char)s[i]))
        i++;
    return i;
}

static void put_escape(strbuf *b, unsigned char c)
{
    static const char hex[] = "0123456789abcdef";
    switch (c) {
    case '"':
        strbuf_append(b, "\\\"", 2);
        break;
    case '\\':
        strbuf_append(b, "\\\\", 2);
        break;
    case '\n':
        strbuf_append(b, "\\n", 2);
        break;
    case '\r':
        strbuf_append(b, "\\r", 2);
        break;
    case '\t':
        strbuf_append(b, "\\t", 2);
        break;
    default: {
        char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        strbuf_append(b, u, 6);
    }
    }
}

void jsonw_str(strbuf *b, const char *s)
{
    if (!s) {
        strbuf_append(b, "null", 4);
        return;
    }
    size_t n = strlen(s);
    strbuf_putc(b, '"');
    while (n) {
        size_t k = plain_run(s, n);
        strbuf_append(b, s, k);
        if (k == n)
            break;
        put_escape(b, (unsigned char)s[k]);
        s += k + 1;
        n -= k + 1;
    }
    strbuf_putc(b, '"');
}

void jsonw_key(strbuf *b, const char *key)
{
    jsonw_str(b, key);
    strbuf_putc(b, ':');
}
