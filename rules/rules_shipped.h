/* The shipped rule files, compiled in by embed.cmake (internal to rules/). */
#ifndef IG_RULES_SHIPPED_H
#define IG_RULES_SHIPPED_H

#include <stddef.h>

typedef struct rules_shipped_file {
    const char *name;
    const char *text;
    size_t len;
} rules_shipped_file;

extern const rules_shipped_file rules_shipped[];
extern const size_t rules_shipped_count;

#endif
