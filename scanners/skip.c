/* The structural pre-scanner (see skip.h for what it is for).
 *
 * A byte loop with a tiny state: inside a string or not (and an escape
 * pending), the depth, and for the first levels the role of each open
 * container -- root, resource_changes[], one change, its "change" object,
 * the prior_state / planned_values chain of modules and resources. Strings
 * are crossed with memchr; keys are captured only where a key can lead to a
 * decision. Bytes are handed to the parser in runs; a decision point (the
 * ':' after such a key) first hands over everything up to it, so the parser
 * has seen the key and whatever it needs to answer want_skip(). Skipping a
 * container keeps a bit stack of its bracket kinds, so `{]` is still an
 * error. All state survives chunk boundaries: the input may arrive one byte
 * at a time. */
#include "scanners/skip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/xalloc.h"

typedef enum {
    P_OTHER = 0,
    P_ROOT,
    P_RCS,    /* resource_changes[] */
    P_RC,     /* one resource change */
    P_CHANGE, /* its "change" object */
    P_STATE,  /* prior_state, planned_values, values, root_module, a child module */
    P_MODS,   /* child_modules[] */
    P_RESS,   /* resources[] */
    P_RES,    /* one resource in state */
} prole;

/* Where a skip is: not skipping, waiting for the value after the ':', inside the value. */
typedef enum { NOT_SKIPPING = 0, SKIP_AWAIT, SKIP_INSIDE } skip_phase;
/* The kind of the value being skipped. */
typedef enum { KIND_STRING, KIND_CONTAINER, KIND_SCALAR } value_kind;
/* classify()'s answer at the ':' after a key. */
typedef enum { DECIDE_KEEP, DECIDE_SKIP, DECIDE_ASK } decision;

#define PMAX 64
#define KEYMAX 32

static const char MSG_MISSING[] = "invalid JSON: a value is missing";
static const char MSG_WRONG_KIND[] = "invalid JSON: a bracket closes the wrong kind of value";
static const char MSG_TOO_DEEP[] = "JSON nested deeper than the limit";

/* bytes that matter while crossing a skipped container */
static const unsigned char STRUCTURAL[256] = {
    ['"'] = 1, ['{'] = 1, ['}'] = 1, ['['] = 1, [']'] = 1,
};
/* bytes that end a run inside a string */
static const unsigned char STRING_END[256] = {['"'] = 1, ['\\'] = 1};

#if defined(__SSE2__)
#include <emmintrin.h>

/* 16 bytes at a time: the mask of positions equal to any of a, b (and c,
 * d, e when given, else repeats). */
static inline unsigned match16(const char *p, __m128i a, __m128i b, __m128i c, __m128i d, __m128i e)
{
    __m128i v = _mm_loadu_si128((const __m128i *)p);
    __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
                             _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, c), _mm_cmpeq_epi8(v, d)),
                                          _mm_cmpeq_epi8(v, e)));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* Index of the first '"' or '\\' in buf[i..len), or len. */
static size_t string_run(const char *buf, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\');
    while (i + 16 <= len) {
        unsigned m = match16(buf + i, q, bs, q, q, q);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && !STRING_END[(unsigned char)buf[i]])
        i++;
    return i;
}

/* Index of the first of " { } [ ] in buf[i..len), or len. */
static size_t structural_run(const char *buf, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), ob = _mm_set1_epi8('{'), cb = _mm_set1_epi8('}'),
                  os = _mm_set1_epi8('['), cs = _mm_set1_epi8(']');
    while (i + 16 <= len) {
        unsigned m = match16(buf + i, q, ob, cb, os, cs);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && !STRUCTURAL[(unsigned char)buf[i]])
        i++;
    return i;
}

