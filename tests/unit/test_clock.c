/* test_clock.c - the monotonic clocks never go back and agree with each
 * other; the wall clock agrees with time(2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "normcache/clock.h"

static void test_monotonic(void **state)
{
    (void)state;
    int64_t ms = nc_now_ms();
    int64_t us = nc_now_us();
    assert_true(ms >= 0);
    assert_true(us >= 0);
    for (int i = 0; i < 200000; i++) {
        int64_t m = nc_now_ms();
        int64_t u = nc_now_us();
        assert_true(m >= ms);
        assert_true(u >= us);
        ms = m;
        us = u;
    }
    /* the two monotonic readings are the same clock in different units */
    int64_t a = nc_now_ms();
    int64_t b = nc_now_us() / 1000;
    assert_true(b >= a && b - a < 1000);
}

static void test_monotonic_advances(void **state)
{
    (void)state;
    int64_t us0 = nc_now_us();
    int64_t ms0 = nc_now_ms();
    struct timespec d = {0, 20 * 1000 * 1000}; /* 20 ms */
    while (nanosleep(&d, &d) != 0)
        ;
    int64_t dus = nc_now_us() - us0;
    int64_t dms = nc_now_ms() - ms0;
    assert_true(dus >= 20000);
    assert_true(dms >= 19);             /* whole milliseconds truncate */
    assert_true(dus < 5 * 1000 * 1000); /* a loaded machine, but not 5 s */
}

static void test_wall(void **state)
{
    (void)state;
    time_t before = time(NULL);
    int64_t w = nc_wall_ms();
    time_t after = time(NULL);
    assert_true(w / 1000 >= (int64_t)before - 1);
    assert_true(w / 1000 <= (int64_t)after + 1);
    assert_true(w > 1600000000000LL); /* after 2020: milliseconds, not seconds */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_monotonic),
        cmocka_unit_test(test_monotonic_advances),
        cmocka_unit_test(test_wall),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
