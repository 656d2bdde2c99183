/* cluster_nodes.h - the Redis Cluster nodes this process knows (seeds,
 * masters of a slot map, targets of redirects), each with the circuit
 * breaker every worker's connection to it reports to; the cluster
 * counters. Thread-safe: the table only grows (at most NC_CLUSTER_NODES_MAX
 * entries, never moved or freed), so any thread reads an entry below the
 * published count without a lock; adding takes one. */
#ifndef NC_CLUSTER_NODES_H
#define NC_CLUSTER_NODES_H

#include <stdatomic.h>

#include "normcache/breaker.h"
#include "normcache/buf.h"
#include "normcache/config.h"
#include "normcache/slot.h"

#define NC_CLUSTER_NODES_MAX 64

struct nc_cluster_node {
    char host[NC_SLOT_HOST_MAX];
    int port;
    struct nc_breaker brk;
    atomic_int master; /* named by the latest slot map a worker loaded */
};

/* Index of host:port, added (breaker from cfg) if new; -1 when full. */
int nc_cluster_node_get(const struct nc_config *cfg, const char *host, int port);
struct nc_cluster_node *nc_cluster_node_at(int i);
int nc_cluster_node_count(void);
/* A worker loaded a map naming these masters (and counts a refresh). */
void nc_cluster_nodes_set_masters(const int *idx, int n);

enum nc_cluster_stat { NC_CLUSTER_STAT_MOVED, NC_CLUSTER_STAT_ASK };
void nc_cluster_nodes_count(enum nc_cluster_stat what);

/* Up: a map is known and every master in it answered its last command,
 * breaker closed. */
int nc_cluster_up(void);
/* 1 while some master's breaker is open. */
int nc_cluster_breaker_open(void);
/* Appends "host:port":"up"|"down" members, one per master of the latest
 * map (IPv6 hosts in brackets), comma-separated. */
int nc_cluster_describe_nodes(struct nc_buf *out);
/* The normcache_redis_node_up gauge (Prometheus text), one per master. */
int nc_cluster_render_node_up(struct nc_buf *out);
struct nc_cluster_stats {
    unsigned long long moved, ask, refreshes;
};
void nc_cluster_stats(struct nc_cluster_stats *out);

#endif
