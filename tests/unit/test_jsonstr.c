/* test_jsonstr.c - the JSON string writer: escapes as Python's json.dumps,
 * malformed UTF-8 as U+FFFD (plain) or an error (ASCII mode), and output the
 * project's own parser reads back to the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/buf.h"
#include "normcache/json.h"
#include "normcache/jsonstr.h"

#define FFFD "\xEF\xBF\xBD"

/* Writes s[0..len) with flags; checks the result against want (a C string,
 * quotes included) or, when want is NULL, that the writer failed. line is
 * the caller's, for the failure message. */
static void expect(int line, const char *s, size_t len, unsigned flags, const char *want)
{
    struct nc_buf b;
    nc_buf_init(&b);
    int rc = nc_jsonstr_append(&b, s, len, flags);
    if (!want) {
        if (rc != -1)
            fail_msg("line %d: expected -1, got %d", line, rc);
    } else {
        assert_int_equal(rc, 0);
        if (b.len != strlen(want) || memcmp(b.data, want, b.len) != 0)
            fail_msg("line %d: got [%.*s], want [%s]", line, (int)b.len, b.data, want);
    }
    nc_buf_free(&b);
}
#define EXPECT(lit, flags, want) expect(__LINE__, lit, sizeof(lit) - 1, flags, want)

static void test_plain_escapes(void **state)
{
    (void)state;
    EXPECT("", 0, "\"\"");
    EXPECT("hello, world", 0, "\"hello, world\"");
    EXPECT("say \"hi\"", 0, "\"say \\\"hi\\\"\"");
    EXPECT("a\\b", 0, "\"a\\\\b\"");
    EXPECT("/", 0, "\"/\""); /* not escaped, as Python */
    EXPECT("\n\r\t\b\f", 0, "\"\\n\\r\\t\\b\\f\"");
    /* other controls: \u00XX in lower case */
    EXPECT("\x01", 0, "\"\\u0001\"");
    EXPECT("\x1b[0m", 0, "\"\\u001b[0m\"");
    EXPECT("\x1f", 0, "\"\\u001f\"");
    EXPECT("\x0b", 0, "\"\\u000b\"");
    expect(__LINE__, "a\0b", 3, 0, "\"a\\u0000b\"");
    /* DEL is not a control for JSON: it passes */
    EXPECT("\x7f", 0, "\"\x7f\"");
    EXPECT(" ~", 0, "\" ~\"");
}

