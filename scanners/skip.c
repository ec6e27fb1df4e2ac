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

#define PMAX 64
#define KEYMAX 32

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
    int skipping;  /* 1 = waiting for the value to start, 2 = inside it */
    int skip_kind; /* 's' string, 'c' container, 'n' scalar */
    int skip_str, skip_esc;
    size_t skip_depth;
    uint64_t *bits; /* bracket kinds of the skipped containers: 1 = object */
    uint64_t skip_start;
    /* tentative skip: keep the bytes, give them to the parser after all if a
     * `true` appears outside strings (a sensitive path) */
    int tentative, aborted;
    int skip_unread;
    strbuf tbuf;
    uint64_t pos; /* offset of buf[0] in the original input */
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
    return k->skipping != 0;
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

/* At the ':' after a key: 1 to skip the value, 0 to keep it, -1 to ask. */
static int classify(const skipper *k)
{
    switch (cur_role(k)) {
    case P_ROOT:
        if (key_is(k, "format_version") || key_is(k, "resource_changes") ||
            key_is(k, "configuration") || key_is(k, "variables") || key_is(k, "output_changes") ||
            key_is(k, "prior_state") || key_is(k, "planned_values"))
            return 0;
        return k->key_long ? 0 : 1; /* a long key: leave it to the parser */
    case P_CHANGE:
        if (key_is(k, "after_unknown") || key_is(k, "after_sensitive") || key_is(k, "before") ||
            key_is(k, "before_sensitive") || key_is(k, "after"))
            return -1;
        return 0;
    case P_STATE:
        if (key_is(k, "values") || key_is(k, "root_module") || key_is(k, "child_modules") ||
            key_is(k, "resources"))
            return 0;
        return k->key_long ? 0 : 1;
    case P_RES:
        if (key_is(k, "values") || key_is(k, "sensitive_values"))
            return -1;
        return 0;
    default:
        return 0;
    }
}

static int structure_error(uint64_t at, const char *msg, char *err, size_t errlen, uint64_t *pat)
{
    snprintf(err, errlen, "%s", msg);
    *pat = at;
    return -2;
}

/* A tentative skip found a `true` (or grew too large): the parser gets the
 * value after all. Hands it what was kept, then turns the open skipped
 * containers into ordinary (passed-through) levels. */
