/* counters.h - the service's counters and histograms, and their Prometheus
 * text. Knows nothing of HTTP or Redis: callers pass labels (route, method,
 * status, namespace, outcome); the /metrics handler adds the gauges.
 *
 * Each worker owns a block of plain counters that only it writes (no lock,
 * no atomic read-modify-write on the hot path); a scrape sums all blocks.
 * Readers may see a value a few increments old, which Prometheus tolerates. */
#ifndef NC_COUNTERS_H
#define NC_COUNTERS_H

#include <stdint.h>

#include "normcache/buf.h"

/* Request route labels (metrics and access log). */
enum nc_route {
    NC_ROUTE_OTHER = 0,
    NC_ROUTE_CACHE_GET,
    NC_ROUTE_CACHE_PUT,
    NC_ROUTE_CACHE_DELETE,
    NC_ROUTE_CACHE_FLUSH,
    NC_ROUTE_RECOMMENDATIONS,
    NC_ROUTE_HEALTH,
    NC_ROUTE_METRICS,
    NC_ROUTE_CACHE_MGET,
    NC_ROUTE_CACHE_MSET,
    NC_ROUTE__COUNT
};
/* "cache_get", ...; "other" for anything out of range. */
const char *nc_route_name(int route);
/* The label of a request method in metrics and the access log: one of a
 * fixed set of static names (GET HEAD PUT DELETE OPTIONS PATCH POST), or
 * "OTHER" for anything else, NULL included. The client's bytes are never
 * returned, so a method cannot forge a log field or grow the label set. */
const char *nc_method_label(const char *method);

enum nc_cache_result { NC_RES_HIT = 0, NC_RES_MISS, NC_RES_STALE, NC_RES_BYPASS, NC_RES__COUNT };
enum nc_lease_event {
    NC_LEASE_GRANTED = 0,
    NC_LEASE_COLLAPSED,    /* a waiter answered by the holder's value */
    NC_LEASE_WAIT_TIMEOUT, /* a waiter gave up after LEASE_WAIT_MS */
    NC_LEASE_LOST,         /* a holder's write refused: its lease was gone */
    NC_LEASE__COUNT
};
enum nc_upstream_result { NC_UP_OK = 0, NC_UP_ERROR, NC_UP_TIMEOUT, NC_UP__COUNT };
enum nc_redis_err {
    NC_REDIS_ERR_CONNECT = 0,
    NC_REDIS_ERR_TIMEOUT,
    NC_REDIS_ERR_REPLY,
    NC_REDIS_ERR__COUNT
};

struct nc_counters;

/* One block per worker, allocated by nc_counters_new() and registered for
 * scrapes. Blocks are never freed: a scrape may read any of them from
 * another thread at any time, and there are only THREADS of them. */
struct nc_counters *nc_counters_new(void);

/* Hot-path updates, from the owning worker only. route is an enum
 * nc_route; method the request method. */
void nc_counters_request(struct nc_counters *m, int route, const char *method, int status,
                         int64_t dur_us);
void nc_counters_cache(struct nc_counters *m, const char *ns, enum nc_cache_result res);
void nc_counters_upstream(struct nc_counters *m, enum nc_upstream_result res);
void nc_counters_coalesced(struct nc_counters *m);
void nc_counters_lease(struct nc_counters *m, enum nc_lease_event ev);
/* Process-wide (any thread). */
void nc_counters_redis_error(enum nc_redis_err kind);

/* Appends the Prometheus text format (0.0.4) of the counter families,
 * summed over all blocks, to out. 0, or -1 when memory runs out. */
int nc_counters_render(struct nc_buf *out);

#endif
