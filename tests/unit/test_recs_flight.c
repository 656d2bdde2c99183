/* test_recs_flight.c - the recommendations flight table (add / find /
 * remove, driven directly with no worker or server) and the shared
 * results built from entries. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/recs/recs_int.h"

#define N 3000 /* more than the table's buckets: chains are exercised */

static struct nc_recs_flight *flight(const char *key)
{
    struct nc_recs_flight *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->key, sizeof f->key, "%s", key);
    f->keylen = strlen(f->key);
    return f;
}

static void test_table_add_find_remove(void **state)
{
    (void)state;
    static struct nc_recs_flight *fs[N];
    char key[NC_KEY_MAX];
    nc_recs_table_lock();
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "fca:recommendations:r:%016x", i);
        assert_null(nc_recs_table_find(key));
        fs[i] = flight(key);
        nc_recs_table_insert(fs[i]);
    }
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "fca:recommendations:r:%016x", i);
        assert_ptr_equal(nc_recs_table_find(key), fs[i]);
    }
    assert_null(nc_recs_table_find("fca:recommendations:r:absent"));
    /* removing every other one leaves the rest findable, whatever their
     * place in a chain */
    for (int i = 0; i < N; i += 2)
        nc_recs_table_remove(fs[i]);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "fca:recommendations:r:%016x", i);
        if (i % 2)
            assert_ptr_equal(nc_recs_table_find(key), fs[i]);
        else
            assert_null(nc_recs_table_find(key));
    }
    /* removing twice, or something never added, is harmless */
    nc_recs_table_remove(fs[0]);
    struct nc_recs_flight *stray = flight("fca:recommendations:r:stray");
    nc_recs_table_remove(stray);
    free(stray);
    for (int i = 1; i < N; i += 2)
        nc_recs_table_remove(fs[i]);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "fca:recommendations:r:%016x", i);
        assert_null(nc_recs_table_find(key));
        free(fs[i]);
    }
    nc_recs_table_unlock();
}

/* One flight per key: a second flight for a key is found only once the
 * first one is gone. */
static void test_table_one_per_key(void **state)
{
    (void)state;
    struct nc_recs_flight *a = flight("k"), *b = flight("k");
    nc_recs_table_lock();
    nc_recs_table_insert(a);
    assert_ptr_equal(nc_recs_table_find("k"), a);
    nc_recs_table_remove(a);
    nc_recs_table_insert(b);
    assert_ptr_equal(nc_recs_table_find("k"), b);
    nc_recs_table_remove(b);
    assert_null(nc_recs_table_find("k"));
    nc_recs_table_unlock();
    free(a);
    free(b);
}

static void test_result_from_entry(void **state)
{
    (void)state;
    struct nc_recs_entry e = {.stored_ms = 1000,
                              .fresh_until_ms = 121999,
                              .delta_ms = 5,
                              .status = 200,
                              .body = "{\"a\":1}",
                              .len = 7};
    struct nc_recs_result *res = nc_recs_result_from_entry(&e);
    assert_non_null(res);
    assert_int_equal(res->status, 200);
    assert_int_equal(res->max_age_s, 120);
    assert_int_equal(res->len, 7);
    assert_string_equal(res->body, "{\"a\":1}");
    assert_int_equal(res->stored, 0);
    /* shared: the last reference frees it (checked under valgrind/asan) */
    atomic_fetch_add(&res->ref, 1);
    nc_recs_result_put(res);
    nc_recs_result_put(res);
    nc_recs_result_put(NULL);

    e.status = 404;
    e.fresh_until_ms = 500; /* expiry before storing: max-age 0, not negative */
    res = nc_recs_result_from_entry(&e);
    assert_non_null(res);
    assert_int_equal(res->status, 404);
    assert_int_equal(res->len, 0);
    assert_int_equal(res->max_age_s, 0);
    nc_recs_result_put(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_add_find_remove),
        cmocka_unit_test(test_table_one_per_key),
        cmocka_unit_test(test_result_from_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
