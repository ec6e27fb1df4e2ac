/* imagegate token create --name N --role read|write|admin | list | revoke NAME */
#include "cli/regcmd.h"

#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate token create --name NAME --role read|write|admin\n"
    "       imagegate token list\n"
    "       imagegate token revoke NAME\n"
    "\n"
    "Bearer tokens for the server's API. 'read' tokens read and scan, 'write'\n"
    "tokens also publish and assign channels, 'admin' tokens also revoke,\n"
    "restore, delete and manage tokens. The secret is printed once by 'create'\n"
    "and never stored (only its SHA-256). 'create' makes the SQLite store file\n"
    "when it does not exist yet, as 'serve' does.\n"
    "Options: --db URL, --json, --help (also after the subcommand).\n";

static const char usage_create[] =
    "usage: imagegate token create --name NAME --role read|write|admin [--json] [--db URL]\n"
    "\nCreates a token and prints its secret (once).\n";
static const char usage_list[] = "usage: imagegate token list [--json] [--db URL]\n"
                                 "\nLists tokens (names, roles, last use; never secrets).\n";
static const char usage_revoke[] = "usage: imagegate token revoke NAME [--json] [--db URL]\n"
                                   "\nDeletes a token; it stops working at once.\n";

static int token_create(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {{"name", required_argument, NULL, 'n'},
                                       {"role", required_argument, NULL, 'r'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "token create", *v[sizeof lo / sizeof lo[0]] = {0};
    int code;
    char err[512], *secret = NULL;
    reg_ctx ctx;
    reg_role role;
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage_create, 0, "", &code))
        return code;
    const char *name = v[0];
    if (!name)
        return regcli_usage(cmd, "--name is required");
    if (!v[1] || registry_role_parse(v[1], &role) < 0)
        return regcli_usage(cmd, "--role must be read, write or admin");
    /* PRODUCT.md section 2: only import, bucket create and serve create a
     * store; a token for a store that does not exist yet is a mistake (a
     * wrong --db) more often than not */
    registry *r = regcli_open(o, false, &ctx, &code);
    if (!r)
        return code;
    if (registry_token_create(r, &ctx, name, role, &secret, err, sizeof err) < 0) {
        code = regcli_fail(r, err);
    } else if (o->json) {
        json_t *j = json_pack("{s:s, s:s, s:s}", "name", name, "role", registry_role_name(role),
                              "secret", secret);
        cli_print_json(stdout, j);
        json_decref(j);
    } else {
        printf("created token %s (role %s); its secret, shown only now:\n%s\n", name,
               registry_role_name(role), secret);
    }
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
    registry_close(r);
    return code;
}

static void print_tokens(json_t *arr)
{
    static const regcli_col cols[] = {
        {"NAME", "name"},
        {"ROLE", "role"},
        {"CREATED_BY", "created_by"},
        {"CREATED", "created_at"},
        {"LAST_USED", "last_used_at"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int token_list(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "token list", usage_list, 0, ""))
        return k.code;
    return regcli_answer(o, &k, registry_token_list(k.r, k.err, sizeof k.err), print_tokens);
}

static int token_revoke(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "token revoke", usage_revoke, 1, "NAME"))
        return k.code;
    const char *name = argv[optind];
    int rc = registry_token_revoke(k.r, &k.ctx, name, k.err, sizeof k.err);
    return regcli_deleted(o, &k, rc, json_pack("{s:s, s:b}", "name", name, "revoked", 1),
                          "revoked token %s", name);
}

int cmd_token(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {
        {"create", token_create}, {"list", token_list}, {"revoke", token_revoke}};
    return regcli_dispatch(o, argc, argv, "token", usage, subs, sizeof subs / sizeof subs[0]);
}
