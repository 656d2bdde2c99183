/* metrics_http.c - GET /metrics (see metrics_http.h): the counters summed
 * over all workers, then the gauges that describe Redis as this process
 * sees it. */
#include "normcache/metrics_http.h"

#include "normcache/cluster_nodes.h"
#include "normcache/counters.h"
#include "normcache/sentinel.h"
#include "normcache/near.h"
#include "normcache/store.h"

static enum MHD_Result metrics_start(struct nc_req *r)
{
    const struct nc_store *s = r->w->store;
    nc_buf_reset(&r->out);
    int rc = nc_counters_render(&r->out);
    if (rc == 0)
        rc = nc_buf_printf(&r->out,
                           "# HELP normcache_redis_up 1 when the last Redis command succeeded.\n"
                           "# TYPE normcache_redis_up gauge\nnormcache_redis_up %d\n"
                           "# HELP normcache_redis_breaker_open 1 while the Redis circuit "
                           "breaker is open.\n# TYPE normcache_redis_breaker_open gauge\n"
                           "normcache_redis_breaker_open %d\n",
                           nc_store_state(s) == NC_REDIS_UP, nc_store_breaker_open(s));
    if (rc == 0 && r->w->cfg->redis_mode == NC_REDIS_CLUSTER) {
        struct nc_cluster_stats st;
        nc_cluster_stats(&st);
        rc = nc_buf_printf(&r->out,
                           "# HELP normcache_redis_redirects_total Redis Cluster redirects "
                           "followed, by kind.\n# TYPE normcache_redis_redirects_total counter\n"
                           "normcache_redis_redirects_total{kind=\"moved\"} %llu\n"
                           "normcache_redis_redirects_total{kind=\"ask\"} %llu\n"
                           "# HELP normcache_redis_slot_map_refreshes_total Redis Cluster slot "
                           "maps loaded (all workers).\n"
                           "# TYPE normcache_redis_slot_map_refreshes_total counter\n"
                           "normcache_redis_slot_map_refreshes_total %llu\n",
                           st.moved, st.ask, st.refreshes);
        if (rc == 0)
            rc = nc_cluster_render_node_up(&r->out);
    }
    if (rc == 0 && r->w->cfg->redis_mode == NC_REDIS_SENTINEL)
        rc = nc_buf_printf(&r->out,
                           "# HELP normcache_redis_failovers_total Redis master address changes "
                           "followed (sentinel mode).\n# TYPE normcache_redis_failovers_total "
                           "counter\nnormcache_redis_failovers_total %llu\n",
                           (unsigned long long)nc_sentinel_failovers());
    struct nc_near_stats ns = {0};
    if (r->w->near)
        nc_near_stats(r->w->near, &ns);
    if (rc == 0)
        rc = nc_buf_printf(
            &r->out,
            "# HELP normcache_near_hits_total GETs answered from the near cache.\n"
            "# TYPE normcache_near_hits_total counter\nnormcache_near_hits_total %llu\n"
            "# HELP normcache_near_misses_total Near-cache lookups that went to Redis.\n"
            "# TYPE normcache_near_misses_total counter\nnormcache_near_misses_total %llu\n"
            "# HELP normcache_near_evictions_total Near-cache entries evicted for room.\n"
            "# TYPE normcache_near_evictions_total counter\nnormcache_near_evictions_total %llu\n"
            "# HELP normcache_near_invalidations_total Near-cache drops and clears (Redis "
            "invalidations and this instance's writes).\n"
            "# TYPE normcache_near_invalidations_total counter\n"
            "normcache_near_invalidations_total %llu\n"
            "# HELP normcache_near_bytes Bytes the near cache holds (keys, values, overhead).\n"
            "# TYPE normcache_near_bytes gauge\nnormcache_near_bytes %llu\n"
            "# HELP normcache_near_entries Entries the near cache holds.\n"
            "# TYPE normcache_near_entries gauge\nnormcache_near_entries %llu\n",
            (unsigned long long)ns.hits, (unsigned long long)ns.misses,
            (unsigned long long)ns.evictions, (unsigned long long)ns.invalidations,
            (unsigned long long)ns.bytes, (unsigned long long)ns.entries);
    return nc_req_reply_built(r, rc, 200, "text/plain; version=0.0.4; charset=utf-8");
}

const struct nc_handler nc_metrics_handler = {
    .start = metrics_start,
};
