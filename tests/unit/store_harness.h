/* store_harness.h - drives an nc_store the way a worker's loop does, for
 * the unit tests of store, cluster and sentinel mode: a fixture (config,
 * breaker, epoll set, store), one loop pass, a command with its reply
 * captured. Header-only (static inline), like testutil.h; include cmocka
 * and testutil.h first. */
#ifndef NC_TEST_STORE_HARNESS_H
#define NC_TEST_STORE_HARNESS_H

#include <hiredis/hiredis.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "normcache/breaker.h"
#include "normcache/clock.h"
#include "normcache/config.h"
#include "normcache/store.h"

struct fixture {
    struct nc_config cfg;
    struct nc_breaker brk;
    struct nc_store *s;
    int epfd;
};

struct call {
    int done, got_reply, type;
    long long integer;
    char str[64];
};

/* A callback must never run inside nc_store_command: the caller would be
 * re-entered before it has recorded what it sent. */
static int store_harness_inside;

static inline void on_reply(void *priv, redisReply *reply)
{
    assert_false(store_harness_inside);
    struct call *c = priv;
    c->done = 1;
    c->got_reply = reply != NULL;
    if (reply) {
        c->type = reply->type;
        c->integer = reply->integer;
        if (reply->str)
            snprintf(c->str, sizeof c->str, "%.*s", (int)reply->len, reply->str);
    }
}

/* kv: NULL-terminated name/value pairs (test_kv_get). */
static inline void fixture_start(struct fixture *f, const char **kv)
{
    char err[256];
    assert_int_equal(nc_config_load(&f->cfg, test_kv_get, kv, err, sizeof err), 0);
    nc_breaker_init(&f->brk, f->cfg.breaker_failures, f->cfg.breaker_cooldown_ms);
    f->epfd = epoll_create1(0);
    assert_true(f->epfd >= 0);
    f->s = nc_store_new(&f->cfg, &f->brk, f->epfd);
    assert_non_null(f->s);
}

static inline void fixture_close(struct fixture *f)
{
    nc_store_free(f->s);
    close(f->epfd);
    nc_config_free(&f->cfg);
}

/* One pass of a worker loop, as server.c runs it. */
static inline void pass(struct fixture *f, int timeout)
{
    struct epoll_event evs[8];
    int t = nc_store_next_timeout_ms(f->s, nc_now_ms());
    if (t < 0 || t > timeout)
        t = timeout;
    int n = epoll_wait(f->epfd, evs, 8, t);
    for (int i = 0; i < n; i++)
        assert_true(nc_store_on_event(f->s, evs[i].data.ptr, evs[i].events));
    nc_store_tick(f->s, nc_now_ms());
    nc_store_flush(f->s);
}

/* Runs the loop until c is done or max_ms passed; returns the time taken. */
static inline int64_t run_until(struct fixture *f, struct call *c, int max_ms)
{
    int64_t t0 = nc_now_ms();
    while (!c->done && nc_now_ms() - t0 < max_ms)
        pass(f, 20);
    return nc_now_ms() - t0;
}

/* argc <= 8. 0: accepted (c filled later by a pass), -1: refused at once. */
static inline int command(struct fixture *f, struct call *c, int argc, const char **argv)
{
    size_t lens[8];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    memset(c, 0, sizeof *c);
    store_harness_inside = 1;
    int rc = nc_store_command(f->s, on_reply, c, argc, argv, lens);
    store_harness_inside = 0;
    if (rc == 0)
        nc_store_flush(f->s);
    return rc;
}

#endif
