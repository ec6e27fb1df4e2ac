/* ULIDs: 48-bit millisecond time + 80 random bits, Crockford base32, 26
 * characters. Monotonic within one process: two ids made in the same
 * millisecond sort in creation order. Safe on any thread. */
#ifndef IG_ULID_H
#define IG_ULID_H

#include "common/timeutil.h"

#include <stdbool.h>
#include <stddef.h>

#define ULID_LEN 26

/* Writes a new ULID (26 chars + NUL) into out. */
void ulid_new(ig_time now, char out[ULID_LEN + 1]);
/* Fills buf with n cryptographically random bytes (getrandom). */
void ig_random_bytes(void *buf, size_t n);

/* UUIDs (RFC 4122 version 4, random): the organization and project ids HCP
 * clients insist on. 36 characters + NUL, lower case. */
#define IG_UUID_LEN 36
void ig_uuid_new(char out[IG_UUID_LEN + 1]);
/* True for 8-4-4-4-12 hex digits (either case; any version). */
bool ig_uuid_valid(const char *s);

#endif
