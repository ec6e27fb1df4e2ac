/* The server's configuration: a table of directives, each a command-line flag
 * (--max-plan-bytes), a configuration-file key (max_plan_bytes, YAML) and an
 * environment variable (IMAGEGATE_MAX_PLAN_BYTES). Precedence: flag > env >
 * file > default. Every number has a default and bounds, checked once at
 * start-up; after webhook_config_load() returns the structure is immutable
 * and may be read from any thread without locking. */
#ifndef IG_WEBHOOK_CONFIG_H
#define IG_WEBHOOK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "notify/notify.h"

typedef struct webhook_config {
    char *config_file; /* --config / IMAGEGATE_CONFIG, NULL when none */

    /* listening */
    char *listen; /* "ADDR:PORT" */
    char *tls_cert, *tls_key;
    bool insecure_http;
    char *port_file;  /* written with the bound port, or NULL */
    char *public_url; /* base of links in results; derived from listen when empty */

    /* trust */
    char *hmac_key_file;  /* empty: <store dir>/imagegate-hmac.key, made on first start */
    bool allow_unsigned;  /* no HMAC key at all (HCP Terraform task without a key) */
    char **allowed_hosts; /* HOST[:PORT] (https) or http://HOST[:PORT], lower case */
    size_t n_allowed_hosts;
    char *ca_file;

    /* store, rules, policy */
    char *db;
    char *policy_file;
    char *rules_dir;
    char *tmp_dir;

    /* limits */
    int64_t workers, store_workers, queue_depth;
    int64_t max_body_bytes, max_header_bytes, max_plan_bytes;
    int64_t max_archive_bytes, max_archive_entries;
    int64_t max_sbom_upload_bytes, max_sbom_bytes, max_sbom_packages; /* SBOMs (api_sbom.c) */
    int64_t sbom_download_ttl;
    /* durations in milliseconds */
    int64_t read_timeout, connect_timeout, low_speed_time, plan_wait, callback_retry;
    int64_t token_lifetime, running_after, delivery_lease, sweep_interval, shutdown_timeout;
    int64_t header_timeout, body_timeout; /* per-request read deadlines */
    int64_t token_refresh;                /* API token hashes re-read this often (tokens.c) */
    int64_t result_retention;             /* result pages kept this long; 0 = none */
    int64_t usage_retention;              /* usage rows and runs kept this long; 0 = none made */

    /* the HCP drop-in (docs/hcp-compatibility.md) */
    char *organization_id, *project_id; /* "" = keep the store's (made on first start) */
    int64_t oauth_token_lifetime;       /* ms an OAuth2 access token lives */
    int64_t oauth_failure_limit;        /* failed token requests per address per minute */
    int64_t hmac_rotation_grace;        /* ms a replaced run-task HMAC key stays valid */

    /* event notifications (docs/events.md) */
    notify_cidr *webhook_allow; /* --webhook-allow-network: special ranges webhooks may reach */
    size_t n_webhook_allow;
    int64_t webhook_workers;
    int64_t webhook_timeout, webhook_retry_min, webhook_retry_max, webhook_give_up; /* ms */
    int64_t webhook_retention; /* finished deliveries and their log kept this long (ms) */

    char *log_level;
} webhook_config;

/* Builds the configuration from defaults, the file named by --config or
 * IMAGEGATE_CONFIG, the IMAGEGATE_* environment and argv (argv[0] is the
 * command name and is skipped). db_flag: the global --db value when one was
 * given before the command, else NULL. env: a getenv-like function (NULL =
 * getenv), so tests can supply their own environment.
 * Returns a new configuration, or NULL with "SOURCE: directive: reason" in
 * err. *want_help is set when --help was given (the result is then NULL and
 * err empty). Main thread only. */
webhook_config *webhook_config_load(int argc, char **argv, const char *db_flag,
                                    const char *(*env)(const char *), bool *want_help, char *err,
                                    size_t errlen);
void webhook_config_free(webhook_config *c);

/* Prints the flag summary (name, default, bounds, meaning) for --help. */
void webhook_config_usage(FILE *out);
/* Writes docs-style rows "flag | key | env | default | bounds | meaning" in
 * Markdown, used to keep docs/configuration.md honest. */
void webhook_config_markdown(FILE *out);

/* True when scheme, host and port of an absolute http(s) URL match one of
 * the allowed hosts. An https URL matches an entry HOST[:PORT]; a plain http
 * URL only an entry http://HOST[:PORT], so the run token never travels in
 * clear text unless the operator said so for that host. An entry without a
 * port allows only the scheme's default port (443 / 80); hosts compare
 * case-insensitively; the URL is parsed with libcurl's parser, so userinfo
 * tricks ("https://good@evil/") are seen through. Pure; any thread. */
bool webhook_config_host_allowed(const webhook_config *c, const char *url);
/* The same check against an explicit list (unit tests). */
bool webhook_host_allowed(char *const *hosts, size_t n, const char *url);

/* Splits "ADDR:PORT" ("[::1]:8443" for IPv6). Returns 0 or -1 with err. */
int webhook_split_listen(const char *s, char *addr, size_t addrlen, int *port, char *err,
                         size_t errlen);

#endif
