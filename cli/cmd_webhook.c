/* imagegate webhook create | list | delete | deliveries | redeliver
 *
 * Event notification webhooks on the command line (docs/events.md). The
 * registry keeps them; a running `imagegate serve` sends what the outbox
 * holds. `create` sends HCP's verification event from this process first
 * (notify/, the same code the server sends with), so it needs the network
 * settings a server would use: --ca-file and --webhook-allow-network, or
 * their IMAGEGATE_CA_FILE / IMAGEGATE_WEBHOOK_ALLOW_NETWORK variables. */
#include "cli/regcmd.h"

#include "common/numparse.h"
#include "common/xalloc.h"
#include "notify/notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: imagegate webhook create --name NAME --url URL [--secret-file FILE]\n"
    "                                [--event ACTION]... [--bucket BUCKET]... [--no-verify]\n"
    "                                [--ca-file FILE] [--webhook-allow-network CIDR]...\n"
    "       imagegate webhook list\n"
    "       imagegate webhook delete NAME\n"
    "       imagegate webhook deliveries NAME [--limit N]\n"
    "       imagegate webhook redeliver EVENT_ID [--webhook NAME]\n"
    "\n"
    "Webhooks receive HCP Packer's version events (create, complete, revoke,\n"
    "restore, delete, schedule-revocation, cancel-revocation, assign) for every\n"
    "registry change, signed with the webhook's secret (X-Hcp-Webhook-Signature).\n"
    "A running 'imagegate serve' delivers them; changes made while none runs are\n"
    "delivered when one starts. Secrets are never listed.\n"
    "Options: --db URL, --json, --help (also after the subcommand).\n";

static const char usage_create[] =
    "usage: imagegate webhook create --name NAME --url URL [--secret-file FILE]\n"
    "           [--event ACTION]... [--bucket BUCKET]... [--no-verify] [--ca-file FILE]\n"
    "           [--webhook-allow-network CIDR]... [--timeout DURATION] [--json] [--db URL]\n"
    "\nSends HCP's verification event to URL, signed with the secret (the first line\n"
    "of FILE, or a new random one printed once), and creates the webhook when the\n"
    "receiver answers 2xx (--no-verify: without asking). --event and --bucket narrow\n"
    "what it gets (default: every action of every bucket). Loopback, private,\n"
    "link-local and other special addresses are refused unless a\n"
    "--webhook-allow-network CIDR (env IMAGEGATE_WEBHOOK_ALLOW_NETWORK) covers them.\n"
    "Exit 1 when the receiver answers something else, 2 when the address is\n"
    "refused, 3 when it cannot be reached.\n";
static const char usage_list[] = "usage: imagegate webhook list [--json] [--db URL]\n"
                                 "\nLists webhooks and their delivery counts (never secrets).\n";
static const char usage_delete[] = "usage: imagegate webhook delete NAME [--json] [--db URL]\n"
                                   "\nDeletes a webhook and what it has still to be sent.\n";
static const char usage_deliveries[] =
    "usage: imagegate webhook deliveries NAME [--limit N] [--json] [--db URL]\n"
    "\nThe webhook's newest deliveries (default 100) with every attempt: its time,\n"
    "HTTP status, latency and the first 512 bytes of the answer, or the error.\n";
static const char usage_redeliver[] =
    "usage: imagegate webhook redeliver EVENT_ID [--webhook NAME] [--json] [--db URL]\n"
    "\nSends an event again to every webhook that had it (or to NAME): a new\n"
    "delivery at the end of its queue.\n";

/* ---- create ------------------------------------------------------------- */

typedef struct create_args {
    const char *name, *url, *secret_file, *ca_file, *timeout;
    const char **events, **buckets;
    size_t n_events, n_buckets;
    notify_cidr *allow;
    size_t n_allow;
    bool no_verify;
} create_args;

static void create_args_dispose(create_args *a)
{
    free(a->events);
    free(a->buckets);
    free(a->allow);
}

