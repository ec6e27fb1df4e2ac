/* A line-at-a-time scan of header lines for the Authorization header (see
 * authhdr.h for what counts). Each line's first WEBHOOK_AUTHHDR_LINE bytes
 * are kept; when a line ends it is classified: an Authorization line is
 * copied to value (or marks the header unusable when it is a second one or
 * was longer than the buffer), and a continuation line (leading space or
 * tab, which evhttp appends to the header before it) right after an
 * Authorization line marks it unusable too. Every buffer that held part of
 * a secret is wiped with OPENSSL_cleanse when it is reused or reset. */
#include "webhook/authhdr.h"

#include <openssl/crypto.h>
#include <string.h>
#include <strings.h>

#define NAME "authorization:"
#define NAME_LEN (sizeof NAME - 1)

void webhook_authhdr_reset(webhook_authhdr *a)
{
    OPENSSL_cleanse(a, sizeof *a);
    memset(a, 0, sizeof *a);
}

static void end_line(webhook_authhdr *a)
{
    size_t n = a->len < WEBHOOK_AUTHHDR_LINE ? a->len : WEBHOOK_AUTHHDR_LINE;
    if (n && a->line[n - 1] == '\r' && a->len <= WEBHOOK_AUTHHDR_LINE)
        n--; /* the CR of CRLF; a line cut short keeps its bytes (it is refused anyway) */
    bool fold = n > 0 && (a->line[0] == ' ' || a->line[0] == '\t');
    if (fold) {
        if (a->last_auth)
            a->unusable = true; /* evhttp would append this line to the value */
    } else if (n >= NAME_LEN && strncasecmp(a->line, NAME, NAME_LEN) == 0) {
        a->last_auth = true;
        if (++a->seen > 1 || a->len > WEBHOOK_AUTHHDR_LINE) {
            a->unusable = true;
        } else {
            const char *v = a->line + NAME_LEN;
            size_t vn = n - NAME_LEN;
            while (vn && (*v == ' ' || *v == '\t'))
                v++, vn--;
            while (vn && (v[vn - 1] == ' ' || v[vn - 1] == '\t'))
                vn--;
            memcpy(a->value, v, vn);
            a->value[vn] = '\0';
        }
    } else {
        a->last_auth = false;
    }
    OPENSSL_cleanse(a->line, sizeof a->line);
    a->len = 0;
}

void webhook_authhdr_feed(webhook_authhdr *a, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            end_line(a);
            continue;
        }
        if (a->len < WEBHOOK_AUTHHDR_LINE)
            a->line[a->len] = p[i];
        if (a->len <= WEBHOOK_AUTHHDR_LINE)
            a->len++; /* one past the buffer is enough to know it overflowed */
    }
}

const char *webhook_authhdr_value(const webhook_authhdr *a)
{
    return a->seen == 1 && !a->unusable ? a->value : NULL;
}
