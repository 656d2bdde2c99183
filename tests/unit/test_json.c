/* test_json.c - strict parser, Python-compatible canonical form, compact
 * form. Run from the repository root (vectors: tests/data/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vectors.h"

#include "normcache/buf.h"
#include "normcache/json.h"
#include "normcache/key.h"

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

/* Canonical text of text, or NULL with *code set. Caller frees. */
static char *canonical(const char *text, enum nc_json_errcode *code)
{
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    struct nc_buf b;
    nc_buf_init(&b);
    *code = NC_JSON_OK;
    if (nc_json_parse(text, strlen(text), DEPTH, &doc, &err) != 0) {
        *code = err.code;
        return NULL;
    }
    if (nc_json_canonical(nc_json_root(doc), &b, &err) != 0) {
        *code = err.code;
        nc_json_doc_free(doc);
        nc_buf_free(&b);
        return NULL;
    }
    nc_json_doc_free(doc);
    return b.data ? b.data : strdup("");
}

static void assert_canonical(const char *text, const char *want)
{
    enum nc_json_errcode code;
    char *got = canonical(text, &code);
    if (!got)
        fail_msg("canonical(%s) failed with code %d", text, code);
    assert_string_equal(got, want);
    free(got);
}

static void assert_canonical_fails(const char *text, enum nc_json_errcode want)
{
    enum nc_json_errcode code;
    char *got = canonical(text, &code);
    if (got)
        fail_msg("canonical(%s) = %s, expected error %d", text, got, want);
    assert_int_equal(code, want);
}

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
 * Vectors
 * ------------------------------------------------------------------------ */

/* Every line of params-canonical.jsonl: canonical text and digest16 match
 * what Python computed. */
static void test_vectors_params_canonical(void **state)
{
    (void)state;
    FILE *f = open_vectors("params-canonical.jsonl");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        struct nc_json_doc *vec = NULL, *req = NULL;
        struct nc_json_err err;
        struct nc_buf b;
        char hex[17];
        nc_buf_init(&b);
        assert_int_equal(nc_json_parse(line, (size_t)n, 8, &vec, &err), 0);
        const struct nc_json *rj = nc_json_get(nc_json_root(vec), "request_json");
        const struct nc_json *canon = nc_json_get(nc_json_root(vec), "canonical");
        const struct nc_json *digest = nc_json_get(nc_json_root(vec), "digest16");
        assert_non_null(rj);
        assert_non_null(canon);
        assert_non_null(digest);
        if (nc_json_parse(rj->str, rj->len, DEPTH, &req, &err) != 0)
            fail_msg("line %d: parse failed: %s", count + 1, err.msg);
        assert_int_equal(nc_json_canonical(nc_json_root(req), &b, &err), 0);
        assert_int_equal(b.len, canon->len);
        assert_string_equal(b.data, canon->str);
        assert_int_equal(nc_key_digest16(NULL, 0, b.data, b.len, hex), 0);
        assert_string_equal(hex, digest->str);
        nc_buf_free(&b);
        nc_json_doc_free(req);
        nc_json_doc_free(vec);
        count++;
    }
    free(line);
    fclose(f);
    assert_int_equal(count, 12);
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

/* ------------------------------------------------------------------------
 * Canonical form
 * ------------------------------------------------------------------------ */

static void test_canonical_structure(void **state)
{
    (void)state;
    assert_canonical("{}", "{}");
    assert_canonical("[]", "[]");
    assert_canonical("{\"b\":[1,{\"d\":1,\"c\":2}],\"a\":null}",
                     "{\"a\": null, \"b\": [1, {\"c\": 2, \"d\": 1}]}");
    assert_canonical(" [ true , false , null ] ", "[true, false, null]");
    /* code point order: UTF-8 byte order, not UTF-16 order (U+FF41 sorts
     * before U+1F600 although its UTF-16 unit is larger) */
    assert_canonical("{\"\\ud83d\\ude00\":1,\"\\uff41\":2,\"\\u00e9\":3,\"z\":4,\"Z\":5}",
                     "{\"Z\": 5, \"z\": 4, \"\\u00e9\": 3, \"\\uff41\": 2, \"\\ud83d\\ude00\": 1}");
    /* prefix sorts first */
    assert_canonical("{\"ab\":1,\"a\":2,\"\":3}", "{\"\": 3, \"a\": 2, \"ab\": 1}");
    /* many keys: sorted through the heap path */
    assert_canonical("{\"q\":1,\"p\":1,\"o\":1,\"n\":1,\"m\":1,\"l\":1,\"k\":1,\"j\":1,\"i\":1,"
                     "\"h\":1,\"g\":1,\"f\":1,\"e\":1,\"d\":1,\"c\":1,\"b\":1,\"a\":1}",
                     "{\"a\": 1, \"b\": 1, \"c\": 1, \"d\": 1, \"e\": 1, \"f\": 1, \"g\": 1, "
                     "\"h\": 1, \"i\": 1, \"j\": 1, \"k\": 1, \"l\": 1, \"m\": 1, \"n\": 1, "
                     "\"o\": 1, \"p\": 1, \"q\": 1}");
}

