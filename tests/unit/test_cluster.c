/* test_cluster.c - the cluster client under the store facade, driven by a
 * small event loop of the test's own against a real two-master Redis
 * Cluster the test builds (two redis-server --cluster-enabled, slots split
 * by hand, CLUSTER MEET): commands before the map is loaded wait for it,
 * keys route to the master of their slot, a multi-key UNLINK is split and
 * summed, SCAN per master, MOVED and ASK followed (a slot migrated by hand),
 * and no live seed means failing open at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "normcache/breaker.h"
#include "normcache/clock.h"
#include "normcache/cluster_nodes.h"
#include "normcache/config.h"
#include "normcache/log.h"
#include "normcache/slot.h"
#include "normcache/store.h"

#include "testutil.h"
#include "store_harness.h"

/* ------------------------------------------------------- the cluster */

struct node {
    pid_t pid;
    int port;
    char dir[64];
    char id[64];
};
static struct node nodes[2];

/* A port whose cluster bus port (+10000) is valid and free too. */
static int bus_free_port(void)
{
    for (int i = 0; i < 200; i++) {
        int p = test_free_port();
        if (p > 0 && p + 10000 <= 65535 && test_connect(p + 10000) < 0)
            return p;
    }
    return -1;
}

static int node_start(struct node *n)
{
    snprintf(n->dir, sizeof n->dir, "/tmp/nc-test-cluster-XXXXXX");
    if (!mkdtemp(n->dir) || (n->port = bus_free_port()) < 0)
        return -1;
    char port[16];
    snprintf(port, sizeof port, "%d", n->port);
    n->pid = fork();
    if (n->pid == 0) {
        if (!freopen("/dev/null", "w", stdout))
            _exit(127);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", n->dir, "--loglevel", "warning", "--cluster-enabled",
               "yes", "--cluster-node-timeout", "2000", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500; i++) {
        int fd = test_connect(n->port);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
        usleep(10000);
    }
    return -1;
}

