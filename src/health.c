/* health.c - /healthz and /readyz (see health.h).
 *
 * /readyz asks Redis now (a PING through this worker's connection, within
 * REDIS_TIMEOUT_MS) rather than reporting what the last request saw; it
 * answers 200 either way, because the service keeps serving, degraded,
 * while Redis is down. In cluster mode it also lists each master with its
 * state ("nodes"). */
#include "normcache/health.h"

#include <string.h>

#include "normcache/cluster_nodes.h"

static int health_is_ready(const struct nc_req *r)
{
    return r->path_len == 7 && memcmp(r->uri.data, "/readyz", 7) == 0;
}

static enum MHD_Result health_reply(struct nc_req *r)
{
    nc_buf_reset(&r->out);
    int rc;
    if (!health_is_ready(r)) {
        rc = nc_buf_appends(&r->out, "{\"status\":\"ok\"}");
    } else {
        const char *redis = !r->w->cfg->redis_enabled ? "disabled"
                            : r->redis_failed         ? "down"
                                                      : "up";
        rc = nc_buf_printf(&r->out, "{\"status\":\"ok\",\"redis\":\"%s\"", redis);
        /* Cluster mode: each master of the slot map, as its breaker sees it. */
        if (rc == 0 && r->w->cfg->redis_mode == NC_REDIS_CLUSTER && r->w->cfg->redis_enabled)
            rc = nc_buf_appends(&r->out, ",\"nodes\":{") || nc_cluster_describe_nodes(&r->out) ||
                 nc_buf_appendc(&r->out, '}');
        if (rc == 0)
            rc = nc_buf_appendc(&r->out, '}');
    }
    return nc_req_reply_built(r, rc, 200, "application/json");
}

static void health_on_ping(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    r->redis_failed = !reply || reply->type == REDIS_REPLY_ERROR;
    nc_req_resume(r);
}

static enum MHD_Result health_start(struct nc_req *r)
{
    static const char *argv[1] = {"PING"};
    static const size_t lens[1] = {4};
    if (!health_is_ready(r) || !r->w->cfg->redis_enabled)
        return health_reply(r);
    if (nc_store_command(r->w->store, health_on_ping, r, 1, argv, lens) != 0) {
        r->redis_failed = 1;
        return health_reply(r);
    }
    nc_req_suspend(r);
    return MHD_YES;
}

const struct nc_handler nc_health_handler = {
    .start = health_start,
    .resume = health_reply,
};
