/* Logging: one entry point, levels, printf checking, key=value fields.
 *
 * A line looks like
 *   ts=2026-11-25T09:00:00.123Z level=info event=delivery run_id=run-1 verdict=fail
 * The format string supplies everything after "level=...". Callers never pass
 * tokens, keys or plan values; there is no redaction layer to lean on.
 * Safe on any thread (each line is written with one locked write). */
#ifndef IG_LOG_H
#define IG_LOG_H

#include <stdio.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level;

/* Sets the minimum level written (default LOG_INFO). */
void log_set_level(log_level lv);
log_level log_get_level(void);
/* Parses "debug", "info", "warn", "error", "off". Returns 0 or -1. */
int log_level_parse(const char *s, log_level *out);
/* Where lines go (default stderr). The stream is borrowed. */
void log_set_stream(FILE *f);

void log_write(log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* Quotes a value for a key=value field when it holds spaces, quotes or
 * control characters; writes into buf (always terminated) and returns buf. */
const char *log_quote(const char *v, char *buf, size_t buflen);

#endif
