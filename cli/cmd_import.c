/* imagegate import MANIFEST --bucket NAME [...]: publishes a Packer manifest.
 *
 * Everything that can be wrong with the input (the file, the manifest, the
 * names) is checked BEFORE the store is opened, so a bad import neither
 * creates a store file nor touches an existing one; the import itself is
 * one transaction in the registry. */
#include "cli/regcmd.h"

#include "common/xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define IMPORT_MAX_BYTES (16 * 1024 * 1024)

static const char usage[] =
    "usage: imagegate import MANIFEST --bucket NAME [--fingerprint FP] [--channel NAME]...\n"
    "                 [--source-image ID] [--bucket-label K=V]... [--build-label K=V]...\n"
    "                 [--description TEXT] [--all-runs] [--json] [--db URL]\n"
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
    "Importing the same manifest again changes nothing.\n";

/* Reads all of path ("-" = stdin), at most IMPORT_MAX_BYTES + 1 bytes. */
static char *read_input(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail(EXIT_USAGE, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > IMPORT_MAX_BYTES)
                break;
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad) {
        free(buf);
        cli_fail(EXIT_USAGE, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    *len = n;
    return buf;
}

typedef struct import_opts {
    const char *bucket, *fingerprint, *source, *description;
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

int cmd_import(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"bucket", required_argument, NULL, 'b'},
                                       {"fingerprint", required_argument, NULL, 'f'},
                                       {"channel", required_argument, NULL, 'c'},
                                       {"source-image", required_argument, NULL, 's'},
                                       {"bucket-label", required_argument, NULL, 'L'},
                                       {"build-label", required_argument, NULL, 'l'},
                                       {"description", required_argument, NULL, 'd'},
                                       {"all-runs", no_argument, NULL, 'a'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "import";
    import_opts io = {.bucket_labels = json_object(), .build_labels = json_object()};
    reg_import imp = {0};
    registry *r = NULL;
    json_t *v = NULL;
    char *buf = NULL, err[1024];
    size_t len = 0;
    int code = EXIT_OK, c;
    reg_ctx ctx;
    optind = 0;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, &code)) != -1) {
        switch (c) {
        case -2:
            goto out;
        case 'b':
            io.bucket = optarg;
            break;
        case 'f':
            io.fingerprint = optarg;
            break;
        case 's':
            io.source = optarg;
            break;
        case 'd':
            io.description = optarg;
            break;
        case 'a':
            io.all_runs = true;
            break;
        case 'c':
            io.channels = xrealloc(io.channels, (io.n_channels + 1) * sizeof *io.channels);
            io.channels[io.n_channels++] = xstrdup(optarg);
            break;
        case 'L':
        case 'l':
            if (regcli_label(c == 'L' ? io.bucket_labels : io.build_labels, optarg, cmd,
                             c == 'L' ? "--bucket-label" : "--build-label") < 0) {
                code = EXIT_USAGE;
                goto out;
            }
            break;
        }
    }
    if ((code = regcli_positionals(argc, argv, 1, cmd, "MANIFEST")))
        goto out;
    if (!io.bucket) {
        code = regcli_usage(cmd, "--bucket is required");
        goto out;
    }
    const char *file = argv[optind];
    if (!(buf = read_input(file, &len))) {
        code = EXIT_USAGE;
        goto out;
    }
    if (registry_manifest_parse(buf, len, strcmp(file, "-") == 0 ? "stdin" : file, io.all_runs,
                                &imp, err, sizeof err) < 0) {
        code = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    apply_opts(&io, &imp);
    if ((code = precheck(&imp, strcmp(file, "-") == 0 ? "stdin" : file)) ||
        !(r = regcli_open(o, true, &ctx, &code)))
        goto out;
    bool created = false;
    if (!(v = registry_import(r, &ctx, &imp, &created, err, sizeof err)))
        code = regcli_fail(r, err);
    else
        print_result(o, v, created, file);
out:
    json_decref(v);
    registry_close(r);
    registry_import_dispose(&imp);
    free(buf);
    for (size_t i = 0; i < io.n_channels; i++)
        free(io.channels[i]);
    free(io.channels);
    json_decref(io.bucket_labels);
    json_decref(io.build_labels);
    return code;
}
