/* Fuzz driver: scan_config_text, the pre_plan scanner of .tf / .tfvars
 * text (comment masking, strings, heredocs, then the patterns per line).
 *
 * The text is handed over in a buffer of exactly its length (no NUL after
 * it), so a read past the end is an ASan report. Properties: every
 * reference's value occurs in the text as written (masking only blanks
 * comments, it never invents bytes), on the line it names; then policy_eval
 * and the report checks run on the references, as on the server. */
#include "tests/fuzz/fuzz.h"

#include <string.h>

#include "rules/rules.h"
#include "scanners/scan.h"

static rules *RS;
static rules_matcher *M;
static policy *POLICY;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!RS) {
        char err[512];
        RS = rules_load(NULL, err, sizeof err);
        FUZZ_CHECK(RS != NULL, "rules_load: %s", err);
        M = rules_matcher_new(RS);
        POLICY = policy_default();
    }
    char *text = malloc(size ? size : 1);
    if (size)
        memcpy(text, data, size);
    scan_result *res = scan_result_new();
    scan_config_text(RS, M, "fuzz/main.tf", text, size, res);

    int lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += text[i] == '\n';
    for (size_t i = 0; i < res->n_refs; i++) {
        const scan_ref *r = &res->refs[i];
        FUZZ_CHECK(r->kind == SCAN_REF_CONFIG && r->address && r->value && r->lookup,
                   "reference %zu incomplete", i);
        FUZZ_CHECK(r->line >= 1 && r->line <= lines, "reference %zu on line %d of %d", i, r->line,
                   lines);
        /* the value is on its line, as written */
        size_t ls = 0;
        for (int l = 1; l < r->line; l++)
            ls = (size_t)((const char *)memchr(text + ls, '\n', size - ls) - text) + 1;
        const char *nl = memchr(text + ls, '\n', size - ls);
        size_t le = nl ? (size_t)(nl - text) : size;
        FUZZ_CHECK(memmem(text + ls, le - ls, r->value, strlen(r->value)) != NULL,
                   "reference %zu: %s is not on line %d", i, r->value, r->line);
    }

    policy_scope scope = {"acme", "web-prod", 1795165200000LL};
    char err[512];
    policy_report *rep = policy_eval(POLICY, res, &fuzz_lookup, &scope, err, sizeof err);
    if (rep) {
        fuzz_check_report(rep, res, NULL, 0);
        policy_report_free(rep);
    }
    scan_result_free(res);
    free(text);
    return 0;
}
