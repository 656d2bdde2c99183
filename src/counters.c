/* counters.c - the service's counters and their Prometheus text (see
 * counters.h).
 *
 * Workers bump plain integers in their own block; a scrape sums the blocks
 * with relaxed atomic loads. Namespace labels are interned into a global
 * table of at most 64 names (a mutex only when a new name arrives); the
 * rest count under "_other", so callers cannot explode the label set. */
#include "normcache/counters.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "normcache/key.h"

#define N_METHODS 8 /* GET HEAD PUT DELETE POST OPTIONS PATCH, then OTHER */
#define N_CODES 20
#define N_BUCKETS 16
#define MAX_NS 64

const char *nc_route_name(int route)
{
    static const char *names[NC_ROUTE__COUNT] = {
        "other",           "cache_get", "cache_put", "cache_delete", "cache_flush",
        "recommendations", "health",    "metrics",   "cache_mget",   "cache_mset"};
    return route >= 0 && route < NC_ROUTE__COUNT ? names[route] : "other";
}

static const int codes[N_CODES] = {200, 201, 204, 304, 400, 401, 404, 405, 408, 413,
                                   414, 415, 429, 431, 500, 501, 502, 503, 504, 0};
static const char *methods[N_METHODS] = {"GET",     "HEAD",  "PUT",  "DELETE",
                                         "OPTIONS", "PATCH", "POST", "OTHER"};
/* Upper bounds in microseconds: 100 us .. 10 s. */
static const int64_t bucket_us[N_BUCKETS] = {100,     250,     500,     1000,    2500,   5000,
                                             10000,   25000,   50000,   100000,  250000, 500000,
                                             1000000, 2500000, 5000000, 10000000};
static const char *bucket_le[N_BUCKETS] = {
    "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025",
    "0.05",   "0.1",     "0.25",   "0.5",   "1",      "2.5",   "5",    "10"};
static const char *results[NC_RES__COUNT] = {"hit", "miss", "stale", "bypass"};
static const char *up_results[NC_UP__COUNT] = {"ok", "error", "timeout"};
static const char *redis_kinds[NC_REDIS_ERR__COUNT] = {"connect", "timeout", "reply"};

typedef atomic_ullong ctr;

