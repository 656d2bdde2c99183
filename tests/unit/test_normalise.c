/* test_normalise.c - query normalisation: the Python-computed basic-mode
 * vectors, the text-mode equalities the spec promises, invalid input, and
 * the ASCII fast path against the general path. Run from the repository
 * root (vectors: tests/data/). */
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
#include "normcache/normalise.h"
#include "normcache/utf8.h"

/* U+3000 IDEOGRAPHIC SPACE: whitespace in both modes, and not ASCII */
#define IDSP "\xe3\x80\x80"

static void assert_norm(enum nc_norm_mode mode, const char *in, const char *want)
{
    struct nc_buf b;
    const char *err = NULL;
    nc_buf_init(&b);
    if (nc_normalise(mode, in, strlen(in), &b, &err) != 0)
        fail_msg("normalise(%d, %s) failed: %s", mode, in, err);
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.len ? b.data : "", want, b.len);
    nc_buf_free(&b);
}

#define assert_basic(in, want) assert_norm(NC_NORM_BASIC, (in), (want))
#define assert_text(in, want) assert_norm(NC_NORM_TEXT, (in), (want))

static void assert_rejected(const char *in, size_t len)
{
    for (int mode = NC_NORM_TEXT; mode <= NC_NORM_BASIC; mode++) {
        struct nc_buf b;
        const char *err = NULL;
        nc_buf_init(&b);
        assert_int_equal(nc_normalise((enum nc_norm_mode)mode, in, len, &b, &err), -1);
        assert_non_null(err);
        assert_int_equal(b.len, 0);
        /* the message is static text, never the input */
        assert_null(strstr(err, "secret"));
        nc_buf_free(&b);
    }
}

/* ------------------------------------------------------------------------
 * Basic mode: Python's " ".join(q.lower().split())
 * ------------------------------------------------------------------------ */

/* Every line of normalise-basic.jsonl: normalised text and digest16. */
static void test_vectors_basic(void **state)
{
    (void)state;
    FILE *f = open_vectors("normalise-basic.jsonl");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int count = 0;
    struct nc_buf b;
    nc_buf_init(&b);
    while ((n = getline(&line, &cap, f)) > 0) {
        struct nc_json_doc *vec = NULL;
        struct nc_json_err jerr;
        const char *err = NULL;
        char hex[17];
        count++;
        if (nc_json_parse(line, (size_t)n, 4, &vec, &jerr) != 0)
            fail_msg("line %d: %s", count, jerr.msg);
        const struct nc_json *in = nc_json_get(nc_json_root(vec), "input");
        const struct nc_json *want = nc_json_get(nc_json_root(vec), "normalised");
        const struct nc_json *digest = nc_json_get(nc_json_root(vec), "digest16");
        assert_non_null(in);
        assert_non_null(want);
        assert_non_null(digest);
        if (nc_normalise(NC_NORM_BASIC, in->str, in->len, &b, &err) != 0)
            fail_msg("line %d: rejected: %s", count, err);
        if (b.len != want->len || memcmp(b.data, want->str, b.len) != 0)
            fail_msg("line %d: got \"%s\", want \"%s\"", count, b.data, want->str);
        assert_int_equal(nc_key_digest16(NULL, 0, b.data, b.len, hex), 0);
        if (strcmp(hex, digest->str) != 0)
            fail_msg("line %d: digest %s, want %s", count, hex, digest->str);
        nc_json_doc_free(vec);
    }
    nc_buf_free(&b);
    free(line);
    fclose(f);
    assert_int_equal(count, 334);
}

