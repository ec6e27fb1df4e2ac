/* imagegate bucket list | show NAME | create NAME [--description D] [--label K=V]... | delete NAME
 */
#include "cli/regcmd.h"

#include "common/xalloc.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate bucket list\n"
    "       imagegate bucket show NAME\n"
    "       imagegate bucket create NAME [--description TEXT] [--label KEY=VALUE]...\n"
    "       imagegate bucket delete NAME\n"
    "\n"
    "Buckets hold the versions of one image and its channels. A name is 3-36\n"
    "letters, digits and '-'. 'create' makes the store file when it does not\n"
    "exist yet; 'delete' removes the bucket with all its versions and channels.\n"
    "\n"
    "Options: --db URL, --json, --help (also after the subcommand).\n";

static const char usage_list[] = "usage: imagegate bucket list [--json] [--db URL]\n"
                                 "\nLists every bucket with its latest version.\n";
static const char usage_show[] = "usage: imagegate bucket show NAME [--json] [--db URL]\n"
                                 "\nShows one bucket: description, labels, latest version.\n";
static const char usage_create[] =
    "usage: imagegate bucket create NAME [--description TEXT] [--label KEY=VALUE]...\n"
    "                               [--json] [--db URL]\n"
    "\nCreates a bucket (and the SQLite store file if it does not exist yet).\n"
    "  --description TEXT   at most 255 characters\n"
    "  --label KEY=VALUE    a bucket label (repeatable)\n";
static const char usage_delete[] =
    "usage: imagegate bucket delete NAME [--json] [--db URL]\n"
    "\nDeletes a bucket with all its versions, builds, artifacts and channels.\n";

static void print_bucket(json_t *b)
{
    json_t *latest = json_object_get(b, "latest_version");
    printf("name:         %s\n", regcli_str(b, "name"));
    printf("description:  %s\n", regcli_str(b, "description"));
    printf("labels:      ");
    const char *k;
    json_t *v;
    if (json_object_size(json_object_get(b, "labels")) == 0)
        printf(" -");
    json_object_foreach(json_object_get(b, "labels"), k, v)
    {
        printf(" %s=%s", k, json_string_value(v));
    }
    printf("\nlatest:       %s", regcli_str(latest, "name"));
    if (json_is_object(latest))
        printf(" (fingerprint %s)", regcli_str(latest, "fingerprint"));
    printf("\nversions:     %lld\n",
           (long long)json_integer_value(json_object_get(b, "version_count")));
    printf("created_at:   %s\n", regcli_str(b, "created_at"));
    printf("updated_at:   %s\n", regcli_str(b, "updated_at"));
}

static void print_buckets(json_t *arr)
{
    static const regcli_col cols[] = {
        {"NAME", "name"},          {"LATEST", "latest_version.name"}, {"VERSIONS", "version_count"},
        {"UPDATED", "updated_at"}, {"DESCRIPTION", "description"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int bucket_list(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "bucket list", usage_list, 0, ""))
        return k.code;
    return regcli_answer(o, &k, registry_bucket_list(k.r, &k.ctx, NULL, k.err, sizeof k.err),
                         print_buckets);
}

static int bucket_show(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "bucket show", usage_show, 1, "NAME"))
        return k.code;
    return regcli_answer(o, &k, registry_bucket_get(k.r, &k.ctx, argv[optind], k.err, sizeof k.err),
                         print_bucket);
}

static void print_created(json_t *b)
{
    printf("created bucket %s\n", regcli_str(b, "name"));
}

static int bucket_create(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"description", required_argument, NULL, 'd'},
                                       {"label", required_argument, NULL, 'l'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "bucket create", *desc = NULL;
    json_t *labels = json_object();
    regcli_call k = {.code = EXIT_OK};
    int c;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage_create, &k.code)) != -1) {
        if (c == -2)
            goto out;
        if (c == 'd')
            desc = optarg;
        else if (c == 'l' && regcli_label(labels, optarg, cmd, "--label") < 0) {
            k.code = EXIT_USAGE;
            goto out;
        }
    }
    if ((k.code = regcli_positionals(argc, argv, 1, cmd, "NAME")))
        goto out;
    const char *name = argv[optind];
    /* checked before the store is opened: bad input never creates a file */
    if (registry_valid_bucket_name(name, k.err, sizeof k.err) < 0) {
        k.code = cli_fail(EXIT_USAGE, "%s", k.err);
        goto out;
    }
    if ((k.r = regcli_open(o, true, &k.ctx, &k.code)))
        k.code = regcli_answer(
            o, &k, registry_bucket_create(k.r, &k.ctx, name, desc, labels, k.err, sizeof k.err),
            print_created);
out:
    json_decref(labels);
    return k.code;
}

static int bucket_delete(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "bucket delete", usage_delete, 1, "NAME"))
        return k.code;
    const char *name = argv[optind];
    int rc = registry_bucket_delete(k.r, &k.ctx, name, k.err, sizeof k.err);
    return regcli_deleted(o, &k, rc, json_pack("{s:s, s:b}", "bucket_name", name, "deleted", 1),
                          "deleted bucket %s", name);
}

int cmd_bucket(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", bucket_list},
                                      {"show", bucket_show},
                                      {"create", bucket_create},
                                      {"delete", bucket_delete}};
    return regcli_dispatch(o, argc, argv, "bucket", usage, subs, sizeof subs / sizeof subs[0]);
}
