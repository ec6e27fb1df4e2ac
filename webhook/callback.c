/* Callback documents. Outcomes are ordered fail first, then warn, each in the
 * report's order, so that when a plan has more findings than the protocol's
 * 250 outcomes the ones that decide the run are the ones shown; the 250th
 * outcome then summarises what was left out. Lengths are counted in bytes,
 * which bounds the character count the protocol states.
 *
 * jansson refuses a string that is not valid UTF-8, and a refused string
 * makes json_pack return NULL, which would drop a whole outcome or document.
 * So every string is repaired (str_utf8_repair) before it is packed and cut
 * only between characters (str_utf8_prefix), never at a raw byte count; and an
 * outcome that still cannot be built is replaced by a plain ASCII one that
 * says so, never left out. */
#include "webhook/callback.h"

#include "common/log.h"
#include "common/strbuf.h"
#include "common/xalloc.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A copy of s (NULL = "") that jansson accepts. */
static char *utf8_dup(const char *s)
{
    char *o = xstrdup(s ? s : "");
    return str_utf8_repair(o, strlen(o));
}

size_t webhook_utf8_clamp(char *s, size_t max, bool ellipsis)
{
    size_t len = strlen(s);
    if (len <= max)
        return len;
    size_t cut = str_utf8_prefix(s, ellipsis && max >= 3 ? max - 3 : max);
    if (ellipsis && max >= 3) {
        memcpy(s + cut, "...", 3);
        cut += 3;
    }
    s[cut] = '\0';
    return cut;
}

/* One line: control characters become spaces; valid UTF-8. */
static char *one_line(const char *s)
{
    char *o = utf8_dup(s);
    for (char *p = o; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return o;
}

/* Text for inside `code`: one line, no backticks. */
static void put_code(strbuf *b, const char *s)
{
    strbuf_putc(b, '`');
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        strbuf_putc(b, c == '`' ? '\'' : (c < 0x20 ? ' ' : (char)c));
    }
    strbuf_putc(b, '`');
}

/* Markdown text: one line, with the characters that start markup escaped. */
static void put_text(strbuf *b, const char *s)
{
    for (const char *p = s ? s : ""; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20) {
            strbuf_putc(b, ' ');
            continue;
        }
        if (strchr("\\`*_[]<>|#", c))
            strbuf_putc(b, '\\');
        strbuf_putc(b, (char)c);
    }
}

static const char *kind_title(policy_kind k)
{
    switch (k) {
    case PK_REVOKED:
    case PK_REVOKED_UNCHANGED:
        return "Revoked image";
    case PK_DATA_SOURCE_REVOKED:
    case PK_DATA_SOURCE_REVOKED_UNREFERENCED:
        return "Data source resolves to a revoked version";
    case PK_REVOCATION_SCHEDULED:
        return "Image revocation scheduled";
    case PK_UNTRACKED:
        return "Untracked image";
    case PK_HARDCODED:
        return "Hardcoded image";
    case PK_MENTION:
    case PK_MENTION_REVOKED:
        return "Image mentioned";
    case PK_UNKNOWN:
        return "Image unknown until apply";
    case PK_UNRECOGNIZED:
        return "Unrecognized image value";
    case PK_LAUNCH_RESOLVED:
        return "Image resolved at launch";
    case PK_OUTDATED:
    case PK_OUTDATED_BEHIND:
        return "Outdated image";
    case PK_STALE:
        return "Stale image";
    case PK_TRACKED:
        return "Tracked image";
    default:
        return "Finding";
    }
}

/* "revocation_scheduled" -> "Revocation scheduled" (<= 32 chars) */
static json_t *tag(const char *label, policy_level lv)
{
    char *buf = one_line(label);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = ' ';
    buf[0] = (char)toupper((unsigned char)buf[0]);
    webhook_utf8_clamp(buf, WEBHOOK_MAX_LABEL, false);
    json_t *t =
        json_pack("[{s:s,s:s}]", "label", buf, "level", lv == POLICY_FAIL ? "error" : "warning");
    free(buf);
    return t;
}

static json_t *tags_for(policy_kind kind, policy_level lv)
{
    json_t *t = json_object();
    json_object_set_new(t, "Status", tag(lv == POLICY_FAIL ? "Failed" : "Warning", lv));
    json_object_set_new(t, "Severity", tag(policy_kind_name(kind), lv));
    return t;
}