static void test_plain_utf8(void **state)
{
    (void)state;
    /* well-formed UTF-8 is copied as it is */
    EXPECT("caf\xC3\xA9", 0, "\"caf\xC3\xA9\"");
    EXPECT("\xE2\x82\xAC 5", 0, "\"\xE2\x82\xAC 5\"");
    EXPECT("\xF0\x9F\x98\x80", 0, "\"\xF0\x9F\x98\x80\"");
    EXPECT("\xF4\x8F\xBF\xBF", 0, "\"\xF4\x8F\xBF\xBF\"");
    EXPECT("\xC2\x80\xC2\x85", 0, "\"\xC2\x80\xC2\x85\""); /* C1 controls are not escaped */
    /* each malformed byte becomes one U+FFFD; what follows is kept */
    EXPECT("\x80", 0, "\"" FFFD "\"");
    EXPECT("a\xFF"
           "b",
           0, "\"a" FFFD "b\"");
    EXPECT("\xC3(", 0, "\"" FFFD "(\"");
    EXPECT("\xC0\x80", 0, "\"" FFFD FFFD "\"");                   /* overlong */
    EXPECT("\xE0\x80\x80", 0, "\"" FFFD FFFD FFFD "\"");          /* overlong */
    EXPECT("\xED\xA0\x80", 0, "\"" FFFD FFFD FFFD "\"");          /* surrogate */
    EXPECT("\xF4\x90\x80\x80", 0, "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
    EXPECT("x\xE2\x82", 0, "\"x" FFFD FFFD "\"");                 /* truncated at the end */
    EXPECT("\xF0\x9F\x98", 0, "\"" FFFD FFFD FFFD "\"");
    EXPECT("\xF0\x9F\x98\"", 0, "\"" FFFD FFFD FFFD "\\\"\""); /* then an escape */
    EXPECT("\xC3\xA9\xC3", 0, "\"\xC3\xA9" FFFD "\"");
}

static void test_ascii(void **state)
{
    (void)state;
    EXPECT("plain", NC_JSONSTR_ASCII, "\"plain\"");
    EXPECT("\"\\\n\r\t\b\f", NC_JSONSTR_ASCII, "\"\\\"\\\\\\n\\r\\t\\b\\f\"");
    EXPECT("\x01\x1f", NC_JSONSTR_ASCII, "\"\\u0001\\u001f\"");
    EXPECT("\x7f", NC_JSONSTR_ASCII, "\"\\u007f\""); /* as ensure_ascii */
    EXPECT("caf\xC3\xA9", NC_JSONSTR_ASCII, "\"caf\\u00e9\"");
    EXPECT("\xC2\x80", NC_JSONSTR_ASCII, "\"\\u0080\"");
    EXPECT("\xE2\x82\xAC", NC_JSONSTR_ASCII, "\"\\u20ac\"");
    EXPECT("\xEF\xBF\xBF", NC_JSONSTR_ASCII, "\"\\uffff\"");
    /* astral: a UTF-16 surrogate pair, lower case */
    EXPECT("\xF0\x9F\x98\x80", NC_JSONSTR_ASCII, "\"\\ud83d\\ude00\"");
    EXPECT("\xF0\x90\x80\x80", NC_JSONSTR_ASCII, "\"\\ud800\\udc00\"");
    EXPECT("\xF4\x8F\xBF\xBF", NC_JSONSTR_ASCII, "\"\\udbff\\udfff\"");
    EXPECT("a\xF0\x9F\x98\x80z", NC_JSONSTR_ASCII, "\"a\\ud83d\\ude00z\"");
    /* malformed UTF-8 is an error */
    EXPECT("\x80", NC_JSONSTR_ASCII, NULL);
    EXPECT("ok\xFF", NC_JSONSTR_ASCII, NULL);
    EXPECT("\xC0\x80", NC_JSONSTR_ASCII, NULL);
    EXPECT("\xED\xA0\x80", NC_JSONSTR_ASCII, NULL);
    EXPECT("\xF4\x90\x80\x80", NC_JSONSTR_ASCII, NULL);
    EXPECT("\xE2\x82", NC_JSONSTR_ASCII, NULL);
}

/* The writer appends: what the buffer held stays in front. */
static void test_appends(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_appends(&b, "{\"k\":"), 0);
    assert_int_equal(nc_jsonstr_append(&b, "v\n", 2, 0), 0);
    assert_int_equal(nc_buf_appendc(&b, '}'), 0);
    assert_string_equal(b.data, "{\"k\":\"v\\n\"}");
    nc_buf_free(&b);
}

/* The no-escape path copies in one go: quotes, the NUL after them and the
 * length stay right across buffer growth, and the empty string is "". */
static void test_appends_plain(void **state)
{
    (void)state;
    struct nc_buf b, want;
    nc_buf_init(&b);
    nc_buf_init(&want);
    for (int i = 0; i < 200; i++) {
        char s[80];
        size_t n = (size_t)(i % 70);
        memset(s, 'a' + i % 26, n);
        assert_int_equal(nc_jsonstr_append(&b, s, n, i % 2 ? NC_JSONSTR_ASCII : 0), 0);
        assert_int_equal(nc_buf_appendc(&want, '"'), 0);
        assert_int_equal(nc_buf_append(&want, s, n), 0);
        assert_int_equal(nc_buf_appendc(&want, '"'), 0);
        assert_int_equal(b.len, want.len);
        assert_int_equal(strlen(b.data), b.len);
        assert_memory_equal(b.data, want.data, b.len);
    }
    nc_buf_free(&b);
    nc_buf_free(&want);
}

