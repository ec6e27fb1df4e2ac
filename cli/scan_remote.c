/* The plan is streamed from the file (or stdin) straight into the request
 * body, so a 500 MB plan costs no memory here either. The token goes in an
 * Authorization header and only to the server given; redirects are not
 * followed (a redirect could carry the token elsewhere).
 *
 * Standard output and --output hold a report or nothing: the answer is
 * spooled to an unnamed temporary file and copied out (--output opened only
 * then) once it is complete, a 200 and carries a verdict. Any other answer
 * becomes one line on standard error -- the "message" of the server's JSON
 * error, or the HTTP status alone for anything else (libevent's HTML 413
 * page, a proxy's error page). */
#include "cli/scan_remote.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <strings.h>

#include "cli/cli.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#define ERROR_BODY_MAX 4096 /* of an answer other than a report: for the message */

typedef struct remote {
    CURL *c;
    FILE *spool;   /* the report of a 200 answer, until the transfer completes */
    strbuf body;   /* the first ERROR_BODY_MAX bytes of any other answer */
    int spool_err; /* errno of a failed spool write */
    char verdict[16];
    bool sized; /* the plan went with its Content-Length (else chunked) */
    char ebuf[CURL_ERROR_SIZE];
} remote;

static bool verdict_known(const remote *r)
{
    return strcmp(r->verdict, "pass") == 0 || strcmp(r->verdict, "warn") == 0 ||
           strcmp(r->verdict, "fail") == 0;
}

/* Only a 200 answer with a verdict is a report, and it is spooled to an
 * unnamed temporary file, not written out: standard output and --output get
 * it once the whole answer is in, so a failed or cut-off scan leaves them
 * untouched, as a local scan does. */
static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    remote *r = ud;
    size_t len = size * n;
    long status = 0;
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200 || !verdict_known(r)) {
        if (r->body.len >= ERROR_BODY_MAX)
            return 0; /* enough for the message: stop reading */
        size_t room = ERROR_BODY_MAX - r->body.len;
        strbuf_append(&r->body, p, len < room ? len : room);
        return len;
    }
    if (!r->spool && !(r->spool = tmpfile())) {
        r->spool_err = errno;
        return 0;
    }
    if (fwrite(p, 1, len, r->spool) != len) {
        r->spool_err = errno ? errno : EIO;
        return 0;
    }
    return len;
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

/* One line for an answer other than a report: the "message" of a JSON error
 * (control characters blanked, at most 300 bytes), else the status alone --
 * an HTML page from libevent or a proxy is not repeated. */
static int answer_fail(long status, const strbuf *body)
{
    int code = status >= 500 ? EXIT_STORE : EXIT_USAGE;
    if (status == 413)
        return cli_fail(code, "the server refused the plan: larger than its --max-plan-bytes "
                              "(or its --max-body-bytes, if it does not know the token) "
                              "(HTTP 413)");
    char msg[301] = "";
    json_t *doc = body->len ? json_loadb(body->s, body->len, 0, NULL) : NULL;
    const char *m = json_string_value(json_object_get(doc, "message"));
    if (m) {
        size_t k = 0;
        for (; m[k] && k + 1 < sizeof msg; k++)
            msg[k] = (unsigned char)m[k] < 0x20 || m[k] == 0x7f ? ' ' : m[k];
        msg[k] = '\0';
    }
    json_decref(doc);
    const char *what = status >= 500 ? "failed" : "refused";
    if (*msg)
        return cli_fail(code, "the server %s the scan (HTTP %ld): %s", what, status, msg);
    return cli_fail(code, "the server %s the scan (HTTP %ld; is --server an imagegate server?)",
                    what, status);
}

/* Copies the spooled report to output (NULL = standard output), opened only
 * now. Returns 0, or -1 after a message. */
static int write_report(FILE *spool, const char *output)
{
    FILE *out = stdout;
    if (output && !(out = fopen(output, "w"))) {
        cli_fail(EXIT_USAGE, "--output %s: %s", output, strerror(errno));
        return -1;
    }
    int rc = 0;
    if (spool) {
        char buf[65536];
        size_t n;
        rewind(spool);
        while ((n = fread(buf, 1, sizeof buf, spool)) > 0)
            if (fwrite(buf, 1, n, out) != n)
                break;
        if (ferror(spool) || ferror(out))
            rc = -1;
    }
    if (fflush(out) != 0)
        rc = -1;
    if (out != stdout && fclose(out) != 0)
        rc = -1;
    if (rc)
        cli_fail(EXIT_USAGE, "cannot write the report: %s", strerror(errno));
    return rc;
}

/* What can be refused before a connection is made. Returns -1, or the exit
 * status after a message. */
static int check_args(const char *server, const char *ca_file)
{
    if (strncmp(server, "https://", 8) != 0 && strncmp(server, "http://", 7) != 0)
        return cli_fail(EXIT_USAGE, "--server: '%s' is not an http(s) URL", server);
    if (ca_file) {
        /* curl would call a missing bundle a TLS failure (exit 3): it is input */
        FILE *ca = fopen(ca_file, "r");
        if (!ca)
            return cli_fail(EXIT_USAGE, "--ca-file %s: %s", ca_file, strerror(errno));
        fclose(ca);
    }
    return -1;
}