static void test_basic_cases(void **state)
{
    (void)state;
    assert_basic("How do I open an account?", "how do i open an account?");
    assert_basic("  HOW  do I open an ACCOUNT ?! ", "how do i open an account ?!");
    assert_basic("", "");
    assert_basic(" \t\n\v\f\r\x1c\x1d\x1e\x1f ", "");
    assert_basic("a\x1c"
                 "b",
                 "a b");
    assert_basic("A$+<=>^`|~Z", "a$+<=>^`|~z");
    assert_basic("\x7f"
                 "A\x01",
                 "\x7f"
                 "a\x01");
    /* U+0130 -> "i" U+0307 */
    assert_basic("\xc4\xb0stanbul", "i\xcc\x87stanbul");
    /* basic mode keeps punctuation and does not fold compatibility forms */
    assert_basic("\xef\xbc\xa8\xef\xbc\xaf\xef\xbc\xb7", "\xef\xbd\x88\xef\xbd\x8f\xef\xbd\x97");
    assert_basic("Stra\xc3\x9f"
                 "e",
                 "stra\xc3\x9f"
                 "e");
    /* Python's whitespace: NBSP, NEL, U+1680, U+2000..U+200A, U+2028,
     * U+2029, U+202F, U+205F, U+3000; not U+200B or U+FEFF */
    assert_basic("a\xc2\xa0"
                 "b\xc2\x85"
                 "c\xe1\x9a\x80"
                 "d\xe2\x80\x80"
                 "e\xe2\x80\x8a"
                 "f\xe2\x80\xa8"
                 "g\xe2\x80\xa9"
                 "h\xe2\x80\xaf"
                 "i\xe2\x81\x9f"
                 "j" IDSP "k",
                 "a b c d e f g h i j k");
    assert_basic("a\xe2\x80\x8b"
                 "b\xef\xbb\xbf"
                 "c",
                 "a\xe2\x80\x8b"
                 "b\xef\xbb\xbf"
                 "c");
}

/* Final sigma: expected values are Python 3.11's
 * " ".join(s.lower().split()) of each input. */
