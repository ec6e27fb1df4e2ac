/* SBOMs: SPDX 2.x and CycloneDX 1.x JSON documents in, packages out.
 *
 * Pure: no sockets, no store, no globals, no clock. Every function may run
 * on any thread; a parser or a document belongs to one thread at a time.
 *
 *   parse.c   a streaming parser (yajl) that validates the document as SPDX
 *             2.x or CycloneDX 1.x and collects its packages (name, version,
 *             purl, type) without building a tree: memory follows the
 *             number of packages, not the size of the document;
 *   codec.c   the wire form Packer's hcp-sbom provisioner uploads: base64 of
 *             a zstd frame. Decompression streams into the parser and stops
 *             at a cap on the decompressed size, so a zstd bomb costs at most
 *             that cap in work and a window of at most that size in memory;
 *   vercmp.c  version comparison by package type: Debian (dpkg), RPM
 *             (rpmvercmp), semver 2.0.0, and a generic fallback.
 *
 * Errors: 0 / -1 with a message a person can act on in err (what was wrong,
 * where: "package 12 (openssl): version: longer than 4096 bytes"). */
#ifndef IG_SBOM_H
#define IG_SBOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

#define SBOM_DEFAULT_MAX_BYTES (256ULL * 1024 * 1024) /* decompressed JSON */
#define SBOM_DEFAULT_MAX_PACKAGES 200000
#define SBOM_MAX_FIELD 4096 /* bytes of a package's name, version or purl */
#define SBOM_MAX_DEPTH 128  /* JSON nesting */
#define SBOM_NAME_MIN 3     /* an SBOM's name, as Packer's sbom_name: [A-Za-z0-9_-]{3,36} */
#define SBOM_NAME_MAX 36

typedef enum { SBOM_FORMAT_NONE = 0, SBOM_FORMAT_SPDX, SBOM_FORMAT_CYCLONEDX } sbom_format;

/* "SPDX", "CYCLONEDX" (HCP's enum); "" for none. */
const char *sbom_format_name(sbom_format f);
/* Case-insensitive "SPDX" / "CYCLONEDX". Returns 0, or -1. */
int sbom_format_parse(const char *s, sbom_format *out);
/* 0 when name is 3-36 of [A-Za-z0-9_-]; -1 with the reason in err. */
int sbom_name_check(const char *name, char *err, size_t errlen);
/* A valid name made from s (a fingerprint, a file's base name): other
 * characters become '-', cut to 36, "sbom-" in front when shorter than 3. */
void sbom_name_from(const char *s, char out[SBOM_NAME_MAX + 1]);

/* One package. The strings belong to the document (never NULL; "" when
 * the SBOM does not say). type: the purl's type, lower case ("deb", "rpm",
 * "npm"), "" without a purl. */
typedef struct sbom_package {
    const char *name, *version, *purl, *type;
} sbom_package;

typedef struct sbom_doc {
    sbom_format format;
    char spec_version[24]; /* "SPDX-2.3", or CycloneDX's "1.5" */
    sbom_package *packages;
    size_t n_packages;
    uint64_t json_bytes; /* size of the JSON document */
    char sha256[65];     /* hex SHA-256 of the JSON document (set by the codec) */
    arena strings;       /* owns every package string */
} sbom_doc;

void sbom_doc_dispose(sbom_doc *d);

typedef struct sbom_limits {
    uint64_t max_json_bytes; /* 0 = SBOM_DEFAULT_MAX_BYTES */
    size_t max_packages;     /* 0 = SBOM_DEFAULT_MAX_PACKAGES */
} sbom_limits;

/* ---- parsing (parse.c) ------------------------------------------------ */

typedef struct sbom_parser sbom_parser;

/* lim may be NULL (defaults). */
sbom_parser *sbom_parser_new(const sbom_limits *lim);
void sbom_parser_free(sbom_parser *p);
/* Feeds the next bytes of the document (any chunking). Returns 0, or -1
 * with err: malformed JSON (with the byte offset), nesting past
 * SBOM_MAX_DEPTH, a field past SBOM_MAX_FIELD, too many packages, more
 * than max_json_bytes (those two: -2, a limit). After an error the parser
 * only fails. */