struct skipper {
    skip_ops ops;
    size_t max_depth;
    /* structure of the passed-through part */
    size_t depth;
    unsigned char role[PMAX];
    unsigned char is_obj[PMAX];
    int in_str, esc;
    int expect_key; /* in an object, after '{' or ',' */
    int capture;    /* the current string is a key worth reading */
    char key[KEYMAX + 1];
    size_t keylen;
    int key_long;
    int have_key; /* a key was read; its value has not started */
    /* skipping a value */
    skip_phase skipping;
    value_kind skip_kind;
    int skip_str, skip_esc; /* inside a string of the skipped value; an escape pending */
    size_t skip_depth;
    uint64_t *bits; /* bracket kinds of the skipped containers: 1 = object */
    uint64_t skip_start;
    /* tentative skip: keep the bytes, give them to the parser after all if a
     * `true` appears outside strings (a sensitive path) */
    int tentative, aborted;
    int skip_unread;
    strbuf tbuf;
    uint64_t pos; /* offset of buf[0] in the original input */
    /* a structural error of this call: its message and offset */
    const char *emsg;
    uint64_t eat;
};

#define TENTATIVE_MAX (1u << 20)

/* As structural_run, also stopping at 't' (the literal true). */
static size_t structural_or_true_run(const char *buf, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i q = _mm_set1_epi8('"'), ob = _mm_set1_epi8('{'), cb = _mm_set1_epi8('}'),
                  os = _mm_set1_epi8('['), t = _mm_set1_epi8('t');
    while (i + 16 <= len) {
        /* ']' is found by the scalar check below: five compares per load */
        unsigned m = match16(buf + i, q, ob, cb, os, t) |
                     match16(buf + i, cb, cb, cb, cb, _mm_set1_epi8(']'));
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (i < len && !STRUCTURAL[(unsigned char)buf[i]] && buf[i] != 't')
        i++;
    return i;
}

skipper *skipper_new(const skip_ops *ops, size_t max_depth, int skip_unread)
{
    skipper *k = xcalloc(1, sizeof *k);
    k->skip_unread = skip_unread;
    k->ops = *ops;
    k->max_depth = max_depth < 8 ? 8 : max_depth;
    k->bits = xcalloc(k->max_depth / 64 + 2, sizeof *k->bits);
    return k;
}

void skipper_free(skipper *k)
{
    if (!k)
        return;
    free(k->bits);
    strbuf_dispose(&k->tbuf);
    free(k);
}

void skipper_advance(skipper *k, uint64_t n)
{
    k->pos += n;
}

int skipper_incomplete(const skipper *k)
{
    return k->skipping != NOT_SKIPPING;
}

static prole cur_role(const skipper *k)
{
    return k->depth && k->depth <= PMAX ? (prole)k->role[k->depth - 1] : P_OTHER;
}

static int key_is(const skipper *k, const char *lit)
{
    size_t n = strlen(lit);
    return !k->key_long && k->keylen == n && memcmp(k->key, lit, n) == 0;
}

/* Roles whose keys matter. */
static int keys_matter(prole r)
{
    return r == P_ROOT || r == P_RC || r == P_CHANGE || r == P_STATE || r == P_RES;
}

/* The role of a container opening now, as a child of the current one. */
static prole child(const skipper *k, int is_obj)
{
    if (k->depth == 0)
        return is_obj ? P_ROOT : P_OTHER;
    switch (cur_role(k)) {
    case P_ROOT:
        if (!is_obj && key_is(k, "resource_changes"))
            return P_RCS;
        if (is_obj && (key_is(k, "prior_state") || key_is(k, "planned_values")))
            return P_STATE;
        return P_OTHER;
    case P_RCS:
        return is_obj ? P_RC : P_OTHER;
    case P_RC:
        return is_obj && key_is(k, "change") ? P_CHANGE : P_OTHER;
    case P_STATE:
        if (is_obj && (key_is(k, "values") || key_is(k, "root_module")))
            return P_STATE;
        if (!is_obj && key_is(k, "child_modules"))
            return P_MODS;
        if (!is_obj && key_is(k, "resources"))
            return P_RESS;
        return P_OTHER;
    case P_MODS:
        return is_obj ? P_STATE : P_OTHER;
    case P_RESS:
        return is_obj ? P_RES : P_OTHER;
    default:
        return P_OTHER;
    }
}

/* At the ':' after a key: skip the value on our own authority, keep it, or
 * ask the parser. */
static decision classify(const skipper *k)
{
    switch (cur_role(k)) {
    case P_ROOT:
        if (key_is(k, "format_version") || key_is(k, "resource_changes") ||
            key_is(k, "configuration") || key_is(k, "variables") || key_is(k, "output_changes") ||
            key_is(k, "prior_state") || key_is(k, "planned_values"))
            return DECIDE_KEEP;
        /* a long key: leave it to the parser */
        return k->key_long ? DECIDE_KEEP : DECIDE_SKIP;
    case P_CHANGE:
        if (key_is(k, "after_unknown") || key_is(k, "after_sensitive") || key_is(k, "before") ||
            key_is(k, "before_sensitive") || key_is(k, "after"))
            return DECIDE_ASK;
        return DECIDE_KEEP;
    case P_STATE:
        if (key_is(k, "values") || key_is(k, "root_module") || key_is(k, "child_modules") ||
            key_is(k, "resources"))
            return DECIDE_KEEP;
        return k->key_long ? DECIDE_KEEP : DECIDE_SKIP;
    case P_RES:
        if (key_is(k, "values") || key_is(k, "sensitive_values"))
            return DECIDE_ASK;
        return DECIDE_KEEP;
    default:
        return DECIDE_KEEP;
    }
}

/* Notes a structural error at input offset `at` (from 0) of the offending
 * byte; skipper_feed reports it counting from 1, as the parser's messages
 * count (docs/scan.md). */
static int structure_error(skipper *k, uint64_t at, const char *msg)
{
    k->emsg = msg;
    k->eat = at + 1;
    return SKIP_ERR_STRUCTURE;
}

/* The bracket kind of skipped level d: 1 for an object. */
static inline int bits_obj(const skipper *k, size_t d)
{
    return (int)((k->bits[d / 64] >> (d % 64)) & 1);
}

static inline void bits_set(skipper *k, size_t d, int is_obj)
{
    if (is_obj)
        k->bits[d / 64] |= 1ULL << (d % 64);
    else
        k->bits[d / 64] &= ~(1ULL << (d % 64));
}

/* A tentative skip found a `true` (or grew too large): the parser gets the
 * value after all. Hands it what was kept, then turns the open skipped
 * containers into ordinary (passed-through) levels. */
static int abort_tentative(skipper *k)
{
    if (k->tbuf.len && k->ops.feed(k->ops.ctx, k->tbuf.s, k->tbuf.len, k->skip_start) != 0)
        return SKIP_ERR_PARSER;
    strbuf_reset(&k->tbuf);
    for (size_t d = 0; d < k->skip_depth; d++) {
        if (k->depth < PMAX) {
            k->role[k->depth] = P_OTHER;
            k->is_obj[k->depth] = (unsigned char)bits_obj(k, d);
        }
        k->depth++;
    }
    k->in_str = k->skip_str;
    k->esc = k->skip_esc;
    k->expect_key = k->have_key = k->capture = 0;
    k->skipping = NOT_SKIPPING;
    k->tentative = 0;
    k->aborted = 1;
    return SKIP_OK;
}

/* A skipped container closed. */
static void skip_done(skipper *k)
{
    k->skipping = NOT_SKIPPING;
    k->tentative = 0;
    strbuf_reset(&k->tbuf);
}

#if defined(__SSE2__)
static inline uint64_t mask64(const char *p, char c)
{
    const __m128i v = _mm_set1_epi8(c);
    uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const void *)p), v));
    uint64_t m1 =
        (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const void *)(p + 16)), v));
    uint64_t m2 =
        (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const void *)(p + 32)), v));
    uint64_t m3 =
        (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_loadu_si128((const void *)(p + 48)), v));
    return m0 | m1 << 16 | m2 << 32 | m3 << 48;
}