static uint32_t fnv1a(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* kind:address[.attribute], hashed down to 64 chars when longer, with "#n"
 * when the same id came before (index keeps it unique). */
static char *outcome_id(const policy_finding *f, size_t index, json_t *seen)
{
    strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "%s:%s", policy_kind_name(f->kind), f->address ? f->address : "-");
    if (f->attribute)
        strbuf_printf(&b, ".%s", f->attribute);
    char *id = strbuf_steal(&b);
    str_utf8_repair(id, strlen(id));
    if (strlen(id) > WEBHOOK_MAX_OUTCOME_ID) {
        /* the hash is of the whole id, so ids that share the kept prefix differ */
        char *h = xasprintf("%.*s~%08x", (int)str_utf8_prefix(id, WEBHOOK_MAX_OUTCOME_ID - 9), id,
                            fnv1a(id));
        free(id);
        id = h;
    }
    if (json_object_get(seen, id)) {
        char *u =
            xasprintf("%.*s#%zu", (int)str_utf8_prefix(id, WEBHOOK_MAX_OUTCOME_ID - 8), id, index);
        free(id);
        id = u;
        webhook_utf8_clamp(id, WEBHOOK_MAX_OUTCOME_ID, false);
    }
    json_object_set_new(seen, id, json_true());
    return id;
}

/* Makes the body valid UTF-8 and, when it is too long, cuts it between two
 * characters and appends a note. */
static void finish_body(strbuf *b)
{
    if (!b->s)
        return;
    str_utf8_repair(b->s, b->len);
    if (b->len > WEBHOOK_MAX_BODY) {
        static const char note[] = "\n\n*(truncated: the full report is in the imagegate log "
                                   "and `imagegate scan` output)*";
        b->len = str_utf8_prefix(b->s, WEBHOOK_MAX_BODY - (sizeof note - 1));
        b->s[b->len] = '\0';
        strbuf_puts(b, note);
    }
}

/* "ADDRESS: message" unless the message names the address already. */
static char *describe(const policy_finding *f)
{
    const char *msg = f->message && *f->message ? f->message : kind_title(f->kind);
    char *d;
    if (f->address && *f->address && !strstr(msg, f->address))
        d = xasprintf("%s: %s", f->address, msg);
    else
        d = xstrdup(msg);
    char *o = one_line(d);
    free(d);
    return o;
}

static char *outcome_body(const policy_finding *f, ig_time now)
{
    strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "## %s\n\n", kind_title(f->kind));
    char *desc = describe(f);
    put_text(&b, desc);
    free(desc);
    strbuf_puts(&b, "\n\n");
    if (f->address) {
        strbuf_puts(&b, "- **Resource**: ");
        put_code(&b, f->address);
        if (f->attribute) {
            strbuf_puts(&b, " attribute ");
            put_code(&b, f->attribute);
        }
        if (f->action)
            strbuf_printf(&b, " (%s)", f->action);
        strbuf_putc(&b, '\n');
    }
    if (f->sensitive)
        strbuf_puts(&b, "- **Image**: (sensitive)\n");
    else if (f->image) {
        strbuf_puts(&b, "- **Image**: ");
        put_code(&b, f->image);
        strbuf_putc(&b, '\n');
    }
    if (f->bucket) {
        strbuf_puts(&b, "- **Bucket**: **");
        put_text(&b, f->bucket);
        strbuf_puts(&b, "**");
        if (f->version) {
            strbuf_puts(&b, " version **");
            put_text(&b, f->version);
            strbuf_puts(&b, "**");
        }
        if (f->fingerprint) {
            strbuf_puts(&b, " (fingerprint ");
            put_code(&b, f->fingerprint);
            strbuf_putc(&b, ')');
        }
        strbuf_putc(&b, '\n');
    }
    if (f->revoke_at) {
        ig_time at;
        char why[64];
        bool future = ig_time_parse(f->revoke_at, &at, why, sizeof why) == 0 && at > now;
        strbuf_printf(&b, "- **%s**: %s", future ? "Revocation scheduled for" : "Revoked at",
                      f->revoke_at);
        if (f->revocation_message && *f->revocation_message) {
            strbuf_puts(&b, ": ");
            put_text(&b, f->revocation_message);
        }
        strbuf_putc(&b, '\n');
    } else if (f->revocation_message && *f->revocation_message) {
        strbuf_puts(&b, "- **Revocation**: ");
        put_text(&b, f->revocation_message);
        strbuf_putc(&b, '\n');
    }
    if (f->provenance)
        strbuf_printf(&b, "- **Provenance**: %s\n", f->provenance);
    if (f->channel_note && *f->channel_note) {
        strbuf_puts(&b, "\n");
        put_text(&b, f->channel_note);
        strbuf_putc(&b, '\n');
    }
    if (f->exempted)
        strbuf_puts(&b, "\nAn exemption applies to this finding.\n");
    finish_body(&b);
    return strbuf_steal(&b);
}