static void test_basic_final_sigma(void **state)
{
    (void)state;
    static const char *cases[][2] = {
        {"\u0391\u03a3", "\u03b1\u03c2"},
        {"\u03a3", "\u03c3"},
        {"\u0391\u03a3\u0391", "\u03b1\u03c3\u03b1"},
        {"\u0391\u03a3'", "\u03b1\u03c2'"},
        {"\u0391\u03a3'\u0391", "\u03b1\u03c3'\u03b1"},
        {"\u0391'\u03a3", "\u03b1'\u03c2"},
        {"\u0391.\u03a3", "\u03b1.\u03c2"},
        {"\u0391\u03a3.", "\u03b1\u03c2."},
        {"\u0391\u03a3\u0301", "\u03b1\u03c2\u0301"},
        {"\u0391\u03a3\u0301\u0391", "\u03b1\u03c3\u0301\u03b1"},
        {"\u039f\u0394\u039f\u03a3 \u039f\u0394\u039f\u03a3", "\u03bf\u03b4\u03bf\u03c2 "
                                                              "\u03bf\u03b4\u03bf\u03c2"},
        {"\u0391\u03a31", "\u03b1\u03c21"},
        {"1\u03a3", "1\u03c3"},
        {"\u0391\u03a3\u00ad", "\u03b1\u03c2\u00ad"},
        {"\u0391\u03a3\u200b\u03b1", "\u03b1\u03c3\u200b\u03b1"},
        {"\u0391\u03a3\u3000", "\u03b1\u03c2"},
        {"\u03a3\u039f\u03a3", "\u03c3\u03bf\u03c2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_basic(cases[i][0], cases[i][1]);
}

/* ------------------------------------------------------------------------
 * Text mode: NFKC_Casefold, collapse, trim P* and whitespace
 * ------------------------------------------------------------------------ */

static void test_text_equalities(void **state)
{
    (void)state;
    static const char *same[] = {
        "How do I open an account?", "how do i open an account", "  HOW  do I open an ACCOUNT ?! ",
        "\xc2\xbfHow do I open an account?", /* inverted question mark */
        /* fullwidth HOW */
        "\xef\xbc\xa8\xef\xbc\xaf\xef\xbc\xb7 do i open an account",
        "\t(how do i open an account)...\n",
        IDSP "how" IDSP "do i open an account\xe3\x80\x82", /* ideographic full stop */
        "\xe2\x80\x9chow do i open an account\xe2\x80\x9d", /* curly quotes */
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        assert_text(same[i], "how do i open an account");

    assert_text("Stra\xc3\x9f"
                "e",
                "strasse");
    assert_text("STRASSE", "strasse");
    assert_text("?!", "");
    assert_text("", "");
    assert_text(" ... ", "");
    assert_text("\xc2\xbf?\xc2\xa1!", "");
}

static void test_text_cases(void **state)
{
    (void)state;
    /* punctuation inside is kept; only the ends are trimmed */
    assert_text("  Mr. O'Neil's account-balance?  ", "mr. o'neil's account-balance");
    /* symbols are not punctuation */
    assert_text("$100 + 5%", "$100 + 5");
    assert_text("<tag>", "<tag>");
    assert_text("~home~", "~home~");
    assert_text("a+b=c", "a+b=c");
    /* ligatures and compatibility forms fold */
    assert_text("\xef\xac\x81le", "file");          /* U+FB01 fi ligature */
    assert_text("\xe2\x85\xa0\xe2\x85\xa1", "iii"); /* Roman numerals I, II */
    assert_text("\xc4\xb0stanbul", "i\xcc\x87stanbul");
    assert_text("\xce\xa3\xce\x9f\xce\xa3", "\xcf\x83\xce\xbf\xcf\x83"); /* casefold: no final */
    /* composed and decomposed forms meet */
    assert_text("E\xcc\x81"
                "cole",
                "\xc3\xa9"
                "cole");
    assert_text("\xc3\x89"
                "COLE",
                "\xc3\xa9"
                "cole");
    /* default ignorables vanish (zero width space, BOM, soft hyphen) */
    assert_text("ac\xe2\x80\x8b"
                "count",
                "account");
    assert_text("\xef\xbb\xbf"
                "account",
                "account");
    assert_text("ac\xc2\xad"
                "count",
                "account");
    /* whitespace that NFKC keeps is still collapsed */
    assert_text("a\xc2\x85"
                "b\xe2\x80\xa8"
                "c\x1f"
                "d",
                "a b c d");
    /* trim across interleaved punctuation and whitespace */
    assert_text("! ? a b ! ?", "a b");
    assert_text("\"'(a)'\"", "a");
    assert_text("_a_", "a");
}

/* Inputs that decompose to more code points than fit on the stack. */
static void test_text_long(void **state)
{
    (void)state;
    struct nc_buf in, want, got;
    const char *err;
    nc_buf_init(&in);
    nc_buf_init(&want);
    nc_buf_init(&got);
    assert_int_equal(nc_buf_appends(&in, "\xc2\xbf"), 0);
    for (int i = 0; i < 1500; i++) {
        /* fullwidth A, decomposed E + acute, U+FB03 ffi ligature */
        assert_int_equal(nc_buf_appends(&in, i ? " \xef\xbc\xa1"
                                                 "E\xcc\x81\xef\xac\x83"
                                               : "\xef\xbc\xa1"
                                                 "E\xcc\x81\xef\xac\x83"),
                         0);
        assert_int_equal(nc_buf_appends(&want, i ? " a\xc3\xa9"
                                                   "ffi"
                                                 : "a\xc3\xa9"
                                                   "ffi"),
                         0);
    }
    assert_int_equal(nc_buf_appends(&in, "?"), 0);
    assert_int_equal(nc_normalise(NC_NORM_TEXT, in.data, in.len, &got, &err), 0);
    assert_int_equal(got.len, want.len);
    assert_memory_equal(got.data, want.data, want.len);

    /* U+FDFA expands to 18 code points under NFKC */
    nc_buf_reset(&in);
    for (int i = 0; i < 100; i++)
        assert_int_equal(nc_buf_appends(&in, "\xef\xb7\xba"), 0);
    assert_int_equal(nc_normalise(NC_NORM_TEXT, in.data, in.len, &got, &err), 0);
    assert_true(got.len > in.len * 5);
    nc_buf_free(&in);
    nc_buf_free(&want);
    nc_buf_free(&got);
}

/* ------------------------------------------------------------------------
 * Invalid input
 * ------------------------------------------------------------------------ */

static void test_invalid_utf8(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\x80",                     /* lone continuation */
        "abc\xbf",                  /* continuation at the end */
        "\xc0\xaf",                 /* overlong '/' */
        "\xc1\x81",                 /* overlong 'A' */
        "\xe0\x80\xaf",             /* overlong 3-byte */
        "\xe0\x9f\xbf",             /* overlong U+07FF */
        "\xf0\x80\x80\xaf",         /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf",         /* overlong U+FFFF */
        "\xed\xa0\x80",             /* surrogate U+D800 */
        "\xed\xbf\xbf",             /* surrogate U+DFFF */
        "\xed\xa0\xbd\xed\xb8\x80", /* CESU-8 surrogate pair */
        "\xf4\x90\x80\x80",         /* U+110000 */
        "\xf5\x80\x80\x80",         /* invalid lead */
        "\xf8\x88\x80\x80\x80",     /* 5-byte form */
        "\xfe",
        "\xff",
        "\xc3",         /* truncated 2-byte */
        "a\xe4\xb8",    /* truncated 3-byte */
        "\xf0\x9f\x98", /* truncated 4-byte */
        "\xc3\x28",     /* bad continuation */
        "\xe4\x28\xad",
        "ok \xe2\x82 then", /* truncated in the middle */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_rejected(bad[i], strlen(bad[i]));
        assert_false(nc_utf8_valid(bad[i], strlen(bad[i])));
    }
    /* truncated at len, even when the bytes after len would complete it */
    assert_rejected("\xe4\xb8\xad", 2);
    assert_false(nc_utf8_valid("\xe4\xb8\xad", 2));

    /* boundaries that are valid */
    static const char *good[] = {"",
                                 "a",
                                 "\xc2\x80",
                                 "\xdf\xbf",
                                 "\xe0\xa0\x80",
                                 "\xed\x9f\xbf",
                                 "\xee\x80\x80",
                                 "\xef\xbf\xbf",
                                 "\xf0\x90\x80\x80",
                                 "\xf4\x8f\xbf\xbf"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(nc_utf8_valid(good[i], strlen(good[i])));
}

static void test_nul_rejected(void **state)
{
    (void)state;
    assert_rejected("a\0b", 3);
    assert_rejected("\0", 1);
    assert_rejected("caf\xc3\xa9\0", 6);
    /* the message does not quote the input */
    struct nc_buf b;
    const char *err = NULL;
    nc_buf_init(&b);
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "secret 1234\0", 12, &b, &err), -1);
    assert_null(strstr(err, "secret"));
    assert_null(strstr(err, "1234"));
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "secret 1234\xff", 12, &b, &err), -1);
    assert_null(strstr(err, "secret"));
    nc_buf_free(&b);
    /* nc_utf8_valid itself does not judge NUL: it is valid UTF-8 */
    assert_true(nc_utf8_valid("a\0b", 3));
}

