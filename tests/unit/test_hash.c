/* test_hash.c - 64-bit FNV-1a against the published test vectors, and the
 * incremental form against the one-shot one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/hash.h"

static void test_published_vectors(void **state)
{
    (void)state;
    /* From the FNV reference test suite (isthe.com/chongo/tech/comp/fnv). */
    static const struct {
        const char *s;
        uint64_t h;
    } cases[] = {
        {"", 0xcbf29ce484222325ULL},      {"a", 0xaf63dc4c8601ec8cULL},
        {"b", 0xaf63df4c8601f1a5ULL},     {"c", 0xaf63de4c8601eff2ULL},
        {"foo", 0xdcb27518fed9d577ULL},   {"foob", 0xdd120e790c2512afULL},
        {"fooba", 0xcac165afa2fef40aULL}, {"foobar", 0x85944171f73967e8ULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t h = nc_fnv1a64(cases[i].s, strlen(cases[i].s));
        if (h != cases[i].h)
            fail_msg("fnv1a64(\"%s\") = %016llx, expected %016llx", cases[i].s,
                     (unsigned long long)h, (unsigned long long)cases[i].h);
    }
    assert_true(NC_FNV1A64_INIT == 0xcbf29ce484222325ULL);
}

static void test_incremental(void **state)
{
    (void)state;
    const char *s = "foobar and some more bytes \xC3\xA9\x00\xFF";
    size_t n = strlen(s) + 2; /* the NUL and 0xFF after it too */
    uint64_t whole = nc_fnv1a64(s, n);
    /* every split point, and byte by byte */
    for (size_t cut = 0; cut <= n; cut++) {
        uint64_t h = nc_fnv1a64_more(NC_FNV1A64_INIT, s, cut);
        h = nc_fnv1a64_more(h, s + cut, n - cut);
        assert_true(h == whole);
    }
    uint64_t h = NC_FNV1A64_INIT;
    for (size_t i = 0; i < n; i++)
        h = nc_fnv1a64_more(h, s + i, 1);
    assert_true(h == whole);
    /* an empty continuation changes nothing */
    assert_true(nc_fnv1a64_more(whole, s, 0) == whole);
    /* high bytes are hashed as unsigned */
    assert_true(nc_fnv1a64("\xFF", 1) != nc_fnv1a64("\x7F", 1));
}

/* The word-wise hash of whole values (ETags): pinned values (an ETag must
 * not change between builds or machines), every length's tail handled,
 * any one changed byte changes it, and so does a trailing zero byte. */
static void test_wide(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        uint64_t h;
    } cases[] = {
        {"", 0xf1fce322bc1daf2fULL},
        {"a", 0x4fa7fe05a782fac7ULL},
        {"foobar", 0x121445d5d4abfddaULL},
        {"{\"answer\":\"Tap Sign up.\"}", 0xe0948fc9e591d299ULL},
        {"0123456789abcdef0123456789abcdef", 0x9dbdccb622bf5223ULL},
        {"0123456789abcdef0123456789abcdef0", 0xc89e7b7d0aea26d6ULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint64_t h = nc_fnv1a64_wide(cases[i].s, strlen(cases[i].s));
        if (h != cases[i].h)
            fail_msg("fnv1a64_wide(\"%s\") = %016llx, expected %016llx", cases[i].s,
                     (unsigned long long)h, (unsigned long long)cases[i].h);
    }
    unsigned char buf[200], copy[201];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= 130; n++) {
        uint64_t h = nc_fnv1a64_wide(buf, n);
        /* the same bytes at another alignment */
        memcpy(copy + 1, buf, n);
        assert_true(nc_fnv1a64_wide(copy + 1, n) == h);
        /* a zero byte more is another value */
        buf[n] = 0;
        assert_true(nc_fnv1a64_wide(buf, n + 1) != h);
        buf[n] = (unsigned char)(n * 7 + 3);
        for (size_t k = 0; k < n; k++) {
            buf[k] ^= 0x01;
            if (nc_fnv1a64_wide(buf, n) == h)
                fail_msg("flipping byte %zu of %zu does not change the hash", k, n);
            buf[k] ^= 0x01;
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_incremental),
        cmocka_unit_test(test_wide),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
