/* imagegate audit list [--since T] [--until T] [--bucket NAME] [--author NAME]
 *                      [--newest] [--limit N] */
#include "cli/regcmd.h"

#include "common/numparse.h"
#include "common/timeutil.h"

#include <stdlib.h>

static const char usage[] =
    "usage: imagegate audit list [--since T] [--until T] [--bucket NAME] [--author NAME]\n"
    "                            [--newest] [--limit N] [--json] [--db URL]\n"
    "\n"
    "The audit trail, oldest first: every change with its time, author (the OS\n"
    "user on the command line, the token name over the API), action, bucket,\n"
    "target and details (the filters of GET /v1/audit).\n"
    "  --since T     only entries at or after T (2026-11-01T00:00:00Z, or 24h, 7d ago)\n"
    "  --until T     only entries before T (the same forms)\n"
    "  --bucket B    only entries about bucket B\n"
    "  --author A    only entries by A (a token's name, an OS user)\n"
    "  --newest      newest first\n"
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
                                       {"until", required_argument, NULL, 'u'},
                                       {"author", required_argument, NULL, 'a'},
                                       {"newest", no_argument, NULL, 'n'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "audit list", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage, 0, "", &k.code) ||
        (k.code = regcli_ctx(&k.ctx)))
        return k.code;
    reg_audit_filter f = {IG_TIME_NONE, IG_TIME_NONE, v[1], v[4], v[5] != NULL};
    int64_t limit = 0;
    if (v[0] && ig_time_parse_since(v[0], k.ctx.now, &f.since, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "--since: %s", k.err);
    if (v[3] && ig_time_parse_since(v[3], k.ctx.now, &f.until, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "--until: %s", k.err);
    if (v[2] && parse_int64("--limit", v[2], 1, 1000000, &limit, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "%s", k.err);
    if (!(k.r = cli_open_store(o, false, &k.code)))
        return k.code;
    return regcli_answer(
        o, &k, registry_audit_query(k.r, &f, IG_TIME_NONE, NULL, (int)limit, k.err, sizeof k.err),
        print_entries);
}

int cmd_audit(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", audit_list}};
    return regcli_dispatch(o, argc, argv, "audit", usage, subs, sizeof subs / sizeof subs[0]);
}
