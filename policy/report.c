/* Report formats: JSON (the contract of PRODUCT.md section 3), text for a
 * terminal, markdown for a pull-request comment, SARIF 2.1.0 for code
 * scanning, JUnit XML for CI test reports. Every format is built from the
 * finding fields only, so a sensitive value (never stored in a finding) can
 * appear in none of them. */
#include "policy/policy.h"

#include <stdlib.h>
#include <string.h>

#include "common/jsonw.h"
#include "common/strbuf.h"
#include "common/strmap.h"
#include "common/xalloc.h"

int report_format_parse(const char *s, report_format *out)
{
    static const char *names[] = {"text", "json", "markdown", "sarif", "junit"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = (report_format)i;
            return 0;
        }
    return -1;
}

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *finding_json(const policy_finding *f)
{
    json_t *o = json_object();
    json_object_set_new(o, "kind", json_string(policy_kind_name(f->kind)));
    json_object_set_new(o, "level", json_string(policy_level_name(f->level)));
    json_object_set_new(o, "address", str_or_null(f->address));
    json_object_set_new(o, "attribute", str_or_null(f->attribute));
    json_object_set_new(o, "image", str_or_null(f->image));
    json_object_set_new(o, "action", str_or_null(f->action));
    json_object_set_new(o, "bucket", str_or_null(f->bucket));
    json_object_set_new(o, "version", str_or_null(f->version));
    json_object_set_new(o, "fingerprint", str_or_null(f->fingerprint));
    json_object_set_new(o, "provenance", str_or_null(f->provenance));
    json_object_set_new(o, "message", str_or_null(f->message));
    return o;
}

static json_t *summary_json(const policy_report *r)
{
    return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}", "resources", (json_int_t)r->resources,
                     "gated", (json_int_t)r->gated, "images", (json_int_t)r->images, "info",
                     (json_int_t)r->count[POLICY_INFO], "warn", (json_int_t)r->count[POLICY_WARN],
                     "fail", (json_int_t)r->count[POLICY_FAIL]);
}

json_t *report_to_json(const policy_report *r)
{
    json_t *findings = json_array();
    for (size_t i = 0; i < r->n_findings; i++)
        json_array_append_new(findings, finding_json(&r->findings[i]));
    return json_pack("{s:s, s:o, s:o}", "verdict", policy_verdict_name(r->verdict), "summary",
                     summary_json(r), "findings", findings);
}

/* One finding as a compact JSON object, the same fields and order as
 * finding_json(). */
static void finding_jsonw(strbuf *b, const policy_finding *f)
{
#define K(s)                                                                                       \
    {                                                                                              \
        s, sizeof s - 1                                                                            \
    }
    /* each key with what goes before it, written as it is (no escapes) */
    static const struct {
        const char *s;
        size_t n;
    } keys[] = {
        K("{\"kind\":"),        K(",\"level\":"),      K(",\"address\":"), K(",\"attribute\":"),
        K(",\"image\":"),       K(",\"action\":"),     K(",\"bucket\":"),  K(",\"version\":"),
        K(",\"fingerprint\":"), K(",\"provenance\":"), K(",\"message\":"),
    };
#undef K
    const char *v[] = {policy_kind_name(f->kind),
                       policy_level_name(f->level),
                       f->address,
                       f->attribute,
                       f->image,
                       f->action,
                       f->bucket,
                       f->version,
                       f->fingerprint,
                       f->provenance,
                       f->message};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        strbuf_append(b, keys[i].s, keys[i].n);
        jsonw_str(b, v[i]);
    }
    strbuf_putc(b, '}');
}

static int flush_buf(strbuf *b, FILE *out, size_t above)
{
    if (b->len < above)
        return 0;
    int rc = fwrite(b->s, 1, b->len, out) == b->len ? 0 : -1;
    strbuf_reset(b);
    return rc;
}

/* The same object as report_to_json(), written one finding at a time (a
 * report of 300 000 findings never exists as one tree): one finding per
 * line. */
