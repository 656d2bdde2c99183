/* test_sentinel.c - what the sentinel module decides without a server:
 * the get-master-addr-by-name reply, +switch-master messages, ROLE, and the
 * published address (its generation moves only when the address does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "normcache/sentinel.h"

/* Reply builders: a string / nil / error / array on the stack. */
static redisReply rstr(const char *s)
{
    return (redisReply){.type = REDIS_REPLY_STRING, .str = (char *)s, .len = strlen(s)};
}

static redisReply rarr(redisReply **el, size_t n)
{
    return (redisReply){.type = REDIS_REPLY_ARRAY, .element = el, .elements = n};
}

static int addr_of(const redisReply *r, char *host, int *port)
{
    char err[160];
    err[0] = '\0';
    int rc = nc_sentinel_parse_addr(r, host, NC_SENTINEL_HOST_MAX, port, err, sizeof err);
    if (rc != 0)
        assert_true(err[0] != '\0'); /* every refusal says why */
    return rc;
}

static void test_addr_reply(void **state)
{
    (void)state;
    char host[NC_SENTINEL_HOST_MAX];
    int port = 0;
    redisReply h = rstr("127.0.0.1"), p = rstr("6390");
    redisReply *el[2] = {&h, &p};
    redisReply a = rarr(el, 2);
    assert_int_equal(addr_of(&a, host, &port), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6390);

    redisReply h6 = rstr("::1"), p6 = rstr("65535");
    redisReply *el6[2] = {&h6, &p6};
    redisReply a6 = rarr(el6, 2);
    assert_int_equal(addr_of(&a6, host, &port), 0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 65535);
}

static void test_addr_reply_refused(void **state)
{
    (void)state;
    char host[NC_SENTINEL_HOST_MAX];
    int port = 7;
    assert_int_equal(addr_of(NULL, host, &port), -1);
    redisReply nil = {.type = REDIS_REPLY_NIL};
    assert_int_equal(addr_of(&nil, host, &port), -1); /* unknown master name */
    redisReply e = {.type = REDIS_REPLY_ERROR, .str = "ERR unknown command", .len = 19};
    assert_int_equal(addr_of(&e, host, &port), -1);
    redisReply s = rstr("127.0.0.1");
    assert_int_equal(addr_of(&s, host, &port), -1);

    const char *bad_ports[] = {"0", "65536", "", "63a", "-1", "123456", " 80"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        redisReply h = rstr("127.0.0.1"), p = rstr(bad_ports[i]);
        redisReply *el[2] = {&h, &p};
        redisReply a = rarr(el, 2);
        assert_int_equal(addr_of(&a, host, &port), -1);
    }
    const char *bad_hosts[] = {"", "a b", "x\ny"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        redisReply h = rstr(bad_hosts[i]), p = rstr("6379");
        redisReply *el[2] = {&h, &p};
        redisReply a = rarr(el, 2);
        assert_int_equal(addr_of(&a, host, &port), -1);
    }
    /* Three elements, one element, an integer port. */
    redisReply h = rstr("h"), p = rstr("1"), x = rstr("2");
    redisReply *el3[3] = {&h, &p, &x};
    redisReply a3 = rarr(el3, 3);
    assert_int_equal(addr_of(&a3, host, &port), -1);
    redisReply a1 = rarr(el3, 1);
    assert_int_equal(addr_of(&a1, host, &port), -1);
    redisReply ip = {.type = REDIS_REPLY_INTEGER, .integer = 6379};
    redisReply *eli[2] = {&h, &ip};
    redisReply ai = rarr(eli, 2);
    assert_int_equal(addr_of(&ai, host, &port), -1);
    assert_int_equal(port, 7); /* untouched by every refusal */
    /* A host that does not fit. */
    char big[NC_SENTINEL_HOST_MAX + 8];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    redisReply hb = rstr(big), pb = rstr("6379");
    redisReply *elb[2] = {&hb, &pb};
    redisReply ab = rarr(elb, 2);
    assert_int_equal(addr_of(&ab, host, &port), -1);
}

static int sw(const char *msg, const char *master, char *host, int *port)
{
    return nc_sentinel_parse_switch(msg, strlen(msg), master, host, NC_SENTINEL_HOST_MAX, port);
}