/* Parses json (one string literal) and returns its decoded bytes in *out
 * (caller frees the document). */
static const struct nc_json *parse_string(const struct nc_buf *json, struct nc_json_doc **doc)
{
    struct nc_json_err err;
    if (nc_json_parse(json->data, json->len, 8, doc, &err) != 0)
        fail_msg("writer output does not parse: %s", err.msg);
    const struct nc_json *v = nc_json_root(*doc);
    assert_int_equal(v->type, NC_JSON_STRING);
    return v;
}

/* Pieces for generated strings: every class the writer treats differently.
 * No NUL: the parser refuses \u0000 by design. */
static const char *const pieces[] = {
    "a",
    "Z",
    " ",
    "~",
    "/",
    "\"",
    "\\",
    "\n",
    "\r",
    "\t",
    "\b",
    "\f",
    "\x01",
    "\x1f",
    "\x7f",
    "\xC2\x80",
    "\xC3\xA9",
    "\xDF\xBF",
    "\xE0\xA0\x80",
    "\xE2\x82\xAC",
    "\xED\x9F\xBF",
    "\xEE\x80\x80",
    "\xEF\xBF\xBF",
    "\xF0\x90\x80\x80",
    "\xF0\x9F\x98\x80",
    "\xF4\x8F\xBF\xBF",
};
static const char *const badpieces[] = {"\x80",     "\xFF",         "\xC3",
                                        "\xE2\x82", "\xED\xA0\x80", "\xC0\xAF"};

static void test_parses_back(void **state)
{
    (void)state;
    uint64_t seed = 0x9E3779B97F4A7C15ULL; /* fixed: a failure reproduces */
    size_t npieces = sizeof pieces / sizeof pieces[0];
    for (int round = 0; round < 2000; round++) {
        char in[256];
        size_t n = 0;
        int k = round % 24;
        for (int i = 0; i < k; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            const char *p = pieces[(seed >> 33) % npieces];
            memcpy(in + n, p, strlen(p));
            n += strlen(p);
        }
        for (unsigned flags = 0; flags <= NC_JSONSTR_ASCII; flags++) {
            struct nc_buf b;
            nc_buf_init(&b);
            assert_int_equal(nc_jsonstr_append(&b, in, n, flags), 0);
            if (flags & NC_JSONSTR_ASCII)
                for (size_t i = 0; i < b.len; i++)
                    assert_true(b.data[i] >= 0x20 && b.data[i] < 0x7f);
            struct nc_json_doc *doc = NULL;
            const struct nc_json *v = parse_string(&b, &doc);
            assert_int_equal(v->len, n);
            assert_memory_equal(v->str, in, n);
            nc_json_doc_free(doc);
            nc_buf_free(&b);
        }
    }
}

/* Plain mode with malformed bytes: always valid JSON, each bad byte read
 * back as U+FFFD. */
static void test_malformed_parses_back(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof badpieces / sizeof badpieces[0]; i++) {
        char in[64], want[64];
        const char *bad = badpieces[i];
        size_t bl = strlen(bad);
        int n = snprintf(in, sizeof in, "x%sy", bad);
        size_t w = 0;
        want[w++] = 'x';
        for (size_t j = 0; j < bl; j++) {
            memcpy(want + w, FFFD, 3);
            w += 3;
        }
        want[w++] = 'y';
        struct nc_buf b;
        nc_buf_init(&b);
        assert_int_equal(nc_jsonstr_append(&b, in, (size_t)n, 0), 0);
        struct nc_json_doc *doc = NULL;
        const struct nc_json *v = parse_string(&b, &doc);
        assert_int_equal(v->len, w);
        assert_memory_equal(v->str, want, w);
        nc_json_doc_free(doc);
        nc_buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_escapes),
        cmocka_unit_test(test_plain_utf8),
        cmocka_unit_test(test_ascii),
        cmocka_unit_test(test_appends),
        cmocka_unit_test(test_appends_plain),
        cmocka_unit_test(test_parses_back),
        cmocka_unit_test(test_malformed_parses_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