/* The length of server without its trailing slashes. */
static int server_len(const char *server)
{
    size_t sl = strlen(server);
    while (sl && server[sl - 1] == '/')
        sl--;
    return (int)sl;
}

/* SERVER/v1/scan?format=F[&organization=O][&workspace=W] (new string). */
static char *scan_url(CURL *c, const char *server, const char *format, const char *organization,
                      const char *workspace)
{
    strbuf u = STRBUF_INIT;
    strbuf_append(&u, server, (size_t)server_len(server));
    char *e = query_escape(c, format);
    strbuf_printf(&u, "/v1/scan?format=%s", e);
    free(e);
    if (organization) {
        e = query_escape(c, organization);
        strbuf_printf(&u, "&organization=%s", e);
        free(e);
    }
    if (workspace) {
        e = query_escape(c, workspace);
        strbuf_printf(&u, "&workspace=%s", e);
        free(e);
    }
    return strbuf_steal(&u);
}

/* How the body goes. A plan file of known size goes with its Content-Length
 * and waits for "100 Continue": a server that refuses it (over
 * --max-plan-bytes, or a token it does not know) answers 413 before a byte
 * of the body is sent, and the answer is read in full. Streaming the body at
 * once instead can meet a server that answered and closed while the client
 * was still sending, and the kernel's reset then loses the answer ("Broken
 * pipe"). stdin (size unknown) is sent chunked. Returns the headers. */
static struct curl_slist *set_body(remote *r, FILE *in, struct curl_slist *hdrs)
{
    struct stat st;
    r->sized = in != stdin && fstat(fileno(in), &st) == 0 && S_ISREG(st.st_mode);
    if (r->sized) {
        curl_easy_setopt(r->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)st.st_size);
        hdrs = curl_slist_append(hdrs, "Expect: 100-continue");
        curl_easy_setopt(r->c, CURLOPT_EXPECT_100_TIMEOUT_MS, 10000L);
    } else {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
        hdrs = curl_slist_append(hdrs, "Expect:");
    }
    curl_easy_setopt(r->c, CURLOPT_POST, 1L);
    curl_easy_setopt(r->c, CURLOPT_READDATA, in);
    return hdrs;
}

static void set_transfer(remote *r, const char *url, struct curl_slist *hdrs, const char *ca_file)
{
    CURL *c = r->c;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 15L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "imagegate-scan/" IG_VERSION);
    if (ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, r->ebuf);
}

/* What the transfer came to, as the exit status: the report written out
 * and the verdict against fail_on, or a message. */
static int transfer_result(remote *r, CURLcode cc, const char *server, const char *output,
                           policy_verdict fail_on)
{
    long status = 0;
    curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &status);
    if (r->spool_err)
        return cli_fail(EXIT_USAGE, "cannot keep the report in a temporary file: %s",
                        strerror(r->spool_err));
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && status >= 400))
        return cli_fail(EXIT_STORE, "--server %.*s: %s%s", server_len(server), server,
                        r->ebuf[0] ? r->ebuf : curl_easy_strerror(cc),
                        cc == CURLE_SEND_ERROR && !r->sized
                            ? " (the server stopped reading the plan: it may be larger than "
                              "its --max-plan-bytes)"
                            : "");
    if (status != 200)
        return answer_fail(status, &r->body);
    if (!verdict_known(r))
        return cli_fail(EXIT_STORE, "--server gave no verdict (is it an imagegate server?)");
    if (write_report(r->spool, output) < 0)
        return EXIT_USAGE;
    policy_verdict v = strcmp(r->verdict, "fail") == 0   ? POLICY_VERDICT_FAIL
                       : strcmp(r->verdict, "warn") == 0 ? POLICY_VERDICT_WARN
                                                         : POLICY_PASS;
    return v >= fail_on ? EXIT_REFUSED : EXIT_OK;
}

int scan_remote(const char *server, const char *token, const char *ca_file, const char *plan,
                const char *format, const char *organization, const char *workspace,
                const char *output, policy_verdict fail_on)
{
    int rc = check_args(server, ca_file);
    if (rc >= 0)
        return rc;
    FILE *in = strcmp(plan, "-") == 0 ? stdin : fopen(plan, "rb");
    if (!in)
        return cli_fail(EXIT_USAGE, "%s: %s", plan, strerror(errno));
    struct curl_slist *hdrs = NULL;
    char *url = NULL, *auth = NULL;
    remote r;
    memset(&r, 0, sizeof r);
    strbuf_init(&r.body);
    rc = EXIT_STORE;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r.c = curl_easy_init();
    if (!r.c)
        goto out;
    url = scan_url(r.c, server, format, organization, workspace);
    auth = xasprintf("Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, auth);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = set_body(&r, in, hdrs);
    set_transfer(&r, url, hdrs, ca_file);
    rc = transfer_result(&r, curl_easy_perform(r.c), server, output, fail_on);
out:
    if (auth) {
        memset(auth, 0, strlen(auth)); /* the token */
        free(auth);
    }
    curl_slist_free_all(hdrs);
    if (r.c)
        curl_easy_cleanup(r.c);
    free(url);
    strbuf_dispose(&r.body);
    if (r.spool)
        fclose(r.spool);
    if (in != stdin)
        fclose(in);
    return rc;
}
