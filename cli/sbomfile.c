/* SBOM files on the command line (sbomfile.h). A JSON file is compressed
 * with zstd first and then read back through the same decompressing parser
 * as an upload, so its SHA-256, size and packages are computed one way and
 * a download gives back the file's bytes. */
#include "cli/sbomfile.h"

#include "cli/cli.h"
#include "common/xalloc.h"

#include <libgen.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};

/* The zstd frame of buf: buf itself when it is one, else a new one. */
static void *as_zstd(char *buf, size_t len, size_t *zlen, bool *owned)
{
    *owned = false;
    *zlen = len;
    if (len >= 4 && memcmp(buf, zstd_magic, 4) == 0)
        return buf;
    void *z = NULL;
    char err[256];
    if (sbom_zstd_compress(buf, len, &z, zlen, err, sizeof err) < 0)
        return NULL;
    *owned = true;
    return z;
}

static void default_name(const char *path, char out[SBOM_NAME_MAX + 1])
{
    char *copy = xstrdup(strcmp(path, "-") == 0 ? "stdin" : path);
    char *base = basename(copy);
    base[strcspn(base, ".")] = '\0'; /* os.cdx.json -> os */
    sbom_name_from(base, out);
    free(copy);
}

int cli_sbom_load(const char *path, const char *name, cli_sbom *out)
{
    memset(out, 0, sizeof *out);
    char err[512];
    if (name && sbom_name_check(name, err, sizeof err) < 0)
        return cli_fail(EXIT_USAGE, "--name: %s", err), -1;
    size_t len, zlen;
    char *buf = cli_read_input(path, SBOM_DEFAULT_MAX_BYTES, &len);
    if (!buf)
        return -1;
    bool owned;
    void *z = as_zstd(buf, len, &zlen, &owned);
    int rc = z ? sbom_parse_zstd(z, zlen, NULL, &out->doc, err, sizeof err) : -1;
    if (rc == 0)
        out->b64 = sbom_b64_encode(z, zlen);
    if (owned)
        free(z);
    free(buf);
    if (rc < 0)
        return cli_fail(EXIT_USAGE, "%s: %s", path, z ? err : "cannot compress it"), -1;
    if (name)
        snprintf(out->name, sizeof out->name, "%s", name);
    else
        default_name(path, out->name);
    out->packages = xcalloc(out->doc.n_packages ? out->doc.n_packages : 1, sizeof *out->packages);
    for (size_t i = 0; i < out->doc.n_packages; i++) {
        const sbom_package *p = &out->doc.packages[i];
        out->packages[i] = (reg_package){p->name, p->version, p->purl, p->type};
    }
    out->rs = (reg_sbom){out->name,
                         sbom_format_name(out->doc.format),
                         out->doc.spec_version,
                         out->b64,
                         out->doc.sha256,
                         (int64_t)out->doc.json_bytes,
                         out->packages,
                         out->doc.n_packages};
    return 0;
}

void cli_sbom_dispose(cli_sbom *s)
{
    sbom_doc_dispose(&s->doc);
    free(s->b64);
    free(s->packages);
    memset(s, 0, sizeof *s);
}
