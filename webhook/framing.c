/* Request framing, byte by byte (framing.h says which rules and why).
 *
 * One state machine per connection, fed in pieces of any size: the request
 * line and header lines are gathered one line at a time (the first
 * WEBHOOK_FRAMING_LINE bytes kept, the rest counted) and judged when their
 * LF arrives; Content-Length and chunk data are skipped in bulk, so a large
 * body costs a few comparisons per piece, not per byte. Every decision about
 * the body is taken at the end of the header block, where the verdict must
 * come before evhttp sees that line; the body limit arrives after it
 * (webhook_framing_body_limit), once the caller has chosen it from the
 * method, the path and the token. Reasons name the header or the value at
 * fault with only printable ASCII copied, so they are safe in JSON and logs;
 * header values other than Content-Length and Transfer-Encoding are never
 * copied (an Authorization header is a secret). */
#include "webhook/framing.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    P_START,    /* before the request line (empty lines are skipped) */
    P_REQLINE,  /* in the request line */
    P_HEADERS,  /* in the header block */
    P_BODY,     /* Content-Length bytes to come */
    P_SIZE,     /* a chunk-size line */
    P_SIZE_LF,  /* its CR came: LF next */
    P_DATA,     /* chunk data */
    P_DATA_END, /* CRLF after chunk data */
    P_DATA_LF,  /* its CR came: LF next */
    P_TRAILER,  /* trailer lines after the last chunk */
    P_DONE,
    P_REFUSED
};

/* Methods evhttp knows and this server routes; whether evhttp reads a body
 * for them (evhttp_method_may_have_body in libevent 2.1.12). */
static const struct {
    const char *name;
    bool body;
} methods[] = {{"GET", true},   {"HEAD", false},  {"POST", true},    {"PUT", true},
               {"PATCH", true}, {"DELETE", true}, {"OPTIONS", true}, {"TRACE", false}};

void webhook_framing_reset(webhook_framing *f)
{
    memset(f, 0, sizeof *f);
    f->limit = INT64_MAX;
}

static webhook_framing_event refuse(webhook_framing *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static webhook_framing_event refuse(webhook_framing *f, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
    f->status = status;
    f->phase = P_REFUSED;
    return WEBHOOK_FRAMING_REFUSED;
}

/* s[0..n) as printable ASCII, at most out's size: for a reason. */
static const char *printable(const char *s, size_t n, char *out, size_t outlen)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < outlen; i++)
        out[j++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    out[j] = '\0';
    return out;
}

static int64_t add_sat(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

/* Trims spaces and tabs around s[0..*n); returns the new start. */
static const char *trim(const char *s, size_t *n)
{
    while (*n && (*s == ' ' || *s == '\t'))
        s++, (*n)--;
    while (*n && (s[*n - 1] == ' ' || s[*n - 1] == '\t'))
        (*n)--;
    return s;
}

/* ---- lines -------------------------------------------------------------- */

/* Takes one byte of a line: 1 when it ended the line (LF), 0 to go on, -1
 * refused (a control character, or a CR not right before the LF). */
static int line_byte(webhook_framing *f, unsigned char c)
{
    if (f->cr && c != '\n') {
        refuse(f, 400, "a CR not followed by LF in the request head");
        return -1;
    }
    if (c == '\n')
        return 1;
    if (c == '\r') {
        f->cr = true;
        return 0;
    }
    if ((c < 0x20 && c != '\t') || c == 0x7f) {
        refuse(f, 400, "a control character (0x%02x) in the request head", c);
        return -1;
    }
    if (f->line_len < sizeof f->line - 1)
        f->line[f->line_len] = (char)c;
    f->line_len++;
    return 0;
}

static size_t kept(const webhook_framing *f)
{
    return f->line_len < sizeof f->line - 1 ? f->line_len : sizeof f->line - 1;
}

static void new_line(webhook_framing *f)
{
    f->line_len = 0;
    f->cr = false;
}

/* ---- the request line ---------------------------------------------------- */

/* Counts a request line's spaces and keeps what follows the last one (the
 * version), which may lie beyond the part of the line kept. */
static void reqline_byte(webhook_framing *f, unsigned char c)
{
    if (c == '\r' || c == '\n')
        return; /* line_byte judges them */
    if (c == ' ') {
        f->spaces++;
        f->ver_len = 0;
    } else if (f->spaces == 1) {
        f->target_len++;
    } else if (f->spaces >= 2 && f->ver_len < sizeof f->ver) {
        f->ver[f->ver_len++] = (char)c;
    }
}

/* "METHOD SP TARGET SP HTTP/1.x", judged whole. */
static webhook_framing_event end_reqline(webhook_framing *f)
{
    size_t n = kept(f);
    memcpy(f->reqline, f->line, n);
    f->reqline[n] = '\0';
    char m[24];
    if (f->spaces != 2 || f->target_len == 0)
        return refuse(f, 400, "the request line must be 'METHOD /path HTTP/1.1'");
    if (f->ver_len != 8 || memcmp(f->ver, "HTTP/1.", 7) != 0 || f->ver[7] < '0' || f->ver[7] > '9')
        return refuse(f, 400, "the protocol must be HTTP/1.0 or HTTP/1.1, not '%s'",
                      printable(f->ver, f->ver_len, m, sizeof m));
    f->http10 = f->ver[7] == '0';
    const char *sp = memchr(f->line, ' ', n);
    size_t mlen = sp ? (size_t)(sp - f->line) : n;
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strlen(methods[i].name) == mlen && memcmp(methods[i].name, f->line, mlen) == 0) {
            f->method = methods[i].name;
            f->may_have_body = methods[i].body;
            f->phase = P_HEADERS;
            new_line(f);
            return WEBHOOK_FRAMING_REQLINE;
        }
    return refuse(f, 501, "method '%s' is not implemented", printable(f->line, mlen, m, sizeof m));
}