struct nc_counters {
    ctr requests[NC_ROUTE__COUNT][N_METHODS][N_CODES];
    ctr buckets[NC_ROUTE__COUNT][N_BUCKETS + 1]; /* +Inf last */
    ctr dur_sum_us[NC_ROUTE__COUNT];
    ctr cache[MAX_NS + 1][NC_RES__COUNT]; /* MAX_NS: "_other" */
    ctr upstream[NC_UP__COUNT];
    ctr coalesced;
    ctr leases[NC_LEASE__COUNT];
    struct nc_counters *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct nc_counters *blocks;
static char ns_names[MAX_NS][NC_NS_MAX + 1];
static atomic_int ns_count;
static ctr redis_errors[NC_REDIS_ERR__COUNT];

/* Only the owning worker writes a block, so a relaxed load+store is enough
 * and avoids a locked instruction per request. */
static inline void bump(ctr *c, unsigned long long by)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

struct nc_counters *nc_counters_new(void)
{
    struct nc_counters *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_lock(&reg_lock);
    m->next = blocks;
    blocks = m;
    pthread_mutex_unlock(&reg_lock);
    return m;
}

static int method_idx(const char *m)
{
    if (!m)
        return N_METHODS - 1;
    for (int i = 0; i < N_METHODS - 1; i++)
        if (strcmp(m, methods[i]) == 0)
            return i;
    return N_METHODS - 1;
}

const char *nc_method_label(const char *method)
{
    return methods[method_idx(method)];
}

static int code_idx(int status)
{
    for (int i = 0; i < N_CODES - 1; i++)
        if (codes[i] == status)
            return i;
    return N_CODES - 1;
}

void nc_counters_request(struct nc_counters *m, int route, const char *method, int status,
                         int64_t dur_us)
{
    if (!m || route < 0 || route >= NC_ROUTE__COUNT)
        return;
    bump(&m->requests[route][method_idx(method)][code_idx(status)], 1);
    int b = 0;
    while (b < N_BUCKETS && dur_us > bucket_us[b])
        b++;
    bump(&m->buckets[route][b], 1);
    bump(&m->dur_sum_us[route], (unsigned long long)(dur_us > 0 ? dur_us : 0));
}

static int ns_idx(const char *ns)
{
    int n = atomic_load_explicit(&ns_count, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(ns_names[i], ns) == 0)
            return i;
    if (n >= MAX_NS)
        return MAX_NS;
    pthread_mutex_lock(&reg_lock);
    n = atomic_load(&ns_count);
    int idx = MAX_NS;
    for (int i = 0; i < n; i++)
        if (strcmp(ns_names[i], ns) == 0)
            idx = i;
    if (idx == MAX_NS && n < MAX_NS) {
        snprintf(ns_names[n], sizeof ns_names[n], "%s", ns);
        atomic_store_explicit(&ns_count, n + 1, memory_order_release);
        idx = n;
    }
    pthread_mutex_unlock(&reg_lock);
    return idx;
}

void nc_counters_cache(struct nc_counters *m, const char *ns, enum nc_cache_result res)
{
    /* Callers pass validated namespaces; anything else would be a label
     * the scrape could not parse, so it counts as "_other". */
    if (m && ns && *ns)
        bump(&m->cache[nc_ns_valid(ns, strlen(ns)) ? ns_idx(ns) : MAX_NS][res], 1);
}

void nc_counters_upstream(struct nc_counters *m, enum nc_upstream_result res)
{
    if (m)
        bump(&m->upstream[res], 1);
}

void nc_counters_coalesced(struct nc_counters *m)
{
    if (m)
        bump(&m->coalesced, 1);
}

void nc_counters_lease(struct nc_counters *m, enum nc_lease_event ev)
{
    if (m && ev >= 0 && ev < NC_LEASE__COUNT)
        bump(&m->leases[ev], 1);
}

void nc_counters_redis_error(enum nc_redis_err kind)
{
    atomic_fetch_add_explicit(&redis_errors[kind], 1, memory_order_relaxed);
}

static unsigned long long rd(const ctr *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

int nc_counters_render(struct nc_buf *o)
{
    int rc = 0;
    pthread_mutex_lock(&reg_lock);
    rc |= nc_buf_appends(o, "# HELP normcache_http_requests_total HTTP requests answered.\n"
                            "# TYPE normcache_http_requests_total counter\n");
    for (int r = 0; r < NC_ROUTE__COUNT; r++)
        for (int me = 0; me < N_METHODS; me++)
            for (int c = 0; c < N_CODES; c++) {
                unsigned long long v = 0;
                for (struct nc_counters *m = blocks; m; m = m->next)
                    v += rd(&m->requests[r][me][c]);
                if (v)
                    rc |= nc_buf_printf(o,
                                        "normcache_http_requests_total{route=\"%s\",method=\"%s\","
                                        "code=\"%d\"} %llu\n",
                                        nc_route_name(r), methods[me], codes[c], v);
            }
    rc |= nc_buf_appends(o, "# HELP normcache_http_request_duration_seconds Time from request "
                            "head to response queued.\n"
                            "# TYPE normcache_http_request_duration_seconds histogram\n");
    for (int r = 0; r < NC_ROUTE__COUNT; r++) {
        unsigned long long cum = 0, sum = 0;
        for (int b = 0; b <= N_BUCKETS; b++) {
            for (struct nc_counters *m = blocks; m; m = m->next)
                cum += rd(&m->buckets[r][b]);
            rc |= nc_buf_printf(o,
                                "normcache_http_request_duration_seconds_bucket{route=\"%s\","
                                "le=\"%s\"} %llu\n",
                                nc_route_name(r), b < N_BUCKETS ? bucket_le[b] : "+Inf", cum);
        }
        for (struct nc_counters *m = blocks; m; m = m->next)
            sum += rd(&m->dur_sum_us[r]);
        rc |= nc_buf_printf(o,
                            "normcache_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
                            "normcache_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            nc_route_name(r), (double)sum / 1e6, nc_route_name(r), cum);
    }
    rc |= nc_buf_appends(o, "# HELP normcache_cache_results_total Cache lookups by namespace "
                            "and result (at most 64 namespaces, the rest as _other).\n"
                            "# TYPE normcache_cache_results_total counter\n");
    int nns = atomic_load(&ns_count);
    for (int n = 0; n <= MAX_NS; n++) {
        if (n < MAX_NS && n >= nns)
            continue;
        for (int res = 0; res < NC_RES__COUNT; res++) {
            unsigned long long v = 0;
            for (struct nc_counters *m = blocks; m; m = m->next)
                v += rd(&m->cache[n][res]);
            if (v || n < MAX_NS)
                rc |= nc_buf_printf(
                    o, "normcache_cache_results_total{namespace=\"%s\",result=\"%s\"} %llu\n",
                    n < MAX_NS ? ns_names[n] : "_other", results[res], v);
        }
    }
    rc |= nc_buf_appends(o, "# HELP normcache_redis_errors_total Redis failures by kind.\n"
                            "# TYPE normcache_redis_errors_total counter\n");
    for (int k = 0; k < NC_REDIS_ERR__COUNT; k++)
        rc |= nc_buf_printf(o, "normcache_redis_errors_total{kind=\"%s\"} %llu\n", redis_kinds[k],
                            rd(&redis_errors[k]));
    rc |= nc_buf_appends(o, "# HELP normcache_upstream_requests_total Upstream calls by "
                            "outcome.\n# TYPE normcache_upstream_requests_total counter\n");
    for (int u = 0; u < NC_UP__COUNT; u++) {
        unsigned long long v = 0;
        for (struct nc_counters *m = blocks; m; m = m->next)
            v += rd(&m->upstream[u]);
        rc |= nc_buf_printf(o, "normcache_upstream_requests_total{result=\"%s\"} %llu\n",
                            up_results[u], v);
    }
    unsigned long long co = 0;
    for (struct nc_counters *m = blocks; m; m = m->next)
        co += rd(&m->coalesced);
    rc |= nc_buf_printf(o,
                        "# HELP normcache_upstream_coalesced_total Requests that shared another "
                        "request's upstream call.\n# TYPE normcache_upstream_coalesced_total "
                        "counter\nnormcache_upstream_coalesced_total %llu\n",
                        co);
    static const char *lease_events[NC_LEASE__COUNT] = {"granted", "collapsed", "wait_timeout",
                                                        "lost"};
    rc |= nc_buf_appends(o, "# HELP normcache_cache_leases_total Cache leases by event.\n"
                            "# TYPE normcache_cache_leases_total counter\n");
    for (int e = 0; e < NC_LEASE__COUNT; e++) {
        unsigned long long v = 0;
        for (struct nc_counters *m = blocks; m; m = m->next)
            v += rd(&m->leases[e]);
        rc |= nc_buf_printf(o, "normcache_cache_leases_total{event=\"%s\"} %llu\n", lease_events[e],
                            v);
    }
    rc |= nc_buf_printf(o,
                        "# HELP normcache_build_info Build information.\n"
                        "# TYPE normcache_build_info gauge\n"
                        "normcache_build_info{version=\"%s\"} 1\n",
                        NC_VERSION);
    pthread_mutex_unlock(&reg_lock);
    return rc ? -1 : 0;
}