int sbom_parser_feed(sbom_parser *p, const void *buf, size_t len, char *err, size_t errlen);
/* Ends the document and checks it is SPDX 2.x (spdxVersion "SPDX-2.N") or
 * CycloneDX 1.x (bomFormat "CycloneDX", specVersion "1.N"); moves the
 * result into *out (dispose it). Returns 0, or -1 with err: truncated,
 * neither format, both, an unsupported version (-2: a limit, as feed). */
int sbom_parser_finish(sbom_parser *p, sbom_doc *out, char *err, size_t errlen);

/* The parser over a whole document in memory. */
int sbom_parse(const void *json, size_t len, const sbom_limits *lim, sbom_doc *out, char *err,
               size_t errlen);

/* The type of a purl ("pkg:deb/debian/openssl@3.0.11" -> "deb"), lower
 * case, into out. Returns 0, or -1 (out "") when purl is not one. */
int sbom_purl_type(const char *purl, char *out, size_t outlen);

/* ---- the wire form (codec.c) ------------------------------------------ */

/* Decompresses the zstd frames z[0..zlen) into the parser, stopping with
 * an error as soon as the output passes lim->max_json_bytes (or the frame
 * header declares more, or asks for a larger window); fills *out with the
 * document, json_bytes and sha256. Returns 0; -1 with err for bad input;
 * -2 with err when a limit (size, packages) was reached (HTTP 413). */
int sbom_parse_zstd(const void *z, size_t zlen, const sbom_limits *lim, sbom_doc *out, char *err,
                    size_t errlen);
/* Decompresses z[0..zlen) into *out (new buffer, NUL-terminated, *outlen
 * bytes), refusing more than max bytes. */
int sbom_zstd_decompress(const void *z, size_t zlen, uint64_t max, char **out, size_t *outlen,
                         char *err, size_t errlen);
/* One zstd frame of src[0..len) (content size recorded) into *out (new
 * buffer of *outlen bytes). */
int sbom_zstd_compress(const void *src, size_t len, void **out, size_t *outlen, char *err,
                       size_t errlen);
/* Standard base64 with padding (what Go's strfmt.Base64 sends): a new
 * NUL-terminated string. */
char *sbom_b64_encode(const void *src, size_t len);
/* Decodes standard base64 (padding required, no line breaks needed) into
 * *out (new buffer of *outlen bytes). Returns 0, or -1 with err. */
int sbom_b64_decode(const char *b64, size_t len, unsigned char **out, size_t *outlen, char *err,
                    size_t errlen);

/* ---- versions (vercmp.c) ---------------------------------------------- */

typedef enum {
    SBOM_VER_GENERIC = 0, /* digits as numbers, letters as text (docs/sbom.md) */
    SBOM_VER_DEB,         /* dpkg: epoch, upstream, revision, '~' before anything */
    SBOM_VER_RPM,         /* rpmvercmp with epoch and release, '~' and '^' */
    SBOM_VER_SEMVER,      /* semver 2.0.0 precedence; a leading 'v' allowed */
} sbom_vscheme;

/* The scheme of a purl type: deb -> DEB; rpm -> RPM; npm, cargo, golang,
 * nuget, composer, hex, pub, swift -> SEMVER; anything else -> GENERIC. */
sbom_vscheme sbom_vscheme_for(const char *type);
const char *sbom_vscheme_name(sbom_vscheme s);

/* <0, 0, >0 as a sorts before, equal to or after b. */
int sbom_vercmp_deb(const char *a, const char *b);
int sbom_vercmp_rpm(const char *a, const char *b);
int sbom_vercmp_generic(const char *a, const char *b);
/* Semver precedence; *valid false (and the generic order) when either is
 * not semver. */
int sbom_vercmp_semver(const char *a, const char *b, bool *valid);
int sbom_vercmp(sbom_vscheme s, const char *a, const char *b);

/* The search's comparison of a package's version with a query version:
 * by the package type's scheme, except that a query without an epoch
 * (Debian, RPM) is compared with the package's version without its epoch:
 * advisories name upstream versions, epochs are packaging history
 * (docs/sbom.md). <0 when version sorts before query. */
int sbom_version_query_cmp(const char *type, const char *version, const char *query);

/* --version-below / --version of the search: below or equal (both NULL:
 * every version). */
typedef struct sbom_version_rule {
    const char *below, *equal;
} sbom_version_rule;
/* True when version (of a package of type) passes rule (a sbom_version_rule
 * *; the signature of reg_package_query's keep). */
bool sbom_version_rule_keep(const char *type, const char *version, void *rule);

#endif