/* ---- header lines ---------------------------------------------------------- */

static webhook_framing_event content_length(webhook_framing *f, const char *v, size_t n)
{
    int64_t x = 0;
    if (n == 0)
        return refuse(f, 400, "Content-Length is empty");
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return refuse(f, 400, "Content-Length must be a number of bytes (digits only)");
        x = x > (INT64_MAX - 9) / 10 ? INT64_MAX : x * 10 + (v[i] - '0');
    }
    if (f->cl_lines++ && x != f->cl)
        return refuse(f, 400, "conflicting Content-Length headers (%lld and %lld)",
                      (long long)f->cl, (long long)x);
    f->cl = x;
    return WEBHOOK_FRAMING_MORE;
}

/* Counts the codings of one Transfer-Encoding line (a comma list; empty
 * elements skipped, as RFC 9110's list rule allows). */
static void transfer_encoding(webhook_framing *f, const char *v, size_t n)
{
    if (f->te_lines++ == 0) {
        memcpy(f->te, v, n);
        f->te[n] = '\0';
    }
    while (n) {
        const char *comma = memchr(v, ',', n);
        size_t len = comma ? (size_t)(comma - v) : n;
        size_t elen = len;
        const char *e = trim(v, &elen);
        if (elen == 7 && strncasecmp(e, "chunked", 7) == 0) {
            f->te_chunked++;
            f->te_chunked_last = true;
        } else if (elen) {
            if (!f->te_other++)
                printable(e, elen, f->te_first_other, sizeof f->te_first_other);
            f->te_chunked_last = false;
        }
        v += comma ? len + 1 : len;
        n -= comma ? len + 1 : len;
    }
}

/* A header or trailer line (not the empty one): its syntax, and in the
 * header block the two headers that frame the body. */
static webhook_framing_event end_field(webhook_framing *f, bool trailer)
{
    size_t n = kept(f);
    char name[48];
    if (f->line[0] == ' ' || f->line[0] == '\t')
        return refuse(f, 400, "a folded header line (obsolete line folding) is not accepted");
    const char *colon = memchr(f->line, ':', n);
    if (!colon && f->line_len > n)
        return refuse(f, 400, "a header name longer than %zu bytes", n);
    if (!colon)
        return refuse(f, 400, "a header line without a colon");
    size_t nlen = (size_t)(colon - f->line);
    printable(f->line, nlen, name, sizeof name);
    if (nlen == 0 || memchr(f->line, ' ', nlen) || memchr(f->line, '\t', nlen))
        return refuse(f, 400, "header '%s': no name, or a space before the colon", name);
    bool cl = nlen == 14 && strncasecmp(f->line, "content-length", 14) == 0;
    bool te = nlen == 17 && strncasecmp(f->line, "transfer-encoding", 17) == 0;
    if (trailer || (!cl && !te))
        return WEBHOOK_FRAMING_MORE;
    if (f->line_len > n)
        return refuse(f, 400, "header %s is longer than %zu bytes", name, n);
    size_t vlen = n - nlen - 1;
    const char *v = trim(colon + 1, &vlen);
    if (cl)
        return content_length(f, v, vlen);
    transfer_encoding(f, v, vlen);
    return WEBHOOK_FRAMING_MORE;
}