/* A synchronous command on a node; the reply (caller frees) or NULL. */
static redisReply *node_cmd(const struct node *n, const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", n->port);
    if (!c || c->err) {
        redisFree(c);
        return NULL;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    return r;
}

static int node_ok(const struct node *n, const char *fmt, ...)
{
    redisContext *c = redisConnect("127.0.0.1", n->port);
    if (!c || c->err) {
        redisFree(c);
        return 0;
    }
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (r && !ok)
        fprintf(stderr, "redis: %s\n", r->str);
    freeReplyObject(r);
    redisFree(c);
    return ok;
}

static int cluster_ok(const struct node *n)
{
    redisReply *r = node_cmd(n, "CLUSTER INFO");
    int ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
    freeReplyObject(r);
    return ok;
}

static int cluster_start(void **state)
{
    (void)state;
    nc_log_set_level(NC_LOG_ERROR);
    for (int i = 0; i < 2; i++) {
        if (node_start(&nodes[i]) != 0)
            return -1;
        redisReply *r = node_cmd(&nodes[i], "CLUSTER MYID");
        if (!r || r->type != REDIS_REPLY_STRING)
            return -1;
        snprintf(nodes[i].id, sizeof nodes[i].id, "%s", r->str);
        freeReplyObject(r);
    }
    if (!node_ok(&nodes[0], "CLUSTER ADDSLOTSRANGE 0 8191") ||
        !node_ok(&nodes[1], "CLUSTER ADDSLOTSRANGE 8192 16383") ||
        !node_ok(&nodes[0], "CLUSTER MEET 127.0.0.1 %d", nodes[1].port))
        return -1;
    for (int i = 0; i < 1000; i++) {
        if (cluster_ok(&nodes[0]) && cluster_ok(&nodes[1]))
            return 0;
        usleep(10000);
    }
    fprintf(stderr, "the test cluster did not come up\n");
    return -1;
}

static int cluster_stop(void **state)
{
    (void)state;
    for (int i = 0; i < 2; i++) {
        if (nodes[i].pid > 0) {
            kill(nodes[i].pid, SIGTERM);
            waitpid(nodes[i].pid, NULL, 0);
        }
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", nodes[i].dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* The node serving slot s now (0 or 1). */
static int owner(unsigned s)
{
    return s < 8192 ? 0 : 1;
}

/* ------------------------------------------------------------- harness */

static void fixture_open(struct fixture *f, const char *url)
{
    const char *kv[] = {"REDIS_MODE",       "cluster", "REDIS_URL", url,
                        "REDIS_TIMEOUT_MS", "1000",    NULL};
    fixture_start(f, kv);
}

static char url[128];

static const char *seed_url(void)
{
    snprintf(url, sizeof url, "redis://127.0.0.1:%d,127.0.0.1:%d", nodes[0].port, nodes[1].port);
    return url;
}

/* --------------------------------------------------------------- tests */

/* Sent before any map is loaded: they wait for it, then route by slot. */
static void test_route_by_slot(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, seed_url());
    enum { N = 40 };
    static struct call calls[N];
    char keys[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "nc:route:%d", i);
        const char *argv[3] = {"SET", keys[i], keys[i]};
        assert_int_equal(command(&f, &calls[i], 3, argv), 0);
    }
    for (int i = 0; i < N; i++) /* replies of two masters come in any order */
        run_until(&f, &calls[i], 3000);
    int on[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        if (!calls[i].got_reply)
            fail_msg("call %d: done %d, no reply", i, calls[i].done);
        assert_string_equal(calls[i].str, "OK");
        /* on the master of its slot, read there directly */
        int o = owner(nc_slot_of(keys[i], strlen(keys[i])));
        on[o]++;
        redisReply *r = node_cmd(&nodes[o], "GET %s", keys[i]);
        assert_non_null(r);
        assert_int_equal(r->type, REDIS_REPLY_STRING);
        assert_string_equal(r->str, keys[i]);
        freeReplyObject(r);
    }
    assert_true(on[0] > 0 && on[1] > 0);
    assert_int_equal(nc_store_masters(f.s), 2);
    /* EVAL routes by its first key */
    struct call c;
    const char *ev[4] = {"EVAL", "return redis.call('GET', KEYS[1])", "1", keys[7]};
    assert_int_equal(command(&f, &c, 4, ev), 0);
    run_until(&f, &c, 2000);
    assert_string_equal(c.str, keys[7]);
    /* keyless */
    const char *ping[1] = {"PING"};
    assert_int_equal(command(&f, &c, 1, ping), 0);
    run_until(&f, &c, 2000);
    assert_string_equal(c.str, "PONG");
    assert_int_equal(nc_store_state(f.s), NC_REDIS_UP);
    fixture_close(&f);
}

/* A multi-key UNLINK spanning both masters: split per key, summed. */
static void test_split_unlink(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, seed_url());
    struct call c;
    const char *argv[8] = {"UNLINK",     "nc:split:1", "nc:split:2",   "nc:split:3",
                           "nc:split:4", "nc:split:5", "nc:split:none"};
    for (int i = 1; i <= 5; i++) {
        const char *set[3] = {"SET", argv[i], "x"};
        assert_int_equal(command(&f, &c, 3, set), 0);
        run_until(&f, &c, 3000);
        assert_true(c.got_reply);
    }
    assert_int_equal(command(&f, &c, 7, argv), 0);
    run_until(&f, &c, 3000);
    assert_true(c.got_reply);
    assert_int_equal(c.type, REDIS_REPLY_INTEGER);
    assert_int_equal(c.integer, 5);
    /* SCAN per master: each sees only its own keys */
    for (int i = 0; i < nc_store_masters(f.s); i++) {
        const char *scan[4] = {"SCAN", "0", "COUNT", "1000"};
        size_t lens[4] = {4, 1, 5, 4};
        memset(&c, 0, sizeof c);
        assert_int_equal(nc_store_command_master(f.s, i, on_reply, &c, 4, scan, lens), 0);
        nc_store_flush(f.s);
        run_until(&f, &c, 2000);
        assert_int_equal(c.type, REDIS_REPLY_ARRAY);
    }
    size_t l1[1] = {4};
    const char *p1[1] = {"PING"};
    assert_int_equal(nc_store_command_master(f.s, 2, on_reply, &c, 1, p1, l1), -1);
    fixture_close(&f);
}

