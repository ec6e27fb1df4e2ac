/* Unit tests for common/: time, durations, numbers, ULIDs, strbuf, YAML. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hex.h"
#include "common/jsonw.h"
#include "common/numparse.h"
#include "common/strbuf.h"
#include "common/timeutil.h"
#include "common/ulid.h"
#include "common/xalloc.h"
#include "common/ydoc.h"
#include "common/log.h"

static void test_time_parse_ok(void **state)
{
    (void)state;
    char err[256];
    ig_time t;
    assert_int_equal(ig_time_parse("1970-01-01T00:00:00Z", &t, err, sizeof err), 0);
    assert_int_equal(t, 0);
    assert_int_equal(ig_time_parse("2026-11-20T09:00:00Z", &t, err, sizeof err), 0);
    assert_int_equal(t, 1795165200000LL);
    assert_int_equal(ig_time_parse("2026-11-20T11:00:00.250+02:00", &t, err, sizeof err), 0);
    assert_int_equal(t, 1795165200250LL);
    assert_int_equal(ig_time_parse("2024-02-29T00:00:00Z", &t, err, sizeof err), 0);
    char buf[40];
    assert_string_equal(ig_time_format(1795165200000LL, buf, sizeof buf), "2026-11-20T09:00:00Z");
    assert_string_equal(ig_time_format(1795165200250LL, buf, sizeof buf),
                        "2026-11-20T09:00:00.250Z");
    /* before 1970: valid RFC 3339 times, negative, and printed back the same */
    assert_int_equal(ig_time_parse("1969-07-20T20:17:40Z", &t, err, sizeof err), 0);
    assert_int_equal(t, -14182940000LL);
    assert_string_equal(ig_time_format(t, buf, sizeof buf), "1969-07-20T20:17:40Z");
    assert_int_equal(ig_time_parse("1969-12-31T23:59:59.500Z", &t, err, sizeof err), 0);
    assert_int_equal(t, -500);
    assert_string_equal(ig_time_format(t, buf, sizeof buf), "1969-12-31T23:59:59.500Z");
    assert_int_equal(ig_time_parse("1970-01-01T01:00:00+02:00", &t, err, sizeof err), 0);
    assert_int_equal(t, -3600000LL);
    assert_int_equal(ig_time_parse("0000-01-01T00:00:00Z", &t, err, sizeof err), 0);
    assert_int_equal(t, -62167219200000LL);
    assert_string_equal(ig_time_format(t, buf, sizeof buf), "0000-01-01T00:00:00Z");
    assert_int_equal(ig_time_parse("1600-02-29T00:00:00Z", &t, err, sizeof err), 0);
    assert_string_equal(ig_time_format(t, buf, sizeof buf), "1600-02-29T00:00:00Z");
}

static void test_time_parse_bad(void **state)
{
    (void)state;
    char err[256];
    ig_time t;
    const char *bad[] = {"2026-02-30T00:00:00Z",
                         "2025-02-29T00:00:00Z",
                         "2026-13-01T00:00:00Z",
                         "2026-11-20T24:00:00Z",
                         "2026-11-20 09:00:00Z",
                         "2026-11-20T09:00:00",
                         "yesterday",
                         "",
                         "2026-11-20T09:00:00Zjunk",
                         "2026-11-20T09:00:00+2:00",
                         "1900-02-29T00:00:00Z",
                         "-001-01-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(ig_time_parse(bad[i], &t, err, sizeof err), -1);
        assert_true(strlen(err) > 0);
    }
    ig_time_parse("2026-02-30T00:00:00Z", &t, err, sizeof err);
    assert_non_null(strstr(err, "not a possible date"));
}

