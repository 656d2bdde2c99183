/* sentinel.h - the data master's address in Redis Sentinel mode
 * (REDIS_MODE=sentinel), found and followed by a thread of its own.
 *
 * The thread asks the sentinels of REDIS_URL, one after the other until one
 * answers, `SENTINEL get-master-addr-by-name REDIS_SENTINEL_MASTER`, checks
 * the address with `ROLE` (it must say master), and publishes it: host, port
 * and a generation number that grows by one whenever the address changes.
 * It stays SUBSCRIBEd to `+switch-master` on a sentinel to move at once,
 * re-asks when a worker reports trouble (nc_sentinel_request_resolve), and
 * re-checks every few seconds as a safety net.
 *
 * Readers on worker threads never block: nc_sentinel_generation() is one
 * atomic load (on every command), nc_sentinel_master() copies the address
 * under a mutex nobody holds for long (on reconnect). Blocking hiredis calls
 * happen on the sentinel thread only, each bounded by the Redis timeouts. */
#ifndef NC_SENTINEL_H
#define NC_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#include "normcache/config.h"

#define NC_SENTINEL_HOST_MAX 256

/* ------------------------------------------------ parsers (pure) */

/* The reply to SENTINEL get-master-addr-by-name: an array of two strings
 * (host, port 1..65535). A nil reply (the sentinel does not know the name),
 * an error or any other shape is -1 with a reason in err. */
int nc_sentinel_parse_addr(const redisReply *r, char *host, size_t hostlen, int *port, char *err,
                           size_t errlen);

/* A +switch-master message, "<name> <old host> <old port> <new host> <new
 * port>" (len bytes, not NUL-terminated). 1: it is about master (the new
 * address is filled in); 0: about another master; -1: malformed. */
int nc_sentinel_parse_switch(const char *msg, size_t len, const char *master, char *host,
                             size_t hostlen, int *port);

/* 1 when a ROLE reply says master, else 0. */
int nc_sentinel_role_is_master(const redisReply *r);

/* ------------------------------------------------ the published address */

/* Replaces the published address; the generation grows (and, past the
 * first address, a failover is counted) only when it differs. The sentinel
 * thread calls it; tests too. Returns the generation now in force. */
uint64_t nc_sentinel_publish(const char *host, int port);

/* The generation of the published address; 0 while none is known. Any
 * thread, lock-free. */
uint64_t nc_sentinel_generation(void);

/* Copies the published address. 0, or -1 while none is known. Any thread;
 * never waits on I/O. */
int nc_sentinel_master(char *host, size_t hostlen, int *port, uint64_t *gen);

/* Address changes followed since start (the first address is not one). */
uint64_t nc_sentinel_failovers(void);

/* Asks the thread to resolve the master again now (a READONLY reply, a lost
 * or refused connection). Any thread; never blocks; repeated calls before
 * the thread runs are one request. */
void nc_sentinel_request_resolve(void);
/* 1 when a request was made since the last call (and clears it): the
 * thread's own check, and what tests observe. */
int nc_sentinel_take_request(void);

/* fn runs on the thread that publishes, right after the address moved (the
 * new generation is visible): it must not block. One hook, set before the
 * thread starts (the subscriber, pubsub.c, cuts its connection with it);
 * NULL removes it. */
typedef void nc_sentinel_move_fn(void);
void nc_sentinel_on_move(nc_sentinel_move_fn *fn);

/* ------------------------------------------------ the thread */

/* Starts the thread when cfg is in sentinel mode and Redis is enabled, and
 * waits (at most about a second) for a first address so that the service
 * starts with one. cfg must outlive the thread. A thread that cannot start
 * is logged (Redis then stays unreachable: reads bypass). Idempotent. */
void nc_sentinel_start(const struct nc_config *cfg);
/* Stops and joins the thread, forgets the address. Idempotent. */
void nc_sentinel_stop(void);

#endif
