/* imagegate: one binary, one command per file. main() handles the global
 * options that may precede the command and dispatches. */
#include "cli/cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate [--db URL] [--json] COMMAND [ARGS]\n"
    "\n"
    "Image registry and Terraform run-task gate.\n"
    "\n"
    "Registry:\n"
    "  import MANIFEST --bucket NAME   publish a Packer manifest\n"
    "  bucket list|show|create|delete  buckets\n"
    "  version list|show|delete|revoke|restore\n"
    "  channel list|set|unset|history|delete\n"
    "  artifact find ID                which version an image belongs to\n"
    "  sbom add|list                   SBOMs of a version's builds\n"
    "  packages find NAME              which images ship a package (--version-below V)\n"
    "  audit list                      who changed what\n"
    "  usage BUCKET [VERSION]          which workspaces used an image\n"
    "Gate:\n"
    "  scan PLAN|-                     check a Terraform JSON plan\n"
    "  serve                           run the run-task webhook and registry API\n"
    "  token create|list|revoke        API tokens\n"
    "  webhook create|list|delete|deliveries|redeliver\n"
    "                                  event notifications (signed webhooks)\n"
    "\n"
    "Global options:\n"
    "  --db URL    store (env IMAGEGATE_DB; default sqlite:imagegate.db;\n"
    "              postgresql://... for a shared store)\n"
    "  --json      machine-readable output\n"
    "  --help      help for any command (imagegate COMMAND --help)\n"
    "  --version   print the version\n"
    "\n"
    "Exit status: 0 ok, 1 failing scan or refused change, 2 usage or bad input,\n"
    "3 store or server unavailable.\n";

typedef int (*cmd_fn)(cli_opts *, int, char **);
static const struct {
    const char *name;
    cmd_fn fn;
} commands[] = {
    {"import", cmd_import},   {"bucket", cmd_bucket},     {"version", cmd_version},
    {"channel", cmd_channel}, {"artifact", cmd_artifact}, {"audit", cmd_audit},
    {"scan", cmd_scan},       {"serve", cmd_serve},       {"token", cmd_token},
    {"usage", cmd_usage},     {"sbom", cmd_sbom},         {"packages", cmd_packages},
    {"webhook", cmd_webhook},
};

int main(int argc, char **argv)
{
    cli_opts o = {0};
    o.db_url = getenv("IMAGEGATE_DB");
    if (!o.db_url || !*o.db_url)
        o.db_url = "sqlite:imagegate.db";

    int i = 1;
    for (; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0) {
            o.json = true;
        } else if (strcmp(a, "--db") == 0) {
            if (i + 1 >= argc)
                return cli_usage_error(NULL, "--db needs a URL");
            o.db_url = argv[++i];
            o.db_flag = true;
        } else if (strncmp(a, "--db=", 5) == 0) {
            o.db_url = a + 5;
            o.db_flag = true;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 || strcmp(a, "help") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--version") == 0) {
            printf("imagegate %s\n", IG_VERSION);
            return EXIT_OK;
        } else if (a[0] == '-') {
            return cli_usage_error(NULL, "unknown option '%s'", a);
        } else {
            break;
        }
    }
    if (i >= argc)
        return cli_usage_error(NULL, "no command given");
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            return commands[k].fn(&o, argc - i, argv + i);
    return cli_usage_error(NULL, "unknown command '%s'", argv[i]);
}
