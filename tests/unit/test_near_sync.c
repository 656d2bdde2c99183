/* test_near_sync.c - the rule a Redis read must pass to fill the near
 * cache: the near cache is usable only between an up and a down; a read
 * fills it only when the connection it went through tracked the current
 * generation when it was sent, still does, and no drop or clear of its key
 * came after its token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "normcache/buf.h"
#include "normcache/clock.h"
#include "normcache/near.h"
#include "normcache/near_sync.h"

static const char KEY[] = "fca:faq:0123456789abcdef";
#define KL (sizeof KEY - 1)

static int hit(struct nc_near *n)
{
    struct nc_buf b;
    nc_buf_init(&b);
    int64_t exp;
    int rc = nc_near_get(n, KEY, KL, nc_now_ms(), &b, &exp);
    nc_buf_free(&b);
    return rc;
}

/* One read: token, sent on a connection tracking conn_gen, reply. */
static int fill(struct nc_near *n, unsigned conn_gen, unsigned conn_gen_at_reply)
{
    struct nc_near_read rd;
    nc_near_read_begin(n, KEY, KL, &rd);
    nc_near_read_sent(&rd, conn_gen);
    return nc_near_read_put(n, &rd, conn_gen_at_reply, KEY, KL, "v", 1, nc_now_ms() + 10000);
}

static void test_generations(void **state)
{
    (void)state;
    struct nc_near *n = nc_near_new(1 << 20, 4);
    assert_non_null(n);
    nc_near_sync_reset();
    assert_int_equal(nc_near_sync_gen(), 0);
    long long id = 0;
    assert_int_equal(nc_near_sync_current(&id), 0);
    /* unusable: nothing fills it, even with a generation in hand */
    assert_int_equal(fill(n, 1, 1), 0);

    unsigned g1 = nc_near_sync_up(n, 42);
    assert_int_not_equal(g1, 0);
    assert_int_equal(nc_near_sync_gen(), g1);
    assert_int_equal(nc_near_sync_current(&id), g1);
    assert_int_equal(id, 42);
    assert_int_equal(atomic_load(nc_near_sync_gen_ptr()), g1);
    /* a connection tracking nothing, or another generation: no fill */
    assert_int_equal(fill(n, 0, 0), 0);
    assert_int_equal(fill(n, g1 + 1, g1 + 1), 0);
    /* the connection re-tracked meanwhile (another generation at reply) */
    assert_int_equal(fill(n, g1, 0), 0);
    assert_int_equal(hit(n), 0);
    /* tracking the current generation: filled */
    assert_int_equal(fill(n, g1, g1), 1);
    assert_int_equal(hit(n), 1);

    /* an invalidation drops it; one between token and reply refuses */
    nc_near_sync_key(n, KEY, KL);
    assert_int_equal(hit(n), 0);
    struct nc_near_read rd;
    nc_near_read_begin(n, KEY, KL, &rd);
    nc_near_read_sent(&rd, g1);
    nc_near_sync_key(n, KEY, KL);
    assert_int_equal(nc_near_read_put(n, &rd, g1, KEY, KL, "old", 3, nc_now_ms() + 10000), 0);
    assert_int_equal(hit(n), 0);
    /* a nil invalidation (FLUSHALL) empties it and refuses reads in flight */
    assert_int_equal(fill(n, g1, g1), 1);
    nc_near_read_begin(n, KEY, KL, &rd);
    nc_near_read_sent(&rd, g1);
    nc_near_sync_all(n);
    assert_int_equal(hit(n), 0);
    assert_int_equal(nc_near_read_put(n, &rd, g1, KEY, KL, "old", 3, nc_now_ms() + 10000), 0);

    /* the invalidation connection is lost: emptied and unusable */
    assert_int_equal(fill(n, g1, g1), 1);
    nc_near_read_begin(n, KEY, KL, &rd);
    nc_near_read_sent(&rd, g1);
    nc_near_sync_down(n);
    assert_int_equal(nc_near_sync_gen(), 0);
    assert_int_equal(hit(n), 0);
    assert_int_equal(nc_near_read_put(n, &rd, g1, KEY, KL, "old", 3, nc_now_ms() + 10000), 0);
    assert_int_equal(fill(n, g1, g1), 0);
    /* back as another client: a new generation; reads of the old one
     * cannot fill it */
    unsigned g2 = nc_near_sync_up(n, 43);
    assert_int_not_equal(g2, 0);
    assert_int_not_equal(g2, g1);
    assert_int_equal(fill(n, g1, g1), 0);
    assert_int_equal(fill(n, g2, g2), 1);
    /* up empties too (what it held may have missed invalidations) */
    nc_near_sync_up(n, 44);
    assert_int_equal(hit(n), 0);

    nc_near_sync_reset();
    nc_near_free(n);
}

/* Without a near cache (NEAR_CACHE=false) every hook is a no-op. */
static void test_no_near(void **state)
{
    (void)state;
    nc_near_sync_reset();
    nc_near_sync_key(NULL, KEY, KL);
    nc_near_sync_all(NULL);
    assert_int_not_equal(nc_near_sync_up(NULL, 7), 0);
    struct nc_near_read rd;
    nc_near_read_begin(NULL, KEY, KL, &rd);
    nc_near_read_sent(&rd, nc_near_sync_gen());
    assert_int_equal(nc_near_read_put(NULL, &rd, rd.gen, KEY, KL, "v", 1, nc_now_ms() + 100), 0);
    nc_near_sync_down(NULL);
    assert_int_equal(nc_near_sync_gen(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generations),
        cmocka_unit_test(test_no_near),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
