/* An SBOM file for the command line (sbom add, import --sbom): read, made
 * into the wire form the server stores (base64 of zstd) and parsed, so the
 * command line and the API store the same thing. Single-threaded. */
#ifndef IG_CLI_SBOMFILE_H
#define IG_CLI_SBOMFILE_H

#include "registry/registry.h"
#include "sbom/sbom.h"

typedef struct cli_sbom {
    sbom_doc doc;
    char *b64;
    reg_package *packages;
    char name[SBOM_NAME_MAX + 1];
    reg_sbom rs; /* borrows from the fields above */
} cli_sbom;

/* Reads path ("-" = stdin): SPDX or CycloneDX JSON, or a zstd frame of one
 * (what hcp-sbom uploads), at most SBOM_DEFAULT_MAX_BYTES once
 * decompressed. name: the SBOM's name, or NULL for one made from the file's
 * base name. Returns 0, or -1 after printing one line naming the file (the
 * caller exits EXIT_USAGE). */
int cli_sbom_load(const char *path, const char *name, cli_sbom *out);
void cli_sbom_dispose(cli_sbom *s);

#endif