static void test_switch_master(void **state)
{
    (void)state;
    char host[NC_SENTINEL_HOST_MAX];
    int port = 0;
    assert_int_equal(sw("mymaster 127.0.0.1 6390 127.0.0.1 6391", "mymaster", host, &port), 1);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6391);
    assert_int_equal(sw("m ::1 6390 ::2 7000", "m", host, &port), 1);
    assert_string_equal(host, "::2");
    assert_int_equal(port, 7000);
    /* Another master's switch: not ours, the address left alone. */
    port = 1;
    assert_int_equal(sw("other 127.0.0.1 6390 127.0.0.1 6391", "mymaster", host, &port), 0);
    assert_int_equal(sw("mymaster2 127.0.0.1 6390 127.0.0.1 6391", "mymaster", host, &port), 0);
    assert_int_equal(sw("mymaste 127.0.0.1 6390 127.0.0.1 6391", "mymaster", host, &port), 0);
    assert_int_equal(port, 1);
    /* The message is length-delimited, not NUL-terminated. */
    const char *m = "mymaster 10.0.0.1 1 10.0.0.2 6379TRAILING";
    assert_int_equal(
        nc_sentinel_parse_switch(m, strlen(m) - 8, "mymaster", host, sizeof host, &port), 1);
    assert_string_equal(host, "10.0.0.2");
    assert_int_equal(port, 6379);
}

static void test_switch_master_malformed(void **state)
{
    (void)state;
    char host[NC_SENTINEL_HOST_MAX];
    int port = 5;
    const char *bad[] = {
        "",
        "mymaster",
        "mymaster 127.0.0.1 6390 127.0.0.1",
        "mymaster 127.0.0.1 6390 127.0.0.1 6391 extra",
        "mymaster 127.0.0.1 6390 127.0.0.1 0",
        "mymaster 127.0.0.1 6390 127.0.0.1 70000",
        "mymaster 127.0.0.1 x 127.0.0.1 6391",
        "mymaster 127.0.0.1 6390 127.0.0.1 63a1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(sw(bad[i], "mymaster", host, &port), -1);
    assert_int_equal(port, 5);
}

static void test_role(void **state)
{
    (void)state;
    redisReply m = rstr("master"), off = {.type = REDIS_REPLY_INTEGER, .integer = 10};
    redisReply *el[2] = {&m, &off};
    redisReply a = rarr(el, 2);
    assert_int_equal(nc_sentinel_role_is_master(&a), 1);
    redisReply s = rstr("slave");
    redisReply *els[1] = {&s};
    redisReply as = rarr(els, 1);
    assert_int_equal(nc_sentinel_role_is_master(&as), 0);
    redisReply mm = rstr("masterx");
    redisReply *elm[1] = {&mm};
    redisReply am = rarr(elm, 1);
    assert_int_equal(nc_sentinel_role_is_master(&am), 0);
    redisReply e = {.type = REDIS_REPLY_ERROR, .str = "LOADING", .len = 7};
    assert_int_equal(nc_sentinel_role_is_master(&e), 0);
    assert_int_equal(nc_sentinel_role_is_master(NULL), 0);
    redisReply empty = rarr(NULL, 0);
    assert_int_equal(nc_sentinel_role_is_master(&empty), 0);
}

static void test_publish_generation(void **state)
{
    (void)state;
    char host[NC_SENTINEL_HOST_MAX];
    int port;
    uint64_t gen;
    nc_sentinel_stop(); /* never started: a no-op */
    uint64_t g0 = nc_sentinel_generation();
    uint64_t f0 = nc_sentinel_failovers();
    if (g0 == 0)
        assert_int_equal(nc_sentinel_master(host, sizeof host, &port, &gen), -1);
    uint64_t g1 = nc_sentinel_publish("127.0.0.1", 6390);
    assert_true(g1 > g0);
    assert_int_equal(nc_sentinel_generation(), g1);
    assert_int_equal(nc_sentinel_master(host, sizeof host, &port, &gen), 0);
    assert_string_equal(host, "127.0.0.1");
    assert_int_equal(port, 6390);
    assert_int_equal(gen, g1);
    assert_int_equal(nc_sentinel_failovers(), f0); /* the first address is no failover */
    /* The same address again: nothing moves. */
    assert_int_equal(nc_sentinel_publish("127.0.0.1", 6390), g1);
    assert_int_equal(nc_sentinel_failovers(), f0);
    /* Another port, then another host: one generation and one failover each. */
    uint64_t g2 = nc_sentinel_publish("127.0.0.1", 6391);
    assert_int_equal(g2, g1 + 1);
    assert_int_equal(nc_sentinel_failovers(), f0 + 1);
    uint64_t g3 = nc_sentinel_publish("127.0.0.2", 6391);
    assert_int_equal(g3, g2 + 1);
    assert_int_equal(nc_sentinel_failovers(), f0 + 2);
    assert_int_equal(nc_sentinel_master(host, sizeof host, &port, &gen), 0);
    assert_string_equal(host, "127.0.0.2");
    assert_int_equal(port, 6391);
    assert_int_equal(gen, g3);
    /* A request with no thread running is harmless. */
    nc_sentinel_request_resolve();
    nc_sentinel_request_resolve();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_reply),    cmocka_unit_test(test_addr_reply_refused),
        cmocka_unit_test(test_switch_master), cmocka_unit_test(test_switch_master_malformed),
        cmocka_unit_test(test_role),          cmocka_unit_test(test_publish_generation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
