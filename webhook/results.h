/* Result pages (PUBLIC_URL/results/ID): the page of one evaluation -- a
 * run-task delivery or a POST /v1/scan -- as plain text, kept in the store
 * for --result-retention (registry_result_put) and served by
 * webhook_handle_result (results.c). The random id is the page's only key. */
#ifndef IG_WEBHOOK_RESULTS_H
#define IG_WEBHOOK_RESULTS_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"
#include "webhook/server.h"

#define WEBHOOK_RESULT_PAGE_MAX (1024 * 1024)

/* One "label:  value" line of a page's head (a NULL value prints "-"). */
typedef struct webhook_page_line {
    const char *label, *value;
} webhook_page_line;

/* A page's text: title, a blank line, lines[0..n), a blank line, and the
 * report as `imagegate scan` prints it (text, no colour; nothing when rep
 * is NULL), cut at WEBHOOK_RESULT_PAGE_MAX bytes with a note. New string,
 * or NULL. Everything borrowed. Any thread. */
char *webhook_result_page_render(const char *title, const webhook_page_line *lines, size_t n,
                                 const policy_report *rep);

/* A new page's random id (32 hex characters) and URL, PUBLIC_URL/results/ID,
 * while --result-retention keeps pages. false (id and url "") when it does
 * not, or the URL does not fit in urllen. Any thread. */
bool webhook_result_page_link(webhook_server *srv, char id[33], char *url, size_t urllen);

#endif
