/* imagegate scan: a Terraform JSON plan against the registry, as a pipeline
 * gate. Local mode reads the store directly; --server sends the plan to a
 * running imagegate (POST /v1/scan) so CI runners need no database. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/regcmd.h"
#include "cli/scan_remote.h"
#include "policy/policy.h"
#include "rules/rules.h"
#include "scanners/scan.h"

static const char usage[] =
    "usage: imagegate scan PLAN|- [options]\n"
    "\n"
    "Checks a Terraform JSON plan (terraform show -json PLANFILE) against the registry.\n"
    "\n"
    "  --format FMT          text (default), json, markdown, sarif, junit\n"
    "  --output FILE         write the report to FILE instead of standard output\n"
    "  --fail-on LEVEL       fail (default): exit 1 on a fail verdict; warn: also on warn\n"
    "  --policy FILE         policy file (levels, overrides, exemptions; docs/policy.md)\n"
    "  --rules DIR           more rule files (*.yaml) besides the shipped ones (docs/rules.md)\n"
    "  --now RFC3339         evaluate revocations at this time instead of now\n"
    "  --organization NAME   for policy overrides and exemptions\n"
    "  --workspace NAME      for policy overrides and exemptions\n"
    "  --server URL          send the plan to a running imagegate (env IMAGEGATE_SERVER)\n"
    "  --token TOKEN         API token for --server (env IMAGEGATE_TOKEN)\n"
    "  --ca-file FILE        CA bundle to trust for --server\n"
    "  --db URL              the registry (env IMAGEGATE_DB, default sqlite:imagegate.db)\n"
    "\n"
    "Exit status: 0 pass or warn, 1 fail (or warn with --fail-on warn), 2 bad input,\n"
    "3 registry or server unavailable.\n";

enum {
    OPT_FORMAT = 2000,
    OPT_OUTPUT,
    OPT_FAIL_ON,
    OPT_POLICY,
    OPT_RULES,
    OPT_NOW,
    OPT_ORG,
    OPT_WS,
    OPT_SERVER,
    OPT_TOKEN,
    OPT_CA,
};

/* ---- the registry behind the policy's lookup interface ---------------- */

typedef struct lookup_ctx {
    registry *r;
    reg_ctx ctx;
} lookup_ctx;

static json_t *lk_find_image(void *p, const char *id, const char *platform)
{
    (void)platform; /* the policy narrows by platform itself */
    lookup_ctx *l = p;
    char err[256];
    return registry_artifact_find(l->r, &l->ctx, id, NULL, NULL, err, sizeof err);
}

static json_t *lk_channels(void *p, const char *bucket)
{
    lookup_ctx *l = p;
    char err[256];
    json_t *j = registry_channel_list(l->r, &l->ctx, bucket, err, sizeof err);
    if (!j && registry_errcode(l->r) == REG_ENOTFOUND)
        return json_array();
    return j;
}

static json_t *lk_find_version(void *p, const char *bucket, const char *ref)
{
    lookup_ctx *l = p;
    char err[256];
    json_t *j = registry_version_get(l->r, &l->ctx, bucket, ref, err, sizeof err);
    if (!j && (registry_errcode(l->r) == REG_ENOTFOUND || registry_errcode(l->r) == REG_EINVAL))
        return json_null();
    return j;
}

/* ---- command ----------------------------------------------------------- */

