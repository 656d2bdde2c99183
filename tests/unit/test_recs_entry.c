/* test_recs_entry.c - the recommendations entry format: build/parse round
 * trips and every malformed header the parser must refuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/recs_entry.h"

static int parse_str(const char *s, struct nc_recs_entry *e)
{
    return nc_recs_entry_parse(s, strlen(s), e);
}

static void test_round_trip_200(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    const char *body = "{\"items\": [1, 2]}";
    assert_int_equal(
        nc_recs_entry_build(&b, 1700000000123LL, 1700000120123LL, 152, 200, body, strlen(body)), 0);
    assert_string_equal(b.data, "NC1 1700000000123 1700000120123 152 200\n{\"items\": [1, 2]}");
    struct nc_recs_entry e;
    assert_int_equal(nc_recs_entry_parse(b.data, b.len, &e), 0);
    assert_int_equal(e.stored_ms, 1700000000123LL);
    assert_int_equal(e.fresh_until_ms, 1700000120123LL);
    assert_int_equal(e.delta_ms, 152);
    assert_int_equal(e.status, 200);
    assert_int_equal(e.len, strlen(body));
    assert_memory_equal(e.body, body, e.len);
    assert_ptr_equal(e.body, b.data + strlen("NC1 1700000000123 1700000120123 152 200\n"));
    nc_buf_free(&b);
}

/* A body may itself contain newlines and NULs: only the first line is
 * the header, the length comes from the caller. */
static void test_body_is_opaque(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    const char body[] = "a\nb\0c\nNC1 1 2 3 404\n";
    assert_int_equal(nc_recs_entry_build(&b, 1, 2, 3, 200, body, sizeof body - 1), 0);
    struct nc_recs_entry e;
    assert_int_equal(nc_recs_entry_parse(b.data, b.len, &e), 0);
    assert_int_equal(e.status, 200);
    assert_int_equal(e.len, sizeof body - 1);
    assert_memory_equal(e.body, body, sizeof body - 1);
    nc_buf_free(&b);
}

static void test_404_has_no_body(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_recs_entry_build(&b, 10, 60010, 5, 404, "ignored", 7), 0);
    assert_string_equal(b.data, "NC1 10 60010 5 404\n");
    struct nc_recs_entry e;
    assert_int_equal(nc_recs_entry_parse(b.data, b.len, &e), 0);
    assert_int_equal(e.status, 404);
    assert_int_equal(e.len, 0);
    assert_int_equal(e.fresh_until_ms - e.stored_ms, 60000);
    nc_buf_free(&b);
}

static void test_empty_body(void **state)
{
    (void)state;
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_recs_entry_build(&b, 1, 2, 0, 200, NULL, 0), 0);
    assert_string_equal(b.data, "NC1 1 2 0 200\n");
    struct nc_recs_entry e;
    assert_int_equal(nc_recs_entry_parse(b.data, b.len, &e), 0);
    assert_int_equal(e.status, 200);
    assert_int_equal(e.len, 0);
    nc_buf_free(&b);
}

/* Not NUL-terminated: the parser reads only n bytes. */
static void test_length_bounded(void **state)
{
    (void)state;
    const char text[] = "NC1 1 2 3 200\nbodyXXXX";
    struct nc_recs_entry e;
    assert_int_equal(nc_recs_entry_parse(text, strlen("NC1 1 2 3 200\nbody"), &e), 0);
    assert_int_equal(e.len, 4);
    /* cut inside the header: no newline within n */
    assert_int_equal(nc_recs_entry_parse(text, 10, &e), -1);
}

static void test_malformed(void **state)
{
    (void)state;
    static const char *bad[] = {
        "",                                     /* empty */
        "NC1",                                  /* shorter than the magic */
        "NC1 1 2 3 200",                        /* missing newline */
        "NC2 1 2 3 200\n{}",                    /* wrong magic */
        "nc1 1 2 3 200\n{}",                    /* magic is case-sensitive */
        " NC1 1 2 3 200\n{}",                   /* leading space */
        "NC1 a 2 3 200\n{}",                    /* non-numeric fields */
        "NC1 1 b 3 200\n{}",                    /*  */
        "NC1 1 2 c 200\n{}",                    /*  */
        "NC1 1 2 3 OK\n{}",                     /*  */
        "NC1 1 2 3 200x\n{}",                   /* trailing text in a field */
        "NC1 1 2 3 200 \n{}",                   /* trailing space */
        "NC1 1 2 3 200 7\n{}",                  /* extra field */
        "NC1 1 2 3\n{}",                        /* missing field */
        "NC1 1  2 3 200\n{}",                   /* double space */
        "NC1 +1 2 3 200\n{}",                   /* sign other than '-' */
        "NC1 1 2 3 500\n{}",                    /* status other than 200/404 */
        "NC1 1 2 3 -200\n{}",                   /*  */
        "NC1 99999999999999999999 2 3 200\n{}", /* overflow */
        "NC1 - 2 3 200\n{}",                    /* a lone sign */
        "\nNC1 1 2 3 200\n{}",                  /* empty header line */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct nc_recs_entry e;
        if (parse_str(bad[i], &e) == 0)
            fail_msg("accepted malformed entry %zu", i);
    }
    assert_int_equal(nc_recs_entry_parse(NULL, 0, NULL), -1);
}

static void test_header_too_long(void **state)
{
    (void)state;
    /* leading zeros keep the numbers valid while the line grows */
    char text[256];
    struct nc_recs_entry e;
    for (size_t hl = NC_RECS_ENTRY_HDR_MAX - 4; hl <= NC_RECS_ENTRY_HDR_MAX + 4; hl++) {
        size_t zeros = hl - strlen("NC1 1 2 3 200");
        size_t n = 0;
        memcpy(text + n, "NC1 ", 4);
        n += 4;
        memset(text + n, '0', zeros);
        n += zeros;
        memcpy(text + n, "1 2 3 200\n{}", 12);
        n += 12;
        assert_int_equal(n, hl + 3);
        int rc = nc_recs_entry_parse(text, n, &e);
        if (hl <= NC_RECS_ENTRY_HDR_MAX) {
            assert_int_equal(rc, 0);
            assert_int_equal(e.stored_ms, 1);
            assert_int_equal(e.len, 2);
        } else {
            assert_int_equal(rc, -1);
        }
    }
}

static void test_negative_and_extremes(void **state)
{
    (void)state;
    struct nc_recs_entry e;
    assert_int_equal(parse_str("NC1 -5 0 9223372036854775807 404\n", &e), 0);
    assert_int_equal(e.stored_ms, -5);
    assert_int_equal(e.fresh_until_ms, 0);
    assert_int_equal(e.delta_ms, 9223372036854775807LL);
    assert_int_equal(parse_str("NC1 1 2 9223372036854775808 404\n", &e), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_200),  cmocka_unit_test(test_body_is_opaque),
        cmocka_unit_test(test_404_has_no_body), cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_length_bounded),  cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_header_too_long), cmocka_unit_test(test_negative_and_extremes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
