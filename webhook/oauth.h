/* POST /oauth2/token: OAuth2 client credentials (RFC 6749 section 4.4) for
 * HCP's clients, whose SDK fetches a token before any call. The client is an
 * API token: client id = its name, client secret = its secret, given in
 * HTTP Basic (each part form-urlencoded, as RFC 6749 section 2.3.1 and
 * golang.org/x/oauth2 do) or in the form. The answer is {"access_token",
 * "token_type": "Bearer", "expires_in"} (registry_oauth_issue), never
 * cached (Cache-Control: no-store); errors are RFC 6749's {"error",
 * "error_description"} -- never HCP's {"code": N}, which Packer would read
 * as a gRPC code in the error text.
 *
 * The pure parts are here for unit tests: the request parser and the
 * failure throttle (time is a parameter). The handler (oauth.c) parses on
 * the loop thread, checks the credentials on a store worker and replies on
 * the loop thread; nothing of the form is logged. */
#ifndef IG_WEBHOOK_OAUTH_H
#define IG_WEBHOOK_OAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/timeutil.h"
#include "webhook/api.h"

#define WEBHOOK_OAUTH_MAX_FORM 8192 /* bytes of form body */

typedef enum {
    OAUTH_OK = 0,
    OAUTH_INVALID_REQUEST,  /* 400: not a form, a parameter twice, both kinds of credentials */
    OAUTH_INVALID_CLIENT,   /* 401: no credentials, or wrong ones */
    OAUTH_UNSUPPORTED_GRANT /* 400: grant_type is not client_credentials */
} webhook_oauth_error;

typedef struct webhook_oauth_req {
    char client_id[WEBHOOK_API_MAX_SECRET + 1];
    char client_secret[WEBHOOK_API_MAX_SECRET + 1];
    bool basic; /* the credentials came in the Authorization header */
} webhook_oauth_req;

/* Parses a token request from its Content-Type and Authorization headers
 * (either may be NULL) and its body. Returns OAUTH_OK with the credentials
 * in out, or an error with a reason in err that never quotes the form.
 * out is wiped by webhook_oauth_req_wipe; call it either way. Any thread. */
webhook_oauth_error webhook_oauth_parse(const char *content_type, const char *authorization,
                                        const char *body, size_t len, webhook_oauth_req *out,
                                        char *err, size_t errlen);
void webhook_oauth_req_wipe(webhook_oauth_req *r);
/* "invalid_request", "invalid_client", "unsupported_grant_type". */
const char *webhook_oauth_error_name(webhook_oauth_error e);
/* 400 or 401. */
int webhook_oauth_error_status(webhook_oauth_error e);

/* ---- the failure throttle -------------------------------------------- */

/* Failed token requests per client address: at most limit in a window of
 * window_ms from an address's first failure; beyond, that address is
 * refused until the window ends. At most max_addrs addresses are followed
 * (the one whose window began first is forgotten to make room). Not
 * thread-safe: the loop thread owns it. */
typedef struct webhook_throttle webhook_throttle;
webhook_throttle *webhook_throttle_new(int64_t limit, int64_t window_ms, size_t max_addrs);
void webhook_throttle_free(webhook_throttle *t);
/* 0 when addr may try now, else the milliseconds until it may. */
int64_t webhook_throttle_wait(webhook_throttle *t, const char *addr, ig_time now);
/* Counts one failure of addr. */
void webhook_throttle_fail(webhook_throttle *t, const char *addr, ig_time now);

#endif