/* The output buffer is reset, and a failure leaves it empty. */
static void test_buffer_reuse(void **state)
{
    (void)state;
    struct nc_buf b;
    const char *err;
    nc_buf_init(&b);
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "First Query", 11, &b, &err), 0);
    assert_string_equal(b.data, "first query");
    assert_int_equal(nc_normalise(NC_NORM_BASIC, "X", 1, &b, &err), 0);
    assert_string_equal(b.data, "x");
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "\xc3\x89t\xc3\xa9", 5, &b, &err), 0);
    assert_string_equal(b.data, "\xc3\xa9t\xc3\xa9");
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "\xff", 1, &b, &err), -1);
    assert_int_equal(b.len, 0);
    assert_int_equal(nc_normalise(NC_NORM_TEXT, "?", 1, &b, &err), 0);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    /* length-bounded: bytes after len are not read */
    assert_int_equal(nc_normalise(NC_NORM_BASIC, "AB\xff", 2, &b, &err), 0);
    assert_string_equal(b.data, "ab");
    nc_buf_free(&b);
}

/* ------------------------------------------------------------------------
 * ASCII fast path == general path
 * ------------------------------------------------------------------------ */

/* Any non-ASCII byte sends input down the general path. U+3000 is
 * whitespace in both modes (text mode folds it to a space first), so adding
 * it at either end, or putting it in place of an ASCII space, cannot change
 * the result: the general path's answer for the variant must equal the fast
 * path's for the pure ASCII string. */