/* skip_block's answers besides an offset */
enum { BLOCK_CAREFUL = -1, BLOCK_WRONG_KIND = -2, BLOCK_TOO_DEEP = -3 };

/* One 64-byte block of a skipped container, the way simdjson's first stage
 * works: quote positions -> in-string mask by prefix XOR -> brackets outside
 * strings, walked in order. Returns the offset of the bracket that closes
 * the skipped value, 64 when the value goes on, BLOCK_CAREFUL when the block
 * has a backslash (or a `true` while tentative) and needs the careful loop
 * (nothing changed), BLOCK_WRONG_KIND when a bracket closes the wrong kind
 * of value, BLOCK_TOO_DEEP when nesting goes past the limit (*bad: that
 * bracket's offset). */
static int skip_block(skipper *k, const char *p, int *bad)
{
    if (mask64(p, '\\'))
        return BLOCK_CAREFUL;
    uint64_t q = mask64(p, '"');
    uint64_t instr = q;
    instr ^= instr << 1;
    instr ^= instr << 2;
    instr ^= instr << 4;
    instr ^= instr << 8;
    instr ^= instr << 16;
    instr ^= instr << 32;
    if (k->skip_str)
        instr = ~instr;
    uint64_t out = ~instr & ~q;
    if (k->tentative && (mask64(p, 't') & out))
        return BLOCK_CAREFUL;
    uint64_t br = (mask64(p, '{') | mask64(p, '[') | mask64(p, '}') | mask64(p, ']')) & out;
    size_t depth = k->skip_depth;
    while (br) {
        int pos = __builtin_ctzll(br);
        br &= br - 1;
        char c = p[pos];
        if (c == '{' || c == '[') {
            if (depth >= k->max_depth)
                return *bad = pos, BLOCK_TOO_DEEP;
            bits_set(k, depth++, c == '{');
        } else {
            if (bits_obj(k, --depth) != (c == '}'))
                return *bad = pos, BLOCK_WRONG_KIND;
            if (depth == 0) {
                k->skip_depth = 0;
                k->skip_str = 0;
                return pos;
            }
        }
    }
    k->skip_depth = depth;
    k->skip_str = (int)(instr >> 63);
    return 64;
}