static void push(const char ***v, size_t *n, const char *s)
{
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[(*n)++] = s;
}

/* Adds the CIDRs of text (commas or spaces between them). */
static int add_networks(create_args *a, const char *text, const char *what)
{
    char *copy = xstrdup(text), *save = NULL, err[200];
    int rc = 0;
    for (char *t = strtok_r(copy, ", \t", &save); t && rc == 0; t = strtok_r(NULL, ", \t", &save)) {
        a->allow = xrealloc(a->allow, (a->n_allow + 1) * sizeof *a->allow);
        if (notify_cidr_parse(t, &a->allow[a->n_allow], err, sizeof err) < 0)
            rc = regcli_usage("webhook create", "%s: %s", what, err);
        else
            a->n_allow++;
    }
    free(copy);
    return rc;
}

static int create_parse(cli_opts *o, int argc, char **argv, create_args *a)
{
    static const struct option lo[] = {{"name", required_argument, NULL, 'n'},
                                       {"url", required_argument, NULL, 'u'},
                                       {"secret-file", required_argument, NULL, 's'},
                                       {"event", required_argument, NULL, 'e'},
                                       {"bucket", required_argument, NULL, 'b'},
                                       {"no-verify", no_argument, NULL, 'V'},
                                       {"ca-file", required_argument, NULL, 'c'},
                                       {"webhook-allow-network", required_argument, NULL, 'a'},
                                       {"timeout", required_argument, NULL, 't'},
                                       CLI_COMMON_LONGOPTS,
                                       {0}};
    const char *cmd = "webhook create", *env = getenv("IMAGEGATE_WEBHOOK_ALLOW_NETWORK");
    int c, code = EXIT_OK;
    bool net_flag = false;
    a->ca_file = getenv("IMAGEGATE_CA_FILE");
    while ((c = regcli_getopt(o, argc, argv, lo, cmd, usage_create, &code)) != -1) {
        if (c == -2)
            return code == EXIT_OK ? -1 : code;
        switch (c) {
        case 'n':
            a->name = optarg;
            break;
        case 'u':
            a->url = optarg;
            break;
        case 's':
            a->secret_file = optarg;
            break;
        case 'e':
            push(&a->events, &a->n_events, optarg);
            break;
        case 'b':
            push(&a->buckets, &a->n_buckets, optarg);
            break;
        case 'V':
            a->no_verify = true;
            break;
        case 'c':
            a->ca_file = optarg;
            break;
        case 't':
            a->timeout = optarg;
            break;
        case 'a':
            net_flag = true;
            if ((code = add_networks(a, optarg, "--webhook-allow-network")) != EXIT_OK)
                return code;
            break;
        }
    }
    if ((code = regcli_positionals(argc, argv, 0, cmd, "")) != EXIT_OK)
        return code;
    if (!net_flag && env && *env &&
        (code = add_networks(a, env, "IMAGEGATE_WEBHOOK_ALLOW_NETWORK")) != EXIT_OK)
        return code;
    if (!a->name || !a->url)
        return regcli_usage(cmd, "--name and --url are required");
    return EXIT_OK;
}

