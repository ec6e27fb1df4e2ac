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

static void print_entries(json_t *arr)
{
    static const regcli_col cols[] = {
        {"AT", "at"},         {"AUTHOR", "author"}, {"ACTION", "action"},
        {"BUCKET", "bucket"}, {"TARGET", "target"}, {"DETAIL", "detail"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int audit_list(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"since", required_argument, NULL, 's'},
                                       {"bucket", required_argument, NULL, 'b'},
                                       {"limit", required_argument, NULL, 'l'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "audit list", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage, 0, "", &k.code) ||
        (k.code = regcli_ctx(&k.ctx)))
        return k.code;
    ig_time since = IG_TIME_NONE;
    int64_t limit = 0;
    if (v[0] && ig_time_parse_since(v[0], k.ctx.now, &since, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "--since: %s", k.err);
    if (v[2] && parse_int64("--limit", v[2], 1, 1000000, &limit, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "%s", k.err);
    if (!(k.r = cli_open_store(o, false, &k.code)))
        return k.code;
    return regcli_answer(o, &k,
                         registry_audit_list(k.r, since, v[1], (int)limit, k.err, sizeof k.err),
                         print_entries);
}

int cmd_audit(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", audit_list}};
    return regcli_dispatch(o, argc, argv, "audit", usage, subs, sizeof subs / sizeof subs[0]);
}
