/* Fuzz driver: the run-task request as the server receives it -- the
 * X-TFC-Task-Signature check and the body parser (webhook_runtask_parse).
 *
 * The input is the body. Signature properties: its own HMAC (made with the
 * second of two keys) verifies; the same with one hex digit changed, a
 * header taken from the input's first bytes (any length, any bytes), and
 * no header at all do not; without keys, no header is fine and any header
 * is unexpected. Parser properties: on success every field the handler
 * relies on is there and as documented in runtask.h (a real request has
 * stage, token, an ID of at most 128 printable characters and an http(s)
 * callback URL); on failure there is a message; dispose frees it all. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "webhook/runtask.h"
#include "webhook/sig.h"

static webhook_keys *KEYS, *NOKEYS;

static bool http_url(const char *s)
{
    return strncmp(s, "https://", 8) == 0 || strncmp(s, "http://", 7) == 0;
}

static void check_signatures(const uint8_t *data, size_t size)
{
    char sig[129];
    webhook_sig_sign("second-key", data, size, sig);
    FUZZ_CHECK(webhook_sig_verify(KEYS, sig, data, size) == WEBHOOK_SIG_OK,
               "a correct signature was refused");
    sig[size % 128] = sig[size % 128] == '0' ? '1' : '0';
    FUZZ_CHECK(webhook_sig_verify(KEYS, sig, data, size) == WEBHOOK_SIG_BAD,
               "a wrong signature was accepted");
    FUZZ_CHECK(webhook_sig_verify(KEYS, NULL, data, size) == WEBHOOK_SIG_BAD,
               "a missing signature was accepted");
    FUZZ_CHECK(webhook_sig_verify(NOKEYS, NULL, data, size) == WEBHOOK_SIG_OK,
               "no key and no signature was refused");

    /* a header from the input itself: up to 200 bytes, NUL-terminated */
    char hdr[201];
    size_t n = size < 200 ? size : 200;
    memcpy(hdr, data, n);
    hdr[n] = '\0';
    webhook_sig_result r = webhook_sig_verify(KEYS, hdr, data, size);
    FUZZ_CHECK(r == WEBHOOK_SIG_BAD || (r == WEBHOOK_SIG_OK && strlen(hdr) == 128),
               "header from the input: %d", (int)r);
    r = webhook_sig_verify(NOKEYS, hdr, data, size);
    FUZZ_CHECK(r == (hdr[0] ? WEBHOOK_SIG_UNEXPECTED : WEBHOOK_SIG_OK),
               "no key, header from the input: %d", (int)r);
}

static void check_request(const webhook_runtask_req *rq)
{
    FUZZ_CHECK(json_is_object(rq->root), "success without a JSON object");
    if (rq->verification) {
        FUZZ_CHECK((rq->access_token && strcmp(rq->access_token, "test-token") == 0) ||
                       (rq->stage && strcmp(rq->stage, "test") == 0),
                   "verification without test-token or stage test");
        return;
    }
    FUZZ_CHECK(rq->stage && *rq->stage, "no stage");
    FUZZ_CHECK(rq->access_token && *rq->access_token, "no access token");
    FUZZ_CHECK(rq->task_result_id && *rq->task_result_id && strlen(rq->task_result_id) <= 128,
               "bad task_result_id");
    for (const char *p = rq->task_result_id; *p; p++)
        FUZZ_CHECK(*p > 0x20 && *p < 0x7f, "task_result_id with byte 0x%02x", (unsigned char)*p);
    FUZZ_CHECK(rq->callback_url && http_url(rq->callback_url), "bad callback URL");
    FUZZ_CHECK(!rq->plan_url || http_url(rq->plan_url), "bad plan URL");
    FUZZ_CHECK(!rq->config_url || http_url(rq->config_url), "bad configuration URL");
    FUZZ_CHECK(rq->run_id && rq->workdir, "run_id / workdir NULL (documented as \"\")");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!KEYS) {
        const char *keys[] = {"first-key", "second-key"};
        KEYS = webhook_keys_from(keys, 2);
        NOKEYS = webhook_keys_from(NULL, 0);
    }
    check_signatures(data, size);

    webhook_runtask_req rq;
    char err[512] = "";
    if (webhook_runtask_parse((const char *)data, size, &rq, err, sizeof err) == 0)
        check_request(&rq);
    else
        FUZZ_CHECK(err[0] != '\0', "an error without a message");
    webhook_runtask_req_dispose(&rq);
    return 0;
}
