/* imagegate sbom add BUCKET VERSION FILE [--build ID] [--name N]
 * imagegate sbom list BUCKET VERSION [--build ID] */
#include "cli/regcmd.h"
#include "cli/sbomfile.h"

#include <string.h>

static const char usage[] =
    "usage: imagegate sbom add BUCKET VERSION FILE [--build ID] [--name N] [--json] [--db URL]\n"
    "       imagegate sbom list BUCKET VERSION [--build ID] [--json] [--db URL]\n"
    "\n"
    "SBOMs of a version's builds, as Packer's hcp-sbom provisioner uploads them,\n"
    "at any time after the build. FILE (or - for stdin) is SPDX 2.x or CycloneDX\n"
    "1.x JSON, or a zstd frame of one. VERSION is vN or a fingerprint.\n"
    "  --build ID   the build: its id or its component type (amazon-ebs.ubuntu);\n"
    "               not needed when the version has one build\n"
    "  --name N     the SBOM's name, 3-36 letters, digits, '-' or '_' (default:\n"
    "               the file's name up to its first '.')\n"
    "The same name again with the same document changes nothing; with another\n"
    "document it replaces the SBOM while the build runs and is refused (exit 1)\n"
    "once the build is done. Packages: imagegate packages find NAME.\n";

static void print_sbom(json_t *s)
{
    printf("%s: %s %s, %lld packages, %lld bytes, sha256 %s, build %s\n", regcli_str(s, "name"),
           regcli_str(s, "format"), regcli_str(s, "spec_version"),
           (long long)json_integer_value(json_object_get(s, "package_count")),
           (long long)json_integer_value(json_object_get(s, "json_bytes")), regcli_str(s, "sha256"),
           regcli_str(s, "build_id"));
}

static int sbom_add(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"build", required_argument, NULL, 'b'},
                                       {"name", required_argument, NULL, 'n'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    cli_sbom s;
    if (!regcli_args(o, argc, argv, lo, v, "sbom add", usage, 3, "BUCKET VERSION FILE", &k.code))
        return k.code;
    const char *bucket = argv[optind], *version = argv[optind + 1], *file = argv[optind + 2];
    if (cli_sbom_load(file, v[1], &s) < 0)
        return EXIT_USAGE;
    if (!(k.r = regcli_open(o, false, &k.ctx, &k.code))) {
        cli_sbom_dispose(&s);
        return k.code;
    }
    bool created = false;
    json_t *j =
        registry_sbom_put(k.r, &k.ctx, bucket, version, v[0], &s.rs, &created, k.err, sizeof k.err);
    if (j && !o->json)
        printf("%s ", created ? "attached" : "unchanged:");
    cli_sbom_dispose(&s);
    return regcli_answer(o, &k, j, print_sbom);
}

static void print_sboms(json_t *arr)
{
    static const regcli_col cols[] = {
        {"NAME", "name"},         {"FORMAT", "format"},
        {"SPEC", "spec_version"}, {"PACKAGES", "package_count"},
        {"BYTES", "json_bytes"},  {"CREATED", "created_at"},
        {"AUTHOR", "author_id"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int sbom_list(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"build", required_argument, NULL, 'b'}, CLI_COMMON_LONGOPTS, {0}};
    const char *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, "sbom list", usage, 2, "BUCKET VERSION", &k.code) ||
        !(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    json_t *j =
        registry_sbom_list(k.r, &k.ctx, argv[optind], argv[optind + 1], v[0], k.err, sizeof k.err);
    return regcli_answer(o, &k, j, print_sboms);
}

int cmd_sbom(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"add", sbom_add}, {"list", sbom_list}};
    return regcli_dispatch(o, argc, argv, "sbom", usage, subs, sizeof subs / sizeof subs[0]);
}
