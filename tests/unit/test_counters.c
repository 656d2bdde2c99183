/* test_counters.c - counters summed over worker blocks and rendered as
 * Prometheus text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/buf.h"
#include "normcache/counters.h"

/* The value of the sample line that starts with `series` followed by a
 * space, or -1 when there is none. */
static long long sample(const struct nc_buf *b, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = b->data; p && *p;) {
        const char *nl = strchr(p, '\n');
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return atoll(p + n + 1);
        p = nl ? nl + 1 : NULL;
    }
    return -1;
}

static void render(struct nc_buf *b)
{
    nc_buf_reset(b);
    assert_int_equal(nc_counters_render(b), 0);
}

static void test_requests_sum_over_blocks(void **state)
{
    (void)state;
    struct nc_counters *a = nc_counters_new(), *b = nc_counters_new();
    assert_non_null(a);
    assert_non_null(b);
    nc_counters_request(a, NC_ROUTE_CACHE_GET, "GET", 200, 150);
    nc_counters_request(b, NC_ROUTE_CACHE_GET, "GET", 200, 90);
    nc_counters_request(b, NC_ROUTE_CACHE_PUT, "BREW", 418, 20000000); /* other, +Inf */
    nc_counters_request(b, 99, "GET", 200, 1);                         /* out of range: ignored */
    struct nc_buf out;
    nc_buf_init(&out);
    render(&out);
    assert_int_equal(
        sample(&out,
               "normcache_http_requests_total{route=\"cache_get\",method=\"GET\",code=\"200\"}"),
        2);
    assert_int_equal(sample(&out, "normcache_http_requests_total{route=\"cache_put\","
                                  "method=\"OTHER\",code=\"0\"}"),
                     1);
    assert_int_equal(sample(&out, "normcache_http_request_duration_seconds_bucket{route="
                                  "\"cache_get\",le=\"0.0001\"}"),
                     1);
    assert_int_equal(sample(&out, "normcache_http_request_duration_seconds_bucket{route="
                                  "\"cache_get\",le=\"0.00025\"}"),
                     2);
    assert_int_equal(sample(&out, "normcache_http_request_duration_seconds_bucket{route="
                                  "\"cache_put\",le=\"10\"}"),
                     0);
    assert_int_equal(sample(&out, "normcache_http_request_duration_seconds_bucket{route="
                                  "\"cache_put\",le=\"+Inf\"}"),
                     1);
    assert_int_equal(
        sample(&out, "normcache_http_request_duration_seconds_count{route=\"cache_get\"}"), 2);
    assert_non_null(strstr(out.data, "# TYPE normcache_http_requests_total counter\n"));
    assert_non_null(strstr(out.data, "normcache_build_info{version=\""));
    nc_buf_free(&out);
}

static void test_cache_results_and_namespace_cap(void **state)
{
    (void)state;
    struct nc_counters *m = nc_counters_new();
    nc_counters_cache(m, "faq", NC_RES_HIT);
    nc_counters_cache(m, "faq", NC_RES_HIT);
    nc_counters_cache(m, "faq", NC_RES_MISS);
    nc_counters_cache(m, "", NC_RES_HIT); /* no namespace: not counted */
    char ns[16];
    for (int i = 0; i < 100; i++) {
        snprintf(ns, sizeof ns, "ns%d", i);
        nc_counters_cache(m, ns, NC_RES_BYPASS);
    }
    struct nc_buf out;
    nc_buf_init(&out);
    render(&out);
    assert_int_equal(
        sample(&out, "normcache_cache_results_total{namespace=\"faq\",result=\"hit\"}"), 2);
    assert_int_equal(
        sample(&out, "normcache_cache_results_total{namespace=\"faq\",result=\"miss\"}"), 1);
    /* 64 names in all: faq plus ns0..ns62; the other 37 count as _other */
    assert_int_equal(
        sample(&out, "normcache_cache_results_total{namespace=\"ns62\",result=\"bypass\"}"), 1);
    assert_int_equal(
        sample(&out, "normcache_cache_results_total{namespace=\"ns63\",result=\"bypass\"}"), -1);
    assert_int_equal(
        sample(&out, "normcache_cache_results_total{namespace=\"_other\",result=\"bypass\"}"), 37);
    nc_buf_free(&out);
}

static void test_upstream_and_redis(void **state)
{
    (void)state;
    struct nc_counters *m = nc_counters_new();
    nc_counters_upstream(m, NC_UP_OK);
    nc_counters_upstream(m, NC_UP_TIMEOUT);
    nc_counters_upstream(m, NC_UP_TIMEOUT);
    nc_counters_coalesced(m);
    nc_counters_redis_error(NC_REDIS_ERR_REPLY);
    struct nc_buf out;
    nc_buf_init(&out);
    render(&out);
    assert_int_equal(sample(&out, "normcache_upstream_requests_total{result=\"ok\"}"), 1);
    assert_int_equal(sample(&out, "normcache_upstream_requests_total{result=\"timeout\"}"), 2);
    assert_int_equal(sample(&out, "normcache_upstream_requests_total{result=\"error\"}"), 0);
    assert_int_equal(sample(&out, "normcache_upstream_coalesced_total"), 1);
    assert_int_equal(sample(&out, "normcache_redis_errors_total{kind=\"reply\"}"), 1);
    assert_int_equal(sample(&out, "normcache_redis_errors_total{kind=\"connect\"}"), 0);
    /* the counters know nothing of Redis state: no gauges here */
    assert_null(strstr(out.data, "normcache_redis_up"));
    nc_buf_free(&out);
}

static void test_route_names(void **state)
{
    (void)state;
    assert_string_equal(nc_route_name(NC_ROUTE_CACHE_FLUSH), "cache_flush");
    assert_string_equal(nc_route_name(NC_ROUTE_RECOMMENDATIONS), "recommendations");
    assert_string_equal(nc_route_name(-1), "other");
    assert_string_equal(nc_route_name(NC_ROUTE__COUNT), "other");
}

/* Method labels come from a fixed set: never the client's bytes. */
static void test_method_labels(void **state)
{
    (void)state;
    assert_string_equal(nc_method_label("GET"), "GET");
    assert_string_equal(nc_method_label("PATCH"), "PATCH");
    assert_string_equal(nc_method_label("get"), "OTHER");
    assert_string_equal(nc_method_label("GE\"T,\"level\":\"error"), "OTHER");
    assert_string_equal(nc_method_label(NULL), "OTHER");
    /* An invalid namespace label is never rendered. */
    struct nc_counters *m = nc_counters_new();
    assert_non_null(m);
    nc_counters_cache(m, "bad\"}ns", NC_RES_HIT);
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_counters_render(&b), 0);
    assert_null(strstr(b.data, "bad\""));
    nc_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_sum_over_blocks),
        cmocka_unit_test(test_cache_results_and_namespace_cap),
        cmocka_unit_test(test_upstream_and_redis),
        cmocka_unit_test(test_route_names),
        cmocka_unit_test(test_method_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
