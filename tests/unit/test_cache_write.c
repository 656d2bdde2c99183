/* test_cache_write.c - what a PUT body (or a _mset item) may hold, checked
 * directly on parsed JSON and a request object (no server, no Redis):
 * member sorting, value, ttl and tags rules, and the key it derives. */
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
    static const char *kv[] = {
        "CACHE_TTL_SECONDS", "300", "CACHE_MAX_TTL_SECONDS", "3600", "CACHE_NS_TTL",
        "faq=600",           NULL};
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

/* Sorts and checks body; returns 0 or the error code through *code. */
static int check(const char *ns, const char *body, const char **code, struct nc_req **out)
{
    struct nc_req *r = nc_req_new(&worker, NULL);
    assert_non_null(r);
    assert_int_equal(nc_req_reset(r, "/cache/x"), 0);
    snprintf(r->ns, sizeof r->ns, "%s", ns);
    struct nc_json_doc *doc = NULL;
    assert_int_equal(nc_json_parse(body, strlen(body), 33, &doc, NULL), 0);
    struct nc_cache_item it;
    struct nc_cache_err e;
    int rc = nc_cache_put_members(nc_json_root(doc), &it, &e);
    if (rc == 0)
        rc = nc_cache_put_check(r, &it, &e);
    *code = rc ? e.code : NULL;
    if (rc == 0)
        assert_non_null(it.value);
    nc_json_doc_free(doc);
    if (out)
        *out = r;
    else
        nc_req_free(r);
    return rc;
}

static void test_valid_bodies(void **state)
{
    (void)state;
    const char *code;
    struct nc_req *r;
    assert_int_equal(check("faq", "{\"q\":\"How do I open an account?\",\"value\":1}", &code, &r),
                     0);
    assert_string_equal(r->key, "fca:faq:7cbdc3d46cf23688");
    assert_int_equal(r->ttl, 600); /* the namespace's TTL */
    nc_req_free(r);
    assert_int_equal(check("other", "{\"params\":{\"a\":1},\"value\":null,\"ttl\":60}", &code, &r),
                     0);
    assert_int_equal(r->ttl, 60);
    assert_string_equal(r->key, "fca:other:p:f9d86028c6e0d64e"); /* sha256('{"a": 1}') */
    nc_req_free(r);
    assert_int_equal(check("other", "{\"q\":\"x\",\"value\":{},\"tags\":[]}", &code, &r), 0);
    assert_int_equal(r->ttl, 300); /* the default TTL */
    nc_req_free(r);
    assert_int_equal(
        check("faq", "{\"q\":\"x\",\"value\":1,\"tags\":[\"product:1\",\"a.b-c_d\"],\"ctx\":{}}",
              &code, NULL),
        0);
}

static void test_refused_bodies(void **state)
{
    (void)state;
    static const struct {
        const char *body, *code;
    } cases[] = {
        {"[1]", "invalid_body"},
        {"{\"q\":\"x\",\"value\":1,\"extra\":2}", "invalid_body"},
        {"{\"q\":\"x\"}", "missing_value"},
        {"{\"value\":1}", "invalid_request"},
        {"{\"q\":\"x\",\"params\":{},\"value\":1}", "invalid_request"},
        {"{\"q\":1,\"value\":1}", "invalid_request"},
        {"{\"params\":[1],\"value\":1}", "invalid_params"},
        {"{\"q\":\"x\",\"value\":1,\"ttl\":0}", "invalid_ttl"},
        {"{\"q\":\"x\",\"value\":1,\"ttl\":3601}", "invalid_ttl"},
        {"{\"q\":\"x\",\"value\":1,\"ttl\":60.0}", "invalid_ttl"},
        {"{\"q\":\"x\",\"value\":1,\"ttl\":\"60\"}", "invalid_ttl"},
        {"{\"q\":\"x\",\"value\":1,\"tags\":\"t\"}", "invalid_tags"},
        {"{\"q\":\"x\",\"value\":1,\"tags\":[\"a b\"]}", "invalid_tags"},
        {"{\"q\":\"x\",\"value\":1,\"tags\":[1]}", "invalid_tags"},
        {"{\"q\":\"x\",\"value\":1,\"ctx\":[1]}", "invalid_ctx"},
        {"{\"q\":\"?!\",\"value\":1}", "empty_query"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *code = NULL;
        if (check("faq", cases[i].body, &code, NULL) != -1 || !code ||
            strcmp(code, cases[i].code) != 0)
            fail_msg("%s: got %s, wanted %s", cases[i].body, code ? code : "(accepted)",
                     cases[i].code);
    }
    /* 33 tags: one too many */
    char body[1024] = "{\"q\":\"x\",\"value\":1,\"tags\":[";
    for (int i = 0; i < 33; i++)
        snprintf(body + strlen(body), sizeof body - strlen(body), "%s\"t%d\"", i ? "," : "", i);
    strcat(body, "]}");
    const char *code = NULL;
    assert_int_equal(check("faq", body, &code, NULL), -1);
    assert_string_equal(code, "invalid_tags");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_bodies),
        cmocka_unit_test(test_refused_bodies),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
