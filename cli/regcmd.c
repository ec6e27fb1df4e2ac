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

bool regcli_simple(cli_opts *o, int argc, char **argv, const char *cmd, const char *usage, int n,
                   const char *names, int *code)
{
    static const struct option lo[] = {CLI_COMMON_LONGOPTS, {0}};
    int c;
    *code = EXIT_OK;
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage, code)) != -1)
        if (c == -2)
            return false;
    *code = regcli_positionals(argc, argv, n, cmd, names);
    return *code == EXIT_OK;
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

void regcli_table_init(regcli_table *t, size_t ncols, ...)
{
    memset(t, 0, sizeof *t);
    t->ncols = ncols;
    va_list ap;
    va_start(ap, ncols);
    xgrow((void **)&t->cells, &t->cap, ncols, sizeof *t->cells);
    for (size_t i = 0; i < ncols; i++)
        t->cells[i] = xstrdup(va_arg(ap, const char *));
    va_end(ap);
    t->nrows = 1;
}

void regcli_table_row(regcli_table *t, ...)
{
    va_list ap;
    va_start(ap, t);
    xgrow((void **)&t->cells, &t->cap, (t->nrows + 1) * t->ncols, sizeof *t->cells);
    for (size_t i = 0; i < t->ncols; i++) {
        const char *s = va_arg(ap, const char *);
        t->cells[t->nrows * t->ncols + i] = xstrdup(s ? s : "-");
    }
    va_end(ap);
    t->nrows++;
}

void regcli_table_print(const regcli_table *t, FILE *f)
{
    size_t *w = xcalloc(t->ncols, sizeof *w);
    for (size_t r = 0; r < t->nrows; r++)
        for (size_t c = 0; c < t->ncols; c++) {
            size_t n = strlen(t->cells[r * t->ncols + c]);
            if (n > w[c])
                w[c] = n;
        }
    for (size_t r = 0; r < t->nrows; r++) {
        for (size_t c = 0; c < t->ncols; c++) {
            const char *s = t->cells[r * t->ncols + c];
            if (c + 1 == t->ncols)
                fprintf(f, "%s\n", s);
            else
                fprintf(f, "%-*s  ", (int)w[c], s);
        }
    }
    free(w);
}

void regcli_table_dispose(regcli_table *t)
{
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    memset(t, 0, sizeof *t);
}
