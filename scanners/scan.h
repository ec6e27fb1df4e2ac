/* Scanners: bytes in, candidate image references out. Pure code: no sockets,
 * no store, no clock, no globals; every function may run on any thread with
 * its own scanner object.
 *
 * scan_plan reads Terraform's JSON plan (`terraform show -json`, any
 * format_version) as a stream: feed it chunks as they arrive (from a file,
 * stdin or a download) and it keeps only what the scan needs -- the
 * configuration tree, root variable values, data-source values and one small
 * record per image reference -- never the whole document. Memory grows with
 * the number of references found and the size of the configuration block,
 * not with the plan.
 *
 * scan_config reads one .tf / .tfvars file (pre_plan) and reports every image
 * ID the patterns find with its line. */
#ifndef IG_SCAN_H
#define IG_SCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rules/rules.h"

typedef enum {
    SCAN_ACT_CREATE = 0,
    SCAN_ACT_UPDATE,
    SCAN_ACT_REPLACE,
    SCAN_ACT_NONE, /* delete, read, no-op: not gated */
} scan_action;

typedef enum {
    SCAN_PROV_LITERAL = 0,
    SCAN_PROV_VARIABLE,
    SCAN_PROV_MODULE_INPUT,
    SCAN_PROV_LOCAL,
    SCAN_PROV_DATA_SOURCE,
    SCAN_PROV_RESOURCE,
    SCAN_PROV_UNKNOWN,
} scan_provenance;

const char *scan_action_name(scan_action a);         /* "create", "update", "replace" */
const char *scan_provenance_name(scan_provenance p); /* "literal", "variable", ... */

typedef enum {
    SCAN_REF_IMAGE = 0, /* the value of an image attribute of a gated resource */
    SCAN_REF_MENTION,   /* an image ID found elsewhere (planned values, config literals, outputs) */
    SCAN_REF_DATA,      /* an hcp_packer_* data source */
    SCAN_REF_CONFIG,    /* an image ID in a .tf / .tfvars file (pre_plan) */
} scan_ref_kind;

/* One candidate reference. All strings are owned by the scan_result. */
typedef struct scan_ref {
    scan_ref_kind kind;
    char *address;   /* resource address, "output.NAME", data source address, or FILE:LINE */
    char *attribute; /* "launch_specification[1].ami", "tags.SourceAMI"; NULL for data */
    char *value;     /* the image ID as written (IMAGE, MENTION, CONFIG); the raw attribute value
                        for an unrecognized or launch_resolved IMAGE; NULL when unknown; never
                        "" (an empty image attribute is no reference). May be sensitive: callers
                        must check .sensitive before printing it anywhere. */
    char *lookup;    /* the key to look the image up by (value, or the pattern's "id" group);
                        for an unrecognized IMAGE the value, or the image name of a Google
                        short path form ("global/images/NAME", "P/NAME") */
    const char *platform; /* from the pattern that recognised it (borrowed from the rules) */
    scan_action action;
    bool unknown;               /* IMAGE: value known only after apply */
    bool sensitive;             /* the path is marked sensitive: never print value */
    bool recognized;            /* IMAGE: a pattern recognises the whole value (when not, the policy
                                   still asks the registry for value and lookup) */
    bool unchanged;             /* IMAGE on an in-place update: before == after */
    bool launch_resolved;       /* IMAGE: "resolve:ssm:PARAMETER" (value holds it whole): EC2
                                   picks the image at launch, nothing names it at plan time */
    scan_provenance provenance; /* IMAGE: where the value came from */
    /* SCAN_REF_DATA (hcp_packer_version / _artifact / _iteration / _image): */
    char *data_type;            /* "hcp_packer_artifact" */
    char *bucket;               /* bucket_name */
    char *fingerprint;          /* version_fingerprint / fingerprint */
    char *version_id;           /* version / iteration ULID when that is what it names */
    char *channel;              /* channel_name / channel */
    bool referenced_by_gated;   /* a gated resource's configuration references it */
    const char *used_via_local; /* set when it is counted as referenced only because a gated
                                   resource whose image is unknown until apply goes through a
                                   local (not in the plan JSON): that resource's address */
    /* SCAN_REF_CONFIG: */
    int line;
} scan_ref;

typedef struct scan_result {
    scan_ref *refs;
    size_t n_refs;
    size_t resources;       /* resource changes seen (managed) */
    size_t gated;           /* of which gated (create, update, replace) */
    char **gated_addresses; /* addresses of the gated resources, in plan order */
    uint64_t bytes;         /* plan bytes read */
    char *format_version;
    bool refs_truncated; /* more references than scan_limits.max_refs: the rest were dropped */
    void *arena_;        /* internal: owns the strings */
} scan_result;

/* The prefix of an image attribute that EC2 resolves from an SSM parameter
 * at launch ("resolve:ssm:/golden/web", "resolve:ssm:NAME:3"). */
#define SCAN_SSM_PREFIX "resolve:ssm:"

/* An empty result (for scan_config_text). */
scan_result *scan_result_new(void);
void scan_result_free(scan_result *r);

/* ---- plan scanner ---------------------------------------------------- */

typedef struct scan_limits {
    size_t max_depth;        /* JSON nesting (default 512) */
    size_t max_config_bytes; /* the configuration block kept in memory (default 64 MiB) */
    size_t max_refs;         /* references kept (default 1,000,000) */
    bool parse_everything;   /* diagnostic: hand every byte to the JSON parser instead of
                                skipping what the scan does not read (same result, slower) */
} scan_limits;

void scan_limits_default(scan_limits *l);

typedef struct scan_plan scan_plan;

/* rs is borrowed and must outlive the scanner. lim NULL = defaults. */
scan_plan *scan_plan_new(const rules *rs, const scan_limits *lim);
void scan_plan_free(scan_plan *s);
/* Feeds the next chunk. Returns 0, or -1 with "plan: byte N: reason". */
int scan_plan_feed(scan_plan *s, const void *buf, size_t len, char *err, size_t errlen);
/* Ends the input, resolves provenance and returns the references in *out
 * (new; free with scan_result_free). Returns 0 or -1 (truncated or invalid
 * document, not a plan) with the byte offset in err. */
int scan_plan_finish(scan_plan *s, scan_result **out, char *err, size_t errlen);

/* Convenience for files and stdin ("-"): reads in 256 KiB chunks. */
int scan_plan_file(const rules *rs, const scan_limits *lim, const char *path, scan_result **out,
                   char *err, size_t errlen);

/* ---- configuration files (pre_plan) ---------------------------------- */

/* Scans one .tf / .tfvars file's text. name (relative path) becomes the
 * address prefix ("web.tf:3"). Appends SCAN_REF_CONFIG refs to res (from
 * scan_result_new). Comments are ignored; strings and heredocs are not. */
void scan_config_text(const rules *rs, rules_matcher *m, const char *name, const char *text,
                      size_t len, scan_result *res);

#endif
