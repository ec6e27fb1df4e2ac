#include "cli/cli.h"

int cmd_channel(cli_opts *o, int argc, char **argv)
{
    (void)o;
    (void)argc;
    (void)argv;
    return cli_fail(EXIT_USAGE, "'channel' is not available in this build yet");
}
