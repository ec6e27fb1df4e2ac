/* The logging entry point of log.h. The level is an atomic so any thread
 * may read it without a lock; a line is formatted into a stack buffer
 * (4 KiB, longer lines are cut) with its timestamp and level, newlines in
 * it are folded into spaces so that one call is always one line, and it is
 * written and flushed under the stream's own lock (flockfile), so lines
 * from different threads never interleave. */
#include "common/log.h"
#include "common/timeutil.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>

static _Atomic int min_level = LOG_INFO;
static FILE *_Atomic out_stream;

void log_set_level(log_level lv)
{
    min_level = (int)lv;
}

log_level log_get_level(void)
{
    return (log_level)min_level;
}

int log_level_parse(const char *s, log_level *out)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return -1;
}

void log_set_stream(FILE *f)
{
    out_stream = f;
}

void log_write(log_level lv, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if ((int)lv < min_level || lv >= LOG_OFF)
        return;
    char line[4096];
    char ts[40];
    ig_time_format(ig_time_now(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "ts=%s level=%s ", ts, names[lv]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One line per call: fold anything that would break it. */
    for (char *p = line; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    FILE *f = out_stream ? out_stream : stderr;
    flockfile(f);
    fputs(line, f);
    fputc('\n', f);
    fflush(f);
    funlockfile(f);
}

const char *log_quote(const char *v, char *buf, size_t buflen)
{
    if (!buflen)
        return buf;
    if (!v) {
        snprintf(buf, buflen, "-");
        return buf;
    }
    int needs = *v == '\0';
    for (const char *p = v; *p; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20)
            needs = 1;
    if (!needs) {
        snprintf(buf, buflen, "%s", v);
        return buf;
    }
    size_t o = 0;
    buf[o++] = '"';
    for (const char *p = v; *p && o + 3 < buflen; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') {
            buf[o++] = '\\';
            buf[o++] = (char)c;
        } else if (c < 0x20) {
            buf[o++] = ' ';
        } else {
            buf[o++] = (char)c;
        }
    }
    if (o + 1 < buflen)
        buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