static void url_escape(strbuf *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || strchr("-._~", *p))
            strbuf_putc(b, (char)*p);
        else
            strbuf_printf(b, "%%%02X", *p);
    }
}

static json_t *outcome_for(const policy_finding *f, size_t index, json_t *seen,
                           const char *public_url, ig_time now)
{
    char *id = outcome_id(f, index, seen);
    char *desc = describe(f);
    webhook_utf8_clamp(desc, WEBHOOK_MAX_DESCRIPTION, true);
    char *body = outcome_body(f, now);
    json_t *attr = json_pack("{s:s,s:s,s:o,s:s}", "outcome-id", id, "description", desc, "tags",
                             tags_for(f->kind, f->level), "body", body);
    if (public_url && *public_url && f->bucket) {
        strbuf u = STRBUF_INIT;
        strbuf_printf(&u, "%s/buckets/", public_url);
        url_escape(&u, f->bucket);
        if (f->version) {
            strbuf_puts(&u, "/versions/");
            url_escape(&u, f->version);
        }
        str_utf8_repair(u.s, u.len);
        if (attr && u.len <= WEBHOOK_MAX_URL)
            json_object_set_new(attr, "url", json_string(u.s));
        strbuf_dispose(&u);
    }
    free(id);
    free(desc);
    free(body);
    return attr ? json_pack("{s:s,s:o}", "type", "task-result-outcomes", "attributes", attr) : NULL;
}

/* Stands in for an outcome that could not be built: only ASCII literals and
 * numbers, so jansson always takes it. The failure is logged: it is a bug. */
static json_t *fallback_outcome(const char *id, const char *what, size_t index, policy_level lv)
{
    log_error("event=callback_outcome_fallback outcome=%zu id=%s msg=\"the outcome could not be "
              "built; a placeholder was sent\"",
              index, id);
    char *desc = xasprintf("%s: the details of this finding could not be written; see the "
                           "imagegate log",
                           what);
    json_t *tags = json_object();
    json_object_set_new(tags, "Status", tag(lv == POLICY_FAIL ? "Failed" : "Warning", lv));
    json_t *o = json_pack("{s:s,s:{s:s,s:s,s:o,s:s}}", "type", "task-result-outcomes", "attributes",
                          "outcome-id", id, "description", desc, "tags", tags, "body", desc);
    free(desc);
    return o;
}

static json_t *summary_outcome(const policy_finding *const *rest, size_t n)
{
    size_t nfail = 0, nwarn = 0;
    for (size_t i = 0; i < n; i++)
        if (rest[i]->level == POLICY_FAIL)
            nfail++;
        else
            nwarn++;
    char *desc = xasprintf("%zu more findings not shown as outcomes (%zu failing, %zu warning)", n,
                           nfail, nwarn);
    strbuf b = STRBUF_INIT;
    strbuf_printf(&b,
                  "## %zu more findings\n\nHCP Terraform shows at most %d outcomes per "
                  "result. The remaining findings:\n\n",
                  n, WEBHOOK_MAX_OUTCOMES);
    for (size_t i = 0; i < n && b.len < WEBHOOK_MAX_BODY; i++) {
        strbuf_printf(&b, "- %s %s ", policy_level_name(rest[i]->level),
                      policy_kind_name(rest[i]->kind));
        put_code(&b, rest[i]->address);
        if (rest[i]->attribute) {
            strbuf_putc(&b, ' ');
            put_code(&b, rest[i]->attribute);
        }
        strbuf_putc(&b, '\n');
    }
    finish_body(&b);
    policy_level worst = nfail ? POLICY_FAIL : POLICY_WARN;
    json_t *tags = json_object();
    json_object_set_new(tags, "Status", tag(worst == POLICY_FAIL ? "Failed" : "Warning", worst));
    json_object_set_new(tags, "Severity", tag("More findings", worst));
    json_t *o = json_pack("{s:s,s:{s:s,s:s,s:o,s:s}}", "type", "task-result-outcomes", "attributes",
                          "outcome-id", "imagegate-more-findings", "description", desc, "tags",
                          tags, "body", b.s);
    free(desc);
    strbuf_dispose(&b);
    return o;
}

