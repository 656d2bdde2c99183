/* test_pubsub.c - the process's subscriber against a real redis-server:
 * messages on a watched pattern reach the callback with their channel,
 * other channels do not, the thread comes back after Redis restarts, and
 * stop is prompt and idempotent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdatomic.h>

#include "normcache/clock.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/pubsub.h"
#include "testutil.h"

static struct test_redis redis;
static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;
static char got[16][64];
static atomic_int ngot;

static void on_msg(const char *channel, size_t len, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&got_lock);
    int n = atomic_load(&ngot);
    if (n < 16 && len < sizeof got[0]) {
        memcpy(got[n], channel, len);
        got[n][len] = '\0';
        atomic_store(&ngot, n + 1);
    }
    pthread_mutex_unlock(&got_lock);
}

static int setup(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_ERROR);
    return test_redis_start(&redis);
}

static int teardown(void **state)
{
    (void)state;
    return test_redis_stop(&redis);
}

/* PUBLISHes until the callback has seen want messages (the subscription
 * may not be in place yet) or 3 s pass; returns how many it saw. */
static int publish_until(const char *channel, int want)
{
    redisContext *c = redisConnect("127.0.0.1", redis.port);
    assert_non_null(c);
    int64_t end = nc_now_ms() + 3000;
    while (atomic_load(&ngot) < want && nc_now_ms() < end) {
        redisReply *r = redisCommand(c, "PUBLISH %s x", channel);
        if (r)
            freeReplyObject(r);
        usleep(20000);
    }
    redisFree(c);
    return atomic_load(&ngot);
}

static void load(struct nc_config *cfg)
{
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis.port);
    const char *kv[] = {"REDIS_URL", url, NULL};
    char err[256];
    assert_int_equal(nc_config_load(cfg, test_kv_get, kv, err, sizeof err), 0);
}

static void test_pattern_reaches_callback(void **state)
{
    (void)state;
    struct nc_config cfg;
    load(&cfg);
    atomic_store(&ngot, 0);
    assert_int_equal(nc_pubsub_watch("t1:a:*", on_msg, NULL), 0);
    assert_int_equal(nc_pubsub_watch("t1:a:*", on_msg, NULL), 0); /* twice: once */
    nc_pubsub_start(&cfg);
    assert_true(publish_until("t1:a:key1", 1) >= 1);
    assert_string_equal(got[0], "t1:a:key1");
    /* a channel outside the pattern is not delivered */
    int before = atomic_load(&ngot);
    redisContext *c = redisConnect("127.0.0.1", redis.port);
    freeReplyObject(redisCommand(c, "PUBLISH t1:b:key x"));
    redisFree(c);
    assert_true(publish_until("t1:a:key2", before + 1) >= before + 1);
    for (int i = 0; i < atomic_load(&ngot); i++)
        assert_null(strstr(got[i], "t1:b:"));
    int64_t t0 = nc_now_ms();
    nc_pubsub_stop();
    nc_pubsub_stop(); /* idempotent */
    assert_true(nc_now_ms() - t0 < 1000);
    nc_config_free(&cfg);
}

static void test_comes_back_after_restart(void **state)
{
    (void)state;
    struct nc_config cfg;
    load(&cfg);
    atomic_store(&ngot, 0);
    assert_int_equal(nc_pubsub_watch("t2:*", on_msg, NULL), 0);
    nc_pubsub_start(&cfg);
    assert_true(publish_until("t2:one", 1) >= 1);
    test_redis_stop(&redis);
    usleep(300000); /* the thread sees the connection go and retries */
    /* the same port again (it was ours a moment ago), so the reconnect finds it */
    assert_int_equal(test_redis_start_on(&redis, redis.port), 0);
    assert_true(publish_until("t2:two", 2) >= 2);
    nc_pubsub_stop();
    nc_config_free(&cfg);
}

static void test_no_thread_without_patterns_or_redis(void **state)
{
    (void)state;
    nc_pubsub_stop(); /* whatever an earlier test left */
    struct nc_config cfg;
    const char *kv[] = {"REDIS_ENABLED", "false", NULL};
    char err[256];
    assert_int_equal(nc_config_load(&cfg, test_kv_get, kv, err, sizeof err), 0);
    assert_int_equal(nc_pubsub_watch("t3:*", on_msg, NULL), 0);
    nc_pubsub_start(&cfg); /* Redis disabled: nothing starts */
    nc_pubsub_stop();
    nc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pattern_reaches_callback),
        cmocka_unit_test(test_comes_back_after_restart),
        cmocka_unit_test(test_no_thread_without_patterns_or_redis),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
