/* test_pct.c - the percent-decoder: form vs plain '+', hex case,
 * truncated and non-hex escapes, %00 with and without NC_PCT_NO_NUL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/pct.h"

/* Decodes the C string src into out (room for strlen(src) + 1). */
static long dec(char *out, const char *src, unsigned flags)
{
    return nc_pct_decode(out, src, strlen(src), flags);
}

static void test_plain(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(dec(out, "how%20do%20I", 0), 8);
    assert_string_equal(out, "how do I");
    assert_int_equal(dec(out, "no-escapes_here.~", 0), 17);
    assert_string_equal(out, "no-escapes_here.~");
    /* decoded bytes are not decoded again */
    assert_int_equal(dec(out, "%2541", 0), 3);
    assert_string_equal(out, "%41");
    /* UTF-8 escapes give the raw bytes */
    assert_int_equal(dec(out, "caf%C3%A9", 0), 5);
    assert_string_equal(out, "caf\xC3\xA9");
    /* an escape at the very end */
    assert_int_equal(dec(out, "a%21", 0), 2);
    assert_string_equal(out, "a!");
}

static void test_plus(void **state)
{
    (void)state;
    char out[64];
    /* plain (RFC 3986): '+' is itself */
    assert_int_equal(dec(out, "c++ a+b", 0), 7);
    assert_string_equal(out, "c++ a+b");
    /* form: '+' is a space, an escaped '+' stays '+' */
    assert_int_equal(dec(out, "c%2B%2b+a+b", NC_PCT_FORM), 7);
    assert_string_equal(out, "c++ a b");
    assert_int_equal(dec(out, "+++", NC_PCT_FORM), 3);
    assert_string_equal(out, "   ");
    assert_int_equal(dec(out, "%2B", 0), 1);
    assert_string_equal(out, "+");
}

static void test_hex_case(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(dec(out, "%e2%82%ac", 0), 3);
    assert_string_equal(out, "\xE2\x82\xAC");
    assert_int_equal(dec(out, "%E2%82%AC", 0), 3);
    assert_string_equal(out, "\xE2\x82\xAC");
    assert_int_equal(dec(out, "%aF%Fa%ff%FF", 0), 4);
    assert_memory_equal(out, "\xAF\xFA\xFF\xFF", 5);
    /* every value 00..FF in both cases (NUL allowed without NO_NUL) */
    static const char hex_lo[] = "0123456789abcdef";
    static const char hex_up[] = "0123456789ABCDEF";
    for (int v = 0; v < 256; v++) {
        char in[4] = {'%', hex_lo[v >> 4], hex_lo[v & 15], '\0'};
        assert_int_equal(nc_pct_decode(out, in, 3, 0), 1);
        assert_int_equal((unsigned char)out[0], v);
        in[1] = hex_up[v >> 4];
        in[2] = hex_up[v & 15];
        assert_int_equal(nc_pct_decode(out, in, 3, 0), 1);
        assert_int_equal((unsigned char)out[0], v);
    }
}

static void test_malformed(void **state)
{
    (void)state;
    char out[64];
    static const char *bad[] = {
        "%",   "%4",   "abc%", "abc%4", "%zz", "%4z", "%z4", "%g0",
        "%0g", "% 20", "%%41", "a%+20", "%-1", "%@0", "%`0", "%G0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long n = dec(out, bad[i], 0);
        if (n != -1)
            fail_msg("\"%s\" decoded to %ld bytes, expected -1", bad[i], n);
        assert_int_equal(dec(out, bad[i], NC_PCT_FORM), -1);
    }
    /* the length bounds the input: "%41" cut before its last digit */
    assert_int_equal(nc_pct_decode(out, "%41", 2, 0), -1);
    assert_int_equal(nc_pct_decode(out, "%41", 3, 0), 1);
}

static void test_nul(void **state)
{
    (void)state;
    char out[64];
    memset(out, 'x', sizeof out);
    assert_int_equal(dec(out, "a%00b", 0), 3);
    assert_memory_equal(out, "a\0b\0", 4);
    assert_int_equal(dec(out, "a%00b", NC_PCT_NO_NUL), -1);
    assert_int_equal(dec(out, "%00", NC_PCT_NO_NUL | NC_PCT_FORM), -1);
    /* a literal NUL byte in the input is passed through: only %00 is refused */
    assert_int_equal(nc_pct_decode(out, "a\0b", 3, NC_PCT_NO_NUL), 3);
    assert_memory_equal(out, "a\0b\0", 4);
}

static void test_empty(void **state)
{
    (void)state;
    char out[4] = "xyz";
    assert_int_equal(nc_pct_decode(out, "", 0, 0), 0);
    assert_int_equal(out[0], '\0');
    out[0] = 'x';
    assert_int_equal(nc_pct_decode(out, "", 0, NC_PCT_FORM | NC_PCT_NO_NUL), 0);
    assert_int_equal(out[0], '\0');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),    cmocka_unit_test(test_plus),
        cmocka_unit_test(test_hex_case), cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_nul),      cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
