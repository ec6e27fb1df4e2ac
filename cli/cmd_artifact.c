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

static int artifact_find(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"platform", required_argument, NULL, 'p'},
                                       {"region", required_argument, NULL, 'r'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "artifact find", *platform = NULL, *region = NULL;
    int code = EXIT_OK, c;
    char err[512];
    reg_ctx ctx;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, &code)) != -1) {
        if (c == -2)
            return code;
        if (c == 'p')
            platform = optarg;
        else if (c == 'r')
            region = optarg;
    }
    if ((code = regcli_positionals(argc, argv, 1, cmd, "ID")))
        return code;
    registry *r = regcli_open(o, false, &ctx, &code);
    if (!r)
        return code;
    const char *id = argv[optind];
    json_t *arr = registry_artifact_find(r, &ctx, id, platform, region, err, sizeof err);
    if (!arr) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        cli_print_json(stdout, arr);
    } else if (json_array_size(arr) == 0) {
        printf("no registry version holds %s\n", id);
    } else {
        regcli_table t;
        regcli_table_init(&t, 8, "BUCKET", "VERSION", "FINGERPRINT", "PLATFORM", "REGION", "STATUS",
                          "REVOCATION", "REVOKE_AT");
        size_t i;
        json_t *m;
        json_array_foreach(arr, i, m)
        {
            regcli_table_row(&t, regcli_str(m, "bucket_name"), regcli_str(m, "version"),
                             regcli_str(m, "fingerprint"), regcli_str(m, "platform"),
                             regcli_str(m, "region"), regcli_str(m, "status"),
                             regcli_str(m, "revocation_type"), regcli_str(m, "revoke_at"));
        }
        regcli_table_print(&t, stdout);
        regcli_table_dispose(&t);
    }
    json_decref(arr);
    registry_close(r);
    return code;
}

int cmd_artifact(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"find", artifact_find}};
    return regcli_dispatch(o, argc, argv, "artifact", usage, subs, sizeof subs / sizeof subs[0]);
}
