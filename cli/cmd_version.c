/* imagegate version list | show | delete | revoke | restore */
#include "cli/regcmd.h"

#include "common/timeutil.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate version list BUCKET\n"
    "       imagegate version show BUCKET VERSION\n"
    "       imagegate version delete BUCKET VERSION\n"
    "       imagegate version revoke BUCKET VERSION [--at RFC3339 | --in DURATION]\n"
    "                [--message TEXT] [--skip-descendants] [--keep-channels] [--dry-run]\n"
    "       imagegate version restore BUCKET VERSION\n"
    "\n"
    "VERSION is a version name (v1, v2, ...) or a fingerprint.\n"
    "Options: --db URL, --json, --help (also after the subcommand).\n";

static const char usage_list[] = "usage: imagegate version list BUCKET [--json] [--db URL]\n"
                                 "\nLists the versions of a bucket, newest first.\n";
static const char usage_show[] =
    "usage: imagegate version show BUCKET VERSION [--json] [--db URL]\n"
    "\nShows a version: status, revocation, builds, artifacts, parents.\n";
static const char usage_delete[] =
    "usage: imagegate version delete BUCKET VERSION [--json] [--db URL]\n"
    "\nDeletes a version with its builds and artifacts. Refused while a channel\n"
    "holds it. Its number is never given again.\n";
static const char usage_revoke[] =
    "usage: imagegate version revoke BUCKET VERSION [--at RFC3339 | --in DURATION]\n"
    "                [--message TEXT] [--skip-descendants] [--keep-channels] [--dry-run]\n"
    "                [--json]\n"
    "\nRevokes a version now, or schedules it.\n"
    "  --at RFC3339         revoke at this time (2026-12-01T00:00:00Z)\n"
    "  --in DURATION        revoke after this long (30d, 12h, 45m; 0s = now)\n"
    "  --message TEXT       why (shown by lookups and scans)\n"
    "  --skip-descendants   do not revoke the versions built from this one\n"
    "  --keep-channels      do not roll back the channels holding it\n"
    "  --dry-run            change nothing; say which versions would inherit the\n"
    "                       revocation, which channels would roll back, and which\n"
    "                       workspaces used those versions in the last 30 days\n"
    "Without --at/--in the revocation is immediate: every user channel holding\n"
    "the version (or a descendant) rolls back to its most recent earlier valid\n"
    "version, or is emptied. A scheduled revocation changes no channel.\n";
static const char usage_restore[] =
    "usage: imagegate version restore BUCKET VERSION [--json] [--db URL]\n"
    "\nRemoves the version's own revocation and the inherited revocations it\n"
    "caused in its descendants. Channels are not re-assigned.\n";

static void print_revocation(json_t *v)
{
    json_t *from = json_object_get(v, "revocation_inherited_from");
    printf("revoke_at:    %s\n", regcli_str(v, "revoke_at"));
    if (json_is_null(json_object_get(v, "revocation_type")))
        return;
    printf("revocation:   %s by %s", regcli_str(v, "revocation_type"),
           regcli_str(v, "revocation_author"));
    if (json_is_object(from))
        printf(", inherited from %s %s", regcli_str(from, "bucket_name"),
               regcli_str(from, "version"));
    printf("\nmessage:      %s\n", regcli_str(v, "revocation_message"));
}

static void print_version(json_t *v)
{
    size_t i, k;
    json_t *b, *a, *p;
    printf("bucket:       %s\n", regcli_str(v, "bucket_name"));
    printf("version:      %s\n", regcli_str(v, "name"));
    printf("fingerprint:  %s\n", regcli_str(v, "fingerprint"));
    printf("id:           %s\n", regcli_str(v, "id"));
    printf("status:       %s\n", regcli_str(v, "status"));
    printf("author:       %s\n", regcli_str(v, "author_id"));
    printf("created_at:   %s\n", regcli_str(v, "created_at"));
    printf("completed_at: %s\n", regcli_str(v, "completed_at"));
    print_revocation(v);
    printf("parents:     ");
    if (json_array_size(json_object_get(v, "parent_versions")) == 0)
        printf(" -");
    json_array_foreach(json_object_get(v, "parent_versions"), i, p)
    {
        printf(" %s %s (%s, %s)", regcli_str(p, "bucket_name"), regcli_str(p, "version"),
               regcli_str(p, "fingerprint"), regcli_str(p, "status"));
    }
    printf("\nbuilds:\n");
    json_array_foreach(json_object_get(v, "builds"), i, b)
    {
        printf("  %s  platform %s  %s  source %s\n", regcli_str(b, "component_type"),
               regcli_str(b, "platform"), regcli_str(b, "status"),
               regcli_str(b, "source_external_identifier"));
        json_array_foreach(json_object_get(b, "artifacts"), k, a)
        {
            printf("    %-12s %s\n", regcli_str(a, "region"), regcli_str(a, "external_identifier"));
        }
        const char *key;
        json_t *val;
        json_object_foreach(json_object_get(b, "labels"), key, val)
        {
            printf("    label %s=%s\n", key, json_string_value(val));
        }
    }
}

static void print_versions(json_t *arr)
{
    static const regcli_col cols[] = {
        {"VERSION", "name"},        {"FINGERPRINT", "fingerprint"},    {"STATUS", "status"},
        {"REVOKE_AT", "revoke_at"}, {"REVOCATION", "revocation_type"}, {"CREATED", "created_at"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int version_list(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "version list", usage_list, 1, "BUCKET"))
        return k.code;
    return regcli_answer(
        o, &k, registry_version_list(k.r, &k.ctx, argv[optind], NULL, k.err, sizeof k.err),
        print_versions);
}

static int version_show(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "version show", usage_show, 2, "BUCKET VERSION"))
        return k.code;
    json_t *v =
        registry_version_get(k.r, &k.ctx, argv[optind], argv[optind + 1], k.err, sizeof k.err);
    return regcli_answer(o, &k, v, print_version);
}

