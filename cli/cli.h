/* Shared pieces of the command line: global options, exit codes, opening the
 * store with the right exit code, printing JSON. One file per command
 * (cmd_*.c) implements int cmd_NAME(cli_opts *, int argc, char **argv) with
 * argv[0] = the command name; it returns the process exit status. */
#ifndef IG_CLI_H
#define IG_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "registry/registry.h"

/* Exit statuses (PRODUCT.md section 2). */
enum {
    EXIT_OK = 0,
    EXIT_REFUSED = 1, /* a failing scan, or a state change the registry refuses */
    EXIT_USAGE = 2,   /* usage or bad input, including names that do not exist */
    EXIT_STORE = 3,   /* store or server unavailable */
};

typedef struct cli_opts {
    const char *db_url; /* --db, IMAGEGATE_DB, default sqlite:imagegate.db */
    bool db_flag;       /* db_url came from a --db on the command line */
    bool json;          /* --json */
} cli_opts;

/* Long options every command accepts besides its own; use CLI_COMMON_LONGOPTS
 * at the end of a command's option table and pass unknown ones to
 * cli_common_opt(). */
#define CLI_OPT_DB 1000
#define CLI_OPT_JSON 1001
#define CLI_OPT_HELP 'h'
/* clang-format 14 would re-indent the last entry as a nested initializer. */
// clang-format off
#define CLI_COMMON_LONGOPTS                                                                        \
    {"db", required_argument, NULL, CLI_OPT_DB}, {"json", no_argument, NULL, CLI_OPT_JSON},        \
    {"help", no_argument, NULL, CLI_OPT_HELP}
// clang-format on

/* Handles --db / --json. Returns 1 when c was one of them, else 0. */
int cli_common_opt(cli_opts *o, int c, const char *arg);

/* Prints "imagegate: msg" on stderr; returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "imagegate: msg (see 'imagegate CMD --help')" as one line on stderr
 * (cmd NULL: the top-level help) and returns EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Opens the store: create=true only for import, bucket create and serve.
 * On failure prints one line and sets *exit_code (EXIT_STORE). */
registry *cli_open_store(const cli_opts *o, bool create, int *exit_code);
/* Maps the registry's last error class to an exit status. */
int cli_exit_for(registry *r);
/* The OS user name, for the audit trail. */
const char *cli_author(void);
/* All of path ("-" = stdin) in a new buffer of *len bytes, at most max;
 * NULL after printing one line (cannot read, or larger than max). */
char *cli_read_input(const char *path, size_t max, size_t *len);
/* Dumps j (borrowed) as indented JSON with a newline. */
void cli_print_json(FILE *f, json_t *j);

int cmd_import(cli_opts *o, int argc, char **argv);
int cmd_bucket(cli_opts *o, int argc, char **argv);
int cmd_version(cli_opts *o, int argc, char **argv);
int cmd_channel(cli_opts *o, int argc, char **argv);
int cmd_artifact(cli_opts *o, int argc, char **argv);
int cmd_audit(cli_opts *o, int argc, char **argv);
int cmd_scan(cli_opts *o, int argc, char **argv);
int cmd_serve(cli_opts *o, int argc, char **argv);
int cmd_token(cli_opts *o, int argc, char **argv);
int cmd_usage(cli_opts *o, int argc, char **argv);
int cmd_sbom(cli_opts *o, int argc, char **argv);
int cmd_packages(cli_opts *o, int argc, char **argv);
int cmd_webhook(cli_opts *o, int argc, char **argv);

#endif
