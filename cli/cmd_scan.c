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
    "  --now RFC3339         judge revocations and image ages at this time, not now\n"
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

typedef struct scan_args {
    const char *plan;
    /* as given (each OPT_* fills one: see scan_options) */
    const char *format, *output, *fail_on, *policy_path, *rules_dir, *now_s, *org, *ws, *server,
        *token, *ca_file;
    /* checked and converted */
    report_format fmt;
    policy_verdict fail_level;
    ig_time now;
} scan_args;

/* Reads the options into a. Returns -1, or the exit status (--help, a
 * usage error). */
static int scan_options(cli_opts *o, int argc, char **argv, scan_args *a)
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
    const char **slot[] = {
        [OPT_FORMAT - OPT_FORMAT] = &a->format,   [OPT_OUTPUT - OPT_FORMAT] = &a->output,
        [OPT_FAIL_ON - OPT_FORMAT] = &a->fail_on, [OPT_POLICY - OPT_FORMAT] = &a->policy_path,
        [OPT_RULES - OPT_FORMAT] = &a->rules_dir, [OPT_NOW - OPT_FORMAT] = &a->now_s,
        [OPT_ORG - OPT_FORMAT] = &a->org,         [OPT_WS - OPT_FORMAT] = &a->ws,
        [OPT_SERVER - OPT_FORMAT] = &a->server,   [OPT_TOKEN - OPT_FORMAT] = &a->token,
        [OPT_CA - OPT_FORMAT] = &a->ca_file,
    };
    int c, code;
    optind = 1;
    while ((c = regcli_getopt(o, argc, argv, longopts, "scan", usage, &code)) != -1) {
        if (c == -2)
            return code;
        if (c < OPT_FORMAT || c > OPT_CA)
            return cli_usage_error("scan", "unexpected option");
        *slot[c - OPT_FORMAT] = optarg;
    }
    if (optind + 1 != argc)
        return cli_usage_error("scan", "scan: give exactly one PLAN file (or - for stdin)");
    a->plan = argv[optind];
    return -1;
}

/* Checks and converts the options. Returns -1, or the exit status of a
 * usage error. */
static int scan_settle(const cli_opts *o, scan_args *a)
{
    if (a->server && !*a->server)
        a->server = NULL;
    a->fmt = REPORT_TEXT;
    if (!a->format && o->json)
        a->format = "json";
    if (a->format && report_format_parse(a->format, &a->fmt))
        return cli_usage_error("scan", "--format: '%s' is not text, json, markdown, sarif or junit",
                               a->format);
    if (strcmp(a->fail_on, "fail") == 0)
        a->fail_level = POLICY_VERDICT_FAIL;
    else if (strcmp(a->fail_on, "warn") == 0)
        a->fail_level = POLICY_VERDICT_WARN;
    else
        return cli_usage_error("scan", "--fail-on: '%s' is neither warn nor fail", a->fail_on);
    char err[1024];
    a->now = ig_time_now();
    if (a->now_s && ig_time_parse(a->now_s, &a->now, err, sizeof err))
        return cli_fail(EXIT_USAGE, "--now: %s", err);
    if (!a->server)
        return -1;
    if (!a->token || !*a->token)
        return cli_usage_error("scan", "--server needs --token (or IMAGEGATE_TOKEN)");
    if (a->policy_path || a->rules_dir || a->now_s)
        return cli_usage_error("scan", "--policy, --rules and --now are the server's with "
                                       "--server");
    return -1;
}

/* Writes the report to --output (opened only now) or standard output.
 * Returns the exit status. */
static int scan_write(const policy_report *rep, const scan_args *a)
{
    FILE *out = stdout;
    if (a->output && !(out = fopen(a->output, "w")))
        return cli_fail(EXIT_USAGE, "--output %s: %s", a->output, strerror(errno));
    int rc = policy_report_fails(rep, a->fail_level) ? EXIT_REFUSED : EXIT_OK;
    bool color =
        a->fmt == REPORT_TEXT && !a->output && isatty(STDOUT_FILENO) && !getenv("NO_COLOR");
    if (report_write(rep, a->fmt, color, out) != 0 || fflush(out) != 0)
        rc = cli_fail(EXIT_USAGE, "cannot write the report: %s", strerror(errno));
    if (out != stdout)
        fclose(out);
    return rc;
}

/* The scan against the store itself: rules, policy, store, plan, report. */
static int scan_local(cli_opts *o, const scan_args *a)
{
    int rc = EXIT_USAGE, code;
    char err[1024];
    policy *pol = NULL;
    registry *reg = NULL;
    scan_result *res = NULL;
    policy_report *rep = NULL;
    rules *rs = rules_load(a->rules_dir, err, sizeof err);
    if (!rs) {
        rc = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    pol = a->policy_path ? policy_load(a->policy_path, err, sizeof err) : policy_default();
    if (!pol) {
        rc = cli_fail(EXIT_USAGE, "--policy %s", err); /* err starts with the file's name */
        goto out;
    }
    reg = cli_open_store(o, false, &code);
    if (!reg) {
        rc = code;
        goto out;
    }
    if (scan_plan_file(rs, NULL, a->plan, &res, err, sizeof err)) {
        rc = cli_fail(EXIT_USAGE, "%s", err);
        goto out;
    }
    lookup_ctx lc = {reg, {cli_author(), a->now}};
    policy_lookup lk = {&lc, lk_find_image, lk_channels, lk_find_version};
    policy_scope scope = {a->org, a->ws, a->now};
    rep = policy_eval(pol, res, &lk, &scope, err, sizeof err);
    if (!rep) {
        rc = cli_fail(EXIT_STORE, "%s", err);
        goto out;
    }
    /* the report owns copies of what it needs: drop the references early */
    scan_result_free(res);
    res = NULL;
    rc = scan_write(rep, a);
out:
    policy_report_free(rep);
    scan_result_free(res);
    registry_close(reg);
    policy_free(pol);
    rules_free(rs);
    return rc;
}

int cmd_scan(cli_opts *o, int argc, char **argv)
{
    scan_args a = {
        .fail_on = "fail",
        .server = getenv("IMAGEGATE_SERVER"),
        .token = getenv("IMAGEGATE_TOKEN"),
    };
    int code = scan_options(o, argc, argv, &a);
    if (code < 0)
        code = scan_settle(o, &a);
    if (code >= 0)
        return code;
    if (a.server)
        return scan_remote(a.server, a.token, a.ca_file, a.plan, a.format ? a.format : "text",
                           a.org, a.ws, a.output, a.fail_level);
    return scan_local(o, &a);
}
