/* test_json_write.c - the compact writer (json_write.c): parsed input
 * written back, and hand-built trees the parser could never produce. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/buf.h"
#include "normcache/json.h"

#define DEPTH 32

static char *compact(const char *text)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_json_parse(text, strlen(text), DEPTH, &doc, &err), 0);
    assert_int_equal(nc_json_compact(nc_json_root(doc), &b), 0);
    nc_json_doc_free(doc);
    return b.data;
}

/* A hand-built node: what a caller building a reply could pass. */
static struct nc_json leaf(enum nc_json_type type, const char *str, size_t len)
{
    struct nc_json v;
    memset(&v, 0, sizeof v);
    v.type = type;
    v.str = str;
    v.len = len;
    return v;
}

static char *compact_tree(const struct nc_json *v)
{
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_json_compact(v, &b), 0);
    return b.data; /* NUL-terminated: the output is never empty */
}

/* ------------------------------------------------------------------------
 * Compact form
 * ------------------------------------------------------------------------ */

static void test_compact(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {" { \"b\" : 1 , \"a\" : [ 1.50 , -0 , 1E5 ] } ", "{\"b\":1,\"a\":[1.50,-0,1E5]}"},
        {"\"caf\\u00e9 \\ud83d\\ude00\"", "\"caf\xc3\xa9 \xf0\x9f\x98\x80\""},
        {"\"\\/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f\"",
         "\"/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\""},
        {"[ ]", "[]"},
        {"{ }", "{}"},
        {"[true,false,null]", "[true,false,null]"},
        {"99999999999999999999", "99999999999999999999"}, /* numbers as spelled */
        {"{\"k\\n\":{\"\xc3\xa9\":[{}]}}", "{\"k\\n\":{\"\xc3\xa9\":[{}]}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = compact(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        free(got);
    }
}

/* Every C0 control in a string: the five with a short escape use it, the
 * rest are \u00XX (lowercase), DEL is not a control for JSON. Raw
 * controls cannot reach the parser, so the string is hand-built. */
static void test_compact_controls(void **state)
{
    (void)state;
    char in[33];
    for (int c = 1; c < 0x20; c++)
        in[c - 1] = (char)c;
    in[31] = 0x7f;
    in[32] = '\0';
    struct nc_json v = leaf(NC_JSON_STRING, in, 32);
    char *got = compact_tree(&v);
    assert_string_equal(got, "\"\\u0001\\u0002\\u0003\\u0004\\u0005\\u0006\\u0007\\b\\t\\n"
                             "\\u000b\\f\\r\\u000e\\u000f\\u0010\\u0011\\u0012\\u0013"
                             "\\u0014\\u0015\\u0016\\u0017\\u0018\\u0019\\u001a\\u001b"
                             "\\u001c\\u001d\\u001e\\u001f\x7f\"");
    free(got);
    /* a raw NUL inside len is escaped too, not a terminator */
    v = leaf(NC_JSON_STRING, "a\0b", 3);
    got = compact_tree(&v);
    assert_string_equal(got, "\"a\\u0000b\"");
    free(got);
}

/* Well-formed UTF-8 of every length passes through unescaped, in values and
 * keys alike. */
static void test_compact_non_ascii(void **state)
{
    (void)state;
    const char *text = "{\"\xc3\xa9\xe4\xb8\xad\":\"\xc2\x80 \xdf\xbf \xe0\xa0\x80 \xef\xbf\xbf "
                       "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf\"}";
    char *got = compact(text);
    assert_string_equal(got, text);
    free(got);
    /* escaped in the input, raw in the output */
    got = compact("[\"\\u00e9\\u4e2d\\ud83d\\ude00\\uffff\"]");
    assert_string_equal(got, "[\"\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xef\xbf\xbf\"]");
    free(got);
}

/* The parser never yields malformed UTF-8, but a hand-built tree can hold
 * anything: each bad byte becomes U+FFFD, so the output is still valid JSON
 * (and UTF-8) that the parser accepts. */