/* The block at buf[*pi]: moves *pi past it (or past the closing bracket),
 * or sets *lim past it when it needs the careful loop. */
static int skip_plain_block(skipper *k, const char *buf, size_t *pi, size_t *lim)
{
    int bad = 0;
    int r = skip_block(k, buf + *pi, &bad);
    if (r == 64) {
        *pi += 64;
    } else if (r >= 0) {
        *pi += (size_t)r + 1;
        skip_done(k);
    } else if (r == BLOCK_WRONG_KIND) {
        return structure_error(k, k->pos + *pi + (size_t)bad, MSG_WRONG_KIND);
    } else if (r == BLOCK_TOO_DEEP) {
        return structure_error(k, k->pos + *pi + (size_t)bad, MSG_TOO_DEEP);
    } else {
        *lim = *pi + 64;
    }
    return SKIP_OK;
}
#endif

/* Whitespace as yajl's lexer has it: JSON's four and also \v and \f. The
 * pre-scanner must agree with the parser behind it, or a plan the parser
 * accepts is refused only when a value is skipped. */
static inline int json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Waiting for a skipped value: crosses the whitespace before it and notes
 * where it starts and its kind. *pi is left on its first byte, or at len. */
static int skip_value_start(skipper *k, const char *buf, size_t len, size_t *pi)
{
    size_t i = *pi;
    while (i < len && json_space(buf[i]))
        i++;
    *pi = i;
    if (i == len)
        return SKIP_OK;
    char c = buf[i];
    k->skip_start = k->pos + i;
    k->skipping = SKIP_INSIDE;
    if (c == '"') {
        k->skip_kind = KIND_STRING;
        k->skip_str = 1;
        k->skip_esc = 0;
    } else if (c == '{' || c == '[') {
        k->skip_kind = KIND_CONTAINER;
        k->skip_depth = 1;
        bits_set(k, 0, c == '{');
        k->skip_str = k->skip_esc = 0;
    } else if (c == '}' || c == ']' || c == ',' || c == ':') {
        return structure_error(k, k->pos + i, MSG_MISSING);
    } else {
        k->skip_kind = KIND_SCALAR;
    }
    return SKIP_OK;
}

