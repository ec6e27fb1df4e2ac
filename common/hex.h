/* Hexadecimal digits: one decoder for every place that reads hex (query
 * strings, store URLs, signature headers, token hashes) and one encoder for
 * every place that writes it (hashes, random ids, keys). Pure functions;
 * any thread. */
#ifndef IG_HEX_H
#define IG_HEX_H

#include <stddef.h>

/* The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'), or -1. */
int hex_digit(int c);

/* The byte spelt by the two hex digits at s ("3f" -> 63), or -1 when either
 * is not a hex digit. Reads s[1] only when s[0] is a digit, so a string
 * ending after s[0] is safe. */
int hex_byte(const char *s);

/* Decodes hex, which must be exactly 2 * n hex digits (either case), into
 * n bytes of out. Every digit is read even after a bad one (no early exit:
 * sig.c relies on it). Returns 0, or -1 when the length or a digit is
 * wrong (out then holds garbage). */
int hex_decode(const char *hex, unsigned char *out, size_t n);

/* Writes the n bytes of in as 2 * n lowercase hex digits and a NUL into out
 * (2 * n + 1 bytes). Returns out. */
char *hex_encode(const void *in, size_t n, char *out);

#endif
