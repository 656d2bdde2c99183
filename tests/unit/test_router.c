/* test_router.c - the route table and the order of the checks, driven
 * in-process: the server is started from the library on a free port with
 * Redis disabled (every route fails open or refuses without it), and
 * spoken to with libcurl. Covers router, server, health, metrics_http and
 * the Redis-free paths of cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "normcache/buf.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/server.h"

#include "testutil.h"

static struct nc_config cfg;
static struct nc_server *srv;
static int port;

static int setup(void **state)
{
    (void)state;
    static char portbuf[16];
    snprintf(portbuf, sizeof portbuf, "%d", test_free_port());
    const char *kv[] = {"PORT",          portbuf, "THREADS",     "2",
                        "REDIS_ENABLED", "false", "AUTH_TOKENS", "tok-1,tok-2",
                        "LOG_LEVEL",     "error", NULL};
    char err[256];
    if (nc_config_load(&cfg, test_kv_get, kv, err, sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    nc_log_set_level(cfg.log_level);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (nc_server_start(&cfg, &srv, err, sizeof err) != 0) {
        fprintf(stderr, "server: %s\n", err);
        return -1;
    }
    port = nc_server_port(srv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nc_server_stop(srv);
    nc_config_free(&cfg);
    curl_global_cleanup();
    return 0;
}

struct resp {
    long status;
    struct nc_buf body;
    struct nc_buf headers;
};

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    return nc_buf_append(ud, p, sz * n) == 0 ? sz * n : 0;
}

/* One request; extra headers NULL-terminated. */
static void request(struct resp *r, const char *method, const char *path, const char *body,
                    const char *const *hdrs)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    nc_buf_init(&r->body);
    nc_buf_init(&r->headers);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (; hdrs && *hdrs; hdrs++)
        hl = curl_slist_append(hl, *hdrs);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body.data)
        nc_buf_appends(&r->body, "");
    if (!r->headers.data)
        nc_buf_appends(&r->headers, "");
}

static void resp_free(struct resp *r)
{
    nc_buf_free(&r->body);
    nc_buf_free(&r->headers);
}

static const char *const auth[] = {"Authorization: Bearer tok-2", NULL};

static void expect(const char *method, const char *path, const char *const *hdrs, long status,
                   const char *code)
{
    struct resp r;
    request(&r, method, path, NULL, hdrs);
    if (r.status != status || (code && !strstr(r.body.data, code)))
        fail_msg("%s %s: %ld %s (wanted %ld %s)", method, path, r.status, r.body.data, status,
                 code ? code : "");
    resp_free(&r);
}

static void test_health(void **state)
{
    (void)state;
    struct resp r;
    request(&r, "GET", "/healthz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"status\":\"ok\"}");
    resp_free(&r);
    request(&r, "GET", "/readyz", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"status\":\"ok\",\"redis\":\"disabled\"}");
    resp_free(&r);
    expect("HEAD", "/healthz", NULL, 200, NULL);
    expect("POST", "/healthz", NULL, 405, NULL);
    expect("GET", "/healthz/x", NULL, 404, "not_found");
    expect("GET", "/readyzz", NULL, 404, "not_found");
}

static void test_order_of_checks(void **state)
{
    (void)state;
    /* authentication first: without a token nothing else is told */
    expect("GET", "/cache/faq?q=x", NULL, 401, "unauthorized");
    expect("GET", "/cache", NULL, 401, "unauthorized");
    expect("POST", "/cache/faq", NULL, 401, "unauthorized");
    expect("GET", "/cache/faq?q=x&q=y", NULL, 401, "unauthorized");
    static const char *const wrong[] = {"Authorization: Bearer tok-3", NULL};
    expect("GET", "/cache/faq?q=x", wrong, 401, "unauthorized");
    static const char *const prefix[] = {"Authorization: Bearer tok", NULL};
    expect("GET", "/cache/faq?q=x", prefix, 401, "unauthorized");
    /* then the route */
    expect("GET", "/cache", auth, 404, "not_found");
    expect("GET", "/cache/", auth, 404, "not_found");
    expect("GET", "/nope", NULL, 404, "not_found");
    /* then the method */
    expect("POST", "/cache/faq", auth, 405, "method_not_allowed");
    /* then the input */
    expect("GET", "/cache/faq?q=x&q=y", auth, 400, "duplicate_parameter");
    expect("GET", "/cache/faq?q=%zz", auth, 400, "invalid_encoding");
    expect("GET", "/cache/fa:q?q=x", auth, 400, "invalid_namespace");
    expect("GET", "/cache/faq?x=1", auth, 400, "unknown_parameter");
    /* the open routes stay open */
    expect("GET", "/metrics", NULL, 200, "normcache_http_requests_total");
}

