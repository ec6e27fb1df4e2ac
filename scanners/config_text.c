/* Image IDs in .tf / .tfvars text (pre_plan). The text is first masked:
 * comments (#, //, slash-star blocks) become spaces so that an ID in a
 * comment does not fail a run, while strings and heredocs stay as they are.
 * Then the patterns run over each line. Newlines are kept, so line numbers
 * are those of the file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/xalloc.h"
#include "scanners/scan.h"

static int ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

/* Returns a masked copy of text (same length). */
static char *mask_comments(const char *text, size_t len)
{
    char *out = xmalloc(len + 1);
    memcpy(out, text, len);
    out[len] = '\0';
    size_t i = 0;
    while (i < len) {
        char c = out[i];
        if (c == '"') {
            i++;
            while (i < len && out[i] != '"' && out[i] != '\n') {
                if (out[i] == '\\' && i + 1 < len)
                    i++;
                i++;
            }
            i++;
        } else if (c == '#' || (c == '/' && i + 1 < len && out[i + 1] == '/')) {
            while (i < len && out[i] != '\n')
                out[i++] = ' ';
        } else if (c == '/' && i + 1 < len && out[i + 1] == '*') {
            while (i < len && !(out[i] == '*' && i + 1 < len && out[i + 1] == '/')) {
                if (out[i] != '\n')
                    out[i] = ' ';
                i++;
            }
            if (i < len)
                out[i++] = ' ';
            if (i < len)
                out[i++] = ' ';
        } else if (c == '<' && i + 2 < len && out[i + 1] == '<') {
            /* heredoc: <<ID or <<-ID, then lines up to a line that is ID */
            size_t j = i + 2;
            if (j < len && out[j] == '-')
                j++;
            size_t id0 = j;
            while (j < len && ident_char(out[j]))
                j++;
            size_t idlen = j - id0;
            if (idlen == 0) {
                i += 2;
                continue;
            }
            char id[128];
            if (idlen >= sizeof id)
                idlen = sizeof id - 1;
            memcpy(id, out + id0, idlen);
            id[idlen] = '\0';
            while (j < len && out[j] != '\n')
                j++;
            /* skip body lines until the terminator */
            while (j < len) {
                j++; /* past newline */
                size_t ls = j;
                while (j < len && out[j] != '\n')
                    j++;
                size_t a = ls, b = j;
                while (a < b && (out[a] == ' ' || out[a] == '\t'))
                    a++;
                while (b > a && (out[b - 1] == ' ' || out[b - 1] == '\t' || out[b - 1] == '\r'))
                    b--;
                if (b - a == strlen(id) && memcmp(out + a, id, b - a) == 0)
                    break;
            }
            i = j;
        } else {
            i++;
        }
    }
    return out;
}

void scan_config_text(const rules *rs, rules_matcher *m, const char *name, const char *text,
                      size_t len, scan_result *res)
{
    if (!res->arena_) {
        res->arena_ = xmalloc(sizeof(arena));
        arena_init(res->arena_);
    }
    arena *ar = res->arena_;
    char *masked = mask_comments(text, len);
    int line = 1;
    size_t ls = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && masked[i] != '\n')
            continue;
        size_t off = ls;
        rules_match mt;
        while (off < i && rules_find(m, masked, i, off, &mt)) {
            res->refs = xrealloc(res->refs, (res->n_refs + 1) * sizeof *res->refs);
            scan_ref *r = &res->refs[res->n_refs++];
            memset(r, 0, sizeof *r);
            r->kind = SCAN_REF_CONFIG;
            char loc[64];
            snprintf(loc, sizeof loc, ":%d", line);
            size_t nl = strlen(name);
            char *addr = arena_alloc(ar, nl + strlen(loc) + 1);
            memcpy(addr, name, nl);
            strcpy(addr + nl, loc);
            r->address = addr;
            r->value = arena_strndup(ar, masked + mt.start, mt.len);
            r->lookup = arena_strndup(ar, masked + mt.lookup_start, mt.lookup_len);
            r->platform = rules_pattern_at(rs, mt.pattern)->platform;
            r->recognized = true;
            r->line = line;
            r->action = SCAN_ACT_NONE;
            r->provenance = SCAN_PROV_LITERAL;
            off = mt.start + mt.len;
        }
        line++;
        ls = i + 1;
    }
    free(masked);
}
