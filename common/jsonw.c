/* The streaming JSON writer of jsonw.h. A string is copied in runs: bytes
 * that need no escape are appended together, and only '"', '\\' and control
 * characters are escaped (the short forms where JSON has them, \u00XX
 * otherwise). UTF-8 passes through as it is; the caller guarantees it is
 * valid. */
#include "common/jsonw.h"

#include <string.h>

void jsonw_str(strbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!s) {
        strbuf_append(b, "null", 4);
        return;
    }
    strbuf_putc(b, '"');
    const char *run = s;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        strbuf_append(b, run, (size_t)(p - run));
        run = p + 1;
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
    strbuf_append(b, run, strlen(run));
    strbuf_putc(b, '"');
}

void jsonw_key(strbuf *b, const char *key)
{
    jsonw_str(b, key);
    strbuf_putc(b, ':');
}