/* Inside a string of a skipped value, from buf[i] (i < end): to the next
 * escape or quote before end and past it. Clears skip_str at the quote. */
static inline size_t skip_in_string(skipper *k, const char *buf, size_t i, size_t end)
{
    if (k->skip_esc) {
        k->skip_esc = 0;
        return i + 1;
    }
    i = string_run(buf, i, end);
    if (i == end)
        return end;
    if (buf[i] == '\\')
        k->skip_esc = 1;
    else
        k->skip_str = 0;
    return i + 1;
}

/* A skipped string: returns the index past its closing quote, or len. */
static size_t skip_string(skipper *k, const char *buf, size_t len, size_t i)
{
    while (i < len && k->skip_str)
        i = skip_in_string(k, buf, i, len);
    if (!k->skip_str)
        k->skipping = NOT_SKIPPING;
    return i;
}

/* A skipped number or literal: returns the index of the byte that ends it,
 * or len. */
static size_t skip_scalar(skipper *k, const char *buf, size_t len, size_t i)
{
    for (; i < len; i++) {
        char c = buf[i];
        if (c == ',' || c == '}' || c == ']' || json_space(c)) {
            k->skipping = NOT_SKIPPING;
            return i;
        }
    }
    return len;
}

/* The careful loop's step outside strings in a skipped container: to the
 * next structural byte before end (or `true` while tentative) and past it.
 * buf[seg..) is this chunk's part of the value, kept while tentative. */
static int skip_structural(skipper *k, const char *buf, size_t *pi, size_t end, size_t seg)
{
    size_t i = k->tentative ? structural_or_true_run(buf, *pi, end) : structural_run(buf, *pi, end);
    *pi = i;
    if (i == end)
        return SKIP_OK;
    char c = buf[i];
    *pi = i + 1;
    switch (c) {
    case 't':
        /* the parser takes the value from its start, this `true` included */
        *pi = i;
        strbuf_append(&k->tbuf, buf + seg, i - seg);
        return abort_tentative(k);
    case '"':
        k->skip_str = 1;
        return SKIP_OK;
    case '{':
    case '[':
        if (k->skip_depth >= k->max_depth)
            return structure_error(k, k->pos + i, MSG_TOO_DEEP);
        bits_set(k, k->skip_depth++, c == '{');
        return SKIP_OK;
    default: /* '}' or ']' */
        if (bits_obj(k, --k->skip_depth) != (c == '}'))
            return structure_error(k, k->pos + i, MSG_WRONG_KIND);
        if (k->skip_depth == 0)
            skip_done(k);
        return SKIP_OK;
    }
}

/* A skipped container from buf[*pi]: 64-byte blocks while they are plain (no
 * backslash, no `true` to look for), one event at a time otherwise. */
