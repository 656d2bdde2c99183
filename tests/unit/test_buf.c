/* test_buf.c - the growable buffer: append, printf (short and longer than
 * its stack scratch), reserve growth, reset keeping the memory, and the
 * NUL after the contents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/buf.h"

static void test_init_free(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    nc_buf_free(&b); /* freeing an empty buffer is fine */
    assert_null(b.data);
    assert_int_equal(nc_buf_appends(&b, "x"), 0);
    nc_buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
}

static void test_append(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_append(&b, "abc", 3), 0);
    assert_int_equal(b.len, 3);
    assert_string_equal(b.data, "abc");
    assert_int_equal(nc_buf_appends(&b, "def"), 0);
    assert_int_equal(nc_buf_appendc(&b, '!'), 0);
    assert_int_equal(b.len, 7);
    assert_string_equal(b.data, "abcdef!");
    /* embedded NUL bytes are content */
    assert_int_equal(nc_buf_append(&b, "x\0y", 3), 0);
    assert_int_equal(b.len, 10);
    assert_memory_equal(b.data, "abcdef!x\0y\0", 11);
    /* appending nothing still leaves a terminated (allocated) buffer */
    struct nc_buf e;
    nc_buf_init(&e);
    assert_int_equal(nc_buf_append(&e, NULL, 0), 0);
    assert_non_null(e.data);
    assert_int_equal(e.len, 0);
    assert_string_equal(e.data, "");
    nc_buf_free(&e);
    nc_buf_free(&b);
}

static void test_growth(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    /* 10000 appends of 1..7 bytes: contents exact, always terminated */
    char expect[40000];
    size_t n = 0;
    for (int i = 0; i < 10000 && n + 8 < sizeof expect; i++) {
        char chunk[8];
        size_t k = (size_t)(i % 7) + 1;
        for (size_t j = 0; j < k; j++)
            chunk[j] = (char)('a' + (i + (int)j) % 26);
        assert_int_equal(nc_buf_append(&b, chunk, k), 0);
        memcpy(expect + n, chunk, k);
        n += k;
        assert_int_equal(b.len, n);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
    }
    assert_memory_equal(b.data, expect, n);
    nc_buf_free(&b);
}

static void test_reserve(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_reserve(&b, 1000), 0);
    assert_true(b.cap >= 1001); /* room for the NUL too */
    assert_int_equal(b.len, 0);
    char *before = b.data;
    size_t cap = b.cap;
    /* filling what was reserved does not move the memory */
    char big[1000];
    memset(big, 'z', sizeof big);
    assert_int_equal(nc_buf_append(&b, big, sizeof big), 0);
    assert_ptr_equal(b.data, before);
    assert_int_equal(b.cap, cap);
    assert_int_equal(b.data[1000], '\0');
    /* a reservation that already fits changes nothing */
    assert_int_equal(nc_buf_reserve(&b, 0), 0);
    assert_int_equal(b.cap, cap);
    /* a larger one keeps the contents */
    assert_int_equal(nc_buf_reserve(&b, 100000), 0);
    assert_true(b.cap >= b.len + 100001);
    assert_int_equal(b.len, 1000);
    assert_memory_equal(b.data, big, sizeof big);
    nc_buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_buf_printf(&b, "%s=%d", "n", 42), 0);
    assert_string_equal(b.data, "n=42");
    assert_int_equal(nc_buf_printf(&b, ";%05.1f;%llx", 3.14159, 0xabcULL), 0);
    assert_string_equal(b.data, "n=42;003.1;abc");
    assert_int_equal(b.len, strlen("n=42;003.1;abc"));
    /* longer than any small scratch buffer: the slow path */
    char longs[3001];
    memset(longs, 'q', 3000);
    longs[3000] = '\0';
    assert_int_equal(nc_buf_printf(&b, "[%s]", longs), 0);
    assert_int_equal(b.len, 14 + 3002);
    assert_int_equal(b.data[14], '[');
    assert_int_equal(b.data[14 + 3001], ']');
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 15, longs, 3000);
    /* an empty format appends nothing */
    size_t len = b.len;
    assert_int_equal(nc_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, len);
    nc_buf_free(&b);
}

/* nc_buf_append_int writes what %lld writes, the extremes included. */
static void test_append_int(void **state)
{
    (void)state;
    const long long vals[] = {0,
                              7,
                              -7,
                              10,
                              99,
                              100,
                              200,
                              404,
                              -1000,
                              1234567890123LL,
                              9223372036854775807LL,
                              -9223372036854775807LL - 1};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        struct nc_buf b;
        char want[32];
        nc_buf_init(&b);
        assert_int_equal(nc_buf_appends(&b, "x="), 0);
        assert_int_equal(nc_buf_append_int(&b, vals[i]), 0);
        snprintf(want, sizeof want, "x=%lld", vals[i]);
        assert_string_equal(b.data, want);
        assert_int_equal(b.len, strlen(want));
        nc_buf_free(&b);
    }
}

static void test_reset(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    nc_buf_reset(&b); /* on an empty buffer: nothing to do */
    assert_null(b.data);
    assert_int_equal(nc_buf_printf(&b, "%0500d", 7), 0);
    char *mem = b.data;
    size_t cap = b.cap;
    nc_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_ptr_equal(b.data, mem);
    assert_int_equal(b.cap, cap);
    assert_string_equal(b.data, "");
    /* reuse within the old capacity does not reallocate */
    assert_int_equal(nc_buf_appends(&b, "again"), 0);
    assert_ptr_equal(b.data, mem);
    assert_string_equal(b.data, "again");
    nc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_free),  cmocka_unit_test(test_append),
        cmocka_unit_test(test_growth),     cmocka_unit_test(test_reserve),
        cmocka_unit_test(test_printf),     cmocka_unit_test(test_reset),
        cmocka_unit_test(test_append_int),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
