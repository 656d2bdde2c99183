/* store.h - one worker's asynchronous Redis connection, reporting to a
 * circuit breaker (breaker.h) shared by all workers.
 *
 * The connection lives in the worker's epoll loop: it is opened lazily,
 * re-opened after any error, and every command carries a deadline (hiredis
 * 0.14's async API has none), so a hung Redis costs at most
 * REDIS_TIMEOUT_MS. After REDIS_BREAKER_FAILURES consecutive connect errors
 * or timeouts, the breaker opens and no command is attempted until one probe
 * succeeds after the cooldown.
 *
 * Not thread-safe: each worker owns one nc_store (nc_store_state and
 * nc_store_breaker_open excepted). */
#ifndef NC_STORE_H
#define NC_STORE_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "normcache/config.h"

struct nc_breaker;
struct nc_store;

/* Called exactly once per accepted command, always from the worker's loop
 * (never from inside nc_store_command). reply is NULL when the command
 * failed: connection lost, timed out, or the store shut down. The reply is
 * freed by the store after the callback returns. */
typedef void nc_store_cb(void *priv, redisReply *reply);

enum nc_redis_state { NC_REDIS_DISABLED = 0, NC_REDIS_UP, NC_REDIS_DOWN };

/* Creates a store for a worker whose loop uses epfd. The store registers
 * its socket in epfd with data.ptr pointing at the store itself; the loop
 * hands such events to nc_store_on_event(). Returns NULL on out of memory.
 * cfg and brk (shared by every store talking to the same Redis) are the
 * caller's and must outlive the store. */
struct nc_store *nc_store_new(const struct nc_config *cfg, struct nc_breaker *brk, int epfd);
/* Fails every pending command (callbacks get NULL) and frees. Accepts NULL. */
void nc_store_free(struct nc_store *s);

/* Queues a command built from argv (binary-safe; caller text never goes in
 * a format string). Returns 0 when accepted (cb will run later), -1 when
 * Redis is disabled, the breaker is open, or no connection can be started
 * (cb will not run: answer the caller fail-open at once). */
int nc_store_command(struct nc_store *s, nc_store_cb *cb, void *priv, int argc, const char **argv,
                     const size_t *argvlen);

/* NEAR_CACHE: the tracking generation (near_sync.h) the connection runs
 * CLIENT TRACKING for, sent before any command queued since; 0 when it
 * tracks nothing (no connection, refused, or the near cache unusable). */
unsigned nc_store_tracking_gen(const struct nc_store *s);

/* Event-loop hooks, in this order per pass: on_event for each ready event,
 * then (after MHD_run) flush, then tick. next_timeout_ms returns how long
 * the loop may sleep before the earliest deadline (-1: none). */
void nc_store_on_event(struct nc_store *s, uint32_t events);
void nc_store_flush(struct nc_store *s);
void nc_store_tick(struct nc_store *s, int64_t now_ms);
int nc_store_next_timeout_ms(const struct nc_store *s, int64_t now_ms);

/* The view of /readyz and the metrics: disabled, up, or down (the breaker
 * is open or the last command failed). Any thread. */
enum nc_redis_state nc_store_state(const struct nc_store *s);
int nc_store_breaker_open(const struct nc_store *s);

#endif
