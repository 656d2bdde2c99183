/* cluster.h - a worker's Redis Cluster client (REDIS_MODE=cluster), under
 * the store facade (store.h).
 *
 * It loads the slot map with CLUSTER SLOTS from a seed (REDIS_URL's list)
 * or a known master, event-driven in the worker's loop, keeps one
 * connection (conn.h) per master it talks to, and routes each command by
 * the hash slot of its key (argv[1]; EVAL/EVALSHA: the first key after
 * numkeys; keyless commands to any master). MOVED updates the slot,
 * schedules a map refresh and retries once on the named node; ASK sends
 * ASKING then the command to the named node, once. A connection error,
 * CLUSTERDOWN or TRYAGAIN schedules a refresh. A multi-key UNLINK, DEL,
 * EXISTS or TOUCH is split per key and its integer replies summed. Commands
 * sent before the first map is loaded wait for it, at most
 * REDIS_TIMEOUT_MS.
 *
 * Nodes (host:port, each with its circuit breaker) live in one table for
 * the whole process (cluster_nodes.h). Not thread-safe: one per worker. */
#ifndef NC_CLUSTER_H
#define NC_CLUSTER_H

#include <stdint.h>

#include "normcache/cluster_nodes.h"
#include "normcache/config.h"
#include "normcache/conn.h"

struct nc_cluster;

/* Creates the client and starts loading the map. cfg must outlive it.
 * NULL on out of memory. */
struct nc_cluster *nc_cluster_new(const struct nc_config *cfg, int epfd);
/* Fails every pending and waiting command (callbacks get NULL), frees. */
void nc_cluster_free(struct nc_cluster *c);

int nc_cluster_add_setup(struct nc_cluster *c, nc_conn_setup_fn *fn, void *ud,
                         const atomic_uint *gen);

/* As nc_store_command (store.h). */
int nc_cluster_command(struct nc_cluster *c, nc_conn_cb *cb, void *priv, int argc,
                       const char **argv, const size_t *argvlen);
/* The masters of the current map (0 while none is loaded), and a command
 * to the i-th of them (SCAN of a flush): no redirect is followed. */
int nc_cluster_masters(const struct nc_cluster *c);
int nc_cluster_command_master(struct nc_cluster *c, int i, nc_conn_cb *cb, void *priv, int argc,
                              const char **argv, const size_t *argvlen);

int nc_cluster_on_event(struct nc_cluster *c, void *ptr, uint32_t events);
void nc_cluster_flush(struct nc_cluster *c);
void nc_cluster_tick(struct nc_cluster *c, int64_t now_ms);
int nc_cluster_next_timeout_ms(const struct nc_cluster *c, int64_t now_ms);

#endif
