/* The API tokens the loop thread knows without asking the store: a
 * read-only snapshot of the SHA-256 hashes of the live tokens whose role may
 * scan (read or more), and of their OAuth access tokens (refreshed as soon
 * as this server issues one). It exists for one decision, taken when a request's
 * header block has arrived and before evhttp reads its body: may this
 * POST /v1/scan send up to --max-plan-bytes? Only a request carrying a
 * token of the snapshot may; any other gets --max-body-bytes, so a client
 * without a token can no longer make the server buffer a plan-sized body
 * (the same for an SBOM upload and --max-sbom-upload-bytes).
 * The store stays the authority: a request let through here is still
 * authenticated by registry_token_auth on a store worker.
 *
 * It also carries the store's run-task HMAC keys (PATCH .../runtasks/hmac,
 * those inside --hmac-rotation-grace), checked beside the key file's.
 *
 * Snapshots are built on store workers (the loop never touches the store)
 * and handed to the loop thread through the server's completion list: at
 * start-up, every --token-refresh, and right after a token is created or
 * revoked over the API -- before that call's reply is sent. A token created
 * or revoked with the command line (or on another replica) takes effect
 * within one --token-refresh. */
#ifndef IG_WEBHOOK_TOKENS_H
#define IG_WEBHOOK_TOKENS_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"
#include "webhook/server.h"

/* ---- a snapshot (immutable; any thread) -------------------------------- */

typedef struct webhook_tokenset webhook_tokenset;

/* A snapshot of rows (borrowed): those with role >= read and a 64-digit hex
 * hash. Never NULL. */
webhook_tokenset *webhook_tokenset_new(const reg_token_hash *rows, size_t n);
/* Reads the store (registry_token_hashes, and registry_hmac_keys with
 * keys retired at or after hmac_since) on the thread that owns r. Returns a
 * new snapshot, or NULL with err. */
webhook_tokenset *webhook_tokenset_load(registry *r, ig_time hmac_since, char *err, size_t errlen);
void webhook_tokenset_free(webhook_tokenset *s);
size_t webhook_tokenset_size(const webhook_tokenset *s);
/* True when authorization (an Authorization header's value; borrowed, may
 * be NULL) is "Bearer SECRET" and the SHA-256 of SECRET is in s. Every
 * entry is compared with CRYPTO_memcmp, without an early exit; the copy of
 * the secret is wiped. NULL s knows nobody. */
bool webhook_tokenset_knows(const webhook_tokenset *s, const char *authorization);

/* ---- the loop's current snapshot and its refreshes --------------------- */

typedef struct webhook_tokens webhook_tokens;

/* Starts with initial (taken; NULL: nobody is known until the first
 * refresh) and submits a refresh to srv's store pool every refresh_ms.
 * Call on the loop thread (before the loop runs is fine). Never NULL. */
webhook_tokens *webhook_tokens_new(webhook_server *srv, struct event_base *base, int64_t refresh_ms,
                                   webhook_tokenset *initial);
/* No more periodic refreshes (shutdown). Loop thread. */
void webhook_tokens_stop(webhook_tokens *t);
/* After the pools have stopped and their completions have run. NULL is a
 * no-op. */
void webhook_tokens_free(webhook_tokens *t);
/* webhook_tokenset_knows on the current snapshot. Loop thread. */
bool webhook_tokens_knows(const webhook_tokens *t, const char *authorization);
/* The store's run-task HMAC keys of the current snapshot (borrowed; NULL
 * when there are none). Loop thread. */
const struct webhook_keys *webhook_tokens_hmac(const webhook_tokens *t);
/* Reads the tokens now with w's registry handle and hands the snapshot to
 * the loop ahead of the completion of the job w is running, so a reply sent
 * from that job's done function already finds it in force. Returns 0, or -1
 * when the store could not be read (logged; the next periodic refresh
 * catches up). Store worker, from a job's work function. */
int webhook_tokens_refresh(webhook_worker *w);

/* Notes that the token name (borrowed) authenticated a call at when. The
 * periodic refresh writes it to the store as last_used_at, at most once a
 * minute per token and best effort: nothing here touches the store, so a
 * call never waits for or fails on that write. NULL t is a no-op. Any
 * thread (a store worker after registry_token_auth). */
void webhook_tokens_note_use(webhook_tokens *t, const char *name, ig_time when);

#endif
