/* test_store.c - the async Redis connection, driven directly by a small
 * event loop of the test's own, against a real redis-server that the test
 * starts on a free loopback port (never a mock): replies, fail-open on
 * refusal, deadlines on a hung Redis, the breaker, AUTH refusal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "normcache/breaker.h"
#include "normcache/clock.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/conn.h"
#include "normcache/store.h"

#include "testutil.h"
#include "store_harness.h"

static struct test_redis redis;
static pid_t redis_pid;
static int redis_port;

static int redis_start(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_ERROR);
    if (test_redis_start(&redis) != 0)
        return -1;
    redis_pid = redis.pid;
    redis_port = redis.port;
    return 0;
}

static int redis_stop(void **state)
{
    (void)state;
    return test_redis_stop(&redis);
}

/* ------------------------------------------------------------- harness */

static void fixture_open(struct fixture *f, const char *url, const char *more_name,
                         const char *more_value)
{
    const char *kv[] = {"REDIS_URL",
                        url,
                        "REDIS_TIMEOUT_MS",
                        "150",
                        "REDIS_BREAKER_FAILURES",
                        "2",
                        "REDIS_BREAKER_COOLDOWN_MS",
                        "300",
                        more_name,
                        more_value,
                        NULL};
    if (!more_name)
        kv[8] = NULL;
    fixture_start(f, kv);
}

static char url[64];

static const char *redis_url(int port)
{
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/3", port);
    return url;
}

/* --------------------------------------------------------------- tests */

static void test_set_then_get(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(redis_port), NULL, NULL);
    struct call c;
    const char *set[5] = {"SET", "nc:test:k", "v\r\n\0x", "EX", "60"};
    assert_int_equal(command(&f, &c, 5, set), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply);
    assert_string_equal(c.str, "OK");
    const char *get[2] = {"GET", "nc:test:k"};
    assert_int_equal(command(&f, &c, 2, get), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply);
    assert_int_equal(c.type, REDIS_REPLY_STRING);
    assert_string_equal(c.str, "v\r\n"); /* binary-safe up to the NUL strlen saw */
    assert_int_equal(nc_store_state(f.s), NC_REDIS_UP);
    assert_false(nc_store_breaker_open(f.s));
    fixture_close(&f);
}

static void test_many_in_order(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(redis_port), NULL, NULL);
    enum { N = 200 }; /* more than the ring's first size */
    static struct call calls[N];
    char vals[N][8];
    for (int i = 0; i < N; i++) {
        snprintf(vals[i], sizeof vals[i], "%d", i);
        const char *argv[2] = {"ECHO", vals[i]};
        assert_int_equal(command(&f, &calls[i], 2, argv), 0);
    }
    run_until(&f, &calls[N - 1], 3000);
    for (int i = 0; i < N; i++) {
        assert_true(calls[i].got_reply);
        assert_string_equal(calls[i].str, vals[i]);
    }
    fixture_close(&f);
}

static void test_disabled(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(redis_port), "REDIS_ENABLED", "false");
    struct call c;
    const char *argv[1] = {"PING"};
    assert_int_equal(command(&f, &c, 1, argv), -1); /* fail open at once */
    assert_int_equal(nc_store_state(f.s), NC_REDIS_DISABLED);
    fixture_close(&f);
}

static void test_refused_opens_breaker(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(test_free_port()), NULL, NULL); /* nothing listens */
    struct call c;
    const char *argv[1] = {"PING"};
    for (int i = 0; i < 2; i++) {
        if (command(&f, &c, 1, argv) == 0) {
            run_until(&f, &c, 2000);
            assert_true(c.done);
            assert_false(c.got_reply);
        }
    }
    assert_true(nc_store_breaker_open(f.s));
    assert_int_equal(nc_store_state(f.s), NC_REDIS_DOWN);
    /* while open, nothing is attempted and the callback never runs */
    int64_t t0 = nc_now_ms();
    assert_int_equal(command(&f, &c, 1, argv), -1);
    assert_true(nc_now_ms() - t0 < 50);
    pass(&f, 10);
    assert_false(c.done);
    fixture_close(&f);
}

