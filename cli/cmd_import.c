/* imagegate import MANIFEST --bucket NAME [...]: publishes a Packer manifest.
 *
 * Everything that can be wrong with the input (the file, the manifest, the
 * names) is checked BEFORE the store is opened, so a bad import neither
 * creates a store file nor touches an existing one; the import itself is
 * one transaction in the registry. */
#include "cli/regcmd.h"
#include "cli/sbomfile.h"

#include "common/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMPORT_MAX_BYTES (16 * 1024 * 1024)

static const char usage[] =
    "usage: imagegate import MANIFEST --bucket NAME [--fingerprint FP] [--channel NAME]...\n"
    "                 [--source-image ID] [--bucket-label K=V]... [--build-label K=V]...\n"
    "                 [--description TEXT] [--all-runs] [--sbom FILE] [--json] [--db URL]\n"
    "\n"
    "Publishes a Packer manifest post-processor file (MANIFEST, or - for stdin) as a\n"
    "complete version of bucket NAME (created if needed, as is the SQLite store).\n"
    "  --bucket NAME        the bucket (3-36 letters, digits, '-')\n"
    "  --fingerprint FP     the version's fingerprint (default: the manifest's\n"
    "                       last_run_uuid); never of the form v<digits>\n"
    "  --channel NAME       assign the new version to this channel (repeatable)\n"
    "  --source-image ID    the parent image of every build (else custom_data\n"
    "                       source_image_id / source_ami)\n"
    "  --bucket-label K=V   a bucket label (repeatable)\n"
    "  --build-label K=V    a label on every build (repeatable; other custom_data\n"
    "                       keys become build labels too)\n"
    "  --description TEXT   the bucket's description\n"
    "  --all-runs           import every build of the manifest, not only those of\n"
    "                       its last_run_uuid\n"
    "  --sbom FILE          attach this SPDX / CycloneDX JSON SBOM to every build of\n"
    "                       the version (checked before anything is written; named\n"
    "                       after the file, as 'imagegate sbom add' does)\n"
    "Importing the same manifest again changes nothing.\n";

typedef struct import_opts {
    const char *bucket, *fingerprint, *source, *description, *sbom;
    json_t *bucket_labels, *build_labels;
    char **channels;
    size_t n_channels;
    bool all_runs;
} import_opts;

/* Moves the command-line choices into the parsed manifest. */
static void apply_opts(import_opts *io, reg_import *imp)
{
    imp->bucket = xstrdup(io->bucket);
    if (io->fingerprint) {
        free(imp->fingerprint);
        imp->fingerprint = xstrdup(io->fingerprint);
    }
    imp->description = xstrdup(io->description);
    if (json_object_size(io->bucket_labels))
        imp->bucket_labels = json_incref(io->bucket_labels);
    imp->channels = io->channels;
    imp->n_channels = io->n_channels;
    io->channels = NULL;
    io->n_channels = 0;
    for (size_t i = 0; i < imp->n_builds; i++) {
        reg_import_build *b = &imp->builds[i];
        json_object_update(b->labels, io->build_labels);
        if (io->source) {
            free(b->source_external_identifier);
            b->source_external_identifier = xstrdup(io->source);
        }
    }
}

/* All of the input checked before the store is opened (or created): the
 * options by name first, then everything registry_import would refuse
 * without the store. Returns an exit status. */
static int precheck(const reg_import *imp, const char *file)
{
    char err[512];
    if (registry_valid_bucket_name(imp->bucket, err, sizeof err) < 0)
        return cli_fail(EXIT_USAGE, "--bucket: %s", err);
    if (!imp->fingerprint)
        return cli_fail(EXIT_USAGE, "--fingerprint: required (the manifest has no last_run_uuid)");
    if (registry_valid_fingerprint(imp->fingerprint, err, sizeof err) < 0)
        return cli_fail(EXIT_USAGE, "--fingerprint: %s", err);
    for (size_t i = 0; i < imp->n_channels; i++) {
        if (registry_valid_channel_name(imp->channels[i], err, sizeof err) < 0)
            return cli_fail(EXIT_USAGE, "--channel: %s", err);
        if (strcasecmp(imp->channels[i], "latest") == 0)
            return cli_fail(EXIT_REFUSED, "--channel latest: channel 'latest' is managed by "
                                          "imagegate and cannot be assigned");
    }
    /* the rest: --description, --bucket-label, and the builds (the manifest's,
     * with --build-label and --source-image applied) */
    if (registry_import_check(imp, err, sizeof err) < 0) {
        if (strncmp(err, "description:", 12) == 0)
            return cli_fail(EXIT_USAGE, "--%s", err);
        if (strncmp(err, "labels", 6) == 0)
            return cli_fail(EXIT_USAGE, "--bucket-label: %s", err);
        return cli_fail(EXIT_USAGE, "%s: %s", file, err);
    }
    return EXIT_OK;
}