static int skip_container(skipper *k, const char *buf, size_t len, size_t *pi, size_t seg)
{
    size_t i = *pi, lim = i; /* the careful loop runs up to lim */
    int rc = SKIP_OK;
    while (i < len) {
#if defined(__SSE2__)
        if (i >= lim && len - i >= 64 && !k->skip_esc) {
            rc = skip_plain_block(k, buf, &i, &lim);
            if (rc != SKIP_OK || k->skipping != SKIP_INSIDE)
                break;
            continue;
        }
#endif
        size_t end = lim > i && lim < len ? lim : len;
        if (k->skip_str) {
            i = skip_in_string(k, buf, i, end);
            continue;
        }
        rc = skip_structural(k, buf, &i, end, seg);
        if (rc != SKIP_OK || k->skipping != SKIP_INSIDE)
            break;
    }
    *pi = i;
    if (rc != SKIP_OK || !k->tentative)
        return rc;
    /* the value goes on in the next chunk: keep this chunk's part */
    strbuf_append(&k->tbuf, buf + seg, len - seg);
    return k->tbuf.len > TENTATIVE_MAX ? abort_tentative(k) : SKIP_OK;
}

/* Continues skipping from buf[*pi]. On return *pi is just past the skipped
 * value (k->skipping is then NOT_SKIPPING), on the byte from which the
 * parser takes the value after all (k->aborted), or len when the value goes
 * on in the next chunk. */
static int skip_run(skipper *k, const char *buf, size_t len, size_t *pi)
{
    size_t seg = *pi; /* start of this chunk's part of the value */
    if (k->skipping == SKIP_AWAIT) {
        int rc = skip_value_start(k, buf, len, pi);
        if (rc != SKIP_OK || *pi == len)
            return rc;
        seg = *pi;
        if (k->tentative && k->skip_kind != KIND_CONTAINER) {
            /* a scalar: `true` is kept for the parser, anything else skipped */
            k->tentative = 0;
            if (buf[seg] == 't') {
                k->skipping = NOT_SKIPPING;
                k->aborted = 1;
                return SKIP_OK;
            }
        }
        if (k->skip_kind != KIND_SCALAR)
            ++*pi; /* past the opening quote or bracket */
    }
    switch (k->skip_kind) {
    case KIND_STRING:
        *pi = skip_string(k, buf, len, *pi);
        return SKIP_OK;
    case KIND_SCALAR:
        *pi = skip_scalar(k, buf, len, *pi);
        return SKIP_OK;
    default:
        return skip_container(k, buf, len, pi, seg);
    }
}

/* Skips from buf[*pi]; a value that ends here reaches the parser as the
 * number 0. */
static int skip_value(skipper *k, const char *buf, size_t len, size_t *pi)
{
    k->aborted = 0;
    int rc = skip_run(k, buf, len, pi);
    if (rc != SKIP_OK || k->aborted || k->skipping != NOT_SKIPPING)
        return rc;
    return k->ops.feed(k->ops.ctx, "0", 1, k->skip_start) != 0 ? SKIP_ERR_PARSER : SKIP_OK;
}

/* Appends n bytes to the key being captured; a key too long to be one we
 * look for is only flagged. */
static void key_append(skipper *k, const char *p, size_t n)
{
    if (k->keylen + n > KEYMAX) {
        k->key_long = 1;
        return;
    }
    memcpy(k->key + k->keylen, p, n);
    k->keylen += n;
}

/* Inside a passed-through string, from buf[i]: to its next escape or its
 * end, capturing the key if it is one. Returns where to go on. */
static size_t pass_string(skipper *k, const char *buf, size_t i, size_t len)
{
    if (k->esc) {
        k->esc = 0;
        if (k->capture)
            key_append(k, buf + i, 1);
        return i + 1;
    }
    size_t end = string_run(buf, i, len);
    if (k->capture)
        key_append(k, buf + i, end - i);
    if (end == len)
        return len;
    if (buf[end] == '\\') {
        k->esc = 1;
        k->key_long |= k->capture; /* escaped keys are left to the parser */
        return end + 1;
    }
    k->in_str = 0;
    if (k->capture) {
        k->capture = 0;
        k->have_key = 1;
        k->key[k->keylen] = '\0';
    }
    return end + 1;
}

