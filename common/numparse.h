/* Checked number parsing: the whole string must be a number inside bounds.
 * Returns 0, or -1 with a reason in err naming what (the caller's label). */
#ifndef IG_NUMPARSE_H
#define IG_NUMPARSE_H

#include <stddef.h>
#include <stdint.h>

int parse_int64(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, char *err,
                size_t errlen);
/* Sizes with an optional suffix: 1024, 64k, 100M, 2G (powers of 1024). */
int parse_size(const char *what, const char *s, int64_t min, int64_t max, int64_t *out, char *err,
               size_t errlen);

#endif