/* A slot moved by hand: ASK while it migrates, MOVED once it is done. */
static void test_ask_then_moved(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, seed_url());
    const char *key = "nc:{mover}:k";
    unsigned slot = nc_slot_of(key, strlen(key));
    int from = owner(slot), to = 1 - from;
    struct call c;
    const char *set[3] = {"SET", key, "v1"};
    assert_int_equal(command(&f, &c, 3, set), 0);
    run_until(&f, &c, 3000);
    assert_string_equal(c.str, "OK");
    struct nc_cluster_stats st0, st1, st2;
    nc_cluster_stats(&st0);
    /* migrating: the key goes to the target; the source answers ASK */
    assert_true(node_ok(&nodes[to], "CLUSTER SETSLOT %u IMPORTING %s", slot, nodes[from].id));
    assert_true(node_ok(&nodes[from], "CLUSTER SETSLOT %u MIGRATING %s", slot, nodes[to].id));
    assert_true(node_ok(&nodes[from], "MIGRATE 127.0.0.1 %d %s 0 5000", nodes[to].port, key));
    const char *get[2] = {"GET", key};
    assert_int_equal(command(&f, &c, 2, get), 0);
    run_until(&f, &c, 3000);
    assert_true(c.got_reply);
    assert_string_equal(c.str, "v1");
    nc_cluster_stats(&st1);
    assert_true(st1.ask > st0.ask);
    /* done: the slot is the target's everywhere; the client's map says
     * otherwise until MOVED corrects it */
    assert_true(node_ok(&nodes[to], "CLUSTER SETSLOT %u NODE %s", slot, nodes[to].id));
    assert_true(node_ok(&nodes[from], "CLUSTER SETSLOT %u NODE %s", slot, nodes[to].id));
    assert_int_equal(command(&f, &c, 2, get), 0);
    run_until(&f, &c, 3000);
    assert_string_equal(c.str, "v1");
    nc_cluster_stats(&st2);
    assert_true(st2.moved > st1.moved);
    /* the refresh that MOVED scheduled loads a map with the slot moved:
     * later reads need no redirect */
    for (int i = 0; i < 20; i++)
        pass(&f, 20);
    nc_cluster_stats(&st1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(command(&f, &c, 2, get), 0);
        run_until(&f, &c, 3000);
        assert_string_equal(c.str, "v1");
    }
    nc_cluster_stats(&st2);
    assert_int_equal(st2.moved, st1.moved);
    assert_true(st2.refreshes > st0.refreshes);
    /* give the slot back for the other tests */
    assert_true(node_ok(&nodes[from], "CLUSTER SETSLOT %u IMPORTING %s", slot, nodes[to].id));
    assert_true(node_ok(&nodes[to], "CLUSTER SETSLOT %u MIGRATING %s", slot, nodes[from].id));
    assert_true(node_ok(&nodes[to], "MIGRATE 127.0.0.1 %d %s 0 5000", nodes[from].port, key));
    assert_true(node_ok(&nodes[from], "CLUSTER SETSLOT %u NODE %s", slot, nodes[from].id));
    assert_true(node_ok(&nodes[to], "CLUSTER SETSLOT %u NODE %s", slot, nodes[from].id));
    fixture_close(&f);
}

/* No seed answers: commands fail open (at once, or with NULL in time). */
static void test_no_seed(void **state)
{
    (void)state;
    struct fixture f;
    char u[96];
    snprintf(u, sizeof u, "redis://127.0.0.1:%d", test_free_port());
    fixture_open(&f, u);
    struct call c;
    const char *get[2] = {"GET", "nc:none"};
    int64_t t0 = nc_now_ms();
    if (command(&f, &c, 2, get) == 0) {
        run_until(&f, &c, 3000);
        assert_true(c.done);
        assert_false(c.got_reply);
    }
    assert_true(nc_now_ms() - t0 < 1500); /* REDIS_TIMEOUT_MS is 1000 */
    fixture_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_by_slot),
        cmocka_unit_test(test_split_unlink),
        cmocka_unit_test(test_ask_then_moved),
        cmocka_unit_test(test_no_seed),
    };
    return cmocka_run_group_tests(tests, cluster_start, cluster_stop);
}