static void test_canonical_strings(void **state)
{
    (void)state;
    /* ensure_ascii: \" \\ \n \r \t \b \f short, other controls and DEL as
     * \u00XX, '/' unescaped, non-ASCII as lowercase \uXXXX, astral as
     * surrogate pairs (Python: json.dumps(s)) */
    assert_canonical("\"\\/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f~ \"",
                     "\"/\\\"\\\\\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f~ \"");
    assert_canonical("\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
                     "\"caf\\u00e9 \\u4e2d \\ud83d\\ude00 \\udbff\\udfff\"");
    assert_canonical("\"\\u00C9\\uABCD\"", "\"\\u00c9\\uabcd\"");
    assert_canonical("{\"\xc3\xa9\\n\":\"\"}", "{\"\\u00e9\\n\": \"\"}");
}

static void test_canonical_integers(void **state)
{
    (void)state;
    assert_canonical("0", "0");
    assert_canonical("-0", "0");
    assert_canonical("[-0, 7, -7]", "[0, 7, -7]");
    assert_canonical("9007199254740992", "9007199254740992");   /* 2^53 */
    assert_canonical("-9007199254740992", "-9007199254740992"); /* -2^53 */
    assert_canonical("9007199254740991", "9007199254740991");
    assert_canonical("1000000000000000", "1000000000000000");
    assert_canonical_fails("9007199254740993", NC_JSON_ERR_NUMBER);  /* 2^53+1 */
    assert_canonical_fails("-9007199254740993", NC_JSON_ERR_NUMBER); /* -2^53-1 */
    assert_canonical_fails("9007199254740999", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("10000000000000000", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("123456789012345678901234567890", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("{\"a\":[1,{\"b\":99999999999999999999}]}", NC_JSON_ERR_NUMBER);
    /* but the same magnitude spelled as a float is a float */
    assert_canonical("9007199254740993.0", "9007199254740992.0");
}

static void test_canonical_floats(void **state)
{
    (void)state;
    /* expected strings are Python 3.11's json.dumps(float(x)) */
    static const char *cases[][2] = {
        {"0.1", "0.1"},
        {"1.5", "1.5"},
        {"2.0", "2.0"},
        {"2e0", "2.0"},
        {"20E-1", "2.0"},
        {"1E5", "100000.0"},
        {"1.0e+2", "100.0"},
        {"100.0", "100.0"},
        {"0.0", "0.0"},
        {"-0.0", "-0.0"},
        {"0e0", "0.0"},
        {"-0e-5", "-0.0"},
        {"0.3333333333333333", "0.3333333333333333"},
        {"0.30000000000000004", "0.30000000000000004"},
        {"1e16", "1e+16"},
        {"1e+16", "1e+16"},
        {"1e15", "1000000000000000.0"},
        {"1000000000000000.0", "1000000000000000.0"},
        {"9999999999999998.0", "9999999999999998.0"},
        {"12345678901234567.0", "1.2345678901234568e+16"},
        {"1.5e+20", "1.5e+20"},
        {"1e22", "1e+22"},
        {"1e23", "1e+23"},
        {"1e-4", "0.0001"},
        {"0.0001", "0.0001"},
        {"0.00012", "0.00012"},
        {"1e-5", "1e-05"},
        {"0.00001", "1e-05"},
        {"1e-07", "1e-07"},
        {"-1.5e-7", "-1.5e-07"},
        {"1e100", "1e+100"},
        {"-1.5e300", "-1.5e+300"},
        {"1.7976931348623157e308", "1.7976931348623157e+308"},
        {"2.2250738585072014e-308", "2.2250738585072014e-308"},
        {"5e-324", "5e-324"},
        {"4.9406564584124654e-324", "5e-324"},
        {"1e-400", "0.0"}, /* underflow: Python reads 0.0 too */
        {"-1e-400", "-0.0"},
        {"123.456", "123.456"},
        {"1.10", "1.1"},
        {"0.1e1", "1.0"},
        {"3.14159265358979323846", "3.141592653589793"},
        /* powers of two where the nearest short string does not round-trip
         * but the one above does (Python: repr(2.0**-24), 2.0**-44,
         * 2.0**89, 2.0**-1017) */
        {"5.9604644775390625e-08", "5.960464477539063e-08"},
        {"5.6843418860808015e-14", "5.684341886080802e-14"},
        {"6.1897001964269014e+26", "6.189700196426902e+26"},
        {"7.1202363472230444e-307", "7.120236347223045e-307"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_canonical(cases[i][0], cases[i][1]);
}

static void test_canonical_number_overflow(void **state)
{
    (void)state;
    assert_canonical_fails("1e309", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("1e400", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("-1e400", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("1.8e308", NC_JSON_ERR_NUMBER);
    assert_canonical_fails("{\"a\":{\"b\":[1E999]}}", NC_JSON_ERR_NUMBER);
    /* the parser itself accepts them: only the canonical form has no key */
    assert_parse("1e400", NC_JSON_OK);
    assert_parse("99999999999999999999", NC_JSON_OK);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_params_canonical),
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
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_parse_fuzz),
        cmocka_unit_test(test_canonical_structure),
        cmocka_unit_test(test_canonical_strings),
        cmocka_unit_test(test_canonical_integers),
        cmocka_unit_test(test_canonical_floats),
        cmocka_unit_test(test_canonical_number_overflow),
        cmocka_unit_test(test_compact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
