/* worker.h - what one worker (one thread, one event loop) lends to the
 * requests it runs: the configuration, its Redis connection, its counters
 * and the recommendations state.
 *
 * Owned by the server (server.c), which creates it before the loop starts
 * and frees what it points to after the loop stopped. Only the worker's own
 * thread touches it. */
#ifndef NC_WORKER_H
#define NC_WORKER_H

#include <stdint.h>

#include "normcache/buf.h"
#include "normcache/config.h"
#include "normcache/counters.h"
#include "normcache/store.h"

struct nc_req;
struct nc_iplimit;
struct nc_near;

struct nc_worker {
    int id;
    const struct nc_config *cfg;
    struct nc_store *store;
    struct nc_counters *counters;
    void *recs;                 /* recommendations state for this worker (recs.h) */
    void *cache;                /* lease waiters of this worker (cache.h) */
    int active;                 /* requests the handler has seen and not completed */
    int suspended;              /* of which waiting on I/O */
    int conns;                  /* open HTTP connections */
    int conns_peak;             /* most open since memory was last given back */
    int stopping;               /* the server is stopping: new requests get 503 shutting_down */
    struct nc_req *conn_list;   /* open connections (router.c) */
    int64_t next_sweep_ms;      /* next check of head deadlines */
    struct nc_iplimit *iplimit; /* per-address counts, shared; NULL: no cap */
    struct nc_near *near;       /* the process's near cache, shared; NULL: NEAR_CACHE off */
    unsigned near_gen;          /* tracking generation of its Redis connection (near_sync.h) */
    struct nc_buf logfields;    /* access-log fields, reused (freed with the worker) */
};

#endif
