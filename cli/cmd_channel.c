/* imagegate channel list | set | unset | history | delete */
#include "cli/regcmd.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate channel list BUCKET\n"
    "       imagegate channel set BUCKET CHANNEL VERSION\n"
    "       imagegate channel unset BUCKET CHANNEL\n"
    "       imagegate channel history BUCKET CHANNEL\n"
    "       imagegate channel delete BUCKET CHANNEL\n"
    "\n"
    "Channels point at a version of their bucket. 'latest' is managed: it always\n"
    "holds the highest-numbered complete version that is not revoked, and cannot\n"
    "be set, unset or deleted. A revoked version cannot be assigned.\n"
    "VERSION is a version name (v1, v2, ...) or a fingerprint.\n"
    "Options: --db URL, --json, --help (also after the subcommand).\n";

static const char usage_list[] = "usage: imagegate channel list BUCKET [--json] [--db URL]\n"
                                 "\nLists the channels of a bucket (latest first).\n";
static const char usage_set[] =
    "usage: imagegate channel set BUCKET CHANNEL VERSION [--json] [--db URL]\n"
    "\nPoints CHANNEL (created if needed) at VERSION. Exit 1 when the version is\n"
    "revoked or incomplete, or CHANNEL is 'latest'.\n";
static const char usage_unset[] = "usage: imagegate channel unset BUCKET CHANNEL [--json]\n"
                                  "\nEmpties CHANNEL (it keeps its history).\n";
static const char usage_history[] =
    "usage: imagegate channel history BUCKET CHANNEL [--json] [--db URL]\n"
    "\nEvery assignment of CHANNEL, newest first (set, unset, rollback).\n";
static const char usage_delete[] = "usage: imagegate channel delete BUCKET CHANNEL [--json]\n"
                                   "\nDeletes CHANNEL and its history.\n";

static void print_channel_line(json_t *c)
{
    json_t *v = json_object_get(c, "version");
    if (json_is_object(v))
        printf("channel %s of %s holds %s (fingerprint %s, %s)\n", regcli_str(c, "name"),
               regcli_str(c, "bucket_name"), regcli_str(v, "name"), regcli_str(v, "fingerprint"),
               regcli_str(v, "status"));
    else
        printf("channel %s of %s is empty\n", regcli_str(c, "name"), regcli_str(c, "bucket_name"));
}

static void print_channels(json_t *arr)
{
    static const regcli_col cols[] = {
        {"CHANNEL", "name"},
        {"VERSION", "version.name"},
        {"FINGERPRINT", "version.fingerprint"},
        {"STATUS", "version.status"},
        {"MANAGED", "managed"},
        {"UPDATED", "updated_at"},
        {"AUTHOR", "author_id"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static void print_history(json_t *arr)
{
    static const regcli_col cols[] = {
        {"ASSIGNED_AT", "assigned_at"}, {"AUTHOR", "author_id"},        {"ACTION", "action"},
        {"VERSION", "version"},         {"FINGERPRINT", "fingerprint"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int channel_list(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "channel list", usage_list, 1, "BUCKET"))
        return k.code;
    return regcli_answer(o, &k,
                         registry_channel_list(k.r, &k.ctx, argv[optind], k.err, sizeof k.err),
                         print_channels);
}

/* set (a VERSION follows the channel) and unset (none) */
static int assign(cli_opts *o, int argc, char **argv, const char *cmd, const char *help, bool set)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, cmd, help, set ? 3 : 2,
                       set ? "BUCKET CHANNEL VERSION" : "BUCKET CHANNEL"))
        return k.code;
    json_t *c = registry_channel_set(k.r, &k.ctx, argv[optind], argv[optind + 1],
                                     set ? argv[optind + 2] : NULL, k.err, sizeof k.err);
    return regcli_answer(o, &k, c, print_channel_line);
}

static int channel_set(cli_opts *o, int argc, char **argv)
{
    return assign(o, argc, argv, "channel set", usage_set, true);
}

static int channel_unset(cli_opts *o, int argc, char **argv)
{
    return assign(o, argc, argv, "channel unset", usage_unset, false);
}

static int channel_history(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "channel history", usage_history, 2, "BUCKET CHANNEL"))
        return k.code;
    json_t *arr =
        registry_channel_history(k.r, &k.ctx, argv[optind], argv[optind + 1], k.err, sizeof k.err);
    return regcli_answer(o, &k, arr, print_history);
}

static int channel_delete(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "channel delete", usage_delete, 2, "BUCKET CHANNEL"))
        return k.code;
    const char *bucket = argv[optind], *channel = argv[optind + 1];
    int rc = registry_channel_delete(k.r, &k.ctx, bucket, channel, k.err, sizeof k.err);
    return regcli_deleted(
        o, &k, rc,
        json_pack("{s:s, s:s, s:b}", "bucket_name", bucket, "name", channel, "deleted", 1),
        "deleted channel %s of bucket %s", channel, bucket);
}

int cmd_channel(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", channel_list},
                                      {"set", channel_set},
                                      {"unset", channel_unset},
                                      {"history", channel_history},
                                      {"delete", channel_delete}};
    return regcli_dispatch(o, argc, argv, "channel", usage, subs, sizeof subs / sizeof subs[0]);
}
