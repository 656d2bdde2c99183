/* test_utf8.c - the strict UTF-8 decoder and the encoder: every malformed
 * class RFC 3629 names, truncation at each length, round trips at the
 * boundaries between encoding lengths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/utf8.h"

/* Decodes the n bytes of s; returns the length nc_utf8_decode reports. */
static size_t decode(const char *s, size_t n, uint32_t *cp)
{
    const unsigned char *p = (const unsigned char *)s;
    return nc_utf8_decode(p, p + n, cp);
}

static void test_decode_valid(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        uint32_t cp;
    } cases[] = {
        {"\x00", 1, 0x0},
        {"A", 1, 0x41},
        {"\x7F", 1, 0x7F},
        {"\xC2\x80", 2, 0x80},
        {"\xC3\xA9", 2, 0xE9},
        {"\xDF\xBF", 2, 0x7FF},
        {"\xE0\xA0\x80", 3, 0x800},
        {"\xE2\x82\xAC", 3, 0x20AC},
        {"\xED\x9F\xBF", 3, 0xD7FF}, /* just below the surrogates */
        {"\xEE\x80\x80", 3, 0xE000}, /* just above them */
        {"\xEF\xBF\xBD", 3, 0xFFFD},
        {"\xEF\xBF\xBF", 3, 0xFFFF},
        {"\xF0\x90\x80\x80", 4, 0x10000},
        {"\xF0\x9F\x98\x80", 4, 0x1F600},
        {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp = 0xDEADBEEF;
        assert_int_equal(decode(cases[i].s, cases[i].len, &cp), cases[i].len);
        assert_int_equal(cp, cases[i].cp);
        /* trailing bytes are not consumed */
        char two[8];
        memcpy(two, cases[i].s, cases[i].len);
        two[cases[i].len] = 'x';
        assert_int_equal(decode(two, cases[i].len + 1, &cp), cases[i].len);
        assert_int_equal(cp, cases[i].cp);
    }
}

static void test_decode_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len;
        const char *why;
    } cases[] = {
        /* overlong forms */
        {"\xC0\x80", 2, "overlong NUL (C0)"},
        {"\xC0\xAF", 2, "overlong '/' (C0)"},
        {"\xC1\xBF", 2, "overlong 0x7F (C1)"},
        {"\xE0\x80\x80", 3, "overlong NUL (E0 80)"},
        {"\xE0\x9F\xBF", 3, "overlong 0x7FF (E0 9F)"},
        {"\xF0\x80\x80\x80", 4, "overlong NUL (F0 80)"},
        {"\xF0\x8F\xBF\xBF", 4, "overlong 0xFFFF (F0 8F)"},
        /* UTF-16 surrogates */
        {"\xED\xA0\x80", 3, "surrogate U+D800"},
        {"\xED\xAD\xBF", 3, "surrogate U+DB7F"},
        {"\xED\xB0\x80", 3, "surrogate U+DC00"},
        {"\xED\xBF\xBF", 3, "surrogate U+DFFF"},
        /* beyond U+10FFFF */
        {"\xF4\x90\x80\x80", 4, "U+110000 (F4 90)"},
        {"\xF5\x80\x80\x80", 4, "F5 lead"},
        {"\xF7\xBF\xBF\xBF", 4, "F7 lead"},
        {"\xF8\x88\x80\x80\x80", 5, "5-byte form"},
        {"\xFC\x84\x80\x80\x80\x80", 6, "6-byte form"},
        {"\xFE", 1, "FE"},
        {"\xFF", 1, "FF"},
        /* stray continuation bytes */
        {"\x80", 1, "lone 80"},
        {"\xBF", 1, "lone BF"},
        {"\x80\x80", 2, "two continuations"},
        /* a lead followed by a non-continuation */
        {"\xC3\x28", 2, "C3 then ASCII"},
        {"\xE2\x28\xA1", 3, "E2 then ASCII"},
        {"\xE2\x82\x28", 3, "E2 82 then ASCII"},
        {"\xF0\x28\x8C\xBC", 4, "F0 then ASCII"},
        {"\xF0\x90\x28\xBC", 4, "F0 90 then ASCII"},
        {"\xF0\x90\x8C\x28", 4, "F0 90 8C then ASCII"},
        {"\xC3\xC3", 2, "lead then lead"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp;
        size_t n = decode(cases[i].s, cases[i].len, &cp);
        if (n != 0)
            fail_msg("%s: decoded as %zu bytes, expected malformed", cases[i].why, n);
        assert_false(nc_utf8_valid(cases[i].s, cases[i].len));
    }
}

