/* The framing of an HTTP/1.1 request, checked as its bytes arrive: the rules
 * of RFC 9112 that decide where a request ends, which libevent 2.1's evhttp
 * does not enforce. evhttp reads the first of two conflicting Content-Length
 * headers (the rest of the body then runs as a second request: smuggling
 * behind a proxy that reads the other), takes a Transfer-Encoding other than
 * exactly "chunked" for no body, ignores the body of a HEAD request, accepts
 * "0x10" and "5 junk" as chunk sizes and answers a bad one with 413. The
 * deadline guard (deadline.c) feeds every byte of a request here before
 * evhttp reads it, and refuses the request itself when this says so.
 *
 * A request is accepted only when evhttp and any RFC-following proxy must
 * agree on where it ends:
 *   - request line: METHOD SP TARGET SP HTTP/1.x, no control characters; a
 *     method evhttp does not know (or CONNECT) is 501;
 *   - header lines: a name without spaces before the colon, no folded
 *     (continuation) lines, no control characters but tab;
 *   - Content-Length: digits only; several lines only with the same value;
 *   - Transfer-Encoding: exactly one line, exactly "chunked" (any case);
 *     chunked last after other codings is 501 (not implemented), anything
 *     else 400 (RFC 9112 6.3: the length cannot be determined); never with
 *     Content-Length, never in HTTP/1.0;
 *   - HEAD and TRACE (no body for evhttp) carry neither;
 *   - chunks: hex digits, CRLF (or LF, as evhttp reads lines), no extensions,
 *     data followed by CRLF, trailer lines like header lines;
 *   - a declared or accumulated body over the limit the caller sets is 413.
 * A refusal carries the status (400, 413, 501) and a reason for a person;
 * the connection must be closed after it. A line ends at LF, and one CR
 * right before it is dropped (evhttp does the same).
 *
 * Pure: no allocation, no I/O. The struct lives in the caller; any thread,
 * one struct per thread at a time. */
#ifndef IG_WEBHOOK_FRAMING_H
#define IG_WEBHOOK_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes kept of a line: the request line's start (method and path for the
 * body limit) and a header line's start (names and values checked here). */
#define WEBHOOK_FRAMING_LINE 256

typedef enum {
    WEBHOOK_FRAMING_MORE,     /* every byte taken; the request goes on */
    WEBHOOK_FRAMING_REQLINE,  /* the request line ended with the last byte taken */
    WEBHOOK_FRAMING_HEADERS,  /* the header block ended: its framing is sound */
    WEBHOOK_FRAMING_COMPLETE, /* the request ended: a next byte starts another */
    WEBHOOK_FRAMING_REFUSED,  /* refused: status and reason say why */
} webhook_framing_event;

typedef struct webhook_framing {
    /* read by the caller */
    char reqline[WEBHOOK_FRAMING_LINE]; /* the request line's start (after REQLINE) */
    int status;                         /* REFUSED: 400, 413 or 501 */
    char reason[200];                   /* REFUSED: what was wrong, for a person */
    /* private */
    int phase;
    char line[WEBHOOK_FRAMING_LINE]; /* the current line's first bytes */
    size_t line_len;                 /* bytes of the line so far (may exceed the buffer) */
    bool cr;                         /* the last byte was a CR */
    int spaces;                      /* in the request line */
    size_t target_len;               /* bytes between its two spaces */
    char ver[12];                    /* what follows its last space */
    size_t ver_len;
    const char *method; /* static name, after REQLINE */
    bool http10;        /* HTTP/1.0 */
    bool may_have_body; /* the method's body is read by evhttp */
    int cl_lines, te_lines;
    int64_t cl;
    char te[WEBHOOK_FRAMING_LINE]; /* the one Transfer-Encoding value */
    int te_chunked, te_other;      /* codings seen in every Transfer-Encoding line */
    bool te_chunked_last;
    char te_first_other[40];
    int64_t left;  /* bytes of the body or of the current chunk to come */
    int64_t total; /* chunk bytes announced so far */
    int64_t limit; /* the largest body allowed */
    int digits;    /* hex digits of the current chunk size */
} webhook_framing;

/* Starts a new request: everything the last one left is forgotten. */
void webhook_framing_reset(webhook_framing *f);

/* Feeds the next n bytes of the connection. Stops after the byte that
 * completes the request line, the header block or the request, or that
 * makes it refused, and says so; *used is how many bytes it took (all n with
 * WEBHOOK_FRAMING_MORE). After REFUSED or COMPLETE it takes nothing more
 * until a reset. */
webhook_framing_event webhook_framing_feed(webhook_framing *f, const char *p, size_t n,
                                           size_t *used);

/* After WEBHOOK_FRAMING_HEADERS: the body may be at most limit bytes.
 * Returns REFUSED (413) when the declared Content-Length is larger, COMPLETE
 * when the request has no body, else MORE; chunks adding up past the limit
 * are refused as their sizes arrive. */
webhook_framing_event webhook_framing_body_limit(webhook_framing *f, int64_t limit);

#endif