static void test_allow_header(void **state)
{
    (void)state;
    struct resp r;
    request(&r, "PATCH", "/cache/faq", NULL, auth);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.data, "Allow: GET, HEAD, PUT, DELETE\r\n"));
    assert_non_null(strstr(r.headers.data, "application/problem+json"));
    resp_free(&r);
    request(&r, "DELETE", "/products/recommendations", NULL, NULL);
    assert_int_equal(r.status, 405);
    assert_non_null(strstr(r.headers.data, "Allow: GET, HEAD\r\n"));
    resp_free(&r);
}

static void test_fail_open_without_redis(void **state)
{
    (void)state;
    struct resp r;
    request(&r, "GET", "/cache/faq?q=How+do+I+open+an+account%3F", NULL, auth);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.headers.data, "X-Cache: BYPASS\r\n"));
    assert_non_null(strstr(r.headers.data, "X-Cache-Key: fca:faq:7cbdc3d46cf23688\r\n"));
    resp_free(&r);
    static const char *const put_hdrs[] = {"Authorization: Bearer tok-1",
                                           "Content-Type: application/json", NULL};
    request(&r, "PUT", "/cache/faq", "{\"q\":\"how do i open an account\",\"value\":1}", put_hdrs);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.data, "{\"key\":\"fca:faq:7cbdc3d46cf23688\",\"stored\":false}");
    resp_free(&r);
    /* invalidations fail loudly */
    request(&r, "DELETE", "/cache/faq", NULL, auth);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.headers.data, "Retry-After: 1\r\n"));
    resp_free(&r);
}

static void test_body_limits(void **state)
{
    (void)state;
    static const char *const text[] = {"Authorization: Bearer tok-1", "Content-Type: text/plain",
                                       NULL};
    expect("PUT", "/cache/faq", text, 415, "unsupported_media_type");
    /* a GET's body is read and dropped */
    struct resp r;
    static const char *const json[] = {"Authorization: Bearer tok-1",
                                       "Content-Type: application/json", NULL};
    request(&r, "GET", "/cache/faq?q=x", "{\"ignored\":true}", json);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void test_bad_framing_closes(void **state)
{
    (void)state;
    int fd = test_connect(port);
    assert_true(fd >= 0);
    static const char req[] = "PUT /cache/faq HTTP/1.1\r\nHost: x\r\n"
                              "Authorization: Bearer tok-1\r\nContent-Type: application/json\r\n"
                              "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char buf[2048];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n; /* the server closes the connection: read ends */
    buf[got] = '\0';
    close(fd);
    assert_non_null(strstr(buf, "HTTP/1.1 400"));
    assert_non_null(strstr(buf, "bad_framing"));
}

static void test_metrics_count_routes(void **state)
{
    (void)state;
    struct resp r;
    request(&r, "GET", "/metrics", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers.data, "text/plain; version=0.0.4"));
    /* the earlier tests' requests, by route label */
    assert_non_null(strstr(r.body.data,
                           "normcache_http_requests_total{route=\"health\",method=\"GET\","
                           "code=\"200\"}"));
    assert_non_null(strstr(r.body.data, "normcache_http_requests_total{route=\"cache_get\","
                                        "method=\"GET\",code=\"404\"}"));
    assert_non_null(strstr(r.body.data, "normcache_http_requests_total{route=\"cache_flush\","
                                        "method=\"DELETE\",code=\"503\"}"));
    assert_non_null(strstr(r.body.data, "normcache_redis_up 0\n"));
    assert_non_null(strstr(r.body.data, "normcache_redis_breaker_open 0\n"));
    assert_non_null(strstr(r.body.data, "normcache_cache_results_total{namespace=\"faq\","
                                        "result=\"bypass\"}"));
    resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),
        cmocka_unit_test(test_order_of_checks),
        cmocka_unit_test(test_allow_header),
        cmocka_unit_test(test_fail_open_without_redis),
        cmocka_unit_test(test_body_limits),
        cmocka_unit_test(test_bad_framing_closes),
        cmocka_unit_test(test_metrics_count_routes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