/* The first line of path, trimmed (new string), or NULL after a message. */
static char *read_secret(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        cli_fail(EXIT_USAGE, "--secret-file %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[2048];
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t n = line ? strcspn(buf, "\r\n") : 0;
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    char *s = n ? xstrndup(buf, n) : NULL;
    explicit_bzero(buf, sizeof buf);
    if (!s)
        cli_fail(EXIT_USAGE, "--secret-file %s: the first line holds no secret", path);
    return s;
}

/* Sends the verification event; returns EXIT_OK or the exit status after
 * saying why. */
static int verify(const create_args *a, const char *secret)
{
    char err[1024];
    int64_t timeout = 10000;
    if (a->timeout && ig_duration_parse(a->timeout, &timeout, err, sizeof err) < 0)
        return cli_fail(EXIT_USAGE, "webhook create: --timeout: %s", err);
    notify_opts o = {.ca_file = a->ca_file,
                     .connect_timeout_ms = timeout,
                     .timeout_ms = timeout,
                     .allow = a->allow,
                     .n_allow = a->n_allow};
    curl_global_init(CURL_GLOBAL_DEFAULT);
    notify_verify_result v = notify_verify(&o, a->url, secret, err, sizeof err);
    curl_global_cleanup();
    if (v == NOTIFY_VERIFIED)
        return EXIT_OK;
    int code = v == NOTIFY_VERIFY_REFUSED       ? EXIT_USAGE
               : v == NOTIFY_VERIFY_UNREACHABLE ? EXIT_STORE
                                                : EXIT_REFUSED;
    return cli_fail(code,
                    "webhook create: webhook '%s' not created: %s (--no-verify creates it "
                    "without asking)",
                    a->name, err);
}

static void print_created(json_t *w, const char *made)
{
    printf("created webhook %s for %s\n", regcli_str(w, "name"), regcli_str(w, "url"));
    if (made)
        printf("its secret, shown only now (receivers check signatures with it):\n%s\n", made);
}

/* Checks, verifies and stores; a and secret are the parsed request. */
static int create_run(cli_opts *o, const create_args *a, const char *secret, const char *made)
{
    reg_webhook_spec s = {a->name,     a->url,     secret,      a->events,
                          a->n_events, a->buckets, a->n_buckets};
    regcli_call k = {0};
    if (registry_webhook_check(&s, k.err, sizeof k.err) < 0)
        return cli_fail(EXIT_USAGE, "webhook create: %s", k.err);
    if (!(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    json_t *taken = registry_webhook_get(k.r, a->name, k.err, sizeof k.err);
    if (taken || registry_errcode(k.r) != REG_ENOTFOUND) {
        k.code = taken ? cli_fail(EXIT_REFUSED, "webhook '%s' already exists", a->name)
                       : regcli_fail(k.r, k.err);
        json_decref(taken);
        registry_close(k.r);
        return k.code;
    }
    if (!a->no_verify && (k.code = verify(a, secret)) != EXIT_OK) {
        registry_close(k.r);
        return k.code;
    }
    json_t *w = registry_webhook_create(k.r, &k.ctx, &s, k.err, sizeof k.err);
    if (w && o->json && made)
        json_object_set_new(w, "secret", json_string(made));
    if (w && !o->json)
        print_created(w, made);
    return regcli_answer(o, &k, w, NULL);
}

static int webhook_create(cli_opts *o, int argc, char **argv)
{
    create_args a = {0};
    char *secret = NULL;
    int code = create_parse(o, argc, argv, &a);
    if (code < 0) {
        code = EXIT_OK; /* --help */
    } else if (code == EXIT_OK) {
        bool made = !a.secret_file;
        secret = made ? notify_new_secret() : read_secret(a.secret_file);
        code = secret ? create_run(o, &a, secret, made ? secret : NULL) : EXIT_USAGE;
    }
    if (secret) {
        explicit_bzero(secret, strlen(secret));
        free(secret);
    }
    create_args_dispose(&a);
    return code;
}

/* ---- list, delete ------------------------------------------------------- */

static void print_webhooks(json_t *arr)
{
    static const regcli_col cols[] = {
        {"NAME", "name"},       {"URL", "url"},
        {"EVENTS", "events"},   {"BUCKETS", "buckets"},
        {"PENDING", "pending"}, {"DELIVERED", "delivered"},
        {"FAILED", "failed"},   {"CREATED", "created_at"},
    };
    regcli_print_list(arr, cols, REGCLI_NCOLS(cols));
}

static int webhook_list(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "webhook list", usage_list, 0, ""))
        return k.code;
    return regcli_answer(o, &k, registry_webhook_list(k.r, k.err, sizeof k.err), print_webhooks);
}

static int webhook_delete(cli_opts *o, int argc, char **argv)
{
    regcli_call k;
    if (!regcli_simple(&k, o, argc, argv, "webhook delete", usage_delete, 1, "NAME"))
        return k.code;
    const char *name = argv[optind];
    int rc = registry_webhook_delete(k.r, &k.ctx, name, k.err, sizeof k.err);
    return regcli_deleted(o, &k, rc, json_pack("{s:s, s:b}", "name", name, "deleted", 1),
                          "deleted webhook %s", name);
}

/* ---- deliveries, redeliver ---------------------------------------------- */

static void print_deliveries(json_t *arr)
{
    size_t i, k;
    json_t *d, *a;
    json_array_foreach(arr, i, d)
    {
        printf("%s  %s %s %s  %s after %lld attempt(s)%s\n", regcli_str(d, "event_id"),
               regcli_str(d, "action"), regcli_str(d, "bucket"), regcli_str(d, "version"),
               regcli_str(d, "state"),
               (long long)json_integer_value(json_object_get(d, "attempts")),
               json_is_true(json_object_get(d, "redelivery")) ? " (redelivery)" : "");
        json_array_foreach(json_object_get(d, "log"), k, a)
        {
            const char *why = json_string_value(json_object_get(a, "error"));
            const char *resp = json_string_value(json_object_get(a, "response"));
            printf("    %s  HTTP %lld  %lld ms  %.120s\n", regcli_str(a, "at"),
                   (long long)json_integer_value(json_object_get(a, "status")),
                   (long long)json_integer_value(json_object_get(a, "latency_ms")),
                   resp && *resp ? resp
                   : why         ? why
                                 : "");
        }
    }
}

static int webhook_deliveries(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"limit", required_argument, NULL, 'l'}, CLI_COMMON_LONGOPTS, {0}};
    const char *cmd = "webhook deliveries", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    int64_t limit = 100;
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage_deliveries, 1, "NAME", &k.code))
        return k.code;
    if (v[0] && parse_int64("--limit", v[0], 1, 1000, &limit, k.err, sizeof k.err) < 0)
        return regcli_usage(cmd, "%s", k.err);
    if (!(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    return regcli_answer(
        o, &k, registry_webhook_deliveries(k.r, argv[optind], (int)limit, k.err, sizeof k.err),
        print_deliveries);
}

static void print_redelivered(json_t *arr)
{
    size_t i;
    json_t *d;
    json_array_foreach(arr, i, d)
    {
        printf("queued again for webhook %s (delivery %s)\n", regcli_str(d, "webhook"),
               regcli_str(d, "delivery_id"));
    }
}

static int webhook_redeliver(cli_opts *o, int argc, char **argv)
{
    static const struct option lo[] = {
        {"webhook", required_argument, NULL, 'w'}, CLI_COMMON_LONGOPTS, {0}};
    const char *cmd = "webhook redeliver", *v[sizeof lo / sizeof lo[0]] = {0};
    regcli_call k = {0};
    if (!regcli_args(o, argc, argv, lo, v, cmd, usage_redeliver, 1, "EVENT_ID", &k.code))
        return k.code;
    if (!(k.r = regcli_open(o, false, &k.ctx, &k.code)))
        return k.code;
    return regcli_answer(
        o, &k, registry_event_redeliver(k.r, &k.ctx, argv[optind], v[0], k.err, sizeof k.err),
        print_redelivered);
}

int cmd_webhook(cli_opts *o, int argc, char **argv)
{
    static const regcli_sub subs[] = {{"create", webhook_create},
                                      {"list", webhook_list},
                                      {"delete", webhook_delete},
                                      {"deliveries", webhook_deliveries},
                                      {"redeliver", webhook_redeliver}};
    return regcli_dispatch(o, argc, argv, "webhook", usage, subs, sizeof subs / sizeof subs[0]);
}
