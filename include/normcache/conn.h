/* conn.h - one asynchronous Redis connection to one host:port, in a
 * worker's epoll loop, reporting to a circuit breaker (breaker.h).
 *
 * The connection is opened lazily, re-opened after any error, and every
 * command carries a deadline (hiredis 0.14's async API has none), so a hung
 * Redis costs at most REDIS_TIMEOUT_MS. After REDIS_BREAKER_FAILURES
 * consecutive connect errors or timeouts, the breaker opens and no command
 * is attempted until one probe succeeds after the cooldown.
 *
 * Right after connecting the connection sends AUTH (when configured),
 * SELECT (db != 0), then every setup hook's commands (nc_conn_add_setup),
 * before any caller command. A hook with a generation counter is run again
 * on a live connection when the counter moved since it last ran (checked
 * before each caller command is queued).
 *
 * The socket is registered in epfd with data.ptr pointing at the conn
 * itself: the owner (store.c) hands such events to nc_conn_on_event().
 *
 * Not thread-safe: a conn belongs to one worker's loop. */
#ifndef NC_CONN_H
#define NC_CONN_H

#include <hiredis/hiredis.h>
#include <stdatomic.h>
#include <stdint.h>

#include "normcache/config.h"

struct nc_breaker;
struct nc_conn;

/* Called exactly once per accepted command, always from the worker's loop
 * (never from inside the call that queued it). reply is NULL when the
 * command failed: connection lost, timed out, or the conn was freed. The
 * reply is freed after the callback returns. */
typedef void nc_conn_cb(void *priv, redisReply *reply);

/* A setup hook: queues commands with nc_conn_send_internal(). Returns 0, or
 * -1 to drop the connection (it is retried like any failed connect). */
typedef int nc_conn_setup_fn(struct nc_conn *c, void *ud);

#define NC_CONN_SETUP_MAX 4

/* Creates a conn to host:port (copied) that selects db after AUTH. cfg
 * (credentials, timeouts, enabled) and brk are the caller's and must
 * outlive the conn. Returns NULL on out of memory. */
struct nc_conn *nc_conn_new(const struct nc_config *cfg, const char *host, int port, int db,
                            struct nc_breaker *brk, int epfd);
/* Fails every pending command (callbacks get NULL) and frees. Accepts NULL. */
void nc_conn_free(struct nc_conn *c);

/* Adds a setup hook (at most NC_CONN_SETUP_MAX). gen may be NULL; else the
 * hook runs again on a live connection whenever *gen changed since its last
 * run. fn, ud and gen must outlive the conn. Returns -1 when full. */
int nc_conn_add_setup(struct nc_conn *c, nc_conn_setup_fn *fn, void *ud, const atomic_uint *gen);

/* For setup hooks only: queues a command on the connection being set up
 * (cb may be NULL). An error reply to it fails the connection like a
 * refused AUTH. Returns 0 or -1. */
int nc_conn_send_internal(struct nc_conn *c, nc_conn_cb *cb, void *priv, int argc,
                          const char **argv, const size_t *argvlen);

/* Queues a caller command (binary-safe argv; cb may be NULL). Returns 0
 * when accepted (cb will run later), -1 when the breaker is open or no
 * connection can be started (cb will not run). */
int nc_conn_command(struct nc_conn *c, nc_conn_cb *cb, void *priv, int argc, const char **argv,
                    const size_t *argvlen);

/* Loop hooks (see store.h for the order). */
void nc_conn_on_event(struct nc_conn *c, uint32_t events);
void nc_conn_flush(struct nc_conn *c);
void nc_conn_tick(struct nc_conn *c, int64_t now_ms);
int nc_conn_next_timeout_ms(const struct nc_conn *c, int64_t now_ms);

const char *nc_conn_host(const struct nc_conn *c);
int nc_conn_port(const struct nc_conn *c);
struct nc_breaker *nc_conn_breaker(const struct nc_conn *c);
/* 1 while a connection exists (connecting or ready). */
int nc_conn_connected(const struct nc_conn *c);

#endif
