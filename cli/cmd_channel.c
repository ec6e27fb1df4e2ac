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

static int channel_list(cli_opts *o, int argc, char **argv)
{
    int code;
    reg_ctx ctx;
    registry *r;
    char err[512];
    if (!regcli_simple(o, argc, argv, "channel list", usage_list, 1, "BUCKET", &code) ||
        !(r = regcli_open(o, false, &ctx, &code)))
        return code;
    json_t *arr = registry_channel_list(r, &ctx, argv[optind], err, sizeof err);
    if (!arr) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        cli_print_json(stdout, arr);
    } else {
        regcli_table t;
        regcli_table_init(&t, 7, "CHANNEL", "VERSION", "FINGERPRINT", "STATUS", "MANAGED",
                          "UPDATED", "AUTHOR");
        size_t i;
        json_t *c;
        json_array_foreach(arr, i, c)
        {
            json_t *v = json_object_get(c, "version");
            regcli_table_row(&t, regcli_str(c, "name"), regcli_str(v, "name"),
                             regcli_str(v, "fingerprint"), regcli_str(v, "status"),
                             json_is_true(json_object_get(c, "managed")) ? "yes" : "no",
                             regcli_str(c, "updated_at"), regcli_str(c, "author_id"));
        }
        regcli_table_print(&t, stdout);
        regcli_table_dispose(&t);
    }
    json_decref(arr);
    registry_close(r);
    return code;
}

/* set (ref != NULL) and unset (ref == NULL) */
static int assign(cli_opts *o, const char *bucket, const char *channel, const char *ref,
                  reg_ctx *ctx, registry *r)
{
    char err[512];
    int code = EXIT_OK;
    json_t *c = registry_channel_set(r, ctx, bucket, channel, ref, err, sizeof err);
    if (!c)
        code = regcli_fail(r, err);
    else if (o->json)
        cli_print_json(stdout, c);
    else
        print_channel_line(c);
    json_decref(c);
    return code;
}

static int channel_set(cli_opts *o, int argc, char **argv)
{
    int code;
    reg_ctx ctx;
    registry *r;
    if (!regcli_simple(o, argc, argv, "channel set", usage_set, 3, "BUCKET CHANNEL VERSION",
                       &code) ||
        !(r = regcli_open(o, false, &ctx, &code)))
        return code;
    code = assign(o, argv[optind], argv[optind + 1], argv[optind + 2], &ctx, r);
    registry_close(r);
    return code;
}

static int channel_unset(cli_opts *o, int argc, char **argv)
{
    int code;
    reg_ctx ctx;
    registry *r;
    if (!regcli_simple(o, argc, argv, "channel unset", usage_unset, 2, "BUCKET CHANNEL", &code) ||
        !(r = regcli_open(o, false, &ctx, &code)))
        return code;
    code = assign(o, argv[optind], argv[optind + 1], NULL, &ctx, r);
    registry_close(r);
    return code;
}

static int channel_history(cli_opts *o, int argc, char **argv)
{
    int code;
    reg_ctx ctx;
    registry *r;
    char err[512];
    if (!regcli_simple(o, argc, argv, "channel history", usage_history, 2, "BUCKET CHANNEL",
                       &code) ||
        !(r = regcli_open(o, false, &ctx, &code)))
        return code;
    json_t *arr =
        registry_channel_history(r, &ctx, argv[optind], argv[optind + 1], err, sizeof err);
    if (!arr) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        cli_print_json(stdout, arr);
    } else {
        regcli_table t;
        regcli_table_init(&t, 5, "ASSIGNED_AT", "AUTHOR", "ACTION", "VERSION", "FINGERPRINT");
        size_t i;
        json_t *h;
        json_array_foreach(arr, i, h)
        {
            regcli_table_row(&t, regcli_str(h, "assigned_at"), regcli_str(h, "author_id"),
                             regcli_str(h, "action"), regcli_str(h, "version"),
                             regcli_str(h, "fingerprint"));
        }
        regcli_table_print(&t, stdout);
        regcli_table_dispose(&t);
    }
    json_decref(arr);
    registry_close(r);
    return code;
}

static int channel_delete(cli_opts *o, int argc, char **argv)
{
    int code;
    reg_ctx ctx;
    registry *r;
    char err[512];
    if (!regcli_simple(o, argc, argv, "channel delete", usage_delete, 2, "BUCKET CHANNEL", &code) ||
        !(r = regcli_open(o, false, &ctx, &code)))
        return code;
    const char *bucket = argv[optind], *channel = argv[optind + 1];
    if (registry_channel_delete(r, &ctx, bucket, channel, err, sizeof err) < 0) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        json_t *j =
            json_pack("{s:s, s:s, s:b}", "bucket_name", bucket, "name", channel, "deleted", 1);
        cli_print_json(stdout, j);
        json_decref(j);
    } else {
        printf("deleted channel %s of bucket %s\n", channel, bucket);
    }
    registry_close(r);
    return code;
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