static void test_fast_path_matches_general(void **state)
{
    (void)state;
    /* weight the alphabet towards the interesting classes */
    static const char alphabet[] = "aZ  \t\n\v\f\r\x1c\x1d\x1e\x1f\x01\x7f"
                                   "!\"#%&'()*,-./:;?@[\\]_{}$+<=>^`|~09AzQq";
    struct nc_buf fast, slow, variant;
    nc_buf_init(&fast);
    nc_buf_init(&slow);
    nc_buf_init(&variant);
    unsigned int seed = 2024;
    char s[48];
    for (int iter = 0; iter < 100000; iter++) {
        seed = seed * 1103515245u + 12345u;
        size_t len = (seed >> 8) % (sizeof s);
        for (size_t i = 0; i < len; i++) {
            seed = seed * 1103515245u + 12345u;
            if ((seed >> 20) % 4 == 0) /* any printable or control byte */
                s[i] = (char)(1 + (seed >> 8) % 127);
            else
                s[i] = alphabet[(seed >> 8) % (sizeof alphabet - 1)];
        }
        int how = iter % 3;
        nc_buf_reset(&variant);
        if (how == 0)
            assert_int_equal(nc_buf_appends(&variant, IDSP), 0);
        for (size_t i = 0; i < len; i++)
            if (how == 2 && s[i] == ' ')
                assert_int_equal(nc_buf_appends(&variant, IDSP), 0);
            else
                assert_int_equal(nc_buf_appendc(&variant, s[i]), 0);
        if (how != 0)
            assert_int_equal(nc_buf_appends(&variant, IDSP), 0);

        for (int mode = NC_NORM_TEXT; mode <= NC_NORM_BASIC; mode++) {
            const char *err;
            assert_int_equal(nc_normalise((enum nc_norm_mode)mode, s, len, &fast, &err), 0);
            assert_int_equal(
                nc_normalise((enum nc_norm_mode)mode, variant.data, variant.len, &slow, &err), 0);
            if (fast.len != slow.len || memcmp(fast.data, slow.data, fast.len) != 0)
                fail_msg("mode %d iter %d: fast \"%s\" != general \"%s\"", mode, iter, fast.data,
                         slow.data);
        }
    }
    nc_buf_free(&fast);
    nc_buf_free(&slow);
    nc_buf_free(&variant);
}

/* Every ASCII byte on its own, and between letters, in both paths. */
static void test_fast_path_each_byte(void **state)
{
    (void)state;
    struct nc_buf fast, slow;
    nc_buf_init(&fast);
    nc_buf_init(&slow);
    for (int c = 1; c < 128; c++) {
        char a[4] = {'x', (char)c, 'Y', 0};
        char v[8] = {'x', (char)c, 'Y', '\xe3', '\x80', '\x80', 0};
        char e[2] = {(char)c, 0};
        char ev[5] = {(char)c, '\xe3', '\x80', '\x80', 0};
        for (int mode = NC_NORM_TEXT; mode <= NC_NORM_BASIC; mode++) {
            const char *err;
            assert_int_equal(nc_normalise((enum nc_norm_mode)mode, a, 3, &fast, &err), 0);
            assert_int_equal(nc_normalise((enum nc_norm_mode)mode, v, 6, &slow, &err), 0);
            if (fast.len != slow.len || memcmp(fast.data, slow.data, fast.len) != 0)
                fail_msg("mode %d byte 0x%02x between letters differs", mode, c);
            assert_int_equal(nc_normalise((enum nc_norm_mode)mode, e, 1, &fast, &err), 0);
            assert_int_equal(nc_normalise((enum nc_norm_mode)mode, ev, 4, &slow, &err), 0);
            if (fast.len != slow.len || memcmp(fast.data, slow.data, fast.len) != 0)
                fail_msg("mode %d byte 0x%02x alone differs", mode, c);
        }
    }
    nc_buf_free(&fast);
    nc_buf_free(&slow);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors_basic),
        cmocka_unit_test(test_basic_cases),
        cmocka_unit_test(test_basic_final_sigma),
        cmocka_unit_test(test_text_equalities),
        cmocka_unit_test(test_text_cases),
        cmocka_unit_test(test_text_long),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_rejected),
        cmocka_unit_test(test_buffer_reuse),
        cmocka_unit_test(test_fast_path_matches_general),
        cmocka_unit_test(test_fast_path_each_byte),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
