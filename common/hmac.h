/* HMAC-SHA512 as lowercase hex: the signature HCP's webhooks and run tasks
 * use (X-Hcp-Webhook-Signature, X-TFC-Task-Signature), made in one place for
 * the run-task tests and the event notifications that sign what they send.
 * Pure; any thread. */
#ifndef IG_HMAC_H
#define IG_HMAC_H

#include <stddef.h>

#define IG_HMAC_SHA512_HEX 129 /* 128 hex digits and a NUL */

/* Writes the hex HMAC-SHA512 of data[0..len) under key[0..keylen) into out.
 * Returns out. */
char *ig_hmac_sha512_hex(const void *key, size_t keylen, const void *data, size_t len,
                         char out[IG_HMAC_SHA512_HEX]);

#endif
