/* test_json_parse.c - the strict parser (json_parse.c): what it accepts,
 * the tree it builds, every rejection and its error code, the depth limit,
 * error messages, and a fuzz run that also feeds both writers. */
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

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Parses text and returns the error code (NC_JSON_OK on success). */
static enum nc_json_errcode parse_code(const char *text, size_t len)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    int rc = nc_json_parse(text, len, DEPTH, &doc, &err);
    if (rc == 0) {
        assert_non_null(doc);
        nc_json_doc_free(doc);
        return NC_JSON_OK;
    }
    assert_int_equal(rc, -1);
    assert_null(doc);
    assert_int_not_equal(err.code, NC_JSON_OK);
    assert_true(err.msg[0] != '\0');
    return err.code;
}

#define assert_parse(text, code) assert_int_equal(parse_code((text), strlen(text)), (code))

/* n nested arrays (or objects {"a": ...}) around 1. */
static char *nested(int n, int objects)
{
    struct nc_buf b;
    nc_buf_init(&b);
    for (int i = 0; i < n; i++)
        assert_int_equal(nc_buf_appends(&b, objects ? "{\"a\":" : "["), 0);
    assert_int_equal(nc_buf_appendc(&b, '1'), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(nc_buf_appendc(&b, objects ? '}' : ']'), 0);
    return b.data;
}

/* ------------------------------------------------------------------------
 * Parser: accepts
 * ------------------------------------------------------------------------ */

static void test_parse_accepts(void **state)
{
    (void)state;
    static const char *ok[] = {
        "{}", "[]", "0", "-0", "1.5", "-1.5e-3", "1E+2", "true", "false", "null", "\"\"",
        " \t\r\n{ \"a\" : [ 1 , 2 ] } \n", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"",
        "\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80\"", "[[[]]]", "{\"a\":{\"a\":{}}}",
        /* same key in different objects is not a duplicate */
        "[{\"a\":1},{\"a\":2}]", "{\"a\":{\"a\":1}}",
        /* keys differing only after a NUL-free prefix */
        "{\"ab\":1,\"a\":2,\"abc\":3}"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (parse_code(ok[i], strlen(ok[i])) != NC_JSON_OK)
            fail_msg("rejected: %s", ok[i]);
}

static void test_parse_tree(void **state)
{
    (void)state;
    const char *text = "{\"s\": \"a\\u00e9\\n\", \"n\": -12.50e1, \"arr\": [true, null, {}],"
                       " \"\\u00e9\": false}";
    struct nc_json_doc *doc;
    struct nc_json_err err;
    assert_int_equal(nc_json_parse(text, strlen(text), DEPTH, &doc, &err), 0);
    const struct nc_json *root = nc_json_root(doc);
    assert_int_equal(root->type, NC_JSON_OBJECT);
    assert_int_equal(root->count, 4);

    const struct nc_json *s = nc_json_get(root, "s");
    assert_non_null(s);
    assert_int_equal(s->type, NC_JSON_STRING);
    assert_int_equal(s->len, 4);
    assert_string_equal(s->str, "a\xc3\xa9\n");
    assert_int_equal(s->keylen, 1);

    const struct nc_json *n = nc_json_get(root, "n");
    assert_int_equal(n->type, NC_JSON_NUMBER);
    assert_string_equal(n->str, "-12.50e1"); /* spelling kept */
    assert_int_equal(n->len, 8);

    const struct nc_json *arr = nc_json_get(root, "arr");
    assert_int_equal(arr->type, NC_JSON_ARRAY);
    assert_int_equal(arr->count, 3);
    assert_int_equal(arr->child->type, NC_JSON_TRUE);
    assert_int_equal(arr->child->next->type, NC_JSON_NULL);
    assert_int_equal(arr->child->next->next->type, NC_JSON_OBJECT);
    assert_null(arr->child->next->next->next);

    assert_int_equal(nc_json_get(root, "\xc3\xa9")->type, NC_JSON_FALSE);
    assert_null(nc_json_get(root, "missing"));
    assert_null(nc_json_get(root, "ar")); /* prefix is not a match */
    assert_null(nc_json_get(arr, "s"));   /* not an object */
    assert_null(nc_json_get(NULL, "s"));
    nc_json_doc_free(doc);
    nc_json_doc_free(NULL);
}

/* Input need not be NUL-terminated: only [0, len) is read. */
static void test_parse_length_bounded(void **state)
{
    (void)state;
    assert_int_equal(parse_code("[1]garbage", 3), NC_JSON_OK);
    assert_int_equal(parse_code("123", 2), NC_JSON_OK);
    assert_int_equal(parse_code("\"ab\"", 3), NC_JSON_ERR_SYNTAX);
    assert_int_equal(parse_code("", 0), NC_JSON_ERR_SYNTAX);
}

/* Many members: exercises extra node blocks and the sorting duplicate
 * check. */
static void test_parse_large_object(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_appendc(&b, '{'), 0);
    for (int i = 0; i < 20000; i++)
        assert_int_equal(nc_buf_printf(&b, "%s\"k%d\":[%d,\"v\"]", i ? "," : "", i, i), 0);
    size_t open_len = b.len;
    assert_int_equal(nc_buf_appendc(&b, '}'), 0);
    assert_int_equal(parse_code(b.data, b.len), NC_JSON_OK);

    struct nc_json_doc *doc;
    struct nc_json_err err;
    assert_int_equal(nc_json_parse(b.data, b.len, DEPTH, &doc, &err), 0);
    assert_int_equal(nc_json_root(doc)->count, 20000);
    assert_string_equal(nc_json_get(nc_json_root(doc), "k19999")->child->str, "19999");
    nc_json_doc_free(doc);

    /* the same with one duplicate at the very end */
    b.len = open_len;
    assert_int_equal(nc_buf_appends(&b, ",\"k12345\":0}"), 0);
    assert_int_equal(parse_code(b.data, b.len), NC_JSON_ERR_DUPKEY);
    nc_buf_free(&b);
}

/* ------------------------------------------------------------------------
 * Parser: rejects
 * ------------------------------------------------------------------------ */

static void test_reject_syntax(void **state)
{
    (void)state;
    static const char *bad[] = {"", " ", "{", "}", "[", "[1,]", "[,1]", "{\"a\":1,}", "{\"a\"}",
                                "{\"a\" 1}", "{a:1}", "{'a':1}", "[1 2]", "tru", "truex", "nul",
                                "True", "NaN", "Infinity", "-Infinity", "+1", ".5", "1.", "1.e5",
                                "1e", "1e+", "-", "--1", "0x10", "01", "-01", "00", "1.5.5",
                                /* trailing garbage */
                                "{}x", "{} {}", "[1]]", "1 2", "\"a\"\"b\"", "{}\x01", "nullnull",
                                /* strings */
                                "\"abc", "\"\\x\"", "\"\\u12\"", "\"\\u12g4\"", "\"\\U0041\"",
                                "\"\\'\"", "\"a\tb\"", "\"a\nb\"", "\"\x1f\"",
                                /* BOM and non-JSON whitespace */
                                "\xef\xbb\xbf{}", "\x0b{}", "\xc2\xa0{}",
                                /* comments */
                                "{} // c", "/* c */ {}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum nc_json_errcode c = parse_code(bad[i], strlen(bad[i]));
        if (c != NC_JSON_ERR_SYNTAX)
            fail_msg("case %zu (%s): code %d, want syntax", i, bad[i], c);
    }
    /* a NUL byte outside a string is syntax */
    assert_int_equal(parse_code("{}\0", 3), NC_JSON_ERR_SYNTAX);
    assert_int_equal(parse_code("[1,\0]", 5), NC_JSON_ERR_SYNTAX);
}

static void test_reject_leading_zeros(void **state)
{
    (void)state;
    assert_parse("01", NC_JSON_ERR_SYNTAX);
    assert_parse("[00]", NC_JSON_ERR_SYNTAX);
    assert_parse("{\"a\":-012}", NC_JSON_ERR_SYNTAX);
    assert_parse("0.01", NC_JSON_OK);
    assert_parse("-0.0e00", NC_JSON_OK);
}

static void test_reject_bad_escapes(void **state)
{
    (void)state;
    assert_parse("\"\\a\"", NC_JSON_ERR_SYNTAX);
    assert_parse("\"\\0\"", NC_JSON_ERR_SYNTAX);
    assert_parse("\"\\u00\"", NC_JSON_ERR_SYNTAX);
    assert_parse("\"\\uzzzz\"", NC_JSON_ERR_SYNTAX);
    assert_parse("\"\\", NC_JSON_ERR_SYNTAX);
    assert_parse("{\"\\q\":1}", NC_JSON_ERR_SYNTAX);
}

static void test_reject_dupkeys(void **state)
{
    (void)state;
    assert_parse("{\"a\":1,\"a\":1}", NC_JSON_ERR_DUPKEY);
    assert_parse("{\"a\":1,\"b\":2,\"a\":3}", NC_JSON_ERR_DUPKEY);
    /* compared after decoding */
    assert_parse("{\"a\":1,\"\\u0061\":2}", NC_JSON_ERR_DUPKEY);
    assert_parse("{\"\xc3\xa9\":1,\"\\u00e9\":2}", NC_JSON_ERR_DUPKEY);
    assert_parse("{\"\":1,\"\":2}", NC_JSON_ERR_DUPKEY);
    /* nested */
    assert_parse("{\"x\":{\"a\":1,\"a\":2}}", NC_JSON_ERR_DUPKEY);
    assert_parse("{\"x\":{\"y\":{\"z\":{\"a\":1,\"a\":2}}}}", NC_JSON_ERR_DUPKEY);
    /* in arrays of objects */
    assert_parse("[{\"a\":1},{\"b\":1,\"b\":2}]", NC_JSON_ERR_DUPKEY);
    assert_parse("{\"l\":[1,{\"k\":[{\"a\":1,\"a\":1}]}]}", NC_JSON_ERR_DUPKEY);
    /* above the linear-scan threshold */
    assert_parse("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,"
                 "\"j\":1,\"e\":1}",
                 NC_JSON_ERR_DUPKEY);
    assert_parse("{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,\"f\":1,\"g\":1,\"h\":1,\"i\":1,"
                 "\"j\":1,\"ee\":1}",
                 NC_JSON_OK);
}

static void test_reject_nul(void **state)
{
    (void)state;
    assert_parse("\"\\u0000\"", NC_JSON_ERR_NUL);
    assert_parse("{\"a\":\"x\\u0000y\"}", NC_JSON_ERR_NUL);
    assert_parse("{\"a\\u0000\":1}", NC_JSON_ERR_NUL);
    assert_parse("[[\"\\u0000\"]]", NC_JSON_ERR_NUL);
    /* a raw NUL byte inside a string */
    assert_int_equal(parse_code("\"a\0b\"", 5), NC_JSON_ERR_NUL);
    assert_int_equal(parse_code("{\"a\0\":1}", 8), NC_JSON_ERR_NUL);
}

static void test_reject_utf8(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\"\x80\"",             /* lone continuation */
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xc1\xbf\"",         /* overlong */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xf0\x80\x80\xaf\"", /* overlong 4-byte */
        "\"\xed\xa0\x80\"",     /* UTF-8 encoded surrogate D800 */
        "\"\xed\xbf\xbf\"",     /* DFFF */
        "\"\xf4\x90\x80\x80\"", /* above U+10FFFF */
        "\"\xf5\x80\x80\x80\"", /* invalid lead */
        "\"\xff\"",             /* invalid byte */
        "\"\xc3\"",             /* truncated before the quote */
        "\"\xe4\xb8\"",         /* truncated 3-byte */
        "\"\xf0\x9f\x98\"",     /* truncated 4-byte */
        "{\"\xc3\x28\":1}",     /* bad continuation in a key */
        "\"\\ud800\"",          /* lone high surrogate */
        "\"\\udc00\"",          /* lone low surrogate */
        "\"\\ud83d\\u0041\"",   /* high followed by non-surrogate */
        "\"\\ud83d\\ud83d\"",   /* high followed by high */
        "\"\\ude00\\ud83d\"",   /* reversed pair */
        "\"\\ud83dx\"",         /* high followed by text */
        "{\"\\udfff\":1}",      /* in a key */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum nc_json_errcode c = parse_code(bad[i], strlen(bad[i]));
        if (c != NC_JSON_ERR_UTF8)
            fail_msg("case %zu: code %d, want utf8", i, c);
    }
    /* truncated at the end of input: no read past len */
    assert_int_equal(parse_code("\"\xe4\xb8\xad", 3), NC_JSON_ERR_UTF8);
    assert_parse("\"\xf4\x8f\xbf\xbf\"", NC_JSON_OK); /* U+10FFFF */
    assert_parse("\"\xef\xbf\xbf\"", NC_JSON_OK);     /* U+FFFF */
}

