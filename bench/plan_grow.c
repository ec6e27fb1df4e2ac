/* plan_grow: grows a real Terraform plan to a given size for benchmarks.
 *
 *   plan_grow SRC.plan.json MEGABYTES OUT.json
 *
 * Every element of resource_changes and planned_values' root_module
 * resources is repeated with a new instance index (node[0] .. node[N-1]),
 * round-robin over the source's elements, until the output reaches the
 * size; every other top-level key is copied as is. The output is one line,
 * like `terraform show -json`. Memory: the source plan only. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *base_address(const json_t *r)
{
    return json_string_value(json_object_get(r, "address"));
}

/* "aws_instance.node[17]" -> "aws_instance.node" */
static char *strip_index(const char *a)
{
    char *s = strdup(a);
    char *b = strrchr(s, '[');
    if (b && s[strlen(s) - 1] == ']')
        *b = '\0';
    return s;
}

static void dump_instance(FILE *out, json_t *tmpl, size_t i)
{
    json_t *r = json_deep_copy(tmpl);
    char *base = strip_index(base_address(tmpl));
    char addr[512];
    snprintf(addr, sizeof addr, "%s[%zu]", base, i);
    free(base);
    json_object_set_new(r, "address", json_string(addr));
    if (json_object_get(r, "index"))
        json_object_set_new(r, "index", json_integer((json_int_t)i));
    json_dumpf(r, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(r);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: plan_grow SRC.plan.json MEGABYTES OUT.json\n");
        return 2;
    }
    json_error_t je;
    json_t *src = json_load_file(argv[1], JSON_PRESERVE_ORDER, &je);
    if (!src) {
        fprintf(stderr, "plan_grow: %s:%d: %s\n", argv[1], je.line, je.text);
        return 2;
    }
    double mb = atof(argv[2]);
    json_t *rcs = json_object_get(src, "resource_changes");
    json_t *pvs = json_object_get(
        json_object_get(json_object_get(src, "planned_values"), "root_module"), "resources");
    size_t nrc = json_array_size(rcs), npv = json_array_size(pvs);
    if (!nrc) {
        fprintf(stderr, "plan_grow: %s has no resource_changes\n", argv[1]);
        return 2;
    }
    /* bytes per instance, measured on the source */
    char *whole = json_dumps(src, JSON_COMPACT);
    double per = (double)strlen(whole) / (double)nrc;
    free(whole);
    size_t n = (size_t)(mb * 1024 * 1024 / per);
    if (n < 1)
        n = 1;
    FILE *out = fopen(argv[3], "w");
    if (!out) {
        perror(argv[3]);
        return 2;
    }
    fputc('{', out);
    const char *k;
    json_t *v;
    int first = 1;
    json_object_foreach(src, k, v)
    {
        if (!first)
            fputc(',', out);
        first = 0;
        json_t *ks = json_string(k);
        json_dumpf(ks, out, JSON_ENCODE_ANY);
        json_decref(ks);
        fputc(':', out);
        if (strcmp(k, "resource_changes") == 0) {
            fputc('[', out);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputc(',', out);
                dump_instance(out, json_array_get(rcs, i % nrc), i);
            }
            fputc(']', out);
        } else if (strcmp(k, "planned_values") == 0 && npv) {
            fputs("{\"root_module\":{\"resources\":[", out);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    fputc(',', out);
                dump_instance(out, json_array_get(pvs, i % npv), i);
            }
            fputs("]}}", out);
        } else {
            json_dumpf(v, out, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        }
    }
    fputc('}', out);
    if (fclose(out) != 0) {
        perror(argv[3]);
        return 2;
    }
    printf("%s: %zu instances\n", argv[3], n);
    json_decref(src);
    return 0;
}
