/* store.h - a worker's Redis: the facade handlers send commands through.
 *
 * In standalone mode the store owns one connection (conn.h) to REDIS_URL's
 * host, reporting to a circuit breaker (breaker.h) shared by all workers;
 * in cluster mode a cluster client (cluster.h): one connection per master,
 * a breaker per node, commands routed by hash slot.
 * Connections live in the worker's epoll loop; every command carries a
 * deadline, so a hung Redis costs at most REDIS_TIMEOUT_MS, and an open
 * breaker makes commands fail at once (callers fail open).
 *
 * Not thread-safe: each worker owns one nc_store (nc_store_state and
 * nc_store_breaker_open excepted). */
#ifndef NC_STORE_H
#define NC_STORE_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "normcache/config.h"
#include "normcache/conn.h"

struct nc_breaker;
struct nc_store;

/* Called exactly once per accepted command, always from the worker's loop
 * (never from inside nc_store_command). reply is NULL when the command
 * failed: connection lost, timed out, or the store shut down. The reply is
 * freed by the store after the callback returns. */
typedef nc_conn_cb nc_store_cb;

enum nc_redis_state { NC_REDIS_DISABLED = 0, NC_REDIS_UP, NC_REDIS_DOWN };

/* Creates a store for a worker whose loop uses epfd. Its connections
 * register their sockets in epfd with data.ptr pointing at a connection;
 * the loop offers every event to nc_store_on_event() first. Returns NULL
 * on out of memory. cfg and brk (shared by every store talking to the same
 * Redis) are the caller's and must outlive the store. */
struct nc_store *nc_store_new(const struct nc_config *cfg, struct nc_breaker *brk, int epfd);
/* Fails every pending command (callbacks get NULL) and frees. Accepts NULL. */
void nc_store_free(struct nc_store *s);

/* Adds a setup hook (conn.h) to every connection the store has or opens
 * later: its commands run after AUTH/SELECT, before any caller command, and
 * again on a live connection when *gen (may be NULL) moved. fn, ud and gen
 * must outlive the store. Returns -1 when a connection has no room left. */
int nc_store_add_setup(struct nc_store *s, nc_conn_setup_fn *fn, void *ud, const atomic_uint *gen);

/* Queues a command built from argv (binary-safe; caller text never goes in
 * a format string). Returns 0 when accepted (cb will run later), -1 when
 * Redis is disabled, the breaker is open, or no connection can be started
 * (cb will not run: answer the caller fail-open at once). */
int nc_store_command(struct nc_store *s, nc_store_cb *cb, void *priv, int argc, const char **argv,
                     const size_t *argvlen);

/* The masters to visit for a whole-keyspace walk (SCAN of a flush): 1 in
 * standalone mode, the current map's masters in cluster mode (0 while none
 * is known, or Redis is disabled); and a command sent to the i-th. */
int nc_store_masters(const struct nc_store *s);
int nc_store_command_master(struct nc_store *s, int i, nc_store_cb *cb, void *priv, int argc,
                            const char **argv, const size_t *argvlen);

/* Event-loop hooks, in this order per pass: on_event for each ready event
 * (returns 1 when ptr was one of the store's connections, 0 otherwise),
 * then (after MHD_run) flush, then tick. next_timeout_ms returns how long
 * the loop may sleep before the earliest deadline (-1: none). */
int nc_store_on_event(struct nc_store *s, void *ptr, uint32_t events);
void nc_store_flush(struct nc_store *s);
void nc_store_tick(struct nc_store *s, int64_t now_ms);
int nc_store_next_timeout_ms(const struct nc_store *s, int64_t now_ms);

/* The view of /readyz and the metrics: disabled, up, or down (the breaker
 * is open or the last command failed). Any thread. */
enum nc_redis_state nc_store_state(const struct nc_store *s);
int nc_store_breaker_open(const struct nc_store *s);

#endif
