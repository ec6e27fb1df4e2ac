/* ULIDs (ulid.h) and the random bytes behind them (getrandom, aborting on
 * failure: there is no safe fallback). Monotonic within the process: under
 * one mutex, a ULID made in the same millisecond as the last one (or an
 * earlier one, if the clock stepped back) reuses that millisecond and
 * increments the previous random part, whose top bit starts clear so that
 * the increment cannot overflow in practice. */
#include "common/ulid.h"

#include "common/hex.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char b32[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

void ig_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            perror("imagegate: getrandom");
            abort();
        }
        p += r;
        n -= (size_t)r;
    }
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static ig_time last_ms = -1;
static unsigned char last_rand[10];

void ulid_new(ig_time now, char out[ULID_LEN + 1])
{
    unsigned char bytes[16];
    pthread_mutex_lock(&mu);
    if (now <= last_ms) {
        /* same (or earlier) millisecond: increment the random part */
        now = last_ms;
        for (int i = 9; i >= 0; i--)
            if (++last_rand[i] != 0)
                break;
    } else {
        ig_random_bytes(last_rand, sizeof last_rand);
        last_rand[0] &= 0x7f; /* room to increment */
        last_ms = now;
    }
    uint64_t t = (uint64_t)now;
    for (int i = 5; i >= 0; i--) {
        bytes[i] = (unsigned char)(t & 0xff);
        t >>= 8;
    }
    memcpy(bytes + 6, last_rand, 10);
    pthread_mutex_unlock(&mu);

    /* 128 bits -> 26 base32 chars (first char carries 3 bits) */
    int bit = -2; /* 130 bits of output, 2 leading zero bits */
    for (int i = 0; i < ULID_LEN; i++) {
        int v = 0;
        for (int k = 0; k < 5; k++, bit++) {
            int b = 0;
            if (bit >= 0)
                b = (bytes[bit / 8] >> (7 - bit % 8)) & 1;
            v = (v << 1) | b;
        }
        out[i] = b32[v];
    }
    out[ULID_LEN] = '\0';
}

void ig_uuid_new(char out[IG_UUID_LEN + 1])
{
    unsigned char b[16];
    char hex[33];
    ig_random_bytes(b, sizeof b);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    hex_encode(b, sizeof b, hex);
    snprintf(out, IG_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12, hex + 16,
             hex + 20);
}

bool ig_uuid_valid(const char *s)
{
    if (!s || strlen(s) != IG_UUID_LEN)
        return false;
    for (int i = 0; i < IG_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : hex_digit(s[i]) < 0)
            return false;
    }
    return true;
}
