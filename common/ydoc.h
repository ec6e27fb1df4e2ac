/* A small read-only document tree built from YAML (and therefore JSON) with
 * libyaml, keeping the line of every node so that loaders of rule, policy and
 * configuration files can name file and line in their errors.
 *
 * Aliases and anchors are refused (no billion-laughs expansion); depth and
 * node count are bounded. Not thread-shared: one tree per loader. */
#ifndef IG_YDOC_H
#define IG_YDOC_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { YNODE_SCALAR, YNODE_MAP, YNODE_SEQ } ynode_type;

typedef struct ynode ynode;
struct ynode {
    ynode_type type;
    int line;    /* 1-based */
    char *value; /* scalar text */
    bool plain;  /* scalar written without quotes */
    size_t n;    /* children: map = n pairs (keys[i], items[i]); seq = items */
    char **keys;
    ynode **items;
    int *key_lines;
};

/* Parses a whole file. Returns a new tree (free with ydoc_free) or NULL with
 * "FILE:LINE: reason" in err. An empty file gives an empty map. */
ynode *ydoc_parse_file(const char *path, char *err, size_t errlen);
/* Same from memory; name is used in messages. */
ynode *ydoc_parse_string(const char *buf, size_t len, const char *name, char *err, size_t errlen);
void ydoc_free(ynode *n);

/* Map lookup; NULL when absent or when m is not a map. Borrowed. */
ynode *ydoc_get(const ynode *m, const char *key);
/* True for a plain scalar null, ~ or empty. */
bool ydoc_is_null(const ynode *n);
/* Scalar as boolean (true/false/yes/no/on/off). Returns 0 or -1. */
int ydoc_bool(const ynode *n, bool *out);

#endif
