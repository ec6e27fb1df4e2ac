/* Internal to scanners/: the structural pre-scanner that sits in front of
 * yajl and keeps it from tokenising what the scan does not need.
 *
 * It follows the plan's structure byte by byte (strings, brackets, the keys
 * of the few objects whose children matter) and hands everything on to the
 * parser -- except values it can skip: top-level sections other than the
 * ones the scan reads, and, when the parser says so, a resource change's
 * after_unknown / after_sensitive / before / before_sensitive and a state
 * resource's values. A skipped value reaches the parser as the number 0, so
 * the parser still sees a well-formed document. Skipped bytes are checked
 * for structure (balanced brackets and strings, no truncation) but not
 * token by token; everything the scan reads is parsed and validated by yajl.
 */
#ifndef IG_SKIP_H
#define IG_SKIP_H

#include <stddef.h>
#include <stdint.h>

/* Where a value may be skipped on the parser's word. */
enum { SKIP_AT_CHANGE = 1, SKIP_AT_STATE_RESOURCE = 2 };
/* want_skip()'s answers. */
enum { SKIP_KEEP = 0, SKIP_VALUE = 1, SKIP_UNLESS_TRUE = 2 };
/* skipper_feed()'s results. */
enum { SKIP_OK = 0, SKIP_ERR_PARSER = -1, SKIP_ERR_STRUCTURE = -2 };

typedef struct skip_ops {
    void *ctx;
    /* Passes n bytes on to the parser; off is their offset in the original
     * input. Returns 0, or -1 when the parser refused them. */
    int (*feed)(void *ctx, const char *p, size_t n, uint64_t off);
    /* The parser has read everything up to the ':' after key, inside an
     * object of kind `where`. Return SKIP_VALUE to skip the value that
     * follows, SKIP_UNLESS_TRUE to skip it unless it holds the literal true
     * outside strings (then the parser gets it whole after all), SKIP_KEEP
     * to keep it. */
    int (*want_skip)(void *ctx, int where, const char *key, size_t keylen);
} skip_ops;

typedef struct skipper skipper;

/* skip_unread: also skip, on its own authority, top-level sections and
 * state keys the scan never reads (off = only what want_skip() says).
 * max_depth: the nesting allowed inside one skipped value, counted from the
 * value itself (the caller passes what its parser allows in a value it
 * skips, so that skipping never refuses a document a parse of every byte
 * accepts). */
skipper *skipper_new(const skip_ops *ops, size_t max_depth, int skip_unread);
void skipper_free(skipper *k);
/* Processes the next chunk. Returns SKIP_OK, SKIP_ERR_PARSER when the
 * parser refused bytes (its own error stands), or SKIP_ERR_STRUCTURE with a
 * structural error in err (the byte offset in *at). */
int skipper_feed(skipper *k, const char *buf, size_t len, char *err, size_t errlen, uint64_t *at);
/* Counts n bytes the caller consumed itself (a byte order mark) in the
 * offsets passed on and reported. */
void skipper_advance(skipper *k, uint64_t n);
/* True when the input so far ends inside a skipped value. */
int skipper_incomplete(const skipper *k);

#endif
