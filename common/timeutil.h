/* Time as int64 milliseconds since the Unix epoch (UTC), RFC 3339 parsing and
 * printing, and durations such as "30d", "12h", "45m", "0s" or "1h30m".
 * Pure functions except ig_time_now(). Safe on any thread. */
#ifndef IG_TIMEUTIL_H
#define IG_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t ig_time; /* ms since epoch, UTC */

#define IG_TIME_NONE INT64_MIN

ig_time ig_time_now(void);

/* Seconds on the monotonic clock (CLOCK_MONOTONIC), for measuring how long
 * something took: unlike ig_time_now() a wall-clock step never moves it;
 * its zero means nothing. */
double ig_mono_seconds(void);

/* Parses an RFC 3339 timestamp ("2026-11-20T09:00:00Z",
 * "2026-11-20T09:00:00.123+02:00"), years 0000 to 9999: a time before 1970
 * is negative. Rejects impossible dates (2026-02-30).
 * Returns 0, or -1 with a reason in err. */
int ig_time_parse(const char *s, ig_time *out, char *err, size_t errlen);

/* Writes "2026-11-20T09:00:00Z" (or with ".123" when there are
 * milliseconds). buf should hold 32 bytes. Returns buf. */
char *ig_time_format(ig_time t, char *buf, size_t buflen);

/* Parses a duration: one or more <digits><unit> with unit s, m, h, d or w.
 * Result in ms, at most 100 years. Returns 0 or -1 with a reason in err. */
int ig_duration_parse(const char *s, int64_t *out_ms, char *err, size_t errlen);

/* Parses either an RFC 3339 time or a duration meaning "that long before
 * now" (for --since). Returns 0 or -1. */
int ig_time_parse_since(const char *s, ig_time now, ig_time *out, char *err, size_t errlen);

#endif
