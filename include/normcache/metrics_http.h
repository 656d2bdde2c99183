/* metrics_http.h - GET /metrics: the counters (counters.h) and the Redis
 * gauges in Prometheus text format 0.0.4. */
#ifndef NC_METRICS_HTTP_H
#define NC_METRICS_HTTP_H

#include "normcache/req.h"

extern const struct nc_handler nc_metrics_handler;

#endif
