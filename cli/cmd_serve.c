/* imagegate serve: builds the configuration (flags, IMAGEGATE_*, file,
 * defaults) and runs the daemon in webhook/. */
#include "cli/cli.h"

#include "webhook/config.h"
#include "webhook/server.h"

#include <stdlib.h>
#include <string.h>

int cmd_serve(cli_opts *o, int argc, char **argv)
{
    char err[1024];
    bool help = false;
    /* main() already folded IMAGEGATE_DB and the default into o->db_url; only
     * a --db given on the command line is a flag (the config table applies the
     * environment and the default itself, in its own order). */
    const char *db_flag = o->db_flag ? o->db_url : NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            o->json = true;
    }
    webhook_config *cfg = webhook_config_load(argc, argv, db_flag, NULL, &help, err, sizeof err);
    if (!cfg) {
        if (help) {
            webhook_config_usage(stdout);
            return EXIT_OK;
        }
        return cli_fail(EXIT_USAGE, "serve: %s", err);
    }
    int rc = webhook_serve(cfg);
    webhook_config_free(cfg);
    return rc;
}
