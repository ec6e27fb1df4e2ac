/* imagegate usage BUCKET [VERSION] [--since DURATION|RFC3339] [--json]:
 * which workspaces and resources used a bucket's images -- or a version's
 * and its descendants' -- as the server recorded them (docs/usage.md). */
#include "cli/regcmd.h"

#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate usage BUCKET [VERSION] [--since DURATION|RFC3339] [--json] [--db URL]\n"
    "\n"
    "Which workspaces and resources used the images of BUCKET, or of VERSION and\n"
    "the versions built from it (an inherited revocation reaches them too), as\n"
    "imagegate serve recorded every run-task and POST /v1/scan evaluation.\n"
    "  --since T   only what was seen at or after T (2026-11-01T00:00:00Z, or 7d ago);\n"
    "              default: everything kept (--usage-retention of the server)\n"
    "VERSION is a version name (v1, v2, ...) or a fingerprint.\n";

/* One row per resource: the workspaces' resources flattened for a table. */
static void print_usage(json_t *u)
{
    static const regcli_col cols[] = {
        {"ORGANIZATION", "organization"},
        {"WORKSPACE", "workspace"},
        {"RESOURCE", "address"},
        {"IMAGE", "image"},
        {"BUCKET", "bucket"},
        {"VERSION", "version"},
        {"LAST_SEEN", "last_seen"},
    };
    json_t *rows = json_array(), *ws = json_object_get(u, "workspaces");
    size_t i, k;
    json_t *w, *res;
    json_array_foreach(ws, i, w)
    {
        json_array_foreach(json_object_get(w, "resources"), k, res)
        {
            json_t *row = json_deep_copy(res);
            json_object_set(row, "organization", json_object_get(w, "organization"));
            json_object_set(row, "workspace", json_object_get(w, "workspace"));
            if (json_is_null(json_object_get(row, "image")))
                json_object_set_new(row, "image", json_string("(sensitive)"));
            json_array_append_new(rows, row);
        }
    }
    json_t *v = json_object_get(u, "version");
    printf("%s%s%s%s: %zu workspace%s", regcli_str(u, "bucket"), json_is_string(v) ? " " : "",
           json_is_string(v) ? json_string_value(v) : "",
           json_is_string(v) ? " and its descendants" : "", json_array_size(ws),
           json_array_size(ws) == 1 ? "" : "s");
    if (json_is_string(json_object_get(u, "since")))
        printf(" since %s", regcli_str(u, "since"));
    printf("\n");
    if (json_array_size(rows))
        regcli_print_list(rows, cols, REGCLI_NCOLS(cols));
    json_decref(rows);
}

int cmd_usage(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"since", required_argument, NULL, 's'}, CLI_COMMON_LONGOPTS, {0}};
    const char *cmd = "usage", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    optind = 0;
    int c;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, &k.code)) != -1) {
        if (c == -2)
            return k.code;
        if (c == 's')
            v[0] = optarg;
    }
    int n = argc - optind;
    if (n < 1 || n > 2)
        return regcli_positionals(argc, argv, n < 1 ? 1 : 2, cmd, "BUCKET [VERSION]");
    if ((k.code = regcli_ctx(&k.ctx)))
        return k.code;
    ig_time since = IG_TIME_NONE;
    if (v[0] && ig_time_parse_since(v[0], k.ctx.now, &since, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "--since: %s", k.err);
    if (!(k.r = cli_open_store(o, false, &k.code)))
        return k.code;
    const char *bucket = argv[optind], *ref = n == 2 ? argv[optind + 1] : NULL;
    return regcli_answer(
        o, &k, registry_usage_get(k.r, &k.ctx, bucket, ref, since, NULL, k.err, sizeof k.err),
        print_usage);
}
