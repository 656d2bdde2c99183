/* cluster_nodes.c - the process's Redis Cluster nodes and counters (see
 * cluster_nodes.h). */
#include "normcache/cluster_nodes.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static struct nc_cluster_node nodes[NC_CLUSTER_NODES_MAX];
static atomic_int nnodes;
static atomic_int have_map_any;
static pthread_mutex_t nodes_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_ullong stat_moved, stat_ask, stat_refreshes;

static int node_find(const char *host, int port)
{
    int n = atomic_load(&nnodes);
    for (int i = 0; i < n; i++)
        if (nodes[i].port == port && strcmp(nodes[i].host, host) == 0)
            return i;
    return -1;
}

/* 1 when a master answered its last command and its breaker is closed. */
static int node_is_up(struct nc_cluster_node *nd)
{
    return !nc_breaker_is_open(&nd->brk) && nc_breaker_seen_up(&nd->brk);
}

int nc_cluster_node_get(const struct nc_config *cfg, const char *host, int port)
{
    int i = node_find(host, port);
    if (i >= 0)
        return i;
    pthread_mutex_lock(&nodes_lock);
    i = node_find(host, port);
    int n = atomic_load(&nnodes);
    if (i < 0 && n < NC_CLUSTER_NODES_MAX && strlen(host) < NC_SLOT_HOST_MAX) {
        struct nc_cluster_node *nd = &nodes[n];
        snprintf(nd->host, sizeof nd->host, "%s", host);
        nd->port = port;
        nc_breaker_init(&nd->brk, cfg->breaker_failures, cfg->breaker_cooldown_ms);
        atomic_store(&nd->master, 0);
        atomic_store(&nnodes, n + 1); /* publishes the entry */
        i = n;
    }
    pthread_mutex_unlock(&nodes_lock);
    return i;
}

int nc_cluster_up(void)
{
    if (!atomic_load(&have_map_any))
        return 0;
    int n = atomic_load(&nnodes);
    for (int i = 0; i < n; i++)
        if (atomic_load(&nodes[i].master) && !node_is_up(&nodes[i]))
            return 0;
    return 1;
}

int nc_cluster_breaker_open(void)
{
    int n = atomic_load(&nnodes);
    for (int i = 0; i < n; i++)
        if (atomic_load(&nodes[i].master) && nc_breaker_is_open(&nodes[i].brk))
            return 1;
    return 0;
}

/* Appends host:port, an IPv6 host in brackets. */
static int node_label(struct nc_buf *out, const struct nc_cluster_node *nd)
{
    int v6 = strchr(nd->host, ':') != NULL;
    return nc_buf_printf(out, "%s%s%s:%d", v6 ? "[" : "", nd->host, v6 ? "]" : "", nd->port);
}

int nc_cluster_describe_nodes(struct nc_buf *out)
{
    int n = atomic_load(&nnodes), first = 1;
    for (int i = 0; i < n; i++) {
        struct nc_cluster_node *nd = &nodes[i];
        if (!atomic_load(&nd->master))
            continue;
        if (nc_buf_appends(out, first ? "\"" : ",\"") || node_label(out, nd) ||
            nc_buf_appends(out, node_is_up(nd) ? "\":\"up\"" : "\":\"down\""))
            return -1;
        first = 0;
    }
    return 0;
}

int nc_cluster_render_node_up(struct nc_buf *out)
{
    int n = atomic_load(&nnodes);
    if (nc_buf_appends(out, "# HELP normcache_redis_node_up 1 when the Redis Cluster master "
                            "answered its last command.\n# TYPE normcache_redis_node_up gauge\n"))
        return -1;
    for (int i = 0; i < n; i++) {
        struct nc_cluster_node *nd = &nodes[i];
        if (!atomic_load(&nd->master))
            continue;
        if (nc_buf_appends(out, "normcache_redis_node_up{node=\"") || node_label(out, nd) ||
            nc_buf_appends(out, node_is_up(nd) ? "\"} 1\n" : "\"} 0\n"))
            return -1;
    }
    return 0;
}

void nc_cluster_stats(struct nc_cluster_stats *out)
{
    out->moved = atomic_load(&stat_moved);
    out->ask = atomic_load(&stat_ask);
    out->refreshes = atomic_load(&stat_refreshes);
}

struct nc_cluster_node *nc_cluster_node_at(int i)
{
    return &nodes[i];
}

int nc_cluster_node_count(void)
{
    return atomic_load(&nnodes);
}

void nc_cluster_nodes_set_masters(const int *idx, int nidx)
{
    int n = atomic_load(&nnodes);
    for (int i = 0; i < n; i++) {
        int is_master = 0;
        for (int k = 0; k < nidx; k++)
            is_master |= idx[k] == i;
        atomic_store(&nodes[i].master, is_master);
    }
    atomic_store(&have_map_any, 1);
    atomic_fetch_add(&stat_refreshes, 1);
}

void nc_cluster_nodes_count(enum nc_cluster_stat what)
{
    atomic_fetch_add(what == NC_CLUSTER_STAT_MOVED ? &stat_moved : &stat_ask, 1);
}