static void test_duration(void **state)
{
    (void)state;
    char err[256];
    int64_t ms;
    assert_int_equal(ig_duration_parse("30d", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 30LL * 86400 * 1000);
    assert_int_equal(ig_duration_parse("12h", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 12LL * 3600 * 1000);
    assert_int_equal(ig_duration_parse("45m", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 45LL * 60 * 1000);
    assert_int_equal(ig_duration_parse("0s", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 0);
    assert_int_equal(ig_duration_parse("1h30m", &ms, err, sizeof err), 0);
    assert_int_equal(ms, 90LL * 60 * 1000);
    assert_int_equal(ig_duration_parse("30", &ms, err, sizeof err), -1);
    assert_int_equal(ig_duration_parse("d", &ms, err, sizeof err), -1);
    assert_int_equal(ig_duration_parse("-5m", &ms, err, sizeof err), -1);
    assert_int_equal(ig_duration_parse("5y", &ms, err, sizeof err), -1);
    assert_int_equal(ig_duration_parse("99999999999999999999d", &ms, err, sizeof err), -1);
    assert_non_null(strstr(err, "100 years"));
    ig_time since;
    assert_int_equal(ig_time_parse_since("24h", 86400000LL * 2, &since, err, sizeof err), 0);
    assert_int_equal(since, 86400000LL);
    assert_int_equal(ig_time_parse_since("1970-01-02T00:00:00Z", 0, &since, err, sizeof err), 0);
    assert_int_equal(since, 86400000LL);
    assert_int_equal(ig_time_parse_since("nope", 0, &since, err, sizeof err), -1);
}

static void test_numbers(void **state)
{
    (void)state;
    char err[256];
    int64_t v;
    assert_int_equal(parse_int64("--workers", "8", 1, 64, &v, err, sizeof err), 0);
    assert_int_equal(v, 8);
    assert_int_equal(parse_int64("--workers", "0", 1, 64, &v, err, sizeof err), -1);
    assert_non_null(strstr(err, "--workers"));
    assert_int_equal(parse_int64("--workers", "8x", 1, 64, &v, err, sizeof err), -1);
    assert_int_equal(parse_int64("--workers", "", 1, 64, &v, err, sizeof err), -1);
    assert_int_equal(parse_size("--max-plan-bytes", "100M", 1, INT64_MAX, &v, err, sizeof err), 0);
    assert_int_equal(v, 100LL * 1024 * 1024);
    assert_int_equal(parse_size("x", "2G", 1, INT64_MAX, &v, err, sizeof err), 0);
    assert_int_equal(v, 2LL * 1024 * 1024 * 1024);
    assert_int_equal(parse_size("x", "12q", 1, INT64_MAX, &v, err, sizeof err), -1);
    assert_int_equal(parse_size("x", "99999999999G", 1, INT64_MAX, &v, err, sizeof err), -1);
}

static void test_ulid(void **state)
{
    (void)state;
    char a[ULID_LEN + 1], b[ULID_LEN + 1];
    ulid_new(1795165200000LL, a);
    ulid_new(1795165200000LL, b);
    assert_int_equal(strlen(a), 26);
    assert_true(strcmp(a, b) < 0); /* monotonic in the same millisecond */
    assert_memory_equal(a, b, 10); /* same time prefix */
    for (int i = 0; i < 26; i++)
        assert_non_null(strchr("0123456789ABCDEFGHJKMNPQRSTVWXYZ", a[i]));
    char c[ULID_LEN + 1];
    ulid_new(1795165200001LL, c);
    assert_true(strcmp(b, c) < 0);
    /* time 0 encodes as ten zeros */
    char z[ULID_LEN + 1];
    ulid_new(0, z);
    assert_true(strcmp(c, z) < 0); /* clock went backwards: still unique and ordered */
}

static void test_strbuf(void **state)
{
    (void)state;
    strbuf b = STRBUF_INIT;
    for (int i = 0; i < 1000; i++)
        strbuf_printf(&b, "%d,", i);
    assert_int_equal(b.len, strlen(b.s));
    assert_memory_equal(b.s, "0,1,2,", 6);
    char *s = strbuf_steal(&b);
    assert_null(b.s);
    free(s);
}

/* jsonw_str against a JSON parser: strings with a character to escape at
 * every position around the 16-byte runs the writer scans read back as
 * they were written, and the escapes are the short ones. */
static void test_jsonw_str(void **state)
{
    (void)state;
    static const char *const special[] = {"\"", "\\", "\n", "\t", "\x01", "\x1f", "\xc3\xa9", "/"};
    strbuf b = STRBUF_INIT;
    char in[80];
    for (size_t len = 0; len < 40; len++)
        for (size_t at = 0; at <= len; at++)
            for (size_t k = 0; k < sizeof special / sizeof *special; k++) {
                memset(in, 'a', len);
                snprintf(in + at, sizeof in - at, "%s%.*s", special[k], (int)(len - at),
                         "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
                strbuf_reset(&b);
                jsonw_str(&b, in);
                json_error_t e;
                json_t *j = json_loadb(b.s, b.len, JSON_DECODE_ANY, &e);
                assert_non_null(j);
                assert_string_equal(json_string_value(j), in);
                json_decref(j);
            }
    strbuf_reset(&b);
    jsonw_str(&b, "tab\there \"q\" back\\slash \x02 new\nline, long enough to span runs");
    assert_string_equal(b.s, "\"tab\\there \\\"q\\\" back\\\\slash \\u0002 new\\nline, long "
                             "enough to span runs\"");
    strbuf_reset(&b);
    jsonw_str(&b, NULL);
    jsonw_key(&b, "k");
    assert_string_equal(b.s, "null\"k\":");
    strbuf_dispose(&b);
}

/* Everything jansson refuses becomes '?'; valid text stays as it is. */
static void test_utf8_repair(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain ascii", "plain ascii"},
        {"h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf", NULL}, /* valid */
        {"\xed\xb8\x80", "???"},           /* a lone surrogate (yajl decodes \\ude00 so) */
        {"\xed\x9f\xbf", NULL},            /* U+D7FF, just below the surrogates */
        {"\xc0\xaf\xe0\x80\xaf", "?????"}, /* overlong '/' twice */
        {"\xf0\x8f\xbf\xbf", "????"},      /* overlong U+FFFF */
        {"\xf4\x90\x80\x80", "????"},      /* past U+10FFFF */
        {"\xf5\x80\x80\x80", "????"},
        {"cut \xe2\x82", "cut ??"}, /* truncated */
        {"\xff\xfe", "??"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", cases[i].in);
        str_utf8_repair(buf, strlen(buf));
        assert_string_equal(buf, cases[i].out ? cases[i].out : cases[i].in);
    }
    char nul[3] = {'a', '\0', 'b'};
    str_utf8_repair(nul, 3);
    assert_memory_equal(nul, "a?b", 3);
}

static void test_ydoc(void **state)
{
    (void)state;
    char err[256];
    const char *y = "a: 1\nlist:\n  - x\n  - 'y'\nmap: {k: v}\nn: null\n";
    ynode *d = ydoc_parse_string(y, strlen(y), "t.yaml", err, sizeof err);
    assert_non_null(d);
    assert_int_equal(d->type, YNODE_MAP);
    assert_string_equal(ydoc_get(d, "a")->value, "1");
    ynode *l = ydoc_get(d, "list");
    assert_int_equal(l->type, YNODE_SEQ);
    assert_int_equal(l->n, 2);
    assert_int_equal(l->items[1]->line, 4);
    assert_false(l->items[1]->plain);
    assert_string_equal(ydoc_get(ydoc_get(d, "map"), "k")->value, "v");
    assert_true(ydoc_is_null(ydoc_get(d, "n")));
    ydoc_free(d);

    const char *bad = "a: [1, 2\n";
    assert_null(ydoc_parse_string(bad, strlen(bad), "bad.yaml", err, sizeof err));
    assert_non_null(strstr(err, "bad.yaml:"));
    const char *dup = "a: 1\na: 2\n";
    assert_null(ydoc_parse_string(dup, strlen(dup), "dup.yaml", err, sizeof err));
    assert_non_null(strstr(err, "dup.yaml:2: duplicate key"));
    const char *alias = "a: &x [1]\nb: *x\n";
    assert_null(ydoc_parse_string(alias, strlen(alias), "al.yaml", err, sizeof err));
    /* JSON is YAML */
    const char *js = "{\"k\": [1, {\"z\": true}]}";
    d = ydoc_parse_string(js, strlen(js), "j.json", err, sizeof err);
    assert_non_null(d);
    bool bv = false;
    assert_int_equal(ydoc_bool(ydoc_get(ydoc_get(d, "k")->items[1], "z"), &bv), 0);
    assert_true(bv);
    ydoc_free(d);
}

/* A map with many keys: every key is kept and found, a repeated key is
 * refused wherever it comes (the set of seen keys is a hash, not a scan of
 * the earlier keys), and the same key in two maps is not a duplicate. */
static void test_ydoc_many_keys(void **state)
{
    (void)state;
    enum { N = 50000 };
    char err[256];
    strbuf y;
    strbuf_init(&y);
    strbuf_printf(&y, "other: {k7: x}\nm:\n");
    for (int i = 0; i < N; i++)
        strbuf_printf(&y, "  k%d: %d\n", i, i);
    ynode *d = ydoc_parse_string(y.s, y.len, "many.yaml", err, sizeof err);
    if (!d)
        fail_msg("%s", err);
    ynode *m = ydoc_get(d, "m");
    assert_int_equal(m->n, N);
    assert_string_equal(ydoc_get(m, "k0")->value, "0");
    assert_string_equal(ydoc_get(m, "k49999")->value, "49999");
    assert_int_equal(m->key_lines[N - 1], N + 2);
    assert_string_equal(ydoc_get(ydoc_get(d, "other"), "k7")->value, "x");
    ydoc_free(d);

    size_t len = y.len;
    strbuf_printf(&y, "  k12345: again\n");
    assert_null(ydoc_parse_string(y.s, y.len, "many.yaml", err, sizeof err));
    char want[64];
    snprintf(want, sizeof want, "many.yaml:%d: duplicate key 'k12345'", N + 3);
    assert_string_equal(err, want);

    y.len = len;
    strbuf_printf(&y, "other: again\n");
    assert_null(ydoc_parse_string(y.s, y.len, "many.yaml", err, sizeof err));
    snprintf(want, sizeof want, "many.yaml:%d: duplicate key 'other'", N + 3);
    assert_string_equal(err, want);
    strbuf_dispose(&y);

    /* keys compare as C strings, as ydoc_get() finds them */
    const char *nul = "\"a\\0b\": 1\n\"a\\0c\": 2\n";
    assert_null(ydoc_parse_string(nul, strlen(nul), "nul.yaml", err, sizeof err));
    assert_non_null(strstr(err, "nul.yaml:2: duplicate key"));
}

static void test_log_quote(void **state)
{
    (void)state;
    char buf[64];
    assert_string_equal(log_quote("plain", buf, sizeof buf), "plain");
    assert_string_equal(log_quote("two words", buf, sizeof buf), "\"two words\"");
    assert_string_equal(log_quote("a\"b", buf, sizeof buf), "\"a\\\"b\"");
    assert_string_equal(log_quote(NULL, buf, sizeof buf), "-");
}

static void test_hex(void **state)
{
    (void)state;
    assert_int_equal(hex_digit('0'), 0);
    assert_int_equal(hex_digit('9'), 9);
    assert_int_equal(hex_digit('a'), 10);
    assert_int_equal(hex_digit('F'), 15);
    assert_int_equal(hex_digit('g'), -1);
    assert_int_equal(hex_digit('\0'), -1);
    assert_int_equal(hex_digit(0xe9), -1);
    assert_int_equal(hex_byte("3f"), 0x3f);
    assert_int_equal(hex_byte("A0x"), 0xa0);
    assert_int_equal(hex_byte("0g"), -1);
    assert_int_equal(hex_byte("g0"), -1);
    assert_int_equal(hex_byte(""), -1); /* s[1] is not read */

    const unsigned char raw[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof raw + 1];
    memset(out, 'x', sizeof out);
    assert_ptr_equal(hex_encode(raw, sizeof raw, out), out);
    assert_string_equal(out, "00017f80abff");
    assert_string_equal(hex_encode(raw, 0, out), "");

    unsigned char back[sizeof raw];
    assert_int_equal(hex_decode("00017F80abFF", back, sizeof back), 0);
    assert_memory_equal(back, raw, sizeof raw);
    assert_int_equal(hex_decode("00017f80abf", back, sizeof back), -1);    /* short */
    assert_int_equal(hex_decode("00017f80abfff0", back, sizeof back), -1); /* long */
    assert_int_equal(hex_decode("00017f80abfg", back, sizeof back), -1);   /* last digit */
    assert_int_equal(hex_decode(" 0017f80abff", back, sizeof back), -1);   /* first digit */
    assert_int_equal(hex_decode("", back, 0), 0);
}

static void test_mono_seconds(void **state)
{
    (void)state;
    double a = ig_mono_seconds();
    double b = ig_mono_seconds();
    assert_true(a > 0);
    assert_true(b >= a); /* never goes back */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse_ok), cmocka_unit_test(test_time_parse_bad),
        cmocka_unit_test(test_duration),      cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_ulid),          cmocka_unit_test(test_strbuf),
        cmocka_unit_test(test_jsonw_str),     cmocka_unit_test(test_utf8_repair),
        cmocka_unit_test(test_ydoc),          cmocka_unit_test(test_ydoc_many_keys),
        cmocka_unit_test(test_log_quote),     cmocka_unit_test(test_hex),
        cmocka_unit_test(test_mono_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