static int write_json(const policy_report *r, FILE *out)
{
    json_t *sum = summary_json(r);
    char *s = json_dumps(sum, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(sum);
    strbuf b = STRBUF_INIT;
    strbuf_printf(&b, "{\n  \"verdict\": \"%s\",\n  \"summary\": %s,\n  \"findings\": [",
                  policy_verdict_name(r->verdict), s);
    free(s);
    int rc = 0;
    for (size_t i = 0; i < r->n_findings && rc == 0; i++) {
        strbuf_puts(&b, i ? ",\n    " : "\n    ");
        finding_jsonw(&b, &r->findings[i]);
        rc = flush_buf(&b, out, 1 << 16);
    }
    strbuf_puts(&b, r->n_findings ? "\n  ]\n}\n" : "]\n}\n");
    if (rc == 0)
        rc = flush_buf(&b, out, 0);
    strbuf_dispose(&b);
    return rc;
}

/* ---- text --------------------------------------------------------------- */

/* Indexes of findings grouped by address (in order of first appearance),
 * fail before warn before info inside a group, otherwise in plan order. */
typedef struct sort_key {
    size_t rank, level, index;
} sort_key;

static int cmp_key(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    if (x->rank != y->rank)
        return x->rank < y->rank ? -1 : 1;
    if (x->level != y->level)
        return x->level > y->level ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static size_t *grouped(const policy_report *r)
{
    strmap order;
    strmap_init(&order);
    sort_key *keys = xmalloc((r->n_findings + 1) * sizeof *keys);
    for (size_t i = 0; i < r->n_findings; i++) {
        const char *a = r->findings[i].address;
        int created;
        strmap_entry *e = strmap_upsert(&order, a, strlen(a), &created);
        if (created)
            e->value = (void *)(uintptr_t)order.count;
        keys[i].rank = (uintptr_t)e->value;
        keys[i].level = r->findings[i].level;
        keys[i].index = i;
    }
    qsort(keys, r->n_findings, sizeof *keys, cmp_key);
    size_t *idx = xmalloc((r->n_findings + 1) * sizeof *idx);
    for (size_t i = 0; i < r->n_findings; i++)
        idx[i] = keys[i].index;
    free(keys);
    strmap_dispose(&order);
    return idx;
}

static void write_text(const policy_report *r, bool color, FILE *out)
{
    const char *red = color ? "\033[31;1m" : "", *yellow = color ? "\033[33;1m" : "",
               *green = color ? "\033[32;1m" : "", *dim = color ? "\033[2m" : "",
               *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    const char *vcol = r->verdict == POLICY_VERDICT_FAIL   ? red
                       : r->verdict == POLICY_VERDICT_WARN ? yellow
                                                           : green;
    fprintf(out, "%s%s%s  %zu fail, %zu warn, %zu info  (%zu resources, %zu gated, %zu images)\n",
            vcol,
            r->verdict == POLICY_VERDICT_FAIL   ? "FAIL"
            : r->verdict == POLICY_VERDICT_WARN ? "WARN"
                                                : "PASS",
            reset, r->count[POLICY_FAIL], r->count[POLICY_WARN], r->count[POLICY_INFO],
            r->resources, r->gated, r->images);
    size_t *idx = grouped(r);
    const char *last = NULL;
    for (size_t n = 0; n < r->n_findings; n++) {
        const policy_finding *f = &r->findings[idx[n]];
        if (!last || strcmp(last, f->address) != 0) {
            fprintf(out, "\n%s%s%s", bold, f->address, reset);
            if (f->action)
                fprintf(out, " %s(%s)%s", dim, f->action, reset);
            fputc('\n', out);
            last = f->address;
        }
        const char *lc = f->level == POLICY_FAIL ? red : f->level == POLICY_WARN ? yellow : dim;
        fprintf(out, "  %s%-4s%s  %-20s ", lc, policy_level_name(f->level), reset,
                policy_kind_name(f->kind));
        if (f->attribute && f->kind != PK_MENTION && f->kind != PK_MENTION_REVOKED)
            fprintf(out, "%s: ", f->attribute);
        fprintf(out, "%s\n", f->message ? f->message : "");
    }
    free(idx);
}

/* ---- markdown ------------------------------------------------------------ */

static void md_cell(strbuf *b, const char *s, int code)
{
    if (!s || !*s) {
        strbuf_puts(b, " ");
        return;
    }
    if (code)
        strbuf_putc(b, '`');
    for (const char *p = s; *p; p++) {
        if (*p == '|')
            strbuf_puts(b, "\\|");
        else if (*p == '\n' || *p == '\r')
            strbuf_putc(b, ' ');
        else if (*p == '`' && code)
            strbuf_putc(b, '\'');
        else if (!code && (*p == '<' || *p == '>'))
            strbuf_puts(b, *p == '<' ? "&lt;" : "&gt;");
        else
            strbuf_putc(b, *p);
    }
    if (code)
        strbuf_putc(b, '`');
}

#define MD_MAX_ROWS 200

static void write_markdown(const policy_report *r, FILE *out)
{
    static const char *icon[] = {"⚪ info", "🟡 warn", "🔴 fail"};
    const char *head = r->verdict == POLICY_VERDICT_FAIL   ? "❌ fail"
                       : r->verdict == POLICY_VERDICT_WARN ? "⚠️ warn"
                                                           : "✅ pass";
    fprintf(out, "### imagegate: %s\n\n", head);
    fprintf(out, "**%zu fail · %zu warn · %zu info** — %zu resources, %zu gated, %zu images\n\n",
            r->count[POLICY_FAIL], r->count[POLICY_WARN], r->count[POLICY_INFO], r->resources,
            r->gated, r->images);
    if (!r->n_findings) {
        fputs("No machine images found in the changes.\n", out);
        return;
    }
    /* warn and fail first; info rows only while there is room */
    strbuf b = STRBUF_INIT;
    strbuf_puts(&b, "| Level | Kind | Resource | Attribute | Image | Version | Details |\n"
                    "|---|---|---|---|---|---|---|\n");
    size_t rows = 0, hidden = 0;
    for (int lv = POLICY_FAIL; lv >= POLICY_INFO; lv--) {
        for (size_t i = 0; i < r->n_findings; i++) {
            const policy_finding *f = &r->findings[i];
            if ((int)f->level != lv)
                continue;
            if (rows >= MD_MAX_ROWS) {
                hidden++;
                continue;
            }
            strbuf_printf(&b, "| %s | %s | ", icon[f->level], policy_kind_name(f->kind));
            md_cell(&b, f->address, 1);
            strbuf_puts(&b, " | ");
            md_cell(&b, f->attribute, 1);
            strbuf_puts(&b, " | ");
            md_cell(&b, f->sensitive ? "(sensitive)" : f->image, !f->sensitive);
            strbuf_puts(&b, " | ");
            if (f->bucket) {
                char *bv = xasprintf("%s %s", f->bucket, f->version ? f->version : "");
                md_cell(&b, bv, 0);
                free(bv);
            } else {
                md_cell(&b, NULL, 0);
            }
            strbuf_puts(&b, " | ");
            md_cell(&b, f->message, 0);
            strbuf_puts(&b, " |\n");
            rows++;
        }
    }
    fputs(b.s, out);
    if (hidden)
        fprintf(out,
                "\n_%zu more findings not shown; run `imagegate scan --format text` for all "
                "of them._\n",
                hidden);
    strbuf_dispose(&b);
}

/* ---- SARIF 2.1.0 -------------------------------------------------------- */

static const char *sarif_level(policy_level l)
{
    return l == POLICY_FAIL ? "error" : l == POLICY_WARN ? "warning" : "note";
}

static json_t *sarif_location(const policy_finding *f)
{
    json_t *loc = json_object();
    json_object_set_new(
        loc, "logicalLocations",
        json_pack("[{s:s, s:s}]", "fullyQualifiedName", f->address, "kind", "resource"));
    /* pre_plan findings are FILE:LINE: a real place in the repository */
    const char *colon = strrchr(f->address, ':');
    if (colon && colon[1] && strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
        char *file = xstrndup(f->address, (size_t)(colon - f->address));
        json_object_set_new(loc, "physicalLocation",
                            json_pack("{s:{s:s}, s:{s:i}}", "artifactLocation", "uri", file,
                                      "region", "startLine", atoi(colon + 1)));
        free(file);
    }
    return loc;
}

static json_t *sarif_result(const policy_finding *f, int rule_index)
{
    const char *id = policy_kind_name(f->kind);
    json_t *res = json_pack("{s:s, s:i, s:s, s:{s:s}, s:[o]}", "ruleId", id, "ruleIndex",
                            rule_index, "level", sarif_level(f->level), "message", "text",
                            f->message ? f->message : id, "locations", sarif_location(f));
    json_t *props = json_object();
    if (f->bucket)
        json_object_set_new(props, "bucket", json_string(f->bucket));
    if (f->version)
        json_object_set_new(props, "version", json_string(f->version));
    if (f->attribute)
        json_object_set_new(props, "attribute", json_string(f->attribute));
    if (f->image)
        json_object_set_new(props, "image", json_string(f->image));
    json_object_set_new(res, "properties", props);
    char *fp = xasprintf("%s|%s|%s|%s", id, f->address, f->attribute ? f->attribute : "",
                         f->image ? f->image : "");
    json_object_set_new(res, "partialFingerprints", json_pack("{s:s}", "imagegate/v1", fp));
    free(fp);
    return res;
}

/* SARIF 2.1.0: the rules are known before the results (one per printed
 * kind), so the document is written as a stream like the JSON report. */
static int write_sarif(const policy_report *r, FILE *out)
{
    int rule_of[PK__COUNT];
    const char *ids[PK__COUNT];
    int n_rules = 0;
    json_t *rule_list = json_array();
    for (int k = 0; k < PK__COUNT; k++)
        rule_of[k] = -1;
    for (size_t i = 0; i < r->n_findings; i++) {
        const policy_finding *f = &r->findings[i];
        if (f->level == POLICY_INFO || rule_of[f->kind] >= 0)
            continue;
        const char *id = policy_kind_name(f->kind);
        int ri = -1;
        for (int k = 0; k < n_rules; k++)
            if (strcmp(ids[k], id) == 0)
                ri = k;
        if (ri < 0) {
            ri = n_rules;
            ids[n_rules++] = id;
            json_array_append_new(
                rule_list,
                json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:s}", "id", id, "name", id,
                          "shortDescription", "text", policy_kind_description(f->kind),
                          "defaultConfiguration", "level", sarif_level(f->level), "helpUri",
                          "https://github.com/imagegate/imagegate/blob/main/docs/policy.md"));
        }
        rule_of[f->kind] = ri;
    }
    json_t *driver = json_pack("{s:s, s:s, s:s, s:o}", "name", "imagegate", "informationUri",
                               "https://github.com/imagegate/imagegate", "semanticVersion", "0.1.0",
                               "rules", rule_list);
    fputs("{\n  \"$schema\": \"https://json.schemastore.org/sarif-2.1.0.json\",\n"
          "  \"version\": \"2.1.0\",\n  \"runs\": [\n    {\n      \"tool\": {\"driver\": ",
          out);
    int rc = json_dumpf(driver, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(driver);
    fputs("},\n      \"results\": [", out);
    int first = 1;
    for (size_t i = 0; i < r->n_findings && rc == 0; i++) {
        const policy_finding *f = &r->findings[i];
        if (f->level == POLICY_INFO)
            continue;
        json_t *res = sarif_result(f, rule_of[f->kind]);
        fputs(first ? "\n        " : ",\n        ", out);
        first = 0;
        rc = json_dumpf(res, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(res);
    }
    fputs(first ? "]\n    }\n  ]\n}\n" : "\n      ]\n    }\n  ]\n}\n", out);
    return rc;
}

/* ---- JUnit -------------------------------------------------------------- */

static void xml_escape(FILE *out, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        switch (*p) {
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '&':
            fputs("&amp;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&apos;", out);
            break;
        default:
            if (*p < 0x20 && *p != '\n' && *p != '\t')
                fputc(' ', out);
            else
                fputc(*p, out);
        }
    }
}

static void write_junit(const policy_report *r, FILE *out)
{
    /* test cases: every gated resource, then any other address with findings
     * (outputs, data sources, FILE:LINE), in order of appearance */
    strmap cases;
    strmap_init(&cases);
    const char **names = NULL;
    size_t n = 0, cap = 0;
    for (size_t i = 0; i < r->n_gated_addresses; i++) {
        const char *a = r->gated_addresses[i];
        int created;
        strmap_upsert(&cases, a, strlen(a), &created);
        if (created) {
            xgrow((void **)&names, &cap, n + 1, sizeof *names);
            names[n++] = a;
        }
    }
    for (size_t i = 0; i < r->n_findings; i++) {
        const char *a = r->findings[i].address;
        int created;
        strmap_upsert(&cases, a, strlen(a), &created);
        if (created) {
            xgrow((void **)&names, &cap, n + 1, sizeof *names);
            names[n++] = a;
        }
    }
    /* findings per case: index lists */
    size_t *first = xcalloc(n + 1, sizeof *first), *next = xcalloc(r->n_findings + 1, sizeof *next);
    size_t *lastf = xcalloc(n + 1, sizeof *lastf);
    strmap pos;
    strmap_init(&pos);
    for (size_t c = 0; c < n; c++)
        strmap_upsert(&pos, names[c], strlen(names[c]), NULL)->value = (void *)(uintptr_t)(c + 1);
    size_t failures = 0;
    for (size_t i = 0; i < r->n_findings; i++) {
        const policy_finding *f = &r->findings[i];
        size_t c = (uintptr_t)strmap_get(&pos, f->address, strlen(f->address)) - 1;
        if (!first[c])
            first[c] = i + 1;
        else
            next[lastf[c] - 1] = i + 1;
        lastf[c] = i + 1;
    }
    for (size_t c = 0; c < n; c++) {
        for (size_t k = first[c]; k; k = next[k - 1])
            if (r->findings[k - 1].level == POLICY_FAIL) {
                failures++;
                break;
            }
    }
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
    fprintf(out,
            "<testsuites name=\"imagegate\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n"
            "  <testsuite name=\"imagegate scan\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "skipped=\"0\">\n",
            n, failures, n, failures);
    for (size_t c = 0; c < n; c++) {
        fputs("    <testcase classname=\"imagegate\" name=\"", out);
        xml_escape(out, names[c]);
        fputs("\">\n", out);
        int failed = 0;
        strbuf lines = STRBUF_INIT;
        for (size_t k = first[c]; k; k = next[k - 1]) {
            const policy_finding *f = &r->findings[k - 1];
            if (f->level == POLICY_FAIL && !failed) {
                fputs("      <failure type=\"", out);
                xml_escape(out, policy_kind_name(f->kind));
                fputs("\" message=\"", out);
                xml_escape(out, f->message);
                fputs("\"/>\n", out);
                failed = 1;
            }
            strbuf_printf(&lines, "%s %s%s%s: %s\n", policy_level_name(f->level),
                          policy_kind_name(f->kind), f->attribute ? " " : "",
                          f->attribute ? f->attribute : "", f->message ? f->message : "");
        }
        if (lines.len) {
            fputs("      <system-out>", out);
            xml_escape(out, lines.s);
            fputs("</system-out>\n", out);
        }
        strbuf_dispose(&lines);
        fputs("    </testcase>\n", out);
    }
    fputs("  </testsuite>\n</testsuites>\n", out);
    free(first);
    free(next);
    free(lastf);
    free(names);
    strmap_dispose(&pos);
    strmap_dispose(&cases);
}

int report_write(const policy_report *r, report_format fmt, bool color, FILE *out)
{
    int rc = 0;
    switch (fmt) {
    case REPORT_TEXT:
        write_text(r, color, out);
        break;
    case REPORT_MARKDOWN:
        write_markdown(r, out);
        break;
    case REPORT_JUNIT:
        write_junit(r, out);
        break;
    case REPORT_JSON:
        rc = write_json(r, out);
        break;
    case REPORT_SARIF:
        rc = write_sarif(r, out);
        break;
    }
    if (rc)
        return -1;
    return ferror(out) ? -1 : 0;
}
