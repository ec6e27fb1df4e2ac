/* Hex digits: one decoder and one encoder for every caller (signatures, token
 * hashes, PostgreSQL bytea). hex_decode has no early exit, so the time it takes
 * does not depend on where a bad digit is. */
#include "common/hex.h"

#include <string.h>

int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int hex_byte(const char *s)
{
    int hi = hex_digit((unsigned char)s[0]);
    if (hi < 0)
        return -1;
    int lo = hex_digit((unsigned char)s[1]);
    return lo < 0 ? -1 : hi << 4 | lo;
}

int hex_decode(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit((unsigned char)hex[2 * i]);
        int lo = hex_digit((unsigned char)hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            bad = 1;
            hi = lo = 0;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return bad ? -1 : 0;
}

char *hex_encode(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
    return out;
}
