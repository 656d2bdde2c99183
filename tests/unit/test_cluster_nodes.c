/* test_cluster_nodes.c - the process's cluster node table, driven directly:
 * one entry per host:port, the bound, which nodes are masters, what /readyz
 * and /metrics say about them (IPv6 in brackets), the counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "normcache/cluster_nodes.h"
#include "normcache/config.h"

#include "testutil.h"

static struct nc_config cfg;

static int setup(void **state)
{
    (void)state;
    const char *kv[] = {
        "REDIS_MODE", "cluster", "REDIS_URL", "redis://127.0.0.1:7000", "REDIS_BREAKER_FAILURES",
        "2",          NULL};
    char err[256];
    return nc_config_load(&cfg, test_kv_get, kv, err, sizeof err);
}

static int teardown(void **state)
{
    (void)state;
    nc_config_free(&cfg);
    return 0;
}

/* Runs first: the table is process-wide and only grows. */
static void test_table(void **state)
{
    (void)state;
    assert_int_equal(nc_cluster_up(), 0); /* no map yet */
    int a = nc_cluster_node_get(&cfg, "127.0.0.1", 7000);
    int b = nc_cluster_node_get(&cfg, "::1", 7001);
    int c = nc_cluster_node_get(&cfg, "127.0.0.1", 7002);
    assert_int_equal(nc_cluster_node_get(&cfg, "127.0.0.1", 7000), a);
    assert_true(a >= 0 && b > a && c > b);
    assert_int_equal(nc_cluster_node_count(), 3);
    assert_string_equal(nc_cluster_node_at(b)->host, "::1");

    /* A map naming a and b: c is known but not a master, so not shown. */
    int masters[2] = {a, b};
    nc_cluster_nodes_set_masters(masters, 2);
    assert_int_equal(nc_cluster_up(), 1);
    assert_int_equal(nc_cluster_breaker_open(), 0);
    struct nc_buf out = {0};
    assert_int_equal(nc_cluster_describe_nodes(&out), 0);
    assert_int_equal(nc_buf_append(&out, "", 1), 0);
    assert_string_equal(out.data, "\"127.0.0.1:7000\":\"up\",\"[::1]:7001\":\"up\"");

    /* b's breaker opens (two failures): /readyz and the gauge say so. */
    nc_breaker_failure(&nc_cluster_node_at(b)->brk, 0, 1000);
    nc_breaker_failure(&nc_cluster_node_at(b)->brk, 0, 1000);
    assert_int_equal(nc_cluster_breaker_open(), 1);
    assert_int_equal(nc_cluster_up(), 0);
    nc_buf_reset(&out);
    assert_int_equal(nc_cluster_render_node_up(&out), 0);
    assert_int_equal(nc_buf_append(&out, "", 1), 0);
    assert_non_null(strstr(out.data, "normcache_redis_node_up{node=\"127.0.0.1:7000\"} 1\n"));
    assert_non_null(strstr(out.data, "normcache_redis_node_up{node=\"[::1]:7001\"} 0\n"));
    assert_null(strstr(out.data, "7002"));

    /* A later map without b: the cluster is up again. */
    int only_a[1] = {a};
    nc_cluster_nodes_set_masters(only_a, 1);
    assert_int_equal(nc_cluster_up(), 1);
    nc_buf_free(&out);
}

static void test_bound_and_counters(void **state)
{
    (void)state;
    char host[32];
    int last = 0;
    for (int i = 0; i < NC_CLUSTER_NODES_MAX + 5; i++) {
        snprintf(host, sizeof host, "10.0.0.%d", i);
        last = nc_cluster_node_get(&cfg, host, 6379);
    }
    assert_int_equal(last, -1); /* full: refused, nothing overwritten */
    assert_int_equal(nc_cluster_node_count(), NC_CLUSTER_NODES_MAX);
    assert_string_equal(nc_cluster_node_at(0)->host, "127.0.0.1");

    struct nc_cluster_stats s0, s1;
    nc_cluster_stats(&s0);
    nc_cluster_nodes_count(NC_CLUSTER_STAT_MOVED);
    nc_cluster_nodes_count(NC_CLUSTER_STAT_ASK);
    nc_cluster_nodes_count(NC_CLUSTER_STAT_ASK);
    int m[1] = {0};
    nc_cluster_nodes_set_masters(m, 1);
    nc_cluster_stats(&s1);
    assert_int_equal(s1.moved - s0.moved, 1);
    assert_int_equal(s1.ask - s0.ask, 2);
    assert_int_equal(s1.refreshes - s0.refreshes, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_bound_and_counters),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
