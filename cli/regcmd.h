/* Helpers shared by the registry commands (cmd_import, cmd_bucket,
 * cmd_version, cmd_channel, cmd_artifact, cmd_audit, cmd_token): subcommand
 * dispatch, option parsing with one-line errors, the logical clock, K=V
 * labels, plain-text tables and the two ends of a registry call (answer,
 * deleted). Single-threaded (getopt state). */
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

/* Parses a subcommand's options and checks for exactly n positionals
 * (names them in the error). lo: the subcommand's options, ending with
 * CLI_COMMON_LONGOPTS and a zero entry; the value of lo[i] lands in vals[i]
 * ("" for an option without a value; given twice, the last wins), so vals
 * has an entry per row of lo, NULL when not given. lo and vals NULL: the
 * common options only. Returns true to go on; false to stop with *code
 * (EXIT_OK after --help). */
bool regcli_args(cli_opts *o, int argc, char **argv, const struct option *lo, const char **vals,
                 const char *cmd, const char *usage, int n, const char *names, int *code);
/* A subcommand's registry call: the open store, the clock and author, the
 * exit status and the registry's error message. */
typedef struct regcli_call {
    registry *r;
    reg_ctx ctx;
    int code;
    char err[512];
} regcli_call;
/* For subcommands without options of their own: regcli_args, then
 * regcli_open into k. Returns true to go on; false to stop with k->code. */
bool regcli_simple(regcli_call *k, cli_opts *o, int argc, char **argv, const char *cmd,
                   const char *usage, int n, const char *names);
/* Ends a subcommand that reads or changes one thing: j (stolen) is the
 * registry's answer, NULL after a failure (k->err, printed). With --json
 * prints j, else print(j) (NULL: nothing). Closes k->r. Returns the exit
 * status. */
int regcli_answer(cli_opts *o, regcli_call *k, json_t *j, void (*print)(json_t *j));
/* Ends a delete: rc is the registry call's (-1: k->err is printed). With
 * --json prints j (stolen, what was deleted), else the line fmt. Closes
 * k->r. Returns the exit status. */
int regcli_deleted(cli_opts *o, regcli_call *k, int rc, json_t *j, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

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

/* One column of a list: its title and the member a cell shows, a dotted
 * path through nested objects ("version.name"). */
typedef struct regcli_col {
    const char *title, *path;
} regcli_col;
/* Prints the objects of arr as a plain-text table with aligned columns, a
 * row each: strings as they are,
 * integers in decimal, booleans yes/no, objects and arrays as compact JSON
 * with sorted keys, "-" for null, absent and "". */
void regcli_print_list(json_t *arr, const regcli_col *cols, size_t ncols);
#define REGCLI_NCOLS(cols) (sizeof(cols) / sizeof((cols)[0]))

#endif