static void print_result(const cli_opts *o, json_t *v, bool created, const char *file)
{
    if (o->json) {
        cli_print_json(stdout, v);
        return;
    }
    size_t nb = json_array_size(json_object_get(v, "builds")), na = 0, i;
    json_t *b;
    json_array_foreach(json_object_get(v, "builds"), i, b)
    {
        na += json_array_size(json_object_get(b, "artifacts"));
    }
    if (created)
        printf("imported %s as %s %s (fingerprint %s): %zu build(s), %zu artifact(s), %s\n", file,
               regcli_str(v, "bucket_name"), regcli_str(v, "name"), regcli_str(v, "fingerprint"),
               nb, na, regcli_str(v, "status"));
    else
        printf("unchanged: %s is already %s %s (fingerprint %s)\n", file,
               regcli_str(v, "bucket_name"), regcli_str(v, "name"), regcli_str(v, "fingerprint"));
}

/* The options into io. Returns EXIT_OK to go on, else the exit status
 * (EXIT_OK after --help is told apart by *stop). */
static int import_getopt(cli_opts *o, int argc, char **argv, import_opts *io, bool *stop)
{
    static const struct option lo[] = {{"bucket", required_argument, NULL, 'b'},
                                       {"fingerprint", required_argument, NULL, 'f'},
                                       {"channel", required_argument, NULL, 'c'},
                                       {"source-image", required_argument, NULL, 's'},
                                       {"bucket-label", required_argument, NULL, 'L'},
                                       {"build-label", required_argument, NULL, 'l'},
                                       {"description", required_argument, NULL, 'd'},
                                       {"all-runs", no_argument, NULL, 'a'},
                                       {"sbom", required_argument, NULL, 'S'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "import";
    int code = EXIT_OK, c;
    *stop = true;
    optind = 0;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, &code)) != -1) {
        if (c == -2)
            return code;
        if (c == 'b' || c == 'f' || c == 's' || c == 'd' || c == 'S') {
            const char **dst = c == 'b'   ? &io->bucket
                               : c == 'f' ? &io->fingerprint
                               : c == 's' ? &io->source
                               : c == 'd' ? &io->description
                                          : &io->sbom;
            *dst = optarg;
        } else if (c == 'a') {
            io->all_runs = true;
        } else if (c == 'c') {
            io->channels = xrealloc(io->channels, (io->n_channels + 1) * sizeof *io->channels);
            io->channels[io->n_channels++] = xstrdup(optarg);
        } else if ((c == 'L' || c == 'l') &&
                   regcli_label(c == 'L' ? io->bucket_labels : io->build_labels, optarg, cmd,
                                c == 'L' ? "--bucket-label" : "--build-label") < 0) {
            return EXIT_USAGE;
        }
    }
    if ((code = regcli_positionals(argc, argv, 1, cmd, "MANIFEST")))
        return code;
    if (!io->bucket)
        return regcli_usage(cmd, "--bucket is required");
    *stop = false;
    return EXIT_OK;
}

/* --sbom: the SBOM on every build of the imported version. */
static int attach_sbom(registry *r, const reg_ctx *ctx, json_t *v, const cli_sbom *sb)
{
    size_t i;
    json_t *b;
    char err[1024];
    json_array_foreach(json_object_get(v, "builds"), i, b)
    {
        json_t *s = registry_sbom_put(r, ctx, json_string_value(json_object_get(v, "bucket_name")),
                                      json_string_value(json_object_get(v, "fingerprint")),
                                      json_string_value(json_object_get(b, "id")), &sb->rs, NULL,
                                      err, sizeof err);
        if (!s)
            return regcli_fail(r, err);
        json_decref(s);
    }
    return EXIT_OK;
}

int cmd_import(cli_opts *o, int argc, char **argv)
{
    import_opts io = {.bucket_labels = json_object(), .build_labels = json_object()};
    reg_import imp = {0};
    cli_sbom sb = {0};
    registry *r = NULL;
    json_t *v = NULL;
    char *buf = NULL, err[1024];
    size_t len = 0;
    bool stop;
    reg_ctx ctx;
    int code = import_getopt(o, argc, argv, &io, &stop);
    if (stop)
        goto out;
    const char *file = argv[optind], *shown = strcmp(file, "-") == 0 ? "stdin" : file;
    if (!(buf = cli_read_input(file, IMPORT_MAX_BYTES, &len))) {
        code = EXIT_USAGE;
        goto out;
    }
    if (registry_manifest_parse(buf, len, shown, io.all_runs, &imp, err, sizeof err) < 0) {
        code = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    apply_opts(&io, &imp);
    if (!(code = precheck(&imp, shown)) && io.sbom && cli_sbom_load(io.sbom, NULL, &sb) < 0)
        code = EXIT_USAGE;
    if (code || !(r = regcli_open(o, true, &ctx, &code)))
        goto out;
    bool created = false;
    if (!(v = registry_import(r, &ctx, &imp, &created, err, sizeof err)))
        code = regcli_fail(r, err);
    else if (!io.sbom || (code = attach_sbom(r, &ctx, v, &sb)) == EXIT_OK)
        print_result(o, v, created, file);
out:
    json_decref(v);
    registry_close(r);
    registry_import_dispose(&imp);
    cli_sbom_dispose(&sb);
    free(buf);
    for (size_t i = 0; i < io.n_channels; i++)
        free(io.channels[i]);
    free(io.channels);
    json_decref(io.bucket_labels);
    json_decref(io.build_labels);
    return code;
}