/* Just past a ':' at buf[i - 1]: decides on the value that follows. A skip
 * hands everything up to the ':' to the parser first (from *fed on), so
 * the parser has seen the key and whatever want_skip() needs. */
static int at_colon(skipper *k, const char *buf, size_t i, size_t *fed)
{
    if (!k->have_key)
        return SKIP_OK;
    /* the key stays readable until the value opens a container */
    decision d = classify(k);
    if (d == DECIDE_KEEP || (d == DECIDE_SKIP && !k->skip_unread))
        return SKIP_OK;
    if (i > *fed && k->ops.feed(k->ops.ctx, buf + *fed, i - *fed, k->pos + *fed) != 0)
        return SKIP_ERR_PARSER;
    *fed = i;
    int answer = SKIP_VALUE;
    if (d == DECIDE_ASK) {
        int where = cur_role(k) == P_CHANGE ? SKIP_AT_CHANGE : SKIP_AT_STATE_RESOURCE;
        answer = k->ops.want_skip(k->ops.ctx, where, k->key, k->keylen);
    }
    if (answer != SKIP_KEEP) {
        k->skipping = SKIP_AWAIT;
        k->tentative = answer == SKIP_UNLESS_TRUE;
        strbuf_reset(&k->tbuf);
    }
    return SKIP_OK;
}

/* A container opens in the passed-through part. */
static void pass_open(skipper *k, int is_obj)
{
    prole r = child(k, is_obj);
    if (k->depth < PMAX) {
        k->role[k->depth] = (unsigned char)r;
        k->is_obj[k->depth] = (unsigned char)is_obj;
    }
    k->depth++;
    k->expect_key = is_obj;
    k->have_key = 0;
}

/* The byte at buf[*pi], outside strings and skipped values. */
static int pass_byte(skipper *k, const char *buf, size_t *pi, size_t *fed)
{
    char c = buf[(*pi)++];
    switch (c) {
    case '"':
        k->in_str = 1;
        if (k->expect_key && keys_matter(cur_role(k))) {
            k->capture = 1;
            k->keylen = 0;
            k->key_long = 0;
        }
        k->expect_key = 0;
        return SKIP_OK;
    case '{':
    case '[':
        pass_open(k, c == '{');
        return SKIP_OK;
    case '}':
    case ']':
        if (k->depth)
            k->depth--;
        k->expect_key = 0;
        k->have_key = 0;
        return SKIP_OK;
    case ',':
        k->expect_key = k->depth && k->depth <= PMAX && k->is_obj[k->depth - 1];
        k->have_key = 0;
        return SKIP_OK;
    case ':':
        return at_colon(k, buf, *pi, fed);
    default:
        return SKIP_OK;
    }
}

int skipper_feed(skipper *k, const char *buf, size_t len, char *err, size_t errlen, uint64_t *at)
{
    size_t i = 0, fed = 0; /* buf[fed..i) is passed through, not yet handed over */
    int rc = SKIP_OK;
    while (i < len) {
        if (k->skipping != NOT_SKIPPING) {
            rc = skip_value(k, buf, len, &i);
            fed = i;
        } else if (k->in_str) {
            i = pass_string(k, buf, i, len);
            continue;
        } else {
            if (cur_role(k) == P_OTHER && k->depth) {
                /* no keys or decisions in here: only strings and brackets count */
                i = structural_run(buf, i, len);
                if (i == len)
                    break;
            }
            rc = pass_byte(k, buf, &i, &fed);
        }
        if (rc != SKIP_OK)
            break;
    }
    if (rc == SKIP_OK && len > fed && k->ops.feed(k->ops.ctx, buf + fed, len - fed, k->pos + fed))
        rc = SKIP_ERR_PARSER;
    if (rc == SKIP_ERR_STRUCTURE) {
        snprintf(err, errlen, "%s", k->emsg);
        *at = k->eat;
    }
    k->pos += len;
    return rc;
}