int cmd_scan(cli_opts *o, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"fail-on", required_argument, NULL, OPT_FAIL_ON},
        {"policy", required_argument, NULL, OPT_POLICY},
        {"rules", required_argument, NULL, OPT_RULES},
        {"now", required_argument, NULL, OPT_NOW},
        {"organization", required_argument, NULL, OPT_ORG},
        {"workspace", required_argument, NULL, OPT_WS},
        {"server", required_argument, NULL, OPT_SERVER},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"ca-file", required_argument, NULL, OPT_CA},
        CLI_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *format = NULL, *output = NULL, *fail_on = "fail", *policy_path = NULL,
               *rules_dir = NULL, *now_s = NULL, *org = NULL, *ws = NULL;
    const char *server = getenv("IMAGEGATE_SERVER"), *token = getenv("IMAGEGATE_TOKEN"),
               *ca_file = NULL;
    int c, code;
    optind = 1;
    while ((c = regcli_getopt(o, argc, argv, longopts, "scan", usage, &code)) != -1) {
        switch (c) {
        case -2:
            return code;
        case OPT_FORMAT:
            format = optarg;
            break;
        case OPT_OUTPUT:
            output = optarg;
            break;
        case OPT_FAIL_ON:
            fail_on = optarg;
            break;
        case OPT_POLICY:
            policy_path = optarg;
            break;
        case OPT_RULES:
            rules_dir = optarg;
            break;
        case OPT_NOW:
            now_s = optarg;
            break;
        case OPT_ORG:
            org = optarg;
            break;
        case OPT_WS:
            ws = optarg;
            break;
        case OPT_SERVER:
            server = optarg;
            break;
        case OPT_TOKEN:
            token = optarg;
            break;
        case OPT_CA:
            ca_file = optarg;
            break;
        default:
            return cli_usage_error("scan", "unexpected option");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("scan", "scan: give exactly one PLAN file (or - for stdin)");
    const char *plan = argv[optind];
    if (server && !*server)
        server = NULL;

    report_format fmt = REPORT_TEXT;
    if (!format && o->json)
        format = "json";
    if (format && report_format_parse(format, &fmt))
        return cli_usage_error("scan", "--format: '%s' is not text, json, markdown, sarif or junit",
                               format);
    policy_verdict fail_level;
    if (strcmp(fail_on, "fail") == 0)
        fail_level = POLICY_VERDICT_FAIL;
    else if (strcmp(fail_on, "warn") == 0)
        fail_level = POLICY_VERDICT_WARN;
    else
        return cli_usage_error("scan", "--fail-on: '%s' is neither warn nor fail", fail_on);
    char err[1024];
    ig_time now = ig_time_now();
    if (now_s && ig_time_parse(now_s, &now, err, sizeof err))
        return cli_fail(EXIT_USAGE, "--now: %s", err);

    if (server) {
        if (!token || !*token)
            return cli_usage_error("scan", "--server needs --token (or IMAGEGATE_TOKEN)");
        if (policy_path || rules_dir || now_s)
            return cli_usage_error("scan", "--policy, --rules and --now are the server's with "
                                           "--server");
        return scan_remote(server, token, ca_file, plan, format ? format : "text", org, ws, output,
                           fail_level);
    }

    int rc = EXIT_USAGE;
    rules *rs = NULL;
    policy *pol = NULL;
    registry *reg = NULL;
    scan_result *res = NULL;
    policy_report *rep = NULL;
    FILE *out = stdout;

    rs = rules_load(rules_dir, err, sizeof err);
    if (!rs) {
        rc = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    pol = policy_path ? policy_load(policy_path, err, sizeof err) : policy_default();
    if (!pol) {
        rc = cli_fail(EXIT_USAGE, "--policy %s", err); /* err starts with the file's name */
        goto out;
    }
    reg = cli_open_store(o, false, &code);
    if (!reg) {
        rc = code;
        goto out;
    }
    if (scan_plan_file(rs, NULL, plan, &res, err, sizeof err)) {
        rc = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    lookup_ctx lc = {reg, {cli_author(), now}};
    policy_lookup lk = {&lc, lk_find_image, lk_channels, lk_find_version};
    policy_scope scope = {org, ws, now};
    rep = policy_eval(pol, res, &lk, &scope, err, sizeof err);
    if (!rep) {
        rc = cli_fail(EXIT_STORE, "%s", err);
        goto out;
    }
    /* the report owns copies of what it needs: drop the references early */
    scan_result_free(res);
    res = NULL;
    if (output) {
        out = fopen(output, "w");
        if (!out) {
            out = stdout;
            rc = cli_fail(EXIT_USAGE, "--output %s: %s", output, strerror(errno));
            goto out;
        }
    }
    bool color = fmt == REPORT_TEXT && !output && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    if (report_write(rep, fmt, color, out) != 0 || fflush(out) != 0) {
        rc = cli_fail(EXIT_USAGE, "cannot write the report: %s", strerror(errno));
        goto out;
    }
    rc = policy_report_fails(rep, fail_level) ? EXIT_REFUSED : EXIT_OK;
out:
    if (out != stdout)
        fclose(out);
    policy_report_free(rep);
    scan_result_free(res);
    registry_close(reg);
    policy_free(pol);
    rules_free(rs);
    return rc;
}
