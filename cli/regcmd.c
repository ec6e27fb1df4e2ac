/* Shared plumbing of the registry commands. Errors are ONE line on stderr
 * (PRODUCT.md section 2): a usage error names the command and points at its
 * --help instead of dumping the whole usage text. */
#include "cli/regcmd.h"

#include "common/timeutil.h"
#include "common/xalloc.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int regcli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "imagegate: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see 'imagegate %s --help')\n", cmd);
    va_end(ap);
    return EXIT_USAGE;
}

int regcli_dispatch(cli_opts *o, int argc, char **argv, const char *cmd, const char *usage,
                    const regcli_sub *subs, size_t nsubs)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--db") == 0 && i + 1 < argc) {
            o->db_url = argv[++i];
        } else if (strncmp(a, "--db=", 5) == 0) {
            o->db_url = a + 5;
        } else {
            return regcli_usage(cmd, "unknown option '%s' before the subcommand", a);
        }
    }
    if (i >= argc)
        return regcli_usage(cmd, "no subcommand given");
    if (strcmp(argv[i], "help") == 0) {
        fputs(usage, stdout);
        return EXIT_OK;
    }
    for (size_t k = 0; k < nsubs; k++)
        if (strcmp(argv[i], subs[k].name) == 0) {
            optind = 0; /* full getopt re-initialisation (glibc) */
            return subs[k].fn(o, argc - i, argv + i);
        }
    return regcli_usage(cmd, "unknown subcommand '%s'", argv[i]);
}

int regcli_getopt(cli_opts *o, int argc, char **argv, const struct option *lo, const char *cmd,
                  const char *usage, int *code)
{
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, ":h", lo, NULL);
        switch (c) {
        case -1:
            return -1;
        case 'h':
            fputs(usage, stdout);
            *code = EXIT_OK;
            return -2;
        case ':':
            *code = regcli_usage(cmd, "option '%s' needs a value", argv[optind - 1]);
            return -2;
        case '?':
            if (optopt)
                *code = regcli_usage(cmd, "unknown option '-%c'", optopt);
            else
                *code = regcli_usage(cmd, "unknown option '%s'", argv[optind - 1]);
            return -2;
        default:
            if (cli_common_opt(o, c, optarg))
                continue;
            return c;
        }
    }
}

int regcli_positionals(int argc, char **argv, int n, const char *cmd, const char *names)
{
    int have = argc - optind;
    if (have < n)
        return regcli_usage(cmd, "missing %s", names);
    if (have > n)
        return regcli_usage(cmd, "unexpected argument '%s'", argv[optind + n]);
    return EXIT_OK;
}

bool regcli_args(cli_opts *o, int argc, char **argv, const struct option *lo, const char **vals,
                 const char *cmd, const char *usage, int n, const char *names, int *code)
{
    static const struct option common[] = {CLI_COMMON_LONGOPTS, {0}};
    int c;
    *code = EXIT_OK;
    while ((c = regcli_getopt(o, argc, argv, lo ? lo : common, cmd, usage, code)) != -1) {
        if (c == -2)
            return false;
        for (size_t i = 0; lo && lo[i].name; i++)
            if (lo[i].val == c && !lo[i].flag)
                vals[i] = lo[i].has_arg == no_argument ? "" : optarg;
    }
    *code = regcli_positionals(argc, argv, n, cmd, names);
    return *code == EXIT_OK;
}

bool regcli_simple(regcli_call *k, cli_opts *o, int argc, char **argv, const char *cmd,
                   const char *usage, int n, const char *names)
{
    k->r = NULL;
    k->err[0] = '\0';
    if (!regcli_args(o, argc, argv, NULL, NULL, cmd, usage, n, names, &k->code))
        return false;
    k->r = regcli_open(o, false, &k->ctx, &k->code);
    return k->r != NULL;
}

int regcli_answer(cli_opts *o, regcli_call *k, json_t *j, void (*print)(json_t *j))
{
    int code = j ? EXIT_OK : regcli_fail(k->r, k->err);
    if (j && o->json)
        cli_print_json(stdout, j);
    else if (j && print)
        print(j);
    json_decref(j);
    registry_close(k->r);
    k->r = NULL;
    return code;
}

int regcli_deleted(cli_opts *o, regcli_call *k, int rc, json_t *j, const char *fmt, ...)
{
    int code = rc < 0 ? regcli_fail(k->r, k->err) : EXIT_OK;
    if (rc == 0 && o->json) {
        cli_print_json(stdout, j);
    } else if (rc == 0) {
        va_list ap;
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
        putchar('\n');
    }
    json_decref(j);
    registry_close(k->r);
    k->r = NULL;
    return code;
}

registry *regcli_open(cli_opts *o, bool create, reg_ctx *ctx, int *code)
{
    if ((*code = regcli_ctx(ctx)) != EXIT_OK)
        return NULL;
    return cli_open_store(o, create, code);
}

int regcli_fail(registry *r, const char *err)
{
    fprintf(stderr, "imagegate: %s\n", err);
    return cli_exit_for(r);
}

int regcli_ctx(reg_ctx *ctx)
{
    ctx->author = cli_author();
    ctx->now = ig_time_now();
    const char *fake = getenv("IMAGEGATE_NOW");
    if (fake && *fake) {
        char err[256];
        if (ig_time_parse(fake, &ctx->now, err, sizeof err) < 0)
            return cli_fail(EXIT_USAGE, "IMAGEGATE_NOW: %s", err);
    }
    return EXIT_OK;
}

int regcli_label(json_t *obj, const char *kv, const char *cmd, const char *flag)
{
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        regcli_usage(cmd, "%s '%.60s': expected KEY=VALUE", flag, kv);
        return -1;
    }
    char *key = xstrndup(kv, (size_t)(eq - kv));
    json_object_set_new(obj, key, json_string(eq + 1));
    free(key);
    return 0;
}

const char *regcli_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s && *s ? s : "-";
}

/* The member at a dotted path of o. */
static json_t *member(json_t *o, const char *path)
{
    const char *dot;
    while ((dot = strchr(path, '.')) != NULL) {
        char *key = xstrndup(path, (size_t)(dot - path));
        o = json_object_get(o, key);
        free(key);
        path = dot + 1;
    }
    return json_object_get(o, path);
}

/* A table cell for v (new string), NULL for "-". */
static char *cell(json_t *v)
{
    if (json_is_string(v))
        return *json_string_value(v) ? xstrdup(json_string_value(v)) : NULL;
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "yes" : "no");
    if (json_is_object(v) || json_is_array(v))
        return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
    return NULL;
}

void regcli_print_list(json_t *arr, const regcli_col *cols, size_t ncols)
{
    size_t nrows = json_array_size(arr) + 1; /* row 0: the titles */
    char **cells = xcalloc(nrows * ncols, sizeof *cells);
    size_t *w = xcalloc(ncols, sizeof *w);
    for (size_t r = 0; r < nrows; r++)
        for (size_t c = 0; c < ncols; c++) {
            char *s =
                r ? cell(member(json_array_get(arr, r - 1), cols[c].path)) : xstrdup(cols[c].title);
            cells[r * ncols + c] = s ? s : xstrdup("-");
            if (strlen(cells[r * ncols + c]) > w[c])
                w[c] = strlen(cells[r * ncols + c]);
        }
    for (size_t i = 0; i < nrows * ncols; i++) {
        if ((i + 1) % ncols == 0)
            printf("%s\n", cells[i]);
        else
            printf("%-*s  ", (int)w[i % ncols], cells[i]);
        free(cells[i]);
    }
    free(cells);
    free(w);
}
