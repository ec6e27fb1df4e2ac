/* Checked number parsing (numparse.h): strtoll with errno and end checks,
 * then the caller's bounds, and a message that names the setting and the
 * rejected text (cut to 40 bytes: it may come from anywhere). Sizes take a
 * k/M/G suffix (powers of 1024); neither kind takes leading space or a
 * fraction, and a size takes no sign. */
#include "common/numparse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

int parse_int64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, char *err,
                size_t errlen)
{
    char *end;
    if (!s || !*s || isspace((unsigned char)*s))
        goto bad;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        goto bad;
    if (v < min || v > max) {
        snprintf(err, errlen, "%s: %lld is outside %lld..%lld", what, v, (long long)min,
                 (long long)max);
        return -1;
    }
    *out = v;
    return 0;
bad:
    snprintf(err, errlen, "%s: '%.40s' is not a whole number", what, s ? s : "");
    return -1;
}

int parse_size(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, char *err,
               size_t errlen)
{
    char *end;
    if (!s || !isdigit((unsigned char)*s))
        goto bad;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno)
        goto bad;
    int64_t mul = 1;
    switch (*end) {
    case '\0':
        break;
    case 'k':
    case 'K':
        mul = 1024;
        end++;
        break;
    case 'm':
    case 'M':
        mul = 1024 * 1024;
        end++;
        break;
    case 'g':
    case 'G':
        mul = 1024LL * 1024 * 1024;
        end++;
        break;
    default:
        goto bad;
    }
    if (*end == 'B' || *end == 'b')
        end++;
    if (*end)
        goto bad;
    if (v > INT64_MAX / mul)
        goto range;
    v *= mul;
    if (v < min || v > max)
        goto range;
    *out = v;
    return 0;
range:
    snprintf(err, errlen, "%s: '%.40s' is outside %lld..%lld bytes", what, s, (long long)min,
             (long long)max);
    return -1;
bad:
    snprintf(err, errlen, "%s: '%.40s' is not a size (like 1048576, 64K, 100M, 2G)", what,
             s ? s : "");
    return -1;
}
