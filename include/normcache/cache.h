/* cache.h - the /cache/<ns> handler: GET (hit/miss/bypass), PUT, DELETE of
 * one entry and flush of a namespace. */
#ifndef NC_CACHE_H
#define NC_CACHE_H

#include <stdint.h>

#include "normcache/req.h"

extern const struct nc_handler nc_cache_handler;

/* A worker's lease waiters, on its epoll fd (cache_lease.c). init before
 * the loop runs (0 or -1); the loop hooks as for the other modules:
 * on_event returns 1 when ptr was the module's; shutdown answers every
 * waiter (503 shutting_down); free after the loop stopped. */
int nc_cache_worker_init(struct nc_worker *w, int epfd);
int nc_cache_on_event(struct nc_worker *w, void *ptr);
void nc_cache_tick(struct nc_worker *w, int64_t now_ms);
int nc_cache_next_timeout_ms(struct nc_worker *w, int64_t now_ms);
void nc_cache_worker_shutdown(struct nc_worker *w);
void nc_cache_worker_free(struct nc_worker *w);

#endif
