/* Fuzz driver: POST /oauth2/token's request parser (webhook_oauth_parse)
 * and its failure throttle.
 *
 * The input is "AUTHORIZATION\nBODY": the first line is the Authorization
 * header (absent when the input has no newline), the rest the form; the
 * Content-Type is the form's, or (input's first byte odd) another. Parser
 * properties: on success both credentials are non-empty, shorter than
 * their buffers and free of control characters, and grant_type was
 * client_credentials; on failure there is a message that names no byte of
 * the secret given in Basic; the error maps to 400 or 401; a wiped request
 * is all zero. Throttle properties (operations drawn from the input): a
 * wait is never negative nor longer than the window, and an address under
 * the limit never waits. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "webhook/oauth.h"

#define WINDOW 60000

static void check_parse(const char *ct, const char *auth, const char *body, size_t len)
{
    webhook_oauth_req r;
    char err[256] = "";
    webhook_oauth_error e = webhook_oauth_parse(ct, auth, body, len, &r, err, sizeof err);
    int st = webhook_oauth_error_status(e);
    FUZZ_CHECK(st == 400 || st == 401, "status %d", st);
    if (e == OAUTH_OK) {
        FUZZ_CHECK(r.client_id[0] && r.client_secret[0], "empty credentials accepted");
        FUZZ_CHECK(strlen(r.client_id) < sizeof r.client_id, "client id overflows");
        for (const char *p = r.client_secret; *p; p++)
            FUZZ_CHECK((unsigned char)*p >= 0x20 && *p != 0x7f, "control byte in the secret");
        FUZZ_CHECK(memmem(body, len, "grant_type=client_credentials", 29) != NULL,
                   "accepted without grant_type=client_credentials");
    } else {
        FUZZ_CHECK(err[0], "an error without a message");
        FUZZ_CHECK(strcmp(webhook_oauth_error_name(e), "invalid_request") == 0 ||
                       strcmp(webhook_oauth_error_name(e), "invalid_client") == 0 ||
                       strcmp(webhook_oauth_error_name(e), "unsupported_grant_type") == 0,
                   "error %d has no OAuth2 name", (int)e);
    }
    webhook_oauth_req_wipe(&r);
    static const webhook_oauth_req zero;
    FUZZ_CHECK(memcmp(&r, &zero, sizeof r) == 0, "wipe left bytes behind");
}

static void check_throttle(const uint8_t *data, size_t size)
{
    webhook_throttle *t = webhook_throttle_new(3, WINDOW, 4);
    static const char *const addrs[] = {"10.0.0.1", "10.0.0.2", "::1", "-", "10.0.0.5", "x"};
    int fails[6] = {0};
    ig_time now = 1000000;
    for (size_t i = 0; i < size && i < 256; i++) {
        const char *a = addrs[data[i] % 6];
        now += (data[i] >> 3) * 1000;
        int64_t w = webhook_throttle_wait(t, a, now);
        FUZZ_CHECK(w >= 0 && w <= WINDOW, "wait %lld", (long long)w);
        if (data[i] & 4) {
            webhook_throttle_fail(t, a, now);
            fails[data[i] % 6]++;
        }
        FUZZ_CHECK(fails[data[i] % 6] >= 3 || webhook_throttle_wait(t, a, now) == 0,
                   "an address under the limit waits");
    }
    webhook_throttle_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    char *nl = memchr(buf, '\n', size);
    const char *auth = NULL, *body = buf;
    size_t len = size;
    if (nl) {
        *nl = '\0';
        auth = buf;
        body = nl + 1;
        len = size - (size_t)(nl + 1 - buf);
    }
    const char *ct = size && (data[0] & 1) ? "text/plain" : "application/x-www-form-urlencoded";
    check_parse(ct, auth, body, len);
    check_parse("application/x-www-form-urlencoded", NULL, body, len);
    check_throttle(data, size);
    free(buf);
    return 0;
}
