/* What every command shares: the common options (--db, --json), the one-line
 * error and its exit status (PRODUCT.md section 2: 2 usage or bad input, 3 store
 * unavailable), opening the store without creating it by accident, the author
 * of a change (the OS user), and JSON output. */
#include "cli/cli.h"

#include "common/xalloc.h"

#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_common_opt(cli_opts *o, int c, const char *arg)
{
    switch (c) {
    case CLI_OPT_DB:
        o->db_url = arg;
        o->db_flag = true;
        return 1;
    case CLI_OPT_JSON:
        o->json = true;
        return 1;
    default:
        return 0;
    }
}

int cli_fail(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imagegate: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("imagegate: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    /* one line (PRODUCT.md section 2); the usage text is one --help away */
    fprintf(stderr, " (see 'imagegate%s%s --help')\n", cmd ? " " : "", cmd ? cmd : "");
    return EXIT_USAGE;
}

registry *cli_open_store(const cli_opts *o, bool create, int *exit_code)
{
    char err[512];
    int code = 0;
    registry *r = registry_open(o->db_url, create ? REG_OPEN_CREATE : 0, &code, err, sizeof err);
    if (!r) {
        *exit_code = code == REG_EINVAL ? EXIT_USAGE : EXIT_STORE;
        fprintf(stderr, "imagegate: %s\n", err);
    }
    return r;
}

int cli_exit_for(registry *r)
{
    switch (registry_errcode(r)) {
    case REG_OK:
        return EXIT_OK;
    case REG_ECONFLICT:
        return EXIT_REFUSED;
    case REG_EINVAL:
    case REG_ENOTFOUND:
        return EXIT_USAGE;
    default:
        return EXIT_STORE;
    }
}

const char *cli_author(void)
{
    static char name[128];
    if (name[0])
        return name;
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name)
        snprintf(name, sizeof name, "%s", pw->pw_name);
    else
        snprintf(name, sizeof name, "uid:%u", (unsigned)geteuid());
    return name;
}

void cli_print_json(FILE *f, json_t *j)
{
    json_dumpf(j, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    fputc('\n', f);
}

char *cli_read_input(const char *path, size_t max, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) {
        cli_fail(EXIT_USAGE, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0, got;
    char *buf = xmalloc(cap);
    do {
        if (n == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0 && n <= max);
    bool bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad || n > max) {
        free(buf);
        if (bad)
            cli_fail(EXIT_USAGE, "%s: cannot read: %s", path, strerror(errno));
        else
            cli_fail(EXIT_USAGE, "%s: larger than %zu bytes", path, max);
        return NULL;
    }
    *len = n;
    return buf;
}
