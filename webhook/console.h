/* The web console's files, embedded in the binary (web/ turned into a C
 * table by webhook/embed_web.cmake at build time) and served under /ui/ by
 * console.c; docs/console.md is the user's page.
 *
 * The pure parts -- which file a path names, whether a client's ETag still
 * holds -- are here for the unit tests (tests/unit/test_webhook.c); the
 * handlers are declared in server.h with the others. Any thread: the table
 * is constant. */
#ifndef IG_WEBHOOK_CONSOLE_H
#define IG_WEBHOOK_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct webhook_console_asset {
    const char *path;         /* "/ui/assets/app.js" (web/assets/app.js) */
    const char *content_type; /* "text/javascript; charset=utf-8" */
    const char *etag;         /* "\"<24 hex digits of its SHA-256>\"" */
    const unsigned char *data;
    size_t len;
} webhook_console_asset;

/* The generated table, ended by a row whose path is NULL. */
extern const webhook_console_asset webhook_console_assets[];

/* The Content-Security-Policy of every console response. */
#define WEBHOOK_CONSOLE_CSP                                                                        \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/* What a GET of path (a raw path under /ui, without the query) answers:
 * 200 with *out the file it names; 200 with *out index.html for any other
 * path under /ui/ (the console routes in the browser: /ui/buckets/web/...
 * is a deep link); 301 for "/ui" (to "/ui/"); 404 for a file under
 * /ui/assets/ that does not exist, and for paths with "..", a backslash or
 * control bytes. */
int webhook_console_resolve(const char *path, const webhook_console_asset **out);

/* True when path is the console's (/ui or under /ui/): its pages are the
 * browser's, so a trailing slash there is a page, not an API mistake. */
bool webhook_console_owns(const char *path);

/* Whether an If-None-Match header value (NULL: none) matches etag: "*", or
 * one of a comma-separated list, weak ("W/") or strong. */
bool webhook_console_etag_match(const char *if_none_match, const char *etag);

#endif
