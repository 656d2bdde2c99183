/* test_store_sentinel.c - a worker's store in REDIS_MODE=sentinel against
 * two real redis-servers, with the master's address published by the test
 * itself (nc_sentinel_publish, as the sentinel thread does) and a small
 * event loop of the test's own:
 *   - no address yet: commands fail open and a resolve is requested;
 *   - commands go to the published master; when the address moves, the
 *     command that sees it fails open (never a callback inside
 *     nc_store_command), the next tick drops the old connection, and the
 *     following commands reach the new master;
 *   - a READONLY reply (a demoted master) and a refused connection ask the
 *     sentinel thread to resolve again;
 *   - a breaker opened by the dead old master probes the new one at once;
 *   - the process's subscriber (pubsub.c) moves to the new master too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "normcache/breaker.h"
#include "normcache/clock.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/pubsub.h"
#include "normcache/sentinel.h"
#include "normcache/store.h"

#include "testutil.h"
#include "store_harness.h"

static struct test_redis ra, rb;

static int servers_start(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_ERROR);
    return test_redis_start(&ra) == 0 && test_redis_start(&rb) == 0 ? 0 : -1;
}

static int servers_stop(void **state)
{
    (void)state;
    test_redis_stop(&ra);
    return test_redis_stop(&rb);
}

static void fixture_open(struct fixture *f)
{
    const char *kv[] = {"REDIS_MODE",
                        "sentinel",
                        "REDIS_URL",
                        "redis://127.0.0.1:1/0",
                        "REDIS_SENTINEL_MASTER",
                        "m",
                        "REDIS_TIMEOUT_MS",
                        "300",
                        "REDIS_BREAKER_FAILURES",
                        "2",
                        "REDIS_BREAKER_COOLDOWN_MS",
                        "5000",
                        NULL};
    fixture_start(f, kv);
}

/* SET key value through the store; 0 when Redis answered OK. */
static int set_via(struct fixture *f, const char *key, const char *value, struct call *c)
{
    const char *argv[3] = {"SET", key, value};
    if (command(f, c, 3, argv) != 0)
        return -1;
    run_until(f, c, 2000);
    return c->got_reply && c->type == REDIS_REPLY_STATUS ? 0 : 1;
}

/* GET key on a server directly: the value, or "" when none. */
static void get_direct(int port, const char *key, char *out, size_t len)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "GET %s", key);
    assert_non_null(r);
    snprintf(out, len, "%s", r->type == REDIS_REPLY_STRING ? r->str : "");
    freeReplyObject(r);
    redisFree(c);
}

static void direct(int port, const char *cmd)
{
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    redisReply *r = redisCommand(c, cmd);
    assert_non_null(r);
    freeReplyObject(r);
    redisFree(c);
}

static void test_follows_the_published_master(void **state)
{
    (void)state;
    struct fixture f;
    struct call c;
    char got[64];
    fixture_open(&f);

    /* Nothing published yet: fail open, and the thread is asked. */
    nc_sentinel_take_request();
    assert_int_equal(nc_sentinel_generation(), 0);
    assert_int_equal(set_via(&f, "k", "none", &c), -1);
    assert_true(nc_sentinel_take_request());

    /* Master A. */
    nc_sentinel_publish("127.0.0.1", ra.port);
    assert_int_equal(set_via(&f, "k", "on-a", &c), 0);
    get_direct(ra.port, "k", got, sizeof got);
    assert_string_equal(got, "on-a");

    /* A failover to B while a command to A is still pending: the command
     * that sees the move fails open, the pending one is failed by the tick
     * (not inside nc_store_command), and the next command reaches B. */
    const char *argv[3] = {"SET", "k", "pending"};
    struct call pending;
    assert_int_equal(command(&f, &pending, 3, argv), 0);
    nc_sentinel_publish("127.0.0.1", rb.port);
    assert_int_equal(set_via(&f, "k", "moved", &c), -1);
    assert_int_equal(nc_store_next_timeout_ms(f.s, nc_now_ms()), 0); /* come back at once */
    pass(&f, 0);
    run_until(&f, &pending, 1000);
    assert_true(pending.done);
    assert_int_equal(set_via(&f, "k", "on-b", &c), 0);
    get_direct(rb.port, "k", got, sizeof got);
    assert_string_equal(got, "on-b");

    /* B demoted (a replica of A): READONLY asks for a resolve. */
    char cmd[64];
    snprintf(cmd, sizeof cmd, "REPLICAOF 127.0.0.1 %d", ra.port);
    direct(rb.port, cmd);
    nc_sentinel_take_request();
    assert_int_equal(set_via(&f, "k", "readonly", &c), 1);
    assert_int_equal(c.type, REDIS_REPLY_ERROR);
    assert_memory_equal(c.str, "READONLY", 8);
    assert_true(nc_sentinel_take_request());
    direct(rb.port, "REPLICAOF NO ONE");
    fixture_close(&f);
}

