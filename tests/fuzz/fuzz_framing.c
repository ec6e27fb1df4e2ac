/* Fuzz driver: the framing of HTTP/1.1 requests (webhook/framing.c), the
 * bytes a client sends before evhttp reads them.
 *
 * The input is the connection's bytes; the body limit at each header block
 * comes from the input's hash. Properties: fed whole, one byte at a time and
 * in pieces whose sizes come from the hash, the same events arrive at the
 * same offsets with the same status (so it does not matter how TCP cuts
 * the stream); no feed takes more than it was given; a refusal is 400, 413
 * or 501 with a reason of printable ASCII; 413 only once a limit was set; a
 * request line is NUL-terminated. After COMPLETE the driver starts the next
 * request, as the server does with a pipelined one. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "webhook/framing.h"

#define MAX_EVENTS 64

typedef struct trace {
    int ev[MAX_EVENTS];
    size_t at[MAX_EVENTS];
    int status[MAX_EVENTS];
    size_t n;
} trace;

static void check_refusal(const webhook_framing *f, bool limited)
{
    FUZZ_CHECK(f->status == 400 || f->status == 413 || f->status == 501, "status %d", f->status);
    FUZZ_CHECK(f->status != 413 || limited, "413 before a limit was set");
    FUZZ_CHECK(f->reason[0], "a refusal without a reason");
    for (const char *p = f->reason; *p; p++)
        FUZZ_CHECK(*p >= 0x20 && *p < 0x7f, "reason byte 0x%02x", (unsigned char)*p);
}

/* Feeds data in pieces of size piece(k) (0: whole) and records the events. */
static void run(const uint8_t *data, size_t size, uint64_t h, int mode, int64_t limit, trace *t)
{
    webhook_framing f;
    webhook_framing_reset(&f);
    bool limited = false;
    size_t off = 0;
    memset(t, 0, sizeof *t);
    while (off < size && t->n < MAX_EVENTS) {
        size_t piece = mode == 0   ? size - off
                       : mode == 1 ? 1
                                   : 1 + (size_t)((h >> (off % 48)) % 97);
        size_t n = size - off < piece ? size - off : piece, used = 0;
        webhook_framing_event ev = webhook_framing_feed(&f, (const char *)data + off, n, &used);
        FUZZ_CHECK(used <= n, "took %zu of %zu", used, n);
        off += used;
        if (ev == WEBHOOK_FRAMING_REQLINE)
            FUZZ_CHECK(memchr(f.reqline, '\0', sizeof f.reqline), "request line not terminated");
        if (ev == WEBHOOK_FRAMING_HEADERS) {
            ev = webhook_framing_body_limit(&f, limit);
            limited = true;
        }
        if (ev == WEBHOOK_FRAMING_MORE)
            continue;
        t->ev[t->n] = ev;
        t->at[t->n] = off;
        t->status[t->n++] = f.status;
        if (ev == WEBHOOK_FRAMING_REFUSED) {
            check_refusal(&f, limited);
            return;
        }
        if (ev == WEBHOOK_FRAMING_COMPLETE) { /* a pipelined request follows */
            webhook_framing_reset(&f);
            limited = false;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t h = fuzz_hash(data, size, FUZZ_HASH_INIT);
    int64_t limit = (int64_t)(h % 5000);
    trace whole, bytes, pieces;
    run(data, size, h, 0, limit, &whole);
    run(data, size, h, 1, limit, &bytes);
    run(data, size, h, 2, limit, &pieces);
    const trace *other[] = {&bytes, &pieces};
    for (int k = 0; k < 2; k++) {
        FUZZ_CHECK(other[k]->n == whole.n, "%zu events against %zu", other[k]->n, whole.n);
        for (size_t i = 0; i < whole.n; i++)
            FUZZ_CHECK(other[k]->ev[i] == whole.ev[i] && other[k]->at[i] == whole.at[i] &&
                           other[k]->status[i] == whole.status[i],
                       "event %zu: %d at %zu (%d) against %d at %zu (%d)", i, other[k]->ev[i],
                       other[k]->at[i], other[k]->status[i], whole.ev[i], whole.at[i],
                       whole.status[i]);
    }
    return 0;
}
