/* imagegate artifact find ID [--platform P] [--region R] */
#include "cli/regcmd.h"

#include <string.h>

static const char usage[] =
    "usage: imagegate artifact find ID [--platform P] [--region R] [--json] [--db URL]\n"
    "\n"
    "Finds every registry version holding the image ID (an AMI, an Azure image ID,\n"
    "a GCE image, a Docker digest; compared case-insensitively) and prints its\n"
    "bucket, version, fingerprint, platform, region, status, revocation type and\n"
    "revoke_at. --platform (aws, azure, gce, docker, ...) and --region narrow the\n"
    "match. No match is not an error: an empty list (exit 0).\n";

static void print_matches(json_t *arr)
{
    static const regcli_col cols[] = {
        {"BUCKET", "bucket_name"},
        {"VERSION", "version"},
        {"FINGERPRINT", "fingerprint"},
        {"PLATFORM", "platform"},
        {"REGION", "region"},
        {"STATUS", "status"},
        {"REVOCATION", "revocation_type"},
        {"REVOKE_AT", "revoke_at"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int artifact_find(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"platform", required_argument, NULL, 'p'},
                                       {"region", required_argument, NULL, 'r'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, "artifact find", usage, 1, "ID", &k.code) ||
        !(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    const char *id = argv[optind];
    json_t *arr = registry_artifact_find(k.r, &k.ctx, id, v[0], v[1], k.err, sizeof k.err);
    if (arr && !o->json && json_array_size(arr) == 0) {
        printf("no registry version holds %s\n", id);
        return regcli_answer(o, &k, arr, NULL);
    }
    return regcli_answer(o, &k, arr, print_matches);
}

int cmd_artifact(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"find", artifact_find}};
    return regcli_dispatch(o, argc, argv, "artifact", usage, subs, sizeof subs / sizeof subs[0]);
}