static json_t *outcomes_for(const policy_report *r, const char *public_url, ig_time now)
{
    json_t *arr = json_array();
    json_t *seen = json_object();
    size_t n = 0;
    const policy_finding **sel = xcalloc(r->n_findings + 1, sizeof *sel);
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < r->n_findings; i++) {
            const policy_finding *f = &r->findings[i];
            if ((pass == 0 && f->level == POLICY_FAIL) || (pass == 1 && f->level == POLICY_WARN))
                sel[n++] = f;
        }
    size_t shown = n > WEBHOOK_MAX_OUTCOMES ? WEBHOOK_MAX_OUTCOMES - 1 : n;
    for (size_t i = 0; i < shown; i++) {
        json_t *o = outcome_for(sel[i], i, seen, public_url, now);
        if (!o) {
            char id[40];
            snprintf(id, sizeof id, "imagegate-outcome-%zu", i);
            o = fallback_outcome(id, kind_title(sel[i]->kind), i, sel[i]->level);
        }
        json_array_append_new(arr, o);
    }
    if (shown < n) {
        json_t *o = summary_outcome(sel + shown, n - shown);
        if (!o) {
            char what[80];
            snprintf(what, sizeof what, "%zu more findings", n - shown);
            /* fail first: sel[shown] has the worst level of the rest */
            o = fallback_outcome("imagegate-more-findings", what, shown, sel[shown]->level);
        }
        json_array_append_new(arr, o);
    }
    free(sel);
    json_decref(seen);
    return arr;
}

static json_t *attributes(const char *status, const char *message)
{
    char *msg = one_line(message && *message ? message : "imagegate finished");
    webhook_utf8_clamp(msg, WEBHOOK_MAX_MESSAGE, true);
    json_t *a = json_pack("{s:s,s:s}", "status", status, "message", msg);
    free(msg);
    return a;
}

json_t *webhook_callback_body(const webhook_result *res)
{
    json_t *attr = attributes(res->status, res->message);
    if (res->url && *res->url && strlen(res->url) <= WEBHOOK_MAX_URL) {
        char *u = utf8_dup(res->url);
        json_object_set_new(attr, "url", json_string(u));
        free(u);
    }
    json_t *data = json_pack("{s:s,s:o}", "type", "task-results", "attributes", attr);
    if (res->outcomes && res->report && strcmp(res->status, "running") != 0) {
        json_t *outs = outcomes_for(res->report, res->public_url, res->now);
        if (json_array_size(outs))
            json_object_set_new(data, "relationships",
                                json_pack("{s:{s:o}}", "outcomes", "data", outs));
        else
            json_decref(outs);
    }
    return json_pack("{s:o}", "data", data);
}

json_t *webhook_callback_minimal(const char *status, const char *message)
{
    return json_pack("{s:{s:s,s:o}}", "data", "type", "task-results", "attributes",
                     attributes(status, message));
}

char *webhook_result_message(const policy_report *r, const char *stage)
{
    const char *lead;
    bool report_only = stage && strcmp(stage, "post_apply") == 0;
    if (report_only)
        lead = "Report only (post_apply cannot gate the run)";
    else if (r->verdict == POLICY_VERDICT_FAIL)
        lead = "Failed";
    else if (r->verdict == POLICY_VERDICT_WARN)
        lead = "Passed with warnings";
    else
        lead = "Passed";
    bool config = stage && strcmp(stage, "pre_plan") == 0;
    char *m;
    if (config)
        m = xasprintf("%s: %zu failing, %zu warning and %zu info findings in the configuration "
                      "(%zu images)",
                      lead, r->count[POLICY_FAIL], r->count[POLICY_WARN], r->count[POLICY_INFO],
                      r->images);
    else
        m = xasprintf("%s: %zu failing, %zu warning and %zu info findings in %zu resources "
                      "(%zu gated, %zu images)",
                      lead, r->count[POLICY_FAIL], r->count[POLICY_WARN], r->count[POLICY_INFO],
                      r->resources, r->gated, r->images);
    webhook_utf8_clamp(m, WEBHOOK_MAX_MESSAGE, true);
    return m;
}
