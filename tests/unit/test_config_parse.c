/* test_config_parse.c - the value parsers of config_parse.h driven directly:
 * bounds, junk and overflow, words, addresses, REDIS_URL forms, per-namespace
 * maps and token lists. Each refusal must say what is accepted and must not
 * echo the value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "normcache/config_parse.h"
#include "normcache/key.h"

#define ERRLEN 256

/* A refusal: -1, a message starting "expected", the output untouched. */
#define assert_refused(call, err)                                                                  \
    do {                                                                                           \
        (err)[0] = '\0';                                                                           \
        if ((call) != -1)                                                                          \
            fail_msg("accepted: %s", #call);                                                       \
        if (strncmp((err), "expected ", 9) != 0)                                                   \
            fail_msg("%s: message \"%s\"", #call, (err));                                          \
    } while (0)

static void test_int_bounds(void **state)
{
    (void)state;
    char err[ERRLEN];
    long long v = 0;
    assert_int_equal(nc_config_parse_int("1", 1, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 1);
    assert_int_equal(nc_config_parse_int("65535", 1, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 65535);
    assert_int_equal(nc_config_parse_int("+80", 1, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 80);
    assert_int_equal(nc_config_parse_int("007", 1, 65535, &v, err, sizeof err), 0);
    assert_int_equal(v, 7);
    assert_int_equal(nc_config_parse_int("-5", -10, 10, &v, err, sizeof err), 0);
    assert_int_equal(v, -5);

    v = 42;
    static const char *bad[] = {"0",   "65536", "-1",  "",      " 80", "80 ", "8080abc", "0x50",
                                "1e3", "1.5",   "abc", "80 80", "-",   "+",   "\t1",     "１"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(nc_config_parse_int(bad[i], 1, 65535, &v, err, sizeof err), err);
        assert_non_null(strstr(err, "an integer from 1 to 65535"));
        assert_int_equal(v, 42);
    }
}

static void test_int_overflow(void **state)
{
    (void)state;
    char err[ERRLEN];
    long long v = 0;
    assert_int_equal(
        nc_config_parse_int("9223372036854775807", LLONG_MIN, LLONG_MAX, &v, err, sizeof err), 0);
    assert_true(v == LLONG_MAX);
    assert_int_equal(
        nc_config_parse_int("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v, err, sizeof err), 0);
    assert_true(v == LLONG_MIN);
    /* strtoll saturates and sets ERANGE: saturation must not pass as a value. */
    v = 3;
    assert_refused(
        nc_config_parse_int("9223372036854775808", LLONG_MIN, LLONG_MAX, &v, err, sizeof err), err);
    assert_refused(
        nc_config_parse_int("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v, err, sizeof err),
        err);
    assert_refused(nc_config_parse_int("99999999999999999999999", 1, 65535, &v, err, sizeof err),
                   err);
    /* A value that would wrap to something in range as an int. */
    assert_refused(nc_config_parse_int("4294967376", 1, 65535, &v, err, sizeof err), err);
    assert_int_equal(v, 3);
}

static void test_double(void **state)
{
    (void)state;
    char err[ERRLEN];
    double d = -1;
    assert_int_equal(nc_config_parse_double("0.5", 0, 100, &d, err, sizeof err), 0);
    assert_true(d > 0.49 && d < 0.51);
    assert_int_equal(nc_config_parse_double("0", 0, 100, &d, err, sizeof err), 0);
    assert_true(d == 0);
    assert_int_equal(nc_config_parse_double("100", 0, 100, &d, err, sizeof err), 0);
    assert_true(d == 100);
    assert_int_equal(nc_config_parse_double("1e1", 0, 100, &d, err, sizeof err), 0);
    assert_true(d == 10);
    static const char *bad[] = {"", "nan", "inf", "-inf", "100.001", "-0.1", "0.5x", "x", "1e999"};
    d = 7;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(nc_config_parse_double(bad[i], 0, 100, &d, err, sizeof err), err);
        assert_non_null(strstr(err, "a number from 0 to 100"));
    }
    assert_true(d == 7);
}

static void test_bool(void **state)
{
    (void)state;
    char err[ERRLEN];
    static const char *yes[] = {"true", "1", "yes"}, *no[] = {"false", "0", "no"};
    for (size_t i = 0; i < 3; i++) {
        int v = 0;
        assert_int_equal(nc_config_parse_bool(yes[i], &v, err, sizeof err), 0);
        assert_int_equal(v, 1);
        assert_int_equal(nc_config_parse_bool(no[i], &v, err, sizeof err), 0);
        assert_int_equal(v, 0);
    }
    static const char *bad[] = {"", "TRUE", "True", "maybe", "2", " true", "true ", "y", "on"};
    int v = 5;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(nc_config_parse_bool(bad[i], &v, err, sizeof err), err);
        assert_non_null(strstr(err, "true or false"));
    }
    assert_int_equal(v, 5);
}

static void test_words(void **state)
{
    (void)state;
    char err[ERRLEN];
    enum nc_norm_mode m = NC_NORM_TEXT;
    assert_int_equal(nc_config_parse_norm("basic", &m, err, sizeof err), 0);
    assert_int_equal(m, NC_NORM_BASIC);
    assert_int_equal(nc_config_parse_norm("text", &m, err, sizeof err), 0);
    assert_int_equal(m, NC_NORM_TEXT);
    assert_refused(nc_config_parse_norm("fancy", &m, err, sizeof err), err);
    assert_non_null(strstr(err, "text or basic"));
    assert_refused(nc_config_parse_norm("", &m, err, sizeof err), err);
    assert_refused(nc_config_parse_norm("Text", &m, err, sizeof err), err);

    static const char *levels[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++) {
        enum nc_log_level l = NC_LOG_ERROR;
        assert_int_equal(nc_config_parse_log_level(levels[i], &l, err, sizeof err), 0);
        assert_int_equal(l, i);
    }
    enum nc_log_level l = NC_LOG_INFO;
    assert_refused(nc_config_parse_log_level("verbose", &l, err, sizeof err), err);
    assert_non_null(strstr(err, "debug, info, warn or error"));
    assert_refused(nc_config_parse_log_level("warning", &l, err, sizeof err), err);
    assert_int_equal(l, NC_LOG_INFO);

    static const char *const names[] = {"a", "b"};
    int w = -1;
    assert_int_equal(nc_config_parse_word("b", names, 2, "a or b", &w, err, sizeof err), 0);
    assert_int_equal(w, 1);
    assert_refused(nc_config_parse_word("c", names, 2, "a or b", &w, err, sizeof err), err);
    assert_string_equal(err, "expected a or b");
}

static void test_bind(void **state)
{
    (void)state;
    char err[ERRLEN], out[64];
    static const char *good[] = {"127.0.0.1", "0.0.0.0", "::1", "::", "fe80::1", "10.1.2.3"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        assert_int_equal(nc_config_parse_bind(good[i], out, sizeof out, err, sizeof err), 0);
        assert_string_equal(out, good[i]);
    }
    static const char *bad[] = {"",           "localhost", "300.1.1.1",    "1.2.3",   "[::1]",
                                " 127.0.0.1", "::1%lo",    "127.0.0.1:80", "1.2.3.4 "};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(nc_config_parse_bind(bad[i], out, sizeof out, err, sizeof err), err);
        assert_non_null(strstr(err, "IPv4 or IPv6"));
    }
    /* Valid, but does not fit the caller's buffer. */
    char small[8];
    assert_refused(nc_config_parse_bind("127.0.0.1", small, sizeof small, err, sizeof err), err);
}

static void test_prefix(void **state)
{
    (void)state;
    char err[ERRLEN], out[NC_PREFIX_MAX + 1];
    char max[NC_PREFIX_MAX + 2];
    memset(max, 'p', NC_PREFIX_MAX);
    max[NC_PREFIX_MAX] = '\0';
    assert_int_equal(nc_config_parse_prefix("fca", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "fca");
    assert_int_equal(nc_config_parse_prefix("A-b_9", out, sizeof out, err, sizeof err), 0);
    assert_int_equal(nc_config_parse_prefix(max, out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, max);
    strcat(max, "p"); /* one too many */
    assert_refused(nc_config_parse_prefix(max, out, sizeof out, err, sizeof err), err);
    assert_non_null(strstr(err, "1 to 32 characters from [A-Za-z0-9_-]"));
    static const char *bad[] = {"", "a:b", "a*", "a b", "é", "a.b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_refused(nc_config_parse_prefix(bad[i], out, sizeof out, err, sizeof err), err);
}

static void test_upstream_url(void **state)
{
    (void)state;
    char err[ERRLEN], out[512];
    assert_int_equal(
        nc_config_parse_upstream_url("http://up:81/", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "http://up:81");
    assert_int_equal(
        nc_config_parse_upstream_url("https://h/base///", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "https://h/base");
    assert_int_equal(
        nc_config_parse_upstream_url("http://127.0.0.1:8081", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "http://127.0.0.1:8081");
    static const char *bad[] = {"", "ftp://x", "http://", "https://", "h://x", "http://a b",
                                "up:81", "HTTP://x", "http:/x",
                                /* no host (found by tests/fuzz/fuzz_config) */
                                "https:///", "http:///x", "http://:81", "http://?a", "http://#"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_refused(nc_config_parse_upstream_url(bad[i], out, sizeof out, err, sizeof err), err);
        assert_non_null(strstr(err, "http:// or https://"));
    }
    char small[10];
    assert_refused(
        nc_config_parse_upstream_url("http://long.host", small, sizeof small, err, sizeof err),
        err);
}

/* REDIS_URL accepted: the fields it fills. */
static void redis_ok(const char *url, const char *user, const char *password, const char *host,
                     int port, int db)
{
    struct nc_redis_url cfg;
    char err[ERRLEN];
    memset(&cfg, 0, sizeof cfg);
    strcpy(cfg.user, "stale");
    strcpy(cfg.password, "stale");
    if (nc_config_parse_redis_url(url, &cfg, err, sizeof err) != 0)
        fail_msg("%s refused: %s", url, err);
    assert_string_equal(cfg.user, user);
    assert_string_equal(cfg.password, password);
    assert_string_equal(cfg.host, host);
    assert_int_equal(cfg.port, port);
    assert_int_equal(cfg.db, db);
}

static void test_redis_url_forms(void **state)
{
    (void)state;
    redis_ok("redis://h", "", "", "h", 6379, 0);
    redis_ok("redis://127.0.0.1:6379/0", "", "", "127.0.0.1", 6379, 0);
    redis_ok("redis://redis.local:6380/4", "", "", "redis.local", 6380, 4);
    redis_ok("redis://h/", "", "", "h", 6379, 0);
    redis_ok("redis://h:1/15", "", "", "h", 1, 15);
    redis_ok("redis://h:65535", "", "", "h", 65535, 0);
    /* user, password, both; percent-escapes decoded in each */
    redis_ok("redis://alice@h", "alice", "", "h", 6379, 0);
    redis_ok("redis://alice:pw@h:7/1", "alice", "pw", "h", 7, 1);
    redis_ok("redis://:pw@h", "", "pw", "h", 6379, 0);
    redis_ok("redis://alice:s%40cret@h", "alice", "s@cret", "h", 6379, 0);
    redis_ok("redis://a%3Ab:p%3a%2F%25@h", "a:b", "p:/%", "h", 6379, 0);
    /* the last '@' ends the userinfo: a raw '@' in a password still works */
    redis_ok("redis://u:p@ss@h", "u", "p@ss", "h", 6379, 0);
    /* IPv6 literals */
    redis_ok("redis://[::1]", "", "", "::1", 6379, 0);
    redis_ok("redis://[::1]:6390/2", "", "", "::1", 6390, 2);
    redis_ok("redis://u:p@[fe80::1]:1/3", "u", "p", "fe80::1", 1, 3);
}

static void test_redis_url_refused(void **state)
{
    (void)state;
    static const char *bad[] = {
        /* scheme */
        "", "h:6379", "127.0.0.1:6379", "http://h", "REDIS://h", "rediss://h", "redis:/h",
        "redis://",
        /* port */
        "redis://h:0", "redis://h:65536", "redis://h:99999/0", "redis://h:", "redis://h:-1",
        "redis://h:abc", "redis://h:6379x", "redis://h: 6379", "redis://h:00000000000000006379",
        /* db */
        "redis://h/16", "redis://h/99", "redis://h/-1", "redis://h/abc", "redis://h:1/1/2",
        /* host */
        "redis://ho st", "redis://h*st", "redis://u:p@", "redis://u:p@:1", "redis://[::1",
        "redis://[::1]x", "redis://[]:1", "redis://[::1]:", "redis://[::1]:0",
        /* userinfo escapes */
        "redis://u:a%00b@h", "redis://%00@h", "redis://u:%zz@h", "redis://u:%4@h",
        "redis://u:abc%@h"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct nc_redis_url cfg;
        char err[ERRLEN];
        memset(&cfg, 0, sizeof cfg);
        err[0] = '\0';
        if (nc_config_parse_redis_url(bad[i], &cfg, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(
            strstr(err, "expected redis://[user[:password]@]host[:port][,host[:port]...][/db]"));
        assert_non_null(strstr(err, "port 1..65535, db 0..15 and at most 16 hosts"));
    }
    /* The message never carries the URL (it may hold a password). */
    struct nc_redis_url cfg;
    char err[ERRLEN];
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(nc_config_parse_redis_url("redis://u:hunter2@h:0", &cfg, err, sizeof err), -1);
    assert_null(strstr(err, "hunter2"));
}

static void test_redis_url_lengths(void **state)
{
    (void)state;
    struct nc_redis_url cfg;
    char err[ERRLEN];
    /* A host or password that does not fit its field is refused, not cut. */
    char url[1024];
    char host[sizeof cfg.host + 1];
    memset(host, 'h', sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(url, sizeof url, "redis://%s", host);
    memset(&cfg, 0, sizeof cfg);
    assert_int_equal(nc_config_parse_redis_url(url, &cfg, err, sizeof err), -1);
    host[sizeof host - 2] = '\0'; /* the longest that fits */
    snprintf(url, sizeof url, "redis://%s", host);
    assert_int_equal(nc_config_parse_redis_url(url, &cfg, err, sizeof err), 0);
    assert_int_equal(strlen(cfg.host), sizeof cfg.host - 1);

    char pw[sizeof cfg.password + 1];
    memset(pw, 'p', sizeof pw - 1);
    pw[sizeof pw - 1] = '\0';
    snprintf(url, sizeof url, "redis://u:%s@h", pw);
    assert_int_equal(nc_config_parse_redis_url(url, &cfg, err, sizeof err), -1);
}

static void test_ns_ttl(void **state)
{
    (void)state;
    struct nc_ns_ttl m[NC_CONFIG_MAX_NS];
    int n = 0;
    char err[ERRLEN];
    assert_int_equal(nc_config_parse_ns_ttl("", m, NC_CONFIG_MAX_NS, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(nc_config_parse_ns_ttl("faq=600,recommendations=120", m, NC_CONFIG_MAX_NS, &n,
                                            err, sizeof err),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].ns, "faq");
    assert_int_equal(m[0].ttl, 600);
    assert_string_equal(m[1].ns, "recommendations");
    assert_int_equal(m[1].ttl, 120);

    n = 0;
    assert_int_equal(
        nc_config_parse_ns_ttl("a=1,b=31536000", m, NC_CONFIG_MAX_NS, &n, err, sizeof err), 0);
    assert_int_equal(m[1].ttl, 31536000);

    /* the longest namespace fits; one more character does not */
    char ns[NC_NS_MAX + 8];
    memset(ns, 'n', NC_NS_MAX);
    strcpy(ns + NC_NS_MAX, "=5");
    n = 0;
    assert_int_equal(nc_config_parse_ns_ttl(ns, m, NC_CONFIG_MAX_NS, &n, err, sizeof err), 0);
    assert_int_equal((int)strlen(m[0].ns), NC_NS_MAX);
    memset(ns, 'n', NC_NS_MAX + 1);
    strcpy(ns + NC_NS_MAX + 1, "=5");
    n = 0;
    assert_refused(nc_config_parse_ns_ttl(ns, m, NC_CONFIG_MAX_NS, &n, err, sizeof err), err);

    static const char *bad[] = {/* bad namespace */
                                "f:q=10", "fa*q=10", "=10", "f q=10", "é=10",
                                /* duplicate */
                                "faq=10,faq=20", "a=1,b=2,a=3",
                                /* empty entries, lists and values */
                                ",", "faq=10,", ",faq=10", "faq=10,,b=2", "faq=", "faq",
                                "faq=10;b=5",
                                /* value bounds */
                                "faq=0", "faq=-1", "faq=31536001", "faq=abc", "faq=1.5", "faq= 5",
                                "faq=5s", "faq=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 0;
        err[0] = '\0';
        if (nc_config_parse_ns_ttl(bad[i], m, NC_CONFIG_MAX_NS, &n, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "expected a comma-separated list of <namespace>=<seconds"));
        assert_non_null(strstr(err, "each namespace once"));
    }
}

static void test_ns_ttl_cap(void **state)
{
    (void)state;
    struct nc_ns_ttl m[NC_CONFIG_MAX_NS];
    char err[ERRLEN];
    char list[NC_CONFIG_MAX_NS * 16];
    size_t o = 0;
    for (int i = 0; i < NC_CONFIG_MAX_NS; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%sns%d=%d", i ? "," : "", i, i + 1);
    int n = 0;
    assert_int_equal(nc_config_parse_ns_ttl(list, m, NC_CONFIG_MAX_NS, &n, err, sizeof err), 0);
    assert_int_equal(n, NC_CONFIG_MAX_NS);
    assert_int_equal(m[NC_CONFIG_MAX_NS - 1].ttl, NC_CONFIG_MAX_NS);
    snprintf(list + o, sizeof list - o, ",one=1");
    n = 0;
    assert_refused(nc_config_parse_ns_ttl(list, m, NC_CONFIG_MAX_NS, &n, err, sizeof err), err);
    assert_non_null(strstr(err, "at most 64"));
    /* the cap is the caller's */
    n = 0;
    assert_refused(nc_config_parse_ns_ttl("a=1,b=2,c=3", m, 2, &n, err, sizeof err), err);
    assert_non_null(strstr(err, "at most 2"));
}

static void test_ns_norm(void **state)
{
    (void)state;
    struct nc_ns_norm m[NC_CONFIG_MAX_NS];
    char err[ERRLEN];
    int n = 0;
    assert_int_equal(nc_config_parse_ns_norm("", m, NC_CONFIG_MAX_NS, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
    assert_int_equal(
        nc_config_parse_ns_norm("legacy=basic,t=text", m, NC_CONFIG_MAX_NS, &n, err, sizeof err),
        0);
    assert_int_equal(n, 2);
    assert_string_equal(m[0].ns, "legacy");
    assert_int_equal(m[0].mode, NC_NORM_BASIC);
    assert_string_equal(m[1].ns, "t");
    assert_int_equal(m[1].mode, NC_NORM_TEXT);
    static const char *bad[] = {"legacy=fancy",  "legacy=Basic",    "legacy",
                                "le:gacy=basic", "a=text,a=basic",  "a=text,",
                                ",a=text",       "a=text,,b=basic", "a="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        n = 0;
        err[0] = '\0';
        if (nc_config_parse_ns_norm(bad[i], m, NC_CONFIG_MAX_NS, &n, err, sizeof err) != -1)
            fail_msg("accepted %s", bad[i]);
        assert_non_null(strstr(err, "<namespace>=text|basic, each namespace once"));
    }
}

static void free_tokens(char **t, int *n)
{
    for (int i = 0; i < *n; i++)
        free(t[i]);
    *n = 0;
}

static void test_tokens(void **state)
{
    (void)state;
    char *t[NC_CONFIG_MAX_TOKENS];
    size_t lens[NC_CONFIG_MAX_TOKENS];
    char err[ERRLEN];
    int n = 0;
    assert_int_equal(nc_config_parse_tokens("", t, lens, NC_CONFIG_MAX_TOKENS, &n, err, sizeof err),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(nc_config_parse_tokens("t1,tok-2,a.b~c+/=", t, lens, NC_CONFIG_MAX_TOKENS, &n,
                                            err, sizeof err),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(t[0], "t1");
    assert_int_equal((int)lens[0], 2);
    assert_string_equal(t[1], "tok-2");
    assert_int_equal((int)lens[1], 5);
    assert_string_equal(t[2], "a.b~c+/=");
    free_tokens(t, &n);

    static const char *bad[] = {",",         "a,,b",        ",a",      "a,",   "has space",
                                "tab\there", "caf\xc3\xa9", "del\x7f", "nl\n", " a"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (nc_config_parse_tokens(bad[i], t, lens, NC_CONFIG_MAX_TOKENS, &n, err, sizeof err) !=
            -1)
            fail_msg("accepted token list %zu", i);
        assert_non_null(strstr(err, "non-empty printable tokens"));
        free_tokens(t, &n); /* tokens before the fault are the caller's */
    }
    /* the message never carries a token */
    assert_int_equal(nc_config_parse_tokens("sekrit-one,,sekrit-two", t, lens, NC_CONFIG_MAX_TOKENS,
                                            &n, err, sizeof err),
                     -1);
    assert_null(strstr(err, "sekrit"));
    assert_int_equal(n, 1);
    free_tokens(t, &n);
}

static void test_tokens_cap(void **state)
{
    (void)state;
    char *t[NC_CONFIG_MAX_TOKENS];
    size_t lens[NC_CONFIG_MAX_TOKENS];
    char err[ERRLEN];
    char list[NC_CONFIG_MAX_TOKENS * 8];
    size_t o = 0;
    for (int i = 0; i < NC_CONFIG_MAX_TOKENS; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%st%d", i ? "," : "", i);
    int n = 0;
    assert_int_equal(
        nc_config_parse_tokens(list, t, lens, NC_CONFIG_MAX_TOKENS, &n, err, sizeof err), 0);
    assert_int_equal(n, NC_CONFIG_MAX_TOKENS);
    free_tokens(t, &n);
    snprintf(list + o, sizeof list - o, ",one-more");
    assert_int_equal(
        nc_config_parse_tokens(list, t, lens, NC_CONFIG_MAX_TOKENS, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "at most 32"));
    assert_int_equal(n, NC_CONFIG_MAX_TOKENS);
    free_tokens(t, &n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int_bounds),
        cmocka_unit_test(test_int_overflow),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_bool),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_bind),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_upstream_url),
        cmocka_unit_test(test_redis_url_forms),
        cmocka_unit_test(test_redis_url_refused),
        cmocka_unit_test(test_redis_url_lengths),
        cmocka_unit_test(test_ns_ttl),
        cmocka_unit_test(test_ns_ttl_cap),
        cmocka_unit_test(test_ns_norm),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_tokens_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
