/* test_config.c - config loading: defaults, every kind of bad value exits
 * with a message naming the variable, secrets never echoed back, the
 * start-up dump and --help. The value parsers themselves are driven in
 * test_config_parse.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/buf.h"
#include "normcache/config.h"

#include "testutil.h"

static int load(struct nc_config *cfg, const char **kv, char *err, size_t errlen)
{
    return nc_config_load(cfg, test_kv_get, (void *)kv, err, errlen);
}

static void test_defaults(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, NULL, err, sizeof err), 0);
    assert_int_equal(cfg.port, 8080);
    assert_string_equal(cfg.bind_addr, "127.0.0.1");
    assert_true(cfg.threads >= 2);
    assert_true(cfg.redis_enabled);
    assert_string_equal(cfg.redis_host, "127.0.0.1");
    assert_int_equal(cfg.redis_port, 6379);
    assert_int_equal(cfg.redis_db, 0);
    assert_int_equal(cfg.redis_connect_timeout_ms, 200);
    assert_int_equal(cfg.redis_timeout_ms, 100);
    assert_int_equal(cfg.ttl_s, 300);
    assert_int_equal(cfg.max_ttl_s, 86400);
    assert_string_equal(cfg.key_prefix, "fca");
    assert_null(cfg.key_secret);
    assert_int_equal(cfg.normalise, NC_NORM_TEXT);
    assert_int_equal((int)cfg.max_body_bytes, 1048576);
    assert_int_equal((int)cfg.max_query_bytes, 4096);
    assert_int_equal(cfg.n_auth_tokens, 0);
    assert_int_equal(cfg.log_level, NC_LOG_INFO);
    assert_string_equal(cfg.upstream_url, "http://127.0.0.1:8081");
    assert_int_equal(cfg.stale_grace_s, 60);
    assert_int_equal(cfg.lock_wait_ms, 2500);
    assert_int_equal(cfg.header_timeout_s, 10);
    assert_int_equal(cfg.conn_limit_per_ip, 0);
    nc_config_free(&cfg);
}

static void test_values(void **state)
{
    (void)state;
    const char *kv[] = {"PORT",
                        "9000",
                        "THREADS",
                        "3",
                        "REDIS_URL",
                        "redis://alice:s%40cret@redis.local:6380/4",
                        "CACHE_NS_TTL",
                        "faq=600,recommendations=120",
                        "CACHE_NS_NORMALISE",
                        "legacy=basic",
                        "NORMALISE",
                        "basic",
                        "AUTH_TOKENS",
                        "t1,t2",
                        "KEY_HASH_SECRET",
                        "k",
                        "UPSTREAM_URL",
                        "http://up:81/",
                        "REDIS_ENABLED",
                        "false",
                        "LOG_LEVEL",
                        "warn",
                        "EARLY_REFRESH_BETA",
                        "0.5",
                        NULL};
    struct nc_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, kv, err, sizeof err), 0);
    assert_int_equal(cfg.port, 9000);
    assert_int_equal(cfg.threads, 3);
    assert_string_equal(cfg.redis_user, "alice");
    assert_string_equal(cfg.redis_password, "s@cret");
    assert_string_equal(cfg.redis_host, "redis.local");
    assert_int_equal(cfg.redis_port, 6380);
    assert_int_equal(cfg.redis_db, 4);
    assert_int_equal(nc_config_ns_ttl(&cfg, "faq"), 600);
    assert_int_equal(nc_config_ns_ttl(&cfg, "recommendations"), 120);
    assert_int_equal(nc_config_ns_ttl(&cfg, "other"), 300);
    assert_int_equal(nc_config_ns_norm(&cfg, "legacy"), NC_NORM_BASIC);
    assert_int_equal(nc_config_ns_norm(&cfg, "faq"), NC_NORM_BASIC);
    assert_int_equal(cfg.n_auth_tokens, 2);
    assert_int_equal((int)cfg.key_secret_len, 1);
    assert_string_equal(cfg.upstream_url, "http://up:81");
    assert_false(cfg.redis_enabled);
    assert_int_equal(cfg.log_level, NC_LOG_WARN);
    assert_true(cfg.early_refresh_beta > 0.49 && cfg.early_refresh_beta < 0.51);

    /* The description masks every secret. */
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_config_describe(&cfg, &b), 0);
    assert_null(strstr(b.data, "s@cret"));
    assert_null(strstr(b.data, "t1"));
    assert_null(strstr(b.data, "\"KEY_HASH_SECRET\":\"k\""));
    assert_non_null(strstr(b.data, "\"PORT\":\"9000\""));
    nc_buf_free(&b);
    nc_config_free(&cfg);
}

