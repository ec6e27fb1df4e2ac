/* The plan is streamed from the file (or stdin) straight into the request
 * body, so a 500 MB plan costs no memory here either. The token goes in an
 * Authorization header and only to the server given; redirects are not
 * followed (a redirect could carry the token elsewhere). */
#include "cli/scan_remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

typedef struct remote {
    FILE *out;
    strbuf body; /* kept for error messages */
    char verdict[16];
} remote;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    remote *r = ud;
    size_t len = size * n;
    if (r->body.len < 4096)
        strbuf_append(&r->body, p, len);
    return fwrite(p, 1, len, r->out) == len ? len : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    remote *r = ud;
    size_t len = size * n;
    static const char h[] = "x-imagegate-verdict:";
    if (len > sizeof h - 1 && strncasecmp(p, h, sizeof h - 1) == 0) {
        const char *v = p + sizeof h - 1;
        while (*v == ' ')
            v++;
        size_t k = 0;
        while (k + 1 < sizeof r->verdict && v[k] && v[k] != '\r' && v[k] != '\n') {
            r->verdict[k] = v[k];
            k++;
        }
        r->verdict[k] = '\0';
    }
    return len;
}

static char *query_escape(CURL *c, const char *s)
{
    char *e = curl_easy_escape(c, s, 0);
    char *r = xstrdup(e ? e : "");
    curl_free(e);
    return r;
}

int scan_remote(const char *server, const char *token, const char *ca_file, const char *plan,
                const char *format, const char *organization, const char *workspace,
                const char *output, policy_verdict fail_on)
{
    int rc = EXIT_STORE;
    FILE *in = NULL, *out = stdout;
    CURL *c = NULL;
    struct curl_slist *hdrs = NULL;
    char *url = NULL, *auth = NULL;
    remote r;
    memset(&r, 0, sizeof r);
    strbuf_init(&r.body);

    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0) {
        rc = cli_fail(EXIT_USAGE, "--server: '%s' is not an http(s) URL", server);
        goto out;
    }
    in = strcmp(plan, "-") == 0 ? stdin : fopen(plan, "rb");
    if (!in) {
        rc = cli_fail(EXIT_USAGE, "%s: %s", plan, strerror(errno));
        goto out;
    }
    if (output && !(out = fopen(output, "w"))) {
        out = stdout;
        rc = cli_fail(EXIT_USAGE, "--output %s: %s", output, strerror(errno));
        goto out;
    }
    r.out = out;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    c = curl_easy_init();
    if (!c)
        goto out;
    strbuf u = STRBUF_INIT;
    size_t sl = strlen(server);
    while (sl && server[sl - 1] == '/')
        sl--;
    strbuf_append(&u, server, sl);
    char *f = query_escape(c, format);
    strbuf_printf(&u, "/v1/scan?format=%s", f);
    free(f);
    if (organization) {
        char *e = query_escape(c, organization);
        strbuf_printf(&u, "&organization=%s", e);
        free(e);
    }
    if (workspace) {
        char *e = query_escape(c, workspace);
        strbuf_printf(&u, "&workspace=%s", e);
        free(e);
    }
    url = strbuf_steal(&u);
    auth = xasprintf("Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READDATA, in);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "imagegate-scan/" IG_VERSION);
    if (ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    char ebuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, ebuf);
    CURLcode cc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status >= 400)) {
        rc = cli_fail(EXIT_STORE, "--server %.*s: %s", (int)sl, server,
                      ebuf[0] ? ebuf : curl_easy_strerror(cc));
        goto out;
    }
    if (status != 200) {
        rc = cli_fail(status >= 500 || status == 0 ? EXIT_STORE : EXIT_USAGE,
                      "--server answered %ld: %.300s", status, r.body.s ? r.body.s : "");
        goto out;
    }
    policy_verdict v = strcmp(r.verdict, "fail") == 0   ? POLICY_VERDICT_FAIL
                       : strcmp(r.verdict, "warn") == 0 ? POLICY_VERDICT_WARN
                       : strcmp(r.verdict, "pass") == 0 ? POLICY_PASS
                                                        : (policy_verdict)-1;
    if ((int)v < 0) {
        rc = cli_fail(EXIT_STORE, "--server gave no verdict (is it an imagegate server?)");
        goto out;
    }
    rc = v >= fail_on ? EXIT_REFUSED : EXIT_OK;
out:
    if (auth) {
        memset(auth, 0, strlen(auth)); /* the token */
        free(auth);
    }
    curl_slist_free_all(hdrs);
    if (c)
        curl_easy_cleanup(c);
    free(url);
    strbuf_dispose(&r.body);
    if (in && in != stdin)
        fclose(in);
    if (out != stdout)
        fclose(out);
    return rc;
}