/* Every proper prefix of every multi-byte sequence is truncated, even when
 * the buffer goes on (end marks where the input stops). */
static void test_decode_truncated(void **state)
{
    (void)state;
    static const char *full[] = {"\xC3\xA9",     "\xDF\xBF",         "\xE2\x82\xAC",
                                 "\xEF\xBF\xBF", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
    for (size_t i = 0; i < sizeof full / sizeof full[0]; i++) {
        size_t len = strlen(full[i]);
        for (size_t cut = 1; cut < len; cut++) {
            uint32_t cp;
            size_t n = decode(full[i], cut, &cp);
            if (n != 0)
                fail_msg("sequence %zu cut to %zu of %zu bytes decoded as %zu", i, cut, len, n);
            assert_false(nc_utf8_valid(full[i], cut));
        }
        assert_true(nc_utf8_valid(full[i], len));
    }
}

static void test_encode_round_trip(void **state)
{
    (void)state;
    static const struct {
        uint32_t cp;
        size_t len;
    } cases[] = {
        {0x0, 1},     {0x41, 1},    {0x7F, 1},     {0x80, 2},   {0x7FF, 2},
        {0x800, 3},   {0xD7FF, 3},  {0xE000, 3},   {0xFFFD, 3}, {0xFFFF, 3},
        {0x10000, 4}, {0x1F600, 4}, {0x10FFFF, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char o[NC_UTF8_MAX + 1];
        memset(o, 'x', sizeof o);
        size_t n = nc_utf8_encode(o, cases[i].cp);
        assert_int_equal(n, cases[i].len);
        assert_int_equal(o[n], 'x'); /* nothing written past the sequence */
        uint32_t cp = 0xDEADBEEF;
        assert_int_equal(decode(o, n, &cp), n);
        assert_int_equal(cp, cases[i].cp);
        assert_true(nc_utf8_valid(o, n));
    }
    /* exact bytes at the boundaries */
    char o[NC_UTF8_MAX];
    assert_int_equal(nc_utf8_encode(o, 0x7FF), 2);
    assert_memory_equal(o, "\xDF\xBF", 2);
    assert_int_equal(nc_utf8_encode(o, 0x800), 3);
    assert_memory_equal(o, "\xE0\xA0\x80", 3);
    assert_int_equal(nc_utf8_encode(o, 0x10000), 4);
    assert_memory_equal(o, "\xF0\x90\x80\x80", 4);
    assert_int_equal(nc_utf8_encode(o, 0x10FFFF), 4);
    assert_memory_equal(o, "\xF4\x8F\xBF\xBF", 4);
}

/* Every scalar value survives encode then decode. */
static void test_encode_every_scalar(void **state)
{
    (void)state;
    for (uint32_t c = 0; c <= 0x10FFFF; c++) {
        if (c == 0xD800)
            c = 0xE000;
        char o[NC_UTF8_MAX];
        uint32_t cp;
        size_t n = nc_utf8_encode(o, c);
        if (decode(o, n, &cp) != n || cp != c)
            fail_msg("U+%04X does not round-trip", (unsigned)c);
    }
}

static void test_valid(void **state)
{
    (void)state;
    assert_true(nc_utf8_valid("", 0));
    assert_true(nc_utf8_valid("plain ascii", 11));
    assert_true(nc_utf8_valid("a\0b", 3)); /* NUL is valid UTF-8 */
    const char *mixed = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80!";
    assert_true(nc_utf8_valid(mixed, strlen(mixed)));
    /* a bad byte anywhere, including the last */
    assert_false(nc_utf8_valid("abc\x80", 4));
    assert_false(nc_utf8_valid("\x80"
                               "abc",
                               4));
    assert_false(nc_utf8_valid("ok \xC3", 4));
    assert_false(nc_utf8_valid("caf\xC3\xA9\xED\xA0\x80", 8));
    /* the length bounds the check: a valid prefix of invalid input */
    assert_true(nc_utf8_valid("abc\x80", 3));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_valid),        cmocka_unit_test(test_decode_malformed),
        cmocka_unit_test(test_decode_truncated),    cmocka_unit_test(test_encode_round_trip),
        cmocka_unit_test(test_encode_every_scalar), cmocka_unit_test(test_valid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
