/* store.c - the facade handlers send Redis commands through (see
 * store.h). Standalone: one connection (conn.c); cluster: the cluster
 * client (cluster.c). */
#include "normcache/store.h"

#include <stdlib.h>

#include "normcache/breaker.h"
#include "normcache/cluster.h"
#include "normcache/conn.h"

struct nc_store {
    const struct nc_config *cfg;
    struct nc_breaker *brk; /* standalone: shared with the other workers' stores */
    struct nc_conn *conn;   /* standalone: the one connection */
    struct nc_cluster *cl;  /* cluster mode */
};

int nc_store_breaker_open(const struct nc_store *s)
{
    if (s->cl)
        return nc_cluster_breaker_open();
    return nc_breaker_is_open(s->brk);
}

enum nc_redis_state nc_store_state(const struct nc_store *s)
{
    if (!s->cfg->redis_enabled)
        return NC_REDIS_DISABLED;
    if (s->cl)
        return nc_cluster_up() ? NC_REDIS_UP : NC_REDIS_DOWN;
    if (nc_breaker_is_open(s->brk) || !nc_breaker_seen_up(s->brk))
        return NC_REDIS_DOWN;
    return NC_REDIS_UP;
}

struct nc_store *nc_store_new(const struct nc_config *cfg, struct nc_breaker *brk, int epfd)
{
    struct nc_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->cfg = cfg;
    s->brk = brk;
    if (cfg->redis_mode == NC_REDIS_CLUSTER)
        s->cl = nc_cluster_new(cfg, epfd);
    else
        s->conn = nc_conn_new(cfg, cfg->redis_host, cfg->redis_port, cfg->redis_db, brk, epfd);
    if (!s->conn && !s->cl) {
        free(s);
        return NULL;
    }
    return s;
}

void nc_store_free(struct nc_store *s)
{
    if (!s)
        return;
    nc_cluster_free(s->cl);
    nc_conn_free(s->conn);
    free(s);
}

int nc_store_add_setup(struct nc_store *s, nc_conn_setup_fn *fn, void *ud, const atomic_uint *gen)
{
    if (s->cl)
        return nc_cluster_add_setup(s->cl, fn, ud, gen);
    return nc_conn_add_setup(s->conn, fn, ud, gen);
}

int nc_store_command(struct nc_store *s, nc_store_cb *cb, void *priv, int argc, const char **argv,
                     const size_t *argvlen)
{
    if (!s->cfg->redis_enabled)
        return -1;
    if (s->cl)
        return nc_cluster_command(s->cl, cb, priv, argc, argv, argvlen);
    return nc_conn_command(s->conn, cb, priv, argc, argv, argvlen);
}

int nc_store_masters(const struct nc_store *s)
{
    if (!s->cfg->redis_enabled)
        return 0;
    return s->cl ? nc_cluster_masters(s->cl) : 1;
}

int nc_store_command_master(struct nc_store *s, int i, nc_store_cb *cb, void *priv, int argc,
                            const char **argv, const size_t *argvlen)
{
    if (!s->cfg->redis_enabled)
        return -1;
    if (s->cl)
        return nc_cluster_command_master(s->cl, i, cb, priv, argc, argv, argvlen);
    return i == 0 ? nc_conn_command(s->conn, cb, priv, argc, argv, argvlen) : -1;
}

int nc_store_on_event(struct nc_store *s, void *ptr, uint32_t events)
{
    if (s->cl)
        return nc_cluster_on_event(s->cl, ptr, events);
    if (ptr != s->conn)
        return 0;
    nc_conn_on_event(s->conn, events);
    return 1;
}

void nc_store_flush(struct nc_store *s)
{
    if (s->cl)
        nc_cluster_flush(s->cl);
    else
        nc_conn_flush(s->conn);
}

void nc_store_tick(struct nc_store *s, int64_t now_ms)
{
    if (s->cl)
        nc_cluster_tick(s->cl, now_ms);
    else
        nc_conn_tick(s->conn, now_ms);
}

int nc_store_next_timeout_ms(const struct nc_store *s, int64_t now_ms)
{
    if (s->cl)
        return nc_cluster_next_timeout_ms(s->cl, now_ms);
    return nc_conn_next_timeout_ms(s->conn, now_ms);
}
