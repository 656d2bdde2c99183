/* test_cache_input.c - the key of a /cache entry from q / params / ctx,
 * driven directly on a request object (no server, no Redis): today's keys
 * unchanged without ctx, ctx canonical (member order free), the errors and
 * their codes, and the tag index key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/cache/cache_int.h"
#include "normcache/config.h"
#include "testutil.h"

static struct nc_config cfg;
static struct nc_worker worker;

static int setup(void **state)
{
    (void)state;
    static const char *kv[] = {"MAX_QUERY_BYTES", "64", NULL};
    char err[256];
    if (nc_config_load(&cfg, test_kv_get, kv, err, sizeof err) != 0)
        return -1;
    worker.cfg = &cfg;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nc_config_free(&cfg);
    return 0;
}

static struct nc_req *req_ns(const char *uri)
{
    struct nc_req *r = nc_req_new(&worker, NULL);
    assert_non_null(r);
    assert_int_equal(nc_req_reset(r, uri), 0);
    snprintf(r->ns, sizeof r->ns, "faq");
    const char *code, *err;
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    return r;
}

static const struct nc_json *parse(struct nc_json_doc **doc, const char *text)
{
    assert_int_equal(nc_json_parse(text, strlen(text), 32, doc, NULL), 0);
    return nc_json_root(*doc);
}

static void test_query_key_unchanged(void **state)
{
    (void)state;
    struct nc_req *r = req_ns("/cache/faq?q=How+do+I+open+an+account%3F");
    struct nc_cache_err e;
    assert_int_equal(nc_cache_key_from_args(r, &e), 0);
    /* python3 -c "import hashlib;print(hashlib.sha256(b'how do i open an
     * account').hexdigest()[:16])" */
    assert_string_equal(r->key, "fca:faq:7cbdc3d46cf23688");
    nc_req_free(r);
}

static void test_ctx_mixed_in_and_order_free(void **state)
{
    (void)state;
    struct nc_cache_err e;
    struct nc_req *a = req_ns("/cache/faq?q=hi&ctx=%7B%22m%22%3A1%2C%22v%22%3A%22x%22%7D");
    struct nc_req *b = req_ns("/cache/faq?ctx=%7B%22v%22%3A%22x%22%2C%22m%22%3A1%7D&q=hi");
    struct nc_req *c = req_ns("/cache/faq?q=hi");
    assert_int_equal(nc_cache_key_from_args(a, &e), 0);
    assert_int_equal(nc_cache_key_from_args(b, &e), 0);
    assert_int_equal(nc_cache_key_from_args(c, &e), 0);
    assert_string_equal(a->key, b->key);
    assert_string_not_equal(a->key, c->key);
    /* python3: sha256(b'hi\nctx={"m": 1, "v": "x"}')[:16] */
    assert_string_equal(a->key, "fca:faq:6ee5d99d346e20bb");
    nc_req_free(a);
    nc_req_free(b);
    nc_req_free(c);
}

static void test_body_items(void **state)
{
    (void)state;
    struct nc_cache_err e;
    struct nc_req *r = req_ns("/cache/faq");
    struct nc_json_doc *d1 = NULL, *d2 = NULL;
    const struct nc_json *p = parse(&d1, "{\"sku\":\"A1\"}");
    const struct nc_json *ctx = parse(&d2, "{\"locale\":\"de\"}");
    assert_int_equal(nc_cache_key_item(r, NULL, p, ctx, &e), 0);
    /* python3: sha256(b'{"sku": "A1"}\nctx={"locale": "de"}')[:16] */
    assert_string_equal(r->key, "fca:faq:p:39fa10d59daa5982");
    assert_int_equal(nc_cache_key_item(r, NULL, NULL, NULL, &e), -1);
    assert_string_equal(e.code, "invalid_request");
    assert_int_equal(nc_cache_key_item(r, p, p, NULL, &e), -1);
    assert_string_equal(e.code, "invalid_request");
    assert_int_equal(nc_cache_key_item(r, p, NULL, NULL, &e), -1); /* q not a string */
    assert_string_equal(e.code, "invalid_request");
    assert_int_equal(nc_cache_key_item(r, NULL, ctx, p, &e), 0);
    nc_json_doc_free(d1);
    nc_json_doc_free(d2);
    nc_req_free(r);
}

static void test_errors(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *code;
        int status;
    } cases[] = {
        {"/cache/faq?q=x&ctx=%5B1%5D", "invalid_ctx", 400},
        {"/cache/faq?q=x&ctx=%7B", "invalid_ctx", 400},
        {"/cache/faq?q=x&ctx=%7B%22n%22%3A9007199254740993%7D", "invalid_number", 400},
        {"/cache/faq?params=%5B%5D", "invalid_params", 400},
        {"/cache/faq?q=%21%3F", "empty_query", 400},
        {"/cache/faq?q=%ff", "invalid_utf8", 400},
        {"/cache/faq?q=a%00b", "invalid_utf8", 400},
        {"/cache/faq?q=x&params=%7B%7D", "invalid_request", 400},
        {"/cache/faq?x=1", "unknown_parameter", 400},
        {"/cache/"
         "faq?q=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "query_too_long", 414},
        {"/cache/"
         "faq?q=x&ctx=%7B%22k%22%3A%"
         "22aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa%22%7D",
         "query_too_long", 414},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nc_req *r = req_ns(cases[i].uri);
        struct nc_cache_err e;
        if (nc_cache_key_from_args(r, &e) != -1 || strcmp(e.code, cases[i].code) != 0 ||
            e.status != cases[i].status)
            fail_msg("%s: got %s %d", cases[i].uri, e.code, e.status);
        nc_req_free(r);
    }
}

static void test_tag_key(void **state)
{
    (void)state;
    struct nc_req *r = req_ns("/cache/faq");
    char k[NC_KEY_MAX];
    assert_true(nc_cache_tag_key(r, "product:123", 11, k) > 0);
    assert_string_equal(k, "fca:faq:t:efde0f60cd514f14");
    nc_req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_key_unchanged),
        cmocka_unit_test(test_ctx_mixed_in_and_order_free),
        cmocka_unit_test(test_body_items),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_tag_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
