/* test_breaker.c - the circuit breaker's state machine, driven with a
 * fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "normcache/breaker.h"
#include "normcache/log.h"

static int setup(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_ERROR); /* transitions log at info/warn */
    return 0;
}

static void test_opens_after_threshold(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 3, 1000);
    assert_int_equal(nc_breaker_allow(&b, 0), 0);
    assert_true(nc_breaker_is_healthy(&b));
    nc_breaker_failure(&b, 0, 10);
    nc_breaker_failure(&b, 0, 20);
    assert_false(nc_breaker_is_open(&b));
    assert_false(nc_breaker_is_healthy(&b));
    assert_false(nc_breaker_seen_up(&b));
    assert_int_equal(nc_breaker_allow(&b, 30), 0);
    nc_breaker_failure(&b, 0, 30);
    assert_true(nc_breaker_is_open(&b));
    assert_int_equal(nc_breaker_allow(&b, 31), -1);
    assert_int_equal(nc_breaker_allow(&b, 1029), -1);
}

static void test_success_resets_the_count(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 2, 1000);
    nc_breaker_failure(&b, 0, 0);
    nc_breaker_success(&b, 0);
    assert_true(nc_breaker_is_healthy(&b));
    nc_breaker_failure(&b, 0, 0);
    assert_false(nc_breaker_is_open(&b)); /* 1 consecutive, not 2 */
    nc_breaker_failure(&b, 0, 0);
    assert_true(nc_breaker_is_open(&b));
}

static void test_one_probe_after_cooldown(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 1, 1000);
    nc_breaker_failure(&b, 0, 5000);
    assert_int_equal(nc_breaker_allow(&b, 5999), -1);
    assert_int_equal(nc_breaker_allow(&b, 6000), 1);  /* the probe */
    assert_int_equal(nc_breaker_allow(&b, 6000), -1); /* only one */
    assert_int_equal(nc_breaker_allow(&b, 9000), -1); /* half-open until it reports */
    nc_breaker_success(&b, 1);
    assert_false(nc_breaker_is_open(&b));
    assert_int_equal(nc_breaker_allow(&b, 9001), 0);
    assert_true(nc_breaker_is_healthy(&b));
}

static void test_failed_probe_doubles_cooldown_to_cap(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 1, 1000);
    int64_t now = 0;
    nc_breaker_failure(&b, 0, now);
    int expect = 1000;
    for (int i = 0; i < 8; i++) {
        now += expect;
        assert_int_equal(nc_breaker_allow(&b, now - 1), -1);
        assert_int_equal(nc_breaker_allow(&b, now), 1);
        nc_breaker_failure(&b, 1, now);
        expect = expect * 2 > NC_BREAKER_MAX_COOLDOWN_MS ? NC_BREAKER_MAX_COOLDOWN_MS : expect * 2;
        assert_int_equal(atomic_load(&b.cooldown_ms), expect);
    }
    assert_int_equal(expect, NC_BREAKER_MAX_COOLDOWN_MS);
    /* success restores the base cooldown for the next opening */
    now += expect;
    assert_int_equal(nc_breaker_allow(&b, now), 1);
    nc_breaker_success(&b, 1);
    nc_breaker_failure(&b, 0, now);
    assert_int_equal(nc_breaker_allow(&b, now + 999), -1);
    assert_int_equal(nc_breaker_allow(&b, now + 1000), 1);
}

static void test_refused_probe_keeps_base_cooldown(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 1, 1000);
    nc_breaker_failure(&b, 0, 0);
    /* one slow failure doubles... */
    assert_int_equal(nc_breaker_allow(&b, 1000), 1);
    nc_breaker_failure(&b, 1, 1000);
    assert_int_equal(atomic_load(&b.cooldown_ms), 2000);
    /* ...a refused one goes back to the base cooldown and probes again soon */
    int64_t now = 3000;
    for (int i = 0; i < 5; i++) {
        assert_int_equal(nc_breaker_allow(&b, now), 1);
        nc_breaker_probe_refused(&b, now);
        assert_true(nc_breaker_is_open(&b));
        assert_false(nc_breaker_seen_up(&b));
        assert_int_equal(atomic_load(&b.cooldown_ms), 1000);
        assert_int_equal(nc_breaker_allow(&b, now + NC_BREAKER_REFUSED_RETRY_MS - 1), -1);
        now += NC_BREAKER_REFUSED_RETRY_MS;
    }
    /* a slow failure after that doubles from the base again */
    assert_int_equal(nc_breaker_allow(&b, now), 1);
    nc_breaker_failure(&b, 1, now);
    assert_int_equal(atomic_load(&b.cooldown_ms), 2000);
    /* a base cooldown shorter than the retry is kept */
    nc_breaker_init(&b, 1, 100);
    nc_breaker_failure(&b, 0, 0);
    assert_int_equal(nc_breaker_allow(&b, 100), 1);
    nc_breaker_probe_refused(&b, 100);
    assert_int_equal(nc_breaker_allow(&b, 199), -1);
    assert_int_equal(nc_breaker_allow(&b, 200), 1);
    nc_breaker_success(&b, 1);
    assert_false(nc_breaker_is_open(&b));
}

static void test_late_failures_do_not_reopen_twice(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 1, 1000);
    nc_breaker_failure(&b, 0, 0);
    /* replies of commands sent before it opened still fail: the window
     * must not move */
    nc_breaker_failure(&b, 0, 900);
    assert_int_equal(nc_breaker_allow(&b, 1000), 1);
}

static void test_probe_now_after_a_failover(void **state)
{
    (void)state;
    struct nc_breaker b;
    nc_breaker_init(&b, 2, 1000);
    nc_breaker_failure(&b, 0, 0);
    nc_breaker_probe_now(&b); /* closed: only the count goes */
    nc_breaker_failure(&b, 0, 1);
    assert_false(nc_breaker_is_open(&b));
    nc_breaker_failure(&b, 0, 2);
    assert_true(nc_breaker_is_open(&b));
    assert_int_equal(nc_breaker_allow(&b, 3), -1);
    assert_int_equal(nc_breaker_allow(&b, 1002), 1); /* the probe ... */
    nc_breaker_failure(&b, 1, 1002);                 /* ... failed: open 2000 ms */
    assert_int_equal(nc_breaker_allow(&b, 1010), -1);
    nc_breaker_probe_now(&b); /* a new master: probe it at once */
    assert_int_equal(nc_breaker_allow(&b, 1011), 1);
    assert_int_equal(nc_breaker_allow(&b, 1012), -1); /* one probe only */
    nc_breaker_failure(&b, 1, 1012);                  /* from the base cooldown, doubled once */
    assert_int_equal(nc_breaker_allow(&b, 3011), -1);
    assert_int_equal(nc_breaker_allow(&b, 3012), 1);
    nc_breaker_success(&b, 1);
    assert_false(nc_breaker_is_open(&b));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_opens_after_threshold),
        cmocka_unit_test(test_success_resets_the_count),
        cmocka_unit_test(test_one_probe_after_cooldown),
        cmocka_unit_test(test_failed_probe_doubles_cooldown_to_cap),
        cmocka_unit_test(test_refused_probe_keeps_base_cooldown),
        cmocka_unit_test(test_late_failures_do_not_reopen_twice),
        cmocka_unit_test(test_probe_now_after_a_failover),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