static void test_hung_redis_times_out_then_recovers(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(redis_port), NULL, NULL);
    struct call c;
    const char *argv[1] = {"PING"};
    assert_int_equal(command(&f, &c, 1, argv), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply); /* connected */
    kill(redis_pid, SIGSTOP);
    assert_int_equal(command(&f, &c, 1, argv), 0);
    int64_t took = run_until(&f, &c, 3000);
    kill(redis_pid, SIGCONT);
    assert_true(c.done);
    assert_false(c.got_reply);
    assert_true(took >= 140 && took < 1000); /* REDIS_TIMEOUT_MS is 150 */
    /* the dropped connection is re-opened lazily */
    assert_int_equal(command(&f, &c, 1, argv), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply);
    assert_string_equal(c.str, "PONG");
    assert_int_equal(nc_store_state(f.s), NC_REDIS_UP);
    fixture_close(&f);
}

static void test_auth_refused_fails_replies(void **state)
{
    (void)state;
    char u[96];
    snprintf(u, sizeof u, "redis://:secret@127.0.0.1:%d/3", redis_port); /* no password set */
    struct fixture f;
    fixture_open(&f, u, NULL, NULL);
    struct call c;
    const char *argv[1] = {"PING"};
    assert_int_equal(command(&f, &c, 1, argv), 0);
    run_until(&f, &c, 2000);
    assert_true(c.done);
    assert_false(c.got_reply); /* a connection whose setup failed answers nothing */
    fixture_close(&f);
}

/* Setup hooks: their commands run after SELECT and before the caller's,
 * again when their generation moves, and an error fails the connection. */
struct hook_state {
    int runs;
    const char *name;
};

static int hook_setname(struct nc_conn *c, void *ud)
{
    struct hook_state *h = ud;
    h->runs++;
    const char *argv[3] = {"CLIENT", "SETNAME", h->name};
    const size_t lens[3] = {6, 7, strlen(h->name)};
    return nc_conn_send_internal(c, NULL, NULL, 3, argv, lens);
}

static void test_setup_hook(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, redis_url(redis_port), NULL, NULL);
    static atomic_uint gen;
    static struct hook_state h = {0, "nc-one"};
    assert_int_equal(nc_store_add_setup(f.s, hook_setname, &h, &gen), 0);
    struct call c;
    const char *getname[2] = {"CLIENT", "GETNAME"};
    assert_int_equal(command(&f, &c, 2, getname), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply);
    assert_string_equal(c.str, "nc-one");
    assert_int_equal(h.runs, 1);
    /* same generation: not run again */
    assert_int_equal(command(&f, &c, 2, getname), 0);
    run_until(&f, &c, 2000);
    assert_int_equal(h.runs, 1);
    /* the owner moves its generation: re-run on the live connection first */
    h.name = "nc-two";
    atomic_fetch_add(&gen, 1);
    assert_int_equal(command(&f, &c, 2, getname), 0);
    run_until(&f, &c, 2000);
    assert_true(c.got_reply);
    assert_string_equal(c.str, "nc-two");
    assert_int_equal(h.runs, 2);
    /* a refused setup command fails the connection: the caller gets NULL */
    h.name = "bad name with spaces";
    atomic_fetch_add(&gen, 1);
    assert_int_equal(command(&f, &c, 2, getname), 0);
    run_until(&f, &c, 2000);
    assert_true(c.done);
    assert_false(c.got_reply);
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_then_get),
        cmocka_unit_test(test_many_in_order),
        cmocka_unit_test(test_disabled),
        cmocka_unit_test(test_refused_opens_breaker),
        cmocka_unit_test(test_hung_redis_times_out_then_recovers),
        cmocka_unit_test(test_auth_refused_fails_replies),
        cmocka_unit_test(test_setup_hook),
    };
    return cmocka_run_group_tests(tests, redis_start, redis_stop);
}