static int abort_tentative(skipper *k)
{
    if (k->tbuf.len && k->ops.feed(k->ops.ctx, k->tbuf.s, k->tbuf.len, k->skip_start) != 0)
        return -1;
    strbuf_reset(&k->tbuf);
    for (size_t d = 0; d < k->skip_depth; d++) {
        if (k->depth < PMAX) {
            k->role[k->depth] = P_OTHER;
            k->is_obj[k->depth] = (unsigned char)((k->bits[d / 64] >> (d % 64)) & 1);
        }
        k->depth++;
    }
    k->in_str = k->skip_str;
    k->esc = k->skip_esc;
    k->expect_key = k->have_key = k->capture = 0;
    k->skipping = 0;
    k->tentative = 0;
    k->aborted = 1;
    return 0;
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

/* One 64-byte block of a skipped container, the way simdjson's first stage
 * works: quote positions -> in-string mask by prefix XOR -> brackets outside
 * strings, walked in order. Returns the offset of the bracket that closes
 * the skipped value, 64 when the value goes on, -1 when the block has a
 * backslash (or a `true` while tentative) and needs the careful loop
 * (nothing changed), -2 when a bracket closes the wrong kind of value, -3
 * when nesting goes past the limit. */
static int skip_block(skipper *k, const char *p)
{
    if (mask64(p, '\\'))
        return -1;
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
        return -1;
    uint64_t br = (mask64(p, '{') | mask64(p, '[') | mask64(p, '}') | mask64(p, ']')) & out;
    size_t depth = k->skip_depth;
    while (br) {
        int pos = __builtin_ctzll(br);
        br &= br - 1;
        char c = p[pos];
        if (c == '{' || c == '[') {
            if (depth >= k->max_depth)
                return -3;
            if (c == '{')
                k->bits[depth / 64] |= 1ULL << (depth % 64);
            else
                k->bits[depth / 64] &= ~(1ULL << (depth % 64));
            depth++;
        } else {
            size_t d = --depth;
            int obj = (k->bits[d / 64] >> (d % 64)) & 1;
            if (obj != (c == '}'))
                return -2;
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
#endif

/* Whitespace as yajl's lexer has it: JSON's four and also \v and \f. The
 * pre-scanner must agree with the parser behind it, or a plan the parser
 * accepts is refused only when a value is skipped. */
static inline int json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Continues skipping inside buf[i..len). Returns the index just past the
 * skipped value, or len when it goes on in the next chunk; -1 on error. */
static long skip_run(skipper *k, const char *buf, size_t len, size_t i, char *err, size_t errlen,
                     uint64_t *at)
{
    size_t seg = i; /* start of this chunk's part of the value (tentative) */
    if (k->skipping == 1) {
        while (i < len && json_space(buf[i]))
            i++;
        if (i == len)
            return (long)len;
        seg = i;
        char c = buf[i];
        k->skip_start = k->pos + i;
        k->skipping = 2;
        if (c == '"') {
            k->skip_kind = 's';
            k->skip_esc = 0;
            i++;
        } else if (c == '{' || c == '[') {
            k->skip_kind = 'c';
            k->skip_depth = 1;
            k->bits[0] = c == '{';
            k->skip_str = k->skip_esc = 0;
            i++;
        } else if (c == '}' || c == ']' || c == ',' || c == ':') {
            return structure_error(k->pos + i, "invalid JSON: a value is missing", err, errlen, at),
                   -1;
        } else {
            k->skip_kind = 'n';
        }
        if (k->tentative && k->skip_kind != 'c') {
            /* a scalar: `true` is kept for the parser, anything else skipped */
            k->tentative = 0;
            if (c == 't') {
                k->skipping = 0;
                k->aborted = 1;
                return (long)i;
            }
        }
    }
    if (k->skip_kind == 's') {
        while (i < len) {
            if (k->skip_esc) {
                k->skip_esc = 0;
                i++;
                continue;
            }
            i = string_run(buf, i, len);
            if (i == len)
                return (long)len;
            if (buf[i] == '\\') {
                k->skip_esc = 1;
                i++;
                continue;
            }
            k->skipping = 0;
            return (long)i + 1;
        }
        return (long)len;
    }
    if (k->skip_kind == 'n') {
        while (i < len) {
            char c = buf[i];
            if (c == ',' || c == '}' || c == ']' || json_space(c)) {
                k->skipping = 0;
                return (long)i;
            }
            i++;
        }
        return (long)len;
    }
    /* a container: 64-byte blocks while they are plain (no backslash, no
     * `true` to look for), one event at a time otherwise */
    size_t lim = i; /* the scalar loop runs up to here */
    while (i < len) {
#if defined(__SSE2__)
        if (i >= lim && len - i >= 64 && !k->skip_esc) {
            int r = skip_block(k, buf + i);
            if (r >= 0) {
                if (r < 64) {
                    i += (size_t)r + 1;
                    k->skipping = 0;
                    k->tentative = 0;
                    strbuf_reset(&k->tbuf);
                    return (long)i;
                }
                i += 64;
                continue;
            }
            if (r == -2)
                return structure_error(k->pos + i,
                                       "invalid JSON: a bracket closes the wrong kind of value",
                                       err, errlen, at),
                       -1;
            if (r == -3)
                return structure_error(k->pos + i, "JSON nested deeper than the limit", err, errlen,
                                       at),
                       -1;
            lim = i + 64; /* this block needs the careful loop */
        }
#endif
        size_t end = lim > i && lim < len ? lim : len;
        if (k->skip_str) {
            if (k->skip_esc) {
                k->skip_esc = 0;
                i++;
                continue;
            }
            i = string_run(buf, i, end);
            if (i == end)
                continue;
            if (buf[i] == '\\') {
                k->skip_esc = 1;
                i++;
                continue;
            }
            k->skip_str = 0;
            i++;
            continue;
        }
        /* find the next structural byte */
        i = k->tentative ? structural_or_true_run(buf, i, end) : structural_run(buf, i, end);
        if (i == end)
            continue;
        char c = buf[i++];
        if (c == 't') {
            strbuf_append(&k->tbuf, buf + seg, i - 1 - seg);
            if (abort_tentative(k) != 0)
                return -2;
            return (long)i - 1;
        }
        if (c == '"') {
            k->skip_str = 1;
        } else if (c == '{' || c == '[') {
            if (k->skip_depth >= k->max_depth)
                return structure_error(k->pos + i - 1, "JSON nested deeper than the limit", err,
                                       errlen, at),
                       -1;
            size_t d = k->skip_depth++;
            if (c == '{')
                k->bits[d / 64] |= 1ULL << (d % 64);
            else
                k->bits[d / 64] &= ~(1ULL << (d % 64));
        } else {
            size_t d = --k->skip_depth;
            int obj = (k->bits[d / 64] >> (d % 64)) & 1;
            if (obj != (c == '}'))
                return structure_error(k->pos + i - 1,
                                       "invalid JSON: a bracket closes the wrong kind of value",
                                       err, errlen, at),
                       -1;
            if (k->skip_depth == 0) {
                k->skipping = 0;
                k->tentative = 0;
                strbuf_reset(&k->tbuf);
                return (long)i;
            }
        }
    }
    if (k->tentative) {
        strbuf_append(&k->tbuf, buf + seg, len - seg);
        if (k->tbuf.len > TENTATIVE_MAX && abort_tentative(k) != 0)
            return -2;
    }
    return (long)len;
}

int skipper_feed(skipper *k, const char *buf, size_t len, char *err, size_t errlen, uint64_t *at)
{
    size_t i = 0, fed = 0;
    int rc = 0;
    while (i < len) {
        if (k->skipping) {
            k->aborted = 0;
            long e = skip_run(k, buf, len, i, err, errlen, at);
            if (e == -2) {
                rc = -1; /* the parser refused the kept bytes */
                goto out;
            }
            if (e < 0) {
                rc = -2;
                goto out;
            }
            i = (size_t)e;
            fed = i;
            if (k->aborted)
                continue; /* the value goes to the parser after all */
            if (!k->skipping) {
                /* the skipped value becomes 0 */
                if (k->ops.feed(k->ops.ctx, "0", 1, k->skip_start) != 0) {
                    rc = -1;
                    goto out;
                }
            }
            continue;
        }
        if (k->in_str) {
            /* inside a string: find its end */
            if (k->esc) {
                k->esc = 0;
                if (k->capture && k->keylen < KEYMAX)
                    k->key[k->keylen++] = buf[i];
                else if (k->capture)
                    k->key_long = 1;
                i++;
                continue;
            }
            size_t end = string_run(buf, i, len);
            const char *q = end < len && buf[end] == '"' ? buf + end : NULL;
            const char *bs = end < len && buf[end] == '\\' ? buf + end : NULL;
            if (k->capture) {
                size_t n = end - i;
                if (k->keylen + n > KEYMAX) {
                    k->key_long = 1;
                } else {
                    memcpy(k->key + k->keylen, buf + i, n);
                    k->keylen += n;
                }
            }
            if (bs) {
                k->esc = 1;
                k->key_long |= k->capture; /* escaped keys are left to the parser */
                i = end + 1;
                continue;
            }
            if (!q) {
                i = len;
                continue;
            }
            i = end + 1;
            k->in_str = 0;
            if (k->capture) {
                k->capture = 0;
                k->have_key = 1;
                k->key[k->keylen] = '\0';
            }
            continue;
        }
        if (cur_role(k) == P_OTHER && k->depth) {
            /* no keys or decisions in here: only strings and brackets count */
            i = structural_run(buf, i, len);
            if (i == len)
                break;
        }
        char c = buf[i];
        switch (c) {
        case '"':
            k->in_str = 1;
            if (k->expect_key && keys_matter(cur_role(k))) {
                k->capture = 1;
                k->keylen = 0;
                k->key_long = 0;
            }
            k->expect_key = 0;
            i++;
            break;
        case '{':
        case '[': {
            int is_obj = c == '{';
            prole r = child(k, is_obj);
            if (k->depth < PMAX) {
                k->role[k->depth] = (unsigned char)r;
                k->is_obj[k->depth] = (unsigned char)is_obj;
            }
            k->depth++;
            k->expect_key = is_obj;
            k->have_key = 0;
            i++;
            break;
        }
        case '}':
        case ']':
            if (k->depth)
                k->depth--;
            k->expect_key = 0;
            k->have_key = 0;
            i++;
            break;
        case ',':
            k->expect_key = k->depth && k->depth <= PMAX && k->is_obj[k->depth - 1];
            k->have_key = 0;
            i++;
            break;
        case ':':
            i++;
            if (k->have_key) {
                int d = classify(k);
                if (d > 0 && !k->skip_unread)
                    d = 0;
                if (d != 0) {
                    /* hand over everything up to the ':' first */
                    if (i > fed && k->ops.feed(k->ops.ctx, buf + fed, i - fed, k->pos + fed)) {
                        rc = -1;
                        goto out;
                    }
                    fed = i;
                    if (d < 0) {
                        int where =
                            cur_role(k) == P_CHANGE ? SKIP_AT_CHANGE : SKIP_AT_STATE_RESOURCE;
                        d = k->ops.want_skip(k->ops.ctx, where, k->key, k->keylen);
                    }
                    if (d > 0) {
                        k->skipping = 1;
                        k->tentative = d == 2;
                        strbuf_reset(&k->tbuf);
                    }
                }
                /* the key stays readable until the value opens a container */
            }
            break;
        default:
            i++;
        }
    }
    if (len > fed && k->ops.feed(k->ops.ctx, buf + fed, len - fed, k->pos + fed))
        rc = -1;
out:
    k->pos += len;
    return rc;
}
