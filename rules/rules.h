/* Rule sets: which attribute of which resource type holds a machine image,
 * and the PCRE2 patterns that recognise each cloud's image IDs.
 *
 * The shipped rule files (rules/NAME.yaml) are compiled into the binary; users
 * add files with --rules DIR (every *.yaml / *.yml in it, sorted). Patterns
 * are compiled once with JIT; a rule set is immutable after loading and may
 * be shared by any number of threads (each thread matches with its own
 * rules_matcher, which owns the PCRE2 match data). */
#ifndef IG_RULES_H
#define IG_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rules rules;

typedef struct rules_pattern {
    const char *name;     /* "aws-ami" */
    const char *platform; /* "aws", "azure", "gce", "docker", ... */
    const char *regex;
    bool case_insensitive;
    unsigned groups; /* capture groups of its own */
} rules_pattern;

/* Loads the shipped rules, then every rule file in extra_dir (NULL = none).
 * Returns a new rule set or NULL with "FILE:LINE: reason" (for a bad regex
 * the PCRE2 message and offset) in err. */
rules *rules_load(const char *extra_dir, char *err, size_t errlen);
/* Loads only the given file contents (tests, fuzzing). name is used in
 * messages. with_shipped: start from the shipped rules. */
rules *rules_load_buffer(const char *buf, size_t len, const char *name, bool with_shipped,
                         char *err, size_t errlen);
void rules_free(rules *rs);

/* Image attribute paths for a resource type, written with [] for list
 * elements ("launch_specification[].ami"). Returns the count and points
 * *paths at a borrowed array (NULL when the type has no rule). */
size_t rules_attributes(const rules *rs, const char *resource_type, const char *const **paths);
/* True when path (with [] for list elements) is an image attribute of any
 * type: lets a streaming scanner keep a value before it knows the type. */
bool rules_is_any_attribute(const rules *rs, const char *norm_path, size_t len);
/* True when norm_path is an image attribute path of any type or a prefix of
 * one ("boot_disk", "boot_disk[]"): an unknown value there hides an image. */
bool rules_is_attribute_prefix(const rules *rs, const char *norm_path, size_t len);
/* Rolling hashes of normalised attribute paths, so a streaming scanner can
 * tell in O(1) per key whether it is on the way to an image attribute
 * without building path strings. Start from RULES_PATH_ROOT; a false
 * positive is possible (hash collision), a false negative is not. */
#define RULES_PATH_ROOT 1469598103934665603ULL
#define RULES_PATH_FULL 0x1
#define RULES_PATH_PREFIX 0x2
static inline uint64_t rules_path_key(uint64_t h, const char *k, size_t n)
{
    h = (h ^ '.') * 1099511628211ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211ULL;
    return h;
}
static inline uint64_t rules_path_index(uint64_t h)
{
    h = (h ^ '[') * 1099511628211ULL;
    return (h ^ ']') * 1099511628211ULL;
}
/* A 256 x 64-bit table: bit (len < 63 ? len : 63) of entry [first byte] is
 * set when some attribute path has a segment of that first byte and length.
 * A cheap test before hashing a key. */
const uint64_t *rules_segment_filter(const rules *rs);
static inline int rules_segment_maybe(const uint64_t *filter, const char *k, size_t n)
{
    return n && ((filter[(unsigned char)k[0]] >> (n < 63 ? n : 63)) & 1);
}
/* RULES_PATH_FULL and/or RULES_PATH_PREFIX, or 0. */
int rules_path_flags(const rules *rs, uint64_t h);
/* Shortest subject any pattern can match (strings shorter than this cannot
 * hold an image ID). */
size_t rules_min_length(const rules *rs);

size_t rules_pattern_count(const rules *rs);
const rules_pattern *rules_pattern_at(const rules *rs, size_t i);

/* Per-thread matcher over a rule set. */
typedef struct rules_matcher rules_matcher;
rules_matcher *rules_matcher_new(const rules *rs);
void rules_matcher_free(rules_matcher *m);

typedef struct rules_match {
    size_t start, len;               /* of the image ID inside the subject */
    size_t pattern;                  /* index of the pattern that matched */
    size_t lookup_start, lookup_len; /* the named group "id" when the pattern has one (a GCE
                                        self-link's image name), else = start, len */
} rules_match;

/* Finds the first image ID in s[0..len) at or after offset start. Returns 1
 * and fills *out, 0 when there is none. */
int rules_find(rules_matcher *m, const char *s, size_t len, size_t start, rules_match *out);
/* True when the whole of s is one image ID (an image attribute's value);
 * fills *out. */
int rules_match_whole(rules_matcher *m, const char *s, size_t len, rules_match *out);

/* Every image ID in s[0..len), in order, each search starting where the
 * last match ended (rules_find from offset 0 on):
 *
 *     rules_iter it;
 *     rules_match mt;
 *     rules_iter_start(&it, m, s, len);
 *     while (rules_next(&it, &mt))
 *         ...
 *
 * The matcher remembers the matches of short strings it searched to the
 * end: a plan repeats its values (the same AMI in thousands of instances)
 * and a search of the combined pattern costs thousands of instructions. */
#define RULES_ITER_HITS 4
typedef struct rules_iter {
    rules_matcher *m;
    const char *s;
    size_t len, off;
    uint64_t hash;
    int remembered;                     /* the matches come from the memo */
    size_t n, next;                     /* found[] holds n, next is the one to give */
    rules_match found[RULES_ITER_HITS]; /* a memo entry's, or the first found */
} rules_iter;
void rules_iter_start(rules_iter *it, rules_matcher *m, const char *s, size_t len);
int rules_next(rules_iter *it, rules_match *out);

#endif
