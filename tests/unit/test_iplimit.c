/* test_iplimit.c - connections per client address for the whole process:
 * the cap holds per address (not per table user), IPv4 and IPv6 keys are
 * distinct and stable, releasing frees the place (and the entry), and
 * threads racing on one address never admit more than the cap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/iplimit.h"

static void key4(const char *ip, unsigned char key[NC_IPLIMIT_KEY])
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(1234);
    assert_int_equal(inet_pton(AF_INET, ip, &a.sin_addr), 1);
    assert_int_equal(nc_iplimit_key((struct sockaddr *)&a, sizeof a, key), 0);
}

static void key6(const char *ip, unsigned char key[NC_IPLIMIT_KEY])
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof a);
    a.sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a.sin6_addr), 1);
    assert_int_equal(nc_iplimit_key((struct sockaddr *)&a, sizeof a, key), 0);
}

static void test_keys(void **state)
{
    (void)state;
    unsigned char a[NC_IPLIMIT_KEY], b[NC_IPLIMIT_KEY], c[NC_IPLIMIT_KEY];
    key4("10.1.2.3", a);
    key6("::ffff:10.1.2.3", b); /* the same client over a dual-stack socket */
    assert_memory_equal(a, b, NC_IPLIMIT_KEY);
    key6("2001:db8::1", c);
    assert_memory_not_equal(a, c, NC_IPLIMIT_KEY);
    struct sockaddr un = {.sa_family = AF_UNIX};
    assert_int_equal(nc_iplimit_key(&un, sizeof un, c), -1);
    assert_int_equal(nc_iplimit_key(NULL, 0, c), -1);
    struct sockaddr_in shortv4 = {.sin_family = AF_INET};
    assert_int_equal(nc_iplimit_key((struct sockaddr *)&shortv4, 4, c), -1);
}

static void test_cap(void **state)
{
    (void)state;
    struct nc_iplimit *t = nc_iplimit_new(3);
    assert_non_null(t);
    unsigned char a[NC_IPLIMIT_KEY], b[NC_IPLIMIT_KEY];
    key4("127.0.0.1", a);
    key4("127.0.0.2", b);
    for (int i = 0; i < 3; i++) {
        assert_true(nc_iplimit_room(t, a));
        assert_int_equal(nc_iplimit_acquire(t, a), 0);
    }
    assert_false(nc_iplimit_room(t, a));
    assert_int_equal(nc_iplimit_acquire(t, a), -1);
    assert_int_equal(nc_iplimit_count(t, a), 3);
    /* Another address is not affected. */
    assert_int_equal(nc_iplimit_acquire(t, b), 0);
    assert_int_equal(nc_iplimit_count(t, b), 1);
    nc_iplimit_release(t, a);
    assert_true(nc_iplimit_room(t, a));
    assert_int_equal(nc_iplimit_acquire(t, a), 0);
    for (int i = 0; i < 3; i++)
        nc_iplimit_release(t, a);
    nc_iplimit_release(t, b);
    assert_int_equal(nc_iplimit_count(t, a), 0);
    assert_int_equal(nc_iplimit_count(t, b), 0);
    /* A release without an entry (never counted) changes nothing. */
    nc_iplimit_release(t, a);
    assert_int_equal(nc_iplimit_count(t, a), 0);
    nc_iplimit_free(t);
    nc_iplimit_free(NULL);
}

/* Many addresses: entries are created and freed (valgrind/ASan see no
 * leak), counts stay separate across hash collisions. */
static void test_many(void **state)
{
    (void)state;
    struct nc_iplimit *t = nc_iplimit_new(2);
    unsigned char k[NC_IPLIMIT_KEY];
    char ip[32];
    for (int i = 0; i < 10000; i++) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        key4(ip, k);
        assert_int_equal(nc_iplimit_acquire(t, k), 0);
    }
    for (int i = 0; i < 10000; i += 7) {
        snprintf(ip, sizeof ip, "10.%d.%d.1", i / 256, i % 256);
        key4(ip, k);
        assert_int_equal(nc_iplimit_count(t, k), 1);
        nc_iplimit_release(t, k);
    }
    nc_iplimit_free(t); /* frees what is left */
}

struct race {
    struct nc_iplimit *t;
    unsigned char key[NC_IPLIMIT_KEY];
    int admitted;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    for (int i = 0; i < 1000; i++)
        if (nc_iplimit_acquire(r->t, r->key) == 0)
            r->admitted++;
    return NULL;
}

/* Workers opening connections from one address at once: never more than
 * the cap in total, which a per-daemon limit could not promise. */
static void test_threads(void **state)
{
    (void)state;
    struct nc_iplimit *t = nc_iplimit_new(50);
    struct race rs[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        rs[i].t = t;
        rs[i].admitted = 0;
        key4("192.0.2.7", rs[i].key);
        assert_int_equal(pthread_create(&th[i], NULL, race_main, &rs[i]), 0);
    }
    int total = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        total += rs[i].admitted;
    }
    assert_int_equal(total, 50);
    assert_int_equal(nc_iplimit_count(t, rs[0].key), 50);
    nc_iplimit_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
