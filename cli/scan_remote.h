/* imagegate scan --server: the client side of POST /v1/scan. */
#ifndef IG_SCAN_REMOTE_H
#define IG_SCAN_REMOTE_H

#include "policy/policy.h"

/* Streams the plan (a file or "-") to SERVER/v1/scan with the bearer token,
 * writes the report the server returns (in format) to output (NULL =
 * stdout) -- only a complete 200 answer with a verdict; nothing is written
 * and output is not created or truncated otherwise -- and returns the exit
 * status: the server's verdict (header
 * X-Imagegate-Verdict) against fail_on, 2 for a plan or request the server
 * refuses, 3 when the server cannot be reached or fails. */
int scan_remote(const char *server, const char *token, const char *ca_file, const char *plan,
                const char *format, const char *organization, const char *workspace,
                const char *output, policy_verdict fail_on);

#endif
