/* test_req.c - the request object without a server: reset, query-string
 * decoding and argument lookup. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/req.h"

static struct nc_worker worker;

static struct nc_req *req_with(const char *uri)
{
    struct nc_req *r = nc_req_new(&worker, NULL);
    assert_non_null(r);
    assert_int_equal(nc_req_reset(r, uri), 0);
    return r;
}

static void test_reset_splits_path(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/cache/faq?q=x");
    assert_int_equal(r->path_len, strlen("/cache/faq"));
    assert_int_equal(r->state, NC_REQ_NEW);
    /* a second request on the same connection forgets the first */
    r->nargs = 3;
    r->keylen = 5;
    r->status = 200;
    assert_int_equal(nc_req_reset(r, "/healthz"), 0);
    assert_int_equal(r->path_len, strlen("/healthz"));
    assert_int_equal(r->nargs, 0);
    assert_int_equal(r->keylen, 0);
    assert_int_equal(r->status, 0);
    nc_req_free(r);
}

static void test_args_decoded(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/x?q=How+do%20I%3F&params=%7B%22a%22%3A1%7D&empty=&flag");
    const char *code = NULL, *err = NULL;
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(r->nargs, 4);
    assert_string_equal(r->args[0].name, "q");
    assert_string_equal(r->args[0].value, "How do I?");
    assert_int_equal(r->args[0].value_len, 9);
    assert_string_equal(r->args[1].value, "{\"a\":1}");
    assert_string_equal(r->args[2].name, "empty");
    assert_int_equal(r->args[2].value_len, 0);
    assert_string_equal(r->args[3].name, "flag");
    assert_string_equal(r->args[3].value, "");
    nc_req_free(r);
}

static void test_args_keep_nul_in_values(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/x?q=a%00b");
    const char *code = NULL, *err = NULL;
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(r->args[0].value_len, 3); /* callers refuse it, with its length */
    assert_memory_equal(r->args[0].value, "a\0b", 3);
    nc_req_free(r);
}

static void test_args_errors(void **state)
{
    (void)state;
    static const struct {
        const char *uri, *code;
    } cases[] = {
        {"/x?q=%zz", "invalid_encoding"},
        {"/x?q=%4", "invalid_encoding"},
        {"/x?q%=1", "invalid_encoding"},
        {"/x?q=1&q=2", "duplicate_parameter"},
        {"/x?q=1&%71=2", "duplicate_parameter"}, /* the same name once decoded */
        {"/x?a%00b=1", "invalid_parameter"},
        {"/x?a=1&b=2&c=3&d=4&e=5&f=6&g=7&h=8&i=9&j=10&k=11&l=12&m=13&n=14&o=15&p=16&q=17",
         "too_many_parameters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct nc_req *r = req_with(cases[i].uri);
        const char *code = NULL, *err = NULL;
        assert_int_equal(nc_req_parse_args(r, &code, &err), -1);
        assert_string_equal(code, cases[i].code);
        assert_non_null(err);
        assert_null(strstr(err, "zz")); /* never quotes the caller's text */
        nc_req_free(r);
    }
}

static void test_args_empty_segments(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/x?&&q=1&");
    const char *code = NULL, *err = NULL;
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(r->nargs, 1);
    nc_req_free(r);
    r = req_with("/x?");
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(r->nargs, 0);
    nc_req_free(r);
}

static void test_args_lookup(void **state)
{
    (void)state;
    static const char *const names[2] = {"query", "limit"};
    const struct nc_arg *a[2];
    const char *code = NULL, *err = NULL;
    struct nc_req *r = req_with("/x?limit=3&query=shoes");
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(nc_req_args(r, names, a, 2), 0);
    assert_string_equal(a[0]->value, "shoes");
    assert_string_equal(a[1]->value, "3");
    nc_req_free(r);

    r = req_with("/x?query=shoes");
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(nc_req_args(r, names, a, 2), 0);
    assert_non_null(a[0]);
    assert_null(a[1]);
    nc_req_free(r);

    r = req_with("/x?query=shoes&colour=red");
    assert_int_equal(nc_req_parse_args(r, &code, &err), 0);
    assert_int_equal(nc_req_args(r, names, a, 2), -1);
    nc_req_free(r);
}

static void test_begin_end_balance(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/healthz");
    nc_req_begin(r, "GET");
    assert_int_equal(worker.active, 1);
    nc_req_end(r);
    nc_req_end(r); /* twice is harmless */
    assert_int_equal(worker.active, 0);
    nc_req_begin(r, "GET");
    nc_req_free(r); /* a connection closed mid-request balances too */
    assert_int_equal(worker.active, 0);
}

/* nc_req_header copies the value (the caller's buffer may go away), cut
 * to the slot's size, and ignores headers beyond NC_MAX_EXTRA_HEADERS. */
static void test_extra_headers(void **state)
{
    (void)state;
    struct nc_req *r = req_with("/cache/faq?q=x");
    char v[200];
    snprintf(v, sizeof v, "max-age=%d", 597);
    nc_req_header(r, "Cache-Control", v);
    memset(v, 'e', sizeof v - 1);
    v[sizeof v - 1] = '\0';
    nc_req_header(r, "X-Long", v);
    v[0] = 'Z'; /* the copies do not follow the caller's buffer */
    assert_int_equal(r->nhdr, 2);
    assert_string_equal(r->hdr_name[0], "Cache-Control");
    assert_string_equal(r->hdr_value[0], "max-age=597");
    assert_int_equal(strlen(r->hdr_value[1]), sizeof r->hdr_value[1] - 1);
    assert_int_equal(r->hdr_value[1][0], 'e');
    nc_req_header(r, "X-Empty", "");
    assert_string_equal(r->hdr_value[2], "");
    for (int i = 3; i < NC_MAX_EXTRA_HEADERS + 5; i++)
        nc_req_header(r, "X-More", "1");
    assert_int_equal(r->nhdr, NC_MAX_EXTRA_HEADERS);
    nc_req_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reset_splits_path),       cmocka_unit_test(test_args_decoded),
        cmocka_unit_test(test_args_keep_nul_in_values), cmocka_unit_test(test_args_errors),
        cmocka_unit_test(test_args_empty_segments),     cmocka_unit_test(test_args_lookup),
        cmocka_unit_test(test_begin_end_balance),       cmocka_unit_test(test_extra_headers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
