/* test_server.c - starting and stopping the workers in-process: the port
 * actually bound, a port already taken is an error (not a silent share
 * through SO_REUSEPORT), a bad bind address is an error, and a stop with
 * nothing in flight is prompt and frees everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "normcache/clock.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/server.h"

#include "testutil.h"

static void load(struct nc_config *cfg, const char *port, const char *bind_addr)
{
    const char *kv[] = {"PORT",          port,    "BIND_ADDR",         bind_addr, "THREADS", "3",
                        "REDIS_ENABLED", "false", "SHUTDOWN_GRACE_MS", "5000",    NULL};
    char err[256];
    assert_int_equal(nc_config_load(cfg, test_kv_get, kv, err, sizeof err), 0);
}

static int connects(int port)
{
    int fd = test_connect(port);
    if (fd >= 0)
        close(fd);
    return fd >= 0;
}

static void test_start_stop(void **state)
{
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", test_free_port());
    struct nc_config cfg;
    load(&cfg, port, "127.0.0.1");
    struct nc_server *srv = NULL;
    char err[256];
    assert_int_equal(nc_server_start(&cfg, &srv, err, sizeof err), 0);
    assert_int_equal(nc_server_port(srv), atoi(port));
    assert_true(connects(atoi(port)));

    /* a second server on the same port is refused, naming the port */
    struct nc_config cfg2;
    load(&cfg2, port, "127.0.0.1");
    struct nc_server *srv2 = NULL;
    assert_int_equal(nc_server_start(&cfg2, &srv2, err, sizeof err), -1);
    assert_non_null(strstr(err, port));
    nc_config_free(&cfg2);

    int64_t t0 = nc_now_ms();
    nc_server_stop(srv);
    assert_true(nc_now_ms() - t0 < 2000); /* nothing in flight: no grace wait */
    assert_false(connects(atoi(port)));
    nc_config_free(&cfg);
}

static void test_restart_same_port(void **state)
{
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", test_free_port());
    for (int i = 0; i < 3; i++) {
        struct nc_config cfg;
        load(&cfg, port, "127.0.0.1");
        struct nc_server *srv = NULL;
        char err[256];
        assert_int_equal(nc_server_start(&cfg, &srv, err, sizeof err), 0);
        assert_true(connects(atoi(port)));
        nc_server_stop(srv);
        nc_config_free(&cfg);
    }
}

static void test_ipv6_loopback(void **state)
{
    (void)state;
    char port[16];
    snprintf(port, sizeof port, "%d", test_free_port());
    struct nc_config cfg;
    load(&cfg, port, "::1");
    struct nc_server *srv = NULL;
    char err[256];
    int rc = nc_server_start(&cfg, &srv, err, sizeof err);
    if (rc != 0) /* a machine without IPv6 must say so, not crash */
        assert_non_null(strstr(err, "::1"));
    else
        nc_server_stop(srv);
    nc_config_free(&cfg);
}

int main(void)
{
    nc_log_set_level(NC_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_start_stop),
        cmocka_unit_test(test_restart_same_port),
        cmocka_unit_test(test_ipv6_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
