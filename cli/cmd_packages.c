/* imagegate packages find NAME [--version-below V | --version V]
 *                    [--channel C] [--json] */
#include "cli/regcmd.h"

#include "sbom/sbom.h"

#include <string.h>

static const char usage[] =
    "usage: imagegate packages find NAME [--version-below V | --version V] [--channel C]\n"
    "                               [--json] [--db URL]\n"
    "\n"
    "Which images ship a package: every bucket, version, build and channel whose\n"
    "SBOMs hold a package called NAME (case-insensitive), with the version's\n"
    "status (revoked versions say VERSION_REVOKED).\n"
    "  --version-below V   only package versions older than V\n"
    "  --version V         only package version V\n"
    "  --channel C         only versions channel C holds now (latest included)\n"
    "Versions compare by the package's type: Debian (dpkg), RPM (rpmvercmp),\n"
    "semver (npm, cargo, golang, ...), else generic; a V without an epoch\n"
    "ignores the packages' epochs (docs/sbom.md). No match is not an error.\n";

/* One row per package of each version, channels joined. New array. */
static json_t *rows_of(json_t *found)
{
    json_t *rows = json_array(), *e, *p, *c;
    size_t i, k, m;
    json_array_foreach(found, i, e)
    {
        char chans[512] = "";
        json_array_foreach(json_object_get(e, "channels"), m, c)
        {
            size_t n = strlen(chans);
            snprintf(chans + n, sizeof chans - n, "%s%s", n ? "," : "", json_string_value(c));
        }
        json_array_foreach(json_object_get(e, "packages"), k, p)
        {
            json_t *row = json_deep_copy(e);
            json_object_del(row, "packages");
            json_object_set_new(row, "channels", json_string(chans));
            json_object_set(row, "package", p);
            json_array_append_new(rows, row);
        }
    }
    return rows;
}

static void print_found(json_t *found)
{
    static const regcli_col cols[] = {
        {"BUCKET", "bucket_name"},
        {"VERSION", "version"},
        {"STATUS", "status"},
        {"CHANNELS", "channels"},
        {"BUILD", "package.component_type"},
        {"PACKAGE", "package.name"},
        {"PACKAGE_VERSION", "package.version"},
        {"TYPE", "package.type"},
    };
    json_t *rows = rows_of(json_object_get(found, "versions"));
    regcli_print_list(rows, cols, REGCLI_NCOLS(cols));
    json_decref(rows);
}

static int packages_find(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"version-below", required_argument, NULL, 'b'},
                                       {"version", required_argument, NULL, 'v'},
                                       {"channel", required_argument, NULL, 'c'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *v[sizeof lo / sizeof lo[0]] = {0}, *cmd = "packages find";
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage, 1, "NAME", &k.code))
        return k.code;
    sbom_version_rule vr = {v[0], v[1]};
    if (vr.below && vr.equal)
        return regcli_usage(cmd, "--version-below and --version: give one of them");
    if (v[2] && registry_valid_channel_name(v[2], k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "--channel: %s", k.err);
    if (!(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    reg_package_query q = {argv[optind], v[2], sbom_version_rule_keep, &vr};
    json_t *found = registry_package_find(k.r, &k.ctx, &q, k.err, sizeof k.err);
    json_t *j = found
                    ? json_pack("{s:s, s:o, s:o, s:o, s:o}", "name", argv[optind], "version_below",
                                vr.below ? json_string(vr.below) : json_null(), "version",
                                vr.equal ? json_string(vr.equal) : json_null(), "channel",
                                v[2] ? json_string(v[2]) : json_null(), "versions", found)
                    : NULL;
    if (j && !o->json && json_array_size(found) == 0) {
        printf("no version ships %s%s%s\n", argv[optind], vr.below ? " below " : "",
               vr.below ? vr.below : "");
        return regcli_answer(o, &k, j, NULL);
    }
    return regcli_answer(o, &k, j, print_found);
}

int cmd_packages(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"find", packages_find}};
    return regcli_dispatch(o, argc, argv, "packages", usage, subs, sizeof subs / sizeof subs[0]);
}
