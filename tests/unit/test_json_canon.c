/* test_json_canon.c - the canonical form (json_canon.c): Python's
 * json.dumps(sort_keys=True), checked against the Python-computed vectors
 * (tests/data/params-canonical.jsonl) and hand-picked cases. Run from the
 * repository root. */
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
    static const char *parsed[] = {"1e400", "99999999999999999999"};
    for (size_t i = 0; i < sizeof parsed / sizeof parsed[0]; i++) {
        struct nc_json_doc *doc = NULL;
        assert_int_equal(nc_json_parse(parsed[i], strlen(parsed[i]), DEPTH, &doc, NULL), 0);
        nc_json_doc_free(doc);
    }
}

/* The canonical text is appended (a key prefix may already be in the
 * buffer); a NULL value is an error, and err may be NULL. */
static void test_canonical_api(void **state)
{
    (void)state;
    struct nc_json_doc *doc = NULL;
    struct nc_json_err err;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_json_parse("{\"b\":1,\"a\":2}", 13, DEPTH, &doc, &err), 0);
    assert_int_equal(nc_buf_appends(&b, "prefix|"), 0);
    assert_int_equal(nc_json_canonical(nc_json_root(doc), &b, NULL), 0);
    assert_string_equal(b.data, "prefix|{\"a\": 2, \"b\": 1}");
    nc_json_doc_free(doc);

    err.code = NC_JSON_OK;
    assert_int_equal(nc_json_canonical(NULL, &b, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_SYNTAX);
    assert_true(err.msg[0] != '\0');
    assert_int_equal(nc_json_canonical(NULL, &b, NULL), -1);

    /* a failure leaves a message that does not quote the number */
    assert_int_equal(nc_json_parse("[12345678901234567890]", 22, DEPTH, &doc, &err), 0);
    assert_int_equal(nc_json_canonical(nc_json_root(doc), &b, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_NUMBER);
    assert_null(strstr(err.msg, "12345"));
    assert_int_equal(nc_json_canonical(nc_json_root(doc), &b, NULL), -1);
    nc_json_doc_free(doc);

    /* a success after a failure resets err */
    assert_int_equal(nc_json_parse("1", 1, DEPTH, &doc, NULL), 0);
    assert_int_equal(nc_json_canonical(nc_json_root(doc), &b, &err), 0);
    assert_int_equal(err.code, NC_JSON_OK);
    assert_string_equal(err.msg, "");
    nc_json_doc_free(doc);
    nc_buf_free(&b);
}

/* Arrays and objects nested to the parser's limit come out whole. */
static void test_canonical_nested(void **state)
{
    (void)state;
    assert_canonical("[[1,[2,[]]],{\"b\":{\"d\":[{}],\"c\":[[3]]},\"a\":[]}]",
                     "[[1, [2, []]], {\"a\": [], \"b\": {\"c\": [[3]], \"d\": [{}]}}]");
    struct nc_buf in, want;
    nc_buf_init(&in);
    nc_buf_init(&want);
    for (int i = 0; i < DEPTH / 2; i++) {
        assert_int_equal(nc_buf_appends(&in, "{\"k\":["), 0);
        assert_int_equal(nc_buf_appends(&want, "{\"k\": ["), 0);
    }
    assert_int_equal(nc_buf_appendc(&in, '0'), 0);
    assert_int_equal(nc_buf_appendc(&want, '0'), 0);
    for (int i = 0; i < DEPTH / 2; i++) {
        assert_int_equal(nc_buf_appends(&in, "]}"), 0);
        assert_int_equal(nc_buf_appends(&want, "]}"), 0);
    }
    assert_canonical(in.data, want.data);
    nc_buf_free(&in);
    nc_buf_free(&want);
}

/* A hand-built tree may hold malformed UTF-8: that is a UTF-8 error, not
 * an out-of-memory. */
static void test_canonical_bad_utf8_is_utf8_error(void **state)
{
    (void)state;
    struct nc_json s;
    memset(&s, 0, sizeof s);
    s.type = NC_JSON_STRING;
    s.str = "a\xff";
    s.len = 2;
    struct nc_buf b;
    nc_buf_init(&b);
    struct nc_json_err err;
    assert_int_equal(nc_json_canonical(&s, &b, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_UTF8);
    struct nc_json member;
    memset(&member, 0, sizeof member);
    member.type = NC_JSON_NULL;
    member.key = "k\xc0\x80"; /* overlong */
    member.keylen = 3;
    struct nc_json obj;
    memset(&obj, 0, sizeof obj);
    obj.type = NC_JSON_OBJECT;
    obj.child = &member;
    obj.count = 1;
    nc_buf_reset(&b);
    assert_int_equal(nc_json_canonical(&obj, &b, &err), -1);
    assert_int_equal(err.code, NC_JSON_ERR_UTF8);
    nc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_params_canonical),
        cmocka_unit_test(test_canonical_structure),
        cmocka_unit_test(test_canonical_strings),
        cmocka_unit_test(test_canonical_integers),
        cmocka_unit_test(test_canonical_floats),
        cmocka_unit_test(test_canonical_number_overflow),
        cmocka_unit_test(test_canonical_api),
        cmocka_unit_test(test_canonical_nested),
        cmocka_unit_test(test_canonical_bad_utf8_is_utf8_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
