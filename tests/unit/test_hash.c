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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_published_vectors),
        cmocka_unit_test(test_incremental),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
