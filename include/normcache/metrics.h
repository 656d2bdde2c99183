/* metrics.h - Prometheus counters, histograms and gauges.
 *
 * Each worker owns a block of plain counters that only it writes (no lock,
 * no atomic read-modify-write on the hot path); a scrape sums all blocks.
 * Readers may see a value a few increments old, which Prometheus tolerates. */
#ifndef NC_METRICS_H
#define NC_METRICS_H

#include <stdint.h>

#include "normcache/buf.h"

enum nc_cache_result { NC_RES_HIT = 0, NC_RES_MISS, NC_RES_STALE, NC_RES_BYPASS, NC_RES__COUNT };
enum nc_upstream_result { NC_UP_OK = 0, NC_UP_ERROR, NC_UP_TIMEOUT, NC_UP__COUNT };
enum nc_redis_err {
    NC_REDIS_ERR_CONNECT = 0,
    NC_REDIS_ERR_TIMEOUT,
    NC_REDIS_ERR_REPLY,
    NC_REDIS_ERR__COUNT
};

struct nc_metrics;

/* One block per worker, allocated by nc_metrics_new() and registered for
 * scrapes; freed by nc_metrics_free() (after the worker stopped). */
struct nc_metrics *nc_metrics_new(void);
void nc_metrics_free(struct nc_metrics *m);

/* Hot-path updates, from the owning worker only. route is an enum
 * nc_route; method the request method. */
void nc_metrics_request(struct nc_metrics *m, int route, const char *method, int status,
                        int64_t dur_us);
void nc_metrics_cache(struct nc_metrics *m, const char *ns, enum nc_cache_result res);
void nc_metrics_upstream(struct nc_metrics *m, enum nc_upstream_result res);
void nc_metrics_coalesced(struct nc_metrics *m);
/* Process-wide (any thread). */
void nc_metrics_redis_error(enum nc_redis_err kind);

/* Renders the Prometheus text format (0.0.4) of all blocks into out. */
int nc_metrics_render(struct nc_buf *out, int redis_up, int breaker_open);

#endif
