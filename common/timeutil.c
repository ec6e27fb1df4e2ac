/* RFC 3339 is parsed by hand because strptime neither validates day-of-month
 * nor handles fractional seconds and offsets; the grammar is small and fixed. */
#include "common/timeutil.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

ig_time ig_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (ig_time)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double ig_mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

static int is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : d[m - 1];
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian), no timegm needed. */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int ig_time_parse(const char *s, ig_time *out, char *err, size_t errlen)
{
    int Y, M, D, h, mi, sec;
    if (!s || strlen(s) < 20)
        goto bad;
    if (digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
        goto bad;
    /* years 0000-9999 as RFC 3339 allows: a time before 1970 is a negative
     * ig_time (a revocation dated then is simply in the past) */
    if (M < 1 || M > 12 || D < 1 || D > days_in_month(Y, M) || h > 23 || mi > 59 || sec > 60) {
        snprintf(err, errlen, "'%.40s' is not a possible date and time", s);
        return -1;
    }
    if (sec == 60)
        sec = 59; /* leap second: clamp */
    const char *p = s + 19;
    int ms = 0;
    if (*p == '.') {
        p++;
        int nd = 0, scale = 100;
        while (isdigit((unsigned char)*p)) {
            if (nd < 3)
                ms += (*p - '0') * scale;
            scale /= 10;
            nd++;
            p++;
        }
        if (nd == 0 || nd > 9)
            goto bad;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        int sign = *p == '-' ? -1 : 1;
        if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om) || oh > 23 || om > 59)
            goto bad;
        offset_min = sign * (oh * 60 + om);
        p += 6;
    } else {
        goto bad;
    }
    if (*p != '\0')
        goto bad;
    int64_t days = days_from_civil(Y, M, D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - (int64_t)offset_min * 60;
    *out = secs * 1000 + ms;
    return 0;
bad:
    snprintf(err, errlen, "'%.40s' is not an RFC 3339 time (like 2026-11-20T09:00:00Z)",
             s ? s : "");
    return -1;
}

/* The inverse of days_from_civil (H. Hinnant's civil_from_days). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static char *put_digits(char *o, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

/* Written digit by digit: an API answer formats thousands of these, and
 * snprintf (with gmtime_r) was a tenth of a version list's time. */
char *ig_time_format(ig_time t, char *buf, size_t buflen)
{
    int64_t secs = t >= 0 ? t / 1000 : (t - 999) / 1000;
    int ms = (int)(t - secs * 1000);
    int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400, y;
    int sod = (int)(secs - days * 86400), m, d;
    civil_from_days(days, &y, &m, &d);
    char tmp[32], *o = tmp;
    if (y < 0 || y > 9999) {
        snprintf(buf, buflen, "%04lld-%02d-%02dT%02d:%02d:%02d%s", (long long)y, m, d, sod / 3600,
                 sod / 60 % 60, sod % 60, ms ? "" : "Z");
        if (ms)
            snprintf(buf + strlen(buf), buflen - strlen(buf), ".%03dZ", ms);
        return buf;
    }
    o = put_digits(o, y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, sod / 3600, 2);
    *o++ = ':';
    o = put_digits(o, sod / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, sod % 60, 2);
    if (ms) {
        *o++ = '.';
        o = put_digits(o, ms, 3);
    }
    *o++ = 'Z';
    size_t n = (size_t)(o - tmp);
    if (buflen) {
        n = n < buflen ? n : buflen - 1;
        memcpy(buf, tmp, n);
        buf[n] = '\0';
    }
    return buf;
}

int ig_duration_parse(const char *s, int64_t *out_ms, char *err, size_t errlen)
{
    const int64_t max = (int64_t)100 * 366 * 86400 * 1000;
    int64_t total = 0;
    const char *p = s;
    if (!s || !*s)
        goto bad;
    while (*p) {
        if (!isdigit((unsigned char)*p))
            goto bad;
        int64_t n = 0;
        while (isdigit((unsigned char)*p)) {
            n = n * 10 + (*p - '0');
            if (n > max)
                goto toolong;
            p++;
        }
        int64_t unit;
        switch (*p) {
        case 's':
            unit = 1000;
            break;
        case 'm':
            unit = 60 * 1000;
            break;
        case 'h':
            unit = 3600 * 1000;
            break;
        case 'd':
            unit = 86400 * 1000;
            break;
        case 'w':
            unit = 7 * 86400 * 1000;
            break;
        default:
            goto bad;
        }
        p++;
        if (n > max / unit)
            goto toolong;
        total += n * unit;
        if (total > max)
            goto toolong;
    }
    *out_ms = total;
    return 0;
toolong:
    snprintf(err, errlen, "duration '%.40s' is longer than 100 years", s);
    return -1;
bad:
    snprintf(err, errlen, "'%.40s' is not a duration (like 30d, 12h, 45m, 0s)", s ? s : "");
    return -1;
}

int ig_time_parse_since(const char *s, ig_time now, ig_time *out, char *err, size_t errlen)
{
    int64_t d;
    char e2[128];
    if (ig_duration_parse(s, &d, e2, sizeof e2) == 0) {
        *out = now - d;
        return 0;
    }
    if (ig_time_parse(s, out, err, errlen) == 0)
        return 0;
    snprintf(err, errlen, "'%.40s' is neither an RFC 3339 time nor a duration like 24h", s);
    return -1;
}