/* The empty line: how the body is framed, or why it cannot be trusted. */
static webhook_framing_event end_headers(webhook_framing *f)
{
    if (f->te_lines) {
        if (f->http10)
            return refuse(f, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (f->cl_lines)
            return refuse(f, 400, "both Transfer-Encoding and Content-Length");
        if (f->te_lines > 1 || strcasecmp(f->te, "chunked") != 0) {
            if (f->te_chunked == 1 && f->te_chunked_last && f->te_other)
                return refuse(f, 501, "transfer coding '%s' is not implemented (only chunked)",
                              f->te_first_other);
            return refuse(f, 400, "Transfer-Encoding must be exactly 'chunked'");
        }
    }
    if (!f->may_have_body && (f->te_lines || f->cl > 0))
        return refuse(f, 400, "a %s request has no body", f->method);
    f->phase = f->te_lines ? P_SIZE : f->cl > 0 ? P_BODY : P_DONE;
    f->left = f->te_lines ? 0 : f->cl;
    return WEBHOOK_FRAMING_HEADERS;
}

/* ---- chunks ------------------------------------------------------------------ */

static int hexval(unsigned char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

static webhook_framing_event end_size(webhook_framing *f)
{
    if (!f->digits)
        return refuse(f, 400, "a chunk size line without a size");
    f->total = add_sat(f->total, f->left);
    if (f->total > f->limit)
        return refuse(f, 413, "the chunked request body is larger than %lld bytes",
                      (long long)f->limit);
    f->digits = 0;
    f->phase = f->left ? P_DATA : P_TRAILER;
    new_line(f);
    return WEBHOOK_FRAMING_MORE;
}

static webhook_framing_event size_byte(webhook_framing *f, unsigned char c)
{
    int h = hexval(c);
    if (h >= 0) {
        f->digits++;
        f->left = f->left > (INT64_MAX - 15) / 16 ? INT64_MAX : f->left * 16 + h;
        return WEBHOOK_FRAMING_MORE;
    }
    if (c == '\r') {
        f->phase = P_SIZE_LF;
        return WEBHOOK_FRAMING_MORE;
    }
    if (c == '\n')
        return end_size(f);
    if (c == ';')
        return refuse(f, 400, "chunk extensions are not accepted");
    return refuse(f, 400, "an invalid chunk size (hex digits, then CRLF)");
}

static webhook_framing_event chunk_byte(webhook_framing *f, unsigned char c)
{
    switch (f->phase) {
    case P_SIZE:
        return size_byte(f, c);
    case P_SIZE_LF:
        return c == '\n' ? end_size(f) : refuse(f, 400, "an invalid chunk size (a CR alone)");
    case P_DATA_END:
    case P_DATA_LF:
        if (c == '\r' && f->phase == P_DATA_END) {
            f->phase = P_DATA_LF;
            return WEBHOOK_FRAMING_MORE;
        }
        if (c != '\n')
            return refuse(f, 400, "chunk data longer than its size");
        f->phase = P_SIZE;
        f->left = 0;
        return WEBHOOK_FRAMING_MORE;
    default:
        return refuse(f, 400, "internal: framing phase %d", f->phase);
    }
}

/* ---- feeding ------------------------------------------------------------------- */

/* One byte of a line phase. */
static webhook_framing_event head_byte(webhook_framing *f, unsigned char c)
{
    int r = line_byte(f, c);
    if (r <= 0)
        return r < 0 ? WEBHOOK_FRAMING_REFUSED : WEBHOOK_FRAMING_MORE;
    bool empty = f->line_len == 0;
    switch (f->phase) {
    case P_START: /* an empty line before the request line: skipped */
        new_line(f);
        return WEBHOOK_FRAMING_MORE;
    case P_REQLINE:
        return end_reqline(f);
    case P_HEADERS:
        if (empty)
            return end_headers(f);
        break;
    default: /* P_TRAILER */
        if (empty) {
            f->phase = P_DONE;
            return WEBHOOK_FRAMING_COMPLETE;
        }
    }
    webhook_framing_event ev = end_field(f, f->phase == P_TRAILER);
    new_line(f);
    return ev;
}

webhook_framing_event webhook_framing_feed(webhook_framing *f, const char *p, size_t n,
                                           size_t *used)
{
    webhook_framing_event ev = WEBHOOK_FRAMING_MORE;
    size_t i = 0;
    while (i < n && ev == WEBHOOK_FRAMING_MORE) {
        if (f->phase == P_DONE || f->phase == P_REFUSED)
            break;
        if (f->phase == P_BODY || f->phase == P_DATA) {
            size_t take = (uint64_t)f->left < n - i ? (size_t)f->left : n - i;
            i += take;
            f->left -= (int64_t)take;
            if (f->left == 0 && f->phase == P_BODY) {
                f->phase = P_DONE;
                ev = WEBHOOK_FRAMING_COMPLETE;
            } else if (f->left == 0) {
                f->phase = P_DATA_END;
            }
            continue;
        }
        unsigned char c = (unsigned char)p[i++];
        if (f->phase == P_START && c != '\r' && c != '\n')
            f->phase = P_REQLINE;
        if (f->phase == P_REQLINE)
            reqline_byte(f, c);
        ev = f->phase <= P_HEADERS || f->phase == P_TRAILER ? head_byte(f, c) : chunk_byte(f, c);
    }
    *used = i;
    if (ev == WEBHOOK_FRAMING_MORE && f->phase == P_DONE)
        return WEBHOOK_FRAMING_COMPLETE;
    if (ev == WEBHOOK_FRAMING_MORE && f->phase == P_REFUSED)
        return WEBHOOK_FRAMING_REFUSED;
    return ev;
}

webhook_framing_event webhook_framing_body_limit(webhook_framing *f, int64_t limit)
{
    if (f->phase == P_REFUSED)
        return WEBHOOK_FRAMING_REFUSED;
    f->limit = limit;
    if (f->phase == P_BODY && f->cl > limit)
        return refuse(f, 413, "the request body (%lld bytes) is larger than %lld bytes",
                      (long long)f->cl, (long long)limit);
    return f->phase == P_DONE ? WEBHOOK_FRAMING_COMPLETE : WEBHOOK_FRAMING_MORE;
}
