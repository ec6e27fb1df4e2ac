/* Run-task request signatures: X-TFC-Task-Signature is the lowercase hex
 * HMAC-SHA512 of the exact raw body. A key file holds one key per line, so a
 * key can be rotated by adding the new one, switching HCP Terraform over and
 * removing the old one later; a signature made with any key is accepted.
 *
 * A key set is immutable once loaded. The server loads a new one on SIGHUP
 * and swaps it on the event-loop thread, which is also the only thread that
 * verifies, so no locking is needed. */
#ifndef IG_WEBHOOK_SIG_H
#define IG_WEBHOOK_SIG_H

#include <stdbool.h>
#include <stddef.h>

typedef struct webhook_keys webhook_keys;

/* Loads path: one key per line; surrounding whitespace and empty lines are
 * ignored. A file without any key is an error (use --allow-unsigned for a run
 * task without a key). Warns (log) when the file is readable by others.
 * Returns a new key set or NULL with "PATH: reason" in err. Any thread. */
webhook_keys *webhook_keys_load(const char *path, char *err, size_t errlen);
/* A key set from memory (tests). keys are copied. n may be 0: no key. */
webhook_keys *webhook_keys_from(const char *const *keys, size_t n);
void webhook_keys_free(webhook_keys *k);
size_t webhook_keys_count(const webhook_keys *k);
/* Key i (borrowed, NUL-terminated), or NULL past the end. */
const char *webhook_keys_get(const webhook_keys *k, size_t i);

/* Creates path with one new random key (64 hex chars) and mode 0600 when it
 * does not exist. Returns 1 when it made the file, 0 when it was there, -1
 * with err on failure. */
int webhook_keys_generate(const char *path, char *err, size_t errlen);

typedef enum {
    WEBHOOK_SIG_OK = 0,     /* signed with a configured key, or no key and no signature */
    WEBHOOK_SIG_BAD,        /* a key is configured and the signature is missing or wrong: 401 */
    WEBHOOK_SIG_UNEXPECTED, /* no key is configured but a signature came: 400 */
} webhook_sig_result;

/* Checks header (the X-TFC-Task-Signature value, NULL when absent) against
 * body[0..len) with every key (k NULL = no key). Compares in constant time
 * and always computes every key's HMAC, so timing tells nothing about which
 * key or how many bytes matched. */
webhook_sig_result webhook_sig_verify(const webhook_keys *k, const char *header, const void *body,
                                      size_t len);

/* Lowercase hex HMAC-SHA512 of body with key into out (129 bytes). Tests. */
void webhook_sig_sign(const char *key, const void *body, size_t len, char out[129]);

#endif