static int version_delete(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "version delete", usage_delete, 2, "BUCKET VERSION"))
        return k.code;
    const char *bucket = argv[optind], *ref = argv[optind + 1];
    int rc = registry_version_delete(k.r, &k.ctx, bucket, ref, k.err, sizeof k.err);
    return regcli_deleted(
        o, &k, rc,
        json_pack("{s:s, s:s, s:b}", "bucket_name", bucket, "version", ref, "deleted", 1),
        "deleted version %s of bucket %s", ref, bucket);
}

/* --at / --in into rv->revoke_at (IG_TIME_NONE when neither). */
static int revoke_time(const char *at, const char *in, ig_time now, reg_revoke *rv)
{
    char err[256];
    const char *cmd = "version revoke";
    rv->revoke_at = IG_TIME_NONE;
    if (at && in)
        return regcli_usage(cmd, "--at and --in cannot be used together");
    if (at && ig_time_parse(at, &rv->revoke_at, err, sizeof err) < 0)
        return regcli_usage(cmd, "--at: %s", err);
    if (in) {
        int64_t ms;
        if (ig_duration_parse(in, &ms, err, sizeof err) < 0)
            return regcli_usage(cmd, "--in: %s", err);
        rv->revoke_at = now + ms;
    }
    return EXIT_OK;
}

static void print_revoked(json_t *v)
{
    bool now = strcmp(regcli_str(v, "status"), "VERSION_REVOKED") == 0;
    printf("%s %s %s (fingerprint %s) %s %s\n", now ? "revoked" : "scheduled revocation of",
           regcli_str(v, "bucket_name"), regcli_str(v, "name"), regcli_str(v, "fingerprint"),
           now ? "since" : "at", regcli_str(v, "revoke_at"));
}

/* A section of the dry run's text: its title, then a line per entry of arr
 * made by line(), or "none". */
static void dry_run_section(const char *title, json_t *arr, void (*line)(json_t *e))
{
    size_t i;
    json_t *e;
    printf("  %s:%s\n", title, json_array_size(arr) ? "" : " none");
    json_array_foreach(arr, i, e)
    {
        printf("    ");
        line(e);
        printf("\n");
    }
}

static void inherit_line(json_t *e)
{
    printf("%s %s", regcli_str(e, "bucket"), regcli_str(e, "version"));
}

static void channel_line(json_t *e)
{
    json_t *to = json_object_get(e, "to");
    printf("%s/%s: %s -> %s", regcli_str(e, "bucket"), regcli_str(e, "channel"),
           regcli_str(e, "from"), json_is_string(to) ? json_string_value(to) : "(emptied)");
}

static void workspace_line(json_t *e)
{
    if (json_is_string(json_object_get(e, "organization")))
        printf("%s/", regcli_str(e, "organization"));
    printf("%s (%s %s, last seen %s)", regcli_str(e, "workspace"), regcli_str(e, "bucket"),
           regcli_str(e, "version"), regcli_str(e, "last_seen"));
}

static void print_dry_run(json_t *d)
{
    printf("dry run: nothing was changed; this revocation would\n");
    dry_run_section("revoke by inheritance", json_object_get(d, "inherits"), inherit_line);
    dry_run_section("roll back channels", json_object_get(d, "channels"), channel_line);
    dry_run_section("touch workspaces that used these versions in the last 30 days",
                    json_object_get(d, "workspaces"), workspace_line);
}

static int version_revoke(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"at", required_argument, NULL, 'a'},
                                       {"in", required_argument, NULL, 'i'},
                                       {"message", required_argument, NULL, 'm'},
                                       {"skip-descendants", no_argument, NULL, 's'},
                                       {"keep-channels", no_argument, NULL, 'k'},
                                       {"dry-run", no_argument, NULL, 'd'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "version revoke", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage_revoke, 2, "BUCKET VERSION", &k.code))
        return k.code;
    reg_revoke rv = {
        .message = v[2], .skip_descendants = v[3] != NULL, .keep_channels = v[4] != NULL};
    if ((k.code = regcli_ctx(&k.ctx)) || (k.code = revoke_time(v[0], v[1], k.ctx.now, &rv)) ||
        !(k.r = cli_open_store(o, false, &k.code)))
        return k.code;
    const char *bucket = argv[optind], *ref = argv[optind + 1];
    if (v[5])
        return regcli_answer(
            o, &k,
            registry_version_revoke_dry_run(k.r, &k.ctx, bucket, ref, &rv, k.err, sizeof k.err),
            print_dry_run);
    return regcli_answer(
        o, &k, registry_version_revoke(k.r, &k.ctx, bucket, ref, &rv, k.err, sizeof k.err),
        print_revoked);
}

static void print_restored(json_t *v)
{
    printf("restored %s %s (fingerprint %s): now %s\n", regcli_str(v, "bucket_name"),
           regcli_str(v, "name"), regcli_str(v, "fingerprint"), regcli_str(v, "status"));
}

static int version_restore(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "version restore", usage_restore, 2, "BUCKET VERSION"))
        return k.code;
    json_t *v =
        registry_version_restore(k.r, &k.ctx, argv[optind], argv[optind + 1], k.err, sizeof k.err);
    return regcli_answer(o, &k, v, print_restored);
}

int cmd_version(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"list", version_list},
                                      {"show", version_show},
                                      {"delete", version_delete},
                                      {"revoke", version_revoke},
                                      {"restore", version_restore}};
    return regcli_dispatch(o, argc, argv, "version", usage, subs, sizeof subs / sizeof subs[0]);
}
