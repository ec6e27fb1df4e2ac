/* Helpers shared by the registry commands (cmd_import, cmd_bucket,
 * cmd_version, cmd_channel, cmd_artifact, cmd_audit, cmd_token): subcommand
 * dispatch, option parsing with one-line errors, the logical clock, K=V
 * labels and plain-text tables. Single-threaded (getopt state). */
#ifndef IG_CLI_REGCMD_H
#define IG_CLI_REGCMD_H

#include "cli/cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>

/* One subcommand: fn gets argv[0] = the subcommand's name. */
typedef struct regcli_sub {
    const char *name;
    int (*fn)(cli_opts *o, int argc, char **argv);
} regcli_sub;

/* Runs the subcommand named by the first non-option argument after argv[0]
 * (--db/--json before it are honoured, --help prints usage). cmd is the
 * command's name ("bucket"); usage its help text. Returns the exit status. */
int regcli_dispatch(cli_opts *o, int argc, char **argv, const char *cmd, const char *usage,
                    const regcli_sub *subs, size_t nsubs);

/* getopt_long over argv with the command's table lo (which must end with
 * CLI_COMMON_LONGOPTS and a zero entry). Returns the next option's value,
 * -1 at the end of the options, or -2 when the command must stop: *code is
 * then EXIT_OK after --help (usage printed on stdout) or EXIT_USAGE after a
 * one-line error. --db/--json are handled here. optind/optarg as getopt. */
int regcli_getopt(cli_opts *o, int argc, char **argv, const struct option *lo, const char *cmd,
                  const char *usage, int *code);

/* For subcommands without options of their own: parses the common options
 * and checks for exactly n positionals (names them in the error). Returns
 * true to go on; false to stop with *code (EXIT_OK after --help). */
bool regcli_simple(cli_opts *o, int argc, char **argv, const char *cmd, const char *usage, int n,
                   const char *names, int *code);

/* Prints "imagegate: CMD: message (see 'imagegate CMD --help')" on stderr;
 * returns EXIT_USAGE. */
int regcli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Checks that exactly n positional arguments follow optind. */
int regcli_positionals(int argc, char **argv, int n, const char *cmd, const char *names);
/* Prints the registry's error and returns the exit status for its class. */
int regcli_fail(registry *r, const char *err);

/* Fills ctx: author = the OS user, now = $IMAGEGATE_NOW (RFC 3339, a
 * testing aid) or the wall clock. Returns 0, or EXIT_USAGE after printing
 * an error about a bad IMAGEGATE_NOW. */
int regcli_ctx(reg_ctx *ctx);
/* regcli_ctx + cli_open_store. NULL with *code set on failure. */
registry *regcli_open(cli_opts *o, bool create, reg_ctx *ctx, int *code);
/* Adds "K=V" to obj. Returns 0, or -1 after printing an error naming flag. */
int regcli_label(json_t *obj, const char *kv, const char *cmd, const char *flag);

/* Display helpers: a string member, "-" when null or absent. */
const char *regcli_str(json_t *o, const char *key);

/* A plain-text table with aligned columns. */
typedef struct regcli_table {
    size_t ncols, nrows, cap;
    char **cells; /* row-major; row 0 is the header */
} regcli_table;
void regcli_table_init(regcli_table *t, size_t ncols, ...);
/* Adds a row of ncols strings (copied; NULL prints as "-"). */
void regcli_table_row(regcli_table *t, ...);
void regcli_table_print(const regcli_table *t, FILE *f);
void regcli_table_dispose(regcli_table *t);

#endif
