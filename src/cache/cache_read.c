/* cache_read.c - GET /cache/<ns>: the value and its remaining TTL in one
 * round trip (GET + PTTL in one write), a strong ETag, 304 on a match.
 *
 * With NEAR_CACHE the near cache answers first, without suspending the
 * connection; a Redis hit fills it (cache_near.c). Both answers are built
 * by reply_hit(), so they carry the same bytes and headers. */
#include <stdio.h>
#include <string.h>

#include "normcache/counters.h"
#include "normcache/key.h"
#include "normcache/log.h"

#include "cache_int.h"

/* The reply of GETRANGE key 0 MAX_BODY_BYTES: at most one byte more than a
 * PUT could store, so that a huge value written by another client costs no
 * more than that to read. "" is a missing key (no stored value is empty). */
static void on_get(void *priv, redisReply *reply)
{
    struct nc_req *r = priv;
    if (!reply)
        r->redis_failed = 1;
    else if (reply->type == REDIS_REPLY_STRING && reply->len > r->w->cfg->max_body_bytes) {
        nc_logf(NC_LOG_WARN, "redis value under %s is larger than MAX_BODY_BYTES: a miss", r->key);
    } else if (reply->type == REDIS_REPLY_STRING && reply->len > 0) {
        nc_buf_reset(&r->out);
        if (nc_buf_append(&r->out, reply->str, reply->len) == 0)
            r->have_value = 1;
    } else if (reply->type == REDIS_REPLY_ERROR) {
        /* WRONGTYPE and friends: somebody else's data; a miss, not a crash. */
        nc_counters_redis_error(NC_REDIS_ERR_REPLY);
        nc_logf(NC_LOG_WARN, "redis value under %s is not a string: a miss", r->key);
    }
    nc_cache_settle(r);
}

static enum MHD_Result bypass_get(struct nc_req *r)
{
    r->cache = "BYPASS";
    nc_counters_cache(r->w->counters, r->ns, NC_RES_BYPASS);
    return nc_req_problem(r, 404, "cache_miss", "Not Found",
                          "Redis is unavailable; the entry could not be read.");
}

/* r->out holds the value; ttl_ms is its remaining TTL (-1: none), etag
 * its ETag hash. */
static enum MHD_Result reply_hit(struct nc_req *r, long long ttl_ms, uint64_t etag)
{
    r->cache = "HIT";
    nc_counters_cache(r->w->counters, r->ns, NC_RES_HIT);
    /* Without snprintf (a hit's largest libc cost after malloc): the
     * scratch buffer is free once a Redis hit has filled the near cache. */
    nc_buf_reset(&r->scratch);
    if (ttl_ms >= 0 && nc_buf_appends(&r->scratch, "max-age=") == 0 &&
        nc_buf_append_int(&r->scratch, ttl_ms / 1000) == 0)
        nc_req_header(r, "Cache-Control", r->scratch.data);
    else
        nc_req_header(r, "Cache-Control", "no-cache"); /* written elsewhere without a TTL */
    char v[NC_KEY_ETAG_LEN + 1];
    nc_key_etag_format(etag, v);
    nc_req_header(r, "ETag", v);
    const char *inm = nc_req_hdr(r, "If-None-Match");
    if (inm && (strstr(inm, v) || strcmp(inm, "*") == 0)) {
        nc_buf_reset(&r->out);
        return nc_req_reply(r, 304, NULL);
    }
    return nc_req_reply(r, 200, "application/json");
}

enum MHD_Result nc_cache_get_start(struct nc_req *r)
{
    struct nc_cache_err e;
    if (nc_cache_key_from_args(r, &e) != 0)
        return nc_cache_err_reply(r, &e);
    long long ttl_ms;
    uint64_t etag;
    r->near_rd.gen = 0;
    if (nc_cache_near_get(r, &ttl_ms, &etag) == 1) {
        nc_req_header(r, "Cache-Status", "normcache; hit; detail=near");
        return reply_hit(r, ttl_ms, etag);
    }
    if (r->w->cfg->redis_enabled && nc_cache_lease_wanted(r))
        return nc_cache_lease_get_start(r);
    char end[24];
    int endlen = snprintf(end, sizeof end, "%zu", r->w->cfg->max_body_bytes);
    const char *argv[4] = {"GETRANGE", r->key, "0", end};
    size_t lens[4] = {8, (size_t)r->keylen, 1, (size_t)endlen};
    const char *pargv[2] = {"PTTL", r->key};
    size_t plens[2] = {4, (size_t)r->keylen};
    nc_cache_near_read_begin(r);
    if (nc_cache_issue(r, on_get, 4, argv, lens) != 0)
        return bypass_get(r);
    /* Both go out in the same write, and the store cannot refuse the
     * second after taking the first within one pass. */
    if (nc_cache_issue(r, nc_cache_on_integer, 2, pargv, plens) != 0)
        r->redis_failed = 1;
    nc_cache_near_read_sent(r);
    nc_req_suspend(r);
    return MHD_YES;
}

enum MHD_Result nc_cache_get_finish(struct nc_req *r)
{
    if (r->redis_failed == 1)
        return bypass_get(r);
    if (!r->have_value) {
        r->cache = "MISS";
        nc_counters_cache(r->w->counters, r->ns, NC_RES_MISS);
        return nc_req_problem(r, 404, "cache_miss", "Not Found", "No entry for this key.");
    }
    uint64_t etag = nc_key_etag_hash(r->out.data, r->out.len);
    nc_cache_near_fill(r, r->num, etag);
    return reply_hit(r, r->num, etag);
}
