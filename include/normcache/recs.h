/* recs.h - GET /products/recommendations: cache-aside in front of a slow
 * upstream, with single flight, cross-instance locks and stale serving.
 * Each worker owns its upstream client (libcurl multi in the worker's epoll
 * loop) and the flights it started; the flight table is process-wide.
 * Implementation: src/recs/ (recs_int.h lists the files). */
#ifndef NC_RECS_H
#define NC_RECS_H

#include <stdint.h>

#include "normcache/req.h"

/* The route handler (hooks: see req.h). */
extern const struct nc_handler nc_recs_handler;

/* Sets up the worker's upstream client on its epoll fd. 0 or -1. */
int nc_recs_worker_init(struct nc_worker *w, int epfd);
/* Shutdown, after the grace period (server.c runs these in phases on every
 * worker, with a barrier between them):
 *   nc_recs_worker_shutdown  no flight starts or is joined any more on this
 *                            worker (a request that would need one gets 503
 *                            shutting_down, or its stale copy); every flight
 *                            it owns ends: the lock is released, waiters get
 *                            the stale copy or 503 shutting_down, those on
 *                            other workers through their mailboxes;
 *   nc_recs_worker_drain     once every worker has done the above (nothing
 *                            posts any more): delivers what this worker's
 *                            mailbox holds, resuming its requests. */
void nc_recs_worker_shutdown(struct nc_worker *w);
void nc_recs_worker_drain(struct nc_worker *w);
void nc_recs_worker_free(struct nc_worker *w); /* accepts an uninitialised worker */

/* Loop hooks: events on sockets the module registered (data.ptr is its
 * own), timers, and the earliest deadline (-1: none). */
void nc_recs_on_event(struct nc_worker *w, void *ptr, uint32_t events);
void nc_recs_tick(struct nc_worker *w, int64_t now_ms);
int nc_recs_next_timeout_ms(struct nc_worker *w, int64_t now_ms);

#endif
