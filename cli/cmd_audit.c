/* imagegate audit list [--since RFC3339|DURATION] [--bucket NAME] [--limit N] */
#include "cli/regcmd.h"

#include "common/numparse.h"
#include "common/timeutil.h"

#include <stdlib.h>

static const char usage[] =
    "usage: imagegate audit list [--since RFC3339|DURATION] [--bucket NAME] [--limit N]\n"
    "                            [--json] [--db URL]\n"
    "\n"
    "The audit trail, oldest first: every change with its time, author (the OS\n"
    "user on the command line, the token name over the API), action, bucket,\n"
    "target and details.\n"
    "  --since T     only entries at or after T (2026-11-01T00:00:00Z, or 24h, 7d ago)\n"
    "  --bucket B    only entries about bucket B\n"
    "  --limit N     at most N entries\n";

static int audit_list(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"since", required_argument, NULL, 's'},
                                       {"bucket", required_argument, NULL, 'b'},
                                       {"limit", required_argument, NULL, 'l'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "audit list", *since_s = NULL, *bucket = NULL, *limit_s = NULL;
    int code = EXIT_OK, c;
    char err[512];
    reg_ctx ctx;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, &code)) != -1) {
        if (c == -2)
            return code;
        if (c == 's')
            since_s = optarg;
        else if (c == 'b')
            bucket = optarg;
        else if (c == 'l')
            limit_s = optarg;
    }
    if ((code = regcli_positionals(argc, argv, 0, cmd, "")) || (code = regcli_ctx(&ctx)))
        return code;
    ig_time since = IG_TIME_NONE;
    int64_t limit = 0;
    if (since_s && ig_time_parse_since(since_s, ctx.now, &since, err, sizeof err) < 0)
        return regcli_usage(cmd, "--since: %s", err);
    if (limit_s && parse_int64("--limit", limit_s, 1, 1000000, &limit, err, sizeof err) < 0)
        return regcli_usage(cmd, "%s", err);
    registry *r = cli_open_store(o, false, &code);
    if (!r)
        return code;
    json_t *arr = registry_audit_list(r, since, bucket, (int)limit, err, sizeof err);
    if (!arr) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        cli_print_json(stdout, arr);
    } else {
        regcli_table t;
        regcli_table_init(&t, 6, "AT", "AUTHOR", "ACTION", "BUCKET", "TARGET", "DETAIL");
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            json_t *d = json_object_get(e, "detail");
            char *dt = json_is_null(d) || !d ? NULL : json_dumps(d, JSON_COMPACT | JSON_SORT_KEYS);
            regcli_table_row(&t, regcli_str(e, "at"), regcli_str(e, "author"),
                             regcli_str(e, "action"), regcli_str(e, "bucket"),
                             regcli_str(e, "target"), dt);
            free(dt);
        }
        regcli_table_print(&t, stdout);
        regcli_table_dispose(&t);
    }
    json_decref(arr);
    registry_close(r);
    return code;
}

int cmd_audit(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", audit_list}};
    return regcli_dispatch(o, argc, argv, "audit", usage, subs, sizeof subs / sizeof subs[0]);
}
