/* The web console's static files: GET / redirects to /ui/, and everything
 * under /ui/ comes from the table embed_web.cmake generated from web/ at
 * build time. The console is a page of plain ES modules that routes in the
 * browser (history API), so a deep link such as /ui/buckets/web/versions/v3
 * answers index.html and the page finds its place from the URL; only a
 * missing file under /ui/assets/ is a 404, so a typo in an import fails
 * loudly instead of loading the page as a script.
 *
 * Every answer here carries the console's security headers: a
 * Content-Security-Policy that allows nothing but this origin's scripts,
 * styles and API (no inline code, no frames around it), nosniff and
 * no-referrer. Files carry an ETag (their SHA-256, from the build) and
 * Cache-Control: no-cache, so a browser revalidates each load and gets 304
 * until the binary changes: names carry no hash, and an upgrade must never
 * mix old and new modules.
 *
 * The console holds no secrets and needs no store: it calls the JSON API
 * with the token the user pasted, and the API decides what that token may
 * do. Loop thread only; nothing here blocks. */
#include "webhook/console.h"

#include "webhook/server.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <string.h>

#define CONSOLE_PREFIX "/ui/"

static const webhook_console_asset *find(const char *path)
{
    for (const webhook_console_asset *a = webhook_console_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

/* No "..", backslashes or control bytes: the table is matched exactly, so
 * these could not reach a file anyway; refusing them keeps the fallback to
 * index.html from answering nonsense with a page. */
static bool path_clean(const char *path)
{
    if (strstr(path, "..") || strchr(path, '\\'))
        return false;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

bool webhook_console_owns(const char *path)
{
    return strcmp(path, "/ui") == 0 || strncmp(path, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)) == 0;
}

int webhook_console_resolve(const char *path, const webhook_console_asset **out)
{
    *out = NULL;
    if (strcmp(path, "/ui") == 0)
        return 301;
    if (strncmp(path, CONSOLE_PREFIX, strlen(CONSOLE_PREFIX)) != 0 || !path_clean(path))
        return 404;
    const webhook_console_asset *a = find(path);
    if (!a && strncmp(path, CONSOLE_PREFIX "assets/", strlen(CONSOLE_PREFIX "assets/")) == 0)
        return 404;
    *out = a ? a : find(CONSOLE_PREFIX "index.html");
    return *out ? 200 : 404;
}

bool webhook_console_etag_match(const char *if_none_match, const char *etag)
{
    if (!if_none_match)
        return false;
    size_t elen = strlen(etag);
    const char *p = if_none_match;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end - start >= 2 && strncmp(start, "W/", 2) == 0)
            start += 2;
        size_t n = (size_t)(end - start);
        if ((n == 1 && *start == '*') || (n == elen && strncmp(start, etag, n) == 0))
            return true;
    }
    return false;
}

/* The headers every console response carries (issue 17, docs/console.md). */
static void security_headers(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Security-Policy", WEBHOOK_CONSOLE_CSP);
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
}

static void reply_plain(struct evhttp_request *req, int code, const char *text)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    security_headers(req);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, text, strlen(text));
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
}

static void redirect(struct evhttp_request *req, int code, const char *to)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
    reply_plain(req, code, to);
}

/* Only GET and HEAD: the console's routes take every verb so that the
 * refusal carries the console's headers too. */
static bool read_only(struct evhttp_request *req)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    if (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD)
        return true;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
    reply_plain(req, 405, "the console's pages are read with GET or HEAD\n");
    return false;
}

void webhook_handle_console_root(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)srv;
    (void)path;
    if (read_only(req))
        redirect(req, 302, CONSOLE_PREFIX);
}

void webhook_handle_console(webhook_server *srv, struct evhttp_request *req, const char *path)
{
    (void)srv;
    const webhook_console_asset *a;
    if (!read_only(req))
        return;
    int st = webhook_console_resolve(path, &a);
    if (st == 301) {
        redirect(req, 301, CONSOLE_PREFIX);
        return;
    }
    if (st != 200) {
        reply_plain(req, 404, "no such file in the console\n");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    security_headers(req);
    evhttp_add_header(h, "ETag", a->etag);
    evhttp_add_header(h, "Cache-Control", "no-cache");
    const char *inm = evhttp_find_header(evhttp_request_get_input_headers(req), "If-None-Match");
    if (webhook_console_etag_match(inm, a->etag)) {
        evhttp_send_reply(req, 304, "Not Modified", NULL);
        return;
    }
    evhttp_add_header(h, "Content-Type", a->content_type);
    struct evbuffer *b = evbuffer_new();
    evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}