/* Each bad value fails, and the message names the variable. */
static void test_rejects(void **state)
{
    (void)state;
    static const char *bad[][2] = {
        {"PORT", "abc"},
        {"PORT", "70000"},
        {"PORT", "0x50"},
        {"PORT", ""},
        {"PORT", " 80"},
        {"THREADS", "0"},
        {"HTTP_HEADER_TIMEOUT_SECONDS", "0"},
        {"HTTP_HEADER_TIMEOUT_SECONDS", "3601"},
        {"HTTP_MAX_CONNECTIONS_PER_IP", "-1"},
        {"HTTP_MAX_CONNECTIONS_PER_IP", "many"},
        {"BIND_ADDR", "localhost"},
        {"REDIS_ENABLED", "maybe"},
        {"REDIS_URL", "http://x"},
        {"REDIS_URL", "redis://"},
        {"REDIS_URL", "redis://host:0"},
        {"REDIS_URL", "redis://host:6379/99"},
        {"REDIS_URL", "redis://ho st"},
        {"REDIS_TIMEOUT_MS", "-1"},
        {"CACHE_TTL_SECONDS", "100000"}, /* beyond CACHE_MAX_TTL_SECONDS */
        {"CACHE_MAX_TTL_SECONDS", "0"},
        {"CACHE_NS_TTL", "faq=abc"},
        {"CACHE_NS_TTL", "faq"},
        {"CACHE_NS_TTL", "f:q=10"},
        {"CACHE_NS_TTL", "faq=10,,b=2"},
        {"CACHE_NS_TTL", "faq=10,faq=20"},
        {"CACHE_NS_NORMALISE", "legacy=fancy"},
        {"NORMALISE", "fancy"},
        {"KEY_PREFIX", "a:b"},
        {"KEY_PREFIX", ""},
        {"KEY_PREFIX", "abcdefghijklmnopqrstuvwxyz0123456"},
        {"MAX_BODY_BYTES", "-1"},
        {"MAX_QUERY_BYTES", "1e3"},
        {"AUTH_TOKENS", "a,,b"},
        {"AUTH_TOKENS", "has space"},
        {"LOG_LEVEL", "verbose"},
        {"UPSTREAM_URL", "ftp://x"},
        {"EARLY_REFRESH_BETA", "nan"},
        {"TTL_JITTER_PCT", "90"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *kv[] = {bad[i][0], bad[i][1], NULL};
        struct nc_config cfg;
        char err[256];
        int rc = load(&cfg, kv, err, sizeof err);
        if (rc != -1 || !strstr(err, bad[i][0]))
            fail_msg("%s=%s: rc=%d err=%s", bad[i][0], bad[i][1], rc, err);
        nc_config_free(&cfg);
    }
}

static void test_secret_not_echoed(void **state)
{
    (void)state;
    const char *kv[] = {"REDIS_URL", "redis://u:topsecret@/0", NULL};
    struct nc_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, kv, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_URL"));
    assert_null(strstr(err, "topsecret"));
    nc_config_free(&cfg);
}

/* The one-line message: variable, value, what is accepted. */
static void test_error_line(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[256];
    const char *port[] = {"PORT", "abc", NULL};
    assert_int_equal(load(&cfg, port, err, sizeof err), -1);
    assert_string_equal(err, "config: PORT=abc is invalid: expected an integer from 1 to 65535");
    nc_config_free(&cfg);

    const char *url[] = {"REDIS_URL", "redis://h:0", NULL};
    assert_int_equal(load(&cfg, url, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: REDIS_URL=redis://h:0 is invalid: expected redis://"));
    nc_config_free(&cfg);

    const char *cred[] = {"REDIS_URL", "redis://u:pw@h:0", NULL};
    assert_int_equal(load(&cfg, cred, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_URL=(hidden: contains credentials) is invalid"));
    nc_config_free(&cfg);

    const char *tok[] = {"AUTH_TOKENS", "sekrit,,x", NULL};
    assert_int_equal(load(&cfg, tok, err, sizeof err), -1);
    assert_non_null(strstr(err, "AUTH_TOKENS=(hidden) is invalid"));
    assert_null(strstr(err, "sekrit"));
    nc_config_free(&cfg);

    const char *nsmax[] = {"CACHE_NS_TTL", "faq=1000", "CACHE_MAX_TTL_SECONDS", "500", NULL};
    assert_int_equal(load(&cfg, nsmax, err, sizeof err), -1);
    assert_non_null(strstr(err, "CACHE_NS_TTL entry faq=1000"));
    nc_config_free(&cfg);
}

/* Set but empty: "none" for lists and secrets, an error for the rest. */
static void test_empty_values(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[256];
    const char *none[] = {
        "AUTH_TOKENS", "", "KEY_HASH_SECRET", "", "CACHE_NS_TTL", "", "CACHE_NS_NORMALISE", "",
        NULL};
    assert_int_equal(load(&cfg, none, err, sizeof err), 0);
    assert_int_equal(cfg.n_auth_tokens, 0);
    assert_null(cfg.key_secret);
    assert_int_equal(cfg.n_ns_ttl, 0);
    assert_int_equal(cfg.n_ns_norm, 0);
    nc_config_free(&cfg);
    static const char *names[] = {
        "PORT",      "THREADS",    "BIND_ADDR",     "REDIS_URL",    "NORMALISE",
        "LOG_LEVEL", "KEY_PREFIX", "REDIS_ENABLED", "UPSTREAM_URL", "EARLY_REFRESH_BETA"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *kv[] = {names[i], "", NULL};
        int rc = load(&cfg, kv, err, sizeof err);
        if (rc != -1 || !strstr(err, names[i]))
            fail_msg("%s= (empty): rc=%d err=%s", names[i], rc, err);
        nc_config_free(&cfg);
    }
}

static void test_describe(void **state)
{
    (void)state;
    const char *kv[] = {"REDIS_URL",
                        "redis://alice:pw@[::1]:6380/4",
                        "AUTH_TOKENS",
                        "tok",
                        "CACHE_NS_TTL",
                        "a=7,b=8",
                        NULL};
    struct nc_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, kv, err, sizeof err), 0);
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_config_describe(&cfg, &b), 0);
    assert_non_null(strstr(b.data, "\"REDIS_URL\":\"redis://alice:***@[::1]:6380/4\""));
    assert_non_null(strstr(b.data, "\"AUTH_TOKENS\":\"***\""));
    assert_non_null(strstr(b.data, "\"KEY_HASH_SECRET\":\"\""));
    assert_non_null(strstr(b.data, "\"CACHE_NS_TTL\":\"a=7,b=8\""));
    assert_non_null(strstr(b.data, "\"EARLY_REFRESH_BETA\":\"1\""));
    assert_non_null(strstr(b.data, "\"MAX_BODY_BYTES\":\"1048576\""));
    assert_non_null(strstr(b.data, "\"REDIS_ENABLED\":\"true\""));
    assert_null(strstr(b.data, "pw"));
    assert_null(strstr(b.data, "tok\""));
    nc_buf_free(&b);
    nc_config_free(&cfg);
}

/* REDIS_MODE and the REDIS_URL lists it allows. */
static void test_redis_mode(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[256];
    assert_int_equal(load(&cfg, (const char *[]){NULL}, err, sizeof err), 0);
    assert_int_equal(cfg.redis_mode, NC_REDIS_STANDALONE);
    assert_int_equal(cfg.redis_nnodes, 1);
    assert_string_equal(cfg.redis_nodes[0].host, "127.0.0.1");
    assert_int_equal(cfg.redis_nodes[0].port, 6379);
    nc_config_free(&cfg);

    const char *cl[] = {"REDIS_MODE", "cluster", "REDIS_URL", "redis://:pw@h1:7000,[::1]:7001,h3",
                        NULL};
    assert_int_equal(load(&cfg, cl, err, sizeof err), 0);
    assert_int_equal(cfg.redis_mode, NC_REDIS_CLUSTER);
    assert_int_equal(cfg.redis_nnodes, 3);
    assert_string_equal(cfg.redis_nodes[0].host, "h1");
    assert_int_equal(cfg.redis_nodes[0].port, 7000);
    assert_string_equal(cfg.redis_nodes[1].host, "::1");
    assert_int_equal(cfg.redis_nodes[1].port, 7001);
    assert_string_equal(cfg.redis_nodes[2].host, "h3");
    assert_int_equal(cfg.redis_nodes[2].port, 6379);
    assert_string_equal(cfg.redis_host, "h1");
    assert_string_equal(cfg.redis_password, "pw");
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_config_describe(&cfg, &b), 0);
    assert_non_null(strstr(b.data, "\"REDIS_URL\":\"redis://:***@h1:7000,[::1]:7001,h3:6379/0\""));
    assert_non_null(strstr(b.data, "\"REDIS_MODE\":\"cluster\""));
    nc_buf_free(&b);
    nc_config_free(&cfg);

    const char *se[] = {"REDIS_MODE",
                        "sentinel",
                        "REDIS_URL",
                        "redis://s1:26379,s2:26380/2",
                        "REDIS_SENTINEL_MASTER",
                        "mymaster",
                        NULL};
    assert_int_equal(load(&cfg, se, err, sizeof err), 0);
    assert_int_equal(cfg.redis_mode, NC_REDIS_SENTINEL);
    assert_int_equal(cfg.redis_nnodes, 2);
    assert_int_equal(cfg.redis_db, 2);
    nc_config_free(&cfg);

    /* refused, each naming the variable at fault, never the password */
    const char *list[] = {"REDIS_URL", "redis://:hunter2@h1:7000,h2:7001", NULL};
    assert_int_equal(load(&cfg, list, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: REDIS_URL is invalid with REDIS_MODE=standalone"));
    assert_null(strstr(err, "hunter2"));
    nc_config_free(&cfg);
    const char *db[] = {"REDIS_MODE", "cluster", "REDIS_URL", "redis://:hunter2@h1:7000/1", NULL};
    assert_int_equal(load(&cfg, db, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: REDIS_URL is invalid with REDIS_MODE=cluster"));
    assert_null(strstr(err, "hunter2"));
    nc_config_free(&cfg);
    const char *mode[] = {"REDIS_MODE", "sharded", NULL};
    assert_int_equal(load(&cfg, mode, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: REDIS_MODE=sharded is invalid"));
    nc_config_free(&cfg);
    const char *empty[] = {"REDIS_MODE", "cluster", "REDIS_URL", "redis://h1:7000,,h2", NULL};
    assert_int_equal(load(&cfg, empty, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_URL"));
    nc_config_free(&cfg);
    char many[512] = "redis://h0";
    for (int i = 1; i <= 16; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), ",h%d", i);
    const char *toomany[] = {"REDIS_MODE", "cluster", "REDIS_URL", many, NULL};
    assert_int_equal(load(&cfg, toomany, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_URL"));
    nc_config_free(&cfg);
}

/* NEAR_CACHE and its bounds; refused with REDIS_MODE=cluster, naming it. */
static void test_near_cache(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[512];
    const char *none[] = {NULL};
    assert_int_equal(load(&cfg, none, err, sizeof err), 0);
    assert_int_equal(cfg.near_cache, 0);
    assert_int_equal(cfg.near_max_bytes, 64u << 20);
    assert_int_equal(cfg.near_max_ttl_ms, 5000);
    nc_config_free(&cfg);
    const char *on[] = {
        "NEAR_CACHE", "true", "NEAR_CACHE_MAX_BYTES", "4194304", "NEAR_CACHE_MAX_TTL_MS",
        "250",        NULL};
    assert_int_equal(load(&cfg, on, err, sizeof err), 0);
    assert_int_equal(cfg.near_cache, 1);
    assert_int_equal(cfg.near_max_bytes, 4194304);
    assert_int_equal(cfg.near_max_ttl_ms, 250);
    nc_config_free(&cfg);
    const char *ttl0[] = {"NEAR_CACHE_MAX_TTL_MS", "0", NULL};
    assert_int_equal(load(&cfg, ttl0, err, sizeof err), -1);
    assert_non_null(strstr(err, "NEAR_CACHE_MAX_TTL_MS"));
    nc_config_free(&cfg);
    const char *small[] = {"NEAR_CACHE_MAX_BYTES", "1000", NULL};
    assert_int_equal(load(&cfg, small, err, sizeof err), -1);
    assert_non_null(strstr(err, "NEAR_CACHE_MAX_BYTES"));
    nc_config_free(&cfg);
    const char *cl[] = {"REDIS_MODE", "cluster", "REDIS_URL", "redis://h1:7000,h2:7001",
                        "NEAR_CACHE", "true",    NULL};
    assert_int_equal(load(&cfg, cl, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: NEAR_CACHE=true is invalid with REDIS_MODE=cluster"));
    nc_config_free(&cfg);
}

static void test_help(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    nc_config_print_help(f);
    fclose(f);
    static const char *names[] = {"PORT", "THREADS", "REDIS_URL", "KEY_HASH_SECRET",
                                  "SHUTDOWN_GRACE_MS"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_non_null(strstr(text, names[i]));
    assert_non_null(strstr(text, "(computed)"));
    assert_non_null(strstr(text, "redis://127.0.0.1:6379/0"));
    free(text);
}

static void test_sentinel_settings(void **state)
{
    (void)state;
    struct nc_config cfg;
    char err[256];
    const char *ok[] = {"REDIS_MODE",
                        "sentinel",
                        "REDIS_URL",
                        "redis://:pw@s1:26379,s2:26380",
                        "REDIS_SENTINEL_MASTER",
                        "my-master.1",
                        "REDIS_SENTINEL_PASSWORD",
                        "s3cret",
                        NULL};
    assert_int_equal(load(&cfg, ok, err, sizeof err), 0);
    assert_string_equal(cfg.redis_sentinel_master, "my-master.1");
    assert_string_equal(cfg.redis_sentinel_password, "s3cret");
    assert_string_equal(cfg.redis_password, "pw");
    struct nc_buf b;
    nc_buf_init(&b);
    assert_int_equal(nc_config_describe(&cfg, &b), 0);
    assert_non_null(strstr(b.data, "\"REDIS_SENTINEL_MASTER\":\"my-master.1\""));
    assert_non_null(strstr(b.data, "\"REDIS_SENTINEL_PASSWORD\":\"***\""));
    assert_null(strstr(b.data, "s3cret"));
    nc_buf_free(&b);
    nc_config_free(&cfg);

    /* Sentinel mode without a master name: exit 2 naming it. */
    const char *none[] = {"REDIS_MODE", "sentinel", "REDIS_URL", "redis://s1:26379", NULL};
    assert_int_equal(load(&cfg, none, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
    nc_config_free(&cfg);
    const char *empty[] = {"REDIS_MODE", "sentinel", "REDIS_SENTINEL_MASTER", "", NULL};
    assert_int_equal(load(&cfg, empty, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
    nc_config_free(&cfg);
    /* A name with a blank or a control character, one too long. */
    const char *bad[] = {"a b", "a\tb", "caf\xc3\xa9", NULL};
    for (int i = 0; bad[i]; i++) {
        const char *kv[] = {"REDIS_MODE", "sentinel", "REDIS_SENTINEL_MASTER", bad[i], NULL};
        assert_int_equal(load(&cfg, kv, err, sizeof err), -1);
        assert_non_null(strstr(err, "config: REDIS_SENTINEL_MASTER="));
        nc_config_free(&cfg);
    }
    char longname[300];
    memset(longname, 'm', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    const char *lng[] = {"REDIS_MODE", "sentinel", "REDIS_SENTINEL_MASTER", longname, NULL};
    assert_int_equal(load(&cfg, lng, err, sizeof err), -1);
    assert_non_null(strstr(err, "REDIS_SENTINEL_MASTER"));
    nc_config_free(&cfg);
    /* A sentinel password too long: named, never shown. */
    char longpw[300];
    memset(longpw, 'p', sizeof longpw - 1);
    longpw[sizeof longpw - 1] = '\0';
    const char *pw[] = {"REDIS_SENTINEL_PASSWORD", longpw, NULL};
    assert_int_equal(load(&cfg, pw, err, sizeof err), -1);
    assert_non_null(strstr(err, "config: REDIS_SENTINEL_PASSWORD=(hidden)"));
    nc_config_free(&cfg);
    /* Outside sentinel mode the name is not needed (nor used). */
    assert_int_equal(load(&cfg, (const char *[]){NULL}, err, sizeof err), 0);
    assert_string_equal(cfg.redis_sentinel_master, "");
    nc_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),   cmocka_unit_test(test_values),
        cmocka_unit_test(test_rejects),    cmocka_unit_test(test_secret_not_echoed),
        cmocka_unit_test(test_error_line), cmocka_unit_test(test_empty_values),
        cmocka_unit_test(test_describe),   cmocka_unit_test(test_help),
        cmocka_unit_test(test_redis_mode), cmocka_unit_test(test_sentinel_settings),
        cmocka_unit_test(test_redis_mode), cmocka_unit_test(test_near_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
