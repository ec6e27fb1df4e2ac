/* The Authorization header of a request, picked out of its header block
 * while the block streams past the deadline guard (deadline.c), so the body
 * limit of POST /v1/scan can depend on the token before evhttp reads the
 * body. evhttp drains header lines as it parses them, so nothing else holds
 * the whole block; this keeps only the first WEBHOOK_AUTHHDR_LINE bytes of
 * the current line and the one value it is after.
 *
 * The answer is deliberately conservative: a value is reported only when
 * exactly one "Authorization:" line (name case-insensitive, no space before
 * the colon, as evhttp reads it) arrived whole, unfolded and at most
 * WEBHOOK_AUTHHDR_LINE bytes long. Anything else -- none, two, a folded
 * continuation, an over-long line -- is "absent": the request gets the small
 * body limit and the handler's own token check answers it. A mistake here
 * can only cost a client with a valid token its large limit, never give one
 * to a client without.
 *
 * The struct lives inside the caller (no allocation); the value is a secret:
 * wipe it with webhook_authhdr_reset() as soon as it has been used. Pure:
 * any thread, one struct per thread at a time. */
#ifndef IG_WEBHOOK_AUTHHDR_H
#define IG_WEBHOOK_AUTHHDR_H

#include <stdbool.h>
#include <stddef.h>

/* "Authorization: Bearer " + a 256-byte secret + some slack. */
#define WEBHOOK_AUTHHDR_LINE 320

typedef struct webhook_authhdr {
    char line[WEBHOOK_AUTHHDR_LINE + 1]; /* the current line's first bytes */
    size_t len;                          /* bytes of the line seen (may exceed the buffer) */
    char value[WEBHOOK_AUTHHDR_LINE + 1];
    int seen;       /* Authorization lines seen */
    bool unusable;  /* duplicate, folded or too long */
    bool last_auth; /* the previous line was Authorization (a fold would join it) */
} webhook_authhdr;

/* Starts a new header block; wipes what the last one held. */
void webhook_authhdr_reset(webhook_authhdr *a);

/* Feeds the bytes of the header lines that follow the request line, in as
 * many pieces as they arrive. A line ends at LF; one CR before the LF is
 * dropped. The empty line that ends the block may be fed or not. */
void webhook_authhdr_feed(webhook_authhdr *a, const char *p, size_t n);

/* The value of the one Authorization header (leading and trailing spaces
 * and tabs removed), or NULL when there is none usable (see above). Borrowed
 * from a; valid until the next feed or reset. */
const char *webhook_authhdr_value(const webhook_authhdr *a);

#endif
