/* Internal to scanners/: the state the streaming plan scanner hands to the
 * provenance pass at the end of the document. */
#ifndef IG_SCAN_INTERNAL_H
#define IG_SCAN_INTERNAL_H

#include <jansson.h>

#include "common/arena.h"
#include "common/strmap.h"
#include "scanners/scan.h"

/* A list of sensitive paths of one resource ("" = everything). */
typedef struct sens_list {
    char **paths;
    size_t n;
} sens_list;

/* Collected while streaming; consumed by scan_resolve(). */
typedef struct scan_state {
    const rules *rs;
    rules_matcher *m;
    arena *ar; /* the result's arena: every string of a ref lives here */
    scan_ref *refs;
    size_t n_refs, cap_refs;
    char **gated;
    size_t n_gated, cap_gated;
    json_t *config;    /* "configuration" (new ref or NULL) */
    json_t *variables; /* root variable values (new ref or NULL) */
    json_t *outputs;   /* "output_changes" (new ref or NULL) */
    strmap data_ids;   /* image IDs seen in data sources' values */
    strmap data_addrs; /* data source addresses already recorded */
    strmap sens;       /* gated address -> sens_list* (only when non-empty) */
    strmap sens_ids;   /* image IDs found inside sensitive values */
    size_t max_refs;
    int refs_truncated;
} scan_state;

/* Appends a zeroed ref and returns it (NULL when max_refs was reached). */
scan_ref *scan_state_push(scan_state *st);
/* True when path (concrete) lies inside one of the sensitive paths. */
int scan_path_sensitive(const sens_list *sl, const char *path);
/* Writes the normalised form of a concrete path ("a[3].b" -> "a[].b") into
 * out (at least strlen(path)+1 bytes); returns its length. */
size_t scan_norm_path(const char *path, char *out);
/* Records every image ID in a data source's values (recursively). */
void scan_collect_data_ids(scan_state *st, const json_t *v);
/* Records one data source (from state or a deferred read). */
void scan_add_data_source(scan_state *st, const char *address, const char *type,
                          const json_t *values);

/* Provenance, configuration-literal mentions, hcp data references, output
 * mentions: runs once after the document ended. */
void scan_resolve(scan_state *st);

#endif