static void test_dead_master_then_new_one(void **state)
{
    (void)state;
    struct fixture f;
    struct call c;
    char got[64];
    fixture_open(&f);
    nc_sentinel_publish("127.0.0.1", ra.port);
    assert_int_equal(set_via(&f, "d", "first", &c), 0);

    /* The master's address now refuses connections (dead): each refusal
     * asks for a resolve, and the breaker opens (2 failures, 5 s). */
    int dead = test_free_port();
    nc_sentinel_publish("127.0.0.1", dead);
    nc_sentinel_take_request();
    for (int i = 0; i < 6 && !nc_breaker_is_open(&f.brk); i++) {
        set_via(&f, "d", "x", &c);
        pass(&f, 50);
    }
    assert_true(nc_breaker_is_open(&f.brk));
    assert_true(nc_sentinel_take_request());

    /* The sentinels name B: the breaker probes it at once, not 5 s later. */
    nc_sentinel_publish("127.0.0.1", rb.port);
    int64_t t0 = nc_now_ms();
    int stored = 0;
    while (!stored && nc_now_ms() - t0 < 1000) {
        stored = set_via(&f, "d", "after", &c) == 0;
        pass(&f, 10);
    }
    assert_true(stored);
    assert_true(nc_now_ms() - t0 < 1000);
    assert_false(nc_breaker_is_open(&f.brk));
    get_direct(rb.port, "d", got, sizeof got);
    assert_string_equal(got, "after");
    fixture_close(&f);
}

static atomic_int msgs;

static void on_msg(const char *channel, size_t len, void *ud)
{
    (void)channel;
    (void)len;
    (void)ud;
    atomic_fetch_add(&msgs, 1);
}

/* PUBLISHes on port until the subscriber has seen one more message, for at
 * most 3 s; 1 when it did. */
static int delivered_from(int port)
{
    int want = atomic_load(&msgs) + 1;
    redisContext *c = redisConnect("127.0.0.1", port);
    assert_non_null(c);
    int64_t end = nc_now_ms() + 3000;
    while (atomic_load(&msgs) < want && nc_now_ms() < end) {
        redisReply *r = redisCommand(c, "PUBLISH snt:x 1");
        if (r)
            freeReplyObject(r);
        usleep(20000);
    }
    redisFree(c);
    return atomic_load(&msgs) >= want;
}

static void test_subscriber_follows(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f);
    nc_sentinel_publish("127.0.0.1", ra.port);
    assert_int_equal(nc_pubsub_watch("snt:*", on_msg, NULL), 0);
    nc_pubsub_start(&f.cfg);
    assert_true(delivered_from(ra.port));
    nc_sentinel_publish("127.0.0.1", rb.port);
    assert_true(delivered_from(rb.port));
    /* and no longer listens on the old master */
    usleep(100000);
    int before = atomic_load(&msgs);
    direct(ra.port, "PUBLISH snt:y 1");
    usleep(200000);
    assert_int_equal(atomic_load(&msgs), before);
    nc_pubsub_stop();
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_follows_the_published_master),
        cmocka_unit_test(test_dead_master_then_new_one),
        cmocka_unit_test(test_subscriber_follows),
    };
    return cmocka_run_group_tests(tests, servers_start, servers_stop);
}