static void test_compact_invalid_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *want;
    } cases[] = {
        {"a\xffZ", "\"a\xef\xbf\xbdZ\""},                             /* invalid byte */
        {"\x80", "\"\xef\xbf\xbd\""},                                 /* lone continuation */
        {"\xc0\xaf", "\"\xef\xbf\xbd\xef\xbf\xbd\""},                 /* overlong, per byte */
        {"\xed\xa0\x80", "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\""}, /* encoded surrogate */
        {"x\xe4\xb8", "\"x\xef\xbf\xbd\xef\xbf\xbd\""},               /* truncated at end */
        {"\xc3\xa9\xc3", "\"\xc3\xa9\xef\xbf\xbd\""},                 /* good, then truncated */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nc_json v = leaf(NC_JSON_STRING, cases[i].in, strlen(cases[i].in));
        char *got = compact_tree(&v);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("case %zu: got %s", i, got);
        struct nc_json_doc *doc = NULL;
        assert_int_equal(nc_json_parse(got, strlen(got), DEPTH, &doc, NULL), 0);
        nc_json_doc_free(doc);
        free(got);
    }

    /* the same in a key */
    struct nc_json member = leaf(NC_JSON_TRUE, NULL, 0);
    member.key = "k\xfe";
    member.keylen = 2;
    struct nc_json obj = leaf(NC_JSON_OBJECT, NULL, 0);
    obj.child = &member;
    obj.count = 1;
    char *got = compact_tree(&obj);
    assert_string_equal(got, "{\"k\xef\xbf\xbd\":true}");
    free(got);
}

/* Nested arrays and objects, empty ones included, keep input order and
 * numbers as spelled; the output is its own compact form. */
static void test_compact_nested(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"[[[]],[{}],[[1,[2,[3]]]]]", "[[[]],[{}],[[1,[2,[3]]]]]"},
        {" { \"z\" : { \"y\" : [ { \"x\" : [ ] } , 0.10 ] } , \"a\" : { } } ",
         "{\"z\":{\"y\":[{\"x\":[]},0.10]},\"a\":{}}"},
        {"[{\"b\":[1E5,-0]},{\"a\":[true,{\"n\":null}]},\"s\"]",
         "[{\"b\":[1E5,-0]},{\"a\":[true,{\"n\":null}]},\"s\"]"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = compact(cases[i][0]);
        assert_string_equal(got, cases[i][1]);
        char *again = compact(got);
        assert_string_equal(again, got);
        free(again);
        free(got);
    }

    /* deep: 1000 levels (the parser's cap) of alternating objects and
     * arrays written back unchanged */
    struct nc_buf in;
    nc_buf_init(&in);
    for (int i = 0; i < 500; i++)
        assert_int_equal(nc_buf_appends(&in, "{\"k\":["), 0);
    assert_int_equal(nc_buf_appendc(&in, '1'), 0);
    for (int i = 0; i < 500; i++)
        assert_int_equal(nc_buf_appends(&in, "]}"), 0);
    struct nc_json_doc *doc = NULL;
    assert_int_equal(nc_json_parse(in.data, in.len, 1000, &doc, NULL), 0);
    struct nc_buf out;
    nc_buf_init(&out);
    assert_int_equal(nc_json_compact(nc_json_root(doc), &out), 0);
    assert_int_equal(out.len, in.len);
    assert_memory_equal(out.data, in.data, in.len);
    nc_json_doc_free(doc);
    nc_buf_free(&out);
    nc_buf_free(&in);
}

/* A hand-built tree: numbers are written as given, keys in chain order;
 * output is appended; NULL is refused. */
static void test_compact_hand_built(void **state)
{
    (void)state;
    struct nc_json n1 = leaf(NC_JSON_NUMBER, "1.50", 4);
    struct nc_json n2 = leaf(NC_JSON_NULL, NULL, 0);
    struct nc_json s = leaf(NC_JSON_STRING, "q\"\\", 3);
    n1.next = &n2;
    struct nc_json arr = leaf(NC_JSON_ARRAY, NULL, 0);
    arr.child = &n1;
    arr.count = 2;
    arr.key = "b";
    arr.keylen = 1;
    arr.next = &s;
    s.key = "a\n";
    s.keylen = 2;
    struct nc_json obj = leaf(NC_JSON_OBJECT, NULL, 0);
    obj.child = &arr;
    obj.count = 2;

    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_appends(&b, "v="), 0);
    assert_int_equal(nc_json_compact(&obj, &b), 0);
    assert_string_equal(b.data, "v={\"b\":[1.50,null],\"a\\n\":\"q\\\"\\\\\"}");
    nc_buf_free(&b);
    nc_buf_init(&b);
    assert_int_equal(nc_json_compact(NULL, &b), -1);
    nc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_compact),           cmocka_unit_test(test_compact_controls),
        cmocka_unit_test(test_compact_non_ascii), cmocka_unit_test(test_compact_invalid_utf8),
        cmocka_unit_test(test_compact_nested),    cmocka_unit_test(test_compact_hand_built),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