static void test_depth(void **state)
{
    (void)state;
    for (int objects = 0; objects <= 1; objects++) {
        char *ok = nested(DEPTH, objects);
        char *deep = nested(DEPTH + 1, objects);
        assert_parse(ok, NC_JSON_OK);
        assert_parse(deep, NC_JSON_ERR_DEPTH);
        free(ok);
        free(deep);
    }
    /* mixed: 16 objects around 16 arrays is 32 */
    struct nc_buf b;
    nc_buf_init(&b);
    for (int i = 0; i < 16; i++)
        assert_int_equal(nc_buf_appends(&b, "{\"k\":"), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(nc_buf_appendc(&b, '['), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(nc_buf_appendc(&b, ']'), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(nc_buf_appendc(&b, '}'), 0);
    assert_parse(b.data, NC_JSON_OK);
    nc_buf_free(&b);

    /* scalars at top level are depth 0: even max_depth 0 accepts them */
    struct nc_json_doc *doc;
    struct nc_json_err err;
    assert_int_equal(nc_json_parse("\"s\"", 3, 0, &doc, &err), 0);
    nc_json_doc_free(doc);
    assert_int_equal(nc_json_parse("[]", 2, 0, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_DEPTH);
    assert_int_equal(nc_json_parse("[]", 2, 1, &doc, &err), 0);
    nc_json_doc_free(doc);

    /* a huge nesting attempt fails fast without deep recursion */
    char *huge = malloc(1000001);
    assert_non_null(huge);
    memset(huge, '[', 1000000);
    huge[1000000] = '\0';
    assert_parse(huge, NC_JSON_ERR_DEPTH);
    assert_int_equal(nc_json_parse(huge, 1000000, 1 << 30, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_DEPTH);
    free(huge);
}

/* Error messages locate the fault but never quote the input. */
static void test_error_messages(void **state)
{
    (void)state;
    struct nc_json_doc *doc;
    struct nc_json_err err;
    const char *text = "{\"secret-account-1234\": 1, \"secret-account-1234\": 2}";
    assert_int_equal(nc_json_parse(text, strlen(text), DEPTH, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_DUPKEY);
    assert_null(strstr(err.msg, "secret"));
    text = "[\"secret-account-1234\" garbage]";
    assert_int_equal(nc_json_parse(text, strlen(text), DEPTH, &doc, &err), -1);
    assert_null(strstr(err.msg, "secret"));
    assert_null(strstr(err.msg, "garbage"));
}

/* Random bytes and mutated documents: never a crash (valgrind/ASan watch). */
static void test_parse_fuzz(void **state)
{
    (void)state;
    static const char alphabet[] = "{}[]\":,.-+eE0123456789 \\untrfalse\x80\xc3\xa9\xf0";
    static const char *seeds[] = {"{\"a\":[1,2.5e3,{\"b\":null}],\"c\":\"\\u00e9\\ud83d\\ude00\"}",
                                  "[true,false,null,\"x\",-0.0,{}]"};
    unsigned int seed = 12345;
    char buf[64];
    for (int iter = 0; iter < 200000; iter++) {
        size_t n;
        seed = seed * 1103515245u + 12345u;
        if (iter % 2) {
            const char *s = seeds[(seed >> 8) % 2];
            n = strlen(s);
            memcpy(buf, s, n);
            for (int k = 0; k < 3; k++) {
                seed = seed * 1103515245u + 12345u;
                buf[(seed >> 8) % n] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
            }
        } else {
            n = (seed >> 8) % sizeof buf;
            for (size_t k = 0; k < n; k++) {
                seed = seed * 1103515245u + 12345u;
                buf[k] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
            }
        }
        struct nc_json_doc *doc = NULL;
        struct nc_json_err err;
        if (nc_json_parse(buf, n, DEPTH, &doc, &err) == 0) {
            struct nc_buf b;
            nc_buf_init(&b);
            nc_json_canonical(nc_json_root(doc), &b, &err);
            nc_buf_reset(&b);
            assert_int_equal(nc_json_compact(nc_json_root(doc), &b), 0);
            /* compact output always parses back */
            struct nc_json_doc *again = NULL;
            assert_int_equal(nc_json_parse(b.data, b.len, DEPTH, &again, &err), 0);
            nc_json_doc_free(again);
            nc_buf_free(&b);
            nc_json_doc_free(doc);
        }
    }
}

/* The limit is exact for every max_depth: max_depth levels parse,
 * max_depth + 1 do not, with arrays, objects and a mix; values above the
 * cap of 1000 act as 1000 and negative ones as 0. */
static void test_depth_exact(void **state)
{
    (void)state;
    static const int limits[] = {1, 2, 3, 17, 999, 1000};
    for (size_t i = 0; i < sizeof limits / sizeof limits[0]; i++) {
        int max = limits[i];
        for (int objects = 0; objects <= 1; objects++) {
            char *at = nested(max, objects);
            char *over = nested(max + 1, objects);
            struct nc_json_doc *doc = NULL;
            struct nc_json_err err;
            if (nc_json_parse(at, strlen(at), max, &doc, &err) != 0)
                fail_msg("max_depth %d, objects %d: depth %d rejected: %s", max, objects, max,
                         err.msg);
            /* the innermost value is really there, max levels down */
            const struct nc_json *v = nc_json_root(doc);
            for (int d = 0; d < max; d++) {
                assert_int_equal(v->type, objects ? NC_JSON_OBJECT : NC_JSON_ARRAY);
                assert_int_equal(v->count, 1);
                v = v->child;
            }
            assert_int_equal(v->type, NC_JSON_NUMBER);
            nc_json_doc_free(doc);
            assert_int_equal(nc_json_parse(over, strlen(over), max, &doc, &err), -1);
            assert_null(doc);
            assert_int_equal(err.code, NC_JSON_ERR_DEPTH);
            free(at);
            free(over);
        }
    }

    /* above the cap: 1000 levels parse, 1001 do not, whatever was asked */
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    char *at = nested(1000, 0);
    char *over = nested(1001, 0);
    static const int asked[] = {1001, 5000, 1 << 30};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        assert_int_equal(nc_json_parse(at, strlen(at), asked[i], &doc, &err), 0);
        nc_json_doc_free(doc);
        assert_int_equal(nc_json_parse(over, strlen(over), asked[i], &doc, &err), -1);
        assert_int_equal(err.code, NC_JSON_ERR_DEPTH);
    }
    free(at);
    free(over);

    /* negative is 0: scalars only */
    assert_int_equal(nc_json_parse("7", 1, -5, &doc, &err), 0);
    nc_json_doc_free(doc);
    assert_int_equal(nc_json_parse("[]", 2, -5, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_DEPTH);

    /* depth is nesting, not the number of containers: siblings at the
     * limit do not add up */
    const char *wide = "[[1],[2],{\"a\":1},[]]";
    const char *deeper = "[[1],[2],{\"a\":[]}]";
    assert_int_equal(nc_json_parse(wide, strlen(wide), 2, &doc, &err), 0);
    nc_json_doc_free(doc);
    assert_int_equal(nc_json_parse(deeper, strlen(deeper), 2, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_DEPTH);
}

/* Error messages give the byte offset of the fault; err may be NULL; a
 * success clears err. */
static void test_error_offsets(void **state)
{
    (void)state;
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    assert_int_equal(nc_json_parse("[1,2,x]", 7, DEPTH, &doc, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_SYNTAX);
    assert_non_null(strstr(err.msg, "at byte 5"));
    assert_int_equal(nc_json_parse("{\"a\":1} !", 10, DEPTH, &doc, &err), -1);
    assert_non_null(strstr(err.msg, "at byte 8"));
    assert_int_equal(nc_json_parse("[1,2,x]", 7, DEPTH, &doc, NULL), -1);
    assert_null(doc);
    assert_int_equal(nc_json_parse("[1]", 3, DEPTH, &doc, &err), 0);
    assert_int_equal(err.code, NC_JSON_OK);
    assert_string_equal(err.msg, "");
    nc_json_doc_free(doc);
    assert_null(nc_json_root(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_accepts),
        cmocka_unit_test(test_parse_tree),
        cmocka_unit_test(test_parse_length_bounded),
        cmocka_unit_test(test_parse_large_object),
        cmocka_unit_test(test_reject_syntax),
        cmocka_unit_test(test_reject_leading_zeros),
        cmocka_unit_test(test_reject_bad_escapes),
        cmocka_unit_test(test_reject_dupkeys),
        cmocka_unit_test(test_reject_nul),
        cmocka_unit_test(test_reject_utf8),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_exact),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_error_offsets),
        cmocka_unit_test(test_parse_fuzz),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
